/* ids.h - the forms in which a command may name a patient or practitioner,
 * before the EHR resolves them to the one canonical id (pure).
 *
 * Accepted: the FHIR id (on OpenEMR a uuid; on a FHIR scheduling server any
 * FHIR id), the same as a reference ("Patient/<id>"; for a practitioner
 * "Practitioner/<id>" or OpenEMR's "Person/<id>"), and on OpenEMR the
 * numeric id its own screens show (pid, or the user id of a provider).
 * Normalised: a reference loses its type, a uuid is lower-cased, a number
 * loses its leading zeros ("007" is 7).  Anything else, a reference of the
 * wrong type, whitespace, or a zero, is SW_ERR_INVALID. */
#ifndef SW_IDS_H
#define SW_IDS_H

#include <stdbool.h>

#include "errors.h"

#define ID_MAX 64 /* with the NUL */

enum id_kind { ID_PATIENT, ID_PRACTITIONER };
enum id_form {
    ID_FORM_UUID,    /* 8-4-4-4-12 hexadecimal */
    ID_FORM_NUMERIC, /* 1..18 digits, not zero */
    ID_FORM_FHIR,    /* any other FHIR id: [A-Za-z0-9.-]{1,64} */
};

sw_err ids_normalize(enum id_kind kind, const char *raw, char out[ID_MAX], enum id_form *form);

/* Whether s is one or more ASCII digits (a numeric OpenEMR id: pid,
 * user id, pc_eid), as OpenEMR prints them. */
bool ids_is_digits(const char *s);

/* "patient" / "practitioner". */
const char *ids_kind_name(enum id_kind kind);

#endif
