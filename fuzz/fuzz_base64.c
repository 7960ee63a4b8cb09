/*
 * fuzz_base64: the strict decoders of every binary value on the wire.
 *
 * Invariants (abort() when broken): base64_decode() accepts only canonical
 * text, so on success base64_encode() of the result is exactly the input;
 * hex_decode(HEX_LOWER_ONLY) likewise gives back the input through
 * hex_encode(), and accepts exactly what hex_is_lower() accepts.  Any
 * input that base64_encode() produced decodes back to its bytes.
 */
#include "base64.h"
#include "hex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_HEX_MAX 4096 /* bytes of hex input tried */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_base64(const uint8_t *data, size_t size)
{
        unsigned char *bin = NULL, *back = NULL;
        size_t binlen = 0, backlen = 0;
        char *text;

        if (base64_decode((const char *)data, size, &bin, &binlen, NULL, 0) ==
            0) {
                if (bin == NULL || (text = base64_encode(bin, binlen)) == NULL)
                        abort();
                if (strlen(text) != size || memcmp(text, data, size) != 0)
                        abort();
                free(text);
                free(bin);
        } else if (bin != NULL) {
                abort();
        }
        /* The other way: any bytes, encoded, decode back. */
        if ((text = base64_encode(data, size)) == NULL)
                abort();
        if (base64_decode(text, strlen(text), &back, &backlen, NULL, 0) == -1 ||
            backlen != size || (size > 0 && memcmp(back, data, size) != 0))
                abort();
        free(back);
        free(text);
}

static void fuzz_hex(const uint8_t *data, size_t size)
{
        static unsigned char bin[FUZZ_HEX_MAX / 2];
        static char text[FUZZ_HEX_MAX + 1];
        size_t binlen = 0;
        int ok;

        if (size > FUZZ_HEX_MAX)
                return;
        ok = hex_decode((const char *)data, size, HEX_LOWER_ONLY, bin,
                        sizeof(bin), &binlen, NULL, 0) == 0;
        /* hex_is_lower() reads a C string: only inputs without NUL. */
        if (memchr(data, '\0', size) == NULL) {
                memcpy(text, data, size);
                text[size] = '\0';
                if (size > 0 && size % 2 == 0 && ok != hex_is_lower(text, 0))
                        abort();
        }
        if (!ok)
                return;
        if (binlen * 2 != size ||
            hex_encode(bin, binlen, text, sizeof(text)) == -1 ||
            memcmp(text, data, size) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_base64(data, size);
        fuzz_hex(data, size);
        return 0;
}
