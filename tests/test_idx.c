/*
 * IDX reader and the IDX directory loader: files written byte by byte by the
 * test (plain and gzip) that must be read back exactly, every element type,
 * and a battery of hostile files (wrong magic, ndim 0 and 5, a size 0, counts
 * of 2^32 - 1, truncation at every offset, trailing bytes, corrupt gzip
 * streams), each refused with a message that names the file. A header that
 * claims 4 GB must not make the reader allocate 4 GB: checked in a child
 * process whose address space is too small for it.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static void write_plain(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void write_gzip(const char *path, const void *bytes, size_t n) {
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    if (n > 0) assert_int_equal(gzwrite(gz, bytes, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

static unsigned char *read_whole(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *bytes = malloc(*n + 1);
    assert_int_equal(fread(bytes, 1, *n, fp), *n);
    fclose(fp);
    return bytes;
}

/* An IDX file in memory: magic 00 00 type ndim, the sizes big-endian, then
 * data_len bytes of data (a counting pattern when data is NULL). */
typedef struct idx_bytes {
    unsigned char b[4096];
    size_t n;
} idx_bytes;

static void put_u32_be(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static idx_bytes make_idx(int type, int ndim, const uint32_t *dims, const void *data,
                          size_t data_len) {
    idx_bytes f = {.n = 0};
    f.b[0] = 0, f.b[1] = 0, f.b[2] = (unsigned char)type, f.b[3] = (unsigned char)ndim;
    f.n = 4;
    for (int i = 0; i < ndim; i++, f.n += 4) put_u32_be(f.b + f.n, dims[i]);
    assert_true(f.n + data_len <= sizeof f.b);
    for (size_t i = 0; i < data_len; i++)
        f.b[f.n + i] = data ? ((const unsigned char *)data)[i] : (unsigned char)(i * 7 + 1);
    f.n += data_len;
    return f;
}

/* Reading path must fail with status and a message naming the file and
 * containing reason. */
static void expect_refused(const char *path, sn_status status, const char *reason) {
    sn_idx *idx = (sn_idx *)&idx; /* not NULL: the reader must clear it */
    sn_status st = sn_idx_read(path, &idx);
    const char *message = sn_last_error();
    if (st == SN_OK) fail_msg("%s was accepted; expected: %s", path, reason);
    assert_null(idx);
    if (!strstr(message, path)) fail_msg("message does not name %s: %s", path, message);
    if (!strstr(message, reason)) fail_msg("message lacks '%s': %s", reason, message);
    if (st != status)
        fail_msg("status %s, expected %s (%s)", sn_status_string(st), sn_status_string(status),
                 message);
}

/* Both as a plain and as a gzip file. */
static void expect_both_refused(const char *name, const idx_bytes *f, sn_status status,
                                const char *plain_reason, const char *gzip_reason) {
    char gz_name[128];
    snprintf(gz_name, sizeof gz_name, "%s.gz", name);
    write_plain(sn_temp_path(name), f->b, f->n);
    expect_refused(sn_temp_path(name), status, plain_reason);
    write_gzip(sn_temp_path(gz_name), f->b, f->n);
    expect_refused(sn_temp_path(gz_name), status, gzip_reason);
}

/* ---- files that must be read ---- */

static void check_u8_image_file(const char *path, const unsigned char *pixels) {
    sn_idx *idx;
    SN_ASSERT_OK(sn_idx_read(path, &idx));
    assert_int_equal(idx->type, 0x08);
    assert_int_equal(idx->ndim, 3);
    assert_int_equal(idx->dim[0], 2);
    assert_int_equal(idx->dim[1], 3);
    assert_int_equal(idx->dim[2], 4);
    assert_int_equal(idx->count, 24);
    assert_null(idx->f32);
    assert_non_null(idx->u8);
    assert_memory_equal(idx->u8, pixels, 24);
    sn_idx_free(idx);
}

static void test_read_u8_plain_and_gzip(void **state) {
    (void)state;
    unsigned char pixels[24];
    for (int i = 0; i < 24; i++) pixels[i] = (unsigned char)(255 - 10 * i);
    idx_bytes f = make_idx(0x08, 3, (uint32_t[]){2, 3, 4}, pixels, 24);
    write_plain(sn_temp_path("img-idx3-ubyte"), f.b, f.n);
    check_u8_image_file(sn_temp_path("img-idx3-ubyte"), pixels);
    /* gzip detected by content: the name says nothing */
    write_gzip(sn_temp_path("img-gz-but-no-suffix"), f.b, f.n);
    check_u8_image_file(sn_temp_path("img-gz-but-no-suffix"), pixels);
    /* and a plain file named .gz is read as plain */
    write_plain(sn_temp_path("plain.gz"), f.b, f.n);
    check_u8_image_file(sn_temp_path("plain.gz"), pixels);
}

/* A gzip stream larger than the reader's 1 MiB chunk, so its buffer grows. */
static void test_read_large_gzip(void **state) {
    (void)state;
    const uint32_t n = 3 * 1024 * 1024 + 5;
    size_t total = 8 + n;
    unsigned char *bytes = malloc(total);
    assert_non_null(bytes);
    bytes[0] = 0, bytes[1] = 0, bytes[2] = 0x08, bytes[3] = 1;
    put_u32_be(bytes + 4, n);
    for (uint32_t i = 0; i < n; i++) bytes[8 + i] = (unsigned char)(i * 2654435761u >> 24);
    write_gzip(sn_temp_path("large-idx1-ubyte.gz"), bytes, total);
    sn_idx *idx;
    SN_ASSERT_OK(sn_idx_read(sn_temp_path("large-idx1-ubyte.gz"), &idx));
    assert_int_equal(idx->count, n);
    assert_memory_equal(idx->u8, bytes + 8, n);
    sn_idx_free(idx);
    free(bytes);
}

static void test_read_other_types(void **state) {
    (void)state;
    /* signed byte */
    idx_bytes f = make_idx(0x09, 1, (uint32_t[]){3}, (unsigned char[]){0x80, 0xFF, 0x7F}, 3);
    write_gzip(sn_temp_path("i8.gz"), f.b, f.n);
    sn_idx *idx;
    SN_ASSERT_OK(sn_idx_read(sn_temp_path("i8.gz"), &idx));
    assert_null(idx->u8);
    assert_true(idx->f32[0] == -128.0f && idx->f32[1] == -1.0f && idx->f32[2] == 127.0f);
    sn_idx_free(idx);

    /* short, big-endian */
    f = make_idx(0x0B, 2, (uint32_t[]){1, 2}, (unsigned char[]){0x80, 0x00, 0x01, 0x02}, 4);
    write_plain(sn_temp_path("i16"), f.b, f.n);
    SN_ASSERT_OK(sn_idx_read(sn_temp_path("i16"), &idx));
    assert_int_equal(idx->type, 0x0B);
    assert_true(idx->f32[0] == -32768.0f && idx->f32[1] == 258.0f);
    sn_idx_free(idx);

    /* int */
    f = make_idx(0x0C, 1, (uint32_t[]){2}, (unsigned char[]){0xFF, 0xFF, 0xFF, 0xFE, 0, 1, 0, 0},
                 8);
    write_plain(sn_temp_path("i32"), f.b, f.n);
    SN_ASSERT_OK(sn_idx_read(sn_temp_path("i32"), &idx));
    assert_true(idx->f32[0] == -2.0f && idx->f32[1] == 65536.0f);
    sn_idx_free(idx);

    /* float 1.5 = 0x3FC00000 and -0.25 = 0xBE800000, double 3.25 = 0x400A000000000000 */
    f = make_idx(0x0D, 1, (uint32_t[]){2}, (unsigned char[]){0x3F, 0xC0, 0, 0, 0xBE, 0x80, 0, 0},
                 8);
    write_gzip(sn_temp_path("f32.gz"), f.b, f.n);
    SN_ASSERT_OK(sn_idx_read(sn_temp_path("f32.gz"), &idx));
    assert_true(idx->f32[0] == 1.5f && idx->f32[1] == -0.25f);
    sn_idx_free(idx);
    f = make_idx(0x0E, 4, (uint32_t[]){1, 1, 1, 1}, (unsigned char[]){0x40, 0x0A, 0, 0, 0, 0, 0, 0},
                 8);
    write_plain(sn_temp_path("f64"), f.b, f.n);
    SN_ASSERT_OK(sn_idx_read(sn_temp_path("f64"), &idx));
    assert_int_equal(idx->ndim, 4);
    assert_true(idx->f32[0] == 3.25f);
    sn_idx_free(idx);
}

/* ---- hostile files ---- */

static void test_refuse_bad_headers(void **state) {
    (void)state;
    idx_bytes f = make_idx(0x08, 1, (uint32_t[]){4}, NULL, 4);
    f.b[0] = 0x01;
    expect_both_refused("magic", &f, SN_ERR_FORMAT, "not an IDX file", "not an IDX file");
    f = make_idx(0x07, 1, (uint32_t[]){4}, NULL, 4);
    expect_both_refused("type", &f, SN_ERR_FORMAT, "unknown IDX element type 0x07",
                        "unknown IDX element type 0x07");
    f = make_idx(0x08, 0, NULL, NULL, 4);
    expect_both_refused("ndim0", &f, SN_ERR_FORMAT, "has 0 dimensions", "has 0 dimensions");
    f = make_idx(0x08, 5, (uint32_t[]){1, 1, 1, 1, 1}, NULL, 1);
    expect_both_refused("ndim5", &f, SN_ERR_FORMAT, "has 5 dimensions", "has 5 dimensions");
    f = make_idx(0x08, 3, (uint32_t[]){2, 0, 3}, NULL, 0);
    expect_both_refused("size0", &f, SN_ERR_FORMAT, "dimension 1 has size 0",
                        "dimension 1 has size 0");
    /* (2^32 - 1)^3 overflows any 64-bit product; 2^16 x 2^16 doubles exceed 2^34 bytes */
    f = make_idx(0x08, 3, (uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, NULL, 8);
    expect_both_refused("overflow", &f, SN_ERR_FORMAT, "dimension sizes claim more than",
                        "dimension sizes claim more than");
    f = make_idx(0x0E, 4, (uint32_t[]){1u << 16, 1u << 16, 1u << 16, 1}, NULL, 8);
    expect_both_refused("over_limit", &f, SN_ERR_FORMAT, "(size 1 is 65536)", "(size 1 is 65536)");
    /* a file that is not IDX at all, and one that does not exist */
    write_plain(sn_temp_path("text"), "hello world\n", 12);
    expect_refused(sn_temp_path("text"), SN_ERR_FORMAT, "not an IDX file");
    expect_refused(sn_temp_path("absent"), SN_ERR_IO, "cannot open");
    expect_refused(sn_temp_dir(), SN_ERR_IO, "not a regular file");
}

/* 2^32 - 1 elements claimed, 10 present: refused by length, not by allocation. */
static void test_refuse_huge_counts(void **state) {
    (void)state;
    idx_bytes f = make_idx(0x08, 1, (uint32_t[]){0xFFFFFFFFu}, NULL, 10);
    expect_both_refused("count_u8", &f, SN_ERR_FORMAT,
                        "header claims 4294967295 bytes of data but the file has 10 (truncated)",
                        "header claims 4294967295 bytes of data but the stream holds 10");
    f = make_idx(0x0D, 3, (uint32_t[]){0xFFFFFFFFu, 1, 1}, NULL, 12);
    expect_both_refused("count_f32", &f, SN_ERR_FORMAT,
                        "header claims 17179869180 bytes of data but the file has 12",
                        "header claims 17179869180 bytes of data but the stream holds 12");
}

/* The same files read in a child whose address space is capped at its current
 * size + 1 GiB: a reader that allocated what the header claims (4 or 16 GiB)
 * would fail with SN_ERR_NOMEM instead of the length error. The child first
 * checks that the cap bites (a 4 GiB malloc must fail), so that the test cannot
 * pass because the cap did nothing. (Not under ASan, which reserves terabytes
 * of address space at start-up.) */
static void test_huge_counts_do_not_allocate(void **state) {
    (void)state;
#ifdef SN_ASAN
    skip();
#else
    const char *names[] = {"count_u8.gz", "count_f32.gz", "count_u8", "count_f32"};
    idx_bytes u8 = make_idx(0x08, 1, (uint32_t[]){0xFFFFFFFFu}, NULL, 10);
    idx_bytes f32 = make_idx(0x0D, 3, (uint32_t[]){0xFFFFFFFFu, 1, 1}, NULL, 12);
    write_gzip(sn_temp_path(names[0]), u8.b, u8.n);
    write_gzip(sn_temp_path(names[1]), f32.b, f32.n);
    write_plain(sn_temp_path(names[2]), u8.b, u8.n);
    write_plain(sn_temp_path(names[3]), f32.b, f32.n);
    char paths[4][512];
    for (int i = 0; i < 4; i++) snprintf(paths[i], sizeof paths[i], "%s", sn_temp_path(names[i]));

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        long pages = 0;
        FILE *statm = fopen("/proc/self/statm", "r");
        if (!statm || fscanf(statm, "%ld", &pages) != 1) _exit(10);
        fclose(statm);
        rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)1 << 30);
        struct rlimit limit = {cap, cap};
        if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(11);
        /* volatile: clang may otherwise assume that an unused malloc succeeds */
        void *volatile big = malloc((size_t)1 << 32);
        if (big) _exit(12); /* the cap does not bite: the test would prove nothing */
        for (int i = 0; i < 4; i++) {
            sn_idx *idx;
            sn_status st = sn_idx_read(paths[i], &idx);
            if (st != SN_ERR_FORMAT || !strstr(sn_last_error(), "truncated")) {
                fprintf(stderr, "%s: %s: %s\n", paths[i], sn_status_string(st), sn_last_error());
                _exit(20 + i);
            }
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

/* Every proper prefix of a valid file, plain and gzip, is refused. */
static void test_refuse_truncation_at_every_offset(void **state) {
    (void)state;
    idx_bytes f = make_idx(0x08, 3, (uint32_t[]){2, 2, 3}, NULL, 12);
    write_plain(sn_temp_path("whole"), f.b, f.n);
    sn_idx *idx;
    SN_ASSERT_OK(sn_idx_read(sn_temp_path("whole"), &idx)); /* the control: the whole file reads */
    sn_idx_free(idx);
    for (size_t cut = 0; cut < f.n; cut++) {
        const char *reason = cut < 4    ? "too short for the IDX magic"
                             : cut < 16 ? "file ends inside the 3 dimension sizes"
                                        : "(truncated)";
        write_plain(sn_temp_path("cut"), f.b, cut);
        expect_refused(sn_temp_path("cut"), SN_ERR_FORMAT, reason);
        write_gzip(sn_temp_path("cut.gz"), f.b, cut);
        expect_refused(sn_temp_path("cut.gz"), SN_ERR_FORMAT, cut < 16 ? reason : "(truncated)");
    }
    /* a gzip file cut at every byte: the stream itself ends early */
    write_gzip(sn_temp_path("whole.gz"), f.b, f.n);
    size_t gz_len;
    unsigned char *gz = read_whole(sn_temp_path("whole.gz"), &gz_len);
    for (size_t cut = 0; cut < gz_len; cut++) {
        write_plain(sn_temp_path("cut_stream.gz"), gz, cut);
        sn_status st = sn_idx_read(sn_temp_path("cut_stream.gz"), &idx);
        if (st == SN_OK) fail_msg("gzip stream cut at %zu of %zu bytes was accepted", cut, gz_len);
        assert_null(idx);
        assert_non_null(strstr(sn_last_error(), "cut_stream.gz"));
    }
    free(gz);
}

static void test_refuse_trailing_bytes(void **state) {
    (void)state;
    idx_bytes f = make_idx(0x08, 1, (uint32_t[]){4}, NULL, 5);
    expect_both_refused("trailing", &f, SN_ERR_FORMAT, "(trailing bytes)",
                        "trailing bytes after the data the header claims");
    f = make_idx(0x0E, 1, (uint32_t[]){1}, NULL, 9);
    expect_both_refused("trailing_f64", &f, SN_ERR_FORMAT, "(trailing bytes)", "trailing bytes");
}

/* A gzip stream with a wrong CRC, a wrong length, or garbage deflate data. */
static void test_refuse_corrupt_gzip(void **state) {
    (void)state;
    idx_bytes f = make_idx(0x08, 2, (uint32_t[]){4, 8}, NULL, 32);
    write_gzip(sn_temp_path("good.gz"), f.b, f.n);
    size_t n;
    unsigned char *gz = read_whole(sn_temp_path("good.gz"), &n);
    assert_true(n > 18);
    struct {
        const char *name;
        size_t at;
        unsigned char xor_with;
    } cases[] = {
        {"bad_crc.gz", n - 8, 0x01},   /* CRC-32 of the trailer */
        {"bad_isize.gz", n - 1, 0x40}, /* ISIZE, the length mod 2^32 */
        /* block type 3 (reserved): bits 1-2 of the first deflate byte set */
        {"bad_block.gz", 10, (unsigned char)((gz[10] | 0x06) ^ gz[10])},
        {"bad_method.gz", 2, 0x01}, /* compression method 9 instead of 8 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned char saved = gz[cases[c].at];
        gz[cases[c].at] ^= cases[c].xor_with;
        write_plain(sn_temp_path(cases[c].name), gz, n);
        gz[cases[c].at] = saved;
        sn_idx *idx;
        sn_status st = sn_idx_read(sn_temp_path(cases[c].name), &idx);
        if (st != SN_ERR_FORMAT)
            fail_msg("%s: status %s: %s", cases[c].name, sn_status_string(st), sn_last_error());
        assert_null(idx);
        assert_non_null(strstr(sn_last_error(), cases[c].name));
        assert_non_null(strstr(sn_last_error(), "gzip"));
    }
    free(gz);
}

/* ---- the directory loader on small synthetic datasets ---- */

static const char *dir_file(const char *dir, const char *name) {
    char relative[256];
    snprintf(relative, sizeof relative, "%s/%s", dir, name);
    return sn_temp_path(relative);
}

static void make_subdir(const char *dir) {
    assert_int_equal(mkdir(sn_temp_path(dir), 0700), 0);
}

/* n images of h x w (pixel value = 10 * image + position) and their labels. */
static void write_split(const char *dir, const char *prefix, uint32_t n, uint32_t h, uint32_t w,
                        const unsigned char *labels, int gzip) {
    unsigned char pixels[512];
    assert_true(n * h * w <= sizeof pixels);
    for (uint32_t i = 0; i < n * h * w; i++)
        pixels[i] = (unsigned char)(10 * (i / (h * w)) + i % (h * w));
    char name[128];
    idx_bytes f = make_idx(0x08, 3, (uint32_t[]){n, h, w}, pixels, n * h * w);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, gzip ? ".gz" : "");
    (gzip ? write_gzip : write_plain)(dir_file(dir, name), f.b, f.n);
    /* the labels compressed when the images are not, to mix the two */
    f = make_idx(0x08, 1, (uint32_t[]){n}, labels, n);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, gzip ? "" : ".gz");
    (gzip ? write_plain : write_gzip)(dir_file(dir, name), f.b, f.n);
}

static void test_directory_loader(void **state) {
    (void)state;
    make_subdir("mini");
    write_split("mini", "train", 5, 2, 3, (unsigned char[]){3, 0, 200, 1, 2}, 1);
    write_split("mini", "t10k", 2, 2, 3, (unsigned char[]){1, 4}, 0);
    sn_data_opts o = sn_data_defaults();
    o.normalize = SN_NORM_NONE;
    sn_dataset *train, *test;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/mini", sn_temp_dir());
    SN_ASSERT_OK(sn_dataset_load(dir, &o, &train, &test));
    assert_string_equal(sn_dataset_source(train), dir);
    assert_int_equal(sn_dataset_count(train), 5);
    assert_int_equal(sn_dataset_count(test), 2);
    const sn_shape *s = sn_dataset_sample_shape(train);
    assert_int_equal(s->ndim, 3);
    assert_true(s->dim[0] == 1 && s->dim[1] == 2 && s->dim[2] == 3);
    /* labels < 256 by type; the classes are the largest label of both splits + 1 */
    assert_int_equal(sn_dataset_num_classes(train), 201);
    assert_int_equal(sn_dataset_num_classes(test), 201);
    assert_int_equal(sn_dataset_target_size(train), 1);
    float x[2 * 6], y[2];
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){2, 4}, 2, x, y));
    assert_true(y[0] == 200.0f && y[1] == 2.0f);
    assert_true(x[0] == 20.0f && x[5] == 25.0f && x[6] == 40.0f && x[11] == 45.0f);
    SN_ASSERT_OK(sn_dataset_batch(test, (int64_t[]){1}, 1, x, y));
    assert_true(y[0] == 4.0f && x[0] == 10.0f);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    /* limit: the first examples of each split */
    o.limit = 3;
    SN_ASSERT_OK(sn_dataset_load(dir, &o, &train, &test));
    assert_int_equal(sn_dataset_count(train), 3);
    assert_int_equal(sn_dataset_count(test), 2);
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){2}, 1, NULL, y));
    assert_true(y[0] == 200.0f);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
}

