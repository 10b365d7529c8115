/*
 * The softmax kernels shared by softmax.c and loss.c (cross_entropy is
 * log_softmax + nll fused), and the stable sigmoid (the two-class softmax)
 * shared by activation.c and loss.c (bce_with_logits).
 */
#ifndef SN_OPS_SOFTMAX_H
#define SN_OPS_SOFTMAX_H

#include <math.h>
#include <stdint.h>

/* Sigmoid without overflow for large |x|: with e = exp(-|x|) <= 1,
 * sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, so that tiny outputs
 * keep their relative precision instead of becoming 1/inf. */
static inline float sn_sigmoid_stable(float x) {
    float e = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* y = softmax(x) or, when log_form != 0, log_softmax(x), along the class dim.
 * Rows run along dim 1 of (outer, classes, inner): (N, C) has inner 1,
 * (N, C, H, W) has inner H*W. x, y (outer, classes, inner); y may not alias x. */
void sn_softmax_rows(const float *x, float *y, int64_t outer, int64_t classes, int64_t inner,
                     int log_form);

#endif
