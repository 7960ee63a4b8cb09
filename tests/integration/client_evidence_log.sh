#!/usr/bin/env bash
# client_evidence_log.sh BUILD_DIR: the evidence log driven with the tds
# client on a private local stack (issue 5): real exchanges, then
# `tds bundle` on the parties' evidence (checked offline by `tds verify`),
# `tds log head` twice, `tds audit log-check` between the heads and
# `tds audit log-recompute` with the auditor account.  Then the history
# is rewritten behind the TTP's back (one leaf changed in the database
# with the admin account): log-recompute names the leaf and then the head
# it breaks, log-check proves the rewrite, `tds bundle` finds no leaf for
# the evidence any more, and the bundle made before still verifies
# offline: it needs nothing from the TTP.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 800

stack_up
new_user alice
new_user bob
admin() { mariadb --defaults-file="$TDS_DB_ADMIN_CNF" tds "$@"; }
ttp_key=$TDS_TTP_PUBLIC_KEY
ok "private stack up, alice and bob registered"

# Leaf 0: alice's upload; leaf 1: bob's download of it; leaf 2: bob's upload.
doc=$run/contract.pdf
head -c 5000 /dev/urandom > "$doc"
run_tds 0 --home "$homes/alice" upload "$doc" --name contract.pdf
f1=$(cat "$out/stdout")
cd "$run"
run_tds 0 --home "$homes/bob" download "$f1"
run_tds 0 --home "$homes/alice" receipts
doc2=$run/reply.txt
echo "bob's reply" > "$doc2"
run_tds 0 --home "$homes/bob" upload "$doc2"
f2=$(cat "$out/stdout")
up=$homes/alice/evidence/$f1.upload.json
ex=$(ls "$homes/bob/evidence/$f1".delivery.*.json)
up2=$homes/bob/evidence/$f2.upload.json
ok "three events: an upload, its exchange, another upload"

run_tds 0 --home "$homes/alice" bundle "$up"
[ -s "${up%.json}.bundle.json" ] || fail "no ${up%.json}.bundle.json"
grep -q "leaf 0 of the TTP's evidence log" "$out/stdout" || fail "bundle: $(cat "$out/stdout")"
run_tds 0 --home "$homes/bob" bundle "$ex" -o "$run/exchange.bundle.json"
run_tds 0 --home "$homes/bob" --json bundle "$up2" -o "$run/up2.bundle.json"
[ "$(json "j['leaf_index']" < "$out/stdout")" = 2 ] || fail "bundle --json: $(cat "$out/stdout")"
[ "$(stat -c %a "$run/exchange.bundle.json")" = 644 ] || fail "bundle mode"
ok "tds bundle: upload, exchange and second upload at leaves 0, 1, 2"

run_tds 0 verify "${up%.json}.bundle.json" --ttp-key "$ttp_key" --file "$doc"
grep -q "^log leaf    0 of a tree of" "$out/stdout" || fail "verify: $(cat "$out/stdout")"
run_tds 0 verify "$run/exchange.bundle.json" --ttp-key "$ttp_key" --file "$doc"
grep -q "^PROVEN: alice" "$out/stdout" || fail "verify: $(cat "$out/stdout")"
grep -q "bob (key id .*) received it" "$out/stdout" || fail "verify: $(cat "$out/stdout")"
[ "$(tail -n 1 "$out/stdout")" = VALID ] || fail "verify: $(cat "$out/stdout")"
run_tds 4 verify "$run/exchange.bundle.json" --ttp-key "$ttp_key" --file "$doc2"
grep -q "INVALID: evidence: document" "$out/stdout" || fail "other doc: $(cat "$out/stdout")"
"$py" - "$run/exchange.bundle.json" "$run/bad.bundle.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
b["leaf_index"] ^= 1
json.dump(b, open(sys.argv[2], "w"))
EOF
run_tds 4 verify "$run/bad.bundle.json" --ttp-key "$ttp_key"
grep -q "INVALID: inclusion proof" "$out/stdout" || fail "bad index: $(cat "$out/stdout")"
ok "tds verify: the bundles are VALID offline, with the document; a moved leaf is not"

for f in "${up%.json}.bundle.json" "$run/exchange.bundle.json"; do
	bash "$root/tests/disputes/bundle_openssl.sh" --bundle "$f" "$ttp_key" > "$run/recipe.log" 2>&1 ||
		fail "the openssl recipe on $f: $(cat "$run/recipe.log")"
done
ok "docs/evidence.md's openssl recipe holds on the TTP's own bundles"

