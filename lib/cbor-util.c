/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alder/cbor-util.h"

/* Growth bound of a writer whose caller set none. */
#define WRITER_DEFAULT_MAX (1024u * 1024u)

/* ---- streaming reader ------------------------------------------------------------------------ */

#define SET_HEAD(ctx, ...) (*(struct alder_cbor_head *) (ctx) = (struct alder_cbor_head){__VA_ARGS__})

/* libcbor reports integers, negative integers and tags by the width of their argument. */
#define ON_INT(name, type, k)                           \
        static void name(void *ctx, type v)             \
        {                                               \
                SET_HEAD(ctx, .kind = (k), .value = v); \
        }
ON_INT(on_uint8, uint8_t, ALDER_CBOR_UINT)
ON_INT(on_uint16, uint16_t, ALDER_CBOR_UINT)
ON_INT(on_uint32, uint32_t, ALDER_CBOR_UINT)
ON_INT(on_uint64, uint64_t, ALDER_CBOR_UINT)
ON_INT(on_negint8, uint8_t, ALDER_CBOR_NEGINT)
ON_INT(on_negint16, uint16_t, ALDER_CBOR_NEGINT)
ON_INT(on_negint32, uint32_t, ALDER_CBOR_NEGINT)
ON_INT(on_negint64, uint64_t, ALDER_CBOR_NEGINT)
ON_INT(on_tag, uint64_t, ALDER_CBOR_TAG)

static void on_bytes(void *ctx, cbor_data data, size_t len)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_BYTES, .len = len, .data = data);
}
static void on_text(void *ctx, cbor_data data, size_t len)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_TEXT, .len = len, .data = data);
}
static void on_array(void *ctx, size_t n)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_ARRAY, .len = n);
}
static void on_map(void *ctx, size_t n)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_MAP, .len = n);
}
static void on_indef_bytes(void *ctx)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_BYTES, .indefinite = true);
}
static void on_indef_text(void *ctx)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_TEXT, .indefinite = true);
}
static void on_indef_array(void *ctx)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_ARRAY, .indefinite = true);
}
static void on_indef_map(void *ctx)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_MAP, .indefinite = true);
}
static void on_float(void *ctx, float v)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_FLOAT, .f = v);
}
static void on_double(void *ctx, double v)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_FLOAT, .f = v);
}
static void on_bool(void *ctx, bool v)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_BOOL, .value = v);
}
static void on_null(void *ctx)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_NULL);
}
static void on_undefined(void *ctx)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_UNDEFINED);
}
static void on_break(void *ctx)
{
        SET_HEAD(ctx, .kind = ALDER_CBOR_BREAK);
}

static const struct cbor_callbacks head_callbacks = {
        .uint8 = on_uint8,
        .uint16 = on_uint16,
        .uint32 = on_uint32,
        .uint64 = on_uint64,
        .negint8 = on_negint8,
        .negint16 = on_negint16,
        .negint32 = on_negint32,
        .negint64 = on_negint64,
        .byte_string = on_bytes,
        .byte_string_start = on_indef_bytes,
        .string = on_text,
        .string_start = on_indef_text,
        .array_start = on_array,
        .indef_array_start = on_indef_array,
        .map_start = on_map,
        .indef_map_start = on_indef_map,
        .tag = on_tag,
        .float2 = on_float,
        .float4 = on_float,
        .float8 = on_double,
        .undefined = on_undefined,
        .null = on_null,
        .boolean = on_bool,
        .indef_break = on_break,
};

/* libcbor 0.8 refuses the one-byte tags 6..20 as "unassigned" (COSE_Sign1's 18 among them). */
static bool is_unsupported_tag_byte(uint8_t b)
{
        return b >= 0xc6 && b <= 0xd4;
}

