/*
 * The thread pool behind sn_parallel_for (src/core/parallel.h).
 *
 * One job at a time, published by the caller in `ticket`, a 64-bit word:
 *   bits 63..32  the job's generation (incremented per job)
 *   bit  31      CLOSED: no worker may join any more
 *   bits 30..0   how many workers are inside the job
 * A worker joins by a compare-and-swap that adds 1 while the generation is new
 * and CLOSED is clear, then claims chunks with an atomic counter until none
 * are left, then leaves (subtracts 1). The caller claims chunks too; when none
 * are left it sets CLOSED once no worker is inside, and waits for nothing
 * else. So a worker that the OS has not scheduled yet (another process holds
 * the core) costs nothing: the caller does its share, closes the job, and the
 * late worker finds it closed. Only a chunk already claimed is waited for.
 *
 * Idle workers spin for about SPIN_NS, since the next op's job usually
 * follows within microseconds, then sleep on a condition variable; the caller
 * takes the mutex to wake them only when one is asleep. A short spin leaves
 * the core to another process soon. With one core busy the OpenMP build had
 * been 10x slower on 2 threads than on 1; this pool stays near 1x (the
 * straggler back-off and the busy-core probe of pool_policy.c,
 * docs/performance.md).
 *
 * Home ranges. A job's chunks are cut among its T threads in contiguous
 * ranges (thread t: chunks [t n / T, (t + 1) n / T)), each claimed in order
 * from its own counter; a thread done with its range claims from the next
 * ones in turn, so the range of a worker that is late or descheduled is
 * still taken by whoever is free. Which thread runs a chunk changes no
 * result. The ranges keep each thread on the same part of the batch from op
 * to op (most ops cut the batch, or its elements, in order), so a thread
 * mostly reads what it wrote itself. With one counter for all, chunks went
 * to whichever thread asked first, so an op could read any part of its
 * input from the other core's cache (half of it, on average). That had
 * measured no slower on a memory-bound update (94 us either way, 3 MB, 2
 * threads), but this VM sometimes runs its two vCPUs where such transfers
 * are slow (the slow mode of docs/performance.md): LeNet-5 training, 2
 * threads, 400 steps, 25 runs alternated with the one-counter build,
 * 72-75k -> 85-91k img/s in that mode (12 pairs), 119-123k -> 120-127k
 * outside it (12 pairs).
 */
#include "core/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/pool_policy.h"

#if defined(SINAPSI_HAVE_CBLAS)
#include <cblas.h>
#endif

#define TICKET_CLOSED ((uint64_t)1 << 31)
#define TICKET_COUNT_MASK (TICKET_CLOSED - 1)
#define SPIN_NS 50000L /* 50 us */

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

typedef struct pool {
    pthread_t thread[SN_MAX_THREADS];
    int n_workers; /* threads in the pool, the caller not counted */

    _Atomic uint64_t ticket;
    /* The job, written by the caller before it publishes the ticket. */
    sn_chunk_fn fn;
    void *ctx;
    int max_workers;
    /* The home ranges: thread h of `homes` (min(max_workers, workers + 1))
     * owns chunks [h * n / homes, (h + 1) * n / homes); next is its next
     * unclaimed chunk (may run past end), each on its own cache line. */
    int homes;
    struct {
        _Alignas(64) atomic_int next;
        int end;
    } home[SN_MAX_THREADS];

    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_int sleepers;
    atomic_int shutdown;
} pool;

static pool the_pool = {.mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};
/* Held for a whole job: one job at a time (two graphs run from two threads take turns). */
static pthread_mutex_t job_mutex = PTHREAD_MUTEX_INITIALIZER;
static atomic_int threads_wanted; /* 0 until the first use reads the default */
static _Thread_local int in_job;  /* 1 inside fn: nested calls run inline */
static _Thread_local int my_worker;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- defaults and BLAS ---- */

static int env_threads(const char *name) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    long v = strtol(s, &end, 10);
    /* OMP_NUM_THREADS may be a list ("4,2"): its first entry is the outer level. */
    if (end == s || v < 1 || (*end && *end != ',')) return 0;
    return v > SN_MAX_THREADS ? SN_MAX_THREADS : (int)v;
}

