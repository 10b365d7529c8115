/*
 * The committed corpus of malformed files: tests/malformed/<reader>/<defect>,
 * written by tests/malformed/make_corpus.py and listed in
 * tests/malformed/expected.txt as
 *
 *     safetensors/header_len_huge.safetensors<TAB>SN_ERR_FORMAT<TAB>exceeds the limit
 *
 * For every line the reader must return that status, with a message that
 * contains the substring and names the file (the spec parser, which reads text
 * in memory, names the source given to it: the relative path). While the
 * reader runs, this test replaces malloc and friends for its own process
 * (glibc's __libc_* functions do the work, as in test_graph_noalloc.c) and
 * tracks the bytes live: the peak above the start may not exceed the file's
 * size plus 1 MiB, and nothing may stay allocated once the reader has returned.
 * Under AddressSanitizer, which owns malloc, the measurement is skipped; the
 * ASan build catches leaks itself.
 *
 * The manifest and the directories must agree: an empty manifest, a listed
 * file that is missing, or a file that is not listed fails the test. As a
 * control, the valid seeds of the fuzzers (fuzz/corpus/<reader>/) must read
 * without error through the same code.
 */
#define _GNU_SOURCE
#include "support/test_support.h"

#include <dirent.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#ifndef SN_MALFORMED_DIR
#define SN_MALFORMED_DIR SN_GOLDEN_DIR "/../malformed"
#endif
#ifndef SN_FUZZ_CORPUS_DIR
#define SN_FUZZ_CORPUS_DIR SN_GOLDEN_DIR "/../../fuzz/corpus"
#endif

/* What a reader may allocate beyond the size of its file: stdio and zlib
 * buffers, the handle, small tables. */
#define SLACK_BYTES (1024 * 1024)

/* ---- allocation tracking ---- */

static long long live_bytes, peak_bytes;

#ifdef SN_ASAN
static const int measuring = 0;
#else
static const int measuring = 1;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static void *tracked(void *p) {
    if (p) {
        live_bytes += (long long)malloc_usable_size(p);
        if (live_bytes > peak_bytes) peak_bytes = live_bytes;
    }
    return p;
}