int alder_cbor_read_head(struct alder_cbor_reader *r, struct alder_cbor_head *ret, alder_error **err)
{
        size_t at = r->off;
        if (at >= r->len)
                return ALDER_CBOR_FAIL(r, err, at, EBADMSG, "truncated (an item is missing)");
        /* libcbor would call them malformed input: name them instead */
        if (is_unsupported_tag_byte(r->buf[at]))
                return ALDER_CBOR_FAIL(r, err, at, EBADMSG, "tag %d is not supported", r->buf[at] - 0xc0);
        /* every kind has a callback; UNDEFINED stands for "none was called" */
        struct alder_cbor_head h = {.kind = ALDER_CBOR_UNDEFINED};
        struct cbor_decoder_result res = cbor_stream_decode(r->buf + at, r->len - at, &head_callbacks, &h);
        if (res.status == CBOR_DECODER_NEDATA)
                return ALDER_CBOR_FAIL(r, err, at, EBADMSG, "truncated item");
        if (res.status != CBOR_DECODER_FINISHED || res.read == 0)
                return ALDER_CBOR_FAIL(r, err, at, EBADMSG, "malformed item (byte 0x%02x)", r->buf[at]);
        h.off = at;
        h.size = res.read;
        r->off += res.read;
        *ret = h;
        return 0;
}

int alder_cbor_check_count(const struct alder_cbor_reader *r, size_t at, enum alder_cbor_kind kind, uint64_t n,
                           alder_error **err)
{
        size_t left = r->len - r->off;
        if (n > left || (kind == ALDER_CBOR_MAP && n > left / 2))
                return ALDER_CBOR_FAIL(r, err, at, EBADMSG, "%s of %llu items exceeds the remaining %zu bytes",
                                       alder_cbor_kind_name(kind), (unsigned long long) n, left);
        return 0;
}

const char *alder_cbor_kind_name(enum alder_cbor_kind k)
{
        static const char *const names[] = {
                [ALDER_CBOR_UINT] = "unsigned integer",
                [ALDER_CBOR_NEGINT] = "negative integer",
                [ALDER_CBOR_BYTES] = "byte string",
                [ALDER_CBOR_TEXT] = "text string",
                [ALDER_CBOR_ARRAY] = "array",
                [ALDER_CBOR_MAP] = "map",
                [ALDER_CBOR_TAG] = "tag",
                [ALDER_CBOR_FLOAT] = "floating-point number",
                [ALDER_CBOR_BOOL] = "boolean",
                [ALDER_CBOR_NULL] = "null",
                [ALDER_CBOR_UNDEFINED] = "undefined",
                [ALDER_CBOR_BREAK] = "break",
        };
        const char *n = ALDER_NAME_OF(names, k);
        return n ? n : "item";
}

/* The value of an unsigned (negative: -1 - v) integer, when it fits in int64_t. */
static bool int64_of(bool negative, uint64_t v, int64_t *ret)
{
        if (v > INT64_MAX)
                return false;
        *ret = negative ? -1 - (int64_t) v : (int64_t) v;
        return true;
}

bool alder_cbor_head_int64(const struct alder_cbor_head *h, int64_t *ret)
{
        if (h->kind != ALDER_CBOR_UINT && h->kind != ALDER_CBOR_NEGINT)
                return false;
        return int64_of(h->kind == ALDER_CBOR_NEGINT, h->value, ret);
}

/* ---- strict decoding ------------------------------------------------------------------------- */

/* An open container: an array, a map or a tag (a tag holds exactly one item). */
struct frame {
        uint64_t remaining; /* items (arrays, tags) or pairs (maps) still to come */
        bool is_map;
        bool want_key;
        size_t key_start;
        size_t prev_key_start;
        size_t prev_key_len; /* 0: no key seen yet (a key is never empty) */
};

struct scanner {
        struct alder_cbor_reader rd;
        size_t items;
        unsigned depth;
        struct frame stack[ALDER_CBOR_MAX_DEPTH];
};

