#!/bin/sh
# deploy/compose/openemr-bootstrap.sh - docker-compose's one-shot step after
# OpenEMR is healthy (run in the openemr/openemr image: php, curl, the
# mysql client): gives the workers an API user and an enabled OAuth client,
# the way OpenEMR itself does it, and writes what the workers read.
#
#  1. The API user $API_USER, whose password init.sh made: the rows
#     OpenEMR's installer writes for its first user (users, users_secure with
#     PHP's password_hash(PASSWORD_DEFAULT), groups; library/classes/
#     Installer.class.php add_initial_user), and its phpGACL object in the
#     Administrators group (gacl_aro via gacl_aro_seq, gacl_groups_aro_map:
#     what src/Gacl/GaclApi.php add_object and add_group_object write), since
#     the practitioner list needs the admin/users ACL.  The hash follows the
#     password file on every run.
#  2. The globals the API needs (as the installer's writeGlobal does:
#     REPLACE INTO globals): rest_api, rest_fhir_api, oauth_password_grant=1
#     (users), site_addr_oath.
#  3. The OAuth client: registered the documented way, POST
#     $OPENEMR_URL/oauth2/$OPENEMR_SITE/registration over TLS (CA_FILE);
#     a confidential client asking for user/ scopes starts disabled, so it
#     is enabled as the admin page does (ClientRepository:
#     UPDATE oauth_clients SET is_enabled=1).  Its secret goes to
#     $SECRETS_DIR/oauth_client_secret, its id to $SECRETS_DIR/worker.conf
#     (oauth.client_id = ...), the file the workers run with.  A client
#     registered before (worker.conf names one OpenEMR still has) is kept.
#
# Required: MYSQL_HOST, MYSQL_ROOT_PASS, OAUTH_SCOPE (the workers' scopes).
# Optional: OPENEMR_URL (https://openemr), OPENEMR_SITE (default), API_USER
# (scheduler), CLIENT_NAME (schedworker), SECRETS_DIR (/run/schedworker),
# CA_FILE (/run/openemr-ca/ca.pem), MYSQL_DATABASE (openemr), MYSQL_ROOT_USER
# (root), WORKER_GID (10001), REDIRECT_URI, SITE_ADDR (OPENEMR_URL).
set -eu
OPENEMR_URL=${OPENEMR_URL:-https://openemr}
OPENEMR_SITE=${OPENEMR_SITE:-default}
API_USER=${API_USER:-scheduler}
CLIENT_NAME=${CLIENT_NAME:-schedworker}
SECRETS_DIR=${SECRETS_DIR:-/run/schedworker}
CA_FILE=${CA_FILE:-/run/openemr-ca/ca.pem}
MYSQL_DATABASE=${MYSQL_DATABASE:-openemr}
MYSQL_ROOT_USER=${MYSQL_ROOT_USER:-root}
WORKER_GID=${WORKER_GID:-10001}
REDIRECT_URI=${REDIRECT_URI:-http://127.0.0.1:8765/callback}
SITE_ADDR=${SITE_ADDR:-$OPENEMR_URL}
: "${MYSQL_HOST:?}" "${MYSQL_ROOT_PASS:?}" "${OAUTH_SCOPE:?}"

say() { echo "bootstrap: $*"; }
die() {
    echo "bootstrap: $*" >&2
    exit 1
}

# SQL from stdin; tab-separated rows out, no column names.  The password
# travels in the environment, not on the command line (ps shows that).
sql() { MYSQL_PWD=$MYSQL_ROOT_PASS mysql -h "$MYSQL_HOST" -u "$MYSQL_ROOT_USER" -N -B "$MYSQL_DATABASE"; }
# A value inside '...' of SQL.
lit() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/''/g"; }
# stdin -> SECRETS_DIR/NAME, root:WORKER_GID 0440, atomically
put() {
    tmp="$SECRETS_DIR/.$1.tmp"
    (umask 077 && cat >"$tmp")
    chown "0:$WORKER_GID" "$tmp" 2>/dev/null || true
    chmod 0440 "$tmp"
    mv "$tmp" "$SECRETS_DIR/$1"
}

[ -s "$SECRETS_DIR/oauth_password" ] || die "no $SECRETS_DIR/oauth_password (init.sh makes it)"
[ -s "$CA_FILE" ] || die "no $CA_FILE (init.sh makes it)"
case $API_USER in *[!A-Za-z0-9_.-]* | "") die "API_USER must be [A-Za-z0-9_.-]+" ;; esac

# ---- 1. the API user ---------------------------------------------------------
hash=$(php -r 'echo password_hash(rtrim(file_get_contents($argv[1])), PASSWORD_DEFAULT);' \
    "$SECRETS_DIR/oauth_password")
case $hash in '$2y$'* | '$argon2'*) ;; *) die "password_hash gave no hash" ;; esac
u=$(lit "$API_USER")
sql <<SQL
SET @u = '$u';
INSERT INTO users (username, password, authorized, active, fname, lname, facility_id, calendar, cal_ui)
    SELECT @u, 'NoLongerUsed', 1, 1, 'Scheduling', 'Worker', 3, 0, 3 FROM DUAL
    WHERE NOT EXISTS (SELECT 1 FROM users WHERE username = @u);
