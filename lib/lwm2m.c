/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LwM2M data model: paths, typed values, records, and the helpers the content
 * formats share (lib/lwm2m-*.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alder/cleanup.h"
#include "alder/lwm2m.h"
#include "lwm2m-internal.h"

const char *alder_lwm2m_format_name(unsigned format)
{
        switch (format) {
        case ALDER_LWM2M_FMT_TEXT:
                return "text/plain";
        case ALDER_LWM2M_FMT_LINK:
                return "application/link-format";
        case ALDER_LWM2M_FMT_OPAQUE:
                return "application/octet-stream";
        case ALDER_LWM2M_FMT_CBOR:
                return "application/cbor";
        case ALDER_LWM2M_FMT_SENML_JSON:
                return "application/senml+json";
        case ALDER_LWM2M_FMT_SENML_CBOR:
                return "application/senml+cbor";
        case ALDER_LWM2M_FMT_TLV:
                return "application/vnd.oma.lwm2m+tlv";
        case ALDER_LWM2M_FMT_LWM2M_JSON:
                return "application/vnd.oma.lwm2m+json";
        }
        return NULL;
}

int alder_lwm2m_format_from_name(const char *mime)
{
        static const unsigned named[] = {
                ALDER_LWM2M_FMT_TEXT, ALDER_LWM2M_FMT_LINK,       ALDER_LWM2M_FMT_OPAQUE,
                ALDER_LWM2M_FMT_CBOR, ALDER_LWM2M_FMT_SENML_JSON, ALDER_LWM2M_FMT_SENML_CBOR,
                ALDER_LWM2M_FMT_TLV,  ALDER_LWM2M_FMT_LWM2M_JSON,
        };
        size_t len = strcspn(mime, ";");
        while (len > 0 && (mime[len - 1] == ' ' || mime[len - 1] == '\t'))
                len--;
        if (len > 0 && len <= 5 && strspn(mime, "0123456789") == len) {
                unsigned long v = strtoul(mime, NULL, 10);
                return v <= 65535 ? (int) v : -1;
        }
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(named); i++) {
                const char *name = alder_lwm2m_format_name(named[i]);
                if (strlen(name) == len && strncasecmp(name, mime, len) == 0)
                        return (int) named[i];
        }
        return -1;
}

/* ---- untrusted text ---------------------------------------------------------------------------- */

const char *lwm2m_quote(const void *s, size_t len, char buf[static LWM2M_QUOTE_SIZE])
{
        const uint8_t *p = s;
        size_t n = ALDER_MIN(len, (size_t) LWM2M_QUOTE_MAX), o = 0;
        for (size_t i = 0; i < n; i++) {
                if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
                        buf[o++] = (char) p[i];
                else
                        o += (size_t) sprintf(buf + o, "\\x%02x", p[i]);
        }
        if (n < len) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = '\0';
        return buf;
}

bool lwm2m_utf8_valid(const uint8_t *s, size_t len, size_t *ret_bad)
{
        size_t i = 0;
        while (i < len) {
                uint8_t c = s[i];
                size_t n;
                uint32_t cp, min;
                if (c == 0)
                        goto bad;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0) {
                        n = 2, cp = c & 0x1f, min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 3, cp = c & 0x0f, min = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        n = 4, cp = c & 0x07, min = 0x10000;
                } else {
                        goto bad;
                }
                if (n > len - i)
                        goto bad;
                for (size_t k = 1; k < n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                goto bad;
                        cp = (cp << 6) | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        goto bad;
                i += n;
        }
        return true;
bad:
        if (ret_bad)
                *ret_bad = i;
        return false;
}

/* A decimal id of 0..max (leading zeros allowed); false on anything else. */
static bool parse_id(const char *s, size_t len, uint32_t max, uint32_t *ret)
{
        uint32_t v = 0;
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint32_t) (s[i] - '0');
                if (v > max)
                        return false;
        }
        *ret = v;
        return true;
}

bool lwm2m_objlnk_parse(const char *s, size_t len, uint16_t *ret_object, uint16_t *ret_instance)
{
        const char *colon = memchr(s, ':', len);
        uint32_t o, i;
        if (!colon || !parse_id(s, (size_t) (colon - s), UINT16_MAX, &o) ||
            !parse_id(colon + 1, len - (size_t) (colon - s) - 1, UINT16_MAX, &i))
                return false;
        *ret_object = (uint16_t) o;
        *ret_instance = (uint16_t) i;
        return true;
}

