/* SPDX-License-Identifier: Apache-2.0 */
/* `alder dm` in a build without libcurl (the device's own copy of alder). */
#include <errno.h>

#include "cli.h"

int cmd_dm(struct cli *cli, int argc, char **argv)
{
        (void) argc;
        (void) argv;
        _cleanup_error_ alder_error *err = NULL;
        alder_error_set(&err, ENOTSUP,
                        "this alder was built without libcurl (device builds leave 'alder dm' out): run 'alder dm' "
                        "on a host build");
        return cli_fail(cli, err);
}
