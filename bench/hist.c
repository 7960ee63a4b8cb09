/*
 * hist: log-linear buckets.  For a value v with its highest set bit at
 * position msb >= HIST_SUB_BITS, shift = msb - HIST_SUB_BITS keeps the
 * HIST_SUB_BITS + 1 leading bits, and the bucket is shift * HIST_SUB +
 * (v >> shift): octave after octave, contiguous with the exact buckets
 * 0 .. 2 * HIST_SUB - 1 of the small values.
 */
#include "hist.h"

#include <string.h>

static unsigned hist_index(uint64_t v)
{
        unsigned msb, shift;

        if (v < 2 * (uint64_t)HIST_SUB)
                return (unsigned)v;
        msb = 63u - (unsigned)__builtin_clzll(v);
        if (msb > HIST_MAX_MSB) {
                msb = HIST_MAX_MSB;
                v = ((uint64_t)1 << (HIST_MAX_MSB + 1)) - 1;
        }
        shift = msb - HIST_SUB_BITS;
        return shift * HIST_SUB + (unsigned)(v >> shift);
}

/* The highest value that falls into bucket `i`. */
static uint64_t hist_bucket_high(unsigned i)
{
        unsigned shift, mant;

        if (i < 2 * HIST_SUB)
                return i;
        shift = i / HIST_SUB - 1;
        mant = i - shift * HIST_SUB;
        return (((uint64_t)mant + 1) << shift) - 1;
}

void hist_reset(struct hist *h)
{
        memset(h, 0, sizeof(*h));
        h->min = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t value)
{
        h->bucket[hist_index(value)]++;
        h->count++;
        h->sum += value;
        if (value < h->min)
                h->min = value;
        if (value > h->max)
                h->max = value;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
        for (unsigned i = 0; i < HIST_BUCKETS; i++)
                dst->bucket[i] += src->bucket[i];
        dst->count += src->count;
        dst->sum += src->sum;
        if (src->count > 0 && src->min < dst->min)
                dst->min = src->min;
        if (src->max > dst->max)
                dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
        uint64_t rank, seen = 0, v;

        if (h->count == 0)
                return 0;
        if (q <= 0)
                return h->min;
        if (q >= 1)
                return h->max;
        rank = (uint64_t)(q * (double)h->count);
        if ((double)rank < q * (double)h->count)
                rank++;
        if (rank == 0)
                rank = 1;
        for (unsigned i = 0; i < HIST_BUCKETS; i++) {
                seen += h->bucket[i];
                if (seen >= rank) {
                        v = hist_bucket_high(i);
                        if (v > h->max)
                                v = h->max;
                        if (v < h->min)
                                v = h->min;
                        return v;
                }
        }
        return h->max;
}

double hist_mean(const struct hist *h)
{
        return h->count ? (double)h->sum / (double)h->count : 0.0;
}
