/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The algorithms of alder-secd's software backend beyond ECDSA and AES-GCM,
 * through secd_handle() as an app uses them: Ed25519 (RFC 8032), X25519
 * (RFC 7748) and ECDH on P-256/P-384, HMAC (RFC 4231), ChaCha20-Poly1305
 * (RFC 8439), RSA-PSS and PKCS#1 v1.5; known-answer vectors where the
 * algorithm is deterministic, round trips and tampering where it is not, and
 * the policy checks of import and export.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "secd-test.h"

#define ED25519_PAIR PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_TWISTED_EDWARDS)
#define ED25519_PUB  PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_TWISTED_EDWARDS)
#define X25519_PAIR  PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY)
#define SIGN_MSG     (PSA_KEY_USAGE_SIGN_MESSAGE | PSA_KEY_USAGE_VERIFY_MESSAGE)
#define MAC_USAGE    (PSA_KEY_USAGE_SIGN_MESSAGE | PSA_KEY_USAGE_VERIFY_MESSAGE)
#define HMAC_256     PSA_ALG_HMAC(PSA_ALG_SHA_256)
#define HMAC_384     PSA_ALG_HMAC(PSA_ALG_SHA_384)

static size_t unhex(const char *hex, uint8_t *out)
{
        size_t n = strlen(hex) / 2;
        for (size_t i = 0; i < n; i++)
                assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
        return n;
}

/* Asserts the reply's output is the hex string. */
static void assert_output(const char *hex)
{
        uint8_t want[512];
        size_t n = unhex(hex, want);
        assert_int_equal(reply.output.len, n);
        assert_memory_equal(reply.output.p, want, n);
}

/* RFC 8032, 7.1, TEST 1: the empty message. */
static const char ed_secret[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                  ed_public[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                  ed_sig[] =
                          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
                          "f9b46bd25bf5f0595bbe24655141438e7a100b";

static void test_ed25519_rfc8032(void **state)
{
        struct fixture *f = *state;
        uint8_t key[32], sig[64];
        unhex(ed_secret, key);
        unhex(ed_sig, sig);
        assert_int_equal(import(&f->d, &f->a, attrs(ED25519_PAIR, 0, SIGN_MSG, PSA_ALG_PURE_EDDSA, 1), key, 32, NULL),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_GET_ATTRIBUTES, 1, 0, NULL, 0, 0, NULL, 0, 0), PSA_SUCCESS);
        assert_int_equal(psa_get_key_bits(&reply.attrs), 255);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_PUBLIC_KEY, 1, 0, NULL, 0, 0, NULL, 0, 32), PSA_SUCCESS);
        assert_output(ed_public);
        /* the message is empty: an INPUT field of length 0 */
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_MESSAGE, 1, PSA_ALG_PURE_EDDSA, "", 0, 0, NULL, 0, 64),
                         PSA_SUCCESS);
        assert_output(ed_sig);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_MESSAGE, 1, PSA_ALG_PURE_EDDSA, "", 0, 0, NULL, 0, 63),
                         PSA_ERROR_BUFFER_TOO_SMALL);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_MESSAGE, 1, PSA_ALG_PURE_EDDSA, "", 0, SECD_TAG_SIGNATURE,
                                sig, 64, 0),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_MESSAGE, 1, PSA_ALG_PURE_EDDSA, "x", 1, SECD_TAG_SIGNATURE,
                                sig, 64, 0),
                         PSA_ERROR_INVALID_SIGNATURE);
        /* the public key alone verifies, in another app */
        uint8_t pub[32];
        unhex(ed_public, pub);
        psa_key_id_t pub_id = 0;
        assert_int_equal(import(&f->d, &f->b,
                                attrs(ED25519_PUB, 255, PSA_KEY_USAGE_VERIFY_MESSAGE, PSA_ALG_PURE_EDDSA, 0), pub, 32,
                                &pub_id),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->b, SECD_OP_VERIFY_MESSAGE, pub_id, PSA_ALG_PURE_EDDSA, "", 0,
                                SECD_TAG_SIGNATURE, sig, 64, 0),
                         PSA_SUCCESS);
        sig[10] ^= 1;
        assert_int_equal(key_op(&f->d, &f->b, SECD_OP_VERIFY_MESSAGE, pub_id, PSA_ALG_PURE_EDDSA, "", 0,
                                SECD_TAG_SIGNATURE, sig, 64, 0),
                         PSA_ERROR_INVALID_SIGNATURE);
        /* PureEdDSA is not a hash-and-sign algorithm: sign_hash refuses it */
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_HASH, 1, PSA_ALG_PURE_EDDSA, key, 32, 0, NULL, 0, 64),
                         PSA_ERROR_NOT_PERMITTED); /* the key has no SIGN_HASH usage */
        /* a generated key signs and verifies its own signature */
        assert_int_equal(generate(&f->d, &f->a,
                                  attrs(ED25519_PAIR, 255, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH,
                                        PSA_ALG_PURE_EDDSA, 2),
                                  NULL),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_HASH, 2, PSA_ALG_PURE_EDDSA, key, 32, 0, NULL, 0, 64),
                         PSA_ERROR_INVALID_ARGUMENT);
        /* SIGN_HASH implies SIGN_MESSAGE (PSA 1.1) */
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_MESSAGE, 2, PSA_ALG_PURE_EDDSA, "m", 1, 0, NULL, 0, 64),
                         PSA_SUCCESS);
        memcpy(sig, reply.output.p, 64);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_MESSAGE, 2, PSA_ALG_PURE_EDDSA, "m", 1, SECD_TAG_SIGNATURE,
                                sig, 64, 0),
                         PSA_SUCCESS);
}

