/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "crypto.h"
#include "secd-wire.h"
#include "store.h"

#define SEAL_MAGIC    "ASL1"
#define SEAL_NONCE    12u
#define SEAL_OVERHEAD (4u + SEAL_NONCE + SECD_GCM_TAG_SIZE)
/* Largest plaintext of a sealed file: a secret with its flags, or a key with its attributes. */
#define SEAL_MAX_PLAIN                                                          \
        (4u + ALDER_PS_MAX_DATA_SIZE > SECD_WIRE_ATTRS_SIZE + SECD_KEY_BLOB_MAX \
                 ? 4u + ALDER_PS_MAX_DATA_SIZE                                  \
                 : SECD_WIRE_ATTRS_SIZE + SECD_KEY_BLOB_MAX)
#define KEY_NAME_LEN 8u
#define PS_NAME_LEN  16u

static void secret_freep(uint8_t **p)
{
        if (*p) {
                explicit_bzero(*p, SEAL_MAX_PLAIN);
                free(*p);
        }
}
#define _cleanup_secret_ __attribute__((cleanup(secret_freep)))

bool secd_app_name_valid(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > SECD_APP_NAME_MAX || strstr(name, ".."))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && strchr("._-", c));
                if (!ok)
                        return false;
        }
        return true;
}

static int load_device_key(struct secd_store *s, const char *path, alder_error **err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = alder_read_file(path, 4096, &buf, &len, err);
        if (r < 0)
                return r;
        if (len != SECD_DEVICE_KEY_SIZE) {
                explicit_bzero(buf, len);
                return alder_error_set(err, EINVAL, "%s: expected %u bytes, found %zu", path, SECD_DEVICE_KEY_SIZE,
                                       len);
        }
        memcpy(s->device_key, buf, len);
        explicit_bzero(buf, len);
        return 0;
}

static int make_device_key(struct secd_store *s, const char *dir, const char *path, alder_error **err)
{
        if (getrandom(s->device_key, sizeof(s->device_key), 0) != (ssize_t) sizeof(s->device_key))
                return alder_error_sys(err, errno, "getrandom for the device key");
        int r = alder_mkdir_p_durable(dir, 0700, err);
        if (r < 0)
                return r;
        return alder_write_file_atomic(path, s->device_key, sizeof(s->device_key), 0600, err);
}

static void recover(struct secd_store *s, const char *keydir);
#define SEALED_SUFFIX  ".sealed"
#define SEALED_KEY_MAX 4096u

static char *sealed_path(const char *key_path)
{
        char *p = NULL;
        return asprintf(&p, "%s" SEALED_SUFFIX, key_path) < 0 ? NULL : p;
}

int secd_store_open(struct secd_store *s, const char *root, alder_error **err)
{
        *s = (struct secd_store){0};
        _cleanup_free_ char *keydir = NULL, *keypath = NULL, *dir = NULL, *sealed = NULL;
        int r = alder_path_join(root, "config/secd", &keydir, err);
        if (r >= 0)
                r = alder_path_join(keydir, "device.key", &keypath, err);
        if (r >= 0)
                r = alder_path_join(root, "var/lib/alder/secd", &dir, err);
        if (r < 0)
                return r;
        if (!(sealed = sealed_path(keypath)))
                return alder_error_set(err, ENOMEM, "out of memory");
        s->key_sealed = access(sealed, F_OK) == 0;
        r = s->key_sealed ? 0 : load_device_key(s, keypath, err);
        if (r == -ENOENT) {
                alder_error_clear(err);
                r = make_device_key(s, keydir, keypath, err);
        }
        if (r < 0)
                return alder_error_wrap(err, "device key");
        r = alder_mkdir_p_durable(dir, 0700, err);
        if (r < 0)
                return r;
        s->dir = steal_pointer(&dir);
        recover(s, keydir);
        s->key_path = steal_pointer(&keypath);
        return 0;
}

