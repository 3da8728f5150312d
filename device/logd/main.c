/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-logd: Alder's logging framework (docs/api/logd.md).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "alder-config.h"
#include "alder/log.h"
#include "logd.h"

static const char usage[] = "Usage: alder-logd [OPTIONS]\n"
                            "\n"
                            "Alder's logging framework: receives the entries of the platform daemons and\n"
                            "the output of every app (from alder-appd), tags each (source, app, version,\n"
                            "level, boot, monotonic and wall time, sequence number), keeps them in a\n"
                            "bounded, crash-safe ring on the data partition, forwards them to the journal\n"
                            "or syslog when configured, and answers `alder logs` (docs/api/logd.md).\n"
                            "Runs until SIGTERM or SIGINT.\n"
                            "\n"
                            "Sockets:\n"
                            "  ROOT/run/alder/log.sock    entries (datagrams, journald's native protocol;\n"
                            "                             ALDER_LOG_TARGET=alder sends there)\n"
                            "  ROOT/run/alder/logd.sock   API: log.query, log.follow, log.status (root only)\n"
                            "Store: ROOT/var/lib/alder/log (docs/formats/logstore.md).\n"
                            "\n"
                            "Options:\n"
                            "  --root DIR          prefix for every path (a whole device root, for tests)\n"
                            "  --config FILE       settings (default ROOT/config/logd.json, optional)\n"
                            "  --boot-id-file FILE where the boot id is read (default\n"
                            "                      /proc/sys/kernel/random/boot_id)\n"
                            "  -V, --version       print the version\n"
                            "  -h, --help          show this help\n"
                            "\n"
                            "Logging of its own: ALDER_LOG_LEVEL (err..debug), ALDER_LOG_TARGET (auto,\n"
                            "stderr, journal, syslog; never its own socket: auto and alder mean stderr).\n";

static int parse_args(int argc, char **argv, struct logd_config *cfg)
{
        static const struct option options[] = {
                {"root", required_argument, NULL, 'r'},
                {"config", required_argument, NULL, 'c'},
                {"boot-id-file", required_argument, NULL, 'b'},
                {"version", no_argument, NULL, 'V'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
                if (c == 'r' || c == 'c' || c == 'b') {
                        *(c == 'r' ? &cfg->root : c == 'c' ? &cfg->config : &cfg->boot_id_file) = optarg;
                } else if (c == 'h' || c == 'V') {
                        fputs(c == 'h' ? usage : "alder-logd " ALDER_VERSION "\n", stdout);
                        return 0;
                } else {
                        fputs("Try 'alder-logd --help'.\n", stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "alder-logd: unexpected argument '%s'\nTry 'alder-logd --help'.\n", argv[optind]);
                return 2;
        }
        return -1;
}

int main(int argc, char **argv)
{
        struct logd_config cfg = {0};
        int r = parse_args(argc, argv, &cfg);
        if (r >= 0)
                return r;

        alder_log_init("alder-logd");
        _cleanup_error_ alder_error *err = NULL;
        if (alder_log_configure_from_env(&err) < 0) {
                fprintf(stderr, "alder-logd: %s\n", alder_error_message(err));
                return 2;
        }
        /* its own entries go to the store directly: through its socket it would wait for itself */
        if (alder_log_get_target() == ALDER_LOG_TARGET_ALDER && alder_log_set_target(ALDER_LOG_TARGET_STDERR, NULL) < 0)
                return 2;
        signal(SIGPIPE, SIG_IGN);

        static struct logd d;
        if (logd_init(&d, &cfg, &err) < 0) {
                alder_log_error(ALDER_LOG_ERR, err, NULL, "cannot start");
                logd_done(&d);
                return 1;
        }
        r = logd_run(&d, &err);
        if (r < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "main loop failed");
        logd_done(&d);
        return r < 0 ? 1 : 0;
}
