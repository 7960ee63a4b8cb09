/*
 * tsa: the CA and TSA certificates, tokens stamped and verified, and every
 * way a token must fail: another digest, a flipped bit anywhere, a
 * truncation, another root, a signer without the timeStamping EKU, an
 * imprint of another algorithm, garbage.  Certificates with a chosen
 * validity and tokens with a chosen genTime, signer or imprint algorithm
 * are built here with plain OpenSSL (X509, CMS), independently of tsa.c:
 * they show that the chain is judged at genTime and that verification
 * holds against tokens tsa.c did not make.
 */
#include "crypto.h"
#include "crypto_internal.h"
#include "tsa.h"
#include "unit.h"

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define DAY (24 * 60 * 60)

static char tmpdir[] = "/tmp/tds-unit-tsa.XXXXXX";

/* What most tests share: the TTP's CA, the TSA, a signer, a token. */
struct world {
        struct crypto_key *ca_key, *tsa_key;
        struct tsa_cert ca, tsa;
        struct tsa_signer *signer;
        unsigned char digest[32];
        unsigned char *token;
        size_t token_len;
        time_t gen_time;
};

static char *path_in_tmp(const char *name)
{
        static char buf[256];

        snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
        return buf;
}

static X509 *x509_of(const struct tsa_cert *c)
{
        const unsigned char *p = c->der;
        X509 *x;

        REQUIRE((x = d2i_X509(NULL, &p, (long)c->len)) != NULL);
        return x;
}

static void cert_of(X509 *x, struct tsa_cert *out)
{
        unsigned char *der = NULL;
        int len;

        REQUIRE((len = i2d_X509(x, &der)) > 0);
        REQUIRE((out->der = malloc((size_t)len)) != NULL);
        memcpy(out->der, der, (size_t)len);
        out->len = (size_t)len;
        OPENSSL_free(der);
}

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
        X509_EXTENSION *ext;

        REQUIRE((ext = X509V3_EXT_conf_nid(NULL, v3, nid, value)) != NULL);
        REQUIRE(X509_add_ext(x, ext, -1));
        X509_EXTENSION_free(ext);
}

/*
 * A certificate built without tsa.c: any validity window, a CA or an end
 * entity with extendedKeyUsage `eku` (openssl.cnf syntax, NULL: none).
 */
static X509 *make_cert(EVP_PKEY *subject, EVP_PKEY *issuer_key, X509 *issuer,
                       const char *cn, time_t not_before, time_t not_after,
                       int is_ca, const char *eku, long serial)
{
        X509_NAME *name;
        X509V3_CTX v3;
        X509 *x;

        REQUIRE((x = X509_new()) != NULL && (name = X509_NAME_new()) != NULL);
        REQUIRE(X509_set_version(x, X509_VERSION_3));
        REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
        REQUIRE(X509_NAME_add_entry_by_txt(
            name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0));
        REQUIRE(X509_set_subject_name(x, name));
        REQUIRE(X509_set_issuer_name(
            x, issuer != NULL ? X509_get_subject_name(issuer) : name));
        REQUIRE(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &not_before));
        REQUIRE(X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &not_after));
        REQUIRE(X509_set_pubkey(x, subject));
        X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
        add_ext(x, &v3, NID_basic_constraints,
                is_ca ? "critical,CA:TRUE" : "CA:FALSE");
        add_ext(x, &v3, NID_key_usage,
                is_ca ? "critical,keyCertSign,cRLSign"
                      : "critical,digitalSignature");
        if (eku != NULL)
                add_ext(x, &v3, NID_ext_key_usage, eku);
        REQUIRE(X509_sign(x, issuer_key, EVP_sha256()) > 0);
        X509_NAME_free(name);
        return x;
}

/*
 * A TimeStampToken made with CMS directly instead of TS_RESP_CTX, which
 * would refuse some of what the tests need: any genTime, any imprint
 * algorithm, any signer certificate.  Signed with SHA-256 and an
 * ESSCertIDv2 of `signer`, like tsa_stamp()'s.
 */
