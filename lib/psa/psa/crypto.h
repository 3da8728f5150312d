/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PSA Certified Crypto API (subset) for Alder apps: libalder-psa.
 *
 * The names, types and values are those of the PSA Certified Crypto API 1.1,
 * so app code written against it also builds on TF-M or Trusted Services.
 * Every call is one request to alder-secd over the app's own Unix socket
 * (ALDER_SECD_SOCKET, default /run/alder/secd.sock); keys never enter the
 * app's memory unless exported. Wire protocol: docs/api/secd.md.
 *
 * Thread-safe: calls are serialized on the one connection.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t psa_status_t;

#define PSA_SUCCESS                     ((psa_status_t) 0)
#define PSA_ERROR_GENERIC_ERROR         ((psa_status_t) -132)
#define PSA_ERROR_NOT_PERMITTED         ((psa_status_t) -133)
#define PSA_ERROR_NOT_SUPPORTED         ((psa_status_t) -134)
#define PSA_ERROR_INVALID_ARGUMENT      ((psa_status_t) -135)
#define PSA_ERROR_INVALID_HANDLE        ((psa_status_t) -136)
#define PSA_ERROR_BAD_STATE             ((psa_status_t) -137)
#define PSA_ERROR_BUFFER_TOO_SMALL      ((psa_status_t) -138)
#define PSA_ERROR_ALREADY_EXISTS        ((psa_status_t) -139)
#define PSA_ERROR_DOES_NOT_EXIST        ((psa_status_t) -140)
#define PSA_ERROR_INSUFFICIENT_MEMORY   ((psa_status_t) -141)
#define PSA_ERROR_INSUFFICIENT_STORAGE  ((psa_status_t) -142)
#define PSA_ERROR_INSUFFICIENT_DATA     ((psa_status_t) -143)
#define PSA_ERROR_COMMUNICATION_FAILURE ((psa_status_t) -145)
#define PSA_ERROR_STORAGE_FAILURE       ((psa_status_t) -146)
#define PSA_ERROR_HARDWARE_FAILURE      ((psa_status_t) -147)
#define PSA_ERROR_INSUFFICIENT_ENTROPY  ((psa_status_t) -148)
#define PSA_ERROR_INVALID_SIGNATURE     ((psa_status_t) -149)
#define PSA_ERROR_INVALID_PADDING       ((psa_status_t) -150)
#define PSA_ERROR_CORRUPTION_DETECTED   ((psa_status_t) -151)
#define PSA_ERROR_DATA_CORRUPT          ((psa_status_t) -152)
#define PSA_ERROR_DATA_INVALID          ((psa_status_t) -153)

typedef uint16_t psa_key_type_t;
typedef uint16_t psa_key_bits_t;
typedef uint32_t psa_algorithm_t;
typedef uint32_t psa_key_usage_t;
typedef uint32_t psa_key_lifetime_t;
typedef uint32_t psa_key_id_t;
typedef uint8_t psa_ecc_family_t;

/* Key types */
#define PSA_KEY_TYPE_NONE                         ((psa_key_type_t) 0x0000)
#define PSA_KEY_TYPE_RAW_DATA                     ((psa_key_type_t) 0x1001)
#define PSA_KEY_TYPE_HMAC                         ((psa_key_type_t) 0x1100)
#define PSA_KEY_TYPE_AES                          ((psa_key_type_t) 0x2400)
#define PSA_KEY_TYPE_CHACHA20                     ((psa_key_type_t) 0x2004)
#define PSA_KEY_TYPE_RSA_PUBLIC_KEY               ((psa_key_type_t) 0x4001)
#define PSA_KEY_TYPE_RSA_KEY_PAIR                 ((psa_key_type_t) 0x7001)
#define PSA_ECC_FAMILY_SECP_R1                    ((psa_ecc_family_t) 0x12)
#define PSA_ECC_FAMILY_MONTGOMERY                 ((psa_ecc_family_t) 0x41) /* Curve25519 (X25519), 255 bits */
#define PSA_ECC_FAMILY_TWISTED_EDWARDS            ((psa_ecc_family_t) 0x42) /* Edwards25519 (Ed25519), 255 bits */
#define PSA_KEY_TYPE_ECC_KEY_PAIR(curve)          ((psa_key_type_t) (0x7100 | (curve)))
#define PSA_KEY_TYPE_ECC_PUBLIC_KEY(curve)        ((psa_key_type_t) (0x4100 | (curve)))
#define PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type)        (((type) &0xff00) == 0x7100)
#define PSA_KEY_TYPE_IS_ECC_PUBLIC_KEY(type)      (((type) &0xff00) == 0x4100)
#define PSA_KEY_TYPE_IS_ECC(type)                 (((type) &0xcf00) == 0x4100)
#define PSA_KEY_TYPE_ECC_GET_FAMILY(type)         ((psa_ecc_family_t) ((type) &0xff))
#define PSA_KEY_TYPE_IS_RSA(type)                 (((type) &0xcfff) == 0x4001)
#define PSA_KEY_TYPE_IS_ASYMMETRIC(type)          (((type) &0x4000) == 0x4000)
#define PSA_KEY_TYPE_IS_PUBLIC_KEY(type)          (((type) &0x7000) == 0x4000)
#define PSA_KEY_TYPE_IS_KEY_PAIR(type)            (((type) &0x7000) == 0x7000)
#define PSA_KEY_TYPE_PUBLIC_KEY_OF_KEY_PAIR(type) ((psa_key_type_t) ((type) & ~0x3000))

