/*
 * crypto: ECDSA P-256, SHA-256 and randomness on OpenSSL 3 EVP (no
 * deprecated EC_KEY calls).
 */
#include "crypto.h"
#include "crypto_internal.h"

#include "atomicfile.h"
#include "hex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

/* The buffer of crypto_sha256_fd(): fixed, whatever the file size. */
#define CRYPTO_READ_CHUNK (64 * 1024)
/* A PEM key is a few hundred bytes; anything this big is not a key file. */
#define CRYPTO_PEM_MAX (64 * 1024)

struct crypto_key {
        EVP_PKEY *pkey;
        int has_private;
        /*
         * Operation contexts made on first use and reused: OpenSSL 3
         * looks the algorithms up in its provider store for every fresh
         * context, which cost a tenth of a verification and a fifth of
         * a signature.  They are a cache, not part of the key's value
         * (so a const key may fill them); the lock makes them safe for
         * several threads.
         */
        pthread_mutex_t lock;
        EVP_PKEY_CTX *sign_ctx;
        EVP_PKEY_CTX *verify_ctx;
};

/* SHA-256, fetched once from the default provider (see above). */
static pthread_once_t crypto_md_once = PTHREAD_ONCE_INIT;
static EVP_MD *crypto_md;

static void crypto_md_fetch(void)
{
        crypto_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *crypto_sha256_md(void)
{
        pthread_once(&crypto_md_once, crypto_md_fetch);
        return crypto_md != NULL ? crypto_md : EVP_sha256();
}

static void crypto_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Format the message, then append and drain the whole OpenSSL error queue,
 * so that the next call does not report stale errors.  The queue is
 * drained even when the caller passed no buffer.
 */
static void crypto_err(char *err, size_t errlen, const char *fmt, ...)
{
        char ossl[256];
        unsigned long e;
        size_t len;
        va_list ap;
        int first = 1;

        if (err != NULL && errlen > 0) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        while ((e = ERR_get_error()) != 0) {
                if (err == NULL || errlen == 0)
                        continue;
                ERR_error_string_n(e, ossl, sizeof(ossl));
                len = strlen(err);
                if (len + 1 < errlen)
                        snprintf(err + len, errlen - len, "%s%s",
                                 first ? ": " : "; ", ossl);
                first = 0;
        }
}

static struct crypto_key *crypto_key_wrap(EVP_PKEY *pkey, int has_private)
{
        struct crypto_key *key;

        if ((key = calloc(1, sizeof(*key))) == NULL)
                return NULL;
        if (pthread_mutex_init(&key->lock, NULL) != 0) {
                free(key);
                return NULL;
        }
        key->pkey = pkey;
        key->has_private = has_private;
        return key;
}

/*
 * The contract knows one key type.  Checking the group name, not just "EC",
 * keeps out P-384, secp256k1 and friends.
 */
static int crypto_check_p256(EVP_PKEY *pkey, char *err, size_t errlen)
{
        char group[64];
        size_t glen = 0;
        const char *type;

        if (!EVP_PKEY_is_a(pkey, "EC")) {
                type = EVP_PKEY_get0_type_name(pkey);
                crypto_err(err, errlen, "key is %s, not EC P-256",
                           type != NULL ? type : "of an unknown type");
                return -1;
        }
        if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen)) {
                crypto_err(err, errlen, "EC key has no named curve");
                return -1;
        }
        if (strcmp(group, "prime256v1") != 0) {
                crypto_err(err, errlen, "EC key is on %s, not P-256", group);
                return -1;
        }
        return 0;
}

/* Whether the string parameter `name` of `pkey` equals `want`. */
static int crypto_param_is(EVP_PKEY *pkey, const char *name, const char *want)
{
        char buf[64];
        size_t len = 0;

        if (!EVP_PKEY_get_utf8_string_param(pkey, name, buf, sizeof(buf), &len))
                return 0;
        return strcmp(buf, want) == 0;
}

/*
 * Copy `passphrase` for OpenSSL's PEM decoder.  Without a passphrase the
 * answer is "none" (-1): the default callback would prompt on a terminal,
 * which a daemon must never do.  A passphrase too long for OpenSSL's buffer
 * fails rather than being silently truncated.
 */
static int crypto_pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
        const char *pass = u;
        size_t len;

        (void)rwflag;
        if (pass == NULL || size <= 0)
                return -1;
        len = strlen(pass);
        if (len > (size_t)size)
                return -1;
        memcpy(buf, pass, len);
        return (int)len;
}

