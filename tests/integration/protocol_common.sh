# protocol_common.sh: sourced by protocol_scenarios.sh and
# protocol_crash.sh.  Expects `run` (the test's own run directory) and
# `stack` (scripts/tds-stack); provides logs, fail, the cleanup trap, and
# helpers to wait for and stop the daemon of that stack.

logs() { tail -n 30 "$run"/ttp/ttpd.log "$run"/broker/broker.log 2>/dev/null >&2 || true; }
fail() { echo "FAIL: $*" >&2; logs; exit 1; }

# Stop what this test started: the stack's own down, then, by pid, any
# part that outlived it.
cleanup() {
	local pids
	pids=$(cat "$run"/mariadb/mariadb.pid "$run"/broker/broker.pid "$run"/ttp/ttpd.pid 2>/dev/null || true)
	"$stack" down > /dev/null 2>&1 || true
	for pid in $pids; do
		# still ours: the pid runs with this run directory on its command line
		[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$run" &&
			kill -KILL "$pid" 2>/dev/null
	done
	rm -rf "$run"
}
trap cleanup EXIT

# wait_assigned: the daemon holds its partitions.  After a restart the
# broker keeps the old member until its session times out
# (kafka.session.timeout.ms in the stack's daemon config).
wait_assigned() {
	local i
	for ((i = 0; i < 450; i++)); do
		grep -Eq '"assigned_partitions":[1-9]' "$run/ttp/state.json" 2>/dev/null && return 0
		sleep 0.2
	done
	fail "the daemon got no partitions within 90 s: $(cat "$run/ttp/state.json" 2>/dev/null)"
}

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

ttpd_pid() { head -n1 "$run/ttp/ttpd.pid" 2>/dev/null || true; }

# stop_ttpd: SIGTERM the daemon, if it runs, and wait until it is gone.
stop_ttpd() {
	local pid i
	pid=$(ttpd_pid)
	[ -n "$pid" ] && alive "$pid" || return 0
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || return 0
		sleep 0.2
	done
	fail "the daemon (pid $pid) did not stop in 20 s"
}
