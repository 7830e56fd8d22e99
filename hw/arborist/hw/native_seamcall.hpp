// SPDX-License-Identifier: GPL-2.0-only
//
// The native SEAMCALL backend: the SEAMCALL instruction itself, with Linux's
// register convention (arch/x86/virt/vmx/tdx/tdxcall.S TDX_MODULE_CALL with
// saved=1 ret=1, i.e. __seamcall_saved_ret; Linux v6.19
// arch/x86/virt/vmx/tdx/tdx.c).
//
// It only executes in SEAM-capable VMX root operation (ring 0 of a host with
// the TDX module loaded); anywhere else SEAMCALL raises #UD.  Linux recovers
// from #UD/#GP with an exception-table fixup (TDX_SEAMCALL_UD/_GP); inline
// asm has no such fixup, so this backend is for a kernel-side configuration
// and is compiled, never run, in this repository.
#pragma once

#if !defined(__x86_64__)
#error "native_seamcall.hpp: SEAMCALL exists only on x86-64"
#endif

#include "arborist/hw/seamcall.hpp"
#include "arborist/abi/tdx.hpp"

namespace arborist::hw {

// One SEAMCALL: RAX = fn; RCX, RDX, R8-R15, RBX, RDI, RSI in and out through
// the args block.  CF=1 after SEAMCALL is VMfailInvalid (no TDX module):
// RAX := TDX_SEAMCALL_VMFAILINVALID, as TDX_MODULE_CALL's
// .Lseamcall_vmfailinvalid does.  RBP is saved around the instruction
// ("Buggy firmware sometimes clobbers %rbp", tdxcall.S); the red zone is
// stepped over first because the push uses the stack.  LEA leaves CF alone.
inline u64 native_seamcall(u64 fn, TdxModuleArgs& a)
{
	u64 rax = fn, rcx = a.rcx, rdx = a.rdx, rbx = a.rbx, rdi = a.rdi, rsi = a.rsi;
	register u64 r8 asm("r8") = a.r8;
	register u64 r9 asm("r9") = a.r9;
	register u64 r10 asm("r10") = a.r10;
	register u64 r11 asm("r11") = a.r11;
	register u64 r12 asm("r12") = a.r12;
	register u64 r13 asm("r13") = a.r13;
	register u64 r14 asm("r14") = a.r14;
	register u64 r15 asm("r15") = a.r15;

	asm volatile("lea -128(%%rsp), %%rsp\n\t"
		     "push %%rbp\n\t"
		     ".byte 0x66, 0x0f, 0x01, 0xcf\n\t" // seamcall
		     "pop %%rbp\n\t"
		     "lea 128(%%rsp), %%rsp\n\t"
		     "jnc 1f\n\t"
		     "movabsq %[vmfail], %%rax\n"
		     "1:"
		     : "+a"(rax), "+c"(rcx), "+d"(rdx), "+b"(rbx), "+D"(rdi), "+S"(rsi), "+r"(r8), "+r"(r9),
		       "+r"(r10), "+r"(r11), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15)
		     : [vmfail] "i"(tdx_abi::status::TDX_SEAMCALL_VMFAILINVALID)
		     : "cc", "memory");

	a.rcx = rcx;
	a.rdx = rdx;
	a.r8 = r8;
	a.r9 = r9;
	a.r10 = r10;
	a.r11 = r11;
	a.r12 = r12;
	a.r13 = r13;
	a.r14 = r14;
	a.r15 = r15;
	a.rbx = rbx;
	a.rdi = rdi;
	a.rsi = rsi;
	return rax;
}

// The backend object.  x86_phys_bits is boot_cpu_data.x86_phys_bits, which
// the kernel reduces by the TME-MK KeyID bits; a user of this backend must
// supply the kernel's value.
struct NativeSeamcall {
	unsigned phys_bits;

	u64 seamcall(u64 fn, TdxModuleArgs& a) { return native_seamcall(fn, a); }
	unsigned x86_phys_bits() const { return phys_bits; }
};

static_assert(KeyedSeamcallBackend<NativeSeamcall>);

} // namespace arborist::hw
