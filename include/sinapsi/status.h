/*
 * sinapsi/status.h: status codes and the last-error message.
 *
 * Every library function that can fail returns an sn_status (SN_OK == 0) and,
 * on failure, leaves a one-line message that says what was wrong:
 *
 *     if (sn_graph_compile(g) != SN_OK)
 *         fprintf(stderr, "sinapsi: %s\n", sn_last_error());
 *
 * The message is kept per thread (C11 _Thread_local), so threads do not
 * overwrite each other's errors. The library never exits or aborts on bad input.
 */
#ifndef SINAPSI_STATUS_H
#define SINAPSI_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sn_status {
    SN_OK = 0,
    SN_ERR_INVALID_ARG, /* a NULL pointer, a negative size, an unknown option */
    SN_ERR_SHAPE,       /* shapes that do not fit together */
    SN_ERR_NOMEM,       /* an allocation failed, or a size overflowed */
    SN_ERR_IO,          /* open/read/write/rename failed */
    SN_ERR_FORMAT,      /* a file that is not what it claims to be */
    SN_ERR_RANGE,       /* a value out of its range (a label, an index) */
    SN_ERR_STATE,       /* a call at the wrong time (forward before compile) */
    SN_ERR_NUMERIC,     /* a NaN or infinity where a finite number is needed */
    SN_ERR_UNSUPPORTED  /* valid input that sinapsi cannot honour */
} sn_status;

/* A short fixed name for a status ("shape error"). Never NULL. */
const char *sn_status_string(sn_status status);

/* The message of the last failure on this thread ("" if none). The string is
 * owned by the library and valid until the next failing call on this thread. */
const char *sn_last_error(void);

/* The status of the last failure on this thread (SN_OK if none). */
sn_status sn_last_status(void);

/* Forget the last error on this thread. */
void sn_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
