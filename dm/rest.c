/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <coap3/coap.h>
#include <microhttpd.h>

#include "alder/digest.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "alder/lwm2m.h"
#include "filter.h"
#include "rest.h"
#include "util.h"

#define PARAMS_MAX       64
#define API_KEY_MAX      256
#define SSE_KEEPALIVE_MS 15000
#define TLS_FILE_MAX     (1 << 20)

struct dm_rest {
        struct dm_rest_config cfg;
        dm_store *store;
        dm_hub *hub;
        dm_server *server;
        dm_webhook *webhook;
        struct MHD_Daemon *daemon;
        char *tls_cert, *tls_key; /* PEM, kept while the daemon runs */
};

/* One HTTP request. */
struct req {
        char id[33];
        char *body;
        size_t len, cap;
        bool too_big;
        struct MHD_Connection *c;
        const char *method;
        struct dm_param params[PARAMS_MAX];
        size_t n_params;
        bool too_many_params;
};

/* ---- responses ---------------------------------------------------------- */

static enum MHD_Result queue(struct req *q, unsigned status, char *body, size_t len, const char *type)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        if (type)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(resp, "X-Request-ID", q->id);
        enum MHD_Result r = MHD_queue_response(q->c, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result reply_json(struct req *q, unsigned status, json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(v);
        if (!s)
                return MHD_NO;
        return queue(q, status, s, strlen(s), "application/json");
}

static enum MHD_Result reply_empty(struct req *q, unsigned status)
{
        return queue(q, status, NULL, 0, NULL);
}

static const char *error_type(unsigned status)
{
        switch (status) {
        case 400:
                return "validation_error";
        case 401:
                return "unauthorized";
        case 403:
                return "forbidden";
        case 404:
                return "not_found";
        case 405:
                return "method_not_allowed";
        case 409:
                return "conflict";
        case 410:
                return "gone";
        case 413:
                return "payload_too_large";
        case 415:
                return "unsupported_media_type";
        case 501:
                return "not_implemented";
        case 503:
                return "service_unavailable";
        default:
                return "internal_server_error";
        }
}

/* Pelion's error object: {object:"error", code, type, message, request_id, fields:[{name, message}]}. */
static enum MHD_Result reply_error_field(struct req *q, unsigned status, const char *field, const char *fmt, ...)
        ALDER_PRINTF(4, 5);
static enum MHD_Result reply_error_field(struct req *q, unsigned status, const char *field, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_t *fields = json_array();
        if (field)
                json_array_append_new(fields, json_pack("{ssss}", "name", field, "message", msg));
        if (status >= 500)
                alder_log(ALDER_LOG_ERR, ALDER_LOG_FIELDS("REQUEST_ID", q->id), "%s: %s", q->method, msg);
        return reply_json(q, status,
                          json_pack("{sssissssssso}", "object", "error", "code", (int) status, "type",
                                    error_type(status), "message", msg, "request_id", q->id, "fields", fields));
}

#define reply_error(q, status, ...) reply_error_field((q), (status), NULL, __VA_ARGS__)

/* The error of a failed store call: not found, conflict, or internal. */
static enum MHD_Result reply_store_error(struct req *q, int r, alder_error *err)
{
        unsigned status = r == -ENOENT ? 404 : r == -EEXIST || r == -EBUSY ? 409 : 500;
        return reply_error(q, status, "%s", alder_error_message(err));
}

/* ---- request helpers ---------------------------------------------------- */

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
        struct req *q = cls;
        if (q->n_params == PARAMS_MAX) {
                q->too_many_params = true;
                return MHD_NO;
        }
        q->params[q->n_params++] = (struct dm_param){key, value};
        return MHD_YES;
}

static const char *param(struct req *q, const char *key)
{
        for (size_t i = 0; i < q->n_params; i++)
                if (strcmp(q->params[i].key, key) == 0)
                        return q->params[i].value ? q->params[i].value : "";
        return NULL;
}

static const char *header(struct req *q, const char *name)
{
        return MHD_lookup_connection_value(q->c, MHD_HEADER_KIND, name);
}

