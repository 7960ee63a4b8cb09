/*
 * msgids: a batch's msg_ids, looked up together.  See msgids.h.
 */
#include "msgids.h"

#include <stdlib.h>
#include <string.h>

#include "hex.h"

#define MSGIDS_HEX_LEN 32

int msgids_add(struct msgids *s, const unsigned char id[16])
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 64;
                void *p = realloc(s->v, cap * sizeof(*s->v));

                if (p == NULL)
                        return -1;
                s->v = p;
                s->cap = cap;
        }
        memcpy(s->v[s->n].id, id, 16);
        s->v[s->n].processed = 0;
        s->n++;
        s->sealed = 0;
        return 0;
}

static int entry_cmp(const void *a, const void *b)
{
        return memcmp(((const struct msgids_entry *)a)->id,
                      ((const struct msgids_entry *)b)->id, 16);
}

void msgids_seal(struct msgids *s)
{
        size_t kept = 0;

        if (s->n > 1)
                qsort(s->v, s->n, sizeof(*s->v), entry_cmp);
        for (size_t i = 0; i < s->n; i++)
                if (kept == 0 || memcmp(s->v[kept - 1].id, s->v[i].id, 16) != 0)
                        s->v[kept++] = s->v[i];
        s->n = kept;
        s->sealed = 1;
}

static struct msgids_entry *find(const struct msgids *s,
                                 const unsigned char id[16])
{
        struct msgids_entry key;

        if (!s->sealed || s->n == 0)
                return NULL;
        memcpy(key.id, id, 16);
        return bsearch(&key, s->v, s->n, sizeof(*s->v), entry_cmp);
}

int msgids_mark(struct msgids *s, const unsigned char id[16])
{
        struct msgids_entry *e = find(s, id);

        if (e == NULL)
                return -1;
        e->processed = 1;
        return 0;
}

int msgids_state(const struct msgids *s, const unsigned char id[16])
{
        const struct msgids_entry *e = find(s, id);

        return e == NULL ? -1 : e->processed;
}

void msgids_clear(struct msgids *s)
{
        s->n = 0;
        s->sealed = 0;
}

void msgids_fini(struct msgids *s)
{
        free(s->v);
        memset(s, 0, sizeof(*s));
}

static int is_json_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int msgids_hint(const void *value, size_t len, unsigned char out[16])
{
        static const char key[] = "\"msg_id\"";
        const char *p = value, *end = p + len;
        size_t outlen;

        if (value == NULL)
                return -1;
        p = memmem(p, len, key, sizeof(key) - 1);
        if (p == NULL)
                return -1;
        p += sizeof(key) - 1;
        while (p < end && is_json_space(*p))
                p++;
        if (p == end || *p++ != ':')
                return -1;
        while (p < end && is_json_space(*p))
                p++;
        if (end - p < MSGIDS_HEX_LEN + 2 || *p != '"' ||
            p[MSGIDS_HEX_LEN + 1] != '"')
                return -1;
        if (hex_decode(p + 1, MSGIDS_HEX_LEN, HEX_LOWER_ONLY, out, 16, &outlen,
                       NULL, 0) == -1 ||
            outlen != 16)
                return -1;
        return 0;
}