static int default_threads(void) {
    int n = env_threads("SINAPSI_NUM_THREADS");
    if (!n) n = env_threads("OMP_NUM_THREADS");
    if (!n) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > SN_MAX_THREADS ? SN_MAX_THREADS : (int)cpus;
    }
    return n;
}

/* Every thread that calls BLAS must see one BLAS thread. OpenBLAS's OpenMP
 * build keeps its count in the OpenMP thread-count variable, which is per
 * thread, and before each call resets its global count to the calling
 * thread's value: a pool worker, a new thread with OpenMP's default, would
 * otherwise switch the next GEMM to two threads (other bits, and twice as many
 * busy threads as cores). So each thread sets it once. */
static _Thread_local int blas_ready;

void sn_parallel_init(void) {
    if (blas_ready) return;
    blas_ready = 1;
#if defined(SINAPSI_HAVE_CBLAS) && defined(OPENBLAS_CONFIG_H)
    openblas_set_num_threads(1);
#endif
}

/* ---- the workers ---- */

/* Claims and runs chunks of the published job until none are left: its own
 * home range first, then the others', from the next thread's on. */
static void run_chunks(pool *p, int worker) {
    in_job = 1;
    my_worker = worker;
    for (int i = 0; i < p->homes; i++) {
        const int h = (worker + i) % p->homes;
        for (;;) {
            int c = atomic_fetch_add_explicit(&p->home[h].next, 1, memory_order_relaxed);
            if (c >= p->home[h].end) break;
            p->fn(p->ctx, c, worker);
        }
    }
    in_job = 0;
}

typedef struct worker_arg {
    pool *p;
    int id; /* 1..n_workers */
} worker_arg;

static worker_arg worker_args[SN_MAX_THREADS];

static void *worker_main(void *arg) {
    const worker_arg *a = arg;
    pool *p = a->p;
    sn_parallel_init();
    uint64_t seen = atomic_load(&p->ticket) >> 32;
    for (;;) {
        /* Wait for a new generation: spin a little, then sleep. */
        uint64_t t = atomic_load(&p->ticket);
        if ((t >> 32) == seen) {
            const long long until = now_ns() + SPIN_NS;
            int spins = 0;
            while ((t = atomic_load(&p->ticket)) >> 32 == seen && !atomic_load(&p->shutdown)) {
                CPU_RELAX();
                if (++spins % 64 == 0 && now_ns() > until) break;
            }
            if ((t >> 32) == seen && !atomic_load(&p->shutdown)) {
                pthread_mutex_lock(&p->mutex);
                atomic_fetch_add(&p->sleepers, 1);
                while ((t = atomic_load(&p->ticket)) >> 32 == seen && !atomic_load(&p->shutdown))
                    pthread_cond_wait(&p->wake, &p->mutex);
                atomic_fetch_sub(&p->sleepers, 1);
                pthread_mutex_unlock(&p->mutex);
            }
        }
        if (atomic_load(&p->shutdown)) return NULL;
        seen = t >> 32;
        /* Join unless the job is closed or does not want this many workers. */
        for (;;) {
            if ((t >> 32) != seen || (t & TICKET_CLOSED)) break;
            if (a->id >= p->max_workers) break;
            if (atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) {
                run_chunks(p, a->id);
                atomic_fetch_sub(&p->ticket, 1);
                break;
            }
        }
    }
}

static void pool_stop(pool *p) {
    if (p->n_workers == 0) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->shutdown, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->thread[i], NULL);
    p->n_workers = 0;
    atomic_store(&p->shutdown, 0);
}

/* Starts threads-1 workers; on failure runs with the ones it got. */
static void pool_start(pool *p, int threads) {
    for (int i = 0; i < threads - 1; i++) {
        worker_args[i] = (worker_arg){p, i + 1};
        if (pthread_create(&p->thread[i], NULL, worker_main, &worker_args[i]) != 0) break;
        p->n_workers = i + 1;
    }
}

/* When a job runs on the caller alone (pool_policy.h). */
static sn_pool_policy policy; /* guarded by job_mutex */

/* Called with job_mutex held: resizes the pool to the count wanted now; a new
 * pool starts with no back-off. */
static void ensure_threads(void) {
    const int want = sn_get_threads();
    if (the_pool.n_workers != want - 1) {
        pool_stop(&the_pool);
        pool_start(&the_pool, want);
        sn_pool_policy_reset(&policy);
    }
}

