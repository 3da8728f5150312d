/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd's request handling with the software backend
 * (device/secd/dispatch.c, backend-soft.c, crypto.c): frames in, frames out,
 * without sockets. Policy, isolation between sessions, volatile keys, bad
 * attributes and the cryptography itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secd-test.h"

static psa_status_t sign(struct secd *d, struct secd_session *s, psa_key_id_t id, psa_algorithm_t alg,
                         const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t *sig_len)
{
        psa_status_t st = key_op(d, s, SECD_OP_SIGN_HASH, id, alg, hash, hash_len, 0, NULL, 0, 200);
        if (st == PSA_SUCCESS) {
                memcpy(sig, reply.output.p, reply.output.len);
                *sig_len = reply.output.len;
        }
        return st;
}

static psa_status_t verify(struct secd *d, struct secd_session *s, psa_key_id_t id, const uint8_t *hash,
                           size_t hash_len, const uint8_t *sig, size_t sig_len)
{
        return key_op(d, s, SECD_OP_VERIFY_HASH, id, ECDSA_256, hash, hash_len, SECD_TAG_SIGNATURE, sig, sig_len, 0);
}

static void test_ecdsa_sign_verify(void **state)
{
        struct fixture *f = *state;
        static const struct {
                size_t bits;
                psa_algorithm_t alg;
                size_t hash_len;
        } curves[] = {{256, ECDSA_256, 32}, {384, PSA_ALG_ECDSA(PSA_ALG_SHA_384), 48}};
        for (size_t i = 0; i < 2; i++) {
                psa_key_id_t id = (psa_key_id_t) (10 + i);
                uint8_t hash[48], sig[200];
                size_t sig_len = 0;
                memset(hash, 0x5a, sizeof(hash));
                assert_int_equal(
                        generate(&f->d, &f->a, attrs(ECC_PAIR, curves[i].bits, SIGN_VERIFY, curves[i].alg, id), NULL),
                        PSA_SUCCESS);
                assert_int_equal(sign(&f->d, &f->a, id, curves[i].alg, hash, curves[i].hash_len, sig, &sig_len),
                                 PSA_SUCCESS);
                assert_int_equal(sig_len, 2 * curves[i].bits / 8);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_HASH, id, curves[i].alg, hash, curves[i].hash_len,
                                        SECD_TAG_SIGNATURE, sig, sig_len, 0),
                                 PSA_SUCCESS);
                sig[3] ^= 1;
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_HASH, id, curves[i].alg, hash, curves[i].hash_len,
                                        SECD_TAG_SIGNATURE, sig, sig_len, 0),
                                 PSA_ERROR_INVALID_SIGNATURE);
                /* wrong hash size for the algorithm; a signature of the wrong size */
                assert_int_equal(sign(&f->d, &f->a, id, curves[i].alg, hash, 20, sig, &sig_len),
                                 PSA_ERROR_INVALID_ARGUMENT);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_HASH, id, curves[i].alg, hash, curves[i].hash_len,
                                        SECD_TAG_SIGNATURE, sig, 3, 0),
                                 PSA_ERROR_INVALID_SIGNATURE);
        }
}

static void test_public_key_import_verifies(void **state)
{
        struct fixture *f = *state;
        uint8_t hash[32] = {1}, sig[200], pub[65];
        size_t sig_len = 0;
        psa_key_id_t pub_id = 0;
        assert_int_equal(generate(&f->d, &f->a, attrs(ECC_PAIR, 256, SIGN_VERIFY, ECDSA_256, 1), NULL), PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_PUBLIC_KEY, 1, 0, NULL, 0, 0, NULL, 0, 65), PSA_SUCCESS);
        memcpy(pub, reply.output.p, 65);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_PUBLIC_KEY, 1, 0, NULL, 0, 0, NULL, 0, 64),
                         PSA_ERROR_BUFFER_TOO_SMALL);
        assert_int_equal(sign(&f->d, &f->a, 1, ECDSA_256, hash, 32, sig, &sig_len), PSA_SUCCESS);
        /* the public key imported into another app verifies the signature there */
        assert_int_equal(
                import(&f->d, &f->b, attrs(ECC_PUB, 0, PSA_KEY_USAGE_VERIFY_HASH, ECDSA_256, 0), pub, 65, &pub_id),
                PSA_SUCCESS);
        assert_true(pub_id >= PSA_KEY_ID_VENDOR_MIN);
        assert_int_equal(verify(&f->d, &f->b, pub_id, hash, 32, sig, sig_len), PSA_SUCCESS);
        /* a public key cannot sign */
        assert_int_equal(sign(&f->d, &f->b, pub_id, ECDSA_256, hash, 32, sig, &sig_len), PSA_ERROR_NOT_PERMITTED);
}

