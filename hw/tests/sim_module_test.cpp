// SPDX-License-Identifier: GPL-2.0-only
//
// The simulated TDX module driven through the Linux-layout SEAMCALL wrappers,
// in the sequences KVM uses (Linux v6.19 arch/x86/kvm/vmx/tdx.c) and the
// orders the module enforces (intel/tdx-module TDX_1.5.01, files cited
// below).  Expected statuses are the literal values of the module's
// tdx_error_codes_defs.h with their operand IDs, never taken from the code
// under test.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "arborist/hw/seamcall.hpp"
#include "arborist/hw/sim_module.hpp"

namespace {

namespace spec = arborist::spec;
namespace hw = arborist::hw;
namespace tdx_abi = arborist::tdx_abi;
using tdx_abi::Leaf;
using hw::SimModule;
using spec::Lifecycle;
using spec::OpState;
using spec::PageType;
using spec::SeptState;
using u64 = std::uint64_t;

// --- expected statuses (tdx_error_codes_defs.h codes | operand IDs)
constexpr u64 SUCCESS = 0x0000000000000000ULL;
constexpr u64 OPERAND_INVALID_RAX = 0xC000010000000000ULL;
constexpr u64 OPERAND_INVALID_RCX = 0xC000010000000001ULL;
constexpr u64 OPERAND_INVALID_RDX = 0xC000010000000002ULL;
constexpr u64 ADDR_RANGE_ERROR_R8 = 0xC000010100000008ULL;
constexpr u64 BUSY_RCX = 0x8000020000000001ULL;
constexpr u64 BUSY_RDX = 0x8000020000000002ULL;
constexpr u64 BUSY_SEPT_TREE = 0x8000020000000092ULL;
constexpr u64 BUSY_TD_EPOCH = 0x80000200000000A9ULL;
constexpr u64 PREVIOUS_TLB_EPOCH_BUSY = 0x8000020100000000ULL;
constexpr u64 METADATA_INCORRECT_RCX = 0xC000030000000001ULL;
constexpr u64 METADATA_INCORRECT_RDX = 0xC000030000000002ULL;
constexpr u64 METADATA_INCORRECT_R8 = 0xC000030000000008ULL;
constexpr u64 TD_ASSOCIATED_PAGES_EXIST = 0xC000040000000000ULL;
constexpr u64 LIFECYCLE_STATE_INCORRECT = 0xC000060700000000ULL;
constexpr u64 OP_STATE_INCORRECT = 0xC000060800000000ULL;
constexpr u64 VCPU_STATE_INCORRECT = 0xC000070000000000ULL;
constexpr u64 VCPU_ASSOCIATED = 0x8000070100000000ULL;
constexpr u64 VCPU_NOT_ASSOCIATED = 0x8000070200000000ULL;
constexpr u64 TD_KEYS_NOT_CONFIGURED = 0x8000081000000000ULL;
constexpr u64 WBCACHE_NOT_COMPLETE = 0x8000081700000000ULL;
constexpr u64 NO_HKID_READY_TO_WBCACHE = 0x0000082100000000ULL;
constexpr u64 WBCACHE_RESUME_ERROR = 0xC000082300000000ULL;
constexpr u64 FLUSHVP_NOT_DONE = 0x8000082400000000ULL;
constexpr u64 EPT_WALK_FAILED_RCX = 0xC0000B0000000001ULL;
constexpr u64 GPA_RANGE_NOT_BLOCKED_RCX = 0xC0000B0600000001ULL;
constexpr u64 TLB_TRACKING_NOT_DONE_RCX = 0xC0000B0800000001ULL;
constexpr u64 EPT_INVALID_PROMOTE_CONDITIONS_RCX = 0xC0000B0900000001ULL;
constexpr u64 EPT_ENTRY_STATE_INCORRECT_RCX = 0xC0000B0D00000001ULL;
constexpr u64 EPT_PAGE_NOT_FREE_RCX = 0xC0000B0E00000001ULL;

// --- the machine: a 4 MiB TDMR at 2 GiB (2M-aligned)
constexpr u64 TDMR_BASE_PFN = 0x80000;
constexpr u64 TDMR_FRAMES = 1024;
constexpr unsigned PHYS_BITS = 46;
constexpr u64 HKID = 5;

constexpr u64 pa(u64 frame)
{
	return (TDMR_BASE_PFN + frame) << 12;
}

constexpr u64 pfn(u64 hpa)
{
	return hpa >> 12;
}

// Frame layout: TDR, 6 TDCS pages, 2 TDVPRs, S-EPT pages from 16, 4K data
// pages from 64, a 2M data page at 512.
constexpr u64 TDR = pa(0);
constexpr u64 TDCS = pa(1);
constexpr u64 TDVPR0 = pa(7);
constexpr u64 TDVPR1 = pa(8);
constexpr u64 SEPT_POOL = pa(16);
constexpr u64 DATA = pa(64);
constexpr u64 DATA_2M = pa(512);
constexpr u64 SOURCE = 0x1000; // a shared page outside the TDMR, KeyID 0

// Guest addresses: a 4K page and a 2M-aligned range, same 1G region.
constexpr u64 GPA = 0x40001000;
constexpr u64 GPA_2M = 0x40200000;

constexpr u64 level_bytes(int level)
{
	return u64{4096} << (9 * level);
}

constexpr u64 align_down(u64 gpa, int level)
{
	return gpa & ~(level_bytes(level) - 1);
}

template <class E>
constexpr u64 w(E e)
{
	return static_cast<u64>(e);
}

// The extended error output of one call.
struct Ext {
	u64 rcx = ~u64{0};
	u64 rdx = ~u64{0};
};

class SimTd : public ::testing::TestWithParam<spec::TdGeometry> {
protected:
	SimModule m{GetParam(), TDMR_BASE_PFN, TDMR_FRAMES, PHYS_BITS};
	u64 next_sept = SEPT_POOL;
	Ext ext;

	void SetUp() override
	{
		ASSERT_TRUE(m.build_td(TDR, HKID, TDCS));
		ASSERT_TRUE(m.add_vcpu(TDVPR0).has_value());
		ASSERT_TRUE(m.add_vcpu(TDVPR1).has_value());
	}

	int pwl() const { return static_cast<int>(GetParam().pwl); }

	u64 alloc_sept_page()
	{
		const u64 p = next_sept;
		next_sept += 4096;
		return p;
	}

	// --- the wrappers as KVM calls them (Linux v6.19 tdx.c)
	u64 sept_add(u64 gpa, int level, u64 page)
	{
		return hw::tdh_mem_sept_add(m, TDR, align_down(gpa, level), level, page, &ext.rcx, &ext.rdx);
	}
	u64 page_add(u64 gpa, u64 page)
	{
		return hw::tdh_mem_page_add(m, TDR, gpa, page, SOURCE, &ext.rcx, &ext.rdx);
	}
	u64 aug(u64 gpa, int level, u64 page)
	{
		return hw::tdh_mem_page_aug(m, TDR, gpa, level, page, &ext.rcx, &ext.rdx);
	}
	u64 block(u64 gpa, int level)
	{
		return hw::tdh_mem_range_block(m, TDR, align_down(gpa, level), level, &ext.rcx, &ext.rdx);
	}
	u64 unblock(u64 gpa, int level)
	{
		return hw::tdh_mem_range_unblock(m, TDR, align_down(gpa, level), level, &ext.rcx, &ext.rdx);
	}
	u64 track() { return hw::tdh_mem_track(m, TDR); }
	u64 remove(u64 gpa, int level)
	{
		return hw::tdh_mem_page_remove(m, TDR, gpa, static_cast<u64>(level), &ext.rcx, &ext.rdx);
	}
	u64 sept_remove(u64 gpa, int level)
	{
		return hw::tdh_mem_sept_remove(m, TDR, align_down(gpa, level), level, &ext.rcx, &ext.rdx);
	}
	u64 demote(u64 gpa, int level, u64 page)
	{
		return hw::tdh_mem_page_demote(m, TDR, gpa, level, page, &ext.rcx, &ext.rdx);
	}
	u64 promote(u64 gpa, int level)
	{
		return hw::tdh_mem_page_promote(m, TDR, gpa, level, &ext.rcx, &ext.rdx);
	}
	u64 finalize() { return hw::tdh_mr_finalize(m, TDR); }
	u64 enter(u64 tdvpr)
	{
		hw::TdxModuleArgs args{};
		return hw::tdh_vp_enter(m, tdvpr, &args);
	}

	// SEPT.ADD from the root's level down to `lowest`, where not linked yet.
	void link_path(u64 gpa, int lowest)
	{
		for (int l = pwl() - 1; l >= lowest; l--) {
			if (state_at(gpa, l) != SeptState::FREE)
				continue;
			ASSERT_EQ(sept_add(gpa, l, alloc_sept_page()), SUCCESS) << "level " << l;
		}
	}

	void run_td()
	{
		ASSERT_EQ(finalize(), SUCCESS);
	}

	SeptState state_at(u64 gpa, int level) const
	{
		const auto e = m.sept_entry(gpa, static_cast<unsigned>(level));
		return e ? e->state : SeptState::REMOVED; // REMOVED never occurs: "not reached"
	}

