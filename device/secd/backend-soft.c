/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Software key backend (OpenSSL 3). The blob is the key material: raw bytes
 * for AES and HMAC keys, the private scalar followed by the uncompressed
 * public point for an ECC key pair, the point alone for an ECC public key.
 * Keeping the point saves a scalar multiplication on every operation.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "backend.h"
#include "crypto.h"

#define ECC_MAX_BYTES 48

static void pkey_freep(EVP_PKEY **p)
{
        EVP_PKEY_free(*p);
}
static void pkey_ctx_freep(EVP_PKEY_CTX **p)
{
        EVP_PKEY_CTX_free(*p);
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
#define _cleanup_bn_       __attribute__((cleanup(bn_freep)))

/* The OpenSSL group of a SECP_R1 curve size; NULL for anything else. */
static const char *ecc_group(psa_key_type_t type, size_t bits)
{
        if (PSA_KEY_TYPE_ECC_GET_FAMILY(type) != PSA_ECC_FAMILY_SECP_R1)
                return NULL;
        return bits == 256 ? "P-256" : bits == 384 ? "P-384" : NULL;
}

static bool is_ecc(psa_key_type_t type)
{
        return PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type) || PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type);
}

static size_t ecc_bytes(size_t bits)
{
        return (bits + 7) / 8;
}

static EVP_PKEY *ecc_pkey_build(psa_key_type_t type, size_t bits, const uint8_t *blob, size_t blob_len);

/*
 * The last key built, for the next operation with the same key: building an
 * EVP_PKEY from parameters costs OpenSSL 3 more than an ECDSA signature.
 * Compared by type and whole blob, so another app's key never matches.
 */
static struct {
        EVP_PKEY *pkey;
        psa_key_type_t type;
        size_t len;
        uint8_t blob[1 + 3 * ECC_MAX_BYTES];
} last;

/* The EVP_PKEY of an ECC blob (pair: scalar || point; public key: point); the caller frees it. */
static EVP_PKEY *ecc_pkey(psa_key_type_t type, size_t bits, const uint8_t *blob, size_t blob_len)
{
        if (last.pkey && last.type == type && last.len == blob_len && CRYPTO_memcmp(last.blob, blob, blob_len) == 0)
                return EVP_PKEY_up_ref(last.pkey) ? last.pkey : NULL;
        EVP_PKEY *pkey = ecc_pkey_build(type, bits, blob, blob_len);
        if (pkey && blob_len <= sizeof(last.blob) && EVP_PKEY_up_ref(pkey)) {
                EVP_PKEY_free(last.pkey);
                last.pkey = pkey;
                last.type = type;
                last.len = blob_len;
                memcpy(last.blob, blob, blob_len);
        }
        return pkey;
}

static EVP_PKEY *ecc_pkey_build(psa_key_type_t type, size_t bits, const uint8_t *blob, size_t blob_len)
{
        const char *group = ecc_group(type, bits);
        size_t n = ecc_bytes(bits);
        bool pair = PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type);
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

static psa_status_t symmetric_bits_ok(psa_key_type_t type, size_t bits)
{
        if (type == PSA_KEY_TYPE_AES)
                return bits == 128 || bits == 192 || bits == 256 ? PSA_SUCCESS : PSA_ERROR_NOT_SUPPORTED;
        if (type == PSA_KEY_TYPE_HMAC || type == PSA_KEY_TYPE_RAW_DATA)
                return bits && bits % 8 == 0 && bits <= 8 * 256 ? PSA_SUCCESS : PSA_ERROR_INVALID_ARGUMENT;
        return PSA_ERROR_NOT_SUPPORTED;
}

/* scalar || point of a fresh EC key into k->blob. */
static psa_status_t ecc_blob_from_pkey(EVP_PKEY *pkey, size_t n, struct secd_key *k)
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

static psa_status_t soft_generate(struct secd_key *k)
{
        psa_key_type_t type = k->attrs.private_type;
        size_t bits = k->attrs.private_bits;
        if (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type)) {
                const char *group = ecc_group(type, bits);
                if (!group)
                        return PSA_ERROR_NOT_SUPPORTED;
                _cleanup_pkey_ EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
                if (!pkey)
                        return PSA_ERROR_GENERIC_ERROR;
                return ecc_blob_from_pkey(pkey, ecc_bytes(bits), k);
        }
        if (PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type))
                return PSA_ERROR_INVALID_ARGUMENT; /* a public key cannot be generated */
        psa_status_t s = symmetric_bits_ok(type, bits);
        if (s != PSA_SUCCESS)
                return s;
        k->blob_len = bits / 8;
        return secd_random(k->blob, k->blob_len);
}

/* An imported private scalar: derive the point by building the key from the scalar alone. */
static psa_status_t ecc_import_pair(struct secd_key *k, const uint8_t *data, size_t n)
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

