/*
 * A training run's settings as a table of (key, text value): written into the
 * checkpoint's __metadata__, compared on --resume, and logged as the first
 * JSON line. One table, so that the three never disagree about what a
 * setting is called or how its number is spelled (doubles in the shortest of
 * %.15g and %.17g that reads back exactly).
 */
#ifndef SN_TRAIN_SETTINGS_H
#define SN_TRAIN_SETTINGS_H

#include "sinapsi/train.h"

enum {
    SN_SETTING_MATCH = 1, /* a resumed run must have the same value */
    SN_SETTING_NUMBER = 2 /* the text is a JSON number */
};

#define SN_SETTINGS_MAX 40

typedef struct sn_setting {
    const char *key;
    const char *value; /* points into text or is a literal */
    int flags;
} sn_setting;

typedef struct sn_settings {
    int count;
    sn_setting item[SN_SETTINGS_MAX];
    char *spec; /* canonical spec text (owned) */
    char text[SN_SETTINGS_MAX][48];
} sn_settings;

/* Fills s from the run's options, the compiled model and the training split.
 * The caller releases it with sn_settings__free. */
sn_status sn_settings__make(sn_settings *s, const sn_train_opts *o, const sn_model *m,
                            const sn_task *t, int64_t n_train);
void sn_settings__free(sn_settings *s);

/* The value of key, or NULL. */
const char *sn_settings__get(const sn_settings *s, const char *key);

#endif
