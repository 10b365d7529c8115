/* Temporary directory of a test file (see temp_dir.h). */
#include "support/temp_dir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char temp_dir[64];

int sn_temp_dir_setup(void **state) {
    (void)state;
    snprintf(temp_dir, sizeof temp_dir, "/tmp/sn_test_XXXXXX");
    return mkdtemp(temp_dir) ? 0 : -1;
}

/* Removes dir and what is in it; a test writes no links, so an entry that
 * unlink refuses is a directory. */
static int remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    char path[1024];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) != 0) remove_tree(path);
    }
    closedir(d);
    return rmdir(dir);
}

int sn_temp_dir_teardown(void **state) {
    (void)state;
    return remove_tree(temp_dir);
}

const char *sn_temp_dir(void) {
    return temp_dir;
}

const char *sn_temp_path(const char *name) {
    static char paths[4][1024];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", temp_dir, name);
    return p;
}
