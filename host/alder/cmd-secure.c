/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder secure: provisioning and inspection of apps' keys and secrets through
 * alder-secd's admin socket (root only). The same frames as apps use
 * (docs/api/secd.md), each naming the app explicitly.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "cli.h"
#include "psa-client.h"
#include "psa/protected_storage.h"

#define DEFAULT_ADMIN_SOCKET "/run/alder/secd/admin.sock"

static const char usage[] =
        "Usage: alder secure keys list --app APP [--socket PATH] [--json]\n"
        "       alder secure keys generate --app APP --id ID --type TYPE [--usage LIST] [--socket PATH]\n"
        "       alder secure keys delete --app APP --id ID [--socket PATH]\n"
        "       alder secure secrets list --app APP [--socket PATH] [--json]\n"
        "       alder secure secrets set --app APP --uid UID [--write-once] [--socket PATH] < VALUE\n"
        "       alder secure secrets get --app APP --uid UID [--socket PATH] [--json] > VALUE\n"
        "       alder secure secrets rm --app APP --uid UID [--socket PATH]\n"
        "\n"
        "Provision and inspect the keys and secrets alder-secd keeps for an app, through\n"
        "its admin socket (root only). Apps themselves use the PSA Crypto and Protected\n"
        "Storage API of libalder-psa on their own socket; keys and secrets made here are\n"
        "the ones the app sees under the same key id or uid. Key material never leaves\n"
        "secd here; a secret's value is read from standard input and written to standard\n"
        "output as raw bytes (hex in --json). Protocol: docs/api/secd.md.\n"
        "\n"
        "Options:\n"
        "  -a, --app APP       the app whose keys or secrets to act on (required)\n"
        "  -i, --id ID         persistent key id, 1..0x3fffffff\n"
        "  -t, --type TYPE     key type: ecc-p256, ecc-p384 (ECDSA), ed25519 (EdDSA),\n"
        "                      rsa-2048, rsa-3072 (RSA-PSS SHA-256) signing keys;\n"
        "                      ecdh-p256, x25519 (key agreement); aes-128, aes-256\n"
        "                      (AES-GCM), chacha20 (ChaCha20-Poly1305), hmac-sha256\n"
        "  -u, --usage LIST    comma-separated usage: sign, verify, encrypt, decrypt,\n"
        "                      derive, export (default: what the type is for)\n"
        "  -U, --uid UID       secret's uid (non-zero, up to 64 bits)\n"
        "  -w, --write-once    the secret can never be changed or removed again\n"
        "  -s, --socket PATH   admin socket (default " DEFAULT_ADMIN_SOCKET ")\n"
        "      --json          machine-readable output\n"
        "  -h, --help          show this help\n"
        "\n"
        "Examples:\n"
        "  alder secure keys generate --app hello --id 1 --type ecc-p256\n"
        "  printf 'hunter2' | alder secure secrets set --app hello --uid 7 --write-once\n"
        "  alder --json secure keys list --app hello\n"
        "\n"
        "Exit status: 0 done, 1 the operation failed (secd's PSA status is printed:\n"
        "PSA_ERROR_NOT_PERMITTED for a write-once secret, PSA_ERROR_INVALID_HANDLE for\n"
        "a key the app does not have, ...), 2 bad command line.\n";

struct secure_args {
        const char *what, *verb; /* "keys" / "secrets", "list" ... */
        const char *socket, *app, *type, *usage;
        uint64_t id, uid;
        bool write_once;
};

