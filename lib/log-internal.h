/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the log module, exposed only so that unit tests can check the
 * formatting and the journal datagrams without a running journald. Not part
 * of the public API: daemons and tools use alder/log.h.
 *
 * Text rendering (stderr and syslog targets), chosen so that every entry
 * stays one line whatever the input and can be read back unambiguously:
 *   - the message is written unquoted; '\\', newline, tab, other control
 *     bytes, DEL, C1 controls (U+0080..U+009F, NEL among them) and bytes that
 *     are not well-formed UTF-8 are escaped as \\, \n, \t and \xNN (one \xNN
 *     per byte); well-formed UTF-8 stands as it is;
 *   - each field is " KEY=value" with the key sanitized as alder/log.h says;
 *     a value is put in double quotes when it is empty or holds a space, '=',
 *     '"' or anything that needs an escape; in quotes '"' is escaped as \"
 *     too, and the other escapes are those of the message;
 *   - an ERRNO field, when there is one, comes after the caller's fields;
 *   - a line is cut at ALDER_LOG_LINE_MAX bytes (newline not counted) at a
 *     character or escape boundary, and then ends in "...".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "alder/log.h"

/* Buffer size for alder_log_format_text(): the line, its newline and a NUL. */
#define ALDER_LOG_TEXT_SIZE (ALDER_LOG_LINE_MAX + 2)

struct alder_log_entry {
        int level; /* ALDER_LOG_ERR..ALDER_LOG_DEBUG */
        const char *ident;
        const char *file; /* NULL: no CODE_FILE/CODE_LINE */
        int line;
        const char *func;          /* NULL: no CODE_FUNC */
        const char *message;       /* already formatted */
        const char *const *fields; /* key/value pairs ending in a NULL key, or NULL */
        int errnum;                /* > 0: an ERRNO field after the others */
};

/*
 * Renders the entry into buf, NUL-terminated, and returns its length. With
 * stderr_style the line is "LEVEL IDENT: message fields\n", without it
 * "message fields" (what goes to syslog, which adds the rest itself). Cannot
 * fail and does not allocate, so it also serves when memory has run out.
 */
size_t alder_log_format_text(const struct alder_log_entry *e, bool stderr_style, char buf[static ALDER_LOG_TEXT_SIZE]);

/*
 * The journal target (and the alder target, to alder-logd's socket instead)
 * speaks journald's native protocol
 * (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): one AF_UNIX datagram per
 * entry, sent to /run/systemd/journal/socket from one close-on-exec socket per
 * process (opened on first use, and again in a child after fork()). Fields in
 * this order: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_FILE, CODE_LINE,
 * CODE_FUNC, the caller's fields (keys sanitized, values as they are), ERRNO.
 * Each is "KEY=value\n", or, when the value holds a newline, "KEY\n", the
 * value's size as a little-endian uint64, the value and "\n".
 *
 * When the send fails with EMSGSIZE or ENOBUFS the entry is sent once more
 * with every value cut at ALDER_LOG_JOURNAL_RETRY_MAX bytes (cut mark "..."
 * included, cut between UTF-8 characters). When that fails too, or journald
 * is not running (ENOENT, ECONNREFUSED), the entry goes to stderr.
 */
#define ALDER_LOG_JOURNAL_RETRY_MAX 1024

/*
 * The datagram of the entry, values longer than value_max bytes cut as above
 * (SIZE_MAX: none cut). Its length in *ret_len; free() it. NULL when out of
 * memory.
 */
char *alder_log_journal_entry(const struct alder_log_entry *e, size_t value_max, size_t *ret_len) ALDER_WUR;

/*
 * Where journal entries are sent instead of /run/systemd/journal/socket (NULL:
 * back to that). For tests; a path longer than sun_path is cut.
 */
void alder_log_set_journal_socket_path(const char *path);

/* Writes the sanitized form of key (rules in alder/log.h) to out. */
void alder_log_sanitize_key(const char *key, char out[static ALDER_LOG_KEY_MAX + 1]);

/*
 * Whether fd is the stream JOURNAL_STREAM names: that variable holds
 * "DEVICE:INODE" in decimal, and systemd's rule is that a process logs
 * natively only when its stderr still matches both. A NULL or malformed
 * value, or an fd that cannot be fstat()ed, is no match.
 */
bool alder_log_is_journal_stream(int fd, const char *journal_stream);
