/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "alder/appmeta.h"
#include "alder/json.h"

#define LIST_MAX    256 /* env entries, devices, capabilities, argv words */
#define VOLUMES_MAX 16
#define STRING_MAX  4096

/* ---- validators ------------------------------------------------------------ */

int alder_app_name_check(const char *name, alder_error **err)
{
        size_t n = strlen(name);
        if (n == 0 || n > ALDER_APP_NAME_MAX)
                return alder_error_set(err, EINVAL, "app name '%s': must be 1 to %d characters", name,
                                       ALDER_APP_NAME_MAX);
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
                if (!ok)
                        return alder_error_set(err, EINVAL,
                                               "app name '%s': character %zu: only a-z, 0-9 and '-' (not first) "
                                               "are allowed",
                                               name, i + 1);
        }
        return 0;
}

/* A numeric identifier: digits, no leading zero unless it is "0". */
static bool numeric_ident(const char *s, size_t n)
{
        if (n == 0 || (n > 1 && s[0] == '0'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]))
                        return false;
        return true;
}

static bool alnum_ident(const char *s, size_t n, bool *all_digits)
{
        if (n == 0)
                return false;
        *all_digits = true;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (!isalnum(c) && c != '-')
                        return false;
                if (!isdigit(c))
                        *all_digits = false;
        }
        return true;
}

/* Dot-separated identifiers of a pre-release (numeric ones without leading zeros) or build part. */
static bool dotted_idents(const char *s, size_t n, bool prerelease)
{
        const char *end = s + n;
        while (s <= end) {
                const char *dot = memchr(s, '.', (size_t) (end - s));
                size_t len = (size_t) ((dot ? dot : end) - s);
                bool digits;
                if (!alnum_ident(s, len, &digits))
                        return false;
                if (prerelease && digits && !numeric_ident(s, len))
                        return false;
                if (!dot)
                        return true;
                s = dot + 1;
        }
        return false;
}

int alder_semver_check(const char *v, alder_error **err)
{
        const char *p = v;
        for (int part = 0; part < 3; part++) {
                size_t n = strspn(p, "0123456789");
                if (!numeric_ident(p, n))
                        goto bad;
                p += n;
                if (part < 2) {
                        if (*p != '.')
                                goto bad;
                        p++;
                }
        }
        const char *plus = strchr(p, '+');
        size_t pre_len = plus ? (size_t) (plus - p) : strlen(p);
        if (*p == '-' && !dotted_idents(p + 1, pre_len - 1, true))
                goto bad;
        if (*p != '-' && *p != '+' && *p != '\0')
                goto bad;
        if (plus && !dotted_idents(plus + 1, strlen(plus + 1), false))
                goto bad;
        return 0;
bad:
        return alder_error_set(err, EINVAL,
                               "version '%s': not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], "
                               "e.g. 1.4.0 or 2.0.0-rc.1)",
                               v);
}

static const char *const restart_names[] = {
        [ALDER_APP_RESTART_ON_FAILURE] = "on-failure",
        [ALDER_APP_RESTART_NO] = "no",
        [ALDER_APP_RESTART_ALWAYS] = "always",
};

#define RESTART_LIST         "no, on-failure, always"
#define SECURE_SERVICES_LIST "none, optional, required"

static const char *const secure_services_names[] = {
        [ALDER_APP_SECURE_SERVICES_OPTIONAL] = "optional",
        [ALDER_APP_SECURE_SERVICES_REQUIRED] = "required",
        [ALDER_APP_SECURE_SERVICES_NONE] = "none",
};

/* The index of s in names; EINVAL with the allowed values (`list`) otherwise. */
static int enum_parse(const char *const *names, size_t n, const char *list, const char *s, int *ret, alder_error **err)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (int) i;
                        return 0;
                }
        return alder_error_set(err, EINVAL, "'%s' is not one of %s", s, list);
}

const char *alder_app_restart_name(alder_app_restart restart)
{
        return (unsigned) restart < ALDER_ARRAY_SIZE(restart_names) ? restart_names[restart] : NULL;
}

