/* SPDX-License-Identifier: Apache-2.0 */
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

#include "alder/fileio.h"

/*
 * Fault injection. Each wrapped call fails with `errno_to_inject` when its
 * countdown reaches zero (fail_<call>_after = number of calls that still succeed;
 * -1 = never fail).
 */
static int fail_fsync_after = -1, fail_write_after = -1, fail_renameat_after = -1, fail_symlinkat_after = -1,
           fail_fchmod_after = -1;
static int inject_errno;
static int fsync_calls;
static int fdopendir_inheritable; /* fds handed to fdopendir() without FD_CLOEXEC */
static size_t write_chunk_limit;  /* > 0: force short writes */

static bool should_fail(int *countdown)
{
        if (*countdown < 0)
                return false;
        if (*countdown == 0) {
                *countdown = -1;
                errno = inject_errno;
                return true;
        }
        (*countdown)--;
        return false;
}

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
        fsync_calls++;
        return should_fail(&fail_fsync_after) ? -1 : __real_fsync(fd);
}

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        if (should_fail(&fail_write_after))
                return -1;
        if (write_chunk_limit && n > write_chunk_limit)
                n = write_chunk_limit;
        return __real_write(fd, buf, n);
}

static char last_renamed[256]; /* the temporary name of the last renameat() */

int __real_renameat(int a, const char *b, int c, const char *d);
int __wrap_renameat(int a, const char *b, int c, const char *d);
int __wrap_renameat(int a, const char *b, int c, const char *d)
{
        snprintf(last_renamed, sizeof(last_renamed), "%s", b);
        return should_fail(&fail_renameat_after) ? -1 : __real_renameat(a, b, c, d);
}

/* Early boot: the entropy pool is not ready yet. */
static bool no_entropy;

ssize_t __real_getrandom(void *buf, size_t n, unsigned flags);
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags);
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags)
{
        if (no_entropy) {
                errno = EAGAIN;
                return -1;
        }
        return __real_getrandom(buf, n, flags);
}

int __real_symlinkat(const char *a, int b, const char *c);
int __wrap_symlinkat(const char *a, int b, const char *c);
int __wrap_symlinkat(const char *a, int b, const char *c)
{
        return should_fail(&fail_symlinkat_after) ? -1 : __real_symlinkat(a, b, c);
}

/* fdopendir() sets FD_CLOEXEC itself, too late: a child spawned meanwhile would inherit the fd. */
DIR *__real_fdopendir(int fd);
DIR *__wrap_fdopendir(int fd);
DIR *__wrap_fdopendir(int fd)
{
        int flags = fcntl(fd, F_GETFD);
        fdopendir_inheritable += flags >= 0 && !(flags & FD_CLOEXEC);
        return __real_fdopendir(fd);
}

int __real_fchmod(int fd, mode_t m);
int __wrap_fchmod(int fd, mode_t m);
int __wrap_fchmod(int fd, mode_t m)
{
        return should_fail(&fail_fchmod_after) ? -1 : __real_fchmod(fd, m);
}

static char tmpdir[64];

static int setup(void **state)
{
        strcpy(tmpdir, "/tmp/alder-test-fileio-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        fail_fsync_after = fail_write_after = fail_renameat_after = fail_symlinkat_after = fail_fchmod_after = -1;
        inject_errno = EIO;
        fsync_calls = 0;
        write_chunk_limit = 0;
        no_entropy = false;
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static char *path_in_tmp(const char *name)
{
        char *p;
        assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        return p;
}

static void assert_file_content(const char *path, const char *expected)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_read_file(path, 1 << 20, &buf, &len, &err), 0);
        assert_int_equal(len, strlen(expected));
        assert_string_equal(buf, expected);
}

/* Number of directory entries besides . and .. (debris check). */
static int count_entries(const char *dir)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        return n;
}

static void write_ok(const char *path, const char *content)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic(path, content, strlen(content), 0644, &err), 0);
}

static void test_atomic_write_creates_and_replaces(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("state.json");
        write_ok(p, "v1\n");
        assert_file_content(p, "v1\n");
        write_ok(p, "version two\n");
        assert_file_content(p, "version two\n");
        assert_int_equal(count_entries(tmpdir), 1);
}

static void test_atomic_write_fsyncs_file_and_directory(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("f");
        write_ok(p, "x");
        assert_int_equal(fsync_calls, 2);
}

static void test_atomic_write_sets_mode_despite_umask(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("secret");
        mode_t old = umask(0077);
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic(p, "k", 1, 0644, &err), 0);
        umask(old);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
}

