// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract OUTDIR: writes the kernel-style C headers of
// extract/include/arborist/ (docs/extract.md).
//
// Every function body below is a spec rule evaluated in extract::CExpr with
// its parameters bound to C identifiers, and every contract clause is a
// spec rule (or a Z3 obligation's statement) evaluated the same way over the
// parameters and \result.  Nothing here restates a rule: the headers change
// when spec/ changes, and tests/extract_diff_test.cpp runs the C against
// spec::Concrete.  Which properties WP proves and which are axioms (proved
// by Z3) follows a measurement (docs/sources.md, "WP bit-vector
// measurement") that extraction confirmed (docs/extract.md): WP's
// Qed decides bit tests against constant masks; arithmetic on bit fields
// (PFN round trips, split strides, alias bijections) goes to Z3.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include <boost/hana/accessors.hpp>
#include <boost/hana/at_key.hpp>
#include <boost/hana/keys.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include "arborist/extract/emit.hpp"
#include "arborist/gfn.hpp"
#include "arborist/mirror_hook.hpp"
#include "arborist/root.hpp"
#include "arborist/sept.hpp"
#include "arborist/spte.hpp"
#include "arborist/tlb.hpp"

// The S-EPT leaves are extracted over a view whose S-EPT page below the
// target is summarised (SeptLocal<CExpr, 1>): child[0] is the page's first
// entry, and the two rules that read the whole page are the view's fields
// children_free and children_uniform, which arborist_sept_children_free()
// and arborist_sept_children_uniform() compute from the 512 entries with a
// proved loop.  These two explicit specialisations are the only place the
// C view differs from the spec's; tests/extract_diff_test.cpp runs the C
// leaves against spec::sept_seamcall over whole 512-entry pages.
namespace arborist::extract {
inline const std::string SEPT_VIEW = "s"; // the view parameter of every extracted leaf
} // namespace arborist::extract

namespace arborist::spec {
template <>
extract::CBool all_children_free<extract::CExpr, 1>(const extract::CExpr&, const SeptLocal<extract::CExpr, 1>&)
{
	return extract::CExpr::boolean(extract::SEPT_VIEW + ".children_free");
}

template <>
extract::CBool children_uniform<extract::CExpr, 1>(const extract::CExpr&, const SeptLocal<extract::CExpr, 1>&)
{
	return extract::CExpr::boolean(extract::SEPT_VIEW + ".children_uniform");
}
} // namespace arborist::spec

namespace arborist::extract {
namespace {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;
constexpr const CExpr& d = cexpr;

B ne(const W& a, const W& b) { return !(a == b); }
B between(const W& x, u64 lo, u64 hi) { return d.ule(d.lit(lo), x) && d.ule(x, d.lit(hi)); }

// An application of a header's logic model, e.g. ept_v6_19_make_spte_model(pfn, 1).
W model(const std::string& fn, const std::vector<std::string>& args)
{
	std::string s = fn + "_model(";
	for (std::size_t i = 0; i < args.size(); i++)
		s += (i ? ", " : "") + args[i];
	return CExpr::word(s + ")");
}

std::string c_hex(u64 v) { return d.lit(v).c(); }

std::string define(const std::string& name, u64 v, const std::string& what)
{
	return "#define " + name + " " + c_hex(v) + (what.empty() ? "" : " /* " + what + " */");
}

// ==================================================================================
// SPTE encoding (spec/arborist/spte.hpp), one header per flavour
// ==================================================================================

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

// A generated file: its name and text.  The text is emitted while the area
// that built it (and that its clauses refer to) is alive.
struct Output {
	std::string file;
	std::string text;
};

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


// ==================================================================================
// GFN algebra with the TDX shared bit (spec/arborist/gfn.hpp), PWL 4 and 5
// ==================================================================================

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

// ==================================================================================
// TLB epoch tracking (spec/arborist/tlb.hpp)
// ==================================================================================

const std::vector<Param> epoch_params = {word_param("td_epoch"), word_param("refcount0"), word_param("refcount1")};

sp::EpochState<CExpr> epoch_of(const Args& a) { return {a.w("td_epoch"), a.w("refcount0"), a.w("refcount1")}; }

B epoch_ok(const Args& a)
{
	return ne(a.w("td_epoch"), d.lit(0)) && d.ult(a.w("td_epoch"), d.lit(sp::TD_EPOCH_LIMIT));
}

const char* const epoch_why = "TDH.MNG.INIT sets td_epoch to 1; TD_EPOCH_LIMIT bounds it (spec/arborist/tlb.hpp)";

std::vector<Param> with(std::vector<Param> ps, Param extra)
{
	ps.push_back(std::move(extra));
	return ps;
}

void tlb_tracked(Header& h)
{
	h.add("arborist_is_tlb_tracked", "is_tlb_tracked(bepoch) of TDX module 1.5 (helpers.h): a page blocked at\n"
					  "epoch E is tracked once a TRACK moved td_epoch past E and every vCPU\n"
					  "that entered during E has left.  The EpochState fields are parameters.",
	      true, with(epoch_params, word_param("bepoch")),
	      [](const Args& a) { return Value{sp::is_tlb_tracked(d, epoch_of(a), a.w("bepoch"))}; })
		.require("epoch", epoch_ok, epoch_why)
		.ensure("migration_flag_never_tracked",
			[](const Args& a) { return sp::implies(d, sp::bit_set(d, a.w("bepoch"), sp::BEPOCH_MIG_FLAG), !a.result_bool()); })
		.ensure("current_epoch_not_tracked",
			[](const Args& a) { return sp::implies(d, d.ule(a.w("td_epoch"), a.w("bepoch")), !a.result_bool()); },
			"Linux tdx.c tdx_track(): TRACK first")
		.ensure("older_epoch_tracked",
			[](const Args& a) {
				const W b = a.w("bepoch");
				return sp::implies(d, !sp::bit_set(d, b, sp::BEPOCH_MIG_FLAG) && d.ult(b + d.lit(1), a.w("td_epoch")),
						   a.result_bool());
			})
		.ensure("previous_epoch_needs_drain",
			[](const Args& a) {
				const W b = a.w("bepoch");
				const W left = sp::epoch_refcount(d, epoch_of(a), sp::parity_of(d, b));
				return sp::implies(d, !sp::bit_set(d, b, sp::BEPOCH_MIG_FLAG) && b + d.lit(1) == a.w("td_epoch"),
						   iff(a.result_bool(), left == d.lit(0)));
			},
			"Z3: tlb.tracked_means_no_early_vcpu");
}

void tlb_track(Header& h)
{
	namespace st = tdx_abi::status;
	const u64 busy = tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::TD_EPOCH);
	auto status = [](const Args& a) { return sp::mem_track_epoch(d, epoch_of(a), a.b("epoch_lock_busy")).status; };
	auto prev_left = [](const Args& a) {
		return sp::epoch_refcount(d, epoch_of(a), d.lit(1) - sp::parity_of(d, a.w("td_epoch")));
	};
	h.add("arborist_mem_track_status", "TDH.MEM.TRACK's epoch step after its TDR and TD-state checks: the status\n"
					    "(TDX module 1.5.01 tdh_mem_track.c).",
	      false, with(epoch_params, bool_param("epoch_lock_busy")), [status](const Args& a) { return Value{status(a)}; })
		.ensure("known_status",
			[busy](const Args& a) {
				const u64 codes[] = {st::TDX_SUCCESS, busy, st::TDX_PREVIOUS_TLB_EPOCH_BUSY};
				return sp::one_of(d, a.result(), codes);
			})
		.ensure("epoch_lock_busy", [busy](const Args& a) { return sp::implies(d, a.b("epoch_lock_busy"), a.result() == d.lit(busy)); })
		.ensure("success_means_previous_drained",
			[prev_left](const Args& a) {
				return sp::implies(d, a.result() == d.lit(st::TDX_SUCCESS), prev_left(a) == d.lit(0));
			},
			"Z3: tlb.no_stale_translation/track");

