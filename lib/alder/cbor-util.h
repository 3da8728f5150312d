/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CBOR helpers over libcbor for the signed formats (SUIT manifests, COSE).
 *
 * Writing: a growable buffer with a sticky error, so an encoder is a straight
 * list of calls checked once at the end. Integers and lengths always take
 * their shortest form and lengths are always definite; callers add map keys in
 * sorted order. Together that is RFC 8949 §4.2 deterministic encoding, which
 * the SUIT draft requires ("canonical CBOR ordering").
 *
 * Reading: alder_cbor_decode() accepts only deterministically encoded,
 * well-formed CBOR and bounds what a hostile document can make us do before
 * libcbor builds a tree from it:
 *
 *   - definite lengths only (no indefinite strings, arrays or maps);
 *   - shortest-form integers, lengths and tags;
 *   - map keys strictly increasing in bytewise order (this also refuses
 *     duplicate keys: two "sequence number" keys could make the signer and the
 *     device disagree);
 *   - no floating-point, undefined or other simple values (none are used);
 *   - nesting depth, item count and declared container sizes bounded;
 *   - exactly one data item: trailing bytes are refused.
 *
 * Errors name the document (`what`) and the byte offset at fault:
 *     "SUIT envelope: CBOR offset 12: indefinite-length array (only definite lengths are allowed)"
 */
#pragma once

#include <cbor.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"

/* Bounds of alder_cbor_decode(): far above what a SUIT manifest or a COSE object needs. */
#define ALDER_CBOR_MAX_DEPTH 16
#define ALDER_CBOR_MAX_ITEMS 4096

static inline void alder_cbor_decrefp(cbor_item_t **item)
{
        if (*item)
                cbor_decref(item);
}
#define _cleanup_cbor_ _cleanup_(alder_cbor_decrefp)

/* Strict decoding (see above) of exactly one item filling buf[0..len). */
int alder_cbor_decode(const char *what, const uint8_t *buf, size_t len, cbor_item_t **ret, alder_error **err) ALDER_WUR;

/*
 * The same for a document that may start with a tag (COSE_Sign1_Tagged,
 * SUIT_Envelope_Tagged): *ret_tag is the tag (ALDER_CBOR_UNTAGGED when there
 * is none) and *ret the item inside it. The outer tag is taken apart here
 * because libcbor 0.8 cannot decode the one-byte tags 6..20 (18 is COSE_Sign1);
 * inside the item those tags are refused.
 */
#define ALDER_CBOR_UNTAGGED UINT64_MAX
int alder_cbor_decode_tagged(const char *what, const uint8_t *buf, size_t len, uint64_t *ret_tag, cbor_item_t **ret,
                             alder_error **err) ALDER_WUR;

/*
 * Checks the tag alder_cbor_decode_tagged() found: "<what>: expected CBOR tag
 * 18 (COSE_Sign1_Tagged), got array" or "<what>: CBOR tag 98 (expected 18,
 * COSE_Sign1_Tagged)" (EBADMSG). `name` is the tagged type's name.
 */
int alder_cbor_check_tag(const char *what, uint64_t tag, uint64_t expected, const char *name, const cbor_item_t *item,
                         alder_error **err) ALDER_WUR;

/* Name of an item's type as users read it: "unsigned integer", "byte string", "map", ... */
const char *alder_cbor_type_name(const cbor_item_t *item);

/* The integer value of an unsigned or negative integer item, when it fits in int64_t. */
bool alder_cbor_get_int64(const cbor_item_t *item, int64_t *ret);

/* The value stored under integer key `key` of a map item, or NULL. */
cbor_item_t *alder_cbor_map_get_int(const cbor_item_t *map, int64_t key);

/*
 * Streaming reader: one item head at a time over libcbor's cbor_stream_decode(),
 * nothing allocated. It takes any well-formed CBOR (floats, indefinite lengths,
 * simple values); callers decide what they accept. alder_cbor_decode() checks
 * a document with it before building a tree; LwM2M reads SenML-CBOR and
 * application/cbor with it. Errors name the document and the byte offset:
 *     "SenML-CBOR: CBOR offset 3: truncated item"
 */
enum alder_cbor_kind {
        /* the major types 0..6, in their order (as libcbor's CBOR_TYPE_*) */
        ALDER_CBOR_UINT,
        ALDER_CBOR_NEGINT,
        ALDER_CBOR_BYTES,
        ALDER_CBOR_TEXT,
        ALDER_CBOR_ARRAY,
        ALDER_CBOR_MAP,
        ALDER_CBOR_TAG,
        /* major type 7 */
        ALDER_CBOR_FLOAT, /* half, single or double precision */
        ALDER_CBOR_BOOL,
        ALDER_CBOR_NULL,
        ALDER_CBOR_UNDEFINED,
        ALDER_CBOR_BREAK,
};

