/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LwM2M 1.1 data model shared by the device client (alder-dmc), the service
 * (alder-dm) and the CLI: paths, typed values, the content formats that carry
 * them (OMA-TS-LightweightM2M_Core-V1_1_1 §7.4), and the definitions of the
 * objects Alder implements or knows how to show.
 *
 * A payload decodes to a flat list of records (path + value), whatever its
 * format: TLV nesting, SenML base names and plain text all come out the same,
 * so object code never sees the wire encoding. Decoders take untrusted input:
 * they check every length against the buffer, bound the number of records and
 * the nesting, and report the offending byte offset / record in the error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* CoAP Content-Format numbers (IANA registry) of the formats LwM2M uses. */
enum alder_lwm2m_format {
        ALDER_LWM2M_FMT_TEXT = 0,           /* text/plain: one resource (instance) */
        ALDER_LWM2M_FMT_LINK = 40,          /* application/link-format (Discover, Register) */
        ALDER_LWM2M_FMT_OPAQUE = 42,        /* application/octet-stream: one opaque resource */
        ALDER_LWM2M_FMT_CBOR = 60,          /* application/cbor: one resource (instance) */
        ALDER_LWM2M_FMT_SENML_JSON = 110,   /* application/senml+json */
        ALDER_LWM2M_FMT_SENML_CBOR = 112,   /* application/senml+cbor */
        ALDER_LWM2M_FMT_TLV = 11542,        /* application/vnd.oma.lwm2m+tlv */
        ALDER_LWM2M_FMT_LWM2M_JSON = 11543, /* 1.0 JSON: recognised, refused (superseded by SenML) */
};

/* "text/plain", "application/vnd.oma.lwm2m+tlv", …; NULL for an unknown number. */
const char *alder_lwm2m_format_name(unsigned format);

/*
 * The format number of a MIME type as HTTP carries it (parameters such as
 * "; charset=utf-8" and case are ignored); a decimal number is taken as the
 * format itself ("11542"). -1 when unknown.
 */
int alder_lwm2m_format_from_name(const char *mime);

/* ---- paths ------------------------------------------------------------- */

/* Path levels: /Object/Instance/Resource/ResourceInstance. */
#define ALDER_LWM2M_PATH_MAX_LEN 4
/* Ids are 0..65534; 65535 is reserved (MAX_ID in the spec). */
#define ALDER_LWM2M_ID_MAX 65534
/*
 * The reserved id as an instance level means "no instance id given": a TLV
 * Create on /O whose resources are not wrapped in an Object Instance TLV
 * (the client picks the id) decodes to /O/65535/R records, and records with
 * that instance encode back to bare resources under base /O.
 */
#define ALDER_LWM2M_ID_NONE 65535

struct alder_lwm2m_path {
        uint16_t id[ALDER_LWM2M_PATH_MAX_LEN];
        uint8_t len; /* 0 = root "/", 1 = /O, 2 = /O/I, 3 = /O/I/R, 4 = /O/I/R/RI */
};

/*
 * Parses "/3/0/1", "3/0/1", "/3/0/", "/" (root). Refuses empty levels, ids
 * over ALDER_LWM2M_ID_MAX, leading '+'/'-', more than four levels; the error
 * names the input and the level at fault.
 */
int alder_lwm2m_path_parse(const char *s, struct alder_lwm2m_path *ret, alder_error **err) ALDER_WUR;

/* Same on a buffer that need not be NUL-terminated (URI-Path options, SenML names). */
int alder_lwm2m_path_parse_n(const char *s, size_t len, struct alder_lwm2m_path *ret, alder_error **err) ALDER_WUR;

/* Longest rendering: "/65534/65534/65534/65534" + NUL. */
#define ALDER_LWM2M_PATH_STRLEN 25

/* Renders as "/3/0/1" ("/" for the root) into buf (at least ALDER_LWM2M_PATH_STRLEN bytes); returns buf. */
char *alder_lwm2m_path_format(const struct alder_lwm2m_path *p, char buf[static ALDER_LWM2M_PATH_STRLEN]);

