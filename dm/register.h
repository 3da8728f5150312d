/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The LwM2M 1.1 registration interface's inputs (Core §6.5.1, §6.5.2),
 * checked before anything is stored: the query parameters of Register and
 * Update (Uri-Query options) and the object list (a link-format payload).
 * Both come from the network; error messages are what the device receives as
 * the diagnostic payload of 4.00 Bad Request.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alder/error.h"

#define DM_ENDPOINT_MAX     255
#define DM_LIFETIME_DEFAULT 86400u
#define DM_REG_QUERY_MAX    32 /* Uri-Query options in one request */

struct dm_reg_params {
        char *endpoint;      /* ep: Register only */
        char *endpoint_type; /* et: optional, what Pelion clients send */
        char version[4];     /* lwm2m: "1.0" or "1.1"; "1.0" when absent (Register) */
        bool has_lifetime;
        uint32_t lifetime; /* lt */
        bool has_binding;
        char binding[8]; /* b: letters of U, S, N, T (and Q with 1.0) */
        bool has_sms;
        char sms[33]; /* sms: MSISDN */
        bool queue;   /* Q (1.1) or a Q in the binding (1.0) */
};

void dm_reg_params_clear(struct dm_reg_params *p);

/*
 * Parses the Uri-Query options of a Register (update_version NULL) or of an
 * Update of a registration made with LwM2M `update_version` (the binding's
 * letters depend on it).
 * Refuses: a missing or malformed ep (Register), a version other than 1.0 and
 * 1.1, a lifetime that is not 1..4294967295, a binding with unknown or
 * repeated letters, a repeated parameter, ep/lwm2m in an Update. Unknown
 * parameters are ignored, as the specification lets a server.
 */
int dm_reg_params_parse(const char *update_version, const char *const *query, size_t n, struct dm_reg_params *ret,
                        alder_error **err) ALDER_WUR;

/*
 * Checks a Register/Update object list and returns it as a JSON array of
 * {"path": "/3/0", <attribute>: <value>, ...}, paths relative to the
 * client's root (an alternate root such as </lwm2m>;rt="oma.lwm2m" is
 * stripped and its own link left out). Every other link must be an object or
 * an object instance below that root.
 */
int dm_reg_objects_parse(const char *payload, size_t len, json_t **ret, alder_error **err) ALDER_WUR;
