#!/usr/bin/env bash
# Make sure what Lodge talks to is installed and running on this machine. Safe to run again;
# it only acts on what is missing.
#
#   ensure-services.sh              what `make run` needs: libmagic, xmlsec1 (SAML signatures)
#                                   and RabbitMQ with its management API
#   ensure-services.sh --for-tests  that, plus what the tests and benchmarks use: PostgreSQL,
#                                   Chromium (browser tests), clamd's package (the tests start
#                                   their own clamd), nginx (the e2e tests' TLS proxy), axe-core
set -euo pipefail

for_tests=false
case "${1:-}" in
  "") ;;
  --for-tests) for_tests=true ;;
  *) echo "usage: $0 [--for-tests]" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
# wait for another install (unattended-upgrades, a parallel run) instead of failing on its lock
APT_GET=(apt-get -o DPkg::Lock::Timeout=600)

need_packages=()
dpkg -s libmagic1 >/dev/null 2>&1 || need_packages+=(libmagic1)
command -v xmlsec1 >/dev/null 2>&1 || need_packages+=(xmlsec1)
command -v rabbitmq-server >/dev/null 2>&1 || need_packages+=(rabbitmq-server)
if $for_tests; then
  command -v pg_ctlcluster >/dev/null 2>&1 || need_packages+=(postgresql)
  [ -x /usr/bin/chromium ] || need_packages+=(chromium)
  command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || need_packages+=(clamav-daemon)
  [ -x /usr/sbin/nginx ] || need_packages+=(nginx)
fi
if [ "${#need_packages[@]}" -gt 0 ]; then
  echo "installing ${need_packages[*]}"
  $SUDO "${APT_GET[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO "${APT_GET[@]}" install -y -qq "${need_packages[@]}"
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  echo "nothing is listening on port $1 after 60 s" >&2; return 1
}

if ! port_open 5672; then
  echo "starting RabbitMQ"
  $SUDO rabbitmq-server -detached
  wait_for_port 5672
fi
if ! $SUDO rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
  $SUDO rabbitmq-plugins enable rabbitmq_management >/dev/null
fi
wait_for_port 15672

if ! $for_tests; then exit 0; fi

if ! port_open 5432; then
  echo "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  wait_for_port 5432
fi
# every Lodge process keeps a pool per database; two Lodges on one machine (bench/scaleout.py)
# pass PostgreSQL's default of 100 connections, so allow what deploy/k8s's database allows
pg_cluster="$(ls /etc/postgresql | sort -V | tail -1)"
if [ "$(psql -h 127.0.0.1 -U postgres -Atc 'show max_connections')" -lt 300 ]; then
  echo "allowing PostgreSQL 300 connections"
  psql -h 127.0.0.1 -U postgres -qc 'alter system set max_connections = 300'
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_cluster" main restart
  wait_for_port 5432
fi

# axe-core for the browser tests' accessibility checks (tests/support/accessibility.py)
if command -v npm >/dev/null 2>&1; then bash "$(dirname "$0")/install-axe.sh" >/dev/null; fi
