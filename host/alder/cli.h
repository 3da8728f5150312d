/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `alder` command-line tool: shared pieces of its commands.
 *
 * Each command lives in its own file (cmd-<name>.c, crun's layout) and is a
 * function `int cmd_x(struct cli *cli, int argc, char **argv)` returning an
 * exit code. Exit codes are fixed and documented in `alder --help`.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "alder/error.h"

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_FAILURE = 1, /* the operation failed */
        CLI_EXIT_USAGE = 2,   /* bad command line */
};

struct cli {
        bool json; /* --json: machine-readable output on stdout */
};

struct cli_command {
        const char *name;
        const char *summary;
        int (*run)(struct cli *cli, int argc, char **argv);
};

/* Reports a failed operation (stderr; plus a JSON error object on stdout in --json mode). */
int cli_fail(struct cli *cli, alder_error *err);

/* Reports a usage error naming the command; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) ALDER_PRINTF(2, 3);

/*
 * The usage error for what getopt_long() returned for a bad option: ':' (a
 * missing argument) or '?' (an unknown option). Returns CLI_EXIT_USAGE.
 */
int cli_option_error(const char *command, int c, char **argv);

/*
 * The default: branch of every command's getopt switch: 'j' (--json) sets
 * cli->json and returns -1 (go on), 'h' (--help) prints usage and returns
 * CLI_EXIT_OK, anything else is cli_option_error().
 */
int cli_common_option(struct cli *cli, const char *command, const char *usage, int c, char **argv);

/* Prints a JSON document on stdout, indented, newline-terminated. */
int cli_print_json(struct cli *cli, const json_t *value);

/*
 * Parses the options every command accepts (-h/--help, --json) and stops at
 * the first other argument. Returns -1 to go on, or an exit code.
 */
int cli_parse_common(struct cli *cli, const char *command, const char *usage, int argc, char **argv, int *ret_optind);

int cmd_version(struct cli *cli, int argc, char **argv);
int cmd_ipc(struct cli *cli, int argc, char **argv);
int cmd_keys(struct cli *cli, int argc, char **argv);
int cmd_app(struct cli *cli, int argc, char **argv);
int cmd_update(struct cli *cli, int argc, char **argv);
int cmd_secure(struct cli *cli, int argc, char **argv);
int cmd_dm(struct cli *cli, int argc, char **argv);
int cmd_app_pack(struct cli *cli, int argc, char **argv);
/* app install|update|list|status|remove|start|stop|restart|wait: argv[0] names which */
int cmd_app_local(struct cli *cli, int argc, char **argv);
int cmd_app_logs(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);

/* cmd-logs.c: reading alder-logd, shared with `alder app logs` */
struct alder_ipc_client;
enum logs_style {
        LOGS_TEXT,     /* TIME SOURCE[PID] LEVEL: MESSAGE */
        LOGS_MESSAGES, /* the message alone: an app's output as it wrote it */
        LOGS_JSON,     /* one entry per line */
};
/* Connects to alder-logd's API socket (NULL: $ALDER_LOGD_SOCKET or the default); reports a failure. */
int logs_connect(struct cli *cli, const char *socket, struct alder_ipc_client **ret);
/* The same, quietly: false when alder-logd does not answer. */
bool logs_available(const char *socket, struct alder_ipc_client **ret);
/*
 * Prints the entries that match filter (log.query's parameters): the last
 * `lines` (-1: all), from since_seq on (-1: the oldest kept), then with
 * follow the new ones until interrupted. Returns an exit code.
 */
int logs_print(struct cli *cli, struct alder_ipc_client *client, const json_t *filter, long lines, bool follow,
               json_int_t since_seq, enum logs_style style);