	u64 hpa_at(u64 gpa, int level) const { return m.sept_entry(gpa, static_cast<unsigned>(level))->hpa; }
	PageType pt(u64 hpa) const { return m.pamt(pfn(hpa))->pt; }
};

std::string geometry_name(const ::testing::TestParamInfo<spec::TdGeometry>& info)
{
	return "pwl" + std::to_string(info.param.pwl);
}

INSTANTIATE_TEST_SUITE_P(Geometry, SimTd, ::testing::Values(spec::td_pwl4, spec::td_pwl5), geometry_name);

// --- building the TD ------------------------------------------------------

TEST_P(SimTd, BuiltTdIsInitializedWithControlPagesCounted)
{
	EXPECT_EQ(m.td().lifecycle, w(Lifecycle::TD_KEYS_CONFIGURED));
	EXPECT_EQ(m.td().op_state, w(OpState::INITIALIZED));
	EXPECT_TRUE(m.td().tdcs_allocated);
	EXPECT_EQ(m.td().chldcnt, 8u); // 6 TDCS + 2 TDVPR (pamt_manager.c)
	EXPECT_EQ(m.td().num_vcpus, 2u);
	EXPECT_EQ(m.td().num_assoc_vcpus, 2u);
	EXPECT_EQ(m.td().epoch.td_epoch, 1u); // TDH.MNG.INIT (tdh_mng_init.c)
	EXPECT_EQ(m.sept_pages(), 1u);        // the root, TDCS page 3
	EXPECT_EQ(m.pamt(pfn(TDR))->pt, PageType::PT_TDR);
	EXPECT_EQ(m.pamt(pfn(TDCS))->pt, PageType::PT_TDCX);
	EXPECT_EQ(m.pamt(pfn(TDVPR1))->pt, PageType::PT_TDVPR);
	EXPECT_FALSE(m.create_td(pa(100), 6)) << "one TD per module";
}

// --- the build-time image: SEPT.ADD, PAGE.ADD, MR.EXTEND, MR.FINALIZE ----------

TEST_P(SimTd, SeptAddLinksAFreshPageAtEachLevel)
{
	const u64 page = next_sept;

	ASSERT_EQ(sept_add(GPA, pwl() - 1, alloc_sept_page()), SUCCESS);
	EXPECT_EQ(ext.rcx, 0u);
	EXPECT_EQ(ext.rdx, 0u);
	EXPECT_EQ(state_at(GPA, pwl() - 1), SeptState::NL_MAPPED);
	EXPECT_EQ(hpa_at(GPA, pwl() - 1), page);
	EXPECT_EQ(pt(page), PageType::PT_EPT);
	EXPECT_EQ(m.pamt(pfn(page))->owner, TDR);
	EXPECT_EQ(state_at(GPA, pwl() - 2), SeptState::FREE);
	link_path(GPA, 1); // the levels below; the first one is already there
}

TEST_P(SimTd, PageAddBeforeFinalizeThenFinalizeThenAugAtRuntime)
{
	link_path(GPA, 1);
	const u64 linked = 8 + static_cast<u64>(pwl() - 1);
	EXPECT_EQ(m.td().chldcnt, linked);

	ASSERT_EQ(page_add(GPA, DATA), SUCCESS);
	EXPECT_EQ(state_at(GPA, 0), SeptState::MAPPED);
	EXPECT_EQ(hpa_at(GPA, 0), DATA);
	EXPECT_EQ(pt(DATA), PageType::PT_REG);
	EXPECT_EQ(m.td().chldcnt, linked + 1);

	u64 e1 = 0, e2 = 0;
	EXPECT_EQ(hw::tdh_mr_extend(m, TDR, GPA + 256, &e1, &e2), SUCCESS);
	EXPECT_EQ(hw::tdh_mr_extend(m, TDR, GPA + 4096, &e1, &e2), 0xC0000B0300000001ULL)
		<< "EPT_ENTRY_NOT_PRESENT|RCX on an unmapped GPA (tdh_mr_extend.c)";

	run_td();
	EXPECT_EQ(m.td().op_state, w(OpState::RUNNABLE));
	EXPECT_EQ(page_add(GPA + 4096, DATA + 4096), OP_STATE_INCORRECT) << "PAGE.ADD is build-time only";

	ASSERT_EQ(aug(GPA + 4096, 0, DATA + 4096), SUCCESS);
	EXPECT_EQ(state_at(GPA + 4096, 0), SeptState::PENDING);
	EXPECT_EQ(pt(DATA + 4096), PageType::PT_REG);
	EXPECT_EQ(m.td().chldcnt, linked + 2);
}

TEST_P(SimTd, FinalizeNeedsAVcpu)
{
	SimModule bare(GetParam(), TDMR_BASE_PFN, TDMR_FRAMES, PHYS_BITS);
	ASSERT_TRUE(bare.build_td(TDR, HKID, TDCS));
	EXPECT_EQ(hw::tdh_mr_finalize(bare, TDR), 0xC000060900000000ULL); // TDX_NO_VCPUS
	EXPECT_EQ(bare.td().op_state, w(OpState::INITIALIZED));
}

// --- the vCPU's logical processor: TDH.VP.INIT associates it with its LP
// (tdh_vp_init.c associate_vcpu_initial()), TDH.VP.ENTER only on that LP or
// when unassociated (helpers.c associate_vcpu(): TDX_VCPU_ASSOCIATED),
// TDH.VP.FLUSH only on that LP (tdh_vp_flush.c: TDX_VCPU_NOT_ASSOCIATED) -----

TEST_P(SimTd, AVcpuMovesToAnotherLpOnlyAfterVpFlushOnItsOwn)
{
	run_td();
	EXPECT_EQ(m.vcpu(0).assoc_lp, 0u) << "add_vcpu() initialized it on LP 0";
	m.lp = 1;
	EXPECT_EQ(enter(TDVPR0), VCPU_ASSOCIATED);
	EXPECT_FALSE(m.vcpu(0).in_guest);
	EXPECT_EQ(hw::tdh_vp_flush(m, TDVPR0), VCPU_NOT_ASSOCIATED) << "flushed on another LP";
	m.lp = 0;
	ASSERT_EQ(hw::tdh_vp_flush(m, TDVPR0), SUCCESS);
	EXPECT_FALSE(m.vcpu(0).associated);
	EXPECT_EQ(m.td().num_assoc_vcpus, 1u);
	m.lp = 1;
	ASSERT_EQ(enter(TDVPR0), SUCCESS) << "an unassociated vCPU associates with the LP it enters on";
	EXPECT_EQ(m.vcpu(0).assoc_lp, 1u);
	EXPECT_EQ(m.td().num_assoc_vcpus, 2u);
	ASSERT_TRUE(m.td_exit(0));
	ASSERT_EQ(enter(TDVPR0), SUCCESS) << "again on the same LP";
	ASSERT_TRUE(m.td_exit(0));
	m.lp = 0;
	EXPECT_EQ(hw::tdh_vp_flush(m, TDVPR0), VCPU_NOT_ASSOCIATED);
	EXPECT_EQ(hw::tdh_mng_vpflushdone(m, TDR), FLUSHVP_NOT_DONE);
	EXPECT_EQ(hw::tdh_vp_flush(m, TDVPR1), SUCCESS);
	m.lp = 1;
	EXPECT_EQ(hw::tdh_vp_flush(m, TDVPR0), SUCCESS);
	EXPECT_EQ(hw::tdh_mng_vpflushdone(m, TDR), SUCCESS);
}

TEST_P(SimTd, VpInitAssociatesWithItsLp)
{
	SimModule bare(GetParam(), TDMR_BASE_PFN, TDMR_FRAMES, PHYS_BITS);
	ASSERT_TRUE(bare.build_td(TDR, HKID, TDCS));
	ASSERT_TRUE(bare.create_vcpu(TDVPR0).has_value());
	EXPECT_FALSE(bare.vcpu(0).associated) << "TDH.VP.CREATE does not associate";
	EXPECT_EQ(bare.td().num_vcpus, 0u);
	EXPECT_EQ(hw::tdh_mr_finalize(bare, TDR), 0xC000060900000000ULL) << "TDX_NO_VCPUS: not initialized";
	bare.lp = 3;
	ASSERT_TRUE(bare.init_vcpu(TDVPR0));
	EXPECT_FALSE(bare.init_vcpu(TDVPR0)) << "initialized once";
	EXPECT_EQ(bare.vcpu(0).assoc_lp, 3u);
	EXPECT_EQ(bare.td().num_vcpus, 1u);
	EXPECT_EQ(bare.td().num_assoc_vcpus, 1u);
	ASSERT_TRUE(bare.create_vcpu(TDVPR1).has_value());
	ASSERT_EQ(hw::tdh_mr_finalize(bare, TDR), SUCCESS);
	hw::TdxModuleArgs args{};
	EXPECT_EQ(hw::tdh_vp_enter(bare, TDVPR1, &args), VCPU_STATE_INCORRECT) << "a vCPU never initialized";
	bare.lp = 0;
	EXPECT_EQ(hw::tdh_vp_enter(bare, TDVPR0, &args), VCPU_ASSOCIATED);
}

// status_with(): the status of a call, with a fault, without a change.
TEST_P(SimTd, StatusWithChangesNothing)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	ASSERT_EQ(block(GPA, 0), SUCCESS);
	const SeptState blocked = state_at(GPA, 0);
	const u64 calls = m.total_calls();
	hw::TdxModuleArgs args{};
	args.rcx = GPA;
	args.rdx = TDR;
	const u64 fn = static_cast<u64>(tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE);
	EXPECT_EQ(m.status_with(fn, args, spec::no_fault), TLB_TRACKING_NOT_DONE_RCX);
	EXPECT_EQ(m.status_with(fn, args, spec::faults::skip_tracking_check), SUCCESS);
	EXPECT_EQ(state_at(GPA, 0), blocked) << "the REMOVE that would succeed was not committed";
	EXPECT_EQ(pt(DATA), PageType::PT_REG);
	EXPECT_EQ(m.total_calls(), calls);
	EXPECT_EQ(hw::tdh_mem_track(m, TDR), SUCCESS);
	hw::TdxModuleArgs enter_args{};
	enter_args.rcx = TDVPR0;
	EXPECT_EQ(m.status_with(static_cast<u64>(tdx_abi::Leaf::TDH_VP_ENTER), enter_args, spec::no_fault), SUCCESS);
	EXPECT_FALSE(m.vcpu(0).in_guest);
	args.rcx = TDR;
	EXPECT_EQ(m.status_with(static_cast<u64>(tdx_abi::Leaf::TDH_MNG_KEY_FREEID), args, spec::no_fault),
		  LIFECYCLE_STATE_INCORRECT);
	EXPECT_EQ(m.status_with(static_cast<u64>(tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE), args, spec::no_fault), FLUSHVP_NOT_DONE);
	EXPECT_EQ(m.status_with(static_cast<u64>(tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE), args, spec::faults::vpflushdone_with_vcpus),
		  SUCCESS);
	EXPECT_EQ(m.td().lifecycle, w(Lifecycle::TD_KEYS_CONFIGURED));
}

