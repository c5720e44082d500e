#!/usr/bin/env bash
# Start the operating system's PostgreSQL for the test suite and print the URL the tests connect with
# (JICHI_TEST_POSTGRES_URL). `make test` and `.ci/run` call it; see tests/conftest.py for the fixtures.
#
#   bash tests/services/postgres.sh [--install]
#
# - Uses the Debian/Ubuntu cluster tools (pg_lsclusters, pg_ctlcluster): the newest installed version's
#   "main" cluster is created if missing and started if down.
# - Installs the server with apt-get only with --install or when CI=true (CI must never skip these tests).
# - Creates the login role jichi (password jichi, CREATEDB: each test gets its own database) and the
#   database jichi_test, then checks password login over TCP on 127.0.0.1.
# Prints only the URL on stdout. When PostgreSQL cannot be started, prints the reason on stderr, prints
# nothing on stdout and exits 1. Idempotent: running it again on a started cluster changes nothing.
set -euo pipefail

ROLE=jichi
PASSWORD=jichi
DATABASE=jichi_test
CLUSTER=main

say() { echo "postgres.sh: $*" >&2; }
fail() { say "$*"; exit 1; }

install=false
case "${CI:-}" in true | TRUE | True | 1 | yes) install=true ;; esac
for argument in "$@"; do
    case "$argument" in
        --install) install=true ;;
        *) fail "不明な引数です: $argument（使えるのは --install だけです）" ;;
    esac
done

# Server commands run as the cluster owner; psql as postgres authenticates by peer over the unix socket.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    elif [ "$(id -un)" = postgres ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n -u postgres -- "$@"
    else
        fail "PostgreSQL を起動するには root か postgres ユーザー、またはパスワードなしの sudo が必要です。" \
             "自分で起動したサーバーを使うなら JICHI_TEST_POSTGRES_URL を設定してください。"
    fi
}

newest_server_version() {
    local versions=()
    for binary in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$binary" ] && versions+=("$(basename "$(dirname "$(dirname "$binary")")")")
    done
    [ "${#versions[@]}" -gt 0 ] || return 1
    printf '%s\n' "${versions[@]}" | sort -n | tail -n 1
}

if ! command -v pg_ctlcluster >/dev/null || ! newest_server_version >/dev/null; then
    if [ "$install" != true ]; then
        fail "PostgreSQL のサーバーがインストールされていません（pg_ctlcluster と /usr/lib/postgresql/*/bin/postgres）。" \
             "Debian/Ubuntu では「apt-get install postgresql」、または --install を付けて実行してください。"
    fi
    [ "$(id -u)" = 0 ] || fail "PostgreSQL のインストールには root 権限が必要です。"
    say "PostgreSQL をインストールします（apt-get）…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

version=$(newest_server_version) || fail "PostgreSQL のサーバーが見つかりません（/usr/lib/postgresql/*/bin/postgres）。"
cd /  # runuser keeps the working directory, which the postgres user may not be allowed to read

if ! pg_lsclusters --no-header | awk -v v="$version" -v c="$CLUSTER" '$1 == v && $2 == c { found = 1 } END { exit !found }'; then
    say "クラスタ $version/$CLUSTER を作成します…"
    as_postgres pg_createcluster "$version" "$CLUSTER" >&2
fi

status=$(pg_lsclusters --no-header | awk -v v="$version" -v c="$CLUSTER" '$1 == v && $2 == c { print $4 }')
port=$(pg_lsclusters --no-header | awk -v v="$version" -v c="$CLUSTER" '$1 == v && $2 == c { print $3 }')
if [ "$status" != online ]; then
    say "クラスタ $version/$CLUSTER を起動します（ポート $port）…"
    as_postgres pg_ctlcluster "$version" "$CLUSTER" start >&2 \
        || fail "pg_ctlcluster $version $CLUSTER start に失敗しました。/var/log/postgresql/postgresql-$version-$CLUSTER.log を確認してください。"
fi

for _ in $(seq 1 30); do
    as_postgres pg_isready -q -p "$port" && break
    sleep 1
done
as_postgres pg_isready -q -p "$port" || fail "PostgreSQL $version/$CLUSTER（ポート $port）が接続を受け付けません。"

as_postgres psql -p "$port" -d postgres -v ON_ERROR_STOP=1 -qAt >&2 <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    ELSE
        ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    END IF;
END
\$\$;
-- DROP DATABASE … WITH (FORCE) ends the sessions left on a test database; it may signal them only with this role.
GRANT pg_signal_backend TO $ROLE;
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE')
\gexec
SQL

PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p "$port" -U "$ROLE" -d "$DATABASE" -qAt -c 'SELECT 1' >/dev/null \
    || fail "127.0.0.1:$port にパスワードで接続できません。pg_hba.conf に「host all all 127.0.0.1/32 scram-sha-256」があるか確認してください。"

echo "postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$port/$DATABASE"