static void test_atomic_write_survives_short_writes(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("big");
        char big[10000];
        memset(big, 'z', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        write_chunk_limit = 7;
        write_ok(p, big);
        write_chunk_limit = 0;
        assert_file_content(p, big);
}

/* For each injected failure: error names the file, old content intact, no temp debris. */
static void check_failure_keeps_old(int *countdown, int when, int errnum, const char *expect_substring)
{
        _cleanup_free_ char *p = path_in_tmp("config.json");
        write_ok(p, "old\n");
        *countdown = when;
        inject_errno = errnum;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic(p, "new\n", 4, 0644, &err), -errnum);
        assert_non_null(strstr(alder_error_message(err), expect_substring));
        assert_non_null(strstr(alder_error_message(err), strerror(errnum)));
        assert_file_content(p, "old\n");
        assert_int_equal(count_entries(tmpdir), 1);
}

static void test_atomic_write_fsync_failure(void **state)
{
        check_failure_keeps_old(&fail_fsync_after, 0, EIO, "fsync '");
}

static void test_atomic_write_enospc(void **state)
{
        check_failure_keeps_old(&fail_write_after, 0, ENOSPC, "write '");
}

static void test_atomic_write_rename_failure(void **state)
{
        check_failure_keeps_old(&fail_renameat_after, 0, EXDEV, "rename temporary file over '");
}

static void test_atomic_write_fchmod_failure(void **state)
{
        check_failure_keeps_old(&fail_fchmod_after, 0, EPERM, "chmod '");
}

/*
 * Without entropy the temp name must still differ from attempt to attempt: a
 * writer that crashed with our pid (pids repeat from boot to boot) at the same
 * place may have left its temp file behind. The first round plays that
 * writer: its rename fails (which removes its temp file), and its temp name
 * is then recreated as debris.
 */
static void test_atomic_write_without_entropy_survives_debris(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("config.json");
        no_entropy = true;
        for (int round = 0; round < 2; round++) {
                fail_renameat_after = round == 0 ? 0 : -1;
                _cleanup_error_ alder_error *err = NULL;
                int r = alder_write_file_atomic(p, "new\n", 4, 0644, &err);
                if (round == 0) {
                        assert_int_equal(r, -EIO);
                        _cleanup_free_ char *debris = path_in_tmp(last_renamed);
                        write_ok(debris, "left by a crash\n");
                } else if (r < 0) {
                        fail_msg("%s", alder_error_message(err));
                }
        }
        assert_file_content(p, "new\n");
}

static void test_atomic_write_dir_fsync_failure_is_reported(void **state)
{
        /* The rename happened, but durability is unknown: the caller must hear it. */
        _cleanup_free_ char *p = path_in_tmp("f");
        fail_fsync_after = 1; /* file fsync ok, directory fsync fails */
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic(p, "x", 1, 0644, &err), -EIO);
        assert_non_null(strstr(alder_error_message(err), tmpdir));
}

static void test_atomic_write_missing_directory(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("nodir/file");
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic(p, "x", 1, 0644, &err), -ENOENT);
        assert_non_null(strstr(alder_error_message(err), "open directory '"));
}

static void test_atomic_write_refuses_directory_path(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_write_file_atomic("/tmp/", "x", 1, 0644, &err), -EINVAL);
        assert_string_equal(alder_error_message(err), "'/tmp/': not a file path");
}

/* ---- alder_atomic_file: content in pieces ---- */

static void test_atomic_file_pieces_replace_on_commit(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("fit.itb");
        _cleanup_error_ alder_error *err = NULL;
        write_ok(p, "old");
        alder_atomic_file *f = NULL;
        assert_int_equal(alder_atomic_file_open(p, 0600, &f, &err), 0);
        assert_int_equal(alder_atomic_file_write(f, "new ", 4, &err), 0);
        assert_int_equal(alder_atomic_file_write(f, "content", 7, &err), 0);
        assert_file_content(p, "old"); /* nothing shows before the commit */
        assert_int_equal(count_entries(tmpdir), 2);
        fsync_calls = 0;
        assert_int_equal(alder_atomic_file_commit(f, &err), 0);
        assert_int_equal(fsync_calls, 3); /* the file, the directory, the file under its new name */
        assert_file_content(p, "new content");
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(alder_atomic_file_write(f, "x", 1, &err), -EBADF); /* committed: closed */
        alder_atomic_file_free(f);
        assert_int_equal(count_entries(tmpdir), 1);
}

