// SPDX-License-Identifier: GPL-2.0-only
//
// The checker: the real trace replays with no violation and the expected
// derivations; every violation kind, injected into a copy of the real trace
// (or into a small generated one), is reported with its kind at its line;
// attribution among coexisting roots; partial traces and loss markers.
#include <gtest/gtest.h>

#include "trace_fixture.hpp"

namespace arborist::conform::test {
namespace {

// The first violation must be `kind` at `line`.
void expect_first(const CheckResult& r, std::string_view kind, std::size_t line)
{
	ASSERT_FALSE(r.violations.empty()) << "no violation; expected " << kind << " at line " << line;
	EXPECT_EQ(r.violations.front().kind, kind) << kinds(r);
	EXPECT_EQ(r.violations.front().line, line) << kinds(r);
	EXPECT_FALSE(r.violations.front().rule.empty());
	EXPECT_FALSE(r.violations.front().source.empty());
}

// ---- the real trace ------------------------------------------------------------

TEST(RealTrace, NoViolation)
{
	const CheckResult r = check_text(join(real_lines()));
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.lines, 21434u);
	EXPECT_EQ(r.stats.by_event[static_cast<std::size_t>(EventId::tdp_mmu_spte_changed)], 10090u);
	EXPECT_FALSE(r.stats.partial);
	EXPECT_EQ(r.stats.unattributed, 0u);
}

TEST(RealTrace, DerivesWhatTheTraceLeavesOut)
{
	const CheckResult r = check_text(join(real_lines()));
	// Three eager splits of 2M pages (P5a twice, Q4): 512 children each.
	EXPECT_EQ(r.stats.split_children, 3u * 512);
	// P6a: two atomic zaps of a split table, each 2c4x827 -> 5a0 -> 0.
	EXPECT_EQ(r.stats.unfrozen, 2u);
	// P5b 256 + P5d 16 + Q5 8 fixes by the fast path.
	EXPECT_EQ(r.stats.fast_fixes, 280u);
	// P4a, P4b: two MMIO SPTEs, confirmed by mark_mmio_spte.
	EXPECT_EQ(r.stats.mmio_installs, 2u);
	// VM1 twice (P0, P8b), VM2, VM3.
	EXPECT_EQ(r.stats.roots_created, 4u);
	// Every table the trace links is torn down (21 kvm_mmu_prepare_zap_page).
	EXPECT_EQ(r.stats.tables_linked, 21u);
	EXPECT_EQ(r.stats.tables_torn_down, 21u);
	EXPECT_EQ(r.stats.hardware_ad, 0u);
}

// ---- each violation kind, injected into the real trace -----------------------

TEST(Injected, LostUpdate)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gfn 401 level 1 old_spte 7201e67 new_spte 7201e65");
	ASSERT_EQ(n, 7189u);
	edit(t, n, "old_spte 7201e67", "old_spte 7201e66");
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.lost-update", n);
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r); // the slot takes the new value: no cascade
	// The history shows where the slot's value came from: the split.
	const Violation& v = r.violations.front();
	ASSERT_FALSE(v.history.empty());
	EXPECT_EQ(v.history.front().line, find_line(t, "old_spte 7200ee7 new_spte 2c49827"));
	EXPECT_NE(v.history.front().origin.find("split"), std::string::npos);
	EXPECT_NE(v.history.front().event.find("7201e67"), std::string::npos);
}

TEST(Injected, PfnChange)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gfn 401 level 1 old_spte 7201e67 new_spte 7201e65");
	edit(t, n, "new_spte 7201e65", "new_spte 7301e65");
	expect_first(check_text(join(t)), "spte.pfn-change", n);
}

TEST(Injected, OrphanedTableSharedTeardownSkipsAChild)
{
	// P6a: the collapse zaps 2c49827 (atomic, mmu_lock for read), and
	// handle_removed_pt() freezes the 512 children in order; drop one.
	std::vector<std::string> t = real_lines();
	const std::size_t unlink = find_line(t, "gfn 400 level 2 old_spte 2c49827 new_spte 5a0");
	const std::size_t child = find_line(t, "gfn 401 level 1 old_spte 7201e65 new_spte 5a0");
	ASSERT_EQ(child, unlink + 3);
	t.erase(t.begin() + static_cast<std::ptrdiff_t>(child - 1));
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.orphaned-table", unlink);
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_NE(r.violations.front().message.find("index 1 gfn 401 = 7201e65"), std::string::npos)
		<< r.violations.front().message;
}

