// SPDX-License-Identifier: GPL-2.0-only
//
// The spec evaluated in constant expressions: each static_assert below runs
// the same rule the proofs check, at compile time.  This file passes by
// compiling; a broken rule is a build error naming the assertion.
#include <gtest/gtest.h>

#include "arborist/gfn.hpp"
#include "arborist/root.hpp"
#include "arborist/sept.hpp"
#include "arborist/spte.hpp"
#include "arborist/tlb.hpp"

namespace {

using namespace arborist::spec;
namespace st = arborist::tdx_abi::status;
constexpr const Concrete& d = concrete;

// SPTE encoding, both flavours.
static_assert(!is_shadow_present_pte(d, npt_v6_1, frozen_spte(d, npt_v6_1)));
static_assert(!is_shadow_present_pte(d, ept_v6_19, frozen_spte(d, ept_v6_19)));
static_assert(make_nonleaf_spte(d, npt_v6_1, u64{0x2c53000}, false) == 0x2c53827);
static_assert(make_small_spte(d, npt_v6_1, u64{0x7200ee7}, u64{1}, u64{3}) == 0x7203e67);
static_assert(make_huge_spte(d, npt_v6_1, u64{0x7203e67}, u64{2}) == 0x7200ee7);
static_assert(spte_writable_invariant(d, ept_v6_19, make_spte(d, ept_v6_19, LeafRequest<Concrete>{0x42, 1, false, true, true})));

// GFN algebra.
static_assert(fault_gfn(d, td_pwl4, (u64{1} << 47) | 0x5000) == 0x5);
static_assert(tdp_iter_index(d, u64{5}, gfn_direct_bits(d, td_pwl4), u64{4}) == 256);
static_assert(kvm_gfn_root_bits(d, td_pwl5, true) == 0);

// A whole root lifecycle (seed 003) in a constant expression.
static_assert([] {
	RootState<Concrete> s = root_initial(d);
	s = root_alloc(d, s).post;
	s = root_put(d, s).post;           // the vCPU's reference
	s = root_invalidate(d, s).post;     // gifted to the zapper
	s = root_zap_invalidated(d, s).post;
	const bool queued = s.rcu_queued && !s.on_list && s.refcount == 0;
	s = root_rcu_free(d, s).post;
	return queued && root_freed_implies_invalid_and_zero(d, s) && !root_get(d, s).ok;
}());

// A private page's life in S-EPT (tiny 4-entry pages): SEPT.ADD, AUG, then
// KVM's removal BLOCK -> TRACK -> REMOVE in a RUNNABLE TD.
constexpr SeptLocal<Concrete, 4> runnable_td()
{
	SeptLocal<Concrete, 4> s{};
	s.td.lifecycle = u64(Lifecycle::TD_KEYS_CONFIGURED);
	s.td.op_state = u64(OpState::RUNNABLE);
	s.td.tdcs_allocated = true;
	s.td.num_vcpus = 1;
	s.td.epoch = {1, 0, 0};
	for (auto& e : s.path)
		e = u64(SeptState::NL_MAPPED);
	for (auto& e : s.child)
		e = u64(SeptState::FREE);
	s.path[0] = u64(SeptState::FREE);
	s.operand_pt = u64(PageType::PT_NDA);
	s.target.pt = u64(PageType::PT_NDA);
	return s;
}

static_assert([] {
	const SeptArgs<Concrete> a{0, true, false, true, true, {}};
	auto s = runnable_td();
	auto r = tdh_mem_page_aug(d, td_pwl4, a, s);
	if (r.status != st::TDX_SUCCESS || r.post.path[0] != u64(SeptState::PENDING))
		return false;
	s = r.post;
	// REMOVE without BLOCK in RUNNABLE: GPA_RANGE_NOT_BLOCKED|RCX.
	if (tdh_mem_page_remove(d, td_pwl4, a, s).status != 0xC0000B0600000001)
		return false;
	s = tdh_mem_range_block(d, td_pwl4, a, s).post;
	// REMOVE before TRACK: TLB_TRACKING_NOT_DONE|RCX.
	if (tdh_mem_page_remove(d, td_pwl4, a, s).status != 0xC0000B0800000001)
		return false;
	s = tdh_mem_track(d, td_pwl4, a, s).post;
	r = tdh_mem_page_remove(d, td_pwl4, a, s);
	return r.status == st::TDX_SUCCESS && r.post.path[0] == u64(SeptState::FREE) &&
	       r.post.target.pt == u64(PageType::PT_NDA) && r.post.td.chldcnt == 0;
}());

// TLB epochs: a vCPU inside during the BLOCK keeps the page untracked until it exits.
static_assert([] {
	auto s = tlb_initial<Concrete, 2>(d);
	s = tlb_vp_enter(d, s, 0).post;
	s = tlb_block(d, s).post;
	s = tlb_track(d, s).post;
	const bool before_exit = is_tlb_tracked(d, s.epoch, s.bepoch);
	s = tlb_td_exit(d, s, 0).post;
	return !before_exit && is_tlb_tracked(d, s.epoch, s.bepoch) && tlb_epoch_invariant(d, s) &&
	       tlb_tracked_no_stale(d, s);
}());

// The static_asserts above are the test; this records that the file built.
TEST(StaticSpec, CompiledWithAllStaticAssertions)
{
	EXPECT_TRUE(root_freed_implies_invalid_and_zero(d, root_initial(d)));
}

} // namespace
