/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/digest.h"
#include "alder/fileio.h"
#include "alder/keys.h"

#define CN_MAX_LEN  64 /* X.520 ub-common-name */
#define MAX_DAYS    36500
#define SERIAL_SIZE 16

struct alder_trust_store {
        STACK_OF(X509) * certs; /* in load order, for kid lookups */
        X509_STORE *anchors;    /* the same certificates, for chain building */
        bool check_time;
};

static void bio_freep(BIO **b)
{
        BIO_free(*b);
}
#define _cleanup_bio_ _cleanup_(bio_freep)

int alder_error_openssl(alder_error **err, int errnum, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        unsigned long e = ERR_peek_last_error();
        const char *reason = e ? ERR_reason_error_string(e) : NULL;
        ERR_clear_error();
        if (reason)
                return alder_error_set(err, errnum, "%s: %s", msg, reason);
        return alder_error_set(err, errnum, "%s", msg);
}

bool alder_key_is_p256(const EVP_PKEY *key)
{
        char group[64];
        if (!key || !EVP_PKEY_is_a(key, "EC"))
                return false;
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL)) {
                ERR_clear_error();
                return false;
        }
        return strcmp(group, SN_X9_62_prime256v1) == 0;
}

const char *alder_key_type_name(const EVP_PKEY *key)
{
        if (alder_key_is_p256(key))
                return "EC P-256";
        switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_EC:
                return "EC";
        case EVP_PKEY_RSA:
                return "RSA";
        case EVP_PKEY_ED25519:
                return "Ed25519";
        case EVP_PKEY_ED448:
                return "Ed448";
        default:
                return "unknown";
        }
}

int alder_key_generate(EVP_PKEY **ret, alder_error **err)
{
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!key)
                return alder_error_openssl(err, EIO, "generate EC P-256 key");
        *ret = key;
        return 0;
}

/* ---- certificates ---------------------------------------------------------------------------- */

static int check_cert_options(EVP_PKEY *key, const struct alder_cert_options *o, alder_error **err)
{
        if (!alder_key_is_p256(key))
                return alder_error_set(err, EINVAL, "certificate key: expected EC P-256, got %s",
                                       alder_key_type_name(key));
        size_t len = o->common_name ? strlen(o->common_name) : 0;
        if (len == 0 || len > CN_MAX_LEN)
                return alder_error_set(err, EINVAL, "common name: expected 1 to %d characters", CN_MAX_LEN);
        for (const char *p = o->common_name; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return alder_error_set(err, EINVAL, "common name: control characters are not allowed");
        if (o->days < 1 || o->days > MAX_DAYS)
                return alder_error_set(err, EINVAL, "validity: %u days is out of range [1, %d]", o->days, MAX_DAYS);
        if (!o->ca_key != !o->ca_cert)
                return alder_error_set(err, EINVAL, "a CA needs both its key and its certificate");
        if (!o->ca_key)
                return 0;
        if (X509_check_private_key(o->ca_cert, o->ca_key) != 1) {
                ERR_clear_error();
                return alder_error_set(err, EINVAL, "the CA key does not match the CA certificate");
        }
        if (X509_check_ca(o->ca_cert) == 0)
                return alder_error_set(err, EINVAL, "the CA certificate is not a CA certificate (basicConstraints)");
        return 0;
}

/* Random positive 128-bit serial (RFC 5280: unique per issuer, at most 20 octets). */
static int set_serial(X509 *x, alder_error **err)
{
        unsigned char rnd[SERIAL_SIZE];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                return alder_error_openssl(err, EIO, "certificate serial");
        rnd[0] = (unsigned char) ((rnd[0] & 0x7f) | 0x40); /* positive, full length */
        BIGNUM *bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
        int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
        BN_free(bn);
        return ok ? 0 : alder_error_openssl(err, ENOMEM, "certificate serial");
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, alder_error **err)
{
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
        int ok = ext && X509_add_ext(x, ext, -1) == 1;
        X509_EXTENSION_free(ext);
        return ok ? 0 : alder_error_openssl(err, EIO, "certificate extension %s", OBJ_nid2sn(nid));
}

static int add_extensions(X509 *x, X509 *issuer, bool is_ca, alder_error **err)
{
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        int r = add_ext(x, &ctx, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE", err);
        if (r == 0)
                r = add_ext(x, &ctx, NID_key_usage,
                            is_ca ? "critical,digitalSignature,keyCertSign" : "critical,digitalSignature", err);
        if (r == 0)
                r = add_ext(x, &ctx, NID_subject_key_identifier, "hash", err);
        if (r == 0)
                r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err);
        return r;
}

static int set_names_and_validity(X509 *x, const struct alder_cert_options *o, alder_error **err)
{
        X509_NAME *subject = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *) o->common_name, -1, -1,
                                        0))
                return alder_error_openssl(err, EINVAL, "certificate subject");
        X509_NAME *issuer = o->ca_cert ? X509_get_subject_name(o->ca_cert) : subject;
        if (!X509_set_issuer_name(x, issuer))
                return alder_error_openssl(err, ENOMEM, "certificate issuer");
        if (!X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), (int) o->days, 0, NULL))
                return alder_error_openssl(err, EINVAL, "certificate validity");
        return 0;
}

