/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"

#include "alder/cose.h"
#include "alder/digest.h"

static const uint8_t payload[] = "the detached payload";

static struct test_buf sign(const struct test_identity *id, int alg, bool x5chain)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_cose_signer signer = {.key = id->key, .cert = id->cert, .alg = alg, .x5chain = x5chain};
        struct test_buf b = {0};
        if (alder_cose_sign1_create(payload, sizeof(payload), &signer, &b.data, &b.len, &err) < 0)
                fail_msg("sign: %s", alder_error_message(err));
        return b;
}

static void check_signer(const struct alder_cose_signer_info *info, const struct test_identity *id, const char *subject,
                         int alg)
{
        char hex[ALDER_FINGERPRINT_HEX_SIZE];
        test_fingerprint_hex(id->cert, hex);
        assert_string_equal(info->subject, subject);
        assert_string_equal(info->fingerprint, hex);
        assert_int_equal(info->alg, alg);
}

static void test_es256_and_esp256_verify(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity dev = test_identity_new("dev", NULL);
        _cleanup_identity_ struct test_identity other = test_identity_new("other", NULL);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(other.cert, dev.cert, NULL);
        const int algs[] = {0, ALDER_COSE_ALG_ES256, ALDER_COSE_ALG_ESP256};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(algs); i++) {
                _cleanup_test_buf_ struct test_buf b = sign(&dev, algs[i], false);
                struct alder_cose_signer_info info;
                /* protected header {1: alg}: ES256 is the default */
                assert_memory_equal(b.data + 3, algs[i] == ALDER_COSE_ALG_ESP256 ? "\xa1\x01\x28" : "\xa1\x01\x26", 3);
                assert_int_equal(alder_cose_sign1_verify(b.data, b.len, payload, sizeof(payload), store, &info, &err),
                                 0);
                check_signer(&info, &dev, "CN=dev", algs[i] ? algs[i] : ALDER_COSE_ALG_ES256);
        }
}

static void test_x5chain_to_trusted_ca(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity ca = test_identity_new("Alder CA", NULL);
        _cleanup_identity_ struct test_identity signer = test_identity_new("release signer", &ca);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(ca.cert, NULL);
        _cleanup_test_buf_ struct test_buf b = sign(&signer, 0, true);
        struct alder_cose_signer_info info;
        assert_int_equal(alder_cose_sign1_verify(b.data, b.len, payload, sizeof(payload), store, &info, &err), 0);
        check_signer(&info, &signer, "CN=release signer", ALDER_COSE_ALG_ES256);

        struct alder_cose_sign1 s;
        assert_int_equal(alder_cose_sign1_decode(b.data, b.len, &s, &err), 0);
        assert_int_equal(sk_X509_num(s.x5chain), 1);
        assert_int_equal(s.kid_len, ALDER_FINGERPRINT_SIZE);
        alder_cose_sign1_done(&s);

        /* without the x5chain the device has no way to know the signer */
        _cleanup_test_buf_ struct test_buf bare = sign(&signer, 0, false);
        char hex[ALDER_FINGERPRINT_HEX_SIZE], expected[256];
        test_fingerprint_hex(signer.cert, hex);
        snprintf(expected, sizeof(expected), "COSE_Sign1: untrusted signer: no trusted certificate has key id %s", hex);
        assert_alder_error(alder_cose_sign1_verify(bare.data, bare.len, payload, sizeof(payload), store, &info, &err),
                           EKEYREJECTED, expected);
}

static void test_bad_signature_and_payload(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity dev = test_identity_new("dev", NULL);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(dev.cert, NULL);
        _cleanup_test_buf_ struct test_buf b = sign(&dev, 0, false);
        struct alder_cose_signer_info info;
        char hex[ALDER_FINGERPRINT_HEX_SIZE], expected[256];
        test_fingerprint_hex(dev.cert, hex);
        snprintf(expected, sizeof(expected),
                 "COSE_Sign1: the signature does not verify with certificate 'CN=dev' (key id %s)", hex);

        assert_alder_error(alder_cose_sign1_verify(b.data, b.len, payload, sizeof(payload) - 1, store, &info, &err),
                           EKEYREJECTED, expected);
        b.data[b.len - 1] ^= 1; /* last byte of s */
        assert_alder_error(alder_cose_sign1_verify(b.data, b.len, payload, sizeof(payload), store, &info, &err),
                           EKEYREJECTED, expected);
}

