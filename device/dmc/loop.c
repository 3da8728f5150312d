/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-dmc's life: objects, libcoap, and one poll loop over libcoap's epoll
 * fd, a signalfd (SIGTERM/SIGINT stop with a De-register, SIGHUP reloads the
 * configuration) and the pidfd of a running Reboot/Factory Reset command.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "alder/log.h"
#include "daemon.h"
#include "objects.h"

static void on_objects_changed(struct dmc_model *m, struct dmc_object *o, void *ctx)
{
        struct dmc *d = ctx;
        d->objects_changed = true;
        if (!d->ctx)
                return;
        _cleanup_error_ alder_error *err = NULL;
        if (dmc_coap_sync_object(d, o, &err) < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "serving the paths of object %u", o->def->id);
}

int dmc_init(struct dmc *d, struct dmc_config *cfg, alder_error **err)
{
        *d = (struct dmc){0};
        d->cfg = *cfg;
        *cfg = (struct dmc_config){0};
        d->lifetime_s = d->cfg.server.lifetime_s;
        d->model.lwm2m_1_0 = strcmp(d->cfg.lwm2m_version, "1.0") == 0;
        d->model.on_change = on_objects_changed;
        d->model.on_change_ctx = d;
        int (*const adders[])(struct dmc *, alder_error **) = {
                dmc_obj_security_add, dmc_obj_server_add,   dmc_obj_device_add,
                dmc_obj_connmon_add,  dmc_obj_firmware_add, dmc_obj_apps_add,
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(adders); i++) {
                int r = adders[i](d, err);
                if (r < 0)
                        return r;
        }
        int r = dmc_coap_init(d, err);
        if (r < 0)
                return r;
        dmc_reg_start(d);
        return 0;
}

static void command_clear(struct dmc_command *c)
{
        alder_strv_free(c->argv);
        free(c->what);
        alder_proc_free(c->proc);
        *c = (struct dmc_command){0};
}

static void jobs_run(struct dmc *d)
{
        /* A job may queue another: take the list first. */
        struct dmc_job jobs[DMC_MAX_JOBS];
        size_t n = d->n_jobs;
        memcpy(jobs, d->jobs, n * sizeof(*jobs));
        d->n_jobs = 0;
        for (size_t i = 0; i < n; i++) {
                if (!d->stopping)
                        jobs[i].run(d, jobs[i].arg);
                if (jobs[i].free)
                        jobs[i].free(jobs[i].arg);
        }
}

int dmc_defer(struct dmc *d, void (*run)(struct dmc *, void *), void (*free_arg)(void *), void *arg, alder_error **err)
{
        if (d->n_jobs == DMC_MAX_JOBS) {
                if (free_arg)
                        free_arg(arg);
                return alder_error_set(err, EBUSY, "%u operations are waiting already", DMC_MAX_JOBS);
        }
        d->jobs[d->n_jobs++] = (struct dmc_job){.run = run, .free = free_arg, .arg = arg};
        return 0;
}

void dmc_done(struct dmc *d)
{
        d->stopping = true;
        jobs_run(d);
        dmc_coap_done(d);
        dmc_apps_free(d->apps);
        d->apps = NULL;
        dmc_fw_free(d->fw);
        d->fw = NULL;
        dmc_model_free(&d->model);
        command_clear(&d->command);
        dmc_config_done(&d->cfg);
        free(d->location);
        free(d->failure);
        free(d->root_arg);
        d->location = d->failure = d->root_arg = NULL;
}

/* ---- commands ------------------------------------------------------------------ */

int dmc_schedule_command(struct dmc *d, char *const *argv, const char *what, alder_error **err)
{
        struct dmc_command *c = &d->command;
        if (c->pending || c->proc)
                return alder_error_set(err, EBUSY, "%s: '%s' is still running", what, c->what);
        command_clear(c);
        size_t n = 0;
        while (argv[n])
                n++;
        c->argv = calloc(n + 1, sizeof(char *));
        c->what = strdup(what);
        for (size_t i = 0; c->argv && i < n; i++)
                if (!(c->argv[i] = strdup(argv[i]))) {
                        command_clear(c);
                        return alder_error_set(err, ENOMEM, "out of memory");
                }
        if (!c->argv || !c->what) {
                command_clear(c);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        c->pending = true;
        return 0;
}

static void command_start(struct dmc *d)
{
        struct dmc_command *c = &d->command;
        c->pending = false;
        alder_spawn_opts opts = {.argv = (const char *const *) c->argv};
        _cleanup_error_ alder_error *err = NULL;
        if (alder_spawn(&opts, &c->proc, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, ALDER_LOG_FIELDS("COMMAND", c->argv[0]), "%s", c->what);
                command_clear(c);
                return;
        }
        alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("COMMAND", c->argv[0]), "%s: started %s", c->what, c->argv[0]);
}

static void command_reap(struct dmc *d)
{
        struct dmc_command *c = &d->command;
        alder_exit ex;
        _cleanup_error_ alder_error *err = NULL;
        if (alder_proc_wait(c->proc, 0, &ex, &err) == -ETIMEDOUT)
                return;
        char buf[ALDER_EXIT_DESCRIBE_MAX];
        alder_log(alder_exit_ok(&ex) ? ALDER_LOG_INFO : ALDER_LOG_WARNING, ALDER_LOG_FIELDS("COMMAND", c->argv[0]),
                  "%s: %s %s", c->what, c->argv[0],
                  err ? alder_error_message(err) : alder_exit_describe(&ex, buf, sizeof(buf)));
        command_clear(c);
}

