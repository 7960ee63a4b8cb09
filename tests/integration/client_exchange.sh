#!/usr/bin/env bash
# client_exchange.sh BUILD_DIR: a full exchange driven with the tds client
# on a private local stack: init and register (a retry is harmless, a key
# conflict is exit 1), upload, catalog, download, receipts, the local
# records, the evidence files (checked with tds verify), abort (outcome 3)
# and a download of the aborted file (exit 1).
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 0

stack_up
ok "private stack up in $run"

run_tds 0 --home "$homes/alice" init --user alice --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY"
alice_key=$(cat "$out/stdout")
[[ "$alice_key" =~ ^[0-9a-f]{64}$ ]] || fail "init printed '$alice_key', not a key id"
[ "$(stat -c %a "$homes/alice")" = 700 ] || fail "home mode $(stat -c %a "$homes/alice")"
[ "$(stat -c %a "$homes/alice/key.pem")" = 600 ] || fail "key.pem mode"
grep -q "^kafka.bootstrap.servers $TDS_BOOTSTRAP\$" "$homes/alice/config" || fail "config: $(cat "$homes/alice/config")"
grep -q "^store_root *$TDS_STORE\$" "$homes/alice/config" || fail "config has no store_root"
run_tds 1 --home "$homes/alice" init --user alice --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY"
grep -q -- "--force" "$out/stderr" || fail "second init: $(cat "$out/stderr")"
run_tds 2 --home "$homes/x" init --user Alice --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY"
grep -q "Alice" "$out/stderr" || fail "bad user name not named: $(cat "$out/stderr")"
ok "init: key id, modes 0700/0600, config; a second init needs --force; a bad name is usage"

run_tds 0 --home "$homes/alice" register
[ "$(cat "$out/stdout")" = "$alice_key" ] || fail "register printed $(cat "$out/stdout")"
run_tds 0 --home "$homes/alice" register
[ "$(cat "$out/stdout")" = "$alice_key" ] || fail "second register printed $(cat "$out/stdout")"
grep -q "$alice_key" "$homes/alice/registered" || fail "key id not recorded in the home"
run_tds 0 --home "$homes/alice" key-id
[ "$(cat "$out/stdout")" = "$alice_key" ] || fail "key-id differs"
new_user bob
ok "register prints the key id, a retry is harmless"

"$tds" --home "$homes/mallory" init --user alice --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY" > /dev/null
run_tds 1 --home "$homes/mallory" register
grep -q "another key" "$out/stderr" || fail "key conflict message: $(cat "$out/stderr")"
ok "register of a known name with another key: exit 1, key_conflict explained"

doc=$run/report.bin
head -c 409600 /dev/urandom > "$doc"
run_tds 0 --home "$homes/alice" upload "$doc" --name "Quarterly report.bin"
file_id=$(cat "$out/stdout")
[[ "$file_id" =~ ^[0-9a-f-]{36}$ ]] || fail "upload printed '$file_id'"
[ ! -s "$out/stderr" ] || fail "upload is not quiet: $(cat "$out/stderr")"
[ -s "$homes/alice/evidence/$file_id.upload.json" ] || fail "no upload evidence"
run_tds 0 verify "$homes/alice/evidence/$file_id.upload.json" --ttp-key "$TDS_TTP_PUBLIC_KEY" --file "$doc"
ok "upload prints the file id, quietly, and keeps verifiable upload evidence"

run_tds 0 --home "$homes/bob" catalog --json
"$py" -m json.tool < "$out/stdout" > /dev/null || fail "catalog --json is not JSON"
entry=$(json "[e for e in j if e['file_id'] == '$file_id']" < "$out/stdout")
[ "$entry" != "[]" ] || fail "file $file_id not in the catalog: $(cat "$out/stdout")"
got=$(json "[(e['uploader'], e['name'], e['size'], e['sha256']) for e in j if e['file_id'] == '$file_id'][0]" < "$out/stdout")
[ "$got" = "('alice', 'Quarterly report.bin', 409600, '$(sha256 "$doc")')" ] || fail "catalog entry: $got"
run_tds 0 --home "$homes/bob" catalog
grep -q "^$file_id  Quarterly report.bin" "$out/stdout" || fail "catalog table: $(cat "$out/stdout")"
ok "bob sees the file in the catalog (JSON and table)"

