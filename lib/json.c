/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alder/fileio.h"
#include "alder/json.h"

/* Deeper than this, a dotted field path is a bug, not data. */
#define MAX_FIELD_PATH 512

int alder_json_parse(const char *source, const char *buf, size_t len, json_t **ret, alder_error **err)
{
        json_error_t jerr;
        /*
         * JSON_REJECT_DUPLICATES: two "version" keys let a signer and a device
         * disagree about what was signed. jansson also bounds nesting depth
         * (2048), so a hostile document cannot exhaust the stack.
         */
        json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!v) {
                if (jerr.line > 0)
                        return alder_error_set(err, EBADMSG, "%s:%d:%d: %s", source, jerr.line, jerr.column, jerr.text);
                return alder_error_set(err, EBADMSG, "%s: %s", source, jerr.text);
        }
        *ret = v;
        return 0;
}

int alder_json_load_file(const char *path, size_t max_size, json_t **ret, alder_error **err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = alder_read_file(path, max_size, &buf, &len, err);
        if (r < 0)
                return r;
        return alder_json_parse(path, buf, len, ret, err);
}

int alder_json_dump(const json_t *value, unsigned flags, char **ret, size_t *ret_len, alder_error **err)
{
        size_t jflags = JSON_SORT_KEYS | JSON_ENCODE_ANY;
        jflags |= (flags & ALDER_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
        char *s = json_dumps(value, jflags);
        if (!s)
                return alder_error_set(err, ENOMEM, "serialize JSON: out of memory or invalid value");
        *ret = s;
        if (ret_len)
                *ret_len = strlen(s);
        return 0;
}

int alder_json_write_file(const char *path, const json_t *value, mode_t mode, alder_error **err)
{
        _cleanup_free_ char *s = NULL;
        size_t len;
        int r = alder_json_dump(value, ALDER_JSON_PRETTY, &s, &len, err);
        if (r < 0)
                return alder_error_wrap(err, "write '%s'", path);
        /* json_dumps gives no trailing newline; files should end with one. */
        char *withnl = realloc(s, len + 2);
        if (!withnl)
                return alder_error_set(err, ENOMEM, "write '%s': out of memory", path);
        s = withnl;
        s[len++] = '\n';
        s[len] = '\0';
        return alder_write_file_atomic(path, s, len, mode, err);
}

/* Length of the well-formed UTF-8 character at s (n bytes left), 0 when there is none: jansson's rules. */
static size_t utf8_char_length(const unsigned char *s, size_t n)
{
        unsigned c = s[0];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : (c & 0xf0) == 0xe0     ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (len == 0 || len > n || c == 0)
                return 0;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
                if ((s[k] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[k] & 0x3fu);
        }
        bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
        bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
        return overlong || surrogate || cp > 0x10ffff ? 0 : len;
}

json_t *alder_json_string_lossy(const char *s, size_t n)
{
        _cleanup_free_ char *copy = malloc(n + 1);
        if (!copy)
                return NULL;
        memcpy(copy, s, n);
        for (size_t i = 0; i < n;) {
                size_t len = utf8_char_length((const unsigned char *) copy + i, n - i);
                if (len == 0)
                        copy[i++] = '?';
                else
                        i += len;
        }
        return json_stringn_nocheck(copy, n);
}

const char *alder_json_type_name(const json_t *value)
{
        if (!value)
                return "nothing";
        switch (json_typeof(value)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "unknown";
}

/* Walks a dotted path; sets *ret NULL when a component is absent. */
static int lookup(const json_t *obj, const char *source, const char *field, json_t **ret, alder_error **err)
{
        size_t flen = strlen(field);
        if (flen == 0)
                return alder_error_set(err, EINVAL, "%s: empty field path", source);
        if (flen > MAX_FIELD_PATH) /* its start is enough to find it */
                return alder_error_set(err, EINVAL, "%s: field '%.32s...': path longer than %d bytes", source, field,
                                       MAX_FIELD_PATH);
        if (!json_is_object(obj))
                return alder_error_set(err, EINVAL, "%s: expected object, got %s", source, alder_json_type_name(obj));

        const json_t *cur = obj;
        const char *p = field;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t) (dot - p) : strlen(p);
                json_t *next = json_object_getn(cur, p, n);
                if (!next || !dot) {
                        *ret = next;
                        return 0;
                }
                if (!json_is_object(next))
                        return alder_error_set(err, EINVAL, "%s: field '%.*s': expected object, got %s", source,
                                               (int) (dot - field), field, alder_json_type_name(next));
                cur = next;
                p = dot + 1;
        }
}

/* Looks up a field and checks its presence and type (JSON_* type, or -1 for any). */
static int get_typed(const json_t *obj, const char *source, const char *field, unsigned flags, int type,
                     const char *type_name, json_t **ret, alder_error **err)
{
        json_t *v;
        int r = lookup(obj, source, field, &v, err);
        if (r < 0)
                return r;
        if (!v) {
                if (flags & ALDER_JSON_OPTIONAL) {
                        *ret = NULL;
                        return 0;
                }
                return alder_error_set(err, ENOENT, "%s: field '%s': missing", source, field);
        }
        bool ok = type < 0 || (int) json_typeof(v) == type || (type == JSON_TRUE && json_typeof(v) == JSON_FALSE);
        if (!ok)
                return alder_error_set(err, EINVAL, "%s: field '%s': expected %s, got %s", source, field, type_name,
                                       alder_json_type_name(v));
        *ret = v;
        return 0;
}

