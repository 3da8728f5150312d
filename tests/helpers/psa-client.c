/* SPDX-License-Identifier: Apache-2.0 */
/*
 * psa-client: one libalder-psa call per run, for tests/system/test_secd.py
 * and bench/secd. The socket comes from ALDER_SECD_SOCKET, as in an app.
 * Byte strings are hex on the command line and on stdout. Exit status: 0 and
 * the result on success, 3 and "PSA status N" on a PSA error, 2 on bad usage.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psa/crypto.h"
#include "psa/protected_storage.h"

#define MAX_BYTES 40000

static int usage(void)
{
        fputs("usage: psa-client generate TYPE BITS USAGE ALG ID | import TYPE USAGE ALG ID HEX |\n"
              "  export ID | export-public ID | destroy ID | attrs ID | sign ID ALG HASHHEX |\n"
              "  verify ID ALG HASHHEX SIGHEX | sign-msg ID ALG HEX | verify-msg ID ALG HEX SIGHEX |\n"
              "  mac ID ALG HEX | mac-verify ID ALG HEX MACHEX | ecdh ID PEERHEX |\n"
              "  encrypt ID NONCE AAD PT [ALG] | decrypt ID NONCE AAD CT [ALG] | hash HEX | random N |\n"
              "  ps-set UID HEX [write-once] | ps-get UID [OFFSET SIZE] | ps-info UID | ps-rm UID |\n"
              "  bench-sign ID N [ALG] | bench-aead ID SIZE N\n"
              "TYPE: ecc (secp_r1 pair), ecc-pub, ed25519, ed25519-pub, x25519, rsa, rsa-pub, aes, chacha20, hmac;\n"
              "USAGE: comma list of export,sign,verify,encrypt,decrypt,derive;\n"
              "ALG: ecdsa-sha256, ecdsa-sha384, ecdsa-any, rsa-pss-sha256, rsa-pss-any, rsa-pkcs1-sha256, eddsa,\n"
              "  hmac-sha256, hmac-sha384, gcm, chacha20-poly1305, ecdh, none; ID 0 = volatile\n",
              stderr);
        return 2;
}

static int fail(psa_status_t s)
{
        printf("PSA status %d\n", (int) s);
        return 3;
}

static size_t from_hex(const char *hex, uint8_t *out)
{
        size_t n = strlen(hex) / 2;
        for (size_t i = 0; i < n && i < MAX_BYTES; i++)
                sscanf(hex + 2 * i, "%2hhx", &out[i]);
        return n < MAX_BYTES ? n : MAX_BYTES;
}

static int print_hex(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                printf("%02x", p[i]);
        putchar('\n');
        return 0;
}

struct name {
        const char *name;
        uint32_t value;
};

/* The value of a name in a table, else the string as a number. */
static uint32_t lookup(const struct name *names, const char *s)
{
        for (; names->name; names++)
                if (strcmp(names->name, s) == 0)
                        return names->value;
        return (uint32_t) strtoul(s, NULL, 0);
}

static psa_key_type_t parse_type(const char *s)
{
        static const struct name names[] = {
                {"ecc", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)},
                {"ecc-pub", PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1)},
                {"ed25519", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_TWISTED_EDWARDS)},
                {"ed25519-pub", PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_TWISTED_EDWARDS)},
                {"x25519", PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY)},
                {"rsa", PSA_KEY_TYPE_RSA_KEY_PAIR},
                {"rsa-pub", PSA_KEY_TYPE_RSA_PUBLIC_KEY},
                {"aes", PSA_KEY_TYPE_AES},
                {"chacha20", PSA_KEY_TYPE_CHACHA20},
                {"hmac", PSA_KEY_TYPE_HMAC},
                {NULL, 0},
        };
        return (psa_key_type_t) lookup(names, s);
}

static psa_key_usage_t parse_usage(const char *s)
{
        static const struct {
                const char *name;
                psa_key_usage_t bit;
        } names[] = {{"export", PSA_KEY_USAGE_EXPORT},      {"sign", PSA_KEY_USAGE_SIGN_HASH},
                     {"verify", PSA_KEY_USAGE_VERIFY_HASH}, {"encrypt", PSA_KEY_USAGE_ENCRYPT},
                     {"decrypt", PSA_KEY_USAGE_DECRYPT},    {"derive", PSA_KEY_USAGE_DERIVE}};
        psa_key_usage_t u = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strstr(s, names[i].name))
                        u |= names[i].bit;
        return u;
}

