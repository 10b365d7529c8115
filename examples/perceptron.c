/*
 * The perceptron through the C API, on Fashion-MNIST and on XOR:
 *
 *   1. "Trouser" (1) against "Sneaker" (7): the 12,000 training images of the
 *      two classes are linearly separable, and the perceptron finds a
 *      separating hyperplane within a few epochs;
 *   2. XOR: no line separates it, and the perceptron says so after its epochs;
 *   3. the ten classes by one-vs-rest, a few epochs on the first 10,000 images.
 *
 * Exits 0 only if (1) converges and (2) does not, so the test suite runs it.
 */
#include <stdio.h>

#include "sinapsi/sinapsi.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static void print_epoch(const sn_perceptron_epoch *e, void *user) {
    (void)user;
    printf("  epoch %d: %lld mistakes\n", e->epoch, (long long)e->mistakes);
}

/* Trains, prints the outcome and the accuracy on each split; returns whether
 * it converged, or -1 on error. */
static int train_and_report(const char *title, const sn_dataset *train, const sn_dataset *test,
                            const sn_perceptron_opts *o) {
    sn_perceptron *p;
    sn_perceptron_result r;
    printf("%s\n", title);
    if (sn_perceptron_train(&p, train, o, &r) != SN_OK) {
        fprintf(stderr, "perceptron: %s\n", sn_last_error());
        return -1;
    }
    if (r.converged)
        printf("  converged at epoch %d after %lld mistakes\n", r.epochs, (long long)r.mistakes);
    else
        printf("  did not converge in %d epochs (%lld mistakes in the last)\n", r.epochs,
               (long long)r.last_mistakes);
    const sn_dataset *splits[2] = {train, test};
    for (int s = 0; s < 2 && splits[s]; s++) {
        int64_t correct, n;
        if (sn_perceptron_accuracy(p, splits[s], &correct, &n) != SN_OK) {
            fprintf(stderr, "accuracy: %s\n", sn_last_error());
            sn_perceptron_destroy(p);
            return -1;
        }
        printf("  %s accuracy %.4f (%lld of %lld)\n", s ? "test" : "train",
               (double)correct / (double)n, (long long)correct, (long long)n);
    }
    sn_perceptron_destroy(p);
    return r.converged;
}

int main(void) {
    sn_dataset *train, *test;
    sn_data_opts data = sn_data_defaults(); /* pixels in [0, 1] */
    if (sn_dataset_load(FASHION_DIR, &data, &train, &test) != SN_OK) {
        fprintf(stderr, "%s\n", sn_last_error());
        return 1;
    }
    sn_perceptron_opts o = sn_perceptron_defaults(); /* zero start, lr 1, shuffled */
    o.classes[0] = 1;
    o.classes[1] = 7;
    o.on_epoch = print_epoch;
    const int separable = train_and_report("Trouser (0) vs Sneaker (1):", train, test, &o);

    const float xor_x[] = {0, 0, 0, 1, 1, 0, 1, 1}, xor_y[] = {0, 1, 1, 0};
    sn_shape two;
    sn_shape_make(&two, 1, (int64_t[]){2});
    sn_dataset *xor_data;
    if (sn_dataset_from_arrays(&xor_data, 4, &two, xor_x, 1, xor_y, 2) != SN_OK) return 1;
    o = sn_perceptron_defaults();
    o.max_epochs = 100;
    const int xor_converged = train_and_report("XOR:", xor_data, NULL, &o);
    sn_dataset_destroy(xor_data);

    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
    data.limit = 10000;
    if (sn_dataset_load(FASHION_DIR, &data, &train, &test) != SN_OK) return 1;
    o = sn_perceptron_defaults();
    o.max_epochs = 3;
    train_and_report("Ten classes, one-vs-rest, 10,000 images, 3 epochs:", train, test, &o);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    const int ok = separable == 1 && xor_converged == 0;
    printf("%s\n", ok ? "as expected: Trouser/Sneaker separable, XOR not" : "UNEXPECTED");
    return ok ? 0 : 1;
}
