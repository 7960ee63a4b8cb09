#!/usr/bin/env bash
# no_secrets_in_logs.sh BUILD_DIR: no secret reaches a log.
#
# A private stack with the daemon at its most verbose (-vv: its debug lines
# and librdkafka's), exchanges driven with tds -vv (one user's key is
# encrypted with a passphrase), a few refusals (a download of an aborted
# file, of an unknown file, a file id used before, a user name registered
# with another key), then every log file of the run
# directory (the daemon's, the broker's, MariaDB's, the stack's) and
# everything the client printed are searched for:
# - private key PEM material (a "PRIVATE KEY" marker or any line of the
#   base64 body of a key file) of the TTP and of every user;
# - the private scalars of those keys, in hex (both cases), base64 and
#   base64url;
# - every nonce the TTP issued (found in the database and in the replies of
#   its outbox), in hex (both cases), base64 and base64url;
# - the database passwords (admin, tds_ttp, tds_auditor) and the passphrase.
# None may appear.  A control proves the search finds what it looks for.
# On the way: the stack's key and secret files are 0600 in 0700 directories.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 1200
# Ports from tds-stack's random starts, not from a fixed base: stacks of
# other worktrees run the same client tests on this machine.
unset TDS_DB_PORT TDS_KAFKA_PORT

export TDS_TTPD_ARGS=-vv
stack_up
grep -q "debug" "$run/ttp/ttpd.log" || fail "the daemon does not log at debug level"
ok "private stack up, the daemon with -vv"

# Where the stack keeps its secrets: nobody else may read or replace them.
for d in "$run" "$run/ttp" "$run/secrets"; do
	[ "$(stat -c %a "$d")" = 700 ] || fail "$d has mode $(stat -c %a "$d")"