// --- zapping a leaf: BLOCK, TRACK, REMOVE (tdh_mem_range_block.c, tdh_mem_track.c, tdh_mem_page_remove.c)

TEST_P(SimTd, BlockTrackRemoveReturnsThePageAndRestoresTheCounts)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	const u64 before = m.td().chldcnt;

	EXPECT_EQ(remove(GPA, 0), GPA_RANGE_NOT_BLOCKED_RCX) << "RUNNABLE requires BLOCK first";
	ASSERT_EQ(block(GPA, 0), SUCCESS);
	EXPECT_EQ(state_at(GPA, 0), SeptState::PENDING_BLOCKED);
	EXPECT_EQ(m.pamt(pfn(DATA))->bepoch, 1u) << "bepoch := td_epoch";
	EXPECT_EQ(block(GPA, 0), 0x00000B0700000001ULL) << "GPA_RANGE_ALREADY_BLOCKED|RCX";
	EXPECT_EQ(remove(GPA, 0), TLB_TRACKING_NOT_DONE_RCX) << "bepoch == td_epoch";

	ASSERT_EQ(track(), SUCCESS);
	EXPECT_EQ(m.td().epoch.td_epoch, 2u);
	ASSERT_EQ(remove(GPA, 0), SUCCESS);
	EXPECT_EQ(ext.rcx, DATA) << "RCX returns the removed page (tdh_mem_page_remove.c)";
	EXPECT_EQ(ext.rdx, 0u);
	EXPECT_EQ(state_at(GPA, 0), SeptState::FREE);
	EXPECT_EQ(pt(DATA), PageType::PT_NDA);
	EXPECT_EQ(m.pamt(pfn(DATA))->owner, 0u);
	EXPECT_EQ(m.td().chldcnt, before - 1);

	// KVM then writes the page back under the TD's HKID (tdh_phymem_page_wbinvd.c).
	EXPECT_EQ(hw::tdh_phymem_page_wbinvd_hkid(m, HKID, DATA), SUCCESS);
	EXPECT_EQ(hw::tdh_phymem_page_wbinvd_hkid(m, HKID, hpa_at(GPA, 1)), METADATA_INCORRECT_RCX)
		<< "a PT_EPT page is not flushable";
}

TEST_P(SimTd, RemoveBeforeFinalizeNeedsNoBlock)
{
	link_path(GPA, 1);
	ASSERT_EQ(page_add(GPA, DATA), SUCCESS);
	EXPECT_EQ(remove(GPA, 0), SUCCESS) << "helpers.c is_tlb_tracked(): INITIALIZED needs neither BLOCK nor TRACK";
	EXPECT_EQ(ext.rcx, DATA);
}

// --- contention: BUSY, kick, retry once (Linux v6.19 tdx.c tdh_do_no_vcpus()) ---

TEST_P(SimTd, InjectedBusyFailsOnceWithTheOperandThenTheRetrySucceeds)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	ASSERT_EQ(enter(TDVPR0), SUCCESS);

	// tdh_do_no_vcpus(): BUSY, kick every vCPU out of the guest, retry once.
	m.inject_busy.tree = true;
	const u64 err = block(GPA, 0);
	EXPECT_EQ(err, BUSY_SEPT_TREE);
	EXPECT_TRUE(tdx_abi::tdx_operand_busy(err));
	EXPECT_EQ(state_at(GPA, 0), SeptState::PENDING);
	ASSERT_TRUE(m.td_exit(0)); // KVM_REQ_OUTSIDE_GUEST_MODE
	EXPECT_EQ(block(GPA, 0), SUCCESS) << "the injection is consumed by one call";

	m.inject_busy.epoch = true;
	EXPECT_EQ(track(), BUSY_TD_EPOCH);
	EXPECT_EQ(track(), SUCCESS);

	m.inject_busy.entry = true;
	EXPECT_EQ(remove(GPA, 0), BUSY_RCX);
	EXPECT_EQ(state_at(GPA, 0), SeptState::PENDING_BLOCKED);
	EXPECT_EQ(remove(GPA, 0), SUCCESS);
	EXPECT_EQ(ext.rcx, DATA);
}

TEST_P(SimTd, InstallBusyLeavesNothingBehind)
{
	m.inject_busy.pamt = true;
	EXPECT_EQ(sept_add(GPA, pwl() - 1, SEPT_POOL), 0x8000020000000008ULL) << "BUSY|R8 (new page)";
	EXPECT_EQ(state_at(GPA, pwl() - 1), SeptState::FREE);
	EXPECT_EQ(pt(SEPT_POOL), PageType::PT_NDA);
	EXPECT_EQ(m.td().chldcnt, 8u);
	EXPECT_EQ(sept_add(GPA, pwl() - 1, SEPT_POOL), SUCCESS);
}

TEST_P(SimTd, ExclusiveTdrLeavesAreBusyWhileAVcpuRuns)
{
	run_td();
	ASSERT_EQ(enter(TDVPR0), SUCCESS);
	EXPECT_EQ(hw::tdh_mng_vpflushdone(m, TDR), BUSY_RCX) << "tdx_locks.h: TDR held shared by VP.ENTER";
	EXPECT_EQ(track(), SUCCESS) << "TRACK takes the TDR shared";
	ASSERT_TRUE(m.td_exit(0));
	EXPECT_EQ(hw::tdh_mng_vpflushdone(m, TDR), FLUSHVP_NOT_DONE);
}

// --- TD entry and the epoch (tdh_vp_enter.c, helpers.c) -----------------------------------

TEST_P(SimTd, VpEnterNeedsARunnableTdAndCountsTheEpoch)
{
	EXPECT_EQ(enter(TDVPR0), OP_STATE_INCORRECT) << "VP.ENTER needs RUNNABLE";
	EXPECT_EQ(enter(pa(200)), METADATA_INCORRECT_RCX) << "not a TDVPR";
	run_td();
	ASSERT_EQ(enter(TDVPR0), SUCCESS);
	EXPECT_TRUE(m.vcpu(0).in_guest);
	EXPECT_EQ(m.vcpu(0).vcpu_epoch, 1u);
	EXPECT_EQ(m.td().epoch.refcount1, 1u);
	EXPECT_EQ(m.td().epoch.refcount0, 0u);
	EXPECT_EQ(enter(TDVPR0), BUSY_RCX) << "already in the guest";
	ASSERT_TRUE(m.td_exit(0));
	EXPECT_FALSE(m.td_exit(0));
	EXPECT_EQ(m.td().epoch.refcount1, 0u);
}

TEST_P(SimTd, TrackWithAVcpuInThePreviousEpochIsBusy)
{
	run_td();
	ASSERT_EQ(enter(TDVPR0), SUCCESS); // refcount[1]++
	ASSERT_EQ(track(), SUCCESS);       // td_epoch 2: vCPU 0 is in the previous epoch
	EXPECT_EQ(track(), PREVIOUS_TLB_EPOCH_BUSY);
	EXPECT_EQ(m.td().epoch.td_epoch, 2u);
	ASSERT_EQ(enter(TDVPR1), SUCCESS); // enters epoch 2: does not hold TRACK up
	EXPECT_EQ(m.vcpu(1).vcpu_epoch, 2u);
	ASSERT_TRUE(m.td_exit(0));
	EXPECT_EQ(track(), SUCCESS);
	EXPECT_EQ(m.td().epoch.td_epoch, 3u);
	EXPECT_EQ(track(), PREVIOUS_TLB_EPOCH_BUSY) << "vCPU 1 entered in epoch 2";
}

TEST_P(SimTd, RemoveWaitsForVcpusOfTheBlockingEpoch)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	ASSERT_EQ(enter(TDVPR0), SUCCESS);
	ASSERT_EQ(block(GPA, 0), SUCCESS); // bepoch 1, vCPU 0 inside since epoch 1
	ASSERT_EQ(track(), SUCCESS);
	EXPECT_EQ(remove(GPA, 0), TLB_TRACKING_NOT_DONE_RCX) << "refcount[bepoch & 1] != 0";
	ASSERT_TRUE(m.td_exit(0));
	EXPECT_EQ(remove(GPA, 0), SUCCESS);
}

// --- SEPT.REMOVE and the child check (tdh_mem_sept_remove.c) -------------------------

TEST_P(SimTd, SeptRemoveNeedsAnAllFreeChildPage)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	const u64 table = hpa_at(GPA, 1);
	const u64 before = m.td().chldcnt;

	ASSERT_EQ(block(GPA, 1), SUCCESS);
	EXPECT_EQ(state_at(GPA, 1), SeptState::NL_BLOCKED);
	ASSERT_EQ(track(), SUCCESS);
	EXPECT_EQ(sept_remove(GPA, 1), EPT_PAGE_NOT_FREE_RCX);
	EXPECT_EQ(remove(GPA, 0), EPT_WALK_FAILED_RCX) << "children of an NL_BLOCKED entry are out of reach";

	// tdh_mem_sept_remove.c: remove the children, then block, track, SEPT.REMOVE.
	ASSERT_EQ(unblock(GPA, 1), SUCCESS);
	EXPECT_EQ(state_at(GPA, 1), SeptState::NL_MAPPED);
	ASSERT_EQ(block(GPA, 0), SUCCESS);
	ASSERT_EQ(track(), SUCCESS);
	ASSERT_EQ(remove(GPA, 0), SUCCESS);
	ASSERT_EQ(block(GPA, 1), SUCCESS);
	ASSERT_EQ(track(), SUCCESS);
	ASSERT_EQ(sept_remove(GPA, 1), SUCCESS);
	EXPECT_EQ(ext.rcx, table) << "RCX returns the S-EPT page";
	EXPECT_EQ(state_at(GPA, 1), SeptState::FREE);
	EXPECT_EQ(pt(table), PageType::PT_NDA);
	EXPECT_EQ(m.td().chldcnt, before - 2);
	EXPECT_EQ(m.sept_pages(), static_cast<std::size_t>(pwl() - 1));
	EXPECT_EQ(aug(GPA, 0, DATA), EPT_WALK_FAILED_RCX);
}

