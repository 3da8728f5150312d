/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST API of alder-dm over HTTP or HTTPS (libmicrohttpd with GnuTLS), shaped like Pelion
 * Device Management's (docs/api/dm-openapi.yaml): bearer API keys, list
 * objects, error objects, /v3/devices, /v2/endpoints (asynchronous device
 * requests), /v2/subscriptions and the notification channel (long poll,
 * Server-Sent Events, webhook).
 *
 * MHD runs a thread per connection (bounded): a long poll or an event stream
 * blocks only its own thread. Handlers never call libcoap; device requests go
 * to the CoAP thread with dm_server_submit().
 */
#pragma once

#include "alder/error.h"
#include "hub.h"
#include "server.h"
#include "store.h"

struct dm_rest_config {
        const char *address;      /* listen address, default 127.0.0.1 */
        int port;                 /* default 8080 */
        size_t max_body;          /* largest request body */
        int pull_timeout_ms;      /* long poll: how long a pull waits for events */
        unsigned max_connections; /* also the number of threads */
        const char *tls_cert;     /* HTTPS when set: PEM certificate (chain) file */
        const char *tls_key;      /* and its PEM private key file */
};

typedef struct dm_rest dm_rest;
typedef struct dm_webhook dm_webhook;

int dm_rest_start(const struct dm_rest_config *cfg, dm_store *store, dm_hub *hub, dm_server *server,
                  dm_webhook *webhook, dm_rest **ret, alder_error **err) ALDER_WUR;
/* Stops accepting, ends streams (stop the hub first so that waiting threads return), joins the threads. */
void dm_rest_stop(dm_rest *r);

/* ---- webhook delivery (webhook.c) -------------------------------------- */

/* Delivers the queue's events to the callback URL stored in the directory (setting "callback"), if any. */
/* https:// receivers must chain to ca_file (NULL: the system's CAs). */
int dm_webhook_start(dm_store *store, dm_hub *hub, const char *ca_file, dm_webhook **ret, alder_error **err) ALDER_WUR;
/* The callback changed (or went away): take it from the directory again. */
void dm_webhook_reload(dm_webhook *w);
/* True while a callback is set (long poll is refused then, as in Pelion). */
bool dm_webhook_active(dm_webhook *w);
/* Joins the thread; stop the hub first. */
void dm_webhook_stop(dm_webhook *w);

/* Checks a callback request body {url, headers}; http:// and https:// URLs. */
int dm_webhook_check(const json_t *cb, alder_error **err) ALDER_WUR;
