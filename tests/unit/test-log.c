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
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-config.h"
#include "alder-test.h"
#include "alder/log.h"
#include "log-internal.h"

/*
 * write() is wrapped at link time (tests/unit/meson.build) to count the
 * writes of a log line and to make them fail or come up short on demand.
 */
static int write_calls;
static int write_fail_errno; /* the next write fails with this */
static size_t write_short;   /* the next write writes at most this much */

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        write_calls++;
        if (write_fail_errno) {
                errno = write_fail_errno;
                write_fail_errno = 0;
                return -1;
        }
        if (write_short && n > write_short) {
                n = write_short;
                write_short = 0;
        }
        return __real_write(fd, buf, n);
}

#if HAVE_LIBSYSTEMD
/* sd_journal_sendv() is wrapped too: tests never write to a real journal. */
static char *journal_sent[64];
static int journal_result;

int __wrap_sd_journal_sendv(const struct iovec *iov, int n);

int __wrap_sd_journal_sendv(const struct iovec *iov, int n)
{
        assert_true(n < (int) ALDER_ARRAY_SIZE(journal_sent));
        for (int i = 0; i < n; i++)
                journal_sent[i] = strndup(iov[i].iov_base, iov[i].iov_len);
        return journal_result;
}

static bool journal_has(const char *field)
{
        for (size_t i = 0; journal_sent[i]; i++)
                if (strcmp(journal_sent[i], field) == 0)
                        return true;
        return false;
}
#endif

static int pipe_fds[2] = {-1, -1};

static int setup(void **state)
{
        unsetenv("ALDER_LOG_LEVEL");
        unsetenv("ALDER_LOG_TARGET");
        unsetenv("JOURNAL_STREAM");
        if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return -1;
        alder_log_init("test-log");
        alder_log_set_level(ALDER_LOG_INFO);
        if (alder_log_set_target(ALDER_LOG_TARGET_STDERR, NULL) < 0)
                return -1;
        alder_log_set_stderr_fd(pipe_fds[1]);
        write_calls = 0;
        write_fail_errno = 0;
        write_short = 0;
        return 0;
}

static int teardown(void **state)
{
        alder_log_set_stderr_fd(-1);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
#if HAVE_LIBSYSTEMD
        for (size_t i = 0; journal_sent[i]; i++) {
                free(journal_sent[i]);
                journal_sent[i] = NULL;
        }
        journal_result = 0;
#endif
        return 0;
}

/* What the stderr target wrote so far ("" for nothing). */
static const char *written(void)
{
        static char buf[4 * ALDER_LOG_TEXT_SIZE];
        ssize_t n = read(pipe_fds[0], buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        return buf;
}

/* Sets (or, for NULL, unsets) the two variables and applies them. */
static int configure(const char *level, const char *target, alder_error **err)
{
        const char *names[] = {"ALDER_LOG_LEVEL", "ALDER_LOG_TARGET"};
        const char *values[] = {level, target};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(names); i++)
                if (values[i])
                        setenv(names[i], values[i], 1);
                else
                        unsetenv(names[i]);
        return alder_log_configure_from_env(err);
}

/* The syslog-style text of one entry: message and fields. */
static const char *render(const char *message, const char *const *fields)
{
        static char buf[ALDER_LOG_TEXT_SIZE];
        struct alder_log_entry e = {.level = ALDER_LOG_INFO, .ident = "t", .message = message, .fields = fields};
        size_t n = alder_log_format_text(&e, false, buf);
        assert_int_equal(n, strlen(buf));
        return buf;
}

static void test_level_from_string_accepts_names_and_digits(void **state)
{
        assert_int_equal(alder_log_level_from_string("err"), ALDER_LOG_ERR);
        assert_int_equal(alder_log_level_from_string("error"), ALDER_LOG_ERR);
        assert_int_equal(alder_log_level_from_string("warning"), ALDER_LOG_WARNING);
        assert_int_equal(alder_log_level_from_string("warn"), ALDER_LOG_WARNING);
        assert_int_equal(alder_log_level_from_string("notice"), ALDER_LOG_NOTICE);
        assert_int_equal(alder_log_level_from_string("info"), ALDER_LOG_INFO);
        assert_int_equal(alder_log_level_from_string("DEBUG"), ALDER_LOG_DEBUG);
        assert_int_equal(alder_log_level_from_string("3"), ALDER_LOG_ERR);
        assert_int_equal(alder_log_level_from_string("7"), ALDER_LOG_DEBUG);
}

