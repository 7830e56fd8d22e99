// SPDX-License-Identifier: GPL-2.0-only
//
// GFN algebra with the TDX shared bit (seed 002; Linux v6.19 mmu.h,
// mmu_internal.h, tdp_iter.h/.c, arch/x86/kvm/vmx/tdx.c tdx_td_init()).
// Sources: docs/sources.md.
//
// Which address carries the shared bit (seed 002, settled in v6.19):
//  - fault->addr keeps it ("the faulting address which is truly used as the
//    hardware page table walk", semantic 2 in the thread);
//  - fault->gfn never has it: kvm_mmu_do_page_fault() strips it;
//  - the walk adds it back through iter->gfn_bits = kvm_gfn_root_bits(), which
//    is 0 for a mirror root: a mirror walk never sees the shared bit.
#pragma once

#include "arborist/domain.hpp"
#include "arborist/fault.hpp"
#include "arborist/spte.hpp"

namespace arborist::spec {

// The TD's S-EPT geometry: EPTP.PWL 4 (shared bit = GPA bit 47,
// TDX_SHARED_BIT_PWL_4) or 5 (GPA bit 51, TDX_SHARED_BIT_PWL_5, with
// TDX_CONFIG_FLAGS_MAX_GPAW).
struct TdGeometry {
	unsigned pwl;
	constexpr unsigned shared_gpa_bit() const { return pwl == 5 ? 51 : 47; }
	// GPAW: the guest-physical address width the TD may use.
	constexpr unsigned gpaw() const { return pwl == 5 ? 52 : 48; }
	constexpr unsigned root_level() const { return pwl; }
};

inline constexpr TdGeometry td_pwl4{4}, td_pwl5{5};
inline constexpr TdGeometry td_geometries[] = {td_pwl4, td_pwl5};

// kvm_gfn_direct_bits(): gpa_to_gfn(BIT_ULL(47 or 51)).
template <Domain D>
constexpr typename D::Word gfn_direct_bits(const D& d, const TdGeometry& g, Fault x = no_fault)
{
	const unsigned b = g.shared_gpa_bit() - (x == faults::shared_bit_off_by_one ? 1 : 0);
	return d.lit(bit_ull(b - PAGE_SHIFT));
}

// kvm_gfn_root_bits(kvm, root): 0 for a mirror root, the direct bits otherwise.
template <Domain D>
constexpr typename D::Word kvm_gfn_root_bits(const D& d, const TdGeometry& g,
					     const typename D::Bool& is_mirror, Fault x = no_fault)
{
	if (x == faults::mirror_root_has_gfn_bits)
		return gfn_direct_bits(d, g);
	return d.ite(is_mirror, d.lit(0), gfn_direct_bits(d, g));
}

// gpa_to_gfn / gfn_to_gpa
template <Domain D>
constexpr typename D::Word gpa_to_gfn(const D& d, const typename D::Word& gpa)
{
	return d.lshr(gpa, PAGE_SHIFT);
}
template <Domain D>
constexpr typename D::Word gfn_to_gpa(const D& d, const typename D::Word& gfn)
{
	return d.shl(gfn, PAGE_SHIFT);
}

// kvm_is_addr_direct(): no direct bits, or the GPA has the shared bit.
// For a TD the direct bits are never 0.
template <Domain D>
constexpr typename D::Bool kvm_is_addr_direct(const D& d, const TdGeometry& g,
					      const typename D::Word& gpa, Fault x = no_fault)
{
	return !((gpa & gfn_to_gpa(d, gfn_direct_bits(d, g, x))) == d.lit(0));
}

// kvm_mmu_do_page_fault(): fault.gfn = gpa_to_gfn(addr) & ~kvm_gfn_direct_bits(kvm).
template <Domain D>
constexpr typename D::Word fault_gfn(const D& d, const TdGeometry& g, const typename D::Word& addr,
				     Fault x = no_fault)
{
	if (x == faults::strip_keeps_shared)
		return gpa_to_gfn(d, addr);
	return gpa_to_gfn(d, addr) & ~gfn_direct_bits(d, g, x);
}

// Adding the alias back: what the walk uses for a direct root.
template <Domain D>
constexpr typename D::Word gfn_add_shared(const D& d, const TdGeometry& g, const typename D::Word& gfn,
					  Fault x = no_fault)
{
	return gfn | gfn_direct_bits(d, g, x);
}

// tdp_mmu_get_root_for_fault(): the mirror root iff the address is private.
template <Domain D>
constexpr typename D::Bool fault_uses_mirror_root(const D& d, const TdGeometry& g,
						  const typename D::Word& addr, Fault x = no_fault)
{
	return !kvm_is_addr_direct(d, g, addr, x);
}

// SPTE_INDEX(addr, level) = (addr >> (12 + 9 * (level - 1))) & 511.
template <Domain D>
constexpr typename D::Word spte_index(const D& d, const typename D::Word& addr,
				      const typename D::Word& level, unsigned level_bits = SPTE_LEVEL_BITS)
{
	const typename D::Word shift = d.lit(PAGE_SHIFT) + (level - d.lit(1)) * d.lit(level_bits);
	return d.lshrv(addr, shift) & d.lit((u64{1} << level_bits) - 1);
}

// tdp_iter_refresh_sptep(): the walk's index at a level is
// SPTE_INDEX((gfn | gfn_bits) << PAGE_SHIFT, level).
template <Domain D>
constexpr typename D::Word tdp_iter_index(const D& d, const typename D::Word& gfn,
					  const typename D::Word& gfn_bits,
					  const typename D::Word& level, Fault x = no_fault,
					  unsigned level_bits = SPTE_LEVEL_BITS)
{
	const typename D::Word g = choose<typename D::Word>(x == faults::walk_ignores_gfn_bits, gfn, gfn | gfn_bits);
	return spte_index(d, gfn_to_gpa(d, g), level, level_bits);
}

// gfn_round_for_level(gfn, level) = gfn & -KVM_PAGES_PER_HPAGE(level).
template <Domain D>
constexpr typename D::Word gfn_round_for_level(const D& d, const typename D::Word& gfn,
					       const typename D::Word& level, Fault x = no_fault,
					       unsigned level_bits = SPTE_LEVEL_BITS)
{
	const typename D::Word l = choose<typename D::Word>(x == faults::round_off_by_one, level + d.lit(1), level);
	return gfn & (d.lit(0) - pages_per_hpage(d, l, level_bits));
}

// tdp_iter_start(): WARNs and refuses to walk when the caller passes an
// aliased GFN: "gfn_bits && next_last_level_gfn >= gfn_bits".
template <Domain D>
constexpr typename D::Bool tdp_iter_start_ok(const D& d, const typename D::Word& gfn,
					     const typename D::Word& gfn_bits)
{
	return gfn_bits == d.lit(0) || d.ult(gfn, gfn_bits);
}

// A GFN the TD can address at all: below 2^(GPAW - 12).
template <Domain D>
constexpr typename D::Bool gfn_within_gpaw(const D& d, const TdGeometry& g, const typename D::Word& gfn)
{
	return d.ult(gfn, d.lit(bit_ull(g.gpaw() - PAGE_SHIFT)));
}

} // namespace arborist::spec
