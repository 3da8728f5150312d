/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The safe unpacker. Every archive is built here with libarchive's write API,
 * so each bad case is exactly the bytes it claims to be.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "tar-test.h"

#include "alder/unpack.h"

/* ---- fault injection: write() fails or writes short on demand --------------------------------------------- */

static int fail_write_after = -1; /* writes that still succeed; -1: never fail */
static int write_errno;
static size_t write_chunk_limit; /* > 0: short writes */

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        if (fail_write_after == 0) {
                fail_write_after = -1;
                errno = write_errno;
                return -1;
        }
        if (fail_write_after > 0)
                fail_write_after--;
        if (write_chunk_limit && n > write_chunk_limit)
                n = write_chunk_limit;
        return __real_write(fd, buf, n);
}

/* ---- building archives: tar-test.h, plus compression done here ---------------------------------------- */

/*
 * Compresses a finished tar here rather than with libarchive's filters: zstd
 * with a content checksum (libarchive's writer sets none), and streams whose
 * tar is padded inside the compression.
 */
static void compress_buf(struct buf *b, enum filter f)
{
        struct buf out = {.cap = ZSTD_compressBound(b->len) + 1024};
        out.data = malloc(out.cap);
        if (f == ZSTD) {
                ZSTD_CCtx *c = ZSTD_createCCtx();
                assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
                out.len = ZSTD_compress2(c, out.data, out.cap, b->data, b->len);
                assert_false(ZSTD_isError(out.len));
                ZSTD_freeCCtx(c);
        } else {
                z_stream z = {0};
                assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
                z.next_in = b->data;
                z.avail_in = (uInt) b->len;
                z.next_out = out.data;
                z.avail_out = (uInt) out.cap;
                assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
                out.len = out.cap - z.avail_out;
                deflateEnd(&z);
        }
        buf_free(b);
        *b = out;
}

/* ---- reading archives: from memory, in odd chunks, with EINTR --------------------------------------------- */

struct mem_input {
        const uint8_t *p;
        size_t len, pos;
        size_t chunk;   /* at most this much per read; 0: all */
        bool eintr;     /* every other read fails with EINTR first */
        int fail_errno; /* every read fails with it */
        unsigned reads;
};

static ssize_t mem_read(void *ctx, void *out, size_t n)
{
        struct mem_input *m = ctx;
        m->reads++;
        if (m->fail_errno) {
                errno = m->fail_errno;
                return -1;
        }
        if (m->eintr && m->reads % 2) {
                errno = EINTR;
                return -1;
        }
        size_t left = m->len - m->pos;
        if (n > left)
                n = left;
        if (m->chunk && n > m->chunk)
                n = m->chunk;
        memcpy(out, m->p + m->pos, n);
        m->pos += n;
        return (ssize_t) n;
}

static char tmpdir[64];
static char dest[96];

static int setup(void **state)
{
        strcpy(tmpdir, "/tmp/alder-test-unpack-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        snprintf(dest, sizeof(dest), "%s/root", tmpdir);
        fail_write_after = -1;
        write_chunk_limit = 0;
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static void remove_dest(void)
{
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dest);
        assert_int_equal(system(cmd), 0);
}

static int unpack_buf(const struct buf *b, const alder_unpack_opts *o, alder_unpack_stats *stats, alder_error **err)
{
        struct mem_input m = {.p = b->data, .len = b->len};
        return alder_unpack(mem_read, &m, dest, o, stats, err);
}

static void unpack_ok(const struct buf *b, const alder_unpack_opts *o, alder_unpack_stats *stats)
{
        _cleanup_error_ alder_error *err = NULL;
        int r = unpack_buf(b, o, stats, &err);
        if (r < 0)
                fail_msg("unpack failed: %s", alder_error_message(err));
}

static void assert_gone(const char *path)
{
        struct stat st;
        assert_int_equal(lstat(path, &st), -1);
        assert_int_equal(errno, ENOENT);
}

static char *in_dest(const char *rel)
{
        static char p[4][256];
        static int i;
        i = (i + 1) % 4;
        snprintf(p[i], sizeof(p[i]), "%s/%s", dest, rel);
        return p[i];
}

static struct stat stat_in(const char *rel)
{
        struct stat st;
        if (lstat(in_dest(rel), &st) < 0)
                fail_msg("lstat '%s': %s", rel, strerror(errno));
        return st;
}

static void assert_content(const char *rel, const char *expected)
{
        char buf[4096];
        int fd = open(in_dest(rel), O_RDONLY);
        assert_true(fd >= 0);
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, expected);
}

static void assert_link(const char *rel, const char *expected)
{
        char buf[256];
        ssize_t n = readlink(in_dest(rel), buf, sizeof(buf) - 1);
        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, expected);
}

/* ---- what is kept ------------------------------------------------------------------------------------- */

