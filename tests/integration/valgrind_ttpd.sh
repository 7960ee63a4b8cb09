#!/usr/bin/env bash
# valgrind_ttpd.sh BUILD_DIR: the daemon under valgrind memcheck.
#
# The stack starts tds-ttpd under valgrind (TDS_TTPD_WRAPPER), complete
# exchanges and error cases go through it (registrations, a key conflict,
# uploads, downloads by two users, receipts, aborts before and after a
# download, a download of an aborted file and of an unknown file, a
# message that is not JSON and one with a bad signature sent straight to
# the request topic, a restart of MariaDB and another exchange after the
# daemon reconnected), then SIGTERM stops it.  Every valgrind report (the
# process before it detached, and the daemon) must say 0 errors, with
# definite and indirect leaks counted as errors; the figures are printed.
# tests/valgrind.supp holds the suppressions, each with its reason.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 1400
# Ports from tds-stack's random starts, not from a fixed base: stacks of
# other worktrees run the same client tests on this machine.
unset TDS_DB_PORT TDS_KAFKA_PORT
command -v valgrind > /dev/null || fail "valgrind is not installed (scripts/deps)"
supp=$root/tests/valgrind.supp
[ -s "$supp" ] || fail "$supp is missing"

start=$(date +%s)
export TDS_TTPD_WRAPPER="valgrind --tool=memcheck --leak-check=full
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no
	--num-callers=30 --suppressions=$supp --log-file=$run/ttp/valgrind.%p.log"
stack_up
ls "$run"/ttp/valgrind.*.log > /dev/null 2>&1 || fail "the daemon does not run under valgrind"
pid=$(head -n1 "$run/ttp/ttpd.pid")
grep -q "valgrind\|memcheck" "/proc/$pid/cmdline" 2> /dev/null ||
	[ -s "$run/ttp/valgrind.$pid.log" ] || fail "pid $pid is not under valgrind"
ok "stack up with tds-ttpd (pid $pid) under valgrind in $(($(date +%s) - start)) s"

for u in alice bob carol; do new_user "$u"; done
head -c 300000 /dev/urandom > "$run/doc1"
echo "a small one" > "$run/doc2"
echo "a third" > "$run/doc3"
run_tds 0 --home "$homes/alice" upload "$run/doc1" --file-id vg-1
run_tds 0 --home "$homes/alice" upload "$run/doc2" --file-id vg-2
run_tds 0 --home "$homes/bob" upload "$run/doc3" --file-id vg-3
run_tds 0 --home "$homes/carol" catalog
run_tds 0 --home "$homes/bob" download vg-1 -o "$run/dl1"
run_tds 0 --home "$homes/carol" download vg-1 -o "$run/dl1c"
run_tds 0 --home "$homes/carol" download vg-3 -o "$run/dl3"
cmp "$run/doc1" "$run/dl1" && cmp "$run/doc1" "$run/dl1c" && cmp "$run/doc3" "$run/dl3" ||
	fail "a downloaded copy differs"
run_tds 0 --home "$homes/alice" receipts
run_tds 0 --home "$homes/bob" receipts
run_tds 0 --home "$homes/alice" abort vg-1
run_tds 0 --home "$homes/alice" abort vg-2
ok "3 uploads, 3 complete exchanges, receipts, aborts after and before a download"

run_tds 1 --home "$homes/bob" download vg-2 -o "$run/x"
run_tds 1 --home "$homes/bob" download no-such-file -o "$run/x"
run_tds 1 --home "$homes/alice" upload "$run/doc2" --file-id vg-2
"$tds" --home "$homes/mallory" init --user alice --bootstrap "$TDS_BOOTSTRAP" \
	--store "$TDS_STORE" --ttp-key "$TDS_TTP_PUBLIC_KEY" > /dev/null || fail "init mallory"
run_tds 1 --home "$homes/mallory" register
# Straight to the request topic: not JSON, and a well-formed register whose
# signature is wrong.
printf 'this is not JSON' | kcat -P -b "$TDS_BOOTSTRAP" -t tds.requests -k junk 2> "$out/kcat" ||
	fail "kcat: $(cat "$out/kcat")"
spki=$(openssl pkey -in "$homes/bob/key.pem" -pubout -outform DER | base64 -w0)
printf '{"v": 1, "type": "register", "msg_id": "%s", "user": "dave", "body": {"public_key": "%s"}, "sig": "MEUCIQCqUJn6EvdxU0brPWDTpoZOVQoEQoEYFSeoY7XlR8/TRAIgURK6TECDebxoU063SbLHHMkkaxcE6C/Ss9r+7vbThvI="}' \
	"$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" "$spki" |
	kcat -P -b "$TDS_BOOTSTRAP" -t tds.requests -k dave 2> "$out/kcat" || fail "kcat: $(cat "$out/kcat")"
