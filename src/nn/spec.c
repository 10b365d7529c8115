/*
 * The model spec (docs/spec.md): sn_spec_parse reads the body of a PyTorch
 * nn.Sequential, one torch.nn constructor per line, or the text print(model)
 * shows for one; sn_spec_format writes the canonical form back.
 *
 * The text is hostile: it is read only through a cursor bounded by the end of
 * the line, may hold NUL bytes, need not end in a newline or a NUL. The parser
 * has no recursion (a tuple holds integers only) and allocates only the module
 * array, which grows with the number of modules and is capped.
 *
 * Arguments are bound as Python binds a call, against torch's own constructor
 * signatures (positional order, keywords, duplicates, missing ones), then each
 * is type-checked, then the ones sinapsi cannot honour are checked against the
 * only value it supports (dilation=1, ceil_mode=False, ...), and last the
 * module's own builder checks ranges. Every error reads
 * "SOURCE:LINE: Module: what is wrong" and names the argument as written.
 */
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sinapsi/model.h"

#define SPEC_MAX_MODULES (1 << 20) /* far beyond any real Sequential */
#define MAX_PARAMS 11              /* Conv2d's signature is the longest */
#define MAX_ARGS 16                /* arguments written in one call */
#define NUMBER_MAX_CHARS 64        /* a float literal, for strtod */
#define QUOTE_CAP 48               /* text quoted in messages is cut to this */

/* A piece of the spec text; never NUL-terminated. */
typedef struct span {
    const char *s;
    size_t n;
} span;

static int span_is(span t, const char *word) {
    size_t n = strlen(word);
    return t.n == n && memcmp(t.s, word, n) == 0;
}

/* Writes t into buf for an error message: printable ASCII as is, any other
 * byte as \xNN, cut with "..." so that a hostile line cannot crowd out the
 * reason. */
static const char *quote(span t, char buf[QUOTE_CAP]) {
    static const char hex[] = "0123456789abcdef";
    size_t out = 0;
    for (size_t i = 0; i < t.n; i++) {
        unsigned char ch = (unsigned char)t.s[i];
        if (out + 8 > QUOTE_CAP) {
            memcpy(buf + out, "...", 3);
            out += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f) {
            buf[out++] = (char)ch;
        } else {
            buf[out++] = '\\';
            buf[out++] = 'x';
            buf[out++] = hex[ch >> 4];
            buf[out++] = hex[ch & 15];
        }
    }
    buf[out] = '\0';
    return buf;
}

/* Where we are, for messages: the source, the line, and the module once its
 * name has been read. */
typedef struct where {
    const char *source;
    int line;
    const char *module; /* NULL before the name */
} where;

