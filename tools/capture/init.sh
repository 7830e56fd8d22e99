#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the initramfs that tools/capture/capture.sh builds for
# `arborist capture` (docs/capture.md).  It runs in the L1 guest: loads the
# KVM modules, enables the kvmmmu tracepoints, runs the workload, and sends
# /sys/kernel/tracing/trace out through the second serial port (ttyS1).
#
# Every line it prints starts with "arborist-init: "; a failure is
# "arborist-init: error: WHAT", which capture.sh finds in the console log and
# reports with its line number.  /arborist.conf (written by capture.sh) sets
# MODULES (file names under /modules, in load order), KVM_EVENTS,
# BUFFER_KB and TRACE_CLOCK (empty: leave the kernel's default clock).

/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin

say() { echo "arborist-init: $*"; }
# With -no-reboot and panic=-1, QEMU exits when the guest powers off or
# panics, so a failure never leaves QEMU running until the timeout.
fail() {
	say "error: $*"
	poweroff -f
	sleep 5
	exit 1
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
T=/sys/kernel/tracing
mount -t tracefs tracefs $T || fail "cannot mount tracefs on $T (CONFIG_TRACING?)"
. /arborist.conf

say "start: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs"
say "cpu flags: $(grep -m1 ^flags /proc/cpuinfo | tr ' ' '\n' | grep -x -E 'svm|npt|nx|lm|pdpe1gb' | tr '\n' ' ')"
say "transparent_hugepage: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"

for m in $MODULES; do
	out=$(insmod /modules/$m 2>&1) || fail "insmod $m failed: $out"
	say "insmod $m: ok"
done
[ -c /dev/kvm ] || fail "no /dev/kvm after loading the modules (does the CPU show svm? see the cpu flags above)"
for p in kvm/parameters/tdp_mmu kvm/parameters/eager_page_split kvm/parameters/nx_huge_pages \
	kvm_amd/parameters/npt kvm_amd/parameters/nested; do
	[ -r /sys/module/$p ] && say "param $p = $(cat /sys/module/$p)"
done

# A VM that lives until power-off, so that the workload's VMs never flip
# the kernel's static keys (text patching; see "--hold" in workload.c).
/workload --hold /tmp/hold-ready &
i=0
while [ ! -e /tmp/hold-ready ]; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "the holding VM (workload --hold) did not start"
	kill -0 $! 2>/dev/null || fail "the holding VM (workload --hold) failed; its error is above"
	sleep 0.1
done
say "holding VM: ready"

[ -w $T/trace_marker ] || fail "no $T/trace_marker"
[ -d $T/events/kvmmmu ] || fail "the kernel has no kvmmmu trace events ($T/events/kvmmmu is missing)"
echo 0 > $T/tracing_on
# trace_clock lists the clocks with the current one in brackets
# ("[local] global counter uptime perf mono mono_raw boot tai x86-tsc").
# The kernel's default is "local" (per-CPU clocks, so timestamps of two
# CPUs can disagree), but "global" when sched_clock is unstable, as under
# TCG (tracing_set_default_clock(), kernel/trace/trace.c): a checker of
# multi-CPU traces has to know which clock it reads.
clocks=$(cat $T/trace_clock) || fail "cannot read $T/trace_clock"
default_clock=$(echo "$clocks" | sed -n 's/.*\[\([^]]*\)\].*/\1/p')
if [ -n "$TRACE_CLOCK" ]; then
	case " $(echo $clocks | tr -d '[]') " in
	*" $TRACE_CLOCK "*) ;;
	*) fail "unknown trace clock '$TRACE_CLOCK' (--trace-clock): this kernel offers: $(echo $clocks | tr -d '[]')" ;;
	esac
	echo "$TRACE_CLOCK" > $T/trace_clock || fail "cannot set trace_clock to $TRACE_CLOCK"
fi
clock=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' $T/trace_clock)
say "trace_clock: $clock (the kernel's default: $default_clock; offered: $(echo $clocks | tr -d '[]'))"
echo "$BUFFER_KB" > $T/buffer_size_kb || fail "cannot set buffer_size_kb to $BUFFER_KB"
echo > $T/trace
echo 1 > $T/events/kvmmmu/enable || fail "cannot enable the kvmmmu events"
for e in $KVM_EVENTS; do
	if [ -d $T/events/kvm/$e ]; then
		echo 1 > $T/events/kvm/$e/enable || fail "cannot enable kvm:$e"
	else
		say "note: this kernel has no event kvm:$e"
	fi
done
say "events: $(ls $T/events/kvmmmu | grep -v -x -E 'enable|filter' | tr '\n' ' ')"
echo 1 > $T/tracing_on

say "workload: start"
/workload $T/trace_marker
rc=$?
echo 0 > $T/tracing_on
say "workload: exit status $rc"
# A failed workload still sends its trace: what the kernel did up to the
# failure is what a kernel developer needs to see (the host reports the
# failure after checking the trace).
[ $rc -eq 0 ] || say "error: the workload failed (exit status $rc); its error is above"

# The header says whether the ring buffer overran
# ("entries-in-buffer/entries-written: A/B"); capture.sh checks it.
say "trace: $(wc -l < $T/trace) lines"
# A UART under TCG moves about 200 KB/s; the trace compresses about 14:1.
# gzip's CRC lets capture.sh check that every byte arrived; base64 keeps
# the stream clear of what the tty layer would translate.
(gzip -c $T/trace | base64 > /dev/ttyS1) || fail "cannot write the trace to /dev/ttyS1"
# close() of a serial port waits until the UART has sent everything, so the
# end line is the last thing on ttyS1 and capture.sh can tell a cut trace.
echo "arborist-trace-end" > /dev/ttyS1
say "trace: sent"

# The formats of the kvmmmu events (field layout and print format), so a
# trace can be read against exactly the tracepoints of this kernel.  Sent
# after the trace on the same port, framed by their own end line.
for f in $T/events/kvmmmu/*/format; do
	echo "--- $f"
	cat "$f"
done > /tmp/formats.txt
(gzip -c /tmp/formats.txt | base64 > /dev/ttyS1) || fail "cannot write the event formats to /dev/ttyS1"
echo "arborist-formats-end" > /dev/ttyS1
say "formats: sent"
[ $rc -eq 0 ] || fail "the workload failed (exit status $rc); the trace up to the failure was sent"
poweroff -f
sleep 5
