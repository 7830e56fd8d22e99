// SPDX-License-Identifier: GPL-2.0-only
//
// Which external page-table hook a change of a *mirror* SPTE calls, written
// once over any domain (Linux v6.19 arch/x86/kvm/mmu/tdp_mmu.c, plus seed
// 001's split_external_spt).  Facts: v6.19 tdp_mmu.c tdp_mmu_set_spte(),
// set_external_spte_present(), handle_removed_pt(); seed 001 (Yan Zhao,
// "[RFC PATCH 14/21] KVM: x86/tdp_mmu: Invoke split_external_spt hook with
// exclusive mmu_lock", lore.kernel.org/r/20250424030744.435-1-yan.y.zhao@intel.com).
//
// Two paths write a mirror SPTE:
//
//  atomic (tdp_mmu_set_spte_atomic(), mmu_lock held for read):
//    __tdp_mmu_set_spte_atomic() WARNs on a frozen old SPTE; a frozen new
//    value is a plain cmpxchg (no hook: handle_removed_pt() freezing
//    children); otherwise KVM_BUG_ON(!is_shadow_present_pte(new)) ("atomic
//    zapping is never used on mirror roots") and set_external_spte_present(),
//    which KVM_BUG_ONs a present old SPTE and then calls set_external_spte
//    (a leaf: TDH.MEM.PAGE.AUG/ADD) or link_external_spt (a page table:
//    TDH.MEM.SEPT.ADD).
//
//  non-atomic (tdp_mmu_set_spte(), mmu_lock held for write):
//    WARN on a frozen old or new SPTE; a non-present new value goes to
//    remove_external_spte(), which returns early for a non-leaf old SPTE
//    ("External (TDX) SPTEs are limited to PG_LEVEL_4K ... external PTs are
//    removed ... involving free_external_spt()"); v6.19 KVM_BUG_ONs any
//    present new value ("Users that do non-atomic setting of PTEs don't
//    operate on mirror roots"); seed 001 instead calls split_external_spt
//    when a leaf becomes a non-leaf ("is_last_spte(old_spte, level) &&
//    !is_last_spte(new_spte, level)") and KVM_BUG_ONs every other present
//    new value.
//
// `bug` means a KVM_BUG_ON or WARN of the path fires: the caller broke the
// path's contract and the VM is (or should be) dead; it takes precedence
// over the hook the kernel may still go on to call.
#pragma once

#include "arborist/domain.hpp"
#include "arborist/spte.hpp"

namespace arborist::spec {

enum class MirrorHook : u64 {
	none = 0,   // no external hook
	set = 1,    // set_external_spte (TDH.MEM.PAGE.AUG / PAGE.ADD)
	link = 2,   // link_external_spt (TDH.MEM.SEPT.ADD)
	remove = 3, // remove_external_spte (BLOCK, TRACK, PAGE.REMOVE)
	split = 4,  // split_external_spt, seed 001 (BLOCK, TRACK, DEMOTE)
	bug = 5,    // a KVM_BUG_ON / WARN of the path fires
};

inline constexpr MirrorHook mirror_hooks[] = {MirrorHook::none, MirrorHook::set,   MirrorHook::link,
					      MirrorHook::remove, MirrorHook::split, MirrorHook::bug};

constexpr const char* mirror_hook_name(MirrorHook h)
{
	switch (h) {
	case MirrorHook::none: return "none";
	case MirrorHook::set: return "set";
	case MirrorHook::link: return "link";
	case MirrorHook::remove: return "remove";
	case MirrorHook::split: return "split";
	case MirrorHook::bug: return "bug";
	}
	return "?";
}

// __tdp_mmu_set_spte_atomic() on a mirror SPTE, with set_external_spte_present().
template <Domain D>
constexpr typename D::Word mirror_hook_atomic(const D& d, const SpteFlavor& f, const typename D::Word& old_spte,
					      const typename D::Word& new_spte, const typename D::Word& level)
{
	const typename D::Bool new_frozen = is_frozen_spte(d, f, new_spte);
	const typename D::Bool bug =
		is_frozen_spte(d, f, old_spte) ||
		(!new_frozen && (!is_shadow_present_pte(d, f, new_spte) || is_shadow_present_pte(d, f, old_spte)));
	return d.ite(bug, d.lit(MirrorHook::bug),
		     d.ite(new_frozen, d.lit(MirrorHook::none),
			   d.ite(is_last_spte(d, f, new_spte, level), d.lit(MirrorHook::set), d.lit(MirrorHook::link))));
}

// tdp_mmu_set_spte() on a mirror SPTE: v6.19, or seed 001 when `private_huge_pages`.
template <Domain D>
constexpr typename D::Word mirror_hook_nonatomic(const D& d, const SpteFlavor& f, const typename D::Word& old_spte,
						 const typename D::Word& new_spte, const typename D::Word& level,
						 const typename D::Bool& private_huge_pages)
{
	const typename D::Bool present = is_shadow_present_pte(d, f, new_spte);
	const typename D::Bool split =
		private_huge_pages && is_last_spte(d, f, old_spte, level) && !is_last_spte(d, f, new_spte, level);
	const typename D::Bool bug =
		is_frozen_spte(d, f, old_spte) || is_frozen_spte(d, f, new_spte) || (present && !split);
	return d.ite(bug, d.lit(MirrorHook::bug),
		     d.ite(present, d.lit(MirrorHook::split),
			   d.ite(is_last_spte(d, f, old_spte, level), d.lit(MirrorHook::remove),
				 d.lit(MirrorHook::none))));
}

// The hook a change old -> new of a mirror SPTE at `level` calls, as a
// MirrorHook code.  `atomic` selects tdp_mmu_set_spte_atomic() over
// tdp_mmu_set_spte(); `private_huge_pages` selects seed 001's tdp_mmu_set_spte().
template <Domain D>
constexpr typename D::Word mirror_hook_for_change(const D& d, const SpteFlavor& f, const typename D::Word& old_spte,
						  const typename D::Word& new_spte, const typename D::Word& level,
						  const typename D::Bool& atomic, const typename D::Bool& private_huge_pages)
{
	return d.ite(atomic, mirror_hook_atomic(d, f, old_spte, new_spte, level),
		     mirror_hook_nonatomic(d, f, old_spte, new_spte, level, private_huge_pages));
}

} // namespace arborist::spec
