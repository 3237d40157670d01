"""An independent checker of docs/invariants.md, for tests that look for
counterexamples (tests/property, tests/reliability): it knows nothing of
the worker's code, only what a client sent (a Ledger), what came back on
the results topic, and what the simulator's calendar holds (its admin
API).  Ids are made canonical here from the simulator's own people
(GET /patients, /practitioners), not by asking the worker.

    ledger = Ledger(st)
    ledger.send(command, key)          # signed, recorded, counted
    ledger.drain(timeout)              # every command has a final answer
    v = check(st, ledger)              # Violations: v.problems, v.figures

What is asserted (each a list of problems; an empty list is a pass):
  overlap_practitioner  two live appointments of one practitioner overlap
                        (appointments widened by the buffer; provider
                        events such as lunch not widened), one of them the
                        worker's
  overlap_patient       one patient holds two overlapping live appointments,
                        one of them the worker's
  confirmation_twice    one confirmation number names two live appointments
  no_final_answer       a command never got an answer other than
                        `unavailable` (which the contract says to retry)
  answers_differ        two final answers of one request_id differ (the
                        answer without processed_at and alternatives)
  ok_missing            an `ok` booking or reschedule is not in the calendar
                        as asked (patient, practitioner, start, length),
                        unless a later `ok` cancel or reschedule removed it
  removed_present       an appointment an `ok` cancel or reschedule removed
                        is still live
  invented              a live appointment carrying a worker confirmation
                        number that no `ok` answer produced
  removed_twice         one appointment cancelled or moved by two `ok`
                        answers of different commands (two reschedules of
                        one appointment both `ok` leave two appointments
                        where there was one; a cancel and a reschedule both
                        `ok` tell the caller two stories)
  internal              an answer with status `internal`
"""

import datetime
import json
import re
import threading
import time
import uuid

from harness import TOPIC_OF, TOPICS

CONF_RE = re.compile(r"^[0-9HKRWXY]{3}-[0-9HKRWXY]{4}$")
FREES = ("x", "%", "!", "?")  # cancelled, late-cancelled, deleted, no-show
MARKERS = {"2", "3"}           # In Office / Out Of Office: zero-length markers
DURATION_MIN = {"routine": 60, "follow_up": 30, "urgent": 45, "consultation": 45}
BUFFER_S = 600                 # booking.buffer (10 minutes by default)
KINDS = ("overlap_practitioner", "overlap_patient", "confirmation_twice", "no_final_answer",
         "answers_differ", "ok_missing", "removed_present", "invented", "removed_twice", "internal")


def conf_of(row):
    home = (row.get("pc_hometext") or "").split()
    return home[0] if home and CONF_RE.match(home[0]) else None


def live(row):
    return row.get("pc_apptstatus") not in FREES


