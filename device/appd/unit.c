/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Life-cycle of app instances: a bundle (the version's rootfs + a hardened
 * config.json from ocispec) run detached by the OCI runtime, its output fed
 * through FIFOs (applog.c), its exit recorded, the restart policy applied with
 * exponential back-off, stop = SIGTERM, timeout, SIGKILL.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/list.h"
#include "alder/log.h"
#include "alder/ocispec.h"
#include "appd.h"

#define KILL_WAIT_MS 3000 /* after SIGKILL, before the container is force-deleted */

static const char *const state_names[] = {
        [UNIT_INSTALLED] = "installed", [UNIT_STARTING] = "starting", [UNIT_RUNNING] = "running",
        [UNIT_STOPPING] = "stopping",   [UNIT_STOPPED] = "stopped",   [UNIT_FAILED] = "failed",
};

const char *unit_state_name(enum unit_state s)
{
        return state_names[s];
}

struct unit *unit_find(struct appd *d, const char *name)
{
        for (struct unit *u = d->units; u; u = u->next)
                if (strcmp(u->name, name) == 0)
                        return u;
        return NULL;
}

/* The unit of an installed app, created on first use. */
int unit_get(struct appd *d, const char *name, struct unit **ret, alder_error **err)
{
        struct unit *u = unit_find(d, name);
        if (!u) {
                _cleanup_json_ json_t *status = NULL;
                int r = alder_appstore_status(d->store, name, &status, err);
                if (r < 0)
                        return r;
                u = calloc(1, sizeof(*u));
                if (!u)
                        return alder_error_set(err, ENOMEM, "out of memory");
                snprintf(u->name, sizeof(u->name), "%s", name);
                u->log_fd = -1;
                ALDER_LIST_PREPEND(d->units, u);
        }
        *ret = u;
        return 0;
}

void unit_set_error(struct unit *u, const char *message)
{
        free(u->last_error);
        u->last_error = message ? strdup(message) : NULL;
}

void unit_free(struct appd *d, struct unit *u)
{
        ALDER_LIST_REMOVE(d->units, u);
        _cleanup_error_ alder_error *e = NULL;
        alder_error_set(&e, ESHUTDOWN, "alder-appd is stopping");
        while (u->waiters) {
                struct unit_waiter *w = u->waiters;
                ALDER_LIST_REMOVE(u->waiters, w);
                alder_ipc_call_reply_error(w->call, e);
                free(w);
        }
        for (struct instance *i = d->instances; i; i = i->next)
                if (i->unit == u)
                        i->unit = NULL;
        alder_closep(&u->log_fd);
        free(u->last_error);
        free(u);
}

/* ---- Instances ------------------------------------------------------------- */

