/* SPDX-License-Identifier: Apache-2.0 */
/* The streaming slot writer: capacity, bounds, write failures (injected), read-back. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"
#include "alder/fileio.h"
#include "alder/slot.h"

#define SLOT_SIZE (256 * 1024)

/* ---- injected failures ----------------------------------------------------------- */

static int fail_write_errno;   /* the next write() on the slot fails with it */
static size_t short_write_max; /* > 0: every write() writes at most this much */
static int fail_fsync_errno;
static int slot_fd = -1;

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        if (fd == slot_fd && fail_write_errno) {
                errno = fail_write_errno;
                fail_write_errno = 0;
                return -1;
        }
        if (fd == slot_fd && short_write_max && n > short_write_max)
                n = short_write_max;
        return __real_write(fd, buf, n);
}

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
        if (fd == slot_fd && fail_fsync_errno) {
                errno = fail_fsync_errno;
                return -1;
        }
        return __real_fsync(fd);
}

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
        return __real_pread(fd, buf, n, off);
}

static char *dir;
static char path[256];
static uint8_t data[SLOT_SIZE];

static int setup(void **state)
{
        dir = test_tmpdir();
        snprintf(path, sizeof(path), "%s/slot", dir);
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, SLOT_SIZE), 0);
        close(fd);
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t) (i * 7 + 3);
        fail_write_errno = fail_fsync_errno = 0;
        short_write_max = 0;
        return 0;
}

static int teardown(void **state)
{
        slot_fd = -1;
        test_rm_rf(dir);
        free(dir);
        return 0;
}

/* The fd the slot writer opened: the lowest free one right after open. */
static alder_slot *open_slot(void)
{
        alder_slot *s = NULL;
        int probe = dup(0);
        close(probe);
        assert_int_equal(alder_slot_open(path, &s, NULL), 0);
        slot_fd = probe;
        return s;
}

