/* Shared by the unit tests of positioned parsers: check a parse result against the expected
 * return code, column and message prefix, printing all of it on a mismatch. Include after
 * <cmocka.h>. */
#ifndef MT_TEST_PARSE_ASSERT_H
#define MT_TEST_PARSE_ASSERT_H

#include <string.h>

#include "mortar/error.h"

static void assert_parse_err(const char *in, int rc, const mt_parse_err_t *err, int want_rc,
                             int want_col, const char *want_msg)
{
    if (rc != want_rc || err->col != want_col || strncmp(err->msg, want_msg, strlen(want_msg)) != 0)
        print_error("'%s': rc %d col %d msg '%s'; want rc %d col %d msg '%s'\n", in, rc, err->col,
                    err->msg, want_rc, want_col, want_msg);
    assert_int_equal(rc, want_rc);
    assert_int_equal(err->col, want_col);
    assert_true(strncmp(err->msg, want_msg, strlen(want_msg)) == 0);
}

#endif
