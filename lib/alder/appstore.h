/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The app store on the data partition: verified, unpacked app versions and
 * an atomic "current" pointer per app (the package side of alder-appd).
 *
 *   STORE/
 *     .staging/XXXXXX/         an install in progress (removed when the store opens)
 *     .trash/XXXXXX/           an app being removed (finished when the store opens)
 *     ids.json                 the user-namespace id range of each app ever installed
 *     .ids.lock                flock'ed while an id range is allocated (by any process)
 *     NAME/
 *       versions/SEQ-VERSION/  rootfs/ (read-only for the app, owned by its id range), app.json, package.json
 *       current  -> versions/SEQ-VERSION
 *       previous -> versions/SEQ-VERSION   (what a rollback returns to)
 *       data/                  the app's volumes, kept across versions
 *
 * Every step is crash-safe: a version directory becomes visible by one
 * rename of a fully written and fsynced tree, and the pointers change by
 * atomic symlink swaps. Opening the store after a power cut or a kill -9 at
 * any instant finds the old version or the new one, never half of one, and
 * clears what a crashed install left behind (alder_appstore_open()).
 *
 * Running and health-checking apps is not this module's business: the daemon
 * stages a version, starts it, and commits or discards it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "alpkg.h"
#include "error.h"
#include "macro.h"

typedef struct alder_appstore alder_appstore;

/* Opens (creating if needed) the store at `root` and recovers it; see above. */
int alder_appstore_open(const char *root, alder_appstore **ret, alder_error **err) ALDER_WUR;

/*
 * Same, with flags. ALDER_APPSTORE_NO_RECOVERY opens without clearing what a
 * crash left: for alder-app-stage, which stages while the daemon has the
 * store open (recovery is the daemon's job; run by the worker it would
 * remove the daemon's own staged version or an install in progress).
 */
#define ALDER_APPSTORE_NO_RECOVERY (1u << 0)
int alder_appstore_open_flags(const char *root, unsigned flags, alder_appstore **ret, alder_error **err) ALDER_WUR;

/* The store's directory: `root` of alder_appstore_open() made absolute, symlinks resolved. */
const char *alder_appstore_root(const alder_appstore *store);
void alder_appstore_close(alder_appstore *store);
static inline void alder_appstore_closep(alder_appstore **s)
{
        alder_appstore_close(*s);
}
#define _cleanup_appstore_ _cleanup_(alder_appstore_closep)

/* A version unpacked into the store but not current yet. */
typedef struct alder_appstore_staged {
        char name[ALDER_APP_NAME_MAX + 1];
        char version[128];
        uint64_t sequence;
        char *dir; /* STORE/NAME/versions/SEQ-VERSION */
} alder_appstore_staged;

void alder_appstore_staged_clear(alder_appstore_staged *s);

/*
 * {"name", "version", "sequence", "dir"}: what alder-app-stage reports to the
 * daemon. *ret is a new reference.
 */
int alder_appstore_staged_to_json(const alder_appstore_staged *s, json_t **ret, alder_error **err) ALDER_WUR;

/*
 * Parses that object strictly (it comes from another process): no other
 * keys, a valid app name and semantic version, sequence > 0, and a dir that is
 * exactly ROOT/NAME/versions/SEQUENCE-VERSION of this store and is a
 * directory. Errors name `source` and the field. Free with
 * alder_appstore_staged_clear().
 */
int alder_appstore_staged_from_json(alder_appstore *store, const json_t *obj, const char *source,
                                    alder_appstore_staged *ret, alder_error **err) ALDER_WUR;

/*
 * Verifies a package (against `trust` and `expect`), refuses a sequence
 * number not above the current version's (anti-rollback; -EALREADY for the
 * same one), checks free space, and unpacks it beside the current version.
 * Nothing changes for the running version; on failure nothing is left.
 *
 * This is the one function of the store that needs the package reader
 * (OpenSSL, libcbor, libarchive, libzstd); it lives in appstore-stage.c so that
 * a program not calling it links none of them (alder-appd runs it in the
 * alder-app-stage worker).
 */
int alder_appstore_stage(alder_appstore *store, const char *package, const alder_trust_store *trust,
                         const alder_alpkg_expect *expect, alder_appstore_staged *ret, alder_error **err) ALDER_WUR;

/* Makes a staged version current (the old current becomes previous). */
int alder_appstore_commit(alder_appstore *store, const alder_appstore_staged *staged, alder_error **err) ALDER_WUR;

/* Removes a staged version that will not become current. */
int alder_appstore_discard(alder_appstore *store, alder_appstore_staged *staged, alder_error **err) ALDER_WUR;

/* Points current back at previous (-ENOENT when there is none). */
int alder_appstore_rollback(alder_appstore *store, const char *name, alder_error **err) ALDER_WUR;

/* Removes an app (atomically: it is gone or still whole); its data too unless keep_data. */
int alder_appstore_remove(alder_appstore *store, const char *name, bool keep_data, alder_error **err) ALDER_WUR;

/*
 * The installed apps: [{"name", "version", "sequence", "dir", "previous": {...}|null}], sorted by
 * name. *ret is a new reference.
 */
int alder_appstore_list(alder_appstore *store, json_t **ret, alder_error **err) ALDER_WUR;

/*
 * Each app gets its own range of host ids for its user namespace: container
 * ids 0..ALDER_APPSTORE_ID_COUNT-1 map to start.. (start = ALDER_APPSTORE_ID_BASE
 * + n * ALDER_APPSTORE_ID_COUNT for the n-th app ever installed). Ranges are
 * never reused, so an app's files can never be owned by another app's ids.
 * Its root filesystem is unpacked owned by the range (when appd runs as root).
 *
 * alder_appstore_id_range() reads ids.json on every call (the store caches
 * nothing), so the daemon sees a range alder-app-stage allocated a moment ago.
 */
#define ALDER_APPSTORE_ID_BASE  100000u
#define ALDER_APPSTORE_ID_COUNT 65536u
int alder_appstore_id_range(alder_appstore *store, const char *name, uint32_t *ret_start, alder_error **err) ALDER_WUR;

/* One app's entry of alder_appstore_list(); -ENOENT when it is not installed. */
int alder_appstore_status(alder_appstore *store, const char *name, json_t **ret, alder_error **err) ALDER_WUR;

/* Directory of the current version of `name` (malloc'ed); -ENOENT when not installed. */
int alder_appstore_current(alder_appstore *store, const char *name, char **ret, alder_error **err) ALDER_WUR;