static int pidfd_open_(pid_t pid)
{
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static int version_dir_sequence(const char *dir, uint64_t *ret, alder_error **err)
{
        const char *base = strrchr(dir, '/');
        base = base ? base + 1 : dir;
        char *end;
        errno = 0;
        unsigned long long seq = strtoull(base, &end, 10);
        if (errno || end == base || *end != '-')
                return alder_error_set(err, EINVAL, "'%s' is not a version directory (SEQUENCE-VERSION)", dir);
        *ret = seq;
        return 0;
}

static int load_meta(const char *version_dir, alder_app_meta **ret, alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/app.json", version_dir) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_json_ json_t *doc = NULL;
        int r = alder_json_load_file(path, ALDER_APP_META_MAX_SIZE, &doc, err);
        return r < 0 ? r : alder_app_meta_from_json(doc, path, ret, err);
}

/*
 * Every app has a private writable volume at /data (DESIGN.md §4), whether its
 * package declares one or not; a package's own volume at /data (or named
 * "data") is that one.
 */
static int ensure_data_volume(alder_app_meta *m, alder_error **err)
{
        for (size_t i = 0; i < m->n_volumes; i++)
                if (strcmp(m->volumes[i].path, "/data") == 0 || strcmp(m->volumes[i].name, "data") == 0)
                        return 0;
        alder_app_volume *v = realloc(m->volumes, (m->n_volumes + 1) * sizeof(*v));
        if (!v)
                return alder_error_set(err, ENOMEM, "out of memory");
        m->volumes = v;
        v[m->n_volumes] = (alder_app_volume){.name = strdup("data"), .path = strdup("/data")};
        if (!v[m->n_volumes].name || !v[m->n_volumes].path) {
                free(v[m->n_volumes].name);
                free(v[m->n_volumes].path);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        m->n_volumes++;
        return 0;
}

/* Creates the app's data volumes, owned by its user as the container sees it. */
static int prepare_volumes(struct appd *d, const char *name, const alder_app_meta *m, uint32_t id_start,
                           char ***ret_dirs, alder_error **err)
{
        uint32_t uid, gid;
        int r = alder_ocispec_parse_user(m->user, ALDER_APPSTORE_ID_COUNT, &uid, &gid, err);
        if (r < 0)
                return r;
        _cleanup_strv_ char **dirs = calloc(m->n_volumes + 1, sizeof(char *));
        if (!dirs)
                return alder_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < m->n_volumes; i++) {
                if (asprintf(&dirs[i], "%s/%s/data/%s", d->store_path, name, m->volumes[i].name) < 0)
                        return alder_error_set(err, ENOMEM, "out of memory");
                r = alder_mkdir_p(dirs[i], 0750, err);
                if (r < 0)
                        return r;
                if (geteuid() == 0 && chown(dirs[i], (uid_t) (id_start + uid), (gid_t) (id_start + gid)) < 0)
                        return alder_error_sys(err, errno, "chown '%s'", dirs[i]);
        }
        *ret_dirs = steal_pointer(&dirs);
        return 0;
}

static int bundle_path(struct appd *d, const char *id, char **ret, alder_error **err)
{
        return asprintf(ret, "%s/%s", d->bundles_path, id) < 0 ? alder_error_set(err, ENOMEM, "out of memory") : 0;
}

static int write_bundle(struct appd *d, struct instance *inst, const char *version_dir, const alder_app_meta *m,
                        char **ret_bundle, alder_error **err)
{
        uint32_t id_start;
        _cleanup_strv_ char **volume_dirs = NULL;
        _cleanup_free_ char *rootfs = NULL, *bundle = NULL, *cgroup = NULL;
        int r = alder_appstore_id_range(d->store, inst->unit->name, &id_start, err);
        if (r == 0)
                r = prepare_volumes(d, inst->unit->name, m, id_start, &volume_dirs, err);
        if (r == 0)
                r = bundle_path(d, inst->id, &bundle, err);
        if (r < 0)
                return r;
        if (asprintf(&rootfs, "%s/rootfs", version_dir) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_free_ char *secd_dir = NULL;
        r = appd_cgroup_path(inst->unit->name, inst->id, &cgroup, err);
        if (r == 0)
                r = appd_secd_prepare(d, inst, m->secure_services, rootfs, id_start, &secd_dir, err);
        if (r < 0)
                return r;
        alder_ocispec_settings settings = {
                .rootfs = rootfs,
                .hostname = inst->unit->name,
                .id_start = id_start,
                .id_count = ALDER_APPSTORE_ID_COUNT,
                .volume_dirs = (const char *const *) volume_dirs,
                .cgroups_path = cgroup,
                .secd_dir = secd_dir,
                .limits = d->set.limits,
        };
        _cleanup_json_ json_t *config = NULL;
        r = alder_ocispec_generate(m, &settings, &config, err);
        if (r == 0)
                r = alder_mkdir_p(bundle, 0711, err);
        if (r == 0)
                r = alder_ocispec_write_bundle(bundle, config, err);
        if (r < 0)
                return r;
        *ret_bundle = steal_pointer(&bundle);
        return 0;
}

static struct instance *instance_new(struct appd *d, struct unit *u, const char *version, uint64_t sequence)
{
        struct instance *inst = calloc(1, sizeof(*inst));
        if (!inst)
                return NULL;
        inst->unit = u;
        inst->pidfd = -1;
        inst->out = (struct applog_stream){.fd = -1};
        inst->err = (struct applog_stream){.fd = -1, .is_stderr = true};
        snprintf(inst->id, sizeof(inst->id), "%s.%" PRIu64 ".%u", u->name, sequence, ++d->run_counter);
        snprintf(inst->version, sizeof(inst->version), "%s", version);
        inst->sequence = sequence;
        ALDER_LIST_PREPEND(d->instances, inst);
        return inst;
}

static void remove_quietly(const char *path)
{
        _cleanup_error_ alder_error *e = NULL;
        if (alder_remove_tree(path, &e) < 0 && alder_error_errno(e) != ENOENT)
                alder_log_error(ALDER_LOG_WARNING, e, NULL, "clean up");
}

static void remove_bundle(struct appd *d, const char *id)
{
        _cleanup_free_ char *bundle = NULL;
        if (bundle_path(d, id, &bundle, NULL) == 0)
                remove_quietly(bundle);
}

static void delete_now(struct appd *d, const char *id)
{
        _cleanup_error_ alder_error *e = NULL;
        if (d->runtime && alder_ocirt_delete(d->runtime, id, true, &e) < 0 && alder_error_errno(e) != ENOENT)
                alder_log_error(ALDER_LOG_WARNING, e, ALDER_LOG_FIELDS("CONTAINER", id), "delete container");
        remove_bundle(d, id);
}

/* An exited container is deleted in the background: its app may start again meanwhile (another id). */
static void delete_later(struct appd *d, const char *id)
{
        struct pending_delete *p = calloc(1, sizeof(*p));
        if (!p || !d->runtime || alder_ocirt_delete_spawn(d->runtime, id, &p->proc, NULL) < 0) {
                free(p);
                delete_now(d, id);
                return;
        }
        snprintf(p->id, sizeof(p->id), "%s", id);
        ALDER_LIST_PREPEND(d->deleting, p);
}

static void delete_done(struct appd *d, struct pending_delete *p, int timeout_ms)
{
        alder_exit ex = {0};
        if (alder_proc_wait(p->proc, timeout_ms, &ex, NULL) < 0 || !alder_exit_ok(&ex))
                delete_now(d, p->id); /* again, in the foreground, for the runtime's message */
        else
                remove_bundle(d, p->id);
        ALDER_LIST_REMOVE(d->deleting, p);
        alder_proc_free(p->proc);
        free(p);
}

bool deletes_reap(struct appd *d, pid_t pid)
{
        for (struct pending_delete *p = d->deleting; p; p = p->next)
                if (alder_proc_pid(p->proc) == pid) {
                        delete_done(d, p, 0);
                        return true;
                }
        return false;
}

void deletes_finish(struct appd *d)
{
        while (d->deleting)
                delete_done(d, d->deleting, 10000);
}

/* Removes the container's runtime state, bundle and FIFOs (what is left of them). */
static void instance_cleanup(struct appd *d, struct instance *inst)
{
        if (inst->exited)
                delete_later(d, inst->id);
        else
                delete_now(d, inst->id);
        applog_close(d, inst);
        alder_closep(&inst->pidfd);
}

void instance_free(struct appd *d, struct instance *inst)
{
        if (!inst)
                return;
        ALDER_LIST_REMOVE(d->instances, inst);
        alder_app_meta_free(inst->meta);
        free(inst->secd_error);
        free(inst);
}

int instance_start(struct appd *d, struct unit *u, const char *version_dir, struct instance **ret, alder_error **err)
{
        int r = appd_need_runtime(d, err);
        if (r < 0)
                return r;
        uint64_t seq;
        _cleanup_app_meta_ alder_app_meta *meta = NULL;
        r = version_dir_sequence(version_dir, &seq, err);
        if (r == 0)
                r = load_meta(version_dir, &meta, err);
        if (r == 0)
                r = ensure_data_volume(meta, err);
        if (r < 0)
                return r;
        struct instance *inst = instance_new(d, u, meta->version, seq);
        if (!inst)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (alder_ocirt_delete(d->runtime, inst->id, true, NULL) == 0) /* a leftover of a crash */
                alder_log_debug("deleted a leftover container %s", inst->id);
        _cleanup_free_ char *bundle = NULL;
        _cleanup_close_ int out_w = -1, err_w = -1;
        r = write_bundle(d, inst, version_dir, meta, &bundle, err);
        if (r == 0)
                r = applog_open_fifos(d, inst, true, &out_w, &err_w, err);
        if (r == 0)
                r = alder_ocirt_run_detached(d->runtime, inst->id, bundle, out_w, err_w, NULL, &inst->pid, err);
        if (r == 0 && (inst->pidfd = pidfd_open_(inst->pid)) < 0)
                r = alder_error_sys(err, errno, "pidfd_open %d", (int) inst->pid);
        if (r < 0) {
                instance_cleanup(d, inst);
                instance_free(d, inst);
                return alder_error_wrap(err, "start %s %s", u->name, meta->version);
        }
        inst->is_child = true;
        inst->started_ms = appd_now_ms();
        inst->meta = steal_pointer(&meta);
        char pid_text[16];
        snprintf(pid_text, sizeof(pid_text), "%d", (int) inst->pid);
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", u->name, "VERSION", inst->version, "PID", pid_text),
                  "started %s %s", u->name, inst->version);
        *ret = inst;
        return 0;
}

int instance_stop(struct appd *d, struct instance *inst, alder_error **err)
{
        if (inst->exited || inst->kill_at_ms)
                return 0;
        int r = alder_ocirt_kill(d->runtime, inst->id, SIGTERM, err);
        alder_ocirt_container c;
        if (r < 0 && alder_ocirt_state(d->runtime, inst->id, &c, NULL) == 0 && c.status == ALDER_OCIRT_RUNNING)
                return r;
        /* otherwise it is exiting already: its exit event follows */
        alder_error_clear(err);
        inst->kill_at_ms = appd_now_ms() + (inst->stop_timeout_ms ? inst->stop_timeout_ms : d->set.stop_timeout_ms);
        return 0;
}

struct instance *instance_by_pid(struct appd *d, pid_t pid)
{
        for (struct instance *i = d->instances; i; i = i->next)
                if (i->pid == pid && !i->exited)
                        return i;
        return NULL;
}

/* The memory cgroup counted an OOM kill (cgroup v2 memory.events, v1 memory.oom_control). */
/* The oom_kill counter of a memory-cgroup file into *ret; false when the file is not there. */
static bool read_oom_kills(const char *path, unsigned long long *ret)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        char line[128];
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "oom_kill %llu", ret) == 1)
                        break;
        fclose(f);
        return true;
}

