#!/bin/sh
# tools/deps.sh check|install - the host packages Tidemark's build, run and
# test steps need. `check` exits non-zero when something is missing;
# `install` uses apt-get (through sudo when not root) on Debian and Ubuntu,
# and elsewhere prints the Debian package names to look for.
set -eu

PACKAGES="gcc make binutils python3 qemu-system-x86 grub-common grub-pc-bin
grub-efi-amd64-bin xorriso mtools ovmf clang gdb"

missing() {
	for tool in gcc ld nm make python3 qemu-system-x86_64 grub-mkrescue grub-file xorriso mformat; do
		command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool"; return 0; }
	done
	[ -d /usr/lib/grub/i386-pc ] || { echo "missing: GRUB BIOS modules (grub-pc-bin)"; return 0; }
	[ -d /usr/lib/grub/x86_64-efi ] || { echo "missing: GRUB UEFI modules (grub-efi-amd64-bin)"; return 0; }
	ls /usr/share/OVMF/OVMF_CODE*.fd /usr/share/ovmf/OVMF.fd >/dev/null 2>&1 ||
		{ echo "missing: OVMF firmware (ovmf)"; return 0; }
	return 1
}

case "${1:-check}" in
check)
	if what=$(missing); then
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
	echo "usage: $0 check|install" >&2
	exit 2
	;;
esac
