/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-logd's API (docs/api/logd.md): log.query, log.follow (a long poll:
 * the reply waits for a matching entry or the timeout), log.status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/json.h"
#include "alder/log.h"
#include "logd.h"

#define SOURCE            "params"
#define DEFAULT_LIMIT     100
#define MAX_LIMIT         10000
#define DEFAULT_FOLLOW_MS 30000
#define MAX_FOLLOW_MS     300000
/* Replies stay below the server's 4 MiB message limit, whatever the entries hold. */
#define REPLY_BUDGET (3u << 20)

struct filter {
        uint64_t since_seq;
        bool has_time;
        uint64_t since_us;
        char *app, *source;
        int min_level; /* entries at this level or more severe */
        bool has_boot;
        uint8_t boot[16];
        size_t limit;
        bool tail;
};

struct logd_follower {
        struct logd_follower *next;
        alder_ipc_call *call;
        struct filter f; /* since_seq: where the next look starts */
        uint64_t deadline_ms;
};

static void filter_clear(struct filter *f)
{
        free(f->app);
        free(f->source);
}

static struct logd *logd_of(alder_ipc_call *call)
{
        return alder_ipc_call_userdata(call);
}

/* ---- parameters ---- */

static int parse_hex_id(const char *s, uint8_t out[16])
{
        size_t k = 0;
        for (; *s; s++) {
                if (*s == '-')
                        continue;
                int v = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
                if (v < 0 || k == 32)
                        return -EINVAL;
                out[k / 2] = (uint8_t) (k % 2 ? out[k / 2] | v : v << 4);
                k++;
        }
        return k == 32 ? 0 : -EINVAL;
}

/* The boot before this one: that of the newest segment of another boot. */
static int previous_boot(struct logd *d, uint8_t out[16], alder_error **err)
{
        for (size_t i = logstore_n_segments(d->store); i-- > 0;) {
                const struct logstore_segment *seg = logstore_segment(d->store, i);
                if (seg->header_ok && memcmp(seg->boot_id, d->boot_id, 16) != 0) {
                        memcpy(out, seg->boot_id, 16);
                        return 0;
                }
        }
        return alder_error_set(err, ENOENT, "no previous boot in the store");
}

static int parse_boot(struct logd *d, const char *boot, struct filter *f, alder_error **err)
{
        if (!boot || strcmp(boot, "all") == 0)
                return 0;
        f->has_boot = true;
        if (strcmp(boot, "current") == 0) {
                memcpy(f->boot, d->boot_id, 16);
                return 0;
        }
        if (strcmp(boot, "previous") == 0)
                return previous_boot(d, f->boot, err);
        if (parse_hex_id(boot, f->boot) < 0)
                return alder_error_set(err, EINVAL,
                                       SOURCE ": field 'boot': '%s' is not current, previous, all or a boot id", boot);
        return 0;
}

