/*
 * bundle: the dispute corpus (tests/disputes/corpus.h), checked in
 * process with bundle_verify (so that ASan and UBSan see every path of
 * the verdict); strict reading of heads and bundles; heads alone; the
 * consistency of two heads; the leaf rebuilt from evidence; and, with
 * the schemas directory as argument, schemas/bundle.schema.json and
 * schemas/tree-head.schema.json against the same files (Debian's
 * python3-jsonschema; skipped with a message when it is missing).
 *
 * Usage: test_bundle [SCHEMAS_DIR]
 */
#include "bundle.h"
#include "corpus.h"
#include "evidence.h"
#include "hex.h"
#include "unit.h"

#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/tds-unit-bundle.XXXXXX";
static struct corpus corpus;
static struct bundle corpus_b;

static void trust_of(unsigned bits, struct bundle_trust *t)
{
        const char *pem;

        memset(t, 0, sizeof(*t));
        for (unsigned bit = 1; bit <= CORPUS_TRUST_ROGUE_CA; bit <<= 1) {
                if (!(bits & bit) ||
                    (pem = corpus_trust_pem(&corpus, bit)) == NULL)
                        continue;
                if (bit == CORPUS_TRUST_TTP || bit == CORPUS_TRUST_OTHER_TTP) {
                        t->ttp_key_pem = pem;
                        t->ttp_key_pem_len = strlen(pem);
                } else {
                        t->tsa_root_pem = pem;
                        t->tsa_root_pem_len = strlen(pem);
                }
        }
}

static void write_doc(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        REQUIRE(f != NULL);
        REQUIRE(fputs(text, f) != EOF);
        REQUIRE(fclose(f) == 0);
}

/* Every case of the corpus gives its expected verdict. */
static void test_corpus(void)
{
        char doc_m[PATH_MAX], doc_n[PATH_MAX], why[4096];
        size_t valid = 0, invalid = 0;

        snprintf(doc_m, sizeof(doc_m), "%s/doc-m", tmpdir);
        snprintf(doc_n, sizeof(doc_n), "%s/doc-n", tmpdir);
        write_doc(doc_m, corpus.doc_m);
        write_doc(doc_n, corpus.doc_n);
        for (size_t i = 0; i < corpus.n; i++) {
                const struct corpus_case *k = &corpus.cases[i];
                struct bundle_verdict v;
                struct bundle_trust t;
                int rc, want_valid = strcmp(k->expected, "valid") == 0;
                const char *doc = k->doc == CORPUS_DOC_M   ? doc_m
                                  : k->doc == CORPUS_DOC_N ? doc_n
                                                           : NULL;

                trust_of(k->trust, &t);
                /* Only the malformed ones fail to read. */
                CHECK_MSG(
                    (bundle_from_json(k->bundle, &corpus_b, why, sizeof(why)) ==
                     -1) == (strncmp(k->expected, "malformed ", 10) == 0),
                    k->name);
                why[0] = '\0';
                rc = bundle_verify(k->bundle, &t, doc, &v, why, sizeof(why));
                printf("%s: %s\n", k->name, rc == 0 ? "VALID" : why);
                if (want_valid) {
                        CHECK_MSG(rc == 0, k->name);
                        if (rc != 0)
                                fprintf(stderr, "  %s: %s\n", k->name, why);
                        CHECK(v.stamped_at > 0);
                        CHECK(v.leaf_index < v.tree_size);
                        CHECK(v.ttp_key_pinned ==
                              ((k->trust & CORPUS_TRUST_TTP) != 0));
                        valid++;
                } else {
                        const char *sub = strchr(k->expected, ' ') + 1;

                        CHECK_MSG(rc == -1 && strstr(why, sub) != NULL,
                                  k->name);
                        if (rc != -1 || strstr(why, sub) == NULL)
                                fprintf(stderr,
                                        "  %s: want \"%s\"\n  got  \"%s\"\n",
                                        k->name, sub,
                                        rc == 0 ? "(valid)" : why);
                        invalid++;
                }
        }
        printf("corpus: %zu cases, %zu valid, %zu invalid\n", corpus.n, valid,
               invalid);
        CHECK(corpus.n >= 30);
        CHECK(valid >= 6);
}

