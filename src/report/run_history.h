/* A training run read back from its JSON-lines log (src/train/run_log.c,
 * docs/cli.md; health lines: docs/health.md). */
#ifndef SN_REPORT_RUN_HISTORY_H
#define SN_REPORT_RUN_HISTORY_H

#include <stdint.h>

#include "sinapsi/status.h"

typedef struct cJSON cJSON;

typedef struct sn_run_epoch {
    int epoch;
    int64_t step;
    double train_loss, train_accuracy; /* NaN where the log has null */
    double eval_loss, eval_accuracy;   /* NaN without an evaluation */
} sn_run_epoch;

/* The per-layer numbers of a health line, in this order. */
enum {
    SN_HEALTH_WEIGHT_NORM,
    SN_HEALTH_GRAD_NORM,
    SN_HEALTH_UPDATE_RATIO,
    SN_HEALTH_INPUT_GRAD,
    SN_HEALTH_SATURATED,
    SN_HEALTH_DEAD,
    SN_HEALTH_FIELDS
};
/* Their names in the log: "weight_norm", "grad_norm", ... */
extern const char *const sn_health_field_names[SN_HEALTH_FIELDS];

typedef struct sn_health_point {
    int epoch, layer; /* layer: index into sn_run_history.layers */
    int64_t step;
    double value[SN_HEALTH_FIELDS]; /* NaN for null or absent */
} sn_health_point;

typedef struct sn_health_layer {
    int module;    /* the module's index in the model */
    char name[64]; /* "Linear": the logged "kind", or "name" up to its '(' */
} sn_health_layer;

typedef struct sn_run_history {
    cJSON *settings;     /* the run's settings line (the last one), or NULL */
    char eval_split[16]; /* "test" or "validation", "" when never evaluated */
    sn_run_epoch *epochs;
    int n_epochs;
    sn_health_point *health;
    int n_health;
    sn_health_layer *layers; /* in order of module index */
    int n_layers;
} sn_run_history;

/* Reads path. The log is appended to, so it may hold several runs: a settings
 * line without "resume" starts afresh (what came before is dropped); one with
 * "resume" keeps the epochs before the first one it logs, which it replaces.
 * Lines of other types are skipped. Errors name the file and the line. */
sn_status sn_run_history__read(const char *path, sn_run_history *out);
void sn_run_history__free(sn_run_history *h);

#endif