void *malloc(size_t n) {
    return tracked(__libc_malloc(n));
}
void *calloc(size_t n, size_t m) {
    return tracked(__libc_calloc(n, m));
}
void *realloc(void *p, size_t n) {
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || n == 0) live_bytes -= (long long)old; /* realloc(p, 0) frees p */
    return tracked(q);
}
void *aligned_alloc(size_t alignment, size_t n) {
    return tracked(__libc_memalign(alignment, n));
}
int posix_memalign(void **out, size_t alignment, size_t n) {
    void *p = tracked(__libc_memalign(alignment, n));
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void free(void *p) {
    if (p) live_bytes -= (long long)malloc_usable_size(p);
    __libc_free(p);
}
#endif

/* ---- the readers ---- */

/* Runs one reader on a file (path) whose bytes are also in memory, as a user
 * would: the outcome is the first failure, or SN_OK when everything the file
 * holds has been read. */
typedef sn_status (*reader_fn)(const char *path, const char *source, const char *bytes,
                               size_t size);

/* Opens the file and reads every tensor as float32. */
static sn_status read_safetensors(const char *path, const char *source, const char *bytes,
                                  size_t size) {
    (void)source, (void)bytes, (void)size;
    sn_safetensors *f;
    sn_status st = sn_safetensors_open(&f, path);
    for (int i = 0; st == SN_OK && i < sn_safetensors_count(f); i++) {
        sn_tensor *t;
        st = sn_safetensors_read(f, sn_safetensors_name(f, i), &t);
        if (st == SN_OK) sn_tensor_destroy(t);
    }
    sn_safetensors_close(f);
    return st;
}

static sn_status read_idx(const char *path, const char *source, const char *bytes, size_t size) {
    (void)source, (void)bytes, (void)size;
    sn_idx *idx;
    sn_status st = sn_idx_read(path, &idx);
    sn_idx_free(idx);
    return st;
}

/* As the trainer loads --data FILE.csv: default options. */
static sn_status read_csv(const char *path, const char *source, const char *bytes, size_t size) {
    (void)source, (void)bytes, (void)size;
    sn_data_opts opts = sn_data_defaults();
    sn_dataset *train = NULL;
    sn_status st = sn_dataset_load(path, &opts, &train, NULL);
    sn_dataset_destroy(train);
    return st;
}

/* The spec parser reads text in memory; its messages name the source given. */
static sn_status read_spec(const char *path, const char *source, const char *bytes, size_t size) {
    (void)path;
    sn_module *modules = NULL;
    int count;
    sn_status st = sn_spec_parse(bytes, size, source, &modules, &count);
    free(modules);
    return st;
}

static const struct reader {
    const char *dir; /* under tests/malformed/ and fuzz/corpus/ */
    reader_fn read;
    int names_path; /* 1: the message names the full path; 0: the source given */
} readers[] = {
    {"safetensors", read_safetensors, 1},
    {"idx", read_idx, 1},
    {"csv", read_csv, 1},
    {"spec", read_spec, 0},
};
#define N_READERS ((int)(sizeof readers / sizeof readers[0]))

static const struct reader *reader_of(const char *relpath) {
    for (int r = 0; r < N_READERS; r++) {
        size_t n = strlen(readers[r].dir);
        if (strncmp(relpath, readers[r].dir, n) == 0 && relpath[n] == '/') return &readers[r];
    }
    return NULL;
}

/* ---- the manifest ---- */

#define MAX_CASES 1024

typedef struct malformed_case {
    char path[256]; /* relative to tests/malformed/ */
    sn_status status;
    char expect[256];
} malformed_case;

static malformed_case cases[MAX_CASES];
static int n_cases;

static const struct {
    const char *name;
    sn_status status;
} status_names[] = {
    {"SN_OK", SN_OK},
    {"SN_ERR_INVALID_ARG", SN_ERR_INVALID_ARG},
    {"SN_ERR_SHAPE", SN_ERR_SHAPE},
    {"SN_ERR_NOMEM", SN_ERR_NOMEM},
    {"SN_ERR_IO", SN_ERR_IO},
    {"SN_ERR_FORMAT", SN_ERR_FORMAT},
    {"SN_ERR_RANGE", SN_ERR_RANGE},
    {"SN_ERR_STATE", SN_ERR_STATE},
    {"SN_ERR_NUMERIC", SN_ERR_NUMERIC},
    {"SN_ERR_UNSUPPORTED", SN_ERR_UNSUPPORTED},
};

static int parse_status(const char *name, sn_status *out) {
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++)
        if (strcmp(name, status_names[i].name) == 0) {
            *out = status_names[i].status;
            return 1;
        }
    return 0;
}

static const char *status_name(sn_status status) {
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++)
        if (status_names[i].status == status) return status_names[i].name;
    return "?";
}

