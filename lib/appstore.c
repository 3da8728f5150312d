/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "alder/appstore.h"
#include "alder/fileio.h"
#include "alder/json.h"

/* Uncompressed size is unknown before unpacking: ask for this many times the compressed size. */
#define SPACE_FACTOR 4
#define SPACE_MARGIN (8u << 20)

struct alder_appstore {
        char *root;
};

static int path_of(char **ret, alder_error **err, const char *fmt, ...) ALDER_PRINTF(3, 4);
static int path_of(char **ret, alder_error **err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(ret, fmt, ap);
        va_end(ap);
        return n < 0 ? alder_error_set(err, ENOMEM, "app store: out of memory") : 0;
}

static int remove_quietly(const char *path, alder_error **err)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "stat '%s'", path);
        return alder_remove_tree(path, err);
}

/* Target of a pointer link (e.g. "versions/7-1.0.0"), or NULL when there is none. */
static int read_pointer(const char *app_dir, const char *link, char **ret, alder_error **err)
{
        _cleanup_free_ char *p = NULL;
        int r = path_of(&p, err, "%s/%s", app_dir, link);
        if (r < 0)
                return r;
        char buf[512];
        ssize_t n = readlink(p, buf, sizeof(buf) - 1);
        if (n < 0) {
                *ret = NULL;
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "read link '%s'", p);
        }
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "app store: out of memory");
}

/* Removes a pointer link durably. */
static int unlink_pointer(const char *app_dir, const char *link, alder_error **err)
{
        _cleanup_free_ char *p = NULL;
        int r = path_of(&p, err, "%s/%s", app_dir, link);
        if (r == 0 && unlink(p) < 0)
                r = alder_error_sys(err, errno, "remove '%s'", p);
        return r == 0 ? alder_fsync_parent_dir(p, err) : r;
}

/* Sequence number of a version directory name "SEQ-VERSION". */
static uint64_t sequence_of(const char *target)
{
        const char *base = strrchr(target, '/');
        return strtoull(base ? base + 1 : target, NULL, 10);
}

static bool is_entry(const struct dirent *de)
{
        return strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
}

/* Calls fn(ctx, dir, name) for each entry of dir (stops at the first error). */
static int for_each_entry(const char *dir, int (*fn)(void *ctx, const char *dir, const char *name, alder_error **err),
                          void *ctx, alder_error **err)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "open directory '%s'", dir);
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (!is_entry(de))
                        continue;
                int r = fn(ctx, dir, de->d_name, err);
                if (r < 0)
                        return r;
        }
        return errno ? alder_error_sys(err, errno, "read directory '%s'", dir) : 0;
}

static int remove_entry(void *ctx, const char *dir, const char *name, alder_error **err)
{
        _cleanup_free_ char *p = NULL;
        int r = path_of(&p, err, "%s/%s", dir, name);
        return r < 0 ? r : alder_remove_tree(p, err);
}

/* Removes version directories that neither pointer names (left by a crash or replaced). */
struct prune_ctx {
        const char *current, *previous;
};

static int prune_entry(void *ctx, const char *dir, const char *name, alder_error **err)
{
        struct prune_ctx *c = ctx;
        char rel[300];
        snprintf(rel, sizeof(rel), "versions/%s", name);
        if ((c->current && strcmp(c->current, rel) == 0) || (c->previous && strcmp(c->previous, rel) == 0))
                return 0;
        return remove_entry(NULL, dir, name, err);
}

static int prune_app(const char *app_dir, alder_error **err)
{
        _cleanup_free_ char *current = NULL, *previous = NULL, *versions = NULL;
        int r = read_pointer(app_dir, "current", &current, err);
        if (r == 0)
                r = read_pointer(app_dir, "previous", &previous, err);
        if (r == 0)
                r = path_of(&versions, err, "%s/versions", app_dir);
        if (r < 0)
                return r;
        if (!current && previous) {
                /* cannot happen by our order of steps; repair rather than guess */
                r = unlink_pointer(app_dir, "previous", err);
                if (r < 0)
                        return r;
                free(previous);
                previous = NULL;
        }
        struct prune_ctx ctx = {current, previous};
        r = for_each_entry(versions, prune_entry, &ctx, err);
        if (r < 0 || current)
                return r;
        /* Not installed (a first install that crashed, or removed with its data kept): keep only data. */
        (void) rmdir(versions);
        (void) rmdir(app_dir);
        return 0;
}

/* Entries of the store that are apps (not .staging, .trash, ids.json). */
static bool is_app_entry(const char *name)
{
        return alder_app_name_check(name, NULL) == 0;
}

