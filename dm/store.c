/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "alder/json.h"
#include "store.h"
#include "util.h"

/* Statements of fixed SQL, prepared once (SQL parsing was a third of a registration's CPU time). */
#define STMT_CACHE_MAX 32

struct dm_store {
        sqlite3 *db;
        pthread_mutex_t lock;
        struct {
                const char *sql; /* a string literal: cached by its address */
                sqlite3_stmt *st;
        } cache[STMT_CACHE_MAX];
        size_t n_cache;
};

static const char schema[] = "CREATE TABLE IF NOT EXISTS devices ("
                             " id TEXT PRIMARY KEY,"
                             " endpoint TEXT NOT NULL UNIQUE,"
                             " endpoint_type TEXT NOT NULL DEFAULT '',"
                             " state TEXT NOT NULL,"
                             " security TEXT NOT NULL DEFAULT 'none',"
                             " identity TEXT,"
                             " registration_id TEXT,"
                             " address TEXT,"
                             " lifetime INTEGER,"
                             " binding TEXT,"
                             " lwm2m_version TEXT,"
                             " sms TEXT,"
                             " queue_mode INTEGER NOT NULL DEFAULT 0,"
                             " objects TEXT NOT NULL DEFAULT '[]',"
                             " flags TEXT NOT NULL DEFAULT '[]',"
                             " created_at INTEGER NOT NULL,"
                             " updated_at INTEGER NOT NULL,"
                             " registered_at INTEGER,"
                             " expires_at INTEGER,"
                             " last_seen INTEGER);"
                             "CREATE UNIQUE INDEX IF NOT EXISTS devices_registration ON devices(registration_id);"
                             "CREATE INDEX IF NOT EXISTS devices_state ON devices(state);"
                             "CREATE TABLE IF NOT EXISTS psk ("
                             " endpoint TEXT PRIMARY KEY,"
                             " identity TEXT NOT NULL UNIQUE,"
                             " key BLOB NOT NULL,"
                             " created_at INTEGER NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS api_keys ("
                             " id TEXT PRIMARY KEY,"
                             " name TEXT NOT NULL,"
                             " sha256 BLOB NOT NULL,"
                             " created_at INTEGER NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS settings ("
                             " key TEXT PRIMARY KEY,"
                             " value TEXT NOT NULL);";

static int db_error(dm_store *s, alder_error **err, const char *what)
{
        int code = sqlite3_errcode(s->db);
        int errnum = code == SQLITE_CONSTRAINT ? EEXIST
                     : code == SQLITE_FULL     ? ENOSPC
                     : code == SQLITE_NOMEM    ? ENOMEM
                     : code == SQLITE_BUSY     ? EBUSY
                                               : EIO;
        return alder_error_set(err, errnum, "device directory: %s: %s", what, sqlite3_errmsg(s->db));
}

static void unlockp(pthread_mutex_t **m)
{
        if (*m)
                pthread_mutex_unlock(*m);
}
#define LOCKED(s) _cleanup_(unlockp) ALDER_UNUSED pthread_mutex_t *_lock_ = (pthread_mutex_lock(&(s)->lock), &(s)->lock)

/* A cached statement goes back to the cache reset, with its bindings cleared. */
static void resetp(sqlite3_stmt **st)
{
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}
#define _cleanup_stmt_ _cleanup_(resetp)

static void finalizep(sqlite3_stmt **st)
{
        sqlite3_finalize(*st);
}
#define _cleanup_finalize_ _cleanup_(finalizep)

/* A statement of fixed SQL (a string literal), from the cache; with the store locked. */
static int prepare(dm_store *s, const char *sql, sqlite3_stmt **ret, alder_error **err)
{
        for (size_t i = 0; i < s->n_cache; i++)
                if (s->cache[i].sql == sql) {
                        *ret = s->cache[i].st;
                        return 0;
                }
        sqlite3_stmt *st;
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
                return db_error(s, err, "prepare");
        if (s->n_cache < STMT_CACHE_MAX) {
                s->cache[s->n_cache].sql = sql;
                s->cache[s->n_cache++].st = st;
        }
        *ret = st;
        return 0;
}