for _ in $(seq 1 150); do
	grep -q "to dead-letter" "$run/ttp/ttpd.log" &&
		grep -q "register from dave rejected: bad_signature" "$run/ttp/ttpd.log" && break
	sleep 0.2
done
grep -q "to dead-letter" "$run/ttp/ttpd.log" || fail "the daemon did not dead-letter the junk"
grep -q "register from dave rejected: bad_signature" "$run/ttp/ttpd.log" ||
	fail "the bad signature was not refused: $(tail -n 3 "$run/ttp/ttpd.log")"
run_tds 0 --home "$homes/carol" catalog
ok "error cases: aborted and unknown files, a used file id, a key conflict, junk and a bad signature on the topic"

# The database goes away and comes back: the daemon reconnects (and frees
# and re-prepares its statements).
dbpid=$(head -n1 "$run/mariadb/mariadb.pid")
kill -TERM "$dbpid"
for _ in $(seq 1 300); do grep -q '"db":"down"' "$run/ttp/state.json" 2> /dev/null && break; sleep 0.2; done
grep -q '"db":"down"' "$run/ttp/state.json" || fail "the daemon did not notice the database going away"
for _ in $(seq 1 300); do kill -0 "$dbpid" 2> /dev/null || break; sleep 0.2; done
"$stack" up > "$run/up2.log" 2>&1 || fail "stack up after the database: $(tail -n 3 "$run/up2.log")"
for _ in $(seq 1 300); do grep -q '"db":"ok"' "$run/ttp/state.json" 2> /dev/null && break; sleep 0.2; done
grep -q '"db":"ok"' "$run/ttp/state.json" || fail "the daemon did not reconnect"
run_tds 0 --home "$homes/bob" download vg-3 -o "$run/dl3b"
ok "the database restarted: the daemon reconnected and served another exchange"

# Stop it like the stack does, but wait as long as valgrind needs.
t0=$(date +%s)
kill -TERM "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
! kill -0 "$pid" 2> /dev/null || fail "the daemon did not exit within 120 s of SIGTERM"
stop_s=$(($(date +%s) - t0))
grep -q "stopped" "$run/ttp/ttpd.log" || fail "the daemon did not stop cleanly: $(tail -n 3 "$run/ttp/ttpd.log")"
total_s=$(($(date +%s) - start))

# --- the reports ----------------------------------------------------------------
# figure LOG WHAT: the byte count of a LEAK SUMMARY line ("definitely lost").
figure() { sed -n "s/.*$2: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 bytes in \2 blocks/p" "$1" | tail -n1; }
reports=("$run"/ttp/valgrind.*.log)
[ ${#reports[@]} -ge 2 ] || fail "expected the reports of the parent and of the daemon: ${reports[*]}"
daemon_report=$run/ttp/valgrind.$pid.log
[ -s "$daemon_report" ] || fail "no report for the daemon (pid $pid): ${reports[*]}"
for r in "${reports[@]}"; do
	grep -q "ERROR SUMMARY: " "$r" || fail "$r is incomplete (killed?): $(tail -n 5 "$r")"
	! grep -q "Process terminating with default action" "$r" || fail "$r: killed by a signal"
	if ! grep -q "ERROR SUMMARY: 0 errors" "$r"; then
		echo "--- $r" >&2
		grep -v "^==[0-9]*== *$" "$r" | tail -n 80 >&2
		fail "valgrind found errors in $(basename "$r"): $(grep 'ERROR SUMMARY' "$r")"
	fi
done
grep -q "All heap blocks were freed\|LEAK SUMMARY" "$daemon_report" || fail "no leak check in $daemon_report"
echo "# daemon (pid $pid): $(grep -o 'ERROR SUMMARY: .*' "$daemon_report")"
echo "#   definitely lost: $(figure "$daemon_report" 'definitely lost')"
echo "#   indirectly lost: $(figure "$daemon_report" 'indirectly lost')"
echo "#   possibly lost:   $(figure "$daemon_report" 'possibly lost')"
echo "#   still reachable: $(figure "$daemon_report" 'still reachable')"
echo "#   suppressed:      $(figure "$daemon_report" 'suppressed')"
echo "#   $(grep -o 'total heap usage: .*' "$daemon_report")"
echo "#   run time under valgrind: $total_s s in all, $stop_s s from SIGTERM to exit"
ok "valgrind: 0 errors and no definite or indirect leak in ${#reports[@]} reports"

echo "$pass passed, 0 failed"
