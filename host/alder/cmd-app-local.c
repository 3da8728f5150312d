/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder app install|update|list|status|remove|start|stop|restart|logs: talk to alder-appd on this machine
 * (on a device, or a test root) over its socket (docs/api/appd.md).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/ipc.h"
#include "alder/json.h"
#include "cli.h"

#define DEFAULT_SOCKET     "/run/alder/appd.sock"
#define QUICK_TIMEOUT_MS   (10 * 1000)
#define INSTALL_TIMEOUT_MS (15 * 60 * 1000) /* unpacking a large app on a slow SD card */

static const char socket_help[] =
        "  -s, --socket PATH  alder-appd's socket (default $ALDER_APPD_SOCKET or " DEFAULT_SOCKET ")\n"
        "  --json             print the daemon's answer as JSON\n"
        "  -h, --help         show this help\n";

struct local_args {
        const char *socket;
        const char *arg; /* PACKAGE or NAME */
        bool keep_data;
        bool follow;
        bool file;               /* app logs: alder-appd's file even when alder-logd runs */
        const char *logd_socket; /* app logs: NULL for the default */
};

static int parse_local(struct cli *cli, const char *cmd, const char *usage, bool takes_arg, int argc, char **argv,
                       struct local_args *a)
{
        static const struct option options[] = {
                {"socket", required_argument, NULL, 's'},
                {"keep-data", no_argument, NULL, 'k'},
                {"file", no_argument, NULL, 'F'},
                {"logd-socket", required_argument, NULL, 'L'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *env = getenv("ALDER_APPD_SOCKET");
        *a = (struct local_args){.socket = env && *env ? env : DEFAULT_SOCKET};
        optind = 0;
        int c;
        bool is_logs = strcmp(cmd, "app logs") == 0;
        while ((c = getopt_long(argc, argv, is_logs ? "+:s:hf" : "+:s:h", options, NULL)) != -1) {
                if (c == 's') {
                        a->socket = optarg;
                } else if (c == 'k' && strcmp(cmd, "app remove") == 0) {
                        a->keep_data = true;
                } else if (c == 'f' && is_logs) {
                        a->follow = true;
                } else if (c == 'F' && is_logs) {
                        a->file = true;
                } else if (c == 'L' && is_logs) {
                        a->logd_socket = optarg;
                } else {
                        bool misplaced = c == 'k' || c == 'f' || c == 'F' || c == 'L';
                        int r = cli_common_option(cli, cmd, usage, misplaced ? '?' : c, argv);
                        if (r >= 0)
                                return r;
                }
        }
        if (takes_arg && optind >= argc)
                return cli_usage_error(cmd, "an argument is required");
        if (takes_arg)
                a->arg = argv[optind++];
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
}

static int call_appd(struct cli *cli, const char *socket, const char *method, json_t *params, int timeout_ms,
                     json_t **ret)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *client = NULL;
        if (alder_ipc_client_connect(socket, QUICK_TIMEOUT_MS, &client, &err) < 0) {
                alder_error_wrap(&err, "alder-appd is not reachable (is it running?)");
                return cli_fail(cli, err);
        }
        if (alder_ipc_client_call(client, method, params, timeout_ms, ret, &err) < 0)
                return cli_fail(cli, err);
        return CLI_EXIT_OK;
}

/* One local command: its method, how it builds params and prints the result. */
struct local_cmd {
        const char *name; /* "app install" */
        const char *method;
        const char *usage; /* without the common options */
        bool takes_arg;
        int timeout_ms;
        int (*params)(const struct local_args *a, json_t **ret);
        void (*print)(const struct local_args *a, json_t *res);
};

static int run_local(struct cli *cli, const struct local_cmd *cmd, int argc, char **argv)
{
        char usage[2048];
        snprintf(usage, sizeof(usage), "%s%s", cmd->usage, socket_help);
        struct local_args a;
        int r = parse_local(cli, cmd->name, usage, cmd->takes_arg, argc, argv, &a);
        if (r >= 0)
                return r;
        _cleanup_json_ json_t *params = NULL, *res = NULL;
        if (cmd->params && cmd->params(&a, &params) < 0)
                return CLI_EXIT_FAILURE;
        r = call_appd(cli, a.socket, cmd->method, params, cmd->timeout_ms, &res);
        if (r != CLI_EXIT_OK || cli->json)
                return r != CLI_EXIT_OK ? r : cli_print_json(cli, res);
        cmd->print(&a, res);
        return CLI_EXIT_OK;
}

static const char *str(json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));
        return s ? s : "-";
}

