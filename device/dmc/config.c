/* SPDX-License-Identifier: Apache-2.0 */
/* alder-dmc's configuration: ROOT/config/dmc.json (docs/api/dmc.md#configuration). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/digest.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "dmc.h"

#define CONFIG_MAX_SIZE (64u * 1024u)
#define ARGV_MAX        64u

static int oom(alder_error **err)
{
        return alder_error_set(err, ENOMEM, "out of memory");
}

static int dup_str(const char *s, char **ret, alder_error **err)
{
        if (!(*ret = strdup(s)))
                return oom(err);
        return 0;
}

/* A string setting, or its default (NULL default: stays NULL). */
static int get_str(const json_t *doc, const char *src, const char *field, const char *def, char **ret,
                   alder_error **err)
{
        const char *v = def;
        int r = alder_json_get_string(doc, src, field, ALDER_JSON_OPTIONAL, &v, err);
        if (r < 0 || !v)
                return r;
        if (!*v && def)
                return alder_error_set(err, EINVAL, "%s: field '%s': must not be empty", src, field);
        return dup_str(v, ret, err);
}

/* A path setting: given as is ("" disables what it names), or ROOT + default (none when def is NULL). */
static int get_path(const json_t *doc, const char *src, const char *field, const char *root, const char *def,
                    char **ret, alder_error **err)
{
        const char *v = NULL;
        int r = alder_json_get_string(doc, src, field, ALDER_JSON_OPTIONAL, &v, err);
        if (r < 0)
                return r;
        if (v && v[0] != '/' && v[0])
                return alder_error_set(err, EINVAL, "%s: field '%s': expected an absolute path, got '%s'", src, field,
                                       v);
        if (v)
                return dup_str(v, ret, err);
        if (!def)
                return 0;
        if (asprintf(ret, "%s%s", root, def) < 0) {
                *ret = NULL;
                return oom(err);
        }
        return 0;
}

/* An optional object: its keys are checked when it is there. */
static int check_section(const json_t *doc, const char *src, const char *field, const char *const *keys,
                         alder_error **err)
{
        json_t *sec = NULL;
        int r = alder_json_get_object(doc, src, field, ALDER_JSON_OPTIONAL, &sec, err);
        if (r < 0 || !sec)
                return r;
        return alder_json_check_keys(doc, src, field, keys, err);
}

/*
 * coap://host[:port] or coaps://host[:port]; host a name, an IPv4 address or
 * [IPv6]. LwM2M server URIs carry no path or query (Core TS 1.1 §E.1, Security /0/0/0).
 */
static int parse_uri(struct dmc_server_config *s, const char *src, alder_error **err)
{
        const char *u = s->uri, *p;
        bool secure;
        if (strncmp(u, "coap://", 7) == 0) {
                secure = false;
                p = u + 7;
        } else if (strncmp(u, "coaps://", 8) == 0) {
                secure = true;
                p = u + 8;
        } else {
                const char *colon = strstr(u, "://");
                return alder_error_set(
                        err, EINVAL,
                        "%s: field 'server.uri': '%s': scheme %s%.*s%s not supported (coap:// or coaps://)", src, u,
                        colon ? "'" : "", colon ? (int) (colon - u) : 0, u, colon ? "'" : "missing,");
        }
        const char *host = p, *host_end;
        if (*p == '[') {
                host = p + 1;
                host_end = strchr(host, ']');
                if (!host_end)
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'server.uri': '%s': unterminated '[' of an IPv6 address", src,
                                               u);
                p = host_end + 1;
        } else {
                host_end = p + strcspn(p, ":/?#");
                p = host_end;
        }
        if (host_end == host)
                return alder_error_set(err, EINVAL, "%s: field 'server.uri': '%s': no host", src, u);
        long port = secure ? 5684 : 5683;
        if (*p == ':') {
                char *end;
                errno = 0;
                port = strtol(p + 1, &end, 10);
                if (end == p + 1 || !isdigit((unsigned char) p[1]) || errno || port < 1 || port > 65535)
                        return alder_error_set(err, EINVAL, "%s: field 'server.uri': '%s': bad port", src, u);
                p = end;
        }
        if (*p == '/' && p[1] == '\0')
                p++;
        if (*p)
                return alder_error_set(err, EINVAL,
                                       "%s: field 'server.uri': '%s': unexpected '%s' after the host and port (an "
                                       "LwM2M server URI has no path or query)",
                                       src, u, p);
        if (!(s->host = strndup(host, (size_t) (host_end - host))))
                return oom(err);
        s->port = (uint16_t) port;
        s->security = secure ? DMC_SEC_PSK : DMC_SEC_NOSEC; /* refined by the credentials */
        return 0;
}

