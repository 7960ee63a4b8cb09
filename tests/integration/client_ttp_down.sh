#!/usr/bin/env bash
# client_ttp_down.sh BUILD_DIR: with the TTP daemon stopped, a request
# times out with exit 3 and a message naming the TTP, and a download that
# timed out finishes when run again once the daemon is back (it resumes
# with the same messages); with the broker stopped too, exit 3 and a
# message naming the broker.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 600

stack_up
new_user carol
new_user dave
run_tds 0 --home "$homes/carol" catalog
doc=$run/doc.bin
head -c 100000 /dev/urandom > "$doc"
run_tds 0 --home "$homes/carol" upload "$doc" --file-id doc-1
ok "catalog and upload answer while the stack is up"

stop_pid() {
	local pid
	pid=$(head -n1 "$1")
	kill -TERM "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$pid" 2>/dev/null || true
}

stop_pid "$TDS_RUN_DIR/ttp/ttpd.pid"
start=$(date +%s)
run_tds 3 --home "$homes/carol" catalog --timeout 5
took=$(($(date +%s) - start))
grep -q "no reply from the TTP within 5 s" "$out/stderr" || fail "TTP down: $(cat "$out/stderr")"
grep -q "tds-stack status" "$out/stderr" || fail "no hint: $(cat "$out/stderr")"
[ "$took" -le 20 ] || fail "took $took s with --timeout 5"
ok "TTP down: exit 3 in $took s, naming the TTP: $(cat "$out/stderr")"

run_tds 3 --home "$homes/dave" download doc-1 -o "$run/got.bin" --timeout 3
[ ! -e "$run/got.bin" ] || fail "output written without a delivery"
run_tds 0 --home "$homes/dave" downloads --json
[ "$(json "(j[0]['state'], j[0]['stage'])" < "$out/stdout")" = "('in_progress', 'requested')" ] ||
	fail "record after the timeout: $(cat "$out/stdout")"
"$stack" up > "$run/up2.log" 2>&1 || fail "daemon restart: $(cat "$run/up2.log")"
ttp_ready
run_tds 0 --home "$homes/dave" download doc-1 -o "$run/got.bin"
cmp "$doc" "$run/got.bin" || fail "resumed download differs"
run_tds 0 --home "$homes/dave" downloads --json
[ "$(json "[e['state'] for e in j]" < "$out/stdout")" = "['done']" ] || fail "records: $(cat "$out/stdout")"
run_tds 0 --home "$homes/carol" receipts
[ "$(wc -l < "$out/stdout")" = 1 ] || fail "receipts after the resumed download: $(cat "$out/stdout")"
ok "a download that timed out resumes once the TTP is back: one exchange, one receipt"

stop_pid "$TDS_RUN_DIR/ttp/ttpd.pid"

stop_pid "$TDS_RUN_DIR/broker/broker.pid"
start=$(date +%s)
run_tds 3 --home "$homes/carol" catalog --timeout 5
took=$(($(date +%s) - start))
grep -q "cannot reach the Kafka broker at $TDS_BOOTSTRAP" "$out/stderr" || fail "broker down: $(cat "$out/stderr")"
[ "$took" -le 20 ] || fail "took $took s with --timeout 5"
ok "broker down: exit 3 in $took s, naming the broker: $(cat "$out/stderr")"

run_tds 3 --home "$homes/carol" upload "$TDS_TTP_PUBLIC_KEY" --timeout 3
grep -q "Kafka broker" "$out/stderr" || fail "upload, broker down: $(cat "$out/stderr")"
ok "upload with the broker down: exit 3"

echo "$pass passed, 0 failed"
