/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"

#include "alder/keys.h"

/* Checks what alder_cert_get_info() says; the caller frees *info. */
static void check_info(const X509 *cert, const char *subject, const char *issuer, bool ca, struct alder_cert_info *info)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_cert_get_info(cert, info, &err), 0);
        assert_string_equal(info->subject, subject);
        assert_string_equal(info->issuer, issuer);
        assert_int_equal(info->is_ca, ca);
        assert_int_equal(info->self_signed, strcmp(subject, issuer) == 0);
        assert_string_equal(info->key_type, "EC P-256");
}

static void test_self_signed_certificate(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity id = test_identity_new("alder-dev", NULL);
        struct alder_cert_info info;
        check_info(id.cert, "CN=alder-dev", "CN=alder-dev", true, &info);
        time_t now = time(NULL);
        assert_true(info.not_before <= now && info.not_before > now - 60);
        assert_true(info.not_after - info.not_before == 30 * TEST_DAY);

        /* the fingerprint is the key's, whether asked of the key or of the certificate */
        uint8_t fp[ALDER_FINGERPRINT_SIZE];
        char hex[ALDER_FINGERPRINT_HEX_SIZE];
        assert_int_equal(alder_key_fingerprint(id.key, fp, &err), 0);
        alder_hex_encode(fp, sizeof(fp), hex);
        assert_string_equal(hex, info.fingerprint);
        assert_int_equal(strlen(hex), 64);
        alder_cert_info_done(&info);
}

static void test_ca_signed_certificate(void **state)
{
        _cleanup_identity_ struct test_identity ca = test_identity_new("Alder CA", NULL);
        _cleanup_identity_ struct test_identity leaf = test_identity_new("signer", &ca);
        struct alder_cert_info info;
        check_info(leaf.cert, "CN=signer", "CN=Alder CA", false, &info);
        alder_cert_info_done(&info);
        assert_int_equal(X509_verify(leaf.cert, ca.key), 1);
}

static void test_certificate_options_are_checked(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity ca = test_identity_new("Alder CA", NULL);
        _cleanup_identity_ struct test_identity other = test_identity_new("other", NULL);
        _cleanup_identity_ struct test_identity leaf = test_identity_new("leaf", &ca);
        const struct {
                struct alder_cert_options o;
                int errnum;
                const char *message;
        } cases[] = {
                {{.common_name = "", .days = 1}, EINVAL, "common name: expected 1 to 64 characters"},
                {{.common_name = "x\ty", .days = 1}, EINVAL, "common name: control characters are not allowed"},
                {{.common_name = "x", .days = 0}, EINVAL, "validity: 0 days is out of range [1, 36500]"},
                {{.common_name = "x", .days = 36501}, EINVAL, "validity: 36501 days is out of range [1, 36500]"},
                {{.common_name = "x", .days = 1, .ca_key = ca.key},
                 EINVAL,
                 "a CA needs both its key and its certificate"},
                {{.common_name = "x", .days = 1, .ca_key = other.key, .ca_cert = ca.cert},
                 EINVAL,
                 "the CA key does not match the CA certificate"},
                {{.common_name = "x", .days = 1, .ca_key = leaf.key, .ca_cert = leaf.cert},
                 EINVAL,
                 "the CA certificate is not a CA certificate (basicConstraints)"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                char name[160];
                alder_test_case_name(name, i, "%.100s", cases[i].message);
                X509 *cert = NULL;
                alder_error_clear(&err);
                int r = alder_cert_create(other.key, &cases[i].o, &cert, &err);
                alder_test_check_error(name, r, err, cases[i].errnum, cases[i].message);
                assert_null(cert);
        }
}

static mode_t file_mode(const char *path)
{
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return st.st_mode & 07777;
}

static void test_write_and_load_pem(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *dir = test_tmpdir();
        _cleanup_identity_ struct test_identity id = test_identity_new("alder-dev", NULL);
        _cleanup_free_ char *key_path = NULL, *cert_path = NULL;
        assert_true(asprintf(&key_path, "%s/dev.key", dir) > 0);
        assert_true(asprintf(&cert_path, "%s/dev.pem", dir) > 0);
        assert_int_equal(alder_key_write_pem(key_path, id.key, &err), 0);
        assert_int_equal(alder_cert_write_pem(cert_path, id.cert, &err), 0);
        assert_int_equal(file_mode(key_path), 0600);
        assert_int_equal(file_mode(cert_path), 0644);

        _cleanup_evp_pkey_ EVP_PKEY *key = NULL;
        _cleanup_x509_ X509 *cert = NULL;
        assert_int_equal(alder_key_load_pem(key_path, &key, &err), 0);
        assert_int_equal(alder_cert_load_pem(cert_path, &cert, &err), 0);
        assert_int_equal(EVP_PKEY_eq(key, id.key), 1);
        assert_int_equal(X509_cmp(cert, id.cert), 0);
        test_rm_rf(dir);
}

static void write_rsa_key(const char *path)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_evp_pkey_ EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        assert_non_null(rsa);
        assert_int_equal(alder_key_write_pem(path, rsa, &err), 0);
}