/* Usage flags */
#define PSA_KEY_USAGE_EXPORT         ((psa_key_usage_t) 0x00000001)
#define PSA_KEY_USAGE_COPY           ((psa_key_usage_t) 0x00000002)
#define PSA_KEY_USAGE_CACHE          ((psa_key_usage_t) 0x00000004)
#define PSA_KEY_USAGE_ENCRYPT        ((psa_key_usage_t) 0x00000100)
#define PSA_KEY_USAGE_DECRYPT        ((psa_key_usage_t) 0x00000200)
#define PSA_KEY_USAGE_SIGN_MESSAGE   ((psa_key_usage_t) 0x00000400)
#define PSA_KEY_USAGE_VERIFY_MESSAGE ((psa_key_usage_t) 0x00000800)
#define PSA_KEY_USAGE_SIGN_HASH      ((psa_key_usage_t) 0x00001000)
#define PSA_KEY_USAGE_VERIFY_HASH    ((psa_key_usage_t) 0x00002000)
#define PSA_KEY_USAGE_DERIVE         ((psa_key_usage_t) 0x00004000)

/* Lifetimes and key identifiers */
#define PSA_KEY_LIFETIME_VOLATILE   ((psa_key_lifetime_t) 0x00000000)
#define PSA_KEY_LIFETIME_PERSISTENT ((psa_key_lifetime_t) 0x00000001)
#define PSA_KEY_ID_NULL             ((psa_key_id_t) 0)
#define PSA_KEY_ID_USER_MIN         ((psa_key_id_t) 0x00000001)
#define PSA_KEY_ID_USER_MAX         ((psa_key_id_t) 0x3fffffff)
#define PSA_KEY_ID_VENDOR_MIN       ((psa_key_id_t) 0x40000000)
#define PSA_KEY_ID_VENDOR_MAX       ((psa_key_id_t) 0x7fffffff)

