/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/cbor-util.h"
#include "alder/cose.h"
#include "alder/digest.h"

#define WHAT "COSE_Sign1"
/* Header parameters per bucket: COSE objects of the profile use two or three. */
#define MAX_HEADERS 16
#define MAX_CRIT    8
#define COORD_SIZE  (ALDER_COSE_SIGNATURE_SIZE / 2)

/* ---- shared ---------------------------------------------------------------------------------- */

static bool alg_supported(int alg)
{
        return alg == ALDER_COSE_ALG_ES256 || alg == ALDER_COSE_ALG_ESP256;
}

/* Sig_structure = ["Signature1", body_protected, external_aad = h'', payload] (RFC 9052 §4.4). */
static int sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload, size_t payload_len,
                         uint8_t **ret, size_t *ret_len, alder_error **err)
{
        static const char context[] = "Signature1";
        struct alder_cbor_writer w = {.max = ALDER_COSE_MAX_SIZE * 4};
        alder_cbor_put_array(&w, 4);
        alder_cbor_put_text(&w, context, sizeof(context) - 1);
        alder_cbor_put_bytes(&w, prot, prot_len);
        alder_cbor_put_bytes(&w, "", 0);
        alder_cbor_put_bytes(&w, payload, payload_len);
        return alder_cbor_writer_finish(&w, "Sig_structure", ret, ret_len, err);
}

static void md_ctx_freep(EVP_MD_CTX **c)
{
        EVP_MD_CTX_free(*c);
}
static void ecdsa_sig_freep(ECDSA_SIG **s)
{
        ECDSA_SIG_free(*s);
}

/* ---- signing --------------------------------------------------------------------------------- */

/* ECDSA-SHA256 of tbs as COSE wants it: r || s, each left-padded to 32 bytes. */
static int ecdsa_sign(EVP_PKEY *key, const uint8_t *tbs, size_t tbs_len, uint8_t out[ALDER_COSE_SIGNATURE_SIZE],
                      alder_error **err)
{
        _cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t der_len = 0;
        if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, NULL, &der_len, tbs, tbs_len) != 1)
                return alder_error_openssl(err, EIO, WHAT ": sign");
        _cleanup_free_ uint8_t *der = malloc(der_len);
        if (!der || EVP_DigestSign(ctx, der, &der_len, tbs, tbs_len) != 1)
                return alder_error_openssl(err, EIO, WHAT ": sign");
        const unsigned char *p = der;
        _cleanup_(ecdsa_sig_freep) ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
        if (!sig)
                return alder_error_openssl(err, EIO, WHAT ": sign: decode ECDSA signature");
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(sig, &r, &s);
        if (BN_bn2binpad(r, out, COORD_SIZE) != COORD_SIZE ||
            BN_bn2binpad(s, out + COORD_SIZE, COORD_SIZE) != COORD_SIZE)
                return alder_error_set(err, EIO, WHAT ": sign: ECDSA signature is not P-256 sized");
        return 0;
}

/* The x5chain header: one certificate as a bstr, several as an array of bstr (RFC 9360). */
static int put_x5chain(struct alder_cbor_writer *w, const struct alder_cose_signer *signer, alder_error **err)
{
        int extra = signer->chain ? sk_X509_num(signer->chain) : 0;
        if (!signer->cert)
                return alder_error_set(err, EINVAL, WHAT ": x5chain needs the signer's certificate");
        if (extra + 1 > ALDER_X5CHAIN_MAX_CERTS)
                return alder_error_set(err, E2BIG, WHAT ": x5chain: more than %d certificates",
                                       ALDER_X5CHAIN_MAX_CERTS);
        if (extra > 0)
                alder_cbor_put_array(w, (size_t) extra + 1);
        for (int i = -1; i < extra; i++) {
                X509 *c = i < 0 ? signer->cert : sk_X509_value(signer->chain, i);
                unsigned char *der = NULL;
                int len = i2d_X509(c, &der);
                if (len <= 0)
                        return alder_error_openssl(err, EINVAL, WHAT ": x5chain: encode certificate");
                alder_cbor_put_bytes(w, der, (size_t) len);
                OPENSSL_free(der);
        }
        return 0;
}

