/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing keys, certificates and trust stores (OpenSSL 3).
 *
 * Alder signs app packages and update bundles with ECDSA P-256 keys. A key
 * comes with an X.509 certificate, either self-signed (the certificate itself
 * is put on devices as a trust anchor) or signed by a CA key (devices trust
 * the CA, and signatures carry the signer's certificate in the COSE x5chain
 * header).
 *
 * A key is known everywhere by its fingerprint: the SHA-256 of its DER
 * SubjectPublicKeyInfo, in lowercase hex. It is the COSE key id (kid) of
 * signatures, and what logs and `alder keys show` print; the private key is
 * never printed.
 *
 * A trust store is a folder of PEM certificates (*.pem, *.crt). It answers
 * "which trusted certificate made this signature?" for signer certificates
 * placed directly in the folder and for signer certificates carried in a
 * signature that chain to a certificate of the folder.
 *
 * Validity period policy: by default the notBefore/notAfter dates of signer
 * and CA certificates are NOT enforced. A signature carries no trusted time,
 * devices often boot with a wrong clock, and a package signed while the
 * certificate was valid must keep installing afterwards (removing the
 * certificate from the trust store revokes it; sequence numbers prevent
 * rollback). Callers with a trustworthy clock enable the check with
 * alder_trust_store_set_check_time().
 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"

#define ALDER_FINGERPRINT_SIZE     32 /* SHA-256 */
#define ALDER_FINGERPRINT_HEX_SIZE (2 * ALDER_FINGERPRINT_SIZE + 1)

/* Largest PEM file we read (a certificate chain is a few KiB). */
#define ALDER_PEM_MAX_SIZE (256u * 1024u)
/* Largest number of certificates in a trust store folder. */
#define ALDER_TRUST_STORE_MAX_CERTS 256
/* Longest chain accepted from a signature's x5chain (leaf + intermediates). */
#define ALDER_X5CHAIN_MAX_CERTS 4

static inline void alder_evp_pkey_freep(EVP_PKEY **k)
{
        EVP_PKEY_free(*k);
}
static inline void alder_x509_freep(X509 **c)
{
        X509_free(*c);
}
static inline void alder_x509_stack_freep(STACK_OF(X509) * *s)
{
        if (*s)
                sk_X509_pop_free(*s, X509_free);
}
#define _cleanup_evp_pkey_   _cleanup_(alder_evp_pkey_freep)
#define _cleanup_x509_       _cleanup_(alder_x509_freep)
#define _cleanup_x509_stack_ _cleanup_(alder_x509_stack_freep)

/*
 * Sets *err from OpenSSL's error queue (its last reason is appended: "...: bad
 * decrypt") and clears the queue. Returns -errnum like alder_error_set().
 */
int alder_error_openssl(alder_error **err, int errnum, const char *fmt, ...) ALDER_PRINTF(3, 4);

/* A fresh ECDSA P-256 key pair. */
int alder_key_generate(EVP_PKEY **ret, alder_error **err) ALDER_WUR;

/* Options of alder_cert_create(). */
struct alder_cert_options {
        const char *common_name; /* subject CN, required */
        unsigned days;           /* validity from now, 1..36500 */
        EVP_PKEY *ca_key;        /* NULL: self-signed (and usable as a CA) */
        X509 *ca_cert;           /* the CA's certificate, required with ca_key */
};

/*
 * A certificate for `key`. Self-signed certificates are CA certificates
 * (basicConstraints CA:TRUE, keyUsage digitalSignature + keyCertSign), so the
 * same kind of key signs packages directly or issues signer certificates.
 * CA-signed ones are end-entity certificates (CA:FALSE, digitalSignature).
 * Both: X.509 v3, random 128-bit serial, ECDSA-SHA256, subject/authority key ids.
 */
int alder_cert_create(EVP_PKEY *key, const struct alder_cert_options *opts, X509 **ret, alder_error **err) ALDER_WUR;

/* Crash-safe writes: the private key as PKCS#8 PEM with mode 0600, a certificate as PEM with mode 0644. */
int alder_key_write_pem(const char *path, EVP_PKEY *key, alder_error **err) ALDER_WUR;
int alder_cert_write_pem(const char *path, X509 *cert, alder_error **err) ALDER_WUR;

