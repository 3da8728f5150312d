/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-appd: the application manager (DESIGN.md §4).
 *
 * One thread, one poll loop (loop.c) over the API socket, a signalfd, the
 * output pipes of the containers and the pidfds of containers adopted from a
 * previous run. Each installed app that has run is a *unit* (unit.c) with at
 * most two *instances* (containers): the current one and, during an update,
 * the candidate being health-checked (jobs.c). Heavy work — verifying and
 * unpacking packages — runs in the short-lived worker alder-app-stage, so the
 * daemon stays small and keeps answering while a package unpacks.
 *
 * The daemon is the child subreaper of the containers it starts, so it reaps
 * their init processes and records their exit status; containers adopted after
 * a restart of the daemon are watched through pidfds (exit status unknown).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "alder/appstore.h"
#include "alder/ipc.h"
#include "alder/keys.h"
#include "alder/ocirt.h"
#include "alder/spawn.h"

/* From the command line; NULL fields come from the config file or defaults. */
struct appd_config {
        const char *root;         /* prefix for every path ("" on a device; a temp folder in tests) */
        const char *config;       /* default ROOT/config/appd.json */
        const char *store;        /* default ROOT/var/lib/alder/apps */
        const char *trust;        /* default ROOT/config/trust */
        const char *socket;       /* default ROOT/run/alder/appd.sock */
        const char *vendor;       /* vendor domain packages must be for (NULL: the default) */
        const char *arch;         /* NULL: this machine's */
        const char *runtime;      /* "crun", "runc", "auto" or NULL: the config file's */
        const char *stage_helper; /* NULL: alder-app-stage beside this program */
        int limits;               /* 1/0 from --limits/--no-limits, -1: the config file's */
};

/* The config file (docs/api/appd.md#configuration), with defaults. */
struct appd_settings {
        char *runtime;                 /* NULL: auto */
        bool limits;                   /* cgroup memory/cpu/pids limits */
        char **core_apps;              /* started when appd starts, in this order */
        uint64_t log_max_bytes;        /* per-app log file before it is rotated to NAME.log.1 */
        unsigned stop_timeout_ms;      /* SIGTERM → SIGKILL */
        unsigned restart_delay_ms;     /* first back-off delay */
        unsigned restart_delay_max_ms; /* back-off cap */
        unsigned restart_reset_ms;     /* a run this long resets the back-off */
        char *secd_socket;             /* alder-secd's admin socket (NULL: ROOT/run/alder/secd/admin.sock) */
        char *logd_socket;             /* alder-logd's datagram socket (NULL: ROOT/run/alder/log.sock) */
};

/* Where a stream of a container's output goes (applog.c). */
struct applog_stream {
        int fd; /* read end of the FIFO, -1 when closed */
        bool is_stderr;
        size_t len;
        char buf[2048]; /* the partial line */
};

struct unit;

/* An instance's alder-secd socket (secd.c), as app.status shows it. */
enum appd_secd_state {
        APPD_SECD_NONE,        /* the app asked for none (permissions.secure_services) */
        APPD_SECD_AVAILABLE,   /* mounted */
        APPD_SECD_UNAVAILABLE, /* started without: secd_error says why */
        APPD_SECD_UNKNOWN,     /* adopted from a previous alder-appd, bundle gone */
};
extern const char *const appd_secd_state_names[];

/*
 * One container: id NAME.SEQUENCE.RUN — a candidate can run beside the current
 * version, and a new run never waits for the deletion of the previous one.
 */
struct instance {
        struct instance *prev, *next;
        struct unit *unit; /* NULL once the unit has gone */
        alder_app_meta *meta;
        char id[ALDER_OCIRT_ID_MAX + 1];
        char version[128];
        uint64_t sequence;
        pid_t pid;
        int pidfd;
        bool is_child; /* started by this process: its exit status can be reaped */
        bool exited;
        alder_exit exit; /* valid when exited and exit_known */
        bool exit_known;
        bool oom_killed;
        uint64_t started_ms;      /* monotonic */
        unsigned stop_timeout_ms; /* 0: the configured one */
        uint64_t kill_at_ms;      /* stop in progress: when SIGKILL follows SIGTERM (0: none) */
        bool killed;              /* SIGKILL was needed */
        enum appd_secd_state secd;
        char *secd_error; /* why it runs without its alder-secd socket */
        struct applog_stream out, err;
};

