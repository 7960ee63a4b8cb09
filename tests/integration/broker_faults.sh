#!/usr/bin/env bash
# broker_faults.sh TDS_BROKER [TDS_BROKER_CTL]: the -F control FIFO drives librdkafka's
# mock fault injection while the broker runs (via broker/tds-broker-ctl).
#
# Asserts: ping answers ok; "leader" moves tds.requests[0] to broker 1
# (seen in metadata); with broker 1 down a produce to that partition
# fails within 20 s (message.timeout.ms=3000), and after broker-up the
# next one succeeds; "request-errors Produce MSG_SIZE_TOO_LARGE 1" fails
# exactly the next produce; the partition then holds exactly the produces
# that succeeded.  Bad input (unknown command, wrong arity, out-of-range
# id, control bytes, NUL, an overlong line, an empty line) is rejected
# with a reason, one answer per line, and the broker keeps serving.
# SIGTERM stops it with status 0 and removes the address file, the FIFO
# and FIFO.out.  Then, with -p PORT: while broker 1 is down the fixed
# port still bootstraps clients (the forwarder falls over to broker 2),
# and with every broker down a client through it fails.
set -euo pipefail

BROKER=${1:-}
# shellcheck source-path=SCRIPTDIR source=broker_common.sh
source "$(dirname "$0")/broker_common.sh"

CTL=${2:-$(dirname "$(readlink -f "$0")")/../../broker/tds-broker-ctl}
[[ -x $CTL ]] || broker_fail "$CTL is missing or not executable"
FIFO="$BROKER_DIR/ctl"

# ctl_ok CMD...: the command must be accepted.
ctl_ok() {
	local answer

	answer=$("$CTL" "$FIFO" "$@") ||
		broker_fail "tds-broker-ctl $* answered \"$answer\""
	broker_log "ctl $*: $answer"
}

# ctl_err PATTERN CMD...: the command must be rejected, the reason
# matching PATTERN (grep -E), with exit status 1.
ctl_err() {
	local pattern=$1 answer rc=0

	shift
	answer=$("$CTL" "$FIFO" "$@") || rc=$?
	((rc == 1)) || broker_fail "tds-broker-ctl $* exited $rc: $answer"
	grep -qE "^error: .*$pattern" <<<"$answer" ||
		broker_fail "tds-broker-ctl $*: \"$answer\" does not match $pattern"
	broker_log "ctl $*: $answer"
}

# raw_send BYTES EXPECTED_LINES: write raw bytes to the FIFO (what the
# script cannot send) and wait for the answers, holding the lock the ctl
# script uses so the answers are not mistaken for someone else's.
raw_send() {
	local bytes=$1 want=$2 before i

	exec 8<"$FIFO.out"
	flock -w 10 8 || broker_fail "cannot lock $FIFO.out"
	before=$(wc -l <"$FIFO.out")
	printf '%b' "$bytes" >"$FIFO"
	for ((i = 0; i < 100; i++)); do
		(($(wc -l <"$FIFO.out") >= before + want)) && break
		sleep 0.1
	done
	(($(wc -l <"$FIFO.out") == before + want)) ||
		broker_fail "expected $want answers to raw input, got" \
			"$(($(wc -l <"$FIFO.out") - before))"
	tail -n "$want" "$FIFO.out" | sed 's/^/    raw: /' >&2
	exec 8<&-
}

# produce KEY VALUE: one message to tds.requests[0]; status of kcat.
produce() {
	printf '%s|%s\n' "$1" "$2" |
		kcat -P -b "$BROKER_ADDR" -t tds.requests -p 0 -K '|' -m 5 \
			-X message.timeout.ms=3000 2>>"$BROKER_DIR/kcat.err"
}

broker_start -b 3 -F "$FIFO"
[[ -p $FIFO && -f $FIFO.out ]] || broker_fail "no FIFO or FIFO.out"
ctl_ok ping

ctl_ok leader tds.requests 0 1
kcat -L -b "$BROKER_ADDR" -t tds.requests -m 5 |
	grep -q '^    partition 0, leader 1,' ||
	broker_fail "tds.requests[0] is not led by broker 1 after 'leader'"

# Broker 1 down: a produce to its partition must fail, and soon.
ctl_ok broker-down 1
start=$SECONDS
if produce during-down 1; then
	broker_fail "produce to a partition led by a downed broker succeeded"
