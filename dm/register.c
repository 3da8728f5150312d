/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alder/json.h"
#include "alder/lwm2m.h"
#include "register.h"
#include "util.h"

void dm_reg_params_clear(struct dm_reg_params *p)
{
        free(p->endpoint);
        free(p->endpoint_type);
        *p = (struct dm_reg_params){0};
}

static void reg_params_clearp(struct dm_reg_params **p)
{
        if (*p)
                dm_reg_params_clear(*p);
}

static int parse_lifetime(const char *v, uint32_t *ret, alder_error **err)
{
        uint64_t n = 0;
        size_t len = strlen(v);
        if (len == 0 || len > 10 || strspn(v, "0123456789") != len)
                return alder_error_set(err, EINVAL, "lifetime (lt) '%s': expected a number of seconds", v);
        for (const char *p = v; *p; p++)
                n = n * 10 + (uint64_t) (*p - '0');
        if (n == 0 || n > UINT32_MAX)
                return alder_error_set(err, EINVAL, "lifetime (lt) %s: expected 1 to 4294967295 seconds", v);
        *ret = (uint32_t) n;
        return 0;
}

/* 1.1 bindings are letters of U, S, N, T, each at most once; 1.0 has U, UQ, S, SQ, US, UQS (Q = queue mode). */
static int parse_binding(const char *v, const char *version, struct dm_reg_params *p, alder_error **err)
{
        bool v10 = strcmp(version, "1.0") == 0;
        const char *letters = v10 ? "USQ" : "USNT";
        size_t len = strlen(v);
        if (len == 0 || len >= sizeof(p->binding) || strspn(v, letters) != len)
                return alder_error_set(err, EINVAL, "binding (b) '%s': expected letters of %s (LwM2M %s)", v,
                                       v10 ? "U, S and Q" : "U, S, N and T", version);
        for (size_t i = 0; i < len; i++)
                if (strchr(v + i + 1, v[i]))
                        return alder_error_set(err, EINVAL, "binding (b) '%s': '%c' given twice", v, v[i]);
        memcpy(p->binding, v, len + 1);
        p->has_binding = true;
        if (v10 && strchr(v, 'Q'))
                p->queue = true;
        return 0;
}

static int parse_sms(const char *v, struct dm_reg_params *p, alder_error **err)
{
        size_t len = strlen(v), digits = strspn(v + (v[0] == '+'), "0123456789");
        if (digits == 0 || digits + (v[0] == '+') != len || len >= sizeof(p->sms))
                return alder_error_set(err, EINVAL, "SMS number (sms) '%s': expected an MSISDN (digits)", v);
        memcpy(p->sms, v, len + 1);
        p->has_sms = true;
        return 0;
}

/* Characters that would break the REST paths and logs an endpoint name ends up in. */
#define ENDPOINT_FORBIDDEN "/?#%\"\\"

struct param {
        const char *name;
        const char *value; /* NULL for a valueless parameter */
};

static int split(const char *opt, char name[static 16], const char **value)
{
        const char *eq = strchr(opt, '=');
        size_t len = eq ? (size_t) (eq - opt) : strlen(opt);
        if (len == 0 || len >= 16)
                return -EINVAL;
        memcpy(name, opt, len);
        name[len] = '\0';
        *value = eq ? eq + 1 : NULL;
        return 0;
}

