/*
 * sinapsi/safetensors.h: reading and writing safetensors files.
 *
 * safetensors (https://huggingface.co/docs/safetensors) is the format of
 * sinapsi's models, checkpoints and golden files, and the one PyTorch users save
 * with safetensors.torch.save_file. A file is
 *
 *     8 bytes     N, the header length, a little-endian u64
 *     N bytes     a JSON object: {"name": {"dtype": "F32", "shape": [2, 3],
 *                 "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}
 *     the rest    the data buffer; each tensor's bytes, little-endian and
 *                 row-major, at [begin, end) of it
 *
 * Reading a model, then its tensors as float32:
 *
 *     sn_safetensors *f;
 *     if (sn_safetensors_open(&f, "model.safetensors") != SN_OK) {
 *         fprintf(stderr, "sinapsi: %s\n", sn_last_error());  // names the file
 *         return 1;
 *     }
 *     const char *spec = sn_safetensors_metadata(f, "spec");  // NULL if absent
 *     for (int i = 0; i < sn_safetensors_count(f); i++)
 *         printf("%s %s\n", sn_safetensors_name(f, i), sn_safetensors_dtype(f, i));
 *     sn_tensor *w;
 *     if (sn_safetensors_read(f, "0.weight", &w) == SN_OK) {
 *         ...                                   // w->shape, w->data (float32)
 *         sn_tensor_destroy(w);                 // the caller owns w
 *     }
 *     sn_safetensors_close(f);
 *
 * and writing one (atomically: a crash leaves the old file or the new one):
 *
 *     const char *names[] = {"0.weight", "0.bias"};
 *     const sn_tensor *tensors[] = {weight, bias};
 *     const char *keys[] = {"spec"}, *values[] = {"Linear(2, 8)"};
 *     sn_safetensors_write("model.safetensors", 2, names, tensors, 1, keys, values);
 *
 * The reader treats the file as hostile and applies the rules of the reference
 * implementation (the safetensors crate) before it trusts a single offset: the
 * header is at most 100 MB and fits in the file; it is a JSON object; every
 * entry has a known dtype, a shape of non-negative integers and data_offsets
 * [begin, end] with begin <= end; end - begin is exactly the bytes that the
 * shape and dtype need (products checked for overflow); the tensors' ranges,
 * sorted, are contiguous, start at 0 and end exactly at the end of the file;
 * no name appears twice; __metadata__ maps strings to strings. Any failure is
 * an SN_ERR_FORMAT (or SN_ERR_IO) whose message names the file and what is
 * wrong, such as
 *     model.safetensors: tensor '0.weight': data_offsets [0, 12] span 12 bytes
 *     but shape [2, 3] of F32 needs 24
 *
 * Conversions to float32 on reading: F32 as is; F64 rounded to nearest (finite
 * values beyond float range become +-inf, as torch's .float()); F16 and BF16
 * exactly, subnormals, infinities and NaNs included; BOOL, I8, U8, I16, U16,
 * I32, U32, I64 and U64 when every value is exactly representable in float32
 * (|v| <= 2^24 or a multiple of a large enough power of two), otherwise
 * SN_ERR_RANGE naming the element. F8_E4M3 and F8_E5M2 are understood (the file
 * opens) but not converted (SN_ERR_UNSUPPORTED). The writer writes F32 only.
 *
 * sn_tensor has at most 4 dimensions and no empty dimension; a file may hold
 * tensors of up to 8 dimensions, or with a size-0 dimension: such a file opens,
 * the tensor is listed with its shape (sn_safetensors_ndim/dims), and reading it
 * as an sn_tensor fails with SN_ERR_UNSUPPORTED.
 *
 * Tensors are indexed 0..count-1 in the order of their data in the file; the
 * writer lays them out in the order given, so a round trip keeps the order.
 * Byte order: sinapsi supports little-endian hosts only (checked at compile time).
 */
#ifndef SINAPSI_SAFETENSORS_H
#define SINAPSI_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "sinapsi/status.h"
#include "sinapsi/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest header the reader accepts, as the safetensors crate (100 MB). */
#define SN_SAFETENSORS_MAX_HEADER 100000000u

/* The most dimensions a tensor may have in a file. */
#define SN_SAFETENSORS_MAX_DIMS 8

