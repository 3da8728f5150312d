/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the LwM2M content-format codecs (lib/lwm2m*.c): helpers
 * for untrusted text, the record "sink" every decoder fills, the checks every
 * encoder makes, and one entry point per format.
 */
#pragma once

#include "alder/base64.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alder/cbor-util.h"
#include "alder/lwm2m.h"

/* Bound of an encoded payload (a TLV value cannot exceed 16 MiB anyway). */
#define LWM2M_ENCODE_MAX (64u << 20)

/* Untrusted bytes shown in a message: at most LWM2M_QUOTE_MAX of them, others than printable ASCII as \xNN. */
#define LWM2M_QUOTE_MAX  40
#define LWM2M_QUOTE_SIZE (4 * LWM2M_QUOTE_MAX + 4)
const char *lwm2m_quote(const void *s, size_t len, char buf[static LWM2M_QUOTE_SIZE]);

/* Valid UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) without NUL bytes; else the bad offset. */
bool lwm2m_utf8_valid(const uint8_t *s, size_t len, size_t *ret_bad);

/* The unsigned integer in n <= 8 big-endian bytes (TLV headers and values). */
static inline uint64_t lwm2m_be_uint(const uint8_t *p, size_t n)
{
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
                v = (v << 8) | p[i];
        return v;
}

/* "O:I" with both in 0..65535 (65535:65535 is the null link). */
bool lwm2m_objlnk_parse(const char *s, size_t len, uint16_t *ret_object, uint16_t *ret_instance);

/* Shortest decimal that reads back as f ("0.1", "1500", "1e+300"); "nan"/"inf"/"-inf" for those. */
#define LWM2M_FLOAT_STRLEN 48
void lwm2m_format_float(double f, char buf[static LWM2M_FLOAT_STRLEN]);

/*
 * The text of a number ("-42", "0.1") or an objlnk ("3:0"), as text/plain and
 * SenML write them; false for other types (booleans differ between formats).
 */
bool lwm2m_scalar_text(const struct alder_lwm2m_value *v, char buf[static LWM2M_FLOAT_STRLEN]);

/* A record without a value (SenML name alone): NONE with no data. */
static inline bool lwm2m_value_present(const struct alder_lwm2m_value *v)
{
        return v->type != ALDER_LWM2M_TYPE_NONE || v->data != NULL;
}

/* ---- decoding: every decoder appends to a sink, then hands it over --------------------------- */

struct lwm2m_sink {
        const char *what; /* "TLV", "SenML-JSON", ... */
        const char *unit; /* how origins are counted in messages: "offset" or "record" */
        struct alder_lwm2m_path base;
        struct alder_lwm2m_records recs;
        size_t *origin; /* where each record came from, parallel to recs.v */
        size_t origin_cap;
};

void lwm2m_sink_done(struct lwm2m_sink *s);
#define _cleanup_lwm2m_sink_ _cleanup_(lwm2m_sink_done)

/*
 * Appends a record for `path` found at `origin`: refuses a path outside the
 * base, a value at a path that is not a resource (instance) when has_value,
 * and more than ALDER_LWM2M_RECORDS_MAX records (E2BIG).
 */
int lwm2m_sink_add(struct lwm2m_sink *s, const struct alder_lwm2m_path *path, size_t origin, bool has_value,
                   struct alder_lwm2m_record **ret, alder_error **err) ALDER_WUR;

/* Sorts the records by path, refuses duplicates, and moves them to the end of *out. */
int lwm2m_sink_finish(struct lwm2m_sink *s, struct alder_lwm2m_records *out, alder_error **err) ALDER_WUR;

/* ---- encoding ---------------------------------------------------------------------------------- */

/*
 * Checks records for an encoder named `what` (every record under base, a
 * value only on resources (instances), value-less records only when
 * allow_valueless, no duplicates) and returns them sorted by path (*ret is a
 * malloc'd array of pointers into r).
 */
int lwm2m_encode_prepare(const char *what, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *r,
                         bool allow_valueless, const struct alder_lwm2m_record ***ret, alder_error **err) ALDER_WUR;

/* The one record of a single-value format (text, opaque, CBOR): base must be a resource (instance). */
int lwm2m_encode_single(const char *what, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *r,
                        const struct alder_lwm2m_record **ret, alder_error **err) ALDER_WUR;

static inline void lwm2m_init_writer(struct alder_cbor_writer *w)
{
        *w = (struct alder_cbor_writer){.max = LWM2M_ENCODE_MAX};
}

/* ---- formats ----------------------------------------------------------------------------------- */

#define LWM2M_CODEC(name)                                                                                         \
        int lwm2m_##name##_encode(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records, \
                                  struct alder_cbor_writer *w, alder_error **err) ALDER_WUR;                      \
        int lwm2m_##name##_decode(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,            \
                                  struct alder_lwm2m_records *out, alder_error **err) ALDER_WUR

LWM2M_CODEC(text);
LWM2M_CODEC(opaque);
LWM2M_CODEC(cbor);
LWM2M_CODEC(tlv);
LWM2M_CODEC(senml_json);
LWM2M_CODEC(senml_cbor);

/* ---- CBOR over the streaming reader of lib/alder/cbor-util.h (untrusted input) ---------------- */

/*
 * Completes a BYTES/TEXT item whose head was just read: definite strings point
 * into the buffer, indefinite ones are joined into *ret_owned (free it).
 */
int lwm2m_cbor_string(struct alder_cbor_reader *r, const struct alder_cbor_head *it, uint8_t **ret_owned,
                      const uint8_t **ret_data, size_t *ret_len, alder_error **err) ALDER_WUR;
/* Skips the rest of an item whose head was just read (nesting bounded by ALDER_CBOR_MAX_DEPTH). */
int lwm2m_cbor_skip(struct alder_cbor_reader *r, const struct alder_cbor_head *it, alder_error **err) ALDER_WUR;
/* Checks a container's declared count against the bytes left (each item needs at least one byte per entry). */
int lwm2m_cbor_check_count(struct alder_cbor_reader *r, const struct alder_cbor_head *it, alder_error **err) ALDER_WUR;

/* What lwm2m_cbor_value() takes. */
enum {
        LWM2M_CBOR_ACCEPT_NUMBER = 1 << 0, /* integers (INTEGER, UNSIGNED above INT64_MAX), floats (FLOAT) */
        LWM2M_CBOR_ACCEPT_TEXT = 1 << 1,   /* STRING (UTF-8 without NUL) */
        LWM2M_CBOR_ACCEPT_BYTES = 1 << 2,  /* OPAQUE */
        LWM2M_CBOR_ACCEPT_BOOL = 1 << 3,
        LWM2M_CBOR_ACCEPT_TIME = 1 << 4, /* tag 1 + integer: TIME */
        LWM2M_CBOR_ACCEPT_ANY = 0x1f,
};

/* Reads the value whose head `it` was just read into v, or fails saying it is not `expected`. */
int lwm2m_cbor_value(struct alder_cbor_reader *r, const struct alder_cbor_head *it, unsigned accept,
                     const char *expected, struct alder_lwm2m_value *v, alder_error **err) ALDER_WUR;

/* Appends a float in the shortest of single/double precision that holds it exactly. */
void lwm2m_cbor_put_float(struct alder_cbor_writer *w, double f);

/* Appends a record's typed value as application/cbor has it (TIME as tag 1, OBJLNK as "O:I" text). */
int lwm2m_cbor_put_value(struct alder_cbor_writer *w, const char *what, const struct alder_lwm2m_record *rec,
                         alder_error **err) ALDER_WUR;
