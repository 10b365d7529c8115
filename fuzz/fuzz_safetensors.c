/*
 * libFuzzer target: the safetensors reader. Each input is written to a file and
 * opened; when the reader accepts it, every tensor is read both ways (as a new
 * sn_tensor and into a caller's buffer) and every metadata entry is touched, so
 * that offsets the validation let through are really dereferenced under ASan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input_file.h"
#include "sinapsi/safetensors.h"

static void read_every_tensor(const sn_safetensors *f) {
    for (int i = 0; i < sn_safetensors_count(f); i++) {
        const char *name = sn_safetensors_name(f, i);
        if (sn_safetensors_find(f, name) != i) abort(); /* names are unique: find is exact */
        sn_tensor *t = NULL;
        if (sn_safetensors_read(f, name, &t) == SN_OK) sn_tensor_destroy(t);

        /* read_into with the tensor's own element count. A size-0 dimension
         * makes it 0 whatever the others say; otherwise the product is bounded
         * by the data buffer, which the reader checked against the file. */
        const int64_t *dims = sn_safetensors_dims(f, i);
        size_t count = 1;
        for (int d = 0; d < sn_safetensors_ndim(f, i); d++)
            if (dims[d] == 0) count = 0;
        for (int d = 0; d < sn_safetensors_ndim(f, i) && count; d++) count *= (size_t)dims[d];
        float *dst = malloc(count * sizeof *dst + 1);
        if (dst) {
            (void)sn_safetensors_read_into(f, i, dst, count);
            free(dst);
        }
    }
    for (int i = 0; i < sn_safetensors_metadata_count(f); i++) {
        const char *key = sn_safetensors_metadata_key(f, i);
        if (strcmp(sn_safetensors_metadata(f, key), sn_safetensors_metadata_value(f, i)) != 0)
            abort(); /* keys are unique: lookup finds this entry */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = sn_fuzz_input_file(data, size, ".safetensors");
    sn_safetensors *f = NULL;
    if (sn_safetensors_open(&f, path) == SN_OK) {
        read_every_tensor(f);
        sn_safetensors_close(f);
    } else if (f != NULL) {
        abort(); /* the contract: *out is NULL on failure */
    }
    return 0;
}
