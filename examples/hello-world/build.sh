#!/bin/bash
# Builds the Alder example app's image offline, from Debian packages only.
# See usage() below, or run: examples/hello-world/build.sh --help
set -euo pipefail

prog=${0##*/}
src=$(cd "$(dirname "$0")" && pwd)
containerfile=$src/Containerfile

usage() {
        cat <<EOF
Usage: $prog [--arch arm64|amd64] [--out DIR] [--tool buildah|umoci]

Build the hello-world example app for an Alder device: compile hello.c into a
static binary, build the image from the Containerfile with no network and no
daemon, and write, under DIR:

  hello-ARCH                            the static binary
  oci/                                  OCI image layout, tagged with the version
  NAME_VERSION_ARCH.oci-archive.tar     the same image as an oci-archive
  NAME_VERSION_ARCH.docker-archive.tar  the same image in 'docker save' format

NAME and VERSION come from the Containerfile's org.opencontainers.image.title
and org.opencontainers.image.version labels. Any of the three image forms is
what 'alder app pack' takes.

Options:
  -a, --arch ARCH   target architecture: arm64 (default, Alder devices) or amd64
  -o, --out DIR     output directory (default: $src/out/ARCH)
  -t, --tool TOOL   buildah (default if installed): 'buildah build' with a
                    private vfs store in a temporary directory, so it needs no
                    daemon and leaves no state behind; umoci (default without
                    buildah): the same image with umoci, from the
                    Containerfile's instructions, for machines where buildah
                    cannot run
  -h, --help        show this help

Running it again rebuilds and replaces the outputs; timestamps are pinned
(SOURCE_DATE_EPOCH, default 0), so the same sources give the same digests.

Needs: gcc (amd64) or gcc-aarch64-linux-gnu + libc6-dev-arm64-cross (arm64),
file, skopeo, and buildah or umoci (Debian bookworm packages).

Exit status: 0 image built, 1 the build failed, 2 bad command line.
EOF
}

die() {
        echo "$prog: error: $*" >&2
        exit 1
}

usage_error() {
        echo "$prog: $*" >&2
        echo "Try '$prog --help'." >&2
        exit 2
}

step() {
        echo "==> $*"
}

arch=arm64
out=
tool=
while [ $# -gt 0 ]; do
        case $1 in
        -a | --arch | -o | --out | -t | --tool)
                [ $# -ge 2 ] || usage_error "option '$1' needs an argument"
                case $1 in
                -a | --arch) arch=$2 ;;
                -o | --out) out=$2 ;;
                *) tool=$2 ;;
                esac
                shift 2
                ;;
        --arch=*) arch=${1#*=} && shift ;;
        --out=*) out=${1#*=} && shift ;;
        --tool=*) tool=${1#*=} && shift ;;
        -h | --help)
                usage
                exit 0
                ;;
        *) usage_error "unknown argument '$1'" ;;
        esac
done
case $arch in
arm64 | amd64) ;;
*) usage_error "--arch: '$arch' is not arm64 or amd64" ;;
esac
case $tool in
buildah | umoci) ;;
"")
        tool=buildah
        if ! command -v buildah >/dev/null && command -v umoci >/dev/null; then
                echo "$prog: buildah is not installed, building with umoci"
                tool=umoci
        fi
        ;;
*) usage_error "--tool: '$tool' is not buildah or umoci" ;;
esac
[ -n "$out" ] || out=$src/out/$arch
epoch=${SOURCE_DATE_EPOCH:-0}
[[ $epoch =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH='$epoch' is not a number of seconds"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

need() {
        command -v "$1" >/dev/null || die "'$1' not found: install the Debian package $2"
}

# The compiler that makes static binaries for $arch on this host, and what
# file(1) calls that machine.
case $arch in
arm64) machine="ARM aarch64" cross=aarch64-linux-gnu-gcc cross_pkg="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
amd64) machine="x86-64" cross=x86_64-linux-gnu-gcc cross_pkg="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;;
esac
case $(uname -m) in
aarch64) host_arch=arm64 ;;
x86_64) host_arch=amd64 ;;
*) host_arch=other ;;
esac
if [ "$host_arch" = "$arch" ]; then
        cc=gcc
        need gcc "gcc and libc6-dev"
else
        cc=$cross
        need "$cc" "$cross_pkg"
fi
need file file
need skopeo skopeo
need "$tool" "$tool"
[ -r "$containerfile" ] || die "$containerfile: not readable"

