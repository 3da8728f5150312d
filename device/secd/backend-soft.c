/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Software key backend (OpenSSL 3). The blob is the key material:
 *   - raw bytes for AES, ChaCha20, HMAC and raw-data keys;
 *   - secp_r1 (P-256, P-384): the private scalar followed by the uncompressed
 *     public point for a key pair, the point alone for a public key (keeping
 *     the point saves a scalar multiplication on every operation);
 *   - Ed25519 and X25519: the 32-byte private key followed by the 32-byte
 *     public key for a pair, the public key alone otherwise;
 *   - RSA: DER RSAPrivateKey (pair) or RSAPublicKey (public key), PKCS#1.
 * Export formats are those of the PSA Crypto API 1.1 (docs/api/secd.md).
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "backend.h"
#include "crypto.h"

#define RAW25519_BYTES 32u

static void pkey_freep(EVP_PKEY **p)
{
        EVP_PKEY_free(*p);
}
static void pkey_ctx_freep(EVP_PKEY_CTX **p)
{
        EVP_PKEY_CTX_free(*p);
}
static void md_ctx_freep(EVP_MD_CTX **p)
{
        EVP_MD_CTX_free(*p);
}
static void bn_freep(BIGNUM **p)
{
        BN_clear_free(*p);
}
static void ecdsa_sig_freep(ECDSA_SIG **p)
{
        ECDSA_SIG_free(*p);
}
#define _cleanup_pkey_     __attribute__((cleanup(pkey_freep)))
#define _cleanup_pkey_ctx_ __attribute__((cleanup(pkey_ctx_freep)))
#define _cleanup_md_ctx_   __attribute__((cleanup(md_ctx_freep)))
#define _cleanup_bn_       __attribute__((cleanup(bn_freep)))

static psa_ecc_family_t ecc_family(psa_key_type_t type)
{
        return PSA_KEY_TYPE_IS_ECC(type) ? PSA_KEY_TYPE_ECC_GET_FAMILY(type) : 0;
}

/* The OpenSSL group of a SECP_R1 curve size; NULL for anything else. */
static const char *ecc_group(psa_key_type_t type, size_t bits)
{
        if (ecc_family(type) != PSA_ECC_FAMILY_SECP_R1)
                return NULL;
        return bits == 256 ? "P-256" : bits == 384 ? "P-384" : NULL;
}

/* EVP_PKEY_ED25519 / EVP_PKEY_X25519 for the 255-bit curves, 0 for other types. */
static int raw25519_id(psa_key_type_t type, size_t bits)
{
        if (bits != 255 && bits != 0)
                return 0;
        psa_ecc_family_t f = ecc_family(type);
        return f == PSA_ECC_FAMILY_TWISTED_EDWARDS ? EVP_PKEY_ED25519
               : f == PSA_ECC_FAMILY_MONTGOMERY    ? EVP_PKEY_X25519
                                                   : 0;
}

static size_t ecc_bytes(size_t bits)
{
        return (bits + 7) / 8;
}

static EVP_PKEY *pkey_build(psa_key_type_t type, size_t bits, const uint8_t *blob, size_t blob_len);

/*
 * The last key built, for the next operation with the same key: building an
 * EVP_PKEY from parameters costs OpenSSL 3 more than an ECDSA signature (and
 * parsing an RSA key more than that). Compared by type and whole blob, so
 * another app's key never matches.
 */
static struct {
        EVP_PKEY *pkey;
        psa_key_type_t type;
        size_t len;
        uint8_t blob[SECD_KEY_BLOB_MAX];
} last;

/* The EVP_PKEY of an asymmetric key's blob; the caller frees it. */
static EVP_PKEY *key_pkey(psa_key_type_t type, size_t bits, const uint8_t *blob, size_t blob_len)
{
        if (last.pkey && last.type == type && last.len == blob_len && CRYPTO_memcmp(last.blob, blob, blob_len) == 0)
                return EVP_PKEY_up_ref(last.pkey) ? last.pkey : NULL;
        EVP_PKEY *pkey = pkey_build(type, bits, blob, blob_len);
        if (pkey && blob_len <= sizeof(last.blob) && EVP_PKEY_up_ref(pkey)) {
                EVP_PKEY_free(last.pkey);
                last.pkey = pkey;
                last.type = type;
                last.len = blob_len;
                memcpy(last.blob, blob, blob_len);
        }
        return pkey;
}

