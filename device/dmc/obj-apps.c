/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Objects 9 (LwM2M Software Management) and 33900 (Alder App) over
 * alder-appd's socket API (docs/api/appd.md): one instance per installed app,
 * the same instance id in both objects, kept stable across restarts in
 * DATA_DIR/app-instances.json. The app list is asked for every
 * apps_poll_ms and after each operation; when alder-appd does not answer, both
 * objects have no instances and the log says why (once per change).
 *
 * Executes answer 2.04 at once and run after the answer went out (an app.stop
 * waits for the container to go): Activate/Start → app.start, Deactivate/Stop
 * → app.stop, Restart → app.restart, Uninstall → app.remove. Their outcome
 * shows in Update Result / Status Reason (9) and Last Error (33900).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/fileio.h"
#include "alder/ipc.h"
#include "alder/json.h"
#include "alder/log.h"
#include "daemon.h"
#include "objects.h"

#define APPD_TIMEOUT_MS      2000
#define APPD_SLOW_TIMEOUT_MS 30000 /* app.stop waits for the container */
#define MAX_APPS             256

enum {
        SW_PKG_NAME = 0,
        SW_PKG_VERSION = 1,
        SW_INSTALL = 4,
        SW_UNINSTALL = 6,
        SW_UPDATE_STATE = 7,
        SW_UPDATE_RESULT = 9,
        SW_ACTIVATE = 10,
        SW_DEACTIVATE = 11,
        SW_ACTIVATION_STATE = 12,
        SW_STATUS_REASON = 16,
        SW_START = 19,
        SW_STOP = 20,
};

enum {
        APP_NAME = 0,
        APP_VERSION = 1,
        APP_STATE = 2,
        APP_RUNNING_VERSION = 3,
        APP_RESTARTS = 4,
        APP_LAST_EXIT = 5,
        APP_LAST_ERROR = 6,
        APP_LOG_TAIL = 7,
        APP_START = 8,
        APP_STOP = 9,
        APP_RESTART = 10,
};

/* Update State (9/7) and Update Result (9/9) values used here. */
enum { UPDATE_STATE_INSTALLED = 4 };
enum { RESULT_INITIAL = 0, RESULT_INSTALLED = 2, RESULT_UNINSTALL_FAILURE = 59 };

struct app {
        char *name, *version, *state, *running_version, *last_error;
        int64_t restarts, last_exit;
        bool has_exit;
        uint16_t inst;
        int result;   /* Update Result (9/9) */
        char *reason; /* Status Reason (9/16): the last operation's outcome */
};

struct dmc_apps {
        struct dmc *d;
        struct dmc_object *sw, *app;
        struct app *v;
        size_t n;
        json_t *ids; /* name → instance id, persisted */
        char *ids_path;
        int64_t next_refresh_ms;
        int appd_errno; /* last refresh failure (0: alder-appd answered), for log transitions */
};

struct job {
        struct dmc_apps *a;
        char *method, *name;
        const char *what;
};

static void app_clear(struct app *p)
{
        free(p->name);
        free(p->version);
        free(p->state);
        free(p->running_version);
        free(p->last_error);
        free(p->reason);
        *p = (struct app){0};
}

static struct dmc_apps *apps_of(const struct dmc_object *o)
{
        return *(struct dmc_apps **) o->data;
}

static struct app *find_inst(struct dmc_apps *a, uint16_t inst)
{
        for (size_t i = 0; i < a->n; i++)
                if (a->v[i].inst == inst)
                        return &a->v[i];
        return NULL;
}

static struct app *find_name(struct dmc_apps *a, const char *name)
{
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->v[i].name, name) == 0)
                        return &a->v[i];
        return NULL;
}

/* ---- alder-appd --------------------------------------------------------------- */

static int appd_call(struct dmc_apps *a, const char *method, json_t *params, int timeout_ms, json_t **ret,
                     alder_error **err)
{
        _cleanup_ipc_client_ alder_ipc_client *c = NULL;
        int r = alder_ipc_client_connect(a->d->cfg.appd_socket, APPD_TIMEOUT_MS, &c, err);
        if (r < 0)
                return alder_error_wrap(err, "alder-appd at %s", a->d->cfg.appd_socket);
        return alder_ipc_client_call(c, method, params, timeout_ms, ret, err);
}

