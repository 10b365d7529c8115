/*
 * sinapsi forward: runs a model in evaluation mode on the tensor x of a
 * safetensors file and writes its output as the tensor y of another.
 */
#include <string.h>

#include "cli.h"

const cli_command cli_forward_command = {
    .name = "forward",
    .synopsis = "--model SPEC|MODEL.safetensors [--weights W.safetensors] --input "
                "X.safetensors --output Y.safetensors [options]",
    .summary = "runs a model on a batch of inputs and writes its outputs",
    .description = "Runs a model in evaluation mode (dropout off) on the tensor x of the input\n"
                   "file and writes the output, float32, as tensor y of the output file.\n",
    .details = "The input tensor is 'x', or the file's only tensor; its first dimension is\n"
               "the batch and the rest is one example's shape, which for a model file\n"
               "must be the input shape saved in it. A spec needs --weights (a torch\n"
               "state_dict saved with safetensors, or a model file) or --init SEED.\n",
    .run = cli_forward,
};

/* The tensor x of the file, or its only tensor. */
static int read_input(const char *path, sn_tensor **x) {
    sn_safetensors *f;
    if (sn_safetensors_open(&f, path) != SN_OK) return cli_library_error(path);
    const char *name = "x";
    if (sn_safetensors_find(f, "x") < 0) {
        if (sn_safetensors_count(f) != 1) {
            int count = sn_safetensors_count(f);
            sn_safetensors_close(f);
            return cli_error("%s: no tensor 'x' among its %d tensors", path, count);
        }
        name = sn_safetensors_name(f, 0);
    }
    sn_status st = sn_safetensors_read(f, name, x);
    int status = st == SN_OK ? 0 : cli_library_error(path);
    if (!status && (*x)->shape.ndim < 2) {
        char shape[64];
        status = cli_error("%s: tensor '%s' has shape %s: it needs a batch dimension and an "
                           "example's dimensions",
                           path, name, sn_shape_format(&(*x)->shape, shape, sizeof shape));
        sn_tensor_destroy(*x);
        *x = NULL;
    }
    sn_safetensors_close(f);
    return status;
}

static int write_output(const char *path, const char *model_path, const sn_tensor *y) {
    const char *names[] = {"y"};
    const sn_tensor *tensors[] = {y};
    const char *keys[] = {"generator", "model"};
    const char *values[] = {"sinapsi forward", model_path};
    if (sn_safetensors_write(path, 1, names, tensors, 2, keys, values) != SN_OK)
        return cli_library_error(path);
    return 0;
}

int cli_forward(int argc, char **argv) {
    cli_model_args margs = {.command = "forward"};
    const char *input = NULL, *output = NULL;
    int64_t batch = 64, threads = 0;
    cli_option options[] = {
        CLI_MODEL_OPTIONS(margs),
        CLI_OPTION("--input", "X.safetensors", CLI_STRING, &input,
                   "the input: tensor x (batch, example...)"),
        CLI_OPTION("--output", "Y.safetensors", CLI_STRING, &output,
                   "where to write tensor y (batch, output...)"),
        CLI_BATCH_OPTION(batch, "64"),
        CLI_THREADS_OPTION(threads),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int status =
        cli_parse_model_command(&cli_forward_command, options, n_options, argc, argv, &margs);
    if (status >= 0) return status;
    if (!input) return cli_usage_error("forward", "--input is required");
    if (!output) return cli_usage_error("forward", "--output is required");
    cli_set_threads(threads);

    cli_model cm;
    if ((status = cli_model_open(&margs, &cm))) return status;
    sn_tensor *x = NULL, *y = NULL;
    if ((status = read_input(input, &x))) goto done;

    sn_shape sample = {.ndim = x->shape.ndim - 1};
    memcpy(sample.dim, x->shape.dim + 1, sizeof(int64_t) * (size_t)sample.ndim);
    const int64_t n = x->shape.dim[0];
    if (cm.is_file && !sn_shape_equal(&sample, &cm.saved_shape)) {
        char got[64], want[64];
        status = cli_error("%s: examples of shape %s, but the model %s takes %s", input,
                           cli_format_shape(&sample, got, sizeof got), margs.path,
                           cli_format_shape(&cm.saved_shape, want, sizeof want));
        goto done;
    }
    if ((status = cli_model_prepare(&cm, &margs, &sample, n < batch ? n : batch, SN_LOSS_NONE)))
        goto done;

    sn_shape out_sample;
    if (sn_model_output_shape(cm.model, &out_sample) != SN_OK) {
        status = cli_library_error(margs.path);
        goto done;
    }
    int64_t dims[SN_MAX_DIMS] = {n};
    if (out_sample.ndim + 1 > SN_MAX_DIMS) {
        status = cli_error("%s: the output has too many dimensions", margs.path);
        goto done;
    }
    memcpy(dims + 1, out_sample.dim, sizeof(int64_t) * (size_t)out_sample.ndim);
    if (sn_tensor_create(&y, out_sample.ndim + 1, dims) != SN_OK) {
        status = cli_library_error(output);
        goto done;
    }
    if (sn_model_forward(cm.model, x->data, n, y->data) != SN_OK) {
        status = cli_library_error(margs.path);
        goto done;
    }
    status = write_output(output, margs.path, y);

done:
    sn_tensor_destroy(x);
    sn_tensor_destroy(y);
    cli_model_close(&cm);
    return status;
}
