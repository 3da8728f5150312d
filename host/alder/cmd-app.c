/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder app: app packages on the host: pack, sign, verify, inspect.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alder/alpkg.h"
#include "alder/json.h"
#include "cli.h"
#include "signer.h"

static const char app_usage[] = "Usage: alder app COMMAND [OPTIONS] ...\n"
                                "\n"
                                "Build and check signed app packages (.alpkg, docs/formats/alpkg.md).\n"
                                "\n"
                                "Commands:\n"
                                "  pack      turn an OCI image or a root filesystem folder into a signed package\n"
                                "  sign      re-sign a package with another key\n"
                                "  verify    check a package's signature, manifest and payloads against trust anchors\n"
                                "  inspect   show what a package holds (without trusting it)\n"
                                "\n"
                                "On the device (through alder-appd's socket):\n"
                                "  install   install an app, or update it, from a package\n"
                                "  update    update an installed app (health-checked while it runs)\n"
                                "  list      list installed apps\n"
                                "  status    show one installed app\n"
                                "  remove    remove an app (stopping it first)\n"
                                "  start     start an app in its container\n"
                                "  stop      stop a running app\n"
                                "  restart   stop and start an app again\n"
                                "  wait      wait until a running app exits\n"
                                "  logs      print (and follow) an app's output\n"
                                "\n"
                                "Run 'alder app COMMAND --help' for the options of a command.\n";

/* ---- output ------------------------------------------------------------------ */

static json_t *info_json(const char *path, const alder_app_meta *meta, const alder_alpkg_info *i)
{
        char vendor[ALDER_UUID_STRING_LEN + 1], cls[ALDER_UUID_STRING_LEN + 1];
        char md[ALDER_SHA256_HEX_LEN + 1], rd[ALDER_SHA256_HEX_LEN + 1];
        alder_uuid_format(i->vendor_id, vendor);
        alder_uuid_format(i->class_id, cls);
        alder_hex_encode(i->meta_digest, ALDER_SHA256_LEN, md);
        alder_hex_encode(i->rootfs_digest, ALDER_SHA256_LEN, rd);
        json_t *app = NULL;
        if (alder_app_meta_to_json(meta, &app, NULL) < 0)
                return NULL;
        json_t *sig = i->verified ? json_pack("{s:b,s:s,s:s,s:i}", "verified", 1, "signer", i->signer.subject,
                                              "fingerprint", i->signer.fingerprint, "alg", i->signer.alg)
                                  : json_pack("{s:b}", "verified", 0);
        return json_pack("{s:s,s:o,s:I,s:s,s:s,s:I,s:{s:{s:s,s:I,s:s},s:{s:s,s:I,s:s}},s:o}", "file", path, "app", app,
                         "sequence", (json_int_t) i->sequence, "vendor_id", vendor, "class_id", cls, "envelope_size",
                         (json_int_t) i->envelope_size, "payloads", "meta", "uri", ALDER_ALPKG_META_URI, "size",
                         (json_int_t) i->meta_size, "sha256", md, "rootfs", "uri", ALDER_ALPKG_ROOTFS_URI, "size",
                         (json_int_t) i->rootfs_size, "sha256", rd, "signature", sig);
}

static void print_list(const char *label, char **v)
{
        printf("  %-13s", label);
        if (!v || !v[0])
                fputs("(none)", stdout);
        for (char **s = v; s && *s; s++)
                printf("%s%s", s == v ? "" : " ", *s);
        putchar('\n');
}

static void print_limit(const char *name, int64_t v, const char *unit)
{
        if (v > 0)
                printf(" %s=%" PRId64 "%s", name, v, unit);
        else
                printf(" %s=default", name);
}

