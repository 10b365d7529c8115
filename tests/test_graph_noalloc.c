/*
 * Forward and backward must not allocate: every buffer is planned at compile.
 * This test replaces malloc/calloc/realloc/free for its own process (glibc's
 * __libc_* functions do the work) and counts the calls made while a LeNet-like
 * graph runs forward and backward. Under AddressSanitizer, which owns malloc,
 * the test is skipped.
 *
 * OpenBLAS's threaded sgemm allocates a little per call when it runs on more
 * than one thread, and LLVM's OpenMP runtime (libomp, used by clang builds)
 * allocates on entry to parallel regions; that is the runtimes' business, not
 * sinapsi's, so allocations whose caller lies inside libopenblas, libomp or
 * libgomp are reported but not counted.
 */
#define _GNU_SOURCE
#include "support/test_support.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#ifndef SN_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

#define MAX_CALLERS 256
static void *callers[MAX_CALLERS];
static volatile long allocations;
static volatile int counting;

/* Records who called; classified later, outside the allocator. */
static void note(void *caller) {
    if (!counting) return;
    if (allocations < MAX_CALLERS) callers[allocations] = caller;
    allocations++;
}

void *malloc(size_t n) {
    note(__builtin_return_address(0));
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    note(__builtin_return_address(0));
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    note(__builtin_return_address(0));
    return __libc_realloc(p, n);
}

static int in_runtime(const char *file) {
    return strstr(file, "openblas") || strstr(file, "libomp") || strstr(file, "libgomp");
}

/* Allocations made by anything but the BLAS and OpenMP runtimes. */
static long own_allocations(void) {
    long own = 0, runtime = 0;
    for (long i = 0; i < allocations && i < MAX_CALLERS; i++) {
        Dl_info info;
        if (dladdr(callers[i], &info) && info.dli_fname && in_runtime(info.dli_fname)) {
            runtime++;
        } else {
            own++;
            printf("allocation from %s (%p)\n",
                   dladdr(callers[i], &info) && info.dli_fname ? info.dli_fname : "?", callers[i]);
        }
    }
    printf("allocations inside OpenBLAS/OpenMP runtimes (not counted): %ld\n", runtime);
    return own + (allocations > MAX_CALLERS ? allocations - MAX_CALLERS : 0);
}
void free(void *p) {
    __libc_free(p);
}
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
    long own = own_allocations();
    printf("allocations by sinapsi during 3 forward+backward steps: %ld (arena %zu bytes)\n", own,
           sn_graph_arena_bytes(g));
    assert_int_equal(own, 0);
    sn_graph_destroy(g);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forward_backward_do_not_allocate)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
