/* SPDX-License-Identifier: Apache-2.0 */
/*
 * application/vnd.oma.lwm2m+tlv (11542), OMA-TS-LightweightM2M_Core-V1_1_1
 * §7.4.3. Each TLV is
 *
 *   type byte: bits 7-6 identifier type (00 Object Instance, 01 Resource
 *              Instance, 10 Multiple Resource, 11 Resource with value),
 *              bit 5 identifier length (0: 8 bits, 1: 16 bits),
 *              bits 4-3 length type (00: length in bits 2-0, 01/10/11: an
 *              8/16/24-bit length field follows the identifier)
 *   identifier, [length], value
 *
 * Object Instance TLVs hold Resource and Multiple Resource TLVs, Multiple
 * Resource TLVs hold Resource Instance TLVs, so nesting is at most three deep.
 * Values carry no type: they decode as NONE bytes (alder_lwm2m_value_convert()).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "alder/cleanup.h"
#include "lwm2m-internal.h"

#define WHAT "TLV"

enum tlv_kind {
        TLV_OBJECT_INSTANCE = 0,
        TLV_RESOURCE_INSTANCE = 1,
        TLV_MULTIPLE_RESOURCE = 2,
        TLV_RESOURCE = 3,
};

static const char *const tlv_names[] = {"Object Instance", "Resource Instance", "Multiple Resource", "Resource"};
static const char *const tlv_articles[] = {"an", "a", "a", "a"};

/* Path length of what a TLV of each kind names: /O/I, /O/I/R/RI, /O/I/R, /O/I/R. */
static const unsigned tlv_level[] = {2, 4, 3, 3};

#define TLV_LEN_MAX 0xffffffu

/* ---- decoding -------------------------------------------------------------------------------- */

struct tlv {
        enum tlv_kind kind;
        uint16_t id;
        size_t off;       /* of the type byte */
        size_t value_off; /* of the value */
        size_t len;
};

struct tlv_decoder {
        struct lwm2m_sink *sink;
        const uint8_t *buf;
        const struct alder_lwm2m_path *base;
        size_t first_instance, first_bare; /* offsets + 1 of the first of each at the top of a /O payload */
};

