/*
 * src/ops/chunks.h: how the kernels other than the products (elementwise ops,
 * pooling, batch norm, the optimisers, the graph's gradient zeroing) cut their
 * work into chunks for the pool of src/core/parallel.h.
 *
 * A chunk holds about SN_CHUNK_FLOATS floats of each tensor it streams
 * (64 KiB, a few microseconds of work), so that the threads have chunks to
 * share (LeNet-5's first ReLU at batch 64: 19) and a thread that the OS
 * pauses holds up little. Handing out a pool job costs a microsecond or
 * two, tens when a worker has to be woken, so a loop over fewer than
 * SN_PARALLEL_MIN_FLOATS floats (two chunks) runs inline on the caller.
 * Measured with the current pool at 2 threads (bench_model, 800 steps, 5 runs
 * alternated): LeNet-5 training with the threshold at 32K, 64K and 128K
 * floats, medians 106,900, 106,300 and 103,200 img/s (its second pool and
 * ReLU, 102K floats, 22+10 us -> 12+6 us and 7 -> 5 us); one thread and the
 * MLP the same. (With the OpenMP pool of the first round, 32K had been the
 * slowest: 17,500 against 20,700 img/s at 128K.) 4K- and 64K-float chunks
 * measured as 16K ones, within the noise of a shared machine.
 *
 * The chunking depends on the shapes only, never on the thread count, so a
 * kernel whose chunks write disjoint outputs, each computed in a fixed order,
 * gives the same bits for any thread count.
 */
#ifndef SN_OPS_CHUNKS_H
#define SN_OPS_CHUNKS_H

#include <stdint.h>

#define SN_CHUNK_FLOATS 16384

/* Below this many floats in all, a loop runs inline on the caller: see above. */
#define SN_PARALLEL_MIN_FLOATS 32768

/* The loop body of a span: items [begin, end). */
typedef void (*sn_span_fn)(void *ctx, int64_t begin, int64_t end);

/* Items per chunk when an item (a float, an image plane, a channel, a row)
 * holds item_floats floats: about SN_CHUNK_FLOATS floats a chunk, at least 1. */
static inline int64_t sn_items_per_chunk(int64_t item_floats) {
    return item_floats >= SN_CHUNK_FLOATS ? 1
                                          : SN_CHUNK_FLOATS / (item_floats > 0 ? item_floats : 1);
}

/* Runs fn over the items [0, n), each of item_floats floats: in chunks of
 * sn_items_per_chunk(item_floats) items, [c*per, min(n, (c+1)*per)), on at
 * most max_workers threads (a graph op passes io->workers) when they hold
 * SN_PARALLEL_MIN_FLOATS floats or more, else as one span [0, n) on the
 * caller. So fn must give the same result for any cut of [0, n) into spans:
 * each item computed alone, in a fixed order. Returns when all have run. */
void sn_parallel_items(int64_t n, int64_t item_floats, int max_workers, sn_span_fn fn, void *ctx);

#endif