void lwm2m_format_float(double f, char buf[static LWM2M_FLOAT_STRLEN])
{
        if (isnan(f)) {
                strcpy(buf, "nan");
                return;
        }
        if (isinf(f)) {
                strcpy(buf, f < 0 ? "-inf" : "inf");
                return;
        }
        /* the fewest significant digits that read back as f ... */
        int digits = 1;
        for (; digits < 17; digits++) {
                snprintf(buf, LWM2M_FLOAT_STRLEN, "%.*e", digits - 1, f);
                if (strtod(buf, NULL) == f)
                        break;
        }
        snprintf(buf, LWM2M_FLOAT_STRLEN, "%.*e", digits - 1, f);
        /* ... in plain notation for exponents -6..20, as JavaScript writes numbers */
        int exp = atoi(strchr(buf, 'e') + 1);
        if (exp >= -6 && exp <= 20)
                snprintf(buf, LWM2M_FLOAT_STRLEN, "%.*f", ALDER_MAX(0, digits - 1 - exp), f);
}

/* ---- paths ------------------------------------------------------------------------------------- */

int alder_lwm2m_path_parse(const char *s, struct alder_lwm2m_path *ret, alder_error **err)
{
        return alder_lwm2m_path_parse_n(s, strlen(s), ret, err);
}

int alder_lwm2m_path_parse_n(const char *s, size_t len, struct alder_lwm2m_path *ret, alder_error **err)
{
        char q[LWM2M_QUOTE_SIZE];
        struct alder_lwm2m_path p = {.len = 0};
        size_t i = 0;
        if (len == 0)
                return alder_error_set(err, EINVAL, "empty LwM2M path (the root is '/')");
        if (s[0] == '/')
                i = 1;
        while (i < len) {
                const char *seg = s + i;
                const char *slash = memchr(seg, '/', len - i);
                size_t n = slash ? (size_t) (slash - seg) : len - i;
                unsigned level = p.len + 1u;
                uint32_t id;
                if (n == 0)
                        return alder_error_set(err, EINVAL, "LwM2M path '%s': level %u is empty",
                                               lwm2m_quote(s, len, q), level);
                if (p.len == ALDER_LWM2M_PATH_MAX_LEN)
                        return alder_error_set(err, EINVAL, "LwM2M path '%s': more than %d levels",
                                               lwm2m_quote(s, len, q), ALDER_LWM2M_PATH_MAX_LEN);
                if (!parse_id(seg, n, UINT32_MAX / 10 - 1, &id) || id > ALDER_LWM2M_ID_MAX) {
                        char qs[LWM2M_QUOTE_SIZE];
                        bool digits = strspn(seg, "0123456789") >= n;
                        return alder_error_set(err, EINVAL, "LwM2M path '%s': level %u ('%s') %s",
                                               lwm2m_quote(s, len, q), level, lwm2m_quote(seg, n, qs),
                                               digits ? "is over 65534" : "is not a decimal id");
                }
                p.id[p.len++] = (uint16_t) id;
                i += n + 1; /* past the '/' (a trailing one ends the path) */
        }
        *ret = p;
        return 0;
}

char *alder_lwm2m_path_format(const struct alder_lwm2m_path *p, char buf[static ALDER_LWM2M_PATH_STRLEN])
{
        size_t o = 0;
        if (p->len == 0) {
                strcpy(buf, "/");
                return buf;
        }
        for (unsigned i = 0; i < p->len && i < ALDER_LWM2M_PATH_MAX_LEN; i++)
                o += (size_t) snprintf(buf + o, ALDER_LWM2M_PATH_STRLEN - o, "/%u", (unsigned) p->id[i]);
        return buf;
}

struct alder_lwm2m_path alder_lwm2m_path_make(unsigned len, ...)
{
        struct alder_lwm2m_path p = {.len = 0};
        va_list ap;
        va_start(ap, len);
        for (unsigned i = 0; i < len && i < ALDER_LWM2M_PATH_MAX_LEN; i++)
                p.id[p.len++] = (uint16_t) va_arg(ap, unsigned);
        va_end(ap);
        return p;
}

int alder_lwm2m_path_compare(const struct alder_lwm2m_path *a, const struct alder_lwm2m_path *b)
{
        unsigned n = ALDER_MIN(a->len, b->len);
        for (unsigned i = 0; i < n; i++)
                if (a->id[i] != b->id[i])
                        return a->id[i] < b->id[i] ? -1 : 1;
        return a->len == b->len ? 0 : a->len < b->len ? -1 : 1;
}

bool alder_lwm2m_path_has_prefix(const struct alder_lwm2m_path *p, const struct alder_lwm2m_path *prefix)
{
        if (prefix->len > p->len)
                return false;
        for (unsigned i = 0; i < prefix->len; i++)
                if (p->id[i] != prefix->id[i])
                        return false;
        return true;
}

/* ---- values ------------------------------------------------------------------------------------ */