static bool oom_killed(struct instance *inst)
{
        char v2[PATH_MAX], v1[PATH_MAX];
        unsigned long long n = 0;
        snprintf(v2, sizeof(v2), "/sys/fs/cgroup/alder/%s/memory.events", inst->id);
        snprintf(v1, sizeof(v1), "/sys/fs/cgroup/memory/alder/%s/memory.oom_control", inst->id);
        return (read_oom_kills(v2, &n) || read_oom_kills(v1, &n)) && n > 0;
}

static void describe_exit(const struct instance *inst, char *buf, size_t size)
{
        char what[ALDER_EXIT_DESCRIBE_MAX];
        if (!inst->exit_known)
                snprintf(buf, size, "exited (status unknown: started by an earlier alder-appd)");
        else
                snprintf(buf, size, "%s%s", alder_exit_describe(&inst->exit, what, sizeof(what)),
                         inst->oom_killed ? " (out of memory: the memory limit was reached)" : "");
}

static unsigned backoff_ms(struct appd *d, unsigned restarts)
{
        uint64_t delay = d->set.restart_delay_ms;
        for (unsigned i = 0; i < restarts && delay < d->set.restart_delay_max_ms; i++)
                delay *= 2;
        return (unsigned) ALDER_MIN(delay, (uint64_t) d->set.restart_delay_max_ms);
}

