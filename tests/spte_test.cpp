// SPDX-License-Identifier: GPL-2.0-only
//
// Concrete semantics of the SPTE encoding (spec/arborist/spte.hpp), with
// values from the real Linux 6.1 NPT trace (tests/data/linux-6.1-npt) and
// the v6.19 EPT constants (Linux v6.19 arch/x86/kvm/mmu/spte.h).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "arborist/gfn.hpp"
#include "arborist/spte.hpp"

namespace {

using namespace arborist::spec;
constexpr const Concrete& d = concrete;
const SpteFlavor& npt = npt_v6_1;
const SpteFlavor& ept = ept_v6_19;

// tests/data/linux-6.1-npt/README.md, "Reading the SPTE values".
TEST(SpteNpt, NonLeafFromTrace)
{
	const u64 s = 0x2c53827; // "gfn 0 level 4 old_spte 0 new_spte 2c53827"
	EXPECT_TRUE(is_shadow_present_pte(d, npt, s));
	EXPECT_FALSE(is_last_spte(d, npt, s, 4));
	EXPECT_FALSE(is_large_pte(d, npt, s));
	EXPECT_EQ(spte_to_pfn(d, npt, s), 0x2c53u);
	// make_nonleaf_spte builds exactly this value: P W U A + MMU-present.
	EXPECT_EQ(make_nonleaf_spte(d, npt, u64{0x2c53000}, false), s);
}

TEST(SpteNpt, WritableLeafFromTrace)
{
	const u64 s = 0xbfede67; // "gfn 1 level 1 old_spte 0 new_spte bfede67"
	EXPECT_TRUE(is_shadow_present_pte(d, npt, s));
	EXPECT_TRUE(is_last_spte(d, npt, s, 1));
	EXPECT_EQ(spte_to_pfn(d, npt, s), 0xbfedu);
	EXPECT_TRUE(is_writable_pte(d, npt, s));
	EXPECT_TRUE(is_mmu_writable_spte(d, npt, s));
	EXPECT_TRUE(is_host_writable_spte(d, npt, s));
	EXPECT_TRUE(spte_writable_invariant(d, npt, s));
	// make_spte for a writable 4K RAM fault with exec allowed (nx_huge_pages=N).
	const LeafRequest<Concrete> r{0xbfed, 1, true, true, true};
	EXPECT_EQ(make_spte(d, npt, r), s);
}

TEST(SpteNpt, DirtyLogWriteProtectAndFastPath)
{
	// P5a/P5c: e67 -> e65 (W cleared, MMU-writable kept); P5b fast path e65 -> e67.
	const u64 writable = 0x7200e67, wrprot = 0x7200e65;
	EXPECT_EQ(make_wrprot_spte(d, npt, writable), wrprot);
	EXPECT_TRUE(is_mmu_writable_spte(d, npt, wrprot));
	EXPECT_TRUE(spte_writable_invariant(d, npt, wrprot));
	EXPECT_FALSE(leaf_spte_change_needs_tlb_flush(d, npt, writable, wrprot));
	EXPECT_EQ(fast_pf_fix_spte(d, npt, wrprot, true), writable);
	EXPECT_EQ(fast_pf_fix_spte(d, npt, wrprot, false), wrprot); // only a write fault fixes
}

TEST(SpteNpt, HugeZeroPageIsNotFixable)
{
	// P3a: a read-only 2M leaf on the host huge zero page; "fast_page_fault ... fixed 0".
	const u64 s = 0x78008a5;
	EXPECT_TRUE(is_large_pte(d, npt, s));
	EXPECT_TRUE(is_last_spte(d, npt, s, 2));
	EXPECT_FALSE(is_host_writable_spte(d, npt, s));
	EXPECT_FALSE(is_mmu_writable_spte(d, npt, s));
	EXPECT_TRUE(spte_writable_invariant(d, npt, s));
	EXPECT_EQ(fast_pf_fix_spte(d, npt, s, true), s);
}

TEST(SpteNpt, SplitChildrenOfTracedHugePage)
{
	// "kvm_mmu_split_huge_page: gfn 400 spte 7200ee7 level 2 errno 0"; the
	// children are not traced, but the later write-protects show e67 values.
	const u64 huge = 0x7200ee7;
	EXPECT_TRUE(is_large_pte(d, npt, huge));
	for (u64 i = 0; i < 512; i++) {
		const u64 child = make_small_spte(d, npt, huge, u64{1}, i);
		EXPECT_EQ(child, 0x7200e67 + (i << 12));
		EXPECT_EQ(make_huge_spte(d, npt, child, u64{2}), huge);
	}
}

TEST(SpteNpt, RemovedSpteIsNotPresent)
{
	EXPECT_EQ(frozen_spte(d, npt), 0x5a0u);
	EXPECT_FALSE(is_shadow_present_pte(d, npt, 0x5a0));
	EXPECT_TRUE(is_frozen_spte(d, npt, 0x5a0));
	EXPECT_EQ(nonpresent_spte(d, npt), 0u);
	// 0x5a0 has PS set: the code always checks presence first.
	EXPECT_TRUE(is_large_pte(d, npt, 0x5a0));
}

TEST(SpteEpt, V619Constants)
{
	EXPECT_EQ(frozen_spte(d, ept), 0x80000000000005a0u);
	EXPECT_EQ(nonpresent_spte(d, ept), u64{1} << 63);
	EXPECT_FALSE(is_shadow_present_pte(d, ept, frozen_spte(d, ept)));
	EXPECT_FALSE(is_shadow_present_pte(d, ept, nonpresent_spte(d, ept)));
	EXPECT_EQ(ept.host_writable, u64{1} << 57);
	EXPECT_EQ(ept.mmu_writable, u64{1} << 58);
	EXPECT_EQ(ept.ad_disabled, u64{1} << 52);
}

TEST(SpteEpt, NonLeafAndLeaf)
{
	const u64 nl = make_nonleaf_spte(d, ept, u64{0x123456000}, false);
	EXPECT_EQ(nl, (u64{1} << 63) | 0x123456000 | 0x800 | 0x100 | 0x7);
	const u64 nl_noad = make_nonleaf_spte(d, ept, u64{0x123456000}, true);
	EXPECT_EQ(nl_noad & ept.ad_mask, ept.ad_disabled);
	const LeafRequest<Concrete> r{0x1234, 1, true, true, true};
	const u64 leaf = make_spte(d, ept, r);
	EXPECT_EQ(spte_to_pfn(d, ept, leaf), 0x1234u);
	EXPECT_EQ(leaf & 0x38, u64{6} << 3); // WB memtype
	EXPECT_TRUE(spte_writable_invariant(d, ept, leaf));
	// A read-only memslot: no host-writable, so no W even when write is asked.
	const LeafRequest<Concrete> ro{0x1234, 1, true, false, true};
	EXPECT_FALSE(is_writable_pte(d, ept, make_spte(d, ept, ro)));
}

TEST(SpteFaults, InjectedFaultsChangeTheRule)
{
	EXPECT_TRUE(is_shadow_present_pte(d, npt, frozen_spte(d, npt, faults::frozen_sets_present)));
	EXPECT_NE(make_small_spte(d, npt, u64{0x7200ee7}, u64{1}, u64{1}, faults::split_wrong_stride),
		  make_small_spte(d, npt, u64{0x7200ee7}, u64{1}, u64{1}));
	EXPECT_EQ(spte_to_pfn(d, npt, u64{1} << 51, faults::pfn_mask_narrow), 0u);
}

// Every SPTE value the real kernel wrote, decoded with the NPT flavour:
// new leaves satisfy the writable invariant, tables are not last, frozen
// values are not present, and a present leaf never changes PFN in place
// (handle_changed_spte() would BUG()).
TEST(SpteNptTrace, EverySpteChangeDecodes)
{
	std::ifstream in(std::string(ARBORIST_TEST_DATA) + "/linux-6.1-npt/trace.txt");
	ASSERT_TRUE(in) << "missing tests/data/linux-6.1-npt/trace.txt";
	std::string line;
	unsigned changes = 0, leaves = 0, tables = 0, frozen = 0, splits = 0;
	std::map<unsigned, unsigned> by_level;
	while (std::getline(in, line)) {
		unsigned as_id = 0, level = 0;
		unsigned long long gfn = 0, old_spte = 0, new_spte = 0;
		const auto p = line.find("kvm_tdp_mmu_spte_changed: ");
		if (p != std::string::npos) {
			ASSERT_EQ(std::sscanf(line.c_str() + p, "kvm_tdp_mmu_spte_changed: as id %u gfn %llx level %u old_spte %llx new_spte %llx",
					      &as_id, &gfn, &level, &old_spte, &new_spte),
				  5)
				<< line;
			changes++;
			by_level[level]++;
			ASSERT_GE(level, 1u);
			ASSERT_LE(level, 4u);
			// gfn is aligned to the level (handle_changed_spte WARN).
			EXPECT_EQ(gfn_round_for_level(d, u64{gfn}, u64{level}), gfn) << line;
			if (is_frozen_spte(d, npt, new_spte)) {
				frozen++;
				EXPECT_FALSE(is_shadow_present_pte(d, npt, new_spte));
			} else if (is_shadow_present_pte(d, npt, new_spte)) {
				if (is_last_spte(d, npt, new_spte, level)) {
					leaves++;
					EXPECT_TRUE(spte_writable_invariant(d, npt, new_spte)) << line;
					EXPECT_EQ(is_large_pte(d, npt, new_spte), level > 1) << line;
				} else {
					tables++;
					EXPECT_GT(level, 1u) << line;
					EXPECT_EQ(new_spte & 0xfff, 0x827u) << line; // make_nonleaf_spte
				}
			}
			if (is_shadow_present_pte(d, npt, old_spte) && is_last_spte(d, npt, old_spte, level) &&
			    is_shadow_present_pte(d, npt, new_spte) && is_last_spte(d, npt, new_spte, level)) {
				EXPECT_EQ(spte_to_pfn(d, npt, old_spte), spte_to_pfn(d, npt, new_spte)) << line;
			}
			continue;
		}
		const auto q = line.find("kvm_mmu_split_huge_page: ");
		if (q != std::string::npos) {
			int errno_v = 0;
			ASSERT_EQ(std::sscanf(line.c_str() + q, "kvm_mmu_split_huge_page: gfn %llx spte %llx level %u errno %d",
					      &gfn, &new_spte, &level, &errno_v),
				  4);
			splits++;
			EXPECT_TRUE(is_large_pte(d, npt, new_spte));
			const u64 c511 = make_small_spte(d, npt, u64{new_spte}, u64{level - 1}, u64{511});
			EXPECT_EQ(spte_to_pfn(d, npt, c511), spte_to_pfn(d, npt, new_spte) + 511);
		}
	}
	// Totals from tests/data/linux-6.1-npt/README.md.
	EXPECT_EQ(changes, 10090u);
	EXPECT_EQ(splits, 3u);
	EXPECT_GT(leaves, 0u);
	EXPECT_GT(tables, 0u);
	EXPECT_GT(frozen, 0u);
}

} // namespace
