/*
 * ids: identifiers and times of the contract.
 */
#include "ids.h"

#include "crypto.h"
#include "errbuf.h"
#include "hex.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Shared check of user and file_id.  "." and ".." match the character class
 * but are refused: both names end up as path components (incoming and
 * object paths, per-user directories), where they would mean "here" and
 * "the parent".  A valid name must never need escaping to be a safe path
 * component.
 */
static int ids_check_name(const char *what, const char *s, int upper_ok,
                          size_t max, char *err, size_t errlen)
{
        size_t i;
        char c;

        if (s == NULL || s[0] == '\0') {
                errbuf_set(err, errlen, "%s is empty", what);
                return -1;
        }
        for (i = 0; s[i] != '\0'; i++) {
                if (i >= max) {
                        errbuf_set(err, errlen, "%s is longer than %zu", what,
                                   max);
                        return -1;
                }
                c = s[i];
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' ||
                    (upper_ok && c >= 'A' && c <= 'Z'))
                        continue;
                errbuf_set(err, errlen, "%s has an invalid character at %zu",
                           what, i);
                return -1;
        }
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
                errbuf_set(err, errlen, "%s may not be \"%s\"", what, s);
                return -1;
        }
        return 0;
}

int ids_check_user(const char *s, char *err, size_t errlen)
{
        return ids_check_name("user", s, 0, IDS_USER_MAX, err, errlen);
}

int ids_check_file_id(const char *s, char *err, size_t errlen)
{
        return ids_check_name("file_id", s, 1, IDS_FILE_ID_MAX, err, errlen);
}

int ids_check_msg_id(const char *s, char *err, size_t errlen)
{
        if (!hex_is_lower(s, IDS_MSG_ID_LEN)) {
                errbuf_set(err, errlen, "msg_id is not %d lowercase hex digits",
                           IDS_MSG_ID_LEN);
                return -1;
        }
        return 0;
}

int ids_msg_id_new(char *out, char *err, size_t errlen)
{
        unsigned char rnd[IDS_MSG_ID_LEN / 2];

        if (crypto_random(rnd, sizeof(rnd), err, errlen) == -1)
                return -1;
        return hex_encode(rnd, sizeof(rnd), out, IDS_MSG_ID_LEN + 1);
}

int ids_uuid_new(char *out, char *err, size_t errlen)
{
        unsigned char b[16];
        char h[33];

        if (crypto_random(b, sizeof(b), err, errlen) == -1)
                return -1;
        /* RFC 4122 section 4.4: version 4, variant 10xx. */
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        hex_encode(b, sizeof(b), h, sizeof(h));
        snprintf(out, IDS_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8,
                 h + 12, h + 16, h + 20);
        return 0;
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil).  Ours rather than timegm(): no time zone state, no
 * normalization of out-of-range fields, defined for every year we accept.
 */
static int64_t ids_days_from_civil(int64_t y, int64_t m, int64_t d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static int ids_days_in_month(int y, int m)
{
        static const int days[] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        return m == 2 && leap ? 29 : days[m - 1];
}

int ids_time_format(time_t t, char *out, char *err, size_t errlen)
{
        char buf[80];
        struct tm tm;
        int n;

        if (gmtime_r(&t, &tm) == NULL) {
                errbuf_set(err, errlen, "time %lld out of range", (long long)t);
                return -1;
        }
        if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
                errbuf_set(err, errlen, "time %lld is not in years 0000-9999",
                           (long long)t);
                return -1;
        }
        /* A roomy buffer: the compiler cannot see that tm is in range. */
        n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
        if (n != IDS_TIME_LEN) {
                errbuf_set(err, errlen, "time %lld: cannot format",
                           (long long)t);
                return -1;
        }
        memcpy(out, buf, IDS_TIME_LEN + 1);
        return 0;
}

/* The value of `n` decimal digits at `s`, or -1 if any is not a digit. */
static int ids_digits(const char *s, int n)
{
        int i, v = 0;

        for (i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int ids_time_parse(const char *s, time_t *out, char *err, size_t errlen)
{
        /* Position of each separator in "YYYY-MM-DDTHH:MM:SSZ". */
        static const struct {
                int pos;
                char c;
        } seps[] = {{4, '-'},  {7, '-'},  {10, 'T'},
                    {13, ':'}, {16, ':'}, {19, 'Z'}};
        int y, mo, d, h, mi, sec;
        int64_t secs;
        size_t i;

        if (s == NULL || strlen(s) != IDS_TIME_LEN) {
                errbuf_set(err, errlen, "time is not YYYY-MM-DDTHH:MM:SSZ");
                return -1;
        }
        for (i = 0; i < sizeof(seps) / sizeof(seps[0]); i++) {
                if (s[seps[i].pos] != seps[i].c) {
                        errbuf_set(err, errlen,
                                   "time is not YYYY-MM-DDTHH:MM:SSZ "
                                   "('%c' expected at %d)",
                                   seps[i].c, seps[i].pos);
                        return -1;
                }
        }
        y = ids_digits(s, 4);
        mo = ids_digits(s + 5, 2);
        d = ids_digits(s + 8, 2);
        h = ids_digits(s + 11, 2);
        mi = ids_digits(s + 14, 2);
        sec = ids_digits(s + 17, 2);
        if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) {
                errbuf_set(err, errlen, "time has a non-digit in a number");
                return -1;
        }
        if (mo < 1 || mo > 12 || d < 1 || d > ids_days_in_month(y, mo) ||
            h > 23 || mi > 59 || sec > 59) {
                errbuf_set(err, errlen, "time \"%s\" is not a valid UTC time",
                           s);
                return -1;
        }
        secs = ids_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
        /* Years 0000-9999 fit a 64-bit time_t; a 32-bit one may not. */
        if ((int64_t)(time_t)secs != secs) {
                errbuf_set(err, errlen, "time \"%s\" does not fit time_t", s);
                return -1;
        }
        *out = (time_t)secs;
        return 0;
}
