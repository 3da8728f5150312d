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

static json_t *load(const char *text)
{
        json_t *root = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_json_parse("manifest.json", text, strlen(text), &root, &err), 0);
        return root;
}

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

static void test_get_string_and_nested(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        const char *s = NULL;
        assert_int_equal(alder_json_get_string(root, "manifest.json", "name", 0, &s, &err), 0);
        assert_string_equal(s, "hello");
        assert_int_equal(alder_json_get_string(root, "manifest.json", "runtime.user", 0, &s, &err), 0);
        assert_string_equal(s, "1000");
}

static void test_get_string_wrong_type(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        const char *s = NULL;
        assert_alder_error(alder_json_get_string(root, "manifest.json", "version", 0, &s, &err), EINVAL,
                           "manifest.json: field 'version': expected string, got integer");
        assert_null(s);
}

static void test_missing_and_optional(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        const char *s = "default";
        assert_alder_error(alder_json_get_string(root, "manifest.json", "runtime.workdir", 0, &s, &err), ENOENT,
                           "manifest.json: field 'runtime.workdir': missing");
        assert_int_equal(alder_json_get_string(root, "manifest.json", "runtime.workdir", ALDER_JSON_OPTIONAL, &s, &err),
                         0);
        assert_string_equal(s, "default");
        /* optional does not excuse a wrong type */
        assert_int_equal(alder_json_get_string(root, "manifest.json", "version", ALDER_JSON_OPTIONAL, &s, &err),
                         -EINVAL);
}

static void test_path_through_non_object(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        const char *s;
        assert_alder_error(alder_json_get_string(root, "manifest.json", "name.first", 0, &s, &err), EINVAL,
                           "manifest.json: field 'name': expected object, got string");
        assert_alder_error(alder_json_get_string(root, "manifest.json", "runtime.env.x", 0, &s, &err), EINVAL,
                           "manifest.json: field 'runtime.env': expected object, got array");
}

static void test_get_int_and_range(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        int64_t i = 0;
        assert_int_equal(alder_json_get_int(root, "manifest.json", "limits.memory", 0, &i, &err), 0);
        assert_int_equal(i, 5000000000LL);
        assert_alder_error(alder_json_get_int_range(root, "manifest.json", "sequence", 0, 10, 20, &i, &err), ERANGE,
                           "manifest.json: field 'sequence': 7 is out of range [10, 20]");
        assert_alder_error(alder_json_get_int(root, "manifest.json", "name", 0, &i, &err), EINVAL,
                           "manifest.json: field 'name': expected integer, got string");
}

static void test_get_bool(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        bool b = true;
        assert_int_equal(alder_json_get_bool(root, "manifest.json", "host_network", 0, &b, &err), 0);
        assert_false(b);
        assert_alder_error(alder_json_get_bool(root, "manifest.json", "sequence", 0, &b, &err), EINVAL,
                           "manifest.json: field 'sequence': expected boolean, got integer");
}

static void test_get_object_array_any(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        json_t *v = NULL;
        assert_int_equal(alder_json_get_object(root, "m", "runtime", 0, &v, &err), 0);
        assert_true(json_is_object(v));
        assert_int_equal(alder_json_get_array(root, "m", "runtime.cmd", 0, &v, &err), 0);
        assert_int_equal(json_array_size(v), 2);
        assert_int_equal(alder_json_get(root, "m", "limits.memory", 0, &v, &err), 0);
        assert_true(json_is_integer(v));
        assert_alder_error(alder_json_get_array(root, "m", "runtime", 0, &v, &err), EINVAL,
                           "m: field 'runtime': expected array, got object");
        assert_alder_error(alder_json_get_object(root, "m", "runtime.cmd", 0, &v, &err), EINVAL,
                           "m: field 'runtime.cmd': expected object, got array");
}

