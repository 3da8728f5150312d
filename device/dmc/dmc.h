/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-dmc: the device-management client (LwM2M 1.1 over CoAP/DTLS, libcoap3).
 *
 * Layers, each in its own file so that unit tests and fuzz targets reach the
 * logic without a network:
 *   config.c     /config/dmc.json → struct dmc_config (errors name file and field)
 *   model.c      objects, instances and the LwM2M operations on them: a request
 *                (method, path, query, formats, payload) in, a response (code,
 *                format, payload) out; no CoAP library in sight
 *   attrs.c      Write-Attributes query parsing, attribute inheritance, the
 *                notification decision (pmin/pmax/gt/lt/st), Execute arguments
 *   links.c      link format for Register/Update and Discover
 *   coap.c       libcoap: resources for every path, handlers → model, observe
 *   reg.c        Register / Update / De-register, back-off, queue mode
 *   loop.c       the poll loop: CoAP, signals (SIGHUP reload, SIGTERM), timers
 *   obj-*.c      the objects (0, 1, 3, 4, 5, 9, 33900)
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alder/error.h"
#include "alder/lwm2m.h"
#include "alder/macro.h"

/* ---- configuration -------------------------------------------------------- */

enum dmc_security {
        DMC_SEC_NOSEC = 0, /* coap:// */
        DMC_SEC_PSK,       /* coaps:// with psk_identity + psk_key */
        DMC_SEC_CERT,      /* coaps:// with certificate + private_key + ca */
};

#define DMC_PSK_KEY_MAX 64

struct dmc_server_config {
        char *uri;  /* as configured */
        char *host; /* without [] for IPv6 literals */
        uint16_t port;
        uint16_t short_id;
        int64_t lifetime_s;
        char *binding; /* "U" */
        bool queue_mode;
        int64_t awake_time_ms;
        int64_t default_pmin_s, default_pmax_s;
        enum dmc_security security;
        char *psk_identity;
        uint8_t psk_key[DMC_PSK_KEY_MAX];
        size_t psk_key_len;
        char *certificate, *private_key, *ca;
};

struct dmc_device_config {
        char *manufacturer, *model, *serial, *hardware_version, *software_version, *firmware_version, *device_type;
        char **reboot_command;        /* argv, NULL: not supported (4.05) */
        char **factory_reset_command; /* argv, NULL: not supported (4.05) */
        int64_t command_timeout_ms;
};

struct dmc_config {
        char *root;        /* prefix of default paths ("" on a device) */
        char *config_path; /* ROOT/config/dmc.json */
        char *endpoint;
        char *lwm2m_version; /* "1.1" (default) or "1.0" */
        struct dmc_server_config server;
        struct dmc_device_config device;
        char *appd_socket;          /* ROOT/run/alder/appd.sock */
        char *updated_socket;       /* ROOT/run/alder/updated.sock */
        char *data_dir;             /* ROOT/var/lib/alder/dmc */
        char *firmware_ca_file;     /* https:// package URIs: CAs to trust (NULL: the system's) */
        int64_t firmware_max_bytes; /* largest package pulled over HTTP(S) (default 1 GiB) */
        int64_t retry_initial_ms, retry_max_ms;
        int64_t ack_timeout_ms, max_retransmit;
        int64_t observe_poll_ms;
        int64_t apps_poll_ms;
};

/* Loads and checks the configuration; `root` and `path` may be NULL. Errors name the file and field. */
int dmc_config_load(struct dmc_config *cfg, const char *root, const char *path, alder_error **err) ALDER_WUR;
void dmc_config_done(struct dmc_config *cfg);
/* What changed between two configurations: a new server, identity or credentials need a new registration. */
bool dmc_config_server_changed(const struct dmc_config *a, const struct dmc_config *b);

/* ---- the object model ------------------------------------------------------ */

struct dmc_model;
struct dmc_object;

