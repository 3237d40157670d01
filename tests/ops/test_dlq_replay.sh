#!/bin/bash
# tools/dlq-replay against the embedded Kafka broker: a dry run sends
# nothing; a real run puts the DLQ message's exact bytes, key, request_id and
# a fresh operator signature over them (and over dlq_replayed_from) on the
# topic named in dlq_source_topic, and skips a message without that header.
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

K=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
printf 'ops-1 = operator %s\n' "$K" >"$tmp/keys"
chmod 600 "$tmp/keys"

out=$(tools/dlq-replay -b "$B" --from 0 --to 5 --dry-run 2>&1)
echo "$out"
echo "$out" | grep -q "would send scheduling.dlq/0@1 -> scheduling.commands.book" || fail "dry run output"
echo "$out" | grep -q "skip   scheduling.dlq/0@0" || fail "offset 0 not skipped"
n=$(timeout 20 kcat -C -q -b "$B" -t scheduling.commands.book -e -f '%o\n' | wc -l)
[ "$n" = 0 ] || fail "dry run produced $n messages"

out=$(tools/dlq-replay -b "$B" --from 0 --to 1 --sign "$tmp/keys" ops-1 2>&1)
echo "$out"
echo "$out" | grep -q "1 sent, 1 skipped" || fail "summary"
timeout 20 kcat -C -q -b "$B" -t scheduling.commands.book -e -c 1 -f '%s' >"$tmp/got"
cmp "$tmp/v1" "$tmp/got" || fail "replayed bytes differ"
meta=$(timeout 20 kcat -C -q -b "$B" -t scheduling.commands.book -e -c 1 -f '%k|%h')
echo "$meta"
case $meta in prac-7\|*) ;; *) fail "key lost: $meta" ;; esac
echo "$meta" | grep -Eq "request_id=r-42(,|$)" || fail "request_id header lost"
echo "$meta" | grep -Eq "dlq_replayed_from=scheduling.dlq/0/1(,|$)" || fail "dlq_replayed_from missing"
echo "$meta" | grep -Eq "x-key-id=ops-1(,|$)" || fail "x-key-id missing"
at=$(echo "$meta" | tr ',' '\n' | sed -n 's/^x-signed-at=//p')
[[ $at =~ ^[0-9]+$ ]] || fail "x-signed-at missing"
# the signature is build/sign's for the replayed headers, and HMAC-SHA256
# (openssl's) of the documented signing input
want=$("$BUILD/sign" --keys "$tmp/keys" --key-id ops-1 --topic scheduling.commands.book \
    --request-id r-42 --replay-of scheduling.dlq/0/1 --at "$at" <"$tmp/v1" | sed -n 's/^x-signature=//p')
echo "$meta" | grep -q "x-signature=$want" || fail "x-signature wrong"
{ printf 'schedworker-v1\nops-1\n%s\nscheduling.commands.book\nr-42\n\n\nscheduling.dlq/0/1\n' "$at"
  cat "$tmp/v1"; } >"$tmp/input"
mac=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$K" <"$tmp/input" | sed 's/.*= //')
[ "v1=$mac" = "$want" ] || fail "the signature is not openssl's HMAC of the documented input"
tools/dlq-replay -b "$B" --from 3 --to 1 2>/dev/null && fail "bad range accepted"
echo "ok"