static void test_untrusted_signer(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity dev = test_identity_new("dev", NULL);
        _cleanup_identity_ struct test_identity mallory = test_identity_new("mallory", NULL);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(dev.cert, NULL);
        _cleanup_test_buf_ struct test_buf b = sign(&mallory, 0, false);
        _cleanup_test_buf_ struct test_buf chained = sign(&mallory, 0, true);
        struct alder_cose_signer_info info;
        char hex[ALDER_FINGERPRINT_HEX_SIZE], expected[256];
        test_fingerprint_hex(mallory.cert, hex);
        snprintf(expected, sizeof(expected), "COSE_Sign1: untrusted signer: no trusted certificate has key id %s", hex);
        assert_alder_error(alder_cose_sign1_verify(b.data, b.len, payload, sizeof(payload), store, &info, &err),
                           EKEYREJECTED, expected);
        snprintf(expected, sizeof(expected),
                 "COSE_Sign1: untrusted signer: x5chain: certificate 'CN=mallory' (key id %s) is not trusted: "
                 "self-signed certificate",
                 hex);
        assert_alder_error(
                alder_cose_sign1_verify(chained.data, chained.len, payload, sizeof(payload), store, &info, &err),
                EKEYREJECTED, expected);
}

static void test_signer_key_must_match_certificate(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity a = test_identity_new("a", NULL);
        _cleanup_identity_ struct test_identity b = test_identity_new("b", NULL);
        struct alder_cose_signer signer = {.key = a.key, .cert = b.cert};
        uint8_t *out = NULL;
        size_t len = 0;
        assert_alder_error(alder_cose_sign1_create(payload, sizeof(payload), &signer, &out, &len, &err), EINVAL,
                           "COSE_Sign1: the signing key does not match its certificate");
        signer = (struct alder_cose_signer){.key = a.key, .alg = -35};
        assert_alder_error(alder_cose_sign1_create(payload, sizeof(payload), &signer, &out, &len, &err), ENOTSUP,
                           "COSE_Sign1: algorithm -35 is not supported (use ES256 (-7) or ESP256 (-9))");
        assert_null(out);
}

#define ZERO64                                                             \
        "0000000000000000000000000000000000000000000000000000000000000000" \
        "0000000000000000000000000000000000000000000000000000000000000000"
#define SIG64 "5840" ZERO64
#define KID32  \
        "5820" \
        "0000000000000000000000000000000000000000000000000000000000000000"

/* Structures the decoder must refuse, before any key is looked at. */
static int verify_with(const uint8_t *data, size_t len, void *store, alder_error **err)
{
        struct alder_cose_signer_info info;
        return alder_cose_sign1_verify(data, len, payload, sizeof(payload), store, &info, err);
}

