/*
 * IDX reader (the format of MNIST and Fashion-MNIST; "FILE FORMATS" at
 * http://yann.lecun.com/exdb/mnist/):
 *
 *     4 bytes     magic: 0x00 0x00 TYPE NDIM
 *     NDIM x 4    sizes, unsigned 32-bit big-endian
 *     the rest    count = product of sizes elements of TYPE, big-endian
 *
 * Files are read through zlib, which reads gzip streams and plain files alike,
 * so ".gz" is detected by content, not by the name. The file is hostile until
 * proven otherwise: the sizes are bounded and overflow-checked, a plain file's
 * length must match the header before anything is allocated, and a gzip
 * stream (whose length is unknown until it ends) is read in bounded chunks into
 * a buffer that grows only as data actually arrives, never past what the header
 * claims, so a header claiming 2^32 - 1 images costs nothing. Short data,
 * trailing bytes and corrupt or truncated gzip streams are errors.
 */
#include "sinapsi/data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"

/* The largest data section accepted (16 GiB): far above any IDX dataset in use
 * (EMNIST ByClass, the largest, is 0.55 GB) and small enough that a size
 * product never overflows. */
#define IDX_MAX_BYTES ((int64_t)1 << 34)

/* Bytes asked of zlib per read. */
#define IDX_CHUNK ((size_t)1 << 20)

/* The first capacity of a gzip data buffer, which then doubles as data
 * arrives: at most twice what arrived (or 64 KiB) is ever allocated. */
#define IDX_FIRST_CAPACITY ((size_t)1 << 16)

typedef struct idx_type {
    int code;
    int size; /* bytes per element */
    const char *name;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 1, "unsigned byte"}, {0x09, 1, "signed byte"}, {0x0B, 2, "short"},
    {0x0C, 4, "int"},           {0x0D, 4, "float"},       {0x0E, 8, "double"},
};

static const idx_type *find_type(int code) {
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == code) return &idx_types[i];
    return NULL;
}

