/*
 * prng: xoshiro256** (Blackman and Vigna), state from splitmix64.
 */
#include "prng.h"

static uint64_t prng_splitmix(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static uint64_t prng_rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

void prng_init(struct prng *p, uint64_t seed, uint64_t purpose)
{
        uint64_t x = seed ^ (purpose * 0xd1342543de82ef95ULL);

        for (int i = 0; i < 4; i++)
                p->s[i] = prng_splitmix(&x);
}

uint64_t prng_next(struct prng *p)
{
        uint64_t *s = p->s;
        uint64_t result = prng_rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = prng_rotl(s[3], 45);
        return result;
}

int64_t prng_range(struct prng *p, int64_t lo, int64_t hi)
{
        uint64_t span = (uint64_t)(hi - lo) + 1;

        if (span == 0) /* the whole 64-bit range */
                return (int64_t)prng_next(p);
        return lo + (int64_t)(prng_next(p) % span);
}

int prng_chance(struct prng *p, int permille)
{
        return prng_range(p, 0, 999) < permille;
}