static void expect_load_refused(const char *dir, sn_dataset **test, sn_status status,
                                const char *reason) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", sn_temp_dir(), dir);
    sn_data_opts o = sn_data_defaults();
    sn_dataset *train = (sn_dataset *)&train;
    sn_status st = sn_dataset_load(path, &o, &train, test);
    const char *message = sn_last_error();
    if (st == SN_OK) fail_msg("%s was accepted; expected: %s", path, reason);
    assert_null(train);
    if (test) assert_null(*test);
    if (!strstr(message, reason)) fail_msg("message lacks '%s': %s", reason, message);
    if (st != status)
        fail_msg("status %s, expected %s (%s)", sn_status_string(st), sn_status_string(status),
                 message);
}

static void test_directory_loader_refuses(void **state) {
    (void)state;
    sn_dataset *test = (sn_dataset *)&test;
    make_subdir("partial");
    write_split("partial", "train", 2, 1, 1, (unsigned char[]){0, 1}, 1);
    unlink(dir_file("partial", "train-labels-idx1-ubyte"));
    expect_load_refused("partial", &test, SN_ERR_IO,
                        "missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
                        "t10k-labels-idx1-ubyte[.gz]");
    /* without a test split only the training files are needed */
    expect_load_refused("partial", NULL, SN_ERR_IO, "missing train-labels-idx1-ubyte[.gz] (");

    make_subdir("mismatch");
    write_split("mismatch", "train", 3, 1, 2, (unsigned char[]){0, 1, 2}, 0);
    write_split("mismatch", "t10k", 2, 1, 2, (unsigned char[]){0, 1}, 1);
    idx_bytes f = make_idx(0x08, 1, (uint32_t[]){1}, (unsigned char[]){0}, 1);
    write_plain(dir_file("mismatch", "t10k-labels-idx1-ubyte"), f.b, f.n);
    unlink(dir_file("mismatch", "t10k-labels-idx1-ubyte.gz"));
    expect_load_refused("mismatch", &test, SN_ERR_FORMAT,
                        "t10k-labels-idx1-ubyte has 1 labels but t10k-images-idx3-ubyte.gz has 2 "
                        "images");

    make_subdir("shape");
    write_split("shape", "train", 2, 2, 2, (unsigned char[]){0, 1}, 0);
    write_split("shape", "t10k", 2, 2, 3, (unsigned char[]){0, 1}, 0);
    expect_load_refused("shape", &test, SN_ERR_FORMAT, "test images are not the shape of");

    make_subdir("float_labels");
    write_split("float_labels", "train", 1, 1, 1, (unsigned char[]){0}, 0);
    f = make_idx(0x0D, 1, (uint32_t[]){1}, (unsigned char[]){0, 0, 0, 0}, 4);
    unlink(dir_file("float_labels", "train-labels-idx1-ubyte.gz"));
    write_gzip(dir_file("float_labels", "train-labels-idx1-ubyte"), f.b, f.n);
    expect_load_refused("float_labels", NULL, SN_ERR_FORMAT,
                        "labels must be one dimension of unsigned bytes");

    make_subdir("bad_images");
    write_split("bad_images", "train", 1, 1, 1, (unsigned char[]){0}, 0);
    f = make_idx(0x08, 1, (uint32_t[]){1}, NULL, 2);
    write_plain(dir_file("bad_images", "train-images-idx3-ubyte"), f.b, f.n);
    expect_load_refused("bad_images", NULL, SN_ERR_FORMAT,
                        "train-images-idx3-ubyte: header claims 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_u8_plain_and_gzip),
        cmocka_unit_test(test_read_large_gzip),
        cmocka_unit_test(test_read_other_types),
        cmocka_unit_test(test_refuse_bad_headers),
        cmocka_unit_test(test_refuse_huge_counts),
        cmocka_unit_test(test_huge_counts_do_not_allocate),
        cmocka_unit_test(test_refuse_truncation_at_every_offset),
        cmocka_unit_test(test_refuse_trailing_bytes),
        cmocka_unit_test(test_refuse_corrupt_gzip),
        cmocka_unit_test(test_directory_loader),
        cmocka_unit_test(test_directory_loader_refuses),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}
