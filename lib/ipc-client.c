/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPC client: one connection, calls answered in order. Every wait is a poll()
 * against a monotonic deadline, so a call never takes longer than its timeout
 * whatever mix of partial reads, partial writes and signals happens.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ipc-internal.h"

#define NO_DEADLINE UINT64_MAX

struct alder_ipc_client {
        int fd;
        char *path;
        size_t max_message;
        uint64_t next_id;
        struct ipc_buf in;
        bool broken;      /* set by the exchange that found the stream unusable */
        int broken_errno; /* then: why, for every later call */
        char *broken_msg;
};

static uint64_t deadline_after(int timeout_ms)
{
        return timeout_ms < 0 ? NO_DEADLINE : ipc_now_ms() + (uint64_t) timeout_ms;
}

/* Milliseconds left until deadline for poll(): -1 without one, 0 once it passed. */
static int ms_left(uint64_t deadline)
{
        if (deadline == NO_DEADLINE)
                return -1;
        uint64_t now = ipc_now_ms();
        return now >= deadline ? 0 : (int) ALDER_MIN(deadline - now, (uint64_t) INT_MAX);
}

/* Waits until fd is ready for `events`: 0, -ETIMEDOUT at the deadline, or another negative errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
        for (;;) {
                int timeout = ms_left(deadline);
                if (timeout == 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = events};
                int n = poll(&p, 1, timeout);
                if (n > 0)
                        return 0; /* POLLHUP and POLLERR too: the next recv/send reports them */
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