/* The body as JSON; replies 400 itself when it is not (then returns NULL and sets *ret_result). */
static json_t *body_json(struct req *q, enum MHD_Result *ret_result)
{
        json_t *v = NULL;
        _cleanup_error_ alder_error *err = NULL;
        if (alder_json_parse("request body", q->body ? q->body : "", q->len, &v, &err) < 0) {
                *ret_result = reply_error(q, 400, "%s", alder_error_message(err));
                return NULL;
        }
        return v;
}

static bool check_auth(dm_rest *rest, struct req *q, enum MHD_Result *ret_result)
{
        const char *auth = header(q, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
                *ret_result = reply_error(q, 401, "missing 'Authorization: Bearer <API key>'");
                return false;
        }
        const char *key = auth + 7;
        size_t len = strlen(key);
        uint8_t digest[ALDER_SHA256_LEN];
        if (len == 0 || len > API_KEY_MAX || alder_sha256_buffer(key, len, digest, NULL) < 0 ||
            dm_store_apikey_match(rest->store, digest, NULL) < 0) {
                *ret_result = reply_error(q, 401, "invalid API key");
                return false;
        }
        return true;
}

/* ---- /v3/devices -------------------------------------------------------- */

static enum MHD_Result devices_list(dm_rest *rest, struct req *q)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_(dm_query_clear) struct dm_query query = {0};
        const char *field = NULL;
        if (q->too_many_params)
                return reply_error(q, 400, "more than %d query parameters", PARAMS_MAX);
        if (dm_query_parse(q->params, q->n_params, &query, &field, &err) < 0)
                return reply_error_field(q, 400, field, "%s", alder_error_message(err));
        json_t *list;
        int r = dm_store_device_list(rest->store, &query, &list, &err);
        if (r < 0)
                return reply_store_error(q, r, err);
        return reply_json(q, 200, list);
}

static enum MHD_Result devices(dm_rest *rest, struct req *q, char **seg, size_t n)
{
        _cleanup_error_ alder_error *err = NULL;
        if (n == 2) {
                if (strcmp(q->method, "GET") != 0)
                        return reply_error(q, 405, "/v3/devices/ takes GET");
                return devices_list(rest, q);
        }
        if (n != 3)
                return reply_error(q, 404, "no such resource");
        json_t *d;
        int r;
        if (strcmp(q->method, "GET") == 0) {
                r = dm_store_device_get(rest->store, seg[2], false, &d, &err);
                return r < 0 ? reply_store_error(q, r, err) : reply_json(q, 200, d);
        }
        if (strcmp(q->method, "DELETE") == 0) {
                r = dm_store_device_delete(rest->store, seg[2], &err);
                return r < 0 ? reply_store_error(q, r, err) : reply_empty(q, 204);
        }
        return reply_error(q, 405, "/v3/devices/{id}/ takes GET and DELETE");
}

/* ---- /v2/endpoints ------------------------------------------------------ */

/* The device of an endpoint name (or, as Pelion uses, of a device id). */
static int find_device(dm_rest *rest, const char *name, json_t **ret, alder_error **err)
{
        int r = dm_store_device_get(rest->store, name, true, ret, err);
        if (r == -ENOENT && strlen(name) == DM_DEVICE_ID_LEN)
                r = dm_store_device_get(rest->store, name, false, ret, err);
        return r;
}

/* Joins path segments into "/3/0/1" and checks it is an LwM2M path below the root. */
static int lwm2m_path(char **seg, size_t n, char *buf, size_t size)
{
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
                int w = snprintf(buf + off, size - off, "/%s", seg[i]);
                if (w < 0 || (size_t) w >= size - off)
                        return -E2BIG;
                off += (size_t) w;
        }
        struct alder_lwm2m_path p;
        if (n == 0 || alder_lwm2m_path_parse(buf, &p, NULL) < 0)
                return -EINVAL;
        return 0;
}

