/*
 * msgids: the msg_ids of a batch's requests, looked up in the database
 * together before the batch applies them (engine_batch_prefetch()), so
 * that the retry check of a new request, the usual case, needs no
 * statement of its own.
 *
 * The ids are read from the raw requests without parsing them
 * (msgids_hint()): a hint only.  The set holds facts about ids, whatever
 * message named them ("this msg_id was processed before the batch", or
 * "was not"), so a wrong or missing hint costs a statement, never a
 * wrong answer: the engine asks the database about any msg_id the set
 * does not hold.
 */
#ifndef TDS_MSGIDS_H
#define TDS_MSGIDS_H

#include <stddef.h>

struct msgids_entry {
        unsigned char id[16];
        int processed;
};

struct msgids {
        struct msgids_entry *v;
        size_t n, cap;
        int sealed; /* sorted, each id once: ready for look-ups */
};

/* Add `id` (not yet looked up).  -1 out of memory. */
int msgids_add(struct msgids *s, const unsigned char id[16]);

/* Sort and drop repeats: call after the last msgids_add(). */
void msgids_seal(struct msgids *s);

/* Note `id` as processed before: 0, or -1 if the set does not hold it. */
int msgids_mark(struct msgids *s, const unsigned char id[16]);

/* 1 processed before the batch, 0 not, -1 not in the (sealed) set. */
int msgids_state(const struct msgids *s, const unsigned char id[16]);

/* Forget every id (the memory stays for the next batch). */
void msgids_clear(struct msgids *s);
void msgids_fini(struct msgids *s);

/*
 * The msg_id the request `value` (`len` bytes, not NUL-terminated)
 * names: the first "msg_id" key followed by a string of 32 lowercase
 * hex digits.  0 and the 16 bytes in `out`, or -1 when there is none.
 */
int msgids_hint(const void *value, size_t len, unsigned char out[16]);

#endif