static void test_fidelity(void **state)
{
        static const struct ent ents[] = {
                {.name = "./", .type = AE_IFDIR, .perm = 0750, .mtime = 1500000000},
                {.name = "bin/", .type = AE_IFDIR, .perm = 0755, .mtime = 1500000001},
                {.name = "bin/tool",
                 .type = AE_IFREG,
                 .perm = 0750,
                 .data = "#!/bin/sh\necho hi\n",
                 .uid = 1234,
                 .gid = 5678,
                 .mtime = 1234567890},
                {.name = "bin/tool-link", .type = HARDLINK, .data = "bin/tool"},
                {.name = "bin/sh", .type = AE_IFLNK, .data = "/usr/bin/dash", .uid = 7},
                {.name = "etc/conf",
                 .type = AE_IFREG,
                 .perm = 0600,
                 .data = "key=value\n",
                 .xattr = "user.origin=alder"},
                {.name = "ro/", .type = AE_IFDIR, .perm = 0555, .mtime = 1400000000},
                {.name = "ro/inside", .type = AE_IFREG, .perm = 0444, .data = "written before ro/ became read-only"},
                {.name = "run/fifo", .type = AE_IFIFO, .perm = 0620},
                {.name = "tmp/", .type = AE_IFDIR, .perm = 01777},
                {.name = "var/dir/with/./dots//", .type = AE_IFDIR, .perm = 0700},
                {0},
        };
        struct buf b = {0};
        build(&b, GZIP, ents);
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        unpack_ok(&b, NULL, &stats);
        buf_free(&b);

        struct stat st = stat_in(".");
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_mtime, 1500000000);
        st = stat_in("bin");
        assert_int_equal(st.st_mtime, 1500000001); /* set after its contents were written */
        st = stat_in("bin/tool");
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_mtime, 1234567890);
        assert_int_equal(st.st_nlink, 2);
        if (geteuid() == 0) {
                assert_int_equal(st.st_uid, 1234);
                assert_int_equal(st.st_gid, 5678);
                assert_int_equal(stat_in("bin/sh").st_uid, 7);
        }
        assert_content("bin/tool", "#!/bin/sh\necho hi\n");
        assert_int_equal(stat_in("bin/tool-link").st_ino, st.st_ino);
        assert_link("bin/sh", "/usr/bin/dash");
        assert_int_equal(stat_in("etc/conf").st_mode & 07777, 0600);
        char x[32] = {0};
        assert_int_equal(getxattr(in_dest("etc/conf"), "user.origin", x, sizeof(x)), 5);
        assert_string_equal(x, "alder");
        assert_int_equal(stat_in("etc").st_mode & 07777, 0755); /* made for etc/conf */
        st = stat_in("ro");
        assert_int_equal(st.st_mode & 07777, 0555);
        assert_int_equal(st.st_mtime, 1400000000);
        assert_content("ro/inside", "written before ro/ became read-only");
        assert_true(S_ISFIFO(stat_in("run/fifo").st_mode));
        assert_int_equal(stat_in("run/fifo").st_mode & 07777, 0620);
        assert_int_equal(stat_in("tmp").st_mode & 07777, 01777);
        assert_int_equal(stat_in("var/dir/with/dots").st_mode & 07777, 0700);

        /* 11 entries plus the directories made for etc/conf, run/fifo, var/dir/with/dots */
        assert_int_equal(stats.entries, 11 + 1 + 1 + 3);
        assert_int_equal(stats.bytes, 18 + 10 + 35);
        for (int f = 0; f < ALDER_UNPACK_FEATURE_COUNT; f++)
                assert_int_equal(stats.features[f].count, 0);
}

static void test_fresh_root_mode_ignores_umask(void **state)
{
        static const struct ent ents[] = {{REG("f", "x")}, {0}};
        struct buf b = {0};
        build(&b, PLAIN, ents);
        mode_t old = umask(077);
        unpack_ok(&b, NULL, NULL);
        umask(old);
        buf_free(&b);
        assert_int_equal(stat_in(".").st_mode & 07777, 0755);
        assert_int_equal(stat_in("f").st_mode & 07777, 0644);
}

static void test_odd_reads_and_short_writes(void **state)
{
        char big[100000];
        for (size_t i = 0; i < sizeof(big) - 1; i++)
                big[i] = (char) ('a' + i % 23);
        big[sizeof(big) - 1] = '\0';
        const struct ent ents[] = {{REG("big", big)}, {0}};
        struct buf b = {0};
        build(&b, ZSTD, ents);
        struct mem_input m = {.p = b.data, .len = b.len, .chunk = 7, .eintr = true};
        write_chunk_limit = 1000;
        _cleanup_error_ alder_error *err = NULL;
        int r = alder_unpack(mem_read, &m, dest, NULL, NULL, &err);
        write_chunk_limit = 0;
        if (r < 0)
                fail_msg("unpack failed: %s", alder_error_message(err));
        buf_free(&b);
        assert_int_equal(m.pos, m.len); /* read to the very end */
        struct stat st = stat_in("big");
        assert_int_equal(st.st_size, sizeof(big) - 1);
        char *got = malloc(sizeof(big));
        int fd = open(in_dest("big"), O_RDONLY);
        assert_int_equal(read(fd, got, sizeof(big)), sizeof(big) - 1);
        close(fd);
        assert_memory_equal(got, big, sizeof(big) - 1);
        free(got);
}

static void test_ownership_shift(void **state)
{
        if (geteuid() != 0)
                skip();
        static const struct ent ents[] = {{REG("f", "x"), .uid = 5, .gid = 6},
                                          {.name = "l", .type = AE_IFLNK, .data = "f"},
                                          {REG("d/g", "y")},
                                          {0}};
        struct buf b = {0};
        build(&b, PLAIN, ents);
        alder_unpack_opts o = {.uid_shift = 100000, .gid_shift = 200000, .id_count = 65536};
        unpack_ok(&b, &o, NULL);
        buf_free(&b);
        struct stat st = stat_in("f");
        assert_int_equal(st.st_uid, 100005);
        assert_int_equal(st.st_gid, 200006);
        assert_int_equal(stat_in("l").st_uid, 100000);
        assert_int_equal(stat_in("d").st_uid, 100000); /* made implicitly: shifted root */
        assert_int_equal(stat_in(".").st_gid, 200000);
}

