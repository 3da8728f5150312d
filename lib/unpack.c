/* SPDX-License-Identifier: Apache-2.0 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "alder/cleanup.h"
#include "alder/fileio.h"
#include "alder/unpack.h"

#define IO_BUF_SIZE (128u * 1024u)

/* A name quoted in a message is cut after this many bytes; each byte takes up to 4 characters. */
#define SHOWN_MAX       200u
#define SHOWN_SIZE      (SHOWN_MAX * 4u + 4u)

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* cleanup functions for libarchive's types: NULL-safe, like the ones in cleanup.h */
#define DEFINE_FREEP(name, type, destroy)   \
        static void name(type **p)          \
        {                                   \
                if (*p)                     \
                        (void) destroy(*p); \
        }

DEFINE_FREEP(archive_read_freep, struct archive, archive_read_free)
DEFINE_FREEP(linkresolver_freep, struct archive_entry_linkresolver, archive_entry_linkresolver_free)

#define _cleanup_archive_read_ _cleanup_(archive_read_freep)
#define _cleanup_linkresolver_ _cleanup_(linkresolver_freep)

const char *alder_unpack_compression_name(alder_unpack_compression c)
{
        switch (c) {
        case ALDER_UNPACK_COMPRESSION_AUTO:
                return "auto";
        case ALDER_UNPACK_COMPRESSION_NONE:
                return "none";
        case ALDER_UNPACK_COMPRESSION_GZIP:
                return "gzip";
        case ALDER_UNPACK_COMPRESSION_ZSTD:
                return "zstd";
        }
        return "unknown";
}

const char *alder_unpack_feature_name(alder_unpack_feature f)
{
        static const char *const names[ALDER_UNPACK_FEATURE_COUNT] = {"setuid", "device", "capability"};
        return (unsigned) f < ALDER_UNPACK_FEATURE_COUNT ? names[f] : "unknown";
}

/* Quotable form of a name from the archive: control characters, quotes and backslashes escaped, cut when long. */
static const char *show_name(const char *name, char out[SHOWN_SIZE])
{
        size_t o = 0, i;
        for (i = 0; name[i] && i < SHOWN_MAX; i++) {
                unsigned char c = (unsigned char) name[i];
                if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
                        o += (size_t) snprintf(out + o, 5, "\\x%02x", c);
                else
                        out[o++] = (char) c;
        }
        if (name[i]) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o] = '\0';
        return out;
}

/* Moves the error *from into *to (which may be NULL: then it is just freed); returns its -errno. */
static int move_error(alder_error **to, alder_error **from)
{
        int r = -alder_error_errno(*from);
        if (to) {
                alder_error_clear(to);
                *to = steal_pointer(from);
        } else {
                alder_error_clear(from);
        }
        return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* ---- input: raw bytes from the caller, decompressed here ---------------------------------------------------- */

struct source {
        alder_unpack_read_fn read;
        void *ctx;
        alder_unpack_compression want, kind;
        alder_error *error; /* the first failure; libarchive only echoes it */
        uint64_t raw_bytes;
        uint64_t produced, max_produced;
        const uint8_t *last; /* the chunk handed out last, still valid until the next one */
        size_t last_len;
        bool in_eof, stream_end;
        size_t in_pos, in_len;
        z_stream z;
        bool z_ready;
        ZSTD_DStream *zs;
        size_t zret; /* last ZSTD_decompressStream() result: 0 once a frame is complete */
        uint8_t in[IO_BUF_SIZE];
        uint8_t out[IO_BUF_SIZE];
};

static void source_free(struct source *s)
{
        if (!s)
                return;
        if (s->z_ready)
                inflateEnd(&s->z);
        ZSTD_freeDStream(s->zs);
        alder_error_free(s->error);
        free(s);
}

static void source_freep(struct source **s)
{
        source_free(*s);
}

#define _cleanup_source_ _cleanup_(source_freep)

/* Records the first failure of the input (later ones are its echoes) and returns -1. */
#define source_fail(s, errnum, ...) ((s)->error ? -1 : (alder_error_set(&(s)->error, errnum, __VA_ARGS__), -1))

/* Appends one read of the caller's input to `in` (which must have room). */
static ssize_t source_read_more(struct source *s)
{
        for (;;) {
                errno = 0;
                ssize_t n = s->read(s->ctx, s->in + s->in_len, sizeof(s->in) - s->in_len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = errno ? errno : EIO;
                        return source_fail(s, e, "read input: %s", strerror(e));
                }
                if ((size_t) n > sizeof(s->in) - s->in_len)
                        return source_fail(s, EIO, "read input: callback returned more than asked for");
                if (n == 0)
                        s->in_eof = true;
                s->in_len += (size_t) n;
                s->raw_bytes += (uint64_t) n;
                return n;
        }
}

/* Makes sure `in` holds unconsumed bytes unless the input is at its end. */
static int source_fill(struct source *s)
{
        if (s->in_pos < s->in_len || s->in_eof)
                return 0;
        s->in_pos = s->in_len = 0;
        return source_read_more(s) < 0 ? -1 : 0;
}

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static alder_unpack_compression sniff(const uint8_t *p, size_t n, const char **ret_unsupported)
{
        *ret_unsupported = NULL;
        if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
                return ALDER_UNPACK_COMPRESSION_GZIP;
        /* A zstd frame or a skippable frame (0x184D2A5?) */
        if (n >= 4 && (le32(p) == 0xFD2FB528u || (le32(p) & 0xFFFFFFF0u) == 0x184D2A50u))
                return ALDER_UNPACK_COMPRESSION_ZSTD;
        if (n >= 6 && memcmp(p,
                             "\xfd"
                             "7zXZ\0",
                             6) == 0)
                *ret_unsupported = "xz";
        else if (n >= 3 && memcmp(p, "BZh", 3) == 0)
                *ret_unsupported = "bzip2";
        else if (n >= 4 && le32(p) == 0x184D2204u)
                *ret_unsupported = "lz4";
        return ALDER_UNPACK_COMPRESSION_NONE;
}

static int source_start_decoder(struct source *s)
{
        if (s->kind == ALDER_UNPACK_COMPRESSION_GZIP) {
                /* 16 + MAX_WBITS: gzip framing only, with its CRC-32 and length checked by zlib. */
                if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
                        return source_fail(s, ENOMEM, "gzip: out of memory");
                s->z_ready = true;
        } else if (s->kind == ALDER_UNPACK_COMPRESSION_ZSTD) {
                /* The default window limit (128 MiB) bounds the decoder's memory. */
                s->zs = ZSTD_createDStream();
                if (!s->zs || ZSTD_isError(ZSTD_initDStream(s->zs)))
                        return source_fail(s, ENOMEM, "zstd: out of memory");
                s->zret = 1; /* a frame must come */
        }
        return 0;
}

/* Reads the first bytes, recognizes the compression and checks it against the required one. */
static int source_detect(struct source *s)
{
        while (s->in_len < 6 && !s->in_eof)
                if (source_read_more(s) < 0)
                        return -1;
        const char *unsupported;
        s->kind = sniff(s->in, s->in_len, &unsupported);
        if (unsupported)
                return source_fail(s, ENOTSUP, "%s compression is not supported (use gzip, zstd or none)", unsupported);
        if (s->want != ALDER_UNPACK_COMPRESSION_AUTO && s->want != s->kind) {
                if (s->kind == ALDER_UNPACK_COMPRESSION_NONE)
                        return source_fail(s, EINVAL, "input is not compressed, expected %s",
                                           alder_unpack_compression_name(s->want));
                return source_fail(s, EINVAL, "input is %s-compressed, expected %s",
                                   alder_unpack_compression_name(s->kind), alder_unpack_compression_name(s->want));
        }
        return source_start_decoder(s);
}

static ssize_t produce_plain(struct source *s, const void **ret)
{
        if (source_fill(s) < 0)
                return -1;
        size_t n = s->in_len - s->in_pos;
        *ret = s->in + s->in_pos;
        s->in_pos = s->in_len;
        return (ssize_t) n;
}

/* Whether a byte can begin a gzip member (1f 8b) or a zstd frame (28 b5 2f fd, or skippable 5? 2a 4d 18). */
static bool starts_part(alder_unpack_compression kind, uint8_t b)
{
        if (kind == ALDER_UNPACK_COMPRESSION_GZIP)
                return b == 0x1f;
        return b == 0x28 || (b & 0xf0) == 0x50;
}

/*
 * At the end of a gzip member or zstd frame: 1 when another one follows, 0 at
 * the end of the input. Zeros there are block padding (bsdtar writes it, gzip
 * and zstd ignore it); anything after them is not.
 */
static int source_next_part(struct source *s)
{
        uint64_t zeros = 0;
        for (;;) {
                if (source_fill(s) < 0)
                        return -1;
                if (s->in_pos == s->in_len)
                        return 0;
                if (zeros == 0 && s->in[s->in_pos] != 0) {
                        if (starts_part(s->kind, s->in[s->in_pos]))
                                return 1;
                        return source_fail(s, EBADMSG, "data after the end of the %s stream",
                                           alder_unpack_compression_name(s->kind));
                }
                while (s->in_pos < s->in_len && s->in[s->in_pos] == 0) {
                        s->in_pos++;
                        zeros++;
                }
                if (s->in_pos < s->in_len)
                        return source_fail(s, EBADMSG, "data after the end of the %s stream",
                                           alder_unpack_compression_name(s->kind));
                if (zeros > ALDER_UNPACK_MAX_TRAILING)
                        return source_fail(s, EFBIG, "more than %u bytes of padding after the %s stream",
                                           ALDER_UNPACK_MAX_TRAILING, alder_unpack_compression_name(s->kind));
        }
}

static ssize_t produce_gzip(struct source *s, const void **ret)
{
        while (!s->stream_end) {
                if (source_fill(s) < 0)
                        return -1;
                if (s->in_pos == s->in_len)
                        return source_fail(s, EBADMSG, "gzip stream is truncated");
                s->z.next_in = s->in + s->in_pos;
                s->z.avail_in = (uInt) (s->in_len - s->in_pos);
                s->z.next_out = s->out;
                s->z.avail_out = sizeof(s->out);
                int zr = inflate(&s->z, Z_NO_FLUSH);
                s->in_pos = s->in_len - s->z.avail_in;
                size_t n = sizeof(s->out) - s->z.avail_out;
                if (zr == Z_STREAM_END) {
                        /* Another member may follow: gzip streams may be concatenated. */
                        int more = source_next_part(s);
                        if (more < 0)
                                return -1;
                        if (more)
                                inflateReset(&s->z);
                        else
                                s->stream_end = true;
                } else if (zr == Z_MEM_ERROR) {
                        return source_fail(s, ENOMEM, "gzip: out of memory");
                } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                        return source_fail(s, EBADMSG, "gzip data is corrupt: %s", s->z.msg ? s->z.msg : zError(zr));
                }
                if (n > 0) {
                        *ret = s->out;
                        return (ssize_t) n;
                }
        }
        return 0;
}

