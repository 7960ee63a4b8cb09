#!/usr/bin/env bash
# stack_lifecycle.sh BUILD_DIR: the local stack comes up from nothing in a
# run directory of its own, every part is up and the schema is applied, a
# second up changes nothing, the daemon refuses a second instance, the
# auditor account cannot write, a crash leaves stale pid files that down
# cleans, and after down nothing of the stack is left running.
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run=$(mktemp -d /tmp/tds-stack-test.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
stack=$root/scripts/tds-stack
pass=0

fail() { echo "FAIL: $*" >&2; tail -n 20 "$run"/ttp/ttpd.log "$run"/broker/broker.log 2>/dev/null >&2 || true; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
cleanup() {
	"$stack" down > /dev/null 2>&1 || true
	pkill -KILL -f -- "$run" 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT

alive() { [ -s "$1" ] && kill -0 "$(head -n1 "$1")" 2>/dev/null; }

"$stack" up || fail "first up"
ok "stack up from nothing"

out=$("$stack" status) || fail "status after up: $out"
echo "$out"
for part in mariadb broker ttpd; do
	echo "$out" | grep -q "^$part  *up" || fail "$part not up"
done
ok "status: every part up"

eval "$("$stack" env)"
version=$(mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -e "SELECT MAX(version) FROM tds.schema_migrations")
[ "$version" = 2 ] || fail "schema version '$version'"
tables=$(mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'tds' AND table_type = 'BASE TABLE'")
[ "$tables" -ge 15 ] || fail "only $tables tables"
flush=$(mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -e "SELECT @@innodb_flush_log_at_trx_commit")
[ "$flush" = 1 ] || fail "innodb_flush_log_at_trx_commit=$flush"
ok "schema at version 2 with $tables tables, durable commits"

if mariadb --defaults-file="$TDS_DB_AUDITOR_CNF" -e "INSERT INTO users VALUES ('x', 'k', REPEAT('a', 32), NOW())" 2>/dev/null; then
	fail "auditor could write"
fi
mariadb --defaults-file="$TDS_DB_AUDITOR_CNF" -e "SELECT COUNT(*) FROM audit_exchanges" > /dev/null || fail "auditor cannot read its view"
ok "auditor reads its view and cannot write"

kcat -L -b "$TDS_BOOTSTRAP" -m 5 > "$run/meta.txt" || fail "kcat -L"
for t in tds.requests tds.replies tds.dead-letter; do
	grep -q "topic \"$t\" with 4 partitions" "$run/meta.txt" || fail "topic $t missing"
done
ok "broker serves the three topics to kcat"

for i in $(seq 1 50); do
	grep -q '"assigned_partitions":4' "$run/ttp/state.json" 2>/dev/null && break
	sleep 0.2
done
grep -q '"assigned_partitions":4' "$run/ttp/state.json" || fail "daemon has no partitions: $(cat "$run/ttp/state.json")"
ok "daemon joined its consumer group: $(cat "$run/ttp/state.json")"

pids_before=$(cat "$run"/mariadb/mariadb.pid "$run"/broker/broker.pid "$run"/ttp/ttpd.pid)
"$stack" up > "$run/up2.txt" || fail "second up"
grep -c "already running" "$run/up2.txt" | grep -qx 3 || fail "second up restarted something: $(cat "$run/up2.txt")"
pids_after=$(cat "$run"/mariadb/mariadb.pid "$run"/broker/broker.pid "$run"/ttp/ttpd.pid)
[ "$pids_before" = "$pids_after" ] || fail "pids changed on second up"
ok "second up is harmless"

if "$build/ttp/tds-ttpd" -d -f "$TDS_TTPD_CONF" > "$run/second.txt" 2>&1; then
	fail "a second daemon started"
fi
grep -q "already running" "$run/second.txt" || fail "second daemon: $(cat "$run/second.txt")"
ok "a second daemon on the same pid file refuses to start"

# A crash of every part: down must clean the stale pid files.
kill -KILL "$(head -n1 "$run/ttp/ttpd.pid")" "$(head -n1 "$run/broker/broker.pid")"
sleep 0.5
out=$("$stack" status) && fail "status exit 0 with crashed parts"
echo "$out" | grep -q "^ttpd  *down" || fail "crashed daemon not reported down"
"$stack" down > "$run/down1.txt" || fail "down after crash"
grep -q "ttpd: removing stale pid file" "$run/down1.txt" || fail "no stale ttpd pid cleanup: $(cat "$run/down1.txt")"
grep -q "broker: removing stale pid file" "$run/down1.txt" || fail "no stale broker pid cleanup"
[ ! -e "$run/ttp/ttpd.pid" ] && [ ! -e "$run/broker/broker.pid" ] || fail "pid files left"
ok "down after a crash cleans stale pid files"

# MariaDB killed hard recovers on the next up, data intact.
"$stack" up > /dev/null || fail "up after crash"
kill -KILL "$(head -n1 "$run/mariadb/mariadb.pid")"
sleep 0.5
"$stack" up > /dev/null || fail "up after mariadbd SIGKILL"
version=$(mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -e "SELECT MAX(version) FROM tds.schema_migrations")
[ "$version" = 2 ] || fail "schema lost after crash"
# The daemon notices the lost connection at its next check (each second)
# and reconnects with a backoff: healthy again within seconds, not at once.
healthy=0
for _ in $(seq 1 60); do
	if "$stack" status > /dev/null; then healthy=1; break; fi
	sleep 0.5
done
[ "$healthy" = 1 ] || fail "not healthy 30 s after mariadbd crash: $("$stack" status)"
ok "up after a MariaDB SIGKILL recovers"

pids=$(cat "$run"/mariadb/mariadb.pid "$run"/broker/broker.pid "$run"/ttp/ttpd.pid)
"$stack" down || fail "down"
sleep 0.2
for pid in $pids; do
	kill -0 "$pid" 2>/dev/null && fail "pid $pid still running after down"
done
if pgrep -f -- "$run" > /dev/null; then
	fail "processes left: $(pgrep -af -- "$run")"
fi
ls "$run"/*/*.pid 2>/dev/null && fail "pid files left after down"
out=$("$stack" status) && fail "status exit 0 after down"
[ "$(echo "$out" | grep -c ' down$')" = 3 ] || fail "status after down: $out"
ok "down stops everything, nothing left running"

echo "$pass passed, 0 failed"
