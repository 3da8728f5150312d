/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "alder/log.h"
#include "log-internal.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/*
 * Send buffer asked for, as systemd.io/JOURNAL_NATIVE_PROTOCOL advises, so
 * that bursts queue instead of blocking; the kernel caps it at wmem_max.
 */
#define JOURNAL_SNDBUF (8 * 1024 * 1024)

#define CUT_MARK       "..."
/* auto without the journal or logd: how often to look for logd's socket again */
#define AUTO_RECHECK_MS 1000
#define CUT_MARK_LEN    (sizeof(CUT_MARK) - 1)

/* Longest escape of one character: a C1 control, "\xc2\x85". */
#define ESCAPE_MAX 8

static const char *const level_names[] = {
        [ALDER_LOG_ERR] = "err",   [ALDER_LOG_WARNING] = "warning", [ALDER_LOG_NOTICE] = "notice",
        [ALDER_LOG_INFO] = "info", [ALDER_LOG_DEBUG] = "debug",
};

/* Other spellings people type into ALDER_LOG_LEVEL. */
static const char *const level_aliases[] = {
        [ALDER_LOG_ERR] = "error",
        [ALDER_LOG_WARNING] = "warn",
};

static const char *const target_names[] = {
        [ALDER_LOG_TARGET_AUTO] = "auto",       [ALDER_LOG_TARGET_STDERR] = "stderr",
        [ALDER_LOG_TARGET_JOURNAL] = "journal", [ALDER_LOG_TARGET_SYSLOG] = "syslog",
        [ALDER_LOG_TARGET_ALDER] = "alder",
};

static struct {
        int level;
        alder_log_target target;    /* as asked for, possibly AUTO */
        alder_log_target effective; /* what auto resolved to; never AUTO */
        int stderr_fd;
        bool syslog_open;
        char ident[64]; /* empty: program_invocation_short_name */
        struct sockaddr_un journal_addr;
        socklen_t journal_addr_len;
        struct sockaddr_un logd_addr; /* from ALDER_LOG_SOCKET when the target is resolved */
        socklen_t logd_addr_len;
        uint64_t auto_checked_ms; /* auto chose stderr: when logd's socket was last looked for */
} log_state = {
        .level = ALDER_LOG_INFO,
        .target = ALDER_LOG_TARGET_AUTO,
        .effective = ALDER_LOG_TARGET_STDERR,
        .stderr_fd = STDERR_FILENO,
        .journal_addr = {.sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET},
        .journal_addr_len = offsetof(struct sockaddr_un, sun_path) + sizeof(JOURNAL_SOCKET),
};

/*
 * The socket entries go out on, opened on first use: (pid << 32) | fd, with
 * the pid of the process that opened it; 0 before that. One word, so that
 * threads can race to open it with a compare-and-swap instead of a lock, which
 * a fork() could leave held in the child.
 */
static uint64_t journal_socket;

