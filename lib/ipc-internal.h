/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pieces shared by the IPC server and client (lib/ipc.c), not public API.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "alder/ipc.h"

/* A byte buffer that holds received input or output not yet sent. */
struct ipc_buf {
        uint8_t *data;
        size_t len;
        size_t cap;
};

void ipc_buf_free(struct ipc_buf *b);
#define _cleanup_ipc_buf_ _cleanup_(ipc_buf_free)
/* Drops the first n bytes. */
void ipc_buf_consume(struct ipc_buf *b, size_t n);

/* Appends msg as one frame; -EMSGSIZE (buffer unchanged) when its body exceeds max_size. */
int ipc_frame_append(struct ipc_buf *b, const json_t *msg, size_t max_size, alder_error **err) ALDER_WUR;

/*
 * Receives what the socket has, without letting b grow beyond limit bytes.
 * Returns the number of bytes read, 0 at end of stream, -EAGAIN when nothing
 * is there, or another negative errno. EINTR is retried.
 */
ssize_t ipc_buf_recv(int fd, struct ipc_buf *b, size_t limit) ALDER_WUR;

/*
 * Sends from the front of b and drops what was sent. Returns 0 once b is
 * empty, -EAGAIN when the socket is full, or another negative errno (EPIPE,
 * ECONNRESET). Never raises SIGPIPE.
 */
int ipc_buf_send(int fd, struct ipc_buf *b) ALDER_WUR;

/* Reply objects (new references; NULL when out of memory). id is borrowed, NULL means "id": null. */
json_t *ipc_reply_result_new(const json_t *id, json_t *result_stolen) ALDER_WUR;
json_t *ipc_reply_error_new(const json_t *id, int errnum, const char *message) ALDER_WUR;

/* Parses a body as one JSON object; `source` names it in errors ("request", "reply"). */
int ipc_parse_object(const char *source, const void *body, size_t len, json_t **ret, alder_error **err) ALDER_WUR;

/* Validates a parsed request object; on success *ret holds a new reference to root. */
int ipc_request_from_object(json_t *root, alder_ipc_request *ret, alder_error **err) ALDER_WUR;

/* Fills a Unix socket address; -ENAMETOOLONG names the path when it does not fit. */
int ipc_socket_address(const char *path, struct sockaddr_un *ret, alder_error **err) ALDER_WUR;

/* Checks max_size against ALDER_IPC_MIN_MAX_MESSAGE and UINT32_MAX; 0 means the default. */
int ipc_max_message_size(size_t requested, size_t *ret, alder_error **err) ALDER_WUR;

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t ipc_now_ms(void);
