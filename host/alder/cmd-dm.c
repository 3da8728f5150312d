/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder dm: the device-management service's REST API from the command line:
 * list devices, read/write/execute their resources, observe them, watch the
 * notification channel. Requests to devices are asynchronous in the API
 * (202 + async-response-id, result on the notification channel); the command
 * opens the event stream first and waits for its result, so it reads like a
 * synchronous call.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/base64.h"
#include "alder/digest.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/lwm2m.h"
#include "cli.h"
#include "dm-rest.h"

static const char usage[] = "Usage: alder dm [OPTIONS] login --url URL --api-key KEY\n"
                            "       alder dm [OPTIONS] devices [--filter FIELD__OP=VALUE]... [--limit N]\n"
                            "       alder dm [OPTIONS] device ID\n"
                            "       alder dm [OPTIONS] read ENDPOINT PATH\n"
                            "       alder dm [OPTIONS] write ENDPOINT PATH VALUE [--format FORMAT]\n"
                            "       alder dm [OPTIONS] execute ENDPOINT PATH [ARGUMENTS]\n"
                            "       alder dm [OPTIONS] observe ENDPOINT PATH [--count N]\n"
                            "       alder dm [OPTIONS] watch [--count N]\n"
                            "\n"
                            "Work with devices through alder-dm's REST API (docs/api/dm-openapi.yaml).\n"
                            "\n"
                            "  login     check URL and key against the service and save them in\n"
                            "            ~/.config/alder/dm.json (mode 0600) for the next commands\n"
                            "  devices   list the device directory; filters follow the API:\n"
                            "            state__eq=registered, endpoint_name__in=a,b, updated_at__gte=...\n"
                            "  device    show one device\n"
                            "  read      read a resource, instance or object (/3/0/0, /3/0, /3) and print\n"
                            "            its values by name (LwM2M TLV, SenML and text are decoded)\n"
                            "  write     write VALUE (text unless --format says otherwise)\n"
                            "  execute   execute a resource (/3/0/4 reboots), with optional arguments\n"
                            "  observe   subscribe to a resource and print its notifications\n"
                            "  watch     print everything the notification channel carries: registrations,\n"
                            "            updates, de-registrations, expiries, notifications, async results\n"
                            "\n"
                            "Options:\n"
                            "  -u, --url URL        service base URL (default: $ALDER_DM_URL, then the config)\n"
                            "  -k, --api-key KEY    API key (default: $ALDER_DM_API_KEY, then the config)\n"
                            "  -t, --timeout SEC    how long to wait for a device's answer (default 30)\n"
                            "  -f, --filter F=V     device list filter (repeatable)\n"
                            "  -l, --limit N        page size of device lists (default 100; all pages are read)\n"
                            "  -F, --format FORMAT  write payload format: text, opaque (VALUE is hex),\n"
                            "                       senml-json (VALUE is the document) (default text)\n"
                            "  -n, --count N        observe/watch: stop after N messages (default: never)\n"
                            "      --json           machine-readable output\n"
                            "  -h, --help           show this help\n"
                            "\n"
                            "Exit status: 0 done, 1 the operation failed (the service's or the device's\n"
                            "error is printed, e.g. 'device answered 404 (Not Found)'), 2 bad command line.\n";

struct dm_args {
        const char *url, *api_key;
        int timeout_s;
        long limit;
        long count;
        const char *format;
        char **filters;
        size_t n_filters;
        char **pos; /* positional arguments after the subcommand */
        int n_pos;
};

static void dm_args_clear(struct dm_args *a)
{
        free(a->filters);
}