static EVP_PKEY *k_pkey(const struct secd_key *k)
{
        return key_pkey(k->attrs.private_type, k->attrs.private_bits, k->blob, k->blob_len);
}

static EVP_PKEY *secp_pkey_build(psa_key_type_t type, size_t bits, const uint8_t *blob, size_t blob_len)
{
        const char *group = ecc_group(type, bits);
        size_t n = ecc_bytes(bits);
        bool pair = PSA_KEY_TYPE_IS_KEY_PAIR(type);
        if (!group || blob_len != (pair ? n : 0) + 1 + 2 * n)
                return NULL;
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_bn_ BIGNUM *priv = pair ? BN_bin2bn(blob, (int) n, NULL) : NULL;
        OSSL_PARAM *params = NULL;
        if (bld && (!pair || priv) && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, blob + (pair ? n : 0), 1 + 2 * n) &&
            (!pair || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
                params = OSSL_PARAM_BLD_to_param(bld);
        OSSL_PARAM_BLD_free(bld);
        EVP_PKEY *pkey = NULL;
        _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL) : NULL;
        if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &pkey, pair ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
                pkey = NULL;
        OSSL_PARAM_free(params);
        return pkey;
}

/* A DER encoding that is exactly `len` bytes long, or NULL. */
static EVP_PKEY *rsa_pkey_build(bool pair, const uint8_t *der, size_t len)
{
        const uint8_t *p = der;
        EVP_PKEY *pkey = pair ? d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long) len)
                              : d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long) len);
        if (pkey && p != der + len) {
                EVP_PKEY_free(pkey);
                return NULL;
        }
        return pkey;
}

static EVP_PKEY *pkey_build(psa_key_type_t type, size_t bits, const uint8_t *blob, size_t blob_len)
{
        bool pair = PSA_KEY_TYPE_IS_KEY_PAIR(type);
        if (PSA_KEY_TYPE_IS_RSA(type))
                return blob_len ? rsa_pkey_build(pair, blob, blob_len) : NULL;
        int id = raw25519_id(type, bits);
        if (id && blob_len == (pair ? 2u : 1u) * RAW25519_BYTES)
                return pair ? EVP_PKEY_new_raw_private_key(id, NULL, blob, RAW25519_BYTES)
                            : EVP_PKEY_new_raw_public_key(id, NULL, blob, RAW25519_BYTES);
        return secp_pkey_build(type, bits, blob, blob_len);
}

static psa_status_t symmetric_bits_ok(psa_key_type_t type, size_t bits)
{
        if (type == PSA_KEY_TYPE_AES)
                return bits == 128 || bits == 192 || bits == 256 ? PSA_SUCCESS : PSA_ERROR_NOT_SUPPORTED;
        if (type == PSA_KEY_TYPE_CHACHA20)
                return bits == 256 ? PSA_SUCCESS : PSA_ERROR_NOT_SUPPORTED;
        if (type == PSA_KEY_TYPE_HMAC || type == PSA_KEY_TYPE_RAW_DATA)
                return bits && bits % 8 == 0 && bits <= 8 * 256 ? PSA_SUCCESS : PSA_ERROR_INVALID_ARGUMENT;
        return PSA_ERROR_NOT_SUPPORTED;
}

/* scalar || point of a fresh EC key into k->blob. */
static psa_status_t secp_blob_from_pkey(EVP_PKEY *pkey, size_t n, struct secd_key *k)
{
        _cleanup_bn_ BIGNUM *priv = NULL;
        size_t publen = 0;
        if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) ||
            BN_bn2binpad(priv, k->blob, (int) n) != (int) n ||
            !EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, k->blob + n, 1 + 2 * n, &publen) ||
            publen != 1 + 2 * n)
                return PSA_ERROR_GENERIC_ERROR;
        k->blob_len = n + publen;
        return PSA_SUCCESS;
}

