/*
 * safetensors reader and writer (see include/sinapsi/safetensors.h for the format).
 *
 * The reader follows the validation of the reference implementation, the
 * safetensors crate (safetensors/src/tensor.rs, Metadata::validate): every rule
 * is checked before any offset is used, and the data buffer is only read once
 * the header has been found consistent with the file's size. Every error message
 * starts with the path, and quotes tensor names cut to a bounded length so that
 * a hostile name cannot crowd out the reason.
 */
#include "sinapsi/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* The data buffer is copied into floats with memcpy: that is only right on a
 * little-endian host, which is all that sinapsi supports. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sinapsi's safetensors reader and writer assume a little-endian host"
#endif

/* JSON numbers are doubles in cJSON: integers below 2^53 are exact, so offsets
 * and sizes at or above it are refused rather than silently rounded. No real
 * file comes near: the buffer would be 8 PiB. */
#define EXACT_INTEGER_LIMIT 9007199254740992.0 /* 2^53 */

/* Tensor names quoted in errors are cut to this many characters. */
#define NAME_QUOTE "%.80s"

typedef enum st_dtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E4M3,
    ST_F8_E5M2,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_F64,
    ST_I64,
    ST_U64,
    ST_DTYPE_COUNT
} st_dtype;

static const struct {
    const char *name;
    unsigned size; /* bytes per element */
} dtype_info[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1},       [ST_U8] = {"U8", 1},           [ST_I8] = {"I8", 1},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_I16] = {"I16", 2},
    [ST_U16] = {"U16", 2},         [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_I32] = {"I32", 4},         [ST_U32] = {"U32", 4},         [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8},         [ST_I64] = {"I64", 8},         [ST_U64] = {"U64", 8},
};

