/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alder/cleanup.h"
#include "alder/fileio.h"

/* How often to retry when a random temp name is taken (by a leftover or a racer). */
#define TEMP_NAME_ATTEMPTS 16

/* Splits "a/b/c" into a malloc'ed "a/b" (or "." / "/") and a pointer to "c". */
static int split_path(const char *path, char **ret_dir, const char **ret_base, alder_error **err)
{
        size_t len = strlen(path);
        if (len == 0 || path[len - 1] == '/')
                return alder_error_set(err, EINVAL, "'%s': not a file path", path);

        const char *slash = strrchr(path, '/');
        char *dir;
        if (!slash)
                dir = strdup(".");
        else if (slash == path)
                dir = strdup("/");
        else
                dir = strndup(path, (size_t) (slash - path));
        if (!dir)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", path);
        *ret_dir = dir;
        *ret_base = slash ? slash + 1 : path;
        return 0;
}

int alder_path_parent(const char *path, char **ret, alder_error **err)
{
        const char *base;
        return split_path(path, ret, &base, err);
}

static int open_dir(const char *dir, int *ret_fd, alder_error **err)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return alder_error_sys(err, errno, "open directory '%s'", dir);
        *ret_fd = fd;
        return 0;
}

/* Opens path and tells what it is (not before: it may change in between); errors name the path. */
static int open_stat(const char *path, int flags, int *ret_fd, struct stat *ret_st, alder_error **err)
{
        _cleanup_close_ int fd = open(path, flags);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        if (fstat(fd, ret_st) < 0)
                return alder_error_sys(err, errno, "stat '%s'", path);
        *ret_fd = steal_fd(&fd);
        return 0;
}

/* The directory holding a path, opened, plus the path's last component. */
struct parent_dir {
        char *name;       /* "a/b" for "a/b/c" */
        const char *base; /* "c", points into the original path */
        int fd;
};

static void parent_dir_done(struct parent_dir *pd)
{
        free(pd->name);
        alder_closep(&pd->fd);
}

#define _cleanup_parent_dir_ _cleanup_(parent_dir_done)

static int open_parent(const char *path, struct parent_dir *pd, alder_error **err)
{
        *pd = (struct parent_dir){.fd = -1};
        int r = split_path(path, &pd->name, &pd->base, err);
        if (r < 0)
                return r;
        return open_dir(pd->name, &pd->fd, err);
}

static int fsync_fd(int fd, const char *what, alder_error **err)
{
        while (fsync(fd) < 0) {
                if (errno != EINTR)
                        return alder_error_sys(err, errno, "fsync '%s'", what);
        }
        return 0;
}

/*
 * Builds ".NAME.tmp-XXXXXXXX" with a random suffix. Leading dot: readers that
 * scan the directory skip it; the suffix: two writers never share a temp file.
 */
static int temp_name(const char *base, unsigned attempt, char **ret, alder_error **err)
{
        uint32_t r;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
                /*
                 * Early boot, no entropy yet. The pid alone repeats from boot to
                 * boot, and so does a crashed writer's debris: mix in the clock
                 * and the attempt, so that a retry does not meet the same name.
                 */
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                r = (uint32_t) getpid() * 2654435761u ^ (uint32_t) ts.tv_nsec ^ (uint32_t) ts.tv_sec << 20 ^
                    attempt * 0x9e3779b9u;
        }
        if (asprintf(ret, ".%s.tmp-%08x", base, r) < 0)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", base);
        return 0;
}

bool alder_is_temp_name(const char *name)
{
        size_t n = strlen(name);
        const char *tag = n > 14 ? name + n - 13 : NULL; /* ".tmp-" + 8 hex digits */
        if (name[0] != '.' || !tag || strncmp(tag, ".tmp-", 5) != 0)
                return false;
        for (size_t i = 5; i < 13; i++)
                if (!isxdigit((unsigned char) tag[i]))
                        return false;
        return true;
}

ssize_t alder_read_some(int fd, void *buf, size_t n)
{
        for (;;) {
                ssize_t r = read(fd, buf, n);
                if (r >= 0)
                        return r;
                if (errno != EINTR)
                        return -errno;
        }
}

int alder_write_all(int fd, const void *data, size_t len, const char *what, alder_error **err)
{
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return alder_error_sys(err, errno, "write '%s'", what);
                }
                if (n == 0)
                        return alder_error_set(err, EIO, "write '%s': no progress", what);
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int alder_read_chunks(int fd, const char *what, alder_chunk_fn consume, void *ctx, alder_error **err)
{
        _cleanup_free_ uint8_t *buf = malloc(128 * 1024);
        if (!buf)
                return alder_error_set(err, ENOMEM, "read '%s': out of memory", what);
        for (;;) {
                ssize_t n = alder_read_some(fd, buf, 128 * 1024);
                if (n < 0)
                        return alder_error_sys(err, (int) -n, "read '%s'", what);
                if (n == 0)
                        return 0;
                int r = consume(ctx, buf, (size_t) n, err);
                if (r < 0)
                        return r;
        }
}

