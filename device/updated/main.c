/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-updated: the update agent. `serve` runs the socket API; the other
 * commands do the same work directly (for a shell on the device, and for
 * `alder update install -`, which streams a bundle from stdin).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "updated.h"

static const char usage[] = "Usage: alder-updated [OPTIONS] COMMAND [ARG]\n"
                            "\n"
                            "Alder's A/B root-filesystem update agent (docs/api/updated.md).\n"
                            "\n"
                            "Commands:\n"
                            "  serve          serve the API socket until SIGTERM or SIGINT\n"
                            "  install FILE|- verify an update bundle (.alupd), stream its image into the\n"
                            "                 inactive slot, read it back, and arm a try-boot (then reboot)\n"
                            "  status         the U-Boot env, the booted slot and the agent's state\n"
                            "  commit         after booting the new slot: health checks, then make it\n"
                            "                 permanent (a failed check rolls back)\n"
                            "  boot           once per boot, when the platform is up: commit the update\n"
                            "                 this boot tries if it is healthy, else roll back (then\n"
                            "                 reboot); record what the bootloader did\n"
                            "  rollback       make the previously running slot the boot target again\n"
                            "\n"
                            "Options:\n"
                            "  --root DIR     prefix of the default paths (a whole device root, for tests)\n"
                            "  --config FILE  settings (default ROOT/config/updated.json)\n"
                            "  -q, --quiet    no progress on stderr\n"
                            "  -h, --help     show this help\n"
                            "\n"
                            "Results are printed as JSON on stdout. Exit status: 0 success, 1 failure\n"
                            "(the reason on stderr), 2 usage.\n";

struct progress {
        bool quiet;
        struct timespec last;
        unsigned last_pct;
};

static void print_progress(void *ctx, const char *what, uint64_t done, uint64_t total)
{
        struct progress *p = ctx;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        unsigned pct = total ? (unsigned) (done * 100 / total) : 100;
        if (p->quiet || (pct == p->last_pct && now.tv_sec == p->last.tv_sec && done != total))
                return;
        p->last = now;
        p->last_pct = pct;
        fprintf(stderr, "\ralder-updated: writing %s: %3u%% (%" PRIu64 " of %" PRIu64 " bytes)%s", what, pct, done,
                total, done == total ? "\n" : "");
}

static int run(const struct upd_config *cfg, const char *cmd, const char *arg, bool quiet, alder_error **err)
{
        if (strcmp(cmd, "serve") == 0)
                return upd_serve(cfg, err);
        _cleanup_close_ int lock = -1;
        int r = upd_lock(cfg, &lock, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *res = NULL;
        if (strcmp(cmd, "install") == 0) {
                _cleanup_close_ int fd = strcmp(arg, "-") == 0 ? dup(STDIN_FILENO) : open(arg, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return alder_error_sys(err, errno, "open '%s'", arg);
                struct progress p = {.quiet = quiet || !isatty(STDERR_FILENO), .last_pct = 101};
                r = upd_install(cfg, fd, strcmp(arg, "-") == 0 ? "stdin" : arg, print_progress, &p, &res, err);
        } else if (strcmp(cmd, "status") == 0) {
                r = upd_status(cfg, &res, err);
        } else if (strcmp(cmd, "commit") == 0) {
                r = upd_commit(cfg, &res, err);
        } else if (strcmp(cmd, "boot") == 0) {
                r = upd_boot(cfg, &res, err);
        } else {
                r = upd_rollback(cfg, &res, err);
        }
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        size_t len;
        r = alder_json_dump(res, ALDER_JSON_PRETTY, &text, &len, err);
        if (r == 0)
                printf("%s\n", text);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"root", required_argument, NULL, 'r'},
                {"config", required_argument, NULL, 'c'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *root = NULL, *config = NULL;
        bool quiet = false;
        int c;
        while ((c = getopt_long(argc, argv, "+:r:c:qh", options, NULL)) != -1) {
                switch (c) {
                case 'r':
                        root = optarg;
                        break;
                case 'c':
                        config = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fprintf(stderr, "alder-updated: bad option '%s'\n%s", argv[optind - 1], usage);
                        return 2;
                }
        }
        static const char *const cmds[] = {"serve", "install", "status", "commit", "rollback", "boot"};
        const char *cmd = optind < argc ? argv[optind++] : NULL;
        bool known = false;
        for (size_t i = 0; cmd && i < ALDER_ARRAY_SIZE(cmds); i++)
                known |= strcmp(cmd, cmds[i]) == 0;
        bool wants_arg = cmd && strcmp(cmd, "install") == 0;
        if (!known || (wants_arg && optind >= argc) || argc - optind > (wants_arg ? 1 : 0)) {
                fprintf(stderr, "alder-updated: %s\n%s", !cmd ? "a command is required" : "bad command line", usage);
                return 2;
        }
        struct upd_config cfg;
        _cleanup_error_ alder_error *err = NULL;
        int r = upd_config_load(&cfg, root, config, &err);
        if (r == 0)
                r = run(&cfg, cmd, wants_arg ? argv[optind] : NULL, quiet, &err);
        upd_config_done(&cfg);
        if (r < 0) {
                fprintf(stderr, "alder-updated: error: %s\n", alder_error_message(err));
                return 1;
        }
        return 0;
}