/* A statement of SQL built for one call (filters): finalized after use (_cleanup_finalize_). */
static int prepare_once(dm_store *s, const char *sql, sqlite3_stmt **ret, alder_error **err)
{
        if (sqlite3_prepare_v2(s->db, sql, -1, ret, NULL) != SQLITE_OK)
                return db_error(s, err, "prepare");
        return 0;
}

/* Binds text or NULL. */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
        if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, i);
}

/* Steps a statement that returns no rows. */
static int exec_stmt(dm_store *s, sqlite3_stmt *st, const char *what, alder_error **err)
{
        if (sqlite3_step(st) != SQLITE_DONE)
                return db_error(s, err, what);
        return 0;
}

static int exec_sql(dm_store *s, const char *sql, const char *what, alder_error **err)
{
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return db_error(s, err, what);
        return 0;
}

int dm_store_open(const char *path, dm_store **ret, alder_error **err)
{
        /* Created 0600 before SQLite opens it: it holds the devices' pre-shared keys. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return alder_error_sys(err, errno, "open device directory '%s'", path);
        close(fd);

        _cleanup_free_ dm_store *s = calloc(1, sizeof(*s));
        if (!s)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
                int r = alder_error_set(err, EIO, "open device directory '%s': %s", path,
                                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
                sqlite3_close(s->db);
                return r;
        }
        sqlite3_busy_timeout(s->db, 5000);
        int r = exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", "pragmas",
                         err);
        if (r >= 0)
                r = exec_sql(s, schema, "create schema", err);
        if (r < 0) {
                sqlite3_close(s->db);
                return alder_error_wrap(err, "open '%s'", path);
        }
        pthread_mutex_init(&s->lock, NULL);
        *ret = steal_pointer(&s);
        return 0;
}

void dm_store_close(dm_store *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_cache; i++)
                sqlite3_finalize(s->cache[i].st);
        sqlite3_close(s->db);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

/* ---- pre-shared keys --------------------------------------------------- */

int dm_store_psk_set(dm_store *s, const char *endpoint, const char *identity, const uint8_t *key, size_t key_len,
                     alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "INSERT INTO psk(endpoint, identity, key, created_at) VALUES(?1, ?2, ?3, ?4) "
                        "ON CONFLICT(endpoint) DO UPDATE SET identity = ?2, key = ?3, created_at = ?4",
                        &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, endpoint);
        bind_text(st, 2, identity);
        sqlite3_bind_blob(st, 3, key, (int) key_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, dm_now_ms());
        if (sqlite3_step(st) != SQLITE_DONE) {
                if (sqlite3_errcode(s->db) == SQLITE_CONSTRAINT)
                        return alder_error_set(err, EEXIST, "PSK identity '%s' belongs to another endpoint", identity);
                return db_error(s, err, "store PSK");
        }
        return 0;
}

int dm_store_psk_by_identity(dm_store *s, const char *identity, char **ret_endpoint, uint8_t *key, size_t *ret_len,
                             alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, "SELECT endpoint, key FROM psk WHERE identity = ?1", &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, identity);
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return alder_error_set(err, ENOENT, "no PSK with identity '%s'", identity);
        if (r != SQLITE_ROW)
                return db_error(s, err, "look up PSK");
        int len = sqlite3_column_bytes(st, 1);
        if (len <= 0 || len > DM_PSK_KEY_MAX)
                return alder_error_set(err, EBADMSG, "PSK of identity '%s': %d bytes", identity, len);
        char *ep = strdup((const char *) sqlite3_column_text(st, 0));
        if (!ep)
                return alder_error_set(err, ENOMEM, "out of memory");
        memcpy(key, sqlite3_column_blob(st, 1), (size_t) len);
        *ret_len = (size_t) len;
        *ret_endpoint = ep;
        return 0;
}

/* One text column of the first row of a query with one text parameter; -ENOENT without a row. */
static int query_text(dm_store *s, const char *sql, const char *arg, char **ret, alder_error **err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, arg);
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return -ENOENT;
        if (r != SQLITE_ROW)
                return db_error(s, err, "query");
        const unsigned char *v = sqlite3_column_text(st, 0);
        char *c = strdup(v ? (const char *) v : "");
        if (!c)
                return alder_error_set(err, ENOMEM, "out of memory");
        *ret = c;
        return 0;
}

