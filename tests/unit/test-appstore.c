/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"
#include "alder/appstore.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "appstore-internal.h"

static char dir[64], store_root[128];
static struct test_identity id;
static alder_trust_store *trust;

static char *make_named_package(const char *name, const char *version, uint64_t seq);

/* Writes a signed package of app `demo` with the given version and sequence; returns its path. */
static char *make_package(const char *version, uint64_t seq)
{
        return make_named_package("demo", version, seq);
}

static char *make_named_package(const char *name, const char *version, uint64_t seq)
{
        char rootfs[160], file[200], doc[256];
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs-%s-%s", dir, name, version);
        assert_int_equal(alder_mkdir_p(rootfs, 0755, NULL), 0);
        snprintf(file, sizeof(file), "%s/VERSION", rootfs);
        assert_int_equal(alder_write_file_atomic(file, version, strlen(version), 0644, NULL), 0);
        snprintf(doc, sizeof(doc),
                 "{\"format\":1,\"name\":\"%s\",\"version\":\"%s\",\"arch\":\"amd64\",\"runtime\":{\"cmd\":[\"/x\"]}}",
                 name, version);
        json_t *j = NULL;
        alder_app_meta *m = NULL;
        assert_int_equal(alder_json_parse("t", doc, strlen(doc), &j, NULL), 0);
        assert_int_equal(alder_app_meta_from_json(j, "t", &m, NULL), 0);
        char *out;
        assert_true(asprintf(&out, "%s/%s-%s.alpkg", dir, name, version) > 0);
        struct alder_cose_signer signer = {.key = id.key, .cert = id.cert};
        alder_alpkg_create_opts o = {.meta = m, .rootfs_dir = rootfs, .sequence = seq, .signer = &signer};
        assert_int_equal(alder_alpkg_create(&o, out, NULL, NULL), 0);
        alder_app_meta_free(m);
        json_decref(j);
        return out;
}

static int setup(void **state)
{
        strcpy(dir, "/tmp/alder-test-appstore-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(store_root, sizeof(store_root), "%s/store", dir);
        return 0;
}

static int teardown(void **state)
{
        return alder_remove_tree(dir, NULL);
}

static int group_setup(void **state)
{
        id = test_identity_new("store", NULL);
        assert_int_equal(alder_trust_store_new(&trust, NULL), 0);
        assert_int_equal(alder_trust_store_add(trust, id.cert, NULL), 0);
        return 0;
}

static int group_teardown(void **state)
{
        alder_trust_store_free(trust);
        test_identity_done(&id);
        return 0;
}

static void install(alder_appstore *s, const char *version, uint64_t seq)
{
        _cleanup_free_ char *pkg = make_package(version, seq);
        alder_appstore_staged st = {0};
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_appstore_stage(s, pkg, trust, NULL, &st, &err), 0);
        assert_int_equal(alder_appstore_commit(s, &st, &err), 0);
        alder_appstore_staged_clear(&st);
}

/* The version file of the current version, or "" when not installed. */
static void assert_current(alder_appstore *s, const char *expected)
{
        _cleanup_free_ char *cur = NULL, *file = NULL, *content = NULL;
        if (alder_appstore_current(s, "demo", &cur, NULL) < 0) {
                assert_string_equal("", expected);
                return;
        }
        assert_true(asprintf(&file, "%s/rootfs/VERSION", cur) > 0);
        assert_int_equal(alder_read_file(file, 64, &content, NULL, NULL), 0);
        assert_string_equal(content, expected);
}

static size_t count_entries(const char *rel)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", store_root, rel);
        _cleanup_closedir_ DIR *d = opendir(p);
        if (!d)
                return 0;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        return n;
}

