/*
 * msgids: the set answers exactly what it was told (processed, not
 * processed, not looked up), after sorting and with repeats; the hint
 * finds the msg_id of real envelopes and refuses, without reading out of
 * bounds, anything that is not one (ASan: inputs are exact-size heap
 * copies, not NUL-terminated).
 */
#include "msgids.h"
#include "unit.h"

static void id_of(unsigned char id[16], unsigned seed)
{
        for (int i = 0; i < 16; i++)
                id[i] = (unsigned char)(seed * 131u + (unsigned)i * 17u);
}

static void test_set(void)
{
        struct msgids s;
        unsigned char id[16], other[16];

        memset(&s, 0, sizeof(s));
        id_of(id, 1);
        CHECK(msgids_state(&s, id) == -1); /* empty */
        /* 200 ids in reverse order, each twice: growth, sort, repeats */
        for (unsigned k = 200; k > 0; k--) {
                id_of(id, k);
                REQUIRE(msgids_add(&s, id) == 0);
                REQUIRE(msgids_add(&s, id) == 0);
        }
        CHECK(msgids_state(&s, id) == -1); /* not sealed yet */
        msgids_seal(&s);
        CHECK(s.n == 200);
        for (size_t i = 1; i < s.n; i++)
                CHECK(memcmp(s.v[i - 1].id, s.v[i].id, 16) < 0);
        for (unsigned k = 1; k <= 200; k += 3) {
                id_of(id, k);
                CHECK(msgids_mark(&s, id) == 0);
        }
        for (unsigned k = 1; k <= 200; k++) {
                id_of(id, k);
                CHECK(msgids_state(&s, id) == ((k - 1) % 3 == 0));
        }
        id_of(other, 999);
        CHECK(msgids_state(&s, other) == -1);
        CHECK(msgids_mark(&s, other) == -1);
        /* cleared: nothing known, the memory kept */
        msgids_clear(&s);
        id_of(id, 1);
        CHECK(msgids_state(&s, id) == -1);
        CHECK(s.cap >= 200);
        REQUIRE(msgids_add(&s, id) == 0);
        msgids_seal(&s);
        CHECK(msgids_state(&s, id) == 0);
        msgids_fini(&s);
        CHECK(s.v == NULL && s.n == 0);
}

/* The hint on an exact-size copy of `text` (no NUL after it). */
static int hint(const char *text, unsigned char out[16])
{
        size_t len = strlen(text);
        char *copy = malloc(len ? len : 1);
        int rc;

        REQUIRE(copy != NULL);
        memcpy(copy, text, len);
        rc = msgids_hint(copy, len, out);
        free(copy);
        return rc;
}

#define HEX "00112233445566778899aabbccddeeff"

static void test_hint(void)
{
        static const unsigned char want[16] = {
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
            0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
        static const char *good[] = {
            "{\"v\":1,\"type\":\"download.request\",\"msg_id\":\"" HEX
            "\",\"user\":\"bob\",\"body\":{}}",
            "{\"msg_id\" : \t\r\n \"" HEX "\"}",
            "\"msg_id\":\"" HEX "\"",
            /* the first "msg_id" key is taken: a hint, not a parse */
            "{\"msg_id\":\"" HEX "\",\"body\":{\"msg_id\":\"ff" HEX "\"}}",
        };
        static const char *bad[] = {
            "",
            "{}",
            "\"msg_id\"",
            "\"msg_id\":",
            "\"msg_id\":\"",
            "\"msg_id\":\"" HEX, /* no closing quote */
            "\"msg_id\":\"00112233445566778899aabbccddeef\"",   /* 31 */
            "\"msg_id\":\"00112233445566778899aabbccddeeff0\"", /* 33 */
            "\"msg_id\":\"00112233445566778899AABBCCDDEEFF\"",  /* upper */
            "\"msg_id\":\"0011223344556677889gaabbccddeeff\"",  /* not hex */
            "\"msg_id\":00112233445566778899aabbccddeeff",      /* no string */
            "\"msg_id\" x \"" HEX "\"",
            "\"msg\\u005fid\":\"" HEX "\"", /* escaped key: not seen */
            "{\"msg_id\":\"\\u0030112233445566778899aabbccddeeff\"}",
        };
        unsigned char out[16];

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                memset(out, 0, sizeof(out));
                CHECK_MSG(hint(good[i], out) == 0, good[i]);
                CHECK_MEM_EQ(out, sizeof(out), want, sizeof(want));
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK_MSG(hint(bad[i], out) == -1, bad[i]);
        CHECK(msgids_hint(NULL, 0, out) == -1);
        /* truncated anywhere inside a good envelope: never found, never
         * read past the end */
        for (size_t cut = 0; cut < strlen(good[2]) - 1; cut++) {
                char *copy = malloc(cut ? cut : 1);
                REQUIRE(copy != NULL);
                memcpy(copy, good[2], cut);
                CHECK(msgids_hint(copy, cut, out) == -1);
                free(copy);
        }
}

int main(void)
{
        test_set();
        test_hint();
        return unit_done("msgids");
}