static void test_import_export_pair(void **state)
{
        struct fixture *f = *state;
        uint8_t scalar[32];
        memset(scalar, 0x11, sizeof(scalar));
        assert_int_equal(import(&f->d, &f->a,
                                attrs(ECC_PAIR, 0, PSA_KEY_USAGE_EXPORT | PSA_KEY_USAGE_SIGN_HASH, ECDSA_256, 2),
                                scalar, 32, NULL),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_KEY, 2, 0, NULL, 0, 0, NULL, 0, 100), PSA_SUCCESS);
        assert_int_equal(reply.output.len, 32);
        assert_memory_equal(reply.output.p, scalar, 32);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_GET_ATTRIBUTES, 2, 0, NULL, 0, 0, NULL, 0, 0), PSA_SUCCESS);
        assert_int_equal(psa_get_key_bits(&reply.attrs), 256); /* filled in from the data */
        assert_int_equal(psa_get_key_lifetime(&reply.attrs), PSA_KEY_LIFETIME_PERSISTENT);
}

static const uint8_t nonce[12] = {9}, aad[3] = "hdr";

/* AES-GCM with key 3, the nonce and aad above, into a 64-byte buffer. */
static psa_status_t gcm(struct fixture *f, uint16_t op, const uint8_t *in, size_t len)
{
        start(op);
        secd_put_u32(&w, SECD_TAG_KEY_ID, 3);
        secd_put_u32(&w, SECD_TAG_ALG, PSA_ALG_GCM);
        secd_put_bytes(&w, SECD_TAG_NONCE, nonce, 12);
        secd_put_bytes(&w, SECD_TAG_AAD, aad, 3);
        secd_put_bytes(&w, SECD_TAG_INPUT, in, len);
        secd_put_u32(&w, SECD_TAG_OUT_SIZE, 64);
        return send_in(&f->d, &f->a);
}

static void test_aead(void **state)
{
        struct fixture *f = *state;
        static const uint8_t pt[5] = "hello";
        uint8_t ct[64];
        assert_int_equal(generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 256, ENC_DEC, PSA_ALG_GCM, 3), NULL),
                         PSA_SUCCESS);
        assert_int_equal(gcm(f, SECD_OP_AEAD_ENCRYPT, pt, 5), PSA_SUCCESS);
        assert_int_equal(reply.output.len, 21);
        memcpy(ct, reply.output.p, 21);
        for (int tamper = 0; tamper < 2; tamper++) {
                ct[0] ^= (uint8_t) tamper;
                psa_status_t st = gcm(f, SECD_OP_AEAD_DECRYPT, ct, 21);
                assert_int_equal(st, tamper ? PSA_ERROR_INVALID_SIGNATURE : PSA_SUCCESS);
                if (!tamper)
                        assert_memory_equal(reply.output.p, pt, 5);
        }
        /* too short to hold a tag; output buffer too small */
        assert_int_equal(
                key_op(&f->d, &f->a, SECD_OP_AEAD_DECRYPT, 3, PSA_ALG_GCM, ct, 15, SECD_TAG_NONCE, nonce, 12, 64),
                PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(
                key_op(&f->d, &f->a, SECD_OP_AEAD_ENCRYPT, 3, PSA_ALG_GCM, pt, 5, SECD_TAG_NONCE, nonce, 12, 20),
                PSA_ERROR_BUFFER_TOO_SMALL);
}

