/* sn_parallel_items (src/ops/chunks.h): a span loop on top of sn_parallel_for. */
#include "ops/chunks.h"

#include "core/parallel.h"

typedef struct span_job {
    sn_span_fn fn;
    void *ctx;
    int64_t n, per_chunk;
} span_job;

static void run_span(void *ctx, int chunk, int worker) {
    (void)worker;
    const span_job *job = ctx;
    const int64_t begin = (int64_t)chunk * job->per_chunk;
    const int64_t end = job->n - begin < job->per_chunk ? job->n : begin + job->per_chunk;
    job->fn(job->ctx, begin, end);
}

void sn_parallel_items(int64_t n, int64_t item_floats, int max_workers, sn_span_fn fn, void *ctx) {
    if (n <= 0) return;
    int64_t per_chunk = sn_items_per_chunk(item_floats);
    if ((double)n * (double)item_floats < SN_PARALLEL_MIN_FLOATS || n <= per_chunk) {
        fn(ctx, 0, n);
        return;
    }
    /* At most 2^40 floats, so at most 2^26 chunks of floats; items larger
     * than a chunk are one each, and then at most 2^26 too. */
    span_job job = {fn, ctx, n, per_chunk};
    sn_parallel_for(sn_chunk_count(n, per_chunk), max_workers, run_span, &job);
}