/* Reads expected.txt: "path<TAB>status<TAB>substring" lines, '#' comments. */
static int load_manifest(void **state) {
    (void)state;
    FILE *fp = fopen(SN_MALFORMED_DIR "/expected.txt", "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", SN_MALFORMED_DIR "/expected.txt");
        return -1;
    }
    char line[1024];
    int line_no = 0, bad = 0;
    while (fgets(line, sizeof line, fp)) {
        line_no++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        char *status = strchr(line, '\t'), *expect = status ? strchr(status + 1, '\t') : NULL;
        if (!expect || n_cases == MAX_CASES) {
            fprintf(stderr, "expected.txt:%d: not path<TAB>status<TAB>substring\n", line_no);
            bad = 1;
            continue;
        }
        *status++ = '\0';
        *expect++ = '\0';
        malformed_case *c = &cases[n_cases];
        if (!parse_status(status, &c->status)) {
            fprintf(stderr, "expected.txt:%d: unknown status '%s'\n", line_no, status);
            bad = 1;
            continue;
        }
        if (c->status != SN_OK && expect[0] == '\0') {
            fprintf(stderr, "expected.txt:%d: an error needs a substring\n", line_no);
            bad = 1;
            continue;
        }
        if (strlen(line) >= sizeof c->path || strlen(expect) >= sizeof c->expect) {
            fprintf(stderr, "expected.txt:%d: path or substring too long\n", line_no);
            bad = 1;
            continue;
        }
        strcpy(c->path, line);
        strcpy(c->expect, expect);
        n_cases++;
    }
    fclose(fp);
    return bad ? -1 : 0;
}

static const malformed_case *find_case(const char *relpath) {
    for (int i = 0; i < n_cases; i++)
        if (strcmp(cases[i].path, relpath) == 0) return &cases[i];
    return NULL;
}

/* The whole file, NUL-terminated (*size excludes the NUL); NULL if unreadable. */
static char *slurp(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = 2 * cap + 4096 + 1;
            char *grown = realloc(buf, cap);
            if (!grown) break;
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) {
            fclose(fp);
            buf[n] = '\0';
            *size = n;
            return buf;
        }
    }
    fclose(fp);
    free(buf);
    return NULL;
}

/* ---- one file ---- */

typedef struct outcome {
    sn_status status;
    char message[512];
    long long peak_extra; /* bytes above the start at the peak, -1 if not measured */
    long long left_live;  /* bytes still allocated after the reader returned */
} outcome;

static int run_reader(const struct reader *r, const char *dir, const char *relpath, outcome *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, relpath);
    out->status = SN_ERR_IO;
    snprintf(out->message, sizeof out->message, "cannot read %.400s", path);
    size_t size;
    char *bytes = slurp(path, &size);
    if (!bytes) return 0;
    sn_clear_error();
    const long long start = live_bytes;
    peak_bytes = start;
    out->status = r->read(path, relpath, bytes, size);
    out->peak_extra = measuring ? peak_bytes - start : -1;
    out->left_live = measuring ? live_bytes - start : -1;
    snprintf(out->message, sizeof out->message, "%s", sn_last_error());
    free(bytes);
    return 1;
}

/* Checks one manifest line; prints and returns 0 when it fails. */
static int check_case(const malformed_case *c, long long *worst_extra) {
    const struct reader *r = reader_of(c->path);
    if (!r) {
        printf("FAIL %s: no reader for this directory\n", c->path);
        return 0;
    }
    outcome o;
    if (!run_reader(r, SN_MALFORMED_DIR, c->path, &o)) {
        printf("FAIL %s: listed in expected.txt but cannot be read\n", c->path);
        return 0;
    }
    char full_path[1024];
    snprintf(full_path, sizeof full_path, "%s/%s", SN_MALFORMED_DIR, c->path);
    const char *name = r->names_path ? full_path : c->path;
    int ok = 1;
    if (o.status != c->status) {
        printf("FAIL %s: status %s, expected %s (message: %s)\n", c->path, status_name(o.status),
               status_name(c->status), o.message);
        ok = 0;
    } else if (c->status != SN_OK && !strstr(o.message, c->expect)) {
        printf("FAIL %s: message \"%s\" lacks \"%s\"\n", c->path, o.message, c->expect);
        ok = 0;
    } else if (c->status != SN_OK && !strstr(o.message, name)) {
        printf("FAIL %s: message \"%s\" does not name %s\n", c->path, o.message, name);
        ok = 0;
    }
    if (o.peak_extra >= 0) {
        size_t size = 0;
        free(slurp(full_path, &size));
        if (o.peak_extra > (long long)size + SLACK_BYTES) {
            printf("FAIL %s: allocated %lld bytes at the peak for a file of %zu bytes\n", c->path,
                   o.peak_extra, size);
            ok = 0;
        }
        if (o.left_live != 0) {
            printf("FAIL %s: %lld bytes still allocated after the reader returned\n", c->path,
                   o.left_live);
            ok = 0;
        }
        if (o.peak_extra - (long long)size > *worst_extra)
            *worst_extra = o.peak_extra - (long long)size;
    }
    return ok;
}

