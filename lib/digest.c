/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "alder/digest.h"
#include "alder/fileio.h"

struct alder_sha256 {
        EVP_MD_CTX *ctx;
};

int alder_sha256_reset(alder_sha256 *h, alder_error **err)
{
        if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                return alder_error_set(err, EIO, "SHA-256: initialization failed");
        return 0;
}

int alder_sha256_new(alder_sha256 **ret, alder_error **err)
{
        _cleanup_free_ alder_sha256 *h = calloc(1, sizeof(*h));
        if (!h)
                return alder_error_set(err, ENOMEM, "SHA-256: out of memory");
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx)
                return alder_error_set(err, ENOMEM, "SHA-256: out of memory");
        int r = alder_sha256_reset(h, err);
        if (r < 0) {
                EVP_MD_CTX_free(h->ctx);
                return r;
        }
        *ret = steal_pointer(&h);
        return 0;
}

void alder_sha256_update(alder_sha256 *h, const void *data, size_t len)
{
        /* Cannot fail for SHA-256 in the default provider once initialized. */
        (void) EVP_DigestUpdate(h->ctx, data, len);
}

int alder_sha256_final(alder_sha256 *h, uint8_t out[ALDER_SHA256_LEN], alder_error **err)
{
        unsigned n = 0;
        if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != ALDER_SHA256_LEN)
                return alder_error_set(err, EIO, "SHA-256: finalization failed");
        return 0;
}

void alder_sha256_free(alder_sha256 *h)
{
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

int alder_sha256_buffer(const void *data, size_t len, uint8_t out[ALDER_SHA256_LEN], alder_error **err)
{
        _cleanup_sha256_ alder_sha256 *h = NULL;
        int r = alder_sha256_new(&h, err);
        if (r < 0)
                return r;
        alder_sha256_update(h, data, len);
        return alder_sha256_final(h, out, err);
}

struct hash_ctx {
        alder_sha256 *h;
        uint64_t size;
};

static int hash_chunk(void *ctx, const void *buf, size_t n, alder_error **err)
{
        struct hash_ctx *c = ctx;
        alder_sha256_update(c->h, buf, n);
        c->size += n;
        return 0;
}

int alder_sha256_file(const char *path, uint8_t out[ALDER_SHA256_LEN], uint64_t *ret_size, alder_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        _cleanup_sha256_ alder_sha256 *h = NULL;
        int r = alder_sha256_new(&h, err);
        if (r < 0)
                return r;

        struct hash_ctx ctx = {.h = h};
        r = alder_read_chunks(fd, path, hash_chunk, &ctx, err);
        if (r < 0)
                return r;
        r = alder_sha256_final(h, out, err);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = ctx.size;
        return 0;
}

void alder_hex_encode(const uint8_t *in, size_t len, char *out)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 0xf];
        }
        out[2 * len] = '\0';
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int alder_hex_decode(const char *in, uint8_t *out, size_t len)
{
        if (strlen(in) != 2 * len)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}
