/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libalder-psa: the PSA Crypto and Protected Storage calls of psa/crypto.h and
 * psa/protected_storage.h, each one request/reply over the app's alder-secd
 * socket. Links nothing but libc.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psa-client.h"
#include "psa/protected_storage.h"

#define DEFAULT_SOCKET "/run/alder/secd.sock"
#define CALL_TIMEOUT_S 30

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int secd_fd = -1;
static uint8_t req_buf[SECD_WIRE_MAX_FRAME], reply_buf[SECD_WIRE_MAX_FRAME];

psa_status_t psa_crypto_init(void)
{
        pthread_mutex_lock(&lock);
        psa_status_t s = PSA_SUCCESS;
        if (secd_fd < 0) {
                const char *path = getenv("ALDER_SECD_SOCKET");
                secd_fd = secd_connect(path && *path ? path : DEFAULT_SOCKET, CALL_TIMEOUT_S);
                if (secd_fd < 0)
                        s = PSA_ERROR_COMMUNICATION_FAILURE;
        }
        pthread_mutex_unlock(&lock);
        return s;
}

/* A request being built; `call` sends it and decodes the reply into `reply`. */
struct call {
        struct secd_writer w;
        struct secd_msg reply;
};

static void call_start(struct call *c, uint16_t opcode)
{
        /* A failed exchange decodes no reply: what is wiped after it must then be nothing. */
        c->reply = (struct secd_msg){0};
        pthread_mutex_lock(&lock);
        secd_writer_start(&c->w, req_buf, sizeof(req_buf), opcode, 0);
}

static psa_status_t call_run(struct call *c)
{
        psa_status_t s = secd_fd < 0 ? PSA_ERROR_BAD_STATE
                                     : secd_transact(secd_fd, req_buf, secd_writer_finish(&c->w), reply_buf, &c->reply);
        if (s == PSA_ERROR_COMMUNICATION_FAILURE && secd_fd >= 0) {
                /* The stream may be out of step now: start afresh at the next psa_crypto_init(). */
                close(secd_fd);
                secd_fd = -1;
        }
        explicit_bzero(req_buf, c->w.len < sizeof(req_buf) ? c->w.len : sizeof(req_buf));
        return s;
}

static void call_end(void)
{
        pthread_mutex_unlock(&lock);
}

/* Copies the reply's OUTPUT into the caller's buffer. */
static psa_status_t take_output(const struct call *c, void *out, size_t size, size_t *ret_len)
{
        if (!(c->reply.present & SECD_BIT(SECD_TAG_OUTPUT)))
                return PSA_ERROR_COMMUNICATION_FAILURE;
        if (c->reply.output.len > size)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        if (c->reply.output.len)
                memcpy(out, c->reply.output.p, c->reply.output.len);
        *ret_len = c->reply.output.len;
        return PSA_SUCCESS;
}

