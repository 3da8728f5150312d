/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder update: root-filesystem update bundles (.alupd) on the host
 * (create, sign, verify, inspect) and the device's update agent
 * (install, status, commit, rollback through alder-updated's socket).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alder/alpkg.h"
#include "alder/alupd.h"
#include "alder/ipc.h"
#include "alder/json.h"
#include "cli.h"
#include "signer.h"

#define DEFAULT_SOCKET     "/run/alder/updated.sock"
#define DEFAULT_AGENT      "/usr/sbin/alder-updated"
#define QUICK_TIMEOUT_MS   (10 * 1000)
#define INSTALL_TIMEOUT_MS (60 * 60 * 1000) /* a large image on a slow SD card */

static const char update_usage[] =
        "Usage: alder update COMMAND [OPTIONS] ...\n"
        "\n"
        "Signed A/B root-filesystem updates (.alupd bundles, docs/formats/alupd.md).\n"
        "\n"
        "Commands:\n"
        "  create    make a signed bundle from a root-filesystem image (and app packages)\n"
        "  sign      re-sign a bundle with another key\n"
        "  verify    check a bundle's signature, identifiers and payloads like a device does\n"
        "  inspect   show what a bundle holds (without trusting it)\n"
        "\n"
        "On the device (through alder-updated, docs/api/updated.md):\n"
        "  install   write a bundle's image into the inactive slot and arm a try-boot\n"
        "  status    booted slot, U-Boot env and the agent's state\n"
        "  commit    after rebooting into the new slot: health checks, then keep it\n"
        "  rollback  boot the previous slot again\n"
        "  boot      at boot: commit the update this boot tries if it is healthy,\n"
        "            else roll back (the caller reboots)\n"
        "\n"
        "Run 'alder update COMMAND --help' for the options of a command.\n";

/* ---- output ------------------------------------------------------------------ */

static json_t *info_json(const char *path, const alder_alupd_info *i)
{
        char vendor[ALDER_UUID_STRING_LEN + 1], cls[ALDER_UUID_STRING_LEN + 1], d[ALDER_SHA256_HEX_LEN + 1];
        alder_uuid_format(i->vendor_id, vendor);
        alder_uuid_format(i->class_id, cls);
        json_t *payloads = json_array();
        for (size_t c = 0; payloads && c < i->n_components; c++) {
                alder_hex_encode(i->components[c].digest, ALDER_SHA256_LEN, d);
                json_array_append_new(payloads, json_pack("{s:s,s:s,s:I,s:s}", "component", i->components[c].id, "uri",
                                                          i->components[c].uri, "size",
                                                          (json_int_t) i->components[c].size, "sha256", d));
        }
        json_t *sig = i->verified ? json_pack("{s:b,s:s,s:s,s:i}", "verified", 1, "signer", i->signer.subject,
                                              "fingerprint", i->signer.fingerprint, "alg", i->signer.alg)
                                  : json_pack("{s:b}", "verified", 0);
        return json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:I,s:o,s:o}", "file", path, "product", i->product, "version",
                         i->version, "sequence", (json_int_t) i->sequence, "vendor_id", vendor, "class_id", cls,
                         "envelope_size", (json_int_t) i->envelope_size, "image_size", (json_int_t) i->image_size,
                         "payloads", payloads, "signature", sig);
}

static void print_info(const char *path, const alder_alupd_info *i)
{
        char vendor[ALDER_UUID_STRING_LEN + 1], cls[ALDER_UUID_STRING_LEN + 1], d[ALDER_SHA256_HEX_LEN + 1];
        alder_uuid_format(i->vendor_id, vendor);
        alder_uuid_format(i->class_id, cls);
        printf("%s\n", path);
        printf("  product      %s %s\n", i->product, i->version);
        if (i->verified)
                printf("  signature    verified: %s (key %s)\n", i->signer.subject, i->signer.fingerprint);
        else
                printf("  signature    NOT verified (check it with: alder update verify --trust DIR)\n");
        printf("  sequence     %" PRIu64 "\n", i->sequence);
        printf("  vendor id    %s\n  class id     %s\n", vendor, cls);
        if (i->image_size)
                printf("  image        %" PRIu64 " bytes uncompressed\n", i->image_size);
        for (size_t c = 0; c < i->n_components; c++) {
                alder_hex_encode(i->components[c].digest, ALDER_SHA256_LEN, d);
                printf("  %-12s %" PRIu64 " bytes, sha256 %s\n", i->components[c].uri, i->components[c].size, d);
        }
}