/* Algorithms */
#define PSA_ALG_NONE                        ((psa_algorithm_t) 0)
#define PSA_ALG_SHA_256                     ((psa_algorithm_t) 0x02000009)
#define PSA_ALG_SHA_384                     ((psa_algorithm_t) 0x0200000a)
#define PSA_ALG_SHA_512                     ((psa_algorithm_t) 0x0200000b)
#define PSA_ALG_ANY_HASH                    ((psa_algorithm_t) 0x020000ff)
#define PSA_ALG_ECDSA(hash_alg)             ((psa_algorithm_t) (0x06000600 | ((hash_alg) &0x000000ff)))
#define PSA_ALG_ECDSA_ANY                   ((psa_algorithm_t) 0x06000600)
#define PSA_ALG_RSA_PKCS1V15_SIGN(hash_alg) ((psa_algorithm_t) (0x06000200 | ((hash_alg) &0x000000ff)))
#define PSA_ALG_RSA_PSS(hash_alg)           ((psa_algorithm_t) (0x06000300 | ((hash_alg) &0x000000ff)))
#define PSA_ALG_RSA_PSS_ANY_SALT(hash_alg)  ((psa_algorithm_t) (0x06001300 | ((hash_alg) &0x000000ff)))
#define PSA_ALG_PURE_EDDSA                  ((psa_algorithm_t) 0x06000800)
#define PSA_ALG_HMAC(hash_alg)              ((psa_algorithm_t) (0x03800000 | ((hash_alg) &0x000000ff)))
#define PSA_ALG_GCM                         ((psa_algorithm_t) 0x05500200)
#define PSA_ALG_CHACHA20_POLY1305           ((psa_algorithm_t) 0x05100500)
#define PSA_ALG_ECDH                        ((psa_algorithm_t) 0x09020000)
#define PSA_ALG_IS_HASH(alg)                (((alg) &0x7f000000) == 0x02000000)
#define PSA_ALG_IS_HMAC(alg)                (((alg) &0x7fc00000) == 0x03800000)
#define PSA_ALG_IS_RSA_PSS(alg)             (((alg) & ~0x000010ffu) == 0x06000300)
#define PSA_ALG_IS_ECDSA(alg)               (((alg) & ~0x000001ffu) == 0x06000600)
/* Signature algorithms that sign a hash (all but PSA_ALG_PURE_EDDSA, which signs the message itself). */
#define PSA_ALG_IS_HASH_AND_SIGN(alg) \
        (PSA_ALG_IS_RSA_PSS(alg) || PSA_ALG_IS_ECDSA(alg) || ((alg) & ~0x000000ffu) == 0x06000200)
#define PSA_ALG_SIGN_GET_HASH(alg) \
        (PSA_ALG_IS_HASH_AND_SIGN(alg) && ((alg) &0xff) ? (psa_algorithm_t) (((alg) &0xff) | 0x02000000) : 0)
#define PSA_ALG_HMAC_GET_HASH(alg) ((psa_algorithm_t) (0x02000000 | ((alg) &0x000000ff)))

/* Sizes */
#define PSA_HASH_MAX_SIZE                                   64
#define PSA_MAC_MAX_SIZE                                    64
#define PSA_SIGNATURE_MAX_SIZE                              384 /* RSA-3072 */
#define PSA_RAW_KEY_AGREEMENT_OUTPUT_MAX_SIZE               48
#define PSA_AEAD_TAG_LENGTH_GCM                             16
#define PSA_AEAD_ENCRYPT_OUTPUT_SIZE_GCM(plaintext_length)  ((plaintext_length) + 16u)
#define PSA_AEAD_DECRYPT_OUTPUT_SIZE_GCM(ciphertext_length) ((ciphertext_length) > 16u ? (ciphertext_length) -16u : 0u)
#define PSA_EXPORT_PUBLIC_KEY_MAX_SIZE                      400  /* RSAPublicKey of RSA-3072 */
#define PSA_EXPORT_KEY_PAIR_MAX_SIZE                        1787 /* RSAPrivateKey of RSA-3072 */

/*
 * Key attributes: a plain value, initialized with PSA_KEY_ATTRIBUTES_INIT or
 * psa_key_attributes_init(). Its fields are private.
 */
typedef struct psa_key_attributes_s {
        psa_key_type_t private_type;
        psa_key_bits_t private_bits;
        psa_key_lifetime_t private_lifetime;
        psa_key_id_t private_id;
        psa_key_usage_t private_usage;
        psa_algorithm_t private_alg;
} psa_key_attributes_t;

#define PSA_KEY_ATTRIBUTES_INIT ((psa_key_attributes_t){0})

static inline psa_key_attributes_t psa_key_attributes_init(void)
{
        return PSA_KEY_ATTRIBUTES_INIT;
}
/* psa_set_key_NAME() and psa_get_key_NAME() of a plain field. */
#define ALDER_PSA_ATTR_ACCESSORS(name, type, field)                                \
        static inline void psa_set_key_##name(psa_key_attributes_t *a, type value) \
        {                                                                          \
                a->field = value;                                                  \
        }                                                                          \
        static inline type psa_get_key_##name(const psa_key_attributes_t *a)       \
        {                                                                          \
                return a->field;                                                   \
        }

