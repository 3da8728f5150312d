/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client registration interface (Core TS 1.1 §6.2, CoAP mapping §8.2.4):
 *   Register     POST /rd?ep=NAME&lt=SECONDS&lwm2m=1.1&b=U[&Q]  (link format) → 2.01 + Location-Path
 *   Update       POST /LOCATION[?lt=][&b=]  (link format when the object list changed) → 2.04
 *   De-register  DELETE /LOCATION → 2.02
 * Updates go out at 3/4 of the lifetime, and at once when the object list or
 * the Server object changed. Any failure (an error answer, no answer, a DTLS
 * error, a lost session) drops the session and registers again after an
 * exponential back-off with jitter; a 4.xx to an Update (4.04: the server
 * forgot us) registers again at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "alder/log.h"
#include "daemon.h"

int64_t dmc_reg_backoff_ms(const struct dmc_config *cfg, unsigned n, uint32_t random)
{
        int64_t base = cfg->retry_initial_ms;
        for (unsigned i = 0; i < n && base < cfg->retry_max_ms; i++)
                base *= 2;
        base = ALDER_MIN(base, cfg->retry_max_ms);
        /* "Equal jitter": half fixed, half random, so clients that failed together spread out. */
        int64_t half = base / 2;
        return base - half + (int64_t) (random % (uint64_t) (half + 1));
}

/* Updates go out at 3/4 of the lifetime: a lost one still has a quarter of it for the retransmissions. */
static int64_t update_interval_ms(const struct dmc *d)
{
        return d->lifetime_s * 1000 * 3 / 4;
}

/* Longest a CON exchange can take (RFC 7252 §4.8.2 MAX_TRANSMIT_WAIT) plus room for a DTLS handshake. */
static int64_t exchange_timeout_ms(const struct dmc *d)
{
        int64_t wait = d->cfg.ack_timeout_ms * ((1 << (d->cfg.max_retransmit + 1)) - 1) * 3 / 2;
        return wait + 10000;
}

static void set_failure(struct dmc *d, const char *why)
{
        free(d->failure);
        d->failure = strdup(why);
}

void dmc_reg_session_failed(struct dmc *d, const char *why)
{
        if (d->session_failed || d->stopping)
                return;
        d->session_failed = true;
        set_failure(d, why);
}

/* Drops the session and schedules the next Register after the back-off. */
static void retry_later(struct dmc *d, int64_t now_ms, const char *why)
{
        uint32_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                rnd = (uint32_t) now_ms;
        int64_t delay = dmc_reg_backoff_ms(&d->cfg, d->failures, rnd);
        d->failures++;
        bool was_registered = d->state == DMC_REG_REGISTERED || d->state == DMC_REG_UPDATING;
        alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri, "ENDPOINT", d->cfg.endpoint),
                  "%s %s: %s; registering again in %.1f s (attempt %u)",
                  was_registered ? "lost the registration with" : "cannot register with", d->cfg.server.uri, why,
                  (double) delay / 1000.0, d->failures + 1);
        dmc_coap_close_session(d);
        free(d->location);
        d->location = NULL;
        d->token_len = 0;
        d->state = DMC_REG_IDLE;
        d->asleep = false;
        d->retry_at_ms = now_ms + delay;
}

static void release_payload(coap_session_t *session, void *app_ptr)
{
        free(app_ptr);
}

static void add_str_option(coap_pdu_t *pdu, coap_option_num_t num, const char *s)
{
        coap_add_option(pdu, num, strlen(s), (const uint8_t *) s);
}

/*
 * Sends a CON request on the session: Uri-Path from `path` ("rd/x/y"),
 * Content-Format 40 when there is a payload (taken over), Uri-Query options.
 */
