#!/usr/bin/env bash
# tls_passthrough.sh BUILD_DIR: TLS and SASL settings reach the connections.
#
# Kafka (daemon: kafka.* lines; client: kafka.* lines of its config):
# - a property librdkafka does not know, or a bad value, is refused when the
#   file is read (tds-ttpd -n: exit 2; tds: exit 1), naming the file and line;
# - security.protocol, ssl.* and sasl.* are accepted and reach librdkafka:
#   a CA file that does not exist makes the daemon and the client fail at
#   start with librdkafka's TLS error and the file named; SASL against the
#   (SASL-less) local broker fails in the SASL handshake, which the daemon
#   logs and the client reports, and the SASL password appears nowhere.
# MariaDB (daemon: db_ssl_* / db_tls_* keys; client: the auditor's option file,
# on a stack whose MariaDB serves TLS, TDS_DB_TLS=1, and whose accounts are
# then made to REQUIRE SSL):
# - without TLS settings the daemon and tds audit are refused (the control);
# - with the stack's CA they connect (so over TLS, verified by default);
# - a CA file that does not exist fails with a TLS error naming the file;
# - another CA fails verification (verification is on by default once a CA
#   is set), and db_ssl_verify_server_cert no is what turns it off;
# - the auditor's option file is checked first: an unknown or misspelt
#   option, a "loose-" one, a bare or "true" boolean (Connector/C reads it as
#   0), a repeated option, !include, or a password others can read: exit 1
#   naming the line.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 1000
# Ports from tds-stack's random starts, not from a fixed base: stacks of
# other worktrees run the same client tests on this machine.
unset TDS_DB_PORT TDS_KAFKA_PORT
ttpd=$build/ttp/tds-ttpd

# --- configuration checks: no stack needed -----------------------------------
c=$run/conf
mkdir -m 700 -p "$c/store"
(umask 077; echo secret > "$c/pw")
good() {
	cat <<CONF
kafka.bootstrap.servers 127.0.0.1:9
db_host 127.0.0.1
db_user tds_ttp
db_password_file $c/pw
store_root $c/store
ttp_key_file $c/ttp_key.pem
CONF
}
# ttpd_n WANT_RC PATTERN LINES...: -n on good() + LINES.
ttpd_n() {
	local want=$1 pattern=$2 rc=0
	shift 2
	{ good; printf '%s\n' "$@"; } > "$c/t.conf"
	"$ttpd" -n -f "$c/t.conf" > "$out/stdout" 2> "$out/stderr" || rc=$?
	[ $rc -eq "$want" ] || fail "-n with '$*': exit $rc, want $want: $(cat "$out/stderr")"
	grep -qF -- "$pattern" "$out/stdout" "$out/stderr" || fail "-n with '$*': no '$pattern' in: $(cat "$out/stdout" "$out/stderr")"
}
ttpd_n 2 't.conf:7: kafka property no.such.property: No such configuration property' "kafka.no.such.property 1"
ttpd_n 2 't.conf:7: kafka property security.protocol: Invalid value "tls"' "kafka.security.protocol tls"
ttpd_n 2 't.conf:8: kafka property ssl.endpoint.identification.algorithm' \
	"kafka.security.protocol SSL" "kafka.ssl.endpoint.identification.algorithm sometimes"
ttpd_n 0 "configuration OK" "kafka.security.protocol SASL_SSL" "kafka.sasl.mechanisms SCRAM-SHA-512" \
	"kafka.sasl.username ttp" "kafka.sasl.password s3cret" "kafka.ssl.ca.location /etc/ssl/certs/ca-certificates.crt" \
	"kafka.ssl.certificate.location /x/cert.pem" "kafka.ssl.key.location /x/key.pem" \
	"kafka.ssl.key.password k3y" "kafka.ssl.endpoint.identification.algorithm https"
ttpd_n 0 "configuration OK" "db_ssl_ca /x/ca.pem" "db_ssl_capath /x" "db_ssl_cert /x/c.pem" \
	"db_ssl_key /x/k.pem" "db_ssl_cipher ECDHE-ECDSA-AES256-GCM-SHA384" "db_ssl_crl /x/crl.pem" \
	"db_ssl_crlpath /x" "db_tls_version TLSv1.2,TLSv1.3" "db_tls_peer_fp 00" "db_ssl_verify_server_cert yes"
ttpd_n 2 "t.conf:7: unknown setting 'db_ssl_verify_server_certificate'" "db_ssl_verify_server_certificate yes"
ttpd_n 2 "t.conf:7: 'maybe' is not yes or no" "db_ssl_verify_server_cert maybe"
ttpd_n 2 "t.conf:8: 'db_ssl_ca' given twice" "db_ssl_ca /a" "db_ssl_ca /b"
ok "tds-ttpd -n: unknown kafka property and bad values refused naming the line; ssl.*, sasl.*, db_ssl_*, db_tls_* accepted"