static int parse_psk_key(struct dmc_server_config *s, const char *src, const char *hex, alder_error **err)
{
        size_t n = strlen(hex);
        if (n == 0 || n % 2 || n / 2 > DMC_PSK_KEY_MAX)
                return alder_error_set(
                        err, EINVAL,
                        "%s: field 'server.psk_key': expected 2 to %u hex digits (an even number), got %zu characters",
                        src, 2 * DMC_PSK_KEY_MAX, n);
        if (alder_hex_decode(hex, s->psk_key, n / 2) < 0)
                return alder_error_set(err, EINVAL, "%s: field 'server.psk_key': not hex", src);
        s->psk_key_len = n / 2;
        return 0;
}

/* Security mode from the credentials given, which must match the scheme. */
static int load_credentials(struct dmc_server_config *s, const json_t *doc, const char *src, alder_error **err)
{
        const char *key_hex = NULL;
        int r = get_str(doc, src, "server.psk_identity", NULL, &s->psk_identity, err);
        if (r == 0)
                r = alder_json_get_string(doc, src, "server.psk_key", ALDER_JSON_OPTIONAL, &key_hex, err);
        if (r == 0 && key_hex)
                r = parse_psk_key(s, src, key_hex, err);
        const struct {
                const char *field;
                char **dst;
        } files[] = {
                {"server.certificate", &s->certificate},
                {"server.private_key", &s->private_key},
                {"server.ca", &s->ca},
        };
        for (size_t i = 0; r == 0 && i < ALDER_ARRAY_SIZE(files); i++) {
                r = get_path(doc, src, files[i].field, "", NULL, files[i].dst, err);
                if (r == 0 && *files[i].dst && !**files[i].dst)
                        r = alder_error_set(err, EINVAL, "%s: field '%s': must not be empty", src, files[i].field);
        }
        if (r < 0)
                return r;
        bool psk = s->psk_identity || key_hex, cert = s->certificate || s->private_key || s->ca;
        if (s->security == DMC_SEC_NOSEC) {
                if (psk || cert)
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'server.%s': credentials for a coap:// server would not be "
                                               "used (use coaps://)",
                                               src,
                                               psk ? (s->psk_identity ? "psk_identity" : "psk_key") : "certificate");
                return 0;
        }
        if (psk && cert)
                return alder_error_set(err, EINVAL,
                                       "%s: field 'server': both a PSK (psk_identity, psk_key) and a certificate "
                                       "(certificate, private_key, ca): choose one",
                                       src);
        if (psk) {
                if (!s->psk_identity || !key_hex)
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'server.%s': missing (a PSK needs psk_identity and psk_key)",
                                               src, s->psk_identity ? "psk_key" : "psk_identity");
                s->security = DMC_SEC_PSK;
                return 0;
        }
        if (cert) {
                const char *missing = !s->certificate   ? "certificate"
                                      : !s->private_key ? "private_key"
                                      : !s->ca          ? "ca"
                                                        : NULL;
                if (missing)
                        return alder_error_set(
                                err, EINVAL,
                                "%s: field 'server.%s': missing (X.509 needs certificate, private_key and ca)", src,
                                missing);
                for (size_t i = 0; i < ALDER_ARRAY_SIZE(files); i++)
                        if (access(*files[i].dst, R_OK) < 0)
                                return alder_error_sys(err, errno, "%s: field '%s': '%s'", src, files[i].field,
                                                       *files[i].dst);
                s->security = DMC_SEC_CERT;
                return 0;
        }
        return alder_error_set(err, EINVAL,
                               "%s: field 'server': a coaps:// server needs credentials: psk_identity + psk_key, or "
                               "certificate + private_key + ca",
                               src);
}

