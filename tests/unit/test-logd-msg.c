/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-logd's datagram parser and record builder (device/logd/msg.c), and
 * the record framing of the store (device/logd/record.c).
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/log.h"
#include "logd.h"
#include "msg.h"
#include "record.h"

#define BYTES(s) (s), sizeof(s) - 1

static struct logd_msg m;
static struct logd_msg_scratch scratch;

static bool str_eq(struct logrec_str s, const char *want)
{
        return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static void parse_ok(const char *what, const void *buf, size_t len)
{
        _cleanup_error_ alder_error *err = NULL;
        if (logd_msg_parse(buf, len, &m, &err) < 0)
                fail_msg("%s: %s", what, alder_error_message(err));
}

/* What lib/log.c sends comes out field by field, binary values included. */
static void test_parse_what_lib_log_sends(void **state)
{
        size_t len;
        _cleanup_free_ char *dgram = alder_log_native_entry(ALDER_LOG_WARNING, "alder-appd", "two\nlines",
                                                            ALDER_LOG_FIELDS("APP", "hello", "EMPTY", ""), &len);
        parse_ok("native entry", dgram, len);
        assert_int_equal(m.n_fields, 5);
        assert_int_equal(m.rejected, 0);
        assert_true(str_eq(m.fields[0].key, "MESSAGE"));
        assert_true(str_eq(m.fields[0].value, "two\nlines"));
        assert_true(str_eq(m.fields[1].value, "4"));
        assert_true(str_eq(m.fields[2].value, "alder-appd"));
        assert_true(str_eq(m.fields[4].key, "EMPTY"));
        assert_int_equal(m.fields[4].value.len, 0);
        assert_non_null(logd_msg_find(&m, "APP"));
        assert_null(logd_msg_find(&m, "VERSION"));
}

/* journald's rules: bad and trusted ('_') keys are left out; an empty line or a last field without newline ends it. */
static void test_parse_leaves_out_what_journald_does(void **state)
{
        parse_ok("keys", BYTES("MESSAGE=m\n_PID=1\nlower=x\n1ST=x\nA-B=x\nOK_1=y\n=novalue\n\nAFTER=z\n"));
        assert_int_equal(m.n_fields, 2);
        assert_true(str_eq(m.fields[1].key, "OK_1"));
        assert_int_equal(m.rejected, 5);

        parse_ok("no final newline", BYTES("MESSAGE=m\nTRAILING=noise"));
        assert_int_equal(m.n_fields, 1);

        char many[LOGREC_MAX_FIELDS * 8 + 64];
        size_t n = 0;
        for (unsigned i = 0; i < LOGREC_MAX_FIELDS + 10; i++)
                n += (size_t) snprintf(many + n, sizeof(many) - n, "F%u=1\n", i % 10);
        parse_ok("too many", many, n);
        assert_int_equal(m.n_fields, LOGREC_MAX_FIELDS);
        assert_int_equal(m.rejected, 10);
}

static void test_parse_binary_values(void **state)
{
        parse_ok("binary", BYTES("DATA\n\x03\0\0\0\0\0\0\0a\0b\nNEXT=1\n"));
        assert_int_equal(m.n_fields, 2);
        assert_int_equal(m.fields[0].value.len, 3);
        assert_memory_equal(m.fields[0].value.p, "a\0b", 3);

        const struct {
                const char *name;
                const char *data;
                size_t len;
                const char *message;
        } bad[] = {
                {"size cut short", BYTES("MESSAGE=m\nDATA\n\x03\0\0"), "field 'DATA': size cut short"},
                {"value beyond the end", BYTES("DATA\n\x09\0\0\0\0\0\0\0abc\n"),
                 "field 'DATA': 9 bytes announced, 4 left"},
                {"no newline after the value", BYTES("DATA\n\x01\0\0\0\0\0\0\0ab"),
                 "field 'DATA': 1 bytes announced, 2 left"},
                {"huge size", BYTES("DATA\n\xff\xff\xff\xff\xff\xff\xff\xff\n"),
                 "field 'DATA': 18446744073709551615 bytes announced, 1 left"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad); i++) {
                _cleanup_error_ alder_error *err = NULL;
                char name[64];
                alder_test_case_name(name, i, "%s", bad[i].name);
                int r = logd_msg_parse(bad[i].data, bad[i].len, &m, &err);
                alder_test_check_error(name, r, err, EBADMSG, bad[i].message);
        }
}

static void record_of(const char *what, const void *buf, size_t len, bool trusted, uint32_t uid, struct logrec *r)
{
        parse_ok(what, buf, len);
        struct logd_origin o = {.pid = 7, .uid = uid, .gid = 8, .trusted = trusted};
        logd_msg_record(&m, &o, &scratch, r);
}

/* A trusted sender (alder-appd) tags an app's line: the app is its source. */
static void test_record_app_line(void **state)
{
        struct logrec r;
        record_of("app line",
                  BYTES("MESSAGE=hi\nPRIORITY=4\nSYSLOG_IDENTIFIER=hello\nAPP=hello\nVERSION=1.2\n"
                        "STREAM=stderr\nX=1\n"),
                  true, 0, &r);
        assert_true(str_eq(r.source, "hello"));
        assert_true(str_eq(r.app, "hello"));
        assert_true(str_eq(r.version, "1.2"));
        assert_true(str_eq(r.message, "hi"));
        assert_int_equal(r.level, 4);
        assert_int_equal(r.flags, LOGREC_TRUSTED | LOGREC_STDERR);
        assert_int_equal(r.n_fields, 1);
        assert_true(str_eq(r.fields[0].key, "X"));
        assert_int_equal(r.pid, 7);

        /* a daemon's entry about an app: the daemon is the source */
        record_of("daemon", BYTES("MESSAGE=installed\nSYSLOG_IDENTIFIER=alder-appd\nAPP=hello\nSTREAM=other\n"), true,
                  0, &r);
        assert_true(str_eq(r.source, "alder-appd"));
        assert_true(str_eq(r.app, "hello"));
        assert_int_equal(r.flags, LOGREC_TRUSTED);
        assert_int_equal(r.n_fields, 1); /* STREAM=other stays a field */
        assert_int_equal(r.level, 6);
}

/* Nobody else can pass for a daemon or an app: prefixed source, APP/VERSION/STREAM only fields. */
static void test_record_untrusted_sender(void **state)
{
        struct logrec r;
        record_of("untrusted", BYTES("MESSAGE=hi\nSYSLOG_IDENTIFIER=alder-appd\nAPP=hello\nVERSION=1\nSTREAM=stdout\n"),
                  false, 1000, &r);
        assert_true(str_eq(r.source, "uid-1000:alder-appd"));
        assert_int_equal(r.app.len, 0);
        assert_int_equal(r.version.len, 0);
        assert_int_equal(r.flags, 0);
        assert_int_equal(r.n_fields, 3);

        record_of("no identifier", BYTES("MESSAGE=hi\n"), false, 5, &r);
        assert_true(str_eq(r.source, "uid-5:"));
        struct logd_origin o = {.pid = 7, .trusted = true, .comm = "sh"};
        logd_msg_record(&m, &o, &scratch, &r);
        assert_true(str_eq(r.source, "sh"));
}

static void test_record_priority_and_long_names(void **state)
{
        const struct {
                const char *prio;
                int level;
        } cases[] = {{"0", 0}, {"7", 7}, {"8", 6}, {"", 6}, {"33", 6}, {"x", 6}};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                char buf[64];
                int n = snprintf(buf, sizeof(buf), "PRIORITY=%s\n", cases[i].prio);
                struct logrec r;
                record_of("priority", buf, (size_t) n, true, 0, &r);
                assert_int_equal(r.level, cases[i].level);
        }
        char buf[1024] = "SYSLOG_IDENTIFIER=";
        memset(buf + strlen(buf), 'a', 600);
        strcat(buf, "\n");
        struct logrec r;
        record_of("long identifier", buf, strlen(buf), true, 0, &r);
        assert_int_equal(r.source.len, LOGREC_NAME_MAX);
        record_of("long identifier, untrusted", buf, strlen(buf), false, 4294967294u, &r);
        assert_int_equal(r.source.len, LOGREC_NAME_MAX);
        assert_memory_equal(r.source.p, "uid-4294967294:aaa", 18);
}

