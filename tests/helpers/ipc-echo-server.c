/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipc-echo-server: a small server on libalder's IPC API for system tests.
 *
 *     ipc-echo-server [--name NAME] [--mode OCTAL] [--max-connections N]
 *                     [--max-message-size BYTES] [--idle-timeout-ms MS] SOCKET
 *
 * Prints "ready" on stdout once SOCKET accepts connections; SIGTERM or SIGINT
 * stop it cleanly (the socket file is removed).
 *
 * Methods:
 *   echo   returns its params
 *   peer   returns the caller's {"pid", "uid", "gid"} (SO_PEERCRED)
 *   sleep  {"ms": 0..60000} replies {"slept_ms": ms} after that delay; the
 *          reply is deferred, so other clients are served meanwhile
 *   fail   {"errno": positive int (default ENOENT), "message": str} returns
 *          that error
 *
 * It also shows how a daemon folds the server into its own epoll loop next to
 * its own fds (a signalfd, one timerfd per sleeping call).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "alder/ipc.h"
#include "alder/list.h"

#define SOURCE "params"

/* A deferred "sleep" call and the timer that ends it. */
struct sleeper {
        struct sleeper *prev, *next; /* in app.sleepers, so none is lost at exit */
        int timer_fd;
        int64_t ms;
        alder_ipc_call *call;
};

struct app {
        int epoll_fd;
        alder_ipc_server *srv;
        int signal_fd;
        struct sleeper *sleepers;
};

static int m_echo(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        *ret = json_incref(params);
        return 0;
}

