/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Notification attributes (Core TS 1.1 §5.1.2, §7.3.1): Write-Attributes
 * parsing, inheritance object → instance → resource → resource instance,
 * and the decision to notify. Also the Execute argument grammar (§5.4.5).
 * Everything here parses what a server sends: bounded, no allocation from
 * lengths it chose, every error names the attribute or the byte at fault.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmc.h"

#define ATTR_VALUE_MAX 32

static const struct {
        const char *name;
        unsigned bit;
        bool numeric_only; /* resource level, numeric resources only */
        bool is_float;
} attr_table[] = {
        {"pmin", DMC_ATTR_PMIN, false, false},   {"pmax", DMC_ATTR_PMAX, false, false},
        {"gt", DMC_ATTR_GT, true, true},         {"lt", DMC_ATTR_LT, true, true},
        {"st", DMC_ATTR_ST, true, true},         {"epmin", DMC_ATTR_EPMIN, false, false},
        {"epmax", DMC_ATTR_EPMAX, false, false},
};

static bool numeric_type(enum alder_lwm2m_type t)
{
        return t == ALDER_LWM2M_TYPE_INTEGER || t == ALDER_LWM2M_TYPE_UNSIGNED || t == ALDER_LWM2M_TYPE_FLOAT;
}

static int64_t *int_slot(struct dmc_attrs *a, unsigned bit)
{
        return bit == DMC_ATTR_PMIN    ? &a->pmin
               : bit == DMC_ATTR_PMAX  ? &a->pmax
               : bit == DMC_ATTR_EPMIN ? &a->epmin
                                       : &a->epmax;
}

static double *float_slot(struct dmc_attrs *a, unsigned bit)
{
        return bit == DMC_ATTR_GT ? &a->gt : bit == DMC_ATTR_LT ? &a->lt : &a->st;
}

/* A non-negative decimal integer of seconds, no sign, no spaces. */
static int parse_seconds(const char *v, size_t len, const char *name, int64_t *ret, alder_error **err)
{
        int64_t n = 0;
        if (len == 0 || len > 10)
                return alder_error_set(err, EINVAL, "attribute '%s': expected seconds (0 to 2147483647), got '%.*s'",
                                       name, (int) len, v);
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char) v[i]))
                        return alder_error_set(err, EINVAL, "attribute '%s': expected seconds, got '%.*s'", name,
                                               (int) len, v);
                n = n * 10 + (v[i] - '0');
        }
        if (n > 0x7fffffff)
                return alder_error_set(err, EINVAL, "attribute '%s': %lld seconds is too many", name, (long long) n);
        *ret = n;
        return 0;
}

/* A decimal number ("-12", "3.5", "1e3"); no hex, inf or nan. */
static int parse_number(const char *v, size_t len, const char *name, double *ret, alder_error **err)
{
        char buf[ATTR_VALUE_MAX + 1];
        if (len == 0 || len > ATTR_VALUE_MAX)
                return alder_error_set(err, EINVAL, "attribute '%s': expected a number, got '%.*s'", name,
                                       (int) ALDER_MIN(len, 64), v);
        memcpy(buf, v, len);
        buf[len] = '\0';
        for (size_t i = 0; i < len; i++)
                if (!isdigit((unsigned char) buf[i]) && !strchr("+-.eE", buf[i]))
                        return alder_error_set(err, EINVAL, "attribute '%s': expected a number, got '%s'", name, buf);
        char *end;
        errno = 0;
        double d = strtod(buf, &end);
        if (*end || errno || !isfinite(d))
                return alder_error_set(err, EINVAL, "attribute '%s': expected a number, got '%s'", name, buf);
        *ret = d;
        return 0;
}

