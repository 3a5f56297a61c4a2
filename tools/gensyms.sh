#!/bin/sh
# tools/gensyms.sh NM ELF > ksyms.S
#
# Turns the function symbols of a linked kernel into the table that
# kernel/symbols.c searches: struct ksym { u64 addr; u32 size; u32 name; }[],
# sorted by address, then ksym_count and the names blob. Symbols with no size
# (assembly labels) get the distance to the next symbol. With no ELF, writes
# the empty table that the first link pass uses.
set -eu
nm_cmd=$1
elf=${2:-}

echo '	.section ksyms, "a"'
echo '	.balign 8'
echo '	.globl ksym_entries, ksym_count, ksym_names'
if [ -z "$elf" ]; then
	echo 'ksym_entries:'
	echo 'ksym_count:	.quad 0'
	echo 'ksym_names:	.byte 0'
	exit 0
fi

"$nm_cmd" -n -S --defined-only "$elf" | awk '
	# With a size: addr size type name; without: addr type name.
	NF == 4 { addr = $1; size = $2; type = $3; name = $4 }
	NF == 3 { addr = $1; size = "";  type = $2; name = $3 }
	NF != 3 && NF != 4 { next }
	type != "t" && type != "T" { next }
	addr !~ /^ffffffff/ { next }		# the low .boot code is not in backtraces
	{ n++; A[n] = addr; S[n] = size; N[n] = name }
	function hex(h,   i, v, d) {
		v = 0
		for (i = 1; i <= length(h); i++) {
			d = index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
			v = v * 16 + d
		}
		return v
	}
	END {
		off = 0
		print "ksym_entries:"
		for (i = 1; i <= n; i++) {
			size = S[i] != "" ? hex(S[i]) : (i < n ? hex(substr(A[i+1], 9)) - hex(substr(A[i], 9)) : 1)
			if (size == 0) size = 1
			printf "\t.quad 0x%s\n\t.long %d, %d\n", A[i], size, off
			NAMEOFF[i] = off
			off += length(N[i]) + 1
		}
		printf "ksym_count:\t.quad %d\n", n
		print "ksym_names:"
		for (i = 1; i <= n; i++)
			printf "\t.asciz \"%s\"\n", N[i]
	}'
