#!/usr/bin/env bash
# smoke.sh BUILD_DIR TDS_BENCH: bench.smoke.  A 5-second closed loop with
# concurrency 4 on a stack of its own (temporary run directory, free
# ports): exchanges must complete, with no error, and the JSON must be
# well formed with every figure (bench/check_result.py).  No timing
# threshold: speed is reported, never asserted.
set -euo pipefail
build=$(cd "$1" && pwd)
bench=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run=$(mktemp -d /tmp/tds-bench-smoke.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
stack=$root/scripts/tds-stack

. "$root/tests/integration/protocol_common.sh"

"$stack" up > "$run/up.log" 2>&1 || { cat "$run/up.log" >&2; fail "stack up"; }
eval "$("$stack" env)"
export TDS_BOOTSTRAP TDS_STORE TDS_TTP_PUBLIC_KEY
wait_assigned

status=0
"$bench" --mode closed --concurrency 4 --duration 5 --warmup 1 \
	--users 8 --files 16 --calib-seconds 0.2 --timeout 30 \
	--ttpd-pid "$(ttpd_pid)" --json "$run/result.json" \
	--plot-data "$run/latency.dat" || status=$?
[ "$status" -eq 0 ] || fail "tds-bench exited $status"
/usr/bin/python3 "$root/bench/check_result.py" "$run/result.json" --progress ||
	fail "the result is incomplete"
grep -q '^[0-9]' "$run/latency.dat" || fail "no plot data"
echo "ok - bench.smoke"
