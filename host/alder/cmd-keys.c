/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder keys: the signing keys that app packages and update bundles are
 * signed with, and the certificates devices trust them by.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alder/digest.h"
#include "alder/json.h"
#include "alder/keys.h"
#include "cli.h"

#define DEFAULT_PREFIX "alder-signing"
#define DEFAULT_CN     "Alder signing key"
#define DEFAULT_DAYS   3650

static const char keys_usage[] = "Usage: alder keys generate [OPTIONS]\n"
                                 "       alder keys show FILE [--json]\n"
                                 "\n"
                                 "Generate and inspect the ECDSA P-256 keys that sign app packages and update\n"
                                 "bundles, and the X.509 certificates devices trust them by.\n"
                                 "\n"
                                 "Commands:\n"
                                 "  generate  create a key pair and its certificate (alder keys generate --help)\n"
                                 "  show      print a certificate's or key's details (alder keys show --help)\n";

static const char generate_usage[] =
        "Usage: alder keys generate [--out PREFIX] [--cn NAME] [--days N]\n"
        "                           [--ca-key FILE --ca-cert FILE] [--force] [--json]\n"
        "\n"
        "Create an ECDSA P-256 signing key and an X.509 certificate for it.\n"
        "\n"
        "Writes PREFIX.key (the private key, PKCS#8 PEM, mode 0600) and PREFIX.pem\n"
        "(the certificate, mode 0644), each replaced atomically. Without a CA the\n"
        "certificate is self-signed and may itself issue certificates: put it in a\n"
        "device's trust store to trust this key. With --ca-key and --ca-cert it is\n"
        "issued by that CA: devices then trust the CA, and signatures carry the\n"
        "signer's certificate. Keep PREFIX.key secret; only PREFIX.pem goes to devices.\n"
        "\n"
        "Options:\n"
        "  -o, --out PREFIX     where to write (default " DEFAULT_PREFIX ")\n"
        "  -n, --cn NAME        certificate subject common name (default \"" DEFAULT_CN "\")\n"
        "  -d, --days N         validity in days, 1..36500 (default 3650); devices do not\n"
        "                       enforce it unless configured to (docs/formats/suit-profile.md)\n"
        "      --ca-key FILE    the issuing CA's private key (PEM)\n"
        "      --ca-cert FILE   the issuing CA's certificate (PEM)\n"
        "  -f, --force          replace existing PREFIX.key and PREFIX.pem\n"
        "      --json           print the result as a JSON object\n"
        "  -h, --help           show this help\n"
        "\n"
        "Examples:\n"
        "  alder keys generate --out release --cn \"ACME release 2025\"\n"
        "  alder keys generate --out ca --cn \"ACME CA\" --days 7300\n"
        "  alder keys generate --out ci --cn \"ACME CI\" --ca-key ca.key --ca-cert ca.pem\n"
        "\n"
        "Exit status: 0 written, 1 failed, 2 bad command line.\n";

static const char show_usage[] = "Usage: alder keys show FILE [--json]\n"
                                 "\n"
                                 "Print a PEM certificate's subject, issuer, validity, key fingerprint and\n"
                                 "key type (every certificate of a chain file), or a PEM private key's type\n"
                                 "and fingerprint. The fingerprint is the SHA-256 of the public key\n"
                                 "(SubjectPublicKeyInfo), the key id signatures carry. Secrets are never\n"
                                 "printed.\n"
                                 "\n"
                                 "Options:\n"
                                 "      --json      print a JSON object (certificates: the first one, the rest\n"
                                 "                  of a chain under \"chain\")\n"
                                 "  -h, --help      show this help\n"
                                 "\n"
                                 "Exit status: 0 shown, 1 the file cannot be read or parsed, 2 bad command line.\n";

enum { OPT_CA_KEY = 0x100, OPT_CA_CERT, OPT_JSON };

struct generate_args {
        const char *prefix;
        const char *cn;
        unsigned days;
        const char *ca_key;
        const char *ca_cert;
        bool force;
};

static int parse_days(const char *s, unsigned *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || end == s || s[0] == '-' || v == 0 || v > 36500)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* Options that just take a string: where each one goes. */
static const char **string_option(struct generate_args *a, int c)
{
        switch (c) {
        case 'o':
                return &a->prefix;
        case 'n':
                return &a->cn;
        case OPT_CA_KEY:
                return &a->ca_key;
        case OPT_CA_CERT:
                return &a->ca_cert;
        default:
                return NULL;
        }
}

/* One option other than --help; -1 to go on, or an exit code. */
static int generate_option(struct cli *cli, struct generate_args *a, int c, char **argv)
{
        const char **target = string_option(a, c);
        if (target) {
                *target = optarg;
                return -1;
        }
        switch (c) {
        case 'd':
                if (parse_days(optarg, &a->days) < 0)
                        return cli_usage_error("keys generate", "--days: '%s' is not a number of days in 1..36500",
                                               optarg);
                return -1;
        case 'f':
                a->force = true;
                return -1;
        case OPT_JSON:
                cli->json = true;
                return -1;
        default:
                return cli_option_error("keys generate", c, argv);
        }
}