fi
((SECONDS - start <= 20)) ||
	broker_fail "failed produce took $((SECONDS - start)) s, expected <= 20"
broker_log "produce with broker 1 down failed after $((SECONDS - start)) s"

ctl_ok broker-up 1
produce after-up 2 || broker_fail "produce after broker-up failed"

# One injected non-retriable error fails exactly one produce.
ctl_ok request-errors Produce MSG_SIZE_TOO_LARGE 1
if produce injected-error 3; then
	broker_fail "produce succeeded despite an injected MSG_SIZE_TOO_LARGE"
fi
grep -q 'Message size too large' "$BROKER_DIR/kcat.err" ||
	broker_fail "kcat did not report the injected error"
produce after-error 4 || broker_fail "produce after the injected error failed"

got=$(kcat -C -b "$BROKER_ADDR" -t tds.requests -p 0 -o beginning -e -q \
	-m 5 -f '%k|%s\n')
[[ $got == $'after-up|2\nafter-error|4' ]] ||
	broker_fail "tds.requests[0] holds \"$got\", expected after-up, after-error"
broker_log "partition holds exactly the successful produces"

# Other commands parse and apply.
ctl_ok rtt all 0
ctl_ok clear-errors Produce
ctl_ok broker-request-errors 2 Metadata 0 10 1
ctl_ok topic-error tds.replies 0

# Bad input is rejected with a reason and changes nothing.
ctl_err 'unknown command "bogus"' bogus 1 2
ctl_err 'usage: broker-down ID\|all' broker-down
ctl_err 'usage: ping' ping extra
ctl_err 'expected 1\.\.3 or all' broker-down 4
ctl_err 'expected 1\.\.3 or all' broker-up 0x1
ctl_err 'expected 0\.\.600000 ms' rtt 1 -5
ctl_err 'api key "Nope"' request-errors Nope 0 1
ctl_err 'error code "NOPE"' request-errors Produce NOPE 1
ctl_err 'count "0": expected 1\.\.10000' request-errors Produce 0 0
ctl_err 'not a valid topic name' topic-error 'a/b' 0
raw_send 'ping\001\n' 1
raw_send 'pi\000ng\n' 1
raw_send '\n' 1
raw_send "$(head -c 3000 /dev/zero | tr '\0' 'x')\\nping\\n" 2
grep -q '^error: ping?: byte 0x01 at column 5' "$FIFO.out" ||
	broker_fail "control byte not reported"
grep -q '^error: pi?ng: byte 0x00 at column 3' "$FIFO.out" ||
	broker_fail "NUL byte not reported"
grep -q '^error: : empty command$' "$FIFO.out" ||
	broker_fail "empty line not reported"
grep -q '^error: (overlong line): line longer than 512 bytes$' \
	"$FIFO.out" || broker_fail "overlong line not reported"
ctl_ok ping
grep -q 'control: bogus 1 2: unknown command' "$BROKER_DIR/stderr" ||
	broker_fail "rejections are not logged"

# Still a working broker after all that.
produce final 5 || broker_fail "produce after the bad input failed"

broker_stop
[[ ! -e $FIFO && ! -e $FIFO.out ]] ||
	broker_fail "tds-broker left its FIFO or FIFO.out behind"

# The fixed port survives broker 1 going down.
port=$(broker_free_port)
broker_start -b 3 -p "$port" -F "$FIFO"
ctl_ok broker-down 1
meta=$(kcat -L -b "$BROKER_ADDR" -m 5) ||
	broker_fail "no metadata through port $port with broker 1 down"
grep -qF "(from broker -1: 127.0.0.1:$port/bootstrap)" <<<"$meta" ||
	broker_fail "metadata did not come through port $port:"$'\n'"$meta"
broker_log "port $port still bootstraps with broker 1 down"
ctl_ok broker-down all
if kcat -L -b "$BROKER_ADDR" -m 3 >/dev/null 2>&1; then
	broker_fail "metadata through port $port with every broker down"
fi
ctl_ok broker-up all
kcat -L -b "$BROKER_ADDR" -m 5 >/dev/null ||
	broker_fail "no metadata through port $port after broker-up all"
broker_stop
broker_log "PASS"