/* Builds a path from its levels (unsigned arguments; len above 4 counts as 4): alder_lwm2m_path_make(3, 3, 0, 1) is
 * /3/0/1. */
struct alder_lwm2m_path alder_lwm2m_path_make(unsigned len, ...);

/* Lexicographic order by levels, shorter first on a common prefix: sorts records as TLV/SenML want them. */
int alder_lwm2m_path_compare(const struct alder_lwm2m_path *a, const struct alder_lwm2m_path *b);

/* True when `prefix` is `p` or one of its ancestors (the root is everyone's ancestor). */
bool alder_lwm2m_path_has_prefix(const struct alder_lwm2m_path *p, const struct alder_lwm2m_path *prefix);

/* ---- values ------------------------------------------------------------ */

/* Data types of LwM2M 1.1 (Core Appendix C). */
enum alder_lwm2m_type {
        ALDER_LWM2M_TYPE_NONE = 0, /* a decoder could not tell (TLV, text): see alder_lwm2m_value_convert() */
        ALDER_LWM2M_TYPE_STRING,
        ALDER_LWM2M_TYPE_INTEGER,
        ALDER_LWM2M_TYPE_UNSIGNED,
        ALDER_LWM2M_TYPE_FLOAT,
        ALDER_LWM2M_TYPE_BOOLEAN,
        ALDER_LWM2M_TYPE_OPAQUE,
        ALDER_LWM2M_TYPE_TIME,    /* seconds since the epoch, signed */
        ALDER_LWM2M_TYPE_OBJLNK,  /* "object:instance" */
        ALDER_LWM2M_TYPE_CORELNK, /* a link-format string */
};

/* "String", "Integer", "Unsigned Integer", "Float", "Boolean", "Opaque", "Time", "Objlnk", "Corelnk", "none". */
const char *alder_lwm2m_type_name(enum alder_lwm2m_type t);

struct alder_lwm2m_value {
        enum alder_lwm2m_type type;
        union {
                int64_t i;  /* INTEGER, TIME */
                uint64_t u; /* UNSIGNED */
                double f;   /* FLOAT */
                bool b;     /* BOOLEAN */
                struct {
                        uint16_t object, instance;
                } objlnk; /* OBJLNK */
        };
        /*
         * STRING, CORELNK, OPAQUE and NONE (the undecoded bytes of a TLV value
         * or a text payload) own a malloc'd buffer, always followed by a NUL
         * (len excludes it); strings are valid UTF-8 without NUL bytes
         * (decoders check). NONE with data == NULL is a record without a
         * value: a SenML name alone, as Read-Composite and Observe-Composite
         * requests carry them (such a record's path may have any length).
         */
        uint8_t *data;
        size_t len;
};

/*
 * Gives a NONE value (raw bytes from TLV or text) the type the object
 * definition says it has, in place: TLV integers of 1/2/4/8 bytes big-endian,
 * floats of 4/8 bytes, booleans of one byte 0/1, objlnk of 4 bytes; text as
 * decimal, "0"/"1", "O:I", opaque as base64 (RFC 4648 §4); strings must be
 * UTF-8 without NUL. A value that already has a type is converted where that
 * is lossless (INTEGER/TIME ↔ UNSIGNED in range, INTEGER ↔ TIME, integral
 * FLOAT → INTEGER/UNSIGNED/TIME, integers up to 2^53 → FLOAT, as SenML carries
 * every number as "v"; STRING ↔ CORELNK, STRING "O:I" → OBJLNK, as CBOR
 * carries those as text); anything else is -EBADMSG naming both types.
 * `format` says how NONE bytes are encoded (TLV or TEXT; -EINVAL otherwise).
 * On failure v is unchanged. Converting to NONE, or to the type v has, does
 * nothing; a value-less record cannot be converted.
 */
int alder_lwm2m_value_convert(struct alder_lwm2m_value *v, enum alder_lwm2m_type to, unsigned format,
                              alder_error **err) ALDER_WUR;

/*
 * Setters: free what v held, then store the new value. String/bytes setters
 * copy (on failure v is left unchanged) and return 0, -ENOMEM, or -EINVAL for
 * a type that holds no bytes.
 */
