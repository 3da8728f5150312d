/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-dmc's running state: the libcoap context, the session to the LwM2M
 * server, the registration state machine and the served paths.
 */
#pragma once

#include <coap3/coap.h>

#include "alder/spawn.h"
#include "dmc.h"

enum dmc_reg_state {
        DMC_REG_IDLE,          /* no session; retry_at_ms says when to try */
        DMC_REG_REGISTERING,   /* Register sent */
        DMC_REG_REGISTERED,    /* next_update_ms says when to Update */
        DMC_REG_UPDATING,      /* Update sent */
        DMC_REG_DEREGISTERING, /* De-register sent */
};

/* A served path: one libcoap resource, observable. */
struct dmc_node {
        struct dmc_node *next;
        coap_resource_t *res;
        struct dmc_observation obs;
};

/* Credentials copied for a session's whole life (libcoap keeps pointers to them). */
struct dmc_session_creds {
        char *identity, *sni, *cert, *key, *ca;
        uint8_t psk[DMC_PSK_KEY_MAX];
        size_t psk_len;
};

/* A configured command (Reboot, Factory Reset): started after the answer went out. */
struct dmc_command {
        char **argv;
        char *what;
        bool pending;
        struct alder_proc *proc;
};

struct dmc;

/* Work to do after the answer to the current request went out (Execute of app operations). */
struct dmc_job {
        void (*run)(struct dmc *d, void *arg);
        void (*free)(void *arg);
        void *arg;
};

#define DMC_MAX_JOBS 32

struct dmc_apps;
struct dmc_fw;

struct dmc {
        struct dmc_config cfg;
        struct dmc_model model;
        coap_context_t *ctx;
        coap_session_t *session;
        struct dmc_session_creds creds;
        struct dmc_node *nodes;

        /* registration */
        enum dmc_reg_state state;
        char *location; /* Location-Path of the registration, "rd/5a3f" */
        uint8_t token[8];
        size_t token_len;
        int64_t next_update_ms, retry_at_ms, request_sent_ms;
        unsigned failures;     /* consecutive, for the back-off */
        bool session_failed;   /* set from libcoap callbacks, handled in the loop */
        char *failure;         /* why, for the log */
        bool objects_changed;  /* send the object list with the next Update */
        bool update_requested; /* Registration Update Trigger, lifetime/binding written */
        bool send_lifetime, send_binding;
        int64_t lifetime_s;     /* the Server object's (config, then written by the server) */
        unsigned registrations; /* successful Register exchanges (logs, tests) */

        /* queue mode */
        bool asleep;
        int64_t sleep_at_ms;

        int64_t next_observe_ms;
        bool stopping;
        struct dmc_command command;
        struct dmc_job jobs[DMC_MAX_JOBS];
        size_t n_jobs;
        struct dmc_apps *apps;
        struct dmc_fw *fw;
        char *root_arg; /* --root as given, for reloads */
};

/* Sets up libcoap, the objects and the served paths. */
int dmc_init(struct dmc *d, struct dmc_config *cfg, alder_error **err) ALDER_WUR;
void dmc_done(struct dmc *d);
/* Serves until SIGTERM/SIGINT (then de-registers); SIGHUP reloads the configuration. */
int dmc_run(struct dmc *d, alder_error **err) ALDER_WUR;

/* loop.c: queues a job (EBUSY when too many wait); it runs after the current answer went out. */
int dmc_defer(struct dmc *d, void (*run)(struct dmc *, void *), void (*free_arg)(void *), void *arg,
              alder_error **err) ALDER_WUR;

/* obj-apps.c: refreshes the app list when due; returns when next. */
int64_t dmc_apps_tick(struct dmc_apps *a, int64_t now_ms);
void dmc_apps_free(struct dmc_apps *a);

/* obj-firmware.c: the pull's libcoap fd (*coap_fd, -1 when none) and the install thread's eventfd (returned). */
int dmc_fw_fds(struct dmc_fw *f, int *coap_fd);
void dmc_fw_event(struct dmc_fw *f);
int64_t dmc_fw_tick(struct dmc_fw *f, int64_t now_ms);
void dmc_fw_free(struct dmc_fw *f);

/* coap.c */
int dmc_coap_resolve(const struct dmc_server_config *s, coap_address_t *ret, alder_error **err) ALDER_WUR;
int dmc_coap_init(struct dmc *d, alder_error **err) ALDER_WUR;
void dmc_coap_done(struct dmc *d);
/* Adds/removes the libcoap resources of object o to match its instances. */
int dmc_coap_sync_object(struct dmc *d, struct dmc_object *o, alder_error **err) ALDER_WUR;
/* Checks the observed paths; returns the time of the next check. */
int64_t dmc_coap_observe_tick(struct dmc *d, int64_t now_ms);
/* Opens a session to the configured server (plain, PSK or X.509). */
int dmc_coap_open_session(struct dmc *d, alder_error **err) ALDER_WUR;
void dmc_coap_close_session(struct dmc *d);

/* reg.c */
void dmc_reg_start(struct dmc *d);
/* Timers: retries, Updates, queue-mode sleep; returns the next deadline. */
int64_t dmc_reg_tick(struct dmc *d, int64_t now_ms);
/* From the response handler: a response to the registration request in flight. */
void dmc_reg_response(struct dmc *d, const coap_pdu_t *received);
/* From libcoap callbacks: the session is unusable (NACK, DTLS failure). Handled by dmc_reg_tick. */
void dmc_reg_session_failed(struct dmc *d, const char *why);
/* De-registers (if registered) and waits for the answer up to timeout_ms. */
void dmc_reg_deregister(struct dmc *d, int timeout_ms);
/* The object list or the Server object changed: an Update goes out soon. */
void dmc_reg_request_update(struct dmc *d);
/* A message from the server arrived: in queue mode it keeps the client awake. */
void dmc_reg_activity(struct dmc *d);
/* The back-off before retry number n (0-based): exponential with jitter, capped. */
int64_t dmc_reg_backoff_ms(const struct dmc_config *cfg, unsigned n, uint32_t random);