static void make_token(X509 *signer, EVP_PKEY *key, int md_nid,
                       const unsigned char digest[32], long serial,
                       time_t gen_time, unsigned char **out, size_t *outlen)
{
        unsigned char *tst_der = NULL, *ess_der = NULL, *der = NULL;
        ESS_SIGNING_CERT_V2 *ess;
        ASN1_GENERALIZEDTIME *gt;
        unsigned char md[32];
        CMS_ContentInfo *cms;
        TS_MSG_IMPRINT *imp;
        ASN1_OBJECT *policy;
        CMS_SignerInfo *si;
        ASN1_INTEGER *sn;
        TS_TST_INFO *tst;
        X509_ALGOR *alg;
        int tst_len, ess_len, len;
        BIO *bio;

        memcpy(md, digest, sizeof(md));
        REQUIRE((tst = TS_TST_INFO_new()) != NULL);
        REQUIRE((imp = TS_MSG_IMPRINT_new()) != NULL);
        REQUIRE((alg = X509_ALGOR_new()) != NULL);
        REQUIRE((policy = OBJ_txt2obj(TSA_POLICY_OID, 1)) != NULL);
        REQUIRE((sn = ASN1_INTEGER_new()) != NULL);
        REQUIRE((gt = ASN1_GENERALIZEDTIME_set(NULL, gen_time)) != NULL);
        REQUIRE(X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, NULL));
        REQUIRE(TS_MSG_IMPRINT_set_algo(imp, alg));
        REQUIRE(TS_MSG_IMPRINT_set_msg(imp, md, (int)sizeof(md)));
        REQUIRE(ASN1_INTEGER_set(sn, serial));
        REQUIRE(TS_TST_INFO_set_version(tst, 1));
        REQUIRE(TS_TST_INFO_set_policy_id(tst, policy));
        REQUIRE(TS_TST_INFO_set_msg_imprint(tst, imp));
        REQUIRE(TS_TST_INFO_set_serial(tst, sn));
        REQUIRE(TS_TST_INFO_set_time(tst, gt));
        REQUIRE((tst_len = i2d_TS_TST_INFO(tst, &tst_der)) > 0);
        REQUIRE((ess = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), signer,
                                                         NULL, 1)) != NULL);
        REQUIRE((ess_len = i2d_ESS_SIGNING_CERT_V2(ess, &ess_der)) > 0);
        REQUIRE((cms = CMS_sign(signer, key, NULL, NULL,
                                CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP)) !=
                NULL);
        REQUIRE(
            CMS_set1_eContentType(cms, OBJ_nid2obj(NID_id_smime_ct_TSTInfo)));
        REQUIRE((si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0)) !=
                NULL);
        REQUIRE(CMS_signed_add1_attr_by_NID(
            si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE, ess_der,
            ess_len));
        REQUIRE((bio = BIO_new_mem_buf(tst_der, tst_len)) != NULL);
        REQUIRE(CMS_final(cms, bio, NULL, CMS_BINARY));
        REQUIRE((len = i2d_CMS_ContentInfo(cms, &der)) > 0);
        REQUIRE((*out = malloc((size_t)len)) != NULL);
        memcpy(*out, der, (size_t)len);
        *outlen = (size_t)len;
        OPENSSL_free(der);
        BIO_free(bio);
        CMS_ContentInfo_free(cms);
        OPENSSL_free(ess_der);
        ESS_SIGNING_CERT_V2_free(ess);
        OPENSSL_free(tst_der);
        ASN1_GENERALIZEDTIME_free(gt);
        ASN1_INTEGER_free(sn);
        ASN1_OBJECT_free(policy);
        X509_ALGOR_free(alg);
        TS_MSG_IMPRINT_free(imp);
        TS_TST_INFO_free(tst);
}

/* The TSTInfo DER inside a token (what it says), or 0 if none. */
static size_t tst_der_of(const unsigned char *token, size_t len,
                         unsigned char **out)
{
        const unsigned char *p = token;
        TS_TST_INFO *tst = NULL;
        PKCS7 *p7;
        int n = 0;

        *out = NULL;
        if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL &&
            (tst = PKCS7_to_TS_TST_INFO(p7)) != NULL)
                n = i2d_TS_TST_INFO(tst, out);
        TS_TST_INFO_free(tst);
        PKCS7_free(p7);
        ERR_clear_error();
        return n > 0 ? (size_t)n : 0;
}

static void world_init(struct world *w)
{
        char err[1024] = "";
        time_t t0, t1;

        memset(w, 0, sizeof(*w));
        REQUIRE(crypto_key_generate(&w->ca_key, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_generate(&w->tsa_key, err, sizeof(err)) == 0);
        REQUIRE(tsa_ca_cert_create(w->ca_key, "TDS TTP CA", 3650, &w->ca, err,
                                   sizeof(err)) == 0);
        REQUIRE(tsa_cert_issue(w->ca_key, &w->ca, w->tsa_key, "TDS TSA", 365,
                               &w->tsa, err, sizeof(err)) == 0);
        REQUIRE(tsa_signer_new(w->tsa_key, &w->tsa, &w->signer, err,
                               sizeof(err)) == 0);
        REQUIRE(crypto_sha256("a document", 10, w->digest, err, sizeof(err)) ==
                0);
        t0 = time(NULL);
        REQUIRE(tsa_stamp(w->signer, w->digest, 42, &w->token, &w->token_len,
                          &w->gen_time, err, sizeof(err)) == 0);
        /* time() reads a coarse clock that may still show the last
         * second when OpenSSL's gettimeofday() already shows the next
         * (seen once under ASan): a second of slack on that side. */
        t1 = time(NULL) + 1;
        CHECK(w->gen_time >= t0 && w->gen_time <= t1);
}

static void world_fini(struct world *w)
{
        free(w->token);
        tsa_signer_free(w->signer);
        tsa_cert_clear(&w->ca);
        tsa_cert_clear(&w->tsa);
        crypto_key_free(w->ca_key);
        crypto_key_free(w->tsa_key);
}

static int ext_critical(X509 *x, int nid)
{
        int idx = X509_get_ext_by_NID(x, nid, -1);

        return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx));
}

static void check_common(X509 *x, const char *cn, int days)
{
        const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
        char buf[64] = "";
        int pday = -1, psec = -1;
        time_t now = time(NULL);

        CHECK(X509_get_version(x) == X509_VERSION_3);
        CHECK(X509_get_signature_nid(x) == NID_ecdsa_with_SHA256);
        /* 16 random bytes, positive. */
        CHECK(ASN1_STRING_type(sn) == V_ASN1_INTEGER);
        CHECK(ASN1_STRING_length(sn) == 16);
        CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                        NID_commonName, buf, sizeof(buf)) > 0);
        CHECK_STR_EQ(buf, cn);
        CHECK(ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(x),
                             X509_get0_notAfter(x)));
        CHECK(pday == days && psec == 0);
        CHECK(X509_cmp_time(X509_get0_notBefore(x), &now) <= 0);
        now -= 60;
        CHECK(X509_cmp_time(X509_get0_notBefore(x), &now) > 0);
}