static void print_info(const char *path, const alder_app_meta *m, const alder_alpkg_info *i)
{
        char vendor[ALDER_UUID_STRING_LEN + 1], cls[ALDER_UUID_STRING_LEN + 1], d[ALDER_SHA256_HEX_LEN + 1];
        alder_uuid_format(i->vendor_id, vendor);
        alder_uuid_format(i->class_id, cls);
        printf("%s\n", path);
        printf("  app          %s %s (%s)\n", m->name, m->version, m->arch);
        if (i->verified)
                printf("  signature    verified: %s (key %s)\n", i->signer.subject, i->signer.fingerprint);
        else
                printf("  signature    NOT verified (check it with: alder app verify --trust DIR)\n");
        printf("  sequence     %" PRIu64 "\n", i->sequence);
        printf("  vendor id    %s\n  class id     %s\n", vendor, cls);
        alder_hex_encode(i->meta_digest, ALDER_SHA256_LEN, d);
        printf("  app.json     %" PRIu64 " bytes, sha256 %s\n", i->meta_size, d);
        alder_hex_encode(i->rootfs_digest, ALDER_SHA256_LEN, d);
        printf("  rootfs       %" PRIu64 " bytes (zstd tar), sha256 %s\n", i->rootfs_size, d);
        print_list("entrypoint", m->entrypoint);
        print_list("cmd", m->cmd);
        print_list("env", m->env);
        printf("  workdir      %s\n  user         %s\n", m->workdir, m->user ? m->user : "(image default: root)");
        printf("  network      %s\n", m->host_network ? "host" : "private");
        print_list("devices", m->devices);
        print_list("capabilities", m->capabilities);
        printf("  limits      ");
        print_limit("memory", m->memory_bytes, "B");
        print_limit("cpu", m->cpu_millis, "m");
        print_limit("pids", m->pids, "");
        printf("\n  volumes     ");
        for (size_t v = 0; v < m->n_volumes; v++)
                printf(" %s:%s", m->volumes[v].name, m->volumes[v].path);
        printf("%s\n  setuid files %s\n", m->n_volumes ? "" : " (none)", m->setuid_files ? "allowed" : "no");
        printf("  secure services %s\n", alder_app_secure_services_name(m->secure_services));
}

static int report(struct cli *cli, alder_alpkg *pkg, const char *path)
{
        if (cli->json) {
                _cleanup_json_ json_t *doc = info_json(path, alder_alpkg_meta(pkg), alder_alpkg_get_info(pkg));
                if (!doc) {
                        fprintf(stderr, "alder: error: %s: out of memory\n", path);
                        return CLI_EXIT_FAILURE;
                }
                return cli_print_json(cli, doc);
        }
        print_info(path, alder_alpkg_meta(pkg), alder_alpkg_get_info(pkg));
        return CLI_EXIT_OK;
}

/* ---- option parsing shared by sign / verify / inspect ------------------------ */

struct app_args {
        const char *package;
        const char *output;
        const char *key, *cert, *chain;
        const char *trust, *vendor, *arch;
};

enum { OPT_KEY = 0x100, OPT_CERT, OPT_CHAIN, OPT_TRUST, OPT_VENDOR, OPT_ARCH };

static int parse_app_args(struct cli *cli, const char *cmd, const char *usage, const char *shortopts,
                          const struct option *longopts, int argc, char **argv, struct app_args *a)
{
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        a->output = optarg;
                        break;
                case OPT_KEY:
                        a->key = optarg;
                        break;
                case OPT_CERT:
                        a->cert = optarg;
                        break;
                case OPT_CHAIN:
                        a->chain = optarg;
                        break;
                case OPT_TRUST:
                        a->trust = optarg;
                        break;
                case OPT_VENDOR:
                        a->vendor = optarg;
                        break;
                case OPT_ARCH:
                        a->arch = optarg;
                        break;
                default: {
                        int r = cli_common_option(cli, cmd, usage, c, argv);
                        if (r >= 0)
                                return r;
                        break;
                }
                }
        }
        if (optind >= argc)
                return cli_usage_error(cmd, "PACKAGE is required");
        a->package = argv[optind++];
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
}

/* ---- inspect ----------------------------------------------------------------- */

static const char inspect_usage[] = "Usage: alder app inspect [--json] PACKAGE\n"
                                    "\n"
                                    "Show what an app package holds: app name, version and architecture, the\n"
                                    "runtime settings and permissions it asks for, the manifest's sequence\n"
                                    "number and identifiers, and the payload digests. The signature is NOT\n"
                                    "checked (use 'alder app verify'); the app metadata is checked against the\n"
                                    "manifest's digest.\n"
                                    "\n"
                                    "Options:\n"
                                    "  --json      print a JSON object instead\n"
                                    "  -h, --help  show this help\n";

static int cmd_app_inspect(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
        struct app_args a = {0};
        int r = parse_app_args(cli, "app inspect", inspect_usage, "+:h", opts, argc, argv, &a);
        if (r >= 0)
                return r;
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        if (alder_alpkg_open(a.package, NULL, NULL, &pkg, &err) < 0)
                return cli_fail(cli, err);
        return report(cli, pkg, a.package);
}

/* ---- verify ------------------------------------------------------------------ */

static const char verify_usage[] =
        "Usage: alder app verify --trust DIR [--vendor DOMAIN] [--arch ARCH] [--json] PACKAGE\n"
        "\n"
        "Check a package the way a device does before installing it: the SUIT\n"
        "envelope's signature against the trust anchors (a folder of PEM\n"
        "certificates), the manifest (vendor id, class id bound to the app's name\n"
        "and architecture), the app metadata's digest, and the root filesystem's\n"
        "size and digest. Nothing is unpacked.\n"
        "\n"
        "Options:\n"
        "  --trust DIR      folder of trusted certificates (*.pem, *.crt)\n"
        "  --vendor DOMAIN  vendor the package must be for (default " ALDER_ALPKG_DEFAULT_VENDOR ")\n"
        "  --arch ARCH      architecture the package must be for (arm64, arm, amd64)\n"
        "  --json           print the package description as JSON on success\n"
        "  -h, --help       show this help\n"
        "\n"
        "Exit status: 0 the package is good, 1 it is not (the reason is printed), 2 usage.\n";