int dm_store_psk_identity_of(dm_store *s, const char *endpoint, char **ret_identity, alder_error **err)
{
        LOCKED(s);
        int r = query_text(s, "SELECT identity FROM psk WHERE endpoint = ?1", endpoint, ret_identity, err);
        if (r == -ENOENT)
                return alder_error_set(err, ENOENT, "endpoint '%s' has no PSK", endpoint);
        return r;
}

/* Runs a one-parameter DELETE/UPDATE; -ENOENT when it changed no row. */
static int change_one(dm_store *s, const char *sql, const char *arg, const char *what, alder_error **err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, arg);
        r = exec_stmt(s, st, what, err);
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int dm_store_psk_remove(dm_store *s, const char *endpoint, alder_error **err)
{
        LOCKED(s);
        int r = change_one(s, "DELETE FROM psk WHERE endpoint = ?1", endpoint, "remove PSK", err);
        if (r == -ENOENT)
                return alder_error_set(err, ENOENT, "endpoint '%s' has no PSK", endpoint);
        return r;
}

static json_t *time_json(sqlite3_stmt *st, int col)
{
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
                return json_null();
        char buf[DM_TIME_STRLEN];
        return json_string(dm_time_format(sqlite3_column_int64(st, col), buf));
}

static json_t *text_json(sqlite3_stmt *st, int col)
{
        const unsigned char *v = sqlite3_column_text(st, col);
        return v ? json_string((const char *) v) : json_null();
}

int dm_store_psk_list(dm_store *s, json_t **ret, alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, "SELECT endpoint, identity, created_at FROM psk ORDER BY endpoint", &st, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *list = json_array();
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *o = json_pack("{soso so}", "endpoint_name", text_json(st, 0), "identity", text_json(st, 1),
                                      "created_at", time_json(st, 2));
                if (!o || json_array_append_new(list, o) < 0)
                        return alder_error_set(err, ENOMEM, "out of memory");
        }
        if (r != SQLITE_DONE)
                return db_error(s, err, "list PSKs");
        *ret = steal_pointer(&list);
        return 0;
}

/* ---- devices ----------------------------------------------------------- */

int dm_store_device_register(dm_store *s, const struct dm_device_reg *reg, char ret_id[DM_DEVICE_ID_LEN + 1],
                             alder_error **err)
{
        char id[DM_DEVICE_ID_LEN + 1];
        int r = dm_random_hex(id, DM_DEVICE_ID_LEN / 2, err);
        if (r < 0)
                return r;
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        /* An endpoint keeps its device id and creation time across registrations. */
        r = prepare(s,
                    "INSERT INTO devices(id, endpoint, endpoint_type, state, security, identity, registration_id,"
                    " address, lifetime, binding, lwm2m_version, sms, queue_mode, objects, created_at, updated_at,"
                    " registered_at, expires_at, last_seen)"
                    " VALUES(?1, ?2, COALESCE(?3, ''), 'registered', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                    " ?14, ?14, ?14, ?14 + ?8 * 1000, ?14)"
                    " ON CONFLICT(endpoint) DO UPDATE SET endpoint_type = COALESCE(?3, endpoint_type),"
                    " state = 'registered', security = ?4, identity = ?5, registration_id = ?6, address = ?7,"
                    " lifetime = ?8, binding = ?9, lwm2m_version = ?10, sms = ?11, queue_mode = ?12, objects = ?13,"
                    " updated_at = ?14, registered_at = ?14, expires_at = ?14 + ?8 * 1000, last_seen = ?14"
                    " RETURNING id",
                    &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, id);
        bind_text(st, 2, reg->endpoint);
        bind_text(st, 3, reg->endpoint_type);
        bind_text(st, 4, reg->security);
        bind_text(st, 5, reg->identity);
        bind_text(st, 6, reg->registration_id);
        bind_text(st, 7, reg->address);
        sqlite3_bind_int64(st, 8, reg->lifetime);
        bind_text(st, 9, reg->binding);
        bind_text(st, 10, reg->version);
        bind_text(st, 11, reg->sms);
        sqlite3_bind_int(st, 12, reg->queue);
        bind_text(st, 13, reg->objects ? reg->objects : "[]");
        sqlite3_bind_int64(st, 14, reg->now);
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(s, err, "register device");
        snprintf(ret_id, DM_DEVICE_ID_LEN + 1, "%s", (const char *) sqlite3_column_text(st, 0));
        return 0;
}

