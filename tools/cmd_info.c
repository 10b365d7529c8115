/*
 * sinapsi info: a model's layers with their output shapes, parameters and
 * FLOPs, and the totals, in the manner of torchinfo's summary().
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const cli_command cli_info_command = {
    .name = "info",
    .synopsis = "SPEC|MODEL.safetensors [--input-shape 1x28x28]",
    .summary = "prints a model's layers, output shapes, parameters and FLOPs",
    .description = "Prints a table of the model's modules (index, module, output shape of one\n"
                   "example, parameters, forward FLOPs per example) and the totals.\n",
    .details = "The input shape comes from a model file, or from --input-shape, which a spec\n"
               "needs. FLOPs count a multiply-add as 2; parameter bytes are float32.\n",
    .positional = "SPEC|MODEL",
    .run = cli_info,
};

/* 61706 -> "61,706". */
static char *format_count(int64_t v, char *buf, size_t cap) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t at = 0;
    if (v < 0 && at + 1 < cap) buf[at++] = '-';
    for (int i = 0; i < n && at + 1 < cap; i++) {
        buf[at++] = digits[i];
        if ((n - 1 - i) % 3 == 0 && i != n - 1 && at + 1 < cap) buf[at++] = ',';
    }
    buf[at] = '\0';
    return buf;
}

/* One module as canonical spec text, without the line break. The caller frees it. */
static char *module_text(const sn_module *module) {
    char *text;
    if (sn_spec_format(module, 1, &text) != SN_OK) return NULL;
    size_t len = strlen(text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = '\0';
    return text;
}

static void print_rule(char c, int width) {
    for (int i = 0; i < width; i++) putchar(c);
    putchar('\n');
}

static int print_table(const cli_model *cm, const char *path) {
    sn_model *m = cm->model;
    const int count = sn_model_module_count(m);
    char **texts = calloc((size_t)(count > 0 ? count : 1), sizeof *texts);
    sn_layer_info *infos = calloc((size_t)(count > 0 ? count : 1), sizeof *infos);
    char(*shapes)[64] = calloc((size_t)(count > 0 ? count : 1), sizeof *shapes);
    int status = 0, module_width = (int)strlen("Module"), shape_width = (int)strlen("Output");
    if (!texts || !infos || !shapes) {
        status = cli_error("%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < count && !status; i++) {
        texts[i] = module_text(sn_model_module(m, i));
        if (!texts[i] || sn_model_layer_info(m, i, &infos[i]) != SN_OK) {
            status = cli_library_error(path);
            break;
        }
        sn_shape_format(&infos[i].output, shapes[i], sizeof shapes[i]);
        if ((int)strlen(texts[i]) > module_width) module_width = (int)strlen(texts[i]);
        if ((int)strlen(shapes[i]) > shape_width) shape_width = (int)strlen(shapes[i]);
    }
    if (status) goto done;

    char in_shape[64], a[32], b[32];
    int64_t total_params = 0, total_flops = 0;
    const int width = 4 + 2 + module_width + 2 + shape_width + 12 + 14;
    printf("%s: input %s\n", path,
           sn_shape_format(sn_model_sample_shape(m), in_shape, sizeof in_shape));
    print_rule('=', width);
    printf("%4s  %-*s  %-*s%12s%14s\n", "#", module_width, "Module", shape_width, "Output",
           "Params", "FLOPs");
    print_rule('=', width);
    for (int i = 0; i < count; i++) {
        printf("%4d  %-*s  %-*s%12s%14s\n", i, module_width, texts[i], shape_width, shapes[i],
               format_count(infos[i].params, a, sizeof a),
               format_count(infos[i].flops, b, sizeof b));
        total_params += infos[i].params;
        total_flops += infos[i].flops;
    }
    print_rule('=', width);
    printf("Total params: %s\n", format_count(total_params, a, sizeof a));
    printf("FLOPs per example: %s (%.2f MFLOPs)\n", format_count(total_flops, a, sizeof a),
           (double)total_flops / 1e6);
    printf("Parameter bytes: %s (%.2f MB, float32)\n",
           format_count(total_params * (int64_t)sizeof(float), a, sizeof a),
           (double)total_params * (double)sizeof(float) / 1e6);
    print_rule('=', width);

done:
    for (int i = 0; texts && i < count; i++) free(texts[i]);
    free(texts);
    free(infos);
    free(shapes);
    return status;
}

int cli_info(int argc, char **argv) {
    const char *path = NULL, *model_option = NULL;
    sn_shape input_shape = {0};
    cli_option options[] = {
        CLI_OPTION("--input-shape", "CxHxW", CLI_SHAPE, &input_shape,
                   "one example's shape, e.g. 1x28x28 or 784 (required for a spec)"),
        CLI_OPTION("--model", "SPEC|MODEL", CLI_STRING, &model_option,
                   "the model, as the positional argument"),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int status = cli_parse(&cli_info_command, options, n_options, argc, argv, &path);
    if (status >= 0) return status;
    if (path && model_option)
        return cli_usage_error("info", "the model is given twice: '%s' and --model '%s'", path,
                               model_option);
    if (!path) path = model_option;
    if (!path) return cli_usage_error("info", "which model? give a SPEC or MODEL.safetensors");
    const int shape_given = cli_find_option(options, n_options, "--input-shape")->given;

    cli_model cm;
    if ((status = cli_model_load(path, &cm))) return status;
    if (!cm.is_file && !shape_given) {
        cli_model_close(&cm);
        return cli_error("%s: a spec has no input shape: give --input-shape, e.g. 1x28x28", path);
    }
    const cli_model_args args = {.path = path};
    status = cli_model_prepare(&cm, &args, shape_given ? &input_shape : &cm.saved_shape, 1,
                               SN_LOSS_NONE);
    if (!status) status = print_table(&cm, path);
    cli_model_close(&cm);
    return status;
}
