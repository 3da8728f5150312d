/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL primitives alder-secd needs whatever the key backend: AES-GCM (for
 * apps' software keys and for sealing the store under the device key),
 * hashes and random bytes. Results are PSA status codes.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "psa/crypto.h"

#define SECD_GCM_TAG_SIZE  16u
#define SECD_AEAD_TAG_SIZE 16u /* GCM and ChaCha20-Poly1305 */

/*
 * AES-GCM with a key of 16, 24 or 32 bytes. Encrypting writes in_len bytes of
 * ciphertext and then the tag to `out` (out_size >= in_len + 16); decrypting
 * takes ciphertext||tag and writes in_len - 16 bytes, PSA_ERROR_INVALID_SIGNATURE
 * when the tag does not match (nothing of the output may then be used).
 */
psa_status_t secd_gcm(bool encrypt, const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                      const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                      size_t out_size, size_t *out_len);

/*
 * ChaCha20-Poly1305 (RFC 8439) with a 32-byte key and a 12-byte nonce, in the
 * same conventions as secd_gcm().
 */
psa_status_t secd_chacha20_poly1305(bool encrypt, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                                    size_t nonce_len, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                                    size_t in_len, uint8_t *out, size_t out_size, size_t *out_len);

/* OpenSSL's digest of a PSA hash algorithm (SHA-256/384/512), NULL for others. */
const EVP_MD *secd_hash_md(psa_algorithm_t alg);

/* Digest size of a PSA hash algorithm, 0 when not supported. */
size_t secd_hash_size(psa_algorithm_t alg);

psa_status_t secd_hash(psa_algorithm_t alg, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                       size_t *out_len);

/* Random bytes from OpenSSL's private DRBG. */
psa_status_t secd_random(uint8_t *out, size_t len);
