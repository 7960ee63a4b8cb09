/*
 * crypto: signatures and their strictness, key formats and the curve
 * check, key files and their modes, key_id and file hashing, each checked
 * against an independent computation with plain OpenSSL calls.
 */
#include "crypto.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static char tmpdir[] = "/tmp/tds-unit-crypto.XXXXXX";

static const char tbs_msg[] = "tds/1 nro\n"
                              "file_id=f1\n"
                              "uploader=alice\n"
                              "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
                              "2b0b822cd15d6c15b0f00a08\n"
                              "size=4\n"
                              "nonce=q80AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobH"
                              "B0=\n";

/* An SPKI made by `openssl genpkey ... ; openssl pkey -pubout -outform DER`
 * and its key_id from `| sha256sum`. */
static const unsigned char fixed_spki[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
    0x42, 0x00, 0x04, 0x92, 0xe5, 0x69, 0x9a, 0xc4, 0x99, 0xfb, 0xc4, 0x9f,
    0xe1, 0xfd, 0xa3, 0x98, 0xfc, 0x32, 0x5a, 0x9f, 0xc7, 0xc8, 0x22, 0x5f,
    0xa8, 0x2c, 0x3a, 0x44, 0xc6, 0x9e, 0xc1, 0x72, 0xf7, 0x5f, 0x41, 0x0f,
    0xde, 0xc7, 0xf9, 0xf0, 0x4c, 0xa3, 0x06, 0xd5, 0x85, 0x01, 0xc3, 0x3a,
    0x03, 0x64, 0x66, 0xa5, 0xff, 0x20, 0x4e, 0x60, 0x99, 0x72, 0x8f, 0xc5,
    0x9f, 0xbf, 0x56, 0x78, 0xe2, 0xfe, 0xe4};
static const char fixed_key_id[] =
    "8af4df5aa7a14ea01335de6bd80d02b33d894fef9049d33002105a3b89b68450";

/* Our own hex, so that key_id checks do not rely on libtds's hex. */
static void to_hex(const unsigned char *b, size_t n, char *out)
{
        size_t i;

        for (i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
        out[2 * n] = '\0';
}

static void sha256_hex_ref(const void *buf, size_t len, char *out)
{
        unsigned char md[32];
        unsigned int mdlen = 0;

        REQUIRE(EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) == 1);
        to_hex(md, mdlen, out);
}

static char *path_in_tmp(const char *name)
{
        static char buf[256];

        snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
        return buf;
}

