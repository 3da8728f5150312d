/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CBOR for LwM2M: a pull reader over libcbor's streaming decoder, shared with
 * SenML-CBOR (lib/lwm2m-senml.c), and the single-value format application/cbor
 * (60, OMA-TS-LightweightM2M_Core-V1_1_1 §7.4.6).
 *
 * lib/cbor-util.c's strict decoder is for documents we sign; LwM2M peers send
 * floats, indefinite lengths and maps in any key order, so this reader takes
 * all of well-formed CBOR, item by item, and bounds what it does instead: every
 * length is checked against the bytes left (libcbor reports a short buffer),
 * counts against the bytes left, nesting against ALDER_CBOR_MAX_DEPTH, and
 * nothing is allocated for a container.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alder/cleanup.h"
#include "lwm2m-internal.h"

#define SET(ctx, ...) (*(struct lwm2m_cbor_item *) (ctx) = (struct lwm2m_cbor_item){__VA_ARGS__})

static void on_uint8(void *ctx, uint8_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_UINT, .u = v);
}
static void on_uint16(void *ctx, uint16_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_UINT, .u = v);
}
static void on_uint32(void *ctx, uint32_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_UINT, .u = v);
}
static void on_uint64(void *ctx, uint64_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_UINT, .u = v);
}
static void on_negint8(void *ctx, uint8_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_NEGINT, .u = v);
}
static void on_negint16(void *ctx, uint16_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_NEGINT, .u = v);
}
static void on_negint32(void *ctx, uint32_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_NEGINT, .u = v);
}
static void on_negint64(void *ctx, uint64_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_NEGINT, .u = v);
}
static void on_bytes(void *ctx, cbor_data data, size_t len)
{
        SET(ctx, .kind = LWM2M_CBOR_BYTES, .u = len, .data = data);
}
static void on_text(void *ctx, cbor_data data, size_t len)
{
        SET(ctx, .kind = LWM2M_CBOR_TEXT, .u = len, .data = data);
}
static void on_indef_bytes(void *ctx)
{
        SET(ctx, .kind = LWM2M_CBOR_BYTES, .indefinite = true);
}
static void on_indef_text(void *ctx)
{
        SET(ctx, .kind = LWM2M_CBOR_TEXT, .indefinite = true);
}
static void on_array(void *ctx, size_t n)
{
        SET(ctx, .kind = LWM2M_CBOR_ARRAY, .u = n);
}
static void on_indef_array(void *ctx)
{
        SET(ctx, .kind = LWM2M_CBOR_ARRAY, .indefinite = true);
}
static void on_map(void *ctx, size_t n)
{
        SET(ctx, .kind = LWM2M_CBOR_MAP, .u = n);
}
static void on_indef_map(void *ctx)
{
        SET(ctx, .kind = LWM2M_CBOR_MAP, .indefinite = true);
}
static void on_tag(void *ctx, uint64_t v)
{
        SET(ctx, .kind = LWM2M_CBOR_TAG, .u = v);
}
static void on_float(void *ctx, float v)
{
        SET(ctx, .kind = LWM2M_CBOR_FLOAT, .f = v);
}
static void on_double(void *ctx, double v)
{
        SET(ctx, .kind = LWM2M_CBOR_FLOAT, .f = v);
}
static void on_undefined(void *ctx)
{
        SET(ctx, .kind = LWM2M_CBOR_UNDEFINED);
}
static void on_null(void *ctx)
{
        SET(ctx, .kind = LWM2M_CBOR_NULL);
}
static void on_bool(void *ctx, bool v)
{
        SET(ctx, .kind = LWM2M_CBOR_BOOL, .b = v);
}
static void on_break(void *ctx)
{
        SET(ctx, .kind = LWM2M_CBOR_BREAK);
}

static const struct cbor_callbacks callbacks = {
        .uint8 = on_uint8,
        .uint16 = on_uint16,
        .uint32 = on_uint32,
        .uint64 = on_uint64,
        .negint8 = on_negint8,
        .negint16 = on_negint16,
        .negint32 = on_negint32,
        .negint64 = on_negint64,
        .byte_string = on_bytes,
        .byte_string_start = on_indef_bytes,
        .string = on_text,
        .string_start = on_indef_text,
        .array_start = on_array,
        .indef_array_start = on_indef_array,
        .map_start = on_map,
        .indef_map_start = on_indef_map,
        .tag = on_tag,
        .float2 = on_float,
        .float4 = on_float,
        .float8 = on_double,
        .undefined = on_undefined,
        .null = on_null,
        .boolean = on_bool,
        .indef_break = on_break,
};

