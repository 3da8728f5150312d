/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-dm: the device-management service (docs/dm.md): LwM2M server,
 * device directory, REST API.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder-config.h"
#include "alder/digest.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "rest.h"
#include "server.h"
#include "store.h"
#include "util.h"

static const char usage[] =
        "Usage: alder-dm [serve] [OPTIONS]\n"
        "       alder-dm psk add ENDPOINT IDENTITY HEXKEY [--db PATH]\n"
        "       alder-dm psk remove ENDPOINT [--db PATH]\n"
        "       alder-dm psk list [--db PATH]\n"
        "       alder-dm key create NAME [--db PATH]\n"
        "\n"
        "Alder's device-management service: an LwM2M 1.1 server (CoAP over UDP and\n"
        "DTLS with PSKs or certificates), the device directory (SQLite) and a\n"
        "Pelion-style REST API with a notification channel (docs/dm.md,\n"
        "docs/api/dm-openapi.yaml). Runs until SIGTERM or SIGINT.\n"
        "\n"
        "Options (they override the config file):\n"
        "  --config FILE        JSON settings (docs/dm.md)\n"
        "  --db PATH            device directory (default /var/lib/alder/dm/dm.db)\n"
        "  --address ADDR       CoAP listen address (default ::)\n"
        "  --coap-port N        UDP port (default 5683, 0 = off)\n"
        "  --coaps-port N       DTLS port (default 5684, 0 = off)\n"
        "  --cert FILE --key FILE --ca FILE\n"
        "                       DTLS with X.509: the server's certificate and key,\n"
        "                       and the CA that signs device certificates (CN = endpoint)\n"
        "  --http-address ADDR  REST listen address (default 127.0.0.1)\n"
        "  --http-port N        REST port (default 8080)\n"
        "  --http-cert FILE --http-key FILE\n"
        "                       serve the REST API over HTTPS with this PEM certificate\n"
        "                       (chain) and key\n"
        "  --webhook-ca FILE    CA certificates (PEM) that https:// callbacks must chain\n"
        "                       to (default: the system's)\n"
        "  --admin-key-file PATH  where the first start writes the admin API key (0600)\n"
        "  --pull-timeout S     long poll wait (default 30)\n"
        "  --request-timeout S  how long a device has to answer (default 120)\n"
        "  --max-payload BYTES  largest registration payload or device answer (default 65536)\n"
        "  -V, --version        print the version\n"
        "  -h, --help           show this help\n"
        "\n"
        "The first start creates an admin API key, prints it once on stderr (and\n"
        "to --admin-key-file) and keeps only its SHA-256.\n"
        "Logging: ALDER_LOG_LEVEL (err..debug), ALDER_LOG_TARGET (auto, stderr, journal, syslog).\n";

struct options {
        const char *config;
        const char *db;
        const char *admin_key_file;
        const char *webhook_ca;
        struct dm_server_config coap;
        struct dm_rest_config http;
        json_t *config_json;
};