static const char *const attribute_params[] = {"pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "edge", "con"};

/* Write-Attributes parameters of the query, as Uri-Query options "pmin=10". */
static int attribute_query(struct req *q, char ***ret)
{
        _cleanup_strv_ char **v = calloc(ALDER_ARRAY_SIZE(attribute_params) + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        size_t n = 0;
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(attribute_params); i++) {
                const char *val = param(q, attribute_params[i]);
                if (!val)
                        continue;
                if (!*val || strspn(val, "0123456789.-") != strlen(val) || strlen(val) > 32)
                        return -EINVAL;
                if (asprintf(&v[n], "%s=%s", attribute_params[i], val) < 0)
                        return -ENOMEM;
                n++;
        }
        *ret = n ? steal_pointer(&v) : NULL;
        return 0;
}

static struct dm_job *new_job(enum dm_job_kind kind, const char *endpoint, const char *path, alder_error **err)
{
        struct dm_job *j = calloc(1, sizeof(*j));
        if (!j || !(j->endpoint = strdup(endpoint)) || !(j->path = strdup(path)) ||
            dm_random_hex(j->async_id, 16, err) < 0) {
                dm_job_free(j);
                return NULL;
        }
        j->kind = kind;
        j->method = COAP_REQUEST_CODE_GET;
        j->content_format = -1;
        j->accept = -1;
        return j;
}

/* The device must be registered for a request to go out. */
static bool check_registered(struct req *q, json_t *device, enum MHD_Result *ret_result)
{
        const char *state = json_string_value(json_object_get(device, "state"));
        if (state && strcmp(state, "registered") == 0)
                return true;
        *ret_result = reply_error(q, 410, "endpoint '%s' is %s",
                                  json_string_value(json_object_get(device, "endpoint_name")), state ? state : "?");
        return false;
}

static enum MHD_Result submit(dm_rest *rest, struct req *q, struct dm_job *j)
{
        json_t *resp = json_pack("{ss}", "async-response-id", j->async_id);
        dm_server_submit(rest->server, j);
        return reply_json(q, 202, resp);
}

static enum MHD_Result endpoint_request(dm_rest *rest, struct req *q, json_t *device, char **seg, size_t n)
{
        _cleanup_error_ alder_error *err = NULL;
        char path[256];
        if (lwm2m_path(seg, n, path, sizeof(path)) < 0)
                return reply_error(q, 400, "'%s' is not an LwM2M resource path (/object[/instance[/resource]])",
                                   seg[0]);
        enum MHD_Result result;
        if (!check_registered(q, device, &result))
                return result;
        const char *ep = json_string_value(json_object_get(device, "endpoint_name"));
        struct dm_job *j = new_job(DM_JOB_REQUEST, ep, path, &err);
        if (!j)
                return reply_error(q, 500, "out of memory");
        const char *type = header(q, MHD_HTTP_HEADER_CONTENT_TYPE);
        const char *accept = header(q, MHD_HTTP_HEADER_ACCEPT);
        if (strcmp(q->method, "GET") == 0) {
                j->method = COAP_REQUEST_CODE_GET;
                /* Accept: application/link-format is Discover; */
                if (accept && strcmp(accept, "*/*") != 0)
                        j->accept = dm_content_format_from_mime(accept);
        } else if (strcmp(q->method, "PUT") == 0) {
                j->method = COAP_REQUEST_CODE_PUT;
                if (attribute_query(q, &j->query) < 0) {
                        dm_job_free(j);
                        return reply_error(q, 400, "write attributes: values must be numbers");
                }
        } else if (strcmp(q->method, "POST") == 0) {
                j->method = COAP_REQUEST_CODE_POST;
        } else if (strcmp(q->method, "DELETE") == 0) {
                j->method = COAP_REQUEST_CODE_DELETE;
        } else {
                dm_job_free(j);
                return reply_error(q, 405, "/v2/endpoints/{endpoint}/{path} takes GET, PUT, POST and DELETE");
        }
        if (q->len > 0) {
                if (!type && j->method == COAP_REQUEST_CODE_PUT) {
                        dm_job_free(j);
                        return reply_error(q, 415, "a write needs a Content-Type");
                }
                if (type) {
                        j->content_format = dm_content_format_from_mime(type);
                        if (j->content_format < 0) {
                                dm_job_free(j);
                                return reply_error(q, 415, "Content-Type '%s' has no CoAP content format", type);
                        }
                }
                j->payload = malloc(q->len);
                if (!j->payload) {
                        dm_job_free(j);
                        return reply_error(q, 500, "out of memory");
                }
                memcpy(j->payload, q->body, q->len);
                j->len = q->len;
        } else if (j->method == COAP_REQUEST_CODE_PUT && !j->query) {
                dm_job_free(j);
                return reply_error(q, 400, "a write needs a body (or write attributes such as ?pmin=10)");
        }
        return submit(rest, q, j);
}

/* GET /v2/endpoints/{endpoint}: Pelion's resource list [{uri, rt, obs, type}] from the registration. */
static enum MHD_Result endpoint_resources(struct req *q, json_t *device)
{
        json_t *list = json_array();
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(device, "resources"), i, o)
        {
                const char *rt = json_string_value(json_object_get(o, "rt"));
                json_array_append_new(list, json_pack("{sOsssbss}", "uri", json_object_get(o, "path"), "rt",
                                                      rt ? rt : "", "obs", false, "type", ""));
        }
        return reply_json(q, 200, list);
}