static int parse_long(const char *s, long min, long max, long *ret)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_args(struct cli *cli, int argc, char **argv, struct dm_args *a)
{
        static const struct option options[] = {
                {"url", required_argument, NULL, 'u'},     {"api-key", required_argument, NULL, 'k'},
                {"timeout", required_argument, NULL, 't'}, {"filter", required_argument, NULL, 'f'},
                {"limit", required_argument, NULL, 'l'},   {"format", required_argument, NULL, 'F'},
                {"count", required_argument, NULL, 'n'},   {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},          {0},
        };
        *a = (struct dm_args){.timeout_s = 30, .limit = 100, .count = -1, .format = "text"};
        a->filters = calloc((size_t) argc + 1, sizeof(char *));
        if (!a->filters)
                return CLI_EXIT_FAILURE;
        long v;
        int c;
        optind = 0; /* reset getopt (it permutes: options may follow the subcommand) */
        /* Options may come before or after the subcommand (GNU getopt permutes). */
        while ((c = getopt_long(argc, argv, ":u:k:t:f:l:F:n:h", options, NULL)) != -1) {
                switch (c) {
                case 'u':
                        a->url = optarg;
                        break;
                case 'k':
                        a->api_key = optarg;
                        break;
                case 't':
                        if (parse_long(optarg, 1, 86400, &v) < 0)
                                return cli_usage_error("dm", "--timeout: '%s' is not a number of seconds", optarg);
                        a->timeout_s = (int) v;
                        break;
                case 'f':
                        if (!strstr(optarg, "__") || !strchr(optarg, '='))
                                return cli_usage_error("dm", "--filter: '%s' is not FIELD__OP=VALUE", optarg);
                        a->filters[a->n_filters++] = optarg;
                        break;
                case 'l':
                        if (parse_long(optarg, 1, 1000, &a->limit) < 0)
                                return cli_usage_error("dm", "--limit: '%s' is not 1..1000", optarg);
                        break;
                case 'F':
                        if (strcmp(optarg, "text") && strcmp(optarg, "opaque") && strcmp(optarg, "senml-json"))
                                return cli_usage_error("dm", "--format: '%s' is not text, opaque or senml-json",
                                                       optarg);
                        a->format = optarg;
                        break;
                case 'n':
                        if (parse_long(optarg, 1, LONG_MAX, &a->count) < 0)
                                return cli_usage_error("dm", "--count: '%s' is not a positive number", optarg);
                        break;
                default: {
                        int r = cli_common_option(cli, "dm", usage, c, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind >= argc)
                return cli_usage_error("dm", "missing command (login, devices, device, read, write, execute, "
                                             "observe, watch)");
        a->pos = argv + optind;
        a->n_pos = argc - optind;
        return -1;
}

/* ---- helpers ------------------------------------------------------------------ */

static int need_args(const struct dm_args *a, int n, const char *what)
{
        if (a->n_pos - 1 < n)
                return cli_usage_error("dm", "%s: missing %s", a->pos[0], what);
        if (a->n_pos - 1 > n)
                return cli_usage_error("dm", "%s: unexpected argument '%s'", a->pos[0], a->pos[n + 1]);
        return -1;
}

/* Percent-encodes a query value or path segment (RFC 3986 unreserved characters stay). */
static char *url_escape(const char *s)
{
        size_t n = strlen(s);
        char *out = malloc(3 * n + 1), *o = out;
        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                        *o++ = (char) *p;
                else
                        o += sprintf(o, "%%%02X", *p);
        }
        *o = '\0';
        return out;
}

static int check_path(const char *path, struct alder_lwm2m_path *ret)
{
        _cleanup_error_ alder_error *e = NULL;
        if (alder_lwm2m_path_parse(path, ret, &e) < 0 || ret->len == 0)
                return cli_usage_error("dm", "'%s' is not an LwM2M path like /3/0/1: %s", path,
                                       e ? alder_error_message(e) : "the root cannot be addressed");
        return -1;
}

/* /v2/endpoints/EP/3/0/1 (or /v2/subscriptions/...) */
static char *resource_url(const char *base, const char *endpoint, const struct alder_lwm2m_path *p)
{
        _cleanup_free_ char *ep = url_escape(endpoint);
        char buf[ALDER_LWM2M_PATH_STRLEN], *url = NULL;
        if (!ep || asprintf(&url, "%s/%s%s", base, ep, alder_lwm2m_path_format(p, buf)) < 0)
                return NULL;
        return url;
}

/* The service's payloads are padded base64 (RFC 4648 §4). */
static int base64_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
        size_t n = strlen(s);
        return n % 4 ? -EBADMSG : alder_base64_decode(s, n, false, ret, ret_len, NULL);
}

/* Content format of an answer's "ct" (a MIME type); -1 when absent or unknown. */
static int format_of(const json_t *ct)
{
        return json_is_string(ct) ? alder_lwm2m_format_from_name(json_string_value(ct)) : -1;
}

/* ---- device answers ------------------------------------------------------------ */

/* Prints a payload the way a person reads it: values by path and resource name. */
static void print_payload(const struct alder_lwm2m_path *base, int format, const uint8_t *buf, size_t len)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records recs = {0};
        _cleanup_error_ alder_error *e = NULL;
        if (format == ALDER_LWM2M_FMT_LINK || (format == ALDER_LWM2M_FMT_TEXT && base->len >= 3)) {
                printf("%.*s\n", (int) len, (const char *) buf);
                return;
        }
        if (format < 0 || alder_lwm2m_decode((unsigned) format, base, buf, len, &recs, &e) < 0 ||
            alder_lwm2m_records_apply_types(&recs, (unsigned) format, &e) < 0) {
                if (e)
                        fprintf(stderr, "alder dm: cannot decode the payload (%s); raw bytes follow\n",
                                alder_error_message(e));
                fwrite(buf, 1, len, stdout);
                return;
        }
        alder_lwm2m_records_sort(&recs);
        for (size_t i = 0; i < recs.n; i++) {
                const struct alder_lwm2m_record *r = &recs.v[i];
                const struct alder_lwm2m_object_def *o = alder_lwm2m_object_find(r->path.id[0]);
                const struct alder_lwm2m_resource_def *d = o ? alder_lwm2m_resource_find(o, r->path.id[2]) : NULL;
                char p[ALDER_LWM2M_PATH_STRLEN];
                _cleanup_free_ char *v = alder_lwm2m_value_to_text(&r->value, 64);
                printf("%-16s %-28s %s\n", alder_lwm2m_path_format(&r->path, p), d ? d->name : "", v ? v : "?");
        }
}