const char *alder_lwm2m_type_name(enum alder_lwm2m_type t)
{
        static const char *const names[] = {
                [ALDER_LWM2M_TYPE_NONE] = "none",       [ALDER_LWM2M_TYPE_STRING] = "String",
                [ALDER_LWM2M_TYPE_INTEGER] = "Integer", [ALDER_LWM2M_TYPE_UNSIGNED] = "Unsigned Integer",
                [ALDER_LWM2M_TYPE_FLOAT] = "Float",     [ALDER_LWM2M_TYPE_BOOLEAN] = "Boolean",
                [ALDER_LWM2M_TYPE_OPAQUE] = "Opaque",   [ALDER_LWM2M_TYPE_TIME] = "Time",
                [ALDER_LWM2M_TYPE_OBJLNK] = "Objlnk",   [ALDER_LWM2M_TYPE_CORELNK] = "Corelnk",
        };
        const char *n = ALDER_NAME_OF(names, t);
        return n ? n : "unknown";
}

void alder_lwm2m_value_clear(struct alder_lwm2m_value *v)
{
        free(v->data);
        *v = (struct alder_lwm2m_value){.type = ALDER_LWM2M_TYPE_NONE};
}

void alder_lwm2m_value_set_int(struct alder_lwm2m_value *v, enum alder_lwm2m_type type, int64_t i)
{
        alder_lwm2m_value_clear(v);
        v->type = type == ALDER_LWM2M_TYPE_TIME ? ALDER_LWM2M_TYPE_TIME : ALDER_LWM2M_TYPE_INTEGER;
        v->i = i;
}

void alder_lwm2m_value_set_uint(struct alder_lwm2m_value *v, uint64_t u)
{
        alder_lwm2m_value_clear(v);
        v->type = ALDER_LWM2M_TYPE_UNSIGNED;
        v->u = u;
}

void alder_lwm2m_value_set_float(struct alder_lwm2m_value *v, double f)
{
        alder_lwm2m_value_clear(v);
        v->type = ALDER_LWM2M_TYPE_FLOAT;
        v->f = f;
}

void alder_lwm2m_value_set_bool(struct alder_lwm2m_value *v, bool b)
{
        alder_lwm2m_value_clear(v);
        v->type = ALDER_LWM2M_TYPE_BOOLEAN;
        v->b = b;
}

void alder_lwm2m_value_set_objlnk(struct alder_lwm2m_value *v, uint16_t object, uint16_t instance)
{
        alder_lwm2m_value_clear(v);
        v->type = ALDER_LWM2M_TYPE_OBJLNK;
        v->objlnk.object = object;
        v->objlnk.instance = instance;
}

int alder_lwm2m_value_set_bytes(struct alder_lwm2m_value *v, enum alder_lwm2m_type type, const void *data, size_t len)
{
        if (type != ALDER_LWM2M_TYPE_STRING && type != ALDER_LWM2M_TYPE_CORELNK && type != ALDER_LWM2M_TYPE_OPAQUE &&
            type != ALDER_LWM2M_TYPE_NONE)
                return -EINVAL;
        if (len == SIZE_MAX)
                return -ENOMEM;
        uint8_t *copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        if (len > 0)
                memcpy(copy, data, len);
        copy[len] = '\0';
        alder_lwm2m_value_clear(v);
        v->type = type;
        v->data = copy;
        v->len = len;
        return 0;
}

int alder_lwm2m_value_set_string(struct alder_lwm2m_value *v, const char *s)
{
        return alder_lwm2m_value_set_bytes(v, ALDER_LWM2M_TYPE_STRING, s, strlen(s));
}

bool alder_lwm2m_value_equal(const struct alder_lwm2m_value *a, const struct alder_lwm2m_value *b)
{
        if (a->type != b->type)
                return false;
        switch (a->type) {
        case ALDER_LWM2M_TYPE_INTEGER:
        case ALDER_LWM2M_TYPE_TIME:
                return a->i == b->i;
        case ALDER_LWM2M_TYPE_UNSIGNED:
                return a->u == b->u;
        case ALDER_LWM2M_TYPE_FLOAT:
                return a->f == b->f || (isnan(a->f) && isnan(b->f));
        case ALDER_LWM2M_TYPE_BOOLEAN:
                return a->b == b->b;
        case ALDER_LWM2M_TYPE_OBJLNK:
                return a->objlnk.object == b->objlnk.object && a->objlnk.instance == b->objlnk.instance;
        case ALDER_LWM2M_TYPE_STRING:
        case ALDER_LWM2M_TYPE_CORELNK:
        case ALDER_LWM2M_TYPE_OPAQUE:
        case ALDER_LWM2M_TYPE_NONE:
                break;
        }
        if ((a->data == NULL) != (b->data == NULL) || a->len != b->len)
                return false;
        return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}

