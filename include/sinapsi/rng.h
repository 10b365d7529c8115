/*
 * sinapsi/rng.h: explicit, seeded random number generators.
 *
 * sinapsi never calls rand(). Each purpose (initialisation, dropout masks, data
 * shuffling) has its own generator, derived from one seed and a stream number,
 * so that changing how many numbers one purpose draws does not change another.
 * The generator is xoshiro256** (Blackman & Vigna, 2018) seeded through
 * splitmix64; its whole state is the four words of sn_rng, which a checkpoint
 * saves and restores by copying the struct.
 *
 *     sn_rng init;
 *     sn_rng_seed(&init, 42, SN_STREAM_INIT);
 *     float u = sn_rng_uniform(&init);      // [0, 1)
 */
#ifndef SINAPSI_RNG_H
#define SINAPSI_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_rng {
    uint64_t s[4];
} sn_rng;

/* Stream numbers for the library's own purposes; users may use any other. */
enum { SN_STREAM_INIT = 1, SN_STREAM_DROPOUT = 2, SN_STREAM_SHUFFLE = 3 };

/* Seeds rng from (seed, stream): different streams give independent sequences. */
void sn_rng_seed(sn_rng *rng, uint64_t seed, uint64_t stream);

/* Next 64 random bits. */
uint64_t sn_rng_u64(sn_rng *rng);

/* Uniform float in [0, 1) with 24 random bits (every value exactly representable). */
float sn_rng_uniform(sn_rng *rng);

/* Uniform double in [0, 1) with 53 random bits. */
double sn_rng_uniform_double(sn_rng *rng);

/* out[0..n) = the next n values of sn_rng_uniform, in order: exactly the
 * numbers n calls would return, a few times faster (the state stays in
 * registers). For bulk draws from one sequence. */
void sn_rng_uniform_fill(sn_rng *rng, float *out, size_t n);

/* A counter-based uniform float in [0, 1) (24 bits): the i-th output
 * (counting from 0) of splitmix64 seeded with key, i.e. splitmix64's mixing
 * function applied to key + (i + 1) * 0x9E3779B97F4A7C15, then its top 24
 * bits scaled as sn_rng_uniform's. Any index is computed alone, so a bulk
 * draw can be cut into spans that threads (or vector lanes) draw in any
 * order: dropout takes one key per forward call from its stream
 * (sn_rng_u64) and element i's number is sn_rng_uniform_at(key, i). */
static inline float sn_rng_uniform_at(uint64_t key, uint64_t i) {
    uint64_t z = key + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * 0x1.0p-24f;
}

/* Uniform integer in [0, n), without modulo bias; n must be >= 1. */
uint64_t sn_rng_below(sn_rng *rng, uint64_t n);

/* Standard normal N(0, 1) by the Box-Muller transform (double precision). */
double sn_rng_normal(sn_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
