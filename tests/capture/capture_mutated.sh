#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# CTests capture.mutated.*: edit one event of the capture that
# capture.debian-6.1 made and require that `arborist capture --trace
# --check` rejects it, with the violation of the expected kind at the edited
# line, attributed to the phase the line is in.
#
#   capture_mutated.sh ARBORIST WORK_DIR MUTATION
#
#   pfn-flip       a present->present SPTE change (write-protection in phase
#                  a.dirty-get) gets another PFN in new_spte: spte.pfn-change
#   dropped-mmio   the mark_mmio_spte line of phase a.mmio is deleted: the
#                  0 -> MMIO SPTE change before it is spte.nonpresent-change
#   dropped-link   the first table link of the root in phase a.fault-4k is
#                  deleted: the next change below it is spte.unreachable
#
# Exit 77 when there is no capture (capture.debian-6.1 skipped or failed).
set -uo pipefail
arborist=$1 work=$2 mutation=$3
trace=$work/out-6.1/trace.txt
[ -f "$trace" ] || { echo "SKIP: no capture at $trace (capture.debian-6.1 was skipped or failed)"; exit 77; }
fail() {
	echo "FAIL: $*"
	exit 1
}
mutated=$work/mutated-$mutation.txt

# The number of the first line after the marker of phase $1 that matches $2.
line_in_phase() {
	awk -v p="arborist-phase: $1" -v re="$2" 'index($0, p) { on = 1; next } /arborist-phase: / { on = 0 }
		on && $0 ~ re { print NR; exit }' "$trace"
}

case $mutation in
pfn-flip)
	phase=a.dirty-get kind=spte.pfn-change
	n=$(line_in_phase $phase 'kvm_tdp_mmu_spte_changed: .* level 1 old_spte [0-9a-f]*[13579bdf] new_spte [0-9a-f]*[13579bdf]$')
	[ -n "$n" ] || fail "no present->present change in phase $phase of $trace"
	new=$(sed -n "${n}p" "$trace" | sed 's/.*new_spte //')
	flipped=$(printf '%x' $((0x$new ^ 0x1000)))
	sed "${n}s/new_spte $new\$/new_spte $flipped/" "$trace" >"$mutated"
	echo "line $n: new_spte $new -> $flipped (pfn $((0x$new >> 12)) -> $((0x$flipped >> 12)))"
	;;
dropped-mmio)
	phase=a.mmio kind=spte.nonpresent-change
	d=$(line_in_phase $phase 'mark_mmio_spte: ')
	[ -n "$d" ] || fail "no mark_mmio_spte in phase $phase of $trace"
	sed "${d}d" "$trace" >"$mutated"
	n=$(awk -v d="$d" 'NR < d && /kvm_tdp_mmu_spte_changed/ { n = NR } END { print n }' "$trace")
	echo "line $d deleted: $(sed -n "${d}p" "$trace")"
	;;
dropped-link)
	phase=a.fault-4k kind=spte.unreachable
	d=$(line_in_phase $phase 'kvm_tdp_mmu_spte_changed: .* level 4 old_spte 0 new_spte')
	[ -n "$d" ] || fail "no level-4 link in phase $phase of $trace"
	sed "${d}d" "$trace" >"$mutated"
	# After the deletion the next SPTE change is on line d (the old d+1...).
	n=$(awk -v d="$d" 'NR > d && /kvm_tdp_mmu_spte_changed/ { print NR - 1; exit }' "$trace")
	echo "line $d deleted: $(sed -n "${d}p" "$trace")"
	;;
*)
	echo "capture_mutated.sh: unknown mutation '$mutation'" >&2
	exit 2
	;;
esac

"$arborist" capture --trace "$mutated" --check >"$mutated.check" 2>&1
rc=$?
cat "$mutated.check"
[ $rc -eq 1 ] || fail "arborist capture --check exited $rc on the mutated capture (expected 1)"
grep -q -E ": [0-9]+ violations?: REJECTED\$" "$mutated.check" || fail "no REJECTED verdict"
grep -q -E "^  $phase +[0-9]+ +[0-9]+ +[1-9][0-9]*  VIOLATION\$" "$mutated.check" ||
	fail "phase $phase is not marked VIOLATION"
grep -q -F "$mutated:$n: [$phase] $kind: " "$mutated.check" ||
	fail "expected '$mutated:$n: [$phase] $kind: ...' in the report"
echo "PASS: $kind at line $n, phase $phase"