typedef struct st_entry {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t dim[SN_SAFETENSORS_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; /* byte range in the data buffer */
} st_entry;

typedef struct st_name_index {
    const char *name; /* owned by the entry */
    int index;        /* into entries */
} st_name_index;

struct sn_safetensors {
    char *path;
    int n_tensors;
    st_entry *entries;      /* n_tensors, sorted by data offset (the public index order) */
    st_name_index *by_name; /* n_tensors, sorted by name, for find and duplicates */
    int n_meta;
    char **meta_keys, **meta_values;
    unsigned char *data; /* the data buffer */
    uint64_t data_size;
};

/* ---- small helpers ---- */

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static uint64_t read_u64_le(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static void write_u64_le(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* "[2, 3]" for up to 8 dims; buf must hold 8 * 21 + 16 bytes. */
static const char *format_dims(const int64_t *dim, int ndim, char *buf, size_t cap) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)dim[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
    return buf;
}

/* A JSON number that is a non-negative integer below 2^53 (so exactly what the
 * file says), as serde's u64/usize would accept. */
static int json_to_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!isfinite(v) || v < 0 || v >= EXACT_INTEGER_LIMIT || v != floor(v)) return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_dtype(const char *s, st_dtype *out) {
    for (int d = 0; d < ST_DTYPE_COUNT; d++)
        if (strcmp(s, dtype_info[d].name) == 0) {
            *out = (st_dtype)d;
            return 1;
        }
    return 0;
}

/* ---- validation of one header entry ---- */

/* Fills e from the JSON entry item (called name): dtype, shape, data_offsets. */
static sn_status parse_entry(const char *path, const cJSON *item, st_entry *e) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return sn_error(SN_ERR_FORMAT, "%s: tensor '" NAME_QUOTE "': entry is not a JSON object",
                        path, name);
    /* serde rejects a field given twice; cJSON would silently keep the first. */
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL, *field;
    cJSON_ArrayForEach(field, item) {
        const cJSON **slot = strcmp(field->string, "dtype") == 0          ? &dtype
                             : strcmp(field->string, "shape") == 0        ? &shape
                             : strcmp(field->string, "data_offsets") == 0 ? &offsets
                                                                          : NULL;
        if (!slot) continue; /* unknown fields are ignored, as by the crate */
        if (*slot)
            return sn_error(SN_ERR_FORMAT, "%s: tensor '" NAME_QUOTE "': field '%s' appears twice",
                            path, name, field->string);
        *slot = field;
    }
    if (!dtype || !shape || !offsets)
        return sn_error(SN_ERR_FORMAT, "%s: tensor '" NAME_QUOTE "': missing field '%s'", path,
                        name,
                        !dtype   ? "dtype"
                        : !shape ? "shape"
                                 : "data_offsets");

    if (!cJSON_IsString(dtype))
        return sn_error(SN_ERR_FORMAT, "%s: tensor '" NAME_QUOTE "': dtype is not a string", path,
                        name);
    if (!parse_dtype(dtype->valuestring, &e->dtype))
        return sn_error(SN_ERR_FORMAT, "%s: tensor '" NAME_QUOTE "': unknown dtype '%.20s'", path,
                        name, dtype->valuestring);

    if (!cJSON_IsArray(shape))
        return sn_error(SN_ERR_FORMAT, "%s: tensor '" NAME_QUOTE "': shape is not an array", path,
                        name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > SN_SAFETENSORS_MAX_DIMS)
        return sn_error(SN_ERR_FORMAT,
                        "%s: tensor '" NAME_QUOTE "': shape has %d dimensions (at most %d)", path,
                        name, ndim, SN_SAFETENSORS_MAX_DIMS);
    e->ndim = ndim;
    uint64_t numel = 1;
    int overflow = 0, d = 0;
    const cJSON *size;
    cJSON_ArrayForEach(size, shape) {
        uint64_t v;
        if (!json_to_u64(size, &v))
            return sn_error(SN_ERR_FORMAT,
                            "%s: tensor '" NAME_QUOTE
                            "': shape dimension %d is not a non-negative integer below 2^53",
                            path, name, d);
        e->dim[d++] = (int64_t)v;
        /* Keep multiplying after an overflow: a later 0 makes the product 0. */
        if (v == 0) {
            numel = 0;
            overflow = 0;
        } else if (numel != 0 && numel > UINT64_MAX / 8 / v) {
            overflow = 1;
        } else {
            numel *= v;
        }
    }
    e->numel = numel;

    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_to_u64(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !json_to_u64(cJSON_GetArrayItem(offsets, 1), &end))
        return sn_error(SN_ERR_FORMAT,
                        "%s: tensor '" NAME_QUOTE
                        "': data_offsets must be two non-negative integers [begin, end]",
                        path, name);
    if (begin > end)
        return sn_error(SN_ERR_FORMAT,
                        "%s: tensor '" NAME_QUOTE
                        "': data_offsets [%llu, %llu] end before they begin",
                        path, name, (unsigned long long)begin, (unsigned long long)end);
    e->begin = begin;
    e->end = end;

    char dims[200];
    if (overflow)
        return sn_error(SN_ERR_FORMAT,
                        "%s: tensor '" NAME_QUOTE "': shape %s has too many elements (overflow)",
                        path, name, format_dims(e->dim, ndim, dims, sizeof dims));
    /* numel <= UINT64_MAX / 8, so the byte count cannot overflow. */
    uint64_t need = numel * dtype_info[e->dtype].size;
    if (end - begin != need)
        return sn_error(
            SN_ERR_FORMAT,
            "%s: tensor '" NAME_QUOTE
            "': data_offsets [%llu, %llu] span %llu bytes but shape %s of %s needs %llu",
            path, name, (unsigned long long)begin, (unsigned long long)end,
            (unsigned long long)(end - begin), format_dims(e->dim, ndim, dims, sizeof dims),
            dtype_info[e->dtype].name, (unsigned long long)need);
    return SN_OK;
}

/* ---- validation of the whole header ---- */

static int compare_by_offset(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name); /* empty tensors share an offset: order by name */
}