static ssize_t produce_zstd(struct source *s, const void **ret)
{
        for (;;) {
                /* Between frames: another one, padding, or the end. */
                if (s->zret == 0) {
                        int more = source_next_part(s);
                        if (more <= 0)
                                return more;
                } else if (source_fill(s) < 0) {
                        return -1;
                }
                ZSTD_inBuffer ib = {s->in, s->in_len, s->in_pos};
                ZSTD_outBuffer ob = {s->out, sizeof(s->out), 0};
                size_t zr = ZSTD_decompressStream(s->zs, &ob, &ib);
                s->in_pos = ib.pos;
                if (ZSTD_isError(zr))
                        return source_fail(s, EBADMSG, "zstd data is corrupt: %s", ZSTD_getErrorName(zr));
                s->zret = zr;
                if (ob.pos > 0) {
                        *ret = s->out;
                        return (ssize_t) ob.pos;
                }
                if (s->in_pos == s->in_len && s->in_eof && s->zret != 0)
                        return source_fail(s, EBADMSG, "zstd stream is truncated");
        }
}

/* Next chunk of the decompressed stream: its size, 0 at the end, -1 on failure (s->error). */
static ssize_t source_produce(struct source *s, const void **ret)
{
        if (s->error)
                return -1;
        ssize_t n;
        switch (s->kind) {
        case ALDER_UNPACK_COMPRESSION_GZIP:
                n = produce_gzip(s, ret);
                break;
        case ALDER_UNPACK_COMPRESSION_ZSTD:
                n = produce_zstd(s, ret);
                break;
        default:
                n = produce_plain(s, ret);
                break;
        }
        if (n > 0) {
                s->last = *ret;
                s->last_len = (size_t) n;
                s->produced += (uint64_t) n;
                if (s->produced > s->max_produced)
                        return source_fail(s, EFBIG,
                                           "archive stream exceeds %" PRIu64
                                           " bytes (more headers and data than the limits allow)",
                                           s->max_produced);
        }
        return n;
}

