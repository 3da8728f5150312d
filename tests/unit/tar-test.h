/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds tar archives in memory with libarchive's write API, for the unit
 * tests of the unpacker and the image reader. Include after <cmocka.h>.
 */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#define HARDLINK 1 /* ent.type: a hard link to ent.data */

/* A plain file "n" holding "d". */
#define REG(n, d) .name = (n), .type = AE_IFREG, .perm = 0644, .data = (d)

struct ent {
        const char *name;
        unsigned type;     /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, ... or HARDLINK */
        unsigned perm;     /* 0: 0644 for files, 0755 for directories */
        const char *data;  /* file content, symlink target or hard link target */
        size_t data_len;   /* of binary content; 0: strlen(data) */
        int64_t size;      /* declared size if not the data's length */
        const char *xattr; /* "name=value" */
        size_t xattr_len;  /* of the value, if not its strlen */
        unsigned uid, gid;
        time_t mtime;
        unsigned rdev_major, rdev_minor;
};

struct buf {
        uint8_t *data;
        size_t len, cap;
        bool frozen; /* further writes fail (stops libarchive from padding a huge declared size) */
};

static void buf_free(struct buf *b)
{
        free(b->data);
        *b = (struct buf){0};
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2;
                b->data = realloc(b->data, b->cap);
                assert_non_null(b->data);
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

static la_ssize_t buf_write(struct archive *a, void *ctx, const void *p, size_t n)
{
        struct buf *b = ctx;
        if (b->frozen) {
                archive_set_error(a, EIO, "frozen");
                return -1;
        }
        buf_append(b, p, n);
        return (la_ssize_t) n;
}

enum filter { PLAIN, GZIP, ZSTD };

/* 0: no padding; else the tar is padded with zeros to a multiple of it, before compression. */
static int tar_block_size;

static struct archive *tar_begin(struct buf *b, enum filter f)
{
        struct archive *a = archive_write_new();
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (f == GZIP)
                assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        if (f == ZSTD)
                assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        assert_int_equal(archive_write_set_bytes_per_block(a, tar_block_size), ARCHIVE_OK);
        assert_int_equal(archive_write_open(a, b, NULL, buf_write, NULL), ARCHIVE_OK);
        return a;
}

static void tar_add(struct archive *a, const struct ent *e)
{
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e->name);
        unsigned type = e->type ? e->type : AE_IFREG;
        size_t dlen = e->data_len ? e->data_len : e->data ? strlen(e->data) : 0;
        if (type == HARDLINK) {
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_set_hardlink(ae, e->data);
        } else {
                archive_entry_set_filetype(ae, type);
        }
        archive_entry_set_perm(ae, e->perm ? e->perm : type == AE_IFDIR ? 0755 : 0644);
        if (type == AE_IFLNK)
                archive_entry_set_symlink(ae, e->data);
        if (type == AE_IFREG)
                archive_entry_set_size(ae, e->size ? e->size : (int64_t) dlen);
        if (type == AE_IFCHR || type == AE_IFBLK)
                archive_entry_set_rdev(ae, makedev(e->rdev_major, e->rdev_minor));
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, e->mtime ? e->mtime : 1600000000, 0);
        if (e->xattr) {
                const char *eq = strchr(e->xattr, '=');
                char name[64];
                snprintf(name, sizeof(name), "%.*s", (int) (eq - e->xattr), e->xattr);
                archive_entry_xattr_add_entry(ae, name, eq + 1, e->xattr_len ? e->xattr_len : strlen(eq + 1));
        }
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (type == AE_IFREG && dlen)
                assert_int_equal(archive_write_data(a, e->data, dlen), (la_ssize_t) dlen);
        archive_entry_free(ae);
}

static void tar_end(struct archive *a)
{
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

/* An archive of the entries up to the first one without a name. */
static void build(struct buf *b, enum filter f, const struct ent *ents)
{
        struct archive *a = tar_begin(b, f);
        for (const struct ent *e = ents; e->name; e++)
                tar_add(a, e);
        tar_end(a);
}