static void test_install_update_rollback(void **state)
{
        _cleanup_appstore_ alder_appstore *s = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        install(s, "1.0.0", 10);
        assert_current(s, "1.0.0");
        install(s, "2.0.0", 20);
        assert_current(s, "2.0.0");
        _cleanup_json_ json_t *list = NULL;
        assert_int_equal(alder_appstore_list(s, &list, &err), 0);
        assert_int_equal(json_array_size(list), 1);
        json_t *app = json_array_get(list, 0);
        assert_string_equal(json_string_value(json_object_get(app, "version")), "2.0.0");
        assert_string_equal(json_string_value(json_object_get(json_object_get(app, "previous"), "version")), "1.0.0");
        /* a third version replaces the oldest: only current and previous are kept */
        install(s, "3.0.0", 30);
        assert_int_equal(count_entries("demo/versions"), 2);
        assert_int_equal(alder_appstore_rollback(s, "demo", &err), 0);
        assert_current(s, "2.0.0");
        assert_int_equal(count_entries("demo/versions"), 1);
        assert_alder_error(alder_appstore_rollback(s, "demo", &err), ENOENT,
                           "demo: no previous version to roll back to");
}

static void test_anti_rollback(void **state)
{
        _cleanup_appstore_ alder_appstore *s = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        install(s, "2.0.0", 20);
        _cleanup_free_ char *older = make_package("1.9.0", 19), *same = make_package("2.0.1", 20);
        alder_appstore_staged st = {0};
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "install '%s': demo: refusing sequence 19, older than the installed 20 (anti-rollback)", older);
        assert_alder_error(alder_appstore_stage(s, older, trust, NULL, &st, &err), EPERM, msg);
        snprintf(msg, sizeof(msg), "install '%s': demo: sequence 20 is already installed", same);
        assert_alder_error(alder_appstore_stage(s, same, trust, NULL, &st, &err), EALREADY, msg);
        assert_current(s, "2.0.0");
        assert_int_equal(count_entries("demo/versions"), 1);
        assert_int_equal(count_entries(".staging"), 0);
}

static void test_failed_stage_leaves_nothing(void **state)
{
        _cleanup_appstore_ alder_appstore *s = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        install(s, "1.0.0", 10);
        _cleanup_free_ char *pkg = make_package("2.0.0", 20);
        /* corrupt the last payload byte: verified envelope, bad root filesystem digest */
        alder_test_flip_last_byte(pkg);
        alder_appstore_staged st = {0};
        assert_true(alder_appstore_stage(s, pkg, trust, NULL, &st, &err) < 0);
        assert_current(s, "1.0.0");
        assert_int_equal(count_entries("demo/versions"), 1);
        assert_int_equal(count_entries(".staging"), 0);
}

static void test_discard_keeps_current(void **state)
{
        _cleanup_appstore_ alder_appstore *s = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        install(s, "1.0.0", 10);
        _cleanup_free_ char *pkg = make_package("2.0.0", 20);
        alder_appstore_staged st = {0};
        assert_int_equal(alder_appstore_stage(s, pkg, trust, NULL, &st, &err), 0);
        assert_int_equal(count_entries("demo/versions"), 2);
        alder_appstore_staged again = {0};
        char msg[512];
        snprintf(msg, sizeof(msg), "install '%s': demo 2.0.0 is already staged in '%s' (commit or discard it first)",
                 pkg, st.dir);
        assert_alder_error(alder_appstore_stage(s, pkg, trust, NULL, &again, &err), EEXIST, msg);
        assert_int_equal(count_entries(".staging"), 0);
        assert_int_equal(alder_appstore_discard(s, &st, &err), 0);
        assert_int_equal(count_entries("demo/versions"), 1);
        assert_current(s, "1.0.0");
}