/* After an exit of the current instance that nobody asked for. */
static void apply_restart_policy(struct appd *d, struct unit *u, const struct instance *inst, bool ok)
{
        alder_app_restart policy = inst->meta ? inst->meta->restart : ALDER_APP_RESTART_ON_FAILURE;
        if (!u->want_running || policy == ALDER_APP_RESTART_NO || (policy == ALDER_APP_RESTART_ON_FAILURE && ok))
                return;
        uint64_t now = appd_now_ms();
        if (inst->started_ms && now - inst->started_ms >= d->set.restart_reset_ms)
                u->restarts = 0;
        unsigned delay = backoff_ms(d, u->restarts);
        u->restart_at_ms = now + delay;
        char text[32];
        snprintf(text, sizeof(text), "%u", delay);
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", u->name, "DELAY_MS", text), "restarting %s in %u ms (%s)",
                  u->name, delay, alder_app_restart_name(policy));
}

static void record_exit(struct unit *u, const struct instance *inst)
{
        u->has_exit = true;
        u->last_exit_known = inst->exit_known;
        u->last_exit = inst->exit;
        u->last_oom = inst->oom_killed;
        snprintf(u->last_exit_version, sizeof(u->last_exit_version), "%s", inst->version);
        u->last_exit_time = (int64_t) time(NULL);
}

