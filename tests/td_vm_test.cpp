// SPDX-License-Identifier: GPL-2.0-only
//
// A TDX VM end to end: the TDP MMU's mirror root drives KVM's TDX glue,
// which drives the simulated TDX module (impl/arborist/impl/td_vm.hpp).
// Checked after every operation: roots refine the spec, mirror and S-EPT
// agree.  Sources: Linux v6.19 tdp_mmu.c and vmx/tdx.c; intel/tdx-module
// TDX_1.5.01 helpers.c (TLB tracking), api_calls/tdh_mem_*.c, pamt_manager.c.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "arborist/impl/mirror_check.hpp"
#include "arborist/impl/refinement.hpp"
#include "arborist/impl/td_vm.hpp"

namespace {

using namespace arborist;
using namespace arborist::impl;
using arborist::tdx_abi::Leaf;
using spec::SeptState;
using spec::u64;

struct Td {
	TdVm vm;
	RootRefinement<SimTdx> refine;
	explicit Td(TdVmOptions o = {}) : vm(o), refine(vm.mmu()) {}

	void check(const char* after)
	{
		const auto r = refine.check();
		EXPECT_TRUE(r.ok) << after << ": " << r.why;
		if (vm.roots(0).mirror != NO_SP) {
			const auto m = check_mirror_agrees(vm, vm.roots(0).mirror);
			EXPECT_TRUE(m.ok) << after << ": " << m.why;
		}
		EXPECT_FALSE(vm.tdx().vm_bugged()) << after;
		EXPECT_EQ(vm.mmu().bugs(), 0u) << after;
	}
	int fault(u64 gpa, unsigned level = 1)
	{
		const int r = vm.fault(0, gpa, level);
		check("fault");
		return r;
	}
	u64 calls(Leaf l) const { return vm.module().calls(l); }
	std::optional<hw::SeptEntryView> entry(u64 gpa, unsigned tdx_level = 0) const
	{
		return vm.module().sept_entry(gpa, tdx_level);
	}
};

TEST(TdVm, BuildAddFinalizeAug)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	// KVM_TDX_INIT_MEM_REGION: private pages before finalize use PAGE.ADD.
	EXPECT_EQ(td.fault(0x1000), RET_PF_FIXED);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_SEPT_ADD), 3u); // levels 4, 3, 2 tables
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_ADD), 1u);
	EXPECT_EQ(td.entry(0x1000)->state, SeptState::MAPPED);
	ASSERT_TRUE(td.vm.finalize());
	// After finalize: PAGE.AUG, the entry is PENDING until the guest accepts.
	EXPECT_EQ(td.fault(0x2000), RET_PF_FIXED);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_AUG), 1u);
	EXPECT_EQ(td.entry(0x2000)->state, SeptState::PENDING);
	// A shared GPA goes to the direct root and makes no SEAMCALL.
	const u64 before = td.vm.module().total_calls();
	EXPECT_EQ(td.fault(td.vm.shared_bit_gpa() | 0x3000), RET_PF_FIXED);
	EXPECT_EQ(td.vm.module().total_calls(), before);
	const auto l = td.vm.mmu().lookup(td.vm.roots(0).direct, (td.vm.shared_bit_gpa() | 0x3000) >> 12);
	EXPECT_TRUE(spec::is_shadow_present_pte(spec::concrete, spec::ept_v6_19, l.spte));
}

// tdx_sept_remove_private_spte(): BLOCK, TRACK, REMOVE, WBINVD; the page is
// FREE in S-EPT, PT_NDA in the PAMT, and goes back to the host.
TEST(TdVm, ZapPrivateLeafBlocksTracksRemoves)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	td.fault(0x5000);
	const u64 pfn = td.entry(0x5000)->hpa >> 12;
	td.vm.module().reset_calls();
	td.vm.unmap(0x5, 0x6, true, false);
	td.check("unmap");
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_RANGE_BLOCK), 1u);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_TRACK), 1u);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_REMOVE), 1u);
	EXPECT_EQ(td.calls(Leaf::TDH_PHYMEM_PAGE_WBINVD), 1u);
	EXPECT_FALSE(td.entry(0x5000).has_value() && td.entry(0x5000)->state != SeptState::FREE);
	EXPECT_EQ(td.vm.module().pamt(pfn)->pt, spec::PageType::PT_NDA);
	ASSERT_EQ(td.vm.tdx().released_pages().size(), 1u);
	EXPECT_TRUE(td.vm.tdx().released_pages().contains(pfn));
	EXPECT_FALSE(td.vm.tdx().released_pages().contains(pfn + 1));
}

