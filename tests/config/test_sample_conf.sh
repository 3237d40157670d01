#!/bin/bash
# Keeps config/schedworker.conf in step with the settings table in
# src/config.c (pgbouncer's optscan.sh idea) and with the worker:
#   1. every key of the table appears in the sample, with the table's
#      default, and the sample names no key the table does not know;
#   2. `schedworker --check-config` accepts the sample as shipped, and a
#      copy with every setting uncommented (so the documented values parse);
#   3. the same check refuses a copy with an unknown key, as file:line.
# Needs build/schedworker (`make test` builds it first): missing is a failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
bin=$BUILD/schedworker
sample=config/schedworker.conf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -f "$sample" ] || { echo "FAIL: $sample is missing"; exit 1; }

# 1. The table rows: STR("key", field, "default", ...), INT("key", ...),
#    BOOL("key", ...) and {"key", K_..., OFF(f), "default", ...}.
/usr/bin/python3 - "$sample" <<'EOF' || exit 1
import re, sys
sample = sys.argv[1]
src = open("src/config.c", encoding="utf-8").read()
table = src[src.index("static const struct setting settings[]"):]
table = table[:table.index("\n};")]
rows = {}
# a default may be split into adjacent string literals over several lines
for m in re.finditer(r'(?:(?:STR|INT|BOOL)\(|\{)"([^"]+)",\s*(?:K_\w+,\s*OFF\(\w+\)|\w+),\s*((?:"[^"]*"\s*)+)',
                     table):
    rows[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
if len(rows) < 60:
    sys.exit("FAIL: parsed only %d settings from src/config.c; the pattern is stale" % len(rows))

in_sample = {}
for n, line in enumerate(open(sample, encoding="utf-8"), 1):
    m = re.match(r'^#?([a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$', line)
    if m:
        value = m.group(2)
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        in_sample.setdefault(m.group(1), (n, value))

bad = 0
for key, default in rows.items():
    if key not in in_sample:
        print("FAIL: %s is in the settings table but not in %s" % (key, sample))
        bad += 1
    elif in_sample[key][1] != default:
        print("FAIL: %s:%d: %s = %r, the table's default is %r"
              % (sample, in_sample[key][0], key, in_sample[key][1], default))
        bad += 1
for key, (n, _) in in_sample.items():
    if key in rows or re.match(r"^(kafka\..+|type\.[^.]+\.[a-z_]+|practitioner\..+\.(hours|user_id)|break\.[^.]+\.[a-z]+)$", key):
        continue
    print("FAIL: %s:%d: %s is not a setting" % (sample, n, key))
    bad += 1
print("%d settings in the table, %d keys in the sample, %d problems" % (len(rows), len(in_sample), bad))
sys.exit(1 if bad else 0)
EOF

# 2. The worker accepts the sample, and every documented value.
if [ ! -x "$bin" ]; then
    echo "FAIL: $bin is missing (run make first)"
    exit 1
fi
"$bin" --check-config "$sample" || { echo "FAIL: --check-config refused $sample"; exit 1; }
sed -E 's/^#([a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+ *=)/\1/' "$sample" >"$tmp/all.conf"
n=$(grep -cE '^[a-z][a-z0-9_]*\.' "$tmp/all.conf")
[ "$n" -ge 60 ] || { echo "FAIL: only $n settings uncommented"; exit 1; }
"$bin" --check-config "$tmp/all.conf" ||
    { echo "FAIL: --check-config refused the sample with all $n settings uncommented"; exit 1; }

# 3. ... and refuses an unknown key, naming the file and line.
{ cat "$sample"; echo "worker.no_such_setting = 1"; } >"$tmp/bad.conf"
line=$(wc -l <"$tmp/bad.conf")
if out=$("$bin" --check-config "$tmp/bad.conf" 2>&1); then
    echo "FAIL: --check-config accepted an unknown key"
    exit 1
fi
echo "$out" | grep -qF "$tmp/bad.conf:$line: unknown setting" ||
    { echo "FAIL: expected $tmp/bad.conf:$line: unknown setting ..., got: $out"; exit 1; }
echo "ok: sample config, settings table and worker agree"
