#!/usr/bin/env bash
# Start/stop the REAL servers used by the mlops integration tests, and create their fixtures.
#
#   scripts/services.sh start|stop|status|env [STATE_DIR]
#
# STATE_DIR defaults to ${MLOPS_SERVICES_DIR:-$PWD/build/services}. Everything lives there:
#   <svc>.pid / <svc>.start   PID (also its process group id: each server runs under setsid)
#                             and the kernel start time, used to detect PID reuse
#   <svc>.port, <svc>.log     chosen 127.0.0.1 port and server output
#   plain/ auth/              MLflow sqlite DBs, artifact stores, basic_auth.ini
#   services.env              sourceable KEY=VALUE lines for the tests (written after startup)
#   fixtures.json             summary from tests/fixtures/make_models.py (plain server)
#   fixtures-validate.json    summary from tests/fixtures/make_validate_models.py (plain server:
#                             the v-* models that 'mlops validate' is tested on)
#   fixtures-auth.json        same, for the basic-auth server
#   <svc>.fixtures.log        fixture output
#
# Services (one function group per service, see SERVICES below):
#   mlflow_plain   mlflow server, sqlite backend, proxied artifacts
#   mlflow_auth    mlflow server --app-name basic-auth (default_permission = NO_PERMISSIONS)
#   registry_plain docker-registry over plain HTTP, no auth
#   registry_auth  docker-registry with htpasswd Basic auth over TLS (CA generated here)
#   token_issuer   tests/fixtures/token_issuer.py: the token server of registry_token
#   registry_token docker-registry with Bearer token auth (auth: token:, tokens signed by a key
#                  whose certificate is generated here); plain HTTP on 127.0.0.1
#   git_http       git http-backend (git's own smart-HTTP server) behind Debian's lighttpd
#                  with Basic auth; bare repositories under STATE/git_http/repos, which the
#                  tests create (and give hooks) themselves
#
# Processes are only ever stopped through the PIDs recorded here (TERM to the process group
# the server leads, then KILL after 10 s), never by name.
#
# Env knobs: MLOPS_CACHE (venv cache root, see scripts/venv.sh), MLOPS_BIG_MB (size of the big
# artifact of the `files` model, default 50), MLOPS_MLFLOW_WORKERS (uvicorn workers, default 2),
# MLOPS_HEALTH_TIMEOUT (seconds, default 90), MLOPS_AUTH_CACHE_TTL (basic-auth credential
# cache, default 0 = off as in MLflow's defaults), MLOPS_TOKEN_SHORT_LIFETIME (seconds the
# registry_token short-lived user's tokens live, default 2), MLOPS_SERVICES_KEEP_ON_FAILURE=1 (do not stop
# the servers when start fails, for debugging).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"
state="${2:-${MLOPS_SERVICES_DIR:-$PWD/build/services}}"

SERVICES=(mlflow_plain mlflow_auth registry_plain registry_auth token_issuer registry_token git_http)
# More services live one per file in scripts/services.d/NAME.sh: each appends its names to
# SERVICES and defines the same function group (launch_/url_/ready_/env_, optional fixtures_).
# Sourced after the helpers below are defined; see scripts/services.d/README.

# Known test credentials (test-only servers bound to 127.0.0.1; MLflow wants >= 12 chars).
AUTH_ADMIN_USER="admin"
AUTH_ADMIN_PASSWORD=mlops-admin-password-1
AUTH_READER_USER=reader
AUTH_READER_PASSWORD=mlops-reader-password-1
AUTH_EDITOR_USER=editor
AUTH_EDITOR_PASSWORD=mlops-editor-password-1
AUTH_APPROVER_USER=approver
AUTH_APPROVER_PASSWORD=mlops-approver-password-1
AUTH_NOPERM_USER=noperm
AUTH_NOPERM_PASSWORD=mlops-noperm-password-1
REGISTRY_USER=pusher
REGISTRY_PASSWORD=mlops-registry-password-1
GIT_USER=gitops
GIT_PASSWORD=mlops-git-password-1
TOKEN_USER=tokenpusher
TOKEN_PASSWORD=mlops-token-password-1
TOKEN_READER_USER=tokenreader
TOKEN_READER_PASSWORD=mlops-token-reader-password-1
TOKEN_SHORT_USER=shortlived
TOKEN_SHORT_PASSWORD=mlops-token-short-password-1
TOKEN_IDENTITY=mlops-test-identity-token-1
TOKEN_SHORT_LIFETIME="${MLOPS_TOKEN_SHORT_LIFETIME:-2}"