static int send_request(struct dmc *d, coap_pdu_code_t code, const char *path, char *const *queries, size_t nq,
                        char *payload, size_t payload_len, alder_error **err)
{
        _cleanup_free_ char *owned = payload;
        coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, code, coap_new_message_id(d->session),
                                        coap_session_max_pdu_size(d->session));
        if (!pdu)
                return alder_error_set(err, ENOMEM, "out of memory");
        coap_session_new_token(d->session, &d->token_len, d->token);
        coap_add_token(pdu, d->token_len, d->token);
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                if (n)
                        coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *) p);
                p += n + (p[n] == '/');
        }
        uint8_t buf[4];
        if (payload)
                coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                                coap_encode_var_safe(buf, sizeof(buf), COAP_MEDIATYPE_APPLICATION_LINK_FORMAT), buf);
        for (size_t i = 0; i < nq; i++)
                add_str_option(pdu, COAP_OPTION_URI_QUERY, queries[i]);
        if (payload) {
                char *data = steal_pointer(&owned);
                if (!coap_add_data_large_request(d->session, pdu, payload_len, (const uint8_t *) data, release_payload,
                                                 data)) {
                        free(data);
                        coap_delete_pdu(pdu);
                        return alder_error_set(err, EIO, "libcoap: cannot add the payload");
                }
        }
        if (coap_send(d->session, pdu) == COAP_INVALID_MID) {
                d->token_len = 0;
                return alder_error_set(err, EIO, "libcoap: cannot send the request");
        }
        d->request_sent_ms = dmc_now_ms();
        return 0;
}

static int object_list(struct dmc *d, char **ret, size_t *ret_len, alder_error **err)
{
        d->objects_changed = false;
        return dmc_links_register(&d->model, ret, ret_len, err);
}

static int send_register(struct dmc *d, alder_error **err)
{
        bool v10 = d->model.lwm2m_1_0;
        char *q[5] = {NULL};
        size_t nq = 0;
        int r = 0;
        if (asprintf(&q[nq++], "ep=%s", d->cfg.endpoint) < 0 ||
            asprintf(&q[nq++], "lt=%lld", (long long) d->lifetime_s) < 0 ||
            asprintf(&q[nq++], "lwm2m=%s", d->cfg.lwm2m_version) < 0 ||
            asprintf(&q[nq++], "b=%s%s", d->cfg.server.binding, v10 && d->cfg.server.queue_mode ? "Q" : "") < 0 ||
            (!v10 && d->cfg.server.queue_mode && !(q[nq++] = strdup("Q"))))
                r = alder_error_set(err, ENOMEM, "out of memory");
        char *links = NULL;
        size_t len = 0;
        if (r == 0)
                r = object_list(d, &links, &len, err);
        if (r == 0)
                r = send_request(d, COAP_REQUEST_CODE_POST, "rd", q, nq, links, len, err);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(q); i++)
                free(q[i]);
        return r;
}

static int send_update(struct dmc *d, alder_error **err)
{
        char *q[2] = {NULL};
        size_t nq = 0;
        int r = 0;
        if (d->send_lifetime && asprintf(&q[nq++], "lt=%lld", (long long) d->lifetime_s) < 0)
                r = alder_error_set(err, ENOMEM, "out of memory");
        if (r == 0 && d->send_binding && asprintf(&q[nq++], "b=%s", d->cfg.server.binding) < 0)
                r = alder_error_set(err, ENOMEM, "out of memory");
        char *links = NULL;
        size_t len = 0;
        if (r == 0 && d->objects_changed)
                r = object_list(d, &links, &len, err);
        if (r == 0)
                r = send_request(d, COAP_REQUEST_CODE_POST, d->location, q, nq, links, len, err);
        for (size_t i = 0; i < nq; i++)
                free(q[i]);
        if (r == 0)
                d->update_requested = d->send_lifetime = d->send_binding = false;
        return r;
}

void dmc_reg_start(struct dmc *d)
{
        d->state = DMC_REG_IDLE;
        d->retry_at_ms = dmc_now_ms();
}

void dmc_reg_request_update(struct dmc *d)
{
        d->update_requested = true;
}

void dmc_reg_activity(struct dmc *d)
{
        if (d->cfg.server.queue_mode)
                d->sleep_at_ms = dmc_now_ms() + d->cfg.server.awake_time_ms;
}

static void stay_awake(struct dmc *d, int64_t now_ms)
{
        if (d->asleep)
                alder_log_debug("queue mode: awake");
        d->asleep = false;
        d->sleep_at_ms = now_ms + d->cfg.server.awake_time_ms;
}

