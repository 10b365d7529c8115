/* Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_ (norm 2). */
#include "sinapsi/optim.h"

#include <math.h>

double sn_clip_grad_norm(float *grads, size_t n, double max_norm) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)grads[i] * grads[i];
    double total = sqrt(sum);
    /* torch: clip_coef = max_norm / (total + 1e-6), applied when below 1. */
    double coef = max_norm / (total + 1e-6);
    if (isfinite(total) && coef < 1.0) {
        float c = (float)coef;
        for (size_t i = 0; i < n; i++) grads[i] *= c;
    }
    return total;
}
