// SPDX-License-Identifier: GPL-2.0-only
//
// The executable TDP MMU on direct roots (impl/arborist/impl/tdp_mmu.hpp):
// v6.19 semantics of the fault path, zaps, splits, root invalidation and
// RCU, checked against the kernel's documented behaviour and the structure
// of the real Linux 6.1 NPT trace (tests/data/linux-6.1-npt).
#include <algorithm>

#include <gtest/gtest.h>

#include "arborist/impl/refinement.hpp"
#include "arborist/impl/tdp_mmu.hpp"

namespace {

using namespace arborist;
using namespace arborist::impl;
using spec::u64;

Config npt_config()
{
	Config c;
	c.flavor = spec::npt_v6_1;
	c.paging = spec::x86_paging_4level;
	return c;
}

// A VM whose every operation is checked against the spec: after each one,
// each root's change must be a sequence of legal spec steps and every root
// invariant must hold (impl/arborist/impl/refinement.hpp).
struct Vm {
	NoExternalHooks hooks;
	TdpMmu<NoExternalHooks> mmu;
	VcpuRoots vcpu;
	RootRefinement<NoExternalHooks> refine{mmu};
	bool checking = true; // off only in tests that break the spec on purpose
	explicit Vm(Config c = npt_config()) : mmu(c, hooks) {}
	~Vm() { refined(); }

	void refined()
	{
		if (!checking)
			return;
		const auto r = refine.check();
		EXPECT_TRUE(r.ok) << r.why;
	}
	int fault(u64 gfn, u64 pfn, unsigned level = 1, bool write = true)
	{
		PageFault f;
		f.addr = gfn << 12;
		f.pfn = pfn;
		f.goal_level = level;
		f.write = write;
		const int r = mmu.page_fault(vcpu, f);
		refined();
		return r;
	}
	std::vector<Event> changes() const
	{
		std::vector<Event> out;
		for (const auto& e : mmu.log().events())
			if (e.kind == EventKind::spte_changed)
				out.push_back(e);
		return out;
	}
};

// The first fault of the real trace: "gfn 1 pfn bfed level 1" links tables
// at levels 4, 3, 2 (new_spte ...827) then sets the leaf (bfede67).
TEST(TdpMmuMap, FirstFaultLinksTablesThenLeafLikeTheTrace)
{
	Vm vm;
	EXPECT_EQ(vm.fault(1, 0xbfed), RET_PF_FIXED);
	const auto ch = vm.changes();
	ASSERT_EQ(ch.size(), 4u);
	for (unsigned i = 0; i < 3; i++) {
		EXPECT_EQ(ch[i].level, 4 - i);
		EXPECT_EQ(ch[i].gfn, 0u);
		EXPECT_EQ(ch[i].old_spte, 0u);
		EXPECT_EQ(ch[i].new_spte & 0xfff, 0x827u); // make_nonleaf_spte, NPT
	}
	EXPECT_EQ(ch[3].level, 1u);
	EXPECT_EQ(ch[3].gfn, 1u);
	EXPECT_EQ(ch[3].new_spte, 0xbfede67u); // exactly the traced leaf
	EXPECT_EQ(vm.mmu.log().count(EventKind::get_page), 4u); // root + 3 tables
	EXPECT_EQ(vm.mmu.bugs(), 0u);
}

TEST(TdpMmuMap, SecondFaultReusesTablesAndRepeatIsSpurious)
{
	Vm vm;
	vm.fault(1, 0xbfed);
	vm.mmu.log().clear();
	EXPECT_EQ(vm.fault(0x10, 0x3fdfb), RET_PF_FIXED);
	ASSERT_EQ(vm.changes().size(), 1u);
	EXPECT_EQ(vm.changes()[0].new_spte, 0x3fdfbe67u); // "gfn 10 ... new_spte 3fdfbe67"
	EXPECT_EQ(vm.fault(0x10, 0x3fdfb), RET_PF_SPURIOUS);
}

TEST(TdpMmuMap, HugePageAtLevelTwo)
{
	Vm vm;
	EXPECT_EQ(vm.fault(0x400, 0x7200, 2), RET_PF_FIXED);
	const auto l = vm.mmu.lookup(vm.vcpu.direct, 0x400 + 7);
	EXPECT_EQ(l.level, 2u);
	EXPECT_EQ(l.spte, 0x7200ee7u); // "gfn 400 spte 7200ee7 level 2"
	EXPECT_EQ(vm.mmu.mapped_leaves(2), 1u);
}

// P5a of the trace: eager split of a 2M leaf into 512 children whose
// values are derived (not traced): huge pfn + i, same permissions.
TEST(TdpMmuSplit, EagerSplitDerivesChildren)
{
	Vm vm;
	vm.fault(0x400, 0x7200, 2);
	vm.mmu.log().clear();
	EXPECT_EQ(vm.mmu.split_huge_pages(vm.vcpu.direct, 0x400, 0x600, 1, true), 0);
	const auto ch = vm.changes();
	ASSERT_EQ(ch.size(), 1u); // only the parent changes, as in the trace
	EXPECT_EQ(ch[0].old_spte, 0x7200ee7u);
	EXPECT_EQ(ch[0].new_spte & 0xfff, 0x827u);
	EXPECT_EQ(vm.mmu.log().count(EventKind::split_huge_page), 1u);
	for (u64 i = 0; i < 512; i += 37)
		EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 0x400 + i).spte, 0x7200e67 + (i << 12));
	EXPECT_EQ(vm.mmu.mapped_leaves(1), 512u);
}

