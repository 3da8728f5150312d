/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder: the developer's command-line tool for Alder devices.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "alder-config.h"
#include "cli.h"

static const struct cli_command commands[] = {
        {"version", "print version and build features", cmd_version},
        {"ipc", "talk to a daemon's control socket (diagnostics)", cmd_ipc},
        {"keys", "generate and inspect signing keys and certificates", cmd_keys},
        {"app", "pack, sign, verify and inspect app packages", cmd_app},
        {"update", "create, sign, verify and install root-filesystem updates", cmd_update},
        {"secure", "provision apps' keys and secrets in alder-secd", cmd_secure},
        {"logs", "print the device's log from alder-logd", cmd_logs},
        {"dm", "devices, resources and notifications of the alder-dm service", cmd_dm},
};

static void print_usage(FILE *out)
{
        fputs("Usage: alder [--json] COMMAND [ARGS...]\n"
              "       alder COMMAND --help\n"
              "\n"
              "Alder's developer tool: works with Alder devices and their daemons.\n"
              "\n"
              "Commands:\n",
              out);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(commands); i++)
                fprintf(out, "  %-10s  %s\n", commands[i].name, commands[i].summary);
        fputs("  help        show this help, or a command's help (alder help COMMAND)\n"
              "\n"
              "Global options:\n"
              "  --json         machine-readable JSON on stdout (errors too: {\"error\":{...}})\n"
              "  -V, --version  print the version\n"
              "  -h, --help     show this help\n"
              "\n"
              "Exit status:\n"
              "  0  success\n"
              "  1  the operation failed (the message on stderr says what and why)\n"
              "  2  bad command line\n",
              out);
}

static const struct cli_command *find_command(const char *name)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static int run_help(int argc, char **argv)
{
        if (argc < 2) {
                print_usage(stdout);
                return CLI_EXIT_OK;
        }
        const struct cli_command *cmd = find_command(argv[1]);
        if (!cmd) {
                fprintf(stderr, "alder: unknown command '%s'\nTry 'alder --help'.\n", argv[1]);
                return CLI_EXIT_USAGE;
        }
        struct cli cli = {0};
        char *help_argv[] = {argv[1], (char *) "--help", NULL};
        return cmd->run(&cli, 2, help_argv);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {"json", no_argument, NULL, 'j'},
                {0},
        };
        struct cli cli = {0};
        int c;
        while ((c = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
                switch (c) {
                case 'h':
                        print_usage(stdout);
                        return CLI_EXIT_OK;
                case 'V':
                        printf("alder %s\n", ALDER_VERSION);
                        return CLI_EXIT_OK;
                case 'j':
                        cli.json = true;
                        break;
                default:
                        fputs("Try 'alder --help'.\n", stderr);
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                print_usage(stderr);
                return CLI_EXIT_USAGE;
        }

        const char *name = argv[optind];
        if (strcmp(name, "help") == 0)
                return run_help(argc - optind, argv + optind);
        const struct cli_command *cmd = find_command(name);
        if (!cmd) {
                fprintf(stderr, "alder: unknown command '%s'\nTry 'alder --help'.\n", name);
                return CLI_EXIT_USAGE;
        }
        return cmd->run(&cli, argc - optind, argv + optind);
}