int alder_app_restart_parse(const char *s, alder_app_restart *ret, alder_error **err)
{
        int v = 0;
        int r = enum_parse(restart_names, ALDER_ARRAY_SIZE(restart_names), RESTART_LIST, s, &v, err);
        if (r == 0)
                *ret = (alder_app_restart) v;
        return r;
}

const char *alder_app_secure_services_name(alder_app_secure_services v)
{
        return (unsigned) v < ALDER_ARRAY_SIZE(secure_services_names) ? secure_services_names[v] : NULL;
}

int alder_app_secure_services_parse(const char *s, alder_app_secure_services *ret, alder_error **err)
{
        int v = 0;
        int r = enum_parse(secure_services_names, ALDER_ARRAY_SIZE(secure_services_names), "none, optional, required",
                           s, &v, err);
        if (r == 0)
                *ret = (alder_app_secure_services) v;
        return r;
}

const char *alder_arch_normalize(const char *arch, const char *variant)
{
        static const struct {
                const char *in;
                const char *out;
        } map[] = {
                {"arm64", "arm64"}, {"aarch64", "arm64"}, {"amd64", "amd64"}, {"x86_64", "amd64"}, {"arm", "arm"},
                {"armhf", "arm"},   {"armv7", "arm"},     {"armv7l", "arm"},  {"arm/v7", "arm"},
        };
        if (!arch)
                return NULL;
        /* ARMv6 and older are not Cortex-A: "arm" means v7 only. */
        if (strcmp(arch, "arm") == 0 && variant && *variant && strcmp(variant, "v7") != 0)
                return NULL;
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(map); i++)
                if (strcmp(arch, map[i].in) == 0)
                        return map[i].out;
        return NULL;
}

const char *alder_arch_native(void)
{
        struct utsname u;
        if (uname(&u) < 0)
                return NULL;
        return alder_arch_normalize(u.machine, NULL);
}

/* ---- object lifetime ------------------------------------------------------- */

int alder_app_meta_new(alder_app_meta **ret, alder_error **err)
{
        alder_app_meta *m = calloc(1, sizeof(*m));
        char **empty[4] = {NULL};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(empty); i++)
                empty[i] = calloc(1, sizeof(char *));
        if (!m || !empty[0] || !empty[1] || !empty[2] || !empty[3]) {
                for (size_t i = 0; i < ALDER_ARRAY_SIZE(empty); i++)
                        free(empty[i]);
                free(m);
                return alder_error_set(err, ENOMEM, "app metadata: out of memory");
        }
        m->entrypoint = empty[0];
        m->cmd = empty[1];
        m->env = empty[2];
        m->health_command = empty[3];
        m->health_grace_seconds = 5;
        m->restart = ALDER_APP_RESTART_ON_FAILURE;
        *ret = m;
        return 0;
}

void alder_app_meta_free(alder_app_meta *m)
{
        if (!m)
                return;
        free(m->name);
        free(m->version);
        free(m->arch);
        alder_strv_free(m->entrypoint);
        alder_strv_free(m->cmd);
        alder_strv_free(m->env);
        free(m->workdir);
        free(m->user);
        alder_strv_free(m->devices);
        alder_strv_free(m->capabilities);
        for (size_t i = 0; i < m->n_volumes; i++) {
                free(m->volumes[i].name);
                free(m->volumes[i].path);
        }
        free(m->volumes);
        alder_strv_free(m->health_command);
        if (m->source)
                json_decref(m->source);
        free(m);
}

/* ---- parsing --------------------------------------------------------------- */

static int dup_string(const json_t *doc, const char *source, const char *field, unsigned flags, char **ret,
                      alder_error **err)
{
        const char *s = NULL;
        int r = alder_json_get_string(doc, source, field, flags, &s, err);
        if (r < 0 || !s)
                return r;
        if (strlen(s) > STRING_MAX)
                return alder_error_set(err, E2BIG, "%s: field '%s': longer than %d bytes", source, field, STRING_MAX);
        char *copy = strdup(s);
        if (!copy)
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        free(*ret);
        *ret = copy;
        return 0;
}

static int get_list(const json_t *doc, const char *source, const char *field, char ***ret, alder_error **err)
{
        char **v = NULL;
        int r = alder_json_get_strv(doc, source, field, ALDER_JSON_OPTIONAL, LIST_MAX, &v, err);
        if (r < 0)
                return r;
        if (v) {
                alder_strv_free(*ret);
                *ret = v;
        } else if (!*ret) {
                *ret = calloc(1, sizeof(char *));
                if (!*ret)
                        return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        }
        return 0;
}