static void test_get_strv(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        _cleanup_strv_ char **cmd = NULL;
        assert_int_equal(alder_json_get_strv(root, "manifest.json", "runtime.cmd", 0, 16, &cmd, &err), 0);
        assert_string_equal(cmd[0], "/bin/hello");
        assert_string_equal(cmd[1], "-v");
        assert_null(cmd[2]);

        char **env = NULL;
        assert_alder_error(alder_json_get_strv(root, "manifest.json", "runtime.env", 0, 16, &env, &err), EINVAL,
                           "manifest.json: field 'runtime.env[1]': expected string, got null");
        assert_null(env);
        assert_alder_error(alder_json_get_strv(root, "manifest.json", "runtime.cmd", 0, 1, &env, &err), E2BIG,
                           "manifest.json: field 'runtime.cmd': 2 items, at most 1 allowed");
}

static void test_strings_with_nul_are_refused(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load("{\"name\": \"ok\\u0000evil\", \"list\": [\"a\\u0000b\"]}");
        const char *s = NULL;
        assert_alder_error(alder_json_get_string(root, "m", "name", 0, &s, &err), EINVAL,
                           "m: field 'name': string contains a NUL character");
        char **v = NULL;
        assert_alder_error(alder_json_get_strv(root, "m", "list", 0, 4, &v, &err), EINVAL,
                           "m: field 'list[0]': string contains a NUL character");
}

static void test_not_an_object(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load("[1, 2]");
        const char *s;
        assert_alder_error(alder_json_get_string(root, "request", "method", 0, &s, &err), EINVAL,
                           "request: expected object, got array");
}

static void test_check_keys(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load(manifest);
        const char *const runtime_keys[] = {"user", "env", NULL};
        assert_alder_error(alder_json_check_keys(root, "manifest.json", "runtime", runtime_keys, &err), EINVAL,
                           "manifest.json: field 'runtime.cmd': unknown field");
        const char *const top[] = {"name", "version", "sequence", "host_network", "runtime", "limits", NULL};
        assert_int_equal(alder_json_check_keys(root, "manifest.json", NULL, top, &err), 0);
        const char *const fewer[] = {"name", NULL};
        assert_int_equal(alder_json_check_keys(root, "manifest.json", NULL, fewer, &err), -EINVAL);
}

static void test_dump_is_sorted_and_stable(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = load("{\"b\": 1, \"a\": [true, null]}");
        _cleanup_free_ char *s = NULL;
        size_t len;
        assert_int_equal(alder_json_dump(root, 0, &s, &len, &err), 0);
        assert_string_equal(s, "{\"a\":[true,null],\"b\":1}");
        assert_int_equal(len, strlen(s));
}

static void test_write_and_load_file(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        char dir[] = "/tmp/alder-test-json-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[64];
        snprintf(path, sizeof(path), "%s/state.json", dir);

        _cleanup_json_ json_t *root = load(manifest);
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
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *r = json_real(1.5);
        assert_string_equal(alder_json_type_name(r), "number");
        assert_string_equal(alder_json_type_name(NULL), "nothing");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_error_has_line_and_column),
                cmocka_unit_test(test_parse_rejects_duplicate_keys),
                cmocka_unit_test(test_parse_rejects_trailing_garbage_and_empty),
                cmocka_unit_test(test_parse_rejects_deep_nesting),
                cmocka_unit_test(test_get_string_and_nested),
                cmocka_unit_test(test_get_string_wrong_type),
                cmocka_unit_test(test_missing_and_optional),
                cmocka_unit_test(test_path_through_non_object),
                cmocka_unit_test(test_get_int_and_range),
                cmocka_unit_test(test_get_bool),
                cmocka_unit_test(test_get_object_array_any),
                cmocka_unit_test(test_get_strv),
                cmocka_unit_test(test_strings_with_nul_are_refused),
                cmocka_unit_test(test_not_an_object),
                cmocka_unit_test(test_check_keys),
                cmocka_unit_test(test_dump_is_sorted_and_stable),
                cmocka_unit_test(test_write_and_load_file),
                cmocka_unit_test(test_type_names),
        };
        return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
