/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the cmocka unit tests. Include after <cmocka.h>.
 */
#pragma once

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "alder/error.h"

/*
 * Checks that a call failed with -errnum and the exact message a user would
 * read. `what` names the call or the table row in the failure report, so a
 * table-driven test says which of its cases broke.
 */
static inline void alder_test_check_error(const char *what, int r, alder_error *err, int errnum, const char *expected)
{
        if (r != -errnum)
                fail_msg("%s: returned %d, expected %d (message: %s)", what, r, -errnum,
                         err ? alder_error_message(err) : "none");
        if (!err)
                fail_msg("%s: returned %d but set no error", what, r);
        if (strcmp(alder_error_message(err), expected) != 0)
                fail_msg("%s: wrong message\n  got:      %s\n  expected: %s", what, alder_error_message(err), expected);
}

/*
 * Runs a call that must fail and checks its negative errno and the exact
 * message a user would read. Uses (and first clears) a variable `err` of type
 * alder_error * in the calling scope.
 */
#define assert_alder_error(call, errnum, expected)                                       \
        do {                                                                             \
                alder_error_clear(&err);                                                 \
                int alder_test_r_ = (call);                                              \
                alder_test_check_error(#call, alder_test_r_, err, (errnum), (expected)); \
        } while (0)

/* "case 3 (field 'x')": the name of table row i in failure reports. */
#define alder_test_case_name(buf, i, fmt, ...) \
        snprintf((buf), sizeof(buf), "case %zu (" fmt ")", (size_t) (i), __VA_ARGS__)

/* Parses JSON test input that must be valid (jansson directly: the code under test may be alder_json_*). */
static inline json_t *alder_test_json(const char *text)
{
        json_error_t jerr;
        json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!v)
                fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
        return v;
}

/* Asserts that two JSON values are equal (NULL equals only NULL), showing both when not. */
static inline void alder_test_check_json(const char *what, const json_t *got, const json_t *expected)
{
        if (!got && !expected)
                return;
        if (got && expected && json_equal(got, expected))
                return;
        char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
        char *e = expected ? json_dumps(expected, JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
        fail_msg("%s: got %s, expected %s", what, g ? g : "nothing", e ? e : "nothing");
}

/* Inverts the last byte of a file (tampering with the end of a payload). */
static inline void alder_test_flip_last_byte(const char *path)
{
        FILE *f = fopen(path, "r+b");
        if (!f || fseek(f, -1, SEEK_END) != 0)
                fail_msg("cannot open '%s' for tampering", path);
        int c = fgetc(f);
        if (c == EOF || fseek(f, -1, SEEK_END) != 0 || fputc(c ^ 0xff, f) == EOF)
                fail_msg("cannot tamper with '%s'", path);
        fclose(f);
}
