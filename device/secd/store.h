/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd's store: each app's persistent keys and protected-storage
 * secrets, one file each under ROOT/var/lib/alder/secd/APP/{keys,ps}/, sealed
 * with AES-256-GCM under the device key (ROOT/config/secd/device.key, made on
 * first start). The sealing binds each file to its app and name, so a file
 * copied into another app's folder or renamed does not open. Every write is
 * alder_write_file_atomic(): after a power cut a key or secret is there whole
 * or not at all.
 *
 * Functions return 0 or a negative errno: ENOENT (no such key/secret), EEXIST,
 * EPERM (write-once secret), EBADMSG (a file that does not open: corrupt or
 * moved), ENOSPC (per-app limit), EINVAL; secd_status_from_errno() maps them.
 */
#pragma once
#include <stdint.h>

#include "alder/error.h"
#include "backend.h"
#include "psa/protected_storage.h"

#define SECD_DEVICE_KEY_SIZE     32u
#define SECD_MAX_KEYS_PER_APP    1024u
#define SECD_MAX_SECRETS_PER_APP 1024u

struct secd_store {
        char *dir;       /* ROOT/var/lib/alder/secd */
        char *key_path;  /* ROOT/config/secd/device.key */
        bool key_sealed; /* the device key is ROOT/config/secd/device.key.sealed, not opened yet */
        uint8_t device_key[SECD_DEVICE_KEY_SIZE];
};

/*
 * Opens the store below root ("" or "/" for the device), making the device key
 * on first start. When the device key is sealed (device.key.sealed, see
 * secd_store_device_key()), it is not loaded here.
 */
int secd_store_open(struct secd_store *s, const char *root, alder_error **err) ALDER_WUR;

/*
 * Puts the device key under the backend's sealing (a TPM): a sealed key is
 * unsealed; a plain one is sealed into device.key.sealed (atomically), then
 * the plain file removed, so a power cut leaves one of the two usable. A
 * backend that cannot seal keeps the plain file, and refuses a sealed one.
 */
int secd_store_device_key(struct secd_store *s, const struct secd_backend *b, alder_error **err) ALDER_WUR;
void secd_store_close(struct secd_store *s);

/* True for a name usable as an app id: [a-z0-9][a-z0-9._-]{0,63}, without "..". */
bool secd_app_name_valid(const char *name);

/* Removes the temp files of atomic writes a crash cut short (alder_is_temp_name) from dir. */
void secd_remove_temps(const char *dir);

/* True when the app has a folder in the store. */
bool secd_store_has_app(const struct secd_store *s, const char *app);

/* Creates the app's folders (idempotent), durably. */
int secd_store_add_app(struct secd_store *s, const char *app, alder_error **err) ALDER_WUR;

/* Deletes the app's keys and secrets with its folder (nothing there is no error). */
int secd_store_remove_app(struct secd_store *s, const char *app, alder_error **err) ALDER_WUR;

/*
 * Lists the apps that have a folder in the store into a NULL-terminated
 * vector (at most max names; more is E2BIG).
 */
int secd_store_list_apps(struct secd_store *s, size_t max, char ***ret, alder_error **err) ALDER_WUR;

int secd_store_key_load(struct secd_store *s, const char *app, psa_key_id_t id, struct secd_key *k,
                        alder_error **err) ALDER_WUR;
/* Saves a new key (k->attrs.private_id); EEXIST when the id is taken. */
int secd_store_key_create(struct secd_store *s, const char *app, const struct secd_key *k, alder_error **err) ALDER_WUR;
int secd_store_key_remove(struct secd_store *s, const char *app, psa_key_id_t id, alder_error **err) ALDER_WUR;
/* Attributes of up to max keys of the app, sorted by id; *ret_n is how many. */
int secd_store_key_list(struct secd_store *s, const char *app, psa_key_attributes_t *out, size_t max, size_t *ret_n,
                        alder_error **err) ALDER_WUR;

/* Stores a secret; EPERM when a write-once secret exists under uid. */
int secd_store_ps_set(struct secd_store *s, const char *app, psa_storage_uid_t uid, const uint8_t *data, size_t len,
                      psa_storage_create_flags_t flags, alder_error **err) ALDER_WUR;
/*
 * Loads a secret into data (ALDER_PS_MAX_DATA_SIZE bytes); the caller
 * explicit_bzero()s it.
 */
int secd_store_ps_get(struct secd_store *s, const char *app, psa_storage_uid_t uid, uint8_t *data, size_t *ret_len,
                      psa_storage_create_flags_t *ret_flags, alder_error **err) ALDER_WUR;
int secd_store_ps_remove(struct secd_store *s, const char *app, psa_storage_uid_t uid, alder_error **err) ALDER_WUR;
int secd_store_ps_list(struct secd_store *s, const char *app, psa_storage_uid_t *out, size_t max, size_t *ret_n,
                       alder_error **err) ALDER_WUR;

/* The PSA status for a store errno (STORAGE_FAILURE for anything unexpected). */
psa_status_t secd_status_from_errno(int r);