static void test_policy(void **state)
{
        struct fixture *f = *state;
        uint8_t hash[32] = {0}, sig[200];
        size_t sig_len = 0;
        assert_int_equal(generate(&f->d, &f->a, attrs(ECC_PAIR, 256, PSA_KEY_USAGE_SIGN_HASH, ECDSA_256, 1), NULL),
                         PSA_SUCCESS);
        assert_int_equal(generate(&f->d, &f->a,
                                  attrs(ECC_PAIR, 256, PSA_KEY_USAGE_SIGN_HASH, PSA_ALG_ECDSA(0x020000ff), 2), NULL),
                         PSA_SUCCESS);
        assert_int_equal(
                generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 128, PSA_KEY_USAGE_ENCRYPT, PSA_ALG_GCM, 3), NULL),
                PSA_SUCCESS);
        static const struct {
                const char *what;
                uint16_t op;
                psa_key_id_t id;
                psa_algorithm_t alg;
                psa_status_t want;
        } cases[] = {
                {"export without EXPORT", SECD_OP_EXPORT_KEY, 1, 0, PSA_ERROR_NOT_PERMITTED},
                {"export AES without EXPORT", SECD_OP_EXPORT_KEY, 3, 0, PSA_ERROR_NOT_PERMITTED},
                {"public part of AES", SECD_OP_EXPORT_PUBLIC_KEY, 3, 0, PSA_ERROR_INVALID_ARGUMENT},
                {"sign with another hash", SECD_OP_SIGN_HASH, 1, PSA_ALG_ECDSA(PSA_ALG_SHA_384),
                 PSA_ERROR_NOT_PERMITTED},
                {"sign with any-hash key", SECD_OP_SIGN_HASH, 2, ECDSA_256, PSA_SUCCESS},
                {"sign with the wildcard itself", SECD_OP_SIGN_HASH, 2, PSA_ALG_ECDSA(0x020000ff),
                 PSA_ERROR_INVALID_ARGUMENT},
                {"verify without VERIFY_HASH", SECD_OP_VERIFY_HASH, 1, ECDSA_256, PSA_ERROR_NOT_PERMITTED},
                {"sign with AES", SECD_OP_SIGN_HASH, 3, PSA_ALG_GCM, PSA_ERROR_NOT_PERMITTED},
                {"key that does not exist", SECD_OP_SIGN_HASH, 99, ECDSA_256, PSA_ERROR_INVALID_HANDLE},
                {"key id 0", SECD_OP_SIGN_HASH, 0, ECDSA_256, PSA_ERROR_INVALID_HANDLE},
                {"key id past the vendor range", SECD_OP_SIGN_HASH, 0xffffffff, ECDSA_256, PSA_ERROR_INVALID_HANDLE},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                psa_status_t st;
                if (cases[i].op == SECD_OP_VERIFY_HASH)
                        st = key_op(&f->d, &f->a, cases[i].op, cases[i].id, cases[i].alg, hash, 32, SECD_TAG_SIGNATURE,
                                    sig, 64, 0);
                else if (cases[i].op == SECD_OP_SIGN_HASH)
                        st = sign(&f->d, &f->a, cases[i].id, cases[i].alg, hash, 32, sig, &sig_len);
                else
                        st = key_op(&f->d, &f->a, cases[i].op, cases[i].id, 0, NULL, 0, 0, NULL, 0, 100);
                if (st != cases[i].want)
                        fail_msg("%s: got %d, want %d", cases[i].what, (int) st, (int) cases[i].want);
        }
}

