/*
 * Opening a model as forward and eval take it: a spec (text) with --weights or
 * --init, or a sinapsi model file (safetensors holding spec, input shape and
 * weights), optionally with other --weights.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* A safetensors file starts with its header length, a little-endian u64 of at
 * most SN_SAFETENSORS_MAX_HEADER, which eight bytes of text never are: the
 * rule by which sn_model_load tells a model file from a spec. A file named
 * .safetensors that fails it is reported by the safetensors reader, so that a
 * damaged model file is not parsed as a spec. Returns 1 for a model file, 0
 * for a spec, -1 after an error. */
static int is_model_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    unsigned char head[8] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | head[i];
    if (got == sizeof head && header_len <= SN_SAFETENSORS_MAX_HEADER) return 1;
    if (!ends_with(path, ".safetensors")) return 0;
    sn_safetensors *st;
    if (sn_safetensors_open(&st, path) != SN_OK) {
        cli_library_error(path);
        return -1;
    }
    sn_safetensors_close(st);
    return 1;
}

int cli_model_load(const char *path, cli_model *out) {
    memset(out, 0, sizeof *out);
    int is_file = is_model_file(path);
    if (is_file < 0) return CLI_EXIT_ERROR;
    if (sn_model_load(&out->model, path) != SN_OK) return cli_library_error(path);
    out->is_file = is_file;
    if (is_file) {
        const sn_shape *saved = sn_model_sample_shape(out->model);
        if (!saved || saved->ndim == 0) {
            cli_model_close(out);
            return cli_error("%s: the model file has no input shape", path);
        }
        out->saved_shape = *saved;
    }
    return 0;
}

int cli_model_open(const cli_model_args *args, cli_model *out) {
    memset(out, 0, sizeof *out);
    if (args->weights && args->init_given)
        return cli_usage_error(args->command, "--weights and --init exclude each other");
    int is_file = is_model_file(args->path);
    if (is_file < 0) return CLI_EXIT_ERROR;
    if (!is_file && !args->weights && !args->init_given)
        return cli_error("%s: a spec has no weights: give --weights W.safetensors, or --init "
                         "SEED to run with random weights",
                         args->path);
    if (is_file && args->init_given)
        return cli_error("%s: --init is for a spec; a model file has its weights", args->path);
    return cli_model_load(args->path, out);
}

int cli_model_compile(cli_model *cm, const char *path, const sn_shape *sample, int64_t batch,
                      sn_loss_kind loss) {
    sn_model_compile_opts opts = sn_model_compile_defaults();
    opts.batch = batch;
    opts.sample_shape = *sample;
    opts.loss = loss;
    opts.reduction = SN_REDUCTION_SUM;
    if (sn_model_compile(cm->model, &opts) != SN_OK) return cli_library_error(path);
    return 0;
}

int cli_model_prepare(cli_model *cm, const cli_model_args *args, const sn_shape *sample,
                      int64_t batch, sn_loss_kind loss) {
    int status = cli_model_compile(cm, args->path, sample, batch, loss);
    if (status) return status;
    if (args->weights) {
        if (sn_model_load_weights(cm->model, args->weights) != SN_OK)
            return cli_library_error(args->weights);
    } else if (args->init_given) {
        if (sn_model_init(cm->model, args->init_seed, SN_INIT_TORCH_DEFAULT) != SN_OK)
            return cli_library_error(args->path);
    }
    return 0;
}

void cli_model_close(cli_model *cm) {
    sn_model_destroy(cm->model);
    cm->model = NULL;
}
