/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "appd.h"

#define SOURCE "params"

static struct appd *appd_of(alder_ipc_call *call)
{
        return alder_ipc_call_userdata(call);
}

static alder_alpkg_expect expect_of(const struct appd *d)
{
        return (alder_alpkg_expect){.vendor_domain = d->cfg.vendor,
                                    .arch = d->cfg.arch ? d->cfg.arch : alder_arch_native()};
}

/* app.install {"package": "/abs/path.alpkg"} -> {"name", "version", "sequence"} */
static int m_install(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct appd *d = appd_of(call);
        const char *package;
        int r = alder_json_get_string(params, SOURCE, "package", 0, &package, err);
        if (r < 0)
                return r;
        if (package[0] != '/')
                return alder_error_set(err, EINVAL, "%s: field 'package': '%s' is not an absolute path", SOURCE,
                                       package);
        alder_alpkg_expect expect = expect_of(d);
        alder_appstore_staged staged = {0};
        r = alder_appstore_stage(d->store, package, d->trust, &expect, &staged, err);
        if (r == 0) {
                r = alder_appstore_commit(d->store, &staged, err);
                _cleanup_error_ alder_error *e2 = NULL;
                if (r < 0 && alder_appstore_discard(d->store, &staged, &e2) < 0)
                        alder_log_error(ALDER_LOG_WARNING, e2, NULL, "discard the staged version");
        }
        if (r < 0) {
                alder_log_error(ALDER_LOG_ERR, *err, ALDER_LOG_FIELDS("PACKAGE", package), "install failed");
                alder_appstore_staged_clear(&staged);
                return r;
        }
        char seq[32];
        snprintf(seq, sizeof(seq), "%llu", (unsigned long long) staged.sequence);
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", staged.name, "VERSION", staged.version, "SEQUENCE", seq),
                  "installed %s %s", staged.name, staged.version);
        *ret = json_pack("{s:s,s:s,s:I}", "name", staged.name, "version", staged.version, "sequence",
                         (json_int_t) staged.sequence);
        alder_appstore_staged_clear(&staged);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* app.list {} -> [{name, version, sequence, ..., previous}] */
static int m_list(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        return alder_appstore_list(appd_of(call)->store, ret, err);
}

/* Adds "state" (and "pid" while running) from the OCI runtime to an app's entry. */
static void add_state(struct appd *d, const char *name, json_t *app)
{
        alder_ocirt_container c;
        bool known = appd_app_state(d, name, &c, NULL) == 0;
        json_object_set_new(app, "state", json_string(known ? alder_ocirt_status_name(c.status) : "not running"));
        if (known && c.pid > 0)
                json_object_set_new(app, "pid", json_integer(c.pid));
}

/* app.status {"name"} -> the app's entry of app.list, with its container state */
static int m_status(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        int r = alder_json_get_string(params, SOURCE, "name", 0, &name, err);
        if (r == 0)
                r = alder_appstore_status(appd_of(call)->store, name, ret, err);
        if (r == 0)
                add_state(appd_of(call), name, *ret);
        return r;
}

/* app.remove {"name", "keep_data": false} -> {"name"} */
static int m_remove(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        bool keep_data = false;
        int r = alder_json_get_string(params, SOURCE, "name", 0, &name, err);
        if (r == 0)
                r = alder_json_get_bool(params, SOURCE, "keep_data", ALDER_JSON_OPTIONAL, &keep_data, err);
        bool killed;
        if (r == 0 && appd_stop_app(appd_of(call), name, 10000, &killed, NULL) == 0)
                alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", name), "stopped %s for removal", name);
        if (r == 0)
                r = alder_appstore_remove(appd_of(call)->store, name, keep_data, err);
        if (r < 0)
                return r;
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", name), "removed %s%s", name,
                  keep_data ? " (data kept)" : "");
        *ret = json_pack("{s:s,s:b}", "name", name, "data_kept", keep_data);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* app.start {"name"} -> {"name", "pid"} */
static int m_start(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        pid_t pid = 0;
        int r = alder_json_get_string(params, SOURCE, "name", 0, &name, err);
        if (r == 0)
                r = appd_start_app(appd_of(call), name, &pid, err);
        if (r < 0)
                return r;
        char pid_text[16];
        snprintf(pid_text, sizeof(pid_text), "%d", (int) pid);
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", name, "PID", pid_text), "started %s", name);
        *ret = json_pack("{s:s,s:i}", "name", name, "pid", (int) pid);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* app.stop {"name", "timeout_ms": 10000} -> {"name", "killed"} */
static int m_stop(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        int64_t timeout_ms = 10000;
        bool killed = false;
        int r = alder_json_get_string(params, SOURCE, "name", 0, &name, err);
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "timeout_ms", ALDER_JSON_OPTIONAL, 0, 600000, &timeout_ms,
                                             err);
        if (r == 0)
                r = appd_stop_app(appd_of(call), name, (long) timeout_ms, &killed, err);
        if (r < 0)
                return r;
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", name), "stopped %s%s", name,
                  killed ? " (killed after the timeout)" : "");
        *ret = json_pack("{s:s,s:b}", "name", name, "killed", killed);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* app.logs {"name", "offset": -1, "max": 65536} -> {"data", "offset", "size"} */
