/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CBOR for LwM2M: values, strings and skipping over the streaming reader of
 * lib/alder/cbor-util.h, shared with SenML-CBOR (lib/lwm2m-senml.c), and the
 * single-value format application/cbor (60, OMA-TS-LightweightM2M_Core-V1_1_1
 * §7.4.6).
 *
 * alder_cbor_decode() is for documents we sign; LwM2M peers send floats,
 * indefinite lengths and maps in any key order, so this code takes all of
 * well-formed CBOR, item by item, and bounds what it does instead: every
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

int lwm2m_cbor_check_count(struct alder_cbor_reader *r, const struct alder_cbor_head *it, alder_error **err)
{
        if (it->indefinite || (it->kind != ALDER_CBOR_ARRAY && it->kind != ALDER_CBOR_MAP))
                return 0;
        return alder_cbor_check_count(r, it->off, it->kind, it->len, err);
}

int lwm2m_cbor_string(struct alder_cbor_reader *r, const struct alder_cbor_head *it, uint8_t **ret_owned,
                      const uint8_t **ret_data, size_t *ret_len, alder_error **err)
{
        if (!it->indefinite) {
                *ret_owned = NULL;
                *ret_data = it->data;
                *ret_len = (size_t) it->len;
                return 0;
        }
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        for (;;) {
                struct alder_cbor_head chunk;
                int e = alder_cbor_read_head(r, &chunk, err);
                if (e < 0)
                        return e;
                if (chunk.kind == ALDER_CBOR_BREAK)
                        break;
                if (chunk.kind != it->kind || chunk.indefinite)
                        return ALDER_CBOR_FAIL(r, err, chunk.off, EBADMSG, "chunk of an indefinite-length %s is a%s %s",
                                               alder_cbor_kind_name(it->kind), chunk.indefinite ? "n indefinite" : "",
                                               alder_cbor_kind_name(chunk.kind));
                /* the chunks are in the input, so len never exceeds its size */
                uint8_t *p = realloc(buf, len + (size_t) chunk.len + 1);
                if (!p)
                        return alder_error_set(err, ENOMEM, "%s: out of memory for a string", r->what);
                buf = p;
                if (chunk.len > 0)
                        memcpy(buf + len, chunk.data, (size_t) chunk.len);
                len += (size_t) chunk.len;
        }
        if (!buf && !(buf = malloc(1)))
                return alder_error_set(err, ENOMEM, "%s: out of memory for a string", r->what);
        *ret_data = buf;
        *ret_len = len;
        *ret_owned = steal_pointer(&buf);
        return 0;
}

static int skip(struct alder_cbor_reader *r, const struct alder_cbor_head *it, unsigned depth, alder_error **err)
{
        int e;
        switch (it->kind) {
        case ALDER_CBOR_BYTES:
        case ALDER_CBOR_TEXT: {
                _cleanup_free_ uint8_t *owned = NULL;
                const uint8_t *data;
                size_t len;
                return lwm2m_cbor_string(r, it, &owned, &data, &len, err);
        }
        case ALDER_CBOR_ARRAY:
        case ALDER_CBOR_MAP:
        case ALDER_CBOR_TAG: {
                if (depth >= ALDER_CBOR_MAX_DEPTH)
                        return ALDER_CBOR_FAIL(r, err, it->off, E2BIG, "nesting deeper than %d levels",
                                               ALDER_CBOR_MAX_DEPTH);
                e = lwm2m_cbor_check_count(r, it, err);
                if (e < 0)
                        return e;
                uint64_t n = it->kind == ALDER_CBOR_TAG ? 1 : it->kind == ALDER_CBOR_MAP ? 2 * it->len : it->len;
                for (uint64_t i = 0; it->indefinite || i < n; i++) {
                        struct alder_cbor_head child;
                        e = alder_cbor_read_head(r, &child, err);
                        if (e < 0)
                                return e;
                        if (child.kind == ALDER_CBOR_BREAK && it->indefinite) {
                                if (it->kind == ALDER_CBOR_MAP && i % 2 == 1)
                                        return ALDER_CBOR_FAIL(r, err, child.off, EBADMSG, "map key without a value");
                                return 0;
                        }
                        e = skip(r, &child, depth + 1, err);
                        if (e < 0)
                                return e;
                }
                return 0;
        }
        case ALDER_CBOR_BREAK:
                return ALDER_CBOR_FAIL(r, err, it->off, EBADMSG, "unexpected 'break'");
        default:
                return 0;
        }
}

int lwm2m_cbor_skip(struct alder_cbor_reader *r, const struct alder_cbor_head *it, alder_error **err)
{
        return skip(r, it, 0, err);
}

