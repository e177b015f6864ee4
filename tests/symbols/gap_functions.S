/* Symbols laid out on purpose for the symbol index's tests
   (tests/test_symbolizer.cc): two functions with a gap between them that no
   symbol covers, and functions with several names at one address. */
	.text

/* gap_first: 16 bytes, then 32 bytes of no symbol, then gap_second. */
	.p2align 4
	.globl	gap_first
	.type	gap_first, @function
gap_first:
	ret
	.fill	15, 1, 0x90
	.size	gap_first, 16
	.fill	32, 1, 0xcc
	.globl	gap_second
	.type	gap_second, @function
gap_second:
	ret
	.fill	15, 1, 0x90
	.size	gap_second, 16

/* One function under a local, a weak and a global name (in that order in
   the symbol table): the global one is its name. */
	.p2align 4
	.type	alias_local, @function
alias_local:
	.weak	alias_weak
	.type	alias_weak, @function
alias_weak:
	.globl	alias_global
	.type	alias_global, @function
alias_global:
	ret
	.fill	15, 1, 0x90
	.size	alias_local, 16
	.size	alias_weak, 16
	.size	alias_global, 16

/* A local and a weak name: the weak one. */
	.p2align 4
	.type	weak_or_local_l, @function
weak_or_local_l:
	.weak	weak_or_local_w
	.type	weak_or_local_w, @function
weak_or_local_w:
	ret
	.fill	15, 1, 0x90
	.size	weak_or_local_l, 16
	.size	weak_or_local_w, 16

	.section .note.GNU-stack, "", @progbits