struct alder_cbor_head {
        enum alder_cbor_kind kind;
        bool indefinite;     /* BYTES, TEXT, ARRAY, MAP without a length: chunks / items up to a BREAK */
        uint64_t value;      /* UINT, TAG: the value; NEGINT: n of the value -1 - n; BOOL: 0 or 1 */
        uint64_t len;        /* definite BYTES, TEXT: bytes; ARRAY: items; MAP: pairs */
        double f;            /* FLOAT */
        const uint8_t *data; /* definite BYTES, TEXT: the string, inside the reader's buffer */
        size_t off;          /* offset of the head in the reader's buffer */
        size_t size;         /* bytes read: the head and a definite string's bytes */
};

struct alder_cbor_reader {
        const char *what; /* the document, for messages */
        const uint8_t *buf;
        size_t len;
        size_t off;  /* where the next head starts */
        size_t base; /* offset of buf in the document, for messages */
};

/* "<what>: CBOR offset <base + at>: <message>" with errnum; returns -errnum. */
#define ALDER_CBOR_FAIL(r, err, at, errnum, fmt, ...)                                                       \
        alder_error_set((err), (errnum), "%s: CBOR offset %zu: " fmt, (r)->what, (r)->base + (size_t) (at), \
                        ##__VA_ARGS__)

/*
 * Reads the item head at r->off (with a definite string's bytes) and moves past
 * it. Fails (EBADMSG) at the end of the buffer ("truncated (an item is
 * missing)"), on a head or string cut short ("truncated item"), on malformed
 * bytes, and on the one-byte tags 6..20, which libcbor 0.8 cannot decode.
 */
int alder_cbor_read_head(struct alder_cbor_reader *r, struct alder_cbor_head *ret, alder_error **err) ALDER_WUR;

/*
 * A container of n items (for a map: n pairs) whose head ended at r->off must
 * fit in the bytes left, each item taking at least one: "<kind> of <n> items
 * exceeds the remaining <left> bytes" at offset `at` (EBADMSG).
 */
int alder_cbor_check_count(const struct alder_cbor_reader *r, size_t at, enum alder_cbor_kind kind, uint64_t n,
                           alder_error **err) ALDER_WUR;

/* Name of a kind as users read it: "unsigned integer", "text string", "floating-point number", ... */
const char *alder_cbor_kind_name(enum alder_cbor_kind k);

/* The integer value of a UINT or NEGINT head, when it fits in int64_t. */
bool alder_cbor_head_int64(const struct alder_cbor_head *h, int64_t *ret);

/* A growable output buffer. After the first failure every call is a no-op and `error` keeps its errno. */
struct alder_cbor_writer {
        uint8_t *buf;
        size_t len;
        size_t cap;
        size_t max; /* refuse to grow beyond this (0: 1 MiB) */
        int error;  /* ENOMEM, or E2BIG past max */
};

void alder_cbor_writer_done(struct alder_cbor_writer *w);
#define _cleanup_cbor_writer_ _cleanup_(alder_cbor_writer_done)

void alder_cbor_put_uint(struct alder_cbor_writer *w, uint64_t v);
void alder_cbor_put_int(struct alder_cbor_writer *w, int64_t v);
void alder_cbor_put_bytes(struct alder_cbor_writer *w, const void *data, size_t len);
void alder_cbor_put_text(struct alder_cbor_writer *w, const char *s, size_t len);
void alder_cbor_put_array(struct alder_cbor_writer *w, size_t n);
void alder_cbor_put_map(struct alder_cbor_writer *w, size_t n);
void alder_cbor_put_tag(struct alder_cbor_writer *w, uint64_t tag);
void alder_cbor_put_bool(struct alder_cbor_writer *w, bool v);
void alder_cbor_put_null(struct alder_cbor_writer *w);
/* Appends already encoded CBOR (a nested item built with another writer). */
void alder_cbor_put_raw(struct alder_cbor_writer *w, const void *data, size_t len);

/*
 * Hands out the encoded bytes (malloc'ed, owned by the caller) and resets the
 * writer; fails with ENOMEM (or E2BIG past `max`) naming `what` when any put failed.
 */
int alder_cbor_writer_finish(struct alder_cbor_writer *w, const char *what, uint8_t **ret, size_t *ret_len,
                             alder_error **err) ALDER_WUR;
