/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"

#include "alder/json.h"

static const char manifest[] =
        "{\n"
        "  \"name\": \"hello\",\n"
        "  \"version\": 12,\n"
        "  \"sequence\": 7,\n"
        "  \"host_network\": false,\n"
        "  \"runtime\": {\"user\": \"1000\", \"env\": [\"A=1\", null], \"cmd\": [\"/bin/hello\", "
        "\"-v\"]},\n"
        "  \"limits\": {\"memory\": 5000000000}\n"
        "}\n";

static void test_parse_error_has_line_and_column(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        json_t *v = NULL;
        assert_alder_error(alder_json_parse("manifest.json", "{\n  \"a\": 1,\n  \"b\" 2\n}", 20, &v, &err), EBADMSG,
                           "manifest.json:3:7: ':' expected near '2'");
        assert_null(v);
}

static void test_parse_rejects_duplicate_keys(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        json_t *v = NULL;
        const char *doc = "{\"version\": \"1.0\", \"version\": \"2.0\"}";
        assert_int_equal(alder_json_parse("manifest.json", doc, strlen(doc), &v, &err), -EBADMSG);
        assert_non_null(strstr(alder_error_message(err), "duplicate object key"));
}

static void test_parse_rejects_trailing_garbage_and_empty(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        json_t *v = NULL;
        assert_int_equal(alder_json_parse("x.json", "{} {}", 5, &v, &err), -EBADMSG);
        assert_non_null(strstr(alder_error_message(err), "x.json:1:"));
        assert_int_equal(alder_json_parse("x.json", "", 0, &v, &err), -EBADMSG);
        assert_int_equal(alder_json_parse("x.json", "{\"a\": \"\xff\"}", 9, &v, &err), -EBADMSG);
}

static void test_parse_rejects_deep_nesting(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        size_t depth = 100000;
        char *doc = malloc(depth + 1);
        memset(doc, '[', depth);
        doc[depth] = '\0';
        json_t *v = NULL;
        assert_int_equal(alder_json_parse("deep.json", doc, depth, &v, &err), -EBADMSG);
        assert_non_null(strstr(alder_error_message(err), "maximum parsing depth reached"));
        free(doc);
}

/* ---- Typed getters: one table, one loop ---------------------------------------- */

enum getter { GET_ANY, GET_STRING, GET_INT, GET_INT_RANGE, GET_BOOL, GET_OBJECT, GET_ARRAY, GET_STRV };

struct getter_case {
        enum getter getter;
        const char *field;
        const char *expected; /* success: the output as JSON text; NULL: left untouched */
        unsigned flags;
        int64_t min, max;    /* GET_INT_RANGE: the bounds; GET_STRV: max is max_items */
        const char *doc;     /* NULL: the manifest above */
        int errnum;          /* not 0: the call fails with it, leaves the output untouched, and says ... */
        const char *message; /* ... exactly this */
};

#define FAILS(e, msg) .errnum = (e), .message = (msg)

#define FIELD_64      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
static const char field_513[] = FIELD_64 FIELD_64 FIELD_64 FIELD_64 FIELD_64 FIELD_64 FIELD_64 FIELD_64 "a";

static const char nul_strings[] = "{\"name\": \"ok\\u0000evil\", \"list\": [\"a\\u0000b\"]}";

