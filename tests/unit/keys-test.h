/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers for signing keys, certificates, trust stores and binary
 * inputs, shared by test-keys, test-cose and test-suit. Include after
 * <cmocka.h> and alder-test.h.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/digest.h"
#include "alder/keys.h"

#define TEST_DAY (24L * 60 * 60)

/* A key and its certificate. */
struct test_identity {
        EVP_PKEY *key;
        X509 *cert;
};

static inline void test_identity_done(struct test_identity *id)
{
        EVP_PKEY_free(id->key);
        X509_free(id->cert);
        *id = (struct test_identity){0};
}
#define _cleanup_identity_ _cleanup_(test_identity_done)

/* A fresh P-256 key with a certificate for CN `cn`: self-signed, or issued by `ca`. */
static inline struct test_identity test_identity_new(const char *cn, const struct test_identity *ca)
{
        struct test_identity id = {0};
        alder_error *err = NULL;
        if (alder_key_generate(&id.key, &err) < 0)
                fail_msg("generate key: %s", alder_error_message(err));
        struct alder_cert_options o = {
                .common_name = cn,
                .days = 30,
                .ca_key = ca ? ca->key : NULL,
                .ca_cert = ca ? ca->cert : NULL,
        };
        if (alder_cert_create(id.key, &o, &id.cert, &err) < 0)
                fail_msg("create certificate: %s", alder_error_message(err));
        return id;
}

/*
 * Moves a certificate's validity to [now + from_days, now + to_days] and
 * re-signs it with `signer` (its own key when self-signed): expired and
 * not-yet-valid certificates for the time policy tests.
 */
static inline void test_cert_set_validity(X509 *cert, EVP_PKEY *signer, long from_days, long to_days)
{
        if (!X509_time_adj_ex(X509_getm_notBefore(cert), 0, from_days * TEST_DAY, NULL) ||
            !X509_time_adj_ex(X509_getm_notAfter(cert), 0, to_days * TEST_DAY, NULL) ||
            X509_sign(cert, signer, EVP_sha256()) <= 0)
                fail_msg("re-sign certificate");
}

/* A trust store holding the given certificates (NULL-terminated). */
static inline alder_trust_store *test_store_new(X509 *first, ...)
{
        alder_trust_store *s = NULL;
        alder_error *err = NULL;
        if (alder_trust_store_new(&s, &err) < 0)
                fail_msg("trust store: %s", alder_error_message(err));
        va_list ap;
        va_start(ap, first);
        for (X509 *c = first; c; c = va_arg(ap, X509 *))
                if (alder_trust_store_add(s, c, &err) < 0)
                        fail_msg("trust store add: %s", alder_error_message(err));
        va_end(ap);
        return s;
}

/* The hex fingerprint of a certificate's key. */
static inline void test_fingerprint_hex(const X509 *cert, char out[ALDER_FINGERPRINT_HEX_SIZE])
{
        uint8_t fp[ALDER_FINGERPRINT_SIZE];
        if (alder_cert_fingerprint(cert, fp, NULL) < 0)
                fail_msg("fingerprint");
        alder_hex_encode(fp, sizeof(fp), out);
}

/* Bytes owned by a test. */
struct test_buf {
        uint8_t *data;
        size_t len;
};

static inline void test_buf_done(struct test_buf *b)
{
        free(b->data);
        *b = (struct test_buf){0};
}
#define _cleanup_test_buf_ _cleanup_(test_buf_done)

static inline struct test_buf test_from_hex(const char *hex)
{
        struct test_buf b = {.len = strlen(hex) / 2};
        b.data = malloc(b.len + 1);
        if (!b.data || strlen(hex) % 2 != 0 || alder_hex_decode(hex, b.data, b.len) < 0)
                fail_msg("bad test hex: %s", hex);
        return b;
}

/* A row of a table of inputs (hex) that must be refused, with the exact message a user reads. */
struct test_refusal {
        const char *hex;
        int errnum;
        const char *message;
};

typedef int (*test_parse_fn)(const uint8_t *data, size_t len, void *ctx, alder_error **err);

/* Runs every row through parse; a failure report names the row. */
static inline void test_check_refusals(const struct test_refusal *rows, size_t n, test_parse_fn parse, void *ctx)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_test_buf_ struct test_buf in = test_from_hex(rows[i].hex);
                _cleanup_error_ alder_error *err = NULL;
                char name[160];
                alder_test_case_name(name, i, "%.100s", rows[i].hex);
                int r = parse(in.data, in.len, ctx, &err);
                alder_test_check_error(name, r, err, rows[i].errnum, rows[i].message);
        }
}

/* A fresh temporary directory (mkdtemp); remove it with test_rm_rf(). */
static inline char *test_tmpdir(void)
{
        char *d = strdup("/tmp/alder-test-XXXXXX");
        if (!d || !mkdtemp(d))
                fail_msg("mkdtemp");
        return d;
}

static inline void test_rm_rf(const char *dir)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fail_msg("%s failed", cmd);
}

/* Writes a small text file below dir (for PEM fixtures). */
static inline char *test_write(const char *dir, const char *name, const char *text)
{
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                fail_msg("asprintf");
        FILE *f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                fail_msg("write %s", path);
        return path;
}
