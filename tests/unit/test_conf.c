/*
 * Unit tests of libtds/conf.c: the `key value` configuration reader.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "unit.h"

static void test_parse_ok(void)
{
        char err[256] = "";
        struct conf *c = conf_parse("t.conf",
                                    "# comment\n"
                                    "\n"
                                    "  alpha   one two  \n"
                                    "beta\t2\r\n"
                                    "kafka.bootstrap.servers 127.0.0.1:9092",
                                    err, sizeof(err));

        REQUIRE(c != NULL);
        CHECK(conf_count(c) == 3);
        CHECK_STR_EQ(conf_key(c, 0), "alpha");
        CHECK_STR_EQ(conf_value(c, 0), "one two");
        CHECK(conf_line(c, 0) == 3);
        CHECK_STR_EQ(conf_key(c, 1), "beta");
        CHECK_STR_EQ(conf_value(c, 1), "2");
        CHECK(conf_line(c, 1) == 4);
        CHECK_STR_EQ(conf_key(c, 2), "kafka.bootstrap.servers");
        CHECK_STR_EQ(conf_value(c, 2), "127.0.0.1:9092");
        CHECK(conf_line(c, 2) == 5);
        CHECK_STR_EQ(conf_name(c), "t.conf");
        conf_free(c);
}

static void test_parse_errors(void)
{
        char err[256] = "";
        char longline[5000];
        struct conf *c;

        c = conf_parse("t.conf", "a 1\nlonely\n", err, sizeof(err));
        CHECK(c == NULL);
        CHECK_STR_EQ(err, "t.conf:2: 'lonely' has no value");

        c = conf_parse("t.conf", "a 1\nb \x01x\n", err, sizeof(err));
        CHECK(c == NULL);
        CHECK_STR_EQ(err, "t.conf:2: control character in line");

        memset(longline, 'x', sizeof(longline) - 1);
        longline[sizeof(longline) - 1] = '\0';
        longline[1] = ' ';
        c = conf_parse("t.conf", longline, err, sizeof(err));
        CHECK(c == NULL);
        CHECK_STR_EQ(err, "t.conf:1: line too long");

        conf_free(NULL);
}

static void test_load_file(void)
{
        char path[] = "/tmp/tds-test-conf-XXXXXX";
        char err[256] = "";
        struct conf *c;
        FILE *f;
        int fd = mkstemp(path);

        REQUIRE(fd != -1);
        f = fdopen(fd, "w");
        REQUIRE(f != NULL);
        fputs("key value\n", f);
        fclose(f);
        c = conf_load(path, err, sizeof(err));
        CHECK_MSG(c != NULL, err);
        if (c != NULL)
                CHECK_STR_EQ(conf_value(c, 0), "value");
        conf_free(c);

        f = fopen(path, "w");
        REQUIRE(f != NULL);
        fwrite("k v\0x\n", 1, 6, f);
        fclose(f);
        c = conf_load(path, err, sizeof(err));
        CHECK(c == NULL);
        CHECK(strstr(err, "NUL byte") != NULL);
        remove(path);

        c = conf_load(path, err, sizeof(err));
        CHECK(c == NULL);
        CHECK(strstr(err, "No such file") != NULL);
}

static void test_numbers(void)
{
        char err[256] = "";
        long v = 0;
        int b = -1;

        CHECK(conf_parse_long("600", 1, 86400, &v, err, sizeof(err)) == 0);
        CHECK(v == 600);
        CHECK(conf_parse_long("0", 1, 86400, &v, err, sizeof(err)) == -1);
        CHECK_STR_EQ(err, "0 is out of range [1, 86400]");
        CHECK(conf_parse_long("12x", 1, 100, &v, err, sizeof(err)) == -1);
        CHECK(conf_parse_long("", 1, 100, &v, err, sizeof(err)) == -1);
        CHECK(conf_parse_long(" 5", 1, 100, &v, err, sizeof(err)) == -1);
        CHECK(conf_parse_long("99999999999999999999", 1, 100, &v, err,
                              sizeof(err)) == -1);
        CHECK(conf_parse_bool("yes", &b, err, sizeof(err)) == 0 && b == 1);
        CHECK(conf_parse_bool("off", &b, err, sizeof(err)) == 0 && b == 0);
        CHECK(conf_parse_bool("maybe", &b, err, sizeof(err)) == -1);
}

int main(void)
{
        test_parse_ok();
        test_parse_errors();
        test_load_file();
        test_numbers();
        return unit_done("test_conf");
}
