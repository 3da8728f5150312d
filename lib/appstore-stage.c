/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
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
#include "appstore-internal.h"

/*
 * Staging a package: verifying and unpacking it. This is the only part of
 * the store that needs the package reader (OpenSSL, libcbor, libarchive,
 * libzstd), so it lives in its own object file: the daemon, which links only
 * the rest of the store, stays small and runs this in alder-app-stage.
 */

/* Uncompressed size is unknown before unpacking: ask for this many times the compressed size. */
#define SPACE_FACTOR 4
#define SPACE_MARGIN (8u << 20)

static int check_sequence(alder_appstore *store, const alder_app_meta *m, uint64_t seq, alder_error **err)
{
        _cleanup_free_ char *app_dir = NULL, *current = NULL;
        int r = appstore_path_of(&app_dir, err, "%s/%s", store->root, m->name);
        if (r == 0)
                r = appstore_read_pointer(app_dir, "current", &current, err);
        if (r < 0 || !current)
                return r;
        uint64_t installed = appstore_sequence_of(current);
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
        r = appstore_path_of(&meta_path, err, "%s/app.json", dir);
        if (r == 0)
                r = appstore_path_of(&record_path, err, "%s/package.json", dir);
        if (r == 0)
                r = record ? alder_json_write_file(meta_path, meta, 0644, err)
                           : alder_error_set(err, ENOMEM, "app store: out of memory");
        if (r == 0)
                r = alder_json_write_file(record_path, record, 0644, err);
        return r;
}

/* Unpacks into a private staging folder, then renames the durable result into the app's versions. */
/*
 * Every app gets its private volume at /data (alder-appd). Its mount point is
 * made here, as part of the version, so that the runtime never has to create
 * it inside the stored root filesystem at start.
 */
static int add_data_mount_point(const char *rootfs, uint32_t id_start, alder_error **err)
{
        _cleanup_free_ char *data = NULL;
        int r = appstore_path_of(&data, err, "%s/data", rootfs);
        if (r < 0)
                return r;
        struct stat st;
        if (lstat(data, &st) == 0)
                return 0; /* the package has one (or a file there: the runtime will say so) */
        if (mkdir(data, 0755) < 0)
                return alder_error_sys(err, errno, "create mount point '%s'", data);
        if (geteuid() == 0 && chown(data, id_start, id_start) < 0)
                return alder_error_sys(err, errno, "chown '%s'", data);
        return 0;
}

static int unpack_version(alder_appstore *store, alder_alpkg *pkg, uint32_t id_start, char **ret_dir, alder_error **err)
{
        const alder_alpkg_info *i = alder_alpkg_get_info(pkg);
        const alder_app_meta *m = alder_alpkg_meta(pkg);
        _cleanup_free_ char *tmpl = NULL, *rootfs = NULL, *versions = NULL, *dest = NULL;
        /* Files owned by container uid N belong to host uid id_start + N. */
        alder_unpack_opts uopts = {.uid_shift = id_start, .gid_shift = id_start, .id_count = ALDER_APPSTORE_ID_COUNT};
        int r = appstore_path_of(&tmpl, err, "%s/.staging/XXXXXX", store->root);
        if (r < 0)
                return r;
        if (!mkdtemp(tmpl))
                return alder_error_sys(err, errno, "create '%s'", tmpl);
        /* mkdtemp makes it 0700; the app's mapped root must be able to reach its rootfs. */
        if (chmod(tmpl, 0755) < 0)
                r = alder_error_sys(err, errno, "chmod '%s'", tmpl);
        if (r == 0)
                r = appstore_path_of(&rootfs, err, "%s/rootfs", tmpl);
        if (r == 0)
                r = alder_alpkg_unpack(pkg, rootfs, &uopts, NULL, err);
        if (r == 0)
                r = add_data_mount_point(rootfs, id_start, err);
        if (r == 0)
                r = write_records(tmpl, pkg, err);
        if (r == 0)
                r = alder_fsync_tree(tmpl, err);
        if (r == 0)
                r = appstore_path_of(&versions, err, "%s/%s/versions", store->root, m->name);
        if (r == 0)
                r = alder_mkdir_p(versions, 0755, err);
        if (r == 0)
                r = appstore_path_of(&dest, err, "%s/%" PRIu64 "-%s", versions, i->sequence, m->version);
        if (r == 0 && rename(tmpl, dest) < 0)
                r = errno == ENOTEMPTY || errno == EEXIST
                            ? alder_error_set(err, EEXIST,
                                              "%s %s is already staged in '%s' (commit or discard it first)", m->name,
                                              m->version, dest)
                            : alder_error_sys(err, errno, "move the unpacked version to '%s'", dest);
        if (r == 0)
                r = alder_fsync_parent_dir(dest, err);
        if (r < 0) {
                alder_error *e2 = NULL;
                (void) appstore_remove_quietly(tmpl, &e2);
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
                return alder_error_wrap(err, "install"); /* the package's errors name its path */
        const alder_app_meta *m = alder_alpkg_meta(pkg);
        const alder_alpkg_info *i = alder_alpkg_get_info(pkg);
        r = check_sequence(store, m, i->sequence, err);
        if (r == 0)
                r = check_space(store, i, err);
        char *dir = NULL;
        uint32_t id_start = 0;
        if (r == 0)
                r = appstore_allocate_ids(store, m->name, &id_start, err);
        if (r == 0)
                r = unpack_version(store, pkg, id_start, &dir, err);
        if (r < 0)
                return alder_error_wrap(err, "install '%s'", package);
        *ret = (alder_appstore_staged){.sequence = i->sequence, .dir = dir};
        snprintf(ret->name, sizeof(ret->name), "%s", m->name);
        snprintf(ret->version, sizeof(ret->version), "%s", m->version);
        return 0;
}
