/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd's store (device/secd/store.c): sealed keys and secrets per app,
 * the device key, and what failed writes leave behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/fileio.h"
#include "store.h"

/* A call fails with `err` once `after` more calls have succeeded (-1: never). */
struct fault {
        int after, err;
};
static struct fault fsync_fault = {-1, EIO}, renameat_fault = {-1, ENOSPC}, getrandom_fault = {-1, ENOSYS};

static bool inject(struct fault *f)
{
        if (f->after < 0 || f->after-- > 0)
                return false;
        errno = f->err;
        return true;
}

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
        return inject(&fsync_fault) ? -1 : __real_fsync(fd);
}

int __real_renameat(int a, const char *b, int c, const char *d);
int __wrap_renameat(int a, const char *b, int c, const char *d);
int __wrap_renameat(int a, const char *b, int c, const char *d)
{
        return inject(&renameat_fault) ? -1 : __real_renameat(a, b, c, d);
}

ssize_t __real_getrandom(void *buf, size_t n, unsigned flags);
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags);
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags)
{
        return inject(&getrandom_fault) ? -1 : __real_getrandom(buf, n, flags);
}

struct fixture {
        char root[64];
        struct secd_store s;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        strcpy(f->root, "/tmp/test-secd-store.XXXXXX");
        assert_non_null(mkdtemp(f->root));
        assert_int_equal(secd_store_open(&f->s, f->root, NULL), 0);
        fsync_fault.after = renameat_fault.after = getrandom_fault.after = -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        secd_store_close(&f->s);
        assert_int_equal(alder_remove_tree(f->root, NULL), 0);
        free(f);
        return 0;
}

static void make_key(struct secd_key *k, psa_key_id_t id, uint8_t fill)
{
        *k = (struct secd_key){0};
        psa_set_key_type(&k->attrs, PSA_KEY_TYPE_AES);
        psa_set_key_bits(&k->attrs, 128);
        psa_set_key_id(&k->attrs, id);
        k->blob_len = 16;
        memset(k->blob, fill, 16);
}

/* Names in dir (not "." or ".."), to check nothing is left behind. */
static size_t count_files(const char *dir)
{
        DIR *d = opendir(dir);
        size_t n = 0;
        struct dirent *e;
        while (d && (e = readdir(d)))
                n += e->d_name[0] != '.' || (e->d_name[1] && e->d_name[1] != '.');
        if (d)
                closedir(d);
        return n;
}

static void test_device_key_is_made_once(void **state)
{
        struct fixture *f = *state;
        char path[128];
        struct stat st;
        snprintf(path, sizeof(path), "%s/config/secd/device.key", f->root);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(st.st_size, SECD_DEVICE_KEY_SIZE);
        struct secd_store again;
        assert_int_equal(secd_store_open(&again, f->root, NULL), 0);
        assert_memory_equal(again.device_key, f->s.device_key, SECD_DEVICE_KEY_SIZE);
        secd_store_close(&again);

        /* a device key of the wrong size is refused, naming the file */
        alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic(path, "short", 5, 0600, NULL), 0);
        char want[256];
        snprintf(want, sizeof(want), "device key: %s: expected 32 bytes, found 5", path);
        assert_alder_error(secd_store_open(&again, f->root, &err), EINVAL, want);
        alder_error_free(err);
}

static void test_no_device_key_without_randomness(void **state)
{
        char root[] = "/tmp/test-secd-store-rnd.XXXXXX";
        assert_non_null(mkdtemp(root));
        struct secd_store s;
        alder_error *err = NULL;
        getrandom_fault.after = 0;
        assert_alder_error(secd_store_open(&s, root, &err), ENOSYS,
                           "device key: getrandom for the device key: Function not implemented");
        alder_error_free(err);
        assert_int_equal(alder_remove_tree(root, NULL), 0);
}

