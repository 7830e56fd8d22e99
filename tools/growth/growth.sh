#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# growth.sh: how the time of `arborist run` and `arborist conform` grows
# with their input.  Each shape of input is generated at 1x, 2x, 4x and 8x
# its base size, each run is timed (CPU time, user + system, of the
# fastest of --reps runs: wall time on a shared machine measures the
# neighbours), the time of the shape's empty input (process start, VM
# build) is subtracted, and the growth exponent k of time ~ size^k is
# fitted by least squares on the logarithms: 1 is linear, 2 quadratic.  A
# shape above --max-exponent is measured once more with twice the runs
# (a noise spike does not repeat, a quadratic does); exit 1 if it is
# still above.
#
# usage: tools/growth/growth.sh [--arborist PATH] [--scale N] [--reps N]
#            [--max-exponent K] [--shapes 'NAME ...'] [--work DIR]
#   --arborist PATH    the binary (default build/default/arborist)
#   --scale N          multiply every base size by N (default 1)
#   --reps N           runs per size, the fastest counts (default 3)
#   --max-exponent K   the largest exponent accepted (default 1.3)
#   --shapes LIST      a subset of the shapes below (default all)
#   --work DIR         where inputs are generated (default a temporary dir)
#
# Shapes (base size at 1x):
#   run.words           one line of N distinct words (N = 12000; 8x stays
#                       under the 1 MiB line cap): the duplicate-key check
#                       and the parser, then rejection
#   run.big-line        one comment line of N bytes (N = 2 MiB): refused
#                       at the 1 MiB line cap, so the time is flat
#   run.plain-faults    N faults in 2 MiB steps on an EPT VM (N = 4000)
#   run.plain-refine    the same with --refine
#   run.td-refine       N private faults and an unmap every 8th on a
#                       finalized TD, --refine (N = 1000)
#   run.td-mixed-refine N operations on a 2-vCPU TD with private 2M pages:
#                       faults, shared faults, enter/exit, unmaps, splits,
#                       --refine (N = 4000)
#   conform.npt         `arborist conform` of the --trace of N faults on an
#                       NPT VM (N = 4000)
#   conform.td          `arborist conform` of the --trace of run.td-refine's
#                       scenario (N = 1000)
set -eu
TIMEFORMAT='%3U %3S'

arborist=build/default/arborist
scale=1
reps=3
max_exponent=1.3
shapes="run.words run.big-line run.plain-faults run.plain-refine run.td-refine run.td-mixed-refine conform.npt conform.td"
work=""
while [ $# -gt 0 ]; do
	case "$1" in
	--arborist) arborist=$2; shift 2 ;;
	--scale) scale=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--max-exponent) max_exponent=$2; shift 2 ;;
	--shapes) shapes=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	-h|--help) sed -n '3,44p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "growth.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ -x "$arborist" ] || { echo "growth.sh: $arborist is not an executable (--arborist PATH)" >&2; exit 2; }
case "$scale$reps" in *[!0-9]*) echo "growth.sh: --scale and --reps take whole numbers" >&2; exit 2 ;; esac
if [ -z "$work" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
# A TD's TDMR: enough frames for the largest size (a fault in a new 2 MiB
# region takes a page and an S-EPT page), the same at every size so the
# empty run pays the same build.
tdmr=$((65536 * scale))

# ---- inputs ---------------------------------------------------------------------

# gen SHAPE N FILE: the scenario (or trace) of SHAPE at size N.
gen() {
	shape=$1 n=$2 f=$3
	case "$shape" in
	run.words)
		awk -v n="$n" 'BEGIN { printf "vm ept\nfault gpa=0x1000"; for (i = 0; i < n; i++) printf " w%d", i; print "" }' >"$f" ;;
	run.big-line)
		{ printf 'vm ept\nfault gpa=0x1000\n# '; head -c "$n" /dev/zero | tr '\0' a; echo; } >"$f" ;;
	run.plain-faults|run.plain-refine)
		awk -v n="$n" 'BEGIN { print "vm ept"; for (i = 0; i < n; i++) printf "fault gpa=%.0f\n", (i * 4096 * 513) % 2^46 }' >"$f" ;;
	run.td-refine|conform.td)
		awk -v n="$n" -v t="$tdmr" 'BEGIN { print "vm tdx tdmr_pages=" t; print "finalize";
			for (i = 0; i < n; i++) { printf "fault gpa=%.0f\n", (i * 4096 * 513) % 2^46;
				if (i % 8 == 7) printf "unmap gfn=%.0f private\n", ((i - 3) * 513) % 2^34 } }' >"$f" ;;
	run.td-mixed-refine)
		# 4K pages below GFN 4N, 2M pages above (a 4K fault under a mirror
		# 2M leaf is a KVM bug, not a workload).
		awk -v n="$n" -v t="$tdmr" 'BEGIN { srand(7); print "vm tdx vcpus=2 huge=on tdmr_pages=" t; print "finalize";
			for (i = 0; i < n; i++) { r = int(rand() * 10); g = int(rand() * 4 * n); h = (4 * n + int(rand() * n)) * 512;
				if (r < 4) printf "fault gpa=%.0f\n", g * 4096;
				else if (r == 4) printf "fault gpa=%.0f level=2\n", h * 4096;
				else if (r == 5) printf "fault gpa=%.0f shared\n", g * 4096;
				else if (r == 6) printf "enter vcpu=%d\n", g % 2;
				else if (r == 7) printf "exit vcpu=%d\n", g % 2;
				else if (r == 8) printf "unmap gfn=%.0f..%.0f\n", g, g + 64;
				else printf "split gfn=%.0f..%.0f\n", h, h + 512 } }' >"$f" ;;
	conform.npt)
		awk -v n="$n" 'BEGIN { print "vm npt"; for (i = 0; i < n; i++) printf "fault gpa=%.0f\n", (i * 4096 * 513) % 2^46 }' >"$f" ;;
	*) echo "growth.sh: unknown shape '$shape'" >&2; exit 2 ;;
	esac
	case "$shape" in
	conform.*)
		"$arborist" run "$f" --quiet --trace "$f.trace" >/dev/null ||
			{ echo "growth.sh: $shape: the scenario of size $n failed" >&2; exit 1; } ;;
	esac
}