/* The instance id of app `name`: the remembered one, else the lowest free (remembered from now on). */
static uint16_t instance_for(struct dmc_apps *a, const char *name, bool *changed)
{
        json_t *id = json_object_get(a->ids, name);
        if (json_is_integer(id))
                return (uint16_t) json_integer_value(id);
        uint16_t inst = 0;
        for (bool taken = true; taken; inst++) {
                taken = false;
                const char *k;
                json_t *v;
                json_object_foreach(a->ids, k, v) taken |= json_integer_value(v) == inst;
                if (!taken)
                        break;
        }
        json_object_set_new(a->ids, name, json_integer(inst));
        *changed = true;
        return inst;
}

static char *dup_field(json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s ? strdup(s) : NULL;
}

static void publish(struct dmc_apps *a)
{
        uint16_t ids[MAX_APPS];
        for (size_t i = 0; i < a->n; i++)
                ids[i] = a->v[i].inst;
        _cleanup_error_ alder_error *err = NULL;
        if (dmc_object_set_instances(a->sw, ids, a->n, &err) < 0 ||
            dmc_object_set_instances(a->app, ids, a->n, &err) < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "app instances");
}

/* Replaces the list with alder-appd's app.list answer; operation outcomes of apps still there survive. */
static void take_list(struct dmc_apps *a, json_t *list)
{
        size_t n = ALDER_MIN(json_array_size(list), (size_t) MAX_APPS);
        struct app *v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
                return;
        bool changed = false;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(list, i);
                const char *name = json_string_value(json_object_get(e, "name"));
                if (!name)
                        continue;
                struct app *p = &v[k++];
                p->name = strdup(name);
                p->version = dup_field(e, "version");
                p->state = dup_field(e, "state");
                p->running_version = dup_field(e, "running_version");
                p->last_error = dup_field(e, "last_error");
                p->restarts = json_integer_value(json_object_get(e, "restarts"));
                json_t *ex = json_object_get(e, "last_exit");
                p->has_exit = json_is_integer(json_object_get(ex, "code"));
                p->last_exit = json_integer_value(json_object_get(ex, "code"));
                p->inst = instance_for(a, name, &changed);
                struct app *old = find_name(a, name);
                p->result = old ? old->result : RESULT_INITIAL;
                p->reason = old && old->reason ? strdup(old->reason) : NULL;
        }
        for (size_t i = 0; i < a->n; i++)
                app_clear(&a->v[i]);
        free(a->v);
        a->v = v;
        a->n = k;
        if (changed) {
                _cleanup_error_ alder_error *err = NULL;
                if (alder_mkdir_p(a->d->cfg.data_dir, 0700, &err) < 0 ||
                    alder_json_write_file(a->ids_path, a->ids, 0600, &err) < 0)
                        alder_log_error(ALDER_LOG_WARNING, err, NULL, "app instance ids");
        }
        publish(a);
}

static void refresh(struct dmc_apps *a)
{
        _cleanup_json_ json_t *list = NULL;
        _cleanup_error_ alder_error *err = NULL;
        int r = appd_call(a, "app.list", NULL, APPD_TIMEOUT_MS, &list, &err);
        if (r == 0 && !json_is_array(list))
                r = alder_error_set(&err, EPROTO, "alder-appd: app.list did not answer a list");
        if (r < 0) {
                if (a->appd_errno != -r)
                        alder_log_error(ALDER_LOG_WARNING, err, NULL,
                                        "Software Management (9) and Alder App (33900) have no instances while "
                                        "alder-appd does not answer");
                a->appd_errno = -r;
                for (size_t i = 0; i < a->n; i++)
                        app_clear(&a->v[i]);
                a->n = 0;
                publish(a);
                return;
        }
        if (a->appd_errno)
                alder_log_info("alder-appd answers again: %zu apps", json_array_size(list));
        a->appd_errno = 0;
        take_list(a, list);
}

int64_t dmc_apps_tick(struct dmc_apps *a, int64_t now_ms)
{
        if (now_ms >= a->next_refresh_ms) {
                refresh(a);
                a->next_refresh_ms = dmc_now_ms() + a->d->cfg.apps_poll_ms;
        }
        return a->next_refresh_ms;
}

/* ---- executes: after the answer ------------------------------------------------- */

