/* SPDX-License-Identifier: Apache-2.0 */
/* alder-dmc's objects and the helpers they share to fill records. */
#pragma once

#include "dmc.h"

struct dmc;

/* Append one value of resource res (ri < 0: a single resource, else resource instance ri). */
int dmc_rec_string(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                   const char *s, alder_error **err) ALDER_WUR;
int dmc_rec_opaque(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                   const void *data, size_t len, alder_error **err) ALDER_WUR;
int dmc_rec_int(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                enum alder_lwm2m_type type, int64_t v, alder_error **err) ALDER_WUR;
int dmc_rec_objlnk(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                   uint16_t obj, uint16_t obj_inst, alder_error **err) ALDER_WUR;
/* A number in the resource's own type (single resource). */
int dmc_rec_number(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst,
                   const struct alder_lwm2m_resource_def *res, int64_t v, alder_error **err) ALDER_WUR;

/*
 * Allocates an object of definition `id` with `size` bytes of private state
 * (o->data, zeroed), the given ops and implemented resources, and adds it to
 * the daemon's model with instances `inst` (n of them).
 */
int dmc_object_new(struct dmc *d, uint16_t id, const struct dmc_object_ops *ops, const uint16_t *implemented,
                   size_t n_implemented, size_t size, const uint16_t *inst, size_t n, struct dmc_object **ret,
                   alder_error **err) ALDER_WUR;
/* The ops->free of objects made by dmc_object_new whose state owns nothing else. */
void dmc_object_free_plain(struct dmc_object *o);
/* The daemon an object belongs to (stored by dmc_object_new). */
struct dmc *dmc_object_dmc(const struct dmc_object *o);

/* Each adds its object to d's model. */
int dmc_obj_security_add(struct dmc *d, alder_error **err) ALDER_WUR;
int dmc_obj_server_add(struct dmc *d, alder_error **err) ALDER_WUR;
int dmc_obj_device_add(struct dmc *d, alder_error **err) ALDER_WUR;
int dmc_obj_connmon_add(struct dmc *d, alder_error **err) ALDER_WUR;
int dmc_obj_firmware_add(struct dmc *d, alder_error **err) ALDER_WUR;
int dmc_obj_apps_add(struct dmc *d, alder_error **err) ALDER_WUR; /* 9 and 33900 */

/* Runs a configured command (reboot, factory reset) after the answer went out; -EBUSY while one runs. */
int dmc_schedule_command(struct dmc *d, char *const *argv, const char *what, alder_error **err) ALDER_WUR;
