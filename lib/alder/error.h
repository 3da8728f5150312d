/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error objects.
 *
 * Fallible functions return an int: 0 (or a non-negative value) on success, a
 * negative errno on failure. They also fill `alder_error **err` with a message
 * that says what failed and why. Callers that add context wrap the error:
 *
 *     r = alder_json_load_file(path, 1 << 20, &root, err);
 *     if (r < 0)
 *             return alder_error_wrap(err, "load app manifest");
 *
 * which renders as "load app manifest: /data/x.json:3:7: unexpected token".
 *
 * The object keeps the chain of messages (outermost context first) and the
 * errno of the innermost failure. `err` may be NULL when the caller does not
 * want the message; the return code is still negative.
 *
 * Library code never logs (systemd's rule): it reports, the caller decides.
 */
#pragma once

#include <stdarg.h>

#include "cleanup.h"
#include "macro.h"

typedef struct alder_error alder_error;

/*
 * Sets *err to a new error with errno `errnum` (positive or negative, the sign is
 * ignored) and the formatted message. Returns -errnum (or -EINVAL when errnum is
 * 0, so a caller can always `return alder_error_set(...)`).
 * If *err already holds an error, the new one replaces it.
 */
int alder_error_set(alder_error **err, int errnum, const char *fmt, ...) ALDER_PRINTF(3, 4);

/* Like alder_error_set(), and appends ": <strerror(errnum)>" to the message. */
int alder_error_sys(alder_error **err, int errnum, const char *fmt, ...) ALDER_PRINTF(3, 4);

/*
 * Adds a context message in front of the existing chain and returns the error's
 * negative errno. With no error set (or err == NULL) it creates one with EIO, so
 * a wrap is never silently lost.
 */
int alder_error_wrap(alder_error **err, const char *fmt, ...) ALDER_PRINTF(2, 3);
int alder_error_vwrap(alder_error **err, const char *fmt, va_list ap) ALDER_PRINTF(2, 0);

/* Positive errno of the innermost failure (0 if err is NULL). */
int alder_error_errno(const alder_error *err);

/* Number of messages in the chain. */
unsigned alder_error_depth(const alder_error *err);

/* i-th message of the chain, 0 = outermost context; NULL when out of range. */
const char *alder_error_part(const alder_error *err, unsigned i);

/*
 * The whole chain joined with ": ", outermost first. The string belongs to the
 * error object (built once, cached) and lives as long as it. Never NULL.
 */
const char *alder_error_message(alder_error *err);

void alder_error_free(alder_error *err);

/* Frees *err and sets it to NULL. */
void alder_error_clear(alder_error **err);

static inline void alder_error_freep(alder_error **err)
{
        alder_error_clear(err);
}

#define _cleanup_error_ _cleanup_(alder_error_freep)
