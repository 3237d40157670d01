#!/bin/bash
# Issue 2's acceptance, literally: two replicas; a find_patient sent with
# kcat gets exactly one ok result with the right patient; a broken JSON
# message gets a dead letter and the workers keep running; SIGTERM drains
# and exits cleanly; `tools/stack down` leaves no process behind.
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
export STACK_DIR=$(mktemp -d "$PWD/$BUILD/kcat-stack.XXXXXX")
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
trap 'tools/stack down >/dev/null 2>&1' EXIT

eval "$(tools/stack up --replicas 2)" || { echo "FAIL stack up"; exit 1; }
pids=$(cat "$STACK_DIR"/pids/*.pid | awk '{print $1}')

# send KEY JSON: one command on the search topic, signed as an outside
# client signs (build/sign with the stack's exported key: docs/security.md)
send() {
    local h
    printf '%s' "$2" >"$STACK_DIR/msg"
    mapfile -t h < <("$BUILD/sign" --topic scheduling.commands.search <"$STACK_DIR/msg")
    [ ${#h[@]} = 3 ] || { echo "FAIL sign"; exit 1; }
    kcat -P -b "$KAFKA_BROKERS" -t scheduling.commands.search ${1:+-k "$1"} "${h[@]/#/-H}" \
        "$STACK_DIR/msg"
}
rid="kcat-$$-$RANDOM"
send caller-1 "{\"type\":\"find_patient\",\"request_id\":\"$rid\",\"payload\":{\"phone\":\"(617) 555-0101\",\"birthdate\":\"1980-04-12\"}}"
send "" '{"type": "find_patient", "request_id": '
rid2="kcat-after-$$"
send caller-2 "{\"type\":\"find_patient\",\"request_id\":\"$rid2\",\"payload\":{\"phone\":\"617 555 0102\",\"birthdate\":\"1975-09-30\"}}"

results=""
for _ in $(seq 1 40); do
    results=$(kcat -C -b "$KAFKA_BROKERS" -t scheduling.results -e -q 2>/dev/null)
    echo "$results" | grep -q "$rid2" && break
    sleep 0.5
done
sleep 1
results=$(kcat -C -b "$KAFKA_BROKERS" -t scheduling.results -e -q 2>/dev/null)
n=$(echo "$results" | grep -c "\"$rid\"")
[ "$n" = 1 ] && ok "exactly one result for $rid" || fail "$n results for $rid"
echo "$results" | grep "\"$rid\"" | grep -q '"status":"ok"' && ok "status ok" || fail "status not ok"
echo "$results" | grep "\"$rid\"" | grep -q '"given_name":"John","family_name":"Smith"' &&
    ok "the right patient" || fail "wrong patient: $(echo "$results" | grep "\"$rid\"")"
echo "$results" | grep "\"$rid2\"" | grep -q '"given_name":"Maria"' &&
    ok "workers keep running after a broken message" || fail "no answer after the broken message"
dlq=$(kcat -C -b "$KAFKA_BROKERS" -t scheduling.dlq -e -q -f '%h|%s\n' 2>/dev/null)
echo "$dlq" | grep -q 'dlq_reason_code=bad_json' && ok "broken JSON dead-lettered" || fail "no dead letter: $dlq"
echo "$dlq" | grep -q '|{"type": "find_patient", "request_id": $' &&
    ok "dead letter keeps the original bytes" || fail "dead letter bytes changed"

tools/stack stop-worker 1 >/dev/null 2>&1
tail -n 3 "$STACK_DIR/worker-1.log" | grep -q '"msg":"stopped"' && ok "SIGTERM: drained and stopped" ||
    fail "worker-1 did not stop cleanly: $(tail -n 3 "$STACK_DIR/worker-1.log")"

tools/stack down >/dev/null 2>&1
left=""
for p in $pids; do [ -d "/proc/$p" ] && [ "$(awk '{print $3}' /proc/$p/stat)" != Z ] && left="$left $p"; done
[ -z "$left" ] && ok "stack down left no process" || fail "still running:$left"
trap - EXIT
rm -rf "$STACK_DIR"
exit $((fails > 0))