// The released-page bitmap: membership per frame from the TDMR's base, a
// count of every release (a second release of a page counts again), and
// frames below the base counted apart rather than dropped.
TEST(TdVm, ReleasedPagesBitmap)
{
	impl::ReleasedPages r(0x100000);
	EXPECT_TRUE(r.empty());
	EXPECT_FALSE(r.contains(0x100000));
	r.add(0x100000);
	r.add(0x100000 + 63);
	r.add(0x100000 + 64);
	r.add(0x100000 + 100000);
	EXPECT_EQ(r.size(), 4u);
	for (const u64 pfn : {0x100000ull, 0x100000ull + 63, 0x100000ull + 64, 0x100000ull + 100000})
		EXPECT_TRUE(r.contains(pfn)) << pfn;
	for (const u64 pfn : {0x100000ull + 1, 0x100000ull + 62, 0x100000ull + 65, 0x100000ull + 99999,
			      0x100000ull + 100001, 0x100000ull + 1000000, 0xFFFFFull})
		EXPECT_FALSE(r.contains(pfn)) << pfn;
	r.add(0x100000 + 64);
	EXPECT_EQ(r.size(), 5u);
	EXPECT_EQ(r.below_base(), 0u);
	r.add(0x1000);
	EXPECT_EQ(r.size(), 6u);
	EXPECT_EQ(r.below_base(), 1u);
	EXPECT_FALSE(r.contains(0x1000));
}

// TDX_OPERAND_BUSY on the zap path: wait_for_sept_zap, kick, retry once.
TEST(TdVm, BusyOnZapPathKicksAndRetriesOnce)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	td.fault(0x7000);
	EXPECT_EQ(td.vm.enter(0), tdx_abi::status::TDX_SUCCESS);
	EXPECT_TRUE(td.vm.module().vcpu(0).in_guest);
	td.vm.module().reset_calls();
	td.vm.module().inject_busy.tree = true; // BLOCK's exclusive tree lock
	td.vm.unmap(0x7, 0x8, true, false);
	td.check("unmap with busy");
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_RANGE_BLOCK), 2u); // one BUSY, one retry
	EXPECT_FALSE(td.vm.module().vcpu(0).in_guest);      // kicked out
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_REMOVE), 1u);
}

// -EBUSY on the map path: the fault returns RET_PF_RETRY, the mirror SPTE
// is restored from FROZEN, and the retried fault succeeds.
TEST(TdVm, BusyOnMapPathRetriesTheFault)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	td.fault(0x9000); // build the tables
	td.vm.module().reset_calls();
	td.vm.module().inject_busy.entry = true;
	EXPECT_EQ(td.fault(0xa000), RET_PF_FIXED);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_AUG), 2u);
	EXPECT_EQ(td.entry(0xa000)->state, SeptState::PENDING);
}

// VM destruction in v6.19 order: every private leaf removed while the HKID
// is assigned, then the HKID released, then the S-EPT pages and control
// pages RECLAIMed; nothing is left owned by the TD.
TEST(TdVm, DestroyReclaimsEverything)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	td.fault(0x1000);
	ASSERT_TRUE(td.vm.finalize());
	for (u64 g = 0x10; g < 0x30; g++)
		td.fault(g << 12);
	td.fault(0x40000000); // another 1G region: more tables
	const u64 free_before = td.vm.pages().free_count();
	td.vm.module().reset_calls();
	ASSERT_TRUE(td.vm.destroy());
	td.check("destroy");
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_REMOVE), 34u);
	EXPECT_EQ(td.calls(Leaf::TDH_MNG_VPFLUSHDONE), 1u);
	EXPECT_EQ(td.calls(Leaf::TDH_MNG_KEY_FREEID), 1u);
	// S-EPT pages (3 + 2) + TDVPR + the TDCS pages + TDR.
	EXPECT_EQ(td.calls(Leaf::TDH_PHYMEM_PAGE_RECLAIM), 5u + 1 + hw::sim::MIN_NUM_TDCS_PAGES + 1);
	EXPECT_EQ(td.vm.module().td().chldcnt, 0u);
	EXPECT_GT(td.vm.pages().free_count(), free_before);
	EXPECT_EQ(td.vm.pages().free_count(), td.vm.pages().count()); // every frame back
}