static int m_peer(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const alder_ipc_peer *p = alder_ipc_call_peer(call);
        *ret = json_pack("{s:I, s:I, s:I}", "pid", (json_int_t) p->pid, "uid", (json_int_t) p->uid, "gid",
                         (json_int_t) p->gid);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

static int m_fail(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        int64_t errnum = ENOENT;
        const char *message = "requested failure";
        int r = alder_json_get_int_range(params, SOURCE, "errno", ALDER_JSON_OPTIONAL, 1, 4095, &errnum, err);
        if (r < 0)
                return r;
        r = alder_json_get_string(params, SOURCE, "message", ALDER_JSON_OPTIONAL, &message, err);
        if (r < 0)
                return r;
        return alder_error_set(err, (int) errnum, "%s", message);
}

static int m_sleep(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct app *app = alder_ipc_call_userdata(call);
        int64_t ms;
        int r = alder_json_get_int_range(params, SOURCE, "ms", 0, 0, 60000, &ms, err);
        if (r < 0)
                return r;

        _cleanup_free_ struct sleeper *s = calloc(1, sizeof(*s));
        if (!s)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_close_ int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
                return alder_error_sys(err, errno, "create timerfd");
        /* it_value 0 would disarm: a 0 ms sleep fires after 1 ns */
        struct itimerspec its = {.it_value = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 + 1}};
        if (timerfd_settime(fd, 0, &its, NULL) < 0)
                return alder_error_sys(err, errno, "arm timerfd");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        if (epoll_ctl(app->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return alder_error_sys(err, errno, "watch timerfd");

        s->timer_fd = steal_fd(&fd);
        s->ms = ms;
        s->call = call;
        ALDER_LIST_PREPEND(app->sleepers, s);
        s = NULL; /* freed by sleeper_done() */
        return ALDER_IPC_REPLY_LATER;
}

static void sleeper_done(struct app *app, struct sleeper *s)
{
        epoll_ctl(app->epoll_fd, EPOLL_CTL_DEL, s->timer_fd, NULL);
        close(s->timer_fd);
        ALDER_LIST_REMOVE(app->sleepers, s);
        alder_ipc_call_reply(s->call, json_pack("{s:I}", "slept_ms", (json_int_t) s->ms));
        free(s);
}

static const alder_ipc_method methods[] = {
        {"echo", m_echo}, {"peer", m_peer}, {"sleep", m_sleep}, {"fail", m_fail}, {NULL, NULL},
};

static int parse_number(const char *text, const char *option, int base, unsigned long *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(text, &end, base);
        if (errno || end == text || *end) {
                fprintf(stderr, "ipc-echo-server: %s: invalid number '%s'\n", option, text);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_args(int argc, char **argv, alder_ipc_server_options *opts, const char **ret_path)
{
        static const struct option longopts[] = {
                {"name", required_argument, NULL, 'n'},
                {"mode", required_argument, NULL, 'm'},
                {"max-connections", required_argument, NULL, 'c'},
                {"max-message-size", required_argument, NULL, 's'},
                {"idle-timeout-ms", required_argument, NULL, 'i'},
                {NULL, 0, NULL, 0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                unsigned long v = 0;
                if (c == 'n') {
                        opts->name = optarg;
                        continue;
                }
                if (c == '?' || parse_number(optarg, argv[optind - 1], c == 'm' ? 8 : 10, &v) < 0)
                        return -EINVAL;
                if (c == 'm')
                        opts->socket_mode = (mode_t) v;
                else if (c == 'c')
                        opts->max_connections = (unsigned) v;
                else if (c == 's')
                        opts->max_message_size = v;
                else
                        opts->idle_timeout_ms = (unsigned) v;
        }
        if (optind != argc - 1) {
                fprintf(stderr, "usage: ipc-echo-server [--name NAME] [--mode OCTAL] [--max-connections N] "
                                "[--max-message-size BYTES] [--idle-timeout-ms MS] SOCKET\n");
                return -EINVAL;
        }
        *ret_path = argv[optind];
        return 0;
}

static int app_setup(struct app *app, const char *path, const alder_ipc_server_options *opts, alder_error **err)
{
        app->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (app->epoll_fd < 0)
                return alder_error_sys(err, errno, "create epoll instance");

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return alder_error_sys(err, errno, "block signals");
        app->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (app->signal_fd < 0)
                return alder_error_sys(err, errno, "create signalfd");

        int r = alder_ipc_server_new(path, methods, app, opts, &app->srv, err);
        if (r < 0)
                return r;

        /* data.ptr: the app itself for the server fd, &signal_fd for signals, else a sleeper */
        struct epoll_event srv_ev = {.events = EPOLLIN, .data.ptr = app};
        struct epoll_event sig_ev = {.events = EPOLLIN, .data.ptr = &app->signal_fd};
        if (epoll_ctl(app->epoll_fd, EPOLL_CTL_ADD, alder_ipc_server_fd(app->srv), &srv_ev) < 0 ||
            epoll_ctl(app->epoll_fd, EPOLL_CTL_ADD, app->signal_fd, &sig_ev) < 0)
                return alder_error_sys(err, errno, "watch fds");
        return 0;
}

static int app_run(struct app *app, alder_error **err)
{
        for (;;) {
                struct epoll_event events[16];
                int n = epoll_wait(app->epoll_fd, events, 16, -1);
                if (n < 0 && errno != EINTR)
                        return alder_error_sys(err, errno, "wait for events");
                for (int i = 0; i < n; i++) {
                        void *p = events[i].data.ptr;
                        if (p == &app->signal_fd)
                                return 0;
                        if (p != app) {
                                sleeper_done(app, p);
                                continue;
                        }
                        int r = alder_ipc_server_run_once(app->srv, 0, err);
                        if (r < 0)
                                return r;
                }
        }
}

int main(int argc, char **argv)
{
        alder_ipc_server_options opts = {.name = "ipc-echo-server"};
        const char *path;
        if (parse_args(argc, argv, &opts, &path) < 0)
                return 2;

        _cleanup_error_ alder_error *err = NULL;
        struct app app = {.epoll_fd = -1, .signal_fd = -1};
        int r = app_setup(&app, path, &opts, &err);
        if (r >= 0) {
                printf("ready\n");
                fflush(stdout);
                r = app_run(&app, &err);
        }
        /* calls still sleeping are finished after the server is gone: their replies go nowhere */
        alder_ipc_server_free(app.srv);
        while (app.sleepers)
                sleeper_done(&app, app.sleepers);
        if (app.signal_fd >= 0)
                close(app.signal_fd);
        if (app.epoll_fd >= 0)
                close(app.epoll_fd);
        if (r < 0)
                fprintf(stderr, "ipc-echo-server: %s\n", alder_error_message(err));
        return r < 0 ? 1 : 0;
}