TEST(TdpMmuZap, ZapLeafsClearsOnlyLeavesAndFlushes)
{
	Vm vm;
	for (u64 g = 0x10; g < 0x20; g++)
		vm.fault(g, 0x1000 + g);
	vm.mmu.log().clear();
	EXPECT_TRUE(vm.mmu.unmap_gfn_range(0x14, 0x18, KVM_DIRECT_ROOTS, true, false));
	const auto ch = vm.changes();
	ASSERT_EQ(ch.size(), 4u);
	for (const auto& e : ch) {
		EXPECT_EQ(e.level, 1u);
		EXPECT_EQ(e.new_spte, 0u); // SHADOW_NONPRESENT_VALUE is 0 on 6.1
	}
	EXPECT_EQ(vm.mmu.remote_tlb_flushes(), 1u);
	EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 0x13).spte, 0x1013e67u);
	EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 0x14).level, 1u);
}

// P8a: kvm_mmu_zap_all_fast invalidates the root, a new root fills, and the
// invalid root is zapped: handle_removed_pt traces every child (5a0), tables
// are freed after an RCU grace period, the root is freed last.
TEST(TdpMmuRoots, InvalidateZapAndFreeThroughRcu)
{
	Vm vm;
	for (u64 g = 0; g < 8; g++)
		vm.fault(g, 0x2000 + g);
	const u32 old_root = vm.vcpu.direct;
	vm.mmu.invalidate_roots(KVM_DIRECT_ROOTS);
	vm.refined();
	EXPECT_TRUE(vm.mmu.tables()[old_root].invalid);
	vm.fault(0x100, 0x3000); // the vCPU reloads: new root, old one put
	EXPECT_NE(vm.vcpu.direct, old_root);
	EXPECT_EQ(vm.mmu.roots().size(), 2u);
	vm.mmu.log().clear();
	vm.mmu.zap_invalidated_roots(true);
	vm.refined();
	u64 frozen_children = 0;
	for (const auto& e : vm.changes())
		frozen_children += e.new_spte == 0x5a0;
	EXPECT_EQ(frozen_children, 3u * 512); // every child of the 3 removed tables
	EXPECT_EQ(vm.mmu.roots().size(), 1u);
	EXPECT_EQ(vm.mmu.rcu_queue().size(), 4u); // 3 tables + the root
	EXPECT_EQ(vm.mmu.tables()[old_root].state, SpState::live); // not before the grace period
	vm.mmu.rcu_barrier();
	vm.refined();
	EXPECT_EQ(vm.mmu.log().count(EventKind::root_freed), 1u);
	EXPECT_EQ(vm.mmu.tables()[old_root].state, SpState::freed);
	EXPECT_EQ(vm.mmu.bugs(), 0u);
}

TEST(TdpMmuRoots, LastPutOfValidRootIsBug)
{
	Vm vm;
	vm.fault(1, 1);
	const u32 r = vm.vcpu.direct;
	vm.mmu.unload_roots(vm.vcpu); // the vCPU's reference
	EXPECT_EQ(vm.mmu.tables()[r].root_count, 1u);
	vm.mmu.put_root(r); // the TDP MMU's own: never for a valid root
	EXPECT_EQ(vm.mmu.bugs(), 1u);
	// ... and the refinement check rejects the step.
	const auto ref = vm.refine.check();
	EXPECT_FALSE(ref.ok);
	EXPECT_NE(ref.why.find("root"), std::string::npos);
	vm.checking = false;
}

