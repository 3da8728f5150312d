/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SUIT internals shared by suit.c (envelopes), suit-manifest.c (the manifest
 * interpreter), the unit tests and the fuzz target.
 */
#pragma once

#include <cbor.h>

#include "alder/suit.h"

/* Envelope and manifest keys (draft-ietf-suit-manifest, IANA "SUIT Envelope/Manifest Elements"). */
enum {
        SUIT_ENV_DELEGATION = 1,
        SUIT_ENV_AUTH = 2,
        SUIT_ENV_MANIFEST = 3,
        SUIT_MANIFEST_VERSION = 1,
        SUIT_MANIFEST_SEQUENCE = 2,
        SUIT_MANIFEST_COMMON = 3,
        SUIT_MANIFEST_REFERENCE_URI = 4,
        SUIT_MANIFEST_VALIDATE = 7,
        SUIT_MANIFEST_LOAD = 8,
        SUIT_MANIFEST_INVOKE = 9,
        SUIT_MANIFEST_PAYLOAD_FETCH = 16,
        SUIT_MANIFEST_INSTALL = 20,
        SUIT_MANIFEST_TEXT = 23,
        SUIT_COMMON_DEPENDENCIES = 1,
        SUIT_COMMON_COMPONENTS = 2,
        SUIT_COMMON_SHARED_SEQUENCE = 4,
};

/* Commands (IANA "SUIT Commands"). */
enum {
        SUIT_CMD_VENDOR_ID = 1,
        SUIT_CMD_CLASS_ID = 2,
        SUIT_CMD_IMAGE_MATCH = 3,
        SUIT_CMD_COMPONENT_SLOT = 5,
        SUIT_CMD_CHECK_CONTENT = 6,
        SUIT_CMD_SET_COMPONENT_INDEX = 12,
        SUIT_CMD_ABORT = 14,
        SUIT_CMD_TRY_EACH = 15,
        SUIT_CMD_WRITE = 18,
        SUIT_CMD_OVERRIDE_PARAMETERS = 20,
        SUIT_CMD_FETCH = 21,
        SUIT_CMD_COPY = 22,
        SUIT_CMD_INVOKE = 23,
        SUIT_CMD_DEVICE_ID = 24,
        SUIT_CMD_SWAP = 31,
        SUIT_CMD_RUN_SEQUENCE = 32,
};

/* Parameters (IANA "SUIT Parameters"). */
enum {
        SUIT_PARAM_VENDOR_ID = 1,
        SUIT_PARAM_CLASS_ID = 2,
        SUIT_PARAM_IMAGE_DIGEST = 3,
        SUIT_PARAM_COMPONENT_SLOT = 5,
        SUIT_PARAM_STRICT_ORDER = 12,
        SUIT_PARAM_SOFT_FAILURE = 13,
        SUIT_PARAM_IMAGE_SIZE = 14,
        SUIT_PARAM_CONTENT = 18,
        SUIT_PARAM_URI = 21,
        SUIT_PARAM_SOURCE_COMPONENT = 22,
        SUIT_PARAM_INVOKE_ARGS = 23,
        SUIT_PARAM_DEVICE_ID = 24,
};

/* suit-text keys. */
enum {
        SUIT_TEXT_MANIFEST_DESCRIPTION = 1,
        SUIT_TEXT_COMPONENT_DESCRIPTION = 5,
        SUIT_TEXT_COMPONENT_VERSION = 6,
};

#define SUIT_DIGEST_ALG_SHA256 (-16)
/* Reporting policies the encoder uses, as in the draft's examples. */
#define SUIT_REPORT_ALL      15 /* record + sysinfo, on success and failure */
#define SUIT_REPORT_REC_FAIL 2

/* Severable members found in the envelope beside the manifest (NULL: absent). */
struct suit_severed {
        const cbor_item_t *payload_fetch;
        const cbor_item_t *install;
        const cbor_item_t *text;
};

bool suit_component_id_equal(const struct alder_suit_component_id *a, const struct alder_suit_component_id *b);

/* SHA-256 of a byte string item's full encoding (head + content): how SUIT digests bstr-wrapped elements. */
int suit_digest_bstr(const uint8_t *content, size_t len, uint8_t ret[ALDER_SUIT_DIGEST_SIZE], alder_error **err);

/* Decodes a SUIT_Digest ([-16, bstr .size 32]); `what` names it in errors. */
int suit_decode_digest(const char *what, const cbor_item_t *item, uint8_t ret[ALDER_SUIT_DIGEST_SIZE],
                       alder_error **err) ALDER_WUR;

/*
 * Interprets a manifest (the content of the envelope's manifest bstr) into
 * ret's manifest fields (not signer, not manifest_digest).
 */
int suit_manifest_interpret(const uint8_t *manifest, size_t len, const struct suit_severed *severed,
                            const struct alder_suit_expect *expect, struct alder_suit_result *ret,
                            alder_error **err) ALDER_WUR;
