/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LwM2M server over libcoap 4.3.1. Everything here runs in the CoAP thread
 * except dm_server_submit(), dm_server_stop() and the subscription table.
 *
 * libcoap's handlers carry no context pointer in 4.3.1 (no
 * coap_context_set_app_data()), so the one server of the process is reached
 * through `the_server`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <coap3/coap.h>

#include "alder/base64.h"
#include "alder/digest.h"
#include "alder/json.h"
#include "alder/list.h"
#include "alder/log.h"
#include "alder/lwm2m.h"
#include "map.h"
#include "register.h"
#include "server.h"
#include "util.h"

#define REG_ID_BYTES    6 /* 12 hex digits in rd/<id> */
#define TOKEN_LEN       8
#define DIAG_MAX        200
#define QUERY_VALUE_MAX 255

struct pending;

/* A live registration. */
struct reg {
        char id[2 * REG_ID_BYTES + 1];
        char device_id[DM_DEVICE_ID_LEN + 1];
        char *endpoint;
        char *endpoint_type;
        char *identity; /* PSK identity or certificate CN; NULL without security */
        char security[16];
        char *root;              /* alternate root path ("" for "/") */
        coap_session_t *session; /* referenced; NULL after a restart until the device speaks again */
        char address[INET6_ADDRSTRLEN + 16];
        uint32_t lifetime;
        int64_t expires; /* monotonic ms */
        bool queue;
        char binding[8];
        char version[4];
        json_t *objects;
        struct pending *requests; /* requests and observations in flight for this registration */
};

/* A request sent to a device whose answer is awaited (observations stay until cancelled or the registration ends). */
struct pending {
        struct pending *prev, *next; /* in reg->requests */
        char token_hex[2 * TOKEN_LEN + 1];
        char async_id[40]; /* "" once the async response went out (or when none is due) */
        struct reg *reg;
        char *path;
        enum dm_job_kind kind;
        int64_t deadline; /* monotonic ms; 0 = none (an accepted observation) */
};

/* What we keep about a CoAP session (its app data); listed so that none outlives the server. */
struct peer {
        struct peer *prev, *next;
        struct reg *reg;
        char *cn; /* CN of the client certificate */
};

struct dm_server {
        struct dm_server_config cfg;
        dm_store *store;
        dm_hub *hub;
        coap_context_t *ctx;
        int coap_fd, event_fd, epoll_fd;

        struct dm_map by_id, by_endpoint, pending;
        size_t n_regs;
        int64_t next_check;   /* monotonic ms of the next expiry/timeout scan */
        int64_t next_prepare; /* monotonic ms of the next coap_io_prepare_epoll() */

        uint8_t psk[DM_PSK_KEY_MAX];
        coap_bin_const_t psk_bin;

        pthread_mutex_t jobs_lock; /* jobs, stop */
        struct dm_job *jobs, *jobs_tail;
        bool stop;

        pthread_mutex_t subs_lock; /* subs, presubs */
        json_t *subs;              /* {"<endpoint>": {"<path>": "active"|"pending"}} */
        json_t *presubs;           /* pre-subscriptions */

        struct peer *peers;
        struct reg **presub_queue; /* registrations whose pre-subscriptions are applied after the 2.01 went out */
        size_t n_presub_queue, cap_presub_queue;
};

static dm_server *the_server;

/* ---- small helpers ----------------------------------------------------- */

static void log_coap(coap_log_t level, const char *message)
{
        size_t len = strlen(message);
        while (len > 0 && message[len - 1] == '\n')
                len--;
        int l = level <= LOG_ERR       ? ALDER_LOG_ERR
                : level == LOG_WARNING ? ALDER_LOG_WARNING
                : level <= LOG_INFO    ? ALDER_LOG_INFO
                                       : ALDER_LOG_DEBUG;
        alder_log(l, ALDER_LOG_FIELDS("SUBSYSTEM", "libcoap"), "%.*s", (int) len, message);
}

static void format_address(const coap_session_t *session, char *buf, size_t size)
{
        const coap_address_t *a = coap_session_get_addr_remote(session);
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (a->addr.sa.sa_family == AF_INET) {
                inet_ntop(AF_INET, &a->addr.sin.sin_addr, host, sizeof(host));
                port = ntohs(a->addr.sin.sin_port);
                snprintf(buf, size, "%s:%u", host, port);
        } else if (a->addr.sa.sa_family == AF_INET6) {
                const struct in6_addr *in6 = &a->addr.sin6.sin6_addr;
                if (IN6_IS_ADDR_V4MAPPED(in6))
                        inet_ntop(AF_INET, &in6->s6_addr[12], host, sizeof(host));
                else
                        inet_ntop(AF_INET6, in6, host, sizeof(host));
                port = ntohs(a->addr.sin6.sin6_port);
                snprintf(buf, size, IN6_IS_ADDR_V4MAPPED(in6) ? "%s:%u" : "[%s]:%u", host, port);
        } else {
                snprintf(buf, size, "?");
        }
}

/* Length of the host part of "1.2.3.4:5" or "[::1]:5". */
static size_t host_len(const char *address)
{
        const char *colon = strrchr(address, ':');
        return colon ? (size_t) (colon - address) : strlen(address);
}

static bool same_host(const char *a, const char *b)
{
        size_t la = host_len(a), lb = host_len(b);
        return la == lb && memcmp(a, b, la) == 0;
}

static struct peer *peer_of(coap_session_t *session)
{
        struct peer *p = coap_session_get_app_data(session);
        if (!p) {
                p = calloc(1, sizeof(*p));
                if (p) {
                        coap_session_set_app_data(session, p);
                        ALDER_LIST_PREPEND(the_server->peers, p);
                }
        }
        return p;
}

static void peer_free(dm_server *s, struct peer *p)
{
        ALDER_LIST_REMOVE(s->peers, p);
        free(p->cn);
        free(p);
}

/* Sets a response code with a diagnostic payload (RFC 7252 §5.5.2); returns 0 for `return set_diagnostic(...)`. */
static int set_diagnostic(coap_pdu_t *response, unsigned code, const char *fmt, ...) ALDER_PRINTF(3, 4);
static int set_diagnostic(coap_pdu_t *response, unsigned code, const char *fmt, ...)
{
        char msg[DIAG_MAX];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        coap_pdu_set_code(response, (coap_pdu_code_t) code);
        coap_add_data(response, (size_t) ALDER_MIN(n, (int) sizeof(msg) - 1), (const uint8_t *) msg);
        return 0;
}

/* Reply with a client error whose diagnostic payload is an alder_error's message. */
static int set_error(coap_pdu_t *response, unsigned code, alder_error *err)
{
        return set_diagnostic(response, code, "%s", alder_error_message(err));
}

static json_t *event_base(const struct reg *r)
{
        return json_pack("{ssssss}", "ep", r->endpoint, "ept", r->endpoint_type ? r->endpoint_type : "", "device-id",
                         r->device_id);
}

/* registrations / reg-updates entries: Pelion's {ep, ept, q, resources: [{path, ...}]}. */
static json_t *registration_event(const struct reg *r)
{
        json_t *e = event_base(r);
        if (e) {
                json_object_set_new(e, "q", json_boolean(r->queue));
                json_object_set(e, "resources", r->objects);
                json_object_set_new(e, "lwm2m", json_string(r->version));
                json_object_set_new(e, "lt", json_integer(r->lifetime));
        }
        return e;
}

/* Security events: {ep, type, message, address}. */
static void security_event(dm_server *s, const char *endpoint, const char *type, const char *address,
                           const char *message)
{
        _cleanup_error_ alder_error *err = NULL;
        int r = dm_store_device_flag(s->store, endpoint, type, message, dm_now_ms(), &err);
        if (r < 0 && r != -ENOENT)
                alder_log_error(ALDER_LOG_WARNING, err, NULL, "flag endpoint %s", endpoint);
        alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("ENDPOINT", endpoint, "ADDRESS", address, "FLAG", type),
                  "refused: %s", message);
        dm_hub_push(s->hub, DM_EV_SECURITY,
                    json_pack("{ssssssss}", "ep", endpoint, "type", type, "address", address, "message", message));
}

