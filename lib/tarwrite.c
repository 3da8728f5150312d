/* SPDX-License-Identifier: Apache-2.0 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/tarwrite.h"

#define MAX_DEPTH             256
#define XATTR_LIST_MAX_BYTES  (64 * 1024)
#define XATTR_VALUE_MAX_BYTES (64 * 1024)

/* First path seen for an inode with several links, to store later ones as hard links. */
struct link_seen {
        dev_t dev;
        ino_t ino;
        char *path;
};

struct tar_writer {
        struct archive *a;
        int out_fd;
        alder_sha256 *hash;
        alder_tar_write_result *res;
        const alder_tar_write_opts *opts;
        struct link_seen *links;
        size_t n_links, cap_links;
        int write_errno; /* errno of a failed write to out_fd, for the message */
};

static void archive_freep(struct archive **a)
{
        if (*a)
                archive_write_free(*a);
}

static void entry_freep(struct archive_entry **e)
{
        if (*e)
                archive_entry_free(*e);
}

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
        struct tar_writer *w = ctx;
        int r = alder_write_all(w->out_fd, buf, len, "archive", NULL);
        if (r < 0) {
                w->write_errno = -r;
                archive_set_error(a, -r, "write: %s", strerror(-r));
                return -1;
        }
        alder_sha256_update(w->hash, buf, len);
        w->res->bytes_out += len;
        return (la_ssize_t) len;
}

static int archive_fail(struct tar_writer *w, const char *what, const char *path, alder_error **err)
{
        int e = w->write_errno ? w->write_errno : archive_errno(w->a);
        if (e <= 0)
                e = EIO;
        return alder_error_set(err, e, "%s '%s': %s", what, path, archive_error_string(w->a));
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
        return strcmp((*a)->d_name, (*b)->d_name); /* byte order, not the locale's */
}

static int skip_dots(const struct dirent *d)
{
        return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static const char *remember_link(struct tar_writer *w, const struct stat *st, const char *path)
{
        for (size_t i = 0; i < w->n_links; i++)
                if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino)
                        return w->links[i].path;
        if (w->n_links == w->cap_links) {
                size_t cap = w->cap_links ? w->cap_links * 2 : 16;
                struct link_seen *n = realloc(w->links, cap * sizeof(*n));
                if (!n)
                        return NULL; /* stored as a plain copy: correct, just larger */
                w->links = n;
                w->cap_links = cap;
        }
        char *copy = strdup(path);
        if (copy)
                w->links[w->n_links++] = (struct link_seen){st->st_dev, st->st_ino, copy};
        return NULL;
}

static int add_xattrs(struct archive_entry *e, int dirfd, const char *name, const char *path, alder_error **err)
{
        _cleanup_free_ char *proc = NULL;
        /* l*xattr on "/proc/self/fd/N/name" would follow; use the dirfd-relative path via /proc. */
        if (asprintf(&proc, "/proc/self/fd/%d/%s", dirfd, name) < 0)
                return alder_error_set(err, ENOMEM, "xattrs of '%s': out of memory", path);
        char list[XATTR_LIST_MAX_BYTES];
        ssize_t n = llistxattr(proc, list, sizeof(list));
        if (n < 0) {
                if (errno == ENOTSUP || errno == ENODATA)
                        return 0;
                return alder_error_sys(err, errno, "list xattrs of '%s'", path);
        }
        for (ssize_t off = 0; off < n; off += (ssize_t) strlen(list + off) + 1) {
                const char *key = list + off;
                char value[XATTR_VALUE_MAX_BYTES];
                ssize_t vn = lgetxattr(proc, key, value, sizeof(value));
                if (vn < 0) {
                        if (errno == ENODATA)
                                continue; /* removed meanwhile */
                        return alder_error_sys(err, errno, "read xattr '%s' of '%s'", key, path);
                }
                archive_entry_xattr_add_entry(e, key, value, (size_t) vn);
        }
        return 0;
}

struct data_ctx {
        struct tar_writer *w;
        const char *path;
};

static int archive_chunk(void *ctx, const void *buf, size_t n, alder_error **err)
{
        struct data_ctx *c = ctx;
        if (archive_write_data(c->w->a, buf, n) < 0)
                return archive_fail(c->w, "write", c->path, err);
        c->w->res->bytes_in += n;
        return 0;
}

static int copy_file_data(struct tar_writer *w, int dirfd, const char *name, const char *path, alder_error **err)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        struct data_ctx ctx = {.w = w, .path = path};
        return alder_read_chunks(fd, path, archive_chunk, &ctx, err);
}

static int fill_entry(struct tar_writer *w, struct archive_entry *e, int dirfd, const char *name, const char *path,
                      const struct stat *st, bool *ret_has_data, alder_error **err)
{
        archive_entry_copy_stat(e, st);
        /* Only what defines the content: no atime/ctime, so packs are reproducible. */
        archive_entry_unset_atime(e);
        archive_entry_unset_ctime(e);
        archive_entry_unset_birthtime(e);
        *ret_has_data = false;

        if (S_ISDIR(st->st_mode)) {
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/", path) < 0)
                        return alder_error_set(err, ENOMEM, "'%s': out of memory", path);
                archive_entry_copy_pathname(e, dir);
        } else {
                archive_entry_copy_pathname(e, path);
        }

        if (S_ISLNK(st->st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return alder_error_sys(err, errno, "readlink '%s'", path);
                target[n] = '\0';
                archive_entry_copy_symlink(e, target);
        } else if (S_ISREG(st->st_mode)) {
                const char *first = st->st_nlink > 1 ? remember_link(w, st, path) : NULL;
                if (first) {
                        archive_entry_copy_hardlink(e, first);
                        archive_entry_set_size(e, 0);
                } else {
                        *ret_has_data = true;
                }
                if (st->st_mode & (S_ISUID | S_ISGID))
                        w->res->setuid_files++;
        } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
                w->res->device_nodes++;
        } else if (S_ISSOCK(st->st_mode)) {
                return alder_error_set(err, EINVAL, "'%s': sockets cannot be packed", path);
        }
        if (!S_ISLNK(st->st_mode))
                return add_xattrs(e, dirfd, name, path, err);
        return 0;
}