static void test_atomic_file_without_commit_leaves_nothing(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("fit.itb");
        _cleanup_error_ alder_error *err = NULL;
        write_ok(p, "old");
        {
                _cleanup_atomic_file_ alder_atomic_file *f = NULL;
                assert_int_equal(alder_atomic_file_open(p, 0600, &f, &err), 0);
                assert_int_equal(alder_atomic_file_write(f, "half", 4, &err), 0);
        }
        assert_file_content(p, "old");
        assert_int_equal(count_entries(tmpdir), 1);
}

static void test_atomic_file_failures_keep_old(void **state)
{
        static const struct {
                int *countdown;
                int errnum;
                const char *text;
        } rows[] = {
                {&fail_write_after, ENOSPC, "write '"},
                {&fail_fsync_after, EIO, "fsync '"},
                {&fail_renameat_after, EXDEV, "rename temporary file over '"},
        };
        _cleanup_free_ char *p = path_in_tmp("fit.itb");
        write_ok(p, "old");
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(rows); i++) {
                _cleanup_error_ alder_error *err = NULL;
                alder_atomic_file *f = NULL;
                assert_int_equal(alder_atomic_file_open(p, 0600, &f, &err), 0);
                inject_errno = rows[i].errnum;
                *rows[i].countdown = 0;
                int r = alder_atomic_file_write(f, "new", 3, &err);
                if (r == 0)
                        r = alder_atomic_file_commit(f, &err);
                assert_int_equal(r, -rows[i].errnum);
                assert_non_null(strstr(alder_error_message(err), rows[i].text));
                assert_non_null(strstr(alder_error_message(err), "fit.itb"));
                alder_atomic_file_free(f);
                assert_file_content(p, "old");
                assert_int_equal(count_entries(tmpdir), 1);
        }
}

/* The last fsync (the file under its new name) fails: reported, though the new content is in place. */
static void test_atomic_file_fsync_after_rename_failure(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("fit.itb");
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_atomic_file_ alder_atomic_file *f = NULL;
        assert_int_equal(alder_atomic_file_open(p, 0600, &f, &err), 0);
        assert_int_equal(alder_atomic_file_write(f, "new", 3, &err), 0);
        fail_fsync_after = 2;
        assert_int_equal(alder_atomic_file_commit(f, &err), -EIO);
        assert_non_null(strstr(alder_error_message(err), "fsync '"));
        assert_file_content(p, "new");
        assert_int_equal(count_entries(tmpdir), 1);
}

static void test_atomic_file_missing_directory(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("no/such/file");
        _cleanup_error_ alder_error *err = NULL;
        alder_atomic_file *f = NULL;
        assert_int_equal(alder_atomic_file_open(p, 0600, &f, &err), -ENOENT);
        assert_non_null(strstr(alder_error_message(err), "no/such"));
}

static void test_read_file_limits(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("f");
        write_ok(p, "0123456789");
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_read_file(p, 9, &buf, NULL, &err), -EFBIG);
        assert_non_null(strstr(alder_error_message(err), "file is 10 bytes, limit is 9"));
        alder_error_clear(&err);
        assert_int_equal(alder_read_file(p, 10, &buf, NULL, &err), 0);
        assert_string_equal(buf, "0123456789");
}

static void test_read_file_unsized_source_is_bounded(void **state)
{
        /* procfs reports size 0: the limit must hold while reading. */
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_read_file("/proc/version", 16, &buf, NULL, &err), -EFBIG);
        assert_non_null(strstr(alder_error_message(err), "more than 16 bytes"));
}

/* "No limit" (SIZE_MAX) on a source without a size must not overflow the buffer arithmetic. */
static void test_read_file_huge_limit_on_unsized_source(void **state)
{
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        char data[10000];
        memset(data, 'p', sizeof(data));
        assert_int_equal(write(fds[1], data, sizeof(data)), (ssize_t) sizeof(data));
        close(fds[1]);

        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[0]);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_read_file(path, SIZE_MAX, &buf, &len, &err), 0);
        assert_int_equal(len, sizeof(data));
        assert_memory_equal(buf, data, sizeof(data));
        assert_int_equal(buf[len], '\0');
        close(fds[0]);
}

static void test_read_file_errors(void **state)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_read_file("/nonexistent/x", 10, &buf, NULL, &err), -ENOENT);
        assert_non_null(strstr(alder_error_message(err), "open '/nonexistent/x'"));
        alder_error_clear(&err);
        assert_int_equal(alder_read_file(tmpdir, 10, &buf, NULL, &err), -EISDIR);
}

static void assert_link_target(const char *link, const char *expected)
{
        char buf[256];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);
        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, expected);
}

