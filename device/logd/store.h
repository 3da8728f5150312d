/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-logd's store: a bounded ring of segment files in one folder
 * (ROOT/var/lib/alder/log), format in docs/formats/logstore.md.
 *
 *   - Segments are named by a 16-digit hex number that only grows. Each starts
 *     with a header (magic, version, number, boot id, the first sequence
 *     number it was opened for, CRC) written atomically (temp + fsync +
 *     rename), then frames appended (record.h). One boot per segment: a new
 *     boot, a damaged header or a full segment starts the next one.
 *   - The bound: the segment files together never exceed max_bytes. Before a
 *     segment is created, the oldest ones go until the new one fits at its
 *     full size; a segment never grows past segment_bytes.
 *   - The disk: a segment is only created when the file system keeps
 *     reserve_bytes free beyond it, and free space is checked again at most
 *     every second while writing; below the reserve, appends fail with
 *     -ENOSPC and are counted (dropped_no_space) until space returns.
 *   - Crash safety: appends go to a buffer that logstore_flush() writes with
 *     one write(); logstore_sync() also fdatasync()s. At open every segment
 *     is scanned: a torn tail (an incomplete last frame) of the newest one is
 *     cut off before appending; damaged frames anywhere (CRC mismatch) are
 *     skipped by looking for the next valid frame at the following 8-byte
 *     boundaries, so one bad frame costs that frame only.
 *   - Sequence numbers are assigned by logstore_append(), contiguous from 1
 *     across restarts and boots; a record that cannot be written gives its
 *     number back (a failed flush rewinds them), so the numbers of the
 *     records kept are contiguous.
 *
 * One thread; readers are used between appends (flush first: a reader sees
 * what has been written to the files).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "alder/cleanup.h"
#include "alder/error.h"
#include "record.h"

#define LOGSTORE_HEADER_SIZE    64u
#define LOGSTORE_MIN_SEGMENT    (256u * 1024u)
#define LOGSTORE_INDEX_STRIDE   (64u * 1024u) /* a checkpoint per this many bytes of a segment */
#define LOGSTORE_BUFFER_SIZE    (128u * 1024u)
#define LOGSTORE_SPACE_CHECK_MS 1000u

struct logstore_options {
        const char *dir;
        uint64_t max_bytes;     /* all segment files together; at least 2 segments */
        uint64_t segment_bytes; /* at least LOGSTORE_MIN_SEGMENT */
        uint64_t reserve_bytes; /* free space the store leaves on its file system */
        uint8_t boot_id[16];
};

struct logstore_checkpoint {
        uint64_t seq, offset;
};

struct logstore_segment {
        uint64_t number;
        bool header_ok;               /* false: damaged; the records are read all the same, the boot is unknown */
        uint8_t boot_id[16];          /* zeros when the header is damaged */
        uint64_t size;                /* bytes in the file */
        uint64_t first_seq, last_seq; /* 0: no record */
        uint64_t first_realtime_us, last_realtime_us;
        uint64_t records;
        struct logstore_checkpoint *index;
        size_t n_index, cap_index;
};

struct logstore_stats {
        uint64_t appended;
        uint64_t dropped_no_space;    /* free space below the reserve */
        uint64_t dropped_write_error; /* write() failed: the buffered records */
        uint64_t dropped_too_big;
        uint64_t segments_dropped; /* the ring's oldest, for the bound */
        uint64_t damaged_regions;  /* found at open: runs of bad bytes that readers skip */
        uint64_t damaged_bytes;
        uint64_t torn_tail_bytes; /* cut off the newest segment at open */
        uint64_t syncs;
        uint64_t sync_errors;
        bool no_space; /* appends refused now */
};

typedef struct logstore logstore;

int logstore_open(const struct logstore_options *o, logstore **ret, alder_error **err) ALDER_WUR;

/* Flushes and syncs what is buffered (errors are lost: see logstore_sync), then frees. */
void logstore_close(logstore *s);

static inline void logstore_closep(logstore **s)
{
        if (*s)
                logstore_close(*s);
}
#define _cleanup_logstore_ _cleanup_(logstore_closep)

/*
 * Assigns r->seq and buffers the record (written by the next flush, or now
 * when the buffer or the segment is full). -ENOSPC below the free-space
 * reserve, -E2BIG for a record above LOGREC_MAX_PAYLOAD: both counted, and no
 * sequence number is used. A failure to write earlier records returns their
 * error (they are dropped and counted; this one too).
 */
int logstore_append(logstore *s, struct logrec *r, alder_error **err) ALDER_WUR;

/* Writes the buffer to the current segment. */
int logstore_flush(logstore *s, alder_error **err) ALDER_WUR;

/* Flush and fdatasync(). */
int logstore_sync(logstore *s, alder_error **err) ALDER_WUR;

/* Whether records were written since the last sync (or are buffered). */
bool logstore_unsynced(const logstore *s);

/* The number the next record gets; the oldest one kept (next_seq when none). */
uint64_t logstore_next_seq(const logstore *s);
uint64_t logstore_first_seq(const logstore *s);

/* Bytes of all segment files (the bound applies to it), and what is buffered. */
uint64_t logstore_bytes(const logstore *s);

const struct logstore_stats *logstore_stats(const logstore *s);

/* Segments, oldest first. */
size_t logstore_n_segments(const logstore *s);
const struct logstore_segment *logstore_segment(const logstore *s, size_t i);

/* The index of the oldest segment that may hold seq or later ones (n_segments when none). */
size_t logstore_find_segment(const logstore *s, uint64_t seq);

/*
 * Reads the records of one segment in order, from the first with a sequence
 * number >= from_seq, skipping damaged bytes. Cheap to set up: the segment's
 * index finds the place to start.
 */
typedef struct logstore_reader {
        logstore *store;
        const struct logstore_segment *seg;
        int fd;
        uint64_t pos, end; /* file offsets */
        uint64_t from_seq;
        uint8_t *buf;
        uint64_t buf_off; /* file offset of buf[0] */
        size_t buf_len;
        bool in_damage;
        uint64_t record_offset; /* of the frame of the record returned last */
        /* what the reader met: runs of bad bytes skipped, and where the last valid frame ended (padding included) */
        uint64_t damaged_regions, damaged_bytes, valid_end;
} logstore_reader;

int logstore_reader_open(logstore *s, size_t segment, uint64_t from_seq, logstore_reader *ret,
                         alder_error **err) ALDER_WUR;

/*
 * The next record (its strings valid until the next call): 1, or 0 at the end
 * of the segment (a torn tail ends it too), or a negative errno.
 */
int logstore_reader_next(logstore_reader *rd, struct logrec *ret, alder_error **err) ALDER_WUR;

void logstore_reader_close(logstore_reader *rd);
