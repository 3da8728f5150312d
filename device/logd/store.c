/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "alder/fileio.h"
#include "store.h"

#define HEADER_MAGIC   "ALDERLOG"
#define HEADER_VERSION 1u
#define READ_BUFFER    (2 * LOGREC_MAX_FRAME)
#define NAME_SIZE      32

struct undo {
        uint64_t next_seq, appended;
        uint64_t first_seq, last_seq, first_realtime_us, last_realtime_us, records;
        size_t n_index;
};

struct logstore {
        struct logstore_options o;
        char *dir;
        int dirfd;
        struct logstore_segment *segs; /* oldest first; the last one is appended to */
        size_t n_segs, cap_segs;
        uint64_t next_number;
        int wfd; /* the last segment, open for appends; -1: the next append starts a segment */
        uint8_t *buf;
        size_t buf_len;
        struct undo undo; /* the last segment before the buffered records */
        uint64_t next_seq;
        uint64_t total; /* bytes of the files */
        uint64_t space_checked_ms;
        bool unsynced;
        struct logstore_stats stats;
};

static int sync_store(logstore *s, alder_error **err);

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static uint64_t realtime_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void segment_name(uint64_t number, char name[static NAME_SIZE])
{
        snprintf(name, NAME_SIZE, "%016" PRIx64 ".seg", number);
}

