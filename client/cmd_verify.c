/*
 * tds verify: a judge's check of an evidence file, entirely offline (no
 * network, no database, no client home): libtds/evidence.c does the
 * checking, this file only reads options, pins the TTP key and reports.
 *
 * The verdict is the command's output, on stdout; operational errors
 * (unreadable or malformed file, bad options) go to stderr.  Exit 0 valid,
 * 4 invalid, 1 could not be checked, 2 usage.
 */
#include "commands.h"

#include "base64.h"
#include "crypto.h"
#include "errbuf.h"
#include "evidence.h"
#include "hex.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define VERIFY_OK      0
#define VERIFY_FAIL    1
#define VERIFY_USAGE   2
#define VERIFY_INVALID 4

void cmd_verify_help(FILE *out)
{
        fprintf(out,
                "usage: tds verify EVIDENCE [--file DOC] "
                "[--ttp-key-id HEX | --ttp-key PEMFILE] [--json]\n"
                "\n"
                "Check an evidence file offline: the NRO under the "
                "uploader's key, the NRR\n"
                "under the downloader's key (exchange), the digests that "
                "chain them, and the\n"
                "TTP's countersignature.  No network, no database.\n"
                "\n"
                "  --file DOC         the document must also have the "
                "evidence's size and SHA-256\n"
                "  --ttp-key-id HEX   the TTP key must have this key id "
                "(64 hex digits)\n"
                "  --ttp-key PEMFILE  the TTP key must be this one (SPKI "
                "PEM, e.g. ttp_key.pem.pub)\n"
                "  --json             print the verdict as one JSON object\n"
                "\n"
                "Without --ttp-key or --ttp-key-id anyone could have made "
                "the countersignature\n"
                "with a key of their own: pin the TTP's published key.\n"
                "\n"
                "Exit status: 0 valid, 4 NOT valid (the reason is printed), "
                "1 the file could not\n"
                "be read or is malformed, 2 usage error.\n");
}

/* The OpenSSL error queue, drained into `buf` (for messages). */
static const char *verify_ssl_reason(char *buf, size_t len)
{
        unsigned long e = ERR_get_error();

        if (e == 0)
                snprintf(buf, len, "no PEM public key found");
        else
                ERR_error_string_n(e, buf, len);
        ERR_clear_error();
        return buf;
}

/*
 * The key id of the SPKI PEM public key in `path`, through the same
 * canonical-form check as every other key (crypto_pubkey_from_der), so a
 * pinned key that is not P-256 is refused rather than never matching.
 */
static int verify_pem_key_id(const char *path, char *key_id, char *err,
                             size_t errlen)
{
        struct crypto_key *key = NULL;
        unsigned char *der = NULL;
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        char why[512];
        int derlen, ret = -1;

        ERR_clear_error();
        errno = 0;
        if ((bio = BIO_new_file(path, "r")) == NULL) {
                errbuf_set(err, errlen, "--ttp-key %s: %s", path,
                           strerror(errno != 0 ? errno : ENOENT));
                goto done;
        }
        if ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
                errbuf_set(err, errlen,
                           "--ttp-key %s: not a PEM public key "
                           "(\"BEGIN PUBLIC KEY\"): %s",
                           path, verify_ssl_reason(why, sizeof(why)));
                goto done;
        }
        if ((derlen = i2d_PUBKEY(pkey, &der)) <= 0) {
                errbuf_set(err, errlen, "--ttp-key %s: %s", path,
                           verify_ssl_reason(why, sizeof(why)));
                goto done;
        }
        if (crypto_pubkey_from_der(der, (size_t)derlen, &key, why,
                                   sizeof(why)) == -1 ||
            crypto_key_id(key, key_id, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "--ttp-key %s: %s", path, why);
                goto done;
        }
        ret = 0;
done:
        crypto_key_free(key);
        OPENSSL_free(der);
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        return ret;
}

/* The key id of a base64 SPKI from the evidence, or "" if it has none. */
static void verify_key_id(const char *b64, char *key_id)
{
        struct crypto_key *key = NULL;
        unsigned char *der = NULL;
        size_t derlen;

        key_id[0] = '\0';
        if (b64 == NULL || b64[0] == '\0' ||
            base64_decode(b64, strlen(b64), &der, &derlen, NULL, 0) == -1)
                return;
        if (crypto_pubkey_from_der(der, derlen, &key, NULL, 0) == 0 &&
            crypto_key_id(key, key_id, NULL, 0) == -1)
                key_id[0] = '\0';
        crypto_key_free(key);
        free(der);
}

