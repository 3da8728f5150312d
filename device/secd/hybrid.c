/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "hybrid.h"

bool secd_hybrid_is_soft(const struct secd_key *k)
{
        return k->blob_len > 0 && k->blob[0] == SECD_BLOB_SOFT;
}

/* The software key inside a SECD_BLOB_SOFT blob. */
static void soft_key(const struct secd_key *k, struct secd_key *soft)
{
        soft->attrs = k->attrs;
        soft->blob_len = k->blob_len - 1;
        memcpy(soft->blob, k->blob + 1, soft->blob_len);
}

/* Makes k's blob a SECD_BLOB_SOFT one around the software backend's; forgets `soft`. */
static psa_status_t wrap_soft(struct secd_key *k, struct secd_key *soft, psa_status_t s)
{
        if (s == PSA_SUCCESS && soft->blob_len + 1 > sizeof(k->blob))
                s = PSA_ERROR_NOT_SUPPORTED;
        if (s == PSA_SUCCESS) {
                k->attrs = soft->attrs;
                k->blob[0] = SECD_BLOB_SOFT;
                memcpy(k->blob + 1, soft->blob, soft->blob_len);
                k->blob_len = soft->blob_len + 1;
        }
        explicit_bzero(soft, sizeof(*soft));
        return s;
}

psa_status_t secd_hybrid_generate_soft(struct secd_key *k)
{
        struct secd_key soft = {.attrs = k->attrs};
        return wrap_soft(k, &soft, secd_backend_soft.generate(&soft));
}

/* Imported keys are software keys: their material existed outside the hardware anyway. */
psa_status_t secd_hybrid_import(struct secd_key *k, const uint8_t *data, size_t len)
{
        struct secd_key soft = {.attrs = k->attrs};
        return wrap_soft(k, &soft, secd_backend_soft.import(&soft, data, len));
}

/*
 * The operations only software keys have: `call` runs with `soft`, the
 * software key of k.
 */
#define SOFT_ONLY(call)                                    \
        do {                                               \
                if (!secd_hybrid_is_soft(k))               \
                        return PSA_ERROR_INVALID_ARGUMENT; \
                struct secd_key soft;                      \
                soft_key(k, &soft);                        \
                psa_status_t s_ = (call);                  \
                explicit_bzero(&soft, sizeof(soft));       \
                return s_;                                 \
        } while (0)

psa_status_t secd_hybrid_export_key(const struct secd_key *k, uint8_t *out, size_t size, size_t *len)
{
        if (!secd_hybrid_is_soft(k))
                return PSA_ERROR_NOT_PERMITTED;
        SOFT_ONLY(secd_backend_soft.export_key(&soft, out, size, len));
}

/* The key's public part as a software key (the software key itself for software keys). */
static psa_status_t public_key(const struct secd_key *k, secd_public_of_fn public_of, struct secd_key *pubkey)
{
        if (!secd_hybrid_is_soft(k))
                return public_of(k, pubkey);
        soft_key(k, pubkey);
        return PSA_SUCCESS;
}

psa_status_t secd_hybrid_export_public(const struct secd_key *k, secd_public_of_fn public_of, uint8_t *out, size_t size,
                                       size_t *len)
{
        struct secd_key pubkey;
        psa_status_t s = public_key(k, public_of, &pubkey);
        if (s == PSA_SUCCESS)
                s = secd_backend_soft.export_public(&pubkey, out, size, len);
        explicit_bzero(&pubkey, sizeof(pubkey));
        return s;
}

psa_status_t secd_hybrid_verify_hash(const struct secd_key *k, secd_public_of_fn public_of, psa_algorithm_t alg,
                                     const uint8_t *hash, size_t hash_len, const uint8_t *sig, size_t sig_len)
{
        struct secd_key pubkey;
        psa_status_t s = public_key(k, public_of, &pubkey);
        if (s == PSA_SUCCESS)
                s = secd_backend_soft.verify_hash(&pubkey, alg, hash, hash_len, sig, sig_len);
        explicit_bzero(&pubkey, sizeof(pubkey));
        return s;
}

psa_status_t secd_hybrid_sign_hash_soft(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash,
                                        size_t hash_len, uint8_t *sig, size_t sig_size, size_t *sig_len)
{
        SOFT_ONLY(secd_backend_soft.sign_hash(&soft, alg, hash, hash_len, sig, sig_size, sig_len));
}

psa_status_t secd_hybrid_sign_message(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                      uint8_t *sig, size_t sig_size, size_t *sig_len)
{
        SOFT_ONLY(secd_backend_soft.sign_message(&soft, alg, msg, len, sig, sig_size, sig_len));
}

psa_status_t secd_hybrid_verify_message(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *msg, size_t len,
                                        const uint8_t *sig, size_t sig_len)
{
        SOFT_ONLY(secd_backend_soft.verify_message(&soft, alg, msg, len, sig, sig_len));
}

psa_status_t secd_hybrid_mac(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *in, size_t in_len,
                             uint8_t *out, size_t out_size, size_t *out_len)
{
        SOFT_ONLY(secd_backend_soft.mac(&soft, alg, in, in_len, out, out_size, out_len));
}

psa_status_t secd_hybrid_key_agreement(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *peer,
                                       size_t peer_len, uint8_t *out, size_t out_size, size_t *out_len)
{
        SOFT_ONLY(secd_backend_soft.key_agreement(&soft, alg, peer, peer_len, out, out_size, out_len));
}

psa_status_t secd_hybrid_aead(const struct secd_key *k, const struct secd_aead_args *a, uint8_t *out, size_t out_size,
                              size_t *out_len)
{
        SOFT_ONLY(secd_backend_soft.aead(&soft, a, out, out_size, out_len));
}

bool secd_hybrid_signing_pair(const psa_key_attributes_t *a)
{
        return PSA_KEY_TYPE_IS_KEY_PAIR(a->private_type) && PSA_ALG_IS_HASH_AND_SIGN(a->private_alg) &&
               !(a->private_usage & PSA_KEY_USAGE_EXPORT);
}
