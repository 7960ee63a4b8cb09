/*
 * tsa: RFC 3161 tokens made and checked by OpenSSL's TS_* code, and the
 * two certificates (CA, TSA) that let a judge check them with
 * `openssl ts -verify`.  Nothing here re-implements CMS or ASN.1: tokens
 * come out of TS_RESP_create_response() and are checked by
 * TS_RESP_verify_token(); this module only feeds them and adds the checks
 * OpenSSL leaves to the caller (the imprint's algorithm, the time at which
 * the chain must hold).
 */
#include "tsa.h"

#include "atomicfile.h"
#include "crypto_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TSA_SERIAL_LEN 16    /* bytes of a certificate serial number */
#define TSA_DAYS_MAX   36525 /* a century: anything longer is a typo */

/*
 * One TS_RESP_CTX, reused for every token; like it, a signer serves one
 * thread at a time.  The context holds its own references to the key and
 * the certificate, so the caller's may go once the signer exists.
 */
struct tsa_signer {
        TS_RESP_CTX *ctx;
        uint64_t serial; /* the serial callback's answer for this stamp */
};

static void tsa_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Format the message, then append and drain OpenSSL's error queue.  The
 * reason strings and their data ("Verify error:certificate has expired")
 * say more to a reader than the packed error codes, so those are what is
 * kept.  The queue is drained even without a buffer.
 */
static void tsa_err(char *err, size_t errlen, const char *fmt, ...)
{
        const char *data = NULL, *reason;
        char code[256];
        unsigned long e;
        va_list ap;
        size_t len;
        int flags = 0, first = 1;

        if (err != NULL && errlen > 0) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
                if (err == NULL || errlen == 0)
                        continue;
                if ((reason = ERR_reason_error_string(e)) == NULL) {
                        ERR_error_string_n(e, code, sizeof(code));
                        reason = code;
                }
                len = strlen(err);
                if (len + 1 < errlen)
                        snprintf(err + len, errlen - len, "%s%s%s%s%s",
                                 first ? ": " : "; ", reason,
                                 (flags & ERR_TXT_STRING) ? " (" : "",
                                 (flags & ERR_TXT_STRING) ? data : "",
                                 (flags & ERR_TXT_STRING) ? ")" : "");
                first = 0;
        }
}

void tsa_cert_clear(struct tsa_cert *c)
{
        if (c == NULL)
                return;
        free(c->der);
        c->der = NULL;
        c->len = 0;
}

/* One DER certificate, strictly: nothing may follow it. */
static X509 *tsa_x509_from_der(const unsigned char *der, size_t len,
                               const char *what, char *err, size_t errlen)
{
        const unsigned char *p = der;
        X509 *x;

        if (der == NULL || len == 0 || len > LONG_MAX) {
                tsa_err(err, errlen, "%s: no certificate", what);
                return NULL;
        }
        if ((x = d2i_X509(NULL, &p, (long)len)) == NULL) {
                tsa_err(err, errlen, "%s: not a DER certificate", what);
                return NULL;
        }
        if (p != der + len) {
                tsa_err(err, errlen, "%s: %zu bytes after the certificate",
                        what, (size_t)(der + len - p));
                X509_free(x);
                return NULL;
        }
        return x;
}

/* `x` as DER in a malloc'ed buffer (not OpenSSL's allocator). */
static int tsa_x509_to_cert(X509 *x, struct tsa_cert *out, char *err,
                            size_t errlen)
{
        unsigned char *buf = NULL, *p;
        int len, ret = -1;

        if ((len = i2d_X509(x, NULL)) <= 0) {
                tsa_err(err, errlen, "encoding the certificate");
                goto done;
        }
        if ((buf = malloc((size_t)len)) == NULL) {
                tsa_err(err, errlen, "out of memory");
                goto done;
        }
        p = buf;
        if (i2d_X509(x, &p) != len) {
                tsa_err(err, errlen, "encoding the certificate");
                goto done;
        }
        out->der = buf;
        out->len = (size_t)len;
        buf = NULL;
        ret = 0;
done:
        free(buf);
        return ret;
}

