/*
 * src/core/pool_policy.h: when the thread pool (parallel.c) runs a job on
 * the calling thread alone instead of sharing it with its workers.
 *
 * The pool is the mechanism; this is its policy, as a state machine over
 * clock readings and probe verdicts that it is handed, so that tests can
 * drive it with made-up times (tests/test_parallel.c). Two rules:
 *   - straggler back-off: after a job where the caller waited for a worker
 *     the OS had descheduled, jobs run alone for a back-off period;
 *   - busy-core probe: where the jobs are short, the pool asks whether other
 *     processes hold the cores before it returns to several threads, and
 *     every 20 ms while on several threads.
 * Which thread runs a chunk never changes a result (chunking is by shape),
 * so the policy moves only time. pool_policy.c says why each number.
 */
#ifndef SN_CORE_POOL_POLICY_H
#define SN_CORE_POOL_POLICY_H

typedef struct sn_pool_policy {
    long long inline_until_ns;   /* alone until then; 0: on several threads */
    long long backoff_ns;        /* the next back-off's length */
    long long last_straggler_ns; /* when the last long wait ended */
    long long next_probe_ns;     /* on several threads: when to probe next */
    double job_w, job_n;         /* the caller's time in chunks (ns) and the count of
                                    the jobs on several threads, halved every probe */
    double last_job_ns;          /* job_w / job_n when the pool last went alone */
    int suspect;                 /* the last probe on several threads said busy */
} sn_pool_policy;

/* A new pool: on several threads, nothing measured. */
void sn_pool_policy_reset(sn_pool_policy *p);

/* Before a job, at time `now` (ns, monotonic): 1 when it runs on the caller
 * alone. `cores_taken(ctx)` is the probe (1: other processes hold the cores
 * the workers need); it is called only when the rules ask. */
int sn_pool_policy_alone(sn_pool_policy *p, long long now, int (*cores_taken)(void *ctx),
                         void *ctx);

/* After a job run on several threads: when it was published (`start`), when
 * the caller had no chunk left (`worked`) and when the last worker had left
 * (`end`). */
void sn_pool_policy_after(sn_pool_policy *p, long long start, long long worked, long long end);

/* The runnable-thread count in the text of Linux's /proc/loadavg (its fourth
 * field, "2/96" -> 2), or -1 when the text is not in that form. */
int sn_loadavg_runnable(const char *text);
/* The same read from /proc/loadavg now, or -1 (no such file, unreadable). */
int sn_loadavg_read(void);

#endif
