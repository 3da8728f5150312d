/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd request handling: decode, check the key's policy, call the
 * backend or the store, encode the reply. The app a request acts on comes
 * from the session (the socket), never from the request, except on the admin
 * socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "alder/log.h"
#include "crypto.h"
#include "secd.h"

#define KNOWN_USAGE                                                                                                    \
        (PSA_KEY_USAGE_EXPORT | PSA_KEY_USAGE_COPY | PSA_KEY_USAGE_CACHE | PSA_KEY_USAGE_ENCRYPT |                     \
         PSA_KEY_USAGE_DECRYPT | PSA_KEY_USAGE_SIGN_MESSAGE | PSA_KEY_USAGE_VERIFY_MESSAGE | PSA_KEY_USAGE_SIGN_HASH | \
         PSA_KEY_USAGE_VERIFY_HASH | PSA_KEY_USAGE_DERIVE)
#define KNOWN_PS_FLAGS \
        (PSA_STORAGE_FLAG_WRITE_ONCE | PSA_STORAGE_FLAG_NO_CONFIDENTIALITY | PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION)
#define MAX_LISTED 1024u

struct req {
        struct secd *d;
        struct secd_session *sess;
        const char *app;
        const struct secd_msg *m;
        struct secd_writer *w;
};

/* Logs a store failure (the app sees only the PSA status) and maps it. */
static psa_status_t store_status(const struct req *r, int rc, alder_error *err, const char *what)
{
        if (rc >= 0)
                return PSA_SUCCESS;
        psa_status_t s = secd_status_from_errno(rc);
        if (s == PSA_ERROR_STORAGE_FAILURE || s == PSA_ERROR_DATA_CORRUPT || s == PSA_ERROR_INSUFFICIENT_STORAGE)
                alder_log_error(ALDER_LOG_WARNING, err, ALDER_LOG_FIELDS("APP", r->app), "%s", what);
        return s;
}

static bool is_volatile_id(psa_key_id_t id)
{
        return id >= PSA_KEY_ID_VENDOR_MIN && id < PSA_KEY_ID_VENDOR_MIN + SECD_MAX_VOLATILE;
}

/* Loads key `id` of the request's app into d->key; PSA_ERROR_INVALID_HANDLE when it has none. */
static psa_status_t get_key(const struct req *r, psa_key_id_t id)
{
        if (is_volatile_id(id)) {
                struct secd_key *k = r->sess->volatile_keys[id - PSA_KEY_ID_VENDOR_MIN];
                if (!k)
                        return PSA_ERROR_INVALID_HANDLE;
                memcpy(r->d->key, k, sizeof(*k));
                return PSA_SUCCESS;
        }
        if (id < PSA_KEY_ID_USER_MIN || id > PSA_KEY_ID_USER_MAX)
                return PSA_ERROR_INVALID_HANDLE;
        struct secd_key *cached = r->d->cached;
        if (cached->blob_len && cached->attrs.private_id == id && strcmp(r->d->cached_app, r->app) == 0) {
                memcpy(r->d->key, cached, sizeof(*cached));
                return PSA_SUCCESS;
        }
        _cleanup_error_ alder_error *err = NULL;
        int rc = secd_store_key_load(&r->d->store, r->app, id, r->d->key, &err);
        if (rc == -ENOENT)
                return PSA_ERROR_INVALID_HANDLE;
        if (rc >= 0) {
                memcpy(cached, r->d->key, sizeof(*cached));
                strcpy(r->d->cached_app, r->app);
        }
        return store_status(r, rc, err, "load key");
}

/* Forgets the cached key (before the store changes under it). */
static void forget_cached_key(const struct req *r)
{
        explicit_bzero(r->d->cached, sizeof(*r->d->cached));
}

/*
 * Whether a key of `type` may name `alg` in its policy: PSA_ERROR_NOT_SUPPORTED
 * for an algorithm secd does not know, PSA_ERROR_INVALID_ARGUMENT for one that
 * does not go with the key type (an ECDSA policy on an AES key...).
 */
