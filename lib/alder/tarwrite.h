/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes a directory tree as a zstd-compressed pax tar (the payload of an app
 * package), hashing the compressed bytes as they are written.
 *
 * Entries are written in byte-wise sorted order with their modes, numeric
 * ownership, mtimes, symlink targets, hard links and extended attributes, so
 * the same tree produces the same bytes. Symlinks are stored, never followed.
 */
#pragma once

#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "macro.h"

typedef struct alder_tar_write_opts {
        int zstd_level; /* 1..19; 0 = default (3) */
        /* Called after each entry (may be NULL): progress for long packs. */
        void (*progress)(void *ctx, uint64_t entries, uint64_t bytes_in);
        void *progress_ctx;
} alder_tar_write_opts;

typedef struct alder_tar_write_result {
        uint64_t entries;
        uint64_t bytes_in;                /* file content read */
        uint64_t bytes_out;               /* compressed bytes written to the fd */
        uint8_t digest[ALDER_SHA256_LEN]; /* SHA-256 of the compressed bytes */
        uint64_t setuid_files;            /* files with setuid/setgid bits */
        uint64_t device_nodes;            /* character/block devices */
} alder_tar_write_result;

/* Writes the tree below `root` (not root itself) to out_fd. */
int alder_tar_write_tree(const char *root, int out_fd, const alder_tar_write_opts *opts, alder_tar_write_result *ret,
                         alder_error **err) ALDER_WUR;