/* Errors name the source ("m" here), the field at fault, what was expected and what was found. */
static const struct getter_case getter_cases[] = {
        /* values, nested paths, optional fields */
        {GET_STRING, "name", .expected = "\"hello\""},
        {GET_STRING, "runtime.user", .expected = "\"1000\""},
        {GET_STRING, "runtime.workdir", .flags = ALDER_JSON_OPTIONAL}, /* absent: the caller's default stays */
        {GET_INT, "limits.memory", .expected = "5000000000"},
        {GET_INT_RANGE, "sequence", .expected = "7", .min = 0, .max = 7},
        {GET_BOOL, "host_network", .expected = "false"},
        {GET_OBJECT, "runtime",
         .expected = "{\"user\": \"1000\", \"env\": [\"A=1\", null], \"cmd\": [\"/bin/hello\", \"-v\"]}"},
        {GET_ARRAY, "runtime.cmd", .expected = "[\"/bin/hello\", \"-v\"]"},
        {GET_ANY, "limits.memory", .expected = "5000000000"},
        {GET_STRV, "runtime.cmd", .expected = "[\"/bin/hello\", \"-v\"]", .max = 16},

        /* wrong types; optional does not excuse one */
        {GET_STRING, "version", FAILS(EINVAL, "m: field 'version': expected string, got integer")},
        {GET_STRING, "version", FAILS(EINVAL, "m: field 'version': expected string, got integer"),
         .flags = ALDER_JSON_OPTIONAL},
        {GET_INT, "name", FAILS(EINVAL, "m: field 'name': expected integer, got string")},
        {GET_BOOL, "sequence", FAILS(EINVAL, "m: field 'sequence': expected boolean, got integer")},
        {GET_ARRAY, "runtime", FAILS(EINVAL, "m: field 'runtime': expected array, got object")},
        {GET_OBJECT, "runtime.cmd", FAILS(EINVAL, "m: field 'runtime.cmd': expected object, got array")},

        /* missing fields, paths through non-objects, ranges */
        {GET_STRING, "runtime.workdir", FAILS(ENOENT, "m: field 'runtime.workdir': missing")},
        {GET_STRING, "name.first", FAILS(EINVAL, "m: field 'name': expected object, got string")},
        {GET_STRING, "runtime.env.x", FAILS(EINVAL, "m: field 'runtime.env': expected object, got array")},
        {GET_INT_RANGE, "sequence", FAILS(ERANGE, "m: field 'sequence': 7 is out of range [10, 20]"), .min = 10,
         .max = 20},

        /* string vectors name the element at fault, and are bounded */
        {GET_STRV, "runtime.env", FAILS(EINVAL, "m: field 'runtime.env[1]': expected string, got null"), .max = 16},
        {GET_STRV, "runtime.cmd", FAILS(E2BIG, "m: field 'runtime.cmd': 2 items, at most 1 allowed"), .max = 1},

        /* C consumers must never see a string cut at an embedded NUL */
        {GET_STRING, "name", FAILS(EINVAL, "m: field 'name': string contains a NUL character"), .doc = nul_strings},
        {GET_STRV, "list", FAILS(EINVAL, "m: field 'list[0]': string contains a NUL character"), .max = 4,
         .doc = nul_strings},

        /* field paths the caller got wrong are named too */
        {GET_STRING, "", FAILS(EINVAL, "m: empty field path")},
        {GET_INT, field_513,
         FAILS(EINVAL, "m: field 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': path longer than 512 bytes")},

        /* the document itself is not an object */
        {GET_STRING, "method", FAILS(EINVAL, "m: expected object, got array"), .doc = "[1, 2]"},
};

/* Every output starts out filled with this byte, so an output the getter did not write is recognisable. */
#define POISON 0x5a

union getter_output {
        const char *s;
        int64_t i;
        bool b;
        json_t *v;
        char **strv;
};

static bool is_poison(const void *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (((const unsigned char *) p)[i] != POISON)
                        return false;
        return true;
}

/* The output as JSON, to compare with the case's expectation; NULL when the getter left it untouched. */
static json_t *output_as_json(enum getter g, union getter_output *out)
{
        switch (g) {
        case GET_STRING:
                return is_poison(&out->s, sizeof(out->s)) ? NULL : json_string(out->s);
        case GET_INT:
        case GET_INT_RANGE:
                return is_poison(&out->i, sizeof(out->i)) ? NULL : json_integer(out->i);
        case GET_BOOL:
                return is_poison(&out->b, sizeof(out->b)) ? NULL : json_boolean(out->b);
        case GET_ANY:
        case GET_OBJECT:
        case GET_ARRAY:
                return is_poison(&out->v, sizeof(out->v)) ? NULL : json_incref(out->v);
        case GET_STRV:
                break;
        }
        if (is_poison(&out->strv, sizeof(out->strv)))
                return NULL;
        json_t *arr = json_array();
        for (char **s = out->strv; *s; s++)
                json_array_append_new(arr, json_string(*s));
        alder_strv_free(out->strv);
        return arr;
}

