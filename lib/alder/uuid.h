/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Name-based UUIDs (RFC 9562 version 5, SHA-1) for SUIT vendor and class
 * identifiers: the same names always give the same ids, on every host.
 */
#pragma once

#include <stdint.h>

#include "error.h"
#include "macro.h"

#define ALDER_UUID_LEN        16
#define ALDER_UUID_STRING_LEN 36

/* RFC 9562's DNS namespace 6ba7b810-9dad-11d1-80b4-00c04fd430c8. */
extern const uint8_t alder_uuid_namespace_dns[ALDER_UUID_LEN];

int alder_uuid_v5(const uint8_t ns[ALDER_UUID_LEN], const char *name, uint8_t out[ALDER_UUID_LEN],
                  alder_error **err) ALDER_WUR;

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; out holds ALDER_UUID_STRING_LEN + 1 bytes. */
void alder_uuid_format(const uint8_t uuid[ALDER_UUID_LEN], char *out);
