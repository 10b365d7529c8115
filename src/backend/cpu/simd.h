/*
 * src/backend/cpu/simd.h: the vector helpers the CPU kernels share
 * (conv_gemm.c, gemm.c), written with GCC/clang vector extensions so that one
 * source builds for every target. The including file defines VL, the floats
 * per vector for its target (16 with AVX-512, 8 with AVX, 4 otherwise), first.
 */
#ifndef SN_BACKEND_CPU_SIMD_H
#define SN_BACKEND_CPU_SIMD_H

#include <string.h>

#if defined(__AVX512F__) || defined(__AVX__) || defined(__FMA__)
#include <immintrin.h>
#endif

#ifndef VL
#error "define VL (floats per vector) before including backend/cpu/simd.h"
#endif

typedef float vec __attribute__((vector_size(VL * sizeof(float))));
typedef int ivec __attribute__((vector_size(VL * sizeof(int))));

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Loops over the registers of a block are unrolled completely, so that every
 * index into the accumulator arrays is a constant and the arrays live in
 * registers (gcc otherwise keeps them in memory). */
#if defined(__clang__)
#define UNROLL
#else
#define UNROLL _Pragma("GCC unroll 32")
#endif

/* gcc may turn a loaded vector that several FMAs use into a memory operand of
 * each of them, loading it again every time (seen in conv_gemm's dot_block: 18
 * loads per 16 FMAs instead of 10, load-bound, half the speed). An empty asm
 * that claims to modify the value keeps it in a register. x86 constraints:
 * "v" is any of the 32 AVX-512 registers, "x" any of the 16 SSE/AVX ones.
 * clang needs no help. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__AVX512F__)
#define IN_REGISTER(v) __asm__("" : "+v"(v))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__SSE2__)
#define IN_REGISTER(v) __asm__("" : "+x"(v))
#else
#define IN_REGISTER(v) ((void)0)
#endif

/* Loads and stores through memcpy: no alignment beyond float's is assumed,
 * and no aliasing rule is bent; compilers turn them into vector moves. */
static ALWAYS_INLINE vec load_v(const float *x) {
    vec v;
    memcpy(&v, x, sizeof v);
    return v;
}

static ALWAYS_INLINE void store_v(float *x, vec v) {
    memcpy(x, &v, sizeof v);
}

/* s in every lane. (A scalar operand of a vector operation is broadcast;
 * s - 0 is s exactly, -0 included, and compiles to the broadcast alone.) */
static ALWAYS_INLINE vec splat(float s) {
    const vec zero = {0};
    return s - zero;
}

/* a*b + c with one rounding where the target has FMA (ISO C mode does not
 * contract a*b + c, so the instruction is asked for by name), else two. */
static ALWAYS_INLINE vec fmadd(vec a, vec b, vec c) {
#if defined(__AVX512F__) && VL == 16
    return (vec)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(__FMA__) && VL == 8
    return (vec)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    return a * b + c;
#endif
}

/* The lanes below n (0 <= n <= VL) set, for the masked moves below. */
#if defined(__AVX__) && VL == 8
static ALWAYS_INLINE __m256i lanes_below(int n) {
    const ivec lane = {0, 1, 2, 3, 4, 5, 6, 7};
    return (__m256i)(lane < n);
}
#endif

/* The first n < VL lanes from x, the others zero; only those n floats are
 * touched. With AVX-512 or AVX, one masked load or store (a memcpy of a
 * variable length is a library call: in the direct convolution's dW, with
 * rows of 10 columns, these calls took most of the time); masked-off lanes
 * raise no fault, so nothing past x[n - 1] is read or written. */
static ALWAYS_INLINE vec load_part(const float *x, int n) {
#if defined(__AVX512F__) && VL == 16
    return (vec)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), x);
#elif defined(__AVX__) && VL == 8
    return (vec)_mm256_maskload_ps(x, lanes_below(n));
#else
    vec v = {0};
    memcpy(&v, x, (size_t)n * sizeof(float));
    return v;
#endif
}

static ALWAYS_INLINE void store_part(float *x, vec v, int n) {
#if defined(__AVX512F__) && VL == 16
    _mm512_mask_storeu_ps(x, (__mmask16)((1u << n) - 1u), (__m512)v);
#elif defined(__AVX__) && VL == 8
    _mm256_maskstore_ps(x, lanes_below(n), (__m256)v);
#else
    memcpy(x, &v, (size_t)n * sizeof(float));
#endif
}

/* Lane lists for __builtin_shufflevector, whose indices must be constants:
 * EACH_LANE(F) is F(0), ..., F(VL-1). */
#if VL == 16
#define EACH_LANE(F)                                                                               \
    F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12), F(13), F(14), \
        F(15)
#elif VL == 8
#define EACH_LANE(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7)
#else
#define EACH_LANE(F) F(0), F(1), F(2), F(3)
#endif
/* The interleave of a and b: lane i is lane i/2 of a (i even) or of b (i odd),
 * counting from lane 0 (LO) or from lane VL/2 (HI). */
#define ZIP_LO(i) ((i) / 2 + (i) % 2 * VL)
#define ZIP_HI(i) (VL / 2 + (i) / 2 + (i) % 2 * VL)

/* Transposes the VL x VL block x (x[r] = row r) in place: log2(VL) rounds of
 * the perfect shuffle y[2i] = zip_lo(x[i], x[i + VL/2]), y[2i+1] = zip_hi(...);
 * each round moves a bit of the column index into the row index, and after
 * log2(VL) rounds element (r, q) is at (q, r). Only moves: exact. */
static ALWAYS_INLINE void transpose_block(vec x[VL]) {
    UNROLL
    for (int round = 1; round < VL; round *= 2) {
        vec y[VL];
        UNROLL
        for (int i = 0; i < VL / 2; i++) {
            y[2 * i] = __builtin_shufflevector(x[i], x[i + VL / 2], EACH_LANE(ZIP_LO));
            y[2 * i + 1] = __builtin_shufflevector(x[i], x[i + VL / 2], EACH_LANE(ZIP_HI));
        }
        UNROLL
        for (int i = 0; i < VL; i++) x[i] = y[i];
    }
}

#endif