static psa_status_t alg_fits_type(psa_key_type_t type, psa_algorithm_t alg)
{
        psa_ecc_family_t f = PSA_KEY_TYPE_IS_ECC(type) ? PSA_KEY_TYPE_ECC_GET_FAMILY(type) : 0;
        bool fits;
        if (alg == PSA_ALG_NONE)
                return PSA_SUCCESS;
        if (PSA_ALG_IS_ECDSA(alg))
                fits = f == PSA_ECC_FAMILY_SECP_R1;
        else if (PSA_ALG_IS_HASH_AND_SIGN(alg)) /* RSA-PSS, RSA PKCS#1 v1.5 */
                fits = PSA_KEY_TYPE_IS_RSA(type);
        else if (alg == PSA_ALG_PURE_EDDSA)
                fits = f == PSA_ECC_FAMILY_TWISTED_EDWARDS;
        else if (PSA_ALG_IS_HMAC(alg) && alg == PSA_ALG_HMAC(alg)) /* not truncated */
                fits = type == PSA_KEY_TYPE_HMAC;
        else if (alg == PSA_ALG_GCM)
                fits = type == PSA_KEY_TYPE_AES;
        else if (alg == PSA_ALG_CHACHA20_POLY1305)
                fits = type == PSA_KEY_TYPE_CHACHA20;
        else if (alg == PSA_ALG_ECDH)
                fits = PSA_KEY_TYPE_IS_ECC_KEY_PAIR(type) &&
                       (f == PSA_ECC_FAMILY_SECP_R1 || f == PSA_ECC_FAMILY_MONTGOMERY);
        else
                return PSA_ERROR_NOT_SUPPORTED;
        return fits ? PSA_SUCCESS : PSA_ERROR_INVALID_ARGUMENT;
}

static psa_status_t check_new_attrs(const struct req *r, const psa_key_attributes_t *a)
{
        if (a->private_type == PSA_KEY_TYPE_NONE || (a->private_usage & ~KNOWN_USAGE))
                return PSA_ERROR_INVALID_ARGUMENT;
        psa_status_t s = alg_fits_type(a->private_type, a->private_alg);
        if (s != PSA_SUCCESS)
                return s;
        if (a->private_lifetime == PSA_KEY_LIFETIME_VOLATILE)
                return a->private_id == PSA_KEY_ID_NULL && !r->sess->app ? PSA_ERROR_NOT_SUPPORTED
                       : a->private_id == PSA_KEY_ID_NULL                ? PSA_SUCCESS
                                                                         : PSA_ERROR_INVALID_ARGUMENT;
        if (a->private_lifetime != PSA_KEY_LIFETIME_PERSISTENT)
                return PSA_ERROR_NOT_SUPPORTED; /* other storage locations: TPM, PKCS#11 to come */
        if (a->private_id < PSA_KEY_ID_USER_MIN || a->private_id > PSA_KEY_ID_USER_MAX)
                return PSA_ERROR_INVALID_ARGUMENT;
        return PSA_SUCCESS;
}

/* Keeps a new key: in the store (persistent) or the session (volatile); rolls the backend back on failure. */
static psa_status_t keep_key(const struct req *r, struct secd_key *k)
{
        psa_status_t s;
        if (k->attrs.private_lifetime == PSA_KEY_LIFETIME_PERSISTENT) {
                _cleanup_error_ alder_error *err = NULL;
                s = store_status(r, secd_store_key_create(&r->d->store, r->app, k, &err), err, "save key");
        } else {
                s = PSA_ERROR_INSUFFICIENT_MEMORY;
                for (size_t i = 0; i < SECD_MAX_VOLATILE && s != PSA_SUCCESS; i++) {
                        if (r->sess->volatile_keys[i])
                                continue;
                        k->attrs.private_id = PSA_KEY_ID_VENDOR_MIN + (psa_key_id_t) i;
                        r->sess->volatile_keys[i] = malloc(sizeof(*k));
                        if (r->sess->volatile_keys[i]) {
                                memcpy(r->sess->volatile_keys[i], k, sizeof(*k));
                                s = PSA_SUCCESS;
                        }
                }
        }
        if (s != PSA_SUCCESS) {
                (void) r->d->backend->destroy(k);
                return s;
        }
        secd_put_u32(r->w, SECD_TAG_KEY_ID, k->attrs.private_id);
        /* Volatile keys come and go with connections: only persistent ones are news. */
        alder_log(k->attrs.private_lifetime == PSA_KEY_LIFETIME_PERSISTENT ? ALDER_LOG_INFO : ALDER_LOG_DEBUG,
                  ALDER_LOG_FIELDS("APP", r->app), "new key %" PRIu32 " (type 0x%04x, %u bits)", k->attrs.private_id,
                  k->attrs.private_type, k->attrs.private_bits);
        return PSA_SUCCESS;
}

