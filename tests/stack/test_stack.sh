#!/bin/bash
# tools/stack with --replicas 0: the services come up on free ports, answer,
# two stacks run side by side, and `down` leaves no process behind.
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
export BUILD=${BUILD:-build}
STACK=$ROOT/tools/stack
TMP=$(mktemp -d /tmp/test-stack.XXXXXX)
A=$TMP/a B=$TMP/b
failures=0
export STACK_READY_TIMEOUT=20 STACK_STOP_TIMEOUT=5

cleanup() {
    STACK_DIR=$A timeout 20 "$STACK" down >/dev/null 2>&1
    STACK_DIR=$B timeout 20 "$STACK" down >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { echo "ok   $*"; }
bad() {
    echo "FAIL $*"
    failures=$((failures + 1))
}
check() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

SIM_OPT=(--no-sim)
[ -x "$BUILD/openemr-sim" ] && SIM_OPT=()

up() { # DIR -> the env file's lines on stdout
    STACK_DIR=$1 timeout 40 "$STACK" up --replicas 0 "${SIM_OPT[@]}"
}

# A process counts as gone when it no longer exists or is a zombie.
gone() {
    [ -e "/proc/$1" ] || return 0
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

recorded_pids() { # DIR
    cat "$1"/pids/*.pid 2>/dev/null | awk '{print $1}'
}

# ---- stack A --------------------------------------------------------------
t0=$SECONDS
envA=$(up "$A") || {
    bad "stack A up"
    exit 1
}
ok "stack A up in $((SECONDS - t0))s"
eval "$envA"
echo "$envA"
check "env names the stack dir" [ "$STACK_DIR" = "$(cd "$A" && pwd)" ]
check "tools/stack env repeats the exports" [ "$(STACK_DIR=$A "$STACK" env)" = "$envA" ]
check "status lists running services" bash -c "STACK_DIR=$A '$STACK' status | grep -q 'redis .*running'"

rport=${REDIS_URL##*:}
rport=${rport%%/*}
check "redis answers PING" [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$rport" ping)" = PONG ]
case $KAFKA_BROKERS in 127.0.0.1:*) ok "kafka binds 127.0.0.1" ;; *) bad "kafka address $KAFKA_BROKERS" ;; esac

meta=$(timeout 10 kcat -b "$KAFKA_BROKERS" -L -m 5 2>&1)
for t in scheduling.commands.search scheduling.commands.book scheduling.commands.cancel \
    scheduling.results scheduling.events scheduling.dlq scheduling.audit scheduling.ledger; do
    echo "$meta" | grep -q "topic \"$t\"" || bad "topic $t missing from metadata"
done
check "kcat -L lists the 7 contract topics and the internal ledger" \
    [ "$(echo "$meta" | grep -c 'topic "scheduling\.')" -eq 8 ]
check "command topics have 4 partitions" \
    grep -q 'topic "scheduling.commands.search" with 4 partitions' <<<"$meta"

msg="round-trip-$$-$RANDOM"
echo "$msg" | timeout 10 kcat -b "$KAFKA_BROKERS" -P -t scheduling.commands.search -k key1 ||
    bad "kcat produce"
got=$(timeout 15 kcat -b "$KAFKA_BROKERS" -C -t scheduling.commands.search -o beginning -e -q \
    -f '%k=%s\n' 2>/dev/null)
check "produce/consume round trip on scheduling.commands.search" [ "$got" = "key1=$msg" ]

if [ ${#SIM_OPT[@]} -eq 0 ]; then
    check "simulator admin /stats answers" \
        timeout 5 curl -sf -o /dev/null "$SIM_ADMIN_URL/stats"
else
    echo "skip simulator checks ($BUILD/openemr-sim not built)"
fi

# restart redis on the same port
STACK_DIR=$A "$STACK" stop-redis
check "stop-redis stops it" bash -c "! redis-cli -h 127.0.0.1 -p $rport ping >/dev/null 2>&1"
STACK_DIR=$A "$STACK" start-redis
check "start-redis brings it back on port $rport" \
    [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$rport" ping)" = PONG ]

# broker down / up
STACK_DIR=$A "$STACK" broker-down
sleep 0.3
check "broker-down refuses connections" \
    bash -c "! timeout 5 kcat -b $KAFKA_BROKERS -L -m 1 >/dev/null 2>&1"
STACK_DIR=$A "$STACK" broker-up
check "broker-up serves metadata again" \
    bash -c "timeout 10 kcat -b $KAFKA_BROKERS -L -m 5 | grep -q scheduling.results"

# ---- stack B beside A -------------------------------------------------------
envB=$(up "$B") || bad "stack B up beside A"
KB=$(echo "$envB" | sed -n 's/^export KAFKA_BROKERS=//p')
RB=$(echo "$envB" | sed -n 's/^export REDIS_URL=//p')
check "stack B uses other ports" test -n "$KB" -a "$KB" != "$KAFKA_BROKERS" -a "$RB" != "$REDIS_URL"
check "stack B kafka serves metadata" bash -c "timeout 10 kcat -b $KB -L -m 5 | grep -q scheduling.audit"
check "a second up in the same dir is refused" bash -c "! STACK_DIR=$B '$STACK' up --replicas 0 --no-sim >/dev/null 2>&1"

# ---- down ------------------------------------------------------------------
pidsA=$(recorded_pids "$A")
pidsB=$(recorded_pids "$B")
check "stack A recorded its pids" [ "$(echo "$pidsA" | grep -c .)" -ge 2 ]
STACK_DIR=$A timeout 30 "$STACK" down
check "stack B still answers after A is down" \
    bash -c "timeout 10 kcat -b $KB -L -m 5 | grep -q scheduling.audit"
STACK_DIR=$B timeout 30 "$STACK" down
for p in $pidsA $pidsB; do
    gone "$p" || bad "pid $p still runs after down: $(tr '\0' ' ' <"/proc/$p/cmdline")"
done
check "no pid files left" test ! -d "$A/pids" -a ! -d "$B/pids"
check "env is gone after down" bash -c "! STACK_DIR=$A '$STACK' env >/dev/null 2>&1"

echo "took $((SECONDS - t0))s"
[ "$failures" -eq 0 ] && echo PASS || echo "$failures failure(s)"
[ "$failures" -eq 0 ]
