/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Safe tar unpacking: container image layers on the host, app package root
 * filesystems on the device.
 *
 * The archive comes from outside, so nothing in it is trusted:
 *
 *   - every entry is created relative to a directory fd of the destination,
 *     parents are opened one component at a time with O_NOFOLLOW, and files
 *     with O_CREAT|O_EXCL|O_NOFOLLOW: a symlink in the archive (even one
 *     pointing at "/" or "../..") is created as it is, it is a container root
 *     filesystem, but no later entry is ever written through it;
 *   - absolute names, ".." components, names longer than the limits, duplicate
 *     entries, sockets, hard links to something not (yet) in the tree are
 *     refused; device nodes, setuid/setgid files and file capabilities are
 *     refused unless the caller allows them, and then reported in the stats;
 *   - limits on entries, total and per-file bytes, path length and depth are
 *     checked against the sizes the headers declare *before* anything is
 *     written (a 100 GB entry fails at once) and again while writing, and the
 *     decompressed stream itself is bounded;
 *   - gzip and zstd are decompressed here, not by libarchive, so the gzip CRC
 *     and zstd checksums are verified and the input is always read to its very
 *     end: a caller hashing the bytes in its read callback has hashed all of
 *     them when alder_unpack() returns.
 *
 * Every refusal names the entry and the reason:
 *     entry 'etc/../../x': path escapes the root
 *     entry 'usr/bin/su': setuid/setgid file refused (mode 4755)
 *
 * What is kept: regular files, directories, symlinks, hard links, FIFOs (and
 * device nodes when allowed) with their permission bits, mtimes (atime too
 * when the archive has one), numeric ownership (only when running as root,
 * optionally shifted for a user namespace), user.* extended attributes and,
 * when allowed, security.capability. Dropped: other xattrs (trusted.*,
 * security.selinux, ...), ACLs, file flags, user/group names. Holes of sparse
 * files are written as zeros. Directory permissions and times are applied
 * after the whole archive has been written, so a read-only directory in the
 * archive does not block its own contents.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "fileio.h" /* alder_remove_tree(), which used to live here */
#include "macro.h"

/*
 * Reads up to n bytes of the archive into buf: returns the count, 0 at the end,
 * or -1 with errno set (EINTR is retried). A caller hashing the input does it
 * here; every byte passes through exactly once and the input is read to its end.
 */
typedef ssize_t (*alder_unpack_read_fn)(void *ctx, void *buf, size_t n);

typedef enum alder_unpack_mode {
        /*
         * dest must not exist; it is created (mode 0755 unless the archive has a
         * "./" entry) and on any failure removed again with everything in it.
         */
        ALDER_UNPACK_FRESH = 0,
        /*
         * Apply onto the existing directory dest as an OCI image layer: entries
         * replace what is there, ".wh.NAME" deletes NAME of lower layers,
         * ".wh..wh..opq" empties a directory of what lower layers put in it
         * (OCI image spec, layer.md). On failure the tree is left half-applied:
         * the caller removes it (alder_remove_tree()).
         */
        ALDER_UNPACK_LAYER,
} alder_unpack_mode;

typedef enum alder_unpack_compression {
        ALDER_UNPACK_COMPRESSION_AUTO = 0, /* any of the below, detected from the magic bytes */
        ALDER_UNPACK_COMPRESSION_NONE,
        ALDER_UNPACK_COMPRESSION_GZIP,
        ALDER_UNPACK_COMPRESSION_ZSTD,
} alder_unpack_compression;

/* Name for messages: "none", "gzip", "zstd" ("auto" for AUTO). */
const char *alder_unpack_compression_name(alder_unpack_compression c);

/* Flags (alder_unpack_opts.flags). */
#define ALDER_UNPACK_ALLOW_DEVICES      (1u << 0) /* create character and block device nodes */
#define ALDER_UNPACK_ALLOW_SETUID       (1u << 1) /* keep setuid/setgid bits of regular files */
#define ALDER_UNPACK_ALLOW_CAPABILITIES (1u << 2) /* keep security.capability xattrs */
#define ALDER_UNPACK_NO_OWNERSHIP       (1u << 3) /* never chown, even as root */
/*
 * Only the contents matter (archives of image layouts): regular files,
 * directories, symlinks and hard links only; modes become 0644/0755 (0755 for
 * files with any execute bit); no ownership, times or xattrs.
 */
#define ALDER_UNPACK_DATA_ONLY (1u << 4)

