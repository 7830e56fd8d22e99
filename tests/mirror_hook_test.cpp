// SPDX-License-Identifier: GPL-2.0-only
//
// spec::mirror_hook_for_change (spec/arborist/mirror_hook.hpp): the external
// hook a mirror SPTE change calls, against the cases of
// Linux v6.19 tdp_mmu.c (tdp_mmu_set_spte_atomic(),
// set_external_spte_present(), tdp_mmu_set_spte(), remove_external_spte())
// and seed 001 (split_external_spt), and against the
// kernel's if-chains transliterated statement by statement.
#include <gtest/gtest.h>

#include <vector>

#include "arborist/mirror_hook.hpp"

namespace {

using namespace arborist::spec;
constexpr const Concrete& d = concrete;
const SpteFlavor& f = ept_v6_19;
using H = MirrorHook;

H hook(u64 old_spte, u64 new_spte, unsigned level, bool atomic, bool private_huge_pages = false)
{
	return static_cast<H>(mirror_hook_for_change(d, f, old_spte, new_spte, u64{level}, atomic, private_huge_pages));
}

const u64 zapped = nonpresent_spte(d, f); // SHADOW_NONPRESENT_VALUE
const u64 frozen = frozen_spte(d, f);     // FROZEN_SPTE
const u64 leaf_4k = make_spte(d, f, LeafRequest<Concrete>{0x1234, 1, true, true, true});
const u64 leaf_2m = make_spte(d, f, LeafRequest<Concrete>{0x200, 2, true, true, true});
const u64 table = make_nonleaf_spte(d, f, u64{0x5000}, false);

// --- v6.19, mmu_lock held for read: tdp_mmu_set_spte_atomic() -----------------------

TEST(MirrorHook, FaultInstallsPrivateLeafWithSetExternalSpte)
{
	// kvm_tdp_mmu_map() -> tdp_mmu_map_handle_target_level(): TDH.MEM.PAGE.AUG/ADD.
	EXPECT_EQ(hook(zapped, leaf_4k, 1, true), H::set);
}

TEST(MirrorHook, FaultLinksNewTableWithLinkExternalSpt)
{
	// tdp_mmu_link_sp(): TDH.MEM.SEPT.ADD, "Non-leaf: link_external_spt()".
	EXPECT_EQ(hook(zapped, table, 2, true), H::link);
	EXPECT_EQ(hook(zapped, table, 4, true), H::link);
}

TEST(MirrorHook, AtomicZapOfMirrorIsABug)
{
	// "KVM_BUG_ON(!is_shadow_present_pte(new)) ... atomic zapping is never used on mirror roots".
	EXPECT_EQ(hook(leaf_4k, zapped, 1, true), H::bug);
}

TEST(MirrorHook, FreezingIsAPlainCmpxchg)
{
	// "Mirror SPTE and new value not frozen" is the hook path; a frozen new value is not.
	EXPECT_EQ(hook(leaf_4k, frozen, 1, true), H::none);
	EXPECT_EQ(hook(zapped, frozen, 1, true), H::none);
}

TEST(MirrorHook, ReplacingAPresentSpteAtomicallyIsABug)
{
	// set_external_spte_present(): "KVM_BUG_ON(was_present)": only non-present -> present.
	EXPECT_EQ(hook(leaf_4k, leaf_4k | f.dirty, 1, true), H::bug);
	EXPECT_EQ(hook(leaf_2m, table, 2, true), H::bug); // kvm_tdp_mmu_map's split of a mirror huge page
}

TEST(MirrorHook, AtomicOnFrozenOldIsAWarning)
{
	// __tdp_mmu_set_spte_atomic(): WARN_ON_ONCE(... is_frozen_spte(iter->old_spte)).
	EXPECT_EQ(hook(frozen, leaf_4k, 1, true), H::bug);
}

// --- v6.19, mmu_lock held for write: tdp_mmu_set_spte() ------------------------------

TEST(MirrorHook, ZappingAPrivateLeafRemovesIt)
{
	// remove_external_spte(): BLOCK, TRACK, PAGE.REMOVE.
	EXPECT_EQ(hook(leaf_4k, zapped, 1, false), H::remove);
	EXPECT_EQ(hook(leaf_2m, zapped, 2, false), H::remove); // is_last_spte: a huge leaf too
}

TEST(MirrorHook, ZappingATableCallsNoHook)
{
	// "if (!is_last_spte(old_spte, level)) return;": tables go through
	// free_external_spt() in handle_removed_pt().
	EXPECT_EQ(hook(table, zapped, 2, false), H::none);
	EXPECT_EQ(hook(table, zapped, 4, false), H::none);
}

TEST(MirrorHook, NonAtomicInstallIsABugInV619)
{
	// "KVM_BUG_ON(is_shadow_present_pte(new_spte))": "Users that do non-atomic
	// setting of PTEs don't operate on mirror roots".
	EXPECT_EQ(hook(zapped, leaf_4k, 1, false), H::bug);
	EXPECT_EQ(hook(leaf_2m, table, 2, false), H::bug); // a split: not in v6.19
}

TEST(MirrorHook, NonAtomicFrozenIsAWarning)
{
	// tdp_mmu_set_spte(): WARN_ON_ONCE(is_frozen_spte(old_spte) || is_frozen_spte(new_spte)).
	EXPECT_EQ(hook(frozen, zapped, 1, false), H::bug);
	EXPECT_EQ(hook(leaf_4k, frozen, 1, false), H::bug);
}

// --- seed 001: split_external_spt from tdp_mmu_set_spte() ------------------------------

TEST(MirrorHookSeed001, LeafToTableSplits)
{
	// "else if (is_last_spte(old_spte, level) && !is_last_spte(new_spte, level))
	//	split_external_spt(kvm, gfn, old_spte, new_spte, level);"
	EXPECT_EQ(hook(leaf_2m, table, 2, false, true), H::split);
}

TEST(MirrorHookSeed001, ZapStillRemoves)
{
	EXPECT_EQ(hook(leaf_4k, zapped, 1, false, true), H::remove);
	EXPECT_EQ(hook(table, zapped, 2, false, true), H::none);
}

TEST(MirrorHookSeed001, EveryOtherPresentValueIsABug)
{
	// "else KVM_BUG_ON(1, kvm);"
	EXPECT_EQ(hook(zapped, leaf_4k, 1, false, true), H::bug);   // install
	EXPECT_EQ(hook(table, leaf_2m, 2, false, true), H::bug);    // promote (table -> leaf)
	EXPECT_EQ(hook(leaf_2m, leaf_2m | f.dirty, 2, false, true), H::bug);
	EXPECT_EQ(hook(table, table, 3, false, true), H::bug);
}

TEST(MirrorHookSeed001, AtomicPathUnchanged)
{
	EXPECT_EQ(hook(zapped, leaf_4k, 1, true, true), H::set);
	EXPECT_EQ(hook(leaf_2m, table, 2, true, true), H::bug);
}

// --- the kernel's code, transliterated, on every combination ---------------------------

bool present(u64 s) { return is_shadow_present_pte(d, f, s); }
bool is_frozen(u64 s) { return is_frozen_spte(d, f, s); }
bool last(u64 s, unsigned l) { return is_last_spte(d, f, s, u64{l}); }

// __tdp_mmu_set_spte_atomic() + set_external_spte_present(), v6.19.
H kernel_atomic(u64 old_spte, u64 new_spte, unsigned level)
{
	bool bugged = is_frozen(old_spte); // WARN_ON_ONCE(iter->yielded || is_frozen_spte(iter->old_spte))
	H called = H::none;
	if (!is_frozen(new_spte)) {
		if (!present(new_spte))
			return H::bug; // KVM_BUG_ON(...) -> return -EBUSY
		if (present(old_spte))
			bugged = true; // KVM_BUG_ON(was_present, kvm)
		called = last(new_spte, level) ? H::set : H::link;
	}
	return bugged ? H::bug : called;
}

// tdp_mmu_set_spte() on a mirror SPTE: v6.19, or seed 001's version.
H kernel_nonatomic(u64 old_spte, u64 new_spte, unsigned level, bool private_huge_pages)
{
	if (is_frozen(old_spte) || is_frozen(new_spte))
		return H::bug; // WARN_ON_ONCE
	if (!private_huge_pages) {
		if (present(new_spte))
			return H::bug; // KVM_BUG_ON(is_shadow_present_pte(new_spte), kvm)
		return last(old_spte, level) ? H::remove : H::none; // remove_external_spte()
	}
	if (!present(new_spte))
		return last(old_spte, level) ? H::remove : H::none;
	if (last(old_spte, level) && !last(new_spte, level))
		return H::split;
	return H::bug; // KVM_BUG_ON(1, kvm)
}

TEST(MirrorHook, MatchesTheKernelCodeOnEveryCombination)
{
	const std::vector<u64> sptes = {zapped, frozen, leaf_4k, leaf_2m, table, 0, leaf_4k & ~f.mmu_present,
					table | f.page_size};
	int n = 0;
	for (const u64 o : sptes)
		for (const u64 x : sptes)
			for (unsigned level = PG_LEVEL_4K; level <= PT64_ROOT_MAX_LEVEL; level++) {
				EXPECT_EQ(hook(o, x, level, true), kernel_atomic(o, x, level)) << o << " " << x << " " << level;
				for (const bool private_huge_pages : {false, true})
					EXPECT_EQ(hook(o, x, level, false, private_huge_pages), kernel_nonatomic(o, x, level, private_huge_pages))
						<< o << " " << x << " " << level << " " << private_huge_pages;
				n++;
			}
	EXPECT_EQ(n, 8 * 8 * 5);
}

// The rule folds to a constant in a constant expression, like every spec rule.
static_assert(mirror_hook_for_change(concrete, ept_v6_19, nonpresent_spte(concrete, ept_v6_19),
				     make_nonleaf_spte(concrete, ept_v6_19, u64{0x5000}, false), u64{2}, true, false) ==
	      static_cast<u64>(MirrorHook::link));

} // namespace
