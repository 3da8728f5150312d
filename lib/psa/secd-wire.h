/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd wire protocol (docs/api/secd.md): the codec shared by the client
 * library, the daemon, the CLI and the fuzz target. No dependencies beyond libc.
 *
 * A frame is a 16-byte header (all integers little endian):
 *     u32 magic "ASEC" | u16 version | u16 opcode | i32 status | u32 body length
 * followed by a body of at most SECD_WIRE_MAX_BODY bytes: a sequence of fields,
 * each u16 tag | u32 length | value. One request frame, one reply frame.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psa/crypto.h"

#define ALDER_PSA_MIN(a, b)   ((a) < (b) ? (a) : (b))

#define SECD_WIRE_MAGIC       0x43455341u /* "ASEC" read as a little-endian u32 */
#define SECD_WIRE_VERSION     1u
#define SECD_WIRE_HEADER_SIZE 16u
#define SECD_WIRE_MAX_BODY    65536u
#define SECD_WIRE_MAX_FRAME   (SECD_WIRE_HEADER_SIZE + SECD_WIRE_MAX_BODY)
#define SECD_WIRE_ATTRS_SIZE  20u
#define SECD_WIRE_INFO_SIZE   12u
/* Largest single data field (plaintext, secret, export...): leaves room for the others. */
#define SECD_WIRE_MAX_DATA 32768u
#define SECD_APP_NAME_MAX  64u
#define SECD_CGROUP_MAX    1024u /* cgroup prefix of app_add */
/* app_remove flags */
#define SECD_APP_REMOVE_PURGE 1u /* also delete the app's keys and secrets */

enum secd_op {
        SECD_OP_GENERATE_KEY = 1,
        SECD_OP_IMPORT_KEY = 2,
        SECD_OP_EXPORT_KEY = 3,
        SECD_OP_EXPORT_PUBLIC_KEY = 4,
        SECD_OP_DESTROY_KEY = 5,
        SECD_OP_GET_ATTRIBUTES = 6,
        SECD_OP_SIGN_HASH = 7,
        SECD_OP_VERIFY_HASH = 8,
        SECD_OP_AEAD_ENCRYPT = 9,
        SECD_OP_AEAD_DECRYPT = 10,
        SECD_OP_HASH_COMPUTE = 11,
        SECD_OP_GENERATE_RANDOM = 12,
        SECD_OP_PS_SET = 13,
        SECD_OP_PS_GET = 14,
        SECD_OP_PS_GET_INFO = 15,
        SECD_OP_PS_REMOVE = 16,
        SECD_OP_KEY_LIST = 17,
        SECD_OP_PS_LIST = 18,
        SECD_OP_APP_ADD = 19,    /* admin socket only */
        SECD_OP_APP_REMOVE = 20, /* admin socket only */
        SECD_OP_SIGN_MESSAGE = 21,
        SECD_OP_VERIFY_MESSAGE = 22,
        SECD_OP_MAC_COMPUTE = 23,
        SECD_OP_MAC_VERIFY = 24,
        SECD_OP_RAW_KEY_AGREEMENT = 25,
        SECD_OP_MAX,
};

enum secd_tag {
        SECD_TAG_KEY_ID = 1,    /* u32 */
        SECD_TAG_ATTRS = 2,     /* u16 type, u16 bits, u32 usage, u32 alg, u32 lifetime, u32 id */
        SECD_TAG_ALG = 3,       /* u32 */
        SECD_TAG_INPUT = 4,     /* bytes: data, hash, plaintext, ciphertext, secret */
        SECD_TAG_NONCE = 5,     /* bytes */
        SECD_TAG_AAD = 6,       /* bytes */
        SECD_TAG_SIGNATURE = 7, /* bytes */
        SECD_TAG_OUT_SIZE = 8,  /* u32: the caller's output buffer size */
        SECD_TAG_UID = 9,       /* u64 */
        SECD_TAG_FLAGS = 10,    /* u32 */
        SECD_TAG_OFFSET = 11,   /* u32 */
        SECD_TAG_APP = 12,      /* bytes: app name, admin socket only */
        SECD_TAG_OUTPUT = 13,   /* bytes: reply data */
        SECD_TAG_INFO = 14,     /* u32 capacity, u32 size, u32 flags */
        SECD_TAG_CGROUP = 15,   /* bytes: cgroup path prefix of the app's processes (app_add) */
        SECD_TAG_MAX,
};

