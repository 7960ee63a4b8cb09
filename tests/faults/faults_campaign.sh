#!/usr/bin/env bash
# faults_campaign.sh BUILD_DIR [fault_campaign options...]: the seeded
# fault campaign on a private stack (docs/testing.md, "The fault
# campaign").  Brings up a stack in a fresh run directory, runs
# BUILD_DIR/tests/faults/fault_campaign against it with the options given
# (--seed N replays a run, --soak runs longer), stops the stack whatever
# happens.  The run directory is removed at the end unless
# TDS_FAULTS_KEEP=1 (its faults/injector.log, ttp/ttpd.log and
# mariadb/mariadb.log tell the story of a failure); TDS_FAULTS_RUN_DIR
# chooses it (it must not exist yet, or be empty).  With --daemons N the
# stack runs N daemons in one consumer group (TDS_TTPD_COUNT=N).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [fault_campaign options]" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
campaign=$build/tests/faults/fault_campaign
[ -x "$campaign" ] || { echo "$campaign is missing: build first" >&2; exit 2; }
if [ -n "${TDS_FAULTS_RUN_DIR:-}" ]; then
	run=$TDS_FAULTS_RUN_DIR
	mkdir -p "$run"
	[ -z "$(ls -A "$run")" ] || { echo "$run is not empty" >&2; exit 2; }
else
	run=$(mktemp -d /tmp/tds-faults.XXXXXX)
fi
run=$(cd "$run" && pwd)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
# --daemons N (passed on to the campaign): as many daemons on the stack.
daemons=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	--daemons) daemons=${args[i + 1]:-} ;;
	--daemons=*) daemons=${args[i]#--daemons=} ;;
	esac
done
[[ $daemons =~ ^[1-9]$ ]] || { echo "--daemons $daemons: expected 1 to 9" >&2; exit 2; }
export TDS_TTPD_COUNT=$daemons
# A SIGKILLed daemon's successor gets its partitions about two session
# timeouts later (docs/local-stack.md): 3 s instead of the stack's 6 s
# halves the cost of the campaign's twenty-odd kills.
export TDS_KAFKA_SESSION_TIMEOUT_MS=${TDS_KAFKA_SESSION_TIMEOUT_MS:-3000}
unset TDS_TEST_CRASH_POINT
stack=$root/scripts/tds-stack

# shellcheck source=../integration/protocol_common.sh
. "$root/tests/integration/protocol_common.sh"
if [ "${TDS_FAULTS_KEEP:-}" = 1 ]; then
	# protocol_common.sh's cleanup, without removing the run directory.
	cleanup() {
		"$stack" down > /dev/null 2>&1 || true
		echo "run directory kept: $run"
	}
fi

"$stack" up > "$run/up.log" 2>&1 || { cat "$run/up.log" >&2; fail "stack up"; }
eval "$("$stack" env)"
export TDS_BOOTSTRAP TDS_STORE TDS_DB_ADMIN_CNF TDS_TTP_PUBLIC_KEY \
	TDS_BROKER_CONTROL TDS_RUN_DIR
wait_assigned

status=0
"$campaign" --stack "$stack" --broker-ctl "$root/broker/tds-broker-ctl" "$@" ||
	status=$?

# The evidence log after the faults: one leaf per evidence event that
# committed (no leaf for an effect rolled back, none lost with a killed
# COMMIT), and the whole log still what the TTP signed.
if [ $status -eq 0 ]; then
	q() { mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -B tds -e "$1"; }
	export TDS_DB_AUDITOR_CNF
	exchanges=$(q "SELECT COUNT(*) FROM downloads_completed")
	ex_leaves=$(q "SELECT COUNT(*) FROM log_leaves WHERE event = 'exchange'")
	aborts=$(q "SELECT COUNT(*) FROM aborts")
	ab_leaves=$(q "SELECT COUNT(*) FROM log_leaves WHERE event = 'abort'")
	uploads=$(q "SELECT (SELECT COUNT(*) FROM uploads_completed) +
		(SELECT COUNT(*) FROM aborts WHERE outcome = 2)")
	up_leaves=$(q "SELECT COUNT(*) FROM log_leaves WHERE event = 'upload'")
	if [ "$exchanges" = "$ex_leaves" ] && [ "$aborts" = "$ab_leaves" ] &&
		[ "$uploads" = "$up_leaves" ]; then
		echo "ok - evidence log: $ex_leaves exchange, $up_leaves upload and $ab_leaves abort leaves, one per committed event"
	else
		echo "not ok - evidence log: exchanges $exchanges / leaves $ex_leaves, uploads $uploads / leaves $up_leaves, aborts $aborts / leaves $ab_leaves"
		status=1
	fi
	if "$build/client/tds" audit --defaults-file "$TDS_DB_AUDITOR_CNF" \
		log-recompute --ttp-key "$TDS_TTP_PUBLIC_KEY" > "$run/recompute.out" 2>&1; then
		echo "ok - evidence log recomputed from the database: $(grep -m1 '^leaves' "$run/recompute.out")"
	else
		echo "not ok - tds audit log-recompute after the faults:"
		cat "$run/recompute.out"
		status=1
	fi
fi
# A sanitizer build of the daemon (or the broker) writes its reports to
# the run directory: there must be none, whatever the faults did.
"$stack" down > /dev/null 2>&1 || true
if ls "$run"/ttp/sanitizer*.* "$run"/broker/sanitizer.* > /dev/null 2>&1; then
	echo "not ok - sanitizer reports:"
	head -n 60 "$run"/ttp/sanitizer*.* "$run"/broker/sanitizer.* 2>/dev/null
	status=1
fi
if [ $status -ne 0 ]; then
	echo "--- the last lines of the daemon's and the injector's logs" >&2
	tail -n 40 "$run"/ttp/ttpd*.log "$run/faults/injector.log" >&2 2>/dev/null || true
fi
exit $status
