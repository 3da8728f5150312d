/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"
#include "alder/alupd.h"
#include "alder/fileio.h"
#include "alder/slot.h"

#define IMAGE_SIZE (300 * 1024 + 7)

static char *dir;
static char image[256], bundle[256], work[256], slot_path[256];
static struct test_identity signer_id, other_id;
static alder_trust_store *trust;
static uint8_t *image_bytes;

static int create_bundle(const char *out, const char *product, uint64_t sequence, const struct test_identity *id)
{
        struct alder_cose_signer signer = {.key = id->key, .cert = id->cert};
        alder_alupd_create_opts o = {
                .product = product, .version = "1.0.0", .image = image, .sequence = sequence, .signer = &signer};
        _cleanup_error_ alder_error *err = NULL;
        int r = alder_alupd_create(&o, out, NULL, &err);
        if (r < 0)
                fail_msg("create %s: %s", out, alder_error_message(err));
        return r;
}

static int group_setup(void **state)
{
        signer_id = test_identity_new("signer", NULL);
        other_id = test_identity_new("other", NULL);
        assert_int_equal(alder_trust_store_new(&trust, NULL), 0);
        assert_int_equal(alder_trust_store_add(trust, signer_id.cert, NULL), 0);
        dir = test_tmpdir();
        snprintf(image, sizeof(image), "%s/rootfs.img", dir);
        snprintf(bundle, sizeof(bundle), "%s/b.alupd", dir);
        snprintf(work, sizeof(work), "%s/work.alupd", dir);
        snprintf(slot_path, sizeof(slot_path), "%s/slot", dir);
        image_bytes = malloc(IMAGE_SIZE);
        for (size_t i = 0; i < IMAGE_SIZE; i++)
                image_bytes[i] = (uint8_t) (i < IMAGE_SIZE / 2 ? (size_t) random() : i / 1000);
        assert_int_equal(alder_write_file_atomic(image, image_bytes, IMAGE_SIZE, 0644, NULL), 0);
        return create_bundle(bundle, "board", 50, &signer_id);
}

static int group_teardown(void **state)
{
        test_rm_rf(dir);
        free(dir);
        free(image_bytes);
        alder_trust_store_free(trust);
        test_identity_done(&signer_id);
        test_identity_done(&other_id);
        return 0;
}

/* ---- a memory sink ----------------------------------------------------------- */

struct mem_sink {
        uint8_t *buf;
        size_t len, cap;
        uint64_t declared;
};

static int mem_begin(void *ctx, uint64_t size, alder_error **err)
{
        struct mem_sink *m = ctx;
        m->declared = size;
        m->cap = (size_t) size;
        m->buf = malloc(m->cap ? m->cap : 1);
        return m->buf ? 0 : alder_error_set(err, ENOMEM, "oom");
}

static int mem_write(void *ctx, const void *buf, size_t len, alder_error **err)
{
        struct mem_sink *m = ctx;
        assert_true(m->len + len <= m->cap);
        memcpy(m->buf + m->len, buf, len);
        m->len += len;
        return 0;
}

static void test_round_trip(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_alupd_ alder_alupd *b = NULL;
        alder_alupd_expect expect = {.product = "board", .min_sequence = 50};
        assert_int_equal(alder_alupd_open(bundle, trust, &expect, &b, &err), 0);
        const alder_alupd_info *i = alder_alupd_get_info(b);
        assert_true(i->verified);
        assert_int_equal(i->sequence, 50);
        assert_string_equal(i->product, "board");
        assert_string_equal(i->version, "1.0.0");
        assert_int_equal(i->n_components, 1);
        assert_string_equal(i->components[0].uri, ALDER_ALUPD_ROOTFS_URI);
        struct mem_sink m = {0};
        alder_alupd_sink sink = {.begin = mem_begin, .write = mem_write, .ctx = &m};
        assert_int_equal(alder_alupd_stream_image(b, &sink, &err), 0);
        assert_int_equal(alder_alupd_check_rest(b, &err), 0);
        assert_int_equal(m.declared, IMAGE_SIZE);
        assert_int_equal(m.len, IMAGE_SIZE);
        assert_memory_equal(m.buf, image_bytes, IMAGE_SIZE);
        assert_int_equal(i->image_size, IMAGE_SIZE);
        free(m.buf);
        /* once only */
        assert_int_equal(alder_alupd_stream_image(b, NULL, &err), -EALREADY);
}