/* Exactly 16 lowercase hex digits and ".seg". */
static bool parse_segment_name(const char *name, uint64_t *ret)
{
        if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
                return false;
        uint64_t v = 0;
        for (int i = 0; i < 16; i++) {
                char c = name[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                        return false;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return true;
}

/* ---- segment header ---- */

static void header_encode(uint64_t number, const uint8_t boot_id[16], uint64_t first_seq,
                          uint8_t out[LOGSTORE_HEADER_SIZE])
{
        memset(out, 0, LOGSTORE_HEADER_SIZE);
        memcpy(out, HEADER_MAGIC, 8);
        uint32_t u32 = htole32(HEADER_VERSION);
        memcpy(out + 8, &u32, 4);
        u32 = htole32(LOGSTORE_HEADER_SIZE);
        memcpy(out + 12, &u32, 4);
        uint64_t u64 = htole64(number);
        memcpy(out + 16, &u64, 8);
        memcpy(out + 24, boot_id, 16);
        u64 = htole64(first_seq);
        memcpy(out + 40, &u64, 8);
        u64 = htole64(realtime_us());
        memcpy(out + 48, &u64, 8);
        u32 = htole32((uint32_t) crc32(0L, out, 60));
        memcpy(out + 60, &u32, 4);
}

/* A valid header for segment `number`: its boot id and first sequence number. */
static bool header_decode(const uint8_t h[LOGSTORE_HEADER_SIZE], uint64_t number, uint8_t boot_id[16],
                          uint64_t *first_seq)
{
        uint32_t version, size, crc;
        uint64_t num, first;
        memcpy(&version, h + 8, 4);
        memcpy(&size, h + 12, 4);
        memcpy(&num, h + 16, 8);
        memcpy(&first, h + 40, 8);
        memcpy(&crc, h + 60, 4);
        if (memcmp(h, HEADER_MAGIC, 8) != 0 || le32toh(crc) != (uint32_t) crc32(0L, h, 60) ||
            le32toh(version) != HEADER_VERSION || le32toh(size) != LOGSTORE_HEADER_SIZE || le64toh(num) != number)
                return false;
        memcpy(boot_id, h + 24, 16);
        *first_seq = le64toh(first);
        return true;
}

/* ---- segments in memory ---- */

static void index_add(struct logstore_segment *seg, uint64_t seq, uint64_t offset)
{
        if (seg->n_index > 0 && offset < seg->index[seg->n_index - 1].offset + LOGSTORE_INDEX_STRIDE)
                return;
        if (seg->n_index == seg->cap_index) {
                size_t cap = seg->cap_index ? 2 * seg->cap_index : 16;
                struct logstore_checkpoint *p = realloc(seg->index, cap * sizeof(*p));
                if (!p)
                        return; /* only slower: a lookup starts at an earlier checkpoint */
                seg->index = p;
                seg->cap_index = cap;
        }
        seg->index[seg->n_index++] = (struct logstore_checkpoint){seq, offset};
}

static void note_record(struct logstore_segment *seg, const struct logrec *r, uint64_t offset)
{
        if (!seg->first_seq) {
                seg->first_seq = r->seq;
                seg->first_realtime_us = r->realtime_us;
        }
        seg->last_seq = r->seq;
        seg->last_realtime_us = r->realtime_us;
        seg->records++;
        index_add(seg, r->seq, offset);
}

static int open_segment_file(logstore *s, const struct logstore_segment *seg, int flags, alder_error **err)
{
        char name[NAME_SIZE];
        segment_name(seg->number, name);
        int fd = openat(s->dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s/%s'", s->dir, name);
        return fd;
}

static struct logstore_segment *last_segment(logstore *s)
{
        return s->n_segs ? &s->segs[s->n_segs - 1] : NULL;
}

static void drop_oldest(logstore *s)
{
        struct logstore_segment *seg = &s->segs[0];
        char name[NAME_SIZE];
        segment_name(seg->number, name);
        (void) unlinkat(s->dirfd, name, 0); /* gone or not, it no longer counts: the next open sees it again */
        if (s->n_segs == 1)
                alder_closep(&s->wfd);
        s->total -= seg->size;
        free(seg->index);
        memmove(s->segs, s->segs + 1, (s->n_segs - 1) * sizeof(*s->segs));
        s->n_segs--;
        s->stats.segments_dropped++;
}

static int push_segment(logstore *s, const struct logstore_segment *seg, alder_error **err)
{
        if (s->n_segs == s->cap_segs) {
                size_t cap = s->cap_segs ? 2 * s->cap_segs : 16;
                struct logstore_segment *p = realloc(s->segs, cap * sizeof(*p));
                if (!p)
                        return alder_error_set(err, ENOMEM, "out of memory");
                s->segs = p;
                s->cap_segs = cap;
        }
        s->segs[s->n_segs++] = *seg;
        s->total += seg->size;
        return 0;
}

/* ---- reading ---- */

int logstore_reader_open(logstore *s, size_t segment, uint64_t from_seq, logstore_reader *ret, alder_error **err)
{
        const struct logstore_segment *seg = &s->segs[segment];
        logstore_reader rd = {
                .store = s,
                .seg = seg,
                .fd = -1,
                .pos = LOGSTORE_HEADER_SIZE,
                .end = seg->size,
                .from_seq = from_seq,
                .valid_end = LOGSTORE_HEADER_SIZE,
        };
        /* the last checkpoint at or before from_seq */
        size_t lo = 0, hi = seg->n_index;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (seg->index[mid].seq <= from_seq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo > 0)
                rd.pos = seg->index[lo - 1].offset;
        if (rd.pos < rd.end) {
                rd.fd = open_segment_file(s, seg, O_RDONLY, err);
                if (rd.fd < 0)
                        return rd.fd;
                rd.buf = malloc(READ_BUFFER);
                if (!rd.buf) {
                        close(rd.fd);
                        return alder_error_set(err, ENOMEM, "out of memory");
                }
        }
        *ret = rd;
        return 0;
}

void logstore_reader_close(logstore_reader *rd)
{
        alder_closep(&rd->fd);
        free(rd->buf);
        rd->buf = NULL;
}

/* Makes buf hold [pos, pos + need) or up to the end of the file; false with *err on a read error. */
static int reader_fill(logstore_reader *rd, size_t need, alder_error **err)
{
        if (rd->pos >= rd->buf_off && rd->pos + need <= rd->buf_off + rd->buf_len)
                return 0;
        rd->buf_off = rd->pos;
        rd->buf_len = 0;
        size_t want = (size_t) ALDER_MIN((uint64_t) READ_BUFFER, rd->end - rd->pos);
        while (rd->buf_len < want) {
                ssize_t n =
                        pread(rd->fd, rd->buf + rd->buf_len, want - rd->buf_len, (off_t) (rd->buf_off + rd->buf_len));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return alder_error_sys(err, errno, "read segment %016" PRIx64, rd->seg->number);
                if (n == 0) {
                        rd->end = rd->buf_off + rd->buf_len; /* shorter than it was: read what there is */
                        break;
                }
                rd->buf_len += (size_t) n;
        }
        return 0;
}

int logstore_reader_next(logstore_reader *rd, struct logrec *ret, alder_error **err)
{
        while (rd->pos < rd->end) {
                int r = reader_fill(rd, (size_t) ALDER_MIN((uint64_t) LOGREC_MAX_FRAME, rd->end - rd->pos), err);
                if (r < 0)
                        return r;
                if (rd->pos >= rd->end)
                        break;
                const uint8_t *p = rd->buf + (rd->pos - rd->buf_off), *payload;
                size_t avail = (size_t) (rd->buf_off + rd->buf_len - rd->pos), len;
                long n = logrec_frame_check(p, avail, &payload, &len);
                struct logrec rec;
                /* n == 0: a frame cut short by the end, which is a torn tail unless a valid frame follows */
                if (n <= 0 || logrec_decode(payload, len, &rec) < 0) {
                        if (!rd->in_damage)
                                rd->damaged_regions++;
                        rd->in_damage = true;
                        uint64_t step = ALDER_MIN((uint64_t) LOGREC_ALIGN, rd->end - rd->pos);
                        rd->damaged_bytes += step;
                        rd->pos += step;
                        continue;
                }
                rd->in_damage = false;
                rd->record_offset = rd->pos;
                rd->valid_end = rd->pos + (uint64_t) n; /* past the end when a last frame lacks its padding */
                rd->pos = ALDER_MIN(rd->valid_end, rd->end);
                if (rec.seq < rd->from_seq)
                        continue;
                *ret = rec;
                return 1;
        }
        return 0;
}

/* ---- open ---- */

/*
 * Reads a segment's header and scans its frames. A damaged header is no
 * error: its records stay readable (and keep their sequence numbers taken),
 * only their boot is unknown (all zeros), and nothing is appended to it.
 */
static int load_segment(logstore *s, uint64_t number, uint64_t *ret_header_first_seq, alder_error **err)
{
        struct logstore_segment seg = {.number = number};
        _cleanup_close_ int fd = open_segment_file(s, &seg, O_RDONLY, err);
        if (fd < 0)
                return fd;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return alder_error_sys(err, errno, "stat segment %016" PRIx64, number);
        seg.size = (uint64_t) st.st_size;
        uint8_t h[LOGSTORE_HEADER_SIZE];
        seg.header_ok = pread(fd, h, sizeof(h), 0) == (ssize_t) sizeof(h) &&
                        header_decode(h, number, seg.boot_id, ret_header_first_seq);
        int r = push_segment(s, &seg, err);
        if (r < 0)
                return r;

        struct logstore_segment *added = last_segment(s);
        logstore_reader rd;
        r = logstore_reader_open(s, s->n_segs - 1, 0, &rd, err);
        struct logrec rec;
        while (r >= 0 && (r = logstore_reader_next(&rd, &rec, err)) > 0)
                note_record(added, &rec, rd.record_offset);
        uint64_t tail = added->size > rd.valid_end ? added->size - rd.valid_end : 0;
        if (rd.in_damage) { /* the run that reaches the end is the torn tail */
                rd.damaged_regions--;
                rd.damaged_bytes -= tail;
        }
        s->stats.damaged_regions += rd.damaged_regions;
        s->stats.damaged_bytes += rd.damaged_bytes;
        s->stats.torn_tail_bytes += tail;
        logstore_reader_close(&rd);
        return r;
}

static int compare_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* The numbers of the segment files, sorted; temp files of an interrupted segment creation are removed. */
static int list_segments(logstore *s, uint64_t **ret, size_t *ret_n, alder_error **err)
{
        int fd = dup(s->dirfd);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", s->dir);
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return alder_error_sys(err, errno, "open '%s'", s->dir);
        }
        _cleanup_free_ uint64_t *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                uint64_t number;
                if (alder_is_temp_name(e->d_name)) {
                        (void) unlinkat(s->dirfd, e->d_name, 0);
                        continue;
                }
                if (!parse_segment_name(e->d_name, &number))
                        continue;
                if (n == cap) {
                        cap = cap ? 2 * cap : 64;
                        uint64_t *p = realloc(v, cap * sizeof(*p));
                        if (!p)
                                return alder_error_set(err, ENOMEM, "out of memory");
                        v = p;
                }
                v[n++] = number;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), compare_u64);
        *ret = steal_pointer(&v);
        *ret_n = n;
        return 0;
}