	h.add("arborist_mem_track_new_epoch", "TDH.MEM.TRACK's epoch step: the new td_epoch.", false,
	      with(epoch_params, bool_param("epoch_lock_busy")),
	      [](const Args& a) { return Value{sp::mem_track_epoch(d, epoch_of(a), a.b("epoch_lock_busy")).epoch.td_epoch}; })
		.require("epoch", epoch_ok, epoch_why)
		.ensure("advances_on_success",
			[status](const Args& a) {
				return iff(a.result() == a.w("td_epoch") + d.lit(1), status(a) == d.lit(st::TDX_SUCCESS)) &&
				       sp::implies(d, ne(status(a), d.lit(st::TDX_SUCCESS)), a.result() == a.w("td_epoch"));
			},
			"the status of arborist_mem_track_status()");
}

Output tlb_header()
{
	namespace st = tdx_abi::status;
	Header h;
	h.file = "tlb.h";
	h.sources = {"spec/arborist/tlb.hpp"};
	h.summary = "TLB epoch tracking as TDX module 1.5.01 does it (helpers.c, tdh_mem_track.c):\n"
		    "is_tlb_tracked() and the epoch step of TDH.MEM.TRACK.";
	h.defines = {
		define("ARBORIST_TDX_SUCCESS", st::TDX_SUCCESS, "TDX_SUCCESS"),
		define("ARBORIST_TDX_OPERAND_BUSY_TD_EPOCH", tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::TD_EPOCH),
		       "TDX_OPERAND_BUSY | TDX_OPERAND_ID_TD_EPOCH"),
		define("ARBORIST_TDX_PREVIOUS_TLB_EPOCH_BUSY", st::TDX_PREVIOUS_TLB_EPOCH_BUSY, "TDX_PREVIOUS_TLB_EPOCH_BUSY"),
		define("ARBORIST_BEPOCH_MIG_FLAG", sp::BEPOCH_MIG_FLAG, "bit 63 of a PAMT bepoch"),
		define("ARBORIST_TD_EPOCH_LIMIT", sp::TD_EPOCH_LIMIT, "the model's bound on td_epoch"),
	};
	tlb_tracked(h);
	tlb_track(h);
	return {h.file, emit(h)};
}

// ==================================================================================
// S-EPT per-state flags (spec/arborist/sept.hpp)
// ==================================================================================

using SS = sp::SeptState;
using OS = sp::OpState;

struct Named {
	const char* name;
	u64 code;
};

const Named sept_states[] = {
	{"NL_MAPPED", u64(SS::NL_MAPPED)}, {"NL_BLOCKED", u64(SS::NL_BLOCKED)},
	{"REMOVED", u64(SS::REMOVED)},     {"FREE", u64(SS::FREE)},
	{"MAPPED", u64(SS::MAPPED)},       {"BLOCKEDW", u64(SS::BLOCKEDW)},
	{"BLOCKED", u64(SS::BLOCKED)},     {"PENDING", u64(SS::PENDING)},
	{"PENDING_BLOCKEDW", u64(SS::PENDING_BLOCKEDW)}, {"PENDING_BLOCKED", u64(SS::PENDING_BLOCKED)},
};

const Named op_states[] = {
	{"UNINITIALIZED", u64(OS::UNINITIALIZED)}, {"INITIALIZED", u64(OS::INITIALIZED)},
	{"RUNNABLE", u64(OS::RUNNABLE)},           {"LIVE_EXPORT", u64(OS::LIVE_EXPORT)},
	{"PAUSED_EXPORT", u64(OS::PAUSED_EXPORT)}, {"POST_EXPORT", u64(OS::POST_EXPORT)},
	{"MEMORY_IMPORT", u64(OS::MEMORY_IMPORT)}, {"STATE_IMPORT", u64(OS::STATE_IMPORT)},
	{"POST_IMPORT", u64(OS::POST_IMPORT)},     {"LIVE_IMPORT", u64(OS::LIVE_IMPORT)},
	{"FAILED_IMPORT", u64(OS::FAILED_IMPORT)},
};

// The module's leaf states (SEPT_CONVERT_TO_ENCODING bit 6, PS) and the rest,
// as the module's sept_state_lookup.h lists them: the contracts check the codes.
const SS leaf_states[] = {SS::MAPPED, SS::BLOCKED, SS::BLOCKEDW, SS::PENDING, SS::PENDING_BLOCKED, SS::PENDING_BLOCKEDW};
const SS other_states[] = {SS::NL_MAPPED, SS::NL_BLOCKED, SS::FREE, SS::REMOVED};
const SS unmapped_states[] = {SS::FREE, SS::REMOVED};

void sept_state_flags(Header& h)
{
	h.add("arborist_sept_is_leaf", "The leaf (PS) bit of an S-EPT state's encoding (sept_state_lookup.c).", true,
	      {word_param("state")}, [](const Args& a) { return Value{sp::sept_is_leaf(d, a.w("state"))}; })
		.ensure("leaf_states", [](const Args& a) { return sp::implies(d, sp::one_of(d, a.w("state"), leaf_states), a.result_bool()); })
		.ensure("non_leaf_states",
			[](const Args& a) { return sp::implies(d, sp::one_of(d, a.w("state"), other_states), !a.result_bool()); });

	h.add("arborist_sept_any_blocked", "NL_BLOCKED, BLOCKED or PENDING_BLOCKED (sept_state_lookup.c).", true,
	      {word_param("state")}, [](const Args& a) { return Value{sp::sept_any_blocked(d, a.w("state"))}; })
		.ensure("blocked_needs_tracking",
			[](const Args& a) { return sp::implies(d, a.result_bool(), sp::sept_tlb_tracking_required(d, a.w("state"))); },
			"a blocked entry was mapped: removing it needs TLB tracking")
		.ensure("blocked_is_mapped",
			[](const Args& a) { return sp::implies(d, a.result_bool(), !sp::one_of(d, a.w("state"), unmapped_states)); });

	h.add("arborist_sept_tlb_tracking_required", "The states whose removal needs TLB tracking: every state that may be\n"
						      "cached in a TLB (sept_state_lookup.c).",
	      true, {word_param("state")}, [](const Args& a) { return Value{sp::sept_tlb_tracking_required(d, a.w("state"))}; })
		.ensure("unmapped_needs_none",
			[](const Args& a) { return sp::implies(d, sp::one_of(d, a.w("state"), unmapped_states), !a.result_bool()); })
		.ensure("leaves_need_it",
			[](const Args& a) { return sp::implies(d, sp::one_of(d, a.w("state"), leaf_states), a.result_bool()); });

	h.add("arborist_op_state_tlb_tracking_required", "Only RUNNABLE, LIVE_EXPORT and LIVE_IMPORT allow TDH.VP.ENTER, so only\n"
							  "they require TLB tracking (op_state_lookup.c).",
	      true, {word_param("op_state")},
	      [](const Args& a) { return Value{sp::op_state_tlb_tracking_required(d, a.w("op_state"))}; })
		.ensure("vcpu_states_accept_aug",
			[](const Args& a) { return sp::implies(d, a.result_bool(), sp::one_of(d, a.w("op_state"), sp::ops_aug_set)); },
			"seamcall_state_lookup: PAGE.AUG's OP_STATE set")
		.ensure("build_time_needs_none",
			[](const Args& a) { return sp::implies(d, a.w("op_state") == d.lit(OS::INITIALIZED), !a.result_bool()); },
			"no vCPU has entered before TDH.MR.FINALIZE");
}

// blocked_and_tracked_check(): removal, DEMOTE and PROMOTE's requirement, as
// a status over the fields it reads.
W blocked_and_tracked_status(const Args& a)
{
	sp::SeptLocal<CExpr, 1> s{};
	s.td.op_state = a.w("op_state");
	s.td.epoch = epoch_of(a);
	s.target.bepoch = a.w("bepoch");
	sp::Checks<CExpr> c(d);
	sp::blocked_and_tracked_check(c, s, a.w("entry"), sp::no_fault);
	return c.status;
}

void sept_removal_check(Header& h)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	const u64 not_blocked = tdx_abi::with_operand(st::TDX_GPA_RANGE_NOT_BLOCKED, opd::RCX);
	const u64 not_tracked = tdx_abi::with_operand(st::TDX_TLB_TRACKING_NOT_DONE, opd::RCX);
	std::vector<Param> ps = {word_param("op_state"), word_param("entry")};
	for (const Param& p : epoch_params)
		ps.push_back(p);
	ps.push_back(word_param("bepoch"));
	auto success = [](const Args& a) { return a.result() == d.lit(st::TDX_SUCCESS); };
	auto runnable_tracked = [](const Args& a) {
		return a.w("op_state") == d.lit(OS::RUNNABLE) && sp::sept_tlb_tracking_required(d, a.w("entry"));
	};
	h.add("arborist_sept_blocked_and_tracked_status",
	      "The blocked-and-tracked requirement of TDH.MEM.PAGE.REMOVE, SEPT.REMOVE, DEMOTE\n"
	      "and PROMOTE in the OP_STATEs that require TLB tracking (TDX module 1.5.01 helpers.c):\n"
	      "TDX_SUCCESS, or the status of the first failing check.",
	      false, ps, [](const Args& a) { return Value{blocked_and_tracked_status(a)}; })
		.require("epoch", epoch_ok, epoch_why)
		.ensure("known_status",
			[=](const Args& a) {
				const u64 codes[] = {st::TDX_SUCCESS, not_blocked, not_tracked};
				return sp::one_of(d, a.result(), codes);
			})
		.ensure("requires_blocked_in_runnable",
			[=](const Args& a) {
				return sp::implies(d, success(a) && runnable_tracked(a), sp::sept_any_blocked(d, a.w("entry")));
			},
			"Z3: sept.requires_blocked_in_runnable/TDH.MEM.PAGE.REMOVE")
		.ensure("requires_tlb_tracked_in_runnable",
			[=](const Args& a) {
				return sp::implies(d, success(a) && runnable_tracked(a),
						   sp::is_tlb_tracked(d, epoch_of(a), a.w("bepoch")));
			},
			"Z3: sept.requires_tlb_tracked_in_runnable/TDH.MEM.PAGE.REMOVE")
		.ensure("no_vcpus_no_requirement",
			[=](const Args& a) {
				return sp::implies(d, !sp::op_state_tlb_tracking_required(d, a.w("op_state")), success(a));
			});
}