/* CoAP response codes the model answers with (class << 5 | detail). */
enum {
        DMC_COAP_CREATED = 0x41,
        DMC_COAP_DELETED = 0x42,
        DMC_COAP_CHANGED = 0x44,
        DMC_COAP_CONTENT = 0x45,
        DMC_COAP_BAD_REQUEST = 0x80,
        DMC_COAP_UNAUTHORIZED = 0x81,
        DMC_COAP_NOT_FOUND = 0x84,
        DMC_COAP_METHOD_NOT_ALLOWED = 0x85,
        DMC_COAP_NOT_ACCEPTABLE = 0x86,
        DMC_COAP_REQUEST_TOO_LARGE = 0x8d,
        DMC_COAP_UNSUPPORTED_FORMAT = 0x8f,
        DMC_COAP_INTERNAL_ERROR = 0xa0,
        DMC_COAP_NOT_IMPLEMENTED = 0xa1,
        DMC_COAP_SERVICE_UNAVAILABLE = 0xa3,
};

/*
 * An object's implementation. Callbacks return 0 or a negative errno with
 * *err set; the model maps errnos to CoAP codes: ENOENT 4.04, EINVAL/EBADMSG/
 * ERANGE/EEXIST 4.00, EPERM/EACCES 4.01, EOPNOTSUPP 4.05, EPROTONOSUPPORT 4.15,
 * EAGAIN/EBUSY/ECONNREFUSED 5.03, anything else 5.00; the message is the
 * diagnostic payload.
 */
struct dmc_object_ops {
        /* Appends the value of resource `res` of instance `inst`: one record (single resource) or one per
         * resource instance (multiple, possibly none). -ENOENT: not present in this instance. */
        int (*read)(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                    struct alder_lwm2m_records *out, alder_error **err);
        /* Writes resource `res`: n records typed as its definition says (several for a multiple resource,
         * paths of length 4). `replace`: the given instances are all there is (PUT). */
        int (*write)(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                     const struct alder_lwm2m_record *v, size_t n, bool replace, alder_error **err);
        /* Executes; args: the payload (Execute arguments, checked by the model), may be empty. */
        int (*execute)(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                       const char *args, size_t len, alder_error **err);
        /* Creates instance `inst` from records (typed, all under /O/inst). */
        int (*create)(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_records *r, alder_error **err);
        int (*remove)(struct dmc_object *o, uint16_t inst, alder_error **err);
        void (*free)(struct dmc_object *o);
};

#define DMC_MAX_INSTANCES 1024

struct dmc_object {
        const struct alder_lwm2m_object_def *def;
        const struct dmc_object_ops *ops;
        const uint16_t *implemented; /* resource ids this implementation has, ascending */
        size_t n_implemented;
        bool server_access;  /* false for Security (0): only a bootstrap server may touch it */
        uint16_t *instances; /* ascending */
        size_t n_instances;
        struct dmc_model *model;
        void *data;
};

/* Called when an object's instances changed (new paths to serve, a registration Update to send). */
typedef void (*dmc_model_changed_fn)(struct dmc_model *m, struct dmc_object *o, void *ctx);

struct dmc_attrs;

struct dmc_model {
        struct dmc_object **objects; /* ascending by id */
        size_t n_objects;
        bool lwm2m_1_0;               /* registered as 1.0: TLV is the default format */
        struct dmc_attr_entry *attrs; /* Write-Attributes, by path */
        size_t n_attrs;
        dmc_model_changed_fn on_change;
        void *on_change_ctx;
};

/* Adds an object (ownership moves to the model, which frees it with ops->free). */
int dmc_model_add(struct dmc_model *m, struct dmc_object *o, alder_error **err) ALDER_WUR;
struct dmc_object *dmc_model_find(const struct dmc_model *m, uint16_t id);
void dmc_model_free(struct dmc_model *m);

/* Replaces the instance list (any order, duplicates dropped); on a change calls the model's on_change. */
int dmc_object_set_instances(struct dmc_object *o, const uint16_t *ids, size_t n, alder_error **err) ALDER_WUR;
bool dmc_object_has_instance(const struct dmc_object *o, uint16_t inst);
bool dmc_object_implements(const struct dmc_object *o, uint16_t res);

