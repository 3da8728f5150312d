/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/ocispec.h"

#define MINIMAL "{\"format\":1,\"name\":\"a\",\"version\":\"0.0.1\",\"arch\":\"amd64\",\"runtime\":{\"cmd\":[\"/a\"]}}"

/* Everything the meta can ask for; /dev/full stands for a requested device (it exists everywhere). */
static const char full[] = "{\"format\": 1, \"name\": \"hello\", \"version\": \"1.0.0\", \"arch\": \"arm64\","
                           " \"runtime\": {\"entrypoint\": [\"/hello\"], \"cmd\": [\"--serve\"],"
                           "   \"env\": [\"PATH=/bin\", \"A=b\"], \"workdir\": \"/srv\", \"user\": \"1000:100\"},"
                           " \"permissions\": {\"host_network\": true, \"devices\": [\"/dev/full\"],"
                           "   \"capabilities\": [\"CAP_NET_BIND_SERVICE\"],"
                           "   \"limits\": {\"memory_bytes\": 67108864, \"cpu_millis\": 500, \"pids\": 64},"
                           "   \"volumes\": [{\"name\": \"data\", \"path\": \"/data\"}]}}";

static const char *const dirs[] = {"/var/lib/alder/volumes/hello/data"};

static alder_ocispec_settings settings(void)
{
        return (alder_ocispec_settings){.rootfs = "rootfs",
                                        .hostname = "hello",
                                        .id_start = 165536,
                                        .id_count = 65536,
                                        .volume_dirs = dirs,
                                        .limits = true,
                                        .oom_score_adj = 200};
}

static alder_app_meta *meta(const char *text)
{
        _cleanup_json_ json_t *doc = alder_test_json(text);
        _cleanup_error_ alder_error *err = NULL;
        alder_app_meta *m = NULL;
        if (alder_app_meta_from_json(doc, "app.json", &m, &err) < 0)
                fail_msg("test meta refused: %s", alder_error_message(err));
        return m;
}

static json_t *generate(const alder_app_meta *m, const alder_ocispec_settings *s)
{
        _cleanup_error_ alder_error *err = NULL;
        json_t *c = NULL;
        if (alder_ocispec_generate(m, s, &c, &err) < 0)
                fail_msg("generate: %s", alder_error_message(err));
        return c;
}

/* Compares the value at a path of object keys ("linux", "resources", NULL) with expected JSON text. */
static void check_at(const json_t *config, const char *expected, ...)
{
        va_list ap;
        va_start(ap, expected);
        const json_t *v = config;
        char where[256] = "config";
        for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
                v = json_object_get(v, k);
                strncat(where, ".", sizeof(where) - strlen(where) - 1);
                strncat(where, k, sizeof(where) - strlen(where) - 1);
        }
        va_end(ap);
        _cleanup_json_ json_t *e = expected ? alder_test_json(expected) : NULL;
        alder_test_check_json(where, v, e);
}

static bool has_string(const json_t *array, const char *s)
{
        size_t i;
        json_t *v;
        json_array_foreach(array, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
        return false;
}

static const json_t *mount_at(const json_t *config, const char *dest)
{
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(config, "mounts"), i,
                           v) if (strcmp(json_string_value(json_object_get(v, "destination")), dest) == 0) return v;
        return NULL;
}

