#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# CTest capture.guest_error: boot the Debian 6.1 kernel (the package
# capture.debian-6.1 cached) with a kvm-amd.ko that is not a module.  The
# guest's insmod fails; `arborist capture` must exit 2 and name the console
# line that says so.
#
#   capture_guest_error.sh ARBORIST SOURCE_DIR WORK_DIR
set -uo pipefail
arborist=$1 src=$2 work=$3
skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 is not installed (scripts/bootstrap.sh capture)"
command -v busybox >/dev/null 2>&1 && command -v cpio >/dev/null 2>&1 || skip "busybox or cpio is not installed"
deb=$("$src/tools/capture/fetch-debian-kernel.sh" "$work/cache")
[ $? -eq 0 ] || skip "the Debian 6.1 kernel package cannot be had here (see the line above)"

t=$work/guest-error
rm -rf "$t"
mkdir -p "$t/modules"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$t" --wildcards './boot/vmlinuz-*' || fail "cannot unpack $deb"
kernel=$(ls "$t"/boot/vmlinuz-* | head -1)
printf 'not an ELF module\0name=kvm_amd\0depends=\0' >"$t/modules/kvm-amd.ko"

"$arborist" capture --kernel "$kernel" --modules "$t/modules" --out "$t/out" --timeout 240 >"$t/log" 2>&1
rc=$?
cat "$t/log"
[ $rc -eq 2 ] || fail "exit status $rc, expected 2"
grep -q -E "$t/out/console.txt:[0-9]+: arborist-init: error: insmod kvm-amd.ko failed" "$t/log" ||
	fail "the report does not name the console line of the failed insmod"
echo "PASS"
