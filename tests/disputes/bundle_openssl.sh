#!/usr/bin/env bash
# bundle_openssl.sh MAKE_CORPUS | --bundle BUNDLE TTP_PUB_PEM
#
# docs/evidence.md's by-hand check of a
# bundle ("Checking a bundle by hand"), run for real on a fresh dispute
# corpus: the leaf rebuilt with printf and hashed with openssl dgst, the
# inclusion proof walked in bash with openssl dgst, the head's signature
# with openssl dgst -verify, the token with openssl ts -verify.  Nothing
# here uses TDS's code but make_corpus, which makes the bundles.  Valid
# bundles pass every step; tampered ones fail the step they aim at.  With
# --bundle, only the valid checks, on one bundle (client.evidence_log
# runs it on a bundle the real TTP made).
set -euo pipefail
dir=$(mktemp -d /tmp/tds-bundle-openssl.XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }

if [ "$1" = --bundle ]; then
	mkdir -p "$dir/corpus/keys" "$dir/corpus/given"
	cp "$2" "$dir/corpus/given/bundle.json"
	cp "$3" "$dir/corpus/keys/ttp.pem"
	only=given
else
	"$(realpath "$1")" "$dir/corpus" > /dev/null || fail "make_corpus"
	only=
fi
cd "$dir"

# ---- the recipe of docs/evidence.md, as functions over the bundle $b ----
# get PATH: one value of the bundle (a.b.0 for arrays), as text.
get() {
	/usr/bin/python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(" ".join(v) if isinstance(v, list) else v)' "$b" "$1"
}
# The key id of a base64 SPKI (nothing for an empty one, as in uploads).
key_id() { local k; k=$(cat); [ -z "$k" ] || echo "$k" | base64 -d | sha256sum | cut -d' ' -f1; }
# hex2bin HEX: the bytes; node LEFT RIGHT: SHA-256(0x01 || left || right).
hex2bin() { printf "$(echo "$1" | sed 's/../\\x&/g')"; }
node() { { printf '\x01'; hex2bin "$1"; hex2bin "$2"; } | openssl dgst -sha256 -r | cut -d' ' -f1; }

# Step 1: the leaf, rebuilt from the evidence, and its hash.
leaf_hash() {
	printf 'tds/1 leaf\nevent=%s\nfile_id=%s\nuploader=%s\nuploader_key_id=%s\ndownloader=%s\ndownloader_key_id=%s\nsha256=%s\nsize=%s\nupload_nonce=%s\ndownload_nonce=%s\nnro_sha256=%s\nnrr_sha256=%s\nabort=\ntime=%s\nttp_sig_sha256=%s\n' \
		"$(get evidence.kind)" "$(get evidence.file_id)" "$(get evidence.uploader)" \
		"$(get evidence.uploader_public_key | key_id)" "$(get evidence.downloader)" \
		"$(get evidence.downloader_public_key | key_id)" \
		"$(get evidence.sha256)" "$(get evidence.size)" "$(get evidence.upload_nonce)" \
		"$(get evidence.download_nonce)" "$(get evidence.nro_sha256)" \
		"$(get evidence.nrr_sha256)" "$(get evidence.time)" \
		"$(get evidence.ttp_sig | base64 -d | sha256sum | cut -d' ' -f1)" > leaf.txt
	printf '\x00' | cat - leaf.txt | openssl dgst -sha256 -r | cut -d' ' -f1
}

# Step 2: the inclusion proof (RFC 9162 2.1.3.2) from the leaf hash to a root.
proof_root() {
	local fn sn r p
	fn=$(get leaf_index)
	sn=$(($(get tree_head.tree_size) - 1))
	r=$(leaf_hash)
	for p in $(get inclusion_proof); do
		[ "$sn" = 0 ] && { echo "proof too long"; return; }
		if [ $((fn & 1)) = 1 ] || [ "$fn" = "$sn" ]; then
			r=$(node "$p" "$r")
			while [ $((fn & 1)) = 0 ] && [ "$fn" != 0 ]; do
				fn=$((fn >> 1)); sn=$((sn >> 1))
			done
		else
			r=$(node "$r" "$p")
		fi
		fn=$((fn >> 1)); sn=$((sn >> 1))
	done
	[ "$sn" = 0 ] && echo "$r" || echo "proof too short"
}

# Step 3: the head's TBS and the TTP's signature over it.
head_sig() {
	printf 'tds/1 tree_head\nlog_id=%s\ntree_size=%s\nroot_hash=%s\ntime=%s\n' \
		"$(get tree_head.log_id)" "$(get tree_head.tree_size)" \
		"$(get tree_head.root_hash)" "$(get tree_head.time)" > head.txt
	get tree_head.ttp_sig | base64 -d > head_sig.der
	openssl dgst -sha256 -verify ttp.pem -signature head_sig.der head.txt
}