// Seed 004: removal deferred to TD_TEARDOWN.  No BLOCK/TRACK/REMOVE at all;
// private pages are RECLAIMed after KEY.FREEID.
TEST(TdVmSeed004, DeferredTeardownReclaimsPrivatePages)
{
	TdVmOptions o;
	o.tdx_variants.teardown = TdxVariants::Teardown::deferred_to_teardown;
	Td td(o);
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	for (u64 g = 0x10; g < 0x20; g++)
		td.fault(g << 12);
	td.vm.module().reset_calls();
	ASSERT_TRUE(td.vm.destroy());
	EXPECT_EQ(td.vm.tdx().pinned_inodes(), 1u);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_RANGE_BLOCK), 0u);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_REMOVE), 0u);
	EXPECT_EQ(td.calls(Leaf::TDH_PHYMEM_PAGE_RECLAIM), 16u + 3 + 1 + hw::sim::MIN_NUM_TDCS_PAGES + 1);
	EXPECT_EQ(td.vm.tdx().released_pages().size(), 16u);
	EXPECT_EQ(td.vm.module().td().chldcnt, 0u);
	EXPECT_FALSE(td.vm.tdx().vm_bugged());
}

// v6.19 baseline of the same: removing a private page after the HKID is
// released is a KVM bug (tdx_sept_remove_private_spte's KVM_BUG_ON).
TEST(TdVmSeed004, V619RejectsRemovalWithoutHkid)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	td.fault(0x1000);
	ASSERT_TRUE(td.vm.tdx().release_hkid());
	td.vm.unmap(1, 2, true, false);
	EXPECT_TRUE(td.vm.tdx().vm_bugged());
}

// Mirror write path, seed 000's question: SEAMCALL then cmpxchg.  With no
// contention it behaves like v6.19 (agreement holds); its failure needs a
// concurrent zap, which is the model checker's job.
TEST(TdVmSeed000, SeamcallThenCmpxchgWithoutContention)
{
	TdVmOptions o;
	o.variants.mirror_write = Variants::MirrorWrite::seamcall_then_cmpxchg;
	Td td(o);
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	EXPECT_EQ(td.fault(0x3000), RET_PF_FIXED);
	EXPECT_EQ(td.entry(0x3000)->state, SeptState::PENDING);
}

// Seed 001: a private 2M page split with BLOCK, TRACK, DEMOTE under the
// write lock; the children are unblocked (no UNBLOCK needed).
TEST(TdVmSeed001, SplitPrivateHugePageDemotes)
{
	TdVmOptions o;
	o.tdx_variants.private_huge_pages = true;
	Td td(o);
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	// A 2M private fault needs 512 contiguous, aligned frames from guest_memfd:
	// take the GFN's page as the head of an aligned 2M run.
	EXPECT_EQ(td.vm.fault(0, 0x200000, 2), RET_PF_FIXED);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_AUG), 1u);
	EXPECT_EQ(td.entry(0x200000, 1)->state, SeptState::PENDING);
	td.vm.module().reset_calls();
	EXPECT_EQ(td.vm.mmu().split_huge_pages(td.vm.roots(0).mirror, 0x200, 0x400, 1, false), 0);
	td.check("split");
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_RANGE_BLOCK), 1u);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_TRACK), 1u);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_PAGE_DEMOTE), 1u);
	EXPECT_EQ(td.entry(0x200000, 1)->state, SeptState::NL_MAPPED);
	EXPECT_EQ(td.entry(0x201000, 0)->state, SeptState::PENDING);
}

TEST(TdVmSeed001, V619RejectsPrivateHugePages)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	td.vm.fault(0, 0x200000, 2);
	EXPECT_TRUE(td.vm.tdx().vm_bugged()); // KVM_BUG_ON(level != PG_LEVEL_4K)
}

TEST(TdVm, FivLevelGeometry)
{
	TdVmOptions o;
	o.geometry = spec::td_pwl5;
	Td td(o);
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	EXPECT_EQ(td.fault(0x1000), RET_PF_FIXED);
	EXPECT_EQ(td.calls(Leaf::TDH_MEM_SEPT_ADD), 4u);
	EXPECT_EQ(td.fault((u64{1} << 51) | 0x1000), RET_PF_FIXED); // shared, bit 51
	ASSERT_TRUE(td.vm.destroy());
	EXPECT_EQ(td.vm.pages().free_count(), td.vm.pages().count());
}