int dm_reg_params_parse(const char *update_version, const char *const *query, size_t n, struct dm_reg_params *ret,
                        alder_error **err)
{
        bool register_op = !update_version;
        static const char *const known[] = {"ep", "lt", "lwm2m", "b", "sms", "Q", "et"};
        const char *values[ALDER_ARRAY_SIZE(known)] = {0};
        bool seen[ALDER_ARRAY_SIZE(known)] = {0};

        if (n > DM_REG_QUERY_MAX)
                return alder_error_set(err, E2BIG, "more than %d query parameters", DM_REG_QUERY_MAX);
        for (size_t i = 0; i < n; i++) {
                char name[16];
                const char *value;
                if (split(query[i], name, &value) < 0)
                        continue; /* not one of ours: ignored, as unknown parameters are */
                for (size_t k = 0; k < ALDER_ARRAY_SIZE(known); k++) {
                        if (strcmp(name, known[k]) != 0)
                                continue;
                        if (seen[k])
                                return alder_error_set(err, EINVAL, "parameter '%s' given twice", name);
                        seen[k] = true;
                        values[k] = value;
                }
        }

        enum { EP, LT, LWM2M, B, SMS, Q, ET };
        if (!register_op && (seen[EP] || seen[LWM2M]))
                return alder_error_set(err, EINVAL, "parameter '%s' is not allowed in an Update",
                                       seen[EP] ? "ep" : "lwm2m");
        for (size_t k = 0; k < ALDER_ARRAY_SIZE(known); k++)
                if (seen[k] && k != Q && (!values[k] || !*values[k]))
                        return alder_error_set(err, EINVAL, "parameter '%s' needs a value", known[k]);
        if (seen[Q] && values[Q])
                return alder_error_set(err, EINVAL, "parameter 'Q' takes no value");

        struct dm_reg_params p = {0};
        _cleanup_(reg_params_clearp) struct dm_reg_params *owned = &p;
        snprintf(p.version, sizeof(p.version), "%s", register_op ? "1.0" : update_version);
        if (register_op) {
                if (!seen[EP])
                        return alder_error_set(err, EINVAL, "missing endpoint name (ep)");
                if (!dm_is_printable(values[EP], DM_ENDPOINT_MAX, ENDPOINT_FORBIDDEN))
                        return alder_error_set(err, EINVAL,
                                               "endpoint name (ep): expected 1 to %d printable characters without "
                                               "spaces and %s",
                                               DM_ENDPOINT_MAX, ENDPOINT_FORBIDDEN);
                p.endpoint = strdup(values[EP]);
                if (!p.endpoint)
                        return alder_error_set(err, ENOMEM, "out of memory");
                if (seen[LWM2M]) {
                        if (strcmp(values[LWM2M], "1.0") != 0 && strcmp(values[LWM2M], "1.1") != 0)
                                return alder_error_set(err, EPROTONOSUPPORT,
                                                       "unsupported LwM2M version '%.16s' (this server speaks 1.0 "
                                                       "and 1.1)",
                                                       values[LWM2M]);
                        strcpy(p.version, values[LWM2M]);
                }
        }
        if (seen[ET]) {
                if (!dm_is_printable(values[ET], 64, "\"\\"))
                        return alder_error_set(err, EINVAL,
                                               "endpoint type (et): expected 1 to 64 printable characters");
                p.endpoint_type = strdup(values[ET]);
                if (!p.endpoint_type)
                        return alder_error_set(err, ENOMEM, "out of memory");
        }
        int r;
        if (seen[LT]) {
                r = parse_lifetime(values[LT], &p.lifetime, err);
                if (r < 0)
                        return r;
                p.has_lifetime = true;
        } else if (register_op) {
                p.lifetime = DM_LIFETIME_DEFAULT;
        }
        if (seen[B]) {
                r = parse_binding(values[B], p.version, &p, err);
                if (r < 0)
                        return r;
        }
        if (seen[SMS]) {
                r = parse_sms(values[SMS], &p, err);
                if (r < 0)
                        return r;
        }
        if (seen[Q])
                p.queue = true;
        owned = NULL;
        *ret = p;
        return 0;
}

/* Adds a link's attributes to obj as strings (a valueless attribute as true). */
static int add_attrs(json_t *obj, const struct alder_lwm2m_link *l)
{
        for (size_t j = 0; j < l->n_attrs; j++) {
                const struct alder_lwm2m_link_attr *a = &l->attrs[j];
                if (strcmp(a->name, "path") == 0 || json_object_get(obj, a->name))
                        continue; /* the first of repeated attributes counts */
                json_t *v = a->value ? json_string(a->value) : json_true();
                if (!v || json_object_set_new(obj, a->name, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The client's root: the link with rt="oma.lwm2m", "/" when there is none. */
static int find_root(const struct alder_lwm2m_links *links, const char **ret, size_t *ret_index, alder_error **err)
{
        *ret = "/";
        *ret_index = SIZE_MAX;
        for (size_t i = 0; i < links->n; i++) {
                const char *rt = alder_lwm2m_link_attr(&links->v[i], "rt");
                if (!rt || strcmp(rt, "oma.lwm2m") != 0)
                        continue;
                if (*ret_index != SIZE_MAX)
                        return alder_error_set(err, EINVAL, "object list: two links with rt=\"oma.lwm2m\"");
                *ret = links->v[i].uri;
                *ret_index = i;
        }
        if ((*ret)[0] != '/')
                return alder_error_set(err, EINVAL, "object list: root <%s> is not an absolute path", *ret);
        return 0;
}

int dm_reg_objects_parse(const char *payload, size_t len, json_t **ret, alder_error **err)
{
        _cleanup_(alder_lwm2m_links_clear) struct alder_lwm2m_links links = {0};
        int r = alder_lwm2m_links_parse(payload, len, &links, err);
        if (r < 0)
                return alder_error_wrap(err, "object list");

        const char *root;
        size_t root_index;
        r = find_root(&links, &root, &root_index, err);
        if (r < 0)
                return r;
        size_t root_len = strcmp(root, "/") == 0 ? 0 : strlen(root);

        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return alder_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < links.n; i++) {
                const struct alder_lwm2m_link *l = &links.v[i];
                if (i == root_index)
                        continue;
                struct alder_lwm2m_path path;
                if (strncmp(l->uri, root, root_len) != 0 ||
                    alder_lwm2m_path_parse(l->uri + root_len, &path, NULL) < 0 || l->uri[root_len] != '/')
                        return alder_error_set(err, EINVAL, "object list: link %zu <%s> is not an LwM2M path below %s",
                                               i + 1, l->uri, root);
                if (path.len == 0 && root_len == 0)
                        continue; /* </> with attributes but no rt: nothing to list */
                if (path.len < 1 || path.len > 2)
                        return alder_error_set(err, EINVAL,
                                               "object list: link %zu <%s> is not an object or an object instance",
                                               i + 1, l->uri);
                char buf[ALDER_LWM2M_PATH_STRLEN];
                json_t *o = json_pack("{ss}", "path", alder_lwm2m_path_format(&path, buf));
                if (!o || json_array_append_new(list, o) < 0 || add_attrs(o, l) < 0)
                        return alder_error_set(err, ENOMEM, "out of memory");
        }
        *ret = steal_pointer(&list);
        return 0;
}