/* ---- the directories ---- */

/* Calls visit for every file of root/<reader's directory>/ ("idx/name");
 * returns how many visits failed, an unreadable or empty directory counting as
 * one failure. */
typedef int (*file_visitor)(const struct reader *r, const char *root, const char *relpath);

static int visit_files(const char *root, const struct reader *r, file_visitor visit, int *n_files) {
    char dir_path[1024], relpath[512];
    snprintf(dir_path, sizeof dir_path, "%s/%s", root, r->dir);
    DIR *dir = opendir(dir_path);
    if (!dir) {
        printf("FAIL cannot open %s\n", dir_path);
        return 1;
    }
    int failures = 0, seen = 0;
    for (struct dirent *d; (d = readdir(dir));) {
        if (d->d_name[0] == '.') continue;
        snprintf(relpath, sizeof relpath, "%s/%s", r->dir, d->d_name);
        if (!visit(r, root, relpath)) failures++;
        seen++;
    }
    closedir(dir);
    if (seen == 0) {
        printf("FAIL no files in %s\n", dir_path);
        failures++;
    }
    *n_files += seen;
    return failures;
}

static int is_listed(const struct reader *r, const char *root, const char *relpath) {
    (void)r, (void)root;
    if (find_case(relpath)) return 1;
    printf("FAIL %s is not listed in expected.txt\n", relpath);
    return 0;
}

static int reads_without_error(const struct reader *r, const char *root, const char *relpath) {
    outcome o;
    if (run_reader(r, root, relpath, &o) && o.status == SN_OK) return 1;
    printf("FAIL seed %s: %s\n", relpath, o.message);
    return 0;
}

/* ---- tests ---- */

static void test_manifest_matches_the_files(void **state) {
    (void)state;
    assert_true(n_cases > 0);
    int problems = 0, n_files = 0;
    for (int r = 0; r < N_READERS; r++)
        problems += visit_files(SN_MALFORMED_DIR, &readers[r], is_listed, &n_files);
    printf("%d files listed in expected.txt for %d readers, %d files in their directories\n",
           n_cases, N_READERS, n_files);
    assert_int_equal(problems, 0);
}

static void test_every_malformed_file_gives_its_error(void **state) {
    (void)state;
    assert_true(n_cases > 0);
    int failures = 0;
    long long worst_extra = 0;
    for (int i = 0; i < n_cases; i++)
        if (!check_case(&cases[i], &worst_extra)) failures++;
    if (measuring)
        printf("%d files checked; largest peak allocation beyond the file size: %lld bytes\n",
               n_cases, worst_extra);
    else
        printf("%d files checked; memory not measured under AddressSanitizer\n", n_cases);
    assert_int_equal(failures, 0);
}

/* Control: the fuzzers' seeds are valid files, so the same harness that sees
 * an error in every malformed file must see none in them. */
static void test_valid_seeds_read_without_error(void **state) {
    (void)state;
    int failures = 0, n_files = 0;
    for (int r = 0; r < N_READERS; r++)
        failures += visit_files(SN_FUZZ_CORPUS_DIR, &readers[r], reads_without_error, &n_files);
    printf("%d valid seeds read\n", n_files);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_matches_the_files),
        cmocka_unit_test(test_every_malformed_file_gives_its_error),
        cmocka_unit_test(test_valid_seeds_read_without_error),
    };
    return cmocka_run_group_tests(tests, load_manifest, NULL);
}