const char *lwm2m_cbor_kind_name(enum lwm2m_cbor_kind k)
{
        static const char *const names[] = {
                [LWM2M_CBOR_UINT] = "unsigned integer",
                [LWM2M_CBOR_NEGINT] = "negative integer",
                [LWM2M_CBOR_BYTES] = "byte string",
                [LWM2M_CBOR_TEXT] = "text string",
                [LWM2M_CBOR_ARRAY] = "array",
                [LWM2M_CBOR_MAP] = "map",
                [LWM2M_CBOR_TAG] = "tag",
                [LWM2M_CBOR_FLOAT] = "floating-point number",
                [LWM2M_CBOR_BOOL] = "boolean",
                [LWM2M_CBOR_NULL] = "null",
                [LWM2M_CBOR_UNDEFINED] = "undefined",
                [LWM2M_CBOR_BREAK] = "break",
        };
        const char *n = ALDER_NAME_OF(names, k);
        return n ? n : "item";
}

int lwm2m_cbor_next(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_item *it, alder_error **err)
{
        size_t at = r->off;
        if (at >= r->len)
                return LWM2M_CBOR_FAIL(r, at, EBADMSG, "truncated (an item is missing)");
        /* libcbor 0.8 takes the one-byte tags 6..20 for malformed input: name them instead */
        if (r->buf[at] >= 0xc6 && r->buf[at] <= 0xd4)
                return LWM2M_CBOR_FAIL(r, at, EBADMSG, "tag %d is not supported", r->buf[at] - 0xc0);
        struct lwm2m_cbor_item item = {.kind = LWM2M_CBOR_UNDEFINED};
        struct cbor_decoder_result res = cbor_stream_decode(r->buf + at, r->len - at, &callbacks, &item);
        if (res.status == CBOR_DECODER_NEDATA)
                return LWM2M_CBOR_FAIL(r, at, EBADMSG, "truncated item");
        if (res.status != CBOR_DECODER_FINISHED || res.read == 0)
                return LWM2M_CBOR_FAIL(r, at, EBADMSG, "malformed item (byte 0x%02x)", r->buf[at]);
        item.off = at;
        r->off += res.read;
        *it = item;
        return 0;
}

int lwm2m_cbor_check_count(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *it, alder_error **err)
{
        size_t left = r->len - r->off;
        if (it->indefinite || (it->kind != LWM2M_CBOR_ARRAY && it->kind != LWM2M_CBOR_MAP))
                return 0;
        if (it->u > left || (it->kind == LWM2M_CBOR_MAP && it->u > left / 2))
                return LWM2M_CBOR_FAIL(r, it->off, EBADMSG, "%s of %llu items exceeds the remaining %zu bytes",
                                       lwm2m_cbor_kind_name(it->kind), (unsigned long long) it->u, left);
        return 0;
}

int lwm2m_cbor_string(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *it, uint8_t **ret_owned,
                      const uint8_t **ret_data, size_t *ret_len, alder_error **err)
{
        if (!it->indefinite) {
                *ret_owned = NULL;
                *ret_data = it->data;
                *ret_len = (size_t) it->u;
                return 0;
        }
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        for (;;) {
                struct lwm2m_cbor_item chunk;
                int e = lwm2m_cbor_next(r, &chunk, err);
                if (e < 0)
                        return e;
                if (chunk.kind == LWM2M_CBOR_BREAK)
                        break;
                if (chunk.kind != it->kind || chunk.indefinite)
                        return LWM2M_CBOR_FAIL(r, chunk.off, EBADMSG, "chunk of an indefinite-length %s is a%s %s",
                                               lwm2m_cbor_kind_name(it->kind), chunk.indefinite ? "n indefinite" : "",
                                               lwm2m_cbor_kind_name(chunk.kind));
                /* the chunks are in the input, so len never exceeds its size */
                uint8_t *p = realloc(buf, len + (size_t) chunk.u + 1);
                if (!p)
                        return alder_error_set(err, ENOMEM, "%s: out of memory for a string", r->what);
                buf = p;
                if (chunk.u > 0)
                        memcpy(buf + len, chunk.data, (size_t) chunk.u);
                len += (size_t) chunk.u;
        }
        if (!buf && !(buf = malloc(1)))
                return alder_error_set(err, ENOMEM, "%s: out of memory for a string", r->what);
        *ret_data = buf;
        *ret_len = len;
        *ret_owned = steal_pointer(&buf);
        return 0;
}