static psa_status_t op_new_key(const struct req *r, bool import)
{
        struct secd_key *k = r->d->key;
        k->attrs = r->m->attrs;
        k->app = r->app;
        k->blob_len = 0;
        psa_status_t s = check_new_attrs(r, &k->attrs);
        if (s != PSA_SUCCESS)
                return s;
        /* PSA 1.1: permission to sign or verify a hash is permission to do so with a message. */
        if (k->attrs.private_usage & PSA_KEY_USAGE_SIGN_HASH)
                k->attrs.private_usage |= PSA_KEY_USAGE_SIGN_MESSAGE;
        if (k->attrs.private_usage & PSA_KEY_USAGE_VERIFY_HASH)
                k->attrs.private_usage |= PSA_KEY_USAGE_VERIFY_MESSAGE;
        s = import ? r->d->backend->import(k, r->m->input.p, r->m->input.len) : r->d->backend->generate(k);
        k->app = NULL; /* points into this request */
        return s == PSA_SUCCESS ? keep_key(r, k) : s;
}

static psa_status_t op_generate_key(const struct req *r)
{
        return op_new_key(r, false);
}

static psa_status_t op_import_key(const struct req *r)
{
        return op_new_key(r, true);
}

/* Output of an operation, at most what the caller can take (and a frame can hold). */
static size_t out_size(const struct req *r)
{
        return ALDER_PSA_MIN(r->m->out_size, SECD_WIRE_MAX_DATA);
}

static psa_status_t put_output(const struct req *r, psa_status_t s, size_t len)
{
        if (s == PSA_SUCCESS)
                secd_put_bytes(r->w, SECD_TAG_OUTPUT, r->d->scratch, len);
        return s;
}

static psa_status_t op_export(const struct req *r, bool public_only)
{
        psa_status_t s = get_key(r, r->m->key_id);
        if (s != PSA_SUCCESS)
                return s;
        const struct secd_key *k = r->d->key;
        size_t len = 0;
        if (public_only)
                s = r->d->backend->export_public(k, r->d->scratch, out_size(r), &len);
        else if (!(k->attrs.private_usage & PSA_KEY_USAGE_EXPORT) && !PSA_KEY_TYPE_IS_PUBLIC_KEY(k->attrs.private_type))
                s = PSA_ERROR_NOT_PERMITTED; /* a public key is exportable whatever its flags */
        else
                s = r->d->backend->export_key(k, r->d->scratch, out_size(r), &len);
        return put_output(r, s, len);
}

static psa_status_t op_export_key(const struct req *r)
{
        return op_export(r, false);
}

static psa_status_t op_export_public_key(const struct req *r)
{
        return op_export(r, true);
}

/*
 * The table entry goes first: a backend object without an entry is garbage a
 * later sweep can collect, an entry without its object would be a key that
 * fails every operation.
 */
