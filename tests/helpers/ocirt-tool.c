/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocirt-tool: a thin CLI over lib/ocirt.c for tests/system/test_ocirt.py.
 *
 *     ocirt-tool [--runtime crun|runc] --root DIR COMMAND [ARG]...
 *
 * Results are printed as one JSON document on stdout. Failure: "ocirt-tool:
 * ERRNONAME: message" on stderr, exit 1; bad usage: exit 2.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/json.h"
#include "alder/ocirt.h"

static const char usage_text[] =
        "usage: ocirt-tool [--runtime crun|runc] --root DIR COMMAND [ARG]...\n"
        "\n"
        "Commands (each prints a JSON result):\n"
        "  info                              runtime name, path and version\n"
        "  run-detached ID BUNDLE [OUT_FILE] create + start; container stdout/stderr to OUT_FILE (appended)\n"
        "  state ID                          status and pid; ENOENT when it does not exist\n"
        "  kill ID SIGNUM                    send a signal to the container's init\n"
        "  delete ID [force]                 delete (force: kill a running one first)\n"
        "  list                              every container under DIR\n"
        "  run ID BUNDLE TIMEOUT_MS          run attached; exit and captured output\n"
        "\n"
        "Exit status: 0 success, 1 failure (ERRNONAME: message on stderr), 2 bad usage.\n";

static int usage(FILE *f, int code)
{
        fputs(usage_text, f);
        return code;
}

static int fail(alder_error *err)
{
        const char *name = strerrorname_np(alder_error_errno(err));
        fprintf(stderr, "ocirt-tool: %s: %s\n", name ? name : "E?", alder_error_message(err));
        return 1;
}

static int print(json_t *v)
{
        if (!v)
                return 1;
        char *s = json_dumps(v, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        json_decref(v);
        if (!s)
                return 1;
        puts(s);
        free(s);
        return 0;
}

static json_t *state_json(const alder_ocirt_container *s)
{
        return json_pack("{s:s, s:s, s:i}", "id", s->id, "status", alder_ocirt_status_name(s->status), "pid",
                         (int) s->pid);
}

static int cmd_run_detached(alder_ocirt *rt, char **a, int n, alder_error **err)
{
        _cleanup_close_ int fd = -1;
        if (n == 3) {
                fd = open(a[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd < 0)
                        return alder_error_sys(err, errno, "open '%s'", a[2]);
        }
        pid_t pid = 0;
        int r = alder_ocirt_run_detached(rt, a[0], a[1], fd, fd, NULL, &pid, err);
        return r < 0 ? r : print(json_pack("{s:i}", "pid", (int) pid));
}

static int cmd_list(alder_ocirt *rt, alder_error **err)
{
        _cleanup_free_ alder_ocirt_container *v = NULL;
        size_t n;
        int r = alder_ocirt_list(rt, &v, &n, err);
        if (r < 0)
                return r;
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, state_json(&v[i]));
        return print(arr);
}

static int cmd_run(alder_ocirt *rt, char **a, alder_error **err)
{
        _cleanup_run_result_ alder_run_result res = {0};
        int r = alder_ocirt_run_foreground(rt, a[0], a[1], (unsigned) strtoul(a[2], NULL, 10), 0, &res, err);
        if (r < 0)
                return r;
        char d[ALDER_EXIT_DESCRIBE_MAX];
        return print(json_pack("{s:s, s:i, s:s, s:s}", "exit", alder_exit_describe(&res.exit, d, sizeof(d)), "code",
                               res.exit.code, "stdout", res.stdout_buf.data ? res.stdout_buf.data : "", "stderr",
                               res.stderr_buf.data ? res.stderr_buf.data : ""));
}

/* Runs COMMAND with its n arguments; returns <0 (err set), or the exit status; 2 for bad usage. */
static int dispatch(alder_ocirt *rt, const char *cmd, char **a, int n, alder_error **err)
{
        alder_ocirt_container s;
        int r;
        if (strcmp(cmd, "info") == 0 && n == 0)
                return print(json_pack("{s:s, s:s, s:s}", "name", alder_ocirt_name(rt), "path", alder_ocirt_path(rt),
                                       "version", alder_ocirt_version(rt)));
        if (strcmp(cmd, "run-detached") == 0 && (n == 2 || n == 3))
                return cmd_run_detached(rt, a, n, err);
        if (strcmp(cmd, "state") == 0 && n == 1) {
                r = alder_ocirt_state(rt, a[0], &s, err);
                return r < 0 ? r : print(state_json(&s));
        }
        if (strcmp(cmd, "kill") == 0 && n == 2)
                return alder_ocirt_kill(rt, a[0], atoi(a[1]), err);
        if (strcmp(cmd, "delete") == 0 && (n == 1 || (n == 2 && strcmp(a[1], "force") == 0)))
                return alder_ocirt_delete(rt, a[0], n == 2, err);
        if (strcmp(cmd, "list") == 0 && n == 0)
                return cmd_list(rt, err);
        if (strcmp(cmd, "run") == 0 && n == 3)
                return cmd_run(rt, a, err);
        return usage(stderr, 2);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"runtime", required_argument, NULL, 'r'},
                {"root", required_argument, NULL, 'R'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *name = NULL, *root = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
                if (c == 'r')
                        name = optarg;
                else if (c == 'R')
                        root = optarg;
                else if (c == 'h')
                        return usage(stdout, 0);
                else
                        return usage(stderr, 2);
        }
        if (!root || optind >= argc)
                return usage(stderr, 2);

        _cleanup_error_ alder_error *err = NULL;
        _cleanup_ocirt_ alder_ocirt *rt = NULL;
        if (alder_ocirt_open(name, root, &rt, &err) < 0)
                return fail(err);
        int r = dispatch(rt, argv[optind], argv + optind + 1, argc - optind - 1, &err);
        return r < 0 ? fail(err) : r;
}