static void run_waiters(struct appd *d, struct unit *u);

static void current_exited(struct appd *d, struct unit *u, struct instance *inst)
{
        u->current = NULL;
        record_exit(u, inst);
        bool ok = inst->exit_known && alder_exit_ok(&inst->exit);
        char what[ALDER_EXIT_DESCRIBE_MAX + 80];
        describe_exit(inst, what, sizeof(what));
        bool requested = u->state == UNIT_STOPPING;
        alder_log(requested || ok ? ALDER_LOG_NOTICE : ALDER_LOG_WARNING,
                  ALDER_LOG_FIELDS("APP", u->name, "VERSION", inst->version), "%s %s %s%s", u->name, inst->version,
                  what, inst->killed ? " after SIGKILL" : "");
        if (requested) {
                u->state = UNIT_STOPPED;
        } else {
                u->state = ok ? UNIT_STOPPED : UNIT_FAILED;
                if (!ok) {
                        char error[sizeof(inst->version) + sizeof(what) + 1];
                        snprintf(error, sizeof(error), "%s %s", inst->version, what);
                        unit_set_error(u, error);
                }
                apply_restart_policy(d, u, inst, ok);
        }
        run_waiters(d, u);
}

void instance_exited(struct appd *d, struct instance *inst)
{
        if (inst->exited)
                return;
        inst->exited = true;
        /* what it wrote last, before the FIFOs go */
        applog_read(d, inst, &inst->out);
        applog_read(d, inst, &inst->err);
        inst->oom_killed =
                inst->exit_known && inst->exit.kind == ALDER_SIGNALED && inst->exit.code == SIGKILL && oom_killed(inst);
        struct unit *u = inst->unit;
        if (u && u->candidate == inst) {
                u->candidate = NULL;
                jobs_candidate_exited(d, inst);
        } else if (u && u->current == inst) {
                current_exited(d, u, inst);
        }
        /* after the state changed and waiters were answered: the runtime's delete is not their business */
        instance_cleanup(d, inst);
        instance_free(d, inst);
}

/* ---- Units ------------------------------------------------------------------- */

int unit_start(struct appd *d, struct unit *u, alder_error **err)
{
        if (u->current)
                return alder_error_set(err, EALREADY, "app '%s' is already running (%s, pid %d)", u->name,
                                       u->current->version, (int) u->current->pid);
        _cleanup_free_ char *link = NULL;
        int r = alder_appstore_current(d->store, u->name, &link, err);
        if (r < 0)
                return r;
        char real[PATH_MAX];
        if (!realpath(link, real))
                return alder_error_sys(err, errno, "resolve '%s'", link);
        u->state = UNIT_STARTING;
        u->restart_at_ms = 0;
        u->want_running = true;
        r = instance_start(d, u, real, &u->current, err);
        if (r < 0) {
                u->current = NULL;
                u->state = UNIT_FAILED;
                unit_set_error(u, alder_error_message(*err));
                return r;
        }
        u->state = UNIT_RUNNING;
        return 0;
}

static void reply_waiter(struct appd *d, struct unit *u, struct unit_waiter *w, bool *ret_freed);