int alder_cert_create(EVP_PKEY *key, const struct alder_cert_options *o, X509 **ret, alder_error **err)
{
        int r = check_cert_options(key, o, err);
        if (r < 0)
                return r;
        _cleanup_x509_ X509 *x = X509_new();
        if (!x || !X509_set_version(x, X509_VERSION_3) || !X509_set_pubkey(x, key))
                return alder_error_openssl(err, ENOMEM, "create certificate");
        r = set_serial(x, err);
        if (r == 0)
                r = set_names_and_validity(x, o, err);
        if (r == 0)
                r = add_extensions(x, o->ca_cert ? o->ca_cert : x, !o->ca_key, err);
        if (r < 0)
                return r;
        if (X509_sign(x, o->ca_key ? o->ca_key : key, EVP_sha256()) <= 0)
                return alder_error_openssl(err, EIO, "sign certificate");
        *ret = steal_pointer(&x);
        return 0;
}

/* ---- PEM files ------------------------------------------------------------------------------- */

/* Writes what `write` put into a memory BIO to `path`; secmem: the buffer is wiped when freed. */
static int write_pem(const char *path, mode_t mode, int (*write)(BIO *, void *), void *obj, alder_error **err)
{
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_secmem());
        if (!b || write(b, obj) != 1)
                return alder_error_openssl(err, ENOMEM, "'%s': encode PEM", path);
        char *data = NULL;
        long len = BIO_get_mem_data(b, &data);
        if (len <= 0)
                return alder_error_set(err, EIO, "'%s': encode PEM: no output", path);
        return alder_write_file_atomic(path, data, (size_t) len, mode, err);
}

static int write_private_key(BIO *b, void *key)
{
        return PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *b, void *cert)
{
        return PEM_write_bio_X509(b, cert);
}

int alder_key_write_pem(const char *path, EVP_PKEY *key, alder_error **err)
{
        return write_pem(path, 0600, write_private_key, key, err);
}

int alder_cert_write_pem(const char *path, X509 *cert, alder_error **err)
{
        return write_pem(path, 0644, write_cert, cert, err);
}

/* Never prompts for a passphrase (OpenSSL would read the terminal). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
        return -1;
}

static void free_secret(char **p, size_t len)
{
        if (*p) {
                explicit_bzero(*p, len);
                free(*p);
        }
}

int alder_key_load_pem(const char *path, EVP_PKEY **ret, alder_error **err)
{
        char *text = NULL;
        size_t len = 0;
        int r = alder_read_file(path, ALDER_PEM_MAX_SIZE, &text, &len, err);
        if (r < 0)
                return r;
        /* Recognized here: OpenSSL's decoders report both cases as "unsupported". */
        const char *problem = !strstr(text, "PRIVATE KEY-----") ? "no PEM private key"
                              : strstr(text, "ENCRYPTED")       ? "encrypted private keys are not supported"
                                                                : NULL;
        BIO *b = problem ? NULL : BIO_new_mem_buf(text, (int) len);
        EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
        BIO_free(b);
        free_secret(&text, len);
        if (problem)
                return alder_error_set(err, EINVAL, "'%s': %s", path, problem);
        if (!key)
                return alder_error_openssl(err, EINVAL, "'%s': bad PEM private key", path);
        if (!alder_key_is_p256(key)) {
                r = alder_error_set(err, EINVAL, "'%s': expected an EC P-256 key, got %s", path,
                                    alder_key_type_name(key));
                EVP_PKEY_free(key);
                return r;
        }
        *ret = key;
        return 0;
}

