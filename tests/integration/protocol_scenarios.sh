#!/usr/bin/env bash
# protocol_scenarios.sh BUILD_DIR PROTOCOL_TEST: bring up a stack of its
# own (temporary run directory, free ports), run every protocol scenario
# against it, then restart the daemon with a short nonce_ttl
# (TDS_NONCE_TTL) and run nonce-expired, and tear everything down whatever
# happens.
set -euo pipefail
build=$(cd "$1" && pwd)
ptest=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run=$(mktemp -d /tmp/tds-proto-test.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
stack=$root/scripts/tds-stack
short_ttl=4

. "$(dirname "${BASH_SOURCE[0]}")/protocol_common.sh"

"$stack" up > "$run/up.log" 2>&1 || { cat "$run/up.log" >&2; fail "stack up"; }
eval "$("$stack" env)"
export TDS_BOOTSTRAP TDS_STORE TDS_DB_ADMIN_CNF TDS_RUN_DIR
wait_assigned

status=0
"$ptest" all || status=1

# nonce_expired needs a daemon whose nonces expire within the test.
stop_ttpd
TDS_NONCE_TTL=$short_ttl "$stack" up > "$run/up2.log" 2>&1 || { cat "$run/up2.log" >&2; fail "stack up with TDS_NONCE_TTL"; }
wait_assigned

# A fresh daemon whose first batch holds only a redelivery applied before
# (its offset below the stored one) must skip it and go on: it once failed
# that batch as "out of memory" for ever, having nothing to write.  Make
# partition 0's stored offset claim one more message than was applied,
# then send that message, then another: the first is skipped, the second
# applied (the stored offset moves past both).
sql() { mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -e "$1" tds; }
for ((i = 0; i < 150; i++)); do
	grep -q 'partition 0: continuing at offset' "$TDS_RUN_DIR/ttp/ttpd.log" && break
	sleep 0.2
done
next=$(sql "SELECT next_offset FROM consumer_offsets WHERE topic = 'tds.requests' AND partition_id = 0")
if [ -z "$next" ]; then
	echo "not ok - skip-first-batch: no stored offset for partition 0 after the scenarios"
	status=1
else
	sql "UPDATE consumer_offsets SET next_offset = next_offset + 1 WHERE topic = 'tds.requests' AND partition_id = 0"
	printf 'skip-probe-1' | kcat -P -b "$TDS_BOOTSTRAP" -t tds.requests -p 0 -k skip-probe
	sleep 2 # its own batch
	printf 'skip-probe-2' | kcat -P -b "$TDS_BOOTSTRAP" -t tds.requests -p 0 -k skip-probe
	for ((i = 0; i < 100; i++)); do
		[ "$(sql "SELECT next_offset FROM consumer_offsets WHERE topic = 'tds.requests' AND partition_id = 0")" -ge $((next + 2)) ] && break
		sleep 0.2
	done
	got=$(sql "SELECT next_offset FROM consumer_offsets WHERE topic = 'tds.requests' AND partition_id = 0")
	if [ "$got" -ge $((next + 2)) ] &&
		grep -q "partition 0 offset $next was applied before; continuing at $((next + 1))" "$TDS_RUN_DIR/ttp/ttpd.log"; then
		echo "ok - skip-first-batch: a fresh daemon skipped offset $next, applied $((next + 1))"
	else
		echo "not ok - skip-first-batch: stored offset $got 20 s later, expected $((next + 2)); the daemon's log:"
		tail -n 5 "$TDS_RUN_DIR/ttp/ttpd.log"
		status=1
	fi
fi

if grep -Eq "^nonce_ttl[[:space:]]+$short_ttl[[:space:]]*$" "$TDS_TTPD_CONF"; then
	TDS_TEST_SHORT_TTL=$short_ttl "$ptest" nonce-expired || status=1
else
	echo "not ok - nonce-expired: tds-stack did not write 'nonce_ttl $short_ttl' for TDS_NONCE_TTL=$short_ttl into $TDS_TTPD_CONF"
	status=1
fi

# Every message the TTP emitted during the scenarios, replies and dead
# letters alike, must agree with schemas/.
# client-self-check publishes forged replies itself, all to users named
# self-*: those are not the TTP's and are left out.
for topic in tds.replies tds.dead-letter; do
	kcat -C -b "$TDS_BOOTSTRAP" -t "$topic" -o beginning -e -q -f '%s\n' \
		> "$run/all-$topic.jsonl" || fail "kcat could not read $topic"
	grep -v '"user":"self-' "$run/all-$topic.jsonl" > "$run/emitted-$topic.jsonl" || true
done
emitted=$(cat "$run"/emitted-*.jsonl | wc -l)
[ "$emitted" -ge 300 ] || fail "only $emitted messages emitted: the scenarios did not run?"
if /usr/bin/python3 "$root/tests/tools/validate_messages.py" "$root/schemas" \
	"$run"/emitted-*.jsonl; then
	echo "ok - all $emitted emitted messages validate against schemas/"
else
	echo "not ok - emitted messages that do not validate against schemas/"
	status=1
fi

# A sanitizer build of the daemon writes its reports (errors, leaks at
# exit) to ttp/sanitizer.*: a clean shutdown must leave none.
"$stack" down > /dev/null 2>&1 || true
if ls "$run"/ttp/sanitizer.* > /dev/null 2>&1; then
	echo "not ok - the daemon's sanitizer reported:"
	head -n 60 "$run"/ttp/sanitizer.*
	status=1
else
	echo "ok - no sanitizer report from the daemon"
fi

[ $status -eq 0 ] || logs
exit $status
