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

/* ---- paths ------------------------------------------------------------- */

/* Path levels: /Object/Instance/Resource/ResourceInstance. */
#define ALDER_LWM2M_PATH_MAX_LEN 4
/* Ids are 0..65534; 65535 is reserved (MAX_ID in the spec). */
#define ALDER_LWM2M_ID_MAX 65534

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

/* Builds a path from its levels: alder_lwm2m_path_make(3, 3, 0, 1) is /3/0/1. */
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
                } objlnk;   /* OBJLNK */
        };
        /*
         * STRING, CORELNK, OPAQUE and NONE (the undecoded bytes of a TLV value
         * or a text payload) own a malloc'd buffer. For STRING/CORELNK it is
         * also NUL-terminated (len excludes the NUL); strings are valid UTF-8
         * without NUL bytes (decoders check).
         */
        uint8_t *data;
        size_t len;
};

/*
 * Gives a NONE value (raw bytes from TLV or text) the type the object
 * definition says it has, in place: TLV integers of 1/2/4/8 bytes big-endian,
 * floats of 4/8 bytes, booleans of one byte 0/1, objlnk of 4 bytes; text as
 * decimal, "0"/"1", "O:I". A value that already has a type is converted where
 * that is lossless (INTEGER ↔ UNSIGNED in range, integral FLOAT → INTEGER,
 * as SenML carries every number as "v"); anything else is an error naming both
 * types. `format` says how NONE bytes are encoded (TLV or TEXT).
 */
int alder_lwm2m_value_convert(struct alder_lwm2m_value *v, enum alder_lwm2m_type to, unsigned format,
                              alder_error **err) ALDER_WUR;

/* Setters: free what v held, then store the new value. String/bytes setters copy and return 0 or -ENOMEM. */
void alder_lwm2m_value_set_int(struct alder_lwm2m_value *v, enum alder_lwm2m_type type, int64_t i); /* INTEGER/TIME */
void alder_lwm2m_value_set_uint(struct alder_lwm2m_value *v, uint64_t u);
void alder_lwm2m_value_set_float(struct alder_lwm2m_value *v, double f);
void alder_lwm2m_value_set_bool(struct alder_lwm2m_value *v, bool b);
void alder_lwm2m_value_set_objlnk(struct alder_lwm2m_value *v, uint16_t object, uint16_t instance);
int alder_lwm2m_value_set_string(struct alder_lwm2m_value *v, const char *s) ALDER_WUR; /* STRING */
int alder_lwm2m_value_set_bytes(struct alder_lwm2m_value *v, enum alder_lwm2m_type type, const void *data,
                                size_t len) ALDER_WUR; /* OPAQUE, STRING, CORELNK, NONE */
void alder_lwm2m_value_clear(struct alder_lwm2m_value *v);

/* Human-readable rendering for the CLI/logs ("42", "true", "3:0", opaque as hex up to max bytes). Caller frees. */
char *alder_lwm2m_value_to_text(const struct alder_lwm2m_value *v, size_t max_opaque);

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

/* Appends a record with a NONE value and returns it for the caller to fill; NULL on ENOMEM or past the maximum. */
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
 * TLVs), SenML-JSON and SenML-CBOR (bn = base path rendered with a trailing
 * '/' when it is not a resource, n relative; v/vs/vb/vd/vlo by type, TIME as
 * v), TEXT, OPAQUE and CBOR (exactly one record, else an error). Records are
 * encoded in path order. *ret is malloc'd.
 */
int alder_lwm2m_encode(unsigned format, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                       uint8_t **ret, size_t *ret_len, alder_error **err) ALDER_WUR;

/*
 * Decodes a payload that targets `base` into records (appended to *out).
 * TLV and TEXT values come out as NONE (their type is not on the wire; call
 * alder_lwm2m_value_convert() with the object definition); SenML and CBOR
 * values come out typed. Every record must lie under `base` (a SenML name
 * elsewhere is refused). Errors: -EBADMSG malformed (message says where),
 * -EPROTONOSUPPORT unknown/unsupported format, -E2BIG past the record or
 * size bounds.
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
        char *uri; /* as written between < and > */
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
        const char *urn; /* "urn:oma:lwm2m:oma:3:1.1" */
        const char *version; /* object version as sent in registration ("1.1"), NULL = 1.0 */
        bool multiple;
        const struct alder_lwm2m_resource_def *resources;
        size_t n_resources;
};

/* Alder's own object for app status and logs (docs/api/lwm2m-objects.md): id in the private range. */
#define ALDER_LWM2M_OBJECT_APP 33900

/* Definitions of 0 Security, 1 Server, 3 Device, 4 Connectivity Monitoring, 5 Firmware Update, 9 Software Management, and 33900 Alder App; NULL for others. */
const struct alder_lwm2m_object_def *alder_lwm2m_object_find(uint16_t id);
const struct alder_lwm2m_resource_def *alder_lwm2m_resource_find(const struct alder_lwm2m_object_def *o, uint16_t id);

/*
 * Converts every NONE value in records to the type its definition gives
 * (records of unknown objects/resources are left NONE). Errors name the path.
 */
int alder_lwm2m_records_apply_types(struct alder_lwm2m_records *r, unsigned format, alder_error **err) ALDER_WUR;