#define SECD_BIT(tag) (1u << (tag))

struct secd_header {
        uint32_t magic;
        uint16_t version;
        uint16_t opcode;
        int32_t status;
        uint32_t body_len;
};

struct secd_bytes {
        const uint8_t *p;
        uint32_t len;
};

struct secd_info {
        uint32_t capacity, size, flags;
};

/* A decoded body: scalar fields copied, byte fields point into the frame. */
struct secd_msg {
        uint32_t present; /* SECD_BIT(tag) for every field seen */
        psa_key_id_t key_id;
        psa_key_attributes_t attrs;
        psa_algorithm_t alg;
        uint32_t out_size, flags, offset;
        uint64_t uid;
        struct secd_info info;
        struct secd_bytes input, nonce, aad, signature, app, output, cgroup;
};

/* A frame being written into a caller's buffer of SECD_WIRE_MAX_FRAME bytes. */
struct secd_writer {
        uint8_t *buf;
        size_t cap, len;
        bool overflow;
};

void secd_writer_start(struct secd_writer *w, uint8_t *buf, size_t cap, uint16_t opcode, int32_t status);
void secd_put_u32(struct secd_writer *w, uint16_t tag, uint32_t v);
void secd_put_u64(struct secd_writer *w, uint16_t tag, uint64_t v);
void secd_put_bytes(struct secd_writer *w, uint16_t tag, const void *p, size_t len);
void secd_put_attrs(struct secd_writer *w, const psa_key_attributes_t *a);
void secd_put_info(struct secd_writer *w, const struct secd_info *info);
/* Fills in the body length; the frame's size, or 0 when it did not fit. */
size_t secd_writer_finish(struct secd_writer *w);

/* Encodes attributes as the 20-byte record of SECD_TAG_ATTRS (and of key lists). */
void secd_attrs_encode(const psa_key_attributes_t *a, uint8_t out[SECD_WIRE_ATTRS_SIZE]);
void secd_attrs_decode(const uint8_t in[SECD_WIRE_ATTRS_SIZE], psa_key_attributes_t *a);

/*
 * Decodes a 16-byte header. PSA_ERROR_COMMUNICATION_FAILURE for a wrong magic,
 * PSA_ERROR_NOT_SUPPORTED for another version, PSA_ERROR_INVALID_ARGUMENT for a
 * body longer than SECD_WIRE_MAX_BODY.
 */
psa_status_t secd_header_decode(const uint8_t *buf, size_t len, struct secd_header *h);

/*
 * Decodes a body into *m. PSA_ERROR_INVALID_ARGUMENT for a truncated field, an
 * unknown tag, a repeated tag or a fixed-size field of the wrong size.
 */
psa_status_t secd_body_decode(const uint8_t *body, size_t len, struct secd_msg *m);

/*
 * Checks a decoded request against its opcode: PSA_ERROR_NOT_SUPPORTED for an
 * unknown opcode, PSA_ERROR_INVALID_ARGUMENT for a missing required field or a
 * field the opcode does not take (SECD_TAG_APP only when `admin`).
 */
psa_status_t secd_request_check(uint16_t opcode, const struct secd_msg *m, bool admin);

/* The name of an opcode for logs ("sign_hash"), NULL if unknown. */
const char *secd_op_name(uint16_t opcode);

/* "PSA_ERROR_NOT_PERMITTED" for a status, "PSA_ERROR_UNKNOWN" for one it does not know. */
const char *secd_status_name(psa_status_t s);