static uint32_t clamp_u32(size_t v)
{
        return v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

/* The common end of calls that return bytes: run, copy out, unlock. */
static psa_status_t finish_output(struct call *c, void *out, size_t size, size_t *ret_len)
{
        psa_status_t s = call_run(c);
        if (s == PSA_SUCCESS)
                s = take_output(c, out, size, ret_len);
        explicit_bzero(reply_buf, SECD_WIRE_HEADER_SIZE + c->reply.output.len);
        call_end();
        return s;
}

static psa_status_t finish_plain(struct call *c)
{
        psa_status_t s = call_run(c);
        call_end();
        return s;
}

static psa_status_t finish_key_id(struct call *c, psa_key_id_t *key)
{
        psa_status_t s = call_run(c);
        if (s == PSA_SUCCESS && !(c->reply.present & SECD_BIT(SECD_TAG_KEY_ID)))
                s = PSA_ERROR_COMMUNICATION_FAILURE;
        if (s == PSA_SUCCESS)
                *key = c->reply.key_id;
        call_end();
        return s;
}

psa_status_t psa_get_key_attributes(psa_key_id_t key, psa_key_attributes_t *attributes)
{
        struct call c;
        call_start(&c, SECD_OP_GET_ATTRIBUTES);
        secd_put_u32(&c.w, SECD_TAG_KEY_ID, key);
        psa_status_t s = call_run(&c);
        if (s == PSA_SUCCESS && !(c.reply.present & SECD_BIT(SECD_TAG_ATTRS)))
                s = PSA_ERROR_COMMUNICATION_FAILURE;
        if (s == PSA_SUCCESS)
                *attributes = c.reply.attrs;
        call_end();
        return s;
}

psa_status_t psa_generate_key(const psa_key_attributes_t *attributes, psa_key_id_t *key)
{
        struct call c;
        call_start(&c, SECD_OP_GENERATE_KEY);
        secd_put_attrs(&c.w, attributes);
        return finish_key_id(&c, key);
}

psa_status_t psa_import_key(const psa_key_attributes_t *attributes, const uint8_t *data, size_t data_length,
                            psa_key_id_t *key)
{
        struct call c;
        call_start(&c, SECD_OP_IMPORT_KEY);
        secd_put_attrs(&c.w, attributes);
        secd_put_bytes(&c.w, SECD_TAG_INPUT, data, data_length);
        return finish_key_id(&c, key);
}

static psa_status_t export_common(uint16_t op, psa_key_id_t key, uint8_t *data, size_t data_size, size_t *data_length)
{
        struct call c;
        call_start(&c, op);
        secd_put_u32(&c.w, SECD_TAG_KEY_ID, key);
        secd_put_u32(&c.w, SECD_TAG_OUT_SIZE, clamp_u32(data_size));
        return finish_output(&c, data, data_size, data_length);
}

psa_status_t psa_export_key(psa_key_id_t key, uint8_t *data, size_t data_size, size_t *data_length)
{
        return export_common(SECD_OP_EXPORT_KEY, key, data, data_size, data_length);
}

psa_status_t psa_export_public_key(psa_key_id_t key, uint8_t *data, size_t data_size, size_t *data_length)
{
        return export_common(SECD_OP_EXPORT_PUBLIC_KEY, key, data, data_size, data_length);
}

psa_status_t psa_destroy_key(psa_key_id_t key)
{
        if (key == PSA_KEY_ID_NULL)
                return PSA_SUCCESS; /* the specification's no-op */
        struct call c;
        call_start(&c, SECD_OP_DESTROY_KEY);
        secd_put_u32(&c.w, SECD_TAG_KEY_ID, key);
        return finish_plain(&c);
}

/* sign_message, mac_compute, raw_key_agreement: key, alg, input in; bytes out. */
static psa_status_t key_alg_output(uint16_t op, psa_key_id_t key, psa_algorithm_t alg, const uint8_t *in,
                                   size_t in_length, uint8_t *out, size_t out_size, size_t *out_length)
{
        struct call c;
        call_start(&c, op);
        secd_put_u32(&c.w, SECD_TAG_KEY_ID, key);
        secd_put_u32(&c.w, SECD_TAG_ALG, alg);
        secd_put_bytes(&c.w, SECD_TAG_INPUT, in, in_length);
        secd_put_u32(&c.w, SECD_TAG_OUT_SIZE, clamp_u32(out_size));
        return finish_output(&c, out, out_size, out_length);
}

/* verify_message, mac_verify: key, alg, input and the signature or MAC to check. */
static psa_status_t key_alg_check(uint16_t op, psa_key_id_t key, psa_algorithm_t alg, const uint8_t *in,
                                  size_t in_length, const uint8_t *sig, size_t sig_length)
{
        struct call c;
        call_start(&c, op);
        secd_put_u32(&c.w, SECD_TAG_KEY_ID, key);
        secd_put_u32(&c.w, SECD_TAG_ALG, alg);
        secd_put_bytes(&c.w, SECD_TAG_INPUT, in, in_length);
        secd_put_bytes(&c.w, SECD_TAG_SIGNATURE, sig, sig_length);
        return finish_plain(&c);
}

psa_status_t psa_sign_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
                           uint8_t *signature, size_t signature_size, size_t *signature_length)
{
        return key_alg_output(SECD_OP_SIGN_HASH, key, alg, hash, hash_length, signature, signature_size,
                              signature_length);
}

psa_status_t psa_verify_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
                             const uint8_t *signature, size_t signature_length)
{
        return key_alg_check(SECD_OP_VERIFY_HASH, key, alg, hash, hash_length, signature, signature_length);
}

psa_status_t psa_sign_message(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                              uint8_t *signature, size_t signature_size, size_t *signature_length)
{
        return key_alg_output(SECD_OP_SIGN_MESSAGE, key, alg, input, input_length, signature, signature_size,
                              signature_length);
}

psa_status_t psa_verify_message(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                                const uint8_t *signature, size_t signature_length)
{
        return key_alg_check(SECD_OP_VERIFY_MESSAGE, key, alg, input, input_length, signature, signature_length);
}

psa_status_t psa_mac_compute(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                             uint8_t *mac, size_t mac_size, size_t *mac_length)
{
        return key_alg_output(SECD_OP_MAC_COMPUTE, key, alg, input, input_length, mac, mac_size, mac_length);
}

psa_status_t psa_mac_verify(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                            const uint8_t *mac, size_t mac_length)
{
        return key_alg_check(SECD_OP_MAC_VERIFY, key, alg, input, input_length, mac, mac_length);
}

psa_status_t psa_raw_key_agreement(psa_algorithm_t alg, psa_key_id_t private_key, const uint8_t *peer_key,
                                   size_t peer_key_length, uint8_t *output, size_t output_size, size_t *output_length)
{
        return key_alg_output(SECD_OP_RAW_KEY_AGREEMENT, private_key, alg, peer_key, peer_key_length, output,
                              output_size, output_length);
}