static int unseal_device_key(struct secd_store *s, const struct secd_backend *b, const char *sealed, alder_error **err)
{
        _cleanup_free_ char *blob = NULL;
        size_t len, key_len = 0;
        int r = alder_read_file(sealed, SEALED_KEY_MAX, &blob, &len, err);
        if (r >= 0)
                r = b->unseal((const uint8_t *) blob, len, s->device_key, sizeof(s->device_key), &key_len, err);
        if (r >= 0 && key_len != SECD_DEVICE_KEY_SIZE)
                r = alder_error_set(err, EBADMSG, "%s: unsealed %zu bytes, expected %u", sealed, key_len,
                                    SECD_DEVICE_KEY_SIZE);
        if (r < 0)
                return alder_error_wrap(err, "unseal device key '%s'", sealed);
        s->key_sealed = false;
        /* A plain key left by a power cut between sealing and its removal. */
        if (unlink(s->key_path) == 0)
                return alder_fsync_parent_dir(s->key_path, err);
        return 0;
}

int secd_store_device_key(struct secd_store *s, const struct secd_backend *b, alder_error **err)
{
        _cleanup_free_ char *sealed = sealed_path(s->key_path);
        if (!sealed)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (!b->seal)
                return s->key_sealed ? alder_error_set(err, EPERM,
                                                       "%s: the device key is sealed to a TPM, which backend '%s' "
                                                       "cannot unseal (configure backend 'tpm')",
                                                       sealed, b->name)
                                     : 0;
        if (s->key_sealed)
                return unseal_device_key(s, b, sealed, err);
        uint8_t blob[SEALED_KEY_MAX];
        size_t len = 0;
        int r = b->seal(s->device_key, sizeof(s->device_key), blob, sizeof(blob), &len, err);
        if (r >= 0)
                r = alder_write_file_atomic(sealed, blob, len, 0600, err);
        if (r < 0)
                return alder_error_wrap(err, "seal device key into '%s'", sealed);
        if (unlink(s->key_path) < 0)
                return alder_error_sys(err, errno, "remove plain device key '%s'", s->key_path);
        return alder_fsync_parent_dir(s->key_path, err);
}

void secd_store_close(struct secd_store *s)
{
        explicit_bzero(s->device_key, sizeof(s->device_key));
        free(s->dir);
        free(s->key_path);
        s->dir = s->key_path = NULL;
}

/* dir/APP[/sub[/name]] */
static char *store_path(const struct secd_store *s, const char *app, const char *sub, const char *name)
{
        char *p = NULL;
        if (asprintf(&p, "%s/%s%s%s%s%s", s->dir, app, sub ? "/" : "", sub ? sub : "", name ? "/" : "",
                     name ? name : "") < 0)
                return NULL;
        return p;
}

