/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

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

/*
 * sendmsg() is wrapped too, to fail on demand; otherwise datagrams really go
 * out, to a socket the journal tests bind in a temporary directory.
 */
static int sendmsg_calls;
static int sendmsg_fail_errno; /* the next sendmsg_fail_count sends fail with this */
static int sendmsg_fail_count;

ssize_t __real_sendmsg(int fd, const struct msghdr *mh, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *mh, int flags);

ssize_t __wrap_sendmsg(int fd, const struct msghdr *mh, int flags)
{
        sendmsg_calls++;
        if (sendmsg_fail_count > 0) {
                sendmsg_fail_count--;
                errno = sendmsg_fail_errno;
                return -1;
        }
        return __real_sendmsg(fd, mh, flags);
}

/* CLOCK_MONOTONIC runs this much ahead: auto's next look for logd's socket comes without waiting. */
static time_t clock_skip_s;

int __real_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts)
{
        int r = __real_clock_gettime(clock, ts);
        if (r == 0 && clock == CLOCK_MONOTONIC)
                ts->tv_sec += clock_skip_s;
        return r;
}

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
        sendmsg_calls = 0;
        sendmsg_fail_count = 0;
        return 0;
}

static int teardown(void **state)
{
        alder_log_set_stderr_fd(-1);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return 0;
}

/* A stand-in for journald: a datagram socket bound in a temporary directory. */
static struct {
        char dir[64];
        char path[128];
        int fd;
} journald = {.fd = -1};

/* Binds a datagram socket at path: a listening one, or with listen false one closed at once (ECONNREFUSED). */
static int bind_dgram(const char *path, bool listen)
{
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0)
                return -1;
        if (!listen) {
                close(fd);
                return 0;
        }
        return fd;
}

static int setup_journal(void **state)
{
        snprintf(journald.dir, sizeof(journald.dir), "/tmp/test-log-XXXXXX");
        if (setup(state) < 0 || !mkdtemp(journald.dir))
                return -1;
        snprintf(journald.path, sizeof(journald.path), "%s/socket", journald.dir);
        journald.fd = bind_dgram(journald.path, true);
        if (journald.fd < 0)
                return -1;
        alder_log_set_journal_socket_path(journald.path);
        return alder_log_set_target(ALDER_LOG_TARGET_JOURNAL, NULL);
}

static void remove_in_dir(const char *name)
{
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", journald.dir, name);
        unlink(path);
}

static int teardown_journal(void **state)
{
        close(journald.fd);
        journald.fd = -1;
        remove_in_dir("socket");
        remove_in_dir("dead");
        rmdir(journald.dir);
        alder_log_set_journal_socket_path(NULL);
        return teardown(state);
}

/* The next datagram journald got, and its length; -1 when there is none. */
static ssize_t received(const char **ret)
{
        static char buf[64 * 1024];
        *ret = buf;
        return recv(journald.fd, buf, sizeof(buf), MSG_DONTWAIT);
}

/* Bytes with NULs in them: a string literal and its length. */
struct bytes {
        const char *data;
        size_t len;
};
#define BYTES(s) ((struct bytes){(s), sizeof(s) - 1})

/* A little-endian uint64 of a single-byte value, as the binary form of a field has it. */
#define LE64(b) b "\0\0\0\0\0\0\0"

/* The first bytes of b, printable (at most out's size), to show in a failure. */
static const char *printable(const char *b, size_t n, char out[static 256])
{
        size_t k = 0;
        for (size_t i = 0; i < n && k + 5 < 256; i++)
                k += (size_t) (b[i] >= 0x20 && b[i] < 0x7f ? snprintf(out + k, 2, "%c", b[i])
                                                           : snprintf(out + k, 5, "\\x%02x", (unsigned char) b[i]));
        out[k] = '\0';
        return out;
}