static void test_certs(struct world *w)
{
        X509 *ca = x509_of(&w->ca), *tsa = x509_of(&w->tsa);
        struct tsa_cert other = {0};
        char err[1024] = "";

        check_common(ca, "TDS TTP CA", 3650);
        check_common(tsa, "TDS TSA", 365);
        CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca),
                               X509_get0_serialNumber(tsa)) != 0);
        CHECK(EVP_PKEY_eq(X509_get0_pubkey(ca), crypto_key_pkey(w->ca_key)) ==
              1);
        CHECK(EVP_PKEY_eq(X509_get0_pubkey(tsa), crypto_key_pkey(w->tsa_key)) ==
              1);

        /* The CA: self-signed, a critical CA:TRUE, signs certificates. */
        CHECK(X509_check_issued(ca, ca) == X509_V_OK);
        CHECK(X509_verify(ca, X509_get0_pubkey(ca)) == 1);
        CHECK(X509_check_ca(ca) == 1);
        CHECK(ext_critical(ca, NID_basic_constraints));
        CHECK(ext_critical(ca, NID_key_usage));
        CHECK(X509_get_key_usage(ca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
        CHECK(X509_get_ext_by_NID(ca, NID_ext_key_usage, -1) < 0);

        /* The TSA: issued by the CA, for time-stamping only. */
        CHECK(X509_check_issued(ca, tsa) == X509_V_OK);
        CHECK(X509_verify(tsa, X509_get0_pubkey(ca)) == 1);
        CHECK(X509_check_ca(tsa) == 0);
        CHECK(X509_get_ext_by_NID(tsa, NID_basic_constraints, -1) >= 0);
        CHECK(ext_critical(tsa, NID_key_usage));
        CHECK(X509_get_key_usage(tsa) == KU_DIGITAL_SIGNATURE);
        CHECK(ext_critical(tsa, NID_ext_key_usage));
        CHECK(X509_get_extended_key_usage(tsa) == XKU_TIMESTAMP);
        CHECK(X509_check_purpose(tsa, X509_PURPOSE_TIMESTAMP_SIGN, 0) == 1);
        CHECK(X509_check_purpose(ca, X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1);
        CHECK(X509_get0_authority_key_id(tsa) != NULL &&
              X509_get0_subject_key_id(ca) != NULL &&
              ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(tsa),
                                    X509_get0_subject_key_id(ca)) == 0);

        /* Refusals; `out` stays empty. */
        CHECK(tsa_ca_cert_create(w->ca_key, "", 10, &other, err, sizeof(err)) ==
              -1);
        CHECK(other.der == NULL && other.len == 0);
        CHECK(tsa_ca_cert_create(w->ca_key, NULL, 10, &other, err,
                                 sizeof(err)) == -1);
        CHECK(tsa_ca_cert_create(w->ca_key, "CA", 0, &other, err,
                                 sizeof(err)) == -1);
        CHECK(strstr(err, "days") != NULL);
        CHECK(tsa_ca_cert_create(w->ca_key, "CA", -1, &other, err,
                                 sizeof(err)) == -1);
        CHECK(tsa_ca_cert_create(w->ca_key, "CA", 1000000, &other, err,
                                 sizeof(err)) == -1);
        /* The CA certificate must be the CA key's. */
        CHECK(tsa_cert_issue(w->tsa_key, &w->ca, w->tsa_key, "TSA", 10, &other,
                             err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not the CA key's") != NULL, err);
        CHECK(other.der == NULL);
        {
                struct tsa_cert junk = {(unsigned char *)"junk", 4};

                CHECK(tsa_cert_issue(w->ca_key, &junk, w->tsa_key, "TSA", 10,
                                     &other, err, sizeof(err)) == -1);
                CHECK_MSG(strstr(err, "CA certificate") != NULL, err);
        }
        X509_free(ca);
        X509_free(tsa);
}

static void test_public_keys_refused(struct world *w)
{
        struct crypto_key *pub = NULL;
        struct tsa_cert c = {0};
        struct tsa_signer *s = NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        char err[1024] = "";

        REQUIRE(crypto_pubkey_to_der(w->ca_key, &der, &len, err, sizeof(err)) ==
                0);
        REQUIRE(crypto_pubkey_from_der(der, len, &pub, err, sizeof(err)) == 0);
        CHECK(tsa_ca_cert_create(pub, "CA", 10, &c, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "public") != NULL, err);
        CHECK(tsa_cert_issue(pub, &w->ca, w->tsa_key, "TSA", 10, &c, err,
                             sizeof(err)) == -1);
        /* A public-only copy matches its certificate, cannot sign. */
        CHECK(tsa_cert_matches_key(&w->ca, pub, err, sizeof(err)) == 0);
        CHECK(tsa_signer_new(pub, &w->ca, &s, err, sizeof(err)) == -1);
        CHECK(s == NULL);
        crypto_key_free(pub);
        free(der);
}

static void test_matches_key(struct world *w)
{
        struct tsa_cert junk = {(unsigned char *)"junk", 4};
        char err[1024] = "";

        CHECK(tsa_cert_matches_key(&w->ca, w->ca_key, err, sizeof(err)) == 0);
        CHECK(tsa_cert_matches_key(&w->tsa, w->tsa_key, err, sizeof(err)) == 0);
        CHECK(tsa_cert_matches_key(&w->ca, w->tsa_key, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "another public key") != NULL, err);
        CHECK(tsa_cert_matches_key(&w->tsa, w->ca_key, err, sizeof(err)) == -1);
        CHECK(tsa_cert_matches_key(&junk, w->ca_key, err, sizeof(err)) == -1);
}

static void test_pem(struct world *w)
{
        struct tsa_cert got = {0}, junk = {(unsigned char *)"junk", 4};
        char err[1024] = "", cmd[1024];
        struct stat st;
        FILE *f;

        REQUIRE(tsa_cert_save_pem(&w->ca, path_in_tmp("ca.pem"), err,
                                  sizeof(err)) == 0);
        REQUIRE(tsa_cert_save_pem(&w->tsa, path_in_tmp("tsa.pem"), err,
                                  sizeof(err)) == 0);
        CHECK(stat(path_in_tmp("ca.pem"), &st) == 0 &&
              (st.st_mode & 07777) == 0644);
        CHECK(tsa_cert_load_pem(path_in_tmp("ca.pem"), &got, err,
                                sizeof(err)) == 0);
        CHECK_MEM_EQ(got.der, got.len, w->ca.der, w->ca.len);
        tsa_cert_clear(&got);
        CHECK(got.der == NULL && got.len == 0);

        /* A bundle: the first certificate is the one. */
        snprintf(cmd, sizeof(cmd), "cat %s/tsa.pem %s/ca.pem > %s/both.pem",
                 tmpdir, tmpdir, tmpdir);
        REQUIRE(system(cmd) == 0);
        CHECK(tsa_cert_load_pem(path_in_tmp("both.pem"), &got, err,
                                sizeof(err)) == 0);
        CHECK_MEM_EQ(got.der, got.len, w->tsa.der, w->tsa.len);
        tsa_cert_clear(&got);

        CHECK(tsa_cert_load_pem(path_in_tmp("missing.pem"), &got, err,
                                sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "missing.pem") != NULL, err);
        CHECK(got.der == NULL);
        REQUIRE((f = fopen(path_in_tmp("junk.pem"), "w")) != NULL);
        fputs("-----BEGIN CERTIFICATE-----\nnot base64 !\n"
              "-----END CERTIFICATE-----\n",
              f);
        fclose(f);
        CHECK(tsa_cert_load_pem(path_in_tmp("junk.pem"), &got, err,
                                sizeof(err)) == -1);
        /* A private key is not a certificate, and no passphrase prompt. */
        REQUIRE(crypto_key_save(w->ca_key, path_in_tmp("key.pem"), "secret",
                                err, sizeof(err)) == 0);
        CHECK(tsa_cert_load_pem(path_in_tmp("key.pem"), &got, err,
                                sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "no PEM certificate") != NULL, err);
        CHECK(tsa_cert_save_pem(&junk, path_in_tmp("junk-out.pem"), err,
                                sizeof(err)) == -1);
        CHECK(access(path_in_tmp("junk-out.pem"), F_OK) == -1);
}

static void test_signer_refusals(struct world *w)
{
        X509 *ca = x509_of(&w->ca), *bad;
        struct tsa_signer *s = NULL;
        struct tsa_cert c = {0};
        char err[1024] = "";
        time_t now = time(NULL);

        /* The TSA certificate with the CA's key, or the CA as a TSA. */
        CHECK(tsa_signer_new(w->ca_key, &w->tsa, &s, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "another public key") != NULL, err);
        CHECK(tsa_signer_new(w->ca_key, &w->ca, &s, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not for time-stamping") != NULL, err);
        CHECK(s == NULL);
        /* OpenSSL's rule: the EKU is timeStamping, alone and critical. */
        bad = make_cert(crypto_key_pkey(w->tsa_key), crypto_key_pkey(w->ca_key),
                        ca, "TSA", now - 60, now + DAY, 0, "timeStamping", 7);
        cert_of(bad, &c);
        CHECK(tsa_signer_new(w->tsa_key, &c, &s, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not for time-stamping") != NULL, err);
        tsa_cert_clear(&c);
        X509_free(bad);
        bad = make_cert(crypto_key_pkey(w->tsa_key), crypto_key_pkey(w->ca_key),
                        ca, "TSA", now - 60, now + DAY, 0, NULL, 8);
        cert_of(bad, &c);
        CHECK(tsa_signer_new(w->tsa_key, &c, &s, err, sizeof(err)) == -1);
        tsa_cert_clear(&c);
        X509_free(bad);
        X509_free(ca);
}

/* What the token holds, read with OpenSSL rather than with tsa.c. */
static void test_token_contents(struct world *w)
{
        const unsigned char *p = w->token;
        const ASN1_GENERALIZEDTIME *gt;
        STACK_OF(PKCS7_SIGNER_INFO) * sis;
        PKCS7_SIGNER_INFO *si;
        STACK_OF(X509) * certs;
        unsigned char *der = NULL;
        const ASN1_OBJECT *oid;
        char policy[128] = "";
        TS_TST_INFO *tst;
        X509_ALGOR *dig;
        PKCS7 *p7;
        int len;

        REQUIRE((p7 = d2i_PKCS7(NULL, &p, (long)w->token_len)) != NULL);
        CHECK(p == w->token + w->token_len);
        REQUIRE((tst = PKCS7_to_TS_TST_INFO(p7)) != NULL);
        CHECK(TS_TST_INFO_get_version(tst) == 1);
        OBJ_obj2txt(policy, sizeof(policy), TS_TST_INFO_get_policy_id(tst), 1);
        CHECK_STR_EQ(policy, TSA_POLICY_OID);
        CHECK(TS_TST_INFO_get_nonce(tst) == NULL);
        CHECK(TS_TST_INFO_get_tsa(tst) != NULL);
        /* genTime to the second: YYYYMMDDhhmmssZ, no fraction. */
        gt = TS_TST_INFO_get_time(tst);
        CHECK(ASN1_STRING_length(gt) == 15);
        /* Signed with SHA-256, ESSCertIDv2 and not the SHA-1 ESSCertID. */
        sis = PKCS7_get_signer_info(p7);
        REQUIRE(sis != NULL && sk_PKCS7_SIGNER_INFO_num(sis) == 1);
        si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
        PKCS7_SIGNER_INFO_get0_algs(si, NULL, &dig, NULL);
        X509_ALGOR_get0(&oid, NULL, NULL, dig);
        CHECK(OBJ_obj2nid(oid) == NID_sha256);
        CHECK(PKCS7_get_signed_attribute(
                  si, NID_id_smime_aa_signingCertificateV2) != NULL);
        CHECK(PKCS7_get_signed_attribute(
                  si, NID_id_smime_aa_signingCertificate) == NULL);
        /* The signer's certificate and only it. */
        certs = p7->d.sign->cert;
        REQUIRE(certs != NULL && sk_X509_num(certs) == 1);
        REQUIRE((len = i2d_X509(sk_X509_value(certs, 0), &der)) > 0);
        CHECK_MEM_EQ(der, (size_t)len, w->tsa.der, w->tsa.len);
        OPENSSL_free(der);
        TS_TST_INFO_free(tst);
        PKCS7_free(p7);
}

static void test_stamp_verify(struct world *w)
{
        unsigned char got[32], *tok = NULL;
        char err[1024] = "";
        uint64_t serial = 0;
        time_t t = 0;
        size_t len = 0;
        const uint64_t serials[] = {0, 1, 255, 256, UINT64_MAX};
        size_t i;

        CHECK_MSG(tsa_verify(w->token, w->token_len, w->digest, &w->ca, NULL, 0,
                             &t, err, sizeof(err)) == 0,
                  err);
        CHECK(t == w->gen_time);
        CHECK(tsa_verify(w->token, w->token_len, w->digest, &w->ca, NULL, 0,
                         NULL, NULL, 0) == 0);
        /* The signer certificate given as an untrusted helper too. */
        CHECK_MSG(tsa_verify(w->token, w->token_len, w->digest, &w->ca, &w->tsa,
                             1, NULL, err, sizeof(err)) == 0,
                  err);

        t = 0;
        CHECK(tsa_token_info(w->token, w->token_len, &t, &serial, got, err,
                             sizeof(err)) == 0);
        CHECK(t == w->gen_time);
        CHECK(serial == 42);
        CHECK_MEM_EQ(got, sizeof(got), w->digest, sizeof(w->digest));
        CHECK(tsa_token_info(w->token, w->token_len, NULL, NULL, NULL, NULL,
                             0) == 0);

        for (i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
                REQUIRE(tsa_stamp(w->signer, w->digest, serials[i], &tok, &len,
                                  NULL, err, sizeof(err)) == 0);
                CHECK(tsa_token_info(tok, len, NULL, &serial, NULL, err,
                                     sizeof(err)) == 0);
                CHECK(serial == serials[i]);
                CHECK_MSG(tsa_verify(tok, len, w->digest, &w->ca, NULL, 0, NULL,
                                     err, sizeof(err)) == 0,
                          err);
                free(tok);
                tok = NULL;
        }
}

static void test_other_digest(struct world *w)
{
        unsigned char other[32];
        char err[1024] = "";
        size_t i;

        for (i = 0; i < sizeof(other) * 8; i += 37) {
                memcpy(other, w->digest, sizeof(other));
                other[i / 8] ^= (unsigned char)(1u << (i % 8));
                CHECK(tsa_verify(w->token, w->token_len, other, &w->ca, NULL, 0,
                                 NULL, err, sizeof(err)) == -1);
                CHECK_MSG(strstr(err, "imprint mismatch") != NULL, err);
        }
        printf("another digest: %s\n", err);
}

/* Flip bit `bit` of byte `at` and expect the token to fail. */
static void check_flip(struct world *w, const char *where, size_t at, int bit)
{
        unsigned char *tok;
        char err[1024] = "";

        REQUIRE(at < w->token_len);
        REQUIRE((tok = malloc(w->token_len)) != NULL);
        memcpy(tok, w->token, w->token_len);
        tok[at] ^= (unsigned char)(1u << bit);
        CHECK_MSG(tsa_verify(tok, w->token_len, w->digest, &w->ca, NULL, 0,
                             NULL, err, sizeof(err)) == -1,
                  where);
        CHECK(err[0] != '\0');
        printf("bit flipped in %s (byte %zu): %s\n", where, at, err);
        free(tok);
}

static void test_bit_flips(struct world *w)
{
        const unsigned char *hit;
        unsigned char *orig_tst = NULL, *tst = NULL, *tok;
        size_t orig_len, len, i, accepted = 0, checked = 0;
        char gt[32], err[1024];
        struct tm tm;

        /* Where the facts of the token are: each one is protected. */
        hit = memmem(w->token, w->token_len, w->digest, sizeof(w->digest));
        REQUIRE(hit != NULL);
        check_flip(w, "the imprint", (size_t)(hit - w->token) + 5, 3);
        REQUIRE(gmtime_r(&w->gen_time, &tm) != NULL);
        strftime(gt, sizeof(gt), "%Y%m%d%H%M%SZ", &tm);
        hit = memmem(w->token, w->token_len, gt, strlen(gt));
        REQUIRE(hit != NULL);
        /* The last digit of the seconds: still a valid time. */
        check_flip(w, "genTime", (size_t)(hit - w->token) + 13, 0);
        hit = memmem(w->token, w->token_len, w->tsa.der, w->tsa.len);
        REQUIRE(hit != NULL);
        check_flip(w, "the embedded TSA certificate",
                   (size_t)(hit - w->token) + w->tsa.len / 2, 1);
        check_flip(w, "the signature", w->token_len - 3, 4);
        check_flip(w, "the outer header", 1, 0);

        /*
         * Every byte, one bit each.  CMS leaves a few fields outside the
         * signature (SignedData's version and digestAlgorithms, for one),
         * so a flip there may still verify; what matters is that no
         * accepted token says anything else than the original.
         */
        REQUIRE((orig_len = tst_der_of(w->token, w->token_len, &orig_tst)) > 0);
        REQUIRE((tok = malloc(w->token_len)) != NULL);
        for (i = 0; i < w->token_len; i++) {
                memcpy(tok, w->token, w->token_len);
                tok[i] ^= (unsigned char)(1u << (i % 8));
                checked++;
                if (tsa_verify(tok, w->token_len, w->digest, &w->ca, NULL, 0,
                               NULL, err, sizeof(err)) == -1)
                        continue;
                accepted++;
                len = tst_der_of(tok, w->token_len, &tst);
                CHECK_MEM_EQ(tst, len, orig_tst, orig_len);
                printf("  flip at byte %zu still verifies, same TSTInfo\n", i);
                OPENSSL_free(tst);
        }
        printf("single-bit flips: %zu of %zu rejected\n", checked - accepted,
               checked);
        /* The signed part is nearly all of the token. */
        CHECK(accepted * 50 < checked);
        free(tok);
        OPENSSL_free(orig_tst);
}

static void test_truncated(struct world *w)
{
        unsigned char *tok;
        char err[1024] = "";
        size_t n, bad = 0;

        for (n = 0; n < w->token_len; n++) {
                /* A copy of exactly n bytes, so ASan sees any overread. */
                REQUIRE((tok = malloc(n > 0 ? n : 1)) != NULL);
                memcpy(tok, w->token, n);
                if (tsa_verify(tok, n, w->digest, &w->ca, NULL, 0, NULL, err,
                               sizeof(err)) == 0 ||
                    tsa_token_info(tok, n, NULL, NULL, NULL, err,
                                   sizeof(err)) == 0)
                        bad++;
                free(tok);
        }
        CHECK(bad == 0);
        printf("truncated to %zu bytes: %s\n", w->token_len / 2, err);

        /* One byte too many. */
        REQUIRE((tok = malloc(w->token_len + 1)) != NULL);
        memcpy(tok, w->token, w->token_len);
        tok[w->token_len] = 0;
        CHECK(tsa_verify(tok, w->token_len + 1, w->digest, &w->ca, NULL, 0,
                         NULL, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "after the token") != NULL, err);
        free(tok);
}

static void test_other_roots(struct world *w)
{
        struct crypto_key *k = NULL;
        struct tsa_cert other = {0};
        char err[1024] = "";

        /* Another CA, even under the same name. */
        REQUIRE(crypto_key_generate(&k, err, sizeof(err)) == 0);
        REQUIRE(tsa_ca_cert_create(k, "TDS TTP CA", 3650, &other, err,
                                   sizeof(err)) == 0);
        CHECK(tsa_verify(w->token, w->token_len, w->digest, &other, NULL, 0,
                         NULL, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "Verify error") != NULL, err);
        printf("another root CA: %s\n", err);
        /* The TSA certificate is no trust anchor: the chain must end at
         * a self-signed root. */
        CHECK(tsa_verify(w->token, w->token_len, w->digest, &w->tsa, NULL, 0,
                         NULL, err, sizeof(err)) == -1);
        printf("the TSA certificate as root: %s\n", err);
        {
                struct tsa_cert junk = {(unsigned char *)"junk", 4};

                CHECK(tsa_verify(w->token, w->token_len, w->digest, &junk, NULL,
                                 0, NULL, err, sizeof(err)) == -1);
                CHECK_MSG(strstr(err, "root certificate") != NULL, err);
                CHECK(tsa_verify(w->token, w->token_len, w->digest, &w->ca,
                                 &junk, 1, NULL, err, sizeof(err)) == -1);
                CHECK_MSG(strstr(err, "intermediate") != NULL, err);
        }
        tsa_cert_clear(&other);
        crypto_key_free(k);
}

/* root -> intermediate CA -> TSA: the intermediate comes from the caller. */
static void test_intermediate(struct world *w)
{
        struct crypto_key *root_key = NULL, *mid_key = NULL;
        struct tsa_cert root = {0}, mid = {0}, tsa = {0};
        struct tsa_signer *s = NULL;
        unsigned char *tok = NULL;
        char err[1024] = "";
        time_t now = time(NULL);
        size_t len = 0;
        X509 *rx, *mx;

        REQUIRE(crypto_key_generate(&root_key, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_generate(&mid_key, err, sizeof(err)) == 0);
        REQUIRE(tsa_ca_cert_create(root_key, "Root", 30, &root, err,
                                   sizeof(err)) == 0);
        rx = x509_of(&root);
        mx = make_cert(crypto_key_pkey(mid_key), crypto_key_pkey(root_key), rx,
                       "Intermediate", now - 60, now + DAY, 1, NULL, 9);
        cert_of(mx, &mid);
        REQUIRE(tsa_cert_issue(mid_key, &mid, w->tsa_key, "TSA", 1, &tsa, err,
                               sizeof(err)) == 0);
        REQUIRE(tsa_signer_new(w->tsa_key, &tsa, &s, err, sizeof(err)) == 0);
        REQUIRE(tsa_stamp(s, w->digest, 5, &tok, &len, NULL, err,
                          sizeof(err)) == 0);
        CHECK_MSG(tsa_verify(tok, len, w->digest, &root, &mid, 1, NULL, err,
                             sizeof(err)) == 0,
                  err);
        CHECK(tsa_verify(tok, len, w->digest, &root, NULL, 0, NULL, err,
                         sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "unable to get local issuer") != NULL, err);
        /* The intermediate is no anchor either: only a root is. */
        CHECK(tsa_verify(tok, len, w->digest, &mid, NULL, 0, NULL, err,
                         sizeof(err)) == -1);
        free(tok);
        tsa_signer_free(s);
        X509_free(mx);
        X509_free(rx);
        tsa_cert_clear(&root);
        tsa_cert_clear(&mid);
        tsa_cert_clear(&tsa);
        crypto_key_free(root_key);
        crypto_key_free(mid_key);
}

/* Tokens signed by certificates that are not for time-stamping. */
static void test_no_timestamping_eku(struct world *w)
{
        static const struct {
                const char *name, *eku;
        } cases[] = {
            {"no extendedKeyUsage", NULL},
            {"a non-critical timeStamping", "timeStamping"},
            {"timeStamping and codeSigning",
             "critical,timeStamping,codeSigning"},
            {"codeSigning", "critical,codeSigning"},
        };
        EVP_PKEY *ca_pkey = crypto_key_pkey(w->ca_key);
        EVP_PKEY *tsa_pkey = crypto_key_pkey(w->tsa_key);
        X509 *ca = x509_of(&w->ca), *x;
        unsigned char *tok = NULL;
        char err[1024] = "";
        time_t now = time(NULL);
        size_t len = 0, i;

        /* The control: the same recipe with a proper TSA certificate. */
        x = make_cert(tsa_pkey, ca_pkey, ca, "TSA", now - 60, now + DAY, 0,
                      "critical,timeStamping", 10);
        make_token(x, tsa_pkey, NID_sha256, w->digest, 1, now, &tok, &len);
        CHECK_MSG(tsa_verify(tok, len, w->digest, &w->ca, NULL, 0, NULL, err,
                             sizeof(err)) == 0,
                  err);
        free(tok);
        X509_free(x);
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                x = make_cert(tsa_pkey, ca_pkey, ca, "TSA", now - 60, now + DAY,
                              0, cases[i].eku, 11 + (long)i);
                make_token(x, tsa_pkey, NID_sha256, w->digest, 1, now, &tok,
                           &len);
                CHECK_MSG(tsa_verify(tok, len, w->digest, &w->ca, NULL, 0, NULL,
                                     err, sizeof(err)) == -1,
                          cases[i].name);
                CHECK_MSG(strstr(err, "unsuitable certificate purpose") != NULL,
                          err);
                printf("signer with %s: %s\n", cases[i].name, err);
                free(tok);
                X509_free(x);
        }
        X509_free(ca);
}

/* The imprint's algorithm is part of what is checked, not only bytes. */
static void test_other_imprint_algorithm(struct world *w)
{
        EVP_PKEY *tsa_pkey = crypto_key_pkey(w->tsa_key);
        X509 *tsa = x509_of(&w->tsa);
        unsigned char *tok = NULL, got[32];
        char err[1024] = "";
        time_t t = 0;
        size_t len = 0;

        make_token(tsa, tsa_pkey, NID_sha3_256, w->digest, 3, time(NULL), &tok,
                   &len);
        CHECK(tsa_verify(tok, len, w->digest, &w->ca, NULL, 0, NULL, err,
                         sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not SHA-256") != NULL, err);
        printf("a SHA3-256 imprint of the same bytes: %s\n", err);
        CHECK(tsa_token_info(tok, len, NULL, NULL, got, err, sizeof(err)) ==
              -1);
        CHECK(tsa_token_info(tok, len, &t, NULL, NULL, err, sizeof(err)) == 0);
        free(tok);
        X509_free(tsa);
}

/*
 * Certificates valid from 30 to 10 days ago: a token of 20 days ago
 * verifies, though both certificates have long expired; tokens dated
 * outside the window do not.
 */
static void test_chain_at_gen_time(struct world *w)
{
        EVP_PKEY *ca_pkey = crypto_key_pkey(w->ca_key);
        EVP_PKEY *tsa_pkey = crypto_key_pkey(w->tsa_key);
        struct tsa_cert root = {0};
        unsigned char *tok = NULL;
        char err[1024] = "";
        time_t now = time(NULL), t = 0;
        size_t len = 0;
        X509 *ca, *tsa;

        ca = make_cert(ca_pkey, ca_pkey, NULL, "Old CA", now - 30 * DAY,
                       now - 10 * DAY, 1, NULL, 20);
        tsa = make_cert(tsa_pkey, ca_pkey, ca, "Old TSA", now - 30 * DAY,
                        now - 10 * DAY, 0, "critical,timeStamping", 21);
        cert_of(ca, &root);
        CHECK(X509_cmp_current_time(X509_get0_notAfter(ca)) < 0);
        CHECK(X509_cmp_current_time(X509_get0_notAfter(tsa)) < 0);

        make_token(tsa, tsa_pkey, NID_sha256, w->digest, 1, now - 20 * DAY,
                   &tok, &len);
        CHECK_MSG(tsa_verify(tok, len, w->digest, &root, NULL, 0, &t, err,
                             sizeof(err)) == 0,
                  err);
        CHECK(t == now - 20 * DAY);
        free(tok);

        make_token(tsa, tsa_pkey, NID_sha256, w->digest, 2, now - 40 * DAY,
                   &tok, &len);
        CHECK(tsa_verify(tok, len, w->digest, &root, NULL, 0, NULL, err,
                         sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not yet valid") != NULL, err);
        printf("genTime before the certificates: %s\n", err);
        free(tok);

        make_token(tsa, tsa_pkey, NID_sha256, w->digest, 3, now - 5 * DAY, &tok,
                   &len);
        CHECK(tsa_verify(tok, len, w->digest, &root, NULL, 0, NULL, err,
                         sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "expired") != NULL, err);
        printf("genTime after the certificates: %s\n", err);
        free(tok);

        tsa_cert_clear(&root);
        X509_free(tsa);
        X509_free(ca);
}

/*
 * The real thing end to end: certificates that expire a second or two
 * after tsa_stamp() used them, checked once they have.
 */
static void test_expired_after_stamping(struct world *w)
{
        EVP_PKEY *ca_pkey = crypto_key_pkey(w->ca_key);
        EVP_PKEY *tsa_pkey = crypto_key_pkey(w->tsa_key);
        struct tsa_cert root = {0}, leaf = {0};
        struct tsa_signer *s = NULL;
        unsigned char *tok = NULL;
        char err[1024] = "";
        time_t now = 0, t = 0;
        size_t len = 0;
        struct timespec tick = {0, 100 * 1000 * 1000};
        X509 *ca = NULL, *tsa = NULL;
        int attempt;

        /* A slow machine may miss the window: then build it again. */
        for (attempt = 0; attempt < 5; attempt++) {
                free(tok);
                tok = NULL;
                tsa_signer_free(s);
                s = NULL;
                tsa_cert_clear(&root);
                tsa_cert_clear(&leaf);
                X509_free(ca);
                X509_free(tsa);
                now = time(NULL);
                ca = make_cert(ca_pkey, ca_pkey, NULL, "Brief CA", now - 60,
                               now + 1, 1, NULL, 30);
                tsa = make_cert(tsa_pkey, ca_pkey, ca, "Brief TSA", now - 60,
                                now + 1, 0, "critical,timeStamping", 31);
                cert_of(ca, &root);
                cert_of(tsa, &leaf);
                REQUIRE(tsa_signer_new(w->tsa_key, &leaf, &s, err,
                                       sizeof(err)) == 0);
                REQUIRE(tsa_stamp(s, w->digest, 77, &tok, &len, &t, err,
                                  sizeof(err)) == 0);
                if (t <= now + 1)
                        break;
        }
        REQUIRE(attempt < 5);
        while (time(NULL) <= now + 1)
                nanosleep(&tick, NULL);
        CHECK(X509_cmp_current_time(X509_get0_notAfter(tsa)) < 0);
        CHECK_MSG(tsa_verify(tok, len, w->digest, &root, NULL, 0, NULL, err,
                             sizeof(err)) == 0,
                  err);
        free(tok);
        tsa_signer_free(s);
        tsa_cert_clear(&root);
        tsa_cert_clear(&leaf);
        X509_free(ca);
        X509_free(tsa);
}

static void test_garbage(struct world *w)
{
        unsigned char noise[1000], *tok = NULL, got[32];
        const char *hello = "hello";
        CMS_ContentInfo *cms;
        unsigned char *der = NULL;
        char err[1024] = "";
        X509 *tsa = x509_of(&w->tsa);
        BIO *bio;
        int len;

        CHECK(tsa_verify(NULL, 0, w->digest, &w->ca, NULL, 0, NULL, err,
                         sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "empty") != NULL, err);
        CHECK(tsa_token_info(NULL, 0, NULL, NULL, NULL, err, sizeof(err)) ==
              -1);
        REQUIRE(crypto_random(noise, sizeof(noise), err, sizeof(err)) == 0);
        CHECK(tsa_verify(noise, sizeof(noise), w->digest, &w->ca, NULL, 0, NULL,
                         err, sizeof(err)) == -1);
        printf("random bytes: %s\n", err);
        CHECK(tsa_token_info(noise, sizeof(noise), NULL, NULL, got, err,
                             sizeof(err)) == -1);
        /* Well-formed DER, but not a token. */
        CHECK(tsa_verify(w->ca.der, w->ca.len, w->digest, &w->ca, NULL, 0, NULL,
                         err, sizeof(err)) == -1);
        printf("a certificate: %s\n", err);
        /* A genuine signature by the TSA, over data that is no TSTInfo. */
        REQUIRE((bio = BIO_new_mem_buf(hello, 5)) != NULL);
        REQUIRE((cms = CMS_sign(tsa, crypto_key_pkey(w->tsa_key), NULL, bio,
                                CMS_BINARY)) != NULL);
        REQUIRE((len = i2d_CMS_ContentInfo(cms, &der)) > 0);
        CHECK(tsa_verify(der, (size_t)len, w->digest, &w->ca, NULL, 0, NULL,
                         err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not a TimeStampToken") != NULL, err);
        printf("signed data that is no TSTInfo: %s\n", err);
        CHECK(tsa_token_info(der, (size_t)len, NULL, NULL, NULL, err,
                             sizeof(err)) == -1);
        OPENSSL_free(der);
        CMS_ContentInfo_free(cms);
        BIO_free(bio);
        free(tok);
        X509_free(tsa);
}

int main(void)
{
        struct world w;
        char cmd[256];

        REQUIRE(mkdtemp(tmpdir) != NULL);
        world_init(&w);
        test_certs(&w);
        test_public_keys_refused(&w);
        test_matches_key(&w);
        test_pem(&w);
        test_signer_refusals(&w);
        test_token_contents(&w);
        test_stamp_verify(&w);
        test_other_digest(&w);
        test_bit_flips(&w);
        test_truncated(&w);
        test_other_roots(&w);
        test_intermediate(&w);
        test_no_timestamping_eku(&w);
        test_other_imprint_algorithm(&w);
        test_chain_at_gen_time(&w);
        test_expired_after_stamping(&w);
        test_garbage(&w);
        world_fini(&w);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
        return unit_done("test_tsa");
}