# Step 4: the token over SHA-256 of the same bytes, by a TSA whose chain
# ends at a certificate holding the TTP key (or at the anchor you trust).
token() {
	local last
	get tree_head.timestamp_token | base64 -d > token.der
	get tree_head.tsa_chain.0 | base64 -d | openssl x509 -inform DER -out tsa.pem
	last=$(($(get tree_head.tsa_chain | wc -w) - 1))
	get tree_head.tsa_chain.$last | base64 -d | openssl x509 -inform DER -out ttp-ca.pem
	openssl ts -verify -digest "$(openssl dgst -sha256 -r head.txt | cut -d' ' -f1)" \
		-in token.der -token_in -CAfile ttp-ca.pem -untrusted tsa.pem "$@"
}
ca_key_id() { openssl x509 -in ttp-ca.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
gen_time() { openssl ts -reply -in token.der -token_in -text 2> /dev/null | sed -n 's/^Time stamp: //p'; }

cp corpus/keys/ttp.pem ttp.pem
ttp_id=$(openssl pkey -pubin -in ttp.pem -outform DER | sha256sum | cut -d' ' -f1)

# ---- valid bundles: every step holds ----
for c in ${only:-01-valid-upload 02-valid-exchange 03-valid-leaf-first 04-valid-leaf-middle \
	06-valid-tree-size-1}; do
	b=corpus/$c/bundle.json
	[ "$(get tree_head.log_id)" = "$ttp_id" ] || fail "$c: log_id is not the TTP key id"
	[ "$(proof_root)" = "$(get tree_head.root_hash)" ] || fail "$c: proof does not lead to root_hash"
	out=$(head_sig) && [ "$out" = "Verified OK" ] || fail "$c: head signature: $out"
	out=$(token 2>&1) && echo "$out" | grep -q "^Verification: OK" || fail "$c: token: $out"
	[ "$(ca_key_id)" = "$ttp_id" ] || fail "$c: the chain's anchor is not the TTP's certificate"
	[ -n "$(gen_time)" ] || fail "$c: no genTime"
done
ok "valid bundles: leaf by printf, proof walked with openssl dgst, head and token verify"
if [ -n "$only" ]; then
	echo "$pass passed, 0 failed"
	exit 0
fi

# The leaf printf'd from an upload has empty downloader fields.
b=corpus/01-valid-upload/bundle.json
leaf_hash > /dev/null
grep -q '^downloader=$' leaf.txt && grep -q '^downloader_key_id=$' leaf.txt || fail "upload leaf: $(cat leaf.txt)"
ok "an upload's leaf: downloader, its key id, nonce and nrr_sha256 empty"

# An old bundle: its TSA certificate has expired; checked at genTime.
b=corpus/11-valid-expired-tsa-certificate/bundle.json
[ "$(proof_root)" = "$(get tree_head.root_hash)" ] || fail "expired: proof"
out=$(head_sig) && [ "$out" = "Verified OK" ] || fail "expired: head signature: $out"
if token > out.txt 2>&1; then fail "expired: verified at today's date: $(cat out.txt)"; fi
at=$(date -u -d "$(gen_time)" +%s)
out=$(token -attime "$at" 2>&1) && echo "$out" | grep -q "^Verification: OK" || fail "expired at genTime: $out"
ok "an expired TSA certificate: openssl ts -verify fails today, passes with -attime genTime"

# ---- tampered bundles fail the step they aim at ----
b=corpus/27-proof-for-another-leaf/bundle.json
[ "$(proof_root)" != "$(get tree_head.root_hash)" ] || fail "another leaf's proof led to the root"
b=corpus/35-head-root-altered/bundle.json
if out=$(head_sig 2>&1); then fail "altered root verified: $out"; fi
echo "$out" | grep -q "Verification failure" || fail "altered root: $out"
b=corpus/42-token-over-another-head/bundle.json
head_sig > /dev/null || fail "42: head signature"
if out=$(token 2>&1); then fail "token over another head verified: $out"; fi
echo "$out" | grep -q "message imprint mismatch" || fail "42: $out"
b=corpus/43-token-by-foreign-tsa/bundle.json
head_sig > /dev/null || fail "43: head signature"
token > /dev/null 2>&1 || fail "43: the foreign TSA's token does not verify under its own CA"
[ "$(ca_key_id)" != "$ttp_id" ] || fail "43: foreign anchor holds the TTP key"
ok "tampered: another leaf's proof, an altered root, a token over another head, a foreign TSA"

echo "$pass passed, 0 failed"
