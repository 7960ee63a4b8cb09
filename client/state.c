/*
 * state: local records of uploads and downloads.
 */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "home.h"
#include "ids.h"

#define STATE_RECORD_MAX (16u * 1024 * 1024)

static const char *state_dir(enum state_kind kind)
{
        return kind == STATE_UPLOAD ? "uploads" : "downloads";
}

const char *state_str(const json_t *rec, const char *key)
{
        return json_string_value(json_object_get(rec, key));
}

int state_set_str(json_t *rec, const char *key, const char *value)
{
        if (value == NULL) {
                json_object_del(rec, key); /* absent is fine */
                return 0;
        }
        return json_object_set_new(rec, key, json_string(value));
}

/* Load one record file; a missing file is 0 with *rec NULL. */
static int state_load_path(const char *path, json_t **rec, char *err,
                           size_t errlen)
{
        json_error_t jerr;
        char *text;

        *rec = NULL;
        if ((text = home_read_file(path, STATE_RECORD_MAX, NULL, err,
                                   errlen)) == NULL)
                return errno == ENOENT ? 0 : -1;
        *rec = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        free(text);
        if (*rec == NULL || !json_is_object(*rec)) {
                snprintf(err, errlen, "%s: not a record (line %d: %s)", path,
                         jerr.line, jerr.text);
                json_decref(*rec);
                *rec = NULL;
                return -1;
        }
        return 0;
}

int state_upload_load(const char *home, const char *file_id, json_t **rec,
                      char *err, size_t errlen)
{
        char name[IDS_FILE_ID_MAX + 32], path[HOME_PATH_MAX];

        *rec = NULL;
        snprintf(name, sizeof(name), "uploads/%s.json", file_id);
        if (home_path(home, name, path, sizeof(path), err, errlen) == -1)
                return -1;
        return state_load_path(path, rec, err, errlen);
}

int state_save(const char *home, enum state_kind kind, const char *file_id,
               const char *msg_id, json_t *rec, char *err, size_t errlen)
{
        char dir[HOME_PATH_MAX], path[HOME_PATH_MAX + 128];
        char now[IDS_TIME_LEN + 1];
        char *text = NULL;
        int n, ret = -1;

        if (home_subdir(home, state_dir(kind), dir, sizeof(dir), err, errlen) ==
            -1)
                return -1;
        if (kind == STATE_UPLOAD)
                n = snprintf(path, sizeof(path), "%s/%s.json", dir, file_id);
        else
                n = snprintf(path, sizeof(path), "%s/%s.%s.json", dir, file_id,
                             msg_id);
        if (n < 0 || (size_t)n >= sizeof(path)) {
                snprintf(err, errlen, "record path in %s too long", dir);
                return -1;
        }
        if (ids_time_format(time(NULL), now, err, errlen) == -1)
                return -1;
        if ((json_object_get(rec, "created_at") == NULL &&
             state_set_str(rec, "created_at", now) == -1) ||
            state_set_str(rec, "updated_at", now) == -1 ||
            (text = json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
                NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        ret = home_write_atomic(path, text, strlen(text), 0600, err, errlen);
done:
        free(text);
        return ret;
}

/* Order records by created_at, then file_id (stable listings). */
static int state_cmp(const void *a, const void *b)
{
        const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
        const char *cx = state_str(x, "created_at");
        const char *cy = state_str(y, "created_at");
        int c = strcmp(cx ? cx : "", cy ? cy : "");

        if (c != 0)
                return c;
        cx = state_str(x, "file_id");
        cy = state_str(y, "file_id");
        return strcmp(cx ? cx : "", cy ? cy : "");
}

int state_list(const char *home, enum state_kind kind, json_t **out, char *err,
               size_t errlen)
{
        char dir[HOME_PATH_MAX], path[HOME_PATH_MAX + 300];
        json_t **recs = NULL, *rec, *arr = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d = NULL;
        int ret = -1;

        *out = NULL;
        if (home_path(home, state_dir(kind), dir, sizeof(dir), err, errlen) ==
            -1)
                return -1;
        if ((arr = json_array()) == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        if ((d = opendir(dir)) == NULL) {
                if (errno == ENOENT) {
                        *out = arr;
                        return 0;
                }
                snprintf(err, errlen, "%s: %s", dir, strerror(errno));
                goto done;
        }
        while ((de = readdir(d)) != NULL) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len < 6 ||
                    strcmp(de->d_name + len - 5, ".json") != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (state_load_path(path, &rec, err, errlen) == -1)
                        goto done;
                if (rec == NULL)
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 32;
                        json_t **p = realloc(recs, ncap * sizeof(*p));

                        if (p == NULL) {
                                json_decref(rec);
                                snprintf(err, errlen, "out of memory");
                                goto done;
                        }
                        recs = p;
                        cap = ncap;
                }
                recs[n++] = rec;
        }
        if (n > 0)
                qsort(recs, n, sizeof(*recs), state_cmp);
        for (size_t i = 0; i < n; i++) {
                if (json_array_append(arr, recs[i]) == -1) {
                        snprintf(err, errlen, "out of memory");
                        goto done;
                }
        }
        *out = arr;
        arr = NULL;
        ret = 0;
done:
        for (size_t i = 0; i < n; i++)
                json_decref(recs[i]);
        free(recs);
        json_decref(arr);
        if (d != NULL)
                closedir(d);
        return ret;
}

int state_download_active(const char *home, const char *file_id, json_t **rec,
                          char *err, size_t errlen)
{
        json_t *all = NULL, *r;
        size_t i;

        *rec = NULL;
        if (state_list(home, STATE_DOWNLOAD, &all, err, errlen) == -1)
                return -1;
        /* Newest first. */
        for (i = json_array_size(all); i > 0; i--) {
                r = json_array_get(all, i - 1);
                if (strcmp(state_str(r, "file_id") ? state_str(r, "file_id")
                                                   : "",
                           file_id) == 0 &&
                    strcmp(state_str(r, "state") ? state_str(r, "state") : "",
                           STATE_IN_PROGRESS) == 0) {
                        *rec = json_incref(r);
                        break;
                }
        }
        json_decref(all);
        return 0;
}