/* Reading heads: strict, and the JSON round trip keeps every field. */
static void test_head_json(void)
{
        struct bundle_head h, h2;
        json_t *o, *back;
        char why[1024];

        CHECK_MSG(
            bundle_head_from_json(corpus.head_new, &h, why, sizeof(why)) == 0,
            why);
        CHECK(h.tree_size == 7);
        CHECK(h.tsa_chain_len == 2);
        back = bundle_head_to_json(&h, 1, why, sizeof(why));
        CHECK(back != NULL && json_equal(back, corpus.head_new));
        CHECK(bundle_head_from_json(back, &h2, why, sizeof(why)) == 0);
        json_decref(back);
        back = bundle_head_to_json(&h, 0, why, sizeof(why));
        CHECK(back != NULL && json_object_get(back, "tds_tree_head") == NULL);
        json_decref(back);

        /* Each of these is refused, with the field named. */
        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "extra", json_true());
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "unknown field \"extra\"") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_del(o, "ttp_sig");
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "missing field \"ttp_sig\"") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "tree_size", json_string("7"));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "\"tree_size\": must be an integer") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "tree_size", json_integer(-1));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "tds_tree_head", json_integer(2));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "tds_tree_head") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "root_hash",
                            json_string("ABCDEF0000000000000000000000000000000"
                                        "000000000000000000000000000"));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "\"root_hash\"") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "time", json_string("2026-02-30T00:00:00Z"));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "\"time\"") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "ttp_sig", json_stringn("MEUC\0AAA", 8));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "NUL") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "timestamp_token", json_string("AAA"));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "\"timestamp_token\"") != NULL);
        json_decref(o);

        o = json_deep_copy(corpus.head_new);
        json_array_append_new(json_object_get(o, "tsa_chain"),
                              json_string("AAAA"));
        json_array_append_new(json_object_get(o, "tsa_chain"),
                              json_string("AAAA"));
        json_array_append_new(json_object_get(o, "tsa_chain"),
                              json_string("AAAA"));
        CHECK(bundle_head_from_json(o, &h, why, sizeof(why)) == -1 &&
              strstr(why, "tsa_chain") != NULL);
        json_decref(o);

        CHECK(bundle_head_from_json(json_array_get(corpus.consistency, 0), &h,
                                    why, sizeof(why)) == -1);
}

