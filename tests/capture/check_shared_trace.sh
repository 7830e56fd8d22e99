#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# CTest capture.check_shared_trace: the per-phase verdict of
# `arborist capture --trace` without QEMU.  The shared real trace
# (tests/data/linux-6.1-npt/trace.txt, captured by the method of
# docs/capture.md with an earlier workload) has its own phase markers
# ("VM1 P5a enable dirty logging slot1"); rewritten as "arborist-phase:
# VM1-P5a" markers, plus an "arborist-done: N phases" line, it is a capture
# in our format.  It must be ACCEPTED with every phase ok; then line 7189
# (the write-protection of gfn 401 in phase VM1-P5a) gets another PFN and
# must be REJECTED with spte.pfn-change at that line, in that phase, and
# every phase before it still ok.
#
#   check_shared_trace.sh ARBORIST TRACE WORK_DIR
set -uo pipefail
arborist=$1 trace=$2 work=$3
fail() {
	echo "FAIL: $*"
	exit 1
}
mkdir -p "$work"
capture=$work/shared-capture.txt
awk '/tracing_mark_write: / {
		split($0, a, "tracing_mark_write: "); split(a[2], w, " ")
		if (a[2] ~ / done$/ || a[2] ~ /=/) { print; next } # result lines, not phases
		print a[1] "tracing_mark_write: arborist-phase: " w[1] "-" w[2]; n++; last = a[1]; next
	}
	{ print }
	END { print last "tracing_mark_write: arborist-done: " n " phases" }' "$trace" >"$capture"
phases=$(grep -c 'tracing_mark_write: arborist-phase: ' "$capture")

"$arborist" capture --trace "$capture" >"$work/shared.check" 2>&1
rc=$?
cat "$work/shared.check"
[ $rc -eq 0 ] || fail "exit status $rc on the shared trace, expected 0"
grep -q ": $phases phases, .*: 0 violations: ACCEPTED\$" "$work/shared.check" || fail "no ACCEPTED verdict over $phases phases"
[ "$(grep -c -E '  ok$' "$work/shared.check")" -eq "$phases" ] || fail "not every one of the $phases phases is ok"

mutated=$work/shared-capture-pfn.txt
sed '7189s/new_spte 7201e65$/new_spte 7301e65/' "$capture" >"$mutated"
cmp -s "$capture" "$mutated" && fail "line 7189 of $capture is not the expected write-protection"
"$arborist" capture --trace "$mutated" >"$work/shared-pfn.check" 2>&1
rc=$?
cat "$work/shared-pfn.check"
[ $rc -eq 1 ] || fail "exit status $rc on the mutated trace, expected 1"
grep -q -F "$mutated:7189: [VM1-P5a] spte.pfn-change: " "$work/shared-pfn.check" || fail "no spte.pfn-change at line 7189 in phase VM1-P5a"
grep -q -E '^  VM1-P5a +[0-9]+ +[0-9]+ +[1-9][0-9]*  VIOLATION$' "$work/shared-pfn.check" || fail "phase VM1-P5a is not marked VIOLATION"
awk '$1 == "VM1-P5a" { exit } /VIOLATION$/ { bad = 1 } END { exit bad }' "$work/shared-pfn.check" ||
	fail "a phase before VM1-P5a is marked VIOLATION"
echo "PASS"
