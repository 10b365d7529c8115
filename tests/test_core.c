/* Core: status and last-error, shapes with checked arithmetic, tensors, RNG. */
#include "support/test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void test_last_error_and_prefix(void **state) {
    (void)state;
    sn_clear_error();
    assert_int_equal(sn_last_status(), SN_OK);
    assert_string_equal(sn_last_error(), "");
    assert_int_equal(sn_error(SN_ERR_SHAPE, "bad %d", 3), SN_ERR_SHAPE);
    assert_int_equal(sn_error_prefix("node %d: ", 7), SN_ERR_SHAPE);
    assert_string_equal(sn_last_error(), "node 7: bad 3");
    assert_int_equal(sn_last_status(), SN_ERR_SHAPE);
    /* A prefix longer than the buffer is cut, never overflows. */
    char longp[2000];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    sn_error_prefix("%s", longp);
    assert_true(strlen(sn_last_error()) < 512);
    for (int s = SN_OK; s <= SN_ERR_UNSUPPORTED; s++)
        assert_true(strlen(sn_status_string((sn_status)s)) > 0);
}

static void test_shapes(void **state) {
    (void)state;
    sn_shape s;
    SN_ASSERT_OK(sn_shape_make(&s, 4, (int64_t[]){2, 3, 4, 5}));
    assert_int_equal(sn_shape_numel(&s), 120);
    char buf[64];
    assert_string_equal(sn_shape_format(&s, buf, sizeof buf), "[2, 3, 4, 5]");
    SN_ASSERT_OK(sn_shape_make(&s, 0, NULL));
    assert_int_equal(sn_shape_numel(&s), 1);
    assert_string_equal(sn_shape_format(&s, buf, sizeof buf), "[]");
    assert_string_equal(sn_shape_format(&s, buf, 1), "");

    assert_int_equal(sn_shape_make(&s, 5, (int64_t[]){1, 1, 1, 1, 1}), SN_ERR_SHAPE);
    assert_int_equal(sn_shape_make(&s, -1, NULL), SN_ERR_SHAPE);
    assert_int_equal(sn_shape_make(&s, 2, (int64_t[]){3, 0}), SN_ERR_SHAPE);
    assert_int_equal(sn_shape_make(&s, 2, (int64_t[]){3, -4}), SN_ERR_SHAPE);
    /* 2^31 * 2^31 overflows the element limit (and would overflow size_t bytes). */
    assert_int_equal(sn_shape_make(&s, 2, (int64_t[]){INT64_C(1) << 31, INT64_C(1) << 31}),
                     SN_ERR_SHAPE);
    assert_int_equal(sn_shape_make(&s, 3, (int64_t[]){INT64_MAX, INT64_MAX, 2}), SN_ERR_SHAPE);

    int64_t p;
    SN_ASSERT_OK(sn_mul_checked(1 << 20, 1 << 20, SN_MAX_NUMEL, &p));
    assert_int_equal(p, INT64_C(1) << 40);
    assert_int_equal(sn_mul_checked(INT64_MAX, 2, INT64_MAX, &p), SN_ERR_NOMEM);
    assert_int_equal(sn_mul_checked(-1, 2, INT64_MAX, &p), SN_ERR_INVALID_ARG);
}

static void test_tensor(void **state) {
    (void)state;
    sn_tensor *t = NULL;
    SN_ASSERT_OK(sn_tensor_create(&t, 4, (int64_t[]){2, 1, 3, 3}));
    assert_int_equal(sn_tensor_numel(t), 18);
    for (int i = 0; i < 18; i++) assert_true(t->data[i] == 0.0f);
    sn_tensor_destroy(t);
    assert_int_equal(sn_tensor_create(&t, 2, (int64_t[]){INT64_C(1) << 40, 2}), SN_ERR_SHAPE);
    assert_null(t);
    assert_int_equal(sn_tensor_create(NULL, 1, (int64_t[]){1}), SN_ERR_INVALID_ARG);
    sn_tensor_destroy(NULL);
}