static void test_minimal_is_hardened(void **state)
{
        _cleanup_app_meta_ alder_app_meta *m = meta(MINIMAL);
        alder_ocispec_settings s = settings();
        _cleanup_json_ json_t *c = generate(m, &s);
        check_at(c, "true", "root", "readonly", NULL);
        check_at(c, "\"hello\"", "hostname", NULL);
        check_at(c, "[\"/a\"]", "process", "args", NULL);
        check_at(c, "{\"uid\": 0, \"gid\": 0}", "process", "user", NULL);
        check_at(c, "\"/\"", "process", "cwd", NULL);
        check_at(c, "true", "process", "noNewPrivileges", NULL);
        check_at(c, "false", "process", "terminal", NULL);
        check_at(c, "200", "process", "oomScoreAdj", NULL);
        check_at(c, "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"]", "process", "env", NULL);
        check_at(c, "{\"bounding\": [], \"effective\": [], \"inheritable\": [], \"permitted\": [], \"ambient\": []}",
                 "process", "capabilities", NULL);
        check_at(c, "[{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}]", "process", "rlimits", NULL);
        check_at(c,
                 "[{\"type\": \"pid\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"}, {\"type\": \"mount\"},"
                 " {\"type\": \"cgroup\"}, {\"type\": \"user\"}, {\"type\": \"network\"}]",
                 "linux", "namespaces", NULL);
        check_at(c, "[{\"containerID\": 0, \"hostID\": 165536, \"size\": 65536}]", "linux", "uidMappings", NULL);
        check_at(c, "[{\"containerID\": 0, \"hostID\": 165536, \"size\": 65536}]", "linux", "gidMappings", NULL);
        check_at(c, NULL, "linux", "resources", "memory", NULL);
        check_at(c, "[]", "linux", "devices", NULL);
        check_at(c, "\"SCMP_ACT_ERRNO\"", "linux", "seccomp", "defaultAction", NULL);
        check_at(c, "1", "linux", "seccomp", "defaultErrnoRet", NULL);
        const json_t *masked = json_object_get(json_object_get(c, "linux"), "maskedPaths");
        assert_true(has_string(masked, "/proc/kcore"));
        assert_true(has_string(masked, "/sys/firmware"));
        assert_true(has_string(json_object_get(json_object_get(c, "linux"), "readonlyPaths"), "/proc/sys"));
        check_at(mount_at(c, "/sys"),
                 "{\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\","
                 " \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]}",
                 NULL);
        check_at(mount_at(c, "/dev/shm"), "[\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=64m\"]", "options",
                 NULL);
        assert_non_null(mount_at(c, "/proc"));
        assert_non_null(mount_at(c, "/tmp"));
        assert_non_null(mount_at(c, "/dev/mqueue"));
        assert_null(mount_at(c, "/run/alder/secd.d")); /* no alder-secd socket unless the device gives one */
}

/* The app's secd folder: read-only at a fixed path, named by the environment, whatever the image said. */
static void test_secd_socket(void **state)
{
        _cleanup_app_meta_ alder_app_meta *m = meta(full);
        char *env[] = {"PATH=/bin", "ALDER_SECD_SOCKET=/elsewhere", "A=b", NULL};
        char **image_env = m->env;
        m->env = env;
        alder_ocispec_settings s = settings();
        s.secd_dir = "/run/alder/secd/apps/hello";
        json_t *c = generate(m, &s);
        m->env = image_env;
        check_at(mount_at(c, "/run/alder/secd.d"),
                 "{\"destination\": \"/run/alder/secd.d\", \"type\": \"bind\", \"source\": "
                 "\"/run/alder/secd/apps/hello\", \"options\": [\"bind\", \"ro\", \"nosuid\", \"nodev\", \"noexec\"]}",
                 NULL);
        check_at(c, "[\"PATH=/bin\", \"A=b\", \"ALDER_SECD_SOCKET=/run/alder/secd.d/secd.sock\"]", "process", "env",
                 NULL);
        json_decref(c);
}

static void test_full_meta_relaxes_only_what_it_asks(void **state)
{
        _cleanup_app_meta_ alder_app_meta *m = meta(full);
        alder_ocispec_settings s = settings();
        s.cgroups_path = "/alder/hello";
        _cleanup_json_ json_t *c = generate(m, &s);
        check_at(c, "[\"/hello\", \"--serve\"]", "process", "args", NULL);
        check_at(c, "[\"PATH=/bin\", \"A=b\"]", "process", "env", NULL);
        check_at(c, "{\"uid\": 1000, \"gid\": 100}", "process", "user", NULL);
        check_at(c, "\"/srv\"", "process", "cwd", NULL);
        check_at(c, "[\"CAP_NET_BIND_SERVICE\"]", "process", "capabilities", "ambient", NULL);
        check_at(c, "[\"CAP_NET_BIND_SERVICE\"]", "process", "capabilities", "bounding", NULL);
        check_at(c,
                 "[{\"type\": \"pid\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"}, {\"type\": \"mount\"},"
                 " {\"type\": \"cgroup\"}, {\"type\": \"user\"}]",
                 "linux", "namespaces", NULL);
        check_at(c, "{\"limit\": 67108864}", "linux", "resources", "memory", NULL);
        check_at(c, "{\"quota\": 50000, \"period\": 100000}", "linux", "resources", "cpu", NULL);
        check_at(c, "{\"limit\": 64}", "linux", "resources", "pids", NULL);
        check_at(c, "\"/alder/hello\"", "linux", "cgroupsPath", NULL);
        check_at(c, "[{\"path\": \"/dev/full\", \"type\": \"c\", \"major\": 1, \"minor\": 7, \"fileMode\": 438}]",
                 "linux", "devices", NULL);
        const json_t *rules = json_object_get(json_object_get(json_object_get(c, "linux"), "resources"), "devices");
        check_at(json_array_get(rules, 0), "{\"allow\": false, \"access\": \"rwm\"}", NULL);
        check_at(json_array_get(rules, json_array_size(rules) - 1),
                 "{\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 7, \"access\": \"rwm\"}", NULL);
        check_at(mount_at(c, "/data"),
                 "{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/var/lib/alder/volumes/hello/data\","
                 " \"options\": [\"rbind\", \"nosuid\", \"nodev\"]}",
                 NULL);
        check_at(mount_at(c, "/dev/full"), "\"bind\"", "type", NULL);
        check_at(mount_at(c, "/sys"), "\"bind\"", "type", NULL); /* no own netns: sysfs cannot be mounted */
}

