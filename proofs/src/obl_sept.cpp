// SPDX-License-Identifier: GPL-2.0-only
//
// The S-EPT machine of TDX module 1.5 (spec/arborist/sept.hpp;
// intel/tdx-module TDX_1.5.01): properties of each host SEAMCALL
// leaf, stated over an arbitrary local view (any entry states on the walk,
// any 512 children, any TD state, any lock contention).
#include <string>

#include "arborist/obligation.hpp"
#include "arborist/sept.hpp"

namespace arborist::proofs {

namespace {

using spec::TdGeometry;
using L = spec::SeptLocal<Symbolic>;
using A = spec::SeptArgs<Symbolic>;
using W = SymWord;
using B = SymBool;
using tdx_abi::Leaf;
namespace fl = spec::faults;
namespace st = tdx_abi::status;
using spec::Lifecycle;
using spec::OpState;
using spec::PageType;
using spec::SeptState;

const std::string MOD = "TDX module 1.5.01 ";

struct Call {
	A a;
	L pre;
	spec::SeptOutcome<Symbolic> out;
	W entry; // the target entry before the call
	B ok;    // TDX_SUCCESS
};

Call call(const Symbolic& d, const TdGeometry& g, Leaf leaf, spec::Fault x)
{
	const A a = fresh<A>(d, "args");
	const L s = fresh<L>(d, "pre");
	auto out = spec::sept_seamcall(d, g, leaf, a, s, x);
	const W entry = spec::sept_target(d, s, a.level);
	const B ok = out.status == d.lit(st::TDX_SUCCESS);
	return {a, s, std::move(out), entry, ok};
}

Query query(const Call& c, std::vector<z3::expr> assume, const z3::expr& goal)
{
	return Query{std::move(assume), goal, {{"status", c.out.status}}};
}

void add_keys_not_configured(std::vector<Obligation>& out)
{
	for (const auto& info : spec::sept_leaves) {
		if (!info.sept_leaf)
			continue;
		const Leaf leaf = info.leaf;
		out.push_back(lemma(
			"sept.keys_not_configured_after_vpflushdone/" + std::string(info.name()), "lemma",
			MOD + "helpers.c check_state_map_tdcs_and_lock(); tdh_mng_vpflushdone.c; tdh_mng_key_freeid.c",
			"once VPFLUSHDONE has run (TD_BLOCKED) or KEY.FREEID (TD_TEARDOWN), " + std::string(info.name()) +
				" fails with TDX_TD_KEYS_NOT_CONFIGURED",
			fl::skip_lifecycle_check, [leaf](const Symbolic& d, spec::Fault x) {
				const Call c = call(d, spec::td_pwl4, leaf, x);
				return query(c,
					     {!c.a.busy.tdr, !c.pre.td.fatal,
					      spec::one_of(d, c.pre.td.lifecycle, {Lifecycle::TD_BLOCKED, Lifecycle::TD_TEARDOWN})},
					     c.out.status == d.lit(st::TDX_TD_KEYS_NOT_CONFIGURED));
			}));
	}
}

void add_walks(std::vector<Obligation>& out)
{
	for (const TdGeometry& g : spec::td_geometries)
		for (const auto& info : spec::sept_leaves) {
			if (!info.walks)
				continue;
			const Leaf leaf = info.leaf;
			out.push_back(lemma("sept.pwl" + std::to_string(g.pwl) + ".walk_never_passes_nl_blocked/" +
						    std::string(info.name()),
					    "lemma", MOD + "sept_manager.c secure_ept_walk(); seed 000 (\"all S-EPT entries need to be blocked\")",
					    "a successful " + std::string(info.name()) +
						    " never walked through an NL_BLOCKED entry above its target",
					    fl::walk_through_blocked, [leaf, g](const Symbolic& d, spec::Fault x) {
						    const Call c = call(d, g, leaf, x);
						    return query(c, {},
								 spec::implies(d, c.ok,
									 !spec::sept_walk_passes_nl_blocked(d, g, c.pre, c.a.level)));
					    }));
		}
}

void add_blocked_and_tracked(std::vector<Obligation>& out)
{
	for (const Leaf leaf : {Leaf::TDH_MEM_PAGE_REMOVE, Leaf::TDH_MEM_SEPT_REMOVE, Leaf::TDH_MEM_PAGE_DEMOTE,
				Leaf::TDH_MEM_PAGE_PROMOTE}) {
		const std::string n = tdx_abi::leaf_name(leaf);
		out.push_back(lemma("sept.requires_blocked_in_runnable/" + n, "lemma",
				    MOD + "helpers.c, tdh_mem_page_remove.c, tdh_mem_sept_remove.c, tdh_mem_page_demote.c, tdh_mem_page_promote.c; seed 000",
				    "in RUNNABLE a successful " + n + " acted on a blocked entry (BLOCKED, PENDING_BLOCKED "
								      "or NL_BLOCKED)",
				    fl::skip_blocked_check, [leaf](const Symbolic& d, spec::Fault x) {
					    const Call c = call(d, spec::td_pwl4, leaf, x);
					    return query(c, {c.pre.td.op_state == d.lit(OpState::RUNNABLE)},
							 spec::implies(d, c.ok, spec::sept_any_blocked(d, c.entry)));
				    }));
		out.push_back(lemma("sept.requires_tlb_tracked_in_runnable/" + n, "lemma",
				    MOD + "helpers.h is_tlb_tracked(PAMT[target].bepoch)",
				    "in RUNNABLE a successful " + n + " acted on an entry whose block is TLB-tracked",
				    fl::skip_tracking_check, [leaf](const Symbolic& d, spec::Fault x) {
					    const Call c = call(d, spec::td_pwl4, leaf, x);
					    return query(c, {c.pre.td.op_state == d.lit(OpState::RUNNABLE)},
							 spec::implies(d, c.ok, spec::is_tlb_tracked(d, c.pre.td.epoch, c.pre.target.bepoch)));
				    }));
	}
}

void add_chldcnt(std::vector<Obligation>& out)
{
	struct Delta {
		Leaf leaf;
		int sign;     // +1 or -1
		bool by_size; // 512^level, else 1
	};
	for (const Delta dl : {Delta{Leaf::TDH_MEM_SEPT_ADD, +1, false}, Delta{Leaf::TDH_MEM_PAGE_AUG, +1, true},
			       Delta{Leaf::TDH_MEM_PAGE_REMOVE, -1, true}, Delta{Leaf::TDH_MEM_SEPT_REMOVE, -1, false}}) {
		const std::string n = tdx_abi::leaf_name(dl.leaf);
		out.push_back(lemma("sept.chldcnt_counts_pages/" + n, "lemma", MOD + "pamt_manager.c TDR.CHLDCNT",
				    "a successful " + n + " changes TDR.CHLDCNT by the 4K units it adds or removes",
				    fl::chldcnt_not_counted, [dl](const Symbolic& d, spec::Fault x) {
					    const Call c = call(d, spec::td_pwl4, dl.leaf, x);
					    const W units = dl.by_size ? spec::pages_in_level(d, c.a.level) : d.lit(1);
					    const W expect = dl.sign > 0 ? c.pre.td.chldcnt + units : c.pre.td.chldcnt - units;
					    // SEPT.ADD with allow_existing on an NL_MAPPED entry adds nothing.
					    const B added = dl.leaf == Leaf::TDH_MEM_SEPT_ADD
								    ? c.entry == d.lit(SeptState::FREE)
								    : d.truth(true);
					    return query(c, {}, spec::implies(d, c.ok && added, c.out.post.td.chldcnt == expect));
				    }));
	}
}

void add_single(std::vector<Obligation>& out)
{
	out.push_back(lemma(
		"sept.children_removed_before_parent/TDH.MEM.SEPT.REMOVE", "lemma",
		MOD + "tdh_mem_sept_remove.c; seed 000 (\"all S-EPT entries need to be blocked before they can be removed\")",
		"SEPT.REMOVE succeeds only when all 512 children of the S-EPT page are FREE",
		fl::skip_children_free_check, [](const Symbolic& d, spec::Fault x) {
			const Call c = call(d, spec::td_pwl4, Leaf::TDH_MEM_SEPT_REMOVE, x);
			return query(c, {}, spec::implies(d, c.ok, spec::all_children_free(d, c.pre)));
		}));

	out.push_back(lemma("sept.removed_page_is_free/TDH.MEM.PAGE.REMOVE", "lemma", MOD + "tdh_mem_page_remove.c",
			    "after a successful PAGE.REMOVE the entry is FREE and the page is PT_NDA (released) in "
			    "the PAMT",
			    fl::remove_keeps_pamt, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_MEM_PAGE_REMOVE, x);
				    return query(c, {},
						 spec::implies(d, c.ok,
							 spec::sept_target(d, c.out.post, c.a.level) == d.lit(SeptState::FREE) &&
								 c.out.post.target.pt == d.lit(PageType::PT_NDA)));
			    }));

