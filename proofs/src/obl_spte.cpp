// SPDX-License-Identifier: GPL-2.0-only
//
// Bit-vector lemmas over 64-bit SPTEs, for both flavours
// (spec/arborist/spte.hpp; Linux v6.19 arch/x86/kvm/mmu/spte.h, spte.c).
#include <string>

#include "arborist/obligation.hpp"
#include "arborist/spte.hpp"

namespace arborist::proofs {

namespace {

using spec::SpteFlavor;
using W = SymWord;
using B = SymBool;
using spec::u64;
namespace fl = spec::faults;

std::string nm(const SpteFlavor& f, const char* what) { return "spte." + std::string(f.name) + "." + what; }

// A present huge leaf whose PFN is aligned to the parent of child_level:
// the precondition of make_small_spte ("KVM_BUG_ON unless the huge SPTE is
// present and large") plus the alignment every huge SPTE has.
B huge_leaf(const Symbolic& d, const SpteFlavor& f, const W& huge, unsigned child_level)
{
	const W align = spec::pages_per_hpage(d, d.lit(child_level + 1)) - d.lit(1);
	return spec::is_shadow_present_pte(d, f, huge) && spec::is_large_pte(d, f, huge) &&
	       (spec::spte_to_pfn(d, f, huge) & align) == d.lit(0) && !spec::is_frozen_spte(d, f, huge);
}

void add_for(std::vector<Obligation>& out, const SpteFlavor& f)
{
	const std::string src_v(f.source);

	out.push_back(lemma(nm(f, "frozen_not_present"), "lemma", src_v + " FROZEN_SPTE static_assert",
			    "the frozen SPTE is not shadow-present", fl::frozen_sets_present,
			    [f](const Symbolic& d, spec::Fault x) {
				    const W fz = spec::frozen_spte(d, f, x);
				    return Query{{}, !spec::is_shadow_present_pte(d, f, fz), {}};
			    }));

	out.push_back(lemma(nm(f, "nonpresent_not_present"), "lemma", src_v + " SHADOW_NONPRESENT_VALUE",
			    "the zapped (non-present) value is not shadow-present and differs from the frozen value",
			    fl::nonpresent_sets_present, [f](const Symbolic& d, spec::Fault x) {
				    const W np = spec::nonpresent_spte(d, f, x);
				    return Query{{},
						 !spec::is_shadow_present_pte(d, f, np) &&
							 !spec::is_frozen_spte(d, f, np),
						 {}};
			    }));

	out.push_back(lemma(
		nm(f, "nonleaf_present_not_last"), "lemma", src_v + "; spte.c make_nonleaf_spte()",
		"make_nonleaf_spte is present, not last at levels 2-5, and points at the child table",
		fl::nonleaf_sets_page_size, [f](const Symbolic& d, spec::Fault x) {
			const W pa = d.word("child_pa"), level = d.word("level");
			const B ad = d.boolean("ad_disabled");
			const W s = spec::make_nonleaf_spte(d, f, pa, ad, x);
			return Query{{d.ule(d.lit(2), level), d.ule(level, d.lit(5)),
				      (pa & ~d.lit(f.pfn_mask)) == d.lit(0)},
				     spec::is_shadow_present_pte(d, f, s) && !spec::is_last_spte(d, f, s, level) &&
					     spec::spte_to_pfn(d, f, s) == d.lshr(pa, spec::PAGE_SHIFT),
				     {{"spte", s}}};
		}));

	struct Split {
		unsigned child_level;
		const char* tag;
		spec::Fault bad;
	};
	for (const Split sp : {Split{1, "2M_to_4K", fl::split_wrong_stride}, Split{2, "1G_to_2M", fl::split_drops_writable}}) {
		out.push_back(lemma(
			nm(f, (std::string("split_child_maps_pfn.") + sp.tag).c_str()), "lemma",
			"spte.c make_small_spte(); tdp_mmu.c tdp_mmu_split_huge_page()",
			"for every index i in 0..511, child i maps pfn + i * KVM_PAGES_PER_HPAGE(child level) with "
			"the huge SPTE's permissions and is a leaf at the child level",
			sp.bad, [f, sp](const Symbolic& d, spec::Fault x) {
				const W huge = d.word("huge_spte"), i = d.word("index");
				const W cl = d.lit(sp.child_level);
				const W child = spec::make_small_spte(d, f, huge, cl, i, x);
				const W inherit = d.lit(spec::inherited_bits(f));
				const B leaf_at_level = sp.child_level == 1 ? !spec::is_large_pte(d, f, child)
									    : spec::is_large_pte(d, f, child);
				return Query{{huge_leaf(d, f, huge, sp.child_level), d.ult(i, d.lit(512))},
					     spec::spte_to_pfn(d, f, child) ==
							     spec::spte_to_pfn(d, f, huge) +
								     i * spec::pages_per_hpage(d, cl) &&
						     (child & inherit) == (huge & inherit) &&
						     spec::is_shadow_present_pte(d, f, child) &&
						     spec::is_last_spte(d, f, child, cl) && leaf_at_level,
					     {{"child", child}}};
			}));
		out.push_back(lemma(nm(f, (std::string("huge_roundtrip.") + sp.tag).c_str()), "lemma",
				    "spte.c make_huge_spte(), make_small_spte()",
				    "make_huge_spte(make_small_spte(huge, i)) == huge for every index i",
				    fl::huge_keeps_low_pfn, [f, sp](const Symbolic& d, spec::Fault x) {
					    const W huge = d.word("huge_spte"), i = d.word("index");
					    const W cl = d.lit(sp.child_level);
					    const W child = spec::make_small_spte(d, f, huge, cl, i);
					    const W back = spec::make_huge_spte(d, f, child, cl + d.lit(1), x);
					    return Query{{huge_leaf(d, f, huge, sp.child_level), d.ult(i, d.lit(512))},
							 back == huge,
							 {{"child", child}, {"back", back}}};
				    }));
	}

	out.push_back(lemma(nm(f, "writable_invariant.make_spte"), "lemma",
			    "spte.c make_spte(); spte.h check_spte_writable_invariants()",
			    "every leaf make_spte builds has MMU-writable => host-writable and W => MMU-writable",
			    fl::make_spte_ignores_host_writable, [f](const Symbolic& d, spec::Fault x) {
				    spec::LeafRequest<Symbolic> r{d.word("pfn"), d.word("level"), d.boolean("exec"),
								  d.boolean("host_writable"), d.boolean("write")};
				    const W s = spec::make_spte(d, f, r, x);
				    return Query{{d.ule(d.lit(1), r.level), d.ule(r.level, d.lit(3))},
						 spec::spte_writable_invariant(d, f, s),
						 {{"spte", s}}};
			    }));

	out.push_back(lemma(nm(f, "writable_invariant.make_small_spte"), "lemma",
			    "spte.c make_small_spte(); spte.h check_spte_writable_invariants()",
			    "split children keep the writable-bit invariant of the huge SPTE",
			    fl::split_sets_writable, [f](const Symbolic& d, spec::Fault x) {
				    const W huge = d.word("huge_spte"), i = d.word("index"), cl = d.word("child_level");
				    const W child = spec::make_small_spte(d, f, huge, cl, i, x);
				    return Query{{spec::is_shadow_present_pte(d, f, huge), spec::is_large_pte(d, f, huge),
						  spec::spte_writable_invariant(d, f, huge), d.ule(d.lit(1), cl),
						  d.ule(cl, d.lit(2)), d.ult(i, d.lit(512))},
						 spec::spte_writable_invariant(d, f, child),
						 {{"child", child}}};
			    }));

	out.push_back(lemma(nm(f, "writable_invariant.make_huge_spte"), "lemma",
			    "spte.c make_huge_spte(); spte.h check_spte_writable_invariants()",
			    "a recovered huge SPTE keeps the writable-bit invariant of the small one",
			    fl::huge_sets_writable, [f](const Symbolic& d, spec::Fault x) {
				    const W small = d.word("small_spte"), level = d.word("level");
				    const W huge = spec::make_huge_spte(d, f, small, level, x);
				    return Query{{spec::is_shadow_present_pte(d, f, small),
						  spec::spte_writable_invariant(d, f, small), d.ule(d.lit(2), level),
						  d.ule(level, d.lit(3))},
						 spec::spte_writable_invariant(d, f, huge),
						 {{"huge", huge}}};
			    }));

	out.push_back(lemma(nm(f, "writable_invariant.fast_page_fault"), "lemma",
			    "mmu.c fast_pf_fix_direct_spte(), is_access_allowed(); spte.h",
			    "the lockless fast-path fix restores W only on MMU-writable SPTEs, keeping the invariant",
			    fl::fast_pf_ignores_mmu_writable, [f](const Symbolic& d, spec::Fault x) {
				    const W old = d.word("old_spte");
				    const W fixed = spec::fast_pf_fix_spte(d, f, old, d.boolean("write_fault"), x);
				    return Query{{spec::is_shadow_present_pte(d, f, old),
						  spec::spte_writable_invariant(d, f, old)},
						 spec::spte_writable_invariant(d, f, fixed),
						 {{"new", fixed}}};
			    }));

	out.push_back(lemma(nm(f, "flush_on_mmu_writable_revoke"), "lemma",
			    "spte.h leaf_spte_change_needs_tlb_flush()",
			    "replacing a writable leaf by one that is not MMU-writable needs a TLB flush; write-"
			    "protecting while keeping MMU-writable does not",
			    fl::flush_only_on_pfn_change, [f](const Symbolic& d, spec::Fault x) {
				    const W o = d.word("old_spte"), n = d.word("new_spte");
				    const W wp = spec::make_wrprot_spte(d, f, o);
				    const B revoke = spec::is_writable_pte(d, f, o) && !spec::is_mmu_writable_spte(d, f, n);
				    return Query{{spec::is_shadow_present_pte(d, f, o), spec::spte_writable_invariant(d, f, o),
						  spec::is_shadow_present_pte(d, f, n)},
						 spec::implies(d, revoke, spec::leaf_spte_change_needs_tlb_flush(d, f, o, n, x)) &&
							 !spec::leaf_spte_change_needs_tlb_flush(d, f, o, wp, x),
						 {}};
			    }));

	out.push_back(lemma(nm(f, "pfn_roundtrip"), "lemma", "spte.c make_spte(); spte.h spte_to_pfn()",
			    "spte_to_pfn(make_spte(pfn)) == pfn for every 40-bit PFN", fl::pfn_mask_narrow,
			    [f](const Symbolic& d, spec::Fault x) {
				    spec::LeafRequest<Symbolic> r{d.word("pfn"), d.word("level"), d.boolean("exec"),
								  d.boolean("host_writable"), d.boolean("write")};
				    const W s = spec::make_spte(d, f, r);
				    return Query{{d.ult(r.pfn, d.lit(spec::bit_ull(40))), d.ule(d.lit(1), r.level),
						  d.ule(r.level, d.lit(3))},
						 spec::spte_to_pfn(d, f, s, x) == r.pfn && spec::is_shadow_present_pte(d, f, s) &&
							 spec::is_last_spte(d, f, s, r.level),
						 {{"spte", s}}};
			    }));
}

// The tiny geometries the model checker explores (2, 4 and 8 entries per
// table) run the same split rules; prove them at those sizes too.
void add_tiny_geometry(std::vector<Obligation>& out, const SpteFlavor& f)
{
	for (const unsigned bits : {1u, 2u, 3u}) {
		const std::string tag = "level_bits" + std::to_string(bits);
		out.push_back(lemma(
			nm(f, ("split_roundtrip." + tag).c_str()), "lemma",
			"spte.c make_small_spte(), make_huge_spte(); spec Paging (tiny tables for model checking)",
			"with " + std::to_string(1u << bits) + "-entry tables, child i of a split maps pfn + i * "
			"pages-per-child and make_huge_spte recovers the huge SPTE, for split levels 2M-like and 1G-like",
			fl::split_wrong_stride, [f, bits](const Symbolic& d, spec::Fault x) {
				const W huge = d.word("huge_spte"), i = d.word("index"), cl = d.word("child_level");
				const W child = spec::make_small_spte(d, f, huge, cl, i, x, bits);
				const W back = spec::make_huge_spte(d, f, child, cl + d.lit(1), spec::no_fault, bits);
				const W align = spec::pages_per_hpage(d, cl + d.lit(1), bits) - d.lit(1);
				return Query{{spec::is_shadow_present_pte(d, f, huge), spec::is_large_pte(d, f, huge),
					      (spec::spte_to_pfn(d, f, huge) & align) == d.lit(0), d.ule(d.lit(1), cl),
					      d.ule(cl, d.lit(2)), d.ult(i, d.lit(u64{1} << bits))},
					     spec::spte_to_pfn(d, f, child) ==
							     spec::spte_to_pfn(d, f, huge) +
								     i * spec::pages_per_hpage(d, cl, bits) &&
						     back == huge,
					     {{"child", child}, {"back", back}}};
			}));
	}
}

} // namespace

void add_spte_obligations(std::vector<Obligation>& out)
{
	for (const SpteFlavor& f : spec::spte_flavors)
		add_for(out, f);
	for (const SpteFlavor& f : spec::spte_flavors)
		add_tiny_geometry(out, f);
}

} // namespace arborist::proofs
