#!/usr/bin/env bash
# client_help.sh BUILD_DIR: every command prints its usage with --help and
# through `tds help CMD` (exit 0); unknown commands and options exit 2;
# a command without a home says to run tds init (exit 1).  No stack.
set -euo pipefail
tds=$(cd "$1" && pwd)/client/tds
tmp=$(mktemp -d /tmp/tds-client-help.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export TDS_HOME=$tmp/nohome
pass=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
expect() {
	local want=$1 rc=0
	shift
	"$tds" "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
	[ "$rc" = "$want" ] || fail "tds $* exited $rc, expected $want: $(cat "$tmp/err")"
}

expect 0 --help
grep -q "^usage: tds" "$tmp/out" || fail "tds --help"
commands=$(sed -n '/^commands:/,/^$/p' "$tmp/out" | awk 'NF > 1 && $1 != "commands:" {print $1}')
[ "$(echo "$commands" | wc -w)" -ge 11 ] || fail "commands listed: $commands"
for c in init register upload download receipts abort catalog uploads downloads keygen key-id; do
	echo "$commands" | grep -qx "$c" || fail "tds --help does not list $c"
done
ok "tds --help lists the commands"

for c in $commands; do
	expect 0 "$c" --help
	grep -q "^usage: tds.*$c" "$tmp/out" || fail "tds $c --help: $(head -n 2 "$tmp/out")"
	expect 0 help "$c"
	grep -q "^usage: tds.*$c" "$tmp/out" || fail "tds help $c"
done
ok "every command: --help and tds help CMD print its usage, exit 0"

expect 2
expect 2 frobnicate
grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown command message"
expect 2 help frobnicate
expect 2 --frobnicate
expect 2 catalog --frobnicate
expect 2 --timeout 0 catalog
expect 2 catalog --timeout abc
ok "unknown commands and options, bad --timeout: exit 2"

expect 1 catalog
grep -q "tds init" "$tmp/err" || fail "no-home message: $(cat "$tmp/err")"
expect 1 uploads
ok "without a home: exit 1, says to run tds init"

expect 0 --version
grep -q "^tds " "$tmp/out" || fail "--version"
ok "--version"
echo "$pass passed, 0 failed"
