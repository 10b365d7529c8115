/* Private helpers to record the last error (see sinapsi/status.h). */
#ifndef SN_CORE_ERROR_H
#define SN_CORE_ERROR_H

#include "sinapsi/status.h"

#if defined(__GNUC__)
#define SN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SN_PRINTF(a, b)
#endif

/* Records status and a printf-style message; returns status so that callers
 * can write `return sn_error(SN_ERR_SHAPE, "...", ...);`. */
sn_status sn_error(sn_status status, const char *fmt, ...) SN_PRINTF(2, 3);

/* Puts a printf-style prefix before the current message ("node 3 (conv2d): ")
 * and returns the current status. */
sn_status sn_error_prefix(const char *fmt, ...) SN_PRINTF(1, 2);

#endif