static psa_status_t op_destroy_key(const struct req *r)
{
        psa_key_id_t id = r->m->key_id;
        psa_status_t s = get_key(r, id);
        if (s != PSA_SUCCESS)
                return s;
        if (is_volatile_id(id)) {
                struct secd_key **slot = &r->sess->volatile_keys[id - PSA_KEY_ID_VENDOR_MIN];
                explicit_bzero(*slot, sizeof(**slot));
                free(*slot);
                *slot = NULL;
        } else {
                _cleanup_error_ alder_error *err = NULL;
                forget_cached_key(r);
                s = store_status(r, secd_store_key_remove(&r->d->store, r->app, id, &err), err, "remove key");
                if (s != PSA_SUCCESS)
                        return s;
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", r->app), "destroyed key %" PRIu32, id);
        }
        if (r->d->backend->destroy(r->d->key) != PSA_SUCCESS)
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("APP", r->app),
                          "key %" PRIu32 ": the backend did not release its object", id);
        return PSA_SUCCESS;
}

static psa_status_t op_get_attributes(const struct req *r)
{
        psa_status_t s = get_key(r, r->m->key_id);
        if (s == PSA_SUCCESS)
                secd_put_attrs(r->w, &r->d->key->attrs);
        return s;
}

/* A key permits alg when it names it, or names its family with the any-hash wildcard. */
static bool alg_permitted(psa_algorithm_t key_alg, psa_algorithm_t alg)
{
        if (alg == key_alg)
                return true;
        return (key_alg & 0xff) == 0xff && (alg & 0xff) != 0 && (alg & 0xff) != 0xff &&
               (key_alg & ~0xffu) == (alg & ~0xffu);
}

/* Loads the key and checks it allows `usage` with `alg`. */
static psa_status_t get_key_for(const struct req *r, psa_key_usage_t usage, psa_algorithm_t alg)
{
        psa_status_t s = get_key(r, r->m->key_id);
        if (s != PSA_SUCCESS)
                return s;
        const psa_key_attributes_t *a = &r->d->key->attrs;
        if ((alg & 0xff) == 0xff)
                return PSA_ERROR_INVALID_ARGUMENT; /* a wildcard names a policy, not an operation */
        if (!(a->private_usage & usage) || !alg_permitted(a->private_alg, alg))
                return PSA_ERROR_NOT_PERMITTED;
        return PSA_SUCCESS;
}

static psa_status_t op_sign_hash(const struct req *r)
{
        psa_status_t s = get_key_for(r, PSA_KEY_USAGE_SIGN_HASH, r->m->alg);
        size_t len = 0;
        if (s == PSA_SUCCESS)
                s = r->d->backend->sign_hash(r->d->key, r->m->alg, r->m->input.p, r->m->input.len, r->d->scratch,
                                             out_size(r), &len);
        return put_output(r, s, len);
}

static psa_status_t op_verify_hash(const struct req *r)
{
        psa_status_t s = get_key_for(r, PSA_KEY_USAGE_VERIFY_HASH, r->m->alg);
        if (s != PSA_SUCCESS)
                return s;
        return r->d->backend->verify_hash(r->d->key, r->m->alg, r->m->input.p, r->m->input.len, r->m->signature.p,
                                          r->m->signature.len);
}

/* Hash-and-sign algorithms get the message's hash; the others (PureEdDSA) the message. */
static psa_status_t sign_message(const struct req *r, size_t *len)
{
        const struct secd_backend *b = r->d->backend;
        psa_algorithm_t alg = r->m->alg;
        if (!PSA_ALG_IS_HASH_AND_SIGN(alg))
                return b->sign_message ? b->sign_message(r->d->key, alg, r->m->input.p, r->m->input.len, r->d->scratch,
                                                         out_size(r), len)
                                       : PSA_ERROR_NOT_SUPPORTED;
        uint8_t hash[PSA_HASH_MAX_SIZE];
        size_t hash_len;
        psa_status_t s = PSA_ALG_SIGN_GET_HASH(alg) ? secd_hash(PSA_ALG_SIGN_GET_HASH(alg), r->m->input.p,
                                                                r->m->input.len, hash, sizeof(hash), &hash_len)
                                                    : PSA_ERROR_INVALID_ARGUMENT; /* ECDSA_ANY names no hash */
        return s == PSA_SUCCESS ? b->sign_hash(r->d->key, alg, hash, hash_len, r->d->scratch, out_size(r), len) : s;
}

