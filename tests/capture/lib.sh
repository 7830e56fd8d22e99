# SPDX-License-Identifier: GPL-2.0-only
#
# Sourced by the capture tests: how they skip (exit 77, CTest's
# SKIP_RETURN_CODE) and fail, and the tools every QEMU boot needs.
skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}
# QEMU, busybox and cpio (the initramfs), or skip.
need_qemu() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 is not installed (scripts/bootstrap.sh capture)"
	command -v busybox >/dev/null 2>&1 && command -v cpio >/dev/null 2>&1 ||
		skip "busybox or cpio is not installed (scripts/bootstrap.sh capture)"
}
