/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The LwM2M server of alder-dm: CoAP over UDP and DTLS (libcoap 4.3.1),
 * the registration interface (/rd), and the device-management requests the
 * REST API asks for.
 *
 * libcoap is not thread-safe: every libcoap call happens in the thread that
 * runs dm_server_run(). Other threads hand work over with dm_server_submit()
 * (a queue and an eventfd) and read the subscription table under its lock.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "alder/error.h"
#include "hub.h"
#include "store.h"

struct dm_server_config {
        const char *address;      /* listen address, default "::" (IPv4 too) */
        int coap_port;            /* UDP, 0 = off, default 5683 */
        int coaps_port;           /* DTLS, 0 = off, default 5684 */
        bool psk;                 /* DTLS with the PSKs of the directory */
        const char *cert_file;    /* DTLS with certificates: the server's certificate (PEM) */
        const char *key_file;     /* its private key (PEM) */
        const char *ca_file;      /* CA that signs device certificates (PEM) */
        size_t max_payload;       /* largest registration payload / device answer kept */
        unsigned request_timeout; /* seconds a device has to answer a request */
        unsigned max_registrations;
};

typedef struct dm_server dm_server;

int dm_server_new(const struct dm_server_config *cfg, dm_store *store, dm_hub *hub, dm_server **ret,
                  alder_error **err) ALDER_WUR;
/* Runs the CoAP loop until dm_server_stop(). */
int dm_server_run(dm_server *s, alder_error **err) ALDER_WUR;
/* From any thread (signal handlers excepted). */
void dm_server_stop(dm_server *s);
void dm_server_free(dm_server *s);

/* Ports actually bound (when 0 = "any" was asked for tests). */
int dm_server_port(dm_server *s, bool dtls);

enum dm_job_kind {
        DM_JOB_REQUEST,   /* a CoAP request; its answer becomes an async response */
        DM_JOB_OBSERVE,   /* GET + Observe 0; the first answer is the async response, then notifications */
        DM_JOB_UNOBSERVE, /* GET + Observe 1 on the same token; the answer is the async response */
};

struct dm_job {
        struct dm_job *next;
        enum dm_job_kind kind;
        char async_id[40];
        char *endpoint;
        char *path;      /* "/3/0/1" */
        unsigned method; /* COAP_REQUEST_CODE_GET .. DELETE */
        uint8_t *payload;
        size_t len;
        int content_format; /* -1: none */
        int accept;         /* -1: none */
        char **query;       /* Uri-Query options (write attributes), NULL-terminated, may be NULL */
};

void dm_job_free(struct dm_job *j);

/* Queues a job for the CoAP thread (takes it). */
void dm_server_submit(dm_server *s, struct dm_job *job);

/*
 * Subscriptions (observations) the server holds: "active" once the device
 * accepted them, "pending" until it answered. JSON: ["/3/0/13", ...] of an
 * endpoint; dm_server_subscription_state(): 1 active, 0 pending, -ENOENT.
 */
json_t *dm_server_subscriptions(dm_server *s, const char *endpoint);
int dm_server_subscription_state(dm_server *s, const char *endpoint, const char *path);

/*
 * Pre-subscriptions: [{"endpoint-name": "node-*", "endpoint-type": "...",
 * "resource-path": ["/3/0/13", "/5/0*"]}], applied to every registration
 * from now on. The caller checked the shape (dm_presubs_check()).
 */
void dm_server_set_presubscriptions(dm_server *s, json_t *presubs);
int dm_presubs_check(const json_t *presubs, alder_error **err) ALDER_WUR;
