/* SPDX-License-Identifier: Apache-2.0 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/fileio.h"
#include "alder/tarwrite.h"

static int fail_write_errno; /* 0 = pass through */

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        if (fail_write_errno) {
                errno = fail_write_errno;
                return -1;
        }
        return __real_write(fd, buf, n);
}

static char dir[64], out[80];

static void put(const char *rel, const char *content, mode_t mode)
{
        char p[160];
        snprintf(p, sizeof(p), "%s/tree/%s", dir, rel);
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic(p, content, strlen(content), mode, &err), 0);
        assert_int_equal(chmod(p, mode), 0); /* keep setuid bits */
}

static int setup(void **state)
{
        strcpy(dir, "/tmp/alder-test-tarwrite-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(out, sizeof(out), "%s/out.tar.zst", dir);
        char p[160];
        const char *dirs[] = {"tree", "tree/etc", "tree/bin", "tree/empty"};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(dirs); i++) {
                snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        put("etc/hostname", "device\n", 0644);
        put("bin/tool", "#!/bin/sh\necho hi\n", 0755);
        put("bin/suid", "x", 04755);
        snprintf(p, sizeof(p), "%s/tree/bin/link", dir);
        assert_int_equal(symlink("/nonexistent/target", p), 0);
        char a[160];
        snprintf(a, sizeof(a), "%s/tree/bin/tool", dir);
        snprintf(p, sizeof(p), "%s/tree/bin/tool-hard", dir);
        assert_int_equal(link(a, p), 0);
        setxattr(a, "user.alder.test", "v", 1, 0); /* may be unsupported (tmpfs without user xattrs) */
        fail_write_errno = 0;
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd);
}

static int pack(alder_tar_write_result *res, alder_error **err)
{
        char tree[80];
        snprintf(tree, sizeof(tree), "%s/tree", dir);
        _cleanup_close_ int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        return alder_tar_write_tree(tree, fd, NULL, res, err);
}

static void test_archive_content(void **state)
{
        alder_tar_write_result res;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(pack(&res, &err), 0);
        assert_int_equal(res.entries, 8);
        assert_int_equal(res.setuid_files, 1);

        struct archive *a = archive_read_new();
        archive_read_support_filter_zstd(a);
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_filename(a, out, 10240), ARCHIVE_OK);
        /* sorted, directories before their contents, directories with a trailing slash */
        static const char *const expected[] = {"bin/",          "bin/link", "bin/suid", "bin/tool",
                                               "bin/tool-hard", "empty/",   "etc/",     "etc/hostname"};
        struct archive_entry *e;
        size_t i = 0;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                assert_true(i < ALDER_ARRAY_SIZE(expected));
                assert_string_equal(archive_entry_pathname(e), expected[i]);
                if (strcmp(expected[i], "bin/link") == 0)
                        assert_string_equal(archive_entry_symlink(e), "/nonexistent/target");
                if (strcmp(expected[i], "bin/tool-hard") == 0)
                        assert_string_equal(archive_entry_hardlink(e), "bin/tool");
                if (strcmp(expected[i], "bin/suid") == 0)
                        assert_int_equal(archive_entry_mode(e) & 07777, 04755);
                if (strcmp(expected[i], "etc/hostname") == 0) {
                        char buf[32] = {0};
                        assert_int_equal(archive_read_data(a, buf, sizeof(buf)), 7);
                        assert_string_equal(buf, "device\n");
                }
                i++;
        }
        assert_int_equal(i, ALDER_ARRAY_SIZE(expected));
        archive_read_free(a);

        /* the digest is that of the bytes written */
        uint8_t d[ALDER_SHA256_LEN];
        uint64_t size;
        assert_int_equal(alder_sha256_file(out, d, &size, NULL), 0);
        assert_memory_equal(d, res.digest, sizeof(d));
        assert_int_equal(size, res.bytes_out);
}

static void test_same_tree_same_bytes(void **state)
{
        alder_tar_write_result r1, r2;
        assert_int_equal(pack(&r1, NULL), 0);
        assert_int_equal(pack(&r2, NULL), 0);
        assert_memory_equal(r1.digest, r2.digest, ALDER_SHA256_LEN);
}

static void test_write_failure_is_reported(void **state)
{
        alder_tar_write_result res;
        _cleanup_error_ alder_error *err = NULL;
        fail_write_errno = ENOSPC;
        int r = pack(&res, &err);
        fail_write_errno = 0;
        assert_int_equal(r, -ENOSPC);
        assert_non_null(strstr(alder_error_message(err), "pack '"));
        assert_non_null(strstr(alder_error_message(err), strerror(ENOSPC)));
}

static void test_missing_root(void **state)
{
        alder_tar_write_result res;
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(alder_tar_write_tree("/nonexistent/rootfs", 1, NULL, &res, &err), ENOENT,
                           "open directory '/nonexistent/rootfs': No such file or directory");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_archive_content, setup, teardown),
                cmocka_unit_test_setup_teardown(test_same_tree_same_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_failure_is_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
        };
        return cmocka_run_group_tests_name("tarwrite", tests, NULL, NULL);
}
