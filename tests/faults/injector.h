/*
 * injector: performs the schedule's faults on the running stack and
 * watches that nothing dies without one.
 *
 * Process faults go through `tds-stack kill|start PART` (run as child
 * processes, never waited for in the campaign's loop, so the parties keep
 * going while the daemon restarts), broker faults through
 * `tds-broker-ctl FIFO ...`, client faults through the workload, and the
 * KILL CONNECTION of the daemon's session from a thread that watches
 * information_schema.PROCESSLIST for its COMMIT.  Every action is one
 * line of the run's story on stdout and in <run>/faults/injector.log.
 */
#ifndef FAULTS_INJECTOR_H
#define FAULTS_INJECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "campaign.h"
#include "schedule.h"

struct injector;

/* injector_new: ready to perform `s` (borrowed) on c's stack.  Caller
 * frees with injector_free. */
struct injector *injector_new(struct campaign *c, const struct schedule *s,
                              char *err, size_t errlen);
void injector_free(struct injector *inj);

/* injector_tick: fire the faults that are due, advance the running ones,
 * watch the daemon, the database and the broker. */
void injector_tick(struct injector *inj, int64_t now);

/* injector_done: every fault fired and finished. */
int injector_done(const struct injector *inj);

/* injector_faults_left: faults not fired yet. */
size_t injector_faults_left(const struct injector *inj);

/*
 * injector_settle: no more faults: wait for the running ones to end (at
 * most `timeout_s`), then make the stack whole (latency 0, pending request
 * errors cleared, brokers up, database and daemon running) and the
 * parties unstalled.  -1 with `err` if the stack cannot be made whole.
 */
int injector_settle(struct injector *inj, int timeout_s, char *err,
                    size_t errlen);

/* injector_running: a one-line description of what is in progress. */
void injector_running(const struct injector *inj, char *out, size_t outlen);

#endif