/* Bytes an item head takes in its shortest form. */
static size_t head_size(uint64_t v)
{
        if (v < 24)
                return 1;
        if (v <= UINT8_MAX)
                return 2;
        if (v <= UINT16_MAX)
                return 3;
        if (v <= UINT32_MAX)
                return 5;
        return 9;
}

/* A map key just ended at the reader's offset: it must sort strictly after the previous key. */
static int check_key_order(const struct scanner *s, struct frame *f, alder_error **err)
{
        const struct alder_cbor_reader *rd = &s->rd;
        size_t len = rd->off - f->key_start;
        if (f->prev_key_len > 0) {
                size_t n = ALDER_MIN(len, f->prev_key_len);
                int c = memcmp(rd->buf + f->key_start, rd->buf + f->prev_key_start, n);
                if (c == 0 && len == f->prev_key_len)
                        return ALDER_CBOR_FAIL(rd, err, f->key_start, EBADMSG, "duplicate map key");
                if (c < 0 || (c == 0 && len < f->prev_key_len))
                        return ALDER_CBOR_FAIL(rd, err, f->key_start, EBADMSG,
                                               "map keys are not in deterministic (bytewise) order");
        }
        f->prev_key_start = f->key_start;
        f->prev_key_len = len;
        return 0;
}

/* An item ended at the reader's offset: closes every container it completes. */
static int complete_item(struct scanner *s, alder_error **err)
{
        while (s->depth > 0) {
                struct frame *f = &s->stack[s->depth - 1];
                if (f->is_map && f->want_key) {
                        int r = check_key_order(s, f, err);
                        if (r < 0)
                                return r;
                        f->want_key = false;
                        return 0;
                }
                f->want_key = f->is_map;
                if (--f->remaining > 0)
                        return 0;
                s->depth--;
        }
        return 0;
}

static int check_head(const struct scanner *s, const struct alder_cbor_head *h, alder_error **err)
{
        const struct alder_cbor_reader *rd = &s->rd;
        if (h->indefinite)
                return ALDER_CBOR_FAIL(rd, err, h->off, EBADMSG,
                                       "indefinite-length %s (only definite lengths are allowed)",
                                       alder_cbor_kind_name(h->kind));
        switch (h->kind) {
        case ALDER_CBOR_UINT:
        case ALDER_CBOR_NEGINT:
        case ALDER_CBOR_TAG:
        case ALDER_CBOR_ARRAY:
        case ALDER_CBOR_MAP:
                if (h->size != head_size(h->kind == ALDER_CBOR_ARRAY || h->kind == ALDER_CBOR_MAP ? h->len : h->value))
                        return ALDER_CBOR_FAIL(rd, err, h->off, EBADMSG,
                                               "integer, length or tag not in its shortest form");
                return 0;
        case ALDER_CBOR_BYTES:
        case ALDER_CBOR_TEXT:
                if (h->size - h->len != head_size(h->len))
                        return ALDER_CBOR_FAIL(rd, err, h->off, EBADMSG, "string length not in its shortest form");
                return 0;
        case ALDER_CBOR_BOOL:
        case ALDER_CBOR_NULL:
                return 0;
        case ALDER_CBOR_BREAK:
                return ALDER_CBOR_FAIL(rd, err, h->off, EBADMSG,
                                       "unexpected 'break' (only definite lengths are allowed)");
        case ALDER_CBOR_FLOAT:
                return ALDER_CBOR_FAIL(rd, err, h->off, EBADMSG, "floating-point values are not allowed");
        case ALDER_CBOR_UNDEFINED:
                break;
        }
        return ALDER_CBOR_FAIL(rd, err, h->off, EBADMSG, "simple value not allowed (only true, false and null)");
}

