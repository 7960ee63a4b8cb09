/*
 * tcp_forward: a loopback TCP forwarder.
 *
 * librdkafka 2.0.2's mock brokers bind 127.0.0.1 on an ephemeral port and
 * offer no API for a fixed one, so a fixed bootstrap address is a listener
 * of our own that splices every accepted connection to a mock broker.
 * Clients then learn the brokers' real (ephemeral, loopback) addresses
 * from metadata, so only bootstrap traffic must go through here.
 */
#ifndef TDS_TCP_FORWARD_H
#define TDS_TCP_FORWARD_H

#include <stddef.h>
#include <stdint.h>

struct tcp_forward;

/*
 * tcp_forward_new: listen on 127.0.0.1:`port` (1..65535) and forward each
 * connection, from a thread of its own, to the first of `targets` that
 * accepts it.  `targets` (borrowed) is a comma-separated list of IPv4
 * "a.b.c.d:port", at most 32; trying them in order lets the fixed port
 * survive a downed broker 1, as a bootstrap list would.  Returns NULL
 * with a message in `err` when a target does not parse or the port
 * cannot be bound (for instance it is in use).  Caller frees with
 * tcp_forward_free().
 */
struct tcp_forward *tcp_forward_new(uint16_t port, const char *targets,
                                    char *err, size_t errlen);

/*
 * tcp_forward_failed: 1 if the forwarding thread stopped on an error it
 * cannot recover from (the message is copied to `err`), else 0.  Safe to
 * call from another thread while the forwarder runs.
 */
int tcp_forward_failed(struct tcp_forward *fwd, char *err, size_t errlen);

/* tcp_forward_free: stop the thread, close every socket.  Accepts NULL. */
void tcp_forward_free(struct tcp_forward *fwd);

#endif
