// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: mirror_hook.h: the external hook of a mirror SPTE change of
// spec/arborist/mirror_hook.hpp.
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

#include "arborist/mirror_hook.hpp"
#include "arborist/spte.hpp"

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;

namespace {

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
		.ensure("split_only_with_private_huge_pages",
			[=](const Args& a) {
				const W o = a.w("old_spte"), n = a.w("new_spte"), l = a.w("level");
				return sp::implies(d, a.result() == hook(MH::split),
						   !a.b("atomic") && a.b("private_huge_pages") && present(n) && last(o, l) && !last(n, l));
			},
			"seed 001: \"is_last_spte(old_spte, level) && !is_last_spte(new_spte, level)\"")
		.ensure("v6_19_nonatomic_never_installs",
			[=](const Args& a) {
				return sp::implies(d, !a.b("atomic") && !a.b("private_huge_pages") && present(a.w("new_spte")),
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
	      "of v6.19, or of seed 001 (split_external_spt) when private_huge_pages.  An\n"
	      "ARBORIST_MIRROR_HOOK_* code.",
	      false,
	      {word_param("old_spte"), word_param("new_spte"), word_param("level"), bool_param("atomic"),
	       bool_param("private_huge_pages")},
	      [f](const Args& a) {
		      return Value{sp::mirror_hook_for_change(d, f, a.w("old_spte"), a.w("new_spte"), a.w("level"),
							      a.b("atomic"), a.b("private_huge_pages"))};
	      });
	mirror_hook_contract(fn, f);
}

} // namespace

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

} // namespace arborist::extract::gen
