#!/bin/bash
# Deployment files: docker-compose.yml passes `docker-compose config` (no
# engine needed), every SCHED_* variable it sets maps to a real setting of
# src/config.c (or a real librdkafka property for SCHED_KAFKA_*), no secret
# travels as a value, the Dockerfile's runtime stage is small and non-root,
# and the systemd unit is valid and hardened.  What more can run without a
# Docker engine is tests/deploy/test_compose_local.py.
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 1
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/test-compose.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failures=0
ok() { echo "ok   $*"; }
bad() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

command -v docker-compose >/dev/null || {
    echo "FAIL docker-compose not installed (make deps)"
    exit 1
}

# ---- docker-compose config ----------------------------------------------------
if docker-compose -f docker-compose.yml config -q 2>"$TMP/err"; then
    ok "docker-compose config -q"
else
    bad "docker-compose config -q: $(cat "$TMP/err")"
fi
docker-compose -f docker-compose.yml config >"$TMP/resolved.yml" 2>"$TMP/err" ||
    bad "docker-compose config: $(cat "$TMP/err")"

# ---- the settings table ---------------------------------------------------------
# Rows: STR("key", ...) INT("key", ...) BOOL("key", ...) {"key", K_...}
grep -oE '^\s*(STR|INT|BOOL)\("[a-z0-9_.-]+"|^\s*\{"[a-z0-9_.-]+", K_' src/config.c |
    grep -oE '"[^"]+"' | tr -d '"' | sort -u >"$TMP/keys"
nkeys=$(wc -l <"$TMP/keys")
paste -d' ' <(sed 's/^/SCHED_/' "$TMP/keys" | tr 'a-z.-' 'A-Z__') "$TMP/keys" >"$TMP/env-names"
if [ "$nkeys" -ge 20 ]; then ok "read $nkeys settings from src/config.c"; else bad "only $nkeys settings read from src/config.c"; fi
kcat -X list 2>/dev/null | awk -F'|' 'NF > 3 {gsub(/ /, "", $1); print $1}' |
    grep -E '^[a-z][a-z0-9._]*$' | sort -u >"$TMP/kafka-props"
nprops=$(wc -l <"$TMP/kafka-props")
if [ "$nprops" -ge 100 ]; then ok "read $nprops librdkafka properties (kcat -X list)"; else bad "only $nprops librdkafka properties"; fi

# env_key NAME: prints the config key NAME sets, fails if none.
env_key() {
    local name=$1 k
    case $name in
    KAFKA_BROKERS) echo kafka.bootstrap.servers && return 0 ;;
    REDIS_URL) echo redis.url && return 0 ;;
    OPENEMR_BASE_URL) echo openemr.base_url && return 0 ;;
    esac
    [[ $name == SCHED_* ]] || return 1
    # a table row: SCHED_ + key upper-cased, dots (and dashes) as underscores
    k=$(awk -v n="$name" '$1 == n {print $2; exit}' "$TMP/env-names")
    [ -n "$k" ] && echo "$k" && return 0
    # SCHED_KAFKA_<PROPERTY>: underscores become dots
    if [[ $name == SCHED_KAFKA_* ]]; then
        k=$(echo "${name#SCHED_KAFKA_}" | tr 'A-Z_' 'a-z.')
        grep -qxF "$k" "$TMP/kafka-props" && echo "kafka.$k" && return 0
    fi
    return 1
}

# The mapping itself must be able to say no.
for probe in SCHED_NOT_A_SETTING SCHED_KAFKA_NO_SUCH_PROPERTY SCHED_OPENEMR_BASEURL; do
    if env_key "$probe" >/dev/null; then bad "env_key accepts bogus $probe"; else ok "env_key rejects $probe"; fi
done
for probe in SCHED_OPENEMR_BASE_URL:openemr.base_url SCHED_KAFKA_SESSION_TIMEOUT_MS:kafka.session.timeout.ms; do
    [ "$(env_key "${probe%%:*}")" = "${probe#*:}" ] && ok "env_key ${probe%%:*} -> ${probe#*:}" ||
        bad "env_key ${probe%%:*} should map to ${probe#*:}"