static int compare_by_name(const void *a, const void *b) {
    return strcmp(((const st_name_index *)a)->name, ((const st_name_index *)b)->name);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static sn_status parse_metadata(sn_safetensors *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return sn_error(SN_ERR_FORMAT, "%s: __metadata__ is not a JSON object", f->path);
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n + 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return sn_error(SN_ERR_NOMEM, "%s: out of memory for the metadata", f->path);
    const cJSON *item;
    cJSON_ArrayForEach(item, meta) {
        if (!cJSON_IsString(item))
            return sn_error(SN_ERR_FORMAT,
                            "%s: __metadata__ value of '" NAME_QUOTE "' is not a string", f->path,
                            item->string);
        int i = f->n_meta;
        f->meta_keys[i] = copy_string(item->string);
        f->meta_values[i] = copy_string(item->valuestring);
        if (!f->meta_keys[i] || !f->meta_values[i]) {
            free(f->meta_keys[i]);
            free(f->meta_values[i]);
            return sn_error(SN_ERR_NOMEM, "%s: out of memory for the metadata", f->path);
        }
        f->n_meta++;
    }
    /* A repeated key, found by sorting a copy (no quadratic scan on hostile input). */
    sn_status st = SN_OK;
    char **sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    if (!sorted) return sn_error(SN_ERR_NOMEM, "%s: out of memory for the metadata", f->path);
    memcpy(sorted, f->meta_keys, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_strings);
    for (int i = 1; i < n && st == SN_OK; i++)
        if (strcmp(sorted[i], sorted[i - 1]) == 0)
            st = sn_error(SN_ERR_FORMAT, "%s: __metadata__ key '" NAME_QUOTE "' appears twice",
                          f->path, sorted[i]);
    free(sorted);
    return st;
}

/* Index of the first byte that breaks UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF included), or len if the text is valid. The crate
 * refuses a header that is not UTF-8, and cJSON does not check. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t extra;
        unsigned low = 0x80, high = 0xbf; /* range of the second byte */
        if (c < 0x80)
            extra = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            extra = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            if (c == 0xe0) low = 0xa0;  /* overlong */
            if (c == 0xed) high = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            if (c == 0xf0) low = 0x90;  /* overlong */
            if (c == 0xf4) high = 0x8f; /* above U+10FFFF */
        } else
            return i;
        if (extra > len - i - 1) return i;
        for (size_t k = 1; k <= extra; k++) {
            unsigned b = s[i + k];
            if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xbf)) return i;
        }
        i += extra + 1;
    }
    return len;
}

static int is_utf8(const char *s) {
    size_t len = strlen(s);
    return utf8_invalid_at((const unsigned char *)s, len) == len;
}

/* Parses the header JSON of header_len bytes and checks every rule except the
 * end of the last tensor, which needs the size of the data buffer. */
static sn_status parse_header(sn_safetensors *f, const char *header, size_t header_len) {
    size_t bad = utf8_invalid_at((const unsigned char *)header, header_len);
    if (bad < header_len)
        return sn_error(SN_ERR_FORMAT, "%s: header is not valid UTF-8 (at byte %zu)", f->path, bad);
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, header_len, &parse_end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long offset = at && at >= header && at <= header + header_len ? (long)(at - header) : -1;
        return sn_error(SN_ERR_FORMAT, "%s: header is not valid JSON (error near byte %ld)",
                        f->path, offset);
    }
    sn_status st = SN_OK;
    /* After the object only whitespace may follow: the writers' padding. */
    for (const char *p = parse_end; p && p < header + header_len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = sn_error(SN_ERR_FORMAT, "%s: header has bytes after its JSON object (at byte %ld)",
                          f->path, (long)(p - header));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        st = sn_error(SN_ERR_FORMAT, "%s: header is JSON but not an object", f->path);
        goto done;
    }

    int n_items = cJSON_GetArraySize(root), n = 0;
    f->entries = calloc((size_t)n_items + 1, sizeof *f->entries);
    f->by_name = calloc((size_t)n_items + 1, sizeof *f->by_name);
    if (!f->entries || !f->by_name) {
        st = sn_error(SN_ERR_NOMEM, "%s: out of memory for %d header entries", f->path, n_items);
        goto done;
    }
    const cJSON *item, *meta = NULL;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (meta) {
                st = sn_error(SN_ERR_FORMAT, "%s: __metadata__ appears twice", f->path);
                goto done;
            }
            meta = item;
            continue;
        }
        st_entry *e = &f->entries[n];
        e->name = copy_string(item->string);
        if (!e->name) {
            st = sn_error(SN_ERR_NOMEM, "%s: out of memory", f->path);
            goto done;
        }
        f->n_tensors = ++n; /* counted now so that close frees the name */
        st = parse_entry(f->path, item, e);
        if (st != SN_OK) goto done;
    }
    if (meta && (st = parse_metadata(f, meta)) != SN_OK) goto done;

    /* Duplicate names: sort an index by name and compare neighbours (cJSON keeps
     * both copies of a repeated key; a quadratic scan would let a hostile
     * header of a million entries stall the reader). */
    qsort(f->entries, (size_t)n, sizeof *f->entries, compare_by_offset);
    for (int i = 0; i < n; i++) f->by_name[i] = (st_name_index){f->entries[i].name, i};
    qsort(f->by_name, (size_t)n, sizeof *f->by_name, compare_by_name);
    for (int i = 1; i < n; i++)
        if (strcmp(f->by_name[i].name, f->by_name[i - 1].name) == 0) {
            st = sn_error(SN_ERR_FORMAT, "%s: tensor '" NAME_QUOTE "' appears twice", f->path,
                          f->by_name[i].name);
            goto done;
        }

    /* Sorted by offset, the ranges must tile the buffer from 0 with no gap and
     * no overlap. */
    uint64_t expected = 0;
    for (int i = 0; i < n; i++) {
        const st_entry *e = &f->entries[i];
        if (e->begin != expected) {
            st = sn_error(
                SN_ERR_FORMAT,
                "%s: tensor '" NAME_QUOTE "': data_offsets [%llu, %llu] begin at %llu but "
                "%s %llu (%s)",
                f->path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                (unsigned long long)e->begin,
                i ? "the previous tensor ends at" : "the data buffer starts at",
                (unsigned long long)expected, e->begin > expected ? "a gap" : "overlapping ranges");
            goto done;
        }
        expected = e->end;
    }
    f->data_size = expected;
