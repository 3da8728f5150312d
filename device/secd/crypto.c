/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto.h"

static const EVP_CIPHER *gcm_cipher(size_t key_len)
{
        switch (key_len) {
        case 16:
                return EVP_aes_128_gcm();
        case 24:
                return EVP_aes_192_gcm();
        case 32:
                return EVP_aes_256_gcm();
        default:
                return NULL;
        }
}

static void cipher_ctx_freep(EVP_CIPHER_CTX **ctx)
{
        EVP_CIPHER_CTX_free(*ctx);
}

/* The parts of an AEAD that do not depend on the direction: key, nonce, AAD, data. */
static psa_status_t aead_run(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, bool encrypt, const uint8_t *key,
                             const uint8_t *nonce, size_t nonce_len, const uint8_t *aad, size_t aad_len,
                             const uint8_t *in, size_t n, uint8_t *out)
{
        int len;
        if (!EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) ||
            !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int) nonce_len, NULL) ||
            !EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt))
                return PSA_ERROR_GENERIC_ERROR;
        if (aad_len && !EVP_CipherUpdate(ctx, NULL, &len, aad, (int) aad_len))
                return PSA_ERROR_GENERIC_ERROR;
        if (n && !EVP_CipherUpdate(ctx, out, &len, in, (int) n))
                return PSA_ERROR_GENERIC_ERROR;
        return PSA_SUCCESS;
}

/* AEAD with a 16-byte tag after the ciphertext; the caller checked key and nonce sizes. */
static psa_status_t aead(const EVP_CIPHER *cipher, bool encrypt, const uint8_t *key, const uint8_t *nonce,
                         size_t nonce_len, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                         uint8_t *out, size_t out_size, size_t *out_len)
{
        if (in_len > INT32_MAX || aad_len > INT32_MAX)
                return PSA_ERROR_INVALID_ARGUMENT;
        if (!encrypt && in_len < SECD_AEAD_TAG_SIZE)
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t n = encrypt ? in_len : in_len - SECD_AEAD_TAG_SIZE;
        size_t total = encrypt ? n + SECD_AEAD_TAG_SIZE : n;
        if (out_size < total)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        __attribute__((cleanup(cipher_ctx_freep))) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (!ctx)
                return PSA_ERROR_INSUFFICIENT_MEMORY;
        psa_status_t s = aead_run(ctx, cipher, encrypt, key, nonce, nonce_len, aad, aad_len, in, n, out);
        if (s != PSA_SUCCESS)
                return s;
        int len;
        if (encrypt) {
                if (!EVP_CipherFinal_ex(ctx, out + n, &len) ||
                    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SECD_AEAD_TAG_SIZE, out + n))
                        return PSA_ERROR_GENERIC_ERROR;
        } else if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SECD_AEAD_TAG_SIZE, (void *) (in + n)) ||
                   EVP_CipherFinal_ex(ctx, out + n, &len) <= 0) {
                OPENSSL_cleanse(out, n);
                return PSA_ERROR_INVALID_SIGNATURE;
        }
        *out_len = total;
        return PSA_SUCCESS;
}

psa_status_t secd_gcm(bool encrypt, const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                      const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                      size_t out_size, size_t *out_len)
{
        if (!gcm_cipher(key_len) || nonce_len == 0 || nonce_len > 64)
                return PSA_ERROR_INVALID_ARGUMENT;
        return aead(gcm_cipher(key_len), encrypt, key, nonce, nonce_len, aad, aad_len, in, in_len, out, out_size,
                    out_len);
}

psa_status_t secd_chacha20_poly1305(bool encrypt, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                                    size_t nonce_len, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                                    size_t in_len, uint8_t *out, size_t out_size, size_t *out_len)
{
        if (key_len != 32 || nonce_len != 12)
                return PSA_ERROR_INVALID_ARGUMENT;
        return aead(EVP_chacha20_poly1305(), encrypt, key, nonce, nonce_len, aad, aad_len, in, in_len, out, out_size,
                    out_len);
}

const EVP_MD *secd_hash_md(psa_algorithm_t alg)
{
        switch (alg) {
        case PSA_ALG_SHA_256:
                return EVP_sha256();
        case PSA_ALG_SHA_384:
                return EVP_sha384();
        case PSA_ALG_SHA_512:
                return EVP_sha512();
        default:
                return NULL;
        }
}

size_t secd_hash_size(psa_algorithm_t alg)
{
        const EVP_MD *md = secd_hash_md(alg);
        return md ? (size_t) EVP_MD_get_size(md) : 0;
}

psa_status_t secd_hash(psa_algorithm_t alg, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                       size_t *out_len)
{
        const EVP_MD *md = secd_hash_md(alg);
        if (!md)
                return PSA_ERROR_NOT_SUPPORTED;
        if (out_size < secd_hash_size(alg))
                return PSA_ERROR_BUFFER_TOO_SMALL;
        unsigned len;
        if (!EVP_Digest(in, in_len, out, &len, md, NULL))
                return PSA_ERROR_GENERIC_ERROR;
        *out_len = len;
        return PSA_SUCCESS;
}

psa_status_t secd_random(uint8_t *out, size_t len)
{
        if (len > INT32_MAX)
                return PSA_ERROR_INVALID_ARGUMENT;
        return len == 0 || RAND_priv_bytes(out, (int) len) == 1 ? PSA_SUCCESS : PSA_ERROR_INSUFFICIENT_ENTROPY;
}
