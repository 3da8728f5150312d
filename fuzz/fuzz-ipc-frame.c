/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the IPC frame decoder and the request/reply parsers.
 *
 * Input: byte 0 picks the maximum message size (small, so oversized lengths
 * are reached), byte 1 picks where the stream is split; the rest is the byte
 * stream a server or client would receive. The stream is decoded once in one
 * piece and once in two deliveries, as a receiver sees it; both must find the
 * same frames and end in the same state, or the decoder mishandles partial
 * frames.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alder/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
        size_t frames;
        size_t consumed;
        int last; /* NEED_MORE or the protocol error */
};

/* Every body goes through both parsers; an accepted request must survive re-encoding. */
static void parse_body(const alder_ipc_frame *f, size_t max)
{
        alder_ipc_request req = {0};
        alder_error *err = NULL;
        if (alder_ipc_request_parse(f->body, f->body_len, &req, &err) == 0) {
                if (!req.method || !json_is_object(req.params) || err)
                        abort();
                uint8_t *frame = NULL;
                size_t len;
                if (alder_ipc_frame_encode(req.root, max, &frame, &len, NULL) == 0) {
                        alder_ipc_frame again;
                        if (alder_ipc_frame_decode(frame, len, max, &again, NULL) != ALDER_IPC_FRAME_COMPLETE ||
                            again.consumed != len)
                                abort();
                        free(frame);
                }
                alder_ipc_request_clear(&req);
        } else if (!err || !*alder_error_message(err)) {
                abort(); /* every failure must say why */
        }
        alder_error_clear(&err);

        alder_ipc_reply reply = {0};
        if (alder_ipc_reply_parse(f->body, f->body_len, &reply, NULL) == 0 && !reply.result == !reply.error)
                abort();
        alder_ipc_reply_clear(&reply);
}

/* Decodes frames from buf[*off..len) like a receiver would, until more bytes are needed or an error. */
static void drain(const uint8_t *buf, size_t len, size_t max, size_t *off, struct outcome *o)
{
        for (;;) {
                alder_ipc_frame f;
                alder_error *err = NULL;
                int r = alder_ipc_frame_decode(buf + *off, len - *off, max, &f, &err);
                if (r < 0 && !err)
                        abort();
                alder_error_free(err);
                if (r <= 0) {
                        o->last = r;
                        return;
                }
                if (f.consumed > len - *off || f.body_len == 0 || f.body_len > max)
                        abort();
                parse_body(&f, max);
                *off += f.consumed;
                o->consumed = *off;
                o->frames++;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        size_t max = ALDER_IPC_MIN_MAX_MESSAGE + (size_t) data[0] * 64;
        const uint8_t *stream = data + 2;
        size_t len = size - 2;
        size_t split = len ? data[1] % (len + 1) : 0;

        struct outcome whole = {0}, parts = {0};
        size_t off = 0;
        drain(stream, len, max, &off, &whole);

        /* the first delivery ends at `split`; the second brings the rest */
        off = 0;
        drain(stream, split, max, &off, &parts);
        if (parts.last == ALDER_IPC_FRAME_NEED_MORE)
                drain(stream, len, max, &off, &parts);

        if (whole.frames != parts.frames || whole.consumed != parts.consumed || whole.last != parts.last)
                abort();
        return 0;
}
