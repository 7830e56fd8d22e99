// SPDX-License-Identifier: GPL-2.0-only
//
// The host side of the SEAMCALL ABI as Linux v6.19 issues it: the register
// block, the backend a wrapper runs on, and the tdh_* wrappers with Linux's
// names and register layout.
//
// Sources (docs/sources.md), for the register layout of the wrappers:
//  - struct tdx_module_args: arch/x86/include/asm/shared/tdx.h;
//  - the wrappers: arch/x86/virt/vmx/tdx/tdx.c (v6.19);
//  - wrappers upstream does not have follow the intel/tdx KVM branch's
//    arch/x86/kvm/vmx/tdx_ops.h (SEPT.REMOVE, RANGE.UNBLOCK, PROMOTE) and
//    Yan Zhao's posted huge-page series (DEMOTE, "TDX huge pages v3").
//
// A wrapper takes physical addresses where Linux takes struct tdx_td /
// struct tdx_vp / struct page: tdr_pa is tdx_tdr_pa(td), tdvpr_pa is
// vp->tdvpr_pa, a page is page_to_phys(page).  The clflush of pages handed to
// the module (tdx_clflush_page) is a host cache operation with no effect on
// the module's state and is not modelled.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>

#include "arborist/abi/tdx.hpp"

namespace arborist::hw {

using u64 = std::uint64_t;
using u16 = std::uint16_t;

// struct tdx_module_args (arch/x86/include/asm/shared/tdx.h).  RAX is not in
// it: it carries the function in and the status out.
struct TdxModuleArgs {
	u64 rcx, rdx, r8, r9, r10, r11, r12, r13, r14, r15, rbx, rdi, rsi;
};

// A SEAMCALL backend: fn = leaf | version << 16 goes in RAX, the return value
// is RAX on exit (the status); every other register goes in and comes out
// through the args block (__seamcall_saved_ret semantics, the superset of
// __seamcall and __seamcall_ret).
template <class B>
concept SeamcallBackend = requires(B& b, u64 fn, TdxModuleArgs& a) {
	{ b.seamcall(fn, a) } -> std::same_as<u64>;
};

// A backend that also knows boot_cpu_data.x86_phys_bits, where the KeyID
// bits of a physical address start (mk_keyed_paddr()).
template <class B>
concept KeyedSeamcallBackend = SeamcallBackend<B> && requires(const B& b) {
	{ b.x86_phys_bits() } -> std::convertible_to<unsigned>;
};

// ---- what the registers of a leaf name ---------------------------------------
//
// The operands each leaf's handler checks (TDX module 1.5
// src/vmm_dispatcher/api_calls/tdh_*.c: check_lock_and_map_explicit_tdr(),
// check_and_lock_explicit_4k_private_hpa() and the other explicit-HPA checks,
// e.g. tdh_mr_extend(target_page_gpa = RCX, target_tdr_pa = RDX)), in the
// registers the wrappers below load them into (Linux v6.19
// arch/x86/virt/vmx/tdx/tdx.c; docs/trace-format.md "Registers per
// wrapper"): which register is the handle of the TD the call acts on, and
// which hold host physical addresses of TDMR pages.  A GPA (page info) or a
// shared page (PAGE.ADD's source, MNG.INIT's TD_PARAMS) is not a TDMR page.
// The conformance checker maps traced host addresses into the simulated
// module with it (conform/tdx.cpp); SimModule decodes R8 and RDX with it.
enum class TdHandle : std::uint8_t {
	none,    // no TD: the leaf is outside the TD model (TDH.SYS.*)
	tdr,     // the TDR page
	tdvpr,   // a vCPU's TDVPR page; its TD is the page's PAMT owner
	page,    // a TDMR page; its TD is the page's PAMT owner
	package, // no handle: the leaf acts on every TD of the package
};

enum class Reg : std::uint8_t { none, rcx, rdx };

struct LeafOperands {
	tdx_abi::Leaf leaf;
	TdHandle handle;
	Reg handle_reg;
	bool handle_flags = false; // the handle register is td_handle_and_flags_t: bit 0 a flag
	// The register holds a TDMR page (host physical address).
	bool rcx_page = false, rdx_page = false, r8_page = false;
};

inline constexpr LeafOperands leaf_operands_table[] = {
	// TD construction and metadata (rdx of MNG.CREATE is the HKID, of
	// MNG.INIT the TD_PARAMS page, of VP.INIT the vCPU's initial RCX)
	{.leaf = tdx_abi::Leaf::TDH_MNG_CREATE, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MNG_KEY_CONFIG, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MNG_ADDCX, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rcx_page = true, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MNG_INIT, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MNG_RD, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_VP_CREATE, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rcx_page = true, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_VP_ADDCX, .handle = TdHandle::tdvpr, .handle_reg = Reg::rdx, .rcx_page = true, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_VP_INIT, .handle = TdHandle::tdvpr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_VP_ENTER, .handle = TdHandle::tdvpr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_VP_FLUSH, .handle = TdHandle::tdvpr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_VP_RD, .handle = TdHandle::tdvpr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_VP_WR, .handle = TdHandle::tdvpr, .handle_reg = Reg::rcx, .rcx_page = true},
	// the S-EPT leaves: RCX page info, RDX the TDR, R8 a page the module takes
	{.leaf = tdx_abi::Leaf::TDH_MEM_SEPT_ADD, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .handle_flags = true, .rdx_page = true, .r8_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_ADD, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true, .r8_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_AUG, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true, .r8_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_RANGE_BLOCK, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_RANGE_UNBLOCK, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_SEPT_REMOVE, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .handle_flags = true, .rdx_page = true, .r8_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MR_EXTEND, .handle = TdHandle::tdr, .handle_reg = Reg::rdx, .rdx_page = true},
	// RCX the TDR
	{.leaf = tdx_abi::Leaf::TDH_MEM_TRACK, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MR_FINALIZE, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_MNG_KEY_FREEID, .handle = TdHandle::tdr, .handle_reg = Reg::rcx, .rcx_page = true},
	// RCX a page (WBINVD: with a KeyID above x86_phys_bits)
	{.leaf = tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM, .handle = TdHandle::page, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_PHYMEM_PAGE_WBINVD, .handle = TdHandle::page, .handle_reg = Reg::rcx, .rcx_page = true},
	{.leaf = tdx_abi::Leaf::TDH_PHYMEM_PAGE_RDMD, .handle = TdHandle::page, .handle_reg = Reg::rcx, .rcx_page = true},
	// RCX 0 (start) or 1 (resume): every HKID ready on the package
	{.leaf = tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB, .handle = TdHandle::package, .handle_reg = Reg::none},
};

// The table above indexed by leaf number, built from it at compile time:
// every simulated SEAMCALL looks its leaf up, and a 4K page's teardown
// makes four of them.
inline constexpr std::size_t LEAF_OPERANDS_INDEX = 64;
inline constexpr auto leaf_operands_by_leaf = [] {
	std::array<LeafOperands, LEAF_OPERANDS_INDEX> by{};
	for (std::size_t i = 0; i < by.size(); i++)
		by[i] = {static_cast<tdx_abi::Leaf>(i), TdHandle::none, Reg::none, false, false, false, false};
	for (const LeafOperands& o : leaf_operands_table)
		by[static_cast<std::size_t>(o.leaf)] = o;
	return by;
}();
static_assert(std::ranges::all_of(leaf_operands_table, [](const LeafOperands& o) {
	return static_cast<std::size_t>(o.leaf) < LEAF_OPERANDS_INDEX;
}));
// One row per leaf, so that the index and the table say the same.
static_assert([] {
	for (std::size_t i = 0; i < std::size(leaf_operands_table); i++)
		for (std::size_t j = i + 1; j < std::size(leaf_operands_table); j++)
			if (leaf_operands_table[i].leaf == leaf_operands_table[j].leaf)
				return false;
	return true;
}());

constexpr LeafOperands leaf_operands(tdx_abi::Leaf leaf)
{
	const auto i = static_cast<std::size_t>(leaf);
	if (i < leaf_operands_by_leaf.size())
		return leaf_operands_by_leaf[i];
	return {leaf, TdHandle::none, Reg::none, false, false, false, false};
}

// RAX input: leaf in bits 15:0, version in 23:16 (tdx.h tdx_abi::TDX_VERSION_SHIFT).
constexpr u64 seamcall_fn(tdx_abi::Leaf leaf, unsigned version = 0)
{
	return static_cast<u64>(leaf) | (u64{version} << tdx_abi::TDX_VERSION_SHIFT);
}

// mk_keyed_paddr() (arch/x86/include/asm/tdx.h): "KeyID bits are just above
// the physical address bits".
constexpr u64 mk_keyed_paddr(u16 hkid, u64 pa, unsigned x86_phys_bits)
{
	return pa | (u64{hkid} << x86_phys_bits);
}

// sc_retry() (arch/x86/include/asm/tdx.h): seamcall() and seamcall_ret()
// retry while the module reports TDX_RND_NO_ENTROPY, RDRAND_RETRY_LOOPS times.
inline constexpr int RDRAND_RETRY_LOOPS = 10;

template <SeamcallBackend B>
constexpr u64 seamcall(B& b, tdx_abi::Leaf leaf, TdxModuleArgs& args, unsigned version = 0)
{
	int retry = RDRAND_RETRY_LOOPS;
	u64 ret;

	do {
		ret = b.seamcall(seamcall_fn(leaf, version), args);
	} while (ret == tdx_abi::status::TDX_RND_NO_ENTROPY && --retry);
	return ret;
}

// The S-EPT wrappers hand back RCX and RDX as the extended error output
// (module tdx_api_defs.h: entry and level/state).
template <SeamcallBackend B>
constexpr u64 seamcall_ext(B& b, tdx_abi::Leaf leaf, TdxModuleArgs& args, u64* ext_err1, u64* ext_err2)
{
	const u64 ret = seamcall(b, leaf, args);

	*ext_err1 = args.rcx;
	*ext_err2 = args.rdx;
	return ret;
}

// tdh_vp_enter() (tdx.c): RCX = TDVPR, every register in and out
// (__seamcall_saved_ret), no sc_retry.
template <SeamcallBackend B>
constexpr u64 tdh_vp_enter(B& b, u64 tdvpr_pa, TdxModuleArgs* args)
{
	args->rcx = tdvpr_pa;
	return b.seamcall(seamcall_fn(tdx_abi::Leaf::TDH_VP_ENTER), *args);
}

// tdh_mem_page_add() (tdx.c): rcx = gpa (no level: 4K only), rdx = TDR,
// r8 = page, r9 = source.
template <SeamcallBackend B>
constexpr u64 tdh_mem_page_add(B& b, u64 tdr_pa, u64 gpa, u64 page_pa, u64 source_pa, u64* ext_err1,
			       u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa;
	args.rdx = tdr_pa;
	args.r8 = page_pa;
	args.r9 = source_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_PAGE_ADD, args, ext_err1, ext_err2);
}

