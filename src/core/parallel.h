/*
 * src/core/parallel.h: the one way sinapsi's kernels run in parallel.
 *
 *     sn_parallel_for(n_chunks, max_workers, fn, ctx);
 *
 * calls fn(ctx, chunk, worker) exactly once for every chunk in [0, n_chunks)
 * and returns when all have returned. The caller's thread is worker 0 and
 * takes chunks too; at most min(max_workers, sn_get_threads()) threads take
 * part, and `worker` < that bound names the thread, so fn may use per-worker
 * scratch (sized at compile time for sn_op_io.workers workers). Each thread
 * starts on its own contiguous range of the chunks (parallel.c: home
 * ranges), then takes what is left of the others'.
 *
 * Rules for fn, so that results are bit-identical for any thread count and
 * any schedule (which worker gets which chunk changes from run to run):
 *   - the chunking must depend on the shapes only, never on the thread count;
 *   - chunk c writes only outputs that belong to c (its rows, its images, its
 *     own partial-sum slot); partial sums are added afterwards in chunk order;
 *   - per-worker scratch holds nothing from one chunk to the next.
 * A call from inside fn runs its chunks inline on the calling worker, in order.
 * With one thread, or n_chunks == 1, everything runs inline on the caller.
 *
 * sn_parallel_init() makes BLAS single-threaded on the calling thread (the
 * chunks are the parallelism); sn_sgemm, the pool and its workers call it;
 * after the first call on a thread it costs one thread-local load.
 */
#ifndef SN_CORE_PARALLEL_H
#define SN_CORE_PARALLEL_H

#include <stddef.h>

#include "sinapsi/threads.h"

typedef void (*sn_chunk_fn)(void *ctx, int chunk, int worker);

void sn_parallel_for(int n_chunks, int max_workers, sn_chunk_fn fn, void *ctx);

/* Splits n items into chunks of `grain` items (the last may be shorter):
 * returns the chunk count, >= 1 when n >= 1. Chunk c covers
 * [c*grain, min(n, (c+1)*grain)). */
static inline int sn_chunk_count(long long n, long long grain) {
    if (n <= 0) return 0;
    if (grain < 1) grain = 1;
    return (int)((n + grain - 1) / grain);
}

void sn_parallel_init(void);

/* For tests: where the pool's busy-core probe (src/core/pool_policy.h)
 * reads the runnable-thread count. NULL (the default) reads /proc/loadavg;
 * a source that returns -1 turns the probe off (the straggler rule alone
 * decides); one that returns a large count makes every probe see the cores
 * busy. */
void sn_parallel_probe_source(int (*source)(void));

#endif
