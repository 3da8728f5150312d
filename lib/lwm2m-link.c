/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CoRE link format (RFC 6690 §2) as LwM2M 1.1 uses it: the object list of a
 * Register/Update payload and the answer to a Discover.
 *
 *   Link            = link-value-list
 *   link-value-list = [ link-value *[ "," link-value ]]
 *   link-value      = "<" URI-Reference ">" *( ";" link-param )
 *   link-param      = parmname [ "=" ( ptoken / quoted-string ) ]
 *
 * The payload comes from a device, so every byte is checked: no whitespace
 * (the grammar has none), no control characters, bounded counts, and every
 * error names the byte offset at fault.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alder/lwm2m.h"

/* No LwM2M link carries more; a payload with more is hostile or broken. */
#define LINK_ATTRS_MAX 64

struct cursor {
        const char *buf;
        size_t len, pos;
};

static int peek(const struct cursor *c)
{
        return c->pos < c->len ? (unsigned char) c->buf[c->pos] : -1;
}

/* "'x'", "byte 0x07" or "end of payload": what was found where something else was expected. */
static const char *describe(const struct cursor *c, char buf[static 16])
{
        int ch = peek(c);
        if (ch < 0)
                return "end of payload";
        if (ch > 0x20 && ch < 0x7f)
                snprintf(buf, 16, "'%c'", ch);
        else
                snprintf(buf, 16, "byte 0x%02x", (unsigned) ch);
        return buf;
}

static int syntax_error(const struct cursor *c, alder_error **err, const char *expected)
{
        char tmp[16];
        return alder_error_set(err, EBADMSG, "link format: offset %zu: expected %s, got %s", c->pos, expected,
                               describe(c, tmp));
}

/* RFC 5988 token characters (parmname). */
static bool is_token_char(int ch)
{
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
                return true;
        return ch > 0 && strchr("!#$&+-.^_`|~", ch) != NULL;
}

/* RFC 6690 ptokenchar. */
static bool is_ptoken_char(int ch)
{
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
                return true;
        return ch > 0 && strchr("!#$%&'()*+-./:<=>?@[]^_`{|}~", ch) != NULL;
}

/* URI-Reference characters (RFC 3986: unreserved, reserved, '%'): printable ASCII but <, >, ", space, \, ^, `, {, |, }.
 */
static bool is_uri_char(int ch)
{
        return ch > 0x20 && ch < 0x7f && strchr("<>\"\\^`{|}", ch) == NULL;
}

static char *copy_span(const struct cursor *c, size_t start)
{
        return strndup(c->buf + start, c->pos - start);
}

