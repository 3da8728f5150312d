/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datagrams alder-logd receives: journald's native protocol
 * (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/), what lib/log.c sends.
 *
 *   KEY=value\n                                 a value without a newline
 *   KEY\n <size: u64 little-endian> value \n    any value
 *
 * Keys are [A-Z0-9_], not starting with a digit, at most 64 bytes. As
 * journald does, a field with an invalid key is left out, and so is one whose
 * key starts with '_': those are the trusted fields only logd sets (from the
 * sender's credentials). An empty line ends the entry; bytes after it, or a
 * last field without its newline, are ignored. A binary value whose size runs
 * past the datagram makes the whole datagram malformed.
 *
 * The record (record.h) takes MESSAGE, PRIORITY (a digit 0-7, else info) and
 * SYSLOG_IDENTIFIER (the source); APP, VERSION and STREAM=stdout|stderr only
 * from a trusted sender (a uid in the trusted list: the platform daemons).
 * For anyone else they stay ordinary fields, and the source gets the prefix
 * "uid-UID:", so that nobody can pass for a daemon or an app.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alder/error.h"
#include "record.h"

/* Largest datagram taken; a longer one is dropped (and counted). */
#define LOGD_DGRAM_MAX (64u * 1024u)

struct logd_msg {
        struct logrec_field fields[LOGREC_MAX_FIELDS];
        size_t n_fields;
        unsigned rejected; /* fields left out: invalid or '_' keys, beyond LOGREC_MAX_FIELDS */
};

/* -EBADMSG with the reason in *err for a malformed datagram. */
int logd_msg_parse(const void *buf, size_t len, struct logd_msg *ret, alder_error **err) ALDER_WUR;

/* Who sent it, from SCM_CREDENTIALS. */
struct logd_origin {
        uint32_t pid, uid, gid;
        bool trusted;
        const char *comm; /* the source when the message names none (NULL: none) */
};

/* The value of the first field named key, or NULL. */
const struct logrec_str *logd_msg_find(const struct logd_msg *m, const char *key);

/* Holds the "uid-UID:" source of an untrusted sender and the record's extra fields. */
struct logd_msg_scratch {
        char source[LOGREC_NAME_MAX + 1];
        struct logrec_field extra[LOGREC_MAX_FIELDS];
};

/*
 * Fills the record's level, flags, source, app, version, message and fields
 * from the message (pointing into it and into scratch), pid/uid/gid from the
 * origin. seq and times are the store's and the caller's.
 */
void logd_msg_record(const struct logd_msg *m, const struct logd_origin *o, struct logd_msg_scratch *scratch,
                     struct logrec *ret);
