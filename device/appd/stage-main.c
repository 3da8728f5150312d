/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-app-stage: verifies an app package and unpacks it into the app store,
 * for alder-appd. A separate short-lived program so that the daemon links
 * none of the package reader's libraries (OpenSSL, libcbor, libarchive,
 * libzstd and what they drag in) and a hostile package is parsed in a process
 * that exits right after.
 *
 * Protocol with the daemon: exactly one line of JSON on stdout, the staged
 * version (alder_appstore_staged_to_json()) or {"error":{"code","message"}};
 * everything else goes to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "alder-config.h"
#include "alder/appstore.h"
#include "alder/json.h"
#include "alder/log.h"

#define PROGRAM "alder-app-stage"

static const char usage[] =
        "Usage: " PROGRAM " --store DIR --trust DIR [--vendor DOMAIN] [--arch ARCH] PACKAGE\n"
        "\n"
        "Verify the signed app package PACKAGE and unpack it into the app store DIR\n"
        "beside the app's current version, without making it current. This is the\n"
        "worker alder-appd runs for every install and update; it is not meant to be\n"
        "run by hand while alder-appd runs.\n"
        "\n"
        "The package must be signed by a certificate in the trust directory, be for\n"
        "the vendor and architecture below, and carry a sequence number above the\n"
        "installed version's (anti-rollback). Its root filesystem is unpacked owned\n"
        "by the app's user-namespace id range (allocated on its first install).\n"
        "The store is opened without crash recovery: that is alder-appd's job.\n"
        "The program dies with its parent (PR_SET_PDEATHSIG): what it leaves in\n"
        "DIR/.staging is removed when alder-appd opens the store again.\n"
        "\n"
        "Options:\n"
        "  --store DIR      the app store (alder-appd's --store)\n"
        "  --trust DIR      trust anchors: PEM certificates of package signers\n"
        "  --vendor DOMAIN  vendor packages must be for (default alder.invalid)\n"
        "  --arch ARCH      architecture packages must be for: arm64, arm or amd64\n"
        "                   (default: this machine's)\n"
        "  -V, --version    print the version\n"
        "  -h, --help       show this help\n"
        "\n"
        "Output: exactly one line of JSON on standard output. On success\n"
        "  {\"name\":N,\"version\":V,\"sequence\":S,\"dir\":\"/STORE/N/versions/S-V\"}\n"
        "(dir absolute, symlinks resolved); on failure\n"
        "  {\"error\":{\"code\":-ERRNO,\"message\":\"why, naming the package and field at fault\"}}\n"
        "Progress and diagnostics go to standard error.\n"
        "\n"
        "Logging: ALDER_LOG_LEVEL (err..debug), ALDER_LOG_TARGET (default stderr).\n"
        "\n"
        "Exit status: 0 staged, 1 the package was refused or could not be staged,\n"
        "2 bad command line.\n";

struct stage_args {
        const char *store, *trust, *vendor, *arch, *package;
};

static int try_help(void)
{
        fputs("Try '" PROGRAM " --help'.\n", stderr);
        return 2;
}

static int usage_error(const char *fmt, ...) ALDER_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs(PROGRAM ": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return try_help();
}

/* -1 to go on, else the exit status (0 after --help/--version, 2 on a bad command line). */
static int parse_args(int argc, char **argv, struct stage_args *a)
{
        /* The options with a value come first: getopt_long returns 0 and their index. */
        static const struct option options[] = {{"store", required_argument, NULL, 0},
                                                {"trust", required_argument, NULL, 0},
                                                {"vendor", required_argument, NULL, 0},
                                                {"arch", required_argument, NULL, 0},
                                                {"version", no_argument, NULL, 'V'},
                                                {"help", no_argument, NULL, 'h'},
                                                {0}};
        const char **values[] = {&a->store, &a->trust, &a->vendor, &a->arch};
        int c, index = 0;
        while ((c = getopt_long(argc, argv, "hV", options, &index)) != -1) {
                if (c == 0 && index >= 0 && (size_t) index < ALDER_ARRAY_SIZE(values))
                        *values[index] = optarg;
                else if (c == 'h')
                        return fputs(usage, stdout) == EOF;
                else if (c == 'V')
                        return puts(PROGRAM " " ALDER_VERSION) == EOF;
                else
                        return try_help(); /* getopt said what is wrong */
        }
        if (!a->store || !a->trust)
                return usage_error("%s is required", a->store ? "--trust" : "--store");
        if (optind != argc - 1)
                return usage_error(optind == argc ? "expected a PACKAGE" : "expected one PACKAGE, got %d arguments",
                                   argc - optind);
        a->package = argv[optind];
        const char *arch = a->arch ? alder_arch_normalize(a->arch, NULL) : alder_arch_native();
        if (!arch)
                return usage_error("--arch: '%s' is not one of arm64, arm, amd64", a->arch ? a->arch : "(native)");
        a->arch = arch;
        return -1;
}