int dm_store_device_update(dm_store *s, const struct dm_device_reg *reg, alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "UPDATE devices SET lifetime = COALESCE(?2, lifetime), binding = COALESCE(?3, binding),"
                        " sms = COALESCE(?4, sms), objects = COALESCE(?5, objects), address = COALESCE(?6, address),"
                        " updated_at = ?7, last_seen = ?7, expires_at = ?7 + COALESCE(?2, lifetime) * 1000"
                        " WHERE registration_id = ?1 AND state = 'registered'",
                        &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, reg->registration_id);
        if (reg->has_lifetime)
                sqlite3_bind_int64(st, 2, reg->lifetime);
        bind_text(st, 3, reg->binding);
        bind_text(st, 4, reg->sms);
        bind_text(st, 5, reg->objects);
        bind_text(st, 6, reg->address);
        sqlite3_bind_int64(st, 7, reg->now);
        r = exec_stmt(s, st, "update registration", err);
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) == 0)
                return alder_error_set(err, ENOENT, "no live registration '%s'", reg->registration_id);
        return 0;
}

/* A one-row change keyed by registration id, with a time parameter ?2 and an optional text ?3. */
static int registration_change(dm_store *s, const char *sql, const char *registration_id, int64_t now, const char *text,
                               const char *what, alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, registration_id);
        sqlite3_bind_int64(st, 2, now);
        if (text)
                bind_text(st, 3, text);
        r = exec_stmt(s, st, what, err);
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) == 0)
                return alder_error_set(err, ENOENT, "%s: no live registration '%s'", what, registration_id);
        return 0;
}

int dm_store_device_end(dm_store *s, const char *registration_id, const char *state, int64_t now, alder_error **err)
{
        return registration_change(s,
                                   "UPDATE devices SET state = ?3, updated_at = ?2, expires_at = NULL"
                                   " WHERE registration_id = ?1 AND state = 'registered'",
                                   registration_id, now, state, "end registration", err);
}

int dm_store_device_seen(dm_store *s, const char *registration_id, int64_t now, alder_error **err)
{
        return registration_change(s, "UPDATE devices SET last_seen = ?2 WHERE registration_id = ?1", registration_id,
                                   now, NULL, "last seen", err);
}

#define DM_FLAGS_MAX 16

int dm_store_device_flag(dm_store *s, const char *endpoint, const char *type, const char *message, int64_t now,
                         alder_error **err)
{
        LOCKED(s);
        _cleanup_free_ char *flags_text = NULL;
        int r = query_text(s, "SELECT flags FROM devices WHERE endpoint = ?1", endpoint, &flags_text, err);
        if (r == -ENOENT)
                return alder_error_set(err, ENOENT, "no device with endpoint name '%s'", endpoint);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *flags = json_loads(flags_text, 0, NULL);
        if (!json_is_array(flags)) {
                json_decref(flags);
                flags = json_array();
        }
        char buf[DM_TIME_STRLEN];
        json_t *f = json_pack("{ssssss}", "type", type, "message", message, "at", dm_time_format(now, buf));
        if (!f || json_array_append_new(flags, f) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        while (json_array_size(flags) > DM_FLAGS_MAX)
                json_array_remove(flags, 0);
        _cleanup_free_ char *text = json_dumps(flags, JSON_COMPACT);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = prepare(s, "UPDATE devices SET flags = ?2, updated_at = ?3 WHERE endpoint = ?1", &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, endpoint);
        bind_text(st, 2, text);
        sqlite3_bind_int64(st, 3, now);
        return exec_stmt(s, st, "flag device", err);
}

#define DEVICE_COLUMNS                                                                                         \
        "id, endpoint, endpoint_type, state, security, identity, registration_id, address, lifetime, binding," \
        " lwm2m_version, sms, queue_mode, objects, flags, created_at, updated_at, registered_at, expires_at,"  \
        " last_seen"

static json_t *json_column(sqlite3_stmt *st, int col)
{
        const unsigned char *v = sqlite3_column_text(st, col);
        json_t *j = v ? json_loads((const char *) v, 0, NULL) : NULL;
        return j ? j : json_array();
}

static json_t *device_json(sqlite3_stmt *st)
{
        json_t *lifetime =
                sqlite3_column_type(st, 8) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(st, 8));
        /*
         * Pelion's device fields first (those the LwM2M server does not know are
         * empty strings, as Pelion shows unset fields), then the registration.
         */
        return json_pack("{ss so so so so ss ss ss ss s{} so so so"
                         " so so so so so so so sb so so so so}",
                         "object", "device", "id", text_json(st, 0), "endpoint_name", text_json(st, 1), "endpoint_type",
                         text_json(st, 2), "state", text_json(st, 3), "serial_number", "", "vendor_id", "",
                         "device_class", "", "firmware_checksum", "", "custom_attributes", "created_at",
                         time_json(st, 15), "updated_at", time_json(st, 16), "last_seen", time_json(st, 19),
                         /* registration */
                         "auth_type", text_json(st, 4), "auth_identity", text_json(st, 5), "registration_id",
                         text_json(st, 6), "address", text_json(st, 7), "lifetime", lifetime, "binding",
                         text_json(st, 9), "lwm2m_version", text_json(st, 10), "queue_mode",
                         sqlite3_column_int(st, 12) != 0, "registered_at", time_json(st, 17), "expires_at",
                         time_json(st, 18), "resources", json_column(st, 13), "flags", json_column(st, 14));
}