static void test_level_from_string_rejects_bad_strings(void **state)
{
        const char *bad[] = {"", "loud", "2", "8", "33", "-1", " info", "info ", "inf", "errors", "6x"};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad); i++)
                assert_int_equal(alder_log_level_from_string(bad[i]), -EINVAL);
        assert_int_equal(alder_log_level_from_string(NULL), -EINVAL);
}

static void test_level_to_string(void **state)
{
        assert_string_equal(alder_log_level_to_string(ALDER_LOG_ERR), "err");
        assert_string_equal(alder_log_level_to_string(ALDER_LOG_WARNING), "warning");
        assert_string_equal(alder_log_level_to_string(ALDER_LOG_DEBUG), "debug");
        assert_null(alder_log_level_to_string(2));
        assert_null(alder_log_level_to_string(8));
        assert_null(alder_log_level_to_string(-1));
}

static void test_target_strings(void **state)
{
        assert_int_equal(alder_log_target_from_string("auto"), ALDER_LOG_TARGET_AUTO);
        assert_int_equal(alder_log_target_from_string("Journal"), ALDER_LOG_TARGET_JOURNAL);
        assert_int_equal(alder_log_target_from_string("syslog"), ALDER_LOG_TARGET_SYSLOG);
        assert_int_equal(alder_log_target_from_string("console"), -EINVAL);
        assert_int_equal(alder_log_target_from_string(NULL), -EINVAL);
        assert_string_equal(alder_log_target_to_string(ALDER_LOG_TARGET_STDERR), "stderr");
        assert_null(alder_log_target_to_string((alder_log_target) 42));
}

static void test_set_level_clamps(void **state)
{
        alder_log_set_level(99);
        assert_int_equal(alder_log_get_level(), ALDER_LOG_DEBUG);
        alder_log_set_level(0);
        assert_int_equal(alder_log_get_level(), ALDER_LOG_ERR);
}

/*
 * ALDER_LOG_LEVEL and ALDER_LOG_TARGET as a daemon finds them, from the setup's
 * state (info, stderr). All or nothing: after an error neither changed.
 */
static const struct env_case {
        const char *level, *target; /* NULL: unset */
        int errnum;                 /* 0: applied */
        const char *message;        /* the exact error, naming the variable and the value */
        alder_log_level want_level;
        alder_log_target want_target;
} env_cases[] = {
        {"", NULL, 0, NULL, ALDER_LOG_INFO, ALDER_LOG_TARGET_STDERR}, /* unset or empty: nothing changes */
        {"debug", "stderr", 0, NULL, ALDER_LOG_DEBUG, ALDER_LOG_TARGET_STDERR},
        {"loud", "syslog", EINVAL,
         "ALDER_LOG_LEVEL: invalid log level 'loud' (expected err, warning, notice, info, debug or 3-7)",
         ALDER_LOG_INFO, ALDER_LOG_TARGET_STDERR},
        {"debug", "kmsg", EINVAL,
         "ALDER_LOG_TARGET: invalid log target 'kmsg' (expected auto, stderr, journal or syslog)", ALDER_LOG_INFO,
         ALDER_LOG_TARGET_STDERR},
#if HAVE_LIBSYSTEMD
        {NULL, "journal", 0, NULL, ALDER_LOG_INFO, ALDER_LOG_TARGET_JOURNAL},
#else
        {"debug", "journal", EOPNOTSUPP,
         "ALDER_LOG_TARGET=journal: journal log target not available: built without libsystemd", ALDER_LOG_INFO,
         ALDER_LOG_TARGET_STDERR},
#endif
};

