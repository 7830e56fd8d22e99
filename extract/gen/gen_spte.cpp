// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: spte_ept.h and spte_npt.h: the SPTE encoding of spec/arborist/spte.hpp,
// one header per flavour.
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

#include "arborist/spte.hpp"

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;

namespace {

struct SpteArea {
	const sp::SpteFlavor& f;
	std::string p;  // C prefix, e.g. "ept_v6_19_"
	std::string ob; // obligation prefix, e.g. "spte.ept-v6.19."
	Header h;

	B present(const W& s) const { return sp::is_shadow_present_pte(d, f, s); }
	B large(const W& s) const { return sp::is_large_pte(d, f, s); }
	B last(const W& s, const W& l) const { return sp::is_last_spte(d, f, s, l); }
	B writable(const W& s) const { return sp::is_writable_pte(d, f, s); }
	B mmu_w(const W& s) const { return sp::is_mmu_writable_spte(d, f, s); }
	B host_w(const W& s) const { return sp::is_host_writable_spte(d, f, s); }
	B inv(const W& s) const { return sp::spte_writable_invariant(d, f, s); }
	W pfn(const W& s) const { return sp::spte_to_pfn(d, f, s); }
	std::string z3(const std::string& what) const { return "Z3: " + ob + what; }

	void constants();
	void predicates();
	void writable_bits();
	void constructors();
	void split();
	static B per_huge_level(const Args& a, const B& p);
	void dirty_logging();
	void axioms();
	B huge_leaf(const W& huge, unsigned child_level) const;
	void split_axioms();
};

void SpteArea::constants()
{
	std::string up;
	for (const char c : p)
		up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	h.defines = {
		define(up + "FROZEN_SPTE", sp::frozen_spte(sp::concrete, f), "FROZEN_SPTE / REMOVED_SPTE"),
		define(up + "SHADOW_NONPRESENT_VALUE", sp::nonpresent_spte(sp::concrete, f), "SHADOW_NONPRESENT_VALUE"),
		define(up + "SPTE_MMU_PRESENT_MASK", f.mmu_present, "SPTE_MMU_PRESENT_MASK"),
		define(up + "SPTE_BASE_ADDR_MASK", f.pfn_mask, "SPTE_BASE_ADDR_MASK, bits 51:12"),
	};
}

void SpteArea::predicates()
{
	h.add(p + "is_shadow_present_pte", "is_shadow_present_pte(): the software MMU-present bit, the only present\n"
					     "test of the TDP MMU (spte.h).",
	       true, {word_param("spte")}, [this](const Args& a) { return Value{present(a.w("spte"))}; })
		.ensure("frozen_not_present",
			[this](const Args& a) { return sp::implies(d, a.w("spte") == sp::frozen_spte(d, f), !a.result_bool()); },
			z3("frozen_not_present"))
		.ensure("nonpresent_not_present",
			[this](const Args& a) {
				return sp::implies(d, a.w("spte") == sp::nonpresent_spte(d, f), !a.result_bool());
			},
			z3("nonpresent_not_present"));

	h.add(p + "is_frozen_spte", "is_frozen_spte(): the value handle_removed_pt() and the mirror write path\n"
				      "park an SPTE at while they own it (spte.h).",
	       true, {word_param("spte")}, [this](const Args& a) { return Value{sp::is_frozen_spte(d, f, a.w("spte"))}; })
		.ensure("frozen_not_present", [this](const Args& a) { return sp::implies(d, a.result_bool(), !present(a.w("spte"))); },
			z3("frozen_not_present"))
		.ensure("frozen_not_zapped",
			[this](const Args& a) {
				return sp::implies(d, a.result_bool(), ne(a.w("spte"), sp::nonpresent_spte(d, f)));
			},
			z3("nonpresent_not_present"));

	h.add(p + "is_large_pte", "is_large_pte(): PT_PAGE_SIZE_MASK (spte.h).", true, {word_param("spte")},
	       [this](const Args& a) { return Value{large(a.w("spte"))}; })
		.ensure_forall("last_at_every_level", {word_param("level")},
			       [this](const Args& a) { return sp::implies(d, a.result_bool(), last(a.w("spte"), a.w("level"))); },
			       "spte.h is_last_spte(): a large SPTE is a leaf at any level");

	h.add(p + "is_last_spte", "is_last_spte(): \"level == PG_LEVEL_4K || is_large_pte(pte)\"; no present\n"
				    "test (spte.h).",
	       true, {word_param("spte"), word_param("level")},
	       [this](const Args& a) { return Value{last(a.w("spte"), a.w("level"))}; })
		.require("level", [](const Args& a) { return between(a.w("level"), sp::PG_LEVEL_4K, sp::PT64_ROOT_MAX_LEVEL); },
			 "PG_LEVEL_4K .. PT64_ROOT_MAX_LEVEL")
		.ensure("leaf_at_4k", [](const Args& a) { return sp::implies(d, a.w("level") == d.lit(1), a.result_bool()); })
		.ensure("large_is_last", [this](const Args& a) { return sp::implies(d, large(a.w("spte")), a.result_bool()); })
		.ensure("table_is_not_last", [this](const Args& a) {
			return sp::implies(d, !large(a.w("spte")) && ne(a.w("level"), d.lit(1)), !a.result_bool());
		});

	h.add(p + "spte_to_pfn", "spte_to_pfn(): SPTE_BASE_ADDR_MASK >> PAGE_SHIFT (spte.h).", false,
	       {word_param("spte")}, [this](const Args& a) { return Value{pfn(a.w("spte"))}; })
		.ensure("pfn_width", [](const Args& a) { return d.ult(a.result(), d.lit(sp::bit_ull(40))); },
			"SPTE_BASE_ADDR_MASK is bits 51:12: a 40-bit PFN");
}

void SpteArea::writable_bits()
{
	const std::string src = "spte.h check_spte_writable_invariants()";
	h.add(p + "is_writable_pte", "is_writable_pte(): hardware W (PT_WRITABLE_MASK).", true, {word_param("spte")},
	       [this](const Args& a) { return Value{writable(a.w("spte"))}; })
		.ensure("writable_is_mmu_writable",
			[this](const Args& a) { return sp::implies(d, a.result_bool() && inv(a.w("spte")), mmu_w(a.w("spte"))); },
			src);

	h.add(p + "is_mmu_writable_spte", "is_mmu_writable_spte(): the software MMU-writable bit, which lets the\n"
					    "fast page-fault path restore W without mmu_lock (spte.h).",
	       true, {word_param("spte")}, [this](const Args& a) { return Value{mmu_w(a.w("spte"))}; })
		.ensure("mmu_writable_is_host_writable",
			[this](const Args& a) { return sp::implies(d, a.result_bool() && inv(a.w("spte")), host_w(a.w("spte"))); },
			src);

	h.add(p + "is_host_writable_spte", "is_host_writable_spte(): the memslot/VMA allowed writes when the SPTE\n"
					     "was made (spte.h).",
	       true, {word_param("spte")}, [this](const Args& a) { return Value{host_w(a.w("spte"))}; })
		.ensure("read_only_host_means_read_only",
			[this](const Args& a) {
				return sp::implies(d, !a.result_bool() && inv(a.w("spte")),
						   !writable(a.w("spte")) && !mmu_w(a.w("spte")));
			},
			src);

	h.add(p + "spte_writable_invariant", "check_spte_writable_invariants() as a predicate: MMU-writable implies\n"
					       "host-writable, and W implies MMU-writable (spte.h).",
	       true, {word_param("spte")}, [this](const Args& a) { return Value{inv(a.w("spte"))}; })
		.ensure("legal_triples",
			[this](const Args& a) {
				const W s = a.w("spte");
				const W triple = sp::bit(d, host_w(s), 4) | sp::bit(d, mmu_w(s), 2) | sp::bit(d, writable(s), 1);
				const u64 legal[] = {7, 6, 4, 0}; // (host, mmu, W)
				return iff(a.result_bool(), sp::one_of(d, triple, legal));
			},
			"the legal (host-writable, MMU-writable, W) triples are 111, 110, 100 and 000");

	h.add(p + "leaf_spte_change_needs_tlb_flush",
	       "leaf_spte_change_needs_tlb_flush(): a flush is needed exactly when MMU-writable\n"
	       "is revoked; clearing A, D or W alone does not need one (spte.h).",
	       true, {word_param("old_spte"), word_param("new_spte")},
	       [this](const Args& a) { return Value{sp::leaf_spte_change_needs_tlb_flush(d, f, a.w("old_spte"), a.w("new_spte"))}; })
		.ensure("revoking_write_flushes",
			[this](const Args& a) {
				const W o = a.w("old_spte"), n = a.w("new_spte");
				return sp::implies(d, inv(o) && writable(o) && !mmu_w(n), a.result_bool());
			},
			z3("flush_on_mmu_writable_revoke"))
		.ensure("write_protect_needs_no_flush",
			[this](const Args& a) {
				const W o = a.w("old_spte");
				return sp::implies(d, a.w("new_spte") == sp::make_wrprot_spte(d, f, o), !a.result_bool());
			},
			z3("flush_on_mmu_writable_revoke"));
}

void SpteArea::constructors()
{
	h.add(p + "make_nonleaf_spte", "make_nonleaf_spte(child_pt, ad_disabled): a page-table SPTE, always\n"
					 "full-permission; the A/D type bits say whether A/D are in use (spte.c).",
	       false, {word_param("child_pa"), bool_param("ad_disabled")},
	       [this](const Args& a) { return Value{sp::make_nonleaf_spte(d, f, a.w("child_pa"), a.b("ad_disabled"))}; },
	       true)
		.ensure("present", [this](const Args& a) { return present(a.result()); }, z3("nonleaf_present_not_last"))
		.ensure_forall("not_last",
			       {word_param("level")},
			       [this](const Args& a) {
				       return sp::implies(d, d.ule(d.lit(2), a.w("level")), !last(a.result(), a.w("level")));
			       },
			       z3("nonleaf_present_not_last"))
		.ensure("full_permission", [this](const Args& a) { return writable(a.result()); }, "spte.c make_nonleaf_spte()");

	h.add(p + "make_spte", "make_spte() for a RAM leaf on a TDP root: the bits it assembles from the\n"
				 "fault (spte.c).  MMIO SPTEs, prefetch access tracking and the NX\n"
				 "huge-page mitigation are outside the model (docs/spec.md).",
	       false,
	       {word_param("pfn"), word_param("level"), bool_param("exec"), bool_param("host_writable"),
		bool_param("write")},
	       [this](const Args& a) {
		       const sp::LeafRequest<CExpr> r{a.w("pfn"), a.w("level"), a.b("exec"), a.b("host_writable"), a.b("write")};
		       return Value{sp::make_spte(d, f, r)};
	       },
	       true)
		.require("level", [](const Args& a) { return between(a.w("level"), sp::PG_LEVEL_4K, sp::PG_LEVEL_1G); },
			 "a leaf: PG_LEVEL_4K .. PG_LEVEL_1G")
		.ensure("present", [this](const Args& a) { return present(a.result()); }, z3("pfn_roundtrip"))
		.ensure("last", [this](const Args& a) { return last(a.result(), a.w("level")); }, z3("pfn_roundtrip"))
		.ensure("writable_invariant", [this](const Args& a) { return inv(a.result()); },
			z3("writable_invariant.make_spte"))
		.ensure("write_needs_host_writable",
			[this](const Args& a) {
				return sp::implies(d, !a.b("host_writable"), !writable(a.result()) && !mmu_w(a.result()));
			},
			"spte.c make_spte(): \"if (!host_writable) access &= ~ACC_WRITE\"")
		.ensure("write_granted",
			[this](const Args& a) {
				return sp::implies(d, a.b("write") && a.b("host_writable"), writable(a.result()) && mmu_w(a.result()));
			},
			"spte.c make_spte()");
}

void SpteArea::split()
{
	h.add(p + "make_small_spte", "make_small_spte(kvm, huge_spte, role, index): child @index of a split;\n"
				       "child_level is role.level, the level of the new table (spte.c).",
	       false, {word_param("huge_spte"), word_param("child_level"), word_param("index")},
	       [this](const Args& a) {
		       return Value{sp::make_small_spte(d, f, a.w("huge_spte"), a.w("child_level"), a.w("index"))};
	       },
	       true)
		.require("child_level", [](const Args& a) { return between(a.w("child_level"), sp::PG_LEVEL_4K, sp::PG_LEVEL_2M); },
			 "splits are 2M -> 4K and 1G -> 2M")
		.require("index", [](const Args& a) { return d.ult(a.w("index"), d.lit(sp::SPTE_ENT_PER_PAGE)); },
			 "SPTE_ENT_PER_PAGE children")
		.ensure("small_at_4k",
			[this](const Args& a) { return sp::implies(d, a.w("child_level") == d.lit(1), !large(a.result())); },
			z3("split_child_maps_pfn.2M_to_4K"));

	h.add(p + "make_huge_spte", "make_huge_spte(kvm, small_spte, level): the inverse of a split, for\n"
				      "huge-page recovery: set PS and clear the address bits below the huge\n"
				      "alignment (spte.c).",
	       false, {word_param("small_spte"), word_param("level")},
	       [this](const Args& a) { return Value{sp::make_huge_spte(d, f, a.w("small_spte"), a.w("level"))}; },
	       true)
		.require("level", [](const Args& a) { return between(a.w("level"), sp::PG_LEVEL_2M, sp::PG_LEVEL_1G); },
			 "huge pages are 2M and 1G")
		.ensure("large", [this](const Args& a) { return per_huge_level(a, large(a.result())); })
		.ensure("keeps_present",
			[this](const Args& a) {
				return per_huge_level(a, sp::implies(d, present(a.w("small_spte")), present(a.result())));
			})
		.ensure("keeps_writable_invariant",
			[this](const Args& a) {
				return per_huge_level(a, sp::implies(d, inv(a.w("small_spte")), inv(a.result())));
			},
			z3("writable_invariant.make_huge_spte"));
}

// (level == 2M ==> p) && (level == 1G ==> p): one implication per huge level,
// so that WP's Qed evaluates the alignment mask of each level.
B SpteArea::per_huge_level(const Args& a, const B& p)
{
	B all = d.truth(true);
	for (const u64 l : {u64{sp::PG_LEVEL_2M}, u64{sp::PG_LEVEL_1G}})
		all = all && sp::implies(d, a.w("level") == d.lit(l), p);
	return all;
}

void SpteArea::dirty_logging()
{
	h.add(p + "make_wrprot_spte", "Write-protection for dirty logging (tdp_mmu.c wrprot_gfn_range()):\n"
					"clears W only, so MMU-writable stays and the fast path may restore W.",
	       false, {word_param("spte")}, [this](const Args& a) { return Value{sp::make_wrprot_spte(d, f, a.w("spte"))}; })
		.ensure("not_writable", [this](const Args& a) { return !writable(a.result()); })
		.ensure("keeps_mmu_writable", [this](const Args& a) { return iff(mmu_w(a.result()), mmu_w(a.w("spte"))); })
		.ensure("keeps_present", [this](const Args& a) { return iff(present(a.result()), present(a.w("spte"))); })
		.ensure("keeps_invariant", [this](const Args& a) { return sp::implies(d, inv(a.w("spte")), inv(a.result())); })
		.ensure("needs_no_flush",
			[this](const Args& a) { return !sp::leaf_spte_change_needs_tlb_flush(d, f, a.w("spte"), a.result()); },
			z3("flush_on_mmu_writable_revoke"));

	h.add(p + "fast_pf_fix_spte", "fast_page_fault() / fast_pf_fix_direct_spte(): on a write fault, set W on\n"
					"a present MMU-writable SPTE; otherwise return it unchanged (mmu.c).",
	       false, {word_param("spte"), bool_param("write")},
	       [this](const Args& a) { return Value{sp::fast_pf_fix_spte(d, f, a.w("spte"), a.b("write"))}; })
		.ensure("keeps_invariant",
			[this](const Args& a) {
				return sp::implies(d, present(a.w("spte")) && inv(a.w("spte")), inv(a.result()));
			},
			z3("writable_invariant.fast_page_fault"))
		.ensure("needs_mmu_writable",
			[this](const Args& a) { return sp::implies(d, !mmu_w(a.w("spte")), a.result() == a.w("spte")); },
			"mmu.c spte_can_locklessly_be_made_writable()")
		.ensure("fixes_write_fault",
			[this](const Args& a) {
				const W s = a.w("spte");
				return sp::implies(d, a.b("write") && present(s) && mmu_w(s), writable(a.result()));
			})
		.ensure("only_w_changes", [this](const Args& a) {
			const W w = d.lit(f.writable);
			return (a.result() | w) == (a.w("spte") | w);
		});
}

// The bit-level lemmas WP does not decide, as axioms over the logic models,
// each the statement of the Z3 obligation that proves it.
void SpteArea::axioms()
{
	h.axiomatic = p + "spte";
	const std::string mk = p + "make_spte", nl = p + "make_nonleaf_spte";
	h.axioms.push_back({p + "pfn_roundtrip", ob + "pfn_roundtrip",
			    {word_param("pfn"), word_param("level"), bool_param("exec"), bool_param("host_writable"),
			     bool_param("write")},
			    [this, mk](const Args& a) {
				    const W s = model(mk, {"pfn", "level", "exec", "host_writable", "write"});
				    return sp::implies(d, d.ult(a.w("pfn"), d.lit(sp::bit_ull(40))) && between(a.w("level"), 1, 3),
						       pfn(s) == a.w("pfn"));
			    }});
	h.axioms.push_back({p + "nonleaf_points_at_child", ob + "nonleaf_present_not_last",
			    {word_param("child_pa"), bool_param("ad_disabled")},
			    [this, nl](const Args& a) {
				    const W s = model(nl, {"child_pa", "ad_disabled"});
				    const W pa = a.w("child_pa");
				    return sp::implies(d, (pa & ~d.lit(f.pfn_mask)) == d.lit(0),
						       pfn(s) == d.lshr(pa, sp::PAGE_SHIFT));
			    }});
	split_axioms();
}

// A present huge leaf whose PFN is aligned to the parent of child_level: the
// assumption of the split lemmas (proofs/src/obl_spte.cpp huge_leaf()).
B SpteArea::huge_leaf(const W& huge, unsigned child_level) const
{
	const W align = sp::pages_per_hpage(d, d.lit(child_level + 1)) - d.lit(1);
	return present(huge) && large(huge) && (pfn(huge) & align) == d.lit(0) && !sp::is_frozen_spte(d, f, huge);
}

void SpteArea::split_axioms()
{
	struct Split {
		unsigned child_level;
		const char* tag;
	};
	for (const Split s : {Split{1, "2M_to_4K"}, Split{2, "1G_to_2M"}}) {
		const std::string cl = std::to_string(s.child_level);
		h.axioms.push_back({p + "split_child_maps_pfn_" + s.tag, ob + "split_child_maps_pfn." + s.tag,
				    {word_param("huge_spte"), word_param("index")},
				    [this, cl, s](const Args& a) {
					    const W huge = a.w("huge_spte"), i = a.w("index");
					    const W child = model(p + "make_small_spte", {"huge_spte", cl, "index"});
					    const W inherit = d.lit(sp::inherited_bits(f));
					    const B leaf = s.child_level == 1 ? !large(child) : large(child);
					    return sp::implies(
						    d, huge_leaf(huge, s.child_level) && d.ult(i, d.lit(512)),
						    pfn(child) == pfn(huge) + i * sp::pages_per_hpage(d, d.lit(s.child_level)) &&
							    (child & inherit) == (huge & inherit) && present(child) &&
							    last(child, d.lit(s.child_level)) && leaf);
				    }});
		h.axioms.push_back({p + "huge_roundtrip_" + s.tag, ob + "huge_roundtrip." + s.tag,
				    {word_param("huge_spte"), word_param("index")},
				    [this, cl, s](const Args& a) {
					    const W huge = a.w("huge_spte");
					    const W child = model(p + "make_small_spte", {"huge_spte", cl, "index"});
					    const W back = model(p + "make_huge_spte", {child.acsl(), std::to_string(s.child_level + 1)});
					    return sp::implies(d, huge_leaf(huge, s.child_level) && d.ult(a.w("index"), d.lit(512)),
							       back == huge);
				    }});
	}
	h.axioms.push_back({p + "split_keeps_writable_invariant", ob + "writable_invariant.make_small_spte",
			    {word_param("huge_spte"), word_param("child_level"), word_param("index")},
			    [this](const Args& a) {
				    const W huge = a.w("huge_spte");
				    const W child = model(p + "make_small_spte", {"huge_spte", "child_level", "index"});
				    return sp::implies(d, present(huge) && large(huge) && inv(huge) && between(a.w("child_level"), 1, 2) &&
								  d.ult(a.w("index"), d.lit(512)),
						       inv(child));
			    }});
}

} // namespace

Output spte_header(const sp::SpteFlavor& f, const std::string& file, const std::string& prefix)
{
	SpteArea s{f, prefix, "spte." + std::string(f.name) + ".", {}};
	s.h.file = file;
	s.h.sources = {"spec/arborist/spte.hpp"};
	s.h.summary = "SPTE encoding, flavour " + std::string(f.name) + ": predicates and constructors of\n" +
		      (f.name == sp::ept_v6_19.name ? "Linux v6.19 arch/x86/kvm/mmu/spte.h, spte.c (EPT, the TDX case)."
						     : "Linux 6.1 arch/x86/kvm/mmu/spte.h, spte.c (AMD NPT).") +
		      "\nContracts and the Z3-proved axioms: docs/extract.md.";
	s.constants();
	s.predicates();
	s.writable_bits();
	s.constructors();
	s.split();
	s.dirty_logging();
	s.axioms();
	return {file, emit(s.h)};
}

} // namespace arborist::extract::gen
