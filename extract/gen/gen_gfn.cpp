// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: gfn.h: the GFN algebra with the TDX shared bit of spec/arborist/gfn.hpp,
// PWL 4 and 5.
#include "common.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <string>
#include <vector>

#include <boost/hana/accessors.hpp>
#include <boost/hana/at_key.hpp>
#include <boost/hana/keys.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include "arborist/gfn.hpp"

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;

namespace {

void gfn_geometry(Header& h, const sp::TdGeometry g)
{
	const std::string p = "arborist_pwl" + std::to_string(g.pwl) + "_";
	const std::string ob = "gfn.pwl" + std::to_string(g.pwl) + ".";
	const std::string shared = "GPA bit " + std::to_string(g.shared_gpa_bit());
	const W bits = sp::gfn_direct_bits(d, g);

	h.add(p + "gfn_direct_bits", "kvm_gfn_direct_bits() of a TD with EPTP.PWL " + std::to_string(g.pwl) +
						       ": gpa_to_gfn(" + shared + "),\nthe shared bit (seed 002).",
		    false, {}, [g](const Args&) { return Value{sp::gfn_direct_bits(d, g)}; })
		.ensure("single_bit", [](const Args& a) { return ne(a.result(), d.lit(0)) && (a.result() & (a.result() - d.lit(1))) == d.lit(0); })
		.ensure("within_gpaw", [g](const Args& a) { return sp::gfn_within_gpaw(d, g, a.result()); },
			"below 2^(GPAW - 12): the TD can address both aliases");

	h.add(p + "kvm_gfn_root_bits", "kvm_gfn_root_bits(kvm, root): 0 for a mirror root, the direct bits\n"
						 "otherwise; the walk indexes with gfn | gfn_bits (mmu.h).",
		    false, {bool_param("is_mirror")},
		    [g](const Args& a) { return Value{sp::kvm_gfn_root_bits(d, g, a.b("is_mirror"))}; })
		.ensure("mirror_walk_never_shared", [](const Args& a) { return sp::implies(d, a.b("is_mirror"), a.result() == d.lit(0)); },
			"Z3: " + ob + "mirror_walk_never_shared")
		.ensure("direct_walk_shared", [bits](const Args& a) { return sp::implies(d, !a.b("is_mirror"), a.result() == bits); },
			"Z3: " + ob + "mirror_walk_never_shared");

	h.add(p + "fault_gfn", "kvm_mmu_do_page_fault(): fault->gfn = gpa_to_gfn(addr) & ~kvm_gfn_direct_bits();\n"
					 "fault->addr keeps the shared bit, fault->gfn never has it (seed 002).",
		    false, {word_param("addr")}, [g](const Args& a) { return Value{sp::fault_gfn(d, g, a.w("addr"))}; }, true)
		.ensure("strips_shared", [bits](const Args& a) { return (a.result() & bits) == d.lit(0); },
			"Z3: " + ob + "fault_gfn_strips_shared")
		.ensure("only_the_shared_bit",
			[bits](const Args& a) { return (a.result() | bits) == (sp::gpa_to_gfn(d, a.w("addr")) | bits); },
			"Z3: " + ob + "fault_gfn_strips_shared");

	h.add(p + "gfn_add_shared", "gfn | kvm_gfn_direct_bits(): the shared alias of a GFN, what a direct-root\n"
					      "walk indexes with.",
		    false, {word_param("gfn")}, [g](const Args& a) { return Value{sp::gfn_add_shared(d, g, a.w("gfn"))}; }, true)
		.ensure("has_shared", [bits](const Args& a) { return ne(a.result() & bits, d.lit(0)); });

	h.add(p + "kvm_is_addr_direct", "kvm_is_addr_direct(): the GPA has the shared bit (mmu.h).", true,
		    {word_param("gpa")}, [g](const Args& a) { return Value{sp::kvm_is_addr_direct(d, g, a.w("gpa"))}; })
		.ensure("shared_gfn",
			[bits](const Args& a) { return iff(a.result_bool(), ne(sp::gpa_to_gfn(d, a.w("gpa")) & bits, d.lit(0))); },
			"the same bit seen in the GFN");

	h.add(p + "fault_uses_mirror_root", "tdp_mmu_get_root_for_fault(): the mirror root iff the address is private\n"
						      "(tdp_mmu.c).",
		    true, {word_param("addr")}, [g](const Args& a) { return Value{sp::fault_uses_mirror_root(d, g, a.w("addr"))}; })
		.ensure("walk_alias_matches_root",
			[g, bits](const Args& a) {
				const W gfn = sp::fault_gfn(d, g, a.w("addr"));
				const W root_bits = sp::kvm_gfn_root_bits(d, g, a.result_bool());
				return iff(ne((gfn | root_bits) & bits, d.lit(0)), !a.result_bool());
			},
			"Z3: " + ob + "mirror_walk_never_shared");

}

// The Z3 lemmas of one geometry, over the models of fault_gfn and gfn_add_shared.
void gfn_geometry_axioms(Header& h, const sp::TdGeometry g)
{
	const std::string p = "arborist_pwl" + std::to_string(g.pwl) + "_";
	const std::string ob = "gfn.pwl" + std::to_string(g.pwl) + ".";
	const W bits = sp::gfn_direct_bits(d, g);
	h.axioms.push_back({p + "fault_walk_starts", ob + "mirror_walk_never_shared", {word_param("addr")},
			    [g, p](const Args& a) {
				    const W addr = a.w("addr");
				    const W gfn = model(p + "fault_gfn", {"addr"});
				    const W root_bits = sp::kvm_gfn_root_bits(d, g, sp::fault_uses_mirror_root(d, g, addr));
				    return sp::implies(d, sp::gfn_within_gpaw(d, g, sp::gpa_to_gfn(d, addr)),
						       sp::tdp_iter_start_ok(d, gfn, root_bits));
			    }});
	h.axioms.push_back({p + "shared_alias_bijection", ob + "shared_alias_bijection",
			    {word_param("private_gfn"), word_param("shared_gfn")},
			    [g, p, bits](const Args& a) {
				    const W pg = a.w("private_gfn"), sg = a.w("shared_gfn");
				    const W added = model(p + "gfn_add_shared", {"private_gfn"});
				    const W stripped = model(p + "fault_gfn", {sp::gfn_to_gpa(d, sg).acsl()});
				    const W back = model(p + "fault_gfn", {sp::gfn_to_gpa(d, added).acsl()});
				    const W again = model(p + "gfn_add_shared", {stripped.acsl()});
				    return sp::implies(d, d.ult(pg, bits) && ne(sg & bits, d.lit(0)) && sp::gfn_within_gpaw(d, g, sg),
						       back == pg && again == sg && d.ult(stripped, bits));
			    }});
}

void gfn_common(Header& h)
{
	const char* levels = "PG_LEVEL_4K .. PT64_ROOT_MAX_LEVEL";
	auto level_ok = [](const Args& a) { return between(a.w("level"), sp::PG_LEVEL_4K, sp::PT64_ROOT_MAX_LEVEL); };

	h.add("arborist_pages_per_hpage", "KVM_PAGES_PER_HPAGE(level) = 512^(level - 1) (kvm_host.h).", false,
	      {word_param("level")}, [](const Args& a) { return Value{sp::pages_per_hpage(d, a.w("level"))}; })
		.require("level", level_ok, levels)
		.ensure("table", [](const Args& a) {
			B all = d.truth(true);
			for (u64 l = sp::PG_LEVEL_4K; l <= sp::PT64_ROOT_MAX_LEVEL; l++)
				all = all && sp::implies(d, a.w("level") == d.lit(l),
							 a.result() == d.lit(sp::pages_per_hpage(sp::concrete, l)));
			return all;
		}, "4K, 2M, 1G, 512G, 256T in 4K pages");

	h.add("arborist_spte_index", "SPTE_INDEX(addr, level): the index of addr's entry in a table at level.", false,
	      {word_param("addr"), word_param("level")},
	      [](const Args& a) { return Value{sp::spte_index(d, a.w("addr"), a.w("level"))}; })
		.require("level", level_ok, levels)
		.ensure("in_table", [](const Args& a) { return d.ult(a.result(), d.lit(sp::SPTE_ENT_PER_PAGE)); });

	h.add("arborist_tdp_iter_index", "tdp_iter_refresh_sptep(): SPTE_INDEX((gfn | gfn_bits) << PAGE_SHIFT, level)\n"
					  "(tdp_iter.c).",
	      false, {word_param("gfn"), word_param("gfn_bits"), word_param("level")},
	      [](const Args& a) { return Value{sp::tdp_iter_index(d, a.w("gfn"), a.w("gfn_bits"), a.w("level"))}; })
		.require("level", level_ok, levels)
		.ensure("in_table", [](const Args& a) { return d.ult(a.result(), d.lit(sp::SPTE_ENT_PER_PAGE)); })
		.ensure("mirror_walk_indexes_gfn",
			[](const Args& a) {
				return sp::implies(d, a.w("gfn_bits") == d.lit(0),
						   a.result() == sp::spte_index(d, sp::gfn_to_gpa(d, a.w("gfn")), a.w("level")));
			},
			"gfn_bits is 0 for a mirror root");

	h.add("arborist_gfn_round_for_level", "gfn_round_for_level(gfn, level) = gfn & -KVM_PAGES_PER_HPAGE(level)\n"
					       "(mmu_internal.h).",
	      false, {word_param("gfn"), word_param("level")},
	      [](const Args& a) { return Value{sp::gfn_round_for_level(d, a.w("gfn"), a.w("level"))}; }, true)
		.require("level", level_ok, levels);

	h.add("arborist_tdp_iter_start_ok", "tdp_iter_start(): WARNs and refuses an aliased GFN: \"gfn_bits &&\n"
					     "next_last_level_gfn >= gfn_bits\" (tdp_iter.c).",
	      true, {word_param("gfn"), word_param("gfn_bits")},
	      [](const Args& a) { return Value{sp::tdp_iter_start_ok(d, a.w("gfn"), a.w("gfn_bits"))}; })
		.ensure("no_bits_any_gfn", [](const Args& a) { return sp::implies(d, a.w("gfn_bits") == d.lit(0), a.result_bool()); })
		.ensure("aliased_gfn_rejected", [](const Args& a) {
			return sp::implies(d, ne(a.w("gfn_bits"), d.lit(0)) && d.ule(a.w("gfn_bits"), a.w("gfn")), !a.result_bool());
		});

	h.axioms.push_back({"arborist_round_for_level", "gfn.round_for_level", {word_param("gfn"), word_param("level")},
			    [](const Args& a) {
				    const W gfn = a.w("gfn");
				    const W r = model("arborist_gfn_round_for_level", {"gfn", "level"});
				    const W pages = sp::pages_per_hpage(d, a.w("level"));
				    return sp::implies(d, between(a.w("level"), 1, 5),
						       d.ule(r, gfn) && d.ult(gfn - r, pages) && (r & (pages - d.lit(1))) == d.lit(0));
			    }});
}

} // namespace

Output gfn_header()
{
	Header h;
	h.file = "gfn.h";
	h.sources = {"spec/arborist/gfn.hpp", "spec/arborist/spte.hpp"};
	h.summary = "The GFN algebra with the TDX shared bit (seed 002; Linux v6.19 mmu.h,\n"
		    "mmu_internal.h, tdp_iter.c), for S-EPT with EPTP.PWL 4 (shared bit = GPA bit 47)\n"
		    "and 5 (GPA bit 51), and the geometry-independent index arithmetic.";
	h.axiomatic = "arborist_gfn";
	for (const sp::TdGeometry& g : sp::td_geometries) {
		gfn_geometry(h, g);
		gfn_geometry_axioms(h, g);
	}
	gfn_common(h);
	return {h.file, emit(h)};
}

} // namespace arborist::extract::gen