static void test_env_configuration(void **state)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(env_cases); i++) {
                const struct env_case *c = &env_cases[i];
                char name[96];
                alder_test_case_name(name, i, "ALDER_LOG_LEVEL=%s ALDER_LOG_TARGET=%s", c->level ? c->level : "(unset)",
                                     c->target ? c->target : "(unset)");
                alder_log_set_level(ALDER_LOG_INFO);
                assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_STDERR, NULL), 0);

                _cleanup_error_ alder_error *err = NULL;
                int r = configure(c->level, c->target, &err);
                if (c->errnum)
                        alder_test_check_error(name, r, err, c->errnum, c->message);
                else if (r != 0 || err)
                        fail_msg("%s: failed: %s", name, alder_error_message(err));
                if (alder_log_get_level() != c->want_level || alder_log_get_target() != c->want_target)
                        fail_msg("%s: level %d, target %d; expected %d, %d", name, alder_log_get_level(),
                                 alder_log_get_target(), c->want_level, c->want_target);
        }
}

#if !HAVE_LIBSYSTEMD
static void test_journal_target_unavailable(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_JOURNAL, &err), -EOPNOTSUPP);
        assert_string_equal(alder_error_message(err), "journal log target not available: built without libsystemd");
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_STDERR);
}
#endif

static void test_set_target_rejects_unknown_value(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_log_set_target((alder_log_target) 42, &err), -EINVAL);
        assert_string_equal(alder_error_message(err), "invalid log target 42");
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_STDERR);
}

static void test_syslog_target_can_be_chosen(void **state)
{
        assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_SYSLOG, NULL), 0);
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_SYSLOG);
        alder_log_init("test-log-2"); /* reopens syslog with the new ident */
        assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_STDERR, NULL), 0);
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_STDERR);
}

static void test_is_journal_stream(void **state)
{
        struct stat st;
        char s[64];
        assert_int_equal(fstat(pipe_fds[1], &st), 0);

        snprintf(s, sizeof(s), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        assert_true(alder_log_is_journal_stream(pipe_fds[1], s));
        snprintf(s, sizeof(s), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino + 1);
        assert_false(alder_log_is_journal_stream(pipe_fds[1], s));

        const char *bad[] = {"", ":", "1", "1:", ":1", "1:2x", "x1:2", " 1:2", "-1:2", "1:+2", "1:2:3"};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad); i++)
                assert_false(alder_log_is_journal_stream(pipe_fds[1], bad[i]));
        assert_false(alder_log_is_journal_stream(pipe_fds[1], NULL));
        assert_false(alder_log_is_journal_stream(-1, "1:2"));
}

static void test_auto_target_follows_journal_stream(void **state)
{
        struct stat st;
        char s[64];
        assert_int_equal(fstat(STDERR_FILENO, &st), 0);
        snprintf(s, sizeof(s), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);

        setenv("JOURNAL_STREAM", s, 1);
        assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_AUTO, NULL), 0);
        assert_int_equal(alder_log_get_target(), HAVE_LIBSYSTEMD ? ALDER_LOG_TARGET_JOURNAL : ALDER_LOG_TARGET_STDERR);

        /* stderr redirected after systemd set the variable: no longer the journal */
        setenv("JOURNAL_STREAM", "1:1", 1);
        alder_log_init("test-log");
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_STDERR);
}

static void test_sanitize_key(void **state)
{
        static const char *const cases[][2] = {
                {"APP", "APP"},  {"app", "APP"}, {"app-id", "APP_ID"}, {"a b=c", "A_B_C"},  {"_uid", "X_UID"},
                {"1st", "X1ST"}, {"", "X"},      {"9", "X9"},          {"\xc3\xa4", "X__"}, {"K\n", "K_"},
                {"A_9", "A_9"},
        };
        char out[ALDER_LOG_KEY_MAX + 1];
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                alder_log_sanitize_key(cases[i][0], out);
                assert_string_equal(out, cases[i][1]);
        }

        char lng[100];
        memset(lng, 'K', sizeof(lng) - 1);
        lng[sizeof(lng) - 1] = '\0';
        alder_log_sanitize_key(lng, out);
        assert_int_equal(strlen(out), ALDER_LOG_KEY_MAX);
        lng[0] = '_';
        alder_log_sanitize_key(lng, out);
        assert_int_equal(strlen(out), ALDER_LOG_KEY_MAX);
        assert_memory_equal(out, "X_KK", 4);
}

