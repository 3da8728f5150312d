/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPC server: one epoll set holds the listening socket, a timerfd for idle
 * timeouts, an eventfd for stop() and every connection, so a daemon can poll
 * the one fd in its own loop.
 *
 * Memory per connection is bounded without a separate output limit: a
 * connection is read only while nothing is in flight on it (no handler
 * pending, no reply unsent), so its input holds at most one frame and its
 * output at most one reply, both within the maximum message size. A client
 * that sends without reading stalls on its own socket buffer and is closed by
 * the idle timeout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, struct ucred; the fuzz build compiles without meson's flags */
#endif
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "alder/list.h"
#include "ipc-internal.h"

#define DEFAULT_SOCKET_MODE     0600
#define DEFAULT_MAX_CONNECTIONS 64u
#define DEFAULT_IDLE_TIMEOUT_MS 30000u
/* Pause before accepting again after EMFILE and the like (the listening socket would stay readable). */
#define ACCEPT_RETRY_MS 100u
/* Connections accepted per wakeup, so a flood of connects cannot starve established clients. */
#define ACCEPT_BATCH 16u
#define MAX_EVENTS   32

struct conn {
        struct conn *prev, *next;
        alder_ipc_server *srv;
        int fd;
        uint32_t events; /* what epoll watches now */
        alder_ipc_peer peer;
        struct ipc_buf in, out;
        uint64_t last_active_ms;
        alder_ipc_call *pending; /* the request being answered, if any */
        bool eof;                /* the client shut down its sending side */
        bool closing;            /* close once the output is out (after a protocol error) */
        bool stepping;           /* conn_step() is on the stack: a reply from a handler must not re-enter it */
        bool dead;               /* closed; freed at the end of the loop iteration, events for it are stale */
};

struct alder_ipc_call {
        struct conn *conn; /* NULL once the connection is gone */
        json_t *request;   /* owns id and method */
        const json_t *id;
        const char *method;
        alder_ipc_peer peer;
        void *userdata;
};

struct alder_ipc_server {
        /* epoll data of the three fds below points at these fields; any other pointer is a connection */
        int epoll_fd, listen_fd, timer_fd, stop_fd;
        char *path;
        dev_t sock_dev; /* identity of the socket file we created, so free() removes only ours */
        ino_t sock_ino;
        char *name;
        const alder_ipc_method *methods;
        void *userdata;
        size_t max_message;
        unsigned max_connections;
        unsigned idle_timeout_ms;
        struct conn *conns;
        unsigned n_conns;
        struct conn *dead;        /* closed connections not freed yet (singly linked via next) */
        uint64_t accept_retry_ms; /* not 0: accepting is paused until then */
        uint64_t timer_ms;        /* deadline the timerfd is armed for, UINT64_MAX: disarmed */
        atomic_bool stop_requested;
};

static void conn_step(struct conn *c);

static int epoll_set(alder_ipc_server *srv, int op, int fd, uint32_t events, void *ptr)
{
        struct epoll_event ev = {.events = events, .data.ptr = ptr};
        return epoll_ctl(srv->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

/* ---- Replies --------------------------------------------------------------- */

static int append_error_text(alder_ipc_server *srv, struct ipc_buf *out, const json_t *id, int errnum,
                             const char *message)
{
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "%s%s%s", srv->name ? srv->name : "", srv->name ? ": " : "", message) < 0)
                return -ENOMEM;
        _cleanup_json_ json_t *reply = ipc_reply_error_new(id, errnum, text);
        if (!reply)
                return -EILSEQ; /* jansson refuses strings that are not UTF-8 */
        return ipc_frame_append(out, reply, srv->max_message, NULL);
}

/* Appends an error reply naming the server; the errno gets through even when the message cannot. */
static int append_error(alder_ipc_server *srv, struct ipc_buf *out, const json_t *id, alder_error *e)
{
        int errnum = alder_error_errno(e);
        if (append_error_text(srv, out, id, errnum, alder_error_message(e)) == 0)
                return 0;
        return append_error_text(srv, out, id, errnum, "error message not sendable (not UTF-8 or too long)");
}

