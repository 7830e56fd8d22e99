// SPDX-License-Identifier: GPL-2.0-only
//
// Which tree a change is in, when the tracepoint cannot say
// (docs/conformance.md "Attribution"): a page that an invalidated root and
// the new root refilling it map with the same value; and the root level of
// a 5-level host.
#include "trace_fixture.hpp"

namespace arborist::conform::test {
namespace {

constexpr u64 NP = 0; // Linux 6.1's SHADOW_NONPRESENT_VALUE on NPT

// Root 1 (tables 0x100-0x102) maps gfn 7 and gfn c; it is invalidated;
// root 2 (tables 0x200-0x202) maps gfn 7 again, with the same value.
TraceBuilder two_roots()
{
	TraceBuilder b;
	link_tables(b);
	b.change(7, 1, NP, leaf(0x1007));
	b.change(0xc, 1, NP, leaf(0x100c));
	b.zap_all_fast();
	b.root();
	b.change(0, 4, NP, nonleaf(0x200));
	b.change(0, 3, NP, nonleaf(0x201));
	b.change(0, 2, NP, nonleaf(0x202));
	b.change(7, 1, NP, leaf(0x1007));
	return b;
}

TEST(Attribution, ZapWalkOfTheOldRootAfterTheNewRootRefilled)
{
	// kvm_tdp_mmu_zap_invalidated_roots() walks root 1: gfn 7 (which root
	// 2 also holds, and which root 2 changed last), gfn c (only root 1),
	// then the table entries above them.  The zap of gfn 7 is root 1's.
	TraceBuilder b = two_roots();
	b.change(7, 1, leaf(0x1007), NP);
	b.change(0xc, 1, leaf(0x100c), NP);
	b.change(0, 2, nonleaf(0x102), NP);
	b.change(0, 3, nonleaf(0x101), NP);
	b.change(0, 4, nonleaf(0x100), NP);
	// ... and root 2's gfn 7 is still there to zap.
	b.change(7, 1, leaf(0x1007), NP);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.reattributed, 1u);
}

TEST(Attribution, TwoWalksOfTheSameRangeStayInTheirRoots)
{
	// kvm_tdp_mmu_unmap_gfn_range() zaps gfn 7 in root 2, then in root 1:
	// the second zap is a new walk, not the first one's continuation.
	TraceBuilder b = two_roots();
	b.change(7, 1, leaf(0x1007), NP);
	b.change(7, 1, leaf(0x1007), NP);
	b.change(0xc, 1, leaf(0x100c), NP);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.reattributed, 0u);
}

TEST(Attribution, AThirdZapOfAPageTwoRootsHeldIsALostUpdate)
{
	// Known-bad: both roots' gfn 7 are zapped, then a zap of gfn 7 with its
	// old value again: no tree holds it.
	TraceBuilder b = two_roots();
	b.change(7, 1, leaf(0x1007), NP);
	b.change(0xc, 1, leaf(0x100c), NP);
	b.change(7, 1, leaf(0x1007), NP);
	b.change(7, 1, leaf(0x1007), NP);
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.lost-update");
	EXPECT_EQ(r.violations[0].line, b.size());
}

TEST(Attribution, WithoutTheMoveTheOldRootsTableIsOrphaned)
{
	// Known-bad: the walk of root 1 never zaps its gfn 7 (root 2's is
	// zapped instead, by another CPU's later walk), so unlinking root 1's
	// table leaves a present child behind.
	TraceBuilder b = two_roots();
	b.change(0xc, 1, leaf(0x100c), NP);
	b.change(0, 2, nonleaf(0x102), NP);
	const CheckResult r = check_text(b.text());
	ASSERT_FALSE(r.violations.empty());
	EXPECT_EQ(r.violations[0].kind, "spte.orphaned-table") << kinds(r);
}

TEST(Attribution, FiveLevelHostRootsAreLevelFive)
{
	// A 5-level host (kvm_mmu_get_tdp_level() gives 5) creates a level-5
	// root before any table; its entries are level 5 to 1.
	TraceBuilder b;
	b.event("kvm_mmu_get_page", "sp gen 0 gfn 0 l5 8-byte q0 direct wux nxe ad root 0 sync new");
	b.change(0, 5, NP, nonleaf(0x0ff));
	b.change(0, 4, NP, nonleaf(0x100));
	b.change(0, 3, NP, nonleaf(0x101));
	b.change(0, 2, NP, nonleaf(0x102));
	b.change(7, 1, NP, leaf(0x1007));
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.root_level, 5u);
}

TEST(Attribution, LevelFiveWithoutALevelFiveRootIsReported)
{
	// Known-bad: a 4-level root, then a level-5 change.
	TraceBuilder b;
	link_tables(b);
	b.change(0, 5, NP, nonleaf(0x0ff));
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.bad-level");
	EXPECT_EQ(r.stats.root_level, 4u);
}

} // namespace
} // namespace arborist::conform::test
