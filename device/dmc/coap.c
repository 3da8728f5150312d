/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcoap glue. Every LwM2M path the client has (/O, /O/I, /O/I/R) is a
 * libcoap resource, observable, whose handler hands the request to the model;
 * resource instances and paths that do not exist reach the "unknown resource"
 * handler, which does the same (libcoap cannot observe those). Requests from
 * the LwM2M server arrive on the client's own session to it (libcoap
 * dispatches requests on client sessions like on server ones).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "alder/log.h"
#include "daemon.h"
#include "request.h"

/* A diagnostic payload is a hint to a person: keep it to one small datagram. */
#define DIAGNOSTIC_MAX 512

static struct dmc *dmc_of(coap_session_t *s)
{
        return coap_get_app_data(coap_session_get_context(s));
}

/* ---- handlers ------------------------------------------------------------ */

static void release_payload(coap_session_t *session, void *app_ptr)
{
        free(app_ptr);
}

static void write_response(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                           const coap_string_t *query, coap_pdu_t *response, struct dmc_response *resp,
                           const struct dmc_request *req)
{
        coap_pdu_set_code(response, resp->code);
        if (resp->code == DMC_COAP_CREATED) {
                char seg[6];
                int n = snprintf(seg, sizeof(seg), "%u", req->path.id[0]);
                coap_add_option(response, COAP_OPTION_LOCATION_PATH, (size_t) n, (const uint8_t *) seg);
                n = snprintf(seg, sizeof(seg), "%u", resp->created_instance);
                coap_add_option(response, COAP_OPTION_LOCATION_PATH, (size_t) n, (const uint8_t *) seg);
        }
        if (!resp->payload_len)
                return;
        if (resp->code >> 5 == 2 && resp->content_format >= 0) {
                /* libcoap leaves out a Content-Format of 0; LwM2M servers want text/plain said. */
                if (resp->content_format == 0)
                        coap_add_option(response, COAP_OPTION_CONTENT_FORMAT, 0, NULL);
                uint8_t *data = steal_pointer(&resp->payload);
                if (!coap_add_data_large_response(resource, session, request, response, query,
                                                  (uint16_t) resp->content_format, -1, 0, resp->payload_len, data,
                                                  release_payload, data)) {
                        free(data);
                        coap_pdu_set_code(response, COAP_RESPONSE_CODE(500));
                }
                resp->payload_len = 0;
                return;
        }
        coap_add_data(response, ALDER_MIN(resp->payload_len, DIAGNOSTIC_MAX), resp->payload);
}

static void log_request(const struct dmc_request *req, const struct dmc_response *resp)
{
        static const char *const methods[] = {
                [DMC_GET] = "GET",     [DMC_POST] = "POST",   [DMC_PUT] = "PUT",      [DMC_DELETE] = "DELETE",
                [DMC_FETCH] = "FETCH", [DMC_PATCH] = "PATCH", [DMC_IPATCH] = "iPATCH"};
        char path[ALDER_LWM2M_PATH_STRLEN], code[5];
        const char *m = ALDER_NAME_OF(methods, req->method);
        int level = resp->code >> 5 == 2 ? ALDER_LOG_DEBUG : ALDER_LOG_INFO;
        alder_log(level, ALDER_LOG_FIELDS("LWM2M_PATH", alder_lwm2m_path_format(&req->path, path)),
                  "%s %s%s -> %s%s%.*s", m ? m : "?", path, req->observe == 0 ? " (observe)" : "",
                  dmc_coap_code_str(resp->code, code), resp->code >> 5 == 2 ? "" : ": ",
                  resp->code >> 5 == 2 ? 0 : (int) ALDER_MIN(resp->payload_len, 300),
                  resp->payload ? (const char *) resp->payload : "");
}

