/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "util.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX     1000

static const char *const op_names[] = {
        [DM_OP_EQ] = "eq",   [DM_OP_NEQ] = "neq", [DM_OP_IN] = "in",
        [DM_OP_NIN] = "nin", [DM_OP_LTE] = "lte", [DM_OP_GTE] = "gte",
};

static int parse_value(struct dm_filter *f, const char *key, const char *v, alder_error **err)
{
        size_t i = f->n_values;
        if (i == DM_FILTER_VALUES_MAX)
                return alder_error_set(err, E2BIG, "%s: more than %d values", key, DM_FILTER_VALUES_MAX);
        switch (f->field->type) {
        case DM_FIELD_TEXT:
                f->text[i] = strdup(v);
                if (!f->text[i])
                        return alder_error_set(err, ENOMEM, "out of memory");
                break;
        case DM_FIELD_TIME:
                if (dm_time_parse(v, &f->num[i]) < 0)
                        return alder_error_set(err, EINVAL,
                                               "%s: '%s' is not a time (2024-05-01T12:00:00Z or milliseconds)", key, v);
                break;
        case DM_FIELD_INT: {
                char *end;
                errno = 0;
                f->num[i] = strtoll(v, &end, 10);
                if (errno || !*v || *end)
                        return alder_error_set(err, EINVAL, "%s: '%s' is not an integer", key, v);
                break;
        }
        }
        f->n_values++;
        return 0;
}

static int parse_filter(struct dm_query *q, const char *key, const char *value, alder_error **err)
{
        char name[64];
        const char *sep = strstr(key, "__");
        size_t len = sep ? (size_t) (sep - key) : strlen(key);
        if (len >= sizeof(name))
                return alder_error_set(err, EINVAL, "%s: unknown parameter", key);
        memcpy(name, key, len);
        name[len] = '\0';
        const struct dm_field *field = dm_store_device_field(name);
        if (!field)
                return alder_error_set(err, EINVAL, "%s: unknown parameter or filter field", key);
        enum dm_filter_op op = DM_OP_EQ;
        if (sep) {
                size_t k;
                for (k = 0; k < ALDER_ARRAY_SIZE(op_names); k++)
                        if (strcmp(sep + 2, op_names[k]) == 0)
                                break;
                if (k == ALDER_ARRAY_SIZE(op_names))
                        return alder_error_set(err, EINVAL, "%s: unknown operator '%s' (eq, neq, in, nin, lte, gte)",
                                               key, sep + 2);
                op = (enum dm_filter_op) k;
        }
        if (q->n_filters == DM_FILTERS_MAX)
                return alder_error_set(err, E2BIG, "%s: more than %d filters", key, DM_FILTERS_MAX);
        struct dm_filter *f = &q->filters[q->n_filters++];
        *f = (struct dm_filter){.field = field, .op = op};
        if (op != DM_OP_IN && op != DM_OP_NIN)
                return parse_value(f, key, value, err);
        _cleanup_free_ char *copy = strdup(value);
        if (!copy)
                return alder_error_set(err, ENOMEM, "out of memory");
        char *save = NULL;
        for (char *v = strtok_r(copy, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
                int r = parse_value(f, key, v, err);
                if (r < 0)
                        return r;
        }
        if (f->n_values == 0)
                return alder_error_set(err, EINVAL, "%s: expected a comma-separated list of values", key);
        return 0;
}

static int parse_one(struct dm_query *q, const char *key, const char *value, alder_error **err)
{
        if (strcmp(key, "limit") == 0) {
                char *end;
                long v = strtol(value, &end, 10);
                if (!*value || *end || v < 2 || v > LIMIT_MAX)
                        return alder_error_set(err, EINVAL, "limit: expected 2 to %d", LIMIT_MAX);
                q->limit = (unsigned) v;
        } else if (strcmp(key, "after") == 0) {
                free(q->after);
                q->after = strdup(value);
                if (!q->after)
                        return alder_error_set(err, ENOMEM, "out of memory");
        } else if (strcmp(key, "order") == 0) {
                if (strcmp(value, "ASC") != 0 && strcmp(value, "DESC") != 0)
                        return alder_error_set(err, EINVAL, "order: expected ASC or DESC");
                q->descending = strcmp(value, "DESC") == 0;
        } else if (strcmp(key, "include") == 0) {
                if (strcmp(value, "total_count") != 0)
                        return alder_error_set(err, EINVAL, "include: only total_count is known");
                q->total_count = true;
        } else {
                return parse_filter(q, key, value, err);
        }
        return 0;
}

int dm_query_parse(const struct dm_param *params, size_t n, struct dm_query *q, const char **ret_field,
                   alder_error **err)
{
        dm_query_clear(q);
        q->limit = LIMIT_DEFAULT;
        for (size_t i = 0; i < n; i++) {
                int r = parse_one(q, params[i].key, params[i].value ? params[i].value : "", err);
                if (r < 0) {
                        *ret_field = params[i].key;
                        dm_query_clear(q);
                        return r;
                }
        }
        return 0;
}