static void test_limits_off_keeps_device_rules(void **state)
{
        _cleanup_app_meta_ alder_app_meta *m = meta(full);
        alder_ocispec_settings s = settings();
        s.limits = false;
        _cleanup_json_ json_t *c = generate(m, &s);
        const json_t *res = json_object_get(json_object_get(c, "linux"), "resources");
        assert_int_equal(json_object_size(res), 1);
        assert_int_equal(json_array_size(json_object_get(res, "devices")), 10);
}

static void test_seccomp_profile(void **state)
{
        static const char *const forbidden[] = {"mount",           "umount2",    "unshare",           "setns",
                                                "ptrace",          "kexec_load", "init_module",       "bpf",
                                                "perf_event_open", "keyctl",     "add_key",           "pivot_root",
                                                "swapon",          "reboot",     "open_by_handle_at", "clone3"};
        _cleanup_app_meta_ alder_app_meta *m = meta(MINIMAL);
        alder_ocispec_settings s = settings();
        _cleanup_json_ json_t *c = generate(m, &s);
        const json_t *seccomp = json_object_get(json_object_get(c, "linux"), "seccomp");
        check_at(seccomp, "[\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_AARCH64\", \"SCMP_ARCH_ARM\"]", "architectures", NULL);
        const json_t *allowed = json_object_get(json_array_get(json_object_get(seccomp, "syscalls"), 0), "names");
        assert_int_equal(json_array_size(allowed), alder_ocispec_seccomp_n_allowed);
        assert_true(has_string(allowed, "read"));
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(forbidden); i++)
                if (has_string(allowed, forbidden[i]))
                        fail_msg("%s is allowed", forbidden[i]);
        check_at(json_array_get(json_object_get(seccomp, "syscalls"), 1),
                 "{\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0,"
                 " \"value\": 2114060288, \"valueTwo\": 0, \"op\": \"SCMP_CMP_MASKED_EQ\"}]}",
                 NULL);
}

/* Replaces a string of the meta (a field appmeta would already refuse can still reach the generator). */
static void replace(char **field, const char *value)
{
        free(*field);
        *field = strdup(value);
        assert_non_null(*field);
}

typedef enum meta_field { USER, CAPABILITY, DEVICE, VOLUME } meta_field;

/* The app.json field each kind of row replaces, as errors name it. */
static const char *const field_names[] = {
        [USER] = "runtime.user",
        [CAPABILITY] = "permissions.capabilities[0]",
        [DEVICE] = "permissions.devices[0]",
        [VOLUME] = "permissions.volumes[0]",
};

/*
 * A field appmeta would already refuse can still reach the generator, so rows
 * bypass appmeta. Each value of a row gets the message "app.json: field 'F': "
 * + `why` with '@' replaced by the value.
 */
#define MAX_VALUES 4
static const struct {
        meta_field field;
        int errnum;
        const char *why;
        const char *values[MAX_VALUES];
} error_cases[] = {
        {USER, EINVAL, "'@' is not numeric UID[:GID]", {"nobody", "1000:staff", "1000:", "-1"}},
        {USER, ERANGE, "'@' is outside the 65536 ids mapped for the app", {"65536"}},
        {CAPABILITY, EINVAL, "unknown capability '@'", {"CAP_FLY", "CAP_chown"}},
        {DEVICE, EINVAL, "'@' is not a path under /dev", {"/etc/passwd", "/dev/../etc/shadow", "/dev/./x", "/dev/.."}},
        {DEVICE, ENOENT, "'@': No such file or directory", {"/dev/alder-no-such-device"}},
        {DEVICE, EINVAL, "'@' is not a device node", {"/dev/shm"}},
        {VOLUME, EINVAL, "path '@' is reserved for the runtime", {"/proc/self", "/sys", "/dev/x"}},
        {VOLUME, EINVAL, "path '@' is not a normalized absolute path below /", {"/", "/a/../b", "/a/..", "/a//b"}},
};

/* "app.json: field 'F': " + why with '@' replaced by value. */
static void expected_message(char *buf, size_t size, size_t row, const char *value)
{
        const char *why = error_cases[row].why, *at = strchr(why, '@');
        assert_non_null(at);
        snprintf(buf, size, "app.json: field '%s': %.*s%s%s", field_names[error_cases[row].field], (int) (at - why),
                 why, value, at + 1);
}

