/*
 * Checkpoints: write after an epoch, read on --resume (see checkpoint.h and
 * docs/checkpoints.md).
 *
 * Everything a run needs to continue bit for bit is in the file: the weights,
 * the optimiser's state blocks (flat, parallel to the parameter block) and its
 * step count, the global step, the epoch and the position in it, the shuffle
 * and dropout streams (u64 words as hex text, since JSON numbers lose bits past
 * 2^53), and the settings a resumed run must share.
 */
#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "nn/model_internal.h"
#include "sinapsi/safetensors.h"
#include "sinapsi/sinapsi.h"

#define CHECKPOINT_FORMAT "sinapsi-checkpoint"
#define MAX_STATE_BLOCKS 2

/* torch.optim's state_dict names for the blocks, as far as they correspond. */
static const char *state_block_name(const sn_optim_opts *o, int index) {
    if (o->kind == SN_OPTIM_SGD)
        return index ? NULL : o->velocity_form ? "optim.velocity" : "optim.momentum_buffer";
    return index ? "optim.exp_avg_sq" : "optim.exp_avg";
}

static void format_rng(const sn_rng *r, char *buf, size_t cap) {
    snprintf(buf, cap, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64, r->s[0], r->s[1],
             r->s[2], r->s[3]);
}

/* Four words of exactly 16 lower-case hex digits, one space between. */
static int parse_rng(const char *text, sn_rng *r) {
    if (!text || strlen(text) != 4 * 16 + 3) return -1;
    for (int w = 0; w < 4; w++) {
        uint64_t v = 0;
        const char *p = text + w * 17;
        for (int i = 0; i < 16; i++) {
            const char c = p[i];
            const int digit = c >= '0' && c <= '9'   ? c - '0'
                              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                     : -1;
            if (digit < 0) return -1;
            v = v << 4 | (uint64_t)digit;
        }
        if (w < 3 && p[16] != ' ') return -1;
        r->s[w] = v;
    }
    return 0;
}

