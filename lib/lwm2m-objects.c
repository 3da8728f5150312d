/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Definitions of the LwM2M objects Alder implements or shows, from the OMA
 * LwM2M registry (the object versions LwM2M 1.1 ships: Security 1.1, Server
 * 1.1, Device 1.1, Connectivity Monitoring 1.2, Firmware Update 1.1,
 * Software Management 1.1) and Alder's own App object 33900
 * (docs/api/lwm2m-objects.md, docs/api/lwm2m/33900.xml).
 *
 * Security resources have no operations: only a Bootstrap-Server may touch
 * them, never a Device Management server.
 */
#include <errno.h>

#include "alder/lwm2m.h"
#include "lwm2m-internal.h"

#define NO        0
#define R         ALDER_LWM2M_OP_R
#define W         ALDER_LWM2M_OP_W
#define RW        (ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W)
#define E         ALDER_LWM2M_OP_E

#define SINGLE    false
#define MULTIPLE  true

#define MANDATORY true
#define OPTIONAL  false

#define RES(id, name, type, ops, multiple, mandatory)                       \
        {                                                                   \
                id, name, ALDER_LWM2M_TYPE_##type, ops, multiple, mandatory \
        }
/* an executable resource carries no value */
#define EXE(id, name, mandatory) RES(id, name, NONE, E, SINGLE, mandatory)

static const struct alder_lwm2m_resource_def security[] = {
        RES(0, "LWM2M Server URI", STRING, NO, SINGLE, MANDATORY),
        RES(1, "Bootstrap-Server", BOOLEAN, NO, SINGLE, MANDATORY),
        RES(2, "Security Mode", INTEGER, NO, SINGLE, MANDATORY),
        RES(3, "Public Key or Identity", OPAQUE, NO, SINGLE, MANDATORY),
        RES(4, "Server Public Key", OPAQUE, NO, SINGLE, MANDATORY),
        RES(5, "Secret Key", OPAQUE, NO, SINGLE, MANDATORY),
        RES(6, "SMS Security Mode", INTEGER, NO, SINGLE, OPTIONAL),
        RES(7, "SMS Binding Key Parameters", OPAQUE, NO, SINGLE, OPTIONAL),
        RES(8, "SMS Binding Secret Key(s)", OPAQUE, NO, SINGLE, OPTIONAL),
        RES(9, "LwM2M Server SMS Number", STRING, NO, SINGLE, OPTIONAL),
        RES(10, "Short Server ID", INTEGER, NO, SINGLE, OPTIONAL),
        RES(11, "Client Hold Off Time", INTEGER, NO, SINGLE, OPTIONAL),
        RES(12, "Bootstrap-Server Account Timeout", INTEGER, NO, SINGLE, OPTIONAL),
        RES(13, "Matching Type", UNSIGNED, NO, SINGLE, OPTIONAL),
        RES(14, "SNI", STRING, NO, SINGLE, OPTIONAL),
        RES(15, "Certificate Usage", INTEGER, NO, SINGLE, OPTIONAL),
        RES(16, "DTLS/TLS Ciphersuite", INTEGER, NO, MULTIPLE, OPTIONAL),
        RES(17, "OSCORE Security Mode", OBJLNK, NO, SINGLE, OPTIONAL),
};