/* "an Integer", "a Float": the article for a type name in messages. */
static const char *article(enum alder_lwm2m_type t)
{
        return strchr("AEIOU", alder_lwm2m_type_name(t)[0]) ? "an" : "a";
}

/* Big-endian two's complement of 1, 2, 4 or 8 bytes. */
static int64_t be_signed(const uint8_t *p, size_t n)
{
        uint64_t u = lwm2m_be_uint(p, n);
        if (n < 8 && (p[0] & 0x80))
                u |= ~(uint64_t) 0 << (n * 8);
        return (int64_t) u;
}

static bool is_int_size(size_t n)
{
        return n == 1 || n == 2 || n == 4 || n == 8;
}

/* Converts the raw bytes of a TLV value into `to`; fills *nv (which owns nothing yet). */
static int convert_tlv(const struct alder_lwm2m_value *v, enum alder_lwm2m_type to, struct alder_lwm2m_value *nv,
                       alder_error **err)
{
        const uint8_t *p = v->data;
        size_t n = v->len;
        const char *tn = alder_lwm2m_type_name(to);
        switch (to) {
        case ALDER_LWM2M_TYPE_INTEGER:
        case ALDER_LWM2M_TYPE_TIME:
                if (!is_int_size(n))
                        return alder_error_set(err, EBADMSG, "TLV value of %zu bytes is not %s %s (1, 2, 4 or 8 bytes)",
                                               n, article(to), tn);
                nv->i = be_signed(p, n);
                break;
        case ALDER_LWM2M_TYPE_UNSIGNED:
                if (!is_int_size(n))
                        return alder_error_set(err, EBADMSG,
                                               "TLV value of %zu bytes is not an Unsigned Integer (1, 2, 4 or 8 bytes)",
                                               n);
                nv->u = lwm2m_be_uint(p, n);
                break;
        case ALDER_LWM2M_TYPE_FLOAT:
                if (n == 4) {
                        uint32_t bits = (uint32_t) lwm2m_be_uint(p, 4);
                        float f;
                        memcpy(&f, &bits, sizeof(f));
                        nv->f = f;
                } else if (n == 8) {
                        uint64_t bits = lwm2m_be_uint(p, 8);
                        memcpy(&nv->f, &bits, sizeof(nv->f));
                } else {
                        return alder_error_set(err, EBADMSG, "TLV value of %zu bytes is not a Float (4 or 8 bytes)", n);
                }
                break;
        case ALDER_LWM2M_TYPE_BOOLEAN:
                if (n != 1 || p[0] > 1)
                        return alder_error_set(err, EBADMSG, "TLV value is not a Boolean (one byte, 0 or 1)");
                nv->b = p[0] == 1;
                break;
        case ALDER_LWM2M_TYPE_OBJLNK:
                if (n != 4)
                        return alder_error_set(err, EBADMSG, "TLV value of %zu bytes is not an Objlnk (4 bytes)", n);
                nv->objlnk.object = (uint16_t) lwm2m_be_uint(p, 2);
                nv->objlnk.instance = (uint16_t) lwm2m_be_uint(p + 2, 2);
                break;
        default:
                return -EINVAL; /* string types: handled by the caller */
        }
        return 0;
}

