/*
 * base64: standard base64 with padding (RFC 4648 section 4), the contract's
 * form for every binary value in JSON (SPKI DER, signatures, nonces).
 */
#ifndef TDS_BASE64_H
#define TDS_BASE64_H

#include <stddef.h>

/*
 * base64_encode: the padded base64 of `buf` (`len` bytes) as a
 * NUL-terminated string without line breaks; "" for len 0.  Returns NULL
 * when out of memory.  Caller frees.
 */
char *base64_encode(const unsigned char *buf, size_t len);

/*
 * base64_decode: decode exactly `textlen` characters of `text`.  Strict:
 * the text must be the canonical encoding of its bytes, so whitespace,
 * line breaks, missing or extra '=', characters outside the alphabet
 * (including the URL-safe '-' and '_') and non-zero unused trailing bits
 * are all rejected.  On success `*out` is a heap buffer of `*outlen` bytes
 * (never NULL, even for an empty input; caller frees) and 0 is returned;
 * on failure -1 with a message in `err` (may be NULL) and `*out` is NULL.
 */
int base64_decode(const char *text, size_t textlen, unsigned char **out,
                  size_t *outlen, char *err, size_t errlen);

#endif
