/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for alder-logd's segment reader (device/logd/store.c): the
 * bytes a segment file may hold after a power cut or a damaged disk. The
 * input becomes the only segment of a store; opening it scans it (torn tail,
 * damaged frames), every record is read back, one is appended, and the store
 * opened again must read the same records plus the new one, last, with the
 * next sequence number after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static struct logstore_options options(void)
{
        struct logstore_options o = {
                .dir = dir, .max_bytes = 2 * LOGSTORE_MIN_SEGMENT, .segment_bytes = LOGSTORE_MIN_SEGMENT};
        memset(o.boot_id, 0xb0, sizeof(o.boot_id));
        return o;
}

/* Reads every record: how many, and the sequence number of the last one in file order. */
static size_t read_all(logstore *s, uint64_t *ret_last)
{
        size_t n = 0;
        uint64_t last = 0;
        for (size_t i = 0; i < logstore_n_segments(s); i++) {
                logstore_reader rd;
                if (logstore_reader_open(s, i, 0, &rd, NULL) < 0)
                        abort();
                struct logrec r;
                int k;
                while ((k = logstore_reader_next(&rd, &r, NULL)) > 0) {
                        last = r.seq;
                        n++;
                }
                logstore_reader_close(&rd);
                if (k < 0)
                        abort();
        }
        *ret_last = last;
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!dir[0]) {
                /* tmpfs when there is one: the store syncs what it writes */
                snprintf(dir, sizeof(dir), "%s/fuzz-logd-segment.XXXXXX",
                         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
                if (!mkdtemp(dir))
                        abort();
        }
        if (size > LOGSTORE_MIN_SEGMENT)
                return 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) /* removed at the end of the last run */
                abort();
        char path[128];
        snprintf(path, sizeof(path), "%s/0000000000000001.seg", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size)
                abort();
        close(fd);

        struct logstore_options o = options();
        logstore *s;
        if (logstore_open(&o, &s, NULL) < 0)
                abort();
        uint64_t last;
        size_t before = read_all(s, &last);
        struct logrec r = {.message = {"appended", 8}, .source = {"fuzz", 4}};
        if (logstore_append(s, &r, NULL) < 0 || logstore_sync(s, NULL) < 0)
                abort();
        uint64_t seq = r.seq;
        logstore_close(s);
        if (logstore_open(&o, &s, NULL) < 0)
                abort();
        size_t after = read_all(s, &last);
        if (after != before + 1 || last != seq || logstore_next_seq(s) != seq + 1)
                abort();
        logstore_close(s);
        if (alder_remove_tree(dir, NULL) < 0)
                abort();
        return 0;
}