static void test_symlink_swap(void **state)
{
        _cleanup_free_ char *link = path_in_tmp("current");
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_symlink_swap("v1", link, &err), 0);
        assert_link_target(link, "v1");
        assert_int_equal(alder_symlink_swap("v2", link, &err), 0);
        assert_link_target(link, "v2");
        assert_int_equal(count_entries(tmpdir), 1);
}

static void test_symlink_swap_rename_failure_keeps_old_link(void **state)
{
        _cleanup_free_ char *link = path_in_tmp("current");
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_symlink_swap("v1", link, &err), 0);
        fail_renameat_after = 0;
        assert_int_equal(alder_symlink_swap("v2", link, &err), -EIO);
        assert_non_null(strstr(alder_error_message(err), "rename symlink over '"));
        assert_link_target(link, "v1");
        assert_int_equal(count_entries(tmpdir), 1);
}

static void test_symlink_swap_symlink_failure(void **state)
{
        _cleanup_free_ char *link = path_in_tmp("current");
        _cleanup_error_ alder_error *err = NULL;
        fail_symlinkat_after = 0;
        inject_errno = ENOSPC;
        assert_int_equal(alder_symlink_swap("v1", link, &err), -ENOSPC);
        assert_int_equal(count_entries(tmpdir), 0);
}

static void make_tree(void)
{
        char *paths[] = {"a", "a/b", "a/b/c"};
        for (size_t i = 0; i < 3; i++) {
                _cleanup_free_ char *p = path_in_tmp(paths[i]);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        _cleanup_free_ char *f1 = path_in_tmp("a/file1");
        _cleanup_free_ char *f2 = path_in_tmp("a/b/c/file2");
        _cleanup_free_ char *l = path_in_tmp("a/b/link");
        _cleanup_free_ char *fifo = path_in_tmp("a/b/fifo");
        write_ok(f1, "1");
        write_ok(f2, "2");
        assert_int_equal(symlink("/nonexistent", l), 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
}

static void test_fsync_tree(void **state)
{
        make_tree();
        _cleanup_free_ char *a = path_in_tmp("a");
        fsync_calls = 0;
        fdopendir_inheritable = 0;
        _cleanup_error_ alder_error *err = NULL;
        alarm(10); /* opening the FIFO would wait for a writer: a hang fails the test instead of the run */
        assert_int_equal(alder_fsync_tree(a, &err), 0);
        alarm(0);
        /* dirs a, a/b, a/b/c and files file1, file2; the dangling symlink and the FIFO are skipped */
        assert_int_equal(fsync_calls, 5);
        /* a daemon spawns children from other threads meanwhile: the scan must leak no fd into them */
        assert_int_equal(fdopendir_inheritable, 0);
}

static void test_fsync_tree_failure_names_the_file(void **state)
{
        make_tree();
        _cleanup_free_ char *a = path_in_tmp("a");
        _cleanup_error_ alder_error *err = NULL;
        fail_fsync_after = 0;
        assert_int_equal(alder_fsync_tree(a, &err), -EIO);
        assert_non_null(strstr(alder_error_message(err), "fsync '"));
        assert_non_null(strstr(alder_error_message(err), "/a/"));
}

static void test_fsync_tree_single_file_fifo_and_missing(void **state)
{
        _cleanup_free_ char *f = path_in_tmp("f");
        write_ok(f, "x");
        _cleanup_free_ char *fifo = path_in_tmp("fifo");
        assert_int_equal(mkfifo(fifo, 0600), 0);
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_fsync_tree(f, &err), 0);
        alarm(10);
        assert_int_equal(alder_fsync_tree(fifo, &err), 0); /* skipped, as below the top */
        alarm(0);
        assert_int_equal(alder_fsync_tree("/nonexistent/tree", &err), -ENOENT);
}

static void test_mkdir_p(void **state)
{
        _cleanup_free_ char *p = path_in_tmp("x/y/z");
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_mkdir_p(p, 0755, &err), 0);
        assert_int_equal(alder_mkdir_p(p, 0755, &err), 0);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        _cleanup_free_ char *f = path_in_tmp("file");
        write_ok(f, "x");
        _cleanup_free_ char *under = path_in_tmp("file/sub");
        assert_int_equal(alder_mkdir_p(under, 0755, &err), -ENOTDIR);
        assert_non_null(strstr(alder_error_message(err), "exists and is not a directory"));
}

