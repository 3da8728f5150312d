/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup cross-check of app sockets (docs/api/secd.md): which cgroup a
 * peer's process is in, as /proc/PID/cgroup tells, against the prefix
 * alder-appd registered for the app.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alder/cleanup.h"
#include "secd.h"

/*
 * cgroup v1 controllers in the order their line is trusted: the runtime puts
 * a container into every v1 hierarchy it knows, and pids, memory and devices
 * are the ones every runtime knows (the devices controller is the one a v1
 * container cannot do without). Named hierarchies ("name=systemd") are not
 * the runtime's to choose, and the v2 line of a hybrid host may not be used by
 * a v1 runtime at all.
 */
static const char *const v1_controllers[] = {"pids", "memory", "devices", "freezer", "cpu"};

static bool has_controller(const char *list, size_t len, const char *name)
{
        size_t n = strlen(name);
        for (const char *p = list, *end = list + len; p < end;) {
                const char *comma = memchr(p, ',', (size_t) (end - p));
                size_t k = comma ? (size_t) (comma - p) : (size_t) (end - p);
                if (k == n && memcmp(p, name, n) == 0)
                        return true;
                p += k + 1;
        }
        return false;
}

int secd_cgroup_pick(const char *text, char *out, size_t size)
{
        size_t best = ALDER_ARRAY_SIZE(v1_controllers) + 1; /* rank of the line in out: lower is better */
        for (const char *line = text; *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                const char *c1 = memchr(line, ':', len);
                const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t) (c1 + 1 - line)) : NULL;
                if (c2) {
                        const char *ctrl = c1 + 1, *path = c2 + 1;
                        size_t ctrl_len = (size_t) (c2 - ctrl), path_len = len - (size_t) (path - line);
                        size_t rank = ctrl_len == 0 ? ALDER_ARRAY_SIZE(v1_controllers) : best;
                        for (size_t i = 0; i < ALDER_ARRAY_SIZE(v1_controllers) && rank == best; i++)
                                if (has_controller(ctrl, ctrl_len, v1_controllers[i]))
                                        rank = i;
                        if (rank < best) {
                                if (path_len >= size)
                                        return -ENAMETOOLONG;
                                memcpy(out, path, path_len);
                                out[path_len] = '\0';
                                best = rank;
                        }
                }
                line += len + (nl ? 1 : 0);
        }
        return best <= ALDER_ARRAY_SIZE(v1_controllers) ? 0 : -ENOENT;
}

int secd_peer_cgroup(pid_t pid, char *out, size_t size)
{
        char path[64], text[4096];
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        _cleanup_close_ int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd < 0)
                return pid > 0 ? -errno : -ESRCH;
        size_t have = 0;
        for (ssize_t n; have < sizeof(text) - 1; have += (size_t) n) {
                n = read(fd, text + have, sizeof(text) - 1 - have);
                if (n < 0 && errno == EINTR) {
                        n = 0;
                        continue;
                }
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
        }
        text[have] = '\0';
        return secd_cgroup_pick(text, out, size);
}

bool secd_cgroup_matches(const char *cgroup, const char *prefix)
{
        return strncmp(cgroup, prefix, strlen(prefix)) == 0;
}
