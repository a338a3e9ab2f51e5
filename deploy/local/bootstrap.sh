#!/usr/bin/env bash
# Installs what Gorod needs and is missing, and starts PostgreSQL and RabbitMQ where they are not running.
# Safe to run again: whatever is already there is left alone. Used by `make up`, `make test` and .ci/run.
#   - apt: Python 3.11 with venv, PostgreSQL with PostGIS, RabbitMQ (needs root, or sudo)
#   - uv (pinned, into .tools/ when it is not on PATH) and the project environment (.venv, from uv.lock)
#   - the admin role gorod_admin that provisioning uses (GOROD_ADMIN_DATABASE_URL overrides it)
set -euo pipefail
cd "$(dirname "$0")/../.."

UV_VERSION=0.13.9
# Trust the system's CA store (where a proxy's or an organisation's root lives), not only uv's bundle.
export UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1} UV_PYTHON_DOWNLOADS=never
PG_HOST=127.0.0.1 PG_PORT=5432 AMQP_PORT=5672
APT_UPDATED=""

say() { printf 'gorod: %s\n' "$*"; }
die() { printf 'gorod: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
as_root() {
  if is_root; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "missing: $*; this script installs with apt (Debian/Ubuntu); install them yourself"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq >/dev/null || die "cannot run apt-get to install $*: run as root (or with sudo), or install them yourself"
    APT_UPDATED=1
  fi
  say "installing $* (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed: run as root (or with sudo), or install them yourself"
}
wait_for() {  # wait_for <seconds> <what> <command...>
  local seconds=$1 what=$2; shift 2
  for _ in $(seq "$seconds"); do "$@" && return 0; sleep 1; done
  die "$what did not come up within ${seconds}s"
}

# --- Python 3.11 with venv -----------------------------------------------------------------------------
PYTHON=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PYTHON=$(command -v "$candidate"); break
  fi
done
if [ -z "$PYTHON" ]; then
  apt_install python3 python3-venv
  PYTHON=$(command -v python3)
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || die "Python 3.11 is needed (Debian 12 ships it)"
fi

# --- uv ------------------------------------------------------------------------------------------------
if command -v uv >/dev/null 2>&1; then
  UV=$(command -v uv)
else
  UV=.tools/uv/bin/uv
  if [ ! -x "$UV" ]; then
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    say "installing uv $UV_VERSION into .tools/uv"
    "$PYTHON" -m venv .tools/uv
    .tools/uv/bin/pip install -q "uv==$UV_VERSION" || die "could not install uv from PyPI"
  fi
fi

# --- PostgreSQL and PostGIS ----------------------------------------------------------------------------
pg_major() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }
if ! port_open $PG_HOST $PG_PORT && [ -z "$(pg_major)" ]; then
  apt_install postgresql postgresql-contrib
fi
PG_MAJOR=$(pg_major)
if [ -n "$PG_MAJOR" ] && [ ! -f "/usr/share/postgresql/$PG_MAJOR/extension/postgis.control" ]; then
  apt_install "postgresql-$PG_MAJOR-postgis-3"
fi
if ! port_open $PG_HOST $PG_PORT; then
  [ -n "$PG_MAJOR" ] || die "PostgreSQL is not reachable at $PG_HOST:$PG_PORT and not installed here"
  if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    as_root pg_createcluster "$PG_MAJOR" main >/dev/null || die "cannot create a PostgreSQL cluster: run as root"
  fi
  say "starting PostgreSQL $PG_MAJOR"
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $2}')
  as_root pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" "$cluster" start \
    || die "cannot start PostgreSQL: run as root, or start it yourself"
  wait_for 30 PostgreSQL port_open $PG_HOST $PG_PORT
fi

# --- RabbitMQ ------------------------------------------------------------------------------------------
if ! port_open 127.0.0.1 $AMQP_PORT; then
  command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || apt_install rabbitmq-server
  if ! port_open 127.0.0.1 $AMQP_PORT; then  # apt may have started it already
    say "starting RabbitMQ"
    as_root rabbitmq-server -detached >/dev/null 2>&1 || die "cannot start RabbitMQ: run as root, or start it yourself"
    wait_for 90 RabbitMQ port_open 127.0.0.1 $AMQP_PORT
  fi
fi
# The management UI (http://127.0.0.1:15672) is a convenience; no harm if it cannot be enabled.
if is_root && command -v rabbitmq-plugins >/dev/null 2>&1 && ! port_open 127.0.0.1 15672; then
  rabbitmq-plugins enable --online rabbitmq_management >/dev/null 2>&1 || true
fi

# --- the admin role provisioning logs in with -------------------------------------------------------------
ADMIN_URL=${GOROD_ADMIN_DATABASE_URL:-postgresql://gorod_admin:gorod_admin@$PG_HOST:$PG_PORT/postgres}
if [ -z "${GOROD_ADMIN_DATABASE_URL:-}" ] && ! PGCONNECT_TIMEOUT=5 psql "$ADMIN_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
  command -v runuser >/dev/null 2>&1 && is_root || die "cannot log in as gorod_admin: run once as root, or set GOROD_ADMIN_DATABASE_URL to a superuser URL"
  say "creating the local admin role gorod_admin"
  runuser -u postgres -- psql -qAtc "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gorod_admin')
      THEN CREATE ROLE gorod_admin LOGIN SUPERUSER PASSWORD 'gorod_admin';
      ELSE ALTER ROLE gorod_admin LOGIN SUPERUSER PASSWORD 'gorod_admin'; END IF; END \$\$" >/dev/null \
    || die "cannot create role gorod_admin (runuser -u postgres psql failed)"
fi

# --- the project environment -----------------------------------------------------------------------------
"$UV" sync --frozen --python "$PYTHON" --quiet || die "uv sync failed (see above)"
