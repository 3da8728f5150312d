/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load generator for bench/dm-register: N simulated LwM2M clients in one
 * process, each a libcoap client session with its own UDP socket (its own
 * source port), that Register (POST /rd?ep=...) and then Update (POST
 * /rd/<id>) against one server, with at most C requests in flight.
 *
 *   dm-load HOST PORT N [C] [UPDATES]
 *
 * Prints one JSON object: per phase the count, failures, seconds, requests
 * per second and latency percentiles (ms).
 *
 * libcoap walks every session of a context on each coap_io_process(), so the
 * sessions are spread over contexts of SESSIONS_PER_CTX and only contexts
 * with I/O are processed (plus all of them every TICK_MS for retransmits):
 * otherwise the load generator, not the server, would be what is measured.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

#include <coap3/coap.h>

#define SESSIONS_PER_CTX 256
#define TICK_MS          50

struct dev {
        coap_session_t *session;
        char ep[32];
        char location[32];
        int64_t sent_us;
        int done;
};

static struct dev *devs;
static double *latencies;
static size_t n_latencies, inflight, failures;

static int64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                   const coap_mid_t mid)
{
        struct dev *d = coap_session_get_app_data(session);
        if (!d || d->done)
                return COAP_RESPONSE_OK;
        unsigned code = coap_pdu_get_code(received);
        if ((code >> 5) != 2) {
                failures++;
        } else {
                coap_opt_iterator_t it;
                coap_opt_filter_t f;
                coap_option_filter_clear(&f);
                coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
                coap_option_iterator_init(received, &it, &f);
                coap_opt_t *o;
                size_t off = 0;
                while ((o = coap_option_next(&it)) && off + coap_opt_length(o) + 2 < sizeof(d->location))
                        off += (size_t) snprintf(d->location + off, sizeof(d->location) - off, "%s%.*s", off ? "/" : "",
                                                 (int) coap_opt_length(o), coap_opt_value(o));
                latencies[n_latencies++] = (double) (now_us() - d->sent_us) / 1000.0;
        }
        d->done = 1;
        inflight--;
        return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
        struct dev *d = coap_session_get_app_data(session);
        if (d && !d->done) {
                d->done = 1;
                failures++;
                inflight--;
        }
}

static int send_request(struct dev *d, int update)
{
        coap_session_t *s = d->session;
        coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, coap_new_message_id(s),
                                        coap_session_max_pdu_size(s));
        uint8_t token[8];
        size_t tlen;
        coap_session_new_token(s, &tlen, token);
        coap_add_token(pdu, tlen, token);
        coap_optlist_t *opts = NULL;
        char q[64];
        if (update) {
                char loc[32];
                snprintf(loc, sizeof(loc), "%s", d->location);
                for (char *save = NULL, *seg = strtok_r(loc, "/", &save); seg; seg = strtok_r(NULL, "/", &save))
                        coap_insert_optlist(&opts,
                                            coap_new_optlist(COAP_OPTION_URI_PATH, strlen(seg), (const uint8_t *) seg));
        } else {
                coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_PATH, 2, (const uint8_t *) "rd"));
                snprintf(q, sizeof(q), "ep=%s", d->ep);
                coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_QUERY, strlen(q), (const uint8_t *) q));
                coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_QUERY, 7, (const uint8_t *) "lt=3600"));
                coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_QUERY, 9, (const uint8_t *) "lwm2m=1.1"));
                uint8_t ct = 40;
                coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_CONTENT_FORMAT, 1, &ct));
        }
        coap_add_optlist_pdu(pdu, &opts);
        coap_delete_optlist(opts);
        if (!update) {
                static const char links[] = "</1/0>,</3/0>,</4/0>,</5/0>";
                coap_add_data(pdu, sizeof(links) - 1, (const uint8_t *) links);
        }
        d->done = 0;
        d->sent_us = now_us();
        inflight++;
        if (coap_send(s, pdu) == COAP_INVALID_MID) {
                d->done = 1;
                inflight--;
                failures++;
                return -1;
        }
        return 0;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double pct(double p)
{
        if (!n_latencies)
                return 0;
        size_t i = (size_t) (p * (double) (n_latencies - 1) + 0.5);
        return latencies[i];
}

struct loop {
        coap_context_t **ctx;
        size_t n_ctx;
        int epfd;
        int64_t last_tick;
};

