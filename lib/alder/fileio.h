/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash-safe file operations.
 *
 * A device may lose power at any instant. Every state change on the data
 * partition therefore goes through these helpers, which leave either the old
 * or the new content on disk, never a mix and never an empty file:
 *
 *   - alder_write_file_atomic(): write a temp file in the same directory,
 *     fsync it, rename it over the target, fsync the directory;
 *   - alder_symlink_swap(): the same for a symlink ("current" → "v2");
 *   - alder_fsync_tree(): make a freshly unpacked tree durable before it is
 *     switched in with a rename or a symlink swap;
 *   - alder_path_join(): join a path below a root without letting ".." escape.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"

/*
 * Replaces `path` atomically with `len` bytes of `data`, file mode `mode`.
 * On failure the previous content (or absence) of path is untouched and no
 * temporary file is left behind.
 */
int alder_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, alder_error **err) ALDER_WUR;

/*
 * Writes `path` (created or truncated) without the temp file and fsyncs of
 * alder_write_file_atomic(): only for volatile files in /run that nobody
 * reads while they are written and that a crash discards anyway.
 */
int alder_write_file_volatile(const char *path, const void *data, size_t len, mode_t mode, alder_error **err) ALDER_WUR;

/*
 * True for the name of a temporary file of alder_write_file_atomic() or
 * alder_symlink_swap() (".BASE.tmp-XXXXXXXX"): what a crash in the middle of
 * one leaves behind, for recovery code to remove.
 */
bool alder_is_temp_name(const char *name);

/*
 * alder_write_file_atomic() for content that arrives in pieces (a file too
 * large to hold in memory): the pieces go into a temp file beside `path`
 * (".BASE.tmp-XXXXXXXX"); alder_atomic_file_commit() sets the mode, fsyncs
 * it, renames it over `path`, fsyncs the directory and the file again (FAT
 * writes a renamed file's directory entry with the file's inode). Freed without a
 * commit (or after a failed one), the temp file is removed and `path` is
 * untouched. A crash leaves the temp file: alder_is_temp_name() recognises it.
 */
typedef struct alder_atomic_file alder_atomic_file;
int alder_atomic_file_open(const char *path, mode_t mode, alder_atomic_file **ret, alder_error **err) ALDER_WUR;
int alder_atomic_file_write(alder_atomic_file *f, const void *data, size_t len, alder_error **err) ALDER_WUR;
int alder_atomic_file_commit(alder_atomic_file *f, alder_error **err) ALDER_WUR;
void alder_atomic_file_free(alder_atomic_file *f);
static inline void alder_atomic_file_freep(alder_atomic_file **p)
{
        alder_atomic_file_free(*p);
}
#define _cleanup_atomic_file_ _cleanup_(alder_atomic_file_freep)

/* Same as alder_write_file_atomic, relative to an open directory. */
int alder_write_file_atomic_at(int dirfd, const char *dirname_for_errors, const char *name, const void *data,
                               size_t len, mode_t mode, alder_error **err) ALDER_WUR;

/*
 * Reads a whole file of at most max_size bytes (a larger file is refused with
 * EFBIG: we never trust a file to be small). *ret is NUL-terminated. Works on
 * sources without a size (pipes, procfs); max_size is capped at SIZE_MAX / 4.
 */
int alder_read_file(const char *path, size_t max_size, char **ret, size_t *ret_len, alder_error **err) ALDER_WUR;

/*
 * Points symlink `linkpath` at `target`, atomically replacing any existing
 * symlink: readers see the old or the new target, never no link.
 */
int alder_symlink_swap(const char *target, const char *linkpath, alder_error **err) ALDER_WUR;

/*
 * fsyncs every regular file and directory below and including `path`
 * (children before their directory). Symlinks are not followed; other file
 * types (FIFOs, devices, sockets) are skipped, `path` itself included. Depth
 * is bounded (ALDER_FSYNC_TREE_MAX_DEPTH). Every fd it opens is O_CLOEXEC.
 */
