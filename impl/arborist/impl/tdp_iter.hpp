// SPDX-License-Identifier: GPL-2.0-only
//
// The TDP iterator: a pre-order walk of one root, restartable after a yield
// (Linux v6.19 arch/x86/kvm/mmu/tdp_iter.h, tdp_iter.c).  Index and GFN arithmetic
// come from spec/arborist/gfn.hpp and spte.hpp; nothing is restated here.
#pragma once

#include <array>

#include "arborist/gfn.hpp"
#include "arborist/impl/mmu_page.hpp"
#include "arborist/spte.hpp"

namespace arborist::impl {

struct TdpIter {
	u64 next_last_level_gfn = 0; // the GFN the walk heads towards
	u64 yielded_gfn = 0;         // next_last_level_gfn at the last yield
	std::array<u32, spec::PT64_ROOT_MAX_LEVEL> pt_path{NO_SP, NO_SP, NO_SP, NO_SP, NO_SP};
	SptePtr sptep;
	u64 gfn = 0;      // lowest GFN (mask bits excluded) mapped by the current SPTE
	u64 gfn_bits = 0; // mask applied to convert the GFN to the mapping GPA
	unsigned root_level = 0, min_level = 0, level = 0;
	u64 old_spte = 0; // snapshot of *sptep
	bool valid = false;
	bool yielded = false;
};

namespace detail {
inline constexpr const spec::Concrete& d = spec::concrete;
}

constexpr u64 spte_index_of(const PageTables& pt, u64 gfn, u64 gfn_bits, unsigned level)
{
	return spec::tdp_iter_index(detail::d, gfn, gfn_bits, u64{level}, spec::no_fault, pt.paging().level_bits);
}

constexpr u64 round_gfn(const PageTables& pt, u64 gfn, unsigned level)
{
	return spec::gfn_round_for_level(detail::d, gfn, u64{level}, spec::no_fault, pt.paging().level_bits);
}

constexpr u64 pages_per(const PageTables& pt, unsigned level)
{
	return spec::pages_per_hpage(detail::d, u64{level}, pt.paging().level_bits);
}

// spte_to_child_pt(): the table a present non-leaf SPTE points to.
constexpr u32 spte_to_child_sp(const PageTables& pt, const spec::SpteFlavor& f, u64 spte, unsigned level)
{
	if (!spec::is_shadow_present_pte(detail::d, f, spte) || spec::is_last_spte(detail::d, f, spte, u64{level}))
		return NO_SP;
	return pt.sp_of_pfn(spec::spte_to_pfn(detail::d, f, spte)).value_or(NO_SP);
}

// tdp_iter_refresh_sptep(): sptep from gfn | gfn_bits at the current level,
// then READ_ONCE.
constexpr void tdp_iter_refresh_sptep(TdpIter& it, const PageTables& pt)
{
	it.sptep = {it.pt_path[it.level - 1], static_cast<u32>(spte_index_of(pt, it.gfn, it.gfn_bits, it.level))};
	it.old_spte = pt.spte(it.sptep);
}

// tdp_iter_restart(): back to the root, heading for next_last_level_gfn.
constexpr void tdp_iter_restart(TdpIter& it, const PageTables& pt)
{
	it.yielded = false;
	it.yielded_gfn = it.next_last_level_gfn;
	it.level = it.root_level;
	it.gfn = round_gfn(pt, it.next_last_level_gfn, it.level);
	tdp_iter_refresh_sptep(it, pt);
	it.valid = true;
}

// tdp_iter_start(): WARNs and refuses an aliased GFN (gfn_bits && gfn >= gfn_bits).
constexpr void tdp_iter_start(TdpIter& it, const PageTables& pt, u32 root, unsigned min_level, u64 next_last_level_gfn,
			      u64 gfn_bits)
{
	it = TdpIter{};
	if (root == NO_SP || pt[root].level < 1 || pt[root].level > spec::PT64_ROOT_MAX_LEVEL ||
	    !spec::tdp_iter_start_ok(detail::d, next_last_level_gfn, gfn_bits)) {
		it.valid = false;
		return;
	}
	it.next_last_level_gfn = next_last_level_gfn;
	it.gfn_bits = gfn_bits;
	it.root_level = pt[root].level;
	it.min_level = min_level;
	it.pt_path[it.root_level - 1] = root;
	tdp_iter_restart(it, pt);
}

// try_step_down(): "Reread the SPTE before stepping down to avoid traversing
// into page tables that are no longer linked from this entry" (tdp_iter.c):
// under the read lock another task may have zapped or split the entry since
// the iterator read it.  Descend into a present non-leaf.
constexpr bool try_step_down(TdpIter& it, const PageTables& pt, const spec::SpteFlavor& f)
{
	if (it.level == it.min_level)
		return false;
	it.old_spte = pt.spte(it.sptep);
	const u32 child = spte_to_child_sp(pt, f, it.old_spte, it.level);
	if (child == NO_SP)
		return false;
	it.level--;
	it.pt_path[it.level - 1] = child;
	it.gfn = round_gfn(pt, it.next_last_level_gfn, it.level);
	tdp_iter_refresh_sptep(it, pt);
	return true;
}

// try_step_side(): the next SPTE in this table, unless this is the last one.
constexpr bool try_step_side(TdpIter& it, const PageTables& pt)
{
	if (spte_index_of(pt, it.gfn, it.gfn_bits, it.level) == pt.fanout() - 1)
		return false;
	it.gfn += pages_per(pt, it.level);
	it.next_last_level_gfn = it.gfn;
	it.sptep.index++;
	it.old_spte = pt.spte(it.sptep);
	return true;
}

// try_step_up(): back to the parent table.
constexpr bool try_step_up(TdpIter& it, const PageTables& pt)
{
	if (it.level == it.root_level)
		return false;
	it.level++;
	it.gfn = round_gfn(pt, it.gfn, it.level);
	tdp_iter_refresh_sptep(it, pt);
	return true;
}

// tdp_iter_next(): pre-order: down if possible, else sideways, else up and
// sideways; after a yield, restart from the root.
constexpr void tdp_iter_next(TdpIter& it, const PageTables& pt, const spec::SpteFlavor& f)
{
	if (it.yielded) {
		tdp_iter_restart(it, pt);
		return;
	}
	if (try_step_down(it, pt, f))
		return;
	do {
		if (try_step_side(it, pt))
			return;
	} while (try_step_up(it, pt));
	it.valid = false;
}

// The forward-progress rule of tdp_mmu_iter_need_resched(): yield only if
// the walk moved since the last yield.
constexpr bool tdp_iter_made_progress(const TdpIter& it) { return it.next_last_level_gfn != it.yielded_gfn; }

} // namespace arborist::impl
