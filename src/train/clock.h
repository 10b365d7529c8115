/* A monotonic clock for the trainer's timings (private to src/train). */
#ifndef SN_TRAIN_CLOCK_H
#define SN_TRAIN_CLOCK_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC. */
static inline double sn_train__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
