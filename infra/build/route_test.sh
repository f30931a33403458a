#!/usr/bin/env bash
# `make build-route-test`: which route `make build` takes (infra/build/route.sh), with stub
# `rustup` executables on PATH in place of the real one, and what `make -n build` would
# then run. Offline, nothing installed, a few seconds:
#   - rustup adds the target            -> rustup route, no apt-get / dpkg / sudo
#   - rustup already has it             -> rustup route, `rustup target add` not even tried
#   - rustup fails to download          -> debian route (apt-get), the error in the reason
#   - rustup hangs past the timeout     -> debian route, within the timeout
#   - no rustup                         -> debian route
#   - BUILD_ROUTE=rustup|debian         -> that route whatever rustup does; other values fail
#   - both routes install the same pinned SAM CLI, cargo-lambda and zig.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
unset BUILD_ROUTE RUSTUP_TARGET_TIMEOUT MAKEFLAGS MFLAGS MAKELEVEL
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# PATH without the real rustup (its directory also holds cargo, not needed by `make -n`).
clean_path=
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [[ -n $d && ! -x $d/rustup ]] && clean_path=${clean_path:+$clean_path:}$d
done

# stub NAME LIST_OUTPUT ADD_BEHAVIOUR: a `rustup` whose `target list --installed` prints
# LIST_OUTPUT and whose `target add` succeeds (ok), fails like a closed network (fail) or
# hangs (hang). Every call is appended to $work/NAME/calls.
stub() {
  mkdir -p "$work/$1"
  cat >"$work/$1/rustup" <<EOF
#!/usr/bin/env bash
echo "\$*" >>"$work/$1/calls"
case "\$*" in
  "target list --installed") printf '%b' "$2" ;;
  "target add aarch64-unknown-linux-gnu")
    case $3 in
      ok) echo "info: downloading component 'rust-std' for 'aarch64-unknown-linux-gnu'" >&2 ;;
      fail) echo "error: could not download file from 'https://static.rust-lang.org/dist/channel-rust-stable.toml.sha256': could not resolve host" >&2; exit 1 ;;
      hang) exec sleep 30 ;;
    esac ;;
  *) echo "stub rustup: unexpected \$*" >&2; exit 3 ;;
esac
EOF
  chmod +x "$work/$1/rustup"
}
stub adds 'x86_64-unknown-linux-gnu\n' ok
stub has 'aarch64-unknown-linux-gnu\nx86_64-unknown-linux-gnu\n' fail
stub offline 'x86_64-unknown-linux-gnu\n' fail
stub hangs 'x86_64-unknown-linux-gnu\n' hang
mkdir -p "$work/none"

failures=0
check() { # DESCRIPTION CONDITION...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}

# run STUB [VAR=value...]: `make -n build` with that stub; sets $route (what
# `make build-route` prints), $reason (route.sh's log line) and $plan (`make -n build`).
run() {
  local dir=$work/$1
  shift
  local mk=(env "$@" PATH="$dir:$clean_path" make --no-print-directory -C "$ROOT" TOOLS="$work/tools")
  route=$("${mk[@]}" build-route 2>"$work/err") || route="(make failed: $(tail -n 1 "$work/err"))"
  reason=$(grep '^build route: ' "$work/err" | tail -n 1 || true)
  plan=$("${mk[@]}" -n build 2>&1) || plan="(make -n failed) $plan"
}
has() { grep -qE -- "$2" <<<"$1"; }
hasnt() { ! grep -qE -- "$2" <<<"$1"; }
pins() { grep -oE '(aws-sam-cli|cargo-lambda|ziglang)==[^ ]+' <<<"$1" | sort | tr '\n' ' '; }

run adds
check "rustup adds the target: rustup route" test "$route" = rustup
check "  ...logged with its reason" has "$reason" 'rustup added aarch64-unknown-linux-gnu'
check "  ...make -n build runs sam build with the venv's tools" has "$plan" 'sam build --template-file template.yaml'
check "  ...and no apt-get, dpkg or sudo" hasnt "$plan" '(apt-get|apt-cache|dpkg|sudo)'
check "  ...nor Debian's rustc" hasnt "$plan" 'RUSTC=|no-rustup'
rustup_pins=$(pins "$plan")

: >"$work/has/calls"
run has
check "target already installed: rustup route" test "$route" = rustup
check "  ...without trying rustup target add" hasnt "$(cat "$work/has/calls")" 'target add'
check "  ...and no apt-get" hasnt "$plan" 'apt-get'

run offline
check "rustup cannot download: debian route" test "$route" = debian
check "  ...with rustup's error as the reason" has "$reason" 'could not add .*could not resolve host'
check "  ...make -n build installs Debian's rustc-web" has "$plan" 'apt-get install .*rustc-web'
check "  ...and builds with it" has "$plan" 'RUSTC="[^"]*/bin/rustc" RUSTUP='
check "  ...the same pinned SAM CLI, cargo-lambda and zig as the rustup route" \
  test "$(pins "$plan")" = "$rustup_pins"
check "  ...which are pinned" test "$(wc -w <<<"$rustup_pins")" -eq 3

start=$(date +%s)
run hangs RUSTUP_TARGET_TIMEOUT=1
elapsed=$(($(date +%s) - start))
check "rustup hangs: debian route" test "$route" = debian
check "  ...after the timeout ($elapsed s for two make runs)" test "$elapsed" -lt 20
check "  ...said so" has "$reason" 'no answer within 1 s'

run none
check "no rustup: debian route" test "$route" = debian
check "  ...said so" has "$reason" 'no rustup on PATH'

: >"$work/adds/calls"
run adds BUILD_ROUTE=debian
check "BUILD_ROUTE=debian: debian route even where rustup works" test "$route" = debian
check "  ...rustup not asked" test ! -s "$work/adds/calls"
run offline BUILD_ROUTE=rustup
check "BUILD_ROUTE=rustup: rustup route even where rustup cannot download" test "$route" = rustup
check "  ...no apt-get" hasnt "$plan" 'apt-get'
run adds BUILD_ROUTE=docker
check "BUILD_ROUTE=docker: refused" has "$route" 'make failed'
check "  ...naming the choices" has "$(cat "$work/err")" 'must be rustup or debian'

if ((failures)); then
  echo "build-route-test: $failures check(s) failed"
  exit 1
fi
echo "build-route-test: every check passed"
