#include "sinapsi/sinapsi.h"

#include "backend/cpu/gemm.h"

const char *sn_version(void) {
    return SINAPSI_VERSION;
}

const char *sn_gemm_backend(void) {
    return sn_sgemm_backend();
}
