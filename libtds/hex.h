/*
 * hex: lowercase hexadecimal, the contract's form for digests, key ids and
 * msg_ids.
 */
#ifndef TDS_HEX_H
#define TDS_HEX_H

#include <stddef.h>

/* Flags for hex_decode(). */
#define HEX_ANY_CASE   0 /* accept [0-9a-fA-F] */
#define HEX_LOWER_ONLY 1 /* accept [0-9a-f] only, as the contract requires */

/*
 * hex_encode: write the lowercase hex of `buf` (`len` bytes) and a NUL into
 * `out`, which must hold at least 2 * len + 1 bytes (`outsize`).  Returns 0,
 * or -1 (and writes nothing) when `out` is too small.
 */
int hex_encode(const unsigned char *buf, size_t len, char *out, size_t outsize);

/*
 * hex_decode: decode exactly `textlen` characters of `text` into `out`
 * (capacity `outsize`), storing the byte count in `*outlen`.  Strict: the
 * length must be even, every character a hex digit (lowercase only with
 * HEX_LOWER_ONLY), nothing is skipped.  Returns 0, or -1 with a message in
 * `err` (may be NULL); `out` may be partly written on failure.
 */
int hex_decode(const char *text, size_t textlen, int flags, unsigned char *out,
               size_t outsize, size_t *outlen, char *err, size_t errlen);

/*
 * hex_is_lower: 1 if the NUL-terminated `s` is exactly `expect_len`
 * characters of [0-9a-f], else 0 (also for NULL).  `expect_len` 0 accepts
 * any non-empty length.  Use it to validate digests (64), msg_ids (32).
 */
int hex_is_lower(const char *s, size_t expect_len);

#endif
