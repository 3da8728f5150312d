/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder logs: the device's log from alder-logd on this machine (on a device,
 * or a test root) over its API socket (docs/api/logd.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alder/ipc.h"
#include "alder/json.h"
#include "cli.h"

#define DEFAULT_SOCKET  "/run/alder/logd.sock"
#define CALL_TIMEOUT_MS (10 * 1000)
#define FOLLOW_WAIT_MS  30000 /* one long poll; the call's timeout is longer */
#define PAGE            1000
#define FOLLOW_BACKLOG  10
#define MAX_MESSAGE     (4u << 20) /* alder-logd's replies stay below it */
#define MAX_LINES       10000      /* alder-logd's largest limit */

static const char usage[] = "Usage: alder logs [OPTIONS]\n"
                            "\n"
                            "Print the device's log, oldest first: what the platform daemons log and the\n"
                            "output of every app, as alder-logd keeps it (docs/api/logd.md).\n"
                            "\n"
                            "Options:\n"
                            "  -a, --app NAME      entries of this app: its output and what daemons log about it\n"
                            "  -s, --source NAME   entries of this source: a daemon (alder-appd...) or an app's\n"
                            "                      own output\n"
                            "  -l, --level LEVEL   entries at this level or more severe (emerg, alert, crit,\n"
                            "                      err, warning, notice, info, debug, or 0-7)\n"
                            "  -b, --boot[=BOOT]   entries of one boot: current (the default), previous, or\n"
                            "                      a boot id (alder logs --json shows them)\n"
                            "  -n, --lines N       the last N entries only (at most 10000)\n"
                            "  -f, --follow        then keep printing new entries until interrupted\n"
                            "                      (without -n: the last 10 first)\n"
                            "      --since-seq N   entries from sequence number N on\n"
                            "      --socket PATH   alder-logd's API socket (default $ALDER_LOGD_SOCKET or\n"
                            "                      " DEFAULT_SOCKET ")\n"
                            "      --json          one JSON object per entry and line: {seq, realtime_us,\n"
                            "                      monotonic_us, boot, priority, level, source, app, version,\n"
                            "                      stream, message, pid, uid, gid, trusted, fields}\n"
                            "  -h, --help          show this help\n"
                            "\n"
                            "Lines: TIME SOURCE[PID] LEVEL: MESSAGE for daemons, TIME APP/VERSION STREAM:\n"
                            "LINE for an app's output. When entries were dropped from the store (it keeps\n"
                            "the newest within its bound) before they could be read, a line on stderr\n"
                            "says how many.\n";

static const char *socket_path(const char *given)
{
        const char *env = getenv("ALDER_LOGD_SOCKET");
        return given ? given : env && *env ? env : DEFAULT_SOCKET;
}

static int connect_logd(const char *socket, alder_ipc_client **ret, alder_error **err)
{
        _cleanup_ipc_client_ alder_ipc_client *c = NULL;
        int r = alder_ipc_client_connect(socket_path(socket), CALL_TIMEOUT_MS, &c, err);
        if (r < 0)
                return alder_error_wrap(err, "alder-logd is not reachable (is it running?)");
        r = alder_ipc_client_set_max_message_size(c, MAX_MESSAGE, err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&c);
        return 0;
}

int logs_connect(struct cli *cli, const char *socket, alder_ipc_client **ret)
{
        _cleanup_error_ alder_error *err = NULL;
        return connect_logd(socket, ret, &err) < 0 ? cli_fail(cli, err) : CLI_EXIT_OK;
}

bool logs_available(const char *socket, alder_ipc_client **ret)
{
        return connect_logd(socket, ret, NULL) == 0;
}

static const char *str(json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));
        return s ? s : "";
}

/* "2026-01-31 12:34:56.789" in local time. */
static void format_time(json_int_t us, char out[static 32])
{
        time_t t = (time_t) (us / 1000000);
        struct tm tm;
        size_t n = strftime(out, 32, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        snprintf(out + n, 32 - n, ".%03d", (int) (us / 1000 % 1000));
}

static void print_entry(struct cli *cli, json_t *e, enum logs_style style)
{
        if (cli->json || style == LOGS_JSON) {
                _cleanup_free_ char *s = json_dumps(e, JSON_COMPACT);
                if (s)
                        puts(s);
                return;
        }
        if (style == LOGS_MESSAGES) {
                puts(str(e, "message"));
                return;
        }
        char when[32];
        format_time(json_integer_value(json_object_get(e, "realtime_us")), when);
        if (json_object_get(e, "stream"))
                printf("%s %s/%s %s: %s\n", when, str(e, "app"), str(e, "version"), str(e, "stream"),
                       str(e, "message"));
        else
                printf("%s %s[%" JSON_INTEGER_FORMAT "] %s: %s\n", when, str(e, "source"),
                       json_integer_value(json_object_get(e, "pid")), str(e, "level"), str(e, "message"));
}

static json_int_t int_of(json_t *obj, const char *key)
{
        return json_integer_value(json_object_get(obj, key));
}

/*
 * One call; prints its entries and moves *next on. A reply whose oldest kept
 * entry is past *next means the ring dropped entries before they were read.
 */
static int call_and_print(struct cli *cli, alder_ipc_client *c, const char *method, json_t *params, int timeout_ms,
                          enum logs_style style, json_int_t *next, bool *ret_more)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *res = NULL;
        if (alder_ipc_client_call(c, method, params, timeout_ms, &res, &err) < 0)
                return cli_fail(cli, err);
        json_int_t first = int_of(res, "first_seq");
        if (*next > 0 && first > *next && json_array_size(json_object_get(res, "entries")) > 0)
                fprintf(stderr,
                        "alder: -- %" JSON_INTEGER_FORMAT " entries dropped from the store before they were "
                        "read --\n",
                        first - *next);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(res, "entries"), i, e) print_entry(cli, e, style);
        fflush(stdout);
        *next = int_of(res, "next_seq");
        *ret_more = json_is_true(json_object_get(res, "more"));
        return CLI_EXIT_OK;
}