static int write_in_chunks(alder_slot *s, size_t size, size_t chunk, alder_error **err)
{
        for (size_t off = 0; off < size; off += chunk) {
                size_t n = size - off < chunk ? size - off : chunk;
                int r = alder_slot_write(s, data + off, n, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void test_write_and_read_back(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_slot_ alder_slot *s = open_slot();
        assert_int_equal(alder_slot_capacity(s), SLOT_SIZE);
        assert_int_equal(alder_slot_reserve(s, 100000, &err), 0);
        assert_int_equal(write_in_chunks(s, 100000, 4096 + 17, &err), 0);
        uint8_t d[ALDER_SHA256_LEN], want[ALDER_SHA256_LEN];
        assert_int_equal(alder_slot_finish(s, d, &err), 0);
        assert_int_equal(alder_sha256_buffer(data, 100000, want, NULL), 0);
        assert_memory_equal(d, want, sizeof(d));
}

static void test_short_writes_are_retried(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_slot_ alder_slot *s = open_slot();
        short_write_max = 1000;
        assert_int_equal(alder_slot_reserve(s, SLOT_SIZE, &err), 0);
        assert_int_equal(write_in_chunks(s, SLOT_SIZE, 65536, &err), 0);
        assert_int_equal(alder_slot_finish(s, NULL, &err), 0);
        char *back = NULL;
        size_t len;
        assert_int_equal(alder_read_file(path, SLOT_SIZE, &back, &len, NULL), 0);
        assert_memory_equal(back, data, SLOT_SIZE);
        free(back);
}

static void test_write_failures(void **state)
{
        static const struct {
                int errnum;
                const char *text;
        } rows[] = {{EIO, "Input/output error"}, {ENOSPC, "No space left on device"}};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(rows); i++) {
                _cleanup_error_ alder_error *err = NULL;
                _cleanup_slot_ alder_slot *s = open_slot();
                assert_int_equal(alder_slot_reserve(s, 8192, &err), 0);
                assert_int_equal(alder_slot_write(s, data, 4096, &err), 0);
                fail_write_errno = rows[i].errnum;
                assert_int_equal(alder_slot_write(s, data + 4096, 4096, &err), -rows[i].errnum);
                assert_non_null(strstr(alder_error_message(err), path));
                assert_non_null(strstr(alder_error_message(err), rows[i].text));
                /* a slot that was not completely written never finishes */
                alder_error_clear(&err);
                assert_int_equal(alder_slot_finish(s, NULL, &err), -EBADMSG);
        }
}

static void test_fsync_failure(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_slot_ alder_slot *s = open_slot();
        assert_int_equal(alder_slot_reserve(s, 10, &err), 0);
        assert_int_equal(alder_slot_write(s, data, 10, &err), 0);
        fail_fsync_errno = EIO;
        assert_int_equal(alder_slot_finish(s, NULL, &err), -EIO);
        assert_non_null(strstr(alder_error_message(err), "fsync"));
}

static void test_bounds(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_slot_ alder_slot *s = open_slot();
        assert_int_equal(alder_slot_write(s, data, 1, &err), -EINVAL); /* size not declared */
        assert_int_equal(alder_slot_reserve(s, SLOT_SIZE + 1, &err), -ENOSPC);
        assert_non_null(strstr(alder_error_message(err), "does not fit slot"));
        assert_int_equal(alder_slot_reserve(s, 10, &err), 0);
        assert_int_equal(alder_slot_write(s, data, 11, &err), -EFBIG);
        assert_int_equal(alder_slot_written(s), 0);
}

static void test_open_refusals(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_slot *s = NULL;
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/none", dir);
        assert_int_equal(alder_slot_open(missing, &s, &err), -ENOENT); /* never created */
        assert_int_equal(alder_slot_open(dir, &s, &err), -EISDIR);
}

/* A fake /sys/class/block: ENTRY/uevent files. */
static void add_block(const char *entry, const char *uevent)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/sys/%s", dir, entry);
        assert_int_equal(alder_mkdir_p(p, 0755, NULL), 0);
        strcat(p, "/uevent");
        assert_int_equal(alder_write_file_atomic(p, uevent, strlen(uevent), 0644, NULL), 0);
}

static void test_find_partition(void **state)
{
        char sys[300];
        snprintf(sys, sizeof(sys), "%s/sys", dir);
        add_block("vda", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
        add_block("vda2", "MAJOR=254\nMINOR=2\nDEVNAME=vda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=rootfsA\n");
        add_block("vda3", "MAJOR=254\nMINOR=3\nDEVNAME=vda3\nDEVTYPE=partition\nPARTN=3\nPARTNAME=rootfsB\n");
        add_block("vda30", "DEVNAME=vda30\nPARTNAME=rootfsB-old\n");
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        assert_int_equal(alder_slot_find_partition(sys, "/dev", "rootfsA", &a, &err), 0);
        assert_string_equal(a, "/dev/vda2");
        assert_int_equal(alder_slot_find_partition(sys, "/dev", "rootfsB", &b, &err), 0);
        assert_string_equal(b, "/dev/vda3"); /* a label is matched whole */
        char *c = NULL;
        assert_int_equal(alder_slot_find_partition(sys, "/dev", "rootfsC", &c, &err), -ENOENT);
        assert_non_null(strstr(alder_error_message(err), "no partition is labelled 'rootfsC'"));
        alder_error_clear(&err);
        add_block("vdb3", "DEVNAME=vdb3\nPARTNAME=rootfsB\n"); /* a second disk with the same layout */
        assert_int_equal(alder_slot_find_partition(sys, "/dev", "rootfsB", &c, &err), -ENOTUNIQ);
        assert_non_null(strstr(alder_error_message(err), "two partitions are labelled 'rootfsB'"));
        alder_error_clear(&err);
        assert_int_equal(alder_slot_find_partition("/nonexistent", "/dev", "rootfsA", &c, &err), -ENOENT);
        assert_null(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_and_read_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_short_writes_are_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsync_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_find_partition, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