static int report(struct cli *cli, const char *path, const alder_alupd_info *i)
{
        if (cli->json) {
                _cleanup_json_ json_t *doc = info_json(path, i);
                if (!doc) {
                        fprintf(stderr, "alder: error: %s: out of memory\n", path);
                        return CLI_EXIT_FAILURE;
                }
                return cli_print_json(cli, doc);
        }
        print_info(path, i);
        return CLI_EXIT_OK;
}

/* ---- options ----------------------------------------------------------------- */

struct upd_args {
        const char *bundle;
        const char *output, *key, *cert, *chain, *trust, *vendor, *product, *version, *image, *payload, *boot, *socket;
        const char *apps[ALDER_ALUPD_MAX_APPS];
        size_t n_apps;
        uint64_t sequence;
        bool has_sequence, quiet;
        int level;
};

enum {
        OPT_KEY = 0x100,
        OPT_CERT,
        OPT_CHAIN,
        OPT_TRUST,
        OPT_VENDOR,
        OPT_PRODUCT,
        OPT_VERSION,
        OPT_IMAGE,
        OPT_PAYLOAD,
        OPT_BOOT,
        OPT_APP,
        OPT_SEQUENCE,
        OPT_LEVEL
};

static int parse_number(const char *cmd, const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || !*s || *end || s[0] == '-' || v > max)
                return cli_usage_error(cmd, "%s: '%s' is not a number up to %" PRIu64, opt, s, max);
        *ret = v;
        return -1;
}

static int set_option(const char *cmd, int c, struct upd_args *a)
{
        const char **dst[] = {[OPT_KEY - OPT_KEY] = &a->key,         [OPT_CERT - OPT_KEY] = &a->cert,
                              [OPT_CHAIN - OPT_KEY] = &a->chain,     [OPT_TRUST - OPT_KEY] = &a->trust,
                              [OPT_VENDOR - OPT_KEY] = &a->vendor,   [OPT_PRODUCT - OPT_KEY] = &a->product,
                              [OPT_VERSION - OPT_KEY] = &a->version, [OPT_IMAGE - OPT_KEY] = &a->image,
                              [OPT_PAYLOAD - OPT_KEY] = &a->payload, [OPT_BOOT - OPT_KEY] = &a->boot};
        uint64_t v;
        int r;
        switch (c) {
        case 'o':
                a->output = optarg;
                return -1;
        case 's':
                a->socket = optarg;
                return -1;
        case 'q':
                a->quiet = true;
                return -1;
        case OPT_APP:
                if (a->n_apps >= ALDER_ALUPD_MAX_APPS)
                        return cli_usage_error(cmd, "at most %d --app", ALDER_ALUPD_MAX_APPS);
                a->apps[a->n_apps++] = optarg;
                return -1;
        case OPT_SEQUENCE:
                r = parse_number(cmd, "--sequence", optarg, UINT64_MAX, &a->sequence);
                a->has_sequence = true;
                return r;
        case OPT_LEVEL:
                r = parse_number(cmd, "--level", optarg, 19, &v);
                a->level = (int) v;
                return r;
        default:
                if (c >= OPT_KEY && c <= OPT_BOOT) {
                        *dst[c - OPT_KEY] = optarg;
                        return -1;
                }
                return -2;
        }
}

