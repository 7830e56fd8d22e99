#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Boot a kernel under QEMU TCG with nested AMD SVM + NPT, run the arborist
# workload in it and bring back its ftrace trace.  `arborist capture` runs
# this script (docs/capture.md); it can also be run by hand:
#
#   capture.sh --workload BIN --out DIR (--kernel IMAGE --modules DIR | --deb PKG.deb)
#              [--qemu PATH] [--timeout SECONDS] [--memory MB] [--buffer-kb KB]
#              [--trace-clock CLOCK] [--override-modules DIR]
#
# --override-modules DIR: the modules in DIR (e.g. kvm.ko and kvm-amd.ko
# rebuilt by build-debian-kvm.sh) replace those of the same name in the
# kernel's modules; their vermagic must name the kernel's release.
#
# Writes DIR/trace.txt (the guest's /sys/kernel/tracing/trace), DIR/console.txt
# (the guest's serial console), DIR/formats.txt (the guest's
# events/kvmmmu/*/format), DIR/capture-facts.txt (kernel release, package,
# trace clock, QEMU version, CPUs), DIR/initramfs.cpio.gz and
# DIR/qemu-command.txt.
# The host's /dev/kvm is never used: QEMU runs with -accel tcg.
#
# Exit status: 0 the trace is complete; 2 bad input or a failed capture,
# with a message that names the file (and the console line) to look at.
set -euo pipefail

me=capture
err() {
	echo "$me: $*" >&2
	exit 2
}
usage() { err "$* (usage: capture.sh --workload BIN --out DIR (--kernel IMAGE --modules DIR | --deb PKG.deb) [--qemu PATH] [--timeout S] [--memory MB] [--buffer-kb KB] [--trace-clock CLOCK] [--override-modules DIR])"; }

kernel= modules= deb= workload= out= qemu=qemu-system-x86_64
timeout_s=900 memory=1024 buffer_kb=32768 trace_clock= override=
here=$(cd "$(dirname "$0")" && pwd)

while [ $# -gt 0 ]; do
	opt=$1
	case $opt in
	--kernel | --modules | --deb | --workload | --out | --qemu | --timeout | --memory | --buffer-kb | --trace-clock | --override-modules)
		[ $# -ge 2 ] || usage "option $opt needs a value"
		val=$2
		shift 2
		;;
	*) usage "unknown option '$opt'" ;;
	esac
	case $opt in
	--kernel) kernel=$val ;;
	--modules) modules=$val ;;
	--deb) deb=$val ;;
	--workload) workload=$val ;;
	--out) out=$val ;;
	--qemu) qemu=$val ;;
	--timeout) timeout_s=$val ;;
	--memory) memory=$val ;;
	--buffer-kb) buffer_kb=$val ;;
	--trace-clock) trace_clock=$val ;;
	--override-modules) override=$val ;;
	esac
done

for n in timeout_s memory buffer_kb; do
	[[ ${!n} =~ ^[1-9][0-9]*$ ]] || usage "option --${n%_s}: expected a positive whole number, got '${!n}'"
done
# The guest checks the name against its own trace_clock list; here only
# that it is a word, since it goes into /arborist.conf, a shell file.
[[ $trace_clock =~ ^[A-Za-z0-9_-]*$ ]] || usage "option --trace-clock: '$trace_clock' is not a clock name (e.g. local, global, mono, x86-tsc, counter)"
[ -n "$workload" ] || usage "no --workload given"
[ -n "$out" ] || usage "no --out given"
[ -f "$workload" ] || err "$workload: the workload program does not exist (build the target arborist-workload)"
if [ -n "$deb" ]; then
	[ -z "$kernel$modules" ] || usage "--deb and --kernel/--modules exclude each other"
else
	[ -n "$kernel" ] || usage "no kernel given (--kernel IMAGE --modules DIR, or --deb PKG.deb)"
	[ -n "$modules" ] || usage "no modules given (--modules DIR: a directory holding kvm.ko and kvm-amd.ko, e.g. /lib/modules/VERSION or the kernel build tree)"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)

# ---- the kernel and its modules -------------------------------------------------