static void test_bad_attributes(void **state)
{
        struct fixture *f = *state;
        static const struct {
                const char *what;
                psa_key_type_t type;
                size_t bits;
                psa_key_usage_t usage;
                psa_key_lifetime_t lifetime;
                psa_key_id_t id;
                psa_status_t want;
        } cases[] = {
                {"type none", 0, 128, 0, 1, 1, PSA_ERROR_INVALID_ARGUMENT},
                {"unknown type", 0x7fff, 128, 0, 1, 1, PSA_ERROR_NOT_SUPPORTED},
                {"curve family secp_k1", 0x7117, 256, 0, 1, 1, PSA_ERROR_NOT_SUPPORTED},
                {"P-521", ECC_PAIR, 521, 0, 1, 1, PSA_ERROR_NOT_SUPPORTED},
                {"AES-100", PSA_KEY_TYPE_AES, 100, 0, 1, 1, PSA_ERROR_NOT_SUPPORTED},
                {"AES without bits", PSA_KEY_TYPE_AES, 0, 0, 1, 1, PSA_ERROR_NOT_SUPPORTED},
                {"HMAC of 7 bits", PSA_KEY_TYPE_HMAC, 7, 0, 1, 1, PSA_ERROR_INVALID_ARGUMENT},
                {"generated public key", ECC_PUB, 256, 0, 1, 1, PSA_ERROR_INVALID_ARGUMENT},
                {"unknown usage bit", PSA_KEY_TYPE_AES, 128, 0x80000000u, 1, 1, PSA_ERROR_INVALID_ARGUMENT},
                {"persistent id 0", PSA_KEY_TYPE_AES, 128, 0, 1, 0, PSA_ERROR_INVALID_ARGUMENT},
                {"persistent vendor id", PSA_KEY_TYPE_AES, 128, 0, 1, PSA_KEY_ID_VENDOR_MIN,
                 PSA_ERROR_INVALID_ARGUMENT},
                {"volatile with an id", PSA_KEY_TYPE_AES, 128, 0, 0, 5, PSA_ERROR_INVALID_ARGUMENT},
                {"other storage location", PSA_KEY_TYPE_AES, 128, 0, 0x00010001, 5, PSA_ERROR_NOT_SUPPORTED},
                {"HMAC-256", PSA_KEY_TYPE_HMAC, 256, 0, 1, 7, PSA_SUCCESS},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                psa_key_attributes_t a = attrs(cases[i].type, cases[i].bits, cases[i].usage, 0, 0);
                a.private_lifetime = cases[i].lifetime;
                a.private_id = cases[i].id;
                psa_status_t st = generate(&f->d, &f->a, a, NULL);
                if (st != cases[i].want)
                        fail_msg("%s: got %d, want %d", cases[i].what, (int) st, (int) cases[i].want);
        }
        static const uint8_t zeros[65] = {0},
                             ones[32] = {0xff, 0xff, 0xff, 0xff, 0,    0,    0,    0,    0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        static const struct {
                const char *what;
                psa_key_type_t type;
                size_t bits;
                const uint8_t *data;
                size_t len;
                psa_status_t want;
        } imports[] = {
                {"zero scalar", ECC_PAIR, 0, zeros, 32, PSA_ERROR_INVALID_ARGUMENT},
                {"scalar above the order", ECC_PAIR, 0, ones, 32, PSA_ERROR_INVALID_ARGUMENT},
                {"scalar of 31 bytes", ECC_PAIR, 0, ones, 31, PSA_ERROR_NOT_SUPPORTED},
                {"bits disagree with data", ECC_PAIR, 384, ones, 32, PSA_ERROR_INVALID_ARGUMENT},
                {"point not on the curve", ECC_PUB, 0, zeros, 65, PSA_ERROR_INVALID_ARGUMENT},
                {"point of even length", ECC_PUB, 0, zeros, 64, PSA_ERROR_INVALID_ARGUMENT},
                {"empty key", PSA_KEY_TYPE_AES, 0, zeros, 0, PSA_ERROR_INVALID_ARGUMENT},
                {"AES of 17 bytes", PSA_KEY_TYPE_AES, 0, zeros, 17, PSA_ERROR_NOT_SUPPORTED},
        };
        for (size_t i = 0; i < sizeof(imports) / sizeof(imports[0]); i++) {
                psa_status_t st = import(&f->d, &f->a, attrs(imports[i].type, imports[i].bits, 0, 0, 30),
                                         imports[i].data, imports[i].len, NULL);
                if (st != imports[i].want)
                        fail_msg("%s: got %d, want %d", imports[i].what, (int) st, (int) imports[i].want);
        }
}

static void test_sessions_are_isolated(void **state)
{
        struct fixture *f = *state;
        psa_key_id_t vol = 0;
        uint8_t key[16] = {0};
        assert_int_equal(generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 128, PSA_KEY_USAGE_EXPORT, 0, 1), NULL),
                         PSA_SUCCESS);
        assert_int_equal(import(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 0, PSA_KEY_USAGE_EXPORT, 0, 0), key, 16, &vol),
                         PSA_SUCCESS);
        for (int k = 0; k < 2; k++) {
                psa_key_id_t id = k ? vol : 1;
                assert_int_equal(key_op(&f->d, &f->b, SECD_OP_EXPORT_KEY, id, 0, NULL, 0, 0, NULL, 0, 100),
                                 PSA_ERROR_INVALID_HANDLE);
                assert_int_equal(key_op(&f->d, &f->b, SECD_OP_DESTROY_KEY, id, 0, NULL, 0, 0, NULL, 0, 0),
                                 PSA_ERROR_INVALID_HANDLE);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_KEY, id, 0, NULL, 0, 0, NULL, 0, 100),
                                 PSA_SUCCESS);
        }
        /* the admin session reaches app a's persistent keys only by naming it */
        start(SECD_OP_KEY_LIST);
        assert_int_equal(send_in(&f->d, &f->admin), PSA_ERROR_INVALID_ARGUMENT);
        start(SECD_OP_KEY_LIST);
        secd_put_bytes(&w, SECD_TAG_APP, "a", 1);
        assert_int_equal(send_in(&f->d, &f->admin), PSA_SUCCESS);
        assert_int_equal(reply.output.len, SECD_WIRE_ATTRS_SIZE);
        start(SECD_OP_KEY_LIST);
        secd_put_bytes(&w, SECD_TAG_APP, "a\0b", 3);
        assert_int_equal(send_in(&f->d, &f->admin), PSA_ERROR_INVALID_ARGUMENT);
        /* app a's socket may not name an app, not even itself */
        start(SECD_OP_KEY_LIST);
        secd_put_bytes(&w, SECD_TAG_APP, "a", 1);
        assert_int_equal(send_in(&f->d, &f->a), PSA_ERROR_INVALID_ARGUMENT);
}