static int count_dir_entries(const char *dir)
{
        struct dirent *de;
        DIR *d;
        int n = 0;

        REQUIRE((d = opendir(dir)) != NULL);
        while ((de = readdir(d)) != NULL)
                if (strcmp(de->d_name, ".") != 0 &&
                    strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* SPKI DER of a key made directly with OpenSSL; caller frees (free()). */
static unsigned char *spki_of(EVP_PKEY *pkey, size_t *len)
{
        unsigned char *der, *p;
        int n;

        REQUIRE((n = i2d_PUBKEY(pkey, NULL)) > 0);
        REQUIRE((der = malloc((size_t)n)) != NULL);
        p = der;
        REQUIRE(i2d_PUBKEY(pkey, &p) == n);
        *len = (size_t)n;
        return der;
}

static void test_sha256(void)
{
        char out[CRYPTO_SHA256_HEX_LEN + 1], err[256] = "";

        CHECK_MSG(crypto_sha256_hex("", 0, out, err, sizeof(err)) == 0, err);
        CHECK_STR_EQ(out, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
        CHECK_MSG(crypto_sha256_hex("abc", 3, out, err, sizeof(err)) == 0, err);
        CHECK_STR_EQ(out, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");
}

static void test_sign_verify(void)
{
        struct crypto_key *a = NULL, *b = NULL;
        unsigned char *sig = NULL, *sig2 = NULL, *bad = NULL;
        size_t siglen = 0, sig2len = 0, i;
        char msg[sizeof(tbs_msg)];
        char err[512] = "";

        REQUIRE(crypto_key_generate(&a, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_generate(&b, err, sizeof(err)) == 0);
        CHECK(crypto_key_has_private(a));
        CHECK_MSG(crypto_sign(a, tbs_msg, strlen(tbs_msg), &sig, &siglen, err,
                              sizeof(err)) == 0,
                  err);
        REQUIRE(sig != NULL && siglen >= 8 && siglen <= 72);
        CHECK(sig[0] == 0x30);
        CHECK_MSG(crypto_verify(a, tbs_msg, strlen(tbs_msg), sig, siglen, err,
                                sizeof(err)) == 0,
                  err);
        /* ECDSA is randomized (or at least must not be assumed stable). */
        CHECK(crypto_sign(a, tbs_msg, strlen(tbs_msg), &sig2, &sig2len, NULL,
                          0) == 0);
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg), sig2, sig2len, NULL,
                            0) == 0);

        /* Any flipped bit of the message. */
        for (i = 0; i < strlen(tbs_msg); i += 7) {
                memcpy(msg, tbs_msg, sizeof(msg));
                msg[i] ^= (char)(1 << (i % 8));
                CHECK(crypto_verify(a, msg, strlen(tbs_msg), sig, siglen, NULL,
                                    0) == -1);
        }
        /* One byte more or less of the message. */
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg) - 1, sig, siglen, NULL,
                            0) == -1);
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg) + 1, sig, siglen, NULL,
                            0) == -1);
        /* Any flipped bit of the signature. */
        REQUIRE((bad = malloc(siglen)) != NULL);
        for (i = 0; i < siglen * 8; i++) {
                memcpy(bad, sig, siglen);
                bad[i / 8] ^= (unsigned char)(1 << (i % 8));
                if (crypto_verify(a, tbs_msg, strlen(tbs_msg), bad, siglen,
                                  NULL, 0) != -1) {
                        fprintf(stderr, "bit %zu of the signature\n", i);
                        CHECK(!"flipped signature bit accepted");
                }
        }
        /* Another key. */
        err[0] = '\0';
        CHECK(crypto_verify(b, tbs_msg, strlen(tbs_msg), sig, siglen, err,
                            sizeof(err)) == -1);
        CHECK(strstr(err, "does not verify") != NULL);
        /* Truncated and empty signatures. */
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg), sig, siglen - 1, NULL,
                            0) == -1);
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg), sig, 0, NULL, 0) ==
              -1);

        free(bad);
        free(sig2);
        free(sig);
        crypto_key_free(b);
        crypto_key_free(a);
}

/* Rebuild `sig` with the SEQUENCE length in long form (0x81 LL). */
static unsigned char *der_long_form(const unsigned char *sig, size_t siglen,
                                    size_t *outlen)
{
        unsigned char *out;

        REQUIRE(sig[1] < 0x80);
        REQUIRE((out = malloc(siglen + 1)) != NULL);
        out[0] = 0x30;
        out[1] = 0x81;
        memcpy(out + 2, sig + 1, siglen - 1);
        *outlen = siglen + 1;
        return out;
}

/* Rebuild `sig` with a superfluous 0x00 in front of r. */
static unsigned char *der_padded_r(const unsigned char *sig, size_t siglen,
                                   size_t *outlen)
{
        unsigned char *out;

        REQUIRE(sig[2] == 0x02 && sig[1] < 0x7f && sig[3] < 0x7f);
        REQUIRE((out = malloc(siglen + 1)) != NULL);
        out[0] = 0x30;
        out[1] = (unsigned char)(sig[1] + 1);
        out[2] = 0x02;
        out[3] = (unsigned char)(sig[3] + 1);
        out[4] = 0x00;
        memcpy(out + 5, sig + 4, siglen - 4);
        *outlen = siglen + 1;
        return out;
}