static int load_server(struct dmc_config *cfg, const json_t *doc, const char *src, alder_error **err)
{
        static const char *const keys[] = {"uri",          "short_server_id",
                                           "lifetime",     "binding",
                                           "queue_mode",   "awake_time_ms",
                                           "default_pmin", "default_pmax",
                                           "psk_identity", "psk_key",
                                           "certificate",  "private_key",
                                           "ca",           NULL};
        struct dmc_server_config *s = &cfg->server;
        int r = alder_json_check_keys(doc, src, "server", keys, err);
        const char *uri = NULL;
        if (r == 0)
                r = alder_json_get_string(doc, src, "server.uri", 0, &uri, err);
        if (r == 0)
                r = dup_str(uri, &s->uri, err);
        if (r == 0)
                r = parse_uri(s, src, err);
        int64_t ssid = 1;
        s->lifetime_s = 300;
        s->awake_time_ms = 93000; /* MAX_TRANSMIT_WAIT, the spec's default */
        s->default_pmin_s = 0;
        s->default_pmax_s = 0;
        const struct {
                const char *field;
                int64_t min, max, *dst;
        } ints[] = {
                {"server.short_server_id", 1, 65534, &ssid},
                {"server.lifetime", 1, 0x7fffffff, &s->lifetime_s},
                {"server.awake_time_ms", 0, 86400000, &s->awake_time_ms},
                {"server.default_pmin", 0, 0x7fffffff, &s->default_pmin_s},
                {"server.default_pmax", 0, 0x7fffffff, &s->default_pmax_s},
        };
        for (size_t i = 0; r == 0 && i < ALDER_ARRAY_SIZE(ints); i++)
                r = alder_json_get_int_range(doc, src, ints[i].field, ALDER_JSON_OPTIONAL, ints[i].min, ints[i].max,
                                             ints[i].dst, err);
        s->short_id = (uint16_t) ssid;
        if (r == 0)
                r = get_str(doc, src, "server.binding", "U", &s->binding, err);
        if (r == 0 && strcmp(s->binding, "U") != 0)
                r = alder_error_set(err, EINVAL,
                                    "%s: field 'server.binding': \"%s\" is not supported: alder-dmc binds over UDP "
                                    "only (\"U\"); queue mode is 'queue_mode'",
                                    src, s->binding);
        if (r == 0)
                r = alder_json_get_bool(doc, src, "server.queue_mode", ALDER_JSON_OPTIONAL, &s->queue_mode, err);
        if (r == 0)
                r = load_credentials(s, doc, src, err);
        return r;
}

static int load_device(struct dmc_config *cfg, const json_t *doc, const char *src, alder_error **err)
{
        static const char *const keys[] = {"manufacturer",
                                           "model",
                                           "serial_number",
                                           "hardware_version",
                                           "software_version",
                                           "firmware_version",
                                           "device_type",
                                           "reboot_command",
                                           "factory_reset_command",
                                           "command_timeout_ms",
                                           NULL};
        struct dmc_device_config *d = &cfg->device;
        int r = check_section(doc, src, "device", keys, err);
        const struct {
                const char *field;
                char **dst;
        } strs[] = {
                {"device.manufacturer", &d->manufacturer},
                {"device.model", &d->model},
                {"device.serial_number", &d->serial},
                {"device.hardware_version", &d->hardware_version},
                {"device.software_version", &d->software_version},
                {"device.firmware_version", &d->firmware_version},
                {"device.device_type", &d->device_type},
        };
        for (size_t i = 0; r == 0 && i < ALDER_ARRAY_SIZE(strs); i++)
                r = get_str(doc, src, strs[i].field, NULL, strs[i].dst, err);
        const struct {
                const char *field;
                char ***dst;
        } cmds[] = {
                {"device.reboot_command", &d->reboot_command},
                {"device.factory_reset_command", &d->factory_reset_command},
        };
        for (size_t i = 0; r == 0 && i < ALDER_ARRAY_SIZE(cmds); i++) {
                r = alder_json_get_strv(doc, src, cmds[i].field, ALDER_JSON_OPTIONAL, ARGV_MAX, cmds[i].dst, err);
                if (r == 0 && *cmds[i].dst && (!(*cmds[i].dst)[0] || (*cmds[i].dst)[0][0] != '/'))
                        r = alder_error_set(err, EINVAL, "%s: field '%s': expected [\"/absolute/program\", args...]",
                                            src, cmds[i].field);
        }
        d->command_timeout_ms = 30000;
        if (r == 0)
                r = alder_json_get_int_range(doc, src, "device.command_timeout_ms", ALDER_JSON_OPTIONAL, 100, 3600000,
                                             &d->command_timeout_ms, err);
        return r;
}

