/* SPDX-License-Identifier: Apache-2.0 */
/* alder-updated's configuration: ROOT/config/updated.json (docs/api/updated.md#configuration). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alder/json.h"
#include "updated.h"

#define CONFIG_MAX_SIZE (64u * 1024u)

static int dup_path(const char *root, const char *rel, char **ret, alder_error **err)
{
        if (asprintf(ret, "%s%s", root, rel) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* A string setting, or its default (root-prefixed when `under_root`). */
static int get_setting(json_t *doc, const char *src, const char *field, const char *root, const char *def, char **ret,
                       alder_error **err)
{
        const char *v = NULL;
        int r = alder_json_get_string(doc, src, field, def ? ALDER_JSON_OPTIONAL : 0, &v, err);
        if (r < 0)
                return r;
        if (v) {
                if (!(*ret = strdup(v)))
                        return alder_error_set(err, ENOMEM, "out of memory");
                return 0;
        }
        return dup_path(root, def, ret, err);
}

static int get_booted_slot(json_t *doc, const char *src, char *ret, alder_error **err)
{
        const char *v = NULL;
        int r = alder_json_get_string(doc, src, "booted_slot", ALDER_JSON_OPTIONAL, &v, err);
        if (r < 0 || !v)
                return r;
        if (strcmp(v, "A") != 0 && strcmp(v, "B") != 0)
                return alder_error_set(err, EINVAL, "%s: field 'booted_slot': \"A\" or \"B\", not \"%s\"", src, v);
        *ret = v[0];
        return 0;
}

/* The device's own settings (ROOT/config, the config partition) win over the image's (ROOT/etc/alder). */
static int default_config_path(const char *root, char **ret, alder_error **err)
{
        int r = dup_path(root, "/config/updated.json", ret, err);
        if (r < 0 || access(*ret, F_OK) == 0)
                return r;
        free(*ret);
        *ret = NULL;
        return dup_path(root, "/etc/alder/updated.json", ret, err);
}

static int get_timeout(json_t *doc, const char *src, const char *field, unsigned *ret, alder_error **err)
{
        int64_t v = *ret;
        int r = alder_json_get_int_range(doc, src, field, ALDER_JSON_OPTIONAL, 100, 3600000, &v, err);
        if (r == 0)
                *ret = (unsigned) v;
        return r;
}

int upd_config_load(struct upd_config *cfg, const char *root, const char *config_path, alder_error **err)
{
        static const char *const keys[] = {
                "product",     "vendor",  "slots",     "fw_env_config", "fw_setenv",       "fw_printenv",
                "booted_slot", "boot_id", "trust_dir", "hooks_dir",     "appd_socket",     "appd_config",
                "state_dir",   "socket",  "boot_dir",  "sequence_file", "hook_timeout_ms", "health_timeout_ms",
                NULL};
        *cfg = (struct upd_config){.hook_timeout_ms = 60000, .health_timeout_ms = 60000};
        int r = dup_path(root ? root : "", "", &cfg->root, err);
        if (r == 0)
                r = config_path ? ((cfg->config_path = strdup(config_path)) ? 0 : -ENOMEM)
                                : default_config_path(cfg->root, &cfg->config_path, err);
        if (r == 0)
                r = dup_path(cfg->root, "/sys/class/block", &cfg->sysfs_block, err);
        if (r == 0)
                r = dup_path(cfg->root, "/dev", &cfg->dev_dir, err);
        if (r < 0)
                return r == -ENOMEM ? alder_error_set(err, ENOMEM, "out of memory") : r;
        _cleanup_json_ json_t *doc = NULL;
        const char *src = cfg->config_path;
        r = alder_json_load_file(src, CONFIG_MAX_SIZE, &doc, err);
        if (r == 0 && !json_is_object(doc))
                r = alder_error_set(err, EINVAL, "%s: expected a JSON object", src);
        if (r == 0)
                r = alder_json_check_keys(doc, src, NULL, keys, err);
        const char *state_dir = NULL;
        if (r == 0)
                r = alder_json_get_string(doc, src, "state_dir", ALDER_JSON_OPTIONAL, &state_dir, err);
        if (r == 0)
                r = state_dir ? (asprintf(&cfg->state_path, "%s/state.json", state_dir) < 0 ? -ENOMEM : 0)
                              : dup_path(cfg->root, "/var/lib/alder/update/state.json", &cfg->state_path, err);
        const struct {
                const char *field, *def;
                char **dst;
        } settings[] = {
                {"product", NULL, &cfg->product},
                {"vendor", "alder.invalid", &cfg->vendor},
                {"slots.A", NULL, &cfg->slots[0]},
                {"slots.B", NULL, &cfg->slots[1]},
                {"fw_env_config", "/etc/fw_env.config", &cfg->fw_env_config},
                {"fw_setenv", "/usr/bin/fw_setenv", &cfg->fw_setenv},
                {"fw_printenv", "/usr/bin/fw_printenv", &cfg->fw_printenv},
                {"trust_dir", "/config/trust", &cfg->trust_dir},
                {"hooks_dir", "/config/update-hooks.d", &cfg->hooks_dir},
                {"appd_socket", "/run/alder/appd.sock", &cfg->appd_socket},
                {"appd_config", "/config/appd.json", &cfg->appd_config},
                {"sequence_file", "/etc/alder/sequence", &cfg->sequence_file},
                {"boot_dir", "", &cfg->boot_dir},
                {"socket", "/run/alder/updated.sock", &cfg->socket_path},
        };
        for (size_t i = 0; r == 0 && i < ALDER_ARRAY_SIZE(settings); i++) {
                /* Tools and the env config are device paths, not under the test root. */
                bool rooted = settings[i].def && settings[i].def[0] == '/' &&
                              strncmp(settings[i].def, "/usr", 4) != 0 &&
                              strcmp(settings[i].field, "fw_env_config") != 0;
                r = get_setting(doc, src, settings[i].field, rooted ? cfg->root : "", settings[i].def, settings[i].dst,
                                err);
        }
        if (r == 0)
                r = get_timeout(doc, src, "hook_timeout_ms", &cfg->hook_timeout_ms, err);
        if (r == 0)
                r = get_timeout(doc, src, "health_timeout_ms", &cfg->health_timeout_ms, err);
        if (r == 0)
                r = get_booted_slot(doc, src, &cfg->booted_slot, err);
        const char *boot_id = NULL;
        if (r == 0)
                r = alder_json_get_string(doc, src, "boot_id", ALDER_JSON_OPTIONAL, &boot_id, err);
        if (r == 0 && boot_id && !(cfg->boot_id = strdup(boot_id)))
                r = -ENOMEM;
        if (r == -ENOMEM)
                r = alder_error_set(err, ENOMEM, "out of memory");
        return r;
}

void upd_config_done(struct upd_config *cfg)
{
        char **all[] = {&cfg->root,          &cfg->config_path,   &cfg->state_path,  &cfg->socket_path,
                        &cfg->trust_dir,     &cfg->hooks_dir,     &cfg->appd_socket, &cfg->appd_config,
                        &cfg->sequence_file, &cfg->sysfs_block,   &cfg->dev_dir,     &cfg->boot_dir,
                        &cfg->boot_id,       &cfg->product,       &cfg->vendor,      &cfg->slots[0],
                        &cfg->slots[1],      &cfg->fw_env_config, &cfg->fw_setenv,   &cfg->fw_printenv};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(all); i++) {
                free(*all[i]);
                *all[i] = NULL;
        }
}
