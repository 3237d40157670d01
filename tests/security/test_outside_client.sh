#!/bin/bash
# An outside client signs by the documented scheme (docs/security.md,
# "Signing a command"), with nothing of this project but the keys file:
# printf builds the signing input, openssl computes the HMAC, kcat sends.
#   1. the worked example of docs/security.md gives the signature printed
#      there, and build/sign (and its --input) agree byte for byte;
#   2. against a stack (tools/stack exports SCHED_SIGN_KEY_FILE and
#      SCHED_SIGN_KEY_ID), such a command is answered `ok`, while the same
#      command unsigned, or signed for another topic, is only a dead letter.
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d)
export STACK_DIR=$(mktemp -d "$PWD/$BUILD/outside-client.XXXXXX")
trap 'tools/stack down >/dev/null 2>&1; rm -rf "$tmp" "$STACK_DIR"' EXIT

# sign_input KEY_ID SIGNED_AT TOPIC REQUEST_ID REPLY_TO CORRELATION_ID REPLAY_OF < VALUE
sign_input() {
    printf 'schedworker-v1\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n' "$@"
    cat
}
hmac_hex() { # HEXKEY < INPUT
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" | sed 's/^.*= //'
}

# ---- 1. the worked example ------------------------------------------------
K=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
printf '%s' '{"type":"find_patient","request_id":"demo-1","payload":{"phone":"617-555-0101","birthdate":"1980-04-12"}}' >"$tmp/cmd.json"
sign_input voice-agent-1 1767225600000 scheduling.commands.search demo-1 "" "" "" <"$tmp/cmd.json" >"$tmp/input"
sig=$(hmac_hex "$K" <"$tmp/input")
want=bb36003ccc96ffa02058635e5baac565b47121b9741e1fbdad3d6ec859b1c1cb
[ "$sig" = "$want" ] && ok "the worked example's signature (openssl)" || bad "openssl gave $sig, docs say $want"
# the commands of docs/security.md's worked example, run as printed there
sed -n '/^K=0b0b/,/^openssl dgst/p' docs/security.md >"$tmp/example.sh"
doc_sig=$(sed -n 's/^# HMAC-SHA2-256(input)= //p' docs/security.md)
got=$(cd "$tmp" && mkdir -p ex && cd ex && bash ../example.sh 2>&1 | sed 's/^.*= //')
[ -n "$doc_sig" ] && [ "$got" = "$doc_sig" ] && [ "$doc_sig" = "$want" ] &&
    ok "docs/security.md's example, run as printed, gives the signature it prints" ||
    bad "docs/security.md's example gave '$got', it prints '$doc_sig'"
printf 'voice-agent-1 = agent %s\n' "$K" >"$tmp/keys"
chmod 600 "$tmp/keys"
ours=$("$BUILD/sign" --keys "$tmp/keys" --topic scheduling.commands.search --request-id demo-1 \
    --at 1767225600000 <"$tmp/cmd.json" | sed -n 's/^x-signature=//p')
[ "$ours" = "v1=$want" ] && ok "build/sign agrees" || bad "build/sign gave $ours"
"$BUILD/sign" --keys "$tmp/keys" --topic scheduling.commands.search --request-id demo-1 \
    --at 1767225600000 --input <"$tmp/cmd.json" | cmp -s - "$tmp/input" &&
    ok "build/sign --input is the same signing input" || bad "signing inputs differ"

# ---- 2. against a stack -----------------------------------------------------
eval "$(tools/stack up --replicas 1)" || { echo "FAIL stack up"; exit 1; }
[ -r "${SCHED_SIGN_KEY_FILE:-}" ] && [ -n "${SCHED_SIGN_KEY_ID:-}" ] &&
    ok "tools/stack exports SCHED_SIGN_KEY_FILE and SCHED_SIGN_KEY_ID" || bad "no signing exports"
secret=$(sed -n "s/^$SCHED_SIGN_KEY_ID = [a-z]* //p" "$SCHED_SIGN_KEY_FILE")
send() { # TOPIC_SIGNED TOPIC_SENT REQUEST_ID [unsigned]
    local at rid=$3 sig
    at=$(date +%s%3N)
    printf '{"type":"find_patient","request_id":"%s","payload":{"phone":"617-555-0101","birthdate":"1980-04-12"}}' \
        "$rid" >"$tmp/$rid.json"
    if [ "${4:-}" = unsigned ]; then
        kcat -P -b "$KAFKA_BROKERS" -t "$2" "$tmp/$rid.json"
        return
    fi
    sig=$(sign_input "$SCHED_SIGN_KEY_ID" "$at" "$1" "" "" "" "" <"$tmp/$rid.json" | hmac_hex "$secret")
    kcat -P -b "$KAFKA_BROKERS" -t "$2" -H "x-key-id=$SCHED_SIGN_KEY_ID" -H "x-signed-at=$at" \
        -H "x-signature=v1=$sig" "$tmp/$rid.json"
}
good=outside-$$-good
send scheduling.commands.search scheduling.commands.search "$good"
send scheduling.commands.search scheduling.commands.search "outside-$$-unsigned" unsigned
send scheduling.commands.cancel scheduling.commands.search "outside-$$-moved"
results=""
for _ in $(seq 1 60); do
    results=$(timeout 10 kcat -C -b "$KAFKA_BROKERS" -t scheduling.results -e -q 2>/dev/null)
    echo "$results" | grep -q "\"$good\"" && break
    sleep 0.5
done
echo "$results" | grep "\"$good\"" | grep -q '"status":"ok"' &&
    ok "a command signed with openssl is answered ok" || bad "no ok result for $good: $results"
dlq=""
for _ in $(seq 1 20); do
    dlq=$(timeout 10 kcat -C -b "$KAFKA_BROKERS" -t scheduling.dlq -e -q -f '%h|%s\n' 2>/dev/null)
    [ "$(echo "$dlq" | grep -c 'dlq_reason_code=unauthenticated')" -ge 2 ] && break
    sleep 0.5
done
sleep 1
results=$(timeout 10 kcat -C -b "$KAFKA_BROKERS" -t scheduling.results -e -q 2>/dev/null)
for rid in "outside-$$-unsigned" "outside-$$-moved"; do
    echo "$dlq" | grep "\"$rid\"" | grep -q 'dlq_reason_code=unauthenticated' &&
        ok "$rid: a dead letter (unauthenticated)" || bad "$rid: no unauthenticated dead letter"
    echo "$results" | grep -q "\"$rid\"" && bad "$rid was answered" || ok "$rid: not answered"
done
exit $((fails > 0))
