// SPDX-License-Identifier: GPL-2.0-only
//
// TLB epoch tracking exactly as TDX module 1.5.01 does it
// (intel/tdx-module TDX_1.5.01 helpers.c, helpers.h, td_exit.c, tdh_mem_track.c):
//  - TDCS.epoch_tracking: td_epoch (u64) and refcount[2] (u16);
//  - TDH.MNG.INIT: td_epoch := 1, refcount := {0, 0};
//  - TDH.VP.ENTER (adjust_tlb_tracking_state, helpers.c): e := td_epoch,
//    refcount[e & 1]++; if vcpu_epoch != e, INVEPT of the TD's EPT contexts
//    (the vCPU's translations are flushed); vcpu_epoch := e;
//  - TD exit (td_exit.c): refcount[vcpu_epoch & 1]--; no flush: the
//    translations stay in the TLB until an entry at a new epoch;
//  - TDH.MEM.RANGE.BLOCK: PAMT[target].bepoch := td_epoch;
//  - TDH.MEM.TRACK: TDX_PREVIOUS_TLB_EPOCH_BUSY if refcount[1 - (td_epoch & 1)]
//    != 0, else td_epoch++;
//  - is_tlb_tracked(bepoch) (helpers.h).
#pragma once

#include <array>
#include <cstddef>

#include <boost/hana/define_struct.hpp>

#include "arborist/domain.hpp"
#include "arborist/fault.hpp"
#include "arborist/step.hpp"
#include "arborist/abi/tdx.hpp"

namespace arborist::spec {

// Bit 63 of a PAMT bepoch is the migration flag (mig_flag).
inline constexpr u64 BEPOCH_MIG_FLAG = bit_ull(63);
// td_epoch is a u64 incremented once per TRACK; the model bounds it below
// 2^62 (about 4.6e18 TRACKs), so it never reaches the flag bit or wraps.
inline constexpr u64 TD_EPOCH_LIMIT = bit_ull(62);

template <class D>
struct EpochState {
	BOOST_HANA_DEFINE_STRUCT(EpochState,
		(typename D::Word, td_epoch),
		(typename D::Word, refcount0),
		(typename D::Word, refcount1));
};

template <Domain D>
constexpr typename D::Word epoch_refcount(const D& d, const EpochState<D>& e,
					  const typename D::Word& parity)
{
	return d.ite(parity == d.lit(0), e.refcount0, e.refcount1);
}

template <Domain D>
constexpr typename D::Word parity_of(const D& d, const typename D::Word& epoch)
{
	return epoch & d.lit(1);
}

// is_tlb_tracked(bepoch): a page blocked at epoch E is tracked once a TRACK
// has moved td_epoch past E and every vCPU that entered during E has left.
template <Domain D>
constexpr typename D::Bool is_tlb_tracked(const D& d, const EpochState<D>& e,
					  const typename D::Word& bepoch, Fault x = no_fault)
{
	const typename D::Word prev = e.td_epoch - d.lit(1);
	const typename D::Bool drained = choose<typename D::Bool>(
		x == faults::tracked_ignores_refcount, d.truth(true),
		epoch_refcount(d, e, parity_of(d, bepoch)) == d.lit(0));
	return !bit_set(d, bepoch, BEPOCH_MIG_FLAG) &&
	       (d.ult(bepoch, prev) || (bepoch == prev && drained));
}

// TDH.MEM.TRACK's epoch step, after its TDR and TD-state checks: returns
// the status and the new epoch state.
template <class D>
struct TrackResult {
	typename D::Word status;
	EpochState<D> epoch;
};

template <Domain D>
constexpr TrackResult<D> mem_track_epoch(const D& d, const EpochState<D>& e,
					 const typename D::Bool& epoch_lock_busy, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	const typename D::Word prev_parity = d.lit(1) - parity_of(d, e.td_epoch);
	const typename D::Bool prev_busy = choose<typename D::Bool>(
		x == faults::track_ignores_refcount, d.truth(false), !(epoch_refcount(d, e, prev_parity) == d.lit(0)));
	const typename D::Word status =
		d.ite(epoch_lock_busy, d.lit(tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::TD_EPOCH)),
		      d.ite(prev_busy, d.lit(st::TDX_PREVIOUS_TLB_EPOCH_BUSY), d.lit(st::TDX_SUCCESS)));
	EpochState<D> n = e;
	n.td_epoch = d.ite(status == d.lit(st::TDX_SUCCESS), e.td_epoch + d.lit(1), e.td_epoch);
	return {status, n};
}

// --- the epoch model with vCPUs, for the soundness proof of is_tlb_tracked --