/* ---- configuration reload -------------------------------------------------------- */

static void reload(struct dmc *d)
{
        struct dmc_config next;
        _cleanup_error_ alder_error *err = NULL;
        if (dmc_config_load(&next, d->root_arg, d->cfg.config_path, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, NULL, "reload: keeping the running configuration");
                dmc_config_done(&next);
                return;
        }
        bool server = dmc_config_server_changed(&d->cfg, &next);
        bool lifetime = next.server.lifetime_s != d->cfg.server.lifetime_s;
        if (server) {
                alder_log_info("reload: the server, endpoint or credentials changed: registering anew with %s",
                               next.server.uri);
                dmc_reg_deregister(d, 3000);
                dmc_coap_close_session(d);
        }
        dmc_config_done(&d->cfg);
        d->cfg = next;
        d->model.lwm2m_1_0 = strcmp(d->cfg.lwm2m_version, "1.0") == 0;
        if (lifetime || server)
                d->lifetime_s = d->cfg.server.lifetime_s;
        if (server) {
                free(d->location);
                d->location = NULL;
                d->failures = 0;
                d->session_failed = false;
                dmc_reg_start(d);
        } else if (lifetime) {
                d->send_lifetime = true;
                dmc_reg_request_update(d);
        }
        alder_log_info("configuration reloaded from %s%s", d->cfg.config_path,
                       server     ? ""
                       : lifetime ? " (lifetime changed: Update)"
                                  : " (registration unchanged)");
}

/* ---- the loop ------------------------------------------------------------------------ */

static int open_signalfd(alder_error **err)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return alder_error_sys(err, errno, "sigprocmask");
        int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0)
                return alder_error_sys(err, errno, "signalfd");
        return fd;
}

/* Returns true when asked to stop. */
static bool handle_signals(struct dmc *d, int fd)
{
        struct signalfd_siginfo si;
        bool stop = false;
        while (read(fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGHUP)
                        reload(d);
                else
                        stop = true;
        }
        return stop;
}

static bool serving(const struct dmc *d)
{
        return (d->state == DMC_REG_REGISTERED || d->state == DMC_REG_UPDATING) && !d->asleep;
}

int dmc_run(struct dmc *d, alder_error **err)
{
        _cleanup_close_ int sfd = open_signalfd(err);
        if (sfd < 0)
                return sfd;
        int coap_fd = coap_context_get_coap_fd(d->ctx);
        if (coap_fd < 0)
                return alder_error_set(err, ENOTSUP, "libcoap was built without epoll: no pollable fd");
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri, "ENDPOINT", d->cfg.endpoint),
                  "alder-dmc: endpoint %s, server %s (%s)", d->cfg.endpoint, d->cfg.server.uri,
                  d->cfg.server.security == DMC_SEC_PSK    ? "DTLS-PSK"
                  : d->cfg.server.security == DMC_SEC_CERT ? "DTLS with certificates"
                                                           : "no security");
        for (;;) {
                /* I/O first: an answer handled here changes the deadlines computed below. */
                if (coap_io_process(d->ctx, COAP_IO_NO_WAIT) < 0)
                        return alder_error_set(err, EIO, "libcoap: I/O processing failed");
                int64_t now = dmc_now_ms();
                int64_t next = dmc_reg_tick(d, now);
                if (serving(d)) {
                        if (d->next_observe_ms <= now)
                                d->next_observe_ms = dmc_coap_observe_tick(d, now);
                        next = ALDER_MIN(next, d->next_observe_ms);
                }
                /* Started after the I/O above sent the answer to the Execute. */
                if (d->command.pending)
                        command_start(d);
                if (d->n_jobs) {
                        jobs_run(d);
                        continue; /* what they changed may be worth a notification now */
                }
                if (d->apps)
                        next = ALDER_MIN(next, dmc_apps_tick(d->apps, now));
                int fw_coap = -1, fw_event = -1;
                if (d->fw) {
                        next = ALDER_MIN(next, dmc_fw_tick(d->fw, now));
                        fw_event = dmc_fw_fds(d->fw, &fw_coap);
                }
                struct pollfd pfd[5] = {{.fd = sfd, .events = POLLIN},
                                        {.fd = -1},
                                        {.fd = -1},
                                        {.fd = fw_coap, .events = POLLIN},
                                        {.fd = fw_event, .events = POLLIN}};
                if (!d->asleep)
                        pfd[1] = (struct pollfd){.fd = coap_fd, .events = POLLIN};
                if (d->command.proc)
                        pfd[2] = (struct pollfd){.fd = alder_proc_pidfd(d->command.proc), .events = POLLIN};
                int64_t wait = next - dmc_now_ms();
                int timeout = wait <= 0 ? 0 : wait > INT_MAX ? INT_MAX : (int) wait;
                if (poll(pfd, 5, timeout) < 0 && errno != EINTR)
                        return alder_error_sys(err, errno, "poll");
                if ((pfd[0].revents & POLLIN) && handle_signals(d, sfd))
                        break;
                if (pfd[2].revents & POLLIN)
                        command_reap(d);
                if (pfd[4].revents & POLLIN)
                        dmc_fw_event(d->fw);
        }
        alder_log_info("stopping");
        int64_t wait = ALDER_MIN(ALDER_MAX(2 * d->cfg.ack_timeout_ms, 3000), 10000);
        dmc_reg_deregister(d, (int) wait);
        d->stopping = true;
        return 0;
}
