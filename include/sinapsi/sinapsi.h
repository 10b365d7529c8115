/*
 * sinapsi.h: the whole public API of sinapsi, a deep-learning library in C11.
 *
 *   sinapsi/status.h   status codes, sn_last_error()
 *   sinapsi/tensor.h   shapes, float32 tensors
 *   sinapsi/rng.h      seeded generators, one stream per purpose
 *   sinapsi/graph.h    define-then-run graph, ops, losses, reverse-mode autodiff
 *   sinapsi/safetensors.h  reading and writing safetensors files
 *   sinapsi/model.h    modules, the model spec, initialisation, model files
 *   sinapsi/data.h     datasets: IDX, CSV, safetensors; normalisation, batching
 *   sinapsi/optim.h    SGD (momentum, Nesterov), Adam, AdamW; schedules; clipping
 *   sinapsi/train.h    the trainer, evaluation, checkpoints
 *   sinapsi/learn.h    local rules on a Linear layer: perceptron, Hebb, Oja, Sanger
 *   sinapsi/report.h   training reports: curves, confusion matrix, filters (HTML)
 *   sinapsi/threads.h  how many threads the kernels use
 *
 * Link with -lsinapsi. Every public name starts with sn_ (types, functions) or
 * SN_ (constants).
 */
#ifndef SINAPSI_H
#define SINAPSI_H

#include "sinapsi/status.h"
#include "sinapsi/tensor.h"
#include "sinapsi/rng.h"
#include "sinapsi/graph.h"
#include "sinapsi/safetensors.h"
#include "sinapsi/model.h"
#include "sinapsi/data.h"
#include "sinapsi/optim.h"
#include "sinapsi/train.h"
#include "sinapsi/learn.h"
#include "sinapsi/report.h"
#include "sinapsi/threads.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, "MAJOR.MINOR.PATCH". */
const char *sn_version(void);

/* The GEMM kernels this build routes products to: "portable+cblas" (the
 * built-in kernel where it measured faster, OpenBLAS elsewhere), "cblas" or
 * "portable" (built without BLAS). */
const char *sn_gemm_backend(void);

#ifdef __cplusplus
}
#endif
#endif