/* The boot files: component 1, streamed after the image, or checked (decompressed) by check_rest. */
static void test_boot_component(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        char fit[300], with_boot[300];
        snprintf(fit, sizeof(fit), "%s/fit.itb", dir);
        snprintf(with_boot, sizeof(with_boot), "%s/boot.alupd", dir);
        uint8_t fit_bytes[5000];
        for (size_t i = 0; i < sizeof(fit_bytes); i++)
                fit_bytes[i] = (uint8_t) (i % 251);
        assert_int_equal(alder_write_file_atomic(fit, fit_bytes, sizeof(fit_bytes), 0644, NULL), 0);
        struct alder_cose_signer signer = {.key = signer_id.key, .cert = signer_id.cert};
        alder_alupd_create_opts o = {
                .product = "board", .version = "2.0.0", .image = image, .boot = fit, .sequence = 60, .signer = &signer};
        alder_alupd_info created;
        assert_int_equal(alder_alupd_create(&o, with_boot, &created, &err), 0);
        assert_true(created.has_boot);
        assert_int_equal(created.boot_size, sizeof(fit_bytes));
        assert_int_equal(created.n_components, 2);
        for (int streamed = 0; streamed < 2; streamed++) {
                _cleanup_alupd_ alder_alupd *b = NULL;
                assert_int_equal(alder_alupd_open(with_boot, trust, NULL, &b, &err), 0);
                const alder_alupd_info *i = alder_alupd_get_info(b);
                assert_true(i->has_boot);
                assert_string_equal(i->components[1].uri, ALDER_ALUPD_BOOT_URI);
                assert_string_equal(i->components[1].id, "['alder','boot','fit']");
                assert_int_equal(alder_alupd_stream_boot(b, NULL, &err), -EINVAL); /* the image comes first */
                alder_error_clear(&err);
                assert_int_equal(alder_alupd_stream_image(b, NULL, &err), 0);
                struct mem_sink m = {0};
                alder_alupd_sink sink = {.begin = mem_begin, .write = mem_write, .ctx = &m};
                if (streamed) {
                        assert_int_equal(alder_alupd_stream_boot(b, &sink, &err), 0);
                        assert_int_equal(m.len, sizeof(fit_bytes));
                        assert_memory_equal(m.buf, fit_bytes, sizeof(fit_bytes));
                        assert_int_equal(alder_alupd_stream_boot(b, NULL, &err), -EALREADY);
                        alder_error_clear(&err);
                }
                assert_int_equal(alder_alupd_check_rest(b, &err), 0);
                assert_int_equal(i->boot_size, sizeof(fit_bytes));
                free(m.buf);
        }
        /* A bundle without boot files says so. */
        _cleanup_alupd_ alder_alupd *plain = NULL;
        assert_int_equal(alder_alupd_open(bundle, trust, NULL, &plain, &err), 0);
        assert_false(alder_alupd_get_info(plain)->has_boot);
        assert_int_equal(alder_alupd_stream_image(plain, NULL, &err), 0);
        assert_int_equal(alder_alupd_stream_boot(plain, NULL, &err), -ENOENT);
        assert_non_null(strstr(alder_error_message(err), "carries no boot files"));
        alder_error_clear(&err);
        /* A flipped byte at the end of the boot payload is caught when it is checked. */
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(alder_read_file(with_boot, 1 << 24, &data, &len, NULL), 0);
        data[len - 3] ^= 0x40;
        assert_int_equal(alder_write_file_atomic(work, data, len, 0644, NULL), 0);
        _cleanup_alupd_ alder_alupd *bad = NULL;
        assert_int_equal(alder_alupd_open(work, trust, NULL, &bad, &err), 0);
        assert_int_equal(alder_alupd_stream_image(bad, NULL, &err), 0);
        assert_int_equal(alder_alupd_check_rest(bad, &err), -EBADMSG);
        assert_non_null(strstr(alder_error_message(err), "boot files"));
        /* Seven app packages do not fit beside the boot files. */
        const char *apps[ALDER_ALUPD_MAX_APPS] = {image, image, image, image, image, image, image};
        o.apps = apps;
        o.n_apps = ALDER_ALUPD_MAX_APPS;
        alder_error_clear(&err);
        assert_int_equal(alder_alupd_create(&o, work, NULL, &err), -E2BIG);
        assert_non_null(strstr(alder_error_message(err), "at most 6 app packages beside the boot files"));
}