static void test_keys_round_trip_and_list(void **state)
{
        struct fixture *f = *state;
        struct secd_key k, back;
        for (psa_key_id_t id = 3; id > 0; id--) {
                make_key(&k, id, (uint8_t) id);
                assert_int_equal(secd_store_key_create(&f->s, "app1", &k, NULL), 0);
        }
        assert_int_equal(secd_store_key_load(&f->s, "app1", 2, &back, NULL), 0);
        assert_int_equal(back.blob_len, 16);
        assert_int_equal(back.blob[0], 2);
        assert_int_equal(psa_get_key_id(&back.attrs), 2);

        psa_key_attributes_t list[4];
        size_t n;
        assert_int_equal(secd_store_key_list(&f->s, "app1", list, 4, &n, NULL), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(list[i].private_id, i + 1); /* sorted */
        alder_error *err = NULL;
        assert_alder_error(secd_store_key_list(&f->s, "app1", list, 2, &n, &err), E2BIG, ({
                                   static char m[256];
                                   snprintf(m, sizeof(m), "%s/var/lib/alder/secd/app1/keys: more than 2 entries",
                                            f->root);
                                   m;
                           }));
        make_key(&k, 2, 9);
        assert_alder_error(secd_store_key_create(&f->s, "app1", &k, &err), EEXIST, "app app1 already has a key 2");
        /* another app has its own namespace */
        assert_int_equal(secd_store_key_load(&f->s, "app2", 2, &back, NULL), -ENOENT);
        assert_int_equal(secd_store_key_list(&f->s, "app2", list, 4, &n, NULL), 0);
        assert_int_equal(n, 0);
        assert_int_equal(secd_store_key_remove(&f->s, "app1", 2, NULL), 0);
        assert_int_equal(secd_store_key_load(&f->s, "app1", 2, &back, NULL), -ENOENT);
        alder_error_free(err);
}

static void test_failed_writes_leave_the_old_state(void **state)
{
        struct fixture *f = *state;
        char dir[160];
        snprintf(dir, sizeof(dir), "%s/var/lib/alder/secd/app1/keys", f->root);
        struct secd_key k;
        make_key(&k, 1, 1);
        alder_error *err = NULL;
        for (int step = 0; step < 2; step++) {
                (step == 0 ? &fsync_fault : &renameat_fault)->after = 0;
                int r = secd_store_key_create(&f->s, "app1", &k, &err);
                assert_int_equal(r, step == 0 ? -EIO : -ENOSPC);
                assert_int_equal(count_files(dir), 0); /* no key, no temp file */
                alder_error_clear(&err);
        }
        /* a secret's old value survives a failed overwrite */
        assert_int_equal(secd_store_ps_set(&f->s, "app1", 5, (const uint8_t *) "old", 3, 0, NULL), 0);
        renameat_fault.after = 0;
        assert_int_equal(secd_store_ps_set(&f->s, "app1", 5, (const uint8_t *) "new", 3, 0, &err), -ENOSPC);
        uint8_t buf[ALDER_PS_MAX_DATA_SIZE];
        size_t len;
        psa_storage_create_flags_t flags;
        assert_int_equal(secd_store_ps_get(&f->s, "app1", 5, buf, &len, &flags, NULL), 0);
        assert_int_equal(len, 3);
        assert_memory_equal(buf, "old", 3);
        snprintf(dir, sizeof(dir), "%s/var/lib/alder/secd/app1/ps", f->root);
        assert_int_equal(count_files(dir), 1);
        alder_error_free(err);
}

static void test_secrets_write_once_and_limits(void **state)
{
        struct fixture *f = *state;
        alder_error *err = NULL;
        uint8_t buf[ALDER_PS_MAX_DATA_SIZE + 1] = {0};
        size_t len;
        psa_storage_create_flags_t flags;
        assert_int_equal(secd_store_ps_set(&f->s, "a", 1, (const uint8_t *) "x", 1, PSA_STORAGE_FLAG_WRITE_ONCE, NULL),
                         0);
        assert_alder_error(secd_store_ps_set(&f->s, "a", 1, (const uint8_t *) "y", 1, 0, &err), EPERM,
                           "secret 0000000000000001 of app a is write-once");
        assert_alder_error(secd_store_ps_remove(&f->s, "a", 1, &err), EPERM,
                           "secret 0000000000000001 of app a is write-once");
        assert_int_equal(secd_store_ps_get(&f->s, "a", 1, buf, &len, &flags, NULL), 0);
        assert_int_equal(flags, PSA_STORAGE_FLAG_WRITE_ONCE);
        assert_int_equal(secd_store_ps_set(&f->s, "a", 2, buf, ALDER_PS_MAX_DATA_SIZE, 0, NULL), 0);
        assert_alder_error(secd_store_ps_set(&f->s, "a", 3, buf, ALDER_PS_MAX_DATA_SIZE + 1, 0, &err), EINVAL,
                           "secret of 16385 bytes: at most 16384");
        assert_int_equal(secd_store_ps_set(&f->s, "a", 4, NULL, 0, 0, NULL), 0); /* empty secrets exist too */
        assert_int_equal(secd_store_ps_get(&f->s, "a", 4, buf, &len, &flags, NULL), 0);
        assert_int_equal(len, 0);
        psa_storage_uid_t uids[8];
        size_t n;
        assert_int_equal(secd_store_ps_list(&f->s, "a", uids, 8, &n, NULL), 0);
        assert_int_equal(n, 3);
        assert_true(uids[0] == 1 && uids[1] == 2 && uids[2] == 4);
        alder_error_free(err);
}

static void test_files_are_bound_to_app_and_name(void **state)
{
        struct fixture *f = *state;
        char from[200], to[200];
        assert_int_equal(secd_store_ps_set(&f->s, "a", 1, (const uint8_t *) "x", 1, 0, NULL), 0);
        assert_int_equal(secd_store_add_app(&f->s, "b", NULL), 0);
        snprintf(from, sizeof(from), "%s/var/lib/alder/secd/a/ps/0000000000000001", f->root);
        snprintf(to, sizeof(to), "%s/var/lib/alder/secd/b/ps/0000000000000001", f->root);
        assert_int_equal(link(from, to), 0);
        uint8_t buf[ALDER_PS_MAX_DATA_SIZE];
        size_t len;
        psa_storage_create_flags_t flags;
        alder_error *err = NULL;
        char want[300];
        snprintf(want, sizeof(want), "%s: does not open with the device key (corrupt or moved)", to);
        assert_alder_error(secd_store_ps_get(&f->s, "b", 1, buf, &len, &flags, &err), EBADMSG, want);
        /* renamed inside the app: also refused */
        snprintf(to, sizeof(to), "%s/var/lib/alder/secd/a/ps/0000000000000002", f->root);
        assert_int_equal(link(from, to), 0);
        assert_int_equal(secd_store_ps_get(&f->s, "a", 2, buf, &len, &flags, NULL), -EBADMSG);
        /* a file that is not sealed at all */
        assert_int_equal(alder_write_file_atomic(from, "junk", 4, 0600, NULL), 0);
        snprintf(want, sizeof(want), "%s: not a sealed secd file", from);
        assert_alder_error(secd_store_ps_get(&f->s, "a", 1, buf, &len, &flags, &err), EBADMSG, want);
        alder_error_free(err);
}

static void test_app_names(void **state)
{
        static const struct {
                const char *name;
                bool ok;
        } cases[] = {
                {"hello", true},
                {"a", true},
                {"app-1.v2_x", true},
                {"", false},
                {".", false},
                {"..", false},
                {"a..b", false},
                {"-a", false},
                {"A", false},
                {"a/b", false},
                {"a b", false},
                {"0abc", true},
                {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false}, /* 65 */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (secd_app_name_valid(cases[i].name) != cases[i].ok)
                        fail_msg("'%s': expected %s", cases[i].name, cases[i].ok ? "valid" : "invalid");
        struct fixture *f = *state;
        alder_error *err = NULL;
        assert_alder_error(secd_store_add_app(&f->s, "../x", &err), EINVAL, "'../x' is not a valid app name");
        alder_error_free(err);
}

/* An app's removal takes all its keys and secrets and nothing of another app; a cut-short one is swept. */
static void test_remove_app(void **state)
{
        struct fixture *f = *state;
        struct secd_key k, back;
        make_key(&k, 1, 1);
        assert_int_equal(secd_store_key_create(&f->s, "app1", &k, NULL), 0);
        assert_int_equal(secd_store_key_create(&f->s, "app2", &k, NULL), 0);
        assert_int_equal(secd_store_ps_set(&f->s, "app1", 7, (const uint8_t *) "x", 1, 0, NULL), 0);
        assert_int_equal(secd_store_remove_app(&f->s, "app1", NULL), 0);
        assert_int_equal(secd_store_key_load(&f->s, "app1", 1, &back, NULL), -ENOENT);
        assert_int_equal(secd_store_key_load(&f->s, "app2", 1, &back, NULL), 0);
        char dir[128];
        snprintf(dir, sizeof(dir), "%s/var/lib/alder/secd", f->root);
        assert_int_equal(count_files(dir), 1);                           /* app2 alone: no leftover of app1 */
        assert_int_equal(secd_store_remove_app(&f->s, "app1", NULL), 0); /* gone already: no error */
        alder_error *err = NULL;
        assert_alder_error(secd_store_remove_app(&f->s, "../x", &err), EINVAL, "'../x' is not a valid app name");
        /* a removal a power cut interrupted after the rename: swept at the next open */
        char leftover[160];
        snprintf(leftover, sizeof(leftover), "%s/.removed-app3/keys", dir);
        assert_int_equal(alder_mkdir_p(leftover, 0700, NULL), 0);
        secd_store_close(&f->s);
        assert_int_equal(secd_store_open(&f->s, f->root, NULL), 0);
        assert_int_equal(count_files(dir), 1);
        alder_error_free(err);
}

/* Temp files of atomic writes a crash cut short (device key, keys, secrets) go at the next open; the rest stays. */
static void test_open_removes_temp_files(void **state)
{
        struct fixture *f = *state;
        struct secd_key k, back;
        make_key(&k, 1, 1);
        assert_int_equal(secd_store_key_create(&f->s, "app1", &k, NULL), 0);
        assert_int_equal(secd_store_ps_set(&f->s, "app1", 7, (const uint8_t *) "x", 1, 0, NULL), 0);
        static const char *const temps[] = {
                "config/secd/.device.key.tmp-0badf00d",
                "var/lib/alder/secd/app1/keys/.00000002.tmp-12345678",
                "var/lib/alder/secd/app1/ps/.0000000000000007.tmp-9abcdef0",
        };
        char path[256], dir[160];
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(temps); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->root, temps[i]);
                assert_int_equal(alder_write_file_atomic(path, "half", 4, 0600, NULL), 0);
        }
        secd_store_close(&f->s);
        assert_int_equal(secd_store_open(&f->s, f->root, NULL), 0);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(temps); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->root, temps[i]);
                assert_int_equal(access(path, F_OK), -1);
        }
        snprintf(dir, sizeof(dir), "%s/config/secd", f->root);
        assert_int_equal(count_files(dir), 1); /* device.key */
        snprintf(dir, sizeof(dir), "%s/var/lib/alder/secd/app1/keys", f->root);
        assert_int_equal(count_files(dir), 1);
        assert_int_equal(secd_store_key_load(&f->s, "app1", 1, &back, NULL), 0);
        uint8_t data[ALDER_PS_MAX_DATA_SIZE];
        size_t len;
        psa_storage_create_flags_t flags;
        assert_int_equal(secd_store_ps_get(&f->s, "app1", 7, data, &len, &flags, NULL), 0);
        assert_true(len == 1 && data[0] == 'x');
        assert_true(secd_store_has_app(&f->s, "app1"));
        assert_false(secd_store_has_app(&f->s, "app2"));
        assert_false(secd_store_has_app(&f->s, ".."));
}

