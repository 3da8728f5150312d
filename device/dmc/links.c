/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Link format (RFC 6690) the client sends: the object list of Register and
 * Update (Core TS 1.1 §6.2.1) and Discover answers (§5.4.2).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmc.h"

struct sbuf {
        char *s;
        size_t len, cap;
        bool failed;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) ALDER_PRINTF(2, 3);
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
        if (b->failed)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0 || b->len + (size_t) n + 1 > b->cap) {
                size_t cap = (b->cap + (size_t) (n < 0 ? 0 : n) + 1) * 2;
                char *s = n < 0 ? NULL : realloc(b->s, cap);
                if (!s) {
                        b->failed = true;
                        return;
                }
                b->s = s;
                b->cap = cap;
        }
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        b->len += (size_t) n;
}

static void sb_link(struct sbuf *b, const struct alder_lwm2m_path *p)
{
        char path[ALDER_LWM2M_PATH_STRLEN];
        sb_add(b, "%s<%s>", b->len ? "," : "", alder_lwm2m_path_format(p, path));
}

static void sb_attrs(struct sbuf *b, const struct dmc_model *m, const struct alder_lwm2m_path *p)
{
        const struct dmc_attrs *a = dmc_attrs_get(m, p);
        if (a && !b->failed && dmc_attrs_format(a, &b->s, &b->len, &b->cap) < 0)
                b->failed = true;
}

static int sb_finish(struct sbuf *b, char **ret, size_t *ret_len, alder_error **err)
{
        if (!b->failed && !b->s) {
                b->s = strdup("");
                b->failed = !b->s;
        }
        if (b->failed) {
                free(b->s);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        *ret = b->s;
        *ret_len = b->len;
        return 0;
}

static bool version_1_0(const char *v)
{
        return !v || strcmp(v, "1.0") == 0;
}

int dmc_links_register(const struct dmc_model *m, char **ret, size_t *ret_len, alder_error **err)
{
        struct sbuf b = {0};
        /* The formats this client reads and writes besides text/opaque (§6.2.1, "ct" on the root). */
        if (!m->lwm2m_1_0)
                sb_add(&b, "</>;rt=\"oma.lwm2m\";ct=\"60 110 112 11542\"");
        for (size_t i = 0; i < m->n_objects; i++) {
                const struct dmc_object *o = m->objects[i];
                /* The Security object is never listed (§6.2.1). */
                if (!o->server_access)
                        continue;
                bool ver = !version_1_0(o->def->version);
                if (ver || o->n_instances == 0) {
                        struct alder_lwm2m_path op = alder_lwm2m_path_make(1, o->def->id);
                        sb_link(&b, &op);
                        if (ver)
                                sb_add(&b, ";ver=%s", o->def->version);
                }
                for (size_t k = 0; k < o->n_instances; k++) {
                        struct alder_lwm2m_path ip = alder_lwm2m_path_make(2, o->def->id, o->instances[k]);
                        sb_link(&b, &ip);
                }
        }
        return sb_finish(&b, ret, ret_len, err);
}

/* One resource: its link, dim= for a multiple one, its attributes, then its instances with theirs. */
static int discover_resource(struct dmc_model *m, const struct dmc_object *o, uint16_t inst,
                             const struct alder_lwm2m_resource_def *res, struct sbuf *b, alder_error **err)
{
        struct alder_lwm2m_path p = alder_lwm2m_path_make(3, o->def->id, inst, res->id);
        _cleanup_lwm2m_records_ struct alder_lwm2m_records recs = {0};
        if (res->multiple && (res->ops & ALDER_LWM2M_OP_R)) {
                int r = dmc_model_read(m, &p, &recs, err);
                if (r == -ENOENT) {
                        alder_error_clear(err);
                        return 0; /* not present in this instance */
                }
                if (r < 0)
                        return r;
        }
        sb_link(b, &p);
        if (res->multiple)
                sb_add(b, ";dim=%zu", recs.n);
        sb_attrs(b, m, &p);
        for (size_t i = 0; i < recs.n; i++) {
                if (recs.v[i].path.len != 4)
                        continue;
                sb_link(b, &recs.v[i].path);
                sb_attrs(b, m, &recs.v[i].path);
        }
        return 0;
}

static int discover_instance(struct dmc_model *m, const struct dmc_object *o, uint16_t inst, struct sbuf *b,
                             alder_error **err)
{
        struct alder_lwm2m_path p = alder_lwm2m_path_make(2, o->def->id, inst);
        sb_link(b, &p);
        sb_attrs(b, m, &p);
        for (size_t i = 0; i < o->n_implemented; i++) {
                const struct alder_lwm2m_resource_def *res = alder_lwm2m_resource_find(o->def, o->implemented[i]);
                if (!res)
                        continue;
                int r = discover_resource(m, o, inst, res, b, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int dmc_links_discover(struct dmc_model *m, const struct alder_lwm2m_path *p, char **ret, size_t *ret_len,
                       alder_error **err)
{
        const struct dmc_object *o = p->len ? dmc_model_find(m, p->id[0]) : NULL;
        if (!o)
                return alder_error_set(err, ENOENT, "no such object");
        struct sbuf b = {0};
        int r = 0;
        if (p->len == 1) {
                sb_link(&b, p);
                if (!version_1_0(o->def->version))
                        sb_add(&b, ";ver=%s", o->def->version);
                sb_attrs(&b, m, p);
                for (size_t i = 0; r == 0 && i < o->n_instances; i++)
                        r = discover_instance(m, o, o->instances[i], &b, err);
        } else if (p->len == 2) {
                r = discover_instance(m, o, p->id[1], &b, err);
        } else {
                const struct alder_lwm2m_resource_def *res = alder_lwm2m_resource_find(o->def, p->id[2]);
                r = res ? discover_resource(m, o, p->id[1], res, &b, err)
                        : alder_error_set(err, ENOENT, "no such resource");
                if (r == 0 && b.len == 0)
                        r = alder_error_set(err, ENOENT, "resource not present");
        }
        if (r < 0) {
                free(b.s);
                return r;
        }
        return sb_finish(&b, ret, ret_len, err);
}