/* The current instance has gone: answer whoever waited for it, in order. */
static void run_waiters(struct appd *d, struct unit *u)
{
        while (u->waiters && !u->current) {
                struct unit_waiter *w = u->waiters;
                ALDER_LIST_REMOVE(u->waiters, w);
                bool freed = false;
                reply_waiter(d, u, w, &freed);
                free(w);
                if (freed)
                        return;
        }
}

static void reply_waiter(struct appd *d, struct unit *u, struct unit_waiter *w, bool *ret_freed)
{
        _cleanup_error_ alder_error *e = NULL;
        json_t *res = NULL;
        if (unit_stopped_result(d, u, w->then, w->keep_data, ret_freed, &res, &e) < 0)
                alder_ipc_call_reply_error(w->call, e);
        else
                alder_ipc_call_reply(w->call, res);
}

int unit_when_stopped(struct appd *d, struct unit *u, alder_ipc_call *call, enum unit_then then, bool keep_data,
                      alder_error **err)
{
        if (!u->current)
                return 0;
        struct unit_waiter *w = calloc(1, sizeof(*w));
        if (!w)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (then != THEN_REPLY_EXIT) {
                int r = instance_stop(d, u->current, err);
                if (r < 0) {
                        free(w);
                        return r;
                }
                u->state = UNIT_STOPPING;
                u->want_running = false;
                u->restart_at_ms = 0;
        }
        *w = (struct unit_waiter){.call = call, .then = then, .keep_data = keep_data};
        /* appended: waiters are answered in the order they came */
        struct unit_waiter **tail = &u->waiters, *last = NULL;
        while (*tail) {
                last = *tail;
                tail = &(*tail)->next;
        }
        w->prev = last;
        *tail = w;
        return ALDER_IPC_REPLY_LATER;
}

static void stop_timer(struct appd *d, struct instance *inst, uint64_t now)
{
        _cleanup_error_ alder_error *e = NULL;
        if (!inst->killed) {
                inst->killed = true;
                inst->kill_at_ms = now + KILL_WAIT_MS;
                if (alder_ocirt_kill(d->runtime, inst->id, SIGKILL, &e) < 0)
                        alder_log_error(ALDER_LOG_WARNING, e, ALDER_LOG_FIELDS("CONTAINER", inst->id), "SIGKILL");
                return;
        }
        /* Not gone even after SIGKILL (a runtime or kernel problem): delete it and move on. */
        alder_log(ALDER_LOG_ERR, ALDER_LOG_FIELDS("CONTAINER", inst->id), "%s did not exit after SIGKILL: deleted",
                  inst->id);
        instance_exited(d, inst);
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
        return !a ? b : !b ? a : ALDER_MIN(a, b);
}

uint64_t units_tick(struct appd *d, uint64_t now)
{
        uint64_t next = 0;
        for (struct instance *i = d->instances, *n; i; i = n) {
                n = i->next;
                if (i->kill_at_ms && !i->exited && i->kill_at_ms <= now)
                        stop_timer(d, i, now);
        }
        for (struct instance *i = d->instances; i; i = i->next)
                if (i->kill_at_ms && !i->exited)
                        next = earliest(next, i->kill_at_ms);
        for (struct unit *u = d->units; u; u = u->next) {
                if (u->restart_at_ms && u->restart_at_ms <= now && !u->current) {
                        _cleanup_error_ alder_error *e = NULL;
                        u->restarts++;
                        if (unit_start(d, u, &e) < 0) {
                                alder_log_error(ALDER_LOG_WARNING, e, ALDER_LOG_FIELDS("APP", u->name), "restart");
                                /* try again later, further apart */
                                u->want_running = true;
                                u->restart_at_ms = now + backoff_ms(d, u->restarts);
                        }
                }
                next = earliest(next, u->restart_at_ms);
        }
        return next;
}

/* ---- Recovery after a restart of appd ------------------------------------------- */

