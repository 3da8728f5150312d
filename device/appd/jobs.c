/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Install and update, one at a time, in the order they were asked for:
 *
 *   1. stage: the worker alder-app-stage verifies the package against the
 *      trust anchors and unpacks it beside the current version (the daemon
 *      keeps serving meanwhile);
 *   2. an app that is not running: commit (switch `current`) and done;
 *   3. a running app: start the staged version as a candidate beside the old
 *      one and health-check it — its health command (run inside it) passes,
 *      or without one it is still up after the grace period. Healthy: commit,
 *      then stop the old instance. Unhealthy: stop the candidate, discard the
 *      staged version; the old one never stopped.
 *
 * A kill -9 at any point leaves the store with the old or the new version
 * (the store's recovery removes staged leftovers) and units_recover() deletes
 * the containers that are not of the current version.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/list.h"
#include "alder/log.h"
#include "appd.h"

#define HEALTH_PROBE_MS    500u   /* between two runs of a health command */
#define HEALTH_CMD_TIMEOUT 10000u /* ms one run may take */
#define STAGE_OUTPUT_MAX   65536u

enum job_phase { JOB_QUEUED, JOB_STAGING, JOB_HEALTH };

struct appd_job {
        struct appd_job *prev, *next;
        alder_ipc_call *call;
        char *package;
        bool update_only;
        enum job_phase phase;
        alder_proc *worker;
        alder_appstore_staged staged;
        struct unit *unit;          /* JOB_HEALTH: whose candidate is checked */
        struct instance *candidate; /* JOB_HEALTH */
        char old_version[128];
        uint64_t deadline_ms;   /* JOB_HEALTH: end of the grace period */
        uint64_t next_probe_ms; /* JOB_HEALTH with a health command */
        bool probe_passed;
        char *probe_result; /* what the last health command run said */
};

static void job_free(struct appd *d, struct appd_job *job)
{
        ALDER_LIST_REMOVE(d->jobs, job);
        alder_proc_free(job->worker);
        alder_appstore_staged_clear(&job->staged);
        free(job->probe_result);
        free(job->package);
        free(job);
}

static void job_begin(struct appd *d);

/* Ends the head job with an error reply (the staged version, if any, is discarded). */
static void job_fail(struct appd *d, struct appd_job *job, alder_error *e)
{
        _cleanup_error_ alder_error *e2 = NULL;
        if (job->staged.dir && alder_appstore_discard(d->store, &job->staged, &e2) < 0)
                alder_log_error(ALDER_LOG_WARNING, e2, NULL, "discard the staged version");
        alder_log_error(ALDER_LOG_ERR, e, ALDER_LOG_FIELDS("PACKAGE", job->package), "install failed");
        alder_ipc_call_reply_error(job->call, e);
        job_free(d, job);
        job_begin(d);
}

static void job_done(struct appd *d, struct appd_job *job, bool restarted)
{
        char seq[32];
        snprintf(seq, sizeof(seq), "%llu", (unsigned long long) job->staged.sequence);
        alder_log(ALDER_LOG_NOTICE,
                  ALDER_LOG_FIELDS("APP", job->staged.name, "VERSION", job->staged.version, "SEQUENCE", seq),
                  "installed %s %s%s", job->staged.name, job->staged.version,
                  restarted ? " (running, health check passed)" : "");
        json_t *res = json_pack("{s:s,s:s,s:I,s:b}", "name", job->staged.name, "version", job->staged.version,
                                "sequence", (json_int_t) job->staged.sequence, "running", restarted);
        if (res && job->old_version[0])
                json_object_set_new(res, "previous_version", json_string(job->old_version));
        alder_ipc_call_reply(job->call, res);
        job_free(d, job);
        job_begin(d);
}

static int spawn_worker(struct appd *d, struct appd_job *job, alder_error **err)
{
        const char *arch = d->cfg.arch ? d->cfg.arch : alder_arch_native();
        const char *argv[12] = {d->stage_helper, "--store", d->store_path, "--trust", d->trust_path, "--arch", arch};
        size_t n = 7;
        if (d->cfg.vendor) {
                argv[n++] = "--vendor";
                argv[n++] = d->cfg.vendor;
        }
        argv[n++] = "--";
        argv[n++] = job->package;
        alder_spawn_opts o = {
                .argv = argv,
                .stdout_mode = ALDER_STDIO_PIPE,
                .stderr_mode = ALDER_STDIO_INHERIT,
                .pdeathsig = SIGKILL, /* never outlives appd: a restarted appd clears the staging area */
        };
        return alder_spawn(&o, &job->worker, err);
}

/* Starts the head job if nothing runs. */
static void job_begin(struct appd *d)
{
        struct appd_job *job = d->jobs;
        if (!job || job->phase != JOB_QUEUED)
                return;
        _cleanup_error_ alder_error *e = NULL;
        if (spawn_worker(d, job, &e) < 0) {
                alder_error_wrap(&e, "install '%s'", job->package);
                job_fail(d, job, e);
                return;
        }
        job->phase = JOB_STAGING;
}

int jobs_install(struct appd *d, alder_ipc_call *call, const char *package, bool update_only, alder_error **err)
{
        if (package[0] != '/')
                return alder_error_set(err, EINVAL, "params: field 'package': '%s' is not an absolute path", package);
        if (access(package, R_OK) < 0)
                return alder_error_sys(err, errno, "package '%s'", package);
        struct appd_job *job = calloc(1, sizeof(*job));
        if (!job || !(job->package = strdup(package))) {
                free(job);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        job->call = call;
        job->update_only = update_only;
        /* appended: the head is the one running */
        struct appd_job **tail = &d->jobs, *last = NULL;
        while (*tail) {
                last = *tail;
                tail = &(*tail)->next;
        }
        job->prev = last;
        *tail = job;
        job_begin(d);
        return ALDER_IPC_REPLY_LATER;
}

pid_t jobs_worker_pid(struct appd *d)
{
        return d->jobs && d->jobs->worker ? alder_proc_pid(d->jobs->worker) : 0;
}

/* The worker's one line: the staged version, or the error it met. */
static int parse_worker_output(struct appd *d, struct appd_job *job, const alder_exit *ex, alder_error **err)
{
        char buf[STAGE_OUTPUT_MAX + 1];
        size_t len = 0;
        int fd = alder_proc_stdout_fd(job->worker);
        for (ssize_t n; len < STAGE_OUTPUT_MAX && (n = read(fd, buf + len, STAGE_OUTPUT_MAX - len)) != 0;) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        _cleanup_json_ json_t *doc = NULL;
        char what[ALDER_EXIT_DESCRIBE_MAX];
        if (alder_json_parse("alder-app-stage output", buf, len, &doc, NULL) < 0 || !json_is_object(doc))
                return alder_error_set(err, EIO, "install '%s': alder-app-stage %s without a result", job->package,
                                       alder_exit_describe(ex, what, sizeof(what)));
        json_t *error = json_object_get(doc, "error");
        if (error) {
                const char *msg = json_string_value(json_object_get(error, "message"));
                int code = (int) json_integer_value(json_object_get(error, "code"));
                return alder_error_set(err, code < 0 ? -code : EIO, "%s", msg ? msg : "alder-app-stage failed");
        }
        if (!alder_exit_ok(ex))
                return alder_error_set(err, EIO, "install '%s': alder-app-stage %s", job->package,
                                       alder_exit_describe(ex, what, sizeof(what)));
        return alder_appstore_staged_from_json(d->store, doc, "alder-app-stage output", &job->staged, err);
}

static int start_candidate(struct appd *d, struct appd_job *job, struct unit *u, alder_error **err)
{
        int r = instance_start(d, u, job->staged.dir, &job->candidate, err);
        if (r < 0)
                return r;
        u->candidate = job->candidate;
        job->unit = u;
        job->phase = JOB_HEALTH;
        uint64_t now = appd_now_ms();
        job->deadline_ms = now + (uint64_t) job->candidate->meta->health_grace_seconds * 1000u;
        if (job->candidate->meta->health_command && job->candidate->meta->health_command[0])
                job->next_probe_ms = now + HEALTH_PROBE_MS;
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", u->name, "VERSION", job->staged.version),
                  "health-checking %s %s beside %s", u->name, job->staged.version, u->current->version);
        return 0;
}

/* Staged: commit right away, or health-check first when the app runs. */
static void job_staged(struct appd *d, struct appd_job *job)
{
        _cleanup_error_ alder_error *e = NULL;
        struct unit *u = unit_find(d, job->staged.name);
        _cleanup_json_ json_t *status = NULL;
        bool installed = alder_appstore_status(d->store, job->staged.name, &status, NULL) == 0;
        if (installed)
                snprintf(job->old_version, sizeof(job->old_version), "%s",
                         json_string_value(json_object_get(status, "version")));
        if (job->update_only && !installed) {
                alder_error_set(&e, ENOENT, "app '%s' is not installed: use 'alder app install' for a new app",
                                job->staged.name);
                job_fail(d, job, e);
                return;
        }
        if (u && u->candidate) {
                alder_error_set(&e, EBUSY, "app '%s' is being updated already", job->staged.name);
                job_fail(d, job, e);
                return;
        }
        if (u && u->current && !u->current->exited) {
                if (start_candidate(d, job, u, &e) < 0) {
                        alder_error_wrap(&e, "update %s to %s: the new version did not start; %s keeps running",
                                         job->staged.name, job->staged.version, u->current->version);
                        job_fail(d, job, e);
                }
                return;
        }
        if (alder_appstore_commit(d->store, &job->staged, &e) < 0) {
                job_fail(d, job, e);
                return;
        }
        job_done(d, job, false);
}

void jobs_reap_worker(struct appd *d)
{
        struct appd_job *job = d->jobs;
        if (!job || !job->worker)
                return;
        alder_exit ex;
        _cleanup_error_ alder_error *e = NULL;
        if (alder_proc_wait(job->worker, 0, &ex, &e) < 0) {
                if (alder_error_errno(e) == ETIMEDOUT)
                        return; /* not yet */
                job_fail(d, job, e);
                return;
        }
        int r = parse_worker_output(d, job, &ex, &e);
        alder_proc_free(steal_pointer(&job->worker));
        if (r < 0) {
                job_fail(d, job, e);
                return;
        }
        job_staged(d, job);
}

/* The candidate is healthy: it becomes current and the old instance stops. */
static void promote(struct appd *d, struct appd_job *job)
{
        struct unit *u = job->unit;
        struct instance *cand = job->candidate;
        _cleanup_error_ alder_error *e = NULL;
        if (alder_appstore_commit(d->store, &job->staged, &e) < 0) {
                (void) instance_stop(d, cand, NULL);
                u->candidate = NULL;
                job_fail(d, job, e);
                return;
        }
        struct instance *old = u->current;
        u->current = cand;
        u->candidate = NULL;
        u->state = UNIT_RUNNING;
        u->restarts = 0;
        if (old && instance_stop(d, old, &e) < 0)
                alder_log_error(ALDER_LOG_WARNING, e, ALDER_LOG_FIELDS("APP", u->name), "stop the old version");
        job_done(d, job, true);
}

/* The candidate failed its check (or exited): it goes, the old version keeps running. */
static void reject(struct appd *d, struct appd_job *job, const char *why)
{
        struct unit *u = job->unit;
        _cleanup_error_ alder_error *e = NULL;
        alder_error_set(&e, EPROTO, "update of %s to %s failed its health check: %s; %s keeps running", u->name,
                        job->staged.version, why, u->current ? u->current->version : job->old_version);
        if (job->candidate) {
                u->candidate = NULL;
                (void) instance_stop(d, job->candidate, NULL); /* neither current nor candidate: it just goes */
        }
        unit_set_error(u, alder_error_message(e));
        job_fail(d, job, e);
}

void jobs_candidate_exited(struct appd *d, struct instance *inst)
{
        struct appd_job *job = d->jobs;
        if (!job || job->candidate != inst)
                return;
        char what[ALDER_EXIT_DESCRIBE_MAX], why[ALDER_EXIT_DESCRIBE_MAX + 64];
        snprintf(why, sizeof(why), "it %s %.1f s after its start",
                 inst->exit_known ? alder_exit_describe(&inst->exit, what, sizeof(what)) : "exited",
                 (double) (appd_now_ms() - inst->started_ms) / 1000.0);
        job->candidate = NULL;
        reject(d, job, why);
}

/* One run of the health command inside the candidate. */
static void probe(struct appd *d, struct appd_job *job, uint64_t now)
{
        _cleanup_run_result_ alder_run_result res = {0};
        _cleanup_error_ alder_error *e = NULL;
        unsigned timeout = (unsigned) ALDER_MIN((uint64_t) HEALTH_CMD_TIMEOUT,
                                                job->deadline_ms > now ? job->deadline_ms - now + 1 : 1);
        char what[ALDER_EXIT_DESCRIBE_MAX];
        free(job->probe_result);
        job->probe_result = NULL;
        if (alder_ocirt_exec(d->runtime, job->candidate->id, (const char *const *) job->candidate->meta->health_command,
                             timeout, &res, &e) < 0) {
                job->probe_result = strdup(alder_error_message(e));
        } else if (alder_exit_ok(&res.exit)) {
                job->probe_passed = true;
        } else if (asprintf(&job->probe_result, "the health command %s",
                            alder_exit_describe(&res.exit, what, sizeof(what))) < 0) {
                job->probe_result = NULL;
        }
        job->next_probe_ms = appd_now_ms() + HEALTH_PROBE_MS;
}

uint64_t jobs_tick(struct appd *d, uint64_t now)
{
        struct appd_job *job = d->jobs;
        if (!job || job->phase != JOB_HEALTH || !job->candidate)
                return 0;
        if (job->next_probe_ms && now >= job->next_probe_ms)
                probe(d, job, now);
        if (job->probe_passed) {
                promote(d, job);
                return 0;
        }
        now = appd_now_ms();
        if (now < job->deadline_ms)
                return job->next_probe_ms ? ALDER_MIN(job->next_probe_ms, job->deadline_ms) : job->deadline_ms;
        if (!job->next_probe_ms) {
                promote(d, job); /* no health command: up for the whole grace period */
                return 0;
        }
        char why[512];
        snprintf(why, sizeof(why), "the health command did not pass within %lld s (%s)",
                 (long long) job->candidate->meta->health_grace_seconds,
                 job->probe_result ? job->probe_result : "not run");
        reject(d, job, why);
        return 0;
}

json_t *jobs_describe(struct appd *d, const char *name)
{
        struct appd_job *job = d->jobs;
        if (!job || job->phase != JOB_HEALTH || !job->unit || strcmp(job->unit->name, name) != 0)
                return NULL;
        return json_pack("{s:s,s:s}", "version", job->staged.version, "phase", "health-check");
}

void jobs_free(struct appd *d)
{
        _cleanup_error_ alder_error *e = NULL;
        alder_error_set(&e, ESHUTDOWN, "alder-appd is stopping");
        while (d->jobs) {
                struct appd_job *job = d->jobs;
                alder_ipc_call_reply_error(job->call, e);
                job_free(d, job);
        }
}