static void test_allowed_privileges_are_reported(void **state)
{
        bool root = geteuid() == 0;
        const struct ent ents[] = {
                {.name = "usr/bin/su", .type = AE_IFREG, .perm = 04755, .data = "su"},
                {.name = "usr/bin/wall", .type = AE_IFREG, .perm = 02755, .data = "wall"},
                {.name = "usr/bin/ping",
                 .type = AE_IFREG,
                 .perm = 0755,
                 .data = "ping",
                 .xattr = root ? "security.capability=\x01\x00\x00\x02"
                                 "\x00\x20\x00\x00\x00\x00\x00\x00"
                                 "\x00\x00\x00\x00\x00\x00\x00\x00"
                               : NULL,
                 .xattr_len = 20},
                {root ? "dev/null" : "dev/fifo", root ? AE_IFCHR : AE_IFIFO, 0666, .rdev_major = 1, .rdev_minor = 3},
                {.name = "var/mail/", .type = AE_IFDIR, .perm = 02775}, /* setgid directories are ordinary */
                {0},
        };
        struct buf b = {0};
        build(&b, PLAIN, ents);
        alder_unpack_opts o = {.flags = ALDER_UNPACK_ALLOW_SETUID | ALDER_UNPACK_ALLOW_DEVICES |
                                        ALDER_UNPACK_ALLOW_CAPABILITIES};
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        unpack_ok(&b, &o, &stats);
        buf_free(&b);
        assert_int_equal(stat_in("usr/bin/su").st_mode & 07777, 04755);
        assert_int_equal(stat_in("var/mail").st_mode & 07777, 02775);
        alder_unpack_feature_use *setuid = &stats.features[ALDER_UNPACK_FEATURE_SETUID];
        assert_int_equal(setuid->count, 2);
        assert_string_equal(setuid->paths[0], "usr/bin/su");
        assert_string_equal(setuid->paths[1], "usr/bin/wall");
        assert_null(setuid->paths[2]);
        if (!root)
                return;
        struct stat st = stat_in("dev/null");
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(1, 3));
        assert_int_equal(stats.features[ALDER_UNPACK_FEATURE_DEVICE].count, 1);
        assert_string_equal(stats.features[ALDER_UNPACK_FEATURE_DEVICE].paths[0], "dev/null");
        assert_int_equal(stats.features[ALDER_UNPACK_FEATURE_CAPABILITY].count, 1);
        assert_string_equal(stats.features[ALDER_UNPACK_FEATURE_CAPABILITY].paths[0], "usr/bin/ping");
        assert_true(getxattr(in_dest("usr/bin/ping"), "security.capability", NULL, 0) > 0);
        assert_string_equal(alder_unpack_feature_name(ALDER_UNPACK_FEATURE_CAPABILITY), "capability");
}

static void test_data_only(void **state)
{
        static const struct ent ents[] = {
                {.name = "blobs/sha256/", .type = AE_IFDIR, .perm = 0500},
                {.name = "blobs/sha256/ab", .type = AE_IFREG, .perm = 04700, .data = "blob", .xattr = "user.x=1"},
                {.name = "blobs/sha256/exe", .type = AE_IFREG, .perm = 0700, .data = "x"},
                {.name = "layer.tar", .type = AE_IFLNK, .data = "../other/layer.tar"},
                {0},
        };
        struct buf b = {0};
        build(&b, PLAIN, ents);
        alder_unpack_opts o = {.flags = ALDER_UNPACK_DATA_ONLY};
        unpack_ok(&b, &o, NULL);
        buf_free(&b);
        assert_int_equal(stat_in("blobs/sha256").st_mode & 07777, 0755);
        assert_int_equal(stat_in("blobs/sha256/ab").st_mode & 07777, 0755);
        assert_int_equal(stat_in("blobs/sha256/exe").st_mode & 07777, 0755);
        assert_int_equal(getxattr(in_dest("blobs/sha256/ab"), "user.x", NULL, 0), -1);
        assert_link("layer.tar", "../other/layer.tar");
}

/* ---- what is refused ---------------------------------------------------------------------------------- */

struct bad_case {
        const char *title;
        struct ent ents[4];
        alder_unpack_limits limits;
        unsigned flags;
        int errnum;
        const char *message;
};

static char long_component[300];
static char long_path[4200];
static char deep_path[300];

