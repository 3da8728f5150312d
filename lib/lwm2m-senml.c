/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML-JSON (110) and SenML-CBOR (112): RFC 8428 as
 * OMA-TS-LightweightM2M_Core-V1_1_1 §7.4.4/§7.4.5 use it.
 *
 * A payload is an array of records. A record's name is the base name (bn,
 * which stays in force until the next bn) followed by its own name (n); both
 * together form an LwM2M path. Values: v (number), vs (string), vb (boolean),
 * vd (opaque: base64url without padding in JSON, a byte string in CBOR) and
 * vlo ("O:I" object link, an LwM2M extension; the text label "vlo" in CBOR).
 * A record without a value names a path (Read-Composite, Observe-Composite).
 * Times (bt, t) may appear and are ignored; base value/sum (bv, bs, s) and
 * must-understand fields (names ending in '_') are refused.
 *
 * CBOR labels (RFC 8428 §6): bver -1, bn -2, bt -3, bu -4, bv -5, bs -6,
 * n 0, u 1, v 2, vs 3, vb 4, s 5, t 6, ut 7, vd 8.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alder/cleanup.h"
#include "alder/json.h"
#include "lwm2m-internal.h"

#define SENML_JSON "SenML-JSON"
#define SENML_CBOR "SenML-CBOR"

/* Longest bn and n taken (a path needs at most 24 bytes; leading zeros are allowed, so some room). */
#define SENML_NAME_MAX 64

/* ---- decoding, common to both encodings ------------------------------------------------------ */

struct senml_decoder {
        struct lwm2m_sink sink;
        char bn[SENML_NAME_MAX + 1]; /* the base name in force */
        size_t bn_len;
};

static void senml_decoder_done(struct senml_decoder *d)
{
        lwm2m_sink_done(&d->sink);
}

/* What one record holds; the strings point into the payload (or a buffer the caller owns). */
struct senml_fields {
        const char *bn, *n;
        size_t bn_len, n_len;
        const char *value_field; /* "v", "vs", ... or NULL */
        struct alder_lwm2m_value value;
};

static void senml_fields_done(struct senml_fields *f)
{
        alder_lwm2m_value_clear(&f->value);
}

