#!/usr/bin/env bash
# `make deploy-doc-test`: docs/deploy.md's commands, run as written wherever no AWS
# account is needed.
#
# 1. infra/build/deploy_doc_check.py: every command block says what it needs; the stack
#    outputs, logical ids and SSM names the AWS-only blocks use exist in the templates;
#    samconfig.toml's settings; deploy/cognito.yaml's claims trigger run on Cognito's
#    event. cfn-lint on deploy/cognito.yaml, and `sam validate --lint` on both templates
#    when `make build` has installed the SAM CLI.
# 2. The blocks marked `# offline`, then those marked `# AWS, tested on the local stack`,
#    in one shell, against a local stack started here (its own free port) whose emulator
#    answers the `aws` commands (AWS_ENDPOINT_URL): the secrets, the queue, the channel
#    item, the smoke test. Then: the handshake printed 42, the unsigned POST 401, the
#    signed one 200, the channel is listed, and both messages reach its conversation in
#    the queue.
#
# Environment: VENV (.venv), CARGO (cargo). Needs the AWS CLI (v1 or v2) for step 2; without
# it step 2 is skipped, loudly. Only 127.0.0.1 is contacted.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
CARGO=${CARGO:-cargo}
DOC=docs/deploy.md
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

work=$(mktemp -d)
STACK_PID=
cleanup() {
  if [[ -n $STACK_PID ]] && kill -0 "$STACK_PID" 2>/dev/null; then
    kill -TERM -- "-$STACK_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$STACK_PID" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$VENV/bin/python" infra/build/deploy_doc_check.py "$DOC" "$work"
"$VENV/bin/cfn-lint" deploy/cognito.yaml && echo "ok   cfn-lint deploy/cognito.yaml"
if [[ -x .tools/venv/bin/sam ]]; then
  for t in template.yaml deploy/cognito.yaml; do
    SAM_CLI_TELEMETRY=0 .tools/venv/bin/sam validate --lint --region us-east-1 --template-file "$t" >/dev/null
    echo "ok   sam validate --lint --template-file $t"
  done
else
  echo "skip sam validate --lint (no .tools/venv/bin/sam: \`make build\` installs it)"
fi

if ! command -v aws >/dev/null 2>&1; then
  echo "deploy-doc-test: SKIPPED the commands against the local stack: no AWS CLI (aws) on PATH"
  exit 0
fi

# PREBUILT=1 (make test, which built the stack's binaries first): no cargo call, whose build lock
# the integration tests running beside this hold until they end.
if [[ -z ${PREBUILT:-} ]]; then
  $CARGO build -q --workspace --bin local-stack --bin send-webhook
fi
PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
LOG=$work/local-stack.log
PORT=$PORT CONVERSA_EMULATOR= setsid "${CARGO_TARGET_DIR:-target}/debug/local-stack" >"$LOG" 2>&1 &
STACK_PID=$!
started=$(date +%s)
TOKEN=
until [[ -n $TOKEN ]]; do
  if ! kill -0 "$STACK_PID" 2>/dev/null || (($(date +%s) - started > 180)); then
    echo "deploy-doc-test: the local stack did not answer on $BASE; its log:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  sleep 0.5
  TOKEN=$(curl -s --max-time 5 -XPOST "$BASE/_dev/token" \
    -d '{"sub":"ana","role":"supervisor","queues":["support","sales"]}' 2>/dev/null |
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p' || true)
done
EMULATOR=$(sed -n 's/.*(emulator: \(http[^)]*\)).*/\1/p' "$LOG" | head -n 1)
[[ -n $EMULATOR ]] || { echo "deploy-doc-test: no emulator URL in the local stack's log" >&2; exit 1; }
echo "deploy-doc-test: local stack on $BASE, emulator $EMULATOR"

# The channel of the test: not the sample one, so the guide's item is the only definition.
CHANNEL=100000000000077
{
  echo 'set -euo pipefail'
  cat "$work/offline.sh"
  cat <<EOF
# --- deploy-doc-test: the local stack's values in place of AWS's ---
REGION=us-east-1
export AWS_REGION=\$REGION AWS_DEFAULT_REGION=\$REGION
export AWS_ENDPOINT_URL=$EMULATOR AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_PAGER=
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN
export TMPDIR=$work
VERIFY_TOKEN=dev-verify-token APP_SECRET=dev-app-secret GRAPH_TOKEN=dev-graph-token
PHONE_NUMBER_ID=$CHANNEL DISPLAY_NUMBER=554830000077 WABA_ID=200000000000077
API_URL=$BASE WEBHOOK_URL=$BASE/webhooks/whatsapp TABLE=conversa-local-conversations
TOKEN=$TOKEN
EOF
  cat "$work/local.sh"
} >"$work/run.sh"

echo "deploy-doc-test: running the guide's commands"
status=0
bash "$work/run.sh" >"$work/out.log" 2>&1 || status=$?
sed 's/^/  | /' "$work/out.log"
if ((status != 0)); then
  echo "deploy-doc-test: the guide's commands failed (exit $status); the local stack's log:"
  tail -n 30 "$LOG"
  exit 1
fi

failures=0
check() {
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}
check "the handshake answered the challenge (42)" grep -qx 42 "$work/out.log"
check "the unsigned POST was refused (401)" grep -qx 401 "$work/out.log"
check "the signed POST was accepted (200)" grep -q ' 200$' "$work/out.log"
check "send-webhook's POST was accepted" grep -q '^200 ' "$work/out.log"
check "the channel item is a channel the API lists" grep -q "\"$CHANNEL\"" "$work/out.log"
# Both messages (the text, then the image through send-webhook) in the channel's one
# conversation, waiting in support.
auth=(-H "Authorization: Bearer $TOKEN")
conversation=
messages=0
for _ in $(seq 60); do
  conversation=$(curl -fsS "${auth[@]}" "$BASE/v1/queues/support/conversations?channel=$CHANNEL" |
    "$VENV/bin/python" -c 'import json, sys; items = json.load(sys.stdin)["items"]; print(items[0]["id"] if items else "")')
  if [[ -n $conversation ]]; then
    messages=$(curl -fsS "${auth[@]}" "$BASE/v1/conversations/$conversation/messages" |
      "$VENV/bin/python" -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))')
    ((messages >= 2)) && break
  fi
  sleep 0.5
done
check "the channel's conversation waits in support ($conversation)" test -n "$conversation"
check "with both messages ($messages)" test "$messages" -ge 2

if ((failures)); then
  echo "deploy-doc-test: $failures check(s) failed"
  exit 1
fi
echo "deploy-doc-test: every check passed"