static psa_status_t admin_app(struct fixture *f, uint16_t op, const char *cgroup, size_t cgroup_len,
                              const uint32_t *flags)
{
        start(op);
        secd_put_bytes(&w, SECD_TAG_APP, "a", 1);
        if (cgroup)
                secd_put_bytes(&w, SECD_TAG_CGROUP, cgroup, cgroup_len);
        if (flags)
                secd_put_u32(&w, SECD_TAG_FLAGS, *flags);
        return send_in(&f->d, &f->admin);
}

/* app_add checks its cgroup prefix; app_remove keeps the keys unless told to purge them. */
static void test_app_add_and_remove(void **state)
{
        struct fixture *f = *state;
        static const uint32_t keep = 0, purge = SECD_APP_REMOVE_PURGE, unknown = 2;
        assert_int_equal(admin_app(f, SECD_OP_APP_ADD, "/alder/a.", 9, NULL), PSA_SUCCESS);
        assert_int_equal(admin_app(f, SECD_OP_APP_ADD, "", 0, NULL), PSA_SUCCESS); /* clears it */
        assert_int_equal(admin_app(f, SECD_OP_APP_ADD, "alder/a.", 8, NULL), PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(admin_app(f, SECD_OP_APP_ADD, "/a\nb", 4, NULL), PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(admin_app(f, SECD_OP_APP_ADD, "/a\0b", 4, NULL), PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 128, PSA_KEY_USAGE_EXPORT, 0, 1), NULL),
                         PSA_SUCCESS);
        assert_int_equal(admin_app(f, SECD_OP_APP_REMOVE, NULL, 0, &unknown), PSA_ERROR_NOT_SUPPORTED);
        assert_int_equal(admin_app(f, SECD_OP_APP_REMOVE, NULL, 0, &keep), PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_GET_ATTRIBUTES, 1, 0, NULL, 0, 0, NULL, 0, 0), PSA_SUCCESS);
        assert_int_equal(admin_app(f, SECD_OP_APP_REMOVE, NULL, 0, &purge), PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_GET_ATTRIBUTES, 1, 0, NULL, 0, 0, NULL, 0, 0),
                         PSA_ERROR_INVALID_HANDLE);
        assert_int_equal(admin_app(f, SECD_OP_APP_REMOVE, NULL, 0, &purge), PSA_SUCCESS); /* gone: no error */
        /* app sockets may do neither */
        start(SECD_OP_APP_REMOVE);
        assert_int_equal(send_in(&f->d, &f->a), PSA_ERROR_NOT_PERMITTED);
}