static psa_status_t op_sign_message(const struct req *r)
{
        psa_status_t s = get_key_for(r, PSA_KEY_USAGE_SIGN_MESSAGE, r->m->alg);
        size_t len = 0;
        if (s == PSA_SUCCESS)
                s = sign_message(r, &len);
        return put_output(r, s, len);
}

static psa_status_t op_verify_message(const struct req *r)
{
        const struct secd_backend *b = r->d->backend;
        psa_algorithm_t alg = r->m->alg;
        psa_status_t s = get_key_for(r, PSA_KEY_USAGE_VERIFY_MESSAGE, alg);
        if (s != PSA_SUCCESS)
                return s;
        const struct secd_bytes *in = &r->m->input, *sig = &r->m->signature;
        if (!PSA_ALG_IS_HASH_AND_SIGN(alg))
                return b->verify_message ? b->verify_message(r->d->key, alg, in->p, in->len, sig->p, sig->len)
                                         : PSA_ERROR_NOT_SUPPORTED;
        if (!PSA_ALG_SIGN_GET_HASH(alg))
                return PSA_ERROR_INVALID_ARGUMENT;
        uint8_t hash[PSA_HASH_MAX_SIZE];
        size_t hash_len;
        s = secd_hash(PSA_ALG_SIGN_GET_HASH(alg), in->p, in->len, hash, sizeof(hash), &hash_len);
        return s == PSA_SUCCESS ? b->verify_hash(r->d->key, alg, hash, hash_len, sig->p, sig->len) : s;
}

/* The MAC of the input with the request's key into `out` (PSA_MAC_MAX_SIZE bytes). */
static psa_status_t compute_mac(const struct req *r, psa_key_usage_t usage, uint8_t *out, size_t size, size_t *len)
{
        psa_status_t s = get_key_for(r, usage, r->m->alg);
        if (s != PSA_SUCCESS)
                return s;
        if (!r->d->backend->mac)
                return PSA_ERROR_NOT_SUPPORTED;
        return r->d->backend->mac(r->d->key, r->m->alg, r->m->input.p, r->m->input.len, out, size, len);
}

static psa_status_t op_mac_compute(const struct req *r)
{
        size_t len = 0;
        psa_status_t s = compute_mac(r, PSA_KEY_USAGE_SIGN_MESSAGE, r->d->scratch, out_size(r), &len);
        return put_output(r, s, len);
}

static psa_status_t op_mac_verify(const struct req *r)
{
        uint8_t mac[PSA_MAC_MAX_SIZE];
        size_t len = 0;
        psa_status_t s = compute_mac(r, PSA_KEY_USAGE_VERIFY_MESSAGE, mac, sizeof(mac), &len);
        if (s == PSA_SUCCESS && (len != r->m->signature.len || CRYPTO_memcmp(mac, r->m->signature.p, len) != 0))
                s = PSA_ERROR_INVALID_SIGNATURE;
        explicit_bzero(mac, sizeof(mac));
        return s;
}

static psa_status_t op_raw_key_agreement(const struct req *r)
{
        psa_status_t s = get_key_for(r, PSA_KEY_USAGE_DERIVE, r->m->alg);
        size_t len = 0;
        if (s == PSA_SUCCESS)
                s = r->d->backend->key_agreement
                            ? r->d->backend->key_agreement(r->d->key, r->m->alg, r->m->input.p, r->m->input.len,
                                                           r->d->scratch, out_size(r), &len)
                            : PSA_ERROR_NOT_SUPPORTED;
        return put_output(r, s, len);
}

static psa_status_t op_aead(const struct req *r, bool encrypt)
{
        psa_status_t s = get_key_for(r, encrypt ? PSA_KEY_USAGE_ENCRYPT : PSA_KEY_USAGE_DECRYPT, r->m->alg);
        size_t len = 0;
        struct secd_aead_args a = {
                .alg = r->m->alg,
                .encrypt = encrypt,
                .nonce = r->m->nonce.p,
                .nonce_len = r->m->nonce.len,
                .aad = r->m->aad.p,
                .aad_len = r->m->aad.len,
                .in = r->m->input.p,
                .in_len = r->m->input.len,
        };
        if (s == PSA_SUCCESS)
                s = r->d->backend->aead(r->d->key, &a, r->d->scratch, out_size(r), &len);
        return put_output(r, s, len);
}

