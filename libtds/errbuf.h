/*
 * errbuf: the `char *err, size_t errlen` convention of every module.
 *
 * A function that can fail takes a caller's buffer and writes why into
 * it; the caller that decides logs or prints it once.  A NULL buffer
 * means the caller does not want the text.
 */
#ifndef TDS_ERRBUF_H
#define TDS_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* printf into `err` (truncated to `errlen`); nothing if err is NULL. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void errbuf_vset(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