static void check_bytes(const char *what, const char *got, ssize_t got_len, struct bytes want)
{
        char g[256], w[256];
        if (got_len < 0)
                fail_msg("%s: nothing received", what);
        if ((size_t) got_len != want.len || memcmp(got, want.data, want.len) != 0)
                fail_msg("%s: got %zd bytes \"%s\", expected %zu bytes \"%s\"", what, got_len,
                         printable(got, (size_t) got_len, g), want.len, printable(want.data, want.len, w));
}

/* An info entry without a location, so that datagrams can be spelled out. */
static void log_plain(const char *message)
{
        alder_log_full(ALDER_LOG_INFO, NULL, NULL, 0, NULL, "%s", message);
}

static void check_received(const char *what, struct bytes want)
{
        const char *got;
        ssize_t n = received(&got); /* before got is read: argument order is unspecified */
        check_bytes(what, got, n, want);
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
        assert_int_equal(alder_log_target_from_string("ALDER"), ALDER_LOG_TARGET_ALDER);
        assert_string_equal(alder_log_target_to_string(ALDER_LOG_TARGET_ALDER), "alder");
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
         "ALDER_LOG_TARGET: invalid log target 'kmsg' (expected auto, stderr, journal, syslog or alder)",
         ALDER_LOG_INFO, ALDER_LOG_TARGET_STDERR},
        {NULL, "journal", 0, NULL, ALDER_LOG_INFO, ALDER_LOG_TARGET_JOURNAL},
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
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_JOURNAL);

        /* stderr redirected after systemd set the variable: no longer the journal */
        setenv("JOURNAL_STREAM", "1:1", 1);
        alder_log_init("test-log");
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_STDERR);
}

/* Without the journal, auto takes alder-logd's socket when there is one (ALDER_LOG_SOCKET names it). */
static void test_auto_target_prefers_logd_socket(void **state)
{
        char path[160];
        snprintf(path, sizeof(path), "%s/log.sock", journald.dir);
        setenv("ALDER_LOG_SOCKET", path, 1);
        assert_int_equal(alder_log_set_target(ALDER_LOG_TARGET_AUTO, NULL), 0);
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_STDERR); /* no socket there yet */

        /* logd starts later: within a second auto still says stderr, then it finds the socket */
        int fd = bind_dgram(path, true);
        assert_true(fd >= 0);
        log_plain("early");
        assert_string_equal(written(), "info test-log: early\n");
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_STDERR);
        clock_skip_s += 2;
        log_plain("to logd");
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_ALDER);
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        check_bytes("auto: logd", buf, n, BYTES("MESSAGE=to logd\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\n"));
        assert_string_equal(written(), "");
        alder_log_init("test-log"); /* and at once when the target is resolved again */
        assert_int_equal(alder_log_get_target(), ALDER_LOG_TARGET_ALDER);

        /* logd gone: the socket file stays, sends are refused, stderr takes the entry */
        close(fd);
        log_plain("kept");
        assert_string_equal(written(), "info test-log: kept\n");
        unlink(path);
        unsetenv("ALDER_LOG_SOCKET");
}

