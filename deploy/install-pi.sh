#!/usr/bin/env bash
# Install a Hedgerow node as a service on Raspberry Pi OS (Bookworm) or Debian 12+.
# From a clone of the repository:
#   sudo deploy/install-pi.sh
# It ends by printing the address of the node's first-run web page and a setup code:
# open the page in a browser, type the code, and set the group's admin password.
#
#   --root DIR   install under DIR instead of / (for tests and image builders):
#                no packages from apt, and nothing is started.
set -euo pipefail

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

root=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --root=*) root="${1#--root=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (see $0 --help)" >&2; exit 2 ;;
    esac
done
here="$(cd "$(dirname "$0")/.." && pwd)"

if [ -z "$root" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run this with sudo: sudo $0" >&2
        exit 1
    fi
    echo "Installing Python's venv support from the system's packages..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi

# The service's own environment: Raspberry Pi OS refuses system-wide pip installs
# (PEP 668), and a hardened service cannot run a program from /home.
prefix="${root}/opt/hedgerow"
install -d -m 0755 "$prefix"
echo "Installing Hedgerow into $prefix/venv (this takes a few minutes on a Pi)..."
python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install --quiet --upgrade "$here"
cp "$here/README.md" "$prefix/README.md"

# install-service, run from that environment, keeps it as the service's and does
# the rest: the hedgerow user, the data directory, the unit, and starting it.
if [ -n "$root" ]; then
    "$prefix/venv/bin/hedgerow" install-service --root "$root" --source "$here"
else
    "$prefix/venv/bin/hedgerow" install-service --source "$here"
fi