/* "hello.12.3" → ("hello", 12, 3) */
static bool parse_container_id(const char *id, char *name, size_t size, uint64_t *ret_seq, unsigned *ret_run)
{
        const char *dot = strchr(id, '.');
        if (!dot || dot == id || (size_t) (dot - id) >= size)
                return false;
        char *end, *end2;
        errno = 0;
        unsigned long long seq = strtoull(dot + 1, &end, 10);
        if (errno || end == dot + 1 || *end != '.')
                return false;
        unsigned long run = strtoul(end + 1, &end2, 10);
        if (errno || end2 == end + 1 || *end2 || run > UINT_MAX)
                return false;
        memcpy(name, id, (size_t) (dot - id));
        name[dot - id] = '\0';
        *ret_seq = seq;
        *ret_run = (unsigned) run;
        return true;
}

static int current_version_dir(struct appd *d, const char *name, char *real, uint64_t *ret_seq)
{
        _cleanup_free_ char *link = NULL;
        if (alder_appstore_current(d->store, name, &link, NULL) < 0 || !realpath(link, real))
                return -ENOENT;
        return version_dir_sequence(real, ret_seq, NULL);
}

/* Takes over a container of the current version that a previous appd started. */
static int adopt(struct appd *d, const alder_ocirt_container *c, const char *name, const char *version_dir,
                 uint64_t seq, alder_error **err)
{
        struct unit *u;
        _cleanup_app_meta_ alder_app_meta *meta = NULL;
        int r = unit_get(d, name, &u, err);
        if (r == 0)
                r = load_meta(version_dir, &meta, err);
        if (r < 0)
                return r;
        if (u->current)
                return alder_error_set(err, EEXIST, "%s already has an instance", name);
        struct instance *inst = instance_new(d, u, meta->version, seq);
        if (!inst)
                return alder_error_set(err, ENOMEM, "out of memory");
        snprintf(inst->id, sizeof(inst->id), "%s", c->id); /* keeps its own RUN */
        inst->pid = c->pid;
        inst->secd = appd_secd_state_of_bundle(d, c->id);
        inst->pidfd = pidfd_open_(c->pid);
        inst->meta = steal_pointer(&meta);
        inst->started_ms = appd_now_ms();
        if (inst->pidfd < 0 || applog_open_fifos(d, inst, false, NULL, NULL, err) < 0) {
                if (inst->pidfd < 0)
                        alder_error_sys(err, errno, "pidfd_open %d", (int) c->pid);
                instance_free(d, inst);
                return -EIO;
        }
        u->current = inst;
        u->state = UNIT_RUNNING;
        u->want_running = true;
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("APP", name, "CONTAINER", c->id), "adopted running %s %s (pid %d)",
                  name, inst->version, (int) c->pid);
        return 0;
}

/* Whatever a container of a previous run is, it is either adopted or deleted. */
static void recover_container(struct appd *d, const alder_ocirt_container *c)
{
        char name[ALDER_APP_NAME_MAX + 1], dir[PATH_MAX];
        uint64_t seq, current_seq;
        unsigned run = 0;
        _cleanup_error_ alder_error *e = NULL;
        bool ours = parse_container_id(c->id, name, sizeof(name), &seq, &run);
        if (ours && run > d->run_counter)
                d->run_counter = run; /* new ids never take one a container still has */
        bool current = ours && current_version_dir(d, name, dir, &current_seq) == 0 && seq == current_seq;
        if (current && c->status == ALDER_OCIRT_RUNNING && adopt(d, c, name, dir, seq, &e) == 0)
                return;
        if (e)
                alder_log_error(ALDER_LOG_WARNING, e, ALDER_LOG_FIELDS("CONTAINER", c->id), "cannot adopt");
        struct instance gone = {.pidfd = -1};
        snprintf(gone.id, sizeof(gone.id), "%s", c->id);
        gone.out.fd = gone.err.fd = -1;
        instance_cleanup(d, &gone);
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("CONTAINER", c->id), "deleted %s container %s",
                  current ? "stopped" : "stale", c->id);
        struct unit *u;
        if (current && unit_get(d, name, &u, NULL) == 0 && !u->current) {
                /* it ended while appd was away: the restart policy decides, exit unknown = failure */
                u->state = UNIT_FAILED;
                u->want_running = true;
                unit_set_error(u, "exited while alder-appd was not running");
                u->restart_at_ms = appd_now_ms();
        }
}

