#!/usr/bin/env bash
# run.sh SECONDS [TARGET...]: run each libFuzzer target (all seven by default)
# for SECONDS on a copy of its seed corpus fuzz/corpus/<target>/ in a
# temporary directory, so that the repository never gets new corpus files;
# print the executions and the coverage of each; exit 1 if any target
# crashed, naming the file that reproduces it.
#   TDS_FUZZ_BIN_DIR   where the fuzz_<target> binaries are (default:
#                      build/fuzz); CTest sets it.
#   TDS_FUZZ_ARTIFACTS where crash inputs go (default: the binaries' dir,
#                      artifacts/<target>/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
usage() { echo "usage: run.sh SECONDS [proto_decode|tbs|pubkey|evidence|base64|merkle|bundle...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
secs=$1
shift
[[ $secs =~ ^[1-9][0-9]*$ ]] || usage
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(proto_decode tbs pubkey evidence base64 merkle bundle)
bindir=${TDS_FUZZ_BIN_DIR:-$root/build/fuzz}
artifacts=${TDS_FUZZ_ARTIFACTS:-$bindir/artifacts}

work=$(mktemp -d "${TMPDIR:-/tmp}/tds-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

status=0
for t in "${targets[@]}"; do
	bin=$bindir/fuzz_$t
	if [ ! -x "$bin" ] || [ ! -d "$here/corpus/$t" ]; then
		echo "fuzz_$t: no binary at $bin or no corpus $here/corpus/$t" >&2
		status=1
		continue
	fi
	mkdir -p "$work/$t" "$artifacts/$t"
	cp -R "$here/corpus/$t/." "$work/$t/"
	log=$work/$t.log
	rc=0
	# -timeout: no single input may take 10 s (the slowest are ECDSA).
	"$bin" "$work/$t" -max_total_time="$secs" -rss_limit_mb=2048 \
		-timeout=10 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$t/" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1 || true)
	corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 || true)
	if [ $rc -ne 0 ]; then
		crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} execs; input: ${crash:-none written}"
		# The report: the sanitizer's or abort()'s stack.
		grep -E '^(==[0-9]+==|    #[0-9]+ |SUMMARY|.*runtime error)' "$log" | head -n 60 || true
		if [ -n "$crash" ] && [ -f "$crash" ] && [ "$(wc -c <"$crash")" -le 1024 ]; then
			echo "input (hex): $(od -An -v -tx1 "$crash" | tr -d ' \n')"
		fi
		echo "reproduce: $bin ${crash:-}"
		status=1
		continue
	fi
	echo "fuzz_$t: ${execs:-?} execs in $secs s (${rate:-?}/s), ${cov:-no cov}, ${corp:-}"
done
exit $status
