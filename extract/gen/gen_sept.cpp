// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: sept.h: the S-EPT host leaves of spec/arborist/sept.hpp, spec::sept_seamcall
// per leaf, over the summarised view of extract/gen/common.hpp.
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

#include "arborist/sept.hpp"
#include "arborist/tlb.hpp"

// The summarised page of common.hpp: the two rules that read a whole page
// are fields of the C view.
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

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;
using SS = sp::SeptState;
using OS = sp::OpState;

namespace {

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

// "TDX_EPT_WALK_FAILED|RCX" (tdx_abi::status_name); a status the ABI's
// tables cannot name is a bug of the spec.
std::string status_name(u64 v)
{
	if (tdx_abi::status_base_name(v).empty())
		throw std::runtime_error("extract: status " + c_hex(v) + " has no name in spec/arborist/abi/tdx.hpp");
	const u64 opd = v & ~tdx_abi::TDX_SEAMCALL_STATUS_MASK;
	if (opd != 0 && tdx_abi::operand_name(opd).empty())
		throw std::runtime_error("extract: operand ID " + c_hex(opd) + " has no name");
	return tdx_abi::status_name(v);
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

} // namespace

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
	for (const auto& n : sp::lifecycle_names)
		h.defines.push_back(define("ARBORIST_LIFECYCLE_" + std::string(n.name), u64(n.code), ""));
	for (const auto& n : sp::page_type_names)
		h.defines.push_back(define("ARBORIST_" + std::string(n.name), u64(n.code), ""));
	for (const auto& o : tdx_abi::operand_names)
		h.defines.push_back(define("ARBORIST_OPERAND_ID_" + std::string(o.name), o.id, ""));
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

} // namespace arborist::extract::gen
