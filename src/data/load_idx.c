/*
 * A directory of IDX files in the MNIST layout (MNIST, Fashion-MNIST, KMNIST):
 *
 *     train-images-idx3-ubyte[.gz]   (n, H, W) images -> samples (1, H, W)
 *     train-labels-idx1-ubyte[.gz]   (n) labels, unsigned bytes
 *     t10k-images-idx3-ubyte[.gz]    the test split, likewise
 *     t10k-labels-idx1-ubyte[.gz]
 *
 * Byte images stay bytes; images of another IDX type are floats. (n, F)
 * images become samples (F) and (n, C, H, W) samples (C, H, W). Labels are
 * class indices, < 256 by their type; num_classes is the largest label of
 * both splits + 1.
 */
#include "data/dataset_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

enum { TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS, N_IDX_FILES };

static const char *const idx_names[N_IDX_FILES] = {
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
};

#define IDX_PATH_CAP 4096

/* dir/name if it is a regular file, else dir/name.gz; 0 if neither is. */
static int find_file(const char *dir, const char *name, char *path) {
    static const char *const suffixes[] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        struct stat info;
        int n = snprintf(path, IDX_PATH_CAP, "%s/%s%s", dir, name, suffixes[i]);
        if (n > 0 && n < IDX_PATH_CAP && stat(path, &info) == 0 && S_ISREG(info.st_mode)) return 1;
    }
    return 0;
}

/* The file name after the last '/', for messages that name two files. */
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static sn_status sample_shape_of(const sn_idx *images, const char *path, sn_shape *sample) {
    if (images->ndim < 2)
        return sn_error(SN_ERR_FORMAT, "%s: images need 2 to 4 dimensions (n, ...), not 1", path);
    if (images->ndim == 3)
        return sn_shape_make(sample, 3, (int64_t[]){1, images->dim[1], images->dim[2]});
    return sn_shape_make(sample, images->ndim - 1, images->dim + 1);
}

/* One split from its image and label files; *n_classes is the largest label
 * of the file + 1 (of the whole file: a limit does not change the classes). */
static sn_status load_split(const char *dir, const char *image_path, const char *label_path,
                            int64_t limit, sn_dataset **out, int *n_classes) {
    sn_idx *images = NULL, *labels = NULL;
    sn_shape sample;
    sn_status st = sn_idx_read(image_path, &images);
    if (st == SN_OK) st = sample_shape_of(images, image_path, &sample);
    if (st == SN_OK) st = sn_idx_read(label_path, &labels);
    if (st == SN_OK && (labels->type != 0x08 || labels->ndim != 1))
        st = sn_error(SN_ERR_FORMAT,
                      "%s: labels must be one dimension of unsigned bytes (IDX type 0x08), not "
                      "type 0x%02X with %d dimensions",
                      label_path, labels->type, labels->ndim);
    if (st == SN_OK && labels->dim[0] != images->dim[0])
        st = sn_error(SN_ERR_FORMAT, "%s has %lld labels but %s has %lld images", label_path,
                      (long long)labels->dim[0], base_name(image_path), (long long)images->dim[0]);
    float *y = NULL;
    int64_t n = 0;
    if (st == SN_OK) {
        n = images->dim[0];
        y = malloc((size_t)n * sizeof(float));
        if (!y) st = sn_error(SN_ERR_NOMEM, "%s: out of memory", label_path);
        int largest = 0;
        for (int64_t i = 0; y && i < n; i++) {
            y[i] = labels->u8[i];
            if (labels->u8[i] > largest) largest = labels->u8[i];
        }
        *n_classes = largest + 1;
    }
    if (st == SN_OK) {
        /* the dataset takes the pixel buffer over */
        st = sn_dataset_adopt(out, dir, n, &sample, images->u8, images->f32, 1, y, 0, limit);
        images->u8 = NULL;
        images->f32 = NULL;
    }
    sn_idx_free(images);
    sn_idx_free(labels);
    return st;
}

sn_status sn_load_idx_dir(const char *dir, const sn_data_opts *opts, sn_dataset **train,
                          sn_dataset **test) {
    int needed = test ? N_IDX_FILES : TEST_IMAGES;
    char paths[N_IDX_FILES][IDX_PATH_CAP], missing[512] = "";
    for (int i = 0; i < needed; i++)
        if (!find_file(dir, idx_names[i], paths[i])) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof missing - used, "%s%s[.gz]", used ? ", " : "",
                     idx_names[i]);
        }
    if (missing[0])
        return sn_error(SN_ERR_IO, "%s: missing %s (a directory of IDX files in the MNIST layout)",
                        dir, missing);

    int train_classes = 0, test_classes = 0;
    sn_status st = load_split(dir, paths[TRAIN_IMAGES], paths[TRAIN_LABELS], opts->limit, train,
                              &train_classes);
    if (st == SN_OK && test)
        st = load_split(dir, paths[TEST_IMAGES], paths[TEST_LABELS], opts->limit, test,
                        &test_classes);
    if (st == SN_OK && test && !sn_shape_equal(&(*train)->sample_shape, &(*test)->sample_shape))
        st = sn_error(SN_ERR_FORMAT, "%s: test images are not the shape of %s", paths[TEST_IMAGES],
                      base_name(paths[TRAIN_IMAGES]));
    if (st == SN_OK && test && !(*train)->x_u8 != !(*test)->x_u8)
        st = sn_error(SN_ERR_FORMAT, "%s: test images are not the IDX type of %s",
                      paths[TEST_IMAGES], base_name(paths[TRAIN_IMAGES]));
    if (st != SN_OK) return st; /* sn_dataset_load destroys what was made */
    int n_classes = train_classes > test_classes ? train_classes : test_classes;
    (*train)->num_classes = n_classes;
    if (test) (*test)->num_classes = n_classes;
    return SN_OK;
}