/* An admin request being built and its reply. */
struct admin_call {
        uint8_t req[SECD_WIRE_MAX_FRAME], reply[SECD_WIRE_MAX_FRAME];
        struct secd_writer w;
        struct secd_msg m;
};

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || *end || end == s || *s == '-' || v == 0 || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_args(struct cli *cli, int argc, char **argv, struct secure_args *a)
{
        static const struct option options[] = {
                {"app", required_argument, NULL, 'a'},    {"id", required_argument, NULL, 'i'},
                {"type", required_argument, NULL, 't'},   {"usage", required_argument, NULL, 'u'},
                {"uid", required_argument, NULL, 'U'},    {"write-once", no_argument, NULL, 'w'},
                {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},         {0},
        };
        a->socket = DEFAULT_ADMIN_SOCKET;
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, "+:a:i:t:u:U:ws:h", options, NULL)) != -1) {
                if (c == 'a' || c == 't' || c == 'u' || c == 's') {
                        *(c == 'a' ? &a->app : c == 't' ? &a->type : c == 'u' ? &a->usage : &a->socket) = optarg;
                } else if (c == 'i' || c == 'U') {
                        if (parse_u64(optarg, c == 'i' ? PSA_KEY_ID_USER_MAX : UINT64_MAX,
                                      c == 'i' ? &a->id : &a->uid) < 0)
                                return cli_usage_error("secure", "--%s: '%s' is not a valid %s",
                                                       c == 'i' ? "id" : "uid", optarg,
                                                       c == 'i' ? "key id (1..0x3fffffff)" : "non-zero uid");
                } else if (c == 'w') {
                        a->write_once = true;
                } else {
                        int r = cli_common_option(cli, "secure", usage, c, argv);
                        if (r >= 0)
                                return r;
                }
        }
        if (!a->app)
                return cli_usage_error("secure", "--app APP is required");
        if (optind < argc)
                return cli_usage_error("secure", "unexpected argument '%s'", argv[optind]);
        return -1;
}

/* Sends the call to the admin socket; a PSA error becomes an alder_error naming the app. */
static int admin_run(const struct secure_args *a, struct admin_call *call, alder_error **err)
{
        _cleanup_close_ int fd = secd_connect(a->socket, 30);
        if (fd < 0)
                return alder_error_sys(err, -fd, "connect to alder-secd at '%s'", a->socket);
        psa_status_t s = secd_transact(fd, call->req, secd_writer_finish(&call->w), call->reply, &call->m);
        if (s != PSA_SUCCESS)
                return alder_error_set(err, s == PSA_ERROR_NOT_PERMITTED ? EPERM : EIO, "app %s: %s: %s (%d)", a->app,
                                       secd_op_name(call->req[6]), secd_status_name(s), (int) s);
        return 0;
}

static void admin_start(struct admin_call *call, const struct secure_args *a, uint16_t op)
{
        secd_writer_start(&call->w, call->req, sizeof(call->req), op, 0);
        secd_put_bytes(&call->w, SECD_TAG_APP, a->app, strlen(a->app));
}

static const char *type_name(psa_key_type_t t)
{
        static const struct {
                psa_key_type_t type;
                const char *name;
        } names[] = {
                {PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), "ecc-key-pair-secp-r1"},
                {PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1), "ecc-public-key-secp-r1"},
                {PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_TWISTED_EDWARDS), "ecc-key-pair-twisted-edwards"},
                {PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_TWISTED_EDWARDS), "ecc-public-key-twisted-edwards"},
                {PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY), "ecc-key-pair-montgomery"},
                {PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_MONTGOMERY), "ecc-public-key-montgomery"},
                {PSA_KEY_TYPE_RSA_KEY_PAIR, "rsa-key-pair"},
                {PSA_KEY_TYPE_RSA_PUBLIC_KEY, "rsa-public-key"},
                {PSA_KEY_TYPE_AES, "aes"},
                {PSA_KEY_TYPE_CHACHA20, "chacha20"},
                {PSA_KEY_TYPE_HMAC, "hmac"},
                {PSA_KEY_TYPE_RAW_DATA, "raw-data"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(names); i++)
                if (names[i].type == t)
                        return names[i].name;
        return "other";
}