/* Reads certificates until the end of the PEM text; a damaged block is an error. */
static int read_certs(BIO *b, const char *path, STACK_OF(X509) * certs, alder_error **err)
{
        for (;;) {
                X509 *c = PEM_read_bio_X509(b, NULL, NULL, NULL);
                if (!c)
                        break;
                if (sk_X509_num(certs) >= ALDER_TRUST_STORE_MAX_CERTS || !sk_X509_push(certs, c)) {
                        X509_free(c);
                        return alder_error_set(err, E2BIG, "'%s': more than %d certificates", path,
                                               ALDER_TRUST_STORE_MAX_CERTS);
                }
        }
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                e = 0;
        }
        if (e)
                return alder_error_openssl(err, EINVAL, "'%s': certificate %d", path, sk_X509_num(certs) + 1);
        if (sk_X509_num(certs) == 0)
                return alder_error_set(err, EINVAL, "'%s': no PEM certificate", path);
        return 0;
}

int alder_certs_load_pem(const char *path, STACK_OF(X509) * *ret, alder_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = alder_read_file(path, ALDER_PEM_MAX_SIZE, &text, &len, err);
        if (r < 0)
                return r;
        _cleanup_bio_ BIO *b = BIO_new_mem_buf(text, (int) len);
        _cleanup_x509_stack_ STACK_OF(X509) *certs = sk_X509_new_null();
        if (!b || !certs)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", path);
        ERR_clear_error();
        r = read_certs(b, path, certs, err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&certs);
        return 0;
}

int alder_cert_load_pem(const char *path, X509 **ret, alder_error **err)
{
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        int r = alder_certs_load_pem(path, &certs, err);
        if (r < 0)
                return r;
        *ret = sk_X509_shift(certs);
        return 0;
}

/* ---- fingerprints and info ------------------------------------------------------------------- */

int alder_key_fingerprint(const EVP_PKEY *key, uint8_t ret[ALDER_FINGERPRINT_SIZE], alder_error **err)
{
        unsigned char *der = NULL;
        int len = key ? i2d_PUBKEY(key, &der) : -1;
        if (len <= 0)
                return alder_error_openssl(err, EINVAL, "key fingerprint");
        int r = alder_sha256_buffer(der, (size_t) len, ret, err);
        OPENSSL_free(der);
        return r;
}

int alder_cert_fingerprint(const X509 *cert, uint8_t ret[ALDER_FINGERPRINT_SIZE], alder_error **err)
{
        return alder_key_fingerprint(X509_get0_pubkey(cert), ret, err);
}

static int name_to_string(const X509_NAME *name, char **ret, alder_error **err)
{
        _cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
        if (!b || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0)
                return alder_error_openssl(err, ENOMEM, "certificate name");
        char *data = NULL;
        long len = BIO_get_mem_data(b, &data);
        char *s = strndup(len > 0 ? data : "", len > 0 ? (size_t) len : 0);
        if (!s)
                return alder_error_set(err, ENOMEM, "certificate name: out of memory");
        *ret = s;
        return 0;
}

int alder_cert_subject(const X509 *cert, char **ret, alder_error **err)
{
        return name_to_string(X509_get_subject_name(cert), ret, err);
}

static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *ret)
{
        struct tm tm;
        if (!ASN1_TIME_to_tm(t, &tm))
                return -EINVAL;
        *ret = timegm(&tm);
        return 0;
}

void alder_cert_info_done(struct alder_cert_info *info)
{
        free(info->subject);
        free(info->issuer);
        info->subject = info->issuer = NULL;
}