/* Endpoint names go into a query string: keep them to what needs no escaping. */
static int check_endpoint(const char *ep, const char *src, alder_error **err)
{
        size_t n = strlen(ep);
        if (n == 0 || n > 128)
                return alder_error_set(err, EINVAL, "%s: field 'endpoint': 1 to 128 characters, got %zu", src, n);
        for (const char *c = ep; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("-._:~", *c))
                        return alder_error_set(
                                err, EINVAL,
                                "%s: field 'endpoint': '%s': character '%c' not allowed (letters, digits and -._:~)",
                                src, ep, *c);
        return 0;
}

/* Default endpoint name: "alder-" + the machine id, the device's stable identity. */
static int default_endpoint(struct dmc_config *cfg, alder_error **err)
{
        _cleanup_free_ char *path = NULL, *id = NULL;
        if (asprintf(&path, "%s/etc/machine-id", cfg->root) < 0)
                return oom(err);
        size_t len;
        int r = alder_read_file(path, 4096, &id, &len, err);
        if (r < 0)
                return alder_error_wrap(err,
                                        "%s: field 'endpoint' is not set and there is no machine id to derive it from",
                                        cfg->config_path);
        id[strcspn(id, "\n")] = '\0';
        if (!*id)
                return alder_error_set(err, EINVAL, "%s: field 'endpoint' is not set and '%s' is empty",
                                       cfg->config_path, path);
        if (asprintf(&cfg->endpoint, "alder-%s", id) < 0) {
                cfg->endpoint = NULL;
                return oom(err);
        }
        return check_endpoint(cfg->endpoint, path, err);
}

static int load_misc(struct dmc_config *cfg, const json_t *doc, const char *src, alder_error **err)
{
        static const char *const retry_keys[] = {"initial_ms", "max_ms", NULL};
        static const char *const coap_keys[] = {"ack_timeout_ms", "max_retransmit", NULL};
        static const char *const firmware_keys[] = {"ca_file", "max_bytes", NULL};
        int r = check_section(doc, src, "retry", retry_keys, err);
        if (r == 0)
                r = check_section(doc, src, "coap", coap_keys, err);
        if (r == 0)
                r = check_section(doc, src, "firmware", firmware_keys, err);
        cfg->firmware_max_bytes = 1LL << 30;
        cfg->retry_initial_ms = 1000;
        cfg->retry_max_ms = 300000;
        cfg->ack_timeout_ms = 2000; /* RFC 7252 ACK_TIMEOUT */
        cfg->max_retransmit = 4;    /* RFC 7252 MAX_RETRANSMIT */
        cfg->observe_poll_ms = 1000;
        cfg->apps_poll_ms = 5000;
        const struct {
                const char *field;
                int64_t min, max, *dst;
        } ints[] = {
                {"retry.initial_ms", 10, 3600000, &cfg->retry_initial_ms},
                {"retry.max_ms", 10, 86400000, &cfg->retry_max_ms},
                {"coap.ack_timeout_ms", 100, 60000, &cfg->ack_timeout_ms},
                {"coap.max_retransmit", 0, 10, &cfg->max_retransmit},
                {"observe_poll_ms", 50, 3600000, &cfg->observe_poll_ms},
                {"apps_poll_ms", 100, 3600000, &cfg->apps_poll_ms},
                {"firmware.max_bytes", 1024, 1LL << 40, &cfg->firmware_max_bytes},
        };
        for (size_t i = 0; r == 0 && i < ALDER_ARRAY_SIZE(ints); i++)
                r = alder_json_get_int_range(doc, src, ints[i].field, ALDER_JSON_OPTIONAL, ints[i].min, ints[i].max,
                                             ints[i].dst, err);
        if (r == 0 && cfg->retry_max_ms < cfg->retry_initial_ms)
                r = alder_error_set(err, EINVAL, "%s: field 'retry.max_ms': %lld is below retry.initial_ms (%lld)", src,
                                    (long long) cfg->retry_max_ms, (long long) cfg->retry_initial_ms);
        const struct {
                const char *field, *def;
                char **dst;
        } paths[] = {
                {"appd_socket", "/run/alder/appd.sock", &cfg->appd_socket},
                {"updated_socket", "/run/alder/updated.sock", &cfg->updated_socket},
                {"data_dir", "/var/lib/alder/dmc", &cfg->data_dir},
                {"firmware.ca_file", NULL, &cfg->firmware_ca_file},
        };
        for (size_t i = 0; r == 0 && i < ALDER_ARRAY_SIZE(paths); i++)
                r = get_path(doc, src, paths[i].field, cfg->root, paths[i].def, paths[i].dst, err);
        if (r == 0)
                r = get_str(doc, src, "lwm2m_version", "1.1", &cfg->lwm2m_version, err);
        if (r == 0 && strcmp(cfg->lwm2m_version, "1.1") != 0 && strcmp(cfg->lwm2m_version, "1.0") != 0)
                r = alder_error_set(err, EINVAL, "%s: field 'lwm2m_version': \"1.1\" or \"1.0\", not \"%s\"", src,
                                    cfg->lwm2m_version);
        return r;
}

