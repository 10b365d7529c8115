#include "support/graph_run.h"

#include <stdlib.h>
#include <string.h>

#include "support/test_support.h"

static size_t numel(const sn_graph *g, int node) {
    return (size_t)sn_shape_numel(sn_graph_shape(g, node));
}

float *sn_test_forward_backward(sn_graph *g, int out, const float *dy, const int *nodes, int n,
                                size_t *count) {
    SN_ASSERT_OK(sn_graph_forward(g));
    sn_graph_zero_grad(g);
    SN_ASSERT_OK(sn_graph_backward_from(g, out, dy));
    size_t total = numel(g, out);
    for (int i = 0; i < n; i++)
        if (nodes[i] != SN_NONE) total += numel(g, nodes[i]);
    float *result = malloc(total * sizeof *result);
    assert_non_null(result);
    size_t at = numel(g, out);
    memcpy(result, sn_graph_value(g, out), at * sizeof *result);
    for (int i = 0; i < n; i++) {
        if (nodes[i] == SN_NONE) continue;
        const float *grad = sn_graph_grad(g, nodes[i]);
        assert_non_null(grad);
        memcpy(result + at, grad, numel(g, nodes[i]) * sizeof *result);
        at += numel(g, nodes[i]);
    }
    *count = total;
    return result;
}
