#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL server for the registry tests, then
# print the SQLAlchemy URL of a fresh test database on stdout. Used by .ci/run.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 >&2
su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'glocal'\"" >&2
su postgres -c "dropdb --if-exists glocal_test" >&2
su postgres -c "createdb glocal_test" >&2
echo "postgresql+psycopg://postgres:glocal@127.0.0.1:5432/glocal_test"