static int parse_generate_args(struct cli *cli, int argc, char **argv, struct generate_args *a)
{
        static const struct option options[] = {
                {"out", required_argument, NULL, 'o'},
                {"cn", required_argument, NULL, 'n'},
                {"days", required_argument, NULL, 'd'},
                {"ca-key", required_argument, NULL, OPT_CA_KEY},
                {"ca-cert", required_argument, NULL, OPT_CA_CERT},
                {"force", no_argument, NULL, 'f'},
                {"json", no_argument, NULL, OPT_JSON},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        *a = (struct generate_args){.prefix = DEFAULT_PREFIX, .cn = DEFAULT_CN, .days = DEFAULT_DAYS};
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, "+:o:n:d:fh", options, NULL)) != -1) {
                if (c == 'h') {
                        fputs(generate_usage, stdout);
                        return CLI_EXIT_OK;
                }
                int r = generate_option(cli, a, c, argv);
                if (r >= 0)
                        return r;
        }
        if (optind < argc)
                return cli_usage_error("keys generate", "unexpected argument '%s'", argv[optind]);
        if (!a->ca_key != !a->ca_cert)
                return cli_usage_error("keys generate", "--ca-key and --ca-cert go together");
        if (!*a->prefix)
                return cli_usage_error("keys generate", "--out: empty prefix");
        return -1;
}

/* "2025-01-31T12:00:00Z" */
static void format_time(time_t t, char out[32])
{
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, 32, "%lld", (long long) t);
}

static json_t *cert_json(const struct alder_cert_info *info)
{
        char nb[32], na[32];
        format_time(info->not_before, nb);
        format_time(info->not_after, na);
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b}", "subject", info->subject, "issuer", info->issuer,
                         "not_before", nb, "not_after", na, "fingerprint", info->fingerprint, "key_type",
                         info->key_type, "ca", info->is_ca, "self_signed", info->self_signed);
}

static void print_cert(const struct alder_cert_info *info)
{
        char nb[32], na[32];
        format_time(info->not_before, nb);
        format_time(info->not_after, na);
        printf("subject:     %s\n"
               "issuer:      %s\n"
               "not before:  %s\n"
               "not after:   %s\n"
               "fingerprint: %s\n"
               "key type:    %s\n"
               "CA:          %s%s\n",
               info->subject, info->issuer, nb, na, info->fingerprint, info->key_type, info->is_ca ? "yes" : "no",
               info->self_signed ? " (self-signed)" : "");
}

static int refuse_overwrite(const char *path, bool force, alder_error **err)
{
        struct stat st;
        if (!force && lstat(path, &st) == 0)
                return alder_error_set(err, EEXIST, "'%s' exists (use --force to replace it)", path);
        return 0;
}

/* The CA's key and certificate, when --ca-key/--ca-cert were given. */
static int load_ca(const struct generate_args *a, EVP_PKEY **key, X509 **cert, alder_error **err)
{
        if (!a->ca_key)
                return 0;
        int r = alder_key_load_pem(a->ca_key, key, err);
        if (r == 0)
                r = alder_cert_load_pem(a->ca_cert, cert, err);
        return r < 0 ? alder_error_wrap(err, "load CA") : 0;
}

static int report_generated(struct cli *cli, const char *key_path, const char *cert_path, X509 *cert)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_cert_info info;
        if (alder_cert_get_info(cert, &info, &err) < 0)
                return cli_fail(cli, err);
        int rc = CLI_EXIT_OK;
        if (cli->json) {
                _cleanup_json_ json_t *doc = cert_json(&info);
                if (doc && json_object_set_new(doc, "key", json_string(key_path)) == 0 &&
                    json_object_set_new(doc, "certificate", json_string(cert_path)) == 0)
                        rc = cli_print_json(cli, doc);
                else
                        rc = CLI_EXIT_FAILURE;
        } else {
                printf("key:         %s\ncertificate: %s\n", key_path, cert_path);
                print_cert(&info);
        }
        alder_cert_info_done(&info);
        return rc;
}

