/* One forward and backward of a test graph, with its results gathered. */
#ifndef SN_TEST_GRAPH_RUN_H
#define SN_TEST_GRAPH_RUN_H

#include <stddef.h>

#include "sinapsi/graph.h"

/* Runs forward, zero_grad and backward from node `out` seeded with dy (out's
 * shape), failing the test on an error; returns out's value followed by the
 * gradients of nodes[0..n) (SN_NONE entries skipped), back to back in one
 * malloc'd array of *count floats that the caller frees. */
float *sn_test_forward_backward(sn_graph *g, int out, const float *dy, const int *nodes, int n,
                                size_t *count);

#endif