/* The same signature with s replaced by n - s: valid, but "high-S". */
static unsigned char *der_flip_s(const unsigned char *sig, size_t siglen,
                                 size_t *outlen)
{
        static const char order[] = "FFFFFFFF00000000FFFFFFFFFFFFFFFF"
                                    "BCE6FAADA7179E84F3B9CAC2FC632551";
        const unsigned char *p = sig;
        const BIGNUM *r0, *s0;
        BIGNUM *n = NULL, *r, *s;
        unsigned char *out = NULL;
        ECDSA_SIG *es;
        int len;

        REQUIRE((es = d2i_ECDSA_SIG(NULL, &p, (long)siglen)) != NULL);
        ECDSA_SIG_get0(es, &r0, &s0);
        REQUIRE(BN_hex2bn(&n, order) > 0);
        REQUIRE((r = BN_dup(r0)) != NULL && (s = BN_new()) != NULL);
        REQUIRE(BN_sub(s, n, s0) == 1);
        REQUIRE(ECDSA_SIG_set0(es, r, s) == 1);
        REQUIRE((len = i2d_ECDSA_SIG(es, &out)) > 0);
        *outlen = (size_t)len;
        BN_free(n);
        ECDSA_SIG_free(es);
        return out; /* OPENSSL_free() */
}

static void test_canonical_der(void)
{
        struct crypto_key *a = NULL;
        unsigned char *sig = NULL, *v = NULL;
        size_t siglen = 0, vlen = 0, tries;
        char err[512] = "";

        REQUIRE(crypto_key_generate(&a, err, sizeof(err)) == 0);
        /* der_padded_r wants short lengths: true for all P-256 sigs. */
        REQUIRE(crypto_sign(a, tbs_msg, strlen(tbs_msg), &sig, &siglen, err,
                            sizeof(err)) == 0);

        /* Trailing garbage after the SEQUENCE. */
        REQUIRE((v = malloc(siglen + 1)) != NULL);
        memcpy(v, sig, siglen);
        v[siglen] = 0x00;
        err[0] = '\0';
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg), v, siglen + 1, err,
                            sizeof(err)) == -1);
        CHECK(strstr(err, "canonical") != NULL);
        free(v);

        /* An extra leading zero in the INTEGER r. */
        v = der_padded_r(sig, siglen, &vlen);
        err[0] = '\0';
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg), v, vlen, err,
                            sizeof(err)) == -1);
        CHECK(strstr(err, "canonical") != NULL);
        free(v);

        /* A long-form length where the short form fits (BER, not DER). */
        v = der_long_form(sig, siglen, &vlen);
        err[0] = '\0';
        CHECK(crypto_verify(a, tbs_msg, strlen(tbs_msg), v, vlen, err,
                            sizeof(err)) == -1);
        CHECK(strstr(err, "canonical") != NULL);
        free(v);

        /*
         * The contract accepts high-S as well as low-S: the mirrored
         * signature is canonical DER and valid.  Flipping s can change its
         * encoded length; any length works.
         */
        for (tries = 0; tries < 4; tries++) {
                unsigned char *hs = der_flip_s(sig, siglen, &vlen);

                CHECK(vlen != siglen || memcmp(hs, sig, siglen) != 0);
                CHECK_MSG(crypto_verify(a, tbs_msg, strlen(tbs_msg), hs, vlen,
                                        err, sizeof(err)) == 0,
                          err);
                OPENSSL_free(hs);
                free(sig);
                sig = NULL;
                REQUIRE(crypto_sign(a, tbs_msg, strlen(tbs_msg), &sig, &siglen,
                                    err, sizeof(err)) == 0);
        }
        free(sig);
        crypto_key_free(a);
}

/* `want` is a piece of the expected message: the reason, not any error. */
static void check_spki_rejected(EVP_PKEY *pkey, const char *what,
                                const char *want)
{
        struct crypto_key *k = (struct crypto_key *)1;
        unsigned char *der;
        size_t len = 0;
        char err[512] = "";

        der = spki_of(pkey, &len);
        CHECK_MSG(crypto_pubkey_from_der(der, len, &k, err, sizeof(err)) == -1,
                  what);
        CHECK(k == NULL);
        CHECK_MSG(strstr(err, want) != NULL, err);
        free(der);
}