/* Encode, check the frame, decode: the same record; each kind of damage is caught. */
static void test_record_frames(void **state)
{
        struct logrec_field f[] = {{{"K", 1}, {"v\0w", 3}}};
        struct logrec r = {
                .seq = 99,
                .realtime_us = 1,
                .monotonic_us = 2,
                .pid = 3,
                .uid = 4,
                .gid = 5,
                .level = 2,
                .flags = LOGREC_TRUSTED,
                .source = {"s", 1},
                .app = {"a", 1},
                .version = {"", 0},
                .message = {"msg", 3},
                .fields = f,
                .n_fields = 1,
        };
        size_t size = logrec_frame_size(&r);
        assert_int_equal(size % LOGREC_ALIGN, 0);
        uint8_t buf[256];
        assert_true(size <= sizeof(buf));
        logrec_encode(&r, buf);
        const uint8_t *payload;
        size_t len;
        assert_int_equal(logrec_frame_check(buf, size, &payload, &len), (long) size);
        struct logrec d;
        assert_int_equal(logrec_decode(payload, len, &d), 0);
        assert_int_equal(d.seq, 99);
        assert_int_equal(d.gid, 5);
        assert_int_equal(d.level, 2);
        assert_true(str_eq(d.message, "msg"));
        struct logrec_field got;
        size_t pos = 0;
        assert_true(logrec_field_next(&d, &pos, &got));
        assert_int_equal(got.value.len, 3);
        assert_false(logrec_field_next(&d, &pos, &got));

        /* incomplete: the beginning of a frame */
        for (size_t cut = 0; cut < LOGREC_HEADER_SIZE + len; cut++)
                if (logrec_frame_check(buf, cut, &payload, &len) != 0)
                        fail_msg("cut at %zu: not incomplete", cut);
        /* each byte of header or payload changed: refused (a larger size may look like a frame cut short) */
        for (size_t i = 0; i < LOGREC_HEADER_SIZE + len; i++) {
                buf[i] ^= 0x10;
                long k = logrec_frame_check(buf, size, &payload, &len);
                if (k != -EBADMSG && !(i >= 4 && i < 8 && k == 0))
                        fail_msg("byte %zu changed: %ld", i, k);
                buf[i] ^= 0x10;
        }
        assert_int_equal(logrec_frame_check(buf, size, &payload, &len), (long) size);
        /* a valid CRC over an inconsistent payload: decode refuses it */
        assert_int_equal(logrec_decode(payload, len - 1, &d), -EBADMSG);
        /* too big to frame */
        r.n_fields = LOGREC_MAX_FIELDS + 1;
        assert_int_equal(logrec_frame_size(&r), 0);
        r.n_fields = 1;
        r.source.len = LOGREC_NAME_MAX + 1;
        assert_int_equal(logrec_frame_size(&r), 0);
}

static void test_level_names(void **state)
{
        assert_int_equal(logd_level_parse("warning"), 4);
        assert_int_equal(logd_level_parse("WARN"), 4);
        assert_int_equal(logd_level_parse("error"), 3);
        assert_int_equal(logd_level_parse("emerg"), 0);
        assert_int_equal(logd_level_parse("7"), 7);
        assert_int_equal(logd_level_parse("8"), -EINVAL);
        assert_int_equal(logd_level_parse(""), -EINVAL);
        assert_int_equal(logd_level_parse(NULL), -EINVAL);
        assert_string_equal(logd_level_name(2), "crit");
        assert_null(logd_level_name(8));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_what_lib_log_sends),
                cmocka_unit_test(test_parse_leaves_out_what_journald_does),
                cmocka_unit_test(test_parse_binary_values),
                cmocka_unit_test(test_record_app_line),
                cmocka_unit_test(test_record_untrusted_sender),
                cmocka_unit_test(test_record_priority_and_long_names),
                cmocka_unit_test(test_record_frames),
                cmocka_unit_test(test_level_names),
        };
        return cmocka_run_group_tests_name("logd-msg", tests, NULL, NULL);
}
