/* auth.c - producer keys with roles, the v1 signing input, HMAC-SHA256
 * signatures and their check (see auth.h). */
#include "auth.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "config_lines.h"
#include "log.h"

#define MOD          "auth"
#define KEY_MIN      32
#define KEY_MAX      128
#define LINE_MAX_LEN 1024

struct producer_key {
    char id[AUTH_KEY_ID_MAX + 1];
    enum auth_role role;
    unsigned char key[KEY_MAX];
    size_t key_len;
};

struct auth_keys {
    struct producer_key *p;
    size_t n;
};

static const char *const role_names[] = {
    [AUTH_ROLE_READER] = "reader",
    [AUTH_ROLE_AGENT] = "agent",
    [AUTH_ROLE_OPERATOR] = "operator",
};

const char *auth_role_name(enum auth_role role)
{
    return (unsigned)role < sizeof(role_names) / sizeof(role_names[0]) ? role_names[role] : "?";
}

static bool role_parse(const char *s, size_t n, enum auth_role *out)
{
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
        if (strlen(role_names[i]) == n && !strncmp(role_names[i], s, n)) {
            *out = (enum auth_role)i;
            return true;
        }
    }
    return false;
}

/* Decodes hex (exactly 2 * cap digits, no separators) into out; OpenSSL's
 * decoder, its error queue left clean. */
static bool hex_decode(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    if (OPENSSL_hexstr2buf_ex(out, cap, &n, hex, '\0') == 1 && n == cap)
        return true;
    ERR_clear_error();
    return false;
}

static bool id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= AUTH_KEY_ID_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static const struct producer_key *find(const struct auth_keys *keys, const char *id)
{
    for (size_t i = 0; keys && id && i < keys->n; i++) {
        if (!strcmp(keys->p[i].id, id))
            return &keys->p[i];
    }
    return NULL;
}

sw_err auth_keys_load(const char *path, struct auth_keys **out, char *errstr, size_t errlen)
{
    sw_err err = SW_OK;
    FILE *f = NULL;
    struct auth_keys *keys = NULL;
    struct config_lines r;
    char *id, *value;
    enum config_line got;

    *out = NULL;
    if (!path || !*path) {
        snprintf(errstr, errlen, "auth.keys_file is not set");
        return SW_ERR_CONFIG;
    }
    f = fopen(path, "re");
    if (!f) {
        snprintf(errstr, errlen, "%s: %s", path, strerror(errno));
        return SW_ERR_CONFIG;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 007))
        log_warn(MOD, "%s can be read by others; chmod 600 it (or 640 for the worker's group)",
                 path);

    config_lines_init(&r, f, LINE_MAX_LEN, "`key_id = role hexsecret`");
    keys = calloc(1, sizeof(*keys));
    if (keys)
        keys->p = calloc(AUTH_MAX_KEYS, sizeof(*keys->p));
    if (!keys || !keys->p) {
        err = SW_ERR_NOMEM;
        snprintf(errstr, errlen, "%s: out of memory", path);
        goto cleanup_keys;
    }

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        int o_ = snprintf(errstr, errlen, "%s:%d: ", path, r.lineno);                              \
        if (o_ >= 0 && (size_t)o_ < errlen)                                                        \
            snprintf(errstr + o_, errlen - (size_t)o_, __VA_ARGS__);                               \
        err = SW_ERR_CONFIG;                                                                       \
        goto cleanup_keys;                                                                         \
    } while (0)

    while ((got = config_lines_next(&r, &id, &value)) != CONFIG_LINE_END) {
        if (got == CONFIG_LINE_BAD)
            FAIL("%s", r.msg);
        if (!id_ok(id))
            FAIL("key id must be 1..%d of [A-Za-z0-9._-]", AUTH_KEY_ID_MAX);
        if (find(keys, id))
            FAIL("key id \"%s\" is listed twice", id);
        if (keys->n >= AUTH_MAX_KEYS)
            FAIL("more than %d keys", AUTH_MAX_KEYS);
        size_t rl = strcspn(value, " \t");
        const char *hex = value + rl + strspn(value + rl, " \t");
        struct producer_key *pk = &keys->p[keys->n];
        if (!role_parse(value, rl, &pk->role))
            FAIL("key \"%s\": expected `role hexsecret` with role agent, reader or operator", id);
        size_t hl = strlen(hex);
        if (hl % 2 || hl < 2 * KEY_MIN || hl > 2 * KEY_MAX || strcspn(hex, " \t") != hl)
            FAIL("secret of \"%s\" must be %d..%d bytes as hex (an even count of hex digits)", id,
                 KEY_MIN, KEY_MAX);
        if (!hex_decode(hex, pk->key, hl / 2)) {
            OPENSSL_cleanse(pk->key, sizeof(pk->key));
            FAIL("secret of \"%s\" is not hex", id);
        }
        sw_log_add_secret(hex); /* for the process's life: it never rotates */
        pk->key_len = hl / 2;
        snprintf(pk->id, sizeof(pk->id), "%s", id);
        keys->n++;
    }
