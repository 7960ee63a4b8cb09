#!/usr/bin/env bash
# db_privileges.sh BUILD_DIR: least privilege of the database accounts,
# proven on a private stack with the credentials the stack gives them
# (secrets/ttp_db_password, secrets/auditor.cnf), over the socket and over
# TCP (the accounts exist for localhost and 127.0.0.1):
#
# - tds_auditor may SELECT the audit views and nothing else: every write on
#   every table and view, SELECT on a base table, DDL, GRANT, CREATE USER,
#   the FILE privilege and server administration are refused;
# - tds_ttp may do its DML, but no DDL (CREATE/ALTER/DROP TABLE, CREATE
#   VIEW, DROP DATABASE), no CREATE USER or GRANT, no DELETE, UPDATE,
#   REPLACE, TRUNCATE or upsert on the append-only tables used_nonces and
#   aborts, no write to schema_migrations, no read of the audit views or of
#   mysql.*, no FILE privilege (LOAD_FILE gives NULL where the admin reads
#   the file; INTO OUTFILE and LOAD DATA INFILE are refused, no file is
#   written), no SET GLOBAL;
# - every refusal is an access-denied error (1044, 1045, 1142, 1143, 1227)
#   and nothing changed in the schema or the data;
# - SHOW GRANTS of both accounts on both hosts is exactly the list below,
#   which is what sql/accounts.sql intends, and each has a password.
source "$(dirname "${BASH_SOURCE[0]}")/client_common.sh" "$1" 1600
# Ports from tds-stack's random starts, not from a fixed base: stacks of
# other worktrees run the same client tests on this machine.
unset TDS_DB_PORT TDS_KAFKA_PORT

stack_up
ok "private stack up in $run"

admin=$TDS_DB_ADMIN_CNF
secrets=$run/secrets
# The daemon's credentials the way the stack hands them to it (ttpd.conf:
# db_user tds_ttp, db_password_file secrets/ttp_db_password), as option
# files for the mariadb client; the auditor's is the stack's own.
mkcnf() { # mkcnf FILE USER PASSWORD_FILE socket|tcp
	local where
	if [ "$4" = socket ]; then
		where="socket=$TDS_DB_SOCKET"
	else
		where=$(printf 'host=127.0.0.1\nport=%s\nprotocol=tcp' "$TDS_DB_PORT")
	fi
	(umask 077; printf '[client]\nuser=%s\npassword=%s\n%s\ndatabase=tds\n' \
		"$2" "$(cat "$3")" "$where" > "$1")
}
grep -q "^db_user *tds_ttp$" "$run/ttp/ttpd.conf" || fail "the stack's daemon is not tds_ttp"
grep -q "^db_password_file *$secrets/ttp_db_password$" "$run/ttp/ttpd.conf" ||
	fail "the stack's daemon password file moved"
mkcnf "$run/ttp.cnf" tds_ttp "$secrets/ttp_db_password" socket
mkcnf "$run/ttp-tcp.cnf" tds_ttp "$secrets/ttp_db_password" tcp
mkcnf "$run/auditor-tcp.cnf" tds_auditor "$secrets/auditor_db_password" tcp
ttp=$run/ttp.cnf
auditor=$TDS_DB_AUDITOR_CNF
grep -q '^user=tds_auditor$' "$auditor" || fail "auditor.cnf is not tds_auditor's"

# sql CNF STATEMENT: run it, output and errors in $out/sql, exit status.
sql() { mariadb --defaults-file="$1" --batch --skip-column-names -e "$2" > "$out/sql" 2>&1; }
adm() { mariadb --defaults-file="$admin" --batch --skip-column-names tds -e "$1"; }

# denied CNF STATEMENT: refused with an access-denied error.
ndenied=0
denied() {
	if sql "$1" "$2"; then
		fail "$(basename "$1"): '$2' was allowed: $(cat "$out/sql")"
	fi
	grep -Eq '^ERROR (1044|1045|1142|1143|1227) \([0-9A-Z]{5}\).*(denied|Access denied)' "$out/sql" ||
		fail "$(basename "$1"): '$2' failed, but not with access denied: $(cat "$out/sql")"
	ndenied=$((ndenied + 1))
}
allowed() {
	sql "$1" "$2" || fail "$(basename "$1"): '$2' refused: $(cat "$out/sql")"
}

