#!/usr/bin/env bash
# ttpd_config.sh TTPD: tds-ttpd -n accepts a good configuration and refuses
# each kind of bad one with exit 2 and a message naming the file and line.
set -euo pipefail
ttpd=$1
dir=$(mktemp -d /tmp/tds-conf-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }

(umask 077; echo secret > "$dir/pw")
good() {
	cat <<CONF
kafka.bootstrap.servers 127.0.0.1:9092
db_socket $dir/sock
db_user tds_ttp
db_password_file $dir/pw
store_root $dir/store
ttp_key_file $dir/ttp_key.pem
CONF
}

# expect_bad NAME PATTERN: the config in $dir/c.conf is refused with PATTERN.
expect_bad() {
	local out rc=0
	out=$("$ttpd" -n -f "$dir/c.conf" 2>&1) || rc=$?
	[ $rc -eq 2 ] || fail "$1: exit $rc, want 2 ($out)"
	echo "$out" | grep -q -- "$2" || fail "$1: message '$out' lacks '$2'"
	ok "$1 refused: $out"
}

good > "$dir/c.conf"
out=$("$ttpd" -n -f "$dir/c.conf") || fail "good config: $out"
[ "$out" = "configuration OK" ] || fail "good config printed '$out'"
ok "good configuration accepted"

{ good; echo "kafka.linger.ms 5"; echo "nonce_ttl 30"; } > "$dir/c.conf"
"$ttpd" -n -f "$dir/c.conf" > /dev/null || fail "kafka.* passthrough refused"
ok "kafka.* properties and nonce_ttl accepted"

{ good; echo "no_such_key 1"; } > "$dir/c.conf"
expect_bad "unknown key" "c.conf:7: unknown setting 'no_such_key'"

{ good; echo "db_user again"; } > "$dir/c.conf"
expect_bad "repeated key" "c.conf:7: 'db_user' given twice"

{ good; echo "nonce_ttl 0"; } > "$dir/c.conf"
expect_bad "out of range" "c.conf:7: 0 is out of range"

{ good; echo "db_port http"; } > "$dir/c.conf"
expect_bad "not a number" "c.conf:7: 'http' is not a number"

good | grep -v store_root > "$dir/c.conf"
expect_bad "missing required key" "'store_root' is required"

good | grep -v bootstrap > "$dir/c.conf"
expect_bad "missing bootstrap" "'kafka.bootstrap.servers' is required"

{ good; echo "topic_prefix bad/prefix"; } > "$dir/c.conf"
expect_bad "bad topic prefix" "bad/prefix"

chmod 644 "$dir/pw"
good > "$dir/c.conf"
expect_bad "world-readable password file" "mode 0644 lets others read a secret"
chmod 600 "$dir/pw"

expect_bad_file() {
	local rc=0 out
	out=$("$ttpd" -n -f "$dir/missing.conf" 2>&1) || rc=$?
	[ $rc -eq 2 ] && echo "$out" | grep -q "No such file" || fail "missing file: $rc $out"
	ok "missing configuration file refused"
}
expect_bad_file

"$ttpd" -h | grep -q "usage: tds-ttpd" || fail "-h"
ok "-h prints usage"
rc=0; "$ttpd" -x > /dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bad option exit $rc"
ok "a bad option exits 2"

echo "$pass passed, 0 failed"