int dmc_config_load(struct dmc_config *cfg, const char *root, const char *path, alder_error **err)
{
        static const char *const keys[] = {"endpoint",       "lwm2m_version", "server", "device", "appd_socket",
                                           "updated_socket", "data_dir",      "retry",  "coap",   "observe_poll_ms",
                                           "apps_poll_ms",   "firmware",      NULL};
        *cfg = (struct dmc_config){0};
        int r = dup_str(root ? root : "", &cfg->root, err);
        if (r == 0)
                r = path ? dup_str(path, &cfg->config_path, err)
                         : (asprintf(&cfg->config_path, "%s/config/dmc.json", cfg->root) < 0 ? oom(err) : 0);
        if (r < 0) {
                cfg->config_path = NULL;
                return r;
        }
        const char *src = cfg->config_path;
        _cleanup_json_ json_t *doc = NULL;
        r = alder_json_load_file(src, CONFIG_MAX_SIZE, &doc, err);
        if (r == 0)
                r = alder_json_check_keys(doc, src, NULL, keys, err);
        if (r == 0)
                r = load_server(cfg, doc, src, err);
        if (r == 0)
                r = load_device(cfg, doc, src, err);
        if (r == 0)
                r = load_misc(cfg, doc, src, err);
        if (r == 0)
                r = get_str(doc, src, "endpoint", NULL, &cfg->endpoint, err);
        if (r == 0)
                r = cfg->endpoint ? check_endpoint(cfg->endpoint, src, err) : default_endpoint(cfg, err);
        return r;
}

void dmc_config_done(struct dmc_config *cfg)
{
        char **strs[] = {
                &cfg->root,
                &cfg->config_path,
                &cfg->endpoint,
                &cfg->lwm2m_version,
                &cfg->server.uri,
                &cfg->server.host,
                &cfg->server.binding,
                &cfg->server.psk_identity,
                &cfg->server.certificate,
                &cfg->server.private_key,
                &cfg->server.ca,
                &cfg->device.manufacturer,
                &cfg->device.model,
                &cfg->device.serial,
                &cfg->device.hardware_version,
                &cfg->device.software_version,
                &cfg->device.firmware_version,
                &cfg->device.device_type,
                &cfg->appd_socket,
                &cfg->updated_socket,
                &cfg->data_dir,
                &cfg->firmware_ca_file,
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(strs); i++) {
                free(*strs[i]);
                *strs[i] = NULL;
        }
        alder_strv_free(cfg->device.reboot_command);
        alder_strv_free(cfg->device.factory_reset_command);
        cfg->device.reboot_command = cfg->device.factory_reset_command = NULL;
        explicit_bzero(cfg->server.psk_key, sizeof(cfg->server.psk_key));
        cfg->server.psk_key_len = 0;
}

static bool str_eq(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool dmc_config_server_changed(const struct dmc_config *a, const struct dmc_config *b)
{
        const struct dmc_server_config *x = &a->server, *y = &b->server;
        return !str_eq(a->endpoint, b->endpoint) || !str_eq(a->lwm2m_version, b->lwm2m_version) ||
               !str_eq(x->host, y->host) || x->port != y->port || x->security != y->security ||
               x->short_id != y->short_id || x->queue_mode != y->queue_mode ||
               !str_eq(x->psk_identity, y->psk_identity) || x->psk_key_len != y->psk_key_len ||
               memcmp(x->psk_key, y->psk_key, x->psk_key_len) != 0 || !str_eq(x->certificate, y->certificate) ||
               !str_eq(x->private_key, y->private_key) || !str_eq(x->ca, y->ca) ||
               a->retry_initial_ms != b->retry_initial_ms || a->ack_timeout_ms != b->ack_timeout_ms ||
               a->max_retransmit != b->max_retransmit;
}