int lwm2m_cbor_value(struct alder_cbor_reader *r, const struct alder_cbor_head *it, unsigned accept,
                     const char *expected, struct alder_lwm2m_value *v, alder_error **err)
{
        const struct alder_cbor_head *item = it;
        struct alder_cbor_head tagged;
        bool time = false;
        if (it->kind == ALDER_CBOR_TAG && (accept & LWM2M_CBOR_ACCEPT_TIME)) {
                if (it->value != 1)
                        return ALDER_CBOR_FAIL(r, err, it->off, EBADMSG,
                                               "tag %llu is not supported (only 1, epoch time)",
                                               (unsigned long long) it->value);
                int e = alder_cbor_read_head(r, &tagged, err);
                if (e < 0)
                        return e;
                if (tagged.kind != ALDER_CBOR_UINT && tagged.kind != ALDER_CBOR_NEGINT)
                        return ALDER_CBOR_FAIL(r, err, tagged.off, EBADMSG,
                                               "tag 1 (epoch time) holds a %s (LwM2M Time is whole seconds)",
                                               alder_cbor_kind_name(tagged.kind));
                item = &tagged;
                time = true;
        }
        switch (item->kind) {
        case ALDER_CBOR_UINT:
        case ALDER_CBOR_NEGINT: {
                int64_t i;
                if (!(accept & LWM2M_CBOR_ACCEPT_NUMBER) && !time)
                        break;
                if (alder_cbor_head_int64(item, &i))
                        alder_lwm2m_value_set_int(v, time ? ALDER_LWM2M_TYPE_TIME : ALDER_LWM2M_TYPE_INTEGER, i);
                else if (item->kind == ALDER_CBOR_UINT && !time)
                        alder_lwm2m_value_set_uint(v, item->value);
                else
                        return ALDER_CBOR_FAIL(r, err, item->off, EBADMSG,
                                               "integer out of the range of 64-bit signed integers");
                return 0;
        }
        case ALDER_CBOR_FLOAT:
                if (!(accept & LWM2M_CBOR_ACCEPT_NUMBER))
                        break;
                alder_lwm2m_value_set_float(v, item->f);
                return 0;
        case ALDER_CBOR_BOOL:
                if (!(accept & LWM2M_CBOR_ACCEPT_BOOL))
                        break;
                alder_lwm2m_value_set_bool(v, item->value != 0);
                return 0;
        case ALDER_CBOR_TEXT:
        case ALDER_CBOR_BYTES: {
                bool text = item->kind == ALDER_CBOR_TEXT;
                if (!(accept & (text ? LWM2M_CBOR_ACCEPT_TEXT : LWM2M_CBOR_ACCEPT_BYTES)))
                        break;
                _cleanup_free_ uint8_t *owned = NULL;
                const uint8_t *data;
                size_t len, bad;
                int e = lwm2m_cbor_string(r, item, &owned, &data, &len, err);
                if (e < 0)
                        return e;
                if (text && !lwm2m_utf8_valid(data, len, &bad))
                        return ALDER_CBOR_FAIL(r, err, item->off, EBADMSG,
                                               "text string is not UTF-8 without NUL (string offset %zu)", bad);
                if (alder_lwm2m_value_set_bytes(v, text ? ALDER_LWM2M_TYPE_STRING : ALDER_LWM2M_TYPE_OPAQUE, data,
                                                len) < 0)
                        return alder_error_set(err, ENOMEM, "%s: out of memory for a value of %zu bytes", r->what, len);
                return 0;
        }
        default:
                break;
        }
        return ALDER_CBOR_FAIL(r, err, item->off, EBADMSG, "expected %s, got %s%s", expected,
                               item->indefinite ? "an indefinite-length " : "", alder_cbor_kind_name(item->kind));
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
        struct alder_cbor_reader r = {.what = CBOR, .buf = buf, .len = len};
        _cleanup_lwm2m_sink_ struct lwm2m_sink s = {.what = CBOR, .unit = "offset", .base = *base};
        struct alder_cbor_head it;
        struct alder_lwm2m_record *rec;
        if (base->len < 3)
                return alder_error_set(err, EBADMSG,
                                       CBOR " carries one resource (instance), the request path %s is not one",
                                       alder_lwm2m_path_format(base, p));
        int e = alder_cbor_read_head(&r, &it, err);
        if (e < 0)
                return e;
        e = lwm2m_sink_add(&s, base, 0, true, &rec, err);
        if (e < 0)
                return e;
        e = lwm2m_cbor_value(&r, &it, LWM2M_CBOR_ACCEPT_ANY, "a single value", &rec->value, err);
        if (e < 0)
                return e;
        if (r.off != len)
                return ALDER_CBOR_FAIL(&r, err, r.off, EBADMSG, "%zu trailing bytes after the value", len - r.off);
        return lwm2m_sink_finish(&s, out, err);
}