if [ -n "$deb" ]; then
	[ -f "$deb" ] || err "$deb: no such package file"
	root=$out/kernel-root
	rm -rf "$root"
	mkdir -p "$root"
	dpkg-deb -x "$deb" "$root" 2>"$out/dpkg-deb.err" || err "$deb: dpkg-deb -x failed: $(head -3 "$out/dpkg-deb.err")"
	kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' 2>/dev/null | head -1)
	[ -n "$kernel" ] || err "$deb: the package has no boot/vmlinuz-* (is it a linux-image-* package?)"
	modules=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -1)
	[ -n "$modules" ] || err "$deb: the package has no lib/modules/VERSION directory"
fi
[ -f "$kernel" ] || err "$kernel: no such kernel image"
[ -d "$modules" ] || err "$modules: no such modules directory"

# Index of the module files under $modules: "name path" with the module
# name as the kernel spells it ('-' -> '_').
index=$out/modules.index
find "$modules" -type f \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) 2>/dev/null |
	awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.(xz|zst|gz))?$/, "", n); gsub(/-/, "_", n); print n, $0 }' >"$index"

# Compressed modules are unpacked on the host (Debian's 6.12 ships .ko.xz):
# say which tool is missing rather than read an empty .modinfo.
for ext in xz:xz zst:zstd gz:gzip; do
	if grep -q "\.ko\.${ext%%:*}\$" "$index" && ! command -v "${ext#*:}" >/dev/null 2>&1; then
		err "${ext#*:} not found: the modules under $modules are .ko.${ext%%:*} (scripts/bootstrap.sh capture installs it)"
	fi
done

# A field of a module's .modinfo section (NUL-separated "key=value" strings).
modinfo_field() {
	local f=$1 key=$2
	case $f in
	*.xz) xz -dc "$f" ;;
	*.zst) zstd -dcq "$f" ;;
	*.gz) gzip -dc "$f" ;;
	*) cat "$f" ;;
	esac | tr '\0' '\n' | grep -a -m1 "^$key=" | cut -d= -f2- || true
}

builtin_has() {
	[ -f "$modules/modules.builtin" ] && grep -q -E "/$1\.ko\$" <(sed 's/-/_/g' "$modules/modules.builtin")
}

# Rebuilt modules replace the kernel's own of the same name.  Their
# vermagic must be that of the module they replace (the kernel's release
# and options), or insmod in the guest would fail with a less helpful
# message.
if [ -n "$override" ]; then
	[ -d "$override" ] || err "--override-modules $override: no such directory"
	find "$override" -maxdepth 1 -type f -name '*.ko' |
		awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n); print n, $0 }' >"$index.override"
	[ -s "$index.override" ] || err "--override-modules $override: no .ko file there"
	while read -r name file; do
		own=$(awk -v n="$name" '$1 == n { print $2; exit }' "$index")
		[ -n "$own" ] || continue
		magic=$(modinfo_field "$file" vermagic)
		want=$(modinfo_field "$own" vermagic)
		[ "$magic" = "$want" ] || err "$file: vermagic '$magic' is not that of the kernel's $own: '$want'"
	done <"$index.override"
	awk 'NR == FNR { o[$1] = 1; print; next } !($1 in o)' "$index.override" "$index" >"$index.new"
	mv "$index.new" "$index"
	rm -f "$index.override"
fi

order=() done_names=" " active=" "
resolve() {
	local name=$1 needed_by=$2 file dep
	case $done_names in *" $name "*) return 0 ;; esac
	case $active in *" $name "*) err "$modules: module dependency cycle through $name" ;; esac
	file=$(awk -v n="$name" '$1 == n { print $2; exit }' "$index")
	if [ -z "$file" ]; then
		if builtin_has "$name"; then
			done_names+="$name "
			return 0
		fi
		err "$modules: no module $name${needed_by:+ (needed by $needed_by)} there, and modules.builtin does not list it"
	fi
	active+="$name "
	for dep in $(modinfo_field "$file" depends | tr ',' ' '); do
		resolve "$dep" "$name"
	done
	order+=("$file")
	done_names+="$name "
}

# The guest is an AMD CPU (qemu64,+svm,+npt), so KVM is kvm-amd.
if [ -z "$(awk '$1 == "kvm_amd"' "$index")" ] && ! builtin_has kvm_amd; then
	err "$modules: no KVM modules there (looked for kvm-amd.ko, .ko.xz, .ko.zst under it, and in modules.builtin)"
fi
resolve kvm_amd ""

# ---- the tools ---------------------------------------------------------------------