TEST(Injected, OrphanedTableExclusiveTeardownSkipsAChild)
{
	// P9: VM teardown under mmu_lock for write traces only the present children.
	std::vector<std::string> t = real_lines();
	const std::size_t unlink = find_line(t, "gfn 0 level 2 old_spte 2c5d827 new_spte 5a0");
	const std::size_t child = find_line(t, "gfn 12 level 1 old_spte bfe9e67 new_spte 5a0", unlink);
	ASSERT_EQ(child, unlink + 5);
	t.erase(t.begin() + static_cast<std::ptrdiff_t>(child - 1));
	expect_first(check_text(join(t)), "spte.orphaned-table", unlink);
}

TEST(Injected, OrphanedTableAtTheEndOfTheTrace)
{
	std::vector<std::string> t = real_lines();
	const std::size_t unlink = find_line(t, "gfn 400 level 2 old_spte 2c49827 new_spte 5a0");
	t.resize(unlink); // the teardown of its 512 children never comes
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.orphaned-table", unlink);
	EXPECT_NE(r.violations.front().message.find("512 present"), std::string::npos) << r.violations.front().message;
}

TEST(Injected, Misaligned)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gfn 400 level 2 old_spte 0 new_spte 7200ee7");
	edit(t, n, "gfn 400 level 2", "gfn 401 level 2");
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.misaligned", n);
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r);
}

TEST(Injected, BadLevel)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gfn 1 level 1 old_spte 0 new_spte bfede67");
	edit(t, n, "level 1", "level 7");
	expect_first(check_text(join(t)), "spte.bad-level", n);
	edit(t, n, "level 7", "level 0");
	expect_first(check_text(join(t)), "spte.bad-level", n);
}

TEST(Injected, NonpresentChangeWithoutMarkMmioSpte)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gfn d0000 level 1 old_spte 0 new_spte 80000d0000037");
	const std::size_t mark = find_line(t, "mark_mmio_spte: sptep:ffff8a1e02c58000 gfn d0000");
	ASSERT_EQ(mark, n + 1);
	t.erase(t.begin() + static_cast<std::ptrdiff_t>(mark - 1));
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.nonpresent-change", n);
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r);
}

TEST(Injected, NonpresentChangeToAnotherNonpresentValue)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gfn 1 level 1 old_spte 0 new_spte bfede67");
	edit(t, n, "new_spte bfede67", "new_spte 5a1");
	expect_first(check_text(join(t)), "spte.nonpresent-change", n);
}

TEST(Injected, NonpresentValue)
{
	// Debian 6.12.118 (tests/data/linux-6.12-npt): a zap to 0, the value
	// before v6.10, instead of SHADOW_NONPRESENT_VALUE = BIT(63).
	std::vector<std::string> t;
	{
		std::istringstream in(read_file(ARBORIST_TEST_DATA "/linux-6.12-npt/trace.txt"));
		for (std::string l; std::getline(in, l);)
			t.push_back(l);
	}
	const std::size_t n = find_line(t, "gfn 1 level 1 old_spte 333de67 new_spte 8000000000000000");
	ASSERT_NE(n, 0u);
	ASSERT_TRUE(check_text(join(t), linux_6_12_npt).violations.empty());
	edit(t, n, "new_spte 8000000000000000", "new_spte 0");
	const CheckResult r = check_text(join(t), linux_6_12_npt);
	expect_first(r, "spte.nonpresent-value", n);
	// The same zap to 0 is right on 6.1, where 0 is the non-present value.
	std::vector<std::string> old61 = real_lines();
	const std::size_t z = find_line(old61, "new_spte 0", 1);
	ASSERT_NE(z, 0u);
	EXPECT_TRUE(check_text(join(old61)).violations.empty());
}

TEST(Injected, Writable)
{
	// W without MMU-writable: e67 minus bit 10.
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gfn 1 level 1 old_spte 0 new_spte bfede67");
	edit(t, n, "new_spte bfede67", "new_spte bfeda67");
	expect_first(check_text(join(t)), "spte.writable", n);
}

TEST(Injected, Unreachable)
{
	std::vector<std::string> t = real_lines();
	const std::size_t after = find_line(t, "gfn 1 level 1 old_spte 0 new_spte bfede67");
	std::vector<std::string> extra{t[after - 1]}; // a level-1 entry where no level-1 table is
	edit(extra, 1, "gfn 1 level 1 old_spte 0 new_spte bfede67", "gfn 40000 level 1 old_spte 0 new_spte 12345e67");
	t.insert(t.begin() + static_cast<std::ptrdiff_t>(after), extra.front());
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.unreachable", after + 1);
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r);
}

TEST(Injected, FastFix)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "gva 400000 error_code P|W|U sptep ffff8a1e02c49000 old 0x7200e65 new 7200e67");
	edit(t, n, "new 7200e67", "new 7200e6f");
	expect_first(check_text(join(t)), "spte.fast-fix", n);
}

