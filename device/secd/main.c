/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd: Alder's secure services daemon (docs/api/secd.md).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder-config.h"
#include "alder/log.h"
#include "secd.h"

static const char usage[] =
        "Usage: alder-secd [OPTIONS]\n"
        "\n"
        "Alder's secure services: keeps each app's keys and secrets, sealed under\n"
        "the device key, and performs PSA Crypto and Protected Storage operations\n"
        "for the app whose socket a request comes in on (docs/api/secd.md).\n"
        "Runs until SIGTERM or SIGINT.\n"
        "\n"
        "Sockets:\n"
        "  ROOT/run/alder/secd/apps/APP/secd.sock  one per app; alder-appd mounts its\n"
        "                   folder into the app's container at /run/alder/secd.d\n"
        "                   and secd checks that peers are in the app's cgroup\n"
        "  ROOT/run/alder/secd/admin.sock          provisioning (alder secure),\n"
        "                   mode 0600, root only\n"
        "\n"
        "Options:\n"
        "  --root DIR       prefix for every path (a whole device root, for tests)\n"
        "  --config FILE    settings (default ROOT/config/secd.json, optional):\n"
        "                   {\"backend\": \"software\", \"apps\": [\"APP\", ...],\n"
        "                    \"tpm\": {\"tcti\": \"device:/dev/tpmrm0\"}}\n"
        "  --backend NAME   key backend: software (default), tpm (TPM 2.0 through\n"
        "                   the config's tpm.tcti, e.g. swtpm:host=127.0.0.1,port=2321)\n"
        "                   or pkcs11 (the config's pkcs11.module, .token, .pin)\n"
        "  --app NAME       serve this app (repeatable); apps with keys or secrets\n"
        "                   in the store are served too\n"
        "  -V, --version    print the version\n"
        "  -h, --help       show this help\n"
        "\n"
        "Files: ROOT/config/secd/device.key (made on first start, 0600; with the tpm\n"
        "backend device.key.sealed, sealed to the TPM, instead),\n"
        "ROOT/var/lib/alder/secd/APP/{keys,ps}/ (sealed, one file per key/secret).\n"
        "Logging: ALDER_LOG_LEVEL (err..debug), ALDER_LOG_TARGET (auto, stderr, journal, syslog).\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        stop = 1;
}

static int parse_args(int argc, char **argv, struct secd_config *cfg, char **apps)
{
        static const struct option options[] = {
                {"root", required_argument, NULL, 'r'},
                {"config", required_argument, NULL, 'c'},
                {"backend", required_argument, NULL, 'b'},
                {"app", required_argument, NULL, 'a'},
                {"version", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        size_t n_apps = 0;
        int c;
        while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
                if (c == 'r' || c == 'c' || c == 'b') {
                        *(c == 'r' ? &cfg->root : c == 'c' ? &cfg->config : &cfg->backend) = optarg;
                } else if (c == 'a') {
                        if (n_apps == SECD_MAX_APPS) {
                                fprintf(stderr, "alder-secd: more than %u --app\n", SECD_MAX_APPS);
                                return 2;
                        }
                        apps[n_apps++] = optarg;
                } else if (c == 'h' || c == 'V') {
                        fputs(c == 'h' ? usage : "alder-secd " ALDER_VERSION "\n", stdout);
                        return 0;
                } else {
                        fputs("Try 'alder-secd --help'.\n", stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "alder-secd: unexpected argument '%s'\nTry 'alder-secd --help'.\n", argv[optind]);
                return 2;
        }
        cfg->apps = apps;
        return -1;
}

int main(int argc, char **argv)
{
        static char *apps[SECD_MAX_APPS + 1];
        struct secd_config cfg = {0};
        int r = parse_args(argc, argv, &cfg, apps);
        if (r >= 0)
                return r;

        alder_log_init("alder-secd");
        _cleanup_error_ alder_error *err = NULL;
        if (alder_log_configure_from_env(&err) < 0) {
                fprintf(stderr, "alder-secd: %s\n", alder_error_message(err));
                return 2;
        }
        struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll() returns EINTR */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        static struct secd d;
        if (secd_init(&d, &cfg, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, NULL, "cannot start");
                secd_done(&d);
                return 1;
        }
        alder_log_info("ready: %zu apps, backend %s", d.n_apps, d.backend->name);
        r = secd_run(&d, &stop, &err);
        if (r < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "main loop failed");
        secd_done(&d);
        return r < 0 ? 1 : 0;
}