/*
 * Loading from PEM files; errors name the file. Only EC P-256 keys are
 * accepted; encrypted private keys are refused (no passphrase prompt).
 * alder_certs_load_pem() returns every certificate of the file, in order.
 */
int alder_key_load_pem(const char *path, EVP_PKEY **ret, alder_error **err) ALDER_WUR;
int alder_cert_load_pem(const char *path, X509 **ret, alder_error **err) ALDER_WUR;
int alder_certs_load_pem(const char *path, STACK_OF(X509) * *ret, alder_error **err) ALDER_WUR;

/* True when the key is an EC key on P-256 (prime256v1). */
bool alder_key_is_p256(const EVP_PKEY *key);

/* SHA-256 of the DER SubjectPublicKeyInfo of a key or of a certificate's key. */
int alder_key_fingerprint(const EVP_PKEY *key, uint8_t ret[ALDER_FINGERPRINT_SIZE], alder_error **err) ALDER_WUR;
int alder_cert_fingerprint(const X509 *cert, uint8_t ret[ALDER_FINGERPRINT_SIZE], alder_error **err) ALDER_WUR;

/* What `alder keys show` prints about a certificate. Strings are malloc'ed (alder_cert_info_done). */
struct alder_cert_info {
        char *subject; /* RFC 2253, e.g. "CN=alder-dev" */
        char *issuer;
        time_t not_before;
        time_t not_after;
        bool is_ca;
        bool self_signed;
        char fingerprint[ALDER_FINGERPRINT_HEX_SIZE];
        const char *key_type; /* "EC P-256", "EC", "RSA", ... (static) */
};
int alder_cert_get_info(const X509 *cert, struct alder_cert_info *ret, alder_error **err) ALDER_WUR;
void alder_cert_info_done(struct alder_cert_info *info);

/* Subject of a certificate as RFC 2253 text (malloc'ed). */
int alder_cert_subject(const X509 *cert, char **ret, alder_error **err) ALDER_WUR;

/* "certificate 'CN=x' (key id 01ab…)": how errors name a certificate (truncated to size). */
void alder_cert_describe(const X509 *cert, char *buf, size_t size);

/* Human name of a key type ("EC P-256", "RSA", ...). */
const char *alder_key_type_name(const EVP_PKEY *key);

typedef struct alder_trust_store alder_trust_store;

/* An empty store; add certificates with alder_trust_store_add(). */
int alder_trust_store_new(alder_trust_store **ret, alder_error **err) ALDER_WUR;

/*
 * Loads every certificate of the *.pem and *.crt files of `dir` (hidden files
 * and other names are ignored; a matching file that does not parse is an
 * error naming it, so a broken anchor is noticed rather than skipped).
 * At most ALDER_TRUST_STORE_MAX_CERTS certificates.
 */
int alder_trust_store_load_dir(const char *dir, alder_trust_store **ret, alder_error **err) ALDER_WUR;

/* Adds a trusted certificate (the store takes its own reference). */
int alder_trust_store_add(alder_trust_store *store, X509 *cert, alder_error **err) ALDER_WUR;

size_t alder_trust_store_count(const alder_trust_store *store);

/* Enforce certificate validity periods against the current time (default: off, see above). */
void alder_trust_store_set_check_time(alder_trust_store *store, bool check);

/*
 * The certificates that may have made a signature, for the caller to try:
 *   - with an x5chain (leaf first, then intermediates): the leaf, after it was
 *     verified to chain to a certificate of the store (X509_verify_cert; any
 *     store certificate is an anchor). A kid, when given, must be the leaf's
 *     fingerprint.
 *   - without: the store's certificates whose fingerprint is `kid`, or all of
 *     them when kid is NULL.
 * Fails with EKEYREJECTED when nothing in the store can vouch for the signer.
 * *ret holds references (free with sk_X509_pop_free(..., X509_free)).
 */
int alder_trust_store_find_signers(const alder_trust_store *store, const uint8_t *kid, size_t kid_len,
                                   STACK_OF(X509) * x5chain, STACK_OF(X509) * *ret, alder_error **err) ALDER_WUR;

void alder_trust_store_free(alder_trust_store *store);

static inline void alder_trust_store_freep(alder_trust_store **s)
{
        alder_trust_store_free(*s);
}
#define _cleanup_trust_store_ _cleanup_(alder_trust_store_freep)
