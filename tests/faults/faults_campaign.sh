#!/usr/bin/env bash
# faults_campaign.sh BUILD_DIR [fault_campaign options...]: the seeded
# fault campaign on a private stack (docs/testing.md, "The fault
# campaign").  Brings up a stack in a fresh run directory, runs
# BUILD_DIR/tests/faults/fault_campaign against it with the options given
# (--seed N replays a run, --soak runs longer), stops the stack whatever
# happens.  The run directory is removed at the end unless
# TDS_FAULTS_KEEP=1 (its faults/injector.log, ttp/ttpd.log and
# mariadb/mariadb.log tell the story of a failure); TDS_FAULTS_RUN_DIR
# chooses it (it must not exist yet, or be empty).
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
if [ $status -ne 0 ]; then
	echo "--- the last lines of the daemon's and the injector's logs" >&2
	tail -n 40 "$run/ttp/ttpd.log" "$run/faults/injector.log" >&2 2>/dev/null || true
fi
exit $status
