#!/usr/bin/python3
"""Chaos: three replicas, a few hundred mixed commands (searches, holds,
books on distinct and on colliding slots, cancels of earlier bookings,
duplicates re-sent with the same request_id) while a random replica is
killed with SIGKILL every few seconds and started again.  At the end the
simulator's calendar is checked: no appointment made twice (per
confirmation number, per patient/practitioner/start), no practitioner
double-booked, every command answered, every answer of one request_id
byte-identical, every `ok` booking present (unless cancelled) and every
appointment the worker made claimed by an `ok` result.

Bounded: about 1.5 minutes; CHAOS_SEED=N replays one run's choices."""

import json
import os
import random
import re
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, epoch, local_day  # noqa: E402

REPLICAS = 3
CHAOS_SECONDS = 60        # killing goes on this long (tests/kafka runs it shorter)
KILL_EVERY = (3.0, 6.0)   # seconds between kills
DOWN_FOR = (0.5, 2.0)     # a killed replica stays down this long
DRAIN_TIMEOUT = 120       # after the chaos, every request_id must be answered within this
CONF_RE = re.compile(r"^[0-9HKRWXY]{3}-[0-9HKRWXY]{4}$")
HOURS = [8, 9, 10, 11, 13, 14, 15, 16]
CANCELLED = ("x", "%", "!")


def conf_of(appt):
    home = (appt.get("pc_hometext") or "").split()
    return home[0] if home and CONF_RE.match(home[0]) else None