static const char *previous_version(json_t *app)
{
        json_t *prev = json_object_get(app, "previous");
        return json_is_object(prev) ? str(prev, "version") : "-";
}

/* ---- install ------------------------------------------------------------------ */

static int install_params(const struct local_args *a, json_t **ret)
{
        /* The daemon has its own working directory: hand it an absolute path. */
        char abs[PATH_MAX];
        if (!realpath(a->arg, abs)) {
                fprintf(stderr, "alder: error: '%s': %s\n", a->arg, strerror(errno));
                return -errno;
        }
        *ret = json_pack("{s:s}", "package", abs);
        return 0;
}

static void install_print(const struct local_args *a, json_t *res)
{
        const char *prev = json_string_value(json_object_get(res, "previous_version"));
        printf("installed %s %s (sequence %" JSON_INTEGER_FORMAT ")", str(res, "name"), str(res, "version"),
               json_integer_value(json_object_get(res, "sequence")));
        if (prev)
                printf(", was %s%s", prev,
                       json_is_true(json_object_get(res, "running")) ? "; running, health check passed" : "");
        putchar('\n');
}

static const struct local_cmd install_cmd = {
        "app install",
        "app.install",
        "Usage: alder app install [--socket PATH] [--json] PACKAGE\n"
        "\n"
        "Install an app on this device, or update it: alder-appd verifies the\n"
        "package against the device's trust anchors before unpacking anything,\n"
        "refuses an older sequence number than the installed one (anti-rollback),\n"
        "unpacks it beside the current version and switches atomically. When the\n"
        "app runs, the new version is started beside the old one and must pass its\n"
        "health check (its health command, or staying up for its grace period)\n"
        "before it becomes current and the old one stops; otherwise the old version\n"
        "keeps running and the command fails with the reason.\n"
        "\n"
        "Options:\n",
        true,
        INSTALL_TIMEOUT_MS,
        install_params,
        install_print,
};

static const struct local_cmd update_cmd = {
        "app update",
        "app.update",
        "Usage: alder app update [--socket PATH] [--json] PACKAGE\n"
        "\n"
        "Update an installed app from a package: as 'alder app install', but an app\n"
        "that is not installed is refused. A running app is health-checked in its\n"
        "new version before the switch; on failure the old version keeps running.\n"
        "\n"
        "Options:\n",
        true,
        INSTALL_TIMEOUT_MS,
        install_params,
        install_print,
};

/* ---- list --------------------------------------------------------------------- */

static void list_print(const struct local_args *a, json_t *res)
{
        printf("%-24s %-16s %-10s %-10s %s\n", "NAME", "VERSION", "SEQUENCE", "STATE", "PREVIOUS");
        size_t i;
        json_t *app;
        json_array_foreach(res, i, app)
        {
                printf("%-24s %-16s %-10" JSON_INTEGER_FORMAT " %-10s %s\n", str(app, "name"), str(app, "version"),
                       json_integer_value(json_object_get(app, "sequence")), str(app, "state"), previous_version(app));
        }
}

static const struct local_cmd list_cmd = {
        "app list",
        "app.list",
        "Usage: alder app list [--socket PATH] [--json]\n"
        "\n"
        "List the apps installed on this device with their current and previous\n"
        "versions.\n"
        "\n"
        "Options:\n",
        false,
        QUICK_TIMEOUT_MS,
        NULL,
        list_print,
};

/* ---- status ------------------------------------------------------------------- */

static int name_params(const struct local_args *a, json_t **ret)
{
        *ret = json_pack("{s:s}", "name", a->arg);
        return 0;
}

/* "1.0.0 exited with status 3 (out of memory)\n" from an app's last_exit. */
static void print_exit(json_t *last)
{
        printf("%s %s%s\n", str(last, "version"),
               json_is_true(json_object_get(last, "known")) ? str(last, "description") : "exited (status unknown)",
               json_is_true(json_object_get(last, "oom")) ? " (out of memory)" : "");
}

