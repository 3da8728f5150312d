/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"
#include "alder/appstore.h"
#include "alder/fileio.h"
#include "alder/json.h"

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
        };
        return cmocka_run_group_tests_name("appstore", tests, group_setup, group_teardown);
}
