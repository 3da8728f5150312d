/* SPDX-License-Identifier: Apache-2.0 */
/* alder-dmc's configuration (device/dmc/config.c): defaults, and every error naming the file and field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/fileio.h"
#include "dmc.h"

static char dir[] = "/tmp/test-dmc-config.XXXXXX";
static char path[64];

static int setup(void **state)
{
        if (!mkdtemp(dir))
                return -1;
        snprintf(path, sizeof(path), "%s/dmc.json", dir);
        return 0;
}

static int teardown(void **state)
{
        return alder_remove_tree(dir, NULL);
}

static int load(const char *json, struct dmc_config *cfg, alder_error **err)
{
        if (alder_write_file_atomic(path, json, strlen(json), 0600, NULL) < 0)
                fail_msg("cannot write %s", path);
        return dmc_config_load(cfg, dir, path, err);
}

static void test_defaults(void **state)
{
        struct dmc_config cfg;
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(load("{\"endpoint\": \"dev-1\", \"server\": {\"uri\": \"coap://127.0.0.1\"}}", &cfg, &err), 0);
        assert_string_equal(cfg.endpoint, "dev-1");
        assert_string_equal(cfg.server.host, "127.0.0.1");
        assert_int_equal(cfg.server.port, 5683);
        assert_int_equal(cfg.server.security, DMC_SEC_NOSEC);
        assert_int_equal(cfg.server.lifetime_s, 300);
        assert_int_equal(cfg.server.short_id, 1);
        assert_string_equal(cfg.server.binding, "U");
        assert_false(cfg.server.queue_mode);
        assert_string_equal(cfg.lwm2m_version, "1.1");
        char want[128];
        snprintf(want, sizeof(want), "%s/run/alder/appd.sock", dir);
        assert_string_equal(cfg.appd_socket, want);
        assert_null(cfg.firmware_ca_file);
        assert_int_equal(cfg.firmware_max_bytes, 1LL << 30);
        dmc_config_done(&cfg);

        assert_int_equal(load("{\"endpoint\": \"dev-1\", \"server\": {\"uri\": \"coap://127.0.0.1\"}, "
                              "\"firmware\": {\"ca_file\": \"/etc/ca.pem\", \"max_bytes\": 4096}}",
                              &cfg, &err),
                         0);
        assert_string_equal(cfg.firmware_ca_file, "/etc/ca.pem");
        assert_int_equal(cfg.firmware_max_bytes, 4096);
        dmc_config_done(&cfg);

        assert_int_equal(
                load("{\"endpoint\": \"dev-1\", \"server\": {\"uri\": \"coaps://[::1]:7000\", "
                     "\"psk_identity\": \"dev-1\", \"psk_key\": \"00A1ff\", \"lifetime\": 60, \"queue_mode\": true}}",
                     &cfg, &err),
                0);
        assert_string_equal(cfg.server.host, "::1");
        assert_int_equal(cfg.server.port, 7000);
        assert_int_equal(cfg.server.security, DMC_SEC_PSK);
        assert_int_equal(cfg.server.psk_key_len, 3);
        assert_memory_equal(cfg.server.psk_key, "\x00\xa1\xff", 3);
        struct dmc_config other;
        assert_int_equal(
                load("{\"endpoint\": \"dev-1\", \"server\": {\"uri\": \"coaps://[::1]:7000\", "
                     "\"psk_identity\": \"dev-1\", \"psk_key\": \"00A1fe\", \"lifetime\": 60, \"queue_mode\": true}}",
                     &other, &err),
                0);
        assert_true(dmc_config_server_changed(&cfg, &other)); /* a new key: a new registration */
        dmc_config_done(&other);
        assert_int_equal(
                load("{\"endpoint\": \"dev-1\", \"server\": {\"uri\": \"coaps://[::1]:7000\", "
                     "\"psk_identity\": \"dev-1\", \"psk_key\": \"00A1ff\", \"lifetime\": 90, \"queue_mode\": true}}",
                     &other, &err),
                0);
        assert_false(dmc_config_server_changed(&cfg, &other)); /* a lifetime: an Update */
        dmc_config_done(&other);
        dmc_config_done(&cfg);
}

/* The message with its first "%s" replaced by the config path and a second by the root. */
static void expand(char *buf, size_t size, const char *msg)
{
        const char *subst[] = {path, dir};
        size_t n = 0, k = 0;
        for (const char *m = msg; *m && n + 1 < size; m++) {
                if (m[0] == '%' && m[1] == 's' && k < 2) {
                        n += (size_t) snprintf(buf + n, size - n, "%s", subst[k++]);
                        m++;
                } else {
                        buf[n++] = *m;
                }
        }
        buf[ALDER_MIN(n, size - 1)] = '\0';
}