/* RFC 4231 test cases 1 and 2, HMAC-SHA-256 and HMAC-SHA-384. */
static void test_hmac_rfc4231(void **state)
{
        struct fixture *f = *state;
        static const struct {
                const char *key, *data, *mac256, *mac384;
        } cases[] = {
                {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
                 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                 "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
                {"4a656665", "what do ya want for nothing?",
                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                 "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
        };
        for (size_t i = 0; i < 2; i++) {
                uint8_t key[32], mac[48];
                size_t klen = unhex(cases[i].key, key), dlen = strlen(cases[i].data);
                psa_key_id_t id256 = (psa_key_id_t) (10 + i), id384 = (psa_key_id_t) (20 + i);
                assert_int_equal(
                        import(&f->d, &f->a, attrs(PSA_KEY_TYPE_HMAC, 0, MAC_USAGE, HMAC_256, id256), key, klen, NULL),
                        PSA_SUCCESS);
                assert_int_equal(
                        import(&f->d, &f->a, attrs(PSA_KEY_TYPE_HMAC, 0, MAC_USAGE, HMAC_384, id384), key, klen, NULL),
                        PSA_SUCCESS);
                assert_int_equal(
                        key_op(&f->d, &f->a, SECD_OP_MAC_COMPUTE, id256, HMAC_256, cases[i].data, dlen, 0, NULL, 0, 64),
                        PSA_SUCCESS);
                assert_output(cases[i].mac256);
                assert_int_equal(
                        key_op(&f->d, &f->a, SECD_OP_MAC_COMPUTE, id384, HMAC_384, cases[i].data, dlen, 0, NULL, 0, 64),
                        PSA_SUCCESS);
                assert_output(cases[i].mac384);
                size_t mlen = unhex(cases[i].mac384, mac);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_MAC_VERIFY, id384, HMAC_384, cases[i].data, dlen,
                                        SECD_TAG_SIGNATURE, mac, mlen, 0),
                                 PSA_SUCCESS);
                mac[mlen - 1] ^= 0x80;
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_MAC_VERIFY, id384, HMAC_384, cases[i].data, dlen,
                                        SECD_TAG_SIGNATURE, mac, mlen, 0),
                                 PSA_ERROR_INVALID_SIGNATURE);
                /* a prefix of the right MAC is not the MAC */
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_MAC_VERIFY, id384, HMAC_384, cases[i].data, dlen,
                                        SECD_TAG_SIGNATURE, mac, 32, 0),
                                 PSA_ERROR_INVALID_SIGNATURE);
        }
        /* policy: the key's hash only; no truncated MACs; the output buffer must hold the MAC */
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_MAC_COMPUTE, 10, HMAC_384, "x", 1, 0, NULL, 0, 64),
                         PSA_ERROR_NOT_PERMITTED);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_MAC_COMPUTE, 10, HMAC_256, "x", 1, 0, NULL, 0, 31),
                         PSA_ERROR_BUFFER_TOO_SMALL);
        uint8_t key[32] = {1};
        assert_int_equal(
                import(&f->d, &f->a, attrs(PSA_KEY_TYPE_HMAC, 0, MAC_USAGE, HMAC_256 | (16u << 16), 30), key, 32, NULL),
                PSA_ERROR_NOT_SUPPORTED);
        assert_int_equal(import(&f->d, &f->a, attrs(PSA_KEY_TYPE_HMAC, 0, PSA_KEY_USAGE_VERIFY_MESSAGE, HMAC_256, 31),
                                key, 32, NULL),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_MAC_COMPUTE, 31, HMAC_256, "x", 1, 0, NULL, 0, 64),
                         PSA_ERROR_NOT_PERMITTED);
}