static int write_tree_at(struct tar_writer *w, int dirfd, const char *prefix, unsigned depth, alder_error **err);

static int write_one(struct tar_writer *w, int dirfd, const char *name, const char *path, unsigned depth,
                     alder_error **err)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return alder_error_sys(err, errno, "stat '%s'", path);

        __attribute__((cleanup(entry_freep))) struct archive_entry *e = archive_entry_new();
        if (!e)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", path);
        bool has_data;
        int r = fill_entry(w, e, dirfd, name, path, &st, &has_data, err);
        if (r < 0)
                return r;
        if (archive_write_header(w->a, e) != ARCHIVE_OK)
                return archive_fail(w, "write header of", path, err);
        if (has_data) {
                r = copy_file_data(w, dirfd, name, path, err);
                if (r < 0)
                        return r;
        }
        w->res->entries++;
        if (w->opts->progress)
                w->opts->progress(w->opts->progress_ctx, w->res->entries, w->res->bytes_in);

        if (!S_ISDIR(st.st_mode))
                return 0;
        int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (sub < 0)
                return alder_error_sys(err, errno, "open directory '%s'", path);
        r = write_tree_at(w, sub, path, depth + 1, err);
        close(sub);
        return r;
}

static void free_namelist(struct dirent **list, int n)
{
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
}

static int write_tree_at(struct tar_writer *w, int dirfd, const char *prefix, unsigned depth, alder_error **err)
{
        if (depth > MAX_DEPTH)
                return alder_error_set(err, ELOOP, "'%s': deeper than %d levels", prefix, MAX_DEPTH);
        struct dirent **list = NULL;
        /* scandirat: a sorted listing, so the archive does not depend on readdir order. */
        int n = scandirat(dirfd, ".", &list, skip_dots, cmp_names);
        if (n < 0)
                return alder_error_sys(err, errno, "list directory '%s'", *prefix ? prefix : ".");
        int r = 0;
        for (int i = 0; i < n && r == 0; i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", list[i]->d_name) < 0)
                        r = alder_error_set(err, ENOMEM, "'%s': out of memory", prefix);
                else
                        r = write_one(w, dirfd, list[i]->d_name, path, depth, err);
        }
        free_namelist(list, n);
        return r;
}

static int setup_archive(struct tar_writer *w, alder_error **err)
{
        w->a = archive_write_new();
        if (!w->a)
                return alder_error_set(err, ENOMEM, "tar writer: out of memory");
        int level = w->opts->zstd_level ? w->opts->zstd_level : 3;
        /*
         * Compress on every core: packing is bound by zstd. With one worker or
         * more, zstd's output does not depend on the number of workers, so
         * packs stay reproducible across machines (never 0 = another mode).
         */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        char level_opt[64];
        snprintf(level_opt, sizeof(level_opt), "zstd:compression-level=%d,zstd:threads=%ld", level,
                 cpus > 1 ? ALDER_MIN(cpus, 8) : 1);
        if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
            archive_write_add_filter_zstd(w->a) != ARCHIVE_OK ||
            archive_write_set_options(w->a, level_opt) != ARCHIVE_OK ||
            /* no padding of the last block beyond the tar format's own */
            archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
                return alder_error_set(err, EINVAL, "tar writer: %s", archive_error_string(w->a));
        if (archive_write_open2(w->a, w, NULL, write_cb, NULL, NULL) != ARCHIVE_OK)
                return alder_error_set(err, EIO, "tar writer: %s", archive_error_string(w->a));
        return 0;
}

int alder_tar_write_tree(const char *root, int out_fd, const alder_tar_write_opts *opts, alder_tar_write_result *ret,
                         alder_error **err)
{
        static const alder_tar_write_opts defaults = {0};
        alder_tar_write_result res = {0};
        struct tar_writer w = {.out_fd = out_fd, .res = &res, .opts = opts ? opts : &defaults};
        __attribute__((cleanup(archive_freep))) struct archive *a = NULL;
        _cleanup_sha256_ alder_sha256 *hash = NULL;

        int r = alder_sha256_new(&hash, err);
        if (r < 0)
                return r;
        w.hash = hash;
        _cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return alder_error_sys(err, errno, "open directory '%s'", root);

        r = setup_archive(&w, err);
        a = w.a;
        if (r == 0)
                r = write_tree_at(&w, rootfd, "", 0, err);
        if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
                r = archive_fail(&w, "finish archive of", root, err);
        for (size_t i = 0; i < w.n_links; i++)
                free(w.links[i].path);
        free(w.links);
        if (r < 0)
                return alder_error_wrap(err, "pack '%s'", root);
        r = alder_sha256_final(hash, res.digest, err);
        if (r < 0)
                return r;
        *ret = res;
        return 0;
}
