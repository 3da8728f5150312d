/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPC between Alder daemons and their clients: request/reply over a Unix
 * stream socket (protocol: docs/api/ipc.md).
 *
 * Wire format: each message is a frame of a 4-byte big-endian length followed
 * by that many bytes of UTF-8 JSON (one object). A client sends
 *
 *     {"id": 7, "method": "app.start", "params": {"name": "x"}}
 *
 * and the server answers with the same id, either
 *
 *     {"id": 7, "result": ...}
 *     {"id": 7, "error": {"code": -2, "errno_name": "ENOENT", "message": "alder-appd: app 'x' not installed"}}
 *
 * Three layers, each usable on its own:
 *   - frames and messages: pure functions over buffers (unit-tested, fuzzed);
 *   - the server: an epoll loop with a method table, foldable into a daemon's
 *     own loop (alder_ipc_server_fd + alder_ipc_server_run_once);
 *   - the client: connect + call, every step bounded by a timeout.
 *
 * A server or client is used from one thread at a time; only
 * alder_ipc_server_stop() may be called from elsewhere (or a signal handler).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cleanup.h"
#include "error.h"
#include "json.h" /* json_t and _cleanup_json_ for callers */
#include "macro.h"

/* Largest JSON body accepted or sent unless the server or client sets another. */
#define ALDER_IPC_DEFAULT_MAX_MESSAGE (1024u * 1024u)
/* Smallest configurable maximum: an error reply must always fit. */
#define ALDER_IPC_MIN_MAX_MESSAGE 1024u
/* Size of the length prefix of a frame. */
#define ALDER_IPC_HEADER_SIZE 4u

/* ---- Frames ---------------------------------------------------------------- */

typedef struct alder_ipc_frame {
        const uint8_t *body; /* points into the decoded buffer */
        size_t body_len;
        size_t consumed; /* header + body: drop this many bytes from the buffer */
} alder_ipc_frame;

#define ALDER_IPC_FRAME_NEED_MORE 0
#define ALDER_IPC_FRAME_COMPLETE  1

/*
 * Looks for one frame at the start of buf (len bytes received so far).
 * Returns ALDER_IPC_FRAME_NEED_MORE when buf holds only part of a frame,
 * ALDER_IPC_FRAME_COMPLETE with *ret filled when it holds a whole one, or a
 * protocol error: -EBADMSG for a length of 0, -EMSGSIZE for a length above
 * max_size. A protocol error is final: the stream cannot be resynchronised.
 * The length is checked as soon as the 4 header bytes are there, so an
 * oversized frame is refused before its body is read.
 */
int alder_ipc_frame_decode(const void *buf, size_t len, size_t max_size, alder_ipc_frame *ret,
                           alder_error **err) ALDER_WUR;

/*
 * Serializes msg (an object) into a malloc'ed frame; -EMSGSIZE if the body
 * exceeds max_size, or UINT32_MAX (what the length header holds) whatever
 * max_size says.
 */
int alder_ipc_frame_encode(const json_t *msg, size_t max_size, uint8_t **ret, size_t *ret_len,
                           alder_error **err) ALDER_WUR;

/* ---- Messages -------------------------------------------------------------- */

typedef struct alder_ipc_request {
        uint64_t id;
        const char *method; /* borrowed from root */
        json_t *params;     /* borrowed from root; an empty object when the request has none */
        json_t *root;       /* owns the request */
} alder_ipc_request;

/*
 * Parses and validates a request body. Errors name the field, e.g.
 * "request: field 'method': expected string, got integer"; unknown top-level
 * keys are refused. On success release *ret with alder_ipc_request_clear().
 */
int alder_ipc_request_parse(const void *body, size_t len, alder_ipc_request *ret, alder_error **err) ALDER_WUR;
void alder_ipc_request_clear(alder_ipc_request *req);
#define _cleanup_ipc_request_ _cleanup_(alder_ipc_request_clear)

typedef struct alder_ipc_reply {
        bool has_id;        /* false: "id": null, a connection-level error from the server */
        uint64_t id;        /* valid when has_id */
        json_t *result;     /* owned; NULL for an error reply */
        alder_error *error; /* owned; the server's error (errno from "code"), NULL for a result */
} alder_ipc_reply;

/* Parses and validates a reply body. Release *ret with alder_ipc_reply_clear(). */
int alder_ipc_reply_parse(const void *body, size_t len, alder_ipc_reply *ret, alder_error **err) ALDER_WUR;
void alder_ipc_reply_clear(alder_ipc_reply *reply);
#define _cleanup_ipc_reply_ _cleanup_(alder_ipc_reply_clear)

/* ---- Server ---------------------------------------------------------------- */

typedef struct alder_ipc_server alder_ipc_server;
typedef struct alder_ipc_call alder_ipc_call; /* one request being answered */

typedef struct alder_ipc_peer {
        pid_t pid;
        uid_t uid;
        gid_t gid;
} alder_ipc_peer;

/* A handler's return value that says "I keep the call and reply later". */
#define ALDER_IPC_REPLY_LATER 1