done:
    cJSON_Delete(root);
    return st;
}

/* ---- opening ---- */

/* Reads exactly n bytes; SN_ERR_IO naming what was being read otherwise. */
static sn_status read_exact(FILE *fp, void *buf, size_t n, const char *path, const char *what) {
    if (n > 0 && fread(buf, 1, n, fp) != n)
        return sn_error(SN_ERR_IO, "%s: cannot read the %s: %s", path, what,
                        ferror(fp) ? strerror(errno) : "file ended early (changed while reading?)");
    return SN_OK;
}

static sn_status open_validated(sn_safetensors *f, FILE *fp) {
    const char *path = f->path;
    struct stat info;
    if (fstat(fileno(fp), &info) != 0)
        return sn_error(SN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(info.st_mode)) return sn_error(SN_ERR_IO, "%s: not a regular file", path);
    uint64_t file_size = (uint64_t)info.st_size;
    if (file_size < 8)
        return sn_error(SN_ERR_FORMAT,
                        "%s: file of %llu bytes is too short for the 8-byte header length", path,
                        (unsigned long long)file_size);
    unsigned char len_bytes[8];
    sn_status st = read_exact(fp, len_bytes, 8, path, "header length");
    if (st != SN_OK) return st;
    uint64_t header_len = read_u64_le(len_bytes);
    if (header_len > SN_SAFETENSORS_MAX_HEADER)
        return sn_error(SN_ERR_FORMAT, "%s: header length %llu exceeds the limit of %u bytes", path,
                        (unsigned long long)header_len, SN_SAFETENSORS_MAX_HEADER);
    if (header_len > file_size - 8)
        return sn_error(SN_ERR_FORMAT,
                        "%s: header length %llu is larger than the %llu bytes after it", path,
                        (unsigned long long)header_len, (unsigned long long)(file_size - 8));

    char *header = malloc((size_t)header_len + 1);
    if (!header)
        return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %llu bytes for the header", path,
                        (unsigned long long)header_len);
    st = read_exact(fp, header, (size_t)header_len, path, "header");
    if (st == SN_OK) {
        header[header_len] = '\0';
        st = parse_header(f, header, (size_t)header_len);
    }
    free(header);
    if (st != SN_OK) return st;

    uint64_t buffer_size = file_size - 8 - header_len;
    if (f->data_size != buffer_size)
        return sn_error(
            SN_ERR_FORMAT,
            "%s: tensors end at byte %llu of the data buffer but it holds %llu bytes (%s)", path,
            (unsigned long long)f->data_size, (unsigned long long)buffer_size,
            f->data_size < buffer_size ? "trailing bytes" : "offsets past the end");
    if (buffer_size > SIZE_MAX - 1)
        return sn_error(SN_ERR_NOMEM, "%s: data buffer too large for this host", path);
    f->data = malloc((size_t)buffer_size + 1); /* + 1: no malloc(0) for a file of no tensors */
    if (!f->data)
        return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %llu bytes for the data", path,
                        (unsigned long long)buffer_size);
    return read_exact(fp, f->data, (size_t)buffer_size, path, "data buffer");
}