static const char *const top_keys[] = {"format",      "name",   "version", "arch",   "runtime",
                                       "permissions", "health", "restart", "source", NULL};
static const char *const runtime_keys[] = {"entrypoint", "cmd", "env", "workdir", "user", NULL};
static const char *const permission_keys[] = {"host_network", "devices",      "capabilities",    "limits",
                                              "volumes",      "setuid_files", "secure_services", NULL};
static const char *const limit_keys[] = {"memory_bytes", "cpu_millis", "pids", NULL};
static const char *const health_keys[] = {"command", "grace_seconds", NULL};
static const char *const volume_keys[] = {"name", "path", NULL};

static int check_optional_keys(const json_t *doc, const char *source, const char *field, const char *const *allowed,
                               alder_error **err)
{
        json_t *obj = NULL;
        int r = alder_json_get_object(doc, source, field, ALDER_JSON_OPTIONAL, &obj, err);
        if (r < 0 || !obj)
                return r;
        return alder_json_check_keys(doc, source, field, allowed, err);
}

static int parse_identity(const json_t *doc, const char *source, alder_app_meta *m, alder_error **err)
{
        int64_t format;
        int r = alder_json_get_int_range(doc, source, "format", 0, ALDER_APP_META_FORMAT, ALDER_APP_META_FORMAT,
                                         &format, err);
        if (r == 0)
                r = dup_string(doc, source, "name", 0, &m->name, err);
        if (r == 0)
                r = dup_string(doc, source, "version", 0, &m->version, err);
        if (r == 0)
                r = dup_string(doc, source, "arch", 0, &m->arch, err);
        if (r < 0)
                return r;
        if (alder_app_name_check(m->name, err) < 0 || alder_semver_check(m->version, err) < 0)
                return alder_error_wrap(err, "%s", source);
        const char *norm = alder_arch_normalize(m->arch, NULL);
        if (!norm || strcmp(norm, m->arch) != 0)
                return alder_error_set(err, EINVAL, "%s: field 'arch': '%s' is not one of arm64, arm, amd64", source,
                                       m->arch);
        return 0;
}

static int parse_runtime(const json_t *doc, const char *source, alder_app_meta *m, alder_error **err)
{
        int r = check_optional_keys(doc, source, "runtime", runtime_keys, err);
        if (r == 0)
                r = get_list(doc, source, "runtime.entrypoint", &m->entrypoint, err);
        if (r == 0)
                r = get_list(doc, source, "runtime.cmd", &m->cmd, err);
        if (r == 0)
                r = get_list(doc, source, "runtime.env", &m->env, err);
        if (r == 0)
                r = dup_string(doc, source, "runtime.workdir", ALDER_JSON_OPTIONAL, &m->workdir, err);
        if (r == 0)
                r = dup_string(doc, source, "runtime.user", ALDER_JSON_OPTIONAL, &m->user, err);
        if (r < 0)
                return r;
        if (!m->entrypoint[0] && !m->cmd[0])
                return alder_error_set(err, EINVAL,
                                       "%s: field 'runtime': neither 'entrypoint' nor 'cmd' says what "
                                       "to run",
                                       source);
        for (char **e = m->env; *e; e++)
                if (!strchr(*e, '=') || **e == '=')
                        return alder_error_set(err, EINVAL, "%s: field 'runtime.env': '%s' is not NAME=VALUE", source,
                                               *e);
        if (m->workdir && m->workdir[0] != '/')
                return alder_error_set(err, EINVAL, "%s: field 'runtime.workdir': '%s' is not an absolute path", source,
                                       m->workdir);
        return 0;
}

