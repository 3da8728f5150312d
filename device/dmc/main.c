/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-dmc: Alder's device-management client, an LwM2M 1.1 client over
 * CoAP/DTLS (docs/api/dmc.md).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if DMC_HTTP
#include <curl/curl.h>
#endif

#include "alder-config.h"
#include "alder/log.h"
#include "daemon.h"

static const char usage[] = "Usage: alder-dmc [OPTIONS]\n"
                            "\n"
                            "Alder's device-management client: registers the device with an LwM2M 1.1\n"
                            "server over CoAP (coap://) or DTLS (coaps://, PSK or X.509) and serves its\n"
                            "objects: Security, Server, Device, Connectivity Monitoring, Firmware Update,\n"
                            "Software Management and the Alder App object (docs/api/dmc.md).\n"
                            "Runs until SIGTERM or SIGINT (then de-registers); SIGHUP reloads the\n"
                            "configuration and registers anew when the server or credentials changed.\n"
                            "\n"
                            "Options:\n"
                            "  --root DIR       prefix of the default paths (a whole device root, for tests)\n"
                            "  --config FILE    settings (default ROOT/config/dmc.json)\n"
                            "  --check-config   load and check the configuration, print nothing, exit\n"
                            "  -V, --version    print the version\n"
                            "  -h, --help       show this help\n"
                            "\n"
                            "Logging: ALDER_LOG_LEVEL (err..debug), ALDER_LOG_TARGET (auto, stderr, journal, syslog).\n"
                            "Exit status: 0 stopped by a signal, 1 failure (the reason is logged), 2 usage.\n";

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"root", required_argument, NULL, 'r'},   {"config", required_argument, NULL, 'c'},
                {"check-config", no_argument, NULL, 'k'}, {"version", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},         {0},
        };
        const char *root = NULL, *config = NULL;
        bool check = false;
        int c;
        while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
                switch (c) {
                case 'r':
                        root = optarg;
                        break;
                case 'c':
                        config = optarg;
                        break;
                case 'k':
                        check = true;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                case 'V':
                        puts("alder-dmc " ALDER_VERSION);
                        return 0;
                default:
                        fputs("Try 'alder-dmc --help'.\n", stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "alder-dmc: unexpected argument '%s'\nTry 'alder-dmc --help'.\n", argv[optind]);
                return 2;
        }
        alder_log_init("alder-dmc");
        _cleanup_error_ alder_error *err = NULL;
        if (alder_log_configure_from_env(&err) < 0) {
                fprintf(stderr, "alder-dmc: %s\n", alder_error_message(err));
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        struct dmc_config cfg;
        int r = dmc_config_load(&cfg, root, config, &err);
        if (r < 0 || check) {
                dmc_config_done(&cfg);
                if (r < 0)
                        alder_log_error(ALDER_LOG_ERR, err, NULL, "configuration");
                return r < 0 ? 1 : 0;
        }
#if DMC_HTTP
        /* Before any thread (package pulls over HTTP(S) run in one). */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                dmc_config_done(&cfg);
                fputs("alder-dmc: cannot initialize libcurl\n", stderr);
                return 1;
        }
#endif
        static struct dmc d;
        r = dmc_init(&d, &cfg, &err);
        if (r == 0 && root && !(d.root_arg = strdup(root)))
                r = alder_error_set(&err, ENOMEM, "out of memory");
        if (r == 0)
                r = dmc_run(&d, &err);
        if (r < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "cannot run");
        dmc_config_done(&cfg);
        dmc_done(&d);
        return r < 0 ? 1 : 0;
}
