#!/usr/bin/env bash
# Install a Hedgerow node as a service on Raspberry Pi OS (Bookworm) or Debian 12+.
# Run from a clone of the repository:  sudo deploy/install-pi.sh
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "run this with sudo: sudo $0" >&2
    exit 1
fi
here="$(cd "$(dirname "$0")/.." && pwd)"

apt-get update
apt-get install -y python3 python3-venv

id hedgerow >/dev/null 2>&1 || useradd --system --home-dir /var/lib/hedgerow \
    --shell /usr/sbin/nologin hedgerow
install -d -m 0755 /opt/hedgerow
install -d -m 0700 -o hedgerow -g hedgerow /var/lib/hedgerow

# Raspberry Pi OS refuses system-wide pip installs (PEP 668): use a venv.
python3 -m venv /opt/hedgerow/venv
/opt/hedgerow/venv/bin/pip install --quiet "$here"
cp "$here/README.md" /opt/hedgerow/README.md

install -m 0644 "$here/deploy/hedgerow.service" /etc/systemd/system/hedgerow.service
systemctl daemon-reload

if [ ! -f /var/lib/hedgerow/node.key ]; then
    echo
    echo "Now create your node, as the hedgerow user, for example:"
    echo "  sudo -u hedgerow HEDGEROW_DATA_DIR=/var/lib/hedgerow \\"
    echo "      /opt/hedgerow/venv/bin/hedgerow init --name 'Our group' --area 'LS6' --join CODE"
    echo "then start it:  sudo systemctl enable --now hedgerow"
else
    systemctl enable --now hedgerow
    echo "Hedgerow is running: journalctl -u hedgerow -f"
fi