/* Loaders that must fail (and leave nothing behind when they do not). */
static int load_key(const char *path, alder_error **err)
{
        _cleanup_evp_pkey_ EVP_PKEY *key = NULL;
        return alder_key_load_pem(path, &key, err);
}

static int load_cert(const char *path, alder_error **err)
{
        _cleanup_x509_ X509 *cert = NULL;
        return alder_cert_load_pem(path, &cert, err);
}

static void test_load_errors_name_the_file(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *dir = test_tmpdir();
        _cleanup_free_ char *rsa = NULL, *missing = NULL;
        assert_true(asprintf(&rsa, "%s/rsa.key", dir) > 0);
        assert_true(asprintf(&missing, "%s/missing.pem", dir) > 0);
        write_rsa_key(rsa);
        _cleanup_free_ char *text = test_write(dir, "text.pem", "hello\n");
        _cleanup_free_ char *enc = test_write(dir, "enc.key",
                                              "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
                                              "-----END ENCRYPTED PRIVATE KEY-----\n");
        _cleanup_free_ char *broken = test_write(dir, "broken.pem",
                                                 "-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                                 "-----END CERTIFICATE-----\n");
        const struct {
                int (*load)(const char *path, alder_error **err);
                const char *path;
                int errnum;
                const char *before, *after; /* the message around the quoted path */
        } cases[] = {
                {load_key, missing, ENOENT, "open ", ": No such file or directory"},
                {load_key, rsa, EINVAL, "", ": expected an EC P-256 key, got RSA"},
                {load_key, enc, EINVAL, "", ": encrypted private keys are not supported"},
                {load_key, text, EINVAL, "", ": no PEM private key"},
                {load_cert, text, EINVAL, "", ": no PEM certificate"},
                {load_cert, broken, EINVAL, "", ": certificate 1: bad base64 decode"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                char expected[512];
                snprintf(expected, sizeof(expected), "%s'%s'%s", cases[i].before, cases[i].path, cases[i].after);
                alder_error_clear(&err);
                int r = cases[i].load(cases[i].path, &err);
                alder_test_check_error(expected, r, err, cases[i].errnum, expected);
        }
        test_rm_rf(dir);
}

static void write_cert(const char *dir, const char *name, X509 *cert)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        assert_int_equal(alder_cert_write_pem(path, cert, &err), 0);
}

static void test_trust_store_load_dir(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *dir = test_tmpdir();
        _cleanup_identity_ struct test_identity a = test_identity_new("a", NULL);
        _cleanup_identity_ struct test_identity b = test_identity_new("b", NULL);
        _cleanup_identity_ struct test_identity c = test_identity_new("c", NULL);
        _cleanup_trust_store_ alder_trust_store *store = NULL;
        char expected[512];

        snprintf(expected, sizeof(expected), "load trust store '%s': no certificates (*.pem, *.crt)", dir);
        assert_alder_error(alder_trust_store_load_dir(dir, &store, &err), ENOENT, expected);

        write_cert(dir, "a.pem", a.cert);
        write_cert(dir, "b.crt", b.cert);
        write_cert(dir, ".c.pem", c.cert);    /* hidden: ignored */
        write_cert(dir, "c.pem.bak", c.cert); /* other names: ignored */
        free(test_write(dir, "README", "trust anchors\n"));
        assert_int_equal(alder_trust_store_load_dir(dir, &store, &err), 0);
        assert_int_equal(alder_trust_store_count(store), 2);
        alder_trust_store_free(steal_pointer(&store));

        _cleanup_free_ char *bad = test_write(dir, "z.pem", "garbage\n");
        snprintf(expected, sizeof(expected), "load trust store '%s': '%s': no PEM certificate", dir, bad);
        assert_alder_error(alder_trust_store_load_dir(dir, &store, &err), EINVAL, expected);
        assert_null(store);
        test_rm_rf(dir);

        assert_alder_error(alder_trust_store_load_dir("/nonexistent-alder", &store, &err), ENOENT,
                           "load trust store: open directory '/nonexistent-alder': No such file or directory");
}

static int count_and_free(STACK_OF(X509) * certs)
{
        int n = sk_X509_num(certs);
        sk_X509_pop_free(certs, X509_free);
        return n;
}

static void test_find_signers_in_store(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity a = test_identity_new("a", NULL);
        _cleanup_identity_ struct test_identity b = test_identity_new("b", NULL);
        _cleanup_identity_ struct test_identity stranger = test_identity_new("stranger", NULL);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(a.cert, b.cert, a.cert, NULL);
        assert_int_equal(alder_trust_store_count(store), 2); /* the duplicate is dropped */

        uint8_t kid[ALDER_FINGERPRINT_SIZE];
        STACK_OF(X509) *found = NULL;
        assert_int_equal(alder_cert_fingerprint(b.cert, kid, &err), 0);
        assert_int_equal(alder_trust_store_find_signers(store, kid, sizeof(kid), NULL, &found, &err), 0);
        assert_int_equal(X509_cmp(sk_X509_value(found, 0), b.cert), 0);
        assert_int_equal(count_and_free(steal_pointer(&found)), 1);
        assert_int_equal(alder_trust_store_find_signers(store, NULL, 0, NULL, &found, &err), 0);
        assert_int_equal(count_and_free(steal_pointer(&found)), 2);

        char hex[ALDER_FINGERPRINT_HEX_SIZE], expected[256];
        test_fingerprint_hex(stranger.cert, hex);
        assert_int_equal(alder_cert_fingerprint(stranger.cert, kid, &err), 0);
        snprintf(expected, sizeof(expected), "no trusted certificate has key id %s", hex);
        assert_alder_error(alder_trust_store_find_signers(store, kid, sizeof(kid), NULL, &found, &err), EKEYREJECTED,
                           expected);
}

/* A chain as a signature carries it: leaf first. */
static STACK_OF(X509) * chain_of(X509 *leaf, X509 *intermediate)
{
        STACK_OF(X509) *chain = sk_X509_new_null();
        assert_true(sk_X509_push(chain, leaf) > 0);
        if (intermediate)
                assert_true(sk_X509_push(chain, intermediate) > 0);
        return chain;
}

static void test_find_signers_by_chain(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity root = test_identity_new("Root CA", NULL);
        _cleanup_identity_ struct test_identity other = test_identity_new("Other CA", NULL);
        _cleanup_identity_ struct test_identity leaf = test_identity_new("signer", &root);
        _cleanup_identity_ struct test_identity stray = test_identity_new("stray", &other);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(root.cert, NULL);
        STACK_OF(X509) *found = NULL;

        /* Intermediate CA certificates issued by alder_cert_create() are end-entity: chains go one level. */
        STACK_OF(X509) *chain = chain_of(leaf.cert, NULL);
        assert_int_equal(alder_trust_store_find_signers(store, NULL, 0, chain, &found, &err), 0);
        assert_int_equal(X509_cmp(sk_X509_value(found, 0), leaf.cert), 0);
        assert_int_equal(count_and_free(steal_pointer(&found)), 1);

        /* a kid must name the leaf */
        uint8_t kid[ALDER_FINGERPRINT_SIZE];
        assert_int_equal(alder_cert_fingerprint(root.cert, kid, &err), 0);
        assert_alder_error(alder_trust_store_find_signers(store, kid, sizeof(kid), chain, &found, &err), EKEYREJECTED,
                           "the key id does not match the x5chain certificate");
        sk_X509_free(chain);

        char hex[ALDER_FINGERPRINT_HEX_SIZE], expected[512];
        chain = chain_of(stray.cert, other.cert);
        test_fingerprint_hex(stray.cert, hex);
        snprintf(expected, sizeof(expected),
                 "x5chain: certificate 'CN=stray' (key id %s) is not trusted: self-signed certificate in certificate "
                 "chain",
                 hex);
        assert_alder_error(alder_trust_store_find_signers(store, NULL, 0, chain, &found, &err), EKEYREJECTED, expected);
        sk_X509_free(chain);
        assert_null(found);
}

/* The validity period policy of keys.h: ignored by default, enforced on request. */
static void test_validity_period_policy(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity old = test_identity_new("old", NULL);
        _cleanup_identity_ struct test_identity future = test_identity_new("future", NULL);
        _cleanup_identity_ struct test_identity ca = test_identity_new("CA", NULL);
        _cleanup_identity_ struct test_identity leaf = test_identity_new("expired-leaf", &ca);
        test_cert_set_validity(old.cert, old.key, -20, -10);
        test_cert_set_validity(future.cert, future.key, 10, 20);
        test_cert_set_validity(leaf.cert, ca.key, -20, -10);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(old.cert, future.cert, ca.cert, NULL);
        STACK_OF(X509) *found = NULL;
        STACK_OF(X509) *chain = chain_of(leaf.cert, NULL);
        uint8_t kid_old[ALDER_FINGERPRINT_SIZE], kid_future[ALDER_FINGERPRINT_SIZE];
        assert_int_equal(alder_cert_fingerprint(old.cert, kid_old, &err), 0);
        assert_int_equal(alder_cert_fingerprint(future.cert, kid_future, &err), 0);

        assert_int_equal(alder_trust_store_find_signers(store, kid_old, sizeof(kid_old), NULL, &found, &err), 0);
        assert_int_equal(count_and_free(steal_pointer(&found)), 1);
        assert_int_equal(alder_trust_store_find_signers(store, NULL, 0, chain, &found, &err), 0);
        assert_int_equal(count_and_free(steal_pointer(&found)), 1);

        alder_trust_store_set_check_time(store, true);
        char hex[ALDER_FINGERPRINT_HEX_SIZE], expected[512];
        test_fingerprint_hex(old.cert, hex);
        snprintf(expected, sizeof(expected), "certificate 'CN=old' (key id %s) has expired", hex);
        assert_alder_error(alder_trust_store_find_signers(store, kid_old, sizeof(kid_old), NULL, &found, &err),
                           EKEYEXPIRED, expected);
        test_fingerprint_hex(future.cert, hex);
        snprintf(expected, sizeof(expected), "certificate 'CN=future' (key id %s) is not valid yet", hex);
        assert_alder_error(alder_trust_store_find_signers(store, kid_future, sizeof(kid_future), NULL, &found, &err),
                           EKEYEXPIRED, expected);
        test_fingerprint_hex(leaf.cert, hex);
        snprintf(expected, sizeof(expected),
                 "x5chain: certificate 'CN=expired-leaf' (key id %s) is not trusted: certificate has expired", hex);
        assert_alder_error(alder_trust_store_find_signers(store, NULL, 0, chain, &found, &err), EKEYEXPIRED, expected);
        sk_X509_free(chain);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_self_signed_certificate),         cmocka_unit_test(test_ca_signed_certificate),
                cmocka_unit_test(test_certificate_options_are_checked), cmocka_unit_test(test_write_and_load_pem),
                cmocka_unit_test(test_load_errors_name_the_file),       cmocka_unit_test(test_trust_store_load_dir),
                cmocka_unit_test(test_find_signers_in_store),           cmocka_unit_test(test_find_signers_by_chain),
                cmocka_unit_test(test_validity_period_policy),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
