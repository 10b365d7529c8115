/* The JSON-lines log of a training run (private to src/train; format in
 * docs/cli.md): a settings object, then one object per epoch, and with
 * log_steps one per step. Appended; every line flushed as written. */
#ifndef SN_TRAIN_RUN_LOG_H
#define SN_TRAIN_RUN_LOG_H

#include <stdio.h>

#include "sinapsi/train.h"
#include "train/settings.h"

typedef struct sn_run_log {
    FILE *file; /* NULL: no log */
    const char *path;
} sn_run_log;

/* Opens path for appending; path NULL gives a log that writes nothing. */
sn_status sn_run_log__open(sn_run_log *log, const char *path);
void sn_run_log__close(sn_run_log *log);

/* {"type":"settings", "version", "threads", "gemm_backend", every setting,
 *  "data", "n_train", "n_test", "checkpoint", "resume", "out", ...} */
sn_status sn_run_log__settings(sn_run_log *log, const sn_settings *s, const sn_train_opts *o,
                               int threads, const sn_dataset *train, const sn_dataset *eval,
                               const char *eval_split);
/* {"type":"epoch", every field of sn_epoch_stats} */
sn_status sn_run_log__epoch(sn_run_log *log, const sn_epoch_stats *e);
/* {"type":"health", ...} for one health step, {"type":"health_epoch", ...,
 * "warnings":[...]} for an epoch's means; fields in docs/health.md. */
sn_status sn_run_log__health(sn_run_log *log, sn_model *m, const sn_health *h);
/* {"type":"step","epoch":e,"step":s,"loss":v,"lr":x}, the loss as %.9g so that
 * the float reads back exactly. */
sn_status sn_run_log__step(sn_run_log *log, int epoch, int64_t step, float loss, double lr);

#endif
