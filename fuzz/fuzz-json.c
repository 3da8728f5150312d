/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the JSON helpers on arbitrary bytes: parsing (with duplicate-key
 * rejection) and the typed field getters every manifest and request reader uses.
 */
#include <stddef.h>
#include <stdint.h>

#include "alder/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void probe_fields(const json_t *root)
{
        static const char *const fields[] = {"name", "version", "runtime.user", "runtime.env", "a.b.c", "id"};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(fields); i++) {
                _cleanup_error_ alder_error *err = NULL;
                const char *s;
                int64_t n;
                bool b;
                json_t *v;
                _cleanup_strv_ char **strv = NULL;
                (void) alder_json_get_string(root, "fuzz", fields[i], ALDER_JSON_OPTIONAL, &s, &err);
                alder_error_clear(&err);
                (void) alder_json_get_int_range(root, "fuzz", fields[i], 0, -5, 5, &n, &err);
                alder_error_clear(&err);
                (void) alder_json_get_bool(root, "fuzz", fields[i], 0, &b, &err);
                alder_error_clear(&err);
                (void) alder_json_get_object(root, "fuzz", fields[i], 0, &v, &err);
                alder_error_clear(&err);
                (void) alder_json_get_strv(root, "fuzz", fields[i], 0, 64, &strv, &err);
        }
        static const char *const allowed[] = {"name", "version", NULL};
        _cleanup_error_ alder_error *err = NULL;
        (void) alder_json_check_keys(root, "fuzz", NULL, allowed, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_json_ json_t *root = NULL;
        _cleanup_error_ alder_error *err = NULL;
        if (alder_json_parse("fuzz", (const char *) data, size, &root, &err) < 0) {
                (void) alder_error_message(err);
                return 0;
        }
        probe_fields(root);
        _cleanup_free_ char *out = NULL;
        (void) alder_json_dump(root, 0, &out, NULL, &err);
        return 0;
}
