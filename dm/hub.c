/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "alder/macro.h"
#include "hub.h"
#include "util.h"

struct slot {
        enum dm_event_kind kind;
        json_t *item;
};

struct dm_hub {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct slot *ring;
        unsigned capacity;
        uint64_t head;  /* sequence number of the next event */
        uint64_t tail;  /* oldest event still buffered */
        uint64_t queue; /* next event of the queue consumer */
        uint64_t dropped;
        bool stopping;
};

static const char *const keys[] = {
        [DM_EV_NOTIFICATION] = "notifications",    [DM_EV_REGISTRATION] = "registrations",
        [DM_EV_REG_UPDATE] = "reg-updates",        [DM_EV_DEREGISTRATION] = "de-registrations",
        [DM_EV_EXPIRED] = "registrations-expired", [DM_EV_ASYNC_RESPONSE] = "async-responses",
        [DM_EV_SECURITY] = "security-events",
};

const char *dm_event_key(enum dm_event_kind kind)
{
        return ALDER_NAME_OF(keys, kind);
}

int dm_hub_new(unsigned capacity, dm_hub **ret)
{
        dm_hub *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->ring = calloc(capacity, sizeof(*h->ring));
        if (!h->ring) {
                free(h);
                return -ENOMEM;
        }
        h->capacity = capacity;
        pthread_mutex_init(&h->lock, NULL);
        dm_cond_init_monotonic(&h->cond);
        *ret = h;
        return 0;
}

void dm_hub_free(dm_hub *h)
{
        if (!h)
                return;
        for (unsigned i = 0; i < h->capacity; i++)
                json_decref(h->ring[i].item);
        free(h->ring);
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        free(h);
}

void dm_hub_push(dm_hub *h, enum dm_event_kind kind, json_t *item)
{
        if (!item)
                return;
        pthread_mutex_lock(&h->lock);
        if (h->head - h->tail == h->capacity) {
                struct slot *old = &h->ring[h->tail % h->capacity];
                json_decref(old->item);
                old->item = NULL;
                h->tail++;
                if (h->queue < h->tail) {
                        h->queue = h->tail;
                        h->dropped++;
                }
        }
        h->ring[h->head % h->capacity] = (struct slot){kind, item};
        h->head++;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
}

void dm_hub_stop(dm_hub *h)
{
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
}

bool dm_hub_stopped(dm_hub *h)
{
        pthread_mutex_lock(&h->lock);
        bool s = h->stopping;
        pthread_mutex_unlock(&h->lock);
        return s;
}

/* Waits (lock held) until *cursor has an event, the deadline passes or the hub stops. */
static bool wait_for(dm_hub *h, const uint64_t *cursor, int timeout_ms)
{
        struct timespec deadline = dm_deadline_after(timeout_ms);
        while (*cursor >= h->head && !h->stopping)
                if (pthread_cond_timedwait(&h->cond, &h->lock, &deadline) == ETIMEDOUT)
                        break;
        return *cursor < h->head && !h->stopping;
}

/* {"<key>": [items...]} of the events [from, to). */
static json_t *message(dm_hub *h, uint64_t from, uint64_t to)
{
        json_t *msg = json_object();
        for (uint64_t seq = from; msg && seq < to; seq++) {
                struct slot *s = &h->ring[seq % h->capacity];
                const char *key = dm_event_key(s->kind);
                json_t *list = json_object_get(msg, key);
                if (!list) {
                        list = json_array();
                        json_object_set_new(msg, key, list);
                }
                json_array_append(list, s->item);
        }
        return msg;
}

json_t *dm_hub_queue_wait(dm_hub *h, int timeout_ms, unsigned max, bool commit, uint64_t *ret_upto)
{
        pthread_mutex_lock(&h->lock);
        json_t *msg = NULL;
        if (wait_for(h, &h->queue, timeout_ms)) {
                uint64_t to = ALDER_MIN(h->head, h->queue + max);
                msg = message(h, h->queue, to);
                *ret_upto = to;
                if (commit)
                        h->queue = to;
        }
        pthread_mutex_unlock(&h->lock);
        return msg;
}

void dm_hub_queue_commit(dm_hub *h, uint64_t upto)
{
        pthread_mutex_lock(&h->lock);
        if (upto > h->queue)
                h->queue = ALDER_MIN(upto, h->head);
        pthread_mutex_unlock(&h->lock);
}

uint64_t dm_hub_stream_start(dm_hub *h, int64_t last_id)
{
        pthread_mutex_lock(&h->lock);
        uint64_t c = h->head;
        if (last_id >= 0 && (uint64_t) last_id + 1 >= h->tail && (uint64_t) last_id < h->head)
                c = (uint64_t) last_id + 1;
        pthread_mutex_unlock(&h->lock);
        return c;
}

json_t *dm_hub_stream_next(dm_hub *h, uint64_t *cursor, int timeout_ms, enum dm_event_kind *ret_kind)
{
        pthread_mutex_lock(&h->lock);
        json_t *msg = NULL;
        if (*cursor < h->tail)
                *cursor = h->tail;
        if (wait_for(h, cursor, timeout_ms)) {
                if (*cursor < h->tail) /* the ring wrapped while we waited */
                        *cursor = h->tail;
                *ret_kind = h->ring[*cursor % h->capacity].kind;
                msg = message(h, *cursor, *cursor + 1);
                (*cursor)++;
        }
        pthread_mutex_unlock(&h->lock);
        return msg;
}

uint64_t dm_hub_dropped(dm_hub *h)
{
        pthread_mutex_lock(&h->lock);
        uint64_t d = h->dropped;
        pthread_mutex_unlock(&h->lock);
        return d;
}