int alder_cert_get_info(const X509 *cert, struct alder_cert_info *ret, alder_error **err)
{
        struct alder_cert_info info = {0};
        uint8_t fp[ALDER_FINGERPRINT_SIZE];
        int r = alder_cert_fingerprint(cert, fp, err);
        if (r == 0)
                r = alder_cert_subject(cert, &info.subject, err);
        if (r == 0)
                r = name_to_string(X509_get_issuer_name(cert), &info.issuer, err);
        if (r == 0 && (asn1_time_to_time_t(X509_get0_notBefore(cert), &info.not_before) < 0 ||
                       asn1_time_to_time_t(X509_get0_notAfter(cert), &info.not_after) < 0))
                r = alder_error_set(err, EINVAL, "certificate validity dates do not parse");
        if (r < 0) {
                alder_cert_info_done(&info);
                return r;
        }
        alder_hex_encode(fp, sizeof(fp), info.fingerprint);
        /* OpenSSL 3.0 takes these non-const only because they cache extension data. */
        info.is_ca = X509_check_ca((X509 *) cert) != 0;
        info.self_signed = X509_self_signed((X509 *) cert, 0) == 1;
        info.key_type = alder_key_type_name(X509_get0_pubkey(cert));
        *ret = info;
        return 0;
}

/* ---- trust store ----------------------------------------------------------------------------- */

int alder_trust_store_new(alder_trust_store **ret, alder_error **err)
{
        alder_trust_store *s = calloc(1, sizeof(*s));
        if (!s)
                return alder_error_set(err, ENOMEM, "trust store: out of memory");
        s->certs = sk_X509_new_null();
        s->anchors = X509_STORE_new();
        if (!s->certs || !s->anchors) {
                alder_trust_store_free(s);
                return alder_error_set(err, ENOMEM, "trust store: out of memory");
        }
        *ret = s;
        return 0;
}

void alder_trust_store_free(alder_trust_store *store)
{
        if (!store)
                return;
        sk_X509_pop_free(store->certs, X509_free);
        X509_STORE_free(store->anchors);
        free(store);
}

size_t alder_trust_store_count(const alder_trust_store *store)
{
        return (size_t) sk_X509_num(store->certs);
}

void alder_trust_store_set_check_time(alder_trust_store *store, bool check)
{
        store->check_time = check;
}

int alder_trust_store_add(alder_trust_store *store, X509 *cert, alder_error **err)
{
        for (int i = 0; i < sk_X509_num(store->certs); i++)
                if (X509_cmp(sk_X509_value(store->certs, i), cert) == 0)
                        return 0; /* the same file twice, or a bundle repeating a CA */
        if (sk_X509_num(store->certs) >= ALDER_TRUST_STORE_MAX_CERTS)
                return alder_error_set(err, E2BIG, "trust store: more than %d certificates",
                                       ALDER_TRUST_STORE_MAX_CERTS);
        if (!X509_up_ref(cert))
                return alder_error_openssl(err, EINVAL, "trust store: add certificate");
        if (!sk_X509_push(store->certs, cert)) {
                X509_free(cert);
                return alder_error_set(err, ENOMEM, "trust store: out of memory");
        }
        if (X509_STORE_add_cert(store->anchors, cert) != 1)
                return alder_error_openssl(err, EINVAL, "trust store: add certificate");
        return 0;
}

static bool is_cert_file_name(const char *name)
{
        size_t n = strlen(name);
        if (name[0] == '.' || n < 5)
                return false;
        return strcmp(name + n - 4, ".pem") == 0 || strcmp(name + n - 4, ".crt") == 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Names of the certificate files of dir, sorted: the load order does not depend on readdir. */
static int list_cert_files(const char *dir, char ***ret, size_t *ret_n, alder_error **err)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return alder_error_sys(err, errno, "open directory '%s'", dir);
        _cleanup_strv_ char **names = calloc(ALDER_TRUST_STORE_MAX_CERTS + 1, sizeof(char *));
        if (!names)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", dir);
        size_t n = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (!is_cert_file_name(de->d_name))
                        continue;
                if (n >= ALDER_TRUST_STORE_MAX_CERTS)
                        return alder_error_set(err, E2BIG, "'%s': more than %d certificate files", dir,
                                               ALDER_TRUST_STORE_MAX_CERTS);
                names[n] = strdup(de->d_name);
                if (!names[n++])
                        return alder_error_set(err, ENOMEM, "'%s': out of memory", dir);
        }
        if (errno)
                return alder_error_sys(err, errno, "read directory '%s'", dir);
        qsort(names, n, sizeof(char *), cmp_names);
        *ret = steal_pointer(&names);
        *ret_n = n;
        return 0;
}

