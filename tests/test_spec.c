/*
 * The model spec: the forms a user types, the text PyTorch's print(model)
 * shows (pasted verbatim from torch 1.13), every kind of error with its line
 * and the argument it names, format -> parse round trips on hand-picked and
 * random modules, the shipped model files, and hostile text (every prefix,
 * random byte mutations, NUL bytes, huge lines), which under the ASan build
 * must also be free of memory errors.
 */
#include "support/test_support.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE "test.txt"

/* ---- helpers ---- */

/* Module equality, floats compared bit for bit; the line is not compared. */
static void assert_module_equal(const sn_module *got, const sn_module *want, int index) {
    sn_module a = *got, b = *want;
    a.line = b.line = 0;
    if (memcmp(&a.p, &b.p, sizeof a.p) != 0 ||
        memcmp(&a.negative_slope, &b.negative_slope, sizeof a.negative_slope) != 0 ||
        a.kind != b.kind || a.in_features != b.in_features || a.out_features != b.out_features ||
        a.in_channels != b.in_channels || a.out_channels != b.out_channels ||
        memcmp(a.kernel, b.kernel, sizeof a.kernel) != 0 ||
        memcmp(a.stride, b.stride, sizeof a.stride) != 0 ||
        memcmp(a.padding, b.padding, sizeof a.padding) != 0 || a.bias != b.bias ||
        a.count_include_pad != b.count_include_pad || a.num_features != b.num_features ||
        memcmp(&a.eps, &b.eps, sizeof a.eps) != 0 ||
        memcmp(&a.momentum, &b.momentum, sizeof a.momentum) != 0 || a.affine != b.affine ||
        a.track_running_stats != b.track_running_stats) {
        char *ta = NULL, *tb = NULL;
        sn_spec_format(&a, 1, &ta);
        sn_spec_format(&b, 1, &tb);
        fail_msg("module %d: got %s kind %d k(%d,%d) s(%d,%d) p(%d,%d) bias %d cip %d p %.9g "
                 "slope %.9g, want %s kind %d k(%d,%d) s(%d,%d) p(%d,%d) bias %d cip %d p %.9g "
                 "slope %.9g",
                 index, ta ? ta : "?", a.kind, a.kernel[0], a.kernel[1], a.stride[0], a.stride[1],
                 a.padding[0], a.padding[1], a.bias, a.count_include_pad, (double)a.p,
                 (double)a.negative_slope, tb ? tb : "?", b.kind, b.kernel[0], b.kernel[1],
                 b.stride[0], b.stride[1], b.padding[0], b.padding[1], b.bias, b.count_include_pad,
                 (double)b.p, (double)b.negative_slope);
    }
}

static sn_module *parse_ok(const char *text, int *count) {
    sn_module *modules = NULL;
    SN_ASSERT_OK(sn_spec_parse(text, strlen(text), SOURCE, &modules, count));
    assert_non_null(modules);
    return modules;
}

static void assert_parses_to(const char *text, const sn_module *want, int n_want) {
    int count;
    sn_module *modules = parse_ok(text, &count);
    assert_int_equal(count, n_want);
    for (int i = 0; i < count; i++) assert_module_equal(&modules[i], &want[i], i);
    free(modules);
}

/* Parsing must fail with status; the message must start "test.txt:LINE: "
 * (followed by frag1 if that is a "Module: ") and contain every fragment (up to
 * three; NULL ends the list early). Line 0: a message about the whole text. */
static void assert_error_len(const char *text, size_t len, sn_status status, int line,
                             const char *frag1, const char *frag2, const char *frag3) {
    sn_module *modules = (sn_module *)&modules; /* must be reset to NULL */
    int count = -1;
    sn_status st = sn_spec_parse(text, len, SOURCE, &modules, &count);
    const char *message = sn_last_error();
    char prefix[64];
    if (line > 0)
        snprintf(prefix, sizeof prefix, SOURCE ":%d: ", line);
    else
        snprintf(prefix, sizeof prefix, SOURCE ": ");
    if (st != status)
        fail_msg("%.60s: got %s (%s), want %s", text, sn_status_string(st), message,
                 sn_status_string(status));
    assert_null(modules);
    assert_int_equal(count, 0);
    /* A first fragment "Module: " must follow the prefix at once. */
    if (frag1 && strlen(frag1) > 2 && strcmp(frag1 + strlen(frag1) - 2, ": ") == 0)
        strncat(prefix, frag1, sizeof prefix - strlen(prefix) - 1);
    if (strncmp(message, prefix, strlen(prefix)) != 0)
        fail_msg("%.60s: message '%s' does not start with '%s'", text, message, prefix);
    const char *frags[3] = {frag1, frag2, frag3};
    for (int i = 0; i < 3 && frags[i]; i++)
        if (!strstr(message, frags[i]))
            fail_msg("%.60s: message '%s' lacks '%s'", text, message, frags[i]);
}

static void assert_error(const char *text, sn_status status, int line, const char *frag1,
                         const char *frag2, const char *frag3) {
    assert_error_len(text, strlen(text), status, line, frag1, frag2, frag3);
}

/* ---- the forms a user types ---- */

typedef struct typed_case {
    const char *text;
    sn_module want;
} typed_case;

