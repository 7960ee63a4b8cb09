/*
 * ids: the boundaries of user, file_id and msg_id, generated ids, and the
 * one RFC 3339 form of times.
 */
#include "ids.h"
#include "unit.h"

static void test_user(void)
{
        char s[80], err[128] = "";

        memset(s, 'a', 64);
        s[64] = '\0';
        CHECK(ids_check_user(s, err, sizeof(err)) == 0);
        s[64] = 'a';
        s[65] = '\0';
        CHECK(ids_check_user(s, err, sizeof(err)) == -1);
        CHECK(err[0] != '\0');
        CHECK(ids_check_user("a", NULL, 0) == 0);
        CHECK(ids_check_user("alice.b_c-9", NULL, 0) == 0);
        CHECK(ids_check_user("...", NULL, 0) == 0);
        CHECK(ids_check_user(".alice", NULL, 0) == 0);
        CHECK(ids_check_user("", NULL, 0) == -1);
        CHECK(ids_check_user(NULL, NULL, 0) == -1);
        CHECK(ids_check_user("Alice", NULL, 0) == -1);
        CHECK(ids_check_user("alicE", NULL, 0) == -1);
        /* Path components "here" and "parent". */
        CHECK(ids_check_user(".", NULL, 0) == -1);
        CHECK(ids_check_user("..", NULL, 0) == -1);
        CHECK(ids_check_user("a/b", NULL, 0) == -1);
        CHECK(ids_check_user("a b", NULL, 0) == -1);
        CHECK(ids_check_user("a+b", NULL, 0) == -1);
        CHECK(ids_check_user("al\xc3\xaf"
                             "ce",
                             NULL, 0) == -1);
        CHECK(ids_check_user("alice\n", NULL, 0) == -1);
}

static void test_file_id(void)
{
        char s[80], err[128] = "";

        memset(s, 'Z', 64);
        s[64] = '\0';
        CHECK(ids_check_file_id(s, err, sizeof(err)) == 0);
        s[64] = 'Z';
        s[65] = '\0';
        CHECK(ids_check_file_id(s, err, sizeof(err)) == -1);
        CHECK(ids_check_file_id("f1", NULL, 0) == 0);
        CHECK(ids_check_file_id("Report-2024_v2.PDF", NULL, 0) == 0);
        CHECK(ids_check_file_id("..a", NULL, 0) == 0);
        CHECK(ids_check_file_id("", NULL, 0) == -1);
        CHECK(ids_check_file_id(NULL, NULL, 0) == -1);
        CHECK(ids_check_file_id(".", NULL, 0) == -1);
        CHECK(ids_check_file_id("..", NULL, 0) == -1);
        CHECK(ids_check_file_id("../etc", NULL, 0) == -1);
        CHECK(ids_check_file_id("/etc", NULL, 0) == -1);
        CHECK(ids_check_file_id("a\\b", NULL, 0) == -1);
        CHECK(ids_check_file_id("a:b", NULL, 0) == -1);
}

static void test_msg_id(void)
{
        CHECK(ids_check_msg_id("0123456789abcdef0123456789abcdef", NULL, 0) ==
              0);
        CHECK(ids_check_msg_id("0123456789abcdef0123456789abcde", NULL, 0) ==
              -1);
        CHECK(ids_check_msg_id("0123456789abcdef0123456789abcdef0", NULL, 0) ==
              -1);
        CHECK(ids_check_msg_id("0123456789ABCDEF0123456789abcdef", NULL, 0) ==
              -1);
        CHECK(ids_check_msg_id("0123456789abcdef0123456789abcdeg", NULL, 0) ==
              -1);
        CHECK(ids_check_msg_id("", NULL, 0) == -1);
        CHECK(ids_check_msg_id(NULL, NULL, 0) == -1);
}

