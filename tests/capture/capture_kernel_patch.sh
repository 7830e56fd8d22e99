#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# CTests capture.kernel-patch.* (docs/capture.md, "Testing a patch to
# arch/x86/kvm"): `arborist capture --debian 6.12 --patch FILE --check`
# rebuilds kvm.ko and kvm-amd.ko of Debian's current 6.12 kernel from
# Debian's source with the patch and boots the unchanged image with them.
#
#   capture_kernel_patch.sh ARBORIST SOURCE_DIR WORK_DIR CASE
#
#   mutant       tools/kernel-mutants/08-writable-without-mmu-writable.patch
#                (make_spte() sets W without the MMU-writable bit) must be
#                REJECTED, exit 1, with spte.writable as the first violation,
#                in a.fault-4k, the first phase that maps a page writable
#   no-apply     a patch whose context is not in the source: exit 2 with
#                patch's own message, no build, no boot
#   no-compile   a patch that breaks the C: exit 2 with the compiler's
#                error line (file:line: error:), no boot
#
# WORK_DIR/cache holds the packages (shared with capture.debian-*) and the
# prepared tree: the first case prepares it (a few minutes, once), the
# others reuse it.  Exit 77 (SKIP_RETURN_CODE) when QEMU, busybox or cpio is
# missing, or the packages cannot be had here (no network, not Debian).
set -uo pipefail
arborist=$1 src=$2 work=$3 case=$4
. "$(dirname "$0")/lib.sh"
need_qemu
for tool in make gcc patch bison flex; do
	command -v $tool >/dev/null 2>&1 || skip "$tool is not installed (scripts/bootstrap.sh capture)"
done
t=$work/kernel-patch-$case
rm -rf "$t"
mkdir -p "$t"

case $case in
mutant)
	# Fetch and prepare first, only to tell "cannot be had" (skip) from a
	# failure; arborist capture then finds everything in the cache.
	"$src/tools/capture/build-debian-kvm.sh" --series 6.12 --cache "$work/cache" --prepare-only >"$t/prepare.out"
	rc=$?
	[ $rc -ne 3 ] || skip "Debian's 6.12 kernel, its source or its headers cannot be had here (see above)"
	[ $rc -eq 0 ] || fail "build-debian-kvm.sh exited $rc"
	cat "$t/prepare.out"
	patch=$src/tools/kernel-mutants/08-writable-without-mmu-writable.patch
	for attempt in 1 2; do
		"$arborist" capture --debian 6.12 --patch "$patch" --check --cache "$work/cache" --out "$t/out" --timeout 600 >"$t/log" 2>&1
		rc=$?
		grep -v -E '^  arborist-workload: |  ok$' "$t/log"
		# A hang of TCG is not a verdict (capture_debian.sh says why).
		if [ $attempt = 1 ] && [ $rc = 2 ] && grep -q 'the guest did not finish within' "$t/log"; then
			echo "WARNING: the guest hung (above); capturing once more"
			continue
		fi
		break
	done
	[ $rc -eq 1 ] || fail "exit status $rc, expected 1 (REJECTED)"
	grep -q 'kvm.ko and kvm-amd.ko rebuilt with 1 patch in' "$t/log" || fail "the modules were not rebuilt"
	grep -q -E '^rebuilt_modules: kvm-amd.ko kvm.ko ' "$t/out/capture-facts.txt" || fail "capture-facts.txt does not name the rebuilt modules"
	grep -q -E ': [0-9]+ violations?: REJECTED$' "$t/log" || fail "no REJECTED verdict"
	first=$(grep -m1 -E '^  [^ ]+:[0-9]+: \[[^]]+\] [a-z]+\.[a-z.-]+: ' "$t/log")
	echo "first violation: $first"
	grep -q -E '\[a\.fault-4k\] spte\.writable: new leaf [0-9a-f]+: W=1 MMU-writable=0' <<<"$first" ||
		fail "the first violation is not spte.writable in phase a.fault-4k"
	;;
no-apply)
	[ -d "$work/cache/kbuild" ] || skip "no prepared tree in $work/cache (capture.kernel-patch.mutant skipped or failed)"
	cat >"$t/bad.patch" <<'EOF'
--- a/arch/x86/kvm/mmu/tdp_mmu.c
+++ b/arch/x86/kvm/mmu/tdp_mmu.c
@@ -1,3 +1,3 @@
-this line is not in tdp_mmu.c
+nor is this one
 and neither is this
 or this
EOF
	"$arborist" capture --debian 6.12 --patch "$t/bad.patch" --check --cache "$work/cache" --out "$t/out" >"$t/log" 2>&1
	rc=$?
	cat "$t/log"
	[ $rc -eq 2 ] || fail "exit status $rc, expected 2"
	grep -q 'Hunk #1 FAILED at 1' "$t/log" || fail "patch's own message is missing"
	grep -q "$t/bad.patch does not apply to Debian's 6.12" "$t/log" || fail "the report does not name the patch"
	[ ! -e "$t/out/console.txt" ] || fail "a kernel was booted"
	;;
no-compile)
	[ -d "$work/cache/kbuild" ] || skip "no prepared tree in $work/cache (capture.kernel-patch.mutant skipped or failed)"
	# The mutant's context, with an undeclared name in it.
	sed -e 's/^+\t\tspte |= PT_WRITABLE_MASK;$/+\t\tspte |= PT_WRITABLE_MASK | no_such_mask;/' \
		"$src/tools/kernel-mutants/08-writable-without-mmu-writable.patch" >"$t/bad.patch"
	grep -q no_such_mask "$t/bad.patch" || fail "could not make the non-compiling patch"
	"$arborist" capture --debian 6.12 --patch "$t/bad.patch" --check --cache "$work/cache" --out "$t/out" >"$t/log" 2>&1
	rc=$?
	cat "$t/log"
	[ $rc -eq 2 ] || fail "exit status $rc, expected 2"
	grep -q -E "arch/x86/kvm/mmu/spte.c:[0-9]+:[0-9]+: error: .no_such_mask. undeclared" "$t/log" ||
		fail "the compiler's error line is missing"
	[ ! -e "$t/out/console.txt" ] || fail "a kernel was booted"
	;;
*)
	echo "capture_kernel_patch.sh: unknown case '$case'" >&2
	exit 2
	;;
esac
echo PASS