static int print_key_list(struct cli *cli, const struct secd_msg *m)
{
        size_t n = m->output.len / SECD_WIRE_ATTRS_SIZE;
        _cleanup_json_ json_t *list = json_array();
        if (!cli->json)
                printf("%-10s  %-24s  %5s  %-10s  %-10s\n", "ID", "TYPE", "BITS", "USAGE", "ALG");
        for (size_t i = 0; i < n; i++) {
                psa_key_attributes_t k;
                secd_attrs_decode(m->output.p + i * SECD_WIRE_ATTRS_SIZE, &k);
                if (cli->json)
                        json_array_append_new(list, json_pack("{s:I,s:s,s:i,s:I,s:I}", "id", (json_int_t) k.private_id,
                                                              "type", type_name(k.private_type), "bits", k.private_bits,
                                                              "usage", (json_int_t) k.private_usage, "alg",
                                                              (json_int_t) k.private_alg));
                else
                        printf("%-10" PRIu32 "  %-24s  %5u  0x%08" PRIx32 "  0x%08" PRIx32 "\n", k.private_id,
                               type_name(k.private_type), k.private_bits, k.private_usage, k.private_alg);
        }
        return cli->json ? cli_print_json(cli, list) : CLI_EXIT_OK;
}

static int print_secret_list(struct cli *cli, const struct secd_msg *m)
{
        _cleanup_json_ json_t *list = json_array();
        for (size_t i = 0; i + 8 <= m->output.len; i += 8) {
                uint64_t uid = 0;
                for (int b = 7; b >= 0; b--)
                        uid = uid << 8 | m->output.p[i + (size_t) b];
                if (cli->json)
                        json_array_append_new(list, json_integer((json_int_t) uid));
                else
                        printf("%" PRIu64 "\n", uid);
        }
        return cli->json ? cli_print_json(cli, list) : CLI_EXIT_OK;
}

/* Key type and default usage/algorithm of a --type name. */
static int key_template(const struct secure_args *a, psa_key_attributes_t *k)
{
        static const struct {
                const char *name;
                psa_key_type_t type;
                uint16_t bits;
                psa_key_usage_t usage;
                psa_algorithm_t alg;
        } types[] = {
                {"ecc-p256", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), 256,
                 PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH, PSA_ALG_ECDSA(PSA_ALG_SHA_256)},
                {"ecc-p384", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), 384,
                 PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH, PSA_ALG_ECDSA(PSA_ALG_SHA_384)},
                {"aes-128", PSA_KEY_TYPE_AES, 128, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT, PSA_ALG_GCM},
                {"aes-256", PSA_KEY_TYPE_AES, 256, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT, PSA_ALG_GCM},
                {"ed25519", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_TWISTED_EDWARDS), 255,
                 PSA_KEY_USAGE_SIGN_MESSAGE | PSA_KEY_USAGE_VERIFY_MESSAGE, PSA_ALG_PURE_EDDSA},
                {"rsa-2048", PSA_KEY_TYPE_RSA_KEY_PAIR, 2048, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH,
                 PSA_ALG_RSA_PSS(PSA_ALG_SHA_256)},
                {"rsa-3072", PSA_KEY_TYPE_RSA_KEY_PAIR, 3072, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH,
                 PSA_ALG_RSA_PSS(PSA_ALG_SHA_256)},
                {"ecdh-p256", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), 256, PSA_KEY_USAGE_DERIVE,
                 PSA_ALG_ECDH},
                {"x25519", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY), 255, PSA_KEY_USAGE_DERIVE,
                 PSA_ALG_ECDH},
                {"chacha20", PSA_KEY_TYPE_CHACHA20, 256, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT,
                 PSA_ALG_CHACHA20_POLY1305},
                {"hmac-sha256", PSA_KEY_TYPE_HMAC, 256, PSA_KEY_USAGE_SIGN_MESSAGE | PSA_KEY_USAGE_VERIFY_MESSAGE,
                 PSA_ALG_HMAC(PSA_ALG_SHA_256)},
        };
        static const struct {
                const char *name;
                psa_key_usage_t bit;
        } usages[] = {{"sign", PSA_KEY_USAGE_SIGN_HASH},  {"verify", PSA_KEY_USAGE_VERIFY_HASH},
                      {"encrypt", PSA_KEY_USAGE_ENCRYPT}, {"decrypt", PSA_KEY_USAGE_DECRYPT},
                      {"derive", PSA_KEY_USAGE_DERIVE},   {"export", PSA_KEY_USAGE_EXPORT}};
        size_t i = 0;
        while (i < ALDER_ARRAY_SIZE(types) && (!a->type || strcmp(types[i].name, a->type) != 0))
                i++;
        if (i == ALDER_ARRAY_SIZE(types))
                return cli_usage_error("secure keys generate",
                                       "--type: '%s' is not one of ecc-p256, ecc-p384, ed25519, rsa-2048, "
                                       "rsa-3072, ecdh-p256, x25519, aes-128, aes-256, chacha20, hmac-sha256",
                                       a->type ? a->type : "");
        *k = psa_key_attributes_init();
        psa_set_key_type(k, types[i].type);
        psa_set_key_bits(k, types[i].bits);
        psa_set_key_algorithm(k, types[i].alg);
        psa_set_key_id(k, (psa_key_id_t) a->id);
        psa_key_usage_t u = a->usage ? 0 : types[i].usage;
        _cleanup_free_ char *list = a->usage ? strdup(a->usage) : NULL;
        char *save = NULL;
        for (char *t = list ? strtok_r(list, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
                size_t j = 0;
                while (j < ALDER_ARRAY_SIZE(usages) && strcmp(usages[j].name, t) != 0)
                        j++;
                if (j == ALDER_ARRAY_SIZE(usages))
                        return cli_usage_error("secure keys generate", "--usage: unknown usage '%s'", t);
                u |= usages[j].bit;
        }
        psa_set_key_usage_flags(k, u);
        return -1;
}

