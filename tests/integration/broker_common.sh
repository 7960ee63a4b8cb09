# shellcheck shell=bash
# broker_common.sh: helpers sourced by the broker_*.sh integration tests.
# Not a test itself.  Expects `set -euo pipefail` in the caller and the
# path of the built tds-broker in $BROKER.
#
# Every helper fails the test through broker_fail, which prints the
# broker's log: a failing CI run must say why without a rerun.

BROKER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tds-broker-test.XXXXXX")
BROKER_PID=
BROKER_ADDR=
BROKER_ADDR_FILE="$BROKER_DIR/addr"

broker_log() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

broker_fail() {
	broker_log "FAIL: $*"
	if [[ -s $BROKER_DIR/stderr ]]; then
		broker_log "tds-broker log:"
		sed 's/^/    /' "$BROKER_DIR/stderr" >&2
	fi
	exit 1
}

# EXIT trap: whatever happened, leave no broker running and no files.
broker_cleanup() {
	local status=$?

	if [[ -n $BROKER_PID ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -KILL "$BROKER_PID" 2>/dev/null || true
		wait "$BROKER_PID" 2>/dev/null || true
	fi
	rm -rf "$BROKER_DIR"
	exit "$status"
}
trap broker_cleanup EXIT

[[ -n ${BROKER:-} && -x $BROKER ]] ||
	broker_fail "usage: $0 PATH_TO_TDS_BROKER (got \"${BROKER:-}\")"
command -v kcat >/dev/null || broker_fail "kcat is not installed"

# broker_free_port: print a loopback port nothing listens on (connecting
# fails).  Another process could still take it before the broker binds;
# the candidates depend on our pid so parallel runs start apart.
broker_free_port() {
	local i p

	for ((i = 0; i < 200; i++)); do
		p=$((20000 + ($$ + i * 37) % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	broker_fail "no free port found in 20000..29999"
}

# broker_start [ARGS...]: start tds-broker -f in the background, wait (at
# most 10 s) for the address file, set BROKER_ADDR.
broker_start() {
	local i

	"$BROKER" -f "$BROKER_ADDR_FILE" "$@" >"$BROKER_DIR/stdout" \
		2>"$BROKER_DIR/stderr" &
	BROKER_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $BROKER_ADDR_FILE ]] && break
		kill -0 "$BROKER_PID" 2>/dev/null ||
			broker_fail "tds-broker $* exited before it was ready"
		sleep 0.1
	done
	[[ -s $BROKER_ADDR_FILE ]] ||
		broker_fail "no address file after 10 s (tds-broker $*)"
	BROKER_ADDR=$(<"$BROKER_ADDR_FILE")
	# The stdout line is part of the interface too: exactly one, equal
	# to the file.
	[[ $(<"$BROKER_DIR/stdout") == "bootstrap=$BROKER_ADDR" ]] ||
		broker_fail "stdout is \"$(<"$BROKER_DIR/stdout")\"," \
			"expected \"bootstrap=$BROKER_ADDR\""
	broker_log "tds-broker $* ready at $BROKER_ADDR"
}

# broker_stop: SIGTERM; the broker must exit 0 within 5 s and remove its
# address file.
broker_stop() {
	local i rc=0

	kill -TERM "$BROKER_PID"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$BROKER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$BROKER_PID" 2>/dev/null &&
		broker_fail "tds-broker still running 5 s after SIGTERM"
	wait "$BROKER_PID" || rc=$?
	BROKER_PID=
	((rc == 0)) || broker_fail "tds-broker exited $rc after SIGTERM"
	[[ ! -e $BROKER_ADDR_FILE ]] ||
		broker_fail "tds-broker left $BROKER_ADDR_FILE behind"
	broker_log "tds-broker stopped cleanly"
}

# broker_check_topics ADDR PREFIX PARTITIONS: the three topics exist with
# PARTITIONS partitions each, as seen through ADDR.
broker_check_topics() {
	local addr=$1 prefix=$2 parts=$3 meta t

	meta=$(kcat -L -b "$addr" -m 5) || broker_fail "kcat -L -b $addr failed"
	for t in requests replies dead-letter; do
		grep -qxF "  topic \"$prefix.$t\" with $parts partitions:" \
			<<<"$meta" ||
			broker_fail "topic $prefix.$t with $parts partitions" \
				"missing from metadata:"$'\n'"$meta"
	done
}

# broker_round_trip ADDR TOPIC N: produce N distinct keyed messages and
# consume the topic from the beginning; what comes back must be exactly
# what went in (content and count; order is per partition only, so both
# sides are compared sorted).
broker_round_trip() {
	local addr=$1 topic=$2 n=$3 i sent got

	sent="$BROKER_DIR/sent.$topic"
	got="$BROKER_DIR/got.$topic"
	for ((i = 1; i <= n; i++)); do
		printf 'key-%d|value %d of %d, run %s\n' "$i" "$i" "$n" "$$"
	done >"$sent"
	kcat -P -b "$addr" -t "$topic" -K '|' -m 5 \
		-X message.timeout.ms=10000 -l "$sent" ||
		broker_fail "kcat -P to $topic failed"
	kcat -C -b "$addr" -t "$topic" -o beginning -e -q -m 5 \
		-f '%k|%s\n' >"$got" ||
		broker_fail "kcat -C from $topic failed"
	[[ $(wc -l <"$got") -eq $n ]] ||
		broker_fail "$topic: sent $n messages, got $(wc -l <"$got")"
	diff <(sort "$sent") <(sort "$got") >/dev/null ||
		broker_fail "$topic: messages differ:"$'\n'"$(diff \
			<(sort "$sent") <(sort "$got") | head -20)"
	broker_log "$topic: $n messages round-tripped through $addr"
}