static int parse_args(struct cli *cli, const char *cmd, const char *usage, const char *shortopts,
                      const struct option *longopts, bool takes_bundle, int argc, char **argv, struct upd_args *a)
{
        const char *env = getenv("ALDER_UPDATED_SOCKET");
        a->socket = env && *env ? env : DEFAULT_SOCKET;
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
                int r = set_option(cmd, c, a);
                if (r == -2)
                        r = cli_common_option(cli, cmd, usage, c, argv);
                if (r >= 0)
                        return r;
        }
        if (takes_bundle && optind >= argc)
                return cli_usage_error(cmd, "BUNDLE is required");
        if (takes_bundle)
                a->bundle = argv[optind++];
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
}

#define OPTS_COMMON                                                         \
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, \
        {                                                                   \
                0                                                           \
        }
#define OPTS_SIGNER                                                                             \
        {"key", required_argument, NULL, OPT_KEY}, {"cert", required_argument, NULL, OPT_CERT}, \
                {"chain", required_argument, NULL, OPT_CHAIN},                                  \
        {                                                                                       \
                "output", required_argument, NULL, 'o'                                          \
        }

/* ---- create ------------------------------------------------------------------ */

static const char create_usage[] = "Usage: alder update create --product NAME --version VERSION --image FILE\n"
                                   "                           --key KEY --cert CERT [OPTIONS] -o BUNDLE\n"
                                   "\n"
                                   "Make a signed update bundle (NAME_VERSION.alupd) from a root-filesystem image:\n"
                                   "the image is compressed with zstd (one frame that states the image size, so\n"
                                   "a device refuses an image too large for its slot before writing), and its\n"
                                   "digest and size go into a SUIT manifest with the product's vendor and class\n"
                                   "ids and the sequence number, signed like app packages.\n"
                                   "\n"
                                   "Options:\n"
                                   "  --product NAME    product the bundle is for ([a-z0-9-]; the device's config\n"
                                   "                    names its own: a bundle for another product is refused)\n"
                                   "  --version V       version shown to people (not compared)\n"
                                   "  --image FILE      raw root-filesystem image (e.g. rootfs.erofs)\n"
                                   "  --payload FILE    instead of --image: an image already compressed by zstd\n"
                                   "  --boot FIT        the signed FIT that boots this image (kernel, initramfs\n"
                                   "                    with its dm-verity root hash, DTB): the device writes it\n"
                                   "                    beside the slot's image (compressed here)\n"
                                   "  --app PKG.alpkg   an app package to carry along (repeatable, at most 7;\n"
                                   "                    6 with --boot)\n"
                                   "  --sequence N      anti-rollback number (default: now, seconds since the epoch)\n"
                                   "  --vendor DOMAIN   vendor domain (default " ALDER_ALPKG_DEFAULT_VENDOR ")\n"
                                   "  --level N         zstd level 1..19 (default 3)\n"
                                   "  --key KEY         signing key; --cert CERT its certificate; --chain CHAIN\n"
                                   "                    intermediates to carry\n"
                                   "  -o, --output F    the bundle to write (default PRODUCT_VERSION.alupd)\n"
                                   "  -q, --quiet       no progress on stderr\n"
                                   "  --json            print the bundle description as JSON\n"
                                   "  -h, --help        show this help\n"
                                   "\n"
                                   "Exit status: 0 written, 1 failed (nothing is left at the output), 2 usage.\n";

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
        static unsigned last = 101;
        unsigned pct = total ? (unsigned) (done * 100 / total) : 100;
        if (pct != last)
                fprintf(stderr, "\ralder: compressing: %3u%%%s", pct, done == total ? "\n" : "");
        last = pct;
}

