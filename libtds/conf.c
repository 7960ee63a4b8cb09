/*
 * conf: a small line-oriented configuration reader.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* A config line longer than this is a mistake, not a setting. */
#define CONF_LINE_MAX 4096
#define CONF_FILE_MAX (1024 * 1024)

struct conf_entry {
        char *key;
        char *value;
        int line;
};

struct conf {
        char *name;
        struct conf_entry *entries;
        size_t count;
        size_t cap;
};

/* Values may be secrets (a kafka.sasl.password): wiped before free. */
static void conf_free_value(char *value)
{
        if (value != NULL) {
                OPENSSL_cleanse(value, strlen(value));
                free(value);
        }
}

static int conf_add(struct conf *conf, const char *key, size_t keylen,
                    const char *value, size_t valuelen, int line)
{
        struct conf_entry *e;

        if (conf->count == conf->cap) {
                size_t ncap = conf->cap ? conf->cap * 2 : 16;
                struct conf_entry *n =
                    realloc(conf->entries, ncap * sizeof(*n));
                if (n == NULL)
                        return -1;
                conf->entries = n;
                conf->cap = ncap;
        }
        e = &conf->entries[conf->count];
        e->key = strndup(key, keylen);
        e->value = strndup(value, valuelen);
        e->line = line;
        if (e->key == NULL || e->value == NULL) {
                free(e->key);
                conf_free_value(e->value);
                return -1;
        }
        conf->count++;
        return 0;
}

struct conf *conf_parse(const char *name, const char *text, char *err,
                        size_t errlen)
{
        struct conf *conf = NULL, *ret = NULL;
        const char *p = text;
        int line = 0;

        if ((conf = calloc(1, sizeof(*conf))) == NULL ||
            (conf->name = strdup(name)) == NULL) {
                snprintf(err, errlen, "%s: out of memory", name);
                goto done;
        }
        while (*p != '\0') {
                const char *eol = strchr(p, '\n');
                const char *end = eol ? eol : p + strlen(p);
                const char *k, *v, *vend;
                size_t keylen;

                line++;
                if ((size_t)(end - p) > CONF_LINE_MAX) {
                        snprintf(err, errlen, "%s:%d: line too long", name,
                                 line);
                        goto done;
                }
                k = p;
                while (k < end && (*k == ' ' || *k == '\t'))
                        k++;
                vend = end;
                while (vend > k && isspace((unsigned char)vend[-1]))
                        vend--;
                p = eol ? eol + 1 : end;
                if (k == vend || *k == '#')
                        continue;
                v = k;
                while (v < vend && !isspace((unsigned char)*v))
                        v++;
                keylen = (size_t)(v - k);
                while (v < vend && isspace((unsigned char)*v))
                        v++;
                if (v == vend) {
                        snprintf(err, errlen, "%s:%d: '%.*s' has no value",
                                 name, line, (int)keylen, k);
                        goto done;
                }
                for (const char *c = k; c < vend; c++) {
                        if (iscntrl((unsigned char)*c) && *c != '\t') {
                                snprintf(err, errlen,
                                         "%s:%d: control character in line",
                                         name, line);
                                goto done;
                        }
                }
                if (conf_add(conf, k, keylen, v, (size_t)(vend - v), line) ==
                    -1) {
                        snprintf(err, errlen, "%s: out of memory", name);
                        goto done;
                }
        }
        ret = conf;
        conf = NULL;
done:
        conf_free(conf);
        return ret;
}

struct conf *conf_load(const char *path, char *err, size_t errlen)
{
        struct conf *ret = NULL;
        FILE *f = NULL;
        char *text = NULL;
        size_t len = 0;

        if ((f = fopen(path, "r")) == NULL) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        /* Unbuffered: stdio's buffer would keep a copy of the secrets in
         * the file that nobody wipes. */
        setvbuf(f, NULL, _IONBF, 0);
        if ((text = malloc(CONF_FILE_MAX + 1)) == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto done;
        }
        len = fread(text, 1, CONF_FILE_MAX + 1, f);
        if (ferror(f)) {
                snprintf(err, errlen, "%s: read error", path);
                goto done;
        }
        if (len > CONF_FILE_MAX) {
                snprintf(err, errlen, "%s: larger than %d bytes", path,
                         CONF_FILE_MAX);
                goto done;
        }
        if (memchr(text, '\0', len) != NULL) {
                snprintf(err, errlen, "%s: contains a NUL byte", path);
                goto done;
        }
        text[len] = '\0';
        ret = conf_parse(path, text, err, errlen);
done:
        if (f != NULL)
                fclose(f);
        if (text != NULL) {
                /* What was read, and the NUL after it if there was room. */
                OPENSSL_cleanse(text, len <= CONF_FILE_MAX ? len + 1 : len);
                free(text);
        }
        return ret;
}

void conf_free(struct conf *conf)
{
        if (conf == NULL)
                return;
        for (size_t i = 0; i < conf->count; i++) {
                free(conf->entries[i].key);
                conf_free_value(conf->entries[i].value);
        }
        free(conf->entries);
        free(conf->name);
        free(conf);
}

size_t conf_count(const struct conf *conf)
{
        return conf->count;
}

const char *conf_key(const struct conf *conf, size_t i)
{
        return conf->entries[i].key;
}

const char *conf_value(const struct conf *conf, size_t i)
{
        return conf->entries[i].value;
}

int conf_line(const struct conf *conf, size_t i)
{
        return conf->entries[i].line;
}

const char *conf_name(const struct conf *conf)
{
        return conf->name;
}

int conf_parse_long(const char *value, long min, long max, long *out, char *err,
                    size_t errlen)
{
        char *end;
        long v;

        errno = 0;
        if (!isdigit((unsigned char)value[0]) && value[0] != '-') {
                snprintf(err, errlen, "'%s' is not a number", value);
                return -1;
        }
        v = strtol(value, &end, 10);
        if (errno != 0 || *end != '\0') {
                snprintf(err, errlen, "'%s' is not a number", value);
                return -1;
        }
        if (v < min || v > max) {
                snprintf(err, errlen, "%ld is out of range [%ld, %ld]", v, min,
                         max);
                return -1;
        }
        *out = v;
        return 0;
}

int conf_parse_bool(const char *value, int *out, char *err, size_t errlen)
{
        static const char *yes[] = {"yes", "true", "on", "1"};
        static const char *no[] = {"no", "false", "off", "0"};

        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
                if (strcmp(value, yes[i]) == 0) {
                        *out = 1;
                        return 0;
                }
                if (strcmp(value, no[i]) == 0) {
                        *out = 0;
                        return 0;
                }
        }
        snprintf(err, errlen, "'%s' is not yes or no", value);
        return -1;
}