static la_ssize_t source_archive_read(struct archive *a, void *ctx, const void **buf)
{
        struct source *s = ctx;
        ssize_t n = source_produce(s, buf);
        if (n < 0)
                archive_set_error(a, alder_error_errno(s->error), "%s", alder_error_message(s->error));
        return n;
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/*
 * After the archive's end: reads the input to its end, so the compressed
 * stream is checked to its last byte (gzip CRC, zstd checksum) and a caller
 * hashing the input sees all of it. Only zero padding may follow the archive.
 */
static int source_drain(struct source *s, uint64_t consumed)
{
        /* What libarchive read ahead but did not use is the end of the last chunk. */
        uint64_t unused = s->produced - consumed;
        if (unused > s->last_len)
                unused = s->last_len;
        if (!all_zero(s->last + s->last_len - unused, (size_t) unused))
                return source_fail(s, EBADMSG, "data after the end of the archive");
        uint64_t trailing = unused;
        for (;;) {
                const void *p;
                ssize_t n = source_produce(s, &p);
                if (n < 0)
                        return -1;
                if (n == 0)
                        return 0;
                if (!all_zero(p, (size_t) n))
                        return source_fail(s, EBADMSG, "data after the end of the archive");
                trailing += (uint64_t) n;
                if (trailing > ALDER_UNPACK_MAX_TRAILING)
                        return source_fail(s, EFBIG, "more than %u bytes of padding after the end of the archive",
                                           ALDER_UNPACK_MAX_TRAILING);
        }
}

/* ---- the set of paths this archive created --------------------------------------------------------------- */

#define SEEN_EXPLICIT     1u /* an entry of the archive */
#define SEEN_IMPLICIT_DIR 2u /* a directory made for an entry's parent */

struct path_slot {
        char *path;
        uint32_t flags;
        uint32_t dir; /* 1 + index into unpacker.dirs; 0: none */
};

struct path_set {
        struct path_slot *slots;
        size_t cap, count; /* cap is a power of two */
};

static uint64_t hash_path(const char *p, size_t n)
{
        uint64_t h = 1469598103934665603u; /* FNV-1a */
        for (size_t i = 0; i < n; i++) {
                h ^= (uint8_t) p[i];
                h *= 1099511628211u;
        }
        return h;
}

static struct path_slot *set_slot(const struct path_set *s, const char *p, size_t n)
{
        size_t mask = s->cap - 1;
        for (size_t i = hash_path(p, n) & mask;; i = (i + 1) & mask) {
                struct path_slot *slot = &s->slots[i];
                if (!slot->path || (strncmp(slot->path, p, n) == 0 && slot->path[n] == '\0'))
                        return slot;
        }
}

static struct path_slot *set_find(const struct path_set *s, const char *p, size_t n)
{
        if (s->cap == 0)
                return NULL;
        struct path_slot *slot = set_slot(s, p, n);
        return slot->path ? slot : NULL;
}

static int set_grow(struct path_set *s)
{
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        struct path_set n = {.slots = calloc(ncap, sizeof(struct path_slot)), .cap = ncap};
        if (!n.slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
                if (s->slots[i].path)
                        *set_slot(&n, s->slots[i].path, strlen(s->slots[i].path)) = s->slots[i];
        n.count = s->count;
        free(s->slots);
        *s = n;
        return 0;
}

static int set_add(struct path_set *s, const char *p, size_t n, struct path_slot **ret)
{
        if ((s->count + 1) * 10 > s->cap * 7 && set_grow(s) < 0)
                return -ENOMEM;
        struct path_slot *slot = set_slot(s, p, n);
        if (!slot->path) {
                slot->path = strndup(p, n);
                if (!slot->path)
                        return -ENOMEM;
                s->count++;
        }
        *ret = slot;
        return 0;
}

static void set_clear(struct path_set *s)
{
        for (size_t i = 0; i < s->cap; i++)
                free(s->slots[i].path);
        free(s->slots);
        *s = (struct path_set){0};
}

/* ---- the unpacker --------------------------------------------------------------------------------------- */

/* Mode and times of a directory, applied once the whole archive is written. */
struct dir_meta {
        char *path;
        mode_t mode;
        bool set_times;
        struct timespec times[2];
        unsigned depth;
        size_t order;
};

struct unpacker {
        alder_unpack_opts opts; /* defaults filled in */
        const alder_unpack_stats *base;
        alder_unpack_stats stats; /* this archive's */
        alder_error **err;
        int root_fd;
        bool chown;
        struct path_set seen;
        struct dir_meta *dirs;
        size_t n_dirs, cap_dirs;
        /* The directory the last entry went into: archives are mostly sorted. */
        char *cache_path;
        int cache_fd;
        uint8_t *buf;
        char cur[SHOWN_SIZE];  /* the current entry's name, quotable */
        char prev[SHOWN_SIZE]; /* the previous one, for errors between entries */
        bool any_entry;
        bool created; /* fresh mode: we made the root, so a failure removes it */
};

static void invalidate_cache(struct unpacker *u)
{
        free(u->cache_path);
        u->cache_path = NULL;
        alder_closep(&u->cache_fd);
        u->cache_fd = -1;
}

static void unpacker_done(struct unpacker *u)
{
        invalidate_cache(u);
        alder_closep(&u->root_fd);
        set_clear(&u->seen);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i].path);
        free(u->dirs);
        free(u->buf);
        alder_unpack_stats_clear(&u->stats);
}

/* "entry 'NAME': MESSAGE", with ": strerror(errnum)" appended if with_errno. */
ALDER_PRINTF(4, 5) static int entry_report(struct unpacker *u, int errnum, bool with_errno, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return alder_error_set(u->err, ENOMEM, "entry '%s': out of memory", u->cur);
        if (with_errno)
                return alder_error_sys(u->err, errnum, "entry '%s': %s", u->cur, msg);
        return alder_error_set(u->err, errnum, "entry '%s': %s", u->cur, msg);
}

#define entry_fail(u, errnum, ...)     entry_report(u, errnum, false, __VA_ARGS__)
#define entry_fail_sys(u, errnum, ...) entry_report(u, errnum, true, __VA_ARGS__)

static int entry_oom(struct unpacker *u)
{
        return entry_fail(u, ENOMEM, "out of memory");
}

static uint64_t total_entries(const struct unpacker *u)
{
        return (u->base ? u->base->entries : 0) + u->stats.entries;
}

/* Counts one more inode (entry or implicit directory) against the limit. */
static int count_entry(struct unpacker *u)
{
        if (total_entries(u) >= u->opts.limits.max_entries)
                return entry_fail(u, EFBIG, "more than %" PRIu64 " entries", u->opts.limits.max_entries);
        u->stats.entries++;
        return 0;
}

/* Checks the size the header declares before anything is written. */
static int count_size(struct unpacker *u, struct archive_entry *e)
{
        int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
        if (size < 0)
                return entry_fail(u, EBADMSG, "negative size");
        const alder_unpack_limits *l = &u->opts.limits;
        if ((uint64_t) size > l->max_file_bytes)
                return entry_fail(u, EFBIG, "size %" PRId64 " bytes exceeds the limit of %" PRIu64 " bytes per file",
                                  size, l->max_file_bytes);
        uint64_t total = (u->base ? u->base->bytes : 0) + u->stats.bytes;
        if (total > l->max_total_bytes || (uint64_t) size > l->max_total_bytes - total)
                return entry_fail(u, EFBIG, "unpacked size exceeds the limit of %" PRIu64 " bytes", l->max_total_bytes);
        u->stats.bytes += (uint64_t) size;
        return 0;
}

static int note_feature(struct unpacker *u, alder_unpack_feature f, const char *path)
{
        alder_unpack_feature_use *use = &u->stats.features[f];
        use->count++;
        if (use->n_paths >= ALDER_UNPACK_MAX_REPORTED_PATHS)
                return 0;
        char **n = realloc(use->paths, (use->n_paths + 2) * sizeof(char *));
        if (!n)
                return entry_oom(u);
        use->paths = n;
        n[use->n_paths] = strdup(path);
        if (!n[use->n_paths])
                return entry_oom(u);
        n[++use->n_paths] = NULL;
        return 0;
}

/* ---- names ---------------------------------------------------------------------------------------------- */

/*
 * Why a name is refused, or NULL when it is fine. Lexical: "a/../../x"
 * escapes, "a/../b" does not but is refused too.
 */
static const char *name_problem(const struct unpacker *u, const char *raw)
{
        if (raw[0] == '\0')
                return "empty name";
        if (raw[0] == '/')
                return "absolute path refused";
        if (strlen(raw) > u->opts.limits.max_path_len)
                return "name too long";
        long level = 0;
        bool dotdot = false;
        for (const char *p = raw; *p;) {
                size_t n = strcspn(p, "/");
                if (n > ALDER_UNPACK_MAX_NAME)
                        return "path component longer than 255 bytes";
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        dotdot = true;
                        if (--level < 0)
                                return "path escapes the root";
                } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                        level++;
                }
                p += n;
                p += strspn(p, "/");
        }
        return dotdot ? "'..' component refused" : NULL;
}

/*
 * Checks a name from the archive and returns it normalized: no "." or empty
 * components, no leading "./" or trailing '/'. The root itself is "".
 * `what` prefixes the message (e.g. "hard link target 'x'"), NULL for the entry's own name.
 */
static int normalize_name(struct unpacker *u, const char *raw, const char *what, char **ret)
{
        const char *problem = name_problem(u, raw);
        if (problem)
                return entry_fail(u, EPERM, "%s%s%s", what ? what : "", what ? ": " : "", problem);

        char *out = malloc(strlen(raw) + 1);
        if (!out)
                return entry_oom(u);
        size_t len = 0;
        unsigned depth = 0;
        for (const char *p = raw; *p;) {
                size_t n = strcspn(p, "/");
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (len > 0)
                                out[len++] = '/';
                        memcpy(out + len, p, n);
                        len += n;
                        depth++;
                }
                p += n;
                p += strspn(p, "/");
        }
        out[len] = '\0';
        if (depth > u->opts.limits.max_depth) {
                free(out);
                return entry_fail(u, EPERM, "%s%spath is %u levels deep, the limit is %" PRIu32, what ? what : "",
                                  what ? ": " : "", depth, u->opts.limits.max_depth);
        }
        *ret = out;
        return 0;
}