static int recover_app(void *ctx, const char *dir, const char *name, alder_error **err)
{
        if (!is_app_entry(name))
                return 0;
        _cleanup_free_ char *p = NULL;
        int r = path_of(&p, err, "%s/%s", dir, name);
        return r < 0 ? r : prune_app(p, err);
}

int alder_appstore_open(const char *root, alder_appstore **ret, alder_error **err)
{
        _cleanup_free_ char *staging = NULL, *trash = NULL;
        int r = path_of(&staging, err, "%s/.staging", root);
        if (r == 0)
                r = path_of(&trash, err, "%s/.trash", root);
        if (r == 0)
                r = alder_mkdir_p(staging, 0700, err);
        if (r == 0)
                r = alder_mkdir_p(trash, 0700, err);
        /* What a crash left: unfinished installs and removals, versions nobody points at. */
        if (r == 0)
                r = for_each_entry(staging, remove_entry, NULL, err);
        if (r == 0)
                r = for_each_entry(trash, remove_entry, NULL, err);
        if (r == 0)
                r = for_each_entry(root, recover_app, NULL, err);
        if (r < 0)
                return alder_error_wrap(err, "open app store '%s'", root);
        alder_appstore *s = calloc(1, sizeof(*s));
        if (!s || !(s->root = strdup(root))) {
                free(s);
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        }
        *ret = s;
        return 0;
}

void alder_appstore_close(alder_appstore *store)
{
        if (!store)
                return;
        free(store->root);
        free(store);
}

void alder_appstore_staged_clear(alder_appstore_staged *s)
{
        free(s->dir);
        s->dir = NULL;
}

/* ---- id ranges ---------------------------------------------------------------- */

#define IDS_MAX_SIZE (1u << 20)
/* ranges that fit below 2^32 */
#define IDS_MAX_APPS ((UINT32_MAX - ALDER_APPSTORE_ID_BASE) / ALDER_APPSTORE_ID_COUNT - 1)

static int load_ids(alder_appstore *store, char **ret_path, json_t **ret, alder_error **err)
{
        int r = path_of(ret_path, err, "%s/ids.json", store->root);
        if (r < 0)
                return r;
        if (access(*ret_path, F_OK) < 0) {
                *ret = json_object();
                return *ret ? 0 : alder_error_set(err, ENOMEM, "app store: out of memory");
        }
        r = alder_json_load_file(*ret_path, IDS_MAX_SIZE, ret, err);
        if (r == 0 && !json_is_object(*ret)) {
                json_decref(*ret);
                return alder_error_set(err, EBADMSG, "%s: expected an object", *ret_path);
        }
        return r;
}

static uint32_t range_start(json_int_t index)
{
        return ALDER_APPSTORE_ID_BASE + (uint32_t) index * ALDER_APPSTORE_ID_COUNT;
}

/* Loads ids.json and looks `name` up: 1 with *ret_start set, 0 when the app has no range yet. */
static int find_ids(alder_appstore *store, const char *name, char **ret_path, json_t **ret_ids, uint32_t *ret_start,
                    alder_error **err)
{
        int r = load_ids(store, ret_path, ret_ids, err);
        if (r < 0)
                return r;
        json_t *have = json_object_get(*ret_ids, name);
        if (!json_is_integer(have) || json_integer_value(have) < 0 || json_integer_value(have) > IDS_MAX_APPS)
                return 0;
        *ret_start = range_start(json_integer_value(have));
        return 1;
}

/* The app's range, allocating the next free one (durably) the first time. */
static int allocate_ids(alder_appstore *store, const char *name, uint32_t *ret_start, alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *ids = NULL;
        int r = find_ids(store, name, &path, &ids, ret_start, err);
        if (r != 0)
                return r < 0 ? r : 0;
        json_int_t next = 0;
        const char *key;
        json_t *v;
        json_object_foreach(ids, key, v)
        {
                if (json_is_integer(v) && json_integer_value(v) >= next)
                        next = json_integer_value(v) + 1;
        }
        if (next > IDS_MAX_APPS)
                return alder_error_set(err, ENOSPC, "%s: no id range left for app '%s'", path, name);
        if (json_object_set_new(ids, name, json_integer(next)) < 0)
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        r = alder_json_write_file(path, ids, 0644, err);
        if (r == 0)
                *ret_start = range_start(next);
        return r;
}

