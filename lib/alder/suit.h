/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SUIT manifests (IETF SUIT, RFC 9124 model, encoding of
 * draft-ietf-suit-manifest) for Alder app packages and update bundles.
 *
 * The profile (docs/formats/suit-profile.md) in short:
 *
 *     107({ 2: bstr([bstr(SUIT_Digest), bstr(COSE_Sign1_Tagged)]),  authentication wrapper
 *           3: bstr(SUIT_Manifest) })
 *
 *     SUIT_Manifest = { 1: 1, 2: sequence-number, 3: bstr(common),
 *                       7: bstr(validate), 20: bstr(install), ? 23: bstr(text) }
 *
 * Each payload is a component with a digest (SHA-256), a size and a URI
 * "#name" naming the payload stored beside the envelope in the package
 * file. The shared sequence sets vendor/class ids, digests and sizes and
 * checks vendor and class; validate checks each image; install fetches each
 * one and checks it.
 *
 * Verification never trusts the bytes before the signature is checked, and
 * then *interprets* the command sequences (a minimal SUIT manifest processor)
 * instead of pattern-matching the encoder's output, so manifests from another
 * implementation of the same profile are understood. Image-match and fetch are
 * deferred: the interpreter records per component which digest, size and URI
 * apply, and the package reader checks the payload bytes while streaming them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cose.h"
#include "error.h"
#include "keys.h"
#include "macro.h"

#define ALDER_SUIT_TAG_ENVELOPE 107

/* Profile limits: everything read from an envelope is bounded by these. */
#define ALDER_SUIT_MAX_ENVELOPE     (64u * 1024u)
#define ALDER_SUIT_MAX_COMPONENTS   8
#define ALDER_SUIT_MAX_ID_SEGMENTS  8
#define ALDER_SUIT_MAX_SEGMENT_SIZE 64
#define ALDER_SUIT_MAX_URI          255 /* bytes, without the NUL */
#define ALDER_SUIT_MAX_TEXT         255 /* bytes of one text field, without the NUL */

#define ALDER_SUIT_UUID_SIZE        16
#define ALDER_SUIT_DIGEST_SIZE      32 /* SHA-256 */

/* A component identifier: an array of byte strings, e.g. ["alder", "app", "metadata"]. */
struct alder_suit_component_id {
        size_t n_segments;
        struct {
                size_t len;
                uint8_t bytes[ALDER_SUIT_MAX_SEGMENT_SIZE];
        } segments[ALDER_SUIT_MAX_ID_SEGMENTS];
};

/* Fills an id from NULL-terminated strings (each one segment, without its NUL). */
int alder_suit_component_id_from_strings(struct alder_suit_component_id *id, const char *const *segments,
                                         alder_error **err) ALDER_WUR;

/*
 * How errors and `alder` print an id: ['alder','app','metadata']; bytes
 * outside printable ASCII as h'..'. Truncated to size.
 */
void alder_suit_component_id_format(const struct alder_suit_component_id *id, char *buf, size_t size);

/* One payload, as the packer describes it. */
struct alder_suit_component {
        struct alder_suit_component_id id;
        uint8_t digest[ALDER_SUIT_DIGEST_SIZE]; /* SHA-256 of the payload */
        uint64_t size;                          /* payload bytes */
        const char *uri;                        /* "#app.json": a payload stored beside the envelope */
        const char *description;                /* optional suit-text component description (e.g. the app name) */
        const char *version;                    /* optional suit-text component version */
};

/* What alder_suit_manifest_encode() turns into a manifest. */
struct alder_suit_spec {
        uint64_t sequence_number; /* anti-rollback: devices refuse one lower than what they run */
        uint8_t vendor_id[ALDER_SUIT_UUID_SIZE];
        uint8_t class_id[ALDER_SUIT_UUID_SIZE];
        size_t n_components; /* 1..ALDER_SUIT_MAX_COMPONENTS */
        struct alder_suit_component components[ALDER_SUIT_MAX_COMPONENTS];
        const char *description; /* optional suit-text manifest description */
};

/*
 * Encodes the manifest (deterministic CBOR):
 *   common:   components; shared sequence, for each component: [set-component-index i,]
 *             override-parameters {vendor-id, class-id, image-digest, image-size},
 *             check-vendor-identifier, check-class-identifier
 *   validate: for each: [set-component-index i,] condition-image-match
 *   install:  for each: [set-component-index i,] override-parameters {uri}, fetch, condition-image-match
 *   text:     {"en": {1: description, component-id: {5: description, 6: version}}} when any text is set
 * set-component-index is left out with a single component, as the draft's examples do.
 * *ret is malloc'ed.
 */
