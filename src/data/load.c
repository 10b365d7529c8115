/*
 * sn_dataset_load: checks the options, picks the reader (a directory is IDX;
 * a file is safetensors by its name or its first bytes, CSV by a .csv name),
 * then fixes the normalisation of both splits from the training split.
 */
#include "data/dataset_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"

static sn_status check_opts(const sn_data_opts *o) {
    if (o->normalize < SN_NORM_AUTO || o->normalize > SN_NORM_STANDARD)
        return sn_error(SN_ERR_INVALID_ARG, "unknown normalisation %d", (int)o->normalize);
    if (o->n_channels_stats < 0 || o->n_channels_stats > 4)
        return sn_error(SN_ERR_INVALID_ARG, "%d mean/std values given; 0 to 4 are allowed",
                        o->n_channels_stats);
    for (int c = 0; c < o->n_channels_stats; c++)
        if (!isfinite(o->mean[c]) || !(o->std[c] > 0.0f) || !isfinite(o->std[c]))
            return sn_error(SN_ERR_INVALID_ARG,
                            "channel %d: mean %g, std %g (a finite mean and a positive std needed)",
                            c, (double)o->mean[c], (double)o->std[c]);
    if (o->csv_header < -1 || o->csv_header > 1)
        return sn_error(SN_ERR_INVALID_ARG, "csv_header %d is not -1 (detect), 0 or 1",
                        o->csv_header);
    if (o->csv_label_col < -1)
        return sn_error(SN_ERR_INVALID_ARG, "csv_label_col %d is not -1 (last) or a column",
                        o->csv_label_col);
    if (o->limit < 0)
        return sn_error(SN_ERR_INVALID_ARG, "limit %lld is negative", (long long)o->limit);
    return SN_OK;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* A safetensors file starts with a little-endian u64 header length and a
 * JSON object: '{' at byte 8. */
static int looks_like_safetensors(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    unsigned char head[9];
    int yes = fread(head, 1, sizeof head, fp) == sizeof head && head[8] == '{';
    fclose(fp);
    return yes;
}

static sn_status load_split(const char *path, const sn_data_opts *o, sn_dataset **train,
                            sn_dataset **test) {
    struct stat info;
    if (stat(path, &info) != 0)
        return sn_error(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(info.st_mode)) return sn_load_idx_dir(path, o, train, test);
    if (has_suffix(path, ".safetensors") || looks_like_safetensors(path))
        return sn_load_safetensors(path, o, train, test);
    if (has_suffix(path, ".csv")) return sn_load_csv(path, o, train);
    return sn_error(SN_ERR_FORMAT,
                    "%s: not a dataset sinapsi reads (a directory of IDX files, a .csv file or a "
                    "safetensors file)",
                    path);
}

sn_status sn_dataset_load(const char *path, const sn_data_opts *opts, sn_dataset **train,
                          sn_dataset **test) {
    if (!path || !train) return sn_error(SN_ERR_INVALID_ARG, "sn_dataset_load: NULL argument");
    *train = NULL;
    if (test) *test = NULL;
    sn_data_opts defaults = sn_data_defaults();
    const sn_data_opts *o = opts ? opts : &defaults;
    sn_status st = check_opts(o);
    if (st != SN_OK) return sn_error_prefix("%s: ", path);

    sn_dataset *tr = NULL, *te = NULL;
    st = load_split(path, o, &tr, test ? &te : NULL);
    if (st == SN_OK) st = sn_dataset_set_normalization(tr, te, o);
    if (st != SN_OK) {
        sn_dataset_destroy(tr);
        sn_dataset_destroy(te);
        return st;
    }
    *train = tr;
    if (test) *test = te;
    return SN_OK;
}