#undef FAIL
    if (ferror(f)) {
        snprintf(errstr, errlen, "%s: read error", path);
        err = SW_ERR_CONFIG;
        goto cleanup_keys;
    }
    if (keys->n == 0) {
        snprintf(errstr, errlen, "%s: no keys", path);
        err = SW_ERR_CONFIG;
        goto cleanup_keys;
    }
    *out = keys;
    keys = NULL;

cleanup_keys:
    config_lines_wipe(&r);
    auth_keys_destroy(keys);
    fclose(f);
    return err;
}

void auth_keys_destroy(struct auth_keys *keys)
{
    if (!keys)
        return;
    if (keys->p) {
        OPENSSL_cleanse(keys->p, AUTH_MAX_KEYS * sizeof(*keys->p));
        free(keys->p);
    }
    free(keys);
}

size_t auth_keys_count(const struct auth_keys *keys)
{
    return keys ? keys->n : 0;
}

const char *auth_keys_first(const struct auth_keys *keys, enum auth_role role)
{
    for (size_t i = 0; keys && i < keys->n; i++)
        if (keys->p[i].role == role)
            return keys->p[i].id;
    return NULL;
}

bool auth_role_allows(enum auth_role role, enum auth_topic topic, bool replaying)
{
    if (topic == AUTH_TOPIC_OTHER)
        return false;
    switch (role) {
    case AUTH_ROLE_AGENT:
        return true;
    case AUTH_ROLE_READER:
        return topic == AUTH_TOPIC_SEARCH;
    case AUTH_ROLE_OPERATOR:
        return replaying;
    }
    return false;
}

/* ---- the signing input ------------------------------------------------------ */

static bool frameable(const char *s)
{
    return !s || !s[strcspn(s, "\r\n")];
}

sw_err auth_signing_input(const struct auth_msg *m, const char *key_id, const char *signed_at,
                          unsigned char **out, size_t *len)
{
    const char *lines[] = {AUTH_SCHEME,   key_id,      signed_at,         m->topic,
                           m->request_id, m->reply_to, m->correlation_id, m->replay_of};
    size_t n = m->len;
    *out = NULL;
    *len = 0;
    if (!id_ok(key_id))
        return SW_ERR_INVALID;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!frameable(lines[i]))
            return SW_ERR_INVALID;
        n += (lines[i] ? strlen(lines[i]) : 0) + 1;
    }
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf)
        return SW_ERR_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        size_t k = lines[i] ? strlen(lines[i]) : 0;
        memcpy(buf + o, lines[i] ? lines[i] : "", k);
        o += k;
        buf[o++] = '\n';
    }
    if (m->len)
        memcpy(buf + o, m->value, m->len);
    *out = buf;
    *len = n;
    return SW_OK;
}

static bool mac(const struct producer_key *pk, const struct auth_msg *m, const char *signed_at,
                unsigned char md[32])
{
    unsigned char *in = NULL;
    size_t len = 0;
    unsigned int mdlen = 0;
    if (auth_signing_input(m, pk->id, signed_at, &in, &len) != SW_OK)
        return false;
    bool ok = HMAC(EVP_sha256(), pk->key, (int)pk->key_len, in, len, md, &mdlen) && mdlen == 32;
    OPENSSL_cleanse(in, len);
    free(in);
    return ok;
}

sw_err auth_sign(const struct auth_keys *keys, const char *key_id, const struct auth_msg *m,
                 int64_t signed_at_ms, struct auth_headers *out)
{
    unsigned char md[32];
    memset(out, 0, sizeof(*out));
    const struct producer_key *pk = find(keys, key_id);
    if (!pk)
        return SW_ERR_NOT_FOUND;
    if (signed_at_ms < 0)
        return SW_ERR_INVALID;
    snprintf(out->signed_at, sizeof(out->signed_at), "%lld", (long long)signed_at_ms);
    if (!mac(pk, m, out->signed_at, md)) {
        memset(out, 0, sizeof(*out));
        return SW_ERR_INVALID;
    }
    snprintf(out->key_id, sizeof(out->key_id), "%s", pk->id);
    memcpy(out->signature, AUTH_SIG_PREFIX, 3);
    hex_encode(md, 32, out->signature + 3);
    OPENSSL_cleanse(md, sizeof(md));
    return SW_OK;
}