static bool belongs_to_instance(struct appd *d, const char *entry)
{
        for (struct instance *inst = d->instances; inst; inst = inst->next) {
                size_t n = strlen(inst->id);
                if (strncmp(entry, inst->id, n) == 0 && (entry[n] == '\0' || entry[n] == '.'))
                        return true;
        }
        return false;
}

/* Removes bundles and FIFOs that belong to no container any more. */
static void remove_orphans(struct appd *d, const char *dir)
{
        _cleanup_closedir_ DIR *dp = opendir(dir);
        struct dirent *de;
        while (dp && (de = readdir(dp))) {
                _cleanup_free_ char *path = NULL;
                if (de->d_name[0] == '.' || belongs_to_instance(d, de->d_name) ||
                    asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        continue;
                remove_quietly(path);
        }
}

static void start_core_apps(struct appd *d)
{
        for (size_t i = 0; d->set.core_apps && d->set.core_apps[i]; i++) {
                const char *name = d->set.core_apps[i];
                struct unit *u;
                _cleanup_error_ alder_error *e = NULL;
                int r = unit_get(d, name, &u, &e);
                if (r == 0 && (u->current || u->restart_at_ms))
                        continue;
                if (r == 0)
                        r = unit_start(d, u, &e);
                if (r < 0) {
                        /* a failing core app does not hold up the others; its policy retries it */
                        alder_log_error(ALDER_LOG_ERR, e, ALDER_LOG_FIELDS("APP", name), "core app %s", name);
                        if (r != -ENOENT && unit_find(d, name)) {
                                u->want_running = true;
                                u->restart_at_ms = appd_now_ms() + backoff_ms(d, u->restarts++);
                        }
                }
        }
}

void units_recover(struct appd *d)
{
        if (d->runtime) {
                _cleanup_free_ alder_ocirt_container *list = NULL;
                size_t n = 0;
                _cleanup_error_ alder_error *e = NULL;
                if (alder_ocirt_list(d->runtime, &list, &n, &e) < 0)
                        alder_log_error(ALDER_LOG_ERR, e, NULL, "list containers");
                for (size_t i = 0; i < n; i++)
                        recover_container(d, &list[i]);
        }
        remove_orphans(d, d->bundles_path);
        remove_orphans(d, d->fifos_path);
        start_core_apps(d);
}

/* ---- Status -------------------------------------------------------------------- */

json_t *unit_exit_json(const struct unit *u)
{
        char what[ALDER_EXIT_DESCRIBE_MAX];
        json_t *o = json_pack("{s:s,s:I,s:b,s:b}", "version", u->last_exit_version, "time",
                              (json_int_t) u->last_exit_time, "known", u->last_exit_known, "oom", u->last_oom);
        if (o && u->last_exit_known) {
                json_object_set_new(o, "description",
                                    json_string(alder_exit_describe(&u->last_exit, what, sizeof(what))));
                json_object_set_new(o, u->last_exit.kind == ALDER_EXITED ? "code" : "signal",
                                    json_integer(u->last_exit.code));
        }
        return o;
}

void unit_describe(struct unit *u, json_t *app)
{
        json_object_set_new(app, "state", json_string(u ? unit_state_name(u->state) : "installed"));
        if (!u)
                return;
        if (u->current) {
                json_object_set_new(app, "pid", json_integer(u->current->pid));
                json_object_set_new(app, "running_version", json_string(u->current->version));
                json_object_set_new(app, "secure_services", json_string(appd_secd_state_names[u->current->secd]));
                if (u->current->secd_error)
                        json_object_set_new(app, "secure_services_error", json_string(u->current->secd_error));
        }
        json_object_set_new(app, "restarts", json_integer(u->restarts));
        if (u->restart_at_ms) {
                uint64_t now = appd_now_ms();
                json_object_set_new(app, "restart_in_ms",
                                    json_integer(u->restart_at_ms > now ? (json_int_t) (u->restart_at_ms - now) : 0));
        }
        if (u->has_exit)
                json_object_set_new(app, "last_exit", unit_exit_json(u));
        if (u->last_error)
                json_object_set_new(app, "last_error", json_string(u->last_error));
}
