/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-appd: Alder's application manager daemon.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "alder-config.h"
#include "alder/log.h"
#include "appd.h"

static const char usage[] =
        "Usage: alder-appd [OPTIONS]\n"
        "\n"
        "Alder's application manager: installs and updates signed app packages,\n"
        "runs each app in its own hardened container with its restart policy,\n"
        "starts the core apps, and serves the API that `alder app ...` uses\n"
        "(docs/api/appd.md). Runs until SIGTERM or SIGINT; the apps keep running\n"
        "and are adopted again when alder-appd starts next.\n"
        "\n"
        "Options:\n"
        "  --root DIR       prefix for every path below (a whole device root, for tests)\n"
        "  --config FILE    settings and core apps (default ROOT/config/appd.json;\n"
        "                   optional, see docs/api/appd.md#configuration)\n"
        "  --store DIR      app store (default ROOT/var/lib/alder/apps)\n"
        "  --trust DIR      trust anchors: PEM certificates of package signers\n"
        "                   (default ROOT/config/trust)\n"
        "  --socket PATH    API socket (default ROOT/run/alder/appd.sock)\n"
        "  --vendor DOMAIN  vendor packages must be for (default alder.invalid)\n"
        "  --arch ARCH      architecture packages must be for (default: this machine's)\n"
        "  --runtime NAME   OCI runtime: crun, runc or auto (default: the config's, else\n"
        "                   auto = crun on cgroup v2, else runc)\n"
        "  --no-limits      do not set cgroup memory/cpu/pids limits (--limits: do)\n"
        "  --stage-helper PATH  the package worker (default: alder-app-stage beside\n"
        "                   this program)\n"
        "  -V, --version    print the version\n"
        "  -h, --help       show this help\n"
        "\n"
        "Logging: ALDER_LOG_LEVEL (err..debug), ALDER_LOG_TARGET (auto, stderr, journal, syslog).\n";

static int parse_args(int argc, char **argv, struct appd_config *cfg)
{
        static const struct option options[] = {
                {"root", required_argument, NULL, 'r'},
                {"store", required_argument, NULL, 's'},
                {"trust", required_argument, NULL, 't'},
                {"socket", required_argument, NULL, 'S'},
                {"vendor", required_argument, NULL, 'v'},
                {"arch", required_argument, NULL, 'a'},
                {"config", required_argument, NULL, 'c'},
                {"runtime", required_argument, NULL, 'R'},
                {"stage-helper", required_argument, NULL, 'H'},
                {"limits", no_argument, NULL, 'l'},
                {"no-limits", no_argument, NULL, 'L'},
                {"version", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
                const char **field = c == 'r'   ? &cfg->root
                                     : c == 's' ? &cfg->store
                                     : c == 't' ? &cfg->trust
                                     : c == 'S' ? &cfg->socket
                                     : c == 'v' ? &cfg->vendor
                                     : c == 'a' ? &cfg->arch
                                     : c == 'R' ? &cfg->runtime
                                     : c == 'c' ? &cfg->config
                                     : c == 'H' ? &cfg->stage_helper
                                                : NULL;
                if (field) {
                        *field = optarg;
                        continue;
                }
                if (c == 'L' || c == 'l') {
                        cfg->limits = c == 'l';
                        continue;
                }
                if (c == 'h' || c == 'V') {
                        fputs(c == 'h' ? usage : "alder-appd " ALDER_VERSION "\n", stdout);
                        return 0;
                }
                fputs("Try 'alder-appd --help'.\n", stderr);
                return 2;
        }
        if (optind < argc) {
                fprintf(stderr, "alder-appd: unexpected argument '%s'\nTry 'alder-appd --help'.\n", argv[optind]);
                return 2;
        }
        if (cfg->arch && !alder_arch_normalize(cfg->arch, NULL)) {
                fprintf(stderr, "alder-appd: --arch: '%s' is not one of arm64, arm, amd64\n", cfg->arch);
                return 2;
        }
        return -1;
}

int main(int argc, char **argv)
{
        struct appd_config cfg = {.limits = -1};
        int r = parse_args(argc, argv, &cfg);
        if (r >= 0)
                return r;
        if (cfg.arch)
                cfg.arch = alder_arch_normalize(cfg.arch, NULL);

        alder_log_init("alder-appd");
        _cleanup_error_ alder_error *err = NULL;
        if (alder_log_configure_from_env(&err) < 0) {
                fprintf(stderr, "alder-appd: %s\n", alder_error_message(err));
                return 2;
        }
        struct appd d;
        if (appd_init(&d, &cfg, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, NULL, "cannot start");
                appd_done(&d);
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        r = appd_run(&d, &err);
        if (r < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "main loop failed");
        else
                alder_log_info("stopped (apps keep running)");
        appd_done(&d);
        return r < 0 ? 1 : 0;
}