/* alder_json_get(), _get_object() and _get_array() differ only in the type they require. */
typedef int (*value_getter)(const json_t *obj, const char *source, const char *field, unsigned flags, json_t **ret,
                            alder_error **err);
static const value_getter value_getters[] = {
        [GET_ANY] = alder_json_get,
        [GET_OBJECT] = alder_json_get_object,
        [GET_ARRAY] = alder_json_get_array,
};

static int call_getter(const json_t *root, const struct getter_case *c, union getter_output *out, alder_error **err)
{
        const char *src = "m";
        switch (c->getter) {
        case GET_STRING:
                return alder_json_get_string(root, src, c->field, c->flags, &out->s, err);
        case GET_INT:
                return alder_json_get_int(root, src, c->field, c->flags, &out->i, err);
        case GET_INT_RANGE:
                return alder_json_get_int_range(root, src, c->field, c->flags, c->min, c->max, &out->i, err);
        case GET_BOOL:
                return alder_json_get_bool(root, src, c->field, c->flags, &out->b, err);
        case GET_STRV:
                return alder_json_get_strv(root, src, c->field, c->flags, (size_t) c->max, &out->strv, err);
        default:
                return value_getters[c->getter](root, src, c->field, c->flags, &out->v, err);
        }
}

static void test_getters(void **state)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(getter_cases); i++) {
                const struct getter_case *c = &getter_cases[i];
                char name[128];
                alder_test_case_name(name, i, "field '%s'", c->field);

                /* alder_json_parse() itself: it must take all of them, NUL characters in strings included */
                const char *doc = c->doc ? c->doc : manifest;
                _cleanup_json_ json_t *root = NULL;
                _cleanup_error_ alder_error *err = NULL;
                if (alder_json_parse("m", doc, strlen(doc), &root, &err) < 0)
                        fail_msg("%s: %s", name, alder_error_message(err));
                union getter_output out;
                memset(&out, POISON, sizeof(out));
                int r = call_getter(root, c, &out, &err);
                if (c->errnum)
                        alder_test_check_error(name, r, err, c->errnum, c->message);
                else if (r != 0)
                        fail_msg("%s: failed: %s", name, alder_error_message(err));

                _cleanup_json_ json_t *got = output_as_json(c->getter, &out);
                _cleanup_json_ json_t *expected = c->expected ? alder_test_json(c->expected) : NULL;
                alder_test_check_json(name, got, expected);
        }
}

static void test_check_keys(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = alder_test_json(manifest);
        const char *const runtime_keys[] = {"user", "env", NULL};
        assert_alder_error(alder_json_check_keys(root, "manifest.json", "runtime", runtime_keys, &err), EINVAL,
                           "manifest.json: field 'runtime.cmd': unknown field");
        const char *const top[] = {"name", "version", "sequence", "host_network", "runtime", "limits", NULL};
        assert_int_equal(alder_json_check_keys(root, "manifest.json", NULL, top, &err), 0);
        const char *const fewer[] = {"name", NULL};
        assert_int_equal(alder_json_check_keys(root, "manifest.json", NULL, fewer, &err), -EINVAL);
}

/* Keys sorted, so the output is stable for hashing and diffing; any value, not only objects. */
static const struct {
        const char *doc;
        unsigned flags;
        const char *expected;
} dump_cases[] = {
        {"{\"b\": 1, \"a\": [true, null]}", 0, "{\"a\":[true,null],\"b\":1}"},
        {"{\"b\": 1, \"a\": {\"d\": [], \"c\": \"x\"}}", ALDER_JSON_PRETTY,
         "{\n  \"a\": {\n    \"c\": \"x\",\n    \"d\": []\n  },\n  \"b\": 1\n}"},
        {"\"gr\\u00fc\\u00df\"", 0, "\"gr\xc3\xbc\xc3\x9f\""},
};

