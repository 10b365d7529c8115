/*
 * The thread pool's policy (src/core/pool_policy.h): when a job runs on the
 * caller alone.
 *
 * Straggler back-off. When the OS has taken a worker's core in the middle of
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
 * against 103k-106k, and one run at 69k in the VM's slow mode).
 *
 * Busy-core probe. Each return to two threads after a back-off is a trial
 * that, with the other core still busy, ends in one more wait of a scheduler
 * slice (~4 ms): with a python busy loop, LeNet-5 lost 9 such waits (36 ms)
 * in a 1600-step run, 0.95x-0.98x of one thread in the 800-step check. So
 * when a back-off ends, the caller first asks whether other processes hold
 * the cores the workers need (parallel.c: the runnable-thread count of
 * /proc/loadavg, read below), and if so stays alone for another
 * BACKOFF_MIN_NS and asks again (a read costs a few microseconds). On
 * several threads it also asks every PROBE_NS, so that contention is seen
 * before the first long wait, or where the waits stay under the straggler
 * rule's bar; there a busy verdict is believed only when a second probe
 * RECHECK_NS later agrees (on a quiet machine one probe in ~25 saw a third
 * runnable thread at three readings in a row).
 *
 * It asks only when the recent jobs on several threads were short: the mean
 * of the caller's time in each job's chunks under LONG_JOB_NS (LeNet-5's
 * jobs 36-39 us on average, the 2-conv CNN's 0.7-0.9 ms). Long jobs (the
 * CNN's convolutions) gain from a second thread even on a shared core (CNN
 * with the busy loop, 2 threads 1.00x-1.15x of one), and a probe on every
 * return took that to 0.97x-0.99x; with short ones each wait of a slice costs
 * more than the second thread gains. A plain mean, not one weighted by time:
 * a job the OS interrupts lasts a slice, and a few of those made a
 * time-weighted mean of short jobs look long. Where the probe cannot read
 * the count it says "not busy" and the straggler rule alone decides.
 * Measured with a python busy loop, runs alternated with one thread: LeNet-5
 * (1600 steps, 6 runs) 2 threads / 1 thread 0.985x-1.033x, median 0.996x, no
 * long wait in 5 of 6 runs (the pool ran ~200 of 22.5k jobs on two threads);
 * the CNN (80 steps, 3 runs) 1.07x-1.08x; `make bench`'s check 1.00x / 1.12x.
 */
#include "core/pool_policy.h"

#include <fcntl.h>
#include <unistd.h>

#define STRAGGLER_NS 200000LL       /* 0.2 ms */
#define BACKOFF_MIN_NS 5000000LL    /* 5 ms */
#define BACKOFF_MAX_NS 1000000000LL /* 1 s */
#define PROBE_NS 20000000LL         /* 20 ms */
#define RECHECK_NS 1000000LL        /* 1 ms */
#define LONG_JOB_NS 250000.0        /* 0.25 ms */
#define MIN_JOBS 16.0               /* jobs counted before the mean tells anything */

void sn_pool_policy_reset(sn_pool_policy *p) {
    *p = (sn_pool_policy){.backoff_ns = BACKOFF_MIN_NS};
}

/* Alone from `now` for `ns`, probing again when that ends. */
static int go_alone(sn_pool_policy *p, long long now, long long ns) {
    p->inline_until_ns = now + ns;
    p->suspect = 0;
    return 1;
}

int sn_pool_policy_alone(sn_pool_policy *p, long long now, int (*cores_taken)(void *ctx),
                         void *ctx) {
    if (p->inline_until_ns) { /* alone: until the back-off ends, then ask */
        if (now < p->inline_until_ns) return 1;
        if (p->last_job_ns < LONG_JOB_NS && cores_taken(ctx))
            return go_alone(p, now, BACKOFF_MIN_NS);
        p->inline_until_ns = 0;
        p->next_probe_ns = now + PROBE_NS;
        return 0;
    }
    if (now < p->next_probe_ns) return 0;
    /* The first probe as soon as MIN_JOBS jobs tell the jobs' length (0.6
     * ms into LeNet-5's run), not PROBE_NS after the first job: that first
     * 20 ms on two threads beside a busy core had cost 800-step runs ~1.5%
     * (2 threads / 1 thread 0.98x; 2400 steps: 0.985x-0.996x). */
    if (p->job_n < MIN_JOBS) return 0;
    p->next_probe_ns = now + PROBE_NS;
    const double job_ns = p->job_w / p->job_n;
    p->job_w *= 0.5; /* weigh the last ~40 ms most */
    p->job_n *= 0.5;
    if (job_ns >= LONG_JOB_NS || !cores_taken(ctx)) {
        p->suspect = 0;
        return 0;
    }
    if (!p->suspect) { /* believed when a second probe agrees */
        p->suspect = 1;
        p->next_probe_ns = now + RECHECK_NS;
        return 0;
    }
    p->last_job_ns = job_ns;
    return go_alone(p, now, BACKOFF_MIN_NS);
}

void sn_pool_policy_after(sn_pool_policy *p, long long start, long long worked, long long end) {
    const long long work = worked - start, waited = end - worked;
    p->job_w += (double)work;
    p->job_n += 1;
    if (waited > STRAGGLER_NS && waited > work) {
        p->last_job_ns = p->job_w / p->job_n;
        go_alone(p, end, p->backoff_ns);
        if (p->backoff_ns < BACKOFF_MAX_NS) p->backoff_ns *= 2;
        p->last_straggler_ns = end;
    } else if (p->backoff_ns > BACKOFF_MIN_NS && end - p->last_straggler_ns > 2 * p->backoff_ns) {
        /* Calm for twice the last back-off: back to the shortest. Not after
         * one good job: with a busy core the worker runs well for part of a
         * scheduler slice after each back-off, then stalls again. */
        p->backoff_ns = BACKOFF_MIN_NS;
    }
}

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

/* "2/96": a count taken at the instant of the read, unlike the averages. */
int sn_loadavg_read(void) {
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    return sn_loadavg_runnable(buf);
}