int alder_appstore_id_range(alder_appstore *store, const char *name, uint32_t *ret_start, alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *ids = NULL;
        int r = find_ids(store, name, &path, &ids, ret_start, err);
        if (r == 0)
                return alder_error_set(err, ENOENT, "%s: no id range for app '%s'", path, name);
        return r < 0 ? r : 0;
}

/* ---- staging ------------------------------------------------------------------ */

static int check_sequence(alder_appstore *store, const alder_app_meta *m, uint64_t seq, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *current = NULL;
        int r = path_of(&app_dir, err, "%s/%s", store->root, m->name);
        if (r == 0)
                r = read_pointer(app_dir, "current", &current, err);
        if (r < 0 || !current)
                return r;
        uint64_t installed = sequence_of(current);
        if (seq == installed)
                return alder_error_set(err, EALREADY, "%s: sequence %" PRIu64 " is already installed", m->name, seq);
        if (seq < installed)
                return alder_error_set(err, EPERM,
                                       "%s: refusing sequence %" PRIu64 ", older than the installed %" PRIu64
                                       " (anti-rollback)",
                                       m->name, seq, installed);
        return 0;
}

static int check_space(alder_appstore *store, const alder_alpkg_info *info, alder_error **err)
{
        struct statvfs vfs;
        if (statvfs(store->root, &vfs) < 0)
                return alder_error_sys(err, errno, "statvfs '%s'", store->root);
        uint64_t free_bytes = (uint64_t) vfs.f_bavail * vfs.f_frsize;
        uint64_t need = info->rootfs_size * SPACE_FACTOR + SPACE_MARGIN;
        if (free_bytes < need)
                return alder_error_set(err, ENOSPC,
                                       "'%s': %" PRIu64 " MiB free, the package needs about %" PRIu64 " MiB",
                                       store->root, free_bytes >> 20, need >> 20);
        return 0;
}

static int write_records(const char *dir, const alder_alpkg *pkg, alder_error **err)
{
        const alder_alpkg_info *i = alder_alpkg_get_info(pkg);
        const alder_app_meta *m = alder_alpkg_meta(pkg);
        char digest[ALDER_SHA256_HEX_LEN + 1];
        alder_hex_encode(i->rootfs_digest, ALDER_SHA256_LEN, digest);
        _cleanup_json_ json_t *meta = NULL;
        int r = alder_app_meta_to_json(m, &meta, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *record =
                json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "name", m->name, "version", m->version, "arch", m->arch,
                          "sequence", (json_int_t) i->sequence, "rootfs_sha256", digest, "signer", i->signer.subject);
        _cleanup_free_ char *meta_path = NULL, *record_path = NULL;
        r = path_of(&meta_path, err, "%s/app.json", dir);
        if (r == 0)
                r = path_of(&record_path, err, "%s/package.json", dir);
        if (r == 0)
                r = record ? alder_json_write_file(meta_path, meta, 0644, err)
                           : alder_error_set(err, ENOMEM, "app store: out of memory");
        if (r == 0)
                r = alder_json_write_file(record_path, record, 0644, err);
        return r;
}

/* Unpacks into a private staging folder, then renames the durable result into the app's versions. */
static int unpack_version(alder_appstore *store, alder_alpkg *pkg, uint32_t id_start, char **ret_dir, alder_error **err)
{
        const alder_alpkg_info *i = alder_alpkg_get_info(pkg);
        const alder_app_meta *m = alder_alpkg_meta(pkg);
        _cleanup_free_ char *tmpl = NULL, *rootfs = NULL, *versions = NULL, *dest = NULL;
        /* Files owned by container uid N belong to host uid id_start + N. */
        alder_unpack_opts uopts = {.uid_shift = id_start, .gid_shift = id_start, .id_count = ALDER_APPSTORE_ID_COUNT};
        int r = path_of(&tmpl, err, "%s/.staging/XXXXXX", store->root);
        if (r < 0)
                return r;
        if (!mkdtemp(tmpl))
                return alder_error_sys(err, errno, "create '%s'", tmpl);
        /* mkdtemp makes it 0700; the app's mapped root must be able to reach its rootfs. */
        if (chmod(tmpl, 0755) < 0)
                r = alder_error_sys(err, errno, "chmod '%s'", tmpl);
        if (r == 0)
                r = path_of(&rootfs, err, "%s/rootfs", tmpl);
        if (r == 0)
                r = alder_alpkg_unpack(pkg, rootfs, &uopts, NULL, err);
        if (r == 0)
                r = write_records(tmpl, pkg, err);
        if (r == 0)
                r = alder_fsync_tree(tmpl, err);
        if (r == 0)
                r = path_of(&versions, err, "%s/%s/versions", store->root, m->name);
        if (r == 0)
                r = alder_mkdir_p(versions, 0755, err);
        if (r == 0)
                r = path_of(&dest, err, "%s/%" PRIu64 "-%s", versions, i->sequence, m->version);
        if (r == 0 && rename(tmpl, dest) < 0)
                r = alder_error_sys(err, errno, "move the unpacked version to '%s'", dest);
        if (r == 0)
                r = alder_fsync_parent_dir(dest, err);
        if (r < 0) {
                alder_error *e2 = NULL;
                (void) remove_quietly(tmpl, &e2);
                alder_error_free(e2);
                return r;
        }
        *ret_dir = steal_pointer(&dest);
        return 0;
}