/* After a successful observed Read (establishment or notification): remember what was sent. */
static void observed(struct dmc *d, struct dmc_node *node, const struct dmc_request *req)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records recs = {0};
        _cleanup_error_ alder_error *err = NULL;
        if (dmc_model_read(&d->model, &req->path, &recs, &err) < 0 ||
            dmc_observe_sent(&node->obs, &recs, req->now_ms, &err) < 0) {
                char path[ALDER_LWM2M_PATH_STRLEN];
                alder_log_error(ALDER_LOG_WARNING, err, NULL, "observation of %s",
                                alder_lwm2m_path_format(&req->path, path));
                return;
        }
        alder_lwm2m_records_sort(&recs);
        node->obs.active = true;
        if (d->next_observe_ms > req->now_ms)
                d->next_observe_ms = req->now_ms; /* recompute deadlines with the new observation */
}

static void handle(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                   const coap_string_t *query, coap_pdu_t *response)
{
        struct dmc *d = dmc_of(session);
        struct dmc_response resp = {.content_format = DMC_NO_FORMAT};
        if (session != d->session) {
                coap_pdu_set_code(response, COAP_RESPONSE_CODE(401));
                static const char msg[] = "requests are served to the registered LwM2M server only";
                coap_add_data(response, sizeof(msg) - 1, (const uint8_t *) msg);
                return;
        }
        dmc_reg_activity(d);
        struct dmc_request req;
        _cleanup_error_ alder_error *err = NULL;
        int r = dmc_request_from_pdu(request, query, &req, &err);
        if (r < 0) {
                coap_pdu_set_code(response, dmc_coap_code_for_errno(r));
                const char *msg = alder_error_message(err);
                coap_add_data(response, ALDER_MIN(strlen(msg), DIAGNOSTIC_MAX), (const uint8_t *) msg);
                return;
        }
        req.now_ms = dmc_now_ms();
        dmc_model_handle(&d->model, &req, &resp);
        log_request(&req, &resp);
        struct dmc_node *node = resource ? coap_resource_get_userdata(resource) : NULL;
        if (node && req.method == DMC_GET && resp.code == DMC_COAP_CONTENT && req.accept != ALDER_LWM2M_FMT_LINK &&
            alder_lwm2m_path_compare(&node->obs.path, &req.path) == 0) {
                if (req.observe == 0)
                        observed(d, node, &req);
                else if (req.observe == 1)
                        node->obs.active = false;
        }
        write_response(resource, session, request, query, response, &resp, &req);
        dmc_response_clear(&resp);
}

/* ---- resources -------------------------------------------------------------- */

static void register_handlers(coap_resource_t *r)
{
        static const coap_request_t methods[] = {COAP_REQUEST_GET, COAP_REQUEST_POST, COAP_REQUEST_PUT,
                                                 COAP_REQUEST_DELETE};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(methods); i++)
                coap_register_request_handler(r, methods[i], handle);
}

static struct dmc_node *node_find(struct dmc *d, const struct alder_lwm2m_path *p)
{
        for (struct dmc_node *n = d->nodes; n; n = n->next)
                if (alder_lwm2m_path_compare(&n->obs.path, p) == 0)
                        return n;
        return NULL;
}

static int node_add(struct dmc *d, const struct alder_lwm2m_path *p, alder_error **err)
{
        char path[ALDER_LWM2M_PATH_STRLEN];
        alder_lwm2m_path_format(p, path);
        /* libcoap matches the Uri-Path without its leading '/'. */
        coap_str_const_t *uri = coap_new_str_const((const uint8_t *) path + 1, strlen(path + 1));
        struct dmc_node *n = calloc(1, sizeof(*n));
        coap_resource_t *r =
                uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI | COAP_RESOURCE_FLAGS_NOTIFY_CON) : NULL;
        if (!n || !r) {
                free(n);
                if (r)
                        coap_delete_resource(NULL, r);
                else
                        coap_delete_str_const(uri);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        n->obs.path = *p;
        n->res = r;
        register_handlers(r);
        coap_resource_set_get_observable(r, 1);
        coap_resource_set_userdata(r, n);
        coap_add_resource(d->ctx, r);
        n->next = d->nodes;
        d->nodes = n;
        return 0;
}