/* RFC 8439, 2.8.2. */
static void test_chacha20_poly1305_rfc8439(void **state)
{
        struct fixture *f = *state;
        static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
                                 "future, sunscreen would be it.";
        static const char ct_tag[] =
                "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71"
                "de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def0"
                "8e4b7a9de576d26586cec64b6116"
                "1ae10b594f09e26a7e902ecbd0600691";
        uint8_t key[32], nonce[12], aad[12], ct[200];
        for (int i = 0; i < 32; i++)
                key[i] = (uint8_t) (0x80 + i);
        unhex("070000004041424344454647", nonce);
        unhex("50515253c0c1c2c3c4c5c6c7", aad);
        size_t ct_len = unhex(ct_tag, ct);
        assert_int_equal(import(&f->d, &f->a, attrs(PSA_KEY_TYPE_CHACHA20, 256, ENC_DEC, PSA_ALG_CHACHA20_POLY1305, 1),
                                key, 32, NULL),
                         PSA_SUCCESS);
        for (int op = 0; op < 2; op++) {
                start(op ? SECD_OP_AEAD_DECRYPT : SECD_OP_AEAD_ENCRYPT);
                secd_put_u32(&w, SECD_TAG_KEY_ID, 1);
                secd_put_u32(&w, SECD_TAG_ALG, PSA_ALG_CHACHA20_POLY1305);
                secd_put_bytes(&w, SECD_TAG_NONCE, nonce, 12);
                secd_put_bytes(&w, SECD_TAG_AAD, aad, 12);
                secd_put_bytes(&w, SECD_TAG_INPUT, op ? (const void *) ct : pt, op ? ct_len : strlen(pt));
                secd_put_u32(&w, SECD_TAG_OUT_SIZE, 200);
                assert_int_equal(send_in(&f->d, &f->a), PSA_SUCCESS);
                if (op) {
                        assert_int_equal(reply.output.len, strlen(pt));
                        assert_memory_equal(reply.output.p, pt, strlen(pt));
                } else {
                        assert_output(ct_tag);
                }
        }
        /* tampering: ciphertext, tag, aad */
        for (int what = 0; what < 3; what++) {
                uint8_t bad[200], bad_aad[12];
                memcpy(bad, ct, ct_len);
                memcpy(bad_aad, aad, 12);
                if (what < 2)
                        bad[what ? ct_len - 1 : 0] ^= 1;
                else
                        bad_aad[0] ^= 1;
                start(SECD_OP_AEAD_DECRYPT);
                secd_put_u32(&w, SECD_TAG_KEY_ID, 1);
                secd_put_u32(&w, SECD_TAG_ALG, PSA_ALG_CHACHA20_POLY1305);
                secd_put_bytes(&w, SECD_TAG_NONCE, nonce, 12);
                secd_put_bytes(&w, SECD_TAG_AAD, bad_aad, 12);
                secd_put_bytes(&w, SECD_TAG_INPUT, bad, ct_len);
                secd_put_u32(&w, SECD_TAG_OUT_SIZE, 200);
                assert_int_equal(send_in(&f->d, &f->a), PSA_ERROR_INVALID_SIGNATURE);
        }
        /* a nonce of another size; ChaCha20 keys are 256 bits; GCM does not take a ChaCha20 key */
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_AEAD_ENCRYPT, 1, PSA_ALG_CHACHA20_POLY1305, pt, 5, SECD_TAG_NONCE,
                                nonce, 8, 100),
                         PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_CHACHA20, 128, ENC_DEC, 0, 2), NULL),
                         PSA_ERROR_NOT_SUPPORTED);
        assert_int_equal(generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_CHACHA20, 256, ENC_DEC, PSA_ALG_GCM, 2), NULL),
                         PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(
                generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_CHACHA20, 256, ENC_DEC, PSA_ALG_CHACHA20_POLY1305, 2), NULL),
                PSA_SUCCESS);
}