// tdh_mem_sept_add() (tdx.c): rcx = gpa | level, rdx = TDR, r8 = new S-EPT page.
template <SeamcallBackend B>
constexpr u64 tdh_mem_sept_add(B& b, u64 tdr_pa, u64 gpa, int tdx_level, u64 page_pa, u64* ext_err1,
			       u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | static_cast<u64>(tdx_level);
	args.rdx = tdr_pa;
	args.r8 = page_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_SEPT_ADD, args, ext_err1, ext_err2);
}

// tdh_mem_page_aug() (tdx.c): rcx = gpa | level, rdx = TDR, r8 = page.
template <SeamcallBackend B>
constexpr u64 tdh_mem_page_aug(B& b, u64 tdr_pa, u64 gpa, int tdx_level, u64 page_pa, u64* ext_err1,
			       u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | static_cast<u64>(tdx_level);
	args.rdx = tdr_pa;
	args.r8 = page_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_PAGE_AUG, args, ext_err1, ext_err2);
}

// tdh_mem_range_block() (tdx.c): rcx = gpa | level, rdx = TDR.
template <SeamcallBackend B>
constexpr u64 tdh_mem_range_block(B& b, u64 tdr_pa, u64 gpa, int tdx_level, u64* ext_err1, u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | static_cast<u64>(tdx_level);
	args.rdx = tdr_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_RANGE_BLOCK, args, ext_err1, ext_err2);
}