static int append_result(alder_ipc_server *srv, struct ipc_buf *out, const json_t *id, json_t *result_stolen)
{
        _cleanup_error_ alder_error *e = NULL;
        _cleanup_json_ json_t *reply = ipc_reply_result_new(id, result_stolen);
        if (!reply) {
                alder_error_set(&e, ENOMEM, "reply: out of memory (or result not serializable)");
                return append_error(srv, out, id, e);
        }
        int r = ipc_frame_append(out, reply, srv->max_message, &e);
        if (r < 0) {
                alder_error_wrap(&e, "reply");
                return append_error(srv, out, id, e);
        }
        return 0;
}

/* A connection whose reply cannot even be queued is closed: the client sees the stream end. */
static void conn_append_error(struct conn *c, const json_t *id, alder_error *e)
{
        if (append_error(c->srv, &c->out, id, e) < 0)
                c->closing = true;
}

/* ---- Calls ----------------------------------------------------------------- */

const alder_ipc_peer *alder_ipc_call_peer(const alder_ipc_call *call)
{
        return &call->peer;
}

void *alder_ipc_call_userdata(const alder_ipc_call *call)
{
        return call->userdata;
}

const char *alder_ipc_call_method(const alder_ipc_call *call)
{
        return call->method;
}

static alder_ipc_call *call_new(struct conn *c, const alder_ipc_request *req)
{
        alder_ipc_call *call = calloc(1, sizeof(*call));
        if (!call)
                return NULL;
        *call = (alder_ipc_call){
                .conn = c,
                .request = json_incref(req->root),
                .id = json_object_get(req->root, "id"),
                .method = req->method,
                .peer = c->peer,
                .userdata = c->srv->userdata,
        };
        c->pending = call;
        return call;
}

/* Queues the reply (result stolen, or error borrowed) and frees the call. */
static void call_finish(alder_ipc_call *call, json_t *result, alder_error *error)
{
        struct conn *c = call->conn;
        if (c) {
                int r = error ? append_error(c->srv, &c->out, call->id, error)
                              : append_result(c->srv, &c->out, call->id, result);
                if (r < 0)
                        c->closing = true;
                c->pending = NULL;
        } else if (result) {
                json_decref(result);
        }
        json_decref(call->request);
        free(call);
}

static void server_arm_timer(alder_ipc_server *srv);

static void call_finish_later(alder_ipc_call *call, json_t *result, alder_error *error)
{
        struct conn *c = call->conn;
        call_finish(call, result, error);
        if (!c)
                return;
        conn_step(c);
        /* the connection went from "busy" to "idle": its idle deadline counts again */
        server_arm_timer(c->srv);
}

void alder_ipc_call_reply(alder_ipc_call *call, json_t *result)
{
        call_finish_later(call, result, NULL);
}

void alder_ipc_call_reply_error(alder_ipc_call *call, alder_error *error)
{
        if (!error) {
                _cleanup_error_ alder_error *e = NULL;
                alder_error_set(&e, EIO, "method '%s' failed without an error message", call->method);
                call_finish_later(call, NULL, e);
                return;
        }
        call_finish_later(call, NULL, error);
}

/* ---- Connections ----------------------------------------------------------- */

static void resume_accept(alder_ipc_server *srv)
{
        if (epoll_set(srv, EPOLL_CTL_MOD, srv->listen_fd, EPOLLIN, &srv->listen_fd) == 0)
                srv->accept_retry_ms = 0;
}

static void conn_close(struct conn *c)
{
        alder_ipc_server *srv = c->srv;
        if (c->dead)
                return;
        epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        if (c->pending)
                c->pending->conn = NULL; /* the handler still owns the call; its reply goes nowhere */
        c->pending = NULL;

        ALDER_LIST_REMOVE(srv->conns, c);
        c->next = srv->dead;
        srv->dead = c;
        srv->n_conns--;
        c->dead = true;

        /* a file descriptor just came free: accepting may work again */
        if (srv->accept_retry_ms)
                resume_accept(srv);
}

static void server_reap(alder_ipc_server *srv)
{
        while (srv->dead) {
                struct conn *c = srv->dead;
                srv->dead = c->next;
                ipc_buf_free(&c->in);
                ipc_buf_free(&c->out);
                free(c);
        }
}

