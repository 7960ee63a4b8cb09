/*
 * bmap: FNV-1a hashes, a power-of-two table kept at most half full.
 */
#include "bmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bmap_slot {
        char *key; /* NULL: empty */
        uint64_t hash;
        void *value;
};

struct bmap {
        struct bmap_slot *slots;
        size_t cap; /* power of two */
        size_t count;
};

static uint64_t bmap_hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;

        for (; *s != '\0'; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

struct bmap *bmap_new(void)
{
        struct bmap *m = calloc(1, sizeof(*m));

        if (m == NULL)
                return NULL;
        m->cap = 64;
        if ((m->slots = calloc(m->cap, sizeof(*m->slots))) == NULL) {
                free(m);
                return NULL;
        }
        return m;
}

void bmap_free(struct bmap *m)
{
        if (m == NULL)
                return;
        for (size_t i = 0; i < m->cap; i++)
                free(m->slots[i].key);
        free(m->slots);
        free(m);
}

/* The slot holding `key`, or the empty slot where it would go. */
static size_t bmap_find(const struct bmap *m, const char *key, uint64_t h)
{
        size_t i = (size_t)h & (m->cap - 1);

        while (m->slots[i].key != NULL &&
               (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
                i = (i + 1) & (m->cap - 1);
        return i;
}

static int bmap_grow(struct bmap *m)
{
        struct bmap_slot *old = m->slots, *slots;
        size_t oldcap = m->cap, cap = m->cap * 2;

        if ((slots = calloc(cap, sizeof(*slots))) == NULL)
                return -1;
        m->slots = slots;
        m->cap = cap;
        for (size_t i = 0; i < oldcap; i++) {
                size_t j;

                if (old[i].key == NULL)
                        continue;
                j = (size_t)old[i].hash & (cap - 1);
                while (slots[j].key != NULL)
                        j = (j + 1) & (cap - 1);
                slots[j] = old[i];
        }
        free(old);
        return 0;
}

int bmap_put(struct bmap *m, const char *key, void *value)
{
        uint64_t h = bmap_hash(key);
        size_t i;

        if ((m->count + 1) * 2 > m->cap && bmap_grow(m) == -1)
                return -1;
        i = bmap_find(m, key, h);
        if (m->slots[i].key == NULL) {
                if ((m->slots[i].key = strdup(key)) == NULL)
                        return -1;
                m->slots[i].hash = h;
                m->count++;
        }
        m->slots[i].value = value;
        return 0;
}

void *bmap_get(const struct bmap *m, const char *key)
{
        size_t i = bmap_find(m, key, bmap_hash(key));

        return m->slots[i].key != NULL ? m->slots[i].value : NULL;
}

void *bmap_del(struct bmap *m, const char *key)
{
        size_t i = bmap_find(m, key, bmap_hash(key)), j, home;
        size_t mask = m->cap - 1;
        void *value;

        if (m->slots[i].key == NULL)
                return NULL;
        value = m->slots[i].value;
        free(m->slots[i].key);
        m->slots[i].key = NULL;
        m->count--;
        /* Shift back the entries of the run after i that may live in i. */
        for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
                home = (size_t)m->slots[j].hash & mask;
                /* j may move to i if home is not in (i, j] cyclically. */
                if (((j - home) & mask) >= ((j - i) & mask)) {
                        m->slots[i] = m->slots[j];
                        m->slots[j].key = NULL;
                        i = j;
                }
        }
        return value;
}

size_t bmap_count(const struct bmap *m)
{
        return m->count;
}