int secd_store_add_app(struct secd_store *s, const char *app, alder_error **err)
{
        if (!secd_app_name_valid(app))
                return alder_error_set(err, EINVAL, "'%s' is not a valid app name", app);
        static const char *const subs[] = {"keys", "ps"};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(subs); i++) {
                _cleanup_free_ char *p = store_path(s, app, subs[i], NULL);
                if (!p)
                        return alder_error_set(err, ENOMEM, "out of memory");
                int r = alder_mkdir_p_durable(p, 0700, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool secd_store_has_app(const struct secd_store *s, const char *app)
{
        _cleanup_free_ char *p = secd_app_name_valid(app) ? store_path(s, app, NULL, NULL) : NULL;
        struct stat st;
        return p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

#define REMOVED_PREFIX ".removed-"

/* What a removal cut short by a power cut left; what fails now is tried again at the next start. */
static void remove_leftover(const char *path)
{
        _cleanup_error_ alder_error *e = NULL;
        if (alder_remove_tree(path, &e) < 0)
                alder_error_clear(&e);
}

/*
 * Renames the app's folder out of the way (atomic, made durable), then
 * deletes it: after a power cut the app has all its keys or none, and what is
 * left of a removal is swept at the next start.
 */
int secd_store_remove_app(struct secd_store *s, const char *app, alder_error **err)
{
        if (!secd_app_name_valid(app))
                return alder_error_set(err, EINVAL, "'%s' is not a valid app name", app);
        _cleanup_free_ char *dir = store_path(s, app, NULL, NULL), *gone = NULL;
        if (!dir || asprintf(&gone, "%s/" REMOVED_PREFIX "%s", s->dir, app) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        remove_leftover(gone); /* of a removal cut short, not swept yet */
        if (rename(dir, gone) < 0)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "rename '%s'", dir);
        int r = alder_fsync_parent_dir(gone, err);
        return r < 0 ? r : alder_remove_tree(gone, err);
}

void secd_remove_temps(const char *dir)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
                if (alder_is_temp_name(e->d_name))
                        (void) unlinkat(dirfd(d), e->d_name, 0);
}

/*
 * What a crash left: temp files of atomic writes (of the device key, of keys
 * and secrets) and the folders of app removals cut short. Best effort: what
 * fails to go now goes at the next start, and nothing reads these names.
 */
static void recover(struct secd_store *s, const char *keydir)
{
        secd_remove_temps(keydir);
        _cleanup_closedir_ DIR *d = opendir(s->dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
                bool removed = strncmp(e->d_name, REMOVED_PREFIX, strlen(REMOVED_PREFIX)) == 0;
                if (removed) {
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s", s->dir, e->d_name) >= 0)
                                remove_leftover(p);
                        continue;
                }
                static const char *const subs[] = {"keys", "ps"};
                for (size_t i = 0; secd_app_name_valid(e->d_name) && i < ALDER_ARRAY_SIZE(subs); i++) {
                        _cleanup_free_ char *p = store_path(s, e->d_name, subs[i], NULL);
                        if (p)
                                secd_remove_temps(p);
                }
        }
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int secd_store_list_apps(struct secd_store *s, size_t max, char ***ret, alder_error **err)
{
        _cleanup_closedir_ DIR *d = opendir(s->dir);
        if (!d)
                return alder_error_sys(err, errno, "open '%s'", s->dir);
        _cleanup_strv_ char **v = calloc(max + 1, sizeof(char *));
        if (!v)
                return alder_error_set(err, ENOMEM, "out of memory");
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_type != DT_DIR || !secd_app_name_valid(e->d_name))
                        continue;
                if (n == max)
                        return alder_error_set(err, E2BIG, "%s: more than %zu apps", s->dir, max);
                if (!(v[n++] = strdup(e->d_name)))
                        return alder_error_set(err, ENOMEM, "out of memory");
        }
        qsort(v, n, sizeof(char *), cmp_str);
        *ret = steal_pointer(&v);
        return 0;
}

/* The associated data that binds a sealed file to its app and name. */
static size_t seal_aad(const char *app, const char *sub, const char *name, uint8_t *out, size_t size)
{
        int n = snprintf((char *) out, size, "alder-secd%c%s%c%s/%s", 0, app, 0, sub, name);
        return n > 0 && (size_t) n < size ? (size_t) n : 0;
}

static int seal_write(struct secd_store *s, const char *app, const char *sub, const char *name, const uint8_t *plain,
                      size_t len, alder_error **err)
{
        _cleanup_free_ char *path = store_path(s, app, sub, name);
        _cleanup_free_ uint8_t *file = malloc(SEAL_OVERHEAD + len);
        uint8_t aad[160];
        size_t aad_len = seal_aad(app, sub, name, aad, sizeof(aad)), out_len;
        if (!path || !file || !aad_len)
                return alder_error_set(err, ENOMEM, "out of memory");
        memcpy(file, SEAL_MAGIC, 4);
        if (secd_random(file + 4, SEAL_NONCE) != PSA_SUCCESS ||
            secd_gcm(true, s->device_key, sizeof(s->device_key), file + 4, SEAL_NONCE, aad, aad_len, plain, len,
                     file + 4 + SEAL_NONCE, len + SECD_GCM_TAG_SIZE, &out_len) != PSA_SUCCESS)
                return alder_error_set(err, EIO, "%s: sealing failed", path);
        int r = secd_store_add_app(s, app, err);
        if (r < 0)
                return r;
        return alder_write_file_atomic(path, file, SEAL_OVERHEAD + len, 0600, err);
}

/* Opens a sealed file into plain (SEAL_MAX_PLAIN bytes). ENOENT when absent, EBADMSG when it does not open. */
static int seal_read(struct secd_store *s, const char *app, const char *sub, const char *name, uint8_t *plain,
                     size_t *ret_len, alder_error **err)
{
        _cleanup_free_ char *path = store_path(s, app, sub, name);
        uint8_t aad[160];
        size_t aad_len = seal_aad(app, sub, name, aad, sizeof(aad));
        if (!path || !aad_len)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_free_ char *file = NULL;
        size_t len;
        int r = alder_read_file(path, SEAL_OVERHEAD + SEAL_MAX_PLAIN, &file, &len, err);
        if (r < 0)
                return r;
        const uint8_t *f = (const uint8_t *) file;
        if (len < SEAL_OVERHEAD || memcmp(f, SEAL_MAGIC, 4) != 0)
                return alder_error_set(err, EBADMSG, "%s: not a sealed secd file", path);
        if (secd_gcm(false, s->device_key, sizeof(s->device_key), f + 4, SEAL_NONCE, aad, aad_len, f + 4 + SEAL_NONCE,
                     len - 4 - SEAL_NONCE, plain, SEAL_MAX_PLAIN, ret_len) != PSA_SUCCESS)
                return alder_error_set(err, EBADMSG, "%s: does not open with the device key (corrupt or moved)", path);
        return 0;
}

static void key_name(psa_key_id_t id, char out[KEY_NAME_LEN + 1])
{
        snprintf(out, KEY_NAME_LEN + 1, "%08" PRIx32, id);
}

static void ps_name(psa_storage_uid_t uid, char out[PS_NAME_LEN + 1])
{
        snprintf(out, PS_NAME_LEN + 1, "%016" PRIx64, uid);
}

int secd_store_key_load(struct secd_store *s, const char *app, psa_key_id_t id, struct secd_key *k, alder_error **err)
{
        char name[KEY_NAME_LEN + 1];
        key_name(id, name);
        _cleanup_secret_ uint8_t *plain = malloc(SEAL_MAX_PLAIN);
        size_t len;
        if (!plain)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = seal_read(s, app, "keys", name, plain, &len, err);
        if (r < 0)
                return r;
        if (len < SECD_WIRE_ATTRS_SIZE || len - SECD_WIRE_ATTRS_SIZE > SECD_KEY_BLOB_MAX)
                return alder_error_set(err, EBADMSG, "key %s of app %s: bad size %zu", name, app, len);
        secd_attrs_decode(plain, &k->attrs);
        if (k->attrs.private_id != id)
                return alder_error_set(err, EBADMSG, "key %s of app %s: holds key id %" PRIu32, name, app,
                                       k->attrs.private_id);
        k->blob_len = len - SECD_WIRE_ATTRS_SIZE;
        memcpy(k->blob, plain + SECD_WIRE_ATTRS_SIZE, k->blob_len);
        return 0;
}

/* Number of entries of dir/APP/sub that are ours (bounded by `limit + 1`). */
static size_t count_entries(struct secd_store *s, const char *app, const char *sub, size_t name_len, size_t limit)
{
        _cleanup_free_ char *path = store_path(s, app, sub, NULL);
        _cleanup_closedir_ DIR *d = path ? opendir(path) : NULL;
        size_t n = 0;
        struct dirent *e;
        while (d && n <= limit && (e = readdir(d)))
                if (strlen(e->d_name) == name_len && e->d_name[0] != '.')
                        n++;
        return n;
}

int secd_store_key_create(struct secd_store *s, const char *app, const struct secd_key *k, alder_error **err)
{
        char name[KEY_NAME_LEN + 1];
        key_name(k->attrs.private_id, name);
        _cleanup_free_ char *path = store_path(s, app, "keys", name);
        struct stat st;
        if (!path)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (lstat(path, &st) == 0)
                return alder_error_set(err, EEXIST, "app %s already has a key %" PRIu32, app, k->attrs.private_id);
        if (count_entries(s, app, "keys", KEY_NAME_LEN, SECD_MAX_KEYS_PER_APP) >= SECD_MAX_KEYS_PER_APP)
                return alder_error_set(err, ENOSPC, "app %s has %u keys, the most it may", app, SECD_MAX_KEYS_PER_APP);
        _cleanup_secret_ uint8_t *plain = malloc(SEAL_MAX_PLAIN);
        if (!plain)
                return alder_error_set(err, ENOMEM, "out of memory");
        secd_attrs_encode(&k->attrs, plain);
        memcpy(plain + SECD_WIRE_ATTRS_SIZE, k->blob, k->blob_len);
        return seal_write(s, app, "keys", name, plain, SECD_WIRE_ATTRS_SIZE + k->blob_len, err);
}

static int remove_entry(struct secd_store *s, const char *app, const char *sub, const char *name, alder_error **err)
{
        _cleanup_free_ char *path = store_path(s, app, sub, name);
        if (!path)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (unlink(path) < 0)
                return alder_error_sys(err, errno, "remove '%s'", path);
        return alder_fsync_parent_dir(path, err);
}

int secd_store_key_remove(struct secd_store *s, const char *app, psa_key_id_t id, alder_error **err)
{
        char name[KEY_NAME_LEN + 1];
        key_name(id, name);
        return remove_entry(s, app, "keys", name, err);
}

/* The ids (parsed from the file names) of dir/APP/sub, sorted. */
static int list_ids(struct secd_store *s, const char *app, const char *sub, size_t name_len, uint64_t *out, size_t max,
                    size_t *ret_n, alder_error **err)
{
        _cleanup_free_ char *path = store_path(s, app, sub, NULL);
        if (!path)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_closedir_ DIR *d = opendir(path);
        if (!d && errno == ENOENT) {
                *ret_n = 0;
                return 0;
        }
        if (!d)
                return alder_error_sys(err, errno, "open '%s'", path);
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                char *end;
                if (strlen(e->d_name) != name_len || !strchr("0123456789abcdef", e->d_name[0]))
                        continue; /* ".", "..", temp files of interrupted writes */
                uint64_t v = strtoull(e->d_name, &end, 16);
                if (*end)
                        continue;
                if (n == max)
                        return alder_error_set(err, E2BIG, "%s: more than %zu entries", path, max);
                out[n++] = v;
        }
        for (size_t i = 1; i < n; i++) /* insertion sort: n is bounded and small */
                for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
                        uint64_t t = out[j];
                        out[j] = out[j - 1];
                        out[j - 1] = t;
                }
        *ret_n = n;
        return 0;
}