/* Sends queued output: 0 once all is out, -EAGAIN while the socket is full; closes c on a send error. */
static int conn_flush(struct conn *c)
{
        size_t before = c->out.len;
        if (before == 0)
                return 0;
        int r = ipc_buf_send(c->fd, &c->out);
        if (c->out.len < before)
                c->last_active_ms = ipc_now_ms();
        if (r < 0 && r != -EAGAIN)
                conn_close(c);
        return r;
}

static const alder_ipc_method *find_method(const alder_ipc_server *srv, const char *name)
{
        for (const alder_ipc_method *m = srv->methods; m->name; m++)
                if (strcmp(m->name, name) == 0)
                        return m;
        return NULL;
}

/* The id to answer an invalid request with: its own if usable, else null. */
static const json_t *request_id(const json_t *root)
{
        const json_t *id = root ? json_object_get(root, "id") : NULL;
        return json_is_integer(id) && json_integer_value(id) >= 0 ? id : NULL;
}

static void conn_handle_request(struct conn *c, const uint8_t *body, size_t len)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *root = NULL;
        _cleanup_ipc_request_ alder_ipc_request req = {0};

        int r = ipc_parse_object("request", body, len, &root, &err);
        if (r >= 0)
                r = ipc_request_from_object(root, &req, &err);
        if (r < 0) {
                conn_append_error(c, request_id(root), err);
                return;
        }
        const alder_ipc_method *m = find_method(c->srv, req.method);
        if (!m) {
                alder_error_set(&err, EOPNOTSUPP, "unknown method '%s'", req.method);
                conn_append_error(c, json_object_get(root, "id"), err);
                return;
        }
        alder_ipc_call *call = call_new(c, &req);
        if (!call) {
                alder_error_set(&err, ENOMEM, "method '%s': out of memory", req.method);
                conn_append_error(c, json_object_get(root, "id"), err);
                return;
        }

        json_t *result = NULL;
        r = m->handler(call, req.params, &result, &err);
        if (r == ALDER_IPC_REPLY_LATER)
                return; /* the call belongs to the handler now */
        if (r < 0) {
                if (result) /* a failing handler should not set it; it must not leak either */
                        json_decref(result);
                if (!err)
                        alder_error_sys(&err, r, "method '%s'", req.method);
                call_finish(call, NULL, err);
                return;
        }
        call_finish(call, result, NULL);
}

/* Handles the next complete frame. Returns false when there is none to handle now. */
static bool conn_next_frame(struct conn *c)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_ipc_frame f;
        int r = alder_ipc_frame_decode(c->in.data, c->in.len, c->srv->max_message, &f, &err);
        if (r < 0) {
                /* the stream cannot be resynchronised: explain, then close */
                conn_append_error(c, NULL, err);
                c->closing = true;
                return true;
        }
        if (r == ALDER_IPC_FRAME_NEED_MORE) {
                if (c->eof) /* nothing more will come; a partial frame is dropped */
                        conn_close(c);
                return false;
        }
        conn_handle_request(c, f.body, f.body_len);
        ipc_buf_consume(&c->in, f.consumed);
        return true;
}

static void conn_update_events(struct conn *c)
{
        uint32_t events = 0;
        if (c->out.len > 0)
                events = EPOLLOUT;
        else if (!c->pending && !c->closing && !c->eof)
                events = EPOLLIN;
        if (events == c->events)
                return;
        if (epoll_set(c->srv, EPOLL_CTL_MOD, c->fd, events, c) < 0)
                conn_close(c);
        else
                c->events = events;
}

/* Moves a connection as far as it can go: send output, then answer requests one at a time. */
static void conn_step(struct conn *c)
{
        if (c->dead || c->stepping)
                return;
        c->stepping = true;
        while (!c->dead) {
                if (conn_flush(c) < 0)
                        break;
                if (c->closing) {
                        conn_close(c);
                        break;
                }
                if (c->pending || !conn_next_frame(c))
                        break;
        }
        c->stepping = false;
        if (!c->dead)
                conn_update_events(c);
}