Output sept_flags_header()
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Header h;
	h.file = "sept_flags.h";
	h.sources = {"spec/arborist/sept.hpp", "spec/arborist/tlb.hpp"};
	h.summary = "S-EPT entry states and OP_STATEs of TDX module 1.5.01 (sept_state_lookup.c,\n"
		    "op_state_lookup.c): the per-state flag predicates, and the blocked-and-tracked\n"
		    "check of the removal leaves.  The whole SEAMCALL leaves, which read the 512\n"
		    "children of an S-EPT page, are not extracted (docs/extract.md).";
	for (const Named& s : sept_states)
		h.defines.push_back(define(std::string("ARBORIST_SEPT_") + s.name, s.code, ""));
	for (const Named& s : op_states)
		h.defines.push_back(define(std::string("ARBORIST_OP_STATE_") + s.name, s.code, ""));
	h.defines.push_back(define("ARBORIST_TDX_GPA_RANGE_NOT_BLOCKED_RCX",
				   tdx_abi::with_operand(st::TDX_GPA_RANGE_NOT_BLOCKED, opd::RCX),
				   "TDX_GPA_RANGE_NOT_BLOCKED | OPERAND_ID_RCX"));
	h.defines.push_back(define("ARBORIST_TDX_TLB_TRACKING_NOT_DONE_RCX",
				   tdx_abi::with_operand(st::TDX_TLB_TRACKING_NOT_DONE, opd::RCX),
				   "TDX_TLB_TRACKING_NOT_DONE | OPERAND_ID_RCX"));
	sept_state_flags(h);
	sept_removal_check(h);
	return {h.file, emit(h)};
}

// ==================================================================================
// The S-EPT host leaves (spec/arborist/sept.hpp): spec::sept_seamcall per leaf
// ==================================================================================

// C struct names of the spec's reflected structs.
template <class T>
constexpr const char* c_struct_name();
template <>
constexpr const char* c_struct_name<sp::EpochState<sp::Concrete>>() { return "arborist_epoch_state"; }
template <>
constexpr const char* c_struct_name<sp::TdState<sp::Concrete>>() { return "arborist_td_state"; }
template <>
constexpr const char* c_struct_name<sp::PamtEntry<sp::Concrete>>() { return "arborist_pamt_entry"; }
template <>
constexpr const char* c_struct_name<sp::Contention<sp::Concrete>>() { return "arborist_sept_contention"; }
template <>
constexpr const char* c_struct_name<sp::SeptArgs<sp::Concrete>>() { return "arborist_sept_args"; }

template <class T>
struct is_array : std::false_type {};
template <class T, std::size_t N>
struct is_array<std::array<T, N>> : std::true_type {};

using Fields = std::vector<std::pair<std::string, bool>>;

// The leaf fields of a reflected Concrete struct, nested ones as "a.b" and
// array elements as "a[i]".  `child` of SeptLocal is the page summary.
template <class T>
void reflect_fields(const std::string& prefix, Fields& out)
{
	namespace hana = boost::hana;
	hana::for_each(hana::accessors<T>(), [&](auto acc) {
		using F = std::decay_t<decltype(hana::second(acc)(std::declval<T&>()))>;
		const std::string name = prefix + hana::to<char const*>(hana::first(acc));
		if constexpr (std::is_same_v<F, bool>) {
			out.emplace_back(name, true);
		} else if constexpr (std::is_same_v<F, u64>) {
			out.emplace_back(name, false);
		} else if constexpr (is_array<F>::value) {
			if (name == prefix + "child") {
				out.emplace_back(prefix + "child0", false);
				out.emplace_back(prefix + "children_free", true);
				out.emplace_back(prefix + "children_uniform", true);
			} else {
				for (std::size_t i = 0; i < std::tuple_size_v<F>; i++)
					out.emplace_back(name + "[" + std::to_string(i) + "]", false);
			}
		} else {
			reflect_fields<F>(name + ".", out);
		}
	});
}

// The C definition of a reflected struct (members in the spec's order).
template <class T>
std::string c_struct(const char* cname, const std::string& doc)
{
	namespace hana = boost::hana;
	std::string s = "/* " + doc + " */\nstruct " + cname + " {\n";
	hana::for_each(hana::accessors<T>(), [&](auto acc) {
		using F = std::decay_t<decltype(hana::second(acc)(std::declval<T&>()))>;
		const std::string name = hana::to<char const*>(hana::first(acc));
		if constexpr (std::is_same_v<F, bool>) {
			s += "\tbool " + name + ";\n";
		} else if constexpr (std::is_same_v<F, u64>) {
			s += "\tuint64_t " + name + ";\n";
		} else if constexpr (is_array<F>::value) {
			if (name == "child")
				s += "\tuint64_t child0;        /* child[0] of the S-EPT page below the target */\n"
				     "\tbool children_free;     /* arborist_sept_children_free(child) */\n"
				     "\tbool children_uniform;  /* arborist_sept_children_uniform(child) */\n";
			else
				s += "\tuint64_t " + name + "[" + std::to_string(std::tuple_size_v<F>) + "];\n";
		} else {
			s += "\tstruct " + std::string(c_struct_name<F>()) + " " + name + ";\n";
		}
	});
	return s + "};\n";
}

// A CExpr struct whose leaves are the bound terms of a by-value parameter.
template <class T>
void bind_struct(T& v, const Args& a, const std::string& prefix)
{
	namespace hana = boost::hana;
	hana::for_each(hana::accessors<T>(), [&](auto acc) {
		auto& field = hana::second(acc)(v);
		using F = std::decay_t<decltype(field)>;
		const std::string name = prefix + hana::to<char const*>(hana::first(acc));
		if constexpr (std::is_same_v<F, B>) {
			field = a.b(name);
		} else if constexpr (std::is_same_v<F, W>) {
			field = a.w(name);
		} else if constexpr (is_array<F>::value) {
			if (name == prefix + "child") {
				if (field.size() != 1)
					throw std::runtime_error("extract: the page below is summarised as child0");
				field[0] = a.w(prefix + "child0");
			} else {
				for (std::size_t i = 0; i < field.size(); i++)
					field[i] = a.w(name + "[" + std::to_string(i) + "]");
			}
		} else {
			bind_struct(field, a, name + ".");
		}
	});
}

using View = sp::SeptLocal<CExpr, 1>;
using ViewC = sp::SeptLocal<sp::Concrete, 1>;
using LeafArgs = sp::SeptArgs<CExpr>;

Param view_param()
{
	Fields f;
	reflect_fields<ViewC>("", f);
	return {"struct arborist_sept_view", SEPT_VIEW, f, true};
}

Param args_param()
{
	Fields f;
	reflect_fields<sp::SeptArgs<sp::Concrete>>("", f);
	return {"struct arborist_sept_args", "a", f, true};
}

View view_of(const Args& a)
{
	View v{};
	bind_struct(v, a, SEPT_VIEW + ".");
	return v;
}

LeafArgs args_of(const Args& a)
{
	LeafArgs v{};
	bind_struct(v, a, "a.");
	return v;
}

// struct arborist_sept_outcome: the status and the post-state of the view.
// The path changes only at the target (entry); the page below is either
// left alone or every entry is set to child0 (fill_children).
Fields outcome_fields()
{
	Fields f = {{"status", false}, {"entry", false}, {"fill_children", true}, {"child0", false}};
	reflect_fields<sp::PamtEntry<sp::Concrete>>("target.", f);
	f.emplace_back("operand_pt", false);
	reflect_fields<sp::TdState<sp::Concrete>>("td.", f);
	return f;
}

