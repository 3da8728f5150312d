/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One event of alder-logd's store as bytes: the framing that makes a segment
 * file readable after a crash, and the record inside (docs/formats/logstore.md).
 *
 *   frame   = magic u32 "ALR1" | size u32 | crc u32 | payload (size bytes) | zeros to a multiple of 8
 *   crc     = zlib crc32 of the size field's 4 bytes and the payload
 *   payload = seq u64 | realtime_us u64 | monotonic_us u64 | pid u32 | uid u32 | gid u32
 *             | level u8 | flags u8 | n_fields u16
 *             | source_len u16 | app_len u16 | version_len u16 | reserved u16 (0) | message_len u32
 *             | source | app | version | message
 *             | n_fields x (key_len u8 | key | value_len u32 | value)
 * All integers little-endian. Pure functions over buffers: unit-tested and
 * fuzzed (fuzz/fuzz-logd-segment.c) without files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alder/macro.h"

#define LOGREC_MAGIC       0x31524c41u /* "ALR1" as it stands in the file */
#define LOGREC_HEADER_SIZE 12u
#define LOGREC_ALIGN       8u
#define LOGREC_FIXED_SIZE  52u /* payload before the strings */
#define LOGREC_MAX_PAYLOAD (72u * 1024u)
#define LOGREC_MAX_FRAME   (LOGREC_HEADER_SIZE + LOGREC_MAX_PAYLOAD + LOGREC_ALIGN)
#define LOGREC_NAME_MAX    255u /* source, app, version: longer ones are cut */
#define LOGREC_KEY_MAX     64u
#define LOGREC_MAX_FIELDS  256u

/* flags */
#define LOGREC_STDOUT  0x01u /* a line of an app's stdout (source is the app) */
#define LOGREC_STDERR  0x02u /* ... of its stderr */
#define LOGREC_TRUSTED 0x04u /* the sender's uid is trusted: source and app are its word */
#define LOGREC_FLAGS   0x07u

struct logrec_str {
        const char *p;
        size_t len;
};

struct logrec_field {
        struct logrec_str key, value;
};

/* A record: to encode, fields/n_fields; decoded, the fields stay encoded in fields_blob (logrec_field_next). */
struct logrec {
        uint64_t seq, realtime_us, monotonic_us;
        uint32_t pid, uid, gid;
        uint8_t level, flags;
        struct logrec_str source, app, version, message;
        const struct logrec_field *fields;
        size_t n_fields;
        const uint8_t *fields_blob;
        size_t fields_blob_len;
};

/* Bytes of the frame of r (header, payload, padding); 0 when the payload would exceed LOGREC_MAX_PAYLOAD. */
size_t logrec_frame_size(const struct logrec *r);

/* Writes the frame of r to out, which holds logrec_frame_size(r) bytes (not 0). */
void logrec_encode(const struct logrec *r, uint8_t *out);

/*
 * Looks at the frame starting at buf (len bytes available). Returns its size
 * (header, payload and padding) with the payload in *ret_payload and
 * *ret_payload_len when a whole valid frame is there; 0 when buf holds the
 * beginning of what may be a frame but not all of it (at the end of a file:
 * a torn tail); -EBADMSG when no frame starts there (wrong magic, size out of
 * range, CRC mismatch).
 */
long logrec_frame_check(const uint8_t *buf, size_t len, const uint8_t **ret_payload, size_t *ret_payload_len);

/* Decodes a payload; -EBADMSG when it is inconsistent. The strings point into it. */
int logrec_decode(const uint8_t *payload, size_t len, struct logrec *ret) ALDER_WUR;

/* Iterates the fields of a decoded record: *pos starts at 0; false at the end. */
bool logrec_field_next(const struct logrec *r, size_t *pos, struct logrec_field *ret);

/* Whether key is a valid field name of the native protocol: [A-Z0-9_], not starting with a digit, 1..64 bytes. */
bool logrec_key_valid(const char *key, size_t len);
