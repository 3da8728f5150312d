/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 for payload digests (OpenSSL EVP), streaming and one-shot, and hex.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"

#define ALDER_SHA256_LEN     32
#define ALDER_SHA256_HEX_LEN (2 * ALDER_SHA256_LEN)

typedef struct alder_sha256 alder_sha256;

int alder_sha256_new(alder_sha256 **ret, alder_error **err) ALDER_WUR;
void alder_sha256_update(alder_sha256 *h, const void *data, size_t len);
/* Finishes the digest; the object can be reused after alder_sha256_reset(). */
int alder_sha256_final(alder_sha256 *h, uint8_t out[ALDER_SHA256_LEN], alder_error **err) ALDER_WUR;
int alder_sha256_reset(alder_sha256 *h, alder_error **err) ALDER_WUR;
void alder_sha256_free(alder_sha256 *h);

static inline void alder_sha256_freep(alder_sha256 **h)
{
        alder_sha256_free(*h);
}
#define _cleanup_sha256_ _cleanup_(alder_sha256_freep)

/* Digest of a buffer. */
int alder_sha256_buffer(const void *data, size_t len, uint8_t out[ALDER_SHA256_LEN], alder_error **err) ALDER_WUR;

/* Digest and size of a whole file. */
int alder_sha256_file(const char *path, uint8_t out[ALDER_SHA256_LEN], uint64_t *ret_size, alder_error **err) ALDER_WUR;

/* Lower-case hex; `out` holds 2 * len + 1 bytes. */
void alder_hex_encode(const uint8_t *in, size_t len, char *out);

/* Parses exactly 2 * len hex digits (either case); -EINVAL otherwise. */
int alder_hex_decode(const char *in, uint8_t *out, size_t len) ALDER_WUR;