static int skip(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *it, unsigned depth, alder_error **err)
{
        int e;
        switch (it->kind) {
        case LWM2M_CBOR_BYTES:
        case LWM2M_CBOR_TEXT: {
                _cleanup_free_ uint8_t *owned = NULL;
                const uint8_t *data;
                size_t len;
                return lwm2m_cbor_string(r, it, &owned, &data, &len, err);
        }
        case LWM2M_CBOR_ARRAY:
        case LWM2M_CBOR_MAP:
        case LWM2M_CBOR_TAG: {
                if (depth >= ALDER_CBOR_MAX_DEPTH)
                        return LWM2M_CBOR_FAIL(r, it->off, E2BIG, "nesting deeper than %d levels",
                                               ALDER_CBOR_MAX_DEPTH);
                e = lwm2m_cbor_check_count(r, it, err);
                if (e < 0)
                        return e;
                uint64_t n = it->kind == LWM2M_CBOR_TAG ? 1 : it->kind == LWM2M_CBOR_MAP ? 2 * it->u : it->u;
                for (uint64_t i = 0; it->indefinite || i < n; i++) {
                        struct lwm2m_cbor_item child;
                        e = lwm2m_cbor_next(r, &child, err);
                        if (e < 0)
                                return e;
                        if (child.kind == LWM2M_CBOR_BREAK && it->indefinite) {
                                if (it->kind == LWM2M_CBOR_MAP && i % 2 == 1)
                                        return LWM2M_CBOR_FAIL(r, child.off, EBADMSG, "map key without a value");
                                return 0;
                        }
                        e = skip(r, &child, depth + 1, err);
                        if (e < 0)
                                return e;
                }
                return 0;
        }
        case LWM2M_CBOR_BREAK:
                return LWM2M_CBOR_FAIL(r, it->off, EBADMSG, "unexpected 'break'");
        default:
                return 0;
        }
}

int lwm2m_cbor_skip(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *it, alder_error **err)
{
        return skip(r, it, 0, err);
}

int lwm2m_cbor_value(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *it, unsigned accept,
                     const char *expected, struct alder_lwm2m_value *v, alder_error **err)
{
        const struct lwm2m_cbor_item *item = it;
        struct lwm2m_cbor_item tagged;
        bool time = false;
        if (it->kind == LWM2M_CBOR_TAG && (accept & LWM2M_CBOR_ACCEPT_TIME)) {
                if (it->u != 1)
                        return LWM2M_CBOR_FAIL(r, it->off, EBADMSG, "tag %llu is not supported (only 1, epoch time)",
                                               (unsigned long long) it->u);
                int e = lwm2m_cbor_next(r, &tagged, err);
                if (e < 0)
                        return e;
                if (tagged.kind != LWM2M_CBOR_UINT && tagged.kind != LWM2M_CBOR_NEGINT)
                        return LWM2M_CBOR_FAIL(r, tagged.off, EBADMSG,
                                               "tag 1 (epoch time) holds a %s (LwM2M Time is whole seconds)",
                                               lwm2m_cbor_kind_name(tagged.kind));
                item = &tagged;
                time = true;
        }
        switch (item->kind) {
        case LWM2M_CBOR_UINT:
        case LWM2M_CBOR_NEGINT:
                if (!(accept & LWM2M_CBOR_ACCEPT_NUMBER) && !time)
                        break;
                if (item->u > INT64_MAX && (time || item->kind == LWM2M_CBOR_NEGINT))
                        return LWM2M_CBOR_FAIL(r, item->off, EBADMSG,
                                               "integer out of the range of 64-bit signed integers");
                if (item->u > INT64_MAX)
                        alder_lwm2m_value_set_uint(v, item->u);
                else
                        alder_lwm2m_value_set_int(v, time ? ALDER_LWM2M_TYPE_TIME : ALDER_LWM2M_TYPE_INTEGER,
                                                  item->kind == LWM2M_CBOR_NEGINT ? -1 - (int64_t) item->u
                                                                                  : (int64_t) item->u);
                return 0;
        case LWM2M_CBOR_FLOAT:
                if (!(accept & LWM2M_CBOR_ACCEPT_NUMBER))
                        break;
                alder_lwm2m_value_set_float(v, item->f);
                return 0;
        case LWM2M_CBOR_BOOL:
                if (!(accept & LWM2M_CBOR_ACCEPT_BOOL))
                        break;
                alder_lwm2m_value_set_bool(v, item->b);
                return 0;
        case LWM2M_CBOR_TEXT:
        case LWM2M_CBOR_BYTES: {
                bool text = item->kind == LWM2M_CBOR_TEXT;
                if (!(accept & (text ? LWM2M_CBOR_ACCEPT_TEXT : LWM2M_CBOR_ACCEPT_BYTES)))
                        break;
                _cleanup_free_ uint8_t *owned = NULL;
                const uint8_t *data;
                size_t len, bad;
                int e = lwm2m_cbor_string(r, item, &owned, &data, &len, err);
                if (e < 0)
                        return e;
                if (text && !lwm2m_utf8_valid(data, len, &bad))
                        return LWM2M_CBOR_FAIL(r, item->off, EBADMSG,
                                               "text string is not UTF-8 without NUL (string offset %zu)", bad);
                if (alder_lwm2m_value_set_bytes(v, text ? ALDER_LWM2M_TYPE_STRING : ALDER_LWM2M_TYPE_OPAQUE, data,
                                                len) < 0)
                        return alder_error_set(err, ENOMEM, "%s: out of memory for a value of %zu bytes", r->what, len);
                return 0;
        }
        default:
                break;
        }
        return LWM2M_CBOR_FAIL(r, item->off, EBADMSG, "expected %s, got %s%s", expected,
                               item->indefinite ? "an indefinite-length " : "", lwm2m_cbor_kind_name(item->kind));
}