int dm_store_device_get(dm_store *s, const char *key, bool by_endpoint, json_t **ret, alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        by_endpoint ? "SELECT " DEVICE_COLUMNS " FROM devices WHERE endpoint = ?1"
                                    : "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?1",
                        &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, key);
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return alder_error_set(err, ENOENT, "no device with %s '%s'", by_endpoint ? "endpoint name" : "id",
                                       key);
        if (r != SQLITE_ROW)
                return db_error(s, err, "get device");
        json_t *d = device_json(st);
        if (!d)
                return alder_error_set(err, ENOMEM, "out of memory");
        *ret = d;
        return 0;
}

int dm_store_device_delete(dm_store *s, const char *id, alder_error **err)
{
        LOCKED(s);
        _cleanup_free_ char *state = NULL;
        int r = query_text(s, "SELECT state FROM devices WHERE id = ?1", id, &state, err);
        if (r == -ENOENT)
                return alder_error_set(err, ENOENT, "no device with id '%s'", id);
        if (r < 0)
                return r;
        if (strcmp(state, "registered") == 0)
                return alder_error_set(err, EBUSY, "device '%s' is registered: it can be deleted once it is not", id);
        return change_one(s, "DELETE FROM devices WHERE id = ?1", id, "delete device", err);
}

int dm_store_registered_foreach(dm_store *s, dm_store_reg_fn fn, void *ctx, alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s,
                        "SELECT id, endpoint, endpoint_type, security, identity, registration_id, address, lifetime,"
                        " binding, lwm2m_version, sms, queue_mode, objects, expires_at FROM devices"
                        " WHERE state = 'registered' AND registration_id IS NOT NULL",
                        &st, err);
        if (r < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
#define COL(i) ((const char *) sqlite3_column_text(st, (i)))
                struct dm_device_reg reg = {
                        .endpoint = COL(1),
                        .endpoint_type = COL(2),
                        .security = COL(3),
                        .identity = COL(4),
                        .registration_id = COL(5),
                        .address = COL(6),
                        .has_lifetime = true,
                        .lifetime = (uint32_t) sqlite3_column_int64(st, 7),
                        .binding = COL(8),
                        .version = COL(9),
                        .sms = COL(10),
                        .queue = sqlite3_column_int(st, 11) != 0,
                        .objects = COL(12),
                };
                r = fn(ctx, &reg, COL(0), sqlite3_column_int64(st, 13));
#undef COL
                if (r < 0)
                        return alder_error_set(err, -r, "restore registrations");
        }
        if (r != SQLITE_DONE)
                return db_error(s, err, "restore registrations");
        return 0;
}

/* ---- filtered lists ---------------------------------------------------- */