std::string outcome_struct()
{
	return "/* What a leaf returns: its status and the view after the call. */\n"
	       "struct arborist_sept_outcome {\n"
	       "\tuint64_t status;      /* TDX_SUCCESS or the status of the first failing check */\n"
	       "\tuint64_t entry;       /* path[a.level] after the call: the target entry */\n"
	       "\tbool fill_children;   /* every entry of the page below became child0 */\n"
	       "\tuint64_t child0;      /* child[0] after the call */\n"
	       "\tstruct arborist_pamt_entry target;\n"
	       "\tuint64_t operand_pt;\n"
	       "\tstruct arborist_td_state td;\n"
	       "};\n";
}

// The outcome's fields as terms (values in the body, \result.* in clauses).
struct Outcome {
	W status, entry;
	B fill;
	W child0;
	sp::PamtEntry<CExpr> target;
	W operand_pt;
	sp::TdState<CExpr> td;
};

Outcome result_of(const Args& a)
{
	Outcome o{a.w("\\result.status"), a.w("\\result.entry"), a.b("\\result.fill_children"),
		  a.w("\\result.child0"), {}, a.w("\\result.operand_pt"), {}};
	bind_struct(o.target, a, "\\result.target.");
	bind_struct(o.td, a, "\\result.td.");
	return o;
}

// The spec leaf's outcome in outcome_fields() order.  The page below is
// written only by fill_children() (ite(commit, v, child)): recover commit.
Outputs leaf_outputs(const sp::SeptOutcome<CExpr, 1>& o, const View& pre, const LeafArgs& a, const std::string& fn)
{
	const Expr& before = pre.child[0].e;
	const Expr& after = o.post.child[0].e;
	B fill = d.truth(false);
	if (after != before) {
		if (after->op != Op::ite || after->kids[2] != before)
			throw std::runtime_error("extract: " + fn + "(): the page below is not written by fill_children()");
		fill = B{after->kids[0]};
	}
	Outputs out = {{"status", o.status}, {"entry", sp::sept_target(d, o.post, a.level)}, {"fill_children", fill},
		       {"child0", o.post.child[0]}};
	namespace hana = boost::hana;
	auto add = [&](const std::string& prefix, const auto& st, auto& self) -> void {
		hana::for_each(hana::accessors<std::decay_t<decltype(st)>>(), [&](auto acc) {
			const auto& field = hana::second(acc)(st);
			using F = std::decay_t<decltype(field)>;
			const std::string name = prefix + hana::to<char const*>(hana::first(acc));
			if constexpr (std::is_same_v<F, W> || std::is_same_v<F, B>)
				out.emplace_back(name, field);
			else
				self(name + ".", field, self);
		});
	};
	add("target.", o.post.target, add);
	out.emplace_back("operand_pt", o.post.operand_pt);
	add("td.", o.post.td, add);
	return out;
}

// The codes a status expression can take: the literals of its ?: tree.
void status_codes(const Expr& e, std::vector<u64>& out)
{
	if (e->op == Op::lit) {
		if (std::find(out.begin(), out.end(), e->value) == out.end())
			out.push_back(e->value);
	} else if (e->op == Op::ite) {
		status_codes(e->kids[1], out);
		status_codes(e->kids[2], out);
	} else {
		throw std::runtime_error("extract: a leaf status is not a ?: tree of codes");
	}
}

const std::pair<const char*, u64> operand_ids[] = {
	{"RAX", tdx_abi::operand::RAX}, {"RCX", tdx_abi::operand::RCX}, {"RDX", tdx_abi::operand::RDX},
	{"R8", tdx_abi::operand::R8}, {"R9", tdx_abi::operand::R9}, {"TDR", tdx_abi::operand::TDR},
	{"SEPT_TREE", tdx_abi::operand::SEPT_TREE}, {"TD_EPOCH", tdx_abi::operand::TD_EPOCH},
	{"OP_STATE", tdx_abi::operand::OP_STATE}, {"KOT", tdx_abi::operand::KOT}};

// "TDX_EPT_WALK_FAILED|RCX", as the kernel's error messages name them.
std::string status_name(u64 v)
{
	const std::string_view base = tdx_abi::status_base_name(v);
	if (base.empty())
		throw std::runtime_error("extract: status " + c_hex(v) + " has no name in spec/arborist/abi/tdx.hpp");
	const u64 opd = v & ~tdx_abi::TDX_SEAMCALL_STATUS_MASK;
	if (opd == 0)
		return std::string(base);
	for (const auto& [name, id] : operand_ids)
		if (id == opd)
			return std::string(base) + "|" + name;
	throw std::runtime_error("extract: operand ID " + c_hex(opd) + " has no name");
}

// A comment of names, broken into lines of at most 90 columns.
std::string wrap_names(const std::vector<std::string>& names)
{
	std::string s, line;
	for (const std::string& n : names) {
		if (!line.empty() && line.size() + n.size() + 2 > 90) {
			s += line + ",\n";
			line.clear();
		}
		line += (line.empty() ? "" : ", ") + n;
	}
	return s + line;
}

std::string c_name(std::string_view leaf)
{
	std::string s;
	for (const char c : leaf)
		s += c == '.' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return s;
}

struct LeafCtx {
	const sp::SeptLeafInfo& info;
	sp::TdGeometry g;
	std::string pwl; // "pwl4." in obligation names
};

B success(const Outcome& o) { return o.status == d.lit(tdx_abi::status::TDX_SUCCESS); }
B ok_of(const Args& a) { return a.w("\\result.status") == d.lit(tdx_abi::status::TDX_SUCCESS); }

// Every output equal to its input: what a failing call returns.
B unchanged(const Outcome& o, const View& s, const LeafArgs& a)
{
	B all = o.entry == sp::sept_target(d, s, a.level) && !o.fill && o.child0 == s.child[0] &&
		o.target.pt == s.target.pt && o.target.bepoch == s.target.bepoch && o.operand_pt == s.operand_pt;
	namespace hana = boost::hana;
	auto eq = [&](const auto& x, const auto& y, auto& self) -> void {
		hana::for_each(hana::keys(x), [&](auto k) {
			const auto& fx = hana::at_key(x, k);
			const auto& fy = hana::at_key(y, k);
			using F = std::decay_t<decltype(fx)>;
			if constexpr (std::is_same_v<F, W>)
				all = all && fx == fy;
			else if constexpr (std::is_same_v<F, B>)
				all = all && iff(fx, fy);
			else
				self(fx, fy, self);
		});
	};
	eq(o.td, s.td, eq);
	return all;
}