static void test_invalid_keys_are_sanitized_not_dropped(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("app id", "a", "_x", "b")), "m APP_ID=a X_X=b");
}

static void test_plain_value_unquoted(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "v1.2-x/y:z")), "m K=v1.2-x/y:z");
}

static void test_value_with_space_or_equals_is_quoted(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "a b")), "m K=\"a b\"");
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "a=b")), "m K=\"a=b\"");
}

static void test_value_quotes_and_backslashes_escaped(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "say \"hi\"")), "m K=\"say \\\"hi\\\"\"");
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "C:\\x")), "m K=\"C:\\\\x\"");
}

static void test_value_control_bytes_escaped(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "a\nb\tc\r\x01\x1b\x7f")),
                            "m K=\"a\\nb\\tc\\x0d\\x01\\x1b\\x7f\"");
        /* C1 controls (here NEL) are valid UTF-8 but break lines on some terminals */
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "a\xc2\x85z")), "m K=\"a\\xc2\\x85z\"");
}

static void test_empty_value_quoted(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "", "L", "x")), "m K=\"\" L=x");
}

static void test_invalid_utf8_escaped_valid_utf8_kept(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "h\xc3\xa9llo\xe2\x82\xac")),
                            "m K=h\xc3\xa9llo\xe2\x82\xac");
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "\xff")), "m K=\"\\xff\"");
        /* overlong '/', a cut 3-byte sequence, a UTF-16 surrogate, beyond U+10FFFF */
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "\xc0\xaf")), "m K=\"\\xc0\\xaf\"");
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "\xe2\x82")), "m K=\"\\xe2\\x82\"");
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "\xed\xa0\x80")), "m K=\"\\xed\\xa0\\x80\"");
        assert_string_equal(render("m", ALDER_LOG_FIELDS("K", "\xf4\x90\x80\x80")), "m K=\"\\xf4\\x90\\x80\\x80\"");
        assert_string_equal(render("bad \xfe", NULL), "bad \\xfe");
}

static void test_message_newlines_escaped(void **state)
{
        assert_string_equal(render("two\nlines \\ \"q\" a=b", NULL), "two\\nlines \\\\ \"q\" a=b");
}

static void test_null_value_field_left_out(void **state)
{
        assert_string_equal(render("m", ALDER_LOG_FIELDS("A", NULL, "B", "2", "C", NULL)), "m B=2");
}

static void test_long_line_cut_at_escape_boundary(void **state)
{
        char value[5001];
        memset(value, '\n', sizeof(value) - 1);
        value[sizeof(value) - 1] = '\0';

        const char *s = render("m", ALDER_LOG_FIELDS("K", value));
        size_t len = strlen(s);
        assert_true(len <= ALDER_LOG_LINE_MAX);
        assert_true(len > ALDER_LOG_LINE_MAX - 8);
        assert_string_equal(s + len - 3, "...");
        /* the last escape before the cut is whole */
        assert_memory_equal(s + len - 5, "\\n", 2);
}

static void test_long_message_cut(void **state)
{
        /* 2-byte characters, so a cut at a fixed byte count would split one */
        char *big = malloc(20001);
        assert_non_null(big);
        for (size_t i = 0; i < 20000; i += 2)
                memcpy(big + i, "\xc3\xa9", 2);
        big[20000] = '\0';

        alder_log_info("%s", big);
        free(big);

        const char *s = written();
        size_t len = strlen(s);
        assert_true(len <= ALDER_LOG_LINE_MAX + 1);
        assert_string_equal(s + len - 4, "...\n");
        assert_null(strstr(s, "\\x"));
        assert_ptr_equal(strchr(s, '\n'), s + len - 1);
}

static void test_stderr_style_prefix(void **state)
{
        char buf[ALDER_LOG_TEXT_SIZE];
        struct alder_log_entry e = {
                .level = ALDER_LOG_WARNING,
                .ident = "id\n",
                .message = "m",
                .fields = ALDER_LOG_FIELDS("K", "v"),
                .errnum = ENOENT,
        };
        char expected[64];
        snprintf(expected, sizeof(expected), "warning id\\n: m K=v ERRNO=%d\n", ENOENT);
        assert_int_equal(alder_log_format_text(&e, true, buf), strlen(expected));
        assert_string_equal(buf, expected);
}