/* private || public of an Ed25519/X25519 key into k->blob. */
static psa_status_t raw25519_blob_from_pkey(EVP_PKEY *pkey, struct secd_key *k)
{
        size_t priv_len = RAW25519_BYTES, pub_len = RAW25519_BYTES;
        if (!EVP_PKEY_get_raw_private_key(pkey, k->blob, &priv_len) ||
            !EVP_PKEY_get_raw_public_key(pkey, k->blob + RAW25519_BYTES, &pub_len) || priv_len != RAW25519_BYTES ||
            pub_len != RAW25519_BYTES)
                return PSA_ERROR_GENERIC_ERROR;
        k->blob_len = 2 * RAW25519_BYTES;
        return PSA_SUCCESS;
}

/* DER RSAPrivateKey of a key pair into k->blob. */
static psa_status_t rsa_blob_from_pkey(EVP_PKEY *pkey, struct secd_key *k)
{
        int len = i2d_PrivateKey(pkey, NULL);
        if (len <= 0 || (size_t) len > sizeof(k->blob))
                return PSA_ERROR_NOT_SUPPORTED;
        uint8_t *p = k->blob;
        if (i2d_PrivateKey(pkey, &p) != len)
                return PSA_ERROR_GENERIC_ERROR;
        k->blob_len = (size_t) len;
        return PSA_SUCCESS;
}

/* RSA key pairs: 2048 and 3072 bits (a 4096-bit RSAPrivateKey does not fit a key blob). */
static bool rsa_pair_bits_ok(size_t bits)
{
        return bits == 2048 || bits == 3072;
}

static psa_status_t soft_generate(struct secd_key *k)
{
        psa_key_type_t type = k->attrs.private_type;
        size_t bits = k->attrs.private_bits;
        if (PSA_KEY_TYPE_IS_PUBLIC_KEY(type))
                return PSA_KEY_TYPE_IS_ECC(type) || PSA_KEY_TYPE_IS_RSA(type) ? PSA_ERROR_INVALID_ARGUMENT
                                                                              : PSA_ERROR_NOT_SUPPORTED;
        if (type == PSA_KEY_TYPE_RSA_KEY_PAIR) {
                if (!rsa_pair_bits_ok(bits))
                        return PSA_ERROR_NOT_SUPPORTED;
                _cleanup_pkey_ EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
                return pkey ? rsa_blob_from_pkey(pkey, k) : PSA_ERROR_GENERIC_ERROR;
        }
        if (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type) && raw25519_id(type, bits) && bits) {
                _cleanup_pkey_ EVP_PKEY *pkey = EVP_PKEY_Q_keygen(
                        NULL, NULL, raw25519_id(type, bits) == EVP_PKEY_ED25519 ? "ED25519" : "X25519");
                return pkey ? raw25519_blob_from_pkey(pkey, k) : PSA_ERROR_GENERIC_ERROR;
        }
        if (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type)) {
                const char *group = ecc_group(type, bits);
                if (!group)
                        return PSA_ERROR_NOT_SUPPORTED;
                _cleanup_pkey_ EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
                if (!pkey)
                        return PSA_ERROR_GENERIC_ERROR;
                return secp_blob_from_pkey(pkey, ecc_bytes(bits), k);
        }
        psa_status_t s = symmetric_bits_ok(type, bits);
        if (s != PSA_SUCCESS)
                return s;
        k->blob_len = bits / 8;
        return secd_random(k->blob, k->blob_len);
}