/* Applies the config file; command-line options are applied after it. */
static int load_config(struct options *o, alder_error **err)
{
        json_t *root = NULL;
        int r = alder_json_load_file(o->config, 1 << 20, &root, err);
        if (r < 0)
                return r;
        o->config_json = root; /* strings below are borrowed from it */
        static const char *const top[] = {"db",   "admin_key_file", "max_payload", "request_timeout",
                                          "coap", "http",           NULL};
        static const char *const coap[] = {"address", "port", "dtls_port", "psk", "certificate", NULL};
        static const char *const cert[] = {"cert", "key", "ca", NULL};
        static const char *const http[] = {
                "address", "port", "max_body", "pull_timeout", "max_connections", "cert", "key", "webhook_ca", NULL};
        const char *src = o->config;
        int64_t v;
        bool b;
        if ((r = alder_json_check_keys(root, src, NULL, top, err)) < 0 ||
            (r = alder_json_check_keys(root, src, "coap", coap, err)) < 0 ||
            (r = alder_json_check_keys(root, src, "coap.certificate", cert, err)) < 0 ||
            (r = alder_json_check_keys(root, src, "http", http, err)) < 0)
                return r;
#define STR(field, dst)                                                                          \
        if ((r = alder_json_get_string(root, src, field, ALDER_JSON_OPTIONAL, &(dst), err)) < 0) \
        return r
#define INT(field, min, max, dst)                                                                                 \
        do {                                                                                                      \
                v = (int64_t) (dst);                                                                              \
                if ((r = alder_json_get_int_range(root, src, field, ALDER_JSON_OPTIONAL, min, max, &v, err)) < 0) \
                        return r;                                                                                 \
                (dst) = v;                                                                                        \
        } while (0)
        STR("db", o->db);
        STR("admin_key_file", o->admin_key_file);
        INT("max_payload", 1024, 16 << 20, o->coap.max_payload);
        INT("request_timeout", 1, 3600, o->coap.request_timeout);
        INT("max_registrations", 1, 10000000, o->coap.max_registrations);
        STR("coap.address", o->coap.address);
        INT("coap.port", 0, 65535, o->coap.coap_port);
        INT("coap.dtls_port", 0, 65535, o->coap.coaps_port);
        b = o->coap.psk;
        if ((r = alder_json_get_bool(root, src, "coap.psk", ALDER_JSON_OPTIONAL, &b, err)) < 0)
                return r;
        o->coap.psk = b;
        STR("coap.certificate.cert", o->coap.cert_file);
        STR("coap.certificate.key", o->coap.key_file);
        STR("coap.certificate.ca", o->coap.ca_file);
        STR("http.address", o->http.address);
        INT("http.port", 1, 65535, o->http.port);
        STR("http.cert", o->http.tls_cert);
        STR("http.key", o->http.tls_key);
        STR("http.webhook_ca", o->webhook_ca);
        INT("http.max_body", 1024, 64 << 20, o->http.max_body);
        INT("http.max_connections", 2, 4096, o->http.max_connections);
        v = o->http.pull_timeout_ms / 1000;
        if ((r = alder_json_get_int_range(root, src, "http.pull_timeout", ALDER_JSON_OPTIONAL, 1, 300, &v, err)) < 0)
                return r;
        o->http.pull_timeout_ms = (int) v * 1000;
#undef STR
#undef INT
        return 0;
}

static int parse_int(const char *s, long min, long max, long *ret)
{
        char *end;
        long v = strtol(s, &end, 10);
        if (!*s || *end || v < min || v > max)
                return -1;
        *ret = v;
        return 0;
}