/* Appends go on in the newest segment when it is of this boot and has room; its torn tail is cut off first. */
static int reopen_last(logstore *s, alder_error **err)
{
        struct logstore_segment *seg = last_segment(s);
        if (!seg || !seg->header_ok || memcmp(seg->boot_id, s->o.boot_id, 16) != 0 || seg->size >= s->o.segment_bytes)
                return 0;
        logstore_reader rd;
        int r = logstore_reader_open(s, s->n_segs - 1, seg->last_seq, &rd, err);
        struct logrec rec;
        while (r >= 0 && (r = logstore_reader_next(&rd, &rec, err)) > 0)
                ;
        uint64_t valid_end = rd.valid_end;
        logstore_reader_close(&rd);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open_segment_file(s, seg, O_WRONLY | O_APPEND, err);
        if (fd < 0)
                return fd;
        /* a torn tail goes; a last frame without its padding gets it, so that the next one starts aligned */
        if (valid_end != seg->size) {
                if (ftruncate(fd, (off_t) valid_end) < 0)
                        return alder_error_sys(err, errno, "cut the torn tail of segment %016" PRIx64, seg->number);
                s->total = s->total - seg->size + valid_end;
                seg->size = valid_end;
        }
        s->wfd = steal_fd(&fd);
        return 0;
}