// ---- teardown failures (Linux v6.19 arch/x86/kvm/vmx/tdx.c) -----------------

// A SEAMCALL backend that fails the n-th call of one leaf with a given status
// without running it and passes every other call to the simulated module:
// the failures KVM's teardown must survive.
struct FailingModule {
	hw::SimModule& m;
	Leaf leaf{};
	unsigned nth = 0; // how many calls of `leaf` to let through first
	u64 status = 0;
	bool armed = false;
	std::vector<u64> failed_rcx{}; // RCX of each call failed so far

	void fail(Leaf l, u64 st, unsigned n = 0)
	{
		leaf = l;
		status = st;
		nth = n;
		armed = true;
	}
	u64 seamcall(u64 fn, hw::TdxModuleArgs& a)
	{
		if (armed && static_cast<Leaf>(fn & 0xFFFF) == leaf) {
			if (nth == 0) {
				armed = false;
				failed_rcx.push_back(a.rcx);
				return status;
			}
			nth--;
		}
		return m.seamcall(fn, a);
	}
	unsigned x86_phys_bits() const { return m.x86_phys_bits(); }
};
using FailTdx = KvmTdx<FailingModule, SimVcpuEnv>;

// KVM's TDX glue and TDP MMU over FailingModule: one private page faulted in
// a finalized TD, then torn down step by step in v6.19's order.
struct FailTd {
	hw::SimModule m{spec::td_pwl4, 0x100, 64};
	HostPages pages{0x100, 64};
	FailingModule b{m};
	SimVcpuEnv env{&m};
	EventLog log;
	FailTdx tdx;
	TdpMmu<FailTdx> mmu;
	VcpuRoots v;
	u64 private_pfn = 0;

	explicit FailTd(TdxVariants tv = {}) : tdx(b, env, pages, log, tv), mmu(td_mmu_config(spec::td_pwl4), tdx)
	{
		EXPECT_TRUE(tdx.create(hw::sim::MIN_NUM_TDCS_PAGES, 1, 1, sim_td_builder(m)));
		EXPECT_TRUE(tdx.finalize());
		PageFault f;
		f.addr = 0x1000;
		private_pfn = *pages.alloc_pfn();
		f.pfn = private_pfn;
		f.write = true;
		EXPECT_EQ(mmu.page_fault(v, f), RET_PF_FIXED);
	}
	// kvm_gmem_release() (v6.19: zap the private page while the HKID is
	// assigned), tdx_mmu_release_hkid(), kvm_mmu_unload(),
	// kvm_mmu_uninit_tdp_mmu().
	void zap_and_release_hkid()
	{
		if (!tdx.gmem_defer_removal())
			mmu.unmap_gfn_range(1, 2, KVM_MIRROR_ROOTS, true, false);
		tdx.release_hkid();
	}
	void uninit_mmu()
	{
		mmu.unload_roots(v);
		mmu.uninit();
	}
	static bool logged(const EventLog& l, std::string_view what)
	{
		for (const Event& e : l.events())
			if (e.kind == EventKind::kvm_bug && what == e.what)
				return true;
		return false;
	}
	bool warned(std::string_view what) const { return logged(log, what) || logged(mmu.log(), what); }
};

// tdx_reclaim_td_control_pages(): after __tdx_reclaim_page() of the TDR,
// tdh_phymem_page_wbinvd_tdr() -- TDH.PHYMEM.PAGE.WBINVD of the TDR with
// the global KeyID ("TDX module may access TDR while operating on TD").
TEST(TdVmTeardown, TdrWbinvdWithGlobalKeyIdAfterItsReclaim)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	ASSERT_TRUE(td.vm.finalize());
	td.fault(0x1000);
	const u64 tdr = td.vm.tdx().tdr_pa();
	td.vm.module().trace_enabled = true;
	ASSERT_TRUE(td.vm.destroy());
	const auto& t = td.vm.module().trace;
	ASSERT_GE(t.size(), 2u);
	EXPECT_EQ(t[t.size() - 2].leaf, Leaf::TDH_PHYMEM_PAGE_RECLAIM);
	EXPECT_EQ(t[t.size() - 2].rcx, tdr);
	EXPECT_EQ(t.back().leaf, Leaf::TDH_PHYMEM_PAGE_WBINVD);
	EXPECT_EQ(t.back().rcx, hw::mk_keyed_paddr(TDX_GLOBAL_KEYID, tdr, td.vm.module().x86_phys_bits()));
	EXPECT_EQ(t.back().status, tdx_abi::status::TDX_SUCCESS);
	EXPECT_EQ(td.vm.pages().free_count(), td.vm.pages().count());
}

