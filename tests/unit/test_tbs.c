/*
 * tbs: the exact bytes of each kind, written out literally from the
 * contract's format ("tds/1 <kind>", then name=value lines in order), and
 * the refusal of values that would forge a line.
 */
#include "tbs.h"
#include "unit.h"

#define SHA_TEST                                                               \
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_NRO                                                                \
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define SHA_NRR                                                                \
        "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
#define KEY_ID                                                                 \
        "8af4df5aa7a14ea01335de6bd80d02b33d894fef9049d33002105a3b89b68450"
#define NONCE_A "q80AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0="
#define NONCE_B "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define MSG_ID  "0123456789abcdef0123456789abcdef"

static void check_built(int rc, char *out, size_t outlen, const char *err,
                        const char *want)
{
        CHECK_MSG(rc == 0, err);
        CHECK_STR_EQ(out, want);
        /* The length is that of the bytes to sign: no NUL, nothing else. */
        CHECK(out != NULL && outlen == strlen(want));
        free(out);
}

static void test_request(void)
{
        struct tbs_request reg = {"register", MSG_ID, "alice", NULL, KEY_ID};
        struct tbs_request up = {"upload.request", MSG_ID, "alice", "f1", NULL};
        struct tbs_request cat = {"catalog.request", MSG_ID, "bob", "", ""};
        char err[128] = "", *out = NULL;
        size_t outlen = 0;
        int rc;

        rc = tbs_request(&reg, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 request\n"
                    "type=register\n"
                    "msg_id=0123456789abcdef0123456789abcdef\n"
                    "user=alice\n"
                    "file_id=\n"
                    "public_key_sha256=" KEY_ID "\n");
        rc = tbs_request(&up, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 request\n"
                    "type=upload.request\n"
                    "msg_id=0123456789abcdef0123456789abcdef\n"
                    "user=alice\n"
                    "file_id=f1\n"
                    "public_key_sha256=\n");
        /* "" and NULL are the same empty value. */
        rc = tbs_request(&cat, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 request\n"
                    "type=catalog.request\n"
                    "msg_id=0123456789abcdef0123456789abcdef\n"
                    "user=bob\n"
                    "file_id=\n"
                    "public_key_sha256=\n");
}

