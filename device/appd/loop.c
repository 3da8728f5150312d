/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's one loop: poll() over the API socket, a signalfd (SIGCHLD,
 * SIGTERM, SIGINT, SIGHUP), each container's output FIFOs and pidfd; timers
 * (stop timeouts, restart back-off, health checks) set poll's timeout.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alder/log.h"
#include "appd.h"

#define MAX_REAPS_PER_WAKE 1024 /* bounds the reaping loop whatever the kernel reports */

uint64_t appd_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* What a pollfd entry belongs to. */
enum source { SRC_SERVER, SRC_SIGNAL, SRC_PIDFD, SRC_OUT, SRC_ERR, SRC_LOGD };

struct watch {
        enum source src;
        struct instance *inst;
};

static bool instance_known(struct appd *d, const struct instance *inst)
{
        for (struct instance *i = d->instances; i; i = i->next)
                if (i == inst)
                        return true;
        return false;
}

/* A child of ours exited: the reaped status of a container started by us. */
static void reap_instance(struct appd *d, struct instance *inst)
{
        siginfo_t si = {0};
        if (waitid(P_PIDFD, (id_t) inst->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) {
                if (errno == ECHILD || !inst->is_child) {
                        inst->exit_known = false;
                        instance_exited(d, inst);
                }
                return; /* a pidfd wakes before the zombie is reapable: SIGCHLD follows */
        }
        inst->exit_known = true;
        inst->exit = si.si_code == CLD_EXITED ? (alder_exit){.kind = ALDER_EXITED, .code = si.si_status}
                                              : (alder_exit){.kind = ALDER_SIGNALED, .code = si.si_status};
        instance_exited(d, inst);
}

/*
 * SIGCHLD: as the subreaper, zombies of four kinds come here — container
 * init processes (their status is recorded), the stage worker (jobs.c reaps
 * it), background deletes (unit.c) and orphans a container or runtime left behind (reaped and forgotten).
 * Each is peeked at with WNOWAIT first so that the owner reaps its own.
 */
static void reap_children(struct appd *d)
{
        for (int i = 0; i < MAX_REAPS_PER_WAKE; i++) {
                siginfo_t si = {0};
                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
                        return;
                struct instance *inst = instance_by_pid(d, si.si_pid);
                if (inst && inst->is_child && inst->pidfd >= 0)
                        reap_instance(d, inst);
                else if (si.si_pid == jobs_worker_pid(d))
                        jobs_reap_worker(d);
                else
                        (void) deletes_reap(d, si.si_pid);
                /* whatever happened above (an orphan: nothing), this zombie must not come back */
                (void) waitpid(si.si_pid, NULL, WNOHANG);
        }
}

static void handle_signals(struct appd *d)
{
        struct signalfd_siginfo si;
        bool chld = false;
        while (read(d->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                        chld = true;
                else if (si.ssi_signo == SIGHUP)
                        alder_log_info("SIGHUP: the configuration is read at start only; restart alder-appd");
                else
                        d->stopping = true;
        }
        if (chld)
                reap_children(d);
}

static void add(struct pollfd *fds, struct watch *w, size_t *n, int fd, enum source src, struct instance *inst)
{
        if (fd < 0)
                return;
        fds[*n] = (struct pollfd){.fd = fd, .events = src == SRC_LOGD ? POLLOUT : POLLIN};
        w[*n] = (struct watch){.src = src, .inst = inst};
        (*n)++;
}

static size_t count_fds(struct appd *d)
{
        size_t n = 3;
        for (struct instance *i = d->instances; i; i = i->next)
                n += 3;
        return n;
}

static void dispatch(struct appd *d, const struct watch *w, short revents)
{
        struct instance *inst = w->inst;
        if (inst && (!instance_known(d, inst) || inst->exited))
                return; /* went away while an earlier event of this round was handled */
        switch (w->src) {
        case SRC_OUT:
                applog_read(d, inst, &inst->out);
                break;
        case SRC_ERR:
                applog_read(d, inst, &inst->err);
                break;
        case SRC_PIDFD:
                reap_instance(d, inst);
                break;
        case SRC_LOGD:
                applog_logd_resume(d, false);
                break;
        default:
                break;
        }
}

static int run_once(struct appd *d, alder_error **err)
{
        uint64_t now = appd_now_ms();
        uint64_t next = units_tick(d, now);
        uint64_t job_next = jobs_tick(d, now);
        next = !next ? job_next : !job_next ? next : ALDER_MIN(next, job_next);
        uint64_t logd_next = applog_logd_deadline(d);
        if (logd_next && logd_next <= now)
                applog_logd_resume(d, true);
        else if (logd_next)
                next = !next ? logd_next : ALDER_MIN(next, logd_next);
        size_t cap = count_fds(d);
        _cleanup_free_ struct pollfd *fds = calloc(cap, sizeof(*fds));
        _cleanup_free_ struct watch *w = calloc(cap, sizeof(*w));
        if (!fds || !w)
                return alder_error_set(err, ENOMEM, "out of memory");
        size_t n = 0;
        add(fds, w, &n, alder_ipc_server_fd(d->server), SRC_SERVER, NULL);
        add(fds, w, &n, d->signal_fd, SRC_SIGNAL, NULL);
        /* output before exits, so that the last lines are read while the instance is still there */
        int logd_fd = applog_logd_wait_fd(d);
        add(fds, w, &n, logd_fd, SRC_LOGD, NULL);
        for (struct instance *i = d->instances; i && logd_fd < 0; i = i->next) { /* output waits for logd */
                add(fds, w, &n, i->out.fd, SRC_OUT, i);
                add(fds, w, &n, i->err.fd, SRC_ERR, i);
        }
        for (struct instance *i = d->instances; i; i = i->next)
                add(fds, w, &n, i->pidfd, SRC_PIDFD, i);
        int timeout = -1;
        now = appd_now_ms();
        if (next)
                timeout = next > now ? (int) ALDER_MIN(next - now, (uint64_t) 60000) : 0;
        int k = poll(fds, n, timeout);
        if (k < 0)
                return errno == EINTR ? 0 : alder_error_sys(err, errno, "poll");
        if (fds[1].revents)
                handle_signals(d);
        for (size_t i = 2; i < n; i++)
                if (fds[i].revents)
                        dispatch(d, &w[i], fds[i].revents);
        if (fds[0].revents)
                return alder_ipc_server_run_once(d->server, 0, err);
        return 0;
}

int appd_run(struct appd *d, alder_error **err)
{
        /* containers' init processes become our children when the runtime exits: we reap them */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                alder_log(ALDER_LOG_WARNING, NULL, "PR_SET_CHILD_SUBREAPER: %s: exit codes will be unknown",
                          strerror(errno));
        static const int signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
        int r = d->signal_fd = alder_signalfd_open(signals, ALDER_ARRAY_SIZE(signals), err);
        if (r < 0)
                return r;
        units_recover(d);
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("SOCKET", d->socket_path, "STORE", d->store_path), "ready");
        while (!d->stopping) {
                r = run_once(d, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