void lwm2m_cbor_put_float(struct alder_cbor_writer *w, double f)
{
        unsigned char head[9];
        size_t n;
        if (!isnan(f) && (double) (float) f == f)
                n = cbor_encode_single((float) f, head, sizeof(head));
        else
                n = cbor_encode_double(f, head, sizeof(head));
        if (n == 0)
                w->error = w->error ? w->error : EINVAL;
        else
                alder_cbor_put_raw(w, head, n);
}

/* One value as CBOR; `what` names the format in errors. */
int lwm2m_cbor_put_value(struct alder_cbor_writer *w, const char *what, const struct alder_lwm2m_record *rec,
                         alder_error **err)
{
        const struct alder_lwm2m_value *v = &rec->value;
        char buf[LWM2M_FLOAT_STRLEN], p[ALDER_LWM2M_PATH_STRLEN];
        switch (v->type) {
        case ALDER_LWM2M_TYPE_TIME:
                alder_cbor_put_tag(w, 1);
                alder_cbor_put_int(w, v->i);
                return 0;
        case ALDER_LWM2M_TYPE_INTEGER:
                alder_cbor_put_int(w, v->i);
                return 0;
        case ALDER_LWM2M_TYPE_UNSIGNED:
                alder_cbor_put_uint(w, v->u);
                return 0;
        case ALDER_LWM2M_TYPE_FLOAT:
                lwm2m_cbor_put_float(w, v->f);
                return 0;
        case ALDER_LWM2M_TYPE_BOOLEAN:
                alder_cbor_put_bool(w, v->b);
                return 0;
        case ALDER_LWM2M_TYPE_STRING:
        case ALDER_LWM2M_TYPE_CORELNK:
                alder_cbor_put_text(w, (const char *) v->data, v->len);
                return 0;
        case ALDER_LWM2M_TYPE_OPAQUE:
                alder_cbor_put_bytes(w, v->data, v->len);
                return 0;
        case ALDER_LWM2M_TYPE_OBJLNK:
                lwm2m_scalar_text(v, buf);
                alder_cbor_put_text(w, buf, strlen(buf));
                return 0;
        default:
                return alder_error_set(err, EINVAL, "%s: record %s has an untyped value (convert it first)", what,
                                       alder_lwm2m_path_format(&rec->path, p));
        }
}

/* ---- application/cbor: one value ------------------------------------------------------------- */

#define CBOR "application/cbor"

int lwm2m_cbor_encode(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                      struct alder_cbor_writer *w, alder_error **err)
{
        const struct alder_lwm2m_record *rec;
        int r = lwm2m_encode_single(CBOR, base, records, &rec, err);
        if (r < 0)
                return r;
        return lwm2m_cbor_put_value(w, CBOR, rec, err);
}

int lwm2m_cbor_decode(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                      struct alder_lwm2m_records *out, alder_error **err)
{
        char p[ALDER_LWM2M_PATH_STRLEN];
        struct lwm2m_cbor_reader r = {.what = CBOR, .buf = buf, .len = len};
        _cleanup_lwm2m_sink_ struct lwm2m_sink s = {.what = CBOR, .unit = "offset", .base = *base};
        struct lwm2m_cbor_item it;
        struct alder_lwm2m_record *rec;
        if (base->len < 3)
                return alder_error_set(err, EBADMSG,
                                       CBOR " carries one resource (instance), the request path %s is not one",
                                       alder_lwm2m_path_format(base, p));
        int e = lwm2m_cbor_next(&r, &it, err);
        if (e < 0)
                return e;
        e = lwm2m_sink_add(&s, base, 0, true, &rec, err);
        if (e < 0)
                return e;
        e = lwm2m_cbor_value(&r, &it, LWM2M_CBOR_ACCEPT_ANY, "a single value", &rec->value, err);
        if (e < 0)
                return e;
        if (r.off != len)
                return LWM2M_CBOR_FAIL(&r, r.off, EBADMSG, "%zu trailing bytes after the value", len - r.off);
        return lwm2m_sink_finish(&s, out, err);
}