/* A decimal integer in [0, max], the whole text. */
static int parse_count(const char *text, int64_t max, int64_t *out) {
    if (!text || !*text) return -1;
    int64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || v > (max - (*p - '0')) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* The kill hook: SN_TEST_KILL_IN_CHECKPOINT=<epoch>. The checkpoint is written
 * in full to a scratch file beside path, which is then cut to half its length,
 * so that it is left as sn_safetensors_write's temporary file would be by a
 * crash in the middle of writing, and the process is killed. The final name
 * is never touched. */
static void maybe_die_in_checkpoint(const char *path, int epoch, int n, const char *const *names,
                                    const sn_tensor *const *tensors, int n_meta,
                                    const char *const *keys, const char *const *values) {
    const char *hook = getenv("SN_TEST_KILL_IN_CHECKPOINT");
    int64_t kill_epoch;
    if (!hook || parse_count(hook, INT_MAX, &kill_epoch) || kill_epoch != epoch) return;
    char partial[4096];
    snprintf(partial, sizeof partial, "%s.tmp-%ld-killed", path, (long)getpid());
    if (sn_safetensors_write(partial, n, names, tensors, n_meta, keys, values) == SN_OK) {
        FILE *f = fopen(partial, "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
        if (f) fclose(f);
        if (size > 0 && truncate(partial, size / 2) != 0) perror(partial);
    }
    raise(SIGKILL);
}

sn_status sn_checkpoint__write(const char *path, sn_model *m, sn_optim *opt,
                               const sn_train_state *state, const sn_settings *settings) {
    sn_graph *g = sn_model_graph(m);
    const int n_params = sn_graph_param_count(g), n_buffers = sn_graph_buffer_count(g);
    size_t n_floats = 0;
    sn_graph_params(g, &n_floats);
    const int cap = n_params + n_buffers + MAX_STATE_BLOCKS;
    const int meta_cap = 8 + settings->count;
    const char **names = malloc(sizeof *names * (size_t)cap);
    sn_tensor *views = malloc(sizeof *views * (size_t)cap);
    const sn_tensor **tensors = malloc(sizeof *tensors * (size_t)cap);
    const char **keys = malloc(sizeof *keys * (size_t)meta_cap);
    const char **values = malloc(sizeof *values * (size_t)meta_cap);
    sn_status st = SN_OK;
    if (!names || !views || !tensors || !keys || !values) {
        st = sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    /* Views into the parameter block, the buffer block (BatchNorm's running
     * statistics) and the optimiser's state blocks. */
    int n = 0;
    for (int i = 0; i < n_params + n_buffers; i++, n++) {
        const int node =
            i < n_params ? sn_graph_param_node(g, i) : sn_graph_buffer_node(g, i - n_params);
        names[n] = sn_graph_node_name(g, node);
        views[n].shape = *sn_graph_shape(g, node);
        views[n].data = sn_graph_value(g, node);
        tensors[n] = &views[n];
    }
    for (int b = 0; b < MAX_STATE_BLOCKS; b++) {
        float *block = sn_optim_state(opt, b); /* (n_floats) */
        if (!block) continue;
        names[n] = state_block_name(sn_optim_options(opt), b);
        sn_shape_make(&views[n].shape, 1, (int64_t[]){(int64_t)n_floats});
        views[n].data = block;
        tensors[n] = &views[n];
        n++;
    }
    char epoch[24], epoch_batch[24], step[24], optim_steps[24], shuffle[80], dropout[80];
    snprintf(epoch, sizeof epoch, "%d", state->epoch);
    snprintf(epoch_batch, sizeof epoch_batch, "%lld", (long long)state->epoch_batch);
    snprintf(step, sizeof step, "%lld", (long long)state->step);
    snprintf(optim_steps, sizeof optim_steps, "%lld", (long long)sn_optim_steps(opt));
    format_rng(&state->shuffle, shuffle, sizeof shuffle);
    format_rng(&state->dropout, dropout, sizeof dropout);
    int n_meta = 0;
#define META(k, v) (keys[n_meta] = (k), values[n_meta++] = (v))
    META("format", CHECKPOINT_FORMAT);
    META("sinapsi_version", sn_version());
    META("epoch", epoch);
    META("epoch_batch", epoch_batch);
    META("step", step);
    META("optim_steps", optim_steps);
    META("rng_shuffle", shuffle);
    META("rng_dropout", dropout);
#undef META
    for (int i = 0; i < settings->count; i++, n_meta++) {
        keys[n_meta] = settings->item[i].key;
        values[n_meta] = settings->item[i].value;
    }
    if (state->epoch_batch == 0)
        maybe_die_in_checkpoint(path, state->epoch, n, names, tensors, n_meta, keys, values);
    st = sn_safetensors_write(path, n, names, tensors, n_meta, keys, values);
done:
    free(names);
    free(views);
    free(tensors);
    free(keys);
    free(values);
    return st;
}

/* Refuses a checkpoint of another run: every MATCH setting must be equal. */
static sn_status check_settings(const sn_safetensors *f, const char *path,
                                const sn_settings *settings) {
    const char *format = sn_safetensors_metadata(f, "format");
    if (!format || strcmp(format, CHECKPOINT_FORMAT))
        return sn_error(SN_ERR_FORMAT,
                        "%s: not a sinapsi checkpoint (__metadata__ format is %s%s%s)", path,
                        format ? "'" : "", format ? format : "missing", format ? "'" : "");
    for (int i = 0; i < settings->count; i++) {
        const sn_setting *s = &settings->item[i];
        if (!(s->flags & SN_SETTING_MATCH)) continue;
        const char *saved = sn_safetensors_metadata(f, s->key);
        if (!saved) return sn_error(SN_ERR_FORMAT, "%s: __metadata__ has no '%s'", path, s->key);
        if (strcmp(saved, s->value)) {
            const int multiline = strchr(saved, '\n') || strchr(s->value, '\n');
            if (multiline)
                return sn_error(SN_ERR_INVALID_ARG,
                                "%s: the checkpoint was written for another %s; resume with the "
                                "same one",
                                path, s->key);
            return sn_error(SN_ERR_INVALID_ARG,
                            "%s: the checkpoint was written with %s %s, this run has %s; resume "
                            "with the same %s",
                            path, s->key, saved, s->value, s->key);
        }
    }
    return SN_OK;
}

static sn_status read_state(const sn_safetensors *f, const char *path, sn_train_state *state,
                            int64_t *optim_steps) {
    int64_t epoch, epoch_batch;
    const char *bad = NULL;
    if (parse_count(sn_safetensors_metadata(f, "epoch"), INT_MAX, &epoch))
        bad = "epoch";
    else if (parse_count(sn_safetensors_metadata(f, "epoch_batch"), INT64_MAX, &epoch_batch))
        bad = "epoch_batch";
    else if (parse_count(sn_safetensors_metadata(f, "step"), INT64_MAX, &state->step))
        bad = "step";
    else if (parse_count(sn_safetensors_metadata(f, "optim_steps"), INT64_MAX, optim_steps))
        bad = "optim_steps";
    else if (parse_rng(sn_safetensors_metadata(f, "rng_shuffle"), &state->shuffle))
        bad = "rng_shuffle";
    else if (parse_rng(sn_safetensors_metadata(f, "rng_dropout"), &state->dropout))
        bad = "rng_dropout";
    if (bad)
        return sn_error(SN_ERR_FORMAT, "%s: __metadata__ '%s' is missing or malformed", path, bad);
    /* xoshiro256** never leaves the all-zero state, and never reaches it. */
    if (!(state->shuffle.s[0] | state->shuffle.s[1] | state->shuffle.s[2] | state->shuffle.s[3]) ||
        !(state->dropout.s[0] | state->dropout.s[1] | state->dropout.s[2] | state->dropout.s[3]))
        return sn_error(SN_ERR_FORMAT, "%s: __metadata__ holds an all-zero RNG state", path);
    state->epoch = (int)epoch;
    state->epoch_batch = epoch_batch;
    return SN_OK;
}

sn_status sn_checkpoint__read(const char *path, sn_model *m, sn_optim *opt, sn_train_state *state,
                              const sn_settings *settings) {
    sn_safetensors *f = NULL;
    sn_status st = sn_safetensors_open(&f, path);
    if (st != SN_OK) return st;
    sn_train_state s;
    int64_t optim_steps = 0;
    if ((st = check_settings(f, path, settings)) != SN_OK) goto done;
    if ((st = read_state(f, path, &s, &optim_steps)) != SN_OK) goto done;
    /* Every state block the optimiser has must be there, of its size, before
     * anything is changed. */
    size_t n_floats = 0;
    sn_graph_params(sn_model_graph(m), &n_floats);
    int block_index[MAX_STATE_BLOCKS];
    for (int b = 0; b < MAX_STATE_BLOCKS; b++) {
        block_index[b] = -1;
        if (!sn_optim_state(opt, b)) continue;
        const char *name = state_block_name(sn_optim_options(opt), b);
        const int i = sn_safetensors_find(f, name);
        const int64_t *dims = i >= 0 ? sn_safetensors_dims(f, i) : NULL;
        if (i < 0 || sn_safetensors_ndim(f, i) != 1 || dims[0] != (int64_t)n_floats) {
            st = sn_error(SN_ERR_FORMAT, "%s: tensor '%s' is missing or not of shape [%zu]", path,
                          name, n_floats);
            goto done;
        }
        block_index[b] = i;
    }
    if ((st = sn_model__weights_from(m, f)) != SN_OK) goto done;
    for (int b = 0; b < MAX_STATE_BLOCKS && st == SN_OK; b++)
        if (block_index[b] >= 0)
            st = sn_safetensors_read_into(f, block_index[b], sn_optim_state(opt, b), n_floats);
    if (st != SN_OK) goto done;
    sn_optim_set_steps(opt, optim_steps);
    *state = s;
done:
    sn_safetensors_close(f);
    return st;
}