static psa_status_t op_aead_encrypt(const struct req *r)
{
        return op_aead(r, true);
}

static psa_status_t op_aead_decrypt(const struct req *r)
{
        return op_aead(r, false);
}

static psa_status_t op_hash_compute(const struct req *r)
{
        size_t len = 0;
        psa_status_t s = secd_hash(r->m->alg, r->m->input.p, r->m->input.len, r->d->scratch, out_size(r), &len);
        return put_output(r, s, len);
}

static psa_status_t op_generate_random(const struct req *r)
{
        if (r->m->out_size > SECD_WIRE_MAX_DATA)
                return PSA_ERROR_INVALID_ARGUMENT;
        psa_status_t (*random)(uint8_t *, size_t) = r->d->backend->random ? r->d->backend->random : secd_random;
        return put_output(r, random(r->d->scratch, r->m->out_size), r->m->out_size);
}

static psa_status_t op_ps_set(const struct req *r)
{
        if (r->m->uid == 0 || r->m->input.len > ALDER_PS_MAX_DATA_SIZE)
                return PSA_ERROR_INVALID_ARGUMENT;
        if (r->m->flags & ~KNOWN_PS_FLAGS)
                return PSA_ERROR_NOT_SUPPORTED;
        _cleanup_error_ alder_error *err = NULL;
        int rc = secd_store_ps_set(&r->d->store, r->app, r->m->uid, r->m->input.p, r->m->input.len, r->m->flags, &err);
        return store_status(r, rc, err, "store secret");
}

/* Loads secret uid into scratch. */
static psa_status_t load_secret(const struct req *r, size_t *len, psa_storage_create_flags_t *flags)
{
        if (r->m->uid == 0)
                return PSA_ERROR_INVALID_ARGUMENT;
        _cleanup_error_ alder_error *err = NULL;
        int rc = secd_store_ps_get(&r->d->store, r->app, r->m->uid, r->d->scratch, len, flags, &err);
        return store_status(r, rc, err, "load secret");
}

static psa_status_t op_ps_get(const struct req *r)
{
        size_t len;
        psa_storage_create_flags_t flags;
        psa_status_t s = load_secret(r, &len, &flags);
        if (s != PSA_SUCCESS)
                return s;
        if (r->m->offset > len)
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t n = ALDER_PSA_MIN(len - r->m->offset, out_size(r));
        secd_put_bytes(r->w, SECD_TAG_OUTPUT, r->d->scratch + r->m->offset, n);
        return PSA_SUCCESS;
}

static psa_status_t op_ps_get_info(const struct req *r)
{
        size_t len;
        psa_storage_create_flags_t flags;
        psa_status_t s = load_secret(r, &len, &flags);
        if (s == PSA_SUCCESS)
                secd_put_info(r->w, &(struct secd_info){(uint32_t) len, (uint32_t) len, flags});
        return s;
}

static psa_status_t op_ps_remove(const struct req *r)
{
        if (r->m->uid == 0)
                return PSA_ERROR_INVALID_ARGUMENT;
        _cleanup_error_ alder_error *err = NULL;
        return store_status(r, secd_store_ps_remove(&r->d->store, r->app, r->m->uid, &err), err, "remove secret");
}

static psa_status_t op_key_list(const struct req *r)
{
        _cleanup_free_ psa_key_attributes_t *list = calloc(MAX_LISTED, sizeof(*list));
        size_t n = 0;
        _cleanup_error_ alder_error *err = NULL;
        if (!list)
                return PSA_ERROR_INSUFFICIENT_MEMORY;
        psa_status_t s = store_status(r, secd_store_key_list(&r->d->store, r->app, list, MAX_LISTED, &n, &err), err,
                                      "list keys");
        for (size_t i = 0; s == PSA_SUCCESS && i < n; i++)
                secd_attrs_encode(&list[i], r->d->scratch + i * SECD_WIRE_ATTRS_SIZE);
        return put_output(r, s, n * SECD_WIRE_ATTRS_SIZE);
}

