/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "record.h"

static size_t align_up(size_t n)
{
        return (n + LOGREC_ALIGN - 1) & ~(size_t) (LOGREC_ALIGN - 1);
}

static size_t payload_size(const struct logrec *r)
{
        size_t n = LOGREC_FIXED_SIZE + r->source.len + r->app.len + r->version.len + r->message.len;
        for (size_t i = 0; i < r->n_fields; i++)
                n += 1 + r->fields[i].key.len + 4 + r->fields[i].value.len;
        return n;
}

size_t logrec_frame_size(const struct logrec *r)
{
        if (r->source.len > LOGREC_NAME_MAX || r->app.len > LOGREC_NAME_MAX || r->version.len > LOGREC_NAME_MAX ||
            r->n_fields > LOGREC_MAX_FIELDS || r->message.len > LOGREC_MAX_PAYLOAD)
                return 0;
        for (size_t i = 0; i < r->n_fields; i++)
                if (r->fields[i].key.len == 0 || r->fields[i].key.len > LOGREC_KEY_MAX ||
                    r->fields[i].value.len > LOGREC_MAX_PAYLOAD)
                        return 0;
        size_t n = payload_size(r);
        return n > LOGREC_MAX_PAYLOAD ? 0 : align_up(LOGREC_HEADER_SIZE + n);
}

struct writer {
        uint8_t *p;
};

static void put(struct writer *w, const void *data, size_t n)
{
        if (n)
                memcpy(w->p, data, n);
        w->p += n;
}

static void put_u8(struct writer *w, uint8_t v)
{
        put(w, &v, 1);
}

static void put_u16(struct writer *w, size_t v)
{
        uint16_t le = htole16((uint16_t) v);
        put(w, &le, 2);
}

static void put_u32(struct writer *w, uint64_t v)
{
        uint32_t le = htole32((uint32_t) v);
        put(w, &le, 4);
}

static void put_u64(struct writer *w, uint64_t v)
{
        uint64_t le = htole64(v);
        put(w, &le, 8);
}

static uint32_t frame_crc(const uint8_t *size_field, const uint8_t *payload, size_t len)
{
        uLong crc = crc32(0L, size_field, 4);
        return (uint32_t) crc32(crc, payload, (uInt) len);
}

void logrec_encode(const struct logrec *r, uint8_t *out)
{
        size_t n = payload_size(r);
        size_t frame = align_up(LOGREC_HEADER_SIZE + n);
        struct writer w = {out};
        put_u32(&w, LOGREC_MAGIC);
        put_u32(&w, n);
        w.p += 4; /* the CRC, once the payload is there */
        put_u64(&w, r->seq);
        put_u64(&w, r->realtime_us);
        put_u64(&w, r->monotonic_us);
        put_u32(&w, r->pid);
        put_u32(&w, r->uid);
        put_u32(&w, r->gid);
        put_u8(&w, r->level);
        put_u8(&w, r->flags);
        put_u16(&w, r->n_fields);
        put_u16(&w, r->source.len);
        put_u16(&w, r->app.len);
        put_u16(&w, r->version.len);
        put_u16(&w, 0);
        put_u32(&w, r->message.len);
        put(&w, r->source.p, r->source.len);
        put(&w, r->app.p, r->app.len);
        put(&w, r->version.p, r->version.len);
        put(&w, r->message.p, r->message.len);
        for (size_t i = 0; i < r->n_fields; i++) {
                put_u8(&w, (uint8_t) r->fields[i].key.len);
                put(&w, r->fields[i].key.p, r->fields[i].key.len);
                put_u32(&w, r->fields[i].value.len);
                put(&w, r->fields[i].value.p, r->fields[i].value.len);
        }
        memset(w.p, 0, (size_t) (out + frame - w.p));
        uint32_t crc = htole32(frame_crc(out + 4, out + LOGREC_HEADER_SIZE, n));
        memcpy(out + 8, &crc, 4);
}

static uint32_t get_u32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, 4);
        return le32toh(v);
}

static uint64_t get_u64(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, 8);
        return le64toh(v);
}

static uint16_t get_u16(const uint8_t *p)
{
        uint16_t v;
        memcpy(&v, p, 2);
        return le16toh(v);
}