static const struct alder_lwm2m_resource_def server[] = {
        RES(0, "Short Server ID", INTEGER, R, SINGLE, MANDATORY),
        RES(1, "Lifetime", INTEGER, RW, SINGLE, MANDATORY),
        RES(2, "Default Minimum Period", INTEGER, RW, SINGLE, OPTIONAL),
        RES(3, "Default Maximum Period", INTEGER, RW, SINGLE, OPTIONAL),
        EXE(4, "Disable", OPTIONAL),
        RES(5, "Disable Timeout", INTEGER, RW, SINGLE, OPTIONAL),
        RES(6, "Notification Storing When Disabled or Offline", BOOLEAN, RW, SINGLE, MANDATORY),
        RES(7, "Binding", STRING, RW, SINGLE, MANDATORY),
        EXE(8, "Registration Update Trigger", MANDATORY),
        EXE(9, "Bootstrap-Request Trigger", OPTIONAL),
        RES(10, "APN Link", OBJLNK, RW, SINGLE, OPTIONAL),
        RES(11, "TLS-DTLS Alert Code", UNSIGNED, R, SINGLE, OPTIONAL),
        RES(12, "Last Bootstrapped", TIME, R, SINGLE, OPTIONAL),
        RES(13, "Registration Priority Order", UNSIGNED, NO, SINGLE, OPTIONAL),
        RES(14, "Initial Registration Delay Timer", UNSIGNED, NO, SINGLE, OPTIONAL),
        RES(15, "Registration Failure Block", BOOLEAN, NO, SINGLE, OPTIONAL),
        RES(16, "Bootstrap on Registration Failure", BOOLEAN, NO, SINGLE, OPTIONAL),
        RES(17, "Communication Retry Count", UNSIGNED, NO, SINGLE, OPTIONAL),
        RES(18, "Communication Retry Timer", UNSIGNED, NO, SINGLE, OPTIONAL),
        RES(19, "Communication Sequence Delay Timer", UNSIGNED, NO, SINGLE, OPTIONAL),
        RES(20, "Communication Sequence Retry Count", UNSIGNED, NO, SINGLE, OPTIONAL),
        RES(21, "Trigger", BOOLEAN, RW, SINGLE, OPTIONAL),
        RES(22, "Preferred Transport", STRING, RW, SINGLE, OPTIONAL),
        RES(23, "Mute Send", BOOLEAN, RW, SINGLE, OPTIONAL),
};

static const struct alder_lwm2m_resource_def device[] = {
        RES(0, "Manufacturer", STRING, R, SINGLE, OPTIONAL),
        RES(1, "Model Number", STRING, R, SINGLE, OPTIONAL),
        RES(2, "Serial Number", STRING, R, SINGLE, OPTIONAL),
        RES(3, "Firmware Version", STRING, R, SINGLE, OPTIONAL),
        EXE(4, "Reboot", MANDATORY),
        EXE(5, "Factory Reset", OPTIONAL),
        RES(6, "Available Power Sources", INTEGER, R, MULTIPLE, OPTIONAL),
        RES(7, "Power Source Voltage", INTEGER, R, MULTIPLE, OPTIONAL),
        RES(8, "Power Source Current", INTEGER, R, MULTIPLE, OPTIONAL),
        RES(9, "Battery Level", INTEGER, R, SINGLE, OPTIONAL),
        RES(10, "Memory Free", INTEGER, R, SINGLE, OPTIONAL),
        RES(11, "Error Code", INTEGER, R, MULTIPLE, MANDATORY),
        EXE(12, "Reset Error Code", OPTIONAL),
        RES(13, "Current Time", TIME, RW, SINGLE, OPTIONAL),
        RES(14, "UTC Offset", STRING, RW, SINGLE, OPTIONAL),
        RES(15, "Timezone", STRING, RW, SINGLE, OPTIONAL),
        RES(16, "Supported Binding and Modes", STRING, R, SINGLE, MANDATORY),
        RES(17, "Device Type", STRING, R, SINGLE, OPTIONAL),
        RES(18, "Hardware Version", STRING, R, SINGLE, OPTIONAL),
        RES(19, "Software Version", STRING, R, SINGLE, OPTIONAL),
        RES(20, "Battery Status", INTEGER, R, SINGLE, OPTIONAL),
        RES(21, "Memory Total", INTEGER, R, SINGLE, OPTIONAL),
        RES(22, "ExtDevInfo", OBJLNK, R, MULTIPLE, OPTIONAL),
};

