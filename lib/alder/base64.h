/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 and base64url (RFC 4648 §4 and §5), for LwM2M values and the REST payloads that carry them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Base64 (padded) or base64url (unpadded): a malloc'd NUL-terminated string, NULL on ENOMEM. */
char *alder_base64_encode(const uint8_t *data, size_t len, bool url, size_t *ret_len);

/*
 * Decodes base64 (url = false) or base64url (url = true); padding is optional
 * in both. -EBADMSG with *ret_bad = offset of the first bad character, or -ENOMEM.
 * *ret is malloc'd (NUL-terminated for convenience).
 */
int alder_base64_decode(const char *s, size_t len, bool url, uint8_t **ret, size_t *ret_len, size_t *ret_bad) ALDER_WUR;