static unsigned path_depth(const char *path)
{
        if (!*path)
                return 0;
        unsigned d = 1;
        for (const char *p = path; *p; p++)
                d += *p == '/';
        return d;
}

/* Length of the parent part of a normalized path ("a/b" for "a/b/c", 0 for "c"). */
static size_t parent_len(const char *path)
{
        const char *slash = strrchr(path, '/');
        return slash ? (size_t) (slash - path) : 0;
}

static const char *base_name(const char *path)
{
        const char *slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

/* ---- ownership, modes, times, xattrs -------------------------------------------------------------------- */

static int entry_owner(struct unpacker *u, struct archive_entry *e, uid_t *ret_uid, gid_t *ret_gid)
{
        int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
        const alder_unpack_opts *o = &u->opts;
        if (uid < 0 || gid < 0 || uid >= UINT32_MAX || gid >= UINT32_MAX)
                return entry_fail(u, EINVAL, "invalid owner %" PRId64 ":%" PRId64, uid, gid);
        if (o->id_count > 0 && (uid >= o->id_count || gid >= o->id_count))
                return entry_fail(u, EPERM, "owner %" PRId64 ":%" PRId64 " is outside the id range 0-%" PRIu32, uid,
                                  gid, o->id_count - 1);
        if ((uint64_t) uid + o->uid_shift >= UINT32_MAX || (uint64_t) gid + o->gid_shift >= UINT32_MAX)
                return entry_fail(u, EINVAL, "owner %" PRId64 ":%" PRId64 " overflows when shifted", uid, gid);
        *ret_uid = (uid_t) (uid + o->uid_shift);
        *ret_gid = (gid_t) (gid + o->gid_shift);
        return 0;
}

/* chown of `name` in dirfd, or of dirfd itself when name is "". Never follows a symlink. */
static int apply_owner_ids(struct unpacker *u, int dirfd, const char *name, uid_t uid, gid_t gid)
{
        if (!u->chown)
                return 0;
        int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
        if (fchownat(dirfd, name, uid, gid, flags) < 0)
                return entry_fail_sys(u, errno, "chown %u:%u", (unsigned) uid, (unsigned) gid);
        return 0;
}

static int apply_owner(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name)
{
        uid_t uid;
        gid_t gid;
        int r = entry_owner(u, e, &uid, &gid);
        if (r < 0)
                return r;
        return apply_owner_ids(u, dirfd, name, uid, gid);
}

static bool data_only(const struct unpacker *u)
{
        return u->opts.flags & ALDER_UNPACK_DATA_ONLY;
}

/* Permission bits to apply (setuid/setgid already vetted by check_policy). */
static mode_t entry_mode(const struct unpacker *u, struct archive_entry *e)
{
        mode_t mode = archive_entry_perm(e) & 07777;
        if (!data_only(u))
                return mode;
        if (archive_entry_filetype(e) == AE_IFDIR)
                return 0755;
        return (mode & 0111) ? 0755 : 0644;
}

/* The entry's atime and mtime; false when it has no mtime (then nothing is set). */
static bool entry_times(const struct unpacker *u, struct archive_entry *e, struct timespec ts[2])
{
        if (data_only(u) || !archive_entry_mtime_is_set(e))
                return false;
        ts[1] = (struct timespec){archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
        if (archive_entry_atime_is_set(e))
                ts[0] = (struct timespec){archive_entry_atime(e), archive_entry_atime_nsec(e)};
        else
                ts[0] = ts[1];
        return true;
}

/* Times of `name` in dirfd (never following a symlink), or of the fd dirfd when name is NULL. */
static int apply_times(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name)
{
        struct timespec ts[2];
        if (!entry_times(u, e, ts))
                return 0;
        int r = name ? utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) : futimens(dirfd, ts);
        if (r < 0)
                return entry_fail_sys(u, errno, "set times");
        return 0;
}

static bool is_capability(const char *name)
{
        return strcmp(name, "security.capability") == 0;
}

/* user.* always, security.capability when allowed (vetted by check_policy); the rest is dropped. */
static int apply_xattrs(struct unpacker *u, struct archive_entry *e, int fd, const char *path, bool regular)
{
        if (data_only(u) || archive_entry_xattr_reset(e) == 0)
                return 0;
        const char *name;
        const void *value;
        size_t size;
        bool has_cap = false;
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                bool cap = is_capability(name);
                if (!(cap && regular) && strncmp(name, "user.", 5) != 0)
                        continue;
                if (fsetxattr(fd, name, value, size, 0) < 0)
                        return entry_fail_sys(u, errno, "set xattr '%s'", name);
                has_cap |= cap;
        }
        /* Once, though pax archives often carry each xattr twice (SCHILY. and LIBARCHIVE. records). */
        return has_cap ? note_feature(u, ALDER_UNPACK_FEATURE_CAPABILITY, path) : 0;
}

static const char *type_name(mode_t type)
{
        switch (type) {
        case AE_IFCHR:
                return "character device";
        case AE_IFBLK:
                return "block device";
        case AE_IFSOCK:
                return "socket";
        case AE_IFIFO:
                return "FIFO";
        default:
                return "file of unknown type";
        }
}

static int check_type(struct unpacker *u, struct archive_entry *e)
{
        mode_t type = archive_entry_filetype(e);
        if (archive_entry_hardlink(e) || type == AE_IFREG || type == AE_IFDIR)
                return 0;
        if (type == AE_IFLNK) {
                const char *target = archive_entry_symlink(e);
                if (!target || !*target)
                        return entry_fail(u, EINVAL, "symlink without a target");
                if (strlen(target) > ALDER_UNPACK_MAX_LINK_TARGET)
                        return entry_fail(u, ENAMETOOLONG, "symlink target longer than %u bytes",
                                          ALDER_UNPACK_MAX_LINK_TARGET);
                return 0;
        }
        bool device = type == AE_IFCHR || type == AE_IFBLK;
        if (data_only(u) || (device && !(u->opts.flags & ALDER_UNPACK_ALLOW_DEVICES)) || (!device && type != AE_IFIFO))
                return entry_fail(u, EPERM, "%s refused", type_name(type));
        return 0;
}

static int check_xattrs(struct unpacker *u, struct archive_entry *e)
{
        if (data_only(u))
                return 0;
        int n = archive_entry_xattr_reset(e);
        if (n > (int) ALDER_UNPACK_MAX_XATTRS)
                return entry_fail(u, E2BIG, "%d extended attributes, at most %u allowed", n, ALDER_UNPACK_MAX_XATTRS);
        const char *name;
        const void *value;
        size_t size;
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                if (size > ALDER_UNPACK_MAX_XATTR_VALUE)
                        return entry_fail(u, E2BIG, "extended attribute '%s' is larger than %u bytes", name,
                                          ALDER_UNPACK_MAX_XATTR_VALUE);
                if (is_capability(name) && !(u->opts.flags & ALDER_UNPACK_ALLOW_CAPABILITIES))
                        return entry_fail(u, EPERM, "file capabilities (security.capability) refused");
        }
        return 0;
}