/* ---- subscriptions table (shared with the HTTP threads) ---------------- */

static void subs_set(dm_server *s, const char *endpoint, const char *path, const char *state)
{
        pthread_mutex_lock(&s->subs_lock);
        json_t *ep = json_object_get(s->subs, endpoint);
        if (!ep && state) {
                ep = json_object();
                json_object_set_new(s->subs, endpoint, ep);
        }
        if (ep) {
                if (state)
                        json_object_set_new(ep, path, json_string(state));
                else
                        json_object_del(ep, path);
                if (json_object_size(ep) == 0)
                        json_object_del(s->subs, endpoint);
        }
        pthread_mutex_unlock(&s->subs_lock);
}

json_t *dm_server_subscriptions(dm_server *s, const char *endpoint)
{
        json_t *list = json_array();
        pthread_mutex_lock(&s->subs_lock);
        json_t *ep = json_object_get(s->subs, endpoint);
        const char *path;
        json_t *v;
        json_object_foreach(ep, path, v) json_array_append_new(list, json_string(path));
        pthread_mutex_unlock(&s->subs_lock);
        return list;
}

int dm_server_subscription_state(dm_server *s, const char *endpoint, const char *path)
{
        pthread_mutex_lock(&s->subs_lock);
        const char *state = json_string_value(json_object_get(json_object_get(s->subs, endpoint), path));
        int r = !state ? -ENOENT : strcmp(state, "active") == 0 ? 1 : 0;
        pthread_mutex_unlock(&s->subs_lock);
        return r;
}

void dm_server_set_presubscriptions(dm_server *s, json_t *presubs)
{
        pthread_mutex_lock(&s->subs_lock);
        json_decref(s->presubs);
        s->presubs = json_incref(presubs);
        pthread_mutex_unlock(&s->subs_lock);
}

#define PRESUBS_MAX 256

int dm_presubs_check(const json_t *presubs, alder_error **err)
{
        if (!json_is_array(presubs))
                return alder_error_set(err, EINVAL, "pre-subscriptions: expected an array");
        if (json_array_size(presubs) > PRESUBS_MAX)
                return alder_error_set(err, E2BIG, "pre-subscriptions: more than %d entries", PRESUBS_MAX);
        size_t i;
        json_t *p;
        json_array_foreach(presubs, i, p)
        {
                char where[48];
                snprintf(where, sizeof(where), "pre-subscriptions[%zu]", i);
                static const char *const allowed[] = {"endpoint-name", "endpoint-type", "resource-path", NULL};
                const char *s;
                _cleanup_strv_ char **paths = NULL;
                int r = alder_json_check_keys(p, where, NULL, allowed, err);
                if (r >= 0)
                        r = alder_json_get_string(p, where, "endpoint-name", ALDER_JSON_OPTIONAL, &s, err);
                if (r >= 0)
                        r = alder_json_get_string(p, where, "endpoint-type", ALDER_JSON_OPTIONAL, &s, err);
                if (r >= 0)
                        r = alder_json_get_strv(p, where, "resource-path", ALDER_JSON_OPTIONAL, 64, &paths, err);
                if (r < 0)
                        return r;
                for (size_t k = 0; paths && paths[k]; k++) {
                        struct alder_lwm2m_path lp;
                        size_t len = strlen(paths[k]);
                        bool wildcard = len > 0 && paths[k][len - 1] == '*';
                        if (wildcard ? len > 1 && paths[k][0] == '/' && strchr(paths[k], '*') == paths[k] + len - 1
                                     : alder_lwm2m_path_parse(paths[k], &lp, NULL) >= 0 && paths[k][0] == '/')
                                continue;
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'resource-path[%zu]': '%s' is not an LwM2M path (or a "
                                               "prefix ending in '*')",
                                               where, k, paths[k]);
                }
        }
        return 0;
}

/* ---- requests to devices ----------------------------------------------- */

void dm_job_free(struct dm_job *j)
{
        if (!j)
                return;
        free(j->endpoint);
        free(j->path);
        free(j->payload);
        alder_strv_free(j->query);
        free(j);
}

static void pending_free(dm_server *s, struct pending *p)
{
        dm_map_remove(&s->pending, p->token_hex);
        if (p->reg)
                ALDER_LIST_REMOVE(p->reg->requests, p);
        free(p->path);
        free(p);
}

/* Pelion's async-response status: an HTTP status for the CoAP code (5.xx of the device is a bad gateway). */
static int http_status_of(unsigned code)
{
        unsigned cls = code >> 5, detail = code & 31;
        if (cls == 2)
                return detail == 1 ? 201 : detail == 2 ? 202 : detail == 4 ? 204 : 200;
        if (cls == 4)
                return 400 + (int) detail;
        return 502;
}

static void async_response(dm_server *s, const char *async_id, int status, const char *error, const uint8_t *data,
                           size_t len, int ct, int max_age, unsigned coap_code)
{
        if (!async_id || !async_id[0])
                return;
        json_t *e = json_pack("{sssi}", "id", async_id, "status", status);
        if (!e)
                return;
        json_object_set_new(e, "error", error ? json_string(error) : json_null());
        if (data) {
                char *b64 = alder_base64_encode(data, len, false, NULL);
                json_object_set_new(e, "payload", b64 ? json_string(b64) : json_null());
                free(b64);
        }
        if (ct >= 0) {
                const char *mime = dm_content_format_mime((unsigned) ct);
                char num[16];
                snprintf(num, sizeof(num), "%d", ct);
                json_object_set_new(e, "ct", json_string(mime ? mime : num));
        }
        if (max_age >= 0)
                json_object_set_new(e, "max-age", json_integer(max_age));
        if (coap_code) {
                char buf[5];
                json_object_set_new(e, "coap-code", json_string(dm_coap_code_format(coap_code, buf)));
        }
        dm_hub_push(s->hub, DM_EV_ASYNC_RESPONSE, e);
}

static void fail_pending(dm_server *s, struct pending *p, int status, const char *error)
{
        async_response(s, p->async_id, status, error, NULL, 0, -1, -1, 0);
        if (p->kind == DM_JOB_OBSERVE && p->reg)
                subs_set(s, p->reg->endpoint, p->path, NULL);
        pending_free(s, p);
}

static void release_data(coap_session_t *session, void *app_ptr)
{
        free(app_ptr);
}

/* Adds the Uri-Path options of an LwM2M path below the registration's root. */
static int add_path_options(coap_optlist_t **opts, const char *root, const char *path)
{
        char buf[512];
        snprintf(buf, sizeof(buf), "%s%s", root, path);
        for (char *save = NULL, *seg = strtok_r(buf, "/", &save); seg; seg = strtok_r(NULL, "/", &save))
                if (!coap_insert_optlist(opts,
                                         coap_new_optlist(COAP_OPTION_URI_PATH, strlen(seg), (const uint8_t *) seg)))
                        return -ENOMEM;
        return 0;
}

static int add_uint_option(coap_optlist_t **opts, uint16_t number, unsigned value)
{
        uint8_t buf[4];
        size_t n = coap_encode_var_safe(buf, sizeof(buf), value);
        return coap_insert_optlist(opts, coap_new_optlist(number, n, buf)) ? 0 : -ENOMEM;
}