static int cmd_update_create(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                {"product", required_argument, NULL, OPT_PRODUCT},
                {"version", required_argument, NULL, OPT_VERSION},
                {"image", required_argument, NULL, OPT_IMAGE},
                {"payload", required_argument, NULL, OPT_PAYLOAD},
                {"boot", required_argument, NULL, OPT_BOOT},
                {"app", required_argument, NULL, OPT_APP},
                {"sequence", required_argument, NULL, OPT_SEQUENCE},
                {"vendor", required_argument, NULL, OPT_VENDOR},
                {"level", required_argument, NULL, OPT_LEVEL},
                {"quiet", no_argument, NULL, 'q'},
                OPTS_SIGNER,
                OPTS_COMMON,
        };
        struct upd_args a = {0};
        int r = parse_args(cli, "update create", create_usage, "+:ho:q", opts, false, argc, argv, &a);
        if (r >= 0)
                return r;
        if (!a.product || !a.version || !a.key || !a.cert || !a.image == !a.payload)
                return cli_usage_error("update create",
                                       "--product, --version, --key, --cert and one of --image/--payload are required");
        _cleanup_free_ char *out = NULL;
        if (a.output ? !(out = strdup(a.output)) : asprintf(&out, "%s_%s.alupd", a.product, a.version) < 0)
                return cli_usage_error("update create", "out of memory");
        _cleanup_error_ alder_error *err = NULL;
        struct cli_signer signer;
        if (cli_signer_load(&signer, a.key, a.cert, a.chain, &err) < 0)
                return cli_fail(cli, err);
        alder_alupd_create_opts o = {
                .product = a.product,
                .version = a.version,
                .image = a.image,
                .image_payload = a.payload,
                .boot = a.boot,
                .apps = a.apps,
                .n_apps = a.n_apps,
                .sequence = a.has_sequence ? a.sequence : (uint64_t) time(NULL),
                .vendor_domain = a.vendor,
                .signer = &signer.cose,
                .zstd_level = a.level,
                .progress = a.quiet || cli->json || !isatty(STDERR_FILENO) ? NULL : show_progress,
        };
        alder_alupd_info info;
        r = alder_alupd_create(&o, out, &info, &err);
        cli_signer_done(&signer);
        if (r < 0)
                return cli_fail(cli, err);
        if (cli->json)
                return report(cli, out, &info);
        printf("created %s: %s %s, sequence %" PRIu64 ", image %" PRIu64 " bytes (%" PRIu64 " compressed)", out,
               info.product, info.version, info.sequence, info.image_size, info.components[0].size);
        if (info.has_boot)
                printf(", boot files %" PRIu64 " bytes (%" PRIu64 " compressed)", info.boot_size,
                       info.components[1].size);
        printf("\n");
        return CLI_EXIT_OK;
}

/* ---- inspect / verify ---------------------------------------------------------- */

static const char inspect_usage[] = "Usage: alder update inspect [--json] BUNDLE\n"
                                    "\n"
                                    "Show what an update bundle holds: product, version, sequence number,\n"
                                    "vendor and class ids, and each payload's size and digest. The signature is\n"
                                    "NOT checked and the payloads are not read (use 'alder update verify').\n"
                                    "\n"
                                    "Options:\n"
                                    "  --json      print a JSON object instead\n"
                                    "  -h, --help  show this help\n";

static int cmd_update_inspect(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {OPTS_COMMON};
        struct upd_args a = {0};
        int r = parse_args(cli, "update inspect", inspect_usage, "+:h", opts, true, argc, argv, &a);
        if (r >= 0)
                return r;
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_alupd_ alder_alupd *b = NULL;
        if (alder_alupd_open(a.bundle, NULL, NULL, &b, &err) < 0)
                return cli_fail(cli, err);
        return report(cli, a.bundle, alder_alupd_get_info(b));
}

static const char verify_usage[] =
        "Usage: alder update verify --trust DIR --product NAME [--vendor DOMAIN] [--json] BUNDLE\n"
        "\n"
        "Check a bundle the way alder-updated does before it writes a byte: the SUIT\n"
        "envelope's signature against the trust anchors (a folder of PEM\n"
        "certificates), the vendor and class ids (the class id is bound to the\n"
        "product), then every payload's size and digest, the image's zstd frame\n"
        "(decompressed and discarded) and the end of the file.\n"
        "\n"
        "Options:\n"
        "  --trust DIR      folder of trusted certificates (*.pem, *.crt)\n"
        "  --product NAME   product the bundle must be for\n"
        "  --vendor DOMAIN  vendor it must be for (default " ALDER_ALPKG_DEFAULT_VENDOR ")\n"
        "  --json           print the bundle description as JSON on success\n"
        "  -h, --help       show this help\n"
        "\n"
        "Exit status: 0 the bundle is good, 1 it is not (the reason is printed), 2 usage.\n";

