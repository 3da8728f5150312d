/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/appstore.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "appstore-internal.h"

int appstore_path_of(char **ret, alder_error **err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(ret, fmt, ap);
        va_end(ap);
        return n < 0 ? alder_error_set(err, ENOMEM, "app store: out of memory") : 0;
}

int appstore_remove_quietly(const char *path, alder_error **err)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "stat '%s'", path);
        return alder_remove_tree(path, err);
}

int appstore_read_pointer(const char *app_dir, const char *link, char **ret, alder_error **err)
{
        _cleanup_free_ char *p = NULL;
        int r = appstore_path_of(&p, err, "%s/%s", app_dir, link);
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
        int r = appstore_path_of(&p, err, "%s/%s", app_dir, link);
        if (r == 0 && unlink(p) < 0)
                r = alder_error_sys(err, errno, "remove '%s'", p);
        return r == 0 ? alder_fsync_parent_dir(p, err) : r;
}

uint64_t appstore_sequence_of(const char *target)
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
        int r = appstore_path_of(&p, err, "%s/%s", dir, name);
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

/* Debris of an atomic write or pointer swap that a crash interrupted. */
static int remove_temp_entry(void *ctx, const char *dir, const char *name, alder_error **err)
{
        return alder_is_temp_name(name) ? remove_entry(ctx, dir, name, err) : 0;
}

/*
 * A commit writes its intent (COMMIT_INTENT: the new current and previous)
 * before it swaps the two pointers, so that a crash between the swaps is rolled
 * forward here instead of leaving current = previous and the rollback target
 * pruned.
 */
#define COMMIT_INTENT ".commit"

static int point(const char *app_dir, const char *link, const char *target, alder_error **err);

static int finish_commit(const char *app_dir, alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r = appstore_path_of(&path, err, "%s/" COMMIT_INTENT, app_dir);
        if (r < 0 || access(path, F_OK) < 0)
                return r;
        _cleanup_json_ json_t *doc = NULL;
        const char *current = NULL, *previous = NULL;
        _cleanup_free_ char *current_dir = NULL;
        /* an unreadable intent was never acted on (it is written before any swap): drop it */
        if (alder_json_load_file(path, 4096, &doc, NULL) == 0 &&
            alder_json_get_string(doc, path, "current", 0, &current, NULL) == 0 &&
            alder_json_get_string(doc, path, "previous", ALDER_JSON_OPTIONAL, &previous, NULL) == 0 &&
            appstore_path_of(&current_dir, err, "%s/%s", app_dir, current) == 0 && access(current_dir, F_OK) == 0) {
                if (previous)
                        r = point(app_dir, "previous", previous, err);
                if (r == 0)
                        r = point(app_dir, "current", current, err);
        }
        if (r == 0)
                r = unlink_pointer(app_dir, COMMIT_INTENT, err);
        return r;
}

static int prune_app(const char *app_dir, alder_error **err)
{
        _cleanup_free_ char *current = NULL, *previous = NULL, *versions = NULL;
        int r = for_each_entry(app_dir, remove_temp_entry, NULL, err);
        if (r == 0)
                r = finish_commit(app_dir, err);
        if (r == 0)
                r = appstore_read_pointer(app_dir, "current", &current, err);
        if (r == 0)
                r = appstore_read_pointer(app_dir, "previous", &previous, err);
        if (r == 0)
                r = appstore_path_of(&versions, err, "%s/versions", app_dir);
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
        int r = appstore_path_of(&p, err, "%s/%s", dir, name);
        return r < 0 ? r : prune_app(p, err);
}

/* What a crash left: unfinished installs and removals, versions nobody points at. */
static int recover(const char *root, const char *staging, const char *trash, alder_error **err)
{
        int r = for_each_entry(staging, remove_entry, NULL, err);
        if (r == 0)
                r = for_each_entry(trash, remove_entry, NULL, err);
        if (r == 0)
                r = for_each_entry(root, remove_temp_entry, NULL, err); /* .ids.json.tmp-* */
        if (r == 0)
                r = for_each_entry(root, recover_app, NULL, err);
        return r;
}

/* The store's root as both processes name it (alder_appstore_staged_from_json compares paths). */
static int canonical_root(const char *root, char **ret, alder_error **err)
{
        *ret = realpath(root, NULL);
        return *ret ? 0 : alder_error_sys(err, errno, "resolve '%s'", root);
}

