// SPDX-License-Identifier: GPL-2.0-only
//
// TLB epoch tracking (spec/arborist/tlb.hpp;
// TDX module 1.5.01 helpers.c, td_exit.c, tdh_mem_track.c).
//
// The bound: K = 8 vCPUs.  The inductive obligations are stated for vCPU 0
// entering and exiting while the other seven are in arbitrary states; the
// invariant is symmetric in the vCPUs, so this covers every vCPU and every
// subset of up to 8 vCPUs inside the guest.  The argument does not depend on
// K beyond the refcount sums; 8 exercises the counting with both parities
// populated, and the module's u16 refcounts cannot overflow at this size.
//
// tlb.no_stale_translation is not inductive on its own (a state with a
// stale vCPU whose epoch refcount was miscounted satisfies it and breaks it
// after one TRACK), so it is proved with the epoch invariant as the
// strengthening, and checked once more *without* it by a bounded k-step
// unrolling from TDH.MNG.INIT.
#include <string>

#include "arborist/obligation.hpp"
#include "arborist/select.hpp"
#include "arborist/tlb.hpp"

namespace arborist::proofs {

namespace {

constexpr std::size_t K = 8;
using S = spec::TlbState<Symbolic, K>;
using B = SymBool;
using W = SymWord;
namespace fl = spec::faults;

const std::string MOD = "TDX module 1.5.01 ";

} // namespace

void add_tlb_obligations(std::vector<Obligation>& out)
{
	namespace hana = boost::hana;
	const auto ops = hana::make_tuple(
		op("vp_enter", MOD + "TDH.VP.ENTER helpers.c adjust_tlb_tracking_state",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::tlb_vp_enter(d, s, 0, x); },
		   {{"epoch_invariant", fl::enter_wrong_parity}, {"no_stale_translation", fl::enter_skips_flush}}),
		op("td_exit", MOD + "td_exit.c",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::tlb_td_exit(d, s, 0, x); },
		   {{"epoch_invariant", fl::exit_skips_refcount}}),
		op("track", MOD + "TDH.MEM.TRACK tdh_mem_track.c",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::tlb_track(d, s, x); },
		   {{"epoch_invariant", fl::track_ignores_refcount}, {"no_stale_translation", fl::track_ignores_refcount}}),
		op("block", MOD + "TDH.MEM.RANGE.BLOCK tdh_mem_range_block.c bepoch",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::tlb_block(d, s, x); },
		   {{"stale_invariant", fl::block_records_zero}}));

	const std::string src_inv = MOD + "TDCS.epoch_tracking refcount[2], TDVPS vcpu_epoch";
	const std::string src_prop = MOD + "is_tlb_tracked (helpers.h); Linux tdx.c tdx_track() comment";
	const auto invs = hana::make_tuple(
		inv("epoch_invariant", src_inv,
		    "refcount[p] counts the vCPUs inside with epoch parity p, vCPUs inside entered at td_epoch or "
		    "td_epoch - 1, and bepoch is not after td_epoch",
		    [](const Symbolic& d, const S& s) { return spec::tlb_epoch_counting(d, s); }),
		inv("stale_invariant", src_inv + "; adjust_tlb_tracking_state (helpers.c)",
		    "a vCPU that may hold the blocked page's translation, inside the guest or not, last entered at or "
		    "before bepoch",
		    [](const Symbolic& d, const S& s) { return spec::tlb_stale_invariant(d, s); }),
		inv("no_stale_translation", src_prop,
		    "once is_tlb_tracked(bepoch) holds, no vCPU can still hold a translation of the blocked page",
		    [](const Symbolic& d, const S& s) { return spec::tlb_tracked_no_stale(d, s); }));

	add_inductive<S>(out, "tlb", ops, invs);

	out.push_back(lemma("tlb.tracked_means_no_early_vcpu", "lemma", src_prop,
			    "is_tlb_tracked(bepoch) implies no vCPU that entered the guest at an epoch at or before "
			    "bepoch is still in the guest (8 vCPUs)",
			    fl::tracked_ignores_refcount, [](const Symbolic& d, spec::Fault x) {
				    const S s = fresh<S>(d, "pre");
				    return Query{{spec::tlb_epoch_invariant(d, s)},
						 spec::tlb_tracked_no_early_vcpu(d, s, x),
						 {}};
			    }));

	// k-step bounded check from TDH.MNG.INIT with 2 vCPUs: each step is a
	// nondeterministic choice of enter/exit of either vCPU, TRACK, BLOCK or
	// nothing; the property is checked after every step.
	constexpr std::size_t K2 = 2;
	constexpr unsigned STEPS = 8;
	using S2 = spec::TlbState<Symbolic, K2>;
	out.push_back(lemma(
		"tlb.bmc_no_stale_translation_from_init", "bounded", src_prop + "; TDH.MNG.INIT",
		"within " + std::to_string(STEPS) + " steps of any interleaving of 2 vCPUs entering/exiting, TRACK and "
		"BLOCK from TDH.MNG.INIT, a tracked block never leaves a vCPU with a stale translation",
		fl::track_ignores_refcount, [](const Symbolic& d, spec::Fault x) {
			S2 s = spec::tlb_initial<Symbolic, K2>(d);
			Query q{{}, d.truth(true), {}};
			B all_ok = spec::tlb_tracked_no_stale(d, s);
			for (unsigned k = 0; k < STEPS; k++) {
				const W choice = d.word("choice" + std::to_string(k));
				S2 next = s;
				auto apply = [&](unsigned id, const spec::Step<Symbolic, S2>& st) {
					const B take = choice == d.lit(id) && st.enabled && !st.bug;
					next = spec::select(d, take, st.post, next);
				};
				apply(0, spec::tlb_vp_enter(d, s, 0, x));
				apply(1, spec::tlb_vp_enter(d, s, 1, x));
				apply(2, spec::tlb_td_exit(d, s, 0, x));
				apply(3, spec::tlb_td_exit(d, s, 1, x));
				apply(4, spec::tlb_track(d, s, x));
				apply(5, spec::tlb_block(d, s, x));
				s = next;
				all_ok = all_ok && spec::tlb_tracked_no_stale(d, s);
			}
			q.goal = all_ok;
			return q;
		}));
}

} // namespace arborist::proofs
