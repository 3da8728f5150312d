/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alder/uuid.h"

const uint8_t alder_uuid_namespace_dns[ALDER_UUID_LEN] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                                          0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

int alder_uuid_v5(const uint8_t ns[ALDER_UUID_LEN], const char *name, uint8_t out[ALDER_UUID_LEN], alder_error **err)
{
        uint8_t sha1[20];
        unsigned n = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        /* SHA-1 is what version 5 is defined with; it names things, it does not protect them. */
        bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
                  EVP_DigestUpdate(ctx, ns, ALDER_UUID_LEN) == 1 && EVP_DigestUpdate(ctx, name, strlen(name)) == 1 &&
                  EVP_DigestFinal_ex(ctx, sha1, &n) == 1 && n == sizeof(sha1);
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return alder_error_set(err, EIO, "UUID for '%s': SHA-1 unavailable", name);
        memcpy(out, sha1, ALDER_UUID_LEN);
        out[6] = (uint8_t) ((out[6] & 0x0f) | 0x50); /* version 5 */
        out[8] = (uint8_t) ((out[8] & 0x3f) | 0x80); /* RFC variant */
        return 0;
}

void alder_uuid_format(const uint8_t u[ALDER_UUID_LEN], char *out)
{
        snprintf(out, ALDER_UUID_STRING_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}