done

# Every variable of every service that runs the worker image.
$PY - "$TMP/resolved.yml" >"$TMP/vars" <<'EOF' || bad "cannot read the resolved compose file"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for name, svc in sorted(doc["services"].items()):
    if svc.get("image") != "schedworker:local" and "build" not in svc:
        continue
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    for k, v in sorted(env.items()):
        print(name, k, "" if v is None else str(v).replace("\n", " "))
EOF
workers=$(awk '{print $1}' "$TMP/vars" | sort -u | tr '\n' ' ')
[ "$(echo "$workers" | wc -w)" -ge 2 ] && ok "worker services: $workers" || bad "need two worker replicas, found: $workers"
nvars=0
while read -r svc name value; do
    nvars=$((nvars + 1))
    if key=$(env_key "$name"); then
        :
    else
        bad "$svc: $name is no setting of src/config.c and no librdkafka property"
        continue
    fi
    # Secrets come from files: a secret-looking setting must be a *_file path.
    case $key in
    *password* | *secret* | *token_key* | *private_key*)
        case $key in
        *_file | *.location) [[ $value == /run/secrets/* || $value == /run/schedworker/* ]] ||
            bad "$svc: $name should point into /run/secrets or /run/schedworker, is '$value'" ;;
        *) bad "$svc: $name carries a secret value in the environment" ;;
        esac
        ;;
    esac
done <"$TMP/vars"
[ "$nvars" -ge 10 ] && ok "checked $nvars worker variables against the settings table" ||
    bad "only $nvars worker variables found"
grep -q 'SCHED_WORKER_ID' "$TMP/vars" && ok "each replica names itself (SCHED_WORKER_ID)" ||
    bad "no SCHED_WORKER_ID"
ids=$(awk '$2 == "SCHED_WORKER_ID" {print $3}' "$TMP/vars" | sort)
[ "$(echo "$ids" | sort -u | wc -l)" = "$(echo "$ids" | wc -l)" ] && ok "replica ids are distinct" ||
    bad "replica ids repeat: $ids"

# Topics and the services the issue asks for.
$PY - "$TMP/resolved.yml" <<'EOF' && ok "compose: kafka (KRaft), redis, mariadb, openemr (API on), topic creation" || bad "compose services"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
s = doc["services"]
img = {n: v.get("image", "") for n, v in s.items()}
assert img["kafka"].startswith("apache/kafka"), img
assert "controller" in s["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
assert img["openemr"].startswith("openemr/openemr"), img
e = s["openemr"]["environment"]
assert str(e["OPENEMR_SETTING_rest_api"]) == "1" and str(e["OPENEMR_SETTING_rest_fhir_api"]) == "1", e
assert any(v.startswith("mariadb") for v in img.values())
assert any(v.startswith("redis") for v in img.values())
EOF

# Topics: compose's kafka-init step creates exactly config/kafka-topics.conf's
# topics, partitions and configs (the file tools/stack up --kafka apache
# reads too).  Its script runs here with kafka-topics.sh stubbed out to
# record its arguments, against the file it mounts.
$PY - "$TMP/resolved.yml" "$TMP" <<'EOF' && ok "compose: kafka-init creates config/kafka-topics.conf's topics, as mounted" ||
import os, subprocess, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
tmp = sys.argv[2]
init = doc["services"]["kafka-init"]
mounts = [v if isinstance(v, str) else "%s:%s" % (v["source"], v["target"]) for v in init.get("volumes", [])]
src = [m.split(":")[0] for m in mounts if ":/etc/schedworker/kafka-topics.conf" in m]
assert src and os.path.samefile(src[0], "config/kafka-topics.conf"), mounts
script = init["command"][0].replace("$$", "$")
assert "scheduling." not in script, "topic names are written in the compose file itself"
stub = os.path.join(tmp, "kafka-topics.sh")
with open(stub, "w") as f:
    f.write('#!/bin/sh\n[ "$3" = --list ] || echo "$*" >>"%s/created"\n' % tmp)
os.chmod(stub, 0o755)
script = script.replace("/opt/kafka/bin/kafka-topics.sh", stub).replace(
    "/etc/schedworker/kafka-topics.conf", "config/kafka-topics.conf")
subprocess.run(init["entrypoint"] + [script], check=True)
created = {}
for line in open(os.path.join(tmp, "created")):
    a = line.split()
    t = a[a.index("--topic") + 1]
    created[t] = (int(a[a.index("--partitions") + 1]),
                  sorted(a[i + 1] for i, w in enumerate(a) if w == "--config"))
want = {}
for line in open("config/kafka-topics.conf"):
    w = line.split("#", 1)[0].split()
    if w:
        want[w[0]] = (int(w[1]), sorted(w[2:]))
assert len(want) == 8 and want["scheduling.commands.book"][0] == 6, want
assert created == want, (created, want)
EOF
    bad "compose's kafka-init does not create config/kafka-topics.conf's topics"
v_stack=$(tools/kafka-apache/fetch --version)
grep -q "image: apache/kafka:$v_stack\$" docker-compose.yml &&
    ! grep "image: apache/kafka:" docker-compose.yml | grep -vq "apache/kafka:$v_stack\$" &&
    ok "compose runs the Apache Kafka version tools/stack runs ($v_stack)" ||
    bad "compose's apache/kafka image is not tools/kafka-apache/pom.xml's version $v_stack"

# ---- Dockerfile -----------------------------------------------------------------
runtime=$(awk '/^FROM /{n++} n==2' Dockerfile)
echo "$runtime" | grep -q '^FROM debian:12-slim' && ok "runtime stage is debian:12-slim" || bad "runtime stage is not debian:12-slim"
grep -q '^FROM debian:12 AS build' Dockerfile && ok "build stage is debian:12" || bad "no debian:12 build stage"
echo "$runtime" | grep -q -- '-dev' && bad "runtime stage installs -dev packages" || ok "runtime stage has no -dev package"
for lib in librdkafka1 libcurl4 libjansson4 libhiredis0.14 libssl3 libmicrohttpd12; do
    echo "$runtime" | grep -qw "$lib" || bad "runtime stage lacks $lib"
done
echo "$runtime" | grep -qE '^USER [^0r]' && ok "runs as a non-root user" || bad "no non-root USER in the runtime stage"
echo "$runtime" | grep -q '^EXPOSE 9464' && ok "EXPOSE 9464 (metrics)" || bad "metrics port not exposed"
grep -qiE '^(COPY|ADD).*secret' Dockerfile && bad "Dockerfile copies a secret" || ok "no secret copied into the image"
grep -qx 'secrets' .dockerignore && ok ".dockerignore keeps secrets/ out of the build context" || bad ".dockerignore lacks secrets"
grep -q 'build/schedworker' Dockerfile && ok "image builds build/schedworker" || bad "Dockerfile does not build build/schedworker"

# ---- systemd unit ---------------------------------------------------------------
unit=config/schedworker.service
for d in 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'LoadCredential=' 'PrivateTmp=yes' \
    'CapabilityBoundingSet=$' 'SystemCallFilter=@system-service'; do
    grep -qE "^$d" "$unit" || bad "$unit lacks $d"
done
grep -qE '^(DynamicUser=yes|User=schedworker)' "$unit" && ok "unit runs unprivileged" || bad "unit lacks DynamicUser/User"
grep -E '^Environment=SCHED_' "$unit" | sed 's/^Environment=//; s/=.*//' | while read -r name; do
    env_key "$name" >/dev/null || echo "$name"
done >"$TMP/unit-bad"
[ -s "$TMP/unit-bad" ] && bad "unit sets unknown variables: $(cat "$TMP/unit-bad")" || ok "unit variables map to settings"
if command -v systemd-analyze >/dev/null; then
    # verify the syntax with a binary that exists
    sed 's|/usr/local/bin/schedworker|/bin/true|' "$unit" >"$TMP/schedworker.service"
    if out=$(systemd-analyze verify "$TMP/schedworker.service" 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify"
    else
        bad "systemd-analyze verify: $out"
    fi
fi

[ "$failures" -eq 0 ] && echo PASS || echo "$failures failure(s)"
[ "$failures" -eq 0 ]
