/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/appmeta.h"
#include "alder/json.h"

static const char good[] = "{\"format\": 1, \"name\": \"hello-world\", \"version\": \"1.2.0-rc.1+build.5\","
                           " \"arch\": \"arm64\","
                           " \"runtime\": {\"entrypoint\": [\"/hello\"], \"cmd\": [\"--serve\", \"60\"],"
                           "   \"env\": [\"PATH=/\", \"A=b=c\"], \"workdir\": \"/srv\", \"user\": \"1000:1000\"},"
                           " \"permissions\": {\"host_network\": true, \"devices\": [\"/dev/ttyS0\"],"
                           "   \"capabilities\": [\"CAP_NET_BIND_SERVICE\"],"
                           "   \"limits\": {\"memory_bytes\": 67108864, \"cpu_millis\": 500, \"pids\": 64},"
                           "   \"volumes\": [{\"name\": \"data\", \"path\": \"/data\"}], \"setuid_files\": false},"
                           " \"health\": {\"command\": [\"/hello\", \"--check\"], \"grace_seconds\": 3},"
                           " \"source\": {\"kind\": \"oci-layout\"}}";

static json_t *parse(const char *text)
{
        json_t *v = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_json_parse("app.json", text, strlen(text), &v, &err), 0);
        return v;
}

static void test_parse_full_document(void **state)
{
        _cleanup_json_ json_t *doc = parse(good);
        _cleanup_app_meta_ alder_app_meta *m = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_app_meta_from_json(doc, "app.json", &m, &err), 0);
        assert_string_equal(m->name, "hello-world");
        assert_string_equal(m->version, "1.2.0-rc.1+build.5");
        assert_string_equal(m->entrypoint[0], "/hello");
        assert_string_equal(m->cmd[1], "60");
        assert_string_equal(m->env[1], "A=b=c");
        assert_string_equal(m->workdir, "/srv");
        assert_true(m->host_network);
        assert_int_equal(m->memory_bytes, 67108864);
        assert_int_equal(m->n_volumes, 1);
        assert_string_equal(m->volumes[0].path, "/data");
        assert_int_equal(m->health_grace_seconds, 3);
}

static void test_roundtrip_is_stable(void **state)
{
        _cleanup_json_ json_t *doc = parse(good);
        _cleanup_app_meta_ alder_app_meta *m = NULL, *m2 = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_app_meta_from_json(doc, "app.json", &m, &err), 0);
        _cleanup_json_ json_t *out = NULL, *out2 = NULL;
        assert_int_equal(alder_app_meta_to_json(m, &out, &err), 0);
        assert_int_equal(alder_app_meta_from_json(out, "again", &m2, &err), 0);
        assert_int_equal(alder_app_meta_to_json(m2, &out2, &err), 0);
        assert_true(json_equal(out, out2));
        assert_true(json_equal(json_object_get(out, "source"), json_object_get(doc, "source")));
}

static void test_minimal_document_gets_defaults(void **state)
{
        _cleanup_json_ json_t *doc = parse("{\"format\":1,\"name\":\"a\",\"version\":\"0.0.1\",\"arch\":\"amd64\","
                                           "\"runtime\":{\"cmd\":[\"/a\"]}}");
        _cleanup_app_meta_ alder_app_meta *m = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_app_meta_from_json(doc, "app.json", &m, &err), 0);
        assert_string_equal(m->workdir, "/");
        assert_null(m->entrypoint[0]);
        assert_null(m->devices[0]);
        assert_int_equal(m->health_grace_seconds, 5);
        assert_false(m->host_network);
}

/* Each case: a change applied to the good document and the exact error. */
struct bad_case {
        const char *field; /* dotted path to replace (or remove when value is NULL) */
        const char *value; /* JSON text */
        int errnum;
        const char *message;
};

