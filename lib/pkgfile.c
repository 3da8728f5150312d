/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/cleanup.h"
#include "alder/fileio.h"
#include "alder/suit.h"
#include "pkgfile-internal.h"

void alder_pkgfile_encode_header(const struct alder_pkgfile_kind *kind, uint32_t envelope_len,
                                 uint8_t out[ALDER_PKGFILE_HEADER_SIZE])
{
        memcpy(out, kind->magic, ALDER_PKGFILE_MAGIC_LEN);
        uint32_t v = htobe32(kind->version), e = htobe32(envelope_len);
        memcpy(out + 8, &v, 4);
        memcpy(out + 12, &e, 4);
}

static int decode_header(const struct alder_pkgfile_kind *kind, const uint8_t h[ALDER_PKGFILE_HEADER_SIZE],
                         const char *path, uint32_t *ret_envelope_len, alder_error **err)
{
        if (memcmp(h, kind->magic, ALDER_PKGFILE_MAGIC_LEN) != 0)
                return alder_error_set(err, EBADMSG, "%s: not %s (bad magic)", path, kind->article_name);
        uint32_t version, elen;
        memcpy(&version, h + 8, 4);
        memcpy(&elen, h + 12, 4);
        version = be32toh(version);
        elen = be32toh(elen);
        if (version != kind->version)
                return alder_error_set(err, ENOTSUP, "%s: %s format version %u is not supported (expected %u)", path,
                                       kind->noun, version, kind->version);
        if (elen == 0 || elen > ALDER_SUIT_MAX_ENVELOPE)
                return alder_error_set(err, EBADMSG, "%s: envelope length %u is out of range [1, %u]", path, elen,
                                       ALDER_SUIT_MAX_ENVELOPE);
        *ret_envelope_len = elen;
        return 0;
}

int alder_pkgfile_read_exact(int fd, void *buf, size_t len, const char *path, const char *what, alder_error **err)
{
        uint8_t *p = buf;
        size_t got = 0;
        while (got < len) {
                ssize_t n = alder_read_some(fd, p + got, len - got);
                if (n < 0)
                        return alder_error_sys(err, (int) -n, "%s: read %s", path, what);
                if (n == 0)
                        return alder_error_set(err, EBADMSG, "%s: truncated: %s ends after %zu of %zu bytes", path,
                                               what, got, len);
                got += (size_t) n;
        }
        return 0;
}

int alder_pkgfile_read_envelope(const struct alder_pkgfile_kind *kind, int fd, const char *path, uint8_t **ret,
                                size_t *ret_len, alder_error **err)
{
        uint8_t header[ALDER_PKGFILE_HEADER_SIZE];
        uint32_t elen = 0;
        int r = alder_pkgfile_read_exact(fd, header, sizeof(header), path, "header", err);
        if (r == 0)
                r = decode_header(kind, header, path, &elen, err);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *envelope = malloc(elen);
        if (!envelope)
                return alder_error_set(err, ENOMEM, "%s: out of memory", path);
        r = alder_pkgfile_read_exact(fd, envelope, elen, path, "SUIT envelope", err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&envelope);
        *ret_len = elen;
        return 0;
}

int alder_pkgfile_expect_eof(int fd, const char *path, alder_error **err)
{
        uint8_t b;
        ssize_t n = alder_read_some(fd, &b, 1);
        if (n < 0)
                return alder_error_sys(err, (int) -n, "%s: read", path);
        if (n > 0)
                return alder_error_set(err, EBADMSG, "%s: unexpected bytes after the last payload", path);
        return 0;
}

int alder_pkgfile_open_tmp(const char *dir, int *ret, alder_error **err)
{
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
        if (fd < 0)
                return alder_error_sys(err, errno, "create temporary file in '%s'", dir);
        *ret = fd;
        return 0;
}

int alder_pkgfile_commit_tmp(int fd, const char *path, alder_error **err)
{
        if (fsync(fd) < 0)
                return alder_error_sys(err, errno, "fsync '%s'", path);
        _cleanup_free_ char *tmp = NULL, *proc = NULL;
        if (asprintf(&tmp, "%s.tmp-%d", path, getpid()) < 0 || asprintf(&proc, "/proc/self/fd/%d", fd) < 0)
                return alder_error_set(err, ENOMEM, "'%s': out of memory", path);
        (void) unlink(tmp); /* a leftover of a crashed run with our pid */
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
                return alder_error_sys(err, errno, "link '%s'", tmp);
        if (rename(tmp, path) < 0) {
                int r = alder_error_sys(err, errno, "rename '%s' to '%s'", tmp, path);
                (void) unlink(tmp);
                return r;
        }
        return alder_fsync_parent_dir(path, err);
}

struct copy_ctx {
        int to;
        const char *path;
};

static int write_chunk(void *ctx, const void *buf, size_t n, alder_error **err)
{
        struct copy_ctx *c = ctx;
        return alder_write_all(c->to, buf, n, c->path, err);
}

int alder_pkgfile_copy_rest(int from, int to, const char *path, alder_error **err)
{
        struct copy_ctx ctx = {.to = to, .path = path};
        return alder_read_chunks(from, path, write_chunk, &ctx, err);
}

int alder_pkgfile_write(const struct alder_pkgfile_kind *kind, const char *out_path, const uint8_t *envelope,
                        size_t envelope_len, const void *prefix, size_t prefix_len, int payloads_fd,
                        uint64_t payloads_offset, alder_error **err)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -1;
        int r = alder_path_parent(out_path, &dir, err);
        if (r == 0)
                r = alder_pkgfile_open_tmp(dir, &fd, err);
        if (r < 0)
                return r;
        uint8_t header[ALDER_PKGFILE_HEADER_SIZE];
        alder_pkgfile_encode_header(kind, (uint32_t) envelope_len, header);
        r = alder_write_all(fd, header, sizeof(header), out_path, err);
        if (r == 0)
                r = alder_write_all(fd, envelope, envelope_len, out_path, err);
        if (r == 0 && prefix_len > 0)
                r = alder_write_all(fd, prefix, prefix_len, out_path, err);
        if (r == 0 && lseek(payloads_fd, (off_t) payloads_offset, SEEK_SET) < 0)
                r = alder_error_sys(err, errno, "seek the payloads of '%s'", out_path);
        if (r == 0)
                r = alder_pkgfile_copy_rest(payloads_fd, fd, out_path, err);
        if (r == 0)
                r = alder_pkgfile_commit_tmp(fd, out_path, err);
        return r;
}

int alder_pkgfile_resign(const struct alder_pkgfile_kind *kind, const uint8_t *envelope, size_t envelope_len, int in_fd,
                         const char *in_path, const struct alder_cose_signer *signer, const char *out_path,
                         alder_error **err)
{
        const uint8_t *manifest;
        size_t manifest_len;
        int r = alder_suit_envelope_manifest(envelope, envelope_len, &manifest, &manifest_len, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", in_path);
        _cleanup_free_ uint8_t *signed_envelope = NULL;
        size_t signed_len;
        r = alder_suit_envelope_sign(manifest, manifest_len, signer, &signed_envelope, &signed_len, err);
        if (r < 0)
                return alder_error_wrap(err, "sign '%s'", out_path);
        return alder_pkgfile_write(kind, out_path, signed_envelope, signed_len, NULL, 0, in_fd,
                                   ALDER_PKGFILE_HEADER_SIZE + envelope_len, err);
}
