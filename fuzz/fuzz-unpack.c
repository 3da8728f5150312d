/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the safe unpacker on arbitrary bytes (any compression it detects):
 * once into a fresh directory, once as an image layer onto a small existing
 * tree, with small limits. Checks the promises that matter beyond "no crash":
 * a failed fresh unpack leaves nothing behind, and nothing ever appears
 * beside the destination (where "../x" would land).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
        const uint8_t *data;
        size_t size, pos;
};

static ssize_t input_read(void *ctx, void *buf, size_t n)
{
        struct input *in = ctx;
        /* Odd-sized reads: the decompressors must cope with input cut anywhere. */
        size_t left = in->size - in->pos;
        n = n < left ? n : left;
        n = n < 4093 ? n : 4093;
        memcpy(buf, in->data + in->pos, n);
        in->pos += n;
        return (ssize_t) n;
}

static char base[64], dest[96];

static void remove_base(void)
{
        (void) rmdir(base);
}

static void setup_once(void)
{
        if (base[0])
                return;
        strcpy(base, "/tmp/alder-fuzz-unpack-XXXXXX");
        if (!mkdtemp(base))
                abort();
        snprintf(dest, sizeof(dest), "%s/root", base);
        atexit(remove_base); /* empty by then: every run removes its tree */
}

/* Only "root" (or nothing) may exist in base. */
static void check_nothing_beside(void)
{
        DIR *d = opendir(base);
        if (!d)
                abort();
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "root"))
                        abort();
        closedir(d);
}

static void remove_dest(void)
{
        if (alder_remove_tree(dest, NULL) < 0)
                abort();
}

/* What lower layers left: a file, a directory with contents, a symlink out of the tree. */
static void make_lower(void)
{
        char p[160];
        if (mkdir(dest, 0755) < 0)
                abort();
        snprintf(p, sizeof(p), "%s/dir", dest);
        if (mkdir(p, 0755) < 0)
                abort();
        snprintf(p, sizeof(p), "%s/dir/file", dest);
        int fd = open(p, O_CREAT | O_WRONLY, 0644);
        if (fd < 0)
                abort();
        close(fd);
        snprintf(p, sizeof(p), "%s/link", dest);
        if (symlink("..", p) < 0)
                abort();
}

static int unpack(const uint8_t *data, size_t size, alder_unpack_mode mode)
{
        alder_unpack_opts o = {
                .mode = mode,
                .limits = {.max_entries = 64,
                           .max_total_bytes = 1u << 20,
                           .max_file_bytes = 256u << 10,
                           .max_path_len = 512,
                           .max_depth = 16},
        };
        struct input in = {data, size, 0};
        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        _cleanup_error_ alder_error *err = NULL;
        int r = alder_unpack(input_read, &in, dest, &o, &stats, &err);
        if (r < 0)
                (void) alder_error_message(err);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        setup_once();
        struct stat st;

        if (unpack(data, size, ALDER_UNPACK_FRESH) < 0 && lstat(dest, &st) == 0)
                abort(); /* a failed fresh unpack must leave nothing */
        check_nothing_beside();
        remove_dest();

        make_lower();
        (void) unpack(data, size, ALDER_UNPACK_LAYER);
        check_nothing_beside();
        remove_dest();
        return 0;
}
