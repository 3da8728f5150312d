/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alder/error.h"

static int fail_open(const char *path, alder_error **err)
{
        return alder_error_sys(err, ENOENT, "open '%s'", path);
}

static int load_config(alder_error **err)
{
        int r = fail_open("/config/device.json", err);
        if (r < 0)
                return alder_error_wrap(err, "load device config");
        return 0;
}

static void test_set_returns_negative_errno(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_error_set(&err, EPERM, "not allowed: %d", 7), -EPERM);
        assert_int_equal(alder_error_errno(err), EPERM);
        assert_string_equal(alder_error_message(err), "not allowed: 7");
}

static void test_sign_of_errno_is_ignored(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_error_set(&err, -EACCES, "x"), -EACCES);
        assert_int_equal(alder_error_errno(err), EACCES);
}

static void test_zero_errno_becomes_einval(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_error_set(&err, 0, "bad input"), -EINVAL);
        assert_int_equal(alder_error_errno(err), EINVAL);
}

static void test_sys_appends_strerror(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        fail_open("/nope", &err);
        char expected[128];
        snprintf(expected, sizeof(expected), "open '/nope': %s", strerror(ENOENT));
        assert_string_equal(alder_error_message(err), expected);
}

static void test_wrap_builds_chain_outermost_first(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(load_config(&err), -ENOENT);
        assert_int_equal(alder_error_wrap(&err, "start alder-appd"), -ENOENT);

        assert_int_equal(alder_error_depth(err), 3);
        assert_string_equal(alder_error_part(err, 0), "start alder-appd");
        assert_string_equal(alder_error_part(err, 1), "load device config");
        assert_null(alder_error_part(err, 3));

        char expected[256];
        snprintf(expected, sizeof(expected), "start alder-appd: load device config: open '/config/device.json': %s",
                 strerror(ENOENT));
        assert_string_equal(alder_error_message(err), expected);
        /* the errno of the innermost failure survives wrapping */
        assert_int_equal(alder_error_errno(err), ENOENT);
}

static void test_message_cache_is_refreshed_after_wrap(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_error_set(&err, EIO, "inner");
        assert_string_equal(alder_error_message(err), "inner");
        alder_error_wrap(&err, "outer");
        assert_string_equal(alder_error_message(err), "outer: inner");
}

static void test_wrap_without_error_creates_one(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        assert_int_equal(alder_error_wrap(&err, "context only"), -EIO);
        assert_non_null(err);
        assert_string_equal(alder_error_message(err), "context only");
}

static void test_null_err_is_allowed(void **state)
{
        assert_int_equal(alder_error_set(NULL, ENOSPC, "disk full"), -ENOSPC);
        assert_int_equal(alder_error_wrap(NULL, "ctx"), -EIO);
        assert_int_equal(alder_error_errno(NULL), 0);
        assert_int_equal(alder_error_depth(NULL), 0);
        assert_string_equal(alder_error_message(NULL), "(no error)");
        alder_error_free(NULL);
        alder_error_clear(NULL);
}

static void test_set_replaces_previous_error(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_error_set(&err, EIO, "first");
        alder_error_set(&err, EBUSY, "second");
        assert_int_equal(alder_error_errno(err), EBUSY);
        assert_string_equal(alder_error_message(err), "second");
        assert_int_equal(alder_error_depth(err), 1);
}

/* The old error is still readable while the new message is formatted: callers pass it in. */
static void test_set_may_quote_the_error_it_replaces(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_error_set(&err, EIO, "inner cause");
        alder_error_wrap(&err, "context");
        assert_int_equal(alder_error_set(&err, EBUSY, "retry failed (%s)", alder_error_message(err)), -EBUSY);
        assert_string_equal(alder_error_message(err), "retry failed (context: inner cause)");
        assert_int_equal(alder_error_sys(&err, ENOENT, "again: %s", alder_error_part(err, 0)), -ENOENT);
        char expected[128];
        snprintf(expected, sizeof(expected), "again: retry failed (context: inner cause): %s", strerror(ENOENT));
        assert_string_equal(alder_error_message(err), expected);
}

static void test_clear_resets_pointer(void **state)
{
        alder_error *err = NULL;
        alder_error_set(&err, EIO, "x");
        alder_error_clear(&err);
        assert_null(err);
}

static void test_long_message_is_kept_whole(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        char big[5000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        alder_error_set(&err, EIO, "%s", big);
        alder_error_wrap(&err, "ctx");
        assert_int_equal(strlen(alder_error_message(err)), strlen(big) + 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set_returns_negative_errno),
                cmocka_unit_test(test_sign_of_errno_is_ignored),
                cmocka_unit_test(test_zero_errno_becomes_einval),
                cmocka_unit_test(test_sys_appends_strerror),
                cmocka_unit_test(test_wrap_builds_chain_outermost_first),
                cmocka_unit_test(test_message_cache_is_refreshed_after_wrap),
                cmocka_unit_test(test_wrap_without_error_creates_one),
                cmocka_unit_test(test_null_err_is_allowed),
                cmocka_unit_test(test_set_replaces_previous_error),
                cmocka_unit_test(test_set_may_quote_the_error_it_replaces),
                cmocka_unit_test(test_clear_resets_pointer),
                cmocka_unit_test(test_long_message_is_kept_whole),
        };
        return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
