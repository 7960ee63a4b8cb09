#!/usr/bin/env bash
# badinput.sh BUILD_DIR BADINPUT CASES_DIR [CASE...]: bring up a stack of
# its own (temporary run directory, free ports), run the bad-input corpus
# against it, and tear everything down whatever happens.  A sanitizer
# build of the daemon must leave no report behind.
set -euo pipefail
build=$(cd "$1" && pwd)
harness=$2
cases=$3
shift 3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run=$(mktemp -d /tmp/tds-badinput.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
stack=$root/scripts/tds-stack

. "$root/tests/integration/protocol_common.sh"

"$stack" up > "$run/up.log" 2>&1 || { cat "$run/up.log" >&2; fail "stack up"; }
eval "$("$stack" env)"
export TDS_BOOTSTRAP TDS_STORE TDS_DB_ADMIN_CNF TDS_RUN_DIR
wait_assigned

status=0
"$harness" "$cases" "$@" || status=1

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