static const struct alder_lwm2m_resource_def connectivity[] = {
        RES(0, "Network Bearer", INTEGER, R, SINGLE, MANDATORY),
        RES(1, "Available Network Bearer", INTEGER, R, MULTIPLE, MANDATORY),
        RES(2, "Radio Signal Strength", INTEGER, R, SINGLE, MANDATORY),
        RES(3, "Link Quality", INTEGER, R, SINGLE, OPTIONAL),
        RES(4, "IP Addresses", STRING, R, MULTIPLE, MANDATORY),
        RES(5, "Router IP Addresses", STRING, R, MULTIPLE, OPTIONAL),
        RES(6, "Link Utilization", INTEGER, R, SINGLE, OPTIONAL),
        RES(7, "APN", STRING, R, MULTIPLE, OPTIONAL),
        RES(8, "Cell ID", INTEGER, R, SINGLE, OPTIONAL),
        RES(9, "SMNC", INTEGER, R, SINGLE, OPTIONAL),
        RES(10, "SMCC", INTEGER, R, SINGLE, OPTIONAL),
        RES(11, "SignalSNR", INTEGER, R, SINGLE, OPTIONAL),
        RES(12, "LAC", INTEGER, R, SINGLE, OPTIONAL),
};

static const struct alder_lwm2m_resource_def firmware[] = {
        RES(0, "Package", OPAQUE, W, SINGLE, MANDATORY),
        RES(1, "Package URI", STRING, RW, SINGLE, MANDATORY),
        EXE(2, "Update", MANDATORY),
        RES(3, "State", INTEGER, R, SINGLE, MANDATORY),
        RES(5, "Update Result", INTEGER, R, SINGLE, MANDATORY),
        RES(6, "PkgName", STRING, R, SINGLE, OPTIONAL),
        RES(7, "PkgVersion", STRING, R, SINGLE, OPTIONAL),
        RES(8, "Firmware Update Protocol Support", INTEGER, R, MULTIPLE, OPTIONAL),
        RES(9, "Firmware Update Delivery Method", INTEGER, R, SINGLE, MANDATORY),
        EXE(10, "Cancel", OPTIONAL),
        RES(11, "Severity", INTEGER, RW, SINGLE, OPTIONAL),
        RES(12, "Last State Change Time", TIME, R, SINGLE, OPTIONAL),
        RES(13, "Maximum Defer Period", UNSIGNED, RW, SINGLE, OPTIONAL),
};

static const struct alder_lwm2m_resource_def software[] = {
        RES(0, "PkgName", STRING, R, SINGLE, MANDATORY),
        RES(1, "PkgVersion", STRING, R, SINGLE, MANDATORY),
        RES(2, "Package", OPAQUE, W, SINGLE, OPTIONAL),
        RES(3, "Package URI", STRING, W, SINGLE, OPTIONAL),
        EXE(4, "Install", MANDATORY),
        RES(5, "Checkpoint", OBJLNK, R, SINGLE, OPTIONAL),
        EXE(6, "Uninstall", MANDATORY),
        RES(7, "Update State", INTEGER, R, SINGLE, MANDATORY),
        RES(8, "Update Supported Objects", BOOLEAN, RW, SINGLE, OPTIONAL),
        RES(9, "Update Result", INTEGER, R, SINGLE, MANDATORY),
        EXE(10, "Activate", MANDATORY),
        EXE(11, "Deactivate", MANDATORY),
        RES(12, "Activation State", BOOLEAN, R, SINGLE, MANDATORY),
        RES(13, "Package Settings", OBJLNK, RW, SINGLE, OPTIONAL),
        RES(14, "User Name", STRING, W, SINGLE, OPTIONAL),
        RES(15, "Password", STRING, W, SINGLE, OPTIONAL),
        RES(16, "Status Reason", STRING, R, SINGLE, OPTIONAL),
        RES(17, "Software Component Link", OBJLNK, R, MULTIPLE, OPTIONAL),
        RES(18, "Software Component tree length", INTEGER, R, SINGLE, OPTIONAL),
        EXE(19, "Start", MANDATORY),
        EXE(20, "Stop", MANDATORY),
        RES(21, "Operational State", UNSIGNED, R, SINGLE, MANDATORY),
        EXE(22, "Purge", OPTIONAL),
};