done
for f in "$run/ttp/ttp_key.pem" "$run/secrets"/*; do
	[ -d "$f" ] && continue
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"
done
ok "the stack's run, ttp and secrets directories are 0700, the TTP key and every secret file 0600"

clientlog=$run/client-output.log
# t WANT_RC ARGS...: tds -vv, its output kept for the search.
t() {
	local want=$1 rc=0
	shift
	"$tds" "$@" -vv > "$out/stdout" 2> "$out/stderr" || rc=$?
	cat "$out/stdout" "$out/stderr" >> "$clientlog"
	[ "$rc" = "$want" ] || fail "tds $* exited $rc, expected $want: $(tail -n 3 "$out/stderr")"
}

passphrase="correct horse battery staple $(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
(umask 077; echo "$passphrase" > "$run/passphrase")
t 0 --home "$homes/alice" init --user alice --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY" --passphrase-file "$run/passphrase"
head -n1 "$homes/alice/key.pem" | grep -q "ENCRYPTED" || fail "alice's key is not encrypted"
t 0 --home "$homes/bob" init --user bob --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY"
t 0 --home "$homes/carol" init --user carol --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY"
for u in alice bob carol; do t 0 --home "$homes/$u" register; done

head -c 100000 /dev/urandom > "$run/doc1"
echo "second document" > "$run/doc2"
t 0 --home "$homes/alice" upload "$run/doc1" --file-id log-1
t 0 --home "$homes/alice" upload "$run/doc2" --file-id log-2
t 0 --home "$homes/bob" catalog
t 0 --home "$homes/bob" download log-1 -o "$run/dl1"
t 0 --home "$homes/carol" download log-1 -o "$run/dl1c"
t 0 --home "$homes/bob" download log-2 -o "$run/dl2"
t 0 --home "$homes/alice" receipts
t 0 --home "$homes/alice" abort log-2
t 1 --home "$homes/carol" download log-2 -o "$run/dl2c"
t 1 --home "$homes/carol" download no-such-file -o "$run/x"
t 0 --home "$homes/alice" upload "$run/doc2" --file-id log-3
t 0 --home "$homes/alice" abort log-3
# Refusals: a file id used before, a user name taken with another key.
t 1 --home "$homes/alice" upload "$run/doc1" --file-id log-2
t 0 --home "$homes/mallory" init --user alice --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY"
t 1 --home "$homes/mallory" register
# tds audit has no -v.
"$tds" audit --defaults-file "$TDS_DB_AUDITOR_CNF" exchanges >> "$clientlog" 2>&1 || fail "tds audit"
ok "exchanges, receipts, aborts and refusals driven with tds -vv"

# --- the secrets --------------------------------------------------------------
secrets=$run/secret-patterns
: > "$secrets"
add() { [ -n "$1" ] && printf '%s\n' "$1" >> "$secrets"; }
# forms HEX: the bytes of HEX in hex (both cases), base64 and base64url.
forms() {
	local hex=${1,,} b64
	add "$hex"
	add "${hex^^}"
	b64=$(printf '%s' "$hex" | xxd -r -p | base64 -w0)
	add "$b64"
	add "${b64%%=*}"
	b64=${b64//+/-}
	b64=${b64//\//_}
	add "${b64%%=*}"
}
command -v xxd > /dev/null || xxd() { "$py" -c "import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))"; }

nkeys=0
for key in "$run/ttp/ttp_key.pem" "$homes"/*/key.pem; do
	passin=()
	grep -q ENCRYPTED "$key" && passin=(-passin "file:$run/passphrase")
	scalar=$(openssl pkey -in "$key" "${passin[@]}" -noout -text 2> /dev/null |
		sed -n '/^priv:/,/^pub:/p' | grep -v -e '^priv:' -e '^pub:' | tr -d ' :\n')
	scalar=${scalar#00}
	[ ${#scalar} = 64 ] || fail "cannot read the private scalar of $key ('$scalar')"
	forms "$scalar"
	# Every line of the PEM body (the encrypted one too).
	grep -v -e '^-----' "$key" | grep -E '.{16}' >> "$secrets"
	nkeys=$((nkeys + 1))
done
add "PRIVATE KEY"

adm() { mariadb --defaults-file="$TDS_DB_ADMIN_CNF" --batch --skip-column-names tds -e "$1"; }
adm "SELECT LOWER(HEX(nonce)) FROM used_nonces UNION SELECT LOWER(HEX(nonce)) FROM uploads_ongoing
	UNION SELECT LOWER(HEX(nonce)) FROM downloads_ongoing UNION SELECT LOWER(HEX(upload_nonce)) FROM uploads_completed
	UNION SELECT LOWER(HEX(nonce)) FROM downloads_completed" > "$run/nonces.db"
# The replies carry every nonce issued, including the ones never used.
adm "SELECT REPLACE(TO_BASE64(payload), '\n', '') FROM outbox" > "$run/outbox.b64"
"$py" - "$run/outbox.b64" > "$run/nonces.outbox" << 'PY'
import base64, binascii, json, sys
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if "nonce" in k and isinstance(x, str):
                yield x
            else:
                yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    for n in walk(json.loads(base64.b64decode(line))):
        raw = base64.b64decode(n + "=" * (-len(n) % 4), altchars=b"-_") if "-" in n or "_" in n else base64.b64decode(n + "=" * (-len(n) % 4))
        print(binascii.hexlify(raw).decode())
PY
sort -u "$run/nonces.db" "$run/nonces.outbox" > "$run/nonces"
nnonces=$(wc -l < "$run/nonces")
# 3 uploads and 3 downloads were challenged.
[ "$nnonces" -ge 6 ] || fail "only $nnonces nonces found: $(cat "$run/nonces")"
grep -qvxFf "$run/nonces.db" "$run/nonces.outbox" && echo "# nonces only in the outbox: $(grep -cvxFf "$run/nonces.db" "$run/nonces.outbox")"
while read -r n; do
	[ ${#n} = 64 ] || fail "a nonce of ${#n} hex digits: $n"
	forms "$n"
done < "$run/nonces"

for f in "$run/secrets/ttp_db_password" "$run/secrets/auditor_db_password"; do add "$(cat "$f")"; done
add "$(sed -n 's/^password=//p' "$run/secrets/admin.cnf")"
add "$passphrase"
sort -u -o "$secrets" "$secrets"
ok "$(wc -l < "$secrets") patterns: PEM lines and scalars of $nkeys keys, $nnonces nonces in hex and base64 forms, 3 database passwords, the passphrase"

# --- the search ---------------------------------------------------------------
# Stop the stack first, so that the daemon's last lines are in its log too.
"$stack" down > "$run/down.log" 2>&1 || fail "stack down"
mapfile -t logs < <(find "$run" -path "$run/mariadb/data" -prune -o -type f \
	\( -name '*.log' -o -name 'state.json' -o -name 'sanitizer*' \) -print | sort)
[ ${#logs[@]} -ge 5 ] || fail "only ${#logs[@]} log files: ${logs[*]}"
for f in "$run/ttp/ttpd.log" "$run/broker/broker.log" "$run/mariadb/mariadb.log" "$clientlog"; do
	printf '%s\n' "${logs[@]}" | grep -qxF "$f" || fail "$f is not searched"
	[ -s "$f" ] || fail "$f is empty"
done
# Control: the search finds a nonce (hex and base64) and a password.
n1=$(sed -n 1p "$run/nonces")
printf 'x %s y\n' "$n1" "$(printf '%s' "$n1" | xxd -r -p | base64 -w0)" \
	"$(cat "$run/secrets/ttp_db_password")" > "$run/control.txt"
[ "$(grep -cFf "$secrets" "$run/control.txt")" = 3 ] || fail "control: the search misses planted secrets"
if grep -HnoFf "$secrets" "${logs[@]}" > "$run/found"; then
	fail "secrets in the logs:
$(head -n 20 "$run/found")"
fi
ok "no secret in ${#logs[@]} log files ($(cat "${logs[@]}" | wc -l) lines, $(du -ch "${logs[@]}" | tail -n1 | cut -f1)): ${logs[*]#$run/}"

echo "$pass passed, 0 failed"
