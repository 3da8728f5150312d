/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/digest.h"

/* FIPS 180-2 test vectors. */
static const struct {
        const char *input;
        const char *hex;
} vectors[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};

static void test_buffer_vectors(void **state)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(vectors); i++) {
                uint8_t d[ALDER_SHA256_LEN];
                char hex[ALDER_SHA256_HEX_LEN + 1];
                assert_int_equal(alder_sha256_buffer(vectors[i].input, strlen(vectors[i].input), d, NULL), 0);
                alder_hex_encode(d, sizeof(d), hex);
                assert_string_equal(hex, vectors[i].hex);
        }
}

static void test_streaming_equals_one_shot_and_reset(void **state)
{
        _cleanup_sha256_ alder_sha256 *h = NULL;
        assert_int_equal(alder_sha256_new(&h, NULL), 0);
        const char *s = vectors[2].input;
        for (size_t i = 0; s[i]; i++)
                alder_sha256_update(h, s + i, 1);
        uint8_t a[ALDER_SHA256_LEN], b[ALDER_SHA256_LEN];
        assert_int_equal(alder_sha256_final(h, a, NULL), 0);
        assert_int_equal(alder_sha256_buffer(s, strlen(s), b, NULL), 0);
        assert_memory_equal(a, b, sizeof(a));
        assert_int_equal(alder_sha256_reset(h, NULL), 0);
        alder_sha256_update(h, "abc", 3);
        assert_int_equal(alder_sha256_final(h, a, NULL), 0);
        uint8_t abc[ALDER_SHA256_LEN];
        assert_int_equal(alder_hex_decode(vectors[1].hex, abc, sizeof(abc)), 0);
        assert_memory_equal(a, abc, sizeof(a));
}

static void test_file_digest_and_size(void **state)
{
        char path[] = "/tmp/alder-test-digest-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        /* larger than the read buffer, so the loop runs several times */
        size_t n = 200 * 1024 + 7;
        char *buf = malloc(n);
        for (size_t i = 0; i < n; i++)
                buf[i] = (char) (i * 31);
        assert_int_equal(write(fd, buf, n), (ssize_t) n);
        close(fd);
        uint8_t a[ALDER_SHA256_LEN], b[ALDER_SHA256_LEN];
        uint64_t size = 0;
        assert_int_equal(alder_sha256_file(path, a, &size, NULL), 0);
        assert_int_equal(size, n);
        assert_int_equal(alder_sha256_buffer(buf, n, b, NULL), 0);
        assert_memory_equal(a, b, sizeof(a));
        free(buf);
        unlink(path);

        _cleanup_error_ alder_error *err = NULL;
        char expected[128];
        snprintf(expected, sizeof(expected), "open '%s': %s", path, strerror(ENOENT));
        assert_alder_error(alder_sha256_file(path, a, &size, &err), ENOENT, expected);
}

static void test_hex_decode_rejects_bad_input(void **state)
{
        uint8_t out[2];
        assert_int_equal(alder_hex_decode("0aFf", out, 2), 0);
        assert_int_equal(out[0], 0x0a);
        assert_int_equal(out[1], 0xff);
        assert_int_equal(alder_hex_decode("0aF", out, 2), -EINVAL);
        assert_int_equal(alder_hex_decode("0aFf0", out, 2), -EINVAL);
        assert_int_equal(alder_hex_decode("0g00", out, 2), -EINVAL);
        assert_int_equal(alder_hex_decode("", out, 0), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_buffer_vectors),
                cmocka_unit_test(test_streaming_equals_one_shot_and_reset),
                cmocka_unit_test(test_file_digest_and_size),
                cmocka_unit_test(test_hex_decode_rejects_bad_input),
        };
        return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