/* Builds and sends the CoAP request of a job on the registration's session; the pending entry gets its token. */
static int send_request(dm_server *s, struct reg *r, struct dm_job *j, struct pending *p, const char **ret_error)
{
        coap_session_t *session = r->session;
        coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, (coap_pdu_code_t) j->method, coap_new_message_id(session),
                                        coap_session_max_pdu_size(session));
        if (!pdu) {
                *ret_error = "out of memory";
                return -ENOMEM;
        }
        uint8_t token[TOKEN_LEN];
        if (getrandom(token, sizeof(token), 0) != sizeof(token) || !coap_add_token(pdu, sizeof(token), token)) {
                coap_delete_pdu(pdu);
                *ret_error = "no token";
                return -EIO;
        }
        alder_hex_encode(token, sizeof(token), p->token_hex);

        coap_optlist_t *opts = NULL;
        int rc = 0;
        if (j->kind == DM_JOB_OBSERVE || j->kind == DM_JOB_UNOBSERVE)
                rc = add_uint_option(&opts, COAP_OPTION_OBSERVE, j->kind == DM_JOB_OBSERVE ? 0 : 1);
        if (rc >= 0)
                rc = add_path_options(&opts, r->root, j->path);
        if (rc >= 0 && j->content_format >= 0)
                rc = add_uint_option(&opts, COAP_OPTION_CONTENT_FORMAT, (unsigned) j->content_format);
        for (size_t i = 0; rc >= 0 && j->query && j->query[i]; i++)
                if (!coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_QUERY, strlen(j->query[i]),
                                                                 (const uint8_t *) j->query[i])))
                        rc = -ENOMEM;
        if (rc >= 0 && j->accept >= 0)
                rc = add_uint_option(&opts, COAP_OPTION_ACCEPT, (unsigned) j->accept);
        if (rc >= 0 && !coap_add_optlist_pdu(pdu, &opts))
                rc = -ENOMEM;
        coap_delete_optlist(opts);
        if (rc >= 0 && j->len > 0) {
                /* libcoap sends it block-wise (Block1) when it does not fit one datagram. */
                if (coap_add_data_large_request(session, pdu, j->len, j->payload, release_data, j->payload))
                        j->payload = NULL;
                else
                        rc = -ENOMEM;
        }
        if (rc < 0) {
                coap_delete_pdu(pdu);
                *ret_error = "cannot build the CoAP request";
                return rc;
        }
        if (coap_send(session, pdu) == COAP_INVALID_MID) {
                *ret_error = "cannot send to the device";
                return -EIO;
        }
        return 0;
}

static struct pending *find_observation(struct reg *r, const char *path)
{
        for (struct pending *p = r->requests; p; p = p->next)
                if (p->kind == DM_JOB_OBSERVE && strcmp(p->path, path) == 0)
                        return p;
        return NULL;
}

static void run_job(dm_server *s, struct dm_job *j)
{
        struct reg *r = dm_map_get(&s->by_endpoint, j->endpoint);
        if (!r) {
                async_response(s, j->async_id, 410, "endpoint is not registered", NULL, 0, -1, -1, 0);
                return;
        }
        if (!r->session) {
                async_response(s, j->async_id, 410,
                               "no session with the endpoint since the server restarted: it "
                               "answers after its next registration update",
                               NULL, 0, -1, -1, 0);
                return;
        }
        if (j->kind == DM_JOB_OBSERVE && find_observation(r, j->path)) {
                async_response(s, j->async_id, 200, NULL, NULL, 0, -1, -1, 0); /* already observed */
                return;
        }
        if (j->kind == DM_JOB_UNOBSERVE) {
                /* Forget it now: later notifications get a RST, which cancels the observation too (RFC 7641). */
                struct pending *o = find_observation(r, j->path);
                if (o)
                        pending_free(s, o);
                subs_set(s, r->endpoint, j->path, NULL);
        }
        struct pending *p = calloc(1, sizeof(*p));
        if (!p || !(p->path = strdup(j->path))) {
                free(p);
                async_response(s, j->async_id, 500, "out of memory", NULL, 0, -1, -1, 0);
                return;
        }
        snprintf(p->async_id, sizeof(p->async_id), "%s", j->async_id);
        p->kind = j->kind;
        p->reg = r;
        p->deadline = dm_mono_ms() + (int64_t) s->cfg.request_timeout * 1000;
        const char *error = NULL;
        if (send_request(s, r, j, p, &error) < 0 || dm_map_put(&s->pending, p->token_hex, p) < 0) {
                async_response(s, j->async_id, 502, error ? error : "out of memory", NULL, 0, -1, -1, 0);
                free(p->path);
                free(p);
                return;
        }
        ALDER_LIST_PREPEND(r->requests, p);
        if (p->deadline < s->next_check)
                s->next_check = p->deadline;
        if (j->kind == DM_JOB_OBSERVE)
                subs_set(s, r->endpoint, j->path, "pending");
}

static int option_uint(const coap_pdu_t *pdu, uint16_t number, int fallback)
{
        coap_opt_iterator_t it;
        coap_opt_t *o = coap_check_option(pdu, number, &it);
        return o ? (int) coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : fallback;
}

static void last_seen(dm_server *s, struct reg *r)
{
        _cleanup_error_ alder_error *err = NULL;
        if (dm_store_device_seen(s->store, r->id, dm_now_ms(), &err) < 0)
                alder_log_error(ALDER_LOG_WARNING, err, NULL, "endpoint %s", r->endpoint);
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t mid)
{
        dm_server *s = the_server;
        coap_bin_const_t token = coap_pdu_get_token(received);
        if (token.length != TOKEN_LEN)
                return COAP_RESPONSE_FAIL;
        char hex[2 * TOKEN_LEN + 1];
        alder_hex_encode(token.s, token.length, hex);
        struct pending *p = dm_map_get(&s->pending, hex);
        if (!p)
                return COAP_RESPONSE_FAIL; /* unknown (or cancelled observation): RST */

        unsigned code = coap_pdu_get_code(received);
        size_t len = 0, offset, total;
        const uint8_t *data = NULL;
        coap_get_data_large(received, &len, &data, &offset, &total);
        int ct = option_uint(received, COAP_OPTION_CONTENT_FORMAT, -1);
        int max_age = option_uint(received, COAP_OPTION_MAXAGE, -1);
        bool observing =
                p->kind == DM_JOB_OBSERVE && (code >> 5) == 2 && option_uint(received, COAP_OPTION_OBSERVE, -1) >= 0;
        if (len > s->cfg.max_payload) {
                fail_pending(s, p, 502, "the device's answer is larger than the server's max_payload");
                return COAP_RESPONSE_OK;
        }
        struct reg *r = p->reg;
        last_seen(s, r);
        if (p->async_id[0]) {
                char err[32] = "";
                if ((code >> 5) != 2)
                        snprintf(err, sizeof(err), "device answered %u.%02u", code >> 5, code & 31);
                async_response(s, p->async_id, http_status_of(code), err[0] ? err : NULL, data ? data : (uint8_t *) "",
                               len, ct, max_age, code);
                p->async_id[0] = '\0';
                if (observing) {
                        subs_set(s, r->endpoint, p->path, "active");
                        p->deadline = 0;
                        return COAP_RESPONSE_OK;
                }
        } else if (observing) {
                char *b64 = alder_base64_encode(data ? data : (const uint8_t *) "", len, false, NULL);
                json_t *n = json_pack("{ssssss?}", "ep", r->endpoint, "path", p->path, "payload", b64);
                free(b64);
                const char *mime = ct >= 0 ? dm_content_format_mime((unsigned) ct) : NULL;
                if (n && mime)
                        json_object_set_new(n, "ct", json_string(mime));
                if (n && max_age >= 0)
                        json_object_set_new(n, "max-age", json_integer(max_age));
                dm_hub_push(s->hub, DM_EV_NOTIFICATION, n);
                return COAP_RESPONSE_OK;
        }
        /* A plain request's answer, or an observation the device refused or ended. */
        if (p->kind == DM_JOB_OBSERVE)
                subs_set(s, r->endpoint, p->path, NULL);
        pending_free(s, p);
        return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
        dm_server *s = the_server;
        if (!sent)
                return;
        coap_bin_const_t token = coap_pdu_get_token(sent);
        if (token.length != TOKEN_LEN)
                return;
        char hex[2 * TOKEN_LEN + 1];
        alder_hex_encode(token.s, token.length, hex);
        struct pending *p = dm_map_get(&s->pending, hex);
        if (!p)
                return;
        static const char *const reasons[] = {
                [COAP_NACK_TOO_MANY_RETRIES] = "TIMEOUT: the device did not acknowledge the request",
                [COAP_NACK_NOT_DELIVERABLE] = "the request could not be delivered",
                [COAP_NACK_RST] = "the device answered with a reset",
                [COAP_NACK_TLS_FAILED] = "the DTLS session failed",
                [COAP_NACK_ICMP_ISSUE] = "ICMP error from the device's address",
        };
        const char *why = ALDER_NAME_OF(reasons, reason);
        fail_pending(s, p, reason == COAP_NACK_TOO_MANY_RETRIES ? 504 : 502, why ? why : "request failed");
}

