#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Fetch a Debian kernel package for `arborist capture --debian` and the
# capture CTest: `apt-get download` (never installed) into CACHE, reusing a
# file already there.  Prints the path of the .deb on stdout; messages go
# to stderr.
#
#   fetch-debian-kernel.sh [--series SERIES] CACHE [PACKAGE]
#
# PACKAGE defaults to the newest package of SERIES in the apt lists; Debian 12
# bookworm names its two kernel series differently:
#   6.1  (default)  linux-image-6.1.0-N-amd64       (ABI number N; 6.1.0-57 is 6.1.192)
#   6.12            linux-image-6.12.N+deb12-amd64  (the upstream version itself)
# Security and point-release updates keep both current.
# Exit status: 0 fetched or cached; 3 the package cannot be had here (no apt,
# no such package in the lists, no network) -- the CTest skips on 3;
# 2 usage error.
set -euo pipefail

me=fetch-debian-kernel
usage() {
	echo "$me: $*" >&2
	echo "usage: fetch-debian-kernel.sh [--series 6.1|6.12] CACHE [PACKAGE]" >&2
	exit 2
}
series=6.1
if [ "${1:-}" = --series ]; then
	[ $# -ge 2 ] || usage "--series needs a value"
	series=$2
	shift 2
fi
case $series in
6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
*) usage "unknown kernel series '$series' (Debian 12 has 6.1 and 6.12)" ;;
esac
[ $# -ge 1 ] && [ $# -le 2 ] || usage "expected CACHE [PACKAGE]"
cache=$1
pkg=${2:-}
unavailable() {
	echo "$me: $*" >&2
	exit 3
}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# The newest cached package matching PACKAGE (or the series pattern).
cached() {
	local f
	for f in "$cache"/*.deb; do
		[ -f "$f" ] || continue
		local n=${f##*/}
		n=${n%%_*}
		if [ -n "$pkg" ]; then [ "$n" = "$pkg" ] || continue; else [[ $n =~ $pattern ]] || continue; fi
		echo "$f"
	done | sort -V | tail -n 1
}

command -v apt-get >/dev/null 2>&1 && command -v apt-cache >/dev/null 2>&1 || {
	f=$(cached)
	[ -n "$f" ] && { echo "$me: no apt here; using the cached $f" >&2; echo "$f"; exit 0; }
	unavailable "apt-get is not available (not a Debian system) and $cache holds no kernel package"
}

newest() {
	apt-cache search --names-only "$pattern" 2>/dev/null | awk '{ print $1 }' | sort -V | tail -n 1
}
if [ -z "$pkg" ]; then
	pkg=$(newest)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
		echo "$me: no package matching $pattern in the apt lists; running apt-get update" >&2
		apt-get update -qq >&2 || true
		pkg=$(newest)
	fi
	if [ -z "$pkg" ]; then
		f=$(cached)
		[ -n "$f" ] && { echo "$me: no $series kernel in the apt lists; using the cached $f" >&2; echo "$f"; exit 0; }
		unavailable "no package matching $pattern in the apt lists (is this Debian 12 bookworm? run apt-get update)"
	fi
fi

version=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
if [ -n "$version" ] && [ "$version" != "(none)" ]; then
	# apt-get download names the file PACKAGE_VERSION_ARCH.deb, with ':' as %3a.
	f="$cache/${pkg}_${version//:/%3a}_amd64.deb"
	if [ -f "$f" ] && dpkg-deb --info "$f" >/dev/null 2>&1; then
		echo "$me: cached $f" >&2
		echo "$f"
		exit 0
	fi
fi

echo "$me: apt-get download $pkg${version:+ ($version)} into $cache" >&2
if (cd "$cache" && apt-get download "$pkg" 2>&1 | grep -v -E 'unsandboxed|^Get:|^Fetched' >&2); then
	:
fi
f=$(cached)
if [ -n "$f" ] && dpkg-deb --info "$f" >/dev/null 2>&1; then
	echo "$f"
	exit 0
fi
unavailable "apt-get download $pkg failed (no network?) and $cache holds no copy"