/* Reads the secret from stdin (bounded by what secd keeps). */
static int read_secret(uint8_t *buf, size_t *len, alder_error **err)
{
        size_t n = 0;
        for (;;) {
                ssize_t r = alder_read_some(STDIN_FILENO, buf + n, ALDER_PS_MAX_DATA_SIZE + 1 - n);
                if (r < 0)
                        return alder_error_sys(err, (int) -r, "read the secret from standard input");
                if (r == 0)
                        break;
                n += (size_t) r;
                if (n > ALDER_PS_MAX_DATA_SIZE)
                        return alder_error_set(err, EFBIG, "secret on standard input: more than %u bytes",
                                               ALDER_PS_MAX_DATA_SIZE);
        }
        *len = n;
        return 0;
}

static int print_secret(struct cli *cli, const struct secure_args *a, const struct secd_msg *m)
{
        if (!cli->json) {
                _cleanup_error_ alder_error *err = NULL;
                if (alder_write_all(STDOUT_FILENO, m->output.p, m->output.len, "standard output", &err) < 0)
                        return cli_fail(cli, err);
                return CLI_EXIT_OK;
        }
        _cleanup_free_ char *hex = malloc(2 * m->output.len + 1);
        if (!hex)
                return CLI_EXIT_FAILURE;
        for (size_t i = 0; i < m->output.len; i++)
                snprintf(hex + 2 * i, 3, "%02x", m->output.p[i]);
        hex[2 * m->output.len] = '\0';
        _cleanup_json_ json_t *doc = json_pack("{s:s,s:I,s:s}", "app", a->app, "uid", (json_int_t) a->uid, "hex", hex);
        explicit_bzero(hex, 2 * m->output.len);
        return cli_print_json(cli, doc);
}

static int print_ok(struct cli *cli, const struct secure_args *a)
{
        _cleanup_json_ json_t *doc = json_pack("{s:s,s:s}", "app", a->app, "result", "ok");
        return cli_print_json(cli, doc);
}

