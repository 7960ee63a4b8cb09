/*
 * base64: built on OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock so the
 * alphabet is not ours to get wrong.  EVP_DecodeBlock is lenient (it trims
 * surrounding whitespace, decodes '=' as zero bits, accepts '=' inside the
 * text and ignores unused trailing bits), so strictness comes from one rule:
 * the input must equal the re-encoding of what it decodes to.
 */
#include "base64.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "errbuf.h"

/*
 * EVP_EncodeBlock takes an int length: encode in chunks of whole 3-byte
 * groups so that no '=' appears before the last chunk.
 */
#define BASE64_CHUNK (3 * 1024 * 1024)

char *base64_encode(const unsigned char *buf, size_t len)
{
        char *out = NULL;
        size_t groups, done = 0, pos = 0, n;

        groups = len / 3 + (len % 3 != 0);
        if (groups > (SIZE_MAX - 1) / 4)
                return NULL;
        if ((out = malloc(groups * 4 + 1)) == NULL)
                return NULL;
        out[0] = '\0';
        while (done < len) {
                n = len - done < BASE64_CHUNK ? len - done : BASE64_CHUNK;
                /* Writes 4 characters per started group, then a NUL. */
                pos += (size_t)EVP_EncodeBlock((unsigned char *)out + pos,
                                               buf + done, (int)n);
                done += n;
        }
        return out;
}

/*
 * Decode the non-empty `text` into `buf` (room for textlen / 4 * 3 bytes),
 * `pad` of its characters being trailing '=', and insist that it is the
 * canonical encoding of the result.
 */
static int base64_decode_strict(const char *text, size_t textlen, size_t pad,
                                unsigned char *buf, size_t *len, char *err,
                                size_t errlen)
{
        char *again = NULL;
        int n, ret = -1;

        n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)textlen);
        if (n < 0 || (size_t)n < pad) {
                errbuf_set(err, errlen, "base64: invalid character");
                goto done;
        }
        /* Each '=' was decoded as a zero byte that is not data. */
        *len = (size_t)n - pad;
        if ((again = base64_encode(buf, *len)) == NULL) {
                errbuf_set(err, errlen, "base64: out of memory");
                goto done;
        }
        if (strlen(again) != textlen || memcmp(again, text, textlen) != 0) {
                errbuf_set(err, errlen,
                           "base64: not canonical (whitespace, misplaced "
                           "padding or non-zero trailing bits)");
                goto done;
        }
        ret = 0;
done:
        free(again);
        return ret;
}

int base64_decode(const char *text, size_t textlen, unsigned char **out,
                  size_t *outlen, char *err, size_t errlen)
{
        unsigned char *buf = NULL;
        size_t pad = 0, len = 0;
        int ret = -1;

        *out = NULL;
        *outlen = 0;
        if (textlen % 4 != 0) {
                errbuf_set(err, errlen,
                           "base64: length %zu is not a multiple of 4",
                           textlen);
                goto done;
        }
        /* EVP_DecodeBlock takes an int; contract messages are <= 1 MiB. */
        if (textlen > INT_MAX) {
                errbuf_set(err, errlen, "base64: input too long");
                goto done;
        }
        while (pad < textlen && text[textlen - 1 - pad] == '=')
                pad++;
        if (pad > 2) {
                errbuf_set(err, errlen, "base64: too much padding");
                goto done;
        }
        /* +1 so that an empty input still yields a non-NULL buffer. */
        if ((buf = malloc(textlen / 4 * 3 + 1)) == NULL) {
                errbuf_set(err, errlen, "base64: out of memory");
                goto done;
        }
        /* An empty text is empty data (and `text` may then be NULL). */
        if (textlen > 0 && base64_decode_strict(text, textlen, pad, buf, &len,
                                                err, errlen) == -1)
                goto done;
        *out = buf;
        *outlen = len;
        buf = NULL;
        ret = 0;
done:
        free(buf);
        return ret;
}
