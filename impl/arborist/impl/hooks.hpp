// SPDX-License-Identifier: GPL-2.0-only
//
// The external page-table hooks of struct kvm_x86_ops (Linux v6.19
// arch/x86/include/asm/kvm_host.h, kvm-x86-ops.h, vmx/tdx.c),
// plus split_external_spt from seed 001.  The TDP MMU calls these for
// mirror SPTEs; KVM's TDX code (impl/arborist/impl/tdx.hpp) implements them
// with SEAMCALLs.
#pragma once

#include <cerrno>
#include <concepts>

#include "arborist/impl/mmu_page.hpp"

namespace arborist::impl {

template <class H>
concept ExternalHooks = requires(H& h, u64 gfn, unsigned level, u64 spte, u64 pa) {
	// int link_external_spt(kvm, gfn, level, void *external_spt)
	{ h.link_external_spt(gfn, level, pa) } -> std::same_as<int>;
	// int set_external_spte(kvm, gfn, level, u64 mirror_spte)
	{ h.set_external_spte(gfn, level, spte) } -> std::same_as<int>;
	// void remove_external_spte(kvm, gfn, level, u64 mirror_spte)
	{ h.remove_external_spte(gfn, level, spte) } -> std::same_as<void>;
	// int free_external_spt(kvm, gfn, level, void *external_spt)
	{ h.free_external_spt(gfn, level, pa) } -> std::same_as<int>;
	// seed 001: int split_external_spt(kvm, gfn, level, void *external_spt)
	{ h.split_external_spt(gfn, level, pa, spte) } -> std::same_as<int>;
	// kvm_mmu_alloc_external_spt() from mmu_external_spt_cache, and the
	// free_page(sp->external_spt) of tdp_mmu_free_sp()
	{ h.alloc_external_spt() } -> std::same_as<u64>;
	{ h.free_external_spt_page(pa) } -> std::same_as<void>;
	// KVM_BUG_ON state of the VM (kvm->vm_bugged)
	{ h.vm_bugged() } -> std::same_as<bool>;
};

// Hooks for seed 000's TDX removal (KvmTdx): the pruned mirror branch is
// blocked in the external page table when it is unlinked, and its entries
// are removed by the RCU callback, children before the tables that link
// them.
// The huge-page series' void .reclaim_external_sp(kvm, gfn, sp), which
// nullifies sp->external_spt to leak the page; reclaims_external_sp():
// whether the hooks have it in place of .free_external_spt().
template <class H>
concept ReclaimExternalSpHooks = requires(H& h, u64 gfn, unsigned level, u64& external_spt) {
	{ h.reclaims_external_sp() } -> std::same_as<bool>;
	{ h.reclaim_external_sp(gfn, level, external_spt) } -> std::same_as<void>;
};

template <class H>
concept PrunedBranchHooks = requires(H& h, u64 gfn, unsigned level, u64 spte, u64 pa) {
	{ h.block_pruned_spte(gfn, level) } -> std::same_as<int>;
	{ h.track_pruned_branch() } -> std::same_as<void>;
	{ h.remove_pruned_spte(gfn, level, spte) } -> std::same_as<int>;
	{ h.remove_pruned_spt(gfn, level, pa) } -> std::same_as<int>;
};

// A VM without external page tables (every non-TDX VM): the TDP MMU never
// creates mirror roots, so any call is a KVM bug.
// Hooks whose remove_external_spte() is also offered as a machine (one
// SEAMCALL a step), for the stepped zap: KvmTdx.
template <class H>
concept SteppedRemoveHooks = requires(H& h, typename H::RemoveOp& op, u64 gfn, unsigned level, u64 spte) {
	{ h.remove_external_spte_begin(gfn, level, spte) } -> std::same_as<typename H::RemoveOp>;
	{ h.remove_external_spte_step(op) } -> std::same_as<bool>;
};

namespace detail {
struct NoRemoveOp {
	constexpr bool operator==(const NoRemoveOp&) const = default;
};
template <class H>
struct remove_op_of {
	using type = NoRemoveOp;
};
template <SteppedRemoveHooks H>
struct remove_op_of<H> {
	using type = typename H::RemoveOp;
};
} // namespace detail

template <class H>
using RemoveOpOf = typename detail::remove_op_of<H>::type;

// Hooks whose split_external_spt() is also offered as a machine (one
// SEAMCALL a step), for a split stepped at its SEAMCALLs: KvmTdx.
template <class H>
concept SteppedSplitHooks = requires(H& h, typename H::SplitExtOp& op, u64 gfn, unsigned level, u64 pa, u64 spte) {
	{ h.split_external_spt_begin(gfn, level, pa, spte) } -> std::same_as<typename H::SplitExtOp>;
	{ h.split_external_spt_step(op) } -> std::same_as<bool>;
};

namespace detail {
struct NoSplitExtOp {
	constexpr bool operator==(const NoSplitExtOp&) const = default;
};
template <class H>
struct split_ext_op_of {
	using type = NoSplitExtOp;
};
template <SteppedSplitHooks H>
struct split_ext_op_of<H> {
	using type = typename H::SplitExtOp;
};
} // namespace detail

template <class H>
using SplitExtOpOf = typename detail::split_ext_op_of<H>::type;

class NoExternalHooks {
public:
	constexpr int link_external_spt(u64, unsigned, u64) { return bug(); }
	constexpr int set_external_spte(u64, unsigned, u64) { return bug(); }
	constexpr void remove_external_spte(u64, unsigned, u64) { bug(); }
	constexpr int free_external_spt(u64, unsigned, u64) { return bug(); }
	constexpr int split_external_spt(u64, unsigned, u64, u64) { return bug(); }
	constexpr u64 alloc_external_spt() { return bug(), 0; }
	constexpr void free_external_spt_page(u64) {}
	constexpr bool vm_bugged() const { return bugged_; }

private:
	constexpr int bug()
	{
		bugged_ = true;
		return -EIO;
	}
	bool bugged_ = false;
};

static_assert(ExternalHooks<NoExternalHooks>);

} // namespace arborist::impl