// tdp_mmu_next_root() (Linux v6.19 tdp_mmu.c): for_each_tdp_mmu_root_yield_safe
// takes its reference on the next root before it puts the previous one, and
// walks tdp_mmu_roots from the head, where list_add_rcu() put the newest root.
TEST(TdpMmuRoots, UnmapGetsTheNextRootBeforePuttingThePrevious)
{
	Vm vm;
	vm.fault(1, 0x2000);
	const u32 a = vm.vcpu.direct;
	vm.mmu.invalidate_roots(KVM_DIRECT_ROOTS);
	vm.fault(2, 0x3000); // the vCPU reloads: root b; a keeps the gifted reference
	const u32 b = vm.vcpu.direct;
	auto count = [&](u32 r) { return vm.mmu.tables()[r].root_count; };
	ASSERT_EQ(count(a), 1u);
	ASSERT_EQ(count(b), 2u);
	ASSERT_EQ(vm.mmu.roots(), (std::vector<u32>{b, a}));
	vm.mmu.set_lock_context(LockMode::write);
	TdpMmu<NoExternalHooks>::UnmapOp op{0, 16, KVM_DIRECT_ROOTS, true, false};
	bool held_both = false;
	for (u32 was = count(a); op.step(vm.mmu) != OpStatus::done; was = count(a))
		if (was == 1 && count(a) == 2) { // the step that takes the iterator's reference on a ...
			EXPECT_EQ(count(b), 3u) << "b was put before the get of a";
			held_both = true; // ... while it still holds b's
		}
	vm.mmu.set_lock_context(LockMode::none);
	EXPECT_TRUE(held_both);
	EXPECT_EQ(count(a), 1u);
	EXPECT_EQ(count(b), 2u);
	EXPECT_EQ(vm.mmu.bugs(), 0u);
	vm.refined();
}

// kvm_tdp_mmu_zap_invalidated_roots() iterates with
// for_each_tdp_mmu_root_yield_safe: the root's last reference after the put
// of the gifted one is the iterator's, dropped when it moves on, so the
// root stays on tdp_mmu_roots until then.
TEST(TdpMmuRoots, ZapInvalidatedHoldsTheIteratorsReferenceAcrossTheGiftedPut)
{
	Vm vm;
	vm.fault(1, 0x2000);
	const u32 a = vm.vcpu.direct;
	vm.mmu.invalidate_roots(KVM_DIRECT_ROOTS);
	vm.fault(2, 0x3000);
	auto count = [&](u32 r) { return vm.mmu.tables()[r].root_count; };
	vm.mmu.set_lock_context(LockMode::read);
	TdpMmu<NoExternalHooks>::ZapInvalidatedOp op{true};
	u32 most = 0;
	bool on_list_after_gift = false;
	while (op.step(vm.mmu) != OpStatus::done) {
		most = std::max(most, count(a));
		const auto& roots = vm.mmu.roots();
		if (op.pc == TdpMmu<NoExternalHooks>::ZapInvalidatedOp::NEXT && count(a) == 1 &&
		    !vm.mmu.tables()[a].scheduled_root_to_zap && std::find(roots.begin(), roots.end(), a) != roots.end())
			on_list_after_gift = true;
	}
	vm.mmu.set_lock_context(LockMode::none);
	EXPECT_EQ(most, 2u); // the gifted reference and the iterator's
	EXPECT_TRUE(on_list_after_gift);
	EXPECT_EQ(count(a), 0u);
	EXPECT_EQ(vm.mmu.roots(), (std::vector<u32>{vm.vcpu.direct}));
	EXPECT_EQ(vm.mmu.bugs(), 0u);
	vm.mmu.rcu_barrier();
	vm.refined();
}

