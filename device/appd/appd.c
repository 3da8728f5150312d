/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "appd.h"

#define SOURCE "params"

static struct appd *appd_of(alder_ipc_call *call)
{
        return alder_ipc_call_userdata(call);
}

/* app.install {"package": "/abs/path.alpkg"} -> {"name", "version", "sequence", "running", "previous_version"} */
static int m_install(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *package;
        int r = alder_json_get_string(params, SOURCE, "package", 0, &package, err);
        return r < 0 ? r : jobs_install(appd_of(call), call, package, false, err);
}

/* app.update {"package"}: as app.install, for an installed app only */
static int m_update(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *package;
        int r = alder_json_get_string(params, SOURCE, "package", 0, &package, err);
        return r < 0 ? r : jobs_install(appd_of(call), call, package, true, err);
}

/* Adds the life-cycle part (state, pid, last exit, update in progress) to an app's entry. */
static void add_state(struct appd *d, json_t *app)
{
        const char *name = json_string_value(json_object_get(app, "name"));
        unit_describe(name ? unit_find(d, name) : NULL, app);
        json_t *update = name ? jobs_describe(d, name) : NULL;
        if (update)
                json_object_set_new(app, "update", update);
}

/* app.list {} -> [{name, version, sequence, ..., previous, state}] */
static int m_list(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        int r = alder_appstore_list(appd_of(call)->store, ret, err);
        size_t i;
        json_t *app;
        if (r == 0)
                json_array_foreach(*ret, i, app) add_state(appd_of(call), app);
        return r;
}

/* app.status {"name"} -> the app's entry of app.list */
static int m_status(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        int r = alder_json_get_string(params, SOURCE, "name", 0, &name, err);
        if (r == 0)
                r = alder_appstore_status(appd_of(call)->store, name, ret, err);
        if (r == 0)
                add_state(appd_of(call), *ret);
        return r;
}

static int name_param(json_t *params, const char **ret, alder_error **err)
{
        return alder_json_get_string(params, SOURCE, "name", 0, ret, err);
}

/* The unit of `name`, refused while an update of it is being health-checked. */
static int idle_unit(struct appd *d, const char *name, struct unit **ret, alder_error **err)
{
        int r = unit_get(d, name, ret, err);
        if (r == 0 && (*ret)->candidate)
                return alder_error_set(err, EBUSY, "app '%s' is being updated: try again when the update is done",
                                       name);
        return r;
}

int unit_stopped_result(struct appd *d, struct unit *u, enum unit_then then, bool keep_data, bool *ret_freed,
                        json_t **ret, alder_error **err)
{
        char name[sizeof(u->name)];
        snprintf(name, sizeof(name), "%s", u->name);
        *ret_freed = false;
        if (then == THEN_RESTART) {
                int r = unit_start(d, u, err);
                if (r == 0)
                        *ret = json_pack("{s:s,s:i}", "name", name, "pid", (int) u->current->pid);
                return r;
        }
        if (then == THEN_REPLY_EXIT) {
                *ret = json_pack("{s:s,s:s}", "name", name, "state", unit_state_name(u->state));
                if (*ret && u->has_exit)
                        json_object_set_new(*ret, "last_exit", unit_exit_json(u));
                return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
        }
        if (then == THEN_REPLY_STOP) {
                *ret = json_pack("{s:s,s:b,s:s}", "name", name, "killed",
                                 u->has_exit && u->last_exit_known && u->last_exit.kind == ALDER_SIGNALED &&
                                         u->last_exit.code == SIGKILL,
                                 "state", unit_state_name(u->state));
                return 0;
        }
        int r = alder_appstore_remove(d->store, name, keep_data, err);
        if (r < 0)
                return r;
        /* Keys and secrets are the app's data: they go with it unless kept (docs/api/appd.md#appremove). */
        _cleanup_error_ alder_error *secd_err = NULL;
        if (appd_secd_remove(d, name, !keep_data, &secd_err) < 0)
                alder_log_error(ALDER_LOG_WARNING, secd_err, ALDER_LOG_FIELDS("APP", name),
                                "removed %s, but alder-secd still has its %s", name,
                                keep_data ? "socket" : "keys and secrets");
        _cleanup_free_ char *log = NULL;
        if (asprintf(&log, "%s/%s.log", d->logs_path, name) >= 0)
                (void) unlink(log);
        unit_free(d, u);
        *ret_freed = true;
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", name), "removed %s%s", name,
                  keep_data ? " (data kept)" : "");
        *ret = json_pack("{s:s,s:b}", "name", name, "data_kept", keep_data);
        if (*ret && secd_err)
                json_object_set_new(*ret, "secure_services_error", json_string(alder_error_message(secd_err)));
        return 0;
}