static void test_volatile_keys(void **state)
{
        struct fixture *f = *state;
        uint8_t key[16] = {0};
        psa_key_id_t ids[SECD_MAX_VOLATILE] = {0}, extra = 0;
        for (size_t i = 0; i < SECD_MAX_VOLATILE; i++)
                assert_int_equal(import(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 0, 0, 0, 0), key, 16, &ids[i]),
                                 PSA_SUCCESS);
        assert_int_equal(import(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 0, 0, 0, 0), key, 16, &extra),
                         PSA_ERROR_INSUFFICIENT_MEMORY);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_DESTROY_KEY, ids[5], 0, NULL, 0, 0, NULL, 0, 0), PSA_SUCCESS);
        assert_int_equal(import(&f->d, &f->a, attrs(PSA_KEY_TYPE_AES, 0, 0, 0, 0), key, 16, &extra), PSA_SUCCESS);
        assert_int_equal(extra, ids[5]);
        /* the admin socket has none */
        start(SECD_OP_IMPORT_KEY);
        psa_key_attributes_t a = attrs(PSA_KEY_TYPE_AES, 0, 0, 0, 0);
        secd_put_attrs(&w, &a);
        secd_put_bytes(&w, SECD_TAG_INPUT, key, 16);
        secd_put_bytes(&w, SECD_TAG_APP, "a", 1);
        assert_int_equal(send_in(&f->d, &f->admin), PSA_ERROR_NOT_SUPPORTED);
}

static void test_hash_random_and_storage(void **state)
{
        struct fixture *f = *state;
        start(SECD_OP_HASH_COMPUTE);
        secd_put_u32(&w, SECD_TAG_ALG, PSA_ALG_SHA_256);
        secd_put_bytes(&w, SECD_TAG_INPUT, "abc", 3);
        secd_put_u32(&w, SECD_TAG_OUT_SIZE, 32);
        assert_int_equal(send_in(&f->d, &f->a), PSA_SUCCESS);
        assert_memory_equal(reply.output.p, "\xba\x78\x16\xbf\x8f\x01\xcf\xea", 8);
        start(SECD_OP_HASH_COMPUTE);
        secd_put_u32(&w, SECD_TAG_ALG, 0x02000005); /* SHA-1: not offered */
        secd_put_bytes(&w, SECD_TAG_INPUT, "abc", 3);
        secd_put_u32(&w, SECD_TAG_OUT_SIZE, 32);
        assert_int_equal(send_in(&f->d, &f->a), PSA_ERROR_NOT_SUPPORTED);
        start(SECD_OP_GENERATE_RANDOM);
        secd_put_u32(&w, SECD_TAG_OUT_SIZE, SECD_WIRE_MAX_DATA + 1);
        assert_int_equal(send_in(&f->d, &f->a), PSA_ERROR_INVALID_ARGUMENT);

        start(SECD_OP_PS_SET);
        secd_put_u64(&w, SECD_TAG_UID, 1);
        secd_put_u32(&w, SECD_TAG_FLAGS, 1u << 8);
        secd_put_bytes(&w, SECD_TAG_INPUT, "x", 1);
        assert_int_equal(send_in(&f->d, &f->a), PSA_ERROR_NOT_SUPPORTED);
        start(SECD_OP_PS_SET);
        secd_put_u64(&w, SECD_TAG_UID, 1);
        secd_put_u32(&w, SECD_TAG_FLAGS, 0);
        secd_put_bytes(&w, SECD_TAG_INPUT, "secret", 6);
        assert_int_equal(send_in(&f->d, &f->a), PSA_SUCCESS);
        start(SECD_OP_PS_GET);
        secd_put_u64(&w, SECD_TAG_UID, 1);
        secd_put_u32(&w, SECD_TAG_OFFSET, 7);
        secd_put_u32(&w, SECD_TAG_OUT_SIZE, 10);
        assert_int_equal(send_in(&f->d, &f->a), PSA_ERROR_INVALID_ARGUMENT);
        start(SECD_OP_PS_GET_INFO);
        secd_put_u64(&w, SECD_TAG_UID, 1);
        assert_int_equal(send_in(&f->d, &f->b), PSA_ERROR_DOES_NOT_EXIST);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ecdsa_sign_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_public_key_import_verifies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_export_pair, setup, teardown),
                cmocka_unit_test_setup_teardown(test_aead, setup, teardown),
                cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_attributes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sessions_are_isolated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_app_add_and_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_volatile_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hash_random_and_storage, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