static const struct bad_case bad_cases[] = {
        {"dotdot", {{REG("../evil", "x")}}, .errnum = EPERM, .message = "entry '../evil': path escapes the root"},
        {"dotdot inside",
         {{REG("etc/../../x", "x")}},
         .errnum = EPERM,
         .message = "entry 'etc/../../x': path escapes the root"},
        {"harmless dotdot",
         {{REG("a/../b", "x")}},
         .errnum = EPERM,
         .message = "entry 'a/../b': '..' component refused"},
        {"absolute",
         {{REG("/etc/passwd", "x")}},
         .errnum = EPERM,
         .message = "entry '/etc/passwd': absolute path refused"},
        {"through symlink to /",
         {{.name = "link", .type = AE_IFLNK, .data = "/"}, {REG("link/etc/passwd", "root::0:0::/:/bin/sh\n")}},
         .errnum = ELOOP,
         .message = "entry 'link/etc/passwd': 'link' is a symlink; refusing to write through it"},
        {"through relative symlink",
         {{.name = "a/up", .type = AE_IFLNK, .data = "../../.."}, {.name = "a/up/x", .type = AE_IFDIR}},
         .errnum = ELOOP,
         .message = "entry 'a/up/x/': 'a/up' is a symlink; refusing to write through it"},
        {"symlink replaced by a directory entry",
         {{.name = "l", .type = AE_IFLNK, .data = "/tmp"}, {.name = "l/", .type = AE_IFDIR}},
         .errnum = EEXIST,
         .message = "entry 'l/': duplicate entry"},
        {"hard link outside",
         {{.name = "h", .type = HARDLINK, .data = "../../etc/passwd"}},
         .errnum = EPERM,
         .message = "entry 'h': hard link target '../../etc/passwd': path escapes the root"},
        {"hard link absolute",
         {{.name = "h", .type = HARDLINK, .data = "/etc/passwd"}},
         .errnum = EPERM,
         .message = "entry 'h': hard link target '/etc/passwd': absolute path refused"},
        {"hard link to a later entry",
         {{.name = "h", .type = HARDLINK, .data = "later"}, {REG("later", "x")}},
         .errnum = ENOENT,
         .message = "entry 'h': hard link target 'later' does not exist (yet)"},
        {"hard link through symlink",
         {{.name = "l", .type = AE_IFLNK, .data = "/etc"}, {.name = "h", .type = HARDLINK, .data = "l/passwd"}},
         .errnum = ELOOP,
         .message = "entry 'h': 'l' is a symlink; refusing to write through it"},
        {"hard link to a directory",
         {{.name = "d/", .type = AE_IFDIR}, {.name = "h", .type = HARDLINK, .data = "d"}},
         .errnum = EPERM,
         .message = "entry 'h': hard link target 'd' is not a regular file"},
        {"character device",
         {{.name = "dev/null", .type = AE_IFCHR, .perm = 0666, .rdev_major = 1, .rdev_minor = 3}},
         .errnum = EPERM,
         .message = "entry 'dev/null': character device refused"},
        {"block device",
         {{.name = "dev/sda", .type = AE_IFBLK, .perm = 0660, .rdev_major = 8}},
         .errnum = EPERM,
         .message = "entry 'dev/sda': block device refused"},
        {"fifo without contents only",
         {{.name = "p", .type = AE_IFIFO, .perm = 0600}},
         .flags = ALDER_UNPACK_DATA_ONLY,
         .errnum = EPERM,
         .message = "entry 'p': FIFO refused"},
        {"setuid",
         {{.name = "usr/bin/su", .type = AE_IFREG, .perm = 04755, .data = "x"}},
         .errnum = EPERM,
         .message = "entry 'usr/bin/su': setuid/setgid file refused (mode 4755)"},
        {"setgid",
         {{.name = "usr/bin/wall", .type = AE_IFREG, .perm = 02711, .data = "x"}},
         .errnum = EPERM,
         .message = "entry 'usr/bin/wall': setuid/setgid file refused (mode 2711)"},
        {"file capabilities",
         {{.name = "ping", .type = AE_IFREG, .perm = 0755, .data = "x", .xattr = "security.capability=xx"}},
         .errnum = EPERM,
         .message = "entry 'ping': file capabilities (security.capability) refused"},
        {"duplicate file",
         {{REG("a", "1")}, {REG("a", "2")}},
         .errnum = EEXIST,
         .message = "entry 'a': duplicate entry"},
        {"duplicate spelled differently",
         {{REG("./a/b", "1")}, {REG("a//b", "2")}},
         .errnum = EEXIST,
         .message = "entry 'a//b': duplicate entry"},
        {"duplicate directory",
         {{.name = "d/", .type = AE_IFDIR}, {.name = "./d", .type = AE_IFDIR}},
         .errnum = EEXIST,
         .message = "entry './d/': duplicate entry"},
        {"duplicate root",
         {{.name = "./", .type = AE_IFDIR}, {.name = ".", .type = AE_IFDIR}},
         .errnum = EEXIST,
         .message = "entry './': duplicate entry"},
        {"root not a directory",
         {{REG(".", "x")}},
         .errnum = EINVAL,
         .message = "entry '.': the root entry must be a directory"},
        {"file over an implicit directory",
         {{REG("a/b", "1")}, {REG("a", "2")}},
         .errnum = EEXIST,
         .message = "entry 'a': conflicts with a directory made for an earlier entry"},
        {"whiteout in a fresh tree",
         {{.name = "etc/.wh.passwd", .type = AE_IFREG}},
         .errnum = EPERM,
         .message = "entry 'etc/.wh.passwd': whiteout outside an image layer"},
        {"control characters are escaped",
         {{.name = "a\nb/../../c'", .type = AE_IFREG}},
         .errnum = EPERM,
         .message = "entry 'a\\x0ab/../../c\\x27': path escapes the root"},
        {"long component",
         {{.name = long_component, .type = AE_IFREG}},
         .errnum = EPERM,
         .message = NULL /* filled in */},
        {"long path", {{.name = long_path, .type = AE_IFREG}}, .errnum = EPERM, .message = NULL},
        {"deep path", {{.name = deep_path, .type = AE_IFREG}}, .errnum = EPERM, .message = NULL},
        {"declared size over the file limit",
         {{REG("big", "x"), .size = 2000}},
         .limits = {.max_file_bytes = 1000},
         .errnum = EFBIG,
         .message = "entry 'big': size 2000 bytes exceeds the limit of 1000 bytes per file"},
        {"total size",
         {{REG("a", "123456")}, {REG("b", "123456")}},
         .limits = {.max_total_bytes = 10},
         .errnum = EFBIG,
         .message = "entry 'b': unpacked size exceeds the limit of 10 bytes"},
        {"entry count",
         {{.name = "a"}, {.name = "b"}, {.name = "c"}, {.name = "d"}},
         .limits = {.max_entries = 3},
         .errnum = EFBIG,
         .message = "entry 'd': more than 3 entries"},
        {"implicit directories count",
         {{REG("a/b/c", "x")}},
         .limits = {.max_entries = 2},
         .errnum = EFBIG,
         .message = "entry 'a/b/c': more than 2 entries"},
        {"depth limit",
         {{.name = "a/b/c/d", .type = AE_IFREG}},
         .limits = {.max_depth = 3},
         .errnum = EPERM,
         .message = "entry 'a/b/c/d': path is 4 levels deep, the limit is 3"},
        {"id range", {{REG("f", "x"), .uid = 70000}}, .errnum = EPERM, .message = NULL},
};

static char long_component_msg[512], long_path_msg[512], deep_path_msg[512];

