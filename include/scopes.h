/* scopes.h - which OAuth scopes the worker asks for, and whether the
 * server offers them.
 *
 * oauth.scope empty (the default) asks for exactly what the configured
 * surface uses (docs/openemr-client.md lists each request and its scope);
 * before a grant that names scopes (password, client_credentials), a
 * registration or a login, each scope is checked against the server's
 * discovery documents (scopes_supported of
 * /oauth2/SITE/.well-known/openid-configuration and of
 * /apis/SITE/fhir/.well-known/smart-configuration, which OpenEMR nests in
 * a second array), so a scope OpenEMR would refuse with invalid_scope is
 * named before anything is sent. */
#ifndef SW_SCOPES_H
#define SW_SCOPES_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "errors.h"
#include "http.h"

/* oauth.scope, or the surface's own list when it is empty. */
const char *sw_scope_user(const struct sw_config *cfg);
/* oauth.system_scope (client_credentials). */
const char *sw_scope_system(const struct sw_config *cfg);

enum scope_verdict {
    SCOPE_LISTED,    /* listed verbatim: every version grants it */
    SCOPE_CONTAINED, /* 8.x grants it (ScopeEntity::containsScope: a listed scope of the same
                      * context and resource), 7.0.x's exact check refuses it */
    SCOPE_REFUSED,   /* no version would grant it */
};

/* Adds every string of scopes_supported (an array, or arrays in an array as
 * OpenEMR's SMART configuration writes it) to into. */
void scopes_flatten(json_t *scopes_supported, json_t *into);

/* One requested scope against the server's list (flat array). */
enum scope_verdict scope_judge(const char *scope, json_t *supported);

/* Checks the space separated requested scopes against supported: SW_OK, or
 * SW_ERR_CONFIG with errstr naming each refused scope.  *warn (may be
 * NULL) gets the scopes only 8.x's rule accepts ("" none). */
sw_err scopes_check(const char *requested, json_t *supported, char *errstr, size_t errlen,
                    char *warn, size_t warnlen);

/* Fetches both discovery documents and checks requested against the union
 * of their lists.  SW_OK also when no document could be read (the server
 * then decides; *checked false). */
sw_err scopes_verify(const struct sw_config *cfg, struct http_client *http, const char *requested,
                     bool *checked, char *errstr, size_t errlen);

#endif
