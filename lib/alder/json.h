/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON helpers over jansson (why jansson: docs/design/json-library.md).
 *
 * Every error names where the problem is, so a user can fix the file:
 *
 *     manifest.json:4:17: string or '}' expected near '12'
 *     manifest.json: field 'runtime.user': expected string, got integer
 *     manifest.json: field 'runtime.env[2]': expected string, got null
 *
 * `source` is the name shown to the user (usually a file name, or e.g.
 * "request" for an IPC message). Field paths are dotted: "runtime.user" looks
 * up key "user" inside object "runtime". Keys that contain '.' cannot be
 * addressed this way; use jansson directly for those.
 *
 * Parsing always rejects duplicate object keys: with two "version" keys the
 * signer and the device could disagree about which one counts.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"

/* Upper bound for alder_json_load_file() when the caller has no better one. */
#define ALDER_JSON_DEFAULT_MAX_SIZE (4u * 1024u * 1024u)

/* Parses exactly one JSON value from buf (no trailing garbage). */
int alder_json_parse(const char *source, const char *buf, size_t len, json_t **ret, alder_error **err) ALDER_WUR;

/* Reads and parses a file of at most max_size bytes. `source` in errors is the path. */
int alder_json_load_file(const char *path, size_t max_size, json_t **ret, alder_error **err) ALDER_WUR;

/*
 * Serializes compactly (or indented with ALDER_JSON_PRETTY) with sorted keys
 * (so the output is stable for hashing and diffing). *ret is malloc'ed, NUL-terminated.
 */
#define ALDER_JSON_PRETTY 1u
int alder_json_dump(const json_t *value, unsigned flags, char **ret, size_t *ret_len, alder_error **err) ALDER_WUR;

/* Crash-safe write of a JSON document (alder_write_file_atomic), pretty-printed + newline. */
int alder_json_write_file(const char *path, const json_t *value, mode_t mode, alder_error **err) ALDER_WUR;

/*
 * A JSON string of the n bytes at s, which need not be UTF-8 (an app's
 * output, a log line): each byte that does not belong to a well-formed
 * character, and NUL, becomes '?'. NULL when out of memory.
 */
json_t *alder_json_string_lossy(const char *s, size_t n);

/* Name of a value's type as users read it: "object", "array", "string", "integer", ... */
const char *alder_json_type_name(const json_t *value);

/*
 * Typed field access. `field` is a dotted path below `obj`.
 * Without ALDER_JSON_OPTIONAL a missing field is an error ("field 'x': missing");
 * with it, the function returns 0 and leaves *ret untouched, so the caller's
 * default stays. A present field of the wrong type is always an error.
 * Returned pointers (strings, objects, arrays) are borrowed from obj.
 */
#define ALDER_JSON_OPTIONAL 1u

int alder_json_get(const json_t *obj, const char *source, const char *field, unsigned flags, json_t **ret,
                   alder_error **err) ALDER_WUR;
int alder_json_get_string(const json_t *obj, const char *source, const char *field, unsigned flags, const char **ret,
                          alder_error **err) ALDER_WUR;
int alder_json_get_int(const json_t *obj, const char *source, const char *field, unsigned flags, int64_t *ret,
                       alder_error **err) ALDER_WUR;
/* Integer within [min, max]; out of range names the bounds. */
int alder_json_get_int_range(const json_t *obj, const char *source, const char *field, unsigned flags, int64_t min,
                             int64_t max, int64_t *ret, alder_error **err) ALDER_WUR;
int alder_json_get_bool(const json_t *obj, const char *source, const char *field, unsigned flags, bool *ret,
                        alder_error **err) ALDER_WUR;
int alder_json_get_object(const json_t *obj, const char *source, const char *field, unsigned flags, json_t **ret,
                          alder_error **err) ALDER_WUR;
int alder_json_get_array(const json_t *obj, const char *source, const char *field, unsigned flags, json_t **ret,
                         alder_error **err) ALDER_WUR;

/*
 * Array of strings as a NULL-terminated vector of copies (free with
 * alder_strv_free); errors name the element: "field 'cmd[3]': expected string".
 * max_items bounds what a hostile document can make us allocate.
 */
int alder_json_get_strv(const json_t *obj, const char *source, const char *field, unsigned flags, size_t max_items,
                        char ***ret, alder_error **err) ALDER_WUR;

/* Refuses keys of obj that are not in the NULL-terminated `allowed` list (typo catcher). */
int alder_json_check_keys(const json_t *obj, const char *source, const char *field, const char *const *allowed,
                          alder_error **err) ALDER_WUR;

static inline void alder_json_decrefp(json_t **v)
{
        if (*v)
                json_decref(*v);
}
#define _cleanup_json_ _cleanup_(alder_json_decrefp)
