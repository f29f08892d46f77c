# Runs inside fresh user/network/PID/mount namespaces, before the command (see run.rs).
# $1 is the workspace; the rest is the command. Afterwards:
#   - the whole filesystem is read-only,
#   - /tmp is a private tmpfs,
#   - home folders (/root, /home, $HOME) are hidden, except the toolchains and git identity
#     ($HOME/.cargo, $HOME/.rustup, $HOME/.gitconfig), which stay read-only,
#   - the workspace is back at its path, read-write.
# Any failed step stops here with exit 125: the command never runs unconfined.
ws="$1"; shift
fail() { echo "airlock: cannot confine the command to the workspace ($1)" >&2; exit 125; }
keep=/tmp/.airlock-keep
mount -n --bind "$ws" /mnt || fail "stage workspace"
mount -n -o remount,bind,ro / || fail "read-only root"
mount -n -t tmpfs -o size=1g,mode=1777 tmpfs /tmp || fail "private /tmp"
mkdir -p "$keep" || fail "keep"
for item in .cargo .rustup .gitconfig; do
  if [ -d "$HOME/$item" ]; then mkdir -p "$keep/$item"; elif [ -f "$HOME/$item" ]; then : > "$keep/$item"; else continue; fi
  mount -n --bind "$HOME/$item" "$keep/$item" || fail "keep $item"
done
for hide in /root /home "$HOME"; do
  if [ -d "$hide" ] && [ "$hide" != / ]; then
    mount -n -t tmpfs -o size=16m,mode=755 tmpfs "$hide" || fail "hide $hide"
  fi
done
for item in .cargo .rustup .gitconfig; do
  [ -e "$keep/$item" ] || continue
  if [ -d "$keep/$item" ]; then mkdir -p "$HOME/$item"; else : > "$HOME/$item"; fi
  mount -n --move "$keep/$item" "$HOME/$item" && mount -n -o remount,bind,ro "$HOME/$item" || fail "restore $item"
done
mkdir -p "$ws" && mount -n --move /mnt "$ws" && cd "$ws" || fail "workspace"
ulimit -S -t @CPU_SECONDS@ -f @MAX_FILE_KIB@ -u @MAX_PROCESSES@ 2>/dev/null
exec "$@"
