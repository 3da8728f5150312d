/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key backends of alder-secd: one file each behind this interface
 * (backend-soft.c: OpenSSL; backend-tpm.c: TPM 2.0 through tpm2-tss ESAPI;
 * backend-pkcs11.c: any PKCS#11 module).
 *
 * A backend turns attributes into an opaque key blob and performs operations
 * with a blob. The daemon keeps the blob (sealed under the device key in the
 * store for persistent keys, in memory for volatile ones) and checks the key's
 * usage policy before it calls a backend: backends only do the cryptography.
 * For the software backend the blob is the key material itself; a TPM backend
 * keeps a wrapped key (TPM2B_PRIVATE + TPM2B_PUBLIC), a PKCS#11 backend the
 * CKA_ID of its token object, which `destroy` removes.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alder/error.h"
#include "psa/crypto.h"

#define SECD_KEY_BLOB_MAX 2048u

struct secd_key {
        psa_key_attributes_t attrs;
        const char *app; /* while a key is created: its app (a backend may label its object with it) */
        size_t blob_len;
        uint8_t blob[SECD_KEY_BLOB_MAX];
};

struct secd_aead_args {
        psa_algorithm_t alg;
        bool encrypt;
        const uint8_t *nonce, *aad, *in;
        size_t nonce_len, aad_len, in_len;
};

struct secd_backend {
        const char *name;
        /*
         * Opens what the backend works with (a TPM connection...); `settings`
         * is secd's config (the backend reads its object, "tpm": {...}), or
         * NULL without one. NULL: nothing to open.
         */
        int (*init)(const json_t *settings, const char *config_path, alder_error **err);
        void (*done)(void);
        /*
         * Creates key material for the attributes (type and bits checked:
         * PSA_ERROR_NOT_SUPPORTED for what the backend cannot do) into k->blob.
         */
        psa_status_t (*generate)(struct secd_key *k);
        /* Imports PSA-format key data; fills in k->attrs bits when they were 0. */
        psa_status_t (*import)(struct secd_key *k, const uint8_t *data, size_t len);
        /* The key in PSA export format (private part for pairs). */
        psa_status_t (*export_key)(const struct secd_key *k, uint8_t *out, size_t size, size_t *len);
        /* The public key in PSA format (uncompressed point for ECC). */
        psa_status_t (*export_public)(const struct secd_key *k, uint8_t *out, size_t size, size_t *len);
        psa_status_t (*sign_hash)(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash, size_t hash_len,
                                  uint8_t *sig, size_t sig_size, size_t *sig_len);
        psa_status_t (*verify_hash)(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash, size_t hash_len,
                                    const uint8_t *sig, size_t sig_len);
        /*
         * Signatures of algorithms that sign the message itself
         * (PSA_ALG_PURE_EDDSA); secd hashes the message for the others and
         * calls sign_hash/verify_hash. NULL: none.
         */
        psa_status_t (*sign_message)(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                     uint8_t *sig, size_t sig_size, size_t *sig_len);
        psa_status_t (*verify_message)(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                       const uint8_t *sig, size_t sig_len);
        /* HMAC; secd compares for mac_verify. NULL: PSA_ERROR_NOT_SUPPORTED. */
        psa_status_t (*mac)(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *in, size_t in_len,
                            uint8_t *out, size_t out_size, size_t *out_len);
        /* Raw key agreement (PSA_ALG_ECDH) with a peer public key in PSA format. NULL: not supported. */
        psa_status_t (*key_agreement)(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *peer,
                                      size_t peer_len, uint8_t *out, size_t out_size, size_t *out_len);
        psa_status_t (*aead)(const struct secd_key *k, const struct secd_aead_args *a, uint8_t *out, size_t out_size,
                             size_t *out_len);
        /* Random bytes of the backend's generator; NULL: OpenSSL's. */
        psa_status_t (*random)(uint8_t *out, size_t len);
        /*
         * Seals the device key to the hardware (blob: what the store keeps
         * instead of the key) and unseals it; NULL: the device key is a
         * root-only file. 0 or a negative errno.
         */
        int (*seal)(const uint8_t *data, size_t len, uint8_t *blob, size_t size, size_t *blob_len, alder_error **err);
        int (*unseal)(const uint8_t *blob, size_t len, uint8_t *data, size_t size, size_t *data_len, alder_error **err);
        /* Releases what the backend holds outside the blob (nothing for software keys). */
        psa_status_t (*destroy)(const struct secd_key *k);
};

extern const struct secd_backend secd_backend_soft;
/* TPM 2.0 and PKCS#11; when secd is built without tpm2-tss or the PKCS#11 header their init says so. */
extern const struct secd_backend secd_backend_tpm;
extern const struct secd_backend secd_backend_pkcs11;

/* The backend of a name in config ("software", "tpm"), NULL if unknown. */
const struct secd_backend *secd_backend_find(const char *name);