// --- huge pages: AUG 2M, DEMOTE, PROMOTE (tdh_mem_page_aug.c, _demote.c, _promote.c) ---

class SimTdHuge : public SimTd {
protected:
	void SetUp() override
	{
		SimTd::SetUp();
		link_path(GPA_2M, 2);
		run_td();
		ASSERT_EQ(aug(GPA_2M, 1, DATA_2M), SUCCESS);
	}

	void block_and_track(int level)
	{
		ASSERT_EQ(block(GPA_2M, level), SUCCESS);
		ASSERT_EQ(track(), SUCCESS);
	}
};

INSTANTIATE_TEST_SUITE_P(Geometry, SimTdHuge, ::testing::Values(spec::td_pwl4, spec::td_pwl5), geometry_name);

TEST_P(SimTdHuge, Aug2MIsOnePamtEntryCounting512)
{
	EXPECT_EQ(state_at(GPA_2M, 1), SeptState::PENDING);
	EXPECT_EQ(hpa_at(GPA_2M, 1), DATA_2M);
	const auto head = m.pamt(pfn(DATA_2M));
	EXPECT_EQ(head->pt, PageType::PT_REG);
	EXPECT_EQ(head->size, 1u);
	EXPECT_EQ(m.pamt(pfn(DATA_2M) + 77)->head_pfn, pfn(DATA_2M)) << "covered frames belong to the 2M page";
	EXPECT_EQ(m.td().chldcnt, 8u + static_cast<u64>(pwl() - 2) + 512);
}

TEST_P(SimTdHuge, DemoteNeedsTrackingThenSplitsIntoUnblockedChildren)
{
	const u64 table = next_sept;
	const u64 before = m.td().chldcnt;

	ASSERT_EQ(block(GPA_2M, 1), SUCCESS);
	EXPECT_EQ(demote(GPA_2M, 1, table), TLB_TRACKING_NOT_DONE_RCX) << "the LKML-reported failure";
	ASSERT_EQ(track(), SUCCESS);
	ASSERT_EQ(demote(GPA_2M, 1, alloc_sept_page()), SUCCESS);

	EXPECT_EQ(state_at(GPA_2M, 1), SeptState::NL_MAPPED);
	EXPECT_EQ(hpa_at(GPA_2M, 1), table);
	EXPECT_EQ(pt(table), PageType::PT_EPT);
	for (u64 i : {u64{0}, u64{1}, u64{300}, u64{511}}) {
		EXPECT_EQ(state_at(GPA_2M + i * 4096, 0), SeptState::PENDING) << "child " << i;
		EXPECT_EQ(hpa_at(GPA_2M + i * 4096, 0), DATA_2M + i * 4096) << "child " << i;
		const auto p = m.pamt(pfn(DATA_2M) + i);
		EXPECT_EQ(p->pt, PageType::PT_REG);
		EXPECT_EQ(p->size, 0u);
		EXPECT_EQ(p->bepoch, 0u);
		EXPECT_EQ(p->head_pfn, pfn(DATA_2M) + i);
	}
	EXPECT_EQ(m.td().chldcnt, before + 1);
	EXPECT_EQ(m.sept_pages(), static_cast<std::size_t>(pwl())) << "root, pwl - 2 linked, the demoted table";
}

TEST_P(SimTdHuge, PromoteCollapsesTheChildrenBack)
{
	const u64 table = next_sept;

	block_and_track(1);
	ASSERT_EQ(demote(GPA_2M, 1, alloc_sept_page()), SUCCESS);
	const u64 before = m.td().chldcnt;
	const std::size_t pages = m.sept_pages();
	EXPECT_EQ(promote(GPA_2M, 1), GPA_RANGE_NOT_BLOCKED_RCX);
	block_and_track(1);
	ASSERT_EQ(promote(GPA_2M, 1), SUCCESS);

	EXPECT_EQ(ext.rcx, table) << "RCX returns the freed S-EPT page";
	EXPECT_EQ(state_at(GPA_2M, 1), SeptState::PENDING);
	EXPECT_EQ(hpa_at(GPA_2M, 1), DATA_2M);
	EXPECT_EQ(pt(table), PageType::PT_NDA);
	EXPECT_EQ(m.pamt(pfn(DATA_2M))->size, 1u);
	EXPECT_EQ(m.pamt(pfn(DATA_2M) + 511)->head_pfn, pfn(DATA_2M));
	EXPECT_EQ(m.td().chldcnt, before - 1);
	EXPECT_EQ(m.sept_pages(), pages - 1);
	// The freed page is an ordinary free page again: SEPT.ADD may reuse it.
	ASSERT_EQ(sept_add(GPA_2M + level_bytes(1), 1, table), SUCCESS);
	EXPECT_EQ(state_at(GPA_2M + level_bytes(1), 0), SeptState::FREE);
}

TEST_P(SimTdHuge, PromoteRefusesAHole)
{
	block_and_track(1);
	ASSERT_EQ(demote(GPA_2M, 1, alloc_sept_page()), SUCCESS);
	const u64 hole = GPA_2M + 5 * 4096;
	ASSERT_EQ(block(hole, 0), SUCCESS);
	ASSERT_EQ(track(), SUCCESS);
	ASSERT_EQ(remove(hole, 0), SUCCESS);
	block_and_track(1);
	EXPECT_EQ(promote(GPA_2M, 1), EPT_INVALID_PROMOTE_CONDITIONS_RCX);
}

TEST_P(SimTdHuge, WalkFailureReportsTheLargeLeaf)
{
	EXPECT_EQ(aug(GPA_2M + 4096, 0, DATA), EPT_WALK_FAILED_RCX);
	// sept_manager.c secure_ept_walk(): the last entry read, a 2M PENDING leaf, level 1.
	EXPECT_EQ(ext.rcx, DATA_2M | 0x80000000000000F0ULL); // SVE | PS | IPAT | MT=WB, RWX=0
	EXPECT_EQ(ext.rdx, 0x201u);                           // level 1 | PENDING (2) << 8
	EXPECT_EQ(remove(GPA_2M, 0), EPT_WALK_FAILED_RCX) << "tdh_mem_page_remove.c: level 0 on a 2M leaf";
}

// --- register decoding: page info, TDR, R8 (tdx_api_defs.h, helpers.c) ----------------

TEST_P(SimTd, BadPageInfoIsOperandInvalidRcx)
{
	const int top = pwl() - 1;
	u64 e1 = 0, e2 = 0;
	const u64 shared = u64{1} << GetParam().shared_gpa_bit();

	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, 0x8, top, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RCX) << "bit 3";
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, u64{1} << 52, top, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RCX)
		<< "bit 52";
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, 0x200000, top, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RCX)
		<< "misaligned for the level";
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, shared, top, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RCX)
		<< "shared bit";
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, 0, top + 1, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RCX)
		<< "level above the root";
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, 0, 0, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RCX) << "level 0";
	EXPECT_EQ(m.td().chldcnt, 8u);
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, 0, top, SEPT_POOL, &e1, &e2), SUCCESS);
}

TEST(SimModuleGpaw, Pwl4RejectsGpaBit48)
{
	SimModule m(spec::td_pwl4, TDMR_BASE_PFN, TDMR_FRAMES, PHYS_BITS);
	ASSERT_TRUE(m.build_td(TDR, HKID, TDCS));
	u64 e1 = 0, e2 = 0;
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR, u64{1} << 48, 3, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RCX);

	SimModule m5(spec::td_pwl5, TDMR_BASE_PFN, TDMR_FRAMES, PHYS_BITS);
	ASSERT_TRUE(m5.build_td(TDR, HKID, TDCS));
	EXPECT_EQ(hw::tdh_mem_sept_add(m5, TDR, u64{1} << 48, 4, SEPT_POOL, &e1, &e2), SUCCESS)
		<< "GPAW 52 with PWL 5";
}

TEST_P(SimTd, TdrOperandIsCheckedFirst)
{
	u64 e1 = 0, e2 = 0;
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDCS, 0, pwl() - 1, SEPT_POOL, &e1, &e2), METADATA_INCORRECT_RDX);
	EXPECT_EQ(hw::tdh_mem_sept_add(m, TDR + 8, 0, pwl() - 1, SEPT_POOL, &e1, &e2), OPERAND_INVALID_RDX)
		<< "reserved RDX bit 3";
	EXPECT_EQ(hw::tdh_mem_track(m, pa(TDMR_FRAMES + 1)), 0xC000010100000001ULL) << "ADDR_RANGE_ERROR|RCX";
	m.inject_busy.tdr = true;
	EXPECT_EQ(sept_add(GPA, pwl() - 1, SEPT_POOL), BUSY_RDX);
}

TEST_P(SimTd, AugOfAPageThatIsAlreadyRegIsMetadataIncorrectR8)
{
	link_path(GPA, 1);
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	EXPECT_EQ(aug(GPA + 4096, 0, DATA), METADATA_INCORRECT_R8);
	EXPECT_EQ(state_at(GPA + 4096, 0), SeptState::FREE);
	EXPECT_EQ(sept_add(GPA_2M, 1, TDR), METADATA_INCORRECT_R8) << "a TDR is no new S-EPT page";
}

