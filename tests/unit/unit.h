/*
 * unit: the smallest test harness that does the job.  A failed CHECK prints
 * file:line and the expression, counts, and lets the test go on so that
 * one run shows every failure; unit_done() makes the exit status non-zero
 * if anything failed.  One executable per module, registered with CTest.
 */
#ifndef TDS_UNIT_H
#define TDS_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(expr)                                                            \
        do {                                                                   \
                unit_checks++;                                                 \
                if (!(expr)) {                                                 \
                        unit_failures++;                                       \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
                                __LINE__, #expr);                              \
                }                                                              \
        } while (0)

/* CHECK with the message of the call under test, e.g. its err buffer. */
#define CHECK_MSG(expr, msg)                                                   \
        do {                                                                   \
                unit_checks++;                                                 \
                if (!(expr)) {                                                 \
                        unit_failures++;                                       \
                        fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n",      \
                                __FILE__, __LINE__, #expr, (msg));             \
                }                                                              \
        } while (0)

#define CHECK_STR_EQ(got, want)                                                \
        do {                                                                   \
                const char *unit_g_ = (got), *unit_w_ = (want);                \
                unit_checks++;                                                 \
                if (unit_g_ == NULL || strcmp(unit_g_, unit_w_) != 0) {        \
                        unit_failures++;                                       \
                        fprintf(stderr,                                        \
                                "%s:%d: CHECK failed: %s == %s\n"              \
                                "  got:  \"%s\"\n  want: \"%s\"\n",            \
                                __FILE__, __LINE__, #got, #want,               \
                                unit_g_ != NULL ? unit_g_ : "(null)",          \
                                unit_w_);                                      \
                }                                                              \
        } while (0)

#define CHECK_MEM_EQ(got, gotlen, want, wantlen)                               \
        do {                                                                   \
                size_t unit_gl_ = (gotlen), unit_wl_ = (wantlen);              \
                unit_checks++;                                                 \
                if (unit_gl_ != unit_wl_ ||                                    \
                    (unit_gl_ > 0 && memcmp((got), (want), unit_gl_) != 0)) {  \
                        unit_failures++;                                       \
                        fprintf(stderr,                                        \
                                "%s:%d: CHECK failed: %s[%zu] == %s[%zu]\n",   \
                                __FILE__, __LINE__, #got, unit_gl_, #want,     \
                                unit_wl_);                                     \
                }                                                              \
        } while (0)

/* Stop the test: for setup steps the rest depends on. */
#define REQUIRE(expr)                                                          \
        do {                                                                   \
                if (!(expr)) {                                                 \
                        fprintf(stderr, "%s:%d: REQUIRE failed: %s\n",         \
                                __FILE__, __LINE__, #expr);                    \
                        exit(1);                                               \
                }                                                              \
        } while (0)

/* snprintf that must not truncate (test paths and names are short). */
static void unit_fmt(char *out, size_t outlen, const char *f, ...)
    __attribute__((format(printf, 3, 4), unused));

static void unit_fmt(char *out, size_t outlen, const char *f, ...)
{
        va_list ap;
        int n;

        va_start(ap, f);
        n = vsnprintf(out, outlen, f, ap);
        va_end(ap);
        REQUIRE(n >= 0 && (size_t)n < outlen);
}

/* Report and return the exit status for main(). */
static inline int unit_done(const char *name)
{
        if (unit_failures > 0) {
                fprintf(stderr, "%s: %d of %d checks FAILED\n", name,
                        unit_failures, unit_checks);
                return 1;
        }
        printf("%s: all %d checks passed\n", name, unit_checks);
        return 0;
}

#endif