static int m_logs(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        int64_t offset = -1, max = 64 * 1024;
        int r = alder_json_get_string(params, SOURCE, "name", 0, &name, err);
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "offset", ALDER_JSON_OPTIONAL, -1, INT64_MAX, &offset,
                                             err);
        /* bounded so that the reply always fits an IPC message */
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "max", ALDER_JSON_OPTIONAL, 1, 256 * 1024, &max, err);
        return r < 0 ? r : appd_read_log(appd_of(call), name, offset, (size_t) max, ret, err);
}

const alder_ipc_method appd_methods[] = {
        {"app.logs", m_logs}, {"app.start", m_start},   {"app.stop", m_stop},     {"app.install", m_install},
        {"app.list", m_list}, {"app.status", m_status}, {"app.remove", m_remove}, {NULL, NULL},
};

static int default_path(const char *given, const char *root, const char *rel, char **ret, alder_error **err)
{
        int n = given ? asprintf(ret, "%s", given) : asprintf(ret, "%s%s", root, rel);
        return n < 0 ? alder_error_set(err, ENOMEM, "out of memory") : 0;
}

/* mkdir -p of the directory that will hold `path`. */
static int make_parent(const char *path, alder_error **err)
{
        _cleanup_free_ char *dir = NULL;
        int r = alder_path_parent(path, &dir, err);
        return r < 0 ? r : alder_mkdir_p(dir, 0755, err);
}

/* Without a runtime the store still works; starting apps reports why not. */
static void open_runtime(struct appd *d, const char *root)
{
        _cleanup_free_ char *state = NULL;
        _cleanup_error_ alder_error *e = NULL;
        if (asprintf(&state, "%s/run/alder/runtime", root) < 0)
                return;
        if (alder_ocirt_open(d->cfg.runtime, state, &d->runtime, &e) < 0) {
                d->runtime_error = strdup(alder_error_message(e));
                alder_log_error(ALDER_LOG_WARNING, e, NULL, "no OCI runtime: apps can be installed but not run");
                return;
        }
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("RUNTIME", alder_ocirt_path(d->runtime)), "using %s",
                  alder_ocirt_version(d->runtime));
}

int appd_init(struct appd *d, const struct appd_config *cfg, alder_error **err)
{
        *d = (struct appd){.cfg = *cfg};
        const char *root = cfg->root ? cfg->root : "";
        int r = default_path(cfg->store, root, "/var/lib/alder/apps", &d->store_path, err);
        if (r == 0)
                r = default_path(cfg->trust, root, "/config/trust", &d->trust_path, err);
        if (r == 0)
                r = default_path(cfg->socket, root, "/run/alder/appd.sock", &d->socket_path, err);
        if (r == 0)
                r = default_path(NULL, root, "/run/alder/bundles", &d->bundles_path, err);
        if (r == 0)
                r = default_path(NULL, root, "/var/log/alder/apps", &d->logs_path, err);
        if (r == 0)
                r = alder_mkdir_p(d->store_path, 0755, err);
        if (r == 0)
                r = alder_mkdir_p(d->bundles_path, 0711, err);
        if (r == 0)
                r = alder_mkdir_p(d->logs_path, 0750, err);
        if (r == 0)
                open_runtime(d, root);
        if (r == 0)
                r = alder_appstore_open(d->store_path, &d->store, err);
        if (r == 0)
                r = alder_trust_store_load_dir(d->trust_path, &d->trust, err);
        if (r == 0)
                r = make_parent(d->socket_path, err);
        alder_ipc_server_options opts = {.name = "alder-appd", .socket_mode = 0600};
        if (r == 0)
                r = alder_ipc_server_new(d->socket_path, appd_methods, d, &opts, &d->server, err);
        return r;
}

void appd_done(struct appd *d)
{
        alder_ipc_server_free(d->server);
        alder_trust_store_free(d->trust);
        alder_ocirt_free(d->runtime);
        free(d->runtime_error);
        free(d->bundles_path);
        free(d->logs_path);
        alder_appstore_close(d->store);
        free(d->store_path);
        free(d->trust_path);
        free(d->socket_path);
        *d = (struct appd){0};
}