sn_status sn_safetensors_open(sn_safetensors **out, const char *path) {
    if (!out || !path) return sn_error(SN_ERR_INVALID_ARG, "sn_safetensors_open: NULL argument");
    *out = NULL;
    sn_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = copy_string(path))) {
        free(f);
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        sn_status st = sn_error(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        sn_safetensors_close(f);
        return st;
    }
    sn_status st = open_validated(f, fp);
    fclose(fp);
    if (st != SN_OK) {
        sn_safetensors_close(f);
        return st;
    }
    *out = f;
    return SN_OK;
}

void sn_safetensors_close(sn_safetensors *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) free(f->entries[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->entries);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->data);
    free(f->path);
    free(f);
}

/* ---- queries ---- */

static const st_entry *entry_at(const sn_safetensors *f, int i) {
    return f && i >= 0 && i < f->n_tensors ? &f->entries[i] : NULL;
}

const char *sn_safetensors_path(const sn_safetensors *f) {
    return f ? f->path : NULL;
}

int sn_safetensors_count(const sn_safetensors *f) {
    return f ? f->n_tensors : 0;
}

const char *sn_safetensors_name(const sn_safetensors *f, int i) {
    const st_entry *e = entry_at(f, i);
    return e ? e->name : NULL;
}

int sn_safetensors_find(const sn_safetensors *f, const char *name) {
    if (!f || !name) return -1;
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid].name, name);
        if (c == 0) return f->by_name[mid].index;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

const char *sn_safetensors_dtype(const sn_safetensors *f, int i) {
    const st_entry *e = entry_at(f, i);
    return e ? dtype_info[e->dtype].name : NULL;
}

int sn_safetensors_ndim(const sn_safetensors *f, int i) {
    const st_entry *e = entry_at(f, i);
    return e ? e->ndim : -1;
}

const int64_t *sn_safetensors_dims(const sn_safetensors *f, int i) {
    const st_entry *e = entry_at(f, i);
    return e ? e->dim : NULL;
}

sn_status sn_safetensors_shape(const sn_safetensors *f, int i, sn_shape *out) {
    const st_entry *e = entry_at(f, i);
    if (!e || !out) return sn_error(SN_ERR_RANGE, "%s: no tensor %d", f ? f->path : "(null)", i);
    char dims[200];
    if (e->ndim > SN_MAX_DIMS || e->numel == 0)
        return sn_error(SN_ERR_UNSUPPORTED,
                        "%s: tensor '" NAME_QUOTE "' of shape %s: sinapsi tensors have at most %d "
                        "dimensions, none empty",
                        f->path, e->name, format_dims(e->dim, e->ndim, dims, sizeof dims),
                        SN_MAX_DIMS);
    sn_shape s = {.ndim = e->ndim};
    for (int d = 0; d < e->ndim; d++) s.dim[d] = e->dim[d];
    /* sn_tensor caps the element count at 2^40; a file within 2^53 may exceed it. */
    if (sn_shape_check(&s) != SN_OK)
        return sn_error(SN_ERR_UNSUPPORTED, "%s: tensor '" NAME_QUOTE "' of shape %s: %s", f->path,
                        e->name, format_dims(e->dim, e->ndim, dims, sizeof dims), sn_last_error());
    *out = s;
    return SN_OK;
}

/* ---- conversion to float32 ---- */

/* IEEE half -> single, exact. A half subnormal m * 2^-24 is normalised by
 * shifting its mantissa up to the implicit bit; infinities and NaNs keep their
 * sign and payload (the quiet bit lands on the float's quiet bit). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        int shift = 0;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            shift++;
        }
        bits = sign | ((uint32_t)(127 - 14 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* bfloat16 is the top half of a float32. */
static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Round to nearest like torch's .float(); finite values past the float range
 * become infinities explicitly (C leaves that conversion undefined). The
 * threshold is FLT_MAX plus half an ulp, where rounding goes to infinity. */
static float f64_to_f32(double d) {
    if (isfinite(d) && fabs(d) >= 0x1.ffffffp127) return d < 0 ? -INFINITY : INFINITY;
    return (float)d;
}

/* An integer of magnitude m is exact in float32 when its significant bits fit
 * in the 24-bit mantissa. */