static enum MHD_Result endpoints_list(dm_rest *rest, struct req *q)
{
        _cleanup_error_ alder_error *err = NULL;
        struct dm_query query = {.limit = 1000, .n_filters = 1};
        query.filters[0] = (struct dm_filter){.field = dm_store_device_field("state"), .op = DM_OP_EQ, .n_values = 1};
        query.filters[0].text[0] = (char *) "registered";
        json_t *list = NULL;
        int r = dm_store_device_list(rest->store, &query, &list, &err);
        if (r < 0)
                return reply_store_error(q, r, err);
        json_t *out = json_array();
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(list, "data"), i, d)
                json_array_append_new(out, json_pack("{sOsOsssO}", "name", json_object_get(d, "endpoint_name"), "type",
                                                     json_object_get(d, "endpoint_type"), "status", "ACTIVE", "q",
                                                     json_object_get(d, "queue_mode")));
        json_decref(list);
        return reply_json(q, 200, out);
}

static enum MHD_Result endpoints(dm_rest *rest, struct req *q, char **seg, size_t n)
{
        _cleanup_error_ alder_error *err = NULL;
        if (n == 2)
                return strcmp(q->method, "GET") == 0 ? endpoints_list(rest, q)
                                                     : reply_error(q, 405, "/v2/endpoints takes GET");
        _cleanup_json_ json_t *device = NULL;
        int r = find_device(rest, seg[2], &device, &err);
        if (r < 0)
                return reply_store_error(q, r, err);
        if (n == 3)
                return strcmp(q->method, "GET") == 0 ? endpoint_resources(q, device)
                                                     : reply_error(q, 405, "/v2/endpoints/{endpoint} takes GET");
        return endpoint_request(rest, q, device, seg + 3, n - 3);
}

/* ---- /v2/subscriptions -------------------------------------------------- */

/*
 * A JSON document kept as a directory setting (pre-subscriptions, the
 * callback): GET it, PUT it (checked first), DELETE it; applied() is told of
 * every change. unset is what GET answers without one (NULL: 404).
 */
struct setting {
        const char *key;
        const char *what;
        int (*check)(const json_t *v, alder_error **err);
        void (*applied)(dm_rest *rest, json_t *v);
        json_t *(*unset)(void);
};

static enum MHD_Result setting_resource(dm_rest *rest, struct req *q, const struct setting *def)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *v = NULL;
        int r;
        if (strcmp(q->method, "GET") == 0) {
                r = dm_store_setting_get(rest->store, def->key, &v, &err);
                if (r < 0)
                        return reply_store_error(q, r, err);
                if (!v && !def->unset)
                        return reply_error(q, 404, "no %s is set", def->what);
                return reply_json(q, 200, v ? json_incref(v) : def->unset());
        }
        if (strcmp(q->method, "PUT") == 0) {
                enum MHD_Result result;
                v = body_json(q, &result);
                if (!v)
                        return result;
                if (def->check(v, &err) < 0)
                        return reply_error(q, 400, "%s", alder_error_message(err));
        } else if (strcmp(q->method, "DELETE") != 0) {
                return reply_error(q, 405, "the %s takes GET, PUT and DELETE", def->what);
        }
        r = dm_store_setting_set(rest->store, def->key, v, &err);
        if (r < 0)
                return reply_store_error(q, r, err);
        def->applied(rest, v);
        return reply_empty(q, 204);
}

static void presubs_applied(dm_rest *rest, json_t *v)
{
        dm_server_set_presubscriptions(rest->server, v);
}