static void test_journal_fields_vector(void **state)
{
        struct alder_log_entry e = {
                .level = ALDER_LOG_NOTICE,
                .ident = "alder-appd",
                .file = "device/appd/install.c",
                .line = 42,
                .func = "install_app",
                .message = "installed foo\nsecond line",
                .fields = ALDER_LOG_FIELDS("APP", "foo", "version", "1.0 beta", "SKIP", NULL),
                .errnum = EEXIST,
        };
        _cleanup_strv_ char **v = alder_log_journal_fields(&e);
        assert_non_null(v);

        char errno_field[32];
        snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", EEXIST);
        const char *expected[] = {
                "MESSAGE=installed foo\nsecond line", /* the journal takes raw values */
                "PRIORITY=5",
                "SYSLOG_IDENTIFIER=alder-appd",
                "CODE_FILE=device/appd/install.c",
                "CODE_LINE=42",
                "CODE_FUNC=install_app",
                "APP=foo",
                "VERSION=1.0 beta",
                errno_field,
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(expected); i++)
                assert_string_equal(v[i], expected[i]);
        assert_null(v[ALDER_ARRAY_SIZE(expected)]);
}

static void test_journal_fields_without_location(void **state)
{
        struct alder_log_entry e = {.level = ALDER_LOG_ERR, .ident = "x", .message = "m"};
        _cleanup_strv_ char **v = alder_log_journal_fields(&e);
        assert_non_null(v);
        assert_string_equal(v[0], "MESSAGE=m");
        assert_string_equal(v[1], "PRIORITY=3");
        assert_string_equal(v[2], "SYSLOG_IDENTIFIER=x");
        assert_null(v[3]);
}

static void test_stderr_writes_exactly_one_line(void **state)
{
        const char *app = "foo";
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", app, "VERSION", "1.0 rc"), "installed %s", app);
        assert_int_equal(write_calls, 1);
        assert_string_equal(written(), "info test-log: installed foo APP=foo VERSION=\"1.0 rc\"\n");
}

static void test_debug_suppressed_at_info(void **state)
{
        alder_log_debug("hidden %d", 1);
        alder_log(ALDER_LOG_DEBUG, ALDER_LOG_FIELDS("K", "v"), "hidden");
        assert_int_equal(write_calls, 0);
        assert_string_equal(written(), "");

        alder_log_err("shown");
        assert_string_equal(written(), "err test-log: shown\n");
}

static void test_debug_shown_at_debug(void **state)
{
        alder_log_set_level(ALDER_LOG_DEBUG);
        alder_log_debug("now %s", "visible");
        assert_string_equal(written(), "debug test-log: now visible\n");
}

static void test_out_of_range_levels_clamped(void **state)
{
        alder_log(1, NULL, "critical");
        alder_log(ALDER_LOG_INFO, NULL, "fine");
        assert_string_equal(written(), "err test-log: critical\ninfo test-log: fine\n");
        alder_log(9, NULL, "very verbose");
        assert_string_equal(written(), "");
}

static void test_short_write_is_completed(void **state)
{
        write_short = 5;
        alder_log_notice("whole line");
        assert_int_equal(write_calls, 2);
        assert_string_equal(written(), "notice test-log: whole line\n");
}

static void test_interrupted_write_is_retried(void **state)
{
        write_fail_errno = EINTR;
        alder_log_warning("retried");
        assert_int_equal(write_calls, 2);
        assert_string_equal(written(), "warning test-log: retried\n");
}

static void test_failed_write_is_survived(void **state)
{
        write_fail_errno = EPIPE;
        errno = ENOTDIR;
        alder_log_info("lost");
        assert_int_equal(write_calls, 1);
        assert_int_equal(errno, ENOTDIR);
        assert_string_equal(written(), "");
}

