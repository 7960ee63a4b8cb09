#!/usr/bin/env bash
# audit_cli.sh BUILD_DIR: `tds audit` against a real stack.  A completed
# exchange (and an upload nobody downloaded) is written directly with the
# admin account, with real P-256 public keys; then `tds audit` with the
# read-only auditor account must list them with every field, filter them
# by user, file and time (bounds included and excluded), show one file in
# full, refuse bad input (exit 2) and a missing or useless option file
# (exit 1), and the auditor account itself must not be able to write.
#
# $TDS_CLIENT overrides the client binary (default BUILD_DIR/client/tds).
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tds=${TDS_CLIENT:-$build/client/tds}
run=$(mktemp -d /tmp/tds-audit-test.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
stack=$root/scripts/tds-stack
unset TDS_AUDITOR_CNF
pass=0

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
cleanup() {
	"$stack" down > /dev/null 2>&1 || true
	rm -rf "$run"
}
trap cleanup EXIT

# The commands must be wired into the dispatcher before anything else.
if ! "$tds" audit --help > "$run/help.txt" 2>&1 || ! grep -q "tds audit" "$run/help.txt"; then
	fail "tds audit not wired into $tds: $(head -n 3 "$run/help.txt")"
fi

# jget FILE EXPR: evaluate a Python expression over the JSON in FILE (j).
jget() { /usr/bin/python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
b64of() { base64 -w0 "$1"; }
shaof() { sha256sum "$1" | cut -d' ' -f1; }

"$stack" up > "$run/up.txt" || fail "stack up: $(tail -n 5 "$run/up.txt")"
eval "$("$stack" env)"
admin() { mariadb --defaults-file="$TDS_DB_ADMIN_CNF" tds "$@"; }
aud=$TDS_DB_AUDITOR_CNF

# ---- the data: alice uploads f1, bob downloads it; bob uploads f2 ----
d=$run/data
mkdir -p "$d"
for u in alice bob; do
	openssl ecparam -genkey -name prime256v1 -noout -out "$d/$u.key" 2> /dev/null
	openssl pkey -in "$d/$u.key" -pubout -outform DER -out "$d/$u.der"
done
for f in up_nonce dn_nonce up2_nonce; do head -c 32 /dev/urandom > "$d/$f"; done
for f in nro nrr ttp_up ttp_ex nro2 ttp_up2; do head -c 71 /dev/urandom > "$d/$f"; done
sha=$(printf 'the contract' | sha256sum | cut -d' ' -f1)
sha2=$(printf 'another file' | sha256sum | cut -d' ' -f1)
obj=$(head -c 16 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
obj2=$(head -c 16 /dev/urandom | od -An -tx1 -v | tr -d ' \n')

admin -e "
INSERT INTO users VALUES
  ('alice', UNHEX('$(hexof "$d/alice.der")'), UNHEX('$(shaof "$d/alice.der")'), '2030-01-01 00:00:00'),
  ('bob',   UNHEX('$(hexof "$d/bob.der")'),   UNHEX('$(shaof "$d/bob.der")'),   '2030-01-01 00:00:01');
INSERT INTO uploads_completed
  (file_id, uploader, name, size, sha256, upload_nonce, nro, nro_sha256,
   object_path, ttp_sig, uploaded_at, aborted_at) VALUES
  ('audit-f1', 'alice', 'Contract.pdf', 12, UNHEX('$sha'),
   FROM_BASE64('$(b64of "$d/up_nonce")'), FROM_BASE64('$(b64of "$d/nro")'),
   UNHEX('$(shaof "$d/nro")'), 'objects/$obj', FROM_BASE64('$(b64of "$d/ttp_up")'),
   '2030-01-02 03:00:00', NULL),
  ('audit-f2', 'bob', 'Other.txt', 12, UNHEX('$sha2'),
   FROM_BASE64('$(b64of "$d/up2_nonce")'), FROM_BASE64('$(b64of "$d/nro2")'),
   UNHEX('$(shaof "$d/nro2")'), 'objects/$obj2', FROM_BASE64('$(b64of "$d/ttp_up2")'),
   '2030-02-01 00:00:00', NULL);
INSERT INTO downloads_completed
  (nonce, file_id, downloader, nrr, nrr_sha256, ttp_sig, completed_at) VALUES
  (FROM_BASE64('$(b64of "$d/dn_nonce")'), 'audit-f1', 'bob',
   FROM_BASE64('$(b64of "$d/nrr")'), UNHEX('$(shaof "$d/nrr")'),
   FROM_BASE64('$(b64of "$d/ttp_ex")'), '2030-01-02 03:04:05');
" || fail "inserting the exchange as admin"
ok "a completed exchange and an upload inserted with the admin account"

# ---- exchanges --json: every field ----
"$tds" audit --defaults-file "$aud" exchanges --json > "$run/ex.json" || fail "audit exchanges: $(cat "$run/ex.json")"
[ "$(jget "$run/ex.json" 'len(j)')" = 1 ] || fail "rows: $(cat "$run/ex.json")"
check_field() {
	local got
	got=$(jget "$run/ex.json" "j[0]['$1']")
	[ "$got" = "$2" ] || fail "exchanges field $1: got '$got', want '$2'"
}
check_field file_id audit-f1
check_field uploader alice
check_field downloader bob
check_field name Contract.pdf
check_field size 12
check_field sha256 "$sha"
check_field nro_sha256 "$(shaof "$d/nro")"
check_field nrr_sha256 "$(shaof "$d/nrr")"
check_field nro "$(b64of "$d/nro")"
check_field nrr "$(b64of "$d/nrr")"
check_field upload_nonce "$(b64of "$d/up_nonce")"
check_field download_nonce "$(b64of "$d/dn_nonce")"
check_field ttp_sig "$(b64of "$d/ttp_ex")"
check_field uploaded_at 2030-01-02T03:00:00Z
check_field completed_at 2030-01-02T03:04:05Z
check_field aborted_at None
ok "exchanges --json: the exchange with every field, in full"

# Options before or after the verb, option file from the environment.
TDS_AUDITOR_CNF=$aud "$tds" audit exchanges > "$run/table.txt" || fail "table: $(cat "$run/table.txt")"
grep -q "^COMPLETED  *FILE_ID  *UPLOADER  *DOWNLOADER" "$run/table.txt" || fail "no header: $(cat "$run/table.txt")"
grep -q "2030-01-02T03:04:05Z  *audit-f1  *alice  *bob  *12  *${sha:0:12}\.\." "$run/table.txt" ||
	fail "row: $(cat "$run/table.txt")"
grep -q "$sha" "$run/table.txt" && fail "full hash in the table"
grep -q "(1 exchange)" "$run/table.txt" || fail "count: $(cat "$run/table.txt")"
mkdir -p "$run/home" && cp "$aud" "$run/home/auditor.cnf"
TDS_HOME=$run/home "$tds" audit exchanges --json > "$run/home.json" || fail "home's auditor.cnf"
[ "$(jget "$run/home.json" 'len(j)')" = 1 ] || fail "home's auditor.cnf: $(cat "$run/home.json")"
ok "table with headers and truncated hashes; \$TDS_AUDITOR_CNF and <home>/auditor.cnf"

# count ARGS...: rows of `tds audit ARGS --json`.
count() {
	"$tds" audit --defaults-file "$aud" "$@" --json > "$run/q.json" || fail "audit $*: $(cat "$run/q.json")"
	jget "$run/q.json" 'len(j)'
}
[ "$(count exchanges --user alice)" = 1 ] || fail "--user alice"
[ "$(count exchanges --user bob)" = 1 ] || fail "--user bob (downloader)"
[ "$(count exchanges --user carol)" = 0 ] || fail "--user carol"
[ "$(count exchanges --file-id audit-f1)" = 1 ] || fail "--file-id audit-f1"
[ "$(count exchanges --file-id audit-f2)" = 0 ] || fail "--file-id audit-f2"
[ "$(count exchanges --file-id audit-f1 --user bob)" = 1 ] || fail "--file-id + --user"
[ "$(count exchanges --file-id audit-f1 --user carol)" = 0 ] || fail "--file-id + --user carol"
ok "exchanges filtered by --user (uploader or downloader) and --file-id"

[ "$(count exchanges --since 2030-01-02T03:04:05Z)" = 1 ] || fail "--since at the second"
[ "$(count exchanges --since 2030-01-02T03:04:06Z)" = 0 ] || fail "--since after"
[ "$(count exchanges --until 2030-01-02T03:04:05Z)" = 1 ] || fail "--until at the second"
[ "$(count exchanges --until 2030-01-02T03:04:04Z)" = 0 ] || fail "--until before"
[ "$(count exchanges --since 2030-01-01T00:00:00Z --until 2030-01-03T00:00:00Z --user bob)" = 1 ] || fail "all filters"
[ "$(count exchanges --since 9999-12-31T23:59:59Z)" = 0 ] || fail "--since far future"
[ "$(count exchanges --until 9999-12-31T23:59:59Z)" = 1 ] || fail "--until far future"
ok "--since/--until include the exchange at its second and exclude it a second off"

[ "$(count uploads)" = 2 ] || fail "uploads"
[ "$(count uploads --user bob)" = 1 ] || fail "uploads --user bob"
[ "$(count uploads --since 2030-01-15T00:00:00Z)" = 1 ] || fail "uploads --since"
[ "$(jget "$run/q.json" "j[0]['file_id'] + ' ' + j[0]['uploader'] + ' ' + j[0]['ttp_sig']")" = "audit-f2 bob $(b64of "$d/ttp_up2")" ] ||
	fail "uploads row: $(cat "$run/q.json")"
ok "uploads: both files, filtered by uploader and time"

# ---- show ----
"$tds" audit --defaults-file "$aud" show audit-f1 > "$run/show.txt" || fail "show: $(cat "$run/show.txt")"
for want in "uploader  *alice" "downloader  *bob" "name  *Contract.pdf" "upload_nonce  *$(b64of "$d/up_nonce")" \
	"nrr  *$(b64of "$d/nrr")" "ttp_sig  *$(b64of "$d/ttp_up")" "ttp_sig  *$(b64of "$d/ttp_ex")" "exchange 1 of 1"; do
	grep -q -- "$want" "$run/show.txt" || fail "show lacks '$want': $(cat "$run/show.txt")"
done
"$tds" audit --defaults-file "$aud" show audit-f1 --json > "$run/show.json" || fail "show --json"
[ "$(jget "$run/show.json" "j['upload']['uploader'] + ' ' + j['exchanges'][0]['downloader'] + ' ' + str(len(j['exchanges']))")" = "alice bob 1" ] ||
	fail "show --json: $(cat "$run/show.json")"
"$tds" audit --defaults-file "$aud" show audit-f2 > "$run/show2.txt" || fail "show audit-f2"
grep -q "no completed exchange" "$run/show2.txt" || fail "show audit-f2: $(cat "$run/show2.txt")"
if "$tds" audit --defaults-file "$aud" show no-such-file > "$run/out.txt" 2>&1; then fail "show of an unknown file"; fi
grep -q "no completed upload of no-such-file" "$run/out.txt" || fail "unknown file: $(cat "$run/out.txt")"
ok "show: the upload and its exchange in full, both parties; an unknown file exits 1"

# ---- usage errors: exit 2, nothing spliced ----
expect_exit() {
	local want=$1 rc=0
	shift
	"$tds" audit "$@" > "$run/out.txt" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "tds audit $*: exit $rc, want $want: $(cat "$run/out.txt")"
}
expect_exit 2 --defaults-file "$aud" exchanges --since yesterday
grep -q -- "--since yesterday" "$run/out.txt" || fail "bad --since message: $(cat "$run/out.txt")"
expect_exit 2 --defaults-file "$aud" exchanges --until 2030-02-30T00:00:00Z
expect_exit 2 --defaults-file "$aud" exchanges --user "alice' OR '1'='1"
expect_exit 2 --defaults-file "$aud" exchanges --file-id "x' OR 1=1 -- "
expect_exit 2 --defaults-file "$aud" show
expect_exit 2 --defaults-file "$aud" show audit-f1 --user bob
expect_exit 2 --defaults-file "$aud" frobnicate
expect_exit 2
ok "bad --since/--until, user, file id or verb: exit 2"

# ---- option file missing, server unreachable: exit 1, clear message ----
expect_exit 1 --defaults-file "$run/nope.cnf" exchanges
grep -q "option file $run/nope.cnf: No such file or directory" "$run/out.txt" || fail "missing cnf: $(cat "$run/out.txt")"
TDS_HOME=$run/empty-home expect_exit 1 exchanges
grep -q "option file $run/empty-home/auditor.cnf" "$run/out.txt" || fail "missing home cnf: $(cat "$run/out.txt")"
(umask 077; printf '[client]\nuser=tds_auditor\npassword=x\nsocket=%s/no.sock\ndatabase=tds\n' "$run" > "$run/dead.cnf")
expect_exit 1 --defaults-file "$run/dead.cnf" exchanges
grep -q "cannot connect to MariaDB" "$run/out.txt" || fail "unreachable: $(cat "$run/out.txt")"
(umask 077; grep -v '^database=' "$aud" > "$run/nodb.cnf")
expect_exit 1 --defaults-file "$run/nodb.cnf" exchanges
grep -q "no database selected" "$run/out.txt" || fail "no database: $(cat "$run/out.txt")"
ok "missing option file, unreachable server, no database: exit 1 naming the cause"

# ---- the auditor account is read-only ----
for sql in "DELETE FROM downloads_completed" "DELETE FROM audit_exchanges" \
	"UPDATE uploads_completed SET size = 0" "INSERT INTO users VALUES ('x', 'k', REPEAT('a', 32), NOW())" \
	"SELECT COUNT(*) FROM uploads_completed" "DROP VIEW audit_uploads"; do
	if mariadb --defaults-file="$aud" -e "$sql" > /dev/null 2>&1; then
		fail "auditor could run: $sql"
	fi
done
[ "$(admin -N -e "SELECT COUNT(*) FROM downloads_completed")" = 1 ] || fail "rows changed"
ok "the auditor account cannot write, nor read the tables behind the views"

echo "$pass passed, 0 failed"