/* Alder App (docs/api/lwm2m/33900.xml): one instance per installed app. */
static const struct alder_lwm2m_resource_def app[] = {
        RES(0, "Name", STRING, R, SINGLE, MANDATORY),
        RES(1, "Version", STRING, R, SINGLE, MANDATORY),
        RES(2, "State", STRING, R, SINGLE, MANDATORY),
        RES(3, "Running Version", STRING, R, SINGLE, OPTIONAL),
        RES(4, "Restart Count", INTEGER, R, SINGLE, OPTIONAL),
        RES(5, "Last Exit Status", INTEGER, R, SINGLE, OPTIONAL),
        RES(6, "Last Error", STRING, R, SINGLE, OPTIONAL),
        RES(7, "Log Tail", STRING, R, SINGLE, OPTIONAL),
        EXE(8, "Start", MANDATORY),
        EXE(9, "Stop", MANDATORY),
        EXE(10, "Restart", MANDATORY),
};

#define OBJECT(id, name, urn, version, multiple, table)                          \
        {                                                                        \
                id, name, urn, version, multiple, table, ALDER_ARRAY_SIZE(table) \
        }

static const struct alder_lwm2m_object_def objects[] = {
        OBJECT(0, "LWM2M Security", "urn:oma:lwm2m:oma:0:1.1", "1.1", MULTIPLE, security),
        OBJECT(1, "LwM2M Server", "urn:oma:lwm2m:oma:1:1.1", "1.1", MULTIPLE, server),
        OBJECT(3, "Device", "urn:oma:lwm2m:oma:3:1.1", "1.1", SINGLE, device),
        OBJECT(4, "Connectivity Monitoring", "urn:oma:lwm2m:oma:4:1.2", "1.2", SINGLE, connectivity),
        OBJECT(5, "Firmware Update", "urn:oma:lwm2m:oma:5:1.1", "1.1", SINGLE, firmware),
        OBJECT(9, "LWM2M Software Management", "urn:oma:lwm2m:oma:9:1.1", "1.1", MULTIPLE, software),
        OBJECT(ALDER_LWM2M_OBJECT_APP, "Alder App", "urn:oma:lwm2m:x:33900", NULL, MULTIPLE, app),
};

const struct alder_lwm2m_object_def *alder_lwm2m_object_find(uint16_t id)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(objects); i++)
                if (objects[i].id == id)
                        return &objects[i];
        return NULL;
}

const struct alder_lwm2m_resource_def *alder_lwm2m_resource_find(const struct alder_lwm2m_object_def *o, uint16_t id)
{
        for (size_t i = 0; o && i < o->n_resources; i++)
                if (o->resources[i].id == id)
                        return &o->resources[i];
        return NULL;
}

int alder_lwm2m_records_apply_types(struct alder_lwm2m_records *r, unsigned format, alder_error **err)
{
        for (size_t i = 0; i < r->n; i++) {
                struct alder_lwm2m_record *rec = &r->v[i];
                char p[ALDER_LWM2M_PATH_STRLEN];
                if (rec->value.type != ALDER_LWM2M_TYPE_NONE || !lwm2m_value_present(&rec->value) || rec->path.len < 3)
                        continue;
                const struct alder_lwm2m_resource_def *res =
                        alder_lwm2m_resource_find(alder_lwm2m_object_find(rec->path.id[0]), rec->path.id[2]);
                if (!res || res->type == ALDER_LWM2M_TYPE_NONE)
                        continue; /* unknown, or executable: the object code says what that means */
                int ret = alder_lwm2m_value_convert(&rec->value, res->type, format, err);
                if (ret < 0)
                        return alder_error_wrap(err, "%s (%s)", alder_lwm2m_path_format(&rec->path, p), res->name);
        }
        return 0;
}