/* Opens the container whose head `h` just ended at the reader's offset. */
static int open_container(struct scanner *s, const struct alder_cbor_head *h, alder_error **err)
{
        size_t at = s->rd.off;
        bool is_map = h->kind == ALDER_CBOR_MAP;
        uint64_t n = h->len;
        if (h->kind == ALDER_CBOR_TAG)
                n = 1;
        else if (n == 0)
                return complete_item(s, err);
        /* a tag's one item is counted (and named) as an array's */
        int r = alder_cbor_check_count(&s->rd, at, is_map ? ALDER_CBOR_MAP : ALDER_CBOR_ARRAY, n, err);
        if (r < 0)
                return r;
        if (s->depth >= ALDER_CBOR_MAX_DEPTH)
                return ALDER_CBOR_FAIL(&s->rd, err, at, E2BIG, "nesting deeper than %d levels", ALDER_CBOR_MAX_DEPTH);
        s->stack[s->depth++] = (struct frame){.remaining = n, .is_map = is_map, .want_key = is_map};
        return 0;
}

static bool is_container(enum alder_cbor_kind k)
{
        return k == ALDER_CBOR_ARRAY || k == ALDER_CBOR_MAP || k == ALDER_CBOR_TAG;
}

/* Reads one item head (plus a string's bytes) at the reader's offset. */
static int scan_one(struct scanner *s, alder_error **err)
{
        struct alder_cbor_reader *rd = &s->rd;
        struct alder_cbor_head h;
        /* refused here before the reader does: cbor_load() could not decode them either */
        if (is_unsupported_tag_byte(rd->buf[rd->off]))
                return ALDER_CBOR_FAIL(rd, err, rd->off, ENOTSUP, "tag %d is not supported here",
                                       rd->buf[rd->off] - 0xc0);
        int r = alder_cbor_read_head(rd, &h, err);
        if (r < 0)
                return r;
        r = check_head(s, &h, err);
        if (r < 0)
                return r;
        if (++s->items > ALDER_CBOR_MAX_ITEMS)
                return ALDER_CBOR_FAIL(rd, err, h.off, E2BIG, "more than %d items", ALDER_CBOR_MAX_ITEMS);
        if (s->depth > 0 && s->stack[s->depth - 1].want_key)
                s->stack[s->depth - 1].key_start = h.off;
        return is_container(h.kind) ? open_container(s, &h, err) : complete_item(s, err);
}

static int scan(struct scanner *s, alder_error **err)
{
        struct alder_cbor_reader *rd = &s->rd;
        if (rd->len == 0)
                return alder_error_set(err, EBADMSG, "%s: empty document", rd->what);
        do {
                int r = scan_one(s, err);
                if (r < 0)
                        return r;
        } while (s->depth > 0 && rd->off < rd->len);
        if (s->depth > 0)
                return ALDER_CBOR_FAIL(rd, err, rd->off, EBADMSG, "truncated item");
        if (rd->off != rd->len)
                return ALDER_CBOR_FAIL(rd, err, rd->off, EBADMSG, "%zu trailing bytes after the data item",
                                       rd->len - rd->off);
        return 0;
}

static int decode_at(const char *what, size_t base, const uint8_t *buf, size_t len, cbor_item_t **ret,
                     alder_error **err)
{
        struct scanner s = {.rd = {.what = what, .buf = buf, .len = len, .base = base}};
        int r = scan(&s, err);
        if (r < 0)
                return r;
        struct cbor_load_result res;
        cbor_item_t *item = cbor_load(buf, len, &res);
        if (!item)
                return alder_error_set(err, res.error.code == CBOR_ERR_MEMERROR ? ENOMEM : EBADMSG,
                                       "%s: CBOR offset %zu: cannot decode", what, base + res.error.position);
        *ret = item;
        return 0;
}

int alder_cbor_decode(const char *what, const uint8_t *buf, size_t len, cbor_item_t **ret, alder_error **err)
{
        return decode_at(what, 0, buf, len, ret, err);
}

