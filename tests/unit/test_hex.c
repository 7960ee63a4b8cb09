/*
 * hex: lowercase encoding, strict decoding, and the lowercase validator
 * used for digests and msg_ids.
 */
#include "hex.h"
#include "unit.h"

static void test_encode(void)
{
        const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
        char out[13], small[12];

        CHECK(hex_encode(in, sizeof(in), out, sizeof(out)) == 0);
        CHECK_STR_EQ(out, "00017f80abff");
        /* One byte short of 2 * len + 1: refused, nothing written. */
        memset(small, 'x', sizeof(small));
        CHECK(hex_encode(in, sizeof(in), small, sizeof(small)) == -1);
        CHECK(small[0] == 'x');
        CHECK(hex_encode(in, 0, out, 1) == 0);
        CHECK_STR_EQ(out, "");
        CHECK(hex_encode(in, 0, out, 0) == -1);
}

static void test_decode(void)
{
        unsigned char out[8];
        size_t outlen = 0;
        char err[128] = "";

        CHECK(hex_decode("00017f80abff", 12, HEX_LOWER_ONLY, out, sizeof(out),
                         &outlen, err, sizeof(err)) == 0);
        CHECK_MEM_EQ(out, outlen, "\x00\x01\x7f\x80\xab\xff", 6);
        CHECK(hex_decode("ABff", 4, HEX_ANY_CASE, out, sizeof(out), &outlen,
                         NULL, 0) == 0);
        CHECK_MEM_EQ(out, outlen, "\xab\xff", 2);
        CHECK(hex_decode("", 0, HEX_LOWER_ONLY, out, sizeof(out), &outlen, NULL,
                         0) == 0);
        CHECK(outlen == 0);

        /* Upper case where the contract wants lower case. */
        CHECK(hex_decode("ABff", 4, HEX_LOWER_ONLY, out, sizeof(out), &outlen,
                         err, sizeof(err)) == -1);
        CHECK(err[0] != '\0');
        /* Odd length, non-digits, whitespace, sign, prefix. */
        CHECK(hex_decode("abc", 3, HEX_ANY_CASE, out, sizeof(out), &outlen,
                         NULL, 0) == -1);
        err[0] = '\0';
        CHECK(hex_decode("abcd", 3, HEX_ANY_CASE, out, sizeof(out), &outlen,
                         err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "odd") != NULL, err);
        CHECK(hex_decode("0g", 2, HEX_ANY_CASE, out, sizeof(out), &outlen, NULL,
                         0) == -1);
        CHECK(hex_decode("ab ", 3, HEX_ANY_CASE, out, sizeof(out), &outlen,
                         NULL, 0) == -1);
        CHECK(hex_decode(" abc", 4, HEX_ANY_CASE, out, sizeof(out), &outlen,
                         NULL, 0) == -1);
        CHECK(hex_decode("0x12", 4, HEX_ANY_CASE, out, sizeof(out), &outlen,
                         NULL, 0) == -1);
        CHECK(hex_decode("ab\0c", 4, HEX_ANY_CASE, out, sizeof(out), &outlen,
                         NULL, 0) == -1);
        /* Does not fit. */
        CHECK(hex_decode("000102030405060708", 18, HEX_ANY_CASE, out,
                         sizeof(out), &outlen, err, sizeof(err)) == -1);
}

static void test_is_lower(void)
{
        char s[80];

        memset(s, 'a', 64);
        s[64] = '\0';
        CHECK(hex_is_lower(s, 64) == 1);
        CHECK(hex_is_lower(s, 0) == 1);
        CHECK(hex_is_lower(s, 63) == 0);
        CHECK(hex_is_lower(s, 65) == 0);
        s[10] = 'A';
        CHECK(hex_is_lower(s, 64) == 0);
        s[10] = 'g';
        CHECK(hex_is_lower(s, 64) == 0);
        CHECK(hex_is_lower("0123456789abcdef", 16) == 1);
        CHECK(hex_is_lower("", 0) == 0);
        CHECK(hex_is_lower("", 32) == 0);
        CHECK(hex_is_lower(NULL, 32) == 0);
}

int main(void)
{
        test_encode();
        test_decode();
        test_is_lower();
        return unit_done("test_hex");
}
