// SPDX-License-Identifier: GPL-2.0-only
//
// struct kvm_mmu_page and the page-table store of the executable TDP MMU
// (Linux v6.19 arch/x86/kvm/mmu/mmu_internal.h).
//
// A page table lives in a pool slot; its "physical address" is derived from
// the slot, so a non-leaf SPTE built by spec::make_nonleaf_spte() points back
// at the slot exactly as __pa(sp->spt) does in the kernel, and
// spte_to_child_sp() is spte_to_pfn() minus the pool's base frame.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "arborist/spte.hpp"

namespace arborist::impl {

using spec::u64;
using u32 = std::uint32_t;

inline constexpr u32 NO_SP = ~u32{0};

// Where a page table is in its life: reachable from a root, unlinked and
// waiting for its RCU callback (tdp_mmu_free_sp_rcu_callback), or freed.
enum class SpState : std::uint8_t { live, unlinked, freed };

struct MmuPage {
	std::vector<u64> spt; // the SPTEs
	u64 gfn = 0;          // base GFN, without the shared bit (sp->gfn)
	unsigned level = 0;   // role.level
	bool mirror = false;  // role.is_mirror
	bool invalid = false; // role.invalid (meaningful for roots)
	bool root = false;
	u32 root_count = 0;             // tdp_mmu_root_count
	bool scheduled_root_to_zap = false; // tdp_mmu_scheduled_root_to_zap
	u32 parent = NO_SP;             // sp->ptep's table ...
	u32 parent_index = 0;           // ... and index in it
	u64 external_spt = 0;           // HPA of the S-EPT page (mirror), 0 = none
	SpState state = SpState::freed;
};

// A pointer to one SPTE: tdp_ptep_t.
struct SptePtr {
	u32 sp = NO_SP;
	u32 index = 0;
	constexpr bool operator==(const SptePtr&) const = default;
};

// The store of page tables.  The pool's frames start at `base_pfn`, away
// from guest memory frames, so a table's address is recognisable in traces.
class PageTables {
public:
	constexpr PageTables(spec::Paging paging, u64 base_pfn) : paging_(paging), base_pfn_(base_pfn) {}

	constexpr spec::Paging paging() const { return paging_; }
	constexpr u64 fanout() const { return paging_.entries(); }

	constexpr u64 pa_of(u32 sp) const { return (base_pfn_ + sp) << spec::PAGE_SHIFT; }
	constexpr std::optional<u32> sp_of_pfn(u64 pfn) const
	{
		if (pfn < base_pfn_ || pfn - base_pfn_ >= pool_.size())
			return std::nullopt;
		return static_cast<u32>(pfn - base_pfn_);
	}

	// tdp_mmu_alloc_sp() + tdp_mmu_init_sp(): every entry starts at the
	// flavour's non-present value.
	constexpr u32 alloc(unsigned level, u64 gfn, bool mirror, u64 nonpresent)
	{
		u32 id;
		if (!free_.empty()) {
			id = free_.back();
			free_.pop_back();
		} else {
			id = static_cast<u32>(pool_.size());
			pool_.emplace_back();
		}
		MmuPage& sp = pool_[id];
		sp = MmuPage{};
		sp.spt.assign(fanout(), nonpresent);
		sp.level = level;
		sp.gfn = gfn;
		sp.mirror = mirror;
		sp.state = SpState::live;
		live_++;
		return id;
	}

	// Allocation that can fail (tdp_mmu_alloc_sp_for_split() uses
	// GFP_KERNEL_ACCOUNT and returns NULL on failure; the fault path's vCPU
	// caches are topped up beforehand and cannot fail).  fail_allocs makes
	// the next allocations fail, for tests of the -ENOMEM paths.
	u64 fail_allocs = 0;
	constexpr u32 try_alloc(unsigned level, u64 gfn, bool mirror, u64 nonpresent)
	{
		if (fail_allocs) {
			fail_allocs--;
			return NO_SP;
		}
		return alloc(level, gfn, mirror, nonpresent);
	}

	// tdp_mmu_free_sp(): only after the RCU grace period.
	constexpr void free(u32 id)
	{
		pool_[id].state = SpState::freed;
		pool_[id].spt.clear();
		pool_[id].spt.shrink_to_fit();
		free_.push_back(id);
		live_--;
	}

	constexpr MmuPage& operator[](u32 id) { return pool_[id]; }
	constexpr const MmuPage& operator[](u32 id) const { return pool_[id]; }
	constexpr u64& spte(SptePtr p) { return pool_[p.sp].spt[p.index]; }
	constexpr u64 spte(SptePtr p) const { return pool_[p.sp].spt[p.index]; }
	constexpr std::size_t capacity() const { return pool_.size(); }
	constexpr std::size_t live() const { return live_; }
	constexpr const std::vector<u32>& free_list() const { return free_; } // reuse order

private:
	spec::Paging paging_;
	u64 base_pfn_;
	std::vector<MmuPage> pool_;
	std::vector<u32> free_;
	std::size_t live_ = 0;
};

} // namespace arborist::impl