/* An imported private scalar: derive the point by building the key from the scalar alone. */
static psa_status_t secp_import_pair(struct secd_key *k, const uint8_t *data, size_t n)
{
        const char *group = ecc_group(k->attrs.private_type, 8 * n);
        if (!group)
                return PSA_ERROR_NOT_SUPPORTED;
        EC_GROUP *g = EC_GROUP_new_by_curve_name(n == 32 ? NID_X9_62_prime256v1 : NID_secp384r1);
        EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
        _cleanup_bn_ BIGNUM *priv = BN_bin2bn(data, (int) n, NULL);
        psa_status_t s = PSA_ERROR_INVALID_ARGUMENT;
        if (pt && priv && !BN_is_zero(priv) && BN_cmp(priv, EC_GROUP_get0_order(g)) < 0 &&
            EC_POINT_mul(g, pt, priv, NULL, NULL, NULL) &&
            EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, k->blob + n, 1 + 2 * n, NULL) == 1 + 2 * n) {
                memcpy(k->blob, data, n);
                k->blob_len = 1 + 3 * n;
                s = PSA_SUCCESS;
        }
        EC_POINT_free(pt);
        EC_GROUP_free(g);
        return s;
}

/* Keeps `data` as the blob when it makes a key OpenSSL accepts. */
static psa_status_t import_checked(struct secd_key *k, const uint8_t *data, size_t len, size_t bits)
{
        if (len > sizeof(k->blob))
                return PSA_ERROR_NOT_SUPPORTED;
        _cleanup_pkey_ EVP_PKEY *pkey = pkey_build(k->attrs.private_type, bits, data, len);
        if (!pkey)
                return PSA_ERROR_INVALID_ARGUMENT;
        memcpy(k->blob, data, len);
        k->blob_len = len;
        return PSA_SUCCESS;
}

static psa_status_t raw25519_import(struct secd_key *k, const uint8_t *data, size_t len)
{
        if (len != RAW25519_BYTES)
                return PSA_ERROR_INVALID_ARGUMENT;
        if (PSA_KEY_TYPE_IS_PUBLIC_KEY(k->attrs.private_type))
                return import_checked(k, data, len, 255);
        _cleanup_pkey_ EVP_PKEY *pkey =
                EVP_PKEY_new_raw_private_key(raw25519_id(k->attrs.private_type, 255), NULL, data, len);
        return pkey ? raw25519_blob_from_pkey(pkey, k) : PSA_ERROR_INVALID_ARGUMENT;
}

/* DER RSAPrivateKey / RSAPublicKey; the bits come from the modulus. */
static psa_status_t rsa_import(struct secd_key *k, const uint8_t *data, size_t len, size_t *bits)
{
        bool pair = PSA_KEY_TYPE_IS_KEY_PAIR(k->attrs.private_type);
        _cleanup_pkey_ EVP_PKEY *pkey = rsa_pkey_build(pair, data, len);
        if (!pkey)
                return PSA_ERROR_INVALID_ARGUMENT;
        *bits = (size_t) EVP_PKEY_get_bits(pkey);
        if (k->attrs.private_bits && k->attrs.private_bits != *bits)
                return PSA_ERROR_INVALID_ARGUMENT;
        if (pair ? !rsa_pair_bits_ok(*bits) : *bits < 2048 || *bits > 4096)
                return PSA_ERROR_NOT_SUPPORTED;
        if (pair)
                return rsa_blob_from_pkey(pkey, k); /* re-encoded: the blob is always canonical */
        return import_checked(k, data, len, *bits);
}

/* The key size an import of len bytes of a non-RSA type means. */
static size_t import_bits(psa_key_type_t type, size_t len)
{
        if (raw25519_id(type, 0))
                return 255;
        if (PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type))
                return len ? 8 * ((len - 1) / 2) : 0;
        return 8 * len;
}