static int cmd_update_verify(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                {"trust", required_argument, NULL, OPT_TRUST},
                {"product", required_argument, NULL, OPT_PRODUCT},
                {"vendor", required_argument, NULL, OPT_VENDOR},
                OPTS_COMMON,
        };
        struct upd_args a = {0};
        int r = parse_args(cli, "update verify", verify_usage, "+:h", opts, true, argc, argv, &a);
        if (r >= 0)
                return r;
        if (!a.trust || !a.product)
                return cli_usage_error("update verify", "--trust DIR and --product NAME are required");
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_trust_store_ alder_trust_store *trust = NULL;
        _cleanup_alupd_ alder_alupd *b = NULL;
        alder_alupd_expect expect = {.vendor_domain = a.vendor, .product = a.product};
        if (alder_trust_store_load_dir(a.trust, &trust, &err) < 0 ||
            alder_alupd_open(a.bundle, trust, &expect, &b, &err) < 0 || alder_alupd_stream_image(b, NULL, &err) < 0 ||
            alder_alupd_check_rest(b, &err) < 0)
                return cli_fail(cli, err);
        const alder_alupd_info *i = alder_alupd_get_info(b);
        if (cli->json)
                return report(cli, a.bundle, i);
        printf("%s: OK: %s %s, sequence %" PRIu64 ", image %" PRIu64 " bytes, signed by %s\n", a.bundle, i->product,
               i->version, i->sequence, i->image_size, i->signer.subject);
        return CLI_EXIT_OK;
}

/* ---- sign -------------------------------------------------------------------- */

static const char sign_usage[] = "Usage: alder update sign --key KEY --cert CERT [--chain CHAIN] [-o OUTPUT] BUNDLE\n"
                                 "\n"
                                 "Replace a bundle's signature with one made by KEY (ECDSA P-256, PEM) whose\n"
                                 "certificate is CERT. The manifest and payloads stay byte-identical.\n"
                                 "\n"
                                 "Options:\n"
                                 "  --key KEY       private key (alder keys generate)\n"
                                 "  --cert CERT     its certificate\n"
                                 "  --chain CHAIN   intermediate CA certificates to carry too (PEM)\n"
                                 "  -o, --output F  write the signed bundle to F (default: replace BUNDLE)\n"
                                 "  --json          print {\"file\": ...}\n"
                                 "  -h, --help      show this help\n";

static int cmd_update_sign(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {OPTS_SIGNER, OPTS_COMMON};
        struct upd_args a = {0};
        int r = parse_args(cli, "update sign", sign_usage, "+:ho:", opts, true, argc, argv, &a);
        if (r >= 0)
                return r;
        if (!a.key || !a.cert)
                return cli_usage_error("update sign", "--key and --cert are required");
        return cli_resign(cli, alder_alupd_resign, a.bundle, a.output ? a.output : a.bundle, a.key, a.cert, a.chain);
}

/* ---- on the device -------------------------------------------------------------- */