static int magnitude_fits_float(uint64_t m) {
    if (m <= (1u << 24)) return 1;
    while (!(m & 1)) m >>= 1;
    return m <= (1u << 24);
}

static sn_status integer_not_exact(const sn_safetensors *f, const st_entry *e, size_t at,
                                   const char *value) {
    return sn_error(SN_ERR_RANGE,
                    "%s: tensor '" NAME_QUOTE "': %s value %s at element %zu is not exactly "
                    "representable as float32",
                    f->path, e->name, dtype_info[e->dtype].name, value, at);
}

static int dtype_is_signed(st_dtype d) {
    return d == ST_I8 || d == ST_I16 || d == ST_I32 || d == ST_I64;
}

/* The magnitude of one little-endian integer of size bytes at src, and its sign
 * (*negative) for a signed dtype. */
static uint64_t integer_magnitude(st_dtype d, size_t size, const unsigned char *src,
                                  int *negative) {
    uint64_t raw = 0;
    for (size_t b = size; b-- > 0;) raw = (raw << 8) | src[b];
    const uint64_t sign_bit = (uint64_t)1 << (8 * size - 1);
    *negative = dtype_is_signed(d) && (raw & sign_bit);
    if (!*negative) return raw;
    /* Two's complement: the magnitude is the complement plus one, within size bytes
     * (-128 as I8 is 0x80, magnitude 128; computed in 64 bits, no overflow). */
    const uint64_t mask = size == 8 ? UINT64_MAX : (sign_bit << 1) - 1;
    return ((~raw) & mask) + 1;
}