/* Creates a fresh temp file next to the target; returns its fd and name. */
static int create_temp(int dirfd, const char *dirname, const char *base, char **ret_name, int *ret_fd,
                       alder_error **err)
{
        for (unsigned i = 0; i < TEMP_NAME_ATTEMPTS; i++) {
                _cleanup_free_ char *name = NULL;
                int r = temp_name(base, i, &name, err);
                if (r < 0)
                        return r;
                int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0) {
                        *ret_fd = fd;
                        *ret_name = steal_pointer(&name);
                        return 0;
                }
                if (errno != EEXIST)
                        return alder_error_sys(err, errno, "create temporary file in '%s'", dirname);
        }
        return alder_error_set(err, EEXIST, "create temporary file in '%s': no free name", dirname);
}

static int fill_temp(int fd, const char *shown, const void *data, size_t len, mode_t mode, alder_error **err)
{
        int r = alder_write_all(fd, data, len, shown, err);
        if (r < 0)
                return r;
        /* fchmod, not the open() mode: the umask must not decide a file's mode. */
        if (fchmod(fd, mode) < 0)
                return alder_error_sys(err, errno, "chmod '%s'", shown);
        return fsync_fd(fd, shown, err);
}

int alder_write_file_atomic_at(int dirfd, const char *dirname, const char *name, const void *data, size_t len,
                               mode_t mode, alder_error **err)
{
        _cleanup_free_ char *shown = NULL;
        if (asprintf(&shown, "%s/%s", dirname, name) < 0)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", name);

        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        int r = create_temp(dirfd, dirname, name, &tmp, &fd, err);
        if (r < 0)
                return r;

        r = fill_temp(fd, shown, data, len, mode, err);
        if (r == 0) {
                int fdc = steal_fd(&fd);
                if (close(fdc) < 0 && errno != EINTR)
                        r = alder_error_sys(err, errno, "close '%s'", shown);
        }
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = alder_error_sys(err, errno, "rename temporary file over '%s'", shown);
        if (r < 0) {
                /* The target is untouched; do not leave the temp file as debris. */
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        /* Without this the rename itself may be lost on power cut. */
        return fsync_fd(dirfd, dirname, err);
}

int alder_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, alder_error **err)
{
        _cleanup_parent_dir_ struct parent_dir pd = {.fd = -1};
        int r = open_parent(path, &pd, err);
        if (r < 0)
                return r;
        return alder_write_file_atomic_at(pd.fd, pd.name, pd.base, data, len, mode, err);
}

struct alder_atomic_file {
        struct parent_dir dir;
        char *tmp;   /* the temp file's name in dir; NULL once renamed */
        char *shown; /* the target, for messages */
        int fd;
        mode_t mode;
};

int alder_atomic_file_open(const char *path, mode_t mode, alder_atomic_file **ret, alder_error **err)
{
        _cleanup_free_ alder_atomic_file *f = calloc(1, sizeof(*f));
        if (!f)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", path);
        f->fd = -1;
        f->mode = mode;
        int r = open_parent(path, &f->dir, err);
        if (r == 0 && !(f->shown = strdup(path)))
                r = alder_error_set(err, ENOMEM, "'%s': out of memory", path);
        if (r == 0)
                r = create_temp(f->dir.fd, f->dir.name, f->dir.base, &f->tmp, &f->fd, err);
        if (r < 0) {
                alder_atomic_file_free(steal_pointer(&f));
                return r;
        }
        *ret = steal_pointer(&f);
        return 0;
}

int alder_atomic_file_write(alder_atomic_file *f, const void *data, size_t len, alder_error **err)
{
        if (f->fd < 0)
                return alder_error_set(err, EBADF, "write '%s': already committed", f->shown);
        return alder_write_all(f->fd, data, len, f->shown, err);
}