/* Add the extension `nid` = `value` (openssl.cnf syntax) to `x`. */
static int tsa_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value,
                       char *err, size_t errlen)
{
        X509_EXTENSION *ext;
        int ok;

        if ((ext = X509V3_EXT_conf_nid(NULL, v3, nid, value)) == NULL) {
                tsa_err(err, errlen, "extension %s = %s", OBJ_nid2sn(nid),
                        value);
                return -1;
        }
        ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        if (!ok) {
                tsa_err(err, errlen, "adding extension %s", OBJ_nid2sn(nid));
                return -1;
        }
        return 0;
}

/*
 * A certificate of `subject_key` named `cn`, valid from now for `days`,
 * signed with SHA-256 by `issuer_key` whose certificate is `issuer`
 * (NULL: self-signed).  `is_ca` picks the profile of tsa.h: the TTP's CA
 * or the TSA.  Subject and authority key identifiers come on top (RFC
 * 5280 4.2.1.1-2), so that chains build by key id as well as by name; an
 * issuer without a subject key identifier is named by issuer and serial.
 */
static int tsa_cert_make(EVP_PKEY *issuer_key, X509 *issuer,
                         EVP_PKEY *subject_key, const char *cn, int days,
                         int is_ca, struct tsa_cert *out, char *err,
                         size_t errlen)
{
        unsigned char serial[TSA_SERIAL_LEN];
        X509_NAME *name = NULL;
        BIGNUM *bn = NULL;
        X509V3_CTX v3;
        X509 *x = NULL;
        time_t now;
        int ret = -1;

        if (cn == NULL || *cn == '\0') {
                tsa_err(err, errlen, "certificate: empty common name");
                goto done;
        }
        if (days <= 0 || days > TSA_DAYS_MAX) {
                tsa_err(err, errlen,
                        "certificate: validity of %d days is not 1 to %d", days,
                        TSA_DAYS_MAX);
                goto done;
        }
        /*
         * 16 random bytes, top bit clear so the INTEGER stays positive
         * and 16 bytes long, next bit set so it is never short or zero.
         */
        if (crypto_random(serial, sizeof(serial), err, errlen) == -1)
                goto done;
        serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
        if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL ||
            (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL) {
                tsa_err(err, errlen, "certificate: out of memory");
                goto done;
        }
        if (!X509_set_version(x, X509_VERSION_3) ||
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
                tsa_err(err, errlen, "certificate: version and serial");
                goto done;
        }
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                        (const unsigned char *)cn, -1, -1, 0) ||
            !X509_set_subject_name(x, name) ||
            !X509_set_issuer_name(
                x, issuer != NULL ? X509_get_subject_name(issuer) : name)) {
                tsa_err(err, errlen, "certificate: names");
                goto done;
        }
        now = time(NULL);
        if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) == NULL ||
            X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL) {
                tsa_err(err, errlen, "certificate: validity");
                goto done;
        }
        if (!X509_set_pubkey(x, subject_key)) {
                tsa_err(err, errlen, "certificate: public key");
                goto done;
        }
        X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
        if (is_ca) {
                if (tsa_add_ext(x, &v3, NID_basic_constraints,
                                "critical,CA:TRUE", err, errlen) == -1 ||
                    tsa_add_ext(x, &v3, NID_key_usage,
                                "critical,keyCertSign,cRLSign", err,
                                errlen) == -1 ||
                    tsa_add_ext(x, &v3, NID_subject_key_identifier, "hash", err,
                                errlen) == -1)
                        goto done;
        } else {
                /* OpenSSL refuses a TSA whose EKU is not critical. */
                if (tsa_add_ext(x, &v3, NID_basic_constraints, "CA:FALSE", err,
                                errlen) == -1 ||
                    tsa_add_ext(x, &v3, NID_key_usage,
                                "critical,digitalSignature", err,
                                errlen) == -1 ||
                    tsa_add_ext(x, &v3, NID_ext_key_usage,
                                "critical,timeStamping", err, errlen) == -1 ||
                    tsa_add_ext(x, &v3, NID_subject_key_identifier, "hash", err,
                                errlen) == -1 ||
                    tsa_add_ext(x, &v3, NID_authority_key_identifier,
                                "keyid,issuer", err, errlen) == -1)
                        goto done;
        }
        if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
                tsa_err(err, errlen, "certificate: signing");
                goto done;
        }
        if (tsa_x509_to_cert(x, out, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        BN_free(bn);
        X509_NAME_free(name);
        X509_free(x);
        return ret;
}

int tsa_ca_cert_create(const struct crypto_key *ca_key, const char *cn,
                       int days, struct tsa_cert *out, char *err, size_t errlen)
{
        EVP_PKEY *pkey = crypto_key_pkey(ca_key);

        out->der = NULL;
        out->len = 0;
        ERR_clear_error();
        if (!crypto_key_has_private(ca_key)) {
                tsa_err(err, errlen, "CA certificate: the CA key is public");
                return -1;
        }
        return tsa_cert_make(pkey, NULL, pkey, cn, days, 1, out, err, errlen);
}

int tsa_cert_issue(const struct crypto_key *ca_key,
                   const struct tsa_cert *ca_cert,
                   const struct crypto_key *tsa_key, const char *cn, int days,
                   struct tsa_cert *out, char *err, size_t errlen)
{
        X509 *ca = NULL;
        int ret = -1;

        out->der = NULL;
        out->len = 0;
        ERR_clear_error();
        if (!crypto_key_has_private(ca_key)) {
                tsa_err(err, errlen, "TSA certificate: the CA key is public");
                goto done;
        }
        if ((ca = tsa_x509_from_der(ca_cert->der, ca_cert->len,
                                    "CA certificate", err, errlen)) == NULL)
                goto done;
        /* Else the certificate would name an issuer that did not sign it. */
        if (EVP_PKEY_eq(X509_get0_pubkey(ca), crypto_key_pkey(ca_key)) != 1) {
                tsa_err(err, errlen,
                        "TSA certificate: the CA certificate is not the CA "
                        "key's");
                goto done;
        }
        ret =
            tsa_cert_make(crypto_key_pkey(ca_key), ca, crypto_key_pkey(tsa_key),
                          cn, days, 0, out, err, errlen);
done:
        X509_free(ca);
        return ret;
}

int tsa_cert_save_pem(const struct tsa_cert *c, const char *path, char *err,
                      size_t errlen)
{
        char why[512];
        X509 *x = NULL;
        BIO *bio = NULL;
        char *data;
        long len;
        int ret = -1;

        ERR_clear_error();
        if ((x = tsa_x509_from_der(c->der, c->len, path, err, errlen)) == NULL)
                goto done;
        if ((bio = BIO_new(BIO_s_mem())) == NULL ||
            !PEM_write_bio_X509(bio, x) ||
            (len = BIO_get_mem_data(bio, &data)) <= 0) {
                tsa_err(err, errlen, "%s: writing PEM", path);
                goto done;
        }
        /* A certificate is public: readable by all, like /etc/ssl/certs. */
        if (atomicfile_write(path, data, (size_t)len, 0644, 0, why,
                             sizeof(why)) == -1) {
                tsa_err(err, errlen, "%s", why);
                goto done;
        }
        ret = 0;
done:
        BIO_free(bio);
        X509_free(x);
        return ret;
}

/* A PEM file of certificates has no passphrase: never prompt for one. */
static int tsa_no_pass_cb(char *buf, int size, int rwflag, void *u)
{
        (void)buf;
        (void)size;
        (void)rwflag;
        (void)u;
        return -1;
}

int tsa_cert_load_pem(const char *path, struct tsa_cert *out, char *err,
                      size_t errlen)
{
        X509 *x = NULL;
        BIO *bio = NULL;
        int ret = -1;

        out->der = NULL;
        out->len = 0;
        ERR_clear_error();
        if ((bio = BIO_new_file(path, "r")) == NULL) {
                tsa_err(err, errlen, "%s: cannot open", path);
                goto done;
        }
        if ((x = PEM_read_bio_X509(bio, NULL, tsa_no_pass_cb, NULL)) == NULL) {
                tsa_err(err, errlen, "%s: no PEM certificate", path);
                goto done;
        }
        if (tsa_x509_to_cert(x, out, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        X509_free(x);
        BIO_free(bio);
        return ret;
}

int tsa_cert_matches_key(const struct tsa_cert *cert,
                         const struct crypto_key *key, char *err, size_t errlen)
{
        X509 *x = NULL;
        int ret = -1;

        ERR_clear_error();
        if ((x = tsa_x509_from_der(cert->der, cert->len, "certificate", err,
                                   errlen)) == NULL)
                goto done;
        if (EVP_PKEY_eq(X509_get0_pubkey(x), crypto_key_pkey(key)) != 1) {
                tsa_err(err, errlen,
                        "the certificate holds another public key");
                goto done;
        }
        ret = 0;
done:
        X509_free(x);
        return ret;
}

/*
 * The serial number of the token being made: the caller's, stored in the
 * signer by tsa_stamp() just before TS_RESP_create_response() asks.
 */
static ASN1_INTEGER *tsa_serial_cb(TS_RESP_CTX *ctx, void *data)
{
        const struct tsa_signer *s = data;
        ASN1_INTEGER *serial;

        if ((serial = ASN1_INTEGER_new()) == NULL ||
            !ASN1_INTEGER_set_uint64(serial, s->serial)) {
                ASN1_INTEGER_free(serial);
                TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION,
                                            "Error during serial number "
                                            "generation.");
                TS_RESP_CTX_add_failure_info(ctx,
                                             TS_INFO_ADD_INFO_NOT_AVAILABLE);
                return NULL;
        }
        return serial;
}

int tsa_signer_new(const struct crypto_key *tsa_key,
                   const struct tsa_cert *tsa_cert, struct tsa_signer **out,
                   char *err, size_t errlen)
{
        struct tsa_signer *s = NULL;
        ASN1_OBJECT *policy = NULL;
        X509 *x = NULL;
        int ret = -1;

        *out = NULL;
        ERR_clear_error();
        if (!crypto_key_has_private(tsa_key)) {
                tsa_err(err, errlen, "TSA: the key is public only");
                goto done;
        }
        if ((x = tsa_x509_from_der(tsa_cert->der, tsa_cert->len,
                                   "TSA certificate", err, errlen)) == NULL)
                goto done;
        if (EVP_PKEY_eq(X509_get0_pubkey(x), crypto_key_pkey(tsa_key)) != 1) {
                tsa_err(err, errlen,
                        "TSA: the certificate holds another public key");
                goto done;
        }
        if ((s = calloc(1, sizeof(*s))) == NULL ||
            (s->ctx = TS_RESP_CTX_new()) == NULL) {
                tsa_err(err, errlen, "TSA: out of memory");
                goto done;
        }
        /* Checks the certificate's purpose: critical timeStamping EKU. */
        if (!TS_RESP_CTX_set_signer_cert(s->ctx, x)) {
                tsa_err(err, errlen,
                        "TSA: the certificate is not for time-stamping "
                        "(it needs a critical extendedKeyUsage "
                        "timeStamping and nothing else)");
                goto done;
        }
        if ((policy = OBJ_txt2obj(TSA_POLICY_OID, 1)) == NULL) {
                tsa_err(err, errlen, "TSA: policy %s", TSA_POLICY_OID);
                goto done;
        }
        if (!TS_RESP_CTX_set_signer_key(s->ctx, crypto_key_pkey(tsa_key)) ||
            !TS_RESP_CTX_set_signer_digest(s->ctx, EVP_sha256()) ||
            !TS_RESP_CTX_set_ess_cert_id_digest(s->ctx, EVP_sha256()) ||
            !TS_RESP_CTX_set_def_policy(s->ctx, policy) ||
            !TS_RESP_CTX_add_md(s->ctx, EVP_sha256()) ||
            !TS_RESP_CTX_set_clock_precision_digits(s->ctx, 0)) {
                tsa_err(err, errlen, "TSA: setting up the response context");
                goto done;
        }
        /* The TSA's name in the token: `openssl ts -text` shows who it is. */
        TS_RESP_CTX_add_flags(s->ctx, TS_TSA_NAME);
        TS_RESP_CTX_set_serial_cb(s->ctx, tsa_serial_cb, s);
        *out = s;
        s = NULL;
        ret = 0;
done:
        tsa_signer_free(s);
        ASN1_OBJECT_free(policy);
        X509_free(x);
        return ret;
}

void tsa_signer_free(struct tsa_signer *s)
{
        if (s == NULL)
                return;
        /* Drops its references to the key and the certificate. */
        TS_RESP_CTX_free(s->ctx);
        free(s);
}

/* A genTime (GeneralizedTime, fractions dropped) as a time_t. */
static int tsa_gentime(const ASN1_GENERALIZEDTIME *gt, time_t *out, char *err,
                       size_t errlen)
{
        struct tm tm;
        time_t t;

        memset(&tm, 0, sizeof(tm));
        if (gt == NULL || !ASN1_TIME_to_tm(gt, &tm)) {
                tsa_err(err, errlen, "token: bad genTime");
                return -1;
        }
        if ((t = timegm(&tm)) == (time_t)-1) {
                tsa_err(err, errlen, "token: genTime out of range");
                return -1;
        }
        *out = t;
        return 0;
}

/* A DER TimeStampReq for the SHA-256 `digest`, asking for the cert. */
static int tsa_request(const unsigned char digest[32], BIO *out, char *err,
                       size_t errlen)
{
        unsigned char md[CRYPTO_SHA256_LEN];
        TS_MSG_IMPRINT *imprint = NULL;
        X509_ALGOR *alg = NULL;
        TS_REQ *req = NULL;
        int ret = -1;

        memcpy(md, digest, sizeof(md));
        if ((req = TS_REQ_new()) == NULL ||
            (imprint = TS_MSG_IMPRINT_new()) == NULL ||
            (alg = X509_ALGOR_new()) == NULL) {
                tsa_err(err, errlen, "stamp: out of memory");
                goto done;
        }
        if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
            !TS_MSG_IMPRINT_set_algo(imprint, alg) ||
            !TS_MSG_IMPRINT_set_msg(imprint, md, (int)sizeof(md)) ||
            !TS_REQ_set_version(req, 1) ||
            !TS_REQ_set_msg_imprint(req, imprint) ||
            !TS_REQ_set_cert_req(req, 1) || !i2d_TS_REQ_bio(out, req)) {
                tsa_err(err, errlen, "stamp: building the request");
                goto done;
        }
        ret = 0;
done:
        X509_ALGOR_free(alg);
        TS_MSG_IMPRINT_free(imprint);
        TS_REQ_free(req);
        return ret;
}

/* Why TS_RESP_create_response() said no, from the response itself. */
static void tsa_status_err(TS_RESP *resp, long status, char *err, size_t errlen)
{
        const STACK_OF(ASN1_UTF8STRING) * text;
        const ASN1_UTF8STRING *first = NULL;

        text = TS_STATUS_INFO_get0_text(TS_RESP_get_status_info(resp));
        if (text != NULL && sk_ASN1_UTF8STRING_num(text) > 0)
                first = sk_ASN1_UTF8STRING_value(text, 0);
        tsa_err(err, errlen, "stamp: TSA status %ld: %.*s", status,
                first != NULL ? ASN1_STRING_length(first) : 0,
                first != NULL ? (const char *)ASN1_STRING_get0_data(first)
                              : "");
}

int tsa_stamp(struct tsa_signer *s, const unsigned char digest[32],
              uint64_t serial, unsigned char **token, size_t *token_len,
              time_t *gen_time, char *err, size_t errlen)
{
        unsigned char *buf = NULL, *p;
        TS_RESP *resp = NULL;
        BIO *req = NULL;
        time_t t = 0;
        long status;
        int len, ret = -1;

        *token = NULL;
        *token_len = 0;
        ERR_clear_error();
        if ((req = BIO_new(BIO_s_mem())) == NULL) {
                tsa_err(err, errlen, "stamp: out of memory");
                goto done;
        }
        if (tsa_request(digest, req, err, errlen) == -1)
                goto done;
        s->serial = serial;
        if ((resp = TS_RESP_create_response(s->ctx, req)) == NULL) {
                tsa_err(err, errlen, "stamp: creating the response");
                goto done;
        }
        status = ASN1_INTEGER_get(
            TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp)));
        if (status != TS_STATUS_GRANTED) {
                tsa_status_err(resp, status, err, errlen);
                goto done;
        }
        if (tsa_gentime(TS_TST_INFO_get_time(TS_RESP_get_tst_info(resp)), &t,
                        err, errlen) == -1)
                goto done;
        /* Two passes so that the buffer comes from malloc(). */
        if ((len = i2d_PKCS7(TS_RESP_get_token(resp), NULL)) <= 0) {
                tsa_err(err, errlen, "stamp: encoding the token");
                goto done;
        }
        if ((buf = malloc((size_t)len)) == NULL) {
                tsa_err(err, errlen, "stamp: out of memory");
                goto done;
        }
        p = buf;
        if (i2d_PKCS7(TS_RESP_get_token(resp), &p) != len) {
                tsa_err(err, errlen, "stamp: encoding the token");
                goto done;
        }
        *token = buf;
        *token_len = (size_t)len;
        buf = NULL;
        if (gen_time != NULL)
                *gen_time = t;
        ret = 0;
