/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oci-flatten: libalder's image reader and unpacker for system tests.
 *
 *     oci-flatten [--platform OS/ARCH[/VARIANT]] [--ref REF] [--allow-setuid]
 *                 [--max-entries N] INPUT [DEST]
 *
 * Opens INPUT (OCI layout, oci-archive, docker-archive or rootfs folder),
 * prints what was found as JSON on stdout ({"image": ...}), and with DEST
 * flattens the image into it and adds "stats" to the output. A failure is
 * printed on stderr, exit status 1; bad usage exits 2.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/json.h"
#include "alder/oci.h"

static int usage(void)
{
        fputs("usage: oci-flatten [--platform OS/ARCH[/VARIANT]] [--ref REF] [--allow-setuid] [--max-entries N]\n"
              "                   INPUT [DEST]\n",
              stderr);
        return 2;
}

static json_t *stats_json(const alder_unpack_stats *s)
{
        json_t *o = json_pack("{s:I, s:I}", "entries", (json_int_t) s->entries, "bytes", (json_int_t) s->bytes);
        for (int f = 0; o && f < ALDER_UNPACK_FEATURE_COUNT; f++) {
                json_t *paths = json_array();
                for (size_t i = 0; paths && i < s->features[f].n_paths; i++)
                        json_array_append_new(paths, json_string(s->features[f].paths[i]));
                json_object_set_new(o, alder_unpack_feature_name((alder_unpack_feature) f), paths);
        }
        return o;
}

static int fail(alder_error *err)
{
        fprintf(stderr, "oci-flatten: %s\n", alder_error_message(err));
        return 1;
}

/* "linux/arm/v7" as docker's --platform writes it; the string is split in place. */
static void parse_platform(char *s, alder_oci_open_opts *o)
{
        o->os = strsep(&s, "/");
        o->architecture = s ? strsep(&s, "/") : NULL;
        o->variant = s;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"platform", required_argument, NULL, 'p'},
                {"ref", required_argument, NULL, 'r'},
                {"allow-setuid", no_argument, NULL, 's'},
                {"max-entries", required_argument, NULL, 'e'},
                {0},
        };
        alder_oci_open_opts oo = {0};
        alder_unpack_opts uo = {0};
        int c;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c == 'p')
                        parse_platform(optarg, &oo);
                else if (c == 'r')
                        oo.ref = optarg;
                else if (c == 's')
                        uo.flags |= ALDER_UNPACK_ALLOW_SETUID;
                else if (c == 'e')
                        uo.limits.max_entries = strtoull(optarg, NULL, 10);
                else
                        return usage();
        }
        if (optind != argc - 1 && optind != argc - 2)
                return usage();

        _cleanup_error_ alder_error *err = NULL;
        _cleanup_oci_image_ alder_oci_image *img = NULL;
        _cleanup_json_ json_t *out = json_object();
        json_t *image = NULL;
        if (alder_oci_open(argv[optind], &oo, &img, &err) < 0 || alder_oci_image_to_json(img, &image, &err) < 0)
                return fail(err);
        json_object_set_new(out, "image", image);
        if (optind == argc - 2) {
                _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
                if (alder_oci_image_flatten(img, argv[optind + 1], &uo, &stats, &err) < 0)
                        return fail(err);
                json_object_set_new(out, "stats", stats_json(&stats));
        }
        _cleanup_free_ char *text = NULL;
        if (alder_json_dump(out, ALDER_JSON_PRETTY, &text, NULL, &err) < 0)
                return fail(err);
        puts(text);
        return 0;
}