void alder_lwm2m_value_set_int(struct alder_lwm2m_value *v, enum alder_lwm2m_type type, int64_t i); /* INTEGER/TIME */
void alder_lwm2m_value_set_uint(struct alder_lwm2m_value *v, uint64_t u);
void alder_lwm2m_value_set_float(struct alder_lwm2m_value *v, double f);
void alder_lwm2m_value_set_bool(struct alder_lwm2m_value *v, bool b);
void alder_lwm2m_value_set_objlnk(struct alder_lwm2m_value *v, uint16_t object, uint16_t instance);
int alder_lwm2m_value_set_string(struct alder_lwm2m_value *v, const char *s) ALDER_WUR; /* STRING */
int alder_lwm2m_value_set_bytes(struct alder_lwm2m_value *v, enum alder_lwm2m_type type, const void *data,
                                size_t len) ALDER_WUR; /* OPAQUE, STRING, CORELNK, NONE */
void alder_lwm2m_value_clear(struct alder_lwm2m_value *v);

/*
 * Human-readable rendering for the CLI/logs ("42", "true", "3:0", opaque and
 * NONE as hex up to max bytes, then "... (N bytes)"; "(no value)"). Caller
 * frees; NULL on ENOMEM.
 */
char *alder_lwm2m_value_to_text(const struct alder_lwm2m_value *v, size_t max_opaque);

/* Same type and same value (floats by value, NaN equal to NaN; bytes compared). */
bool alder_lwm2m_value_equal(const struct alder_lwm2m_value *a, const struct alder_lwm2m_value *b);

/* ---- records ----------------------------------------------------------- */

struct alder_lwm2m_record {
        struct alder_lwm2m_path path; /* a resource (len 3) or resource instance (len 4) */
        struct alder_lwm2m_value value;
};

/* Decoders never produce more records than this (a payload that would is refused). */
#define ALDER_LWM2M_RECORDS_MAX 4096

struct alder_lwm2m_records {
        struct alder_lwm2m_record *v;
        size_t n, cap;
};

/*
 * Appends a record with a NONE value (no data) and returns it for the caller
 * to fill; NULL with errno ENOMEM, or E2BIG past ALDER_LWM2M_RECORDS_MAX.
 * The pointer is valid until the next add.
 */
struct alder_lwm2m_record *alder_lwm2m_records_add(struct alder_lwm2m_records *r, const struct alder_lwm2m_path *path);
void alder_lwm2m_records_sort(struct alder_lwm2m_records *r);
void alder_lwm2m_records_clear(struct alder_lwm2m_records *r); /* frees values and the array, keeps r usable */

static inline void alder_lwm2m_records_clearp(struct alder_lwm2m_records *r)
{
        alder_lwm2m_records_clear(r);
}
#define _cleanup_lwm2m_records_ _cleanup_(alder_lwm2m_records_clearp)

/* ---- content formats ---------------------------------------------------- */

/*
 * Encodes records (all under `base`, the path the request targeted) in
 * `format`: TLV (Object Instance / Resource / Multiple Resource nesting derived
 * from the paths; with base = /O the instances are wrapped in Object Instance
 * TLVs; base = / is refused, TLV has no object level), SenML-JSON and
 * SenML-CBOR (bn = base path, with a trailing '/' unless a record sits at the
 * base path itself, n relative and left out when empty; v/vs/vb/vd/vlo by
 * type, TIME as v, CORELNK as vs; value-less records as a name alone), TEXT,
 * OPAQUE and CBOR (exactly one record, at base, else an error). NONE values
 * are written as their raw bytes in TLV, TEXT and OPAQUE (right only in the
 * format they were decoded from) and refused elsewhere. Records are encoded
 * in path order; duplicates are refused (-EINVAL). *ret is malloc'd.
 */
int alder_lwm2m_encode(unsigned format, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                       uint8_t **ret, size_t *ret_len, alder_error **err) ALDER_WUR;