TEST_P(SimTd, Aug2MOverARangeHoldingA4KPageIsMetadataIncorrectR8)
{
	link_path(GPA_2M, 2);
	link_path(GPA, 1);
	ASSERT_EQ(aug(GPA, 0, DATA_2M + 3 * 4096), SUCCESS);
	EXPECT_EQ(aug(GPA_2M, 1, DATA_2M), METADATA_INCORRECT_R8) << "tdh_mem_page_aug.c: all 512 4K entries PT_NDA";
	EXPECT_EQ(aug(GPA_2M, 1, DATA_2M + 4096), 0xC000010000000008ULL) << "OPERAND_INVALID|R8: not 2M-aligned";
}

TEST_P(SimTd, AnR8OutsideTheTdmrIsReportedOnlyWhenTheModuleReachesIt)
{
	link_path(GPA, 1);
	const u64 outside = pa(TDMR_FRAMES);
	EXPECT_EQ(aug(GPA, 0, outside), ADDR_RANGE_ERROR_R8);
	EXPECT_EQ(aug(GPA_2M, 0, outside), EPT_WALK_FAILED_RCX) << "the walk fails before R8 is looked at";
}

TEST_P(SimTd, ExtendedErrorOutputOnWalkAndStateFailures)
{
	link_path(GPA, 2);
	EXPECT_EQ(aug(GPA, 0, DATA), EPT_WALK_FAILED_RCX);
	EXPECT_EQ(ext.rcx, 0x8000000000000000ULL) << "a FREE entry reads back as SVE";
	EXPECT_EQ(ext.rdx, 1u) << "level 1, state FREE (0)";

	EXPECT_EQ(sept_add(GPA, 2, SEPT_POOL + 0x80000), EPT_ENTRY_STATE_INCORRECT_RCX);
	EXPECT_EQ(ext.rcx, 7u) << "a non-leaf reads back as its RWX";
	EXPECT_EQ(ext.rdx, 2u | (0x84u << 8)) << "level 2, NL_MAPPED";

	// allow_existing (RDX bit 0): success, nothing added (tdh_mem_sept_add.c).
	hw::TdxModuleArgs args{};
	args.rcx = align_down(GPA, 2) | 2;
	args.rdx = TDR | 1;
	args.r8 = next_sept;
	const u64 before = m.td().chldcnt;
	EXPECT_EQ(m.seamcall(static_cast<u64>(tdx_abi::Leaf::TDH_MEM_SEPT_ADD), args), SUCCESS);
	EXPECT_EQ(m.td().chldcnt, before);
	EXPECT_EQ(pt(next_sept), PageType::PT_NDA);
}

TEST_P(SimTd, LeavesOutsideTheModelAndNonzeroVersionsAreOperandInvalidRax)
{
	hw::TdxModuleArgs args{};
	args.rcx = TDR;
	EXPECT_EQ(m.seamcall(hw::seamcall_fn(tdx_abi::Leaf::TDH_MEM_TRACK, 1), args), OPERAND_INVALID_RAX);
	EXPECT_EQ(m.seamcall(static_cast<u64>(tdx_abi::Leaf::TDH_MNG_RD), args), OPERAND_INVALID_RAX);
	EXPECT_EQ(m.seamcall(static_cast<u64>(tdx_abi::Leaf::TDH_MEM_TRACK), args), SUCCESS);
}

// --- teardown (tdh_mng_vpflushdone.c, tdh_phymem_cache_wb.c, tdh_mng_key_freeid.c,
// tdh_phymem_page_reclaim.c; KVM's order: Linux v6.19 tdx.c) ---

TEST_P(SimTd, FullTeardownReclaimsEveryPageThenTheTdr)
{
	link_path(GPA, 1);
	ASSERT_EQ(page_add(GPA, DATA), SUCCESS);
	run_td();
	ASSERT_EQ(aug(GPA + 4096, 0, DATA + 4096), SUCCESS);
	const std::size_t sept = m.sept_pages() - 1; // non-root S-EPT pages
	u64 page_type = 0, owner = 0, size = 0;

	EXPECT_EQ(hw::tdh_mng_key_freeid(m, TDR), LIFECYCLE_STATE_INCORRECT);
	EXPECT_EQ(hw::tdh_mng_vpflushdone(m, TDR), FLUSHVP_NOT_DONE);
	EXPECT_EQ(hw::tdh_vp_flush(m, TDVPR0), SUCCESS);
	EXPECT_EQ(hw::tdh_vp_flush(m, TDVPR0), VCPU_NOT_ASSOCIATED);
	EXPECT_EQ(hw::tdh_vp_flush(m, TDVPR1), SUCCESS);
	ASSERT_EQ(hw::tdh_mng_vpflushdone(m, TDR), SUCCESS);
	EXPECT_EQ(m.td().lifecycle, w(Lifecycle::TD_BLOCKED));
	EXPECT_EQ(block(GPA, 0), TD_KEYS_NOT_CONFIGURED) << "helpers.c check_state_map_tdcs_and_lock(): S-EPT calls end here";
	EXPECT_EQ(hw::tdh_phymem_page_reclaim(m, SEPT_POOL, &page_type, &owner, &size), LIFECYCLE_STATE_INCORRECT);
	EXPECT_EQ(hw::tdh_mng_key_freeid(m, TDR), WBCACHE_NOT_COMPLETE);
	EXPECT_EQ(hw::tdh_phymem_cache_wb(m, true), WBCACHE_RESUME_ERROR);
	ASSERT_EQ(hw::tdh_phymem_cache_wb(m, false), SUCCESS);
	EXPECT_FALSE(m.td().wbinvd_pending);
	EXPECT_EQ(hw::tdh_phymem_cache_wb(m, false), SUCCESS) << "the HKID stays FLUSHED until FREEID";
	ASSERT_EQ(hw::tdh_mng_key_freeid(m, TDR), SUCCESS);
	EXPECT_EQ(m.td().lifecycle, w(Lifecycle::TD_TEARDOWN));
	EXPECT_EQ(hw::tdh_phymem_cache_wb(m, false), NO_HKID_READY_TO_WBCACHE) << "tdh_phymem_cache_wb.c";

	EXPECT_EQ(hw::tdh_phymem_page_reclaim(m, TDR, &page_type, &owner, &size), TD_ASSOCIATED_PAGES_EXIST);
	for (std::size_t i = 0; i < sept; i++) {
		ASSERT_EQ(hw::tdh_phymem_page_reclaim(m, SEPT_POOL + i * 4096, &page_type, &owner, &size), SUCCESS);
		EXPECT_EQ(page_type, w(PageType::PT_EPT));
		EXPECT_EQ(owner, TDR);
		EXPECT_EQ(size, 0u);
	}
	for (u64 page : {DATA, DATA + 4096}) {
		ASSERT_EQ(hw::tdh_phymem_page_reclaim(m, page, &page_type, &owner, &size), SUCCESS);
		EXPECT_EQ(page_type, w(PageType::PT_REG));
	}
	EXPECT_EQ(hw::tdh_phymem_page_reclaim(m, DATA, &page_type, &owner, &size), METADATA_INCORRECT_RCX);
	for (u64 page : {TDVPR0, TDVPR1}) {
		ASSERT_EQ(hw::tdh_phymem_page_reclaim(m, page, &page_type, &owner, &size), SUCCESS);
		EXPECT_EQ(page_type, w(PageType::PT_TDVPR));
	}
	for (u64 i = 0; i < 6; i++) {
		EXPECT_EQ(hw::tdh_phymem_page_reclaim(m, TDR, &page_type, &owner, &size), TD_ASSOCIATED_PAGES_EXIST);
		ASSERT_EQ(hw::tdh_phymem_page_reclaim(m, TDCS + i * 4096, &page_type, &owner, &size), SUCCESS);
		EXPECT_EQ(page_type, w(PageType::PT_TDCX));
	}
	EXPECT_EQ(m.td().chldcnt, 0u);
	ASSERT_EQ(hw::tdh_phymem_page_reclaim(m, TDR, &page_type, &owner, &size), SUCCESS);
	EXPECT_EQ(page_type, w(PageType::PT_TDR));
	EXPECT_FALSE(m.has_td());
	EXPECT_EQ(m.sept_pages(), 0u);
	// KVM's last step: the TDR under the global KeyID (tdh_phymem_page_reclaim.c).
	EXPECT_EQ(hw::tdh_phymem_page_wbinvd_hkid(m, 1, TDR), SUCCESS);
	for (u64 f = 0; f < 80; f++)
		ASSERT_EQ(m.pamt(TDMR_BASE_PFN + f)->pt, PageType::PT_NDA) << "frame " << f;
	EXPECT_EQ(track(), METADATA_INCORRECT_RCX) << "no TDR any more";
}

TEST_P(SimTd, ReclaimInsideA2MPageIsOperandInvalid)
{
	link_path(GPA_2M, 2);
	ASSERT_EQ(aug(GPA_2M, 1, DATA_2M), SUCCESS);
	u64 page_type = 0, owner = 0, size = 0;
	EXPECT_EQ(hw::tdh_phymem_page_reclaim(m, DATA_2M + 4096, &page_type, &owner, &size), OPERAND_INVALID_RCX);
	EXPECT_EQ(hw::tdh_phymem_page_reclaim(m, DATA_2M, &page_type, &owner, &size), LIFECYCLE_STATE_INCORRECT);
}

// --- host queries and counters ------------------------------------------------