void leaf_contract(Function& fn, const LeafCtx& c, const std::vector<u64>& codes)
{
	namespace st = tdx_abi::status;
	using L = tdx_abi::Leaf;
	using PT = sp::PageType;
	using LC = sp::Lifecycle;
	const std::string n(c.info.name());
	const L leaf = c.info.leaf;
	auto z3 = [&](const std::string& ob) { return "Z3: sept." + ob + "/" + n; };

	std::vector<std::string> list;
	for (const u64 v : codes)
		list.push_back(status_name(v));
	const std::string names = wrap_names(list);
	fn.ensure("known_status", [codes](const Args& a) {
		B any = d.truth(false);
		for (const u64 v : codes)
			any = any || a.w("\\result.status") == d.lit(v);
		return any;
	}, names);
	fn.ensure("failure_changes_nothing", [](const Args& a) {
		const Outcome o = result_of(a);
		return sp::implies(d, !success(o), unchanged(o, view_of(a), args_of(a)));
	}, "the checks come first; only a successful call commits");
	if (c.info.sept_leaf)
		fn.ensure("keys_not_configured", [](const Args& a) {
			const View s = view_of(a);
			const LeafArgs x = args_of(a);
			const u64 after_flush[] = {u64(LC::TD_BLOCKED), u64(LC::TD_TEARDOWN)};
			return sp::implies(d, !x.busy.tdr && !s.td.fatal && sp::one_of(d, s.td.lifecycle, after_flush),
					   a.w("\\result.status") == d.lit(st::TDX_TD_KEYS_NOT_CONFIGURED));
		}, z3("keys_not_configured_after_vpflushdone"));
	if (c.info.walks) {
		const sp::TdGeometry g = c.g;
		fn.ensure("walk_ok", [g](const Args& a) {
			return sp::implies(d, ok_of(a), sp::sept_walk_ok(d, g, view_of(a), args_of(a).level));
		}, "secure_ept_walk: every entry above the target is NL_MAPPED");
		fn.ensure("level_walked", [g](const Args& a) {
			return sp::implies(d, ok_of(a), d.ult(args_of(a).level, d.lit(g.pwl)));
		}, "verify_page_info_input: the level is one the walk reaches");
		fn.ensure("walk_never_passes_nl_blocked", [g](const Args& a) {
			return sp::implies(d, ok_of(a),
					   !sp::sept_walk_passes_nl_blocked(d, g, view_of(a), args_of(a).level));
		}, "Z3: sept." + c.pwl + "walk_never_passes_nl_blocked/" + n);
	}
	const bool tracked = leaf == L::TDH_MEM_PAGE_REMOVE || leaf == L::TDH_MEM_SEPT_REMOVE ||
			     leaf == L::TDH_MEM_PAGE_DEMOTE || leaf == L::TDH_MEM_PAGE_PROMOTE;
	if (tracked) {
		auto runnable_ok = [](const Args& a) {
			return view_of(a).td.op_state == d.lit(OS::RUNNABLE) && ok_of(a);
		};
		fn.ensure("requires_blocked_in_runnable", [runnable_ok](const Args& a) {
			return sp::implies(d, runnable_ok(a), sp::sept_any_blocked(d, sp::sept_target(d, view_of(a), args_of(a).level)));
		}, z3("requires_blocked_in_runnable"));
		fn.ensure("requires_tlb_tracked_in_runnable", [runnable_ok](const Args& a) {
			const View s = view_of(a);
			return sp::implies(d, runnable_ok(a), sp::is_tlb_tracked(d, s.td.epoch, s.target.bepoch));
		}, z3("requires_tlb_tracked_in_runnable"));
	}
	// The single-leaf obligations of proofs/src/obl_sept.cpp, on the C.
	auto on_success = [&](const char* label, const std::string& ob, std::function<B(const Args&)> p) {
		fn.ensure(label, [p](const Args& a) { return sp::implies(d, ok_of(a), p(a)); }, z3(ob));
	};
	auto effect = [&](const char* label, const std::string& ob, std::function<B(const Args&)> p) {
		fn.ensure(label, [p](const Args& a) { return sp::implies(d, success(result_of(a)), p(a)); }, z3(ob));
	};
	auto entry_before = [](const Args& a) { return sp::sept_target(d, view_of(a), args_of(a).level); };
	switch (leaf) {
	case L::TDH_MEM_SEPT_REMOVE:
		on_success("children_removed_before_parent", "children_removed_before_parent",
			   [](const Args& a) { return sp::all_children_free(d, view_of(a)); });
		break;
	case L::TDH_MEM_PAGE_REMOVE:
		effect("removed_page_is_free", "removed_page_is_free", [](const Args& a) {
			const Outcome o = result_of(a);
			return o.entry == d.lit(SS::FREE) && o.target.pt == d.lit(PT::PT_NDA);
		});
		break;
	case L::TDH_PHYMEM_PAGE_RECLAIM:
		on_success("reclaim_only_in_teardown", "reclaim_only_in_teardown",
			   [](const Args& a) { return view_of(a).td.lifecycle == d.lit(LC::TD_TEARDOWN); });
		on_success("tdr_reclaimed_last", "tdr_reclaimed_last", [](const Args& a) {
			const View s = view_of(a);
			return sp::implies(d, s.target.pt == d.lit(PT::PT_TDR), s.td.chldcnt == d.lit(0));
		});
		break;
	case L::TDH_MNG_KEY_FREEID:
		on_success("freeid_after_cache_wb", "freeid_after_cache_wb",
			   [](const Args& a) { return !view_of(a).td.wbinvd_pending; });
		effect("freeid_enters_teardown", "freeid_after_cache_wb",
		       [](const Args& a) { return result_of(a).td.lifecycle == d.lit(LC::TD_TEARDOWN); });
		break;
	case L::TDH_MNG_VPFLUSHDONE:
		on_success("vpflushdone_after_vp_flush", "vpflushdone_after_vp_flush", [](const Args& a) {
			const View s = view_of(a);
			return sp::implies(d, s.td.tdcs_allocated && !(s.td.op_state == d.lit(OS::UNINITIALIZED)),
					   s.td.num_assoc_vcpus == d.lit(0));
		});
		break;
	case L::TDH_MEM_RANGE_BLOCK:
		effect("block_records_bepoch", "block_records_bepoch", [](const Args& a) {
			const Outcome o = result_of(a);
			return o.target.bepoch == view_of(a).td.epoch.td_epoch && sp::sept_any_blocked(d, o.entry);
		});
		break;
	case L::TDH_MEM_PAGE_DEMOTE:
		effect("demote_unblocks_children", "demote_unblocks_children", [](const Args& a) {
			const Outcome o = result_of(a);
			const SS unblocked[] = {SS::MAPPED, SS::PENDING};
			return o.fill && sp::one_of(d, o.child0, unblocked) && o.entry == d.lit(SS::NL_MAPPED);
		});
		break;
	case L::TDH_MEM_PAGE_AUG:
		on_success("aug_only_free_entries", "aug_only_free_entries", [entry_before](const Args& a) {
			const SS free_states[] = {SS::FREE, SS::REMOVED};
			return sp::one_of(d, entry_before(a), free_states);
		});
		effect("aug_leaves_pending", "aug_only_free_entries",
		       [](const Args& a) { return result_of(a).entry == d.lit(SS::PENDING); });
		break;
	default: break;
	}
	// sept.chldcnt_counts_pages: +1 S-EPT page, +-512^level 4K units of a page.
	struct Delta {
		L leaf;
		int sign;
		bool by_size;
	};
	for (const Delta dl : {Delta{L::TDH_MEM_SEPT_ADD, +1, false}, Delta{L::TDH_MEM_PAGE_AUG, +1, true},
			       Delta{L::TDH_MEM_PAGE_REMOVE, -1, true}, Delta{L::TDH_MEM_SEPT_REMOVE, -1, false}})
		if (dl.leaf == leaf)
			fn.ensure("chldcnt_counts_pages", [dl, entry_before](const Args& a) {
				const View s = view_of(a);
				// One implication per level, so that WP evaluates 512^level.
				B all = d.truth(true);
				for (unsigned l = 0; l < sp::SEPT_LEVELS; l++) {
					const W units = dl.by_size ? sp::pages_in_level(d, d.lit(l)) : d.lit(1);
					// chldcnt - units, written as the module adds a negative delta.
					const W expect = s.td.chldcnt + (dl.sign > 0 ? units : d.lit(0) - units);
					const B added = dl.leaf == L::TDH_MEM_SEPT_ADD ? entry_before(a) == d.lit(SS::FREE) : d.truth(true);
					all = all && sp::implies(d, success(result_of(a)) && added && args_of(a).level == d.lit(l),
								 result_of(a).td.chldcnt == expect);
				}
				return all;
			}, z3("chldcnt_counts_pages"));
}

// One leaf over geometry g: the function, named with `prefix`.
void sept_leaf(Header& h, const LeafCtx& c, const std::string& prefix)
{
	const std::string n(c.info.name());
	const std::string fn = prefix + c_name(n);
	const sp::TdGeometry g = c.g;
	const tdx_abi::Leaf leaf = c.info.leaf;
	const std::string doc =
		n + " (SEAMCALL leaf " + std::to_string(static_cast<u64>(leaf)) + ") of TDX module 1.5.01" +
		(prefix.find("pwl") != std::string::npos ? ", EPTP.PWL " + std::to_string(g.pwl) : "") +
		": the status of\nthe first failing check, and the view after the call (spec::sept_seamcall).\n"
		"s is the local view the call reads, a its decoded register inputs.";
	auto outputs = [g, leaf, fn](const Args& x) {
		const View s = view_of(x);
		const LeafArgs a = args_of(x);
		return leaf_outputs(sp::sept_seamcall(d, g, leaf, a, s), s, a, fn);
	};
	Function& f = h.add_struct(fn, doc, "struct arborist_sept_outcome", outcome_fields(), {view_param(), args_param()},
				   outputs);
	f.copies = {{"target", SEPT_VIEW + ".target"}, {"td", SEPT_VIEW + ".td"}};
	f.fail_call = [](const std::string& code) { return "arborist_sept_failed(" + SEPT_VIEW + ", a.level, " + code + ")"; };
	f.fail_outputs = [fn](const Args& x, const W& code) {
		const View s = view_of(x);
		return leaf_outputs({code, s}, s, args_of(x), fn);
	};
	std::vector<u64> codes;
	status_codes(std::get<W>(outputs(f.bind())[0].second).e, codes);
	std::sort(codes.begin(), codes.end());
	leaf_contract(f, c, codes);

	// The checks alone, which the leaf calls: every clause that reads no
	// more of the result than its status holds of this function too.
	Function st;
	st.name = fn + "_status";
	st.doc = "The checks of " + n + ", in the module's order: TDX_SUCCESS or the status of\n"
		 "the first that fails.  " + fn + "() calls it.";
	st.params = {view_param(), args_param()};
	st.body = [outputs](const Args& x) { return outputs(x)[0].second; };
	st.status_checks = true;
	const Args probe = st.bind_result();
	std::vector<Clause> effects;
	for (const Clause& cl : f.ensures_) {
		Pred p = [pred = cl.pred](const Args& x) {
			Args y = x;
			y.bind("\\result.status", x.result());
			return pred(y);
		};
		try {
			(void)p(probe);
		} catch (const std::runtime_error&) {
			effects.push_back(cl); // reads the effect: a property of the leaf
			continue;
		}
		st.ensure(cl.label, p, cl.why);
	}
	// The status clauses are proved once, on the checks; the leaf keeps the
	// clauses about its effect (WP proves them from the checks' contract).
	f.ensures_ = effects;
	f.status_call = st.name + "(" + SEPT_VIEW + ", a)";
	Function leaf_fn = std::move(f);
	h.functions.pop_back();
	h.functions.push_back(std::move(st));
	h.functions.push_back(std::move(leaf_fn));
}