/* The head of a tag at buf[0] in its shortest form: its size, or 0 when buf does not start with one. */
static size_t tag_head(const uint8_t *buf, size_t len, uint64_t *ret_tag)
{
        if (len == 0 || (buf[0] & 0xe0) != 0xc0)
                return 0;
        uint8_t info = buf[0] & 0x1f;
        size_t n = info < 24 ? 1 : info <= 27 ? 1 + ((size_t) 1 << (info - 24)) : 0;
        if (n == 0 || n > len)
                return 0;
        uint64_t v = info < 24 ? info : 0;
        for (size_t i = 1; i < n; i++)
                v = (v << 8) | buf[i];
        if (n != head_size(v))
                return 0; /* not shortest: let the strict decoder report it */
        *ret_tag = v;
        return n;
}

int alder_cbor_decode_tagged(const char *what, const uint8_t *buf, size_t len, uint64_t *ret_tag, cbor_item_t **ret,
                             alder_error **err)
{
        uint64_t tag = ALDER_CBOR_UNTAGGED;
        size_t n = tag_head(buf, len, &tag);
        int r = decode_at(what, n, buf + n, len - n, ret, err);
        if (r < 0)
                return r;
        *ret_tag = tag;
        return 0;
}

int alder_cbor_check_tag(const char *what, uint64_t tag, uint64_t expected, const char *name, const cbor_item_t *item,
                         alder_error **err)
{
        if (tag == ALDER_CBOR_UNTAGGED)
                return alder_error_set(err, EBADMSG, "%s: expected CBOR tag %llu (%s), got %s", what,
                                       (unsigned long long) expected, name, alder_cbor_type_name(item));
        if (tag != expected)
                return alder_error_set(err, EBADMSG, "%s: CBOR tag %llu (expected %llu, %s)", what,
                                       (unsigned long long) tag, (unsigned long long) expected, name);
        return 0;
}

/* ---- access ---------------------------------------------------------------------------------- */

/* The kinds of the major types 0..6 are numbered as libcbor's types. */
_Static_assert((int) ALDER_CBOR_UINT == CBOR_TYPE_UINT && (int) ALDER_CBOR_NEGINT == CBOR_TYPE_NEGINT &&
                       (int) ALDER_CBOR_BYTES == CBOR_TYPE_BYTESTRING && (int) ALDER_CBOR_TEXT == CBOR_TYPE_STRING &&
                       (int) ALDER_CBOR_ARRAY == CBOR_TYPE_ARRAY && (int) ALDER_CBOR_MAP == CBOR_TYPE_MAP &&
                       (int) ALDER_CBOR_TAG == CBOR_TYPE_TAG,
               "enum alder_cbor_kind follows the CBOR major types");

const char *alder_cbor_type_name(const cbor_item_t *item)
{
        if (cbor_typeof(item) != CBOR_TYPE_FLOAT_CTRL)
                return alder_cbor_kind_name((enum alder_cbor_kind) cbor_typeof(item));
        if (cbor_is_bool(item))
                return "boolean";
        if (cbor_is_null(item))
                return "null";
        return "simple value";
}

bool alder_cbor_get_int64(const cbor_item_t *item, int64_t *ret)
{
        return cbor_is_int(item) && int64_of(cbor_isa_negint(item), cbor_get_int(item), ret);
}

cbor_item_t *alder_cbor_map_get_int(const cbor_item_t *map, int64_t key)
{
        if (!cbor_isa_map(map))
                return NULL;
        struct cbor_pair *pairs = cbor_map_handle(map);
        for (size_t i = 0; i < cbor_map_size(map); i++) {
                int64_t k;
                if (alder_cbor_get_int64(pairs[i].key, &k) && k == key)
                        return pairs[i].value;
        }
        return NULL;
}

/* ---- writing --------------------------------------------------------------------------------- */

void alder_cbor_writer_done(struct alder_cbor_writer *w)
{
        free(w->buf);
        *w = (struct alder_cbor_writer){.max = w->max};
}