cd "$run"
run_tds 0 --home "$homes/bob" download "$file_id"
[ "$(cat "$out/stdout")" = "$run/$file_id" ] || fail "download printed $(cat "$out/stdout")"
cmp "$doc" "$run/$file_id" || fail "downloaded copy differs"
ev=$(ls "$homes/bob/evidence/$file_id".delivery.*.json)
[[ "$(basename "$ev")" =~ ^$file_id\.delivery\.[0-9a-f]{8}\.json$ ]] || fail "evidence name $ev"
run_tds 0 verify "$ev" --ttp-key "$TDS_TTP_PUBLIC_KEY" --file "$doc"
ok "bob downloads to ./FILE_ID, identical, with verifiable exchange evidence"

run_tds 1 --home "$homes/bob" download "$file_id"
grep -q "already exists" "$out/stderr" || fail "overwrite: $(cat "$out/stderr")"
ok "download refuses to overwrite without --force"

run_tds 0 --home "$homes/alice" receipts
[ "$(wc -l < "$out/stdout")" = 1 ] || fail "receipts printed: $(cat "$out/stdout")"
grep -q "^$file_id  bob  " "$out/stdout" || fail "receipt line: $(cat "$out/stdout")"
receipts=("$homes/alice/evidence/$file_id".receipt.bob.*.json)
[ ${#receipts[@]} = 1 ] && [ -s "${receipts[0]}" ] || fail "receipt evidence: ${receipts[*]}"
run_tds 0 verify "${receipts[0]}" --ttp-key "$TDS_TTP_PUBLIC_KEY" --file "$doc"
run_tds 0 --home "$homes/alice" receipts --json
[ "$(json "len(j)" < "$out/stdout")" = 0 ] || fail "a second receipts found more: $(cat "$out/stdout")"
ok "alice collects exactly one receipt, verifiable; a second run finds none"

run_tds 0 --home "$homes/alice" uploads --json
[ "$(json "[(e['file_id'], e['state'], e['receipts']) for e in j]" < "$out/stdout")" = "[('$file_id', 'done', 1)]" ] ||
	fail "uploads: $(cat "$out/stdout")"
run_tds 0 --home "$homes/bob" downloads --json
[ "$(json "[(e['file_id'], e['state'], e['uploader']) for e in j]" < "$out/stdout")" = "[('$file_id', 'done', 'alice')]" ] ||
	fail "downloads: $(cat "$out/stdout")"
run_tds 0 --home "$homes/alice" uploads
grep -q "^$file_id .* done  *1 " "$out/stdout" || fail "uploads table: $(cat "$out/stdout")"
ok "uploads/downloads show the exchange done, with its receipt"

run_tds 0 --home "$homes/alice" abort "$file_id" --json
[ "$(json "(j['abort'], j['verified'])" < "$out/stdout")" = "(3, True)" ] || fail "abort: $(cat "$out/stdout")"
run_tds 0 --home "$homes/alice" uploads --json
[ "$(json "j[0]['state']" < "$out/stdout")" = aborted ] || fail "record not aborted"
ok "abort after a download: outcome 3, the TTP's signature verified"

run_tds 1 --home "$homes/bob" download "$file_id" -o "$run/again.bin"
grep -q "aborted" "$out/stderr" || fail "download of an aborted file: $(cat "$out/stderr")"
[ ! -e "$run/again.bin" ] || fail "output written for an aborted file"
run_tds 1 --home "$homes/alice" abort "$file_id"
grep -q "already aborted" "$out/stderr" || fail "second abort: $(cat "$out/stderr")"
ok "a download of the aborted file fails with exit 1 naming the abort"

doc2=$run/small.txt
echo "hello" > "$doc2"
run_tds 0 --home "$homes/alice" upload "$doc2" --file-id small-1
run_tds 0 --home "$homes/alice" abort small-1
grep -q "outcome 2" "$out/stdout" || fail "abort before download: $(cat "$out/stdout")"
run_tds 1 --home "$homes/alice" upload "$doc2" --file-id small-1
grep -q "another --file-id" "$out/stderr" || fail "reuse of a file id: $(cat "$out/stderr")"
ok "abort before any download: outcome 2; a file id is never reused"

run_tds 2 --home "$homes/bob" download
run_tds 2 --home "$homes/bob" download "bad/id"
run_tds 2 --home "$homes/bob" upload
run_tds 2 --home "$homes/bob" catalog --no-such-option
ok "usage errors exit 2"

echo "$pass passed, 0 failed"
