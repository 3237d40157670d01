/* authcmd.h - the one-time OAuth commands an operator runs by hand.
 *
 *   schedworker auth login --config FILE
 *       authorization_code with PKCE (S256): prints the authorize URL, waits
 *       for the browser's redirect on oauth.redirect_uri (a loopback port),
 *       exchanges the code and writes the refresh token to
 *       oauth.refresh_token_file (mode 0600), from which the fleet seeds its
 *       shared token.
 *   schedworker auth register --config FILE [NAME]
 *       registers a confidential client (with the JWKS of
 *       oauth.private_key_file when set), writes the client secret to
 *       oauth.client_secret_file (mode 0600) and says that an OpenEMR admin
 *       must enable the client before it can get tokens. */
#ifndef SW_AUTHCMD_H
#define SW_AUTHCMD_H

#include "config.h"

int authcmd_login(const struct sw_config *cfg, int timeout_s);
int authcmd_register(const struct sw_config *cfg, const char *client_name);

#endif
