#!/usr/bin/env bash
# Build the phpeek images and run the podman acceptance tests.
#
# Usage: images/tests/run-image-tests.sh [TEST-NAME-FILTER]
#
# Steps: set up podman (images/tests/podman-env.sh, root needed to install
# it), build the release binaries with `scripts/build-release.sh` and
# check the static phpeek-pm (`scripts/check-static-build.sh`),
# then run the #[ignore]d tests of images/tests/images.rs one at a time
# (in release mode).
# They build the 8.2 (bookworm) and 8.4 (trixie) images twice each,
# compare the manifest digests, build the Laravel fixture image
# (images/definitions/laravel-fixture-8.2-bookworm.toml), load the images
# into local podman storage (never pushed), run them with ports published
# on 127.0.0.1 only, and remove the containers they started. Expect 3 to 6 minutes on 2 cores
# when the packages are already cached.
#
# Environment: CARGO_TARGET_DIR (cargo's usual meaning) and
# PHPEEK_IMAGE_CACHE (package cache, default $TMPDIR/phpeek-image-test-cache).
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.."

# shellcheck source=images/tests/podman-env.sh
. images/tests/podman-env.sh
phpeek_podman_setup

scripts/build-release.sh
scripts/check-static-build.sh
cargo test -p phpeek-image --test cli
# --release: the tests run the phpeek-image binary of their own profile,
# and a debug build compresses and hashes the layers slowly (about 70 s
# per image against 10 s in release mode on a 2-core VM).
cargo test --release -p phpeek-image --test images -- --ignored --test-threads=1 "$@"
