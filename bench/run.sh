#!/usr/bin/env bash
# run.sh [BUILD_DIR]: the default benchmark (`cmake --build build --target
# bench`).  Brings a fresh stack up in a run directory of its own, runs
# tds-bench (a closed-loop sweep of exchanges, then 1 MiB uploads), writes
# bench/out/<timestamp>/{result.json,result.txt,latency.png or .svg} and
# more beside them, and brings the stack down whatever happens.
#
# Environment (defaults in brackets):
#   BENCH_OUT            output directory [bench/out/<UTC timestamp>]
#   BENCH_SWEEP          closed-loop concurrencies [1,4,16,64]
#   BENCH_DURATION       measured seconds per step [8]
#   BENCH_WARMUP         seconds before each window [2]
#   BENCH_USERS          simulated users [100]
#   BENCH_ARGS           more tds-bench options for the exchange run
#   BENCH_UPLOAD_SIZE    document size of the upload run, "" skips it [1M]
#   BENCH_UPLOAD_CONCURRENCY / BENCH_UPLOAD_DURATION  [8] / [10]
#   BENCH_PERF=1         profile the daemon with perf during each measured
#                        window of the exchange run (perf-step<N>.txt)
#   BENCH_TTPD_CONF      more ttpd.conf lines for the daemon, e.g.
#                        "kafka.fetch.wait.max.ms 5" (docs/performance.md)
#   BENCH_TTPDS          TTP daemons in one consumer group [1]: the figures
#                        are the group's (throughput, and the TTP CPU of
#                        every daemon summed)
#   TDS_PARTITIONS       partitions per topic [8]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bench=$build/bench/tds-bench
[ -x "$bench" ] || { echo "run.sh: $bench is missing: build first" >&2; exit 1; }
ts=$(date -u +%Y%m%dT%H%M%SZ)
out=${BENCH_OUT:-$root/bench/out/$ts}
mkdir -p "$out"
out=$(cd "$out" && pwd)
run=$(mktemp -d /tmp/tds-bench-run.XXXXXX)
export TDS_RUN_DIR=$run TDS_BUILD_DIR=$build
export TDS_PARTITIONS=${TDS_PARTITIONS:-8}
export TDS_TTPD_EXTRA_CONF=${BENCH_TTPD_CONF:-}
export TDS_TTPD_COUNT=${BENCH_TTPDS:-1}
[[ $TDS_TTPD_COUNT =~ ^[1-8]$ ]] || { echo "run.sh: BENCH_TTPDS=$TDS_TTPD_COUNT: expected 1 to 8" >&2; exit 1; }
stack=$root/scripts/tds-stack
sweep=${BENCH_SWEEP:-1,4,16,64}
duration=${BENCH_DURATION:-8}
warmup=${BENCH_WARMUP:-2}
users=${BENCH_USERS:-100}
upload_size=${BENCH_UPLOAD_SIZE-1M}

. "$root/tests/integration/protocol_common.sh"

save_logs() {
	local f
	for f in "$run"/ttp/ttpd*.log; do
		[ -f "$f" ] && cp "$f" "$out/" 2>/dev/null || true
	done
	cp "$run/broker/broker.log" "$out/broker.log" 2>/dev/null || true
}
finish() {
	save_logs
	cleanup
}
trap finish EXIT

pid_of() { head -n1 "$1" 2>/dev/null || true; }

# db_status: the MariaDB counters that tell where a durable commit goes,
# and the row lock waits (the evidence log's state row and the offsets
# rows serialise daemons of one group; Innodb_row_lock_time is in ms).
db_status() {
	mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -B -e "SHOW GLOBAL STATUS WHERE
		Variable_name IN ('Com_commit', 'Com_rollback', 'Questions',
		'Innodb_data_fsyncs', 'Com_stmt_execute', 'Innodb_row_lock_waits',
		'Innodb_row_lock_time')"
}
# messages the daemons have consumed (their health files, summed).
seen() {
	cat "$run"/ttp/state*.json 2>/dev/null | grep -o '"messages_seen":[0-9]*' |
		awk -F: '{ n += $2 } END { print n + 0 }'
}

# The pids of the TTP daemons, one per line: ttpd.pid, ttpd2.pid, ...
ttpd_pids() {
	local n f
	for n in $(seq 1 "$TDS_TTPD_COUNT"); do
		if [ "$n" = 1 ]; then f=$run/ttp/ttpd.pid; else f=$run/ttp/ttpd$n.pid; fi
		pid_of "$f"
	done
}

