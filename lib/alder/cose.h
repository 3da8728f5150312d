/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COSE_Sign1 (RFC 9052) with a detached payload and ECDSA P-256, as SUIT
 * manifests use it.
 *
 *     COSE_Sign1_Tagged = 18([protected: bstr .cbor {1: alg},
 *                             unprotected: {? 4: kid, ? 33: x5chain},
 *                             payload: nil,
 *                             signature: bstr (r || s, 64 bytes)])
 *
 * The signature covers Sig_structure = ["Signature1", protected, h'', payload]
 * where payload is the detached payload (for SUIT: the encoded SUIT_Digest).
 *
 * Algorithms: ES256 (-7) and ESP256 (-9, "ECDSA using P-256 and SHA-256",
 * the fully-specified name of the same computation) verify; signing uses ES256
 * unless asked otherwise. COSE carries ECDSA signatures as raw r || s, not
 * DER; the conversion for OpenSSL happens here.
 *
 * kid (label 4) is the signer key's fingerprint (keys.h); x5chain (label 33,
 * RFC 9360) carries the signer's certificate and intermediates when devices
 * trust a CA rather than the signer's own certificate.
 *
 * Decoding is strict: tag 18, a non-empty bstr-wrapped protected map holding
 * alg, no label in both buckets, crit (label 2) only in the protected bucket
 * and naming only labels understood here, bounded sizes (ALDER_COSE_MAX_SIZE,
 * ALDER_X5CHAIN_MAX_CERTS), deterministic CBOR (cbor-util.h).
 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "keys.h"
#include "macro.h"

#define ALDER_COSE_ALG_ES256     (-7)
#define ALDER_COSE_ALG_ESP256    (-9)

#define ALDER_COSE_TAG_SIGN1     18

#define ALDER_COSE_LABEL_ALG     1
#define ALDER_COSE_LABEL_CRIT    2
#define ALDER_COSE_LABEL_KID     4
#define ALDER_COSE_LABEL_X5CHAIN 33

/* Largest COSE_Sign1 accepted (room for a chain of a few certificates). */
#define ALDER_COSE_MAX_SIZE (16u * 1024u)
/* Largest kid accepted (ours are 32 bytes). */
#define ALDER_COSE_MAX_KID        64
#define ALDER_COSE_SIGNATURE_SIZE 64

/* Who signs. */
struct alder_cose_signer {
        EVP_PKEY *key;          /* EC P-256 private key, required */
        X509 *cert;             /* its certificate; NULL: kid from the key, no x5chain */
        STACK_OF(X509) * chain; /* intermediates to append to x5chain (optional) */
        bool x5chain;           /* carry [cert, chain...] in the x5chain header (for CA-signed certs) */
        int alg;                /* ALDER_COSE_ALG_ES256 (also when 0) or ALDER_COSE_ALG_ESP256 */
};

/* Who signed, as verification found it. */
struct alder_cose_signer_info {
        char subject[256]; /* RFC 2253 subject of the certificate that verified the signature */
        char fingerprint[ALDER_FINGERPRINT_HEX_SIZE];
        int alg;
};

/* A strictly decoded COSE_Sign1; free with alder_cose_sign1_done(). */
struct alder_cose_sign1 {
        int alg;
        uint8_t *protected_bytes; /* copy of the protected header bstr's content */
        size_t protected_len;
        uint8_t kid[ALDER_COSE_MAX_KID];
        size_t kid_len;           /* 0: no kid */
        STACK_OF(X509) * x5chain; /* NULL: none */
        uint8_t signature[ALDER_COSE_SIGNATURE_SIZE];
};

/* Creates a COSE_Sign1_Tagged over the detached `payload`. *ret is malloc'ed. */
int alder_cose_sign1_create(const uint8_t *payload, size_t payload_len, const struct alder_cose_signer *signer,
                            uint8_t **ret, size_t *ret_len, alder_error **err) ALDER_WUR;

/*
 * Strictly decodes a COSE_Sign1_Tagged (no signature check: for inspection
 * and fuzzing; alder_cose_sign1_verify() decodes the same way).
 */
int alder_cose_sign1_decode(const uint8_t *buf, size_t len, struct alder_cose_sign1 *ret, alder_error **err) ALDER_WUR;
void alder_cose_sign1_done(struct alder_cose_sign1 *s);

/*
 * Verifies a COSE_Sign1_Tagged over the detached payload with a certificate
 * the trust store vouches for (alder_trust_store_find_signers()). Errors:
 * EBADMSG malformed, ENOTSUP algorithm, EKEYREJECTED untrusted signer or bad
 * signature, EKEYEXPIRED certificate validity (when the store checks time).
 */
int alder_cose_sign1_verify(const uint8_t *buf, size_t len, const uint8_t *payload, size_t payload_len,
                            const alder_trust_store *store, struct alder_cose_signer_info *ret,
                            alder_error **err) ALDER_WUR;