// tdh_mem_range_unblock(): not upstream (KVM does not use it); intel/tdx
// tdx_ops.h layout, rcx = gpa | level, rdx = TDR (tdh_mem_range_unblock.c).
template <SeamcallBackend B>
constexpr u64 tdh_mem_range_unblock(B& b, u64 tdr_pa, u64 gpa, int tdx_level, u64* ext_err1, u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | static_cast<u64>(tdx_level);
	args.rdx = tdr_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_RANGE_UNBLOCK, args, ext_err1, ext_err2);
}

// tdh_mem_track() (tdx.c): rcx = TDR.
template <SeamcallBackend B>
constexpr u64 tdh_mem_track(B& b, u64 tdr_pa)
{
	TdxModuleArgs args{};

	args.rcx = tdr_pa;
	return seamcall(b, tdx_abi::Leaf::TDH_MEM_TRACK, args);
}

// tdh_mem_page_remove() (tdx.c): rcx = gpa | level, rdx = TDR; on success
// RCX (ext_err1) is the HPA of the removed page (tdh_mem_page_remove.c).
template <SeamcallBackend B>
constexpr u64 tdh_mem_page_remove(B& b, u64 tdr_pa, u64 gpa, u64 tdx_level, u64* ext_err1, u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | tdx_level;
	args.rdx = tdr_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE, args, ext_err1, ext_err2);
}

// tdh_mem_sept_remove(): not upstream; intel/tdx tdx_ops.h layout,
// rcx = gpa | level, rdx = TDR; RCX returns the removed S-EPT page (5.8).
template <SeamcallBackend B>
constexpr u64 tdh_mem_sept_remove(B& b, u64 tdr_pa, u64 gpa, int tdx_level, u64* ext_err1, u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | static_cast<u64>(tdx_level);
	args.rdx = tdr_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_SEPT_REMOVE, args, ext_err1, ext_err2);
}

