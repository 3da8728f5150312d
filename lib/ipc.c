/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPC frames and messages: pure functions over buffers, plus the buffered
 * socket I/O that the server (ipc-server.c) and client (ipc-client.c) share.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np; the fuzz build compiles without meson's flags */
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ipc-internal.h"

/* Bytes asked from the kernel per receive; frames larger than this take several. */
#define IPC_RECV_CHUNK (16u * 1024u)
/* An emptied buffer larger than this is released, so one big message does not pin memory. */
#define IPC_BUF_KEEP (64u * 1024u)
/* Largest errno value; a reply's code must lie in [-IPC_MAX_ERRNO, -1]. */
#define IPC_MAX_ERRNO 4095

void ipc_buf_free(struct ipc_buf *b)
{
        free(b->data);
        *b = (struct ipc_buf){0};
}

void ipc_buf_consume(struct ipc_buf *b, size_t n)
{
        b->len -= n;
        memmove(b->data, b->data + n, b->len);
        if (b->len == 0 && b->cap > IPC_BUF_KEEP)
                ipc_buf_free(b);
}

/* Makes room for `extra` more bytes, growing geometrically but never past ceiling (unless extra needs it). */
static int buf_reserve(struct ipc_buf *b, size_t extra, size_t ceiling)
{
        size_t need = b->len + extra;
        if (need <= b->cap)
                return 0;
        size_t cap = ALDER_MIN(ALDER_MAX(b->cap * 2, need), ALDER_MAX(ceiling, need));
        uint8_t *p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int ipc_max_message_size(size_t requested, size_t *ret, alder_error **err)
{
        if (requested == 0)
                requested = ALDER_IPC_DEFAULT_MAX_MESSAGE;
        if (requested < ALDER_IPC_MIN_MAX_MESSAGE || requested > UINT32_MAX)
                return alder_error_set(err, EINVAL, "maximum message size %zu is outside [%u, %" PRIu32 "]", requested,
                                       ALDER_IPC_MIN_MAX_MESSAGE, UINT32_MAX);
        *ret = requested;
        return 0;
}

int ipc_socket_address(const char *path, struct sockaddr_un *ret, alder_error **err)
{
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof(ret->sun_path))
                return alder_error_set(err, ENAMETOOLONG, "socket path '%s': length must be 1 to %zu bytes", path,
                                       sizeof(ret->sun_path) - 1);
        *ret = (struct sockaddr_un){.sun_family = AF_UNIX};
        memcpy(ret->sun_path, path, n);
        return 0;
}

uint64_t ipc_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

int alder_ipc_frame_decode(const void *buf, size_t len, size_t max_size, alder_ipc_frame *ret, alder_error **err)
{
        const uint8_t *p = buf;
        if (len < ALDER_IPC_HEADER_SIZE)
                return ALDER_IPC_FRAME_NEED_MORE;

        uint32_t n = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
        if (n == 0)
                return alder_error_set(err, EBADMSG, "frame: length 0 is not allowed (a message is a JSON object)");
        if (n > max_size)
                return alder_error_set(err, EMSGSIZE,
                                       "frame: length %" PRIu32 " exceeds the maximum message size of %zu bytes", n,
                                       max_size);
        if (len - ALDER_IPC_HEADER_SIZE < n)
                return ALDER_IPC_FRAME_NEED_MORE;

        *ret = (alder_ipc_frame){
                .body = p + ALDER_IPC_HEADER_SIZE,
                .body_len = n,
                .consumed = ALDER_IPC_HEADER_SIZE + (size_t) n,
        };
        return ALDER_IPC_FRAME_COMPLETE;
}

