#!/usr/bin/env bash
# Install the Debian 12 packages arborist needs, only those that are missing.
# Idempotent: when everything is present it prints nothing and takes well
# under a second.  Usage: scripts/bootstrap.sh [GROUP...]   (default: core)
#   core    compiler, CMake, Z3, Boost (Hana), GoogleTest, Google Benchmark
#   extract Frama-C, Why3 and Z3 (the extracted C and its WP proofs)
#   check   SPIN and Graphviz (model-checker cross-check, --dot output)
#   capture QEMU, busybox, cpio, xz and zstd (booting a kernel under TCG; compressed modules);
#           bc, bison, flex, libelf, libssl, pahole and patch (rebuilding KVM from Debian's source: --patch)
#   fuzz    clang-14 and its libFuzzer/sanitizer runtimes (CTest conform.fuzz)
set -euo pipefail

declare -A GROUP=(
	[core]="build-essential cmake g++ libz3-dev libboost-dev googletest libgtest-dev libbenchmark-dev"
	[extract]="frama-c-base why3 z3"
	[check]="spin graphviz"
	[capture]="qemu-system-x86 busybox-static cpio xz-utils zstd bc bison flex libelf-dev libssl-dev dwarves patch"
	[fuzz]="clang-14 libclang-rt-14-dev"
)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(core)

want=()
for g in "${groups[@]}"; do
	if [ -z "${GROUP[$g]+x}" ]; then
		echo "bootstrap: unknown package group '$g' (known: ${!GROUP[*]})" >&2
		exit 2
	fi
	read -r -a pkgs <<<"${GROUP[$g]}"
	want+=("${pkgs[@]}")
done

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "bootstrap: missing packages (${missing[*]}) and not root; run as root or install them" >&2
		exit 1
	fi
fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
