/* Shared helpers of the tests: cmocka includes and small assertions. */
#ifndef SN_TEST_SUPPORT_H
#define SN_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "sinapsi/sinapsi.h"

/* SN_ASAN is defined under AddressSanitizer (gcc or clang), which owns malloc
 * and reserves huge address space: tests that count allocations or cap the
 * address space skip themselves then. */
#if defined(__SANITIZE_ADDRESS__)
#define SN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SN_ASAN 1
#endif
#endif

/* Fails the test with sn_last_error() when st is not SN_OK. */
#define SN_ASSERT_OK(expr)                                                                         \
    do {                                                                                           \
        sn_status st_ = (expr);                                                                    \
        if (st_ != SN_OK) fail_msg("%s -> %s: %s", #expr, sn_status_string(st_), sn_last_error()); \
    } while (0)

#endif