// K vCPUs of one TD and one private page that gets blocked.  stale[v] is
// ghost state: vCPU v's TLB may still hold the page's translation, cached
// before the BLOCK (a walk after the BLOCK cannot create one: the entry is
// blocked).  A TD exit does not flush; the next TDH.VP.ENTER flushes only
// if the TD epoch moved since the vCPU's last entry.  refcount[] is u16 in
// the module; K stays far below that.
template <class D, std::size_t K>
struct TlbState {
	BOOST_HANA_DEFINE_STRUCT(TlbState,
		(EpochState<D>, epoch),
		(std::array<typename D::Bool, K>, in_guest),
		(std::array<typename D::Word, K>, vcpu_epoch),
		(std::array<typename D::Bool, K>, stale),
		(typename D::Bool, blocked),  // the page has been blocked ...
		(typename D::Word, bepoch));  // ... at this epoch (its PAMT bepoch)
};

// After TDH.MNG.INIT: td_epoch := 1, refcount := {0, 0}; no vCPU inside.
template <Domain D, std::size_t K>
constexpr TlbState<D, K> tlb_initial(const D& d)
{
	TlbState<D, K> s{};
	s.epoch = {d.lit(1), d.lit(0), d.lit(0)};
	for (std::size_t v = 0; v < K; v++) {
		s.in_guest[v] = d.truth(false);
		s.vcpu_epoch[v] = d.lit(0);
		s.stale[v] = d.truth(false);
	}
	s.blocked = d.truth(false);
	s.bepoch = d.lit(0);
	return s;
}

template <Domain D>
constexpr EpochState<D> epoch_count(const D& d, EpochState<D> e, const typename D::Word& parity,
				    const typename D::Word& delta)
{
	e.refcount0 = d.ite(parity == d.lit(0), e.refcount0 + delta, e.refcount0);
	e.refcount1 = d.ite(parity == d.lit(1), e.refcount1 + delta, e.refcount1);
	return e;
}

// TDH.VP.ENTER of vCPU v (adjust_tlb_tracking_state): "if (vcpu_epoch !=
// tdvps_ptr->management.vcpu_epoch)" the TD's EPT contexts are flushed on
// this LP (INVEPT single-context), so translations cached at an older epoch
// are gone; at an unchanged epoch they survive the exit and the entry.  A
// new association skips the INVEPT because TDH.VP.FLUSH flushed when the
// vCPU left its previous LP.
template <Domain D, std::size_t K>
constexpr Step<D, TlbState<D, K>> tlb_vp_enter(const D& d, const TlbState<D, K>& s, std::size_t v,
					      Fault x = no_fault)
{
	TlbState<D, K> p = s;
	const typename D::Word e = s.epoch.td_epoch;
	const typename D::Word parity =
		choose<typename D::Word>(x == faults::enter_wrong_parity, d.lit(1) - parity_of(d, e), parity_of(d, e));
	p.epoch = epoch_count(d, s.epoch, parity, d.lit(1));
	p.in_guest[v] = d.truth(true);
	if (x != faults::enter_keeps_epoch)
		p.vcpu_epoch[v] = e;
	const typename D::Bool flushes =
		choose<typename D::Bool>(x == faults::enter_skips_flush, d.truth(false), !(s.vcpu_epoch[v] == e));
	p.stale[v] = s.stale[v] && !flushes;
	return {!s.in_guest[v], d.truth(false), d.truth(true), p};
}

// TD exit of vCPU v to the host (td_exit.c): the epoch refcount drops; the
// vCPU's translations stay cached (no flush on exit).
template <Domain D, std::size_t K>
constexpr Step<D, TlbState<D, K>> tlb_td_exit(const D& d, const TlbState<D, K>& s, std::size_t v,
					     Fault x = no_fault)
{
	TlbState<D, K> p = s;
	if (x != faults::exit_skips_refcount)
		p.epoch = epoch_count(d, s.epoch, parity_of(d, s.vcpu_epoch[v]), d.lit(0) - d.lit(1));
	p.in_guest[v] = d.truth(false);
	return {s.in_guest[v], d.truth(false), d.truth(true), p};
}

// TDH.MEM.TRACK: success, or TDX_PREVIOUS_TLB_EPOCH_BUSY with the state
// unchanged.  td_epoch is a u64 that never comes near wrapping.
template <Domain D, std::size_t K>
constexpr Step<D, TlbState<D, K>> tlb_track(const D& d, const TlbState<D, K>& s, Fault x = no_fault)
{
	TlbState<D, K> p = s;
	const TrackResult<D> r = mem_track_epoch(d, s.epoch, d.truth(false), x);
	p.epoch = r.epoch;
	return {d.ult(s.epoch.td_epoch + d.lit(1), d.lit(TD_EPOCH_LIMIT)), d.truth(false),
		r.status == d.lit(tdx_abi::status::TDX_SUCCESS), p};
}