/* ---- registrations ----------------------------------------------------- */

static void reg_free(dm_server *s, struct reg *r)
{
        while (r->requests)
                fail_pending(s, r->requests, 410, "the registration ended");
        pthread_mutex_lock(&s->subs_lock);
        json_object_del(s->subs, r->endpoint);
        pthread_mutex_unlock(&s->subs_lock);
        for (size_t i = 0; i < s->n_presub_queue; i++)
                if (s->presub_queue[i] == r)
                        s->presub_queue[i] = NULL;
        if (r->session) {
                struct peer *peer = coap_session_get_app_data(r->session);
                if (peer && peer->reg == r)
                        peer->reg = NULL;
                coap_session_release(r->session);
        }
        free(r->endpoint);
        free(r->endpoint_type);
        free(r->identity);
        free(r->root);
        json_decref(r->objects);
        free(r);
}

/* Takes a registration out of the maps (and frees it). */
static void reg_remove(dm_server *s, struct reg *r)
{
        dm_map_remove(&s->by_id, r->id);
        dm_map_remove(&s->by_endpoint, r->endpoint);
        s->n_regs--;
        reg_free(s, r);
}

static void reg_attach_session(struct reg *r, coap_session_t *session)
{
        if (r->session == session)
                return;
        if (r->session) {
                struct peer *old = coap_session_get_app_data(r->session);
                if (old && old->reg == r)
                        old->reg = NULL;
                coap_session_release(r->session);
        }
        r->session = coap_session_reference(session);
        struct peer *p = peer_of(session);
        if (p)
                p->reg = r;
        format_address(session, r->address, sizeof(r->address));
}

static int reg_insert(dm_server *s, struct reg *r)
{
        if (dm_map_put(&s->by_id, r->id, r) < 0)
                return -ENOMEM;
        if (dm_map_put(&s->by_endpoint, r->endpoint, r) < 0) {
                dm_map_remove(&s->by_id, r->id);
                return -ENOMEM;
        }
        s->n_regs++;
        if (r->expires < s->next_check)
                s->next_check = r->expires;
        return 0;
}

/* The identity a session proves: PSK identity or certificate CN; security "none" for plain UDP. */
static int session_identity(coap_session_t *session, char **ret, const char **ret_security)
{
        *ret = NULL;
        *ret_security = "none";
        if (coap_session_get_proto(session) != COAP_PROTO_DTLS)
                return 0;
        const coap_bin_const_t *id = coap_session_get_psk_identity(session);
        if (id && id->length > 0) {
                *ret_security = "psk";
                *ret = strndup((const char *) id->s, id->length);
        } else {
                struct peer *p = coap_session_get_app_data(session);
                if (!p || !p->cn)
                        return -EACCES;
                *ret_security = "certificate";
                *ret = strdup(p->cn);
        }
        return *ret ? 0 : -ENOMEM;
}

/* Uri-Query options as strings (at most DM_REG_QUERY_MAX + 1, so that too many are reported). */
static size_t query_options(const coap_pdu_t *request, char query[][QUERY_VALUE_MAX + 1], const char **ptrs)
{
        coap_opt_iterator_t it;
        coap_opt_filter_t filter;
        coap_option_filter_clear(&filter);
        coap_option_filter_set(&filter, COAP_OPTION_URI_QUERY);
        coap_option_iterator_init(request, &it, &filter);
        size_t n = 0;
        coap_opt_t *o;
        while ((o = coap_option_next(&it)) && n <= DM_REG_QUERY_MAX) {
                size_t len = ALDER_MIN(coap_opt_length(o), (uint32_t) QUERY_VALUE_MAX);
                memcpy(query[n], coap_opt_value(o), len);
                query[n][len] = '\0';
                ptrs[n] = query[n];
                n++;
        }
        return n;
}

/* The payload, refused with 4.13 past max_payload, 4.15 when it is not link format. */
static bool payload_of(dm_server *s, const coap_pdu_t *request, coap_pdu_t *response, const char **ret, size_t *len)
{
        size_t offset, total;
        const uint8_t *data = NULL;
        *len = 0;
        coap_get_data_large(request, len, &data, &offset, &total);
        *ret = (const char *) data;
        if (total > s->cfg.max_payload || *len > s->cfg.max_payload) {
                uint8_t buf[4];
                coap_add_option(response, COAP_OPTION_SIZE1,
                                coap_encode_var_safe(buf, sizeof(buf), (unsigned) s->cfg.max_payload), buf);
                set_diagnostic(response, COAP_RESPONSE_CODE(413), "payload of %zu bytes: the limit is %zu",
                               ALDER_MAX(total, *len), s->cfg.max_payload);
                return false;
        }
        int ct = option_uint(request, COAP_OPTION_CONTENT_FORMAT, ALDER_LWM2M_FMT_LINK);
        if (*len > 0 && ct != ALDER_LWM2M_FMT_LINK) {
                set_diagnostic(response, COAP_RESPONSE_CODE(415),
                               "content format %d: the object list is application/link-format (40)", ct);
                return false;
        }
        return true;
}

/* The alternate root of an object list ("" for "/"). */
static char *root_of(const char *payload, size_t len)
{
        struct alder_lwm2m_links links = {0};
        char *root = NULL;
        if (alder_lwm2m_links_parse(payload, len, &links, NULL) >= 0)
                for (size_t i = 0; i < links.n && !root; i++) {
                        const char *rt = alder_lwm2m_link_attr(&links.v[i], "rt");
                        if (rt && strcmp(rt, "oma.lwm2m") == 0 && strcmp(links.v[i].uri, "/") != 0)
                                root = strdup(links.v[i].uri);
                }
        alder_lwm2m_links_clear(&links);
        return root ? root : strdup("");
}

/*
 * Who may register `endpoint` from this session: an endpoint with a PSK only
 * over DTLS with that PSK's identity; with a certificate only when its CN is
 * the endpoint name. A refusal is flagged on the device and emitted.
 */
static bool check_credentials(dm_server *s, const char *endpoint, const char *identity, const char *security,
                              const char *address, coap_pdu_t *response)
{
        _cleanup_free_ char *provisioned = NULL;
        char msg[DIAG_MAX];
        int r = dm_store_psk_identity_of(s->store, endpoint, &provisioned, NULL);
        if (r < 0 && r != -ENOENT) {
                set_diagnostic(response, COAP_RESPONSE_CODE(500), "device directory unavailable");
                return false;
        }
        const char *type = NULL;
        if (strcmp(security, "none") == 0 && provisioned) {
                type = "insecure_registration";
                snprintf(msg, sizeof(msg), "endpoint '%s' has a PSK: it registers over DTLS only", endpoint);
        } else if (strcmp(security, "psk") == 0 && (!provisioned || strcmp(provisioned, identity) != 0)) {
                type = "identity_mismatch";
                snprintf(msg, sizeof(msg), "PSK identity '%s' is not the one provisioned for endpoint '%s'", identity,
                         endpoint);
        } else if (strcmp(security, "certificate") == 0 && strcmp(identity, endpoint) != 0) {
                type = "identity_mismatch";
                snprintf(msg, sizeof(msg), "certificate CN '%s' does not match endpoint '%s'", identity, endpoint);
        }
        if (!type)
                return true;
        security_event(s, endpoint, type, address, msg);
        set_diagnostic(response, COAP_RESPONSE_CODE(403), "%s", msg);
        return false;
}

