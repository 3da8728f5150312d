/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "alder-test.h"
#include "hub.h"

static void check(const char *what, json_t *got, const char *expected)
{
        json_t *want = alder_test_json(expected);
        alder_test_check_json(what, got, want);
        json_decref(want);
        json_decref(got);
}

static void test_queue(void **state)
{
        dm_hub *h;
        assert_int_equal(dm_hub_new(8, &h), 0);
        uint64_t upto;
        assert_null(dm_hub_queue_wait(h, 0, 10, true, &upto));
        dm_hub_push(h, DM_EV_REGISTRATION, json_pack("{ss}", "ep", "a"));
        dm_hub_push(h, DM_EV_DEREGISTRATION, json_string("a"));
        dm_hub_push(h, DM_EV_REGISTRATION, json_pack("{ss}", "ep", "b"));
        /* Without commit the events stay (a webhook that failed delivers them again). */
        check("peek", dm_hub_queue_wait(h, 0, 2, false, &upto),
              "{\"registrations\":[{\"ep\":\"a\"}],\"de-registrations\":[\"a\"]}");
        assert_int_equal(upto, 2);
        check("again", dm_hub_queue_wait(h, 0, 10, false, &upto),
              "{\"registrations\":[{\"ep\":\"a\"},{\"ep\":\"b\"}],\"de-registrations\":[\"a\"]}");
        dm_hub_queue_commit(h, 2);
        check("take", dm_hub_queue_wait(h, 0, 10, true, &upto), "{\"registrations\":[{\"ep\":\"b\"}]}");
        assert_null(dm_hub_queue_wait(h, 0, 10, true, &upto));
        dm_hub_free(h);
}

static void test_ring_drops_the_oldest(void **state)
{
        dm_hub *h;
        assert_int_equal(dm_hub_new(4, &h), 0);
        for (int i = 0; i < 6; i++)
                dm_hub_push(h, DM_EV_EXPIRED, json_integer(i));
        assert_int_equal(dm_hub_dropped(h), 2);
        uint64_t upto;
        check("what is left", dm_hub_queue_wait(h, 0, 10, true, &upto), "{\"registrations-expired\":[2,3,4,5]}");
        dm_hub_free(h);
}

static void test_streams(void **state)
{
        dm_hub *h;
        assert_int_equal(dm_hub_new(4, &h), 0);
        dm_hub_push(h, DM_EV_NOTIFICATION, json_integer(0));
        uint64_t now = dm_hub_stream_start(h, -1), resumed = dm_hub_stream_start(h, -1);
        assert_int_equal(now, 1); /* only what comes next */
        dm_hub_push(h, DM_EV_ASYNC_RESPONSE, json_integer(1));
        enum dm_event_kind kind;
        check("next", dm_hub_stream_next(h, &now, 0, &kind), "{\"async-responses\":[1]}");
        assert_int_equal(kind, DM_EV_ASYNC_RESPONSE);
        assert_null(dm_hub_stream_next(h, &now, 0, &kind));
        /* Streams are independent of each other and of the queue. */
        check("second stream", dm_hub_stream_next(h, &resumed, 0, &kind), "{\"async-responses\":[1]}");
        uint64_t upto;
        check("queue", dm_hub_queue_wait(h, 0, 10, true, &upto), "{\"notifications\":[0],\"async-responses\":[1]}");
        /* Last-Event-ID 0 resumes at event 1; an id no longer buffered starts now. */
        uint64_t c = dm_hub_stream_start(h, 0);
        assert_int_equal(c, 1);
        for (int i = 2; i < 8; i++)
                dm_hub_push(h, DM_EV_NOTIFICATION, json_integer(i));
        assert_int_equal(dm_hub_stream_start(h, 0), 8);
        /* A stream that fell behind the ring skips to its oldest event. */
        check("behind", dm_hub_stream_next(h, &c, 0, &kind), "{\"notifications\":[4]}");
        dm_hub_stop(h);
        assert_true(dm_hub_stopped(h));
        uint64_t end = 8;
        assert_null(dm_hub_stream_next(h, &end, 10000, &kind)); /* at once */
        dm_hub_free(h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_queue),
                cmocka_unit_test(test_ring_drops_the_oldest),
                cmocka_unit_test(test_streams),
        };
        return cmocka_run_group_tests_name("dm-hub", tests, NULL, NULL);
}