int dmc_attrs_parse(const char *query, size_t len, const struct alder_lwm2m_path *p, enum alder_lwm2m_type type,
                    struct dmc_attrs *set, unsigned *unset, alder_error **err)
{
        struct dmc_attrs a = {0};
        unsigned seen = 0, removed = 0;
        size_t pos = 0;
        while (pos < len) {
                size_t end = pos;
                while (end < len && query[end] != '&')
                        end++;
                const char *item = query + pos;
                size_t item_len = end - pos;
                const char *eq = memchr(item, '=', item_len);
                size_t name_len = eq ? (size_t) (eq - item) : item_len;
                unsigned bit = 0;
                size_t k;
                for (k = 0; k < ALDER_ARRAY_SIZE(attr_table); k++)
                        if (strlen(attr_table[k].name) == name_len && memcmp(attr_table[k].name, item, name_len) == 0)
                                break;
                if (k == ALDER_ARRAY_SIZE(attr_table))
                        return alder_error_set(
                                err, EINVAL,
                                "unknown attribute '%.*s' (pmin, pmax, gt, lt, st, epmin, epmax are writable)",
                                (int) ALDER_MIN(name_len, 64), item);
                const char *name = attr_table[k].name;
                bit = attr_table[k].bit;
                if (seen & bit)
                        return alder_error_set(err, EINVAL, "attribute '%s' given twice", name);
                seen |= bit;
                if (attr_table[k].numeric_only && (p->len < 3 || !numeric_type(type)))
                        return alder_error_set(err, EINVAL, "attribute '%s' applies to numeric resources only%s", name,
                                               p->len < 3 ? "" : " (this one is not numeric)");
                if (!eq) {
                        removed |= bit;
                } else {
                        const char *v = eq + 1;
                        size_t vlen = item_len - name_len - 1;
                        int r = attr_table[k].is_float ? parse_number(v, vlen, name, float_slot(&a, bit), err)
                                                       : parse_seconds(v, vlen, name, int_slot(&a, bit), err);
                        if (r < 0)
                                return r;
                        if (bit == DMC_ATTR_ST && a.st < 0)
                                return alder_error_set(err, EINVAL, "attribute 'st': a step cannot be negative");
                        a.set |= bit;
                }
                if (end == len)
                        break;
                pos = end + 1;
                if (pos == len)
                        return alder_error_set(err, EINVAL, "empty attribute after '&'");
        }
        *set = a;
        *unset = removed;
        return 0;
}

static struct dmc_attr_entry *find_entry(const struct dmc_model *m, const struct alder_lwm2m_path *p)
{
        for (size_t i = 0; i < m->n_attrs; i++)
                if (alder_lwm2m_path_compare(&m->attrs[i].path, p) == 0)
                        return &m->attrs[i];
        return NULL;
}

const struct dmc_attrs *dmc_attrs_get(const struct dmc_model *m, const struct alder_lwm2m_path *p)
{
        const struct dmc_attr_entry *e = find_entry(m, p);
        return e ? &e->attrs : NULL;
}

static void merge(struct dmc_attrs *dst, const struct dmc_attrs *src)
{
        for (size_t k = 0; k < ALDER_ARRAY_SIZE(attr_table); k++) {
                unsigned bit = attr_table[k].bit;
                if (!(src->set & bit))
                        continue;
                if (attr_table[k].is_float)
                        *float_slot(dst, bit) = *float_slot((struct dmc_attrs *) src, bit);
                else
                        *int_slot(dst, bit) = *int_slot((struct dmc_attrs *) src, bit);
                dst->set |= bit;
        }
}

/* The attribute set must stay consistent: lt < gt, and lt + 2 st < gt with a step (§5.1.2). */
static int check_consistent(const struct dmc_attrs *a, alder_error **err)
{
        if ((a->set & DMC_ATTR_GT) && (a->set & DMC_ATTR_LT)) {
                if (!(a->lt < a->gt))
                        return alder_error_set(err, EINVAL, "'lt' (%g) must be below 'gt' (%g)", a->lt, a->gt);
                if ((a->set & DMC_ATTR_ST) && !(a->lt + 2 * a->st < a->gt))
                        return alder_error_set(err, EINVAL, "'lt' + 2 'st' (%g) must be below 'gt' (%g)",
                                               a->lt + 2 * a->st, a->gt);
        }
        if ((a->set & DMC_ATTR_EPMIN) && (a->set & DMC_ATTR_EPMAX) && a->epmax > 0 && a->epmax < a->epmin)
                return alder_error_set(err, EINVAL, "'epmax' (%lld) must not be below 'epmin' (%lld)",
                                       (long long) a->epmax, (long long) a->epmin);
        return 0;
}

/* Bound on paths with attributes: every resource of every instance could have some. */
#define ATTR_ENTRIES_MAX 4096

int dmc_attrs_apply(struct dmc_model *m, const struct alder_lwm2m_path *p, const struct dmc_attrs *set, unsigned unset,
                    alder_error **err)
{
        struct dmc_attr_entry *e = find_entry(m, p);
        struct dmc_attrs next = e ? e->attrs : (struct dmc_attrs){0};
        next.set &= ~unset;
        merge(&next, set);
        int r = check_consistent(&next, err);
        if (r < 0)
                return r;
        if (!next.set) {
                if (e) {
                        *e = m->attrs[m->n_attrs - 1];
                        m->n_attrs--;
                }
                return 0;
        }
        if (!e) {
                if (m->n_attrs >= ATTR_ENTRIES_MAX)
                        return alder_error_set(err, E2BIG, "attributes on more than %u paths", ATTR_ENTRIES_MAX);
                struct dmc_attr_entry *v = realloc(m->attrs, (m->n_attrs + 1) * sizeof(*v));
                if (!v)
                        return alder_error_set(err, ENOMEM, "out of memory");
                m->attrs = v;
                e = &v[m->n_attrs++];
                e->path = *p;
        }
        e->attrs = next;
        return 0;
}