static psa_status_t soft_import(struct secd_key *k, const uint8_t *data, size_t len)
{
        psa_key_type_t type = k->attrs.private_type;
        size_t bits = PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type) ? 8 * ((len - 1) / 2) : 8 * len;
        if (len == 0 || len > SECD_KEY_BLOB_MAX / 4 || (k->attrs.private_bits && k->attrs.private_bits != bits))
                return PSA_ERROR_INVALID_ARGUMENT;
        psa_status_t s;
        if (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type)) {
                s = ecc_import_pair(k, data, len);
        } else if (PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type) && (len % 2 == 0 || data[0] != 0x04)) {
                s = PSA_ERROR_INVALID_ARGUMENT; /* only the uncompressed form 04 || X || Y */
        } else if (PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type)) {
                _cleanup_pkey_ EVP_PKEY *pkey = ecc_pkey(type, bits, data, len);
                s = pkey ? PSA_SUCCESS : ecc_group(type, bits) ? PSA_ERROR_INVALID_ARGUMENT : PSA_ERROR_NOT_SUPPORTED;
                if (s == PSA_SUCCESS) {
                        memcpy(k->blob, data, len);
                        k->blob_len = len;
                }
        } else {
                s = symmetric_bits_ok(type, bits);
                if (s == PSA_SUCCESS) {
                        memcpy(k->blob, data, len);
                        k->blob_len = len;
                }
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
        size_t n = PSA_KEY_TYPE_IS_ECC_KEY_PAIR(k->attrs.private_type) ? ecc_bytes(k->attrs.private_bits) : k->blob_len;
        return copy_out(k->blob, n, out, size, len);
}

static psa_status_t soft_export_public(const struct secd_key *k, uint8_t *out, size_t size, size_t *len)
{
        psa_key_type_t type = k->attrs.private_type;
        if (!is_ecc(type))
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t n = ecc_bytes(k->attrs.private_bits);
        size_t skip = PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type) ? n : 0;
        return copy_out(k->blob + skip, k->blob_len - skip, out, size, len);
}

static bool is_ecdsa(psa_algorithm_t alg)
{
        return (alg & ~0xffu) == PSA_ALG_ECDSA_ANY;
}

/* Checks an ECDSA request: algorithm, and a hash of the size its hash algorithm makes. */
static psa_status_t ecdsa_check(const struct secd_key *k, psa_algorithm_t alg, size_t hash_len)
{
        if (!is_ecdsa(alg) || !is_ecc(k->attrs.private_type))
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t want = alg == PSA_ALG_ECDSA_ANY ? 0 : secd_hash_size(0x02000000u | (alg & 0xffu));
        if (alg != PSA_ALG_ECDSA_ANY && want == 0)
                return PSA_ERROR_NOT_SUPPORTED;
        if (hash_len == 0 || hash_len > PSA_HASH_MAX_SIZE || (want && hash_len != want))
                return PSA_ERROR_INVALID_ARGUMENT;
        return PSA_SUCCESS;
}

static psa_status_t soft_sign_hash(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash, size_t hash_len,
                                   uint8_t *sig, size_t sig_size, size_t *sig_len)
{
        psa_status_t s = ecdsa_check(k, alg, hash_len);
        if (s != PSA_SUCCESS)
                return s;
        if (!PSA_KEY_TYPE_IS_ECC_KEY_PAIR(k->attrs.private_type))
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t n = ecc_bytes(k->attrs.private_bits);
        if (sig_size < 2 * n)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        _cleanup_pkey_ EVP_PKEY *pkey = ecc_pkey(k->attrs.private_type, k->attrs.private_bits, k->blob, k->blob_len);
        _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
        uint8_t der[160];
        size_t der_len = sizeof(der);
        if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 || EVP_PKEY_sign(ctx, der, &der_len, hash, hash_len) <= 0)
                return PSA_ERROR_GENERIC_ERROR;
        /* PSA signatures are r || s, each padded to the curve size. */
        const uint8_t *p = der;
        __attribute__((cleanup(ecdsa_sig_freep))) ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
        if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int) n) != (int) n ||
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + n, (int) n) != (int) n)
                return PSA_ERROR_GENERIC_ERROR;
        *sig_len = 2 * n;
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
        psa_status_t s = ecdsa_check(k, alg, hash_len);
        if (s != PSA_SUCCESS)
                return s;
        size_t n = ecc_bytes(k->attrs.private_bits);
        if (sig_len != 2 * n)
                return PSA_ERROR_INVALID_SIGNATURE;
        uint8_t der[160];
        int der_len = ecdsa_raw_to_der(sig, n, der, sizeof(der));
        _cleanup_pkey_ EVP_PKEY *pkey = ecc_pkey(k->attrs.private_type, k->attrs.private_bits, k->blob, k->blob_len);
        _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
        if (!ctx || EVP_PKEY_verify_init(ctx) <= 0)
                return PSA_ERROR_GENERIC_ERROR;
        if (der_len == 0 || EVP_PKEY_verify(ctx, der, (size_t) der_len, hash, hash_len) != 1)
                return PSA_ERROR_INVALID_SIGNATURE;
        return PSA_SUCCESS;
}

static psa_status_t soft_aead(const struct secd_key *k, const struct secd_aead_args *a, uint8_t *out, size_t out_size,
                              size_t *out_len)
{
        if (a->alg != PSA_ALG_GCM)
                return PSA_ERROR_NOT_SUPPORTED;
        if (k->attrs.private_type != PSA_KEY_TYPE_AES)
                return PSA_ERROR_INVALID_ARGUMENT;
        return secd_gcm(a->encrypt, k->blob, k->blob_len, a->nonce, a->nonce_len, a->aad, a->aad_len, a->in, a->in_len,
                        out, out_size, out_len);
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
        .aead = soft_aead,
        .destroy = soft_destroy,
};

const struct secd_backend *secd_backend_find(const char *name)
{
        return strcmp(name, secd_backend_soft.name) == 0 ? &secd_backend_soft : NULL;
}