static psa_status_t aead_common(uint16_t op, psa_key_id_t key, psa_algorithm_t alg, const uint8_t *nonce,
                                size_t nonce_length, const uint8_t *ad, size_t ad_length, const uint8_t *in,
                                size_t in_length, uint8_t *out, size_t out_size, size_t *out_length)
{
        struct call c;
        call_start(&c, op);
        secd_put_u32(&c.w, SECD_TAG_KEY_ID, key);
        secd_put_u32(&c.w, SECD_TAG_ALG, alg);
        secd_put_bytes(&c.w, SECD_TAG_NONCE, nonce, nonce_length);
        if (ad_length)
                secd_put_bytes(&c.w, SECD_TAG_AAD, ad, ad_length);
        secd_put_bytes(&c.w, SECD_TAG_INPUT, in, in_length);
        secd_put_u32(&c.w, SECD_TAG_OUT_SIZE, clamp_u32(out_size));
        return finish_output(&c, out, out_size, out_length);
}

psa_status_t psa_aead_encrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *nonce, size_t nonce_length,
                              const uint8_t *additional_data, size_t additional_data_length, const uint8_t *plaintext,
                              size_t plaintext_length, uint8_t *ciphertext, size_t ciphertext_size,
                              size_t *ciphertext_length)
{
        return aead_common(SECD_OP_AEAD_ENCRYPT, key, alg, nonce, nonce_length, additional_data, additional_data_length,
                           plaintext, plaintext_length, ciphertext, ciphertext_size, ciphertext_length);
}

psa_status_t psa_aead_decrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *nonce, size_t nonce_length,
                              const uint8_t *additional_data, size_t additional_data_length, const uint8_t *ciphertext,
                              size_t ciphertext_length, uint8_t *plaintext, size_t plaintext_size,
                              size_t *plaintext_length)
{
        return aead_common(SECD_OP_AEAD_DECRYPT, key, alg, nonce, nonce_length, additional_data, additional_data_length,
                           ciphertext, ciphertext_length, plaintext, plaintext_size, plaintext_length);
}

psa_status_t psa_hash_compute(psa_algorithm_t alg, const uint8_t *input, size_t input_length, uint8_t *hash,
                              size_t hash_size, size_t *hash_length)
{
        struct call c;
        call_start(&c, SECD_OP_HASH_COMPUTE);
        secd_put_u32(&c.w, SECD_TAG_ALG, alg);
        secd_put_bytes(&c.w, SECD_TAG_INPUT, input, input_length);
        secd_put_u32(&c.w, SECD_TAG_OUT_SIZE, clamp_u32(hash_size));
        return finish_output(&c, hash, hash_size, hash_length);
}

psa_status_t psa_generate_random(uint8_t *output, size_t output_size)
{
        /* Large requests are served in pieces that fit a frame. */
        while (output_size) {
                size_t n = output_size < SECD_WIRE_MAX_DATA ? output_size : SECD_WIRE_MAX_DATA, got = 0;
                struct call c;
                call_start(&c, SECD_OP_GENERATE_RANDOM);
                secd_put_u32(&c.w, SECD_TAG_OUT_SIZE, (uint32_t) n);
                psa_status_t s = finish_output(&c, output, n, &got);
                if (s != PSA_SUCCESS)
                        return s;
                if (got != n)
                        return PSA_ERROR_COMMUNICATION_FAILURE;
                output += n;
                output_size -= n;
        }
        return PSA_SUCCESS;
}

psa_status_t psa_ps_set(psa_storage_uid_t uid, size_t data_length, const void *p_data,
                        psa_storage_create_flags_t create_flags)
{
        struct call c;
        call_start(&c, SECD_OP_PS_SET);
        secd_put_u64(&c.w, SECD_TAG_UID, uid);
        secd_put_u32(&c.w, SECD_TAG_FLAGS, create_flags);
        secd_put_bytes(&c.w, SECD_TAG_INPUT, p_data, data_length);
        return finish_plain(&c);
}

psa_status_t psa_ps_get(psa_storage_uid_t uid, size_t data_offset, size_t data_size, void *p_data,
                        size_t *p_data_length)
{
        struct call c;
        call_start(&c, SECD_OP_PS_GET);
        secd_put_u64(&c.w, SECD_TAG_UID, uid);
        secd_put_u32(&c.w, SECD_TAG_OFFSET, clamp_u32(data_offset));
        secd_put_u32(&c.w, SECD_TAG_OUT_SIZE, clamp_u32(data_size));
        return finish_output(&c, p_data, data_size, p_data_length);
}

psa_status_t psa_ps_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info)
{
        struct call c;
        call_start(&c, SECD_OP_PS_GET_INFO);
        secd_put_u64(&c.w, SECD_TAG_UID, uid);
        psa_status_t s = call_run(&c);
        if (s == PSA_SUCCESS && !(c.reply.present & SECD_BIT(SECD_TAG_INFO)))
                s = PSA_ERROR_COMMUNICATION_FAILURE;
        if (s == PSA_SUCCESS)
                *p_info = (struct psa_storage_info_t){c.reply.info.capacity, c.reply.info.size, c.reply.info.flags};
        call_end();
        return s;
}

psa_status_t psa_ps_remove(psa_storage_uid_t uid)
{
        struct call c;
        call_start(&c, SECD_OP_PS_REMOVE);
        secd_put_u64(&c.w, SECD_TAG_UID, uid);
        return finish_plain(&c);
}

uint32_t psa_ps_get_support(void)
{
        return 0;
}
