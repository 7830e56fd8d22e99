// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: tlb.h: TLB epoch tracking of spec/arborist/tlb.hpp.
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

#include "arborist/tlb.hpp"

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;

namespace {

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

} // namespace

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

} // namespace arborist::extract::gen