static const char *coap_status_text(long s)
{
        switch (s) {
        case 400:
                return "Bad Request";
        case 401:
                return "Unauthorized";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 406:
                return "Not Acceptable";
        case 415:
                return "Unsupported Content-Format";
        case 500:
                return "Internal Server Error";
        case 502:
                return "Bad Gateway";
        case 504:
                return "Gateway Timeout (the device did not answer)";
        default:
                return "";
        }
}

/* Waits on the event stream for the async response `id`. */
static int wait_async(struct dm_events *ev, const char *id, int timeout_s, json_t **ret, alder_error **err)
{
        int left_ms = timeout_s * 1000;
        while (left_ms > 0) {
                _cleanup_json_ json_t *msg = NULL;
                int r = dm_events_next(ev, left_ms > 1000 ? 1000 : left_ms, &msg, err);
                if (r < 0)
                        return r;
                left_ms -= r == 0 ? 1000 : 0;
                size_t i;
                json_t *a;
                json_array_foreach(json_object_get(msg, "async-responses"), i, a)
                {
                        const char *aid = json_string_value(json_object_get(a, "id"));
                        if (aid && strcmp(aid, id) == 0) {
                                *ret = json_incref(a);
                                return 0;
                        }
                }
        }
        return alder_error_set(err, ETIMEDOUT,
                               "no answer from the device within %d s (request %s is still pending "
                               "in the service; it answers when the device comes back)",
                               timeout_s, id);
}

/* Sends one device request and waits for its result. */
static int device_request(struct cli *cli, const struct dm_rest *c, const struct dm_args *a, const char *method,
                          const struct alder_lwm2m_path *path, const char *ct, const void *body, size_t body_len)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_dm_events_ struct dm_events *ev = NULL;
        _cleanup_json_ json_t *accepted = NULL, *result = NULL;
        _cleanup_free_ char *url = resource_url("/v2/endpoints", a->pos[1], path);
        if (!url)
                return CLI_EXIT_FAILURE;
        const char *id = NULL;
        if (dm_events_open(c, &ev, &err) < 0 ||
            dm_rest_call(c, method, url, ct, body, body_len, NULL, &accepted, &err) < 0 ||
            alder_json_get_string(accepted, url, "async-response-id", 0, &id, &err) < 0 ||
            wait_async(ev, id, a->timeout_s, &result, &err) < 0)
                return cli_fail(cli, err);
        if (cli->json)
                return cli_print_json(cli, result);
        json_int_t status = json_integer_value(json_object_get(result, "status"));
        if (status < 200 || status > 299) {
                const char *e = json_string_value(json_object_get(result, "error"));
                alder_error_set(&err, EPROTO, "%s %s on %s: device answered %" JSON_INTEGER_FORMAT " (%s)", method,
                                a->pos[2], a->pos[1], status, e && *e ? e : coap_status_text(status));
                return cli_fail(cli, err);
        }
        const char *payload = json_string_value(json_object_get(result, "payload"));
        if (!payload || !*payload) {
                if (strcmp(method, "GET") != 0)
                        printf("%s %s on %s: done\n", strcmp(method, "POST") == 0 ? "execute" : "write", a->pos[2],
                               a->pos[1]);
                return CLI_EXIT_OK;
        }
        _cleanup_free_ uint8_t *bytes = NULL;
        size_t len = 0;
        if (base64_decode(payload, &bytes, &len) < 0) {
                alder_error_set(&err, EBADMSG, "async response %s: payload is not base64", id);
                return cli_fail(cli, err);
        }
        print_payload(path, format_of(json_object_get(result, "ct")), bytes, len);
        return CLI_EXIT_OK;
}

