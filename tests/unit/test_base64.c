/*
 * base64: RFC 4648 vectors, exact decoded lengths, and the strictness the
 * contract needs (one encoding per byte string).
 */
#include "base64.h"
#include "unit.h"

#include <stdint.h>

/* Encode `in` and compare with `want`, then decode `want` back to `in`. */
static void check_vector(const char *in, size_t inlen, const char *want)
{
        unsigned char *dec = NULL;
        size_t declen = 12345;
        char err[256] = "";
        char *enc;

        enc = base64_encode((const unsigned char *)in, inlen);
        CHECK_STR_EQ(enc, want);
        CHECK_MSG(base64_decode(want, strlen(want), &dec, &declen, err,
                                sizeof(err)) == 0,
                  err);
        CHECK(dec != NULL);
        CHECK_MEM_EQ(dec, declen, in, inlen);
        free(enc);
        free(dec);
}

static void check_rejected(const char *text, size_t len)
{
        unsigned char *dec = (unsigned char *)"sentinel";
        size_t declen = 0;
        char err[256] = "";

        CHECK_MSG(base64_decode(text, len, &dec, &declen, err, sizeof(err)) ==
                      -1,
                  text);
        CHECK(dec == NULL);
        CHECK(err[0] != '\0');
}

static void test_rfc4648(void)
{
        /* RFC 4648 section 10. */
        check_vector("", 0, "");
        check_vector("f", 1, "Zg==");
        check_vector("fo", 2, "Zm8=");
        check_vector("foo", 3, "Zm9v");
        check_vector("foob", 4, "Zm9vYg==");
        check_vector("fooba", 5, "Zm9vYmE=");
        check_vector("foobar", 6, "Zm9vYmFy");
        /* The two characters that differ from the URL-safe alphabet. */
        check_vector("\xfb\xff\xbf", 3, "+/+/");
        /* Zero bytes are data, not padding. */
        check_vector("\0", 1, "AA==");
        check_vector("\0\0", 2, "AAA=");
        check_vector("\0\0\0", 3, "AAAA");
}

static void test_exact_length(void)
{
        unsigned char *dec = NULL;
        size_t declen = 0;

        /* EVP_DecodeBlock would say 3 here: padding must be subtracted. */
        CHECK(base64_decode("Zg==", 4, &dec, &declen, NULL, 0) == 0);
        CHECK(declen == 1);
        free(dec);
        dec = NULL;
        CHECK(base64_decode("Zm8=", 4, &dec, &declen, NULL, 0) == 0);
        CHECK(declen == 2);
        free(dec);
        dec = NULL;
        /* An empty input decodes to a non-NULL empty buffer. */
        CHECK(base64_decode("", 0, &dec, &declen, NULL, 0) == 0);
        CHECK(dec != NULL && declen == 0);
        free(dec);
        dec = NULL;
        CHECK(base64_decode(NULL, 0, &dec, &declen, NULL, 0) == 0);
        CHECK(dec != NULL && declen == 0);
        free(dec);
        dec = NULL;
        /* textlen is honoured: only the first 4 characters count. */
        CHECK(base64_decode("Zm9vYmFy", 4, &dec, &declen, NULL, 0) == 0);
        CHECK_MEM_EQ(dec, declen, "foo", 3);
        free(dec);
}

static void test_strict(void)
{
        /* Missing or extra padding. */
        check_rejected("Zg", 2);
        check_rejected("Zg=", 3);
        check_rejected("Zg===", 5);
        check_rejected("Zm8", 3);
        check_rejected("Z===", 4);
        check_rejected("====", 4);
        check_rejected("Zm9v====", 8);
        /* Padding anywhere but at the end. */
        check_rejected("Zg=A", 4);
        check_rejected("Zg==Zm9v", 8);
        check_rejected("Z=9v", 4);
        /* Non-zero unused trailing bits: "f" is only "Zg==". */
        check_rejected("Zh==", 4);
        check_rejected("Zm9=", 4);
        check_rejected("Zm9vYmF=", 8);
        /* Whitespace and line breaks, even where OpenSSL would trim them. */
        check_rejected(" Zm9vYmF", 8);
        check_rejected("Zm9vYmF ", 8);
        check_rejected("Zm9vYmF\n", 8);
        check_rejected("Zm9v\r\nYm", 8);
        check_rejected("Zm9\tvYmF", 8);
        check_rejected("\nZm9vYmFy\n\n\n", 12);
        check_rejected("Zm9vYmFy\n", 9);
        /* Outside the alphabet: URL-safe, punctuation, NUL, non-ASCII. */
        check_rejected("-_-_", 4);
        check_rejected("Zm9v*A==", 8);
        check_rejected("Zm9v\0\0\0\0", 8);
        check_rejected("Zm9v\xc3\xa9==", 8);
}

static void test_large(void)
{
        /* Larger than the encoder's chunk; len % 3 == 1, so "==" ends it. */
        size_t len = 7 * 1024 * 1024, i, declen = 0;
        unsigned char *buf, *dec = NULL;
        char err[256] = "";
        char *enc;

        REQUIRE((buf = malloc(len)) != NULL);
        for (i = 0; i < len; i++)
                buf[i] = (unsigned char)(i * 131 + (i >> 11));
        REQUIRE((enc = base64_encode(buf, len)) != NULL);
        REQUIRE(len % 3 == 1);
        CHECK(strlen(enc) == (len + 2) / 3 * 4);
        CHECK(strchr(enc, '\n') == NULL);
        CHECK(strcmp(enc + strlen(enc) - 2, "==") == 0);
        CHECK_MSG(base64_decode(enc, strlen(enc), &dec, &declen, err,
                                sizeof(err)) == 0,
                  err);
        CHECK_MEM_EQ(dec, declen, buf, len);
        free(dec);
        free(enc);
        free(buf);
}

int main(void)
{
        test_rfc4648();
        test_exact_length();
        test_strict();
        test_large();
        return unit_done("test_base64");
}