// tdh_mem_page_demote(): proposed (Yan Zhao, "[PATCH v3 08/24] KVM: TDX:
// Enable huge page splitting under write mmu_lock"): rcx = gpa | level,
// rdx = TDR, r8 = new S-EPT page.  The TDX_FEATURES0 interruptibility gate of
// that patch is a host policy, not part of the register layout.
template <SeamcallBackend B>
constexpr u64 tdh_mem_page_demote(B& b, u64 tdr_pa, u64 gpa, int tdx_level, u64 new_sept_page_pa,
				  u64* ext_err1, u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | static_cast<u64>(tdx_level);
	args.rdx = tdr_pa;
	args.r8 = new_sept_page_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE, args, ext_err1, ext_err2);
}

// tdh_mem_page_promote(): not upstream; intel/tdx tdx_ops.h layout,
// rcx = gpa | level, rdx = TDR; RCX returns the freed S-EPT page (5.10).
template <SeamcallBackend B>
constexpr u64 tdh_mem_page_promote(B& b, u64 tdr_pa, u64 gpa, int tdx_level, u64* ext_err1, u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa | static_cast<u64>(tdx_level);
	args.rdx = tdr_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE, args, ext_err1, ext_err2);
}

// tdh_mr_extend() (tdx.c): rcx = gpa (256-byte chunk), rdx = TDR.
template <SeamcallBackend B>
constexpr u64 tdh_mr_extend(B& b, u64 tdr_pa, u64 gpa, u64* ext_err1, u64* ext_err2)
{
	TdxModuleArgs args{};

	args.rcx = gpa;
	args.rdx = tdr_pa;
	return seamcall_ext(b, tdx_abi::Leaf::TDH_MR_EXTEND, args, ext_err1, ext_err2);
}

// tdh_mr_finalize() (tdx.c): rcx = TDR.
template <SeamcallBackend B>
constexpr u64 tdh_mr_finalize(B& b, u64 tdr_pa)
{
	TdxModuleArgs args{};

	args.rcx = tdr_pa;
	return seamcall(b, tdx_abi::Leaf::TDH_MR_FINALIZE, args);
}

// tdh_phymem_page_reclaim() (tdx.c): rcx = page; returns rcx/rdx/r8 =
// page type, owner TDR, page size ("only for error reporting purposes").
template <SeamcallBackend B>
constexpr u64 tdh_phymem_page_reclaim(B& b, u64 page_pa, u64* tdx_pt, u64* tdx_owner, u64* tdx_size)
{
	TdxModuleArgs args{};

	args.rcx = page_pa;
	const u64 ret = seamcall(b, tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM, args);
	*tdx_pt = args.rcx;
	*tdx_owner = args.rdx;
	*tdx_size = args.r8;
	return ret;
}

// tdh_phymem_cache_wb() (tdx.c): rcx = resume ? 1 : 0.
template <SeamcallBackend B>
constexpr u64 tdh_phymem_cache_wb(B& b, bool resume)
{
	TdxModuleArgs args{};

	args.rcx = resume ? 1 : 0;
	return seamcall(b, tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB, args);
}

// tdh_phymem_page_wbinvd_hkid() (tdx.c): rcx = mk_keyed_paddr(hkid, page).
// (tdh_phymem_page_wbinvd_tdr() is this with the global KeyID.)
template <KeyedSeamcallBackend B>
constexpr u64 tdh_phymem_page_wbinvd_hkid(B& b, u64 hkid, u64 page_pa)
{
	TdxModuleArgs args{};

	args.rcx = mk_keyed_paddr(static_cast<u16>(hkid), page_pa, b.x86_phys_bits());
	return seamcall(b, tdx_abi::Leaf::TDH_PHYMEM_PAGE_WBINVD, args);
}

// tdh_mng_vpflushdone() (tdx.c): rcx = TDR.
template <SeamcallBackend B>
constexpr u64 tdh_mng_vpflushdone(B& b, u64 tdr_pa)
{
	TdxModuleArgs args{};

	args.rcx = tdr_pa;
	return seamcall(b, tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE, args);
}

// tdh_mng_key_freeid() (tdx.c): rcx = TDR.
template <SeamcallBackend B>
constexpr u64 tdh_mng_key_freeid(B& b, u64 tdr_pa)
{
	TdxModuleArgs args{};

	args.rcx = tdr_pa;
	return seamcall(b, tdx_abi::Leaf::TDH_MNG_KEY_FREEID, args);
}

// tdh_vp_flush() (tdx.c): rcx = TDVPR.
template <SeamcallBackend B>
constexpr u64 tdh_vp_flush(B& b, u64 tdvpr_pa)
{
	TdxModuleArgs args{};

	args.rcx = tdvpr_pa;
	return seamcall(b, tdx_abi::Leaf::TDH_VP_FLUSH, args);
}

} // namespace arborist::hw
