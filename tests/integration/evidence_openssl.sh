#!/usr/bin/env bash
# evidence_openssl.sh TEST_EVIDENCE: docs/evidence.md's by-hand check, run
# for real.  test_evidence writes a valid exchange and upload evidence
# (real keys, real signatures) into a temporary directory; this script
# then checks them with nothing but printf, base64, sha256sum and the
# openssl command line, exactly as the document tells a judge to: build
# each TBS with printf, decode signature and key into DER files, convert
# the key with `openssl pkey`, verify with `openssl dgst -sha256 -verify`.
# It also checks that the printf-built TBS are byte for byte the ones
# libtds signed, and that a tampered evidence fails the same recipe.
set -euo pipefail
test_evidence=$1
dir=$(mktemp -d /tmp/tds-evidence-openssl.XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }

TDS_EVIDENCE_OUT=$dir "$test_evidence" > "$dir/test.log" || fail "test_evidence: $(cat "$dir/test.log")"
cd "$dir"

# ---- the recipe of docs/evidence.md, section "By hand" ----
# field NAME: one field of the evidence file $ev, as text.
field() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ev" "$1"; }

# verify_sig WHAT TBS SIG_FIELD KEY_FIELD: openssl dgst over TBS.
verify_sig() {
	field "$3" | base64 -d > "$1.sig.der"
	field "$4" | base64 -d > "$1.key.der"
	openssl pkey -pubin -inform DER -in "$1.key.der" -out "$1.key.pem"
	openssl dgst -sha256 -verify "$1.key.pem" -signature "$1.sig.der" "$2"
}

ev=exchange.json
printf 'tds/1 nro\nfile_id=%s\nuploader=%s\nsha256=%s\nsize=%s\nnonce=%s\n' \
	"$(field file_id)" "$(field uploader)" "$(field sha256)" \
	"$(field size)" "$(field upload_nonce)" > nro.txt
printf 'tds/1 nrr\nfile_id=%s\ndownloader=%s\nsha256=%s\nnro_sha256=%s\nnonce=%s\n' \
	"$(field file_id)" "$(field downloader)" "$(field sha256)" \
	"$(field nro_sha256)" "$(field download_nonce)" > nrr.txt
printf 'tds/1 evidence\nevent=%s\nfile_id=%s\nuploader=%s\ndownloader=%s\nsha256=%s\nnro_sha256=%s\nnrr_sha256=%s\ntime=%s\n' \
	"$(field kind)" "$(field file_id)" "$(field uploader)" \
	"$(field downloader)" "$(field sha256)" "$(field nro_sha256)" \
	"$(field nrr_sha256)" "$(field time)" > evidence.txt

cmp nro.txt exchange.nro.tbs || fail "printf NRO TBS differs from the one signed"
cmp nrr.txt exchange.nrr.tbs || fail "printf NRR TBS differs from the one signed"
cmp evidence.txt exchange.evidence.tbs || fail "printf evidence TBS differs from the one signed"
ok "the printf-built TBS strings are the bytes libtds signed"

out=$(verify_sig nro nro.txt nro uploader_public_key) || fail "NRO: $out"
[ "$out" = "Verified OK" ] || fail "NRO: $out"
ok "NRO verifies under uploader_public_key with openssl dgst"

[ "$(sha256sum < nro.sig.der | cut -d' ' -f1)" = "$(field nro_sha256)" ] || fail "nro_sha256"
out=$(verify_sig nrr nrr.txt nrr downloader_public_key) || fail "NRR: $out"
[ "$out" = "Verified OK" ] || fail "NRR: $out"
[ "$(sha256sum < nrr.sig.der | cut -d' ' -f1)" = "$(field nrr_sha256)" ] || fail "nrr_sha256"
ok "nro_sha256 and nrr_sha256 are sha256sum of the signatures; NRR verifies"

out=$(verify_sig ttp evidence.txt ttp_sig ttp_public_key) || fail "TTP: $out"
[ "$out" = "Verified OK" ] || fail "TTP: $out"
key_id=$(openssl pkey -pubin -in ttp.key.pem -outform DER | sha256sum | cut -d' ' -f1)
[ "$key_id" = "$(cat ttp_key_id)" ] || fail "TTP key id $key_id"
ok "TTP countersignature verifies; key id by openssl pkey | sha256sum is the TTP's"

[ "$(sha256sum < document | cut -d' ' -f1)" = "$(field sha256)" ] || fail "document sha256"
[ "$(stat -c %s document)" = "$(field size)" ] || fail "document size"
ok "the document's sha256sum and size match"

# The upload evidence: same recipe, empty downloader and nrr_sha256.
ev=upload.json
printf 'tds/1 evidence\nevent=%s\nfile_id=%s\nuploader=%s\ndownloader=%s\nsha256=%s\nnro_sha256=%s\nnrr_sha256=%s\ntime=%s\n' \
	"$(field kind)" "$(field file_id)" "$(field uploader)" \
	"$(field downloader)" "$(field sha256)" "$(field nro_sha256)" \
	"$(field nrr_sha256)" "$(field time)" > upload-evidence.txt
cmp upload-evidence.txt upload.evidence.tbs || fail "upload evidence TBS"
out=$(verify_sig up upload-evidence.txt ttp_sig ttp_public_key) || fail "upload TTP: $out"
[ "$out" = "Verified OK" ] || fail "upload TTP: $out"
ok "upload evidence: TTP countersignature verifies"

# A time changed by one second: the same recipe must fail.
ev=tampered-time.json
printf 'tds/1 evidence\nevent=%s\nfile_id=%s\nuploader=%s\ndownloader=%s\nsha256=%s\nnro_sha256=%s\nnrr_sha256=%s\ntime=%s\n' \
	"$(field kind)" "$(field file_id)" "$(field uploader)" \
	"$(field downloader)" "$(field sha256)" "$(field nro_sha256)" \
	"$(field nrr_sha256)" "$(field time)" > tampered.txt
if out=$(verify_sig bad tampered.txt ttp_sig ttp_public_key 2>&1); then
	fail "tampered time verified: $out"
fi
echo "$out" | grep -q "Verification failure" || fail "tampered: $out"
ok "a time changed by one second fails openssl dgst -verify"

echo "$pass passed, 0 failed"
