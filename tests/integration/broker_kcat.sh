#!/usr/bin/env bash
# broker_kcat.sh TDS_BROKER: tds-broker answers any Kafka client.
#
# Asserts: usage errors exit 2 and --help exits 0; with default options
# and with -b 3 -P 7 -t PREFIX, kcat -L lists the three topics with the
# right partition count, 100 keyed messages produced with kcat come back
# exactly, and SIGTERM stops the broker with status 0 and removes its
# address file.
set -euo pipefail

BROKER=${1:-}
# shellcheck source-path=SCRIPTDIR source=broker_common.sh
source "$(dirname "$0")/broker_common.sh"

# Usage errors: exit 2, nothing started.
for bad in "-b 0" "-b 33" "-P 0" "-p 65536" "-p -1" "-p 12x" "-t bad/prefix" \
	"-t ''" "-x" "extra"; do
	rc=0
	eval "\"\$BROKER\" $bad" >/dev/null 2>&1 || rc=$?
	((rc == 2)) || broker_fail "tds-broker $bad exited $rc, expected 2"
done
rc=0
help=$("$BROKER" --help) || rc=$?
((rc == 0)) || broker_fail "tds-broker --help exited $rc"
grep -q 'LOCAL USE ONLY' <<<"$help" ||
	broker_fail "--help does not warn that the mock is for local use"

broker_start
broker_check_topics "$BROKER_ADDR" tds 4
broker_round_trip "$BROKER_ADDR" tds.requests 100
broker_round_trip "$BROKER_ADDR" tds.replies 100
broker_stop

broker_start -b 3 -P 7 -t tds-test
[[ $BROKER_ADDR == 127.0.0.1:*,127.0.0.1:*,127.0.0.1:* ]] ||
	broker_fail "expected three loopback brokers, got $BROKER_ADDR"
[[ $(kcat -L -b "$BROKER_ADDR" -m 5 | grep -c '^  broker ') -eq 3 ]] ||
	broker_fail "metadata does not list 3 brokers"
broker_check_topics "$BROKER_ADDR" tds-test 7
broker_round_trip "$BROKER_ADDR" tds-test.dead-letter 100
broker_stop

broker_log "PASS"
