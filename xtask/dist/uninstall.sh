#!/bin/sh
# Removes what install.sh installed (the files it listed); the workspace, audit logs,
# conversations and model store are left alone (see DEPLOY.md for where they live).
#   PREFIX/share/airlock/uninstall.sh [--prefix DIR]
set -eu
prefix=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
record="$prefix/share/airlock/installed-files"
[ -r "$record" ] || { echo "uninstall.sh: nothing installed in $prefix" >&2; exit 1; }
if command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; then
  systemctl --user disable --now airlock.service 2>/dev/null || true
fi
while IFS= read -r file; do
  [ "$file" = "$record" ] || rm -f "$file"
done < "$record"
rm -f "$record"
rmdir "$prefix/share/airlock" 2>/dev/null || true
if command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; then
  systemctl --user daemon-reload || true
fi
echo "Airlock removed from $prefix"
