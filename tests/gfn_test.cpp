// SPDX-License-Identifier: GPL-2.0-only
//
// Concrete GFN algebra with the TDX shared bit (spec/arborist/gfn.hpp;
// seed 002; Linux v6.19 tdp_iter.h, tdp_iter.c).
#include <gtest/gtest.h>

#include "arborist/gfn.hpp"

namespace {

using namespace arborist::spec;
constexpr const Concrete& d = concrete;

TEST(Gfn, DirectBitsPerPwl)
{
	// gpa_to_gfn(BIT_ULL(47)) and gpa_to_gfn(BIT_ULL(51)) (tdx_td_init()).
	EXPECT_EQ(gfn_direct_bits(d, td_pwl4), u64{1} << 35);
	EXPECT_EQ(gfn_direct_bits(d, td_pwl5), u64{1} << 39);
}

TEST(Gfn, RootBitsMirrorVsDirect)
{
	EXPECT_EQ(kvm_gfn_root_bits(d, td_pwl4, true), 0u);
	EXPECT_EQ(kvm_gfn_root_bits(d, td_pwl4, false), u64{1} << 35);
}

TEST(Gfn, FaultAddressKeepsSharedBitFaultGfnDoesNot)
{
	const u64 shared_gpa = (u64{1} << 47) | 0x12345000;
	EXPECT_TRUE(kvm_is_addr_direct(d, td_pwl4, shared_gpa));
	EXPECT_FALSE(fault_uses_mirror_root(d, td_pwl4, shared_gpa));
	EXPECT_EQ(fault_gfn(d, td_pwl4, shared_gpa), 0x12345u);
	const u64 private_gpa = 0x12345000;
	EXPECT_TRUE(fault_uses_mirror_root(d, td_pwl4, private_gpa));
	EXPECT_EQ(fault_gfn(d, td_pwl4, private_gpa), 0x12345u);
	// Both aliases strip to the same fault->gfn; the walk re-adds the bit only
	// for the direct root.
	EXPECT_EQ(gfn_add_shared(d, td_pwl4, u64{0x12345}), (u64{1} << 35) | 0x12345);
}

TEST(Gfn, RootIndexHalves)
{
	// PWL 4: root level 4 indexes GPA bits 47:39; the shared bit 47 is index bit 8.
	EXPECT_EQ(tdp_iter_index(d, u64{0x12345}, u64{1} << 35, u64{4}), 256u);
	EXPECT_EQ(tdp_iter_index(d, u64{0x12345}, u64{0}, u64{4}), 0u);
	// PWL 5: root level 5 indexes bits 56:48 of which GPAW 52 leaves 4; bit 51 is index bit 3.
	EXPECT_EQ(tdp_iter_index(d, u64{0x12345}, u64{1} << 39, u64{5}), 8u);
}

TEST(Gfn, SpteIndexAndRounding)
{
	EXPECT_EQ(spte_index(d, u64{0x1ff000}, u64{1}), 511u);
	EXPECT_EQ(spte_index(d, u64{0x200000}, u64{2}), 1u);
	EXPECT_EQ(gfn_round_for_level(d, u64{0x1234}, u64{2}), 0x1200u);
	EXPECT_EQ(gfn_round_for_level(d, u64{0x12345678}, u64{3}), 0x12340000u);
	EXPECT_EQ(pages_per_hpage(d, u64{1}), 1u);
	EXPECT_EQ(pages_per_hpage(d, u64{2}), 512u);
	EXPECT_EQ(pages_per_hpage(d, u64{3}), 262144u);
}

TEST(Gfn, IterStartRejectsAliasedGfn)
{
	const u64 bits = gfn_direct_bits(d, td_pwl4);
	EXPECT_TRUE(tdp_iter_start_ok(d, u64{0x1000}, bits));
	EXPECT_FALSE(tdp_iter_start_ok(d, bits | 0x1000, bits));
	EXPECT_TRUE(tdp_iter_start_ok(d, bits | 0x1000, u64{0}));
}

} // namespace