TEST(Injected, SetSpteMismatch)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "kvm_mmu_set_spte: gfn 1 spte bfede67 (rwxu) level 1 at 2c55008");
	edit(t, n, "spte bfede67", "spte bfede27");
	CheckResult r = check_text(join(t));
	expect_first(r, "spte.set-spte-mismatch", n);
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r);
	// The wrong place: "at" names the entry of gfn 2.
	t = real_lines();
	edit(t, n, "at 2c55008", "at 2c55010");
	r = check_text(join(t));
	expect_first(r, "spte.set-spte-mismatch", n);
	EXPECT_NE(r.violations.front().message.find("maps gfn 2"), std::string::npos) << r.violations.front().message;
}

TEST(Injected, SplitMismatch)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "kvm_mmu_split_huge_page: gfn 400 spte 7200ee7 level 2 errno 0");
	edit(t, n, "gfn 400 spte 7200ee7", "gfn 600 spte 7200ee7");
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.split-mismatch", n);
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r);
}

TEST(Injected, WrongPfn)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "kvm_mmu_spte_requested: gfn 10 pfn 3fdfb level 1");
	edit(t, n, "pfn 3fdfb", "pfn 3fdfc");
	const CheckResult r = check_text(join(t));
	expect_first(r, "spte.wrong-pfn", n + 1); // the install that follows
	EXPECT_EQ(r.violations.size(), 1u) << kinds(r);
}

TEST(Injected, EveryKindHasATest)
{
	// The kinds the tests above inject; a new kind needs a test here.
	const std::vector<std::string_view> tested = {
		"spte.lost-update",	    "spte.pfn-change",	   "spte.orphaned-table", "spte.misaligned",
		"spte.bad-level",	    "spte.nonpresent-change", "spte.writable",	  "spte.unreachable",
		"spte.fast-fix",	    "spte.set-spte-mismatch", "spte.split-mismatch", "spte.wrong-pfn",
		"spte.nonpresent-value"};
	// The TDX kinds (sept.*, pamt.*, td.*, mirror.*) are in tdx_test.cpp.
	std::size_t spte = 0;
	for (const ViolationKind& k : violation_kinds())
		spte += k.kind.starts_with("spte.") ? 1 : 0;
	ASSERT_EQ(spte, tested.size());
	for (const ViolationKind& k : violation_kinds())
		if (k.kind.starts_with("spte.")) {
			EXPECT_NE(std::find(tested.begin(), tested.end(), k.kind), tested.end()) << k.kind;
		}
}

// ---- generated traces: attribution and derivations -------------------------------

// One table per level down to gfn 0 under a new root: tables 100, 101, 102.
TraceBuilder& build_path(TraceBuilder& b, u64 base = 0x100)
{
	b.root();
	b.change(0, 4, 0, nonleaf(base));
	b.change(0, 3, 0, nonleaf(base + 1));
	b.change(0, 2, 0, nonleaf(base + 2));
	return b;
}

TEST(Attribution, InvalidatedRootZappedWhileANewRootFills)
{
	// CPU 0 zaps the invalidated root (the async zap worker, mmu_lock for
	// read), CPU 1 faults into the new root; both hold the same leaf.
	TraceBuilder b;
	build_path(b, 0x100).change(5, 1, 0, leaf(0x5005));
	b.zap_all_fast();
	build_path(b, 0x200).change(5, 1, 0, leaf(0x5005));
	b.change(0, 3, nonleaf(0x101), 0, 0);                  // old root: unlinks table 101
	b.change(6, 1, 0, leaf(0x6006), 1);                    // new root: a fault
	b.change(0, 2, nonleaf(0x102), REMOVED, 0);            // handle_removed_pt(101) unlinks 102
	b.change(5, 1, leaf(0x5005), REMOVED, 0);              // ... and freezes its leaf
	b.change(6, 1, leaf(0x6006), leaf_wrprot(0x6006), 1);  // new root: dirty logging
	b.change(0, 4, nonleaf(0x100), 0, 0);                  // old root: emptied
	b.change(5, 1, leaf(0x5005), 0, 1);                    // new root: an MMU notifier zap
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.tables_torn_down, 3u);
}

TEST(Attribution, OldValueHeldByNoRootIsALostUpdate)
{
	TraceBuilder b;
	build_path(b, 0x100);
	b.zap_all_fast();
	build_path(b, 0x200);
	b.change(0, 3, nonleaf(0x999), 0);
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.lost-update");
	EXPECT_EQ(r.violations[0].line, b.size());
}