static const struct setting presubs_setting = {
        .key = "presubscriptions",
        .what = "pre-subscription list",
        .check = dm_presubs_check,
        .applied = presubs_applied,
        .unset = json_array,
};

static enum MHD_Result subscriptions(dm_rest *rest, struct req *q, char **seg, size_t n)
{
        _cleanup_error_ alder_error *err = NULL;
        if (n == 2)
                return setting_resource(rest, q, &presubs_setting);
        _cleanup_json_ json_t *device = NULL;
        int r = find_device(rest, seg[2], &device, &err);
        if (r < 0)
                return reply_store_error(q, r, err);
        const char *ep = json_string_value(json_object_get(device, "endpoint_name"));
        if (n == 3) {
                if (strcmp(q->method, "GET") == 0)
                        return reply_json(q, 200, dm_server_subscriptions(rest->server, ep));
                if (strcmp(q->method, "DELETE") != 0)
                        return reply_error(q, 405, "/v2/subscriptions/{endpoint} takes GET and DELETE");
                _cleanup_json_ json_t *paths = dm_server_subscriptions(rest->server, ep);
                size_t i;
                json_t *p;
                json_array_foreach(paths, i, p)
                {
                        struct dm_job *j = new_job(DM_JOB_UNOBSERVE, ep, json_string_value(p), &err);
                        if (j) {
                                j->async_id[0] = '\0'; /* nobody waits for the answer */
                                dm_server_submit(rest->server, j);
                        }
                }
                return reply_empty(q, 204);
        }
        char path[256];
        if (lwm2m_path(seg + 3, n - 3, path, sizeof(path)) < 0)
                return reply_error(q, 400, "not an LwM2M path");
        if (strcmp(q->method, "GET") == 0) {
                int state = dm_server_subscription_state(rest->server, ep, path);
                if (state < 0)
                        return reply_error(q, 404, "no subscription to %s of '%s'", path, ep);
                return reply_json(q, 200, json_pack("{ssss}", "path", path, "state", state ? "active" : "pending"));
        }
        enum MHD_Result result;
        if (strcmp(q->method, "PUT") == 0) {
                if (!check_registered(q, device, &result))
                        return result;
                struct dm_job *j = new_job(DM_JOB_OBSERVE, ep, path, &err);
                return j ? submit(rest, q, j) : reply_error(q, 500, "out of memory");
        }
        if (strcmp(q->method, "DELETE") == 0) {
                if (dm_server_subscription_state(rest->server, ep, path) < 0)
                        return reply_error(q, 404, "no subscription to %s of '%s'", path, ep);
                struct dm_job *j = new_job(DM_JOB_UNOBSERVE, ep, path, &err);
                if (!j)
                        return reply_error(q, 500, "out of memory");
                j->async_id[0] = '\0';
                dm_server_submit(rest->server, j);
                return reply_empty(q, 204);
        }
        return reply_error(q, 405, "/v2/subscriptions/{endpoint}/{path} takes GET, PUT and DELETE");
}

/* ---- /v2/device-shared-keys (Pelion's PSK provisioning) ---------------- */

static enum MHD_Result psk_add(dm_rest *rest, struct req *q)
{
        _cleanup_error_ alder_error *err = NULL;
        enum MHD_Result result;
        _cleanup_json_ json_t *b = body_json(q, &result);
        if (!b)
                return result;
        static const char *const allowed[] = {"endpoint_name", "secret_hex", "identity", NULL};
        const char *ep = NULL, *hex = NULL, *identity = NULL;
        if (alder_json_check_keys(b, "request body", NULL, allowed, &err) < 0 ||
            alder_json_get_string(b, "request body", "endpoint_name", 0, &ep, &err) < 0 ||
            alder_json_get_string(b, "request body", "secret_hex", 0, &hex, &err) < 0 ||
            alder_json_get_string(b, "request body", "identity", ALDER_JSON_OPTIONAL, &identity, &err) < 0)
                return reply_error(q, 400, "%s", alder_error_message(err));
        if (!identity)
                identity = ep; /* Pelion: the identity is the endpoint name */
        size_t len = strlen(hex) / 2;
        uint8_t key[DM_PSK_KEY_MAX];
        if (strlen(hex) % 2 || len < 16 || len > DM_PSK_KEY_MAX || alder_hex_decode(hex, key, len) < 0)
                return reply_error_field(q, 400, "secret_hex", "expected 32 to %d hex digits", 2 * DM_PSK_KEY_MAX);
        if (!dm_is_printable(ep, 255, "/?#%\"\\") || !dm_is_printable(identity, DM_PSK_IDENTITY_MAX, NULL))
                return reply_error(q, 400, "endpoint_name and identity: printable characters without spaces");
        int r = dm_store_psk_set(rest->store, ep, identity, key, len, &err);
        explicit_bzero(key, sizeof(key));
        return r < 0 ? reply_store_error(q, r, err) : reply_empty(q, 201);
}