TEST_P(SimTd, CountsSeamcallsByLeafAndVisitsEntries)
{
	link_path(GPA, 1);
	ASSERT_EQ(page_add(GPA, DATA), SUCCESS);
	EXPECT_EQ(page_add(GPA, DATA + 4096), EPT_ENTRY_STATE_INCORRECT_RCX);
	EXPECT_EQ(m.calls(tdx_abi::Leaf::TDH_MEM_SEPT_ADD), static_cast<u64>(pwl() - 1));
	EXPECT_EQ(m.calls(tdx_abi::Leaf::TDH_MEM_PAGE_ADD), 2u);
	EXPECT_EQ(m.total_calls(), static_cast<u64>(pwl() + 1));

	int present = 0;
	m.for_each_entry([&](u64 gpa, unsigned level, hw::SeptEntryView e) {
		present++;
		if (level == 0) {
			EXPECT_EQ(gpa, GPA);
			EXPECT_EQ(e.state, SeptState::MAPPED);
			EXPECT_EQ(e.hpa, DATA);
		} else {
			EXPECT_EQ(e.state, SeptState::NL_MAPPED);
			EXPECT_EQ(gpa, align_down(GPA, static_cast<int>(level)));
		}
	});
	EXPECT_EQ(present, pwl());
	m.reset_calls();
	EXPECT_EQ(m.total_calls(), 0u);
}

// --- a scenario in a constant expression ----------------------------------------

// A 16-frame TDMR: build, link, PAGE.ADD, finalize, AUG, BLOCK, TRACK,
// REMOVE.  Returns 0, or the number of the step that went wrong.
constexpr int constexpr_scenario()
{
	constexpr u64 base = 0x100;
	auto page = [](u64 i) { return (base + i) << 12; };
	SimModule m(spec::td_pwl4, base, 16, PHYS_BITS);
	u64 e1 = 0, e2 = 0;
	const u64 tdr = page(0), gpa = 0x7000;

	if (!m.build_td(tdr, 1, page(1)) || !m.add_vcpu(page(7)))
		return 1;
	for (int l = 3; l >= 1; l--)
		if (hw::tdh_mem_sept_add(m, tdr, 0, l, page(11 - l), &e1, &e2) != SUCCESS)
			return 2;
	if (hw::tdh_mem_page_add(m, tdr, gpa, page(11), SOURCE, &e1, &e2) != SUCCESS ||
	    hw::tdh_mr_finalize(m, tdr) != SUCCESS)
		return 3;
	if (hw::tdh_mem_page_aug(m, tdr, gpa + 0x1000, 0, page(12), &e1, &e2) != SUCCESS ||
	    hw::tdh_mem_range_block(m, tdr, gpa + 0x1000, 0, &e1, &e2) != SUCCESS)
		return 4;
	if (hw::tdh_mem_page_remove(m, tdr, gpa + 0x1000, 0, &e1, &e2) != TLB_TRACKING_NOT_DONE_RCX)
		return 5;
	if (hw::tdh_mem_track(m, tdr) != SUCCESS ||
	    hw::tdh_mem_page_remove(m, tdr, gpa + 0x1000, 0, &e1, &e2) != SUCCESS || e1 != page(12))
		return 6;
	if (m.pamt(base + 12)->pt != PageType::PT_NDA || m.td().chldcnt != 6 + 1 + 3 + 1)
		return 7;
	return 0;
}

static_assert(constexpr_scenario() == 0);

TEST(SimModuleConstexpr, TheStaticScenarioAlsoRunsAtRunTime)
{
	EXPECT_EQ(constexpr_scenario(), 0);
}

} // namespace

// --- the module's locks as windows (lock_windows: the model checker's
// stepped module).  Modes from tdx_locks.h and the api_calls/tdh_*.c
// files cited in spec/arborist/module_locks.hpp; each test puts a call of
// another logical processor (lock_owner) inside a window.

namespace locks {
constexpr u64 BUSY_R8 = 0x8000020000000008ULL;
constexpr u64 BUSY_OP_STATE = 0x80000200000000ACULL;
constexpr u64 BUSY_TDR = 0x8000020000000080ULL;
constexpr u64 BUSY_KOT = 0x80000200000000BAULL;
constexpr u64 BUSY_HOST_PRIORITY_RCX = 0x8000020400000001ULL;
constexpr u64 PAGE_ALREADY_ACCEPTED = 0x00000B0A00000000ULL; // | the level the walk ended at
constexpr u64 PAGE_SIZE_MISMATCH = 0xC0000B0B00000000ULL;    // | the level
} // namespace locks

class SimTdLocks : public SimTd {
protected:
	// After the set-up calls (which run with atomic locks).
	void open_windows() { m.lock_windows = true; }
	// Run on logical processor `lp` (the call's window opens on success).
	template <class F>
	u64 on(std::uint32_t lp, F&& call)
	{
		m.lock_owner = lp;
		return call();
	}
	bool holds(std::uint32_t lp, spec::ModuleLock l, spec::LockMode mode) const
	{
		for (const spec::HeldLock& h : m.held_locks())
			if (h.owner == lp && h.lock == l && h.mode == mode)
				return true;
		return false;
	}
};

INSTANTIATE_TEST_SUITE_P(Geometry, SimTdLocks, ::testing::Values(spec::td_pwl4, spec::td_pwl5), geometry_name);

TEST_P(SimTd, WithoutLockWindowsNothingIsHeld)
{
	link_path(GPA, 1);
	run_td();
	m.set_stepping_filter(0, true);
	ASSERT_EQ(enter(TDVPR0), SUCCESS);
	EXPECT_TRUE(m.held_locks().empty()) << "atomic SEAMCALLs release before they return";
	EXPECT_EQ(aug(GPA, 0, DATA), SUCCESS) << "the stepping filter's tree lock is gone by the entry";
	EXPECT_TRUE(m.held_locks().empty());
}

TEST_P(SimTdLocks, VpEnterSteppingFilterHoldsTheTreeUntilTheEntry)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	open_windows();
	m.set_stepping_filter(0, true);
	ASSERT_EQ(on(1, [&] { return enter(TDVPR0); }), SUCCESS);
	EXPECT_TRUE(holds(1, spec::ModuleLock::sept_tree, spec::LockMode::exclusive));
	EXPECT_TRUE(holds(1, spec::ModuleLock::op_state, spec::LockMode::shared));
	EXPECT_TRUE(holds(1, spec::ModuleLock::td_epoch, spec::LockMode::shared));
	EXPECT_FALSE(holds(1, spec::ModuleLock::tdr, spec::LockMode::shared)) << "the TDR is held while in the guest";
	// tdh_mem_range_block.c: the tree exclusively -> BUSY|SEPT_TREE, nothing changed.
	EXPECT_EQ(on(2, [&] { return block(GPA, 0); }), BUSY_SEPT_TREE);
	EXPECT_EQ(state_at(GPA, 0), SeptState::PENDING);
	// A kick: the kicker waits for the entry to finish and the vCPU to exit.
	ASSERT_TRUE(m.td_exit(0));
	EXPECT_TRUE(m.held_locks().empty());
	EXPECT_EQ(on(2, [&] { return block(GPA, 0); }), SUCCESS) << "tdh_do_no_vcpus: the retry succeeds";
}

TEST_P(SimTdLocks, WithoutTheSteppingFilterVpEnterLeavesTheTreeAlone)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	open_windows();
	ASSERT_EQ(on(1, [&] { return enter(TDVPR0); }), SUCCESS);
	EXPECT_FALSE(holds(1, spec::ModuleLock::sept_tree, spec::LockMode::exclusive));
	EXPECT_EQ(on(2, [&] { return block(GPA, 0); }), SUCCESS);
}

TEST_P(SimTdLocks, TrackAndVpEnterMeetOnTheEpochLock)
{
	run_td();
	open_windows();
	ASSERT_EQ(on(1, [&] { return enter(TDVPR0); }), SUCCESS);
	EXPECT_EQ(on(2, [&] { return track(); }), BUSY_TD_EPOCH) << "adjust_tlb_tracking_state holds it shared";
	m.release_locks(1); // VP.ENTER enters non-root mode
	ASSERT_EQ(on(2, [&] { return track(); }), SUCCESS);
	EXPECT_TRUE(holds(2, spec::ModuleLock::td_epoch, spec::LockMode::exclusive));
	EXPECT_EQ(on(3, [&] { return enter(TDVPR1); }), BUSY_TD_EPOCH) << "tdh_mem_track.c: the epoch exclusively";
	EXPECT_FALSE(m.vcpu(1).in_guest);
	m.release_locks(2);
	EXPECT_EQ(on(3, [&] { return enter(TDVPR1); }), SUCCESS);
}

TEST_P(SimTdLocks, AugsOfTwoEntriesShareTheTreeButNotAPage)
{
	link_path(GPA, 1);
	run_td();
	open_windows();
	ASSERT_EQ(on(1, [&] { return aug(GPA, 0, DATA); }), SUCCESS);
	EXPECT_TRUE(holds(1, spec::ModuleLock::sept_tree, spec::LockMode::shared));
	EXPECT_TRUE(holds(1, spec::ModuleLock::sept_entry, spec::LockMode::exclusive));
	EXPECT_TRUE(holds(1, spec::ModuleLock::pamt, spec::LockMode::exclusive));
	EXPECT_EQ(on(2, [&] { return aug(GPA + 0x1000, 0, DATA + 0x1000); }), SUCCESS) << "tree shared, other entry";
	// The same R8 page: its PAMT entry is locked (check_and_lock_free_range_hpa).
	EXPECT_EQ(on(3, [&] { return aug(GPA + 0x2000, 0, DATA); }), locks::BUSY_R8);
	// The same entry: its TDEL bit (sept_lock_acquire_host) -> BUSY|RCX.
	EXPECT_EQ(on(3, [&] { return remove(GPA, 0); }), BUSY_RCX);
	EXPECT_EQ(state_at(GPA, 0), SeptState::PENDING);
}