static void pump(struct loop *l, int timeout_ms)
{
        struct epoll_event evs[64];
        int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
        for (int i = 0; i < n; i++)
                coap_io_process(l->ctx[evs[i].data.u32], COAP_IO_NO_WAIT);
        int64_t now = now_us();
        if (now - l->last_tick > TICK_MS * 1000) {
                for (size_t i = 0; i < l->n_ctx; i++)
                        coap_io_process(l->ctx[i], COAP_IO_NO_WAIT);
                l->last_tick = now;
        }
}

static void phase(struct loop *l, size_t n, size_t concurrency, int update, const char *name, int last)
{
        n_latencies = failures = inflight = 0;
        int64_t t0 = now_us();
        size_t next = 0;
        while (next < n || inflight > 0) {
                while (next < n && inflight < concurrency) {
                        if (update && !devs[next].location[0]) {
                                next++;
                                continue;
                        }
                        send_request(&devs[next++], update);
                }
                pump(l, 10);
                if (now_us() - t0 > 600 * 1000000LL) {
                        fprintf(stderr, "dm-load: %s: gave up after 600 s with %zu in flight\n", name, inflight);
                        break;
                }
        }
        double secs = (double) (now_us() - t0) / 1e6;
        qsort(latencies, n_latencies, sizeof(double), cmp_double);
        printf("\"%s\": {\"count\": %zu, \"failures\": %zu, \"seconds\": %.3f, \"per_second\": %.1f, "
               "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}%s\n",
               name, n_latencies, failures, secs, (double) n_latencies / secs, pct(0.5), pct(0.99),
               n_latencies ? latencies[n_latencies - 1] : 0.0, last ? "" : ",");
        fflush(stdout);
}

int main(int argc, char **argv)
{
        if (argc < 4) {
                fprintf(stderr, "usage: dm-load HOST PORT N [CONCURRENCY] [UPDATES]\n");
                return 2;
        }
        size_t n = strtoul(argv[3], NULL, 10);
        size_t concurrency = argc > 4 ? strtoul(argv[4], NULL, 10) : 64;
        int updates = argc > 5 ? atoi(argv[5]) : 1;
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (n + 64 > rl.rlim_cur) {
                fprintf(stderr, "dm-load: %zu sessions need more than the %llu file descriptors allowed\n", n,
                        (unsigned long long) rl.rlim_cur);
                return 1;
        }

        coap_startup();
        coap_set_log_level(LOG_ERR);
        coap_address_t server;
        coap_address_init(&server);
        server.addr.sin.sin_family = AF_INET;
        server.addr.sin.sin_port = htons((uint16_t) atoi(argv[2]));
        inet_pton(AF_INET, argv[1], &server.addr.sin.sin_addr);
        server.size = sizeof(server.addr.sin);

        struct loop l = {.n_ctx = (n + SESSIONS_PER_CTX - 1) / SESSIONS_PER_CTX, .epfd = epoll_create1(0)};
        l.ctx = calloc(l.n_ctx, sizeof(*l.ctx));
        devs = calloc(n, sizeof(*devs));
        latencies = calloc(n, sizeof(*latencies));
        for (size_t i = 0; i < l.n_ctx; i++) {
                l.ctx[i] = coap_new_context(NULL);
                coap_register_response_handler(l.ctx[i], on_response);
                coap_register_nack_handler(l.ctx[i], on_nack);
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t) i};
                epoll_ctl(l.epfd, EPOLL_CTL_ADD, coap_context_get_coap_fd(l.ctx[i]), &ev);
        }
        for (size_t i = 0; i < n; i++) {
                snprintf(devs[i].ep, sizeof(devs[i].ep), "bench-%zu", i);
                devs[i].session = coap_new_client_session(l.ctx[i / SESSIONS_PER_CTX], NULL, &server, COAP_PROTO_UDP);
                if (!devs[i].session) {
                        fprintf(stderr, "dm-load: session %zu: %s\n", i, strerror(errno));
                        return 1;
                }
                coap_session_set_app_data(devs[i].session, &devs[i]);
        }
        printf("{\"devices\": %zu, \"concurrency\": %zu,\n", n, concurrency);
        phase(&l, n, concurrency, 0, "register", updates == 0);
        for (int u = 0; u < updates; u++) {
                char name[32];
                snprintf(name, sizeof(name), "update%d", u + 1);
                phase(&l, n, concurrency, 1, name, u == updates - 1);
        }
        printf("}\n");
        for (size_t i = 0; i < l.n_ctx; i++)
                coap_free_context(l.ctx[i]);
        coap_cleanup();
        free(devs);
        free(latencies);
        free(l.ctx);
        return 0;
}
