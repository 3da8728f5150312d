/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-logd's store (device/logd/store.c): the ring's bound and wrap-around,
 * what a crash or a damaged disk leaves (torn tail, CRC mismatch, bad
 * header), a full disk, failed writes, and reading from a sequence number.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/fileio.h"
#include "store.h"

/* ---- wrapped system calls ---- */

/*
 * fstatvfs() reports this many free bytes (UINT64_MAX: the truth). With
 * _FILE_OFFSET_BITS=64 glibc's header may turn calls into fstatvfs64: both
 * are wrapped.
 */
static uint64_t fake_free = UINT64_MAX;

static int fake_statvfs(int r, struct statvfs *st)
{
        if (r == 0 && fake_free != UINT64_MAX) {
                st->f_frsize = 4096;
                st->f_bavail = fake_free / 4096;
        }
        return r;
}

int __real_fstatvfs64(int fd, struct statvfs *st);
int __wrap_fstatvfs64(int fd, struct statvfs *st);
int __wrap_fstatvfs64(int fd, struct statvfs *st)
{
        return fake_statvfs(__real_fstatvfs64(fd, st), st);
}

int __real_fstatvfs(int fd, struct statvfs *st);
int __wrap_fstatvfs(int fd, struct statvfs *st);
int __wrap_fstatvfs(int fd, struct statvfs *st)
{
        return fake_statvfs(__real_fstatvfs(fd, st), st);
}

/* The next write() of more than a segment header fails with this errno (0: none). */
static int write_fail_errno;

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        if (write_fail_errno && n > LOGSTORE_HEADER_SIZE) {
                errno = write_fail_errno;
                write_fail_errno = 0;
                return -1;
        }
        return __real_write(fd, buf, n);
}

/* CLOCK_MONOTONIC runs this much ahead, so that the free-space check comes again without waiting. */
static uint64_t clock_skip_ms;

int __real_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts)
{
        int r = __real_clock_gettime(clock, ts);
        if (r == 0 && clock == CLOCK_MONOTONIC)
                ts->tv_sec += (time_t) (clock_skip_ms / 1000);
        return r;
}

/* ---- fixture ---- */

#define SEG (256u * 1024u)

struct fixture {
        char dir[64];
        struct logstore_options o;
        logstore *s;
};

