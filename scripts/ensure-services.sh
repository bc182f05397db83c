#!/usr/bin/env bash
# Make sure what Lodge and its tests talk to is installed and running on this machine:
# libmagic, clamd (ClamAV), RabbitMQ (with its management API, which the tests use for fresh vhosts),
# PostgreSQL, and Chromium for the browser tests. Safe to run again; it only acts on what is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_packages=()
dpkg -s libmagic1 >/dev/null 2>&1 || need_packages+=(libmagic1)
command -v rabbitmq-server >/dev/null 2>&1 || need_packages+=(rabbitmq-server)
command -v pg_ctlcluster >/dev/null 2>&1 || need_packages+=(postgresql)
[ -x /usr/bin/chromium ] || need_packages+=(chromium)  # browser tests, via Playwright
command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || need_packages+=(clamav-daemon)  # virus scans; tests start their own clamd
[ -x /usr/sbin/nginx ] || need_packages+=(nginx)  # the TLS proxy of the e2e tests, which start their own nginx
if [ "${#need_packages[@]}" -gt 0 ]; then
  echo "installing ${need_packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_packages[@]}"
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

if ! port_open 5432; then
  echo "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  wait_for_port 5432
fi

# axe-core for the browser tests' accessibility checks (tests/support/accessibility.py)
if command -v npm >/dev/null 2>&1; then bash "$(dirname "$0")/install-axe.sh" >/dev/null; fi