HEALTH_TIMEOUT="${MLOPS_HEALTH_TIMEOUT:-90}"
BIG_MB="${MLOPS_BIG_MB:-50}"
WORKERS="${MLOPS_MLFLOW_WORKERS:-2}"
AUTH_CACHE_TTL="${MLOPS_AUTH_CACHE_TTL:-0}"

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $0 start|stop|status|env [STATE_DIR]" >&2
  exit 2
}

# ----------------------------------------------------------------------------- process helpers

# Kernel start time (clock ticks since boot) of a PID, empty if it does not exist.
proc_start_time() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  # Field 22; strip "pid (comm) " first since comm may contain spaces.
  stat="${stat##*) }"
  awk '{print $20}' <<<"$stat"
}

# Is the recorded leader of service $1 alive (and really the process we started)?
svc_alive() {
  local name="$1" pid start
  [[ -f "$state/$name.pid" ]] || return 1
  pid="$(<"$state/$name.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  start="$(proc_start_time "$pid")"
  [[ -f "$state/$name.start" && "$start" == "$(<"$state/$name.start")" ]]
}

# Does the process group led by the recorded PID still have members?
svc_group_alive() {
  local pid="$1"
  kill -0 -- "-$pid" 2>/dev/null
}

# launch NAME WORKDIR CMD...: start CMD under setsid (new session and process group, the PID
# is the group id), output to STATE/NAME.log, record PID and start time.
launch() {
  local name="$1" workdir="$2"
  shift 2
  mkdir -p "$workdir"
  # No job control in this script, so the background subshell is not a group leader and
  # setsid(1) calls setsid() in place and execs CMD: $! is the server's PID and PGID.
  (cd "$workdir" && exec setsid "$@" >>"$state/$name.log" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"$state/$name.pid"
  local start=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    start="$(proc_start_time "$pid")"
    [[ -n "$start" ]] && break
    sleep 0.05
  done
  echo "$start" >"$state/$name.start"
  log "$name: started pid $pid (log $state/$name.log)"
}

# stop_svc NAME: TERM the recorded process group, wait up to 10 s, then KILL. Only ever
# touches the recorded PID / its process group.
stop_svc() {
  local name="$1" pid pgid start
  [[ -f "$state/$name.pid" ]] || return 0
  pid="$(<"$state/$name.pid")"
  if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
    rm -f "$state/$name.pid" "$state/$name.start"
    return 0
  fi
  start="$(proc_start_time "$pid")"
  if [[ -n "$start" && -f "$state/$name.start" && "$start" != "$(<"$state/$name.start")" ]]; then
    log "$name: pid $pid was reused by another process; not touching it"
    rm -f "$state/$name.pid" "$state/$name.start"
    return 0
  fi
  # Signal the group if the recorded PID leads one (it does when started by launch); if the
  # leader is gone, its group may still hold orphaned children (e.g. uvicorn workers).
  local target="$pid"
  pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
  if [[ "$pgid" == "$pid" ]] || { [[ -z "$start" ]] && svc_group_alive "$pid"; }; then
    target="-$pid"
  fi
  if kill -0 -- "$target" 2>/dev/null; then
    log "$name: stopping pid $pid (signal target $target)"
    kill -TERM -- "$target" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 -- "$target" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 -- "$target" 2>/dev/null; then
      log "$name: still running after 10 s; sending KILL"
      kill -KILL -- "$target" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 -- "$target" 2>/dev/null || break
        sleep 0.1
      done
    fi
    if kill -0 -- "$target" 2>/dev/null; then
      log "$name: could not stop pid $pid"
      return 1
    fi
    log "$name: stopped"
  fi
  rm -f "$state/$name.pid" "$state/$name.start"
}

free_ports() { # free_ports N: N distinct free 127.0.0.1 ports, chosen by the kernel
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# wait_for NAME CMD...: poll CMD until it succeeds, the process dies or HEALTH_TIMEOUT
# passes. Returns 0 when ready, 1 on timeout, 2 if the process died.
wait_for() {
  local name="$1" deadline=$((SECONDS + HEALTH_TIMEOUT))
  shift
  while ((SECONDS < deadline)); do
    "$@" && return 0
    svc_alive "$name" || return 2
    sleep 0.3
  done
  return 1
}

body_is() { [[ "$(curl -sS --max-time 3 "$1" 2>/dev/null || true)" == "$2" ]]; }
status_is() { [[ "$(curl -s -o /dev/null --max-time 3 -w '%{http_code}' "$1" 2>/dev/null || true)" == "$2" ]]; }

# wait_http NAME URL EXPECTED_BODY / wait_status NAME URL CODE
wait_http() { wait_for "$1" body_is "$2" "$3"; }
wait_status() { wait_for "$1" status_is "$2" "$3"; }

show_log_tail() {
  local name="$1"
  log "---- last lines of $state/$name.log ----"
  tail -n 40 "$state/$name.log" >&2 2>/dev/null || true
  log "----"
}

# ----------------------------------------------------------------------------- service: mlflow

mlflow_server() { # mlflow_server NAME SUBDIR PORT [extra args...]; env comes from the caller
  local name="$1" dir="$state/$2" port="$3"
  shift 3
  mkdir -p "$dir/artifacts"
  echo "$port" >"$state/$name.port"
  launch "$name" "$dir" env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    "$VENV/bin/mlflow" server \
    --backend-store-uri "sqlite:///$dir/mlflow.db" \
    --artifacts-destination "$dir/artifacts" \
    --serve-artifacts \
    --host 127.0.0.1 --port "$port" \
    --workers "$WORKERS" \
    "$@"
}

launch_mlflow_plain() {
  mlflow_server mlflow_plain plain "$1"
}

launch_mlflow_auth() {
  local dir="$state/auth"
  mkdir -p "$dir"
  cat >"$dir/basic_auth.ini" <<EOF
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = sqlite:///$dir/basic_auth.db
admin_username = $AUTH_ADMIN_USER
admin_password = $AUTH_ADMIN_PASSWORD
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
# MLOPS_AUTH_CACHE_TTL (default 0 = MLflow's default, off). Uncached, every authenticated
# request pays a PBKDF2 check (~0.4 s). MLflow 3.17.2 bug: with the cache on, a request with
# a non-Basic Authorization header (e.g. Bearer) gets a 500 instead of a 401.
auth_cache_ttl_seconds = $AUTH_CACHE_TTL
EOF
  if [[ ! -s "$dir/secret_key" ]]; then
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$dir/secret_key"
  fi
  MLFLOW_AUTH_CONFIG_PATH="$dir/basic_auth.ini" \
    MLFLOW_FLASK_SERVER_SECRET_KEY="$(<"$dir/secret_key")" \
    mlflow_server mlflow_auth auth "$1" --app-name basic-auth
}

url_mlflow_plain() { echo "http://127.0.0.1:$(<"$state/mlflow_plain.port")"; }
url_mlflow_auth() { echo "http://127.0.0.1:$(<"$state/mlflow_auth.port")"; }

ready_mlflow_plain() { wait_http mlflow_plain "$(url_mlflow_plain)/health" OK; }
ready_mlflow_auth() { wait_http mlflow_auth "$(url_mlflow_auth)/health" OK; }

env_mlflow_plain() {
  echo "MLOPS_TEST_MLFLOW_URI=$(url_mlflow_plain)"
  echo "MLOPS_TEST_FIXTURES_JSON=$state/fixtures.json"
  echo "MLOPS_TEST_VALIDATE_FIXTURES_JSON=$state/fixtures-validate.json"
}

env_mlflow_auth() {
  echo "MLOPS_TEST_MLFLOW_AUTH_URI=$(url_mlflow_auth)"
  echo "MLOPS_TEST_AUTH_ADMIN_USER=$AUTH_ADMIN_USER"
  echo "MLOPS_TEST_AUTH_ADMIN_PASSWORD=$AUTH_ADMIN_PASSWORD"
  echo "MLOPS_TEST_AUTH_READER_USER=$AUTH_READER_USER"
  echo "MLOPS_TEST_AUTH_READER_PASSWORD=$AUTH_READER_PASSWORD"
  echo "MLOPS_TEST_AUTH_EDITOR_USER=$AUTH_EDITOR_USER"
  echo "MLOPS_TEST_AUTH_EDITOR_PASSWORD=$AUTH_EDITOR_PASSWORD"
  echo "MLOPS_TEST_AUTH_APPROVER_USER=$AUTH_APPROVER_USER"
  echo "MLOPS_TEST_AUTH_APPROVER_PASSWORD=$AUTH_APPROVER_PASSWORD"
  echo "MLOPS_TEST_AUTH_NOPERM_USER=$AUTH_NOPERM_USER"
  echo "MLOPS_TEST_AUTH_NOPERM_PASSWORD=$AUTH_NOPERM_PASSWORD"
  echo "MLOPS_TEST_AUTH_FIXTURES_JSON=$state/fixtures-auth.json"
}

# ----------------------------------------------------------------------------- service: registry
# Debian's docker-registry (distribution 2.8) on 127.0.0.1: one open over plain HTTP, one with
# htpasswd Basic auth over TLS with a CA generated here.

registry_server() { # registry_server NAME PORT [auth yaml] [extra http yaml, e.g. ", tls: {...}"]
  local name="$1" port="$2" auth="${3:-}" http_extra="${4:-}" dir="$state/$1"
  mkdir -p "$dir/data"
  echo "$port" >"$state/$name.port"
  {
    echo "version: 0.1"
    echo "log: {level: warn}"
    echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
    echo "http: {addr: 127.0.0.1:$port, secret: mlops-test-secret$http_extra}"
    [[ -n "$auth" ]] && echo "$auth"
  } >"$dir/config.yml"
  launch "$name" "$dir" docker-registry serve "$dir/config.yml"
}

launch_registry_plain() { registry_server registry_plain "$1"; }

launch_registry_auth() {
  local dir="$state/registry_auth"
  mkdir -p "$dir"
  htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$dir/htpasswd" 2>/dev/null
  # A CA made for this test and a server certificate for 127.0.0.1 signed by it.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mlops test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/san.ext" -out "$dir/server.pem" >/dev/null 2>&1
  registry_server registry_auth "$1" "auth: {htpasswd: {realm: mlops-test, path: $dir/htpasswd}}" \
    ", tls: {certificate: $dir/server.pem, key: $dir/server.key}"
}

url_registry_plain() { echo "127.0.0.1:$(<"$state/registry_plain.port")"; }
url_registry_auth() { echo "127.0.0.1:$(<"$state/registry_auth.port")"; }
ready_registry_plain() { wait_status registry_plain "http://$(url_registry_plain)/v2/" 200; }
ready_registry_auth() { wait_for registry_auth status_is_tls "https://$(url_registry_auth)/v2/" 401 "$state/registry_auth/ca.pem"; }
status_is_tls() { [[ "$(curl -s -o /dev/null --max-time 3 --cacert "$3" -w '%{http_code}' "$1" 2>/dev/null || true)" == "$2" ]]; }
env_registry_plain() { echo "MLOPS_TEST_REGISTRY=$(url_registry_plain)"; }
env_registry_auth() {
  echo "MLOPS_TEST_REGISTRY_AUTH=$(url_registry_auth)"
  echo "MLOPS_TEST_REGISTRY_AUTH_CA=$state/registry_auth/ca.pem"
  echo "MLOPS_TEST_REGISTRY_USER=$REGISTRY_USER"
  echo "MLOPS_TEST_REGISTRY_PASSWORD=$REGISTRY_PASSWORD"
}

# ----------------------------------------------------------------------------- service: git
# A real git server: git's own smart-HTTP CGI (git http-backend) behind Debian's lighttpd, with
# Basic auth on every request. http-backend allows pushes because lighttpd sets REMOTE_USER.

launch_git_http() {
  local dir="$state/git_http" port="$1" backend
  mkdir -p "$dir/repos" "$dir/www"
  echo "$port" >"$state/git_http.port"
  printf '%s:%s\n' "$GIT_USER" "$GIT_PASSWORD" >"$dir/users"
  backend="$(git --exec-path)/git-http-backend"
  cat >"$dir/lighttpd.conf" <<EOF
server.modules = ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi")
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$dir/www"
server.errorlog = "$dir/error.log"
auth.backend = "plain"
auth.backend.plain.userfile = "$dir/users"
alias.url = ("/git" => "$backend")
\$HTTP["url"] =~ "^/git" {
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "$dir/repos", "GIT_HTTP_EXPORT_ALL" => "1", "PATH" => "/usr/bin:/bin")
  auth.require = ("" => ("method" => "basic", "realm" => "mlops-git", "require" => "valid-user"))
}
EOF
  launch git_http "$dir" lighttpd -D -f "$dir/lighttpd.conf"
}

url_git_http() { echo "http://127.0.0.1:$(<"$state/git_http.port")/git"; }
ready_git_http() { wait_status git_http "$(url_git_http)/none.git/info/refs?service=git-upload-pack" 401; }
env_git_http() {
  echo "MLOPS_TEST_GIT_HTTP=$(url_git_http)"
  echo "MLOPS_TEST_GIT_ROOT=$state/git_http/repos"
  echo "MLOPS_TEST_GIT_USER=$GIT_USER"
  echo "MLOPS_TEST_GIT_PASSWORD=$GIT_PASSWORD"
}

# Bearer tokens: token_issuer signs JWTs (RS256) with a key made here; registry_token trusts
# its self-signed certificate (rootcertbundle). The registry's config names the issuer's
# port, so token_issuer is launched first (SERVICES order).
launch_token_issuer() {
  local dir="$state/token_issuer"
  mkdir -p "$dir"
  echo "$1" >"$state/token_issuer.port"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mlops test token issuer" \
    -keyout "$dir/signing.key" -out "$dir/signing.pem" >/dev/null 2>&1
  launch token_issuer "$dir" "$PY" "$repo_root/tests/fixtures/token_issuer.py" --port "$1" \
    --key "$dir/signing.key" --cert "$dir/signing.pem" --short-lifetime "$TOKEN_SHORT_LIFETIME" \
    --user "$TOKEN_USER:$TOKEN_PASSWORD" --reader "$TOKEN_READER_USER:$TOKEN_READER_PASSWORD" \
    --short-user "$TOKEN_SHORT_USER:$TOKEN_SHORT_PASSWORD" --identity-token "$TOKEN_IDENTITY:$TOKEN_USER" \
    --stats-file "$dir/stats.json"
}

launch_registry_token() {
  local issuer="$state/token_issuer"
  registry_server registry_token "$1" \
    "auth: {token: {realm: '$(url_token_issuer)/token', service: mlops-test-registry, issuer: mlops-test-issuer, rootcertbundle: $issuer/signing.pem}}"
}

url_token_issuer() { echo "http://127.0.0.1:$(<"$state/token_issuer.port")"; }
url_registry_token() { echo "127.0.0.1:$(<"$state/registry_token.port")"; }
ready_token_issuer() { wait_status token_issuer "$(url_token_issuer)/token" 401; }
ready_registry_token() { wait_status registry_token "http://$(url_registry_token)/v2/" 401; }
env_token_issuer() {
  echo "MLOPS_TEST_TOKEN_ISSUER=$(url_token_issuer)"
  echo "MLOPS_TEST_TOKEN_STATS=$state/token_issuer/stats.json"
}
env_registry_token() {
  echo "MLOPS_TEST_REGISTRY_TOKEN=$(url_registry_token)"
  echo "MLOPS_TEST_REGISTRY_TOKEN_USER=$TOKEN_USER"
  echo "MLOPS_TEST_REGISTRY_TOKEN_PASSWORD=$TOKEN_PASSWORD"
  echo "MLOPS_TEST_REGISTRY_TOKEN_READER_USER=$TOKEN_READER_USER"
  echo "MLOPS_TEST_REGISTRY_TOKEN_READER_PASSWORD=$TOKEN_READER_PASSWORD"
  echo "MLOPS_TEST_REGISTRY_TOKEN_SHORT_USER=$TOKEN_SHORT_USER"
  echo "MLOPS_TEST_REGISTRY_TOKEN_SHORT_PASSWORD=$TOKEN_SHORT_PASSWORD"
  echo "MLOPS_TEST_REGISTRY_TOKEN_SHORT_LIFETIME=$TOKEN_SHORT_LIFETIME"
  echo "MLOPS_TEST_REGISTRY_TOKEN_IDENTITY=$TOKEN_IDENTITY"
}

fixtures_mlflow_plain() {
  log "mlflow_plain: creating fixtures (iris, files with a ${BIG_MB} MiB file, legacy, v-* for validate)"
  env -u MLFLOW_TRACKING_USERNAME -u MLFLOW_TRACKING_PASSWORD -u MLFLOW_TRACKING_TOKEN \
    "$PY" "$repo_root/tests/fixtures/make_models.py" \
    --tracking-uri "$(url_mlflow_plain)" --big-mb "$BIG_MB" \
    --out-json "$state/fixtures.json" >>"$state/mlflow_plain.fixtures.log" 2>&1
  env -u MLFLOW_TRACKING_USERNAME -u MLFLOW_TRACKING_PASSWORD -u MLFLOW_TRACKING_TOKEN \
    "$PY" "$repo_root/tests/fixtures/make_validate_models.py" \
    --tracking-uri "$(url_mlflow_plain)" \
    --out-json "$state/fixtures-validate.json" >>"$state/mlflow_plain.fixtures.log" 2>&1
}

fixtures_mlflow_auth() {
  log "mlflow_auth: creating fixtures (iris as admin, users, grants)"
  MLFLOW_TRACKING_USERNAME="$AUTH_ADMIN_USER" MLFLOW_TRACKING_PASSWORD="$AUTH_ADMIN_PASSWORD" \
    "$PY" "$repo_root/tests/fixtures/make_models.py" \
    --tracking-uri "$(url_mlflow_auth)" --models iris \
    --out-json "$state/fixtures-auth.json" >>"$state/mlflow_auth.fixtures.log" 2>&1
  MLFLOW_TRACKING_USERNAME="$AUTH_ADMIN_USER" MLFLOW_TRACKING_PASSWORD="$AUTH_ADMIN_PASSWORD" \
    "$PY" "$repo_root/tests/fixtures/setup_auth.py" \
    --tracking-uri "$(url_mlflow_auth)" --model iris --experiment mlops-fixtures \
    --reader "$AUTH_READER_USER:$AUTH_READER_PASSWORD" \
    --editor "$AUTH_EDITOR_USER:$AUTH_EDITOR_PASSWORD" --editor "$AUTH_APPROVER_USER:$AUTH_APPROVER_PASSWORD" \
    --noperm "$AUTH_NOPERM_USER:$AUTH_NOPERM_PASSWORD" >>"$state/mlflow_auth.fixtures.log" 2>&1
}

# ----------------------------------------------------------------------------- commands

env_quote() { # KEY VALUE -> KEY=VALUE, single-quoted only when needed
  if [[ "$2" =~ ^[A-Za-z0-9_./:@%+=,-]*$ ]]; then
    printf '%s=%s\n' "$1" "$2"
  else
    printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
  fi
}

write_env() {
  local tmp="$state/services.env.tmp" line svc
  {
    echo "# Written by scripts/services.sh start at $(date -u +%Y-%m-%dT%H:%M:%SZ); source it."
    for svc in "${SERVICES[@]}"; do
      while IFS= read -r line; do
        env_quote "${line%%=*}" "${line#*=}"
      done < <("env_$svc")
    done
    env_quote MLOPS_TEST_VENV "$VENV"
    env_quote MLOPS_TEST_MLSERVER "$MLSERVER"
    env_quote MLOPS_TEST_PYTHON "$PY"
    env_quote MLOPS_SERVICES_DIR "$state"
  } >"$tmp"
  mv "$tmp" "$state/services.env"
}

all_alive() {
  local svc
  for svc in "${SERVICES[@]}"; do
    svc_alive "$svc" || return 1
  done
}

do_stop() {
  local svc rc=0 i
  # Reverse order: dependants first once there are any.
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    svc="${SERVICES[$i]}"
    stop_svc "$svc" || rc=1
  done
  rm -f "$state/services.env"
  return "$rc"
}

do_status() {
  local svc rc=0 pid
  for svc in "${SERVICES[@]}"; do
    if svc_alive "$svc"; then
      pid="$(<"$state/$svc.pid")"
      echo "$svc: running pid=$pid port=$(cat "$state/$svc.port" 2>/dev/null) url=$("url_$svc" 2>/dev/null || echo '?')"
    elif [[ -f "$state/$svc.pid" ]]; then
      echo "$svc: NOT running (stale pid file $(<"$state/$svc.pid"))"
      rc=3
    else
      echo "$svc: stopped"
      rc=3
    fi
  done
  if [[ -f "$state/services.env" ]]; then
    echo "env: $state/services.env"
  fi
  return "$rc"
}

on_start_failure() {
  local rc=$?
  trap - EXIT
  if ((rc != 0)); then
    log "start failed (exit $rc)"
    if [[ "${MLOPS_SERVICES_KEEP_ON_FAILURE:-0}" == 1 ]]; then
      log "MLOPS_SERVICES_KEEP_ON_FAILURE=1: leaving servers running; stop with: $0 stop $state"
    else
      do_stop || true
    fi
  fi
  exit "$rc"
}

do_start() {
  local t0=$SECONDS svc rc attempt
  if all_alive && [[ -f "$state/services.env" ]]; then
    log "already running (state $state)"
    do_status >&2 || true
    return 0
  fi
  # Partially running from an earlier attempt: start from a clean slate.
  do_stop >/dev/null 2>&1 || true

  VENV="$("$repo_root/scripts/venv.sh")"
  PY="$VENV/bin/python"
  MLSERVER=""
  # MLServer (serving smoke test of `mlops validate`) has a venv of its own; build it
  # while the servers start and the fixtures are made.
  "$repo_root/scripts/venv.sh" "$repo_root/tests/fixtures/requirements-mlserver.txt" \
    >"$state/mlserver-venv.path" 2>"$state/mlserver-venv.log" &
  local mlserver_venv_pid=$!
  trap on_start_failure EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  rm -f "$state"/*.fixtures.log

  local ports
  read -r -a ports <<<"$(free_ports "${#SERVICES[@]}")"
  local i=0
  for svc in "${SERVICES[@]}"; do
    "launch_$svc" "${ports[$i]}"
    i=$((i + 1))
  done
  for svc in "${SERVICES[@]}"; do
    for attempt in 1 2 3; do
      rc=0
      "ready_$svc" || rc=$?
      ((rc == 0)) && break
      if ((rc == 2 && attempt < 3)); then
        # Died during startup, e.g. the port was taken in the meantime: retry on a new port.
        show_log_tail "$svc"
        log "$svc: died during startup; retrying on a new port"
        stop_svc "$svc" || true
        "launch_$svc" "$(free_ports 1)"
        continue
      fi
      show_log_tail "$svc"
      die "$svc: not healthy after ${HEALTH_TIMEOUT} s"
    done
    log "$svc: healthy at $("url_$svc") after $((SECONDS - t0)) s"
  done

  write_env
  # Fixtures for the services run in parallel (each logs to STATE/<svc>.fixtures.log).
  local -A fixture_pids=()
  for svc in "${SERVICES[@]}"; do
    if declare -F "fixtures_$svc" >/dev/null; then
      "fixtures_$svc" &
      fixture_pids[$svc]=$!
    fi
  done
  local failed=()
  for svc in "${!fixture_pids[@]}"; do
    wait "${fixture_pids[$svc]}" || failed+=("$svc")
  done
  if ((${#failed[@]})); then
    for svc in "${failed[@]}"; do
      log "---- last lines of $state/$svc.fixtures.log ----"
      tail -n 30 "$state/$svc.fixtures.log" >&2 || true
    done
    die "fixtures failed for: ${failed[*]}"
  fi
  if ! wait "$mlserver_venv_pid"; then
    tail -n 30 "$state/mlserver-venv.log" >&2 || true
    die "could not build the MLServer venv (see $state/mlserver-venv.log)"
  fi
  MLSERVER="$(<"$state/mlserver-venv.path")/bin/mlserver"
  [[ -x "$MLSERVER" ]] || die "no mlserver executable at $MLSERVER"
  write_env
  trap - EXIT INT TERM
  log "all services up with fixtures in $((SECONDS - t0)) s; env: $state/services.env"
}

for f in "$repo_root"/scripts/services.d/*.sh; do
  [[ -e "$f" ]] || continue
  # shellcheck source=/dev/null
  source "$f"
done
# MLOPS_SERVICES="mlflow_plain kube" starts only those (for working on one suite; stop always
# stops every service it finds a PID for); the tests of services not started skip, saying so.
# CI starts everything.
if [[ "$cmd" == start && -n "${MLOPS_SERVICES:-}" ]]; then
  wanted=()
  for svc in $MLOPS_SERVICES; do
    [[ " ${SERVICES[*]} " == *" $svc "* ]] || die "unknown service '$svc' in MLOPS_SERVICES (known: ${SERVICES[*]})"
    wanted+=("$svc")
  done
  SERVICES=("${wanted[@]}")
fi

case "$cmd" in
  start | stop | status | env) ;;
  *) usage ;;
esac
mkdir -p "$state"
state="$(cd "$state" && pwd)"

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env)
    [[ -f "$state/services.env" ]] || die "no $state/services.env (not started?)"
    cat "$state/services.env"
    ;;
esac
