# Runs inside fresh user/network/PID/mount namespaces, before the command (see run.rs).
# $1 is the workspace, $2 "git" (the git tool: .git stays writable) or "protect", $3 the
# secret paths (token file, audit and state folders), one per line; the rest is the command. Resource limits, the seccomp filter and closed descriptors come from the appliance
# before `unshare` runs (child.rs). Afterwards:
#   - the whole filesystem is read-only, every submount included,
#   - /tmp, /dev/shm and /run are private tmpfs (no host Unix socket under them is reachable),
#   - home folders (/root, /home, $HOME) are hidden, except the toolchains and git identity
#     ($HOME/.cargo, $HOME/.rustup, $HOME/.gitconfig), which stay read-only,
#   - the workspace is back at its path, read-write, except .git and .airlock (read-only
#     unless $2 is "git": a command cannot plant hooks, git config or a policy),
#   - the secrets are hidden: an empty folder or an empty file in their place, as are the
#     registry credentials beside the toolchain ($HOME/.cargo/credentials*).
# Any failed step stops here with exit 125: the command never runs unconfined.
ws="$1"; mode="$2"; secrets="$3"; shift 3
# The prologue's own tools come from the system folders only; the command gets its PATH back.
command_path="$PATH"
PATH=/usr/sbin:/usr/bin:/sbin:/bin
fail() { echo "airlock: cannot confine the command to the workspace ($1)" >&2; exit 125; }
keep=/tmp/.airlock-keep
mount -n --bind "$ws" /mnt || fail "stage workspace"
mount -n -o remount,bind,ro / || fail "read-only root"
# Every other mount read-only too (/dev/shm, /boot, data disks…), deepest last is fine.
while read -r _ _ _ _ point _; do
  case "$point" in /|/proc|/proc/*|/mnt) continue ;; esac
  point=$(printf '%b' "$point")  # mountinfo writes a space as \040
  mount -n -o remount,bind,ro "$point" 2>/dev/null || true
done < /proc/self/mountinfo
mount -n -t tmpfs -o size=1g,mode=1777 tmpfs /tmp || fail "private /tmp"
for private in /dev/shm /run; do
  [ -d "$private" ] && { mount -n -t tmpfs -o size=64m,mode=1777 tmpfs "$private" || fail "private $private"; }
done
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
set -f; IFS='
'
for secret in $secrets "$HOME/.cargo/credentials" "$HOME/.cargo/credentials.toml"; do
  if [ -d "$secret" ]; then
    mount -n -t tmpfs -o size=4k,mode=000 tmpfs "$secret" || fail "hide a secret folder"
  elif [ -e "$secret" ]; then
    mount -n --bind /dev/null "$secret" || fail "hide a secret file"
  fi
done
unset IFS; set +f
if [ "$mode" != git ]; then
  for protected in .git .airlock; do
    [ -e "$ws/$protected" ] || continue
    mount -n --bind "$ws/$protected" "$ws/$protected" && mount -n -o remount,bind,ro "$ws/$protected" || fail "read-only $protected"
  done
fi
PATH="$command_path"; export PATH
exec "$@"