// If that WBINVD fails (TDX_BUG_ON(err, TDH_PHYMEM_PAGE_WBINVD, kvm)) the
// function returns before __free_page(): the TDR page is leaked.
TEST(TdVmTeardown, TdrWbinvdFailureLeaksTheTdr)
{
	FailTd td;
	td.zap_and_release_hkid();
	td.uninit_mmu();
	td.b.fail(Leaf::TDH_PHYMEM_PAGE_WBINVD, tdx_abi::status::TDX_OPERAND_INVALID);
	EXPECT_FALSE(td.tdx.reclaim_control_pages());
	ASSERT_EQ(td.b.failed_rcx.size(), 1u);
	EXPECT_EQ(td.b.failed_rcx[0] & ((u64{1} << td.m.x86_phys_bits()) - 1), td.tdx.tdr_pa());
	EXPECT_TRUE(td.pages.used(td.tdx.tdr_pa() >> 12)); // leaked
	EXPECT_TRUE(td.tdx.vm_bugged());
	EXPECT_TRUE(td.warned("TDH.PHYMEM.PAGE.WBINVD"));
	// Everything else came back: all frames but the TDR and the private page.
	EXPECT_EQ(td.pages.free_count(), td.pages.count() - 2);
}

// smp_func_do_phymem_cache_wb(): a failed TDH.PHYMEM.CACHE.WB is
// TDX_BUG_ON(err, TDH_PHYMEM_CACHE_WB, NULL), a warning with no VM to bug;
// tdx_mmu_release_hkid() goes on to TDH.MNG.KEY.FREEID ("In the case of
// error in smp_func_do_phymem_cache_wb(), the following tdh_mng_key_freeid()
// will fail"), whose failure is TDX_BUG_ON(.., kvm): the HKID is leaked.
TEST(TdVmTeardown, CacheWbFailureWarnsAndKeyFreeIdStillRuns)
{
	FailTd td;
	td.mmu.unmap_gfn_range(1, 2, KVM_MIRROR_ROOTS, true, false);
	td.b.fail(Leaf::TDH_PHYMEM_CACHE_WB, tdx_abi::status::TDX_OPERAND_INVALID);
	EXPECT_FALSE(td.tdx.release_hkid());
	EXPECT_EQ(td.b.failed_rcx.size(), 1u);
	EXPECT_TRUE(td.warned("TDH.PHYMEM.CACHE.WB"));
	EXPECT_EQ(td.m.calls(Leaf::TDH_MNG_KEY_FREEID), 1u);
	EXPECT_TRUE(td.warned("TDH.MNG.KEY.FREEID"));
	EXPECT_TRUE(td.tdx.hkid_assigned());
	EXPECT_TRUE(td.tdx.vm_bugged()); // by KEY.FREEID, not by CACHE.WB
}

// tdx_sept_free_private_spt() -> tdx_reclaim_page() -> __tdx_reclaim_page():
// a failed RECLAIM is TDX_BUG_ON_3(.., NULL), a warning; handle_removed_pt()
// WARN_ONs the hook's error and sets sp->external_spt = NULL ("Intentionally
// leak the page").  Neither marks the VM bugged.
TEST(TdVmTeardown, SeptPageReclaimFailureWarnsAndLeaks)
{
	FailTd td;
	td.zap_and_release_hkid();
	ASSERT_FALSE(td.tdx.hkid_assigned());
	td.b.fail(Leaf::TDH_PHYMEM_PAGE_RECLAIM, tdx_abi::status::TDX_OPERAND_INVALID);
	td.uninit_mmu();
	ASSERT_EQ(td.b.failed_rcx.size(), 1u);
	const u64 leaked = td.b.failed_rcx[0] >> 12;
	EXPECT_TRUE(td.pages.used(leaked));
	EXPECT_TRUE(td.warned("TDH.PHYMEM.PAGE.RECLAIM"));
	EXPECT_TRUE(td.warned("free_external_spt failed: page leaked"));
	EXPECT_FALSE(td.tdx.vm_bugged());
	EXPECT_EQ(td.mmu.bugs(), 0u);
	// The other two S-EPT pages were reclaimed and freed.
	EXPECT_EQ(td.m.calls(Leaf::TDH_PHYMEM_PAGE_RECLAIM), 2u);
}

