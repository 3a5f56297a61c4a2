#!/bin/sh
# tools/deps.sh check|install [bench] - the host packages Tidemark's build,
# run and test steps need; with `bench`, instead the allocators and
# collectors `make bench` compares Tidemark's with (bench/host/slab_bench.c,
# bench/host/gc_bench.c, bench/host/binarytrees.go). `check` exits non-zero
# when something is missing; `install` uses apt-get (through sudo when not
# root) on Debian and Ubuntu, and elsewhere prints the Debian package names
# to look for.
set -eu

PACKAGES="gcc make binutils python3 qemu-system-x86 grub-common grub-pc-bin
grub-efi-amd64-bin xorriso mtools ovmf clang gdb"
BENCH_PACKAGES="libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev libgc-dev golang-go"
BENCH_LIBS="jemalloc mimalloc tcmalloc_minimal gc"

missing() {
	for tool in gcc ld nm make python3 qemu-system-x86_64 grub-mkrescue grub-file xorriso mformat; do
		command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool"; return 0; }
	done
	[ -d /usr/lib/grub/i386-pc ] || { echo "missing: GRUB BIOS modules (grub-pc-bin)"; return 0; }
	[ -d /usr/lib/grub/x86_64-efi ] || { echo "missing: GRUB UEFI modules (grub-efi-amd64-bin)"; return 0; }
	# Either layout will do (ls fails if any one name is missing).
	{ ls /usr/share/OVMF/OVMF_CODE*.fd || ls /usr/share/ovmf/OVMF.fd; } >/dev/null 2>&1 ||
		{ echo "missing: OVMF firmware (ovmf)"; return 0; }
	return 1
}

# A library is there when the host compiler can link against it; Go when
# go is on PATH or where Debian's golang-go keeps it (the Makefile looks
# in both).
missing_bench() {
	for lib in $BENCH_LIBS; do
		echo 'int main(void) { return 0; }' |
			"${HOSTCC:-cc}" -x c - -l"$lib" -o /dev/null >/dev/null 2>&1 ||
			{ echo "missing: lib$lib"; return 0; }
	done
	command -v go >/dev/null 2>&1 || [ -x /usr/lib/go/bin/go ] || { echo "missing: go (golang-go)"; return 0; }
	return 1
}

find_missing=missing
if [ "${2:-}" = bench ]; then
	PACKAGES=$BENCH_PACKAGES
	find_missing=missing_bench
elif [ -n "${2:-}" ]; then
	echo "usage: $0 check|install [bench]" >&2
	exit 2
fi

case "${1:-check}" in
check)
	if what=$($find_missing); then
		echo "deps: $what"
		exit 1
	fi
	;;
install)
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "deps: not a Debian or Ubuntu system; install the equivalents of:"
		echo "  $PACKAGES" | tr '\n' ' '
		echo
		exit 1
	fi
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	echo "deps: installing $(echo $PACKAGES)"
	$sudo apt-get update -q
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $PACKAGES
	;;
*)
	echo "usage: $0 check|install [bench]" >&2
	exit 2
	;;
esac
