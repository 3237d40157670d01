/* tokens.c - OpenEMR's OAuth2 state below the /oauth2 routes: the client
 * and token tables, the scope vocabulary, and the Bearer check every API
 * and FHIR route calls.  Tokens are opaque-in-effect JWT-shaped strings
 * kept in a table; the table is the only truth.  Callers of the token_*
 * functions hold sim->lock; the others take it. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scopes ---- */

bool scope_word(const char *list, const char *word, size_t wlen)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == wlen && strncmp(p, word, wlen) == 0)
            return true;
        p = e;
    }
    return false;
}

/* "user/appointment.read" is also granted by the SMART v2 forms
 * "user/appointment.rs", ".cruds": read needs r or s, write c, u or d. */
bool scope_has(const char *scopes, const char *want)
{
    if (scope_word(scopes, want, strlen(want)))
        return true;
    const char *dot = strrchr(want, '.');
    if (!dot)
        return false;
    const char *need = strcmp(dot + 1, "read") == 0 ? "rs" : "cud";
    size_t plen = (size_t)(dot - want) + 1;
    const char *p = scopes;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > plen && strncmp(p, want, plen) == 0 && strspn(p + plen, "cruds") >= n - plen &&
            strcspn(p + plen, need) < n - plen)
            return true;
        p = e;
    }
    return false;
}

/* ---- clients ---- */

void oauth_client_add(struct sim *sim, json_t *c)
{
    const char *id = json_string_value(json_object_get(c, "client_id"));
    if (id)
        json_object_set(sim->oauth.clients, id, c);
}

int oauth_init(struct sim *sim)
{
    struct sim_oauth *o = &sim->oauth;
    oauth_free(o);
    o->clients = json_object();
    o->tokens = json_object();
    o->jtis = json_object();
    if (!o->clients || !o->tokens || !o->jtis)
        return -1;
    json_t *c;
    size_t i;
    json_array_foreach(sim->store.seed_clients, i, c)
    {
        json_t *copy = json_deep_copy(c);
        oauth_client_add(sim, copy);
        json_decref(copy);
    }
    return 0;
}

void oauth_free(struct sim_oauth *o)
{
    json_decref(o->clients);
    json_decref(o->tokens);
    json_decref(o->jtis);
    o->clients = o->tokens = o->jtis = NULL;
}

json_t *oauth_clients_json(struct sim *sim)
{
    pthread_mutex_lock(&sim->lock);
    json_t *copy = json_deep_copy(sim->oauth.clients);
    pthread_mutex_unlock(&sim->lock);
    return copy;
}

/* ---- tokens ---- */

void token_put(struct sim *sim, const char *tok, const char *kind, json_t *client,
               const char *username, const char *scope, long exp, bool system, const char *sid)
{
    json_t *rec =
        json_pack("{s:s,s:O,s:s?,s:s,s:I,s:b,s:b,s:s,s:b}", "kind", kind, "client_id",
                  json_object_get(client, "client_id"), "username", username, "scope", scope, "exp",
                  (json_int_t)exp, "revoked", 0, "system", system, "sid", sid, "spent", 0);
    json_object_set_new(sim->oauth.tokens, tok, rec);
}

json_t *token_rec(struct sim *sim, const char *tok, const char *kind)
{
    json_t *rec = tok ? json_object_get(sim->oauth.tokens, tok) : NULL;
    const char *k = json_string_value(json_object_get(rec, "kind"));
    return k && strcmp(k, kind) == 0 ? rec : NULL;
}

bool token_live(json_t *rec)
{
    return rec && !json_is_true(json_object_get(rec, "revoked")) &&
           !json_is_true(json_object_get(rec, "spent")) &&
           json_integer_value(json_object_get(rec, "exp")) > (json_int_t)time(NULL);
}

