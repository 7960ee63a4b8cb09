#!/usr/bin/env bash
# compose_config.sh ROOT: docker-compose.yml is valid for Debian's
# docker-compose and defines the deployment's services.  (No Docker engine
# runs here: this checks the file, not a running deployment.)
set -euo pipefail
cd "$1"
command -v docker-compose >/dev/null || { echo "docker-compose is not installed"; exit 1; }
docker-compose -f docker-compose.yml config -q
services=$(docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
[ "$services" = "db-migrate kafka kafka-topics mariadb ttpd " ] || {
	echo "FAIL: services are '$services'"; exit 1; }
# Read the whole output first: grep -q leaving early would SIGPIPE the
# writer and fail the pipeline under pipefail.
rendered=$(docker-compose -f docker-compose.yml config)
grep -q "KAFKA_PROCESS_ROLES: broker,controller" <<< "$rendered" || {
	echo "FAIL: kafka is not in KRaft mode"; exit 1; }
bash -n deploy/db-init.sh
echo "docker-compose.yml valid: $services"
echo "1 passed, 0 failed"