/* RFC 7748, 6.1: Alice's private key with Bob's public key. */
static void test_x25519_rfc7748(void **state)
{
        struct fixture *f = *state;
        uint8_t alice[32], bob_pub[32];
        unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", alice);
        unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bob_pub);
        assert_int_equal(
                import(&f->d, &f->a, attrs(X25519_PAIR, 255, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, 1), alice, 32, NULL),
                PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_PUBLIC_KEY, 1, 0, NULL, 0, 0, NULL, 0, 32), PSA_SUCCESS);
        assert_output("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, 1, PSA_ALG_ECDH, bob_pub, 32, 0, NULL, 0, 32),
                         PSA_SUCCESS);
        assert_output("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        /* a point of small order (all zeros) gives the all-zero secret: refused */
        static const uint8_t zero[32] = {0};
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, 1, PSA_ALG_ECDH, zero, 32, 0, NULL, 0, 32),
                         PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, 1, PSA_ALG_ECDH, bob_pub, 31, 0, NULL, 0, 32),
                         PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, 1, PSA_ALG_ECDH, bob_pub, 32, 0, NULL, 0, 31),
                         PSA_ERROR_BUFFER_TOO_SMALL);
        /* the private key is not exportable without EXPORT */
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_KEY, 1, 0, NULL, 0, 0, NULL, 0, 32),
                         PSA_ERROR_NOT_PERMITTED);
}