#define SENML_FAIL(d, index, errnum, fmt, ...) \
        alder_error_set(err, (errnum), "%s record %zu: " fmt, (d)->sink.what, (size_t) (index), ##__VA_ARGS__)

/* Records that a value field was seen: only one per record. */
static int senml_value_field(struct senml_decoder *d, size_t index, struct senml_fields *f, const char *field,
                             alder_error **err)
{
        if (f->value_field)
                return SENML_FAIL(d, index, EBADMSG, "more than one value field ('%s' and '%s')", f->value_field,
                                  field);
        f->value_field = field;
        return 0;
}

/* Fields LwM2M has no use for: refused when they would change a value, ignored otherwise. */
static int senml_unsupported(struct senml_decoder *d, size_t index, const char *field, alder_error **err)
{
        return SENML_FAIL(d, index, EBADMSG, "field '%s' (base value, sum) is not supported by LwM2M", field);
}

static int senml_must_understand(struct senml_decoder *d, size_t index, const char *field, size_t len,
                                 alder_error **err)
{
        char q[LWM2M_QUOTE_SIZE];
        if (len > 0 && field[len - 1] == '_')
                return SENML_FAIL(d, index, EBADMSG, "field '%s' must be understood (RFC 8428 §4.4) and is not",
                                  lwm2m_quote(field, len, q));
        return 0;
}

/* Decodes a vd (base64url) or vlo ("O:I") string into the record's value. */
static int senml_string_value(struct senml_decoder *d, size_t index, struct senml_fields *f, const char *field,
                              const char *s, size_t len, alder_error **err)
{
        char q[LWM2M_QUOTE_SIZE];
        size_t bad = 0;
        if (strcmp(field, "vlo") == 0) {
                uint16_t o, i;
                if (!lwm2m_objlnk_parse(s, len, &o, &i))
                        return SENML_FAIL(d, index, EBADMSG, "field 'vlo' ('%s') is not an object link 'O:I'",
                                          lwm2m_quote(s, len, q));
                alder_lwm2m_value_set_objlnk(&f->value, o, i);
                return 0;
        }
        if (strcmp(field, "vd") == 0) {
                uint8_t *data;
                size_t n;
                int r = alder_base64_decode(s, len, true, &data, &n, &bad);
                if (r == -ENOMEM)
                        return alder_error_set(err, ENOMEM, "%s: out of memory for a value", d->sink.what);
                if (r < 0)
                        return SENML_FAIL(d, index, EBADMSG, "field 'vd' is not base64url (offset %zu)", bad);
                alder_lwm2m_value_clear(&f->value);
                f->value = (struct alder_lwm2m_value){.type = ALDER_LWM2M_TYPE_OPAQUE, .data = data, .len = n};
                return 0;
        }
        /* vs */
        if (!lwm2m_utf8_valid((const uint8_t *) s, len, &bad))
                return SENML_FAIL(d, index, EBADMSG, "field 'vs' is not UTF-8 without NUL (offset %zu)", bad);
        if (alder_lwm2m_value_set_bytes(&f->value, ALDER_LWM2M_TYPE_STRING, s, len) < 0)
                return alder_error_set(err, ENOMEM, "%s: out of memory for a value", d->sink.what);
        return 0;
}

/* Resolves the record's name against the base name and appends it. */
static int senml_add(struct senml_decoder *d, size_t index, struct senml_fields *f, alder_error **err)
{
        char q[LWM2M_QUOTE_SIZE], name[2 * SENML_NAME_MAX + 1];
        if (f->bn) {
                if (f->bn_len > SENML_NAME_MAX)
                        return SENML_FAIL(d, index, EBADMSG, "base name '%s' is longer than %d bytes",
                                          lwm2m_quote(f->bn, f->bn_len, q), SENML_NAME_MAX);
                memcpy(d->bn, f->bn, f->bn_len);
                d->bn[f->bn_len] = '\0';
                d->bn_len = f->bn_len;
        }
        if (f->n && f->n_len > SENML_NAME_MAX)
                return SENML_FAIL(d, index, EBADMSG, "name '%s' is longer than %d bytes",
                                  lwm2m_quote(f->n, f->n_len, q), SENML_NAME_MAX);
        memcpy(name, d->bn, d->bn_len);
        if (f->n && f->n_len > 0)
                memcpy(name + d->bn_len, f->n, f->n_len);
        size_t len = d->bn_len + (f->n ? f->n_len : 0);
        if (memchr(name, '\0', len))
                return SENML_FAIL(d, index, EBADMSG, "name '%s' holds a NUL byte", lwm2m_quote(name, len, q));

        _cleanup_error_ alder_error *perr = NULL;
        struct alder_lwm2m_path path;
        if (alder_lwm2m_path_parse_n(name, len, &path, &perr) < 0)
                return SENML_FAIL(d, index, EBADMSG, "%s", alder_error_message(perr));
        struct alder_lwm2m_record *rec;
        bool has_value = f->value_field != NULL;
        int r = lwm2m_sink_add(&d->sink, &path, index, has_value, &rec, err);
        if (r < 0)
                return r;
        rec->value = f->value; /* the value moves */
        f->value = (struct alder_lwm2m_value){.type = ALDER_LWM2M_TYPE_NONE};
        return 0;
}

/* ---- SenML-JSON decoding (jansson) ----------------------------------------------------------- */

static int json_field_type(struct senml_decoder *d, size_t index, const char *key, const json_t *v, json_type want,
                           const char *want_name, alder_error **err)
{
        bool ok = want == JSON_REAL   ? json_is_number(v)
                  : want == JSON_TRUE ? json_is_boolean(v)
                                      : json_typeof(v) == want;
        if (!ok)
                return SENML_FAIL(d, index, EBADMSG, "field '%s' must be %s, got %s", key, want_name,
                                  alder_json_type_name(v));
        return 0;
}

static int json_record(struct senml_decoder *d, size_t index, json_t *obj, alder_error **err)
{
        _cleanup_(senml_fields_done) struct senml_fields f = {.value = {.type = ALDER_LWM2M_TYPE_NONE}};
        const char *key;
        json_t *v;
        int r;
        if (!json_is_object(obj))
                return SENML_FAIL(d, index, EBADMSG, "expected an object, got %s", alder_json_type_name(obj));
        json_object_foreach(obj, key, v)
        {
                size_t key_len = strlen(key);
                if (strcmp(key, "bn") == 0 || strcmp(key, "n") == 0) {
                        r = json_field_type(d, index, key, v, JSON_STRING, "a string", err);
                        if (r < 0)
                                return r;
                        if (key[0] == 'b') {
                                f.bn = json_string_value(v);
                                f.bn_len = json_string_length(v);
                        } else {
                                f.n = json_string_value(v);
                                f.n_len = json_string_length(v);
                        }
                } else if (strcmp(key, "bt") == 0 || strcmp(key, "t") == 0 || strcmp(key, "ut") == 0 ||
                           strcmp(key, "bver") == 0) {
                        r = json_field_type(d, index, key, v, JSON_REAL, "a number", err);
                        if (r < 0)
                                return r;
                } else if (strcmp(key, "u") == 0 || strcmp(key, "bu") == 0) {
                        r = json_field_type(d, index, key, v, JSON_STRING, "a string", err);
                        if (r < 0)
                                return r;
                } else if (strcmp(key, "bv") == 0 || strcmp(key, "bs") == 0 || strcmp(key, "s") == 0) {
                        return senml_unsupported(d, index, key, err);
                } else if (strcmp(key, "v") == 0) {
                        r = json_field_type(d, index, key, v, JSON_REAL, "a number", err);
                        if (r < 0 || (r = senml_value_field(d, index, &f, "v", err)) < 0)
                                return r;
                        if (json_is_integer(v))
                                alder_lwm2m_value_set_int(&f.value, ALDER_LWM2M_TYPE_INTEGER, json_integer_value(v));
                        else
                                alder_lwm2m_value_set_float(&f.value, json_real_value(v));
                } else if (strcmp(key, "vb") == 0) {
                        r = json_field_type(d, index, key, v, JSON_TRUE, "a boolean", err);
                        if (r < 0 || (r = senml_value_field(d, index, &f, "vb", err)) < 0)
                                return r;
                        alder_lwm2m_value_set_bool(&f.value, json_is_true(v));
                } else if (strcmp(key, "vs") == 0 || strcmp(key, "vd") == 0 || strcmp(key, "vlo") == 0) {
                        const char *field = key[1] == 's' ? "vs" : key[1] == 'd' ? "vd" : "vlo";
                        r = json_field_type(d, index, key, v, JSON_STRING, "a string", err);
                        if (r < 0 || (r = senml_value_field(d, index, &f, field, err)) < 0)
                                return r;
                        r = senml_string_value(d, index, &f, field, json_string_value(v), json_string_length(v), err);
                        if (r < 0)
                                return r;
                } else {
                        r = senml_must_understand(d, index, key, key_len, err);
                        if (r < 0)
                                return r;
                }
        }
        return senml_add(d, index, &f, err);
}

int lwm2m_senml_json_decode(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                            struct alder_lwm2m_records *out, alder_error **err)
{
        _cleanup_(senml_decoder_done) struct senml_decoder d = {
                .sink = {.what = SENML_JSON, .unit = "record", .base = *base}};
        json_error_t jerr;
        /* duplicate keys would make two readers see two different records */
        _cleanup_json_ json_t *root = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return alder_error_set(err, EBADMSG, SENML_JSON " offset %d: %s", jerr.position, jerr.text);
        if (!json_is_array(root))
                return alder_error_set(err, EBADMSG, SENML_JSON ": expected an array of records, got %s",
                                       alder_json_type_name(root));
        if (json_array_size(root) > ALDER_LWM2M_RECORDS_MAX)
                return alder_error_set(err, E2BIG, SENML_JSON ": %zu records (at most %d)", json_array_size(root),
                                       ALDER_LWM2M_RECORDS_MAX);
        for (size_t i = 0; i < json_array_size(root); i++) {
                int r = json_record(&d, i, json_array_get(root, i), err);
                if (r < 0)
                        return r;
        }
        return lwm2m_sink_finish(&d.sink, out, err);
}

/* ---- SenML-CBOR decoding ---------------------------------------------------------------------- */

enum {
        LABEL_BVER = -1,
        LABEL_BN = -2,
        LABEL_BT = -3,
        LABEL_BU = -4,
        LABEL_BV = -5,
        LABEL_BS = -6,
        LABEL_N = 0,
        LABEL_U = 1,
        LABEL_V = 2,
        LABEL_VS = 3,
        LABEL_VB = 4,
        LABEL_S = 5,
        LABEL_T = 6,
        LABEL_UT = 7,
        LABEL_VD = 8,
        LABEL_VLO = 100, /* the text label "vlo", numbered here only to track duplicates */
};

static const char *label_name(int64_t label)
{
        static const char *const names[] = {"bs", "bv", "bu", "bt", "bn", "bver", "n", "u",
                                            "v",  "vs", "vb", "s",  "t",  "ut",   "vd"};
        if (label == LABEL_VLO)
                return "vlo";
        return label >= -6 && label <= 8 ? names[label + 6] : "?";
}

/* Strings of the current record that may have been joined from chunks. */
struct cbor_strings {
        uint8_t *bn, *n;
};

static void cbor_strings_done(struct cbor_strings *s)
{
        free(s->bn);
        free(s->n);
}

static int cbor_text_field(struct senml_decoder *d, struct alder_cbor_reader *rd, size_t index,
                           const struct alder_cbor_head *it, const char *field, uint8_t **owned, const char **ret,
                           size_t *ret_len, alder_error **err)
{
        const uint8_t *data;
        if (it->kind != ALDER_CBOR_TEXT)
                return SENML_FAIL(d, index, EBADMSG, "field '%s' must be a text string, got %s", field,
                                  alder_cbor_kind_name(it->kind));
        free(*owned);
        *owned = NULL;
        int r = lwm2m_cbor_string(rd, it, owned, &data, ret_len, err);
        if (r < 0)
                return r;
        *ret = (const char *) data;
        return 0;
}

static int cbor_pair(struct senml_decoder *d, struct alder_cbor_reader *rd, size_t index, int64_t label,
                     struct senml_fields *f, struct cbor_strings *strs, alder_error **err)
{
        struct alder_cbor_head it;
        int r = alder_cbor_read_head(rd, &it, err);
        if (r < 0)
                return r;
        const char *name = label_name(label);
        switch (label) {
        case LABEL_BN:
                return cbor_text_field(d, rd, index, &it, name, &strs->bn, &f->bn, &f->bn_len, err);
        case LABEL_N:
                return cbor_text_field(d, rd, index, &it, name, &strs->n, &f->n, &f->n_len, err);
        case LABEL_BVER:
        case LABEL_BT:
        case LABEL_T:
        case LABEL_UT:
                if (it.kind != ALDER_CBOR_UINT && it.kind != ALDER_CBOR_NEGINT && it.kind != ALDER_CBOR_FLOAT)
                        return SENML_FAIL(d, index, EBADMSG, "field '%s' must be a number, got %s", name,
                                          alder_cbor_kind_name(it.kind));
                return 0;
        case LABEL_BV:
        case LABEL_BS:
        case LABEL_S:
                return senml_unsupported(d, index, name, err);
        case LABEL_V:
        case LABEL_VB:
        case LABEL_VD: {
                static const char *const expected[] = {
                        [LABEL_V] = "a number", [LABEL_VB] = "a boolean", [LABEL_VD] = "a byte string"};
                unsigned accept = label == LABEL_V    ? LWM2M_CBOR_ACCEPT_NUMBER
                                  : label == LABEL_VB ? LWM2M_CBOR_ACCEPT_BOOL
                                                      : LWM2M_CBOR_ACCEPT_BYTES;
                r = senml_value_field(d, index, f, name, err);
                if (r < 0)
                        return r;
                return lwm2m_cbor_value(rd, &it, accept, expected[label], &f->value, err);
        }
        case LABEL_VS:
        case LABEL_VLO: {
                _cleanup_free_ uint8_t *owned = NULL;
                const char *s;
                size_t len;
                r = senml_value_field(d, index, f, name, err);
                if (r < 0)
                        return r;
                r = cbor_text_field(d, rd, index, &it, name, &owned, &s, &len, err);
                if (r < 0)
                        return r;
                return senml_string_value(d, index, f, name, s, len, err);
        }
        default: /* bu, u and labels of extensions: their value is skipped */
                return lwm2m_cbor_skip(rd, &it, err);
        }
}

static int cbor_record(struct senml_decoder *d, struct alder_cbor_reader *rd, size_t index, alder_error **err)
{
        _cleanup_(senml_fields_done) struct senml_fields f = {.value = {.type = ALDER_LWM2M_TYPE_NONE}};
        _cleanup_(cbor_strings_done) struct cbor_strings strs = {NULL, NULL};
        struct alder_cbor_head map;
        uint32_t seen = 0; /* labels -6..8 at bits 0..14, vlo at bit 15 */
        int r = alder_cbor_read_head(rd, &map, err);
        if (r < 0)
                return r;
        if (map.kind != ALDER_CBOR_MAP)
                return SENML_FAIL(d, index, EBADMSG, "expected a map, got %s", alder_cbor_kind_name(map.kind));
        r = lwm2m_cbor_check_count(rd, &map, err);
        if (r < 0)
                return r;
        for (uint64_t i = 0; map.indefinite || i < map.len; i++) {
                struct alder_cbor_head key;
                int64_t label;
                r = alder_cbor_read_head(rd, &key, err);
                if (r < 0)
                        return r;
                if (key.kind == ALDER_CBOR_BREAK && map.indefinite)
                        break;
                if (key.kind == ALDER_CBOR_TEXT) {
                        _cleanup_free_ uint8_t *owned = NULL;
                        const uint8_t *s;
                        size_t len;
                        r = lwm2m_cbor_string(rd, &key, &owned, &s, &len, err);
                        if (r < 0)
                                return r;
                        if (len == 3 && memcmp(s, "vlo", 3) == 0) {
                                label = LABEL_VLO;
                        } else {
                                struct alder_cbor_head value;
                                r = senml_must_understand(d, index, (const char *) s, len, err);
                                if (r < 0 || (r = alder_cbor_read_head(rd, &value, err)) < 0 ||
                                    (r = lwm2m_cbor_skip(rd, &value, err)) < 0)
                                        return r;
                                continue;
                        }
                } else if (key.kind == ALDER_CBOR_UINT || key.kind == ALDER_CBOR_NEGINT) {
                        if (!alder_cbor_head_int64(&key, &label))
                                return SENML_FAIL(d, index, EBADMSG, "label out of range");
                } else {
                        return SENML_FAIL(d, index, EBADMSG, "a label must be an integer or a text string, got %s",
                                          alder_cbor_kind_name(key.kind));
                }
                if (label >= -6 && label <= 8) {
                        uint32_t bit = 1u << (label + 6);
                        if (seen & bit)
                                return SENML_FAIL(d, index, EBADMSG, "field '%s' appears twice", label_name(label));
                        seen |= bit;
                } else if (label == LABEL_VLO) {
                        if (seen & (1u << 15))
                                return SENML_FAIL(d, index, EBADMSG, "field 'vlo' appears twice");
                        seen |= 1u << 15;
                }
                r = cbor_pair(d, rd, index, label, &f, &strs, err);
                if (r < 0)
                        return r;
        }
        return senml_add(d, index, &f, err);
}

int lwm2m_senml_cbor_decode(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                            struct alder_lwm2m_records *out, alder_error **err)
{
        _cleanup_(senml_decoder_done) struct senml_decoder d = {
                .sink = {.what = SENML_CBOR, .unit = "record", .base = *base}};
        struct alder_cbor_reader rd = {.what = SENML_CBOR, .buf = buf, .len = len};
        struct alder_cbor_head array;
        int r = alder_cbor_read_head(&rd, &array, err);
        if (r < 0)
                return r;
        if (array.kind != ALDER_CBOR_ARRAY)
                return alder_error_set(err, EBADMSG, SENML_CBOR ": expected an array of records, got %s",
                                       alder_cbor_kind_name(array.kind));
        r = lwm2m_cbor_check_count(&rd, &array, err);
        if (r < 0)
                return r;
        if (!array.indefinite && array.len > ALDER_LWM2M_RECORDS_MAX)
                return alder_error_set(err, E2BIG, SENML_CBOR ": %llu records (at most %d)",
                                       (unsigned long long) array.len, ALDER_LWM2M_RECORDS_MAX);
        for (size_t i = 0; array.indefinite || i < array.len; i++) {
                if (array.indefinite) {
                        /* peek for the break that ends the records */
                        if (rd.off < rd.len && rd.buf[rd.off] == 0xff) {
                                rd.off++;
                                break;
                        }
                }
                r = cbor_record(&d, &rd, i, err);
                if (r < 0)
                        return r;
        }
        if (rd.off != len)
                return ALDER_CBOR_FAIL(&rd, err, rd.off, EBADMSG, "%zu trailing bytes after the records", len - rd.off);
        return lwm2m_sink_finish(&d.sink, out, err);
}

/* ---- encoding, common to both encodings ------------------------------------------------------ */

struct senml_names {
        char bn[ALDER_LWM2M_PATH_STRLEN + 1];
        size_t bn_len;
};

/* bn is the request path, with a trailing '/' unless a record sits at the request path itself. */
static void senml_base_name(const struct alder_lwm2m_path *base, const struct alder_lwm2m_record *const *v, size_t n,
                            struct senml_names *names)
{
        alder_lwm2m_path_format(base, names->bn);
        names->bn_len = strlen(names->bn);
        bool at_base = n > 0 && alder_lwm2m_path_compare(&v[0]->path, base) == 0; /* sorted: it comes first */
        if (!at_base && names->bn[names->bn_len - 1] != '/')
                names->bn[names->bn_len++] = '/', names->bn[names->bn_len] = '\0';
}

/* n of a record: its path after the base name ("" at the request path). */
static const char *senml_name(const struct senml_names *names, const struct alder_lwm2m_record *rec,
                              char buf[static ALDER_LWM2M_PATH_STRLEN])
{
        alder_lwm2m_path_format(&rec->path, buf);
        size_t len = strlen(buf);
        return len >= names->bn_len ? buf + names->bn_len : buf + len;
}

/* ---- SenML-JSON encoding ---------------------------------------------------------------------- */

static void put_str(struct alder_cbor_writer *w, const char *s)
{
        alder_cbor_put_raw(w, s, strlen(s));
}

static void put_json_string(struct alder_cbor_writer *w, const uint8_t *s, size_t len)
{
        put_str(w, "\"");
        size_t start = 0;
        for (size_t i = 0; i < len; i++) {
                char esc[8];
                if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
                        continue;
                alder_cbor_put_raw(w, s + start, i - start);
                if (s[i] == '"' || s[i] == '\\')
                        snprintf(esc, sizeof(esc), "\\%c", s[i]);
                else
                        snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
                put_str(w, esc);
                start = i + 1;
        }
        alder_cbor_put_raw(w, s + start, len - start);
        put_str(w, "\"");
}

static int put_json_value(struct alder_cbor_writer *w, const struct alder_lwm2m_record *rec, alder_error **err)
{
        const struct alder_lwm2m_value *v = &rec->value;
        char text[LWM2M_FLOAT_STRLEN], p[ALDER_LWM2M_PATH_STRLEN];
        switch (v->type) {
        case ALDER_LWM2M_TYPE_BOOLEAN:
                put_str(w, v->b ? "\"vb\":true" : "\"vb\":false");
                return 0;
        case ALDER_LWM2M_TYPE_STRING:
        case ALDER_LWM2M_TYPE_CORELNK:
                put_str(w, "\"vs\":");
                put_json_string(w, v->data, v->len);
                return 0;
        case ALDER_LWM2M_TYPE_OPAQUE: {
                size_t n;
                _cleanup_free_ char *b64 = alder_base64_encode(v->data, v->len, true, &n);
                if (!b64)
                        return alder_error_set(err, ENOMEM, "encode " SENML_JSON ": out of memory");
                put_str(w, "\"vd\":");
                put_json_string(w, (const uint8_t *) b64, n);
                return 0;
        }
        case ALDER_LWM2M_TYPE_FLOAT:
                if (!isfinite(v->f))
                        return alder_error_set(err, EINVAL, "encode " SENML_JSON ": record %s: %s has no JSON form",
                                               alder_lwm2m_path_format(&rec->path, p), isnan(v->f) ? "nan" : "inf");
                break;
        default:
                break;
        }
        if (!lwm2m_scalar_text(v, text))
                return alder_error_set(err, EINVAL,
                                       "encode " SENML_JSON ": record %s has an untyped value (convert it first)",
                                       alder_lwm2m_path_format(&rec->path, p));
        if (v->type == ALDER_LWM2M_TYPE_OBJLNK) {
                put_str(w, "\"vlo\":");
                put_json_string(w, (const uint8_t *) text, strlen(text));
                return 0;
        }
        put_str(w, "\"v\":");
        put_str(w, text);
        /* keep a float a float for the reader: 3.0 as "3.0", not "3" */
        if (v->type == ALDER_LWM2M_TYPE_FLOAT && !strpbrk(text, ".e"))
                put_str(w, ".0");
        return 0;
}

int lwm2m_senml_json_encode(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                            struct alder_cbor_writer *w, alder_error **err)
{
        _cleanup_free_ const struct alder_lwm2m_record **v = NULL;
        struct senml_names names;
        int r = lwm2m_encode_prepare("encode " SENML_JSON, base, records, true, &v, err);
        if (r < 0)
                return r;
        senml_base_name(base, v, records->n, &names);
        put_str(w, "[");
        for (size_t i = 0; i < records->n; i++) {
                char buf[ALDER_LWM2M_PATH_STRLEN];
                const char *n = senml_name(&names, v[i], buf);
                bool comma = false;
                put_str(w, i > 0 ? ",{" : "{");
                if (i == 0) {
                        put_str(w, "\"bn\":");
                        put_json_string(w, (const uint8_t *) names.bn, names.bn_len);
                        comma = true;
                }
                if (*n) {
                        put_str(w, comma ? ",\"n\":" : "\"n\":");
                        put_json_string(w, (const uint8_t *) n, strlen(n));
                        comma = true;
                }
                if (lwm2m_value_present(&v[i]->value)) {
                        if (comma)
                                put_str(w, ",");
                        r = put_json_value(w, v[i], err);
                        if (r < 0)
                                return r;
                }
                put_str(w, "}");
        }
        put_str(w, "]");
        return 0;
}

/* ---- SenML-CBOR encoding ---------------------------------------------------------------------- */

static int put_cbor_value(struct alder_cbor_writer *w, const struct alder_lwm2m_record *rec, alder_error **err)
{
        const struct alder_lwm2m_value *v = &rec->value;
        switch (v->type) {
        case ALDER_LWM2M_TYPE_INTEGER:
        case ALDER_LWM2M_TYPE_TIME:
        case ALDER_LWM2M_TYPE_UNSIGNED:
        case ALDER_LWM2M_TYPE_FLOAT:
                alder_cbor_put_int(w, LABEL_V);
                break;
        case ALDER_LWM2M_TYPE_BOOLEAN:
                alder_cbor_put_int(w, LABEL_VB);
                break;
        case ALDER_LWM2M_TYPE_STRING:
        case ALDER_LWM2M_TYPE_CORELNK:
                alder_cbor_put_int(w, LABEL_VS);
                break;
        case ALDER_LWM2M_TYPE_OPAQUE:
                alder_cbor_put_int(w, LABEL_VD);
                break;
        case ALDER_LWM2M_TYPE_OBJLNK:
                alder_cbor_put_text(w, "vlo", 3);
                break;
        default:
                break; /* lwm2m_cbor_put_value() says it is untyped */
        }
        if (v->type == ALDER_LWM2M_TYPE_TIME) {
                alder_cbor_put_int(w, v->i); /* SenML has no time type: a plain number */
                return 0;
        }
        return lwm2m_cbor_put_value(w, "encode " SENML_CBOR, rec, err);
}

int lwm2m_senml_cbor_encode(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                            struct alder_cbor_writer *w, alder_error **err)
{
        _cleanup_free_ const struct alder_lwm2m_record **v = NULL;
        struct senml_names names;
        int r = lwm2m_encode_prepare("encode " SENML_CBOR, base, records, true, &v, err);
        if (r < 0)
                return r;
        senml_base_name(base, v, records->n, &names);
        alder_cbor_put_array(w, records->n);
        for (size_t i = 0; i < records->n; i++) {
                char buf[ALDER_LWM2M_PATH_STRLEN];
                const char *n = senml_name(&names, v[i], buf);
                bool value = lwm2m_value_present(&v[i]->value);
                alder_cbor_put_map(w, (i == 0) + (*n != '\0') + value);
                if (i == 0) {
                        alder_cbor_put_int(w, LABEL_BN);
                        alder_cbor_put_text(w, names.bn, names.bn_len);
                }
                if (*n) {
                        alder_cbor_put_int(w, LABEL_N);
                        alder_cbor_put_text(w, n, strlen(n));
                }
                if (value) {
                        r = put_cbor_value(w, v[i], err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}