int ipc_frame_append(struct ipc_buf *b, const json_t *msg, size_t max_size, alder_error **err)
{
        /* The length header has 32 bits, whatever the caller allows. */
        max_size = ALDER_MIN(max_size, (size_t) UINT32_MAX);
        size_t n = json_dumpb(msg, NULL, 0, JSON_COMPACT);
        if (n == 0)
                return alder_error_set(err, EINVAL, "serialize message: not a JSON object");
        if (n > max_size)
                return alder_error_set(err, EMSGSIZE,
                                       "message of %zu bytes exceeds the maximum message size of %zu bytes", n,
                                       max_size);
        if (buf_reserve(b, ALDER_IPC_HEADER_SIZE + n, 0) < 0)
                return alder_error_set(err, ENOMEM, "serialize message of %zu bytes: out of memory", n);

        uint8_t *p = b->data + b->len;
        p[0] = (uint8_t) (n >> 24);
        p[1] = (uint8_t) (n >> 16);
        p[2] = (uint8_t) (n >> 8);
        p[3] = (uint8_t) n;
        if (json_dumpb(msg, (char *) p + ALDER_IPC_HEADER_SIZE, n, JSON_COMPACT) != n)
                return alder_error_set(err, EIO, "serialize message: size changed between two passes");
        b->len += ALDER_IPC_HEADER_SIZE + n;
        return 0;
}

int alder_ipc_frame_encode(const json_t *msg, size_t max_size, uint8_t **ret, size_t *ret_len, alder_error **err)
{
        struct ipc_buf b = {0};
        int r = ipc_frame_append(&b, msg, max_size, err);
        if (r < 0) {
                ipc_buf_free(&b);
                return r;
        }
        *ret = b.data;
        *ret_len = b.len;
        return 0;
}

ssize_t ipc_buf_recv(int fd, struct ipc_buf *b, size_t limit)
{
        if (b->len >= limit)
                return -ENOBUFS;
        size_t want = ALDER_MIN(limit - b->len, IPC_RECV_CHUNK);
        if (buf_reserve(b, want, limit) < 0)
                return -ENOMEM;
        for (;;) {
                ssize_t n = recv(fd, b->data + b->len, want, MSG_DONTWAIT);
                if (n >= 0) {
                        b->len += (size_t) n;
                        return n;
                }
                if (errno != EINTR)
                        return -errno;
        }
}

