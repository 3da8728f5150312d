/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secure-counter: an Alder app that keeps its secrets in alder-secd through
 * the PSA Certified Crypto and Protected Storage APIs (libalder-psa).
 *
 * On its first start it generates a persistent ECDSA P-256 key (id 1) that
 * never leaves secd; on every start it loads it again, counts its starts in
 * Protected Storage (uid 1), signs "secure-counter start N" with the key and
 * verifies the signature. Then, with --ticks N, it counts N more ticks a
 * second apart, signing each one; when secd goes away (a restart) it says
 * so and reconnects. Both survive an update of the app, since they belong to
 * the app and not to a version of it.
 *
 * Output, one line each: "key: generated|loaded", "public: HEX",
 * "counter: N", "signature: HEX", "verified", "ready", then per tick
 * "tick: N signed", "secd: lost (PSA status S)", "secd: back".
 * Exit status 0, or 1 with "error: WHAT: PSA status S".
 *
 * Links libalder-psa statically, so it runs in an empty root file system.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psa/crypto.h"
#include "psa/protected_storage.h"

#define KEY_ID      ((psa_key_id_t) 1)
#define COUNTER_UID ((psa_storage_uid_t) 1)
#define ALG         PSA_ALG_ECDSA(PSA_ALG_SHA_256)

static int fail(const char *what, psa_status_t s)
{
        printf("error: %s: PSA status %d\n", what, (int) s);
        return 1;
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
        printf("%s: ", label);
        for (size_t i = 0; i < n; i++)
                printf("%02x", p[i]);
        putchar('\n');
}

static void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0)
                ;
}

/* The app's key: loaded when it exists, generated on the first start. */
static psa_status_t open_key(void)
{
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        psa_status_t s = psa_get_key_attributes(KEY_ID, &a);
        if (s == PSA_SUCCESS) {
                puts("key: loaded");
                return s;
        }
        if (s != PSA_ERROR_INVALID_HANDLE)
                return s;
        psa_set_key_id(&a, KEY_ID);
        psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
        psa_set_key_bits(&a, 256);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH);
        psa_set_key_algorithm(&a, ALG);
        psa_key_id_t id;
        s = psa_generate_key(&a, &id);
        if (s == PSA_SUCCESS)
                puts("key: generated");
        return s;
}

/* Adds one to the counter in Protected Storage; *ret is the new value. */
static psa_status_t count(unsigned long long *ret)
{
        char text[32] = "";
        size_t len = 0;
        psa_status_t s = psa_ps_get(COUNTER_UID, 0, sizeof(text) - 1, text, &len);
        if (s != PSA_SUCCESS && s != PSA_ERROR_DOES_NOT_EXIST)
                return s;
        text[s == PSA_SUCCESS ? len : 0] = '\0';
        unsigned long long n = strtoull(text, NULL, 10) + 1;
        snprintf(text, sizeof(text), "%llu", n);
        s = psa_ps_set(COUNTER_UID, strlen(text), text, PSA_STORAGE_FLAG_NONE);
        if (s == PSA_SUCCESS)
                *ret = n;
        return s;
}

/* Signs the message with the app's key; the signature in sig (64 bytes). */
static psa_status_t sign(const char *message, uint8_t *sig, size_t *sig_len)
{
        uint8_t hash[32];
        size_t hash_len;
        psa_status_t s = psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *) message, strlen(message), hash,
                                          sizeof(hash), &hash_len);
        if (s == PSA_SUCCESS)
                s = psa_sign_hash(KEY_ID, ALG, hash, hash_len, sig, PSA_SIGNATURE_MAX_SIZE, sig_len);
        if (s == PSA_SUCCESS)
                s = psa_verify_hash(KEY_ID, ALG, hash, hash_len, sig, *sig_len);
        return s;
}

/* Connects, retrying for up to `tries` half-seconds (secd may be starting or restarting). */
static psa_status_t connect_secd(int tries)
{
        psa_status_t s;
        while ((s = psa_crypto_init()) != PSA_SUCCESS && --tries > 0)
                sleep_ms(500);
        return s;
}

static int tick(unsigned long n)
{
        char message[64];
        uint8_t sig[PSA_SIGNATURE_MAX_SIZE];
        size_t sig_len;
        snprintf(message, sizeof(message), "secure-counter tick %lu", n);
        psa_status_t s = sign(message, sig, &sig_len);
        if (s == PSA_ERROR_COMMUNICATION_FAILURE || s == PSA_ERROR_BAD_STATE) {
                printf("secd: lost (PSA status %d)\n", (int) s);
                if ((s = connect_secd(60)) != PSA_SUCCESS)
                        return fail("reconnect", s);
                puts("secd: back");
                s = sign(message, sig, &sig_len);
        }
        if (s != PSA_SUCCESS)
                return fail("sign tick", s);
        printf("tick: %lu signed\n", n);
        return 0;
}

int main(int argc, char **argv)
{
        unsigned long ticks = argc == 3 && strcmp(argv[1], "--ticks") == 0 ? strtoul(argv[2], NULL, 10) : 0;
        if (argc != 1 && argc != 3) {
                fputs("usage: secure-counter [--ticks N]\n", stderr);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        psa_status_t s = connect_secd(20);
        if (s != PSA_SUCCESS)
                return fail("connect to alder-secd (ALDER_SECD_SOCKET)", s);
        if ((s = open_key()) != PSA_SUCCESS)
                return fail("open key 1", s);
        uint8_t pub[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE], sig[PSA_SIGNATURE_MAX_SIZE];
        size_t pub_len, sig_len;
        if ((s = psa_export_public_key(KEY_ID, pub, sizeof(pub), &pub_len)) != PSA_SUCCESS)
                return fail("export public key", s);
        print_hex("public", pub, pub_len);
        unsigned long long n;
        if ((s = count(&n)) != PSA_SUCCESS)
                return fail("count", s);
        printf("counter: %llu\n", n);
        char message[64];
        snprintf(message, sizeof(message), "secure-counter start %llu", n);
        if ((s = sign(message, sig, &sig_len)) != PSA_SUCCESS)
                return fail("sign", s);
        print_hex("signature", sig, sig_len);
        puts("verified\nready");
        for (unsigned long i = 1; i <= ticks; i++) {
                sleep_ms(1000);
                if (tick(i) != 0)
                        return 1;
        }
        return 0;
}
