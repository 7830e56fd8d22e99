#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Rebuild the KVM modules of a Debian 12 kernel from Debian's own source,
# with patches, so that the unchanged Debian kernel image loads them
# (`arborist capture --debian SERIES --patch FILE`, docs/capture.md,
# "Testing a patch to arch/x86/kvm").
#
#   build-debian-kvm.sh --series 6.1|6.12 --cache DIR --out DIR [--patch FILE]...
#   build-debian-kvm.sh --series 6.1|6.12 --cache DIR --prepare-only
#
# --prepare-only stops after step 2 (fetch and prepare, no build): the
# CTest's way to tell "cannot be had here" (exit 3, a skip) from a failure.
#
# 1. The image: the newest linux-image-* of SERIES whose version
#    linux-source-SERIES and linux-headers-RELEASE also have (Debian
#    publishes them together; a mirror may lag).  All three are fetched with
#    `apt-get download` into DIR (never installed); files already there are
#    reused, so a machine without network works from a filled cache.
# 2. The prepared tree, once per release, DIR/kbuild/RELEASE/src: the source
#    tarball unpacked, the image's own /boot/config-RELEASE, `make
#    olddefconfig`, `make modules_prepare KERNELRELEASE=RELEASE` (so the
#    modules' vermagic is the image's), and Debian's Module.symvers from
#    linux-headers-RELEASE (so the modules' symbol CRCs are those of the
#    image's vmlinux: Debian's kernels have CONFIG_MODVERSIONS=y and refuse
#    a module whose CRCs disagree).  That tree is never written again.
# 3. The work tree, DIR/kbuild/RELEASE/work: a hard-linked copy of src.  The
#    files the previous run patched are restored from src, the patches are
#    applied (each file is copied first, so no patch writes through a hard
#    link into src), and `make M=arch/x86/kvm` rebuilds what changed: the
#    objects of earlier builds stay, so a one-file change recompiles one file
#    and relinks.  kvm-intel.ko is not built (the guest is AMD), debug info
#    is not generated (capture.sh strips it anyway).
# 4. kvm.ko and kvm-amd.ko are copied to OUT/kvm-modules; the build log is
#    OUT/kbuild.log.
#
# stdout: "image PATH.deb" and "modules DIR" (for capture.sh --deb and
# --override-modules), "prepare_s N" and "build_s N" (wall seconds; prepare 0
# when cached).  Messages go to stderr.  One run at a time per cache (flock).
#
# Exit status: 0 built; 2 bad input, a patch that does not apply (patch's
# message) or a build that fails (the compiler's messages); 3 the packages
# cannot be had here (no apt, no network and nothing cached).
set -euo pipefail

me=build-debian-kvm
err() {
	echo "$me: $*" >&2
	exit 2
}
unavailable() {
	echo "$me: $*" >&2
	exit 3
}
usage() { err "$* (usage: build-debian-kvm.sh --series 6.1|6.12 --cache DIR --out DIR [--patch FILE]...)"; }

series= cache= out= prepare_only=0
patches=()
while [ $# -gt 0 ]; do
	case $1 in
	--series | --cache | --out | --patch)
		[ $# -ge 2 ] || usage "option $1 needs a value"
		case $1 in
		--series) series=$2 ;;
		--cache) cache=$2 ;;
		--out) out=$2 ;;
		--patch) patches+=("$2") ;;
		esac
		shift 2
		;;
	--prepare-only) prepare_only=1 && shift ;;
	*) usage "unknown option '$1'" ;;
	esac