done:
        free(buf);
        TS_RESP_free(resp);
        BIO_free(req);
        return ret;
}

/*
 * Parse `token` as a TimeStampToken: one DER ContentInfo, nothing after
 * it, SignedData whose content is a TSTInfo.  Both out-objects are the
 * caller's on success.
 */
static int tsa_token_parse(const unsigned char *token, size_t token_len,
                           PKCS7 **p7_out, TS_TST_INFO **tst_out, char *err,
                           size_t errlen)
{
        const unsigned char *p = token;
        TS_TST_INFO *tst = NULL;
        PKCS7 *p7 = NULL;
        int ret = -1;

        if (token == NULL || token_len == 0 || token_len > LONG_MAX) {
                tsa_err(err, errlen, "token: empty");
                goto done;
        }
        if ((p7 = d2i_PKCS7(NULL, &p, (long)token_len)) == NULL) {
                tsa_err(err, errlen, "token: not a DER CMS ContentInfo");
                goto done;
        }
        if (p != token + token_len) {
                tsa_err(err, errlen, "token: %zu bytes after the token",
                        (size_t)(token + token_len - p));
                goto done;
        }
        if ((tst = PKCS7_to_TS_TST_INFO(p7)) == NULL) {
                tsa_err(err, errlen,
                        "token: not a TimeStampToken (SignedData of a "
                        "TSTInfo)");
                goto done;
        }
        *p7_out = p7;
        *tst_out = tst;
        p7 = NULL;
        tst = NULL;
        ret = 0;
done:
        TS_TST_INFO_free(tst);
        PKCS7_free(p7);
        return ret;
}