int alder_appstore_stage(alder_appstore *store, const char *package, const alder_trust_store *trust,
                         const alder_alpkg_expect *expect, alder_appstore_staged *ret, alder_error **err)
{
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        int r = alder_alpkg_open(package, trust, expect, &pkg, err);
        if (r < 0)
                return r;
        const alder_app_meta *m = alder_alpkg_meta(pkg);
        const alder_alpkg_info *i = alder_alpkg_get_info(pkg);
        r = check_sequence(store, m, i->sequence, err);
        if (r == 0)
                r = check_space(store, i, err);
        char *dir = NULL;
        uint32_t id_start = 0;
        if (r == 0)
                r = allocate_ids(store, m->name, &id_start, err);
        if (r == 0)
                r = unpack_version(store, pkg, id_start, &dir, err);
        if (r < 0)
                return alder_error_wrap(err, "install '%s'", package);
        *ret = (alder_appstore_staged){.sequence = i->sequence, .dir = dir};
        snprintf(ret->name, sizeof(ret->name), "%s", m->name);
        snprintf(ret->version, sizeof(ret->version), "%s", m->version);
        return 0;
}

/* ---- pointers ----------------------------------------------------------------- */

static int app_dir_of(alder_appstore *store, const char *name, char **ret, alder_error **err)
{
        int r = alder_app_name_check(name, err);
        return r < 0 ? r : path_of(ret, err, "%s/%s", store->root, name);
}

/* The app's folder and the target of one of its pointers; -ENOENT (with `missing`) when unset. */
static int app_pointer(alder_appstore *store, const char *name, const char *link, const char *missing,
                       char **ret_app_dir, char **ret_target, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *target = NULL;
        int r = app_dir_of(store, name, &app_dir, err);
        if (r == 0)
                r = read_pointer(app_dir, link, &target, err);
        if (r < 0)
                return r;
        if (!target)
                return alder_error_set(err, ENOENT, "%s: %s", name, missing);
        *ret_app_dir = steal_pointer(&app_dir);
        *ret_target = steal_pointer(&target);
        return 0;
}

/* Points app_dir/link at target, atomically. */
static int point(const char *app_dir, const char *link, const char *target, alder_error **err)
{
        _cleanup_free_ char *p = NULL;
        int r = path_of(&p, err, "%s/%s", app_dir, link);
        return r < 0 ? r : alder_symlink_swap(target, p, err);
}

int alder_appstore_commit(alder_appstore *store, const alder_appstore_staged *staged, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *current = NULL, *target = NULL;
        int r = app_dir_of(store, staged->name, &app_dir, err);
        if (r == 0)
                r = read_pointer(app_dir, "current", &current, err);
        if (r == 0)
                r = path_of(&target, err, "versions/%s", strrchr(staged->dir, '/') + 1);
        /* previous first: a crash between the two swaps leaves current unchanged. */
        if (r == 0 && current)
                r = point(app_dir, "previous", current, err);
        if (r == 0)
                r = point(app_dir, "current", target, err);
        if (r == 0)
                r = prune_app(app_dir, err);
        return r < 0 ? alder_error_wrap(err, "commit %s %s", staged->name, staged->version) : 0;
}

int alder_appstore_discard(alder_appstore *store, alder_appstore_staged *staged, alder_error **err)
{
        int r = staged->dir ? remove_quietly(staged->dir, err) : 0;
        alder_appstore_staged_clear(staged);
        return r;
}

int alder_appstore_rollback(alder_appstore *store, const char *name, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *previous = NULL;
        int r = app_pointer(store, name, "previous", "no previous version to roll back to", &app_dir, &previous, err);
        if (r == 0)
                r = point(app_dir, "current", previous, err);
        if (r == 0)
                r = unlink_pointer(app_dir, "previous", err);
        if (r == 0)
                r = prune_app(app_dir, err);
        return r;
}

