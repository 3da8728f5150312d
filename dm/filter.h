/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Query parameters of a Pelion-style list call: limit, after, order,
 * include=total_count and filters "<field>__eq|__neq|__in|__nin|__lte|__gte"
 * (a bare "<field>=v" is __eq). Values of __in/__nin are comma-separated;
 * time fields take ISO 8601 ("2024-05-01T12:00:00Z") or milliseconds.
 */
#pragma once

#include "alder/error.h"
#include "store.h"

struct dm_param {
        const char *key;
        const char *value;
};

/*
 * Fills q (cleared first). On error, *ret_field names the parameter at fault
 * (a pointer into params) for the error object's "fields".
 */
int dm_query_parse(const struct dm_param *params, size_t n, struct dm_query *q, const char **ret_field,
                   alder_error **err) ALDER_WUR;