/*
 * The token is the DER that OpenSSL would write for what it parsed.
 * OpenSSL checks the signature over its own re-encoding of the signed
 * attributes, so a BER variant of them (a tag's constructed bit cleared,
 * say) would verify as well: the bytes handed in would then not be the
 * bytes that were signed.
 */
static int tsa_token_der(PKCS7 *p7, const unsigned char *token,
                         size_t token_len, char *err, size_t errlen)
{
        unsigned char *again = NULL;
        int len, ret = -1;

        if ((len = i2d_PKCS7(p7, &again)) <= 0) {
                tsa_err(err, errlen, "token: cannot re-encode it");
                goto done;
        }
        if ((size_t)len != token_len || memcmp(again, token, token_len) != 0) {
                tsa_err(err, errlen,
                        "token: not DER (BER or altered "
                        "encoding)");
                goto done;
        }
        ret = 0;
done:
        OPENSSL_free(again);
        return ret;
}

/*
 * The token's imprint, which must be SHA-256: TS_VFY_IMPRINT compares the
 * bytes only, so another 32-byte hash of other data would pass it.
 */
static int tsa_imprint_sha256(TS_TST_INFO *tst, const unsigned char **md,
                              char *err, size_t errlen)
{
        TS_MSG_IMPRINT *imprint = TS_TST_INFO_get_msg_imprint(tst);
        const ASN1_OBJECT *oid = NULL;
        ASN1_OCTET_STRING *hashed;
        char name[80];

        X509_ALGOR_get0(&oid, NULL, NULL, TS_MSG_IMPRINT_get_algo(imprint));
        if (OBJ_obj2nid(oid) != NID_sha256) {
                OBJ_obj2txt(name, sizeof(name), oid, 0);
                tsa_err(err, errlen,
                        "token: imprint algorithm is %s, not "
                        "SHA-256",
                        name);
                return -1;
        }
        hashed = TS_MSG_IMPRINT_get_msg(imprint);
        if (ASN1_STRING_length(hashed) != CRYPTO_SHA256_LEN) {
                tsa_err(err, errlen, "token: SHA-256 imprint of %d bytes",
                        ASN1_STRING_length(hashed));
                return -1;
        }
        *md = ASN1_STRING_get0_data(hashed);
        return 0;
}