static psa_status_t soft_import(struct secd_key *k, const uint8_t *data, size_t len)
{
        psa_key_type_t type = k->attrs.private_type;
        size_t bits = import_bits(type, len);
        psa_status_t s;
        if (len == 0)
                return PSA_ERROR_INVALID_ARGUMENT;
        if (PSA_KEY_TYPE_IS_RSA(type))
                s = rsa_import(k, data, len, &bits);
        else if (k->attrs.private_bits && k->attrs.private_bits != bits)
                s = PSA_ERROR_INVALID_ARGUMENT;
        else if (raw25519_id(type, 0))
                s = raw25519_import(k, data, len);
        else if (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type))
                s = secp_import_pair(k, data, len);
        else if (PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type) && (len % 2 == 0 || data[0] != 0x04))
                s = PSA_ERROR_INVALID_ARGUMENT; /* only the uncompressed form 04 || X || Y */
        else if (PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type))
                s = ecc_group(type, bits) ? import_checked(k, data, len, bits) : PSA_ERROR_NOT_SUPPORTED;
        else if ((s = symmetric_bits_ok(type, bits)) == PSA_SUCCESS) {
                memcpy(k->blob, data, len); /* at most 256 bytes */
                k->blob_len = len;
        }
        if (s == PSA_SUCCESS)
                k->attrs.private_bits = (psa_key_bits_t) bits;
        return s;
}

static psa_status_t copy_out(const uint8_t *p, size_t n, uint8_t *out, size_t size, size_t *len)
{
        if (size < n)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        memcpy(out, p, n);
        *len = n;
        return PSA_SUCCESS;
}

static psa_status_t soft_export_key(const struct secd_key *k, uint8_t *out, size_t size, size_t *len)
{
        psa_key_type_t type = k->attrs.private_type;
        size_t n = k->blob_len;
        if (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type))
                n = raw25519_id(type, 0) ? RAW25519_BYTES : ecc_bytes(k->attrs.private_bits);
        return copy_out(k->blob, n, out, size, len);
}

/* DER RSAPublicKey of an RSA key pair. */
static psa_status_t rsa_export_public(const struct secd_key *k, uint8_t *out, size_t size, size_t *len)
{
        _cleanup_pkey_ EVP_PKEY *pkey = k_pkey(k);
        int n = pkey ? i2d_PublicKey(pkey, NULL) : -1;
        if (n <= 0)
                return PSA_ERROR_GENERIC_ERROR;
        if ((size_t) n > size)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        uint8_t *p = out;
        if (i2d_PublicKey(pkey, &p) != n)
                return PSA_ERROR_GENERIC_ERROR;
        *len = (size_t) n;
        return PSA_SUCCESS;
}

static psa_status_t soft_export_public(const struct secd_key *k, uint8_t *out, size_t size, size_t *len)
{
        psa_key_type_t type = k->attrs.private_type;
        if (!PSA_KEY_TYPE_IS_ASYMMETRIC(type))
                return PSA_ERROR_INVALID_ARGUMENT;
        if (PSA_KEY_TYPE_IS_PUBLIC_KEY(type))
                return copy_out(k->blob, k->blob_len, out, size, len);
        if (PSA_KEY_TYPE_IS_RSA(type))
                return rsa_export_public(k, out, size, len);
        size_t skip = raw25519_id(type, 0) ? RAW25519_BYTES : ecc_bytes(k->attrs.private_bits);
        return copy_out(k->blob + skip, k->blob_len - skip, out, size, len);
}

/* Checks a hash-and-sign request: the hash has the size of the algorithm's hash (any for ECDSA_ANY). */
static psa_status_t hash_check(psa_algorithm_t alg, size_t hash_len)
{
        size_t want = alg == PSA_ALG_ECDSA_ANY ? 0 : secd_hash_size(PSA_ALG_SIGN_GET_HASH(alg));
        if (alg != PSA_ALG_ECDSA_ANY && want == 0)
                return PSA_ERROR_NOT_SUPPORTED;
        if (hash_len == 0 || hash_len > PSA_HASH_MAX_SIZE || (want && hash_len != want))
                return PSA_ERROR_INVALID_ARGUMENT;
        return PSA_SUCCESS;
}