/* A head alone, pinned or not; and the pins that must refuse it. */
static void test_head_verify(void)
{
        struct bundle_verdict v;
        struct bundle_trust t;
        struct bundle_head h;
        char why[4096];
        json_t *o;

        REQUIRE(bundle_head_from_json(corpus.head_new, &h, why, sizeof(why)) ==
                0);
        trust_of(CORPUS_TRUST_TTP, &t);
        CHECK_MSG(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == 0, why);
        CHECK(v.tree_size == 7 && v.ttp_key_pinned && v.stamped_at > 0);
        CHECK_STR_EQ(v.ttp_key_id, h.log_id);

        /* Unpinned: the key comes from the chain's anchor. */
        CHECK_MSG(bundle_head_verify(&h, NULL, &v, why, sizeof(why)) == 0, why);
        CHECK(!v.ttp_key_pinned);

        /* Pinned by key id only. */
        memset(&t, 0, sizeof(t));
        t.ttp_key_id = h.log_id;
        CHECK_MSG(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == 0, why);
        CHECK(v.ttp_key_pinned);

        /* The anchor given explicitly. */
        trust_of(CORPUS_TRUST_TTP | CORPUS_TRUST_TSA_CA, &t);
        CHECK_MSG(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == 0, why);

        /* ... then the chain may be empty: the token carries the TSA's. */
        h.tsa_chain_len = 0;
        CHECK_MSG(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == 0, why);
        trust_of(CORPUS_TRUST_TTP, &t);
        CHECK(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == -1 &&
              strstr(why, "tsa_chain") != NULL);
        h.tsa_chain_len = 2;

        trust_of(CORPUS_TRUST_OTHER_TTP, &t);
        CHECK(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == -1 &&
              strstr(why, "signed by another TTP than the pinned one") != NULL);

        trust_of(CORPUS_TRUST_TTP | CORPUS_TRUST_ROGUE_CA, &t);
        CHECK(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == -1 &&
              strncmp(why, "timestamp token:", 16) == 0);

        memset(&t, 0, sizeof(t));
        t.ttp_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n";
        t.ttp_key_pem_len = strlen(t.ttp_key_pem);
        CHECK(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == -1 &&
              strncmp(why, "trust: TTP key", 14) == 0);
        memset(&t, 0, sizeof(t));
        t.ttp_key_id = "ABC";
        CHECK(bundle_head_verify(&h, &t, &v, why, sizeof(why)) == -1 &&
              strncmp(why, "trust:", 6) == 0);

        /* A head whose size is altered no longer verifies. */
        o = json_deep_copy(corpus.head_new);
        json_object_set_new(o, "tree_size", json_integer(6));
        REQUIRE(bundle_head_from_json(o, &h, why, sizeof(why)) == 0);
        CHECK(bundle_head_verify(&h, NULL, &v, why, sizeof(why)) == -1 &&
              strstr(why, "ttp_sig does not verify") != NULL);
        json_decref(o);
}

static void test_consistency(void)
{
        merkle_hash proof[MERKLE_MAX_PROOF];
        struct bundle_head old, new, fork;
        struct bundle_trust t;
        char why[4096];
        size_t len;

        trust_of(CORPUS_TRUST_TTP, &t);
        REQUIRE(bundle_head_from_json(corpus.head_old, &old, why,
                                      sizeof(why)) == 0);
        REQUIRE(bundle_head_from_json(corpus.head_new, &new, why,
                                      sizeof(why)) == 0);
        REQUIRE(bundle_head_from_json(corpus.head_fork, &fork, why,
                                      sizeof(why)) == 0);
        REQUIRE(bundle_proof_from_json(corpus.consistency, "consistency proof",
                                       proof, &len, why, sizeof(why)) == 0);
        CHECK(len > 0);
        CHECK_MSG(bundle_heads_consistent(&old, &new, proof, len, &t, why,
                                          sizeof(why)) == 0,
                  why);
        /* The same head twice: equal sizes, equal roots, no proof. */
        CHECK_MSG(bundle_heads_consistent(&new, &new, NULL, 0, &t, why,
                                          sizeof(why)) == 0,
                  why);
        /* A rewritten history: the proof cannot reach its root. */
        CHECK(bundle_heads_consistent(&old, &fork, proof, len, &t, why,
                                      sizeof(why)) == -1 &&
              strstr(why, "consistency proof:") != NULL &&
              strstr(why, "rewritten") != NULL);
        /* Two heads of 7 leaves with two roots. */
        CHECK(bundle_heads_consistent(&new, &fork, NULL, 0, &t, why,
                                      sizeof(why)) == -1 &&
              strstr(why, "different roots") != NULL);
        CHECK(bundle_heads_consistent(&new, &old, proof, len, &t, why,
                                      sizeof(why)) == -1 &&
              strstr(why, "more leaves") != NULL);
        CHECK(bundle_heads_consistent(&old, &new, proof, len - 1, &t, why,
                                      sizeof(why)) == -1);
        proof[0][0] ^= 1;
        CHECK(bundle_heads_consistent(&old, &new, proof, len, &t, why,
                                      sizeof(why)) == -1);
        /* A head that does not verify is named. */
        old.tree_size = 2;
        CHECK(bundle_heads_consistent(&old, &new, proof, len, &t, why,
                                      sizeof(why)) == -1 &&
              strncmp(why, "old head: tree head: ttp_sig", 28) == 0);
}