sn_status sn_safetensors_read_into(const sn_safetensors *f, int i, float *dst, size_t count) {
    const st_entry *e = entry_at(f, i);
    if (!e) return sn_error(SN_ERR_RANGE, "%s: no tensor %d", f ? f->path : "(null)", i);
    if (count != e->numel)
        return sn_error(SN_ERR_SHAPE, "%s: tensor '" NAME_QUOTE "' has %llu elements, not %zu",
                        f->path, e->name, (unsigned long long)e->numel, count);
    if (count == 0) return SN_OK; /* an empty tensor: dst may be NULL */
    if (!dst) return sn_error(SN_ERR_INVALID_ARG, "sn_safetensors_read_into: dst is NULL");
    const unsigned char *src = f->data + e->begin;
    const size_t size = dtype_info[e->dtype].size;
    switch (e->dtype) {
    case ST_F32:
        memcpy(dst, src, count * sizeof(float));
        return SN_OK;
    case ST_F64:
        for (size_t k = 0; k < count; k++) {
            double v;
            memcpy(&v, src + k * size, sizeof v);
            dst[k] = f64_to_f32(v);
        }
        return SN_OK;
    case ST_F16:
    case ST_BF16:
        for (size_t k = 0; k < count; k++) {
            uint16_t h;
            memcpy(&h, src + k * size, sizeof h);
            dst[k] = e->dtype == ST_F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        return SN_OK;
    case ST_F8_E4M3:
    case ST_F8_E5M2:
        return sn_error(SN_ERR_UNSUPPORTED,
                        "%s: tensor '" NAME_QUOTE "': dtype %s cannot be read as float32 yet",
                        f->path, e->name, dtype_info[e->dtype].name);
    default:
        break;
    }
    /* Integers and booleans: converted only when every value is exact, so that
     * class labels or counts never change silently. */
    for (size_t k = 0; k < count; k++) {
        int negative;
        uint64_t m = integer_magnitude(e->dtype, size, src + k * size, &negative);
        char text[32];
        if (e->dtype == ST_BOOL && m > 1) {
            snprintf(text, sizeof text, "%llu", (unsigned long long)m);
            return sn_error(SN_ERR_FORMAT,
                            "%s: tensor '" NAME_QUOTE
                            "': BOOL byte %s at element %zu is not 0 or 1",
                            f->path, e->name, text, k);
        }
        if (!magnitude_fits_float(m)) {
            snprintf(text, sizeof text, "%s%llu", negative ? "-" : "", (unsigned long long)m);
            return integer_not_exact(f, e, k, text);
        }
        /* Exact by the check above, so the conversion cannot round. */
        dst[k] = negative ? -(float)m : (float)m;
    }
    return SN_OK;
}

sn_status sn_safetensors_read(const sn_safetensors *f, const char *name, sn_tensor **out) {
    if (!out) return sn_error(SN_ERR_INVALID_ARG, "sn_safetensors_read: out is NULL");
    *out = NULL;
    if (!f || !name) return sn_error(SN_ERR_INVALID_ARG, "sn_safetensors_read: NULL argument");
    int i = sn_safetensors_find(f, name);
    if (i < 0) return sn_error(SN_ERR_RANGE, "%s: no tensor named '" NAME_QUOTE "'", f->path, name);
    sn_shape shape;
    sn_status st = sn_safetensors_shape(f, i, &shape);
    if (st != SN_OK) return st;
    sn_tensor *t;
    if ((st = sn_tensor_create(&t, shape.ndim, shape.dim)) != SN_OK)
        return sn_error_prefix("%s: tensor '" NAME_QUOTE "': ", f->path, name);
    st = sn_safetensors_read_into(f, i, t->data, (size_t)sn_shape_numel(&shape));
    if (st != SN_OK) {
        sn_tensor_destroy(t);
        return st;
    }
    *out = t;
    return SN_OK;
}

const char *sn_safetensors_metadata(const sn_safetensors *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

int sn_safetensors_metadata_count(const sn_safetensors *f) {
    return f ? f->n_meta : 0;
}

const char *sn_safetensors_metadata_key(const sn_safetensors *f, int i) {
    return f && i >= 0 && i < f->n_meta ? f->meta_keys[i] : NULL;
}

const char *sn_safetensors_metadata_value(const sn_safetensors *f, int i) {
    return f && i >= 0 && i < f->n_meta ? f->meta_values[i] : NULL;
}

/* ---- writing ---- */

/* Checks that n strings are present, non-empty (if asked) and distinct. */
static sn_status check_names(const char *path, int n, const char *const *names, const char *what) {
    if (n == 0) return SN_OK;
    if (!names) return sn_error(SN_ERR_INVALID_ARG, "%s: %s array is NULL", path, what);
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
    sn_status st = SN_OK;
    for (int i = 0; i < n && st == SN_OK; i++) {
        if (!names[i] || !names[i][0])
            st = sn_error(SN_ERR_INVALID_ARG, "%s: %s %d is NULL or empty", path, what, i);
        else if (strcmp(names[i], "__metadata__") == 0)
            st = sn_error(SN_ERR_INVALID_ARG, "%s: %s may not be __metadata__", path, what);
        else if (!is_utf8(names[i]))
            st = sn_error(SN_ERR_INVALID_ARG, "%s: %s %d is not valid UTF-8", path, what, i);
        sorted[i] = names[i];
    }
    if (st == SN_OK) {
        qsort(sorted, (size_t)n, sizeof *sorted, compare_strings);
        for (int i = 1; i < n && st == SN_OK; i++)
            if (strcmp(sorted[i], sorted[i - 1]) == 0)
                st = sn_error(SN_ERR_INVALID_ARG, "%s: %s '" NAME_QUOTE "' given twice", path, what,
                              sorted[i]);
    }
    free(sorted);
    return st;
}

/* Adds key: [values...] to object; 0 when out of memory. */
static int add_array(cJSON *object, const char *key, const double *values, int count) {
    /* cJSON_CreateDoubleArray refuses count 0; a scalar's shape is []. */
    cJSON *array = count ? cJSON_CreateDoubleArray(values, count) : cJSON_CreateArray();
    if (array && cJSON_AddItemToObject(object, key, array)) return 1;
    cJSON_Delete(array);
    return 0;
}

/* The JSON header, unformatted, or NULL (error recorded). The caller frees it. */
static char *build_header(const char *path, int n, const char *const *names,
                          const sn_tensor *const *tensors, int n_meta, const char *const *meta_keys,
                          const char *const *meta_values) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < n_meta; i++)
            ok = cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]) != NULL;
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const sn_tensor *t = tensors[i];
        uint64_t bytes = (uint64_t)sn_shape_numel(&t->shape) * sizeof(float);
        double dims[SN_MAX_DIMS], offsets[2] = {(double)offset, (double)(offset + bytes)};
        for (int d = 0; d < t->shape.ndim; d++) dims[d] = (double)t->shape.dim[d];
        cJSON *entry = cJSON_AddObjectToObject(root, names[i]);
        ok = entry && cJSON_AddStringToObject(entry, "dtype", "F32") &&
             add_array(entry, "shape", dims, t->shape.ndim) &&
             add_array(entry, "data_offsets", offsets, 2);
        offset += bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) sn_error(SN_ERR_NOMEM, "%s: out of memory building the header", path);
    return text;
}

