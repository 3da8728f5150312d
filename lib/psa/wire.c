/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd wire codec: see secd-wire.h and docs/api/secd.md. Every length
 * read from the peer is checked against what remains before it is used.
 */
#include <string.h>

#include "secd-wire.h"

static void put_le16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
        return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
        return (uint64_t) get_le32(p) | (uint64_t) get_le32(p + 4) << 32;
}

void secd_writer_start(struct secd_writer *w, uint8_t *buf, size_t cap, uint16_t opcode, int32_t status)
{
        *w = (struct secd_writer){.buf = buf, .cap = cap, .len = SECD_WIRE_HEADER_SIZE};
        if (cap < SECD_WIRE_HEADER_SIZE) {
                w->overflow = true;
                return;
        }
        put_le32(buf, SECD_WIRE_MAGIC);
        put_le16(buf + 4, SECD_WIRE_VERSION);
        put_le16(buf + 6, opcode);
        put_le32(buf + 8, (uint32_t) status);
        put_le32(buf + 12, 0);
}

/* Reserves a field of `len` bytes; NULL (and overflow set) when it does not fit. */
static uint8_t *put_field(struct secd_writer *w, uint16_t tag, size_t len)
{
        size_t limit = ALDER_PSA_MIN(w->cap, SECD_WIRE_MAX_FRAME);
        if (w->overflow || len > limit || limit - w->len < 6 + len) {
                w->overflow = true;
                return NULL;
        }
        uint8_t *p = w->buf + w->len;
        put_le16(p, tag);
        put_le32(p + 2, (uint32_t) len);
        w->len += 6 + len;
        return p + 6;
}

void secd_put_u32(struct secd_writer *w, uint16_t tag, uint32_t v)
{
        uint8_t *p = put_field(w, tag, 4);
        if (p)
                put_le32(p, v);
}

void secd_put_u64(struct secd_writer *w, uint16_t tag, uint64_t v)
{
        uint8_t *p = put_field(w, tag, 8);
        if (p) {
                put_le32(p, (uint32_t) v);
                put_le32(p + 4, (uint32_t) (v >> 32));
        }
}

void secd_put_bytes(struct secd_writer *w, uint16_t tag, const void *data, size_t len)
{
        uint8_t *p = put_field(w, tag, len);
        if (p && len)
                memcpy(p, data, len);
}

void secd_attrs_encode(const psa_key_attributes_t *a, uint8_t out[SECD_WIRE_ATTRS_SIZE])
{
        put_le16(out, a->private_type);
        put_le16(out + 2, a->private_bits);
        put_le32(out + 4, a->private_usage);
        put_le32(out + 8, a->private_alg);
        put_le32(out + 12, a->private_lifetime);
        put_le32(out + 16, a->private_id);
}

void secd_attrs_decode(const uint8_t in[SECD_WIRE_ATTRS_SIZE], psa_key_attributes_t *a)
{
        *a = (psa_key_attributes_t){
                .private_type = get_le16(in),
                .private_bits = get_le16(in + 2),
                .private_usage = get_le32(in + 4),
                .private_alg = get_le32(in + 8),
                .private_lifetime = get_le32(in + 12),
                .private_id = get_le32(in + 16),
        };
}

void secd_put_attrs(struct secd_writer *w, const psa_key_attributes_t *a)
{
        uint8_t *p = put_field(w, SECD_TAG_ATTRS, SECD_WIRE_ATTRS_SIZE);
        if (p)
                secd_attrs_encode(a, p);
}

void secd_put_info(struct secd_writer *w, const struct secd_info *info)
{
        uint8_t *p = put_field(w, SECD_TAG_INFO, SECD_WIRE_INFO_SIZE);
        if (p) {
                put_le32(p, info->capacity);
                put_le32(p + 4, info->size);
                put_le32(p + 8, info->flags);
        }
}

size_t secd_writer_finish(struct secd_writer *w)
{
        if (w->overflow)
                return 0;
        put_le32(w->buf + 12, (uint32_t) (w->len - SECD_WIRE_HEADER_SIZE));
        return w->len;
}

psa_status_t secd_header_decode(const uint8_t *buf, size_t len, struct secd_header *h)
{
        if (len < SECD_WIRE_HEADER_SIZE)
                return PSA_ERROR_INSUFFICIENT_DATA;
        struct secd_header d = {
                .magic = get_le32(buf),
                .version = get_le16(buf + 4),
                .opcode = get_le16(buf + 6),
                .status = (int32_t) get_le32(buf + 8),
                .body_len = get_le32(buf + 12),
        };
        if (d.magic != SECD_WIRE_MAGIC)
                return PSA_ERROR_COMMUNICATION_FAILURE;
        if (d.version != SECD_WIRE_VERSION)
                return PSA_ERROR_NOT_SUPPORTED;
        if (d.body_len > SECD_WIRE_MAX_BODY)
                return PSA_ERROR_INVALID_ARGUMENT;
        *h = d;
        return PSA_SUCCESS;
}