/* The leaf: the daemon's field order, keyed by key ids, ttp_sig hashed. */
static void test_leaf(void)
{
        json_t *b = corpus.cases[1].bundle; /* valid-exchange */
        char *leaf = NULL, why[1024];
        merkle_hash h, h2;
        struct evidence ev;
        size_t len;

        REQUIRE(strstr(corpus.cases[1].name, "valid-exchange") != NULL);
        REQUIRE(evidence_from_json(json_object_get(b, "evidence"), &ev, why,
                                   sizeof(why)) == 0);
        CHECK_MSG(bundle_leaf(&ev, &leaf, &len, h, why, sizeof(why)) == 0, why);
        REQUIRE(leaf != NULL);
        {
                static const char head[] =
                    "tds/1 leaf\nevent=exchange\nfile_id=contract-2026.pdf\n"
                    "uploader=alice\nuploader_key_id=";

                CHECK(strncmp(leaf, head, sizeof(head) - 1) == 0);
        }
        CHECK(strstr(leaf, "\nabort=\ntime=") != NULL);
        CHECK(strstr(leaf, "\nttp_sig_sha256=") != NULL);
        CHECK(leaf[len - 1] == '\n' && strlen(leaf) == len);
        merkle_leaf_hash(leaf, len, h2);
        CHECK(memcmp(h, h2, sizeof(h)) == 0);
        free(leaf);
        CHECK(bundle_leaf(&ev, NULL, NULL, h2, why, sizeof(why)) == 0 &&
              memcmp(h, h2, sizeof(h)) == 0);

        /* Form errors of the bundle itself. */
        b = json_array();
        CHECK(bundle_verify(b, NULL, NULL, NULL, why, sizeof(why)) == -1 &&
              strstr(why, "bundle: must be a JSON object") != NULL);
        json_decref(b);
        b = json_deep_copy(corpus.cases[1].bundle);
        json_object_set_new(b, "tds_bundle", json_integer(2));
        CHECK(bundle_verify(b, NULL, NULL, NULL, why, sizeof(why)) == -1 &&
              strstr(why, "tds_bundle") != NULL);
        json_object_set_new(b, "tds_bundle", json_integer(1));
        json_object_set_new(b, "leaf_index", json_real(5.0));
        CHECK(bundle_verify(b, NULL, NULL, NULL, why, sizeof(why)) == -1 &&
              strstr(why, "leaf_index") != NULL);
        json_object_set_new(b, "leaf_index", json_integer(5));
        json_array_set_new(json_object_get(b, "inclusion_proof"), 0,
                           json_string("00"));
        CHECK(bundle_verify(b, NULL, NULL, NULL, why, sizeof(why)) == -1 &&
              strstr(why, "inclusion proof: hash 0") != NULL);
        json_decref(b);
}

/* Files that the schemas must accept (ok-*) and refuse (bad-*). */
static const char schema_py[] =
    "import json, sys\n"
    "from jsonschema import Draft202012Validator\n"
    "schema = json.load(open(sys.argv[1]))\n"
    "Draft202012Validator.check_schema(schema)\n"
    "v = Draft202012Validator(schema)\n"
    "bad = 0\n"
    "for p in sys.argv[2:]:\n"
    "    errs = list(v.iter_errors(json.load(open(p))))\n"
    "    want_ok = p.rsplit('/', 1)[-1].startswith('ok-')\n"
    "    if bool(errs) == want_ok:\n"
    "        bad = 1\n"
    "        print('schema disagrees on %s: %s' % (p, errs[:1]))\n"
    "print('%d files checked against %s' % (len(sys.argv) - 2, "
    "sys.argv[1]))\n"
    "sys.exit(bad)\n";

