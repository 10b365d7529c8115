/*
 * The thread pool (src/core/parallel.h, sinapsi/threads.h): every chunk runs
 * exactly once for any chunk count, thread count and worker cap; worker ids
 * stay below the cap; nested calls run inline on the calling worker; jobs
 * after the workers fell asleep still run; two caller threads take turns;
 * sn_set_threads checks its argument and reads the environment's default;
 * sn_sgemm's cut of a large product gives the same bits for every thread
 * count; each thread takes its own home range of chunks first; and a
 * worker held up inside a chunk sends the next jobs to the caller alone.
 */
#include "support/test_support.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/cpu/gemm.h"
#include "core/parallel.h"
#include "core/pool_policy.h"

enum { MAX_CHUNKS = 1000 };

typedef struct count_ctx {
    atomic_int runs[MAX_CHUNKS];
    atomic_int bad_worker;
    atomic_int max_worker_seen;
    int worker_bound;
} count_ctx;

static void count_chunk(void *arg, int chunk, int worker) {
    count_ctx *c = arg;
    atomic_fetch_add(&c->runs[chunk], 1);
    if (worker < 0 || worker >= c->worker_bound) atomic_store(&c->bad_worker, 1);
    int seen = atomic_load(&c->max_worker_seen);
    while (worker > seen && !atomic_compare_exchange_weak(&c->max_worker_seen, &seen, worker)) {
    }
}

/* Runs one job and checks that each chunk ran once and worker ids were in range. */
static void check_job(int n_chunks, int max_workers, int threads) {
    static count_ctx c;
    memset(&c, 0, sizeof c);
    const int cap = max_workers < threads ? max_workers : threads;
    c.worker_bound = cap < 1 ? 1 : cap;
    sn_parallel_for(n_chunks, max_workers, count_chunk, &c);
    for (int i = 0; i < n_chunks; i++)
        if (atomic_load(&c.runs[i]) != 1)
            fail_msg("%d chunks, cap %d, %d threads: chunk %d ran %d times", n_chunks, max_workers,
                     threads, i, atomic_load(&c.runs[i]));
    for (int i = n_chunks; i < MAX_CHUNKS; i++)
        if (atomic_load(&c.runs[i]) != 0) fail_msg("chunk %d beyond %d ran", i, n_chunks);
    if (atomic_load(&c.bad_worker))
        fail_msg("%d chunks, cap %d, %d threads: a worker id was outside [0, %d)", n_chunks,
                 max_workers, threads, c.worker_bound);
}

