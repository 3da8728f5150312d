/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers for alder-secd's request handling (test-secd-dispatch,
 * test-secd-algs): a daemon without sockets on a temp root, two app sessions
 * and the admin session, and frames built and sent through secd_handle().
 * Include after <cmocka.h>.
 */
#pragma once
#include <stdlib.h>
#include <string.h>

#include "alder/fileio.h"
#include "alder/log.h"
#include "secd.h"

#define ECC_PAIR    PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)
#define ECC_PUB     PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1)
#define ECDSA_256   PSA_ALG_ECDSA(PSA_ALG_SHA_256)
#define SIGN_VERIFY (PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH)
#define ENC_DEC     (PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT)

struct fixture {
        char root[64];
        struct secd d;
        struct secd_session a, b, admin;
};

static uint8_t req_buf[SECD_WIRE_MAX_FRAME];
static struct secd_writer w;
static struct secd_msg reply; /* points into d.reply: valid until the next call */

static inline int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        strcpy(f->root, "/tmp/test-secd.XXXXXX");
        assert_non_null(mkdtemp(f->root));
        struct secd_config cfg = {.root = f->root, .no_sockets = true};
        alder_log_set_level(ALDER_LOG_WARNING);
        assert_int_equal(secd_init(&f->d, &cfg, NULL), 0);
        f->a.app = "a";
        f->b.app = "b";
        *state = f;
        return 0;
}

static inline int teardown(void **state)
{
        struct fixture *f = *state;
        secd_session_clear(&f->a);
        secd_session_clear(&f->b);
        secd_done(&f->d);
        assert_int_equal(alder_remove_tree(f->root, NULL), 0);
        free(f);
        return 0;
}

static inline void start(uint16_t op)
{
        secd_writer_start(&w, req_buf, sizeof(req_buf), op, 0);
}

/* Sends the request built with start() + secd_put_*() in a session; the reply's status. */
static inline psa_status_t send_in(struct secd *d, struct secd_session *s)
{
        size_t n = secd_writer_finish(&w);
        assert_int_not_equal(n, 0);
        size_t len = secd_handle(d, s, req_buf, n);
        struct secd_header h;
        assert_int_equal(secd_header_decode(d->reply, len, &h), PSA_SUCCESS);
        assert_int_equal(h.opcode, req_buf[6] | req_buf[7] << 8);
        assert_int_equal(len, SECD_WIRE_HEADER_SIZE + h.body_len);
        assert_int_equal(secd_body_decode(d->reply + SECD_WIRE_HEADER_SIZE, h.body_len, &reply), PSA_SUCCESS);
        if (h.status != PSA_SUCCESS)
                assert_int_equal(h.body_len, 0);
        return h.status;
}

static inline psa_key_attributes_t attrs(psa_key_type_t type, size_t bits, psa_key_usage_t usage, psa_algorithm_t alg,
                                         psa_key_id_t id)
{
        psa_key_attributes_t a = psa_key_attributes_init();
        psa_set_key_type(&a, type);
        psa_set_key_bits(&a, bits);
        psa_set_key_usage_flags(&a, usage);
        psa_set_key_algorithm(&a, alg);
        if (id)
                psa_set_key_id(&a, id);
        return a;
}

static inline psa_status_t generate(struct secd *d, struct secd_session *s, psa_key_attributes_t a, psa_key_id_t *id)
{
        start(SECD_OP_GENERATE_KEY);
        secd_put_attrs(&w, &a);
        psa_status_t st = send_in(d, s);
        if (st == PSA_SUCCESS && id)
                *id = reply.key_id;
        return st;
}

static inline psa_status_t import(struct secd *d, struct secd_session *s, psa_key_attributes_t a, const void *data,
                                  size_t len, psa_key_id_t *id)
{
        start(SECD_OP_IMPORT_KEY);
        secd_put_attrs(&w, &a);
        secd_put_bytes(&w, SECD_TAG_INPUT, data, len);
        psa_status_t st = send_in(d, s);
        if (st == PSA_SUCCESS && id)
                *id = reply.key_id;
        return st;
}

/* An operation on a key with one input, one optional extra field and an output size. */
static inline psa_status_t key_op(struct secd *d, struct secd_session *s, uint16_t op, psa_key_id_t id,
                                  psa_algorithm_t alg, const void *in, size_t in_len, uint16_t extra_tag,
                                  const void *extra, size_t extra_len, uint32_t out_size)
{
        start(op);
        secd_put_u32(&w, SECD_TAG_KEY_ID, id);
        if (alg)
                secd_put_u32(&w, SECD_TAG_ALG, alg);
        if (in)
                secd_put_bytes(&w, SECD_TAG_INPUT, in, in_len);
        if (extra_tag)
                secd_put_bytes(&w, extra_tag, extra, extra_len);
        if (out_size)
                secd_put_u32(&w, SECD_TAG_OUT_SIZE, out_size);
        return send_in(d, s);
}
