#!/bin/sh
# Installs Airlock for one user (no root needed): the binary and launcher into PREFIX/bin,
# the systemd user unit, and a list of every installed file for uninstall.sh.
#   ./install.sh [--prefix DIR] [--no-systemd]
# PREFIX defaults to ~/.local. With systemd available (and without --no-systemd) the unit is
# enabled and started: `journalctl --user -u airlock -n 5` shows the launch URL.
set -eu
prefix="$HOME/.local"; systemd=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --no-systemd) systemd=no; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
(cd "$here" && sha256sum -c --quiet SHA256SUMS) || { echo "install.sh: the package is damaged (SHA256SUMS)" >&2; exit 1; }
units="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
record="$prefix/share/airlock/installed-files"
mkdir -p "$prefix/bin" "$prefix/share/airlock" "$units"
: > "$record.tmp"
put() { # source target mode
  cp "$1" "$2.airlock-tmp" && chmod "$3" "$2.airlock-tmp" && mv -f "$2.airlock-tmp" "$2"
  echo "$2" >> "$record.tmp"
}
put "$here/bin/airlock" "$prefix/bin/airlock" 755
put "$here/bin/airlock-launch" "$prefix/bin/airlock-launch" 755
put "$here/share/airlock/uninstall.sh" "$prefix/share/airlock/uninstall.sh" 755
put "$here/share/airlock/DEPLOY.md" "$prefix/share/airlock/DEPLOY.md" 644
sed "s|@PREFIX@|$prefix|g" "$here/share/systemd/user/airlock.service" > "$units/airlock.service.airlock-tmp"
mv -f "$units/airlock.service.airlock-tmp" "$units/airlock.service"
echo "$units/airlock.service" >> "$record.tmp"
echo "$record" >> "$record.tmp"
mv -f "$record.tmp" "$record"
echo "Installed $("$prefix/bin/airlock" --version) into $prefix"
if [ "$systemd" = yes ] && command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; then
  systemctl --user daemon-reload
  systemctl --user enable --now airlock.service
  echo "Started: journalctl --user -u airlock -n 5 shows the launch URL"
else
  echo "Start it with: $prefix/bin/airlock-launch"
fi