base() {
	case "$1" in
	run.words) echo 12000 ;;
	run.big-line) echo 2097152 ;;
	run.plain-faults|run.plain-refine) echo 4000 ;;
	run.td-refine|conform.td) echo 1000 ;;
	run.td-mixed-refine) echo 4000 ;;
	conform.npt) echo 4000 ;;
	esac
}

# The command of SHAPE on FILE (its exit status is not the point: run.words
# is rejected by design; the output is thrown away).
command_of() {
	case "$1" in
	run.words|run.big-line|run.plain-faults) echo "run $2 --quiet" ;;
	run.*) echo "run $2 --quiet --refine" ;;
	conform.*) echo "conform $2.trace" ;;
	esac
}

# time_of SHAPE FILE RUNS: the least CPU time (user + system, from bash's
# `time`, getrusage) of RUNS runs, in seconds.
time_of() {
	best=""
	for ((i = 0; i < $3; i++)); do
		# shellcheck disable=SC2046
		t=$({ time "$arborist" $(command_of "$1" "$2") >/dev/null 2>&1; } 2>&1 || true)
		best=$(echo "$t $best" | awk '{ s = $1 + $2; if (NF < 3 || s < $3) printf "%.3f", s; else printf "%.3f", $3 }')
	done
	echo "$best"
}

# ---- measure ----------------------------------------------------------------------

# measure SHAPE RUNS: sets $empty, $sizes, $times and $exponent.
measure() {
	shape=$1
	b=$(base "$shape")
	[ -n "$b" ] || { echo "growth.sh: unknown shape '$shape'" >&2; exit 2; }
	[ -e "$work/$shape-0" ] || gen "$shape" 0 "$work/$shape-0"
	empty=$(time_of "$shape" "$work/$shape-0" "$2")
	sizes="" times=""
	for m in 1 2 4 8; do
		n=$((b * scale * m))
		[ -e "$work/$shape-$m" ] || gen "$shape" "$n" "$work/$shape-$m"
		sizes="$sizes $n"
		times="$times $(time_of "$shape" "$work/$shape-$m" "$2")"
	done
	# Least squares of log(t - empty) on log(n); a time under 2 ms above
	# the empty run is taken as 2 ms (timer resolution).  When even 8x
	# costs under 20 ms more than the empty input the shape is flat: no
	# exponent can be told from the noise, and none is needed.
	exponent=$(echo "$sizes|$times|$empty" | awk -F'|' '{
		k = split($1, n, " "); split($2, t, " "); e = $3;
		if (t[k] - e < 0.02) { print "flat"; exit }
		for (i = 1; i <= k; i++) { y = t[i] - e; if (y < 0.002) y = 0.002; x[i] = log(n[i]); l[i] = log(y) }
		for (i = 1; i <= k; i++) { sx += x[i]; sy += l[i] }
		mx = sx / k; my = sy / k;
		for (i = 1; i <= k; i++) { num += (x[i] - mx) * (l[i] - my); den += (x[i] - mx) ^ 2 }
		printf "%.2f", num / den }')
}

above() { awk -v k="$1" -v m="$max_exponent" 'BEGIN { exit !(k != "flat" && k + 0 > m + 0) }'; }

echo "CPU seconds (user + system), the least of $reps runs; sizes: 1x = the base below times --scale $scale"
printf '%-20s %8s %9s %9s %9s %9s %9s  %s\n' shape 1x=N empty 1x 2x 4x 8x exponent
status=0
for shape in $shapes; do
	measure "$shape" "$reps"
	note=""
	if above "$exponent"; then
		first=$exponent
		measure "$shape" $((reps * 2))
		note=" (first measurement $first)"
	fi
	verdict=ok
	if above "$exponent"; then
		verdict=SUPER-LINEAR
		status=1
	fi
	# shellcheck disable=SC2086
	printf '%-20s %8s %8ss %8ss %8ss %8ss %8ss  %s %s%s\n' "$shape" "$((b * scale))" "$empty" $times "$exponent" \
		"$verdict" "$note"
done
exit $status