static void conn_read(struct conn *c)
{
        ssize_t n = ipc_buf_recv(c->fd, &c->in, ALDER_IPC_HEADER_SIZE + c->srv->max_message);
        if (n > 0)
                c->last_active_ms = ipc_now_ms();
        else if (n == 0)
                c->eof = true;
        else if (n != -EAGAIN)
                conn_close(c);
}

static void conn_event(struct conn *c, uint32_t events)
{
        if (c->dead)
                return;
        if (events & EPOLLIN)
                conn_read(c);
        else if (events & (EPOLLHUP | EPOLLERR)) {
                /* reported even while we do not read: the client is gone, nothing can reach it */
                conn_close(c);
                return;
        }
        conn_step(c);
}

/* Sends a connection-level error to a connection we do not keep (best effort) and closes it. */
static void refuse(alder_ipc_server *srv, int fd, alder_error *e)
{
        struct ipc_buf out = {0};
        if (append_error(srv, &out, NULL, e) == 0 && ipc_buf_send(fd, &out) < 0) {
                /* nothing more to do: the client sees the connection close */
        }
        ipc_buf_free(&out);
        close(fd);
}

static void conn_new(alder_ipc_server *srv, int fd)
{
        _cleanup_error_ alder_error *e = NULL;
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (srv->n_conns >= srv->max_connections) {
                alder_error_set(&e, EBUSY, "too many connections (maximum %u)", srv->max_connections);
                refuse(srv, fd, e);
                return;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                alder_error_sys(&e, errno, "read peer credentials");
                refuse(srv, fd, e);
                return;
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (!c || epoll_set(srv, EPOLL_CTL_ADD, fd, EPOLLIN, c) < 0) {
                free(c);
                alder_error_set(&e, ENOMEM, "out of memory for a new connection");
                refuse(srv, fd, e);
                return;
        }
        *c = (struct conn){
                .srv = srv,
                .fd = fd,
                .events = EPOLLIN,
                .peer = {.pid = cred.pid, .uid = cred.uid, .gid = cred.gid},
                .last_active_ms = ipc_now_ms(),
        };
        ALDER_LIST_PREPEND(srv->conns, c);
        srv->n_conns++;
}

static void server_accept(alder_ipc_server *srv)
{
        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0) {
                        conn_new(srv, fd);
                        continue;
                }
                if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                if (errno != EAGAIN && epoll_set(srv, EPOLL_CTL_MOD, srv->listen_fd, 0, &srv->listen_fd) == 0)
                        /* EMFILE, ENFILE, ENOBUFS...: the socket stays readable, so stop watching it a while */
                        srv->accept_retry_ms = ipc_now_ms() + ACCEPT_RETRY_MS;
                return;
        }
}

/* ---- Timeouts -------------------------------------------------------------- */

/* A connection with a request in flight is not idle: the server, not the client, is slow. */
static uint64_t conn_deadline(const struct conn *c)
{
        return c->pending ? UINT64_MAX : c->last_active_ms + c->srv->idle_timeout_ms;
}