static const struct dm_field device_fields[] = {
        {"id", "id", DM_FIELD_TEXT},
        {"endpoint_name", "endpoint", DM_FIELD_TEXT},
        {"endpoint_type", "endpoint_type", DM_FIELD_TEXT},
        {"state", "state", DM_FIELD_TEXT},
        {"auth_type", "security", DM_FIELD_TEXT},
        {"auth_identity", "identity", DM_FIELD_TEXT},
        {"registration_id", "registration_id", DM_FIELD_TEXT},
        {"address", "address", DM_FIELD_TEXT},
        {"binding", "binding", DM_FIELD_TEXT},
        {"lwm2m_version", "lwm2m_version", DM_FIELD_TEXT},
        {"lifetime", "lifetime", DM_FIELD_INT},
        {"created_at", "created_at", DM_FIELD_TIME},
        {"updated_at", "updated_at", DM_FIELD_TIME},
        {"registered_at", "registered_at", DM_FIELD_TIME},
        {"expires_at", "expires_at", DM_FIELD_TIME},
        {"last_seen", "last_seen", DM_FIELD_TIME},
};

const struct dm_field *dm_store_device_field(const char *name)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(device_fields); i++)
                if (strcmp(device_fields[i].name, name) == 0)
                        return &device_fields[i];
        return NULL;
}

void dm_query_clear(struct dm_query *q)
{
        for (size_t i = 0; i < q->n_filters; i++)
                for (size_t j = 0; j < q->filters[i].n_values; j++)
                        free(q->filters[i].text[j]);
        free(q->after);
        *q = (struct dm_query){0};
}

/* Appends s to a bounded SQL buffer. */
struct sqlbuf {
        char s[8192];
        size_t n;
};

static void sql_add(struct sqlbuf *b, const char *s)
{
        size_t len = strlen(s);
        if (b->n + len < sizeof(b->s)) {
                memcpy(b->s + b->n, s, len + 1);
                b->n += len;
        }
}

/* WHERE clause of the filters, with ?N placeholders numbered from 1; *ret_params gets the count. */
static void filters_sql(const struct dm_query *q, struct sqlbuf *b, int *ret_params)
{
        static const char *const ops[] = {[DM_OP_EQ] = " = ",   [DM_OP_NEQ] = " IS NOT ", [DM_OP_LTE] = " <= ",
                                          [DM_OP_GTE] = " >= ", [DM_OP_IN] = " IN (",     [DM_OP_NIN] = " NOT IN ("};
        int p = 0;
        sql_add(b, " WHERE 1");
        for (size_t i = 0; i < q->n_filters; i++) {
                const struct dm_filter *f = &q->filters[i];
                sql_add(b, " AND ");
                /* NOT IN and != must keep rows where the column is NULL. */
                if (f->op == DM_OP_NIN) {
                        sql_add(b, "(");
                        sql_add(b, f->field->column);
                        sql_add(b, " IS NULL OR ");
                }
                sql_add(b, f->field->column);
                sql_add(b, ops[f->op]);
                for (size_t j = 0; j < f->n_values; j++) {
                        char ph[16];
                        snprintf(ph, sizeof(ph), "%s?%d", j ? ", " : "", ++p);
                        sql_add(b, ph);
                }
                if (f->op == DM_OP_IN || f->op == DM_OP_NIN)
                        sql_add(b, ")");
                if (f->op == DM_OP_NIN)
                        sql_add(b, ")");
        }
        *ret_params = p;
}

static void bind_filters(sqlite3_stmt *st, const struct dm_query *q)
{
        int p = 0;
        for (size_t i = 0; i < q->n_filters; i++) {
                const struct dm_filter *f = &q->filters[i];
                for (size_t j = 0; j < f->n_values; j++) {
                        if (f->field->type == DM_FIELD_TEXT)
                                bind_text(st, ++p, f->text[j]);
                        else
                                sqlite3_bind_int64(st, ++p, f->num[j]);
                }
        }
}

