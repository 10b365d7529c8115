#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SN_ERROR_CAP 512

static _Thread_local char last_message[SN_ERROR_CAP];
static _Thread_local sn_status last_status = SN_OK;

const char *sn_status_string(sn_status status) {
    switch (status) {
    case SN_OK:
        return "ok";
    case SN_ERR_INVALID_ARG:
        return "invalid argument";
    case SN_ERR_SHAPE:
        return "shape error";
    case SN_ERR_NOMEM:
        return "out of memory";
    case SN_ERR_IO:
        return "i/o error";
    case SN_ERR_FORMAT:
        return "format error";
    case SN_ERR_RANGE:
        return "value out of range";
    case SN_ERR_STATE:
        return "wrong state";
    case SN_ERR_NUMERIC:
        return "non-finite value";
    case SN_ERR_UNSUPPORTED:
        return "unsupported";
    }
    return "unknown status";
}

const char *sn_last_error(void) {
    return last_message;
}

sn_status sn_last_status(void) {
    return last_status;
}

void sn_clear_error(void) {
    last_message[0] = '\0';
    last_status = SN_OK;
}

sn_status sn_error(sn_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

sn_status sn_error_prefix(const char *fmt, ...) {
    char prefix[SN_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the message right and put the prefix first; an over-long result is
     * cut at the end, so the prefix (where the error is) always survives. */
    size_t plen = strlen(prefix), mlen = strlen(last_message);
    if (plen > SN_ERROR_CAP - 1) plen = SN_ERROR_CAP - 1;
    if (plen + mlen > SN_ERROR_CAP - 1) mlen = SN_ERROR_CAP - 1 - plen;
    memmove(last_message + plen, last_message, mlen);
    memcpy(last_message, prefix, plen);
    last_message[plen + mlen] = '\0';
    return last_status;
}
