/* Finding where a training step went non-finite (private to src/train). */
#ifndef SN_TRAIN_NUMERIC_H
#define SN_TRAIN_NUMERIC_H

#include <stddef.h>

#include "sinapsi/train.h"

/* 1 when every x[0..n) is finite. One pass summing in double: a NaN or an
 * infinity makes the sum non-finite, and finite floats cannot overflow a
 * double's range in any sum of fewer than 2^800 terms. */
int sn_train__all_finite(const float *x, size_t n);

/* Records SN_ERR_NUMERIC for global step `step` (1-based) of epoch `epoch`:
 * after the forward pass (loss non-finite), the first module whose output has
 * a non-finite value; after the backward pass, the first parameter tensor with
 * a non-finite gradient. Returns SN_ERR_NUMERIC. */
/* The first module (in model order) whose output holds a NaN or an infinity,
 * or -1. Reads the outputs of the last forward pass; under a lean plan, which
 * reuses them, by replaying that pass (the graph then needs a new forward). */
int sn_train__first_nonfinite_module(sn_model *m);

/* Module `index`'s constructor as canonical spec text (one line), into buf. */
const char *sn_train__module_text(const sn_model *m, int index, char *buf, size_t cap);

sn_status sn_train__numeric_error(sn_model *m, int64_t step, int epoch, double loss,
                                  int after_backward);

#endif