static int count_devices(dm_store *s, const struct dm_query *q, int64_t *ret, alder_error **err)
{
        struct sqlbuf b = {0};
        int params;
        sql_add(&b, "SELECT COUNT(*) FROM devices");
        filters_sql(q, &b, &params);
        _cleanup_finalize_ sqlite3_stmt *st = NULL;
        int r = prepare_once(s, b.s, &st, err);
        if (r < 0)
                return r;
        bind_filters(st, q);
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(s, err, "count devices");
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

int dm_store_device_list(dm_store *s, const struct dm_query *q, json_t **ret, alder_error **err)
{
        struct sqlbuf b = {0};
        int params;
        sql_add(&b, "SELECT " DEVICE_COLUMNS " FROM devices");
        filters_sql(q, &b, &params);
        if (q->after) {
                char ph[32];
                snprintf(ph, sizeof(ph), " AND id %s ?%d", q->descending ? "<" : ">", ++params);
                sql_add(&b, ph);
        }
        char tail[64];
        snprintf(tail, sizeof(tail), " ORDER BY id %s LIMIT %u", q->descending ? "DESC" : "ASC", q->limit + 1);
        sql_add(&b, tail);

        LOCKED(s);
        _cleanup_finalize_ sqlite3_stmt *st = NULL;
        int r = prepare_once(s, b.s, &st, err);
        if (r < 0)
                return r;
        bind_filters(st, q);
        if (q->after)
                bind_text(st, params, q->after);
        _cleanup_json_ json_t *data = json_array();
        bool has_more = false;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                if (json_array_size(data) == q->limit) {
                        has_more = true;
                        break;
                }
                json_t *d = device_json(st);
                if (!d || json_array_append_new(data, d) < 0)
                        return alder_error_set(err, ENOMEM, "out of memory");
        }
        if (r != SQLITE_ROW && r != SQLITE_DONE)
                return db_error(s, err, "list devices");
        _cleanup_json_ json_t *list =
                json_pack("{sssOsbsissss?}", "object", "list", "data", data, "has_more", has_more, "limit",
                          (int) q->limit, "order", q->descending ? "DESC" : "ASC", "after", q->after);
        if (!list)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (q->total_count) {
                int64_t total = 0;
                r = count_devices(s, q, &total, err);
                if (r < 0)
                        return r;
                json_object_set_new(list, "total_count", json_integer(total));
        }
        *ret = steal_pointer(&list);
        return 0;
}

/* ---- API keys ---------------------------------------------------------- */

int dm_store_apikey_count(dm_store *s, unsigned *ret, alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, "SELECT COUNT(*) FROM api_keys", &st, err);
        if (r < 0)
                return r;
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(s, err, "count API keys");
        *ret = (unsigned) sqlite3_column_int(st, 0);
        return 0;
}

int dm_store_apikey_add(dm_store *s, const char *id, const char *name, const uint8_t sha256[32], int64_t now,
                        alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, "INSERT INTO api_keys(id, name, sha256, created_at) VALUES(?1, ?2, ?3, ?4)", &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, id);
        bind_text(st, 2, name);
        sqlite3_bind_blob(st, 3, sha256, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        return exec_stmt(s, st, "add API key", err);
}

int dm_store_apikey_match(dm_store *s, const uint8_t sha256[32], alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare(s, "SELECT sha256 FROM api_keys", &st, err);
        if (r < 0)
                return r;
        /* Every key is compared, in constant time, whether or not one matched before. */
        int found = 0;
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
                if (sqlite3_column_bytes(st, 0) == 32)
                        found |= CRYPTO_memcmp(sqlite3_column_blob(st, 0), sha256, 32) == 0;
        if (r != SQLITE_DONE)
                return db_error(s, err, "check API key");
        return found ? 0 : -EACCES;
}

/* ---- settings ---------------------------------------------------------- */

int dm_store_setting_get(dm_store *s, const char *key, json_t **ret, alder_error **err)
{
        LOCKED(s);
        _cleanup_free_ char *text = NULL;
        int r = query_text(s, "SELECT value FROM settings WHERE key = ?1", key, &text, err);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        return alder_json_parse(key, text, strlen(text), ret, err);
}

int dm_store_setting_set(dm_store *s, const char *key, const json_t *value, alder_error **err)
{
        LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *text = NULL;
        if (value) {
                text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!text)
                        return alder_error_set(err, ENOMEM, "out of memory");
        }
        int r = prepare(s,
                        value ? "INSERT INTO settings(key, value) VALUES(?1, ?2)"
                                " ON CONFLICT(key) DO UPDATE SET value = ?2"
                              : "DELETE FROM settings WHERE key = ?1",
                        &st, err);
        if (r < 0)
                return r;
        bind_text(st, 1, key);
        if (value)
                bind_text(st, 2, text);
        return exec_stmt(s, st, "store setting", err);
}
