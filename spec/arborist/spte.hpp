// SPDX-License-Identifier: GPL-2.0-only
//
// SPTE encoding, four flavours: Intel EPT and AMD NPT, each before and
// after the change of the non-present value.
//
// Linux 6.1 (checked against Debian's linux-source-6.1 6.1.192) zaps an
// SPTE to 0 and freezes it with REMOVED_SPTE = 0x5a0.  The TDX preparation
// "KVM: x86/mmu: Allow non-zero value for non-present SPTE and removed SPTE"
// (merged for v6.10) made the non-present value SHADOW_NONPRESENT_VALUE =
// BIT_ULL(63) on 64-bit kernels (EPT "suppress #VE"; ignored by NPT while P
// is clear), REMOVED_SPTE became SHADOW_NONPRESENT_VALUE | 0x5a0, later
// renamed FROZEN_SPTE, and kvm_mmu_set_ept_masks() added
// VMX_EPT_SUPPRESS_VE_BIT to shadow_present_mask.  Checked against Debian's
// linux-source-6.12 6.12.118 and Linux v6.19 arch/x86/kvm/mmu/spte.h,
// spte.c.  Nothing else the spec reads changed between 6.1 and v6.19.
#pragma once

#include <string_view>

#include "arborist/domain.hpp"
#include "arborist/fault.hpp"