/* Everything about an entry that can be refused from its header alone, before the disk is touched. */
static int check_policy(struct unpacker *u, struct archive_entry *e)
{
        int r = check_type(u, e);
        if (r < 0)
                return r;
        mode_t perm = archive_entry_perm(e);
        if (!data_only(u) && !archive_entry_hardlink(e) && archive_entry_filetype(e) == AE_IFREG &&
            (perm & (S_ISUID | S_ISGID)) && !(u->opts.flags & ALDER_UNPACK_ALLOW_SETUID))
                return entry_fail(u, EPERM, "setuid/setgid file refused (mode %04o)", (unsigned) (perm & 07777));
        uid_t uid;
        gid_t gid;
        r = entry_owner(u, e, &uid, &gid);
        if (r < 0)
                return r;
        return check_xattrs(u, e);
}

/* ---- directories ---------------------------------------------------------------------------------------- */

static int add_dir_meta(struct unpacker *u, const char *path, size_t len, struct path_slot *slot)
{
        if (u->n_dirs == u->cap_dirs) {
                size_t ncap = u->cap_dirs ? u->cap_dirs * 2 : 256;
                struct dir_meta *n = realloc(u->dirs, ncap * sizeof(*n));
                if (!n)
                        return entry_oom(u);
                u->dirs = n;
                u->cap_dirs = ncap;
        }
        struct dir_meta *d = &u->dirs[u->n_dirs];
        *d = (struct dir_meta){.path = strndup(path, len), .mode = 0755, .order = u->n_dirs};
        if (!d->path)
                return entry_oom(u);
        d->depth = path_depth(d->path);
        slot->dir = (uint32_t) ++u->n_dirs;
        return 0;
}

/* Records a directory made for an entry's parent: mode 0755, owned by (shifted) root. */
static int note_implicit_dir(struct unpacker *u, int fd, const char *path, size_t len)
{
        struct path_slot *slot;
        if (set_add(&u->seen, path, len, &slot) < 0)
                return entry_oom(u);
        slot->flags |= SEEN_IMPLICIT_DIR;
        int r = add_dir_meta(u, path, len, slot);
        if (r < 0)
                return r;
        return apply_owner_ids(u, fd, "", (uid_t) u->opts.uid_shift, (gid_t) u->opts.gid_shift);
}

static int dir_open_error(struct unpacker *u, int dirfd, const char *comp, const char *path, size_t len, int errnum)
{
        struct stat st;
        if ((errnum == ELOOP || errnum == ENOTDIR) && fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISLNK(st.st_mode))
                        return entry_fail(u, ELOOP, "'%.*s' is a symlink; refusing to write through it", (int) len,
                                          path);
                return entry_fail(u, ENOTDIR, "'%.*s' is not a directory", (int) len, path);
        }
        return entry_fail_sys(u, errnum, "open directory '%.*s'", (int) len, path);
}