/* Crash states: what a kill -9 between two steps leaves, and what opening the store makes of it. */
static void test_recovery_after_crashes(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        {
                _cleanup_appstore_ alder_appstore *s = NULL;
                assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
                install(s, "1.0.0", 10);
                /* crashed during an unpack: staging debris */
                char p[256];
                snprintf(p, sizeof(p), "%s/.staging/abc123/rootfs/bin", store_root);
                assert_int_equal(alder_mkdir_p(p, 0755, NULL), 0);
                /* crashed after the rename into versions/, before the pointer swap */
                _cleanup_free_ char *pkg = make_package("2.0.0", 20);
                alder_appstore_staged st = {0};
                assert_int_equal(alder_appstore_stage(s, pkg, trust, NULL, &st, &err), 0);
                alder_appstore_staged_clear(&st);
                /* a first install of another app that crashed before its pointer existed */
                snprintf(p, sizeof(p), "%s/other/versions/5-1.0.0/rootfs", store_root);
                assert_int_equal(alder_mkdir_p(p, 0755, NULL), 0);
        }
        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        assert_current(s, "1.0.0");
        assert_int_equal(count_entries("demo/versions"), 1);
        assert_int_equal(count_entries(".staging"), 0);
        char p[256];
        snprintf(p, sizeof(p), "%s/other", store_root);
        assert_int_equal(access(p, F_OK), -1);
        /* and the interrupted update can simply be installed again */
        install(s, "2.0.0", 20);
        assert_current(s, "2.0.0");
}

static void test_remove_with_and_without_data(void **state)
{
        _cleanup_appstore_ alder_appstore *s = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        install(s, "1.0.0", 10);
        char data[256];
        snprintf(data, sizeof(data), "%s/demo/data/state", store_root);
        assert_int_equal(alder_mkdir_p(data, 0755, NULL), 0);
        assert_int_equal(alder_appstore_remove(s, "demo", true, &err), 0);
        assert_current(s, "");
        assert_int_equal(access(data, F_OK), 0);
        install(s, "1.0.0", 10); /* reinstall finds its data */
        assert_int_equal(access(data, F_OK), 0);
        assert_int_equal(alder_appstore_remove(s, "demo", false, &err), 0);
        char app[200];
        snprintf(app, sizeof(app), "%s/demo", store_root);
        assert_int_equal(access(app, F_OK), -1);
        assert_int_equal(count_entries(".trash"), 0);
        assert_alder_error(alder_appstore_remove(s, "demo", false, &err), ENOENT, "demo: not installed");
        assert_int_equal(alder_appstore_remove(s, "../etc", false, &err), -EINVAL);
}

static void test_id_ranges(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        uint32_t a = 0, b = 0, again = 0;
        {
                _cleanup_appstore_ alder_appstore *s = NULL;
                assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
                install(s, "1.0.0", 10);
                _cleanup_free_ char *pkg = make_named_package("other", "1.0.0", 1);
                alder_appstore_staged st = {0};
                assert_int_equal(alder_appstore_stage(s, pkg, trust, NULL, &st, &err), 0);
                assert_int_equal(alder_appstore_commit(s, &st, &err), 0);
                alder_appstore_staged_clear(&st);
                assert_int_equal(alder_appstore_id_range(s, "demo", &a, &err), 0);
                assert_int_equal(alder_appstore_id_range(s, "other", &b, &err), 0);
                assert_int_equal(a, ALDER_APPSTORE_ID_BASE);
                assert_int_equal(b, ALDER_APPSTORE_ID_BASE + ALDER_APPSTORE_ID_COUNT);
                /* a removed app keeps its range: its ids are never handed to another app */
                assert_int_equal(alder_appstore_remove(s, "demo", false, &err), 0);
        }
        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        assert_int_equal(alder_appstore_id_range(s, "demo", &again, &err), 0);
        assert_int_equal(again, a);
        char msg[256];
        snprintf(msg, sizeof(msg), "%s/ids.json: no id range for app 'never'", store_root);
        assert_alder_error(alder_appstore_id_range(s, "never", &again, &err), ENOENT, msg);
        if (geteuid() == 0) {
                /* files of container uid 0 belong to the start of the app's range on the host */
                _cleanup_free_ char *cur = NULL, *file = NULL;
                assert_int_equal(alder_appstore_current(s, "other", &cur, &err), 0);
                assert_true(asprintf(&file, "%s/rootfs/VERSION", cur) > 0);
                struct stat st;
                assert_int_equal(stat(file, &st), 0);
                assert_int_equal(st.st_uid, b);
                assert_int_equal(st.st_gid, b);
        }
}