static uint8_t *reserve(struct alder_cbor_writer *w, size_t n)
{
        size_t max = w->max ? w->max : WRITER_DEFAULT_MAX;
        if (w->error)
                return NULL;
        if (n > max || w->len > max - n) {
                w->error = E2BIG;
                return NULL;
        }
        if (w->len + n > w->cap) {
                size_t cap = w->cap ? w->cap : 256;
                while (cap < w->len + n)
                        cap *= 2;
                uint8_t *p = realloc(w->buf, cap);
                if (!p) {
                        w->error = ENOMEM;
                        return NULL;
                }
                w->buf = p;
                w->cap = cap;
        }
        return w->buf + w->len;
}

void alder_cbor_put_raw(struct alder_cbor_writer *w, const void *data, size_t len)
{
        uint8_t *p = reserve(w, len);
        if (!p)
                return;
        if (len > 0)
                memcpy(p, data, len);
        w->len += len;
}

/* Appends an item head produced by one of libcbor's cbor_encode_*() functions. */
#define PUT_HEAD(w, call)                                   \
        do {                                                \
                unsigned char head_[9];                     \
                size_t n_ = (call);                         \
                if (n_ == 0)                                \
                        (w)->error = EINVAL;                \
                else                                        \
                        alder_cbor_put_raw((w), head_, n_); \
        } while (0)

void alder_cbor_put_uint(struct alder_cbor_writer *w, uint64_t v)
{
        PUT_HEAD(w, cbor_encode_uint(v, head_, sizeof(head_)));
}

void alder_cbor_put_int(struct alder_cbor_writer *w, int64_t v)
{
        if (v >= 0)
                alder_cbor_put_uint(w, (uint64_t) v);
        else
                PUT_HEAD(w, cbor_encode_negint((uint64_t) (-1 - v), head_, sizeof(head_)));
}

void alder_cbor_put_bytes(struct alder_cbor_writer *w, const void *data, size_t len)
{
        PUT_HEAD(w, cbor_encode_bytestring_start(len, head_, sizeof(head_)));
        alder_cbor_put_raw(w, data, len);
}

void alder_cbor_put_text(struct alder_cbor_writer *w, const char *s, size_t len)
{
        PUT_HEAD(w, cbor_encode_string_start(len, head_, sizeof(head_)));
        alder_cbor_put_raw(w, s, len);
}

void alder_cbor_put_array(struct alder_cbor_writer *w, size_t n)
{
        PUT_HEAD(w, cbor_encode_array_start(n, head_, sizeof(head_)));
}

void alder_cbor_put_map(struct alder_cbor_writer *w, size_t n)
{
        PUT_HEAD(w, cbor_encode_map_start(n, head_, sizeof(head_)));
}

void alder_cbor_put_tag(struct alder_cbor_writer *w, uint64_t tag)
{
        PUT_HEAD(w, cbor_encode_tag(tag, head_, sizeof(head_)));
}

void alder_cbor_put_bool(struct alder_cbor_writer *w, bool v)
{
        PUT_HEAD(w, cbor_encode_bool(v, head_, sizeof(head_)));
}

void alder_cbor_put_null(struct alder_cbor_writer *w)
{
        PUT_HEAD(w, cbor_encode_null(head_, sizeof(head_)));
}

int alder_cbor_writer_finish(struct alder_cbor_writer *w, const char *what, uint8_t **ret, size_t *ret_len,
                             alder_error **err)
{
        if (w->error) {
                int e = w->error;
                alder_cbor_writer_done(w);
                return alder_error_sys(err, e, "encode %s", what);
        }
        if (!w->buf) {
                /* An empty encoding never happens for a real item; keep the contract simple anyway. */
                w->buf = malloc(1);
                if (!w->buf)
                        return alder_error_set(err, ENOMEM, "encode %s: out of memory", what);
        }
        *ret = steal_pointer(&w->buf);
        *ret_len = w->len;
        alder_cbor_writer_done(w);
        return 0;
}