	out.push_back(lemma("sept.removed_entry_is_free/TDH.MEM.PAGE.REMOVE", "lemma", MOD + "tdh_mem_page_remove.c",
			    "after a successful PAGE.REMOVE the S-EPT entry reads FREE (SEPTE_INIT_VALUE)",
			    fl::remove_keeps_entry, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_MEM_PAGE_REMOVE, x);
				    return query(c, {},
						 spec::implies(d, c.ok,
							 spec::sept_target(d, c.out.post, c.a.level) == d.lit(SeptState::FREE)));
			    }));

	out.push_back(lemma("sept.reclaim_only_in_teardown/TDH.PHYMEM.PAGE.RECLAIM", "lemma",
			    MOD + "tdh_phymem_page_reclaim.c",
			    "PHYMEM.PAGE.RECLAIM succeeds only in TD_TEARDOWN (after KEY.FREEID)",
			    fl::reclaim_any_lifecycle, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_PHYMEM_PAGE_RECLAIM, x);
				    return query(c, {},
						 spec::implies(d, c.ok, c.pre.td.lifecycle == d.lit(Lifecycle::TD_TEARDOWN)));
			    }));

	out.push_back(lemma("sept.tdr_reclaimed_last/TDH.PHYMEM.PAGE.RECLAIM", "lemma", MOD + "tdh_phymem_page_reclaim.c, TDR.CHLDCNT",
			    "the TDR is reclaimed only when TDR.CHLDCNT is 0, i.e. after every page of the TD",
			    fl::reclaim_tdr_with_children, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_PHYMEM_PAGE_RECLAIM, x);
				    return query(c, {c.pre.target.pt == d.lit(PageType::PT_TDR)},
						 spec::implies(d, c.ok, c.pre.td.chldcnt == d.lit(0)));
			    }));

	out.push_back(lemma("sept.freeid_after_cache_wb/TDH.MNG.KEY.FREEID", "lemma", MOD + "tdh_mng_key_freeid.c",
			    "KEY.FREEID (entering TD_TEARDOWN) succeeds only after CACHE.WB ran on every package",
			    fl::freeid_before_wb, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_MNG_KEY_FREEID, x);
				    return query(c, {}, spec::implies(d, c.ok, !c.pre.td.wbinvd_pending &&
								     c.out.post.td.lifecycle ==
									     d.lit(Lifecycle::TD_TEARDOWN)));
			    }));

	out.push_back(lemma("sept.vpflushdone_after_vp_flush/TDH.MNG.VPFLUSHDONE", "lemma", MOD + "tdh_mng_vpflushdone.c",
			    "VPFLUSHDONE succeeds on an initialized TD only once no vCPU is associated (TDH.VP.FLUSH "
			    "ran for each)",
			    fl::vpflushdone_with_vcpus, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_MNG_VPFLUSHDONE, x);
				    return query(c,
						 {c.pre.td.tdcs_allocated,
						  !(c.pre.td.op_state == d.lit(OpState::UNINITIALIZED))},
						 spec::implies(d, c.ok, c.pre.td.num_assoc_vcpus == d.lit(0)));
			    }));

	out.push_back(lemma("sept.block_records_bepoch/TDH.MEM.RANGE.BLOCK", "lemma", MOD + "tdh_mem_range_block.c",
			    "a successful RANGE.BLOCK leaves the entry blocked and records bepoch := td_epoch on the "
			    "target page",
			    fl::block_skips_bepoch, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_MEM_RANGE_BLOCK, x);
				    return query(c, {},
						 spec::implies(d, c.ok,
							 c.out.post.target.bepoch == c.pre.td.epoch.td_epoch &&
								 spec::sept_any_blocked(
									 d, spec::sept_target(d, c.out.post, c.a.level))));
			    }));

	out.push_back(lemma("sept.demote_unblocks_children/TDH.MEM.PAGE.DEMOTE", "lemma",
			    MOD + "tdh_mem_page_demote.c; Linux TDX huge-page series v3 tdx_sept_split_private_spte (\"No UNBLOCK is needed after a successful DEMOTE\")",
			    "after DEMOTE the entry is NL_MAPPED and all 512 children are MAPPED or PENDING, never "
			    "blocked",
			    fl::demote_keeps_block, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_MEM_PAGE_DEMOTE, x);
				    B kids = d.truth(true);
				    for (const auto& e : c.out.post.child)
					    kids = kids && spec::one_of(d, e, {SeptState::MAPPED, SeptState::PENDING});
				    return query(c, {},
						 spec::implies(d, c.ok,
							 kids && spec::sept_target(d, c.out.post, c.a.level) ==
									 d.lit(SeptState::NL_MAPPED)));
			    }));

	out.push_back(lemma("sept.aug_only_free_entries/TDH.MEM.PAGE.AUG", "lemma", MOD + "sept_state_lookup.c, tdh_mem_page_aug.c",
			    "PAGE.AUG succeeds only on a FREE (or import-REMOVED) entry and leaves it PENDING",
			    fl::aug_any_state, [](const Symbolic& d, spec::Fault x) {
				    const Call c = call(d, spec::td_pwl4, Leaf::TDH_MEM_PAGE_AUG, x);
				    return query(c, {},
						 spec::implies(d, c.ok,
							 spec::one_of(d, c.entry, {SeptState::FREE, SeptState::REMOVED}) &&
								 spec::sept_target(d, c.out.post, c.a.level) ==
									 d.lit(SeptState::PENDING)));
			    }));
}

} // namespace

void add_sept_obligations(std::vector<Obligation>& out)
{
	add_keys_not_configured(out);
	add_walks(out);
	add_blocked_and_tracked(out);
	add_single(out);
	add_chldcnt(out);
}

} // namespace arborist::proofs