static psa_status_t op_ps_list(const struct req *r)
{
        _cleanup_free_ psa_storage_uid_t *list = calloc(MAX_LISTED, sizeof(*list));
        size_t n = 0;
        _cleanup_error_ alder_error *err = NULL;
        if (!list)
                return PSA_ERROR_INSUFFICIENT_MEMORY;
        psa_status_t s = store_status(r, secd_store_ps_list(&r->d->store, r->app, list, MAX_LISTED, &n, &err), err,
                                      "list secrets");
        for (size_t i = 0; s == PSA_SUCCESS && i < n; i++)
                for (int b = 0; b < 8; b++)
                        r->d->scratch[8 * i + (size_t) b] = (uint8_t) (list[i] >> (8 * b));
        return put_output(r, s, n * 8);
}

static psa_status_t op_app_add(const struct req *r)
{
        char cgroup[SECD_CGROUP_MAX + 1];
        const struct secd_bytes *cg = &r->m->cgroup;
        bool has_cgroup = r->m->present & SECD_BIT(SECD_TAG_CGROUP);
        if (has_cgroup) {
                memcpy(cgroup, cg->p, cg->len);
                cgroup[cg->len] = '\0';
                if (strlen(cgroup) != cg->len)
                        return PSA_ERROR_INVALID_ARGUMENT;
        }
        _cleanup_error_ alder_error *err = NULL;
        int rc = secd_app_add(r->d, r->app, has_cgroup ? cgroup : NULL, &err);
        if (rc < 0)
                alder_log_error(ALDER_LOG_WARNING, err, ALDER_LOG_FIELDS("APP", r->app), "add app");
        return rc == -E2BIG    ? PSA_ERROR_INSUFFICIENT_MEMORY
               : rc == -EINVAL ? PSA_ERROR_INVALID_ARGUMENT
                               : secd_status_from_errno(rc);
}

static psa_status_t op_app_remove(const struct req *r)
{
        if (r->m->flags & ~SECD_APP_REMOVE_PURGE)
                return PSA_ERROR_NOT_SUPPORTED;
        _cleanup_error_ alder_error *err = NULL;
        int rc = secd_app_remove(r->d, r->app, r->m->flags & SECD_APP_REMOVE_PURGE, &err);
        if (rc < 0)
                alder_log_error(ALDER_LOG_WARNING, err, ALDER_LOG_FIELDS("APP", r->app), "remove app");
        return secd_status_from_errno(rc);
}

typedef psa_status_t (*op_fn)(const struct req *r);

static const op_fn handlers[SECD_OP_MAX] = {
        [SECD_OP_GENERATE_KEY] = op_generate_key,
        [SECD_OP_IMPORT_KEY] = op_import_key,
        [SECD_OP_EXPORT_KEY] = op_export_key,
        [SECD_OP_EXPORT_PUBLIC_KEY] = op_export_public_key,
        [SECD_OP_DESTROY_KEY] = op_destroy_key,
        [SECD_OP_GET_ATTRIBUTES] = op_get_attributes,
        [SECD_OP_SIGN_HASH] = op_sign_hash,
        [SECD_OP_VERIFY_HASH] = op_verify_hash,
        [SECD_OP_AEAD_ENCRYPT] = op_aead_encrypt,
        [SECD_OP_AEAD_DECRYPT] = op_aead_decrypt,
        [SECD_OP_HASH_COMPUTE] = op_hash_compute,
        [SECD_OP_GENERATE_RANDOM] = op_generate_random,
        [SECD_OP_PS_SET] = op_ps_set,
        [SECD_OP_PS_GET] = op_ps_get,
        [SECD_OP_PS_GET_INFO] = op_ps_get_info,
        [SECD_OP_PS_REMOVE] = op_ps_remove,
        [SECD_OP_KEY_LIST] = op_key_list,
        [SECD_OP_PS_LIST] = op_ps_list,
        [SECD_OP_APP_ADD] = op_app_add,
        [SECD_OP_APP_REMOVE] = op_app_remove,
        [SECD_OP_SIGN_MESSAGE] = op_sign_message,
        [SECD_OP_VERIFY_MESSAGE] = op_verify_message,
        [SECD_OP_MAC_COMPUTE] = op_mac_compute,
        [SECD_OP_MAC_VERIFY] = op_mac_verify,
        [SECD_OP_RAW_KEY_AGREEMENT] = op_raw_key_agreement,
};

