/* Private layout of sn_optim, shared by optim.c, sgd.c and adam.c. */
#ifndef SN_OPTIM_INTERNAL_H
#define SN_OPTIM_INTERNAL_H

#include "core/error.h"
#include "sinapsi/optim.h"

struct sn_optim {
    sn_optim_opts opts;
    size_t n;        /* parameters */
    int64_t steps;   /* updates taken, counting the current one inside an update */
    float *state[2]; /* SGD: momentum buffer (or velocity); Adam: exp_avg, exp_avg_sq; (n) */
};

void sn_sgd_update(sn_optim *o, float *theta, const float *grad, double lr);
void sn_adam_update(sn_optim *o, float *theta, const float *grad, double lr);

#endif