int alder_atomic_file_commit(alder_atomic_file *f, alder_error **err)
{
        if (f->fd < 0)
                return alder_error_set(err, EBADF, "commit '%s': already committed", f->shown);
        int r = 0;
        if (fchmod(f->fd, f->mode) < 0)
                r = alder_error_sys(err, errno, "chmod '%s'", f->shown);
        if (r == 0)
                r = fsync_fd(f->fd, f->shown, err);
        if (r == 0 && renameat(f->dir.fd, f->tmp, f->dir.fd, f->dir.base) < 0)
                r = alder_error_sys(err, errno, "rename temporary file over '%s'", f->shown);
        if (r < 0)
                return r; /* the temp file goes when f is freed */
        free(f->tmp);
        f->tmp = NULL;
        r = fsync_fd(f->dir.fd, f->dir.name, err);
        /*
         * On FAT the renamed file's directory entry gets its first cluster
         * and size when the file's inode is written, which fsyncing the
         * directory does not do: without this, a power cut leaves an empty
         * file under the new name (found by bench/powercut).
         */
        if (r == 0)
                r = fsync_fd(f->fd, f->shown, err);
        int fd = f->fd;
        f->fd = -1;
        if (close(fd) < 0 && errno != EINTR && r == 0)
                r = alder_error_sys(err, errno, "close '%s'", f->shown);
        return r;
}

void alder_atomic_file_free(alder_atomic_file *f)
{
        if (!f)
                return;
        alder_closep(&f->fd);
        if (f->tmp && f->dir.fd >= 0)
                (void) unlinkat(f->dir.fd, f->tmp, 0);
        parent_dir_done(&f->dir);
        free(f->tmp);
        free(f->shown);
        free(f);
}

int alder_write_file_volatile(const char *path, const void *data, size_t len, mode_t mode, alder_error **err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return alder_error_sys(err, errno, "create '%s'", path);
        int r = alder_write_all(fd, data, len, path, err);
        if (r == 0 && close(steal_fd(&fd)) < 0 && errno != EINTR)
                r = alder_error_sys(err, errno, "close '%s'", path);
        return r;
}

int alder_read_file(const char *path, size_t max_size, char **ret, size_t *ret_len, alder_error **err)
{
        /* "No limit" (SIZE_MAX) must not wrap cap * 2 and max_size + 1 below; no file is read whole that large. */
        max_size = ALDER_MIN(max_size, SIZE_MAX / 4);

        _cleanup_close_ int fd = -1;
        struct stat st;
        int r = open_stat(path, O_RDONLY | O_CLOEXEC | O_NOCTTY, &fd, &st, err);
        if (r < 0)
                return r;
        if (S_ISDIR(st.st_mode))
                return alder_error_set(err, EISDIR, "read '%s': is a directory", path);
        if (S_ISREG(st.st_mode) && (uintmax_t) st.st_size > max_size)
                return alder_error_set(err, EFBIG, "read '%s': file is %jd bytes, limit is %zu", path,
                                       (intmax_t) st.st_size, max_size);

        /* st_size is only a hint (procfs says 0, files grow): read until EOF, bounded. */
        size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t) st.st_size + 1 : 4096;
        size_t len = 0;
        _cleanup_free_ char *buf = malloc(cap + 1);
        if (!buf)
                return alder_error_set(err, ENOMEM, "read '%s': out of memory", path);
        for (;;) {
                if (len == cap) {
                        if (cap > max_size)
                                return alder_error_set(err, EFBIG, "read '%s': more than %zu bytes", path, max_size);
                        size_t ncap = ALDER_MIN(cap * 2, max_size + 1);
                        char *n = realloc(buf, ncap + 1);
                        if (!n)
                                return alder_error_set(err, ENOMEM, "read '%s': out of memory", path);
                        buf = n;
                        cap = ncap;
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return alder_error_sys(err, errno, "read '%s'", path);
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > max_size)
                return alder_error_set(err, EFBIG, "read '%s': more than %zu bytes", path, max_size);
        buf[len] = '\0';
        *ret = steal_pointer(&buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int alder_symlink_swap(const char *target, const char *linkpath, alder_error **err)
{
        _cleanup_parent_dir_ struct parent_dir pd = {.fd = -1};
        int r = open_parent(linkpath, &pd, err);
        if (r < 0)
                return r;

        _cleanup_free_ char *tmp = NULL;
        for (unsigned i = 0;; i++) {
                free(tmp);
                tmp = NULL;
                r = temp_name(pd.base, i, &tmp, err);
                if (r < 0)
                        return r;
                if (symlinkat(target, pd.fd, tmp) == 0)
                        break;
                if (errno != EEXIST || i == TEMP_NAME_ATTEMPTS - 1)
                        return alder_error_sys(err, errno, "create symlink '%s' -> '%s'", linkpath, target);
        }
        if (renameat(pd.fd, tmp, pd.fd, pd.base) < 0) {
                r = alder_error_sys(err, errno, "rename symlink over '%s'", linkpath);
                (void) unlinkat(pd.fd, tmp, 0);
                return r;
        }
        return fsync_fd(pd.fd, pd.name, err);
}

int alder_fsync_parent_dir(const char *path, alder_error **err)
{
        _cleanup_parent_dir_ struct parent_dir pd = {.fd = -1};
        int r = open_parent(path, &pd, err);
        if (r < 0)
                return r;
        return fsync_fd(pd.fd, pd.name, err);
}

/*
 * How fsync_tree opens what it flushes. O_NONBLOCK: a FIFO swapped in after
 * the stat would otherwise block the open until a writer comes.
 */
#define FSYNC_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK)

static int fsync_tree_at(int fd, const char *shown, unsigned depth, alder_error **err);

static int fsync_entry(int dirfd, const char *dirshown, const struct dirent *de, unsigned depth, alder_error **err)
{
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return alder_error_sys(err, errno, "stat '%s/%s'", dirshown, de->d_name);
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                return 0; /* symlinks, devices, fifos: nothing to flush or unsafe to open */

        _cleanup_free_ char *shown = NULL;
        if (asprintf(&shown, "%s/%s", dirshown, de->d_name) < 0)
                return alder_error_set(err, ENOMEM, "fsync '%s': out of memory", dirshown);
        int flags = FSYNC_OPEN_FLAGS | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
        _cleanup_close_ int fd = openat(dirfd, de->d_name, flags);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", shown);
        if (S_ISDIR(st.st_mode))
                return fsync_tree_at(steal_fd(&fd), shown, depth + 1, err);
        return fsync_fd(fd, shown, err);
}

/* Takes ownership of fd (a directory). */
static int fsync_tree_at(int fd, const char *shown, unsigned depth, alder_error **err)
{
        if (depth > ALDER_FSYNC_TREE_MAX_DEPTH) {
                close(fd);
                return alder_error_set(err, ELOOP, "fsync '%s': deeper than %d levels", shown,
                                       ALDER_FSYNC_TREE_MAX_DEPTH);
        }
        _cleanup_close_ int own = fd;
        /* CLOEXEC like every fd we open: another thread may spawn a child meanwhile. */
        int scan_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (scan_fd < 0)
                return alder_error_sys(err, errno, "dup '%s'", shown);
        _cleanup_closedir_ DIR *d = fdopendir(scan_fd);
        if (!d) {
                close(scan_fd);
                return alder_error_sys(err, errno, "open directory '%s'", shown);
        }
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return alder_error_sys(err, errno, "read directory '%s'", shown);
                        break;
                }
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                int r = fsync_entry(own, shown, de, depth, err);
                if (r < 0)
                        return r;
        }
        /* The directory last: its entries must point at durable inodes. */
        return fsync_fd(own, shown, err);
}

