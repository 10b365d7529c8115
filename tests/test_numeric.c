/*
 * The trainer's per-step check that every gradient is finite
 * (src/train/numeric.c): NaN, +inf and -inf anywhere are caught; the largest
 * floats, subnormals and -0 are finite, also where a float sum of them would
 * overflow; an empty block is finite.
 */
#include "support/test_support.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "train/numeric.h"

static void test_all_finite(void **state) {
    (void)state;
    enum { N = 1031 }; /* not a multiple of any vector width */
    float *x = malloc(sizeof *x * N);
    assert_non_null(x);
    for (int i = 0; i < N; i++) x[i] = i % 3 == 0 ? FLT_MAX : i % 3 == 1 ? -FLT_MAX : FLT_TRUE_MIN;
    x[5] = -0.0f;
    x[6] = FLT_MIN / 4.0f; /* subnormal */
    assert_true(sn_train__all_finite(x, N));
    assert_true(sn_train__all_finite(x, 0));
    const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    const int where[] = {0, 1, 517, N - 2, N - 1};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++)
        for (size_t w = 0; w < sizeof where / sizeof *where; w++) {
            const float keep = x[where[w]];
            x[where[w]] = bad[b];
            if (sn_train__all_finite(x, N))
                fail_msg("value %g at %d of %d not caught", (double)bad[b], where[w], N);
            /* A block that ends before the bad value is finite. */
            assert_true(sn_train__all_finite(x, (size_t)where[w]));
            x[where[w]] = keep;
        }
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_all_finite)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