static void test_errno_preserved_and_percent_m(void **state)
{
        char expected[128];
        snprintf(expected, sizeof(expected), "info test-log: open: %s\n", strerror(ENOENT));
        errno = ENOENT;
        alder_log_info("open: %m");
        assert_int_equal(errno, ENOENT);
        assert_string_equal(written(), expected);
}

static void test_log_error_chain_and_errno(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_error_sys(&err, ENOENT, "open '%s'", "/data/app.json");
        alder_error_wrap(&err, "load manifest");

        int r = alder_log_error(ALDER_LOG_ERR, err, ALDER_LOG_FIELDS("APP", "foo"), "install %s", "foo");
        assert_int_equal(r, -ENOENT);

        char expected[256];
        snprintf(expected, sizeof(expected),
                 "err test-log: install foo: load manifest: open '/data/app.json': %s APP=foo ERRNO=%d\n",
                 strerror(ENOENT), ENOENT);
        assert_string_equal(written(), expected);
}

static void test_log_error_without_error(void **state)
{
        assert_int_equal(alder_log_error(ALDER_LOG_WARNING, NULL, NULL, "odd"), -EIO);
        assert_string_equal(written(), "warning test-log: odd: (no error)\n");
}

static void test_log_error_filtered_still_returns_errno(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_error_set(&err, EBUSY, "busy");
        assert_int_equal(alder_log_error(ALDER_LOG_DEBUG, err, NULL, "x"), -EBUSY);
        assert_string_equal(written(), "");
}

#if HAVE_LIBSYSTEMD
static void test_journal_target_sends_fields(void **state)
{
        assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_JOURNAL, NULL), 0);
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", "foo"), "hi\nthere");
        assert_true(journal_has("MESSAGE=hi\nthere"));
        assert_true(journal_has("PRIORITY=6"));
        assert_true(journal_has("SYSLOG_IDENTIFIER=test-log"));
        assert_true(journal_has("CODE_FUNC=test_journal_target_sends_fields"));
        assert_true(journal_has("APP=foo"));
        assert_string_equal(written(), "");
}

static void test_journal_failure_falls_back_to_stderr(void **state)
{
        assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_JOURNAL, NULL), 0);
        journal_result = -ECONNREFUSED;
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", "foo"), "kept");
        assert_string_equal(written(), "info test-log: kept APP=foo\n");
}
#endif

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_level_from_string_accepts_names_and_digits),
                T(test_level_from_string_rejects_bad_strings),
                T(test_level_to_string),
                T(test_target_strings),
                T(test_set_level_clamps),
                T(test_env_configuration),
#if HAVE_LIBSYSTEMD
                T(test_journal_target_sends_fields),
                T(test_journal_failure_falls_back_to_stderr),
#else
                T(test_journal_target_unavailable),
#endif
                T(test_set_target_rejects_unknown_value),
                T(test_syslog_target_can_be_chosen),
                T(test_is_journal_stream),
                T(test_auto_target_follows_journal_stream),
                T(test_sanitize_key),
                T(test_invalid_keys_are_sanitized_not_dropped),
                T(test_plain_value_unquoted),
                T(test_value_with_space_or_equals_is_quoted),
                T(test_value_quotes_and_backslashes_escaped),
                T(test_value_control_bytes_escaped),
                T(test_empty_value_quoted),
                T(test_invalid_utf8_escaped_valid_utf8_kept),
                T(test_message_newlines_escaped),
                T(test_null_value_field_left_out),
                T(test_long_line_cut_at_escape_boundary),
                T(test_long_message_cut),
                T(test_stderr_style_prefix),
                T(test_journal_fields_vector),
                T(test_journal_fields_without_location),
                T(test_stderr_writes_exactly_one_line),
                T(test_debug_suppressed_at_info),
                T(test_debug_shown_at_debug),
                T(test_out_of_range_levels_clamped),
                T(test_short_write_is_completed),
                T(test_interrupted_write_is_retried),
                T(test_failed_write_is_survived),
                T(test_errno_preserved_and_percent_m),
                T(test_log_error_chain_and_errno),
                T(test_log_error_without_error),
                T(test_log_error_filtered_still_returns_errno),
        };
        return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