/* 0 on success, 1 to exit 0 (help), 2 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
        enum {
                O_DB = 256,
                O_ADDR,
                O_COAP,
                O_COAPS,
                O_CERT,
                O_KEY,
                O_CA,
                O_HADDR,
                O_HPORT,
                O_KEYFILE,
                O_PULL,
                O_REQ,
                O_PAYLOAD,
                O_CONFIG,
                O_HCERT,
                O_HKEY,
                O_WHCA
        };
        static const struct option options[] = {
                {"config", required_argument, NULL, O_CONFIG},
                {"db", required_argument, NULL, O_DB},
                {"address", required_argument, NULL, O_ADDR},
                {"coap-port", required_argument, NULL, O_COAP},
                {"coaps-port", required_argument, NULL, O_COAPS},
                {"cert", required_argument, NULL, O_CERT},
                {"key", required_argument, NULL, O_KEY},
                {"ca", required_argument, NULL, O_CA},
                {"http-address", required_argument, NULL, O_HADDR},
                {"http-port", required_argument, NULL, O_HPORT},
                {"http-cert", required_argument, NULL, O_HCERT},
                {"http-key", required_argument, NULL, O_HKEY},
                {"webhook-ca", required_argument, NULL, O_WHCA},
                {"admin-key-file", required_argument, NULL, O_KEYFILE},
                {"pull-timeout", required_argument, NULL, O_PULL},
                {"request-timeout", required_argument, NULL, O_REQ},
                {"max-payload", required_argument, NULL, O_PAYLOAD},
                {"version", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        /* The config file first, so that options given with it override it. */
        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], "--config") == 0)
                        o->config = argv[i + 1];
        if (o->config) {
                _cleanup_error_ alder_error *err = NULL;
                if (load_config(o, &err) < 0) {
                        fprintf(stderr, "alder-dm: %s\n", alder_error_message(err));
                        return 2;
                }
        }
        int c;
        long v;
        while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
                bool bad = false;
                switch (c) {
                case O_CONFIG:
                        break;
                case O_DB:
                        o->db = optarg;
                        break;
                case O_ADDR:
                        o->coap.address = optarg;
                        break;
                case O_COAP:
                case O_COAPS:
                        bad = parse_int(optarg, 0, 65535, &v) < 0;
                        *(c == O_COAP ? &o->coap.coap_port : &o->coap.coaps_port) = (int) v;
                        break;
                case O_CERT:
                        o->coap.cert_file = optarg;
                        break;
                case O_KEY:
                        o->coap.key_file = optarg;
                        break;
                case O_CA:
                        o->coap.ca_file = optarg;
                        break;
                case O_HADDR:
                        o->http.address = optarg;
                        break;
                case O_HPORT:
                        bad = parse_int(optarg, 1, 65535, &v) < 0;
                        o->http.port = (int) v;
                        break;
                case O_HCERT:
                        o->http.tls_cert = optarg;
                        break;
                case O_HKEY:
                        o->http.tls_key = optarg;
                        break;
                case O_WHCA:
                        o->webhook_ca = optarg;
                        break;
                case O_KEYFILE:
                        o->admin_key_file = optarg;
                        break;
                case O_PULL:
                        bad = parse_int(optarg, 1, 300, &v) < 0;
                        o->http.pull_timeout_ms = (int) v * 1000;
                        break;
                case O_REQ:
                        bad = parse_int(optarg, 1, 3600, &v) < 0;
                        o->coap.request_timeout = (unsigned) v;
                        break;
                case O_PAYLOAD:
                        bad = parse_int(optarg, 1024, 16 << 20, &v) < 0;
                        o->coap.max_payload = (size_t) v;
                        break;
                case 'h':
                case 'V':
                        fputs(c == 'h' ? usage : "alder-dm " ALDER_VERSION "\n", stdout);
                        return 1;
                default:
                        fputs("Try 'alder-dm --help'.\n", stderr);
                        return 2;
                }
                if (bad) {
                        fprintf(stderr, "alder-dm: bad value '%s'\n", optarg);
                        return 2;
                }
        }
        if (!!o->coap.cert_file != !!o->coap.key_file || !!o->coap.cert_file != !!o->coap.ca_file) {
                fputs("alder-dm: --cert, --key and --ca go together\n", stderr);
                return 2;
        }
        if (!!o->http.tls_cert != !!o->http.tls_key) {
                fputs("alder-dm: --http-cert and --http-key go together\n", stderr);
                return 2;
        }
        return 0;
}

/* Makes a new API key "ak_<64 hex>", stores its digest and returns the key. */
static int create_key(dm_store *store, const char *name, char key[68], alder_error **err)
{
        char secret[65], id[33];
        int r = dm_random_hex(secret, 32, err);
        if (r >= 0)
                r = dm_random_hex(id, 16, err);
        if (r < 0)
                return r;
        snprintf(key, 68, "ak_%s", secret);
        explicit_bzero(secret, sizeof(secret));
        uint8_t digest[ALDER_SHA256_LEN];
        r = alder_sha256_buffer(key, strlen(key), digest, err);
        if (r >= 0)
                r = dm_store_apikey_add(store, id, name, digest, dm_now_ms(), err);
        return r;
}

