#!/usr/bin/env bash
# Makes sure etcd is on PATH, installing Debian's etcd-server (and etcd-client, for etcdctl) when it is missing. The
# tests start their own etcd processes on free ports, so they need only the binary; a system etcd service is stopped
# if installing the package started one.
set -euo pipefail

if command -v etcd >/dev/null 2>&1; then
  exit 0
fi

fail() {
  echo "error: $*" >&2
  echo "Install etcd 3.4 or later so that 'etcd' is on PATH," >&2
  echo "e.g. on Debian/Ubuntu: apt-get install etcd-server etcd-client" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "etcd not found, and there is no apt-get to install it with"

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  fail "etcd not found, and installing it needs root or sudo"
fi

# Keep the package from starting its service (policy-rc.d answering 101 = "not allowed"), unless the
# machine already has a policy of its own. Its postinst fails when an allowed start fails, e.g. in a container.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  "${as_root[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
  trap '"${as_root[@]}" rm -f "$policy"' EXIT
fi

echo "etcd not found: installing etcd-server and etcd-client with apt-get" >&2
# Through env, as sudo drops the caller's environment; waiting for the dpkg lock, which a fresh machine's daily apt
# jobs may hold.
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
"${apt[@]}" update -qq || fail "apt-get update failed"
"${apt[@]}" install -y -qq etcd-server etcd-client || fail "apt-get install etcd-server etcd-client failed"

# In case a service got started anyway: a system etcd is not wanted (and would hold port 2379).
if [ -d /run/systemd/system ]; then
  "${as_root[@]}" systemctl disable --now etcd >/dev/null 2>&1 || true
fi

command -v etcd >/dev/null 2>&1 ||
  fail "etcd-server was installed, but etcd is still not on PATH"