static psa_algorithm_t parse_alg(const char *s)
{
        static const struct name names[] = {
                {"ecdsa-sha256", PSA_ALG_ECDSA(PSA_ALG_SHA_256)},
                {"ecdsa-sha384", PSA_ALG_ECDSA(PSA_ALG_SHA_384)},
                {"ecdsa-any", PSA_ALG_ECDSA_ANY},
                {"rsa-pss-sha256", PSA_ALG_RSA_PSS(PSA_ALG_SHA_256)},
                {"rsa-pss-any", PSA_ALG_RSA_PSS(PSA_ALG_ANY_HASH)},
                {"rsa-pkcs1-sha256", PSA_ALG_RSA_PKCS1V15_SIGN(PSA_ALG_SHA_256)},
                {"eddsa", PSA_ALG_PURE_EDDSA},
                {"hmac-sha256", PSA_ALG_HMAC(PSA_ALG_SHA_256)},
                {"hmac-sha384", PSA_ALG_HMAC(PSA_ALG_SHA_384)},
                {"gcm", PSA_ALG_GCM},
                {"chacha20-poly1305", PSA_ALG_CHACHA20_POLY1305},
                {"ecdh", PSA_ALG_ECDH},
                {"none", PSA_ALG_NONE},
                {NULL, 0},
        };
        return lookup(names, s);
}

static psa_key_attributes_t parse_attrs(const char *type, const char *bits, const char *usage_s, const char *alg,
                                        const char *id)
{
        psa_key_attributes_t a = psa_key_attributes_init();
        psa_set_key_type(&a, parse_type(type));
        psa_set_key_bits(&a, strtoul(bits, NULL, 0));
        psa_set_key_usage_flags(&a, parse_usage(usage_s));
        psa_set_key_algorithm(&a, parse_alg(alg));
        if (strtoul(id, NULL, 0))
                psa_set_key_id(&a, (psa_key_id_t) strtoul(id, NULL, 0));
        return a;
}

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint8_t in1[MAX_BYTES], in2[MAX_BYTES], in3[MAX_BYTES], out[MAX_BYTES];

static int run_key_op(int argc, char **argv)
{
        const char *op = argv[1];
        psa_key_id_t id = argc > 2 ? (psa_key_id_t) strtoul(argv[2], NULL, 0) : 0;
        size_t len = 0;
        psa_status_t s;
        if (strcmp(op, "export") == 0 || strcmp(op, "export-public") == 0) {
                s = (op[6] ? psa_export_public_key : psa_export_key)(id, out, sizeof(out), &len);
                return s ? fail(s) : print_hex(out, len);
        }
        if (strcmp(op, "destroy") == 0)
                return (s = psa_destroy_key(id)) ? fail(s) : puts("ok") < 0;
        if (strcmp(op, "attrs") == 0) {
                psa_key_attributes_t a;
                if ((s = psa_get_key_attributes(id, &a)))
                        return fail(s);
                printf("type=0x%04x bits=%zu usage=0x%x alg=0x%08x lifetime=%u id=%u\n", psa_get_key_type(&a),
                       psa_get_key_bits(&a), psa_get_key_usage_flags(&a), psa_get_key_algorithm(&a),
                       psa_get_key_lifetime(&a), psa_get_key_id(&a));
                return 0;
        }
        /* Calls of the shape (key, alg, input) -> output and (key, alg, input, signature). */
        static const struct {
                const char *name;
                psa_status_t (*make)(psa_key_id_t, psa_algorithm_t, const uint8_t *, size_t, uint8_t *, size_t,
                                     size_t *);
                psa_status_t (*check)(psa_key_id_t, psa_algorithm_t, const uint8_t *, size_t, const uint8_t *, size_t);
        } calls[] = {
                {"sign", psa_sign_hash, NULL},        {"verify", NULL, psa_verify_hash},
                {"sign-msg", psa_sign_message, NULL}, {"verify-msg", NULL, psa_verify_message},
                {"mac", psa_mac_compute, NULL},       {"mac-verify", NULL, psa_mac_verify},
        };
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                if (strcmp(op, calls[i].name) != 0 || argc != (calls[i].make ? 5 : 6))
                        continue;
                size_t n = from_hex(argv[4], in1);
                if (calls[i].make) {
                        s = calls[i].make(id, parse_alg(argv[3]), in1, n, out, sizeof(out), &len);
                        return s ? fail(s) : print_hex(out, len);
                }
                size_t m = from_hex(argv[5], in2);
                return (s = calls[i].check(id, parse_alg(argv[3]), in1, n, in2, m)) ? fail(s) : puts("ok") < 0;
        }
        if (strcmp(op, "ecdh") == 0 && argc == 4) {
                size_t n = from_hex(argv[3], in1);
                s = psa_raw_key_agreement(PSA_ALG_ECDH, id, in1, n, out, sizeof(out), &len);
                return s ? fail(s) : print_hex(out, len);
        }
        if ((strcmp(op, "encrypt") == 0 || strcmp(op, "decrypt") == 0) && (argc == 6 || argc == 7)) {
                size_t nn = from_hex(argv[3], in1), na = from_hex(argv[4], in2), ni = from_hex(argv[5], in3);
                psa_algorithm_t alg = argc == 7 ? parse_alg(argv[6]) : PSA_ALG_GCM;
                s = (op[0] == 'e' ? psa_aead_encrypt : psa_aead_decrypt)(id, alg, in1, nn, in2, na, in3, ni, out,
                                                                         sizeof(out), &len);
                return s ? fail(s) : print_hex(out, len);
        }
        return usage();
}