static enum MHD_Result psks(dm_rest *rest, struct req *q, char **seg, size_t n)
{
        _cleanup_error_ alder_error *err = NULL;
        int r;
        if (n == 2) {
                if (strcmp(q->method, "POST") == 0)
                        return psk_add(rest, q);
                if (strcmp(q->method, "GET") != 0)
                        return reply_error(q, 405, "/v2/device-shared-keys takes GET and POST");
                json_t *list;
                r = dm_store_psk_list(rest->store, &list, &err);
                return r < 0 ? reply_store_error(q, r, err)
                             : reply_json(q, 200,
                                          json_pack("{sssosb}", "object", "list", "data", list, "has_more", false));
        }
        if (strcmp(q->method, "DELETE") == 0) {
                r = dm_store_psk_remove(rest->store, seg[2], &err);
                return r < 0 ? reply_store_error(q, r, err) : reply_empty(q, 204);
        }
        if (strcmp(q->method, "GET") == 0) {
                char *identity;
                r = dm_store_psk_identity_of(rest->store, seg[2], &identity, &err);
                if (r < 0)
                        return reply_store_error(q, r, err);
                json_t *o = json_pack("{ssss}", "endpoint_name", seg[2], "identity", identity);
                free(identity);
                return reply_json(q, 200, o);
        }
        return reply_error(q, 405, "/v2/device-shared-keys/{endpoint} takes GET and DELETE");
}

/* ---- notification channel ---------------------------------------------- */

static enum MHD_Result pull(dm_rest *rest, struct req *q)
{
        if (dm_webhook_active(rest->webhook))
                return reply_error(q, 409,
                                   "the notification channel is a callback (webhook): DELETE "
                                   "/v2/notification/callback to pull");
        uint64_t upto;
        json_t *msg = dm_hub_queue_wait(rest->hub, rest->cfg.pull_timeout_ms, 1000, true, &upto);
        return msg ? reply_json(q, 200, msg) : reply_empty(q, 204);
}

struct sse {
        dm_hub *hub;
        uint64_t cursor;
        char *pending;
        size_t len, off;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct sse *s = cls;
        while (s->off == s->len) {
                free(s->pending);
                s->pending = NULL;
                s->off = s->len = 0;
                if (dm_hub_stopped(s->hub))
                        return MHD_CONTENT_READER_END_OF_STREAM;
                enum dm_event_kind kind;
                json_t *msg = dm_hub_stream_next(s->hub, &s->cursor, SSE_KEEPALIVE_MS, &kind);
                if (!msg) {
                        /* A comment line keeps proxies and clients from timing out, and notices a closed peer. */
                        s->pending = strdup(": keep-alive\n\n");
                } else {
                        char *data = json_dumps(msg, JSON_COMPACT);
                        json_decref(msg);
                        if (data && asprintf(&s->pending, "id: %llu\nevent: %s\ndata: %s\n\n",
                                             (unsigned long long) (s->cursor - 1), dm_event_key(kind), data) < 0)
                                s->pending = NULL;
                        free(data);
                }
                if (!s->pending)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                s->len = strlen(s->pending);
        }
        size_t n = ALDER_MIN(max, s->len - s->off);
        memcpy(buf, s->pending + s->off, n);
        s->off += n;
        return (ssize_t) n;
}

static void sse_free(void *cls)
{
        struct sse *s = cls;
        free(s->pending);
        free(s);
}