command -v "$qemu" >/dev/null 2>&1 || err "QEMU not found: '$qemu' (install qemu-system-x86: scripts/bootstrap.sh capture)"
command -v cpio >/dev/null 2>&1 || err "cpio not found (scripts/bootstrap.sh capture)"
busybox=$(command -v busybox 2>/dev/null) || err "busybox not found (install busybox-static: scripts/bootstrap.sh capture)"
if command -v readelf >/dev/null 2>&1 && readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	err "$busybox is dynamically linked; the initramfs needs busybox-static (apt-get install busybox-static)"
fi

# ---- the initramfs ---------------------------------------------------------------

stage=$out/initramfs
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/modules" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp"
cp "$busybox" "$stage/bin/busybox"
cp "$here/init.sh" "$stage/init"
chmod 755 "$stage/init"
cp "$workload" "$stage/workload"
chmod 755 "$stage/workload"
names=()
for f in "${order[@]}"; do
	base=${f##*/}
	case $base in
	*.xz) xz -dc "$f" >"$stage/modules/${base%.xz}" ;;
	*.zst) zstd -dcq "$f" >"$stage/modules/${base%.zst}" ;;
	*.gz) gzip -dc "$f" >"$stage/modules/${base%.gz}" ;;
	*) cp "$f" "$stage/modules/$base" ;;
	esac
	base=${base%.xz}
	base=${base%.zst}
	base=${base%.gz}
	# Modules of a build tree carry their debug info (kvm.ko: tens of MB);
	# strip it unless the module is signed (stripping breaks a signature).
	if command -v strip >/dev/null 2>&1 && ! tail -c 28 "$stage/modules/$base" | grep -q 'Module signature appended'; then
		strip --strip-debug "$stage/modules/$base" 2>/dev/null || true
	fi
	names+=("$base")