void dmc_attrs_forget(struct dmc_model *m, const struct alder_lwm2m_path *p)
{
        for (size_t i = 0; i < m->n_attrs;) {
                if (alder_lwm2m_path_has_prefix(&m->attrs[i].path, p))
                        m->attrs[i] = m->attrs[--m->n_attrs];
                else
                        i++;
        }
}

void dmc_attrs_effective(const struct dmc_model *m, const struct alder_lwm2m_path *p, int64_t default_pmin_s,
                         int64_t default_pmax_s, struct dmc_attrs *ret)
{
        struct dmc_attrs a = {0};
        if (default_pmin_s > 0) {
                a.pmin = default_pmin_s;
                a.set |= DMC_ATTR_PMIN;
        }
        if (default_pmax_s > 0) {
                a.pmax = default_pmax_s;
                a.set |= DMC_ATTR_PMAX;
        }
        for (unsigned len = 1; len <= p->len; len++) {
                struct alder_lwm2m_path level = *p;
                level.len = (uint8_t) len;
                const struct dmc_attrs *at = dmc_attrs_get(m, &level);
                if (at)
                        merge(&a, at);
        }
        *ret = a;
}

int dmc_attrs_format(const struct dmc_attrs *a, char **buf, size_t *len, size_t *cap)
{
        for (size_t k = 0; k < ALDER_ARRAY_SIZE(attr_table); k++) {
                unsigned bit = attr_table[k].bit;
                if (!(a->set & bit))
                        continue;
                char item[64];
                int n = attr_table[k].is_float ? snprintf(item, sizeof(item), ";%s=%.17g", attr_table[k].name,
                                                          *float_slot((struct dmc_attrs *) a, bit))
                                               : snprintf(item, sizeof(item), ";%s=%lld", attr_table[k].name,
                                                          (long long) *int_slot((struct dmc_attrs *) a, bit));
                if (*len + (size_t) n + 1 > *cap) {
                        size_t ncap = (*cap + (size_t) n + 1) * 2;
                        char *nb = realloc(*buf, ncap);
                        if (!nb)
                                return -ENOMEM;
                        *buf = nb;
                        *cap = ncap;
                }
                memcpy(*buf + *len, item, (size_t) n + 1);
                *len += (size_t) n;
        }
        return 0;
}

/* ---- notifications ----------------------------------------------------------- */

bool dmc_records_equal(const struct alder_lwm2m_records *a, const struct alder_lwm2m_records *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (alder_lwm2m_path_compare(&a->v[i].path, &b->v[i].path) != 0 ||
                    !alder_lwm2m_value_equal(&a->v[i].value, &b->v[i].value))
                        return false;
        return true;
}

/* The number a single numeric record holds; false when there is not exactly one. */
static bool single_number(const struct alder_lwm2m_records *r, double *ret)
{
        if (r->n != 1)
                return false;
        const struct alder_lwm2m_value *v = &r->v[0].value;
        switch (v->type) {
        case ALDER_LWM2M_TYPE_INTEGER:
                *ret = (double) v->i;
                return true;
        case ALDER_LWM2M_TYPE_UNSIGNED:
                *ret = (double) v->u;
                return true;
        case ALDER_LWM2M_TYPE_FLOAT:
                *ret = v->f;
                return true;
        default:
                return false;
        }
}

/* Did the value change in a way the attributes want to hear about? */
static bool change_reportable(const struct dmc_observation *o, const struct dmc_attrs *eff,
                              const struct alder_lwm2m_records *current)
{
        if (dmc_records_equal(&o->last, current))
                return false;
        double a, b;
        if (!(eff->set & (DMC_ATTR_GT | DMC_ATTR_LT | DMC_ATTR_ST)) || !single_number(&o->last, &a) ||
            !single_number(current, &b))
                return true;
        bool fire = false;
        if (eff->set & DMC_ATTR_GT)
                fire |= (a > eff->gt) != (b > eff->gt);
        if (eff->set & DMC_ATTR_LT)
                fire |= (a < eff->lt) != (b < eff->lt);
        if (eff->set & DMC_ATTR_ST)
                fire |= fabs(b - a) >= eff->st;
        return fire;
}