static void queue_presubscriptions(dm_server *s, struct reg *r)
{
        if (s->n_presub_queue == s->cap_presub_queue) {
                size_t cap = s->cap_presub_queue ? 2 * s->cap_presub_queue : 16;
                struct reg **v = realloc(s->presub_queue, cap * sizeof(*v));
                if (!v)
                        return;
                s->presub_queue = v;
                s->cap_presub_queue = cap;
        }
        s->presub_queue[s->n_presub_queue++] = r;
}

static int do_register(dm_server *s, coap_session_t *session, const coap_pdu_t *request, coap_pdu_t *response)
{
        _cleanup_error_ alder_error *err = NULL;
        char query[DM_REG_QUERY_MAX + 1][QUERY_VALUE_MAX + 1];
        const char *ptrs[DM_REG_QUERY_MAX + 1];
        size_t n = query_options(request, query, ptrs);
        _cleanup_(dm_reg_params_clear) struct dm_reg_params params = {0};
        if (dm_reg_params_parse(NULL, ptrs, n, &params, &err) < 0)
                return set_error(response, COAP_RESPONSE_CODE(400), err);

        const char *payload;
        size_t len;
        if (!payload_of(s, request, response, &payload, &len))
                return 0;
        if (len == 0)
                return set_diagnostic(response, COAP_RESPONSE_CODE(400),
                                      "missing object list (application/link-format payload)");
        _cleanup_json_ json_t *objects = NULL;
        if (dm_reg_objects_parse(payload, len, &objects, &err) < 0)
                return set_error(response, COAP_RESPONSE_CODE(400), err);

        char address[INET6_ADDRSTRLEN + 16];
        format_address(session, address, sizeof(address));
        _cleanup_free_ char *identity = NULL;
        const char *security;
        if (session_identity(session, &identity, &security) < 0)
                return set_diagnostic(response, COAP_RESPONSE_CODE(403), "no identity on this DTLS session");
        if (!check_credentials(s, params.endpoint, identity, security, address, response))
                return 0;

        struct reg *old = dm_map_get(&s->by_endpoint, params.endpoint);
        if (old && old->identity && old->session != session && !same_host(old->address, address)) {
                char msg[DIAG_MAX];
                snprintf(msg, sizeof(msg),
                         "identity '%s' is registered from %s (registration rd/%s is live): refused as a suspected "
                         "clone",
                         old->identity, old->address, old->id);
                security_event(s, params.endpoint, "identity_in_use", address, msg);
                return set_diagnostic(response, COAP_RESPONSE_CODE(403), "%s", msg);
        }
        if (!old && s->cfg.max_registrations && s->n_regs >= s->cfg.max_registrations)
                return set_diagnostic(response, COAP_RESPONSE_CODE(503), "server full (%u registrations)",
                                      s->cfg.max_registrations);

        struct reg *r = calloc(1, sizeof(*r));
        if (!r)
                return set_diagnostic(response, COAP_RESPONSE_CODE(500), "out of memory");
        if (dm_random_hex(r->id, REG_ID_BYTES, &err) < 0 || !(r->endpoint = strdup(params.endpoint)) ||
            !(r->root = root_of(payload, len)) || (identity && !(r->identity = strdup(identity))) ||
            (params.endpoint_type && !(r->endpoint_type = strdup(params.endpoint_type)))) {
                reg_free(s, r);
                return set_diagnostic(response, COAP_RESPONSE_CODE(500), "out of memory");
        }
        snprintf(r->security, sizeof(r->security), "%s", security);
        snprintf(r->version, sizeof(r->version), "%s", params.version);
        snprintf(r->binding, sizeof(r->binding), "%s", params.has_binding ? params.binding : "U");
        r->lifetime = params.lifetime;
        r->queue = params.queue;
        r->objects = json_incref(objects);
        r->expires = dm_mono_ms() + (int64_t) r->lifetime * 1000;

        _cleanup_free_ char *objects_text = json_dumps(objects, JSON_COMPACT);
        struct dm_device_reg dr = {
                .endpoint = r->endpoint,
                .endpoint_type = r->endpoint_type,
                .identity = r->identity,
                .security = r->security,
                .registration_id = r->id,
                .address = address,
                .binding = r->binding,
                .version = r->version,
                .sms = params.has_sms ? params.sms : NULL,
                .objects = objects_text,
                .has_lifetime = true,
                .lifetime = r->lifetime,
                .queue = r->queue,
                .now = dm_now_ms(),
        };
        if (dm_store_device_register(s->store, &dr, r->device_id, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, ALDER_LOG_FIELDS("ENDPOINT", r->endpoint), "register");
                reg_free(s, r);
                return set_diagnostic(response, COAP_RESPONSE_CODE(500), "device directory unavailable");
        }
        /* A new registration of the endpoint replaces the old one (a reboot, a new port). */
        if (old)
                reg_remove(s, old);
        if (reg_insert(s, r) < 0) {
                reg_free(s, r);
                return set_diagnostic(response, COAP_RESPONSE_CODE(500), "out of memory");
        }
        reg_attach_session(r, session);

        coap_add_option(response, COAP_OPTION_LOCATION_PATH, 2, (const uint8_t *) "rd");
        coap_add_option(response, COAP_OPTION_LOCATION_PATH, strlen(r->id), (const uint8_t *) r->id);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(201));
        alder_log(ALDER_LOG_INFO,
                  ALDER_LOG_FIELDS("ENDPOINT", r->endpoint, "REGISTRATION", r->id, "ADDRESS", r->address, "SECURITY",
                                   r->security),
                  "registered %s (lifetime %u s)", r->endpoint, r->lifetime);
        dm_hub_push(s->hub, DM_EV_REGISTRATION, registration_event(r));
        queue_presubscriptions(s, r);
        return 0;
}

/* Whether the session may act on registration r: the same identity (and with none, anyone: no security). */
static bool may_act(coap_session_t *session, const struct reg *r, coap_pdu_t *response)
{
        _cleanup_free_ char *identity = NULL;
        const char *security;
        if (session_identity(session, &identity, &security) < 0) {
                set_diagnostic(response, COAP_RESPONSE_CODE(403), "no identity on this DTLS session");
                return false;
        }
        if ((r->identity || identity) &&
            (!r->identity || !identity || strcmp(r->identity, identity) != 0 || strcmp(r->security, security) != 0)) {
                set_diagnostic(response, COAP_RESPONSE_CODE(403), "registration rd/%s belongs to another identity",
                               r->id);
                return false;
        }
        return true;
}