int logs_print(struct cli *cli, alder_ipc_client *c, const json_t *filter, long lines, bool follow,
               json_int_t since_seq, enum logs_style style)
{
        _cleanup_json_ json_t *params = json_deep_copy(filter);
        if (!params) {
                _cleanup_error_ alder_error *err = NULL;
                alder_error_set(&err, ENOMEM, "out of memory");
                return cli_fail(cli, err);
        }
        if (follow && lines < 0 && since_seq < 0)
                lines = FOLLOW_BACKLOG;
        json_int_t next = since_seq > 0 ? since_seq : 0;
        bool more = true;
        int r = CLI_EXIT_OK;
        if (since_seq > 0)
                json_object_set_new(params, "since_seq", json_integer(since_seq));
        if (lines >= 0) {
                json_object_set_new(params, "tail", json_true());
                json_object_set_new(params, "limit", json_integer(lines > 0 ? lines : 1));
                if (lines == 0) /* nothing to print: only where the log ends now */
                        json_object_set_new(params, "since_seq", json_integer(INT64_MAX));
                r = call_and_print(cli, c, "log.query", params, CALL_TIMEOUT_MS, style, &next, &more);
                json_object_del(params, "tail");
                more = false;
        }
        json_object_set_new(params, "limit", json_integer(PAGE));
        while (r == CLI_EXIT_OK && more) {
                json_object_set_new(params, "since_seq", json_integer(next));
                r = call_and_print(cli, c, "log.query", params, CALL_TIMEOUT_MS, style, &next, &more);
        }
        json_object_set_new(params, "timeout_ms", json_integer(FOLLOW_WAIT_MS));
        while (r == CLI_EXIT_OK && follow) {
                json_object_set_new(params, "since_seq", json_integer(next));
                r = call_and_print(cli, c, "log.follow", params, FOLLOW_WAIT_MS + CALL_TIMEOUT_MS, style, &next, &more);
        }
        return r;
}

static int parse_long(const char *opt, const char *s, long min, long max, long *ret)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return cli_usage_error("logs", "%s: '%s' is not a number from %ld to %ld", opt, s, min, max);
        *ret = v;
        return -1;
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
        static const struct option options[] = {
                {"app", required_argument, NULL, 'a'},
                {"source", required_argument, NULL, 's'},
                {"level", required_argument, NULL, 'l'},
                {"boot", optional_argument, NULL, 'b'},
                {"lines", required_argument, NULL, 'n'},
                {"follow", no_argument, NULL, 'f'},
                {"since-seq", required_argument, NULL, 'q'},
                {"socket", required_argument, NULL, 'S'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        _cleanup_json_ json_t *filter = json_object();
        const char *socket = NULL;
        long lines = -1, since = -1;
        bool follow = false;
        optind = 0;
        int c, r;
        while ((c = getopt_long(argc, argv, "+:a:s:l:b::n:fh", options, NULL)) != -1) {
                const char *key = c == 'a' ? "app" : c == 's' ? "source" : c == 'l' ? "min_level" : NULL;
                if (key)
                        json_object_set_new(filter, key, json_string(optarg));
                else if (c == 'b')
                        json_object_set_new(filter, "boot", json_string(optarg ? optarg : "current"));
                else if (c == 'n' && (r = parse_long("--lines", optarg, 0, MAX_LINES, &lines)) >= 0)
                        return r;
                else if (c == 'q' && (r = parse_long("--since-seq", optarg, 1, LONG_MAX, &since)) >= 0)
                        return r;
                else if (c == 'f')
                        follow = true;
                else if (c == 'S')
                        socket = optarg;
                else if (c != 'n' && c != 'q' && (r = cli_common_option(cli, "logs", usage, c, argv)) >= 0)
                        return r;
        }
        if (optind < argc)
                return cli_usage_error("logs", "unexpected argument '%s'", argv[optind]);
        _cleanup_ipc_client_ alder_ipc_client *client = NULL;
        r = logs_connect(cli, socket, &client);
        if (r != CLI_EXIT_OK)
                return r;
        return logs_print(cli, client, filter, lines, follow, since, LOGS_TEXT);
}