TEST_P(SimTdLocks, BlockHoldsTheTreeExclusively)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	open_windows();
	ASSERT_EQ(on(1, [&] { return block(GPA, 0); }), SUCCESS);
	EXPECT_EQ(on(2, [&] { return aug(GPA + 0x1000, 0, DATA + 0x1000); }), BUSY_SEPT_TREE);
	EXPECT_EQ(state_at(GPA + 0x1000, 0), SeptState::FREE);
	m.set_stepping_filter(0, true);
	EXPECT_EQ(on(3, [&] { return enter(TDVPR0); }), BUSY_SEPT_TREE) << "the filter's tree, after the epoch";
	EXPECT_FALSE(m.vcpu(0).in_guest);
	EXPECT_EQ(on(1, [&] { return track(); }), SUCCESS) << "the LP's next call closes its own window";
	EXPECT_EQ(on(2, [&] { return aug(GPA + 0x1000, 0, DATA + 0x1000); }), SUCCESS);
}

TEST_P(SimTdLocks, PageAddHoldsTheTdrExclusively)
{
	link_path(GPA, 1);
	open_windows();
	ASSERT_EQ(on(1, [&] { return page_add(GPA, DATA); }), SUCCESS);
	EXPECT_TRUE(holds(1, spec::ModuleLock::tdr, spec::LockMode::exclusive));
	EXPECT_EQ(on(2, [&] { return sept_add(GPA_2M, 1, alloc_sept_page()); }), BUSY_RDX);
	m.release_locks(1);
	EXPECT_EQ(on(2, [&] { return sept_add(GPA_2M, 1, alloc_sept_page()); }), SUCCESS);
}

// --- the rows of the TD-wide and teardown leaves: each holds its locks in
// a window and another logical processor's call meets them.

TEST_P(SimTdLocks, MrExtendHoldsTheTdrExclusively)
{
	link_path(GPA, 1);
	ASSERT_EQ(page_add(GPA, DATA), SUCCESS);
	open_windows();
	u64 e1 = 0, e2 = 0;
	ASSERT_EQ(on(1, [&] { return sept_add(GPA_2M, 1, alloc_sept_page()); }), SUCCESS);
	// tdh_mr_extend.c: check_lock_and_map_explicit_tdr(RDX, TDX_LOCK_EXCLUSIVE)
	EXPECT_EQ(on(2, [&] { return hw::tdh_mr_extend(m, TDR, GPA, &e1, &e2); }), BUSY_RDX);
	m.release_locks(1);
	ASSERT_EQ(on(2, [&] { return hw::tdh_mr_extend(m, TDR, GPA, &e1, &e2); }), SUCCESS);
	EXPECT_TRUE(holds(2, spec::ModuleLock::tdr, spec::LockMode::exclusive));
	EXPECT_FALSE(holds(2, spec::ModuleLock::op_state, spec::LockMode::shared)) << "TDX_LOCK_NO_LOCK";
	EXPECT_FALSE(holds(2, spec::ModuleLock::sept_tree, spec::LockMode::exclusive)) << "implied by the TDR";
	EXPECT_EQ(on(3, [&] { return sept_add(GPA_2M, 1, alloc_sept_page()); }), BUSY_RDX);
}

TEST_P(SimTdLocks, MrFinalizeHoldsTheTdrExclusively)
{
	link_path(GPA, 1);
	open_windows();
	ASSERT_EQ(on(1, [&] { return sept_add(GPA_2M, 1, alloc_sept_page()); }), SUCCESS);
	EXPECT_EQ(on(2, [&] { return finalize(); }), BUSY_RCX) << "tdh_mr_finalize.c: the TDR (RCX) exclusively";
	EXPECT_EQ(m.td().op_state, w(OpState::INITIALIZED));
	m.release_locks(1);
	ASSERT_EQ(on(2, [&] { return finalize(); }), SUCCESS);
	EXPECT_TRUE(holds(2, spec::ModuleLock::tdr, spec::LockMode::exclusive));
	EXPECT_EQ(on(3, [&] { return track(); }), BUSY_RCX) << "TRACK's TDR (RCX), shared";
}

TEST_P(SimTdLocks, VpFlushHoldsTheTdvprExclusivelyAndTheTdrShared)
{
	link_path(GPA, 1);
	ASSERT_EQ(page_add(GPA, DATA), SUCCESS);
	open_windows();
	u64 e1 = 0, e2 = 0;
	ASSERT_EQ(on(1, [&] { return hw::tdh_mr_extend(m, TDR, GPA, &e1, &e2); }), SUCCESS);
	// tdh_vp_flush.c: the TDVPR first, then lock_and_map_implicit_tdr(OPERAND_ID_TDR, shared).
	EXPECT_EQ(on(2, [&] { return hw::tdh_vp_flush(m, TDVPR0); }), locks::BUSY_TDR);
	EXPECT_TRUE(m.vcpu(0).associated);
	m.release_locks(1);
	ASSERT_EQ(on(2, [&] { return hw::tdh_vp_flush(m, TDVPR0); }), SUCCESS);
	EXPECT_TRUE(holds(2, spec::ModuleLock::pamt, spec::LockMode::exclusive));
	EXPECT_TRUE(holds(2, spec::ModuleLock::tdr, spec::LockMode::shared));
	EXPECT_EQ(on(3, [&] { return hw::tdh_vp_flush(m, TDVPR0); }), BUSY_RCX)
		<< "the TDVPR's lock before the association check";
	EXPECT_EQ(on(3, [&] { return hw::tdh_vp_flush(m, TDVPR1); }), SUCCESS) << "another TDVPR, the TDR shared";
}

TEST_P(SimTdLocks, VpFlushDoneCacheWbAndKeyFreeIdMeetOnTheKot)
{
	ASSERT_EQ(hw::tdh_vp_flush(m, TDVPR0), SUCCESS);
	ASSERT_EQ(hw::tdh_vp_flush(m, TDVPR1), SUCCESS);
	open_windows();
	ASSERT_EQ(on(1, [&] { return hw::tdh_mng_vpflushdone(m, TDR); }), SUCCESS);
	EXPECT_TRUE(holds(1, spec::ModuleLock::tdr, spec::LockMode::exclusive));
	EXPECT_TRUE(holds(1, spec::ModuleLock::kot, spec::LockMode::exclusive));
	// tdh_phymem_cache_wb.c: acquire_sharex_lock_sh(&kot.lock) -> BUSY|KOT.
	EXPECT_EQ(on(2, [&] { return hw::tdh_phymem_cache_wb(m, false); }), locks::BUSY_KOT);
	EXPECT_TRUE(m.td().wbinvd_pending);
	// tdh_mng_key_freeid.c: the TDR before the KOT.
	EXPECT_EQ(on(3, [&] { return hw::tdh_mng_key_freeid(m, TDR); }), BUSY_RCX);
	m.release_locks(1);
	ASSERT_EQ(on(2, [&] { return hw::tdh_phymem_cache_wb(m, false); }), SUCCESS);
	EXPECT_TRUE(holds(2, spec::ModuleLock::kot, spec::LockMode::shared));
	EXPECT_EQ(on(3, [&] { return hw::tdh_mng_key_freeid(m, TDR); }), locks::BUSY_KOT)
		<< "acquire_sharex_lock_ex(&kot.lock) against CACHE.WB's shared hold";
	EXPECT_EQ(m.td().lifecycle, w(Lifecycle::TD_BLOCKED));
	m.release_locks(2);
	ASSERT_EQ(on(3, [&] { return hw::tdh_mng_key_freeid(m, TDR); }), SUCCESS);
	EXPECT_TRUE(holds(3, spec::ModuleLock::tdr, spec::LockMode::exclusive));
	EXPECT_TRUE(holds(3, spec::ModuleLock::kot, spec::LockMode::exclusive));
}

TEST_P(SimTdLocks, ReclaimHoldsThePageExclusivelyAndTheTdrShared)
{
	link_path(GPA, 1);
	ASSERT_EQ(page_add(GPA, DATA), SUCCESS);
	u64 page_type = 0, owner = 0, size = 0, e1 = 0, e2 = 0;
	open_windows();
	ASSERT_EQ(on(1, [&] { return hw::tdh_mr_extend(m, TDR, GPA, &e1, &e2); }), SUCCESS);
	// tdh_phymem_page_reclaim.c: lock_and_map_implicit_tdr(OPERAND_ID_TDR) comes
	// before the lifecycle check.
	EXPECT_EQ(on(2, [&] { return hw::tdh_phymem_page_reclaim(m, DATA, &page_type, &owner, &size); }),
		  locks::BUSY_TDR);
	m.lock_windows = false; // the teardown, one call at a time
	m.release_locks(1);
	ASSERT_EQ(hw::tdh_vp_flush(m, TDVPR0), SUCCESS);
	ASSERT_EQ(hw::tdh_vp_flush(m, TDVPR1), SUCCESS);
	ASSERT_EQ(hw::tdh_mng_vpflushdone(m, TDR), SUCCESS);
	ASSERT_EQ(hw::tdh_phymem_cache_wb(m, false), SUCCESS);
	ASSERT_EQ(hw::tdh_mng_key_freeid(m, TDR), SUCCESS);
	open_windows();
	ASSERT_EQ(on(1, [&] { return hw::tdh_phymem_page_reclaim(m, DATA, &page_type, &owner, &size); }), SUCCESS);
	EXPECT_TRUE(holds(1, spec::ModuleLock::pamt, spec::LockMode::exclusive));
	EXPECT_TRUE(holds(1, spec::ModuleLock::tdr, spec::LockMode::shared));
	// pamt_walk(TDX_LOCK_EXCLUSIVE) before the page-type check.
	EXPECT_EQ(on(2, [&] { return hw::tdh_phymem_page_reclaim(m, DATA, &page_type, &owner, &size); }), BUSY_RCX);
	// tdh_phymem_page_wbinvd.c: the page's PAMT entry shared.
	EXPECT_EQ(on(2, [&] { return hw::tdh_phymem_page_wbinvd_hkid(m, HKID, DATA); }), BUSY_RCX);
	EXPECT_EQ(on(2, [&] { return hw::tdh_phymem_page_reclaim(m, TDR, &page_type, &owner, &size); }), BUSY_RCX)
		<< "the TDR page's PAMT entry is the TDR lock, held shared by the other RECLAIM";
	m.release_locks(1);
	ASSERT_EQ(on(2, [&] { return hw::tdh_phymem_page_wbinvd_hkid(m, HKID, DATA); }), SUCCESS);
	EXPECT_TRUE(holds(2, spec::ModuleLock::pamt, spec::LockMode::shared));
	EXPECT_EQ(on(3, [&] { return hw::tdh_phymem_page_wbinvd_hkid(m, HKID, DATA); }), SUCCESS) << "shared";
}