static void status_print(const struct local_args *a, json_t *res)
{
        static const char *const keys[] = {"name", "version", "arch", "state", "signer", "rootfs_sha256", "dir"};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(keys); i++)
                printf("%-14s %s\n", keys[i], str(res, keys[i]));
        printf("%-14s %" JSON_INTEGER_FORMAT "\n%-14s %s\n", "sequence",
               json_integer_value(json_object_get(res, "sequence")), "previous", previous_version(res));
        json_t *pid = json_object_get(res, "pid"), *last = json_object_get(res, "last_exit");
        if (pid)
                printf("%-14s %" JSON_INTEGER_FORMAT "\n", "pid", json_integer_value(pid));
        printf("%-14s %" JSON_INTEGER_FORMAT "\n", "restarts", json_integer_value(json_object_get(res, "restarts")));
        if (json_object_get(res, "secure_services"))
                printf("%-14s %s%s%s\n", "secure svcs", str(res, "secure_services"),
                       json_object_get(res, "secure_services_error") ? ": " : "",
                       json_object_get(res, "secure_services_error") ? str(res, "secure_services_error") : "");
        if (last) {
                printf("%-14s ", "last exit");
                print_exit(last);
        }
        if (json_object_get(res, "last_error"))
                printf("%-14s %s\n", "last error", str(res, "last_error"));
        if (json_object_get(res, "update"))
                printf("%-14s to %s (%s)\n", "updating", str(json_object_get(res, "update"), "version"),
                       str(json_object_get(res, "update"), "phase"));
}

static const struct local_cmd status_cmd = {
        "app status",
        "app.status",
        "Usage: alder app status [--socket PATH] [--json] NAME\n"
        "\n"
        "Show an installed app: version, sequence number, signer, payload digest,\n"
        "the previous version a rollback would return to, and its life-cycle:\n"
        "state (installed, starting, running, stopping, stopped, failed), pid,\n"
        "automatic restarts, the last exit (status or signal, out of memory) and\n"
        "the last error.\n"
        "\n"
        "Options:\n",
        true,
        QUICK_TIMEOUT_MS,
        name_params,
        status_print,
};

/* ---- remove ------------------------------------------------------------------- */

static int remove_params(const struct local_args *a, json_t **ret)
{
        *ret = json_pack("{s:s,s:b}", "name", a->arg, "keep_data", a->keep_data);
        return 0;
}

static void remove_print(const struct local_args *a, json_t *res)
{
        printf("removed %s%s\n", a->arg, a->keep_data ? " (data kept)" : "");
        if (json_object_get(res, "secure_services_error"))
                fprintf(stderr, "alder: warning: %s\n", str(res, "secure_services_error"));
}

static const struct local_cmd remove_cmd = {
        "app remove",
        "app.remove",
        "Usage: alder app remove [--keep-data] [--socket PATH] [--json] NAME\n"
        "\n"
        "Remove an app from this device, with its data volumes and its keys and\n"
        "secrets in alder-secd unless --keep-data.\n"
        "\n"
        "Options:\n"
        "  --keep-data        keep the app's data volumes, keys and secrets for a\n"
        "                     later reinstall\n",
        true,
        90 * 1000, /* it stops the app first */
        remove_params,
        remove_print,
};

/* ---- start / stop --------------------------------------------------------------- */

static void start_print(const struct local_args *a, json_t *res)
{
        printf("started %s (pid %" JSON_INTEGER_FORMAT ")\n", a->arg, json_integer_value(json_object_get(res, "pid")));
}

static const struct local_cmd start_cmd = {
        "app start",
        "app.start",
        "Usage: alder app start [--socket PATH] [--json] NAME\n"
        "\n"
        "Start an installed app in its hardened container (user namespace, read-only\n"
        "root, no capabilities, seccomp, cgroup limits; docs/design/container-hardening.md).\n"
        "Its output goes to /var/log/alder/apps/NAME.log.\n"
        "\n"
        "Options:\n",
        true,
        QUICK_TIMEOUT_MS,
        name_params,
        start_print,
};

static void stop_print(const struct local_args *a, json_t *res)
{
        printf("stopped %s%s\n", a->arg,
               json_is_true(json_object_get(res, "killed")) ? " (killed after the timeout)" : "");
}

static const struct local_cmd stop_cmd = {
        "app stop",
        "app.stop",
        "Usage: alder app stop [--socket PATH] [--json] NAME\n"
        "\n"
        "Stop a running app: SIGTERM, then SIGKILL if it is still running after the\n"
        "stop timeout (10 s unless alder-appd's configuration says otherwise). A\n"
        "stopped app is not restarted by its restart policy.\n"
        "\n"
        "Options:\n",
        true,
        90 * 1000,
        name_params,
        stop_print,
};

static void restart_print(const struct local_args *a, json_t *res)
{
        printf("restarted %s (pid %" JSON_INTEGER_FORMAT ")\n", a->arg,
               json_integer_value(json_object_get(res, "pid")));
}

static const struct local_cmd restart_cmd = {
        "app restart",
        "app.restart",
        "Usage: alder app restart [--socket PATH] [--json] NAME\n"
        "\n"
        "Stop an app as 'alder app stop' does (if it runs) and start it again.\n"
        "\n"
        "Options:\n",
        true,
        90 * 1000,
        name_params,
        restart_print,
};