# One label of the Containerfile, in the form it is written there: LABEL KEY=VALUE or KEY="VALUE".
label() {
        local line value
        line=$(grep -E "^LABEL[[:space:]]+$1=" "$containerfile" | tail -n 1) ||
                die "$containerfile: no 'LABEL $1=...' line"
        value=${line#*=}
        value=${value#\"}
        value=${value%\"}
        printf '%s\n' "$value"
}
version=$(label org.opencontainers.image.version)
name=$(label org.opencontainers.image.title)
[[ $version =~ ^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$ ]] ||
        die "$containerfile: version label '$version' is not usable as an image tag"
[[ $name =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] ||
        die "$containerfile: title label '$name' is not a lower-case app name"
ref=localhost/$name:$version
oci_archive=${name}_${version}_$arch.oci-archive.tar
docker_archive=${name}_${version}_$arch.docker-archive.tar

mkdir -p "$out" || die "cannot create output directory '$out'"
out=$(cd "$out" && pwd)
# Everything is built in here and moved into place at the end, so a failed
# run leaves the previous outputs as they were; the same file system as $out
# makes the moves renames.
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/context" "$work/tmp"
export TMPDIR=$work/tmp

step "compiling hello.c $version for $arch ($cc -static)"
bin=$work/context/hello-$arch
"$cc" -std=gnu11 -O2 -static -s -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
        -Wstrict-prototypes -Wvla -Wimplicit-fallthrough -Wundef -D_GNU_SOURCE \
        -ffile-prefix-map="$src"=. -DHELLO_VERSION="\"$version\"" -o "$bin" "$src/hello.c" ||
        die "compiling $src/hello.c with $cc failed"
desc=$(file -b "$bin")
[[ $desc == *"statically linked"* ]] || die "$bin is not statically linked: $desc"
[[ $desc == *"$machine"* ]] || die "$bin is not an $machine executable: $desc"
echo "    $desc"
touch -d "@$epoch" "$bin"

# Image signatures make no sense for images we just built ourselves; a private
# policy keeps a strict system policy from refusing the local copies.
policy=$work/policy.json
echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$policy"

build_with_buildah() {
        # A private store and configuration: nothing read from or left in
        # /var/lib/containers, no daemon, no registry (FROM scratch, --pull=never).
        cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/root"
runroot = "$work/runroot"
EOF
        export CONTAINERS_STORAGE_CONF=$work/storage.conf
        local b=(buildah --root "$work/root" --runroot "$work/runroot" --storage-driver vfs)
        step "building $ref for linux/$arch with buildah (private vfs store, offline)"
        "${b[@]}" build --quiet --pull=never --network=none --platform "linux/$arch" --timestamp "$epoch" \
                --identity-label=false --format oci -f "$containerfile" -t "$ref" "$work/context" >/dev/null ||
                die "buildah build failed (see its messages above)"
        step "writing the OCI layout"
        "${b[@]}" push --quiet --signature-policy "$policy" "$ref" "oci:$work/oci:$version" ||
                die "buildah push to $work/oci failed"
}

# --tool umoci: the same image from the Containerfile's instructions, for the
# subset the Containerfile's header names. umoci_* arrays collect the config.
json_strings() { # '["a", "b"]' -> one string per line; no escapes inside strings
        local rest=$1 re='^[[:space:]]*"([^"\\]*)"[[:space:]]*(,|$)(.*)$'
        [[ $rest =~ ^[[:space:]]*\[(.*)\][[:space:]]*$ ]] || return 1
        rest=${BASH_REMATCH[1]}
        while [[ $rest =~ $re ]]; do
                printf '%s\n' "${BASH_REMATCH[1]}"
                rest=${BASH_REMATCH[3]}
                [ "${BASH_REMATCH[2]}" = , ] || [ -z "$rest" ] || return 1
        done
        [[ $rest =~ ^[[:space:]]*$ ]]
}

key_value() { # 'KEY=VALUE' or 'KEY="VALUE"' -> KEY=VALUE
        [[ $1 =~ ^([A-Za-z_][A-Za-z0-9_.-]*)=(\"([^\"\\]*)\"|[^[:space:]\"]*)$ ]] || return 1
        if [ -n "${BASH_REMATCH[3]}" ] || [[ ${BASH_REMATCH[2]} == '""' ]]; then
                printf '%s=%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}"
        else
                printf '%s=%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        fi
}

parse_containerfile() {
        local n=0 line instr args kv
        umoci_copies=() umoci_dirs=() umoci_args=()
        while IFS= read -r line || [ -n "$line" ]; do
                n=$((n + 1))
                [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
                local at="$containerfile:$n"
                [[ $line == *\\ ]] && die "$at: line continuations are not supported with --tool umoci"
                read -r instr args <<<"$line"
                case ${instr^^} in
                FROM) [ "$args" = scratch ] || die "$at: --tool umoci builds only FROM scratch images" ;;
                ARG) [[ $args =~ ^TARGET(ARCH|OS)$ ]] || die "$at: --tool umoci knows only ARG TARGETARCH and TARGETOS" ;;
                COPY)
                        local from to
                        read -r from to <<<"$args"
                        [[ -n $to && $to != *" "* && $from != -* ]] ||
                                die "$at: --tool umoci takes COPY SRC DEST (one source, no options)"
                        from=${from//\$\{TARGETARCH\}/$arch}
                        from=${from//\$TARGETARCH/$arch}
                        [[ $from != *..* && $from != /* && -e $work/context/$from ]] ||
                                die "$at: COPY source '$from' is not in the build context"
                        umoci_copies+=("$from" "$to")
                        ;;
                ENV | LABEL)
                        kv=$(key_value "$args") || die "$at: --tool umoci takes one KEY=VALUE per $instr"
                        umoci_args+=("--config.${instr,,}=$kv")
                        ;;
                ENTRYPOINT | CMD | VOLUME)
                        local items item
                        items=$(json_strings "$args") || die "$at: --tool umoci takes $instr in JSON form: [\"...\"]"
                        while IFS= read -r item; do
                                umoci_args+=("--config.${instr,,}=$item")
                                [ "$instr" != VOLUME ] || umoci_dirs+=("$item")
                        done <<<"$items"
                        ;;
                WORKDIR)
                        umoci_args+=("--config.workingdir=$args")
                        umoci_dirs+=("$args")
                        ;;
                USER | STOPSIGNAL) umoci_args+=("--config.${instr,,}=$args") ;;
                *) die "$at: --tool umoci does not support $instr (build with --tool buildah)" ;;
                esac
        done <"$containerfile"
}

build_with_umoci() {
        parse_containerfile
        local u=(umoci) rootfs=$work/bundle/rootfs i
        [ "$(id -u)" -eq 0 ] || u+=(--rootless)
        step "building $ref for linux/$arch with umoci"
        "${u[@]}" init --layout "$work/oci" || die "umoci init failed"
        "${u[@]}" new --image "$work/oci:$version" || die "umoci new failed"
        "${u[@]}" unpack --image "$work/oci:$version" "$work/bundle" >/dev/null || die "umoci unpack failed"
        # One layer with everything, as buildah makes it; root-owned, mode of the source.
        for ((i = 0; i < ${#umoci_copies[@]}; i += 2)); do
                install -D -m "$(stat -c %a "$work/context/${umoci_copies[i]}")" \
                        "$work/context/${umoci_copies[i]}" "$rootfs/${umoci_copies[i + 1]}"
        done
        for i in "${umoci_dirs[@]}"; do
                mkdir -p "$rootfs/$i"
        done
        find "$rootfs" -exec touch -h -d "@$epoch" {} +
        "${u[@]}" repack --image "$work/oci:$version" --history.created "$created" \
                --history.created_by "build.sh: files of $(basename "$containerfile")" "$work/bundle" ||
                die "umoci repack failed"
        "${u[@]}" config --image "$work/oci:$version" --os linux --architecture "$arch" --created "$created" \
                --history.created "$created" --history.created_by "build.sh: config of $(basename "$containerfile")" \
                "${umoci_args[@]}" || die "umoci config failed"
        "${u[@]}" gc --layout "$work/oci" || die "umoci gc failed"
}

"build_with_$tool"

# The packer refuses an image whose config names another architecture than the package's.
step "checking the image's platform"
platform=$(skopeo --policy "$policy" --tmpdir "$work/tmp" inspect --format '{{.Os}}/{{.Architecture}}' "oci:$work/oci:$version") ||
        die "skopeo cannot read the image in $work/oci"
[ "$platform" = "linux/$arch" ] || die "the image config says $platform, not linux/$arch"
echo "    $platform"

step "writing $oci_archive and $docker_archive"
skopeo --policy "$policy" --tmpdir "$work/tmp" copy --quiet "oci:$work/oci:$version" "oci-archive:$work/$oci_archive:$version" ||
        die "skopeo copy to oci-archive failed"
skopeo --policy "$policy" --tmpdir "$work/tmp" copy --quiet "oci:$work/oci:$version" "docker-archive:$work/$docker_archive:$ref" ||
        die "skopeo copy to docker-archive failed"

# Replace the previous outputs only now that everything exists.
rm -rf "$out/oci"
mv "$work/oci" "$out/oci"
mv -f "$work/$oci_archive" "$work/$docker_archive" "$out/"
mv -f "$bin" "$out/hello-$arch"

digest=$(skopeo --policy "$policy" --tmpdir "$work/tmp" inspect --format '{{.Digest}}' "oci:$out/oci:$version")
step "done: $name $version for linux/$arch (manifest $digest)"
cat <<EOF
    $out/hello-$arch
    $out/oci  (tag $version)
    $out/$oci_archive
    $out/$docker_archive
Next: alder app pack $out/oci:$version   (see $src/README.md)
EOF
