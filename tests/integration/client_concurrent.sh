#!/usr/bin/env bash
# client_concurrent.sh BUILD_DIR: 20 clients with their own homes, 10
# uploaders and 10 downloaders, all at once: every downloader fetches the
# files of three uploaders while the uploaders collect their receipts.
# Every download equals its original, every uploader gets exactly its
# three receipts, no command fails.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 200

stack_up
N=10
PER=3
for i in $(seq 0 $((N - 1))); do
	new_user "up$i" &
	bg_pids+=($!)
	new_user "down$i" &
	bg_pids+=($!)
done
for p in "${bg_pids[@]}"; do wait "$p" || fail "a registration failed"; done
bg_pids=()
ok "20 users initialised and registered concurrently"

for i in $(seq 0 $((N - 1))); do
	head -c $((65536 + i * 7919)) /dev/urandom > "$run/doc$i"
	("$tds" --home "$homes/up$i" upload "$run/doc$i" --file-id "file-$i" \
		> "$run/up$i.out" 2> "$run/up$i.err") &
	bg_pids+=($!)
done
for p in "${bg_pids[@]}"; do wait "$p" || fail "an upload failed: $(cat "$run"/up*.err)"; done
bg_pids=()
ok "10 concurrent uploads"

# Downloader i fetches the files of uploaders i, i+1, i+2.
for i in $(seq 0 $((N - 1))); do
	(
		for k in $(seq 0 $((PER - 1))); do
			j=$(((i + k) % N))
			"$tds" --home "$homes/down$i" --timeout 60 download "file-$j" \
				-o "$run/got-$i-$j" || exit 1
		done
	) > "$run/down$i.out" 2> "$run/down$i.err" &
	bg_pids+=($!)
done
# Meanwhile every uploader collects receipts until it has its three.
for i in $(seq 0 $((N - 1))); do
	(
		for _ in $(seq 1 120); do
			"$tds" --home "$homes/up$i" receipts >> "$run/rc$i.out" || exit 1
			[ "$(wc -l < "$run/rc$i.out")" -ge $PER ] && exit 0
			sleep 1
		done
		exit 1
	) 2> "$run/rc$i.err" &
	bg_pids+=($!)
done
failed=0
for p in "${bg_pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
bg_pids=()
if [ "$failed" != 0 ]; then
	cat "$run"/down*.err "$run"/rc*.err >&2
	fail "$failed client process(es) failed"
fi
ok "10 downloaders x $PER files and 10 receipt collectors, concurrently, no failure"

for i in $(seq 0 $((N - 1))); do
	for k in $(seq 0 $((PER - 1))); do
		j=$(((i + k) % N))
		cmp "$run/doc$j" "$run/got-$i-$j" || fail "down$i got a different file-$j"
	done
done
ok "every one of the $((N * PER)) downloads equals its original"

for i in $(seq 0 $((N - 1))); do
	[ "$(wc -l < "$run/rc$i.out")" = $PER ] || fail "up$i got receipts: $(cat "$run/rc$i.out")"
	got=$(cut -d' ' -f3 "$run/rc$i.out" | sort | tr '\n' ' ')
	want=$(for k in $(seq 0 $((PER - 1))); do echo "down$(((i - k + N) % N))"; done | sort | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "up$i: receipts from $got, expected $want"
	n=$(ls "$homes/up$i/evidence"/file-$i.receipt.*.json | wc -l)
	[ "$n" = $PER ] || fail "up$i has $n receipt evidence files"
	"$tds" --home "$homes/up$i" uploads --json | json "j[0]['receipts']" | grep -qx $PER ||
		fail "up$i: uploads does not count $PER receipts"
done
ok "every uploader has exactly its $PER receipts, from the right downloaders"

for i in $(seq 0 $((N - 1))); do
	states=$("$tds" --home "$homes/down$i" downloads --json | json "sorted(set(e['state'] for e in j))")
	[ "$states" = "['done']" ] || fail "down$i download states: $states"
done
ok "every download is recorded done"
echo "$pass passed, 0 failed"