static void wait_print(const struct local_args *a, json_t *res)
{
        json_t *last = json_object_get(res, "last_exit");
        printf("%s %s%s", a->arg, str(res, "state"), last ? ": " : "\n");
        if (last)
                print_exit(last);
}

static const struct local_cmd wait_cmd = {
        "app wait",
        "app.wait",
        "Usage: alder app wait [--socket PATH] [--json] NAME\n"
        "\n"
        "Wait until the app's running container exits (at once if it does not run),\n"
        "then print its state and how it exited. Waits without a time limit; the\n"
        "exit status is 0 whatever the app's was (read it from --json: last_exit).\n"
        "\n"
        "Options:\n",
        true,
        -1,
        name_params,
        wait_print,
};

/* ---- dispatch ------------------------------------------------------------------- */

static const struct local_cmd *const local_cmds[] = {
        &install_cmd, &update_cmd, &list_cmd, &status_cmd, &remove_cmd, &start_cmd, &stop_cmd, &restart_cmd, &wait_cmd,
};

int cmd_app_local(struct cli *cli, int argc, char **argv)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(local_cmds); i++)
                if (strcmp(local_cmds[i]->name + strlen("app "), argv[0]) == 0)
                        return run_local(cli, local_cmds[i], argc, argv);
        return cli_usage_error("app", "unknown command '%s'", argv[0]);
}

/* ---- logs ------------------------------------------------------------------------ */

#define LOGS_POLL_US    (300 * 1000)
#define LOGS_LAST_LINES 1000

static const char logs_usage[] =
        "Usage: alder app logs [-f] [--file] [--socket PATH] [--logd-socket PATH] [--json] NAME\n"
        "\n"
        "Print the end of an app's output (stdout and stderr of its container),\n"
        "and with -f keep printing what it writes until interrupted.\n"
        "\n"
        "When alder-logd runs, the output is in its store (the last 1000 lines are\n"
        "printed; `alder logs --app NAME` shows more, tagged); otherwise alder-appd\n"
        "keeps it in /var/log/alder/apps/NAME.log (the last 64 KiB are printed).\n"
        "\n"
        "Options:\n"
        "  -f, --follow       keep following the log\n"
        "  --file             read alder-appd's file even when alder-logd runs (lines\n"
        "                     written while alder-logd was not running are there)\n"
        "  --logd-socket PATH alder-logd's API socket (default $ALDER_LOGD_SOCKET or\n"
        "                     /run/alder/logd.sock)\n";

/* Through alder-appd's app.logs: its file of the app's output. */
static int app_logs_file(struct cli *cli, const struct local_args *a)
{
        json_int_t offset = -1;
        for (;;) {
                _cleanup_json_ json_t *params = json_pack("{s:s,s:I}", "name", a->arg, "offset", offset);
                _cleanup_json_ json_t *res = NULL;
                int r = call_appd(cli, a->socket, "app.logs", params, QUICK_TIMEOUT_MS, &res);
                if (r != CLI_EXIT_OK)
                        return r;
                if (cli->json)
                        cli_print_json(cli, res);
                else
                        fputs(str(res, "data"), stdout);
                fflush(stdout);
                json_int_t next = json_integer_value(json_object_get(res, "offset"));
                json_int_t size = json_integer_value(json_object_get(res, "size"));
                if (!a->follow && next >= size)
                        return CLI_EXIT_OK;
                if (next >= size)
                        usleep(LOGS_POLL_US);
                offset = next;
        }
}

int cmd_app_logs(struct cli *cli, int argc, char **argv)
{
        char usage[2048];
        snprintf(usage, sizeof(usage), "%s%s", logs_usage, socket_help);
        struct local_args a;
        int r = parse_local(cli, "app logs", usage, true, argc, argv, &a);
        if (r >= 0)
                return r;
        _cleanup_ipc_client_ alder_ipc_client *logd = NULL;
        if (a.file || !logs_available(a.logd_socket, &logd))
                return app_logs_file(cli, &a);
        /* the app's own output: it is the source of its lines */
        _cleanup_json_ json_t *filter = json_pack("{s:s,s:s}", "app", a.arg, "source", a.arg);
        if (!filter)
                return CLI_EXIT_FAILURE;
        return logs_print(cli, logd, filter, LOGS_LAST_LINES, a.follow, -1, cli->json ? LOGS_JSON : LOGS_MESSAGES);
}
