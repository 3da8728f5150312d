/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ocispec-bundle: writes an app container's config.json for system tests.
 *
 *     ocispec-bundle [--rootfs PATH] [--id-start N] [--id-count N]
 *                    [--volume NAME=DIR]... [--no-limits] APP_JSON BUNDLE_DIR
 *
 * APP_JSON is the app metadata (docs/formats/alpkg.md); BUNDLE_DIR/config.json
 * is written. Failure: message on stderr, exit 1; bad usage: exit 2.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/appmeta.h"
#include "alder/json.h"
#include "alder/ocispec.h"

#define MAX_VOLUMES 16

static int usage(void)
{
        fputs("usage: ocispec-bundle [--rootfs PATH] [--id-start N] [--id-count N] [--volume NAME=DIR]...\n"
              "                      [--no-limits] APP_JSON BUNDLE_DIR\n",
              stderr);
        return 2;
}

static int fail(alder_error *err)
{
        fprintf(stderr, "ocispec-bundle: %s\n", alder_error_message(err));
        return 1;
}

/* Orders the NAME=DIR arguments like meta->volumes; a volume without one is an error. */
static int volume_dirs(const alder_app_meta *m, char **args, size_t n_args, const char **dirs, alder_error **err)
{
        for (size_t i = 0; i < m->n_volumes; i++) {
                size_t len = strlen(m->volumes[i].name);
                for (size_t k = 0; k < n_args; k++)
                        if (strncmp(args[k], m->volumes[i].name, len) == 0 && args[k][len] == '=')
                                dirs[i] = args[k] + len + 1;
                if (!dirs[i])
                        return alder_error_set(err, EINVAL, "volume '%s': no --volume given", m->volumes[i].name);
        }
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"rootfs", required_argument, NULL, 'r'},   {"id-start", required_argument, NULL, 's'},
                {"id-count", required_argument, NULL, 'c'}, {"volume", required_argument, NULL, 'v'},
                {"no-limits", no_argument, NULL, 'n'},      {0},
        };
        alder_ocispec_settings s = {.rootfs = "rootfs", .id_start = 100000, .id_count = 65536, .limits = true};
        char *vols[MAX_VOLUMES];
        size_t n_vols = 0;
        int c;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c == 'r')
                        s.rootfs = optarg;
                else if (c == 's')
                        s.id_start = (uint32_t) strtoul(optarg, NULL, 10);
                else if (c == 'c')
                        s.id_count = (uint32_t) strtoul(optarg, NULL, 10);
                else if (c == 'v' && n_vols < MAX_VOLUMES)
                        vols[n_vols++] = optarg;
                else if (c == 'n')
                        s.limits = false;
                else
                        return usage();
        }
        if (optind != argc - 2)
                return usage();

        _cleanup_error_ alder_error *err = NULL;
        _cleanup_json_ json_t *doc = NULL, *config = NULL;
        _cleanup_app_meta_ alder_app_meta *m = NULL;
        const char *dirs[MAX_VOLUMES] = {0};
        if (alder_json_load_file(argv[optind], ALDER_APP_META_MAX_SIZE, &doc, &err) < 0 ||
            alder_app_meta_from_json(doc, argv[optind], &m, &err) < 0 || volume_dirs(m, vols, n_vols, dirs, &err) < 0)
                return fail(err);
        s.hostname = m->name;
        s.volume_dirs = dirs;
        if (alder_ocispec_generate(m, &s, &config, &err) < 0 ||
            alder_ocispec_write_bundle(argv[optind + 1], config, &err) < 0)
                return fail(err);
        return 0;
}