static void node_free(struct dmc *d, struct dmc_node *n)
{
        coap_delete_resource(d->ctx, n->res);
        dmc_observation_clear(&n->obs);
        free(n);
}

static int add_instance(struct dmc *d, struct dmc_object *o, uint16_t inst, alder_error **err)
{
        struct alder_lwm2m_path p = alder_lwm2m_path_make(2, o->def->id, inst);
        if (node_find(d, &p))
                return 0;
        int r = node_add(d, &p, err);
        for (size_t i = 0; r == 0 && i < o->n_implemented; i++) {
                struct alder_lwm2m_path rp = alder_lwm2m_path_make(3, o->def->id, inst, o->implemented[i]);
                r = node_add(d, &rp, err);
        }
        return r;
}

int dmc_coap_sync_object(struct dmc *d, struct dmc_object *o, alder_error **err)
{
        /* Paths of objects the server may not touch are answered by the unknown-resource handler (4.01). */
        if (!o->server_access)
                return 0;
        for (struct dmc_node **pn = &d->nodes; *pn;) {
                struct dmc_node *n = *pn;
                const struct alder_lwm2m_path *p = &n->obs.path;
                if (p->id[0] == o->def->id && p->len >= 2 && !dmc_object_has_instance(o, p->id[1])) {
                        *pn = n->next;
                        node_free(d, n);
                } else {
                        pn = &n->next;
                }
        }
        struct alder_lwm2m_path op = alder_lwm2m_path_make(1, o->def->id);
        int r = node_find(d, &op) ? 0 : node_add(d, &op, err);
        for (size_t i = 0; r == 0 && i < o->n_instances; i++)
                r = add_instance(d, o, o->instances[i], err);
        return r;
}

/* ---- observations ------------------------------------------------------------ */

int64_t dmc_coap_observe_tick(struct dmc *d, int64_t now_ms)
{
        int64_t next = INT64_MAX;
        for (struct dmc_node *n = d->nodes; n; n = n->next) {
                if (!n->obs.active)
                        continue;
                struct dmc_attrs eff;
                dmc_attrs_effective(&d->model, &n->obs.path, d->cfg.server.default_pmin_s, d->cfg.server.default_pmax_s,
                                    &eff);
                _cleanup_lwm2m_records_ struct alder_lwm2m_records cur = {0};
                _cleanup_error_ alder_error *err = NULL;
                if (dmc_model_read(&d->model, &n->obs.path, &cur, &err) < 0) {
                        /* Gone or failing: a notification carries the error and ends the observation. */
                        coap_resource_notify_observers(n->res, NULL);
                        n->obs.active = false;
                        continue;
                }
                alder_lwm2m_records_sort(&cur);
                int64_t when;
                if (dmc_observe_due(&n->obs, &eff, &cur, now_ms, &when)) {
                        if (!coap_resource_notify_observers(n->res, NULL))
                                n->obs.active = false; /* the server cancelled it (RST or Observe=1) */
                        continue;
                }
                next = ALDER_MIN(next, when);
        }
        /* Values are sampled: a change shows at the latest one poll interval later. */
        return ALDER_MIN(next, now_ms + d->cfg.observe_poll_ms);
}

/* ---- sessions ------------------------------------------------------------------- */

static void creds_clear(struct dmc_session_creds *c)
{
        free(c->identity);
        free(c->sni);
        free(c->cert);
        free(c->key);
        free(c->ca);
        explicit_bzero(c->psk, sizeof(c->psk));
        *c = (struct dmc_session_creds){0};
}

static int creds_copy(struct dmc_session_creds *c, const struct dmc_server_config *s, alder_error **err)
{
        struct in6_addr a6;
        struct in_addr a4;
        bool literal = inet_pton(AF_INET, s->host, &a4) == 1 || inet_pton(AF_INET6, s->host, &a6) == 1;
        const struct {
                const char *src;
                char **dst;
        } strs[] = {
                {s->psk_identity, &c->identity}, {literal ? NULL : s->host, &c->sni}, /* SNI carries names, never
                                                                                         addresses (RFC 6066) */
                {s->certificate, &c->cert},      {s->private_key, &c->key},           {s->ca, &c->ca},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(strs); i++)
                if (strs[i].src && !(*strs[i].dst = strdup(strs[i].src))) {
                        creds_clear(c);
                        return alder_error_set(err, ENOMEM, "out of memory");
                }
        memcpy(c->psk, s->psk_key, s->psk_key_len);
        c->psk_len = s->psk_key_len;
        return 0;
}

