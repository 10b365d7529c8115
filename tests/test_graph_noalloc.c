/*
 * Forward and backward must not allocate: every buffer is planned at compile.
 * This test replaces malloc/calloc/realloc/free for its own process (glibc's
 * __libc_* functions do the work) and counts the calls made while a LeNet-like
 * graph runs forward and backward. Under AddressSanitizer, which owns malloc,
 * the test is skipped.
 */
#include "support/test_support.h"

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define SN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SN_ASAN 1
#endif
#endif

#ifndef SN_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static volatile long allocations;
static volatile int counting;

void *malloc(size_t n) {
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    if (counting) allocations++;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
#endif

static void test_forward_backward_do_not_allocate(void **state) {
    (void)state;
#ifdef SN_ASAN
    skip();
#else
    sn_graph *g = sn_graph_create(3);
    int x = sn_input(g, "x", 4, (int64_t[]){8, 1, 28, 28});
    int t = sn_input(g, "t", 1, (int64_t[]){8});
    int c1w = sn_param(g, "0.weight", 4, (int64_t[]){6, 1, 5, 5});
    int c1b = sn_param(g, "0.bias", 1, (int64_t[]){6});
    int l1w = sn_param(g, "4.weight", 2, (int64_t[]){10, 6 * 14 * 14});
    int l1b = sn_param(g, "4.bias", 1, (int64_t[]){10});
    int h = sn_maxpool2d(g, sn_relu(g, sn_conv2d(g, x, c1w, c1b, 1, 1, 2, 2)), 2, 2, 2, 2, 0, 0);
    h = sn_dropout(g, sn_flatten(g, h), 0.25f);
    int loss = sn_cross_entropy(g, sn_linear(g, h, l1w, l1b), t, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(g));
    float *tv = sn_graph_value(g, t);
    for (int i = 0; i < 8; i++) tv[i] = (float)(i % 10);
    /* Warm-up: thread pools of OpenMP/BLAS are created on first use. */
    SN_ASSERT_OK(sn_graph_forward(g));
    SN_ASSERT_OK(sn_graph_backward(g, loss));
    counting = 1;
    for (int step = 0; step < 3; step++) {
        sn_graph_forward(g);
        sn_graph_zero_grad(g);
        sn_graph_backward(g, loss);
    }
    counting = 0;
    printf("allocations during 3 forward+backward steps: %ld (arena %zu bytes)\n", allocations,
           sn_graph_arena_bytes(g));
    assert_int_equal(allocations, 0);
    sn_graph_destroy(g);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forward_backward_do_not_allocate)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