done
cat >"$stage/arborist.conf" <<EOF
MODULES="${names[*]}"
KVM_EVENTS="kvm_page_fault kvm_exit kvm_userspace_exit kvm_mmio kvm_unmap_hva_range kvm_set_spte_hva kvm_age_hva"
BUFFER_KB=$buffer_kb
TRACE_CLOCK=$trace_clock
EOF
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$out/initramfs.cpio.gz"
echo "$me: kernel $kernel"
echo "$me: modules (load order): ${order[*]}"
[ ${#order[@]} -gt 0 ] || echo "$me: note: KVM is built into this kernel (modules.builtin), no module to load"

# ---- boot -------------------------------------------------------------------------

console=$out/console.txt
raw=$out/trace.serial
monitor=$out/monitor.fifo
rm -f "$console" "$raw" "$out/trace.txt" "$out/qemu-state.txt" "$monitor"
# nokaslr: kernel addresses in a hung guest's register dump match System.map.
# oops=panic: a BUG() or Oops in the guest (e.g. KVM's own check of an SPTE
# change) usually leaves mmu_lock held and the workload stuck; panicking
# ends the capture at once with the BUG line instead of at --timeout.
# no_timer_check: the boot-time check that the IO-APIC timer ticks
# (timer_irq_works(), arch/x86/kernel/apic/io_apic.c) waits about 10 ticks
# and panics ("IO-APIC + timer doesn't work!") if the guest saw fewer than
# 5, which a TCG vCPU starved by a loaded host does (3 boots in 31 on 2
# shared cores); the workload does not depend on that check.
cmd=("$qemu" -machine q35 -accel tcg,thread=multi -cpu qemu64,+svm,+npt -m "$memory" -smp 2
	-kernel "$kernel" -initrd "$out/initramfs.cpio.gz"
	-append "console=ttyS0 loglevel=5 panic=-1 oops=panic nokaslr no_hash_pointers no_timer_check transparent_hugepage=always"
	-nodefaults -display none -no-reboot
	-serial "file:$console" -serial "file:$raw" -monitor stdio)
printf '%q ' "${cmd[@]}" >"$out/qemu-command.txt"
echo >>"$out/qemu-command.txt"
echo "$me: qemu command: $(cat "$out/qemu-command.txt")"

# The QEMU monitor reads a FIFO we hold open: on a timeout we ask it for
# the CPU registers before quitting, so a hung guest says where it hung.
mkfifo "$monitor"
start=$(date +%s%N)
"${cmd[@]}" <"$monitor" >"$out/qemu.log" 2>&1 &
qemu_pid=$!
exec 3>"$monitor"
trap 'kill $qemu_pid 2>/dev/null || true' EXIT
timed_out=0
while kill -0 $qemu_pid 2>/dev/null; do
	if [ $((($(date +%s%N) - start) / 1000000000)) -ge "$timeout_s" ]; then
		timed_out=1
		echo "info registers -a" >&3 || true
		sleep 3
		echo quit >&3 || true
		sleep 3
		kill $qemu_pid 2>/dev/null || true
		break
	fi
	sleep 0.5
done
set +e
wait $qemu_pid
qemu_rc=$?
set -e
exec 3>&-
trap - EXIT
rm -f "$monitor"
ms=$((($(date +%s%N) - start) / 1000000))
printf '%s: qemu ran %d.%d s (exit status %d)\n' "$me" $((ms / 1000)) $((ms % 1000 / 100)) "$qemu_rc"

# Where each vCPU of a hung guest was: RIP looked up in System.map (the
# package's, or the one of the kernel build tree the image came from).
where_cpus() {
	local map="" m rip sym
	# Debian packages ship a stub System.map (the real one is in -dbg).
	for m in "$(dirname "$kernel")"/System.map* "$(dirname "$kernel")/../../../System.map"; do
		[ -f "$m" ] && [ "$(head -n 1000 "$m" | wc -l)" -ge 1000 ] && { map=$m; break; }
	done
	[ -n "$map" ] || echo -n " (no System.map with symbols next to the image; with nokaslr the addresses match the kernel's System.map, for Debian in linux-image-*-dbg);"
	grep -a -o -E 'RIP=[0-9a-f]+' "$out/qemu.log" | cut -d= -f2 | while read -r rip; do
		sym=
		if [ -n "$map" ]; then
			sym=$(awk -v a="$rip" 'BEGIN { a = tolower(a) }
				$2 ~ /^[tTwW]$/ { v = $1; if (length(v) == length(a) && v <= a) { best = $3 } }
				END { if (best != "") print best }' <(sort "$map"))
		fi
		echo -n " vCPU RIP $rip${sym:+ ($sym)};"
	done
}

# ---- what happened ----------------------------------------------------------------

touch "$console"
tr -d '\r' <"$console" >"$console.tmp" && mv "$console.tmp" "$console"
grep -a '^arborist-workload: ' "$console" | sed 's/^/  /' || true

where() { # the first console line matching $1, as FILE:LINE: TEXT
	grep -a -n -m1 -E "$1" "$console" | sed "s|^\([0-9]*\):|$console:\1: |"
}
last_lines() {
	echo "last lines of $console:"
	tail -n 8 "$console" | sed 's/^/  /'
}

if [ $timed_out = 1 ]; then
	p=$(where 'kernel BUG at|BUG:|Oops' || true)
	err "the guest did not finish within $timeout_s s (--timeout);${p:+ first: $p;}$(where_cpus) registers in $out/qemu.log; $(last_lines)"
fi
if [ "$qemu_rc" -ne 0 ]; then
	err "QEMU failed (exit status $qemu_rc): $(grep -v 'monitor - type' "$out/qemu.log" | sed 's/^(qemu) //' | grep -v '^$' | head -5)"
fi
if ! grep -a -q '^arborist-init: start' "$console"; then
	p=$(where 'Kernel panic|end Kernel panic|VFS: Unable|No working init|Kernel Offset' || true)
	[ -n "$p" ] && err "the guest kernel did not reach /init: $p"
	[ -s "$console" ] || err "the guest printed nothing on its console ($console is empty): is $kernel an x86-64 bzImage?"
	err "the guest kernel did not reach /init; $(last_lines)"
fi
# The first error the guest reported; a failed workload still sends the
# trace up to its failure, which is brought back before the error is.
failed=$(where '^arborist-(init|workload): error' || true)
if ! grep -a -q '^arborist-init: trace: sent' "$console"; then
	[ -z "$failed" ] || err "$failed"
	# The BUG or Oops first: the panic and the WARNs around it follow from it.
	p=$(where 'kernel BUG at|BUG:|Oops' || true)
	[ -n "$p" ] || p=$(where 'Kernel panic|WARNING:' || true)
	[ -n "$p" ] && err "the guest failed after /init started: $p"
	err "the guest stopped before sending the trace; $(last_lines)"
fi

touch "$raw"
tr -d '\r' <"$raw" >"$raw.tmp"
mv "$raw.tmp" "$raw"
# ttyS1 carries two gzip+base64 streams, each followed by its end line:
# the trace, then the event formats.
grep -q -x arborist-trace-end "$raw" ||
	err "$raw: the trace is cut short (no arborist-trace-end line); $(wc -l <"$raw") lines arrived"
sed '/^arborist-trace-end$/,$d' "$raw" | base64 -d 2>/dev/null | gzip -dc >"$out/trace.txt" 2>"$out/gzip.err" ||
	err "$raw: the trace arrived damaged ($(head -1 "$out/gzip.err")); $(wc -c <"$raw") bytes arrived"
[ "$(tail -n 1 "$raw")" = arborist-formats-end ] ||
	err "$raw: the event formats are cut short (no arborist-formats-end line after the trace)"
sed '1,/^arborist-trace-end$/d; $d' "$raw" | base64 -d 2>/dev/null | gzip -dc >"$out/formats.txt" 2>"$out/gzip.err" ||
	err "$raw: the event formats arrived damaged ($(head -1 "$out/gzip.err"))"
rm -f "$raw" "$out/gzip.err"
want=$(grep -a -m1 '^arborist-init: trace: ' "$console" | sed -n 's/^arborist-init: trace: \([0-9]*\) lines$/\1/p')
got=$(wc -l <"$out/trace.txt")
[ -z "$want" ] || [ "$want" = "$got" ] || err "$out/trace.txt: $got lines arrived, the guest sent $want"

# A ring buffer that overran dropped the oldest events: the trace would not
# start with the VM.  That is a capture problem, not a kernel one.
entries=$(grep -m1 '^# entries-in-buffer/entries-written:' "$out/trace.txt" | sed 's/.*: \([0-9]*\)\/\([0-9]*\).*/\1 \2/' || true)
if [ -n "$entries" ]; then
	set -- $entries
	[ "$1" = "$2" ] || err "$out/trace.txt:3: the ring buffer overran ($1 of $2 entries kept); raise --buffer-kb (now $buffer_kb)"
fi

# What a reader of the trace needs to know about where it came from.
console_value() { # the text after "arborist-init: $1" on the console
	grep -a -m1 "^arborist-init: $1" "$console" | sed "s/^arborist-init: $1//"
}
{
	start_line=$(console_value 'start: kernel ')
	echo "kernel: ${start_line%%,*}"
	if [ -n "$deb" ]; then
		echo "package: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
	else
		echo "package: none (--kernel $kernel)"
	fi
	clock=$(console_value 'trace_clock: ')
	default=$(echo "$clock" | sed -n "s/.*the kernel's default: \([^;]*\);.*/\1/p")
	if [ -n "$trace_clock" ]; then how="set with --trace-clock"; else how="not set"; fi
	echo "trace_clock: ${clock%% *} ($how; the kernel's default: ${default:-unknown})"
	echo "qemu: $("$qemu" --version | head -1)"
	echo "cpus: $(echo "$start_line" | sed -n 's/.*, \([0-9]*\) CPUs$/\1/p')"
	echo "memory_mb: $memory"
	if [ -n "$override" ]; then
		echo "rebuilt_modules: $(cd "$override" && ls *.ko | tr '\n' ' ')($override)"
		# build-debian-kvm.sh says what they were built from.
		[ ! -f "$override/build-facts.txt" ] || sed 's/^/kbuild_/' "$override/build-facts.txt"
	fi
	echo "trace_lines: $got"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/capture-facts.txt"
echo "$me: trace $out/trace.txt ($got lines), console $console, facts $out/capture-facts.txt"
# A WARN_ON() or BUG in the guest kernel (e.g. in the TDP MMU) is news for
# the kernel developer even when the trace conforms: say where it is.
splats=$(grep -a -n -E 'WARNING: CPU|BUG: |Oops|general protection fault|soft lockup' "$console" | head -5 || true)
if [ -n "$splats" ]; then
	echo "$me: note: the guest kernel reported problems during the capture:"
	echo "$splats" | sed "s|^\([0-9]*\):|  $console:\1: |"
fi
if [ -n "$failed" ]; then
	# Exit 2, but with the trace in place: arborist capture --check still
	# checks what the kernel did before the failure.
	echo "$me: the trace up to the failure: $out/trace.txt" >&2
	err "$failed"
fi
