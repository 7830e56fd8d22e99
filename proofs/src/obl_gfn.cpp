// SPDX-License-Identifier: GPL-2.0-only
//
// GFN algebra with the TDX shared bit (spec/arborist/gfn.hpp; seed 002;
// Linux v6.19 tdp_iter.h, tdp_iter.c), for 4- and 5-level S-EPT.
#include <string>

#include "arborist/gfn.hpp"
#include "arborist/obligation.hpp"

namespace arborist::proofs {

namespace {

using spec::TdGeometry;
using W = SymWord;
using B = SymBool;
namespace fl = spec::faults;

std::string nm(const TdGeometry& g, const char* what)
{
	return "gfn.pwl" + std::to_string(g.pwl) + "." + what;
}

// Root-table entries that the TD's GPAW can address: 512 at PWL 4 (GPA
// bits 47:39), 16 at PWL 5 (bits 51:48).
spec::u64 root_entries(const TdGeometry& g)
{
	const unsigned root_shift = spec::PAGE_SHIFT + spec::SPTE_LEVEL_BITS * (g.root_level() - 1);
	return spec::u64{1} << (g.gpaw() - root_shift);
}

void add_for(std::vector<Obligation>& out, const TdGeometry& g)
{
	out.push_back(lemma(
		nm(g, "shared_alias_bijection"), "lemma",
		"seed 002; mmu.h kvm_gfn_direct_bits(); kvm_mmu_do_page_fault()",
		"stripping the shared bit (fault->gfn) and re-adding it (gfn | gfn_bits) are inverse "
		"bijections between private and shared aliases",
		fl::shared_bit_off_by_one, [g](const Symbolic& d, spec::Fault x) {
			const W p = d.word("private_gfn"), s = d.word("shared_gfn");
			const W bits = spec::gfn_direct_bits(d, g);
			const W added = spec::gfn_add_shared(d, g, p, x);
			const W stripped = spec::fault_gfn(d, g, spec::gfn_to_gpa(d, s), x);
			return Query{{d.ult(p, bits), !((s & bits) == d.lit(0)), spec::gfn_within_gpaw(d, g, s)},
				     spec::fault_gfn(d, g, spec::gfn_to_gpa(d, added), x) == p &&
					     spec::gfn_add_shared(d, g, stripped, x) == s && !((added & bits) == d.lit(0)) &&
					     d.ult(stripped, bits),
				     {{"p|bits", added}, {"strip(s)", stripped}}};
		}));

	out.push_back(lemma(
		nm(g, "root_index_upper_half"), "lemma",
		"seed 002; tdp_iter.c tdp_iter_refresh_sptep() SPTE_INDEX((gfn | gfn_bits) << PAGE_SHIFT)",
		"the root-level index of gfn | gfn_bits lies in the upper half of the root entries the GPAW "
		"addresses exactly for shared GFNs, so direct-root walks use the upper half and mirror-root "
		"walks the lower half",
		fl::walk_ignores_gfn_bits, [g](const Symbolic& d, spec::Fault x) {
			const W gfn = d.word("gfn"), addr = d.word("fault_addr");
			const W root = d.lit(g.root_level());
			const spec::u64 n = root_entries(g);
			const W idx = spec::spte_index(d, spec::gfn_to_gpa(d, gfn), root);
			const B shared = !((gfn & spec::gfn_direct_bits(d, g)) == d.lit(0));
			const B mirror = spec::fault_uses_mirror_root(d, g, addr);
			const W wgfn = spec::fault_gfn(d, g, addr);
			const W widx = spec::tdp_iter_index(d, wgfn, spec::kvm_gfn_root_bits(d, g, mirror), root, x);
			return Query{{spec::gfn_within_gpaw(d, g, gfn),
				      spec::gfn_within_gpaw(d, g, spec::gpa_to_gfn(d, addr))},
				     d.ult(idx, d.lit(n)) && (d.ule(d.lit(n / 2), idx) == shared) &&
					     (d.ule(d.lit(n / 2), widx) == !mirror),
				     {{"root_index", idx}, {"walk_index", widx}}};
		}));

	out.push_back(lemma(
		nm(g, "mirror_walk_never_shared"), "lemma",
		"seed 002; mmu.h kvm_gfn_root_bits(); tdp_mmu.c tdp_mmu_get_root_for_fault(); tdp_iter_start()",
		"a fault on a private address walks the mirror root with a GFN that never has the shared bit, "
		"a shared one walks the direct root with it, and tdp_iter_start accepts both",
		fl::mirror_root_has_gfn_bits, [g](const Symbolic& d, spec::Fault x) {
			const W addr = d.word("fault_addr");
			const B mirror = spec::fault_uses_mirror_root(d, g, addr);
			const W gfn = spec::fault_gfn(d, g, addr);
			const W bits = spec::kvm_gfn_root_bits(d, g, mirror, x);
			const W walk = gfn | bits;
			const B has_shared = !((walk & spec::gfn_direct_bits(d, g)) == d.lit(0));
			return Query{{spec::gfn_within_gpaw(d, g, spec::gpa_to_gfn(d, addr))},
				     (has_shared == !mirror) && spec::tdp_iter_start_ok(d, gfn, bits),
				     {{"fault->gfn", gfn}, {"gfn_bits", bits}}};
		}));

	out.push_back(lemma(nm(g, "fault_gfn_strips_shared"), "lemma",
			    "seed 002; mmu.h kvm_mmu_do_page_fault(); mmu_internal.h struct kvm_page_fault .gfn",
			    "fault->gfn never contains the shared bit, and differs from gpa_to_gfn(addr) only in it",
			    fl::strip_keeps_shared, [g](const Symbolic& d, spec::Fault x) {
				    const W addr = d.word("fault_addr");
				    const W gfn = spec::fault_gfn(d, g, addr, x);
				    const W bits = spec::gfn_direct_bits(d, g);
				    return Query{{spec::gfn_within_gpaw(d, g, spec::gpa_to_gfn(d, addr))},
						 (gfn & bits) == d.lit(0) && (gfn | bits) == (spec::gpa_to_gfn(d, addr) | bits),
						 {{"fault->gfn", gfn}}};
			    }));
}

} // namespace

void add_gfn_obligations(std::vector<Obligation>& out)
{
	for (const TdGeometry& g : spec::td_geometries)
		add_for(out, g);

	out.push_back(lemma("gfn.round_for_level", "lemma", "mmu_internal.h gfn_round_for_level(); KVM_PAGES_PER_HPAGE",
			    "gfn_round_for_level(gfn, l) is the largest KVM_PAGES_PER_HPAGE(l)-aligned GFN <= gfn, for "
			    "every level 1..5",
			    fl::round_off_by_one, [](const Symbolic& d, spec::Fault x) {
				    const W gfn = d.word("gfn"), level = d.word("level");
				    const W r = spec::gfn_round_for_level(d, gfn, level, x);
				    const W pages = spec::pages_per_hpage(d, level);
				    return Query{{d.ule(d.lit(1), level), d.ule(level, d.lit(5))},
						 d.ule(r, gfn) && d.ult(gfn - r, pages) &&
							 (r & (pages - d.lit(1))) == d.lit(0),
						 {{"rounded", r}}};
			    }));
}

} // namespace arborist::proofs