/* Setting an id makes the key persistent, as the specification says. */
static inline void psa_set_key_id(psa_key_attributes_t *a, psa_key_id_t id)
{
        a->private_id = id;
        if (a->private_lifetime == PSA_KEY_LIFETIME_VOLATILE)
                a->private_lifetime = PSA_KEY_LIFETIME_PERSISTENT;
}
static inline psa_key_id_t psa_get_key_id(const psa_key_attributes_t *a)
{
        return a->private_id;
}
/* Setting a volatile lifetime clears the id. */
static inline void psa_set_key_lifetime(psa_key_attributes_t *a, psa_key_lifetime_t lifetime)
{
        a->private_lifetime = lifetime;
        if (lifetime == PSA_KEY_LIFETIME_VOLATILE)
                a->private_id = PSA_KEY_ID_NULL;
}
static inline psa_key_lifetime_t psa_get_key_lifetime(const psa_key_attributes_t *a)
{
        return a->private_lifetime;
}
ALDER_PSA_ATTR_ACCESSORS(type, psa_key_type_t, private_type)
static inline void psa_set_key_bits(psa_key_attributes_t *a, size_t bits)
{
        a->private_bits = bits > 0xffff ? 0xffff : (psa_key_bits_t) bits;
}
static inline size_t psa_get_key_bits(const psa_key_attributes_t *a)
{
        return a->private_bits;
}
ALDER_PSA_ATTR_ACCESSORS(usage_flags, psa_key_usage_t, private_usage)
ALDER_PSA_ATTR_ACCESSORS(algorithm, psa_algorithm_t, private_alg)
static inline void psa_reset_key_attributes(psa_key_attributes_t *a)
{
        *a = PSA_KEY_ATTRIBUTES_INIT;
}

/* Connects to alder-secd; every other call fails with PSA_ERROR_BAD_STATE before it. */
psa_status_t psa_crypto_init(void);

psa_status_t psa_get_key_attributes(psa_key_id_t key, psa_key_attributes_t *attributes);
psa_status_t psa_generate_key(const psa_key_attributes_t *attributes, psa_key_id_t *key);
psa_status_t psa_import_key(const psa_key_attributes_t *attributes, const uint8_t *data, size_t data_length,
                            psa_key_id_t *key);
psa_status_t psa_export_key(psa_key_id_t key, uint8_t *data, size_t data_size, size_t *data_length);
psa_status_t psa_export_public_key(psa_key_id_t key, uint8_t *data, size_t data_size, size_t *data_length);
psa_status_t psa_destroy_key(psa_key_id_t key);

psa_status_t psa_sign_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
                           uint8_t *signature, size_t signature_size, size_t *signature_length);
psa_status_t psa_verify_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
                             const uint8_t *signature, size_t signature_length);

psa_status_t psa_aead_encrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *nonce, size_t nonce_length,
                              const uint8_t *additional_data, size_t additional_data_length, const uint8_t *plaintext,
                              size_t plaintext_length, uint8_t *ciphertext, size_t ciphertext_size,
                              size_t *ciphertext_length);
psa_status_t psa_aead_decrypt(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *nonce, size_t nonce_length,
                              const uint8_t *additional_data, size_t additional_data_length, const uint8_t *ciphertext,
                              size_t ciphertext_length, uint8_t *plaintext, size_t plaintext_size,
                              size_t *plaintext_length);

/* Signatures of a whole message: hash-and-sign algorithms hash it in secd; PSA_ALG_PURE_EDDSA signs it as is. */
psa_status_t psa_sign_message(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                              uint8_t *signature, size_t signature_size, size_t *signature_length);
psa_status_t psa_verify_message(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                                const uint8_t *signature, size_t signature_length);

psa_status_t psa_mac_compute(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                             uint8_t *mac, size_t mac_size, size_t *mac_length);
psa_status_t psa_mac_verify(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                            const uint8_t *mac, size_t mac_length);

/* The shared secret of an ECDH with PSA_ALG_ECDH: the x coordinate (P-256/P-384), or X25519's output. */
psa_status_t psa_raw_key_agreement(psa_algorithm_t alg, psa_key_id_t private_key, const uint8_t *peer_key,
                                   size_t peer_key_length, uint8_t *output, size_t output_size, size_t *output_length);

psa_status_t psa_hash_compute(psa_algorithm_t alg, const uint8_t *input, size_t input_length, uint8_t *hash,
                              size_t hash_size, size_t *hash_length);
psa_status_t psa_generate_random(uint8_t *output, size_t output_size);

#ifdef __cplusplus
}
#endif