static int convert_text(const struct alder_lwm2m_value *v, enum alder_lwm2m_type to, struct alder_lwm2m_value *nv,
                        alder_error **err)
{
        const char *s = (const char *) v->data;
        size_t n = v->len;
        char q[LWM2M_QUOTE_SIZE];
        bool ok = false;
        switch (to) {
        case ALDER_LWM2M_TYPE_INTEGER:
        case ALDER_LWM2M_TYPE_TIME: {
                bool neg = n > 0 && s[0] == '-';
                uint64_t u = 0;
                /* digits only (no '+', blanks or hex), within int64 */
                ok = n > (size_t) neg && n - neg <= 19 && strspn(s + neg, "0123456789") == n - neg;
                for (size_t i = neg; ok && i < n; i++) {
                        unsigned d = (unsigned) (s[i] - '0');
                        if (u > (UINT64_MAX - d) / 10)
                                ok = false;
                        else
                                u = u * 10 + d;
                }
                ok = ok && u <= (uint64_t) INT64_MAX + neg;
                if (ok)
                        nv->i = neg ? (int64_t) (0 - u) : (int64_t) u;
                break;
        }
        case ALDER_LWM2M_TYPE_UNSIGNED: {
                uint64_t u = 0;
                ok = n > 0 && n <= 20 && strspn(s, "0123456789") == n;
                for (size_t i = 0; ok && i < n; i++) {
                        unsigned d = (unsigned) (s[i] - '0');
                        if (u > (UINT64_MAX - d) / 10)
                                ok = false;
                        else
                                u = u * 10 + d;
                }
                if (ok)
                        nv->u = u;
                break;
        }
        case ALDER_LWM2M_TYPE_FLOAT: {
                /* decimal notation only: no hex floats, "inf", "nan" or blanks strtod would take */
                char *end = NULL;
                ok = n > 0 && n <= 256 && strspn(s, "0123456789+-.eE") == n && strpbrk(s, "0123456789") != NULL;
                if (ok) {
                        errno = 0;
                        nv->f = strtod(s, &end);
                        ok = end == s + n && errno != ERANGE && isfinite(nv->f);
                }
                break;
        }
        case ALDER_LWM2M_TYPE_BOOLEAN:
                ok = n == 1 && (s[0] == '0' || s[0] == '1');
                if (ok)
                        nv->b = s[0] == '1';
                break;
        case ALDER_LWM2M_TYPE_OBJLNK:
                ok = lwm2m_objlnk_parse(s, n, &nv->objlnk.object, &nv->objlnk.instance);
                break;
        case ALDER_LWM2M_TYPE_OPAQUE: {
                size_t bad = 0;
                int r = alder_base64_decode(s, n, false, &nv->data, &nv->len, &bad);
                if (r == -ENOMEM)
                        return alder_error_set(err, ENOMEM, "decode base64 text value");
                if (r < 0)
                        return alder_error_set(err, EBADMSG, "text value is not base64 (offset %zu)", bad);
                return 0;
        }
        default:
                return -EINVAL;
        }
        if (!ok)
                return alder_error_set(err, EBADMSG, "text value '%s' is not %s %s", lwm2m_quote(s, n, q), article(to),
                                       alder_lwm2m_type_name(to));
        return 0;
}

/* Lossless conversion between typed values; false when there is none. */
static bool convert_typed(const struct alder_lwm2m_value *v, enum alder_lwm2m_type to, struct alder_lwm2m_value *nv)
{
        const double two53 = 9007199254740992.0, two63 = 9223372036854775808.0;
        enum alder_lwm2m_type from = v->type;
        bool from_int = from == ALDER_LWM2M_TYPE_INTEGER || from == ALDER_LWM2M_TYPE_TIME;
        bool to_int = to == ALDER_LWM2M_TYPE_INTEGER || to == ALDER_LWM2M_TYPE_TIME;
        if (from_int && to_int) {
                nv->i = v->i;
        } else if (from_int && to == ALDER_LWM2M_TYPE_UNSIGNED) {
                if (v->i < 0)
                        return false;
                nv->u = (uint64_t) v->i;
        } else if (from == ALDER_LWM2M_TYPE_UNSIGNED && to_int) {
                if (v->u > INT64_MAX)
                        return false;
                nv->i = (int64_t) v->u;
        } else if (from_int && to == ALDER_LWM2M_TYPE_FLOAT) {
                if (v->i > (int64_t) two53 || v->i < -(int64_t) two53)
                        return false;
                nv->f = (double) v->i;
        } else if (from == ALDER_LWM2M_TYPE_UNSIGNED && to == ALDER_LWM2M_TYPE_FLOAT) {
                if (v->u > (uint64_t) two53)
                        return false;
                nv->f = (double) v->u;
        } else if (from == ALDER_LWM2M_TYPE_FLOAT && to_int) {
                /* range first: only then is the cast defined (no libm needed for floor) */
                if (!(v->f >= -two63 && v->f < two63) || (double) (int64_t) v->f != v->f)
                        return false;
                nv->i = (int64_t) v->f;
        } else if (from == ALDER_LWM2M_TYPE_FLOAT && to == ALDER_LWM2M_TYPE_UNSIGNED) {
                if (!(v->f >= 0 && v->f < 2 * two63) || (double) (uint64_t) v->f != v->f)
                        return false;
                nv->u = (uint64_t) v->f;
        } else if ((from == ALDER_LWM2M_TYPE_STRING || from == ALDER_LWM2M_TYPE_CORELNK) &&
                   (to == ALDER_LWM2M_TYPE_STRING || to == ALDER_LWM2M_TYPE_CORELNK)) {
                nv->data = v->data; /* the caller moves the buffer over */
                nv->len = v->len;
        } else if (from == ALDER_LWM2M_TYPE_STRING && to == ALDER_LWM2M_TYPE_OBJLNK) {
                return lwm2m_objlnk_parse((const char *) v->data, v->len, &nv->objlnk.object, &nv->objlnk.instance);
        } else {
                return false;
        }
        return true;
}

