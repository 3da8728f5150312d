/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"
#include "alder/alpkg.h"
#include "alder/fileio.h"
#include "alder/json.h"

static char dir[64], pkg_path[128], rootfs[128], dest[128];
static struct test_identity signer_id, other_id;
static alder_trust_store *trust, *other_trust;

static alder_app_meta *sample_meta(void)
{
        static const char doc[] = "{\"format\":1,\"name\":\"demo\",\"version\":\"2.1.0\",\"arch\":\"arm64\","
                                  "\"runtime\":{\"cmd\":[\"/bin/demo\"]}}";
        json_t *j = NULL;
        alder_app_meta *m = NULL;
        assert_int_equal(alder_json_parse("t", doc, strlen(doc), &j, NULL), 0);
        assert_int_equal(alder_app_meta_from_json(j, "t", &m, NULL), 0);
        json_decref(j);
        return m;
}

static void write_file(const char *rel, const char *content)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", rootfs, rel);
        assert_int_equal(alder_write_file_atomic(p, content, strlen(content), 0755, NULL), 0);
}

static int create_package(const struct test_identity *id, uint64_t sequence, alder_error **err)
{
        _cleanup_app_meta_ alder_app_meta *meta = sample_meta();
        struct alder_cose_signer signer = {.key = id->key, .cert = id->cert};
        alder_alpkg_create_opts o = {.meta = meta, .rootfs_dir = rootfs, .sequence = sequence, .signer = &signer};
        return alder_alpkg_create(&o, pkg_path, NULL, err);
}

static int setup(void **state)
{
        strcpy(dir, "/tmp/alder-test-alpkg-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(pkg_path, sizeof(pkg_path), "%s/demo.alpkg", dir);
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
        snprintf(dest, sizeof(dest), "%s/dest", dir);
        char bin[160];
        snprintf(bin, sizeof(bin), "%s/bin", rootfs);
        assert_int_equal(alder_mkdir_p(bin, 0755, NULL), 0);
        write_file("bin/demo", "#!/bin/sh\necho demo\n");
        assert_int_equal(create_package(&signer_id, 42, NULL), 0);
        return 0;
}

static int teardown(void **state)
{
        return alder_remove_tree(dir, NULL);
}

static int group_setup(void **state)
{
        signer_id = test_identity_new("signer", NULL);
        other_id = test_identity_new("other", NULL);
        assert_int_equal(alder_trust_store_new(&trust, NULL), 0);
        assert_int_equal(alder_trust_store_add(trust, signer_id.cert, NULL), 0);
        assert_int_equal(alder_trust_store_new(&other_trust, NULL), 0);
        assert_int_equal(alder_trust_store_add(other_trust, other_id.cert, NULL), 0);
        return 0;
}

static int group_teardown(void **state)
{
        alder_trust_store_free(trust);
        alder_trust_store_free(other_trust);
        test_identity_done(&signer_id);
        test_identity_done(&other_id);
        return 0;
}

static void test_create_open_unpack(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        alder_alpkg_expect expect = {.arch = "arm64"};
        assert_int_equal(alder_alpkg_open(pkg_path, trust, &expect, &pkg, &err), 0);
        const alder_alpkg_info *i = alder_alpkg_get_info(pkg);
        assert_true(i->verified);
        assert_int_equal(i->sequence, 42);
        assert_string_equal(i->signer.subject, "CN=signer");
        assert_string_equal(alder_alpkg_meta(pkg)->name, "demo");
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        assert_int_equal(alder_alpkg_unpack(pkg, dest, NULL, &stats, &err), 0);
        char p[256];
        snprintf(p, sizeof(p), "%s/bin/demo", dest);
        _cleanup_free_ char *content = NULL;
        assert_int_equal(alder_read_file(p, 1024, &content, NULL, NULL), 0);
        assert_string_equal(content, "#!/bin/sh\necho demo\n");
        /* the payload streams once */
        assert_int_equal(alder_alpkg_check_rootfs(pkg, &err), -EALREADY);
}

static void test_untrusted_signer_is_refused(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_alpkg *pkg = NULL;
        assert_int_equal(alder_alpkg_open(pkg_path, other_trust, NULL, &pkg, &err), -EKEYREJECTED);
        assert_null(pkg);
        assert_non_null(strstr(alder_error_message(err), pkg_path));
}

static void test_wrong_arch_and_vendor(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_alpkg *pkg = NULL;
        alder_alpkg_expect arch = {.arch = "amd64"};
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: package is for arm64, this device is amd64", pkg_path);
        assert_alder_error(alder_alpkg_open(pkg_path, trust, &arch, &pkg, &err), ENOEXEC, msg);
        alder_alpkg_expect vendor = {.vendor_domain = "example.com"};
        alder_error_clear(&err);
        assert_int_equal(alder_alpkg_open(pkg_path, trust, &vendor, &pkg, &err), -ENODEV);
        assert_non_null(strstr(alder_error_message(err), "vendor"));
        assert_null(pkg);
}

/* Rewrites bytes of the package at `offset`. */
static void patch(off_t offset, const void *bytes, size_t n)
{
        int fd = open(pkg_path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, bytes, n, offset), (ssize_t) n);
        close(fd);
}