# The daemon hands ssl.* to librdkafka: it fails to start on a missing CA,
# with the file named (in the foreground: no broker or database needed).
{ good; echo "kafka.security.protocol SSL"; echo "kafka.ssl.ca.location $c/no-such-ca.pem"; } > "$c/t.conf"
rc=0
timeout 30 "$ttpd" -d -f "$c/t.conf" > "$out/stdout" 2> "$out/stderr" || rc=$?
[ $rc -eq 1 ] || fail "daemon with a missing Kafka CA: exit $rc: $(cat "$out/stderr")"
grep -q "ssl.ca.location failed: .* (ssl.ca.location is $c/no-such-ca.pem)" "$out/stderr" ||
	fail "daemon with a missing Kafka CA: $(cat "$out/stderr")"
ok "tds-ttpd with kafka.ssl.ca.location missing: exit 1, $(grep -o 'kafka consumer: .*' "$out/stderr")"

# --- a stack whose MariaDB serves TLS -----------------------------------------------
export TDS_DB_TLS=1
stack_up
[ -s "${TDS_DB_TLS_CA:-}" ] || fail "the stack has no TLS CA"
new_user alice
new_user bob
echo "doc" > "$run/doc"
"$tds" --home "$homes/alice" upload "$run/doc" --file-id tls-1 > /dev/null || fail "upload"
"$tds" --home "$homes/bob" download tls-1 -o "$run/doc.out" > /dev/null || fail "download"
ok "private stack up, MariaDB with TLS, one exchange done"

# Client: kafka.* of the config, checked when read, passed to librdkafka.
cp "$homes/bob/config" "$run/bob.config"
with_props() { # with_props LINES...: bob's config plus LINES
	{ cat "$run/bob.config"; printf '%s\n' "$@"; } > "$homes/bob/config"
}
with_props "kafka.no.such.property 1"
run_tds 1 --home "$homes/bob" catalog
grep -q "config:[0-9]*: kafka property no.such.property: No such configuration property" "$out/stderr" ||
	fail "client unknown property: $(cat "$out/stderr")"
with_props "kafka.security.protocol SSL" "kafka.ssl.ca.location $run/no-such-ca.pem"
run_tds 1 --home "$homes/bob" catalog
grep -q "Kafka consumer: ssl.ca.location failed: .* (ssl.ca.location is $run/no-such-ca.pem)" "$out/stderr" ||
	fail "client missing CA: $(cat "$out/stderr")"
with_props "kafka.security.protocol SASL_PLAINTEXT" "kafka.sasl.mechanisms PLAIN" \
	"kafka.sasl.username bob" "kafka.sasl.password client-sasl-s3cret"
rc=0
"$tds" --home "$homes/bob" catalog --timeout 5 -vv > "$out/stdout" 2> "$out/stderr" || rc=$?
[ $rc = 1 ] || [ $rc = 3 ] || fail "client SASL: exit $rc: $(tail -n 3 "$out/stderr")"
grep -q "SASL" "$out/stderr" || fail "client SASL: $(tail -n 3 "$out/stderr")"
! grep -q "client-sasl-s3cret" "$out/stdout" "$out/stderr" || fail "the client printed its SASL password"
cp "$run/bob.config" "$homes/bob/config"
ok "tds: unknown kafka property refused naming the line; a missing ssl.ca.location named; SASL reaches librdkafka (the broker has none), password not printed"

# The daemon: variants of the stack's configuration, each run in the
# foreground beside the stack's daemon (their own pid and state files).
# variant NAME LINES...: start it; its directory is $run/v-NAME.
variant() {
	local d=$run/v-$1
	shift
	mkdir -p "$d"
	# A group of its own: it must not take partitions from the stack's.
	# The keys it sets replace the stack's (db_host replaces db_socket).
	local drop="group_id|pid_file|log_file|state_file|state_interval" l
	for l in "$@"; do
		drop="$drop|${l%% *}"
		[ "${l%% *}" = db_host ] && drop="$drop|db_socket"
	done
	grep -v -E "^($drop) " "$TDS_TTPD_CONF" > "$d/ttpd.conf"
	printf '%s\n' "$@" "group_id tds-ttp-$(basename "$d")" "pid_file $d/ttpd.pid" \
		"state_file $d/state.json" "state_interval 1" >> "$d/ttpd.conf"
	"$ttpd" -d -f "$d/ttpd.conf" > "$d/out" 2> "$d/err" &
	echo $! > "$d/pid"
	bg_pids+=("$(cat "$d/pid")")
}
variant sasl "kafka.security.protocol SASL_PLAINTEXT" "kafka.sasl.mechanisms PLAIN" \
	"kafka.sasl.username ttp" "kafka.sasl.password ttp-sasl-s3cret"