static void test_typed_forms(void **state) {
    (void)state;
    sn_module bn_none = sn_module_batchnorm(SN_MOD_BATCHNORM1D, 3);
    bn_none.eps = 0.001f;
    bn_none.momentum = SN_BATCH_NORM_CUMULATIVE;
    bn_none.affine = bn_none.track_running_stats = 0;
    sn_module bn_keywords = sn_module_batchnorm(SN_MOD_BATCHNORM2D, 4);
    bn_keywords.momentum = 1.0f;
    bn_keywords.eps = 0.0f;
    const typed_case cases[] = {
        {"Conv2d(1, 6, 5, padding=2)", sn_module_conv2d(1, 6, 5, 5, 1, 1, 2, 2, 1)},
        {"Conv2d(3, 8, kernel_size=(2, 3), stride=(1, 2))",
         sn_module_conv2d(3, 8, 2, 3, 1, 2, 0, 0, 1)},
        {"Conv2d(1, 6, 5, 1, 2, 1, 1, False, 'zeros', None, None)",
         sn_module_conv2d(1, 6, 5, 5, 1, 1, 2, 2, 0)},
        {"Conv2d(in_channels=2, out_channels=4, kernel_size=[3, 1], padding=(0, 1))",
         sn_module_conv2d(2, 4, 3, 1, 1, 1, 0, 1, 1)},
        {"Conv2d(1, 6, (5), stride=(2), dilation=(1, 1), groups=1, padding_mode=\"zeros\")",
         sn_module_conv2d(1, 6, 5, 5, 2, 2, 0, 0, 1)},
        {"Conv2d(8, 8, 3, padding='same')", sn_module_conv2d(8, 8, 3, 3, 1, 1, 1, 1, 1)},
        {"Conv2d(8, 8, (5, 3), padding=\"same\", stride=1)",
         sn_module_conv2d(8, 8, 5, 3, 1, 1, 2, 1, 1)},
        {"Conv2d(8, 8, 4, stride=2, padding='valid')", sn_module_conv2d(8, 8, 4, 4, 2, 2, 0, 0, 1)},
        {"MaxPool2d(2)", sn_module_maxpool2d(2, 2, 2, 2, 0, 0)},
        {"MaxPool2d(3, 2, 1)", sn_module_maxpool2d(3, 3, 2, 2, 1, 1)},
        {"MaxPool2d(kernel_size=(2, 4), stride=None)", sn_module_maxpool2d(2, 4, 2, 4, 0, 0)},
        {"MaxPool2d((3, 5), (1, 2), (1, 2), 1, False, False)",
         sn_module_maxpool2d(3, 5, 1, 2, 1, 2)},
        {"AvgPool2d(2)", sn_module_avgpool2d(2, 2, 2, 2, 0, 0, 1)},
        {"AvgPool2d(3, stride=1, padding=1, count_include_pad=False)",
         sn_module_avgpool2d(3, 3, 1, 1, 1, 1, 0)},
        {"AvgPool2d(2, None, 0, False, True, None)", sn_module_avgpool2d(2, 2, 2, 2, 0, 0, 1)},
        {"Dropout(p=0.25)", sn_module_dropout(0.25f)},
        {"Dropout(0.25)", sn_module_dropout(0.25f)},
        {"Dropout()", sn_module_dropout(0.5f)},
        {"Dropout(.5, True)", sn_module_dropout(0.5f)},
        {"Dropout(1)", sn_module_dropout(1.0f)},
        {"Dropout(0)", sn_module_dropout(0.0f)},
        {"Dropout(p=1e-3, inplace=False)", sn_module_dropout(1e-3f)},
        {"Dropout(0.1)", sn_module_dropout(0.1f)},
        {"Linear(400, 120, bias=False)", sn_module_linear(400, 120, 0)},
        {"Linear(in_features=3, out_features=4)", sn_module_linear(3, 4, 1)},
        {"Linear(out_features=4, in_features=3, bias=True)", sn_module_linear(3, 4, 1)},
        {"Linear(3, 4, True, None, None)", sn_module_linear(3, 4, 1)},
        {"Linear(2147483647, 1)", sn_module_linear(2147483647, 1, 1)},
        {"Linear(4, 5,)", sn_module_linear(4, 5, 1)},
        {"LeakyReLU(0.2)", sn_module_leaky_relu(0.2f)},
        {"LeakyReLU()", sn_module_leaky_relu(0.01f)},
        {"LeakyReLU(negative_slope=-1.5E+2, inplace=True)", sn_module_leaky_relu(-150.0f)},
        {"LeakyReLU(5.)", sn_module_leaky_relu(5.0f)},
        {"ReLU()", sn_module_plain(SN_MOD_RELU)},
        {"ReLU(inplace=True)", sn_module_plain(SN_MOD_RELU)},
        {"ReLU(False)", sn_module_plain(SN_MOD_RELU)},
        {"Flatten()", sn_module_plain(SN_MOD_FLATTEN)},
        {"Flatten(1, -1)", sn_module_plain(SN_MOD_FLATTEN)},
        {"Softmax(dim=1)", sn_module_plain(SN_MOD_SOFTMAX)},
        {"Softmax(1)", sn_module_plain(SN_MOD_SOFTMAX)},
        {"Softmax()", sn_module_plain(SN_MOD_SOFTMAX)},
        {"LogSoftmax(dim=1)", sn_module_plain(SN_MOD_LOG_SOFTMAX)},
        {"LogSoftmax(dim=None)", sn_module_plain(SN_MOD_LOG_SOFTMAX)},
        {"Sigmoid()", sn_module_plain(SN_MOD_SIGMOID)},
        {"Tanh()", sn_module_plain(SN_MOD_TANH)},
        {"Identity()", sn_module_plain(SN_MOD_IDENTITY)},
        {"Step()", sn_module_plain(SN_MOD_STEP)},
        {"BatchNorm2d(6)", sn_module_batchnorm(SN_MOD_BATCHNORM2D, 6)},
        {"BatchNorm1d(120)", sn_module_batchnorm(SN_MOD_BATCHNORM1D, 120)},
        {"BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
         sn_module_batchnorm(SN_MOD_BATCHNORM2D, 6)},
        {"BatchNorm1d(3, 0.001, None, False, False)", bn_none},
        {"nn.BatchNorm2d(num_features=4, momentum=1, eps=0)", bn_keywords},
        /* pasted from Python code */
        {"nn.Conv2d(1, 6, 5),", sn_module_conv2d(1, 6, 5, 5, 1, 1, 0, 0, 1)},
        {"    torch.nn.ReLU(),   # activation", sn_module_plain(SN_MOD_RELU)},
        {"\tLinear ( 4 , 5 ) # spaces anywhere between tokens", sn_module_linear(4, 5, 1)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int count;
        sn_module *modules = parse_ok(cases[i].text, &count);
        assert_int_equal(count, 1);
        assert_int_equal(modules[0].line, 1);
        assert_module_equal(&modules[0], &cases[i].want, (int)i);
        free(modules);
    }
}

/* Comments, blank lines, CRLF, a last line without a newline, a UTF-8 BOM:
 * module lines are numbered in the file. */
static void test_lines_and_comments(void **state) {
    (void)state;
    const char *text = "\xef\xbb\xbf# a header comment\r\n"
                       "\r\n"
                       "Conv2d(1, 6, 5)  # trailing comment with (parentheses and 'quotes\r\n"
                       "   \t  \n"
                       "    # indented comment\n"
                       "ReLU()\n"
                       "Linear(6, 2)";
    int count;
    sn_module *modules = parse_ok(text, &count);
    assert_int_equal(count, 3);
    assert_int_equal(modules[0].line, 3);
    assert_int_equal(modules[1].line, 6);
    assert_int_equal(modules[2].line, 7);
    assert_int_equal(modules[2].kind, SN_MOD_LINEAR);
    free(modules);

    /* Not NUL-terminated: the parser must stop at len ("ReLU()X" minus the X). */
    char buf[7] = {'R', 'e', 'L', 'U', '(', ')', 'X'};
    sn_module *one = NULL;
    SN_ASSERT_OK(sn_spec_parse(buf, 6, SOURCE, &one, &count));
    assert_int_equal(count, 1);
    free(one);
}

/* ---- print(model) from torch 1.13, verbatim ---- */

static const char print_lenet[] =
    "Sequential(\n"
    "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))\n"
    "  (1): ReLU()\n"
    "  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
    "  (3): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))\n"
    "  (4): ReLU()\n"
    "  (5): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
    "  (6): Flatten(start_dim=1, end_dim=-1)\n"
    "  (7): Linear(in_features=400, out_features=120, bias=True)\n"
    "  (8): ReLU()\n"
    "  (9): Linear(in_features=120, out_features=84, bias=True)\n"
    "  (10): ReLU()\n"
    "  (11): Linear(in_features=84, out_features=10, bias=True)\n"
    ")\n";

static const char print_mlp[] = "Sequential(\n"
                                "  (0): Flatten(start_dim=1, end_dim=-1)\n"
                                "  (1): Linear(in_features=784, out_features=256, bias=True)\n"
                                "  (2): ReLU()\n"
                                "  (3): Linear(in_features=256, out_features=128, bias=True)\n"
                                "  (4): ReLU()\n"
                                "  (5): Linear(in_features=128, out_features=10, bias=True)\n"
                                ")\n";

static const char print_variety[] =
    "Sequential(\n"
    "  (0): Conv2d(3, 8, kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), bias=False)\n"
    "  (1): LeakyReLU(negative_slope=0.01)\n"
    "  (2): LeakyReLU(negative_slope=0.2, inplace=True)\n"
    "  (3): AvgPool2d(kernel_size=2, stride=2, padding=0)\n"
    "  (4): AvgPool2d(kernel_size=3, stride=1, padding=1)\n"
    "  (5): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)\n"
    "  (6): MaxPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0, dilation=1, "
    "ceil_mode=False)\n"
    "  (7): Identity()\n"
    "  (8): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=same)\n"
    "  (9): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=valid)\n"
    "  (10): Conv2d(8, 8, kernel_size=(5, 3), stride=(1, 1), padding=same)\n"
    "  (11): Sigmoid()\n"
    "  (12): Tanh()\n"
    "  (13): Dropout(p=0.5, inplace=False)\n"
    "  (14): Dropout(p=0.1, inplace=True)\n"
    "  (15): Flatten(start_dim=1, end_dim=-1)\n"
    "  (16): Linear(in_features=10, out_features=3, bias=False)\n"
    "  (17): Softmax(dim=1)\n"
    "  (18): Softmax(dim=None)\n"
    "  (19): LogSoftmax(dim=1)\n"
    "  (20): ReLU(inplace=True)\n"
    ")";

static const sn_module *lenet_modules(void) {
    static sn_module m[12];
    m[0] = sn_module_conv2d(1, 6, 5, 5, 1, 1, 2, 2, 1);
    m[1] = sn_module_plain(SN_MOD_RELU);
    m[2] = sn_module_maxpool2d(2, 2, 2, 2, 0, 0);
    m[3] = sn_module_conv2d(6, 16, 5, 5, 1, 1, 0, 0, 1);
    m[4] = m[1];
    m[5] = m[2];
    m[6] = sn_module_plain(SN_MOD_FLATTEN);
    m[7] = sn_module_linear(400, 120, 1);
    m[8] = m[1];
    m[9] = sn_module_linear(120, 84, 1);
    m[10] = m[1];
    m[11] = sn_module_linear(84, 10, 1);
    return m;
}

static const sn_module *mlp_modules(void) {
    static sn_module m[6];
    m[0] = sn_module_plain(SN_MOD_FLATTEN);
    m[1] = sn_module_linear(784, 256, 1);
    m[2] = sn_module_plain(SN_MOD_RELU);
    m[3] = sn_module_linear(256, 128, 1);
    m[4] = m[2];
    m[5] = sn_module_linear(128, 10, 1);
    return m;
}

static void test_print_forms(void **state) {
    (void)state;
    assert_parses_to(print_lenet, lenet_modules(), 12);
    assert_parses_to(print_mlp, mlp_modules(), 6);

    const sn_module variety[] = {
        sn_module_conv2d(3, 8, 2, 3, 1, 2, 1, 0, 0),
        sn_module_leaky_relu(0.01f),
        sn_module_leaky_relu(0.2f),
        sn_module_avgpool2d(2, 2, 2, 2, 0, 0, 1),
        sn_module_avgpool2d(3, 3, 1, 1, 1, 1, 1),
        sn_module_maxpool2d(3, 3, 2, 2, 1, 1),
        sn_module_maxpool2d(2, 3, 2, 3, 0, 0),
        sn_module_plain(SN_MOD_IDENTITY),
        sn_module_conv2d(8, 8, 3, 3, 1, 1, 1, 1, 1),
        sn_module_conv2d(8, 8, 3, 3, 1, 1, 0, 0, 1),
        sn_module_conv2d(8, 8, 5, 3, 1, 1, 2, 1, 1),
        sn_module_plain(SN_MOD_SIGMOID),
        sn_module_plain(SN_MOD_TANH),
        sn_module_dropout(0.5f),
        sn_module_dropout(0.1f),
        sn_module_plain(SN_MOD_FLATTEN),
        sn_module_linear(10, 3, 0),
        sn_module_plain(SN_MOD_SOFTMAX),
        sn_module_plain(SN_MOD_SOFTMAX),
        sn_module_plain(SN_MOD_LOG_SOFTMAX),
        sn_module_plain(SN_MOD_RELU),
    };
    assert_parses_to(print_variety, variety, (int)(sizeof variety / sizeof variety[0]));

    /* Line numbers count the "Sequential(" line. */
    int count;
    sn_module *modules = parse_ok(print_lenet, &count);
    for (int i = 0; i < count; i++) assert_int_equal(modules[i].line, i + 2);
    free(modules);

    /* Index prefixes are also allowed without the wrapper, and "(k): " alone on
     * some lines. */
    assert_parses_to("(0): Flatten()\nLinear(784, 256)\n(2): ReLU()", mlp_modules(), 3);

    /* print(nn.Sequential(nn.BatchNorm2d(6), nn.BatchNorm1d(8, eps=1e-3,
     * momentum=None, affine=False, track_running_stats=False),
     * nn.BatchNorm1d(3, momentum=0.25))) in torch 1.13 */
    const char *print_batchnorm =
        "Sequential(\n"
        "  (0): BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (1): BatchNorm1d(8, eps=0.001, momentum=None, affine=False, "
        "track_running_stats=False)\n"
        "  (2): BatchNorm1d(3, eps=1e-05, momentum=0.25, affine=True, track_running_stats=True)\n"
        ")\n";
    sn_module batchnorms[3] = {sn_module_batchnorm(SN_MOD_BATCHNORM2D, 6),
                               sn_module_batchnorm(SN_MOD_BATCHNORM1D, 8),
                               sn_module_batchnorm(SN_MOD_BATCHNORM1D, 3)};
    batchnorms[1].eps = 1e-3f;
    batchnorms[1].momentum = SN_BATCH_NORM_CUMULATIVE;
    batchnorms[1].affine = batchnorms[1].track_running_stats = 0;
    batchnorms[2].momentum = 0.25f;
    assert_parses_to(print_batchnorm, batchnorms, 3);
    /* ... and the canonical text is exactly torch's line. */
    char *text;
    SN_ASSERT_OK(sn_spec_format(batchnorms, 3, &text));
    assert_string_equal(text, "BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, "
                              "track_running_stats=True)\n"
                              "BatchNorm1d(8, eps=0.001, momentum=None, affine=False, "
                              "track_running_stats=False)\n"
                              "BatchNorm1d(3, eps=1e-05, momentum=0.25, affine=True, "
                              "track_running_stats=True)\n");
    free(text);
}

/* The shipped models parse to the same modules as torch's print of the same
 * nn.Sequential. */
static char *read_model_file(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/../../models/%s", SN_GOLDEN_DIR, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    char *text = malloc(1 << 16);
    assert_non_null(text);
    *len = fread(text, 1, 1 << 16, fp);
    fclose(fp);
    assert_true(*len > 0 && *len < (1 << 16));
    return text;
}

static void test_model_files(void **state) {
    (void)state;
    const struct {
        const char *file;
        const sn_module *(*modules)(void);
        int count;
    } models[] = {{"lenet5.txt", lenet_modules, 12}, {"mlp.txt", mlp_modules, 6}};
    for (int f = 0; f < 2; f++) {
        size_t len;
        char *text = read_model_file(models[f].file, &len);
        sn_module *modules;
        int count;
        SN_ASSERT_OK(sn_spec_parse(text, len, models[f].file, &modules, &count));
        assert_int_equal(count, models[f].count);
        for (int i = 0; i < count; i++) {
            assert_module_equal(&modules[i], &models[f].modules()[i], i);
            assert_true(modules[i].line > 1); /* after the comment header */
        }
        free(modules);
        free(text);
    }
}

/* ---- errors ---- */

typedef struct error_case {
    const char *text;
    sn_status status;
    int line;
    const char *frag1, *frag2, *frag3;
} error_case;

#define FMT SN_ERR_FORMAT
#define UNS SN_ERR_UNSUPPORTED

static void run_error_cases(const error_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++)
        assert_error(cases[i].text, cases[i].status, cases[i].line, cases[i].frag1, cases[i].frag2,
                     cases[i].frag3);
}