static void test_public_keys(void)
{
        struct crypto_key *a = NULL, *pub = NULL, *k = NULL;
        unsigned char *der = NULL, *der2 = NULL, *sig = NULL, *ref = NULL;
        unsigned char *junk;
        size_t derlen = 0, der2len = 0, siglen = 0, reflen = 0;
        char id[CRYPTO_KEY_ID_LEN + 1], id2[CRYPTO_KEY_ID_LEN + 1];
        char want[65], err[512] = "";
        EVP_PKEY *other = NULL;
        EVP_MD_CTX *md = NULL;

        /* The fixed vector: key_id as the openssl CLI computes it. */
        CHECK_MSG(crypto_pubkey_from_der(fixed_spki, sizeof(fixed_spki), &k,
                                         err, sizeof(err)) == 0,
                  err);
        CHECK(!crypto_key_has_private(k));
        CHECK(crypto_key_id(k, id, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id, fixed_key_id);
        crypto_key_free(k);
        k = NULL;

        /* Our key: DER round trip, key_id against EVP_Digest of the DER. */
        REQUIRE(crypto_key_generate(&a, err, sizeof(err)) == 0);
        REQUIRE(crypto_pubkey_to_der(a, &der, &derlen, err, sizeof(err)) == 0);
        CHECK(derlen == 91);
        CHECK(derlen > 26 && der[26] == 0x04);
        CHECK(crypto_key_id(a, id, err, sizeof(err)) == 0);
        sha256_hex_ref(der, derlen, want);
        CHECK_STR_EQ(id, want);
        CHECK_MSG(crypto_pubkey_from_der(der, derlen, &pub, err, sizeof(err)) ==
                      0,
                  err);
        CHECK(crypto_key_id(pub, id2, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id2, id);
        CHECK(crypto_pubkey_to_der(pub, &der2, &der2len, err, sizeof(err)) ==
              0);
        CHECK_MEM_EQ(der2, der2len, der, derlen);

        /* A public-only key verifies, but cannot sign or be exported. */
        REQUIRE(crypto_sign(a, tbs_msg, strlen(tbs_msg), &sig, &siglen, err,
                            sizeof(err)) == 0);
        CHECK(crypto_verify(pub, tbs_msg, strlen(tbs_msg), sig, siglen, err,
                            sizeof(err)) == 0);
        free(sig);
        sig = NULL;
        CHECK(crypto_sign(pub, tbs_msg, strlen(tbs_msg), &sig, &siglen, NULL,
                          0) == -1);
        CHECK(sig == NULL);

        /* A key made by plain OpenSSL: key_id and a signature of its own. */
        REQUIRE((other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) != NULL);
        ref = spki_of(other, &reflen);
        sha256_hex_ref(ref, reflen, want);
        CHECK_MSG(crypto_pubkey_from_der(ref, reflen, &k, err, sizeof(err)) ==
                      0,
                  err);
        CHECK(crypto_key_id(k, id, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id, want);
        REQUIRE((md = EVP_MD_CTX_new()) != NULL);
        REQUIRE(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, other) == 1);
        REQUIRE(EVP_DigestSign(md, NULL, &siglen,
                               (const unsigned char *)tbs_msg,
                               strlen(tbs_msg)) == 1);
        REQUIRE((sig = malloc(siglen)) != NULL);
        REQUIRE(EVP_DigestSign(md, sig, &siglen, (const unsigned char *)tbs_msg,
                               strlen(tbs_msg)) == 1);
        CHECK_MSG(crypto_verify(k, tbs_msg, strlen(tbs_msg), sig, siglen, err,
                                sizeof(err)) == 0,
                  err);
        CHECK(crypto_verify(pub, tbs_msg, strlen(tbs_msg), sig, siglen, NULL,
                            0) == -1);
        free(sig);
        EVP_MD_CTX_free(md);
        crypto_key_free(k);
        k = NULL;

        /* Bad DER: truncated, trailing byte, garbage, empty. */
        CHECK(crypto_pubkey_from_der(der, derlen - 1, &k, NULL, 0) == -1);
        REQUIRE((junk = malloc(derlen + 1)) != NULL);
        memcpy(junk, der, derlen);
        junk[derlen] = 0;
        err[0] = '\0';
        CHECK(crypto_pubkey_from_der(junk, derlen + 1, &k, err, sizeof(err)) ==
              -1);
        CHECK(strstr(err, "trailing") != NULL);
        /* BER, not DER: the outer length in long form (0x81 0x59). */
        REQUIRE((junk = realloc(junk, derlen + 1)) != NULL);
        junk[0] = 0x30;
        junk[1] = 0x81;
        memcpy(junk + 2, der + 1, derlen - 1);
        err[0] = '\0';
        CHECK(crypto_pubkey_from_der(junk, derlen + 1, &k, err, sizeof(err)) ==
              -1);
        CHECK_MSG(strstr(err, "canonical") != NULL, err);
        /* A point not on the curve. */
        memcpy(junk, der, derlen);
        junk[derlen - 1] ^= 1;
        CHECK(crypto_pubkey_from_der(junk, derlen, &k, NULL, 0) == -1);
        CHECK(crypto_pubkey_from_der((const unsigned char *)"hello", 5, &k,
                                     NULL, 0) == -1);
        CHECK(crypto_pubkey_from_der(der, 0, &k, NULL, 0) == -1);
        CHECK(k == NULL);
        free(junk);

        free(ref);
        EVP_PKEY_free(other);
        free(der2);
        free(der);
        crypto_key_free(pub);
        crypto_key_free(a);
}

static void test_wrong_key_types(void)
{
        EVP_PKEY *p384, *k1, *rsa, *ed, *p256;
        char err[512] = "";
        struct crypto_key *k = NULL;
        unsigned char *der;
        size_t len;

        REQUIRE((p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384")) != NULL);
        REQUIRE((k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1")) !=
                NULL);
        REQUIRE((rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024)) !=
                NULL);
        REQUIRE((ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) != NULL);
        check_spki_rejected(p384, "P-384", "secp384r1");
        check_spki_rejected(k1, "secp256k1", "secp256k1");
        check_spki_rejected(rsa, "RSA", "key is RSA");
        check_spki_rejected(ed, "Ed25519", "key is ED25519");

        /* P-256 itself, but not in the one canonical form. */
        REQUIRE((p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) != NULL);
        der = spki_of(p256, &len);
        CHECK(crypto_pubkey_from_der(der, len, &k, err, sizeof(err)) == 0);
        crypto_key_free(k);
        k = NULL;
        free(der);
        REQUIRE(EVP_PKEY_set_utf8_string_param(
                    p256, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                    "compressed") == 1);
        der = spki_of(p256, &len);
        CHECK(len == 59); /* it really is compressed */
        free(der);
        check_spki_rejected(p256, "compressed P-256 point", "uncompressed");
        REQUIRE(EVP_PKEY_set_utf8_string_param(
                    p256, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                    "uncompressed") == 1);
        REQUIRE(EVP_PKEY_set_utf8_string_param(
                    p256, OSSL_PKEY_PARAM_EC_ENCODING, "explicit") == 1);
        der = spki_of(p256, &len);
        CHECK(len > 91); /* it really carries the curve parameters */
        free(der);
        check_spki_rejected(p256, "explicit P-256 parameters", "by name");

        EVP_PKEY_free(p256);
        EVP_PKEY_free(ed);
        EVP_PKEY_free(rsa);
        EVP_PKEY_free(k1);
        EVP_PKEY_free(p384);
}

/* Whether the DER inside `pem` mentions the AES-256-CBC OID. */
static int pem_uses_aes256cbc(const char *pem, size_t pemlen)
{
        static const unsigned char oid[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                            0x65, 0x03, 0x04, 0x01, 0x2a};
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0, i;
        int found = 0;
        BIO *bio;

        REQUIRE((bio = BIO_new_mem_buf(pem, (int)pemlen)) != NULL);
        REQUIRE(PEM_read_bio(bio, &name, &header, &data, &len) == 1);
        for (i = 0; i + (long)sizeof(oid) <= len; i++)
                if (memcmp(data + i, oid, sizeof(oid)) == 0)
                        found = 1;
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        BIO_free(bio);
        return found;
}

static void test_pem(void)
{
        static const char pass[] = "correct horse battery staple";
        struct crypto_key *a = NULL, *k = NULL, *pub = NULL;
        char id[CRYPTO_KEY_ID_LEN + 1], id2[CRYPTO_KEY_ID_LEN + 1];
        char *pem = NULL, err[512] = "";
        unsigned char *der = NULL;
        size_t pemlen = 0, derlen = 0;
        EVP_PKEY *p384, *comp;
        BIO *bio;
        char *data;
        long len;

        REQUIRE(crypto_key_generate(&a, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_id(a, id, err, sizeof(err)) == 0);

        /* Plain PKCS#8. */
        CHECK_MSG(crypto_key_to_pem(a, NULL, &pem, &pemlen, err, sizeof(err)) ==
                      0,
                  err);
        REQUIRE(pem != NULL);
        CHECK(strlen(pem) == pemlen);
        CHECK(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
        CHECK_MSG(
            crypto_key_from_pem(pem, pemlen, NULL, &k, err, sizeof(err)) == 0,
            err);
        CHECK(crypto_key_has_private(k));
        CHECK(crypto_key_id(k, id2, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id2, id);
        crypto_key_free(k);
        k = NULL;
        crypto_secret_free(pem, pemlen);
        pem = NULL;

        /* Encrypted PKCS#8 with AES-256-CBC. */
        CHECK_MSG(crypto_key_to_pem(a, pass, &pem, &pemlen, err, sizeof(err)) ==
                      0,
                  err);
        REQUIRE(pem != NULL);
        CHECK(strncmp(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 38) == 0);
        CHECK(pem_uses_aes256cbc(pem, pemlen));
        CHECK_MSG(
            crypto_key_from_pem(pem, pemlen, pass, &k, err, sizeof(err)) == 0,
            err);
        CHECK(crypto_key_id(k, id2, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id2, id);
        crypto_key_free(k);
        k = NULL;
        err[0] = '\0';
        CHECK(crypto_key_from_pem(pem, pemlen, "wrong horse", &k, err,
                                  sizeof(err)) == -1);
        CHECK(k == NULL);
        CHECK(err[0] != '\0');
        /* No passphrase: fails, and never prompts (stdin may be a tty). */
        CHECK(crypto_key_from_pem(pem, pemlen, NULL, &k, NULL, 0) == -1);
        CHECK(crypto_key_from_pem(pem, pemlen, "", &k, NULL, 0) == -1);
        crypto_secret_free(pem, pemlen);
        pem = NULL;
        CHECK(crypto_key_to_pem(a, "", &pem, &pemlen, NULL, 0) == -1);
        CHECK(pem == NULL);

        /* A public-only key has no PEM. */
        REQUIRE(crypto_pubkey_to_der(a, &der, &derlen, err, sizeof(err)) == 0);
        REQUIRE(crypto_pubkey_from_der(der, derlen, &pub, err, sizeof(err)) ==
                0);
        CHECK(crypto_key_to_pem(pub, NULL, &pem, &pemlen, NULL, 0) == -1);
        free(der);
        der = NULL;

        /* Not a key; the message carries OpenSSL's own error text. */
        err[0] = '\0';
        CHECK(crypto_key_from_pem("hello\n", 6, NULL, &k, err, sizeof(err)) ==
              -1);
        CHECK(strstr(err, "error:") != NULL);

        /* A P-384 private key is refused. */
        REQUIRE((p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384")) != NULL);
        REQUIRE((bio = BIO_new(BIO_s_mem())) != NULL);
        REQUIRE(PEM_write_bio_PrivateKey(bio, p384, NULL, NULL, 0, NULL,
                                         NULL) == 1);
        len = BIO_get_mem_data(bio, &data);
        err[0] = '\0';
        CHECK(crypto_key_from_pem(data, (size_t)len, NULL, &k, err,
                                  sizeof(err)) == -1);
        CHECK(strstr(err, "P-256") != NULL);
        BIO_free(bio);
        EVP_PKEY_free(p384);

        /*
         * A P-256 key file whose public point is stored compressed still
         * yields the canonical SPKI, so its key_id does not depend on it.
         */
        REQUIRE((comp = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) != NULL);
        {
                unsigned char *ref;
                size_t reflen;
                char want[65];

                ref = spki_of(comp, &reflen);
                sha256_hex_ref(ref, reflen, want);
                free(ref);
                REQUIRE(EVP_PKEY_set_utf8_string_param(
                            comp, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                            "compressed") == 1);
                REQUIRE((bio = BIO_new(BIO_s_mem())) != NULL);
                REQUIRE(PEM_write_bio_PrivateKey(bio, comp, NULL, NULL, 0, NULL,
                                                 NULL) == 1);
                len = BIO_get_mem_data(bio, &data);
                CHECK_MSG(crypto_key_from_pem(data, (size_t)len, NULL, &k, err,
                                              sizeof(err)) == 0,
                          err);
                CHECK(crypto_pubkey_to_der(k, &der, &derlen, err,
                                           sizeof(err)) == 0);
                CHECK(derlen == 91);
                CHECK(crypto_key_id(k, id2, err, sizeof(err)) == 0);
                CHECK_STR_EQ(id2, want);
                free(der);
                crypto_key_free(k);
                k = NULL;
                BIO_free(bio);
        }
        EVP_PKEY_free(comp);

        crypto_key_free(pub);
        crypto_key_free(a);
}

static void test_key_files(void)
{
        struct crypto_key *a = NULL, *b = NULL, *k = NULL;
        char ida[CRYPTO_KEY_ID_LEN + 1], idb[CRYPTO_KEY_ID_LEN + 1];
        char id[CRYPTO_KEY_ID_LEN + 1], err[512] = "";
        char path[256], enc[256], bad[256];
        struct stat st;
        mode_t old;

        snprintf(path, sizeof(path), "%s", path_in_tmp("key.pem"));
        snprintf(enc, sizeof(enc), "%s", path_in_tmp("enc.pem"));
        snprintf(bad, sizeof(bad), "%s", path_in_tmp("nodir/key.pem"));
        REQUIRE(crypto_key_generate(&a, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_generate(&b, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_id(a, ida, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_id(b, idb, err, sizeof(err)) == 0);

        /* A permissive umask must not leak into the mode. */
        old = umask(0);
        CHECK_MSG(crypto_key_save(a, path, NULL, err, sizeof(err)) == 0, err);
        umask(old);
        REQUIRE(stat(path, &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        CHECK(count_dir_entries(tmpdir) == 1); /* no temporary left */
        CHECK_MSG(crypto_key_load(path, NULL, &k, err, sizeof(err)) == 0, err);
        CHECK(crypto_key_has_private(k));
        CHECK(crypto_key_id(k, id, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id, ida);
        crypto_key_free(k);
        k = NULL;

        /* Group or other access is refused, and the mode is named. */
        REQUIRE(chmod(path, 0644) == 0);
        err[0] = '\0';
        CHECK(crypto_key_load(path, NULL, &k, err, sizeof(err)) == -1);
        CHECK(k == NULL);
        CHECK_MSG(strstr(err, "0644") != NULL, err);
        REQUIRE(chmod(path, 0640) == 0);
        err[0] = '\0';
        CHECK(crypto_key_load(path, NULL, &k, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "0640") != NULL, err);
        REQUIRE(chmod(path, 0604) == 0);
        CHECK(crypto_key_load(path, NULL, &k, NULL, 0) == -1);
        REQUIRE(chmod(path, 0400) == 0);
        CHECK_MSG(crypto_key_load(path, NULL, &k, err, sizeof(err)) == 0, err);
        crypto_key_free(k);
        k = NULL;

        /* Saving over an existing file replaces it, with mode 0600. */
        CHECK_MSG(crypto_key_save(b, path, NULL, err, sizeof(err)) == 0, err);
        REQUIRE(stat(path, &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        CHECK(crypto_key_load(path, NULL, &k, err, sizeof(err)) == 0);
        CHECK(crypto_key_id(k, id, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id, idb);
        crypto_key_free(k);
        k = NULL;
        CHECK(count_dir_entries(tmpdir) == 1);

        /* Encrypted file. */
        CHECK_MSG(crypto_key_save(a, enc, "s3cret", err, sizeof(err)) == 0,
                  err);
        CHECK(crypto_key_load(enc, "s3cret", &k, err, sizeof(err)) == 0);
        CHECK(crypto_key_id(k, id, err, sizeof(err)) == 0);
        CHECK_STR_EQ(id, ida);
        crypto_key_free(k);
        k = NULL;
        CHECK(crypto_key_load(enc, "s3cre7", &k, NULL, 0) == -1);
        CHECK(crypto_key_load(enc, NULL, &k, NULL, 0) == -1);

        /* Missing file, a directory, a directory that does not exist. */
        CHECK(crypto_key_load(path_in_tmp("missing.pem"), NULL, &k, NULL, 0) ==
              -1);
        REQUIRE(chmod(tmpdir, 0700) == 0);
        CHECK(crypto_key_load(tmpdir, NULL, &k, NULL, 0) == -1);
        err[0] = '\0';
        CHECK(crypto_key_save(a, bad, NULL, err, sizeof(err)) == -1);
        CHECK(err[0] != '\0');
        CHECK(count_dir_entries(tmpdir) == 2);

        unlink(path);
        unlink(enc);
        crypto_key_free(b);
        crypto_key_free(a);
}

static void test_file_hash(void)
{
        /* Several read buffers, and not a multiple of one. */
        size_t len = 5 * 1024 * 1024 + 12345, i;
        unsigned char *buf, md[CRYPTO_SHA256_LEN], want[32];
        char hex[65], err[512] = "";
        unsigned int wantlen = 0;
        uint64_t size = 0;
        const char *path = path_in_tmp("pattern.bin");
        char p[256];
        int fd;

        snprintf(p, sizeof(p), "%s", path);
        REQUIRE((buf = malloc(len)) != NULL);
        for (i = 0; i < len; i++)
                buf[i] = (unsigned char)((i * 31) ^ (i >> 9));
        REQUIRE(EVP_Digest(buf, len, want, &wantlen, EVP_sha256(), NULL) == 1);
        REQUIRE((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600)) != -1);
        REQUIRE(write(fd, buf, len) == (ssize_t)len);
        REQUIRE(close(fd) == 0);

        CHECK_MSG(crypto_sha256_path(p, md, &size, err, sizeof(err)) == 0, err);
        CHECK_MEM_EQ(md, sizeof(md), want, wantlen);
        CHECK(size == len);

        REQUIRE((fd = open(p, O_RDONLY)) != -1);
        memset(md, 0, sizeof(md));
        CHECK(crypto_sha256_fd(fd, md, NULL, err, sizeof(err)) == 0);
        CHECK_MEM_EQ(md, sizeof(md), want, wantlen);
        /* The fd is borrowed: still open. */
        CHECK(close(fd) == 0);

        /* Same bytes, same digest as the buffer function. */
        CHECK(crypto_sha256(buf, len, md, err, sizeof(err)) == 0);
        CHECK_MEM_EQ(md, sizeof(md), want, wantlen);
        unlink(p);

        /* Empty file. */
        REQUIRE((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600)) != -1);
        REQUIRE(close(fd) == 0);
        CHECK(crypto_sha256_path(p, md, &size, err, sizeof(err)) == 0);
        to_hex(md, sizeof(md), hex);
        CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
        CHECK(size == 0);
        unlink(p);

        err[0] = '\0';
        CHECK(crypto_sha256_path(p, md, &size, err, sizeof(err)) == -1);
        CHECK(strstr(err, "pattern.bin") != NULL);
        CHECK(crypto_sha256_fd(-1, md, &size, NULL, 0) == -1);
        free(buf);
}

static void test_random(void)
{
        unsigned char a[32], b[32], zero[32] = {0}, *big;
        char err[256] = "";
        size_t len = 1024 * 1024;

        CHECK(crypto_random(a, sizeof(a), err, sizeof(err)) == 0);
        CHECK(crypto_random(b, sizeof(b), err, sizeof(err)) == 0);
        CHECK(memcmp(a, b, sizeof(a)) != 0);
        CHECK(memcmp(a, zero, sizeof(a)) != 0);
        REQUIRE((big = calloc(1, len)) != NULL);
        CHECK(crypto_random(big, len, err, sizeof(err)) == 0);
        CHECK(memcmp(big + len - 32, zero, 32) != 0);
        free(big);
        crypto_secret_free(NULL, 0);
}

int main(void)
{
        REQUIRE(mkdtemp(tmpdir) != NULL);
        test_sha256();
        test_sign_verify();
        test_canonical_der();
        test_public_keys();
        test_wrong_key_types();
        test_pem();
        test_key_files();
        test_file_hash();
        test_random();
        CHECK(rmdir(tmpdir) == 0);
        return unit_done("test_crypto");
}