/* Runs `then` once the app's container has gone: now, or later from its exit. */
static int after_stop(alder_ipc_call *call, const char *name, enum unit_then then, bool keep_data, json_t **ret,
                      alder_error **err)
{
        struct appd *d = appd_of(call);
        struct unit *u;
        int r = idle_unit(d, name, &u, err);
        if (r == 0)
                r = unit_when_stopped(d, u, call, then, keep_data, err);
        if (r != 0)
                return r;
        bool freed;
        return unit_stopped_result(d, u, then, keep_data, &freed, ret, err);
}

/* app.remove {"name", "keep_data": false} -> {"name", "data_kept"} */
static int m_remove(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        bool keep_data = false;
        int r = name_param(params, &name, err);
        if (r == 0)
                r = alder_json_get_bool(params, SOURCE, "keep_data", ALDER_JSON_OPTIONAL, &keep_data, err);
        return r < 0 ? r : after_stop(call, name, THEN_REMOVE, keep_data, ret, err);
}

/* app.start {"name"} -> {"name", "pid"} */
static int m_start(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct appd *d = appd_of(call);
        const char *name;
        struct unit *u;
        int r = name_param(params, &name, err);
        if (r == 0)
                r = idle_unit(d, name, &u, err);
        if (r == 0) {
                u->restarts = 0;
                r = unit_start(d, u, err);
        }
        if (r < 0)
                return r;
        *ret = json_pack("{s:s,s:i}", "name", name, "pid", (int) u->current->pid);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* app.stop {"name", "timeout_ms": from the config} -> {"name", "killed", "state"} */
static int m_stop(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct appd *d = appd_of(call);
        const char *name;
        int64_t timeout_ms = d->set.stop_timeout_ms;
        struct unit *u;
        int r = name_param(params, &name, err);
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "timeout_ms", ALDER_JSON_OPTIONAL, 0, 600000, &timeout_ms,
                                             err);
        if (r == 0)
                r = idle_unit(d, name, &u, err);
        if (r < 0)
                return r;
        if (!u->current) {
                bool pending = u->restart_at_ms != 0;
                u->restart_at_ms = 0; /* a stop also cancels a scheduled restart */
                u->want_running = false;
                if (pending) {
                        u->state = UNIT_STOPPED;
                        *ret = json_pack("{s:s,s:b,s:s}", "name", name, "killed", false, "state", "stopped");
                        return 0;
                }
                return alder_error_set(err, ENOENT, "app '%s' is not running", name);
        }
        u->current->stop_timeout_ms = (unsigned) timeout_ms;
        return after_stop(call, name, THEN_REPLY_STOP, false, ret, err);
}

/* app.wait {"name"} -> {"name", "state", "last_exit"}: once the running instance has exited (now if none runs) */
static int m_wait(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct appd *d = appd_of(call);
        const char *name;
        struct unit *u;
        int r = name_param(params, &name, err);
        if (r == 0)
                r = unit_get(d, name, &u, err);
        if (r == 0)
                r = unit_when_stopped(d, u, call, THEN_REPLY_EXIT, false, err);
        if (r != 0)
                return r;
        bool freed;
        return unit_stopped_result(d, u, THEN_REPLY_EXIT, false, &freed, ret, err);
}