/* ---- the check -------------------------------------------------------------- */

/* Unix milliseconds: 1..18 digits, no sign, no leading zero (one spelling
 * per instant, so the signed text and the checked time agree). */
static bool parse_time(const char *s, int64_t *out)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 18 || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

static void signature_digest(const unsigned char sig[32], char hex[AUTH_DIGEST_HEX + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(sig, 32, md, &n, EVP_sha256(), NULL);
    hex_encode(md, 32, hex);
}

static const char *topic_word(enum auth_topic t)
{
    switch (t) {
    case AUTH_TOPIC_SEARCH:
        return "search";
    case AUTH_TOPIC_BOOK:
        return "book";
    case AUTH_TOPIC_CANCEL:
        return "cancel";
    default:
        return "this";
    }
}

void auth_verify(const struct auth_keys *keys, const struct auth_msg *m, const char *key_id,
                 const char *signed_at, const char *signature, bool header_trouble,
                 enum auth_topic topic, int64_t now_ms, int max_skew_s, struct auth_check *out)
{
    unsigned char want[32] = {0}, got[32] = {0};
    int64_t at = 0;
    const char *why;
    memset(out, 0, sizeof(*out));
    out->verdict = AUTH_UNAUTHENTICATED;

    bool has_sig = signature && *signature, has_id = key_id && *key_id;
    if (!has_sig && !has_id && !(signed_at && *signed_at)) {
        out->verdict = AUTH_UNSIGNED;
        why = "unsigned: no " AUTH_HEADER_SIGNATURE " header";
        goto done;
    }
    if (header_trouble) {
        why = "a signed header is repeated, too long or holds NUL";
        goto done;
    }
    if (!has_sig) {
        why = "no " AUTH_HEADER_SIGNATURE " header";
        goto done;
    }
    if (!has_id) {
        why = "no " AUTH_HEADER_KEY_ID " header";
        goto done;
    }
    const struct producer_key *pk = find(keys, key_id);
    if (!pk) {
        why = "unknown key id";
        goto done;
    }
    if (!parse_time(signed_at, &at)) {
        why = "no " AUTH_HEADER_SIGNED_AT " header, or not Unix milliseconds";
        goto done;
    }
    if (strlen(signature) != AUTH_SIG_LEN || strncmp(signature, AUTH_SIG_PREFIX, 3) != 0 ||
        !hex_decode(signature + 3, got, sizeof(got))) {
        why = "malformed " AUTH_HEADER_SIGNATURE " (expected v1= and 64 hex digits)";
        goto done;
    }
    if (!frameable(m->request_id) || !frameable(m->reply_to) || !frameable(m->correlation_id) ||
        !frameable(m->replay_of) || !frameable(m->topic)) {
        why = "a signed header holds a line break";
        goto done;
    }
    if (!mac(pk, m, signed_at, want)) {
        why = "cannot compute the HMAC";
        goto done;
    }
    if (CRYPTO_memcmp(want, got, sizeof(want)) != 0) {
        why = "signature does not match";
        goto done;
    }
    /* The signature is the key holder's: from here the sender is known. */
    snprintf(out->key_id, sizeof(out->key_id), "%s", pk->id);
    out->role = pk->role;
    signature_digest(got, out->digest);
    if (!auth_role_allows(pk->role, topic, m->replay_of && *m->replay_of)) {
        out->verdict = AUTH_FORBIDDEN;
        snprintf(out->reason, sizeof(out->reason),
                 "a key of role %s may not send to the %s topic%s", auth_role_name(pk->role),
                 topic_word(topic),
                 pk->role == AUTH_ROLE_OPERATOR ? " (operators only replay dead letters)" : "");
        why = NULL;
        goto done;
    }
    out->verdict = AUTH_OK;
    int64_t skew_ms = (int64_t)max_skew_s * 1000;
    out->stale = at < now_ms - skew_ms || at > now_ms + skew_ms;
    why = out->stale ? "signed outside the replay window" : NULL;
done:
    OPENSSL_cleanse(want, sizeof(want));
    OPENSSL_cleanse(got, sizeof(got));
    if (why)
        snprintf(out->reason, sizeof(out->reason), "%s", why);
}

/* ---- development mode ----------------------------------------------------------- */

static atomic_uint_fast64_t unsigned_taken;

void auth_count_unsigned(void)
{
    atomic_fetch_add(&unsigned_taken, 1);
}

uint64_t auth_unsigned_taken(void)
{
    return atomic_exchange(&unsigned_taken, 0);
}