int ipc_buf_send(int fd, struct ipc_buf *b)
{
        while (b->len > 0) {
                ssize_t n = send(fd, b->data, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                ipc_buf_consume(b, (size_t) n);
        }
        return 0;
}

json_t *ipc_reply_result_new(const json_t *id, json_t *result_stolen)
{
        return json_pack("{s:O?, s:o?}", "id", id, "result", result_stolen);
}

json_t *ipc_reply_error_new(const json_t *id, int errnum, const char *message)
{
        errnum = abs(errnum);
        /* errno_name is a convenience for scripts; unknown numbers just lack it */
        return json_pack("{s:O?, s:{s:i, s:s*, s:s}}", "id", id, "error", "code", -errnum, "errno_name",
                         strerrorname_np(errnum), "message", message);
}

int ipc_parse_object(const char *source, const void *body, size_t len, json_t **ret, alder_error **err)
{
        _cleanup_json_ json_t *v = NULL;
        int r = alder_json_parse(source, body, len, &v, err);
        if (r < 0)
                return r;
        if (!json_is_object(v))
                return alder_error_set(err, EBADMSG, "%s: expected object, got %s", source, alder_json_type_name(v));
        *ret = steal_pointer(&v);
        return 0;
}

/* An id is a JSON integer in [0, INT64_MAX]. */
static int get_id(const json_t *root, const char *source, uint64_t *ret, alder_error **err)
{
        int64_t id;
        int r = alder_json_get_int_range(root, source, "id", 0, 0, INT64_MAX, &id, err);
        if (r < 0)
                return r;
        *ret = (uint64_t) id;
        return 0;
}

int ipc_request_from_object(json_t *root, alder_ipc_request *ret, alder_error **err)
{
        static const char *const keys[] = {"id", "method", "params", NULL};
        alder_ipc_request req = {0};

        int r = alder_json_check_keys(root, "request", NULL, keys, err);
        if (r < 0)
                return r;
        r = get_id(root, "request", &req.id, err);
        if (r < 0)
                return r;
        r = alder_json_get_string(root, "request", "method", 0, &req.method, err);
        if (r < 0)
                return r;
        r = alder_json_get_object(root, "request", "params", ALDER_JSON_OPTIONAL, &req.params, err);
        if (r < 0)
                return r;
        if (!req.params) {
                /* handlers always get an object, so they need not test for NULL */
                req.params = json_object();
                if (!req.params || json_object_set_new(root, "params", req.params) < 0)
                        return alder_error_set(err, ENOMEM, "request: out of memory");
        }
        req.root = json_incref(root);
        *ret = req;
        return 0;
}

int alder_ipc_request_parse(const void *body, size_t len, alder_ipc_request *ret, alder_error **err)
{
        _cleanup_json_ json_t *root = NULL;
        int r = ipc_parse_object("request", body, len, &root, err);
        if (r < 0)
                return r;
        return ipc_request_from_object(root, ret, err);
}

void alder_ipc_request_clear(alder_ipc_request *req)
{
        if (req->root)
                json_decref(req->root);
        *req = (alder_ipc_request){0};
}

/* The "error" member of a reply as an alder_error carrying the server's errno and message. */
static int reply_error_from_json(const json_t *root, alder_error **ret, alder_error **err)
{
        static const char *const keys[] = {"code", "errno_name", "message", NULL};
        int64_t code;
        const char *message, *errno_name;

        int r = alder_json_check_keys(root, "reply", "error", keys, err);
        if (r < 0)
                return r;
        r = alder_json_get_int_range(root, "reply", "error.code", 0, -IPC_MAX_ERRNO, -1, &code, err);
        if (r < 0)
                return r;
        r = alder_json_get_string(root, "reply", "error.errno_name", ALDER_JSON_OPTIONAL, &errno_name, err);
        if (r < 0)
                return r;
        r = alder_json_get_string(root, "reply", "error.message", 0, &message, err);
        if (r < 0)
                return r;
        alder_error_set(ret, (int) -code, "%s", message);
        return 0;
}

int alder_ipc_reply_parse(const void *body, size_t len, alder_ipc_reply *ret, alder_error **err)
{
        static const char *const keys[] = {"id", "result", "error", NULL};
        _cleanup_json_ json_t *root = NULL;
        alder_ipc_reply reply = {0};
        json_t *id;
        json_t *error = NULL;

        int r = ipc_parse_object("reply", body, len, &root, err);
        if (r < 0)
                return r;
        r = alder_json_check_keys(root, "reply", NULL, keys, err);
        if (r < 0)
                return r;
        r = alder_json_get(root, "reply", "id", 0, &id, err);
        if (r < 0)
                return r;
        reply.has_id = !json_is_null(id);
        if (reply.has_id) {
                r = get_id(root, "reply", &reply.id, err);
                if (r < 0)
                        return r;
        }
        r = alder_json_get_object(root, "reply", "error", ALDER_JSON_OPTIONAL, &error, err);
        if (r < 0)
                return r;
        reply.result = json_object_get(root, "result");
        if (!reply.result == !error)
                return alder_error_set(err, EBADMSG, "reply: expected exactly one of 'result' and 'error'");
        if (!reply.has_id && !error)
                return alder_error_set(err, EBADMSG, "reply: field 'id': null is only allowed in an error reply");

        if (error) {
                r = reply_error_from_json(root, &reply.error, err);
                if (r < 0)
                        return r;
        } else {
                json_incref(reply.result);
        }
        *ret = reply;
        return 0;
}

void alder_ipc_reply_clear(alder_ipc_reply *reply)
{
        if (reply->result)
                json_decref(reply->result);
        alder_error_free(reply->error);
        *reply = (alder_ipc_reply){0};
}