static int check_signer(const struct alder_cose_signer *signer, int alg, alder_error **err)
{
        if (!alg_supported(alg))
                return alder_error_set(err, ENOTSUP,
                                       WHAT ": algorithm %d is not supported (use ES256 (-7) or ESP256 (-9))", alg);
        if (!alder_key_is_p256(signer->key))
                return alder_error_set(err, EINVAL, WHAT ": signing key: expected EC P-256, got %s",
                                       signer->key ? alder_key_type_name(signer->key) : "none");
        if (signer->cert && X509_check_private_key(signer->cert, signer->key) != 1) {
                ERR_clear_error();
                return alder_error_set(err, EINVAL, WHAT ": the signing key does not match its certificate");
        }
        return 0;
}

/* {4: kid, ? 33: x5chain}: keys in deterministic order. */
static int put_unprotected(struct alder_cbor_writer *w, const struct alder_cose_signer *signer, alder_error **err)
{
        uint8_t kid[ALDER_FINGERPRINT_SIZE];
        int r = signer->cert ? alder_cert_fingerprint(signer->cert, kid, err)
                             : alder_key_fingerprint(signer->key, kid, err);
        if (r < 0)
                return r;
        alder_cbor_put_map(w, signer->x5chain ? 2 : 1);
        alder_cbor_put_uint(w, ALDER_COSE_LABEL_KID);
        alder_cbor_put_bytes(w, kid, sizeof(kid));
        if (!signer->x5chain)
                return 0;
        alder_cbor_put_uint(w, ALDER_COSE_LABEL_X5CHAIN);
        return put_x5chain(w, signer, err);
}

int alder_cose_sign1_create(const uint8_t *payload, size_t payload_len, const struct alder_cose_signer *signer,
                            uint8_t **ret, size_t *ret_len, alder_error **err)
{
        int alg = signer->alg ? signer->alg : ALDER_COSE_ALG_ES256;
        int r = check_signer(signer, alg, err);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *prot = NULL;
        size_t prot_len = 0;
        struct alder_cbor_writer pw = {0};
        alder_cbor_put_map(&pw, 1);
        alder_cbor_put_uint(&pw, ALDER_COSE_LABEL_ALG);
        alder_cbor_put_int(&pw, alg);
        r = alder_cbor_writer_finish(&pw, "COSE protected header", &prot, &prot_len, err);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *tbs = NULL;
        size_t tbs_len = 0;
        uint8_t sig[ALDER_COSE_SIGNATURE_SIZE];
        r = sig_structure(prot, prot_len, payload, payload_len, &tbs, &tbs_len, err);
        if (r == 0)
                r = ecdsa_sign(signer->key, tbs, tbs_len, sig, err);
        if (r < 0)
                return r;

        _cleanup_cbor_writer_ struct alder_cbor_writer w = {.max = ALDER_COSE_MAX_SIZE};
        alder_cbor_put_tag(&w, ALDER_COSE_TAG_SIGN1);
        alder_cbor_put_array(&w, 4);
        alder_cbor_put_bytes(&w, prot, prot_len);
        r = put_unprotected(&w, signer, err);
        if (r < 0)
                return r;
        alder_cbor_put_null(&w);
        alder_cbor_put_bytes(&w, sig, sizeof(sig));
        return alder_cbor_writer_finish(&w, WHAT, ret, ret_len, err);
}

/* ---- decoding -------------------------------------------------------------------------------- */

/* Header parameters collected from both buckets. */
struct headers {
        bool has_alg;
        int64_t alg;
        const cbor_item_t *kid;
        const cbor_item_t *x5chain;
        const cbor_item_t *crit;
        int64_t labels[2 * MAX_HEADERS]; /* every label seen, to refuse one in both buckets */
        size_t n_labels;
};