static const uint8_t boot_a[16] = {0xa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t boot_b[16] = {0xb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void reopen(struct fixture *f)
{
        if (f->s)
                logstore_close(f->s);
        f->s = NULL;
        _cleanup_error_ alder_error *err = NULL;
        if (logstore_open(&f->o, &f->s, &err) < 0)
                fail_msg("open: %s", alder_error_message(err));
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        strcpy(f->dir, "/tmp/test-logd-store.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->o = (struct logstore_options){.dir = f->dir, .max_bytes = 4 * SEG, .segment_bytes = SEG};
        memcpy(f->o.boot_id, boot_a, 16);
        fake_free = UINT64_MAX;
        write_fail_errno = 0;
        clock_skip_ms = 0;
        reopen(f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        if (f->s)
                logstore_close(f->s);
        assert_int_equal(alder_remove_tree(f->dir, NULL), 0);
        free(f);
        return 0;
}

/* A record whose message says its number i; `pad` bytes of filler make it bigger. */
static void append(struct fixture *f, unsigned i, size_t pad)
{
        static char message[SEG];
        int n = snprintf(message, sizeof(message), "line %u ", i);
        memset(message + n, 'x', pad);
        struct logrec_field fields[] = {{{"CODE_FILE", 9}, {"a.c", 3}}, {{"N", 1}, {message, (size_t) n - 1}}};
        struct logrec r = {
                .realtime_us = 1000u * i,
                .monotonic_us = i,
                .pid = 42,
                .level = 6,
                .flags = LOGREC_TRUSTED | LOGREC_STDOUT,
                .source = {"hello", 5},
                .app = {"hello", 5},
                .version = {"1.0", 3},
                .message = {message, (size_t) n + pad},
                .fields = fields,
                .n_fields = 2,
        };
        _cleanup_error_ alder_error *err = NULL;
        if (logstore_append(f->s, &r, &err) < 0)
                fail_msg("append %u: %s", i, alder_error_message(err));
}

static void sync_store(struct fixture *f)
{
        _cleanup_error_ alder_error *err = NULL;
        if (logstore_sync(f->s, &err) < 0)
                fail_msg("sync: %s", alder_error_message(err));
}

/* The number in a record's message ("line N ..."). */
static unsigned line_of(const struct logrec *r)
{
        return (unsigned) strtoul(r->message.p + 5, NULL, 10);
}

/* Reads every record from seq `from` on; checks they are contiguous; returns how many, and the first line. */
static size_t read_all(struct fixture *f, uint64_t from, unsigned *first_line)
{
        size_t n = 0;
        uint64_t expect = 0;
        for (size_t i = logstore_find_segment(f->s, from); i < logstore_n_segments(f->s); i++) {
                logstore_reader rd;
                _cleanup_error_ alder_error *err = NULL;
                assert_int_equal(logstore_reader_open(f->s, i, from, &rd, &err), 0);
                struct logrec r;
                int k;
                while ((k = logstore_reader_next(&rd, &r, &err)) > 0) {
                        if (expect && r.seq != expect)
                                fail_msg("seq %" PRIu64 " after %" PRIu64, r.seq, expect - 1);
                        if (n == 0 && first_line)
                                *first_line = line_of(&r);
                        expect = r.seq + 1;
                        n++;
                }
                assert_int_equal(k, 0);
                logstore_reader_close(&rd);
        }
        return n;
}

static uint64_t dir_bytes(const char *dir)
{
        DIR *d = opendir(dir);
        assert_non_null(d);
        uint64_t total = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                struct stat st;
                if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0)
                        total += (uint64_t) st.st_size;
        }
        closedir(d);
        return total;
}

/* The path of the i-th segment (oldest first). */
static void segment_path(struct fixture *f, size_t i, char out[static 160])
{
        snprintf(out, 160, "%s/%016" PRIx64 ".seg", f->dir, logstore_segment(f->s, i)->number);
}

/* ---- tests ---- */

static void test_append_and_read_back(void **state)
{
        struct fixture *f = *state;
        for (unsigned i = 1; i <= 100; i++)
                append(f, i, 0);
        sync_store(f);
        reopen(f);
        assert_int_equal(logstore_next_seq(f->s), 101);
        unsigned first = 0;
        assert_int_equal(read_all(f, 0, &first), 100);
        assert_int_equal(first, 1);

        logstore_reader rd;
        struct logrec r;
        assert_int_equal(logstore_reader_open(f->s, 0, 0, &rd, NULL), 0);
        assert_int_equal(logstore_reader_next(&rd, &r, NULL), 1);
        assert_int_equal(r.seq, 1);
        assert_int_equal(r.realtime_us, 1000);
        assert_int_equal(r.pid, 42);
        assert_int_equal(r.flags, LOGREC_TRUSTED | LOGREC_STDOUT);
        assert_memory_equal(r.app.p, "hello", 5);
        assert_memory_equal(r.version.p, "1.0", 3);
        assert_memory_equal(r.message.p, "line 1 ", 7);
        assert_int_equal(r.n_fields, 2);
        struct logrec_field fl;
        size_t pos = 0;
        assert_true(logrec_field_next(&r, &pos, &fl));
        assert_memory_equal(fl.key.p, "CODE_FILE", 9);
        assert_memory_equal(fl.value.p, "a.c", 3);
        assert_true(logrec_field_next(&r, &pos, &fl));
        assert_false(logrec_field_next(&r, &pos, &fl));
        logstore_reader_close(&rd);
        assert_int_equal(logstore_stats(f->s)->damaged_regions, 0);
        assert_int_equal(logstore_stats(f->s)->torn_tail_bytes, 0);
}

/* Far more than the bound: the oldest segments go, the files never exceed it, what is kept is contiguous. */
static void test_wrap_around_keeps_bound(void **state)
{
        struct fixture *f = *state;
        const unsigned n = 10000; /* ~10 MiB of 1 KiB records into a 1 MiB store */
        for (unsigned i = 1; i <= n; i++) {
                append(f, i, 1000);
                if (logstore_bytes(f->s) > f->o.max_bytes)
                        fail_msg("%" PRIu64 " bytes after record %u", logstore_bytes(f->s), i);
                if (i % 500 == 0) {
                        sync_store(f);
                        assert_true(dir_bytes(f->dir) <= f->o.max_bytes);
                }
        }
        sync_store(f);
        assert_true(dir_bytes(f->dir) <= f->o.max_bytes);
        assert_int_equal(dir_bytes(f->dir), logstore_bytes(f->s));
        assert_true(logstore_stats(f->s)->segments_dropped > 30);
        assert_true(logstore_n_segments(f->s) <= 4);

        unsigned first = 0;
        size_t kept = read_all(f, 0, &first);
        assert_int_equal(kept, n - first + 1); /* the newest, with no hole */
        assert_int_equal(logstore_first_seq(f->s), first);
        assert_true(kept > 2 * SEG / 1100);

        reopen(f);
        assert_int_equal(read_all(f, 0, NULL), kept);
        assert_int_equal(logstore_next_seq(f->s), n + 1);
}

/* A power cut in the middle of a write: the torn record goes, everything before stays, appends go on. */
static void test_torn_tail_cut_at_reopen(void **state)
{
        struct fixture *f = *state;
        for (unsigned i = 1; i <= 50; i++)
                append(f, i, 100);
        sync_store(f);
        char path[160];
        segment_path(f, 0, path);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(truncate(path, st.st_size - 60), 0); /* into the last record */

        reopen(f);
        assert_int_equal(read_all(f, 0, NULL), 49);
        assert_true(logstore_stats(f->s)->torn_tail_bytes > 0);
        assert_int_equal(logstore_stats(f->s)->damaged_regions, 0);
        assert_int_equal(logstore_next_seq(f->s), 50); /* the torn record's number was never kept */
        append(f, 50, 100);
        append(f, 51, 100);
        sync_store(f);
        reopen(f);
        assert_int_equal(read_all(f, 0, NULL), 51);
        assert_int_equal(logstore_stats(f->s)->torn_tail_bytes, 0);
}

/* Garbage after the last record (blocks allocated, never written): cut, nothing lost. */
static void test_garbage_tail(void **state)
{
        struct fixture *f = *state;
        for (unsigned i = 1; i <= 20; i++)
                append(f, i, 10);
        sync_store(f);
        char path[160];
        segment_path(f, 0, path);
        FILE *fp = fopen(path, "ab");
        assert_non_null(fp);
        for (int i = 0; i < 5000; i++)
                fputc(i * 7 & 0xff, fp);
        fclose(fp);
        reopen(f);
        assert_int_equal(read_all(f, 0, NULL), 20);
        assert_int_equal(logstore_stats(f->s)->torn_tail_bytes, 5000);
        append(f, 21, 10);
        sync_store(f);
        reopen(f);
        assert_int_equal(read_all(f, 0, NULL), 21);
}

static void flip_byte(const char *path, off_t at)
{
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 0x5a;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        close(fd);
}

/* A bad byte inside one record: its CRC fails, that record alone is skipped. */
static void test_crc_mismatch_skips_one_record(void **state)
{
        struct fixture *f = *state;
        for (unsigned i = 1; i <= 30; i++)
                append(f, i, 200);
        sync_store(f);
        char path[160];
        segment_path(f, 0, path);
        /* records are of equal size here: the middle of the 10th one */
        off_t frame = (off_t) ((logstore_segment(f->s, 0)->size - LOGSTORE_HEADER_SIZE) / 30);
        flip_byte(path, (off_t) LOGSTORE_HEADER_SIZE + 9 * frame + frame / 2);

        reopen(f);
        assert_int_equal(logstore_stats(f->s)->damaged_regions, 1);
        assert_int_equal(logstore_stats(f->s)->damaged_bytes, frame);
        assert_int_equal(logstore_stats(f->s)->torn_tail_bytes, 0);
        size_t n = 0;
        logstore_reader rd;
        struct logrec r;
        assert_int_equal(logstore_reader_open(f->s, 0, 0, &rd, NULL), 0);
        while (logstore_reader_next(&rd, &r, NULL) > 0) {
                n++;
                assert_int_not_equal(r.seq, 10);
        }
        logstore_reader_close(&rd);
        assert_int_equal(n, 29);
        assert_int_equal(logstore_next_seq(f->s), 31);
}

/* A damaged header costs the segment its boot; its records stay readable; appends go to the next segment. */
static void test_damaged_header(void **state)
{
        struct fixture *f = *state;
        for (unsigned i = 1; i <= 10; i++)
                append(f, i, 10);
        sync_store(f);
        char path[160];
        segment_path(f, 0, path);
        flip_byte(path, 20);
        reopen(f);
        assert_int_equal(logstore_n_segments(f->s), 1);
        assert_false(logstore_segment(f->s, 0)->header_ok);
        assert_memory_equal(logstore_segment(f->s, 0)->boot_id, (uint8_t[16]){0}, 16);
        assert_int_equal(read_all(f, 0, NULL), 10);
        append(f, 11, 10);
        sync_store(f);
        assert_int_equal(logstore_n_segments(f->s), 2);
        reopen(f);
        assert_int_equal(read_all(f, 0, NULL), 11);
}

/* Another boot: its entries go to a segment of their own, the old one stays readable. */
static void test_new_boot_new_segment(void **state)
{
        struct fixture *f = *state;
        append(f, 1, 0);
        append(f, 2, 0);
        sync_store(f);
        memcpy(f->o.boot_id, boot_b, 16);
        reopen(f);
        append(f, 3, 0);
        sync_store(f);
        assert_int_equal(logstore_n_segments(f->s), 2);
        assert_memory_equal(logstore_segment(f->s, 0)->boot_id, boot_a, 16);
        assert_memory_equal(logstore_segment(f->s, 1)->boot_id, boot_b, 16);
        assert_int_equal(logstore_segment(f->s, 1)->first_seq, 3);
        assert_int_equal(read_all(f, 0, NULL), 3);
        /* the same boot again (logd restarted): appends go on in the same segment */
        reopen(f);
        append(f, 4, 0);
        sync_store(f);
        assert_int_equal(logstore_n_segments(f->s), 2);
}

/* Below the free-space reserve nothing is written and the drops are counted; when space returns, writing goes on. */
static void test_reserve_stops_writing(void **state)
{
        struct fixture *f = *state;
        logstore_close(f->s);
        f->s = NULL;
        f->o.reserve_bytes = 10u << 20;
        fake_free = 100u << 20;
        reopen(f);
        append(f, 1, 0);
        sync_store(f);

        fake_free = 9u << 20;
        clock_skip_ms += 2 * LOGSTORE_SPACE_CHECK_MS;
        _cleanup_error_ alder_error *err = NULL;
        struct logrec r = {.message = {"x", 1}};
        char expected[256];
        snprintf(expected, sizeof(expected), "free space on '%s' is below the reserve of 10485760 bytes", f->dir);
        for (int i = 0; i < 3; i++)
                assert_alder_error(logstore_append(f->s, &r, &err), ENOSPC, expected);
        assert_int_equal(logstore_stats(f->s)->dropped_no_space, 3);
        assert_true(logstore_stats(f->s)->no_space);
        assert_int_equal(logstore_next_seq(f->s), 2);

        fake_free = 100u << 20; /* seen at the next check only */
        assert_alder_error(logstore_append(f->s, &r, &err), ENOSPC, expected);
        clock_skip_ms += 2 * LOGSTORE_SPACE_CHECK_MS;
        append(f, 2, 0);
        assert_false(logstore_stats(f->s)->no_space);
        sync_store(f);
        assert_int_equal(read_all(f, 0, NULL), 2);

        /* a new segment needs room for all of it beyond the reserve */
        fake_free = (10u << 20) + SEG / 2;
        clock_skip_ms += 2 * LOGSTORE_SPACE_CHECK_MS;
        while (logstore_segment(f->s, logstore_n_segments(f->s) - 1)->size + 2048 < SEG) {
                append(f, 3, 1000);
                assert_int_equal(logstore_flush(f->s, NULL), 0);
        }
        static char big[4096];
        r.message = (struct logrec_str){big, sizeof(big)};
        assert_alder_error(logstore_append(f->s, &r, &err), ENOSPC, expected);
        assert_int_equal(logstore_n_segments(f->s), 1);
}

/* A failed write loses the buffered records, gives their numbers back, and the next ones go to a new segment. */
static void test_write_error_rewinds(void **state)
{
        struct fixture *f = *state;
        append(f, 1, 0);
        sync_store(f);
        append(f, 2, 0);
        append(f, 3, 0);
        write_fail_errno = EIO;
        _cleanup_error_ alder_error *err = NULL;
        char expected[160];
        snprintf(expected, sizeof(expected), "write '%s/0000000000000001.seg': Input/output error", f->dir);
        assert_alder_error(logstore_flush(f->s, &err), EIO, expected);
        assert_int_equal(logstore_stats(f->s)->dropped_write_error, 2);
        assert_int_equal(logstore_next_seq(f->s), 2);
        append(f, 4, 0);
        sync_store(f);
        assert_int_equal(logstore_n_segments(f->s), 2);
        reopen(f);
        unsigned first;
        assert_int_equal(read_all(f, 0, &first), 2); /* seq 1 and 2, contiguous */
        assert_int_equal(logstore_next_seq(f->s), 3);
}

/* A reader starts at a sequence number through the segment's checkpoints. */
static void test_reader_from_seq(void **state)
{
        struct fixture *f = *state;
        for (unsigned i = 1; i <= 600; i++)
                append(f, i, 900); /* ~600 KiB: three segments, several checkpoints each */
        sync_store(f);
        assert_true(logstore_n_segments(f->s) >= 3);
        assert_true(logstore_segment(f->s, 0)->n_index > 2);
        for (uint64_t seq = 1; seq <= 600; seq += 37) {
                size_t i = logstore_find_segment(f->s, seq);
                logstore_reader rd;
                struct logrec r;
                assert_int_equal(logstore_reader_open(f->s, i, seq, &rd, NULL), 0);
                assert_int_equal(logstore_reader_next(&rd, &r, NULL), 1);
                assert_int_equal(r.seq, seq);
                assert_int_equal(line_of(&r), seq);
                logstore_reader_close(&rd);
        }
        assert_int_equal(logstore_find_segment(f->s, 601), logstore_n_segments(f->s));
}

static void test_too_big_and_bad_options(void **state)
{
        struct fixture *f = *state;
        static char big[LOGREC_MAX_PAYLOAD];
        struct logrec r = {.message = {big, sizeof(big)}};
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(logstore_append(f->s, &r, &err), E2BIG, "record above the limit of 73728 bytes");
        assert_int_equal(logstore_stats(f->s)->dropped_too_big, 1);

        logstore *s = NULL;
        struct logstore_options o = f->o;
        o.segment_bytes = 1000;
        char expected[256];
        snprintf(expected, sizeof(expected), "log store '%s': segment size 1000 is below the minimum of 262144 bytes",
                 f->dir);
        assert_alder_error(logstore_open(&o, &s, &err), EINVAL, expected);
        o.segment_bytes = SEG;
        o.max_bytes = SEG + 1;
        snprintf(expected, sizeof(expected),
                 "log store '%s': store bound 262145 does not hold two segments of 262144 bytes", f->dir);
        assert_alder_error(logstore_open(&o, &s, &err), EINVAL, expected);
}

/* A smaller bound than the last run's: the oldest segments go at open. */
static void test_smaller_bound_at_open(void **state)
{
        struct fixture *f = *state;
        for (unsigned i = 1; i <= 3000; i++)
                append(f, i, 1000);
        sync_store(f);
        f->o.max_bytes = 2 * SEG;
        reopen(f);
        assert_true(logstore_bytes(f->s) <= 2 * SEG);
        assert_true(dir_bytes(f->dir) <= 2 * SEG);
        append(f, 3001, 1000);
        sync_store(f);
        assert_true(dir_bytes(f->dir) <= 2 * SEG);
        unsigned first;
        size_t n = read_all(f, 0, &first);
        assert_int_equal(n, 3001 - first + 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_append_and_read_back), T(test_wrap_around_keeps_bound),       T(test_torn_tail_cut_at_reopen),
                T(test_garbage_tail),         T(test_crc_mismatch_skips_one_record), T(test_damaged_header),
                T(test_new_boot_new_segment), T(test_reserve_stops_writing),         T(test_write_error_rewinds),
                T(test_reader_from_seq),      T(test_too_big_and_bad_options),       T(test_smaller_bound_at_open),
        };
        return cmocka_run_group_tests_name("logd-store", tests, NULL, NULL);
}