/* The durable variant fsyncs the parent of each directory it makes, and only those; a failed fsync is reported. */
static void test_mkdir_p_durable(void **state)
{
        _cleanup_free_ char *x = path_in_tmp("x"), *p = path_in_tmp("x/y/z");
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(mkdir(x, 0700), 0);
        assert_int_equal(alder_mkdir_p_durable(p, 0700, &err), 0);
        assert_int_equal(fsync_calls, 2); /* x for y, y for z */
        assert_int_equal(alder_mkdir_p_durable(p, 0700, &err), 0);
        assert_int_equal(fsync_calls, 2);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0700);

        _cleanup_free_ char *q = path_in_tmp("x/w");
        fail_fsync_after = 0;
        assert_int_equal(alder_mkdir_p_durable(q, 0700, &err), -EIO);
        assert_non_null(strstr(alder_error_message(err), "fsync '"));
}

static void assert_join(const char *root, const char *rel, const char *expected)
{
        _cleanup_free_ char *out = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_path_join(root, rel, &out, &err), 0);
        assert_string_equal(out, expected);
}

static void assert_join_refused(const char *root, const char *rel)
{
        _cleanup_free_ char *out = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_path_join(root, rel, &out, &err), -EPERM);
        assert_null(out);
        assert_non_null(strstr(alder_error_message(err), "escapes"));
}

static void test_path_join(void **state)
{
        assert_join("/var/lib/alder", "apps/hello", "/var/lib/alder/apps/hello");
        assert_join("/var/lib/alder/", "/apps//hello/", "/var/lib/alder/apps/hello");
        assert_join("/r", "a/./b/../c", "/r/a/c");
        assert_join("/r", "a/..", "/r");
        assert_join("/r", "", "/r");
        assert_join("/", "etc/passwd", "/etc/passwd");
        assert_join("/", "..x/y", "/..x/y");
        assert_join("/", "", "/");
        assert_join("rel/root", "x", "rel/root/x");
}

static void test_path_join_refuses_escapes(void **state)
{
        assert_join_refused("/r", "..");
        assert_join_refused("/r", "../etc/passwd");
        assert_join_refused("/r", "a/../../x");
        assert_join_refused("/r", "/../x");
        assert_join_refused("/", "..");
        _cleanup_free_ char *out = NULL;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_path_join("/r", "a/../../etc", &out, &err), -EPERM);
        assert_string_equal(alder_error_message(err), "path 'a/../../etc' escapes '/r'");
}

/* The temp names of atomic writes and swaps are recognised (recovery removes them), and nothing else. */
static void test_is_temp_name(void **state)
{
        static const struct {
                const char *name;
                bool temp;
        } cases[] = {
                {".ids.json.tmp-0badf00d", true},
                {".current.tmp-12345678", true},
                {".x.tmp-abcdefAB", true},
                {"ids.json.tmp-0badf00d", false}, /* no leading dot */
                {".current.tmp-1234567", false},  /* 7 digits */
                {".current.tmp-123456789", false},
                {".current.tmp-1234567g", false},
                {".tmp-12345678", false},
                {"current", false},
                {".commit", false},
                {"", false},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                if (alder_is_temp_name(cases[i].name) != cases[i].temp)
                        fail_msg("'%s': expected %s", cases[i].name, cases[i].temp ? "a temp name" : "not one");
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_atomic_write_creates_and_replaces),
                T(test_atomic_write_fsyncs_file_and_directory),
                T(test_atomic_write_sets_mode_despite_umask),
                T(test_atomic_write_survives_short_writes),
                T(test_atomic_write_fsync_failure),
                T(test_atomic_write_enospc),
                T(test_atomic_write_rename_failure),
                T(test_atomic_write_fchmod_failure),
                T(test_atomic_write_without_entropy_survives_debris),
                T(test_atomic_write_dir_fsync_failure_is_reported),
                T(test_atomic_write_missing_directory),
                T(test_atomic_write_refuses_directory_path),
                T(test_atomic_file_pieces_replace_on_commit),
                T(test_atomic_file_without_commit_leaves_nothing),
                T(test_atomic_file_failures_keep_old),
                T(test_atomic_file_fsync_after_rename_failure),
                T(test_atomic_file_missing_directory),
                T(test_read_file_limits),
                T(test_read_file_unsized_source_is_bounded),
                T(test_read_file_huge_limit_on_unsized_source),
                T(test_read_file_errors),
                T(test_symlink_swap),
                T(test_symlink_swap_rename_failure_keeps_old_link),
                T(test_symlink_swap_symlink_failure),
                T(test_fsync_tree),
                T(test_fsync_tree_failure_names_the_file),
                T(test_fsync_tree_single_file_fifo_and_missing),
                T(test_mkdir_p),
                T(test_mkdir_p_durable),
                T(test_path_join),
                T(test_path_join_refuses_escapes),
                T(test_is_temp_name),
#undef T
        };
        return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