int crypto_key_generate(struct crypto_key **out, char *err, size_t errlen)
{
        EVP_PKEY *pkey = NULL;
        int ret = -1;

        *out = NULL;
        ERR_clear_error();
        if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
                crypto_err(err, errlen, "generating a P-256 key");
                goto done;
        }
        if ((*out = crypto_key_wrap(pkey, 1)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        pkey = NULL;
        ret = 0;
done:
        EVP_PKEY_free(pkey);
        return ret;
}

void crypto_key_free(struct crypto_key *key)
{
        if (key == NULL)
                return;
        /* EVP_PKEY_free() clears the private scalar itself. */
        EVP_PKEY_CTX_free(key->sign_ctx);
        EVP_PKEY_CTX_free(key->verify_ctx);
        EVP_PKEY_free(key->pkey);
        pthread_mutex_destroy(&key->lock);
        free(key);
}

int crypto_key_has_private(const struct crypto_key *key)
{
        return key != NULL && key->has_private;
}

EVP_PKEY *crypto_key_pkey(const struct crypto_key *key)
{
        return key->pkey;
}

int crypto_key_to_pem(const struct crypto_key *key, const char *passphrase,
                      char **pem, size_t *pemlen, char *err, size_t errlen)
{
        const EVP_CIPHER *cipher = NULL;
        BIO *bio = NULL;
        char *data, *buf = NULL;
        size_t plen = 0;
        long len;
        int ret = -1;

        *pem = NULL;
        *pemlen = 0;
        ERR_clear_error();
        if (!key->has_private) {
                crypto_err(err, errlen, "key has no private part");
                goto done;
        }
        if (passphrase != NULL) {
                plen = strlen(passphrase);
                if (plen == 0 || plen > INT_MAX) {
                        crypto_err(err, errlen,
                                   "passphrase must be 1 to %d bytes; use "
                                   "none for an unencrypted key",
                                   INT_MAX);
                        goto done;
                }
                cipher = EVP_aes_256_cbc();
        }
        /* A secure-heap BIO: its buffer is wiped when freed. */
        if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
                crypto_err(err, errlen, "BIO_new");
                goto done;
        }
        /* The passphrase goes as kstr/klen: no callback, never a prompt. */
        if (!PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, cipher, passphrase,
                                           (int)plen, NULL, NULL)) {
                crypto_err(err, errlen, "writing PKCS#8 PEM");
                goto done;
        }
        if ((len = BIO_get_mem_data(bio, &data)) <= 0) {
                crypto_err(err, errlen, "writing PKCS#8 PEM: no output");
                goto done;
        }
        if ((buf = malloc((size_t)len + 1)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        memcpy(buf, data, (size_t)len);
        buf[len] = '\0';
        *pem = buf;
        *pemlen = (size_t)len;
        ret = 0;
done:
        BIO_free(bio);
        return ret;
}

int crypto_key_from_pem(const char *pem, size_t pemlen, const char *passphrase,
                        struct crypto_key **out, char *err, size_t errlen)
{
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        int ret = -1;

        *out = NULL;
        ERR_clear_error();
        if (pemlen > CRYPTO_PEM_MAX) {
                crypto_err(err, errlen, "PEM of %zu bytes is too large",
                           pemlen);
                goto done;
        }
        if ((bio = BIO_new_mem_buf(pem, (int)pemlen)) == NULL) {
                crypto_err(err, errlen, "BIO_new_mem_buf");
                goto done;
        }
        pkey = PEM_read_bio_PrivateKey(bio, NULL, crypto_pem_pass_cb,
                                       (void *)passphrase);
        if (pkey == NULL) {
                crypto_err(err, errlen, "cannot read private key PEM (%s)",
                           passphrase != NULL ? "wrong passphrase or not a key"
                                              : "encrypted or not a key");
                goto done;
        }
        if (crypto_check_p256(pkey, err, errlen) == -1)
                goto done;
        /*
         * Whatever form the file used, export the public key in the one
         * canonical form, or the key_id would depend on the file.
         */
        if (!EVP_PKEY_set_utf8_string_param(
                pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                "uncompressed") ||
            !EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
                                            "named_curve")) {
                crypto_err(err, errlen, "normalizing the key encoding");
                goto done;
        }
        if ((*out = crypto_key_wrap(pkey, 1)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        pkey = NULL;
        ret = 0;
done:
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        return ret;
}

int crypto_key_load(const char *path, const char *passphrase,
                    struct crypto_key **out, char *err, size_t errlen)
{
        struct stat st;
        char *buf = NULL, why[512];
        size_t len = 0, cap = 0;
        ssize_t n;
        int fd = -1, ret = -1;

        *out = NULL;
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
                crypto_err(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        /* fstat the opened file, not the name: no race with a swap. */
        if (fstat(fd, &st) == -1) {
                crypto_err(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                crypto_err(err, errlen, "%s: not a regular file", path);
                goto done;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                crypto_err(err, errlen,
                           "%s: mode %04o gives group or others access to a "
                           "private key; chmod 600 it",
                           path, (unsigned int)(st.st_mode & 07777));
                goto done;
        }
        if (st.st_size > CRYPTO_PEM_MAX) {
                crypto_err(err, errlen, "%s: too large for a key file", path);
                goto done;
        }
        /* +1: one spare byte tells a file that grew since fstat. */
        cap = (size_t)st.st_size + 1;
        if ((buf = malloc(cap)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        while (len < cap) {
                n = read(fd, buf + len, cap - len);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n == -1) {
                        crypto_err(err, errlen, "%s: %s", path,
                                   strerror(errno));
                        goto done;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len == cap) {
                crypto_err(err, errlen, "%s: changed while being read", path);
                goto done;
        }
        if (crypto_key_from_pem(buf, len, passphrase, out, why, sizeof(why)) ==
            -1) {
                crypto_err(err, errlen, "%s: %s", path, why);
                goto done;
        }
        ret = 0;
done:
        crypto_secret_free(buf, cap);
        if (fd != -1)
                close(fd);
        return ret;
}

int crypto_key_save(const struct crypto_key *key, const char *path,
                    const char *passphrase, char *err, size_t errlen)
{
        char *pem = NULL;
        size_t pemlen = 0;
        int ret = -1;

        if (crypto_key_to_pem(key, passphrase, &pem, &pemlen, err, errlen) ==
            -1)
                goto done;
        if (atomicfile_write(path, pem, pemlen, 0600, 0, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        crypto_secret_free(pem, pemlen);
        return ret;
}

int crypto_pubkey_to_der(const struct crypto_key *key, unsigned char **der,
                         size_t *derlen, char *err, size_t errlen)
{
        unsigned char *buf = NULL, *p;
        int len, ret = -1;

        *der = NULL;
        *derlen = 0;
        ERR_clear_error();
        /* Two passes so that the buffer comes from malloc(), not OpenSSL. */
        if ((len = i2d_PUBKEY(key->pkey, NULL)) <= 0) {
                crypto_err(err, errlen, "encoding the public key");
                goto done;
        }
        if ((buf = malloc((size_t)len)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        p = buf;
        if (i2d_PUBKEY(key->pkey, &p) != len) {
                crypto_err(err, errlen, "encoding the public key");
                goto done;
        }
        *der = buf;
        *derlen = (size_t)len;
        buf = NULL;
        ret = 0;
done:
        free(buf);
        return ret;
}

int crypto_pubkey_from_der(const unsigned char *der, size_t derlen,
                           struct crypto_key **out, char *err, size_t errlen)
{
        const unsigned char *p = der;
        unsigned char *again = NULL;
        EVP_PKEY_CTX *ctx = NULL;
        EVP_PKEY *pkey = NULL;
        struct crypto_key tmp;
        size_t againlen = 0;
        int ret = -1;

        *out = NULL;
        ERR_clear_error();
        if (derlen == 0 || derlen > LONG_MAX) {
                crypto_err(err, errlen, "public key: bad length %zu", derlen);
                goto done;
        }
        if ((pkey = d2i_PUBKEY(NULL, &p, (long)derlen)) == NULL) {
                crypto_err(err, errlen, "public key: not SPKI DER");
                goto done;
        }
        if (p != der + derlen) {
                crypto_err(err, errlen, "public key: %zu trailing bytes",
                           (size_t)(der + derlen - p));
                goto done;
        }
        if (crypto_check_p256(pkey, err, errlen) == -1)
                goto done;
        /*
         * The same point could be written with explicit curve parameters or
         * compressed; each form would hash to another key_id.
         */
        if (!crypto_param_is(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
                             "named_curve")) {
                crypto_err(err, errlen,
                           "public key: curve must be given by name");
                goto done;
        }
        if (!crypto_param_is(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                             "uncompressed")) {
                crypto_err(err, errlen,
                           "public key: point must be uncompressed");
                goto done;
        }
        if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
            EVP_PKEY_public_check(ctx) != 1) {
                crypto_err(err, errlen, "public key: invalid point");
                goto done;
        }
        /* Strict DER: what we would write is exactly what we were given. */
        tmp.pkey = pkey;
        tmp.has_private = 0;
        if (crypto_pubkey_to_der(&tmp, &again, &againlen, err, errlen) == -1)
                goto done;
        if (againlen != derlen || memcmp(again, der, derlen) != 0) {
                crypto_err(err, errlen, "public key: not canonical DER");
                goto done;
        }
        if ((*out = crypto_key_wrap(pkey, 0)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        pkey = NULL;
        ret = 0;
done:
        free(again);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(pkey);
        return ret;
}

int crypto_key_id(const struct crypto_key *key, char *out, char *err,
                  size_t errlen)
{
        unsigned char *der = NULL;
        size_t derlen = 0;
        int ret = -1;

        if (crypto_pubkey_to_der(key, &der, &derlen, err, errlen) == -1)
                goto done;
        if (crypto_sha256_hex(der, derlen, out, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        free(der);
        return ret;
}

/*
 * The key's reused context for signing (`sign`) or verifying, made and
 * initialised for SHA-256 digests on first use; the caller holds the
 * key's lock.  NULL on error (OpenSSL's queue says why).
 */
static EVP_PKEY_CTX *crypto_op_ctx(struct crypto_key *key, int sign)
{
        EVP_PKEY_CTX **slot = sign ? &key->sign_ctx : &key->verify_ctx;
        EVP_PKEY_CTX *ctx;

        if (*slot != NULL)
                return *slot;
        if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)) == NULL)
                return NULL;
        if ((sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) != 1 ||
            EVP_PKEY_CTX_set_signature_md(ctx, crypto_sha256_md()) != 1) {
                EVP_PKEY_CTX_free(ctx);
                return NULL;
        }
        return *slot = ctx;
}

int crypto_sign(const struct crypto_key *ckey, const void *msg, size_t msglen,
                unsigned char **sig, size_t *siglen, char *err, size_t errlen)
{
        struct crypto_key *key = (struct crypto_key *)ckey; /* the cache */
        unsigned char digest[CRYPTO_SHA256_LEN];
        unsigned char *buf = NULL;
        EVP_PKEY_CTX *ctx;
        size_t len = 0;
        int ret = -1, locked = 0;

        *sig = NULL;
        *siglen = 0;
        ERR_clear_error();
        if (!key->has_private) {
                crypto_err(err, errlen, "sign: key has no private part");
                goto done;
        }
        if (crypto_sha256(msg, msglen, digest, err, errlen) == -1)
                goto done;
        pthread_mutex_lock(&key->lock);
        locked = 1;
        if ((ctx = crypto_op_ctx(key, 1)) == NULL) {
                crypto_err(err, errlen, "sign: init");
                goto done;
        }
        /* First the maximum size, then the real one (DER varies). */
        if (EVP_PKEY_sign(ctx, NULL, &len, digest, sizeof(digest)) != 1) {
                crypto_err(err, errlen, "sign: size");
                goto done;
        }
        if ((buf = malloc(len)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        if (EVP_PKEY_sign(ctx, buf, &len, digest, sizeof(digest)) != 1) {
                crypto_err(err, errlen, "sign");
                goto done;
        }
        *sig = buf;
        *siglen = len;
        buf = NULL;
        ret = 0;
done:
        if (locked)
                pthread_mutex_unlock(&key->lock);
        free(buf);
        return ret;
}

/*
 * Strict DER: exactly one ECDSA-Sig-Value, minimal lengths and integers,
 * nothing after it.  OpenSSL's verify checks much of this too, but the
 * contract makes it ours to guarantee.
 */
static int crypto_sig_canonical(const unsigned char *sig, size_t siglen)
{
        const unsigned char *p = sig;
        unsigned char *again = NULL;
        ECDSA_SIG *es = NULL;
        int len, ret = -1;

        if (siglen == 0 || siglen > LONG_MAX)
                goto done;
        if ((es = d2i_ECDSA_SIG(NULL, &p, (long)siglen)) == NULL)
                goto done;
        if (p != sig + siglen)
                goto done;
        if ((len = i2d_ECDSA_SIG(es, &again)) <= 0)
                goto done;
        if ((size_t)len != siglen || memcmp(again, sig, siglen) != 0)
                goto done;
        ret = 0;
done:
        OPENSSL_free(again);
        ECDSA_SIG_free(es);
        return ret;
}

int crypto_verify(const struct crypto_key *ckey, const void *msg, size_t msglen,
                  const unsigned char *sig, size_t siglen, char *err,
                  size_t errlen)
{
        struct crypto_key *key = (struct crypto_key *)ckey; /* the cache */
        unsigned char digest[CRYPTO_SHA256_LEN];
        EVP_PKEY_CTX *ctx;
        int rc, ret = -1;

        ERR_clear_error();
        if (crypto_sig_canonical(sig, siglen) == -1) {
                crypto_err(err, errlen, "signature is not canonical DER");
                return -1;
        }
        if (crypto_sha256(msg, msglen, digest, err, errlen) == -1)
                return -1;
        pthread_mutex_lock(&key->lock);
        if ((ctx = crypto_op_ctx(key, 0)) == NULL) {
                crypto_err(err, errlen, "verify: init");
                goto done;
        }
        /* 0 is "does not verify", negative is an error: neither is valid. */
        rc = EVP_PKEY_verify(ctx, sig, siglen, digest, sizeof(digest));
        if (rc != 1) {
                crypto_err(err, errlen, "%s",
                           rc == 0 ? "signature does not verify"
                                   : "verify: error");
                goto done;
        }
        ret = 0;
done:
        pthread_mutex_unlock(&key->lock);
        return ret;
}

int crypto_sha256(const void *buf, size_t len, unsigned char *out, char *err,
                  size_t errlen)
{
        unsigned int mdlen = 0;

        ERR_clear_error();
        if (EVP_Digest(buf, len, out, &mdlen, crypto_sha256_md(), NULL) != 1 ||
            mdlen != CRYPTO_SHA256_LEN) {
                crypto_err(err, errlen, "sha256");
                return -1;
        }
        return 0;
}

int crypto_sha256_hex(const void *buf, size_t len, char *out, char *err,
                      size_t errlen)
{
        unsigned char md[CRYPTO_SHA256_LEN];

        if (crypto_sha256(buf, len, md, err, errlen) == -1)
                return -1;
        return hex_encode(md, sizeof(md), out, CRYPTO_SHA256_HEX_LEN + 1);
}

int crypto_sha256_fd(int fd, unsigned char *out, uint64_t *size, char *err,
                     size_t errlen)
{
        EVP_MD_CTX *md = NULL;
        unsigned char *buf = NULL;
        unsigned int mdlen = 0;
        uint64_t total = 0;
        ssize_t n;
        int ret = -1;

        ERR_clear_error();
        /* On the heap: 64 KiB is too much for small thread stacks. */
        if ((buf = malloc(CRYPTO_READ_CHUNK)) == NULL) {
                crypto_err(err, errlen, "out of memory");
                goto done;
        }
        if ((md = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestInit_ex(md, crypto_sha256_md(), NULL) != 1) {
                crypto_err(err, errlen, "sha256: init");
                goto done;
        }
        for (;;) {
                n = read(fd, buf, CRYPTO_READ_CHUNK);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n == -1) {
                        crypto_err(err, errlen, "sha256: read: %s",
                                   strerror(errno));
                        goto done;
                }
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
                        crypto_err(err, errlen, "sha256: update");
                        goto done;
                }
                total += (uint64_t)n;
        }
        if (EVP_DigestFinal_ex(md, out, &mdlen) != 1 ||
            mdlen != CRYPTO_SHA256_LEN) {
                crypto_err(err, errlen, "sha256: final");
                goto done;
        }
        if (size != NULL)
                *size = total;
        ret = 0;
done:
        EVP_MD_CTX_free(md);
        free(buf);
        return ret;
}

int crypto_sha256_path(const char *path, unsigned char *out, uint64_t *size,
                       char *err, size_t errlen)
{
        char why[512];
        int fd, ret;

        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
                crypto_err(err, errlen, "%s: %s", path, strerror(errno));
                return -1;
        }
        ret = crypto_sha256_fd(fd, out, size, why, sizeof(why));
        if (ret == -1)
                crypto_err(err, errlen, "%s: %s", path, why);
        close(fd);
        return ret;
}

int crypto_random(void *buf, size_t len, char *err, size_t errlen)
{
        unsigned char *p = buf;
        size_t n;

        ERR_clear_error();
        /* RAND_bytes takes an int. */
        while (len > 0) {
                n = len > INT_MAX ? INT_MAX : len;
                if (RAND_bytes(p, (int)n) != 1) {
                        crypto_err(err, errlen, "RAND_bytes");
                        return -1;
                }
                p += n;
                len -= n;
        }
        return 0;
}

void crypto_secret_free(void *buf, size_t len)
{
        if (buf == NULL)
                return;
        OPENSSL_cleanse(buf, len);
        free(buf);
}