/* Two generated keys of each curve agree on the same secret; policy and bad points. */
static void test_ecdh_secp_r1(void **state)
{
        struct fixture *f = *state;
        static const size_t curves[] = {256, 384};
        for (size_t i = 0; i < 2; i++) {
                size_t bits = curves[i], n = bits / 8;
                uint8_t pub_a[97], pub_b[97], secret[48];
                psa_key_id_t ka = (psa_key_id_t) (1 + 2 * i), kb = ka + 1;
                for (psa_key_id_t id = ka; id <= kb; id++)
                        assert_int_equal(generate(&f->d, &f->a,
                                                  attrs(ECC_PAIR, bits, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, id), NULL),
                                         PSA_SUCCESS);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_PUBLIC_KEY, ka, 0, NULL, 0, 0, NULL, 0, 97),
                                 PSA_SUCCESS);
                memcpy(pub_a, reply.output.p, 1 + 2 * n);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_PUBLIC_KEY, kb, 0, NULL, 0, 0, NULL, 0, 97),
                                 PSA_SUCCESS);
                memcpy(pub_b, reply.output.p, 1 + 2 * n);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, ka, PSA_ALG_ECDH, pub_b, 1 + 2 * n, 0,
                                        NULL, 0, 48),
                                 PSA_SUCCESS);
                assert_int_equal(reply.output.len, n);
                memcpy(secret, reply.output.p, n);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, kb, PSA_ALG_ECDH, pub_a, 1 + 2 * n, 0,
                                        NULL, 0, 48),
                                 PSA_SUCCESS);
                assert_memory_equal(reply.output.p, secret, n);
                /* a point off the curve, a compressed point, a point of the other curve */
                pub_b[n] ^= 1;
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, ka, PSA_ALG_ECDH, pub_b, 1 + 2 * n, 0,
                                        NULL, 0, 48),
                                 PSA_ERROR_INVALID_ARGUMENT);
                pub_a[0] = 0x02;
                assert_int_equal(
                        key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, kb, PSA_ALG_ECDH, pub_a, 1 + n, 0, NULL, 0, 48),
                        PSA_ERROR_INVALID_ARGUMENT);
        }
        /* DERIVE is needed; ECDH does not go with an ECDSA key, nor with a public key or Ed25519 */
        assert_int_equal(generate(&f->d, &f->a, attrs(ECC_PAIR, 256, 0, PSA_ALG_ECDH, 9), NULL), PSA_SUCCESS);
        uint8_t p[65] = {4};
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, 9, PSA_ALG_ECDH, p, 65, 0, NULL, 0, 48),
                         PSA_ERROR_NOT_PERMITTED);
        assert_int_equal(generate(&f->d, &f->a, attrs(ECC_PAIR, 256, PSA_KEY_USAGE_DERIVE, ECDSA_256, 10), NULL),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_RAW_KEY_AGREEMENT, 10, PSA_ALG_ECDH, p, 65, 0, NULL, 0, 48),
                         PSA_ERROR_NOT_PERMITTED);
        assert_int_equal(generate(&f->d, &f->a, attrs(ED25519_PAIR, 255, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, 11), NULL),
                         PSA_ERROR_INVALID_ARGUMENT);
}

