/*
 * bmap: a string-keyed hash map to borrowed pointers, for dispatching
 * replies to the exchanges in flight.  Open addressing with linear
 * probing and backward-shift deletion (no tombstones), so a map that
 * sees millions of insertions and deletions stays as small as what is
 * in it.  Keys are copied; values are borrowed.
 */
#ifndef TDS_BENCH_BMAP_H
#define TDS_BENCH_BMAP_H

#include <stddef.h>

struct bmap;

/* An empty map; caller frees with bmap_free. */
struct bmap *bmap_new(void);
void bmap_free(struct bmap *m);

/* Insert or replace; -1 when out of memory. */
int bmap_put(struct bmap *m, const char *key, void *value);

/* The value of `key`, or NULL. */
void *bmap_get(const struct bmap *m, const char *key);

/* Remove `key`; its value, or NULL if it was not there. */
void *bmap_del(struct bmap *m, const char *key);

size_t bmap_count(const struct bmap *m);

#endif