namespace arborist::spec {

// The bit layout of one SPTE flavour.  Everything here is a concrete
// constant in both domains: a flavour is configuration, not state.
struct SpteFlavor {
	std::string_view name;
	std::string_view source; // the kernel files the constants are read from
	u64 mmu_present;      // SPTE_MMU_PRESENT_MASK
	u64 nonpresent_value; // SHADOW_NONPRESENT_VALUE
	u64 frozen;           // FROZEN_SPTE (v6.19) / REMOVED_SPTE (6.1)
	u64 present_mask;     // shadow_present_mask
	u64 writable;         // PT_WRITABLE_MASK
	u64 user_mask;        // shadow_user_mask
	u64 x_mask;           // shadow_x_mask
	u64 nx_mask;          // shadow_nx_mask
	u64 page_size;        // PT_PAGE_SIZE_MASK
	u64 accessed;         // shadow_accessed_mask
	u64 dirty;            // shadow_dirty_mask
	u64 host_writable;    // EPT_SPTE_HOST_WRITABLE / DEFAULT_SPTE_HOST_WRITABLE
	u64 mmu_writable;     // EPT_SPTE_MMU_WRITABLE / DEFAULT_SPTE_MMU_WRITABLE
	u64 pfn_mask;         // SPTE_BASE_ADDR_MASK, bits 51:12
	u64 ad_mask;          // SPTE_TDP_AD_MASK, bits 53:52
	u64 ad_disabled;      // SPTE_TDP_AD_DISABLED
	u64 leaf_memtype;     // what get_mt_mask() adds to a RAM leaf (EPT: WB << 3)
	unsigned root_level;  // 4 or 5
};

inline constexpr unsigned PAGE_SHIFT = 12;
inline constexpr u64 SPTE_ENT_PER_PAGE = 512;
inline constexpr unsigned SPTE_LEVEL_BITS = 9;
inline constexpr unsigned PG_LEVEL_4K = 1, PG_LEVEL_2M = 2, PG_LEVEL_1G = 3;
inline constexpr unsigned PT64_ROOT_MAX_LEVEL = 5;

// Linux v6.19, EPT with TDX: spte.h (SPTE_MMU_PRESENT_MASK = BIT_ULL(11),
// SHADOW_NONPRESENT_VALUE = BIT_ULL(63), FROZEN_SPTE = SHADOW_NONPRESENT_VALUE
// | 0x5a0), kvm_mmu_set_ept_masks() (A/D = bits 8/9, present mask R | SVE,
// X = bit 2), EPT_SPTE_HOST_WRITABLE/EPT_SPTE_MMU_WRITABLE = bits 57/58.
inline constexpr SpteFlavor ept_v6_19{
	.name = "ept-v6.19",
	.source = "Linux v6.19 arch/x86/kvm/mmu/spte.h",
	.mmu_present = bit_ull(11),
	.nonpresent_value = bit_ull(63),
	.frozen = bit_ull(63) | 0x5a0,
	.present_mask = bit_ull(0) | bit_ull(63),
	.writable = bit_ull(1),
	.user_mask = bit_ull(0),
	.x_mask = bit_ull(2),
	.nx_mask = 0,
	.page_size = bit_ull(7),
	.accessed = bit_ull(8),
	.dirty = bit_ull(9),
	.host_writable = bit_ull(57),
	.mmu_writable = bit_ull(58),
	.pfn_mask = genmask(51, 12),
	.ad_mask = genmask(53, 52),
	.ad_disabled = u64{1} << 52,
	.leaf_memtype = u64{6} << 3,
	.root_level = 4,
};

// Linux 6.1, AMD NPT: SHADOW_NONPRESENT_VALUE is 0 there, REMOVED_SPTE =
// 0x5a0, P/W/U = bits 0-2, A/D = bits 5/6, host-/MMU-writable = bits 9/10
// (DEFAULT_SPTE_*), NX = bit 63.  Checked against the real trace: a non-leaf
// is ...827, a writable 4K leaf ...e67 (tests/data/linux-6.1-npt).
inline constexpr SpteFlavor npt_v6_1{
	.name = "npt-v6.1",
	.source = "Linux 6.1 arch/x86/kvm/mmu/spte.h (NPT)",
	.mmu_present = bit_ull(11),
	.nonpresent_value = 0,
	.frozen = 0x5a0,
	.present_mask = bit_ull(0),
	.writable = bit_ull(1),
	.user_mask = bit_ull(2),
	.x_mask = 0,
	.nx_mask = bit_ull(63),
	.page_size = bit_ull(7),
	.accessed = bit_ull(5),
	.dirty = bit_ull(6),
	.host_writable = bit_ull(9),
	.mmu_writable = bit_ull(10),
	.pfn_mask = genmask(51, 12),
	.ad_mask = genmask(53, 52),
	.ad_disabled = u64{1} << 52,
	.leaf_memtype = 0,
	.root_level = 4,
};

// The same bit layout with another non-present/frozen pair and present mask:
// the two sides of the v6.10 change above.
constexpr SpteFlavor with_nonpresent(SpteFlavor f, std::string_view name, std::string_view source, u64 nonpresent,
				     u64 present_mask)
{
	f.name = name;
	f.source = source;
	f.nonpresent_value = nonpresent;
	f.frozen = nonpresent | 0x5a0;
	f.present_mask = present_mask;
	return f;
}

// AMD NPT from v6.10 on (Debian 6.12.118 and v6.19): bit 63 is NX in a
// present NPT entry, but SHADOW_NONPRESENT_VALUE is written only with P
// clear, where the CPU ignores every other bit.
inline constexpr SpteFlavor npt_v6_10 = with_nonpresent(npt_v6_1, "npt-v6.10", "Linux 6.12 arch/x86/kvm/mmu/spte.h (NPT)",
							bit_ull(63), npt_v6_1.present_mask);

// Intel EPT before v6.10 (Debian 6.1.192): non-present 0, REMOVED_SPTE
// 0x5a0, shadow_present_mask = VMX_EPT_READABLE_MASK without suppress-#VE.
inline constexpr SpteFlavor ept_v6_1 = with_nonpresent(ept_v6_19, "ept-v6.1", "Linux 6.1 arch/x86/kvm/mmu/spte.h, spte.c (EPT)",
						       0, bit_ull(0));

inline constexpr SpteFlavor spte_flavors[] = {ept_v6_19, npt_v6_1, npt_v6_10, ept_v6_1};

// --- constants of a flavour, with their injection points --------------------

template <Domain D>
constexpr typename D::Word frozen_spte(const D& d, const SpteFlavor& f, Fault x = no_fault)
{
	return d.lit(x == faults::frozen_sets_present ? f.frozen | f.mmu_present : f.frozen);
}

template <Domain D>
constexpr typename D::Word nonpresent_spte(const D& d, const SpteFlavor& f, Fault x = no_fault)
{
	return d.lit(x == faults::nonpresent_sets_present ? f.nonpresent_value | f.mmu_present
							   : f.nonpresent_value);
}

// The paging geometry: x86 has 9 index bits per level (512 entries per
// table) and 4 or 5 levels.  Smaller geometries (1 to 9 bits, 2 to 5
// levels) are the same rules at a scale the model checker can explore
// exhaustively; every function that depends on the table size takes
// level_bits, defaulting to x86's.
struct Paging {
	unsigned level_bits;
	unsigned root_level;
	constexpr u64 entries() const { return u64{1} << level_bits; }
	constexpr bool valid() const { return level_bits >= 1 && level_bits <= 9 && root_level >= 2 && root_level <= 5; }
};
inline constexpr Paging x86_paging_4level{SPTE_LEVEL_BITS, 4}, x86_paging_5level{SPTE_LEVEL_BITS, 5};

// KVM_PAGES_PER_HPAGE(level) = 512^(level-1)  (arch/x86/include/asm/kvm_host.h)
template <Domain D>
constexpr typename D::Word pages_per_hpage(const D& d, const typename D::Word& level,
					   unsigned level_bits = SPTE_LEVEL_BITS)
{
	return d.shlv(d.lit(1), (level - d.lit(1)) * d.lit(level_bits));
}

// --- predicates (spte.h) -----------------------------------------------------

// is_shadow_present_pte(): the only present test of the TDP MMU; it looks at
// the software MMU-present bit, never at the hardware RWX/P bits.
template <Domain D>
constexpr typename D::Bool is_shadow_present_pte(const D& d, const SpteFlavor& f,
						 const typename D::Word& spte)
{
	return bit_set(d, spte, f.mmu_present);
}

template <Domain D>
constexpr typename D::Bool is_frozen_spte(const D& d, const SpteFlavor& f,
					  const typename D::Word& spte)
{
	return spte == d.lit(f.frozen);
}

template <Domain D>
constexpr typename D::Bool is_large_pte(const D& d, const SpteFlavor& f, const typename D::Word& spte)
{
	return bit_set(d, spte, f.page_size);
}

// is_last_spte(): "level == PG_LEVEL_4K || is_large_pte(pte)"; no present test.
template <Domain D>
constexpr typename D::Bool is_last_spte(const D& d, const SpteFlavor& f, const typename D::Word& spte,
					const typename D::Word& level)
{
	return level == d.lit(PG_LEVEL_4K) || is_large_pte(d, f, spte);
}

template <Domain D>
constexpr typename D::Word spte_to_pfn(const D& d, const SpteFlavor& f, const typename D::Word& spte,
				       Fault x = no_fault)
{
	const u64 mask = x == faults::pfn_mask_narrow ? f.pfn_mask & ~bit_ull(51) : f.pfn_mask;
	return d.lshr(spte & d.lit(mask), PAGE_SHIFT);
}

template <Domain D>
constexpr typename D::Bool is_writable_pte(const D& d, const SpteFlavor& f, const typename D::Word& s)
{
	return bit_set(d, s, f.writable);
}
template <Domain D>
constexpr typename D::Bool is_mmu_writable_spte(const D& d, const SpteFlavor& f,
						const typename D::Word& s)
{
	return bit_set(d, s, f.mmu_writable);
}
template <Domain D>
constexpr typename D::Bool is_host_writable_spte(const D& d, const SpteFlavor& f,
						 const typename D::Word& s)
{
	return bit_set(d, s, f.host_writable);
}

// check_spte_writable_invariants() (spte.h): on a leaf, MMU-writable implies
// host-writable, and hardware W implies MMU-writable.  The legal
// (host, mmu, W) triples are 111, 110, 100 and 000.
template <Domain D>
constexpr typename D::Bool spte_writable_invariant(const D& d, const SpteFlavor& f,
						   const typename D::Word& s)
{
	return implies(d, is_mmu_writable_spte(d, f, s), is_host_writable_spte(d, f, s)) &&
	       implies(d, is_writable_pte(d, f, s), is_mmu_writable_spte(d, f, s));
}

// leaf_spte_change_needs_tlb_flush() (spte.h): a flush is needed exactly when
// MMU-writable is revoked; clearing A, D or W alone does not need one.
template <Domain D>
constexpr typename D::Bool leaf_spte_change_needs_tlb_flush(const D& d, const SpteFlavor& f,
							    const typename D::Word& old_spte,
							    const typename D::Word& new_spte,
							    Fault x = no_fault)
{
	if (x == faults::flush_only_on_pfn_change)
		return !(spte_to_pfn(d, f, old_spte) == spte_to_pfn(d, f, new_spte));
	return is_mmu_writable_spte(d, f, old_spte) && !is_mmu_writable_spte(d, f, new_spte);
}

// --- constructors (spte.c) ---------------------------------------------------

// make_nonleaf_spte(child_pt, ad_disabled): a non-leaf SPTE is always
// full-permission; A/D type bits say whether A/D are in use.
template <Domain D>
constexpr typename D::Word make_nonleaf_spte(const D& d, const SpteFlavor& f,
					     const typename D::Word& child_pa,
					     const typename D::Bool& ad_disabled, Fault x = no_fault)
{
	const u64 fixed = (x == faults::nonleaf_drops_present ? 0 : f.mmu_present) | f.present_mask |
			  f.writable | f.user_mask | f.x_mask |
			  (x == faults::nonleaf_sets_page_size ? f.page_size : 0);
	return d.lit(fixed) | (child_pa & d.lit(f.pfn_mask)) |
	       d.ite(ad_disabled, d.lit(f.ad_disabled), d.lit(f.accessed));
}

// What make_spte() is asked to build: the fault-time inputs that decide the
// bits of a RAM leaf.  (MMIO SPTEs, prefetch access-tracking and the NX
// huge-page mitigation are outside this model; see docs/spec.md.)
template <Domain D>
struct LeafRequest {
	typename D::Word pfn;
	typename D::Word level;
	typename D::Bool exec;
	typename D::Bool host_writable; // the memslot/VMA allows writes
	typename D::Bool write;         // ACC_WRITE requested and unsync succeeded
};

// make_spte() (spte.c), the bits it assembles for a RAM leaf on a TDP root.
template <Domain D>
constexpr typename D::Word make_spte(const D& d, const SpteFlavor& f, const LeafRequest<D>& r,
				     Fault x = no_fault)
{
	using W = typename D::Word;
	W spte = d.lit(f.mmu_present | f.present_mask | f.accessed | f.user_mask | f.leaf_memtype);
	spte = spte | d.ite(r.exec, d.lit(f.x_mask), d.lit(f.nx_mask));
	spte = spte | d.ite(d.ult(d.lit(PG_LEVEL_4K), r.level), d.lit(f.page_size), d.lit(0));
	spte = spte | bit(d, r.host_writable, f.host_writable);
	spte = spte | (d.shl(r.pfn, PAGE_SHIFT) & d.lit(f.pfn_mask));
	// "if (!host_writable) access &= ~ACC_WRITE": W needs host-writable.
	const typename D::Bool grant =
		choose<typename D::Bool>(x == faults::make_spte_ignores_host_writable, r.write,
					  r.write && r.host_writable);
	const u64 wbits = f.writable | f.dirty |
			  (x == faults::make_spte_w_without_mmu_writable ? 0 : f.mmu_writable);
	return spte | bit(d, grant, wbits);
}

// make_small_spte(kvm, huge_spte, role, index): child @index of a split.
// child_level is role.level, the level of the new (child) table.
template <Domain D>
constexpr typename D::Word make_small_spte(const D& d, const SpteFlavor& f,
					   const typename D::Word& huge_spte,
					   const typename D::Word& child_level,
					   const typename D::Word& index, Fault x = no_fault,
					   unsigned level_bits = SPTE_LEVEL_BITS)
{
	using W = typename D::Word;
	const W stride_level = choose<W>(x == faults::split_wrong_stride, child_level + d.lit(1), child_level);
	W child = huge_spte | d.shl(index * pages_per_hpage(d, stride_level, level_bits), PAGE_SHIFT);
	if (x != faults::split_keeps_page_size)
		child = d.ite(child_level == d.lit(PG_LEVEL_4K), child & ~d.lit(f.page_size), child);
	if (x == faults::split_drops_writable)
		child = child & ~d.lit(f.mmu_writable);
	if (x == faults::split_sets_writable)
		child = child | d.lit(f.writable);
	return child;
}

// make_huge_spte(kvm, small_spte, level): the inverse, for huge-page
// recovery: set PS and clear the address bits below the huge alignment
// ("huge_spte &= KVM_HPAGE_MASK(level) | ~PAGE_MASK").
template <Domain D>
constexpr typename D::Word make_huge_spte(const D& d, const SpteFlavor& f,
					  const typename D::Word& small_spte,
					  const typename D::Word& level, Fault x = no_fault,
					  unsigned level_bits = SPTE_LEVEL_BITS)
{
	using W = typename D::Word;
	W huge = small_spte | d.lit(f.page_size);
	if (x != faults::huge_keeps_low_pfn) {
		const W hpage_low = d.shl(pages_per_hpage(d, level, level_bits) - d.lit(1), PAGE_SHIFT);
		huge = huge & ~hpage_low;
	}
	if (x == faults::huge_sets_writable)
		huge = huge | d.lit(f.writable);
	return huge;
}

// Write-protection for dirty logging (tdp_mmu.c wrprot_gfn_range() and
// clear_dirty_pt_masked() without A/D): clears W only, so MMU-writable stays
// and the fast page-fault path may restore W (e67 -> e65 in the NPT trace).
// (write_protect_gfn(), for shadow paging, also clears MMU-writable.)
template <Domain D>
constexpr typename D::Word make_wrprot_spte(const D& d, const SpteFlavor& f, const typename D::Word& s)
{
	return s & ~d.lit(f.writable);
}

// fast_page_fault() / fast_pf_fix_direct_spte(): on a write fault, the
// lockless fix sets W on an SPTE that is MMU-writable but not writable
// (spte_can_locklessly_be_made_writable requires MMU-writable); e65 -> e67
// in the NPT trace.  Returns the new SPTE, or the old one if no fix applies.
template <Domain D>
constexpr typename D::Word fast_pf_fix_spte(const D& d, const SpteFlavor& f, const typename D::Word& s,
					    const typename D::Bool& write, Fault x = no_fault)
{
	const typename D::Bool fixable = choose<typename D::Bool>(
		x == faults::fast_pf_ignores_mmu_writable, is_shadow_present_pte(d, f, s),
		is_shadow_present_pte(d, f, s) && is_mmu_writable_spte(d, f, s));
	return d.ite(write && fixable, s | d.lit(f.writable), s);
}

// Permission bits that a split child inherits unchanged: everything that is
// not the address and not PS.
constexpr u64 inherited_bits(const SpteFlavor& f) { return ~(f.pfn_mask | f.page_size); }

} // namespace arborist::spec