static int run_generate(struct cli *cli, const struct generate_args *a)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *key_path = NULL, *cert_path = NULL;
        if (asprintf(&key_path, "%s.key", a->prefix) < 0 || asprintf(&cert_path, "%s.pem", a->prefix) < 0) {
                (void) alder_error_set(&err, ENOMEM, "generate key: out of memory");
                return cli_fail(cli, err);
        }
        _cleanup_evp_pkey_ EVP_PKEY *ca_key = NULL, *key = NULL;
        _cleanup_x509_ X509 *ca_cert = NULL, *cert = NULL;
        int r = refuse_overwrite(key_path, a->force, &err);
        if (r == 0)
                r = refuse_overwrite(cert_path, a->force, &err);
        if (r == 0)
                r = load_ca(a, &ca_key, &ca_cert, &err);
        if (r == 0)
                r = alder_key_generate(&key, &err);
        struct alder_cert_options o = {.common_name = a->cn, .days = a->days, .ca_key = ca_key, .ca_cert = ca_cert};
        if (r == 0)
                r = alder_cert_create(key, &o, &cert, &err);
        /* The key first: a certificate without its key is useless, the other way round it is re-issued. */
        if (r == 0)
                r = alder_key_write_pem(key_path, key, &err);
        if (r == 0)
                r = alder_cert_write_pem(cert_path, cert, &err);
        if (r < 0) {
                (void) alder_error_wrap(&err, "generate key");
                return cli_fail(cli, err);
        }
        return report_generated(cli, key_path, cert_path, cert);
}

static int show_certs(struct cli *cli, STACK_OF(X509) * certs)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *doc = NULL, *chain = json_array();
        for (int i = 0; i < sk_X509_num(certs); i++) {
                struct alder_cert_info info;
                if (alder_cert_get_info(sk_X509_value(certs, i), &info, &err) < 0)
                        return cli_fail(cli, err);
                if (!cli->json) {
                        if (i > 0)
                                putchar('\n');
                        print_cert(&info);
                } else if (i == 0)
                        doc = cert_json(&info);
                else
                        json_array_append_new(chain, cert_json(&info));
                alder_cert_info_done(&info);
        }
        if (!cli->json)
                return CLI_EXIT_OK;
        if (!doc || !chain || (json_array_size(chain) > 0 && json_object_set(doc, "chain", chain) < 0))
                return CLI_EXIT_FAILURE;
        return cli_print_json(cli, doc);
}

static int show_key(struct cli *cli, EVP_PKEY *key)
{
        _cleanup_error_ alder_error *err = NULL;
        uint8_t fp[ALDER_FINGERPRINT_SIZE];
        char hex[ALDER_FINGERPRINT_HEX_SIZE];
        if (alder_key_fingerprint(key, fp, &err) < 0)
                return cli_fail(cli, err);
        alder_hex_encode(fp, sizeof(fp), hex);
        if (cli->json) {
                _cleanup_json_ json_t *doc = json_pack("{s:s,s:s,s:s}", "type", "private key", "key_type",
                                                       alder_key_type_name(key), "fingerprint", hex);
                return cli_print_json(cli, doc);
        }
        printf("private key\nfingerprint: %s\nkey type:    %s\n", hex, alder_key_type_name(key));
        return CLI_EXIT_OK;
}

/* A certificate file, else a private key file; the error that explains the file best otherwise. */
static int run_show(struct cli *cli, const char *path)
{
        _cleanup_error_ alder_error *cert_err = NULL, *key_err = NULL;
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        _cleanup_evp_pkey_ EVP_PKEY *key = NULL;
        if (alder_certs_load_pem(path, &certs, &cert_err) == 0)
                return show_certs(cli, certs);
        if (alder_error_errno(cert_err) != EINVAL)
                return cli_fail(cli, cert_err); /* cannot read the file at all */
        if (alder_key_load_pem(path, &key, &key_err) == 0)
                return show_key(cli, key);
        if (!strstr(alder_error_message(key_err), ": no PEM private key"))
                return cli_fail(cli, key_err); /* a key file with a problem */
        alder_error_clear(&key_err);
        (void) alder_error_set(&key_err, EINVAL, "'%s': neither a PEM certificate nor a PEM private key", path);
        return cli_fail(cli, key_err);
}

static int cmd_show(struct cli *cli, int argc, char **argv)
{
        int first, rest;
        int r = cli_parse_common(cli, "keys show", show_usage, argc, argv, &first);
        if (r >= 0)
                return r;
        if (first >= argc)
                return cli_usage_error("keys show", "FILE is required");
        /* options may also follow FILE: parse what comes after it, FILE standing in for argv[0] */
        r = cli_parse_common(cli, "keys show", show_usage, argc - first, argv + first, &rest);
        if (r >= 0)
                return r;
        if (first + rest < argc)
                return cli_usage_error("keys show", "unexpected argument '%s'", argv[first + rest]);
        return run_show(cli, argv[first]);
}

int cmd_keys(struct cli *cli, int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(keys_usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        if (strcmp(argv[1], "generate") == 0) {
                struct generate_args a;
                int r = parse_generate_args(cli, argc - 1, argv + 1, &a);
                return r >= 0 ? r : run_generate(cli, &a);
        }
        if (strcmp(argv[1], "show") == 0)
                return cmd_show(cli, argc - 1, argv + 1);
        return cli_usage_error("keys", "unknown subcommand '%s'", argv[1]);
}