static int dup_string(const json_t *params, const char *field, char **ret, alder_error **err)
{
        const char *s = NULL;
        int r = alder_json_get_string(params, SOURCE, field, ALDER_JSON_OPTIONAL, &s, err);
        if (r < 0 || !s)
                return r;
        return (*ret = strdup(s)) ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

static int parse_since_time(const json_t *params, struct filter *f, alder_error **err)
{
        json_t *t = json_object_get(params, "since_time");
        if (!t)
                return 0;
        if (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 1e12)
                return alder_error_set(err, EINVAL, SOURCE ": field 'since_time': expected seconds since 1970, got %s",
                                       alder_json_type_name(t));
        f->has_time = true;
        f->since_us = (uint64_t) (json_number_value(t) * 1e6);
        return 0;
}

static int parse_level(const json_t *params, struct filter *f, alder_error **err)
{
        json_t *v = json_object_get(params, "min_level");
        if (!v)
                return 0;
        int level = json_is_string(v) ? logd_level_parse(json_string_value(v))
                    : json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 7
                            ? (int) json_integer_value(v)
                            : -EINVAL;
        if (level < 0)
                return alder_error_set(err, EINVAL,
                                       SOURCE ": field 'min_level': expected a level (emerg..debug or 0-7)");
        f->min_level = level;
        return 0;
}

static int parse_filter(struct logd *d, const json_t *params, bool follow, struct filter *f, int64_t *timeout_ms,
                        alder_error **err)
{
        static const char *const query_keys[] = {"since_seq", "since_time", "app",  "source", "min_level",
                                                 "boot",      "limit",      "tail", NULL};
        static const char *const follow_keys[] = {"since_seq", "since_time", "app",        "source", "min_level",
                                                  "boot",      "limit",      "timeout_ms", NULL};
        *f = (struct filter){.min_level = 7, .limit = DEFAULT_LIMIT};
        int64_t since = follow ? (int64_t) logstore_next_seq(d->store) : 0;
        int64_t limit = follow ? MAX_LIMIT : DEFAULT_LIMIT;
        const char *boot = NULL;
        int r = alder_json_check_keys(params, SOURCE, NULL, follow ? follow_keys : query_keys, err);
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "since_seq", ALDER_JSON_OPTIONAL, 0, INT64_MAX, &since,
                                             err);
        if (r == 0)
                r = parse_since_time(params, f, err);
        if (r == 0)
                r = dup_string(params, "app", &f->app, err);
        if (r == 0)
                r = dup_string(params, "source", &f->source, err);
        if (r == 0)
                r = parse_level(params, f, err);
        if (r == 0)
                r = alder_json_get_string(params, SOURCE, "boot", ALDER_JSON_OPTIONAL, &boot, err);
        if (r == 0)
                r = parse_boot(d, boot, f, err);
        if (r == 0)
                r = alder_json_get_int_range(params, SOURCE, "limit", ALDER_JSON_OPTIONAL, 1, MAX_LIMIT, &limit, err);
        if (r == 0 && !follow)
                r = alder_json_get_bool(params, SOURCE, "tail", ALDER_JSON_OPTIONAL, &f->tail, err);
        if (r == 0 && follow)
                r = alder_json_get_int_range(params, SOURCE, "timeout_ms", ALDER_JSON_OPTIONAL, 0, MAX_FOLLOW_MS,
                                             timeout_ms, err);
        f->since_seq = (uint64_t) since;
        f->limit = (size_t) limit;
        if (r < 0)
                filter_clear(f);
        return r;
}

/* ---- matching and entries ---- */

