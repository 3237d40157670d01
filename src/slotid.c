/* slotid.c - slot ids: base64url of a small versioned record. */
#include "slotid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

sw_err slotid_encode(const char *practitioner_id, int64_t start, const char *type, char *buf,
                     size_t len)
{
    char raw[160];
    int n = snprintf(raw, sizeof(raw), "v1|%s|%lld|%s", practitioner_id, (long long)start, type);
    if (n < 0 || (size_t)n >= sizeof(raw) || ((size_t)n + 2) / 3 * 4 + 1 > len)
        return SW_ERR_INVALID;
    size_t o = 0;
    for (int i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)raw[i + 2];
        buf[o++] = alphabet[(v >> 18) & 63];
        buf[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < n)
            buf[o++] = alphabet[(v >> 6) & 63];
        if (i + 2 < n)
            buf[o++] = alphabet[v & 63];
    }
    buf[o] = '\0';
    return SW_OK;
}

static int sextet(char c)
{
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

sw_err slotid_decode(const char *id, char *practitioner_id, size_t pract_len, int64_t *start,
                     char *type, size_t type_len)
{
    char raw[160];
    size_t n = strlen(id), o = 0;
    if (n == 0 || n % 4 == 1 || n / 4 * 3 + 3 >= sizeof(raw))
        return SW_ERR_INVALID;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        size_t k;
        for (k = 0; k < 4 && i + k < n; k++) {
            int s = sextet(id[i + k]);
            if (s < 0)
                return SW_ERR_INVALID;
            v |= (uint32_t)s << (18 - 6 * k);
        }
        raw[o++] = (char)(v >> 16);
        if (k > 2)
            raw[o++] = (char)(v >> 8);
        if (k > 3)
            raw[o++] = (char)v;
    }
    raw[o] = '\0';
    if (memchr(raw, '\0', o))
        return SW_ERR_INVALID;
    /* v1|practitioner|start|type */
    char *p1 = strchr(raw, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
    char *p3 = p2 ? strchr(p2 + 1, '|') : NULL;
    if (!p3 || strncmp(raw, "v1|", 3) != 0 || strchr(p3 + 1, '|'))
        return SW_ERR_INVALID;
    size_t plen = (size_t)(p2 - p1 - 1), tlen = strlen(p3 + 1);
    if (plen == 0 || plen >= pract_len || tlen == 0 || tlen >= type_len)
        return SW_ERR_INVALID;
    char *end;
    errno = 0;
    long long t = strtoll(p2 + 1, &end, 10);
    if (errno || end != p3 || end == p2 + 1)
        return SW_ERR_INVALID;
    memcpy(practitioner_id, p1 + 1, plen);
    practitioner_id[plen] = '\0';
    memcpy(type, p3 + 1, tlen + 1);
    *start = t;
    /* Canonical form only (no stray bits in the last symbol). */
    char again[200];
    if (slotid_encode(practitioner_id, t, type, again, sizeof(again)) || strcmp(again, id))
        return SW_ERR_INVALID;
    return SW_OK;
}