static int check_options(const struct logstore_options *o, alder_error **err)
{
        if (o->segment_bytes < LOGSTORE_MIN_SEGMENT)
                return alder_error_set(err, EINVAL, "segment size %" PRIu64 " is below the minimum of %u bytes",
                                       o->segment_bytes, LOGSTORE_MIN_SEGMENT);
        if (o->max_bytes / 2 < o->segment_bytes)
                return alder_error_set(err, EINVAL,
                                       "store bound %" PRIu64 " does not hold two segments of %" PRIu64 " bytes",
                                       o->max_bytes, o->segment_bytes);
        return 0;
}

static int open_store(logstore *s, alder_error **err)
{
        int r = alder_mkdir_p(s->dir, 0750, err);
        if (r < 0)
                return r;
        s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dirfd < 0)
                return alder_error_sys(err, errno, "open '%s'", s->dir);
        _cleanup_free_ uint64_t *numbers = NULL;
        size_t n = 0;
        r = list_segments(s, &numbers, &n, err);
        if (r < 0)
                return r;
        s->next_seq = 1;
        for (size_t i = 0; i < n; i++) {
                uint64_t header_first = 0;
                r = load_segment(s, numbers[i], &header_first, err);
                if (r < 0)
                        return r;
                const struct logstore_segment *seg = last_segment(s);
                s->next_seq = ALDER_MAX(s->next_seq, ALDER_MAX(header_first, seg->last_seq + 1));
                s->next_number = numbers[i] + 1;
        }
        /* a smaller bound than the last run's */
        while (s->n_segs > 0 && s->total > s->o.max_bytes)
                drop_oldest(s);
        return reopen_last(s, err);
}