// TDH.MEM.RANGE.BLOCK of the page: bepoch := td_epoch; every vCPU may hold
// the translation, inside the guest or not (an exit does not flush), until
// it enters at a later epoch.
template <Domain D, std::size_t K>
constexpr Step<D, TlbState<D, K>> tlb_block(const D& d, const TlbState<D, K>& s, Fault x = no_fault)
{
	TlbState<D, K> p = s;
	p.blocked = d.truth(true);
	p.bepoch = choose<typename D::Word>(x == faults::block_records_zero, d.lit(0), s.epoch.td_epoch);
	// Every vCPU last entered at or before td_epoch (the guard only keeps
	// the invariant free of a conjunct saying so).
	for (std::size_t v = 0; v < K; v++)
		p.stale[v] = d.ule(s.vcpu_epoch[v], s.epoch.td_epoch);
	return {!s.blocked, d.truth(false), d.truth(true), p};
}

// Number of vCPUs in the guest whose epoch has the given parity.
template <Domain D, std::size_t K>
constexpr typename D::Word count_in_guest(const D& d, const TlbState<D, K>& s, u64 parity)
{
	typename D::Word n = d.lit(0);
	for (std::size_t v = 0; v < K; v++)
		n = n + d.ite(s.in_guest[v] && parity_of(d, s.vcpu_epoch[v]) == d.lit(parity), d.lit(1),
			      d.lit(0));
	return n;
}

// The epoch invariant, the strengthening that makes tracking inductive:
// td_epoch >= 1; refcount[p] counts exactly the vCPUs inside whose epoch
// has parity p; every vCPU inside entered at td_epoch or td_epoch - 1;
// bepoch is not from the future and has no migration flag.
template <Domain D, std::size_t K>
constexpr typename D::Bool tlb_epoch_counting(const D& d, const TlbState<D, K>& s)
{
	const EpochState<D>& e = s.epoch;
	typename D::Bool ok = !(e.td_epoch == d.lit(0)) && d.ult(e.td_epoch, d.lit(TD_EPOCH_LIMIT)) &&
			      e.refcount0 == count_in_guest(d, s, 0) &&
			      e.refcount1 == count_in_guest(d, s, 1);
	for (std::size_t v = 0; v < K; v++)
		ok = ok && implies(d, s.in_guest[v],
				   s.vcpu_epoch[v] == e.td_epoch ||
					   s.vcpu_epoch[v] + d.lit(1) == e.td_epoch);
	return ok && implies(d, s.blocked, d.ule(s.bepoch, e.td_epoch) &&
					      !bit_set(d, s.bepoch, BEPOCH_MIG_FLAG));
}

// A stale vCPU (in the guest or not) last entered at or before bepoch, and
// the page is blocked.  Kept apart from the counting part: each is proved
// inductive with the other assumed, and the solver handles them faster
// separately.
template <Domain D, std::size_t K>
constexpr typename D::Bool tlb_stale_invariant(const D& d, const TlbState<D, K>& s)
{
	typename D::Bool ok = d.truth(true);
	for (std::size_t v = 0; v < K; v++)
		ok = ok && implies(d, s.stale[v], s.blocked && d.ule(s.vcpu_epoch[v], s.bepoch));
	return ok;
}

// Both parts.
template <Domain D, std::size_t K>
constexpr typename D::Bool tlb_epoch_invariant(const D& d, const TlbState<D, K>& s)
{
	return tlb_epoch_counting(d, s) && tlb_stale_invariant(d, s);
}

// What TRACK is for: once is_tlb_tracked(bepoch) holds, no vCPU in the
// guest can still use a translation of the blocked page, so removing it is
// safe.  A vCPU outside may still cache one; its next entry is at a later
// epoch than the one it cached it in, and flushes.
template <Domain D, std::size_t K>
constexpr typename D::Bool tlb_tracked_no_stale(const D& d, const TlbState<D, K>& s, Fault x = no_fault)
{
	typename D::Bool none = d.truth(true);
	for (std::size_t v = 0; v < K; v++)
		none = none && !(s.in_guest[v] && s.stale[v]);
	return implies(d, s.blocked && is_tlb_tracked(d, s.epoch, s.bepoch, x), none);
}

// The same in terms of epochs: once tracked, no vCPU
// that entered the guest at an epoch at or before bepoch is still inside.
template <Domain D, std::size_t K>
constexpr typename D::Bool tlb_tracked_no_early_vcpu(const D& d, const TlbState<D, K>& s,
						     Fault x = no_fault)
{
	typename D::Bool none = d.truth(true);
	for (std::size_t v = 0; v < K; v++)
		none = none && implies(d, s.in_guest[v], d.ult(s.bepoch, s.vcpu_epoch[v]));
	return implies(d, s.blocked && is_tlb_tracked(d, s.epoch, s.bepoch, x), none);
}

} // namespace arborist::spec