/* Installs 1.0.0 and 2.0.0, then stages 3.0.0 without committing it: what an update leaves at its commit. */
static void stage_third_version(char *dir_out, size_t size)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        install(s, "1.0.0", 10);
        install(s, "2.0.0", 20);
        _cleanup_free_ char *pkg = make_package("3.0.0", 30);
        alder_appstore_staged st = {0};
        assert_int_equal(alder_appstore_stage(s, pkg, trust, NULL, &st, &err), 0);
        snprintf(dir_out, size, "%s", st.dir);
        alder_appstore_staged_clear(&st);
}

/* An update that crashed after staging, before commit or discard: current and previous stay, the stray goes. */
static void test_recovery_removes_unreferenced_version(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        char stray[256];
        stage_third_version(stray, sizeof(stray));
        assert_int_equal(count_entries("demo/versions"), 3);
        {
                /* what alder-app-stage opens: a running install must survive it */
                _cleanup_appstore_ alder_appstore *s = NULL;
                assert_int_equal(alder_appstore_open_flags(store_root, ALDER_APPSTORE_NO_RECOVERY, &s, &err), 0);
                assert_int_equal(access(stray, F_OK), 0);
        }
        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        assert_int_equal(access(stray, F_OK), -1);
        assert_int_equal(count_entries("demo/versions"), 2);
        assert_current(s, "2.0.0");
        assert_int_equal(alder_appstore_rollback(s, "demo", &err), 0);
        assert_current(s, "1.0.0");
        alder_appstore *none = NULL;
        char msg[256];
        snprintf(msg, sizeof(msg), "open app store '%s': unknown flags 0x4", store_root);
        assert_alder_error(alder_appstore_open_flags(store_root, 4, &none, &err), EINVAL, msg);
}

/*
 * A commit killed between its two pointer swaps (previous already moved to the
 * old current): recovery rolls it forward from the intent, so the rollback
 * target is the version before, not lost. Also: the temp files of a killed
 * swap or ids.json write are removed.
 */
static void test_recovery_rolls_an_interrupted_commit_forward(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        char app[256], staged[256], target[300], path[300];
        stage_third_version(staged, sizeof(staged));
        snprintf(target, sizeof(target), "versions/%s", strrchr(staged, '/') + 1);
        snprintf(app, sizeof(app), "%s/demo", store_root);
        snprintf(path, sizeof(path), "%s/.commit", app);
        char intent[512];
        int n = snprintf(intent, sizeof(intent), "{\"current\": \"%s\", \"previous\": \"versions/20-2.0.0\"}", target);
        assert_int_equal(alder_write_file_atomic(path, intent, (size_t) n, 0644, &err), 0);
        snprintf(path, sizeof(path), "%s/previous", app);
        assert_int_equal(alder_symlink_swap("versions/20-2.0.0", path, &err), 0); /* the first swap, then the kill */
        snprintf(path, sizeof(path), "%s/.current.tmp-0badf00d", app);
        assert_int_equal(symlink("versions/20-2.0.0", path), 0);
        snprintf(path, sizeof(path), "%s/.ids.json.tmp-12345678", store_root);
        assert_int_equal(alder_write_file_atomic(path, "{}", 2, 0644, &err), 0);

        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        assert_current(s, "3.0.0");
        snprintf(path, sizeof(path), "%s/.commit", app);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof(path), "%s/.current.tmp-0badf00d", app);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof(path), "%s/.ids.json.tmp-12345678", store_root);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(alder_appstore_rollback(s, "demo", &err), 0);
        assert_current(s, "2.0.0");
}

/* A second store handle (alder-app-stage's) allocates; the first sees it at once. */
static void test_id_range_not_cached(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_appstore_ alder_appstore *daemon = NULL, *worker = NULL;
        assert_int_equal(alder_appstore_open(store_root, &daemon, &err), 0);
        assert_int_equal(alder_appstore_open_flags(store_root, ALDER_APPSTORE_NO_RECOVERY, &worker, &err), 0);
        uint32_t start = 0, seen = 0;
        assert_true(alder_appstore_id_range(daemon, "demo", &seen, NULL) == -ENOENT);
        assert_int_equal(appstore_allocate_ids(worker, "demo", &start, &err), 0);
        assert_int_equal(alder_appstore_id_range(daemon, "demo", &seen, &err), 0);
        assert_int_equal(seen, start);
}