/*
 * Decodes a payload that targets `base` into records (appended to *out, in
 * path order; on failure *out is unchanged). TLV and TEXT values come out as
 * NONE (their type is not on the wire; call alder_lwm2m_value_convert() with
 * the object definition); OPAQUE as OPAQUE; SenML and CBOR values come out
 * typed (numbers as INTEGER, UNSIGNED above INT64_MAX, or FLOAT; CBOR text as
 * STRING, tag 1 as TIME). Every record must lie under `base` (a SenML name
 * elsewhere is refused); a path may appear only once. SenML bt/t are ignored;
 * SenML-JSON integers above INT64_MAX are refused (jansson reads none; an
 * UNSIGNED that large is still encoded exactly, and SenML-CBOR reads it).
 * Errors: -EBADMSG malformed (message says where), -EPROTONOSUPPORT
 * unknown/unsupported format, -E2BIG past the record or size bounds.
 */
int alder_lwm2m_decode(unsigned format, const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                       struct alder_lwm2m_records *out, alder_error **err) ALDER_WUR;

/* ---- link format (RFC 6690) as LwM2M uses it -------------------------- */

/*
 * One entry of a registration payload or a Discover answer:
 * </3/0>;ver=1.1 , </1/0/1>;pmin=10;pmax=60 , </>;rt="oma.lwm2m";ct=110.
 * Attribute values are kept as the strings they were (quotes removed).
 */
struct alder_lwm2m_link_attr {
        char *name;
        char *value; /* NULL for a valueless attribute */
};

struct alder_lwm2m_link {
        char *uri;    /* as written between < and > */
        bool is_path; /* uri parsed as an LwM2M path (below) */
        struct alder_lwm2m_path path;
        struct alder_lwm2m_link_attr *attrs;
        size_t n_attrs;
};

struct alder_lwm2m_links {
        struct alder_lwm2m_link *v;
        size_t n;
};

/* Parses a link-format payload (bounded: at most ALDER_LWM2M_RECORDS_MAX links). Errors name the byte offset. */
int alder_lwm2m_links_parse(const char *buf, size_t len, struct alder_lwm2m_links *ret, alder_error **err) ALDER_WUR;
/* Value of attribute `name` of a link, NULL when absent (or valueless). */
const char *alder_lwm2m_link_attr(const struct alder_lwm2m_link *l, const char *name);
void alder_lwm2m_links_clear(struct alder_lwm2m_links *l);

/* ---- object definitions ------------------------------------------------ */

enum {
        ALDER_LWM2M_OP_R = 1 << 0,
        ALDER_LWM2M_OP_W = 1 << 1,
        ALDER_LWM2M_OP_E = 1 << 2,
};

struct alder_lwm2m_resource_def {
        uint16_t id;
        const char *name;
        enum alder_lwm2m_type type; /* NONE for executable resources */
        unsigned ops;               /* ALDER_LWM2M_OP_* */
        bool multiple;
        bool mandatory;
};

struct alder_lwm2m_object_def {
        uint16_t id;
        const char *name;
        const char *urn;     /* "urn:oma:lwm2m:oma:3:1.1" */
        const char *version; /* object version as sent in registration ("1.1"), NULL = 1.0 */
        bool multiple;
        const struct alder_lwm2m_resource_def *resources;
        size_t n_resources;
};

/* Alder's own object for app status and logs (docs/api/lwm2m-objects.md): id in the private range. */
#define ALDER_LWM2M_OBJECT_APP 33900

/* Definitions of 0 Security, 1 Server, 3 Device, 4 Connectivity Monitoring, 5 Firmware Update, 9 Software Management,
 * and 33900 Alder App; NULL for others. */
const struct alder_lwm2m_object_def *alder_lwm2m_object_find(uint16_t id);
const struct alder_lwm2m_resource_def *alder_lwm2m_resource_find(const struct alder_lwm2m_object_def *o, uint16_t id);

/*
 * Converts every NONE value in records to the type its definition gives
 * (records of unknown objects/resources are left NONE). Errors name the path.
 */
int alder_lwm2m_records_apply_types(struct alder_lwm2m_records *r, unsigned format, alder_error **err) ALDER_WUR;