static void test_rng_streams_and_state(void **state) {
    (void)state;
    sn_rng a, b, c;
    sn_rng_seed(&a, 42, SN_STREAM_INIT);
    sn_rng_seed(&b, 42, SN_STREAM_INIT);
    sn_rng_seed(&c, 42, SN_STREAM_DROPOUT);
    int same_ab = 1, same_ac = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = sn_rng_u64(&a), y = sn_rng_u64(&b), z = sn_rng_u64(&c);
        same_ab &= x == y;
        same_ac += x == z;
    }
    assert_true(same_ab);
    assert_int_equal(same_ac, 0);

    /* Saving the state is copying the struct; the sequence resumes exactly. */
    sn_rng saved = a;
    uint64_t next[5];
    for (int i = 0; i < 5; i++) next[i] = sn_rng_u64(&a);
    for (int i = 0; i < 5; i++) assert_true(sn_rng_u64(&saved) == next[i]);

    /* First outputs recorded when the generator was written: checkpoints store
     * RNG states, so the sequence for a seed must never change silently. */
    sn_rng k;
    sn_rng_seed(&k, 0, 0);
    assert_true(sn_rng_u64(&k) == 0xfb5405f7bd79c540ull);
    sn_rng_seed(&k, 42, SN_STREAM_INIT);
    assert_true(sn_rng_u64(&k) == 0xf44e3a1acfa2809eull);
}

/* The bulk fill gives exactly the numbers of repeated sn_rng_uniform calls,
 * and leaves the state where those calls would; n = 0 changes nothing. */
static void test_rng_uniform_fill(void **state) {
    (void)state;
    sn_rng a, b;
    sn_rng_seed(&a, 99, SN_STREAM_DROPOUT);
    b = a;
    float bulk[1001];
    sn_rng_uniform_fill(&a, bulk, 0);
    assert_memory_equal(&a, &b, sizeof a);
    sn_rng_uniform_fill(&a, bulk, 1001);
    for (int i = 0; i < 1001; i++) {
        const float one = sn_rng_uniform(&b);
        if (memcmp(&one, &bulk[i], sizeof one) != 0)
            fail_msg("value %d: fill %.9g, call %.9g", i, (double)bulk[i], (double)one);
    }
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(sn_rng_u64(&a) == sn_rng_u64(&b));
}

/* sn_rng_uniform_at(key, i) is the i-th output of splitmix64 seeded with
 * key (a reference written out here), top 24 bits; its first values are
 * recorded (dropout masks depend on them); and 200,000 draws from one key are
 * uniform: mean within 5 standard errors, each of 16 bins within 5 sigma. */
static void test_rng_uniform_at(void **state) {
    (void)state;
    uint64_t x = 0x123456789ull;
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float want = (float)(z >> 40) * 0x1.0p-24f;
        const float got = sn_rng_uniform_at(0x123456789ull, i);
        if (memcmp(&want, &got, sizeof got) != 0)
            fail_msg("index %llu: %.9g, splitmix64 %.9g", (unsigned long long)i, (double)got,
                     (double)want);
    }
    /* splitmix64(0) starts 0xe220a8397b1dcdaf: its top 24 bits over 2^24 */
    assert_true(sn_rng_uniform_at(0, 0) == 0x1.c4415p-1f);
    assert_true(sn_rng_uniform_at(42, 7) == 0x1.99ec6ap-1f);
    const int n = 200000;
    int bins[16] = {0};
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float u = sn_rng_uniform_at(99, (uint64_t)i);
        assert_true(u >= 0.0f && u < 1.0f);
        sum += u;
        bins[(int)(u * 16)]++;
    }
    assert_true(fabs(sum / n - 0.5) < 5 * sqrt(1.0 / 12 / n));
    const double expect = n / 16.0, sigma = sqrt(expect * (15.0 / 16.0));
    for (int b = 0; b < 16; b++) assert_true(fabs(bins[b] - expect) < 5 * sigma);
}

static void test_rng_distributions(void **state) {
    (void)state;
    sn_rng r;
    sn_rng_seed(&r, 7, 1);
    const int n = 200000;
    double sum = 0, sum2 = 0, usum = 0;
    int counts[10] = {0};
    for (int i = 0; i < n; i++) {
        float u = sn_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        usum += u;
        uint64_t k = sn_rng_below(&r, 10);
        assert_true(k < 10);
        counts[k]++;
        double z = sn_rng_normal(&r);
        assert_true(isfinite(z));
        sum += z;
        sum2 += z * z;
    }
    /* Means and variance within ~5 standard errors. */
    assert_true(fabs(usum / n - 0.5) < 5 * sqrt(1.0 / 12 / n));
    assert_true(fabs(sum / n) < 5 / sqrt(n));
    assert_true(fabs(sum2 / n - 1.0) < 5 * sqrt(2.0 / n));
    for (int k = 0; k < 10; k++) assert_true(abs(counts[k] - n / 10) < 5 * 134); /* sd ~134 */
    assert_int_equal(sn_rng_below(&r, 1), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_error_and_prefix),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_rng_streams_and_state),
        cmocka_unit_test(test_rng_uniform_at),
        cmocka_unit_test(test_rng_distributions),
        cmocka_unit_test(test_rng_uniform_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