enum dmc_method {
        DMC_GET = 1,
        DMC_POST = 2,
        DMC_PUT = 3,
        DMC_DELETE = 4,
        DMC_FETCH = 5,
        DMC_PATCH = 6,
        DMC_IPATCH = 7,
};

#define DMC_NO_FORMAT (-1)

struct dmc_request {
        enum dmc_method method;
        struct alder_lwm2m_path path;
        int content_format; /* DMC_NO_FORMAT when absent */
        int accept;         /* DMC_NO_FORMAT when absent */
        int observe;        /* -1 absent, 0 register, 1 deregister */
        const char *query;  /* Uri-Query options joined with '&' (not NUL-terminated), may be NULL */
        size_t query_len;
        const uint8_t *payload;
        size_t payload_len;
        int64_t now_ms; /* monotonic clock, for attributes' bookkeeping */
};

struct dmc_response {
        uint8_t code;
        int content_format; /* DMC_NO_FORMAT: none (diagnostic payloads are plain text without one) */
        uint8_t *payload;   /* malloc'd */
        size_t payload_len;
        uint16_t created_instance; /* Create: the new instance (for Location-Path) */
};

/*
 * Performs one LwM2M operation (Core TS 1.1 §8 / Table 8.2.3 mapping):
 * GET → Read (Discover with Accept: link-format), PUT with a payload → Write
 * (replace), PUT without one → Write-Attributes, POST /O → Create, POST /O/I
 * → Write (partial update), POST /O/I/R → Execute, DELETE /O/I → Delete.
 * Always fills resp (free its payload with dmc_response_clear).
 */
void dmc_model_handle(struct dmc_model *m, const struct dmc_request *req, struct dmc_response *resp);
void dmc_response_clear(struct dmc_response *resp);

/* Reads the records under a path (object, instance, resource or resource instance) as Read would. */
int dmc_model_read(struct dmc_model *m, const struct alder_lwm2m_path *p, struct alder_lwm2m_records *out,
                   alder_error **err) ALDER_WUR;

/* The CoAP code for a negative errno from an object callback. */
uint8_t dmc_coap_code_for_errno(int r);
/* "4.04" style rendering of a code; buf of at least 5 bytes. */
const char *dmc_coap_code_str(uint8_t code, char buf[static 5]);

/* ---- attributes and notifications (attrs.c) -------------------------------- */

enum {
        DMC_ATTR_PMIN = 1 << 0,
        DMC_ATTR_PMAX = 1 << 1,
        DMC_ATTR_GT = 1 << 2,
        DMC_ATTR_LT = 1 << 3,
        DMC_ATTR_ST = 1 << 4,
        DMC_ATTR_EPMIN = 1 << 5,
        DMC_ATTR_EPMAX = 1 << 6,
};

struct dmc_attrs {
        unsigned set; /* DMC_ATTR_* present */
        int64_t pmin, pmax, epmin, epmax;
        double gt, lt, st;
};

struct dmc_attr_entry {
        struct alder_lwm2m_path path;
        struct dmc_attrs attrs;
};

/*
 * Parses a Write-Attributes query ("pmin=10&pmax=60&gt=20.5&st", a name
 * without value removes that attribute) into `set` (values to set) and
 * `unset` (DMC_ATTR_* to remove). Unknown names, bad numbers, duplicates and
 * gt/lt/st above resource level or on a non-numeric resource are errors
 * (-EINVAL, the message names the attribute). `type` is the resource's type
 * (NONE for object/instance level).
 */
int dmc_attrs_parse(const char *query, size_t len, const struct alder_lwm2m_path *p, enum alder_lwm2m_type type,
                    struct dmc_attrs *set, unsigned *unset, alder_error **err) ALDER_WUR;

/* Applies a parsed Write-Attributes to the attributes of p in the model, checking the result (lt < gt, lt + 2st < gt).
 */
