/*
 * tsa: RFC 3161 time-stamping with OpenSSL's TS_* API.
 *
 * By default the TTP is its own time-stamping authority:
 *   - the TTP's P-256 key signs a self-signed CA certificate ("TDS TTP
 *     CA": basicConstraints CA:TRUE critical, keyUsage keyCertSign and
 *     cRLSign), so that whoever pins the TTP's public key also trusts the
 *     chain;
 *   - a separate P-256 TSA key gets a certificate issued by that CA
 *     ("TDS TSA": basicConstraints CA:FALSE, keyUsage digitalSignature
 *     critical, extendedKeyUsage timeStamping critical), as RFC 3161
 *     section 2.3 requires.
 * Both are X.509 v3 with a random 16-byte serial, signed with SHA-256,
 * and carry key identifiers (subject; authority for the TSA).
 * A token is then checkable by hand:
 *   openssl ts -verify -digest HEX -in token.der -token_in \
 *           -CAfile ttp-ca.pem -untrusted tsa.pem
 *
 * Tokens are TimeStampTokens (the CMS SignedData ContentInfo, DER) over a
 * SHA-256 message imprint, signed with SHA-256, carrying the signer's
 * certificate (ESSCertIDv2), the policy TSA_POLICY_OID, a serial number,
 * genTime to the second and the TSA's name (the certificate's subject).
 */
#ifndef TDS_TSA_H
#define TDS_TSA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "crypto.h"

/*
 * The TDS time-stamp policy: a UUID OID (ITU-T X.667, arc 2.25, UUID
 * ec7e81e1-7c44-40e6-8e29-8c2a5468187b), which needs no registration.
 * 1.3.6.1.4.1.57264 is Sigstore's enterprise arc, where .1.1 already names
 * Fulcio's OIDC-issuer certificate extension: not ours to use.
 */
#define TSA_POLICY_OID "2.25.314354670705049625719484453363554719867"

/* A DER certificate (caller frees `der` with free()). */
struct tsa_cert {
        unsigned char *der;
        size_t len;
};

void tsa_cert_clear(struct tsa_cert *c);

/*
 * The self-signed CA certificate of `ca_key` (private), valid from now
 * for `days` days, subject CN `cn`.
 */
int tsa_ca_cert_create(const struct crypto_key *ca_key, const char *cn,
                       int days, struct tsa_cert *out, char *err,
                       size_t errlen);

/*
 * The TSA certificate of `tsa_key` (public part used) issued by `ca_key`
 * (private) whose certificate is `ca_cert`, valid from now for `days`.
 */
int tsa_cert_issue(const struct crypto_key *ca_key,
                   const struct tsa_cert *ca_cert,
                   const struct crypto_key *tsa_key, const char *cn, int days,
                   struct tsa_cert *out, char *err, size_t errlen);

/* PEM files of one or more certificates <-> DER (first certificate). */
int tsa_cert_save_pem(const struct tsa_cert *c, const char *path, char *err,
                      size_t errlen);
int tsa_cert_load_pem(const char *path, struct tsa_cert *out, char *err,
                      size_t errlen);

/* 0 when `cert` holds the same public key as `key`. */
int tsa_cert_matches_key(const struct tsa_cert *cert,
                         const struct crypto_key *key, char *err,
                         size_t errlen);

/* A TSA that signs tokens: its key and certificate, borrowed. */
struct tsa_signer;

int tsa_signer_new(const struct crypto_key *tsa_key,
                   const struct tsa_cert *tsa_cert, struct tsa_signer **out,
                   char *err, size_t errlen);
void tsa_signer_free(struct tsa_signer *s);

/*
 * A TimeStampToken over the SHA-256 `digest`, with serial number `serial`
 * (the caller keeps serials unique, e.g. the tree size).  `*token` is
 * malloc'ed (caller frees); the token's genTime in `*gen_time` (may be
 * NULL).
 */
int tsa_stamp(struct tsa_signer *s, const unsigned char digest[32],
              uint64_t serial, unsigned char **token, size_t *token_len,
              time_t *gen_time, char *err, size_t errlen);

/*
 * Verify `token` with TS_VERIFY_CTX: version, CMS signature by a
 * certificate chaining to `root` (the only trust anchor; `intermediates`
 * certificates, `n_intermediates` of them, are untrusted helpers and the
 * signer certificate may also come from the token), the signer's
 * timeStamping EKU, and that the message imprint is SHA-256 `digest`.
 * The chain is checked at the token's genTime, not at the current time,
 * so old evidence stays checkable after the certificates expire.  The
 * token must be exactly DER: OpenSSL checks the signature over its own
 * re-encoding, so a BER variant would otherwise pass for the signed bytes.
 * 0 when all holds, `*gen_time` (may be NULL) set; -1 with the reason
 * otherwise.
 */
int tsa_verify(const unsigned char *token, size_t token_len,
               const unsigned char digest[32], const struct tsa_cert *root,
               const struct tsa_cert *intermediates, size_t n_intermediates,
               time_t *gen_time, char *err, size_t errlen);

/*
 * Read what a token says without verifying it: genTime, the serial (when
 * it fits 64 bits) and the imprint digest.  -1 if it does not parse.
 * Each output may be NULL; asking for a serial that does not fit 64 bits,
 * or for the digest of an imprint that is not SHA-256, is -1 too.
 */
int tsa_token_info(const unsigned char *token, size_t token_len,
                   time_t *gen_time, uint64_t *serial, unsigned char digest[32],
                   char *err, size_t errlen);

#endif
