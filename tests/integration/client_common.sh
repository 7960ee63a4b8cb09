#!/usr/bin/env bash
# client_common.sh: sourced by the client_*.sh tests (not a test itself).
# Gives a private local stack in a temporary run directory, homes made
# with `tds init` from `tds-stack env`, and assertion helpers.
#
#   source client_common.sh BUILD_DIR PORT_BASE
#
# PORT_BASE spreads the tests' MariaDB and broker ports apart so that
# tests running in parallel do not race for the same free port.
set -euo pipefail
build=$(cd "$1" && pwd)
port_base=${2:-0}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tds=$build/client/tds
run=$(mktemp -d /tmp/tds-client-test.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
# Below the ephemeral ports (32768 and up), which any outgoing connection
# may hold, and apart from the random ranges of tds-stack.
export TDS_DB_PORT=$((26000 + port_base)) TDS_KAFKA_PORT=$((28000 + port_base))
unset TDS_HOME
stack=$root/scripts/tds-stack
homes=$run/homes
out=$run/out
mkdir -p "$homes" "$out"
pass=0
bg_pids=()

# A JSON tool that is always there (python3 comes with python3-jsonschema).
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)

fail() {
	echo "FAIL: $*" >&2
	for f in "$out/stderr" "$run/ttp/ttpd.log" "$run/broker/broker.log"; do
		[ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
	done
	exit 1
}
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }

cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$stack" down > /dev/null 2>&1 || true
	# Whatever down could not stop, by the pids it recorded.
	for p in "$run"/mariadb/mariadb.pid "$run"/broker/broker.pid "$run"/ttp/ttpd.pid; do
		[ -s "$p" ] && kill -KILL "$(head -n1 "$p")" 2>/dev/null || true
	done
	rm -rf "$run"
}
trap cleanup EXIT

# ttp_ready: the daemon holds its partitions.  After a restart on a
# running broker it rejoins its consumer group, which the embedded broker
# grants only when the old member's session expires (about 45 s).
ttp_ready() {
	for _ in $(seq 1 450); do
		grep -q '"assigned_partitions":[1-9]' "$run/ttp/state.json" 2>/dev/null && return 0
		sleep 0.2
	done
	fail "the daemon has no partitions after 90 s: $(cat "$run/ttp/state.json" 2>/dev/null)"
}

stack_up() {
	"$stack" up > "$run/up.log" 2>&1 || fail "stack up: $(tail -n 5 "$run/up.log")"
	eval "$("$stack" env)"
	ttp_ready
}

# run_tds EXPECTED_RC ARGS...: run tds, keep stdout/stderr in $out, assert
# the exit code.
run_tds() {
	local want=$1 rc=0
	shift
	"$tds" "$@" > "$out/stdout" 2> "$out/stderr" || rc=$?
	if [ "$rc" != "$want" ]; then
		echo "--- stdout" >&2; cat "$out/stdout" >&2
		fail "tds $* exited $rc, expected $want"
	fi
}

# new_user NAME: a home $homes/NAME, initialised and registered.
new_user() {
	"$tds" --home "$homes/$1" init --user "$1" --bootstrap "$TDS_BOOTSTRAP" \
		--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY" > /dev/null ||
		fail "init $1"
	"$tds" --home "$homes/$1" register > /dev/null || fail "register $1"
}

# json EXPR: evaluate a Python expression over the JSON on stdin (as j).
json() { "$py" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

sha256() { sha256sum "$1" | cut -d' ' -f1; }
