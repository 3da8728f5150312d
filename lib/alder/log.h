/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for Alder daemons and tools.
 *
 * Library code never logs (it reports through alder_error); daemons and CLIs
 * log with this module:
 *
 *     alder_log_init("alder-appd");
 *     r = alder_log_configure_from_env(&err);      // ALDER_LOG_LEVEL, ALDER_LOG_TARGET
 *     ...
 *     alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", app, "VERSION", ver), "installed %s", app);
 *     alder_log_debug("scanning %s", dir);
 *     return alder_log_error(ALDER_LOG_ERR, err, ALDER_LOG_FIELDS("APP", app), "install %s", app);
 *
 * Levels are syslog priorities; an entry is emitted when its level is at most
 * the configured one (default ALDER_LOG_INFO).
 *
 * Fields are key/value pairs. ALDER_LOG_FIELDS() builds a NULL-terminated
 * array of them that lives until the end of the enclosing block; an odd
 * number of arguments is a compile error (a negative array size). A
 * NULL fields pointer means no fields; a field whose value is NULL is left
 * out, so optional values can be passed as they are.
 *
 * Keys follow the journal's rules: [A-Z0-9_], not starting with '_' or a
 * digit, at most ALDER_LOG_KEY_MAX bytes. Any other key is sanitized rather
 * than dropped, the same way for every target: a-z become A-Z, every other
 * byte outside [A-Z0-9_] becomes '_', a key that then starts with '_' or a
 * digit (or is empty) gets an "X" in front, and it is cut at
 * ALDER_LOG_KEY_MAX bytes. "app-id" -> APP_ID, "_uid" -> X_UID, "1st" -> X1ST.
 *
 * Targets:
 *   stderr   "LEVEL IDENT: message KEY=value KEY2=\"value with spaces\"\n",
 *            written with one write() so that concurrent writers do not
 *            interleave; escaping keeps every entry on one line (see
 *            log-internal.h for the exact rules);
 *   journal  journald's native protocol (written directly, no libsystemd)
 *            with MESSAGE, PRIORITY, SYSLOG_IDENTIFIER,
 *            CODE_FILE/CODE_LINE/CODE_FUNC and the fields, values unescaped;
 *            if journald is not running the entry goes to stderr instead,
 *            and one too big for the socket is sent with its values cut
 *            (see log-internal.h);
 *   syslog   openlog(ident, LOG_PID, LOG_DAEMON) and syslog() with the
 *            fields appended to the message as on stderr;
 *   alder    alder-logd's socket (ALDER_LOG_SOCKET, default
 *            ALDER_LOG_SOCKET_DEFAULT) in the same native protocol as the
 *            journal, with the same fallback to stderr when logd is not
 *            running (docs/api/logd.md);
 *   auto     journal when stderr is connected to the journal (JOURNAL_STREAM
 *            holds "dev:inode" of fd 2, systemd's documented rule), else
 *            alder when logd's socket exists, else stderr; while it is
 *            stderr, logd's socket is looked for again at most every second,
 *            so that a daemon started before alder-logd finds it.
 *
 * The journal and alder targets send on a blocking socket, so a burst waits
 * for the reader instead of being lost; a send still blocked after
 * ALDER_LOG_SEND_TIMEOUT_MS (the reader has stopped) goes to stderr instead.
 *
 * Bounds: a formatted message is cut at ALDER_LOG_LINE_MAX bytes, and so is a
 * stderr or syslog line; a cut shows as "..." at its end.
 *
 * Logging calls keep errno (so "%m" works and callers can log between a
 * failure and its errno check) and are thread-safe. Configuration calls are
 * not: make them at start-up, before other threads run.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "macro.h"

typedef enum alder_log_level {
        ALDER_LOG_ERR = 3,
        ALDER_LOG_WARNING = 4,
        ALDER_LOG_NOTICE = 5,
        ALDER_LOG_INFO = 6,
        ALDER_LOG_DEBUG = 7,
} alder_log_level;

typedef enum alder_log_target {
        ALDER_LOG_TARGET_AUTO,
        ALDER_LOG_TARGET_STDERR,
        ALDER_LOG_TARGET_JOURNAL,
        ALDER_LOG_TARGET_SYSLOG,
        ALDER_LOG_TARGET_ALDER,
} alder_log_target;

/* alder-logd's datagram socket, unless ALDER_LOG_SOCKET names another. */
#define ALDER_LOG_SOCKET_DEFAULT "/run/alder/log.sock"

/* Longest wait of the journal and alder targets for a reader that does not read. */
#define ALDER_LOG_SEND_TIMEOUT_MS 1000

/* Longest key; longer ones are cut (the journal refuses them). */
#define ALDER_LOG_KEY_MAX 64

/* Longest formatted message, and longest stderr/syslog line without its newline. */
#define ALDER_LOG_LINE_MAX 8192

/*
 * "err"/"error", "warning"/"warn", "notice", "info", "debug" (any case) or a
 * single digit 3-7. Returns the level, or -EINVAL.
 */
int alder_log_level_from_string(const char *s) ALDER_WUR;

/* "err", "warning", "notice", "info", "debug"; NULL for anything else. */
const char *alder_log_level_to_string(int level);

/* "auto", "stderr", "journal", "syslog", "alder" (any case). Returns the target, or -EINVAL. */
int alder_log_target_from_string(const char *s) ALDER_WUR;

/* The name above; NULL for an unknown value. */
const char *alder_log_target_to_string(alder_log_target target);

/*
 * Sets the identifier shown on every entry (NULL: the program's short name;
 * cut at 63 bytes) and resolves the target again, which for auto means
 * looking at JOURNAL_STREAM. Until the first call entries go to stderr under
 * the program's short name; the default level is info.
 */
void alder_log_init(const char *ident);

/*
 * Applies ALDER_LOG_LEVEL and ALDER_LOG_TARGET when they are set and not
 * empty (ALDER_LOG_SOCKET is read whenever the target is resolved). All or
 * nothing: on a bad value nothing changes and the error names the variable
 * and the value, e.g.
 *   "ALDER_LOG_LEVEL: invalid log level 'loud' (expected err, warning, notice, info, debug or 3-7)"
 *   "ALDER_LOG_TARGET: invalid log target 'kmsg' (expected auto, stderr, journal, syslog or alder)"
 */
int alder_log_configure_from_env(alder_error **err) ALDER_WUR;

/* Levels outside ALDER_LOG_ERR..ALDER_LOG_DEBUG are clamped to that range. */
void alder_log_set_level(int level);
alder_log_level alder_log_get_level(void);

/* Fails with EINVAL for an unknown target; the previous target stays in use. */
int alder_log_set_target(alder_log_target target, alder_error **err) ALDER_WUR;

/* The target in use: never AUTO, which is resolved to what it chose. */
alder_log_target alder_log_get_target(void);

/*
 * Where the stderr target (and the fallback when journald is unreachable)
 * writes; a negative fd restores STDERR_FILENO. The fd stays the caller's.
 * Meant for tests.
 */
void alder_log_set_stderr_fd(int fd);

/*
 * One entry in the native protocol (what the journal and alder targets send),
 * without CODE_* fields and whatever the level setting: for a program that
 * forwards entries of others, e.g. alder-appd the lines of an app's output.
 * Fields as for alder_log(). Its length in *ret_len; free() it. NULL when out
 * of memory.
 */
char *alder_log_native_entry(int level, const char *ident, const char *message, const char *const *fields,
                             size_t *ret_len) ALDER_WUR;

/* Counts the arguments of ALDER_LOG_FIELDS(); for its pair check only. */
#define ALDER_LOG_NARGS_(...) (sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *))

#define ALDER_LOG_FIELDS(...) \
        ((void) sizeof(char[ALDER_LOG_NARGS_(__VA_ARGS__) % 2 == 0 ? 1 : -1]), (const char *const[]){__VA_ARGS__, NULL})

/* Call through the macros below, which add the source location. */
void alder_log_full(int level, const char *const *fields, const char *file, int line, const char *func, const char *fmt,
                    ...) ALDER_PRINTF(6, 7);

/*
 * Logs "<formatted message>: <error chain>" with an ERRNO field (the errno
 * of the innermost failure) after the caller's fields. Returns that errno
 * negated so that a caller can `return alder_log_error(...)`; -EIO when err
 * is NULL (the message then ends in "(no error)"), so a failure is never
 * turned into success. The return value is the same whether or not the
 * level lets the entry through.
 */
int alder_log_error_full(int level, const alder_error *err, const char *const *fields, const char *file, int line,
                         const char *func, const char *fmt, ...) ALDER_PRINTF(7, 8);

#define alder_log(level, fields, ...) alder_log_full((level), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define alder_log_error(level, err, fields, ...) \
        alder_log_error_full((level), (err), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define alder_log_err(...)     alder_log(ALDER_LOG_ERR, NULL, __VA_ARGS__)
#define alder_log_warning(...) alder_log(ALDER_LOG_WARNING, NULL, __VA_ARGS__)
#define alder_log_notice(...)  alder_log(ALDER_LOG_NOTICE, NULL, __VA_ARGS__)
#define alder_log_info(...)    alder_log(ALDER_LOG_INFO, NULL, __VA_ARGS__)
#define alder_log_debug(...)   alder_log(ALDER_LOG_DEBUG, NULL, __VA_ARGS__)
