/*
 * libFuzzer target: the CSV reader, through sn_dataset_load as a user reaches
 * it (a ".csv" file, default options: header detected, label in column 0).
 * When a file loads, every example is copied out once, so that a table shorter
 * than its claimed size shows up under ASan.
 */
#include <stdint.h>
#include <stdlib.h>

#include "input_file.h"
#include "sinapsi/data.h"

static void copy_every_example(const sn_dataset *ds) {
    int64_t n = sn_dataset_count(ds);
    int64_t per_example = sn_shape_numel(sn_dataset_sample_shape(ds));
    int64_t per_target = sn_dataset_target_size(ds);
    float *x = malloc((size_t)per_example * sizeof *x), *y = malloc((size_t)per_target * sizeof *y);
    for (int64_t i = 0; x && y && i < n; i++)
        if (sn_dataset_batch(ds, &i, 1, x, y) != SN_OK) abort(); /* valid indices */
    free(x);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = sn_fuzz_input_file(data, size, ".csv");
    sn_data_opts opts = sn_data_defaults();
    sn_dataset *train = NULL;
    if (sn_dataset_load(path, &opts, &train, NULL) == SN_OK) {
        copy_every_example(train);
        sn_dataset_destroy(train);
    } else if (train != NULL) {
        abort(); /* the contract: nothing is returned on failure */
    }
    return 0;
}
