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
 *
 * Package delivery (9 only): a Create, or a write of Package / Package URI to
 * an app's instance, starts a delivery to DATA_DIR/package-INST.alpkg (pulls
 * through download.c, shared with Firmware Update). Downloaded and with a
 * well-formed .alpkg header it is Delivered (3); Install then runs
 * app.install (a new instance) or app.update with the file after the answer,
 * and the instance is the installed app's from then on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/alpkg.h"
#include "alder/fileio.h"
#include "alder/ipc.h"
#include "alder/json.h"
#include "alder/log.h"
#include "daemon.h"
#include "download.h"
#include "objects.h"

#define APPD_TIMEOUT_MS      2000
#define APPD_SLOW_TIMEOUT_MS 30000 /* app.stop waits for the container */
#define MAX_APPS             256
#define MAX_DELIVERIES       4
#define INSTALL_TIMEOUT_MS   (10 * 60 * 1000) /* appd verifies and unpacks before it answers */
#define URI_MAX              255

enum {
        SW_PKG_NAME = 0,
        SW_PKG_VERSION = 1,
        SW_PACKAGE = 2,
        SW_PACKAGE_URI = 3,
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
enum {
        UPDATE_STATE_INITIAL = 0,
        UPDATE_STATE_DOWNLOADING = 1,
        UPDATE_STATE_DOWNLOADED = 2,
        UPDATE_STATE_DELIVERED = 3,
        UPDATE_STATE_INSTALLED = 4,
};
enum {
        RESULT_INITIAL = 0,
        RESULT_DOWNLOADING = 1,
        RESULT_INSTALLED = 2,
        RESULT_DELIVERED = 3,
        RESULT_NO_SPACE = 50,
        RESULT_CONNECTION_LOST = 52,
        RESULT_INTEGRITY = 53,
        RESULT_UNSUPPORTED_TYPE = 54,
        RESULT_INVALID_URI = 56,
        RESULT_UPDATE_ERROR = 57,
        RESULT_INSTALL_FAILURE = 58,
        RESULT_UNINSTALL_FAILURE = 59,
};

struct dmc_apps;

/* A package being delivered to instance inst: a new app (app NULL) or an update of app. */
struct delivery {
        struct dmc_apps *a;
        uint16_t inst;
        char *app;
        int state, result;
        char *reason;
        struct dmc_download *dl; /* DATA_DIR/package-INST.alpkg */
        bool installing;         /* alder-appd has the file: no change until it answers */
};

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
        struct delivery *dv[MAX_DELIVERIES];
        size_t n_dv;
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

static int appd_call_at(const char *socket, const char *method, json_t *params, int timeout_ms, json_t **ret,
                        alder_error **err)
{
        _cleanup_ipc_client_ alder_ipc_client *c = NULL;
        int r = alder_ipc_client_connect(socket, APPD_TIMEOUT_MS, &c, err);
        if (r < 0)
                return alder_error_wrap(err, "alder-appd at %s", socket);
        return alder_ipc_client_call(c, method, params, timeout_ms, ret, err);
}

static int appd_call(struct dmc_apps *a, const char *method, json_t *params, int timeout_ms, json_t **ret,
                     alder_error **err)
{
        return appd_call_at(a->d->cfg.appd_socket, method, params, timeout_ms, ret, err);
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
                for (size_t i = 0; i < a->n_dv; i++)
                        taken |= !a->dv[i]->app && a->dv[i]->inst == inst;
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
        uint16_t ids[MAX_APPS + MAX_DELIVERIES];
        for (size_t i = 0; i < a->n; i++)
                ids[i] = a->v[i].inst;
        size_t n = a->n;
        for (size_t i = 0; i < a->n_dv; i++)
                if (!a->dv[i]->app)
                        ids[n++] = a->dv[i]->inst; /* no app yet: Software Management only */
        _cleanup_error_ alder_error *err = NULL;
        if (dmc_object_set_instances(a->sw, ids, n, &err) < 0 || dmc_object_set_instances(a->app, ids, a->n, &err) < 0)
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

/* ---- package delivery: Package (push), Package URI (pull), Install ----------------- */

static struct delivery *find_delivery(struct dmc_apps *a, uint16_t inst)
{
        for (size_t i = 0; i < a->n_dv; i++)
                if (a->dv[i]->inst == inst)
                        return a->dv[i];
        return NULL;
}

static void delivery_state(struct delivery *v, int state, int result, const char *reason)
{
        if (v->state != state || v->result != result)
                alder_log(ALDER_LOG_INFO, NULL, "software management /9/%u: state %d -> %d, result %d", v->inst,
                          v->state, state, result);
        v->state = state;
        v->result = result;
        free(v->reason);
        v->reason = reason ? strdup(reason) : NULL;
}

static void delivery_free(struct delivery *v)
{
        if (!v)
                return;
        if (v->dl) {
                dmc_download_cancel(v->dl); /* and the file */
                dmc_download_free(v->dl);
        }
        free(v->app);
        free(v->reason);
        free(v);
}

static void delivery_drop(struct dmc_apps *a, struct delivery *v)
{
        for (size_t i = 0; i < a->n_dv; i++)
                if (a->dv[i] == v)
                        a->dv[i] = a->dv[--a->n_dv];
        delivery_free(v);
}

/*
 * 'Delivered' is downloaded and well-formed: the alpkg header (magic, format
 * version, envelope length within the file). The signature, vendor and
 * architecture are alder-appd's to verify at Install.
 */
static int check_package(const char *path, alder_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t p[ALDER_ALPKG_HEADER_SIZE];
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return alder_error_sys(err, errno, "%s", path);
        ssize_t n = pread(fd, p, sizeof(p), 0);
        if (n < 0)
                return alder_error_sys(err, errno, "%s", path);
        if ((size_t) n < sizeof(p) || memcmp(p, ALDER_ALPKG_MAGIC, ALDER_ALPKG_MAGIC_LEN) != 0)
                return alder_error_set(err, ENOEXEC, "not an app package (.alpkg): no ALPKG magic");
        uint32_t version = (uint32_t) p[8] << 24 | (uint32_t) p[9] << 16 | (uint32_t) p[10] << 8 | p[11];
        uint32_t env = (uint32_t) p[12] << 24 | (uint32_t) p[13] << 16 | (uint32_t) p[14] << 8 | p[15];
        if (version != ALDER_ALPKG_FORMAT_VERSION)
                return alder_error_set(err, EPROTONOSUPPORT, "app package format version %u (this device reads %d)",
                                       version, ALDER_ALPKG_FORMAT_VERSION);
        if (env == 0 || env > 65536 || (uint64_t) st.st_size < ALDER_ALPKG_HEADER_SIZE + (uint64_t) env)
                return alder_error_set(err, EBADMSG, "app package: envelope length %u does not fit its %lld bytes", env,
                                       (long long) st.st_size);
        return 0;
}

/* A complete file is there: Downloaded, then Delivered when well-formed. */
static void delivered(struct delivery *v)
{
        delivery_state(v, UPDATE_STATE_DOWNLOADED, RESULT_INITIAL, NULL);
        _cleanup_error_ alder_error *err = NULL;
        int r = check_package(dmc_download_path(v->dl), &err);
        if (r < 0) {
                alder_log_error(ALDER_LOG_WARNING, err, NULL, "software management /9/%u", v->inst);
                unlink(dmc_download_path(v->dl));
                delivery_state(v, UPDATE_STATE_INITIAL,
                               r == -EBADMSG                            ? RESULT_INTEGRITY
                               : r == -ENOEXEC || r == -EPROTONOSUPPORT ? RESULT_UNSUPPORTED_TYPE
                                                                        : RESULT_UPDATE_ERROR,
                               alder_error_message(err));
                return;
        }
        delivery_state(v, UPDATE_STATE_DELIVERED, RESULT_DELIVERED, NULL);
}

static void on_download(void *ctx, enum dmc_dl_status st, const char *why)
{
        static const int results[] = {
                [DMC_DL_DONE] = RESULT_INITIAL,
                [DMC_DL_NO_SPACE] = RESULT_NO_SPACE,
                [DMC_DL_CONNECTION_LOST] = RESULT_CONNECTION_LOST,
                [DMC_DL_INVALID_URI] = RESULT_INVALID_URI,
                [DMC_DL_UNSUPPORTED_PROTOCOL] = RESULT_INVALID_URI, /* Object 9 has no "unsupported protocol" */
                [DMC_DL_FAILED] = RESULT_UPDATE_ERROR,
        };
        struct delivery *v = ctx;
        if (st == DMC_DL_DONE)
                delivered(v);
        else
                delivery_state(v, UPDATE_STATE_INITIAL, results[st], why);
}

static int delivery_new(struct dmc_apps *a, uint16_t inst, const char *app, struct delivery **ret, alder_error **err)
{
        if (a->n_dv >= MAX_DELIVERIES)
                return alder_error_set(err, EBUSY, "at most %d packages are delivered at once", MAX_DELIVERIES);
        _cleanup_free_ char *path = NULL;
        struct delivery *v = calloc(1, sizeof(*v));
        if (!v || (app && !(v->app = strdup(app))) ||
            asprintf(&path, "%s/package-%u.alpkg", a->d->cfg.data_dir, inst) < 0) {
                path = NULL;
                delivery_free(v);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        v->a = a;
        v->inst = inst;
        int r = dmc_download_new(a->d, "package", path, on_download, v, &v->dl, err);
        if (r < 0) {
                delivery_free(v);
                return r;
        }
        a->dv[a->n_dv++] = v;
        *ret = v;
        return 0;
}

static int write_delivery(struct delivery *v, uint16_t res, const struct alder_lwm2m_value *val, alder_error **err)
{
        if (v->installing)
                return alder_error_set(err, EBUSY, "the package is being installed");
        if (v->state == UPDATE_STATE_DOWNLOADING && val->len)
                return alder_error_set(err, EBUSY, "a package is being downloaded to this instance");
        if (dmc_download_ending(v->dl))
                return alder_error_set(err, EBUSY, "the cancelled HTTP download is still ending, try again");
        dmc_download_cancel(v->dl);
        if (val->len == 0) { /* an empty Package or Package URI: back to the start */
                delivery_state(v, UPDATE_STATE_INITIAL, RESULT_INITIAL, NULL);
                return 0;
        }
        if (res == SW_PACKAGE) {
                int r = alder_mkdir_p(v->a->d->cfg.data_dir, 0700, err);
                if (r == 0)
                        r = alder_write_file_atomic(dmc_download_path(v->dl), val->data, val->len, 0600, err);
                if (r < 0) {
                        delivery_state(v, UPDATE_STATE_INITIAL, r == -ENOSPC ? RESULT_NO_SPACE : RESULT_UPDATE_ERROR,
                                       alder_error_message(*err));
                        return r;
                }
                alder_log_info("software management /9/%u: package received, %zu bytes", v->inst, val->len);
                delivered(v);
                return 0;
        }
        if (val->len > URI_MAX)
                return alder_error_set(err, EINVAL, "Package URI: at most %d bytes", URI_MAX);
        _cleanup_free_ char *uri = strndup((const char *) val->data, val->len);
        if (!uri)
                return alder_error_set(err, ENOMEM, "out of memory");
        delivery_state(v, UPDATE_STATE_DOWNLOADING, RESULT_DOWNLOADING, NULL);
        dmc_download_start(v->dl, uri);
        return 0;
}

/* Instance inst is app `name`'s from now on (an id another name had is taken from it). */
static void claim_instance(struct dmc_apps *a, const char *name, uint16_t inst)
{
        const char *k;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(a->ids, tmp, k, val) if (json_integer_value(val) == inst && strcmp(k, name) != 0)
                json_object_del(a->ids, k);
        json_object_set_new(a->ids, name, json_integer(inst));
        _cleanup_error_ alder_error *err = NULL;
        if (alder_mkdir_p(a->d->cfg.data_dir, 0700, &err) < 0 ||
            alder_json_write_file(a->ids_path, a->ids, 0600, &err) < 0)
                alder_log_error(ALDER_LOG_WARNING, err, NULL, "app instance ids");
}

static int install_result_of(int r)
{
        switch (-r) {
        case EBADMSG:
        case EKEYREJECTED:
                return RESULT_INTEGRITY;
        case ENOEXEC:
        case EPROTONOSUPPORT:
                return RESULT_UNSUPPORTED_TYPE;
        case ENOSPC:
                return RESULT_NO_SPACE;
        default:
                return RESULT_INSTALL_FAILURE;
        }
}

/* Install: app.install (a new app) or app.update with the delivered file, on a thread (appd verifies and unpacks). */
struct install_job {
        struct dmc_apps *a;
        uint16_t inst;
        const char *method;
        char *socket, *path;
        int r;
        alder_error *err;
        json_t *res;
};

static void install_job_free(struct install_job *j)
{
        free(j->socket);
        free(j->path);
        alder_error_free(j->err);
        json_decref(j->res);
        free(j);
}

static void install_work(void *arg)
{
        struct install_job *j = arg;
        _cleanup_json_ json_t *params = json_pack("{s:s}", "package", j->path);
        j->r = params ? appd_call_at(j->socket, j->method, params, INSTALL_TIMEOUT_MS, &j->res, &j->err)
                      : alder_error_set(&j->err, ENOMEM, "out of memory");
        if (j->r == 0 && !json_is_string(json_object_get(j->res, "name")))
                j->r = alder_error_set(&j->err, EPROTO, "alder-appd: %s answered without the app's name", j->method);
}

static void install_done(struct dmc *d, void *arg)
{
        struct install_job *j = arg;
        struct dmc_apps *a = j->a;
        struct delivery *v = find_delivery(a, j->inst); /* there: an installing delivery is not dropped */
        if (v)
                v->installing = false;
        if (!v || d->stopping) {
                install_job_free(j);
                return;
        }
        if (j->r < 0) {
                alder_log_error(ALDER_LOG_WARNING, j->err, NULL, "software management /9/%u: %s failed", v->inst,
                                j->method);
                delivery_state(v, UPDATE_STATE_DELIVERED, install_result_of(j->r), alder_error_message(j->err));
                install_job_free(j);
                return;
        }
        const char *name = json_string_value(json_object_get(j->res, "name"));
        const char *version = json_string_value(json_object_get(j->res, "version"));
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", name), "software management /9/%u: %s installed %s %s",
                  v->inst, j->method, name, version ? version : "");
        claim_instance(a, name, v->inst);
        delivery_drop(a, v);
        refresh(a);
        struct app *p = find_name(a, name);
        if (p) {
                p->result = RESULT_INSTALLED;
                free(p->reason);
                p->reason = NULL;
        }
        install_job_free(j);
}

static int queue_install(struct dmc_apps *a, uint16_t inst, alder_error **err)
{
        struct delivery *v = find_delivery(a, inst);
        if (!v || v->state != UPDATE_STATE_DELIVERED)
                return alder_error_set(err, EINVAL, "Install needs a delivered package (Update State 3), not %d",
                                       v ? v->state : UPDATE_STATE_INSTALLED);
        if (v->installing)
                return alder_error_set(err, EBUSY, "the package is being installed");
        struct install_job *j = calloc(1, sizeof(*j));
        if (!j || !(j->socket = strdup(a->d->cfg.appd_socket)) || !(j->path = strdup(dmc_download_path(v->dl)))) {
                if (j)
                        install_job_free(j);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        j->a = a;
        j->inst = inst;
        j->method = v->app ? "app.update" : "app.install";
        int r = dmc_thread(a->d, install_work, install_done, j, err);
        if (r < 0) {
                install_job_free(j);
                return r;
        }
        v->installing = true;
        return 0;
}

static void publish_job(struct dmc *d, void *arg)
{
        publish(arg);
}

static void no_free(void *arg)
{
        (void) arg;
}

static int sw_write(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                    const struct alder_lwm2m_record *rec, size_t n, bool replace, alder_error **err)
{
        struct dmc_apps *a = apps_of(o);
        if (n != 1)
                return alder_error_set(err, EINVAL, "expected one value");
        if (res->id != SW_PACKAGE && res->id != SW_PACKAGE_URI)
                return alder_error_set(err, EOPNOTSUPP, "not writable");
        struct delivery *v = find_delivery(a, inst);
        if (!v) { /* an installed app: a package for its update */
                struct app *p = find_inst(a, inst);
                if (!p)
                        return alder_error_set(err, ENOENT, "no such app");
                int r = delivery_new(a, inst, p->name, &v, err);
                if (r < 0)
                        return r;
        }
        return write_delivery(v, res->id, &rec->value, err);
}

static int sw_create(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_records *recs, alder_error **err)
{
        struct dmc_apps *a = apps_of(o);
        /* Name and version come from the package: values for them are not kept. Package (URI) starts the delivery. */
        for (size_t i = 0; i < recs->n; i++) {
                uint16_t id = recs->v[i].path.id[2];
                if (id != SW_PKG_NAME && id != SW_PKG_VERSION && id != SW_PACKAGE && id != SW_PACKAGE_URI)
                        return alder_error_set(err, EINVAL, "/9/%u/%u: Create sets Package or Package URI only", inst,
                                               id);
        }
        struct delivery *v;
        int r = delivery_new(a, inst, NULL, &v, err);
        if (r < 0)
                return r;
        alder_log_info("software management: instance /9/%u created for a new package", inst);
        for (size_t i = 0; r == 0 && i < recs->n; i++) {
                uint16_t id = recs->v[i].path.id[2];
                if (id == SW_PACKAGE || id == SW_PACKAGE_URI)
                        r = write_delivery(v, id, &recs->v[i].value, err);
        }
        if (r < 0) {
                delivery_drop(a, v);
                return r;
        }
        publish(a);
        return 0;
}

static int sw_remove(struct dmc_object *o, uint16_t inst, alder_error **err)
{
        struct dmc_apps *a = apps_of(o);
        struct delivery *v = find_delivery(a, inst);
        if (!v || v->app)
                return alder_error_set(err, EOPNOTSUPP, "an installed app goes with Uninstall (/9/%u/6)", inst);
        if (v->installing)
                return alder_error_set(err, EBUSY, "the package is being installed");
        delivery_drop(a, v);
        /* The served path goes after this answer (not from inside its own handler). */
        return dmc_defer(a->d, publish_job, no_free, a, err);
}

/* ---- reads ------------------------------------------------------------------------ */

static bool running(const struct app *p)
{
        return p->state && (strcmp(p->state, "running") == 0 || strcmp(p->state, "starting") == 0);
}

/* A new app's package on its way: the delivery's state; no name, version or activation until installed. */
static int delivery_read(struct dmc_object *o, const struct delivery *v, const struct alder_lwm2m_resource_def *res,
                         struct alder_lwm2m_records *out, alder_error **err)
{
        switch (res->id) {
        case SW_UPDATE_STATE:
                return dmc_rec_number(out, o, v->inst, res, v->state, err);
        case SW_UPDATE_RESULT:
                return dmc_rec_number(out, o, v->inst, res, v->result, err);
        case SW_ACTIVATION_STATE:
                return dmc_rec_number(out, o, v->inst, res, 0, err);
        case SW_STATUS_REASON:
                return dmc_rec_string(out, o, v->inst, res->id, -1, v->reason ? v->reason : "", err);
        }
        return alder_error_set(err, ENOENT, "%s: not known before the package is installed", res->name);
}

static int sw_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                   struct alder_lwm2m_records *out, alder_error **err)
{
        struct dmc_apps *a = apps_of(o);
        struct delivery *v = find_delivery(a, inst);
        struct app *p = find_inst(a, inst);
        if (v && (!p || res->id == SW_UPDATE_STATE || res->id == SW_UPDATE_RESULT || res->id == SW_STATUS_REASON))
                return delivery_read(o, v, res, out, err); /* an update on its way: its state */
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
        struct delivery *v = find_delivery(a, inst);
        if (v && !v->app && res->id != SW_INSTALL) {
                if (res->id != SW_UNINSTALL)
                        return alder_error_set(err, EINVAL, "%s: the package is not installed yet", res->name);
                return sw_remove(o, inst, err); /* drops the delivered package */
        }
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
                return queue_install(a, inst, err);
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
        for (size_t i = 0; i < a->n_dv; i++)
                delivery_free(a->dv[i]);
        json_decref(a->ids);
        free(a->ids_path);
        free(a);
}

static const struct dmc_object_ops sw_ops = {
        .read = sw_read,
        .write = sw_write,
        .execute = sw_execute,
        .create = sw_create,
        .remove = sw_remove,
        .free = dmc_object_free_plain,
};

static const struct dmc_object_ops app_ops = {
        .read = app_read,
        .execute = app_execute,
        .free = dmc_object_free_plain,
};

int dmc_obj_apps_add(struct dmc *d, alder_error **err)
{
        static const uint16_t sw_res[] = {SW_PKG_NAME, SW_PKG_VERSION, SW_PACKAGE,          SW_PACKAGE_URI,
                                          SW_INSTALL,  SW_UNINSTALL,   SW_UPDATE_STATE,     SW_UPDATE_RESULT,
                                          SW_ACTIVATE, SW_DEACTIVATE,  SW_ACTIVATION_STATE, SW_STATUS_REASON,
                                          SW_START,    SW_STOP};
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