int alder_appstore_open_flags(const char *root, unsigned flags, alder_appstore **ret, alder_error **err)
{
        if (flags & ~ALDER_APPSTORE_NO_RECOVERY)
                return alder_error_set(err, EINVAL, "open app store '%s': unknown flags 0x%x", root, flags);
        _cleanup_free_ char *staging = NULL, *trash = NULL, *canonical = NULL;
        int r = appstore_path_of(&staging, err, "%s/.staging", root);
        if (r == 0)
                r = appstore_path_of(&trash, err, "%s/.trash", root);
        if (r == 0)
                r = alder_mkdir_p(staging, 0700, err);
        if (r == 0)
                r = alder_mkdir_p(trash, 0700, err);
        if (r == 0)
                r = canonical_root(root, &canonical, err);
        if (r == 0 && !(flags & ALDER_APPSTORE_NO_RECOVERY))
                r = recover(canonical, staging, trash, err);
        if (r < 0)
                return alder_error_wrap(err, "open app store '%s'", root);
        alder_appstore *s = calloc(1, sizeof(*s));
        if (!s)
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        s->root = steal_pointer(&canonical);
        *ret = s;
        return 0;
}

int alder_appstore_open(const char *root, alder_appstore **ret, alder_error **err)
{
        return alder_appstore_open_flags(root, 0, ret, err);
}

