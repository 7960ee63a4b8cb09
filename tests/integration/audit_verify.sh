#!/usr/bin/env bash
# audit_verify.sh BUILD_DIR TEST_EVIDENCE: `tds verify` as a judge runs
# it, offline, on evidence made with real keys by test_evidence: valid
# files exit 0 with the summary, a tampered one exits 4 naming what
# failed, the TTP key can be pinned by key id or by its PEM file, the
# document is checked with --file, --json says the same, a malformed file
# exits 1 naming the field and bad usage exits 2.
#
# $TDS_CLIENT overrides the client binary (default BUILD_DIR/client/tds).
set -euo pipefail
build=$(cd "$1" && pwd)
test_evidence=$2
tds=${TDS_CLIENT:-$build/client/tds}
dir=$(mktemp -d /tmp/tds-audit-verify.XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
jget() { /usr/bin/python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

if ! "$tds" verify --help > "$dir/help.txt" 2>&1 || ! grep -q "tds verify" "$dir/help.txt"; then
	fail "tds verify not wired into $tds: $(head -n 3 "$dir/help.txt")"
fi
TDS_EVIDENCE_OUT=$dir "$test_evidence" > "$dir/test.log" || fail "test_evidence: $(cat "$dir/test.log")"
cd "$dir"
ttp_id=$(cat ttp_key_id)
base64 -d ttp_public_key.b64 | openssl pkey -pubin -inform DER -out ttp.pem
openssl ecparam -genkey -name prime256v1 -noout 2> /dev/null | openssl pkey -pubout -out other.pem

# expect WANT_EXIT ARGS...: run tds verify, output in out.txt.
expect() {
	local want=$1 rc=0
	shift
	"$tds" verify "$@" > out.txt 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "tds verify $*: exit $rc, want $want: $(cat out.txt)"
}
has() { grep -q -- "$1" out.txt || fail "no '$1' in: $(cat out.txt)"; }

expect 0 exchange.json --file document --ttp-key-id "$ttp_id"
for want in "kind        exchange" "uploader    alice (key id " "downloader  bob (key id " \
	"NRO valid" "NRR valid" "TTP countersignature valid (key id $ttp_id)" \
	"TTP key id is the expected one" "document matches (document)" "^VALID$"; do
	has "$want"
done
grep -q "WARNING" out.txt && fail "warning with a pinned key"
ok "a valid exchange with its document and the pinned TTP key: exit 0, summary"

expect 0 upload.json --ttp-key ttp.pem
has "kind        upload"
grep -q "NRR valid" out.txt && fail "NRR in an upload's summary"
expect 0 exchange.json
has "WARNING: TTP key not pinned"
ok "upload evidence pinned by PEM; without a pin a warning says so"

expect 4 tampered-time.json
has "tds verify: INVALID: TTP signature (ttp_sig) does not verify"
expect 4 exchange.json --file document-alt
has "INVALID: document SHA-256"
expect 4 exchange.json --ttp-key other.pem
has "INVALID: TTP key id $ttp_id is not the expected"
expect 0 forged-ttp.json
expect 4 forged-ttp.json --ttp-key-id "$ttp_id"
has "is not the expected $ttp_id"
ok "tampered time, other document, other TTP key, forged TTP: exit 4 with the reason"

"$tds" verify exchange.json --json --file document --ttp-key-id "$ttp_id" > v.json || fail "--json valid"
[ "$(jget v.json "(j['valid'], j['reason'], j['kind'], j['uploader'], j['downloader'], j['ttp_key_id'] == '$ttp_id', j['ttp_key_pinned'], j['document_matches'])")" = \
	"(True, None, 'exchange', 'alice', 'bob', True, True, True)" ] || fail "--json: $(cat v.json)"
rc=0
"$tds" verify exchange.json --json --file document-alt > v.json || rc=$?
[ "$rc" = 4 ] || fail "--json invalid exit $rc"
[ "$(jget v.json "(j['valid'], 'document SHA-256' in j['reason'], j['document_matches'])")" = "(False, True, False)" ] ||
	fail "--json invalid: $(cat v.json)"
ok "--json: the verdict and the parties as one object, exit code unchanged"

expect 1 malformed-unknown-field.json
has 'unknown field "comment"'
expect 1 no-such-file.json
has "no-such-file.json: No such file or directory"
expect 1 exchange.json --file no-such-document
has "no-such-document"
expect 1 exchange.json --ttp-key no-such-key.pem
expect 1 document
has "not valid JSON"
ok "malformed or unreadable input: exit 1 naming the field or the file"

expect 2
expect 2 exchange.json upload.json
expect 2 exchange.json --ttp-key-id 1234
expect 2 exchange.json --ttp-key-id "$ttp_id" --ttp-key ttp.pem
expect 2 exchange.json --frobnicate
ok "usage errors: exit 2"

echo "$pass passed, 0 failed"