int dmc_coap_resolve(const struct dmc_server_config *s, coap_address_t *ret, alder_error **err)
{
        char port[8];
        snprintf(port, sizeof(port), "%u", s->port);
        struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
        int r = getaddrinfo(s->host, port, &hints, &res);
        if (r != 0)
                return alder_error_set(err, r == EAI_NONAME || r == EAI_AGAIN ? EHOSTUNREACH : EINVAL,
                                       "resolve '%s': %s", s->host,
                                       r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
        coap_address_init(ret);
        ret->size = res->ai_addrlen;
        memcpy(&ret->addr, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        return 0;
}

int dmc_coap_open_session(struct dmc *d, alder_error **err)
{
        const struct dmc_server_config *s = &d->cfg.server;
        coap_address_t addr;
        int r = dmc_coap_resolve(s, &addr, err);
        if (r < 0)
                return r;
        creds_clear(&d->creds);
        r = creds_copy(&d->creds, s, err);
        if (r < 0)
                return r;
        coap_session_t *session = NULL;
        switch (s->security) {
        case DMC_SEC_NOSEC:
                session = coap_new_client_session(d->ctx, NULL, &addr, COAP_PROTO_UDP);
                break;
        case DMC_SEC_PSK: {
                coap_dtls_cpsk_t setup = {
                        .version = COAP_DTLS_CPSK_SETUP_VERSION,
                        .client_sni = d->creds.sni,
                        .psk_info = {.identity = {strlen(d->creds.identity), (const uint8_t *) d->creds.identity},
                                     .key = {d->creds.psk_len, d->creds.psk}},
                };
                session = coap_new_client_session_psk2(d->ctx, NULL, &addr, COAP_PROTO_DTLS, &setup);
                break;
        }
        case DMC_SEC_CERT: {
                coap_dtls_pki_t setup = {
                        .version = COAP_DTLS_PKI_SETUP_VERSION,
                        .verify_peer_cert = 1,
                        .check_common_ca = 1, /* the server's certificate chains to the configured CA */
                        .cert_chain_validation = 1,
                        .cert_chain_verify_depth = 3,
                        .client_sni = d->creds.sni,
                        .pki_key = {.key_type = COAP_PKI_KEY_PEM,
                                    .key.pem = {.ca_file = d->creds.ca,
                                                .public_cert = d->creds.cert,
                                                .private_key = d->creds.key}},
                };
                session = coap_new_client_session_pki(d->ctx, NULL, &addr, COAP_PROTO_DTLS, &setup);
                break;
        }
        }
        if (!session)
                return alder_error_set(err, EIO, "libcoap could not set up a %s session to %s (see its log above)",
                                       s->security == DMC_SEC_NOSEC ? "UDP" : "DTLS", s->uri);
        coap_session_set_ack_timeout(session, (coap_fixed_point_t){(uint16_t) (d->cfg.ack_timeout_ms / 1000),
                                                                   (uint16_t) (d->cfg.ack_timeout_ms % 1000)});
        coap_session_set_max_retransmit(session, (uint16_t) d->cfg.max_retransmit);
        d->session = session;
        return 0;
}

void dmc_coap_close_session(struct dmc *d)
{
        coap_session_t *s = steal_pointer(&d->session);
        if (s)
                coap_session_release(s);
        creds_clear(&d->creds);
}

/* ---- context callbacks ----------------------------------------------------------- */

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t mid)
{
        struct dmc *d = dmc_of(session);
        coap_bin_const_t token = coap_pdu_get_token(received);
        if (session == d->session && d->token_len && token.length == d->token_len &&
            memcmp(token.s, d->token, d->token_len) == 0) {
                dmc_reg_response(d, received);
                return COAP_RESPONSE_OK;
        }
        return COAP_RESPONSE_FAIL; /* nothing of ours: a RST tells the peer */
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
        struct dmc *d = dmc_of(session);
        static const char *const why[] = {
                [COAP_NACK_TOO_MANY_RETRIES] = "no answer from the server (retransmissions exhausted)",
                [COAP_NACK_NOT_DELIVERABLE] = "message not deliverable",
                [COAP_NACK_RST] = "the server reset the exchange",
                [COAP_NACK_TLS_FAILED] = "DTLS handshake failed",
                [COAP_NACK_ICMP_ISSUE] = "ICMP error (server unreachable)",
        };
        if (session != d->session)
                return;
        /* A RST to a notification cancels that observation, nothing more (RFC 7641 §3.6). */
        if (reason == COAP_NACK_RST && sent && coap_pdu_get_code(sent) >= COAP_RESPONSE_CODE(200))
                return;
        const char *w = ALDER_NAME_OF(why, reason);
        dmc_reg_session_failed(d, w ? w : "message not delivered");
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
        struct dmc *d = dmc_of(session);
        if (session != d->session)
                return 0;
        switch (event) {
        case COAP_EVENT_DTLS_CLOSED:
                dmc_reg_session_failed(d, "the DTLS session was closed");
                break;
        case COAP_EVENT_DTLS_ERROR:
                dmc_reg_session_failed(d, "DTLS error");
                break;
        case COAP_EVENT_SESSION_FAILED:
        case COAP_EVENT_SESSION_CLOSED:
                dmc_reg_session_failed(d, "the session failed");
                break;
        default:
                break;
        }
        return 0;
}

static void on_coap_log(coap_log_t level, const char *message)
{
        size_t n = strlen(message);
        while (n && message[n - 1] == '\n')
                n--;
        int l = level <= LOG_ERR ? ALDER_LOG_WARNING : level <= LOG_NOTICE ? ALDER_LOG_NOTICE : ALDER_LOG_DEBUG;
        alder_log(l, ALDER_LOG_FIELDS("COMPONENT", "libcoap"), "libcoap: %.*s", (int) n, message);
}

int dmc_coap_init(struct dmc *d, alder_error **err)
{
        coap_startup();
        coap_set_log_handler(on_coap_log);
        coap_log_t level = alder_log_get_level() >= ALDER_LOG_DEBUG ? LOG_INFO : LOG_WARNING;
        coap_set_log_level(level);
        coap_dtls_set_log_level(level);
        if (d->cfg.server.security != DMC_SEC_NOSEC && !coap_dtls_is_supported())
                return alder_error_set(err, ENOTSUP, "this libcoap has no DTLS support");
        d->ctx = coap_new_context(NULL);
        if (!d->ctx)
                return alder_error_set(err, ENOMEM, "libcoap: cannot create a context");
        coap_set_app_data(d->ctx, d);
        coap_context_set_block_mode(d->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
        coap_register_response_handler(d->ctx, on_response);
        coap_register_nack_handler(d->ctx, on_nack);
        coap_register_event_handler(d->ctx, on_event);
        coap_resource_t *unknown = coap_resource_unknown_init2(handle, 0);
        if (!unknown)
                return alder_error_set(err, ENOMEM, "out of memory");
        register_handlers(unknown);
        coap_add_resource(d->ctx, unknown);
        for (size_t i = 0; i < d->model.n_objects; i++) {
                int r = dmc_coap_sync_object(d, d->model.objects[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

void dmc_coap_done(struct dmc *d)
{
        dmc_coap_close_session(d);
        if (d->ctx)
                coap_free_context(d->ctx); /* frees the resources, not their nodes */
        d->ctx = NULL;
        while (d->nodes) {
                struct dmc_node *n = d->nodes;
                d->nodes = n->next;
                dmc_observation_clear(&n->obs);
                free(n);
        }
        coap_cleanup();
}