#define TLV_FAIL(at, errnum, fmt, ...) \
        alder_error_set(err, (errnum), WHAT " offset %zu: " fmt, (size_t) (at), ##__VA_ARGS__)

static int tlv_header(const uint8_t *buf, size_t off, size_t end, struct tlv *t, alder_error **err)
{
        uint8_t type = buf[off];
        size_t id_len = type & 0x20 ? 2 : 1, len_len = (type >> 3) & 3, head = 1 + id_len + len_len;
        size_t left = end - off;
        if (head > left)
                return TLV_FAIL(off, EBADMSG, "truncated header (%zu bytes, %zu left)", head, left);
        t->kind = (enum tlv_kind)(type >> 6);
        t->id = (uint16_t) lwm2m_be_uint(buf + off + 1, id_len);
        t->len = len_len ? (size_t) lwm2m_be_uint(buf + off + 1 + id_len, len_len) : (size_t) (type & 7);
        t->off = off;
        t->value_off = off + head;
        if (t->id > ALDER_LWM2M_ID_MAX)
                return TLV_FAIL(off, EBADMSG, "%s id %u is reserved", tlv_names[t->kind], (unsigned) t->id);
        if (t->len > left - head)
                return TLV_FAIL(off, EBADMSG, "%s %u: value of %zu bytes exceeds the remaining %zu bytes",
                                tlv_names[t->kind], (unsigned) t->id, t->len, left - head);
        return 0;
}

/* The path a TLV at the top of the payload names: the request path gives the levels above it. */
static int top_path(struct tlv_decoder *d, const struct tlv *t, struct alder_lwm2m_path *ret, alder_error **err)
{
        const struct alder_lwm2m_path *base = d->base;
        unsigned level = tlv_level[t->kind];
        char b[ALDER_LWM2M_PATH_STRLEN];
        struct alder_lwm2m_path p = *base;
        if (level - 1 > base->len) {
                /* resources of a Create on /O without an Object Instance TLV: the client picks the id */
                if (!(base->len == 1 && level == 3))
                        return TLV_FAIL(t->off, EBADMSG, "%s TLV at the top of a payload for %s (expected %s TLVs)",
                                        tlv_names[t->kind], alder_lwm2m_path_format(base, b),
                                        base->len == 1 ? "Object Instance" : "Resource");
                p.id[p.len++] = ALDER_LWM2M_ID_NONE;
                if (!d->first_bare)
                        d->first_bare = t->off + 1;
        } else {
                p.len = (uint8_t) (level - 1);
                if (base->len == 1 && !d->first_instance)
                        d->first_instance = t->off + 1;
        }
        if (d->first_bare && d->first_instance)
                return TLV_FAIL(t->off, EBADMSG,
                                "Resource TLVs (offset %zu) and Object Instance TLVs (offset %zu) at the "
                                "top of one payload",
                                d->first_bare - 1, d->first_instance - 1);
        p.id[p.len++] = t->id;
        *ret = p;
        return 0;
}

static int tlv_list(struct tlv_decoder *d, size_t off, size_t end, const struct alder_lwm2m_path *parent,
                    const struct tlv *parent_tlv, alder_error **err)
{
        char p[ALDER_LWM2M_PATH_STRLEN], b[ALDER_LWM2M_PATH_STRLEN];
        while (off < end) {
                struct tlv t;
                struct alder_lwm2m_path path;
                int r = tlv_header(d->buf, off, end, &t, err);
                if (r < 0)
                        return r;
                if (!parent_tlv) {
                        r = top_path(d, &t, &path, err);
                        if (r < 0)
                                return r;
                } else {
                        if (parent->len != tlv_level[t.kind] - 1)
                                return TLV_FAIL(t.off, EBADMSG, "%s TLV inside %s %s TLV", tlv_names[t.kind],
                                                tlv_articles[parent_tlv->kind], tlv_names[parent_tlv->kind]);
                        path = *parent;
                        path.id[path.len++] = t.id;
                }
                /* a TLV above the request path (a wrapper of it) must be on its way */
                for (unsigned i = 0; i < ALDER_MIN(path.len, d->base->len); i++)
                        if (path.id[i] != d->base->id[i])
                                return TLV_FAIL(t.off, EBADMSG, "%s is outside the request path %s",
                                                alder_lwm2m_path_format(&path, p), alder_lwm2m_path_format(d->base, b));
                if (t.kind == TLV_OBJECT_INSTANCE || t.kind == TLV_MULTIPLE_RESOURCE) {
                        r = tlv_list(d, t.value_off, t.value_off + t.len, &path, &t, err);
                        if (r < 0)
                                return r;
                } else {
                        struct alder_lwm2m_record *rec;
                        r = lwm2m_sink_add(d->sink, &path, t.off, true, &rec, err);
                        if (r < 0)
                                return r;
                        if (alder_lwm2m_value_set_bytes(&rec->value, ALDER_LWM2M_TYPE_NONE, d->buf + t.value_off,
                                                        t.len) < 0)
                                return alder_error_set(err, ENOMEM, WHAT ": out of memory for a value of %zu bytes",
                                                       t.len);
                }
                off = t.value_off + t.len;
        }
        return 0;
}

int lwm2m_tlv_decode(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                     struct alder_lwm2m_records *out, alder_error **err)
{
        _cleanup_lwm2m_sink_ struct lwm2m_sink s = {.what = WHAT, .unit = "offset", .base = *base};
        struct tlv_decoder d = {.sink = &s, .buf = buf, .base = base};
        if (base->len == 0)
                return alder_error_set(err, EBADMSG,
                                       WHAT " has no object level: the request path / cannot be read in it");
        int r = tlv_list(&d, 0, len, NULL, NULL, err);
        if (r < 0)
                return r;
        return lwm2m_sink_finish(&s, out, err);
}

/* ---- encoding -------------------------------------------------------------------------------- */

static size_t put_be(uint8_t *out, uint64_t v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                out[i] = (uint8_t) (v >> (8 * (n - 1 - i)));
        return n;
}

static void put_header(struct alder_cbor_writer *w, enum tlv_kind kind, uint16_t id, size_t len)
{
        uint8_t h[6];
        size_t n = 1;
        h[0] = (uint8_t) (kind << 6);
        if (id > 0xff)
                h[0] |= 0x20;
        n += put_be(h + n, id, id > 0xff ? 2 : 1);
        if (len < 8) {
                h[0] |= (uint8_t) len;
        } else {
                unsigned len_len = len <= 0xff ? 1 : len <= 0xffff ? 2 : 3;
                h[0] |= (uint8_t) (len_len << 3);
                n += put_be(h + n, len, len_len);
        }
        alder_cbor_put_raw(w, h, n);
}

/* The value bytes of a record: integers in the fewest of 1/2/4/8 bytes, floats in 4 when exact. */
static void value_bytes(const struct alder_lwm2m_value *v, uint8_t tmp[static 8], const uint8_t **ret, size_t *ret_len)
{
        size_t n = 0;
        *ret = tmp;
        switch (v->type) {
        case ALDER_LWM2M_TYPE_INTEGER:
        case ALDER_LWM2M_TYPE_TIME:
                n = v->i >= INT8_MIN && v->i <= INT8_MAX     ? 1
                    : v->i >= INT16_MIN && v->i <= INT16_MAX ? 2
                    : v->i >= INT32_MIN && v->i <= INT32_MAX ? 4
                                                             : 8;
                put_be(tmp, (uint64_t) v->i, n);
                break;
        case ALDER_LWM2M_TYPE_UNSIGNED:
                n = v->u <= UINT8_MAX ? 1 : v->u <= UINT16_MAX ? 2 : v->u <= UINT32_MAX ? 4 : 8;
                put_be(tmp, v->u, n);
                break;
        case ALDER_LWM2M_TYPE_FLOAT:
                if (!isnan(v->f) && (double) (float) v->f == v->f) {
                        float f = (float) v->f;
                        uint32_t bits;
                        memcpy(&bits, &f, sizeof(bits));
                        n = put_be(tmp, bits, 4);
                } else {
                        uint64_t bits;
                        memcpy(&bits, &v->f, sizeof(bits));
                        n = put_be(tmp, bits, 8);
                }
                break;
        case ALDER_LWM2M_TYPE_BOOLEAN:
                tmp[0] = v->b ? 1 : 0;
                n = 1;
                break;
        case ALDER_LWM2M_TYPE_OBJLNK:
                put_be(tmp, v->objlnk.object, 2);
                n = 2 + put_be(tmp + 2, v->objlnk.instance, 2);
                break;
        default: /* STRING, CORELNK, OPAQUE, NONE: the bytes as they are */
                *ret = v->data;
                n = v->len;
                break;
        }
        *ret_len = n;
}

struct tlv_encoder {
        const struct alder_lwm2m_record **v; /* sorted */
};

static int put_tlv(struct alder_cbor_writer *w, enum tlv_kind kind, uint16_t id, const uint8_t *value, size_t len,
                   alder_error **err)
{
        if (len > TLV_LEN_MAX)
                return alder_error_set(err, E2BIG, "encode " WHAT ": %s %u of %zu bytes exceeds the 24-bit length",
                                       tlv_names[kind], (unsigned) id, len);
        put_header(w, kind, id, len);
        alder_cbor_put_raw(w, value, len);
        return 0;
}

/*
 * Encodes records [lo, hi), which share their first `depth` levels, grouped
 * by the id at level `depth`: Object Instance TLVs at depth 1, (Multiple)
 * Resource TLVs at depth 2, Resource Instance TLVs at depth 3.
 */
static int put_level(const struct tlv_encoder *e, struct alder_cbor_writer *w, size_t lo, size_t hi, unsigned depth,
                     alder_error **err)
{
        char p[ALDER_LWM2M_PATH_STRLEN];
        for (size_t i = lo; i < hi;) {
                const struct alder_lwm2m_record *rec = e->v[i];
                uint16_t id = rec->path.id[depth];
                size_t j = i + 1;
                while (j < hi && e->v[j]->path.id[depth] == id)
                        j++;
                int r;
                if (depth == 1 && id == ALDER_LWM2M_ID_NONE) {
                        /* a Create on /O that lets the client pick the instance id: bare resources */
                        if (i != lo)
                                return alder_error_set(err, EINVAL,
                                                       "encode " WHAT ": records without an instance id (%s) mixed "
                                                       "with instances",
                                                       alder_lwm2m_path_format(&rec->path, p));
                        r = put_level(e, w, i, j, 2, err);
                } else if (id == ALDER_LWM2M_ID_NONE) {
                        return alder_error_set(err, EINVAL, "encode " WHAT ": record %s uses the reserved id 65535",
                                               alder_lwm2m_path_format(&rec->path, p));
                } else if (rec->path.len == depth + 1) {
                        /* a value: Resource or Resource Instance */
                        uint8_t tmp[8];
                        const uint8_t *value;
                        size_t len;
                        value_bytes(&rec->value, tmp, &value, &len);
                        r = put_tlv(w, depth == 2 ? TLV_RESOURCE : TLV_RESOURCE_INSTANCE, id, value, len, err);
                } else {
                        /* a container: Object Instance or Multiple Resource */
                        _cleanup_cbor_writer_ struct alder_cbor_writer inner;
                        lwm2m_init_writer(&inner);
                        r = put_level(e, &inner, i, j, depth + 1, err);
                        if (r < 0)
                                return r;
                        if (inner.error) {
                                w->error = inner.error;
                                return 0;
                        }
                        r = put_tlv(w, depth == 1 ? TLV_OBJECT_INSTANCE : TLV_MULTIPLE_RESOURCE, id, inner.buf,
                                    inner.len, err);
                }
                if (r < 0)
                        return r;
                i = j;
        }
        return 0;
}

int lwm2m_tlv_encode(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                     struct alder_cbor_writer *w, alder_error **err)
{
        _cleanup_free_ const struct alder_lwm2m_record **v = NULL;
        if (base->len == 0)
                return alder_error_set(err, EINVAL,
                                       "encode " WHAT ": TLV has no object level, it cannot carry the root path");
        int r = lwm2m_encode_prepare("encode " WHAT, base, records, false, &v, err);
        if (r < 0)
                return r;
        struct tlv_encoder e = {.v = v};
        /* a resource is written as its own TLV, so the grouping starts one level above it */
        unsigned depth = base->len <= 2 ? base->len : base->len - 1u;
        return put_level(&e, w, 0, records->n, depth, err);
}
