/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM 2.0 key backend (tpm2-tss ESAPI; why ESAPI and not FAPI:
 * docs/api/secd.md).
 *
 * Signing keys (ECC P-256/P-384 with ECDSA, RSA 2048/3072 with RSA-PSS or
 * PKCS#1 v1.5) are created by the TPM under the device's storage root key
 * (SRK), a primary key of the owner hierarchy made from the TPM's seed with
 * the TCG's ECC P-256 SRK template: the same key at every start, so nothing
 * is kept in the TPM's NV memory. The key blob is the TPM's wrapped key
 * (TPM2B_PUBLIC + TPM2B_PRIVATE): secd seals it into the app's store like
 * any key, so the app namespacing is the store's; the private part never
 * leaves the TPM and the blob loads in no other TPM.
 *
 * Every other key (AES, ChaCha20, HMAC, Ed25519, X25519, ECDH keys, imported
 * private keys, keys with PSA_KEY_USAGE_EXPORT, public keys) is a software
 * key (backend-soft.c) whose store file is sealed under the device key,
 * which this backend seals to the TPM (`seal`/`unseal`): copied to another
 * device, neither keys nor secrets open. Random bytes come from the TPM.
 *
 * Blob: one kind byte (SECD_BLOB_HW, BLOB_SOFT), then the TPM's marshalled
 * TPM2B_PUBLIC and TPM2B_PRIVATE, or the software blob.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "alder/json.h"
#include "alder/log.h"
#include "backend.h"
#include "crypto.h"
#include "hybrid.h"

/*
 * tpm2-tss is loaded when the backend starts (dlopen): a secd with another
 * backend does not map its libraries (410 KB of RSS, 56 KB of it private
 * dirty). Its headers give the types; the build checks every use against
 * them through __typeof__.
 */
#define TSS_FUNCTIONS(X)                       \
        X(ESYS, Esys_Create)                   \
        X(ESYS, Esys_CreatePrimary)            \
        X(ESYS, Esys_Finalize)                 \
        X(ESYS, Esys_FlushContext)             \
        X(ESYS, Esys_Free)                     \
        X(ESYS, Esys_GetRandom)                \
        X(ESYS, Esys_Initialize)               \
        X(ESYS, Esys_Load)                     \
        X(ESYS, Esys_Sign)                     \
        X(ESYS, Esys_Unseal)                   \
        X(MU, Tss2_MU_TPM2B_PRIVATE_Marshal)   \
        X(MU, Tss2_MU_TPM2B_PRIVATE_Unmarshal) \
        X(MU, Tss2_MU_TPM2B_PUBLIC_Marshal)    \
        X(MU, Tss2_MU_TPM2B_PUBLIC_Unmarshal)  \
        X(RC, Tss2_RC_Decode)                  \
        X(TCTILDR, Tss2_TctiLdr_Finalize)      \
        X(TCTILDR, Tss2_TctiLdr_Initialize)

enum { TSS_ESYS, TSS_MU, TSS_TCTILDR, TSS_RC, TSS_N_LIBS };
static const char *const tss_sonames[TSS_N_LIBS] = {
        [TSS_ESYS] = "libtss2-esys.so.0",
        [TSS_MU] = "libtss2-mu.so.0",
        [TSS_TCTILDR] = "libtss2-tctildr.so.0",
        [TSS_RC] = "libtss2-rc.so.0",
};

static struct {
        void *libs[TSS_N_LIBS];
#define TSS_POINTER(lib, f) __typeof__(&f) f;
        TSS_FUNCTIONS(TSS_POINTER)
} tss;

static int load_tss(alder_error **err)
{
        if (tss.libs[0])
                return 0;
        for (size_t i = 0; i < TSS_N_LIBS; i++)
                if (!(tss.libs[i] = dlopen(tss_sonames[i], RTLD_NOW | RTLD_LOCAL)))
                        return alder_error_set(err, ENOENT, "load tpm2-tss: %s", dlerror());
#define TSS_RESOLVE(lib, f)                                             \
        if (!(tss.f = (__typeof__(&f)) dlsym(tss.libs[TSS_##lib], #f))) \
                return alder_error_set(err, ENOENT, "load tpm2-tss: %s: no function %s", tss_sonames[TSS_##lib], #f);
        TSS_FUNCTIONS(TSS_RESOLVE)
        return 0;
}

static void unload_tss(void)
{
        for (size_t i = 0; i < TSS_N_LIBS; i++)
                if (tss.libs[i])
                        dlclose(tss.libs[i]);
        tss = (__typeof__(tss)){0};
}

#define DEFAULT_TCTI  "device:/dev/tpmrm0"
#define TCTI_CONF_MAX 256u

static struct {
        char tcti_conf[TCTI_CONF_MAX];
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        ESYS_TR srk;
        /* The last key loaded, kept for the next operation (the TPM holds 3 transient objects at least). */
        ESYS_TR loaded;
        size_t loaded_len;
        uint8_t loaded_blob[SECD_KEY_BLOB_MAX];
} tpm = {.srk = ESYS_TR_NONE, .loaded = ESYS_TR_NONE};

static void esys_freep(void *p)
{
        tss.Esys_Free(*(void **) p);
}
#define _cleanup_esys_ __attribute__((cleanup(esys_freep)))

static void disconnect(void)
{
        if (tpm.esys) {
                /* Flushing may fail on a dead connection: the TPM forgets transient objects on reset anyway. */
                if (tpm.loaded != ESYS_TR_NONE)
                        (void) tss.Esys_FlushContext(tpm.esys, tpm.loaded);
                if (tpm.srk != ESYS_TR_NONE)
                        (void) tss.Esys_FlushContext(tpm.esys, tpm.srk);
                tss.Esys_Finalize(&tpm.esys);
        }
        tss.Tss2_TctiLdr_Finalize(&tpm.tcti);
        tpm.srk = tpm.loaded = ESYS_TR_NONE;
        tpm.loaded_len = 0;
}

/* The TCG's ECC P-256 storage root key template (TCG TPM v2.0 Provisioning Guidance, 7.5.1). */
static const TPM2B_PUBLIC srk_template = {
        .publicArea =
                {
                        .type = TPM2_ALG_ECC,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
                        .parameters.eccDetail =
                                {
                                        .symmetric = {.algorithm = TPM2_ALG_AES,
                                                      .keyBits.aes = 128,
                                                      .mode.aes = TPM2_ALG_CFB},
                                        .scheme.scheme = TPM2_ALG_NULL,
                                        .curveID = TPM2_ECC_NIST_P256,
                                        .kdf.scheme = TPM2_ALG_NULL,
                                },
                        .unique.ecc = {.x.size = 32, .y.size = 32},
                },
};

static TSS2_RC connect_tpm(void)
{
        TSS2_RC rc = tss.Tss2_TctiLdr_Initialize(tpm.tcti_conf, &tpm.tcti);
        if (rc == TSS2_RC_SUCCESS)
                rc = tss.Esys_Initialize(&tpm.esys, tpm.tcti, NULL);
        const TPM2B_SENSITIVE_CREATE none = {0};
        const TPM2B_DATA outside = {0};
        const TPML_PCR_SELECTION pcrs = {0};
        if (rc == TSS2_RC_SUCCESS)
                rc = tss.Esys_CreatePrimary(tpm.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                            &none, &srk_template, &outside, &pcrs, &tpm.srk, NULL, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
                disconnect();
        return rc;
}

/*
 * Errors worth a reconnection: of the connection rather than of the TPM, or
 * a TPM that lost our transient objects (it was reset or restarted: the
 * swtpm TCTI connects for every command, so a restarted TPM answers the next
 * one, without the SRK we loaded).
 */
static bool connection_error(TSS2_RC rc)
{
        TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
        if (layer == TSS2_TCTI_RC_LAYER || layer == TSS2_ESAPI_RC_LAYER || layer == TSS2_SYS_RC_LAYER)
                return true;
        if (layer != TSS2_TPM_RC_LAYER)
                return false;
        if (rc & TPM2_RC_FMT1)
                return (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_HANDLE;
        return rc == TPM2_RC_INITIALIZE || (rc >= TPM2_RC_REFERENCE_H0 && rc <= TPM2_RC_REFERENCE_H6);
}

/* A TPM call that gets one reconnection when the connection failed. */
typedef TSS2_RC (*tpm_fn)(void *arg);

static TSS2_RC with_tpm(tpm_fn fn, void *arg)
{
        TSS2_RC rc = tpm.esys ? fn(arg) : TSS2_TCTI_RC_IO_ERROR;
        if (rc == TSS2_RC_SUCCESS || !connection_error(rc))
                return rc;
        alder_log_warning("TPM: %s; reconnecting to '%s'", tss.Tss2_RC_Decode(rc), tpm.tcti_conf);
        disconnect();
        rc = connect_tpm();
        return rc == TSS2_RC_SUCCESS ? fn(arg) : rc;
}

static psa_status_t psa_from_rc(TSS2_RC rc, const char *what)
{
        if (rc == TSS2_RC_SUCCESS)
                return PSA_SUCCESS;
        TSS2_RC base = rc & TPM2_RC_FMT1 ? rc & (TPM2_RC_FMT1 | 0x3f) : rc & 0xfff;
        if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER) {
                if (base == TPM2_RC_KEY_SIZE || base == TPM2_RC_CURVE || base == TPM2_RC_SCHEME ||
                    base == TPM2_RC_HASH || base == TPM2_RC_ASYMMETRIC)
                        return PSA_ERROR_NOT_SUPPORTED;
                if (base == TPM2_RC_INTEGRITY)
                        return PSA_ERROR_DATA_CORRUPT; /* a blob of another TPM, or damaged */
                if (base == TPM2_RC_OBJECT_MEMORY || base == TPM2_RC_MEMORY)
                        return PSA_ERROR_INSUFFICIENT_MEMORY;
        }
        alder_log_warning("TPM: %s: %s", what, tss.Tss2_RC_Decode(rc));
        return PSA_ERROR_HARDWARE_FAILURE;
}

static int tpm_init(const json_t *settings, const char *config_path, alder_error **err)
{
        static const char *const keys[] = {"tcti", NULL};
        const char *conf = DEFAULT_TCTI;
        json_t *obj = NULL;
        int r = settings ? alder_json_get_object(settings, config_path, "tpm", ALDER_JSON_OPTIONAL, &obj, err) : 0;
        if (r >= 0 && obj)
                r = alder_json_check_keys(settings, config_path, "tpm", keys, err);
        if (r >= 0 && obj)
                r = alder_json_get_string(settings, config_path, "tpm.tcti", ALDER_JSON_OPTIONAL, &conf, err);
        if (r < 0)
                return r;
        if (strlen(conf) >= sizeof(tpm.tcti_conf))
                return alder_error_set(err, EINVAL, "%s: field 'tpm.tcti': longer than %u bytes", config_path,
                                       TCTI_CONF_MAX - 1);
        strcpy(tpm.tcti_conf, conf);
        /* tpm2-tss logs to stderr by default; secd reports TPM errors itself. */
        setenv("TSS2_LOG", "all+none", 0);
        if ((r = load_tss(err)) < 0) {
                unload_tss();
                return r;
        }
        TSS2_RC rc = connect_tpm();
        if (rc != TSS2_RC_SUCCESS) {
                r = alder_error_set(err, EIO, "TPM at '%s': %s", conf, tss.Tss2_RC_Decode(rc));
                unload_tss();
        }
        return r < 0 ? r : 0;
}

static void tpm_done(void)
{
        disconnect();
        explicit_bzero(&tpm, sizeof(tpm));
        tpm.srk = tpm.loaded = ESYS_TR_NONE;
        unload_tss();
}

/* --- blobs ----------------------------------------------------------------- */

static psa_status_t blob_put(struct secd_key *k, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv)
{
        size_t off = 1;
        k->blob[0] = SECD_BLOB_HW;
        if (tss.Tss2_MU_TPM2B_PUBLIC_Marshal(pub, k->blob, sizeof(k->blob), &off) != TSS2_RC_SUCCESS ||
            tss.Tss2_MU_TPM2B_PRIVATE_Marshal(priv, k->blob, sizeof(k->blob), &off) != TSS2_RC_SUCCESS)
                return PSA_ERROR_GENERIC_ERROR;
        k->blob_len = off;
        return PSA_SUCCESS;
}

static bool blob_get(const uint8_t *blob, size_t len, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
        size_t off = 1;
        *pub = (TPM2B_PUBLIC){0};
        *priv = (TPM2B_PRIVATE){0};
        return len > 1 && blob[0] == SECD_BLOB_HW &&
               tss.Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, len, &off, pub) == TSS2_RC_SUCCESS &&
               tss.Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, len, &off, priv) == TSS2_RC_SUCCESS && off == len;
}

/* --- keys ------------------------------------------------------------------ */

/* Keys the TPM keeps: signing key pairs it implements, for a signature algorithm, never to be exported. */
static bool tpm_resident(const psa_key_attributes_t *a)
{
        size_t bits = a->private_bits;
        bool curve =
                a->private_type == PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1) && (bits == 256 || bits == 384);
        bool rsa = a->private_type == PSA_KEY_TYPE_RSA_KEY_PAIR && (bits == 2048 || bits == 3072);
        return (curve || rsa) && PSA_ALG_IS_HASH_AND_SIGN(a->private_alg) && !(a->private_usage & PSA_KEY_USAGE_EXPORT);
}

static void key_template(const psa_key_attributes_t *a, TPM2B_PUBLIC *t)
{
        *t = (TPM2B_PUBLIC){0};
        TPMT_PUBLIC *p = &t->publicArea;
        p->nameAlg = TPM2_ALG_SHA256;
        /* Unrestricted: signs any digest; no authValue: the blob is only ever in secd's sealed store. */
        p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                              TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT;
        if (a->private_type == PSA_KEY_TYPE_RSA_KEY_PAIR) {
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail = (TPMS_RSA_PARMS){.symmetric.algorithm = TPM2_ALG_NULL,
                                                           .scheme.scheme = TPM2_ALG_NULL,
                                                           .keyBits = a->private_bits};
        } else {
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail = (TPMS_ECC_PARMS){
                        .symmetric.algorithm = TPM2_ALG_NULL,
                        .scheme.scheme = TPM2_ALG_NULL,
                        .curveID = a->private_bits == 256 ? TPM2_ECC_NIST_P256 : TPM2_ECC_NIST_P384,
                        .kdf.scheme = TPM2_ALG_NULL,
                };
        }
}

struct create_args {
        const TPM2B_PUBLIC *template;
        const TPM2B_SENSITIVE_CREATE *sensitive;
        TPM2B_PUBLIC *pub;
        TPM2B_PRIVATE *priv;
};

static TSS2_RC do_create(void *arg)
{
        struct create_args *c = arg;
        const TPM2B_DATA outside = {0};
        const TPML_PCR_SELECTION pcrs = {0};
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        _cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
        TSS2_RC rc = tss.Esys_Create(tpm.esys, tpm.srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, c->sensitive,
                                     c->template, &outside, &pcrs, &priv, &pub, NULL, NULL, NULL);
        if (rc == TSS2_RC_SUCCESS) {
                *c->pub = *pub;
                *c->priv = *priv;
        }
        return rc;
}

static psa_status_t tpm_generate(struct secd_key *k)
{
        if (!tpm_resident(&k->attrs))
                return secd_hybrid_generate_soft(k);
        TPM2B_PUBLIC template, pub;
        TPM2B_PRIVATE priv;
        const TPM2B_SENSITIVE_CREATE sensitive = {0};
        key_template(&k->attrs, &template);
        struct create_args c = {.template = &template, .sensitive = &sensitive, .pub = &pub, .priv = &priv};
        psa_status_t s = psa_from_rc(with_tpm(do_create, &c), "create key");
        return s == PSA_SUCCESS ? blob_put(k, &pub, &priv) : s;
}

/* The public key of a TPM blob as a software public key (PSA format), for export and verification. */
static psa_status_t public_of(const struct secd_key *k, struct secd_key *pubkey)
{
        TPM2B_PUBLIC pub;
        TPM2B_PRIVATE priv;
        if (!blob_get(k->blob, k->blob_len, &pub, &priv))
                return PSA_ERROR_DATA_CORRUPT;
        const TPMT_PUBLIC *p = &pub.publicArea;
        pubkey->attrs = k->attrs;
        pubkey->attrs.private_type = PSA_KEY_TYPE_PUBLIC_KEY_OF_KEY_PAIR(k->attrs.private_type);
        if (p->type == TPM2_ALG_ECC) {
                size_t n = (k->attrs.private_bits + 7) / 8;
                const TPM2B_ECC_PARAMETER *x = &p->unique.ecc.x, *y = &p->unique.ecc.y;
                if (x->size > n || y->size > n)
                        return PSA_ERROR_DATA_CORRUPT;
                memset(pubkey->blob, 0, 1 + 2 * n);
                pubkey->blob[0] = 0x04;
                memcpy(pubkey->blob + 1 + n - x->size, x->buffer, x->size);
                memcpy(pubkey->blob + 1 + 2 * n - y->size, y->buffer, y->size);
                pubkey->blob_len = 1 + 2 * n;
                return PSA_SUCCESS;
        }
        /* RSA: modulus and exponent (0 means 65537) to DER RSAPublicKey through OpenSSL. */
        uint32_t e = p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent : 65537;
        BIGNUM *bn_n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL), *bn_e = BN_new();
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM *params = NULL;
        if (bn_n && bn_e && bld && BN_set_word(bn_e, e) && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
                params = OSSL_PARAM_BLD_to_param(bld);
        EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL) : NULL;
        EVP_PKEY *pkey = NULL;
        psa_status_t s = PSA_ERROR_GENERIC_ERROR;
        if (ctx && EVP_PKEY_fromdata_init(ctx) > 0 && EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) > 0) {
                int len = i2d_PublicKey(pkey, NULL);
                uint8_t *q = pubkey->blob;
                if (len > 0 && (size_t) len <= sizeof(pubkey->blob) && i2d_PublicKey(pkey, &q) == len) {
                        pubkey->blob_len = (size_t) len;
                        s = PSA_SUCCESS;
                }
        }
        EVP_PKEY_free(pkey);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        BN_free(bn_n);
        BN_free(bn_e);
        return s;
}

static psa_status_t tpm_export_public(const struct secd_key *k, uint8_t *out, size_t size, size_t *len)
{
        return secd_hybrid_export_public(k, public_of, out, size, len);
}

struct load_args {
        const struct secd_key *k;
};

/* Loads k's TPM object into tpm.loaded unless it is there already. */
static TSS2_RC do_load(void *arg)
{
        const struct secd_key *k = ((struct load_args *) arg)->k;
        if (tpm.loaded != ESYS_TR_NONE && tpm.loaded_len == k->blob_len &&
            memcmp(tpm.loaded_blob, k->blob, k->blob_len) == 0)
                return TSS2_RC_SUCCESS;
        if (tpm.loaded != ESYS_TR_NONE) {
                TSS2_RC rc = tss.Esys_FlushContext(tpm.esys, tpm.loaded);
                tpm.loaded = ESYS_TR_NONE;
                if (rc != TSS2_RC_SUCCESS)
                        return rc;
        }
        TPM2B_PUBLIC pub;
        TPM2B_PRIVATE priv;
        if (!blob_get(k->blob, k->blob_len, &pub, &priv))
                return TSS2_ESYS_RC_BAD_VALUE;
        TSS2_RC rc = tss.Esys_Load(tpm.esys, tpm.srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
                                   &tpm.loaded);
        if (rc == TSS2_RC_SUCCESS) {
                tpm.loaded_len = k->blob_len;
                memcpy(tpm.loaded_blob, k->blob, k->blob_len);
        }
        return rc;
}

struct sign_args {
        struct load_args load;
        TPM2B_DIGEST digest;
        TPMT_SIG_SCHEME scheme;
        TPMT_SIGNATURE *sig;
};

static TSS2_RC do_sign(void *arg)
{
        struct sign_args *a = arg;
        TSS2_RC rc = do_load(&a->load);
        const TPMT_TK_HASHCHECK none = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
        if (rc == TSS2_RC_SUCCESS)
                rc = tss.Esys_Sign(tpm.esys, tpm.loaded, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &a->digest,
                                   &a->scheme, &none, &a->sig);
        return rc;
}

static TPMI_ALG_HASH tpm_hash(size_t len)
{
        return len == 32 ? TPM2_ALG_SHA256 : len == 48 ? TPM2_ALG_SHA384 : len == 64 ? TPM2_ALG_SHA512 : TPM2_ALG_NULL;
}

/* The TPM signature scheme of a PSA algorithm for this key; TPM2_ALG_NULL when there is none. */
static TPMI_ALG_SIG_SCHEME tpm_scheme(const struct secd_key *k, psa_algorithm_t alg)
{
        bool rsa = k->attrs.private_type == PSA_KEY_TYPE_RSA_KEY_PAIR;
        if ((alg & ~0xffu) == PSA_ALG_ECDSA_ANY && !rsa)
                return TPM2_ALG_ECDSA;
        if (PSA_ALG_IS_RSA_PSS(alg) && rsa && !(alg & 0x1000))
                return TPM2_ALG_RSAPSS;
        if ((alg & ~0xffu) == PSA_ALG_RSA_PKCS1V15_SIGN(0) && rsa)
                return TPM2_ALG_RSASSA;
        return TPM2_ALG_NULL;
}

static psa_status_t sig_out(const TPMT_SIGNATURE *sig, size_t n, uint8_t *out, size_t size, size_t *len)
{
        if (sig->sigAlg == TPM2_ALG_ECDSA) {
                const TPM2B_ECC_PARAMETER *r = &sig->signature.ecdsa.signatureR, *s = &sig->signature.ecdsa.signatureS;
                if (size < 2 * n)
                        return PSA_ERROR_BUFFER_TOO_SMALL;
                if (r->size > n || s->size > n)
                        return PSA_ERROR_HARDWARE_FAILURE;
                memset(out, 0, 2 * n);
                memcpy(out + n - r->size, r->buffer, r->size);
                memcpy(out + 2 * n - s->size, s->buffer, s->size);
                *len = 2 * n;
                return PSA_SUCCESS;
        }
        const TPM2B_PUBLIC_KEY_RSA *rs = &sig->signature.rsassa.sig; /* rsapss has the same layout */
        if (size < rs->size)
                return PSA_ERROR_BUFFER_TOO_SMALL;
        memcpy(out, rs->buffer, rs->size);
        *len = rs->size;
        return PSA_SUCCESS;
}

static psa_status_t tpm_sign_hash(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash, size_t hash_len,
                                  uint8_t *sig, size_t sig_size, size_t *sig_len)
{
        if (secd_hybrid_is_soft(k))
                return secd_hybrid_sign_hash_soft(k, alg, hash, hash_len, sig, sig_size, sig_len);
        TPMI_ALG_SIG_SCHEME scheme = tpm_scheme(k, alg);
        TPMI_ALG_HASH hash_alg = tpm_hash(hash_len);
        size_t want = alg == PSA_ALG_ECDSA_ANY ? hash_len : secd_hash_size(PSA_ALG_SIGN_GET_HASH(alg));
        if (scheme == TPM2_ALG_NULL)
                return PSA_ALG_IS_ECDSA(alg) || PSA_ALG_IS_RSA_PSS(alg) ? PSA_ERROR_NOT_SUPPORTED
                                                                        : PSA_ERROR_INVALID_ARGUMENT;
        if (want == 0)
                return PSA_ERROR_NOT_SUPPORTED;
        if (hash_len != want || hash_alg == TPM2_ALG_NULL)
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t n = scheme == TPM2_ALG_ECDSA ? (k->attrs.private_bits + 7) / 8 : k->attrs.private_bits / 8;
        if (sig_size < (scheme == TPM2_ALG_ECDSA ? 2 * n : n))
                return PSA_ERROR_BUFFER_TOO_SMALL;
        struct sign_args a = {.load = {k}, .scheme = {.scheme = scheme, .details.any.hashAlg = hash_alg}};
        a.digest.size = (UINT16) hash_len;
        memcpy(a.digest.buffer, hash, hash_len);
        psa_status_t s = psa_from_rc(with_tpm(do_sign, &a), "sign");
        if (s == PSA_SUCCESS)
                s = sig_out(a.sig, n, sig, sig_size, sig_len);
        tss.Esys_Free(a.sig);
        return s;
}

static psa_status_t tpm_verify_hash(const struct secd_key *k, psa_algorithm_t alg, const uint8_t *hash, size_t hash_len,
                                    const uint8_t *sig, size_t sig_len)
{
        return secd_hybrid_verify_hash(k, public_of, alg, hash, hash_len, sig, sig_len);
}

static psa_status_t tpm_destroy(const struct secd_key *k)
{
        if (tpm.loaded != ESYS_TR_NONE && tpm.loaded_len == k->blob_len &&
            memcmp(tpm.loaded_blob, k->blob, k->blob_len) == 0) {
                (void) tss.Esys_FlushContext(tpm.esys, tpm.loaded);
                tpm.loaded = ESYS_TR_NONE;
                tpm.loaded_len = 0;
        }
        return secd_backend_soft.destroy(k);
}

/* --- random and sealing ------------------------------------------------------ */

struct random_args {
        uint8_t *out;
        size_t len;
};

static TSS2_RC do_random(void *arg)
{
        struct random_args *a = arg;
        while (a->len) {
                _cleanup_esys_ TPM2B_DIGEST *got = NULL;
                TSS2_RC rc = tss.Esys_GetRandom(tpm.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                                (UINT16) (a->len < 32 ? a->len : 32), &got);
                if (rc != TSS2_RC_SUCCESS)
                        return rc;
                if (got->size == 0 || got->size > a->len)
                        return TSS2_ESYS_RC_MALFORMED_RESPONSE;
                memcpy(a->out, got->buffer, got->size);
                explicit_bzero(got->buffer, got->size);
                a->out += got->size;
                a->len -= got->size;
        }
        return TSS2_RC_SUCCESS;
}

static psa_status_t tpm_random(uint8_t *out, size_t len)
{
        struct random_args a = {out, len};
        psa_status_t s = psa_from_rc(with_tpm(do_random, &a), "random");
        return s == PSA_SUCCESS ? s : PSA_ERROR_INSUFFICIENT_ENTROPY;
}

/* A sealed data object: no sign/decrypt attributes, only unsealable, by its holder, in this TPM. */
static const TPM2B_PUBLIC sealed_template = {
        .publicArea =
                {
                        .type = TPM2_ALG_KEYEDHASH,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_USERWITHAUTH |
                                            TPMA_OBJECT_NODA,
                        .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
                },
};

static int tpm_seal(const uint8_t *data, size_t len, uint8_t *blob, size_t size, size_t *blob_len, alder_error **err)
{
        TPM2B_SENSITIVE_CREATE sensitive = {0};
        if (len > sizeof(sensitive.sensitive.data.buffer))
                return alder_error_set(err, EINVAL, "TPM: %zu bytes are too many to seal", len);
        sensitive.sensitive.data.size = (UINT16) len;
        memcpy(sensitive.sensitive.data.buffer, data, len);
        struct secd_key k;
        TPM2B_PUBLIC pub;
        TPM2B_PRIVATE priv;
        struct create_args c = {.template = &sealed_template, .sensitive = &sensitive, .pub = &pub, .priv = &priv};
        TSS2_RC rc = with_tpm(do_create, &c);
        explicit_bzero(&sensitive, sizeof(sensitive));
        if (rc != TSS2_RC_SUCCESS)
                return alder_error_set(err, EIO, "TPM: seal: %s", tss.Tss2_RC_Decode(rc));
        if (blob_put(&k, &pub, &priv) != PSA_SUCCESS || k.blob_len > size)
                return alder_error_set(err, EOVERFLOW, "TPM: sealed object does not fit");
        memcpy(blob, k.blob, k.blob_len);
        *blob_len = k.blob_len;
        return 0;
}

struct unseal_args {
        struct load_args load;
        TPM2B_SENSITIVE_DATA *data;
};

static TSS2_RC do_unseal(void *arg)
{
        struct unseal_args *a = arg;
        TSS2_RC rc = do_load(&a->load);
        if (rc == TSS2_RC_SUCCESS)
                rc = tss.Esys_Unseal(tpm.esys, tpm.loaded, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &a->data);
        return rc;
}

static int tpm_unseal(const uint8_t *blob, size_t len, uint8_t *data, size_t size, size_t *data_len, alder_error **err)
{
        struct secd_key k = {.blob_len = len};
        if (len > sizeof(k.blob))
                return alder_error_set(err, EBADMSG, "TPM: sealed object of %zu bytes is too long", len);
        memcpy(k.blob, blob, len);
        struct unseal_args a = {.load = {&k}};
        TSS2_RC rc = with_tpm(do_unseal, &a);
        /* The sealed object is not kept loaded: it is used once. */
        (void) tpm_destroy(&k);
        if (rc != TSS2_RC_SUCCESS)
                return alder_error_set(err, (rc & 0xfff) == TPM2_RC_INTEGRITY ? EBADMSG : EIO, "TPM: unseal: %s",
                                       tss.Tss2_RC_Decode(rc));
        int r = 0;
        if (a.data->size > size)
                r = alder_error_set(err, EBADMSG, "TPM: unsealed %u bytes, expected at most %zu", a.data->size, size);
        else {
                memcpy(data, a.data->buffer, a.data->size);
                *data_len = a.data->size;
        }
        explicit_bzero(a.data, sizeof(*a.data));
        tss.Esys_Free(a.data);
        return r;
}

const struct secd_backend secd_backend_tpm = {
        .name = "tpm",
        .init = tpm_init,
        .done = tpm_done,
        .generate = tpm_generate,
        .import = secd_hybrid_import,
        .export_key = secd_hybrid_export_key,
        .export_public = tpm_export_public,
        .sign_hash = tpm_sign_hash,
        .verify_hash = tpm_verify_hash,
        .sign_message = secd_hybrid_sign_message,
        .verify_message = secd_hybrid_verify_message,
        .mac = secd_hybrid_mac,
        .key_agreement = secd_hybrid_key_agreement,
        .aead = secd_hybrid_aead,
        .random = tpm_random,
        .seal = tpm_seal,
        .unseal = tpm_unseal,
        .destroy = tpm_destroy,
};
