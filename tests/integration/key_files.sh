#!/usr/bin/env bash
# key_files.sh BUILD_DIR: private key files and their directories.
#
# - tds-ttpd refuses to start (exit 2, before it detaches, no pid file, no
#   process left) when its key grants group or others any access, naming the
#   file and the mode, and when group or others may write in the key's
#   directory, naming the directory; -n says the same;
# - the daemon creates its key 0600 (public key 0644) even under umask 000;
# - tds init and tds keygen create the home 0700 and key.pem 0600 even under
#   umask 000, and narrow an existing home that others could write in;
# - every command of tds that signs refuses a key.pem others can access,
#   naming the file and the mode, before it sends anything; a home others
#   could write in is refused too; a passphrase file others can read as well.
#
# No stack: nothing here gets as far as a broker or a database.
set -euo pipefail
build=$(cd "$1" && pwd)
ttpd=$build/ttp/tds-ttpd
tds=$build/client/tds
dir=$(mktemp -d /tmp/tds-keys-test.XXXXXX)
pass=0
daemon_pid=
fail() { echo "FAIL: $*" >&2; [ -s "$dir/ttpd.err" ] && tail -n 5 "$dir/ttpd.err" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

# A configuration whose broker and database are nowhere (port 9 discards):
# the key is checked long before either is needed.
(umask 077; echo secret > "$dir/pw")
mkdir -m 700 "$dir/ttp" "$dir/store"
conf() { # conf KEY_FILE
	cat > "$dir/ttpd.conf" <<CONF
kafka.bootstrap.servers 127.0.0.1:9
db_host 127.0.0.1
db_port 9
db_user tds_ttp
db_password_file $dir/pw
db_connect_timeout 1
store_root $dir/store
ttp_key_file $1
pid_file $dir/ttp/ttpd.pid
log_file $dir/ttp/ttpd.log
CONF
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ttp/key.pem" 2>/dev/null
conf "$dir/ttp/key.pem"

# refused NAME PATTERN...: the daemon refuses to start and -n refuses the
# configuration, exit 2, with every PATTERN in the message.
refused() {
	local what=$1 rc out
	shift
	for mode in start check; do
		rc=0
		if [ $mode = start ]; then
			"$ttpd" -f "$dir/ttpd.conf" > "$dir/ttpd.out" 2> "$dir/ttpd.err" || rc=$?
		else
			"$ttpd" -n -f "$dir/ttpd.conf" > "$dir/ttpd.out" 2> "$dir/ttpd.err" || rc=$?
		fi
		out=$(cat "$dir/ttpd.err")
		[ $rc -eq 2 ] || fail "$what ($mode): exit $rc, want 2: $out"
		for p in "$@"; do
			grep -qF -- "$p" <<< "$out" || fail "$what ($mode): '$out' lacks '$p'"
		done
		[ ! -e "$dir/ttp/ttpd.pid" ] || fail "$what ($mode): a pid file was written"
		! grep -q "configuration OK" "$dir/ttpd.out" || fail "$what: -n said OK"
	done
	! pgrep -f -- "$dir/ttpd.conf" > /dev/null || fail "$what: a daemon is running"
	ok "tds-ttpd refuses $what: $out"
}

for m in 644 640 604 660 400; do
	chmod "$m" "$dir/ttp/key.pem"
	if [ $m = 400 ]; then
		"$ttpd" -n -f "$dir/ttpd.conf" > /dev/null 2>&1 || fail "a 0400 key is refused"
		continue
	fi
	refused "a key of mode 0$m" "$dir/ttp/key.pem" "mode 0$m" "chmod 600"
done
ok "tds-ttpd accepts a key of mode 0400"
chmod 600 "$dir/ttp/key.pem"

chmod 777 "$dir/ttp"
refused "a key in a directory anyone may write in" "$dir/ttp/key.pem" "directory $dir/ttp" "mode 0777"
chmod 770 "$dir/ttp"
refused "a key in a directory its group may write in" "directory $dir/ttp" "mode 0770"
chmod 700 "$dir/ttp"
mkdir -m 1777 "$dir/tmp"
conf "$dir/tmp/new.pem"
refused "a new key in a sticky world-writable directory" "directory $dir/tmp" "mode 1777"

# Creation: under umask 000 the daemon still writes its key 0600.  It runs
# in the foreground (-d) until the key exists, then is stopped: no broker
# or database is needed for that.
mkdir -m 700 "$dir/new"
conf "$dir/new/ttp_key.pem"
(umask 000; exec "$ttpd" -d -f "$dir/ttpd.conf" > "$dir/ttpd.out" 2> "$dir/ttpd.err") &
daemon_pid=$!
for _ in $(seq 1 100); do
	[ -s "$dir/new/ttp_key.pem.pub" ] && break
	sleep 0.1
done
[ -s "$dir/new/ttp_key.pem.pub" ] || fail "the daemon did not create its key"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "the daemon did not stop cleanly on SIGTERM"
daemon_pid=
[ "$(stat -c %a "$dir/new/ttp_key.pem")" = 600 ] || fail "new TTP key mode $(stat -c %a "$dir/new/ttp_key.pem")"
[ "$(stat -c %a "$dir/new/ttp_key.pem.pub")" = 644 ] || fail "TTP public key mode"
openssl pkey -in "$dir/new/ttp_key.pem" -noout 2>/dev/null || fail "the new key is not a PEM key"
ls -a "$dir/new" | grep -q tmp && fail "temporary files left: $(ls -a "$dir/new")"
ok "tds-ttpd creates its key 0600 and the public key 0644 under umask 000"

# --- the client ----------------------------------------------------------------
init() { # init HOME: tds init under umask 000
	(umask 000; "$tds" --home "$1" init --user alice --bootstrap 127.0.0.1:9 \
		--store "$dir/store" --ttp-key "$dir/new/ttp_key.pem.pub") > "$dir/out" 2>&1 ||
		fail "tds init $1: $(cat "$dir/out")"
}
init "$dir/alice"
[ "$(stat -c %a "$dir/alice")" = 700 ] || fail "home mode $(stat -c %a "$dir/alice")"
[ "$(stat -c %a "$dir/alice/key.pem")" = 600 ] || fail "key.pem mode $(stat -c %a "$dir/alice/key.pem")"
[ "$(stat -c %a "$dir/alice/config")" = 600 ] || fail "config mode $(stat -c %a "$dir/alice/config")"
mkdir -m 777 "$dir/open"
chmod 777 "$dir/open"
init "$dir/open"
[ "$(stat -c %a "$dir/open")" = 700 ] || fail "an existing 0777 home was left $(stat -c %a "$dir/open")"
(umask 000; "$tds" --home "$dir/alice" keygen --force > /dev/null 2>&1) || fail "keygen --force"
[ "$(stat -c %a "$dir/alice/key.pem")" = 600 ] || fail "keygen: key.pem mode $(stat -c %a "$dir/alice/key.pem")"
mkdir -m 777 "$dir/kg"
chmod 777 "$dir/kg"
(umask 000; "$tds" --home "$dir/kg" keygen > /dev/null 2>&1) || fail "keygen in a new home"
[ "$(stat -c %a "$dir/kg")" = 700 ] && [ "$(stat -c %a "$dir/kg/key.pem")" = 600 ] ||
	fail "keygen: home $(stat -c %a "$dir/kg"), key $(stat -c %a "$dir/kg/key.pem")"
ok "tds init and keygen: home 0700, key.pem and config 0600 under umask 000; an open home is narrowed"

# client_refuses PATTERN...: every signing command exits 1 naming it.
client_refuses() {
	local rc
	for cmd in "register" "upload $dir/pw" "download some-file -o $dir/x" "abort some-file" "catalog"; do
		rc=0
		# shellcheck disable=SC2086
		timeout 20 "$tds" --home "$dir/alice" $cmd > "$dir/out" 2>&1 || rc=$?
		[ $rc -eq 1 ] || fail "tds $cmd: exit $rc, want 1: $(cat "$dir/out")"
		for p in "$@"; do
			grep -qF -- "$p" "$dir/out" || fail "tds $cmd: '$(cat "$dir/out")' lacks '$p'"
		done
		! grep -qi "broker\|kafka" "$dir/out" || fail "tds $cmd got as far as Kafka: $(cat "$dir/out")"
	done
	ok "tds register, upload, download, abort, catalog refuse: $(cat "$dir/out")"
}
for m in 644 640 604; do
	chmod "$m" "$dir/alice/key.pem"
	client_refuses "$dir/alice/key.pem" "mode 0$m" "chmod 600"
done
chmod 600 "$dir/alice/key.pem"

chmod 777 "$dir/alice"
client_refuses "$dir/alice" "mode 0777" "chmod 700"
chmod 720 "$dir/alice"
client_refuses "$dir/alice" "mode 0720"
chmod 700 "$dir/alice"

(umask 077; echo "a passphrase" > "$dir/pass")
"$tds" --home "$dir/alice" keygen --force --passphrase-file "$dir/pass" > /dev/null 2>&1 || fail "keygen --passphrase-file"
head -n1 "$dir/alice/key.pem" | grep -q "ENCRYPTED PRIVATE KEY" || fail "the key is not encrypted"
chmod 644 "$dir/pass"
rc=0
"$tds" --home "$dir/alice" --passphrase-file "$dir/pass" register > "$dir/out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -qF "$dir/pass: mode 0644" "$dir/out" || fail "a readable passphrase file: $rc $(cat "$dir/out")"
ok "a passphrase file others can read is refused: $(cat "$dir/out")"

echo "$pass passed, 0 failed"