int alder_fsync_tree(const char *path, alder_error **err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r = open_stat(path, FSYNC_OPEN_FLAGS, &fd, &st, err);
        if (r < 0)
                return r;
        if (S_ISREG(st.st_mode))
                return fsync_fd(fd, path, err);
        if (!S_ISDIR(st.st_mode))
                return 0; /* devices, fifos, sockets: as below the top, nothing to flush */
        return fsync_tree_at(steal_fd(&fd), path, 0, err);
}

/* 1 when it made the directory, 0 when there was one. */
static int mkdir_one(const char *path, mode_t mode, alder_error **err)
{
        if (mkdir(path, mode) == 0)
                return 1;
        if (errno != EEXIST)
                return alder_error_sys(err, errno, "mkdir '%s'", path);
        struct stat st;
        if (stat(path, &st) < 0)
                return alder_error_sys(err, errno, "stat '%s'", path);
        if (!S_ISDIR(st.st_mode))
                return alder_error_set(err, ENOTDIR, "mkdir '%s': exists and is not a directory", path);
        return 0;
}

static int mkdir_p(const char *path, mode_t mode, bool durable, alder_error **err)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return alder_error_set(err, ENOMEM, "mkdir '%s': out of memory", path);
        size_t len = strlen(p);
        if (len == 0)
                return alder_error_set(err, EINVAL, "mkdir: empty path");

        /* Create each prefix in turn; "a/b/c" → "a", "a/b", "a/b/c". */
        for (size_t i = 1; i <= len; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                char saved = p[i];
                p[i] = '\0';
                int r = mkdir_one(p, mode, err);
                if (r > 0 && durable)
                        r = alder_fsync_parent_dir(p, err);
                if (r < 0)
                        return r;
                p[i] = saved;
        }
        return 0;
}

int alder_mkdir_p(const char *path, mode_t mode, alder_error **err)
{
        return mkdir_p(path, mode, false, err);
}

