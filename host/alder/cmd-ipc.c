/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder ipc call: one raw request to a daemon's control socket. The tool a
 * developer reaches for when a higher-level command is missing or misbehaves,
 * like busctl for D-Bus.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/ipc.h"
#include "alder/json.h"
#include "cli.h"

#define DEFAULT_TIMEOUT_MS 5000

static const char usage[] = "Usage: alder ipc call --socket PATH [--timeout MS] [--json] METHOD [PARAMS]\n"
                            "\n"
                            "Send one request to an Alder daemon's control socket and print the reply.\n"
                            "PARAMS is a JSON object (default {}); '-' reads it from standard input.\n"
                            "The protocol is described in docs/api/ipc.md.\n"
                            "\n"
                            "Options:\n"
                            "  -s, --socket PATH   the daemon's Unix socket, e.g. /run/alder/appd.sock\n"
                            "  -t, --timeout MS    give up after MS milliseconds (default 5000)\n"
                            "      --json          print the result as JSON even when it is a plain string\n"
                            "  -h, --help          show this help\n"
                            "\n"
                            "Examples:\n"
                            "  alder ipc call -s /run/alder/appd.sock app.list\n"
                            "  echo '{\"name\":\"hello\"}' | alder ipc call -s /run/alder/appd.sock app.status -\n"
                            "\n"
                            "Exit status: 0 reply received, 1 the call failed (the daemon's error or\n"
                            "no answer in time), 2 bad command line.\n";

struct ipc_call_args {
        const char *socket;
        int timeout_ms;
        const char *method;
        const char *params;
};

static int parse_timeout(const char *s, int *ret)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || *end || end == s || v <= 0 || v > INT_MAX)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static int parse_call_args(struct cli *cli, int argc, char **argv, struct ipc_call_args *a)
{
        static const struct option options[] = {
                {"socket", required_argument, NULL, 's'},
                {"timeout", required_argument, NULL, 't'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        a->timeout_ms = DEFAULT_TIMEOUT_MS;
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, "+:s:t:h", options, NULL)) != -1) {
                switch (c) {
                case 's':
                        a->socket = optarg;
                        break;
                case 't':
                        if (parse_timeout(optarg, &a->timeout_ms) < 0)
                                return cli_usage_error("ipc call",
                                                       "--timeout: '%s' is not a positive number of "
                                                       "milliseconds",
                                                       optarg);
                        break;
                default: {
                        int r = cli_common_option(cli, "ipc call", usage, c, argv);
                        if (r >= 0)
                                return r;
                        break;
                }
                }
        }
        if (!a->socket)
                return cli_usage_error("ipc call", "--socket PATH is required");
        if (optind >= argc)
                return cli_usage_error("ipc call", "METHOD is required");
        a->method = argv[optind++];
        if (optind < argc)
                a->params = argv[optind++];
        if (optind < argc)
                return cli_usage_error("ipc call", "unexpected argument '%s'", argv[optind]);
        return -1;
}

/* PARAMS from the command line or, for "-", from stdin (bounded like any message). */
static int load_params(const char *arg, json_t **ret, alder_error **err)
{
        if (!arg) {
                *ret = json_object();
                return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
        }
        json_t *v;
        int r = strcmp(arg, "-") == 0 ? alder_json_load_file("/dev/stdin", ALDER_IPC_DEFAULT_MAX_MESSAGE, &v, err)
                                      : alder_json_parse("PARAMS", arg, strlen(arg), &v, err);
        if (r < 0)
                return r;
        if (!json_is_object(v)) {
                r = alder_error_set(err, EINVAL, "PARAMS: expected a JSON object, got %s", alder_json_type_name(v));
                json_decref(v);
                return r;
        }
        *ret = v;
        return 0;
}

static int run_call(struct cli *cli, const struct ipc_call_args *a)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *params = NULL;
        if (load_params(a->params, &params, &err) < 0)
                return cli_fail(cli, err);

        _cleanup_ipc_client_ alder_ipc_client *client = NULL;
        if (alder_ipc_client_connect(a->socket, a->timeout_ms, &client, &err) < 0)
                return cli_fail(cli, err);
        _cleanup_json_ json_t *result = NULL;
        if (alder_ipc_client_call(client, a->method, params, a->timeout_ms, &result, &err) < 0)
                return cli_fail(cli, err);

        /* A plain string result reads better unquoted, unless a script asked for JSON. */
        if (json_is_string(result) && !cli->json) {
                puts(json_string_value(result));
                return CLI_EXIT_OK;
        }
        if (!result)
                result = json_null();
        return cli_print_json(cli, result);
}

int cmd_ipc(struct cli *cli, int argc, char **argv)
{
        static const char ipc_usage[] = "Usage: alder ipc call --socket PATH [--timeout MS] METHOD [PARAMS]\n"
                                        "\n"
                                        "Talk to an Alder daemon's control socket (diagnostics).\n"
                                        "\n"
                                        "Commands:\n"
                                        "  call   send one request and print the reply (alder ipc call --help)\n";
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(ipc_usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "call") != 0)
                return cli_usage_error("ipc", "unknown subcommand '%s'", argv[1]);

        struct ipc_call_args a = {0};
        int r = parse_call_args(cli, argc - 1, argv + 1, &a);
        if (r >= 0)
                return r;
        return run_call(cli, &a);
}
