#!/usr/bin/env bash
# broker_fixed_port.sh TDS_BROKER: -p PORT serves the bootstrap address on
# a fixed loopback port through tds-broker's forwarder.
#
# Asserts: with -p on a free port the advertised address is exactly
# 127.0.0.1:PORT; kcat -L through it lists the three topics; a metadata
# response of ~150 KB (3 brokers, 3 x 1024 partitions, more than the
# forwarder's 64 KiB buffer) arrives byte-identical to the one fetched
# from broker 1 directly, also with 20 clients at once; 100 keyed messages
# round-trip with the fixed port as bootstrap; a second broker on the same
# port exits non-zero, says why and writes no address file; SIGTERM stops
# the broker with status 0 and removes its address file.
set -euo pipefail

BROKER=${1:-}
# shellcheck source-path=SCRIPTDIR source=broker_common.sh
source "$(dirname "$0")/broker_common.sh"

port=$(broker_free_port)
broker_start -p "$port" -b 3 -P 1024
[[ $BROKER_ADDR == "127.0.0.1:$port" ]] ||
	broker_fail "advertised $BROKER_ADDR, expected 127.0.0.1:$port"
broker_check_topics "$BROKER_ADDR" tds 1024

# Metadata through the forwarder versus straight from broker 1: only the
# header line naming the answering broker may differ.
meta_direct=$(kcat -L -b "$BROKER_ADDR" -m 5 |
	sed -n 's/^  broker 1 at \(.*\)$/\1/p')
[[ $meta_direct == 127.0.0.1:* ]] ||
	broker_fail "broker 1 missing from metadata"
kcat -L -b "$meta_direct" -m 5 | tail -n +2 >"$BROKER_DIR/meta.direct"
[[ $(wc -c <"$BROKER_DIR/meta.direct") -gt 100000 ]] ||
	broker_fail "metadata listing unexpectedly small"
for ((i = 0; i < 20; i++)); do
	kcat -L -b "$BROKER_ADDR" -m 10 | tail -n +2 >"$BROKER_DIR/meta.$i" &
done
wait_fail=0
for job in $(jobs -p); do
	[[ $job == "$BROKER_PID" ]] && continue
	wait "$job" || wait_fail=1
done
((wait_fail == 0)) || broker_fail "a concurrent kcat -L through $port failed"
for ((i = 0; i < 20; i++)); do
	cmp -s "$BROKER_DIR/meta.direct" "$BROKER_DIR/meta.$i" ||
		broker_fail "metadata via the forwarder (client $i) differs"
done
broker_log "20 concurrent metadata listings through $port match broker 1's"

broker_round_trip "$BROKER_ADDR" tds.requests 100

# The port is taken now: a second broker must refuse, not limp along.
rc=0
"$BROKER" -p "$port" -f "$BROKER_DIR/addr2" >"$BROKER_DIR/stdout2" \
	2>"$BROKER_DIR/stderr2" || rc=$?
((rc != 0)) || broker_fail "a second tds-broker on port $port exited 0"
grep -q "127.0.0.1:$port.*in use" "$BROKER_DIR/stderr2" ||
	broker_fail "no clear port-in-use message: $(<"$BROKER_DIR/stderr2")"
[[ ! -e $BROKER_DIR/addr2 && ! -s $BROKER_DIR/stdout2 ]] ||
	broker_fail "the refused broker still announced an address"
broker_log "second broker on $port refused: $(<"$BROKER_DIR/stderr2")"

broker_stop
broker_log "PASS"
