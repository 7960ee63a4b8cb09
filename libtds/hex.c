/*
 * hex: lowercase hexadecimal encode and strict decode.
 */
#include "hex.h"

#include <stdio.h>

#include "errbuf.h"

static const char hex_digits[] = "0123456789abcdef";

/* Value of one hex digit, or -1; uppercase only when `any_case`. */
static int hex_value(char c, int any_case)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (any_case && c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hex_encode(const unsigned char *buf, size_t len, char *out, size_t outsize)
{
        size_t i;

        /* Written so that 2 * len + 1 cannot overflow. */
        if (outsize == 0 || len > (outsize - 1) / 2)
                return -1;
        for (i = 0; i < len; i++) {
                out[2 * i] = hex_digits[buf[i] >> 4];
                out[2 * i + 1] = hex_digits[buf[i] & 0x0f];
        }
        out[2 * len] = '\0';
        return 0;
}

int hex_decode(const char *text, size_t textlen, int flags, unsigned char *out,
               size_t outsize, size_t *outlen, char *err, size_t errlen)
{
        int any_case = !(flags & HEX_LOWER_ONLY);
        int hi, lo;
        size_t i;
        int ret = -1;

        if (textlen % 2 != 0) {
                errbuf_set(err, errlen, "hex: odd length %zu", textlen);
                goto done;
        }
        if (textlen / 2 > outsize) {
                errbuf_set(err, errlen, "hex: %zu bytes do not fit in %zu",
                           textlen / 2, outsize);
                goto done;
        }
        for (i = 0; i < textlen; i += 2) {
                hi = hex_value(text[i], any_case);
                lo = hex_value(text[i + 1], any_case);
                if (hi < 0 || lo < 0) {
                        errbuf_set(err, errlen, "hex: invalid %s at offset %zu",
                                   any_case ? "digit" : "lowercase hex digit",
                                   hi < 0 ? i : i + 1);
                        goto done;
                }
                out[i / 2] = (unsigned char)(hi << 4 | lo);
        }
        *outlen = textlen / 2;
        ret = 0;
done:
        return ret;
}

int hex_is_lower(const char *s, size_t expect_len)
{
        size_t i;

        if (s == NULL)
                return 0;
        for (i = 0; s[i] != '\0'; i++) {
                if (expect_len != 0 && i >= expect_len)
                        return 0;
                if (hex_value(s[i], 0) < 0)
                        return 0;
        }
        return i > 0 && (expect_len == 0 || i == expect_len);
}
