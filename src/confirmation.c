/* confirmation.c - phone-friendly confirmation numbers (see confirmation.h). */
#include "confirmation.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MOD     17
#define INV7    5 /* 7 * 5 = 35 = 1 mod 17 */
#define PAYLOAD 6

static const char alphabet[] = CONFIRM_ALPHABET;

/* Value of an upper-case symbol or look-alike, -1 if none. */
static int symbol_value(char c)
{
    static const struct {
        char from, to;
    } alike[] = {{'O', '0'}, {'Q', '0'}, {'I', '1'}, {'L', '1'}, {'Z', '2'},
                 {'S', '5'}, {'G', '6'}, {'T', '7'}, {'B', '8'}};
    for (size_t i = 0; i < sizeof alike / sizeof alike[0]; i++)
        if (c == alike[i].from)
            c = alike[i].to;
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

/* Sum of (i + 1) * v[i] over the first n values, mod 17. */
static int weighted(const int *v, int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s = (s + (i + 1) * v[i]) % MOD;
    return s;
}

static void render(const int *v, char *buf)
{
    int k = 0;
    for (int i = 0; i < CONFIRM_SYMBOLS; i++) {
        if (i == 3)
            buf[k++] = '-';
        buf[k++] = alphabet[v[i]];
    }
    buf[k] = '\0';
}

sw_err confirm_generate(uint64_t random, char *buf, size_t len)
{
    uint32_t payload = (uint32_t)(random & 0xFFFFFF);
    int v[CONFIRM_SYMBOLS];
    if (!buf || len < CONFIRM_TEXT_LEN)
        return SW_ERR_INVALID;
    /* Consecutive payloads differ in their weighted sum, so at most a few
     * steps find one whose check value is a symbol (not 16). */
    for (int attempt = 0; attempt < MOD; attempt++) {
        for (int i = 0; i < PAYLOAD; i++)
            v[i] = (int)((payload >> (4 * (PAYLOAD - 1 - i))) & 0xF);
        int check = (MOD - weighted(v, PAYLOAD)) % MOD * INV7 % MOD;
        if (check < 16) {
            v[PAYLOAD] = check;
            render(v, buf);
            return SW_OK;
        }
        payload = (payload + 1) & 0xFFFFFF;
    }
    return SW_ERR_INTERNAL;
}

sw_err confirm_decode(const char *in, char *canonical, size_t len)
{
    int v[CONFIRM_SYMBOLS], n = 0;
    if (!in || strnlen(in, CONFIRM_MAX_INPUT + 1) > CONFIRM_MAX_INPUT)
        return SW_ERR_INVALID;
    if (canonical && len < CONFIRM_TEXT_LEN)
        return SW_ERR_INVALID;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '-' || c == '.')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        int val = symbol_value(c);
        if (val < 0 || n == CONFIRM_SYMBOLS)
            return SW_ERR_INVALID;
        v[n++] = val;
    }
    if (n != CONFIRM_SYMBOLS || weighted(v, CONFIRM_SYMBOLS) != 0)
        return SW_ERR_INVALID;
    if (canonical)
        render(v, canonical);
    return SW_OK;
}

bool confirm_is_valid(const char *in)
{
    return confirm_decode(in, NULL, 0) == SW_OK;
}

sw_err confirm_derive(const unsigned char key[32], const char *request_id, int k, char *buf,
                      size_t len)
{
    unsigned char mac[EVP_MAX_MD_SIZE], msg[256];
    unsigned int n = 0;
    if (!key || !request_id || k < 0)
        return SW_ERR_INVALID;
    int m = snprintf((char *)msg, sizeof(msg), "schedworker confirmation v1%c%s%c%d", 0, request_id,
                     0, k);
    if (m < 0 || (size_t)m >= sizeof(msg))
        return SW_ERR_INVALID;
    if (!HMAC(EVP_sha256(), key, 32, msg, (size_t)m, mac, &n) || n < 4)
        return SW_ERR_INTERNAL;
    uint64_t bits = (uint64_t)mac[0] << 16 | (uint64_t)mac[1] << 8 | mac[2];
    return confirm_generate(bits, buf, len);
}