static uint32_t read_u32_be(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static uint64_t read_u64_be(const unsigned char *b) {
    return (uint64_t)read_u32_be(b) << 32 | read_u32_be(b + 4);
}

/* Reads up to n bytes (n <= IDX_CHUNK) into buf; *got is how many arrived. A
 * short count means the end of the data; an error of zlib (a corrupt stream, a
 * gzip stream cut short, a read error) is an SN_ERR_FORMAT or SN_ERR_IO. */
static sn_status read_some(gzFile gz, const char *path, void *buf, size_t n, size_t *got) {
    *got = 0;
    while (*got < n) {
        int r = gzread(gz, (char *)buf + *got, (unsigned)(n - *got));
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            if (zerr == Z_ERRNO)
                return sn_error(SN_ERR_IO, "%s: read error: %s", path, strerror(errno));
            return sn_error(SN_ERR_FORMAT, "%s: corrupt gzip stream: %s", path, msg);
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    if (*got < n) {
        /* gzread stops early without an error when the file ends inside a gzip
         * stream; gzerror then reports Z_BUF_ERROR (zlib.h, gzread). */
        int zerr;
        const char *msg = gzerror(gz, &zerr);
        if (zerr != Z_OK)
            return sn_error(SN_ERR_FORMAT, "%s: truncated or corrupt gzip stream: %s", path, msg);
    }
    return SN_OK;
}

/* Reads the header into idx; *data_bytes is the length the data must have. */
static sn_status read_header(gzFile gz, const char *path, sn_idx *idx, int64_t *data_bytes) {
    unsigned char magic[4], sizes[16];
    size_t got;
    sn_status st = read_some(gz, path, magic, 4, &got);
    if (st != SN_OK) return st;
    if (got < 4)
        return sn_error(SN_ERR_FORMAT, "%s: only %zu bytes, too short for the IDX magic", path,
                        got);
    if (magic[0] != 0 || magic[1] != 0)
        return sn_error(SN_ERR_FORMAT,
                        "%s: not an IDX file (magic 0x%02X%02X%02X%02X does not start with two "
                        "zero bytes)",
                        path, magic[0], magic[1], magic[2], magic[3]);
    const idx_type *type = find_type(magic[2]);
    if (!type)
        return sn_error(SN_ERR_FORMAT, "%s: unknown IDX element type 0x%02X", path, magic[2]);
    if (magic[3] < 1 || magic[3] > 4)
        return sn_error(SN_ERR_FORMAT, "%s: IDX file has %d dimensions; sinapsi reads 1 to 4", path,
                        magic[3]);
    idx->type = type->code;
    idx->ndim = magic[3];

    size_t need = 4 * (size_t)idx->ndim;
    st = read_some(gz, path, sizes, need, &got);
    if (st != SN_OK) return st;
    if (got < need)
        return sn_error(SN_ERR_FORMAT, "%s: file ends inside the %d dimension sizes", path,
                        idx->ndim);
    int64_t count = 1;
    for (int i = 0; i < idx->ndim; i++) {
        idx->dim[i] = read_u32_be(sizes + 4 * i);
        if (idx->dim[i] < 1) return sn_error(SN_ERR_FORMAT, "%s: dimension %d has size 0", path, i);
        if (sn_mul_checked(count, idx->dim[i], IDX_MAX_BYTES / type->size, &count) != SN_OK)
            return sn_error(SN_ERR_FORMAT,
                            "%s: dimension sizes claim more than %lld bytes of data (size %d is "
                            "%lld)",
                            path, (long long)IDX_MAX_BYTES, i, (long long)idx->dim[i]);
    }
    idx->count = count;
    *data_bytes = count * type->size;
    return SN_OK;
}

/* The data of a plain file: its length is known, so it is checked before the
 * allocation. */
static sn_status read_plain_data(gzFile gz, const char *path, int64_t file_size,
                                 int64_t header_bytes, int64_t data_bytes, unsigned char **out) {
    int64_t have = file_size - header_bytes;
    if (have != data_bytes)
        return sn_error(SN_ERR_FORMAT,
                        "%s: header claims %lld bytes of data but the file has %lld%s", path,
                        (long long)data_bytes, (long long)have,
                        have > data_bytes ? " (trailing bytes)" : " (truncated)");
    unsigned char *buf = malloc((size_t)data_bytes);
    if (!buf)
        return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %lld bytes", path,
                        (long long)data_bytes);
    for (int64_t at = 0; at < data_bytes;) {
        size_t want = (size_t)(data_bytes - at) < IDX_CHUNK ? (size_t)(data_bytes - at) : IDX_CHUNK;
        size_t got;
        sn_status st = read_some(gz, path, buf + at, want, &got);
        if (st == SN_OK && got < want)
            st = sn_error(SN_ERR_IO, "%s: file ended early (changed while reading?)", path);
        if (st != SN_OK) {
            free(buf);
            return st;
        }
        at += (int64_t)got;
    }
    *out = buf;
    return SN_OK;
}

/* The data of a gzip stream: the buffer doubles as data arrives, up to the
 * claimed length, so memory follows what the stream really holds. */
static sn_status read_gzip_data(gzFile gz, const char *path, int64_t data_bytes,
                                unsigned char **out) {
    size_t claimed = (size_t)data_bytes;
    size_t cap = claimed < IDX_FIRST_CAPACITY ? claimed : IDX_FIRST_CAPACITY, used = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, cap);
    sn_status st = SN_OK;
    while (used < claimed) {
        if (used == cap) {
            size_t grown = cap > claimed / 2 ? claimed : 2 * cap;
            unsigned char *bigger = realloc(buf, grown);
            if (!bigger) {
                st = sn_error(SN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, grown);
                break;
            }
            buf = bigger;
            cap = grown;
        }
        size_t want = cap - used < IDX_CHUNK ? cap - used : IDX_CHUNK, got;
        st = read_some(gz, path, buf + used, want, &got);
        if (st != SN_OK) break;
        used += got;
        if (got < want) {
            st = sn_error(SN_ERR_FORMAT,
                          "%s: header claims %lld bytes of data but the stream holds %zu "
                          "(truncated)",
                          path, (long long)data_bytes, used);
            break;
        }
    }
    if (st != SN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return SN_OK;
}

/* After the data the stream must end; reading one more byte also makes zlib
 * check the gzip trailer (CRC-32 and length), so a corrupt stream shows here. */
static sn_status expect_end(gzFile gz, const char *path) {
    unsigned char extra;
    size_t got;
    sn_status st = read_some(gz, path, &extra, 1, &got);
    if (st != SN_OK) return st;
    if (got != 0)
        return sn_error(SN_ERR_FORMAT, "%s: trailing bytes after the data the header claims", path);
    return SN_OK;
}

/* Elements of a non-byte type, big-endian, converted to float (the header's
 * contract: sn_idx.f32). */
static float element_to_float(int type, const unsigned char *p) {
    switch (type) {
    case 0x09:
        return (float)(int8_t)p[0];
    case 0x0B:
        return (float)(int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C:
        return (float)(int32_t)read_u32_be(p);
    case 0x0D: {
        uint32_t bits = read_u32_be(p);
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    default: { /* 0x0E */
        uint64_t bits = read_u64_be(p);
        double v;
        memcpy(&v, &bits, sizeof v);
        return (float)v;
    }
    }
}

static sn_status convert_to_float(sn_idx *idx, const char *path, const unsigned char *raw) {
    int size = find_type(idx->type)->size;
    idx->f32 = malloc((size_t)idx->count * sizeof(float));
    if (!idx->f32)
        return sn_error(SN_ERR_NOMEM, "%s: cannot allocate %lld floats", path,
                        (long long)idx->count);
    for (int64_t i = 0; i < idx->count; i++)
        idx->f32[i] = element_to_float(idx->type, raw + i * size);
    return SN_OK;
}

static sn_status read_opened(gzFile gz, const char *path, int64_t file_size, sn_idx *idx) {
    int64_t data_bytes = 0;
    sn_status st = read_header(gz, path, idx, &data_bytes);
    if (st != SN_OK) return st;
    unsigned char *raw = NULL;
    if (gzdirect(gz))
        st = read_plain_data(gz, path, file_size, 4 + 4 * (int64_t)idx->ndim, data_bytes, &raw);
    else
        st = read_gzip_data(gz, path, data_bytes, &raw);
    if (st == SN_OK) st = expect_end(gz, path);
    if (st == SN_OK && idx->type != 0x08) st = convert_to_float(idx, path, raw);
    if (st == SN_OK && idx->type == 0x08) {
        idx->u8 = raw;
        raw = NULL;
    }
    free(raw);
    return st;
}

sn_status sn_idx_read(const char *path, sn_idx **out) {
    if (!path || !out) return sn_error(SN_ERR_INVALID_ARG, "sn_idx_read: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sn_error(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        sn_status st = sn_error(SN_ERR_IO, "%s: not a regular file", path);
        close(fd);
        return st;
    }
    gzFile gz = gzdopen(fd, "rb"); /* takes fd: gzclose closes it */
    if (!gz) {
        close(fd);
        return sn_error(SN_ERR_NOMEM, "%s: cannot open a zlib reader", path);
    }
    sn_idx *idx = calloc(1, sizeof *idx);
    sn_status st = idx ? read_opened(gz, path, (int64_t)info.st_size, idx)
                       : sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
    gzclose(gz);
    if (st != SN_OK) {
        sn_idx_free(idx);
        return st;
    }
    *out = idx;
    return SN_OK;
}

void sn_idx_free(sn_idx *idx) {
    if (!idx) return;
    free(idx->u8);
    free(idx->f32);
    free(idx);
}