static bool str_is(struct logrec_str s, const char *want)
{
        return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static bool segment_matches(const struct filter *f, const struct logstore_segment *seg)
{
        return !f->has_boot || (seg->header_ok && memcmp(seg->boot_id, f->boot, 16) == 0);
}

static bool record_matches(const struct filter *f, const struct logrec *r)
{
        return r->level <= f->min_level && (!f->has_time || r->realtime_us >= f->since_us) &&
               (!f->app || str_is(r->app, f->app)) && (!f->source || str_is(r->source, f->source));
}

static json_t *lossy(struct logrec_str s)
{
        return alder_json_string_lossy(s.p ? s.p : "", s.len);
}

static json_t *fields_json(const struct logrec *r)
{
        json_t *o = json_object();
        struct logrec_field f;
        size_t pos = 0;
        while (o && logrec_field_next(r, &pos, &f)) {
                char key[LOGREC_KEY_MAX + 1];
                memcpy(key, f.key.p, f.key.len);
                key[f.key.len] = '\0';
                if (json_object_set_new(o, key, lossy(f.value)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

static json_t *entry_json(const struct logrec *r, const struct logstore_segment *seg)
{
        char boot[33];
        for (int i = 0; i < 16; i++)
                snprintf(boot + 2 * i, 3, "%02x", seg->boot_id[i]);
        json_t *e =
                json_pack("{s:I,s:I,s:I,s:s,s:i,s:s,s:o,s:o,s:I,s:I,s:I,s:b}", "seq", (json_int_t) r->seq,
                          "realtime_us", (json_int_t) r->realtime_us, "monotonic_us", (json_int_t) r->monotonic_us,
                          "boot", boot, "priority", r->level, "level", logd_level_name(r->level), "source",
                          lossy(r->source), "message", lossy(r->message), "pid", (json_int_t) r->pid, "uid",
                          (json_int_t) r->uid, "gid", (json_int_t) r->gid, "trusted", (r->flags & LOGREC_TRUSTED) != 0);
        const char *stream = r->flags & LOGREC_STDOUT ? "stdout" : r->flags & LOGREC_STDERR ? "stderr" : NULL;
        bool ok = e != NULL;
        if (ok && r->app.len)
                ok = json_object_set_new(e, "app", lossy(r->app)) == 0;
        if (ok && r->version.len)
                ok = json_object_set_new(e, "version", lossy(r->version)) == 0;
        if (ok && stream)
                ok = json_object_set_new(e, "stream", json_string(stream)) == 0;
        if (ok && r->n_fields)
                ok = json_object_set_new(e, "fields", fields_json(r)) == 0;
        if (!ok) {
                json_decref(e);
                return NULL;
        }
        return e;
}

/* ---- queries ---- */

struct result {
        json_t *entries;
        size_t bytes;
        uint64_t next_seq; /* where to go on */
        bool more;         /* stopped at the limit: there may be more from next_seq */
};

/* Calls fn for each matching record of segment i from seq on; fn returns false to stop (then so does this). */
typedef bool (*match_fn)(void *ctx, const struct logrec *r, const struct logstore_segment *seg);

static int scan_segment(struct logd *d, size_t i, const struct filter *f, uint64_t from, match_fn fn, void *ctx,
                        bool *ret_stopped, alder_error **err)
{
        const struct logstore_segment *seg = logstore_segment(d->store, i);
        *ret_stopped = false;
        if (!segment_matches(f, seg))
                return 0;
        logstore_reader rd;
        int r = logstore_reader_open(d->store, i, from, &rd, err);
        struct logrec rec;
        while (r >= 0 && (r = logstore_reader_next(&rd, &rec, err)) > 0)
                if (record_matches(f, &rec) && !fn(ctx, &rec, seg)) {
                        *ret_stopped = true;
                        break;
                }
        logstore_reader_close(&rd);
        return r < 0 ? r : 0;
}

static size_t json_size(const json_t *e)
{
        return json_dumpb(e, NULL, 0, JSON_COMPACT) + 1;
}

struct forward_ctx {
        struct result *res;
        size_t limit;
        bool failed;
};

static bool add_forward(void *ctx, const struct logrec *r, const struct logstore_segment *seg)
{
        struct forward_ctx *c = ctx;
        size_t n = json_array_size(c->res->entries);
        json_t *e = n < c->limit ? entry_json(r, seg) : NULL;
        if (n < c->limit && !e) {
                c->failed = true;
                return false;
        }
        size_t size = e ? json_size(e) : 0;
        if (!e || (n > 0 && c->res->bytes + size > REPLY_BUDGET)) { /* the limit or the budget: go on from here */
                json_decref(e);
                c->res->more = true;
                c->res->next_seq = r->seq;
                return false;
        }
        c->res->bytes += size;
        c->failed = json_array_append_new(c->res->entries, e) < 0;
        return !c->failed;
}

/* The first `limit` matching entries from since_seq on. */
static int run_forward(struct logd *d, const struct filter *f, struct result *res, alder_error **err)
{
        struct forward_ctx c = {.res = res, .limit = f->limit};
        uint64_t from = ALDER_MAX(f->since_seq, (uint64_t) 1);
        res->next_seq = logstore_next_seq(d->store);
        for (size_t i = logstore_find_segment(d->store, from); i < logstore_n_segments(d->store); i++) {
                bool stopped;
                int r = scan_segment(d, i, f, from, add_forward, &c, &stopped, err);
                if (r < 0)
                        return r;
                if (c.failed)
                        return alder_error_set(err, ENOMEM, "out of memory");
                if (stopped)
                        break;
        }
        return 0;
}

/* The last `cap` matches of a segment, in a ring. */
struct tail_ctx {
        json_t **ring;
        size_t *sizes;
        size_t cap, n, head; /* head: the oldest */
        bool failed;
};

static bool add_tail(void *ctx, const struct logrec *r, const struct logstore_segment *seg)
{
        struct tail_ctx *c = ctx;
        json_t *e = entry_json(r, seg);
        if (!e) {
                c->failed = true;
                return false;
        }
        size_t slot = (c->head + c->n) % c->cap;
        if (c->n == c->cap) {
                json_decref(c->ring[c->head]);
                slot = c->head;
                c->head = (c->head + 1) % c->cap;
        } else {
                c->n++;
        }
        c->ring[slot] = e;
        c->sizes[slot] = json_size(e);
        return true;
}

/* The last `limit` matching entries from since_seq on, newest segments first, within the reply budget. */
static int run_tail(struct logd *d, const struct filter *f, struct result *res, alder_error **err)
{
        _cleanup_free_ json_t **newest_first = calloc(f->limit, sizeof(*newest_first));
        _cleanup_free_ json_t **ring = calloc(f->limit, sizeof(*ring));
        _cleanup_free_ size_t *sizes = calloc(f->limit, sizeof(*sizes));
        if (!newest_first || !ring || !sizes)
                return alder_error_set(err, ENOMEM, "out of memory");
        uint64_t from = ALDER_MAX(f->since_seq, (uint64_t) 1);
        size_t n = 0, first = logstore_find_segment(d->store, from);
        bool full = false;
        int r = 0;
        res->next_seq = logstore_next_seq(d->store);
        for (size_t i = logstore_n_segments(d->store); r == 0 && !full && n < f->limit && i-- > first;) {
                struct tail_ctx c = {.ring = ring, .sizes = sizes, .cap = f->limit - n};
                bool stopped;
                r = scan_segment(d, i, f, from, add_tail, &c, &stopped, err);
                if (r == 0 && c.failed)
                        r = alder_error_set(err, ENOMEM, "out of memory");
                /* newest of the segment first, while the budget lasts */
                for (size_t k = c.n; k-- > 0;) {
                        size_t slot = (c.head + k) % c.cap;
                        if (r < 0 || full || res->bytes + c.sizes[slot] > REPLY_BUDGET) {
                                full = true;
                                json_decref(c.ring[slot]);
                                continue;
                        }
                        res->bytes += c.sizes[slot];
                        newest_first[n++] = c.ring[slot];
                }
        }
        res->more = full;
        for (size_t k = n; k-- > 0;)
                if (r == 0 && json_array_append(res->entries, newest_first[k]) < 0)
                        r = alder_error_set(err, ENOMEM, "out of memory");
        for (size_t k = 0; k < n; k++)
                json_decref(newest_first[k]);
        return r;
}

static int run_query(struct logd *d, const struct filter *f, json_t **ret, alder_error **err)
{
        logd_flush(d);
        struct result res = {.entries = json_array()};
        if (!res.entries)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = f->tail ? run_tail(d, f, &res, err) : run_forward(d, f, &res, err);
        if (r < 0) {
                json_decref(res.entries);
                return r;
        }
        *ret = json_pack("{s:o,s:I,s:I,s:b,s:s}", "entries", res.entries, "next_seq", (json_int_t) res.next_seq,
                         "first_seq", (json_int_t) logstore_first_seq(d->store), "more", res.more, "boot", d->boot_hex);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* log.query {since_seq, since_time, app, source, min_level, boot, limit, tail} -> {entries, next_seq, first_seq, more,
 * boot} */
static int m_query(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct filter f;
        int r = parse_filter(logd_of(call), params, false, &f, NULL, err);
        if (r == 0)
                r = run_query(logd_of(call), &f, ret, err);
        filter_clear(&f);
        return r;
}

/* ---- follow ---- */

static size_t entry_count(const json_t *reply)
{
        return json_array_size(json_object_get(reply, "entries"));
}

/* log.follow {filters, since_seq: the next entry, timeout_ms: 30000}: as log.query once there is a match */
static int m_follow(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct logd *d = logd_of(call);
        int64_t timeout = DEFAULT_FOLLOW_MS;
        struct logd_follower *w = calloc(1, sizeof(*w));
        if (!w)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = parse_filter(d, params, true, &w->f, &timeout, err);
        if (r < 0) {
                free(w);
                return r;
        }
        r = run_query(d, &w->f, ret, err);
        if (r < 0 || entry_count(*ret) > 0 || timeout == 0) {
                filter_clear(&w->f);
                free(w);
                return r;
        }
        w->f.since_seq = (uint64_t) json_integer_value(json_object_get(*ret, "next_seq"));
        json_decref(*ret);
        *ret = NULL;
        w->call = call;
        w->deadline_ms = logd_now_ms() + (uint64_t) timeout;
        w->next = d->followers;
        d->followers = w;
        return ALDER_IPC_REPLY_LATER;
}

static void follower_unlink(struct logd *d, struct logd_follower *w)
{
        for (struct logd_follower **p = &d->followers; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        filter_clear(&w->f);
        free(w);
}

/* An empty answer: nothing matched in time; next_seq is where the next call goes on. */
static void reply_nothing(struct logd *d, struct logd_follower *w)
{
        json_t *res = json_pack("{s:[],s:I,s:I,s:b,s:s}", "entries", "next_seq", (json_int_t) w->f.since_seq,
                                "first_seq", (json_int_t) logstore_first_seq(d->store), "more", 0, "boot", d->boot_hex);
        alder_ipc_call_reply(w->call, res);
        follower_unlink(d, w);
}

void logd_followers_wake(struct logd *d)
{
        for (struct logd_follower *w = d->followers, *next; w; w = next) {
                next = w->next;
                json_t *res = NULL;
                _cleanup_error_ alder_error *e = NULL;
                if (run_query(d, &w->f, &res, &e) < 0) {
                        alder_ipc_call_reply_error(w->call, e);
                        follower_unlink(d, w);
                } else if (entry_count(res) > 0) {
                        alder_ipc_call_reply(w->call, res);
                        follower_unlink(d, w);
                } else {
                        w->f.since_seq = (uint64_t) json_integer_value(json_object_get(res, "next_seq"));
                        json_decref(res);
                }
        }
}

uint64_t logd_followers_tick(struct logd *d, uint64_t now)
{
        uint64_t next = 0;
        for (struct logd_follower *w = d->followers, *n; w; w = n) {
                n = w->next;
                if (w->deadline_ms <= now)
                        reply_nothing(d, w);
                else if (!next || w->deadline_ms < next)
                        next = w->deadline_ms;
        }
        return next;
}

void logd_followers_free(struct logd *d)
{
        while (d->followers)
                reply_nothing(d, d->followers);
}

/* ---- status ---- */

static json_t *boots_json(struct logd *d)
{
        json_t *boots = json_array();
        json_t *cur = NULL;
        const uint8_t *cur_id = NULL;
        for (size_t i = 0; boots && i < logstore_n_segments(d->store); i++) {
                const struct logstore_segment *seg = logstore_segment(d->store, i);
                if (!seg->header_ok || !seg->records)
                        continue;
                if (!cur_id || memcmp(cur_id, seg->boot_id, 16) != 0) {
                        char hex[33];
                        for (int k = 0; k < 16; k++)
                                snprintf(hex + 2 * k, 3, "%02x", seg->boot_id[k]);
                        cur = json_pack("{s:s,s:I,s:I}", "boot", hex, "first_seq", (json_int_t) seg->first_seq,
                                        "first_realtime_us", (json_int_t) seg->first_realtime_us);
                        if (!cur || json_array_append_new(boots, cur) < 0) {
                                json_decref(boots);
                                return NULL;
                        }
                        cur_id = seg->boot_id;
                }
                json_object_set_new(cur, "last_seq", json_integer((json_int_t) seg->last_seq));
                json_object_set_new(cur, "last_realtime_us", json_integer((json_int_t) seg->last_realtime_us));
        }
        return boots;
}

static const char *const forward_names[] = {"none", "journal", "syslog"};

/* log.status {} -> {boot, store: {...}, counters: {...}, boots: [...], forward, management} */
static int m_status(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        struct logd *d = logd_of(call);
        int r = alder_json_check_keys(params, SOURCE, NULL, (const char *const[]){NULL}, err);
        if (r < 0)
                return r;
        logd_flush(d);
        const struct logstore_stats *s = logstore_stats(d->store);
        json_t *store = json_pack(
                "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "dir", d->store_dir, "bytes",
                (json_int_t) logstore_bytes(d->store), "max_bytes", (json_int_t) d->set.max_bytes, "segment_bytes",
                (json_int_t) d->set.segment_bytes, "reserve_bytes", (json_int_t) d->set.reserve_bytes, "segments",
                (json_int_t) logstore_n_segments(d->store), "first_seq", (json_int_t) logstore_first_seq(d->store),
                "next_seq", (json_int_t) logstore_next_seq(d->store), "no_space", s->no_space);
        json_t *counters =
                json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "received",
                          (json_int_t) d->n.received, "stored", (json_int_t) d->n.stored, "malformed",
                          (json_int_t) d->n.malformed, "oversize", (json_int_t) d->n.oversize, "fields_rejected",
                          (json_int_t) d->n.fields_rejected, "no_credentials", (json_int_t) d->n.no_credentials,
                          "dropped_no_space", (json_int_t) s->dropped_no_space, "dropped_write_error",
                          (json_int_t) s->dropped_write_error, "dropped_too_big", (json_int_t) s->dropped_too_big,
                          "segments_dropped", (json_int_t) s->segments_dropped, "damaged_regions",
                          (json_int_t) s->damaged_regions, "damaged_bytes", (json_int_t) s->damaged_bytes,
                          "torn_tail_bytes", (json_int_t) s->torn_tail_bytes, "syncs", (json_int_t) s->syncs,
                          "sync_errors", (json_int_t) s->sync_errors, "forwarded", (json_int_t) d->n.forwarded,
                          "forward_errors", (json_int_t) d->n.forward_errors);
        *ret = json_pack("{s:s,s:o,s:o,s:o,s:{s:s,s:s},s:{s:s,s:s}}", "boot", d->boot_hex, "store", store, "counters",
                         counters, "boots", boots_json(d), "forward", "to", forward_names[d->set.forward_to], "level",
                         logd_level_name(d->set.forward_level), "management", "level",
                         logd_level_name(d->set.management_level), "upload",
                         "not implemented yet: alder-dmc is to read log.query with this min_level");
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

const alder_ipc_method logd_methods[] = {
        {"log.query", m_query},
        {"log.follow", m_follow},
        {"log.status", m_status},
        {NULL, NULL},
};
