/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/slot.h"

#define UEVENT_MAX_SIZE 4096

struct alder_slot {
        char *path;
        int fd;
        uint64_t capacity;
        uint64_t reserved;
        bool has_reserved;
        uint64_t written;
        alder_sha256 *hash;
};

static int slot_capacity(int fd, const char *path, uint64_t *ret, alder_error **err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return alder_error_sys(err, errno, "slot '%s': stat", path);
        if (S_ISREG(st.st_mode)) {
                *ret = (uint64_t) st.st_size;
                return 0;
        }
        if (!S_ISBLK(st.st_mode))
                return alder_error_set(err, ENOTBLK, "slot '%s' is neither a block device nor a regular file", path);
        uint64_t size = 0;
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                return alder_error_sys(err, errno, "slot '%s': BLKGETSIZE64", path);
        *ret = size;
        return 0;
}

/* PARTNAME= and DEVNAME= of a uevent text (split into lines in place); NULL when absent. */
static void uevent_names(char *text, const char **ret_part, const char **ret_dev)
{
        *ret_part = *ret_dev = NULL;
        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strncmp(line, "PARTNAME=", 9) == 0)
                        *ret_part = line + 9;
                else if (strncmp(line, "DEVNAME=", 8) == 0)
                        *ret_dev = line + 8;
        }
}

/* Whether entry `name` of sysfs_block is the partition `label` (1, its device in *ret) or not (0). */
static int match_partition(const char *sysfs_block, const char *dev_dir, const char *name, const char *label,
                           char **ret, alder_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        if (asprintf(&path, "%s/%s/uevent", sysfs_block, name) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (alder_read_file(path, UEVENT_MAX_SIZE, &text, NULL, NULL) < 0)
                return 0; /* gone meanwhile, or not a device */
        const char *part, *dev;
        uevent_names(text, &part, &dev);
        if (!part || strcmp(part, label) != 0)
                return 0;
        if (asprintf(ret, "%s/%s", dev_dir, dev && *dev && !strchr(dev, '/') ? dev : name) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        return 1;
}

int alder_slot_find_partition(const char *sysfs_block, const char *dev_dir, const char *label, char **ret,
                              alder_error **err)
{
        _cleanup_closedir_ DIR *d = opendir(sysfs_block);
        if (!d)
                return alder_error_sys(err, errno, "open '%s'", sysfs_block);
        _cleanup_free_ char *found = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *dev = NULL;
                int r = match_partition(sysfs_block, dev_dir, de->d_name, label, &dev, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                if (found)
                        return alder_error_set(err, ENOTUNIQ, "two partitions are labelled '%s': %s and %s", label,
                                               found, dev);
                found = steal_pointer(&dev);
        }
        if (!found)
                return alder_error_set(err, ENOENT, "no partition is labelled '%s' (PARTNAME in %s/*/uevent)", label,
                                       sysfs_block);
        *ret = steal_pointer(&found);
        return 0;
}

int alder_slot_open(const char *path, alder_slot **ret, alder_error **err)
{
        _cleanup_free_ alder_slot *s = calloc(1, sizeof(*s));
        if (!s)
                return alder_error_set(err, ENOMEM, "slot '%s': out of memory", path);
        /* Never O_CREAT or O_TRUNC: a slot is a partition, a missing one is a configuration error. */
        s->fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (s->fd < 0)
                return alder_error_sys(err, errno, "open slot '%s'", path);
        int r = slot_capacity(s->fd, path, &s->capacity, err);
        if (r == 0)
                r = alder_sha256_new(&s->hash, err);
        if (r == 0 && !(s->path = strdup(path)))
                r = alder_error_set(err, ENOMEM, "slot '%s': out of memory", path);
        if (r < 0) {
                close(s->fd);
                alder_sha256_free(s->hash);
                return r;
        }
        *ret = steal_pointer(&s);
        return 0;
}

uint64_t alder_slot_capacity(const alder_slot *s)
{
        return s->capacity;
}

int alder_slot_reserve(alder_slot *s, uint64_t size, alder_error **err)
{
        if (size > s->capacity)
                return alder_error_set(err, ENOSPC,
                                       "image of %" PRIu64 " bytes does not fit slot '%s' (%" PRIu64 " bytes)", size,
                                       s->path, s->capacity);
        s->reserved = size;
        s->has_reserved = true;
        return 0;
}

uint64_t alder_slot_written(const alder_slot *s)
{
        return s->written;
}

int alder_slot_write(alder_slot *s, const void *buf, size_t len, alder_error **err)
{
        if (!s->has_reserved)
                return alder_error_set(err, EINVAL, "slot '%s': image size not declared", s->path);
        if (len > s->reserved - s->written)
                return alder_error_set(err, EFBIG, "slot '%s': more than the declared %" PRIu64 " bytes", s->path,
                                       s->reserved);
        int r = alder_write_all(s->fd, buf, len, s->path, err);
        if (r < 0)
                return r;
        alder_sha256_update(s->hash, buf, len);
        s->written += len;
        return 0;
}

/* Reads the image's length back from the slot itself, not from the page cache. */
static int read_back(alder_slot *s, uint8_t out[ALDER_SHA256_LEN], alder_error **err)
{
        (void) posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED);
        if (lseek(s->fd, 0, SEEK_SET) < 0)
                return alder_error_sys(err, errno, "slot '%s': seek", s->path);
        _cleanup_sha256_ alder_sha256 *h = NULL;
        int r = alder_sha256_new(&h, err);
        if (r < 0)
                return r;
        uint8_t buf[64 * 1024];
        for (uint64_t left = s->written; left > 0;) {
                size_t want = left < sizeof(buf) ? (size_t) left : sizeof(buf);
                ssize_t n = alder_read_some(s->fd, buf, want);
                if (n < 0)
                        return alder_error_sys(err, (int) -n, "slot '%s': read back", s->path);
                if (n == 0)
                        return alder_error_set(err, EIO, "slot '%s': read back ends %" PRIu64 " bytes early", s->path,
                                               left);
                alder_sha256_update(h, buf, (size_t) n);
                left -= (uint64_t) n;
        }
        return alder_sha256_final(h, out, err);
}

int alder_slot_finish(alder_slot *s, uint8_t ret_digest[ALDER_SHA256_LEN], alder_error **err)
{
        if (!s->has_reserved || s->written != s->reserved)
                return alder_error_set(err, EBADMSG, "slot '%s': %" PRIu64 " of %" PRIu64 " bytes written", s->path,
                                       s->written, s->reserved);
        if (fsync(s->fd) < 0)
                return alder_error_sys(err, errno, "slot '%s': fsync", s->path);
        uint8_t wrote[ALDER_SHA256_LEN], got[ALDER_SHA256_LEN];
        int r = alder_sha256_final(s->hash, wrote, err);
        if (r == 0)
                r = read_back(s, got, err);
        if (r < 0)
                return r;
        if (memcmp(wrote, got, sizeof(got)) != 0)
                return alder_error_set(err, EIO, "slot '%s': read back differs from what was written", s->path);
        if (ret_digest)
                memcpy(ret_digest, got, sizeof(got));
        return 0;
}

void alder_slot_close(alder_slot *s)
{
        if (!s)
                return;
        if (s->fd >= 0)
                close(s->fd);
        alder_sha256_free(s->hash);
        free(s->path);
        free(s);
}
