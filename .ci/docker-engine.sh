# shellcheck shell=bash
# CI only: a Docker engine for the image tier. Sourced by .ci/run; a user's `make test` never
# installs system packages, it skips the tier with one line instead.
#   ensure_docker_engine   nothing if an engine answers; as root with apt, install Debian's
#                          docker.io (and debootstrap, for the stand-in base) and start dockerd
#   stop_docker_engine     stop the daemon ensure_docker_engine started, if it did

CI_DOCKER_ROOT=/var/lib/portico-ci-docker
CI_DOCKER_EXEC_ROOT=/run/portico-ci-docker
CI_DOCKER_SOCKET=/run/portico-ci-docker.sock
CI_DOCKER_PIDFILE=/run/portico-ci-docker.pid
CI_DOCKER_LOG=/tmp/portico-ci-dockerd.log

ensure_docker_engine() {
  if docker info >/dev/null 2>&1; then
    echo "==> a Docker engine answers; the image tier uses it"
    return
  fi
  if [[ -S "$CI_DOCKER_SOCKET" ]] && DOCKER_HOST="unix://$CI_DOCKER_SOCKET" docker info >/dev/null 2>&1; then
    export DOCKER_HOST="unix://$CI_DOCKER_SOCKET"
    echo "==> the CI Docker engine from an earlier run answers at $DOCKER_HOST"
    return
  fi
  if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
    echo "==> no Docker engine, and not root with apt-get to install one: the image tier will be skipped"
    return
  fi
  install_docker_packages
  start_dockerd
}

install_docker_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io iptables)
  command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  ((${#missing[@]} == 0)) && return
  echo "==> installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

# Its own data, exec root and socket; no bridge, iptables or masquerading on the host's network
# (the image tier makes its own bridge network, with no NAT).
start_dockerd() {
  echo "==> starting dockerd (log: $CI_DOCKER_LOG)"
  dockerd --data-root "$CI_DOCKER_ROOT" --exec-root "$CI_DOCKER_EXEC_ROOT" \
    -H "unix://$CI_DOCKER_SOCKET" --pidfile "$CI_DOCKER_PIDFILE" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false >"$CI_DOCKER_LOG" 2>&1 &
  export DOCKER_HOST="unix://$CI_DOCKER_SOCKET"
  CI_DOCKER_STARTED=1
  local waited=0
  until docker info >/dev/null 2>&1; do
    if ((waited >= 60)); then
      echo "==> dockerd did not answer within 30 s; its log:" >&2
      tail -n 20 "$CI_DOCKER_LOG" >&2
      return 1
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  echo "==> dockerd $(docker info --format '{{.ServerVersion}}') answers at $DOCKER_HOST"
}

stop_docker_engine() {
  [[ "${CI_DOCKER_STARTED:-0}" == 1 && -f "$CI_DOCKER_PIDFILE" ]] || return 0
  local pid
  pid="$(cat "$CI_DOCKER_PIDFILE")"
  echo "==> stopping dockerd (pid $pid)"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
}
