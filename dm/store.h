/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device directory of alder-dm in SQLite: devices and their registration
 * state, pre-shared keys, API key digests and settings (webhook,
 * pre-subscriptions).
 *
 * Crash safety: WAL journal, every change one transaction, synchronous=NORMAL
 * (a power cut may lose the last transactions, never corrupt the file). The
 * database file is created 0600: it holds the devices' PSKs.
 *
 * One connection behind a mutex: the CoAP thread and the HTTP threads call in
 * concurrently; each call is short.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alder/error.h"

typedef struct dm_store dm_store;

int dm_store_open(const char *path, dm_store **ret, alder_error **err) ALDER_WUR;
void dm_store_close(dm_store *s);

/* ---- pre-shared keys --------------------------------------------------- */

#define DM_PSK_KEY_MAX      64
#define DM_PSK_IDENTITY_MAX 128

/* Sets the PSK of an endpoint (replacing its previous one). -EEXIST when another endpoint has the identity. */
int dm_store_psk_set(dm_store *s, const char *endpoint, const char *identity, const uint8_t *key, size_t key_len,
                     alder_error **err) ALDER_WUR;
/* Key and endpoint of an identity; -ENOENT when unknown. key holds DM_PSK_KEY_MAX bytes. */
int dm_store_psk_by_identity(dm_store *s, const char *identity, char **ret_endpoint, uint8_t *key, size_t *ret_len,
                             alder_error **err) ALDER_WUR;
/* Identity provisioned for an endpoint; -ENOENT when it has none. */
int dm_store_psk_identity_of(dm_store *s, const char *endpoint, char **ret_identity, alder_error **err) ALDER_WUR;
int dm_store_psk_remove(dm_store *s, const char *endpoint, alder_error **err) ALDER_WUR; /* -ENOENT */
/* [{"endpoint_name", "identity", "created_at"}] (never the keys). */
int dm_store_psk_list(dm_store *s, json_t **ret, alder_error **err) ALDER_WUR;

/* ---- devices ----------------------------------------------------------- */

/* What a Register or an Update writes. NULL/absent fields of an Update keep their value. */
struct dm_device_reg {
        const char *endpoint;
        const char *endpoint_type;
        const char *identity; /* PSK identity or certificate CN; NULL without security */
        const char *security; /* "none", "psk", "certificate" */
        const char *registration_id;
        const char *address; /* "IP:port" */
        const char *binding;
        const char *version;
        const char *sms;
        const char *objects; /* JSON array from dm_reg_objects_parse() */
        bool has_lifetime;
        uint32_t lifetime;
        bool queue;
        int64_t now;
};

#define DM_DEVICE_ID_LEN 32 /* hex digits */

/* Register: creates the device or moves it to state registered; *ret_id gets its id. */
int dm_store_device_register(dm_store *s, const struct dm_device_reg *r, char ret_id[DM_DEVICE_ID_LEN + 1],
                             alder_error **err) ALDER_WUR;
/* Update of a live registration (by registration id): lifetime, binding, sms, objects, address, last seen. */
int dm_store_device_update(dm_store *s, const struct dm_device_reg *r, alder_error **err) ALDER_WUR;
/* Ends a registration: state "deregistered" or "expired". */
int dm_store_device_end(dm_store *s, const char *registration_id, const char *state, int64_t now,
                        alder_error **err) ALDER_WUR;
/* Last seen time of a registration (any message from the device). */
int dm_store_device_seen(dm_store *s, const char *registration_id, int64_t now, alder_error **err) ALDER_WUR;
/* Adds a security flag to the device of an endpoint (-ENOENT when there is none); at most 16 are kept. */
int dm_store_device_flag(dm_store *s, const char *endpoint, const char *type, const char *message, int64_t now,
                         alder_error **err) ALDER_WUR;
/* The REST representation of one device, by id or by endpoint name; -ENOENT. */
int dm_store_device_get(dm_store *s, const char *key, bool by_endpoint, json_t **ret, alder_error **err) ALDER_WUR;
int dm_store_device_delete(dm_store *s, const char *id, alder_error **err) ALDER_WUR; /* -ENOENT, -EBUSY registered */

/* Calls fn for every device in state registered (start-up: registrations outlive a restart). */
typedef int (*dm_store_reg_fn)(void *ctx, const struct dm_device_reg *r, const char *device_id, int64_t expires_at);
int dm_store_registered_foreach(dm_store *s, dm_store_reg_fn fn, void *ctx, alder_error **err) ALDER_WUR;

/* Filterable fields of a device: the REST names, how values are read. */
enum dm_field_type { DM_FIELD_TEXT, DM_FIELD_TIME, DM_FIELD_INT };
struct dm_field {
        const char *name;   /* REST name: "endpoint_name" */
        const char *column; /* SQL column */
        enum dm_field_type type;
};
const struct dm_field *dm_store_device_field(const char *name);

enum dm_filter_op { DM_OP_EQ, DM_OP_NEQ, DM_OP_IN, DM_OP_NIN, DM_OP_LTE, DM_OP_GTE };

#define DM_FILTER_VALUES_MAX 64
#define DM_FILTERS_MAX       16

struct dm_filter {
        const struct dm_field *field;
        enum dm_filter_op op;
        size_t n_values;
        char *text[DM_FILTER_VALUES_MAX];  /* TEXT */
        int64_t num[DM_FILTER_VALUES_MAX]; /* TIME (ms), INT */
};

struct dm_query {
        struct dm_filter filters[DM_FILTERS_MAX];
        size_t n_filters;
        unsigned limit; /* 2..1000 */
        char *after;    /* id of the last device of the previous page */
        bool descending;
        bool total_count; /* include=total_count */
};

void dm_query_clear(struct dm_query *q);

/* A Pelion list object: {"object":"list","data":[...],"has_more","after","limit","order","total_count"}. */
int dm_store_device_list(dm_store *s, const struct dm_query *q, json_t **ret, alder_error **err) ALDER_WUR;

/* ---- API keys ---------------------------------------------------------- */

int dm_store_apikey_count(dm_store *s, unsigned *ret, alder_error **err) ALDER_WUR;
int dm_store_apikey_add(dm_store *s, const char *id, const char *name, const uint8_t sha256[32], int64_t now,
                        alder_error **err) ALDER_WUR;
/* 0 when a stored key has this digest (compared in constant time against every key), -EACCES when none has. */
int dm_store_apikey_match(dm_store *s, const uint8_t sha256[32], alder_error **err) ALDER_WUR;

/* ---- settings (JSON documents by name) --------------------------------- */

/* *ret = NULL when unset. */
int dm_store_setting_get(dm_store *s, const char *key, json_t **ret, alder_error **err) ALDER_WUR;
/* value NULL removes it. */
int dm_store_setting_set(dm_store *s, const char *key, const json_t *value, alder_error **err) ALDER_WUR;
