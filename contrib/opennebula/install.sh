#!/usr/bin/env bash
# Installs the imgp2p transfer manager driver into OpenNebula's remotes:
#   contrib/opennebula/install.sh [REMOTES_DIR]   (default /var/lib/one/remotes)
# Copies `clone` (and imgp2p.conf, unless one is there already) and links
# every other action to the ssh driver's, whatever this OpenNebula version has.
# Then run `onehost sync --force` so the hosts get the new remotes.
set -euo pipefail
REMOTES=${1:-/var/lib/one/remotes}
HERE=$(cd "$(dirname "$0")" && pwd)
SSH_TM=$REMOTES/tm/ssh
DEST=$REMOTES/tm/imgp2p
if [ ! -d "$SSH_TM" ]; then
    echo "install.sh: $SSH_TM not found: is OpenNebula installed, and is $REMOTES its remotes dir?" >&2
    exit 1
fi
mkdir -p "$DEST"
install -m 0755 "$HERE/tm/imgp2p/clone" "$DEST/clone"
if [ ! -e "$DEST/imgp2p.conf" ]; then install -m 0644 "$HERE/tm/imgp2p/imgp2p.conf" "$DEST/imgp2p.conf"; fi
for action in "$SSH_TM"/*; do
    name=$(basename "$action")
    case $name in clone|imgp2p.conf) continue ;; esac
    ln -sfn "../ssh/$name" "$DEST/$name"
done
if [ "$(id -u)" = 0 ] && id oneadmin >/dev/null 2>&1; then chown -h oneadmin: "$DEST" "$DEST"/*; fi
echo "installed the imgp2p TM driver in $DEST"