/* A reader that has stopped reading (its queue full) delays an entry by the send timeout, then stderr takes it. */
static void test_send_timeout_when_reader_stalls(void **state)
{
        int filler = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(filler >= 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        assert_true(strlen(journald.path) < sizeof(a.sun_path));
        memcpy(a.sun_path, journald.path, strlen(journald.path));
        while (sendto(filler, "x", 1, 0, (struct sockaddr *) &a, sizeof(a)) == 1)
                ; /* until the kernel refuses more (net.unix.max_dgram_qlen) */
        assert_int_equal(errno, EAGAIN);
        close(filler);

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        log_plain("late");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_true(ms >= ALDER_LOG_SEND_TIMEOUT_MS - 50 && ms < 10 * ALDER_LOG_SEND_TIMEOUT_MS);
        assert_string_equal(written(), "info test-log: late\n");
}

/* What alder-appd sends for an app's line: no location, the app's name as identifier, any level. */
static void test_native_entry(void **state)
{
        alder_log_set_level(ALDER_LOG_ERR); /* not consulted */
        size_t len;
        _cleanup_free_ char *e = alder_log_native_entry(ALDER_LOG_WARNING, "hello", "line\n2",
                                                        ALDER_LOG_FIELDS("APP", "hello", "STREAM", "stderr"), &len);
        assert_non_null(e);
        check_bytes("native entry", e, (ssize_t) len,
                    BYTES("MESSAGE\n" LE64("\x06") "line\n2\nPRIORITY=4\nSYSLOG_IDENTIFIER=hello\nAPP=hello\n"
                                                   "STREAM=stderr\n"));
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

_Static_assert(EEXIST == 17, "the ERRNO field below is Linux's EEXIST");

/* Entries as journald gets them: the exact bytes of each datagram. */
static void test_journal_datagrams(void **state)
{
        const struct {
                const char *name;
                int level;
                const char *file; /* NULL: no location */
                int line;
                const char *func;
                const char *const *fields;
                const char *message;
                int errnum; /* > 0: logged with alder_log_error() and an error "exists" of this errno */
                struct bytes want;
        } cases[] = {
                {"plain", ALDER_LOG_INFO, NULL, 0, NULL, NULL, "hello", 0,
                 BYTES("MESSAGE=hello\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\n")},
                {"location and fields", ALDER_LOG_NOTICE, "device/appd/install.c", 42, "install_app",
                 ALDER_LOG_FIELDS("APP", "foo", "version", "1.0 beta", "SKIP", NULL, "app-id", "a=b"), "installed foo",
                 0,
                 BYTES("MESSAGE=installed "
                       "foo\nPRIORITY=5\nSYSLOG_IDENTIFIER=test-log\nCODE_FILE=device/appd/install.c\n"
                       "CODE_LINE=42\nCODE_FUNC=install_app\nAPP=foo\nVERSION=1.0 beta\nAPP_ID=a=b\n")},
                {"newline in the message: binary form", ALDER_LOG_WARNING, NULL, 0, NULL, NULL, "hi\nthere", 0,
                 BYTES("MESSAGE\n" LE64("\x08") "hi\nthere\nPRIORITY=4\nSYSLOG_IDENTIFIER=test-log\n")},
                {"newline in a field", ALDER_LOG_INFO, NULL, 0, "f", ALDER_LOG_FIELDS("OUT", "a\nb", "TAB", "\t"), "m",
                 0,
                 BYTES("MESSAGE=m\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\nCODE_FUNC=f\nOUT\n" LE64(
                         "\x03") "a\nb\n"
                                 "TAB=\t\n")},
                {"odd keys, empty values", ALDER_LOG_INFO, NULL, 0, NULL,
                 ALDER_LOG_FIELDS("", "e", "_uid", "", "1st", "x"), "", 0,
                 BYTES("MESSAGE=\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\nX=e\nX_UID=\nX1ST=x\n")},
                {"priority below err clamped", 0, NULL, 0, NULL, NULL, "m", 0,
                 BYTES("MESSAGE=m\nPRIORITY=3\nSYSLOG_IDENTIFIER=test-log\n")},
                {"priority above debug clamped", 12, NULL, 0, NULL, NULL, "m", 0,
                 BYTES("MESSAGE=m\nPRIORITY=7\nSYSLOG_IDENTIFIER=test-log\n")},
                {"error: chain in the message, ERRNO last", ALDER_LOG_ERR, "x.c", 7, "copy",
                 ALDER_LOG_FIELDS("APP", "foo"), "copy", EEXIST,
                 BYTES("MESSAGE=copy: exists\nPRIORITY=3\nSYSLOG_IDENTIFIER=test-log\nCODE_FILE=x.c\nCODE_LINE=7\n"
                       "CODE_FUNC=copy\nAPP=foo\nERRNO=17\n")},
        };

        alder_log_set_level(ALDER_LOG_DEBUG);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                char name[96];
                alder_test_case_name(name, i, "%s", cases[i].name);
                if (cases[i].errnum) {
                        _cleanup_error_ alder_error *err = NULL;
                        alder_error_set(&err, cases[i].errnum, "exists");
                        (void) alder_log_error_full(cases[i].level, err, cases[i].fields, cases[i].file, cases[i].line,
                                                    cases[i].func, "%s", cases[i].message);
                } else {
                        alder_log_full(cases[i].level, cases[i].fields, cases[i].file, cases[i].line, cases[i].func,
                                       "%s", cases[i].message);
                }
                check_received(name, cases[i].want);
        }
        assert_int_equal(sendmsg_calls, ALDER_ARRAY_SIZE(cases));
        assert_string_equal(written(), "");
}

/* The macros fill in the caller's location. */
static void test_journal_location_from_macros(void **state)
{
        int line = __LINE__ + 1;
        alder_log_info("here");

        char want[256];
        int n = snprintf(want, sizeof(want),
                         "MESSAGE=here\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\nCODE_FILE=%s\nCODE_LINE=%d\n"
                         "CODE_FUNC=test_journal_location_from_macros\n",
                         __FILE__, line);
        check_received("alder_log_info", (struct bytes){want, (size_t) n});
}

/* Values cut for the retry after EMSGSIZE: between characters, the cut mark counted in a binary size. */
static void test_journal_entry_cut(void **state)
{
        const struct {
                const char *message;
                size_t max;
                struct bytes want; /* the MESSAGE field */
        } cases[] = {
                {"abcdef", 6, BYTES("MESSAGE=abcdef\n")},
                {"abcdefg", 6, BYTES("MESSAGE=abc...\n")},
                {"abcdefg", 4, BYTES("MESSAGE=a...\n")},
                {"abcdefg", 0, BYTES("MESSAGE=...\n")}, /* at least the cut mark */
                {"ab\ncdefg", 6, BYTES("MESSAGE\n" LE64("\x06") "ab\n...\n")},
                {"abcd\nefg", 6, BYTES("MESSAGE=abc...\n")}, /* the newline is cut off: text form */
                {"\xc3\xa9\xc3\xa9\xc3\xa9x", 6, BYTES("MESSAGE=\xc3\xa9...\n")},
                {"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", 8,
                 BYTES("MESSAGE=\x80\x80...\n")}, /* backs off 3 bytes at most */
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                struct alder_log_entry e = {.level = ALDER_LOG_INFO, .ident = "t", .message = cases[i].message};
                static const char rest[] = "PRIORITY=6\nSYSLOG_IDENTIFIER=t\n";
                char want[64], name[64];
                memcpy(want, cases[i].want.data, cases[i].want.len);
                memcpy(want + cases[i].want.len, rest, sizeof(rest) - 1);
                alder_test_case_name(name, i, "max %zu", cases[i].max);

                size_t len;
                _cleanup_free_ char *got = alder_log_journal_entry(&e, cases[i].max, &len);
                assert_non_null(got);
                check_bytes(name, got, (ssize_t) len, (struct bytes){want, cases[i].want.len + sizeof(rest) - 1});
        }
}

/*
 * When the journal cannot take an entry: without journald the entry goes to
 * stderr; too big or no buffer space, it is sent again with its values cut.
 */
static void test_journal_failures(void **state)
{
        /* 1020 'a', then an 'é' that the cut at 1024 - 3 bytes would split */
        char big[1200];
        memset(big, 'a', sizeof(big) - 1);
        memcpy(big + 1020, "\xc3\xa9", 2);
        big[sizeof(big) - 1] = '\0';

        char big_cut[1100], big_stderr[1300];
        int cut_len =
                snprintf(big_cut, sizeof(big_cut), "MESSAGE=%.1020s...\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\n", big);
        snprintf(big_stderr, sizeof(big_stderr), "info test-log: %s\n", big);

        const struct {
                const char *name;
                const char *socket; /* where entries go: "socket" is journald's, "dead" one nobody reads */
                int fail_errno, fail_count;
                const char *message;
                int sends;
                struct bytes datagram; /* NULL data: none */
                const char *stderr_text;
        } cases[] = {
                {"journald not running (no socket)", "missing", 0, 0, "kept", 1, {0}, "info test-log: kept\n"},
                {"journald gone (socket left behind)", "dead", 0, 0, "kept", 1, {0}, "info test-log: kept\n"},
                {"interrupted", "socket", EINTR, 1, "m", 2,
                 BYTES("MESSAGE=m\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\n"), ""},
                {"EMSGSIZE: sent cut", "socket", EMSGSIZE, 1, big, 2, {big_cut, (size_t) cut_len}, ""},
                {"ENOBUFS: sent cut", "socket", ENOBUFS, 1, big, 2, {big_cut, (size_t) cut_len}, ""},
                {"EMSGSIZE even cut: stderr", "socket", EMSGSIZE, 2, big, 2, {0}, big_stderr},
                {"other error: stderr", "socket", EPERM, 1, "m", 1, {0}, "info test-log: m\n"},
        };

        char dead[160];
        snprintf(dead, sizeof(dead), "%s/dead", journald.dir);
        assert_int_equal(bind_dgram(dead, false), 0);

        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                char name[96], path[160];
                alder_test_case_name(name, i, "%s", cases[i].name);
                snprintf(path, sizeof(path), "%s/%s", journald.dir, cases[i].socket);
                alder_log_set_journal_socket_path(path);
                sendmsg_calls = 0;
                sendmsg_fail_errno = cases[i].fail_errno;
                sendmsg_fail_count = cases[i].fail_count;

                errno = ENOTDIR;
                log_plain(cases[i].message);
                if (errno != ENOTDIR)
                        fail_msg("%s: errno changed", name);
                if (sendmsg_calls != cases[i].sends)
                        fail_msg("%s: %d sends, expected %d", name, sendmsg_calls, cases[i].sends);

                const char *got;
                ssize_t n = received(&got);
                if (cases[i].datagram.data)
                        check_bytes(name, got, n, cases[i].datagram);
                else if (n >= 0)
                        fail_msg("%s: unexpected datagram", name);
                const char *text = written();
                if (strcmp(text, cases[i].stderr_text) != 0)
                        fail_msg("%s: stderr got \"%.80s\", expected \"%.80s\"", name, text, cases[i].stderr_text);
        }
}