mapfile -t tables < <(adm "SELECT table_name FROM information_schema.tables
	WHERE table_schema = 'tds' AND table_type = 'BASE TABLE' ORDER BY 1")
mapfile -t views < <(adm "SELECT table_name FROM information_schema.tables
	WHERE table_schema = 'tds' AND table_type = 'VIEW' ORDER BY 1")
[ ${#tables[@]} -ge 11 ] || fail "only ${#tables[@]} tables: ${tables[*]}"
[ "${views[*]}" = "audit_exchanges audit_log_leaves audit_tree_heads audit_uploads" ] || fail "views: ${views[*]}"
# A column of each table, for UPDATE statements that would be valid SQL.
col() { adm "SELECT column_name FROM information_schema.columns WHERE
	table_schema = 'tds' AND table_name = '$1' ORDER BY ordinal_position LIMIT 1"; }

# Something to protect: one completed exchange.
new_user alice
new_user bob
echo "evidence" > "$run/doc"
"$tds" --home "$homes/alice" upload "$run/doc" --file-id priv-1 > /dev/null || fail "upload"
"$tds" --home "$homes/bob" download priv-1 -o "$run/doc.out" > /dev/null || fail "download"

# What must not change, whatever is attempted below.
snapshot() {
	adm "SELECT table_name, column_name, column_type FROM information_schema.columns
		WHERE table_schema = 'tds' ORDER BY 1, 2"
	# tree_heads grows on the daemon's timer, whatever the test does.
	for t in "${tables[@]}"; do
		[ "$t" = tree_heads ] || echo "$t $(adm "SELECT COUNT(*) FROM \`$t\`")"
	done
	adm "SELECT user, host FROM mysql.user ORDER BY 1, 2"
}
snapshot > "$run/before"

# A file the FILE privilege would give away (MariaDB's LOAD_FILE reads only
# world-readable files): the admin reads it, neither account may.
echo "server-side file" > "$run/readable"
chmod 644 "$run/readable"
[ "$(adm "SELECT LOAD_FILE('$run/readable') IS NOT NULL")" = 1 ] ||
	fail "control: the admin cannot LOAD_FILE (secure_file_priv?), the FILE test would prove nothing"

# --- tds_auditor ------------------------------------------------------------
for cnf in "$auditor" "$run/auditor-tcp.cnf"; do
	for v in "${views[@]}"; do
		allowed "$cnf" "SELECT COUNT(*) FROM $v"
		denied "$cnf" "INSERT INTO $v () VALUES ()"
		denied "$cnf" "UPDATE $v SET file_id = file_id"
		denied "$cnf" "DELETE FROM $v"
		denied "$cnf" "DROP VIEW $v"
		denied "$cnf" "CREATE OR REPLACE VIEW $v AS SELECT 1"
	done
	[ "$(mariadb --defaults-file="$cnf" -N -e "SELECT COUNT(*) FROM audit_exchanges")" = 1 ] ||
		fail "the auditor does not see the exchange"
	for t in "${tables[@]}"; do
		c=$(col "$t")
		denied "$cnf" "SELECT * FROM \`$t\`"
		denied "$cnf" "INSERT INTO \`$t\` () VALUES ()"
		denied "$cnf" "UPDATE \`$t\` SET \`$c\` = \`$c\`"
		denied "$cnf" "DELETE FROM \`$t\`"
		denied "$cnf" "TRUNCATE \`$t\`"
		denied "$cnf" "ALTER TABLE \`$t\` COMMENT = 'x'"
		denied "$cnf" "DROP TABLE \`$t\`"
		denied "$cnf" "GRANT SELECT ON tds.\`$t\` TO tds_auditor@localhost"
	done
	denied "$cnf" "CREATE TABLE tds.x (a INT)"
	denied "$cnf" "CREATE VIEW tds.x AS SELECT 1"
	denied "$cnf" "DROP DATABASE tds"
	denied "$cnf" "CREATE DATABASE x"
	denied "$cnf" "CREATE USER x@localhost"
	denied "$cnf" "GRANT SELECT ON tds.audit_uploads TO tds_ttp@localhost"
	denied "$cnf" "SELECT * FROM mysql.user"
	denied "$cnf" "SELECT 1 INTO OUTFILE '$run/auditor-outfile'"
	denied "$cnf" "SET GLOBAL general_log = 1"
	sql "$cnf" "SELECT LOAD_FILE('$run/readable') IS NULL" &&
		[ "$(cat "$out/sql")" = 1 ] || fail "the auditor read a file: $(cat "$out/sql")"
done
[ ! -e "$run/auditor-outfile" ] || fail "the auditor wrote a file"
ok "tds_auditor: SELECT on the views only; $ndenied writes, base-table reads, DDL, GRANT and FILE refused"

# --- tds_ttp ----------------------------------------------------------------
n0=$ndenied
for cnf in "$ttp" "$run/ttp-tcp.cnf"; do
	allowed "$cnf" "START TRANSACTION;
		INSERT INTO used_nonces (nonce, used_at) VALUES (REPEAT('n', 32), UTC_TIMESTAMP(6));
		UPDATE consumer_offsets SET next_offset = next_offset;
		DELETE FROM downloads_ongoing WHERE nonce = REPEAT('x', 32);
		ROLLBACK"
	# The evidence log is append-only too (log_state, its one row,
	# may only be updated).
	for t in used_nonces aborts log_leaves log_nodes tree_heads; do
		c=$(col "$t")
		denied "$cnf" "DELETE FROM $t"
		denied "$cnf" "UPDATE $t SET $c = $c"
		denied "$cnf" "TRUNCATE $t"
		denied "$cnf" "REPLACE INTO $t SELECT * FROM $t"
		denied "$cnf" "INSERT INTO $t SELECT * FROM $t ON DUPLICATE KEY UPDATE $c = $c"
	done
	denied "$cnf" "DELETE FROM log_state"
	denied "$cnf" "INSERT INTO log_state SELECT 2, tree_size, frontier FROM log_state"
	for t in "${tables[@]}"; do
		denied "$cnf" "ALTER TABLE \`$t\` ADD COLUMN x INT"
		denied "$cnf" "DROP TABLE \`$t\`"
		denied "$cnf" "CREATE INDEX x ON \`$t\` (\`$(col "$t")\`)"
		denied "$cnf" "GRANT SELECT ON tds.\`$t\` TO tds_auditor@localhost"
	done
	denied "$cnf" "INSERT INTO schema_migrations SELECT * FROM schema_migrations"
	denied "$cnf" "DELETE FROM schema_migrations"
	for v in "${views[@]}"; do denied "$cnf" "SELECT * FROM $v"; done
	denied "$cnf" "CREATE TABLE tds.x (a INT)"
	denied "$cnf" "CREATE TABLE tds.users_copy LIKE tds.users"
	denied "$cnf" "CREATE VIEW tds.x AS SELECT 1"
	denied "$cnf" "CREATE PROCEDURE tds.x() SELECT 1"
	denied "$cnf" "DROP DATABASE tds"
	denied "$cnf" "CREATE DATABASE x"
	denied "$cnf" "CREATE USER x@localhost"
	denied "$cnf" "ALTER USER tds_auditor@localhost IDENTIFIED BY 'x'"
	denied "$cnf" "GRANT ALL ON tds.* TO tds_ttp@localhost"
	denied "$cnf" "SELECT * FROM mysql.user"
	denied "$cnf" "SELECT * FROM mysql.global_priv"
	denied "$cnf" "USE mysql"
	denied "$cnf" "SHOW GRANTS FOR tds_auditor@localhost"
	denied "$cnf" "SELECT 1 INTO OUTFILE '$run/ttp-outfile'"
	denied "$cnf" "LOAD DATA INFILE '$run/readable' INTO TABLE used_nonces"
	denied "$cnf" "SET GLOBAL general_log = 1"
	sql "$cnf" "SELECT LOAD_FILE('$run/readable') IS NULL" &&
		[ "$(cat "$out/sql")" = 1 ] || fail "tds_ttp read a file: $(cat "$out/sql")"
done
[ ! -e "$run/ttp-outfile" ] || fail "tds_ttp wrote a file"
ok "tds_ttp: its DML works; $((ndenied - n0)) DDL, GRANT, append-only deletes and updates, mysql.* and FILE refused"

snapshot > "$run/after"
diff "$run/before" "$run/after" > "$out/diff" || fail "something changed: $(cat "$out/diff")"
ok "no schema, row count or account changed"

# --- SHOW GRANTS --------------------------------------------------------------
# What sql/accounts.sql intends, host written as HOST.  A grant added there
# must be added here: this list is the reviewed statement of privilege.
expected_ttp="GRANT SELECT ON \`tds\`.\`schema_migrations\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT ON \`tds\`.\`aborts\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT ON \`tds\`.\`log_leaves\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT ON \`tds\`.\`log_nodes\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT ON \`tds\`.\`tree_heads\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT ON \`tds\`.\`used_nonces\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, DELETE ON \`tds\`.\`processed_messages\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, UPDATE ON \`tds\`.\`consumer_offsets\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, UPDATE, DELETE ON \`tds\`.\`downloads_completed\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, UPDATE, DELETE ON \`tds\`.\`downloads_ongoing\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, UPDATE, DELETE ON \`tds\`.\`outbox\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, UPDATE, DELETE ON \`tds\`.\`uploads_completed\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, UPDATE, DELETE ON \`tds\`.\`uploads_ongoing\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, INSERT, UPDATE, DELETE ON \`tds\`.\`users\` TO \`tds_ttp\`@\`HOST\`
GRANT SELECT, UPDATE ON \`tds\`.\`log_state\` TO \`tds_ttp\`@\`HOST\`
GRANT USAGE ON *.* TO \`tds_ttp\`@\`HOST\` IDENTIFIED BY PASSWORD"
expected_auditor="GRANT SELECT ON \`tds\`.\`audit_exchanges\` TO \`tds_auditor\`@\`HOST\`
GRANT SELECT ON \`tds\`.\`audit_log_leaves\` TO \`tds_auditor\`@\`HOST\`
GRANT SELECT ON \`tds\`.\`audit_tree_heads\` TO \`tds_auditor\`@\`HOST\`
GRANT SELECT ON \`tds\`.\`audit_uploads\` TO \`tds_auditor\`@\`HOST\`
GRANT USAGE ON *.* TO \`tds_auditor\`@\`HOST\` IDENTIFIED BY PASSWORD"

# normalise: SHOW GRANTS output on stdin, host and hash normalised, sorted.
normalise() {
	sed -e "s/@\`\(localhost\|127\.0\.0\.1\)\`/@\`HOST\`/" \
		-e "s/ IDENTIFIED BY PASSWORD '\*[0-9A-F]\{40\}'/ IDENTIFIED BY PASSWORD/" | LC_ALL=C sort
}
# check_grants WHAT EXPECTED: $out/sql holds WHAT's SHOW GRANTS.
check_grants() {
	local got
	got=$(normalise < "$out/sql")
	[ "$got" = "$2" ] || fail "grants of $1:
$got
expected:
$2"
}
for cnf in "$ttp" "$run/ttp-tcp.cnf" "$auditor" "$run/auditor-tcp.cnf"; do
	sql "$cnf" "SHOW GRANTS" || fail "SHOW GRANTS with $(basename "$cnf"): $(cat "$out/sql")"
	if grep -q tds_ttp "$out/sql"; then
		check_grants "$(basename "$cnf")" "$expected_ttp"
	else
		check_grants "$(basename "$cnf")" "$expected_auditor"
	fi
done
# The same, seen by the admin, for both hosts: nothing granted elsewhere.
for user in tds_ttp tds_auditor; do
	for host in localhost 127.0.0.1; do
		adm "SHOW GRANTS FOR $user@'$host'" > "$out/sql"
		if [ $user = tds_ttp ]; then
			check_grants "$user@$host" "$expected_ttp"
		else
			check_grants "$user@$host" "$expected_auditor"
		fi
	done
done
# Every base table of the schema is one of the daemon's, with DML listed
# above: a new table without a reviewed grant shows up here.
for t in "${tables[@]}"; do
	grep -q "\`tds\`.\`$t\`" <<< "$expected_ttp" || fail "table $t has no reviewed grant"
done
[ "$(adm "SELECT COUNT(*) FROM mysql.user WHERE user = ''")" = 0 ] || fail "anonymous accounts exist"
ok "SHOW GRANTS of tds_ttp and tds_auditor (their own over socket and TCP, the admin's for both hosts) is exactly the reviewed list, with a password; no anonymous account"

echo "$pass passed, 0 failed"