bool oauth_check(struct sim *sim, const char *authz, struct sim_token *out)
{
    memset(out, 0, sizeof(*out));
    if (!authz || strncmp(authz, "Bearer ", 7) != 0)
        return false;
    pthread_mutex_lock(&sim->lock);
    json_t *rec = token_rec(sim, authz + 7, "access");
    if (token_live(rec)) {
        out->valid = true;
        out->system = json_is_true(json_object_get(rec, "system"));
        const char *u = json_string_value(json_object_get(rec, "username"));
        snprintf(out->username, sizeof(out->username), "%s", u ? u : "");
        snprintf(out->client_id, sizeof(out->client_id), "%s",
                 json_string_value(json_object_get(rec, "client_id")));
        snprintf(out->scope, sizeof(out->scope), "%s",
                 json_string_value(json_object_get(rec, "scope")));
    }
    pthread_mutex_unlock(&sim->lock);
    return out->valid;
}

json_t *oauth_tokens_json(struct sim *sim)
{
    json_t *arr = json_array();
    const char *k;
    json_t *t;
    pthread_mutex_lock(&sim->lock);
    json_object_foreach(sim->oauth.tokens, k, t)
    {
        json_array_append_new(
            arr, json_pack("{s:s,s:O?}", "token", k, "kind", json_object_get(t, "kind")));
    }
    pthread_mutex_unlock(&sim->lock);
    return arr;
}

int oauth_admin(struct sim *sim, const char *what, const char *client_id)
{
    int n = 0;
    pthread_mutex_lock(&sim->lock);
    if (strcmp(what, "enable") == 0) {
        json_t *c = json_object_get(sim->oauth.clients, client_id);
        if (c) {
            json_object_set_new(c, "enabled", json_true());
            n = 1;
        }
    } else {
        bool revoke = strcmp(what, "revoke") == 0;
        const char *k;
        json_t *t;
        json_object_foreach(sim->oauth.tokens, k, t)
        {
            const char *kind = json_string_value(json_object_get(t, "kind"));
            if (revoke) {
                json_object_set_new(t, "revoked", json_true());
                n++;
            } else if (strcmp(kind, "access") == 0) {
                json_object_set_new(t, "exp", json_integer((json_int_t)time(NULL) - 1));
                n++;
            }
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return n;
}

/* ---- ACL ---- */

/* AclMain::aclCheckCore for the token's user, as RestConfig's
 * authorization_check asks it: the seed login's "acl" list holds
 * "section/value" strings; a login without that list may do everything.
 * System (client_credentials) tokens are not checked. */
static bool acl_allows(struct sim *sim, const struct sim_token *t, const char *acl)
{
    if (t->system)
        return true;
    bool ok = false;
    pthread_mutex_lock(&sim->lock);
    json_t *l;
    size_t i;
    json_array_foreach(sim->store.seed_logins, i, l)
    {
        const char *u = json_string_value(json_object_get(l, "username"));
        if (!u || strcmp(u, t->username) != 0)
            continue;
        json_t *list = json_object_get(l, "acl"), *a;
        size_t k;
        ok = !json_is_array(list);
        json_array_foreach(list, k, a) ok |=
            json_is_string(a) && strcmp(json_string_value(a), acl) == 0;
        break;
    }
    pthread_mutex_unlock(&sim->lock);
    return ok;
}

/* RestConfig::authorization_check refusing the user's ACL: 8.x throws
 * AccessDeniedHttpException, which ExceptionHandlerListener answers as 403
 * JSON; 7.0.x sent http_response_code(401) and exited: no body. */
bool acl_check(struct sim *sim, const struct sim_token *t, const char *acl, struct sim_resp *r)
{
    if (!QUIRK(sim, Q_ACL) || acl_allows(sim, t, acl))
        return true;
    if (sim->opts.profile.version == SIM_OE_703)
        resp_empty(r, 401);
    else
        resp_json(r, 403,
                  json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message",
                            "Organization policy does not have permit access resource", "code", 0));
    return false;
}