/* Size of each fixed-size field; 0 for byte fields. */
static const uint8_t fixed_size[SECD_TAG_MAX] = {
        [SECD_TAG_KEY_ID] = 4, [SECD_TAG_ATTRS] = SECD_WIRE_ATTRS_SIZE,
        [SECD_TAG_ALG] = 4,    [SECD_TAG_OUT_SIZE] = 4,
        [SECD_TAG_UID] = 8,    [SECD_TAG_FLAGS] = 4,
        [SECD_TAG_OFFSET] = 4, [SECD_TAG_INFO] = SECD_WIRE_INFO_SIZE,
};

static struct secd_bytes *bytes_field(struct secd_msg *m, uint16_t tag)
{
        switch (tag) {
        case SECD_TAG_INPUT:
                return &m->input;
        case SECD_TAG_NONCE:
                return &m->nonce;
        case SECD_TAG_AAD:
                return &m->aad;
        case SECD_TAG_SIGNATURE:
                return &m->signature;
        case SECD_TAG_APP:
                return &m->app;
        case SECD_TAG_OUTPUT:
                return &m->output;
        case SECD_TAG_CGROUP:
                return &m->cgroup;
        default:
                return NULL;
        }
}

static void store_fixed(struct secd_msg *m, uint16_t tag, const uint8_t *v)
{
        switch (tag) {
        case SECD_TAG_KEY_ID:
                m->key_id = get_le32(v);
                break;
        case SECD_TAG_ATTRS:
                secd_attrs_decode(v, &m->attrs);
                break;
        case SECD_TAG_ALG:
                m->alg = get_le32(v);
                break;
        case SECD_TAG_OUT_SIZE:
                m->out_size = get_le32(v);
                break;
        case SECD_TAG_UID:
                m->uid = get_le64(v);
                break;
        case SECD_TAG_FLAGS:
                m->flags = get_le32(v);
                break;
        case SECD_TAG_OFFSET:
                m->offset = get_le32(v);
                break;
        case SECD_TAG_INFO:
                m->info = (struct secd_info){get_le32(v), get_le32(v + 4), get_le32(v + 8)};
                break;
        }
}

psa_status_t secd_body_decode(const uint8_t *body, size_t len, struct secd_msg *m)
{
        *m = (struct secd_msg){0};
        if (len > SECD_WIRE_MAX_BODY)
                return PSA_ERROR_INVALID_ARGUMENT;
        size_t off = 0;
        while (off < len) {
                if (len - off < 6)
                        return PSA_ERROR_INVALID_ARGUMENT;
                uint16_t tag = get_le16(body + off);
                uint32_t flen = get_le32(body + off + 2);
                off += 6;
                if (tag == 0 || tag >= SECD_TAG_MAX || flen > len - off || (m->present & SECD_BIT(tag)))
                        return PSA_ERROR_INVALID_ARGUMENT;
                struct secd_bytes *b = bytes_field(m, tag);
                if (b) {
                        if (flen > SECD_WIRE_MAX_DATA)
                                return PSA_ERROR_INVALID_ARGUMENT;
                        *b = (struct secd_bytes){body + off, flen};
                } else {
                        if (flen != fixed_size[tag])
                                return PSA_ERROR_INVALID_ARGUMENT;
                        store_fixed(m, tag, body + off);
                }
                m->present |= SECD_BIT(tag);
                off += flen;
        }
        return PSA_SUCCESS;
}

#define B(t) SECD_BIT(SECD_TAG_##t)

