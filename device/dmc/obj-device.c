/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 3, Device. Identity comes from the configuration's "device" section,
 * else from the system (device tree, DMI, os-release); what neither has is
 * absent (4.04), never invented. Memory from /proc/meminfo. Current Time is
 * the system clock plus an offset the server may write (the system clock is
 * left alone: that is NTP's job). Reboot and Factory Reset run the configured
 * commands after the 2.04 has gone out; without one they answer 4.05.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alder-config.h"
#include "alder/fileio.h"
#include "alder/log.h"
#include "daemon.h"
#include "objects.h"

enum {
        RES_MANUFACTURER = 0,
        RES_MODEL = 1,
        RES_SERIAL = 2,
        RES_FIRMWARE_VERSION = 3,
        RES_REBOOT = 4,
        RES_FACTORY_RESET = 5,
        RES_MEMORY_FREE = 10,
        RES_ERROR_CODE = 11,
        RES_RESET_ERROR_CODE = 12,
        RES_CURRENT_TIME = 13,
        RES_UTC_OFFSET = 14,
        RES_TIMEZONE = 15,
        RES_BINDINGS = 16,
        RES_DEVICE_TYPE = 17,
        RES_HARDWARE_VERSION = 18,
        RES_SOFTWARE_VERSION = 19,
        RES_MEMORY_TOTAL = 21,
};

#define TEXT_MAX 256

struct device_state {
        int64_t time_offset_s;
        char utc_offset[16];
        char timezone[64];
        char firmware[TEXT_MAX];
        unsigned n_errors;
        int errors[8];
};

/* First line of a small text file (sysfs, device tree: NUL-terminated); false when absent or empty. */
static bool read_line(const char *root, const char *path, char buf[static TEXT_MAX])
{
        _cleanup_free_ char *full = NULL, *data = NULL;
        size_t len;
        if (asprintf(&full, "%s%s", root, path) < 0 || alder_read_file(full, 4096, &data, &len, NULL) < 0)
                return false;
        size_t n = strcspn(data, "\n");
        n = ALDER_MIN(n, TEXT_MAX - 1);
        memcpy(buf, data, n);
        buf[n] = '\0';
        while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        return n > 0;
}

/* KEY="value" of ROOT/etc/os-release (quotes removed). */
static bool os_release(const char *root, const char *key, char buf[static TEXT_MAX])
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t len;
        if (asprintf(&path, "%s/etc/os-release", root) < 0 || alder_read_file(path, 64 * 1024, &data, &len, NULL) < 0)
                return false;
        size_t klen = strlen(key);
        for (char *line = data; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                if (strncmp(line, key, klen) != 0 || line[klen] != '=')
                        continue;
                char *v = line + klen + 1;
                size_t n = strcspn(v, "\n");
                if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                        v++;
                        n -= 2;
                }
                n = ALDER_MIN(n, TEXT_MAX - 1);
                memcpy(buf, v, n);
                buf[n] = '\0';
                return n > 0;
        }
        return false;
}

/* The first of: the configured value, then system files (device paths are not under --root but for os-release). */
static bool identity(struct dmc *d, uint16_t res, char buf[static TEXT_MAX])
{
        const struct dmc_device_config *c = &d->cfg.device;
        const char *configured = res == RES_MANUFACTURER       ? c->manufacturer
                                 : res == RES_MODEL            ? c->model
                                 : res == RES_SERIAL           ? c->serial
                                 : res == RES_HARDWARE_VERSION ? c->hardware_version
                                 : res == RES_DEVICE_TYPE      ? c->device_type
                                                               : NULL;
        if (configured) {
                snprintf(buf, TEXT_MAX, "%s", configured);
                return true;
        }
        if (d->cfg.root[0])
                return false; /* tests: the host's identity is not the device's */
        switch (res) {
        case RES_MANUFACTURER:
                return read_line("", "/sys/class/dmi/id/sys_vendor", buf);
        case RES_MODEL:
                return read_line("", "/sys/firmware/devicetree/base/model", buf) ||
                       read_line("", "/sys/class/dmi/id/product_name", buf);
        case RES_SERIAL:
                return read_line("", "/sys/firmware/devicetree/base/serial-number", buf) ||
                       read_line("", "/sys/class/dmi/id/product_serial", buf);
        case RES_HARDWARE_VERSION:
                return read_line("", "/sys/class/dmi/id/product_version", buf);
        }
        return false;
}

