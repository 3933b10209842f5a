#!/usr/bin/env bash
# Installs what `make bench` needs beyond Node 20: nginx (proxy and upstream), wrk (load),
# taskset (util-linux) and getconf (libc-bin). Idempotent: checks with `command -v` first and
# only calls apt-get (Debian, needs root) for what is missing.
set -euo pipefail

need=()
command -v nginx   >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk     >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v getconf >/dev/null 2>&1 || need+=(libc-bin)

if [ ${#need[@]} -eq 0 ]; then
  echo "bench setup: nginx, wrk, taskset and getconf present"
  exit 0
fi

echo "bench setup: missing packages: ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "bench setup: not root; install them yourself: apt-get install -y ${need[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bench setup: no apt-get here; install ${need[*]} with this system's package manager" >&2
  exit 1
fi
echo "bench setup: apt-get update"
apt-get update -qq
echo "bench setup: apt-get install -y --no-install-recommends ${need[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
# The Debian package starts a system nginx on :80; the bench runs its own, so stop that one
# if it was started now (no-op in containers without an init system).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  echo "bench setup: stopping the system nginx service the package started"
  systemctl stop nginx || true
fi
echo "bench setup: done"