/*
 * A child of fork() opens its own socket: the parent's fd number may be
 * closed or reused in the child. Checked where it would break: the child
 * closes every inherited fd and puts /dev/null at the lowest number.
 */
static void test_journal_socket_reopened_after_fork(void **state)
{
        const char *got;
        log_plain("parent");
        assert_true(received(&got) > 0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close_range(3, ~0U, 0);
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                log_plain("child");
                /* the new socket is the next fd: close-on-exec */
                struct stat st;
                int fl = fcntl(null + 1, F_GETFD);
                _exit(null == 3 && fstat(null + 1, &st) == 0 && S_ISSOCK(st.st_mode) && fl >= 0 && (fl & FD_CLOEXEC)
                              ? 0
                              : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        check_received("child", BYTES("MESSAGE=child\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\n"));

        log_plain("parent again"); /* the parent's socket still serves */
        check_received("parent again", BYTES("MESSAGE=parent again\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\n"));
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define J(f) cmocka_unit_test_setup_teardown(f, setup_journal, teardown_journal)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_level_from_string_accepts_names_and_digits),
                T(test_level_from_string_rejects_bad_strings),
                T(test_level_to_string),
                T(test_target_strings),
                T(test_set_level_clamps),
                T(test_env_configuration),
                T(test_set_target_rejects_unknown_value),
                T(test_syslog_target_can_be_chosen),
                T(test_is_journal_stream),
                T(test_auto_target_follows_journal_stream),
                J(test_auto_target_prefers_logd_socket),
                J(test_send_timeout_when_reader_stalls),
                T(test_native_entry),
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
                J(test_journal_datagrams),
                J(test_journal_location_from_macros),
                T(test_journal_entry_cut),
                J(test_journal_failures),
                J(test_journal_socket_reopened_after_fork),
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
