#!/usr/bin/env python3
"""The layer rule of docs/architecture.md: a file includes the headers of
its own module and of modules on lower layers only, and every file of
src/ and include/ belongs to a module of the table.

Reads the table from the document itself, so the picture and the code
cannot drift apart."""

import glob
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "docs", "architecture.md")

# Families of files that make one module (the document says which).
FAMILY = {
    "result": "command",
    "surface": "openemr",
    "oauth_internal": "oauth",
    "oauth_endpoint": "oauth",
    "kafka_internal": "kafka",
    "kafka_conf": "kafka",
    "kafka_producer": "kafka",
    "kafka_consumer": "kafka",
}
PREFIXES = ("config", "fleet", "handlers", "metrics", "surface")


def module_of(stem):
    if stem in FAMILY:
        return FAMILY[stem]
    for p in PREFIXES:
        if stem == p or stem.startswith(p + "_"):
            return "openemr" if p == "surface" else p
    return stem


def read_layers():
    layers = {}
    for line in open(DOC):
        m = re.match(r"\|\s*(\d+)\s*\|\s*([a-z_ ]+?)\s*\|", line)
        if m:
            for mod in m.group(2).split():
                if mod in layers:
                    sys.exit(f"{DOC}: module {mod} is on two layers")
                layers[mod] = int(m.group(1))
    if not layers:
        sys.exit(f"{DOC}: no layer table found")
    return layers


def main():
    layers = read_layers()
    files = sorted(glob.glob(os.path.join(ROOT, "src", "*.[ch]")) +
                   glob.glob(os.path.join(ROOT, "include", "*.h")))
    problems, edges = [], 0
    for path in files:
        rel = os.path.relpath(path, ROOT)
        mod = module_of(os.path.basename(path).rsplit(".", 1)[0])
        if mod not in layers:
            problems.append(f"{rel}: module '{mod}' is not in the table of docs/architecture.md")
            continue
        for n, line in enumerate(open(path), 1):
            inc = re.match(r'\s*#\s*include\s+"([^"]+)\.h"', line)
            if not inc:
                continue
            target = module_of(os.path.basename(inc.group(1)))
            if target == mod:
                continue
            edges += 1
            if target not in layers:
                problems.append(f"{rel}:{n}: includes '{target}', which is not in the table")
            elif layers[target] >= layers[mod]:
                way = "sideways" if layers[target] == layers[mod] else "up"
                problems.append(f"{rel}:{n}: {mod} (layer {layers[mod]}) includes {target} "
                                f"(layer {layers[target]}): {way}")
    for p in problems:
        print(p)
    print(f"{len(files)} files, {len(layers)} modules, {edges} includes between modules, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
