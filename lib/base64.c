/* SPDX-License-Identifier: Apache-2.0 */
#include "alder/base64.h"

#include "alder/cleanup.h"

#include <errno.h>
#include <stdlib.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *alder_base64_encode(const uint8_t *data, size_t len, bool url, size_t *ret_len)
{
        const char *alpha = url ? b64_url : b64_std;
        size_t out_len = len / 3 * 4 + (len % 3 ? (url ? len % 3 + 1 : 4) : 0);
        char *out = malloc(out_len + 1);
        if (!out)
                return NULL;
        size_t o = 0;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) data[i] << 16;
                size_t left = len - i;
                if (left > 1)
                        v |= (uint32_t) data[i + 1] << 8;
                if (left > 2)
                        v |= data[i + 2];
                out[o++] = alpha[(v >> 18) & 63];
                out[o++] = alpha[(v >> 12) & 63];
                if (left > 1)
                        out[o++] = alpha[(v >> 6) & 63];
                else if (!url)
                        out[o++] = '=';
                if (left > 2)
                        out[o++] = alpha[v & 63];
                else if (!url)
                        out[o++] = '=';
        }
        out[o] = '\0';
        if (ret_len)
                *ret_len = o;
        return out;
}

static int b64_value(char c, bool url)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == (url ? '-' : '+'))
                return 62;
        if (c == (url ? '_' : '/'))
                return 63;
        return -1;
}

int alder_base64_decode(const char *s, size_t len, bool url, uint8_t **ret, size_t *ret_len, size_t *ret_bad)
{
        size_t n = len;
        /* optional padding: one or two '=' completing a group of four */
        if (n % 4 == 0 && n > 0 && s[n - 1] == '=')
                n -= n > 1 && s[n - 2] == '=' ? 2 : 1;
        if (n % 4 == 1) {
                *ret_bad = n - 1;
                return -EBADMSG;
        }
        _cleanup_free_ uint8_t *out = malloc(n / 4 * 3 + 3);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        uint32_t acc = 0;
        unsigned bits = 0;
        for (size_t i = 0; i < n; i++) {
                int v = b64_value(s[i], url);
                if (v < 0) {
                        *ret_bad = i;
                        return -EBADMSG;
                }
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (uint8_t) (acc >> bits);
                }
        }
        out[o] = '\0';
        *ret_len = o;
        *ret = steal_pointer(&out);
        return 0;
}