/*
 * Whether `doc` has the evidence's size and SHA-256, judged on its own
 * (the verdict stops at the first failure, possibly before the document):
 * a JSON true, false, or null when it cannot be read.
 */
static json_t *verify_doc_matches(const struct evidence *ev, const char *doc)
{
        unsigned char digest[CRYPTO_SHA256_LEN];
        char hex[CRYPTO_SHA256_HEX_LEN + 1];
        uint64_t size;

        if (ev == NULL || doc == NULL ||
            crypto_sha256_path(doc, digest, &size, NULL, 0) == -1)
                return json_null();
        hex_encode(digest, sizeof(digest), hex, sizeof(hex));
        return json_boolean(size == ev->size && strcmp(hex, ev->sha256) == 0);
}

static json_t *verify_str_or_null(const char *s)
{
        return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/*
 * The --json verdict: always the same keys, null where unknown, so that
 * a script can read it without guessing.  `ev` is NULL when the file
 * could not be read.
 */
static void verify_print_json(const struct evidence *ev, const char *reason,
                              const char *doc, int pinned)
{
        char a_id[CRYPTO_KEY_ID_LEN + 1] = "", b_id[CRYPTO_KEY_ID_LEN + 1] = "";
        char t_id[CRYPTO_KEY_ID_LEN + 1] = "";
        json_t *o;

        if (ev != NULL) {
                verify_key_id(ev->uploader_public_key, a_id);
                verify_key_id(ev->downloader_public_key, b_id);
                verify_key_id(ev->ttp_public_key, t_id);
        }
        o = json_pack(
            "{s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
            "s:o, s:b, s:o, s:o}",
            "valid", reason == NULL, "reason", verify_str_or_null(reason),
            "kind",
            verify_str_or_null(ev == NULL                    ? NULL
                               : ev->kind == EVIDENCE_UPLOAD ? "upload"
                                                             : "exchange"),
            "file_id", verify_str_or_null(ev ? ev->file_id : NULL), "name",
            verify_str_or_null(ev ? ev->name : NULL), "uploader",
            verify_str_or_null(ev ? ev->uploader : NULL), "uploader_key_id",
            verify_str_or_null(a_id), "downloader",
            verify_str_or_null(ev ? ev->downloader : NULL), "downloader_key_id",
            verify_str_or_null(b_id), "sha256",
            verify_str_or_null(ev ? ev->sha256 : NULL), "size",
            ev ? json_integer((json_int_t)ev->size) : json_null(), "time",
            verify_str_or_null(ev ? ev->time : NULL), "ttp_key_id",
            verify_str_or_null(t_id), "ttp_key_pinned", pinned, "document",
            verify_str_or_null(doc), "document_matches",
            verify_doc_matches(ev, doc));
        if (o == NULL) {
                fprintf(stderr, "tds verify: out of memory\n");
                return;
        }
        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
}

static void verify_print_summary(const struct evidence *ev, const char *doc,
                                 int pinned)
{
        char a_id[CRYPTO_KEY_ID_LEN + 1], b_id[CRYPTO_KEY_ID_LEN + 1];
        char t_id[CRYPTO_KEY_ID_LEN + 1];
        int exchange = ev->kind == EVIDENCE_EXCHANGE;

        verify_key_id(ev->uploader_public_key, a_id);
        verify_key_id(ev->downloader_public_key, b_id);
        verify_key_id(ev->ttp_public_key, t_id);
        /* Every value printed passed the forms check: no control bytes. */
        printf("kind        %s\n", exchange ? "exchange" : "upload");
        printf("file id     %s\n", ev->file_id);
        if (ev->name[0] != '\0')
                printf("name        %s (not signed)\n", ev->name);
        printf("uploader    %s (key id %s)\n", ev->uploader, a_id);
        if (exchange)
                printf("downloader  %s (key id %s)\n", ev->downloader, b_id);
        printf("sha256      %s\n", ev->sha256);
        printf("size        %llu bytes\n", (unsigned long long)ev->size);
        printf("time        %s\n", ev->time);
        printf("NRO valid: %s originated this document for this file\n",
               ev->uploader);
        if (exchange)
                printf("NRR valid: %s received it, bound to %s's NRO\n",
                       ev->downloader, ev->uploader);
        printf("TTP countersignature valid (key id %s)\n", t_id);
        if (pinned)
                printf("TTP key id is the expected one\n");
        else
                printf("WARNING: TTP key not pinned: anyone can countersign "
                       "with a key of their own;\n"
                       "         check the key id above against the TTP's, "
                       "or pass --ttp-key or --ttp-key-id\n");
        if (doc != NULL)
                printf("document matches (%s)\n", doc);
        printf("VALID\n");
}

int cmd_verify(int argc, char **argv)
{
        static const struct option opts[] = {
            {"file", required_argument, NULL, 'f'},
            {"ttp-key-id", required_argument, NULL, 'k'},
            {"ttp-key", required_argument, NULL, 'K'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        const char *doc = NULL, *key_file = NULL, *key_id_arg = NULL, *path;
        char pin[CRYPTO_KEY_ID_LEN + 1], err[1024];
        struct evidence ev;
        struct stat st;
        json_t *root = NULL;
        int ch, json = 0, fd, ret = VERIFY_FAIL;

        optind = 1;
        while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (ch) {
                case 'f':
                        doc = optarg;
                        break;
                case 'k':
                        key_id_arg = optarg;
                        break;
                case 'K':
                        key_file = optarg;
                        break;
                case 'j':
                        json = 1;
                        break;
                case 'h':
                        cmd_verify_help(stdout);
                        return VERIFY_OK;
                default:
                        goto usage;
                }
        }
        if (argc - optind != 1) {
                fprintf(stderr, "tds verify: %s\n",
                        optind == argc ? "which evidence file?"
                                       : "one evidence file at a time");
                goto usage;
        }
        path = argv[optind];
        if (key_id_arg != NULL && key_file != NULL) {
                fprintf(stderr, "tds verify: --ttp-key-id and --ttp-key "
                                "exclude each other\n");
                goto usage;
        }
        if (key_id_arg != NULL) {
                /* Key ids are lowercase on the wire; be kind to copy-paste. */
                size_t n = strlen(key_id_arg);
                for (size_t i = 0; i < n && i < CRYPTO_KEY_ID_LEN; i++)
                        pin[i] = (char)tolower((unsigned char)key_id_arg[i]);
                pin[n < CRYPTO_KEY_ID_LEN ? n : CRYPTO_KEY_ID_LEN] = '\0';
                if (n != CRYPTO_KEY_ID_LEN ||
                    !hex_is_lower(pin, CRYPTO_KEY_ID_LEN)) {
                        fprintf(stderr, "tds verify: --ttp-key-id must be 64 "
                                        "hex digits (SHA-256 of the TTP's "
                                        "SPKI DER)\n");
                        goto usage;
                }
        } else if (key_file != NULL &&
                   verify_pem_key_id(key_file, pin, err, sizeof(err)) == -1) {
                goto fail;
        }

        if (evidence_load(path, &root, &ev, err, sizeof(err)) == -1)
                goto fail;
        /* An unreadable document is a failure to check, not a verdict. */
        if (doc != NULL) {
                if ((fd = open(doc, O_RDONLY | O_CLOEXEC)) == -1 ||
                    fstat(fd, &st) == -1) {
                        errbuf_set(err, sizeof(err), "--file %s: %s", doc,
                                   strerror(errno));
                        if (fd != -1)
                                close(fd);
                        goto fail;
                }
                close(fd);
                if (!S_ISREG(st.st_mode)) {
                        errbuf_set(err, sizeof(err),
                                   "--file %s: not a regular file", doc);
                        goto fail;
                }
        }
        if (evidence_verify(&ev,
                            key_id_arg != NULL || key_file != NULL ? pin : NULL,
                            doc, err, sizeof(err)) == -1) {
                if (json)
                        verify_print_json(&ev, err, doc,
                                          key_id_arg || key_file);
                else
                        printf("tds verify: INVALID: %s\n", err);
                ret = VERIFY_INVALID;
                goto done;
        }
        if (json)
                verify_print_json(&ev, NULL, doc, key_id_arg || key_file);
        else
                verify_print_summary(&ev, doc, key_id_arg || key_file);
        ret = VERIFY_OK;
        goto done;
fail:
        fprintf(stderr, "tds verify: %s\n", err);
        if (json)
                verify_print_json(NULL, err, NULL, key_id_arg || key_file);
        ret = VERIFY_FAIL;
        goto done;
usage:
        cmd_verify_help(stderr);
        ret = VERIFY_USAGE;
done:
        json_decref(root);
        return ret;
}
