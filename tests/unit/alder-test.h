/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the cmocka unit tests. Include after <cmocka.h>.
 */
#pragma once

#include "alder/error.h"

/*
 * Runs a call that must fail and checks its negative errno and the exact
 * message a user would read. Uses (and first clears) a variable `err` of type
 * alder_error * in the calling scope.
 */
#define assert_alder_error(call, errnum, expected)                         \
        do {                                                               \
                alder_error_clear(&err);                                   \
                assert_int_equal((call), -(errnum));                       \
                assert_string_equal(alder_error_message(err), (expected)); \
        } while (0)
