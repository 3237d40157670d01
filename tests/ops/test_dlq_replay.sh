#!/bin/bash
# tools/dlq-replay against the embedded Kafka broker: a dry run sends
# nothing; a real run puts the DLQ message's exact bytes, key, request_id and
# a fresh signature on the topic named in dlq_source_topic, and skips a
# message without that header.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
broker_pid=''
cleanup() {
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BUILD/kafka-broker" --partitions 1 >"$tmp/addr" 2>"$tmp/broker.log" &
broker_pid=$!
for _ in $(seq 100); do [ -s "$tmp/addr" ] && break; sleep 0.1; done
B=$(head -n 1 "$tmp/addr")
[ -n "$B" ] || fail "broker did not start"

# offset 0: no source header (skipped); offset 1: a real dead letter whose
# value has a newline and a tab inside
printf 'junk' >"$tmp/v0"
printf '{"type":"book",\n\t"request_id":"r-42","payload":{}}' >"$tmp/v1"
timeout 20 kcat -P -q -b "$B" -t scheduling.dlq -p 0 -H dlq_reason_code=bad_json "$tmp/v0"
timeout 20 kcat -P -q -b "$B" -t scheduling.dlq -p 0 -k prac-7 \
    -H dlq_reason_code=processing_failed -H "dlq_reason=OpenEMR down" \
    -H dlq_source_topic=scheduling.commands.book -H dlq_source_partition=0 \
    -H dlq_source_offset=17 -H dlq_time=2025-01-01T00:00:00Z -H request_id=r-42 "$tmp/v1"

printf 'voice-agent = %s\n' 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff >"$tmp/keys"
chmod 600 "$tmp/keys"

out=$(tools/dlq-replay -b "$B" --from 0 --to 5 --dry-run 2>&1)
echo "$out"
echo "$out" | grep -q "would send scheduling.dlq/0@1 -> scheduling.commands.book" || fail "dry run output"
echo "$out" | grep -q "skip   scheduling.dlq/0@0" || fail "offset 0 not skipped"
n=$(timeout 20 kcat -C -q -b "$B" -t scheduling.commands.book -e -f '%o\n' | wc -l)
[ "$n" = 0 ] || fail "dry run produced $n messages"

out=$(tools/dlq-replay -b "$B" --from 0 --to 1 --sign "$tmp/keys" voice-agent 2>&1)
echo "$out"
echo "$out" | grep -q "1 sent, 1 skipped" || fail "summary"
timeout 20 kcat -C -q -b "$B" -t scheduling.commands.book -e -c 1 -f '%s' >"$tmp/got"
cmp "$tmp/v1" "$tmp/got" || fail "replayed bytes differ"
meta=$(timeout 20 kcat -C -q -b "$B" -t scheduling.commands.book -e -c 1 -f '%k|%h')
echo "$meta"
want_sig=$("$BUILD/sign" "$tmp/keys" voice-agent <"$tmp/v1")
case $meta in prac-7\|*) ;; *) fail "key lost: $meta" ;; esac
echo "$meta" | grep -Eq "request_id=r-42(,|$)" || fail "request_id header lost"
echo "$meta" | grep -q "x-producer=voice-agent" || fail "x-producer missing"
echo "$meta" | grep -q "x-signature=$want_sig" || fail "x-signature wrong"
[ "$(printf 'Hi There' | openssl dgst -sha256 -mac HMAC -macopt hexkey:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff | sed 's/.*= //')" = \
  "$(printf 'Hi There' | "$BUILD/sign" "$tmp/keys" voice-agent)" ] || fail "sign disagrees with openssl"
tools/dlq-replay -b "$B" --from 3 --to 1 2>/dev/null && fail "bad range accepted"
echo "ok"
