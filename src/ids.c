/* ids.c - the accepted forms of patient and practitioner ids (ids.h). */
#include "ids.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

static bool is_fhir_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* The part after a reference's type, or s itself; NULL for a reference of
 * another type. */
static const char *strip_reference(enum id_kind kind, const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return s;
    size_t n = (size_t)(slash - s);
    static const char *const patient[] = {"Patient", NULL};
    static const char *const practitioner[] = {"Practitioner", "Person", NULL};
    for (const char *const *t = kind == ID_PATIENT ? patient : practitioner; *t; t++)
        if (strlen(*t) == n && !strncmp(s, *t, n))
            return slash + 1;
    return NULL;
}

sw_err ids_normalize(enum id_kind kind, const char *raw, char out[ID_MAX], enum id_form *form)
{
    out[0] = '\0';
    const char *s = raw ? strip_reference(kind, raw) : NULL;
    if (!s || !is_fhir_id(s))
        return SW_ERR_INVALID;
    if (is_uuid(s)) {
        for (int i = 0; i < 36; i++)
            out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + ('a' - 'A') : s[i]);
        out[36] = '\0';
        *form = ID_FORM_UUID;
        return SW_OK;
    }
    size_t n = strlen(s), digits = strspn(s, "0123456789");
    if (digits == n) {
        while (*s == '0')
            s++;
        if (!*s || strlen(s) > 18)
            return SW_ERR_INVALID;
        snprintf(out, ID_MAX, "%s", s);
        *form = ID_FORM_NUMERIC;
        return SW_OK;
    }
    snprintf(out, ID_MAX, "%s", s);
    *form = ID_FORM_FHIR;
    return SW_OK;
}

bool ids_is_digits(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

const char *ids_kind_name(enum id_kind kind)
{
    return kind == ID_PATIENT ? "patient" : "practitioner";
}