/* The app a request acts on: the session's, or on the admin socket the one it names. */
static psa_status_t request_app(const struct secd_session *sess, const struct secd_msg *m, char *buf)
{
        if (sess->app) {
                strcpy(buf, sess->app);
                return PSA_SUCCESS;
        }
        memcpy(buf, m->app.p, m->app.len);
        buf[m->app.len] = '\0';
        return strlen(buf) == m->app.len && secd_app_name_valid(buf) ? PSA_SUCCESS : PSA_ERROR_INVALID_ARGUMENT;
}

static psa_status_t handle_body(struct secd *d, struct secd_session *sess, const struct secd_header *h,
                                const uint8_t *body, struct secd_writer *w)
{
        struct secd_msg m;
        psa_status_t s = secd_body_decode(body, h->body_len, &m);
        if (s == PSA_SUCCESS && h->status != 0)
                s = PSA_ERROR_INVALID_ARGUMENT;
        if (s == PSA_SUCCESS)
                s = secd_request_check(h->opcode, &m, sess->app == NULL);
        char app[SECD_APP_NAME_MAX + 1];
        if (s == PSA_SUCCESS)
                s = request_app(sess, &m, app);
        if (s != PSA_SUCCESS)
                return s;
        struct req r = {.d = d, .sess = sess, .app = app, .m = &m, .w = w};
        if (!sess->app &&
            (h->opcode == SECD_OP_GENERATE_KEY || h->opcode == SECD_OP_IMPORT_KEY || h->opcode == SECD_OP_PS_SET)) {
                /* Provisioning an app that secd does not serve yet gives it its socket. */
                psa_status_t added = op_app_add(&r);
                if (added != PSA_SUCCESS)
                        return added;
        }
        alder_log_debug("app %s: %s", app, secd_op_name(h->opcode));
        return handlers[h->opcode](&r);
}

size_t secd_handle(struct secd *d, struct secd_session *sess, const uint8_t *frame, size_t len)
{
        struct secd_header h = {0};
        struct secd_writer w;
        psa_status_t s = secd_header_decode(frame, len, &h);
        if (s == PSA_SUCCESS && len != SECD_WIRE_HEADER_SIZE + h.body_len)
                s = PSA_ERROR_INVALID_ARGUMENT;
        secd_writer_start(&w, d->reply, SECD_WIRE_MAX_FRAME, h.opcode, 0);
        if (s == PSA_SUCCESS)
                s = handle_body(d, sess, &h, frame + SECD_WIRE_HEADER_SIZE, &w);
        size_t n = s == PSA_SUCCESS ? secd_writer_finish(&w) : 0;
        if (n == 0) {
                /* Errors carry no body; a reply that did not fit is a bug we report, not send. */
                secd_writer_start(&w, d->reply, SECD_WIRE_MAX_FRAME, h.opcode,
                                  s == PSA_SUCCESS ? PSA_ERROR_GENERIC_ERROR : s);
                n = secd_writer_finish(&w);
        }
        explicit_bzero(d->scratch, SECD_WIRE_MAX_DATA);
        explicit_bzero(d->key, sizeof(*d->key));
        return n;
}

void secd_session_clear(struct secd_session *sess)
{
        for (size_t i = 0; i < SECD_MAX_VOLATILE; i++) {
                if (sess->volatile_keys[i]) {
                        explicit_bzero(sess->volatile_keys[i], sizeof(*sess->volatile_keys[i]));
                        free(sess->volatile_keys[i]);
                        sess->volatile_keys[i] = NULL;
                }
        }
}
