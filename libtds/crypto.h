/*
 * crypto: the contract's cryptography and nothing else.  ECDSA on NIST P-256
 * with SHA-256 and DER signatures; public keys as SubjectPublicKeyInfo DER;
 * private keys as PKCS#8 PEM, optionally encrypted with AES-256-CBC;
 * SHA-256 of buffers and files; CSPRNG bytes.  Built on OpenSSL 3 EVP.
 *
 * Every function that can fail returns 0 or -1 and, on -1, writes a message
 * to `err` (`errlen` bytes, may be NULL) that ends with the drained OpenSSL
 * error queue.  Nothing here logs or exits.
 */
#ifndef TDS_CRYPTO_H
#define TDS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN     32 /* bytes */
#define CRYPTO_SHA256_HEX_LEN 64 /* characters, without the NUL */
#define CRYPTO_KEY_ID_LEN     64 /* characters, without the NUL */

/*
 * A P-256 key: either a key pair (from crypto_key_generate() or a private
 * key PEM) or a public key only (from SPKI DER).  Opaque; owned by whoever
 * received it from a constructor, released with crypto_key_free().
 * Constructors only ever produce EC keys on P-256, so functions taking a
 * key need not check the curve again.
 */
struct crypto_key;

/* crypto_key_generate: a fresh P-256 key pair in `*out`; caller frees. */
int crypto_key_generate(struct crypto_key **out, char *err, size_t errlen);

/* crypto_key_free: release a key (NULL is fine); private parts are wiped. */
void crypto_key_free(struct crypto_key *key);

/* crypto_key_has_private: 1 if `key` can sign, else 0. */
int crypto_key_has_private(const struct crypto_key *key);

/*
 * crypto_key_to_pem: the private `key` as PKCS#8 PEM ("BEGIN PRIVATE KEY"),
 * or, with a non-NULL `passphrase`, as encrypted PKCS#8 with AES-256-CBC
 * ("BEGIN ENCRYPTED PRIVATE KEY").  An empty passphrase is refused: pass
 * NULL to mean "no encryption".  `*pem` is NUL-terminated, `*pemlen`
 * excludes the NUL.  It is a secret: caller frees with crypto_secret_free().
 */
int crypto_key_to_pem(const struct crypto_key *key, const char *passphrase,
                      char **pem, size_t *pemlen, char *err, size_t errlen);

/*
 * crypto_key_from_pem: parse a private key PEM of `pemlen` bytes (borrowed),
 * decrypting it with `passphrase` (may be NULL; never prompts on a
 * terminal).  Refuses keys that are not EC on P-256.  Caller frees `*out`.
 */
int crypto_key_from_pem(const char *pem, size_t pemlen, const char *passphrase,
                        struct crypto_key **out, char *err, size_t errlen);

/*
 * crypto_key_load: read a private key PEM file like crypto_key_from_pem().
 * Refuses a file that is not regular or whose mode grants any access to
 * group or others (the message names the mode), as ssh does: a key that
 * others could read is no longer proof of anything.  Caller frees `*out`.
 */
int crypto_key_load(const char *path, const char *passphrase,
                    struct crypto_key **out, char *err, size_t errlen);

/*
 * crypto_key_save: write the private `key` as PEM (see crypto_key_to_pem())
 * to `path` atomically with mode 0600: a new temporary file in the same
 * directory (O_EXCL), fsync, rename over `path`, fsync of the directory.
 * An existing file at `path` is replaced; on failure it is left untouched
 * and no temporary file remains.
 */
int crypto_key_save(const struct crypto_key *key, const char *path,
                    const char *passphrase, char *err, size_t errlen);

/*
 * crypto_pubkey_to_der: the SubjectPublicKeyInfo DER of `key` (named curve,
 * uncompressed point) in `*der` (`*derlen` bytes); caller frees (free()).
 */
int crypto_pubkey_to_der(const struct crypto_key *key, unsigned char **der,
                         size_t *derlen, char *err, size_t errlen);

/*
 * crypto_pubkey_from_der: parse SPKI DER (`der` borrowed) into a public-only
 * key.  Only the one canonical form is accepted, so that one key has one
 * key_id: an EC key on P-256 (prime256v1) given by its named-curve OID, an
 * uncompressed valid point, strict DER, no trailing bytes.  RSA, other
 * curves, explicit parameters and compressed points are refused.  Caller
 * frees `*out`.
 */
int crypto_pubkey_from_der(const unsigned char *der, size_t derlen,
                           struct crypto_key **out, char *err, size_t errlen);

/*
 * crypto_key_id: the contract's key_id of `key`, lowercase hex SHA-256 of
 * its SPKI DER, into `out` (CRYPTO_KEY_ID_LEN + 1 bytes, NUL-terminated).
 */
int crypto_key_id(const struct crypto_key *key, char *out, char *err,
                  size_t errlen);

/*
 * crypto_sign: ECDSA-SHA-256 signature, DER encoded, of the `msglen` bytes
 * of `msg` with the private `key`.  Caller frees `*sig` (free()).
 */
int crypto_sign(const struct crypto_key *key, const void *msg, size_t msglen,
                unsigned char **sig, size_t *siglen, char *err, size_t errlen);

/*
 * crypto_verify: 0 if and only if `sig` (`siglen` bytes, DER) is a valid
 * ECDSA-SHA-256 signature of `msg` under `key` AND is strictly canonical
 * DER (parsing and re-encoding it gives the same bytes).  Anything else,
 * including internal errors, is -1 with the reason in `err`.  Both low-S and
 * high-S signatures are accepted, so the signature bytes are not unique:
 * never use them as an identity or a uniqueness key.
 */
int crypto_verify(const struct crypto_key *key, const void *msg, size_t msglen,
                  const unsigned char *sig, size_t siglen, char *err,
                  size_t errlen);

/* crypto_sha256: SHA-256 of `len` bytes of `buf` into `out` (32 bytes). */
int crypto_sha256(const void *buf, size_t len, unsigned char *out, char *err,
                  size_t errlen);

/*
 * crypto_sha256_hex: SHA-256 of `buf` as lowercase hex into `out`
 * (CRYPTO_SHA256_HEX_LEN + 1 bytes, NUL-terminated).
 */
int crypto_sha256_hex(const void *buf, size_t len, char *out, char *err,
                      size_t errlen);

/*
 * crypto_sha256_fd: SHA-256 of everything read from `fd` (borrowed, read
 * from its current offset to end of file, not closed) into `out` (32
 * bytes), and the number of bytes hashed in `*size` (may be NULL).  Reads
 * through a fixed 64 KiB buffer, so files of any size are fine.
 */
int crypto_sha256_fd(int fd, unsigned char *out, uint64_t *size, char *err,
                     size_t errlen);

/* crypto_sha256_path: crypto_sha256_fd() of the file at `path`. */
int crypto_sha256_path(const char *path, unsigned char *out, uint64_t *size,
                       char *err, size_t errlen);

/* crypto_random: `len` bytes from OpenSSL's CSPRNG into `buf`. */
int crypto_random(void *buf, size_t len, char *err, size_t errlen);

/*
 * crypto_secret_free: wipe `len` bytes of `buf` and free() it (NULL is
 * fine).  For PEM buffers, passphrases and anything else secret.
 */
void crypto_secret_free(void *buf, size_t len);

#endif