const char *alder_appstore_root(const alder_appstore *store)
{
        return store->root;
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

/* ---- staged versions as JSON (alder-app-stage -> daemon) ------------------------ */

int alder_appstore_staged_to_json(const alder_appstore_staged *s, json_t **ret, alder_error **err)
{
        json_t *obj = json_pack("{s:s,s:s,s:I,s:s}", "name", s->name, "version", s->version, "sequence",
                                (json_int_t) s->sequence, "dir", s->dir ? s->dir : "");
        if (!obj)
                return alder_error_set(err, ENOMEM, "app store: out of memory");
        *ret = obj;
        return 0;
}

static const char *const staged_keys[] = {"name", "version", "sequence", "dir", NULL};

/* Copies a validated string field into a fixed buffer. */
static int staged_field(const json_t *obj, const char *source, const char *field, char *buf, size_t size,
                        int (*check)(const char *value, alder_error **err), alder_error **err)
{
        const char *v = NULL;
        int r = alder_json_get_string(obj, source, field, 0, &v, err);
        if (r < 0)
                return r;
        if (strlen(v) >= size)
                return alder_error_set(err, ENAMETOOLONG, "%s: field '%s': longer than %zu bytes", source, field,
                                       size - 1);
        r = check(v, err);
        if (r < 0)
                return alder_error_wrap(err, "%s: field '%s'", source, field);
        snprintf(buf, size, "%s", v);
        return 0;
}

/* The version directory must be the one this store would have made, and be there. */
static int staged_dir(alder_appstore *store, const json_t *obj, const char *source, alder_appstore_staged *s,
                      alder_error **err)
{
        const char *dir = NULL;
        _cleanup_free_ char *expected = NULL;
        int r = alder_json_get_string(obj, source, "dir", 0, &dir, err);
        if (r == 0)
                r = appstore_path_of(&expected, err, "%s/%s/versions/%" PRIu64 "-%s", store->root, s->name, s->sequence,
                                     s->version);
        if (r < 0)
                return r;
        if (strcmp(dir, expected) != 0)
                return alder_error_set(err, EINVAL, "%s: field 'dir': '%s' is not '%s'", source, dir, expected);
        struct stat st;
        if (lstat(dir, &st) < 0)
                return alder_error_sys(err, errno, "%s: field 'dir': '%s'", source, dir);
        if (!S_ISDIR(st.st_mode))
                return alder_error_set(err, ENOTDIR, "%s: field 'dir': '%s' is not a directory", source, dir);
        s->dir = strdup(dir);
        return s->dir ? 0 : alder_error_set(err, ENOMEM, "app store: out of memory");
}

int alder_appstore_staged_from_json(alder_appstore *store, const json_t *obj, const char *source,
                                    alder_appstore_staged *ret, alder_error **err)
{
        alder_appstore_staged s = {0};
        int64_t seq = 0;
        int r = alder_json_check_keys(obj, source, NULL, staged_keys, err);
        if (r == 0)
                r = staged_field(obj, source, "name", s.name, sizeof(s.name), alder_app_name_check, err);
        if (r == 0)
                r = staged_field(obj, source, "version", s.version, sizeof(s.version), alder_semver_check, err);
        if (r == 0)
                r = alder_json_get_int_range(obj, source, "sequence", 0, 1, INT64_MAX, &seq, err);
        s.sequence = (uint64_t) seq;
        if (r == 0)
                r = staged_dir(store, obj, source, &s, err);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

/* ---- id ranges ---------------------------------------------------------------- */

#define IDS_MAX_SIZE (1u << 20)
/* ranges that fit below 2^32 */
#define IDS_MAX_APPS ((UINT32_MAX - ALDER_APPSTORE_ID_BASE) / ALDER_APPSTORE_ID_COUNT - 1)

static int load_ids(alder_appstore *store, char **ret_path, json_t **ret, alder_error **err)
{
        int r = appstore_path_of(ret_path, err, "%s/ids.json", store->root);
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

/*
 * Serializes allocations between processes (the daemon and alder-app-stage).
 * Not on ids.json itself: that file is replaced by rename, so a lock on it
 * would be on an inode the next writer no longer uses. Readers need no lock,
 * they see the old or the new ids.json. The lock is released when *ret_fd is
 * closed.
 */
static int lock_ids(alder_appstore *store, int *ret_fd, alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r = appstore_path_of(&path, err, "%s/.ids.lock", store->root);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return alder_error_sys(err, errno, "lock '%s'", path);
        *ret_fd = steal_fd(&fd);
        return 0;
}

int appstore_allocate_ids(alder_appstore *store, const char *name, uint32_t *ret_start, alder_error **err)
{
        _cleanup_close_ int lock = -1;
        int r = lock_ids(store, &lock, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *ids = NULL;
        r = find_ids(store, name, &path, &ids, ret_start, err);
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

/* ---- pointers ----------------------------------------------------------------- */

static int app_dir_of(alder_appstore *store, const char *name, char **ret, alder_error **err)
{
        int r = alder_app_name_check(name, err);
        return r < 0 ? r : appstore_path_of(ret, err, "%s/%s", store->root, name);
}

/* The app's folder and the target of one of its pointers; -ENOENT (with `missing`) when unset. */
static int app_pointer(alder_appstore *store, const char *name, const char *link, const char *missing,
                       char **ret_app_dir, char **ret_target, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *target = NULL;
        int r = app_dir_of(store, name, &app_dir, err);
        if (r == 0)
                r = appstore_read_pointer(app_dir, link, &target, err);
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
        int r = appstore_path_of(&p, err, "%s/%s", app_dir, link);
        return r < 0 ? r : alder_symlink_swap(target, p, err);
}

int alder_appstore_commit(alder_appstore *store, const alder_appstore_staged *staged, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *current = NULL, *target = NULL;
        int r = app_dir_of(store, staged->name, &app_dir, err);
        if (r == 0)
                r = appstore_read_pointer(app_dir, "current", &current, err);
        if (r == 0)
                r = appstore_path_of(&target, err, "versions/%s", strrchr(staged->dir, '/') + 1);
        /* the intent first: a crash between the two swaps is rolled forward (finish_commit) */
        _cleanup_json_ json_t *intent = json_pack("{s:s}", "current", target);
        _cleanup_free_ char *intent_path = NULL;
        if (r == 0 && (!intent || (current && json_object_set_new(intent, "previous", json_string(current)) < 0)))
                r = alder_error_set(err, ENOMEM, "app store: out of memory");
        if (r == 0)
                r = appstore_path_of(&intent_path, err, "%s/" COMMIT_INTENT, app_dir);
        if (r == 0)
                r = alder_json_write_file(intent_path, intent, 0644, err);
        bool intent_written = r == 0;
        if (r == 0 && current)
                r = point(app_dir, "previous", current, err);
        if (r == 0)
                r = point(app_dir, "current", target, err);
        if (intent_written && unlink_pointer(app_dir, COMMIT_INTENT, r == 0 ? err : NULL) < 0 && r == 0)
                r = -EIO; /* the commit stands; a stale intent would only be rolled forward again */
        if (r == 0)
                r = prune_app(app_dir, err);
        return r < 0 ? alder_error_wrap(err, "commit %s %s", staged->name, staged->version) : 0;
}

int alder_appstore_discard(alder_appstore *store, alder_appstore_staged *staged, alder_error **err)
{
        int r = staged->dir ? appstore_remove_quietly(staged->dir, err) : 0;
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
        r = appstore_path_of(&tmpl, err, "%s/.trash/XXXXXX", store->root);
        if (r < 0)
                return r;
        if (!mkdtemp(tmpl))
                return alder_error_sys(err, errno, "create '%s'", tmpl);
        r = appstore_path_of(&moved, err, "%s/%s", tmpl, name);
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
        return r < 0 ? r : appstore_path_of(ret, err, "%s/%s", app_dir, current);
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
        int r = appstore_read_pointer(app_dir, "current", &current, err);
        if (r == 0)
                r = appstore_read_pointer(app_dir, "previous", &previous, err);
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
        int r = appstore_path_of(&app_dir, err, "%s/%s", dir, name);
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
