/*
 * sinapsi/threads.h: how many threads sinapsi's kernels use.
 *
 * sinapsi runs its kernels on its own small pool of threads: the caller's
 * thread plus (threads - 1) workers, created on first use. An op splits its
 * minibatch into a fixed number of chunks that depends only on the shapes;
 * each thread takes its own contiguous share of them first (so it keeps to
 * the same part of the batch from op to op), then what the others have not
 * taken yet. Every chunk writes its own part of the result, and partial sums
 * (weight gradients) are added in chunk order.
 * So the same seed gives the same bits for ANY thread count, and a thread that
 * the OS pauses (a busy machine) delays only the chunk it holds.
 *
 * BLAS runs single-threaded inside the chunks: sinapsi sets OpenBLAS to one
 * thread when the pool starts, so two pools never fight for the cores.
 *
 * The default count is the environment's SINAPSI_NUM_THREADS, else
 * OMP_NUM_THREADS, else the number of online CPUs (at most SN_MAX_THREADS).
 */
#ifndef SINAPSI_THREADS_H
#define SINAPSI_THREADS_H

#include "sinapsi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SN_MAX_THREADS 64

/* Sets the number of threads for every later kernel call: n >= 1, or 0 for
 * the default above. Fails (SN_ERR_INVALID_ARG) for n < 0 or n > SN_MAX_THREADS.
 * Call it between steps, not while another thread runs a graph. A graph keeps
 * per-thread scratch for the count in use when it was compiled, and uses at
 * most that many threads. */
sn_status sn_set_threads(int n);

/* The number of threads in use (>= 1). */
int sn_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif
