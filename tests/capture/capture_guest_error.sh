#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# CTests capture.guest_error.*: boot the Debian 6.1 kernel (the package
# capture.debian-6.1 cached) so that /init fails in the guest, and require
# that `arborist capture` exits 2 and names the console line that says why.
#
#   capture_guest_error.sh ARBORIST SOURCE_DIR WORK_DIR CASE
#
#   bad-module   a kvm-amd.ko that is not a module: insmod fails
#   bad-clock    --trace-clock with a name the kernel does not offer: the
#                guest lists the clocks it has
set -uo pipefail
arborist=$1 src=$2 work=$3 case=$4
. "$(dirname "$0")/lib.sh"
need_qemu
deb=$("$src/tools/capture/fetch-debian-kernel.sh" --series 6.1 "$work/cache")
[ $? -eq 0 ] || skip "the Debian 6.1 kernel package cannot be had here (see the line above)"

t=$work/guest-error-$case
rm -rf "$t"
mkdir -p "$t"
case $case in
bad-module)
	mkdir -p "$t/modules"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$t" --wildcards './boot/vmlinuz-*' || fail "cannot unpack $deb"
	kernel=$(ls "$t"/boot/vmlinuz-* | head -1)
	printf 'not an ELF module\0name=kvm_amd\0depends=\0' >"$t/modules/kvm-amd.ko"
	args=(--kernel "$kernel" --modules "$t/modules")
	want="arborist-init: error: insmod kvm-amd.ko failed"
	;;
bad-clock)
	args=(--deb "$deb" --trace-clock no-such-clock)
	want="arborist-init: error: unknown trace clock 'no-such-clock' \(--trace-clock\): this kernel offers: local global"
	;;
*)
	echo "capture_guest_error.sh: unknown case '$case'" >&2
	exit 2
	;;
esac

"$arborist" capture "${args[@]}" --out "$t/out" --timeout 240 >"$t/log" 2>&1
rc=$?
grep -v '^  arborist-workload: ' "$t/log"
[ $rc -eq 2 ] || fail "exit status $rc, expected 2"
grep -q -E "$t/out/console.txt:[0-9]+: $want" "$t/log" ||
	fail "the report does not name the console line '$want'"
echo "PASS"