static int run_ps_op(int argc, char **argv)
{
        const char *op = argv[1];
        psa_storage_uid_t uid = strtoull(argv[2], NULL, 0);
        psa_status_t s;
        if (strcmp(op, "ps-set") == 0 && argc >= 4) {
                size_t n = from_hex(argv[3], in1);
                psa_storage_create_flags_t f = argc > 4 && strcmp(argv[4], "write-once") == 0
                                                       ? PSA_STORAGE_FLAG_WRITE_ONCE
                                                       : PSA_STORAGE_FLAG_NONE;
                return (s = psa_ps_set(uid, n, in1, f)) ? fail(s) : puts("ok") < 0;
        }
        if (strcmp(op, "ps-get") == 0) {
                size_t off = argc > 4 ? strtoul(argv[3], NULL, 0) : 0;
                size_t size = argc > 4 ? strtoul(argv[4], NULL, 0) : sizeof(out), len = 0;
                s = psa_ps_get(uid, off, size < sizeof(out) ? size : sizeof(out), out, &len);
                return s ? fail(s) : print_hex(out, len);
        }
        if (strcmp(op, "ps-info") == 0) {
                struct psa_storage_info_t info;
                if ((s = psa_ps_get_info(uid, &info)))
                        return fail(s);
                printf("size=%zu capacity=%zu flags=%u\n", info.size, info.capacity, info.flags);
                return 0;
        }
        if (strcmp(op, "ps-rm") == 0)
                return (s = psa_ps_remove(uid)) ? fail(s) : puts("ok") < 0;
        return usage();
}

/* Prints operations per second (and MB/s for AEAD) of N calls. */
static int run_bench(int argc, char **argv)
{
        psa_key_id_t id = (psa_key_id_t) strtoul(argv[2], NULL, 0);
        bool aead = strcmp(argv[1], "bench-aead") == 0;
        size_t size = aead ? strtoul(argv[3], NULL, 0) : 32, n = strtoul(argv[aead ? 4 : 3], NULL, 0), len;
        psa_algorithm_t sign_alg = !aead && argc > 4 ? parse_alg(argv[4]) : PSA_ALG_ECDSA(PSA_ALG_SHA_256);
        if (size > MAX_BYTES - 16)
                return usage();
        double t0 = now();
        for (size_t i = 0; i < n; i++) {
                psa_status_t s =
                        aead ? psa_aead_encrypt(id, PSA_ALG_GCM, in1, 12, NULL, 0, in2, size, out, sizeof(out), &len)
                             : psa_sign_hash(id, sign_alg, in1, 32, out, sizeof(out), &len);
                if (s)
                        return fail(s);
        }
        double dt = now() - t0;
        printf("{\"ops_per_s\": %.1f, \"mb_per_s\": %.2f}\n", (double) n / dt, (double) (n * size) / dt / 1e6);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return usage();
        psa_status_t s = psa_crypto_init();
        if (s)
                return fail(s);
        const char *op = argv[1];
        size_t len = 0;
        if (strcmp(op, "generate") == 0 && argc == 7) {
                psa_key_attributes_t a = parse_attrs(argv[2], argv[3], argv[4], argv[5], argv[6]);
                psa_key_id_t id;
                return (s = psa_generate_key(&a, &id)) ? fail(s) : printf("%u\n", id) < 0;
        }
        if (strcmp(op, "import") == 0 && argc == 7) {
                psa_key_attributes_t a = parse_attrs(argv[2], "0", argv[3], argv[4], argv[5]);
                size_t n = from_hex(argv[6], in1);
                psa_key_id_t id;
                return (s = psa_import_key(&a, in1, n, &id)) ? fail(s) : printf("%u\n", id) < 0;
        }
        if (strcmp(op, "hash") == 0 && argc == 3) {
                size_t n = from_hex(argv[2], in1);
                s = psa_hash_compute(PSA_ALG_SHA_256, in1, n, out, sizeof(out), &len);
                return s ? fail(s) : print_hex(out, len);
        }
        if (strcmp(op, "random") == 0 && argc == 3) {
                size_t n = strtoul(argv[2], NULL, 0);
                if (n > sizeof(out))
                        return usage();
                return (s = psa_generate_random(out, n)) ? fail(s) : print_hex(out, n);
        }
        if (strncmp(op, "bench-", 6) == 0 && argc >= 4)
                return run_bench(argc, argv);
        if (strncmp(op, "ps-", 3) == 0 && argc >= 3)
                return run_ps_op(argc, argv);
        if (argc >= 3)
                return run_key_op(argc, argv);
        return usage();
}