static void stop_at_exit(void) {
    pthread_mutex_lock(&job_mutex);
    pool_stop(&the_pool);
    pthread_mutex_unlock(&job_mutex);
}

static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static void register_exit(void) {
    atexit(stop_at_exit);
}

sn_status sn_set_threads(int n) {
    if (n < 0 || n > SN_MAX_THREADS)
        return sn_error(SN_ERR_INVALID_ARG, "threads: %d is outside [0, %d] (0 = default)", n,
                        SN_MAX_THREADS);
    sn_parallel_init();
    atomic_store(&threads_wanted, n ? n : default_threads());
    return SN_OK;
}

int sn_get_threads(void) {
    int n = atomic_load(&threads_wanted);
    if (n == 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&threads_wanted, &expected, default_threads());
        n = atomic_load(&threads_wanted);
    }
    return n;
}

/* The policy's probe. */
static int (*_Atomic runnable_source)(void); /* NULL: sn_loadavg_read */

void sn_parallel_probe_source(int (*source)(void)) {
    atomic_store(&runnable_source, source);
}

static int runnable_now(void) {
    int (*source)(void) = atomic_load(&runnable_source);
    return source ? source() : sn_loadavg_read();
}

/* The probe: 1 when other processes keep a core the workers need busy: some
 * runnable threads are not the pool's (the count less this thread and the
 * workers awake, spinning or in a chunk), and they with the pool's threads
 * exceed the cores online. More threads than cores asked for by the user
 * (tests run 8 on 2 cores) is not by itself a reason to run alone. Three
 * readings must agree: a worker on its way to sleep, or a kernel thread
 * running for microseconds, is not there at all three. */
static int cores_taken(void *ctx) {
    const pool *p = ctx;
    static long cores; /* guarded by job_mutex */
    if (!cores) cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 0) return 0;
    for (int reading = 0; reading < 3; reading++) {
        const int r = runnable_now();
        const int awake = p->n_workers - atomic_load(&p->sleepers);
        const int others = r - 1 - awake;
        if (r <= 0 || others <= 0 || others + 1 + p->n_workers <= cores) return 0;
    }
    return 1;
}

void sn_parallel_for(int n_chunks, int max_workers, sn_chunk_fn fn, void *ctx) {
    if (n_chunks <= 0) return;
    sn_parallel_init();
    if (in_job || n_chunks == 1 || max_workers <= 1) {
        const int w = in_job ? my_worker : 0;
        for (int c = 0; c < n_chunks; c++) fn(ctx, c, w);
        return;
    }
    pool *p = &the_pool;
    pthread_mutex_lock(&job_mutex);
    pthread_once(&exit_once, register_exit);
    ensure_threads();
    if (p->n_workers == 0 || sn_pool_policy_alone(&policy, now_ns(), cores_taken, p)) {
        in_job = 1; /* nested calls inline, as inside a job */
        my_worker = 0;
        for (int c = 0; c < n_chunks; c++) fn(ctx, c, 0);
        in_job = 0;
        pthread_mutex_unlock(&job_mutex);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->max_workers = max_workers;
    p->homes = max_workers < p->n_workers + 1 ? max_workers : p->n_workers + 1;
    for (int h = 0; h < p->homes; h++) {
        atomic_store_explicit(&p->home[h].next, (int)((long long)h * n_chunks / p->homes),
                              memory_order_relaxed);
        p->home[h].end = (int)((long long)(h + 1) * n_chunks / p->homes);
    }
    /* Publish: new generation, open, nobody inside (seq_cst orders the job
     * fields before it, and the sleepers read after it). */
    const uint64_t gen = (atomic_load(&p->ticket) >> 32) + 1;
    atomic_store(&p->ticket, gen << 32);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    const long long start = now_ns();
    run_chunks(p, 0);
    const long long worked = now_ns();
    /* Every chunk is claimed: close the job once nobody is inside. */
    for (;;) {
        uint64_t t = atomic_load(&p->ticket);
        if ((t & TICKET_COUNT_MASK) == 0 &&
            atomic_compare_exchange_weak(&p->ticket, &t, t | TICKET_CLOSED))
            break;
        CPU_RELAX();
    }
    sn_pool_policy_after(&policy, start, worked, now_ns());
    pthread_mutex_unlock(&job_mutex);
}