static int add_file(alder_trust_store *s, const char *path, alder_error **err)
{
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        int r = alder_certs_load_pem(path, &certs, err);
        for (int i = 0; r == 0 && i < sk_X509_num(certs); i++)
                r = alder_trust_store_add(s, sk_X509_value(certs, i), err);
        return r;
}

int alder_trust_store_load_dir(const char *dir, alder_trust_store **ret, alder_error **err)
{
        _cleanup_strv_ char **names = NULL;
        size_t n = 0;
        int r = list_cert_files(dir, &names, &n, err);
        if (r < 0)
                return alder_error_wrap(err, "load trust store");
        _cleanup_trust_store_ alder_trust_store *s = NULL;
        r = alder_trust_store_new(&s, err);
        for (size_t i = 0; r == 0 && i < n; i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
                        return alder_error_set(err, ENOMEM, "load trust store: out of memory");
                r = add_file(s, path, err);
        }
        if (r < 0)
                return alder_error_wrap(err, "load trust store '%s'", dir);
        if (alder_trust_store_count(s) == 0)
                return alder_error_set(err, ENOENT, "load trust store '%s': no certificates (*.pem, *.crt)", dir);
        *ret = steal_pointer(&s);
        return 0;
}

void alder_cert_describe(const X509 *cert, char *buf, size_t size)
{
        _cleanup_free_ char *subject = NULL;
        uint8_t fp[ALDER_FINGERPRINT_SIZE];
        char hex[ALDER_FINGERPRINT_HEX_SIZE] = "?";
        if (alder_cert_fingerprint(cert, fp, NULL) == 0)
                alder_hex_encode(fp, sizeof(fp), hex);
        if (alder_cert_subject(cert, &subject, NULL) < 0)
                subject = NULL;
        snprintf(buf, size, "certificate '%s' (key id %s)", subject ? subject : "?", hex);
}

/* What every signer certificate must satisfy, whichever way it is trusted. */
static int check_signer_cert(const alder_trust_store *s, const X509 *cert, alder_error **err)
{
        char what[256];
        alder_cert_describe(cert, what, sizeof(what));
        if (!alder_key_is_p256(X509_get0_pubkey(cert)))
                return alder_error_set(err, EKEYREJECTED, "%s: expected an EC P-256 key, got %s", what,
                                       alder_key_type_name(X509_get0_pubkey(cert)));
        if (!(X509_get_key_usage((X509 *) cert) & KU_DIGITAL_SIGNATURE))
                return alder_error_set(err, EKEYREJECTED, "%s: its key usage does not allow signatures", what);
        if (!s->check_time)
                return 0;
        if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
                return alder_error_set(err, EKEYEXPIRED, "%s is not valid yet", what);
        if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
                return alder_error_set(err, EKEYEXPIRED, "%s has expired", what);
        return 0;
}

static void x509_store_ctx_freep(X509_STORE_CTX **c)
{
        X509_STORE_CTX_free(*c);
}