/* Records "SOURCE:LINE: Module: message" (the module part only when known). */
static sn_status report(where at, sn_status status, const char *fmt, ...) SN_PRINTF(3, 4);
static sn_status report(where at, sn_status status, const char *fmt, ...) {
    char message[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (at.module)
        return sn_error(status, "%.200s:%d: %s: %s", at.source, at.line, at.module, message);
    return sn_error(status, "%.200s:%d: %s", at.source, at.line, message);
}

/* ---- numbers ---- */

/* The decimal literal s[0..n) (already checked to be one) as a double. strtod
 * follows LC_NUMERIC, so '.' becomes the locale's decimal point first (as cJSON
 * does): "0.5" must mean one half in every locale. Returns 0 if not converted. */
static int decimal_to_double(const char *s, size_t n, double *out) {
    char buf[NUMBER_MAX_CHARS];
    if (n >= sizeof buf) return 0;
    const char point = localeconv()->decimal_point[0];
    for (size_t i = 0; i < n; i++) buf[i] = s[i] == '.' ? point : s[i];
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return end == buf + n;
}

/* ---- tokens ---- */

typedef enum token_kind {
    TOK_END, /* end of line or a # comment */
    TOK_NAME,
    TOK_INT,
    TOK_FLOAT,
    TOK_STRING,
    TOK_PUNCT /* one of ( ) [ ] , = : */
} token_kind;

typedef struct token {
    token_kind kind;
    span src;      /* as written (a string with its quotes) */
    span str;      /* TOK_STRING: between the quotes */
    int int_value; /* TOK_INT: |value| <= INT_MAX */
    double real;   /* TOK_FLOAT: finite */
} token;

/* The rest of one line. */
typedef struct cursor {
    const char *p, *end;
    where at;
} cursor;

static int is_digit(char ch) {
    return ch >= '0' && ch <= '9';
}
static int is_name_start(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static int is_name_char(char ch) {
    return is_name_start(ch) || is_digit(ch);
}
static int is_punct(const token *t, char ch) {
    return t->kind == TOK_PUNCT && t->src.s[0] == ch;
}

/* An int or float literal as Python writes them: -12, 3.5, .5, 5., 1e-3. */
static sn_status lex_number(cursor *c, token *t) {
    const char *p = c->p, *end = c->end;
    int is_float = 0;
    size_t mantissa_digits = 0;
    if (*p == '-') p++;
    for (; p < end && is_digit(*p); p++) mantissa_digits++;
    if (p < end && *p == '.') {
        is_float = 1;
        for (p++; p < end && is_digit(*p); p++) mantissa_digits++;
    }
    int malformed = mantissa_digits == 0;
    if (!malformed && p < end && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        malformed = p == end || !is_digit(*p);
        while (p < end && is_digit(*p)) p++;
    }
    /* "5x", "1.2.3", "0x10": the literal runs into a name or a second point. */
    while (p < end && (is_name_char(*p) || *p == '.')) {
        malformed = 1;
        p++;
    }
    t->src = (span){c->p, (size_t)(p - c->p)};
    c->p = p;
    char q[QUOTE_CAP];
    if (malformed) return report(c->at, SN_ERR_FORMAT, "malformed number '%s'", quote(t->src, q));
    if (is_float) {
        t->kind = TOK_FLOAT;
        if (!decimal_to_double(t->src.s, t->src.n, &t->real))
            return report(c->at, SN_ERR_FORMAT, "number '%s' is too long", quote(t->src, q));
        if (!isfinite(t->real))
            return report(c->at, SN_ERR_FORMAT, "number '%s' is out of range", quote(t->src, q));
        return SN_OK;
    }
    t->kind = TOK_INT;
    const int negative = t->src.s[0] == '-';
    int value = 0;
    for (size_t i = (size_t)negative; i < t->src.n; i++) {
        const int digit = t->src.s[i] - '0';
        if (value > (INT_MAX - digit) / 10)
            return report(c->at, SN_ERR_FORMAT, "integer '%s' is out of range (limit 2^31 - 1)",
                          quote(t->src, q));
        value = value * 10 + digit;
    }
    t->int_value = negative ? -value : value;
    return SN_OK;
}

/* Reads the next token of the line; a # starts a comment that runs to its end. */
static sn_status next_token(cursor *c, token *t) {
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\f' || *c->p == '\v'))
        c->p++;
    memset(t, 0, sizeof *t);
    t->src = (span){c->p, 0};
    if (c->p == c->end || *c->p == '#') {
        t->kind = TOK_END;
        c->p = c->end;
        return SN_OK;
    }
    const char ch = *c->p;
    const int next_is_digit = c->p + 1 < c->end && is_digit(c->p[1]);
    const int next_is_point = c->p + 1 < c->end && c->p[1] == '.';
    if (is_digit(ch) || (ch == '.' && next_is_digit) ||
        (ch == '-' && (next_is_digit || next_is_point)))
        return lex_number(c, t);
    if (is_name_start(ch)) {
        /* Dotted names too, for "nn.Conv2d" and "torch.nn.Conv2d". */
        const char *p = c->p + 1;
        while (p < c->end &&
               (is_name_char(*p) || (*p == '.' && p + 1 < c->end && is_name_start(p[1]))))
            p++;
        t->kind = TOK_NAME;
        t->src.n = (size_t)(p - c->p);
        c->p = p;
        return SN_OK;
    }
    if (ch == '\'' || ch == '"') {
        const char *close = memchr(c->p + 1, ch, (size_t)(c->end - c->p - 1));
        if (!close) return report(c->at, SN_ERR_FORMAT, "unterminated string");
        t->kind = TOK_STRING;
        t->str = (span){c->p + 1, (size_t)(close - c->p - 1)};
        t->src.n = (size_t)(close + 1 - c->p);
        c->p = close + 1;
        return SN_OK;
    }
    switch (ch) {
    case '(':
    case ')':
    case '[':
    case ']':
    case ',':
    case '=':
    case ':':
        t->kind = TOK_PUNCT;
        t->src.n = 1;
        c->p++;
        return SN_OK;
    default: {
        char q[QUOTE_CAP];
        return report(c->at, SN_ERR_FORMAT, "unexpected character '%s'", quote((span){c->p, 1}, q));
    }
    }
}

/* ---- values and calls ---- */

typedef enum value_kind { V_INT, V_FLOAT, V_BOOL, V_NONE, V_STRING, V_TUPLE } value_kind;

typedef struct value {
    value_kind kind;
    int ints[2]; /* V_INT: ints[0]; V_TUPLE: its first two elements */
    int n_ints;  /* V_TUPLE: its length */
    double real; /* V_FLOAT */
    int truth;   /* V_BOOL */
    span str;    /* V_STRING: the string, or the bare word print(model) shows (padding=same) */
    span src;    /* as written, for messages */
} value;

typedef struct arg {
    span keyword; /* empty for a positional argument */
    value value;
} arg;

/* A call or tuple whose line ends before its ')'. */
static sn_status missing_paren(const cursor *c) {
    return report(c->at, SN_ERR_FORMAT,
                  "unbalanced parentheses: missing ')' (a module is written on one line)");
}

static sn_status unexpected(const cursor *c, const char *wanted, const token *t) {
    char q[QUOTE_CAP];
    if (t->kind == TOK_END)
        return report(c->at, SN_ERR_FORMAT, "expected %s, found the end of the line", wanted);
    return report(c->at, SN_ERR_FORMAT, "expected %s, found '%s'", wanted, quote(t->src, q));
}

/* A tuple or list of integers, its opening bracket already read. (5) is the
 * int 5, as in Python; (5,) a tuple of one. No nesting, hence no recursion. */
static sn_status parse_tuple(cursor *c, char open, value *v) {
    const char close = open == '(' ? ')' : ']';
    int trailing_comma = 0;
    token t;
    v->kind = V_TUPLE;
    for (;;) {
        sn_status st = next_token(c, &t);
        if (st != SN_OK) return st;
        if (is_punct(&t, close)) break;
        if (t.kind == TOK_END) return missing_paren(c);
        if (t.kind != TOK_INT) return unexpected(c, "an integer in the tuple", &t);
        if (v->n_ints < 2) v->ints[v->n_ints] = t.int_value;
        if (v->n_ints < INT_MAX) v->n_ints++;
        if ((st = next_token(c, &t)) != SN_OK) return st;
        trailing_comma = is_punct(&t, ',');
        if (is_punct(&t, close)) break;
        if (t.kind == TOK_END) return missing_paren(c);
        if (!trailing_comma) {
            char wanted[32];
            snprintf(wanted, sizeof wanted, "',' or '%c' in the tuple", close);
            return unexpected(c, wanted, &t);
        }
    }
    if (open == '(' && v->n_ints == 1 && !trailing_comma) v->kind = V_INT;
    v->src.n = (size_t)(t.src.s + t.src.n - v->src.s);
    return SN_OK;
}

/* One argument value starting at token t. */
static sn_status parse_value(cursor *c, const token *t, value *v) {
    memset(v, 0, sizeof *v);
    v->src = t->src;
    switch (t->kind) {
    case TOK_INT:
        v->kind = V_INT;
        v->ints[0] = t->int_value;
        return SN_OK;
    case TOK_FLOAT:
        v->kind = V_FLOAT;
        v->real = t->real;
        return SN_OK;
    case TOK_STRING:
        v->kind = V_STRING;
        v->str = t->str;
        return SN_OK;
    case TOK_NAME:
        if (span_is(t->src, "True") || span_is(t->src, "False")) {
            v->kind = V_BOOL;
            v->truth = span_is(t->src, "True");
        } else if (span_is(t->src, "None")) {
            v->kind = V_NONE;
        } else { /* print(model) writes strings unquoted: padding=same */
            v->kind = V_STRING;
            v->str = t->src;
        }
        return SN_OK;
    case TOK_PUNCT:
        if (is_punct(t, '(') || is_punct(t, '[')) return parse_tuple(c, t->src.s[0], v);
        break;
    case TOK_END:
        return missing_paren(c);
    default:
        break;
    }
    return unexpected(c, "an argument", t);
}

/* The arguments of a call, its '(' already read, up to and including ')'. */
static sn_status parse_args(cursor *c, arg args[MAX_ARGS], int *n_args) {
    int seen_keyword = 0;
    token t;
    sn_status st = next_token(c, &t);
    *n_args = 0;
    while (st == SN_OK && !is_punct(&t, ')')) {
        if (t.kind == TOK_END) return missing_paren(c);
        if (*n_args == MAX_ARGS)
            return report(c->at, SN_ERR_FORMAT, "too many arguments (more than %d)", MAX_ARGS);
        arg *a = &args[(*n_args)++];
        a->keyword = (span){t.src.s, 0};
        if (t.kind == TOK_NAME) {
            cursor look = *c;
            token eq;
            if ((st = next_token(&look, &eq)) != SN_OK) return st;
            if (is_punct(&eq, '=')) {
                a->keyword = t.src;
                *c = look;
                seen_keyword = 1;
                if ((st = next_token(c, &t)) != SN_OK) return st;
            }
        }
        if (a->keyword.n == 0 && seen_keyword)
            return report(c->at, SN_ERR_FORMAT, "positional argument follows keyword argument");
        if ((st = parse_value(c, &t, &a->value)) != SN_OK) return st;
        if ((st = next_token(c, &t)) != SN_OK) return st;
        if (is_punct(&t, ','))
            st = next_token(c, &t);
        else if (t.kind == TOK_END)
            return missing_paren(c);
        else if (!is_punct(&t, ')'))
            return unexpected(c, "',' or ')' after an argument", &t);
    }
    return st;
}

/* ---- module signatures: torch's constructors ---- */

typedef enum arg_type {
    T_INT,      /* int */
    T_PAIR,     /* int or (int, int) */
    T_STRIDE,   /* None, int or (int, int): a pool's stride (None = kernel_size) */
    T_CONV_PAD, /* int, (int, int), 'valid' or 'same' */
    T_REAL,     /* float or int */
    T_OPT_REAL, /* None, float or int */
    T_BOOL,     /* True or False */
    T_OPT_INT,  /* None or int */
    T_STRING,   /* 'text' (or the bare word print(model) shows) */
    T_ANY       /* device, dtype: only None is accepted anyway */
} arg_type;

static const char *const type_names[] = {
    [T_INT] = "an int",
    [T_PAIR] = "an int or a pair of ints",
    [T_STRIDE] = "None, an int or a pair of ints",
    [T_CONV_PAD] = "an int, a pair of ints, 'valid' or 'same'",
    [T_REAL] = "a number",
    [T_OPT_REAL] = "None or a number",
    [T_BOOL] = "True or False",
    [T_OPT_INT] = "None or an int",
    [T_STRING] = "a string",
    [T_ANY] = "anything",
};

/* What sinapsi does with an argument. */
typedef enum arg_use {
    USE_VALUE,     /* read by the module's builder */
    USE_IGNORED,   /* inplace: any bool; without in-place ops it changes nothing */
    USE_ONE,       /* dilation, groups: only 1 (or (1, 1)) */
    USE_FALSE,     /* ceil_mode, return_indices: only False */
    USE_NONE,      /* device, dtype, divisor_override: only None */
    USE_ZEROS_MODE /* padding_mode: only 'zeros' */
} arg_use;

typedef struct param {
    const char *name;
    arg_type type;
    arg_use use;
    int required;
} param;

typedef struct call call;
typedef struct module_def {
    const char *name;
    sn_module_kind kind;
    sn_status (*build)(const call *cl, sn_module *m); /* NULL: no arguments to read */
    param params[MAX_PARAMS + 1];                     /* torch's order, ended by a NULL name */
} module_def;

struct call {
    const module_def *def;
    const value *bound[MAX_PARAMS]; /* by parameter, NULL where not given */
    where at;
};

static int param_count(const module_def *def) {
    int n = 0;
    while (n < MAX_PARAMS && def->params[n].name) n++;
    return n;
}

/* The value given for parameter `name`, NULL if not given. */
static const value *given(const call *cl, const char *name) {
    for (int i = 0; i < param_count(cl->def); i++)
        if (strcmp(cl->def->params[i].name, name) == 0) return cl->bound[i];
    return NULL;
}

/* "name=value as written", for messages. */
static const char *shown(const char *name, const value *v, char buf[QUOTE_CAP + 40]) {
    char q[QUOTE_CAP];
    snprintf(buf, QUOTE_CAP + 40, "%.32s=%s", name, quote(v->src, q));
    return buf;
}

/* ---- typed getters: defaults and ranges ---- */

static sn_status get_int(const call *cl, const char *name, int fallback, int min, int *out) {
    const value *v = given(cl, name);
    char b[QUOTE_CAP + 40];
    *out = v ? v->ints[0] : fallback;
    if (v && *out < min)
        return report(cl->at, SN_ERR_FORMAT, "%s must be >= %d", shown(name, v, b), min);
    return SN_OK;
}

/* An int means the same for both axes, as torch's _pair(). */
static sn_status get_pair(const call *cl, const char *name, int fallback, int min, int out[2]) {
    const value *v = given(cl, name);
    char b[QUOTE_CAP + 40];
    out[0] = out[1] = fallback;
    if (!v || v->kind == V_NONE) return SN_OK;
    out[0] = v->ints[0];
    out[1] = v->kind == V_TUPLE ? v->ints[1] : v->ints[0];
    if (out[0] < min || out[1] < min)
        return report(cl->at, SN_ERR_FORMAT, "%s must be >= %d", shown(name, v, b), min);
    return SN_OK;
}

static int get_bool(const call *cl, const char *name, int fallback) {
    const value *v = given(cl, name);
    return v ? v->truth : fallback;
}

static sn_status get_real(const call *cl, const char *name, double fallback, double min, double max,
                          float *out) {
    const value *v = given(cl, name);
    char b[QUOTE_CAP + 40];
    double real = v ? (v->kind == V_INT ? v->ints[0] : v->real) : fallback;
    *out = (float)real;
    if (!(real >= min && real <= max))
        return report(cl->at, SN_ERR_FORMAT, "%s must be between %g and %g", shown(name, v, b), min,
                      max);
    if (!isfinite(*out))
        return report(cl->at, SN_ERR_FORMAT, "%s is beyond the float32 range", shown(name, v, b));
    return SN_OK;
}

/* ---- builders ---- */

static sn_status build_linear(const call *cl, sn_module *m) {
    sn_status st = get_int(cl, "in_features", 0, 1, &m->in_features);
    if (st == SN_OK) st = get_int(cl, "out_features", 0, 1, &m->out_features);
    m->bias = get_bool(cl, "bias", 1);
    return st;
}

/* padding='valid' is 0; padding='same' keeps H and W, which with stride 1 and
 * an odd kernel k is (k - 1) / 2 on each side. torch refuses 'same' for strided
 * convolutions ("padding='same' is not supported for strided convolutions")
 * and pads an even kernel unevenly, which sinapsi's symmetric padding cannot. */
static sn_status conv_padding(const call *cl, sn_module *m) {
    const value *v = given(cl, "padding");
    char b[QUOTE_CAP + 40];
    if (!v || v->kind != V_STRING) return get_pair(cl, "padding", 0, 0, m->padding);
    if (span_is(v->str, "valid")) {
        m->padding[0] = m->padding[1] = 0;
        return SN_OK;
    }
    if (!span_is(v->str, "same"))
        return report(cl->at, SN_ERR_FORMAT, "%s: padding must be %s", shown("padding", v, b),
                      type_names[T_CONV_PAD]);
    if (m->stride[0] != 1 || m->stride[1] != 1)
        return report(cl->at, SN_ERR_FORMAT,
                      "padding='same' is not supported for strided convolutions "
                      "(stride=(%d, %d)), as in torch",
                      m->stride[0], m->stride[1]);
    if (m->kernel[0] % 2 == 0 || m->kernel[1] % 2 == 0)
        return report(cl->at, SN_ERR_UNSUPPORTED,
                      "padding='same' with the even kernel_size=(%d, %d) needs uneven "
                      "padding, which sinapsi does not do; give padding as numbers",
                      m->kernel[0], m->kernel[1]);
    m->padding[0] = (m->kernel[0] - 1) / 2;
    m->padding[1] = (m->kernel[1] - 1) / 2;
    return SN_OK;
}

static sn_status build_conv2d(const call *cl, sn_module *m) {
    sn_status st = get_int(cl, "in_channels", 0, 1, &m->in_channels);
    if (st == SN_OK) st = get_int(cl, "out_channels", 0, 1, &m->out_channels);
    if (st == SN_OK) st = get_pair(cl, "kernel_size", 0, 1, m->kernel);
    if (st == SN_OK) st = get_pair(cl, "stride", 1, 1, m->stride);
    if (st == SN_OK) st = conv_padding(cl, m);
    m->bias = get_bool(cl, "bias", 1);
    return st;
}

/* MaxPool2d and AvgPool2d: stride=None means kernel_size; torch refuses padding
 * above half the kernel ("pad should be at most half of kernel size"). */
static sn_status build_pool(const call *cl, sn_module *m) {
    sn_status st = get_pair(cl, "kernel_size", 0, 1, m->kernel);
    if (st == SN_OK) st = get_pair(cl, "stride", 0, 1, m->stride);
    if (st == SN_OK) st = get_pair(cl, "padding", 0, 0, m->padding);
    if (st != SN_OK) return st;
    const value *stride = given(cl, "stride");
    if (!stride || stride->kind == V_NONE) memcpy(m->stride, m->kernel, sizeof m->stride);
    if (m->padding[0] > m->kernel[0] / 2 || m->padding[1] > m->kernel[1] / 2) {
        char b[QUOTE_CAP + 40];
        return report(cl->at, SN_ERR_FORMAT,
                      "%s must be at most half of kernel_size=(%d, %d), as torch requires",
                      shown("padding", given(cl, "padding"), b), m->kernel[0], m->kernel[1]);
    }
    m->count_include_pad = m->kind == SN_MOD_AVGPOOL2D ? get_bool(cl, "count_include_pad", 1) : 0;
    return SN_OK;
}

static sn_status build_dropout(const call *cl, sn_module *m) {
    return get_real(cl, "p", 0.5, 0.0, 1.0, &m->p);
}

static sn_status build_leaky_relu(const call *cl, sn_module *m) {
    return get_real(cl, "negative_slope", 0.01, -HUGE_VAL, HUGE_VAL, &m->negative_slope);
}

/* BatchNorm1d and BatchNorm2d. momentum=None is torch's cumulative average
 * (factor 1 / num_batches_tracked). torch does not bound momentum, but one
 * outside [0, 1] extrapolates instead of averaging: refused as a mistake. */
static sn_status build_batchnorm(const call *cl, sn_module *m) {
    sn_status st = get_int(cl, "num_features", 0, 1, &m->num_features);
    if (st == SN_OK) st = get_real(cl, "eps", 1e-5, 0.0, HUGE_VAL, &m->eps);
    const value *momentum = given(cl, "momentum");
    if (st == SN_OK && momentum && momentum->kind == V_NONE)
        m->momentum = SN_BATCH_NORM_CUMULATIVE;
    else if (st == SN_OK)
        st = get_real(cl, "momentum", 0.1, 0.0, 1.0, &m->momentum);
    m->affine = get_bool(cl, "affine", 1);
    m->track_running_stats = get_bool(cl, "track_running_stats", 1);
    return st;
}

/* sinapsi flattens (N, ...) to (N, prod(...)): torch's defaults only. */
static sn_status build_flatten(const call *cl, sn_module *m) {
    const value *start_dim = given(cl, "start_dim"), *end_dim = given(cl, "end_dim");
    char b[QUOTE_CAP + 40];
    (void)m;
    if (start_dim && start_dim->ints[0] != 1)
        return report(cl->at, SN_ERR_UNSUPPORTED,
                      "%s is not supported: only start_dim=1 (the batch dimension is kept)",
                      shown("start_dim", start_dim, b));
    if (end_dim && end_dim->ints[0] != -1)
        return report(cl->at, SN_ERR_UNSUPPORTED,
                      "%s is not supported: only end_dim=-1 (flatten to (N, features))",
                      shown("end_dim", end_dim, b));
    return SN_OK;
}

/* Softmax and LogSoftmax run along dim 1. dim=None (nn.Softmax()'s default,
 * shown by print(model)) makes torch pick dim 1 for 2-D and 4-D inputs
 * (_get_softmax_dim), so it is taken as 1. dim=-1 is the last dim, which is dim
 * 1 only for 2-D inputs: the module cannot record it, so it is refused rather
 * than silently wrong on (N, C, H, W). */
static sn_status build_softmax(const call *cl, sn_module *m) {
    const value *dim = given(cl, "dim");
    char b[QUOTE_CAP + 40];
    (void)m;
    if (!dim || dim->kind == V_NONE || dim->ints[0] == 1) return SN_OK;
    if (dim->ints[0] == -1)
        return report(cl->at, SN_ERR_UNSUPPORTED,
                      "dim=-1 is not supported: sinapsi's %s runs along dim 1; write dim=1 "
                      "(the same as dim=-1 for (N, C) inputs)",
                      cl->def->name);
    return report(cl->at, SN_ERR_UNSUPPORTED, "%s is not supported: only dim=1 (the classes)",
                  shown("dim", dim, b));
}

/* torch's signatures (torch 1.13), in their positional order. */
#define DEVICE_DTYPE                                                                               \
    {"device", T_ANY, USE_NONE, 0}, {                                                              \
        "dtype", T_ANY, USE_NONE, 0                                                                \
    }
#define INPLACE                                                                                    \
    { "inplace", T_BOOL, USE_IGNORED, 0 }
#define NO_PARAMS                                                                                  \
    {                                                                                              \
        { NULL, T_ANY, USE_VALUE, 0 }                                                              \
    }
#define SOFTMAX_DIM                                                                                \
    { "dim", T_OPT_INT, USE_VALUE, 0 }
#define BATCHNORM_PARAMS                                                                           \
    {"num_features", T_INT, USE_VALUE, 1}, {"eps", T_REAL, USE_VALUE, 0},                          \
        {"momentum", T_OPT_REAL, USE_VALUE, 0}, {"affine", T_BOOL, USE_VALUE, 0},                  \
        {"track_running_stats", T_BOOL, USE_VALUE, 0}, DEVICE_DTYPE

static const module_def module_defs[] = {
    {"Linear",
     SN_MOD_LINEAR,
     build_linear,
     {{"in_features", T_INT, USE_VALUE, 1},
      {"out_features", T_INT, USE_VALUE, 1},
      {"bias", T_BOOL, USE_VALUE, 0},
      DEVICE_DTYPE}},
    {"Conv2d",
     SN_MOD_CONV2D,
     build_conv2d,
     {{"in_channels", T_INT, USE_VALUE, 1},
      {"out_channels", T_INT, USE_VALUE, 1},
      {"kernel_size", T_PAIR, USE_VALUE, 1},
      {"stride", T_PAIR, USE_VALUE, 0},
      {"padding", T_CONV_PAD, USE_VALUE, 0},
      {"dilation", T_PAIR, USE_ONE, 0},
      {"groups", T_INT, USE_ONE, 0},
      {"bias", T_BOOL, USE_VALUE, 0},
      {"padding_mode", T_STRING, USE_ZEROS_MODE, 0},
      DEVICE_DTYPE}},
    {"MaxPool2d",
     SN_MOD_MAXPOOL2D,
     build_pool,
     {{"kernel_size", T_PAIR, USE_VALUE, 1},
      {"stride", T_STRIDE, USE_VALUE, 0},
      {"padding", T_PAIR, USE_VALUE, 0},
      {"dilation", T_PAIR, USE_ONE, 0},
      {"return_indices", T_BOOL, USE_FALSE, 0},
      {"ceil_mode", T_BOOL, USE_FALSE, 0}}},
    {"AvgPool2d",
     SN_MOD_AVGPOOL2D,
     build_pool,
     {{"kernel_size", T_PAIR, USE_VALUE, 1},
      {"stride", T_STRIDE, USE_VALUE, 0},
      {"padding", T_PAIR, USE_VALUE, 0},
      {"ceil_mode", T_BOOL, USE_FALSE, 0},
      {"count_include_pad", T_BOOL, USE_VALUE, 0},
      {"divisor_override", T_OPT_INT, USE_NONE, 0}}},
    {"Flatten",
     SN_MOD_FLATTEN,
     build_flatten,
     {{"start_dim", T_INT, USE_VALUE, 0}, {"end_dim", T_INT, USE_VALUE, 0}}},
    {"Dropout", SN_MOD_DROPOUT, build_dropout, {{"p", T_REAL, USE_VALUE, 0}, INPLACE}},
    {"ReLU", SN_MOD_RELU, NULL, {INPLACE}},
    {"LeakyReLU",
     SN_MOD_LEAKY_RELU,
     build_leaky_relu,
     {{"negative_slope", T_REAL, USE_VALUE, 0}, INPLACE}},
    {"Sigmoid", SN_MOD_SIGMOID, NULL, NO_PARAMS},
    {"Tanh", SN_MOD_TANH, NULL, NO_PARAMS},
    {"Softmax", SN_MOD_SOFTMAX, build_softmax, {SOFTMAX_DIM}},
    {"LogSoftmax", SN_MOD_LOG_SOFTMAX, build_softmax, {SOFTMAX_DIM}},
    {"Identity", SN_MOD_IDENTITY, NULL, NO_PARAMS},
    {"Step", SN_MOD_STEP, NULL, NO_PARAMS},
    {"BatchNorm1d", SN_MOD_BATCHNORM1D, build_batchnorm, {BATCHNORM_PARAMS}},
    {"BatchNorm2d", SN_MOD_BATCHNORM2D, build_batchnorm, {BATCHNORM_PARAMS}},
};
#define MODULE_DEF_COUNT ((int)(sizeof module_defs / sizeof module_defs[0]))

/* The definition for a module name, with "nn." or "torch.nn." allowed in front
 * so that lines pasted from Python code read as they are. */
static const module_def *find_module_def(span name) {
    if (name.n > 9 && memcmp(name.s, "torch.nn.", 9) == 0) {
        name.s += 9;
        name.n -= 9;
    } else if (name.n > 3 && memcmp(name.s, "nn.", 3) == 0) {
        name.s += 3;
        name.n -= 3;
    }
    for (int i = 0; i < MODULE_DEF_COUNT; i++)
        if (span_is(name, module_defs[i].name)) return &module_defs[i];
    return NULL;
}

static int type_accepts(arg_type type, const value *v) {
    const int pair = v->kind == V_INT || (v->kind == V_TUPLE && v->n_ints == 2);
    switch (type) {
    case T_INT:
        return v->kind == V_INT;
    case T_PAIR:
        return pair;
    case T_STRIDE:
        return pair || v->kind == V_NONE;
    case T_CONV_PAD:
        return pair || v->kind == V_STRING;
    case T_REAL:
        return v->kind == V_FLOAT || v->kind == V_INT;
    case T_OPT_REAL:
        return v->kind == V_FLOAT || v->kind == V_INT || v->kind == V_NONE;
    case T_BOOL:
        return v->kind == V_BOOL;
    case T_OPT_INT:
        return v->kind == V_INT || v->kind == V_NONE;
    case T_STRING:
        return v->kind == V_STRING;
    case T_ANY:
        return 1;
    }
    return 0;
}

/* The value an argument sinapsi cannot honour must have. Values torch itself
 * refuses (dilation=0, padding_mode='bogus') are format errors; valid values
 * sinapsi does not implement are unsupported. */
static sn_status check_use(const call *cl, const param *p, const value *v) {
    char b[QUOTE_CAP + 40];
    const char *what = shown(p->name, v, b);
    switch (p->use) {
    case USE_VALUE:
    case USE_IGNORED:
        return SN_OK;
    case USE_ONE: {
        const int second = v->kind == V_TUPLE ? v->ints[1] : v->ints[0];
        if (v->ints[0] < 1 || second < 1)
            return report(cl->at, SN_ERR_FORMAT, "%s must be >= 1", what);
        if (v->ints[0] != 1 || second != 1)
            return report(cl->at, SN_ERR_UNSUPPORTED, "%s is not supported (only %s=1)", what,
                          p->name);
        return SN_OK;
    }
    case USE_FALSE:
        if (v->truth)
            return report(cl->at, SN_ERR_UNSUPPORTED, "%s is not supported (only %s=False)", what,
                          p->name);
        return SN_OK;
    case USE_NONE:
        if (v->kind != V_NONE)
            return report(cl->at, SN_ERR_UNSUPPORTED, "%s is not supported (only %s=None)", what,
                          p->name);
        return SN_OK;
    case USE_ZEROS_MODE:
        if (span_is(v->str, "zeros")) return SN_OK;
        if (span_is(v->str, "reflect") || span_is(v->str, "replicate") ||
            span_is(v->str, "circular"))
            return report(cl->at, SN_ERR_UNSUPPORTED,
                          "%s is not supported (only padding_mode='zeros')", what);
        return report(cl->at, SN_ERR_FORMAT,
                      "%s: padding_mode must be 'zeros', 'reflect', 'replicate' or "
                      "'circular'",
                      what);
    }
    return SN_OK;
}

/* Binds the written arguments to the signature as Python would, then checks
 * types and fixed values in signature order. */
static sn_status bind_args(call *cl, const arg *args, int n_args) {
    const module_def *def = cl->def;
    const int n_params = param_count(def);
    int n_positional = 0;
    char q[QUOTE_CAP];
    for (int i = 0; i < n_args; i++) {
        int index = -1;
        if (args[i].keyword.n == 0) {
            index = n_positional++;
            if (index >= n_params)
                return report(cl->at, SN_ERR_FORMAT,
                              "too many positional arguments: takes at most %d, got %d", n_params,
                              n_positional);
        } else {
            for (int k = 0; k < n_params; k++)
                if (span_is(args[i].keyword, def->params[k].name)) index = k;
            if (index < 0)
                return report(cl->at, SN_ERR_FORMAT, "unknown argument '%s'",
                              quote(args[i].keyword, q));
        }
        if (cl->bound[index])
            return report(cl->at, SN_ERR_FORMAT, "argument '%s' given twice",
                          def->params[index].name);
        cl->bound[index] = &args[i].value;
    }
    for (int k = 0; k < n_params; k++) {
        const param *p = &def->params[k];
        const value *v = cl->bound[k];
        if (!v) {
            if (p->required)
                return report(cl->at, SN_ERR_FORMAT, "missing required argument '%s'", p->name);
            continue;
        }
        if (!type_accepts(p->type, v)) {
            char b[QUOTE_CAP + 40];
            return report(cl->at, SN_ERR_FORMAT, "%s: %s must be %s", shown(p->name, v, b), p->name,
                          type_names[p->type]);
        }
        sn_status st = check_use(cl, p, v);
        if (st != SN_OK) return st;
    }
    return SN_OK;
}

/* ---- lines ---- */

typedef enum wrapper_state {
    NO_WRAPPER,    /* bare module lines */
    WRAPPER_OPEN,  /* inside "Sequential(" */
    WRAPPER_CLOSED /* after its ")" */
} wrapper_state;

typedef struct spec_parser {
    sn_module *modules; /* NULL in the first, checking pass */
    int count, capacity;
    wrapper_state wrapper;
    int wrapper_line;
} spec_parser;

/* The checking pass only counts; the second pass stores into an array sized
 * by the first, so a spec that is refused allocates nothing. */
static sn_status append_module(spec_parser *sp, const sn_module *m, where at) {
    if (sp->count >= SPEC_MAX_MODULES)
        return report(at, SN_ERR_FORMAT, "too many modules (the limit is %d)", SPEC_MAX_MODULES);
    if (sp->modules) {
        if (sp->count >= sp->capacity)
            return report(at, SN_ERR_STATE, "the text changed between the two passes");
        sp->modules[sp->count] = *m;
    }
    sp->count++;
    return SN_OK;
}

/* "Sequential(" (its name already read): opens the print(model) form, which
 * must come first and cannot nest. "Sequential()" is an empty model. */
static sn_status parse_wrapper(spec_parser *sp, cursor *c, int has_index) {
    token t;
    sn_status st;
    c->at.module = "Sequential";
    if (sp->wrapper == WRAPPER_OPEN || has_index)
        return report(c->at, SN_ERR_UNSUPPORTED,
                      "a nested Sequential is not supported (write its modules in place)");
    if (sp->wrapper != NO_WRAPPER || sp->count > 0)
        return report(c->at, SN_ERR_FORMAT,
                      "'Sequential(' may only open the spec, before any module");
    if ((st = next_token(c, &t)) != SN_OK) return st;
    if (!is_punct(&t, '(')) return unexpected(c, "'('", &t);
    if ((st = next_token(c, &t)) != SN_OK) return st;
    sp->wrapper = WRAPPER_OPEN;
    sp->wrapper_line = c->at.line;
    if (is_punct(&t, ')')) {
        sp->wrapper = WRAPPER_CLOSED;
        if ((st = next_token(c, &t)) != SN_OK) return st;
    }
    if (t.kind != TOK_END)
        return unexpected(c, "the end of the line after 'Sequential(' (one module per line)", &t);
    return SN_OK;
}

/* "(k): " before a module, its '(' already read: k must be the module's index. */
static sn_status parse_index(const spec_parser *sp, cursor *c) {
    token t;
    sn_status st = next_token(c, &t);
    if (st != SN_OK) return st;
    if (t.kind == TOK_NAME) {
        char q[QUOTE_CAP];
        return report(c->at, SN_ERR_UNSUPPORTED,
                      "named module '(%s)' is not supported: parameters are named by position "
                      "(0.weight, 1.bias, ...)",
                      quote(t.src, q));
    }
    if (t.kind != TOK_INT) return unexpected(c, "a module index '(k): '", &t);
    const int index = t.int_value;
    if ((st = next_token(c, &t)) != SN_OK) return st;
    if (!is_punct(&t, ')')) return unexpected(c, "')' after the module index", &t);
    if ((st = next_token(c, &t)) != SN_OK) return st;
    if (!is_punct(&t, ':')) return unexpected(c, "':' after the module index", &t);
    if (index != sp->count)
        return report(c->at, SN_ERR_FORMAT, "index (%d) does not match the module's position %d",
                      index, sp->count);
    return SN_OK;
}

/* After a module's ')': a ',' (as in Python code) and a comment may follow. */
static sn_status parse_line_end(cursor *c) {
    token t;
    sn_status st = next_token(c, &t);
    if (st == SN_OK && is_punct(&t, ',')) st = next_token(c, &t);
    if (st != SN_OK || t.kind == TOK_END) return st;
    if (is_punct(&t, ')'))
        return report(c->at, SN_ERR_FORMAT, "unbalanced parentheses: one ')' too many");
    char q[QUOTE_CAP];
    return report(c->at, SN_ERR_FORMAT, "unexpected text after ')': '%s'",
                  quote((span){t.src.s, (size_t)(c->end - t.src.s)}, q));
}

/* A module line: [(k): ] Name(arguments) [,] [# comment]. */
static sn_status parse_module(spec_parser *sp, cursor *c, token t, int has_index) {
    char q[QUOTE_CAP];
    if (span_is(t.src, "Sequential") || span_is(t.src, "nn.Sequential") ||
        span_is(t.src, "torch.nn.Sequential"))
        return parse_wrapper(sp, c, has_index);
    call cl = {.def = find_module_def(t.src)};
    c->at.module = cl.def ? cl.def->name : quote(t.src, q);
    if (!cl.def)
        return report(c->at, SN_ERR_FORMAT,
                      "unknown module (sinapsi has Linear, Conv2d, MaxPool2d, AvgPool2d, "
                      "Flatten, Dropout, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax, "
                      "Identity, Step, BatchNorm1d, BatchNorm2d)");
    cl.at = c->at;
    sn_status st = next_token(c, &t);
    if (st != SN_OK) return st;
    if (!is_punct(&t, '(')) return unexpected(c, "'('", &t);
    arg args[MAX_ARGS];
    int n_args;
    if ((st = parse_args(c, args, &n_args)) != SN_OK) return st;
    if ((st = parse_line_end(c)) != SN_OK) return st;
    if ((st = bind_args(&cl, args, n_args)) != SN_OK) return st;
    sn_module m = sn_module_plain(cl.def->kind);
    if (cl.def->build && (st = cl.def->build(&cl, &m)) != SN_OK) return st;
    m.line = c->at.line;
    return append_module(sp, &m, c->at);
}

static sn_status parse_line(spec_parser *sp, cursor *c) {
    token t;
    sn_status st = next_token(c, &t);
    if (st != SN_OK || t.kind == TOK_END) return st;
    if (sp->wrapper == WRAPPER_CLOSED)
        return report(c->at, SN_ERR_FORMAT,
                      "text after the ')' that closes 'Sequential(' of line %d", sp->wrapper_line);
    if (is_punct(&t, ')')) {
        if (sp->wrapper != WRAPPER_OPEN)
            return report(c->at, SN_ERR_FORMAT,
                          "unbalanced parentheses: ')' without 'Sequential(' to close");
        sp->wrapper = WRAPPER_CLOSED;
        if ((st = next_token(c, &t)) != SN_OK) return st;
        return t.kind == TOK_END ? SN_OK : unexpected(c, "the end of the line after ')'", &t);
    }
    const int has_index = is_punct(&t, '(');
    if (has_index && ((st = parse_index(sp, c)) != SN_OK || (st = next_token(c, &t)) != SN_OK))
        return st;
    if (t.kind != TOK_NAME) return unexpected(c, "a module name", &t);
    return parse_module(sp, c, t, has_index);
}

/* One pass over the text: with sp->modules NULL it checks and counts, else it
 * also stores. */
static sn_status parse_text(spec_parser *sp, const char *text, size_t len, const char *source) {
    where at = {source, 0, NULL};
    const char *p = text, *end = text ? text + len : NULL;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) p += 3; /* a UTF-8 byte-order mark */
    sn_status st = SN_OK;
    while (st == SN_OK && p < end) {
        if (at.line == INT_MAX) {
            st = report(at, SN_ERR_FORMAT, "too many lines");
            break;
        }
        at.line++;
        const char *newline = memchr(p, '\n', (size_t)(end - p));
        cursor c = {p, newline ? newline : end, at};
        st = parse_line(sp, &c);
        p = newline ? newline + 1 : end;
    }
    if (st == SN_OK && sp->wrapper == WRAPPER_OPEN)
        st = report((where){source, sp->wrapper_line, "Sequential"}, SN_ERR_FORMAT,
                    "unbalanced parentheses: 'Sequential(' is never closed by a ')' line");
    if (st == SN_OK && sp->count == 0)
        st = sn_error(SN_ERR_FORMAT, "%.200s: no modules in the spec", source);
    return st;
}

sn_status sn_spec_parse(const char *text, size_t len, const char *source, sn_module **modules,
                        int *count) {
    if (modules) *modules = NULL;
    if (count) *count = 0;
    if (!modules || !count || (!text && len > 0))
        return sn_error(SN_ERR_INVALID_ARG, "sn_spec_parse: NULL argument");
    if (!source) source = "spec";
    spec_parser check = {0};
    sn_status st = parse_text(&check, text, len, source);
    if (st != SN_OK) return st;
    spec_parser sp = {0};
    sp.capacity = check.count;
    sp.modules = malloc((size_t)check.count * sizeof *sp.modules);
    if (!sp.modules)
        return sn_error(SN_ERR_NOMEM, "%.200s: out of memory for %d modules", source, check.count);
    st = parse_text(&sp, text, len, source);
    if (st != SN_OK) {
        free(sp.modules);
        return st;
    }
    *modules = sp.modules;
    *count = sp.count;
    return SN_OK;
}

/* ---- canonical text ---- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    sn_status status;
} strbuf;

static void append(strbuf *b, const char *fmt, ...) SN_PRINTF(2, 3);
static void append(strbuf *b, const char *fmt, ...) {
    if (b->status != SN_OK) return;
    va_list ap;
    va_start(ap, fmt);
    char piece[256]; /* the longest piece is a Conv2d line, ~150 characters */
    const int n = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof piece) {
        b->status = sn_error(SN_ERR_INVALID_ARG, "sn_spec_format: line too long");
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->status = sn_error(SN_ERR_NOMEM, "sn_spec_format: out of memory");
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, piece, (size_t)n + 1);
    b->len += (size_t)n;
}