static const struct bad_case bad_cases[] = {
        {"name", NULL, ENOENT, "app.json: field 'name': missing"},
        {"name", "\"Hello\"", EINVAL,
         "app.json: app name 'Hello': character 1: only a-z, 0-9 and '-' (not first) are allowed"},
        {"name", "\"-x\"", EINVAL,
         "app.json: app name '-x': character 1: only a-z, 0-9 and '-' (not first) are allowed"},
        {"version", "\"1.2\"", EINVAL,
         "app.json: version '1.2': not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.4.0 or "
         "2.0.0-rc.1)"},
        {"version", "12", EINVAL, "app.json: field 'version': expected string, got integer"},
        {"arch", "\"x86\"", EINVAL, "app.json: field 'arch': 'x86' is not one of arm64, arm, amd64"},
        {"arch", "\"aarch64\"", EINVAL, "app.json: field 'arch': 'aarch64' is not one of arm64, arm, amd64"},
        {"format", "2", ERANGE, "app.json: field 'format': 2 is out of range [1, 1]"},
        {"extra", "1", EINVAL, "app.json: field 'extra': unknown field"},
        {"runtime.shell", "[]", EINVAL, "app.json: field 'runtime.shell': unknown field"},
        {"runtime.env", "[\"NOEQUALS\"]", EINVAL, "app.json: field 'runtime.env': 'NOEQUALS' is not NAME=VALUE"},
        {"runtime.env", "[1]", EINVAL, "app.json: field 'runtime.env[0]': expected string, got integer"},
        {"runtime.workdir", "\"srv\"", EINVAL, "app.json: field 'runtime.workdir': 'srv' is not an absolute path"},
        {"permissions.privileged", "true", EINVAL, "app.json: field 'permissions.privileged': unknown field"},
        {"permissions.host_network", "\"yes\"", EINVAL,
         "app.json: field 'permissions.host_network': expected boolean, got string"},
        {"permissions.devices", "[\"/etc/shadow\"]", EINVAL,
         "app.json: field 'permissions.devices': '/etc/shadow' is not a path under /dev"},
        {"permissions.capabilities", "[\"SYS_ADMIN\"]", EINVAL,
         "app.json: field 'permissions.capabilities': 'SYS_ADMIN' is not a capability name (CAP_...)"},
        {"permissions.limits.memory_bytes", "-1", ERANGE,
         "app.json: field 'permissions.limits.memory_bytes': -1 is out of range [0, 9223372036854775807]"},
        {"permissions.limits.swap", "1", EINVAL, "app.json: field 'permissions.limits.swap': unknown field"},
        {"permissions.volumes", "[{\"name\": \"d\"}]", ENOENT,
         "app.json: field 'permissions.volumes[0]': field 'path': missing"},
        {"permissions.volumes", "[{\"name\": \"d\", \"path\": \"data\"}]", EINVAL,
         "app.json: field 'permissions.volumes[0]': path 'data' is not absolute"},
        {"health.grace_seconds", "7200", ERANGE,
         "app.json: field 'health.grace_seconds': 7200 is out of range [0, 3600]"},
        {"restart", "\"sometimes\"", EINVAL,
         "app.json: field 'restart': 'sometimes' is not one of no, on-failure, always"},
        {"restart", "\"On-Failure\"", EINVAL,
         "app.json: field 'restart': 'On-Failure' is not one of no, on-failure, always"},
        {"restart", "\"\"", EINVAL, "app.json: field 'restart': '' is not one of no, on-failure, always"},
        {"restart", "false", EINVAL, "app.json: field 'restart': expected string, got boolean"},
        {"permissions.secure_services", "\"yes\"", EINVAL,
         "app.json: field 'permissions.secure_services': 'yes' is not one of none, optional, required"},
        {"permissions.secure_services", "true", EINVAL,
         "app.json: field 'permissions.secure_services': expected string, got boolean"},
};

/* Sets or deletes a dotted field in doc. */
static void apply_change(json_t *doc, const char *field, const char *value)
{
        char path[128];
        snprintf(path, sizeof(path), "%s", field);
        json_t *obj = doc;
        char *key = path, *dot;
        while ((dot = strchr(key, '.'))) {
                *dot = '\0';
                obj = json_object_get(obj, key);
                assert_non_null(obj);
                key = dot + 1;
        }
        if (value)
                json_object_set_new(obj, key, json_loads(value, JSON_DECODE_ANY, NULL));
        else
                json_object_del(obj, key);
}

static void test_bad_documents_name_the_field(void **state)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad_cases); i++) {
                const struct bad_case *c = &bad_cases[i];
                _cleanup_json_ json_t *doc = parse(good);
                apply_change(doc, c->field, c->value);
                alder_app_meta *m = NULL;
                _cleanup_error_ alder_error *err = NULL;
                int r = alder_app_meta_from_json(doc, "app.json", &m, &err);
                if (r != -c->errnum || strcmp(alder_error_message(err), c->message) != 0)
                        fail_msg("case %zu (%s): got %d '%s', expected %d '%s'", i, c->field, r,
                                 alder_error_message(err), -c->errnum, c->message);
                assert_null(m);
        }
}

static void test_nothing_to_run(void **state)
{
        _cleanup_json_ json_t *doc = parse("{\"format\":1,\"name\":\"a\",\"version\":\"1.0.0\",\"arch\":\"arm\"}");
        alder_app_meta *m = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(alder_app_meta_from_json(doc, "app.json", &m, &err), EINVAL,
                           "app.json: field 'runtime': neither 'entrypoint' nor 'cmd' says what to run");
}

static void test_semver(void **state)
{
        static const char *const valid[] = {"0.0.0",
                                            "1.2.3",
                                            "10.20.30",
                                            "1.0.0-alpha",
                                            "1.0.0-alpha.1",
                                            "1.0.0-0.3.7",
                                            "1.0.0-x.7.z.92",
                                            "1.0.0+20130313144700",
                                            "1.0.0-beta+exp.sha.5114f85",
                                            "1.0.0-x-y-z.--"};
        static const char *const invalid[] = {"1",         "1.2",    "1.2.3.4", "01.2.3",   "1.02.3",
                                              "1.2.03",    "1.2.3-", "1.2.3+",  "1.2.3-01", "1.2.3-a..b",
                                              "1.2.3-a_b", "v1.2.3", "",        "1.2.3 ",   "-1.2.3"};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(valid); i++)
                if (alder_semver_check(valid[i], NULL) != 0)
                        fail_msg("'%s' should be valid", valid[i]);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(invalid); i++)
                if (alder_semver_check(invalid[i], NULL) != -EINVAL)
                        fail_msg("'%s' should be invalid", invalid[i]);
}