int alder_lwm2m_value_convert(struct alder_lwm2m_value *v, enum alder_lwm2m_type to, unsigned format, alder_error **err)
{
        struct alder_lwm2m_value nv = {.type = to};
        const char *tn = alder_lwm2m_type_name(to);
        if (to == ALDER_LWM2M_TYPE_NONE || to == v->type)
                return 0;
        if (!lwm2m_value_present(v))
                return alder_error_set(err, EBADMSG, "no value to convert to %s", tn);
        if (v->type != ALDER_LWM2M_TYPE_NONE) {
                if (!convert_typed(v, to, &nv)) {
                        _cleanup_free_ char *text = alder_lwm2m_value_to_text(v, 16);
                        return alder_error_set(err, EBADMSG, "%s value %s cannot be converted to %s without loss",
                                               alder_lwm2m_type_name(v->type), text ? text : "", tn);
                }
                if (nv.data == v->data)
                        v->data = NULL; /* STRING <-> CORELNK: the buffer moves */
                alder_lwm2m_value_clear(v);
                *v = nv;
                return 0;
        }
        if (format != ALDER_LWM2M_FMT_TLV && format != ALDER_LWM2M_FMT_TEXT)
                return alder_error_set(err, EINVAL,
                                       "untyped value from format %u (only TLV and text/plain leave values untyped)",
                                       format);
        if (to == ALDER_LWM2M_TYPE_STRING || to == ALDER_LWM2M_TYPE_CORELNK) {
                size_t bad = 0;
                if (!lwm2m_utf8_valid(v->data, v->len, &bad))
                        return alder_error_set(err, EBADMSG, "%s value is not UTF-8 without NUL (offset %zu)",
                                               format == ALDER_LWM2M_FMT_TLV ? "TLV" : "text", bad);
                v->type = to;
                return 0;
        }
        if (to == ALDER_LWM2M_TYPE_OPAQUE && format == ALDER_LWM2M_FMT_TLV) {
                v->type = to;
                return 0;
        }
        int r = format == ALDER_LWM2M_FMT_TLV ? convert_tlv(v, to, &nv, err) : convert_text(v, to, &nv, err);
        if (r == -EINVAL)
                return alder_error_set(err, EINVAL, "cannot convert to %s", tn);
        if (r < 0)
                return r;
        alder_lwm2m_value_clear(v);
        *v = nv;
        return 0;
}

static char *hex_text(const uint8_t *p, size_t len, size_t max)
{
        size_t n = ALDER_MIN(len, max);
        char *s = malloc(n * 2 + 48);
        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++)
                sprintf(s + 2 * i, "%02x", p[i]);
        if (n < len)
                sprintf(s + 2 * n, "... (%zu bytes)", len);
        else
                s[2 * n] = '\0';
        return s;
}

bool lwm2m_scalar_text(const struct alder_lwm2m_value *v, char buf[static LWM2M_FLOAT_STRLEN])
{
        switch (v->type) {
        case ALDER_LWM2M_TYPE_INTEGER:
        case ALDER_LWM2M_TYPE_TIME:
                snprintf(buf, LWM2M_FLOAT_STRLEN, "%" PRId64, v->i);
                return true;
        case ALDER_LWM2M_TYPE_UNSIGNED:
                snprintf(buf, LWM2M_FLOAT_STRLEN, "%" PRIu64, v->u);
                return true;
        case ALDER_LWM2M_TYPE_FLOAT:
                lwm2m_format_float(v->f, buf);
                return true;
        case ALDER_LWM2M_TYPE_OBJLNK:
                snprintf(buf, LWM2M_FLOAT_STRLEN, "%u:%u", (unsigned) v->objlnk.object, (unsigned) v->objlnk.instance);
                return true;
        default:
                return false;
        }
}

char *alder_lwm2m_value_to_text(const struct alder_lwm2m_value *v, size_t max_opaque)
{
        char buf[LWM2M_FLOAT_STRLEN];
        if (lwm2m_scalar_text(v, buf))
                return strdup(buf);
        switch (v->type) {
        case ALDER_LWM2M_TYPE_BOOLEAN:
                return strdup(v->b ? "true" : "false");
        case ALDER_LWM2M_TYPE_STRING:
        case ALDER_LWM2M_TYPE_CORELNK:
                return strndup(v->data ? (const char *) v->data : "", v->len);
        case ALDER_LWM2M_TYPE_OPAQUE:
        case ALDER_LWM2M_TYPE_NONE:
                if (!v->data)
                        return strdup(v->type == ALDER_LWM2M_TYPE_NONE ? "(no value)" : "");
                return hex_text(v->data, v->len, max_opaque);
        default:
                return strdup("?");
        }
}

/* ---- records ----------------------------------------------------------------------------------- */

