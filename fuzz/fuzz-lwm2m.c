/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the LwM2M content-format decoders (TLV, SenML-JSON,
 * SenML-CBOR, text, opaque, CBOR) and, through the round trip, their encoders.
 *
 * Input: byte 0 picks the format (low bits) and whether the object
 * definitions type the values (bit 7); bytes 1..5 pick the request path
 * (length, object from a small set, small instance/resource ids, so that
 * payload names meet it often); the rest is the payload.
 *
 * Property: what decodes re-encodes in the same format without error, and
 * that encoding decodes to the same records (paths, types and values).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER 6

static const unsigned formats[] = {
        ALDER_LWM2M_FMT_TLV,    ALDER_LWM2M_FMT_SENML_JSON, ALDER_LWM2M_FMT_SENML_CBOR, ALDER_LWM2M_FMT_TEXT,
        ALDER_LWM2M_FMT_OPAQUE, ALDER_LWM2M_FMT_CBOR,       ALDER_LWM2M_FMT_LWM2M_JSON, ALDER_LWM2M_FMT_TLV,
};
static const uint16_t objects[] = {3, 0, 1, 4, 5, 9, ALDER_LWM2M_OBJECT_APP, 3311};

static void fail(const char *what, unsigned format, alder_error *err)
{
        fprintf(stderr, "lwm2m round trip, format %u: %s: %s\n", format, what,
                err ? alder_error_message(err) : "no error");
        __builtin_trap();
}

/* What callers rely on in decoded records. */
static void check_records(const struct alder_lwm2m_records *r, const struct alder_lwm2m_path *base)
{
        if (r->n > ALDER_LWM2M_RECORDS_MAX)
                __builtin_trap();
        for (size_t i = 0; i < r->n; i++) {
                const struct alder_lwm2m_record *rec = &r->v[i];
                if (!alder_lwm2m_path_has_prefix(&rec->path, base) || rec->path.len > ALDER_LWM2M_PATH_MAX_LEN)
                        __builtin_trap();
                if (i > 0 && alder_lwm2m_path_compare(&r->v[i - 1].path, &rec->path) >= 0)
                        __builtin_trap(); /* in path order, no duplicates */
                const struct alder_lwm2m_value *v = &rec->value;
                if (v->data && v->data[v->len] != '\0')
                        __builtin_trap();
                if ((v->type == ALDER_LWM2M_TYPE_STRING || v->type == ALDER_LWM2M_TYPE_CORELNK) &&
                    strlen((const char *) v->data) != v->len)
                        __builtin_trap();
                free(alder_lwm2m_value_to_text(v, 8));
        }
}

static bool same_records(const struct alder_lwm2m_records *a, const struct alder_lwm2m_records *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (alder_lwm2m_path_compare(&a->v[i].path, &b->v[i].path) != 0 ||
                    !alder_lwm2m_value_equal(&a->v[i].value, &b->v[i].value))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < HEADER)
                return 0;
        unsigned format = formats[data[0] % (sizeof(formats) / sizeof(formats[0]))];
        bool typed = data[0] & 0x80;
        struct alder_lwm2m_path base =
                alder_lwm2m_path_make(data[1] % 5u, objects[data[2] % 8u], data[3] % 4u, data[4] % 16u, data[5] % 4u);
        const uint8_t *payload = data + HEADER;
        size_t len = size - HEADER;

        alder_error *err = NULL;
        struct alder_lwm2m_records first = {0}, second = {0};
        uint8_t *enc = NULL;
        size_t enc_len = 0;

        if (alder_lwm2m_decode(format, &base, payload, len, &first, &err) < 0) {
                (void) alder_error_message(err);
                if (first.n != 0)
                        __builtin_trap(); /* failure leaves the output alone */
                goto out;
        }
        check_records(&first, &base);
        if (typed && alder_lwm2m_records_apply_types(&first, format, &err) < 0) {
                (void) alder_error_message(err);
                goto out;
        }
        if (alder_lwm2m_encode(format, &base, &first, &enc, &enc_len, &err) < 0)
                fail("encode what decoded", format, err);
        if (alder_lwm2m_decode(format, &base, enc, enc_len, &second, &err) < 0)
                fail("decode what was encoded", format, err);
        if (typed && alder_lwm2m_records_apply_types(&second, format, &err) < 0)
                fail("type what was encoded", format, err);
        if (!same_records(&first, &second))
                fail("records differ after the round trip", format, NULL);
out:
        free(enc);
        alder_lwm2m_records_clear(&first);
        alder_lwm2m_records_clear(&second);
        alder_error_clear(&err);
        return 0;
}
