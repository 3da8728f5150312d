/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The single-value formats text/plain (0) and application/octet-stream (42),
 * OMA-TS-LightweightM2M_Core-V1_1_1 §7.4.1 and §7.4.2: the payload is the
 * value of the one resource (instance) the request names.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alder/cleanup.h"
#include "lwm2m-internal.h"

#define TEXT   "text/plain"
#define OPAQUE "application/octet-stream"

int lwm2m_text_encode(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                      struct alder_cbor_writer *w, alder_error **err)
{
        const struct alder_lwm2m_record *rec;
        int r = lwm2m_encode_single(TEXT, base, records, &rec, err);
        if (r < 0)
                return r;
        const struct alder_lwm2m_value *v = &rec->value;
        char buf[LWM2M_FLOAT_STRLEN];
        switch (v->type) {
        case ALDER_LWM2M_TYPE_STRING:
        case ALDER_LWM2M_TYPE_CORELNK:
        case ALDER_LWM2M_TYPE_NONE:
                alder_cbor_put_raw(w, v->data, v->len);
                return 0;
        case ALDER_LWM2M_TYPE_OPAQUE: {
                size_t n;
                _cleanup_free_ char *b64 = alder_base64_encode(v->data, v->len, false, &n);
                if (!b64)
                        return alder_error_set(err, ENOMEM, TEXT ": out of memory for base64");
                alder_cbor_put_raw(w, b64, n);
                return 0;
        }
        case ALDER_LWM2M_TYPE_BOOLEAN:
                strcpy(buf, v->b ? "1" : "0");
                break;
        default:
                if (v->type == ALDER_LWM2M_TYPE_FLOAT && !isfinite(v->f))
                        return alder_error_set(err, EINVAL, TEXT ": Float value %s has no text form",
                                               isnan(v->f) ? "nan" : "inf");
                if (!lwm2m_scalar_text(v, buf))
                        return alder_error_set(err, EINVAL, TEXT ": unknown value type %d", (int) v->type);
                break;
        }
        alder_cbor_put_raw(w, buf, strlen(buf));
        return 0;
}

/* The one record of a single-value payload: the request path itself. */
static int decode_single(const char *what, const struct alder_lwm2m_path *base, enum alder_lwm2m_type type,
                         const uint8_t *buf, size_t len, struct alder_lwm2m_records *out, alder_error **err)
{
        char p[ALDER_LWM2M_PATH_STRLEN];
        _cleanup_lwm2m_sink_ struct lwm2m_sink s = {.what = what, .unit = "offset", .base = *base};
        struct alder_lwm2m_record *rec;
        if (base->len < 3)
                return alder_error_set(err, EBADMSG,
                                       "%s carries one resource (instance), the request path %s is not one", what,
                                       alder_lwm2m_path_format(base, p));
        int r = lwm2m_sink_add(&s, base, 0, true, &rec, err);
        if (r < 0)
                return r;
        if (alder_lwm2m_value_set_bytes(&rec->value, type, buf, len) < 0)
                return alder_error_set(err, ENOMEM, "%s: out of memory for a value of %zu bytes", what, len);
        return lwm2m_sink_finish(&s, out, err);
}

int lwm2m_text_decode(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                      struct alder_lwm2m_records *out, alder_error **err)
{
        return decode_single(TEXT, base, ALDER_LWM2M_TYPE_NONE, buf, len, out, err);
}

int lwm2m_opaque_encode(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                        struct alder_cbor_writer *w, alder_error **err)
{
        const struct alder_lwm2m_record *rec;
        char p[ALDER_LWM2M_PATH_STRLEN];
        int r = lwm2m_encode_single(OPAQUE, base, records, &rec, err);
        if (r < 0)
                return r;
        if (rec->value.type != ALDER_LWM2M_TYPE_OPAQUE && rec->value.type != ALDER_LWM2M_TYPE_NONE)
                return alder_error_set(err, EINVAL, OPAQUE " carries Opaque values, %s is %s",
                                       alder_lwm2m_path_format(&rec->path, p), alder_lwm2m_type_name(rec->value.type));
        alder_cbor_put_raw(w, rec->value.data, rec->value.len);
        return 0;
}

int lwm2m_opaque_decode(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                        struct alder_lwm2m_records *out, alder_error **err)
{
        return decode_single(OPAQUE, base, ALDER_LWM2M_TYPE_OPAQUE, buf, len, out, err);
}
