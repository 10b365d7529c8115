/*
 * Progress of a training run: a bar per epoch on a terminal (stderr, redrawn
 * with \r at most ten times a second: batch i/n, images/s, running loss, ETA),
 * otherwise one line per epoch on stdout:
 *
 *   epoch 3/10  train loss 0.4123 acc 0.8512  test loss 0.4410 acc 0.8420  lr 0.05  4.8 s  12400
 * img/s
 */
#include "train/progress.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "train/clock.h"
#include "train/health.h"

#define BAR_WIDTH 24
#define REDRAW_SECONDS 0.1

void sn_progress__init(sn_progress_state *p, sn_progress mode, int epochs) {
    p->mode = mode == SN_PROGRESS_AUTO
                  ? (isatty(STDERR_FILENO) ? SN_PROGRESS_BAR : SN_PROGRESS_LINES)
                  : mode;
    p->epochs = epochs;
    p->epoch = 0;
    p->drawn = 0;
}

void sn_progress__epoch_begin(sn_progress_state *p, int epoch, int64_t n_batches,
                              int64_t first_batch) {
    p->epoch = epoch;
    p->n_batches = n_batches;
    p->first_batch = first_batch;
    p->epoch_start = sn_train__now();
    p->last_draw = -1.0;
}

/* "1:02:03" or "2:03". */
static void format_duration(double seconds, char *buf, size_t cap) {
    long s = seconds > 0 && seconds < 1e7 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

void sn_progress__step(sn_progress_state *p, int64_t done, int64_t images, double running_loss) {
    if (p->mode != SN_PROGRESS_BAR) return;
    const double now = sn_train__now();
    if (done < p->n_batches && p->last_draw >= 0 && now - p->last_draw < REDRAW_SECONDS) return;
    p->last_draw = now;
    const double elapsed = now - p->epoch_start;
    const int64_t run_batches = done - p->first_batch;
    const double rate = elapsed > 0 ? (double)images / elapsed : 0.0;
    const double eta =
        run_batches > 0 ? elapsed / (double)run_batches * (double)(p->n_batches - done) : 0.0;
    char bar[BAR_WIDTH + 1], eta_text[32];
    const int filled = (int)(BAR_WIDTH * done / (p->n_batches > 0 ? p->n_batches : 1));
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    format_duration(eta, eta_text, sizeof eta_text);
    /* \033[K clears what a longer previous line left. */
    fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld  %.0f img/s  loss %.4f  ETA %s\033[K", p->epoch,
            p->epochs, bar, (long long)done, (long long)p->n_batches, rate, running_loss, eta_text);
    fflush(stderr);
    p->drawn = 1;
}

void sn_progress__epoch_end(sn_progress_state *p, const sn_epoch_stats *s) {
    if (p->mode == SN_PROGRESS_NONE) return;
    FILE *out = p->mode == SN_PROGRESS_BAR ? stderr : stdout;
    if (p->drawn) fputs("\r\033[K", out);
    p->drawn = 0;
    fprintf(out, "epoch %d/%d  train loss %.4f", s->epoch, p->epochs, s->train_loss);
    if (!isnan(s->train_accuracy)) fprintf(out, " acc %.4f", s->train_accuracy);
    if (s->has_eval) {
        fprintf(out, "  %s loss %.4f", s->eval_split[0] == 'v' ? "val" : "test", s->eval.loss);
        if (!isnan(s->eval.accuracy)) fprintf(out, " acc %.4f", s->eval.accuracy);
    }
    fprintf(out, "  lr %.4g  %.1f s  %.0f img/s\n", s->lr, s->seconds, s->images_per_second);
    fflush(out);
}

void sn_progress__health(const sn_progress_state *p, const sn_health *h, int every) {
    if (p->mode == SN_PROGRESS_NONE) return;
    FILE *out = p->mode == SN_PROGRESS_BAR ? stderr : stdout;
    sn_health__print(out, h, every);
    fflush(out);
}

void sn_progress__abort(sn_progress_state *p) {
    if (p->mode == SN_PROGRESS_BAR && p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}