static enum MHD_Result events(dm_rest *rest, struct req *q)
{
        struct sse *s = calloc(1, sizeof(*s));
        if (!s)
                return reply_error(q, 500, "out of memory");
        s->hub = rest->hub;
        const char *last = header(q, "Last-Event-ID");
        char *end;
        long long last_id = last ? strtoll(last, &end, 10) : -1;
        if (last && (*end || last_id < 0))
                last_id = -1;
        s->cursor = dm_hub_stream_start(rest->hub, last_id);
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
        if (!resp) {
                sse_free(s);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Request-ID", q->id);
        enum MHD_Result r = MHD_queue_response(q->c, 200, resp);
        MHD_destroy_response(resp);
        return r;
}

static void callback_applied(dm_rest *rest, json_t *v)
{
        dm_webhook_reload(rest->webhook);
}

static const struct setting callback_setting = {
        .key = "callback",
        .what = "callback (webhook)",
        .check = dm_webhook_check,
        .applied = callback_applied,
};

static enum MHD_Result notification(dm_rest *rest, struct req *q, char **seg, size_t n)
{
        if (n == 3 && strcmp(seg[2], "pull") == 0)
                return strcmp(q->method, "GET") == 0 ? pull(rest, q)
                                                     : reply_error(q, 405, "/v2/notification/pull takes GET");
        if (n == 3 && strcmp(seg[2], "events") == 0)
                return strcmp(q->method, "GET") == 0 ? events(rest, q)
                                                     : reply_error(q, 405, "/v2/notification/events takes GET");
        if (n == 3 && strcmp(seg[2], "callback") == 0)
                return setting_resource(rest, q, &callback_setting);
        return reply_error(q, 404, "no such resource");
}

/* ---- dispatch ----------------------------------------------------------- */

#define SEGMENTS_MAX 16

static enum MHD_Result route(dm_rest *rest, struct req *q, const char *url)
{
        _cleanup_free_ char *copy = strdup(url);
        if (!copy)
                return MHD_NO;
        char *seg[SEGMENTS_MAX];
        size_t n = 0;
        for (char *save = NULL, *s = strtok_r(copy, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
                if (n == SEGMENTS_MAX)
                        return reply_error(q, 404, "no such resource");
                seg[n++] = s;
        }
        if (n >= 2 && strcmp(seg[0], "v3") == 0 && strcmp(seg[1], "devices") == 0)
                return devices(rest, q, seg, n);
        if (n >= 2 && strcmp(seg[0], "v2") == 0) {
                if (strcmp(seg[1], "endpoints") == 0)
                        return endpoints(rest, q, seg, n);
                if (strcmp(seg[1], "subscriptions") == 0)
                        return subscriptions(rest, q, seg, n);
                if (strcmp(seg[1], "notification") == 0)
                        return notification(rest, q, seg, n);
                if (strcmp(seg[1], "device-shared-keys") == 0 && n <= 3)
                        return psks(rest, q, seg, n);
        }
        return reply_error(q, 404, "no such resource: %s", url);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
        dm_rest *rest = cls;
        struct req *q = *con_cls;
        if (!q) {
                q = calloc(1, sizeof(*q));
                if (!q || dm_random_hex(q->id, 16, NULL) < 0) {
                        free(q);
                        return MHD_NO;
                }
                q->c = c;
                q->method = method;
                *con_cls = q;
                /* Refused before the body is read. */
                enum MHD_Result result;
                if (!check_auth(rest, q, &result))
                        return result;
                return MHD_YES;
        }
        if (*upload_data_size) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                if (q->too_big || q->len + n > rest->cfg.max_body) {
                        q->too_big = true;
                        return MHD_YES;
                }
                if (q->len + n > q->cap) {
                        size_t cap = ALDER_MAX(q->cap * 2, q->len + n);
                        char *b = realloc(q->body, cap);
                        if (!b)
                                return MHD_NO;
                        q->body = b;
                        q->cap = cap;
                }
                memcpy(q->body + q->len, upload_data, n);
                q->len += n;
                return MHD_YES;
        }
        if (q->too_big)
                return reply_error(q, 413, "request body larger than %zu bytes", rest->cfg.max_body);
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, q);
        enum MHD_Result r = route(rest, q, url);
        alder_log(ALDER_LOG_DEBUG, ALDER_LOG_FIELDS("REQUEST_ID", q->id), "%s %s", method, url);
        return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        struct req *q = *con_cls;
        if (q) {
                free(q->body);
                free(q);
                *con_cls = NULL;
        }
}

