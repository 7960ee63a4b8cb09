#!/bin/sh
# bench/evlog.sh: the evidence log benchmark (issue 5) on a stack of its
# own: durable commits (innodb_flush_log_at_trx_commit=1), the daemon's
# account, TTP key and TSA.  Prints leaves/s for one leaf per transaction
# (the daemon's path today) and for batches, and the time from a leaf's
# commit to a signed, time-stamped head that covers it.
#
# usage: bench/evlog.sh [LEAVES]      (default 20000)
# env:   TDS_BUILD_DIR (default build), TDS_RUN_DIR (default a temp dir)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${TDS_BUILD_DIR:-$here/build}
leaves=${1:-20000}
run=${TDS_RUN_DIR:-$(mktemp -d /tmp/tds-evlog-bench.XXXXXX)}
export TDS_RUN_DIR="$run" TDS_BUILD_DIR="$build"

bench="$build/ttp/tds-evlog-bench"
[ -x "$bench" ] || { echo "evlog.sh: build first ($bench missing)" >&2; exit 1; }
trap '"$here/scripts/tds-stack" down >/dev/null 2>&1 || true' EXIT INT TERM
"$here/scripts/tds-stack" up >/dev/null
eval "$("$here/scripts/tds-stack" env)"

echo "== evidence log benchmark: $leaves leaves per run, $(nproc) cores, durable commits"
for batch in 1 10 100 1000; do
	n=$leaves
	[ "$batch" = 1 ] && n=$((leaves / 4))
	printf -- '-- batch %s: ' "$batch"
	"$bench" -f "$TDS_TTPD_CONF" -n "$n" -b "$batch" -H 1 --json
done
