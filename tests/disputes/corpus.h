/*
 * corpus: the dispute corpus of issue 5, built fully offline with fresh
 * keys.  Parties A (alice), B (bob) and C (carol), the TTP and its TSA
 * (tsa.h: the TTP's CA certificate and a TSA certificate it issues), a
 * second TTP with its own log, and a rogue CA with its own TSA.  The
 * evidence is made exactly as the daemon's messages yield it (the TBS
 * builders, evidence_to_json), the leaves as the daemon's log_leaf()
 * makes them (bundle_leaf), the trees with merkle.h, the heads signed by
 * the TTP key and time-stamped by tsa_stamp().  Then one bundle per case:
 * valid ones, and tampered ones (one field or trick each) with the
 * substring of the reason `tds verify` must give.
 *
 * Used by make_corpus (writes the cases as files for tds verify) and by
 * test_bundle (runs bundle_verify on them in-process, under ASan).
 * Setup failures are fatal (a message and exit 1): this is test code.
 */
#ifndef TDS_TESTS_CORPUS_H
#define TDS_TESTS_CORPUS_H

#include <stddef.h>

#include <jansson.h>

#define CORPUS_MAX 64

/* Trust a case is checked with (the options of its `trust` file). */
#define CORPUS_TRUST_TTP       0x1 /* --ttp-key keys/ttp.pem */
#define CORPUS_TRUST_TSA_CA    0x2 /* --tsa-ca keys/ttp-ca.pem */
#define CORPUS_TRUST_OTHER_TTP 0x4 /* --ttp-key keys/other-ttp.pem */
#define CORPUS_TRUST_ROGUE_CA  0x8 /* --tsa-ca keys/rogue-ca.pem */

enum corpus_doc { CORPUS_DOC_NONE, CORPUS_DOC_M, CORPUS_DOC_N };

struct corpus_case {
        char name[64]; /* "NN-what", the folder name */
        /*
         * "valid" (tds verify exits 0), "invalid <substring of the
         * reason>" (exit 4) or "malformed <substring>" (exit 1: the file
         * is not a well-formed bundle, as for evidence files).
         */
        char expected[256];
        json_t *bundle; /* owned */
        unsigned trust; /* CORPUS_TRUST_* */
        enum corpus_doc doc;
        int form_error; /* malformed: the schema refuses it too */
};

struct corpus {
        struct corpus_case cases[CORPUS_MAX];
        size_t n;
        /* PEM files for the trust options (owned). */
        char *ttp_pem, *other_ttp_pem, *ca_pem, *rogue_ca_pem;
        const char *doc_m, *doc_n; /* the document and another one */
        /*
         * Tree head files (with "tds_tree_head") of one log at 3 and 7
         * leaves, the consistency proof between them (a JSON array), and
         * a head of 7 leaves whose history differs from the 3 first.
         */
        json_t *head_old, *head_new, *head_fork, *consistency;
};

/* Build everything; fatal on failure.  corpus_free releases it. */
void corpus_build(struct corpus *c);
void corpus_free(struct corpus *c);

/*
 * Write the corpus under `dir` (created): keys/ (PEM), heads/ (JSON) and
 * one folder per case with bundle.json, expected, and doc / trust when
 * the case has them.  Fatal on failure.
 */
void corpus_write(const struct corpus *c, const char *dir);

/* The PEM text a trust bit names (borrowed), NULL for none. */
const char *corpus_trust_pem(const struct corpus *c, unsigned bit);

#endif