/* kB value of a /proc/meminfo line. */
static int meminfo(const char *key, int64_t *ret, alder_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = alder_read_file("/proc/meminfo", 64 * 1024, &data, &len, err);
        if (r < 0)
                return r;
        size_t klen = strlen(key);
        for (char *line = data; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        *ret = strtoll(line + klen + 1, NULL, 10);
                        return 0;
                }
        return alder_error_set(err, ENOENT, "/proc/meminfo has no %s", key);
}

static const char *firmware_version(struct dmc *d, struct device_state *st)
{
        if (d->cfg.device.firmware_version)
                return d->cfg.device.firmware_version;
        if (!st->firmware[0] && !os_release(d->cfg.root, "VERSION", st->firmware) &&
            !os_release(d->cfg.root, "VERSION_ID", st->firmware) &&
            !os_release(d->cfg.root, "PRETTY_NAME", st->firmware))
                return NULL;
        return st->firmware;
}

static int device_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                       struct alder_lwm2m_records *out, alder_error **err)
{
        struct dmc *d = dmc_object_dmc(o);
        struct device_state *st = o->data;
        char buf[TEXT_MAX];
        int64_t kb = 0;
        int r;
        switch (res->id) {
        case RES_MANUFACTURER:
        case RES_MODEL:
        case RES_SERIAL:
        case RES_HARDWARE_VERSION:
        case RES_DEVICE_TYPE:
                if (!identity(d, res->id, buf))
                        return alder_error_set(err, ENOENT, "%s: not configured and not found on the system",
                                               res->name);
                return dmc_rec_string(out, o, inst, res->id, -1, buf, err);
        case RES_FIRMWARE_VERSION: {
                const char *v = firmware_version(d, st);
                if (!v)
                        return alder_error_set(err, ENOENT, "no firmware version (configure device.firmware_version)");
                return dmc_rec_string(out, o, inst, res->id, -1, v, err);
        }
        case RES_SOFTWARE_VERSION:
                return dmc_rec_string(
                        out, o, inst, res->id, -1,
                        d->cfg.device.software_version ? d->cfg.device.software_version : "alder " ALDER_VERSION, err);
        case RES_MEMORY_FREE:
        case RES_MEMORY_TOTAL:
                r = meminfo(res->id == RES_MEMORY_FREE ? "MemAvailable" : "MemTotal", &kb, err);
                return r < 0 ? r : dmc_rec_number(out, o, inst, res, kb, err);
        case RES_ERROR_CODE:
                if (st->n_errors == 0)
                        return dmc_rec_int(out, o, inst, res->id, 0, ALDER_LWM2M_TYPE_INTEGER, 0, err); /* no error */
                for (unsigned i = 0; i < st->n_errors; i++) {
                        r = dmc_rec_int(out, o, inst, res->id, (int) i, ALDER_LWM2M_TYPE_INTEGER, st->errors[i], err);
                        if (r < 0)
                                return r;
                }
                return 0;
        case RES_CURRENT_TIME:
                return dmc_rec_int(out, o, inst, res->id, -1, ALDER_LWM2M_TYPE_TIME,
                                   (int64_t) time(NULL) + st->time_offset_s, err);
        case RES_UTC_OFFSET:
                return dmc_rec_string(out, o, inst, res->id, -1, st->utc_offset, err);
        case RES_TIMEZONE:
                return dmc_rec_string(out, o, inst, res->id, -1, st->timezone, err);
        case RES_BINDINGS:
                return dmc_rec_string(out, o, inst, res->id, -1, "UQ", err); /* UDP, queue mode */
        }
        return alder_error_set(err, ENOENT, "not implemented");
}