/* Allocation waits for another process holding the lock. */
static void test_id_allocation_locked(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        char lock[200];
        snprintf(lock, sizeof(lock), "%s/.ids.lock", store_root);
        _cleanup_close_ int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                uint32_t start = 0;
                _exit(appstore_allocate_ids(s, "demo", &start, NULL) == 0 ? 0 : 1);
        }
        usleep(200 * 1000);
        uint32_t start = 0;
        int status = 0;
        assert_true(alder_appstore_id_range(s, "demo", &start, NULL) == -ENOENT); /* still waiting */
        assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
        assert_int_equal(flock(fd, LOCK_UN), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(alder_appstore_id_range(s, "demo", &start, &err), 0);
        assert_int_equal(start, ALDER_APPSTORE_ID_BASE);
}

/* ---- staged <-> JSON ---- */

/* text with every "ROOT" replaced by the store's root (malloc'ed). */
static char *with_root(const char *text)
{
        char *out = malloc(strlen(text) * 4 + sizeof(store_root) * 8 + 1);
        assert_non_null(out);
        char *o = out;
        for (const char *p = text; *p;) {
                if (strncmp(p, "ROOT", 4) == 0) {
                        o = stpcpy(o, store_root);
                        p += 4;
                } else {
                        *o++ = *p++;
                }
        }
        *o = '\0';
        return out;
}

static void make_version_dir(const char *rel)
{
        _cleanup_free_ char *p = with_root(rel);
        assert_int_equal(alder_mkdir_p(p, 0755, NULL), 0);
}

static void test_staged_json_round_trip(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        assert_string_equal(alder_appstore_root(s), store_root);
        _cleanup_free_ char *pkg = make_package("1.2.3-rc.1", 7);
        alder_appstore_staged st = {0}, back = {0};
        assert_int_equal(alder_appstore_stage(s, pkg, trust, NULL, &st, &err), 0);
        _cleanup_json_ json_t *obj = NULL, *expected = NULL;
        assert_int_equal(alder_appstore_staged_to_json(&st, &obj, &err), 0);
        _cleanup_free_ char *text = with_root("{\"name\":\"demo\",\"version\":\"1.2.3-rc.1\",\"sequence\":7,"
                                              "\"dir\":\"ROOT/demo/versions/7-1.2.3-rc.1\"}");
        expected = alder_test_json(text);
        alder_test_check_json("to_json", obj, expected);
        assert_int_equal(alder_appstore_staged_from_json(s, obj, "staged", &back, &err), 0);
        assert_string_equal(back.name, st.name);
        assert_string_equal(back.version, st.version);
        assert_int_equal(back.sequence, st.sequence);
        assert_string_equal(back.dir, st.dir);
        assert_int_equal(alder_appstore_commit(s, &back, &err), 0);
        assert_current(s, "1.2.3-rc.1");
        alder_appstore_staged_clear(&back);
        alder_appstore_staged_clear(&st);
}

