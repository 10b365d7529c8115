/*
 * Opening a model as forward and eval take it: a spec (text) with --weights or
 * --init, or a sinapsi model file (safetensors holding spec, input shape and
 * weights), optionally with other --weights.
 */
#include <string.h>

#include "cli.h"

/* Returns 1 for a model file, 0 for a spec, -1 after an error (reported), by
 * the rule of sn_model_load (sn_model_file_is_safetensors). */
static int is_model_file(const char *path) {
    int is_safetensors = 0;
    if (sn_model_file_is_safetensors(path, &is_safetensors) != SN_OK) {
        cli_library_error(path);
        return -1;
    }
    return is_safetensors;
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

int cli_parse_model_command(const cli_command *cmd, cli_option *options, int n_options, int argc,
                            char **argv, cli_model_args *args) {
    int status = cli_parse(cmd, options, n_options, argc, argv, NULL);
    if (status >= 0) return status;
    args->init_given = cli_find_option(options, n_options, "--init")->given;
    if (!args->path) return cli_usage_error(cmd->name, "--model is required");
    return -1;
}

int cli_model_compile(cli_model *cm, const char *path, const sn_shape *sample, int64_t batch,
                      sn_loss_kind loss) {
    sn_model_compile_opts opts = sn_model_compile_defaults();
    opts.batch = batch;
    opts.sample_shape = *sample;
    opts.loss = loss;
    opts.reduction = SN_REDUCTION_SUM;
    opts.plan = SN_PLAN_INFERENCE; /* eval, forward and info only run forward */
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

/* One example's shape for the model: a model file's own, else --input-shape,
 * else the data's; the data must have as many values per example. */
int cli_model_sample_shape(const cli_model *cm, const char *model_path, const sn_shape *given,
                           const sn_dataset *ds, sn_shape *out) {
    const sn_shape *data_shape = sn_dataset_sample_shape(ds);
    *out = cm->is_file ? cm->saved_shape : given->ndim ? *given : *data_shape;
    if (sn_shape_numel(out) != sn_shape_numel(data_shape)) {
        char want[64], got[64];
        return cli_error("%s: examples of shape %s, but %s takes %s", sn_dataset_source(ds),
                         cli_format_shape(data_shape, got, sizeof got), model_path,
                         cli_format_shape(out, want, sizeof want));
    }
    return 0;
}

void cli_model_close(cli_model *cm) {
    sn_model_destroy(cm->model);
    cm->model = NULL;
}
