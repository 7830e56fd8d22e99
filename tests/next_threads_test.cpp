// SPDX-License-Identifier: GPL-2.0-only
//
// Where the threads went after v6.19: Dynamic PAMT's PAMT.ADD and
// PAMT.REMOVE in the module (hw/arborist/hw/dynamic_pamt.hpp; intel/tdx-module
// tdh_phymem_pamt_add.c, tdh_phymem_pamt_remove.c, helpers.c of the 2.0
// tree), the kernel's tdx_pamt_get()/tdx_pamt_put() (impl/arborist/impl/
// dpamt.hpp; "[PATCH v4 00/16] TDX: Enable Dynamic PAMT"), and
// KVM_TDX_TERMINATE_VM ("[PATCH V4 1/1] KVM: TDX: Add sub-ioctl
// KVM_TDX_TERMINATE_VM") on a whole TD, with the model checker's
// counterexamples for their known-bad versions.
#include <gtest/gtest.h>

#include "arborist/hw/dynamic_pamt.hpp"
#include "arborist/impl/dpamt.hpp"
#include "arborist/impl/td_vm.hpp"
#include "arborist/mc/configs.hpp"

namespace {

using namespace arborist;
using tdx_abi::Leaf;
using tdx_abi::with_operand;
using u64 = std::uint64_t;
namespace st = tdx_abi::status;
namespace op = tdx_abi::operand;

constexpr u64 BASE = 0x100000;          // 2M-aligned first frame
constexpr u64 REGION = BASE << 12;      // its HPA
constexpr u64 P0 = 0x300000ull << 12;   // a pair of host pages
constexpr u64 P1 = 0x300001ull << 12;
constexpr u64 PAGE = REGION + 0x5000;   // a 4K page of the region

TEST(DynamicPamt, LeafNumbersAndStatusesOfTheSeries)
{
	EXPECT_EQ(static_cast<u64>(Leaf::TDH_PHYMEM_PAMT_ADD), 58u);
	EXPECT_EQ(static_cast<u64>(Leaf::TDH_PHYMEM_PAMT_REMOVE), 59u);
	EXPECT_EQ(tdx_abi::leaf_spec_name(Leaf::TDH_PHYMEM_PAMT_ADD), "TDH.PHYMEM.PAMT.ADD");
	EXPECT_EQ(st::TDX_HPA_RANGE_NOT_FREE, 0xC000030400000000ull);
	EXPECT_EQ(st::TDX_MISSING_PAMT_PAGE_PAIR, 0x8000030800000000ull);
	EXPECT_EQ(tdx_abi::status_base_name(with_operand(st::TDX_PAMT_PAGE_NOT_EMPTY, 1)), "TDX_PAMT_PAGE_NOT_EMPTY");
}

TEST(DynamicPamt, AddCoversTheRegionOnce)
{
	hw::DynamicPamt m(BASE, 1);
	// Without a pair a 4K page of the region cannot be given to a TD.
	EXPECT_EQ(m.assign_4k(PAGE, op::R8), with_operand(st::TDX_MISSING_PAMT_PAGE_PAIR, op::R8));
	// RCX is the 2M-aligned HPA with level 2M (1).
	EXPECT_EQ(m.pamt_add(REGION, P0, P1), with_operand(st::TDX_OPERAND_INVALID, op::RCX));
	EXPECT_EQ(m.pamt_add(REGION + 0x1000 + 1, P0, P1), with_operand(st::TDX_OPERAND_INVALID, op::RCX));
	EXPECT_EQ(m.pamt_add(REGION | 1, P0, P0), with_operand(st::TDX_PAGE_NOT_FREE, op::R8));
	EXPECT_EQ(m.pamt_add(REGION | 1, P0, P1), st::TDX_SUCCESS);
	EXPECT_TRUE(m.has_pair(PAGE));
	// "PAMT already in use": a second ADD.
	EXPECT_EQ(m.pamt_add(REGION | 1, P0 + 0x2000, P1 + 0x2000), with_operand(st::TDX_HPA_RANGE_NOT_FREE, op::RCX));
	EXPECT_EQ(m.assign_4k(PAGE, op::R8), st::TDX_SUCCESS);
	EXPECT_EQ(m.assign_4k(PAGE, op::R8), with_operand(st::TDX_PAGE_METADATA_INCORRECT, op::R8));
	EXPECT_EQ(m.used_pages(REGION), 1u);
}

TEST(DynamicPamt, RemoveOnlyAnEmptyPair)
{
	hw::DynamicPamt m(BASE, 2);
	u64 rdx = 0, r8 = 0;
	EXPECT_EQ(m.pamt_remove(REGION | 1, &rdx, &r8), with_operand(st::TDX_NO_PAMT_PAGE_PAIR, op::RCX));
	ASSERT_EQ(m.pamt_add(REGION | 1, P0, P1), st::TDX_SUCCESS);
	// A page of the pair cannot back another region at the same time.
	EXPECT_EQ(m.pamt_add(m.region_pa(1) | 1, P1, P1 + 0x1000), with_operand(st::TDX_PAGE_NOT_FREE, op::RDX));
	ASSERT_EQ(m.assign_4k(REGION + (300ull << 12), op::R8), st::TDX_SUCCESS);
	// Entry 300 lives in the pair's second page: that page's index is the operand.
	EXPECT_EQ(m.pamt_remove(REGION | 1, &rdx, &r8), with_operand(st::TDX_PAMT_PAGE_NOT_EMPTY, 1));
	ASSERT_EQ(m.release_4k(REGION + (300ull << 12), op::RCX), st::TDX_SUCCESS);
	EXPECT_EQ(m.release_4k(REGION + (300ull << 12), op::RCX), with_operand(st::TDX_PAGE_METADATA_INCORRECT, op::RCX));
	EXPECT_EQ(m.pamt_remove(REGION | 1, &rdx, &r8), st::TDX_SUCCESS);
	EXPECT_EQ(rdx, P0);
	EXPECT_EQ(r8, P1);
	EXPECT_FALSE(m.has_pair(PAGE));
}

// One get/put at a time: PAMT.ADD on 0->1 only, PAMT.REMOVE on 1->0 only,
// in every variant.
TEST(DynamicPamt, SerialGetsAndPutsAddOnFirstRemoveOnLast)
{
	using impl::PamtOp;
	using impl::PamtRefcount;
	for (PamtRefcount v : {PamtRefcount::global_lock, PamtRefcount::fast_path, PamtRefcount::unlocked,
			       PamtRefcount::fast_path_range_busy_fatal}) {
		impl::PamtKernel k;
		k.refcount.assign(1, 0);
		hw::DynamicPamt m(BASE, 1);
		auto run = [&](bool put, u64 pair) {
			PamtOp o;
			o.put = put;
			o.region_pa = REGION;
			o.pair0 = pair;
			o.pair1 = pair + 0x1000;
			impl::PamtEnv e{k, m, v, 0};
			int adds = 0;
			for (int steps = 0; o.pc != PamtOp::DONE && steps < 16; steps++) {
				e.seamcall = false;
				EXPECT_TRUE(o.enabled(k, v));
				o.step(e);
				adds += e.seamcall;
			}
			EXPECT_EQ(o.pc, PamtOp::DONE);
			EXPECT_EQ(o.ret, 0);
			EXPECT_EQ(k.lock_owner, -1);
			return adds;
		};
		EXPECT_EQ(run(false, P0), 1); // 0 -> 1: PAMT.ADD
		EXPECT_EQ(run(false, P0 + 0x4000), 0);
		EXPECT_EQ(k.refcount[0], 2);
		EXPECT_EQ(run(true, 0), 0);
		EXPECT_EQ(run(true, 0), 1); // 1 -> 0: PAMT.REMOVE
		EXPECT_EQ(k.refcount[0], 0);
		EXPECT_FALSE(m.has_pair(PAGE));
		EXPECT_EQ(k.failure, nullptr);
	}
}

// The model checker's known-bad Dynamic PAMT versions fail for the reason
// the series gives.
TEST(DynamicPamt, UnlockedPutRemovesThePairAGetCountedOn)
{
	const mc::Result r = mc::find_mc_config("dpamt.unlocked")->run({});
	ASSERT_TRUE(r.violation);
	EXPECT_EQ(r.violation->invariant, "dpamt.reference_without_pair");
	bool add_found_pair = false;
	for (const auto& s : r.trace)
		add_found_pair = add_found_pair || s.action.find("PAMT.ADD -> TDX_HPA_RANGE_NOT_FREE") != std::string::npos;
	EXPECT_TRUE(add_found_pair);
	EXPECT_NE(r.trace.back().action.find("TDH.PHYMEM.PAMT.REMOVE -> TDX_SUCCESS"), std::string::npos);
	const mc::Result busy = mc::find_mc_config("dpamt.fast-path-range-busy-fatal")->run({});
	ASSERT_TRUE(busy.violation);
	EXPECT_NE(busy.trace.back().action.find("TDH.PHYMEM.PAMT.ADD -> TDX_HPA_RANGE_NOT_FREE"), std::string::npos);
	EXPECT_TRUE(mc::find_mc_config("dpamt.fast-path")->run({}).exhaustive());
}

// The conversion split's PAMT cache: without its mutex, one split's DEMOTE
// takes the pair the other split topped up.
TEST(DynamicPamt, ConversionSplitsNeedTheCacheMutex)
{
	hw::DynamicPamt m(BASE, 2);
	EXPECT_EQ(m.demote_2m(m.region_pa(1), 0, 0), st::TDX_MISSING_PAMT_PAGE_PAIR);
	EXPECT_EQ(m.demote_2m(m.region_pa(1), P0, P1), st::TDX_SUCCESS);
	EXPECT_EQ(m.used_pages(m.region_pa(1)), 512u);
	EXPECT_TRUE(mc::find_mc_config("dpamt.convert-split.cache-mutex")->run({}).exhaustive());
	const mc::Result r = mc::find_mc_config("dpamt.convert-split.no-cache-mutex")->run({});
	ASSERT_TRUE(r.violation);
	EXPECT_EQ(r.violation->invariant, "kvm.no_bug");
	// The posted tdh_mem_page_demote() (RFC v5 30/45) cannot draw a pair
	// from the empty cache and returns TDX_SW_ERROR without the SEAMCALL.
	EXPECT_NE(r.trace.back().action.find("the per-VM PAMT cache is empty"), std::string::npos);
	EXPECT_NE(r.trace.back().action.find("TDX_SW_ERROR, no SEAMCALL"), std::string::npos);
	EXPECT_TRUE(r.trace.back().seamcalls.empty());
}

// KVM_TDX_TERMINATE_VM on a whole TD: after it, guest_memfd's release
// RECLAIMs in TD_TEARDOWN (no BLOCK, TRACK or REMOVE), and destruction
// leaves nothing behind.
TEST(TerminateVm, ReleaseAfterTerminateReclaims)
{
	impl::TdVmOptions o;
	o.tdx_variants.terminate_vm = impl::TdxVariants::TerminateVm::dead_then_release;
	impl::TdVm vm(o);
	ASSERT_TRUE(vm.create());
	ASSERT_TRUE(vm.finalize());
	for (u64 g = 0x10; g < 0x14; g++)
		vm.fault(0, g << 12);
	vm.enter(0);
	// A vCPU inside KVM_RUN: kvm_trylock_all_vcpus() fails.
	EXPECT_EQ(vm.tdx().terminate_vm_kill(true), -EBUSY);
	EXPECT_FALSE(vm.tdx().vm_dead());
	vm.exit(0);
	EXPECT_EQ(vm.tdx().terminate_vm_kill(false), 0);
	EXPECT_TRUE(vm.tdx().vm_dead());
	ASSERT_TRUE(vm.tdx().terminate_vm_release());
	EXPECT_FALSE(vm.tdx().hkid_assigned());
	vm.module().reset_calls();
	vm.gmem_release();
	EXPECT_EQ(vm.module().calls(Leaf::TDH_MEM_RANGE_BLOCK), 0u);
	EXPECT_EQ(vm.module().calls(Leaf::TDH_MEM_PAGE_REMOVE), 0u);
	EXPECT_EQ(vm.module().calls(Leaf::TDH_PHYMEM_PAGE_RECLAIM), 4u);
	EXPECT_EQ(vm.tdx().released_pages().size(), 4u);
	ASSERT_TRUE(vm.destroy());
	EXPECT_FALSE(vm.tdx().vm_bugged());
	EXPECT_EQ(vm.pages().free_count(), vm.pages().count());
}

// v6.19 has no such ioctl: its remove hook still refuses to run without the HKID.
TEST(TerminateVm, KnownBadOrdersFailForTheThreadsReasons)
{
	const mc::Result early = mc::find_mc_config("teardown.terminate-vm.reclaim-once-dead")->run({});
	ASSERT_TRUE(early.violation);
	EXPECT_EQ(early.violation->invariant, "mirror.agrees_with_sept");
	EXPECT_NE(early.trace.back().action.find("TDH.PHYMEM.PAGE.RECLAIM -> "), std::string::npos);
	const mc::Result alive = mc::find_mc_config("teardown.terminate-vm.release-without-dead")->run({});
	ASSERT_TRUE(alive.violation);
	EXPECT_EQ(alive.violation->invariant, "kvm.no_bug");
	EXPECT_NE(alive.final_state.find("HKID released, VM not dead"), std::string::npos);
	EXPECT_TRUE(mc::find_mc_config("teardown.terminate-vm.dead-then-release")->run({}).exhaustive());
}

} // namespace