static void test_staged_from_json_invalid(void **state)
{
        static const char long_version[] = "1.0.0-"
                                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        static const struct {
                const char *doc;
                int errnum;
                const char *message;
        } cases[] = {
                {"[]", EINVAL, "staged: expected object, got array"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":7,\"dir\":\"ROOT/demo/versions/7-1.0.0\","
                 "\"extra\":1}",
                 EINVAL, "staged: field 'extra': unknown field"},
                {"{\"version\":\"1.0.0\",\"sequence\":7,\"dir\":\"ROOT/demo/versions/7-1.0.0\"}", ENOENT,
                 "staged: field 'name': missing"},
                {"{\"name\":\"../x\",\"version\":\"1.0.0\",\"sequence\":7,\"dir\":\"ROOT/demo/versions/7-1.0.0\"}",
                 EINVAL,
                 "staged: field 'name': app name '../x': character 1: only a-z, 0-9 and '-' (not first) are "
                 "allowed"},
                {"{\"name\":5,\"version\":\"1.0.0\",\"sequence\":7,\"dir\":\"ROOT/demo/versions/7-1.0.0\"}", EINVAL,
                 "staged: field 'name': expected string, got integer"},
                {"{\"name\":\"demo\",\"version\":\"1.0/../..\",\"sequence\":7,\"dir\":\"ROOT/demo/versions/7-1.0.0\"}",
                 EINVAL,
                 "staged: field 'version': version '1.0/../..': not a semantic version "
                 "(MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.4.0 or 2.0.0-rc.1)"},
                {"{\"name\":\"demo\",\"version\":\"VERSION\",\"sequence\":7,\"dir\":\"ROOT/demo/versions/7-1.0.0\"}",
                 ENAMETOOLONG, "staged: field 'version': longer than 127 bytes"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":0,\"dir\":\"ROOT/demo/versions/0-1.0.0\"}",
                 ERANGE, "staged: field 'sequence': 0 is out of range [1, 9223372036854775807]"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":\"7\",\"dir\":\"ROOT/demo/versions/7-1.0.0\"}",
                 EINVAL, "staged: field 'sequence': expected integer, got string"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":7,\"dir\":\"ROOT/demo/versions/7-1.0.0/..\"}",
                 EINVAL, "staged: field 'dir': 'ROOT/demo/versions/7-1.0.0/..' is not 'ROOT/demo/versions/7-1.0.0'"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":8,\"dir\":\"ROOT/demo/versions/7-1.0.0\"}",
                 EINVAL, "staged: field 'dir': 'ROOT/demo/versions/7-1.0.0' is not 'ROOT/demo/versions/8-1.0.0'"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":9,\"dir\":\"ROOT/demo/versions/9-1.0.0\"}",
                 ENOENT, "staged: field 'dir': 'ROOT/demo/versions/9-1.0.0': No such file or directory"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":6,\"dir\":\"ROOT/demo/versions/6-1.0.0\"}",
                 ENOTDIR, "staged: field 'dir': 'ROOT/demo/versions/6-1.0.0' is not a directory"},
                {"{\"name\":\"demo\",\"version\":\"1.0.0\",\"sequence\":7}", ENOENT, "staged: field 'dir': missing"},
        };
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_appstore_ alder_appstore *s = NULL;
        assert_int_equal(alder_appstore_open(store_root, &s, &err), 0);
        make_version_dir("ROOT/demo/versions/7-1.0.0");
        _cleanup_free_ char *file = with_root("ROOT/demo/versions/6-1.0.0");
        assert_int_equal(alder_write_file_atomic(file, "", 0, 0644, NULL), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char what[64];
                alder_test_case_name(what, i, "%s", "from_json");
                _cleanup_free_ char *text = with_root(cases[i].doc), *message = with_root(cases[i].message);
                _cleanup_free_ char *doc = NULL;
                const char *v = strstr(text, "VERSION");
                if (v)
                        assert_true(asprintf(&doc, "%.*s%s%s", (int) (v - text), text, long_version, v + 7) > 0);
                _cleanup_json_ json_t *obj = alder_test_json(doc ? doc : text);
                alder_appstore_staged st = {0};
                alder_error_clear(&err);
                int r = alder_appstore_staged_from_json(s, obj, "staged", &st, &err);
                alder_test_check_error(what, r, err, cases[i].errnum, message);
                assert_null(st.dir);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_install_update_rollback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_anti_rollback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_stage_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_discard_keeps_current, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recovery_after_crashes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_with_and_without_data, setup, teardown),
                cmocka_unit_test_setup_teardown(test_id_ranges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recovery_removes_unreferenced_version, setup, teardown),
                cmocka_unit_test_setup_teardown(test_id_range_not_cached, setup, teardown),
                cmocka_unit_test_setup_teardown(test_id_allocation_locked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_staged_json_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recovery_rolls_an_interrupted_commit_forward, setup, teardown),
                cmocka_unit_test_setup_teardown(test_staged_from_json_invalid, setup, teardown),
        };
        return cmocka_run_group_tests_name("appstore", tests, group_setup, group_teardown);
}
