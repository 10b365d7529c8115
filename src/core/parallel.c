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
 * straggler back-off and the busy-core probe below, docs/performance.md).
 *
 * Chunks are claimed in plain order from one counter. Giving each thread a
 * fixed home range first (for cache affinity) was tried and measured no
 * faster (a 3 MB memory-bound update: 94 us either way on 2 threads).
 */
#include "core/parallel.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

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
    int n_chunks, max_workers;
    atomic_int next_chunk;

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

/* Claims and runs chunks of the published job until none are left. */
static void run_chunks(pool *p, int worker) {
    in_job = 1;
    my_worker = worker;
    for (;;) {
        int c = atomic_fetch_add_explicit(&p->next_chunk, 1, memory_order_relaxed);
        if (c >= p->n_chunks) break;
        p->fn(p->ctx, c, worker);
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

static void backoff_reset(void);

/* Called with job_mutex held: resizes the pool to the count wanted now; a new
 * pool starts with no back-off. */
static void ensure_threads(void) {
    const int want = sn_get_threads();
    if (the_pool.n_workers != want - 1) {
        pool_stop(&the_pool);
        pool_start(&the_pool, want);
        backoff_reset();
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

/* Straggler back-off. When the OS has taken a worker's core in the middle of
 * a chunk (another process is busy there), the caller must wait for that
 * chunk until the worker is scheduled again, which on a busy core takes
 * milliseconds: LeNet-5's ops last tens of microseconds, so a few such waits
 * per step made 2 threads slower than 1 with a busy loop on the other core
 * (`make bench` contention check: 0.89x, medians of 3). When the caller has
 * waited longer than it worked, and more than STRAGGLER_NS, the next jobs run
 * on the caller alone for a back-off period that doubles while it keeps
 * happening (up to BACKOFF_MAX_NS) and goes back to the shortest only after
 * a calm of twice the last back-off. With a reset after any job without a
 * long wait, the pool kept returning to two threads for part of a slice:
 * LeNet-5 with a python busy loop on the other core, 2 threads 45.1k-46.8k
 * img/s against 60.0k-62.1k on 1; with the calm rule 59.0k-59.8k (3 runs of
 * 1000 steps each, alternated); quiet 2-thread speed the same (101k-109k
 * against 103k-106k, and one run at 69k in the VM's slow mode). Spinning workers for 5 us instead
 * of 50 was as good with the busy loop but cost ~8% on a quiet machine (LeNet-5 96k vs 105k). Which
 * thread runs a chunk never changes a result (chunking is by shape), so this moves only time. */
#define STRAGGLER_NS 200000LL       /* 0.2 ms */
#define BACKOFF_MIN_NS 5000000LL    /* 5 ms */
#define BACKOFF_MAX_NS 1000000000LL /* 1 s */
static long long inline_until_ns;   /* guarded by job_mutex, as the two below */
static long long backoff_ns = BACKOFF_MIN_NS;
static long long last_straggler_ns; /* when the last long wait ended */

/* The busy-core probe. Each return to two threads after a back-off is a
 * trial that, with the other core still busy, ends in one more wait of a
 * scheduler slice (~4 ms): with a python busy loop, LeNet-5 lost 9 such waits
 * (36 ms) in a 1600-step run, 0.95x-0.98x of one thread in the 800-step
 * check. So when a back-off ends, the caller first asks the kernel how many
 * threads are runnable right now (the fourth field of /proc/loadavg, "2/96":
 * a count taken at the instant of the read, unlike the averages), and if
 * other processes hold the cores the workers need, it stays alone for another
 * BACKOFF_MIN_NS and asks again (a read costs a few microseconds).
 * It asks only when the recent work on several threads was in short jobs:
 * their mean length weighted by time (sum w^2 / sum w over the
 * caller's time w in each job's chunks, the length of the job an instant of
 * work is in) under LONG_JOB_NS. Long jobs (the 2-conv CNN's convolutions,
 * milliseconds each) gain from a second thread even on a shared core (CNN
 * with the busy loop, 2 threads 1.00x-1.15x of one), and a probe on every
 * return took that to 0.97x-0.99x; with short ones (LeNet-5's, tens of
 * microseconds) each wait of a slice costs more than the second thread gains.
 * Where the file is missing or unreadable the probe says nothing and the
 * straggler rule alone decides, as before. Measured with a python busy loop,
 * runs alternated with one thread: LeNet-5 (1600 steps, 6 runs) 2 threads /
 * 1 thread 0.985x-1.033x, median 0.996x, no long wait in 5 of 6 runs (the
 * pool ran ~200 of 22.5k jobs on two threads); the CNN (80 steps, 3 runs)
 * 1.07x-1.08x. */
#define LONG_JOB_NS 1000000.0 /* 1 ms */
/* sum w and sum w^2 (ns) over the jobs on several threads, halved at each
 * periodic probe so that they weigh the last ~40 ms most: one stretch alone
 * between two waits can hold only a model's short jobs (the CNN's ReLUs). */
static double job_w, job_w2;
static double last_job_ns; /* job_w2 / job_w at the last long wait or busy verdict */

int sn_loadavg_runnable(const char *text) {
    const char *s = text;
    for (int field = 0; field < 3; field++) { /* skip the three load averages */
        while (*s == ' ') s++;
        if (!*s) return -1;
        while (*s && *s != ' ') s++;
    }
    while (*s == ' ') s++;
    long v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (v > 1000000) return -1; /* no machine runs a million threads at once */
        v = v * 10 + (*s - '0');
    }
    return digits > 0 && *s == '/' ? (int)v : -1;
}

static int read_loadavg(void) {
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    return sn_loadavg_runnable(buf);
}

static int (*_Atomic runnable_source)(void); /* NULL: read_loadavg */

void sn_parallel_probe_source(int (*source)(void)) {
    atomic_store(&runnable_source, source);
}

static int runnable_now(void) {
    int (*source)(void) = atomic_load(&runnable_source);
    return source ? source() : read_loadavg();
}

#define PROBE_NS 20000000LL  /* 20 ms */
#define RECHECK_NS 1000000LL /* 1 ms */
static long long next_probe_ns;
static int suspect; /* the last probe on several threads said busy */

static void backoff_reset(void) {
    inline_until_ns = last_straggler_ns = next_probe_ns = 0;
    job_w = job_w2 = last_job_ns = 0;
    suspect = 0;
    backoff_ns = BACKOFF_MIN_NS;
}

/* 1 when other processes keep a core the workers need busy: some runnable
 * threads are not the pool's (the count less this thread and the workers
 * awake, spinning or in a chunk), and they with the pool's threads exceed the
 * cores online. More threads than cores asked for by the user (tests run 8
 * on 2 cores) is not by itself a reason to run alone. */
static int cores_taken(const pool *p) {
    static long cores; /* guarded by job_mutex */
    if (!cores) cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 0) return 0;
    /* Three readings must agree: a worker on its way to sleep, or a kernel
     * thread running for microseconds, is not there at all three. */
    for (int reading = 0; reading < 3; reading++) {
        const int r = runnable_now();
        const int awake = p->n_workers - atomic_load(&p->sleepers);
        const int others = r - 1 - awake;
        if (r <= 0 || others <= 0 || others + 1 + p->n_workers <= cores) return 0;
    }
    return 1;
}

/* Called with job_mutex held: 1 when this job runs on the caller alone.
 * On several threads with short jobs the probe also runs every PROBE_NS, so
 * that contention is seen before the first long wait, or where the waits stay
 * under the straggler rule's bar; there a busy verdict is believed only when
 * a second probe RECHECK_NS later agrees (on a quiet machine one probe in
 * ~25 saw a third runnable thread at three readings in a row). */
static int run_inline_now(const pool *p) {
    if (p->n_workers == 0) return 1;
    const long long now = now_ns();
    if (!inline_until_ns) {
        if (now < next_probe_ns) return 0;
        next_probe_ns = now + PROBE_NS;
        /* Not before a few ms of work tell how long the jobs are. */
        if (job_w < PROBE_NS / 4) return 0;
        const double job_ns = job_w2 / job_w;
        job_w *= 0.5;
        job_w2 *= 0.5;
        if (job_ns >= LONG_JOB_NS || !cores_taken(p)) {
            suspect = 0;
            return 0;
        }
        if (!suspect) {
            suspect = 1;
            next_probe_ns = now + RECHECK_NS;
            return 0;
        }
        suspect = 0;
        last_job_ns = job_ns;
        inline_until_ns = now + BACKOFF_MIN_NS;
        return 1;
    }
    if (now < inline_until_ns) return 1;
    if (last_job_ns < LONG_JOB_NS && cores_taken(p)) {
        inline_until_ns = now + BACKOFF_MIN_NS;
        return 1;
    }
    inline_until_ns = 0;
    next_probe_ns = now + PROBE_NS;
    return 0;
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
    if (run_inline_now(p)) {
        in_job = 1; /* nested calls inline, as inside a job */
        my_worker = 0;
        for (int c = 0; c < n_chunks; c++) fn(ctx, c, 0);
        in_job = 0;
        pthread_mutex_unlock(&job_mutex);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_chunks = n_chunks;
    p->max_workers = max_workers;
    atomic_store_explicit(&p->next_chunk, 0, memory_order_relaxed);
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
    const long long end = now_ns(), waited = end - worked;
    const double w = (double)(worked - start);
    job_w += w;
    job_w2 += w * w;
    if (waited > STRAGGLER_NS && waited > worked - start) {
        inline_until_ns = end + backoff_ns;
        last_job_ns = job_w > 0 ? job_w2 / job_w : 0;
        if (backoff_ns < BACKOFF_MAX_NS) backoff_ns *= 2;
        last_straggler_ns = end;
    } else if (backoff_ns > BACKOFF_MIN_NS && end - last_straggler_ns > 2 * backoff_ns) {
        /* Calm for twice the last back-off: back to the shortest. Not after
         * one good job: with a busy core the worker runs well for part of a
         * scheduler slice after each back-off, then stalls again. */
        backoff_ns = BACKOFF_MIN_NS;
    }
    pthread_mutex_unlock(&job_mutex);
}
