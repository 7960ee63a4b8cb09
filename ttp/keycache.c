/*
 * keycache: a chained hash table of parsed user keys.
 */
#include "keycache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "proto.h"

#define KEYCACHE_BUCKETS 4096

struct keycache_node {
        struct keycache_node *next;
        char user[65];
        char key_id[CRYPTO_KEY_ID_LEN + 1];
        unsigned char der[PROTO_PUBKEY_MAX];
        size_t der_len;
        struct crypto_key *key;
};

struct keycache {
        struct keycache_node *buckets[KEYCACHE_BUCKETS];
        size_t count;
        size_t max_entries;
};

/* FNV-1a: user names are short and not attacker-chosen in bulk (they
 * must be registered first), so a simple hash is enough. */
static size_t keycache_hash(const char *s)
{
        uint32_t h = 2166136261u;

        for (; *s != '\0'; s++) {
                h ^= (unsigned char)*s;
                h *= 16777619u;
        }
        return h % KEYCACHE_BUCKETS;
}

struct keycache *keycache_new(size_t max_entries)
{
        struct keycache *cache = calloc(1, sizeof(*cache));

        if (cache != NULL)
                cache->max_entries = max_entries;
        return cache;
}

static void keycache_clear(struct keycache *cache)
{
        for (size_t i = 0; i < KEYCACHE_BUCKETS; i++) {
                struct keycache_node *n = cache->buckets[i], *next;

                for (; n != NULL; n = next) {
                        next = n->next;
                        crypto_key_free(n->key);
                        free(n);
                }
                cache->buckets[i] = NULL;
        }
        cache->count = 0;
}

void keycache_free(struct keycache *cache)
{
        if (cache == NULL)
                return;
        keycache_clear(cache);
        free(cache);
}

static void keycache_fill(const struct keycache_node *n,
                          struct keycache_entry *out)
{
        out->key = n->key;
        out->key_id = n->key_id;
        out->der = n->der;
        out->der_len = n->der_len;
}

int keycache_get(struct keycache *cache, const char *user,
                 struct keycache_entry *out)
{
        struct keycache_node *n = cache->buckets[keycache_hash(user)];

        for (; n != NULL; n = n->next) {
                if (strcmp(n->user, user) == 0) {
                        keycache_fill(n, out);
                        return 1;
                }
        }
        return 0;
}

int keycache_put(struct keycache *cache, const char *user,
                 const unsigned char *der, size_t der_len,
                 struct keycache_entry *out, char *err, size_t errlen)
{
        struct keycache_node *n = NULL;
        size_t b;

        if (keycache_get(cache, user, out))
                return 0;
        if (strlen(user) >= sizeof(n->user) || der_len > sizeof(n->der)) {
                snprintf(err, errlen, "key of %s: too long", user);
                return -1;
        }
        if ((n = calloc(1, sizeof(*n))) == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        if (crypto_pubkey_from_der(der, der_len, &n->key, err, errlen) == -1 ||
            crypto_key_id(n->key, n->key_id, err, errlen) == -1) {
                crypto_key_free(n->key);
                free(n);
                return -1;
        }
        snprintf(n->user, sizeof(n->user), "%s", user);
        memcpy(n->der, der, der_len);
        n->der_len = der_len;
        b = keycache_hash(user);
        n->next = cache->buckets[b];
        cache->buckets[b] = n;
        cache->count++;
        keycache_fill(n, out);
        return 0;
}

void keycache_trim(struct keycache *cache)
{
        if (cache->count >= cache->max_entries)
                keycache_clear(cache);
}

void keycache_reset(struct keycache *cache)
{
        keycache_clear(cache);
}