/* First start: an admin key, shown once. */
static int bootstrap_admin_key(dm_store *store, const char *key_file, alder_error **err)
{
        unsigned n;
        int r = dm_store_apikey_count(store, &n, err);
        if (r < 0 || n > 0)
                return r;
        char key[68];
        r = create_key(store, "admin", key, err);
        if (r >= 0 && key_file) {
                char line[70];
                snprintf(line, sizeof(line), "%s\n", key);
                r = alder_write_file_atomic(key_file, line, strlen(line), 0600, err);
                explicit_bzero(line, sizeof(line));
        }
        if (r >= 0)
                fprintf(stderr, "alder-dm: admin API key (shown once, only its SHA-256 is kept): %s\n", key);
        explicit_bzero(key, sizeof(key));
        return r;
}

static int run_psk(dm_store *store, int argc, char **argv, alder_error **err)
{
        if (argc >= 1 && strcmp(argv[0], "add") == 0 && argc == 4) {
                size_t len = strlen(argv[3]) / 2;
                uint8_t key[DM_PSK_KEY_MAX];
                if (strlen(argv[3]) % 2 || len < 1 || len > DM_PSK_KEY_MAX || alder_hex_decode(argv[3], key, len) < 0)
                        return alder_error_set(err, EINVAL, "HEXKEY: expected 2 to %d hex digits", 2 * DM_PSK_KEY_MAX);
                if (!dm_is_printable(argv[1], 255, "/?#%\"\\") || !dm_is_printable(argv[2], DM_PSK_IDENTITY_MAX, NULL))
                        return alder_error_set(err, EINVAL, "ENDPOINT and IDENTITY: printable characters, no spaces");
                int r = dm_store_psk_set(store, argv[1], argv[2], key, len, err);
                explicit_bzero(key, sizeof(key));
                return r;
        }
        if (argc == 2 && strcmp(argv[0], "remove") == 0)
                return dm_store_psk_remove(store, argv[1], err);
        if (argc == 1 && strcmp(argv[0], "list") == 0) {
                _cleanup_json_ json_t *list = NULL;
                int r = dm_store_psk_list(store, &list, err);
                if (r < 0)
                        return r;
                size_t i;
                json_t *p;
                json_array_foreach(list, i, p)
                        printf("%s\t%s\n", json_string_value(json_object_get(p, "endpoint_name")),
                               json_string_value(json_object_get(p, "identity")));
                return 0;
        }
        return alder_error_set(err, EINVAL,
                               "usage: alder-dm psk add ENDPOINT IDENTITY HEXKEY | remove ENDPOINT | list");
}

static void *signal_thread(void *arg)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        int sig;
        sigwait(&set, &sig);
        alder_log(ALDER_LOG_INFO, NULL, "signal %d: stopping", sig);
        dm_server_stop(arg);
        return NULL;
}