static void init_long_names(void)
{
        memset(long_component, 'n', 256);
        snprintf(long_component_msg, sizeof(long_component_msg),
                 "entry '%.200s...': path component longer than 255 bytes", long_component);
        for (size_t i = 0; i < 4096; i += 2)
                memcpy(long_path + i, "d/", 2);
        long_path[4096] = 'f';
        snprintf(long_path_msg, sizeof(long_path_msg), "entry '%.200s...': name too long", long_path);
        for (size_t i = 0; i < 129 * 2; i += 2)
                memcpy(deep_path + i, "d/", 2);
        deep_path[129 * 2 - 1] = '\0';
        snprintf(deep_path_msg, sizeof(deep_path_msg), "entry '%.200s...': path is 129 levels deep, the limit is 128",
                 deep_path);
}

static const char *case_message(const struct bad_case *c)
{
        if (c->message)
                return c->message;
        if (c->ents[0].name == long_component)
                return long_component_msg;
        if (c->ents[0].name == long_path)
                return long_path_msg;
        if (c->ents[0].name == deep_path)
                return deep_path_msg;
        return "entry 'f': owner 70000:0 is outside the id range 0-65535";
}

static void test_bad_archives(void **state)
{
        init_long_names();
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad_cases); i++) {
                const struct bad_case *c = &bad_cases[i];
                struct ent ents[5] = {0};
                memcpy(ents, c->ents, sizeof(c->ents));
                struct buf b = {0};
                build(&b, i % 2 ? GZIP : PLAIN, ents);
                alder_unpack_opts o = {.limits = c->limits, .flags = c->flags};
                if (strcmp(c->title, "id range") == 0)
                        o.id_count = 65536;
                _cleanup_unpack_stats_ alder_unpack_stats stats = {.entries = 0};
                _cleanup_error_ alder_error *err = NULL;
                int r = unpack_buf(&b, &o, &stats, &err);
                buf_free(&b);
                if (r != -c->errnum || strcmp(alder_error_message(err), case_message(c)) != 0)
                        fail_msg("case '%s': got %d '%s', expected %d '%s'", c->title, r, alder_error_message(err),
                                 -c->errnum, case_message(c));
                assert_gone(dest);                  /* nothing left behind */
                assert_int_equal(stats.entries, 0); /* untouched on failure */
        }
}

/* Only the header of a 100 GB file: refused on the declared size, before any data is read. */
static void test_declared_100gb(void **state)
{
        struct buf b = {0};
        struct archive *a = tar_begin(&b, PLAIN);
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, "huge");
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, INT64_C(100) << 30);
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        archive_entry_free(ae);
        b.frozen = true; /* libarchive would pad the missing 100 GB on close */
        archive_write_free(a);
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(unpack_buf(&b, NULL, NULL, &err), EFBIG,
                           "entry 'huge': size 107374182400 bytes exceeds the limit of 1073741824 bytes per file");
        buf_free(&b);
        assert_gone(dest);
}

struct generator {
        int fd;
        bool reader_gone;
        unsigned total, written;
};

/* Once the reader is gone, pretends to write: a failed libarchive writer leaks its state on free. */
static la_ssize_t gen_write(struct archive *a, void *ctx, const void *p, size_t n)
{
        struct generator *g = ctx;
        if (!g->reader_gone && __real_write(g->fd, p, n) != (ssize_t) n)
                g->reader_gone = true;
        return (la_ssize_t) n;
}

/* Streams an archive of `total` empty files into a pipe, as long as someone reads it. */
static void *generate(void *arg)
{
        struct generator *g = arg;
        struct archive *a = archive_write_new();
        archive_write_set_format_ustar(a);
        archive_write_set_bytes_per_block(a, 0);
        archive_write_open(a, g, NULL, gen_write, NULL);
        struct archive_entry *ae = archive_entry_new();
        for (g->written = 0; g->written < g->total; g->written++) {
                char name[32];
                snprintf(name, sizeof(name), "d/%07u", g->written);
                archive_entry_clear(ae);
                archive_entry_set_pathname(ae, name);
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_set_perm(ae, 0644);
                archive_entry_set_size(ae, 0);
                if (g->reader_gone || archive_write_header(a, ae) != ARCHIVE_OK)
                        break;
        }
        archive_entry_free(ae);
        archive_write_free(a);
        close(g->fd);
        return NULL;
}

static void test_million_entries_fail_fast(void **state)
{
        int p[2];
        assert_int_equal(pipe(p), 0);
        struct generator g = {.fd = p[1], .total = 1000000};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, generate, &g), 0);
        _cleanup_error_ alder_error *err = NULL;
        /* The implicit directory d plus 99999 files are the default 100000 entries. */
        assert_alder_error(alder_unpack_fd(p[0], dest, NULL, NULL, &err), EFBIG,
                           "entry 'd/0099999': more than 100000 entries");
        close(p[0]);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_true(g.written < g.total); /* stopped at the limit, not after reading everything */
        assert_gone(dest);
}

/* ---- broken streams ----------------------------------------------------------------------------------- */

static char *pseudo_text(size_t n)
{
        char *s = malloc(n + 1);
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                s[i] = "abcdefgh \n"[(x >> 16) % 10];
        }
        s[n] = '\0';
        return s;
}

enum damage { NO_DAMAGE, FLIP_MIDDLE, FLIP_END, CUT_HALF, APPEND_GARBAGE, APPEND_ZEROS };

struct stream_case {
        const char *title;
        enum filter filter;
        bool here; /* compressed by compress_buf() (zstd with a checksum), not libarchive */
        enum damage damage;
        alder_unpack_compression want;
        int errnum;
        const char *message;
        bool padded; /* 512 KiB of zeros follow the tar's end inside the compressed stream */
};