int logstore_open(const struct logstore_options *o, logstore **ret, alder_error **err)
{
        int r = check_options(o, err);
        if (r < 0)
                return alder_error_wrap(err, "log store '%s'", o->dir);
        logstore *s = calloc(1, sizeof(*s));
        if (!s || !(s->dir = strdup(o->dir)) || !(s->buf = malloc(LOGSTORE_BUFFER_SIZE))) {
                if (s)
                        free(s->dir);
                free(s);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        s->o = *o;
        s->o.dir = s->dir;
        s->dirfd = s->wfd = -1;
        s->next_number = 1;
        r = open_store(s, err);
        if (r < 0) {
                logstore_close(s);
                return alder_error_wrap(err, "log store '%s'", o->dir);
        }
        *ret = s;
        return 0;
}

void logstore_close(logstore *s)
{
        if (s->wfd >= 0)
                (void) sync_store(s, NULL);
        alder_closep(&s->wfd);
        alder_closep(&s->dirfd);
        for (size_t i = 0; i < s->n_segs; i++)
                free(s->segs[i].index);
        free(s->segs);
        free(s->buf);
        free(s->dir);
        free(s);
}

/* ---- writing ---- */

static uint64_t free_bytes(logstore *s)
{
        struct statvfs st;
        if (fstatvfs(s->dirfd, &st) < 0)
                return UINT64_MAX; /* unknown: a full disk still shows as a failed write */
        return (uint64_t) st.f_bavail * st.f_frsize;
}

static int no_space_error(logstore *s, alder_error **err)
{
        s->stats.no_space = true;
        s->space_checked_ms = now_ms(); /* the appends of the next second are refused without asking again */
        return alder_error_set(err, ENOSPC, "free space on '%s' is below the reserve of %" PRIu64 " bytes", s->dir,
                               s->o.reserve_bytes);
}

/* The newest segment is full, of another boot, or missing: start the next one. */
static int roll(logstore *s, alder_error **err)
{
        if (s->wfd >= 0) {
                _cleanup_error_ alder_error *e = NULL;
                (void) sync_store(s, &e); /* a failure is counted; the new segment gets its chance */
                alder_closep(&s->wfd);
        }
        if (free_bytes(s) < s->o.reserve_bytes + s->o.segment_bytes)
                return no_space_error(s, err);
        while (s->n_segs > 0 && s->total + s->o.segment_bytes > s->o.max_bytes)
                drop_oldest(s);

        struct logstore_segment seg = {.number = s->next_number, .header_ok = true, .size = LOGSTORE_HEADER_SIZE};
        memcpy(seg.boot_id, s->o.boot_id, 16);
        char name[NAME_SIZE];
        segment_name(seg.number, name);
        uint8_t h[LOGSTORE_HEADER_SIZE];
        header_encode(seg.number, seg.boot_id, s->next_seq, h);
        int r = alder_write_file_atomic_at(s->dirfd, s->dir, name, h, sizeof(h), 0640, err);
        if (r < 0)
                return r;
        s->next_number++;
        _cleanup_close_ int fd = open_segment_file(s, &seg, O_WRONLY | O_APPEND, err);
        if (fd < 0)
                return fd;
        r = push_segment(s, &seg, err);
        if (r < 0)
                return r;
        s->wfd = steal_fd(&fd);
        return 0;
}

/* Below the reserve now? Checked at most every LOGSTORE_SPACE_CHECK_MS, and each time while below. */
static bool below_reserve(logstore *s)
{
        uint64_t now = now_ms();
        if (!s->stats.no_space && now - s->space_checked_ms < LOGSTORE_SPACE_CHECK_MS)
                return false;
        if (s->stats.no_space && now - s->space_checked_ms < LOGSTORE_SPACE_CHECK_MS)
                return true;
        s->space_checked_ms = now;
        s->stats.no_space = free_bytes(s) < s->o.reserve_bytes;
        return s->stats.no_space;
}

static void save_undo(logstore *s)
{
        const struct logstore_segment *seg = last_segment(s);
        s->undo = (struct undo){
                .next_seq = s->next_seq,
                .appended = s->stats.appended,
                .first_seq = seg->first_seq,
                .last_seq = seg->last_seq,
                .first_realtime_us = seg->first_realtime_us,
                .last_realtime_us = seg->last_realtime_us,
                .records = seg->records,
                .n_index = seg->n_index,
        };
}

/* The buffered records could not be written: they never were, and their numbers go to the next ones. */
static void rewind_buffer(logstore *s)
{
        struct logstore_segment *seg = last_segment(s);
        s->stats.dropped_write_error += s->stats.appended - s->undo.appended;
        s->stats.appended = s->undo.appended;
        s->next_seq = s->undo.next_seq;
        seg->first_seq = s->undo.first_seq;
        seg->last_seq = s->undo.last_seq;
        seg->first_realtime_us = s->undo.first_realtime_us;
        seg->last_realtime_us = s->undo.last_realtime_us;
        seg->records = s->undo.records;
        seg->n_index = s->undo.n_index;
        s->buf_len = 0;
}

int logstore_flush(logstore *s, alder_error **err)
{
        if (s->buf_len == 0)
                return 0;
        struct logstore_segment *seg = last_segment(s);
        char name[NAME_SIZE], *path = NULL;
        segment_name(seg->number, name);
        if (asprintf(&path, "%s/%s", s->dir, name) < 0)
                path = NULL;
        int r = alder_write_all(s->wfd, s->buf, s->buf_len, path ? path : name, err);
        free(path);
        if (r < 0) {
                /* cut what may have been written; either way the next append starts a new segment */
                (void) ftruncate(s->wfd, (off_t) seg->size);
                alder_closep(&s->wfd);
                rewind_buffer(s);
                return r;
        }
        seg->size += s->buf_len;
        s->total += s->buf_len;
        s->buf_len = 0;
        s->unsynced = true;
        return 0;
}

/* logstore_sync() without the warning for callers that count on the stats instead. */
static int sync_store(logstore *s, alder_error **err)
{
        int r = logstore_flush(s, err);
        if (r < 0 || !s->unsynced || s->wfd < 0)
                return r;
        if (fdatasync(s->wfd) < 0) {
                s->stats.sync_errors++;
                return alder_error_sys(err, errno, "fdatasync segment %016" PRIx64, last_segment(s)->number);
        }
        s->stats.syncs++;
        s->unsynced = false;
        return 0;
}

int logstore_sync(logstore *s, alder_error **err)
{
        return sync_store(s, err);
}

int logstore_append(logstore *s, struct logrec *r, alder_error **err)
{
        size_t size = logrec_frame_size(r);
        if (size == 0 || size > s->o.segment_bytes - LOGSTORE_HEADER_SIZE) {
                s->stats.dropped_too_big++;
                return alder_error_set(err, E2BIG, "record above the limit of %u bytes", LOGREC_MAX_PAYLOAD);
        }
        if (below_reserve(s)) {
                s->stats.dropped_no_space++;
                return no_space_error(s, err);
        }
        const struct logstore_segment *seg = last_segment(s);
        int ret = 0;
        if (s->wfd < 0 || seg->size + s->buf_len + size > s->o.segment_bytes)
                ret = roll(s, err);
        else if (s->buf_len + size > LOGSTORE_BUFFER_SIZE)
                ret = logstore_flush(s, err);
        if (ret < 0) {
                if (ret == -ENOSPC && s->stats.no_space)
                        s->stats.dropped_no_space++;
                else
                        s->stats.dropped_write_error++;
                return ret;
        }
        struct logstore_segment *cur = last_segment(s);
        if (s->buf_len == 0)
                save_undo(s);
        r->seq = s->next_seq++;
        logrec_encode(r, s->buf + s->buf_len);
        note_record(cur, r, cur->size + s->buf_len);
        s->buf_len += size;
        s->stats.appended++;
        return 0;
}

bool logstore_unsynced(const logstore *s)
{
        return s->unsynced || s->buf_len > 0;
}

uint64_t logstore_next_seq(const logstore *s)
{
        return s->next_seq;
}

uint64_t logstore_first_seq(const logstore *s)
{
        for (size_t i = 0; i < s->n_segs; i++)
                if (s->segs[i].records)
                        return s->segs[i].first_seq;
        return s->next_seq;
}

uint64_t logstore_bytes(const logstore *s)
{
        return s->total;
}

const struct logstore_stats *logstore_stats(const logstore *s)
{
        return &s->stats;
}

size_t logstore_n_segments(const logstore *s)
{
        return s->n_segs;
}

const struct logstore_segment *logstore_segment(const logstore *s, size_t i)
{
        return &s->segs[i];
}

size_t logstore_find_segment(const logstore *s, uint64_t seq)
{
        size_t i = 0;
        while (i < s->n_segs && (!s->segs[i].records || s->segs[i].last_seq < seq))
                i++;
        return i;
}