static void test_every_chunk_once(void **state) {
    (void)state;
    static const int chunk_counts[] = {0, 1, 2, 3, 7, 64, 1000};
    static const int thread_counts[] = {1, 2, 3, 4, 8};
    static const int caps[] = {1, 2, 3, SN_MAX_THREADS};
    for (size_t t = 0; t < sizeof thread_counts / sizeof *thread_counts; t++) {
        SN_ASSERT_OK(sn_set_threads(thread_counts[t]));
        assert_int_equal(sn_get_threads(), thread_counts[t]);
        for (size_t n = 0; n < sizeof chunk_counts / sizeof *chunk_counts; n++)
            for (size_t k = 0; k < sizeof caps / sizeof *caps; k++)
                check_job(chunk_counts[n], caps[k], thread_counts[t]);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* The check itself can fail: a job that runs chunk 0 twice is caught. */
static void run_twice_chunk(void *arg, int chunk, int worker) {
    count_chunk(arg, chunk, worker);
    if (chunk == 0) count_chunk(arg, chunk, worker);
}

static void test_double_run_is_detected(void **state) {
    (void)state;
    static count_ctx c;
    memset(&c, 0, sizeof c);
    c.worker_bound = SN_MAX_THREADS;
    sn_parallel_for(5, SN_MAX_THREADS, run_twice_chunk, &c);
    assert_int_equal(atomic_load(&c.runs[0]), 2);
}

/* Many small jobs back to back: the ticket protocol under churn. */
typedef struct sum_ctx {
    long long *slots; /* one per chunk */
    int round;
} sum_ctx;

static void sum_chunk(void *arg, int chunk, int worker) {
    (void)worker;
    sum_ctx *s = arg;
    s->slots[chunk] += (long long)chunk * s->round;
}

static void test_many_jobs(void **state) {
    (void)state;
    SN_ASSERT_OK(sn_set_threads(2));
    enum { CHUNKS = 9, ROUNDS = 20000 };
    long long slots[CHUNKS] = {0};
    sum_ctx s = {slots, 0};
    for (int r = 1; r <= ROUNDS; r++) {
        s.round = r;
        sn_parallel_for(CHUNKS, SN_MAX_THREADS, sum_chunk, &s);
    }
    const long long rounds_sum = (long long)ROUNDS * (ROUNDS + 1) / 2;
    for (int c = 0; c < CHUNKS; c++) assert_true(slots[c] == (long long)c * rounds_sum);
    SN_ASSERT_OK(sn_set_threads(0));
}

/* Idle longer than the spin: the workers sleep, and the next jobs wake them. */
static void test_jobs_after_sleep(void **state) {
    (void)state;
    SN_ASSERT_OK(sn_set_threads(3));
    for (int r = 0; r < 5; r++) {
        nanosleep(&(struct timespec){0, 3000000L}, NULL); /* 3 ms */
        check_job(50, SN_MAX_THREADS, 3);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* A call from inside a chunk runs inline, on the same worker, in order. */
typedef struct nested_ctx {
    atomic_int inner_runs;
    atomic_int inner_wrong_worker;
    atomic_int outer_worker[16];
} nested_ctx;

typedef struct inner_ctx {
    nested_ctx *outer;
    int worker;
    int next; /* inner chunks must come in order 0, 1, 2 ... */
} inner_ctx;

static void inner_chunk(void *arg, int chunk, int worker) {
    inner_ctx *in = arg;
    if (worker != in->worker || chunk != in->next) atomic_store(&in->outer->inner_wrong_worker, 1);
    in->next++;
    atomic_fetch_add(&in->outer->inner_runs, 1);
}

static void outer_chunk(void *arg, int chunk, int worker) {
    nested_ctx *n = arg;
    atomic_store(&n->outer_worker[chunk], worker);
    inner_ctx in = {n, worker, 0};
    sn_parallel_for(4, SN_MAX_THREADS, inner_chunk, &in);
}

static void test_nested_inline(void **state) {
    (void)state;
    SN_ASSERT_OK(sn_set_threads(2));
    static nested_ctx n;
    memset(&n, 0, sizeof n);
    sn_parallel_for(16, SN_MAX_THREADS, outer_chunk, &n);
    assert_int_equal(atomic_load(&n.inner_runs), 16 * 4);
    assert_int_equal(atomic_load(&n.inner_wrong_worker), 0);
    SN_ASSERT_OK(sn_set_threads(0));
}

/* Two application threads run jobs at once: they take turns, both complete. */
static void *caller_main(void *arg) {
    long long *slots = arg;
    sum_ctx s = {slots, 1};
    for (int r = 0; r < 2000; r++) sn_parallel_for(6, SN_MAX_THREADS, sum_chunk, &s);
    return NULL;
}

static void test_two_callers(void **state) {
    (void)state;
    SN_ASSERT_OK(sn_set_threads(2));
    long long a[6] = {0}, b[6] = {0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, caller_main, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, caller_main, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    for (int c = 0; c < 6; c++) {
        assert_true(a[c] == 2000LL * c);
        assert_true(b[c] == 2000LL * c);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

static void test_set_threads_arguments(void **state) {
    (void)state;
    assert_int_equal(sn_set_threads(-1), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "-1"));
    assert_int_equal(sn_set_threads(SN_MAX_THREADS + 1), SN_ERR_INVALID_ARG);
    SN_ASSERT_OK(sn_set_threads(SN_MAX_THREADS));
    assert_int_equal(sn_get_threads(), SN_MAX_THREADS);

    /* The default: SINAPSI_NUM_THREADS, then OMP_NUM_THREADS (a list's first
     * entry), then the online CPUs; junk is ignored. */
    const char *saved_sn = getenv("SINAPSI_NUM_THREADS"), *saved_omp = getenv("OMP_NUM_THREADS");
    char *keep_sn = saved_sn ? strdup(saved_sn) : NULL,
         *keep_omp = saved_omp ? strdup(saved_omp) : NULL;
    setenv("SINAPSI_NUM_THREADS", "3", 1);
    setenv("OMP_NUM_THREADS", "5", 1);
    SN_ASSERT_OK(sn_set_threads(0));
    assert_int_equal(sn_get_threads(), 3);
    unsetenv("SINAPSI_NUM_THREADS");
    SN_ASSERT_OK(sn_set_threads(0));
    assert_int_equal(sn_get_threads(), 5);
    setenv("OMP_NUM_THREADS", "4,2", 1);
    SN_ASSERT_OK(sn_set_threads(0));
    assert_int_equal(sn_get_threads(), 4);
    setenv("OMP_NUM_THREADS", "many", 1);
    SN_ASSERT_OK(sn_set_threads(0));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(sn_get_threads(), cpus < 1                ? 1
                                       : cpus > SN_MAX_THREADS ? SN_MAX_THREADS
                                                               : cpus);
    if (keep_sn) setenv("SINAPSI_NUM_THREADS", keep_sn, 1);
    if (keep_omp)
        setenv("OMP_NUM_THREADS", keep_omp, 1);
    else
        unsetenv("OMP_NUM_THREADS");
    free(keep_sn);
    free(keep_omp);
    SN_ASSERT_OK(sn_set_threads(0));
}

/* sn_sgemm cuts a large product on the pool: the same bits for 1, 2 and 3
 * threads, for row cuts (m > n) and column cuts (n > m), all transposes. */
static void test_sgemm_cut_is_thread_independent(void **state) {
    (void)state;
    static const int shapes[][3] = {
        {512, 96, 300}, {64, 784, 256}, {1000, 33, 129}, {37, 900, 200}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(sizeof(float) * (size_t)m * k),
              *b = malloc(sizeof(float) * (size_t)k * n);
        float *c[3];
        assert_non_null(a);
        assert_non_null(b);
        uint32_t x = 12345u;
        for (long i = 0; i < (long)m * k; i++)
            a[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        for (long i = 0; i < (long)k * n; i++)
            b[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        for (int trans = 0; trans < 4; trans++) {
            const int ta = trans & 1, tb = trans >> 1;
            for (int t = 0; t < 3; t++) {
                SN_ASSERT_OK(sn_set_threads(t + 1));
                c[t] = malloc(sizeof(float) * (size_t)m * n);
                assert_non_null(c[t]);
                for (long i = 0; i < (long)m * n; i++) c[t][i] = 1.0f;
                sn_sgemm(ta, tb, m, n, k, 0.5f, a, ta ? m : k, b, tb ? k : n, 0.25f, c[t], n);
            }
            for (int t = 1; t < 3; t++)
                if (memcmp(c[0], c[t], sizeof(float) * (size_t)m * n) != 0)
                    fail_msg("sgemm %dx%dx%d trans %d/%d: %d threads differ from 1", m, n, k, ta,
                             tb, t + 1);
            for (int t = 0; t < 3; t++) free(c[t]);
        }
        free(a);
        free(b);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* A chunk that holds the worker up (as when the OS gives its core to another
 * process) makes the caller wait; then the next jobs run on the caller alone
 * (the straggler back-off of src/core/parallel.c), each chunk still once.
 * Last in this file: the back-off is the process's state for a few ms. */
typedef struct stall_ctx {
    atomic_int runs, worker_ran;
} stall_ctx;

static void stall_chunk(void *arg, int chunk, int worker) {
    stall_ctx *s = arg;
    (void)chunk;
    atomic_fetch_add(&s->runs, 1);
    if (worker > 0) {
        atomic_store(&s->worker_ran, 1);
        nanosleep(&(struct timespec){0, 3000000L}, NULL); /* held up: the caller waits ~3 ms */
    } else {
        nanosleep(&(struct timespec){0, 100000L}, NULL); /* the worker claims the other chunk */
    }
}

static int probe_off(void) {
    return -1;
}

/* Home ranges: with 2 threads, 8 chunks are chunks 0-3 for the caller and
 * 4-7 for the worker, each thread taking its own range first, in order. The
 * caller's first chunk holds it until the worker has run one, so that the
 * caller takes nothing from the worker's range before the worker's first
 * claim, which must be its range's first chunk, 4; one counter for all
 * would hand it chunk 1 (or 0). After 0.2 s without the worker (a loaded
 * machine) the caller goes on and may take the worker's range: nothing to
 * check. */
typedef struct home_ctx {
    atomic_int caller_first, worker_first; /* the first chunk each ran; -1: none */
    atomic_int caller_gave_up;
} home_ctx;

static long long us_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void home_chunk(void *arg, int chunk, int worker) {
    home_ctx *h = arg;
    int none = -1;
    if (worker != 0) {
        atomic_compare_exchange_strong(&h->worker_first, &none, chunk);
        return;
    }
    if (!atomic_compare_exchange_strong(&h->caller_first, &none, chunk)) return;
    const long long give_up = us_now() + 200000; /* 0.2 s */
    while (atomic_load(&h->worker_first) < 0) {
        if (us_now() > give_up) {
            atomic_store(&h->caller_gave_up, 1);
            return;
        }
        nanosleep(&(struct timespec){0, 20000L}, NULL);
    }
}

static void test_home_ranges(void **state) {
    (void)state;
    sn_parallel_probe_source(probe_off); /* another test process must not keep us alone */
    SN_ASSERT_OK(sn_set_threads(2));
    int both = 0;
    for (int attempt = 0; attempt < 20 && both < 5; attempt++) {
        home_ctx h = {-1, -1, 0};
        sn_parallel_for(8, 2, home_chunk, &h);
        /* The caller's first chunk is in its range, or it ran none: a worker
         * already spinning can finish 8 empty chunks before the caller,
         * which has the sleepers to check, claims one. */
        const int c = atomic_load(&h.caller_first), w = atomic_load(&h.worker_first);
        if (c >= 4) fail_msg("the caller's first chunk was %d, outside its range 0-3", c);
        if (atomic_load(&h.caller_gave_up)) {
            nanosleep(&(struct timespec){0, 10000000L}, NULL);
            continue;
        }
        assert_true(w >= 0); /* the caller waited for it */
        if (w != 4) fail_msg("the worker's first chunk was %d, not its range's first, 4", w);
        both++;
    }
    assert_true(both > 0);
    SN_ASSERT_OK(sn_set_threads(0));
    sn_parallel_probe_source(NULL);
}

static void test_straggler_backoff(void **state) {
    (void)state;
    sn_parallel_probe_source(probe_off); /* another test process must not keep us alone */
    SN_ASSERT_OK(sn_set_threads(2));
    int stalled = 0;
    for (int attempt = 0; attempt < 100 && !stalled; attempt++) {
        stall_ctx s = {0};
        sn_parallel_for(2, 2, stall_chunk, &s);
        assert_int_equal(atomic_load(&s.runs), 2);
        stalled = atomic_load(&s.worker_ran);
    }
    assert_true(stalled); /* the worker took a chunk at least once */
    static count_ctx c;
    memset(&c, 0, sizeof c);
    c.worker_bound = 2;
    sn_parallel_for(64, 2, count_chunk, &c); /* within the back-off period */
    for (int i = 0; i < 64; i++) assert_int_equal(atomic_load(&c.runs[i]), 1);
    assert_int_equal(atomic_load(&c.max_worker_seen), 0); /* the caller ran them all */
    SN_ASSERT_OK(sn_set_threads(0));
    sn_parallel_probe_source(NULL);
}

/* The pool's policy (src/core/pool_policy.h), driven with made-up times in
 * ns and a probe whose verdict the test sets. */
typedef struct probe_stub {
    int busy, calls;
} probe_stub;

static int stub_cores_taken(void *ctx) {
    probe_stub *s = ctx;
    s->calls++;
    return s->busy;
}

#define MS 1000000LL
#define US 1000LL

/* n jobs on several threads from `t`, each `w` of the caller's work and no
 * wait; returns the time after them. */
static long long policy_jobs(sn_pool_policy *p, long long t, int n, long long w) {
    for (int i = 0; i < n; i++, t += w + 1) sn_pool_policy_after(p, t, t + w, t + w + 1);
    return t;
}

/* A long wait: 10 us of work, then 1 ms waiting for a descheduled worker. */
static long long policy_long_wait(sn_pool_policy *p, long long t) {
    sn_pool_policy_after(p, t, t + 10 * US, t + 10 * US + 1 * MS);
    return t + 10 * US + 1 * MS;
}

/* Straggler back-off: alone for 5 ms after a long wait, doubling while long
 * waits recur, back to 5 ms after a calm of twice the last; a wait shorter
 * than 0.2 ms, or than the work, is no straggler. */
static void test_policy_backoff(void **state) {
    (void)state;
    sn_pool_policy p;
    sn_pool_policy_reset(&p);
    probe_stub probe = {0};
    assert_false(sn_pool_policy_alone(&p, 0, stub_cores_taken, &probe));
    sn_pool_policy_after(&p, 0, 10 * US, 10 * US + 150 * US);    /* waited 0.15 ms */
    sn_pool_policy_after(&p, 1 * MS, 2 * MS, 2 * MS + 500 * US); /* waited less than worked */
    assert_false(sn_pool_policy_alone(&p, 3 * MS, stub_cores_taken, &probe));
    long long t = policy_long_wait(&p, 3 * MS); /* alone until t + 5 ms */
    assert_true(sn_pool_policy_alone(&p, t + 4 * MS, stub_cores_taken, &probe));
    assert_false(sn_pool_policy_alone(&p, t + 5 * MS + 1, stub_cores_taken, &probe));
    t = policy_long_wait(&p, t + 6 * MS); /* a second: 10 ms */
    assert_true(sn_pool_policy_alone(&p, t + 9 * MS, stub_cores_taken, &probe));
    assert_false(sn_pool_policy_alone(&p, t + 10 * MS + 1, stub_cores_taken, &probe));
    /* Calm: no long wait for over 2 x 20 ms, then one: 5 ms again. */
    t = policy_jobs(&p, t + 11 * MS, 1, 10 * US);
    t = policy_jobs(&p, t + 45 * MS, 1, 10 * US);
    t = policy_long_wait(&p, t);
    assert_true(sn_pool_policy_alone(&p, t + 4 * MS, stub_cores_taken, &probe));
    assert_false(sn_pool_policy_alone(&p, t + 5 * MS + 1, stub_cores_taken, &probe));
}

/* After a long wait with short jobs, the pool stays alone while the probe
 * says busy, asking every 5 ms, and goes back when it says free; after long
 * jobs (>= 0.25 ms on average) it goes back without asking. */
static void test_policy_probe_after_backoff(void **state) {
    (void)state;
    sn_pool_policy p;
    sn_pool_policy_reset(&p);
    probe_stub probe = {.busy = 1};
    long long t = policy_jobs(&p, 0, 100, 40 * US); /* LeNet-5-like jobs */
    t = policy_long_wait(&p, t);
    for (int k = 1; k <= 10; k++) /* ends of back-offs: 5 ms, then 5 ms each */
        assert_true(sn_pool_policy_alone(&p, t + k * (5 * MS + 1), stub_cores_taken, &probe));
    assert_int_equal(probe.calls, 10);
    probe.busy = 0;
    assert_false(sn_pool_policy_alone(&p, t + 11 * (5 * MS + 1), stub_cores_taken, &probe));

    sn_pool_policy_reset(&p);
    probe = (probe_stub){.busy = 1};
    t = policy_jobs(&p, 0, 100, 1 * MS); /* the CNN's convolutions */
    t = policy_long_wait(&p, t);
    assert_false(sn_pool_policy_alone(&p, t + 5 * MS + 1, stub_cores_taken, &probe));
    assert_int_equal(probe.calls, 0);
}

/* On several threads with short jobs the first probe comes as soon as 16
 * jobs are counted (not 20 ms after the first job), then every 20 ms; two
 * busy verdicts 1 ms apart send the jobs to the caller, one followed by a
 * free one does not; long jobs are never probed. */
static void test_policy_periodic_probe(void **state) {
    (void)state;
    sn_pool_policy p;
    sn_pool_policy_reset(&p);
    probe_stub probe = {.busy = 1};
    assert_false(sn_pool_policy_alone(&p, 0, stub_cores_taken, &probe)); /* nothing counted */
    policy_jobs(&p, 0, 10, 40 * US);
    assert_false(sn_pool_policy_alone(&p, 1 * MS, stub_cores_taken, &probe)); /* 10 jobs */
    assert_int_equal(probe.calls, 0);
    policy_jobs(&p, 1 * MS, 10, 40 * US);
    assert_false(sn_pool_policy_alone(&p, 2 * MS, stub_cores_taken, &probe)); /* busy once */
    assert_int_equal(probe.calls, 1);
    assert_false(sn_pool_policy_alone(&p, 2 * MS + 500 * US, stub_cores_taken, &probe));
    policy_jobs(&p, 2 * MS + 500 * US, 10, 40 * US); /* the probe halved the count to 10 */
    assert_true(sn_pool_policy_alone(&p, 3 * MS + 1, stub_cores_taken, &probe)); /* twice */
    assert_int_equal(probe.calls, 2);
    assert_true(sn_pool_policy_alone(&p, 7 * MS, stub_cores_taken, &probe)); /* 5 ms alone */

    sn_pool_policy_reset(&p);
    probe = (probe_stub){.busy = 1};
    assert_false(sn_pool_policy_alone(&p, 0, stub_cores_taken, &probe)); /* next at 20 ms */
    policy_jobs(&p, 0, 100, 40 * US);
    assert_false(sn_pool_policy_alone(&p, 21 * MS, stub_cores_taken, &probe)); /* busy */
    probe.busy = 0;
    assert_false(sn_pool_policy_alone(&p, 22 * MS + 1, stub_cores_taken, &probe)); /* free */
    probe.busy = 1;
    assert_false(sn_pool_policy_alone(&p, 23 * MS + 2, stub_cores_taken, &probe)); /* not due */
    assert_false(sn_pool_policy_alone(&p, 43 * MS, stub_cores_taken, &probe));     /* busy once */
    assert_int_equal(probe.calls, 3);

    sn_pool_policy_reset(&p);
    probe = (probe_stub){.busy = 1};
    assert_false(sn_pool_policy_alone(&p, 0, stub_cores_taken, &probe));
    policy_jobs(&p, 0, 100, 1 * MS);
    assert_false(sn_pool_policy_alone(&p, 121 * MS, stub_cores_taken, &probe));
    assert_int_equal(probe.calls, 0);
}

static int cores_busy(void) {
    return 1000; /* far more runnable threads than this pool has */
}

static void spin_us(long us) {
    for (const long long until = us_now() + us; us_now() < until;) {
    }
}

static void slow_chunk(void *arg, int chunk, int worker) {
    count_chunk(arg, chunk, worker);
    spin_us(5);
}

/* Jobs of 8 chunks of 5 us for `ms`: short jobs, as LeNet-5's. */
static void short_jobs_for(long long ms) {
    static count_ctx c;
    for (const long long until = us_now() + ms * 1000; us_now() < until;) {
        memset(&c, 0, sizeof c);
        c.worker_bound = 2;
        sn_parallel_for(8, 2, slow_chunk, &c);
    }
}

/* A fresh pool of two threads: no back-off, no jobs counted. */
static void fresh_pool(void) {
    static count_ctx c;
    SN_ASSERT_OK(sn_set_threads(1));
    memset(&c, 0, sizeof c);
    c.worker_bound = 1;
    sn_parallel_for(2, 2, count_chunk, &c);
    SN_ASSERT_OK(sn_set_threads(2));
}

/* The policy wired into the pool: with the probe injected to say busy, a
 * stream of short jobs ends up on the caller alone (within a probe period
 * and a recheck). */
static void test_busy_core_probe(void **state) {
    (void)state;
    fresh_pool();
    sn_parallel_probe_source(cores_busy);
    short_jobs_for(300);
    static count_ctx c;
    for (int job = 0; job < 50; job++) {
        memset(&c, 0, sizeof c);
        c.worker_bound = 2;
        sn_parallel_for(8, 2, slow_chunk, &c);
        for (int i = 0; i < 8; i++) assert_int_equal(atomic_load(&c.runs[i]), 1);
        assert_int_equal(atomic_load(&c.max_worker_seen), 0); /* the caller alone */
    }
    sn_parallel_probe_source(NULL);
    SN_ASSERT_OK(sn_set_threads(0));
}

/* The busy-core probe's reader of /proc/loadavg: the fourth field's count,
 * and -1 (the probe says nothing) for anything else. */
static void test_loadavg_runnable(void **state) {
    (void)state;
    assert_int_equal(sn_loadavg_runnable("0.53 0.95 1.10 2/96 12345\n"), 2);
    assert_int_equal(sn_loadavg_runnable("12.00 8.40 3.10 17/1024 99"), 17);
    assert_int_equal(sn_loadavg_runnable("  0.00  0.00  0.00  0/1  1"), 0);
    assert_int_equal(sn_loadavg_runnable("0.53 0.95 1.10 96 12345"), -1); /* no '/' */
    assert_int_equal(sn_loadavg_runnable("0.53 0.95 1.10 /96 1"), -1);
    assert_int_equal(sn_loadavg_runnable("0.53 0.95 2/96"), -1); /* a field short */
    assert_int_equal(sn_loadavg_runnable(""), -1);
    assert_int_equal(sn_loadavg_runnable("1 1 1 99999999999999999999/2"), -1); /* overflow */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loadavg_runnable),
        cmocka_unit_test(test_every_chunk_once),
        cmocka_unit_test(test_double_run_is_detected),
        cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_jobs_after_sleep),
        cmocka_unit_test(test_nested_inline),
        cmocka_unit_test(test_two_callers),
        cmocka_unit_test(test_set_threads_arguments),
        cmocka_unit_test(test_sgemm_cut_is_thread_independent),
        cmocka_unit_test(test_home_ranges),
        cmocka_unit_test(test_straggler_backoff),
        cmocka_unit_test(test_policy_backoff),
        cmocka_unit_test(test_policy_probe_after_backoff),
        cmocka_unit_test(test_policy_periodic_probe),
        cmocka_unit_test(test_busy_core_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
