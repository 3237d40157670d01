#!/usr/bin/python3
"""docker-compose.yml as far as it can be proven without a Docker engine
(issue 17 ask 1, issue 15 ask 5).  There is no engine here: `docker-compose
up` itself is not run.  What is:

- the structure: every long-running service has a healthcheck, every
  one-shot step is waited for (service_completed_successfully), the workers
  start only after OpenEMR is healthy and the bootstrap finished; Redis runs
  as the image's non-root user; Kafka has a listener for the host, published
  on 127.0.0.1; the workers' stop grace exceeds worker.shutdown_grace_s plus
  the final flush; OAuth and the API go over https with a CA file, never
  allow_insecure_http;
- deploy/compose/init.sh, run here: a CA and a certificate that verifies
  for the name openemr (the image's own CN=localhost certificate does not),
  the secrets generated once (mode 0440) and kept on a second run;
- the healthcheck commands that can run here: Redis' (redis-cli with the
  generated password, against a redis-server started with it; a wrong
  password is unhealthy), OpenEMR's (curl --cacert, against openssl s_server
  serving init.sh's certificate), the workers' (`schedworker health`, ready
  then not after stop-redis);
- deploy/compose/openemr-bootstrap.sh, run here against the OpenEMR
  simulator over TLS, with a stand-in mysql client (no MariaDB here): it
  registers a client by POST /oauth2/default/registration, enables it,
  writes the secret and worker.conf; its SQL creates the API user as
  OpenEMR's installer does, with a hash PHP's password_verify accepts; a
  second run keeps the client;
- a worker started exactly with the compose file's environment and command
  (paths and host names mapped to this machine) passes --check-config,
  becomes healthy and answers a command sent with tools/agent.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BUILD, ROOT, Report, Stack  # noqa: E402

WORKER = os.path.join(ROOT, BUILD, "schedworker")
INIT = os.path.join(ROOT, "deploy", "compose", "init.sh")
BOOT = os.path.join(ROOT, "deploy", "compose", "openemr-bootstrap.sh")
FLUSH_S = 10  # kafka_destroy flushes the last results for up to 10 s
T = {}


def compose():
    if "doc" not in T:
        p = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"),
                            "config"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                           env={k: v for k, v in os.environ.items() if not k.startswith("SCHED_")})
        assert p.returncode == 0, p.stderr
        T["doc"] = yaml.safe_load(p.stdout)
    return T["doc"]


def env_of(svc):
    env = compose()["services"][svc].get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def ports_of(svc):
    """[(host_ip, published, target)] in either compose syntax."""
    out = []
    for p in compose()["services"][svc].get("ports", []):
        if isinstance(p, dict):
            out.append((p.get("host_ip", ""), str(p.get("published")), str(p["target"])))
        else:
            parts = str(p).split(":")
            ip = parts[0] if len(parts) == 3 else ""
            out.append((ip, parts[-2], parts[-1].split("/")[0]))
    return out


def mounts_of(svc):
    """[(source, target)] in either compose syntax."""
    out = []
    for v in compose()["services"][svc].get("volumes", []):
        if isinstance(v, dict):
            out.append((v.get("source"), v["target"]))
        else:
            parts = str(v).split(":")
            out.append((parts[0], parts[1]))
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        assert proc.poll() is None, "exited"
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %d" % port)


def dirs():
    if "dirs" not in T:
        base = tempfile.mkdtemp(prefix="compose-")
        T["dirs"] = {k: os.path.join(base, k) for k in ("ssl", "ca", "secrets", "redis")}
        T["base"] = base
    return T["dirs"]


def run_init():
    d = dirs()
    p = subprocess.run(["sh", INIT], capture_output=True, text=True, timeout=120, env=dict(
        os.environ, SSL_DIR=d["ssl"], CA_DIR=d["ca"], SECRETS_DIR=d["secrets"],
        REDIS_DIR=d["redis"]))
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


# ---- the compose file ------------------------------------------------------------
def test_structure():
    s = compose()["services"]
    one_shot = {n for n, v in s.items() if str(v.get("restart", "")) == "no"}
    assert one_shot == {"init", "kafka-init", "openemr-bootstrap"}, one_shot
    for name, svc in s.items():
        if name in one_shot:
            continue
        hc = svc.get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), "%s has no healthcheck" % name
    waits = {}
    for name, svc in s.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            waits.setdefault(dep, set()).add(cond["condition"])
            want = "service_completed_successfully" if dep in one_shot else "service_healthy"
            assert cond["condition"] == want, (name, dep, cond)
    for w in ("worker-1", "worker-2"):
        deps = s[w]["depends_on"]
        assert {"openemr", "openemr-bootstrap", "redis", "kafka-init"} <= set(deps), deps
        assert s[w]["healthcheck"]["test"] == ["CMD", "/usr/local/bin/schedworker", "health"]
        assert s[w]["command"] == ["--config", "/run/schedworker/worker.conf"]
    assert s["openemr-bootstrap"]["depends_on"]["openemr"]["condition"] == "service_healthy"
    assert set(s["openemr"]["depends_on"]) >= {"init", "mariadb"}


def test_redis_not_root():
    r = compose()["services"]["redis"]
    uid, gid = r["user"].split(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, r["user"]
    assert int(uid) == 999 and int(gid) == 1000, "the redis image's redis user is 999:1000"
    # init.sh gives its password file that group
    assert env_of("init").get("REDIS_GID") == gid


def test_kafka_host_listener():
    k = compose()["services"]["kafka"]
    e = k["environment"]
    adv = dict(x.split("://", 1) for x in e["KAFKA_ADVERTISED_LISTENERS"].split(","))
    lis = dict(x.split("://", 1) for x in e["KAFKA_LISTENERS"].split(","))
    pmap = dict(x.split(":", 1) for x in e["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    host = [n for n, a in adv.items() if a.split(":")[0] in ("localhost", "127.0.0.1")]
    assert host, adv
    name = host[0]
    port = adv[name].rsplit(":", 1)[1]
    assert lis[name].endswith(":" + port) and name in pmap, (lis, pmap)
    published = [p for p in ports_of("kafka") if p[1] == port]
    assert published == [("127.0.0.1", port, port)], ports_of("kafka")
    assert adv["PLAINTEXT"] == "kafka:9092", "containers keep kafka:9092"
    assert env_of("worker-1")["KAFKA_BROKERS"] == "kafka:9092"


def grace_seconds(text):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", str(text))
    return int(m.group(1) or 0) * 60 + float(m.group(2) or 0)


def test_grace_exceeds_drain():
    for w in ("worker-1", "worker-2"):
        drain = int(env_of(w)["SCHED_WORKER_SHUTDOWN_GRACE_S"])
        grace = grace_seconds(compose()["services"][w]["stop_grace_period"])
        assert grace >= drain + FLUSH_S + 5, (w, grace, drain)
    unit = open(os.path.join(ROOT, "config", "schedworker.service")).read()
    stop = grace_seconds(re.search(r"^TimeoutStopSec=(\S+)", unit, re.M).group(1))
    assert stop >= 20 + FLUSH_S + 5, stop


def test_tls_not_insecure():
    for w in ("worker-1", "worker-2"):
        e = env_of(w)
        assert e["OPENEMR_BASE_URL"].startswith("https://"), e
        assert "SCHED_OPENEMR_ALLOW_INSECURE_HTTP" not in e
        ca = e["SCHED_OPENEMR_CA_FILE"]
        mounts = mounts_of(w)
        assert any(ca.startswith(t + "/") and src == "openemr-ca" for src, t in mounts), mounts
    # and init writes that volume, openemr reads it for its healthcheck
    assert ("openemr-ca", "/run/openemr-ca") in mounts_of("init")
    assert ("openemr-ssl", "/etc/ssl") in mounts_of("init") and \
        ("openemr-ssl", "/etc/ssl") in mounts_of("openemr")
    assert "allow_insecure" not in open(os.path.join(ROOT, "docker-compose.yml")).read()
    o = compose()["services"]["openemr"]
    assert o["environment"]["OPENEMR_SETTING_site_addr_oath"].startswith("https://")
    # bootstrap and workers ask for the same scopes (one YAML anchor)
    assert env_of("openemr-bootstrap")["OAUTH_SCOPE"] == env_of("worker-1")["SCHED_OAUTH_SCOPE"]


# ---- init.sh ----------------------------------------------------------------------
def test_init_tls_and_secrets():
    out = run_init()
    d = dirs()
    assert "TLS certificate for DNS:openemr,DNS:localhost,IP:127.0.0.1 made" in out, out
    crt = os.path.join(d["ssl"], "certs", "selfsigned.cert.pem")
    key = os.path.join(d["ssl"], "private", "selfsigned.key.pem")
    ca = os.path.join(d["ca"], "ca.pem")
    for name in ("openemr", "localhost"):
        p = subprocess.run(["openssl", "verify", "-CAfile", ca, "-verify_hostname", name, crt],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(["openssl", "verify", "-CAfile", ca, "-verify_hostname", "evil.example",
                        crt], capture_output=True, text=True)
    assert p.returncode != 0, "the certificate must not fit any name"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert not [f for f in os.listdir(d["ca"]) if "key" in f], "no key next to the CA"
    for name in ("token_key", "oauth_password", "redis_password"):
        path = os.path.join(d["secrets"], name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o440, name
        assert re.fullmatch(r"[0-9a-f]{48,64}", open(path).read().strip()), name
    assert len(open(os.path.join(d["secrets"], "token_key")).read().strip()) == 64
    keys = os.path.join(d["secrets"], "auth_keys")  # the producers' signing keys
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o440
    assert re.search(r"(?m)^compose-agent = agent [0-9a-f]{64}$", open(keys).read())
    assert open(os.path.join(d["redis"], "redis_password")).read() == \
        open(os.path.join(d["secrets"], "redis_password")).read()
    before = {n: open(os.path.join(d["secrets"], n)).read() for n in os.listdir(d["secrets"])}
    cert_before = open(crt).read()
    out = run_init()
    assert "TLS certificate kept" in out and "token_key kept" in out, out
    assert before == {n: open(os.path.join(d["secrets"], n)).read()
                      for n in os.listdir(d["secrets"])}
    assert open(crt).read() == cert_before


def test_openemr_healthcheck_command():
    """The openemr healthcheck (curl --cacert ... https://localhost/...), run
    here against openssl s_server serving init.sh's certificate; the image's
    own kind of certificate (CN=localhost, no SAN) fails for the name the
    workers use."""
    d = dirs()
    test = compose()["services"]["openemr"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "curl", test
    port = free_port()
    srv = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept",
                            "127.0.0.1:%d" % port,
                            "-cert", os.path.join(d["ssl"], "certs", "selfsigned.cert.pem"),
                            "-key", os.path.join(d["ssl"], "private", "selfsigned.key.pem")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, srv)
        cmd = [a.replace("/run/openemr-ca/ca.pem", os.path.join(d["ca"], "ca.pem"))
               .replace("https://localhost/", "https://localhost:%d/" % port) for a in test[1:]]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, (cmd, p.stderr)
        # the workers' name, openemr, resolved to this server
        ca = os.path.join(d["ca"], "ca.pem")
        p = subprocess.run(["curl", "-fsS", "-o", "/dev/null", "--cacert", ca, "--resolve",
                            "openemr:%d:127.0.0.1" % port, "https://openemr:%d/" % port],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
    finally:
        srv.terminate()
        srv.wait(5)
    # what the image makes by itself (ssl.sh: -subj .../CN=localhost)
    tmp = tempfile.mkdtemp()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/C=xx/ST=x/L=x/O=x/OU=x/CN=localhost", "-keyout", tmp + "/k",
                    "-out", tmp + "/c"], capture_output=True, check=True)
    p = subprocess.run(["openssl", "verify", "-CAfile", tmp + "/c", "-verify_hostname", "openemr",
                        tmp + "/c"], capture_output=True, text=True)
    shutil.rmtree(tmp)
    assert p.returncode != 0, "a CN=localhost certificate would pass for openemr?"


def test_redis_healthcheck_command():
    d = dirs()
    hc = compose()["services"]["redis"]["healthcheck"]["test"]
    assert hc[0] == "CMD-SHELL"
    pw = open(os.path.join(d["redis"], "redis_password")).read().strip()
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                            "", "--appendonly", "no", "--requirepass", pw],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, srv)
        T["redis_port"] = port
        T["redis_proc"] = srv
        shell = hc[1].replace("$$", "$").replace("/run/redis-secret", d["redis"]).replace(
            "redis-cli ping", "redis-cli -p %d ping" % port)
        p = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, (shell, p.stdout, p.stderr)
        bad = os.path.join(T["base"], "wrong")
        os.makedirs(bad, exist_ok=True)
        with open(os.path.join(bad, "redis_password"), "w") as f:
            f.write("not-the-password")
        p = subprocess.run(["sh", "-c", shell.replace(d["redis"], bad)], capture_output=True,
                           text=True, timeout=20)
        assert p.returncode != 0, "a wrong password counted as healthy"
    except Exception:
        srv.terminate()
        raise


# ---- the bootstrap against the simulator, and a worker as compose runs it ----------------
def bootstrap(st, pw_seed=None):
    d = dirs()
    stub_bin = os.path.join(T["base"], "bin")
    os.makedirs(stub_bin, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "tests", "deploy", "mysql-stub"), os.path.join(stub_bin, "mysql"))
    env = env_of("openemr-bootstrap")
    env.update(OPENEMR_URL=st.env["OPENEMR_BASE_URL"], CA_FILE=st.env["OPENEMR_CA_FILE"],
               SECRETS_DIR=d["secrets"], SIM_ADMIN_URL=st.env["SIM_ADMIN_URL"],
               STUB_SQL_LOG=os.path.join(T["base"], "sql.log"),
               PATH=stub_bin + ":" + os.environ["PATH"])
    p = subprocess.run(["sh", BOOT], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_bootstrap(st):
    d = dirs()
    # the simulator knows one user, scheduler/scheduler-pass: seed that
    # password as if init.sh had made it (init.sh keeps what exists)
    pwfile = os.path.join(d["secrets"], "oauth_password")
    os.chmod(pwfile, 0o600)
    with open(pwfile, "w") as f:
        f.write("scheduler-pass\n")
    os.chmod(pwfile, 0o440)
    out = bootstrap(st)
    print(out)
    m = re.search(r"registered client (\S+)", out)
    assert m and "enabled" in out, out
    cid = m.group(1)
    clients = st.admin("GET", "/clients")
    c = clients[cid]
    assert c["enabled"] is True, c
    assert c["scope"] == env_of("worker-1")["SCHED_OAUTH_SCOPE"], c["scope"]
    assert c.get("application_type") == "private" and "password" in c["grant_types"], c
    secret = open(os.path.join(d["secrets"], "oauth_client_secret")).read()
    assert secret == c["client_secret"] and stat.S_IMODE(
        os.stat(os.path.join(d["secrets"], "oauth_client_secret")).st_mode) == 0o440
    conf = open(os.path.join(d["secrets"], "worker.conf")).read()
    assert "oauth.client_id = %s\n" % cid in conf, conf
    log = [json.loads(l) for l in open(os.path.join(T["base"], "sql.log"))]
    assert all(e["has_pwd"] and env_of("openemr-bootstrap")["MYSQL_ROOT_PASS"] not in
               " ".join(e["argv"]) for e in log), "the DB password went on the command line"
    sql = "\n".join(e["sql"] for e in log)
    for want in ("INSERT INTO users (username", "INSERT INTO users_secure", "INSERT INTO `groups`",
                 "UPDATE gacl_aro_seq SET id = LAST_INSERT_ID(id + 1)", "INSERT INTO gacl_aro ",
                 "INSERT IGNORE INTO gacl_groups_aro_map", "g.value = 'admin'",
                 "REPLACE INTO globals", "('oauth_password_grant', 0, '1')",
                 "UPDATE oauth_clients SET is_enabled = 1 WHERE client_id = '%s'" % cid):
        assert want in sql, want
    h = re.search(r"VALUES \(@uid, @u, '([^']+)', NOW\(\)\)", sql).group(1)
    ok = subprocess.run(["php", "-r", 'exit(password_verify($argv[1], $argv[2]) ? 0 : 1);',
                         "scheduler-pass", h], timeout=20)
    assert ok.returncode == 0, "PHP's password_verify refuses the stored hash %s" % h
    bad = subprocess.run(["php", "-r", 'exit(password_verify($argv[1], $argv[2]) ? 0 : 1);',
                          "other", h], timeout=20)
    assert bad.returncode == 1
    # again: the client is kept, nothing registered twice
    out2 = bootstrap(st)
    assert "client %s kept" % cid in out2 and "registered" not in out2, out2
    assert len(st.admin("GET", "/clients")) == len(clients)
    T["cid"] = cid


def worker_env(st, http_port):
    """The worker's environment from the compose file, with its paths and
    hosts mapped to this machine."""
    d = dirs()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHED_")}
    for k, v in env_of("worker-1").items():
        v = v.replace("/run/schedworker/", d["secrets"] + "/")
        env[k] = v
    env["SCHED_OPENEMR_CA_FILE"] = st.env["OPENEMR_CA_FILE"]
    env["OPENEMR_BASE_URL"] = st.env["OPENEMR_BASE_URL"]
    env["KAFKA_BROKERS"] = st.brokers
    env["REDIS_URL"] = "redis://127.0.0.1:%d/0" % T["redis_port"]
    env["SCHED_HTTP_LISTEN"] = "0.0.0.0:%d" % http_port  # as in compose: all interfaces
    return env


def test_worker_as_compose_runs_it(st):
    d = dirs()
    port = free_port()
    env = worker_env(st, port)
    env["SCHED_HTTP_LISTEN"] = "127.0.0.1:%d" % port  # this shared machine: loopback only
    argv = [a.replace("/run/schedworker/", d["secrets"] + "/")
            for a in compose()["services"]["worker-1"]["command"]]
    p = subprocess.run([WORKER, "--check-config", argv[1]], env=env, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    log = open(os.path.join(T["base"], "worker.log"), "w")
    w = subprocess.Popen([WORKER] + argv, env=env, stdout=log, stderr=log)
    try:
        end = time.time() + 60
        while True:
            h = subprocess.run([WORKER, "health"], env=env, capture_output=True, text=True,
                               timeout=20)
            if h.returncode == 0:
                break
            assert w.poll() is None and time.time() < end, (h.stdout, h.stderr,
                                                            open(log.name).read()[-3000:])
            time.sleep(0.5)
        assert '"ready":true' in h.stdout, h.stdout
        a = subprocess.run([os.path.join(ROOT, "tools", "agent"), "-b", st.brokers, "--raw",
                            "--sign", os.path.join(d["secrets"], "auth_keys"), "compose-agent",
                            "find_patient", "phone=617-555-0300", "birthdate=2015-03-03"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, BUILD=BUILD))
        assert a.returncode == 0 and json.loads(a.stdout)["status"] == "ok", (a.stdout, a.stderr)
        # it logged in as the API user with the bootstrap's client over TLS
        toks = st.admin("GET", "/tokens")
        assert toks, "no token issued"
        # and the healthcheck turns unhealthy when Redis goes away
        T["redis_proc"].terminate()
        T["redis_proc"].wait(10)
        end = time.time() + 20
        while subprocess.run([WORKER, "health"], env=env, capture_output=True,
                             timeout=20).returncode == 0:
            assert time.time() < end, "still healthy without Redis"
            time.sleep(0.5)
    finally:
        w.terminate()
        w.wait(40)
        log.close()
    assert w.returncode == 0, open(log.name).read()[-2000:]


def main():
    c = Report()
    for t in (test_structure, test_redis_not_root, test_kafka_host_listener,
              test_grace_exceeds_drain, test_tls_not_insecure, test_init_tls_and_secrets,
              test_openemr_healthcheck_command, test_redis_healthcheck_command):
        c.run(t)
    if "redis_port" in T:
        with Stack(replicas=0, tls=True) as st:
            c.run(test_bootstrap, st)
            if "cid" in T:
                c.run(test_worker_as_compose_runs_it, st)
            if c.failed:
                st.failed = True
    if T.get("redis_proc") and T["redis_proc"].poll() is None:
        T["redis_proc"].terminate()
    if "base" in T:
        shutil.rmtree(T["base"], ignore_errors=True)
    print("not run here (no Docker engine): docker-compose up, the images' own healthchecks "
          "(kafka-broker-api-versions.sh, mariadb healthcheck.sh), the bootstrap's SQL on "
          "a real MariaDB")
    c.finish()


if __name__ == "__main__":
    main()
