/*
 * XOR with a 2-8-1 multilayer perceptron, trained by backpropagation through
 * the C API: the textbook case of a problem a single perceptron cannot solve.
 *
 *   x (4, 2) -> Linear(2, 8) -> Tanh -> Linear(8, 1) -> logit (4, 1)
 *   loss = BCEWithLogits(logit, y), plain full-batch gradient descent.
 *
 * Exits 0 only if the network classifies all four points correctly, so the
 * test suite runs it as an end-to-end test. Same seed, same result, every run.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sinapsi/sinapsi.h"

/* PyTorch's default for nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
 * weight and the bias (torch.nn.init.kaiming_uniform_(a=sqrt(5)) reduces to it). */
static void init_uniform(float *v, int64_t n, int64_t fan_in, sn_rng *rng) {
    float bound = 1.0f / sqrtf((float)fan_in);
    for (int64_t i = 0; i < n; i++) v[i] = bound * (2.0f * sn_rng_uniform(rng) - 1.0f);
}

int main(void) {
    const float inputs[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    const float targets[4] = {0, 1, 1, 0};
    const int hidden = 8, steps = 2000;
    const float lr = 0.5f;

    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 2, (int64_t[]){4, 2});
    int y = sn_input(g, "y", 2, (int64_t[]){4, 1});
    int w1 = sn_param(g, "0.weight", 2, (int64_t[]){hidden, 2});
    int b1 = sn_param(g, "0.bias", 1, (int64_t[]){hidden});
    int w2 = sn_param(g, "2.weight", 2, (int64_t[]){1, hidden});
    int b2 = sn_param(g, "2.bias", 1, (int64_t[]){1});
    int logit = sn_linear(g, sn_tanh(g, sn_linear(g, x, w1, b1)), w2, b2);
    int loss = sn_bce_with_logits(g, logit, y, SN_REDUCTION_MEAN);
    if (sn_graph_compile(g) != SN_OK) {
        fprintf(stderr, "xor: %s\n", sn_last_error());
        sn_graph_destroy(g);
        return 1;
    }

    sn_rng init;
    sn_rng_seed(&init, 1, SN_STREAM_INIT);
    init_uniform(sn_graph_value(g, w1), 2 * hidden, 2, &init);
    init_uniform(sn_graph_value(g, b1), hidden, 2, &init);
    init_uniform(sn_graph_value(g, w2), hidden, hidden, &init);
    init_uniform(sn_graph_value(g, b2), 1, hidden, &init);
    memcpy(sn_graph_value(g, x), inputs, sizeof inputs);
    memcpy(sn_graph_value(g, y), targets, sizeof targets);

    size_t n_params;
    float *params = sn_graph_params(g, &n_params);
    float *grads = sn_graph_grads(g, NULL);
    for (int step = 0; step <= steps; step++) {
        if (sn_graph_forward(g) != SN_OK) break;
        if (step % 500 == 0) printf("step %4d  loss %.6f\n", step, sn_graph_value(g, loss)[0]);
        if (step == steps) break;
        sn_graph_zero_grad(g);
        sn_graph_backward(g, loss);
        /* Gradient descent over the one parameter block: theta <- theta - lr * grad. */
        for (size_t i = 0; i < n_params; i++) params[i] -= lr * grads[i];
    }

    int correct = 0;
    const float *out = sn_graph_value(g, logit);
    for (int i = 0; i < 4; i++) {
        int predicted = out[i] >= 0.0f; /* sigmoid(logit) >= 0.5 */
        correct += predicted == (int)targets[i];
        printf("%g xor %g = %d  (p = %.4f)\n", inputs[i][0], inputs[i][1], predicted,
               1.0 / (1.0 + exp(-out[i])));
    }
    printf("%d of 4 correct\n", correct);
    sn_graph_destroy(g);
    return correct == 4 ? 0 : 1;
}
