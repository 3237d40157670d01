/* test_scopes.c - the scopes each surface asks for, and the check against
 * a server's scopes_supported: OpenEMR's nested SMART list, 8.x's
 * containment rule (ScopeEntity::containsScope) and 7.0.x's exact one, a
 * refused scope named in the error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "scopes.h"

static json_t *list_of(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL), *flat = json_array();
    assert_non_null(doc);
    scopes_flatten(doc, flat);
    json_decref(doc);
    return flat;
}

static void test_surface_scopes(void **state)
{
    (void)state;
    struct sw_config cfg;
    char err[256];
    assert_int_equal(sw_config_load(&cfg, NULL, stderr), SW_OK);
    const char *s = sw_scope_user(&cfg); /* openemr: no FHIR write */
    assert_non_null(strstr(s, "user/Appointment.read"));
    assert_non_null(strstr(s, "user/appointment.write"));
    assert_null(strstr(s, "user/Appointment.write"));
    assert_true(sw_config_set(&cfg, "openemr.surface", "fhir-scheduling", err, sizeof(err)));
    s = sw_scope_user(&cfg);
    assert_non_null(strstr(s, "user/Appointment.write"));
    assert_null(strstr(s, "api:oemr"));
    assert_true(sw_config_set(&cfg, "oauth.scope", "openid api:fhir", err, sizeof(err)));
    assert_string_equal(sw_scope_user(&cfg), "openid api:fhir");
    sw_config_free(&cfg);
}

static void test_nested_list(void **state)
{
    (void)state;
    /* SMARTConfigurationController writes [[...]] */
    json_t *l = list_of("[[\"openid\",\"user/Patient.read\"],\"api:fhir\"]");
    assert_int_equal(json_array_size(l), 3);
    assert_int_equal(scope_judge("openid", l), SCOPE_LISTED);
    assert_int_equal(scope_judge("user/Patient.read", l), SCOPE_LISTED);
    json_decref(l);
}

static void test_judge(void **state)
{
    (void)state;
    json_t *l = list_of("[\"openid\",\"api:fhir\",\"user/Appointment.read\",\"user/Patient.rs\","
                        "\"user/Patient.write\"]");
    assert_int_equal(scope_judge("user/Appointment.read", l), SCOPE_LISTED);
    /* 8.x: a v1 form is contained by any listed scope of the resource */
    assert_int_equal(scope_judge("user/Appointment.write", l), SCOPE_CONTAINED);
    assert_int_equal(scope_judge("user/Patient.r", l), SCOPE_CONTAINED);
    assert_int_equal(scope_judge("user/Patient.c", l), SCOPE_REFUSED);
    assert_int_equal(scope_judge("user/Slot.read", l), SCOPE_REFUSED);
    assert_int_equal(scope_judge("system/Appointment.read", l), SCOPE_REFUSED);
    assert_int_equal(scope_judge("api:oemr", l), SCOPE_REFUSED);
    json_decref(l);
}

static void test_check_names_each_refused_scope(void **state)
{
    (void)state;
    char err[512] = "", warn[256] = "x";
    json_t *l = list_of("[\"openid\",\"api:fhir\",\"user/Appointment.read\"]");
    assert_int_equal(scopes_check("openid api:fhir user/Appointment.read", l, err, sizeof(err),
                                  warn, sizeof(warn)),
                     SW_OK);
    assert_string_equal(warn, "");
    assert_int_equal(
        scopes_check("openid  user/Appointment.write", l, err, sizeof(err), warn, sizeof(warn)),
        SW_OK);
    assert_string_equal(warn, "user/Appointment.write");
    assert_int_equal(scopes_check("openid user/Slot.read api:oemr user/Appointment.read", l, err,
                                  sizeof(err), NULL, 0),
                     SW_ERR_CONFIG);
    assert_non_null(strstr(err, "user/Slot.read api:oemr"));
    assert_null(strstr(err, "openid"));
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_surface_scopes),
        cmocka_unit_test(test_nested_list),
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_check_names_each_refused_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