static int connect_socket(const char *path, int timeout_ms, int *ret_fd, alder_error **err)
{
        struct sockaddr_un addr;
        int r = ipc_socket_address(path, &addr, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return alder_error_sys(err, errno, "connect to '%s': create socket", path);

        uint64_t deadline = deadline_after(timeout_ms);
        for (;;) {
                if (deadline != NO_DEADLINE) {
                        /*
                         * A blocking connect() to a Unix socket waits only while the
                         * server's backlog is full; SO_SNDTIMEO bounds that wait, after
                         * which it fails with EAGAIN. (0 would mean "forever".)
                         */
                        int left = ms_left(deadline);
                        struct timeval tv = {.tv_sec = left / 1000, .tv_usec = left % 1000 * 1000 + (left == 0)};
                        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                                return alder_error_sys(err, errno, "connect to '%s': set timeout", path);
                }
                if (connect(fd, (const struct sockaddr *) &addr, sizeof(addr)) == 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN)
                        return alder_error_set(err, ETIMEDOUT, "connect to '%s': not accepted within %d ms", path,
                                               timeout_ms);
                return alder_error_sys(err, errno, "connect to '%s'", path);
        }
        *ret_fd = steal_fd(&fd);
        return 0;
}

int alder_ipc_client_connect(const char *path, int timeout_ms, alder_ipc_client **ret, alder_error **err)
{
        _cleanup_ipc_client_ alder_ipc_client *c = calloc(1, sizeof(*c));
        if (!c)
                return alder_error_set(err, ENOMEM, "out of memory");
        c->fd = -1;
        c->next_id = 1;
        c->max_message = ALDER_IPC_DEFAULT_MAX_MESSAGE;
        c->path = strdup(path);
        if (!c->path)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = connect_socket(path, timeout_ms, &c->fd, err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&c);
        return 0;
}

int alder_ipc_client_set_max_message_size(alder_ipc_client *client, size_t max_size, alder_error **err)
{
        return ipc_max_message_size(max_size, &client->max_message, err);
}

void alder_ipc_client_free(alder_ipc_client *client)
{
        if (!client)
                return;
        if (client->fd >= 0)
                close(client->fd);
        ipc_buf_free(&client->in);
        free(client->broken_msg);
        free(client->path);
        free(client);
}

/* Returns 0 once the request is out; -EPIPE/-ECONNRESET (err unset) when the server closed the connection. */
static int client_send(alder_ipc_client *c, struct ipc_buf *out, uint64_t deadline, int timeout_ms, alder_error **err)
{
        size_t total = out->len;
        for (;;) {
                int r = ipc_buf_send(c->fd, out);
                if (r == -EAGAIN)
                        r = wait_fd(c->fd, POLLOUT, deadline);
                if (r == 0 && out->len == 0)
                        return 0;
                if (r == 0)
                        continue;
                if (out->len != total) /* half a request on the wire: nothing after it can be framed */
                        c->broken = true;
                if (r == -EPIPE || r == -ECONNRESET)
                        return r;
                if (r == -ETIMEDOUT)
                        return alder_error_set(err, ETIMEDOUT, "request not sent within %d ms", timeout_ms);
                return alder_error_sys(err, -r, "send request");
        }
}

/*
 * Consumes one reply frame. Returns 1 for a reply to an earlier call that
 * timed out (skipped), else the outcome of this call; *ret_remote tells an
 * error reply of the server from a failure here.
 */
static int client_take_frame(alder_ipc_client *c, const alder_ipc_frame *f, uint64_t id, json_t **ret_result,
                             bool *ret_remote, alder_error **err)
{
        _cleanup_ipc_reply_ alder_ipc_reply reply = {0};
        int r = alder_ipc_reply_parse(f->body, f->body_len, &reply, err);
        ipc_buf_consume(&c->in, f->consumed);
        if (r < 0) {
                c->broken = true; /* a server that sends garbage cannot be trusted with the next call */
                return r;
        }
        if (reply.has_id && reply.id != id)
                return 1;
        if (reply.error) {
                /* an error without id concerns the connection (e.g. refused): it answers this call too */
                int errnum = alder_error_errno(reply.error);
                *ret_remote = true;
                if (err) {
                        alder_error_clear(err);
                        *err = steal_pointer(&reply.error);
                }
                return -errnum;
        }
        if (ret_result)
                *ret_result = steal_pointer(&reply.result);
        return 0;
}

static int client_receive(alder_ipc_client *c, uint64_t id, uint64_t deadline, int timeout_ms, json_t **ret_result,
                          bool *ret_remote, alder_error **err)
{
        for (;;) {
                alder_ipc_frame f;
                int r = alder_ipc_frame_decode(c->in.data, c->in.len, c->max_message, &f, err);
                if (r < 0) {
                        c->broken = true;
                        return alder_error_wrap(err, "reply");
                }
                if (r == ALDER_IPC_FRAME_COMPLETE) {
                        r = client_take_frame(c, &f, id, ret_result, ret_remote, err);
                        if (r <= 0)
                                return r;
                        /* skipped another call's reply; wait_fd() sees the deadline only when nothing comes */
                        if (ms_left(deadline) == 0)
                                return alder_error_set(err, ETIMEDOUT, "no reply within %d ms", timeout_ms);
                        continue;
                }

                ssize_t n = ipc_buf_recv(c->fd, &c->in, ALDER_IPC_HEADER_SIZE + c->max_message);
                if (n > 0)
                        continue;
                if (n == 0 || n == -ECONNRESET) {
                        c->broken = true;
                        return alder_error_set(err, ECONNRESET, "connection closed by the server");
                }
                if (n != -EAGAIN) {
                        c->broken = true;
                        return alder_error_sys(err, (int) -n, "receive reply");
                }
                r = wait_fd(c->fd, POLLIN, deadline);
                if (r == -ETIMEDOUT)
                        return alder_error_set(err, ETIMEDOUT, "no reply within %d ms", timeout_ms);
                if (r < 0)
                        return alder_error_sys(err, -r, "wait for reply");
        }
}

static int client_exchange(alder_ipc_client *c, const char *method, const json_t *params, int timeout_ms,
                           json_t **ret_result, bool *ret_remote, alder_error **err)
{
        uint64_t deadline = deadline_after(timeout_ms);
        uint64_t id = c->next_id++;
        _cleanup_ipc_buf_ struct ipc_buf out = {0};

        if (params && !json_is_object(params))
                return alder_error_set(err, EINVAL, "params: expected object, got %s", alder_json_type_name(params));
        /* jansson's reference count is not part of the value: params stays unchanged */
        json_t *p = params ? json_incref((json_t *) params) : json_object();
        _cleanup_json_ json_t *req = json_pack("{s:I, s:s, s:o}", "id", (json_int_t) id, "method", method, "params", p);
        if (!req)
                return alder_error_set(err, EINVAL, "cannot build the request (method name not UTF-8?)");
        int r = ipc_frame_append(&out, req, c->max_message, err);
        if (r < 0)
                return alder_error_wrap(err, "request");

        r = client_send(c, &out, deadline, timeout_ms, err);
        /* on EPIPE the server may have said why it closed (too many connections): read that */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                return r;
        return client_receive(c, id, deadline, timeout_ms, ret_result, ret_remote, err);
}

int alder_ipc_client_call(alder_ipc_client *client, const char *method, const json_t *params, int timeout_ms,
                          json_t **ret_result, alder_error **err)
{
        if (client->broken)
                return alder_error_set(err, client->broken_errno ? client->broken_errno : EPIPE,
                                       "call '%s' on '%s': connection unusable after an earlier failure (%s)", method,
                                       client->path, client->broken_msg ? client->broken_msg : "out of memory");

        _cleanup_error_ alder_error *e = NULL;
        bool remote = false;
        int r = client_exchange(client, method, params, timeout_ms, ret_result, &remote, &e);
        if (r >= 0)
                return r;
        /* the server's own errors speak for themselves ("alder-appd: app 'x' not installed") */
        if (!remote)
                alder_error_wrap(&e, "call '%s' on '%s'", method, client->path);
        if (client->broken) {
                client->broken_errno = alder_error_errno(e);
                client->broken_msg = strdup(alder_error_message(e));
        }
        if (err) {
                alder_error_clear(err);
                *err = steal_pointer(&e);
        }
        return r;
}