/* An open, validated file: the header parsed and the whole data buffer in memory. */
typedef struct sn_safetensors sn_safetensors;

/* Reads and validates the whole file at path. On success *out is a handle that
 * the caller closes with sn_safetensors_close; on failure *out is NULL and the
 * status is SN_ERR_IO (cannot open or read), SN_ERR_FORMAT (not a valid
 * safetensors file) or SN_ERR_NOMEM. The data buffer is read only once the
 * header has been validated against the file's size. */
sn_status sn_safetensors_open(sn_safetensors **out, const char *path);

/* Frees the handle and everything it owns; NULL is allowed. Every string and
 * pointer returned by the functions below dies with the handle. */
void sn_safetensors_close(sn_safetensors *f);

/* The path given to sn_safetensors_open (owned by the handle). */
const char *sn_safetensors_path(const sn_safetensors *f);

/* Number of tensors (not counting __metadata__). */
int sn_safetensors_count(const sn_safetensors *f);

/* Name of tensor i (0 <= i < count), or NULL when i is out of range. */
const char *sn_safetensors_name(const sn_safetensors *f, int i);

/* Index of the tensor called name, or -1 if there is none. O(log count). */
int sn_safetensors_find(const sn_safetensors *f, const char *name);

/* The dtype of tensor i as written in the file ("F32", "BF16", "I64"...), or
 * NULL when i is out of range. */
const char *sn_safetensors_dtype(const sn_safetensors *f, int i);

/* Number of dimensions of tensor i (0..8; 0 is a scalar), -1 if out of range. */
int sn_safetensors_ndim(const sn_safetensors *f, int i);

/* The ndim sizes of tensor i (owned by the handle), or NULL if out of range. */
const int64_t *sn_safetensors_dims(const sn_safetensors *f, int i);

/* Shape of tensor i as an sn_shape: SN_ERR_UNSUPPORTED when it has more than 4
 * dimensions or an empty one, SN_ERR_RANGE when i is out of range. */
sn_status sn_safetensors_shape(const sn_safetensors *f, int i, sn_shape *out);

/* Reads the tensor called name, converted to float32. On success *out is a new
 * tensor that the caller frees with sn_tensor_destroy; on failure *out is NULL.
 * SN_ERR_RANGE if there is no such tensor or a value is not representable,
 * SN_ERR_UNSUPPORTED for a dtype or shape that sn_tensor cannot hold. */
sn_status sn_safetensors_read(const sn_safetensors *f, const char *name, sn_tensor **out);

/* Converts tensor i to float32 into dst, a caller's buffer of exactly count
 * floats (count must equal the tensor's element count): loads a checkpoint
 * straight into a parameter block. Empty tensors (a size-0 dim) need count 0. */
sn_status sn_safetensors_read_into(const sn_safetensors *f, int i, float *dst, size_t count);

/* The value of key in __metadata__, or NULL if absent. Owned by the handle. */
const char *sn_safetensors_metadata(const sn_safetensors *f, const char *key);

/* Metadata entries in the order of the file, for listing them all. */
int sn_safetensors_metadata_count(const sn_safetensors *f);
const char *sn_safetensors_metadata_key(const sn_safetensors *f, int i);
const char *sn_safetensors_metadata_value(const sn_safetensors *f, int i);

/* Writes n float32 tensors and n_meta metadata entries to path, atomically: the
 * bytes go to a new temporary file in the same directory, which is fsynced,
 * renamed over path, and the directory fsynced, so that a crash never leaves
 * a half-written file under path. Names must be non-empty, distinct and not
 * "__metadata__"; metadata keys distinct. A tensor may be a view the caller
 * fills in ({shape, data} pointing into a parameter block): only its shape and
 * data are read. The header is padded with spaces to a multiple of 8 bytes, as
 * the reference implementation does, so the data buffer is 8-byte aligned.
 * n_meta may be 0 with NULL arrays. On any failure before the rename, path is
 * untouched and the temporary file removed; only the final directory fsync can
 * fail after it (SN_ERR_IO, the new file in place but perhaps not yet durable). */
sn_status sn_safetensors_write(const char *path, int n, const char *const *names,
                               const sn_tensor *const *tensors, int n_meta,
                               const char *const *meta_keys, const char *const *meta_values);

#ifdef __cplusplus
}
#endif
#endif