int tsa_token_info(const unsigned char *token, size_t token_len,
                   time_t *gen_time, uint64_t *serial, unsigned char digest[32],
                   char *err, size_t errlen)
{
        const unsigned char *md = NULL;
        TS_TST_INFO *tst = NULL;
        PKCS7 *p7 = NULL;
        uint64_t sn = 0;
        time_t t = 0;
        int ret = -1;

        ERR_clear_error();
        if (tsa_token_parse(token, token_len, &p7, &tst, err, errlen) == -1)
                goto done;
        if (tsa_gentime(TS_TST_INFO_get_time(tst), &t, err, errlen) == -1)
                goto done;
        if (serial != NULL &&
            !ASN1_INTEGER_get_uint64(&sn, TS_TST_INFO_get_serial(tst))) {
                tsa_err(err, errlen,
                        "token: serial number is negative or does not fit "
                        "64 bits");
                goto done;
        }
        if (digest != NULL && tsa_imprint_sha256(tst, &md, err, errlen) == -1)
                goto done;
        if (gen_time != NULL)
                *gen_time = t;
        if (serial != NULL)
                *serial = sn;
        if (digest != NULL)
                memcpy(digest, md, CRYPTO_SHA256_LEN);
        ret = 0;
done:
        TS_TST_INFO_free(tst);
        PKCS7_free(p7);
        return ret;
}