// The C text of a leaf's outputs over g, to see whether it depends on g.
std::string leaf_text(const sp::SeptLeafInfo& info, const sp::TdGeometry& g)
{
	Function f;
	f.params = {view_param(), args_param()};
	const Args x = f.bind();
	const View s = view_of(x);
	const LeafArgs a = args_of(x);
	std::string t;
	for (const auto& [field, v] : leaf_outputs(sp::sept_seamcall(d, g, info.leaf, a, s), s, a, "?"))
		t += field + "=" + (std::holds_alternative<W>(v) ? std::get<W>(v).c() : std::get<B>(v).c()) + "\n";
	return t;
}

// The walk check and the target entry, over the view.
void sept_walk(Header& h, const sp::TdGeometry& g)
{
	const std::string p = "arborist_pwl" + std::to_string(g.pwl) + "_";
	const std::string ob = "sept.pwl" + std::to_string(g.pwl) + ".walk_never_passes_nl_blocked/<leaf>, every walking leaf";
	h.add(p + "sept_walk_ok", "secure_ept_walk() to a.level with EPTP.PWL " + std::to_string(g.pwl) +
				      ": every entry above the target,\nup to the root at TDX level " +
				      std::to_string(g.pwl - 1) + ", is NL_MAPPED (spec::sept_walk_ok).",
	      true, {view_param(), word_param("level")},
	      [g](const Args& a) { return Value{sp::sept_walk_ok(d, g, view_of(a), a.w("level"))}; })
		.ensure("never_passes_nl_blocked",
			[g](const Args& a) {
				return sp::implies(d, a.result_bool(), !sp::sept_walk_passes_nl_blocked(d, g, view_of(a), a.w("level")));
			},
			"Z3: " + ob)
		.ensure("root_walks",
			[g](const Args& a) { return sp::implies(d, d.ule(d.lit(g.pwl - 1), a.w("level")), a.result_bool()); },
			"nothing is above the root")
		.ensure("stops_at_free",
			[g](const Args& a) {
				const View s = view_of(a);
				B all = d.truth(true);
				for (unsigned l = 1; l < g.pwl; l++)
					all = all && sp::implies(d, d.ult(a.w("level"), d.lit(l)) && s.path[l] == d.lit(SS::FREE),
								 !a.result_bool());
				return all;
			},
			"EPT_WALK_FAILED at a FREE entry above the target");
}

// The outcome of a call whose check failed: the status, the view unchanged.
void sept_failed_fn(Header& h)
{
	Function& f = h.add_struct(
		"arborist_sept_failed", "The outcome of a call that failed with status: the view as it was.",
		"struct arborist_sept_outcome", outcome_fields(), {view_param(), word_param("level"), word_param("status")},
		[](const Args& x) {
			const View s = view_of(x);
			LeafArgs a{};
			a.level = x.w("level");
			return leaf_outputs({x.w("status"), s}, s, a, "arborist_sept_failed");
		});
	f.copies = {{"target", SEPT_VIEW + ".target"}, {"td", SEPT_VIEW + ".td"}};
	f.ensures_outputs = true;
}

void sept_target_fn(Header& h)
{
	h.add("arborist_sept_target", "The target entry of the walk: path[level] (spec::sept_target).", false,
	      {view_param(), word_param("level")}, [](const Args& a) { return Value{sp::sept_target(d, view_of(a), a.w("level"))}; })
		.ensure("entry_at_level", [](const Args& a) {
			const View s = view_of(a);
			B all = d.truth(true);
			for (unsigned l = 0; l < sp::SEPT_LEVELS; l++)
				all = all && sp::implies(d, a.w("level") == d.lit(l), a.result() == s.path[l]);
			return all;
		});
}

// A proved loop over the 512 entries of an S-EPT page: true iff `elem`
// holds for each.  The element predicate is the spec rule on a two-entry
// page (rules over a page are conjunctions over its entries).
std::string page_loop(const std::string& name, const std::string& doc, const std::string& label,
		      const std::function<B(const W& first, const W& elem)>& elem, const std::string& why)
{
	const std::string nn = std::to_string(sp::SEPT_FANOUT);
	const B acsl_all = elem(CExpr::word("child[0]"), CExpr::word("child[j]"));
	const B c_elem = elem(CExpr::word("child[0]"), CExpr::word("child[i]"));
	const std::string acsl = acsl_all.acsl();
	std::string s = "/*\n * " + doc + "\n */\n";
	s += "/*@\n  @ requires valid_child: \\valid_read(child + (0 .. " + std::to_string(sp::SEPT_FANOUT - 1) + "));\n";
	s += "  @ assigns \\nothing;\n  @ // " + why + "\n";
	s += "  @ ensures " + label + ": \\result <==> (\\forall integer j; 0 <= j < " + nn + " ==> " + acsl + ");\n  @*/\n";
	s += "static inline bool " + name + "(const uint64_t child[" + nn + "])\n{\n";
	s += "\t/*@ loop invariant bound: 0 <= i <= " + nn + ";\n";
	s += "\t  @ loop invariant so_far: \\forall integer j; 0 <= j < i ==> " + acsl + ";\n";
	s += "\t  @ loop assigns i;\n\t  @ loop variant " + nn + " - i;\n\t  @*/\n";
	s += "\tfor (uint64_t i = 0; i < " + nn + "; i++)\n";
	s += "\t\tif (" + (!c_elem).c() + ")\n\t\t\treturn false;\n\treturn true;\n}\n";
	return s;
}

void sept_children(Header& h)
{
	// Two-entry pages (first, elem); the generic rules, not the F = 1 view's.
	h.raw.push_back(page_loop(
		"arborist_sept_children_free", "all_children_free(): every entry of the S-EPT page is FREE (SEPT.REMOVE).",
		"all_free",
		[](const W&, const W& e) {
			sp::SeptLocal<CExpr, 2> p{};
			p.child = {e, e};
			return sp::all_children_free<CExpr, 2>(d, p);
		},
		"the view's children_free"));
	h.raw.push_back(page_loop(
		"arborist_sept_children_uniform",
		"children_uniform(): every entry of the S-EPT page is in the state of the\n * first (PROMOTE).",
		"uniform",
		[](const W& first, const W& e) {
			sp::SeptLocal<CExpr, 2> p{};
			p.child = {first, e};
			return sp::children_uniform<CExpr, 2>(d, p);
		},
		"the view's children_uniform"));
}