// Seed 004's tdx_sept_teardown_private_spte() RECLAIMs a private page with
// the same tdx_reclaim_page(): a failure warns and the page is not released.
TEST(TdVmTeardown, Seed004PrivatePageReclaimFailureWarnsAndLeaks)
{
	TdxVariants tv;
	tv.teardown = TdxVariants::Teardown::deferred_to_teardown;
	FailTd td(tv);
	td.zap_and_release_hkid();
	ASSERT_FALSE(td.tdx.hkid_assigned());
	td.b.fail(Leaf::TDH_PHYMEM_PAGE_RECLAIM, tdx_abi::status::TDX_OPERAND_INVALID);
	td.uninit_mmu();
	ASSERT_EQ(td.b.failed_rcx.size(), 1u);
	EXPECT_EQ(td.b.failed_rcx[0] >> 12, td.private_pfn);
	EXPECT_TRUE(td.tdx.released_pages().empty());
	EXPECT_TRUE(td.warned("TDH.PHYMEM.PAGE.RECLAIM"));
	EXPECT_FALSE(td.tdx.vm_bugged());
	EXPECT_EQ(td.mmu.bugs(), 0u);
}

// tdx_reclaim_td_control_pages() (and tdx_vcpu_free()) with the HKID still
// assigned: "tdx_mmu_release_hkid() failed to reclaim HKID ... Give up
// freeing TD pages.  As the function already warned, don't warn it again."
TEST(TdVmTeardown, ControlPagesWithHkidAssignedReturnSilently)
{
	Td td;
	ASSERT_TRUE(td.vm.create());
	const u64 free_before = td.vm.pages().free_count();
	EXPECT_FALSE(td.vm.tdx().reclaim_control_pages());
	EXPECT_FALSE(td.vm.tdx().vm_bugged());
	EXPECT_EQ(td.vm.tdx_log().count(EventKind::kvm_bug), 0u);
	EXPECT_EQ(td.calls(Leaf::TDH_PHYMEM_PAGE_RECLAIM), 0u);
	EXPECT_EQ(td.vm.pages().free_count(), free_before);
}

// A whole TD in a constant expression: build, finalize, AUG a private page,
// zap it (BLOCK, TRACK, REMOVE, WBINVD), destroy, everything reclaimed.
constexpr bool constexpr_td_scenario()
{
	hw::SimModule m(spec::td_pwl4, 0x100, 32);
	HostPages pages(0x100, 32);
	SimVcpuEnv env{&m};
	EventLog log;
	SimTdx tdx(m, env, pages, log);
	if (!tdx.create(hw::sim::MIN_NUM_TDCS_PAGES, 1, 1, sim_td_builder(m)) || !tdx.finalize())
		return false;
	TdpMmu<SimTdx> mmu(td_mmu_config(spec::td_pwl4), tdx);
	VcpuRoots v;
	PageFault f;
	f.addr = 0x1000;
	f.pfn = *pages.alloc_pfn();
	f.write = true;
	if (mmu.page_fault(v, f) != RET_PF_FIXED || m.sept_entry(0x1000, 0)->state != SeptState::PENDING)
		return false;
	mmu.unmap_gfn_range(1, 2, KVM_MIRROR_ROOTS, true, false);
	if (m.sept_entry(0x1000, 0)->state != SeptState::FREE || tdx.released_pages().size() != 1)
		return false;
	if (!tdx.release_hkid())
		return false;
	mmu.unload_roots(v);
	mmu.uninit();
	return tdx.reclaim_control_pages() && m.td().chldcnt == 0 && !tdx.vm_bugged() && mmu.bugs() == 0 &&
	       m.calls(Leaf::TDH_MEM_PAGE_REMOVE) == 1 && m.calls(Leaf::TDH_PHYMEM_PAGE_RECLAIM) == 3 + 1 + 6 + 1;
}
static_assert(constexpr_td_scenario());

} // namespace
