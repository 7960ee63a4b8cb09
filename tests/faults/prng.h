/*
 * prng: the campaign's seeded pseudo-random numbers (xoshiro256**, seeded
 * through splitmix64).  Not for secrets: it exists so that one printed
 * seed replays the same schedule and the same exchange plans.
 */
#ifndef FAULTS_PRNG_H
#define FAULTS_PRNG_H

#include <stdint.h>

struct prng {
        uint64_t s[4];
};

/* prng_init: the stream of `seed` for `purpose` (independent streams for
 * the schedule and the exchanges, so that one does not shift the other). */
void prng_init(struct prng *p, uint64_t seed, uint64_t purpose);
uint64_t prng_next(struct prng *p);

/* prng_range: uniform in [lo, hi] (lo <= hi). */
int64_t prng_range(struct prng *p, int64_t lo, int64_t hi);

/* prng_chance: 1 with probability permille/1000. */
int prng_chance(struct prng *p, int permille);

#endif