/* app.restart {"name"} -> {"name", "pid"}: stop (if it runs), then start */
static int m_restart(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        int r = name_param(params, &name, err);
        return r < 0 ? r : after_stop(call, name, THEN_RESTART, false, ret, err);
}

/* app.logs {"name", "offset": -1, "max": 65536} -> {"data", "offset", "size"} */
static int m_logs(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *name;
        int64_t offset = -1, max = 64 * 1024;
        int r = name_param(params, &name, err);
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "offset", ALDER_JSON_OPTIONAL, -1, INT64_MAX, &offset,
                                             err);
        /* bounded so that the reply always fits an IPC message */
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "max", ALDER_JSON_OPTIONAL, 1, 256 * 1024, &max, err);
        return r < 0 ? r : appd_read_log(appd_of(call), name, offset, (size_t) max, ret, err);
}

const alder_ipc_method appd_methods[] = {
        {"app.install", m_install}, {"app.update", m_update}, {"app.list", m_list}, {"app.status", m_status},
        {"app.remove", m_remove},   {"app.start", m_start},   {"app.stop", m_stop}, {"app.restart", m_restart},
        {"app.logs", m_logs},       {"app.wait", m_wait},     {NULL, NULL},
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

int appd_need_runtime(struct appd *d, alder_error **err)
{
        if (d->runtime)
                return 0;
        return alder_error_set(err, ENOTSUP, "no OCI runtime: %s", d->runtime_error ? d->runtime_error : "none");
}

/* Without a runtime the store still works; starting apps reports why not. */
static void open_runtime(struct appd *d)
{
        _cleanup_free_ char *state = NULL;
        _cleanup_error_ alder_error *e = NULL;
        if (asprintf(&state, "%s/run/alder/runtime", d->root) < 0)
                return;
        const char *name = d->cfg.runtime ? d->cfg.runtime : d->set.runtime;
        if (name && strcmp(name, "auto") == 0)
                name = NULL;
        if (alder_ocirt_open(name, state, &d->runtime, &e) < 0) {
                d->runtime_error = strdup(alder_error_message(e));
                alder_log_error(ALDER_LOG_WARNING, e, NULL, "no OCI runtime: apps can be installed but not run");
                return;
        }
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("RUNTIME", alder_ocirt_path(d->runtime)), "using %s",
                  alder_ocirt_version(d->runtime));
}

static const char *const settings_keys[] = {"runtime",
                                            "limits",
                                            "core_apps",
                                            "log_max_bytes",
                                            "stop_timeout_ms",
                                            "restart_delay_ms",
                                            "restart_delay_max_ms",
                                            "restart_reset_ms",
                                            "secd_socket",
                                            "logd_socket",
                                            NULL};

static int get_ms(const json_t *doc, const char *source, const char *field, unsigned *ret, alder_error **err)
{
        int64_t v = *ret;
        int r = alder_json_get_int_range(doc, source, field, ALDER_JSON_OPTIONAL, 0, 24 * 3600 * 1000, &v, err);
        *ret = (unsigned) v;
        return r;
}