/* The shortest decimal that reads back as exactly v, spelled as Python's repr
 * of a float ("0.25", "1.0", "1e-05"), with '.' whatever the locale. */
static const char *format_real(float v, char buf[32]) {
    const char point = localeconv()->decimal_point[0];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, 32, "%.*g", digits, (double)v);
        for (char *q = buf; *q; q++)
            if (*q == point) *q = '.';
        if (!strpbrk(buf, ".e")) strcat(buf, ".0");
        double back;
        if (decimal_to_double(buf, strlen(buf), &back) && (float)back == v) break;
    }
    return buf;
}

/* kernel_size=2 when both axes agree, kernel_size=(2, 3) otherwise (the pools). */
static const char *format_pair(const int pair[2], int as_tuple, char buf[32]) {
    if (!as_tuple && pair[0] == pair[1])
        snprintf(buf, 32, "%d", pair[0]);
    else
        snprintf(buf, 32, "(%d, %d)", pair[0], pair[1]);
    return buf;
}

static void format_module(strbuf *b, const sn_module *m) {
    const char *name = sn_module_kind_name(m->kind);
    const char *bias = m->bias ? "True" : "False";
    char k[32], s[32], p[32], real[32], momentum[32];
    const int is_conv = m->kind == SN_MOD_CONV2D;
    format_pair(m->kernel, is_conv, k);
    format_pair(m->stride, is_conv, s);
    format_pair(m->padding, is_conv, p);
    switch (m->kind) {
    case SN_MOD_LINEAR:
        append(b, "Linear(in_features=%d, out_features=%d, bias=%s)\n", m->in_features,
               m->out_features, bias);
        break;
    case SN_MOD_CONV2D:
        append(b, "Conv2d(%d, %d, kernel_size=%s, stride=%s, padding=%s, bias=%s)\n",
               m->in_channels, m->out_channels, k, s, p, bias);
        break;
    case SN_MOD_MAXPOOL2D:
        append(b, "MaxPool2d(kernel_size=%s, stride=%s, padding=%s, dilation=1, ceil_mode=False)\n",
               k, s, p);
        break;
    case SN_MOD_AVGPOOL2D:
        append(b, "AvgPool2d(kernel_size=%s, stride=%s, padding=%s, count_include_pad=%s)\n", k, s,
               p, m->count_include_pad ? "True" : "False");
        break;
    case SN_MOD_FLATTEN:
        append(b, "Flatten(start_dim=1, end_dim=-1)\n");
        break;
    case SN_MOD_DROPOUT:
        append(b, "Dropout(p=%s, inplace=False)\n", format_real(m->p, real));
        break;
    case SN_MOD_LEAKY_RELU:
        append(b, "LeakyReLU(negative_slope=%s)\n", format_real(m->negative_slope, real));
        break;
    case SN_MOD_SOFTMAX:
    case SN_MOD_LOG_SOFTMAX:
        append(b, "%s(dim=1)\n", name);
        break;
    case SN_MOD_BATCHNORM1D:
    case SN_MOD_BATCHNORM2D: /* as print(model) shows it */
        append(b, "%s(%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s)\n", name,
               m->num_features, format_real(m->eps, real),
               m->momentum == SN_BATCH_NORM_CUMULATIVE ? "None"
                                                       : format_real(m->momentum, momentum),
               m->affine ? "True" : "False", m->track_running_stats ? "True" : "False");
        break;
    default:
        append(b, "%s()\n", name);
        break;
    }
}