static void test_malformed_structures(void **state)
{
        _cleanup_identity_ struct test_identity dev = test_identity_new("dev", NULL);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(dev.cert, NULL);
        const struct test_refusal cases[] = {
                {"84"
                 "43a10126"
                 "a0"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: expected CBOR tag 18 (COSE_Sign1_Tagged), got array"},
                {"d862"
                 "84"
                 "43a10126"
                 "a0"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: CBOR tag 98 (expected 18, COSE_Sign1_Tagged)"},
                {"d2"
                 "83"
                 "43a10126"
                 "a0"
                 "f6",
                 EBADMSG, "COSE_Sign1: expected an array of 4 items"},
                {"d2"
                 "84"
                 "40"
                 "a0"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: protected header: expected a non-empty byte string (alg must be protected)"},
                {"d2"
                 "84"
                 "41a0"
                 "a10126"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: alg must be in the protected header"},
                {"d2"
                 "84"
                 "41a0"
                 "a0"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: protected header: no alg (label 1)"},
                {"d2"
                 "84"
                 "43a10126"
                 "a10126"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: header label 1 is in both the protected and the unprotected header"},
                {"d2"
                 "84"
                 "49a30126186300028101"
                 "a0"
                 "f6" SIG64,
                 EBADMSG,
                 "COSE_Sign1 protected header: CBOR offset 6: map keys are not in deterministic (bytewise) order"},
                {"d2"
                 "84"
                 "4aa3012602811863186300"
                 "a0"
                 "f6" SIG64,
                 ENOTSUP, "COSE_Sign1: critical header 99 is not understood"},
                {"d2"
                 "84"
                 "46a20126028104"
                 "a104" KID32 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: critical header 4 is not in the protected header"},
                {"d2"
                 "84"
                 "43a10126"
                 "a10440"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: kid: expected a byte string of 1 to 64 bytes"},
                {"d2"
                 "84"
                 "43a10126"
                 "a1182143000102"
                 "f6" SIG64,
                 EBADMSG, "COSE_Sign1: x5chain[0]: not a DER certificate"},
                {"d2"
                 "84"
                 "43a10126"
                 "a0"
                 "4100" SIG64,
                 EBADMSG,
                 "COSE_Sign1: attached payload (draft-09 era encoding is not supported): the payload must be detached "
                 "(nil)"},
                {"d2"
                 "84"
                 "43a10126"
                 "a0"
                 "f6"
                 "4100",
                 EBADMSG, "COSE_Sign1: signature: expected 64 bytes (r || s), got byte string of 1"},
                {"d2"
                 "84"
                 "43a10127"
                 "a0"
                 "f6" SIG64,
                 ENOTSUP, "COSE_Sign1: algorithm -8 is not supported (expected ES256 (-7) or ESP256 (-9))"},
                {"d2"
                 "84"
                 "43a10126"
                 "a0"
                 "f6" SIG64 "00",
                 EBADMSG, "COSE_Sign1: CBOR offset 74: 1 trailing bytes after the data item"},
                {"d2"
                 "84"
                 "43a10126"
                 "a0"
                 "f6"
                 "5840"
                 "00",
                 EBADMSG, "COSE_Sign1: CBOR offset 8: truncated item"},
                {"d2"
                 "9f"
                 "43a10126"
                 "a0"
                 "f6" SIG64 "ff",
                 EBADMSG, "COSE_Sign1: CBOR offset 1: indefinite-length array (only definite lengths are allowed)"},
                {"d2"
                 "84"
                 "43a10126"
                 "a0"
                 "f6"
                 "590040" ZERO64,
                 EBADMSG, "COSE_Sign1: CBOR offset 8: string length not in its shortest form"},
                {"d2"
                 "84"
                 "43a10126"
                 "a0"
                 "f9"
                 "0000" SIG64,
                 EBADMSG, "COSE_Sign1: CBOR offset 7: floating-point values are not allowed"},
        };
        test_check_refusals(cases, ALDER_ARRAY_SIZE(cases), verify_with, store);
}

static void test_oversized(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ uint8_t *big = calloc(1, ALDER_COSE_MAX_SIZE + 1);
        struct alder_cose_sign1 s;
        assert_alder_error(alder_cose_sign1_decode(big, ALDER_COSE_MAX_SIZE + 1, &s, &err), E2BIG,
                           "COSE_Sign1: 16385 bytes, at most 16384 allowed");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_es256_and_esp256_verify),
                cmocka_unit_test(test_x5chain_to_trusted_ca),
                cmocka_unit_test(test_bad_signature_and_payload),
                cmocka_unit_test(test_untrusted_signer),
                cmocka_unit_test(test_signer_key_must_match_certificate),
                cmocka_unit_test(test_malformed_structures),
                cmocka_unit_test(test_oversized),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