static void test_nro_nrr(void)
{
        /* The contract's own example: the NRO of file f1, M = "test". */
        struct tbs_nro nro = {"f1", "alice", SHA_TEST, "4", NONCE_A};
        struct tbs_nrr nrr = {"f1", "bob", SHA_TEST, SHA_NRO, NONCE_B};
        char err[128] = "", *out = NULL;
        size_t outlen = 0;
        int rc;

        rc = tbs_nro(&nro, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 nro\n"
                    "file_id=f1\n"
                    "uploader=alice\n"
                    "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd1"
                    "5d6c15b0f00a08\n"
                    "size=4\n"
                    "nonce=q80AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0=\n");
        rc = tbs_nrr(&nrr, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 nrr\n"
                    "file_id=f1\n"
                    "downloader=bob\n"
                    "sha256=" SHA_TEST "\n"
                    "nro_sha256=" SHA_NRO "\n"
                    "nonce=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
}

static void test_evidence(void)
{
        struct tbs_evidence up = {
            "upload", "f1",    "alice", NULL,
            SHA_TEST, SHA_NRO, NULL,    "2023-11-14T22:13:20Z"};
        struct tbs_evidence ex = {
            "exchange", "f1",    "alice", "bob",
            SHA_TEST,   SHA_NRO, SHA_NRR, "2023-11-14T22:13:21Z"};
        struct tbs_evidence ab = {
            "abort",  "f1",    "alice", "",
            SHA_TEST, SHA_NRO, "",      "2023-11-14T22:13:22Z"};
        char err[128] = "", *out = NULL;
        size_t outlen = 0;
        int rc;

        rc = tbs_evidence(&up, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 evidence\n"
                    "event=upload\n"
                    "file_id=f1\n"
                    "uploader=alice\n"
                    "downloader=\n"
                    "sha256=" SHA_TEST "\n"
                    "nro_sha256=" SHA_NRO "\n"
                    "nrr_sha256=\n"
                    "time=2023-11-14T22:13:20Z\n");
        rc = tbs_evidence(&ex, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 evidence\n"
                    "event=exchange\n"
                    "file_id=f1\n"
                    "uploader=alice\n"
                    "downloader=bob\n"
                    "sha256=" SHA_TEST "\n"
                    "nro_sha256=" SHA_NRO "\n"
                    "nrr_sha256=" SHA_NRR "\n"
                    "time=2023-11-14T22:13:21Z\n");
        rc = tbs_evidence(&ab, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 evidence\n"
                    "event=abort\n"
                    "file_id=f1\n"
                    "uploader=alice\n"
                    "downloader=\n"
                    "sha256=" SHA_TEST "\n"
                    "nro_sha256=" SHA_NRO "\n"
                    "nrr_sha256=\n"
                    "time=2023-11-14T22:13:22Z\n");
}

/* Each builder, by kind, so that one helper can call any of them. */
enum kind { K_REQUEST, K_NRO, K_NRR, K_EVIDENCE };

static void check_forged(enum kind kind, const void *fields)
{
        char err[128] = "", *out = (char *)"sentinel";
        size_t outlen = 99;
        int rc = 0;

        switch (kind) {
        case K_REQUEST:
                rc = tbs_request(fields, &out, &outlen, err, sizeof(err));
                break;
        case K_NRO:
                rc = tbs_nro(fields, &out, &outlen, err, sizeof(err));
                break;
        case K_NRR:
                rc = tbs_nrr(fields, &out, &outlen, err, sizeof(err));
                break;
        case K_EVIDENCE:
                rc = tbs_evidence(fields, &out, &outlen, err, sizeof(err));
                break;
        }
        CHECK(rc == -1);
        CHECK(out == NULL);
        CHECK(outlen == 0);
        CHECK(strstr(err, "line break") != NULL);
}

static void test_line_forgery(void)
{
        /* "alice\nsize=0" would add a line of its own to the NRO. */
        struct tbs_nro nro = {"f1", "alice\nsize=0", SHA_TEST, "4", NONCE_A};
        struct tbs_nro nro_cr = {"f1", "alice", SHA_TEST, "4\r", NONCE_A};
        struct tbs_nro nro_end = {"f1", "alice", SHA_TEST, "4", NONCE_A "\n"};
        struct tbs_request req = {"register\n", MSG_ID, "alice", NULL, NULL};
        struct tbs_nrr nrr = {"f1", "bob", SHA_TEST, SHA_NRO, "\n"};
        struct tbs_evidence ev = {
            "upload", "f1",    "alice", NULL,
            SHA_TEST, SHA_NRO, NULL,    "2023-11-14T22:13:20Z\r\n"};
        char *out = NULL;
        size_t outlen;

        check_forged(K_NRO, &nro);
        check_forged(K_NRO, &nro_cr);
        check_forged(K_NRO, &nro_end);
        check_forged(K_REQUEST, &req);
        check_forged(K_NRR, &nrr);
        check_forged(K_EVIDENCE, &ev);
        /* A NULL err buffer is allowed. */
        CHECK(tbs_nro(&nro, &out, &outlen, NULL, 0) == -1);
        CHECK(out == NULL);
}

static void test_leaf_and_head(void)
{
        struct tbs_leaf leaf = {"exchange", "f1",
                                "alice",    SHA_NRO,
                                "bob",      SHA_NRR,
                                SHA_TEST,   "4",
                                "q80=",     "cXE=",
                                SHA_NRO,    SHA_NRR,
                                NULL,       "2023-11-14T22:13:21Z",
                                SHA_TEST};
        struct tbs_tree_head head = {SHA_NRO, "42", SHA_TEST,
                                     "2023-11-14T22:13:25Z"};
        char err[128] = "", *out = NULL;
        size_t outlen = 0;
        int rc;

        rc = tbs_leaf(&leaf, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 leaf\n"
                    "event=exchange\n"
                    "file_id=f1\n"
                    "uploader=alice\n"
                    "uploader_key_id=" SHA_NRO "\n"
                    "downloader=bob\n"
                    "downloader_key_id=" SHA_NRR "\n"
                    "sha256=" SHA_TEST "\n"
                    "size=4\n"
                    "upload_nonce=q80=\n"
                    "download_nonce=cXE=\n"
                    "nro_sha256=" SHA_NRO "\n"
                    "nrr_sha256=" SHA_NRR "\n"
                    "abort=\n"
                    "time=2023-11-14T22:13:21Z\n"
                    "ttp_sig_sha256=" SHA_TEST "\n");
        rc = tbs_tree_head(&head, &out, &outlen, err, sizeof(err));
        check_built(rc, out, outlen, err,
                    "tds/1 tree_head\n"
                    "log_id=" SHA_NRO "\n"
                    "tree_size=42\n"
                    "root_hash=" SHA_TEST "\n"
                    "time=2023-11-14T22:13:25Z\n");
        leaf.file_id = "f1\nevent=upload";
        rc = tbs_leaf(&leaf, &out, &outlen, err, sizeof(err));
        CHECK(rc == -1 && out == NULL);
}

int main(void)
{
        test_request();
        test_nro_nrr();
        test_evidence();
        test_leaf_and_head();
        test_line_forgery();
        return unit_done("test_tbs");
}