static const struct {
        const char *name;
        uint32_t required, optional;
} ops[SECD_OP_MAX] = {
        [SECD_OP_GENERATE_KEY] = {"generate_key", B(ATTRS), 0},
        [SECD_OP_IMPORT_KEY] = {"import_key", B(ATTRS) | B(INPUT), 0},
        [SECD_OP_EXPORT_KEY] = {"export_key", B(KEY_ID) | B(OUT_SIZE), 0},
        [SECD_OP_EXPORT_PUBLIC_KEY] = {"export_public_key", B(KEY_ID) | B(OUT_SIZE), 0},
        [SECD_OP_DESTROY_KEY] = {"destroy_key", B(KEY_ID), 0},
        [SECD_OP_GET_ATTRIBUTES] = {"get_attributes", B(KEY_ID), 0},
        [SECD_OP_SIGN_HASH] = {"sign_hash", B(KEY_ID) | B(ALG) | B(INPUT) | B(OUT_SIZE), 0},
        [SECD_OP_VERIFY_HASH] = {"verify_hash", B(KEY_ID) | B(ALG) | B(INPUT) | B(SIGNATURE), 0},
        [SECD_OP_AEAD_ENCRYPT] = {"aead_encrypt", B(KEY_ID) | B(ALG) | B(NONCE) | B(INPUT) | B(OUT_SIZE), B(AAD)},
        [SECD_OP_AEAD_DECRYPT] = {"aead_decrypt", B(KEY_ID) | B(ALG) | B(NONCE) | B(INPUT) | B(OUT_SIZE), B(AAD)},
        [SECD_OP_HASH_COMPUTE] = {"hash_compute", B(ALG) | B(INPUT) | B(OUT_SIZE), 0},
        [SECD_OP_GENERATE_RANDOM] = {"generate_random", B(OUT_SIZE), 0},
        [SECD_OP_PS_SET] = {"ps_set", B(UID) | B(INPUT) | B(FLAGS), 0},
        [SECD_OP_PS_GET] = {"ps_get", B(UID) | B(OFFSET) | B(OUT_SIZE), 0},
        [SECD_OP_PS_GET_INFO] = {"ps_get_info", B(UID), 0},
        [SECD_OP_PS_REMOVE] = {"ps_remove", B(UID), 0},
        [SECD_OP_KEY_LIST] = {"key_list", 0, 0},
        [SECD_OP_PS_LIST] = {"ps_list", 0, 0},
        [SECD_OP_APP_ADD] = {"app_add", B(APP), B(CGROUP)},
        [SECD_OP_APP_REMOVE] = {"app_remove", B(APP), B(FLAGS)},
        [SECD_OP_SIGN_MESSAGE] = {"sign_message", B(KEY_ID) | B(ALG) | B(INPUT) | B(OUT_SIZE), 0},
        [SECD_OP_VERIFY_MESSAGE] = {"verify_message", B(KEY_ID) | B(ALG) | B(INPUT) | B(SIGNATURE), 0},
        [SECD_OP_MAC_COMPUTE] = {"mac_compute", B(KEY_ID) | B(ALG) | B(INPUT) | B(OUT_SIZE), 0},
        [SECD_OP_MAC_VERIFY] = {"mac_verify", B(KEY_ID) | B(ALG) | B(INPUT) | B(SIGNATURE), 0},
        [SECD_OP_RAW_KEY_AGREEMENT] = {"raw_key_agreement", B(KEY_ID) | B(ALG) | B(INPUT) | B(OUT_SIZE), 0},
};

const char *secd_op_name(uint16_t opcode)
{
        return opcode < SECD_OP_MAX ? ops[opcode].name : NULL;
}

psa_status_t secd_request_check(uint16_t opcode, const struct secd_msg *m, bool admin)
{
        if (!secd_op_name(opcode))
                return PSA_ERROR_NOT_SUPPORTED;
        if ((opcode == SECD_OP_APP_ADD || opcode == SECD_OP_APP_REMOVE) && !admin)
                return PSA_ERROR_NOT_PERMITTED;
        uint32_t allowed = ops[opcode].required | ops[opcode].optional | (admin ? B(APP) : 0);
        if ((m->present & ops[opcode].required) != ops[opcode].required || (m->present & ~allowed))
                return PSA_ERROR_INVALID_ARGUMENT;
        /* The admin socket names the app of every request; the app socket never does. */
        if (admin && !(m->present & B(APP)))
                return PSA_ERROR_INVALID_ARGUMENT;
        if (m->app.len > SECD_APP_NAME_MAX || m->cgroup.len > SECD_CGROUP_MAX)
                return PSA_ERROR_INVALID_ARGUMENT;
        return PSA_SUCCESS;
}

const char *secd_status_name(psa_status_t s)
{
        static const char *const names[] = {
                [0] = "PSA_SUCCESS",
                [132] = "PSA_ERROR_GENERIC_ERROR",
                [133] = "PSA_ERROR_NOT_PERMITTED",
                [134] = "PSA_ERROR_NOT_SUPPORTED",
                [135] = "PSA_ERROR_INVALID_ARGUMENT",
                [136] = "PSA_ERROR_INVALID_HANDLE",
                [137] = "PSA_ERROR_BAD_STATE",
                [138] = "PSA_ERROR_BUFFER_TOO_SMALL",
                [139] = "PSA_ERROR_ALREADY_EXISTS",
                [140] = "PSA_ERROR_DOES_NOT_EXIST",
                [141] = "PSA_ERROR_INSUFFICIENT_MEMORY",
                [142] = "PSA_ERROR_INSUFFICIENT_STORAGE",
                [143] = "PSA_ERROR_INSUFFICIENT_DATA",
                [145] = "PSA_ERROR_COMMUNICATION_FAILURE",
                [146] = "PSA_ERROR_STORAGE_FAILURE",
                [147] = "PSA_ERROR_HARDWARE_FAILURE",
                [148] = "PSA_ERROR_INSUFFICIENT_ENTROPY",
                [149] = "PSA_ERROR_INVALID_SIGNATURE",
                [150] = "PSA_ERROR_INVALID_PADDING",
                [151] = "PSA_ERROR_CORRUPTION_DETECTED",
                [152] = "PSA_ERROR_DATA_CORRUPT",
                [153] = "PSA_ERROR_DATA_INVALID",
        };
        long i = s <= 0 ? -(long) s : -1;
        return i >= 0 && (size_t) i < sizeof(names) / sizeof(names[0]) && names[i] ? names[i] : "PSA_ERROR_UNKNOWN";
}
