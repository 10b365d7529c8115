/*
 * The readers of files (safetensors, IDX, CSV) take a path, while libFuzzer
 * hands each input over as bytes in memory. This helper keeps one temporary
 * file per process, in /dev/shm when it exists (no disk I/O per input) or else
 * in $TMPDIR or /tmp, rewrites it with each input, and removes it at exit.
 */
#ifndef SN_FUZZ_INPUT_FILE_H
#define SN_FUZZ_INPUT_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..size) to this process's temporary file, whose name ends in
 * suffix (".csv": the CSV loader chooses the reader by extension), and returns
 * its path. The suffix must be the same on every call. Aborts if the file
 * cannot be written: that is a broken fuzzing set-up, not a finding. */
const char *sn_fuzz_input_file(const uint8_t *data, size_t size, const char *suffix);

#endif
