/*
 * make_corpus DIR: write the dispute corpus (corpus.h) under DIR, with
 * fresh keys: keys/, heads/ and one folder per case with bundle.json,
 * expected ("valid" or "invalid <substring of the reason>"), and doc and
 * trust when the case needs them.  Prints the number of cases.
 *
 * The committed corpus (tests/disputes/corpus) was written by this tool;
 * tests/disputes/run_corpus.sh checks it and a freshly made one.
 */
#include <stdio.h>

#include "corpus.h"

int main(int argc, char **argv)
{
        struct corpus c;

        if (argc != 2) {
                fprintf(stderr, "usage: make_corpus DIR\n");
                return 2;
        }
        corpus_build(&c);
        corpus_write(&c, argv[1]);
        printf("%zu cases written to %s\n", c.n, argv[1]);
        corpus_free(&c);
        return 0;
}