int dmc_attrs_apply(struct dmc_model *m, const struct alder_lwm2m_path *p, const struct dmc_attrs *set, unsigned unset,
                    alder_error **err) ALDER_WUR;
/* Attributes attached at exactly p (NULL when none). */
const struct dmc_attrs *dmc_attrs_get(const struct dmc_model *m, const struct alder_lwm2m_path *p);
/* Drops the attributes of p and everything below it (Delete of an instance). */
void dmc_attrs_forget(struct dmc_model *m, const struct alder_lwm2m_path *p);
/*
 * Effective attributes of p: resource-instance, resource, instance and object
 * levels, the nearest winning, pmin/pmax defaulting to the Server object's.
 */
void dmc_attrs_effective(const struct dmc_model *m, const struct alder_lwm2m_path *p, int64_t default_pmin_s,
                         int64_t default_pmax_s, struct dmc_attrs *ret);
/* Appends ";pmin=10;gt=2.5" for the attributes attached at p to buf (for Discover). */
int dmc_attrs_format(const struct dmc_attrs *a, char **buf, size_t *len, size_t *cap);

/* What an observation remembers of its last notification. */
struct dmc_observation {
        struct alder_lwm2m_path path;
        int64_t last_ms;                 /* when it was last sent (or established) */
        struct alder_lwm2m_records last; /* the values then */
        bool active;
};

/*
 * Decides whether `current` is to be notified now (Core TS 1.1 §6.4 / §7.3.1):
 * pmax elapsed → yes; values changed (for a numeric single resource with
 * gt/lt/st: crossed gt or lt, or moved by at least st since the last
 * notification) and pmin elapsed → yes. *next_ms gets the time at which the
 * answer may change without a new value (pmin or pmax expiry; INT64_MAX: never).
 */
bool dmc_observe_due(const struct dmc_observation *o, const struct dmc_attrs *eff,
                     const struct alder_lwm2m_records *current, int64_t now_ms, int64_t *next_ms);
/* Remembers `current` as the last notified values at now. */
int dmc_observe_sent(struct dmc_observation *o, const struct alder_lwm2m_records *current, int64_t now_ms,
                     alder_error **err) ALDER_WUR;
void dmc_observation_clear(struct dmc_observation *o);

/* Records equal in paths, types and values. */
bool dmc_records_equal(const struct alder_lwm2m_records *a, const struct alder_lwm2m_records *b);

/*
 * Checks Execute arguments (Core TS 1.1 §5.4.5: `0='abc',3,7='x'`: digits,
 * optional ='text' without quotes inside). Returns the number of arguments.
 */
int dmc_exec_args_check(const char *args, size_t len, alder_error **err) ALDER_WUR;
/* The value of argument `n` ("" for a valueless one); NULL when absent. Caller frees. */
char *dmc_exec_arg(const char *args, size_t len, unsigned n);

/* ---- link format (links.c) ------------------------------------------------- */

/*
 * The Register/Update payload: `</>;ct="60 110 112 11542",</1>;ver=1.1,</1/0>,</3/0>,…`
 * (Security excluded, Core TS 1.1 §6.2.1). *ret is malloc'd, NUL-terminated.
 */
int dmc_links_register(const struct dmc_model *m, char **ret, size_t *ret_len, alder_error **err) ALDER_WUR;
/* The Discover answer for p (object, instance or resource): links with attached attributes and dim=. */
int dmc_links_discover(struct dmc_model *m, const struct alder_lwm2m_path *p, char **ret, size_t *ret_len,
                       alder_error **err) ALDER_WUR;

/* ---- request parsing from CoAP (coap.c, fuzzed) ----------------------------- */

/* Parses the Uri-Path as an LwM2M path: 4.04 for non-numeric segments is the caller's. */
int dmc_path_from_segments(const char *const *segs, const size_t *lens, size_t n, struct alder_lwm2m_path *ret,
                           alder_error **err) ALDER_WUR;

/* ---- time ---------------------------------------------------------------- */

int64_t dmc_now_ms(void); /* CLOCK_MONOTONIC */