echo "bench: stack in $run, results in $out"
"$stack" up > "$run/up.log" 2>&1 || { cat "$run/up.log" >&2; fail "stack up"; }
eval "$("$stack" env)"
export TDS_BOOTSTRAP TDS_STORE TDS_TTP_PUBLIC_KEY
wait_assigned
mapfile -t ttpds < <(ttpd_pids)
if [ "${#ttpds[@]}" != "$TDS_TTPD_COUNT" ]; then
	fail "$TDS_TTPD_COUNT TTP daemon(s), but pid files for ${#ttpds[@]}: ${ttpds[*]}"
fi
pids=()
for p in "${ttpds[@]}"; do pids+=(--ttpd-pid "$p"); done
pids+=(--db-pid "$(pid_of "$run/mariadb/mariadb.pid")"
	--broker-pid "$(pid_of "$run/broker/broker.pid")")

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -srm), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "build: $build ($(grep -m1 CMAKE_BUILD_TYPE "$build/CMakeCache.txt" | cut -d= -f2))"
	echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "TDS_PARTITIONS=$TDS_PARTITIONS"
	echo "TTP daemons: $TDS_TTPD_COUNT in one consumer group (pids ${ttpds[*]})"
	echo "ttpd.conf extra: ${TDS_TTPD_EXTRA_CONF:-none}"
} > "$out/machine.txt"

hook=()
if [ "${BENCH_PERF:-0}" = 1 ]; then
	if command -v perf > /dev/null; then
		# A flat CPU profile of the daemon, every thread, window by window.
		hook=(--on-window "perf record -q -F 999 -p $(IFS=,; echo "${ttpds[*]}") -o $out/perf-step\$TDS_BENCH_STEP.data -- sleep \$TDS_BENCH_WINDOW_S > /dev/null 2>&1")
	else
		echo "bench: perf is not installed (apt-get install linux-perf): no profile"
	fi
fi
exchange_cmd=("$bench" --mode closed --sweep "$sweep" --duration "$duration"
	--warmup "$warmup" --users "$users" "${pids[@]}" --json "$out/result.json"
	--text "$out/exchange.txt" --plot-data "$out/latency.dat" "${hook[@]}"
	${BENCH_ARGS:-})
echo "${exchange_cmd[*]}" > "$out/commands.txt"
db_status > "$out/db-before.txt"
seen_before=$(seen)
status=0
"${exchange_cmd[@]}" || status=$?
for data in "$out"/perf-step*.data; do
	[ -f "$data" ] || continue
	perf report -i "$data" --stdio --no-children --sort comm,dso,sym \
		--percent-limit 0.5 > "${data%.data}.txt" 2>/dev/null || true
done
sleep 1.2 # the health file is rewritten every second
db_status > "$out/db-after.txt"
seen_after=$(seen)
# Durable commits and fsyncs per request the daemon consumed (an exchange
# is 2 requests: download.request and download.receipt).
awk -v msgs=$((seen_after - seen_before)) '
	NR == FNR { before[$1] = $2; next }
	{ d = $2 - before[$1]; printf "%-22s %12d  %8.2f per request\n", $1, d, msgs ? d / msgs : 0 }
	END { printf "%-22s %12d\n", "requests consumed", msgs }
' "$out/db-before.txt" "$out/db-after.txt" > "$out/db-per-request.txt"

if [ -n "$upload_size" ]; then
	upload_cmd=("$bench" --scenario upload --mode closed
		--concurrency "${BENCH_UPLOAD_CONCURRENCY:-8}"
		--duration "${BENCH_UPLOAD_DURATION:-10}" --warmup "$warmup"
		--users 20 --upload-size "$upload_size" "${pids[@]}"
		--json "$out/upload.json" --text "$out/upload.txt")
	echo "${upload_cmd[*]}" >> "$out/commands.txt"
	"${upload_cmd[@]}" || status=$?
fi

{
	cat "$out/exchange.txt"
	if [ -f "$out/upload.txt" ]; then echo; cat "$out/upload.txt"; fi
	echo
	echo "MariaDB counters during the exchange run (db-per-request.txt):"
	cat "$out/db-per-request.txt"
} > "$out/result.txt"

if command -v gnuplot > /dev/null; then
	term=pngcairo plot=$out/latency.png
	if ! gnuplot -e "set terminal pngcairo" > /dev/null 2>&1; then
		term=svg plot=$out/latency.svg
	fi
	gnuplot -e "datafile='$out/latency.dat'; outfile='$plot'; term='$term'" \
		"$root/bench/plot.gp" && echo "bench: plot $plot"
else
	echo "bench: gnuplot is not installed (apt-get install gnuplot-nox): plot skipped"
fi
/usr/bin/python3 "$root/bench/check_result.py" "$out/result.json" || status=1
echo "bench: results in $out (result.txt, result.json)"
exit "$status"