bool dmc_observe_due(const struct dmc_observation *o, const struct dmc_attrs *eff,
                     const struct alder_lwm2m_records *current, int64_t now_ms, int64_t *next_ms)
{
        int64_t pmin_ms = (eff->set & DMC_ATTR_PMIN) ? eff->pmin * 1000 : 0;
        /* pmax is ignored when it is 0 or below pmin (§5.1.2). */
        bool has_pmax = (eff->set & DMC_ATTR_PMAX) && eff->pmax > 0 && eff->pmax * 1000 >= pmin_ms;
        int64_t since = now_ms - o->last_ms;
        *next_ms = INT64_MAX;
        if (has_pmax) {
                if (since >= eff->pmax * 1000)
                        return true;
                *next_ms = o->last_ms + eff->pmax * 1000;
        }
        if (!change_reportable(o, eff, current))
                return false;
        if (since >= pmin_ms)
                return true;
        *next_ms = ALDER_MIN(*next_ms, o->last_ms + pmin_ms);
        return false;
}

int dmc_observe_sent(struct dmc_observation *o, const struct alder_lwm2m_records *current, int64_t now_ms,
                     alder_error **err)
{
        struct alder_lwm2m_records copy = {0};
        for (size_t i = 0; i < current->n; i++) {
                const struct alder_lwm2m_value *v = &current->v[i].value;
                struct alder_lwm2m_record *rec = alder_lwm2m_records_add(&copy, &current->v[i].path);
                if (!rec) {
                        alder_lwm2m_records_clear(&copy);
                        return alder_error_set(err, ENOMEM, "out of memory");
                }
                struct alder_lwm2m_value nv = *v;
                nv.data = NULL;
                nv.len = 0;
                rec->value = nv;
                if (v->data && alder_lwm2m_value_set_bytes(&rec->value, v->type, v->data, v->len) < 0) {
                        alder_lwm2m_records_clear(&copy);
                        return alder_error_set(err, ENOMEM, "out of memory");
                }
        }
        alder_lwm2m_records_clear(&o->last);
        o->last = copy;
        o->last_ms = now_ms;
        return 0;
}

void dmc_observation_clear(struct dmc_observation *o)
{
        alder_lwm2m_records_clear(&o->last);
        o->active = false;
}

/* ---- Execute arguments --------------------------------------------------------- */

/* §5.4.5: arglist = arg *("," arg); arg = DIGIT ["=" "'" *CHAR "'"]; CHAR: printable but ' and ". */
static bool arg_char(char c)
{
        return c >= 0x20 && c <= 0x7e && c != '\'' && c != '"';
}

int dmc_exec_args_check(const char *args, size_t len, alder_error **err)
{
        if (len == 0)
                return 0;
        int n = 0;
        bool seen[10] = {false};
        for (size_t i = 0;;) {
                if (i >= len || !isdigit((unsigned char) args[i]))
                        return alder_error_set(err, EINVAL, "byte %zu: expected an argument number 0-9", i);
                unsigned d = (unsigned) (args[i] - '0');
                if (seen[d])
                        return alder_error_set(err, EINVAL, "byte %zu: argument %u given twice", i, d);
                seen[d] = true;
                n++;
                i++;
                if (i < len && args[i] == '=') {
                        i++;
                        if (i >= len || args[i] != '\'')
                                return alder_error_set(err, EINVAL, "byte %zu: expected ' to open the value", i);
                        i++;
                        while (i < len && arg_char(args[i]))
                                i++;
                        if (i >= len || args[i] != '\'')
                                return alder_error_set(err, EINVAL, "byte %zu: expected ' to close the value", i);
                        i++;
                }
                if (i == len)
                        return n;
                if (args[i] != ',')
                        return alder_error_set(err, EINVAL, "byte %zu: expected ',' between arguments", i);
                i++;
        }
}

char *dmc_exec_arg(const char *args, size_t len, unsigned n)
{
        for (size_t i = 0; i < len;) {
                unsigned d = (unsigned) (args[i] - '0');
                size_t vstart = 0, vend = 0;
                i++;
                if (i < len && args[i] == '=') {
                        vstart = i + 2;
                        vend = vstart;
                        while (vend < len && args[vend] != '\'')
                                vend++;
                        i = vend + 1;
                }
                if (d == n)
                        return strndup(vstart ? args + vstart : "", vend - vstart);
                i++; /* the ',' */
        }
        return NULL;
}