static int parse_volumes(const json_t *doc, const char *source, alder_app_meta *m, alder_error **err)
{
        json_t *arr = NULL;
        int r = alder_json_get_array(doc, source, "permissions.volumes", ALDER_JSON_OPTIONAL, &arr, err);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        if (n > VOLUMES_MAX)
                return alder_error_set(err, E2BIG, "%s: field 'permissions.volumes': %zu volumes, at most %d", source,
                                       n, VOLUMES_MAX);
        m->volumes = calloc(n ? n : 1, sizeof(*m->volumes));
        if (!m->volumes)
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        for (size_t i = 0; i < n; i++) {
                m->n_volumes++; /* counted first, so a half-parsed entry is freed too */
                char where[64];
                snprintf(where, sizeof(where), "%s: field 'permissions.volumes[%zu]'", source, i);
                json_t *v = json_array_get(arr, i);
                r = alder_json_check_keys(v, where, NULL, volume_keys, err);
                if (r == 0)
                        r = dup_string(v, where, "name", 0, &m->volumes[i].name, err);
                if (r == 0)
                        r = dup_string(v, where, "path", 0, &m->volumes[i].path, err);
                if (r < 0)
                        return r;
                if (alder_app_name_check(m->volumes[i].name, err) < 0)
                        return alder_error_wrap(err, "%s", where);
                if (m->volumes[i].path[0] != '/')
                        return alder_error_set(err, EINVAL, "%s: path '%s' is not absolute", where, m->volumes[i].path);
        }
        return 0;
}

/* An optional enum field: *ret untouched when absent. */
static int get_enum(const json_t *doc, const char *source, const char *field, const char *const *names, size_t n,
                    const char *list, int *ret, alder_error **err)
{
        const char *s = NULL;
        int r = alder_json_get_string(doc, source, field, ALDER_JSON_OPTIONAL, &s, err);
        if (r < 0 || !s)
                return r;
        r = enum_parse(names, n, list, s, ret, err);
        return r < 0 ? alder_error_wrap(err, "%s: field '%s'", source, field) : 0;
}

static int parse_secure_services(const json_t *doc, const char *source, alder_app_meta *m, alder_error **err)
{
        int v = (int) m->secure_services;
        int r = get_enum(doc, source, "permissions.secure_services", secure_services_names,
                         ALDER_ARRAY_SIZE(secure_services_names), SECURE_SERVICES_LIST, &v, err);
        m->secure_services = (alder_app_secure_services) v;
        return r;
}

static int parse_permissions(const json_t *doc, const char *source, alder_app_meta *m, alder_error **err)
{
        int r = check_optional_keys(doc, source, "permissions", permission_keys, err);
        if (r == 0)
                r = check_optional_keys(doc, source, "permissions.limits", limit_keys, err);
        if (r == 0)
                r = alder_json_get_bool(doc, source, "permissions.host_network", ALDER_JSON_OPTIONAL, &m->host_network,
                                        err);
        if (r == 0)
                r = alder_json_get_bool(doc, source, "permissions.setuid_files", ALDER_JSON_OPTIONAL, &m->setuid_files,
                                        err);
        if (r == 0)
                r = parse_secure_services(doc, source, m, err);
        if (r == 0)
                r = get_list(doc, source, "permissions.devices", &m->devices, err);
        if (r == 0)
                r = get_list(doc, source, "permissions.capabilities", &m->capabilities, err);
        if (r == 0)
                r = alder_json_get_int_range(doc, source, "permissions.limits.memory_bytes", ALDER_JSON_OPTIONAL, 0,
                                             INT64_MAX, &m->memory_bytes, err);
        if (r == 0)
                r = alder_json_get_int_range(doc, source, "permissions.limits.cpu_millis", ALDER_JSON_OPTIONAL, 0,
                                             1000000, &m->cpu_millis, err);
        if (r == 0)
                r = alder_json_get_int_range(doc, source, "permissions.limits.pids", ALDER_JSON_OPTIONAL, 0, 4194304,
                                             &m->pids, err);
        if (r == 0)
                r = parse_volumes(doc, source, m, err);
        if (r < 0)
                return r;
        for (char **d = m->devices; *d; d++)
                if (strncmp(*d, "/dev/", 5) != 0 || strstr(*d, "/../"))
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'permissions.devices': '%s' is not a path "
                                               "under /dev",
                                               source, *d);
        for (char **c = m->capabilities; *c; c++)
                if (strncmp(*c, "CAP_", 4) != 0)
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'permissions.capabilities': '%s' is not a "
                                               "capability name (CAP_...)",
                                               source, *c);
        return 0;
}