/* Defaults of the limits (a zero field in alder_unpack_limits means the default). */
#define ALDER_UNPACK_DEFAULT_MAX_ENTRIES 100000u
#define ALDER_UNPACK_DEFAULT_MAX_TOTAL   (UINT64_C(4) << 30) /* 4 GiB */
#define ALDER_UNPACK_DEFAULT_MAX_FILE    (UINT64_C(1) << 30) /* 1 GiB */
#define ALDER_UNPACK_DEFAULT_MAX_PATH    4095u
#define ALDER_UNPACK_DEFAULT_MAX_DEPTH   128u
#define ALDER_UNPACK_MAX_DEPTH_CAP       256u /* max_depth above this is refused */
/* Fixed bounds. */
#define ALDER_UNPACK_MAX_NAME        255u /* one path component */
#define ALDER_UNPACK_MAX_LINK_TARGET 4095u
#define ALDER_UNPACK_MAX_XATTRS      64u /* per entry */
#define ALDER_UNPACK_MAX_XATTR_VALUE 65536u
#define ALDER_UNPACK_MAX_TRAILING    (1u << 20) /* zero padding after the archive's end */
/* Tar headers allowed per entry in the bound of the decompressed stream (see alder_unpack). */
#define ALDER_UNPACK_HEADER_ALLOWANCE   8192u
#define ALDER_UNPACK_MAX_REPORTED_PATHS 256u

typedef struct alder_unpack_limits {
        /* Entries of the archive plus directories created implicitly for them. */
        uint64_t max_entries;
        /* Sum of the sizes entries declare (file contents). */
        uint64_t max_total_bytes;
        uint64_t max_file_bytes;
        /* Length of an entry's name (bytes) and its number of components. */
        uint32_t max_path_len;
        uint32_t max_depth;
} alder_unpack_limits;

typedef struct alder_unpack_opts {
        alder_unpack_mode mode;
        alder_unpack_compression compression; /* required compression; AUTO accepts any */
        unsigned flags;                       /* ALDER_UNPACK_ALLOW_* ... */
        alder_unpack_limits limits;
        /*
         * Ownership (applied only as root): uid + uid_shift, gid + gid_shift, for
         * a user namespace whose ids start there. With id_count > 0, ids of the
         * archive must be below it (the size of the namespace's range).
         */
        uint32_t uid_shift, gid_shift;
        uint32_t id_count;
} alder_unpack_opts;

/* Privileges an archive used because the options allowed them. */
typedef enum alder_unpack_feature {
        ALDER_UNPACK_FEATURE_SETUID = 0, /* regular files with setuid/setgid bits */
        ALDER_UNPACK_FEATURE_DEVICE,     /* character/block device nodes */
        ALDER_UNPACK_FEATURE_CAPABILITY, /* files with security.capability */
        ALDER_UNPACK_FEATURE_COUNT,
} alder_unpack_feature;

/* "setuid", "device", "capability". */
const char *alder_unpack_feature_name(alder_unpack_feature f);

typedef struct alder_unpack_feature_use {
        uint64_t count;
        /* The first ALDER_UNPACK_MAX_REPORTED_PATHS paths (relative to the root), NULL-terminated or NULL. */
        char **paths;
        size_t n_paths;
} alder_unpack_feature_use;

typedef struct alder_unpack_stats {
        uint64_t entries; /* entries read plus directories created implicitly for them */
        uint64_t bytes;   /* sum of declared entry sizes (file contents) */
        alder_unpack_feature_use features[ALDER_UNPACK_FEATURE_COUNT];
} alder_unpack_stats;

/* Frees the path lists and zeroes *s. */
void alder_unpack_stats_clear(alder_unpack_stats *s);

#define _cleanup_unpack_stats_ _cleanup_(alder_unpack_stats_clear)

/* Adds from's counts to into and moves its paths over (up to the cap); from keeps only counts. */
void alder_unpack_stats_add(alder_unpack_stats *into, alder_unpack_stats *from);

/*
 * Unpacks the tar stream `read` yields into dest. opts may be NULL (fresh,
 * any compression, nothing privileged allowed, default limits).
 *
 * stats (may be NULL) accumulates: on success this archive's counts are added
 * to it, on failure it is left as it was. The limits bound the accumulated
 * totals, so a caller applying several layers with the same stats gets limits
 * for the whole image. The decompressed stream may hold at most
 * max_total_bytes + max_entries * ALDER_UNPACK_HEADER_ALLOWANCE bytes.
 */
int alder_unpack(alder_unpack_read_fn read, void *ctx, const char *dest, const alder_unpack_opts *opts,
                 alder_unpack_stats *stats, alder_error **err) ALDER_WUR;

/* Same, reading fd (not closed) to its end. */
int alder_unpack_fd(int fd, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                    alder_error **err) ALDER_WUR;

/* Same, reading the file at path. */
int alder_unpack_file(const char *path, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                      alder_error **err) ALDER_WUR;

/*
 * Copies the directory tree src into dest with the same checks, limits and
 * fidelity as an archive (symlinks in src are copied, never followed; hard
 * links inside src stay hard links). opts->compression is ignored.
 */
int alder_unpack_dir(const char *src, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                     alder_error **err) ALDER_WUR;

/* alder_remove_tree() must reach below the deepest tree the unpacker creates. */
_Static_assert(ALDER_REMOVE_TREE_MAX_DEPTH >= ALDER_UNPACK_MAX_DEPTH_CAP + 2u, "removal depth below unpack depth");