static void job_run(struct dmc *d, void *arg)
{
        struct job *j = arg;
        _cleanup_json_ json_t *params = json_pack("{s:s}", "name", j->name);
        _cleanup_error_ alder_error *err = NULL;
        int r = params ? appd_call(j->a, j->method, params, APPD_SLOW_TIMEOUT_MS, NULL, &err)
                       : alder_error_set(&err, ENOMEM, "out of memory");
        if (r < 0)
                alder_log_error(ALDER_LOG_WARNING, err, ALDER_LOG_FIELDS("APP", j->name), "%s of %s", j->what, j->name);
        else
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", j->name), "%s of %s: done", j->what, j->name);
        refresh(j->a);
        struct app *p = find_name(j->a, j->name);
        if (p) {
                free(p->reason);
                p->reason = strdup(r < 0 ? alder_error_message(err) : "");
                if (strcmp(j->method, "app.remove") == 0 && r < 0)
                        p->result = RESULT_UNINSTALL_FAILURE;
        }
}

static void job_free(void *arg)
{
        struct job *j = arg;
        free(j->method);
        free(j->name);
        free(j);
}

static int queue_job(struct dmc_apps *a, uint16_t inst, const char *method, const char *what, alder_error **err)
{
        struct app *p = find_inst(a, inst);
        if (!p)
                return alder_error_set(err, ENOENT, "no such app");
        struct job *j = calloc(1, sizeof(*j));
        if (!j || !(j->method = strdup(method)) || !(j->name = strdup(p->name))) {
                if (j)
                        job_free(j);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        j->a = a;
        j->what = what;
        return dmc_defer(a->d, job_run, job_free, j, err);
}

/* ---- reads ------------------------------------------------------------------------ */

static bool running(const struct app *p)
{
        return p->state && (strcmp(p->state, "running") == 0 || strcmp(p->state, "starting") == 0);
}

static int sw_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                   struct alder_lwm2m_records *out, alder_error **err)
{
        struct app *p = find_inst(apps_of(o), inst);
        if (!p)
                return alder_error_set(err, ENOENT, "no such app");
        switch (res->id) {
        case SW_PKG_NAME:
                return dmc_rec_string(out, o, inst, res->id, -1, p->name, err);
        case SW_PKG_VERSION:
                return dmc_rec_string(out, o, inst, res->id, -1, p->version, err);
        case SW_UPDATE_STATE:
                return dmc_rec_number(out, o, inst, res, UPDATE_STATE_INSTALLED, err);
        case SW_UPDATE_RESULT:
                return dmc_rec_number(out, o, inst, res, p->result, err);
        case SW_ACTIVATION_STATE:
                return dmc_rec_number(out, o, inst, res, running(p), err);
        case SW_STATUS_REASON:
                return dmc_rec_string(out, o, inst, res->id, -1, p->reason ? p->reason : "", err);
        }
        return alder_error_set(err, ENOENT, "not implemented");
}

static int log_tail(struct dmc_apps *a, const struct app *p, char **ret, alder_error **err)
{
        _cleanup_json_ json_t *params =
                json_pack("{s:s,s:I,s:I}", "name", p->name, "offset", (json_int_t) -1, "max", (json_int_t) 1024);
        _cleanup_json_ json_t *res = NULL;
        int r = params ? appd_call(a, "app.logs", params, APPD_TIMEOUT_MS, &res, err)
                       : alder_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return r;
        const char *data = json_string_value(json_object_get(res, "data"));
        if (!(*ret = strdup(data ? data : "")))
                return alder_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static int app_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                    struct alder_lwm2m_records *out, alder_error **err)
{
        struct dmc_apps *a = apps_of(o);
        struct app *p = find_inst(a, inst);
        if (!p)
                return alder_error_set(err, ENOENT, "no such app");
        const char *s = NULL;
        switch (res->id) {
        case APP_NAME:
                s = p->name;
                break;
        case APP_VERSION:
                s = p->version;
                break;
        case APP_STATE:
                s = p->state;
                break;
        case APP_RUNNING_VERSION:
                s = p->running_version;
                break;
        case APP_LAST_ERROR:
                s = p->last_error;
                break;
        case APP_RESTARTS:
                return dmc_rec_number(out, o, inst, res, p->restarts, err);
        case APP_LAST_EXIT:
                if (!p->has_exit)
                        return alder_error_set(err, ENOENT, "%s has not exited", p->name);
                return dmc_rec_number(out, o, inst, res, p->last_exit, err);
        case APP_LOG_TAIL: {
                _cleanup_free_ char *tail = NULL;
                int r = log_tail(a, p, &tail, err);
                return r < 0 ? r : dmc_rec_string(out, o, inst, res->id, -1, tail, err);
        }
        default:
                return alder_error_set(err, ENOENT, "not implemented");
        }
        if (!s)
                return alder_error_set(err, ENOENT, "%s: not known for %s", res->name, p->name);
        return dmc_rec_string(out, o, inst, res->id, -1, s, err);
}

