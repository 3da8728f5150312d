/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the hardware backends (backend-tpm.c, backend-pkcs11.c) share: they
 * keep the keys their hardware implements there and every other key as a
 * software key (backend-soft.c). The blob's first byte says which:
 * SECD_BLOB_HW, then the backend's own reference to its object, or
 * SECD_BLOB_SOFT, then the software backend's blob.
 *
 * The functions with a backend's signature can stand in its table for the
 * operations only software keys have; a hardware key there is
 * PSA_ERROR_INVALID_ARGUMENT (its policy names a signature algorithm, so
 * secd's policy check has refused most of them already).
 */
#pragma once
#include "backend.h"

#define SECD_BLOB_HW   1u
#define SECD_BLOB_SOFT 2u

/* The public key of a hardware key as a software public key (PSA format). */
typedef psa_status_t (*secd_public_of_fn)(const struct secd_key *k, struct secd_key *pubkey);

bool secd_hybrid_is_soft(const struct secd_key *k);

/* A software key for the attributes (generate) or the data (import), in a SECD_BLOB_SOFT blob. */
psa_status_t secd_hybrid_generate_soft(struct secd_key *k);
psa_status_t secd_hybrid_import(struct secd_key *k, const uint8_t *data, size_t len);

/* Software keys export; hardware keys never (they are made without PSA_KEY_USAGE_EXPORT). */
psa_status_t secd_hybrid_export_key(const struct secd_key *k, uint8_t *out, size_t size, size_t *len);
psa_status_t secd_hybrid_export_public(const struct secd_key *k, secd_public_of_fn public_of, uint8_t *out, size_t size,
                                       size_t *len);
/* Verification needs only the public key: OpenSSL does it for both kinds. */
psa_status_t secd_hybrid_verify_hash(const struct secd_key *k, secd_public_of_fn public_of, psa_algorithm_t alg,
                                     const uint8_t *hash, size_t hash_len, const uint8_t *sig, size_t sig_len);
/* sign_hash of a software key. */
psa_status_t secd_hybrid_sign_hash_soft(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash,
                                        size_t hash_len, uint8_t *sig, size_t sig_size, size_t *sig_len);

psa_status_t secd_hybrid_sign_message(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                      uint8_t *sig, size_t sig_size, size_t *sig_len);
psa_status_t secd_hybrid_verify_message(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                        const uint8_t *sig, size_t sig_len);
psa_status_t secd_hybrid_mac(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *in, size_t in_len,
                             uint8_t *out, size_t out_size, size_t *out_len);
psa_status_t secd_hybrid_key_agreement(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *peer,
                                       size_t peer_len, uint8_t *out, size_t out_size, size_t *out_len);
psa_status_t secd_hybrid_aead(const struct secd_key *k, const struct secd_aead_args *a, uint8_t *out, size_t out_size,
                              size_t *out_len);

/* Keys a hardware backend may hold: key pairs for a hash-and-sign algorithm, never to be exported. */
bool secd_hybrid_signing_pair(const psa_key_attributes_t *a);
