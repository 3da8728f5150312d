/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What app packages (.alpkg) and update bundles (.alupd) share: the 16-byte
 * header (magic, format version, envelope length), exact reads of a stream
 * that may be a pipe, and crash-safe creation through an O_TMPFILE file.
 *
 *     magic[8] | version (BE u32) | envelope length E (BE u32) | SUIT envelope[E] | payloads
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "alder/cose.h"
#include "alder/error.h"
#include "alder/macro.h"

#define ALDER_PKGFILE_HEADER_SIZE 16
#define ALDER_PKGFILE_MAGIC_LEN   8

/* What a file kind is called in errors: "an Alder app package", "package". */
struct alder_pkgfile_kind {
        const char *magic; /* ALDER_PKGFILE_MAGIC_LEN bytes */
        uint32_t version;
        const char *article_name; /* "an Alder app package" */
        const char *noun;         /* "package" */
};

void alder_pkgfile_encode_header(const struct alder_pkgfile_kind *kind, uint32_t envelope_len,
                                 uint8_t out[ALDER_PKGFILE_HEADER_SIZE]);

/* Reads header and envelope from the current offset of fd (a pipe is fine); *ret is malloc'ed. */
int alder_pkgfile_read_envelope(const struct alder_pkgfile_kind *kind, int fd, const char *path, uint8_t **ret,
                                size_t *ret_len, alder_error **err) ALDER_WUR;

/* Reads exactly len bytes; a short stream is EBADMSG "truncated". */
int alder_pkgfile_read_exact(int fd, void *buf, size_t len, const char *path, const char *what,
                             alder_error **err) ALDER_WUR;

/* Nothing may follow the last payload. */
int alder_pkgfile_expect_eof(int fd, const char *path, alder_error **err) ALDER_WUR;

/* An unnamed file in dir (O_TMPFILE): a crash leaves nothing behind. */
int alder_pkgfile_open_tmp(const char *dir, int *ret, alder_error **err) ALDER_WUR;

/* Gives an O_TMPFILE file the name `path`, replacing what was there, durably. */
int alder_pkgfile_commit_tmp(int fd, const char *path, alder_error **err) ALDER_WUR;

/* Copies from the current offset of `from` to its end. */
int alder_pkgfile_copy_rest(int from, int to, const char *path, alder_error **err) ALDER_WUR;

/* Writes header, envelope, then the rest of `payloads_fd` from `payloads_offset`, and commits to out_path. */
int alder_pkgfile_write(const struct alder_pkgfile_kind *kind, const char *out_path, const uint8_t *envelope,
                        size_t envelope_len, const void *prefix, size_t prefix_len, int payloads_fd,
                        uint64_t payloads_offset, alder_error **err) ALDER_WUR;

/*
 * Signs the manifest of `envelope` again with `signer` and writes a file of
 * this kind to out_path: new envelope, then in_fd's bytes after the old
 * envelope unchanged (the new signature covers the same payload digests).
 */
int alder_pkgfile_resign(const struct alder_pkgfile_kind *kind, const uint8_t *envelope, size_t envelope_len, int in_fd,
                         const char *in_path, const struct alder_cose_signer *signer, const char *out_path,
                         alder_error **err) ALDER_WUR;
