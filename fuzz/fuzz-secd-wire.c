/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for alder-secd's wire decoder (lib/psa/wire.c): the bytes
 * a client sends, as secd reads them. A header is decoded; if it is accepted
 * the rest is decoded as its body and checked against its opcode for both
 * kinds of socket. An accepted body must survive re-encoding: decoding what
 * the encoder makes of it gives the same message, or encoder and decoder
 * disagree about the format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secd-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[SECD_WIRE_MAX_FRAME];

static void put_bytes_if(struct secd_writer *w, const struct secd_msg *m, uint16_t tag, const struct secd_bytes *b)
{
        if (m->present & SECD_BIT(tag))
                secd_put_bytes(w, tag, b->p, b->len);
}

static void put_u32_if(struct secd_writer *w, const struct secd_msg *m, uint16_t tag, uint32_t v)
{
        if (m->present & SECD_BIT(tag))
                secd_put_u32(w, tag, v);
}

static void reencode(const struct secd_msg *m, uint16_t opcode)
{
        struct secd_writer w;
        secd_writer_start(&w, out, sizeof(out), opcode, 0);
        put_u32_if(&w, m, SECD_TAG_KEY_ID, m->key_id);
        if (m->present & SECD_BIT(SECD_TAG_ATTRS))
                secd_put_attrs(&w, &m->attrs);
        put_u32_if(&w, m, SECD_TAG_ALG, m->alg);
        put_u32_if(&w, m, SECD_TAG_OUT_SIZE, m->out_size);
        put_u32_if(&w, m, SECD_TAG_FLAGS, m->flags);
        put_u32_if(&w, m, SECD_TAG_OFFSET, m->offset);
        if (m->present & SECD_BIT(SECD_TAG_UID))
                secd_put_u64(&w, SECD_TAG_UID, m->uid);
        if (m->present & SECD_BIT(SECD_TAG_INFO))
                secd_put_info(&w, &m->info);
        put_bytes_if(&w, m, SECD_TAG_INPUT, &m->input);
        put_bytes_if(&w, m, SECD_TAG_NONCE, &m->nonce);
        put_bytes_if(&w, m, SECD_TAG_AAD, &m->aad);
        put_bytes_if(&w, m, SECD_TAG_SIGNATURE, &m->signature);
        put_bytes_if(&w, m, SECD_TAG_APP, &m->app);
        put_bytes_if(&w, m, SECD_TAG_CGROUP, &m->cgroup);
        put_bytes_if(&w, m, SECD_TAG_OUTPUT, &m->output);
        size_t n = secd_writer_finish(&w);
        if (n == 0)
                abort(); /* a body that was accepted always fits again */
        struct secd_header h;
        struct secd_msg again;
        if (secd_header_decode(out, n, &h) != PSA_SUCCESS || h.body_len != n - SECD_WIRE_HEADER_SIZE ||
            secd_body_decode(out + SECD_WIRE_HEADER_SIZE, h.body_len, &again) != PSA_SUCCESS)
                abort();
        if (again.present != m->present || again.key_id != m->key_id || again.uid != m->uid ||
            memcmp(&again.attrs, &m->attrs, sizeof(m->attrs)) != 0 || again.input.len != m->input.len ||
            (m->input.len && memcmp(again.input.p, m->input.p, m->input.len) != 0) || again.app.len != m->app.len)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct secd_header h;
        if (secd_header_decode(data, size, &h) != PSA_SUCCESS)
                return 0;
        /* Like secd: the body is what follows the header, at most body_len bytes of it. */
        size_t len = size - SECD_WIRE_HEADER_SIZE < h.body_len ? size - SECD_WIRE_HEADER_SIZE : h.body_len;
        struct secd_msg m;
        if (secd_body_decode(data + SECD_WIRE_HEADER_SIZE, len, &m) != PSA_SUCCESS)
                return 0;
        (void) secd_request_check(h.opcode, &m, false);
        (void) secd_request_check(h.opcode, &m, true);
        (void) secd_op_name(h.opcode);
        (void) secd_status_name(h.status);
        reencode(&m, h.opcode);
        return 0;
}