static void test_errors_binding(void **state) {
    (void)state;
    const error_case cases[] = {
        /* unknown module */
        {"ReLU()\nConv3d(1, 2, 3)", FMT, 2, "Conv3d: ", "unknown module"},
        {"BatchNorm3d(6)", FMT, 1, "BatchNorm3d: ", "unknown module"},
        {"BatchNorm2d()", FMT, 1, "BatchNorm2d: ", "missing required argument 'num_features'"},
        {"BatchNorm1d(4, mom=0.1)", FMT, 1, "BatchNorm1d: ", "unknown argument 'mom'"},
        {"BatchNorm2d(4, 1e-5, 0.1, True, True, None, None, 1)", FMT, 1,
         "BatchNorm2d: ", "at most 7"},
        {"BatchNorm2d(6.0)", FMT, 1, "BatchNorm2d: ", "num_features=6.0", "an int"},
        {"BatchNorm2d(6, momentum='0.1')", FMT, 1, "BatchNorm2d: ", "momentum='0.1'",
         "None or a number"},
        {"BatchNorm2d(6, eps=None)", FMT, 1, "BatchNorm2d: ", "eps=None", "a number"},
        {"BatchNorm1d(6, affine=1)", FMT, 1, "BatchNorm1d: ", "affine=1", "True or False"},
        {"nn.relu()", FMT, 1, "nn.relu: ", "unknown module"},
        /* unknown keyword */
        {"Conv2d(1, 6, 5, dilaton=1)", FMT, 1, "Conv2d: ", "unknown argument 'dilaton'"},
        {"ReLU(in_place=True)", FMT, 1, "ReLU: ", "'in_place'"},
        {"Sigmoid(inplace=True)", FMT, 1, "Sigmoid: ", "'inplace'"},
        /* duplicates */
        {"Linear(4, 5, in_features=4)", FMT, 1, "Linear: ", "'in_features' given twice"},
        {"Dropout(p=0.1, p=0.2)", FMT, 1, "Dropout: ", "'p' given twice"},
        /* too many positional */
        {"Linear(1, 2, True, None, None, 5)", FMT, 1, "Linear: ", "positional", "at most 5"},
        {"ReLU(True, True)", FMT, 1, "ReLU: ", "positional"},
        {"Identity(54)", FMT, 1, "Identity: ", "positional"},
        {"Linear(in_features=4, 5)", FMT, 1, "Linear: ", "positional argument follows keyword"},
        /* missing required */
        {"Conv2d(1, 6)", FMT, 1, "Conv2d: ", "missing required argument 'kernel_size'"},
        {"Conv2d(1, kernel_size=3)", FMT, 1, "Conv2d: ", "'out_channels'"},
        {"Linear(4)", FMT, 1, "Linear: ", "'out_features'"},
        {"MaxPool2d()", FMT, 1, "MaxPool2d: ", "'kernel_size'"},
        {"AvgPool2d(stride=2)", FMT, 1, "AvgPool2d: ", "'kernel_size'"},
        /* wrong types */
        {"Linear(400.0, 120)", FMT, 1, "Linear: ", "in_features=400.0", "an int"},
        {"Linear(1e3, 5)", FMT, 1, "Linear: ", "in_features=1e3"},
        {"Conv2d(1, 6, 2.5)", FMT, 1, "Conv2d: ", "kernel_size=2.5", "pair of ints"},
        {"Conv2d(1, 6, (5, 5, 5))", FMT, 1, "Conv2d: ", "kernel_size=(5, 5, 5)"},
        {"Conv2d(1, 6, (5,))", FMT, 1, "Conv2d: ", "kernel_size=(5,)"},
        {"Conv2d(1, 6, ())", FMT, 1, "Conv2d: ", "kernel_size=()"},
        {"Conv2d(1, 6, (5, 2.0))", FMT, 1, "Conv2d: ", "an integer in the tuple", "2.0"},
        {"Conv2d(1, 6, ((5, 5), 5))", FMT, 1, "Conv2d: ", "an integer in the tuple"},
        {"Linear(4, 5, bias=1)", FMT, 1, "Linear: ", "bias=1", "True or False"},
        {"Linear(4, 5, bias='True')", FMT, 1, "Linear: ", "bias='True'"},
        {"Linear(4, 5, bias=true)", FMT, 1, "Linear: ", "bias=true"},
        {"Dropout(p='0.5')", FMT, 1, "Dropout: ", "p='0.5'", "a number"},
        {"Dropout(None)", FMT, 1, "Dropout: ", "p=None"},
        {"MaxPool2d(2, stride='2')", FMT, 1, "MaxPool2d: ", "stride='2'"},
        {"Softmax(dim=1.0)", FMT, 1, "Softmax: ", "dim=1.0"},
        {"Conv2d(1, 6, 3, padding_mode=0)", FMT, 1, "Conv2d: ", "padding_mode=0", "a string"},
        {"Flatten(start_dim=None)", FMT, 1, "Flatten: ", "start_dim=None"},
    };
    run_error_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_values(void **state) {
    (void)state;
    const error_case cases[] = {
        /* valid in torch, not in sinapsi */
        {"Conv2d(1, 6, 3, dilation=2)", UNS, 1, "Conv2d: ", "dilation=2 is not supported"},
        {"Conv2d(1, 6, 3, dilation=(1, 2))", UNS, 1, "Conv2d: ", "dilation=(1, 2)"},
        {"Conv2d(6, 6, 3, groups=2)", UNS, 1, "Conv2d: ", "groups=2"},
        {"Conv2d(6, 6, 3, padding_mode='reflect')", UNS, 1, "Conv2d: ", "padding_mode='reflect'"},
        {"Conv2d(6, 6, 3, padding_mode='circular')", UNS, 1, "Conv2d: ", "padding_mode"},
        {"Conv2d(6, 6, 3, device='cuda')", UNS, 1, "Conv2d: ", "device='cuda'"},
        {"Linear(6, 6, dtype=torch.float64)", UNS, 1, "Linear: ", "dtype=torch.float64"},
        {"MaxPool2d(2, ceil_mode=True)", UNS, 1, "MaxPool2d: ", "ceil_mode=True"},
        {"MaxPool2d(2, return_indices=True)", UNS, 1, "MaxPool2d: ", "return_indices=True"},
        {"MaxPool2d(3, dilation=2)", UNS, 1, "MaxPool2d: ", "dilation=2"},
        {"AvgPool2d(2, ceil_mode=True)", UNS, 1, "AvgPool2d: ", "ceil_mode=True"},
        {"AvgPool2d(2, divisor_override=3)", UNS, 1, "AvgPool2d: ", "divisor_override=3"},
        {"Flatten(0)", UNS, 1, "Flatten: ", "start_dim=0"},
        {"Flatten(end_dim=2)", UNS, 1, "Flatten: ", "end_dim=2"},
        {"Softmax(dim=-1)", UNS, 1, "Softmax: ", "dim=-1", "dim=1"},
        {"LogSoftmax(-1)", UNS, 1, "LogSoftmax: ", "dim=-1"},
        {"Softmax(0)", UNS, 1, "Softmax: ", "dim=0"},
        {"Conv2d(8, 8, 4, padding='same')", UNS, 1, "Conv2d: ", "padding='same'", "even"},
        /* torch itself refuses these */
        {"Conv2d(8, 8, 3, stride=2, padding='same')", FMT, 1, "Conv2d: ", "strided"},
        {"Conv2d(8, 8, 3, padding='full')", FMT, 1, "Conv2d: ", "padding='full'"},
        {"Conv2d(6, 6, 3, padding_mode='bogus')", FMT, 1, "Conv2d: ", "padding_mode='bogus'"},
        {"Conv2d(6, 6, 3, dilation=0)", FMT, 1, "Conv2d: ", "dilation=0 must be >= 1"},
        {"Conv2d(6, 6, 3, groups=-1)", FMT, 1, "Conv2d: ", "groups=-1"},
        /* ranges */
        {"Linear(0, 5)", FMT, 1, "Linear: ", "in_features=0 must be >= 1"},
        {"Linear(4, -1)", FMT, 1, "Linear: ", "out_features=-1"},
        {"Conv2d(0, 6, 3)", FMT, 1, "Conv2d: ", "in_channels=0"},
        {"Conv2d(1, 0, 3)", FMT, 1, "Conv2d: ", "out_channels=0"},
        {"Conv2d(1, 6, 0)", FMT, 1, "Conv2d: ", "kernel_size=0"},
        {"Conv2d(1, 6, (3, 0))", FMT, 1, "Conv2d: ", "kernel_size=(3, 0)"},
        {"Conv2d(1, 6, 3, stride=0)", FMT, 1, "Conv2d: ", "stride=0"},
        {"Conv2d(1, 6, 3, padding=-1)", FMT, 1, "Conv2d: ", "padding=-1 must be >= 0"},
        {"MaxPool2d(2, stride=(1, 0))", FMT, 1, "MaxPool2d: ", "stride=(1, 0)"},
        {"MaxPool2d(3, padding=2)", FMT, 1, "MaxPool2d: ", "padding=2", "half"},
        {"AvgPool2d((4, 2), padding=(2, 2))", FMT, 1, "AvgPool2d: ", "padding=(2, 2)"},
        {"Dropout(1.5)", FMT, 1, "Dropout: ", "p=1.5", "between 0 and 1"},
        {"BatchNorm2d(0)", FMT, 1, "BatchNorm2d: ", "num_features=0 must be >= 1"},
        {"BatchNorm2d(6, momentum=1.5)", FMT, 1, "BatchNorm2d: ", "momentum=1.5",
         "between 0 and 1"},
        {"BatchNorm1d(6, eps=-1e-5)", FMT, 1, "BatchNorm1d: ", "eps=-1e-5"},
        {"BatchNorm2d(6, device='cuda')", UNS, 1, "BatchNorm2d: ", "device='cuda'"},
        {"Dropout(p=-0.1)", FMT, 1, "Dropout: ", "p=-0.1"},
        {"LeakyReLU(1e39)", FMT, 1, "LeakyReLU: ", "negative_slope=1e39"},
        {"Linear(2147483648, 5)", FMT, 1, "Linear: ", "'2147483648' is out of range"},
        {"Linear(4, 99999999999999999999999)", FMT, 1, "Linear: ", "out of range"},
        {"Dropout(1e999)", FMT, 1, "Dropout: ", "out of range"},
    };
    run_error_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_structure(void **state) {
    (void)state;
    const error_case cases[] = {
        /* nesting and the wrapper */
        {"Sequential(\n"
         "  (0): Sequential(\n"
         "    (0): Linear(in_features=2, out_features=3, bias=True)\n"
         "  )\n"
         "  (1): ReLU()\n"
         ")",
         UNS, 2, "Sequential: ", "nested"},
        {"ReLU()\nSequential(", FMT, 2, "Sequential: ", "may only open"},
        {"Sequential(\n)\nSequential(", FMT, 3, "text after the ')'"},
        {"Sequential(ReLU())", FMT, 1, "Sequential: ", "one module per line"},
        {"Sequential(\n  (0): ReLU()\n", FMT, 1, "Sequential: ", "never closed"},
        {"Sequential(\n  (0): ReLU()\n)\nReLU()", FMT, 4, "text after the ')'", "line 1"},
        {"Sequential(\n  (0): ReLU()\n) x", FMT, 3, "after ')'", "'x'"},
        {"Sequential()", FMT, 0, "no modules"},
        {"Sequential [", FMT, 1, "expected '('"},
        /* index prefixes */
        {"(1): ReLU()", FMT, 1, "index (1)", "position 0"},
        {"Sequential(\n  (0): ReLU()\n  (0): ReLU()\n)", FMT, 3, "index (0)", "position 1"},
        {"Sequential(\n  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))\n)", UNS, 2,
         "named module '(conv1)'", "0.weight"},
        {"(0) ReLU()", FMT, 1, "':' after the module index"},
        {"(0: ReLU()", FMT, 1, "')' after the module index"},
        {"(-): ReLU()", FMT, 1, "unexpected character '-'"},
        /* parentheses */
        {"Linear(4, 5", FMT, 1, "Linear: ", "missing ')'"},
        {"Linear(4,", FMT, 1, "Linear: ", "missing ')'"},
        {"Linear(4, bias=", FMT, 1, "Linear: ", "missing ')'"},
        {"Conv2d(1, 6, (5, 5)", FMT, 1, "Conv2d: ", "missing ')'"},
        {"Conv2d(1, 6, (5, 5", FMT, 1, "Conv2d: ", "missing ')'"},
        {"Conv2d(1, 6,\n 5)", FMT, 1, "Conv2d: ", "missing ')'"},
        {"Linear(4, 5))", FMT, 1, "Linear: ", "one ')' too many"},
        {")", FMT, 1, "without 'Sequential('"},
        {"ReLU", FMT, 1, "ReLU: ", "expected '('", "end of the line"},
        {"Conv2d(1, 6, (5, 5])", FMT, 1, "Conv2d: ", "in the tuple"},
        /* trailing garbage and syntax */
        {"ReLU() ReLU()", FMT, 1, "ReLU: ", "unexpected text after ')': 'ReLU()'"},
        {"ReLU();", FMT, 1, "ReLU: ", "unexpected character ';'"},
        {"ReLU(),,", FMT, 1, "ReLU: ", "after ')'"},
        {"ReLU()\n\n= ReLU()", FMT, 3, "expected a module name", "'='"},
        {"Linear(4 5)", FMT, 1, "Linear: ", "',' or ')'", "'5'"},
        {"Linear(4, , 5)", FMT, 1, "Linear: ", "expected an argument"},
        {"Linear(, 4)", FMT, 1, "Linear: ", "expected an argument"},
        {"Linear(4, 5x)", FMT, 1, "Linear: ", "malformed number '5x'"},
        {"Linear(1.2.3, 4)", FMT, 1, "Linear: ", "malformed number"},
        {"Dropout(1e)", FMT, 1, "Dropout: ", "malformed number '1e'"},
        {"Dropout(-.)", FMT, 1, "Dropout: ", "malformed number"},
        {"Conv2d(1, 6, 3, padding='same)", FMT, 1, "Conv2d: ", "unterminated string"},
        {"Linear(4, 5, bias=True", FMT, 1, "Linear: ", "missing ')'"},
        {"Linear(4, 5) # ok\nReLU() $", FMT, 2, "ReLU: ", "'$'"},
        {"Linear\xc3\xa9(4, 5)", FMT, 1, "Linear: unexpected character '\\xc3'"},
        /* empty specs */
        {"", FMT, 0, "no modules"},
        {"# only a comment\n\n   \n", FMT, 0, "no modules"},
    };
    run_error_cases(cases, sizeof cases / sizeof cases[0]);

    /* A NUL byte inside a line (explicit length). */
    static const char with_nul[] = "ReLU()\nLinear\0(4, 5)\n";
    assert_error_len(with_nul, sizeof with_nul - 1, FMT, 2, "Linear: unexpected character '\\x00'",
                     NULL, NULL);
    static const char nul_in_args[] = "ReLU()\nReLU()\nLinear(4,\0 5)";
    assert_error_len(nul_in_args, sizeof nul_in_args - 1, FMT, 3, "Linear: ", "'\\x00'", NULL);

    /* More arguments than any signature could take. */
    char many[256] = "Linear(";
    for (int i = 0; i < 20; i++) strcat(many, "1, ");
    strcat(many, "1)");
    assert_error(many, FMT, 1, "Linear: ", "too many arguments", NULL);

    /* Error messages quote hostile text cut short: a 10 kB name is not all shown. */
    size_t long_len = 10000;
    char *long_name = malloc(long_len + 3);
    assert_non_null(long_name);
    memset(long_name, 'A', long_len);
    memcpy(long_name + long_len, "()", 3);
    assert_error(long_name, FMT, 1, "unknown module", "AAA...", NULL);
    assert_true(strlen(sn_last_error()) < 400);
    free(long_name);
}

/* The contract on bad arguments. */
static void test_bad_calls(void **state) {
    (void)state;
    sn_module *modules;
    int count;
    assert_int_equal(sn_spec_parse(NULL, 4, SOURCE, &modules, &count), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_spec_parse("ReLU()", 6, SOURCE, NULL, &count), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_spec_parse("ReLU()", 6, SOURCE, &modules, NULL), SN_ERR_INVALID_ARG);
    /* NULL source: a default name, still "NAME:LINE: ". */
    assert_int_equal(sn_spec_parse("Relu()", 6, NULL, &modules, &count), SN_ERR_FORMAT);
    assert_non_null(strstr(sn_last_error(), "spec:1: Relu: unknown module"));
    /* An empty text, with a NULL pointer. */
    assert_int_equal(sn_spec_parse(NULL, 0, SOURCE, &modules, &count), SN_ERR_FORMAT);

    char *text;
    sn_module m = sn_module_plain(SN_MOD_RELU);
    assert_int_equal(sn_spec_format(&m, 1, NULL), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_spec_format(NULL, 1, &text), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_spec_format(&m, -1, &text), SN_ERR_INVALID_ARG);
    m.kind = (sn_module_kind)99;
    assert_int_equal(sn_spec_format(&m, 1, &text), SN_ERR_INVALID_ARG);
    assert_null(text);
    /* Values the parser would refuse are refused when formatting, naming them. */
    const sn_module bad[] = {sn_module_plain(SN_MOD_RELU),
                             sn_module_conv2d(1, 6, 0, 5, 1, 1, 0, 0, 1)};
    assert_int_equal(sn_spec_format(bad, 2, &text), SN_ERR_FORMAT);
    assert_null(text);
    assert_non_null(strstr(sn_last_error(), "sn_spec_format: "));
    assert_non_null(strstr(sn_last_error(), ":2: Conv2d: kernel_size=(0, 5)"));
    const sn_module nan_p = sn_module_dropout(NAN);
    assert_int_not_equal(sn_spec_format(&nan_p, 1, &text), SN_OK);
    const sn_module big_p = sn_module_dropout(2.0f);
    assert_int_equal(sn_spec_format(&big_p, 1, &text), SN_ERR_FORMAT);
    assert_non_null(strstr(sn_last_error(), "p=2.0"));
    /* Zero modules: an empty text. */
    SN_ASSERT_OK(sn_spec_format(NULL, 0, &text));
    assert_string_equal(text, "");
    free(text);
    assert_string_equal(sn_module_kind_name(SN_MOD_LOG_SOFTMAX), "LogSoftmax");
    assert_string_equal(sn_module_kind_name((sn_module_kind)99), "unknown");
}

/* ---- format and round trips ---- */

static void test_format_spelling(void **state) {
    (void)state;
    const sn_module modules[] = {
        sn_module_conv2d(1, 6, 5, 5, 1, 1, 2, 2, 1),
        sn_module_maxpool2d(2, 2, 2, 2, 0, 0),
        sn_module_maxpool2d(2, 3, 1, 2, 1, 0),
        sn_module_avgpool2d(3, 3, 1, 1, 1, 1, 0),
        sn_module_plain(SN_MOD_FLATTEN),
        sn_module_linear(400, 120, 0),
        sn_module_dropout(0.1f),
        sn_module_dropout(1.0f),
        sn_module_leaky_relu(1e-5f),
        sn_module_leaky_relu(-0.0f),
        sn_module_plain(SN_MOD_SOFTMAX),
        sn_module_plain(SN_MOD_LOG_SOFTMAX),
        sn_module_plain(SN_MOD_RELU),
        sn_module_plain(SN_MOD_STEP),
    };
    const char *want =
        "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=True)\n"
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "MaxPool2d(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), dilation=1, "
        "ceil_mode=False)\n"
        "AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=False)\n"
        "Flatten(start_dim=1, end_dim=-1)\n"
        "Linear(in_features=400, out_features=120, bias=False)\n"
        "Dropout(p=0.1, inplace=False)\n"
        "Dropout(p=1.0, inplace=False)\n"
        "LeakyReLU(negative_slope=1e-05)\n"
        "LeakyReLU(negative_slope=-0.0)\n"
        "Softmax(dim=1)\n"
        "LogSoftmax(dim=1)\n"
        "ReLU()\n"
        "Step()\n";
    const int n = (int)(sizeof modules / sizeof modules[0]);
    char *text;
    SN_ASSERT_OK(sn_spec_format(modules, n, &text));
    assert_string_equal(text, want);
    sn_module *back;
    int count;
    SN_ASSERT_OK(sn_spec_parse(text, strlen(text), SOURCE, &back, &count));
    assert_int_equal(count, n);
    for (int i = 0; i < n; i++) {
        assert_module_equal(&back[i], &modules[i], i);
        assert_int_equal(back[i].line, i + 1);
    }
    free(back);
    free(text);

    /* print(model) -> parse -> format -> parse is the identity on modules, and
     * format is a fixed point. */
    sn_module *first;
    SN_ASSERT_OK(sn_spec_parse(print_variety, strlen(print_variety), SOURCE, &first, &count));
    char *canonical, *again;
    SN_ASSERT_OK(sn_spec_format(first, count, &canonical));
    SN_ASSERT_OK(sn_spec_parse(canonical, strlen(canonical), SOURCE, &back, &count));
    for (int i = 0; i < count; i++) assert_module_equal(&back[i], &first[i], i);
    SN_ASSERT_OK(sn_spec_format(back, count, &again));
    assert_string_equal(canonical, again);
    free(first);
    free(back);
    free(canonical);
    free(again);
}

/* A small deterministic generator for the random tests (splitmix64). */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int random_int(uint64_t *state, int lo, int hi) {
    return (int)(lo + (int64_t)(next_random(state) % (uint64_t)((int64_t)hi - lo + 1)));
}

/* A float with random bits (any finite value, denormals included). */
static float random_finite_float(uint64_t *state) {
    for (;;) {
        uint32_t bits = (uint32_t)next_random(state);
        float f;
        memcpy(&f, &bits, sizeof f);
        if (isfinite(f)) return f;
    }
}

/* Large values now and then, to exercise every digit count. */
static int random_size(uint64_t *state, int lo) {
    return next_random(state) % 8 == 0 ? random_int(state, lo, INT_MAX) : random_int(state, lo, 64);
}

static sn_module random_module(uint64_t *state) {
    const sn_module_kind kind =
        (sn_module_kind)random_int(state, SN_MOD_LINEAR, SN_MOD_BATCHNORM2D);
    const int kh = random_size(state, 1), kw = random_size(state, 1);
    switch (kind) {
    case SN_MOD_LINEAR:
        return sn_module_linear(random_size(state, 1), random_size(state, 1),
                                random_int(state, 0, 1));
    case SN_MOD_CONV2D:
        return sn_module_conv2d(random_size(state, 1), random_size(state, 1), kh, kw,
                                random_size(state, 1), random_size(state, 1), random_size(state, 0),
                                random_size(state, 0), random_int(state, 0, 1));
    case SN_MOD_MAXPOOL2D:
    case SN_MOD_AVGPOOL2D: {
        const int ph = random_int(state, 0, kh / 2), pw = random_int(state, 0, kw / 2);
        const int sh = random_size(state, 1),
                  sw = random_int(state, 0, 1) ? sh : random_size(state, 1);
        if (kind == SN_MOD_MAXPOOL2D) return sn_module_maxpool2d(kh, kw, sh, sw, ph, pw);
        return sn_module_avgpool2d(kh, kw, sh, sw, ph, pw, random_int(state, 0, 1));
    }
    case SN_MOD_DROPOUT: {
        float p = (float)((next_random(state) >> 11) * 0x1.0p-53); /* [0, 1) */
        return sn_module_dropout(random_int(state, 0, 9) == 0 ? 1.0f : p);
    }
    case SN_MOD_LEAKY_RELU:
        return sn_module_leaky_relu(random_finite_float(state));
    case SN_MOD_BATCHNORM1D:
    case SN_MOD_BATCHNORM2D: {
        sn_module m = sn_module_batchnorm(kind, random_size(state, 1));
        m.eps = fabsf(random_finite_float(state));
        const float momentum = (float)((next_random(state) >> 11) * 0x1.0p-53); /* [0, 1) */
        m.momentum = random_int(state, 0, 4) == 0 ? SN_BATCH_NORM_CUMULATIVE : momentum;
        m.affine = random_int(state, 0, 1);
        m.track_running_stats = random_int(state, 0, 1);
        return m;
    }
    default:
        return sn_module_plain(kind);
    }
}

static void test_round_trip_random(void **state) {
    (void)state;
    enum { N = 4000 };
    uint64_t rng = 42;
    sn_module *modules = malloc(N * sizeof *modules);
    assert_non_null(modules);
    int kinds_seen[SN_MOD_BATCHNORM2D + 1] = {0};
    for (int i = 0; i < N; i++) {
        modules[i] = random_module(&rng);
        kinds_seen[modules[i].kind]++;
    }
    for (int k = 0; k <= SN_MOD_BATCHNORM2D; k++) assert_true(kinds_seen[k] > 0);
    char *text;
    SN_ASSERT_OK(sn_spec_format(modules, N, &text));
    sn_module *back;
    int count;
    SN_ASSERT_OK(sn_spec_parse(text, strlen(text), SOURCE, &back, &count));
    assert_int_equal(count, N);
    for (int i = 0; i < N; i++) {
        assert_module_equal(&back[i], &modules[i], i);
        assert_int_equal(back[i].line, i + 1);
    }
    free(back);
    free(text);
    free(modules);
}

/* ---- hostile text ---- */

/* Parses exactly len bytes from a buffer of that size (so that ASan sees any
 * read past len) and checks the contract either way. */
static void parse_hostile(const char *bytes, size_t len) {
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, bytes, len);
    sn_module *modules = NULL;
    int count = -1;
    sn_status st = sn_spec_parse(copy, len, SOURCE, &modules, &count);
    if (st == SN_OK) {
        assert_non_null(modules);
        assert_true(count > 0);
        for (int i = 0; i < count; i++) {
            assert_true(modules[i].line >= 1);
            assert_true(i == 0 || modules[i].line > modules[i - 1].line);
        }
    } else {
        assert_null(modules);
        assert_int_equal(count, 0);
        const char *message = sn_last_error();
        assert_true(strncmp(message, SOURCE ":", strlen(SOURCE ":")) == 0);
        assert_true(strlen(message) < 512);
    }
    free(modules);
    free(copy);
}

static const char hostile_seed[] = "# user form\n"
                                   "Conv2d(1, 6, kernel_size=(5, 5), padding='same')\n"
                                   "(1): LeakyReLU(negative_slope=-1.5e-2, inplace=True),\n"
                                   "MaxPool2d(2, stride=None)  # pool\n"
                                   "Dropout(p=.25)\n"
                                   "Flatten(1, -1)\n"
                                   "Linear(in_features=1176, out_features=10, bias=False)\n"
                                   "Softmax(dim=None)\n";

static void test_hostile_prefixes(void **state) {
    (void)state;
    const char *seeds[] = {hostile_seed, print_lenet, print_variety};
    for (int s = 0; s < 3; s++) {
        const size_t n = strlen(seeds[s]);
        int accepted = 0;
        for (size_t len = 0; len <= n; len++) {
            sn_clear_error();
            parse_hostile(seeds[s], len);
            accepted += sn_last_status() == SN_OK;
        }
        /* The whole text at least parses; the user form also at each line end. */
        assert_true(accepted >= (s == 0 ? 7 : 1));
    }
}

static void test_hostile_mutations(void **state) {
    (void)state;
    static const char interesting[] = "()[],=:#'\"\n\r\t .-e0159_xTFN\0\xff";
    const char *seeds[] = {hostile_seed, print_lenet, print_variety};
    uint64_t rng = 7;
    int accepted = 0, refused = 0;
    for (int iter = 0; iter < 30000; iter++) {
        const char *seed = seeds[iter % 3];
        const size_t n = strlen(seed);
        char buf[2048];
        assert_true(n < sizeof buf);
        memcpy(buf, seed, n);
        size_t len = n;
        const int edits = random_int(&rng, 1, 4);
        for (int e = 0; e < edits; e++) {
            const size_t at = (size_t)random_int(&rng, 0, (int)len - 1);
            const int op = random_int(&rng, 0, 3);
            const char byte = random_int(&rng, 0, 1)
                                  ? interesting[random_int(&rng, 0, (int)sizeof interesting - 2)]
                                  : (char)random_int(&rng, 0, 255);
            if (op == 0) { /* replace */
                buf[at] = byte;
            } else if (op == 1 && len > 1) { /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            } else if (op == 2 && len + 1 < sizeof buf) { /* insert */
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = byte;
                len++;
            } else { /* cut */
                len = at + 1;
            }
        }
        sn_clear_error();
        parse_hostile(buf, len);
        if (sn_last_status() == SN_OK)
            accepted++;
        else
            refused++;
    }
    /* Both outcomes occur: the mutations are neither all harmless nor all fatal. */
    print_message("mutations: %d accepted, %d refused\n", accepted, refused);
    assert_true(accepted > 100);
    assert_true(refused > 100);
}

/* Sizes: a 4 MB line, 200000 lines, deep parentheses, a long number. */
static void test_hostile_sizes(void **state) {
    (void)state;
    const size_t big = 4u << 20;
    char *text = malloc(big + 64);
    assert_non_null(text);

    /* A very long line of blanks before a module. */
    memset(text, ' ', big);
    memcpy(text + big, "ReLU()", 6);
    sn_module *modules;
    int count;
    SN_ASSERT_OK(sn_spec_parse(text, big + 6, SOURCE, &modules, &count));
    assert_int_equal(count, 1);
    free(modules);

    /* Deep parentheses: refused at once, without recursion. */
    memcpy(text, "Linear", 6);
    memset(text + 6, '(', big);
    parse_hostile(text, big + 6);
    assert_non_null(strstr(sn_last_error(), "Linear: "));

    /* A 1 MB integer and a 100-digit float. */
    memcpy(text, "Linear(", 7);
    memset(text + 7, '9', 1 << 20);
    memcpy(text + 7 + (1 << 20), ", 5)", 4);
    assert_error_len(text, 7 + (1 << 20) + 4, FMT, 1, "out of range", NULL, NULL);
    assert_true(strlen(sn_last_error()) < 300);
    memcpy(text, "Dropout(0.", 10);
    memset(text + 10, '1', 100);
    memcpy(text + 110, ")", 1);
    assert_error_len(text, 111, FMT, 1, "too long", NULL, NULL);

    /* 200000 modules, one per line: the array grows with the lines. */
    const int lines = 200000;
    char *many = malloc((size_t)lines * 7);
    assert_non_null(many);
    for (int i = 0; i < lines; i++) memcpy(many + (size_t)i * 7, "ReLU()\n", 7);
    SN_ASSERT_OK(sn_spec_parse(many, (size_t)lines * 7, SOURCE, &modules, &count));
    assert_int_equal(count, lines);
    assert_int_equal(modules[lines - 1].line, lines);
    free(modules);
    /* An error on the last line still names it. */
    memcpy(many + (size_t)(lines - 1) * 7, "ReLU(x", 6);
    assert_error_len(many, (size_t)lines * 7, FMT, lines, "ReLU: ", NULL, NULL);
    free(many);

    /* 4 M blank lines: no modules, and no allocation per line. */
    memset(text, '\n', big);
    assert_error_len(text, big, FMT, 0, "no modules", NULL, NULL);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_forms),      cmocka_unit_test(test_lines_and_comments),
        cmocka_unit_test(test_print_forms),      cmocka_unit_test(test_model_files),
        cmocka_unit_test(test_errors_binding),   cmocka_unit_test(test_errors_values),
        cmocka_unit_test(test_errors_structure), cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_format_spelling),  cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_hostile_prefixes), cmocka_unit_test(test_hostile_mutations),
        cmocka_unit_test(test_hostile_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