sleep 4
kill -TERM "$(cat "$run/v-sasl/pid")"
wait "$(cat "$run/v-sasl/pid")" || fail "the SASL daemon did not stop cleanly"
grep -q "SASL Handshake not supported by broker (required by mechanism PLAIN)" "$run/v-sasl/err" ||
	fail "daemon SASL: $(tail -n 5 "$run/v-sasl/err")"
! grep -rq "ttp-sasl-s3cret" "$run/v-sasl/err" "$run/v-sasl/out" "$run/ttp" || fail "the SASL password was logged"
ok "tds-ttpd: sasl.* reach librdkafka (SASL handshake refused by the SASL-less broker, logged), password not logged"

# MariaDB over TLS: the accounts must use it from now on.
for u in tds_ttp tds_auditor; do
	for h in localhost 127.0.0.1; do
		mariadb --defaults-file="$TDS_DB_ADMIN_CNF" -e "ALTER USER $u@'$h' REQUIRE SSL" ||
			fail "REQUIRE SSL for $u@$h"
	done
done

# db_wait NAME ok|down: wait for the variant's health, stop it, check.
db_wait() {
	local d=$run/v-$1
	for _ in $(seq 1 100); do
		grep -q "\"db\":\"$2\"" "$d/state.json" 2>/dev/null && break
		sleep 0.2
	done
	cp "$d/state.json" "$d/state.seen" 2>/dev/null || true
	kill -TERM "$(cat "$d/pid")" 2>/dev/null || true
	wait "$(cat "$d/pid")" || true
	grep -q "\"db\":\"$2\"" "$d/state.seen" 2>/dev/null ||
		fail "variant $1: database not $2: $(cat "$d/state.seen" 2>/dev/null) $(tail -n 5 "$d/err")"
}

variant plain
db_wait plain down
grep -q "Access denied for user 'tds_ttp'" "$run/v-plain/err" || fail "plain: $(tail -n 3 "$run/v-plain/err")"
variant tls "db_ssl_ca $TDS_DB_TLS_CA"
db_wait tls ok
ok "tds-ttpd: refused without TLS once tds_ttp must use it; with db_ssl_ca the stack's CA it connects (TLS, verified)"

variant noca "db_ssl_ca $run/no-such-ca.pem"
db_wait noca down
grep -q "database: connect to MariaDB .*: TLS/SSL error: .* (TLS settings: db_ssl_ca $run/no-such-ca.pem, db_ssl_verify_server_cert yes)" \
	"$run/v-noca/err" || fail "missing CA: $(tail -n 3 "$run/v-noca/err")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$run/other.key" \
	-out "$run/other-ca.pem" -days 2 -subj "/CN=another CA" 2> /dev/null
variant otherca "db_ssl_ca $run/other-ca.pem"
db_wait otherca down
grep -q "TLS/SSL error: .*(TLS settings: db_ssl_ca $run/other-ca.pem, db_ssl_verify_server_cert yes)" \
	"$run/v-otherca/err" || fail "other CA: $(tail -n 3 "$run/v-otherca/err")"
ok "tds-ttpd: a missing CA fails naming it: $(grep -o 'TLS/SSL error.*' "$run/v-noca/err" | head -n1)"
ok "tds-ttpd: a CA other than the server's fails the handshake"

# A man in the middle that strips TLS from the server's greeting.  With a
# CA set, verification is on by default, and it is what refuses the plain
# text fallback (Connector/C 3.3 falls back without it).
"$py" "$root/tests/tools/mariadb_strip_tls.py" "$TDS_DB_SOCKET" "$run/mitm.port" "$run/mitm.log" \
	2> "$run/mitm.err" &
bg_pids+=($!)
for _ in $(seq 1 50); do [ -s "$run/mitm.port" ] && break; sleep 0.1; done
[ -s "$run/mitm.port" ] || fail "the TLS stripper did not start: $(cat "$run/mitm.err")"
mitm=$(cat "$run/mitm.port")
variant mitm "db_host 127.0.0.1" "db_port $mitm" "db_ssl_ca $TDS_DB_TLS_CA"
db_wait mitm down
grep -q "TLS/SSL error: SSL is required, but the server does not support it (TLS settings: db_ssl_ca $TDS_DB_TLS_CA, db_ssl_verify_server_cert yes)" \
	"$run/v-mitm/err" || fail "stripped TLS: $(tail -n 3 "$run/v-mitm/err")"