static void test_errors(void **state)
{
        static const struct {
                const char *json, *message;
        } cases[] = {
                {"{\"endpoint\": \"a\"}", "%s: field 'server': missing"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"http://x\"}}",
                 "%s: field 'server.uri': 'http://x': scheme 'http' not supported (coap:// or coaps://)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"x:5683\"}}",
                 "%s: field 'server.uri': 'x:5683': scheme missing, not supported (coap:// or coaps://)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h:99999\"}}",
                 "%s: field 'server.uri': 'coap://h:99999': bad port"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h/rd\"}}",
                 "%s: field 'server.uri': 'coap://h/rd': unexpected '/rd' after the host and port (an LwM2M server URI "
                 "has no path or query)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coaps://h\"}}",
                 "%s: field 'server': a coaps:// server needs credentials: psk_identity + psk_key, or certificate + "
                 "private_key + ca"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coaps://h\", \"psk_identity\": \"a\"}}",
                 "%s: field 'server.psk_key': missing (a PSK needs psk_identity and psk_key)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coaps://h\", \"psk_identity\": \"a\", \"psk_key\": "
                 "\"xyz1\"}}",
                 "%s: field 'server.psk_key': not hex"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coaps://h\", \"psk_identity\": \"a\", \"psk_key\": "
                 "\"abc\"}}",
                 "%s: field 'server.psk_key': expected 2 to 128 hex digits (an even number), got 3 characters"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\", \"psk_identity\": \"a\"}}",
                 "%s: field 'server.psk_identity': credentials for a coap:// server would not be used (use coaps://)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coaps://h\", \"certificate\": \"/c\"}}",
                 "%s: field 'server.private_key': missing (X.509 needs certificate, private_key and ca)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coaps://h\", \"certificate\": \"/nonexistent/c\", "
                 "\"private_key\": \"/k\", \"ca\": \"/ca\"}}",
                 "%s: field 'server.certificate': '/nonexistent/c': No such file or directory"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\", \"lifetime\": 0}}",
                 "%s: field 'server.lifetime': 0 is out of range [1, 2147483647]"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\", \"binding\": \"T\"}}",
                 "%s: field 'server.binding': \"T\" is not supported: alder-dmc binds over UDP only (\"U\"); queue "
                 "mode is 'queue_mode'"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\", \"lifetim\": 5}}",
                 "%s: field 'server.lifetim': unknown field"},
                {"{\"endpoint\": \"a b\", \"server\": {\"uri\": \"coap://h\"}}",
                 "%s: field 'endpoint': 'a b': character ' ' not allowed (letters, digits and -._:~)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\"}, \"device\": {\"reboot_command\": "
                 "[\"reboot\"]}}",
                 "%s: field 'device.reboot_command': expected [\"/absolute/program\", args...]"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\"}, \"lwm2m_version\": \"1.2\"}",
                 "%s: field 'lwm2m_version': \"1.1\" or \"1.0\", not \"1.2\""},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\"}, \"retry\": {\"initial_ms\": 5000, "
                 "\"max_ms\": 100}}",
                 "%s: field 'retry.max_ms': 100 is below retry.initial_ms (5000)"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\"}, \"firmware\": {\"ca_file\": \"ca.pem\"}}",
                 "%s: field 'firmware.ca_file': expected an absolute path, got 'ca.pem'"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\"}, \"firmware\": {\"max_bytes\": 10}}",
                 "%s: field 'firmware.max_bytes': 10 is out of range [1024, 1099511627776]"},
                {"{\"endpoint\": \"a\", \"server\": {\"uri\": \"coap://h\"}, \"firmware\": {\"url\": 1}}",
                 "%s: field 'firmware.url': unknown field"},
                {"{\"server\": {\"uri\": \"coap://h\"}}",
                 "%s: field 'endpoint' is not set and there is no machine id to derive it from: open "
                 "'%s/etc/machine-id': No such file or directory"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                struct dmc_config cfg;
                _cleanup_error_ alder_error *err = NULL;
                char name[64], want[512];
                alder_test_case_name(name, i, "%.40s", cases[i].json);
                expand(want, sizeof(want), cases[i].message);
                int r = load(cases[i].json, &cfg, &err);
                int e = alder_error_errno(err);
                alder_test_check_error(name, r, err, e ? e : EINVAL, want);
                dmc_config_done(&cfg);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
