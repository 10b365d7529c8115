/* A temporary directory for the files a test writes: made by the group set-up,
 * removed with everything in it by the group teardown.
 *
 *     return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
 *     ...
 *     FILE *fp = fopen(sn_temp_path("data.csv"), "wb");
 */
#ifndef SN_TEST_TEMP_DIR_H
#define SN_TEST_TEMP_DIR_H

/* cmocka group fixtures: make /tmp/sn_test_XXXXXX; remove it recursively. */
int sn_temp_dir_setup(void **state);
int sn_temp_dir_teardown(void **state);

/* The directory made by sn_temp_dir_setup. */
const char *sn_temp_dir(void);

/* dir/name, in one of 4 static buffers used in turn (so that a few paths can
 * be live at once). */
const char *sn_temp_path(const char *name);

#endif