long logrec_frame_check(const uint8_t *buf, size_t len, const uint8_t **ret_payload, size_t *ret_payload_len)
{
        if (len < 4)
                return len == 0 || memcmp(buf, &(uint32_t){htole32(LOGREC_MAGIC)}, len) == 0 ? 0 : -EBADMSG;
        if (get_u32(buf) != LOGREC_MAGIC)
                return -EBADMSG;
        if (len < LOGREC_HEADER_SIZE)
                return 0;
        uint32_t n = get_u32(buf + 4);
        if (n < LOGREC_FIXED_SIZE || n > LOGREC_MAX_PAYLOAD)
                return -EBADMSG;
        size_t frame = align_up(LOGREC_HEADER_SIZE + n);
        if (len < LOGREC_HEADER_SIZE + n)
                return 0;
        if (frame_crc(buf + 4, buf + LOGREC_HEADER_SIZE, n) != get_u32(buf + 8))
                return -EBADMSG;
        *ret_payload = buf + LOGREC_HEADER_SIZE;
        *ret_payload_len = n;
        return (long) frame; /* the padding may be missing at the very end of a file: nothing follows it then */
}

/* Takes n bytes from the payload; false when fewer are left. */
static bool take(const uint8_t **p, const uint8_t *end, size_t n, struct logrec_str *ret)
{
        if ((size_t) (end - *p) < n)
                return false;
        *ret = (struct logrec_str){(const char *) *p, n};
        *p += n;
        return true;
}

/* One field at *p: key_len u8, key, value_len u32, value. */
static bool take_field(const uint8_t **p, const uint8_t *end, struct logrec_field *ret)
{
        struct logrec_str len;
        if (!take(p, end, 1, &len))
                return false;
        size_t key_len = (uint8_t) len.p[0];
        if (!take(p, end, key_len, &ret->key) || !logrec_key_valid(ret->key.p, key_len) || !take(p, end, 4, &len))
                return false;
        return take(p, end, get_u32((const uint8_t *) len.p), &ret->value);
}

int logrec_decode(const uint8_t *payload, size_t len, struct logrec *ret)
{
        if (len < LOGREC_FIXED_SIZE || len > LOGREC_MAX_PAYLOAD)
                return -EBADMSG;
        struct logrec r = {
                .seq = get_u64(payload),
                .realtime_us = get_u64(payload + 8),
                .monotonic_us = get_u64(payload + 16),
                .pid = get_u32(payload + 24),
                .uid = get_u32(payload + 28),
                .gid = get_u32(payload + 32),
                .level = payload[36],
                .flags = payload[37],
                .n_fields = get_u16(payload + 38),
        };
        if (r.level > 7 || (r.flags & ~LOGREC_FLAGS) || r.n_fields > LOGREC_MAX_FIELDS || get_u16(payload + 46) != 0)
                return -EBADMSG;
        const uint8_t *p = payload + LOGREC_FIXED_SIZE, *end = payload + len;
        if (!take(&p, end, get_u16(payload + 40), &r.source) || !take(&p, end, get_u16(payload + 42), &r.app) ||
            !take(&p, end, get_u16(payload + 44), &r.version) || !take(&p, end, get_u32(payload + 48), &r.message))
                return -EBADMSG;
        if (r.source.len > LOGREC_NAME_MAX || r.app.len > LOGREC_NAME_MAX || r.version.len > LOGREC_NAME_MAX)
                return -EBADMSG;
        r.fields_blob = p;
        for (size_t i = 0; i < r.n_fields; i++) {
                struct logrec_field f;
                if (!take_field(&p, end, &f))
                        return -EBADMSG;
        }
        if (p != end)
                return -EBADMSG;
        r.fields_blob_len = (size_t) (end - r.fields_blob);
        *ret = r;
        return 0;
}

bool logrec_field_next(const struct logrec *r, size_t *pos, struct logrec_field *ret)
{
        const uint8_t *p = r->fields_blob + *pos, *end = r->fields_blob + r->fields_blob_len;
        if (p >= end || !take_field(&p, end, ret))
                return false;
        *pos = (size_t) (p - r->fields_blob);
        return true;
}

bool logrec_key_valid(const char *key, size_t len)
{
        if (len == 0 || len > LOGREC_KEY_MAX || (key[0] >= '0' && key[0] <= '9'))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
                        return false;
        return true;
}