static void test_status_from_errno(void **state)
{
        static const struct {
                int r;
                psa_status_t s;
        } cases[] = {
                {0, PSA_SUCCESS},
                {-ENOENT, PSA_ERROR_DOES_NOT_EXIST},
                {-EEXIST, PSA_ERROR_ALREADY_EXISTS},
                {-EPERM, PSA_ERROR_NOT_PERMITTED},
                {-EBADMSG, PSA_ERROR_DATA_CORRUPT},
                {-ENOSPC, PSA_ERROR_INSUFFICIENT_STORAGE},
                {-EINVAL, PSA_ERROR_INVALID_ARGUMENT},
                {-ENOMEM, PSA_ERROR_INSUFFICIENT_MEMORY},
                {-EIO, PSA_ERROR_STORAGE_FAILURE},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_int_equal(secd_status_from_errno(cases[i].r), cases[i].s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_device_key_is_made_once, setup, teardown),
                cmocka_unit_test(test_no_device_key_without_randomness),
                cmocka_unit_test_setup_teardown(test_keys_round_trip_and_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_writes_leave_the_old_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_secrets_write_once_and_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_files_are_bound_to_app_and_name, setup, teardown),
                cmocka_unit_test_setup_teardown(test_app_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_app, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_removes_temp_files, setup, teardown),
                cmocka_unit_test(test_status_from_errno),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
