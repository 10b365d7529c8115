/* One temporary file per fuzzing process (see input_file.h). */
#define _DEFAULT_SOURCE /* mkstemps, a glibc/BSD extension */
#include "input_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char input_path[4096];
static int input_fd = -1;

static void remove_input_file(void) {
    if (input_fd >= 0) unlink(input_path);
}

static const char *temp_directory(void) {
    struct stat info;
    if (stat("/dev/shm", &info) == 0 && S_ISDIR(info.st_mode) && access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    const char *tmpdir = getenv("TMPDIR");
    return tmpdir && *tmpdir ? tmpdir : "/tmp";
}

static void create_input_file(const char *suffix) {
    int n = snprintf(input_path, sizeof input_path, "%s/sinapsi-fuzz-XXXXXX%s", temp_directory(),
                     suffix);
    if (n < 0 || (size_t)n >= sizeof input_path) {
        fprintf(stderr, "fuzz: temporary path too long\n");
        abort();
    }
    input_fd = mkstemps(input_path, (int)strlen(suffix));
    if (input_fd < 0) {
        perror("fuzz: cannot create a temporary file");
        abort();
    }
    atexit(remove_input_file);
}

const char *sn_fuzz_input_file(const uint8_t *data, size_t size, const char *suffix) {
    if (input_fd < 0) create_input_file(suffix);
    if (ftruncate(input_fd, 0) != 0) {
        perror("fuzz: cannot truncate the temporary file");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(input_fd, data + done, size - done, (off_t)done);
        if (w <= 0) {
            perror("fuzz: cannot write the temporary file");
            abort();
        }
        done += (size_t)w;
    }
    return input_path;
}
