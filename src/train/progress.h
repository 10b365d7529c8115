/* What a training run shows while it runs (private to src/train). */
#ifndef SN_TRAIN_PROGRESS_H
#define SN_TRAIN_PROGRESS_H

#include "sinapsi/train.h"

typedef struct sn_progress_state {
    sn_progress mode; /* resolved: BAR, LINES or NONE */
    int epoch, epochs;
    int64_t n_batches, first_batch; /* batches of the epoch; where this run started it */
    double epoch_start, last_draw;
    int drawn; /* a bar is on screen */
} sn_progress_state;

/* AUTO becomes BAR when stderr is a terminal, LINES otherwise. */
void sn_progress__init(sn_progress_state *p, sn_progress mode, int epochs);
void sn_progress__epoch_begin(sn_progress_state *p, int epoch, int64_t n_batches,
                              int64_t first_batch);
/* After batch `done` (1-based) of the epoch: redraws the bar at most ten
 * times a second. images: examples seen so far in this epoch. */
void sn_progress__step(sn_progress_state *p, int64_t done, int64_t images, double running_loss);
/* The epoch's line: on stdout (LINES), or over the bar on stderr (BAR). */
void sn_progress__epoch_end(sn_progress_state *p, const sn_epoch_stats *s);
/* An epoch's health table and warnings, under its line (nothing with NONE). */
void sn_progress__health(const sn_progress_state *p, const sn_health *h, int every);
/* Ends a bar left on screen by a run that stopped in the middle of an epoch. */
void sn_progress__abort(sn_progress_state *p);

#endif