TEST(Attribution, EmptyRootsAreInterchangeableAndBounded)
{
	TraceBuilder b;
	for (int vm = 0; vm < 100; vm++) {
		build_path(b, 0x1000 + 0x10 * vm).change(1, 1, 0, leaf(0x77));
		b.change(0, 4, nonleaf(0x1000 + 0x10 * vm), 0); // teardown under the write lock
		b.change(0, 3, nonleaf(0x1001 + 0x10 * vm), REMOVED);
		b.change(0, 2, nonleaf(0x1002 + 0x10 * vm), REMOVED);
		b.change(1, 1, leaf(0x77), REMOVED);
	}
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_LE(r.stats.max_live_tables, 4u);
}

TEST(Derivation, HardwareSetsAccessedAndDirty)
{
	const spec::SpteFlavor& f = spec::npt_v6_1;
	const u64 clean = leaf(0x42) & ~(f.accessed | f.dirty);
	TraceBuilder b;
	build_path(b).change(0x42, 1, 0, clean);
	b.change(0x42, 1, clean | f.accessed | f.dirty, leaf_wrprot(0x42)); // dirty logging
	CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.hardware_ad, 1u);
	// The CPU never sets W.
	TraceBuilder c;
	build_path(c).change(0x42, 1, 0, leaf_wrprot(0x42));
	c.change(0x42, 1, leaf(0x42), 0);
	r = check_text(c.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.lost-update");
}

TEST(Derivation, FreezeOfALinkedEntryIsFollowedByAnUntracedZero)
{
	TraceBuilder b;
	build_path(b).change(3, 1, 0, leaf(0x33));
	b.change(3, 1, leaf(0x33), REMOVED); // tdp_mmu_zap_spte_atomic()
	b.change(3, 1, 0, leaf(0x34));       // a later fault sees 0
	CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.unfrozen, 1u);
	// ... and nothing may be written over the frozen value itself.
	TraceBuilder c;
	build_path(c).change(3, 1, 0, leaf(0x33));
	c.change(3, 1, leaf(0x33), REMOVED);
	c.change(3, 1, REMOVED, leaf(0x34));
	r = check_text(c.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.lost-update");
}

TEST(Derivation, ATableLinkedTwiceOrphansItsFirstPlace)
{
	TraceBuilder b;
	build_path(b);
	b.change(0x200, 2, 0, nonleaf(0x102)); // table 102 is still linked at gfn 0
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.orphaned-table");
	EXPECT_EQ(r.violations[0].line, b.size());
}

// ---- completeness -----------------------------------------------------------------

TEST(Partial, TraceStartingAfterTheVmIsCountedNotReported)
{
	std::vector<std::string> t = real_lines();
	t.erase(t.begin() + 12, t.begin() + 2000); // the header stays; VM1's root creation goes
	const CheckResult r = check_text(join(t));
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_TRUE(r.stats.partial);
	EXPECT_GT(r.stats.unattributed, 0u);
}

TEST(Partial, LostEventsDropTheStateAndMakeTheRestPartial)
{
	std::vector<std::string> t = real_lines();
	const std::size_t n = find_line(t, "VM1 P5b");
	t.insert(t.begin() + static_cast<std::ptrdiff_t>(n), "CPU:1 [LOST 30 EVENTS]");
	const CheckResult r = check_text(join(t));
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_TRUE(r.stats.partial);
	EXPECT_EQ(r.stats.gaps, 1u);
	EXPECT_NE(r.stats.partial_reason.find("LOST 30 EVENTS"), std::string::npos);
}

TEST(Partial, OverwrittenRingBufferHeaderMakesItPartial)
{
	TraceBuilder b;
	b.raw("# entries-in-buffer/entries-written: 10/50   #P:2");
	b.change(5, 1, leaf(1), 0);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.unattributed, 1u);
}

TEST(Profiles, EptFlavourReplaysWithItsOwnValues)
{
	const spec::SpteFlavor& f = spec::ept_v6_19;
	const u64 np = spec::nonpresent_spte(spec::concrete, f);
	TraceBuilder b;
	link_tables(b, f);
	b.change(7, 1, np, leaf(0x77, 1, f));
	b.change(7, 1, leaf(0x77, 1, f), spec::frozen_spte(spec::concrete, f));
	b.change(7, 1, np, leaf(0x78, 1, f));
	CheckResult r = check_text(b.text(), linux_6_19_tdx);
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	// The same trace read as NPT: bit 63 is NX there, and 0 is non-present.
	r = check_text(b.text(), linux_6_1_npt);
	EXPECT_FALSE(r.violations.empty());
}

} // namespace
} // namespace arborist::conform::test
