#include "sinapsi/rng.h"

#include <math.h>

/* splitmix64 (Vigna): expands one 64-bit seed into well-mixed words. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void sn_rng_seed(sn_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    uint64_t mix = splitmix64(&x) ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&mix);
    /* xoshiro must not start from the all-zero state. */
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
}

/* xoshiro256** 1.0, https://prng.di.unimi.it/xoshiro256starstar.c */
uint64_t sn_rng_u64(sn_rng *rng) {
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float sn_rng_uniform(sn_rng *rng) {
    return (float)(sn_rng_u64(rng) >> 40) * 0x1.0p-24f;
}

void sn_rng_uniform_fill(sn_rng *rng, float *out, size_t n) {
    /* sn_rng_u64 and sn_rng_uniform inlined on a local copy of the state. */
    uint64_t s0 = rng->s[0], s1 = rng->s[1], s2 = rng->s[2], s3 = rng->s[3];
    for (size_t i = 0; i < n; i++) {
        const uint64_t result = rotl(s1 * 5, 7) * 9;
        const uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl(s3, 45);
        out[i] = (float)(result >> 40) * 0x1.0p-24f;
    }
    rng->s[0] = s0;
    rng->s[1] = s1;
    rng->s[2] = s2;
    rng->s[3] = s3;
}

double sn_rng_uniform_double(sn_rng *rng) {
    return (double)(sn_rng_u64(rng) >> 11) * 0x1.0p-53;
}

uint64_t sn_rng_below(sn_rng *rng, uint64_t n) {
    /* Rejection: draw from the largest multiple of n below 2^64. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = sn_rng_u64(rng);
    while (r >= limit);
    return r % n;
}

double sn_rng_normal(sn_rng *rng) {
    /* Box-Muller; u1 in (0, 1] so that log(u1) is finite. */
    double u1 = 1.0 - sn_rng_uniform_double(rng);
    double u2 = sn_rng_uniform_double(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}
