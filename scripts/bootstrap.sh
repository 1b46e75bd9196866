#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) for lbd, then runs the demo or the whole test suite.
#   bash scripts/bootstrap.sh demo   - system packages, virtualenv, project, then the namespace-lab demo
#   bash scripts/bootstrap.sh test   - the same set-up, then ruff, mypy and the full pytest suite
set -euo pipefail

mode=${1:-}
case "$mode" in demo|test) ;; *) echo "usage: $0 demo|test" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(python3 python3-venv python3-dev gcc iproute2 frr bird2 gobgpd exabgp arping ndisc6 tcpdump
          nftables iputils-ping procps prometheus systemd)
if [ "$(id -u)" -eq 0 ]; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # Package scripts must not start FRR, BIRD or GoBGP in the root namespace (no systemd as PID 1
        # means invoke-rc.d would run their init scripts): the lab starts its own instances.
        policy=/usr/sbin/policy-rc.d
        own_policy=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy"
            chmod 755 "$policy"
            own_policy=1
        fi
        apt-get install -y -q --no-install-recommends "${missing[@]}"
        [ "$own_policy" -eq 1 ] && rm -f "$policy"
    fi
    # The packaged daemons must not run in the root namespace: the lab starts its own instances.
    if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
        for svc in frr bird gobgpd exabgp prometheus; do
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        done
    fi
else
    echo "not root: skipping system packages; lab tests will be skipped (outside CI)" >&2
fi

python=python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

case "$mode" in
demo)
    exec .venv/bin/lbd demo
    ;;
test)
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/mypy
    exec .venv/bin/pytest -q
    ;;
esac