/* Randomized ECDSA on secp_r1 (deterministic ECDSA is not offered), RSA-PSS and PKCS#1 v1.5 on RSA. */
static psa_status_t sign_check(const struct secd_key *k, psa_algorithm_t alg, size_t hash_len)
{
        psa_key_type_t type = k->attrs.private_type;
        bool ecdsa = (alg & ~0xffu) == PSA_ALG_ECDSA_ANY, rsa = PSA_ALG_IS_HASH_AND_SIGN(alg) && !PSA_ALG_IS_ECDSA(alg);
        if (PSA_ALG_IS_ECDSA(alg) && !ecdsa)
                return PSA_ERROR_NOT_SUPPORTED;
        if (!(ecdsa && ecc_family(type) == PSA_ECC_FAMILY_SECP_R1) && !(rsa && PSA_KEY_TYPE_IS_RSA(type)))
                return PSA_ERROR_INVALID_ARGUMENT;
        return hash_check(alg, hash_len);
}

/* RSA padding for alg: PSS (MGF1 with the same hash) or PKCS#1 v1.5, with the digest of alg. */
static bool rsa_padding_set(EVP_PKEY_CTX *ctx, psa_algorithm_t alg, bool sign)
{
        const EVP_MD *md = secd_hash_md(PSA_ALG_SIGN_GET_HASH(alg));
        if (EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
                return false;
        if (!PSA_ALG_IS_RSA_PSS(alg))
                return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
        /* PSA: the salt is as long as the hash; only verifying with PSA_ALG_RSA_PSS_ANY_SALT accepts others. */
        int salt = !sign && (alg & 0x1000) ? RSA_PSS_SALTLEN_AUTO : RSA_PSS_SALTLEN_DIGEST;
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) > 0;
}

/* A signing or verifying context of the key for alg; NULL on failure. */
static EVP_PKEY_CTX *sign_ctx(const struct secd_key *k, psa_algorithm_t alg, bool sign)
{
        _cleanup_pkey_ EVP_PKEY *pkey = k_pkey(k);
        EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
        if (ctx && (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) > 0 &&
            (!PSA_KEY_TYPE_IS_RSA(k->attrs.private_type) || rsa_padding_set(ctx, alg, sign)))
                return ctx;
        EVP_PKEY_CTX_free(ctx);
        return NULL;
}

/* A DER ECDSA signature as PSA's r || s, each padded to n bytes. */
static psa_status_t ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t n, uint8_t *sig, size_t *sig_len)
{
        const uint8_t *p = der;
        __attribute__((cleanup(ecdsa_sig_freep))) ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
        if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int) n) != (int) n ||
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + n, (int) n) != (int) n)
                return PSA_ERROR_GENERIC_ERROR;
        *sig_len = 2 * n;
        return PSA_SUCCESS;
}

static psa_status_t soft_sign_hash(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash, size_t hash_len,
                                   uint8_t *sig, size_t sig_size, size_t *sig_len)
{
        psa_status_t s = sign_check(k, alg, hash_len);
        if (s != PSA_SUCCESS)
                return s;
        if (!PSA_KEY_TYPE_IS_KEY_PAIR(k->attrs.private_type))
                return PSA_ERROR_INVALID_ARGUMENT;
        bool rsa = PSA_KEY_TYPE_IS_RSA(k->attrs.private_type);
        size_t n = rsa ? k->attrs.private_bits / 8 : 2 * ecc_bytes(k->attrs.private_bits);
        if (sig_size < n)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = sign_ctx(k, alg, true);
        uint8_t der[160];
        size_t len = rsa ? sig_size : sizeof(der);
        if (!ctx || EVP_PKEY_sign(ctx, rsa ? sig : der, &len, hash, hash_len) <= 0)
                return PSA_ERROR_GENERIC_ERROR;
        if (!rsa)
                return ecdsa_der_to_raw(der, len, n / 2, sig, sig_len);
        *sig_len = len;
        return PSA_SUCCESS;
}

/* r || s to DER; 0 when the numbers cannot be converted. */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t n, uint8_t *der, size_t der_size)
{
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int) n, NULL), *s = BN_bin2bn(sig + n, (int) n, NULL);
        int len = 0;
        if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
                r = s = NULL;
                if (i2d_ECDSA_SIG(es, NULL) <= (int) der_size) {
                        uint8_t *q = der;
                        len = i2d_ECDSA_SIG(es, &q);
                }
        }
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return len > 0 ? len : 0;
}

