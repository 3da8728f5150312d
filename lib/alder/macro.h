/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small compiler helpers used everywhere in libalder.
 */
#pragma once

#include <stddef.h>

#define ALDER_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#define ALDER_WUR __attribute__((warn_unused_result))
#define ALDER_UNUSED __attribute__((unused))

#define ALDER_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ALDER_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ALDER_MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Name of value i in a table of names indexed by an enum (gaps allowed, as
 * designated initializers leave them): NULL when i is outside the table or
 * has no name. The table's size comes from its type, so it cannot be passed
 * wrong.
 */
#define ALDER_NAME_OF(table, i) alder_name_of_((table), ALDER_ARRAY_SIZE(table), (long) (i))

static inline const char *alder_name_of_(const char *const *names, size_t n, long i)
{
        return i >= 0 && (size_t) i < n ? names[i] : NULL;
}
