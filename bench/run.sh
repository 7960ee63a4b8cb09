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
stack=$root/scripts/tds-stack
sweep=${BENCH_SWEEP:-1,4,16,64}
duration=${BENCH_DURATION:-8}
warmup=${BENCH_WARMUP:-2}
users=${BENCH_USERS:-100}
upload_size=${BENCH_UPLOAD_SIZE-1M}

. "$root/tests/integration/protocol_common.sh"

save_logs() {
	cp "$run/ttp/ttpd.log" "$out/ttpd.log" 2>/dev/null || true
	cp "$run/broker/broker.log" "$out/broker.log" 2>/dev/null || true
}
finish() {
	save_logs
	cleanup
}
trap finish EXIT

pid_of() { head -n1 "$1" 2>/dev/null || true; }

# db_status: the MariaDB counters that tell where a durable commit goes.
db_status() {
	mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -N -B -e "SHOW GLOBAL STATUS WHERE
		Variable_name IN ('Com_commit', 'Com_rollback', 'Questions',
		'Innodb_data_fsyncs', 'Com_stmt_execute')"
}
# messages the daemon has consumed (its health file).
seen() {
	local n
	n=$(grep -o '"messages_seen":[0-9]*' "$run/ttp/state.json" 2>/dev/null | cut -d: -f2)
	echo "${n:-0}"
}

echo "bench: stack in $run, results in $out"
"$stack" up > "$run/up.log" 2>&1 || { cat "$run/up.log" >&2; fail "stack up"; }
eval "$("$stack" env)"
export TDS_BOOTSTRAP TDS_STORE TDS_TTP_PUBLIC_KEY
wait_assigned
ttpd=$(ttpd_pid)
pids=(--ttpd-pid "$ttpd" --db-pid "$(pid_of "$run/mariadb/mariadb.pid")"
	--broker-pid "$(pid_of "$run/broker/broker.pid")")

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -srm), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "build: $build ($(grep -m1 CMAKE_BUILD_TYPE "$build/CMakeCache.txt" | cut -d= -f2))"
	echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "TDS_PARTITIONS=$TDS_PARTITIONS"
	echo "ttpd.conf extra: ${TDS_TTPD_EXTRA_CONF:-none}"
} > "$out/machine.txt"

hook=()
if [ "${BENCH_PERF:-0}" = 1 ]; then
	if command -v perf > /dev/null; then
		# A flat CPU profile of the daemon, every thread, window by window.
		hook=(--on-window "perf record -q -F 999 -p $ttpd -o $out/perf-step\$TDS_BENCH_STEP.data -- sleep \$TDS_BENCH_WINDOW_S > /dev/null 2>&1")
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