static psa_status_t soft_verify_hash(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash,
                                     size_t hash_len, const uint8_t *sig, size_t sig_len)
{
        psa_status_t s = sign_check(k, alg, hash_len);
        if (s != PSA_SUCCESS)
                return s;
        bool rsa = PSA_KEY_TYPE_IS_RSA(k->attrs.private_type);
        size_t n = ecc_bytes(k->attrs.private_bits);
        if (rsa ? sig_len != k->attrs.private_bits / 8 : sig_len != 2 * n)
                return PSA_ERROR_INVALID_SIGNATURE;
        uint8_t der[160];
        int der_len = rsa ? (int) sig_len : ecdsa_raw_to_der(sig, n, der, sizeof(der));
        _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = sign_ctx(k, alg, false);
        if (!ctx)
                return PSA_ERROR_GENERIC_ERROR;
        if (der_len == 0 || EVP_PKEY_verify(ctx, rsa ? sig : der, (size_t) der_len, hash, hash_len) != 1)
                return PSA_ERROR_INVALID_SIGNATURE;
        return PSA_SUCCESS;
}

/* PureEdDSA (Ed25519, RFC 8032): the message itself is signed. */
static psa_status_t eddsa_ctx(const struct secd_key *k, psa_algorithm_t alg, bool sign, EVP_MD_CTX **ret)
{
        if (alg != PSA_ALG_PURE_EDDSA)
                return PSA_ALG_IS_HASH_AND_SIGN(alg) ? PSA_ERROR_INVALID_ARGUMENT : PSA_ERROR_NOT_SUPPORTED;
        if (raw25519_id(k->attrs.private_type, k->attrs.private_bits) != EVP_PKEY_ED25519 ||
            (sign && !PSA_KEY_TYPE_IS_KEY_PAIR(k->attrs.private_type)))
                return PSA_ERROR_INVALID_ARGUMENT;
        _cleanup_pkey_ EVP_PKEY *pkey = k_pkey(k);
        _cleanup_md_ctx_ EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!pkey || !ctx ||
            (sign ? EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey)
                  : EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey)) <= 0)
                return PSA_ERROR_GENERIC_ERROR;
        *ret = ctx;
        ctx = NULL;
        return PSA_SUCCESS;
}

static psa_status_t soft_sign_message(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                      uint8_t *sig, size_t sig_size, size_t *sig_len)
{
        _cleanup_md_ctx_ EVP_MD_CTX *ctx = NULL;
        psa_status_t s = eddsa_ctx(k, alg, true, &ctx);
        if (s != PSA_SUCCESS)
                return s;
        size_t n = 64;
        if (sig_size < n)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        if (EVP_DigestSign(ctx, sig, &n, msg, len) <= 0)
                return PSA_ERROR_GENERIC_ERROR;
        *sig_len = n;
        return PSA_SUCCESS;
}

static psa_status_t soft_verify_message(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                        const uint8_t *sig, size_t sig_len)
{
        _cleanup_md_ctx_ EVP_MD_CTX *ctx = NULL;
        psa_status_t s = eddsa_ctx(k, alg, false, &ctx);
        if (s != PSA_SUCCESS)
                return s;
        return EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1 ? PSA_SUCCESS : PSA_ERROR_INVALID_SIGNATURE;
}

static psa_status_t soft_mac(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *in, size_t in_len,
                             uint8_t *out, size_t out_size, size_t *out_len)
{
        const EVP_MD *md = PSA_ALG_IS_HMAC(alg) ? secd_hash_md(PSA_ALG_HMAC_GET_HASH(alg)) : NULL;
        if (!md || alg != PSA_ALG_HMAC(PSA_ALG_HMAC_GET_HASH(alg)))
                return PSA_ERROR_NOT_SUPPORTED; /* other MACs, truncated HMACs */
        if (k->attrs.private_type != PSA_KEY_TYPE_HMAC)
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t n = (size_t) EVP_MD_get_size(md);
        if (out_size < n)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        if (!EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL, k->blob, k->blob_len, in, in_len, out, n,
                       out_len))
                return PSA_ERROR_GENERIC_ERROR;
        return PSA_SUCCESS;
}