static int do_update(dm_server *s, coap_session_t *session, const char *id, const coap_pdu_t *request,
                     coap_pdu_t *response)
{
        _cleanup_error_ alder_error *err = NULL;
        struct reg *r = dm_map_get(&s->by_id, id);
        if (!r)
                return set_diagnostic(response, COAP_RESPONSE_CODE(404), "no registration rd/%s", id);
        if (!may_act(session, r, response))
                return 0;
        char query[DM_REG_QUERY_MAX + 1][QUERY_VALUE_MAX + 1];
        const char *ptrs[DM_REG_QUERY_MAX + 1];
        size_t n = query_options(request, query, ptrs);
        _cleanup_(dm_reg_params_clear) struct dm_reg_params params = {0};
        if (dm_reg_params_parse(r->version, ptrs, n, &params, &err) < 0)
                return set_error(response, COAP_RESPONSE_CODE(400), err);
        const char *payload;
        size_t len;
        if (!payload_of(s, request, response, &payload, &len))
                return 0;
        _cleanup_json_ json_t *objects = NULL;
        if (len > 0 && dm_reg_objects_parse(payload, len, &objects, &err) < 0)
                return set_error(response, COAP_RESPONSE_CODE(400), err);

        char address[INET6_ADDRSTRLEN + 16];
        format_address(session, address, sizeof(address));
        _cleanup_free_ char *objects_text = objects ? json_dumps(objects, JSON_COMPACT) : NULL;
        struct dm_device_reg dr = {
                .registration_id = r->id,
                .binding = params.has_binding ? params.binding : NULL,
                .sms = params.has_sms ? params.sms : NULL,
                .objects = objects_text,
                .address = address,
                .has_lifetime = params.has_lifetime,
                .lifetime = params.lifetime,
                .now = dm_now_ms(),
        };
        if (dm_store_device_update(s->store, &dr, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, ALDER_LOG_FIELDS("ENDPOINT", r->endpoint), "update");
                return set_diagnostic(response, COAP_RESPONSE_CODE(500), "device directory unavailable");
        }
        if (params.has_lifetime)
                r->lifetime = params.lifetime;
        if (params.has_binding)
                memcpy(r->binding, params.binding, sizeof(r->binding));
        if (objects) {
                json_decref(r->objects);
                r->objects = json_incref(objects);
                char *root = root_of(payload, len);
                if (root) {
                        free(r->root);
                        r->root = root;
                }
        }
        /* An update from a new address moves the registration there (NAT rebinding, a new DTLS session). */
        reg_attach_session(r, session);
        r->expires = dm_mono_ms() + (int64_t) r->lifetime * 1000;
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(204));
        alder_log(ALDER_LOG_DEBUG, ALDER_LOG_FIELDS("ENDPOINT", r->endpoint, "REGISTRATION", r->id), "update");
        dm_hub_push(s->hub, DM_EV_REG_UPDATE, registration_event(r));
        return 0;
}

static int do_deregister(dm_server *s, coap_session_t *session, const char *id, coap_pdu_t *response)
{
        _cleanup_error_ alder_error *err = NULL;
        struct reg *r = dm_map_get(&s->by_id, id);
        if (!r)
                return set_diagnostic(response, COAP_RESPONSE_CODE(404), "no registration rd/%s", id);
        if (!may_act(session, r, response))
                return 0;
        if (dm_store_device_end(s->store, r->id, "deregistered", dm_now_ms(), &err) < 0)
                alder_log_error(ALDER_LOG_ERR, err, ALDER_LOG_FIELDS("ENDPOINT", r->endpoint), "de-register");
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("ENDPOINT", r->endpoint, "REGISTRATION", r->id), "de-registered %s",
                  r->endpoint);
        dm_hub_push(s->hub, DM_EV_DEREGISTRATION, json_string(r->endpoint));
        reg_remove(s, r);
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(202));
        return 0;
}

static int dispatch(dm_server *s, coap_session_t *session, const coap_pdu_t *request, coap_pdu_t *response)
{
        coap_string_t *uri = coap_get_uri_path(request);
        char path[64] = "";
        if (uri)
                snprintf(path, sizeof(path), "%.*s", (int) ALDER_MIN(uri->length, sizeof(path) - 1), uri->s);
        bool too_long = uri && uri->length >= sizeof(path);
        coap_delete_string(uri);
        coap_pdu_code_t code = coap_pdu_get_code(request);

        if (too_long || (strcmp(path, "rd") != 0 && strncmp(path, "rd/", 3) != 0))
                return set_diagnostic(response, COAP_RESPONSE_CODE(404), "no resource /%s (LwM2M registration is /rd)",
                                      path);
        /* LwM2M §8.2.? (Transport Bindings): registration interface requests are confirmable. */
        if (coap_pdu_get_type(request) != COAP_MESSAGE_CON)
                return set_diagnostic(response, COAP_RESPONSE_CODE(400), "registration requests must be confirmable");
        const char *id = path + 3;
        if (strcmp(path, "rd") == 0) {
                if (code != COAP_REQUEST_CODE_POST)
                        return set_diagnostic(response, COAP_RESPONSE_CODE(405), "/rd takes POST (Register)");
                return do_register(s, session, request, response);
        }
        if (!*id || strchr(id, '/'))
                return set_diagnostic(response, COAP_RESPONSE_CODE(404), "no resource /%s", path);
        if (code == COAP_REQUEST_CODE_POST)
                return do_update(s, session, id, request, response);
        if (code == COAP_REQUEST_CODE_DELETE)
                return do_deregister(s, session, id, response);
        return set_diagnostic(response, COAP_RESPONSE_CODE(405), "/rd/%s takes POST (Update) and DELETE (De-register)",
                              id);
}

/* Every request of the server's CoAP resources lands here: rd (Register), rd/<id> (Update, De-register). */
static void on_request(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                       const coap_string_t *query, coap_pdu_t *response)
{
        (void) dispatch(the_server, session, request, response);
}

/* ---- DTLS --------------------------------------------------------------- */

static const coap_bin_const_t *on_psk_identity(coap_bin_const_t *identity, coap_session_t *session, void *arg)
{
        dm_server *s = arg;
        if (!identity || identity->length == 0 || identity->length > DM_PSK_IDENTITY_MAX ||
            memchr(identity->s, '\0', identity->length))
                return NULL;
        char id[DM_PSK_IDENTITY_MAX + 1];
        memcpy(id, identity->s, identity->length);
        id[identity->length] = '\0';
        _cleanup_free_ char *endpoint = NULL;
        size_t len;
        if (dm_store_psk_by_identity(s->store, id, &endpoint, s->psk, &len, NULL) < 0) {
                char address[INET6_ADDRSTRLEN + 16];
                format_address(session, address, sizeof(address));
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("IDENTITY", id, "ADDRESS", address),
                          "DTLS handshake with an unknown PSK identity");
                return NULL;
        }
        s->psk_bin = (coap_bin_const_t){len, s->psk}; /* libcoap copies it */
        return &s->psk_bin;
}

static int on_cn(const char *cn, const uint8_t *asn1_public_cert, size_t asn1_length, coap_session_t *session,
                 unsigned depth, int validated, void *arg)
{
        if (!validated)
                return 0;
        if (depth == 0) {
                struct peer *p = peer_of(session);
                if (!p)
                        return 0;
                free(p->cn);
                p->cn = strdup(cn);
                if (!p->cn)
                        return 0;
        }
        return 1;
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
        alder_log(ALDER_LOG_DEBUG, NULL, "libcoap event 0x%04x", (unsigned) event);
        struct peer *p = session ? coap_session_get_app_data(session) : NULL;
        if (event == COAP_EVENT_SERVER_SESSION_DEL && p) {
                if (p->reg && p->reg->session == session)
                        p->reg->session = NULL;
                peer_free(the_server, p);
                coap_session_set_app_data(session, NULL);
        } else if ((event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_ERROR) && p && p->reg &&
                   p->reg->session == session) {
                /* The device closed its DTLS session: requests wait for it to come back (an Update). */
                struct reg *r = p->reg;
                p->reg = NULL;
                r->session = NULL;
                coap_session_release(session);
        }
        return 0;
}

/* ---- set-up and loop --------------------------------------------------- */

static int resolve(const char *address, int port, coap_address_t *ret, alder_error **err)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST};
        struct addrinfo *res;
        char p[8];
        snprintf(p, sizeof(p), "%d", port);
        int r = getaddrinfo(address, p, &hints, &res);
        if (r != 0)
                return alder_error_set(err, EINVAL, "listen address '%s': %s", address, gai_strerror(r));
        coap_address_init(ret);
        ret->size = res->ai_addrlen;
        memcpy(&ret->addr, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        return 0;
}