// handle_removed_pt() under the shared lock xchg()s FROZEN_SPTE into each
// child "until it is set from some other value": a child another task froze
// (set_external_spte_present() between its freeze and its final write) is
// waited for, not a bug.  Here a fault installs a 2M leaf over a 4K table
// (tdp_mmu_map_handle_target_level) while one of the table's entries is
// frozen by another task.
TEST(TdpMmuRemoval, SharedRemovalSpinsOnAFrozenChildUntilItIsWritten)
{
	Vm vm;
	for (u64 g = 0; g < 4; g++)
		vm.fault(g, 0x2000 + g);
	const u32 root = vm.vcpu.direct;
	const auto child = vm.mmu.lookup(root, 2);
	ASSERT_EQ(child.level, 1u);
	const u64 published = child.spte;
	vm.mmu.tables().spte(child.ptr) = vm.mmu.frozen(); // the other task's freeze
	vm.mmu.set_concurrent(true);
	vm.mmu.set_lock_context(LockMode::read);
	PageFault f;
	f.addr = 0;
	f.pfn = 0x4000;
	f.goal_level = 2;
	f.write = true;
	TdpMmu<NoExternalHooks>::MapOp op{root, f};
	for (int i = 0; i < 64; i++)
		ASSERT_NE(op.step(vm.mmu), OpStatus::done) << "finished while a child is frozen";
	EXPECT_EQ(vm.mmu.bugs(), 0u);
	EXPECT_EQ(vm.mmu.lookup(root, 0, 2).spte & 0x80, 0x80u); // the 2M leaf is in: the cmpxchg was done
	vm.mmu.log().clear();
	vm.mmu.tables().spte(child.ptr) = published; // the other task finishes
	OpStatus st;
	while ((st = op.step(vm.mmu)) != OpStatus::done) {
	}
	vm.mmu.set_lock_context(LockMode::none);
	EXPECT_EQ(op.ret, RET_PF_FIXED);
	EXPECT_EQ(vm.mmu.bugs(), 0u);
	bool removed = false; // the written value was zapped by the remover
	for (const auto& e : vm.changes())
		removed = removed || (e.gfn == 2 && e.level == 1 && e.old_spte == published && e.new_spte == vm.mmu.frozen());
	EXPECT_TRUE(removed);
	EXPECT_EQ(vm.mmu.mapped_leaves(1), 0u);
	EXPECT_EQ(vm.mmu.mapped_leaves(2), 1u);
	vm.mmu.rcu_barrier();
	vm.refined();
}

// In a whole call no other task runs: the same spin would never end, and is
// reported.
TEST(TdpMmuRemoval, SpinWithNoOtherTaskIsReported)
{
	Vm vm;
	vm.checking = false;
	for (u64 g = 0; g < 4; g++)
		vm.fault(g, 0x2000 + g);
	vm.mmu.tables().spte(vm.mmu.lookup(vm.vcpu.direct, 2).ptr) = vm.mmu.frozen();
	vm.fault(0, 0x4000, 2);
	EXPECT_EQ(vm.mmu.bugs(), 1u);
}

TEST(TdpMmuRoots, UninitFreesEverything)
{
	Vm vm;
	for (u64 g = 0; g < 2048; g += 64)
		vm.fault(g, 0x5000 + g);
	vm.fault(0x400000, 0x9000, 2);
	vm.mmu.unload_roots(vm.vcpu);
	vm.refined();
	vm.mmu.uninit();
	vm.refined();
	EXPECT_TRUE(vm.mmu.roots().empty());
	EXPECT_EQ(vm.mmu.tables().live(), 0u);
	EXPECT_EQ(vm.mmu.bugs(), 0u);
}

// A yield in the middle of a zap: the iterator restarts from the root at
// next_last_level_gfn and the zap still removes everything, with forward
// progress (no livelock).
TEST(TdpMmuZap, YieldingZapRestartsAndCompletes)
{
	Config c = npt_config();
	c.resched_every = 3;
	Vm vm(c);
	for (u64 g = 0; g < 64; g++)
		vm.fault(g, 0x6000 + g);
	vm.mmu.unmap_gfn_range(0, 64, KVM_DIRECT_ROOTS, true, false);
	for (u64 g = 0; g < 64; g++)
		EXPECT_FALSE(spec::is_shadow_present_pte(spec::concrete, c.flavor, vm.mmu.lookup(vm.vcpu.direct, g).spte));
	EXPECT_GT(vm.mmu.remote_tlb_flushes(), 1u); // pending flushes are done before each yield
}

TEST(TdpMmuMap, ReplacingTableWithHugePageRemovesTheTable)
{
	Vm vm;
	vm.fault(0x400, 0x7000); // 4K: builds a level-1 table under gfn 0x400
	vm.mmu.log().clear();
	EXPECT_EQ(vm.fault(0x400, 0x7000, 2), RET_PF_FIXED); // now a 2M mapping there
	EXPECT_EQ(vm.mmu.log().count(EventKind::prepare_zap_page), 1u);
	EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 0x400).level, 2u);
	vm.mmu.rcu_barrier();
	vm.refined();
	EXPECT_EQ(vm.mmu.bugs(), 0u);
}

