// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: sept_flags.h: the S-EPT per-state flags and the removal check of
// spec/arborist/sept.hpp.
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

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;

namespace {

using SS = sp::SeptState;
using OS = sp::OpState;

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

} // namespace

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
	for (const auto& s : sp::sept_state_names)
		h.defines.push_back(define("ARBORIST_SEPT_" + std::string(s.name), u64(s.state), ""));
	for (const auto& s : sp::op_state_names)
		h.defines.push_back(define("ARBORIST_OP_STATE_" + std::string(s.name), u64(s.code), ""));
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

} // namespace arborist::extract::gen