static void test_arch_normalize(void **state)
{
        assert_string_equal(alder_arch_normalize("aarch64", NULL), "arm64");
        assert_string_equal(alder_arch_normalize("x86_64", NULL), "amd64");
        assert_string_equal(alder_arch_normalize("arm", "v7"), "arm");
        assert_string_equal(alder_arch_normalize("armhf", NULL), "arm");
        assert_null(alder_arch_normalize("arm", "v6"));
        assert_null(alder_arch_normalize("riscv64", NULL));
        assert_null(alder_arch_normalize(NULL, NULL));
        assert_non_null(alder_arch_native());
}

/* Each policy parses from app.json, is written back by to_json and has its name; absent means on-failure. */
static void test_restart_policy(void **state)
{
        static const struct {
                const char *value; /* JSON text; NULL: field absent */
                alder_app_restart restart;
                const char *name;
        } cases[] = {
                {NULL, ALDER_APP_RESTART_ON_FAILURE, "on-failure"},
                {"\"on-failure\"", ALDER_APP_RESTART_ON_FAILURE, "on-failure"},
                {"\"no\"", ALDER_APP_RESTART_NO, "no"},
                {"\"always\"", ALDER_APP_RESTART_ALWAYS, "always"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                char what[64];
                alder_test_case_name(what, i, "%s", cases[i].name);
                _cleanup_json_ json_t *doc = parse(good), *out = NULL;
                if (cases[i].value)
                        apply_change(doc, "restart", cases[i].value);
                _cleanup_app_meta_ alder_app_meta *m = NULL;
                _cleanup_error_ alder_error *err = NULL;
                if (alder_app_meta_from_json(doc, "app.json", &m, &err) < 0)
                        fail_msg("%s: %s", what, alder_error_message(err));
                if (m->restart != cases[i].restart || strcmp(alder_app_restart_name(m->restart), cases[i].name) != 0)
                        fail_msg("%s: parsed as %d", what, (int) m->restart);
                assert_int_equal(alder_app_meta_to_json(m, &out, &err), 0);
                assert_string_equal(json_string_value(json_object_get(out, "restart")), cases[i].name);
        }
        assert_null(alder_app_restart_name((alder_app_restart) 3));
        alder_app_meta *fresh = NULL;
        assert_int_equal(alder_app_meta_new(&fresh, NULL), 0);
        assert_int_equal(fresh->restart, ALDER_APP_RESTART_ON_FAILURE);
        alder_app_meta_free(fresh);
}

/* Each value parses from app.json and is written back by to_json; absent means optional. */
static void test_secure_services(void **state)
{
        static const char *const names[] = {"optional", "required", "none"};
        for (size_t i = 0; i <= ALDER_ARRAY_SIZE(names); i++) {
                const char *name = i < ALDER_ARRAY_SIZE(names) ? names[i] : NULL;
                _cleanup_json_ json_t *doc = parse(good), *out = NULL;
                char value[32];
                snprintf(value, sizeof(value), "\"%s\"", name ? name : "");
                if (name)
                        apply_change(doc, "permissions.secure_services", value);
                _cleanup_app_meta_ alder_app_meta *m = NULL;
                _cleanup_error_ alder_error *err = NULL;
                if (alder_app_meta_from_json(doc, "app.json", &m, &err) < 0)
                        fail_msg("%s: %s", value, alder_error_message(err));
                assert_int_equal(m->secure_services,
                                 name ? (alder_app_secure_services) i : ALDER_APP_SECURE_SERVICES_OPTIONAL);
                assert_int_equal(alder_app_meta_to_json(m, &out, &err), 0);
                json_t *perms = json_object_get(out, "permissions");
                assert_string_equal(json_string_value(json_object_get(perms, "secure_services")),
                                    name ? name : "optional");
        }
        assert_null(alder_app_secure_services_name((alder_app_secure_services) 3));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_full_document),
                cmocka_unit_test(test_roundtrip_is_stable),
                cmocka_unit_test(test_minimal_document_gets_defaults),
                cmocka_unit_test(test_bad_documents_name_the_field),
                cmocka_unit_test(test_nothing_to_run),
                cmocka_unit_test(test_semver),
                cmocka_unit_test(test_arch_normalize),
                cmocka_unit_test(test_restart_policy),
                cmocka_unit_test(test_secure_services),
        };
        return cmocka_run_group_tests_name("appmeta", tests, NULL, NULL);
}