/* The peer's public key, in the PSA format of the private key's curve. */
static EVP_PKEY *peer_pkey(const struct secd_key *k, const uint8_t *peer, size_t len)
{
        psa_key_type_t pub = PSA_KEY_TYPE_PUBLIC_KEY_OF_KEY_PAIR(k->attrs.private_type);
        size_t bits = k->attrs.private_bits;
        if (raw25519_id(pub, bits))
                return len == RAW25519_BYTES ? pkey_build(pub, bits, peer, len) : NULL;
        return len == 1 + 2 * ecc_bytes(bits) && peer[0] == 0x04 ? pkey_build(pub, bits, peer, len) : NULL;
}

static psa_status_t soft_key_agreement(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *peer,
                                       size_t peer_len, uint8_t *out, size_t out_size, size_t *out_len)
{
        if (alg != PSA_ALG_ECDH)
                return PSA_ERROR_NOT_SUPPORTED;
        psa_key_type_t type = k->attrs.private_type;
        psa_ecc_family_t f = ecc_family(type);
        if (!PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type) || (f != PSA_ECC_FAMILY_SECP_R1 && f != PSA_ECC_FAMILY_MONTGOMERY))
                return PSA_ERROR_INVALID_ARGUMENT;
        _cleanup_pkey_ EVP_PKEY *pkey = k_pkey(k), *other = peer_pkey(k, peer, peer_len);
        if (!other)
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t n = ecc_bytes(k->attrs.private_bits);
        if (out_size < n)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
        if (!ctx || EVP_PKEY_derive_init(ctx) <= 0)
                return PSA_ERROR_GENERIC_ERROR;
        /* A point off the curve, or an X25519 result of all zeros (a small-order point), fails here. */
        if (EVP_PKEY_derive_set_peer(ctx, other) <= 0 || EVP_PKEY_derive(ctx, out, &n) <= 0)
                return PSA_ERROR_INVALID_ARGUMENT;
        *out_len = n;
        return PSA_SUCCESS;
}

static psa_status_t soft_aead(const struct secd_key *k, const struct secd_aead_args *a, uint8_t *out, size_t out_size,
                              size_t *out_len)
{
        psa_key_type_t want = a->alg == PSA_ALG_GCM                 ? PSA_KEY_TYPE_AES
                              : a->alg == PSA_ALG_CHACHA20_POLY1305 ? PSA_KEY_TYPE_CHACHA20
                                                                    : 0;
        if (!want)
                return PSA_ERROR_NOT_SUPPORTED;
        if (k->attrs.private_type != want)
                return PSA_ERROR_INVALID_ARGUMENT;
        return (want == PSA_KEY_TYPE_AES ? secd_gcm : secd_chacha20_poly1305)(
                a->encrypt, k->blob, k->blob_len, a->nonce, a->nonce_len, a->aad, a->aad_len, a->in, a->in_len, out,
                out_size, out_len);
}

static psa_status_t soft_destroy(const struct secd_key *k)
{
        /* Forget the cached key whatever it is: cheaper than comparing. */
        EVP_PKEY_free(last.pkey);
        explicit_bzero(&last, sizeof(last));
        return PSA_SUCCESS;
}

const struct secd_backend secd_backend_soft = {
        .name = "software",
        .generate = soft_generate,
        .import = soft_import,
        .export_key = soft_export_key,
        .export_public = soft_export_public,
        .sign_hash = soft_sign_hash,
        .verify_hash = soft_verify_hash,
        .sign_message = soft_sign_message,
        .verify_message = soft_verify_message,
        .mac = soft_mac,
        .key_agreement = soft_key_agreement,
        .aead = soft_aead,
        .destroy = soft_destroy,
};