/* ---- subcommands ----------------------------------------------------------------- */

static void print_device_line(json_t *d)
{
        printf("%-34s %-28s %-14s %s\n", json_string_value(json_object_get(d, "id")) ?: "-",
               json_string_value(json_object_get(d, "endpoint_name")) ?: "-",
               json_string_value(json_object_get(d, "state")) ?: "-",
               json_string_value(json_object_get(d, "last_seen")) ?: "-");
}

static int append_query(char **url, const char *name_eq_value)
{
        const char *eq = strchr(name_eq_value, '=');
        _cleanup_free_ char *v = url_escape(eq + 1);
        char *n = NULL;
        if (!v || asprintf(&n, "%s&%.*s=%s", *url, (int) (eq - name_eq_value), name_eq_value, v) < 0)
                return -ENOMEM;
        free(*url);
        *url = n;
        return 0;
}

static int run_devices(struct cli *cli, const struct dm_rest *c, const struct dm_args *a)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *all = json_array();
        _cleanup_free_ char *after = NULL;
        for (;;) {
                _cleanup_free_ char *url = NULL;
                if (asprintf(&url, "/v3/devices/?limit=%ld&order=ASC", a->limit) < 0)
                        return CLI_EXIT_FAILURE;
                for (size_t i = 0; i < a->n_filters; i++)
                        if (append_query(&url, a->filters[i]) < 0)
                                return CLI_EXIT_FAILURE;
                if (after) {
                        _cleanup_free_ char *q = NULL;
                        if (asprintf(&q, "after=%s", after) < 0 || append_query(&url, q) < 0)
                                return CLI_EXIT_FAILURE;
                }
                _cleanup_json_ json_t *page = NULL;
                json_t *data;
                if (dm_rest_call(c, "GET", url, NULL, NULL, 0, NULL, &page, &err) < 0 ||
                    alder_json_get_array(page, url, "data", 0, &data, &err) < 0)
                        return cli_fail(cli, err);
                json_array_extend(all, data);
                size_t n = json_array_size(data);
                if (!json_is_true(json_object_get(page, "has_more")) || n == 0)
                        break;
                free(after);
                after = strdup(json_string_value(json_object_get(json_array_get(data, n - 1), "id")) ?: "");
        }
        if (cli->json)
                return cli_print_json(cli, all);
        printf("%-34s %-28s %-14s %s\n", "ID", "ENDPOINT", "STATE", "LAST SEEN");
        size_t i;
        json_t *d;
        json_array_foreach(all, i, d) print_device_line(d);
        return CLI_EXIT_OK;
}

static int run_device(struct cli *cli, const struct dm_rest *c, const struct dm_args *a)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *id = url_escape(a->pos[1]), *url = NULL;
        _cleanup_json_ json_t *d = NULL;
        if (!id || asprintf(&url, "/v3/devices/%s/", id) < 0)
                return CLI_EXIT_FAILURE;
        if (dm_rest_call(c, "GET", url, NULL, NULL, 0, NULL, &d, &err) < 0)
                return cli_fail(cli, err);
        if (cli->json)
                return cli_print_json(cli, d);
        const char *key;
        json_t *v;
        json_object_foreach(d, key, v)
        {
                _cleanup_free_ char *s = json_is_string(v) ? strdup(json_string_value(v))
                                                           : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                printf("%-20s %s\n", key, s ? s : "?");
        }
        return CLI_EXIT_OK;
}

static int hex_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
        size_t n = strlen(s);
        _cleanup_free_ uint8_t *b = malloc(n / 2 + 1);
        if (!b)
                return -ENOMEM;
        if (n % 2 || alder_hex_decode(s, b, n / 2) < 0)
                return -EINVAL;
        *ret = steal_pointer(&b);
        *ret_len = n / 2;
        return 0;
}

