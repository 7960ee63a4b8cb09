/*
 * test_bench: the benchmark's histogram (quantiles within its stated
 * precision, exact extremes) and its dispatch map (insertions, lookups,
 * deletions that keep every other key reachable).
 */
#include <stdint.h>
#include <stdio.h>

#include "bmap.h"
#include "hist.h"
#include "unit.h"

static int within(uint64_t got, double want, double rel)
{
        return (double)got >= want * (1 - rel) &&
               (double)got <= want * (1 + rel);
}

static void test_hist(void)
{
        static struct hist h, h2;

        hist_reset(&h);
        CHECK(hist_quantile(&h, 0.5) == 0);
        CHECK(hist_mean(&h) == 0);
        /* Small values are exact. */
        for (uint64_t v = 1; v <= 100; v++)
                hist_record(&h, v);
        CHECK(hist_quantile(&h, 0.5) == 50);
        CHECK(hist_quantile(&h, 0.99) == 99);
        CHECK(hist_quantile(&h, 1.0) == 100);
        CHECK(hist_quantile(&h, 0.0) == 1);
        CHECK(h.count == 100);

        /* 1..1,000,000: quantiles within 1 %, max exact. */
        hist_reset(&h);
        for (uint64_t v = 1; v <= 1000000; v++)
                hist_record(&h, v);
        CHECK(within(hist_quantile(&h, 0.5), 500000, 0.01));
        CHECK(within(hist_quantile(&h, 0.95), 950000, 0.01));
        CHECK(within(hist_quantile(&h, 0.99), 990000, 0.01));
        CHECK(h.max == 1000000);
        CHECK(hist_quantile(&h, 0.999999) <= 1000000);
        CHECK(hist_mean(&h) == 500000.5);

        /* A skewed sample: 99 fast, 1 slow; p99 is fast, p99.5 slow. */
        hist_reset(&h);
        for (int i = 0; i < 99; i++)
                hist_record(&h, 1000);
        hist_record(&h, 5000000);
        CHECK(within(hist_quantile(&h, 0.99), 1000, 0.01));
        CHECK(within(hist_quantile(&h, 0.995), 5000000, 0.01));
        CHECK(h.max == 5000000);

        /* Huge values are clamped into the last bucket, max stays. */
        hist_record(&h, UINT64_MAX / 2);
        CHECK(h.max == UINT64_MAX / 2);
        CHECK(hist_quantile(&h, 1.0) == UINT64_MAX / 2);

        /* Merge adds counts and keeps extremes. */
        hist_reset(&h);
        hist_reset(&h2);
        hist_record(&h, 10);
        hist_record(&h2, 20000);
        hist_merge(&h, &h2);
        CHECK(h.count == 2);
        CHECK(h.min == 10);
        CHECK(h.max == 20000);
}

static void test_bmap(void)
{
        struct bmap *m = bmap_new();
        static int vals[20000];
        char key[32];
        int ok = 1;

        CHECK(m != NULL);
        if (m == NULL)
                return;
        CHECK(bmap_get(m, "nothing") == NULL);
        CHECK(bmap_del(m, "nothing") == NULL);
        for (int i = 0; i < 20000; i++) {
                snprintf(key, sizeof(key), "x\x1fuser-%d\x1f%d", i % 97, i);
                CHECK(bmap_put(m, key, &vals[i]) == 0);
        }
        CHECK(bmap_count(m) == 20000);
        /* Delete every other key; the rest must stay reachable. */
        for (int i = 0; i < 20000; i += 2) {
                snprintf(key, sizeof(key), "x\x1fuser-%d\x1f%d", i % 97, i);
                if (bmap_del(m, key) != &vals[i])
                        ok = 0;
        }
        CHECK(ok);
        CHECK(bmap_count(m) == 10000);
        ok = 1;
        for (int i = 0; i < 20000; i++) {
                snprintf(key, sizeof(key), "x\x1fuser-%d\x1f%d", i % 97, i);
                if (bmap_get(m, key) != (i % 2 ? &vals[i] : NULL))
                        ok = 0;
        }
        CHECK(ok);
        /* Replace keeps the count. */
        snprintf(key, sizeof(key), "x\x1fuser-%d\x1f%d", 1 % 97, 1);
        CHECK(bmap_put(m, key, &vals[0]) == 0);
        CHECK(bmap_get(m, key) == &vals[0]);
        CHECK(bmap_count(m) == 10000);
        bmap_free(m);
        bmap_free(NULL);
}

int main(void)
{
        test_hist();
        test_bmap();
        return unit_done("bench");
}