static int parse_uri(struct cursor *c, struct alder_lwm2m_link *link, alder_error **err)
{
        if (peek(c) != '<')
                return syntax_error(c, err, "'<' to open a link");
        c->pos++;
        size_t start = c->pos;
        while (is_uri_char(peek(c)))
                c->pos++;
        if (peek(c) != '>')
                return syntax_error(c, err, "a URI character or '>'");
        link->uri = copy_span(c, start);
        if (!link->uri)
                return alder_error_set(err, ENOMEM, "link format: out of memory");
        c->pos++;
        /* Not an LwM2M path (e.g. an alternate root "/lwm2m") is fine: is_path says which. */
        link->is_path = link->uri[0] == '/' && alder_lwm2m_path_parse(link->uri, &link->path, NULL) == 0;
        return 0;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; returns the unescaped text. */
static int parse_quoted(struct cursor *c, char **ret, alder_error **err)
{
        c->pos++; /* the opening quote */
        size_t start = c->pos, n = 0;
        _cleanup_free_ char *out = malloc(c->len - start + 1);
        if (!out)
                return alder_error_set(err, ENOMEM, "link format: out of memory");
        for (;;) {
                int ch = peek(c);
                if (ch < 0)
                        return alder_error_set(err, EBADMSG,
                                               "link format: offset %zu: quoted string opened at offset %zu is not "
                                               "closed",
                                               c->pos, start - 1);
                if (ch == '"')
                        break;
                if (ch == '\\') {
                        c->pos++;
                        ch = peek(c);
                        if (ch < 0)
                                continue; /* reported as unclosed above */
                }
                if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                        return syntax_error(c, err, "a printable character in a quoted string");
                out[n++] = (char) ch;
                c->pos++;
        }
        c->pos++;
        out[n] = '\0';
        *ret = steal_pointer(&out);
        return 0;
}

static int parse_param(struct cursor *c, struct alder_lwm2m_link_attr *attr, alder_error **err)
{
        size_t start = c->pos;
        while (is_token_char(peek(c)))
                c->pos++;
        if (c->pos == start)
                return syntax_error(c, err, "an attribute name");
        attr->name = copy_span(c, start);
        if (!attr->name)
                return alder_error_set(err, ENOMEM, "link format: out of memory");
        if (peek(c) != '=')
                return 0; /* valueless attribute, e.g. ";obs" */
        c->pos++;
        if (peek(c) == '"')
                return parse_quoted(c, &attr->value, err);
        start = c->pos;
        while (is_ptoken_char(peek(c)))
                c->pos++;
        if (c->pos == start)
                return syntax_error(c, err, "a value or a quoted string after '='");
        attr->value = copy_span(c, start);
        if (!attr->value)
                return alder_error_set(err, ENOMEM, "link format: out of memory");
        return 0;
}

static void link_clear(struct alder_lwm2m_link *l)
{
        free(l->uri);
        for (size_t i = 0; i < l->n_attrs; i++) {
                free(l->attrs[i].name);
                free(l->attrs[i].value);
        }
        free(l->attrs);
        memset(l, 0, sizeof(*l));
}

static int parse_link(struct cursor *c, struct alder_lwm2m_link *link, alder_error **err)
{
        int r = parse_uri(c, link, err);
        if (r < 0)
                return r;
        size_t cap = 0;
        while (peek(c) == ';') {
                c->pos++;
                if (link->n_attrs == LINK_ATTRS_MAX)
                        return alder_error_set(err, E2BIG, "link format: offset %zu: more than %d attributes on <%s>",
                                               c->pos, LINK_ATTRS_MAX, link->uri);
                if (link->n_attrs == cap) {
                        size_t ncap = cap ? 2 * cap : 4;
                        struct alder_lwm2m_link_attr *a = realloc(link->attrs, ncap * sizeof(*a));
                        if (!a)
                                return alder_error_set(err, ENOMEM, "link format: out of memory");
                        link->attrs = a;
                        cap = ncap;
                }
                struct alder_lwm2m_link_attr *attr = &link->attrs[link->n_attrs++];
                *attr = (struct alder_lwm2m_link_attr){0};
                r = parse_param(c, attr, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int alder_lwm2m_links_parse(const char *buf, size_t len, struct alder_lwm2m_links *ret, alder_error **err)
{
        struct cursor c = {.buf = buf, .len = len};
        struct alder_lwm2m_links out = {0};
        size_t cap = 0;
        int r = 0;

        while (c.pos < c.len) {
                if (out.n > 0) {
                        if (peek(&c) != ',') {
                                r = syntax_error(&c, err, "',' or ';' after a link");
                                break;
                        }
                        c.pos++;
                }
                if (out.n == ALDER_LWM2M_RECORDS_MAX) {
                        r = alder_error_set(err, E2BIG, "link format: offset %zu: more than %d links", c.pos,
                                            ALDER_LWM2M_RECORDS_MAX);
                        break;
                }
                if (out.n == cap) {
                        size_t ncap = cap ? 2 * cap : 8;
                        struct alder_lwm2m_link *v = realloc(out.v, ncap * sizeof(*v));
                        if (!v) {
                                r = alder_error_set(err, ENOMEM, "link format: out of memory");
                                break;
                        }
                        out.v = v;
                        cap = ncap;
                }
                struct alder_lwm2m_link *link = &out.v[out.n++];
                *link = (struct alder_lwm2m_link){0};
                r = parse_link(&c, link, err);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                alder_lwm2m_links_clear(&out);
                return r;
        }
        *ret = out;
        return 0;
}

const char *alder_lwm2m_link_attr(const struct alder_lwm2m_link *l, const char *name)
{
        for (size_t i = 0; i < l->n_attrs; i++)
                if (strcmp(l->attrs[i].name, name) == 0)
                        return l->attrs[i].value;
        return NULL;
}

void alder_lwm2m_links_clear(struct alder_lwm2m_links *l)
{
        for (size_t i = 0; i < l->n; i++)
                link_clear(&l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}