/* RSA-PSS and PKCS#1 v1.5 with a generated 2048-bit key; its public key in another app. */
static void test_rsa(void **state)
{
        struct fixture *f = *state;
        static const psa_algorithm_t algs[] = {PSA_ALG_RSA_PSS(PSA_ALG_SHA_256),
                                               PSA_ALG_RSA_PKCS1V15_SIGN(PSA_ALG_SHA_256)};
        uint8_t hash[32], sig[256], pub[400];
        memset(hash, 0x42, sizeof(hash));
        assert_int_equal(
                generate(&f->d, &f->a,
                         attrs(PSA_KEY_TYPE_RSA_KEY_PAIR, 2048, SIGN_VERIFY, PSA_ALG_RSA_PSS(PSA_ALG_ANY_HASH), 1),
                         NULL),
                PSA_SUCCESS);
        assert_int_equal(generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_RSA_KEY_PAIR, 2048, SIGN_VERIFY, algs[1], 2), NULL),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_PUBLIC_KEY, 1, 0, NULL, 0, 0, NULL, 0, 400), PSA_SUCCESS);
        size_t pub_len = reply.output.len;
        memcpy(pub, reply.output.p, pub_len);
        assert_int_equal(pub[0], 0x30); /* DER RSAPublicKey: SEQUENCE { n, e } */
        assert_in_range(pub_len, 260, 280);
        for (size_t i = 0; i < 2; i++) {
                psa_key_id_t id = (psa_key_id_t) (1 + i);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_HASH, id, algs[i], hash, 32, 0, NULL, 0, 255),
                                 PSA_ERROR_BUFFER_TOO_SMALL);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_HASH, id, algs[i], hash, 32, 0, NULL, 0, 256),
                                 PSA_SUCCESS);
                assert_int_equal(reply.output.len, 256);
                memcpy(sig, reply.output.p, 256);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_HASH, id, algs[i], hash, 32, SECD_TAG_SIGNATURE,
                                        sig, 256, 0),
                                 PSA_SUCCESS);
                sig[100] ^= 4;
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_VERIFY_HASH, id, algs[i], hash, 32, SECD_TAG_SIGNATURE,
                                        sig, 256, 0),
                                 PSA_ERROR_INVALID_SIGNATURE);
                assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_HASH, id, algs[i], hash, 31, 0, NULL, 0, 256),
                                 PSA_ERROR_INVALID_ARGUMENT);
        }
        /* sign_message hashes in secd: the signature verifies as a signature of the hash */
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_SIGN_MESSAGE, 1, algs[0], "abc", 3, 0, NULL, 0, 256),
                         PSA_SUCCESS);
        memcpy(sig, reply.output.p, 256);
        static const char abc_sha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        unhex(abc_sha256, hash);
        assert_int_equal(
                key_op(&f->d, &f->a, SECD_OP_VERIFY_HASH, 1, algs[0], hash, 32, SECD_TAG_SIGNATURE, sig, 256, 0),
                PSA_SUCCESS);
        /* the public key imported into app b verifies there; the bits come from the modulus */
        psa_key_id_t pub_id = 0;
        assert_int_equal(import(&f->d, &f->b,
                                attrs(PSA_KEY_TYPE_RSA_PUBLIC_KEY, 0, PSA_KEY_USAGE_VERIFY_MESSAGE, algs[0], 0), pub,
                                pub_len, &pub_id),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->b, SECD_OP_VERIFY_MESSAGE, pub_id, algs[0], "abc", 3, SECD_TAG_SIGNATURE,
                                sig, 256, 0),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->b, SECD_OP_GET_ATTRIBUTES, pub_id, 0, NULL, 0, 0, NULL, 0, 0), PSA_SUCCESS);
        assert_int_equal(psa_get_key_bits(&reply.attrs), 2048);
        /* a public key exports whatever its usage flags */
        assert_int_equal(key_op(&f->d, &f->b, SECD_OP_EXPORT_KEY, pub_id, 0, NULL, 0, 0, NULL, 0, 400), PSA_SUCCESS);
        assert_memory_equal(reply.output.p, pub, pub_len);
        /* bad DER, trailing bytes, bits that disagree, sizes not offered */
        pub[pub_len] = 0;
        assert_int_equal(import(&f->d, &f->b, attrs(PSA_KEY_TYPE_RSA_PUBLIC_KEY, 0, 0, 0, 5), pub, pub_len + 1, NULL),
                         PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(
                import(&f->d, &f->b, attrs(PSA_KEY_TYPE_RSA_PUBLIC_KEY, 0, 0, 0, 5), pub + 1, pub_len - 1, NULL),
                PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(import(&f->d, &f->b, attrs(PSA_KEY_TYPE_RSA_PUBLIC_KEY, 3072, 0, 0, 5), pub, pub_len, NULL),
                         PSA_ERROR_INVALID_ARGUMENT);
        assert_int_equal(generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_RSA_KEY_PAIR, 1024, SIGN_VERIFY, algs[0], 6), NULL),
                         PSA_ERROR_NOT_SUPPORTED);
        assert_int_equal(
                generate(&f->d, &f->a, attrs(PSA_KEY_TYPE_RSA_KEY_PAIR, 2048, SIGN_VERIFY, ECDSA_256, 6), NULL),
                PSA_ERROR_INVALID_ARGUMENT);
}