static bool label_understood(int64_t label)
{
        return label == ALDER_COSE_LABEL_ALG || label == ALDER_COSE_LABEL_CRIT || label == ALDER_COSE_LABEL_KID ||
               label == ALDER_COSE_LABEL_X5CHAIN;
}

static int note_label(struct headers *h, int64_t label, alder_error **err)
{
        for (size_t i = 0; i < h->n_labels; i++)
                if (h->labels[i] == label)
                        return alder_error_set(err, EBADMSG,
                                               WHAT ": header label %lld is in both the protected and the "
                                                    "unprotected header",
                                               (long long) label);
        h->labels[h->n_labels++] = label;
        return 0;
}

/* One header parameter; `bucket` is "protected" or "unprotected". */
static int parse_header(struct headers *h, const char *bucket, int64_t label, const cbor_item_t *v, alder_error **err)
{
        bool prot = strcmp(bucket, "protected") == 0;
        switch (label) {
        case ALDER_COSE_LABEL_ALG:
                if (!prot)
                        return alder_error_set(err, EBADMSG, WHAT ": alg must be in the protected header");
                if (!alder_cbor_get_int64(v, &h->alg) || h->alg < INT32_MIN || h->alg > INT32_MAX)
                        return alder_error_set(err, ENOTSUP, WHAT ": alg: expected an integer algorithm id, got %s",
                                               alder_cbor_type_name(v));
                h->has_alg = true;
                return 0;
        case ALDER_COSE_LABEL_CRIT:
                if (!prot)
                        return alder_error_set(err, EBADMSG, WHAT ": crit must be in the protected header");
                h->crit = v;
                return 0;
        case ALDER_COSE_LABEL_KID:
                if (!cbor_isa_bytestring(v) || cbor_bytestring_length(v) == 0 ||
                    cbor_bytestring_length(v) > ALDER_COSE_MAX_KID)
                        return alder_error_set(err, EBADMSG, WHAT ": kid: expected a byte string of 1 to %d bytes",
                                               ALDER_COSE_MAX_KID);
                h->kid = v;
                return 0;
        case ALDER_COSE_LABEL_X5CHAIN:
                h->x5chain = v;
                return 0;
        default:
                return 0; /* not understood: fine unless crit names it (checked later) */
        }
}

