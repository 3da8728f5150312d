/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The notification channel's buffer: every event (a resource notification, a
 * registration, an update, a de-registration, an expiry, an async response,
 * a security event) gets a sequence number and waits in a bounded ring until
 * its consumers have it.
 *
 * Two kinds of consumers:
 *   - the queue (long poll or webhook, one at a time as in Pelion): one
 *     cursor; what it took is gone for it;
 *   - streams (Server-Sent Events): each has its own cursor and sees every
 *     event from when it connected (or from a Last-Event-ID still buffered).
 * When the ring is full the oldest event is dropped (and counted).
 *
 * Thread-safe: the CoAP thread pushes, HTTP and webhook threads wait.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum dm_event_kind {
        DM_EV_NOTIFICATION,
        DM_EV_REGISTRATION,
        DM_EV_REG_UPDATE,
        DM_EV_DEREGISTRATION,
        DM_EV_EXPIRED,
        DM_EV_ASYNC_RESPONSE,
        DM_EV_SECURITY,
        DM_EV_KIND_COUNT,
};

/* The message key of a kind: "notifications", "registrations", "reg-updates", "de-registrations", ... */
const char *dm_event_key(enum dm_event_kind kind);

typedef struct dm_hub dm_hub;

#define DM_HUB_CAPACITY_DEFAULT 16384

int dm_hub_new(unsigned capacity, dm_hub **ret);
void dm_hub_free(dm_hub *h);

/* Adds an event (takes the reference to item). */
void dm_hub_push(dm_hub *h, enum dm_event_kind kind, json_t *item);

/* Wakes every waiter for good (shutdown): waits return at once from now on. */
void dm_hub_stop(dm_hub *h);
bool dm_hub_stopped(dm_hub *h);

/*
 * Queue consumer. dm_hub_queue_wait() waits up to timeout_ms for events and
 * returns a message {"<key>": [...], ...} of at most `max` events (NULL when
 * none came), with *ret_upto the sequence number after the last one. With
 * commit the events are taken at once (long poll); without, the caller takes
 * them with dm_hub_queue_commit() once delivered (webhook).
 */
json_t *dm_hub_queue_wait(dm_hub *h, int timeout_ms, unsigned max, bool commit, uint64_t *ret_upto);
void dm_hub_queue_commit(dm_hub *h, uint64_t upto);

/*
 * Stream consumer: the sequence number a new stream starts at (now, or
 * last_id + 1 when that event is still buffered; last_id < 0: now), then one
 * event at a time: waits up to timeout_ms for the event at *cursor, returns
 * its message (one event) and kind and advances *cursor; NULL on timeout or
 * stop. A cursor that fell behind the ring skips to its oldest event.
 */
uint64_t dm_hub_stream_start(dm_hub *h, int64_t last_id);
json_t *dm_hub_stream_next(dm_hub *h, uint64_t *cursor, int timeout_ms, enum dm_event_kind *ret_kind);

/* Events dropped because the ring was full. */
uint64_t dm_hub_dropped(dm_hub *h);
