/*
 * src/backend/cpu/simd.h: the vector helpers the CPU kernels share
 * (conv_gemm.c, gemm.c), written with GCC/clang vector extensions so that one
 * source builds for every target. The including file defines VL, the floats
 * per vector for its target (16 with AVX-512, 8 with AVX, 4 otherwise), first.
 */
#ifndef SN_BACKEND_CPU_SIMD_H
#define SN_BACKEND_CPU_SIMD_H

#include <string.h>

#ifndef VL
#error "define VL (floats per vector) before including backend/cpu/simd.h"
#endif

typedef float vec __attribute__((vector_size(VL * sizeof(float))));

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

#endif
