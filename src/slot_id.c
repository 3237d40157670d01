/* slot_id.c - stateless slot tokens (see slot_id.h). */
#include "slot_id.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define RAW_MAX 120 /* "s1|" + 63 + "|" + 12 + "|" + 31 = 111 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool practitioner_ok(const char *s, size_t n)
{
    if (n < 1 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '|')
            return false;
    return true;
}

static bool type_ok(const char *s, size_t n)
{
    if (n < 1 || n > 31)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

/* 1..12 digits, no leading zero, into *out. */
static bool start_ok(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n < 1 || n > 12 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

sw_err slot_id_encode(const struct slot_ref *ref, char *buf, size_t len)
{
    char raw[RAW_MAX];
    if (!ref || !buf || len < SLOT_ID_MAX || ref->start <= 0 || ref->start > 999999999999LL)
        return SW_ERR_INVALID;
    size_t pn = strnlen(ref->practitioner_id, sizeof ref->practitioner_id);
    size_t tn = strnlen(ref->appointment_type, sizeof ref->appointment_type);
    if (!practitioner_ok(ref->practitioner_id, pn) || !type_ok(ref->appointment_type, tn))
        return SW_ERR_INVALID;
    int n = snprintf(raw, sizeof raw, "s1|%s|%lld|%s", ref->practitioner_id, (long long)ref->start,
                     ref->appointment_type);
    if (n < 0 || (size_t)n >= sizeof raw)
        return SW_ERR_INVALID;
    size_t k = 0;
    for (int i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
        int have = n - i >= 3 ? 3 : n - i;
        if (have > 1)
            v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
        if (have > 2)
            v |= (unsigned char)raw[i + 2];
        buf[k++] = b64[(v >> 18) & 63];
        buf[k++] = b64[(v >> 12) & 63];
        if (have > 1)
            buf[k++] = b64[(v >> 6) & 63];
        if (have > 2)
            buf[k++] = b64[v & 63];
    }
    buf[k] = '\0';
    return SW_OK;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

sw_err slot_id_decode(const char *token, struct slot_ref *out)
{
    char raw[RAW_MAX];
    size_t tl, rn = 0;
    if (!token || !out)
        return SW_ERR_INVALID;
    tl = strnlen(token, SLOT_ID_MAX);
    if (tl == 0 || tl >= SLOT_ID_MAX || tl % 4 == 1)
        return SW_ERR_INVALID;
    for (size_t i = 0; i < tl; i += 4) {
        size_t have = tl - i >= 4 ? 4 : tl - i;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = j < have ? b64_value(token[i + j]) : 0;
            if (d < 0)
                return SW_ERR_INVALID;
            v = v << 6 | (uint32_t)d;
        }
        /* the bits a short group does not use must be zero (canonical) */
        if ((have == 2 && (v & 0xFFFF)) || (have == 3 && (v & 0xFF)))
            return SW_ERR_INVALID;
        raw[rn++] = (char)(v >> 16);
        if (have > 2)
            raw[rn++] = (char)(v >> 8);
        if (have > 3)
            raw[rn++] = (char)v;
    }
    /* fields: "s1" | practitioner | start | type */
    const char *f[4];
    size_t fl[4], nf = 0, from = 0;
    for (size_t i = 0; i <= rn; i++) {
        if (i == rn || raw[i] == '|') {
            if (nf == 4)
                return SW_ERR_INVALID;
            f[nf] = raw + from;
            fl[nf++] = i - from;
            from = i + 1;
        }
    }
    struct slot_ref r;
    if (nf != 4 || fl[0] != 2 || memcmp(f[0], "s1", 2) != 0 || !practitioner_ok(f[1], fl[1]) ||
        !start_ok(f[2], fl[2], &r.start) || !type_ok(f[3], fl[3]))
        return SW_ERR_INVALID;
    memcpy(r.practitioner_id, f[1], fl[1]);
    r.practitioner_id[fl[1]] = '\0';
    memcpy(r.appointment_type, f[3], fl[3]);
    r.appointment_type[fl[3]] = '\0';
    *out = r;
    return SW_OK;
}
