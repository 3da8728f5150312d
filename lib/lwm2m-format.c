/* SPDX-License-Identifier: Apache-2.0 */
/* Content formats: dispatch by CoAP Content-Format number (lib/lwm2m-*.c do the work). */
#include <errno.h>

#include "alder/cleanup.h"
#include "alder/lwm2m.h"
#include "lwm2m-internal.h"

struct codec {
        unsigned format;
        int (*encode)(const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                      struct alder_cbor_writer *w, alder_error **err);
        int (*decode)(const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                      struct alder_lwm2m_records *out, alder_error **err);
};

static const struct codec codecs[] = {
        {ALDER_LWM2M_FMT_TEXT, lwm2m_text_encode, lwm2m_text_decode},
        {ALDER_LWM2M_FMT_OPAQUE, lwm2m_opaque_encode, lwm2m_opaque_decode},
        {ALDER_LWM2M_FMT_CBOR, lwm2m_cbor_encode, lwm2m_cbor_decode},
        {ALDER_LWM2M_FMT_TLV, lwm2m_tlv_encode, lwm2m_tlv_decode},
        {ALDER_LWM2M_FMT_SENML_JSON, lwm2m_senml_json_encode, lwm2m_senml_json_decode},
        {ALDER_LWM2M_FMT_SENML_CBOR, lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode},
};

/* The codec of a format, or an error that says what to use instead. */
static int find_codec(unsigned format, const char *verb, const struct codec **ret, alder_error **err)
{
        const char *name = alder_lwm2m_format_name(format);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(codecs); i++)
                if (codecs[i].format == format) {
                        *ret = &codecs[i];
                        return 0;
                }
        if (format == ALDER_LWM2M_FMT_LWM2M_JSON)
                return alder_error_set(err, EPROTONOSUPPORT,
                                       "%s %s (%u): the LwM2M 1.0 JSON format is not supported (superseded in 1.1), "
                                       "use SenML-JSON (110) or TLV (11542)",
                                       verb, name, format);
        if (format == ALDER_LWM2M_FMT_LINK)
                return alder_error_set(err, EPROTONOSUPPORT,
                                       "%s %s (%u): link format carries links, not resource values "
                                       "(alder_lwm2m_links_parse() reads it)",
                                       verb, name, format);
        return alder_error_set(err, EPROTONOSUPPORT, "%s: content format %u is not an LwM2M data format", verb, format);
}

int alder_lwm2m_encode(unsigned format, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                       uint8_t **ret, size_t *ret_len, alder_error **err)
{
        const struct codec *c;
        int r = find_codec(format, "encode", &c, err);
        if (r < 0)
                return r;
        _cleanup_cbor_writer_ struct alder_cbor_writer w;
        lwm2m_init_writer(&w);
        r = c->encode(base, records, &w, err);
        if (r < 0)
                return r;
        if (w.error == E2BIG)
                return alder_error_set(err, E2BIG, "encode %s: payload over %u MiB", alder_lwm2m_format_name(format),
                                       LWM2M_ENCODE_MAX >> 20);
        return alder_cbor_writer_finish(&w, alder_lwm2m_format_name(format), ret, ret_len, err);
}

int alder_lwm2m_decode(unsigned format, const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                       struct alder_lwm2m_records *out, alder_error **err)
{
        const struct codec *c;
        int r = find_codec(format, "decode", &c, err);
        if (r < 0)
                return r;
        return c->decode(base, buf ? buf : (const uint8_t *) "", buf ? len : 0, out, err);
}