static const struct stream_case stream_cases[] = {
        {"gzip corrupt", GZIP, false, FLIP_MIDDLE, .errnum = EBADMSG,
         .message = "entry 'data': read data: gzip data is corrupt: incorrect data check"},
        {"gzip CRC", GZIP, false, FLIP_END, .errnum = EBADMSG,
         .message = "entry 'data': read data: gzip data is corrupt: incorrect data check"},
        {"gzip CRC checked after the archive's end", GZIP, false, FLIP_END, .padded = true, .errnum = EBADMSG,
         .message = "read archive after entry 'data': gzip data is corrupt: incorrect data check"},
        {"gzip truncated", GZIP, false, CUT_HALF, .errnum = EBADMSG,
         .message = "entry 'data': read data: gzip stream is truncated"},
        {"zstd corrupt", ZSTD, true, FLIP_MIDDLE, .errnum = EBADMSG,
         .message = "entry 'data': read data: zstd data is corrupt: Restored data doesn't match checksum"},
        {"zstd truncated", ZSTD, false, CUT_HALF, .errnum = EBADMSG,
         .message = "entry 'data': read data: zstd stream is truncated"},
        {"tar truncated", PLAIN, false, CUT_HALF, .errnum = EBADMSG,
         .message = "entry 'data': read data: Truncated tar archive"},
        {"garbage after the archive", PLAIN, false, APPEND_GARBAGE, .errnum = EBADMSG,
         .message = "read archive after entry 'data': data after the end of the archive"},
        {"zero padding after the archive", GZIP, false, NO_DAMAGE, .padded = true, .errnum = 0},
        {"padding is fine", PLAIN, false, APPEND_ZEROS, .errnum = 0},
        {"zeros after the gzip stream", GZIP, false, APPEND_ZEROS, .errnum = 0},
        {"zeros after the zstd stream", ZSTD, false, APPEND_ZEROS, .errnum = 0},
        {"garbage after the gzip stream", GZIP, false, APPEND_GARBAGE, .errnum = EBADMSG,
         .message = "entry 'data': read data: data after the end of the gzip stream"},
        {"zstd required, gzip given", GZIP, false, NO_DAMAGE, ALDER_UNPACK_COMPRESSION_ZSTD, EINVAL,
         .message = "read archive: input is gzip-compressed, expected zstd"},
        {"gzip required, none given", PLAIN, false, NO_DAMAGE, ALDER_UNPACK_COMPRESSION_GZIP, EINVAL,
         .message = "read archive: input is not compressed, expected gzip"},
        {"zstd required and given", ZSTD, true, NO_DAMAGE, ALDER_UNPACK_COMPRESSION_ZSTD, .errnum = 0},
};

static void damage(struct buf *b, enum damage d)
{
        static const uint8_t zeros[10240];
        switch (d) {
        case FLIP_MIDDLE:
                for (size_t i = 0; i < 16; i++)
                        b->data[b->len / 2 + i] ^= 0x55;
                break;
        case FLIP_END:
                b->data[b->len - 6] ^= 0x01; /* gzip trailer: CRC-32 */
                break;
        case CUT_HALF:
                b->len /= 2;
                break;
        case APPEND_GARBAGE:
                buf_append(b, "garbage", 7);
                break;
        case APPEND_ZEROS:
                buf_append(b, zeros, sizeof(zeros));
                break;
        case NO_DAMAGE:
                break;
        }
}

static void test_broken_streams(void **state)
{
        _cleanup_free_ char *text = pseudo_text(300000);
        const struct ent ents[] = {{REG("data", text)}, {0}};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(stream_cases); i++) {
                const struct stream_case *c = &stream_cases[i];
                struct buf b = {0};
                tar_block_size = c->padded ? 512 * 1024 : 0;
                build(&b, c->here || c->padded ? PLAIN : c->filter, ents);
                tar_block_size = 0;
                if (c->here || c->padded)
                        compress_buf(&b, c->filter);
                damage(&b, c->damage);
                alder_unpack_opts o = {.compression = c->want};
                _cleanup_error_ alder_error *err = NULL;
                int r = unpack_buf(&b, &o, NULL, &err);
                buf_free(&b);
                const char *msg = r < 0 ? alder_error_message(err) : "(success)";
                if (r != -c->errnum || (c->errnum && strcmp(msg, c->message) != 0))
                        fail_msg("case '%s': got %d '%s', expected %d '%s'", c->title, r, msg, -c->errnum,
                                 c->message ? c->message : "(success)");
                if (c->errnum)
                        assert_gone(dest);
                else
                        remove_dest();
        }
}