class Chaos:
    def __init__(self, st, rng):
        self.st = st
        self.rng = rng
        self.stop = threading.Event()
        self.kills = 0
        self.errors = []
        self.lock = threading.Lock()

    def restart(self, i):
        time.sleep(self.rng.uniform(*DOWN_FOR))
        try:
            self.st.stack("start-worker", str(i))
        except Exception as e:  # noqa: BLE001 - reported at the end
            self.errors.append("worker-%d did not start again: %s" % (i, e))
        with self.lock:
            self.down.discard(i)

    def run(self):
        """Kills a random running replica every few seconds; each comes back
        after a moment (in the background, so the kills keep coming)."""
        self.down = set()
        threads = []
        end = time.time() + CHAOS_SECONDS
        while time.time() < end and not self.stop.is_set():
            if self.stop.wait(self.rng.uniform(*KILL_EVERY)):
                break
            with self.lock:
                up = [i for i in range(1, REPLICAS + 1) if i not in self.down]
                if len(up) < 2:
                    continue  # keep one consuming
                i = self.rng.choice(up)
                self.down.add(i)
            try:
                self.st.stack("kill-worker", str(i))
                self.kills += 1
                print("chaos: killed worker-%d at %s" % (i, time.strftime("%H:%M:%S")),
                      flush=True)
            except Exception as e:  # noqa: BLE001
                self.errors.append("kill worker-%d: %s" % (i, e))
            t = threading.Thread(target=self.restart, args=(i,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(90)


def main(kafka=None, extra_conf="", exactly_once=False):
    """exactly_once: the worker publishes transactional results (the
    harness reads read_committed): fail unless fewer answers are
    redelivered than there were kills."""
    seed = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    print("CHAOS_SEED=%d" % seed, flush=True)
    t_start = time.time()
    failures = []
    # CHAOS_EXTRA_CONF: worker config lines to try, e.g.
    # "kafka.partition.assignment.strategy = cooperative-sticky"
    extra = "limiter.rps = 30\n" + extra_conf + os.environ.get("CHAOS_EXTRA_CONF", "")
    with Stack(replicas=REPLICAS, extra_conf=extra, kafka=kafka) as st:
        try:
            failures = scenario(st, rng, exactly_once)
        finally:
            if failures:
                st.failed = True
    print("total %.0fs" % (time.time() - t_start))
    if failures:
        for f in failures:
            print("FAIL", f)
        print("0 passed, 1 failed")
        sys.exit(1)
    print("1 passed, 0 failed")


def scenario(st, rng, exactly_once=False):
    patients = [p["uuid"] for p in st.patients()]
    practs = {p["username"]: p["uuid"] for p in st.practitioners()}
    docs = [practs[u] for u in ("aadams", "bbaker", "cchen")]
    sent = {}        # request_id -> command
    sends = {}       # request_id -> times sent
    books = {}       # request_id -> (patient, pract, start)
    sessions = ["call-%d" % i for i in range(40)]

    def cmd(type_, payload, session=None):
        c = {"type": type_, "request_id": "chaos-%s-%s" % (type_, uuid.uuid4().hex[:12]),
             "payload": payload}
        if session:
            c["session_id"] = session
        return c

    first = []
    # Distinct slots: a (day, hour) gets distinct patients for its practitioners.
    combos = [(d, h, k) for d in range(5, 15) for h in HOURS for k in range(3)]
    for d, h, k in rng.sample(combos, 100):
        patient = patients[(k + d * 3 + h) % len(patients)]
        start = local_day(d, h, 0)
        c = cmd("book", {"patient_id": patient, "practitioner_id": docs[k], "start": start,
                         "appointment_type": "follow_up", "reason": "chaos"},
                rng.choice(sessions))
        books[c["request_id"]] = (patient, docs[k], start)
        first.append(c)
    # Colliding slots: two or three patients want the same one.
    for d, h, k in rng.sample([(d, h, k) for d in (15, 16) for h in HOURS for k in range(3)], 18):
        start = local_day(d, h, 0)
        for patient in rng.sample(patients, rng.choice((2, 3))):
            c = cmd("book", {"patient_id": patient, "practitioner_id": docs[k], "start": start,
                             "appointment_type": "follow_up"}, "collide-%s" % uuid.uuid4().hex[:6])
            books[c["request_id"]] = (patient, docs[k], start)
            first.append(c)
    # Searches (cache misses and hits), patient look-ups, holds.
    for _ in range(50):
        d = rng.randint(5, 19)
        first.append(cmd("search_slots", {
            "appointment_type": rng.choice(("follow_up", "routine")), "from": local_day(d, 0, 0),
            "to": local_day(d + rng.randint(1, 3), 0, 0), "practitioner_id": rng.choice(docs),
            "limit": 3}, rng.choice(sessions)))
    for _ in range(15):
        first.append(cmd("find_patient", {"phone": "617-555-0101", "birthdate": "1980-04-12"},
                         rng.choice(sessions)))
    for _ in range(20):
        first.append(cmd("hold", {"practitioner_id": rng.choice(docs),
                                  "start": local_day(rng.randint(17, 19), rng.choice(HOURS), 30),
                                  "appointment_type": "follow_up", "ttl_seconds": 60},
                         rng.choice(sessions)))
    rng.shuffle(first)

    def key_of(c):
        return c.get("session_id") or c["request_id"]

    def send(c, key=None):
        st.send(c, key=key or key_of(c))
        sent[c["request_id"]] = c
        sends[c["request_id"]] = sends.get(c["request_id"], 0) + 1

    failures_early = []
    chaos = Chaos(st, random.Random(rng.random()))
    killer = threading.Thread(target=chaos.run, daemon=True)
    killer.start()
    t0 = time.time()
    reader = st.readers["results"]
    duplicates = 0
    # Phase 1: the bulk, ~7 a second, with some duplicates re-sent at once
    # (other key: possibly another replica, at the same time).
    for i, c in enumerate(first):
        send(c)
        if rng.random() < 0.08:
            st.send(c, key="dup-" + uuid.uuid4().hex[:6])
            sends[c["request_id"]] += 1
            duplicates += 1
        if i % 7 == 6:
            reader.poll(1.0)
    # Phase 2: cancels of bookings that succeeded, and late duplicates.
    reader.poll(2.0)
    ok_books = []
    for m in reader.messages:
        r = json.loads(m["value"])
        if r.get("type") == "book" and r.get("status") == "ok" and \
                m["headers"].get("request_id") in books:
            ok_books.append((m["headers"]["request_id"], r["result"]["confirmation_number"]))
    ok_books = sorted(set(ok_books))
    cancels = {}  # cancel request_id -> confirmation number
    for rid, conf in rng.sample(ok_books, min(20, len(ok_books))):
        c = cmd("cancel", {"confirmation_number": conf, "patient_id": books[rid][0],
                           "reason": "chaos"}, rng.choice(sessions))
        cancels[c["request_id"]] = conf
        send(c)
    late = rng.sample(sorted(sent), 40)
    for rid in late:
        st.send(sent[rid], key=rng.choice((key_of(sent[rid]), "late-" + uuid.uuid4().hex[:6])))
        sends[rid] += 1
        duplicates += 1
        reader.poll(0.15)
    print("sent %d commands (+%d duplicates) in %.0fs; %d cancels" % (
        len(sent), duplicates, time.time() - t0, len(cancels)), flush=True)

    # Let the chaos finish, then everything must come back.
    killer.join(CHAOS_SECONDS + 60)
    chaos.stop.set()
    killer.join(30)
    for i in range(1, REPLICAS + 1):  # every replica up again
        p = st._run("start-worker", str(i), check=False)
        if p.returncode != 0 and "already runs" not in p.stderr:
            failures_early.append("worker-%d did not start again: %s" % (i, p.stderr[-300:]))
    print("chaos: %d kills in %.0fs" % (chaos.kills, time.time() - t0), flush=True)
    end = time.time() + DRAIN_TIMEOUT
    while True:
        got = {m["headers"].get("request_id") for m in reader.messages}
        missing = [rid for rid in sent if rid not in got]
        if not missing or time.time() > end:
            break
        reader.poll(1.0)
    reader.poll(3.0)  # redeliveries still on their way
    print("all answered %.0fs after the last send" % (time.time() - t0), flush=True)

    failures = list(chaos.errors) + failures_early
    if missing:
        failures.append("%d request_ids without a result after %ds, e.g. %s" % (
            len(missing), DRAIN_TIMEOUT, missing[:5]))

    # Every final answer of one request_id is the same bytes.  "unavailable"
    # is not final (the contract: retry with the same request_id; it is not
    # stored), so a later duplicate may get the real outcome.
    by_rid = {}
    for m in reader.messages:
        by_rid.setdefault(m["headers"].get("request_id"), []).append(m["value"])
    multi = retried = 0
    results = {}
    for rid, vals in by_rid.items():
        if rid not in sent:
            failures.append("a result for a request_id never sent: %s" % rid)
            continue
        if len(vals) > 1:
            multi += 1
        final = [v for v in vals if json.loads(v).get("status") != "unavailable"]
        if len(final) < len(vals):
            retried += 1
        if len(set(final)) > 1:
            failures.append("%s answered differently:\n  %s" % (
                rid, "\n  ".join(sorted({v.decode()[:400] for v in final}))))
        results[rid] = json.loads(final[0] if final else vals[-1])
    print("%d request_ids answered more than once, %d had an unavailable answer first" % (
        multi, retried), flush=True)
    # Answers beyond one per send: what the kills cost (a command consumed
    # again after its result went out, because its offset was not yet
    # committed when its replica died).
    extra = sum(max(0, len(vals) - sends.get(rid, 0)) for rid, vals in by_rid.items())
    for rid, vals in sorted(by_rid.items()):
        if len(vals) > sends.get(rid, 0):
            print("  %s: sent %d, answered %s" % (rid, sends.get(rid, 0), [
                json.loads(v).get("status") for v in vals]))
    print("redelivered answers: %d beyond one per send (%d sends), %d kills: %.1f per kill" % (
        extra, sum(sends.values()), chaos.kills, extra / chaos.kills if chaos.kills else 0.0),
        flush=True)
    if exactly_once and extra >= max(chaos.kills, 1):
        failures.append("transactional results: %d answers redelivered in %d kills" % (
            extra, chaos.kills))
    statuses = {}
    for rid, r in results.items():
        k = "%s:%s" % (r.get("type"), r.get("status"))
        statuses[k] = statuses.get(k, 0) + 1
    print("results: %d request_ids; final statuses %s" % (
        len(results), json.dumps(statuses, sort_keys=True)), flush=True)
    for rid, r in results.items():
        if r.get("status") in ("internal", "error", "invalid"):
            failures.append("%s: unexpected %s" % (rid, json.dumps(r)[:300]))

    # The calendar.
    appts = st.appointments()
    mine = [a for a in appts if conf_of(a)]
    by_conf, by_triple = {}, {}
    for a in mine:
        by_conf.setdefault(conf_of(a), []).append(a)
        by_triple.setdefault((a.get("puuid"), a.get("pce_aid_uuid"), a.get("start_epoch")),
                             []).append(a)
    for conf, lst in by_conf.items():
        if len(lst) > 1:
            failures.append("confirmation %s made %d times: %s" % (
                conf, len(lst), [a["pc_eid"] for a in lst]))
    for t, lst in by_triple.items():
        if len(lst) > 1:
            failures.append("patient %s with %s at %s booked %d times" % (t + (len(lst),)))
    live = [a for a in appts if a.get("puuid") and a.get("pc_apptstatus") not in CANCELLED]
    by_doc = {}
    for a in live:
        by_doc.setdefault(a.get("pce_aid_uuid"), []).append(a)
    for doc, lst in by_doc.items():
        lst.sort(key=lambda a: int(a["start_epoch"]))
        for x, y in zip(lst, lst[1:]):
            if int(y["start_epoch"]) < int(x["end_epoch"]) and (conf_of(x) or conf_of(y)):
                failures.append("practitioner %s overlaps: %s %s-%s and %s %s-%s" % (
                    doc, x["pc_eid"], x["start_epoch"], x["end_epoch"], y["pc_eid"],
                    y["start_epoch"], y["end_epoch"]))
    # ok bookings are in the calendar unless cancelled; no appointment without its ok.
    cancelled_ok = {conf for rid, conf in cancels.items()
                    if results.get(rid, {}).get("status") == "ok"}
    claimed = set()
    for rid, (patient, doc, start) in books.items():
        r = results.get(rid)
        if not r or r.get("status") != "ok":
            continue
        conf = r["result"]["confirmation_number"]
        claimed.add(conf)
        n = len(by_conf.get(conf, []))
        want = 0 if conf in cancelled_ok else 1
        if n != want:
            failures.append("booking %s (%s) is %d times in the calendar, expected %d" % (
                rid, conf, n, want))
        for a in by_conf.get(conf, []):
            if (a.get("puuid"), a.get("pce_aid_uuid"), int(a["start_epoch"])) != \
                    (patient, doc, epoch(start)):
                failures.append("booking %s stored as %s" % (rid, json.dumps(a)[:300]))
    for conf in by_conf:
        if conf not in claimed:
            failures.append("appointment %s in the calendar but no ok result carries it" % conf)
    for rid, conf in cancels.items():
        r = results.get(rid)
        if r and r.get("status") not in ("ok",):
            failures.append("cancel %s of a booked %s answered %s" % (rid, conf,
                                                                    json.dumps(r)[:300]))
    # Colliding slots: at most one winner each (a cancel frees the slot).
    wins = {}
    for rid, (patient, doc, start) in books.items():
        r = results.get(rid, {})
        if r.get("status") == "ok" and r["result"]["confirmation_number"] not in cancelled_ok:
            wins.setdefault((doc, start), []).append(rid)
    for slot, rids in wins.items():
        if len(rids) > 1:
            failures.append("slot %s won by %d bookings: %s" % (slot, len(rids), rids))
    print("calendar: %d worker appointments, %d ok bookings, %d cancelled" % (
        len(mine), len(claimed), len(cancelled_ok)), flush=True)
    if statuses.get("book:ok", 0) < 50:
        failures.append("only %d bookings succeeded: the run proves little" %
                        statuses.get("book:ok", 0))
    if chaos.kills < CHAOS_SECONDS // (2 * KILL_EVERY[1]):
        failures.append("only %d kills" % chaos.kills)
    return failures


if __name__ == "__main__":
    main()
