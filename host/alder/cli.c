/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alder/json.h"
#include "cli.h"

int cli_fail(struct cli *cli, alder_error *err)
{
        const char *msg = alder_error_message(err);
        fprintf(stderr, "alder: error: %s\n", msg);
        if (cli->json) {
                _cleanup_json_ json_t *doc =
                        json_pack("{s:{s:s,s:i}}", "error", "message", msg, "errno", alder_error_errno(err));
                if (doc)
                        (void) cli_print_json(cli, doc);
        }
        return CLI_EXIT_FAILURE;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "alder %s: ", command);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'alder %s --help'.\n", command);
        va_end(ap);
        return CLI_EXIT_USAGE;
}

int cli_option_error(const char *command, int c, char **argv)
{
        if (c == ':')
                return cli_usage_error(command, "option '%s' needs an argument", argv[optind - 1]);
        return cli_usage_error(command, "unknown option '%s'", argv[optind - 1]);
}

int cli_common_option(struct cli *cli, const char *command, const char *usage, int c, char **argv)
{
        switch (c) {
        case 'j':
                cli->json = true;
                return -1;
        case 'h':
                fputs(usage, stdout);
                return CLI_EXIT_OK;
        default:
                return cli_option_error(command, c, argv);
        }
}

int cli_print_json(struct cli *cli, const json_t *value)
{
        _cleanup_free_ char *s = NULL;
        _cleanup_error_ alder_error *err = NULL;
        if (alder_json_dump(value, ALDER_JSON_PRETTY, &s, NULL, &err) < 0) {
                fprintf(stderr, "alder: error: %s\n", alder_error_message(err));
                return CLI_EXIT_FAILURE;
        }
        puts(s);
        return CLI_EXIT_OK;
}

int cli_parse_common(struct cli *cli, const char *command, const char *usage, int argc, char **argv, int *ret_optind)
{
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"json", no_argument, NULL, 'j'},
                {0},
        };
        optind = 0; /* reset getopt: commands parse their own argv */
        int c;
        /* '+': stop at the first non-option; ':': report missing arguments ourselves */
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
                int r = cli_common_option(cli, command, usage, c, argv);
                if (r >= 0)
                        return r;
        }
        *ret_optind = optind;
        return -1;
}