// TDG.MEM.PAGE.ACCEPT: the guest side of the entry lock and its TDHP bit
// (tdg_mem_page_accept.c check_tdaccept_failure(), tdx_locks.h
// sept_lock_acquire_guest / sept_lock_acquire_host).
TEST_P(SimTd, AcceptMapsAPendingPageAndReportsTheOthers)
{
	link_path(GPA, 1);
	run_td();
	ASSERT_EQ(aug(GPA, 0, DATA), SUCCESS);
	ASSERT_EQ(aug(GPA_2M, 1, DATA_2M), SUCCESS);
	EXPECT_FALSE(m.tdg_mem_page_accept(0, GPA, 0).returned) << "no TDCALL from a vCPU outside the guest";
	ASSERT_EQ(enter(TDVPR0), SUCCESS);
	EXPECT_EQ(m.tdg_mem_page_accept(0, GPA, 2).status, OPERAND_INVALID_RCX) << "4K or 2M only";
	const auto small = m.tdg_mem_page_accept(0, GPA_2M, 0);
	EXPECT_FALSE(small.returned) << "a PENDING 2M leaf above a 4K ACCEPT: an EPT violation";
	EXPECT_EQ(m.tdg_mem_page_accept(0, align_down(GPA, 1), 1).status, locks::PAGE_SIZE_MISMATCH | 1) << "a table at 2M";
	ASSERT_EQ(m.tdg_mem_page_accept(0, GPA, 0).status, SUCCESS);
	EXPECT_EQ(state_at(GPA, 0), SeptState::MAPPED);
	EXPECT_EQ(m.tdg_mem_page_accept(0, GPA, 0).status, locks::PAGE_ALREADY_ACCEPTED);
	ASSERT_EQ(m.tdg_mem_page_accept(0, GPA_2M, 1).status, SUCCESS);
	EXPECT_EQ(m.tdg_mem_page_accept(0, GPA_2M + 0x3000, 0).status, locks::PAGE_ALREADY_ACCEPTED | 1)
		<< "the walk ended at the MAPPED 2M leaf";
	EXPECT_TRUE(m.held_locks().empty()) << "atomic without lock windows";
}

TEST_P(SimTdLocks, AcceptTakesTheEntryLockGuestSideAndYieldsToTheHost)
{
	link_path(GPA_2M, 2);
	run_td();
	ASSERT_EQ(enter(TDVPR0), SUCCESS);
	open_windows();
	ASSERT_EQ(on(1, [&] { return aug(GPA_2M, 1, DATA_2M); }), SUCCESS);
	// The host's window on the entry: the guest gets BUSY|RCX and nothing changes.
	EXPECT_EQ(on(2, [&] { return m.tdg_mem_page_accept(0, GPA_2M, 1).status; }), BUSY_RCX);
	EXPECT_EQ(state_at(GPA_2M, 1), SeptState::PENDING);
	EXPECT_FALSE(m.host_priority(GPA_2M, 1)) << "a guest that loses sets no TDHP";
	m.release_locks(1);
	ASSERT_EQ(on(2, [&] { return m.tdg_mem_page_accept(0, GPA_2M, 1).status; }), SUCCESS);
	EXPECT_EQ(state_at(GPA_2M, 1), SeptState::MAPPED);
	EXPECT_TRUE(holds(2, spec::ModuleLock::sept_entry, spec::LockMode::exclusive));
	EXPECT_FALSE(holds(2, spec::ModuleLock::sept_tree, spec::LockMode::shared)) << "the guest walk takes no tree lock";
	// The huge-page split's BLOCK (before DEMOTE) meets the ACCEPT's entry lock:
	// BUSY|RCX, and sept_lock_acquire_host() sets TDHP.
	EXPECT_EQ(on(3, [&] { return block(GPA_2M, 1); }), BUSY_RCX);
	EXPECT_TRUE(m.host_priority(GPA_2M, 1));
	m.release_locks(2);
	EXPECT_EQ(on(2, [&] { return m.tdg_mem_page_accept(0, GPA_2M, 1).status; }), locks::BUSY_HOST_PRIORITY_RCX)
		<< "the lock is free but the host asked for it";
	ASSERT_EQ(on(3, [&] { return block(GPA_2M, 1); }), SUCCESS) << "tdh_do_no_vcpus' retry wins";
	EXPECT_FALSE(m.host_priority(GPA_2M, 1)) << "a host that takes the lock clears TDHP";
	EXPECT_EQ(state_at(GPA_2M, 1), SeptState::BLOCKED);
}

// Every SEAMCALL leaf the simulated module implements (SimModule::dispatch)
// has a row in the lock table.
TEST(ModuleLocks, EveryImplementedLeafHasARow)
{
	for (Leaf leaf : {Leaf::TDH_MEM_SEPT_ADD, Leaf::TDH_MEM_PAGE_ADD, Leaf::TDH_MEM_PAGE_AUG,
			  Leaf::TDH_MEM_RANGE_BLOCK, Leaf::TDH_MEM_RANGE_UNBLOCK, Leaf::TDH_MEM_PAGE_REMOVE,
			  Leaf::TDH_MEM_SEPT_REMOVE, Leaf::TDH_MEM_PAGE_DEMOTE, Leaf::TDH_MEM_PAGE_PROMOTE,
			  Leaf::TDH_MR_EXTEND, Leaf::TDH_MEM_TRACK, Leaf::TDH_MR_FINALIZE, Leaf::TDH_MNG_VPFLUSHDONE,
			  Leaf::TDH_MNG_KEY_FREEID, Leaf::TDH_PHYMEM_CACHE_WB, Leaf::TDH_PHYMEM_PAGE_RECLAIM,
			  Leaf::TDH_VP_ENTER, Leaf::TDH_VP_FLUSH, Leaf::TDH_PHYMEM_PAGE_WBINVD})
		EXPECT_NE(spec::leaf_locks_of(leaf), nullptr) << tdx_abi::leaf_name(leaf);
}

// OP_STATE: every leaf here takes it shared, so it never conflicts; an
// exclusive holder (a migration leaf, not modelled) would give BUSY|OP_STATE.
TEST(ModuleLocks, ContentionFlagsFollowTheModes)
{
	using spec::LockMode;
	using spec::ModuleLock;
	const spec::LeafLocks& track = *spec::leaf_locks_of(Leaf::TDH_MEM_TRACK);
	const spec::LockSet want = spec::locks_taken(track, {0x1000, 0, 0, 0, false}, 2);
	const spec::HeldLock shared_op[] = {{ModuleLock::op_state, 0x1000, LockMode::shared, 1}};
	EXPECT_FALSE(spec::any(spec::contention(want, shared_op)));
	const spec::HeldLock excl_op[] = {{ModuleLock::op_state, 0x1000, LockMode::exclusive, 1}};
	EXPECT_TRUE(spec::contention(want, excl_op).op_state);
	const spec::HeldLock own[] = {{ModuleLock::td_epoch, 0x1000, LockMode::exclusive, 2}};
	EXPECT_FALSE(spec::any(spec::contention(want, own))) << "a logical processor never contends with itself";
	const spec::HeldLock other_td[] = {{ModuleLock::td_epoch, 0x2000, LockMode::exclusive, 1}};
	EXPECT_FALSE(spec::any(spec::contention(want, other_td)));
	// The rule turns the flag into the module's status and operand.
	SimModule m{spec::td_pwl4, TDMR_BASE_PFN, TDMR_FRAMES, PHYS_BITS};
	ASSERT_TRUE(m.build_td(TDR, HKID, TDCS));
	m.inject_busy = spec::contention(want, excl_op);
	EXPECT_EQ(hw::tdh_mem_track(m, TDR), locks::BUSY_OP_STATE);
}

// Known-bad: a lock table in which BLOCK took the S-EPT tree shared (as
// AUG does) would let BLOCK run inside VP.ENTER's stepping filter; the
// module's table (tdh_mem_range_block.c: TDX_LOCK_EXCLUSIVE) does not.
TEST(ModuleLocks, KnownBadBlockWithASharedTreeLockMissesTheFilter)
{
	using spec::LockMode;
	using spec::ModuleLock;
	const spec::HeldLock filter[] = {{ModuleLock::sept_tree, 0x1000, LockMode::exclusive, 1}};
	const spec::HeldLock reader[] = {{ModuleLock::sept_tree, 0x1000, LockMode::shared, 1}};
	const spec::LockKeys keys{0x1000, 0x40001000 | u64{1} << 62, 0, 0, false};
	spec::LeafLocks block = *spec::leaf_locks_of(Leaf::TDH_MEM_RANGE_BLOCK);
	EXPECT_TRUE(spec::contention(spec::locks_taken(block, keys, 2), filter).tree);
	EXPECT_TRUE(spec::contention(spec::locks_taken(block, keys, 2), reader).tree) << "a DEMOTE in flight";
	block.tree = LockMode::shared;
	EXPECT_TRUE(spec::contention(spec::locks_taken(block, keys, 2), filter).tree);
	EXPECT_FALSE(spec::contention(spec::locks_taken(block, keys, 2), reader).tree) << "the mutant misses it";
}