static int serve(struct options *o, dm_store *store, alder_error **err)
{
        int r = bootstrap_admin_key(store, o->admin_key_file, err);
        if (r < 0)
                return r;
        /* Before any thread: curl_global_init is not thread-safe. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return alder_error_set(err, ENOMEM, "cannot initialize libcurl");
        dm_hub *hub;
        if (dm_hub_new(DM_HUB_CAPACITY_DEFAULT, &hub) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        dm_server *server = NULL;
        dm_webhook *webhook = NULL;
        dm_rest *rest = NULL;
        _cleanup_json_ json_t *presubs = NULL;
        r = dm_server_new(&o->coap, store, hub, &server, err);
        if (r >= 0)
                r = dm_store_setting_get(store, "presubscriptions", &presubs, err);
        if (r >= 0) {
                dm_server_set_presubscriptions(server, presubs);
                r = dm_webhook_start(store, hub, o->webhook_ca, &webhook, err);
        }
        if (r >= 0)
                r = dm_rest_start(&o->http, store, hub, server, webhook, &rest, err);
        pthread_t sig;
        if (r >= 0 && (r = -pthread_create(&sig, NULL, signal_thread, server)) < 0)
                alder_error_sys(err, -r, "start the signal thread");
        if (r >= 0) {
                alder_log(ALDER_LOG_INFO, NULL, "listening: CoAP %s udp/%d dtls/%d, %s %s:%d", o->coap.address,
                          o->coap.coap_port, o->coap.coaps_port, o->http.tls_cert ? "HTTPS" : "HTTP", o->http.address,
                          o->http.port);
                r = dm_server_run(server, err);
                pthread_cancel(sig);
                pthread_join(sig, NULL);
        }
        dm_hub_stop(hub); /* ends long polls and event streams */
        dm_rest_stop(rest);
        dm_webhook_stop(webhook);
        dm_server_free(server);
        dm_hub_free(hub);
        curl_global_cleanup();
        return r;
}

int main(int argc, char **argv)
{
        alder_log_init("alder-dm");
        _cleanup_error_ alder_error *err = NULL;
        if (alder_log_configure_from_env(&err) < 0) {
                fprintf(stderr, "alder-dm: %s\n", alder_error_message(err));
                return 2;
        }
        struct options o = {
                .db = "/var/lib/alder/dm/dm.db",
                .coap = {.address = "::",
                         .coap_port = 5683,
                         .coaps_port = 5684,
                         .psk = true,
                         .max_payload = 65536,
                         .request_timeout = 120},
                .http = {.address = "127.0.0.1",
                         .port = 8080,
                         .max_body = 1 << 20,
                         .pull_timeout_ms = 30000,
                         .max_connections = 64},
        };
        /* A command word first: serve (default), psk, key. */
        const char *cmd = argc > 1 && argv[1][0] != '-' ? argv[1] : "serve";
        int shift = argc > 1 && argv[1][0] != '-' ? 1 : 0;
        int r = parse_args(argc - shift, argv + shift, &o);
        if (r)
                return r == 1 ? 0 : 2;
        int nargs = argc - shift - optind;
        char **args = argv + shift + optind;
        if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "psk") != 0 && strcmp(cmd, "key") != 0) {
                fprintf(stderr, "alder-dm: unknown command '%s'\nTry 'alder-dm --help'.\n", cmd);
                return 2;
        }
        if (strcmp(cmd, "serve") == 0 && nargs > 0) {
                fprintf(stderr, "alder-dm: unexpected argument '%s'\n", args[0]);
                return 2;
        }

        /* Signals go to the signal thread only. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        _cleanup_free_ char *dir = NULL;
        if (alder_path_parent(o.db, &dir, &err) < 0 || alder_mkdir_p(dir, 0700, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, NULL, "device directory");
                return 1;
        }
        dm_store *store;
        if (dm_store_open(o.db, &store, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, NULL, "start");
                return 1;
        }
        if (strcmp(cmd, "psk") == 0) {
                r = run_psk(store, nargs, args, &err);
        } else if (strcmp(cmd, "key") == 0) {
                char key[68];
                if (nargs == 2 && strcmp(args[0], "create") == 0) {
                        r = create_key(store, args[1], key, &err);
                        if (r >= 0)
                                printf("%s\n", key);
                        explicit_bzero(key, sizeof(key));
                } else {
                        r = alder_error_set(&err, EINVAL, "usage: alder-dm key create NAME");
                }
        } else {
                r = serve(&o, store, &err);
        }
        dm_store_close(store);
        json_decref(o.config_json);
        if (r < 0) {
                if (strcmp(cmd, "serve") == 0)
                        alder_log_error(ALDER_LOG_ERR, err, NULL, "alder-dm");
                else
                        fprintf(stderr, "alder-dm: %s\n", alder_error_message(err));
                return 1;
        }
        return 0;
}
