/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST client of `alder dm`: talks to alder-dm's HTTP API (docs/api/dm-openapi.yaml)
 * with libcurl. Requests carry `Authorization: Bearer KEY`; answers are JSON; an
 * error answer ({object:"error", code, type, message, fields}) becomes an
 * alder_error whose message is the service's, with the HTTP status and the
 * request id.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "alder/error.h"

struct dm_rest {
        char *url;     /* base URL without trailing '/', e.g. "http://127.0.0.1:8080" */
        char *api_key; /* bearer key */
        char *ca_file; /* CA bundle for https:// (NULL: the system's) */
};

/*
 * Fills the connection settings, first source wins: the explicit arguments
 * (NULL when not given), $ALDER_DM_URL / $ALDER_DM_API_KEY, then the config
 * file ($XDG_CONFIG_HOME or ~/.config)/alder/dm.json {"url", "api_key", "ca_file"}.
 */
int dm_rest_init(struct dm_rest *c, const char *url, const char *api_key, alder_error **err) ALDER_WUR;
void dm_rest_clear(struct dm_rest *c);

/* Path of the config file dm_rest_init() reads (malloc'd). */
char *dm_rest_config_path(void);

/*
 * One request: METHOD URL+path with an optional body (content type given).
 * On a 2xx answer *ret gets the parsed JSON (NULL for an empty body) and
 * *ret_status the HTTP status; other answers are errors.
 */
int dm_rest_call(const struct dm_rest *c, const char *method, const char *path, const char *content_type,
                 const void *body, size_t body_len, long *ret_status, json_t **ret, alder_error **err) ALDER_WUR;

/*
 * The notification channel as a Server-Sent Events stream (GET
 * /v2/notification/events). Opened before a request whose result arrives
 * asynchronously, so the result cannot be missed.
 */
struct dm_events;
int dm_events_open(const struct dm_rest *c, struct dm_events **ret, alder_error **err) ALDER_WUR;
/*
 * Waits up to timeout_ms (negative: forever) for the next message (one
 * notification-channel JSON object). Returns 1 with *ret set, 0 on timeout,
 * negative on error (stream closed, bad data).
 */
int dm_events_next(struct dm_events *ev, int timeout_ms, json_t **ret, alder_error **err) ALDER_WUR;
void dm_events_close(struct dm_events *ev);

static inline void dm_events_closep(struct dm_events **ev)
{
        if (*ev)
                dm_events_close(*ev);
}
#define _cleanup_dm_events_ _cleanup_(dm_events_closep)