/* An optional absolute path of a socket. */
static int get_socket(const json_t *doc, const char *src, const char *field, char **ret, alder_error **err)
{
        const char *path = NULL;
        int r = alder_json_get_string(doc, src, field, ALDER_JSON_OPTIONAL, &path, err);
        if (r < 0 || !path)
                return r;
        if (path[0] != '/')
                return alder_error_set(err, EINVAL, "%s: field '%s': '%s' is not an absolute path", src, field, path);
        return (*ret = strdup(path)) ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* The config file; a missing file means every default. */
static int load_settings(struct appd *d, alder_error **err)
{
        d->set = (struct appd_settings){.limits = true,
                                        .log_max_bytes = 1024 * 1024,
                                        .stop_timeout_ms = 10000,
                                        .restart_delay_ms = 1000,
                                        .restart_delay_max_ms = 60000,
                                        .restart_reset_ms = 60000};
        if (access(d->config_path, F_OK) < 0 && errno == ENOENT)
                return 0;
        const char *src = d->config_path, *runtime = NULL;
        _cleanup_json_ json_t *doc = NULL;
        int64_t log_max = (int64_t) d->set.log_max_bytes;
        int r = alder_json_load_file(src, 64 * 1024, &doc, err);
        if (r == 0)
                r = alder_json_check_keys(doc, src, NULL, settings_keys, err);
        if (r == 0)
                r = alder_json_get_string(doc, src, "runtime", ALDER_JSON_OPTIONAL, &runtime, err);
        if (r == 0 && runtime && strcmp(runtime, "crun") != 0 && strcmp(runtime, "runc") != 0 &&
            strcmp(runtime, "auto") != 0)
                r = alder_error_set(err, EINVAL, "%s: field 'runtime': '%s' is not one of crun, runc, auto", src,
                                    runtime);
        if (r == 0 && runtime && !(d->set.runtime = strdup(runtime)))
                r = alder_error_set(err, ENOMEM, "out of memory");
        if (r == 0)
                r = alder_json_get_bool(doc, src, "limits", ALDER_JSON_OPTIONAL, &d->set.limits, err);
        if (r == 0)
                r = alder_json_get_strv(doc, src, "core_apps", ALDER_JSON_OPTIONAL, 256, &d->set.core_apps, err);
        for (size_t i = 0; r == 0 && d->set.core_apps && d->set.core_apps[i]; i++)
                r = alder_app_name_check(d->set.core_apps[i], err) < 0
                            ? alder_error_wrap(err, "%s: field 'core_apps[%zu]'", src, i)
                            : 0;
        if (r == 0)
                r = alder_json_get_int_range(doc, src, "log_max_bytes", ALDER_JSON_OPTIONAL, 4096, INT64_MAX / 2,
                                             &log_max, err);
        d->set.log_max_bytes = (uint64_t) log_max;
        if (r == 0)
                r = get_ms(doc, src, "stop_timeout_ms", &d->set.stop_timeout_ms, err);
        if (r == 0)
                r = get_ms(doc, src, "restart_delay_ms", &d->set.restart_delay_ms, err);
        if (r == 0)
                r = get_ms(doc, src, "restart_delay_max_ms", &d->set.restart_delay_max_ms, err);
        if (r == 0)
                r = get_ms(doc, src, "restart_reset_ms", &d->set.restart_reset_ms, err);
        if (r == 0)
                r = get_socket(doc, src, "secd_socket", &d->set.secd_socket, err);
        if (r == 0)
                r = get_socket(doc, src, "logd_socket", &d->set.logd_socket, err);
        return r;
}

/* secd keeps the folder of each app's socket in apps/ beside its admin socket. */
static int secd_apps_dir(struct appd *d, alder_error **err)
{
        _cleanup_free_ char *dir = NULL;
        int r = alder_path_parent(d->secd_socket, &dir, err);
        if (r == 0 && asprintf(&d->secd_apps_dir, "%s/apps", dir) < 0)
                r = alder_error_set(err, ENOMEM, "out of memory");
        return r;
}

/* alder-app-stage lives beside alder-appd (installed or in the build tree). */
static int find_stage_helper(struct appd *d, alder_error **err)
{
        if (d->cfg.stage_helper)
                return default_path(d->cfg.stage_helper, "", "", &d->stage_helper, err);
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                return alder_error_sys(err, errno, "readlink /proc/self/exe");
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        *slash = '\0';
        if (asprintf(&d->stage_helper, "%s/alder-app-stage", self) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (access(d->stage_helper, X_OK) < 0)
                return alder_error_sys(err, errno, "the package worker '%s'", d->stage_helper);
        return 0;
}

static int make_paths(struct appd *d, const struct appd_config *cfg, alder_error **err)
{
        int r = default_path(cfg->root, "", "", &d->root, err);
        if (r == 0)
                r = default_path(cfg->config, d->root, "/config/appd.json", &d->config_path, err);
        if (r == 0)
                r = default_path(cfg->store, d->root, "/var/lib/alder/apps", &d->store_path, err);
        if (r == 0)
                r = default_path(cfg->trust, d->root, "/config/trust", &d->trust_path, err);
        if (r == 0)
                r = default_path(cfg->socket, d->root, "/run/alder/appd.sock", &d->socket_path, err);
        if (r == 0)
                r = default_path(NULL, d->root, "/run/alder/bundles", &d->bundles_path, err);
        if (r == 0)
                r = default_path(NULL, d->root, "/run/alder/output", &d->fifos_path, err);
        if (r == 0)
                r = default_path(NULL, d->root, "/var/log/alder/apps", &d->logs_path, err);
        return r;
}

int appd_init(struct appd *d, const struct appd_config *cfg, alder_error **err)
{
        *d = (struct appd){.cfg = *cfg, .signal_fd = -1, .logd_fd = -1};
        int r = make_paths(d, cfg, err);
        if (r == 0)
                r = load_settings(d, err);
        if (r == 0 && cfg->limits >= 0)
                d->set.limits = cfg->limits;
        if (r == 0)
                r = default_path(d->set.secd_socket, d->root, "/run/alder/secd/admin.sock", &d->secd_socket, err);
        if (r == 0)
                r = secd_apps_dir(d, err);
        if (r == 0)
                r = default_path(d->set.logd_socket, d->root, "/run/alder/log.sock", &d->logd_socket, err);
        if (r == 0)
                r = find_stage_helper(d, err);
        if (r == 0)
                r = alder_mkdir_p(d->store_path, 0755, err);
        if (r == 0)
                r = alder_mkdir_p(d->bundles_path, 0711, err);
        if (r == 0)
                r = alder_mkdir_p(d->fifos_path, 0700, err);
        if (r == 0)
                r = alder_mkdir_p(d->logs_path, 0750, err);
        if (r == 0)
                open_runtime(d);
        if (r == 0)
                r = alder_appstore_open(d->store_path, &d->store, err);
        if (r == 0)
                r = make_parent(d->socket_path, err);
        alder_ipc_server_options opts = {.name = "alder-appd", .socket_mode = 0600};
        if (r == 0)
                r = alder_ipc_server_new(d->socket_path, appd_methods, d, &opts, &d->server, err);
        return r;
}

void appd_done(struct appd *d)
{
        jobs_free(d);
        deletes_finish(d);
        while (d->units)
                unit_free(d, d->units);
        /* containers keep running: the next appd adopts them */
        while (d->instances) {
                applog_read(d, d->instances, &d->instances->out);
                applog_read(d, d->instances, &d->instances->err);
                alder_closep(&d->instances->out.fd);
                alder_closep(&d->instances->err.fd);
                alder_closep(&d->instances->pidfd);
                instance_free(d, d->instances);
        }
        alder_ipc_server_free(d->server);
        alder_ocirt_free(d->runtime);
        alder_appstore_close(d->store);
        alder_closep(&d->signal_fd);
        alder_closep(&d->logd_fd);
        alder_strv_free(d->set.core_apps);
        char *strings[] = {d->runtime_error, d->set.runtime,     d->root,        d->config_path,
                           d->store_path,    d->trust_path,      d->socket_path, d->stage_helper,
                           d->bundles_path,  d->fifos_path,      d->logs_path,   d->secd_socket,
                           d->secd_apps_dir, d->set.secd_socket, d->logd_socket, d->set.logd_socket};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(strings); i++)
                free(strings[i]);
        *d = (struct appd){.signal_fd = -1, .logd_fd = -1};
}
