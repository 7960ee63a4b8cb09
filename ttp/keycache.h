/*
 * keycache: registered users' public keys, parsed once.
 *
 * Parsing an SPKI costs more than verifying a signature on OpenSSL 3, and
 * a user's key never changes once registered (register with another key
 * is key_conflict), so a parsed key can be kept for the daemon's life.
 * A key may be added as soon as it was read, even from a row the open
 * transaction inserted (a register earlier in the same batch); a caller
 * whose transaction then rolls back calls keycache_reset(), since that
 * row may never commit.
 */
#ifndef TTP_KEYCACHE_H
#define TTP_KEYCACHE_H

#include <stddef.h>

struct crypto_key;
struct keycache;

struct keycache_entry {
        const struct crypto_key *key; /* borrowed from the cache */
        const char *key_id;           /* 64 hex */
        const unsigned char *der;     /* SPKI DER */
        size_t der_len;
};

/*
 * `max_entries` bounds memory: past it keycache_trim() starts over.
 * Entries handed out stay valid until the next keycache_trim(), so a
 * unit of work (one message) may hold several at once.
 */
struct keycache *keycache_new(size_t max_entries);
void keycache_free(struct keycache *cache);

/* 1 and `*out` if cached, 0 if not. */
int keycache_get(struct keycache *cache, const char *user,
                 struct keycache_entry *out);

/*
 * Parse `der` and cache it under `user`.  -1 with a message if the key
 * does not parse (a corrupt row).  `out` is filled on success.
 */
int keycache_put(struct keycache *cache, const char *user,
                 const unsigned char *der, size_t der_len,
                 struct keycache_entry *out, char *err, size_t errlen);

/* Start over if the cache is full; call between units of work. */
void keycache_trim(struct keycache *cache);

/* Start over now (after a rollback); entries handed out become invalid. */
void keycache_reset(struct keycache *cache);

#endif