int alder_mkdir_p_durable(const char *path, mode_t mode, alder_error **err)
{
        return mkdir_p(path, mode, true, err);
}

int alder_path_join(const char *root, const char *rel, char **ret, alder_error **err)
{
        size_t root_len = strlen(root);
        while (root_len > 1 && root[root_len - 1] == '/')
                root_len--;
        if (root_len == 0)
                return alder_error_set(err, EINVAL, "join '%s': empty root", rel);

        /* Worst case the result is root + '/' + rel. */
        size_t cap = root_len + strlen(rel) + 2;
        _cleanup_free_ char *out = malloc(cap);
        if (!out)
                return alder_error_set(err, ENOMEM, "join '%s': out of memory", rel);
        memcpy(out, root, root_len);
        size_t base_len = root_len == 1 && root[0] == '/' ? 0 : root_len;
        size_t len = base_len;

        const char *p = rel;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *end = strchrnul(p, '/');
                size_t n = (size_t) (end - p);
                if (n == 0 || (n == 1 && p[0] == '.')) {
                        /* nothing */
                } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (len == base_len)
                                return alder_error_set(err, EPERM, "path '%s' escapes '%.*s'", rel, (int) root_len,
                                                       root);
                        while (len > base_len && out[len - 1] != '/')
                                len--;
                        len--; /* the separating '/' */
                } else {
                        out[len++] = '/';
                        memcpy(out + len, p, n);
                        len += n;
                }
                p = end;
        }
        if (len == 0) /* root "/" and nothing below it */
                out[len++] = '/';
        out[len] = '\0';
        *ret = steal_pointer(&out);
        return 0;
}

/* ---- removal ----------------------------------------------------------------------------------------- */

static int not_dots(const struct dirent *de)
{
        return strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
}

static void free_names(struct dirent **names, int n)
{
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

int alder_remove_children(int fd, const char *where, unsigned depth, alder_keep_fn keep, void *ctx, alder_error **err)
{
        struct stat st;
        /* Without write and search permission we could not unlink in it (when not root). */
        if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
                (void) fchmod(fd, (st.st_mode & 07777) | 0700);
        /* All names first: the directory changes while we remove. */
        struct dirent **names = NULL;
        int n = scandirat(fd, ".", &names, not_dots, NULL);
        if (n < 0)
                return alder_error_sys(err, errno, "read directory '%s'", where);
        int r = 0;
        for (int i = 0; r == 0 && i < n; i++) {
                const char *name = names[i]->d_name;
                if (keep && keep(ctx, name))
                        continue;
                _cleanup_free_ char *child = NULL;
                if (asprintf(&child, "%s/%s", where, name) < 0)
                        r = alder_error_set(err, ENOMEM, "remove '%s': out of memory", where);
                else
                        r = alder_remove_at(fd, name, child, depth + 1, err);
        }
        free_names(names, n);
        return r;
}

int alder_remove_at(int dirfd, const char *name, const char *where, unsigned depth, alder_error **err)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "stat '%s'", where);
        if (S_ISDIR(st.st_mode)) {
                if (depth >= ALDER_REMOVE_TREE_MAX_DEPTH)
                        return alder_error_set(err, ELOOP, "remove '%s': deeper than %u levels", where,
                                               ALDER_REMOVE_TREE_MAX_DEPTH);
                if (!(st.st_mode & S_IXUSR))
                        (void) fchmodat(dirfd, name, 0700, 0);
                _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return alder_error_sys(err, errno, "open directory '%s'", where);
                int r = alder_remove_children(fd, where, depth, NULL, NULL, err);
                if (r < 0)
                        return r;
        }
        if (unlinkat(dirfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
                return alder_error_sys(err, errno, "remove '%s'", where);
        return 0;
}

char *alder_path_without_trailing_slashes(const char *path)
{
        char *copy = strdup(path);
        size_t len = copy ? strlen(copy) : 0;
        while (len > 1 && copy[len - 1] == '/')
                copy[--len] = '\0';
        return copy;
}

int alder_remove_tree(const char *path, alder_error **err)
{
        _cleanup_free_ char *copy = alder_path_without_trailing_slashes(path);
        if (!copy)
                return alder_error_set(err, ENOMEM, "remove '%s': out of memory", path);
        char *slash = strrchr(copy, '/');
        const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
        const char *name = slash ? slash + 1 : copy;
        if (slash && slash != copy)
                *slash = '\0';
        if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return alder_error_set(err, EINVAL, "remove '%s': not a removable path", path);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "open directory '%s'", dir);
        return alder_remove_at(dfd, name, path, 0, err);
}
