#!/usr/bin/env bash
# `make contract`: schemathesis against the running local stack, with docs/openapi.yaml as
# the contract. Starts the stack as `make run` does (on its own free port, so a `make run`
# on 3000 is left alone), gets a supervisor token from /_dev/token, runs every check on
# every documented operation with a fixed seed and a bounded number of examples, stops the
# stack and exits with schemathesis's status.
#
# Environment: CONTRACT_PORT (default: a free port; fails if the port is busy),
# CONTRACT_EXAMPLES (examples per operation in the fuzzing phase, default 100),
# CONTRACT_SEED (default 20240601), CONTRACT_WORKERS (default 1: with several threads,
# hypothesis on this Python 3.11.7 trips over a CPython `ast` bug and reports "Runtime
# Error: AST constructor recursion depth mismatch"), CONTRACT_CONFIG (a schemathesis.toml,
# default infra/contract/schemathesis.toml; e.g. to feed real ids). Extra arguments go to
# `schemathesis run`.
# Only 127.0.0.1 is contacted: the spec is a local file, every $ref is internal, and
# proxies are switched off for the run.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
CARGO=${CARGO:-cargo}
EXAMPLES=${CONTRACT_EXAMPLES:-100}
SEED=${CONTRACT_SEED:-20240601}
WORKERS=${CONTRACT_WORKERS:-1}
REPORT_DIR=target/contract
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
# hypothesis keeps its files (.hypothesis/) here rather than in the repository's root.
export HYPOTHESIS_STORAGE_DIRECTORY=$PWD/$REPORT_DIR/hypothesis
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

if [[ ! -x $VENV/bin/schemathesis ]]; then
  echo "contract: $VENV/bin/schemathesis is missing: run \`make venv\`" >&2
  exit 2
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -n ${CONTRACT_PORT:-} ]]; then
  PORT=$CONTRACT_PORT
  if port_busy "$PORT"; then
    echo "contract: port $PORT is busy (another local stack?): free it or set CONTRACT_PORT" >&2
    exit 2
  fi
else
  PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
BASE=http://127.0.0.1:$PORT

# Build first, so the wait below only covers the stack's start (emulator, resources, seeds).
# With the whole workspace's features, as `make test`'s other steps build: the
# dependencies compiled for them are reused instead of built again with other features.
# PREBUILT=1 (make test, which built the stack's binaries first): no cargo call, whose build lock
# the integration tests running beside this hold until they end.
if [[ -z ${PREBUILT:-} ]]; then
  $CARGO build -q --workspace --bin local-stack
fi
STACK_BIN=${CARGO_TARGET_DIR:-target}/debug/local-stack

mkdir -p "$REPORT_DIR"
LOG=$REPORT_DIR/local-stack.log
# Its own process group: the trap stops the stack and the emulator it started, nothing else.
PORT=$PORT CONVERSA_EMULATOR= setsid "$STACK_BIN" >"$LOG" 2>&1 &
STACK_PID=$!
stop_stack() {
  if kill -0 "$STACK_PID" 2>/dev/null; then
    kill -TERM -- "-$STACK_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$STACK_PID" 2>/dev/null || true
  fi
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

token_request='{"sub":"supervisor-1","role":"supervisor","queues":["support","sales"]}'
started=$(date +%s)
TOKEN=
while :; do
  if ! kill -0 "$STACK_PID" 2>/dev/null; then
    echo "contract: the local stack exited before answering; its log ($LOG):" >&2
    tail -n 40 "$LOG" >&2
    exit 2
  fi
  answer=$(curl -s --max-time 5 -XPOST "$BASE/_dev/token" -d "$token_request" 2>/dev/null || true)
  TOKEN=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$answer")
  [[ -n $TOKEN ]] && break
  if (($(date +%s) - started > 180)); then
    echo "contract: the local stack did not answer on $BASE within 180 s; its log ($LOG):" >&2
    tail -n 40 "$LOG" >&2
    exit 2
  fi
  sleep 0.5
done
echo "contract: local stack up on $BASE after $(($(date +%s) - started)) s; running schemathesis"

# docs/openapi.yaml is the agent and assistant API (/v1/...); /webhooks/whatsapp is not in
# it, so it is not run here: its shape is Meta's, and every POST must carry
# X-Hub-Signature-256, an HMAC-SHA256 of the exact body with the app secret, which
# schemathesis cannot compute (every generated request would stop at the 401).
# tests/tests/webhook_inbound.rs covers it. The development routes (/_dev/...) are not in
# the document either.
status=0
"$VENV/bin/schemathesis" --config-file "${CONTRACT_CONFIG:-infra/contract/schemathesis.toml}" run docs/openapi.yaml \
  --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" \
  --checks all \
  --max-examples "$EXAMPLES" \
  --seed "$SEED" \
  --generation-database none \
  --workers "$WORKERS" \
  --request-timeout 10 \
  --no-color \
  --report junit --report-junit-path "$REPORT_DIR/junit.xml" \
  "$@" || status=$?
echo "contract: schemathesis exited with $status after $(($(date +%s) - started)) s (report: $REPORT_DIR/junit.xml)"
exit "$status"