static void log_mhd(void *cls, const char *fmt, va_list ap) ALDER_PRINTF(2, 0);
static void log_mhd(void *cls, const char *fmt, va_list ap)
{
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t len = strlen(msg);
        while (len > 0 && msg[len - 1] == '\n')
                msg[--len] = '\0';
        alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("SUBSYSTEM", "microhttpd"), "%s", msg);
}

/* Reads the HTTPS certificate and key (PEM, NUL-terminated for MHD); errors name the file. */
static int load_tls(const struct dm_rest_config *cfg, char **cert, char **key, alder_error **err)
{
        if (!cfg->tls_key)
                return alder_error_set(err, EINVAL, "HTTPS: a certificate '%s' but no key file", cfg->tls_cert);
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
                return alder_error_set(err, ENOTSUP, "HTTPS: this libmicrohttpd is built without TLS");
        size_t len;
        int r = alder_read_file(cfg->tls_cert, TLS_FILE_MAX, cert, &len, err);
        if (r >= 0)
                r = alder_read_file(cfg->tls_key, TLS_FILE_MAX, key, &len, err);
        if (r < 0)
                return r;
        if (!strstr(*cert, "-----BEGIN CERTIFICATE-----"))
                return alder_error_set(err, EINVAL, "HTTPS certificate '%s': no PEM certificate in it", cfg->tls_cert);
        if (!strstr(*key, "PRIVATE KEY-----"))
                return alder_error_set(err, EINVAL, "HTTPS key '%s': no PEM private key in it", cfg->tls_key);
        return 0;
}

int dm_rest_start(const struct dm_rest_config *cfg, dm_store *store, dm_hub *hub, dm_server *server,
                  dm_webhook *webhook, dm_rest **ret, alder_error **err)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
        struct addrinfo *res;
        char port[8];
        snprintf(port, sizeof(port), "%d", cfg->port);
        int r = getaddrinfo(cfg->address, port, &hints, &res);
        if (r != 0)
                return alder_error_set(err, EINVAL, "HTTP listen address '%s': %s", cfg->address, gai_strerror(r));
        dm_rest *rest = calloc(1, sizeof(*rest));
        if (!rest) {
                freeaddrinfo(res);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        *rest = (dm_rest){.cfg = *cfg, .store = store, .hub = hub, .server = server, .webhook = webhook};
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
        if (res->ai_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
        if (cfg->tls_cert) {
                r = load_tls(cfg, &rest->tls_cert, &rest->tls_key, err);
                if (r < 0) {
                        freeaddrinfo(res);
                        dm_rest_stop(rest);
                        return r;
                }
                flags |= MHD_USE_TLS;
                tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, rest->tls_cert};
                tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, rest->tls_key};
        }
        rest->daemon = MHD_start_daemon(flags, (uint16_t) cfg->port, NULL, NULL, on_access, rest,
                                        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL, MHD_OPTION_SOCK_ADDR, res->ai_addr,
                                        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
                                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60, MHD_OPTION_NOTIFY_COMPLETED,
                                        on_completed, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
        freeaddrinfo(res);
        if (!rest->daemon) {
                if (cfg->tls_cert)
                        r = alder_error_set(err, EINVAL,
                                            "cannot listen for HTTPS on %s port %d: the certificate '%s' and key '%s' "
                                            "are not a PEM certificate and its key, or the port is taken",
                                            cfg->address, cfg->port, cfg->tls_cert, cfg->tls_key);
                else
                        r = alder_error_set(err, EADDRINUSE, "cannot listen for HTTP on %s port %d", cfg->address,
                                            cfg->port);
                dm_rest_stop(rest);
                return r;
        }
        *ret = rest;
        return 0;
}

void dm_rest_stop(dm_rest *r)
{
        if (!r)
                return;
        if (r->daemon)
                MHD_stop_daemon(r->daemon);
        if (r->tls_key)
                explicit_bzero(r->tls_key, strlen(r->tls_key));
        free(r->tls_key);
        free(r->tls_cert);
        free(r);
}