SET @uid = (SELECT id FROM users WHERE username = @u);
INSERT INTO users_secure (id, username, password, last_update_password)
    VALUES (@uid, @u, '$(lit "$hash")', NOW())
    ON DUPLICATE KEY UPDATE password = VALUES(password), last_update_password = NOW();
INSERT INTO \`groups\` (name, user) SELECT 'Default', @u FROM DUAL
    WHERE NOT EXISTS (SELECT 1 FROM \`groups\` WHERE user = @u);
UPDATE gacl_aro_seq SET id = LAST_INSERT_ID(id + 1)
    WHERE NOT EXISTS (SELECT 1 FROM gacl_aro WHERE section_value = 'users' AND value = @u);
INSERT INTO gacl_aro (id, section_value, value, order_value, name, hidden)
    SELECT LAST_INSERT_ID(), 'users', @u, 10, 'Scheduling Worker', 0 FROM DUAL
    WHERE NOT EXISTS (SELECT 1 FROM gacl_aro WHERE section_value = 'users' AND value = @u);
INSERT IGNORE INTO gacl_groups_aro_map (group_id, aro_id)
    SELECT g.id, a.id FROM gacl_aro_groups g, gacl_aro a
    WHERE g.value = 'admin' AND a.section_value = 'users' AND a.value = @u;
SQL
n=$(printf "SELECT COUNT(*) FROM users u JOIN users_secure s ON s.id = u.id JOIN gacl_aro a ON a.value = u.username AND a.section_value = 'users' JOIN gacl_groups_aro_map m ON m.aro_id = a.id WHERE u.username = '%s' AND u.active = 1;\n" "$u" | sql)
[ "$n" = 1 ] || die "the API user $API_USER is not complete in the database ($n)"
say "API user $API_USER ready (Administrators)"

# ---- 2. the API's globals ----------------------------------------------------
sql <<SQL
REPLACE INTO globals (gl_name, gl_index, gl_value) VALUES
    ('rest_api', 0, '1'), ('rest_fhir_api', 0, '1'), ('oauth_password_grant', 0, '1'),
    ('site_addr_oath', 0, '$(lit "$SITE_ADDR")');
SQL
say "globals rest_api, rest_fhir_api, oauth_password_grant=1, site_addr_oath=$SITE_ADDR set"

# ---- 3. the OAuth client -----------------------------------------------------
cid=""
if [ -s "$SECRETS_DIR/worker.conf" ] && [ -s "$SECRETS_DIR/oauth_client_secret" ]; then
    cid=$(sed -n 's/^oauth\.client_id = //p' "$SECRETS_DIR/worker.conf")
    n=$(printf "SELECT COUNT(*) FROM oauth_clients WHERE client_id = '%s';\n" "$(lit "$cid")" | sql)
    if [ "$n" = 1 ]; then
        say "client $cid kept"
    else
        say "client $cid is gone from OpenEMR: registering a new one"
        cid=""
    fi
fi
if [ -z "$cid" ]; then
    body=$(php -r 'echo json_encode(["application_type" => "private", "client_name" => $argv[1],
        "redirect_uris" => [$argv[2]], "token_endpoint_auth_method" => "client_secret_post",
        "grant_types" => ["password", "refresh_token"], "scope" => $argv[3]]);' \
        "$CLIENT_NAME" "$REDIRECT_URI" "$OAUTH_SCOPE")
    answer=$(curl -sS --fail-with-body --cacert "$CA_FILE" --max-time 60 \
        -H 'Content-Type: application/json' --data-binary "$body" \
        "$OPENEMR_URL/oauth2/$OPENEMR_SITE/registration") || die "registration failed: $answer"
    cid=$(printf '%s' "$answer" | php -r '$a = json_decode(stream_get_contents(STDIN), true);
        echo is_array($a) && is_string($a["client_id"] ?? null) ? $a["client_id"] : "";')
    case $cid in "" | *[!A-Za-z0-9_.~-]*) die "the registration answer has no usable client_id" ;; esac
    printf '%s' "$answer" | php -r '$a = json_decode(stream_get_contents(STDIN), true);
        echo $a["client_secret"] ?? "";' | put oauth_client_secret
    [ -s "$SECRETS_DIR/oauth_client_secret" ] || die "the registration answer has no client_secret"
    say "registered client $cid"
fi
on=$(printf "UPDATE oauth_clients SET is_enabled = 1 WHERE client_id = '%s';\nSELECT is_enabled FROM oauth_clients WHERE client_id = '%s';\n" \
    "$(lit "$cid")" "$(lit "$cid")" | sql)
[ "$on" = 1 ] || die "client $cid could not be enabled ($on)"
printf '# written by deploy/compose/openemr-bootstrap.sh; the rest comes from SCHED_* variables\noauth.client_id = %s\n' \
    "$cid" | put worker.conf
say "client $cid enabled; $SECRETS_DIR/worker.conf written"