/* Prints one compact JSON line; the daemon reads nothing else from stdout. */
static int print_line(const json_t *v, alder_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = alder_json_dump(v, 0, &text, &len, err);
        if (r < 0)
                return r;
        if (printf("%s\n", text) < 0 || fflush(stdout) != 0)
                return alder_error_sys(err, errno, "write the result to standard output");
        return 0;
}

static int print_error(alder_error *e, int r)
{
        _cleanup_json_ json_t *v = json_pack("{s:{s:i,s:s}}", "error", "code", r, "message", alder_error_message(e));
        _cleanup_error_ alder_error *err = NULL;
        if (!v || print_line(v, &err) < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "cannot report the error");
        return 1;
}

/* Stages the package; on success the version is in the store and reported on stdout. */
static int stage(const struct stage_args *a, alder_error **err)
{
        _cleanup_appstore_ alder_appstore *store = NULL;
        alder_trust_store *trust = NULL;
        int r = alder_appstore_open_flags(a->store, ALDER_APPSTORE_NO_RECOVERY, &store, err);
        if (r == 0)
                r = alder_trust_store_load_dir(a->trust, &trust, err);
        if (r < 0)
                return r;
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("PACKAGE", a->package, "STORE", alder_appstore_root(store)),
                  "staging '%s'", a->package);
        alder_alpkg_expect expect = {.vendor_domain = a->vendor, .arch = a->arch};
        alder_appstore_staged staged = {0};
        r = alder_appstore_stage(store, a->package, trust, &expect, &staged, err);
        alder_trust_store_free(trust);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *out = NULL;
        r = alder_appstore_staged_to_json(&staged, &out, err);
        if (r == 0)
                r = print_line(out, err);
        if (r < 0) {
                /* Nobody will commit or discard a version the daemon never heard of. */
                _cleanup_error_ alder_error *e2 = NULL;
                if (alder_appstore_discard(store, &staged, &e2) < 0)
                        alder_log_error(ALDER_LOG_WARNING, e2, NULL, "cannot remove the staged version");
                return r;
        }
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("APP", staged.name, "VERSION", staged.version),
                  "staged %s %s in '%s'", staged.name, staged.version, staged.dir);
        alder_appstore_staged_clear(&staged);
        return 0;
}

int main(int argc, char **argv)
{
        /*
         * Never outlive alder-appd (a worker left running could unpack into a
         * store a restarted daemon is recovering). The check catches a parent
         * that died between our start and the request.
         */
        pid_t parent = getppid();
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                return 1;
        struct stage_args a = {0};
        int r = parse_args(argc, argv, &a);
        if (r >= 0)
                return r;
        alder_log_init(PROGRAM);
        _cleanup_error_ alder_error *err = NULL;
        /* stdout is the protocol; diagnostics go to stderr, where the daemon collects them. */
        if (alder_log_set_target(ALDER_LOG_TARGET_STDERR, &err) < 0 || alder_log_configure_from_env(&err) < 0) {
                fprintf(stderr, PROGRAM ": %s\n", alder_error_message(err));
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        r = stage(&a, &err);
        if (r < 0) {
                alder_log_error(ALDER_LOG_ERR, err, NULL, "cannot stage '%s'", a.package);
                return print_error(err, r);
        }
        return 0;
}