static void test_resign(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_cose_signer signer = {.key = other_id.key, .cert = other_id.cert};
        assert_int_equal(alder_alupd_resign(bundle, &signer, work, &err), 0);
        _cleanup_alupd_ alder_alupd *b = NULL;
        alder_alupd_expect expect = {.product = "board"};
        assert_int_equal(alder_alupd_open(work, trust, &expect, &b, &err), -EKEYREJECTED);
}

/* ---- refusals ------------------------------------------------------------------ */

enum mutation { NONE, TRUNCATE_PAYLOAD, FLIP_PAYLOAD, APPEND, BAD_MAGIC, BAD_VERSION, TRUNCATE_ENVELOPE };

struct refusal {
        const char *name;
        enum mutation mutate;
        const char *product;   /* the device's */
        uint64_t min_sequence; /* the device's */
        const struct test_identity *signer;
        int errnum;
        const char *message; /* a substring of the error */
        bool at_open;        /* refused before a payload byte is read */
};

static void mutate_file(const char *path, enum mutation m)
{
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(alder_read_file(path, 64u << 20, &data, &len, NULL), 0);
        switch (m) {
        case TRUNCATE_PAYLOAD:
                len -= 1000;
                break;
        case FLIP_PAYLOAD:
                data[len - 100] ^= 0x01;
                break;
        case APPEND:
                data = realloc(data, len + 1);
                data[len++] = 'x';
                break;
        case BAD_MAGIC:
                data[1] = 'X';
                break;
        case BAD_VERSION:
                data[11] = 2;
                break;
        case TRUNCATE_ENVELOPE:
                len = 100;
                break;
        case NONE:
                break;
        }
        assert_int_equal(alder_write_file_atomic(path, data, len, 0644, NULL), 0);
        free(data);
}

static int copy_file(const char *from, const char *to)
{
        char *data = NULL;
        size_t len = 0;
        int r = alder_read_file(from, 64u << 20, &data, &len, NULL);
        if (r == 0)
                r = alder_write_file_atomic(to, data, len, 0644, NULL);
        free(data);
        return r;
}

static void check_refusal(const struct refusal *row)
{
        _cleanup_error_ alder_error *err = NULL;
        if (row->signer)
                create_bundle(work, "board", 50, row->signer);
        else
                assert_int_equal(copy_file(bundle, work), 0);
        mutate_file(work, row->mutate);
        _cleanup_alupd_ alder_alupd *b = NULL;
        alder_alupd_expect expect = {.product = row->product, .min_sequence = row->min_sequence};
        int r = alder_alupd_open(work, trust, &expect, &b, &err);
        if (r == 0) {
                assert_false(row->at_open);
                r = alder_alupd_stream_image(b, NULL, &err);
                if (r == 0)
                        r = alder_alupd_check_rest(b, &err);
        }
        if (r != -row->errnum || !err || !strstr(alder_error_message(err), row->message))
                fail_msg("%s: got %d (%s), expected -%d containing '%s'", row->name, r,
                         err ? alder_error_message(err) : "no error", row->errnum, row->message);
}

