/* SPDX-License-Identifier: Apache-2.0 */
#include "alder/json.h"
#include <stdio.h>

#include "alder-config.h"
#include "cli.h"

static const char usage[] = "Usage: alder version [--json]\n"
                            "\n"
                            "Print the version of the alder tool and the features it was built with.\n"
                            "\n"
                            "Options:\n"
                            "  --json      print a JSON object {version, features{...}}\n"
                            "  -h, --help  show this help\n";

int cmd_version(struct cli *cli, int argc, char **argv)
{
        int optind_;
        int r = cli_parse_common(cli, "version", usage, argc, argv, &optind_);
        if (r >= 0)
                return r;
        if (optind_ < argc)
                return cli_usage_error("version", "unexpected argument '%s'", argv[optind_]);

        if (cli->json) {
                _cleanup_json_ json_t *doc = json_pack("{s:s,s:{s:b,s:s}}", "version", ALDER_VERSION, "features",
                                                       "journal", 1, "jansson", JANSSON_VERSION);
                return cli_print_json(cli, doc);
        }
        printf("alder %s\n", ALDER_VERSION);
        printf("features: journal=yes jansson=%s\n", JANSSON_VERSION);
        return CLI_EXIT_OK;
}