int alder_suit_manifest_encode(const struct alder_suit_spec *spec, uint8_t **ret, size_t *ret_len,
                               alder_error **err) ALDER_WUR;

/*
 * Wraps an encoded manifest in a signed, tagged envelope: the SUIT_Digest
 * (SHA-256 of the bstr-wrapped manifest) and a COSE_Sign1 over it. The
 * manifest is interpreted first (without device ids): one a device would
 * refuse is not signed.
 */
int alder_suit_envelope_sign(const uint8_t *manifest, size_t manifest_len, const struct alder_cose_signer *signer,
                             uint8_t **ret, size_t *ret_len, alder_error **err) ALDER_WUR;

/* What the device expects the manifest's check-vendor/class-identifier conditions to find. */
struct alder_suit_expect {
        bool check_vendor_id;
        uint8_t vendor_id[ALDER_SUIT_UUID_SIZE];
        bool check_class_id;
        uint8_t class_id[ALDER_SUIT_UUID_SIZE];
};

/* One component as the manifest's command sequences leave it. */
struct alder_suit_result_component {
        struct alder_suit_component_id id;
        bool image_match;                       /* a condition-image-match covers it: check `digest` */
        uint8_t digest[ALDER_SUIT_DIGEST_SIZE]; /* the image digest that condition checks */
        bool has_size;
        uint64_t size;                             /* image-size in effect for the image-match / fetch */
        bool fetch;                                /* a fetch directive writes it */
        char uri[ALDER_SUIT_MAX_URI + 1];          /* where fetch reads it ("#name": beside the envelope) */
        char description[ALDER_SUIT_MAX_TEXT + 1]; /* suit-text ("" when absent) */
        char version[ALDER_SUIT_MAX_TEXT + 1];
};

struct alder_suit_result {
        uint64_t sequence_number;
        uint8_t vendor_id[ALDER_SUIT_UUID_SIZE]; /* as checked by check-vendor-identifier */
        uint8_t class_id[ALDER_SUIT_UUID_SIZE];  /* as checked by check-class-identifier */
        size_t n_components;
        struct alder_suit_result_component components[ALDER_SUIT_MAX_COMPONENTS];
        char description[ALDER_SUIT_MAX_TEXT + 1]; /* suit-text manifest description ("" when absent) */
        uint8_t manifest_digest[ALDER_SUIT_DIGEST_SIZE];
        struct alder_cose_signer_info signer;
};

/*
 * Verifies an envelope and interprets its manifest:
 *   1. strict parse (tag 107, size <= ALDER_SUIT_MAX_ENVELOPE, deterministic
 *      definite-length CBOR, no trailing bytes, known keys only);
 *   2. the auth wrapper's SHA-256 SUIT_Digest against the bstr-wrapped manifest;
 *   3. a COSE_Sign1 over that digest by a signer the trust store vouches for;
 *   4. the manifest: version 1, common, then payload-fetch, install and
 *      validate, each preceded by the shared sequence. Conditions
 *      check-vendor/class-identifier are evaluated against `expect` (NULL or
 *      unset fields: only required to be present); a mismatch is an error
 *      naming the condition.
 * Errors: EBADMSG malformed, E2BIG over a limit, ENOTSUP outside the profile,
 * EKEYREJECTED signature or signer, EKEYEXPIRED signer validity (see keys.h),
 * ENODEV a failed vendor/class condition (not this device), ENODATA a missing parameter.
 */
int alder_suit_envelope_verify(const uint8_t *buf, size_t len, const alder_trust_store *store,
                               const struct alder_suit_expect *expect, struct alder_suit_result *ret,
                               alder_error **err) ALDER_WUR;

/*
 * Everything alder_suit_envelope_verify() does except checking the signature
 * against a trust store: for showing what an envelope claims (`alder app
 * inspect`), never for deciding to install. The COSE structure is still
 * decoded strictly; ret->signer tells who the signature *claims* to be: the
 * kid in hex and, with an x5chain, the leaf's subject (alg too).
 */
int alder_suit_envelope_inspect(const uint8_t *buf, size_t len, const struct alder_suit_expect *expect,
                                struct alder_suit_result *ret, alder_error **err) ALDER_WUR;

/*
 * The manifest bytes of an envelope (the content of its key 3, pointing into
 * buf), after a strict parse of the envelope: what re-signing signs again.
 * Nothing is verified.
 */
int alder_suit_envelope_manifest(const uint8_t *buf, size_t len, const uint8_t **ret, size_t *ret_len,
                                 alder_error **err) ALDER_WUR;