static void test_dump_is_sorted_and_stable(void **state)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(dump_cases); i++) {
                char name[64];
                alder_test_case_name(name, i, "flags %u", dump_cases[i].flags);
                _cleanup_json_ json_t *doc = alder_test_json(dump_cases[i].doc);
                _cleanup_error_ alder_error *err = NULL;
                _cleanup_free_ char *out = NULL;
                size_t len = 0;
                if (alder_json_dump(doc, dump_cases[i].flags, &out, &len, &err) < 0)
                        fail_msg("%s: %s", name, alder_error_message(err));
                if (strcmp(out, dump_cases[i].expected) != 0 || len != strlen(out))
                        fail_msg("%s: got %s (length %zu), expected %s", name, out, len, dump_cases[i].expected);
        }
}

static void test_write_and_load_file(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        char dir[] = "/tmp/alder-test-json-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[64];
        snprintf(path, sizeof(path), "%s/state.json", dir);

        _cleanup_json_ json_t *root = alder_test_json(manifest);
        assert_int_equal(alder_json_write_file(path, root, 0600, &err), 0);
        _cleanup_json_ json_t *back = NULL;
        assert_int_equal(alder_json_load_file(path, ALDER_JSON_DEFAULT_MAX_SIZE, &back, &err), 0);
        assert_true(json_equal(root, back));

        /* too large for the caller's limit: refused before parsing */
        json_t *none = NULL;
        assert_int_equal(alder_json_load_file(path, 10, &none, &err), -EFBIG);
        assert_null(none);

        /* invalid content names the file, line and column */
        FILE *f = fopen(path, "w");
        fputs("{\"a\": tru}", f);
        fclose(f);
        assert_int_equal(alder_json_load_file(path, 1024, &none, &err), -EBADMSG);
        char expected[128];
        snprintf(expected, sizeof(expected), "%s:1:9: invalid token near 'tru'", path);
        assert_string_equal(alder_error_message(err), expected);

        unlink(path);
        rmdir(dir);
}

static void test_type_names(void **state)
{
        _cleanup_json_ json_t *r = json_real(1.5);
        assert_string_equal(alder_json_type_name(r), "number");
        assert_string_equal(alder_json_type_name(NULL), "nothing");
}

/* Bytes that are not well-formed UTF-8 (jansson's rules) become '?', one per byte; good characters stay. */
static void test_string_lossy(void **state)
{
        const struct {
                const char *in;
                size_t len;
                const char *want;
        } cases[] = {
                {"plain", 5, "plain"},
                {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
                {"a\0b", 3, "a?b"},
                {"\xff\xfe", 2, "??"},
                {"\xc0\x80", 2, "??"},           /* overlong NUL */
                {"\xe0\x80\xaf", 3, "???"},      /* overlong '/' */
                {"\xed\xa0\x80", 3, "???"},      /* a surrogate */
                {"\xf4\x90\x80\x80", 4, "????"}, /* above U+10FFFF */
                {"ok\xc3", 3, "ok?"},            /* cut in the middle of a character */
                {"\xe2\x82x", 3, "??x"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_json_ json_t *v = alder_json_string_lossy(cases[i].in, cases[i].len);
                assert_non_null(v);
                assert_int_equal(json_string_length(v), strlen(cases[i].want));
                assert_memory_equal(json_string_value(v), cases[i].want, strlen(cases[i].want));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_string_lossy),
                cmocka_unit_test(test_parse_error_has_line_and_column),
                cmocka_unit_test(test_parse_rejects_duplicate_keys),
                cmocka_unit_test(test_parse_rejects_trailing_garbage_and_empty),
                cmocka_unit_test(test_parse_rejects_deep_nesting),
                cmocka_unit_test(test_getters),
                cmocka_unit_test(test_check_keys),
                cmocka_unit_test(test_dump_is_sorted_and_stable),
                cmocka_unit_test(test_write_and_load_file),
                cmocka_unit_test(test_type_names),
        };
        return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