def epoch_of(rfc3339):
    return int(datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


class People:
    """Canonical ids from the simulator's own tables: every form a client
    may use (uuid in any case, Patient/uuid, Practitioner/ or Person/uuid,
    a pid or user id with leading zeros) -> the lower-case uuid, or None."""

    def __init__(self, sim):
        self.pid = {str(p["pid"]): p["uuid"].lower() for p in sim.patients()}
        self.uid = {str(p["id"]): p["uuid"].lower() for p in sim.practitioners() if p.get("id")}

    def canon(self, kind, raw):
        if not isinstance(raw, str):
            return None
        prefixes = ("Patient/",) if kind == "patient" else ("Practitioner/", "Person/")
        for p in prefixes:
            if raw.startswith(p):
                raw = raw[len(p):]
                break
        if raw.isdigit():
            return (self.pid if kind == "patient" else self.uid).get(raw.lstrip("0") or "0")
        return raw.lower() if len(raw) == 36 else None


def normal(answer):
    """The part of an answer that must not change between deliveries."""
    a = dict(answer)
    a.pop("processed_at", None)
    if isinstance(a.get("error"), dict):
        a["error"] = {k: v for k, v in a["error"].items() if k != "alternatives"}
    a.pop("alternatives", None)
    return json.dumps(a, sort_keys=True)


class Ledger:
    """What the client sent, and the answers seen (from the stack's results
    reader).  One ledger may span many runs on one stack."""

    def __init__(self, st):
        self.st = st
        self.sent = {}    # request_id -> command (dict), in order
        self.sends = {}   # request_id -> times sent
        self.resends = 0  # sends after an `unavailable` answer
        self.cleaned = set()  # appointment ids the test itself deleted (clear_days)
        self.last_sent = {}   # request_id -> when it was last sent
        self.signed_at = 0    # ms: each send signed at a distinct time
        self.lock = threading.Lock()

    def command(self, type_, payload, tag="p"):
        return {"type": type_, "request_id": "%s-%s-%s" % (tag, type_, uuid.uuid4().hex[:12]),
                "payload": payload}

    def send(self, command, key=None):
        """Signs and produces command.  Each send is signed at its own
        millisecond: the worker takes two messages with one signature for
        a replay, and a duplicate must be a new message of the same
        command, as a client's retry is."""
        rid = command["request_id"]
        raw = json.dumps(command).encode()
        topic = TOPICS[TOPIC_OF[command["type"]]]
        with self.lock:
            self.signed_at = max(self.signed_at + 1, int(time.time() * 1000))
            at = self.signed_at
            self.sent.setdefault(rid, command)
            self.sends[rid] = self.sends.get(rid, 0) + 1
            self.last_sent[rid] = time.time()
        self.st.send(None, key=key or ("k-" + uuid.uuid4().hex[:8]), topic=topic, raw=raw,
                     headers=self.st.sign(topic, raw, None, signed_at=at), sign=False)
        return rid

    def answers(self):
        """request_id -> [answer dict...] in arrival order."""
        by = {}
        for m in self.st.readers["results"].messages:
            rid = m["headers"].get("request_id")
            if rid in self.sent:
                by.setdefault(rid, []).append(json.loads(m["value"]))
        return by

    def final(self, rid, answers=None):
        """The first answer of rid that is not `unavailable`, or None."""
        for a in (answers if answers is not None else self.answers()).get(rid, []):
            if a.get("status") != "unavailable":
                return a
        return None

    def drain(self, rids=None, timeout=60, resend_after=3.0, max_resends=20):
        """Waits until every command (or those of rids) has a final answer;
        a command answered only `unavailable` is sent again with the same
        request_id, as the contract says a client should.  Returns the
        request_ids still without one."""
        rids = list(self.sent) if rids is None else list(rids)
        reader = self.st.readers["results"]
        end = time.time() + timeout
        resent = {}
        while True:
            by = self.answers()
            missing = [r for r in rids if self.final(r, by) is None]
            if not missing or time.time() > end:
                return missing
            now = time.time()
            for r in missing:  # every send answered, each `unavailable`
                if len(by.get(r, [])) >= self.sends[r] and \
                        now - self.last_sent[r] > resend_after and resent.get(r, 0) < max_resends:
                    resent[r] = resent.get(r, 0) + 1
                    self.resends += 1
                    self.send(self.sent[r])
            reader.poll(0.3)


def clear_days(st, ledger, days):
    """Deletes the worker's appointments on the given local dates
    (YYYY-MM-DD) through the admin API, so a run can reuse its days; the
    ledger remembers them as the test's own doing."""
    for r in st.appointments():
        if conf_of(r) and r.get("pc_eventDate") in days:
            st.admin("DELETE", "/appointments/%s" % r["pc_eid"])
            ledger.cleaned.add(str(r["pc_eid"]))


class Violations:
    def __init__(self):
        self.problems = {k: [] for k in KINDS}
        self.figures = {}

    def add(self, kind, what):
        self.problems[kind].append(what)

    def counts(self):
        return {k: len(v) for k, v in self.problems.items()}

    def ok(self):
        return not any(self.problems.values())

    def report(self, limit=5):
        lines = []
        for k, v in self.problems.items():
            for p in v[:limit]:
                lines.append("%s: %s" % (k, p))
            if len(v) > limit:
                lines.append("%s: ... and %d more" % (k, len(v) - limit))
        return "\n".join(lines)


def _overlaps(rows, key, widen, v, kind):
    """Pairs of rows with the same key value that overlap, one the worker's."""
    groups = {}
    for r in rows:
        if r.get(key):
            groups.setdefault(r[key], []).append(r)
    for who, lst in groups.items():
        lst.sort(key=lambda r: int(r["start_epoch"]))
        for i, x in enumerate(lst):
            for y in lst[i + 1:]:
                if int(y["start_epoch"]) >= int(x["end_epoch"]) + BUFFER_S:
                    break  # the rows after y start later still
                if int(y["start_epoch"]) < int(x["end_epoch"]) + widen(x, y) and \
                        (conf_of(x) or conf_of(y)):
                    v.add(kind, "%s: %s %s %s-%s and %s %s %s-%s" % (
                        who, x["pc_eid"], conf_of(x) or x.get("pc_title"), x["start_epoch"],
                        x["end_epoch"], y["pc_eid"], conf_of(y) or y.get("pc_title"),
                        y["start_epoch"], y["end_epoch"]))


def check(st, ledger, people=None, rows=None, answers=None):
    """Checks every invariant over the whole calendar and every command of
    the ledger; returns Violations (with figures)."""
    people = people or People(st)
    rows = rows if rows is not None else st.appointments()
    by = answers if answers is not None else ledger.answers()
    v = Violations()
    live_rows = [r for r in rows if live(r) and int(r.get("end_epoch") or 0) >
                 int(r.get("start_epoch") or 0) and str(r.get("pc_catid")) not in MARKERS]

    # 2. no double booking: practitioner (appointments widened by the
    # buffer, provider events not), patient, confirmation number.
    def widen(x, y):
        return BUFFER_S if x.get("puuid") and y.get("puuid") else 0
    _overlaps(live_rows, "pce_aid_uuid", widen, v, "overlap_practitioner")
    _overlaps([r for r in live_rows if r.get("puuid")], "puuid", lambda x, y: 0, v,
              "overlap_patient")
    by_conf = {}
    for r in live_rows:
        if conf_of(r):
            by_conf.setdefault(conf_of(r), []).append(r)
    for c, lst in by_conf.items():
        if len(lst) > 1:
            v.add("confirmation_twice", "%s names %s" % (c, [r["pc_eid"] for r in lst]))

    # 5. one final answer per command, the same for every delivery.
    finals = {}
    byte_differ = 0
    statuses = {}
    for rid, cmd in ledger.sent.items():
        got = by.get(rid, [])
        fin = [a for a in got if a.get("status") != "unavailable"]
        if not fin:
            v.add("no_final_answer", "%s (%s): %s" % (
                rid, cmd["type"], [a.get("status") for a in got] or "no answer at all"))
            continue
        if len({normal(a) for a in fin}) > 1:
            v.add("answers_differ", "%s: %s" % (rid, " | ".join(sorted({normal(a)[:300]
                                                                        for a in fin}))))
        if len({json.dumps(a, sort_keys=True) for a in fin}) > 1:
            byte_differ += 1
        finals[rid] = fin[0]
        k = "%s:%s" % (cmd["type"], fin[0].get("status"))
        statuses[k] = statuses.get(k, 0) + 1
        if fin[0].get("status") == "internal":
            v.add("internal", "%s: %s" % (rid, json.dumps(fin[0])[:300]))

    # ok bookings are in the calendar as asked; removed ones are gone;
    # nothing the worker made is without its ok answer.
    by_eid = {str(r["pc_eid"]): r for r in rows}
    produced, removed = {}, set()
    removers = {}  # appointment id -> the ok commands that cancelled or moved it
    for rid, a in finals.items():
        if a.get("status") != "ok":
            continue
        cmd, res = ledger.sent[rid], a.get("result") or {}
        p = cmd["payload"]
        if cmd["type"] == "book":
            produced[str(res.get("appointment_id"))] = (rid, people.canon("patient", p.get(
                "patient_id")), people.canon("practitioner", p.get("practitioner_id")),
                epoch_of(p["start"]), DURATION_MIN.get(p.get("appointment_type")))
        elif cmd["type"] == "reschedule":
            prac = people.canon("practitioner", p["practitioner_id"]) \
                if p.get("practitioner_id") else None
            produced[str(res.get("appointment_id"))] = (
                rid, people.canon("patient", p.get("patient_id")), prac,
                epoch_of(p["new_start"]), None)
            if str(res.get("previous_appointment_id")) != str(res.get("appointment_id")):
                removed.add(str(res.get("previous_appointment_id")))
                removers.setdefault(str(res.get("previous_appointment_id")), []).append(rid)
        elif cmd["type"] == "cancel":
            removed.add(str(res.get("appointment_id")))
            removers.setdefault(str(res.get("appointment_id")), []).append(rid)
    for eid, (rid, patient, prac, start, minutes) in produced.items():
        if eid in removed or eid in ledger.cleaned:
            continue
        r = by_eid.get(eid)
        want = (patient, start)
        if r is None or not live(r):
            v.add("ok_missing", "%s: appointment %s is %s" % (
                rid, eid, "not in the calendar" if r is None else "not live"))
        elif (r.get("puuid"), int(r["start_epoch"])) != want or \
                (prac and r.get("pce_aid_uuid") != prac) or \
                (minutes and int(r["end_epoch"]) - int(r["start_epoch"]) != minutes * 60):
            v.add("ok_missing", "%s asked %s/%s at %s for %s min, calendar has %s" % (
                rid, patient, prac, start, minutes, json.dumps(
                    {k: r.get(k) for k in ("pc_eid", "puuid", "pce_aid_uuid", "start_epoch",
                                           "end_epoch", "pc_hometext")})))
    for eid in removed:
        r = by_eid.get(eid)
        if r is not None and live(r):
            v.add("removed_present", "appointment %s was cancelled or moved, is live: %s" % (
                eid, r.get("pc_hometext")))
    for eid, rids in removers.items():
        if len(rids) > 1:
            v.add("removed_twice", "appointment %s: %s" % (eid, ", ".join(
                "%s %s" % (ledger.sent[r]["type"], r) for r in rids)))
    for r in live_rows:
        if conf_of(r) and str(r["pc_eid"]) not in produced:
            v.add("invented", "appointment %s (%s) without an ok answer" % (
                r["pc_eid"], conf_of(r)))

    n_final = len(finals)
    v.figures = {
        "commands": len(ledger.sent),
        "sends": sum(ledger.sends.values()),
        "duplicates": sum(ledger.sends.values()) - len(ledger.sent) - ledger.resends,
        "resends_after_unavailable": ledger.resends,
        "answered": n_final,
        "answers_byte_different": byte_differ,
        "worker_appointments_live": sum(1 for r in live_rows if conf_of(r)),
        "statuses": statuses,
    }
    v.figures.update({k: len(p) for k, p in v.problems.items()})
    return v