/* Index of s in a sparse table of names (case-insensitive), or -EINVAL. */
static int name_lookup(const char *const *names, size_t n, const char *s)
{
        for (size_t i = 0; s && i < n; i++)
                if (names[i] && strcasecmp(names[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

int alder_log_level_from_string(const char *s)
{
        if (s && s[0] >= '0' + ALDER_LOG_ERR && s[0] <= '0' + ALDER_LOG_DEBUG && s[1] == '\0')
                return s[0] - '0';
        int r = name_lookup(level_names, ALDER_ARRAY_SIZE(level_names), s);
        return r >= 0 ? r : name_lookup(level_aliases, ALDER_ARRAY_SIZE(level_aliases), s);
}

const char *alder_log_level_to_string(int level)
{
        return ALDER_NAME_OF(level_names, level);
}

int alder_log_target_from_string(const char *s)
{
        return name_lookup(target_names, ALDER_ARRAY_SIZE(target_names), s);
}

const char *alder_log_target_to_string(alder_log_target target)
{
        return ALDER_NAME_OF(target_names, target);
}

static int clamp_level(int level)
{
        if (level < ALDER_LOG_ERR)
                return ALDER_LOG_ERR;
        return level > ALDER_LOG_DEBUG ? ALDER_LOG_DEBUG : level;
}

/* ---- text rendering ---- */

/*
 * A bounded string builder over a caller's buffer of max + 1 bytes. Appends
 * are whole units (a character or an escape); the first one that does not fit
 * cuts the text back to the last unit boundary that leaves room for the cut
 * mark, and everything after it is ignored.
 */
struct textbuf {
        char *data;
        size_t len;
        size_t max;  /* most bytes, cut mark included */
        size_t keep; /* the last unit boundary at or below max - CUT_MARK_LEN */
        bool cut;
};

static void tb_cut(struct textbuf *b)
{
        memcpy(b->data + b->keep, CUT_MARK, CUT_MARK_LEN + 1);
        b->len = b->keep + CUT_MARK_LEN;
        b->cut = true;
}

static void tb_put(struct textbuf *b, const char *s, size_t n)
{
        if (b->cut)
                return;
        if (n > b->max - b->len) {
                tb_cut(b);
                return;
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        if (b->len <= b->max - CUT_MARK_LEN)
                b->keep = b->len;
}

/* Length of the well-formed UTF-8 character at s (1 for ASCII), or 0. */
static size_t utf8_char_len(const char *s)
{
        const unsigned char *p = (const unsigned char *) s;
        unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                n = 3;
                lo = p[0] == 0xe0 ? 0xa0 : lo; /* overlong */
                hi = p[0] == 0xed ? 0x9f : hi; /* UTF-16 surrogates */
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                n = 4;
                lo = p[0] == 0xf0 ? 0x90 : lo; /* overlong */
                hi = p[0] == 0xf4 ? 0x8f : hi; /* beyond U+10FFFF */
        } else
                return 0;

        if (p[1] < lo || p[1] > hi)
                return 0;
        /* stops at the terminating NUL, which is no continuation byte */
        for (size_t i = 2; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

/* Raw text, cut only between characters. */
static void tb_put_text(struct textbuf *b, const char *s)
{
        while (*s && !b->cut) {
                size_t n = utf8_char_len(s);
                n = n ? n : 1;
                tb_put(b, s, n);
                s += n;
        }
}

static void tb_vprintf(struct textbuf *b, const char *fmt, va_list ap) ALDER_PRINTF(2, 0);

static void tb_vprintf(struct textbuf *b, const char *fmt, va_list ap)
{
        if (b->cut)
                return;
        size_t start = b->len, room = b->max - b->len;
        int n = vsnprintf(b->data + start, room + 1, fmt, ap);
        if (n < 0) {
                b->data[start] = '\0';
                tb_put_text(b, "(unformattable log message)");
                return;
        }
        b->len += ALDER_MIN((size_t) n, room);
        if (b->len <= b->max - CUT_MARK_LEN) {
                b->keep = b->len;
        } else if (b->max - CUT_MARK_LEN > start) {
                /* back to the start of the character that crosses the line */
                size_t k = b->max - CUT_MARK_LEN;
                while (k > start && (b->data[k] & 0xc0) == 0x80)
                        k--;
                b->keep = k;
        }
        if ((size_t) n > room)
                tb_cut(b);
}

/*
 * Spelling of the character at s in a line: returns its length in bytes and
 * sets esc to its escape sequence, or to "" when it stands as it is.
 */
static size_t char_escape(const char *s, bool quoted, char esc[static ESCAPE_MAX + 1])
{
        unsigned char c = (unsigned char) s[0];
        size_t n = utf8_char_len(s);

        esc[0] = '\0';
        if (n > 1) {
                if (c == 0xc2 && (unsigned char) s[1] < 0xa0) /* C1 controls: terminals act on them */
                        snprintf(esc, ESCAPE_MAX + 1, "\\x%02x\\x%02x", c, (unsigned char) s[1]);
                return n;
        }
        if (c == '\\' || (c == '"' && quoted))
                snprintf(esc, ESCAPE_MAX + 1, "\\%c", c);
        else if (c == '\n')
                snprintf(esc, ESCAPE_MAX + 1, "\\n");
        else if (c == '\t')
                snprintf(esc, ESCAPE_MAX + 1, "\\t");
        else if (c < 0x20 || c >= 0x7f) /* other controls, DEL, bytes that are not UTF-8 */
                snprintf(esc, ESCAPE_MAX + 1, "\\x%02x", c);
        return 1;
}

static void tb_put_escaped(struct textbuf *b, const char *s, bool quoted)
{
        char esc[ESCAPE_MAX + 1];
        while (*s && !b->cut) {
                size_t n = char_escape(s, quoted, esc);
                if (esc[0])
                        tb_put(b, esc, strlen(esc));
                else
                        tb_put(b, s, n);
                s += n;
        }
}

static bool value_needs_quotes(const char *s)
{
        char esc[ESCAPE_MAX + 1];
        if (!*s)
                return true; /* KEY= alone reads like a cut line */
        for (size_t n; *s; s += n) {
                n = char_escape(s, true, esc);
                if (esc[0] || *s == ' ' || *s == '=')
                        return true;
        }
        return false;
}

static bool key_char_ok(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void alder_log_sanitize_key(const char *key, char out[static ALDER_LOG_KEY_MAX + 1])
{
        size_t n = 0;
        bool letter_first = (key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z');

        if (!letter_first)
                out[n++] = 'X';
        for (const char *p = key; *p && n < ALDER_LOG_KEY_MAX; p++) {
                char c = (*p >= 'a' && *p <= 'z') ? (char) (*p - 'a' + 'A') : *p;
                out[n++] = key_char_ok(c) ? c : '_';
        }
        out[n] = '\0';
}

/*
 * Walks the fields of an entry the way every target sees them: keys
 * sanitized, NULL values skipped, ERRNO last.
 */
struct field_iter {
        const char *const *next;
        int errnum;
        char key[ALDER_LOG_KEY_MAX + 1];
        char number[16];
};

static struct field_iter field_iter_start(const struct alder_log_entry *e)
{
        return (struct field_iter){.next = e->fields, .errnum = e->errnum};
}

static bool field_next(struct field_iter *it, const char **ret_key, const char **ret_value)
{
        while (it->next && it->next[0]) {
                const char *key = it->next[0], *value = it->next[1];
                it->next += 2;
                if (!value)
                        continue;
                alder_log_sanitize_key(key, it->key);
                *ret_key = it->key;
                *ret_value = value;
                return true;
        }
        if (it->errnum > 0) {
                snprintf(it->number, sizeof(it->number), "%d", it->errnum);
                it->errnum = 0;
                *ret_key = "ERRNO";
                *ret_value = it->number;
                return true;
        }
        return false;
}

size_t alder_log_format_text(const struct alder_log_entry *e, bool stderr_style, char buf[static ALDER_LOG_TEXT_SIZE])
{
        struct textbuf b = {.data = buf, .max = ALDER_LOG_LINE_MAX};
        buf[0] = '\0';

        if (stderr_style) {
                tb_put_text(&b, alder_log_level_to_string(clamp_level(e->level)));
                tb_put(&b, " ", 1);
                tb_put_escaped(&b, e->ident, false);
                tb_put(&b, ": ", 2);
        }
        tb_put_escaped(&b, e->message, false);

        struct field_iter it = field_iter_start(e);
        const char *key, *value;
        while (field_next(&it, &key, &value)) {
                char head[ALDER_LOG_KEY_MAX + 3];
                int n = snprintf(head, sizeof(head), " %s=", key);
                bool quoted = value_needs_quotes(value);
                tb_put(&b, head, (size_t) n);
                if (quoted)
                        tb_put(&b, "\"", 1);
                tb_put_escaped(&b, value, quoted);
                if (quoted)
                        tb_put(&b, "\"", 1);
        }

        if (stderr_style) {
                buf[b.len++] = '\n';
                buf[b.len] = '\0';
        }
        return b.len;
}

/* ---- journal: the native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL) ---- */

/* Builds the datagram of an entry, or with data NULL only measures it. */
struct journal_buf {
        char *data;
        size_t len;
        size_t value_max;
};

static void jb_put(struct journal_buf *b, const void *p, size_t n)
{
        if (b->data)
                memcpy(b->data + b->len, p, n);
        b->len += n;
}

/* How much of value fits in max bytes with the cut mark after it, ending between characters. */
static size_t journal_cut_length(const char *value, size_t max)
{
        size_t n = max - CUT_MARK_LEN;
        /* back to the start of the character that crosses; at most 3 bytes, whatever the input */
        for (int i = 0; i < 3 && n > 0 && (value[n] & 0xc0) == 0x80; i++)
                n--;
        return n;
}

/*
 * KEY=value\n, or, for a value with a newline (which would end the field),
 * KEY\n, the value's size as a little-endian uint64, the value and \n.
 */
static void jb_field(struct journal_buf *b, const char *key, const char *value)
{
        size_t n = strlen(value);
        bool cut = n > b->value_max;
        if (cut)
                n = journal_cut_length(value, b->value_max);

        jb_put(b, key, strlen(key));
        if (memchr(value, '\n', n)) {
                uint64_t size = htole64((uint64_t) (n + (cut ? CUT_MARK_LEN : 0)));
                jb_put(b, "\n", 1);
                jb_put(b, &size, sizeof(size));
        } else {
                jb_put(b, "=", 1);
        }
        jb_put(b, value, n);
        if (cut)
                jb_put(b, CUT_MARK, CUT_MARK_LEN);
        jb_put(b, "\n", 1);
}

static void journal_entry(const struct alder_log_entry *e, struct journal_buf *b)
{
        char number[16];

        jb_field(b, "MESSAGE", e->message);
        snprintf(number, sizeof(number), "%d", e->level);
        jb_field(b, "PRIORITY", number);
        jb_field(b, "SYSLOG_IDENTIFIER", e->ident);
        if (e->file) {
                jb_field(b, "CODE_FILE", e->file);
                snprintf(number, sizeof(number), "%d", e->line);
                jb_field(b, "CODE_LINE", number);
        }
        if (e->func)
                jb_field(b, "CODE_FUNC", e->func);

        struct field_iter it = field_iter_start(e);
        const char *key, *value;
        while (field_next(&it, &key, &value))
                jb_field(b, key, value);
}

char *alder_log_journal_entry(const struct alder_log_entry *e, size_t value_max, size_t *ret_len)
{
        struct journal_buf b = {.value_max = ALDER_MAX(value_max, CUT_MARK_LEN)};
        journal_entry(e, &b);

        size_t len = b.len;
        b.data = malloc(len);
        if (!b.data)
                return NULL;
        b.len = 0;
        journal_entry(e, &b);
        *ret_len = len;
        return b.data;
}

char *alder_log_native_entry(int level, const char *ident, const char *message, const char *const *fields,
                             size_t *ret_len)
{
        struct alder_log_entry e = {.level = clamp_level(level), .ident = ident, .message = message, .fields = fields};
        return alder_log_journal_entry(&e, SIZE_MAX, ret_len);
}

static void set_socket_address(struct sockaddr_un *a, socklen_t *len, const char *path)
{
        a->sun_family = AF_UNIX;
        snprintf(a->sun_path, sizeof(a->sun_path), "%s", path);
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

void alder_log_set_journal_socket_path(const char *path)
{
        set_socket_address(&log_state.journal_addr, &log_state.journal_addr_len, path ? path : JOURNAL_SOCKET);
}

/* The socket of this process, opened on first use: an fd, or a negative errno. */
static int journal_socket_fd(void)
{
        uint64_t pid = (uint64_t) getpid();
        uint64_t cur = __atomic_load_n(&journal_socket, __ATOMIC_ACQUIRE);
        if (cur >> 32 == pid)
                return (int) (uint32_t) cur;

        /*
         * None yet, or the parent's, inherited by fork(): the child may have
         * closed that fd number or reused it for something else, so it is
         * neither used nor closed (close-on-exec takes it at the next exec).
         */
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int size = JOURNAL_SNDBUF;
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)); /* the default works too */
        /* a reader that has stopped reading costs a caller this long per entry, then stderr takes it */
        struct timeval tv = {.tv_sec = ALDER_LOG_SEND_TIMEOUT_MS / 1000,
                             .tv_usec = (ALDER_LOG_SEND_TIMEOUT_MS % 1000) * 1000};
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        uint64_t mine = pid << 32 | (uint32_t) fd;
        if (__atomic_compare_exchange_n(&journal_socket, &cur, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return fd;
        close(fd); /* another thread of this process was first: cur is its socket */
        return (int) (uint32_t) cur;
}

/* The entry as one datagram to addr, values cut at value_max bytes. */
static int native_send_cut(int fd, const struct alder_log_entry *e, struct sockaddr_un *addr, socklen_t addr_len,
                           size_t value_max)
{
        size_t len;
        _cleanup_free_ char *data = alder_log_journal_entry(e, value_max, &len);
        if (!data)
                return -ENOMEM;

        /* unconnected: each send finds journald again, so a restart of it costs nothing */
        struct iovec iov = {.iov_base = data, .iov_len = len};
        struct msghdr mh = {
                .msg_name = addr,
                .msg_namelen = addr_len,
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };
        while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

/* To journald or alder-logd, which read the same protocol. */
static int native_send(const struct alder_log_entry *e, struct sockaddr_un *addr, socklen_t addr_len)
{
        int fd = journal_socket_fd();
        if (fd < 0)
                return fd;
        int r = native_send_cut(fd, e, addr, addr_len, SIZE_MAX);
        if (r == -EMSGSIZE || r == -ENOBUFS) /* too big for the socket, or no room now: a cut entry beats none */
                r = native_send_cut(fd, e, addr, addr_len, ALDER_LOG_JOURNAL_RETRY_MAX);
        return r;
}

static bool parse_decimal(const char *s, char **end, unsigned long long *ret)
{
        if (*s < '0' || *s > '9') /* strtoull() would take spaces and a sign */
                return false;
        errno = 0;
        *ret = strtoull(s, end, 10);
        return errno == 0;
}

bool alder_log_is_journal_stream(int fd, const char *journal_stream)
{
        unsigned long long dev, ino;
        char *end;
        struct stat st;

        if (!journal_stream || !parse_decimal(journal_stream, &end, &dev) || *end != ':' ||
            !parse_decimal(end + 1, &end, &ino) || *end != '\0')
                return false;
        if (fstat(fd, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

/* ---- configuration ---- */

static const char *log_ident(void)
{
        return log_state.ident[0] ? log_state.ident : program_invocation_short_name;
}

static const char *env_value(const char *name)
{
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

static bool is_socket(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static uint64_t monotonic_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void apply_target(void)
{
        const char *logd = env_value("ALDER_LOG_SOCKET");
        set_socket_address(&log_state.logd_addr, &log_state.logd_addr_len, logd ? logd : ALDER_LOG_SOCKET_DEFAULT);

        alder_log_target t = log_state.target;
        if (t == ALDER_LOG_TARGET_AUTO)
                t = alder_log_is_journal_stream(STDERR_FILENO, getenv("JOURNAL_STREAM")) ? ALDER_LOG_TARGET_JOURNAL
                    : is_socket(log_state.logd_addr.sun_path)                            ? ALDER_LOG_TARGET_ALDER
                                                                                         : ALDER_LOG_TARGET_STDERR;

        log_state.auto_checked_ms = monotonic_ms();
        /* openlog() keeps the ident pointer: reopen whenever it may change */
        if (log_state.syslog_open) {
                closelog();
                log_state.syslog_open = false;
        }
        if (t == ALDER_LOG_TARGET_SYSLOG) {
                openlog(log_ident(), LOG_PID, LOG_DAEMON);
                log_state.syslog_open = true;
        }
        log_state.effective = t;
}

void alder_log_init(const char *ident)
{
        snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident ? ident : "");
        apply_target();
}

void alder_log_set_level(int level)
{
        log_state.level = clamp_level(level);
}

alder_log_level alder_log_get_level(void)
{
        return (alder_log_level) log_state.level;
}

int alder_log_set_target(alder_log_target target, alder_error **err)
{
        if (!alder_log_target_to_string(target))
                return alder_error_set(err, EINVAL, "invalid log target %d", (int) target);
        log_state.target = target;
        apply_target();
        return 0;
}

alder_log_target alder_log_get_target(void)
{
        return log_state.effective;
}

void alder_log_set_stderr_fd(int fd)
{
        log_state.stderr_fd = fd >= 0 ? fd : STDERR_FILENO;
}

int alder_log_configure_from_env(alder_error **err)
{
        const char *level_env = env_value("ALDER_LOG_LEVEL");
        const char *target_env = env_value("ALDER_LOG_TARGET");
        int level = log_state.level;

        /* check both before applying either, so a bad value changes nothing */
        if (level_env) {
                level = alder_log_level_from_string(level_env);
                if (level < 0)
                        return alder_error_set(err, EINVAL,
                                               "ALDER_LOG_LEVEL: invalid log level '%s' (expected err, warning, "
                                               "notice, info, debug or 3-7)",
                                               level_env);
        }
        if (target_env) {
                int target = alder_log_target_from_string(target_env);
                if (target < 0)
                        return alder_error_set(err, EINVAL,
                                               "ALDER_LOG_TARGET: invalid log target '%s' (expected auto, stderr, "
                                               "journal, syslog or alder)",
                                               target_env);
                int r = alder_log_set_target((alder_log_target) target, err);
                if (r < 0)
                        return alder_error_wrap(err, "ALDER_LOG_TARGET=%s", target_env);
        }
        alder_log_set_level(level);
        return 0;
}

/* ---- emitting ---- */

/* One write() per line in the normal case; a short write is completed. */
static void write_line(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return; /* nowhere left to report it */
                p += k;
                n -= (size_t) k;
        }
}

/*
 * auto chose stderr because alder-logd's socket was not there: a daemon that
 * started before alder-logd switches to it once it is (looked for at most
 * every AUTO_RECHECK_MS). Racing threads at worst both look.
 */
static void auto_recheck(void)
{
        if (log_state.target != ALDER_LOG_TARGET_AUTO || log_state.effective != ALDER_LOG_TARGET_STDERR)
                return;
        uint64_t now = monotonic_ms();
        if (now - __atomic_load_n(&log_state.auto_checked_ms, __ATOMIC_RELAXED) < AUTO_RECHECK_MS)
                return;
        __atomic_store_n(&log_state.auto_checked_ms, now, __ATOMIC_RELAXED);
        if (is_socket(log_state.logd_addr.sun_path))
                __atomic_store_n(&log_state.effective, ALDER_LOG_TARGET_ALDER, __ATOMIC_RELAXED);
}

static void emit(const struct alder_log_entry *e)
{
        char line[ALDER_LOG_TEXT_SIZE];

        auto_recheck();
        switch (log_state.effective) {
        case ALDER_LOG_TARGET_JOURNAL:
                if (native_send(e, &log_state.journal_addr, log_state.journal_addr_len) >= 0)
                        return;
                break; /* journald not running (ENOENT, ECONNREFUSED) or the entry unsendable: stderr rather than
                          nothing */
        case ALDER_LOG_TARGET_ALDER:
                if (native_send(e, &log_state.logd_addr, log_state.logd_addr_len) >= 0)
                        return;
                break; /* the same for alder-logd */
        case ALDER_LOG_TARGET_SYSLOG:
                alder_log_format_text(e, false, line);
                syslog(e->level, "%s", line);
                return;
        default:
                break;
        }
        write_line(log_state.stderr_fd, line, alder_log_format_text(e, true, line));
}

static void tb_put_error_chain(struct textbuf *b, const alder_error *err)
{
        /* the const accessors, not alder_error_message(), which caches into err */
        unsigned depth = alder_error_depth(err);
        if (depth == 0)
                tb_put_text(b, "(no error)");
        for (unsigned i = 0; i < depth; i++) {
                if (i > 0)
                        tb_put_text(b, ": ");
                tb_put_text(b, alder_error_part(err, i));
        }
}

static void log_va(int level, bool with_error, const alder_error *err, const char *const *fields, const char *file,
                   int line, const char *func, const char *fmt, va_list ap) ALDER_PRINTF(8, 0);

static void log_va(int level, bool with_error, const alder_error *err, const char *const *fields, const char *file,
                   int line, const char *func, const char *fmt, va_list ap)
{
        level = clamp_level(level);
        if (level > log_state.level)
                return;

        int saved_errno = errno; /* untouched so far, for %m in fmt */
        char message[ALDER_LOG_LINE_MAX + 1];
        struct textbuf b = {.data = message, .max = ALDER_LOG_LINE_MAX};
        tb_vprintf(&b, fmt, ap);
        if (with_error) {
                tb_put_text(&b, ": ");
                tb_put_error_chain(&b, err);
        }

        struct alder_log_entry e = {
                .level = level,
                .ident = log_ident(),
                .file = file,
                .line = line,
                .func = func,
                .message = message,
                .fields = fields,
                .errnum = alder_error_errno(err),
        };
        emit(&e);
        errno = saved_errno;
}

void alder_log_full(int level, const char *const *fields, const char *file, int line, const char *func, const char *fmt,
                    ...)
{
        va_list ap;
        va_start(ap, fmt);
        log_va(level, false, NULL, fields, file, line, func, fmt, ap);
        va_end(ap);
}

int alder_log_error_full(int level, const alder_error *err, const char *const *fields, const char *file, int line,
                         const char *func, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        log_va(level, true, err, fields, file, line, func, fmt, ap);
        va_end(ap);
        return err ? -alder_error_errno(err) : -EIO;
}
