/* CSV reader: header and columns by name, quoting, blank lines, and error messages with file:line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/csv.h"

static char tmp_path[512];

static const char *write_tmp(const char *name, const char *content)
{
    const char *dir = getenv("TMPDIR_TESTS");
    snprintf(tmp_path, sizeof tmp_path, "%s/%s", dir && *dir ? dir : "/tmp", name);
    FILE *f = fopen(tmp_path, "wb");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    return tmp_path;
}

static void test_read_columns(void)
{
    const char *p = write_tmp("csv_ok.csv", "id,time,\"event\",note\n"
                                            "a, 1.5 ,1,\"x, y\"\n"
                                            "\n"
                                            "b,2e3,0,\"multi\nline\"\n"
                                            "c,-0.25,1.0,z");
    lr_csv *t = NULL;
    lr_err err = {0};
    CHECK_MSG(lr_csv_read(p, &t, &err) == 0, "%s", err.msg);
    if (!t) return;
    CHECK(t->n_cols == 4 && t->n_rows == 3);
    double time[3];
    int event[3];
    CHECK(lr_csv_column_double(t, "time", time, &err) == 0);
    CHECK(time[0] == 1.5 && time[1] == 2000.0 && time[2] == -0.25);
    CHECK(lr_csv_column_binary(t, "event", event, &err) == 0);
    CHECK(event[0] == 1 && event[1] == 0 && event[2] == 1);
    CHECK(!strcmp(lr_csv_cell(t, 0, 3), "x, y"));
    CHECK(!strcmp(lr_csv_cell(t, 1, 3), "multi\nline"));
    CHECK(t->row_line[0] == 2 && t->row_line[2] == 6);
    CHECK(lr_csv_column(t, "nope", &err) == -1);
    CHECK(strstr(err.msg, "no column 'nope'") != NULL);
    lr_csv_free(t);
}

static void expect_error(const char *name, const char *content, const char *column, int binary,
                         const char *fragment)
{
    const char *p = write_tmp(name, content);
    lr_csv *t = NULL;
    lr_err err = {0};
    int rc = lr_csv_read(p, &t, &err);
    if (rc == 0 && column) {
        double v[16];
        int e[16];
        rc = binary ? lr_csv_column_binary(t, column, e, &err) : lr_csv_column_double(t, column, v, &err);
    }
    CHECK_MSG(rc == -1, "%s: expected an error", name);
    CHECK_MSG(strstr(err.msg, fragment) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, fragment);
    lr_csv_free(t);
}

static void test_errors(void)
{
    expect_error("empty.csv", "", NULL, 0, "empty file");
    expect_error("header_only.csv", "a,b\n", NULL, 0, "no data rows");
    expect_error("ragged.csv", "a,b\n1,2\n3\n", NULL, 0, "ragged.csv:3: row has 1 fields");
    expect_error("dup.csv", "a,a\n1,2\n", NULL, 0, "twice");
    expect_error("nan.csv", "a,b\n1,2\nNaN,3\n", "a", 0, "nan.csv:3: column 'a' (column 1): 'NaN'");
    expect_error("text.csv", "a,b\n1,2\n3,x\n", "b", 0, "text.csv:3: column 'b' (column 2): 'x'");
    expect_error("blank.csv", "a,b\n1,\n", "b", 0, "blank.csv:2: column 'b'");
    expect_error("event.csv", "a,e\n1,0\n2,2\n", "e", 1, "event.csv:3: column 'e' (column 2): '2' is not 0 or 1");
    expect_error("quote.csv", "a,b\n\"1,2\n", NULL, 0, "malformed");
    lr_csv *t = NULL;
    lr_err err = {0};
    CHECK(lr_csv_read("/nonexistent/x.csv", &t, &err) == -1 && strstr(err.msg, "cannot open"));
}

int main(void)
{
    RUN(test_read_columns);
    RUN(test_errors);
    return TEST_SUMMARY();
}
