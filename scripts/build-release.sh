#!/usr/bin/env bash
# Build the release binaries into target/release (or $CARGO_TARGET_DIR/release).
#
# Usage: scripts/build-release.sh [--locked]
#
# phpeek-entrypoint and phpeek-image are ordinary `cargo build --release`
# builds. phpeek-pm, which stays in memory as PID 1 of every container, is
# built a second time on Linux with glibc: statically linked (it carries
# the parts of glibc it uses) and at a fixed address (no PIE). That build
# then replaces target/release/phpeek-pm. With 10 children it idles at
# about 4.6 MiB RSS instead of 7.8 MiB (BENCHMARKS.md). The loader no longer
# writes the relocations of a position-independent binary into private
# memory, and only the pages of glibc that phpeek-pm calls are mapped.
#
# Static linking needs --target, so that the flags reach only the binary and
# not the build scripts and procedural macros that cargo runs on the host;
# cargo then writes it to target/<triple>/release/. Other platforms get the
# ordinary build.
set -euo pipefail
. "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"

repo_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo_dir/target}
case $target_dir in
    /*) ;;
    *) target_dir=$repo_dir/$target_dir ;;
esac

cd -- "$repo_dir"
note "building the workspace (cargo build --release --workspace $*)"
cargo build --release --workspace "$@"

host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
    *-linux-gnu) ;;
    *)
        note "host $host is not Linux with glibc: keeping the ordinary phpeek-pm build"
        exit 0
        ;;
esac

note "building the static phpeek-pm for $host"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release --target "$host" -p phpeek-supervisor --bin phpeek-pm "$@"
install -m 0755 "$target_dir/$host/release/phpeek-pm" "$target_dir/release/phpeek-pm"
"$target_dir/release/phpeek-pm" version