/* Opens one component below dirfd without following a symlink; makes it first if asked to. */
static int open_component(struct unpacker *u, int dirfd, const char *path, size_t end, size_t start, bool create)
{
        char comp[ALDER_UNPACK_MAX_NAME + 1];
        size_t n = end - start;
        memcpy(comp, path + start, n);
        comp[n] = '\0';
        int fd = openat(dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                return fd;
        if (errno != ENOENT)
                return dir_open_error(u, dirfd, comp, path, end, errno);
        if (!create)
                return -ENOENT;

        int r = count_entry(u);
        if (r < 0)
                return r;
        if (mkdirat(dirfd, comp, 0700) < 0)
                return entry_fail_sys(u, errno, "create directory '%.*s'", (int) end, path);
        fd = openat(dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return dir_open_error(u, dirfd, comp, path, end, errno);
        r = note_implicit_dir(u, fd, path, end);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

static int dup_fd(struct unpacker *u, int fd)
{
        int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (d < 0)
                return entry_fail_sys(u, errno, "dup");
        return d;
}

/*
 * Opens the directory `path` (its first len bytes; "" is the root) below the
 * root, one component at a time with O_NOFOLLOW, so no symlink is ever
 * followed. With create, missing components are made. Returns an fd the
 * caller owns; -ENOENT without a message when a component is missing and
 * !create.
 */
static int open_dir(struct unpacker *u, const char *path, size_t len, bool create)
{
        if (len == 0)
                return dup_fd(u, u->root_fd);
        if (u->cache_path && strlen(u->cache_path) == len && memcmp(u->cache_path, path, len) == 0)
                return dup_fd(u, u->cache_fd);

        _cleanup_close_ int cur = dup_fd(u, u->root_fd);
        if (cur < 0)
                return cur;
        for (size_t start = 0; start < len;) {
                size_t end = start + strcspn(path + start, "/");
                if (end > len)
                        end = len;
                int next = open_component(u, cur, path, end, start, create);
                if (next < 0)
                        return next;
                close(cur);
                cur = next;
                start = end + 1;
        }
        invalidate_cache(u);
        u->cache_path = strndup(path, len);
        if (u->cache_path)
                u->cache_fd = dup_fd(u, cur);
        if (!u->cache_path || u->cache_fd < 0)
                invalidate_cache(u);
        return steal_fd(&cur);
}

static int apply_dir_meta(struct unpacker *u, const struct dir_meta *d)
{
        show_name(*d->path ? d->path : ".", u->cur);
        _cleanup_close_ int fd = open_dir(u, d->path, strlen(d->path), false);
        if (fd == -ENOENT)
                return 0; /* removed by a later entry */
        if (fd < 0)
                return fd;
        if (fchmod(fd, d->mode) < 0)
                return entry_fail_sys(u, errno, "chmod %04o", (unsigned) d->mode);
        if (d->set_times && futimens(fd, d->times) < 0)
                return entry_fail_sys(u, errno, "set times");
        return 0;
}

static int cmp_dir_meta(const void *a, const void *b)
{
        const struct dir_meta *x = a, *y = b;
        if (x->depth != y->depth)
                return x->depth > y->depth ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

/* Deepest first: a read-only parent must not stop us from reaching its children. */
static int apply_dirs(struct unpacker *u)
{
        if (u->n_dirs == 0)
                return 0;
        qsort(u->dirs, u->n_dirs, sizeof(*u->dirs), cmp_dir_meta);
        for (size_t i = 0; i < u->n_dirs; i++) {
                int r = apply_dir_meta(u, &u->dirs[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Removes name in dirfd as part of applying the current entry. */
static int entry_remove(struct unpacker *u, int dirfd, const char *name, const char *path)
{
        invalidate_cache(u);
        int r = alder_remove_at(dirfd, name, path, path_depth(path), u->err);
        if (r < 0)
                return alder_error_wrap(u->err, "entry '%s'", u->cur);
        return 0;
}

/* ---- whiteouts (layer mode) ----------------------------------------------------------------------------- */

struct opaque_ctx {
        struct unpacker *u;
        const char *dir;
        size_t dir_len;
};

/* Keeps what this layer itself created in the opaque directory. */
static bool keep_own(void *ctx, const char *name)
{
        struct opaque_ctx *c = ctx;
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%.*s%s%s", (int) c->dir_len, c->dir, c->dir_len ? "/" : "", name) < 0)
                return true; /* out of memory: keep rather than delete what we cannot check */
        return set_find(&c->u->seen, p, strlen(p)) != NULL;
}

static int apply_whiteout(struct unpacker *u, const char *path, const char *base)
{
        size_t plen = parent_len(path);
        if (strncmp(base, ".wh..wh.", 8) == 0 && strcmp(base, WHITEOUT_OPAQUE) != 0)
                return 0; /* aufs bookkeeping (.wh..wh.plnk, ...): meaningless here, as docker does */
        const char *target = base + strlen(WHITEOUT_PREFIX);
        bool opaque = strcmp(base, WHITEOUT_OPAQUE) == 0;
        if (!opaque && (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0))
                return entry_fail(u, EINVAL, "invalid whiteout");

        _cleanup_close_ int pfd = open_dir(u, path, plen, false);
        if (pfd == -ENOENT)
                return 0; /* nothing below to hide */
        if (pfd < 0)
                return pfd;
        if (opaque) {
                invalidate_cache(u);
                struct opaque_ctx c = {u, path, plen};
                int r = alder_remove_children(pfd, plen ? path : ".", path_depth(path), keep_own, &c, u->err);
                return r < 0 ? alder_error_wrap(u->err, "entry '%s'", u->cur) : 0;
        }
        _cleanup_free_ char *victim = NULL;
        if (asprintf(&victim, "%.*s%s%s", (int) plen, path, plen ? "/" : "", target) < 0)
                return entry_oom(u);
        /* A whiteout hides lower layers only: what this layer made stays. */
        if (set_find(&u->seen, victim, strlen(victim)))
                return 0;
        return entry_remove(u, pfd, target, victim);
}

/* ---- entries -------------------------------------------------------------------------------------------- */

/*
 * Makes room for an entry at pfd/base. What an earlier layer left there is
 * removed, unless both are directories: returns 1 then (the directory is
 * kept, its metadata replaced). What this archive made is never replaced.
 */
static int clear_target(struct unpacker *u, int pfd, const char *base, const char *path, struct path_slot *slot,
                        bool is_dir)
{
        struct stat st;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return entry_fail_sys(u, errno, "stat");
        }
        if (slot) {
                if (is_dir && S_ISDIR(st.st_mode))
                        return 1;
                return entry_fail(u, EEXIST, "conflicts with a directory made for an earlier entry");
        }
        if (is_dir && S_ISDIR(st.st_mode))
                return 1;
        int r = entry_remove(u, pfd, base, path);
        return r < 0 ? r : 0;
}

static int copy_data(struct unpacker *u, struct archive *a, struct source *src, int fd, int64_t declared)
{
        uint64_t written = 0;
        for (;;) {
                la_ssize_t n = archive_read_data(a, u->buf, IO_BUF_SIZE);
                if (n < 0) {
                        if (src && src->error) {
                                move_error(u->err, &src->error);
                                return alder_error_wrap(u->err, "entry '%s': read data", u->cur);
                        }
                        return entry_fail(u, EBADMSG, "read data: %s", archive_error_string(a));
                }
                if (n == 0)
                        return 0;
                written += (uint64_t) n;
                if (written > (uint64_t) declared)
                        return entry_fail(u, EFBIG, "more data than the declared %" PRId64 " bytes", declared);
                int r = write_all(fd, u->buf, (size_t) n);
                if (r < 0)
                        return entry_fail_sys(u, -r, "write");
        }
}

static int make_file(struct unpacker *u, struct archive *a, struct source *src, struct archive_entry *e, int pfd,
                     const char *base, const char *path)
{
        _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return entry_fail_sys(u, errno, "create");
        int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
        int r = copy_data(u, a, src, fd, size);
        if (r < 0)
                return r;
        r = apply_owner(u, e, fd, "");
        if (r < 0)
                return r;
        /* After chown, which clears setuid bits. */
        mode_t mode = entry_mode(u, e);
        if (fchmod(fd, mode) < 0)
                return entry_fail_sys(u, errno, "chmod %04o", (unsigned) mode);
        if (!data_only(u) && (mode & (S_ISUID | S_ISGID))) {
                r = note_feature(u, ALDER_UNPACK_FEATURE_SETUID, path);
                if (r < 0)
                        return r;
        }
        r = apply_xattrs(u, e, fd, path, true);
        if (r < 0)
                return r;
        r = apply_times(u, e, fd, NULL);
        if (r < 0)
                return r;
        if (close(steal_fd(&fd)) < 0 && errno != EINTR)
                return entry_fail_sys(u, errno, "close");
        return 0;
}

/* Records the directory's final mode and times (applied at the end). */
static int defer_dir_meta(struct unpacker *u, struct archive_entry *e, const char *path, struct path_slot *slot)
{
        if (!slot->dir) {
                int r = add_dir_meta(u, path, strlen(path), slot);
                if (r < 0)
                        return r;
        }
        struct dir_meta *d = &u->dirs[slot->dir - 1];
        d->mode = entry_mode(u, e);
        d->set_times = entry_times(u, e, d->times);
        return 0;
}

static int make_dir(struct unpacker *u, struct archive_entry *e, int pfd, const char *base, const char *path,
                    bool exists, struct path_slot *slot)
{
        /* 0700 until the end: the archive's own mode might keep us out of it. */
        if (!exists && mkdirat(pfd, base, 0700) < 0)
                return entry_fail_sys(u, errno, "create directory");
        _cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return entry_fail_sys(u, errno, "open directory");
        int r = apply_owner(u, e, fd, "");
        if (r < 0)
                return r;
        r = apply_xattrs(u, e, fd, path, false);
        if (r < 0)
                return r;
        return defer_dir_meta(u, e, path, slot);
}

static int make_symlink(struct unpacker *u, struct archive_entry *e, int pfd, const char *base)
{
        /* Created as it is, wherever it points: it is never followed while unpacking. */
        if (symlinkat(archive_entry_symlink(e), pfd, base) < 0)
                return entry_fail_sys(u, errno, "create symlink");
        int r = apply_owner(u, e, pfd, base);
        if (r < 0)
                return r;
        return apply_times(u, e, pfd, base);
}

static int make_special(struct unpacker *u, struct archive_entry *e, int pfd, const char *base, const char *path)
{
        mode_t type = archive_entry_filetype(e);
        if (mknodat(pfd, base, type | 0600, type == AE_IFIFO ? 0 : archive_entry_rdev(e)) < 0)
                return entry_fail_sys(u, errno, "create %s", type_name(type));
        int r = apply_owner(u, e, pfd, base);
        if (r < 0)
                return r;
        mode_t mode = entry_mode(u, e) & 01777;
        if (fchmodat(pfd, base, mode, 0) < 0)
                return entry_fail_sys(u, errno, "chmod %04o", (unsigned) mode);
        if (type != AE_IFIFO) {
                r = note_feature(u, ALDER_UNPACK_FEATURE_DEVICE, path);
                if (r < 0)
                        return r;
        }
        return apply_times(u, e, pfd, base);
}

/* Hard links only to a regular file already in the tree, reached without symlinks. */
static int make_hardlink(struct unpacker *u, struct archive_entry *e, int pfd, const char *base)
{
        char shown[SHOWN_SIZE], what[SHOWN_SIZE + 32];
        snprintf(what, sizeof(what), "hard link target '%s'", show_name(archive_entry_hardlink(e), shown));
        _cleanup_free_ char *target = NULL;
        int r = normalize_name(u, archive_entry_hardlink(e), what, &target);
        if (r < 0)
                return r;
        _cleanup_close_ int tfd = -1;
        struct stat st;
        if (*target) {
                tfd = open_dir(u, target, parent_len(target), false);
                if (tfd < 0 && tfd != -ENOENT)
                        return tfd;
        }
        if (tfd < 0 || fstatat(tfd, base_name(target), &st, AT_SYMLINK_NOFOLLOW) < 0)
                return entry_fail(u, ENOENT, "%s does not exist (yet)", what);
        if (!S_ISREG(st.st_mode))
                return entry_fail(u, EPERM, "%s is not a regular file", what);
        if (linkat(tfd, base_name(target), pfd, base, 0) < 0)
                return entry_fail_sys(u, errno, "create hard link");
        return 0;
}

static int make_entry(struct unpacker *u, struct archive *a, struct source *src, struct archive_entry *e,
                      const char *path)
{
        _cleanup_close_ int pfd = open_dir(u, path, parent_len(path), true);
        if (pfd < 0)
                return pfd;
        /* Looked up only now: making the parents may have grown (moved) the set. */
        struct path_slot *slot = set_find(&u->seen, path, strlen(path));
        const char *base = base_name(path);
        bool is_dir = !archive_entry_hardlink(e) && archive_entry_filetype(e) == AE_IFDIR;
        int exists = clear_target(u, pfd, base, path, slot, is_dir);
        if (exists < 0)
                return exists;
        if (is_dir && !slot && set_add(&u->seen, path, strlen(path), &slot) < 0)
                return entry_oom(u);
        if (archive_entry_hardlink(e))
                return make_hardlink(u, e, pfd, base);
        switch (archive_entry_filetype(e)) {
        case AE_IFREG:
                return make_file(u, a, src, e, pfd, base, path);
        case AE_IFDIR:
                return make_dir(u, e, pfd, base, path, exists, slot);
        case AE_IFLNK:
                return make_symlink(u, e, pfd, base);
        default:
                return make_special(u, e, pfd, base, path);
        }
}

/* "./" in the archive: the root directory's own metadata. */
static int root_entry(struct unpacker *u, struct archive_entry *e, struct path_slot *slot)
{
        if (archive_entry_hardlink(e) || archive_entry_filetype(e) != AE_IFDIR)
                return entry_fail(u, EINVAL, "the root entry must be a directory");
        int r = apply_owner(u, e, u->root_fd, "");
        if (r < 0)
                return r;
        r = apply_xattrs(u, e, u->root_fd, "", false);
        if (r < 0)
                return r;
        return defer_dir_meta(u, e, "", slot);
}

static bool is_whiteout(const char *base)
{
        return strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0;
}

static int process_entry(struct unpacker *u, struct archive *a, struct source *src, struct archive_entry *e)
{
        const char *raw = archive_entry_pathname(e);
        show_name(raw ? raw : "", u->cur);
        u->any_entry = true;
        int r = count_entry(u);
        if (r < 0)
                return r;
        r = count_size(u, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL;
        r = normalize_name(u, raw ? raw : "", NULL, &path);
        if (r < 0)
                return r;
        r = check_policy(u, e);
        if (r < 0)
                return r;

        struct path_slot *slot = set_find(&u->seen, path, strlen(path));
        if (slot && (slot->flags & SEEN_EXPLICIT))
                return entry_fail(u, EEXIST, "duplicate entry");
        const char *base = base_name(path);
        if (*path && is_whiteout(base)) {
                if (u->opts.mode != ALDER_UNPACK_LAYER)
                        return entry_fail(u, EPERM, "whiteout outside an image layer");
                r = apply_whiteout(u, path, base);
        } else if (*path) {
                r = make_entry(u, a, src, e, path);
        }
        if (r < 0)
                return r;
        if (set_add(&u->seen, path, strlen(path), &slot) < 0)
                return entry_oom(u);
        slot->flags |= SEEN_EXPLICIT;
        if (!*path) {
                r = root_entry(u, e, slot);
                if (r < 0)
                        return r;
        }
        memcpy(u->prev, u->cur, sizeof(u->prev));
        return 0;
}

/* ---- feeding entries: a tar stream or a directory on disk ----------------------------------------------- */

/* A failure between entries: the source's own error, or libarchive's message. */
static int header_error(struct unpacker *u, struct archive *a, struct source *src)
{
        char context[SHOWN_SIZE + 32] = "read archive";
        if (u->any_entry)
                snprintf(context, sizeof(context), "read archive after entry '%s'", u->prev);
        if (src->error) {
                move_error(u->err, &src->error);
                return alder_error_wrap(u->err, "%s", context);
        }
        if (!u->any_entry && src->raw_bytes == 0)
                return alder_error_set(u->err, EBADMSG, "%s: input is empty", context);
        if (!u->any_entry && archive_errno(a) == EILSEQ)
                return alder_error_set(u->err, EBADMSG, "%s: not a tar archive", context);
        const char *msg = archive_error_string(a);
        return alder_error_set(u->err, EBADMSG, "%s: %s", context, msg ? msg : "unknown error");
}

static int feed_tar(struct unpacker *u, struct source *src)
{
        _cleanup_archive_read_ struct archive *a = archive_read_new();
        if (!a)
                return alder_error_set(u->err, ENOMEM, "read archive: out of memory");
        /* tar (ustar, pax, GNU) only: no other format's parser is exposed to the input. */
        if (archive_read_support_format_tar(a) != ARCHIVE_OK)
                return alder_error_set(u->err, ENOTSUP, "read archive: %s", archive_error_string(a));
        if (source_detect(src) < 0 || archive_read_open2(a, src, NULL, source_archive_read, NULL, NULL) != ARCHIVE_OK)
                return header_error(u, a, src);
        for (;;) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                /* Warnings too: a header libarchive had to guess at is not one to trust. */
                if (ar != ARCHIVE_OK)
                        return header_error(u, a, src);
                int r = process_entry(u, a, src, e);
                if (r < 0)
                        return r;
        }
        if (source_drain(src, (uint64_t) archive_filter_bytes(a, 0)) < 0)
                return header_error(u, a, src);
        return 0;
}

/* Strips the source directory's prefix from a pathname read from disk ("" for the directory itself). */
static const char *relative_to(const char *pathname, const char *src)
{
        size_t n = strlen(src);
        if (strncmp(pathname, src, n) != 0)
                return NULL;
        if (pathname[n] == '\0')
                return ".";
        if (pathname[n] == '/' || (n > 0 && src[n - 1] == '/'))
                return pathname + n + (pathname[n] == '/');
        return NULL;
}

static int disk_next(struct unpacker *u, struct archive *a, struct archive_entry **ret, const char *src)
{
        struct archive_entry *e;
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
                return 0;
        if (ar != ARCHIVE_OK)
                return alder_error_set(u->err, EIO, "read '%s': %s", src, archive_error_string(a));
        if (archive_entry_filetype(e) == AE_IFDIR && archive_read_disk_descend(a) != ARCHIVE_OK)
                return alder_error_set(u->err, EIO, "read '%s': %s", archive_entry_pathname(e),
                                       archive_error_string(a));
        const char *rel = relative_to(archive_entry_pathname(e), src);
        if (!rel)
                return alder_error_set(u->err, EIO, "read '%s': unexpected path '%s'", src, archive_entry_pathname(e));
        _cleanup_free_ char *copy = strdup(rel);
        if (!copy)
                return alder_error_set(u->err, ENOMEM, "read '%s': out of memory", src);
        archive_entry_copy_pathname(e, copy);
        *ret = e;
        return 1;
}

static int feed_dir(struct unpacker *u, const char *src)
{
        _cleanup_archive_read_ struct archive *a = archive_read_disk_new();
        _cleanup_linkresolver_ struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
        if (!a || !links)
                return alder_error_set(u->err, ENOMEM, "read '%s': out of memory", src);
        /* Hard links come out as tar writes them: the first one a file, later ones links to it. */
        archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
        if (archive_read_disk_set_symlink_physical(a) != ARCHIVE_OK ||
            archive_read_disk_set_behavior(a, ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS |
                                                      ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS) != ARCHIVE_OK ||
            archive_read_disk_open(a, src) != ARCHIVE_OK)
                return alder_error_set(u->err, EIO, "read '%s': %s", src, archive_error_string(a));
        for (;;) {
                struct archive_entry *e, *spare = NULL;
                int r = disk_next(u, a, &e, src);
                if (r <= 0)
                        return r;
                /* The tar strategy only marks e as a link; it never swaps it or hands back a spare. */
                archive_entry_linkify(links, &e, &spare);
                r = process_entry(u, a, NULL, e);
                if (r < 0)
                        return r;
        }
}

/* ---- public API ----------------------------------------------------------------------------------------- */

static uint64_t or_default(uint64_t v, uint64_t def)
{
        return v ? v : def;
}

static int resolve_opts(const alder_unpack_opts *in, alder_unpack_opts *out, alder_error **err)
{
        *out = in ? *in : (alder_unpack_opts){0};
        alder_unpack_limits *l = &out->limits;
        l->max_entries = or_default(l->max_entries, ALDER_UNPACK_DEFAULT_MAX_ENTRIES);
        l->max_total_bytes = or_default(l->max_total_bytes, ALDER_UNPACK_DEFAULT_MAX_TOTAL);
        l->max_file_bytes = or_default(l->max_file_bytes, ALDER_UNPACK_DEFAULT_MAX_FILE);
        l->max_path_len = (uint32_t) or_default(l->max_path_len, ALDER_UNPACK_DEFAULT_MAX_PATH);
        l->max_depth = (uint32_t) or_default(l->max_depth, ALDER_UNPACK_DEFAULT_MAX_DEPTH);
        if (l->max_depth > ALDER_UNPACK_MAX_DEPTH_CAP)
                return alder_error_set(err, EINVAL, "unpack: max_depth %" PRIu32 " is above %u", l->max_depth,
                                       ALDER_UNPACK_MAX_DEPTH_CAP);
        if (out->mode != ALDER_UNPACK_FRESH && out->mode != ALDER_UNPACK_LAYER)
                return alder_error_set(err, EINVAL, "unpack: invalid mode %d", (int) out->mode);
        return 0;
}

static int open_dest(struct unpacker *u, const char *dest)
{
        if (u->opts.mode == ALDER_UNPACK_FRESH && mkdir(dest, 0700) < 0) {
                if (errno == EEXIST)
                        return alder_error_set(u->err, EEXIST, "unpack into '%s': already exists", dest);
                return alder_error_sys(u->err, errno, "unpack into '%s'", dest);
        }
        u->created = u->opts.mode == ALDER_UNPACK_FRESH;
        u->root_fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (u->root_fd < 0)
                return alder_error_sys(u->err, errno, "unpack into '%s'", dest);
        if (u->opts.mode != ALDER_UNPACK_FRESH)
                return 0;
        /* The new root counts as made by us: 0755 unless the archive has a "./" entry. */
        struct path_slot *slot;
        if (set_add(&u->seen, "", 0, &slot) < 0)
                return alder_error_set(u->err, ENOMEM, "unpack into '%s': out of memory", dest);
        slot->flags |= SEEN_IMPLICIT_DIR;
        int r = add_dir_meta(u, "", 0, slot);
        if (r < 0)
                return r;
        return apply_owner_ids(u, u->root_fd, "", (uid_t) u->opts.uid_shift, (gid_t) u->opts.gid_shift);
}

void alder_unpack_stats_clear(alder_unpack_stats *s)
{
        if (!s)
                return;
        for (int f = 0; f < ALDER_UNPACK_FEATURE_COUNT; f++)
                alder_strv_free(s->features[f].paths);
        *s = (alder_unpack_stats){0};
}

void alder_unpack_stats_add(alder_unpack_stats *into, alder_unpack_stats *from)
{
        into->entries += from->entries;
        into->bytes += from->bytes;
        for (int f = 0; f < ALDER_UNPACK_FEATURE_COUNT; f++) {
                alder_unpack_feature_use *a = &into->features[f], *b = &from->features[f];
                a->count += b->count;
                for (size_t i = 0; i < b->n_paths; i++) {
                        _cleanup_free_ char *p = steal_pointer(&b->paths[i]);
                        char **n = a->n_paths < ALDER_UNPACK_MAX_REPORTED_PATHS
                                           ? realloc(a->paths, (a->n_paths + 2) * sizeof(char *))
                                           : NULL;
                        if (!n)
                                continue; /* the count stays right; the list is a sample */
                        a->paths = n;
                        n[a->n_paths++] = steal_pointer(&p);
                        n[a->n_paths] = NULL;
                }
                free(b->paths);
                b->paths = NULL;
                b->n_paths = 0;
        }
}

typedef int (*feed_fn)(struct unpacker *u, void *ctx);

static int unpack_run(const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats, feed_fn feed,
                      void *ctx, alder_error **err)
{
        _cleanup_(unpacker_done) struct unpacker u = {.base = stats, .err = err, .root_fd = -1, .cache_fd = -1};
        int r = resolve_opts(opts, &u.opts, err);
        if (r < 0)
                return r;
        u.chown = !(u.opts.flags & (ALDER_UNPACK_NO_OWNERSHIP | ALDER_UNPACK_DATA_ONLY)) && geteuid() == 0;
        u.buf = malloc(IO_BUF_SIZE);
        if (!u.buf)
                return alder_error_set(err, ENOMEM, "unpack into '%s': out of memory", dest);
        r = open_dest(&u, dest);
        if (r == 0)
                r = feed(&u, ctx);
        if (r == 0)
                r = apply_dirs(&u);
        if (r < 0) {
                if (u.created) {
                        /* Nothing may be left behind; the failure that got us here is the one to report. */
                        int rr = alder_remove_tree(dest, NULL);
                        (void) rr;
                }
                return r;
        }
        if (stats)
                alder_unpack_stats_add(stats, &u.stats);
        return 0;
}

struct tar_input {
        alder_unpack_read_fn read;
        void *ctx;
};

static int feed_tar_input(struct unpacker *u, void *ctx)
{
        struct tar_input *in = ctx;
        _cleanup_source_ struct source *src = calloc(1, sizeof(*src));
        if (!src)
                return alder_error_set(u->err, ENOMEM, "read archive: out of memory");
        src->read = in->read;
        src->ctx = in->ctx;
        src->want = u->opts.compression;
        const alder_unpack_limits *l = &u->opts.limits;
        uint64_t headers = l->max_entries > UINT64_MAX / ALDER_UNPACK_HEADER_ALLOWANCE
                                   ? UINT64_MAX
                                   : l->max_entries * ALDER_UNPACK_HEADER_ALLOWANCE;
        src->max_produced = headers > UINT64_MAX - l->max_total_bytes ? UINT64_MAX : l->max_total_bytes + headers;
        return feed_tar(u, src);
}

int alder_unpack(alder_unpack_read_fn read, void *ctx, const char *dest, const alder_unpack_opts *opts,
                 alder_unpack_stats *stats, alder_error **err)
{
        struct tar_input in = {read, ctx};
        return unpack_run(dest, opts, stats, feed_tar_input, &in, err);
}

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
        return read(*(int *) ctx, buf, n);
}

int alder_unpack_fd(int fd, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                    alder_error **err)
{
        return alder_unpack(fd_read, &fd, dest, opts, stats, err);
}

int alder_unpack_file(const char *path, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                      alder_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        int r = alder_unpack_fd(fd, dest, opts, stats, err);
        if (r < 0)
                return alder_error_wrap(err, "unpack '%s'", path);
        return 0;
}

static int feed_dir_input(struct unpacker *u, void *ctx)
{
        return feed_dir(u, ctx);
}

int alder_unpack_dir(const char *src, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                     alder_error **err)
{
        _cleanup_free_ char *s = alder_path_without_trailing_slashes(src);
        if (!s)
                return alder_error_set(err, ENOMEM, "copy '%s': out of memory", src);
        /* libarchive would take a file for a one-entry tree. */
        _cleanup_close_ int fd = open(s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return alder_error_sys(err, errno, "copy '%s'", src);
        int r = unpack_run(dest, opts, stats, feed_dir_input, s, err);
        if (r < 0)
                return alder_error_wrap(err, "copy '%s'", src);
        return 0;
}
