/* Learning-rate schedules in closed form (sinapsi/optim.h), after torch's
 * StepLR, CosineAnnealingLR (the closed form of its docs) and LinearLR. */
#include "core/error.h"
#include "sinapsi/optim.h"

#include <math.h>
#include <string.h>

#define SN_PI 3.14159265358979323846

static const char *const schedule_names[] = {"constant", "step", "cosine"};

sn_schedule sn_schedule_constant(double base_lr) {
    sn_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = SN_SCHEDULE_CONSTANT;
    s.base_lr = base_lr;
    s.step_size = 1;
    s.gamma = 0.1;
    s.total_epochs = 1;
    return s;
}

sn_status sn_schedule_parse(const char *name, sn_schedule_kind *out) {
    for (int k = 0; k < 3; k++)
        if (name && !strcmp(name, schedule_names[k])) {
            *out = (sn_schedule_kind)k;
            return SN_OK;
        }
    return sn_error(SN_ERR_INVALID_ARG, "unknown schedule '%s' (constant, step or cosine)",
                    name ? name : "");
}

const char *sn_schedule_name(sn_schedule_kind kind) {
    return (unsigned)kind < 3 ? schedule_names[kind] : "?";
}

double sn_schedule_lr(const sn_schedule *s, int64_t step, int epoch) {
    double lr = s->base_lr;
    switch (s->kind) {
    case SN_SCHEDULE_CONSTANT:
        break;
    case SN_SCHEDULE_STEP:
        lr *= pow((double)s->gamma, (double)(epoch / (s->step_size > 0 ? s->step_size : 1)));
        break;
    case SN_SCHEDULE_COSINE: {
        /* Past T_max the closed form rises again, as torch's recursive one does. */
        int total = s->total_epochs > 0 ? s->total_epochs : 1;
        lr = s->eta_min + (s->base_lr - s->eta_min) * (1.0 + cos(SN_PI * epoch / total)) / 2.0;
        break;
    }
    }
    if (s->warmup_steps > 0) {
        /* LinearLR(start_factor = 1/W, end_factor = 1, total_iters = W). */
        double w = (double)s->warmup_steps, start = 1.0 / w;
        double t = step < s->warmup_steps ? (double)step : w;
        lr *= start + (1.0 - start) * t / w;
    }
    return lr;
}