#define ALDER_FSYNC_TREE_MAX_DEPTH 256
int alder_fsync_tree(const char *path, alder_error **err) ALDER_WUR;

/* fsyncs the directory that contains `path` (after a rename or unlink in it). */
int alder_fsync_parent_dir(const char *path, alder_error **err) ALDER_WUR;

/*
 * The directory part of a file path, malloc'ed: "a/b/c" -> "a/b", "c" -> ".",
 * "/c" -> "/". A path ending in '/' (or empty) is refused with EINVAL.
 */
int alder_path_parent(const char *path, char **ret, alder_error **err) ALDER_WUR;

/* mkdir -p with `mode` for created directories; existing ones are fine. */
int alder_mkdir_p(const char *path, mode_t mode, alder_error **err) ALDER_WUR;

/*
 * The same, and each directory it makes is made durable (its parent
 * fsynced): for folders whose files must survive a power cut, which the
 * fsync of a file and of its own directory alone does not promise when the
 * directory itself is new.
 */
int alder_mkdir_p_durable(const char *path, mode_t mode, alder_error **err) ALDER_WUR;

/*
 * Joins `rel` below `root` lexically: "." and empty components are dropped,
 * ".." steps back one component but never above root (that is refused with
 * EPERM, naming the path). A leading '/' in rel is taken relative to root, as
 * paths inside a container image are. The result is normalized, with no
 * trailing slash (except a root of "/").
 *
 * This is lexical only: it does not resolve symlinks inside root. Code that
 * opens paths in a tree an attacker controls must also open with O_NOFOLLOW or
 * openat2(RESOLVE_BENEATH).
 */
int alder_path_join(const char *root, const char *rel, char **ret, alder_error **err) ALDER_WUR;

/* read() retried on EINTR: the bytes read (0 at end of file) or a negative errno. */
ssize_t alder_read_some(int fd, void *buf, size_t n);

/* Writes all of data, retrying on EINTR and short writes; errors name `what`. */
int alder_write_all(int fd, const void *data, size_t len, const char *what, alder_error **err) ALDER_WUR;

/*
 * Reads fd from its current offset to its end in chunks of up to 128 KiB and
 * hands each to consume(); a negative return of consume() stops and is
 * returned. Read errors name `what`.
 */
typedef int (*alder_chunk_fn)(void *ctx, const void *buf, size_t n, alder_error **err);
int alder_read_chunks(int fd, const char *what, alder_chunk_fn consume, void *ctx, alder_error **err) ALDER_WUR;

/*
 * A malloc'ed copy of path without trailing slashes ("/" stays "/", "a//" becomes
 * "a"); NULL when out of memory.
 */
char *alder_path_without_trailing_slashes(const char *path);

/*
 * rm -rf that never follows a symlink and is not stopped by read-only
 * directories. A missing path is not an error; ".", ".." and "/" are refused
 * (EINVAL). Depth is bounded (ALDER_REMOVE_TREE_MAX_DEPTH, deeper than
 * anything the unpacker creates).
 */
#define ALDER_REMOVE_TREE_MAX_DEPTH 258u
int alder_remove_tree(const char *path, alder_error **err) ALDER_WUR;

/*
 * The same for the entry `name` of the directory dirfd; `where` names it in
 * messages and `depth` is its level below the top of the removal (for the bound).
 */
int alder_remove_at(int dirfd, const char *name, const char *where, unsigned depth, alder_error **err) ALDER_WUR;

/*
 * Removes the entries of the open directory fd (recursively), except the names
 * keep() (may be NULL) returns true for: an OCI opaque whiteout keeps what its
 * own layer made.
 */
typedef bool (*alder_keep_fn)(void *ctx, const char *name);
int alder_remove_children(int fd, const char *where, unsigned depth, alder_keep_fn keep, void *ctx,
                          alder_error **err) ALDER_WUR;