static int run(char *const argv[])
{
        int status;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        REQUIRE(pid != -1);
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        REQUIRE(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void dump(json_t *obj, const char *name, char *path, size_t pathlen)
{
        snprintf(path, pathlen, "%s/%s", tmpdir, name);
        REQUIRE(json_dump_file(obj, path, JSON_INDENT(2)) == 0);
}

static void test_schemas(const char *dir)
{
        char *probe[] = {"/usr/bin/python3", "-c", "import jsonschema", NULL};
        static char paths[CORPUS_MAX + 8][PATH_MAX];
        char *argv[CORPUS_MAX + 16], schema[PATH_MAX], name[128];
        size_t np = 0;
        int argc;
        json_t *o;

        if (dir == NULL) {
                printf("schema check skipped: no schemas directory given\n");
                return;
        }
        if (access("/usr/bin/python3", X_OK) != 0 || run(probe) != 0) {
                printf("schema check SKIPPED: /usr/bin/python3 with "
                       "jsonschema is not available (apt-get install "
                       "python3-jsonschema)\n");
                return;
        }
        /* Bundles: every case but the form errors is well formed. */
        snprintf(schema, sizeof(schema), "%s/bundle.schema.json", dir);
        argc = 0;
        argv[argc++] = "/usr/bin/python3";
        argv[argc++] = "-c";
        argv[argc++] = (char *)schema_py;
        argv[argc++] = schema;
        for (size_t i = 0; i < corpus.n; i++) {
                snprintf(name, sizeof(name), "%s-%s.json",
                         corpus.cases[i].form_error ? "bad" : "ok",
                         corpus.cases[i].name);
                dump(corpus.cases[i].bundle, name, paths[np], PATH_MAX);
                argv[argc++] = paths[np++];
        }
        argv[argc] = NULL;
        CHECK_MSG(run(argv) == 0, "bundles against bundle.schema.json");

        /* Heads. */
        snprintf(schema, sizeof(schema), "%s/tree-head.schema.json", dir);
        argc = 4;
        argv[3] = schema;
        dump(corpus.head_old, "ok-head-3.json", paths[np], PATH_MAX);
        argv[argc++] = paths[np++];
        dump(corpus.head_new, "ok-head-7.json", paths[np], PATH_MAX);
        argv[argc++] = paths[np++];
        o = json_deep_copy(corpus.head_new);
        json_object_del(o, "tds_tree_head");
        dump(o, "bad-head-no-version.json", paths[np], PATH_MAX);
        argv[argc++] = paths[np++];
        json_object_set_new(o, "tds_tree_head", json_integer(1));
        json_object_set_new(o, "tree_size", json_integer(-1));
        dump(o, "bad-head-negative.json", paths[np], PATH_MAX);
        argv[argc++] = paths[np++];
        json_object_set_new(o, "tree_size", json_integer(7));
        json_object_set_new(o, "log_id", json_string("abc"));
        dump(o, "bad-head-log-id.json", paths[np], PATH_MAX);
        argv[argc++] = paths[np++];
        json_decref(o);
        argv[argc] = NULL;
        CHECK_MSG(run(argv) == 0, "heads against tree-head.schema.json");
}

static void cleanup(void)
{
        char *argv[] = {"/bin/rm", "-rf", tmpdir, NULL};

        run(argv);
}

int main(int argc, char **argv)
{
        REQUIRE(mkdtemp(tmpdir) != NULL);
        corpus_build(&corpus);
        test_corpus();
        test_head_json();
        test_head_verify();
        test_consistency();
        test_leaf();
        test_schemas(argc > 1 ? argv[1] : NULL);
        corpus_free(&corpus);
        cleanup();
        return unit_done("test_bundle");
}
