/*
 * proto cases: the data-driven half of the codec's tests, after jansson's
 * test/suites.  Every folder under the directory given as argv[1] is one
 * case: `input.json` holds the exact bytes of a Kafka message value and
 * `expected` says what proto_decode() must make of it:
 *
 *     ok | error CODE          first line: the verdict (CODE as on the wire)
 *     attributable yes|no      optional: whether an error can be routed
 *
 * A message expected ok must also come back byte-equivalent (same JSON)
 * from proto_envelope_dump() and decode again.  tests/tools/
 * validate_messages.py runs the same folders against schemas/.
 */
#include "proto.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

/* The suite must not pass by finding nothing. */
#define CASES_MIN 40

/* Bytes of the largest input.json we read (the codec's parse bound). */
#define CASE_INPUT_MAX (2 * 1024 * 1024)

/* Read all of `path` (at most `max` bytes); caller frees. */
static char *slurp(const char *path, size_t max, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t n;

        *len = 0;
        if (f == NULL)
                return NULL;
        buf = malloc(max + 1);
        if (buf != NULL) {
                n = fread(buf, 1, max + 1, f);
                if (ferror(f) || n > max) {
                        free(buf);
                        buf = NULL;
                } else {
                        buf[n] = '\0';
                        *len = n;
                }
        }
        fclose(f);
        return buf;
}

static int by_name(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The code named `s` ("bad_json"), or -1. */
static int code_from_name(const char *s)
{
        int i;

        for (i = 0; i < PROTO_CODE_COUNT; i++)
                if (strcmp(s, proto_code_name((enum proto_code)i)) == 0)
                        return i;
        return -1;
}

/* Encode the decoded `m` again and decode that: the same JSON. */
static void check_round_trip(const char *name, const struct proto_msg *m)
{
        struct proto_msg again;
        enum proto_code code;
        char err[256];
        char *out;
        size_t len;

        out = proto_envelope_dump(
            m->type, m->msg_id, m->user,
            json_deep_copy(json_object_get(m->root, "body")),
            m->sig.present ? m->sig.str : NULL, &len, err, sizeof(err));
        CHECK_MSG(out != NULL, name);
        if (out == NULL)
                return;
        CHECK_MSG(proto_decode(out, len, &again, &code, err, sizeof(err)) == 0,
                  name);
        CHECK_MSG(again.root != NULL && json_equal(again.root, m->root), name);
        proto_msg_fini(&again);
        free(out);
}

static void run_case(const char *dir, const char *name)
{
        char path[4096], err[512];
        char *input = NULL, *expected = NULL, *line, *save = NULL;
        struct proto_msg m;
        enum proto_code code = PROTO_INTERNAL;
        size_t len, elen;
        int want_code = -1, want_attr = -1, rc;

        snprintf(path, sizeof(path), "%s/%s/input.json", dir, name);
        input = slurp(path, CASE_INPUT_MAX, &len);
        snprintf(path, sizeof(path), "%s/%s/expected", dir, name);
        expected = slurp(path, 4096, &elen);
        CHECK_MSG(input != NULL && expected != NULL, name);
        if (input == NULL || expected == NULL)
                goto done;
        line = strtok_r(expected, "\n", &save);
        if (line != NULL && strcmp(line, "ok") == 0)
                want_code = PROTO_OK;
        else if (line != NULL && strncmp(line, "error ", 6) == 0)
                want_code = code_from_name(line + 6);
        line = strtok_r(NULL, "\n", &save);
        if (line != NULL && strcmp(line, "attributable yes") == 0)
                want_attr = 1;
        else if (line != NULL && strcmp(line, "attributable no") == 0)
                want_attr = 0;
        else if (line != NULL)
                want_code = -1;
        CHECK_MSG(want_code >= 0, name);
        if (want_code < 0)
                goto done;

        rc = proto_decode(input, len, &m, &code, err, sizeof(err));
        if ((int)code != want_code) {
                fprintf(stderr, "case %s: got %s (%s), want %s\n", name,
                        proto_code_name(code), rc == 0 ? "decoded" : err,
                        proto_code_name((enum proto_code)want_code));
        }
        CHECK_MSG((int)code == want_code, name);
        CHECK_MSG((rc == 0) == (want_code == PROTO_OK), name);
        if (want_attr >= 0) {
                if (m.attributable != want_attr)
                        fprintf(stderr, "case %s: attributable is %d\n", name,
                                m.attributable);
                CHECK_MSG(m.attributable == want_attr, name);
        }
        if (rc == 0)
                check_round_trip(name, &m);
        proto_msg_fini(&m);
done:
        free(input);
        free(expected);
}

int main(int argc, char **argv)
{
        char **names = NULL;
        size_t n = 0, cap = 0, i;
        char path[4096];
        struct dirent *de;
        struct stat st;
        DIR *d;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CASES_DIR\n", argv[0]);
                return 2;
        }
        if ((d = opendir(argv[1])) == NULL) {
                fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        while ((de = readdir(d)) != NULL) {
                /* Hidden entries and plain files are not cases. */
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
                if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode))
                        continue;
                if (n == cap) {
                        cap = cap ? 2 * cap : 64;
                        names = realloc(names, cap * sizeof(*names));
                        REQUIRE(names != NULL);
                }
                names[n] = strdup(de->d_name);
                REQUIRE(names[n] != NULL);
                n++;
        }
        closedir(d);
        if (n > 0)
                qsort(names, n, sizeof(*names), by_name);
        CHECK_MSG(n >= CASES_MIN, "too few cases: wrong directory?");
        for (i = 0; i < n; i++) {
                run_case(argv[1], names[i]);
                free(names[i]);
        }
        free(names);
        printf("test_proto_cases: %zu cases\n", n);
        return unit_done("test_proto_cases");
}
