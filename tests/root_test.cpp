// SPDX-License-Identifier: GPL-2.0-only
//
// The root lifecycle, concretely (spec/arborist/root.hpp; seed 003;
// Linux v6.19 tdp_mmu.c kvm_tdp_mmu_get_root(), kvm_tdp_mmu_put_root()).
#include <gtest/gtest.h>

#include "arborist/root.hpp"

namespace {

using namespace arborist::spec;
constexpr const Concrete& d = concrete;
using R = RootState<Concrete>;

bool all_invariants(const R& s)
{
	return root_freed_implies_invalid_and_zero(d, s) && root_valid_or_referenced(d, s) &&
	       root_scheduled_holds_gift(d, s) && root_refcount_accounts_holders(d, s) &&
	       root_list_matches_refcount(d, s) && root_unallocated_is_blank(d, s);
}

// Apply a step that must be enabled and not a KVM bug.
R apply(const Step<Concrete, R>& st)
{
	EXPECT_TRUE(st.enabled);
	EXPECT_FALSE(st.bug);
	EXPECT_TRUE(all_invariants(st.post));
	return st.post;
}

TEST(RootLifecycle, AllocGetInvalidateZapFree)
{
	R s = root_initial(d);
	ASSERT_TRUE(all_invariants(s));
	s = apply(root_alloc(d, s));
	EXPECT_EQ(s.refcount, 2u); // "one reference for the vCPU, and one for the TDP MMU"
	const auto got = root_get(d, s);
	EXPECT_TRUE(got.ok);
	s = apply(got);
	EXPECT_EQ(s.refcount, 3u);
	s = apply(root_invalidate(d, s));
	EXPECT_TRUE(s.invalid);
	EXPECT_TRUE(s.scheduled_to_zap);
	s = apply(root_put(d, s)); // the iterator's reference
	s = apply(root_put(d, s)); // the vCPU's reference
	EXPECT_EQ(s.refcount, 1u);
	EXPECT_TRUE(s.on_list);
	s = apply(root_zap_invalidated(d, s)); // puts the gifted reference
	EXPECT_EQ(s.refcount, 0u);
	EXPECT_FALSE(s.on_list);
	EXPECT_TRUE(s.rcu_queued);
	EXPECT_FALSE(root_get(d, s).ok); // refcount_inc_not_zero fails
	s = apply(root_rcu_free(d, s));
	EXPECT_TRUE(s.freed);
}

TEST(RootLifecycle, LastPutOnValidRootIsKvmBug)
{
	R s = root_initial(d);
	s = apply(root_alloc(d, s));
	s = apply(root_put(d, s)); // vCPU drops its reference: only the MMU's remains
	EXPECT_EQ(s.refcount, 1u);
	// A task holding no reference may not put (seed 003's objection) ...
	EXPECT_FALSE(root_put(d, s).enabled);
	// ... and if the kernel's put ran anyway, KVM_BUG_ON(!role.invalid) fires.
	EXPECT_TRUE(root_put_ref(d, s).bug);
	EXPECT_FALSE(root_put_ref(d, s, faults::put_frees_valid_root).bug);
}

TEST(RootLifecycle, InvalidateIsIdempotent)
{
	R s = root_initial(d);
	s = apply(root_alloc(d, s));
	s = apply(root_invalidate(d, s));
	s = apply(root_zap_invalidated(d, s));
	EXPECT_FALSE(s.scheduled_to_zap);
	const R again = apply(root_invalidate(d, s)); // already invalid: not rescheduled
	EXPECT_FALSE(again.scheduled_to_zap);
	EXPECT_FALSE(root_zap_invalidated(d, again).enabled);
}

TEST(RootLifecycle, FaultsBreakInvariants)
{
	R s = root_initial(d);
	s = apply(root_alloc(d, s));
	s = apply(root_put(d, s));
	s = apply(root_invalidate(d, s));
	EXPECT_FALSE(all_invariants(root_zap_invalidated(d, s, faults::zap_double_put).post));
	EXPECT_FALSE(root_rcu_free(d, s).enabled);
	EXPECT_FALSE(root_freed_implies_invalid_and_zero(d, root_rcu_free(d, s, faults::rcu_frees_early).post));
}

} // namespace