enum unit_state {
        UNIT_INSTALLED, /* never started since appd or the app was installed */
        UNIT_STARTING,
        UNIT_RUNNING,
        UNIT_STOPPING,
        UNIT_STOPPED,
        UNIT_FAILED,
};

/* What to do once a unit's current instance has gone (unit_when_stopped). */
enum unit_then {
        THEN_REPLY_STOP, /* app.stop */
        THEN_REMOVE,     /* app.remove */
        THEN_RESTART,    /* app.restart */
        THEN_REPLY_EXIT, /* app.wait: waits for the exit without asking for it */
};

struct unit_waiter {
        struct unit_waiter *prev, *next;
        alder_ipc_call *call;
        enum unit_then then;
        bool keep_data;
};

struct unit {
        struct unit *prev, *next;
        char name[ALDER_APP_NAME_MAX + 1];
        enum unit_state state;
        struct instance *current;
        struct instance *candidate; /* an update being health-checked (jobs.c) */
        bool want_running;          /* started by request or as a core app: the restart policy applies */
        unsigned restarts;          /* consecutive automatic restarts */
        uint64_t restart_at_ms;     /* a restart is scheduled (0: none) */
        char *last_error;           /* why the last start or run failed */
        /* the last exit: what it was and when */
        bool has_exit;
        bool last_exit_known;
        alder_exit last_exit;
        bool last_oom;
        char last_exit_version[128];
        int64_t last_exit_time; /* unix seconds */
        struct unit_waiter *waiters;
        int log_fd; /* the per-app log file, opened on first output */
};

struct appd_job; /* jobs.c */

/* A `runtime delete` running in the background; the bundle goes once it is done. */
struct pending_delete {
        struct pending_delete *prev, *next;
        alder_proc *proc;
        char id[ALDER_OCIRT_ID_MAX + 1];
};

struct appd {
        struct appd_config cfg;
        struct appd_settings set;
        char *root, *store_path, *trust_path, *socket_path, *config_path, *stage_helper;
        char *bundles_path;       /* ROOT/run/alder/bundles: config.json per container */
        char *fifos_path;         /* ROOT/run/alder/output: the output FIFOs per container */
        char *logs_path;          /* ROOT/var/log/alder/apps: NAME.log per app */
        char *secd_socket;        /* alder-secd's admin socket */
        char *secd_apps_dir;      /* beside it, apps/NAME: the folder of each app's socket */
        char *logd_socket;        /* where the apps' output goes when alder-logd runs (applog.c) */
        int logd_fd;              /* connected to it, non-blocking; -1: not (now) */
        uint64_t logd_retry_ms;   /* no new connect before (monotonic ms) */
        uint64_t logd_blocked_ms; /* its queue was full at this time (0: not): output waits for it */
        alder_appstore *store;
        alder_ocirt *runtime; /* NULL when none could be opened (store functions still work) */
        char *runtime_error;  /* why, then */
        alder_ipc_server *server;
        struct unit *units;
        struct instance *instances; /* every container this appd knows, current, candidate or stopping */
        struct appd_job *jobs;      /* install/update queue: the head runs */
        struct pending_delete *deleting;
        unsigned run_counter; /* RUN of the last container id */
        int signal_fd;
        bool stopping;
};

/* appd.c */
int appd_init(struct appd *d, const struct appd_config *cfg, alder_error **err);
void appd_done(struct appd *d);
extern const alder_ipc_method appd_methods[];
int appd_need_runtime(struct appd *d, alder_error **err);

/* loop.c: runs until SIGTERM/SIGINT; stops nothing (apps keep running across appd restarts). */
int appd_run(struct appd *d, alder_error **err);
uint64_t appd_now_ms(void);