static int kind_is_known(sn_module_kind kind) {
    for (int i = 0; i < MODULE_DEF_COUNT; i++)
        if (module_defs[i].kind == kind) return 1;
    return 0;
}

sn_status sn_spec_format(const sn_module *modules, int count, char **out) {
    if (out) *out = NULL;
    if (!out || count < 0 || (!modules && count > 0))
        return sn_error(SN_ERR_INVALID_ARG, "sn_spec_format: NULL argument or negative count");
    strbuf b = {0};
    for (int i = 0; i < count && b.status == SN_OK; i++) {
        if (!kind_is_known(modules[i].kind)) {
            b.status = sn_error(SN_ERR_INVALID_ARG, "sn_spec_format: module %d has unknown kind %d",
                                i, (int)modules[i].kind);
            break;
        }
        format_module(&b, &modules[i]);
    }
    if (b.status == SN_OK && count == 0) append(&b, "%s", "");
    /* The text must read back: a module with values the parser refuses
     * (kernel_size=0, p=2) is an error here rather than in a model file later. */
    if (b.status == SN_OK && count > 0) {
        sn_module *back;
        int n_back;
        b.status = sn_spec_parse(b.s, b.len, "canonical spec", &back, &n_back);
        if (b.status == SN_OK)
            free(back);
        else
            sn_error_prefix("sn_spec_format: ");
    }
    if (b.status != SN_OK) {
        free(b.s);
        return b.status;
    }
    *out = b.s;
    return SN_OK;
}
