/*
 * libFuzzer target: the IDX reader (plain and gzip). Each input is written to
 * a file and read; when the reader accepts it, the claimed element count must
 * match the dimensions, and every element is touched, so that a buffer shorter
 * than the header claims shows up under ASan.
 */
#include <stdint.h>
#include <stdlib.h>

#include "input_file.h"
#include "sinapsi/data.h"

static void check_idx(const sn_idx *idx) {
    if (idx->ndim < 1 || idx->ndim > 4) abort();
    int64_t count = 1;
    for (int d = 0; d < idx->ndim; d++) count *= idx->dim[d];
    if (count != idx->count || (idx->u8 == NULL) == (idx->f32 == NULL)) abort();
    volatile unsigned sink = 0;
    for (int64_t i = 0; i < idx->count; i++)
        sink += idx->u8 ? idx->u8[i] : (unsigned)(idx->f32[i] != idx->f32[i]);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = sn_fuzz_input_file(data, size, "-idx");
    sn_idx *idx = NULL;
    if (sn_idx_read(path, &idx) == SN_OK) {
        check_idx(idx);
        sn_idx_free(idx);
    } else if (idx != NULL) {
        abort(); /* the contract: *out is NULL on failure */
    }
    return 0;
}
