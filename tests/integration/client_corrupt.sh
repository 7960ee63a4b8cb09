#!/usr/bin/env bash
# client_corrupt.sh BUILD_DIR: a document changed in the store after the
# TTP verified it: the download fails loudly (exit 4, the message names
# SHA-256 and both hashes), leaves no output file and no evidence.  And a
# challenge whose NRO does not cover what it claims (the TTP's database
# altered): the download fails with exit 4 BEFORE anything is signed, so
# the TTP never gets a receipt and the uploader none either.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 400

stack_up
new_user alice
new_user bob
doc=$run/doc.bin
head -c 200000 /dev/urandom > "$doc"
run_tds 0 --home "$homes/alice" upload "$doc"
file_id=$(cat "$out/stdout")
ok "alice uploaded $file_id"

# B cannot know object_path before step 8: corrupt every object.
n=0
for obj in "$TDS_STORE"/objects/*; do
	[ -f "$obj" ] || continue
	chmod u+w "$obj"
	printf '\xff' | dd of="$obj" bs=1 seek=1000 conv=notrunc status=none
	n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no object in $TDS_STORE/objects"
ok "corrupted $n object(s) in the store"

run_tds 4 --home "$homes/bob" download "$file_id" -o "$run/out.bin"
grep -q "SHA-256" "$out/stderr" || fail "message: $(cat "$out/stderr")"
grep -q "$(sha256 "$doc")" "$out/stderr" || fail "expected hash not named: $(cat "$out/stderr")"
grep -q "VERIFICATION FAILED" "$out/stderr" || fail "not loud: $(cat "$out/stderr")"
[ ! -e "$run/out.bin" ] || fail "output file left behind"
ls -A "$run" | grep -q "out.bin" && fail "temporary output left: $(ls -A "$run")"
if ls "$homes/bob/evidence/$file_id".* > /dev/null 2>&1; then
	fail "evidence saved: $(ls "$homes/bob/evidence")"
fi
run_tds 0 --home "$homes/bob" downloads --json
[ "$(json "j[0]['state']" < "$out/stdout")" = failed ] || fail "record: $(cat "$out/stdout")"
ok "download of the corrupted object: exit 4 naming SHA-256, no output, no evidence, recorded failed"

doc2=$run/doc2.bin
head -c 50000 /dev/urandom > "$doc2"
run_tds 0 --home "$homes/alice" upload "$doc2" --file-id lied-about
mariadb --defaults-file="$TDS_DB_ADMIN_CNF" tds -e \
	"UPDATE uploads_completed SET sha256 = UNHEX(SHA2('another document', 256)) WHERE file_id = 'lied-about'" ||
	fail "cannot alter the TTP's database"
run_tds 4 --home "$homes/bob" download lied-about -o "$run/lied.bin"
grep -q "nro" "$out/stderr" && grep -q "no receipt was signed" "$out/stderr" ||
	fail "message: $(cat "$out/stderr")"
[ ! -e "$run/lied.bin" ] || fail "output written"
sleep 2
n=$(mariadb --defaults-file="$TDS_DB_ADMIN_CNF" tds -N -e \
	"SELECT COUNT(*) FROM downloads_completed WHERE file_id = 'lied-about'")
[ "$n" = 0 ] || fail "the TTP completed $n download(s) of lied-about"
run_tds 0 --home "$homes/alice" receipts --json
[ "$(json "[e['file_id'] for e in j if e['file_id'] == 'lied-about']" < "$out/stdout")" = "[]" ] ||
	fail "alice got a receipt for lied-about: $(cat "$out/stdout")"
ok "a challenge whose NRO does not verify: exit 4 before signing, no receipt anywhere"

echo "$pass passed, 0 failed"
