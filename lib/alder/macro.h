/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small compiler helpers used everywhere in libalder.
 */
#pragma once

#define ALDER_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#define ALDER_WUR __attribute__((warn_unused_result))
#define ALDER_UNUSED __attribute__((unused))

#define ALDER_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ALDER_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ALDER_MAX(a, b) ((a) > (b) ? (a) : (b))