static int parse_bucket(struct headers *h, const char *bucket, const cbor_item_t *map, alder_error **err)
{
        if (!cbor_isa_map(map))
                return alder_error_set(err, EBADMSG, WHAT ": %s header: expected a map, got %s", bucket,
                                       alder_cbor_type_name(map));
        if (cbor_map_size(map) > MAX_HEADERS)
                return alder_error_set(err, E2BIG, WHAT ": %s header: more than %d parameters", bucket, MAX_HEADERS);
        struct cbor_pair *pairs = cbor_map_handle(map);
        for (size_t i = 0; i < cbor_map_size(map); i++) {
                int64_t label;
                if (!alder_cbor_get_int64(pairs[i].key, &label))
                        return alder_error_set(err, EBADMSG, WHAT ": %s header: labels must be integers, got %s",
                                               bucket, alder_cbor_type_name(pairs[i].key));
                int r = note_label(h, label, err);
                if (r == 0)
                        r = parse_header(h, bucket, label, pairs[i].value, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* crit: a non-empty array of labels, each understood here and present in the protected header. */
static int check_crit(const struct headers *h, const cbor_item_t *prot_map, alder_error **err)
{
        if (!h->crit)
                return 0;
        if (!cbor_isa_array(h->crit) || cbor_array_size(h->crit) == 0 || cbor_array_size(h->crit) > MAX_CRIT)
                return alder_error_set(err, EBADMSG, WHAT ": crit: expected an array of 1 to %d labels", MAX_CRIT);
        for (size_t i = 0; i < cbor_array_size(h->crit); i++) {
                int64_t label;
                if (!alder_cbor_get_int64(cbor_array_handle(h->crit)[i], &label))
                        return alder_error_set(err, EBADMSG, WHAT ": crit: labels must be integers");
                if (!label_understood(label))
                        return alder_error_set(err, ENOTSUP, WHAT ": critical header %lld is not understood",
                                               (long long) label);
                if (!alder_cbor_map_get_int(prot_map, label))
                        return alder_error_set(err, EBADMSG,
                                               WHAT ": critical header %lld is not in the protected header",
                                               (long long) label);
        }
        return 0;
}

static int parse_x5chain(const cbor_item_t *v, STACK_OF(X509) * *ret, alder_error **err)
{
        bool single = cbor_isa_bytestring(v);
        size_t n = single ? 1 : cbor_isa_array(v) ? cbor_array_size(v) : 0;
        if (n == 0 || n > ALDER_X5CHAIN_MAX_CERTS)
                return alder_error_set(err, EBADMSG,
                                       WHAT ": x5chain: expected a certificate or an array of 1 to %d certificates",
                                       ALDER_X5CHAIN_MAX_CERTS);
        _cleanup_x509_stack_ STACK_OF(X509) *chain = sk_X509_new_null();
        if (!chain)
                return alder_error_set(err, ENOMEM, WHAT ": x5chain: out of memory");
        for (size_t i = 0; i < n; i++) {
                const cbor_item_t *b = single ? v : cbor_array_handle(v)[i];
                if (!cbor_isa_bytestring(b))
                        return alder_error_set(err, EBADMSG, WHAT ": x5chain[%zu]: expected a byte string", i);
                const unsigned char *p = cbor_bytestring_handle(b);
                long len = (long) cbor_bytestring_length(b);
                X509 *c = d2i_X509(NULL, &p, len);
                if (!c || p != cbor_bytestring_handle(b) + len) {
                        X509_free(c);
                        ERR_clear_error();
                        return alder_error_set(err, EBADMSG, WHAT ": x5chain[%zu]: not a DER certificate", i);
                }
                if (!sk_X509_push(chain, c)) {
                        X509_free(c);
                        return alder_error_set(err, ENOMEM, WHAT ": x5chain: out of memory");
                }
        }
        *ret = steal_pointer(&chain);
        return 0;
}

static int parse_headers(const cbor_item_t *prot_bstr, const cbor_item_t *unprot, struct alder_cose_sign1 *s,
                         alder_error **err)
{
        if (!cbor_isa_bytestring(prot_bstr) || cbor_bytestring_length(prot_bstr) == 0)
                return alder_error_set(err, EBADMSG,
                                       WHAT ": protected header: expected a non-empty byte string "
                                            "(alg must be protected)");
        _cleanup_cbor_ cbor_item_t *prot = NULL;
        int r = alder_cbor_decode(WHAT " protected header", cbor_bytestring_handle(prot_bstr),
                                  cbor_bytestring_length(prot_bstr), &prot, err);
        if (r < 0)
                return r;
        struct headers h = {0};
        r = parse_bucket(&h, "protected", prot, err);
        if (r == 0)
                r = parse_bucket(&h, "unprotected", unprot, err);
        if (r == 0)
                r = check_crit(&h, prot, err);
        if (r < 0)
                return r;
        if (!h.has_alg)
                return alder_error_set(err, EBADMSG, WHAT ": protected header: no alg (label 1)");
        s->alg = (int) h.alg;
        /* A copy: the decoded tree goes away when decoding returns. */
        s->protected_len = cbor_bytestring_length(prot_bstr);
        s->protected_bytes = malloc(s->protected_len);
        if (!s->protected_bytes)
                return alder_error_set(err, ENOMEM, WHAT ": out of memory");
        memcpy(s->protected_bytes, cbor_bytestring_handle(prot_bstr), s->protected_len);
        if (h.kid) {
                s->kid_len = cbor_bytestring_length(h.kid);
                memcpy(s->kid, cbor_bytestring_handle(h.kid), s->kid_len);
        }
        return h.x5chain ? parse_x5chain(h.x5chain, &s->x5chain, err) : 0;
}

static int check_payload_and_signature(const cbor_item_t *payload, const cbor_item_t *sig, alder_error **err)
{
        if (cbor_isa_bytestring(payload))
                return alder_error_set(err, EBADMSG,
                                       WHAT ": attached payload (draft-09 era encoding is not supported): "
                                            "the payload must be detached (nil)");
        if (!cbor_is_null(payload))
                return alder_error_set(err, EBADMSG, WHAT ": payload: expected nil (detached), got %s",
                                       alder_cbor_type_name(payload));
        if (!cbor_isa_bytestring(sig) || cbor_bytestring_length(sig) != ALDER_COSE_SIGNATURE_SIZE)
                return alder_error_set(err, EBADMSG, WHAT ": signature: expected %d bytes (r || s), got %s of %zu",
                                       ALDER_COSE_SIGNATURE_SIZE, alder_cbor_type_name(sig),
                                       cbor_isa_bytestring(sig) ? cbor_bytestring_length(sig) : (size_t) 0);
        return 0;
}

/* The tagged array of four, or an error naming what is there instead. */
static int check_tag(uint64_t tag, const cbor_item_t *item, alder_error **err)
{
        int r = alder_cbor_check_tag(WHAT, tag, ALDER_COSE_TAG_SIGN1, "COSE_Sign1_Tagged", item, err);
        if (r == 0 && (!cbor_isa_array(item) || cbor_array_size(item) != 4))
                r = alder_error_set(err, EBADMSG, WHAT ": expected an array of 4 items");
        return r;
}

void alder_cose_sign1_done(struct alder_cose_sign1 *s)
{
        free(s->protected_bytes);
        s->protected_bytes = NULL;
        alder_x509_stack_freep(&s->x5chain);
        s->x5chain = NULL;
}

int alder_cose_sign1_decode(const uint8_t *buf, size_t len, struct alder_cose_sign1 *ret, alder_error **err)
{
        if (len > ALDER_COSE_MAX_SIZE)
                return alder_error_set(err, E2BIG, WHAT ": %zu bytes, at most %u allowed", len, ALDER_COSE_MAX_SIZE);
        _cleanup_cbor_ cbor_item_t *arr = NULL;
        uint64_t tag;
        int r = alder_cbor_decode_tagged(WHAT, buf, len, &tag, &arr, err);
        if (r == 0)
                r = check_tag(tag, arr, err);
        if (r < 0)
                return r;
        cbor_item_t **v = cbor_array_handle(arr);
        r = check_payload_and_signature(v[2], v[3], err);
        if (r < 0)
                return r;
        struct alder_cose_sign1 s = {0};
        r = parse_headers(v[0], v[1], &s, err);
        if (r < 0) {
                alder_cose_sign1_done(&s);
                return r;
        }
        memcpy(s.signature, cbor_bytestring_handle(v[3]), ALDER_COSE_SIGNATURE_SIZE);
        *ret = s;
        return 0;
}

/* ---- verification ---------------------------------------------------------------------------- */

/* 1: the signature verifies with cert's key, 0: it does not, <0: error. */
static int ecdsa_verify(const X509 *cert, const uint8_t *tbs, size_t tbs_len,
                        const uint8_t sig[ALDER_COSE_SIGNATURE_SIZE], alder_error **err)
{
        _cleanup_(ecdsa_sig_freep) ECDSA_SIG *s = ECDSA_SIG_new();
        BIGNUM *r_bn = BN_bin2bn(sig, COORD_SIZE, NULL);
        BIGNUM *s_bn = BN_bin2bn(sig + COORD_SIZE, COORD_SIZE, NULL);
        if (!s || !r_bn || !s_bn || ECDSA_SIG_set0(s, r_bn, s_bn) != 1) {
                BN_free(r_bn);
                BN_free(s_bn);
                return alder_error_openssl(err, ENOMEM, WHAT ": verify");
        }
        unsigned char *der = NULL;
        int der_len = i2d_ECDSA_SIG(s, &der);
        _cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        /* EVP_DigestVerifyInit() takes the key non-const but does not change it. */
        EVP_PKEY *key = X509_get0_pubkey(cert);
        int ok = der_len > 0 && ctx && key && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
                 EVP_DigestVerify(ctx, der, (size_t) der_len, tbs, tbs_len) == 1;
        OPENSSL_free(der);
        ERR_clear_error(); /* a bad signature leaves a reason we do not want to leak into later errors */
        return ok ? 1 : 0;
}

static int fill_signer_info(const X509 *cert, int alg, struct alder_cose_signer_info *ret, alder_error **err)
{
        _cleanup_free_ char *subject = NULL;
        uint8_t fp[ALDER_FINGERPRINT_SIZE];
        int r = alder_cert_fingerprint(cert, fp, err);
        if (r == 0)
                r = alder_cert_subject(cert, &subject, err);
        if (r < 0)
                return r;
        *ret = (struct alder_cose_signer_info){.alg = alg};
        snprintf(ret->subject, sizeof(ret->subject), "%s", subject);
        alder_hex_encode(fp, sizeof(fp), ret->fingerprint);
        return 0;
}

static int no_match_error(STACK_OF(X509) * candidates, alder_error **err)
{
        if (sk_X509_num(candidates) == 1) {
                char what[256];
                alder_cert_describe(sk_X509_value(candidates, 0), what, sizeof(what));
                return alder_error_set(err, EKEYREJECTED, WHAT ": the signature does not verify with %s", what);
        }
        return alder_error_set(err, EKEYREJECTED,
                               WHAT ": the signature does not verify with any of %d trusted certificates",
                               sk_X509_num(candidates));
}

/* Tries each certificate the trust store offers for the signer. */
static int verify_decoded(const struct alder_cose_sign1 *s, const uint8_t *payload, size_t payload_len,
                          const alder_trust_store *store, struct alder_cose_signer_info *ret, alder_error **err)
{
        if (!alg_supported(s->alg))
                return alder_error_set(err, ENOTSUP,
                                       WHAT ": algorithm %d is not supported (expected ES256 (-7) or ESP256 (-9))",
                                       s->alg);
        _cleanup_x509_stack_ STACK_OF(X509) *candidates = NULL;
        int r = alder_trust_store_find_signers(store, s->kid_len ? s->kid : NULL, s->kid_len, s->x5chain, &candidates,
                                               err);
        if (r < 0)
                return alder_error_wrap(err, WHAT ": untrusted signer");
        _cleanup_free_ uint8_t *tbs = NULL;
        size_t tbs_len = 0;
        r = sig_structure(s->protected_bytes, s->protected_len, payload, payload_len, &tbs, &tbs_len, err);
        if (r < 0)
                return r;
        for (int i = 0; i < sk_X509_num(candidates); i++) {
                X509 *c = sk_X509_value(candidates, i);
                r = ecdsa_verify(c, tbs, tbs_len, s->signature, err);
                if (r < 0)
                        return r;
                if (r == 1)
                        return fill_signer_info(c, s->alg, ret, err);
        }
        return no_match_error(candidates, err);
}

int alder_cose_sign1_verify(const uint8_t *buf, size_t len, const uint8_t *payload, size_t payload_len,
                            const alder_trust_store *store, struct alder_cose_signer_info *ret, alder_error **err)
{
        struct alder_cose_sign1 s;
        int r = alder_cose_sign1_decode(buf, len, &s, err);
        if (r < 0)
                return r;
        r = verify_decoded(&s, payload, payload_len, store, ret, err);
        alder_cose_sign1_done(&s);
        return r;
}