static int sw_execute(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res, const char *args,
                      size_t len, alder_error **err)
{
        struct dmc_apps *a = apps_of(o);
        switch (res->id) {
        case SW_ACTIVATE:
        case SW_START:
                return queue_job(a, inst, "app.start", res->name, err);
        case SW_DEACTIVATE:
        case SW_STOP:
                return queue_job(a, inst, "app.stop", res->name, err);
        case SW_UNINSTALL: {
                /* Argument 0: '0' (or none) uninstalls, '1' prepares for an update, which apps need not. */
                _cleanup_free_ char *mode = dmc_exec_arg(args, len, 0);
                if (mode && strcmp(mode, "1") == 0)
                        return 0;
                if (mode && *mode && strcmp(mode, "0") != 0)
                        return alder_error_set(err, EINVAL, "Uninstall argument 0: '0' or '1', not '%s'", mode);
                return queue_job(a, inst, "app.remove", res->name, err);
        }
        case SW_INSTALL:
                return alder_error_set(err, EOPNOTSUPP,
                                       "Install: the app is installed; delivering new packages through LwM2M (Package, "
                                       "Package URI) is not implemented: use 'alder app install'");
        }
        return alder_error_set(err, EOPNOTSUPP, "not implemented");
}

static int app_execute(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                       const char *args, size_t len, alder_error **err)
{
        struct dmc_apps *a = apps_of(o);
        switch (res->id) {
        case APP_START:
                return queue_job(a, inst, "app.start", res->name, err);
        case APP_STOP:
                return queue_job(a, inst, "app.stop", res->name, err);
        case APP_RESTART:
                return queue_job(a, inst, "app.restart", res->name, err);
        }
        return alder_error_set(err, EOPNOTSUPP, "not implemented");
}

void dmc_apps_free(struct dmc_apps *a)
{
        if (!a)
                return;
        for (size_t i = 0; i < a->n; i++)
                app_clear(&a->v[i]);
        free(a->v);
        json_decref(a->ids);
        free(a->ids_path);
        free(a);
}

static const struct dmc_object_ops sw_ops = {
        .read = sw_read,
        .execute = sw_execute,
        .free = dmc_object_free_plain,
};

static const struct dmc_object_ops app_ops = {
        .read = app_read,
        .execute = app_execute,
        .free = dmc_object_free_plain,
};

int dmc_obj_apps_add(struct dmc *d, alder_error **err)
{
        static const uint16_t sw_res[] = {SW_PKG_NAME,         SW_PKG_VERSION,   SW_INSTALL,  SW_UNINSTALL,
                                          SW_UPDATE_STATE,     SW_UPDATE_RESULT, SW_ACTIVATE, SW_DEACTIVATE,
                                          SW_ACTIVATION_STATE, SW_STATUS_REASON, SW_START,    SW_STOP};
        static const uint16_t app_res[] = {APP_NAME,     APP_VERSION,   APP_STATE,      APP_RUNNING_VERSION,
                                           APP_RESTARTS, APP_LAST_EXIT, APP_LAST_ERROR, APP_LOG_TAIL,
                                           APP_START,    APP_STOP,      APP_RESTART};
        struct dmc_apps *a = calloc(1, sizeof(*a));
        if (!a)
                return alder_error_set(err, ENOMEM, "out of memory");
        d->apps = a;
        a->d = d;
        if (asprintf(&a->ids_path, "%s/app-instances.json", d->cfg.data_dir) < 0) {
                a->ids_path = NULL;
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        /* Ids given before: kept. A missing or unreadable file starts afresh (the ids are a convenience). */
        if (alder_json_load_file(a->ids_path, 1 << 20, &a->ids, NULL) < 0 || !json_is_object(a->ids)) {
                json_decref(a->ids);
                a->ids = json_object();
        }
        if (!a->ids)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = dmc_object_new(d, 9, &sw_ops, sw_res, ALDER_ARRAY_SIZE(sw_res), sizeof(a), NULL, 0, &a->sw, err);
        if (r == 0)
                r = dmc_object_new(d, ALDER_LWM2M_OBJECT_APP, &app_ops, app_res, ALDER_ARRAY_SIZE(app_res), sizeof(a),
                                   NULL, 0, &a->app, err);
        if (r < 0)
                return r;
        *(struct dmc_apps **) a->sw->data = a;
        *(struct dmc_apps **) a->app->data = a;
        refresh(a);
        a->next_refresh_ms = dmc_now_ms() + d->cfg.apps_poll_ms;
        return 0;
}