/* Import and export policy of every type: what is accepted, what each export gives. */
static void test_import_export_policy(void **state)
{
        struct fixture *f = *state;
        uint8_t key[32];
        unhex(ed_secret, key);
        /* exportable pairs export their private part in PSA format */
        assert_int_equal(import(&f->d, &f->a, attrs(ED25519_PAIR, 255, PSA_KEY_USAGE_EXPORT, 0, 1), key, 32, NULL),
                         PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_KEY, 1, 0, NULL, 0, 0, NULL, 0, 100), PSA_SUCCESS);
        assert_output(ed_secret);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_KEY, 1, 0, NULL, 0, 0, NULL, 0, 31),
                         PSA_ERROR_BUFFER_TOO_SMALL);
        assert_int_equal(import(&f->d, &f->a, attrs(ED25519_PAIR, 0, 0, 0, 2), key, 32, NULL), PSA_SUCCESS);
        assert_int_equal(key_op(&f->d, &f->a, SECD_OP_EXPORT_KEY, 2, 0, NULL, 0, 0, NULL, 0, 100),
                         PSA_ERROR_NOT_PERMITTED);
        static const struct {
                const char *what;
                psa_key_type_t type;
                size_t bits;
                psa_algorithm_t alg;
                size_t len;
                psa_status_t want;
        } cases[] = {
                {"Ed25519 of 31 bytes", ED25519_PAIR, 0, 0, 31, PSA_ERROR_INVALID_ARGUMENT},
                {"Ed25519 of 256 bits", ED25519_PAIR, 256, 0, 32, PSA_ERROR_INVALID_ARGUMENT},
                {"Ed25519 public of 33 bytes", ED25519_PUB, 0, 0, 33, PSA_ERROR_INVALID_ARGUMENT},
                {"X25519 with EdDSA", X25519_PAIR, 0, PSA_ALG_PURE_EDDSA, 32, PSA_ERROR_INVALID_ARGUMENT},
                {"Ed25519 with ECDSA", ED25519_PAIR, 0, ECDSA_256, 32, PSA_ERROR_INVALID_ARGUMENT},
                {"AES with HMAC", PSA_KEY_TYPE_AES, 0, HMAC_256, 16, PSA_ERROR_INVALID_ARGUMENT},
                {"HMAC with GCM", PSA_KEY_TYPE_HMAC, 0, PSA_ALG_GCM, 16, PSA_ERROR_INVALID_ARGUMENT},
                {"AES with CBC (not offered)", PSA_KEY_TYPE_AES, 0, 0x04404000, 16, PSA_ERROR_NOT_SUPPORTED},
                {"ChaCha20 of 16 bytes", PSA_KEY_TYPE_CHACHA20, 0, 0, 16, PSA_ERROR_NOT_SUPPORTED},
                {"RSA pair that is not DER", PSA_KEY_TYPE_RSA_KEY_PAIR, 0, 0, 32, PSA_ERROR_INVALID_ARGUMENT},
                {"Ed448 (not offered)", ED25519_PAIR, 448, 0, 57, PSA_ERROR_INVALID_ARGUMENT},
                {"HMAC-256 key", PSA_KEY_TYPE_HMAC, 0, HMAC_256, 32, PSA_SUCCESS},
        };
        uint8_t data[64];
        memset(data, 0x33, sizeof(data));
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                psa_status_t st = import(&f->d, &f->a, attrs(cases[i].type, cases[i].bits, 0, cases[i].alg, 0), data,
                                         cases[i].len, NULL);
                if (st != cases[i].want)
                        fail_msg("%s: got %d, want %d", cases[i].what, (int) st, (int) cases[i].want);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ed25519_rfc8032, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hmac_rfc4231, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chacha20_poly1305_rfc8439, setup, teardown),
                cmocka_unit_test_setup_teardown(test_x25519_rfc7748, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ecdh_secp_r1, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rsa, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_export_policy, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