int secd_store_key_list(struct secd_store *s, const char *app, psa_key_attributes_t *out, size_t max, size_t *ret_n,
                        alder_error **err)
{
        _cleanup_free_ uint64_t *ids = calloc(max ? max : 1, sizeof(uint64_t));
        _cleanup_free_ struct secd_key *k = malloc(sizeof(*k));
        size_t n;
        if (!ids || !k)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = list_ids(s, app, "keys", KEY_NAME_LEN, ids, max, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = secd_store_key_load(s, app, (psa_key_id_t) ids[i], k, err);
                explicit_bzero(k->blob, sizeof(k->blob));
                if (r < 0)
                        return r;
                out[i] = k->attrs;
        }
        *ret_n = n;
        return 0;
}

int secd_store_ps_get(struct secd_store *s, const char *app, psa_storage_uid_t uid, uint8_t *data, size_t *ret_len,
                      psa_storage_create_flags_t *ret_flags, alder_error **err)
{
        char name[PS_NAME_LEN + 1];
        ps_name(uid, name);
        _cleanup_secret_ uint8_t *plain = malloc(SEAL_MAX_PLAIN);
        size_t len;
        if (!plain)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = seal_read(s, app, "ps", name, plain, &len, err);
        if (r < 0)
                return r;
        if (len < 4 || len - 4 > ALDER_PS_MAX_DATA_SIZE)
                return alder_error_set(err, EBADMSG, "secret %s of app %s: bad size %zu", name, app, len);
        *ret_flags =
                (uint32_t) plain[0] | (uint32_t) plain[1] << 8 | (uint32_t) plain[2] << 16 | (uint32_t) plain[3] << 24;
        memcpy(data, plain + 4, len - 4);
        *ret_len = len - 4;
        return 0;
}