/*
 * Method handler. Returns 0 and sets *ret_result (a new reference; left NULL
 * it means JSON null), or a negative errno with *err set: the client receives
 * the error's message and errno. Returning ALDER_IPC_REPLY_LATER keeps the
 * call open: the handler (or whatever it hands the call to) must later finish
 * it with alder_ipc_call_reply() or alder_ipc_call_reply_error(). Meanwhile
 * other clients are served; the same connection waits (requests on one
 * connection are answered in order).
 */
typedef int (*alder_ipc_handler)(alder_ipc_call *call, json_t *params, json_t **ret_result, alder_error **err);

typedef struct alder_ipc_method {
        const char *name;
        alder_ipc_handler handler;
} alder_ipc_method;

/* Zero fields take the defaults named here. */
typedef struct alder_ipc_server_options {
        const char *name;         /* prefix of error messages, e.g. "alder-appd"; default none */
        mode_t socket_mode;       /* default 0600 */
        size_t max_message_size;  /* default ALDER_IPC_DEFAULT_MAX_MESSAGE */
        unsigned max_connections; /* default 64; more are refused with -EBUSY */
        unsigned idle_timeout_ms; /* default 30000: a connection with nothing in flight is closed after it */
} alder_ipc_server_options;

/*
 * Creates the listening socket at `path` (the directory must exist) with the
 * given mode. A stale socket file (nobody listening) is replaced atomically;
 * a live one (-EADDRINUSE) or a file that is not a socket (-EEXIST) is not.
 * `methods` ends with a {NULL, NULL} entry and must outlive the server;
 * userdata is handed to handlers via alder_ipc_call_userdata(). opts may be NULL.
 */
int alder_ipc_server_new(const char *path, const alder_ipc_method *methods, void *userdata,
                         const alder_ipc_server_options *opts, alder_ipc_server **ret, alder_error **err) ALDER_WUR;

/* Pollable fd: readable when alder_ipc_server_run_once() has work (timeouts included). */
int alder_ipc_server_fd(const alder_ipc_server *srv);

/*
 * Waits up to timeout_ms (-1: no limit, 0: just poll) and handles what is
 * ready. Problems of one connection close that connection and are not errors
 * of the server; a negative return means the loop itself failed.
 */
int alder_ipc_server_run_once(alder_ipc_server *srv, int timeout_ms, alder_error **err) ALDER_WUR;

/* Runs the loop until alder_ipc_server_stop(). */
int alder_ipc_server_run(alder_ipc_server *srv, alder_error **err) ALDER_WUR;

/* Makes alder_ipc_server_run() return. Safe from a signal handler or another thread. */
void alder_ipc_server_stop(alder_ipc_server *srv);

/* Number of open client connections. */
unsigned alder_ipc_server_connections(const alder_ipc_server *srv);

/*
 * Closes every connection and removes the socket file if it is still the one
 * this server created. Calls deferred with ALDER_IPC_REPLY_LATER stay valid
 * and must still be finished; their replies go nowhere.
 */
void alder_ipc_server_free(alder_ipc_server *srv);

static inline void alder_ipc_server_freep(alder_ipc_server **srv)
{
        alder_ipc_server_free(*srv);
}
#define _cleanup_ipc_server_ _cleanup_(alder_ipc_server_freep)

/* Caller identity from SO_PEERCRED, taken when the connection was accepted. */
const alder_ipc_peer *alder_ipc_call_peer(const alder_ipc_call *call);
void *alder_ipc_call_userdata(const alder_ipc_call *call);
const char *alder_ipc_call_method(const alder_ipc_call *call);

/*
 * Finish a call deferred with ALDER_IPC_REPLY_LATER; both free the call. The
 * reply is dropped if the client has gone away. result is stolen (NULL means
 * JSON null); error is borrowed: its message and errno are sent.
 */
void alder_ipc_call_reply(alder_ipc_call *call, json_t *result);
void alder_ipc_call_reply_error(alder_ipc_call *call, alder_error *error);

/* ---- Client ---------------------------------------------------------------- */

typedef struct alder_ipc_client alder_ipc_client;

/* Connects within timeout_ms (-1: no limit). */
int alder_ipc_client_connect(const char *path, int timeout_ms, alder_ipc_client **ret, alder_error **err) ALDER_WUR;

/* Largest request sent / reply accepted (default ALDER_IPC_DEFAULT_MAX_MESSAGE); -EINVAL below the minimum. */
int alder_ipc_client_set_max_message_size(alder_ipc_client *client, size_t max_size, alder_error **err) ALDER_WUR;

/*
 * Sends one request and waits for its reply, all within timeout_ms (-1: no
 * limit). params: an object or NULL (sent as {}). On success *ret_result (if
 * ret_result is not NULL) is a new reference. An error reply returns its
 * negative errno with the server's message in *err. A timeout returns
 * -ETIMEDOUT; a late reply to it is skipped by the next call. After a broken
 * stream (closed, oversized or undecodable frame) every call fails with the
 * original cause; connect again.
 */
int alder_ipc_client_call(alder_ipc_client *client, const char *method, const json_t *params, int timeout_ms,
                          json_t **ret_result, alder_error **err) ALDER_WUR;

void alder_ipc_client_free(alder_ipc_client *client);

static inline void alder_ipc_client_freep(alder_ipc_client **client)
{
        alder_ipc_client_free(*client);
}
#define _cleanup_ipc_client_ _cleanup_(alder_ipc_client_freep)