static sn_status write_all(int fd, const void *buf, size_t n, const char *tmp_path) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return sn_error(SN_ERR_IO, "%s: write failed: %s", tmp_path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return SN_OK;
}

/* Makes the rename durable: fsync of the directory that holds path. */
static sn_status sync_directory(const char *path) {
    char *dir = copy_string(path);
    if (!dir) return sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    sn_status st = SN_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0)
        st = sn_error(SN_ERR_IO, "%s: cannot sync directory %s: %s", path, dir, strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

/* Creates a new file next to path ("path.tmp-PID-K"), exclusively, with mode
 * 0666 less the umask as any new file. */
static int create_temporary(const char *path, char **tmp_path) {
    static atomic_uint counter;
    size_t cap = strlen(path) + 48;
    char *name = malloc(cap);
    if (!name) {
        sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(name, cap, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            *tmp_path = name;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    sn_error(SN_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
    free(name);
    return -1;
}

sn_status sn_safetensors_write(const char *path, int n, const char *const *names,
                               const sn_tensor *const *tensors, int n_meta,
                               const char *const *meta_keys, const char *const *meta_values) {
    if (!path) return sn_error(SN_ERR_INVALID_ARG, "sn_safetensors_write: path is NULL");
    if (n < 0 || n_meta < 0)
        return sn_error(SN_ERR_INVALID_ARG, "%s: negative count of tensors or metadata", path);
    if (n > 0 && !tensors) return sn_error(SN_ERR_INVALID_ARG, "%s: tensor array is NULL", path);
    sn_status st = check_names(path, n, names, "tensor name");
    if (st == SN_OK) st = check_names(path, n_meta, meta_keys, "metadata key");
    if (st != SN_OK) return st;
    for (int i = 0; i < n_meta; i++)
        if (!meta_values || !meta_values[i] || !is_utf8(meta_values[i]))
            return sn_error(SN_ERR_INVALID_ARG, "%s: metadata value %d is NULL or not UTF-8", path,
                            i);
    for (int i = 0; i < n; i++) {
        if (!tensors[i] || !tensors[i]->data)
            return sn_error(SN_ERR_INVALID_ARG, "%s: tensor '" NAME_QUOTE "' is NULL", path,
                            names[i]);
        if (sn_shape_check(&tensors[i]->shape) != SN_OK)
            return sn_error_prefix("%s: tensor '" NAME_QUOTE "': ", path, names[i]);
    }

    char *json = build_header(path, n, names, tensors, n_meta, meta_keys, meta_values);
    if (!json) return SN_ERR_NOMEM;
    size_t json_len = strlen(json);
    /* Spaces up to a multiple of 8, so that the data buffer is aligned. */
    size_t header_len = (json_len + 7) / 8 * 8;
    unsigned char *prefix = malloc(8 + header_len);
    if (!prefix) {
        free(json);
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
    }
    write_u64_le(prefix, header_len);
    memcpy(prefix + 8, json, json_len);
    memset(prefix + 8 + json_len, ' ', header_len - json_len);
    free(json);

    char *tmp_path = NULL;
    int fd = create_temporary(path, &tmp_path);
    if (fd < 0) {
        free(prefix);
        return sn_last_status();
    }
    st = write_all(fd, prefix, 8 + header_len, tmp_path);
    free(prefix);
    for (int i = 0; i < n && st == SN_OK; i++)
        st = write_all(fd, tensors[i]->data,
                       (size_t)sn_shape_numel(&tensors[i]->shape) * sizeof(float), tmp_path);
    if (st == SN_OK && fsync(fd) != 0)
        st = sn_error(SN_ERR_IO, "%s: fsync failed: %s", tmp_path, strerror(errno));
    if (close(fd) != 0 && st == SN_OK)
        st = sn_error(SN_ERR_IO, "%s: close failed: %s", tmp_path, strerror(errno));
    if (st == SN_OK && rename(tmp_path, path) != 0)
        st = sn_error(SN_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp_path,
                      strerror(errno));
    if (st != SN_OK)
        unlink(tmp_path);
    else
        st = sync_directory(path);
    free(tmp_path);
    return st;
}
