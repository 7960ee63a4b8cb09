#!/usr/bin/env bash
# run_corpus.sh TDS MAKE_CORPUS COMMITTED FRESH: the dispute corpus of
# issue 5 through `tds verify`, as a judge would run it.
#
# Each case is a folder NN-name with bundle.json, expected, and when the
# case needs them doc (passed as --file doc) and trust (options, one per
# line, paths relative to the case folder).  expected is one line:
#   valid                 exit 0, "VALID" on stdout
#   invalid <substring>   exit 4, "tds verify: INVALID: ...<substring>..."
#   malformed <substring> exit 1, the substring on stderr (not a bundle)
# Checks the committed corpus (COMMITTED), then a fresh one made now with
# new keys by MAKE_CORPUS into FRESH, which must hold the same cases with
# the same expectations.  One line per case, then "N passed, N failed".
set -uo pipefail
tds=$(realpath "$1")
make_corpus=$(realpath "$2")
committed=$(realpath "$3")
fresh=$(realpath -m "$4")
tmp=$(mktemp -d /tmp/tds-disputes.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
failed=0

check_case() { # LABEL DIR
	local label=$1 dir=$2 name expected want args=() out err rc line
	name=$(basename "$dir")
	expected=$(head -n 1 "$dir/expected")
	if [ -f "$dir/trust" ]; then
		while read -r line; do
			[ -n "$line" ] && read -ra opt <<< "$line" && args+=("${opt[@]}")
		done < "$dir/trust"
	fi
	[ -f "$dir/doc" ] && args+=(--file doc)
	out=$(cd "$dir" && "$tds" verify bundle.json "${args[@]}" 2> "$tmp/err")
	rc=$?
	err=$(cat "$tmp/err")
	case $expected in
	valid)
		want=0
		[ $rc = 0 ] && [ "$(echo "$out" | tail -n 1)" = VALID ] && rc=ok ;;
	invalid\ *)
		want=4
		[ $rc = 4 ] && echo "$out" | grep -q "^tds verify: INVALID: " &&
			echo "$out" | grep -qF -- "${expected#invalid }" && rc=ok ;;
	malformed\ *)
		want=1
		[ $rc = 1 ] && echo "$err" | grep -qF -- "${expected#malformed }" && rc=ok ;;
	*)
		want="?" ;;
	esac
	if [ "$rc" = ok ]; then
		pass=$((pass + 1))
		echo "ok   $label $name: $expected"
	else
		failed=$((failed + 1))
		echo "FAIL $label $name: expected \"$expected\" (exit $want), got exit $rc:"
		echo "$out$err" | sed 's/^/       /'
	fi
}

check_corpus() { # LABEL DIR
	local n=0 d
	for d in "$2"/[0-9][0-9]-*/; do
		[ -d "$d" ] || continue
		check_case "$1" "${d%/}"
		n=$((n + 1))
	done
	if [ $n -lt 30 ]; then
		failed=$((failed + 1))
		echo "FAIL $1: only $n cases in $2 (at least 30)"
	fi
}

check_corpus committed "$committed"

rm -rf "$fresh"
if ! "$make_corpus" "$fresh" > /dev/null; then
	failed=$((failed + 1))
	echo "FAIL make_corpus $fresh"
else
	check_corpus fresh "$fresh"
	# The committed corpus is what the generator makes today.
	list() { (cd "$1" && for d in [0-9][0-9]-*/; do echo "${d%/}: $(cat "$d/expected")"; done); }
	if diff <(list "$committed") <(list "$fresh") > "$tmp/diff"; then
		pass=$((pass + 1))
		echo "ok   the committed corpus has the generator's cases and expectations"
	else
		failed=$((failed + 1))
		echo "FAIL the committed corpus differs from a fresh one (regenerate it: make_corpus tests/disputes/corpus):"
		sed 's/^/       /' "$tmp/diff"
	fi
fi

echo "$pass passed, $failed failed"
[ $failed = 0 ]
