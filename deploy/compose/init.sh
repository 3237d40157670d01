#!/bin/sh
# deploy/compose/init.sh - docker-compose's first one-shot step (run in the
# openemr/openemr image, which has openssl): what must exist before Redis,
# OpenEMR and the workers start, made once and kept in volumes.
#
#  1. OpenEMR's TLS certificate.  The image serves 443 with a self-signed
#     certificate for CN=localhost only (its ssl.sh), which no client that
#     checks host names accepts for https://openemr.  So this makes a small
#     CA and a server certificate for openemr (and localhost, 127.0.0.1) and
#     puts them where the image's ssl.sh looks first
#     (/etc/ssl/private/selfsigned.key.pem, /etc/ssl/certs/selfsigned.cert.pem:
#     it only generates its own when those are missing, then links them as
#     webserver.*.pem).  The CA certificate, and nothing secret, goes to
#     $CA_DIR/ca.pem for the workers' openemr.ca_file.
#  2. The secrets nobody needs to choose: the token encryption key, the Redis
#     password, the OpenEMR API user's password, and the producers' signing
#     keys (auth_keys: an agent key and an operator key, docs/security.md).  Files root-owned, group
#     $WORKER_GID (the worker image's), mode 0440; the Redis password also in
#     $REDIS_DIR for the redis container alone.
#
# Idempotent: what exists is kept.  Environment (defaults for compose):
#   SSL_DIR=/etc/ssl  CA_DIR=/run/openemr-ca  SECRETS_DIR=/run/schedworker
#   REDIS_DIR=/run/redis-secret  TLS_NAMES="openemr localhost"  WORKER_GID=10001
#   REDIS_GID=1000 (the redis image's group)  TLS_DAYS=825
set -eu
SSL_DIR=${SSL_DIR:-/etc/ssl}
CA_DIR=${CA_DIR:-/run/openemr-ca}
SECRETS_DIR=${SECRETS_DIR:-/run/schedworker}
REDIS_DIR=${REDIS_DIR:-/run/redis-secret}
TLS_NAMES=${TLS_NAMES:-openemr localhost}
WORKER_GID=${WORKER_GID:-10001}
REDIS_GID=${REDIS_GID:-1000}
TLS_DAYS=${TLS_DAYS:-825}

say() { echo "init: $*"; }

# put DIR NAME GID: stdin to DIR/NAME, root:GID mode 0440, atomically
put() {
    tmp="$1/.$2.tmp"
    (umask 077 && cat >"$tmp")
    chown "0:$3" "$tmp" 2>/dev/null || true # tests run it unprivileged
    chmod 0440 "$tmp"
    mv "$tmp" "$1/$2"
}

mkdir -p "$SSL_DIR/private" "$SSL_DIR/certs" "$CA_DIR" "$SECRETS_DIR" "$REDIS_DIR"

key=$SSL_DIR/private/selfsigned.key.pem
crt=$SSL_DIR/certs/selfsigned.cert.pem
if [ -s "$key" ] && [ -s "$crt" ] && [ -s "$CA_DIR/ca.pem" ]; then
    say "TLS certificate kept ($(openssl x509 -noout -subject -in "$crt"))"
else
    work=$(mktemp -d)
    san=""
    for n in $TLS_NAMES; do san="${san:+$san,}DNS:$n"; done
    san="$san,IP:127.0.0.1"
    openssl req -x509 -newkey rsa:3072 -nodes -days "$TLS_DAYS" -subj "/CN=schedworker compose CA" \
        -keyout "$work/ca.key" -out "$work/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
    openssl req -newkey rsa:3072 -nodes -subj "/CN=${TLS_NAMES%% *}" \
        -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
        "$san" >"$work/ext"
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
        -CAcreateserial -days "$TLS_DAYS" -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
    (umask 077 && cp "$work/server.key" "$key")
    cp "$work/server.pem" "$crt"
    cp "$work/ca.pem" "$CA_DIR/ca.pem"
    chmod 0644 "$crt" "$CA_DIR/ca.pem"
    rm -rf "$work" # the CA key is not kept: a new certificate means a new CA
    # ssl.sh links webserver.*.pem to selfsigned.*.pem once; make it relink
    rm -f "$SSL_DIR/docker-selfsigned-configured"
    say "TLS certificate for $san made"
fi

for s in token_key:32 oauth_password:24; do
    name=${s%%:*}
    if [ -s "$SECRETS_DIR/$name" ]; then
        say "$name kept"
    else
        openssl rand -hex "${s#*:}" | put "$SECRETS_DIR" "$name" "$WORKER_GID"
        say "$name made"
    fi
done
if [ -s "$SECRETS_DIR/auth_keys" ]; then
    say "auth_keys kept"
else
    { echo "# key id = role secret (docs/security.md); sign with tools/agent --sign"
      echo "compose-agent = agent $(openssl rand -hex 32)"
      echo "compose-operator = operator $(openssl rand -hex 32)"; } |
        put "$SECRETS_DIR" auth_keys "$WORKER_GID"
    say "auth_keys made"
fi
if [ ! -s "$SECRETS_DIR/redis_password" ]; then
    openssl rand -hex 24 | put "$SECRETS_DIR" redis_password "$WORKER_GID"
    say "redis_password made"
fi
put "$REDIS_DIR" redis_password "$REDIS_GID" <"$SECRETS_DIR/redis_password"
chmod 0750 "$SECRETS_DIR" "$REDIS_DIR"
chown "0:$WORKER_GID" "$SECRETS_DIR" 2>/dev/null || true
chown "0:$REDIS_GID" "$REDIS_DIR" 2>/dev/null || true
say "done"
