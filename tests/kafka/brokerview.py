"""What Apache Kafka itself says about the worker's consumer group and
producers, for the real-broker tests (tests/kafka/test_*.py): the group's
members and their assignments and the committed offsets as the broker
holds them (Kafka's own kafka-consumer-groups tool, run from the jars that
make deps fetched), end offsets, and the producer ids and sequence numbers
in the results topic's log segments (Kafka's DumpLogSegments).  Never the
worker's own account.

    skip_without_java()       exits 0 with a clear message where no JRE is
                              installed (make deps installs one)
"""

import glob
import json
import os
import re
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMMAND_TOPICS = ("scheduling.commands.search", "scheduling.commands.book",
                  "scheduling.commands.cancel")
GROUP = "schedworker"


def skip_without_java():
    if subprocess.run(["sh", "-c", "command -v java"], capture_output=True).returncode != 0:
        print("skipped: no Java runtime here, so no Apache Kafka (make deps installs "
              "openjdk-17-jre-headless); the real-broker tests did not run")
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(0)


def libs():
    p = subprocess.run([os.path.join(ROOT, "tools", "kafka-apache", "fetch")],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("Apache Kafka's jars: %s" % p.stderr)
    return p.stdout.strip()


class BrokerView:
    def __init__(self, st):
        self.st = st
        self.libs = libs()

    def tool(self, main_class, *args, timeout=60):
        cmd = ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               "-Dlog4j2.configurationFile=" + os.path.join(ROOT, "tools", "kafka-apache",
                                                            "log4j2.properties"),
               "-cp", self.libs + "/*", main_class] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError("%s %s: %s" % (main_class, " ".join(args), p.stderr[-500:]))
        return p.stdout

    def _groups(self, *what):
        return self.tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                         "--bootstrap-server", self.st.brokers, "--describe", "--group", GROUP,
                         *what)

    @staticmethod
    def _table(text):
        rows, header = [], None
        for line in text.splitlines():
            f = line.split()
            if not f:
                continue
            if f[0] == "GROUP":
                header = f
            elif header and f[0] == GROUP:
                rows.append(dict(zip(header, f)))
        return rows

    def member_rows(self):
        """The coordinator's member table: CONSUMER-ID (member id),
        GROUP-INSTANCE-ID (static members), CLIENT-ID, assignment."""
        return self._table(self._groups("--members", "--verbose"))

    def members(self):
        """{client id: set of (topic, partition)} as the group coordinator
        has them now."""
        out = {}
        for r in self.member_rows():
            parts = set()
            a = r.get("ASSIGNMENT") or r.get("CURRENT-ASSIGNMENT") or "-"
            for chunk in a.split(";") if a != "-" else []:
                m = re.match(r"^(.+?)[:(]([\d,]*)\)?$", chunk)
                assert m, "cannot read the assignment %r" % a
                parts |= {(m.group(1), int(p)) for p in m.group(2).split(",") if p}
            out.setdefault(r["CLIENT-ID"], set()).update(parts)
        return out

    def state(self):
        rows = self._table(self._groups("--state"))
        assert len(rows) == 1, rows
        r = rows[0]
        return {"strategy": r.get("ASSIGNMENT-STRATEGY"), "state": r.get("STATE"),
                "members": int(r.get("#MEMBERS", "0"))}

    def wait_members(self, predicate, timeout, what):
        end = time.time() + timeout
        while True:
            m = self.members()
            try:
                st = self.state()
            except AssertionError:
                st = {}
            if st.get("state") == "Stable" and predicate(m):
                return m
            if time.time() > end:
                raise AssertionError("group never %s within %ds; last view %s %s" % (
                    what, timeout, st, {k: len(v) for k, v in m.items()}))
            time.sleep(0.5)

    def command_partitions(self):
        md = self.st.producer.list_topics(timeout=10)
        return {(t, p) for t in COMMAND_TOPICS for p in md.topics[t].partitions}

    def committed(self, parts):
        """{(topic, partition): committed offset (-1: none)} from the group
        coordinator; this consumer does not join the group."""
        c = Consumer({"bootstrap.servers": self.st.brokers, "group.id": GROUP,
                      "enable.auto.commit": False})
        try:
            res = c.committed([TopicPartition(t, p) for t, p in parts], timeout=10)
            return {(r.topic, r.partition): (r.offset if r.offset >= 0 else -1) for r in res}
        finally:
            c.close()

    def end_offsets(self, parts):
        c = Consumer({"bootstrap.servers": self.st.brokers, "group.id": "view-ends"})
        try:
            return {(t, p): c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                    for t, p in parts}
        finally:
            c.close()

    def result_batches(self):
        """Every record batch of the results topic in node 1's log segments:
        dicts with producerId, producerEpoch, baseSequence, count."""
        files = sorted(glob.glob(os.path.join(self.st.dir, "kafka-1", "data",
                                              "scheduling.results-*", "*.log")))
        assert files, "no results log segments under %s" % self.st.dir
        out = self.tool("org.apache.kafka.tools.DumpLogSegments", "--files", ",".join(files))
        batches = []
        for line in out.splitlines():
            if not line.startswith("baseOffset:"):
                continue
            kv = dict(re.findall(r"(\w+): (\S+)", line))
            batches.append(kv)
        return batches


def send_to(st, tp, command):
    """Produces a command to one chosen partition (topic, partition);
    returns its request_id."""
    command = dict(command)
    command.setdefault("request_id", "k-%d-%d" % (os.getpid(), time.time_ns()))
    raw = json.dumps(command).encode()
    st.producer.produce(tp[0], raw, key=command["request_id"], partition=tp[1],
                        headers=st.sign(tp[0], raw))
    return command["request_id"]
