// SPDX-License-Identifier: GPL-2.0-only
//
// Derivation rules the replay needs beyond the ones spec/arborist/spte.hpp
// already states (make_small_spte for split children, fast_pf_fix_spte for
// fast-path fixes, is_frozen_spte/nonpresent_spte for the untraced final
// write after a freeze).  Written like the spec rules, over a Domain, with
// the flavour's fields and the spec predicates; no bit is restated.
#pragma once

#include "arborist/domain.hpp"
#include "arborist/gfn.hpp"
#include "arborist/spte.hpp"

namespace arborist::conform {

// spte_ad_enabled() (spte.h): the A/D type bits are not SPTE_TDP_AD_DISABLED.
template <spec::Domain D>
constexpr typename D::Bool spte_ad_enabled(const D& d, const spec::SpteFlavor& f, const typename D::Word& s)
{
	return !((s & d.lit(f.ad_mask)) == d.lit(f.ad_disabled));
}

// D5 (docs/conformance.md), hardware A/D assists.  With A/D bits enabled the CPU sets the Accessed
// bit of a present SPTE it walks and the Dirty bit of a writable leaf it
// writes through, without KVM writing the SPTE and so without a trace
// (Intel SDM vol. 3 "Accessed and Dirty Flags for EPT"; AMD APM vol. 2
// "Nested Paging": A/D updates on nested page-table entries; Linux 6.1
// spte.h calls them the "volatile bits" that force kvm_tdp_mmu_write_spte()
// to use xchg, commit ba3a6120a4e7 "KVM: x86/mmu: Use atomic
// XCHG to write TDP MMU SPTEs with volatile bits").  So a traced old_spte may be the reconstructed value `held` with
// some of those bits set: only set, only those bits.
template <spec::Domain D>
constexpr typename D::Bool hardware_ad_update(const D& d, const spec::SpteFlavor& f, const typename D::Word& held,
					      const typename D::Word& seen, const typename D::Word& level)
{
	using W = typename D::Word;
	const W dirty = d.ite(spec::is_last_spte(d, f, held, level) && spec::is_writable_pte(d, f, held),
			      d.lit(f.dirty), d.lit(0));
	const W settable = d.lit(f.accessed) | dirty;
	return spec::is_shadow_present_pte(d, f, held) && spte_ad_enabled(d, f, held) &&
	       (seen & ~settable) == (held & ~settable) && (held & ~seen) == d.lit(0);
}

// kvm_mmu_hugepage_adjust(): "fault->pfn &= ~(KVM_PAGES_PER_HPAGE(level) - 1)".
// The mask is the one gfn_round_for_level() applies to a GFN, so the same
// spec rule aligns a PFN to a level.
template <spec::Domain D>
constexpr typename D::Word pfn_round_for_level(const D& d, const typename D::Word& pfn, const typename D::Word& level)
{
	return spec::gfn_round_for_level(d, pfn, level);
}

} // namespace arborist::conform