struct alder_lwm2m_record *alder_lwm2m_records_add(struct alder_lwm2m_records *r, const struct alder_lwm2m_path *path)
{
        if (r->n >= ALDER_LWM2M_RECORDS_MAX) {
                errno = E2BIG;
                return NULL;
        }
        if (r->n == r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 16;
                struct alder_lwm2m_record *v = reallocarray(r->v, cap, sizeof(*v));
                if (!v) {
                        errno = ENOMEM;
                        return NULL;
                }
                r->v = v;
                r->cap = cap;
        }
        struct alder_lwm2m_record *rec = &r->v[r->n++];
        *rec = (struct alder_lwm2m_record){.path = *path, .value = {.type = ALDER_LWM2M_TYPE_NONE}};
        return rec;
}

static int record_compare(const void *a, const void *b)
{
        return alder_lwm2m_path_compare(&((const struct alder_lwm2m_record *) a)->path,
                                        &((const struct alder_lwm2m_record *) b)->path);
}

void alder_lwm2m_records_sort(struct alder_lwm2m_records *r)
{
        if (r->n > 1)
                qsort(r->v, r->n, sizeof(r->v[0]), record_compare);
}

void alder_lwm2m_records_clear(struct alder_lwm2m_records *r)
{
        for (size_t i = 0; i < r->n; i++)
                alder_lwm2m_value_clear(&r->v[i].value);
        free(r->v);
        *r = (struct alder_lwm2m_records){.v = NULL};
}

/*
 * Whether two neighbours in path order cannot both be in one payload: the
 * same path twice, or a resource with a value that also has instances.
 * Writes why into buf ("duplicate /3/0/1").
 */
static bool conflict(const struct alder_lwm2m_record *a, const struct alder_lwm2m_record *b, char *buf, size_t size)
{
        char p[ALDER_LWM2M_PATH_STRLEN];
        alder_lwm2m_path_format(&a->path, p);
        if (alder_lwm2m_path_compare(&a->path, &b->path) == 0) {
                snprintf(buf, size, "duplicate %s", p);
                return true;
        }
        if (lwm2m_value_present(&a->value) && lwm2m_value_present(&b->value) &&
            alder_lwm2m_path_has_prefix(&b->path, &a->path)) {
                snprintf(buf, size, "resource %s has a value and also instances", p);
                return true;
        }
        return false;
}

/* ---- the decoders' sink ------------------------------------------------------------------------ */

void lwm2m_sink_done(struct lwm2m_sink *s)
{
        alder_lwm2m_records_clear(&s->recs);
        free(s->origin);
        s->origin = NULL;
        s->origin_cap = 0;
}

int lwm2m_sink_add(struct lwm2m_sink *s, const struct alder_lwm2m_path *path, size_t origin, bool has_value,
                   struct alder_lwm2m_record **ret, alder_error **err)
{
        char p[ALDER_LWM2M_PATH_STRLEN], b[ALDER_LWM2M_PATH_STRLEN];
        if (!alder_lwm2m_path_has_prefix(path, &s->base))
                return alder_error_set(err, EBADMSG, "%s %s %zu: %s is outside the request path %s", s->what, s->unit,
                                       origin, alder_lwm2m_path_format(path, p), alder_lwm2m_path_format(&s->base, b));
        if (has_value && path->len < 3)
                return alder_error_set(err, EBADMSG, "%s %s %zu: %s has a value but is not a resource", s->what,
                                       s->unit, origin, alder_lwm2m_path_format(path, p));
        struct alder_lwm2m_record *rec = alder_lwm2m_records_add(&s->recs, path);
        if (!rec && errno == E2BIG)
                return alder_error_set(err, E2BIG, "%s %s %zu: more than %d records", s->what, s->unit, origin,
                                       ALDER_LWM2M_RECORDS_MAX);
        if (!rec)
                return alder_error_set(err, ENOMEM, "%s: out of memory for records", s->what);
        if (s->origin_cap < s->recs.cap) {
                size_t *o = reallocarray(s->origin, s->recs.cap, sizeof(*o));
                if (!o) {
                        s->recs.n--;
                        return alder_error_set(err, ENOMEM, "%s: out of memory for records", s->what);
                }
                s->origin = o;
                s->origin_cap = s->recs.cap;
        }
        s->origin[s->recs.n - 1] = origin;
        *ret = rec;
        return 0;
}

struct sorted_rec {
        struct alder_lwm2m_record *rec;
        size_t origin;
};

static int sorted_rec_compare(const void *a, const void *b)
{
        const struct sorted_rec *x = a, *y = b;
        int c = alder_lwm2m_path_compare(&x->rec->path, &y->rec->path);
        /* the same path twice: the earlier one first, so the later one is reported */
        return c != 0 ? c : x->origin < y->origin ? -1 : x->origin > y->origin;
}