/* X509_verify_cert() of the leaf against the store, with the rest of the chain as untrusted helpers. */
static int verify_chain(const alder_trust_store *s, STACK_OF(X509) * chain, alder_error **err)
{
        X509 *leaf = sk_X509_value(chain, 0);
        _cleanup_(x509_store_ctx_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        STACK_OF(X509) *untrusted = sk_X509_dup(chain); /* borrowed pointers, freed with sk_X509_free */
        if (!ctx || !untrusted || !X509_STORE_CTX_init(ctx, s->anchors, leaf, untrusted)) {
                sk_X509_free(untrusted);
                return alder_error_openssl(err, ENOMEM, "x5chain: verify");
        }
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
        /* Any certificate of the folder is an anchor, CA or not; time: see keys.h. */
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN | (s->check_time ? 0 : X509_V_FLAG_NO_CHECK_TIME));
        X509_VERIFY_PARAM_set_depth(param, ALDER_X5CHAIN_MAX_CERTS);
        int ok = X509_verify_cert(ctx);
        int code = X509_STORE_CTX_get_error(ctx);
        sk_X509_free(untrusted);
        ERR_clear_error();
        if (ok == 1)
                return 0;
        char what[256];
        alder_cert_describe(leaf, what, sizeof(what));
        int errnum = code == X509_V_ERR_CERT_HAS_EXPIRED || code == X509_V_ERR_CERT_NOT_YET_VALID ? EKEYEXPIRED
                                                                                                  : EKEYREJECTED;
        return alder_error_set(err, errnum, "x5chain: %s is not trusted: %s", what,
                               X509_verify_cert_error_string(code));
}

static int push_ref(STACK_OF(X509) * out, X509 *cert, alder_error **err)
{
        if (!X509_up_ref(cert) || !sk_X509_push(out, cert))
                return alder_error_set(err, ENOMEM, "trust store: out of memory");
        return 0;
}

static int find_in_chain(const alder_trust_store *s, const uint8_t *kid, size_t kid_len, STACK_OF(X509) * x5chain,
                         STACK_OF(X509) * out, alder_error **err)
{
        X509 *leaf = sk_X509_value(x5chain, 0);
        uint8_t fp[ALDER_FINGERPRINT_SIZE];
        int r = alder_cert_fingerprint(leaf, fp, err);
        if (r < 0)
                return r;
        if (kid && (kid_len != sizeof(fp) || memcmp(kid, fp, sizeof(fp)) != 0))
                return alder_error_set(err, EKEYREJECTED, "the key id does not match the x5chain certificate");
        r = verify_chain(s, x5chain, err);
        if (r == 0)
                r = check_signer_cert(s, leaf, err);
        if (r == 0)
                r = push_ref(out, leaf, err);
        return r;
}

static int find_in_store(const alder_trust_store *s, const uint8_t *kid, size_t kid_len, STACK_OF(X509) * out,
                         alder_error **err)
{
        int first_error = 0;
        for (int i = 0; i < sk_X509_num(s->certs); i++) {
                X509 *c = sk_X509_value(s->certs, i);
                uint8_t fp[ALDER_FINGERPRINT_SIZE];
                if (kid && (alder_cert_fingerprint(c, fp, NULL) < 0 || kid_len != sizeof(fp) ||
                            memcmp(kid, fp, sizeof(fp)) != 0))
                        continue;
                /* Keep the first reason a matching certificate was refused, report it if none is usable. */
                int r = check_signer_cert(s, c, first_error ? NULL : err);
                if (r < 0) {
                        first_error = first_error ? first_error : r;
                        continue;
                }
                r = push_ref(out, c, err);
                if (r < 0)
                        return r;
        }
        if (sk_X509_num(out) > 0)
                return 0;
        if (first_error)
                return first_error;
        if (!kid)
                return alder_error_set(err, EKEYREJECTED, "the trust store has no signer certificates");
        char hex[2 * 64 + 1];
        alder_hex_encode(kid, ALDER_MIN(kid_len, (size_t) 64), hex);
        return alder_error_set(err, EKEYREJECTED, "no trusted certificate has key id %s", hex);
}

int alder_trust_store_find_signers(const alder_trust_store *s, const uint8_t *kid, size_t kid_len,
                                   STACK_OF(X509) * x5chain, STACK_OF(X509) * *ret, alder_error **err)
{
        _cleanup_x509_stack_ STACK_OF(X509) *out = sk_X509_new_null();
        if (!out)
                return alder_error_set(err, ENOMEM, "trust store: out of memory");
        int r = x5chain && sk_X509_num(x5chain) > 0 ? find_in_chain(s, kid, kid_len, x5chain, out, err)
                                                    : find_in_store(s, kid, kid_len, out, err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&out);
        return 0;
}