static void test_refusals(void **state)
{
        static const struct refusal rows[] = {
                {"unknown key", NONE, "board", 0, &other_id, EKEYREJECTED, "", true},
                {"wrong class-id", NONE, "other-board", 0, NULL, ENODEV, "check-class-identifier failed", true},
                {"lower sequence", NONE, "board", 51, NULL, ESTALE, "lower than the installed 51", true},
                {"truncated payload", TRUNCATE_PAYLOAD, "board", 0, NULL, EBADMSG, "truncated: the image ends", false},
                {"digest mismatch", FLIP_PAYLOAD, "board", 0, NULL, EBADMSG, "", false},
                {"trailing bytes", APPEND, "board", 0, NULL, EBADMSG, "unexpected bytes after", false},
                {"bad magic", BAD_MAGIC, "board", 0, NULL, EBADMSG, "not an Alder update bundle (bad magic)", true},
                {"format version", BAD_VERSION, "board", 0, NULL, ENOTSUP, "bundle format version 2", true},
                {"truncated envelope", TRUNCATE_ENVELOPE, "board", 0, NULL, EBADMSG, "truncated: SUIT envelope", true},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(rows); i++)
                check_refusal(&rows[i]);
}

static void test_digest_mismatch_named(void **state)
{
        /* A flipped byte that zstd's own checks let through is caught by the signed digest. */
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(copy_file(bundle, work), 0);
        mutate_file(work, FLIP_PAYLOAD);
        _cleanup_alupd_ alder_alupd *b = NULL;
        assert_int_equal(alder_alupd_open(work, trust, NULL, &b, &err), 0);
        int r = alder_alupd_stream_image(b, NULL, &err);
        assert_int_equal(r, -EBADMSG);
        assert_true(strstr(alder_error_message(err), "digest") || strstr(alder_error_message(err), "decompress"));
}

static int slot_begin(void *ctx, uint64_t size, alder_error **err)
{
        return alder_slot_reserve(ctx, size, err);
}

static void test_slot_too_small(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        int fd = open(slot_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, IMAGE_SIZE - 1), 0);
        close(fd);
        _cleanup_slot_ alder_slot *slot = NULL;
        assert_int_equal(alder_slot_open(slot_path, &slot, &err), 0);
        _cleanup_alupd_ alder_alupd *b = NULL;
        assert_int_equal(alder_alupd_open(bundle, trust, NULL, &b, &err), 0);
        alder_alupd_sink sink = {.begin = slot_begin, .write = mem_write, .ctx = slot};
        assert_int_equal(alder_alupd_stream_image(b, &sink, &err), -ENOSPC);
        assert_non_null(strstr(alder_error_message(err), "does not fit slot"));
        assert_int_equal(alder_slot_written(slot), 0);
}

static void test_create_refusals(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_cose_signer signer = {.key = signer_id.key, .cert = signer_id.cert};
        alder_alupd_create_opts o = {.product = "Bad_Name", .version = "1", .image = image, .signer = &signer};
        assert_int_equal(alder_alupd_create(&o, work, NULL, &err), -EINVAL);
        o.product = "board";
        o.signer = NULL;
        assert_int_equal(alder_alupd_create(&o, work, NULL, &err), -EINVAL);
        o.signer = &signer;
        o.image_payload = image; /* not a zstd frame, and both given */
        assert_int_equal(alder_alupd_create(&o, work, NULL, &err), -EINVAL);
        o.image = NULL;
        assert_int_equal(alder_alupd_create(&o, work, NULL, &err), -EBADMSG);
        assert_non_null(strstr(alder_error_message(err), "not a zstd frame"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_resign),
                cmocka_unit_test(test_refusals),       cmocka_unit_test(test_digest_mismatch_named),
                cmocka_unit_test(test_slot_too_small), cmocka_unit_test(test_create_refusals),
                cmocka_unit_test(test_boot_component),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