/*
 * The trust of tsa_verify(): `root` as the only anchor (no default
 * paths), the chain checked at `at` instead of now.  TS_VERIFY_CTX_set_store
 * takes the store; X509_STORE_CTX_init() inherits its time.
 */
static X509_STORE *tsa_store(const struct tsa_cert *root, time_t at, char *err,
                             size_t errlen)
{
        X509_STORE *store = NULL;
        X509 *x = NULL;

        if ((x = tsa_x509_from_der(root->der, root->len, "root certificate",
                                   err, errlen)) == NULL)
                goto fail;
        if ((store = X509_STORE_new()) == NULL ||
            !X509_STORE_add_cert(store, x)) {
                tsa_err(err, errlen, "verify: trust store");
                goto fail;
        }
        X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), at);
        X509_free(x);
        return store;
fail:
        X509_STORE_free(store);
        X509_free(x);
        return NULL;
}

int tsa_verify(const unsigned char *token, size_t token_len,
               const unsigned char digest[32], const struct tsa_cert *root,
               const struct tsa_cert *intermediates, size_t n_intermediates,
               time_t *gen_time, char *err, size_t errlen)
{
        STACK_OF(X509) *untrusted = NULL;
        const unsigned char *md = NULL;
        unsigned char *imprint = NULL;
        TS_VERIFY_CTX *ctx = NULL;
        X509_STORE *store = NULL;
        TS_TST_INFO *tst = NULL;
        PKCS7 *p7 = NULL;
        X509 *x = NULL;
        time_t t = 0;
        size_t i;
        int ret = -1;

        ERR_clear_error();
        if (tsa_token_parse(token, token_len, &p7, &tst, err, errlen) == -1 ||
            tsa_token_der(p7, token, token_len, err, errlen) == -1)
                goto done;
        if (tsa_gentime(TS_TST_INFO_get_time(tst), &t, err, errlen) == -1 ||
            tsa_imprint_sha256(tst, &md, err, errlen) == -1)
                goto done;
        if ((store = tsa_store(root, t, err, errlen)) == NULL)
                goto done;
        if ((untrusted = sk_X509_new_null()) == NULL) {
                tsa_err(err, errlen, "verify: out of memory");
                goto done;
        }
        for (i = 0; i < n_intermediates; i++) {
                if ((x = tsa_x509_from_der(
                         intermediates[i].der, intermediates[i].len,
                         "intermediate certificate", err, errlen)) == NULL)
                        goto done;
                if (!sk_X509_push(untrusted, x)) {
                        tsa_err(err, errlen, "verify: out of memory");
                        goto done;
                }
                x = NULL;
        }
        /* The context frees the imprint with OPENSSL_free(). */
        if ((ctx = TS_VERIFY_CTX_new()) == NULL ||
            (imprint = OPENSSL_memdup(digest, CRYPTO_SHA256_LEN)) == NULL) {
                tsa_err(err, errlen, "verify: out of memory");
                goto done;
        }
        TS_VERIFY_CTX_set_imprint(ctx, imprint, CRYPTO_SHA256_LEN);
        imprint = NULL;
        TS_VERIFY_CTX_set_store(ctx, store);
        store = NULL;
        TS_VERIFY_CTX_set_certs(ctx, untrusted);
        untrusted = NULL;
        /*
         * SIGNATURE covers the CMS signature, the chain to `root` with the
         * timeStamping purpose, and the ESS signing-certificate binding;
         * SIGNER, that a TSA name in the token is the signer's.
         */
        TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE |
                                         TS_VFY_SIGNER | TS_VFY_IMPRINT);
        if (TS_RESP_verify_token(ctx, p7) != 1) {
                tsa_err(err, errlen, "time-stamp token does not verify");
                goto done;
        }
        if (gen_time != NULL)
                *gen_time = t;
        ret = 0;
done:
        TS_VERIFY_CTX_free(ctx);
        OPENSSL_free(imprint);
        X509_STORE_free(store);
        X509_free(x);
        sk_X509_pop_free(untrusted, X509_free);
        TS_TST_INFO_free(tst);
        PKCS7_free(p7);
        return ret;
}