static int setup_dtls(dm_server *s, alder_error **err)
{
        if (!coap_dtls_is_supported())
                return alder_error_set(err, ENOTSUP, "libcoap was built without DTLS");
        if (s->cfg.psk) {
                coap_dtls_spsk_t spsk = {
                        .version = COAP_DTLS_SPSK_SETUP_VERSION,
                        .validate_id_call_back = on_psk_identity,
                        .id_call_back_arg = s,
                };
                if (!coap_context_set_psk2(s->ctx, &spsk))
                        return alder_error_set(err, EIO, "DTLS: cannot set up PSK");
        }
        if (s->cfg.cert_file) {
                coap_dtls_pki_t pki = {
                        .version = COAP_DTLS_PKI_SETUP_VERSION,
                        .verify_peer_cert = 1,
                        .cert_chain_validation = 1,
                        .cert_chain_verify_depth = 3,
                        .validate_cn_call_back = on_cn,
                        .cn_call_back_arg = s,
                };
                pki.pki_key.key_type = COAP_PKI_KEY_PEM;
                pki.pki_key.key.pem.public_cert = s->cfg.cert_file;
                pki.pki_key.key.pem.private_key = s->cfg.key_file;
                pki.pki_key.key.pem.ca_file = s->cfg.ca_file;
                if (!coap_context_set_pki(s->ctx, &pki))
                        return alder_error_set(err, EIO, "DTLS: cannot load certificate '%s' / key '%s'",
                                               s->cfg.cert_file, s->cfg.key_file);
                if (!coap_context_set_pki_root_cas(s->ctx, s->cfg.ca_file, NULL))
                        return alder_error_set(err, EIO, "DTLS: cannot load CA '%s'", s->cfg.ca_file);
        }
        return 0;
}

static int add_endpoint(dm_server *s, int port, coap_proto_t proto, alder_error **err)
{
        coap_address_t addr;
        int r = resolve(s->cfg.address, port, &addr, err);
        if (r < 0)
                return r;
        if (!coap_new_endpoint(s->ctx, &addr, proto))
                return alder_error_set(err, EADDRINUSE, "cannot listen on %s port %d (%s)", s->cfg.address, port,
                                       proto == COAP_PROTO_DTLS ? "DTLS" : "UDP");
        return 0;
}

/* Start-up: registrations still live in the directory come back (their devices update to the same rd/<id>). */
static int restore_one(void *ctx, const struct dm_device_reg *dr, const char *device_id, int64_t expires_at)
{
        dm_server *s = ctx;
        struct reg *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        snprintf(r->id, sizeof(r->id), "%s", dr->registration_id);
        snprintf(r->device_id, sizeof(r->device_id), "%s", device_id);
        snprintf(r->security, sizeof(r->security), "%s", dr->security ? dr->security : "none");
        snprintf(r->address, sizeof(r->address), "%s", dr->address ? dr->address : "");
        snprintf(r->binding, sizeof(r->binding), "%s", dr->binding ? dr->binding : "U");
        snprintf(r->version, sizeof(r->version), "%s", dr->version ? dr->version : "1.0");
        r->endpoint = strdup(dr->endpoint);
        r->endpoint_type = dr->endpoint_type && *dr->endpoint_type ? strdup(dr->endpoint_type) : NULL;
        r->identity = dr->identity ? strdup(dr->identity) : NULL;
        r->root = strdup("");
        r->lifetime = dr->lifetime;
        r->queue = dr->queue;
        r->objects = json_loads(dr->objects ? dr->objects : "[]", 0, NULL);
        r->expires = dm_mono_ms() + (expires_at - dm_now_ms());
        if (!r->endpoint || !r->root || !r->objects || (dr->identity && !r->identity) || reg_insert(s, r) < 0) {
                reg_free(s, r);
                return -ENOMEM;
        }
        return 0;
}

static void dm_server_freep(dm_server **s)
{
        dm_server_free(*s);
}

/* Creates the CoAP context, its endpoints and resources, and the loop's fds. */
static int setup(dm_server *s, alder_error **err)
{
        coap_startup();
        coap_set_log_handler(log_coap);
        coap_set_log_level(alder_log_get_level() >= ALDER_LOG_DEBUG ? LOG_DEBUG : LOG_WARNING);
        coap_dtls_set_log_level(LOG_WARNING);
        s->ctx = coap_new_context(NULL);
        if (!s->ctx || !s->subs)
                return alder_error_set(err, ENOMEM, "cannot create the CoAP context");
        coap_context_set_block_mode(s->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
        /* A flood of ClientHellos cannot hold more than this many sessions in handshake. */
        coap_context_set_max_handshake_sessions(s->ctx, 1024);
        coap_register_response_handler(s->ctx, on_response);
        coap_register_nack_handler(s->ctx, on_nack);
        coap_register_event_handler(s->ctx, on_event);
        int r;
        if (s->cfg.coaps_port > 0 && (r = setup_dtls(s, err)) < 0)
                return r;
        if (s->cfg.coap_port > 0 && (r = add_endpoint(s, s->cfg.coap_port, COAP_PROTO_UDP, err)) < 0)
                return r;
        if (s->cfg.coaps_port > 0 && (r = add_endpoint(s, s->cfg.coaps_port, COAP_PROTO_DTLS, err)) < 0)
                return r;

        coap_resource_t *rd = coap_resource_init(coap_make_str_const("rd"), 0);
        coap_resource_t *unknown = coap_resource_unknown_init2(on_request, 0);
        if (!rd || !unknown)
                return alder_error_set(err, ENOMEM, "cannot create the /rd resource");
        /* rd/<id> are not resources of their own: the unknown-resource handler sees them, every method. */
        for (coap_request_t m = COAP_REQUEST_GET; m <= COAP_REQUEST_DELETE; m++) {
                coap_register_handler(rd, m, on_request);
                coap_register_handler(unknown, m, on_request);
        }
        coap_add_resource(s->ctx, rd);
        coap_add_resource(s->ctx, unknown);

        s->coap_fd = coap_context_get_coap_fd(s->ctx);
        if (s->coap_fd < 0)
                return alder_error_set(err, ENOTSUP, "libcoap was built without epoll support");
        s->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (s->event_fd < 0 || s->epoll_fd < 0)
                return alder_error_sys(err, errno, "eventfd/epoll");
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->coap_fd};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->coap_fd, &ev) < 0)
                return alder_error_sys(err, errno, "epoll_ctl");
        ev.data.fd = s->event_fd;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->event_fd, &ev) < 0)
                return alder_error_sys(err, errno, "epoll_ctl");
        return dm_store_registered_foreach(s->store, restore_one, s, err);
}

int dm_server_new(const struct dm_server_config *cfg, dm_store *store, dm_hub *hub, dm_server **ret, alder_error **err)
{
        if (the_server)
                return alder_error_set(err, EBUSY, "one LwM2M server per process");
        _cleanup_(dm_server_freep) dm_server *s = calloc(1, sizeof(*s));
        if (!s)
                return alder_error_set(err, ENOMEM, "out of memory");
        s->cfg = *cfg;
        s->store = store;
        s->hub = hub;
        s->coap_fd = s->event_fd = s->epoll_fd = -1;
        s->next_check = INT64_MAX;
        pthread_mutex_init(&s->jobs_lock, NULL);
        pthread_mutex_init(&s->subs_lock, NULL);
        s->subs = json_object();
        the_server = s;
        int r = setup(s, err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&s);
        return 0;
}

void dm_server_free(dm_server *s)
{
        if (!s)
                return;
        size_t i = 0;
        struct reg *r;
        while ((i = 0, r = dm_map_next(&s->by_id, &i)))
                reg_remove(s, r);
        dm_map_clear(&s->by_id);
        dm_map_clear(&s->by_endpoint);
        dm_map_clear(&s->pending);
        if (s->ctx)
                coap_free_context(s->ctx);
        coap_cleanup();
        /* Sessions freed with the context do not all report SERVER_SESSION_DEL. */
        while (s->peers)
                peer_free(s, s->peers);
        for (struct dm_job *j = s->jobs, *next; j; j = next) {
                next = j->next;
                dm_job_free(j);
        }
        if (s->event_fd >= 0)
                close(s->event_fd);
        if (s->epoll_fd >= 0)
                close(s->epoll_fd);
        json_decref(s->subs);
        json_decref(s->presubs);
        free(s->presub_queue);
        pthread_mutex_destroy(&s->jobs_lock);
        pthread_mutex_destroy(&s->subs_lock);
        if (the_server == s)
                the_server = NULL;
        free(s);
}