static void server_arm_timer(alder_ipc_server *srv)
{
        uint64_t next = srv->accept_retry_ms ? srv->accept_retry_ms : UINT64_MAX;
        for (const struct conn *c = srv->conns; c; c = c->next)
                next = ALDER_MIN(next, conn_deadline(c));
        if (next == srv->timer_ms)
                return;

        struct itimerspec its = {0}; /* all zero disarms */
        if (next != UINT64_MAX) {
                its.it_value.tv_sec = (time_t) (next / 1000u);
                its.it_value.tv_nsec = (long) (next % 1000u) * 1000000L + 1; /* never all zero */
        }
        if (timerfd_settime(srv->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
                srv->timer_ms = next;
}

static void server_expire(alder_ipc_server *srv)
{
        uint64_t ticks;
        if (read(srv->timer_fd, &ticks, sizeof(ticks)) < 0) {
                /* EAGAIN: re-armed meanwhile; the deadlines are checked below anyway */
        }
        srv->timer_ms = UINT64_MAX;

        uint64_t now = ipc_now_ms();
        if (srv->accept_retry_ms && srv->accept_retry_ms <= now)
                resume_accept(srv);
        for (struct conn *c = srv->conns, *next; c; c = next) {
                next = c->next;
                if (conn_deadline(c) <= now)
                        conn_close(c);
        }
}

/* ---- Loop ------------------------------------------------------------------ */

int alder_ipc_server_fd(const alder_ipc_server *srv)
{
        return srv->epoll_fd;
}

unsigned alder_ipc_server_connections(const alder_ipc_server *srv)
{
        return srv->n_conns;
}

int alder_ipc_server_run_once(alder_ipc_server *srv, int timeout_ms, alder_error **err)
{
        struct epoll_event events[MAX_EVENTS];
        int n = epoll_wait(srv->epoll_fd, events, MAX_EVENTS, timeout_ms);
        if (n < 0) {
                if (errno == EINTR)
                        return 0;
                return alder_error_sys(err, errno, "IPC server '%s': wait for events", srv->path);
        }

        for (int i = 0; i < n; i++) {
                void *p = events[i].data.ptr;
                if (p == &srv->listen_fd) {
                        server_accept(srv);
                } else if (p == &srv->timer_fd) {
                        server_expire(srv);
                } else if (p == &srv->stop_fd) {
                        uint64_t v;
                        if (read(srv->stop_fd, &v, sizeof(v)) < 0) {
                                /* already drained; stop_requested is what counts */
                        }
                } else {
                        conn_event(p, events[i].events);
                }
        }
        server_reap(srv);
        server_arm_timer(srv);
        return n;
}

int alder_ipc_server_run(alder_ipc_server *srv, alder_error **err)
{
        while (!atomic_load(&srv->stop_requested)) {
                int r = alder_ipc_server_run_once(srv, -1, err);
                if (r < 0)
                        return r;
        }
        atomic_store(&srv->stop_requested, false);
        return 0;
}

void alder_ipc_server_stop(alder_ipc_server *srv)
{
        int saved = errno; /* may run in a signal handler */
        uint64_t one = 1;
        atomic_store(&srv->stop_requested, true);
        if (write(srv->stop_fd, &one, sizeof(one)) < 0) {
                /* the counter is already non-zero: the loop wakes up anyway */
        }
        errno = saved;
}

/* ---- Setup ----------------------------------------------------------------- */

/* Refuses to take over a path that is a live server's socket or not a socket at all. */
static int check_stale(const char *path, const struct sockaddr_un *addr, alder_error **err)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "stat '%s'", path);
        if (!S_ISSOCK(st.st_mode))
                return alder_error_set(err, EEXIST, "'%s' exists and is not a socket; refusing to replace it", path);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return alder_error_sys(err, errno, "create socket");
        if (connect(fd, (const struct sockaddr *) addr, sizeof(*addr)) == 0 || errno == EAGAIN)
                return alder_error_set(err, EADDRINUSE, "'%s': another server is listening on it", path);
        if (errno == ECONNREFUSED || errno == ENOENT)
                return 0; /* stale (its server died) or removed meanwhile */
        return alder_error_sys(err, errno, "probe socket '%s'", path);
}

static void unlink_freep(char **path)
{
        if (*path) {
                int saved = errno;
                unlink(*path);
                errno = saved;
                free(*path);
        }
}

/*
 * Binds under a temporary name, sets the mode and renames over `path`: the
 * socket appears with its final mode, and replaces a stale one atomically.
 */
