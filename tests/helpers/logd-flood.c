/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logd-flood: numbered log lines as fast as it can, for bench/logd.
 *
 *   logd-flood logd COUNT SIZE   alder_log() with the alder target (ALDER_LOG_SOCKET
 *                                names alder-logd's socket): what a daemon does
 *   logd-flood file PATH COUNT SIZE   the same lines to a plain file, fwrite() and
 *                                fflush() each: the reference
 *
 * Lines are "N xxxx..." of SIZE bytes. Prints {"lines", "seconds", "lines_per_s"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alder/log.h"

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void line(char *buf, size_t size, unsigned long i)
{
        int n = snprintf(buf, size, "%lu ", i);
        memset(buf + n, 'x', size - 1 - (size_t) n);
        buf[size - 1] = '\0';
}

int main(int argc, char **argv)
{
        bool to_file = argc == 5 && strcmp(argv[1], "file") == 0;
        if (!to_file && !(argc == 4 && strcmp(argv[1], "logd") == 0)) {
                fputs("usage: logd-flood logd COUNT SIZE | logd-flood file PATH COUNT SIZE\n", stderr);
                return 2;
        }
        unsigned long count = strtoul(argv[argc - 2], NULL, 10);
        size_t size = strtoul(argv[argc - 1], NULL, 10);
        if (size < 24 || size > 8192)
                return 2;
        char *buf = malloc(size + 1);
        FILE *f = to_file ? fopen(argv[2], "we") : NULL;
        if (!buf || (to_file && !f))
                return 1;
        alder_log_init("logd-flood");
        if (!to_file && alder_log_set_target(ALDER_LOG_TARGET_ALDER, NULL) < 0)
                return 1;
        double t0 = now();
        for (unsigned long i = 1; i <= count; i++) {
                line(buf, size, i);
                if (to_file) {
                        buf[size - 1] = '\n';
                        if (fwrite(buf, 1, size, f) != size || fflush(f) != 0)
                                return 1;
                } else {
                        alder_log(ALDER_LOG_INFO, NULL, "%s", buf);
                }
        }
        double t = now() - t0;
        if (f && fclose(f) != 0)
                return 1;
        printf("{\"lines\": %lu, \"seconds\": %.3f, \"lines_per_s\": %.0f}\n", count, t, (double) count / t);
        free(buf);
        return 0;
}