! grep -q plaintext "$run/mitm.log" 2> /dev/null || fail "the daemon fell back to plain text: $(cat "$run/mitm.log")"
variant mitmoff "db_host 127.0.0.1" "db_port $mitm" "db_ssl_ca $TDS_DB_TLS_CA" "db_ssl_verify_server_cert no"
for _ in $(seq 1 50); do grep -q "plaintext-auth tds_ttp" "$run/mitm.log" 2> /dev/null && break; sleep 0.2; done
kill -TERM "$(cat "$run/v-mitmoff/pid")"
wait "$(cat "$run/v-mitmoff/pid")" || true
grep -q "plaintext-auth tds_ttp" "$run/mitm.log" || fail "control: no plain text fallback seen: $(cat "$run/mitm.log")"
ok "tds-ttpd: a TLS-stripping server is refused (verification on by default with db_ssl_ca); with db_ssl_verify_server_cert no it would log in in clear text"

# tds audit with the auditor's option file.
aud=$run/aud.cnf
mkaud() { # mkaud LINES...: the stack's auditor.cnf plus LINES, mode 0600
	(umask 077; { cat "$TDS_DB_AUDITOR_CNF"; printf '%s\n' "$@"; } > "$aud")
}
mkaud
run_tds 1 audit --defaults-file "$aud" exchanges
grep -q "Access denied for user 'tds_auditor'" "$out/stderr" || fail "auditor plain: $(cat "$out/stderr")"
mkaud "ssl-ca=$TDS_DB_TLS_CA" "ssl-verify-server-cert=1"
run_tds 0 audit --defaults-file "$aud" exchanges --json
grep -q '"file_id": "tls-1"' "$out/stdout" || fail "auditor over TLS: $(cat "$out/stdout")"
mkaud "ssl-ca=$run/no-such-ca.pem" "ssl-verify-server-cert=1"
run_tds 1 audit --defaults-file "$aud" exchanges
grep -q "TLS/SSL error: .* (TLS settings: ssl-ca=$run/no-such-ca.pem, ssl-verify-server-cert=1)" "$out/stderr" ||
	fail "auditor missing CA: $(cat "$out/stderr")"
echo "# $(cat "$out/stderr")"
mkaud "ssl-ca=$run/other-ca.pem" "ssl-verify-server-cert=1"
run_tds 1 audit --defaults-file "$aud" exchanges
grep -q "TLS/SSL error" "$out/stderr" || fail "auditor other CA: $(cat "$out/stderr")"
: > "$run/mitm.log"
mkaud "host=127.0.0.1" "port=$mitm" "ssl-ca=$TDS_DB_TLS_CA" "ssl-verify-server-cert=1"
run_tds 1 audit --defaults-file "$aud" exchanges
grep -q "SSL is required, but the server does not support it" "$out/stderr" || fail "auditor stripped TLS: $(cat "$out/stderr")"
! grep -q plaintext "$run/mitm.log" || fail "tds audit fell back to plain text"
ok "tds audit: refused without TLS; with ssl-ca and ssl-verify-server-cert=1 it reads; a missing CA is named"

# aud_refused PATTERN LINES...: the option file is refused before connecting.
aud_refused() {
	local pattern=$1
	shift
	mkaud "$@"
	run_tds 1 audit --defaults-file "$aud" exchanges
	grep -qF -- "$pattern" "$out/stderr" || fail "option file with '$*': $(cat "$out/stderr")"
}
aud_refused "unknown option 'ssl-verify-sever-cert'" "ssl-ca=$TDS_DB_TLS_CA" "ssl-verify-sever-cert=1"
aud_refused "unknown option 'SSL-CA'" "SSL-CA=$TDS_DB_TLS_CA"
aud_refused "Connector/C ignores 'loose-' options" "loose-ssl-ca=$TDS_DB_TLS_CA"
aud_refused "'ssl-verify-server-cert' needs =1 or =0" "ssl-ca=$TDS_DB_TLS_CA" "ssl-verify-server-cert"
aud_refused "'ssl-verify-server-cert' needs =1 or =0" "ssl-ca=$TDS_DB_TLS_CA" "ssl-verify-server-cert=true"
aud_refused "'tls-verify-peer' is already set on line" "ssl-verify-server-cert=1" "tls-verify-peer=0"
aud_refused "not supported here" "!include $run/other.cnf"
aud_refused "unknown option 'ssl-mode' in [client-mariadb]" "[client-mariadb]" "ssl-mode=VERIFY_IDENTITY"
mkaud "ssl-ca=$TDS_DB_TLS_CA" "ssl-verify-server-cert=1" "[mysqldump]" "anything-else=1"
run_tds 0 audit --defaults-file "$aud" exchanges
chmod 640 "$aud"
run_tds 1 audit --defaults-file "$aud" exchanges
grep -q "mode 0640 lets others read the password in it" "$out/stderr" || fail "group-readable cnf: $(cat "$out/stderr")"
ok "tds audit refuses an option file with an unknown, capitalised, loose- or repeated option, a bare or 'true' boolean, !include, or a password others can read; other programs' groups are left alone"

echo "$pass passed, 0 failed"