static void test_header_errors(void **state)
{
        static const struct {
                off_t offset;
                const char *bytes;
                size_t n;
                int errnum;
                const char *suffix;
        } cases[] = {
                {0, "\x89XLPKG", 6, EBADMSG, "not an Alder app package (bad magic)"},
                {8, "\0\0\0\2", 4, ENOTSUP, "package format version 2 is not supported (expected 1)"},
                {12, "\0\0\0\0", 4, EBADMSG, "envelope length 0 is out of range [1, 65536]"},
                {12, "\0\1\0\1", 4, EBADMSG, "envelope length 65537 is out of range [1, 65536]"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                assert_int_equal(create_package(&signer_id, 1, NULL), 0);
                patch(cases[i].offset, cases[i].bytes, cases[i].n);
                _cleanup_error_ alder_error *err = NULL;
                alder_alpkg *pkg = NULL;
                char msg[256];
                snprintf(msg, sizeof(msg), "%s: %s", pkg_path, cases[i].suffix);
                char name[64];
                alder_test_case_name(name, i, "%s", cases[i].suffix);
                int r = alder_alpkg_open(pkg_path, trust, NULL, &pkg, &err);
                alder_test_check_error(name, r, err, cases[i].errnum, msg);
        }
}

static void test_tampered_payload_removes_what_was_unpacked(void **state)
{
        alder_test_flip_last_byte(pkg_path);
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        assert_int_equal(alder_alpkg_open(pkg_path, trust, NULL, &pkg, &err), 0);
        assert_true(alder_alpkg_unpack(pkg, dest, NULL, NULL, &err) < 0);
        assert_int_equal(access(dest, F_OK), -1);
}

static void test_resign_keeps_payload(void **state)
{
        char out[160];
        snprintf(out, sizeof(out), "%s/resigned.alpkg", dir);
        struct alder_cose_signer other = {.key = other_id.key, .cert = other_id.cert};
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_alpkg_resign(pkg_path, &other, out, &err), 0);
        _cleanup_alpkg_ alder_alpkg *a = NULL, *b = NULL;
        assert_int_equal(alder_alpkg_open(pkg_path, trust, NULL, &a, &err), 0);
        assert_int_equal(alder_alpkg_open(out, other_trust, NULL, &b, &err), 0);
        assert_memory_equal(alder_alpkg_get_info(a)->rootfs_digest, alder_alpkg_get_info(b)->rootfs_digest,
                            ALDER_SHA256_LEN);
        assert_int_equal(alder_alpkg_get_info(b)->sequence, 42);
        assert_int_equal(alder_alpkg_check_rootfs(b, &err), 0);
}

static void test_create_requires_signer_and_leaves_nothing(void **state)
{
        _cleanup_app_meta_ alder_app_meta *meta = sample_meta();
        char out[160];
        snprintf(out, sizeof(out), "%s/unsigned.alpkg", dir);
        alder_alpkg_create_opts o = {.meta = meta, .rootfs_dir = rootfs};
        _cleanup_error_ alder_error *err = NULL;
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: a signing key is required", out);
        assert_alder_error(alder_alpkg_create(&o, out, NULL, &err), EINVAL, msg);
        struct alder_cose_signer signer = {.key = signer_id.key, .cert = signer_id.cert};
        o.signer = &signer;
        o.rootfs_dir = "/nonexistent/rootfs";
        alder_error_clear(&err);
        assert_int_equal(alder_alpkg_create(&o, out, NULL, &err), -ENOENT);
        assert_int_equal(access(out, F_OK), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_open_unpack, setup, teardown),
                cmocka_unit_test_setup_teardown(test_untrusted_signer_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_arch_and_vendor, setup, teardown),
                cmocka_unit_test_setup_teardown(test_header_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tampered_payload_removes_what_was_unpacked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resign_keeps_payload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_requires_signer_and_leaves_nothing, setup, teardown),
        };
        return cmocka_run_group_tests_name("alpkg", tests, group_setup, group_teardown);
}
