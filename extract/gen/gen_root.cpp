// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: root.h: the root lifecycle of spec/arborist/root.hpp over struct
// arborist_root_state.
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

#include "arborist/root.hpp"

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;

namespace {

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

} // namespace

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

} // namespace arborist::extract::gen