static const char *code_str(const coap_pdu_t *pdu, char buf[static 5])
{
        return dmc_coap_code_str((uint8_t) coap_pdu_get_code(pdu), buf);
}

/* "4.03: diagnostic" of an error answer, for the log. */
static char *describe_answer(const coap_pdu_t *pdu)
{
        char code[5], *s = NULL;
        size_t len = 0;
        const uint8_t *data = NULL;
        coap_get_data(pdu, &len, &data);
        len = ALDER_MIN(len, 200);
        char shown[201];
        for (size_t i = 0; i < len; i++)
                shown[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char) data[i] : '?';
        shown[len] = '\0';
        if (asprintf(&s, "the server answered %s%s%s", code_str(pdu, code), len ? ": " : "", shown) < 0)
                return NULL;
        return s;
}

/* Location-Path options joined with '/' (e.g. "rd/5a3f"); NULL when there are none or they are odd. */
static char *location_of(const coap_pdu_t *pdu)
{
        coap_opt_iterator_t it;
        coap_opt_filter_t filter;
        coap_option_filter_clear(&filter);
        coap_option_filter_set(&filter, COAP_OPTION_LOCATION_PATH);
        coap_option_iterator_init(pdu, &it, &filter);
        char buf[256];
        size_t len = 0;
        coap_opt_t *opt;
        while ((opt = coap_option_next(&it))) {
                size_t n = coap_opt_length(opt);
                const uint8_t *v = coap_opt_value(opt);
                if (n == 0 || len + n + 2 > sizeof(buf) || memchr(v, '/', n) || memchr(v, '\0', n))
                        return NULL;
                if (len)
                        buf[len++] = '/';
                memcpy(buf + len, v, n);
                len += n;
        }
        if (!len)
                return NULL;
        buf[len] = '\0';
        return strdup(buf);
}

static void registered(struct dmc *d, const coap_pdu_t *pdu, int64_t now_ms)
{
        char *loc = location_of(pdu);
        if (!loc) {
                dmc_reg_session_failed(d, "the server's 2.01 to Register carries no usable Location-Path");
                return;
        }
        free(d->location);
        d->location = loc;
        d->state = DMC_REG_REGISTERED;
        d->failures = 0;
        d->registrations++;
        d->next_update_ms = now_ms + update_interval_ms(d);
        stay_awake(d, now_ms);
        alder_log(ALDER_LOG_INFO,
                  ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri, "ENDPOINT", d->cfg.endpoint, "LOCATION", loc),
                  "registered with %s as %s (location /%s, lifetime %lld s%s)", d->cfg.server.uri, d->cfg.endpoint, loc,
                  (long long) d->lifetime_s, d->cfg.server.queue_mode ? ", queue mode" : "");
}

void dmc_reg_response(struct dmc *d, const coap_pdu_t *received)
{
        int64_t now = dmc_now_ms();
        coap_pdu_code_t code = coap_pdu_get_code(received);
        enum dmc_reg_state st = d->state;
        d->token_len = 0;
        if (st == DMC_REG_DEREGISTERING) {
                char c[5];
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri, "ENDPOINT", d->cfg.endpoint),
                          "de-registered from %s (%s)", d->cfg.server.uri, code_str(received, c));
                d->state = DMC_REG_IDLE;
                return;
        }
        if (st == DMC_REG_REGISTERING && code == COAP_RESPONSE_CODE_CREATED) {
                registered(d, received, now);
                return;
        }
        if (st == DMC_REG_UPDATING && code == COAP_RESPONSE_CODE_CHANGED) {
                d->state = DMC_REG_REGISTERED;
                d->next_update_ms = now + update_interval_ms(d);
                stay_awake(d, now);
                alder_log(ALDER_LOG_DEBUG, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri, "LOCATION", d->location),
                          "registration updated (lifetime %lld s)", (long long) d->lifetime_s);
                return;
        }
        _cleanup_free_ char *why = describe_answer(received);
        if (st == DMC_REG_UPDATING && code >> 5 == 4) {
                /*
                 * The server refuses the Update: it forgot the registration
                 * (4.04) or cannot update it. Register again at once, on the
                 * same session; a refused Register then backs off.
                 */
                alder_log(ALDER_LOG_NOTICE, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri),
                          "%s to the Update: registering again", why ? why : "4.xx");
                free(d->location);
                d->location = NULL;
                d->state = DMC_REG_IDLE;
                d->retry_at_ms = now;
                return;
        }
        /* Dropping the session must wait until libcoap is done with this answer: the tick does it. */
        dmc_reg_session_failed(d, why ? why : "unexpected answer");
}

