/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "alder/uuid.h"

static void test_v5_known_value(void **state)
{
        /* Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org") = 886313e1-3b8a-5372-9b90-0c9aee199e5d */
        uint8_t u[ALDER_UUID_LEN];
        char s[ALDER_UUID_STRING_LEN + 1];
        assert_int_equal(alder_uuid_v5(alder_uuid_namespace_dns, "python.org", u, NULL), 0);
        alder_uuid_format(u, s);
        assert_string_equal(s, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

static void test_v5_chained_namespaces(void **state)
{
        /* uuid5(uuid5(NAMESPACE_DNS, "alder.invalid"), "app/hello-world/arm64") */
        uint8_t vendor[ALDER_UUID_LEN], cls[ALDER_UUID_LEN];
        char s[ALDER_UUID_STRING_LEN + 1];
        assert_int_equal(alder_uuid_v5(alder_uuid_namespace_dns, "alder.invalid", vendor, NULL), 0);
        alder_uuid_format(vendor, s);
        assert_string_equal(s, "a513239a-d365-5555-90c9-866c7be09de9");
        assert_int_equal(alder_uuid_v5(vendor, "app/hello-world/arm64", cls, NULL), 0);
        alder_uuid_format(cls, s);
        assert_string_equal(s, "1829721f-533d-52fa-ae8b-cf16c1ecfe23");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_v5_known_value),
                cmocka_unit_test(test_v5_chained_namespaces),
        };
        return cmocka_run_group_tests_name("uuid", tests, NULL, NULL);
}