static int parse_health(const json_t *doc, const char *source, alder_app_meta *m, alder_error **err)
{
        int r = check_optional_keys(doc, source, "health", health_keys, err);
        if (r == 0)
                r = get_list(doc, source, "health.command", &m->health_command, err);
        if (r == 0)
                r = alder_json_get_int_range(doc, source, "health.grace_seconds", ALDER_JSON_OPTIONAL, 0, 3600,
                                             &m->health_grace_seconds, err);
        return r;
}

static int parse_restart(const json_t *doc, const char *source, alder_app_meta *m, alder_error **err)
{
        int v = (int) m->restart;
        int r = get_enum(doc, source, "restart", restart_names, ALDER_ARRAY_SIZE(restart_names), RESTART_LIST, &v, err);
        m->restart = (alder_app_restart) v;
        return r;
}

int alder_app_meta_from_json(const json_t *doc, const char *source, alder_app_meta **ret, alder_error **err)
{
        _cleanup_app_meta_ alder_app_meta *m = NULL;
        int r = alder_app_meta_new(&m, err);
        if (r == 0)
                r = alder_json_check_keys(doc, source, NULL, top_keys, err);
        if (r == 0)
                r = parse_identity(doc, source, m, err);
        if (r == 0)
                r = parse_runtime(doc, source, m, err);
        if (r == 0)
                r = parse_permissions(doc, source, m, err);
        if (r == 0)
                r = parse_health(doc, source, m, err);
        if (r == 0)
                r = parse_restart(doc, source, m, err);
        if (r < 0)
                return r;
        json_t *src = NULL;
        r = alder_json_get_object(doc, source, "source", ALDER_JSON_OPTIONAL, &src, err);
        if (r < 0)
                return r;
        m->source = src ? json_deep_copy(src) : NULL;
        if (!m->workdir && !(m->workdir = strdup("/")))
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        *ret = steal_pointer(&m);
        return 0;
}

/* ---- serializing ----------------------------------------------------------- */

static json_t *strv_to_json(char **v)
{
        json_t *a = json_array();
        for (char **s = v; a && s && *s; s++)
                if (json_array_append_new(a, json_string(*s)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

int alder_app_meta_to_json(const alder_app_meta *m, json_t **ret, alder_error **err)
{
        json_t *volumes = json_array();
        for (size_t i = 0; volumes && i < m->n_volumes; i++)
                json_array_append_new(volumes,
                                      json_pack("{s:s,s:s}", "name", m->volumes[i].name, "path", m->volumes[i].path));
        json_t *doc = json_pack(
                "{s:i,s:s,s:s,s:s,"
                "s:{s:o,s:o,s:o,s:s,s:s*},"
                "s:{s:b,s:o,s:o,s:{s:I,s:I,s:I},s:o,s:b,s:s},"
                "s:{s:o,s:I},s:s}",
                "format", ALDER_APP_META_FORMAT, "name", m->name, "version", m->version, "arch", m->arch, "runtime",
                "entrypoint", strv_to_json(m->entrypoint), "cmd", strv_to_json(m->cmd), "env", strv_to_json(m->env),
                "workdir", m->workdir ? m->workdir : "/", "user", m->user, "permissions", "host_network",
                m->host_network, "devices", strv_to_json(m->devices), "capabilities", strv_to_json(m->capabilities),
                "limits", "memory_bytes", (json_int_t) m->memory_bytes, "cpu_millis", (json_int_t) m->cpu_millis,
                "pids", (json_int_t) m->pids, "volumes", volumes, "setuid_files", m->setuid_files, "secure_services",
                alder_app_secure_services_name(m->secure_services), "health", "command",
                strv_to_json(m->health_command), "grace_seconds", (json_int_t) m->health_grace_seconds, "restart",
                alder_app_restart_name(m->restart));
        if (!doc)
                return alder_error_set(err, ENOMEM, "app metadata: cannot serialize (out of memory or missing field)");
        if (m->source && json_object_set(doc, "source", m->source) < 0) {
                json_decref(doc);
                return alder_error_set(err, ENOMEM, "app metadata: out of memory");
        }
        *ret = doc;
        return 0;
}
