/*
 * libFuzzer target: the model spec parser, on the bytes as given (not
 * NUL-terminated, so reading past the end shows under ASan). When a spec
 * parses, its canonical text (sn_spec_format) must parse back to the same
 * modules: a round trip that fails is a finding, reported by abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinapsi/model.h"

static int same_module(const sn_module *a, const sn_module *b) {
    return a->kind == b->kind && a->in_features == b->in_features &&
           a->out_features == b->out_features && a->in_channels == b->in_channels &&
           a->out_channels == b->out_channels && a->bias == b->bias &&
           a->count_include_pad == b->count_include_pad && a->p == b->p &&
           a->negative_slope == b->negative_slope &&
           memcmp(a->kernel, b->kernel, sizeof a->kernel) == 0 &&
           memcmp(a->stride, b->stride, sizeof a->stride) == 0 &&
           memcmp(a->padding, b->padding, sizeof a->padding) == 0;
}

static void check_round_trip(const sn_module *modules, int count) {
    char *text = NULL;
    if (sn_spec_format(modules, count, &text) != SN_OK) {
        fprintf(stderr, "sn_spec_format failed on a parsed spec: %s\n", sn_last_error());
        abort();
    }
    sn_module *back = NULL;
    int n_back = 0;
    if (sn_spec_parse(text, strlen(text), "canonical", &back, &n_back) != SN_OK) {
        fprintf(stderr, "the canonical text does not parse: %s\n%s\n", sn_last_error(), text);
        abort();
    }
    if (n_back != count) abort();
    for (int i = 0; i < count; i++)
        if (!same_module(&modules[i], &back[i])) {
            fprintf(stderr, "module %d differs after a round trip through:\n%s\n", i, text);
            abort();
        }
    free(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sn_module *modules = NULL;
    int count = 0;
    if (sn_spec_parse((const char *)data, size, "fuzz", &modules, &count) == SN_OK) {
        check_round_trip(modules, count);
        free(modules);
    } else if (modules != NULL || count != 0) {
        abort(); /* nothing is returned on failure */
    }
    return 0;
}