static void test_generated(void)
{
        char a[IDS_MSG_ID_LEN + 1], b[IDS_MSG_ID_LEN + 1];
        char u[IDS_UUID_LEN + 1], v[IDS_UUID_LEN + 1];
        char err[256] = "";
        int i;

        CHECK_MSG(ids_msg_id_new(a, err, sizeof(err)) == 0, err);
        CHECK_MSG(ids_msg_id_new(b, err, sizeof(err)) == 0, err);
        CHECK(strlen(a) == IDS_MSG_ID_LEN);
        CHECK(ids_check_msg_id(a, NULL, 0) == 0);
        CHECK(strcmp(a, b) != 0);

        CHECK_MSG(ids_uuid_new(u, err, sizeof(err)) == 0, err);
        CHECK_MSG(ids_uuid_new(v, err, sizeof(err)) == 0, err);
        CHECK(strlen(u) == IDS_UUID_LEN);
        CHECK(strcmp(u, v) != 0);
        CHECK(ids_check_file_id(u, NULL, 0) == 0);
        for (i = 0; i < IDS_UUID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23)
                        CHECK(u[i] == '-');
                else
                        CHECK((u[i] >= '0' && u[i] <= '9') ||
                              (u[i] >= 'a' && u[i] <= 'f'));
        }
        CHECK(u[14] == '4');
        CHECK(strchr("89ab", u[19]) != NULL);
}

static void check_time(time_t t, const char *want)
{
        char out[IDS_TIME_LEN + 1], err[128] = "";
        time_t back = 0;

        CHECK_MSG(ids_time_format(t, out, err, sizeof(err)) == 0, err);
        CHECK_STR_EQ(out, want);
        CHECK_MSG(ids_time_parse(want, &back, err, sizeof(err)) == 0, err);
        CHECK(back == t);
}

static void check_bad_time(const char *s)
{
        time_t t = 42;
        char err[128] = "";

        CHECK_MSG(ids_time_parse(s, &t, err, sizeof(err)) == -1, s);
        CHECK(t == 42);
        CHECK(err[0] != '\0');
}

static void test_time(void)
{
        char out[IDS_TIME_LEN + 1];
        struct tm tm;
        time_t t, back;

        check_time(0, "1970-01-01T00:00:00Z");
        check_time(-1, "1969-12-31T23:59:59Z");
        check_time(951782400, "2000-02-29T00:00:00Z");
        check_time(1700000000, "2023-11-14T22:13:20Z");
        check_time(1709164800, "2024-02-29T00:00:00Z");
        check_time(253402300799, "9999-12-31T23:59:59Z");
        CHECK(ids_time_format(253402300800, out, NULL, 0) == -1);

        /* Round trip over 130 years, checked against gmtime_r. */
        for (t = -86400 * 365; t < (time_t)4102444800; t += 7919 * 997) {
                CHECK(ids_time_format(t, out, NULL, 0) == 0);
                CHECK(gmtime_r(&t, &tm) != NULL);
                CHECK(tm.tm_sec == (out[17] - '0') * 10 + out[18] - '0');
                back = 0;
                CHECK(ids_time_parse(out, &back, NULL, 0) == 0);
                CHECK(back == t);
        }

        check_bad_time("2023-11-14T22:13:20+00:00");
        check_bad_time("2023-11-14T22:13:20");
        check_bad_time("2023-11-14T22:13:20z");
        check_bad_time("2023-11-14t22:13:20Z");
        check_bad_time("2023-11-14 22:13:20Z");
        check_bad_time("2023-11-14T22:13:20.5Z");
        check_bad_time("2023-11-14T22:13:20Z ");
        check_bad_time(" 2023-11-14T22:13:20Z");
        check_bad_time("2023-1-14T22:13:20Z");
        check_bad_time("2023-11-14T2:13:20Z");
        check_bad_time("+023-11-14T22:13:20Z");
        check_bad_time("2023-11-1xT22:13:20Z");
        check_bad_time("2023-13-01T00:00:00Z");
        check_bad_time("2023-00-01T00:00:00Z");
        check_bad_time("2023-01-00T00:00:00Z");
        check_bad_time("2023-04-31T00:00:00Z");
        check_bad_time("2023-02-29T00:00:00Z");
        check_bad_time("1900-02-29T00:00:00Z");
        check_bad_time("2023-11-14T24:00:00Z");
        check_bad_time("2023-11-14T23:60:00Z");
        check_bad_time("2016-12-31T23:59:60Z");
        check_bad_time("2023-11-14");
        check_bad_time("");
        check_bad_time(NULL);
}

int main(void)
{
        test_user();
        test_file_id();
        test_msg_id();
        test_generated();
        test_time();
        return unit_done("test_ids");
}