static int cmd_app_verify(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                {"trust", required_argument, NULL, OPT_TRUST},
                {"vendor", required_argument, NULL, OPT_VENDOR},
                {"arch", required_argument, NULL, OPT_ARCH},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        struct app_args a = {0};
        int r = parse_app_args(cli, "app verify", verify_usage, "+:h", opts, argc, argv, &a);
        if (r >= 0)
                return r;
        if (!a.trust)
                return cli_usage_error("app verify", "--trust DIR is required");
        if (a.arch && !alder_arch_normalize(a.arch, NULL))
                return cli_usage_error("app verify", "--arch: '%s' is not one of arm64, arm, amd64", a.arch);

        _cleanup_error_ alder_error *err = NULL;
        _cleanup_trust_store_ alder_trust_store *trust = NULL;
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        alder_alpkg_expect expect = {.vendor_domain = a.vendor,
                                     .arch = a.arch ? alder_arch_normalize(a.arch, NULL) : NULL};
        if (alder_trust_store_load_dir(a.trust, &trust, &err) < 0 ||
            alder_alpkg_open(a.package, trust, &expect, &pkg, &err) < 0 || alder_alpkg_check_rootfs(pkg, &err) < 0)
                return cli_fail(cli, err);
        if (cli->json)
                return report(cli, pkg, a.package);
        const alder_alpkg_info *i = alder_alpkg_get_info(pkg);
        const alder_app_meta *m = alder_alpkg_meta(pkg);
        printf("%s: OK: %s %s (%s), sequence %" PRIu64 ", signed by %s\n", a.package, m->name, m->version, m->arch,
               i->sequence, i->signer.subject);
        return CLI_EXIT_OK;
}

/* ---- sign -------------------------------------------------------------------- */

static const char sign_usage[] = "Usage: alder app sign --key KEY --cert CERT [--chain CHAIN] [-o OUTPUT] PACKAGE\n"
                                 "\n"
                                 "Replace a package's signature with one made by KEY (ECDSA P-256, PEM) whose\n"
                                 "certificate is CERT. The manifest and payloads stay byte-identical, so the\n"
                                 "package keeps its sequence number and digests. A certificate issued by a CA\n"
                                 "is carried in the signature so that devices trusting the CA accept it.\n"
                                 "\n"
                                 "Options:\n"
                                 "  --key KEY       private key (alder keys generate)\n"
                                 "  --cert CERT     its certificate\n"
                                 "  --chain CHAIN   intermediate CA certificates to carry too (PEM)\n"
                                 "  -o, --output F  write the signed package to F (default: replace PACKAGE)\n"
                                 "  -h, --help      show this help\n";

static int cmd_app_sign(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                {"key", required_argument, NULL, OPT_KEY},
                {"cert", required_argument, NULL, OPT_CERT},
                {"chain", required_argument, NULL, OPT_CHAIN},
                {"output", required_argument, NULL, 'o'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        struct app_args a = {0};
        int r = parse_app_args(cli, "app sign", sign_usage, "+:ho:", opts, argc, argv, &a);
        if (r >= 0)
                return r;
        if (!a.key || !a.cert)
                return cli_usage_error("app sign", "--key and --cert are required");
        return cli_resign(cli, alder_alpkg_resign, a.package, a.output ? a.output : a.package, a.key, a.cert, a.chain);
}

/* ---- dispatch ---------------------------------------------------------------- */

int cmd_app(struct cli *cli, int argc, char **argv)
{
        static const struct cli_command subcommands[] = {
                {"pack", "", cmd_app_pack},       {"sign", "", cmd_app_sign},     {"verify", "", cmd_app_verify},
                {"inspect", "", cmd_app_inspect}, {"install", "", cmd_app_local}, {"update", "", cmd_app_local},
                {"list", "", cmd_app_local},      {"status", "", cmd_app_local},  {"remove", "", cmd_app_local},
                {"start", "", cmd_app_local},     {"stop", "", cmd_app_local},    {"restart", "", cmd_app_local},
                {"wait", "", cmd_app_local},      {"logs", "", cmd_app_logs},
        };
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(app_usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(subcommands); i++)
                if (strcmp(argv[1], subcommands[i].name) == 0)
                        return subcommands[i].run(cli, argc - 1, argv + 1);
        return cli_usage_error("app", "unknown command '%s'", argv[1]);
}