static void start_register(struct dmc *d, int64_t now_ms)
{
        _cleanup_error_ alder_error *err = NULL;
        int r = d->session ? 0 : dmc_coap_open_session(d, &err);
        if (r == 0)
                r = send_register(d, &err);
        if (r < 0) {
                retry_later(d, now_ms, alder_error_message(err));
                return;
        }
        d->state = DMC_REG_REGISTERING;
        alder_log(ALDER_LOG_DEBUG, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri), "Register sent to %s",
                  d->cfg.server.uri);
}

int64_t dmc_reg_tick(struct dmc *d, int64_t now_ms)
{
        if (d->session_failed) {
                d->session_failed = false;
                if (d->state != DMC_REG_IDLE || d->session)
                        retry_later(d, now_ms, d->failure ? d->failure : "session failed");
        }
        switch (d->state) {
        case DMC_REG_IDLE:
                if (now_ms >= d->retry_at_ms)
                        start_register(d, now_ms);
                break;
        case DMC_REG_REGISTERED:
                if (now_ms >= d->next_update_ms || d->update_requested || d->objects_changed) {
                        _cleanup_error_ alder_error *err = NULL;
                        stay_awake(d, now_ms);
                        if (send_update(d, &err) < 0)
                                retry_later(d, now_ms, alder_error_message(err));
                        else
                                d->state = DMC_REG_UPDATING;
                } else if (d->cfg.server.queue_mode && !d->asleep && now_ms >= d->sleep_at_ms) {
                        d->asleep = true;
                        alder_log_debug("queue mode: sleeping until the next Update in %.1f s",
                                        (double) (d->next_update_ms - now_ms) / 1000.0);
                }
                break;
        case DMC_REG_REGISTERING:
        case DMC_REG_UPDATING:
        case DMC_REG_DEREGISTERING:
                if (now_ms - d->request_sent_ms > exchange_timeout_ms(d))
                        retry_later(d, now_ms, "no answer within the exchange lifetime");
                break;
        }
        switch (d->state) {
        case DMC_REG_IDLE:
                return d->retry_at_ms;
        case DMC_REG_REGISTERED:
                if (d->update_requested || d->objects_changed)
                        return now_ms;
                return d->cfg.server.queue_mode && !d->asleep ? ALDER_MIN(d->next_update_ms, d->sleep_at_ms)
                                                              : d->next_update_ms;
        default:
                return d->request_sent_ms + exchange_timeout_ms(d) + 1;
        }
}

void dmc_reg_deregister(struct dmc *d, int timeout_ms)
{
        if (!d->session || !d->location || (d->state != DMC_REG_REGISTERED && d->state != DMC_REG_UPDATING))
                return;
        _cleanup_error_ alder_error *err = NULL;
        if (send_request(d, COAP_REQUEST_CODE_DELETE, d->location, NULL, 0, NULL, 0, &err) < 0) {
                alder_log_error(ALDER_LOG_WARNING, err, NULL, "De-register");
                return;
        }
        d->state = DMC_REG_DEREGISTERING;
        int64_t deadline = dmc_now_ms() + timeout_ms;
        while (d->state == DMC_REG_DEREGISTERING && !d->session_failed) {
                int64_t left = deadline - dmc_now_ms();
                if (left <= 0) {
                        alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri),
                                  "no answer to De-register from %s within %d ms", d->cfg.server.uri, timeout_ms);
                        break;
                }
                if (coap_io_process(d->ctx, (uint32_t) ALDER_MIN(left, 100)) < 0)
                        break;
        }
        if (d->session_failed)
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("SERVER", d->cfg.server.uri), "De-register failed: %s",
                          d->failure ? d->failure : "session failed");
        d->state = DMC_REG_IDLE;
}