run_tds 0 --home "$homes/alice" log head -o "$run/h3.json"
[ "$(json "j['tree_size']" < "$run/h3.json")" = 3 ] || fail "head: $(cat "$run/h3.json")"
run_tds 0 verify "$run/h3.json" --ttp-key "$ttp_key"
grep -q "^tree size   3 leaves" "$out/stdout" || fail "verify head: $(cat "$out/stdout")"
echo more > "$run/more.txt"
run_tds 0 --home "$homes/alice" upload "$run/more.txt"
(cd "$run" && run_tds 0 --home "$homes/alice" log head)
[ -s "$run/tree-head-4.json" ] || fail "no tree-head-4.json: $(cat "$out/stdout")"
run_tds 0 verify "$run/tree-head-4.json" --ttp-key "$ttp_key"
ok "tds log head: heads of 3 and 4 leaves, verified"

run_tds 1 --home "$homes/nobody" audit log-check "$run/h3.json" "$run/tree-head-4.json"
grep -q "tds init" "$out/stderr" || fail "log-check without a user: $(cat "$out/stderr")"
run_tds 0 --home "$homes/alice" audit log-check "$run/h3.json" "$run/tree-head-4.json"
grep -q "^CONSISTENT: the log of 3 leaves" "$out/stdout" || fail "log-check: $(cat "$out/stdout")"
run_tds 0 --home "$homes/alice" audit log-check "$run/tree-head-4.json" "$run/h3.json"
run_tds 0 --home "$homes/alice" audit log-check "$run/h3.json" "$run/h3.json"
grep -q "the same tree" "$out/stdout" || fail "same head: $(cat "$out/stdout")"
ok "tds audit log-check: 3 is a prefix of 4 (either order), a head of itself; needs a user"

run_tds 0 audit --defaults-file "$TDS_DB_AUDITOR_CNF" log-recompute --ttp-key "$ttp_key"
grep -q "^leaves         4 " "$out/stdout" || fail "recompute: $(cat "$out/stdout")"
grep -q "^VALID" "$out/stdout" || fail "recompute: $(cat "$out/stdout")"
run_tds 0 --json audit --defaults-file "$TDS_DB_AUDITOR_CNF" log-recompute --ttp-key "$ttp_key"
[ "$(json "(j['valid'], j['leaves'], j['heads_checked'] >= 2, j['latest_head']['tree_size'])" < "$out/stdout")" = \
	"(True, 4, True, 4)" ] || fail "recompute --json: $(cat "$out/stdout")"
ok "tds audit log-recompute: 4 leaves rebuilt, every signed head checked"

# ---- a rewritten history: leaf 2 (bob's upload) changed in place ----
admin -e "UPDATE log_leaves SET leaf = CONCAT(leaf, 'x') WHERE leaf_index = 2"
run_tds 4 audit --defaults-file "$TDS_DB_AUDITOR_CNF" log-recompute --ttp-key "$ttp_key"
grep -q "INVALID: leaf 2: leaf_hash .* is not SHA-256(0x00 || leaf)" "$out/stdout" ||
	fail "recompute after leaf change: $(cat "$out/stdout")"
admin -e "UPDATE log_leaves SET leaf_hash = UNHEX(SHA2(CONCAT(0x00, leaf), 256)) WHERE leaf_index = 2"
run_tds 4 audit --defaults-file "$TDS_DB_AUDITOR_CNF" log-recompute --ttp-key "$ttp_key"
grep -q "INVALID: head of 3 leaves .*root_hash .*, but the leaves give" "$out/stdout" ||
	fail "recompute after a consistent rewrite: $(cat "$out/stdout")"
ok "log-recompute: a changed leaf, then a consistently rehashed one, named (exit 4)"

run_tds 4 --home "$homes/alice" audit log-check "$run/h3.json" "$run/tree-head-4.json"
grep -q "INVALID: consistency proof: .*rewritten" "$out/stdout" || fail "log-check: $(cat "$out/stdout")"
run_tds 4 --home "$homes/bob" bundle "$up2" -o "$run/again.json"
grep -q "INVALID: the TTP's evidence log has no leaf for this evidence" "$out/stdout" ||
	fail "bundle of a rewritten leaf: $(cat "$out/stdout")"
[ ! -e "$run/again.json" ] || fail "a bundle was written"
run_tds 0 verify "$run/up2.bundle.json" --ttp-key "$ttp_key" --file "$doc2"
ok "the rewrite is proven by log-check; the old bundle still verifies offline"

echo "$pass passed, 0 failed"