int secd_store_ps_set(struct secd_store *s, const char *app, psa_storage_uid_t uid, const uint8_t *data, size_t len,
                      psa_storage_create_flags_t flags, alder_error **err)
{
        char name[PS_NAME_LEN + 1];
        ps_name(uid, name);
        if (len > ALDER_PS_MAX_DATA_SIZE)
                return alder_error_set(err, EINVAL, "secret of %zu bytes: at most %u", len, ALDER_PS_MAX_DATA_SIZE);
        _cleanup_secret_ uint8_t *plain = malloc(SEAL_MAX_PLAIN);
        if (!plain)
                return alder_error_set(err, ENOMEM, "out of memory");
        size_t old_len;
        psa_storage_create_flags_t old_flags;
        int r = secd_store_ps_get(s, app, uid, plain, &old_len, &old_flags, err);
        if (r == 0 && (old_flags & PSA_STORAGE_FLAG_WRITE_ONCE))
                return alder_error_set(err, EPERM, "secret %s of app %s is write-once", name, app);
        if (r == -ENOENT &&
            count_entries(s, app, "ps", PS_NAME_LEN, SECD_MAX_SECRETS_PER_APP) >= SECD_MAX_SECRETS_PER_APP)
                return alder_error_set(err, ENOSPC, "app %s has %u secrets, the most it may", app,
                                       SECD_MAX_SECRETS_PER_APP);
        if (r < 0 && r != -ENOENT)
                return r; /* a corrupt old secret might have been write-once: do not overwrite */
        alder_error_clear(err);
        for (int i = 0; i < 4; i++)
                plain[i] = (uint8_t) (flags >> (8 * i));
        if (len)
                memcpy(plain + 4, data, len);
        return seal_write(s, app, "ps", name, plain, 4 + len, err);
}

