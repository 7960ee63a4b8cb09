/*
 * tds verify: a judge's check of an evidence file, a bundle or a tree
 * head file, entirely offline (no network, no database, no client home):
 * libtds/evidence.c and libtds/bundle.c do the checking, this file only
 * reads options, pins the TTP key and reports.  The kind of file is told
 * by its version key: "tds_bundle", "tds_tree_head", else evidence.
 *
 * The verdict is the command's output, on stdout; operational errors
 * (unreadable or malformed file, bad options) go to stderr.  Exit 0 valid,
 * 4 invalid, 1 could not be checked, 2 usage.
 */
#include "commands.h"

#include "base64.h"
#include "bundle.h"
#include "crypto.h"
#include "errbuf.h"
#include "evidence.h"
#include "hex.h"
#include "home.h"
#include "ids.h"

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
#define VERIFY_PEM_MAX (64 * 1024)

enum verify_type { VT_EVIDENCE, VT_BUNDLE, VT_HEAD };

/* What a bundle or head check established, for the report. */
struct verify_log {
        enum verify_type type;
        const struct bundle_head *head; /* NULL for evidence */
        struct bundle_verdict v;        /* when valid */
        int tsa_ca;                     /* --tsa-ca given */
};

void cmd_verify_help(FILE *out)
{
        fprintf(out,
                "usage: tds verify FILE [--file DOC] "
                "[--ttp-key-id HEX | --ttp-key PEMFILE]\n"
                "                  [--tsa-ca PEMFILE] [--json]\n"
                "\n"
                "Check offline an evidence file, a bundle (tds bundle) or a "
                "tree head file\n"
                "(tds log head).  No network, no database.\n"
                "\n"
                "  evidence   the NRO under the uploader's key, the NRR "
                "under the downloader's\n"
                "             key (exchange), the digests that chain them, "
                "the TTP's\n"
                "             countersignature\n"
                "  bundle     the evidence, then the tree head (signed by "
                "the same TTP, its\n"
                "             RFC 3161 token over it by a TSA chaining to "
                "the TTP), the leaf\n"
                "             rebuilt from the evidence and its inclusion "
                "proof up to the\n"
                "             head's root, the evidence older than the "
                "token\n"
                "  tree head  its signature and its token\n"
                "\n"
                "  --file DOC         the document must also have the "
                "evidence's size and SHA-256\n"
                "  --ttp-key-id HEX   the TTP key must have this key id "
                "(64 hex digits)\n"
                "  --ttp-key PEMFILE  the TTP key must be this one (SPKI "
                "PEM, e.g. ttp_key.pem.pub)\n"
                "  --tsa-ca PEMFILE   the trust anchor of the TSA's chain "
                "(default: the TTP's own\n"
                "                     CA certificate, last in the head's "
                "chain, which must hold\n"
                "                     the TTP key)\n"
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

static json_t *verify_u64_or_null(int have, uint64_t n)
{
        return have ? json_integer((json_int_t)n) : json_null();
}

static json_t *verify_time_or_null(int have, time_t t)
{
        char s[IDS_TIME_LEN + 1];

        if (!have || ids_time_format(t, s, NULL, 0) == -1)
                return json_null();
        return json_string(s);
}

static const char *verify_type_name(enum verify_type t)
{
        return t == VT_BUNDLE ? "bundle"
               : t == VT_HEAD ? "tree_head"
                              : "evidence";
}

/*
 * The --json verdict: always the same keys, null where unknown, so that
 * a script can read it without guessing.  `ev` is NULL when the file
 * could not be read or holds no evidence (a head); `lg` says what the log
 * part established (NULL when the file could not be read).
 */
static void verify_print_json(const struct evidence *ev, const char *reason,
                              const char *doc, int pinned,
                              const struct verify_log *lg)
{
        char a_id[CRYPTO_KEY_ID_LEN + 1] = "", b_id[CRYPTO_KEY_ID_LEN + 1] = "";
        char t_id[CRYPTO_KEY_ID_LEN + 1] = "";
        const struct bundle_head *h = lg != NULL ? lg->head : NULL;
        int ok = reason == NULL && h != NULL;
        json_t *o, *extra;

        if (ev != NULL) {
                verify_key_id(ev->uploader_public_key, a_id);
                verify_key_id(ev->downloader_public_key, b_id);
                verify_key_id(ev->ttp_public_key, t_id);
        } else if (h != NULL) {
                snprintf(t_id, sizeof(t_id), "%s", h->log_id);
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
        /* The evidence log's part: null for evidence files. */
        extra = json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "file_type",
            lg != NULL ? json_string(verify_type_name(lg->type)) : json_null(),
            "leaf_index",
            verify_u64_or_null(ok && lg->type == VT_BUNDLE,
                               lg ? lg->v.leaf_index : 0),
            "tree_size", verify_u64_or_null(h != NULL, h ? h->tree_size : 0),
            "root_hash", verify_str_or_null(h ? h->root_hash : NULL),
            "head_time", verify_str_or_null(h ? h->time : NULL), "log_id",
            verify_str_or_null(h ? h->log_id : NULL), "stamped_at",
            verify_time_or_null(ok, lg ? lg->v.stamped_at : 0));
        if (o == NULL || extra == NULL || json_object_update(o, extra) == -1) {
                fprintf(stderr, "tds verify: out of memory\n");
                json_decref(o);
                json_decref(extra);
                return;
        }
        json_decref(extra);
        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
}

/* The evidence's lines of the summary (without the final VALID). */
static void verify_print_evidence(const struct evidence *ev, const char *doc,
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
}

/* The head's lines: what the log part of a bundle or a head proved. */
static void verify_print_head(const struct verify_log *lg, int pinned)
{
        const struct bundle_head *h = lg->head;
        char t[IDS_TIME_LEN + 1];

        if (ids_time_format(lg->v.stamped_at, t, NULL, 0) == -1)
                snprintf(t, sizeof(t), "(out of range)");
        if (lg->type == VT_BUNDLE)
                printf("log leaf    %llu of a tree of %llu leaves: the leaf "
                       "rebuilt from this evidence,\n"
                       "            inclusion proof valid\n",
                       (unsigned long long)lg->v.leaf_index,
                       (unsigned long long)h->tree_size);
        else
                printf("tree size   %llu leaves\n",
                       (unsigned long long)h->tree_size);
        printf("tree root   %s\n", h->root_hash);
        printf("tree head   signed at %s by the TTP (log id %s), "
               "signature valid\n",
               h->time, h->log_id);
        printf("time-stamp  %s: RFC 3161 token over this head, by a TSA "
               "chaining to %s\n",
               t,
               lg->tsa_ca ? "the given trust anchor (--tsa-ca)"
                          : "the TTP's own CA certificate");
        if (lg->type == VT_HEAD) {
                if (pinned)
                        printf("TTP key id is the expected one\n");
                else
                        printf("WARNING: TTP key not pinned: the head is "
                               "signed by the key log_id names;\n"
                               "         check it against the TTP's, or "
                               "pass --ttp-key or --ttp-key-id\n");
        }
}

/* What a bundle proves, in one sentence a judge can quote. */
static void verify_print_proven(const struct evidence *ev,
                                const struct verify_log *lg)
{
        char a_id[CRYPTO_KEY_ID_LEN + 1], b_id[CRYPTO_KEY_ID_LEN + 1];
        char t[IDS_TIME_LEN + 1];

        verify_key_id(ev->uploader_public_key, a_id);
        verify_key_id(ev->downloader_public_key, b_id);
        if (ids_time_format(lg->v.stamped_at, t, NULL, 0) == -1)
                snprintf(t, sizeof(t), "(out of range)");
        printf("PROVEN: %s (key id %.16s...) originated the document with "
               "SHA-256 %s\n"
               "        (%llu bytes) as file %s",
               ev->uploader, a_id, ev->sha256, (unsigned long long)ev->size,
               ev->file_id);
        if (ev->kind == EVIDENCE_EXCHANGE)
                printf(";\n        %s (key id %.16s...) received it, and "
                       "both got their evidence",
                       ev->downloader, b_id);
        printf(";\n        the TTP (key id %.16s...) recorded the %s at "
               "%s and logged it as\n"
               "        leaf %llu of its evidence log, in a tree of %llu "
               "leaves time-stamped at %s.\n",
               lg->head->log_id,
               ev->kind == EVIDENCE_EXCHANGE ? "exchange" : "upload", ev->time,
               (unsigned long long)lg->v.leaf_index,
               (unsigned long long)lg->head->tree_size, t);
}

/* A PEM file's bytes for the trust of bundle.h (exit 1 when unreadable). */
static char *verify_read_pem(const char *opt, const char *path, size_t *len,
                             char *err, size_t errlen)
{
        char why[1024];
        char *pem = home_read_file(path, VERIFY_PEM_MAX, len, why, sizeof(why));

        if (pem == NULL)
                errbuf_set(err, errlen, "%s %s", opt, why);
        return pem;
}

int cmd_verify(int argc, char **argv)
{
        static const struct option opts[] = {
            {"file", required_argument, NULL, 'f'},
            {"ttp-key-id", required_argument, NULL, 'k'},
            {"ttp-key", required_argument, NULL, 'K'},
            {"tsa-ca", required_argument, NULL, 'C'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        const char *doc = NULL, *key_file = NULL, *key_id_arg = NULL, *path;
        const char *tsa_ca = NULL;
        char pin[CRYPTO_KEY_ID_LEN + 1], err[2048], why[2048];
        char *ttp_pem = NULL, *ca_pem = NULL;
        struct verify_log lg;
        struct bundle_trust trust;
        struct bundle_head head;
        struct bundle *b = NULL;
        struct evidence ev;
        struct stat st;
        json_t *root = NULL;
        int ch, json = 0, fd, pinned, ret = VERIFY_FAIL;

        memset(&lg, 0, sizeof(lg));
        memset(&trust, 0, sizeof(trust));
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
                case 'C':
                        tsa_ca = optarg;
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
                        optind == argc ? "which file?" : "one file at a time");
                goto usage;
        }
        path = argv[optind];
        pinned = key_id_arg != NULL || key_file != NULL;
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
                trust.ttp_key_id = pin;
        } else if (key_file != NULL) {
                if (verify_pem_key_id(key_file, pin, err, sizeof(err)) == -1 ||
                    (ttp_pem = verify_read_pem("--ttp-key", key_file,
                                               &trust.ttp_key_pem_len, err,
                                               sizeof(err))) == NULL)
                        goto fail;
                trust.ttp_key_pem = ttp_pem;
        }
        if (tsa_ca != NULL) {
                if ((ca_pem = verify_read_pem("--tsa-ca", tsa_ca,
                                              &trust.tsa_root_pem_len, err,
                                              sizeof(err))) == NULL)
                        goto fail;
                trust.tsa_root_pem = ca_pem;
                lg.tsa_ca = 1;
        }

        if (bundle_json_load(path, &root, err, sizeof(err)) == -1)
                goto fail;
        if (json_is_object(root) && json_object_get(root, "tds_bundle"))
                lg.type = VT_BUNDLE;
        else if (json_is_object(root) && json_object_get(root, "tds_tree_head"))
                lg.type = VT_HEAD;
        if (lg.type == VT_EVIDENCE && tsa_ca != NULL) {
                fprintf(stderr,
                        "tds verify: --tsa-ca applies to bundles and "
                        "tree heads, %s is evidence\n",
                        path);
                goto usage;
        }
        if (lg.type == VT_HEAD && doc != NULL) {
                fprintf(stderr,
                        "tds verify: --file applies to evidence and "
                        "bundles, %s is a tree head\n",
                        path);
                goto usage;
        }
        /* Malformed is "could not check" (1), as for evidence files. */
        if (lg.type == VT_BUNDLE) {
                if ((b = malloc(sizeof(*b))) == NULL) {
                        errbuf_set(err, sizeof(err), "out of memory");
                        goto fail;
                }
                if (bundle_from_json(root, b, why, sizeof(why)) == -1) {
                        errbuf_set(err, sizeof(err), "%s: %s", path, why);
                        goto fail;
                }
                ev = b->ev;
                lg.head = &b->head;
        } else if (lg.type == VT_HEAD) {
                if (bundle_head_from_json(root, &head, why, sizeof(why)) ==
                    -1) {
                        errbuf_set(err, sizeof(err), "%s: %s", path, why);
                        goto fail;
                }
                lg.head = &head;
        } else if (evidence_from_json(root, &ev, why, sizeof(why)) == -1) {
                errbuf_set(err, sizeof(err), "%s: %s", path, why);
                goto fail;
        }
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
        if (lg.type == VT_BUNDLE)
                ret = bundle_verify(root, &trust, doc, &lg.v, err, sizeof(err));
        else if (lg.type == VT_HEAD)
                ret =
                    bundle_head_verify(&head, &trust, &lg.v, err, sizeof(err));
        else
                ret = evidence_verify(&ev, pinned ? pin : NULL, doc, err,
                                      sizeof(err));
        /* "trust:" is about the judge's own files, not the evidence. */
        if (ret == -1 && strncmp(err, "trust: ", 7) == 0)
                goto fail;
        if (ret == -1) {
                if (json)
                        verify_print_json(lg.type == VT_HEAD ? NULL : &ev, err,
                                          doc, pinned, &lg);
                else
                        printf("tds verify: INVALID: %s\n", err);
                ret = VERIFY_INVALID;
                goto done;
        }
        if (json) {
                verify_print_json(lg.type == VT_HEAD ? NULL : &ev, NULL, doc,
                                  pinned, &lg);
        } else {
                if (lg.type != VT_HEAD)
                        verify_print_evidence(&ev, doc, pinned);
                if (lg.type != VT_EVIDENCE)
                        verify_print_head(&lg, pinned);
                if (lg.type == VT_BUNDLE)
                        verify_print_proven(&ev, &lg);
                printf("VALID\n");
        }
        ret = VERIFY_OK;
        goto done;
fail:
        fprintf(stderr, "tds verify: %s\n", err);
        if (json)
                verify_print_json(NULL, err, NULL, pinned, NULL);
        ret = VERIFY_FAIL;
        goto done;
usage:
        cmd_verify_help(stderr);
        ret = VERIFY_USAGE;
done:
        json_decref(root);
        free(b);
        free(ttp_pem);
        free(ca_pem);
        return ret;
}