static void test_not_a_tar(void **state)
{
        static const struct {
                const char *bytes;
                size_t len;
                int errnum;
                const char *message;
        } cases[] = {
                {"", 0, EBADMSG, "read archive: input is empty"},
                {"hello, this is not a tar archive at all", 39, EBADMSG, "read archive: not a tar archive"},
                {"\xfd"
                 "7zXZ\0\0\0\0",
                 8, ENOTSUP, "read archive: xz compression is not supported (use gzip, zstd or none)"},
                {"BZh91AY&SY", 10, ENOTSUP,
                 "read archive: bzip2 compression is not supported (use gzip, zstd or none)"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                struct buf b = {.data = (uint8_t *) cases[i].bytes, .len = cases[i].len};
                _cleanup_error_ alder_error *err = NULL;
                assert_alder_error(unpack_buf(&b, NULL, NULL, &err), cases[i].errnum, cases[i].message);
                assert_gone(dest);
        }
}

static void test_read_error(void **state)
{
        struct mem_input m = {.fail_errno = EIO};
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(alder_unpack(mem_read, &m, dest, NULL, NULL, &err), EIO,
                           "read archive: read input: Input/output error");
        assert_gone(dest);
}

static void test_enospc_cleans_up(void **state)
{
        _cleanup_free_ char *text = pseudo_text(400000);
        const struct ent ents[] = {{REG("a/small", "x")}, {REG("a/big", text)}, {0}};
        struct buf b = {0};
        build(&b, ZSTD, ents);
        fail_write_after = 2; /* "a/small" and the first chunk of "a/big" get written */
        write_errno = ENOSPC;
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(unpack_buf(&b, NULL, NULL, &err), ENOSPC, "entry 'a/big': write: No space left on device");
        buf_free(&b);
        assert_gone(dest);
}

static void test_dest_must_not_exist(void **state)
{
        assert_int_equal(mkdir(dest, 0755), 0);
        int fd = open(in_dest("keep"), O_CREAT | O_WRONLY, 0644);
        close(fd);
        static const struct ent ents[] = {{REG("f", "x")}, {0}};
        struct buf b = {0};
        build(&b, PLAIN, ents);
        _cleanup_error_ alder_error *err = NULL;
        char expected[160];
        snprintf(expected, sizeof(expected), "unpack into '%s': already exists", dest);
        assert_alder_error(unpack_buf(&b, NULL, NULL, &err), EEXIST, expected);
        buf_free(&b);
        stat_in("keep"); /* untouched */
}

/* ---- layers ------------------------------------------------------------------------------------------- */

static void apply_layer(const struct ent *ents, alder_unpack_stats *stats)
{
        struct buf b = {0};
        build(&b, GZIP, ents);
        alder_unpack_opts o = {.mode = ALDER_UNPACK_LAYER};
        unpack_ok(&b, &o, stats);
        buf_free(&b);
}

static void test_layers_and_whiteouts(void **state)
{
        static const struct ent lower[] = {
                {REG("a/x", "x")},
                {REG("a/y", "y")},
                {REG("b/z", "z")},
                {REG("c/1", "1")},
                {REG("c/2/deep", "2")},
                {REG("d/1", "1")},
                {REG("file-to-dir", "f")},
                {REG("dir-to-file/inner", "i")},
                {.name = "link", .type = AE_IFLNK, .data = "/usr"},
                {.name = "ro/", .type = AE_IFDIR, .perm = 0555},
                {.name = "ro/gone", .type = AE_IFREG, .perm = 0444, .data = "g"},
                {0},
        };
        static const struct ent upper[] = {
                {.name = "a/.wh.x", .type = AE_IFREG},        /* deletes a/x */
                {.name = ".wh.b", .type = AE_IFREG},          /* deletes the directory b */
                {REG("c/3", "3")},                            /* this layer's own, before the opaque marker */
                {.name = "c/.wh..wh..opq", .type = AE_IFREG}, /* empties c of the lower layers' entries */
                {REG("c/4", "4")},                            /* and after it */
                {REG("d/new", "n")},                          /* d keeps its old contents */
                {.name = "d/.wh.new", .type = AE_IFREG},      /* whiteouts hide lower layers only */
                {.name = "file-to-dir/", .type = AE_IFDIR, .perm = 0700}, /* a file replaced by a directory */
                {.name = "dir-to-file", .type = AE_IFREG, .perm = 0600, .data = "now a file"},
                {REG("link", "no longer a link")},
                {.name = "ro/.wh.gone", .type = AE_IFREG},    /* in a read-only directory */
                {.name = "a/.wh..wh.plnk", .type = AE_IFREG}, /* aufs bookkeeping: ignored */
                {.name = ".wh.nothing-there", .type = AE_IFREG},
                {0},
        };
        assert_int_equal(mkdir(dest, 0755), 0);
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        apply_layer(lower, &stats);
        apply_layer(upper, &stats);

        assert_gone(in_dest("a/x"));
        assert_content("a/y", "y");
        assert_gone(in_dest("b"));
        assert_gone(in_dest("c/1"));
        assert_gone(in_dest("c/2"));
        assert_content("c/3", "3");
        assert_content("c/4", "4");
        assert_content("d/1", "1");
        assert_content("d/new", "n");
        assert_true(S_ISDIR(stat_in("file-to-dir").st_mode));
        assert_int_equal(stat_in("file-to-dir").st_mode & 07777, 0700);
        assert_content("dir-to-file", "now a file");
        assert_true(S_ISREG(stat_in("link").st_mode));
        assert_gone(in_dest("ro/gone"));
        assert_int_equal(stat_in("ro").st_mode & 07777, 0555);
        assert_int_equal(stats.entries, 11 + 6 + 13); /* + a, b, c, c/2, d, dir-to-file made implicitly */
}

static void test_layer_cannot_write_through_lower_symlink(void **state)
{
        static const struct ent lower[] = {{.name = "lib", .type = AE_IFLNK, .data = "/usr/lib"}, {0}};
        static const struct ent upper[] = {{.name = "lib/libc.so", .type = AE_IFREG, .perm = 0755, .data = "evil"},
                                           {0}};
        assert_int_equal(mkdir(dest, 0755), 0);
        apply_layer(lower, NULL);
        struct buf b = {0};
        build(&b, PLAIN, upper);
        alder_unpack_opts o = {.mode = ALDER_UNPACK_LAYER};
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(unpack_buf(&b, &o, NULL, &err), ELOOP,
                           "entry 'lib/libc.so': 'lib' is a symlink; refusing to write through it");
        buf_free(&b);
        assert_link("lib", "/usr/lib"); /* layer mode: the caller removes the tree */
        static const struct ent whiteout[] = {{.name = "lib/.wh.libc.so", .type = AE_IFREG}, {0}};
        build(&b, PLAIN, whiteout);
        assert_alder_error(unpack_buf(&b, &o, NULL, &err), ELOOP,
                           "entry 'lib/.wh.libc.so': 'lib' is a symlink; refusing to write through it");
        buf_free(&b);
}

static void test_limits_span_layers(void **state)
{
        static const struct ent layer[] = {{.name = "a"}, {.name = "b"}, {.name = "c"}, {0}};
        static const struct ent layer2[] = {{.name = "d"}, {.name = "e"}, {0}};
        assert_int_equal(mkdir(dest, 0755), 0);
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        alder_unpack_opts o = {.mode = ALDER_UNPACK_LAYER, .limits = {.max_entries = 4}};
        struct buf b = {0};
        build(&b, PLAIN, layer);
        unpack_ok(&b, &o, &stats);
        buf_free(&b);
        build(&b, PLAIN, layer2);
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(unpack_buf(&b, &o, &stats, &err), EFBIG, "entry 'e': more than 4 entries");
        buf_free(&b);
        assert_int_equal(stats.entries, 3); /* the failed layer added nothing */
}

/* ---- directories and removal -------------------------------------------------------------------------- */

static void test_copy_dir(void **state)
{
        static const struct ent ents[] = {
                {.name = "bin/tool", .type = AE_IFREG, .perm = 0750, .data = "tool", .mtime = 1234567890},
                {.name = "bin/tool2", .type = HARDLINK, .data = "bin/tool"},
                {.name = "bin/sh", .type = AE_IFLNK, .data = "/bin/dash"},
                {.name = "ro/", .type = AE_IFDIR, .perm = 0555},
                {.name = "ro/f", .type = AE_IFREG, .perm = 0444, .data = "f"},
                {0},
        };
        struct buf b = {0};
        build(&b, PLAIN, ents);
        unpack_ok(&b, NULL, NULL);
        buf_free(&b);
        char copy[128], src[128];
        snprintf(src, sizeof(src), "%s/", dest); /* a trailing slash is fine */
        snprintf(copy, sizeof(copy), "%s/copy", tmpdir);
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_unpack_dir(src, copy, NULL, &stats, &err), 0);
        struct stat a, c;
        char p[160];
        snprintf(p, sizeof(p), "%s/bin/tool", copy);
        assert_int_equal(lstat(p, &c), 0);
        assert_int_equal(c.st_mode & 07777, 0750);
        assert_int_equal(c.st_mtime, 1234567890);
        assert_int_equal(c.st_nlink, 2);
        snprintf(p, sizeof(p), "%s/bin/tool2", copy);
        assert_int_equal(lstat(p, &a), 0);
        assert_int_equal(a.st_ino, c.st_ino);
        snprintf(p, sizeof(p), "%s/ro", copy);
        assert_int_equal(lstat(p, &c), 0);
        assert_int_equal(c.st_mode & 07777, 0555);
        assert_int_equal(stats.entries, 7); /* root, bin, 3 in bin, ro, ro/f */

        /* the same refusals as for archives */
        assert_int_equal(chmod(in_dest("ro/f"), 04755), 0);
        char again[128], expected[256];
        snprintf(again, sizeof(again), "%s/again", tmpdir);
        snprintf(expected, sizeof(expected), "copy '%s': entry 'ro/f': setuid/setgid file refused (mode 4755)", src);
        assert_alder_error(alder_unpack_dir(src, again, NULL, NULL, &err), EPERM, expected);
        assert_gone(again);
}

