#!/usr/bin/env bash
# db-init.sh: run by docker-compose's db-migrate service: applies the
# migrations and the accounts to the MariaDB service, then exits.
set -euo pipefail
cnf=$(mktemp)
trap 'rm -f "$cnf"' EXIT
chmod 600 "$cnf"
for s in db_root_password ttp_db_password auditor_db_password; do
	if ! grep -qxE '[A-Za-z0-9]{16,128}' "/run/secrets/$s"; then
		echo "db-init: secret $s must be one line of 16 to 128 letters and digits" >&2
		exit 1
	fi
done
printf '[client]\nuser=root\npassword=%s\nhost=%s\nport=3306\n' \
	"$(cat /run/secrets/db_root_password)" "${TDS_DB_HOST:-mariadb}" > "$cnf"
bash /tds/scripts/tds-migrate --defaults-file "$cnf" --database tds --dir /tds/sql/migrations
mariadb --defaults-file="$cnf" tds -e "SET @host = '%';
	SET @ttp_password = '$(cat /run/secrets/ttp_db_password)';
	SET @auditor_password = '$(cat /run/secrets/auditor_db_password)';
	SOURCE /tds/sql/accounts.sql;"
echo "db-init: schema and accounts ready"
