/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alpkg-tool: drives lib/alpkg.c for system tests where the CLI cannot:
 *
 *   alpkg-tool create --meta APP.JSON --payload ROOTFS.TAR.ZST --key K --cert C
 *                     [--sequence N] OUT
 *       a signed package around an arbitrary (possibly hostile) payload;
 *   alpkg-tool unpack --trust DIR [--arch ARCH] [--max-entries N] PKG DEST
 *       what a device does: verify, then stream the payload into DEST through
 *       the safe unpacker; prints {"entries": N, "bytes": N} or the error.
 *
 * Exit status 0 on success, 1 with the error on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/alpkg.h"
#include "alder/json.h"

struct args {
        const char *meta, *payload, *key, *cert, *trust, *arch;
        uint64_t sequence, max_entries;
};

static int fail(alder_error *err)
{
        fprintf(stderr, "alpkg-tool: %s\n", alder_error_message(err));
        return 1;
}

static int create(const struct args *a, const char *out)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_app_meta_ alder_app_meta *meta = NULL;
        _cleanup_evp_pkey_ EVP_PKEY *key = NULL;
        _cleanup_x509_ X509 *cert = NULL;
        if (alder_json_load_file(a->meta, ALDER_APP_META_MAX_SIZE, &doc, &err) < 0 ||
            alder_app_meta_from_json(doc, a->meta, &meta, &err) < 0 || alder_key_load_pem(a->key, &key, &err) < 0 ||
            alder_cert_load_pem(a->cert, &cert, &err) < 0)
                return fail(err);
        struct alder_cose_signer signer = {.key = key, .cert = cert};
        alder_alpkg_create_opts o = {
                .meta = meta, .rootfs_payload = a->payload, .sequence = a->sequence, .signer = &signer};
        if (alder_alpkg_create(&o, out, NULL, &err) < 0)
                return fail(err);
        return 0;
}

static int unpack(const struct args *a, const char *pkg_path, const char *dest)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_trust_store_ alder_trust_store *trust = NULL;
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        alder_alpkg_expect expect = {.arch = a->arch};
        alder_unpack_opts uopts = {.limits = {.max_entries = a->max_entries}};
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        if (alder_trust_store_load_dir(a->trust, &trust, &err) < 0 ||
            alder_alpkg_open(pkg_path, trust, &expect, &pkg, &err) < 0 ||
            alder_alpkg_unpack(pkg, dest, &uopts, &stats, &err) < 0)
                return fail(err);
        printf("{\"entries\": %" PRIu64 ", \"bytes\": %" PRIu64 "}\n", stats.entries, stats.bytes);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"meta", required_argument, NULL, 'm'},
                {"payload", required_argument, NULL, 'p'},
                {"key", required_argument, NULL, 'k'},
                {"cert", required_argument, NULL, 'c'},
                {"sequence", required_argument, NULL, 's'},
                {"trust", required_argument, NULL, 't'},
                {"arch", required_argument, NULL, 'a'},
                {"max-entries", required_argument, NULL, 'e'},
                {0},
        };
        if (argc < 2)
                return 2;
        const char *cmd = argv[1];
        struct args a = {.sequence = 1};
        int c;
        optind = 2;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'm':
                        a.meta = optarg;
                        break;
                case 'p':
                        a.payload = optarg;
                        break;
                case 'k':
                        a.key = optarg;
                        break;
                case 'c':
                        a.cert = optarg;
                        break;
                case 't':
                        a.trust = optarg;
                        break;
                case 'a':
                        a.arch = optarg;
                        break;
                case 's':
                        a.sequence = strtoull(optarg, NULL, 10);
                        break;
                case 'e':
                        a.max_entries = strtoull(optarg, NULL, 10);
                        break;
                default:
                        return 2;
                }
        }
        if (strcmp(cmd, "create") == 0 && optind + 1 == argc && a.meta && a.payload && a.key && a.cert)
                return create(&a, argv[optind]);
        if (strcmp(cmd, "unpack") == 0 && optind + 2 == argc && a.trust)
                return unpack(&a, argv[optind], argv[optind + 1]);
        fprintf(stderr, "usage: alpkg-tool create|unpack ... (see the source)\n");
        return 2;
}