static int listen_socket(alder_ipc_server *srv, mode_t mode, alder_error **err)
{
        struct sockaddr_un addr, tmp_addr;
        _cleanup_(unlink_freep) char *tmp = NULL;
        struct stat st;

        int r = ipc_socket_address(srv->path, &addr, err);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.%d.tmp", srv->path, (int) getpid()) < 0) {
                tmp = NULL;
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        r = ipc_socket_address(tmp, &tmp_addr, err);
        if (r < 0)
                return alder_error_wrap(err, "temporary name of the socket");
        r = check_stale(srv->path, &addr, err);
        if (r < 0)
                return r;

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return alder_error_sys(err, errno, "create socket");
        unlink(tmp); /* left over by a crashed process that had our pid */
        if (bind(fd, (const struct sockaddr *) &tmp_addr, sizeof(tmp_addr)) < 0)
                return alder_error_sys(err, errno, "bind '%s'", tmp);
        if (chmod(tmp, mode) < 0)
                return alder_error_sys(err, errno, "chmod '%s'", tmp);
        if (listen(fd, SOMAXCONN) < 0)
                return alder_error_sys(err, errno, "listen on '%s'", tmp);
        if (lstat(tmp, &st) < 0)
                return alder_error_sys(err, errno, "stat '%s'", tmp);
        if (rename(tmp, srv->path) < 0)
                return alder_error_sys(err, errno, "rename '%s' to '%s'", tmp, srv->path);
        free(steal_pointer(&tmp));

        srv->sock_dev = st.st_dev;
        srv->sock_ino = st.st_ino;
        srv->listen_fd = steal_fd(&fd);
        return 0;
}

static int server_apply_options(alder_ipc_server *srv, const alder_ipc_server_options *opts, alder_error **err)
{
        static const alder_ipc_server_options defaults = {0};
        if (!opts)
                opts = &defaults;
        int r = ipc_max_message_size(opts->max_message_size, &srv->max_message, err);
        if (r < 0)
                return r;
        if (opts->name && !(srv->name = strdup(opts->name)))
                return alder_error_set(err, ENOMEM, "out of memory");
        srv->max_connections = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
        srv->idle_timeout_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
        return 0;
}

static int server_setup(alder_ipc_server *srv, const alder_ipc_server_options *opts, alder_error **err)
{
        int r = server_apply_options(srv, opts, err);
        if (r < 0)
                return r;
        srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (srv->epoll_fd < 0)
                return alder_error_sys(err, errno, "create epoll instance");
        srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (srv->timer_fd < 0)
                return alder_error_sys(err, errno, "create timerfd");
        srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (srv->stop_fd < 0)
                return alder_error_sys(err, errno, "create eventfd");
        r = listen_socket(srv, opts && opts->socket_mode ? opts->socket_mode : DEFAULT_SOCKET_MODE, err);
        if (r < 0)
                return r;

        int *fds[] = {&srv->listen_fd, &srv->timer_fd, &srv->stop_fd};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(fds); i++) {
                r = epoll_set(srv, EPOLL_CTL_ADD, *fds[i], EPOLLIN, fds[i]);
                if (r < 0)
                        return alder_error_sys(err, r, "add fd to epoll");
        }
        return 0;
}

int alder_ipc_server_new(const char *path, const alder_ipc_method *methods, void *userdata,
                         const alder_ipc_server_options *opts, alder_ipc_server **ret, alder_error **err)
{
        _cleanup_ipc_server_ alder_ipc_server *srv = calloc(1, sizeof(*srv));
        if (!srv)
                return alder_error_set(err, ENOMEM, "out of memory");
        srv->epoll_fd = srv->listen_fd = srv->timer_fd = srv->stop_fd = -1;
        srv->timer_ms = UINT64_MAX;
        srv->methods = methods;
        srv->userdata = userdata;
        srv->path = strdup(path);
        if (!srv->path)
                return alder_error_set(err, ENOMEM, "out of memory");

        int r = server_setup(srv, opts, err);
        if (r < 0)
                return alder_error_wrap(err, "IPC server on '%s'", path);
        *ret = steal_pointer(&srv);
        return 0;
}

void alder_ipc_server_free(alder_ipc_server *srv)
{
        if (!srv)
                return;
        while (srv->conns)
                conn_close(srv->conns);
        server_reap(srv);

        /* another instance may have replaced the file since: remove only our own */
        struct stat st;
        if (srv->sock_ino && lstat(srv->path, &st) == 0 && st.st_dev == srv->sock_dev && st.st_ino == srv->sock_ino)
                unlink(srv->path);

        int fds[] = {srv->listen_fd, srv->timer_fd, srv->stop_fd, srv->epoll_fd};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(fds); i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        free(srv->path);
        free(srv->name);
        free(srv);
}