/* unit.c */
const char *unit_state_name(enum unit_state s);
struct unit *unit_find(struct appd *d, const char *name);
int unit_get(struct appd *d, const char *name, struct unit **ret, alder_error **err);
void unit_free(struct appd *d, struct unit *u);
/* Replaces the unit's last_error (NULL: none). */
void unit_set_error(struct unit *u, const char *message);
/* Starts the current version. -EALREADY when it runs. */
int unit_start(struct appd *d, struct unit *u, alder_error **err);
/* Starts version_dir (a staged or current version) as a new instance. */
int instance_start(struct appd *d, struct unit *u, const char *version_dir, struct instance **ret, alder_error **err);
/* SIGTERM now, SIGKILL at the timeout; the instance is deleted when it has gone. */
int instance_stop(struct appd *d, struct instance *inst, alder_error **err);
void instance_free(struct appd *d, struct instance *inst);
/* Queues `then` for when the unit's instance is gone (now if it runs none); may free the unit (remove). */
/* The answer to a waiter once the unit runs nothing (appd.c); *ret_freed when the unit was removed. */
int unit_stopped_result(struct appd *d, struct unit *u, enum unit_then then, bool keep_data, bool *ret_freed,
                        json_t **ret, alder_error **err);
int unit_when_stopped(struct appd *d, struct unit *u, alder_ipc_call *call, enum unit_then then, bool keep_data,
                      alder_error **err);
/* An instance exited (reaped or seen through its pidfd). */
void instance_exited(struct appd *d, struct instance *inst);
/* Timers due: SIGKILL after a stop timeout, scheduled restarts. Returns the next deadline (0: none). */
uint64_t units_tick(struct appd *d, uint64_t now);
/* Adopts the containers a previous appd left, deletes stale ones, then starts the core apps. */
void units_recover(struct appd *d);
/* The unit's last exit as app.status shows it. */
json_t *unit_exit_json(const struct unit *u);
/* The unit's part of app.status: state, pid, last exit, restarts. */
void unit_describe(struct unit *u, json_t *app);
/* Finds the instance by pid (for the reaper). */
struct instance *instance_by_pid(struct appd *d, pid_t pid);
/* A background delete exited: true when pid was one. */
bool deletes_reap(struct appd *d, pid_t pid);
/* Waits for the background deletes (at exit). */
void deletes_finish(struct appd *d);

/* secd.c */
/* The cgroup of an instance ("/alder/ID"), or with instance_id NULL the prefix of all the app's ("/alder/NAME."). */
int appd_cgroup_path(const char *name, const char *instance_id, char **ret, alder_error **err);
/*
 * Before inst starts: asks alder-secd to serve its app and makes the mount
 * point in rootfs; *ret_dir is the host folder to mount (NULL: none), and
 * inst->secd says which. Fails only when the app requires secure services.
 */
int appd_secd_prepare(struct appd *d, struct instance *inst, alder_app_secure_services want, const char *rootfs,
                      uint32_t id_start, char **ret_dir, alder_error **err);
/* What the bundle of a container adopted from a previous alder-appd mounts. */
enum appd_secd_state appd_secd_state_of_bundle(struct appd *d, const char *id);
/* Asks alder-secd to drop the app's socket; purge: also its keys and secrets. */
int appd_secd_remove(struct appd *d, const char *name, bool purge, alder_error **err);

/* applog.c */
int applog_open_fifos(struct appd *d, struct instance *inst, bool create, int *ret_out_w, int *ret_err_w,
                      alder_error **err);
void applog_read(struct appd *d, struct instance *inst, struct applog_stream *s);
void applog_close(struct appd *d, struct instance *inst);
/* While alder-logd's queue is full: the fd to wait on for POLLOUT (-1: not waiting), and the deadline of the wait. */
int applog_logd_wait_fd(const struct appd *d);
uint64_t applog_logd_deadline(const struct appd *d);
/* alder-logd takes output again (POLLOUT), or has not for too long (the deadline): output goes on. */
void applog_logd_resume(struct appd *d, bool timed_out);
int appd_read_log(struct appd *d, const char *name, int64_t offset, size_t max, json_t **ret, alder_error **err);

/* jobs.c: install and update */
int jobs_install(struct appd *d, alder_ipc_call *call, const char *package, bool update_only, alder_error **err);
/* The stage worker or a health command exited / timers: returns the next deadline (0: none). */
uint64_t jobs_tick(struct appd *d, uint64_t now);
pid_t jobs_worker_pid(struct appd *d);
void jobs_reap_worker(struct appd *d);
/* A candidate instance exited during its health check. */
void jobs_candidate_exited(struct appd *d, struct instance *inst);
void jobs_free(struct appd *d);
/* The update of `name` in progress, for app.status (NULL: none). */
json_t *jobs_describe(struct appd *d, const char *name);