int lwm2m_sink_finish(struct lwm2m_sink *s, struct alder_lwm2m_records *out, alder_error **err)
{
        size_t n = s->recs.n;
        if (n == 0)
                return 0;
        _cleanup_free_ struct sorted_rec *order = calloc(n, sizeof(*order));
        if (!order)
                return alder_error_set(err, ENOMEM, "%s: out of memory for records", s->what);
        for (size_t i = 0; i < n; i++)
                order[i] = (struct sorted_rec){&s->recs.v[i], s->origin[i]};
        qsort(order, n, sizeof(*order), sorted_rec_compare);
        for (size_t i = 1; i < n; i++) {
                char why[96];
                if (conflict(order[i - 1].rec, order[i].rec, why, sizeof(why)))
                        return alder_error_set(err, EBADMSG, "%s %s %zu: %s (see %s %zu)", s->what, s->unit,
                                               order[i].origin, why, s->unit, order[i - 1].origin);
        }
        if (out->n + n > ALDER_LWM2M_RECORDS_MAX)
                return alder_error_set(err, E2BIG, "%s: more than %d records", s->what, ALDER_LWM2M_RECORDS_MAX);
        if (out->cap < out->n + n) {
                struct alder_lwm2m_record *v = reallocarray(out->v, out->n + n, sizeof(*v));
                if (!v)
                        return alder_error_set(err, ENOMEM, "%s: out of memory for records", s->what);
                out->v = v;
                out->cap = out->n + n;
        }
        for (size_t i = 0; i < n; i++)
                out->v[out->n++] = *order[i].rec; /* the values move */
        s->recs.n = 0;
        return 0;
}

/* ---- the encoders' checks ---------------------------------------------------------------------- */

static int record_ptr_compare(const void *a, const void *b)
{
        const struct alder_lwm2m_record *const *x = a, *const *y = b;
        return alder_lwm2m_path_compare(&(*x)->path, &(*y)->path);
}

int lwm2m_encode_prepare(const char *what, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *r,
                         bool allow_valueless, const struct alder_lwm2m_record ***ret, alder_error **err)
{
        char p[ALDER_LWM2M_PATH_STRLEN], b[ALDER_LWM2M_PATH_STRLEN];
        if (r->n > ALDER_LWM2M_RECORDS_MAX)
                return alder_error_set(err, E2BIG, "%s: more than %d records", what, ALDER_LWM2M_RECORDS_MAX);
        _cleanup_free_ const struct alder_lwm2m_record **v = calloc(r->n + 1, sizeof(*v));
        if (!v)
                return alder_error_set(err, ENOMEM, "%s: out of memory", what);
        for (size_t i = 0; i < r->n; i++) {
                const struct alder_lwm2m_record *rec = &r->v[i];
                bool present = lwm2m_value_present(&rec->value);
                alder_lwm2m_path_format(&rec->path, p);
                if (!alder_lwm2m_path_has_prefix(&rec->path, base))
                        return alder_error_set(err, EINVAL, "%s: record %s is outside the request path %s", what, p,
                                               alder_lwm2m_path_format(base, b));
                if (!present && !allow_valueless)
                        return alder_error_set(err, EINVAL, "%s: record %s has no value", what, p);
                if (present && rec->path.len < 3)
                        return alder_error_set(err, EINVAL, "%s: record %s has a value but is not a resource", what, p);
                v[i] = rec;
        }
        qsort(v, r->n, sizeof(*v), record_ptr_compare);
        for (size_t i = 1; i < r->n; i++) {
                char why[96];
                if (conflict(v[i - 1], v[i], why, sizeof(why)))
                        return alder_error_set(err, EINVAL, "%s: %s", what, why);
        }
        *ret = steal_pointer(&v);
        return 0;
}

int lwm2m_encode_single(const char *what, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *r,
                        const struct alder_lwm2m_record **ret, alder_error **err)
{
        char p[ALDER_LWM2M_PATH_STRLEN];
        if (base->len < 3)
                return alder_error_set(err, EINVAL, "%s carries one resource (instance), not %s", what,
                                       alder_lwm2m_path_format(base, p));
        if (r->n != 1)
                return alder_error_set(err, EINVAL, "%s carries exactly one value, got %zu records", what, r->n);
        if (alder_lwm2m_path_compare(&r->v[0].path, base) != 0)
                return alder_error_set(err, EINVAL, "%s: record %s is not the request path", what,
                                       alder_lwm2m_path_format(&r->v[0].path, p));
        if (!lwm2m_value_present(&r->v[0].value))
                return alder_error_set(err, EINVAL, "%s: record %s has no value", what,
                                       alder_lwm2m_path_format(&r->v[0].path, p));
        *ret = &r->v[0];
        return 0;
}