int secd_store_ps_remove(struct secd_store *s, const char *app, psa_storage_uid_t uid, alder_error **err)
{
        char name[PS_NAME_LEN + 1];
        ps_name(uid, name);
        _cleanup_secret_ uint8_t *plain = malloc(SEAL_MAX_PLAIN);
        size_t len;
        psa_storage_create_flags_t flags;
        if (!plain)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = secd_store_ps_get(s, app, uid, plain, &len, &flags, err);
        if (r < 0)
                return r;
        if (flags & PSA_STORAGE_FLAG_WRITE_ONCE)
                return alder_error_set(err, EPERM, "secret %s of app %s is write-once", name, app);
        return remove_entry(s, app, "ps", name, err);
}

int secd_store_ps_list(struct secd_store *s, const char *app, psa_storage_uid_t *out, size_t max, size_t *ret_n,
                       alder_error **err)
{
        return list_ids(s, app, "ps", PS_NAME_LEN, out, max, ret_n, err);
}

psa_status_t secd_status_from_errno(int r)
{
        switch (r < 0 ? -r : r) {
        case 0:
                return PSA_SUCCESS;
        case ENOENT:
                return PSA_ERROR_DOES_NOT_EXIST;
        case EEXIST:
                return PSA_ERROR_ALREADY_EXISTS;
        case EPERM:
                return PSA_ERROR_NOT_PERMITTED;
        case EBADMSG:
                return PSA_ERROR_DATA_CORRUPT;
        case ENOSPC:
        case EDQUOT:
                return PSA_ERROR_INSUFFICIENT_STORAGE;
        case EINVAL:
                return PSA_ERROR_INVALID_ARGUMENT;
        case ENOMEM:
                return PSA_ERROR_INSUFFICIENT_MEMORY;
        default:
                return PSA_ERROR_STORAGE_FAILURE;
        }
}