done
case $series in
6.1) image_re='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
6.12) image_re='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
'') usage "no --series given" ;;
*) usage "unknown kernel series '$series' (Debian 12 has 6.1 and 6.12)" ;;
esac
[ -n "$cache" ] || usage "no --cache given"
[ -n "$out" ] || [ $prepare_only = 1 ] || usage "no --out given"
[ $prepare_only = 0 ] || [ ${#patches[@]} -eq 0 ] || usage "--prepare-only builds nothing; it takes no --patch"
[ -n "$out" ] || out=$cache
for p in "${patches[@]}"; do
	[ -f "$p" ] || err "--patch $p: no such file"
	[ -r "$p" ] || err "--patch $p: cannot read it"
done
for tool in make gcc patch flock dpkg-deb tar xz; do
	command -v $tool >/dev/null 2>&1 || err "$tool not found (scripts/bootstrap.sh capture installs what a KVM build needs)"
done
mkdir -p "$cache" "$out"
cache=$(cd "$cache" && pwd)
out=$(cd "$out" && pwd)
abs_patches=()
for p in "${patches[@]}"; do
	abs_patches+=("$(cd "$(dirname "$p")" && pwd)/$(basename "$p")")
done

# ---- 1. the packages -----------------------------------------------------------

have_apt=0
command -v apt-get >/dev/null 2>&1 && command -v apt-cache >/dev/null 2>&1 && have_apt=1

# The cached file of PACKAGE at VERSION, if any.
cached_file() {
	local f
	for f in "$cache/${1}_${2//:/%3a}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# Fetch PACKAGE=VERSION into the cache; print its path.
fetch() {
	local pkg=$1 version=$2 f
	if f=$(cached_file "$pkg" "$version") && dpkg-deb --info "$f" >/dev/null 2>&1; then
		echo "$f"
		return 0
	fi
	[ $have_apt = 1 ] || unavailable "no apt here and $cache has no $pkg $version"
	echo "$me: apt-get download $pkg=$version into $cache" >&2
	(cd "$cache" && apt-get download -q "$pkg=$version" 2>&1 | grep -v -E 'unsandboxed|^Get:|^Fetched' >&2) || true
	f=$(cached_file "$pkg" "$version") && dpkg-deb --info "$f" >/dev/null 2>&1 ||
		unavailable "apt-get download $pkg=$version failed (no network?) and $cache holds no copy"
	echo "$f"
}

# Every version apt knows of PACKAGE.
versions_of() {
	apt-cache madison "$1" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }'
}

# The image: the newest of the series whose source and headers exist at its
# version.  Without apt, the newest cached image whose source and headers are
# cached too.
image= version=
if [ $have_apt = 1 ]; then
	sources=$(versions_of "linux-source-$series")
	for pkg in $(apt-cache search --names-only "$image_re" 2>/dev/null | awk '{ print $1 }' | sort -V -r); do
		for v in $(versions_of "$pkg"); do
			grep -q -x -F "$v" <<<"$sources" || continue
			versions_of "linux-headers-${pkg#linux-image-}" | grep -q -x -F "$v" || continue
			image=$pkg version=$v
			break 2
		done
	done
fi
if [ -z "$image" ]; then
	for f in $(ls "$cache"/linux-image-*.deb 2>/dev/null | sort -V -r); do
		n=${f##*/}
		pkg=${n%%_*}
		[[ $pkg =~ $image_re ]] || continue
		v=$(dpkg-deb -f "$f" Version 2>/dev/null) || continue
		cached_file "linux-source-$series" "$v" >/dev/null && cached_file "linux-headers-${pkg#linux-image-}" "$v" >/dev/null || continue
		image=$pkg version=$v
		echo "$me: no $series kernel with its source in the apt lists; using the cached $image $version" >&2
		break
	done
fi
[ -n "$image" ] || unavailable "no $series kernel image with linux-source-$series and linux-headers at the same version, in the apt lists or in $cache (is this Debian 12 bookworm? run apt-get update)"
release=${image#linux-image-}
image_deb=$(fetch "$image" "$version")
source_deb=$(fetch "linux-source-$series" "$version")
headers_deb=$(fetch "linux-headers-$release" "$version")
echo "$me: $image $version, its source and Module.symvers" >&2

# ---- 2. the prepared tree --------------------------------------------------------

top=$cache/kbuild/$release
src=$top/src
work=$top/work
mkdir -p "$top"
exec 9>"$top/lock"
flock 9

# A dpkg-deb member as a file: member DEB PATH-IN-PACKAGE DEST.
member() {
	dpkg-deb --fsys-tarfile "$1" | tar -x -O "./$2" >"$3" 2>/dev/null ||
		err "$1: has no $2"
}

prepare_s=0
if [ ! -f "$src/.arborist-prepared" ]; then
	t0=$(date +%s)
	echo "$me: preparing $src (once per release: unpack, olddefconfig, modules_prepare; a few minutes)" >&2
	rm -rf "$src" "$work" "$src.tmp"
	mkdir -p "$src.tmp"
	dpkg-deb --fsys-tarfile "$source_deb" | tar -x -O "./usr/src/linux-source-$series.tar.xz" |
		tar -xJ -C "$src.tmp" --strip-components=1 || err "$source_deb: cannot unpack usr/src/linux-source-$series.tar.xz"
	[ -f "$src.tmp/Makefile" ] && [ -d "$src.tmp/arch/x86/kvm" ] || err "$source_deb: not a kernel source tree"
	member "$image_deb" "boot/config-$release" "$src.tmp/.config"
	cp "$src.tmp/.config" "$top/config-$release"
	log=$top/prepare.log
	if ! make -C "$src.tmp" -j"$(nproc)" olddefconfig >"$log" 2>&1 ||
		! make -C "$src.tmp" -j"$(nproc)" KERNELRELEASE="$release" modules_prepare >>"$log" 2>&1; then
		tail -n 20 "$log" | sed 's/^/  /' >&2
		err "preparing the $release tree failed (the lines above; all of it in $log)"
	fi
	# Any option olddefconfig changed means this compiler or its plugins
	# differ from Debian's build; said once, since it can change struct layouts.
	changed=$(diff <(grep '^CONFIG_' "$top/config-$release" | sort) <(grep '^CONFIG_' "$src.tmp/.config" | sort) | grep -c '^[<>]' || true)
	if [ "$changed" != 0 ]; then
		echo "$me: note: olddefconfig changed $changed lines of Debian's config (diff $top/config-$release $src/.config)" >&2
	fi
	member "$headers_deb" "usr/src/linux-headers-$release/Module.symvers" "$src.tmp/Module.symvers"
	# The vermagic is UTS_RELEASE.  6.1's Makefile puts setlocalversion's
	# answer (6.1.192) in kernel.release even with KERNELRELEASE given;
	# M= builds read it for their install paths only, but it should not lie.
	grep -q -F "#define UTS_RELEASE \"$release\"" "$src.tmp/include/generated/utsrelease.h" ||
		err "$src.tmp/include/generated/utsrelease.h: UTS_RELEASE is not $release"
	echo "$release" >"$src.tmp/include/config/kernel.release"
	echo "$image $version" >"$src.tmp/.arborist-prepared"
	mv "$src.tmp" "$src"
	prepare_s=$(($(date +%s) - t0))
	echo "$me: prepared in $prepare_s s" >&2
fi

if [ $prepare_only = 1 ]; then
	echo "image $image_deb"
	echo "prepare_s $prepare_s"
	exit 0
fi

# ---- 3. the work tree, the patches and the build -----------------------------------

if [ ! -d "$work" ]; then
	rm -rf "$work.tmp"
	cp -al "$src" "$work.tmp"
	: >"$work.tmp/.arborist-touched"
	mv "$work.tmp" "$work"
fi

# Put back the files the last run patched (a new mtime, so make rebuilds
# what depends on them; a file a patch created is removed).
restore() {
	local f
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		if [ -e "$src/$f" ]; then
			cp --remove-destination "$src/$f" "$work/$f"
		else
			rm -f "$work/$f"
		fi
	done <"$work/.arborist-touched"
	: >"$work/.arborist-touched"
}
restore

# The files a patch names (its +++ and --- paths, -p1), one per line.
patch_files() {
	awk '/^(\+\+\+|---) / {
		p = $2; sub(/\t.*/, "", p)
		if (p == "/dev/null") next
		sub(/^[^\/]*\//, "", p); print p }' "$1"
}

for p in "${abs_patches[@]}"; do
	files=$(patch_files "$p")
	[ -n "$files" ] || err "$p: not a patch (no '+++ b/FILE' line)"
	while IFS= read -r f; do
		case $f in /* | *..*) err "$p: the path $f leaves the kernel tree" ;; esac
		echo "$f" >>"$work/.arborist-touched"
		# Break the hard link to src before patch writes the file.
		[ ! -e "$src/$f" ] || cp --remove-destination "$src/$f" "$work/$f"
	done <<<"$files"
done
for p in "${abs_patches[@]}"; do
	if ! msg=$(patch -p1 -d "$work" --forward --batch --no-backup-if-mismatch --reject-file=- <"$p" 2>&1); then
		restore
		echo "$msg" | sed 's/^/  /' >&2
		err "$p does not apply to Debian's $release source (patch's message above)"
	fi
done

t0=$(date +%s)
log=$out/kbuild.log
# CONFIG_KVM_INTEL= on the command line only drops kvm-intel.ko from the
# Makefile's list; the C code sees Debian's autoconf.h unchanged.
# LC_ALL=C: the compiler's messages in ASCII, the same on every machine.
if ! LC_ALL=C make -C "$work" -j"$(nproc)" M=arch/x86/kvm KERNELRELEASE="$release" CONFIG_KVM_INTEL= KCFLAGS=-g0 modules >"$log" 2>&1; then
	grep -E 'error:|Error [0-9]|undefined!' "$log" | head -n 20 | sed 's/^/  /' >&2 || true
	# The work tree keeps the patched files until the next run restores them.
	err "the KVM modules of $release do not build with ${#patches[@]} patch(es) (the compiler's messages above; all of it in $log)"
fi
build_s=$(($(date +%s) - t0))
rm -rf "$out/kvm-modules"
mkdir -p "$out/kvm-modules"
for m in kvm kvm-amd; do
	cp "$work/arch/x86/kvm/$m.ko" "$out/kvm-modules/" || err "$work/arch/x86/kvm/$m.ko was not built (see $log)"
done
{
	echo "image: $image $version"
	echo "source: $(basename "$source_deb")"
	echo "symvers: $(basename "$headers_deb")"
	for p in "${abs_patches[@]}"; do echo "patch: $p"; done
	echo "prepare_s: $prepare_s"
	echo "build_s: $build_s"
} >"$out/kvm-modules/build-facts.txt"
echo "$me: built kvm.ko and kvm-amd.ko in $build_s s (${#patches[@]} patch(es)): $out/kvm-modules" >&2
echo "image $image_deb"
echo "modules $out/kvm-modules"
echo "prepare_s $prepare_s"
echo "build_s $build_s"
