/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes what alder-dm reads from a device's Register/Update: the Uri-Query
 * parameters and the link-format object list. Input: query options separated
 * by '&' up to the first newline, then the payload.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alder/json.h"
#include "register.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *nl = memchr(data, '\n', size);
        size_t qlen = nl ? (size_t) (nl - data) : size;
        _cleanup_free_ char *q = strndup((const char *) data, qlen);
        if (!q)
                return 0;
        const char *opts[DM_REG_QUERY_MAX + 2];
        size_t n = 0;
        for (char *save = NULL, *o = strtok_r(q, "&", &save); o && n < DM_REG_QUERY_MAX + 2;
             o = strtok_r(NULL, "&", &save))
                opts[n++] = o;
        static const char *const versions[] = {NULL, "1.0", "1.1"};
        for (size_t v = 0; v < 3; v++) {
                _cleanup_error_ alder_error *err = NULL;
                struct dm_reg_params p = {0};
                if (dm_reg_params_parse(versions[v], opts, n, &p, &err) >= 0)
                        dm_reg_params_clear(&p);
                else
                        (void) alder_error_message(err);
        }
        if (nl) {
                _cleanup_error_ alder_error *err = NULL;
                _cleanup_json_ json_t *objects = NULL;
                if (dm_reg_objects_parse((const char *) nl + 1, size - qlen - 1, &objects, &err) < 0)
                        (void) alder_error_message(err);
        }
        return 0;
}
