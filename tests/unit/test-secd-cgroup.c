/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup cross-check of alder-secd's app sockets (device/secd/cgroup.c):
 * which line of /proc/PID/cgroup names a process's cgroup on cgroup v1,
 * hybrid and v2 hosts, and the prefix match.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secd.h"

static void pick_ok(const char *text, const char *want)
{
        char out[256];
        int r = secd_cgroup_pick(text, out, sizeof(out));
        if (r != 0)
                fail_msg("%s: %d", text, r);
        assert_string_equal(out, want);
}

static void test_v2(void **state)
{
        pick_ok("0::/alder/hello.3.1\n", "/alder/hello.3.1");
        pick_ok("0::/\n", "/");
        pick_ok("0::/alder/hello.3.1", "/alder/hello.3.1"); /* no final newline */
}

/* A v1 runtime (runc with cgroupfs) on a hybrid host: the unified line is not its. */
static void test_hybrid_takes_a_v1_controller(void **state)
{
        pick_ok("9:name=systemd:/user.slice\n8:pids:/alder/a.1.2\n4:memory:/alder/a.1.2\n0::/user.slice\n",
                "/alder/a.1.2");
        /* pids first, wherever it stands */
        pick_ok("4:memory:/m\n3:cpu,cpuacct:/c\n8:pids:/p\n0::/u\n", "/p");
        /* without pids: memory, then devices; joined controllers count */
        pick_ok("3:cpu,cpuacct:/c\n5:devices:/d\n7:blkio:/b\n0::/u\n", "/d");
        pick_ok("3:cpu,cpuacct:/c\n7:blkio:/b\n", "/c");
}

static void test_nothing_usable(void **state)
{
        char out[64];
        assert_int_equal(secd_cgroup_pick("", out, sizeof(out)), -ENOENT);
        assert_int_equal(secd_cgroup_pick("1:name=systemd:/x\n7:blkio:/b\n", out, sizeof(out)), -ENOENT);
        assert_int_equal(secd_cgroup_pick("garbage\n", out, sizeof(out)), -ENOENT);
        assert_int_equal(secd_cgroup_pick("0::/a/very/long/path/that/does/not/fit\n", out, 8), -ENAMETOOLONG);
}

static void test_prefix(void **state)
{
        assert_true(secd_cgroup_matches("/alder/a.1.2", "/alder/a."));
        assert_false(secd_cgroup_matches("/alder/ab.1.2", "/alder/a."));
        assert_false(secd_cgroup_matches("/alder/a-b.1.2", "/alder/a."));
        assert_false(secd_cgroup_matches("/", "/alder/a."));
}

/* This test's own process: whatever the host, its /proc/self/cgroup has a usable line. */
static void test_own_process(void **state)
{
        char out[1025];
        assert_int_equal(secd_peer_cgroup(getpid(), out, sizeof(out)), 0);
        assert_int_equal(out[0], '/');
        assert_int_equal(secd_peer_cgroup(0, out, sizeof(out)), -ESRCH);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_v2),
                cmocka_unit_test(test_hybrid_takes_a_v1_controller),
                cmocka_unit_test(test_nothing_usable),
                cmocka_unit_test(test_prefix),
                cmocka_unit_test(test_own_process),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