static int run_write(struct cli *cli, const struct dm_rest *c, const struct dm_args *a,
                     const struct alder_lwm2m_path *p)
{
        const char *value = a->pos[3];
        if (strcmp(a->format, "opaque") == 0) {
                _cleanup_free_ uint8_t *bytes = NULL;
                size_t len;
                if (hex_decode(value, &bytes, &len) < 0)
                        return cli_usage_error("dm", "write --format opaque: '%s' is not hex", value);
                return device_request(cli, c, a, "PUT", p, "application/octet-stream", bytes, len);
        }
        const char *ct = strcmp(a->format, "senml-json") == 0 ? "application/senml+json" : "text/plain";
        return device_request(cli, c, a, "PUT", p, ct, value, strlen(value));
}

/* Prints one message of the notification channel as lines (or the JSON as it came). */
static long print_message(struct cli *cli, json_t *msg, const char *only_ep, const struct alder_lwm2m_path *only)
{
        static const char *const kinds[] = {"registrations", "reg-updates", "de-registrations",
                                            "registrations-expired"};
        long shown = 0;
        if (!only_ep && cli->json) {
                _cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);
                printf("%s\n", s ? s : "{}");
                fflush(stdout);
                return 1;
        }
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(msg, "notifications"), i, n)
        {
                const char *ep = json_string_value(json_object_get(n, "ep"));
                const char *path = json_string_value(json_object_get(n, "path"));
                struct alder_lwm2m_path p;
                if (!ep || !path || alder_lwm2m_path_parse(path, &p, NULL) < 0)
                        continue;
                if (only_ep && (strcmp(ep, only_ep) != 0 || !alder_lwm2m_path_has_prefix(&p, only)))
                        continue;
                shown++;
                if (cli->json) {
                        _cleanup_free_ char *s = json_dumps(n, JSON_COMPACT);
                        printf("%s\n", s ? s : "{}");
                        continue;
                }
                printf("notification %s %s\n", ep, path);
                _cleanup_free_ uint8_t *bytes = NULL;
                size_t len = 0;
                const char *payload = json_string_value(json_object_get(n, "payload"));
                if (payload && base64_decode(payload, &bytes, &len) == 0)
                        print_payload(&p, format_of(json_object_get(n, "ct")), bytes, len);
        }
        for (size_t k = 0; !only_ep && k < ALDER_ARRAY_SIZE(kinds); k++) {
                json_t *e;
                json_array_foreach(json_object_get(msg, kinds[k]), i, e)
                {
                        /* registrations carry objects, de-registrations and expiries bare endpoint names */
                        const char *ep =
                                json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "ep"));
                        printf("%s %s\n", kinds[k], ep ? ep : "?");
                        shown++;
                }
        }
        json_array_foreach(json_object_get(msg, "async-responses"), i, n)
        {
                if (only_ep)
                        break;
                printf("async-response %s status %" JSON_INTEGER_FORMAT "\n",
                       json_string_value(json_object_get(n, "id")) ?: "?",
                       json_integer_value(json_object_get(n, "status")));
                shown++;
        }
        fflush(stdout);
        return shown;
}

static int stream_messages(struct cli *cli, struct dm_events *ev, const struct dm_args *a, const char *only_ep,
                           const struct alder_lwm2m_path *only)
{
        _cleanup_error_ alder_error *err = NULL;
        for (long seen = 0; a->count < 0 || seen < a->count;) {
                _cleanup_json_ json_t *msg = NULL;
                int r = dm_events_next(ev, -1, &msg, &err);
                if (r < 0)
                        return cli_fail(cli, err);
                seen += print_message(cli, msg, only_ep, only);
        }
        return CLI_EXIT_OK;
}

static int run_observe(struct cli *cli, const struct dm_rest *c, const struct dm_args *a,
                       const struct alder_lwm2m_path *p)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_dm_events_ struct dm_events *ev = NULL;
        _cleanup_json_ json_t *res = NULL;
        _cleanup_free_ char *url = resource_url("/v2/subscriptions", a->pos[1], p);
        if (!url || dm_events_open(c, &ev, &err) < 0 ||
            dm_rest_call(c, "PUT", url, NULL, NULL, 0, NULL, &res, &err) < 0)
                return err ? cli_fail(cli, err) : CLI_EXIT_FAILURE;
        if (!cli->json)
                fprintf(stderr,
                        "observing %s %s (Ctrl-C stops; 'alder dm' leaves the subscription in place: "
                        "DELETE %s removes it)\n",
                        a->pos[1], a->pos[2], url);
        return stream_messages(cli, ev, a, a->pos[1], p);
}