// Allocation failure during an eager split: the split is traced with
// -ENOMEM, the huge page stays, and nothing leaks.
TEST(TdpMmuSplit, AllocationFailureLeavesHugePage)
{
	Vm vm;
	vm.fault(0x400, 0x7200, 2);
	vm.mmu.tables().fail_allocs = 1;
	vm.mmu.log().clear();
	EXPECT_EQ(vm.mmu.split_huge_pages(vm.vcpu.direct, 0x400, 0x600, 1, true), -ENOMEM);
	vm.refined();
	ASSERT_EQ(vm.mmu.log().count(EventKind::split_huge_page), 1u);
	EXPECT_EQ(vm.mmu.log().events().back().err, -ENOMEM);
	EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 0x400).spte, 0x7200ee7u);
	EXPECT_TRUE(vm.changes().empty());
	EXPECT_EQ(vm.mmu.split_huge_pages(vm.vcpu.direct, 0x400, 0x600, 1, true), 0); // and again, now it works
	EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 0x401).level, 1u);
}

// Removal variants (seed 000): replacing a table of 4K leaves by a 2M leaf
// removes the table.  v6.19 processes its children at once
// (handle_removed_pt under the shared lock freezes all 512, the present
// leaves among them); the RCU-deferred variant only unlinks the table and
// its present children are zapped by the RCU callback after the grace
// period, with exclusive access.
TEST(TdpMmuRemovalVariants, ChildrenProcessedAtOnceVersusAfterGracePeriod)
{
	for (const auto removal : {Variants::Removal::recursive_v6_19, Variants::Removal::rcu_deferred}) {
		Config c = npt_config();
		c.variants.removal = removal;
		Vm vm(c);
		for (u64 g = 0x400; g < 0x408; g++)
			vm.fault(g, 0x7000 + (g - 0x400));
		vm.mmu.log().clear();
		EXPECT_EQ(vm.fault(0x400, 0x7000, 2), RET_PF_FIXED);
		auto frozen = [&] {
			u64 n = 0, leaves = 0;
			for (const auto& e : vm.changes())
				if (e.new_spte == 0x5a0) {
					n++;
					leaves += e.old_spte != 0;
				}
			return std::pair{n, leaves};
		};
		const auto at_fault = frozen();
		vm.mmu.rcu_barrier();
		vm.refined();
		const auto after_gp = frozen();
		if (removal == Variants::Removal::recursive_v6_19) {
			EXPECT_EQ(at_fault.first, 512u); // every child, even non-present ones
			EXPECT_EQ(at_fault.second, 8u);
			EXPECT_EQ(after_gp, at_fault);
		} else {
			EXPECT_EQ(at_fault.first, 0u); // the branch is only pruned
			EXPECT_EQ(after_gp.first, 8u);  // the callback zaps the present leaves
			EXPECT_EQ(after_gp.second, 8u);
		}
		EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 0x403).level, 2u);
		EXPECT_EQ(vm.mmu.bugs(), 0u);
	}
}

// Tiny geometry: 4 entries per table, 3 levels, the same code.
TEST(TdpMmuGeometry, TinyTablesWork)
{
	Config c = npt_config();
	c.paging = {2, 3};
	Vm vm(c);
	for (u64 g = 0; g < 64; g++)
		EXPECT_EQ(vm.fault(g, 0x100 + g), RET_PF_FIXED);
	EXPECT_EQ(vm.mmu.tables().live(), 1u + 4 + 16);
	EXPECT_EQ(vm.fault(4, 0x104, 2), RET_PF_FIXED); // level 2 covers 4 pages here
	EXPECT_EQ(vm.mmu.lookup(vm.vcpu.direct, 6).spte & ~0xfffULL, (0x104ULL + 2) << 12 & ~0x3fffULL);
	vm.mmu.unload_roots(vm.vcpu);
	vm.refined();
	vm.mmu.uninit();
	vm.refined();
	EXPECT_EQ(vm.mmu.tables().live(), 0u);
	EXPECT_EQ(vm.mmu.bugs(), 0u);
}

// The whole thing in a constant expression.
constexpr bool constexpr_fault_and_teardown()
{
	NoExternalHooks hooks;
	Config c;
	c.flavor = spec::npt_v6_1;
	c.paging = {2, 3};
	TdpMmu<NoExternalHooks> mmu(c, hooks);
	VcpuRoots v;
	PageFault f;
	f.addr = 5 << 12;
	f.pfn = 0x42;
	f.write = true;
	if (mmu.page_fault(v, f) != RET_PF_FIXED)
		return false;
	if (mmu.lookup(v.direct, 5).spte != 0x42e67)
		return false;
	mmu.unload_roots(v);
	mmu.uninit();
	return mmu.tables().live() == 0 && mmu.bugs() == 0;
}
static_assert(constexpr_fault_and_teardown());

} // namespace