void dm_server_submit(dm_server *s, struct dm_job *job)
{
        job->next = NULL;
        pthread_mutex_lock(&s->jobs_lock);
        if (s->jobs_tail)
                s->jobs_tail->next = job;
        else
                s->jobs = job;
        s->jobs_tail = job;
        pthread_mutex_unlock(&s->jobs_lock);
        uint64_t one = 1;
        if (write(s->event_fd, &one, sizeof(one)) < 0) {
                /* the counter is already non-zero: the loop wakes up anyway */
        }
}

void dm_server_stop(dm_server *s)
{
        pthread_mutex_lock(&s->jobs_lock);
        s->stop = true;
        pthread_mutex_unlock(&s->jobs_lock);
        uint64_t one = 1;
        if (write(s->event_fd, &one, sizeof(one)) < 0) {
                /* as above */
        }
}

static bool take_jobs(dm_server *s, struct dm_job **ret)
{
        pthread_mutex_lock(&s->jobs_lock);
        *ret = s->jobs;
        s->jobs = s->jobs_tail = NULL;
        bool stop = s->stop;
        pthread_mutex_unlock(&s->jobs_lock);
        return stop;
}

static void observe_path(dm_server *s, struct reg *r, const char *path)
{
        struct dm_job j = {
                .kind = DM_JOB_OBSERVE,
                .endpoint = r->endpoint,
                .path = (char *) path,
                .method = COAP_REQUEST_CODE_GET,
                .content_format = -1,
                .accept = -1,
        };
        run_job(s, &j);
}

/* Observes, for a new registration, the paths its matching pre-subscriptions name. */
static void apply_presubscriptions(dm_server *s, struct reg *r)
{
        pthread_mutex_lock(&s->subs_lock);
        json_t *presubs = json_incref(s->presubs);
        pthread_mutex_unlock(&s->subs_lock);
        size_t i;
        json_t *p;
        json_array_foreach(presubs, i, p)
        {
                const char *name = json_string_value(json_object_get(p, "endpoint-name"));
                const char *type = json_string_value(json_object_get(p, "endpoint-type"));
                if (name && fnmatch(name, r->endpoint, FNM_NOESCAPE) != 0)
                        continue;
                if (type && (!r->endpoint_type || fnmatch(type, r->endpoint_type, FNM_NOESCAPE) != 0))
                        continue;
                size_t k;
                json_t *path;
                json_array_foreach(json_object_get(p, "resource-path"), k, path)
                {
                        const char *pattern = json_string_value(path);
                        size_t plen = strlen(pattern);
                        if (pattern[plen - 1] != '*') {
                                observe_path(s, r, pattern);
                                continue;
                        }
                        /* A prefix names the registered objects and instances it matches. */
                        size_t m;
                        json_t *o;
                        json_array_foreach(r->objects, m, o)
                        {
                                const char *op = json_string_value(json_object_get(o, "path"));
                                if (op && strncmp(pattern, op, plen - 1) == 0)
                                        observe_path(s, r, op);
                        }
                }
        }
        json_decref(presubs);
}

static void expire(dm_server *s, int64_t now)
{
        _cleanup_error_ alder_error *err = NULL;
        int64_t next = INT64_MAX;
        size_t i = 0;
        struct reg *r;
        while ((r = dm_map_next(&s->by_id, &i))) {
                for (struct pending *p = r->requests, *pn; p; p = pn) {
                        pn = p->next;
                        if (p->deadline && p->deadline <= now)
                                fail_pending(s, p, 504, "TIMEOUT: the device did not answer in time");
                        else if (p->deadline && p->deadline < next)
                                next = p->deadline;
                }
                if (r->expires > now) {
                        next = ALDER_MIN(next, r->expires);
                        continue;
                }
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("ENDPOINT", r->endpoint, "REGISTRATION", r->id),
                          "registration of %s expired (lifetime %u s)", r->endpoint, r->lifetime);
                if (dm_store_device_end(s->store, r->id, "expired", dm_now_ms(), &err) < 0) {
                        alder_log_error(ALDER_LOG_ERR, err, ALDER_LOG_FIELDS("ENDPOINT", r->endpoint), "expire");
                        alder_error_clear(&err);
                }
                dm_hub_push(s->hub, DM_EV_EXPIRED, json_string(r->endpoint));
                reg_remove(s, r);
        }
        s->next_check = next;
}

/*
 * libcoap's coap_io_process() = coap_io_prepare_epoll() (which walks every
 * session: retransmits, idle timeouts; linear in the number of devices,
 * obgm/libcoap#309) + epoll_wait() + coap_io_do_epoll(). With 10k registered
 * devices the walks dominated. The loop below hands datagrams to
 * coap_io_do_epoll() directly and calls coap_io_prepare_epoll() itself only
 * every PREPARE_MS; libcoap's own timer (in its epoll set) still wakes us for
 * each retransmission due. coap_io_do_epoll() of libcoap 4.3.1 still walks
 * the sessions once per event it handles: that walk is the floor
 * (bench/dm-register measures it).
 */
#define PREPARE_MS 250

static void coap_prepare(dm_server *s, int64_t now)
{
        coap_tick_t ticks;
        coap_ticks(&ticks);
        unsigned t = coap_io_prepare_epoll(s->ctx, ticks);
        s->next_prepare = now + (t > 0 && t < PREPARE_MS ? t : PREPARE_MS);
}

/* Hands the datagrams (and libcoap's timer events) waiting on libcoap's epoll set to it. */
static void coap_io(dm_server *s)
{
        struct epoll_event evs[64];
        int n;
        do {
                n = epoll_wait(s->coap_fd, evs, (int) ALDER_ARRAY_SIZE(evs), 0);
                if (n > 0)
                        coap_io_do_epoll(s->ctx, evs, (size_t) n);
        } while (n == (int) ALDER_ARRAY_SIZE(evs));
}

int dm_server_run(dm_server *s, alder_error **err)
{
        for (;;) {
                int64_t now = dm_mono_ms();
                if (now >= s->next_check)
                        expire(s, now);
                if (now >= s->next_prepare)
                        coap_prepare(s, now);
                int64_t wake = ALDER_MIN(s->next_check, s->next_prepare);
                int timeout = (int) ALDER_MAX(0, ALDER_MIN(wake - now, 1000));
                struct epoll_event evs[4];
                int n = epoll_wait(s->epoll_fd, evs, (int) ALDER_ARRAY_SIZE(evs), timeout);
                if (n < 0 && errno != EINTR)
                        return alder_error_sys(err, errno, "epoll_wait");
                for (int i = 0; i < n; i++) {
                        if (evs[i].data.fd == s->coap_fd) {
                                coap_io(s);
                        } else if (evs[i].data.fd == s->event_fd) {
                                uint64_t v;
                                if (read(s->event_fd, &v, sizeof(v)) < 0) {
                                        /* EAGAIN: another wake-up read it */
                                }
                        }
                }
                for (size_t i = 0; i < s->n_presub_queue; i++)
                        if (s->presub_queue[i])
                                apply_presubscriptions(s, s->presub_queue[i]);
                s->n_presub_queue = 0;
                struct dm_job *jobs;
                bool stop = take_jobs(s, &jobs);
                for (struct dm_job *j = jobs, *next; j; j = next) {
                        next = j->next;
                        run_job(s, j);
                        dm_job_free(j);
                }
                if (stop)
                        return 0;
        }
}