static void test_remove_tree(void **state)
{
        static const struct ent ents[] = {{.name = "ro/", .type = AE_IFDIR, .perm = 0500},
                                          {.name = "ro/sub/", .type = AE_IFDIR, .perm = 0500},
                                          {.name = "ro/sub/f", .type = AE_IFREG, .perm = 0400},
                                          {0}};
        struct buf b = {0};
        build(&b, PLAIN, ents);
        unpack_ok(&b, NULL, NULL);
        buf_free(&b);
        /* a symlink to a directory outside: removed, the outside untouched */
        char outside[128];
        snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
        assert_int_equal(mkdir(outside, 0755), 0);
        assert_int_equal(symlink(outside, in_dest("escape")), 0);
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_remove_tree(dest, &err), 0);
        assert_gone(dest);
        struct stat st;
        assert_int_equal(stat(outside, &st), 0);
        assert_int_equal(alder_remove_tree(dest, &err), 0); /* missing is fine */
        assert_alder_error(alder_remove_tree("/", &err), EINVAL, "remove '/': not a removable path");
}

static void test_bad_options(void **state)
{
        static const struct ent ents[] = {{.name = "f"}, {0}};
        struct buf b = {0};
        build(&b, PLAIN, ents);
        alder_unpack_opts o = {.limits = {.max_depth = 1000}};
        _cleanup_error_ alder_error *err = NULL;
        assert_alder_error(unpack_buf(&b, &o, NULL, &err), EINVAL, "unpack: max_depth 1000 is above 256");
        buf_free(&b);
        assert_gone(dest);
        assert_string_equal(alder_unpack_compression_name(ALDER_UNPACK_COMPRESSION_ZSTD), "zstd");
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN); /* the generator's pipe closes under it */
        if (getenv("UNPACK_FILTER"))
                cmocka_set_test_filter(getenv("UNPACK_FILTER"));
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_fidelity),
                T(test_fresh_root_mode_ignores_umask),
                T(test_odd_reads_and_short_writes),
                T(test_ownership_shift),
                T(test_allowed_privileges_are_reported),
                T(test_data_only),
                T(test_bad_archives),
                T(test_declared_100gb),
                T(test_million_entries_fail_fast),
                T(test_broken_streams),
                T(test_not_a_tar),
                T(test_read_error),
                T(test_enospc_cleans_up),
                T(test_dest_must_not_exist),
                T(test_layers_and_whiteouts),
                T(test_layer_cannot_write_through_lower_symlink),
                T(test_limits_span_layers),
                T(test_copy_dir),
                T(test_remove_tree),
                T(test_bad_options),
#undef T
        };
        return cmocka_run_group_tests_name("unpack", tests, NULL, NULL);
}