/* get_typed() for callers that want the value itself: *ret untouched when absent. */
static int get_value(const json_t *obj, const char *source, const char *field, unsigned flags, int type,
                     const char *type_name, json_t **ret, alder_error **err)
{
        json_t *v;
        int r = get_typed(obj, source, field, flags, type, type_name, &v, err);
        if (r == 0 && v)
                *ret = v;
        return r;
}

int alder_json_get(const json_t *obj, const char *source, const char *field, unsigned flags, json_t **ret,
                   alder_error **err)
{
        return get_value(obj, source, field, flags, -1, "value", ret, err);
}

int alder_json_get_string(const json_t *obj, const char *source, const char *field, unsigned flags, const char **ret,
                          alder_error **err)
{
        json_t *v;
        int r = get_typed(obj, source, field, flags, JSON_STRING, "string", &v, err);
        if (r < 0 || !v)
                return r;
        /* JSON_ALLOW_NUL parses "\u0000"; C consumers must never see a cut string. */
        if (strlen(json_string_value(v)) != json_string_length(v))
                return alder_error_set(err, EINVAL, "%s: field '%s': string contains a NUL character", source, field);
        *ret = json_string_value(v);
        return 0;
}

int alder_json_get_int(const json_t *obj, const char *source, const char *field, unsigned flags, int64_t *ret,
                       alder_error **err)
{
        return alder_json_get_int_range(obj, source, field, flags, INT64_MIN, INT64_MAX, ret, err);
}

int alder_json_get_int_range(const json_t *obj, const char *source, const char *field, unsigned flags, int64_t min,
                             int64_t max, int64_t *ret, alder_error **err)
{
        json_t *v;
        int r = get_typed(obj, source, field, flags, JSON_INTEGER, "integer", &v, err);
        if (r < 0 || !v)
                return r;
        json_int_t i = json_integer_value(v);
        if (i < min || i > max)
                return alder_error_set(err, ERANGE,
                                       "%s: field '%s': %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", source,
                                       field, (int64_t) i, min, max);
        *ret = i;
        return 0;
}

int alder_json_get_bool(const json_t *obj, const char *source, const char *field, unsigned flags, bool *ret,
                        alder_error **err)
{
        json_t *v;
        int r = get_typed(obj, source, field, flags, JSON_TRUE, "boolean", &v, err);
        if (r < 0 || !v)
                return r;
        *ret = json_is_true(v);
        return 0;
}

int alder_json_get_object(const json_t *obj, const char *source, const char *field, unsigned flags, json_t **ret,
                          alder_error **err)
{
        return get_value(obj, source, field, flags, JSON_OBJECT, "object", ret, err);
}

int alder_json_get_array(const json_t *obj, const char *source, const char *field, unsigned flags, json_t **ret,
                         alder_error **err)
{
        return get_value(obj, source, field, flags, JSON_ARRAY, "array", ret, err);
}

int alder_json_get_strv(const json_t *obj, const char *source, const char *field, unsigned flags, size_t max_items,
                        char ***ret, alder_error **err)
{
        json_t *arr;
        int r = get_typed(obj, source, field, flags, JSON_ARRAY, "array", &arr, err);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        if (n > max_items)
                return alder_error_set(err, E2BIG, "%s: field '%s': %zu items, at most %zu allowed", source, field, n,
                                       max_items);

        _cleanup_strv_ char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return alder_error_set(err, ENOMEM, "%s: field '%s': out of memory", source, field);
        for (size_t i = 0; i < n; i++) {
                json_t *item = json_array_get(arr, i);
                if (!json_is_string(item))
                        return alder_error_set(err, EINVAL, "%s: field '%s[%zu]': expected string, got %s", source,
                                               field, i, alder_json_type_name(item));
                if (strlen(json_string_value(item)) != json_string_length(item))
                        return alder_error_set(err, EINVAL, "%s: field '%s[%zu]': string contains a NUL character",
                                               source, field, i);
                v[i] = strdup(json_string_value(item));
                if (!v[i])
                        return alder_error_set(err, ENOMEM, "%s: field '%s': out of memory", source, field);
        }
        *ret = steal_pointer(&v);
        return 0;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
        for (const char *const *a = allowed; *a; a++)
                if (strcmp(key, *a) == 0)
                        return true;
        return false;
}

int alder_json_check_keys(const json_t *obj, const char *source, const char *field, const char *const *allowed,
                          alder_error **err)
{
        const json_t *target = obj;
        if (field) {
                json_t *v;
                int r = get_typed(obj, source, field, 0, JSON_OBJECT, "object", &v, err);
                if (r < 0)
                        return r;
                target = v;
        } else if (!json_is_object(obj)) {
                return alder_error_set(err, EINVAL, "%s: expected object, got %s", source, alder_json_type_name(obj));
        }

        const char *key;
        json_t *value;
        json_object_foreach((json_t *) target, key, value)
        {
                if (key_allowed(key, allowed))
                        continue;
                if (field)
                        return alder_error_set(err, EINVAL, "%s: field '%s.%s': unknown field", source, field, key);
                return alder_error_set(err, EINVAL, "%s: field '%s': unknown field", source, key);
        }
        return 0;
}
