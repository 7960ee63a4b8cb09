#!/usr/bin/env bash
# protocol_crash.sh BUILD_DIR PROTOCOL_TEST: fairness across daemon
# crashes.  For each test-only crash point of the daemon (setting
# test_crash_point, written by tds-stack from TDS_TEST_CRASH_POINT):
#   after-commit   step 6 committed, the relay has not published
#   after-publish  receipt and delivery published, not yet marked sent
#   mid-batch      part of the outbox batch published
# prepare an exchange up to its download.receipt with a healthy daemon
# (protocol_test exchange-prepare), restart the daemon with the crash
# point, send the receipt (exchange-send), check that the daemon killed
# itself, restart it without the crash point, and check (exchange-check)
# that A has exactly one receipt and B exactly one delivery (duplicates by
# msg_id dropped), one completed download, and nothing left unsent in the
# outbox.  The crash points after-publish and mid-batch fire at the first
# relay batch the daemon publishes, whatever it carries, so the daemon
# that carries one must have nothing to publish before step 6's batch:
# hence prepare first, then restart, then send.  (exchange-nowait does
# prepare and send in one run.)
set -euo pipefail
build=$(cd "$1" && pwd)
ptest=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run=$(mktemp -d /tmp/tds-proto-crash.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
stack=$root/scripts/tds-stack
pass=0

. "$(dirname "${BASH_SOURCE[0]}")/protocol_common.sh"
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }

start() { # [crash point]
	local log=$run/up-${1:-normal}-$((++starts)).log
	TDS_TEST_CRASH_POINT=${1:-} "$stack" up > "$log" 2>&1 ||
		{ cat "$log" >&2; fail "stack up${1:+ with TDS_TEST_CRASH_POINT=$1}"; }
	eval "$("$stack" env)"
	export TDS_BOOTSTRAP TDS_STORE TDS_DB_ADMIN_CNF TDS_RUN_DIR
	if [ -n "${1:-}" ]; then
		grep -Eq "^test_crash_point[[:space:]]+$1[[:space:]]*$" "$TDS_TTPD_CONF" ||
			fail "tds-stack did not write 'test_crash_point $1' into $TDS_TTPD_CONF"
	elif grep -Eq "^test_crash_point" "$TDS_TTPD_CONF"; then
		fail "the daemon was restarted with a crash point: $(grep test_crash_point "$TDS_TTPD_CONF")"
	fi
	wait_assigned
}
starts=0

# outbox_drained: no unsent outbox row, waiting up to 10 s.
outbox_drained() {
	local i n
	for ((i = 0; i < 50; i++)); do
		n=$(mariadb --defaults-file="$TDS_DB_ADMIN_CNF" tds -N -e 'SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL')
		[ "$n" = 0 ] && return 0
		sleep 0.2
	done
	return 1
}

start
for point in after-commit after-publish mid-batch; do
	rm -f "$run/protocol-last-exchange"
	"$ptest" exchange-prepare || fail "$point: exchange-prepare"
	fid=$(cat "$run/protocol-last-exchange")
	outbox_drained || fail "$point: the outbox still has unsent rows before the crash run"
	stop_ttpd
	start "$point"
	pid=$(ttpd_pid)
	"$ptest" exchange-send "$fid" || fail "$point: exchange-send"
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.2
	done
	alive "$pid" && fail "$point: the daemon (pid $pid) still runs 20 s after download.receipt: crash point not reached"
	ok "$point: the daemon died at the crash point (file $fid): $(grep -o "crash point.*" "$run/ttp/ttpd.log" | tail -n1)"

	start
	case $point in
	after-commit) dups=0 ;;  # nothing was published before the crash
	*) dups=1+ ;;            # something was, and is published again
	esac
	TDS_TEST_EXPECT_DUPS=$dups "$ptest" exchange-check "$fid" || fail "$point: exchange-check $fid"
	ok "$point: after restart exactly one receipt and one delivery, outbox drained"
done

# A freshly started daemon whose first batch writes no row: the last
# exchange's download.receipt sent again (the same bytes, so the same
# msg_id), a retry whose replies are re-published and nothing else.  Its
# batch once failed as "out of memory" for ever in a daemon that had
# never written a row (found by the two-daemon fault campaign).
stop_ttpd
start
receipt_id=$(grep '^receipt=' "$run/protocol-exchange-$fid.state" | grep -o '"msg_id":"[0-9a-f]*"' | cut -d'"' -f4)
[ ${#receipt_id} = 32 ] || fail "no msg_id in the receipt of $fid"
db() { mariadb --defaults-file="$TDS_DB_ADMIN_CNF" tds -N -B -e "$1"; }
since=$(db "SELECT UTC_TIMESTAMP(6)")
"$ptest" exchange-send "$fid" || fail "retry as first batch: exchange-send"
for ((i = 0; i < 50; i++)); do
	again=$(db "SELECT COUNT(*) FROM outbox WHERE request_msg_id = UNHEX('$receipt_id') AND sent_at > '$since'")
	[ "$again" = 2 ] && break
	sleep 0.2
done
[ "$again" = 2 ] || fail "retry as a restarted daemon's first batch: receipt and delivery not published again within 10 s ($again); $(grep 'was not applied' "$run/ttp/ttpd.log" | tail -n1)"
ok "a restarted daemon's first batch, a retry that writes no row: its replies published again"

echo "$pass passed, 0 failed"