static char **field_of(alder_app_meta *m, meta_field f)
{
        char **fields[] = {[USER] = &m->user,
                           [CAPABILITY] = &m->capabilities[0],
                           [DEVICE] = &m->devices[0],
                           [VOLUME] = &m->volumes[0].path};
        return fields[f];
}

static void test_meta_errors(void **state)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(error_cases); i++)
                for (size_t k = 0; k < MAX_VALUES && error_cases[i].values[k]; k++) {
                        const char *value = error_cases[i].values[k];
                        _cleanup_app_meta_ alder_app_meta *m = meta(full);
                        replace(field_of(m, error_cases[i].field), value);
                        alder_ocispec_settings s = settings();
                        _cleanup_error_ alder_error *err = NULL;
                        json_t *c = NULL;
                        char name[64], expected[256];
                        alder_test_case_name(name, i, "%s", value);
                        expected_message(expected, sizeof(expected), i, value);
                        int r = alder_ocispec_generate(m, &s, &c, &err);
                        alder_test_check_error(name, r, err, error_cases[i].errnum, expected);
                        assert_null(c);
                }
}

static void test_settings_errors(void **state)
{
        _cleanup_app_meta_ alder_app_meta *m = meta(MINIMAL);
        _cleanup_app_meta_ alder_app_meta *nothing = meta(MINIMAL);
        _cleanup_error_ alder_error *err = NULL;
        json_t *c = NULL;
        alder_ocispec_settings s = settings();
        s.id_start = 0;
        assert_alder_error(alder_ocispec_generate(m, &s, &c, &err), ERANGE,
                           "container settings: id range 0+65536 must be non-root, at least 1024 ids and within "
                           "32 bits");
        s = settings();
        s.id_start = UINT32_MAX - 10;
        assert_alder_error(alder_ocispec_generate(m, &s, &c, &err), ERANGE,
                           "container settings: id range 4294967285+65536 must be non-root, at least 1024 ids and "
                           "within 32 bits");
        s = settings();
        s.rootfs = NULL;
        assert_alder_error(alder_ocispec_generate(m, &s, &c, &err), EINVAL,
                           "container settings: no root file system given");
        s = settings();
        s.volume_dirs = NULL;
        _cleanup_app_meta_ alder_app_meta *f = meta(full);
        assert_alder_error(alder_ocispec_generate(f, &s, &c, &err), EINVAL,
                           "volume 'data': no absolute host directory given");
        s = settings();
        replace(&nothing->cmd[0], "");
        nothing->cmd[0][0] = '\0';
        free(nothing->cmd[0]);
        nothing->cmd[0] = NULL;
        assert_alder_error(alder_ocispec_generate(nothing, &s, &c, &err), EINVAL,
                           "app.json: fields 'runtime.entrypoint' and 'runtime.cmd': both empty, nothing to run");
        assert_null(c);
}

static void test_write_bundle(void **state)
{
        char dir[] = "/tmp/alder-test-ocispec-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_app_meta_ alder_app_meta *m = meta(MINIMAL);
        alder_ocispec_settings s = settings();
        _cleanup_json_ json_t *c = generate(m, &s);
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_ocispec_write_bundle(dir, c, &err), 0);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/config.json", dir);
        _cleanup_json_ json_t *back = NULL;
        assert_int_equal(alder_json_load_file(path, ALDER_JSON_DEFAULT_MAX_SIZE, &back, &err), 0);
        alder_test_check_json("config.json", back, c);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
        char missing[PATH_MAX];
        snprintf(missing, sizeof(missing), "%s/nope", dir);
        assert_int_equal(alder_ocispec_write_bundle(missing, c, &err) < 0, 1);
        assert_non_null(strstr(alder_error_message(err), "write bundle /tmp/alder-test-ocispec-"));
}

static void test_capability_names(void **state)
{
        assert_true(alder_ocispec_capability_known("CAP_CHOWN"));
        assert_true(alder_ocispec_capability_known("CAP_CHECKPOINT_RESTORE"));
        assert_false(alder_ocispec_capability_known("cap_chown"));
        assert_false(alder_ocispec_capability_known("CAP_"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal_is_hardened),
                cmocka_unit_test(test_full_meta_relaxes_only_what_it_asks),
                cmocka_unit_test(test_limits_off_keeps_device_rules),
                cmocka_unit_test(test_secd_socket),
                cmocka_unit_test(test_seccomp_profile),
                cmocka_unit_test(test_meta_errors),
                cmocka_unit_test(test_settings_errors),
                cmocka_unit_test(test_write_bundle),
                cmocka_unit_test(test_capability_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