static const char local_usage[] =
        "Usage: alder update install [OPTIONS] BUNDLE|-\n"
        "       alder update status|commit|rollback|boot [OPTIONS]\n"
        "\n"
        "Talk to the update agent alder-updated on this device.\n"
        "  install   verify BUNDLE (signature first), stream its image into the inactive\n"
        "            slot, read it back and arm a try-boot; then reboot. '-' streams the\n"
        "            bundle from stdin: this runs the agent's own 'install -' (the\n"
        "            program in $ALDER_UPDATED, default " DEFAULT_AGENT ").\n"
        "  status    booted slot, U-Boot env (boot_slot, upgrade_available, bootcount)\n"
        "            and the agent's state (what the last operation did, or that a\n"
        "            power cut interrupted it)\n"
        "  commit    in the new slot: health checks (alder-appd answers, the hooks in\n"
        "            the hooks folder exit 0), then upgrade_available=0; a failed check\n"
        "            makes the old slot the boot target again and is reported\n"
        "  rollback  make the previous slot the boot target again\n"
        "  boot      once per boot, when the platform is up (the image's readiness\n"
        "            script runs it): if this boot tries an update, health checks,\n"
        "            then commit, or roll back and answer \"reboot_required\"; also\n"
        "            records a slot the bootloader could not boot\n"
        "\n"
        "Options:\n"
        "  -s, --socket PATH  alder-updated's socket (default $ALDER_UPDATED_SOCKET or " DEFAULT_SOCKET ")\n"
        "  --json             print the agent's answer as JSON\n"
        "  -h, --help         show this help\n"
        "\n"
        "Exit status: 0 done, 1 refused or failed (the reason is printed), 2 usage.\n";

static int install_stdin(void)
{
        const char *agent = getenv("ALDER_UPDATED");
        if (!agent || !*agent)
                agent = DEFAULT_AGENT;
        execl(agent, agent, "install", "-", (char *) NULL);
        fprintf(stderr, "alder: error: run %s: %s\n", agent, strerror(errno));
        return CLI_EXIT_FAILURE;
}

static int cmd_update_local(struct cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {{"socket", required_argument, NULL, 's'}, OPTS_COMMON};
        const char *cmd = argv[0];
        bool install = strcmp(cmd, "install") == 0;
        char name[32];
        snprintf(name, sizeof(name), "update %s", cmd);
        struct upd_args a = {0};
        int r = parse_args(cli, name, local_usage, "+:hs:", opts, install, argc, argv, &a);
        if (r >= 0)
                return r;
        if (install && strcmp(a.bundle, "-") == 0)
                return install_stdin();
        _cleanup_json_ json_t *params = NULL, *res = NULL;
        char abs[PATH_MAX];
        if (install) {
                if (!realpath(a.bundle, abs)) {
                        fprintf(stderr, "alder: error: '%s': %s\n", a.bundle, strerror(errno));
                        return CLI_EXIT_FAILURE;
                }
                params = json_pack("{s:s}", "path", abs);
        }
        char method[32];
        snprintf(method, sizeof(method), "update.%s", cmd);
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ipc_client_ alder_ipc_client *client = NULL;
        if (alder_ipc_client_connect(a.socket, QUICK_TIMEOUT_MS, &client, &err) < 0) {
                alder_error_wrap(&err, "alder-updated is not reachable (is it running?)");
                return cli_fail(cli, err);
        }
        /* An install streams a whole image; commit and boot wait for the platform and run the health hooks. */
        bool quick = strcmp(cmd, "status") == 0 || strcmp(cmd, "rollback") == 0;
        if (alder_ipc_client_call(client, method, params, quick ? QUICK_TIMEOUT_MS : INSTALL_TIMEOUT_MS, &res, &err) <
            0)
                return cli_fail(cli, err);
        cli->json = true; /* the agent's answer is structured: print it as it is */
        return cli_print_json(cli, res);
}

/* ---- dispatch ---------------------------------------------------------------- */

int cmd_update(struct cli *cli, int argc, char **argv)
{
        static const struct cli_command subcommands[] = {
                {"create", "", cmd_update_create}, {"sign", "", cmd_update_sign},
                {"verify", "", cmd_update_verify}, {"inspect", "", cmd_update_inspect},
                {"install", "", cmd_update_local}, {"status", "", cmd_update_local},
                {"commit", "", cmd_update_local},  {"rollback", "", cmd_update_local},
                {"boot", "", cmd_update_local},
        };
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(update_usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(subcommands); i++)
                if (strcmp(argv[1], subcommands[i].name) == 0)
                        return subcommands[i].run(cli, argc - 1, argv + 1);
        return cli_usage_error("update", "unknown command '%s'", argv[1]);
}
