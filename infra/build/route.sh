#!/usr/bin/env bash
# Which way `make build` gets Rust's aarch64 standard library: prints `rustup` or `debian`
# on stdout and, on stderr, the route with the reason it was chosen.
#
#   rustup  rustup's toolchain has aarch64-unknown-linux-gnu, or `rustup target add` adds
#           it within RUSTUP_TARGET_TIMEOUT seconds (default 120). No root: the rest
#           (SAM CLI, cargo-lambda, zig) comes from PyPI into .tools/venv.
#   debian  no rustup, or it cannot fetch the target (a closed network that reaches only
#           the package archives): Debian's rustc-web and the same version's arm64 std
#           from apt-get, which needs root.
#
# BUILD_ROUTE=rustup|debian forces a route (nothing is tried then).
set -uo pipefail

TARGET=aarch64-unknown-linux-gnu

chosen() {
  echo "build route: $1 ($2)" >&2
  echo "$1"
  exit 0
}

case ${BUILD_ROUTE:-} in
  rustup | debian) chosen "$BUILD_ROUTE" "forced by BUILD_ROUTE" ;;
  "") ;;
  *)
    echo "build route: BUILD_ROUTE must be rustup or debian, not '$BUILD_ROUTE'" >&2
    exit 2
    ;;
esac

command -v rustup >/dev/null 2>&1 || chosen debian "no rustup on PATH"

# Read whole first: `grep -q` leaving early would break rustup's pipe (and pipefail).
installed=$(rustup target list --installed 2>/dev/null || true)
if grep -qx "$TARGET" <<<"$installed"; then
  chosen rustup "rustup's toolchain already has $TARGET"
fi

limit=${RUSTUP_TARGET_TIMEOUT:-120}
# A bounded try: a network that drops packets would otherwise keep rustup retrying.
# `timeout` is GNU coreutils; macOS has perl instead (alarm survives the exec).
if command -v timeout >/dev/null 2>&1; then
  bounded=(timeout "$limit")
elif command -v perl >/dev/null 2>&1; then
  bounded=(perl -e 'alarm shift; exec @ARGV or exit 127' "$limit")
else
  bounded=()
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "build route: trying \`rustup target add $TARGET\` (at most $limit s)" >&2
${bounded[@]+"${bounded[@]}"} rustup target add "$TARGET" >"$log" 2>&1
status=$?
if ((status == 0)); then
  chosen rustup "rustup added $TARGET"
fi
if ((status == 124 || status == 142)); then
  why="no answer within $limit s"
else
  why="exit $status: $(grep -v '^[[:space:]]*$' "$log" | tail -n 1)"
fi
chosen debian "rustup could not add $TARGET, $why"