/* Builds the request of a subcommand; -1 to go on, or an exit code. */
static int build_request(const struct secure_args *a, struct admin_call *call)
{
        bool keys = strcmp(a->what, "keys") == 0;
        const char *verb = a->verb;
        bool needs_id = keys && (strcmp(verb, "generate") == 0 || strcmp(verb, "delete") == 0);
        bool needs_uid = !keys && strcmp(verb, "list") != 0;
        if (needs_id && !a->id)
                return cli_usage_error("secure", "--id ID is required");
        if (needs_uid && !a->uid)
                return cli_usage_error("secure", "--uid UID is required");
        if (strcmp(verb, "list") == 0) {
                admin_start(call, a, keys ? SECD_OP_KEY_LIST : SECD_OP_PS_LIST);
        } else if (keys && strcmp(verb, "generate") == 0) {
                psa_key_attributes_t k;
                int r = key_template(a, &k);
                if (r >= 0)
                        return r;
                admin_start(call, a, SECD_OP_GENERATE_KEY);
                secd_put_attrs(&call->w, &k);
        } else if (keys && strcmp(verb, "delete") == 0) {
                admin_start(call, a, SECD_OP_DESTROY_KEY);
                secd_put_u32(&call->w, SECD_TAG_KEY_ID, (uint32_t) a->id);
        } else if (!keys && (strcmp(verb, "get") == 0 || strcmp(verb, "rm") == 0 || strcmp(verb, "set") == 0)) {
                admin_start(call, a,
                            verb[0] == 'g'   ? SECD_OP_PS_GET
                            : verb[0] == 'r' ? SECD_OP_PS_REMOVE
                                             : SECD_OP_PS_SET);
                secd_put_u64(&call->w, SECD_TAG_UID, a->uid);
                if (verb[0] == 'g') {
                        secd_put_u32(&call->w, SECD_TAG_OFFSET, 0);
                        secd_put_u32(&call->w, SECD_TAG_OUT_SIZE, ALDER_PS_MAX_DATA_SIZE);
                }
        } else {
                return cli_usage_error("secure", "unknown subcommand '%s %s'", a->what, verb);
        }
        return -1;
}

static int run_secure(struct cli *cli, const struct secure_args *a)
{
        _cleanup_free_ struct admin_call *call = calloc(1, sizeof(*call));
        _cleanup_error_ alder_error *err = NULL;
        if (!call)
                return CLI_EXIT_FAILURE;
        int r = build_request(a, call);
        if (r >= 0)
                return r;
        bool keys = strcmp(a->what, "keys") == 0, set = !keys && strcmp(a->verb, "set") == 0;
        if (set) {
                uint8_t *value = call->reply; /* room enough, unused until the reply */
                size_t len = 0;
                if (read_secret(value, &len, &err) < 0)
                        return cli_fail(cli, err);
                secd_put_u32(&call->w, SECD_TAG_FLAGS, a->write_once ? PSA_STORAGE_FLAG_WRITE_ONCE : 0);
                secd_put_bytes(&call->w, SECD_TAG_INPUT, value, len);
                explicit_bzero(value, len);
        }
        r = admin_run(a, call, &err);
        explicit_bzero(call->req, sizeof(call->req));
        if (r < 0)
                r = cli_fail(cli, err);
        else if (strcmp(a->verb, "list") == 0)
                r = keys ? print_key_list(cli, &call->m) : print_secret_list(cli, &call->m);
        else if (!keys && strcmp(a->verb, "get") == 0)
                r = print_secret(cli, a, &call->m);
        else if (cli->json)
                r = print_ok(cli, a);
        explicit_bzero(call->reply, sizeof(call->reply));
        return r;
}

int cmd_secure(struct cli *cli, int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "keys") != 0 && strcmp(argv[1], "secrets") != 0)
                return cli_usage_error("secure", "unknown subcommand '%s' (keys or secrets)", argv[1]);
        if (argc < 3 || argv[2][0] == '-') {
                if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
                        fputs(usage, stdout);
                        return CLI_EXIT_OK;
                }
                return cli_usage_error("secure", "%s: a subcommand is required", argv[1]);
        }
        struct secure_args a = {.what = argv[1], .verb = argv[2]};
        int r = parse_args(cli, argc - 2, argv + 2, &a);
        if (r >= 0)
                return r;
        return run_secure(cli, &a);
}