static int device_write(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                        const struct alder_lwm2m_record *v, size_t n, bool replace, alder_error **err)
{
        struct device_state *st = o->data;
        if (n != 1)
                return alder_error_set(err, EINVAL, "expected one value");
        const char *s = (const char *) v->value.data;
        switch (res->id) {
        case RES_CURRENT_TIME:
                st->time_offset_s = v->value.i - (int64_t) time(NULL);
                return 0;
        case RES_UTC_OFFSET:
                if (v->value.len >= sizeof(st->utc_offset))
                        return alder_error_set(err, EINVAL, "UTC offset \"%s\": expected e.g. \"+01:00\"", s);
                snprintf(st->utc_offset, sizeof(st->utc_offset), "%s", s);
                return 0;
        case RES_TIMEZONE:
                if (v->value.len >= sizeof(st->timezone))
                        return alder_error_set(err, EINVAL, "timezone: at most %zu characters",
                                               sizeof(st->timezone) - 1);
                snprintf(st->timezone, sizeof(st->timezone), "%s", s);
                return 0;
        }
        return alder_error_set(err, EOPNOTSUPP, "not writable");
}

static int device_execute(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                          const char *args, size_t len, alder_error **err)
{
        struct dmc *d = dmc_object_dmc(o);
        struct device_state *st = o->data;
        switch (res->id) {
        case RES_REBOOT:
        case RES_FACTORY_RESET: {
                char **cmd = res->id == RES_REBOOT ? d->cfg.device.reboot_command : d->cfg.device.factory_reset_command;
                if (!cmd)
                        return alder_error_set(err, EOPNOTSUPP, "%s is not configured on this device (device.%s)",
                                               res->name,
                                               res->id == RES_REBOOT ? "reboot_command" : "factory_reset_command");
                return dmc_schedule_command(d, cmd, res->name, err);
        }
        case RES_RESET_ERROR_CODE:
                st->n_errors = 0;
                return 0;
        }
        return alder_error_set(err, EOPNOTSUPP, "not implemented");
}

static const struct dmc_object_ops device_ops = {
        .read = device_read,
        .write = device_write,
        .execute = device_execute,
        .free = dmc_object_free_plain,
};

static void init_time_zone(struct dmc *d, struct device_state *st)
{
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        int off = (int) (tm.tm_gmtoff / 60) % (24 * 60);
        snprintf(st->utc_offset, sizeof(st->utc_offset), "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60,
                 abs(off) % 60);
        char buf[TEXT_MAX];
        if (read_line(d->cfg.root, "/etc/timezone", buf))
                snprintf(st->timezone, sizeof(st->timezone), "%.*s", (int) sizeof(st->timezone) - 1, buf);
        else
                snprintf(st->timezone, sizeof(st->timezone), "%s", tm.tm_zone ? tm.tm_zone : "UTC");
}

int dmc_obj_device_add(struct dmc *d, alder_error **err)
{
        static const uint16_t implemented[] = {
                RES_MANUFACTURER,     RES_MODEL,        RES_SERIAL,     RES_FIRMWARE_VERSION, RES_REBOOT,
                RES_FACTORY_RESET,    RES_MEMORY_FREE,  RES_ERROR_CODE, RES_RESET_ERROR_CODE, RES_CURRENT_TIME,
                RES_UTC_OFFSET,       RES_TIMEZONE,     RES_BINDINGS,   RES_DEVICE_TYPE,      RES_HARDWARE_VERSION,
                RES_SOFTWARE_VERSION, RES_MEMORY_TOTAL,
        };
        static const uint16_t inst[] = {0};
        struct dmc_object *o;
        int r = dmc_object_new(d, 3, &device_ops, implemented, ALDER_ARRAY_SIZE(implemented),
                               sizeof(struct device_state), inst, 1, &o, err);
        if (r == 0)
                init_time_zone(d, o->data);
        return r;
}