Output sept_header()
{
	Header h;
	h.file = "sept.h";
	h.sources = {"spec/arborist/sept.hpp", "spec/arborist/tlb.hpp", "spec/arborist/gfn.hpp"};
	h.summary = "The host SEAMCALL leaves of TDX module 1.5.01 that KVM's memory management uses,\n"
		    "as pure functions over a by-value local view (struct arborist_sept_view): the\n"
		    "status of the first failing check, the new target entry and the other effects.\n"
		    "A leaf that reads EPTP.PWL exists per geometry (arborist_pwl4_, arborist_pwl5_).\n"
		    "S-EPT state and OP_STATE codes: sept_flags.h.  Contracts: docs/extract.md.";
	h.defines.push_back(define("ARBORIST_SEPT_FANOUT", sp::SEPT_FANOUT, "entries of an S-EPT page"));
	h.defines.push_back(define("ARBORIST_SEPT_LEVELS", sp::SEPT_LEVELS, "TDX levels 0 (4K) .. 4"));
	const std::pair<const char*, sp::Lifecycle> lcs[] = {
		{"TD_HKID_ASSIGNED", sp::Lifecycle::TD_HKID_ASSIGNED}, {"TD_KEYS_CONFIGURED", sp::Lifecycle::TD_KEYS_CONFIGURED},
		{"TD_BLOCKED", sp::Lifecycle::TD_BLOCKED}, {"TD_TEARDOWN", sp::Lifecycle::TD_TEARDOWN}};
	for (const auto& [name, v] : lcs)
		h.defines.push_back(define(std::string("ARBORIST_LIFECYCLE_") + name, u64(v), ""));
	const std::pair<const char*, sp::PageType> pts[] = {
		{"PT_NDA", sp::PageType::PT_NDA}, {"PT_RSVD", sp::PageType::PT_RSVD}, {"PT_REG", sp::PageType::PT_REG},
		{"PT_TDR", sp::PageType::PT_TDR}, {"PT_TDCX", sp::PageType::PT_TDCX}, {"PT_TDVPR", sp::PageType::PT_TDVPR},
		{"PT_EPT", sp::PageType::PT_EPT}};
	for (const auto& [name, v] : pts)
		h.defines.push_back(define(std::string("ARBORIST_") + name, u64(v), ""));
	for (const auto& [name, v] : operand_ids)
		h.defines.push_back(define(std::string("ARBORIST_OPERAND_ID_") + name, v, ""));
	h.types = {
		c_struct<sp::EpochState<sp::Concrete>>("arborist_epoch_state", "spec::EpochState (tlb.hpp)"),
		c_struct<sp::TdState<sp::Concrete>>("arborist_td_state", "spec::TdState: the TDR/TDCS fields the leaves use"),
		c_struct<sp::PamtEntry<sp::Concrete>>("arborist_pamt_entry", "spec::PamtEntry"),
		c_struct<ViewC>("arborist_sept_view",
				"spec::SeptLocal: what one SEAMCALL sees; the S-EPT page below is summarised"),
		c_struct<sp::Contention<sp::Concrete>>("arborist_sept_contention",
						      "spec::Contention: a true flag is a lock the call finds busy"),
		c_struct<sp::SeptArgs<sp::Concrete>>("arborist_sept_args", "spec::SeptArgs: the decoded register inputs"),
		outcome_struct(),
	};
	sept_target_fn(h);
	for (const sp::TdGeometry& g : sp::td_geometries)
		sept_walk(h, g);
	sept_failed_fn(h);
	for (const sp::SeptLeafInfo& info : sp::sept_leaves) {
		const bool by_pwl = leaf_text(info, sp::td_pwl4) != leaf_text(info, sp::td_pwl5);
		if (!by_pwl) {
			sept_leaf(h, {info, sp::td_pwl4, "pwl4."}, "arborist_");
			continue;
		}
		for (const sp::TdGeometry& g : sp::td_geometries)
			sept_leaf(h, {info, g, "pwl" + std::to_string(g.pwl) + "."}, "arborist_pwl" + std::to_string(g.pwl) + "_");
	}
	sept_children(h);
	// The status classes the leaves return (a status is class + operand ID).
	std::vector<u64> classes;
	for (const Function& f : h.functions)
		if (f.fail_call) {
			std::vector<u64> codes;
			status_codes(std::get<W>(f.outputs(f.bind())[0].second).e, codes);
			for (const u64 v : codes)
				if (std::find(classes.begin(), classes.end(), v & tdx_abi::TDX_SEAMCALL_STATUS_MASK) == classes.end())
					classes.push_back(v & tdx_abi::TDX_SEAMCALL_STATUS_MASK);
		}
	for (const auto& sn : tdx_abi::status_names)
		if (std::find(classes.begin(), classes.end(), sn.value) != classes.end())
			h.defines.push_back(define("ARBORIST_" + std::string(sn.name), sn.value, ""));
	return {h.file, emit(h)};
}

// ==================================================================================
// Root lifecycle (spec/arborist/root.hpp), over struct arborist_root_state
// ==================================================================================

using RootC = sp::RootState<sp::Concrete>;
using RootX = sp::RootState<CExpr>;

// The fields of spec::RootState, by Hana reflection: name and whether bool.
std::vector<std::pair<std::string, bool>> root_fields()
{
	namespace hana = boost::hana;
	std::vector<std::pair<std::string, bool>> out;
	hana::for_each(hana::accessors<RootC>(), [&](auto acc) {
		using F = std::decay_t<decltype(hana::second(acc)(std::declval<RootC&>()))>;
		static_assert(std::is_same_v<F, bool> || std::is_same_v<F, u64>, "RootState fields are Bool or Word");
		out.emplace_back(hana::to<char const*>(hana::first(acc)), std::is_same_v<F, bool>);
	});
	return out;
}

std::string root_struct()
{
	std::string s = "/* spec::RootState (spec/arborist/root.hpp), one member per field. */\n"
			"struct arborist_root_state {\n";
	for (const auto& [name, is_bool] : root_fields())
		s += std::string("\t") + (is_bool ? "bool " : "uint64_t ") + name + ";\n";
	return s + "};\n";
}

RootX root_of(const Args& a)
{
	namespace hana = boost::hana;
	RootX s{};
	hana::for_each(hana::accessors<RootX>(), [&](auto acc) {
		auto& field = hana::second(acc)(s);
		const std::string term = std::string("s->") + hana::to<char const*>(hana::first(acc));
		if constexpr (std::is_same_v<std::decay_t<decltype(field)>, B>)
			field = a.b(term);
		else
			field = a.w(term);
	});
	return s;
}

Param root_param() { return {"const struct arborist_root_state *", "s", root_fields()}; }

W field(const Args& a, const char* f) { return a.w(std::string("s->") + f); }
B flag(const Args& a, const char* f) { return a.b(std::string("s->") + f); }

B root_invariants(const RootX& s)
{
	return sp::root_freed_implies_invalid_and_zero(d, s) && sp::root_valid_or_referenced(d, s) &&
	       sp::root_scheduled_holds_gift(d, s) && sp::root_refcount_accounts_holders(d, s) &&
	       sp::root_list_matches_refcount(d, s) && sp::root_unallocated_is_blank(d, s);
}

void root_get_put(Header& h)
{
	h.add("arborist_root_get_enabled", "May a task call kvm_tdp_mmu_get_root() on this root: it is reachable\n"
					    "under RCU and its count is below saturation (tdp_mmu.c).",
	      true, {root_param()}, [](const Args& a) { return Value{sp::root_get(d, root_of(a)).enabled}; })
		.ensure("reachable",
			[](const Args& a) { return sp::implies(d, a.result_bool(), flag(a, "allocated") && !flag(a, "freed")); });

	h.add("arborist_root_get_ok", "kvm_tdp_mmu_get_root() = refcount_inc_not_zero() (tdp_mmu.c).", true, {root_param()},
	      [](const Args& a) { return Value{sp::root_get(d, root_of(a)).ok}; })
		.ensure("zero_fails", [](const Args& a) { return sp::implies(d, field(a, "refcount") == d.lit(0), !a.result_bool()); },
			"Z3: root.get_fails_once_unreferenced")
		.ensure("referenced_succeeds",
			[](const Args& a) { return sp::implies(d, ne(field(a, "refcount"), d.lit(0)), a.result_bool()); });

	h.add("arborist_root_put_enabled", "May a task call kvm_tdp_mmu_put_root(): it holds a reference (seed 003:\n"
					    "\"_this_ task can't drop a reference taken by the other task\").",
	      true, {root_param()}, [](const Args& a) { return Value{sp::root_put(d, root_of(a)).enabled}; })
		.ensure("holds_a_reference",
			[](const Args& a) {
				return sp::implies(d, a.result_bool(),
						   ne(field(a, "task_refs"), d.lit(0)) && ne(field(a, "refcount"), d.lit(0)));
			});

	h.add("arborist_root_put_ref_bug", "The KVM_BUG_ON of the last put: \"the final reference should be never be\n"
					    "put for a valid root\" (tdp_mmu.c kvm_tdp_mmu_put_root()).",
	      true, {root_param()}, [](const Args& a) { return Value{sp::root_put_ref(d, root_of(a)).bug}; })
		.ensure("last_put_on_valid_root",
			[](const Args& a) {
				return sp::implies(d, field(a, "refcount") == d.lit(1) && !flag(a, "invalid"), a.result_bool());
			},
			"Z3: root.last_put_on_valid_root_rejected")
		.ensure("only_that", [](const Args& a) {
			return sp::implies(d, a.result_bool(), field(a, "refcount") == d.lit(1) && !flag(a, "invalid"));
		});

	h.add("arborist_root_put_ref_last", "refcount_dec_and_test(): this put drops the last reference, so it\n"
					     "list_del_rcu()s the root and queues the RCU free (tdp_mmu.c).",
	      true, {root_param()},
	      [](const Args& a) { return Value{sp::root_put_ref(d, root_of(a)).post.refcount == d.lit(0)}; })
		.ensure("count_was_one", [](const Args& a) { return iff(a.result_bool(), field(a, "refcount") == d.lit(1)); });

	h.add("arborist_root_zap_invalidated_bug", "The KVM_BUG_ONs of kvm_tdp_mmu_zap_invalidated_roots() for a root\n"
						    "scheduled to zap: !role.invalid, or its put of the gifted reference.",
	      true, {root_param()}, [](const Args& a) { return Value{sp::root_zap_invalidated(d, root_of(a)).bug}; })
		.ensure("valid_root_is_a_bug", [](const Args& a) { return sp::implies(d, !flag(a, "invalid"), a.result_bool()); });
}

