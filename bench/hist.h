/*
 * hist: a small HDR-style latency histogram.
 *
 * Values (microseconds, or any unsigned unit) go into log-linear buckets:
 * every power of two is split into HIST_SUB sub-buckets, so a quantile is
 * reported with a relative error below 1/HIST_SUB (0.8 %) over the whole
 * range, in a fixed 36 KiB whatever the count.  Values below 2*HIST_SUB
 * are exact; min, max, count and sum are kept exactly.
 */
#ifndef TDS_BENCH_HIST_H
#define TDS_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_MSB  40 /* values up to 2^41 - 1; larger ones are clamped */
#define HIST_BUCKETS  ((HIST_MAX_MSB - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
        uint64_t count;
        uint64_t sum;
        uint64_t min;
        uint64_t max;
        uint64_t bucket[HIST_BUCKETS];
};

/* Empty the histogram (caller-owned storage). */
void hist_reset(struct hist *h);

void hist_record(struct hist *h, uint64_t value);

/* Add every value of `src` to `dst`. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * The value at quantile `q` (0..1): the highest value equivalent to the
 * bucket holding the ceil(q * count)-th smallest value, never above the
 * exact max.  0 when empty.
 */
uint64_t hist_quantile(const struct hist *h, double q);

/* Exact mean; 0 when empty. */
double hist_mean(const struct hist *h);

#endif