int alder_appstore_remove(alder_appstore *store, const char *name, bool keep_data, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *current = NULL, *tmpl = NULL, *moved = NULL;
        int r = app_pointer(store, name, "current", "not installed", &app_dir, &current, err);
        if (r < 0)
                return r;
        if (keep_data) {
                /* Unlinking the pointer removes the app in one step; pruning finishes the rest. */
                r = unlink_pointer(app_dir, "current", err);
                return r == 0 ? prune_app(app_dir, err) : r;
        }
        r = path_of(&tmpl, err, "%s/.trash/XXXXXX", store->root);
        if (r < 0)
                return r;
        if (!mkdtemp(tmpl))
                return alder_error_sys(err, errno, "create '%s'", tmpl);
        r = path_of(&moved, err, "%s/%s", tmpl, name);
        if (r == 0 && rename(app_dir, moved) < 0)
                r = alder_error_sys(err, errno, "move '%s' to the trash", app_dir);
        if (r == 0)
                r = alder_fsync_parent_dir(app_dir, err);
        if (r == 0)
                r = alder_remove_tree(tmpl, err);
        return r;
}

/* ---- queries ------------------------------------------------------------------ */

int alder_appstore_current(alder_appstore *store, const char *name, char **ret, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *current = NULL;
        int r = app_pointer(store, name, "current", "not installed", &app_dir, &current, err);
        return r < 0 ? r : path_of(ret, err, "%s/%s", app_dir, current);
}

static json_t *version_json(const char *app_dir, const char *target)
{
        if (!target)
                return json_null();
        _cleanup_free_ char *record = NULL;
        if (asprintf(&record, "%s/%s/package.json", app_dir, target) < 0)
                return NULL;
        json_t *doc = NULL;
        if (alder_json_load_file(record, 64 * 1024, &doc, NULL) < 0)
                return json_pack("{s:s,s:s}", "dir", target, "error", "unreadable package.json");
        json_object_set_new(doc, "dir", json_string(target));
        return doc;
}

/* The app.list entry of the app in app_dir; *ret stays NULL when it is not installed. */
static int app_entry(const char *app_dir, json_t **ret, alder_error **err)
{
        _cleanup_free_ char *current = NULL, *previous = NULL;
        int r = read_pointer(app_dir, "current", &current, err);
        if (r == 0)
                r = read_pointer(app_dir, "previous", &previous, err);
        if (r < 0 || !current)
                return r;
        json_t *entry = version_json(app_dir, current);
        if (!entry || json_object_set_new(entry, "previous", version_json(app_dir, previous)) < 0) {
                json_decref(entry);
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        }
        *ret = entry;
        return 0;
}

static int list_entry(void *ctx, const char *dir, const char *name, alder_error **err)
{
        json_t *list = ctx;
        if (!is_app_entry(name))
                return 0;
        _cleanup_free_ char *app_dir = NULL;
        json_t *entry = NULL;
        int r = path_of(&app_dir, err, "%s/%s", dir, name);
        if (r == 0)
                r = app_entry(app_dir, &entry, err);
        if (r < 0 || !entry)
                return r;
        if (json_array_append_new(list, entry) < 0)
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        return 0;
}

int alder_appstore_status(alder_appstore *store, const char *name, json_t **ret, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL;
        json_t *entry = NULL;
        int r = app_dir_of(store, name, &app_dir, err);
        if (r == 0)
                r = app_entry(app_dir, &entry, err);
        if (r < 0)
                return r;
        if (!entry)
                return alder_error_set(err, ENOENT, "app '%s' is not installed", name);
        *ret = entry;
        return 0;
}

static int by_name(const void *a, const void *b)
{
        return strcmp(json_string_value(json_object_get(*(json_t *const *) a, "name")),
                      json_string_value(json_object_get(*(json_t *const *) b, "name")));
}

int alder_appstore_list(alder_appstore *store, json_t **ret, alder_error **err)
{
        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        int r = for_each_entry(store->root, list_entry, list, err);
        if (r < 0)
                return r;
        size_t n = json_array_size(list);
        json_t **items = calloc(n + 1, sizeof(*items));
        if (!items)
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        for (size_t i = 0; i < n; i++)
                items[i] = json_incref(json_array_get(list, i));
        qsort(items, n, sizeof(*items), by_name);
        json_array_clear(list);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(list, items[i]);
        free(items);
        *ret = steal_pointer(&list);
        return 0;
}