void root_invariant(Header& h)
{
	h.add("arborist_root_invariant", "The six invariants of the root lifecycle that `arborist prove` shows\n"
					  "inductive (root.<invariant>/<operation>): a cheap debug check of a root.",
	      true, {root_param()}, [](const Args& a) { return Value{root_invariants(root_of(a))}; })
		.ensure("freed_only_invalid_and_unreferenced",
			[](const Args& a) {
				return sp::implies(d, a.result_bool() && flag(a, "freed"),
						   flag(a, "invalid") && field(a, "refcount") == d.lit(0));
			},
			"seed 003")
		.ensure("no_get_after_last_put",
			[](const Args& a) {
				const auto st = sp::root_get(d, root_of(a));
				return sp::implies(d, a.result_bool() && (flag(a, "rcu_queued") || flag(a, "freed")),
						   !(st.enabled && st.ok));
			},
			"Z3: root.get_fails_once_unreferenced");
}

Output root_header()
{
	Header h;
	h.file = "root.h";
	h.sources = {"spec/arborist/root.hpp"};
	h.summary = "The decision logic of the TDP MMU root lifecycle of Linux v6.19\n"
		    "(arch/x86/kvm/mmu/tdp_mmu.c; seed 003) over a snapshot of one root.\n"
		    "struct arborist_root_state is spec::RootState, generated by reflection.";
	h.types = {root_struct()};
	root_get_put(h);
	root_invariant(h);
	return {h.file, emit(h)};
}

// ==================================================================================
// The external hook of a mirror SPTE change (spec/arborist/mirror_hook.hpp)
// ==================================================================================

W hook(sp::MirrorHook x) { return d.lit(x); }

// The properties of the hook decision, from Linux v6.19 tdp_mmu.c and seed 001.
void mirror_hook_contract(Function& fn, const sp::SpteFlavor& f)
{
	using MH = sp::MirrorHook;
	auto present = [f](const W& s) { return sp::is_shadow_present_pte(d, f, s); };
	auto last = [f](const W& s, const W& l) { return sp::is_last_spte(d, f, s, l); };
	auto frozen = [f](const W& s) { return sp::is_frozen_spte(d, f, s); };
	const std::string src = "Linux v6.19 tdp_mmu.c";
	fn.require("level", [](const Args& a) { return between(a.w("level"), sp::PG_LEVEL_4K, sp::PT64_ROOT_MAX_LEVEL); })
		.ensure("known_code", [](const Args& a) { return sp::one_of(d, a.result(), sp::mirror_hooks); })
		.ensure("set_installs_a_leaf",
			[=](const Args& a) {
				const W o = a.w("old_spte"), n = a.w("new_spte"), l = a.w("level");
				return sp::implies(d, a.result() == hook(MH::set),
						   a.b("atomic") && present(n) && last(n, l) && !present(o));
			},
			src + " set_external_spte_present()")
		.ensure("link_installs_a_table",
			[=](const Args& a) {
				const W o = a.w("old_spte"), n = a.w("new_spte"), l = a.w("level");
				return sp::implies(d, a.result() == hook(MH::link),
						   a.b("atomic") && present(n) && !last(n, l) && !present(o));
			},
			src + " set_external_spte_present()")
		.ensure("remove_zaps_a_leaf",
			[=](const Args& a) {
				const W o = a.w("old_spte"), n = a.w("new_spte");
				return sp::implies(d, a.result() == hook(MH::remove),
						   !a.b("atomic") && !present(n) && last(o, a.w("level")));
			},
			src + " remove_external_spte()")
		.ensure("split_only_with_seed001",
			[=](const Args& a) {
				const W o = a.w("old_spte"), n = a.w("new_spte"), l = a.w("level");
				return sp::implies(d, a.result() == hook(MH::split),
						   !a.b("atomic") && a.b("seed001") && present(n) && last(o, l) && !last(n, l));
			},
			"seed 001: \"is_last_spte(old_spte, level) && !is_last_spte(new_spte, level)\"")
		.ensure("v6_19_nonatomic_never_installs",
			[=](const Args& a) {
				return sp::implies(d, !a.b("atomic") && !a.b("seed001") && present(a.w("new_spte")),
						   a.result() == hook(MH::bug));
			},
			"\"Users that do non-atomic setting of PTEs don't operate on mirror roots\"")
		.ensure("atomic_zap_is_a_bug",
			[=](const Args& a) {
				const W n = a.w("new_spte");
				return sp::implies(d, a.b("atomic") && !frozen(n) && !present(n), a.result() == hook(MH::bug));
			},
			"\"atomic zapping is never used on mirror roots\"")
		.ensure("freezing_calls_no_hook",
			[=](const Args& a) {
				return sp::implies(d, a.b("atomic") && frozen(a.w("new_spte")) && !frozen(a.w("old_spte")),
						   a.result() == hook(MH::none));
			},
			"handle_removed_pt() freezes children with a plain cmpxchg/xchg");
}

void mirror_hook_function(Header& h, const sp::SpteFlavor& f)
{
	Function& fn = h.add("ept_v6_19_mirror_hook_for_change",
	      "Which external page-table hook a change old_spte -> new_spte of a mirror SPTE\n"
	      "at level calls: tdp_mmu_set_spte_atomic() when atomic, else tdp_mmu_set_spte()\n"
	      "of v6.19, or of seed 001 (split_external_spt) when seed001.  An\n"
	      "ARBORIST_MIRROR_HOOK_* code.",
	      false,
	      {word_param("old_spte"), word_param("new_spte"), word_param("level"), bool_param("atomic"),
	       bool_param("seed001")},
	      [f](const Args& a) {
		      return Value{sp::mirror_hook_for_change(d, f, a.w("old_spte"), a.w("new_spte"), a.w("level"),
							      a.b("atomic"), a.b("seed001"))};
	      });
	mirror_hook_contract(fn, f);
}

Output mirror_hook_header()
{
	Header h;
	h.file = "mirror_hook.h";
	h.sources = {"spec/arborist/mirror_hook.hpp", "spec/arborist/spte.hpp"};
	h.summary = "Which external (S-EPT) hook a change of a mirror SPTE calls, for Linux v6.19\n"
		    "tdp_mmu_set_spte_atomic() / tdp_mmu_set_spte() and seed 001's\n"
		    "split_external_spt (docs/sources.md).";
	for (const sp::MirrorHook m : sp::mirror_hooks) {
		std::string up;
		for (const char* c = sp::mirror_hook_name(m); *c; c++)
			up += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
		h.defines.push_back(define("ARBORIST_MIRROR_HOOK_" + up, static_cast<u64>(m), ""));
	}
	mirror_hook_function(h, sp::ept_v6_19);
	return {h.file, emit(h)};
}

} // namespace
} // namespace arborist::extract

int main(int argc, char** argv)
{
	using namespace arborist::extract;
	if (argc != 2) {
		std::fprintf(stderr, "usage: arborist-extract OUTDIR\n");
		return 2;
	}
	try {
		const std::filesystem::path out(argv[1]);
		std::filesystem::create_directories(out);
		const Output outputs[] = {
			spte_header(arborist::spec::ept_v6_19, "spte_ept.h", "ept_v6_19_"),
			spte_header(arborist::spec::npt_v6_1, "spte_npt.h", "npt_v6_1_"),
			gfn_header(),
			tlb_header(),
			root_header(),
			mirror_hook_header(),
			sept_flags_header(),
			sept_header(),
		};
		for (const Output& o : outputs) {
			std::ofstream f(out / o.file, std::ios::binary);
			f << o.text;
			if (!f)
				throw std::runtime_error("cannot write " + (out / o.file).string());
		}
	} catch (const std::exception& e) {
		std::fprintf(stderr, "arborist-extract: %s\n", e.what());
		return 1;
	}
	return 0;
}