static int run_watch(struct cli *cli, const struct dm_rest *c, const struct dm_args *a)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_dm_events_ struct dm_events *ev = NULL;
        if (dm_events_open(c, &ev, &err) < 0)
                return cli_fail(cli, err);
        return stream_messages(cli, ev, a, NULL, NULL);
}

static int run_login(struct cli *cli, const struct dm_args *a)
{
        _cleanup_error_ alder_error *err = NULL;
        if (!a->url || !a->api_key)
                return cli_usage_error("dm", "login: give both --url and --api-key");
        struct dm_rest c;
        if (dm_rest_init(&c, a->url, a->api_key, &err) < 0)
                return cli_fail(cli, err);
        _cleanup_json_ json_t *page = NULL, *cfg = NULL;
        _cleanup_free_ char *path = dm_rest_config_path(), *dir = NULL;
        int r = dm_rest_call(&c, "GET", "/v3/devices/?limit=2", NULL, NULL, 0, NULL, &page, &err);
        if (r == 0 && path && (dir = strdup(path))) {
                *strrchr(dir, '/') = '\0';
                r = alder_mkdir_p(dir, 0700, &err);
                cfg = json_pack("{s:s,s:s}", "url", c.url, "api_key", c.api_key);
                if (r == 0)
                        r = alder_json_write_file(path, cfg, 0600, &err);
        }
        dm_rest_clear(&c);
        if (r < 0)
                return cli_fail(cli, err);
        if (cli->json) {
                _cleanup_json_ json_t *res = json_pack("{s:s}", "config", path);
                return cli_print_json(cli, res);
        }
        printf("saved %s (the service answered; key accepted)\n", path);
        return CLI_EXIT_OK;
}

int cmd_dm(struct cli *cli, int argc, char **argv)
{
        _cleanup_(dm_args_clear) struct dm_args a = {0};
        int r = parse_args(cli, argc, argv, &a);
        if (r >= 0)
                return r;
        const char *sub = a.pos[0];
        struct alder_lwm2m_path p = {0};
        if (strcmp(sub, "login") == 0)
                return (r = need_args(&a, 0, "")) >= 0 ? r : run_login(cli, &a);
        int need = strcmp(sub, "devices") == 0 || strcmp(sub, "watch") == 0  ? 0
                   : strcmp(sub, "device") == 0                              ? 1
                   : strcmp(sub, "read") == 0 || strcmp(sub, "observe") == 0 ? 2
                   : strcmp(sub, "write") == 0                               ? 3
                   : strcmp(sub, "execute") == 0                             ? (a.n_pos > 3 ? 3 : 2)
                                                                             : -1;
        if (need < 0)
                return cli_usage_error("dm", "unknown command '%s'", sub);
        if ((r = need_args(&a, need, need == 1 ? "ID" : need == 2 ? "ENDPOINT PATH" : "ENDPOINT PATH VALUE")) >= 0)
                return r;
        if (need >= 2 && (r = check_path(a.pos[2], &p)) >= 0)
                return r;

        _cleanup_error_ alder_error *err = NULL;
        struct dm_rest c;
        if (dm_rest_init(&c, a.url, a.api_key, &err) < 0)
                return cli_fail(cli, err);
        if (strcmp(sub, "devices") == 0)
                r = run_devices(cli, &c, &a);
        else if (strcmp(sub, "device") == 0)
                r = run_device(cli, &c, &a);
        else if (strcmp(sub, "read") == 0)
                r = device_request(cli, &c, &a, "GET", &p, NULL, NULL, 0);
        else if (strcmp(sub, "write") == 0)
                r = run_write(cli, &c, &a, &p);
        else if (strcmp(sub, "execute") == 0)
                r = device_request(cli, &c, &a, "POST", &p, a.n_pos > 3 ? "text/plain" : NULL,
                                   a.n_pos > 3 ? a.pos[3] : NULL, a.n_pos > 3 ? strlen(a.pos[3]) : 0);
        else if (strcmp(sub, "observe") == 0)
                r = run_observe(cli, &c, &a, &p);
        else
                r = run_watch(cli, &c, &a);
        dm_rest_clear(&c);
        return r;
}
