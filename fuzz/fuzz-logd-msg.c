/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for alder-logd's datagram parser (device/logd/msg.c): the
 * bytes any local process may send to /run/alder/log.sock. An accepted
 * datagram becomes a record for a trusted and an untrusted sender; each
 * record must frame (or be refused as too big), pass the frame check and
 * decode to the same record, or the store would keep what it cannot read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct logd_msg m;
static struct logd_msg_scratch scratch;
static uint8_t frame[LOGREC_MAX_FRAME];

static void same(struct logrec_str a, struct logrec_str b)
{
        if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0))
                abort();
}

static void roundtrip(const struct logrec *r)
{
        size_t size = logrec_frame_size(r);
        if (size == 0)
                return; /* refused as too big: counted, not stored */
        if (size > sizeof(frame))
                abort();
        logrec_encode(r, frame);
        const uint8_t *payload;
        size_t len;
        struct logrec d;
        if (logrec_frame_check(frame, size, &payload, &len) != (long) size || logrec_decode(payload, len, &d) != 0)
                abort();
        if (d.seq != r->seq || d.level != r->level || d.flags != r->flags || d.pid != r->pid || d.uid != r->uid ||
            d.n_fields != r->n_fields)
                abort();
        same(d.source, r->source);
        same(d.app, r->app);
        same(d.version, r->version);
        same(d.message, r->message);
        struct logrec_field f;
        size_t pos = 0;
        for (size_t i = 0; i < r->n_fields; i++) {
                if (!logrec_field_next(&d, &pos, &f))
                        abort();
                same(f.key, r->fields[i].key);
                same(f.value, r->fields[i].value);
        }
        if (logrec_field_next(&d, &pos, &f))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > LOGD_DGRAM_MAX)
                return 0; /* the daemon drops longer datagrams before parsing */
        if (logd_msg_parse(data, size, &m, NULL) < 0)
                return 0;
        for (int trusted = 0; trusted < 2; trusted++) {
                struct logd_origin o = {.pid = 1, .uid = trusted ? 0 : 4294967295u, .trusted = trusted, .comm = "x"};
                struct logrec r;
                logd_msg_record(&m, &o, &scratch, &r);
                r.seq = size;
                roundtrip(&r);
        }
        return 0;
}
