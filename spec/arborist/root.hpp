// SPDX-License-Identifier: GPL-2.0-only
//
// The TDP MMU root lifecycle of Linux v6.19 (arch/x86/kvm/mmu/tdp_mmu.c):
// a refcount (tdp_mmu_root_count) plus role.invalid, the
// tdp_mmu_scheduled_root_to_zap flag, membership of kvm->arch.tdp_mmu_roots,
// and the RCU-deferred free.  Seed 003 is the thread that shaped it (Paolo
// Bonzini: "The root is invalid, and its reference count has reached zero
// ... we're definitely the last thread to see it"; docs/sources.md), in short:
// a root is freed only when it is invalid and its refcount is zero.
// Facts: v6.19 tdp_mmu.c tdp_mmu_root_match(), kvm_tdp_mmu_get_root(),
// kvm_tdp_mmu_put_root(), kvm_tdp_mmu_invalidate_roots().
//
// Each operation is a whole-call step here; the yielding, interleaved
// versions live in impl/ and are checked by the model checker (proofs/).
#pragma once

#include <boost/hana/define_struct.hpp>

#include "arborist/domain.hpp"
#include "arborist/fault.hpp"
#include "arborist/step.hpp"

namespace arborist::spec {

template <class D>
struct RootState {
	BOOST_HANA_DEFINE_STRUCT(RootState,
		(typename D::Bool, allocated),         // kvm_tdp_mmu_alloc_root() ran
		(typename D::Word, refcount),          // tdp_mmu_root_count
		// ghost: who holds the references.  mmu_ref is the TDP MMU's own
		// reference, gifted to the zapper at invalidation; task_refs are
		// the references of vCPUs and root iterators.  Seed 003: "_this_
		// task can't drop a reference taken by the other task".
		(typename D::Bool, mmu_ref),
		(typename D::Word, task_refs),
		(typename D::Bool, invalid),           // role.invalid
		(typename D::Bool, scheduled_to_zap),  // tdp_mmu_scheduled_root_to_zap
		(typename D::Bool, on_list),           // on kvm->arch.tdp_mmu_roots
		(typename D::Bool, rcu_queued),        // call_rcu(tdp_mmu_free_sp_rcu_callback) pending
		(typename D::Bool, freed));            // the callback ran
};

// refcount_t saturates at REFCOUNT_SATURATED; the model requires the count
// to stay below it instead of modelling saturation.
inline constexpr u64 REFCOUNT_LIMIT = 0x7fffffff;

template <Domain D>
constexpr RootState<D> root_initial(const D& d)
{
	const auto f = d.truth(false);
	return {f, d.lit(0), f, d.lit(0), f, f, f, f, f};
}

template <Domain D>
constexpr typename D::Bool root_reachable(const D& d, const RootState<D>& s)
{
	// Any task may hold a pointer obtained under RCU until the free runs.
	(void)d;
	return s.allocated && !s.freed;
}

// kvm_tdp_mmu_alloc_root(): "one reference for the vCPU, and one reference
// for the TDP MMU itself", then list_add_rcu().
template <Domain D>
constexpr Step<D, RootState<D>> root_alloc(const D& d, const RootState<D>& s, Fault x = no_fault)
{
	RootState<D> p = s;
	p.allocated = d.truth(true);
	p.refcount = d.lit(x == faults::alloc_refcount_one ? 1 : 2);
	p.mmu_ref = d.truth(true);
	p.task_refs = d.lit(1); // the allocating vCPU's
	p.invalid = d.truth(false);
	p.scheduled_to_zap = d.truth(false);
	p.on_list = d.truth(true);
	return {!s.allocated, d.truth(false), d.truth(true), p};
}

// kvm_tdp_mmu_get_root(): refcount_inc_not_zero().
template <Domain D>
constexpr Step<D, RootState<D>> root_get(const D& d, const RootState<D>& s, Fault x = no_fault)
{
	RootState<D> p = s;
	const typename D::Bool ok =
		choose<typename D::Bool>(x == faults::get_on_zero, d.truth(true), !(s.refcount == d.lit(0)));
	p.refcount = d.ite(ok, s.refcount + d.lit(1), s.refcount);
	p.task_refs = d.ite(ok, s.task_refs + d.lit(1), s.task_refs);
	return {root_reachable(d, s) && d.ult(s.refcount, d.lit(REFCOUNT_LIMIT)), d.truth(false), ok, p};
}

// The shared tail of every put: refcount_dec_and_test(); on zero,
// KVM_BUG_ON(!role.invalid), list_del_rcu() and call_rcu().
template <Domain D>
constexpr Step<D, RootState<D>> root_put_ref(const D& d, const RootState<D>& s, Fault x = no_fault)
{
	RootState<D> p = s;
	p.refcount = s.refcount - d.lit(1);
	const typename D::Bool last = p.refcount == d.lit(0);
	const typename D::Bool bug =
		choose<typename D::Bool>(x == faults::put_frees_valid_root, d.truth(false), last && !s.invalid);
	p.on_list = choose<typename D::Bool>(x == faults::put_keeps_on_list, s.on_list, s.on_list && !last);
	p.rcu_queued = s.rcu_queued || last;
	return {root_reachable(d, s) && !(s.refcount == d.lit(0)), bug, d.truth(true), p};
}

// kvm_tdp_mmu_put_root(kvm, root) (v6.19) by a vCPU or a root iterator:
// the caller drops a reference it holds (one of task_refs).
template <Domain D>
constexpr Step<D, RootState<D>> root_put(const D& d, const RootState<D>& s, Fault x = no_fault)
{
	Step<D, RootState<D>> st = root_put_ref(d, s, x);
	if (x != faults::put_other_tasks_reference)
		st.enabled = st.enabled && !(s.task_refs == d.lit(0));
	st.post.task_refs = s.task_refs - d.lit(1);
	return st;
}

// kvm_tdp_mmu_invalidate_roots(): for a root that is not yet invalid, set
// tdp_mmu_scheduled_root_to_zap and role.invalid; the TDP MMU's own
// reference is gifted to kvm_tdp_mmu_zap_invalidated_roots().  Needs
// mmu_lock for write (role.invalid is protected by mmu_lock).
template <Domain D>
constexpr Step<D, RootState<D>> root_invalidate(const D& d, const RootState<D>& s, Fault x = no_fault)
{
	RootState<D> p = s;
	const typename D::Bool fresh = s.on_list && !s.invalid;
	p.invalid = s.invalid || fresh;
	p.scheduled_to_zap = s.scheduled_to_zap || fresh;
	if (x == faults::invalidate_drops_gift) {
		p.refcount = d.ite(fresh, s.refcount - d.lit(1), s.refcount);
		p.mmu_ref = s.mmu_ref && !fresh;
		p.on_list = s.on_list && !(p.refcount == d.lit(0));
		p.rcu_queued = s.rcu_queued || (fresh && p.refcount == d.lit(0));
	}
	return {root_reachable(d, s), d.truth(false), d.truth(true), p};
}

// kvm_tdp_mmu_zap_invalidated_roots(): for a scheduled root, clear the flag,
// KVM_BUG_ON(!role.invalid), tdp_mmu_zap_root(), then put the gifted
// reference "as the root must be reachable by mmu_notifiers while it's being
// zapped".
template <Domain D>
constexpr Step<D, RootState<D>> root_zap_invalidated(const D& d, const RootState<D>& s,
						     Fault x = no_fault)
{
	RootState<D> cleared = s;
	cleared.scheduled_to_zap = d.truth(false);
	cleared.mmu_ref = d.truth(false); // the gifted reference is the one put
	if (x == faults::zap_skips_put)
		return {root_reachable(d, s) && s.scheduled_to_zap, !s.invalid, d.truth(true), cleared};
	Step<D, RootState<D>> put = root_put_ref(d, cleared);
	if (x == faults::zap_double_put)
		put = root_put_ref(d, put.post);
	put.enabled = root_reachable(d, s) && s.scheduled_to_zap;
	put.bug = put.bug || !s.invalid;
	return put;
}

// tdp_mmu_free_sp_rcu_callback() after a grace period.
template <Domain D>
constexpr Step<D, RootState<D>> root_rcu_free(const D& d, const RootState<D>& s, Fault x = no_fault)
{
	RootState<D> p = s;
	p.freed = d.truth(true);
	p.rcu_queued = d.truth(false);
	const typename D::Bool enabled =
		choose<typename D::Bool>(x == faults::rcu_frees_early, s.allocated && !s.freed, s.rcu_queued);
	return {enabled, d.truth(false), d.truth(true), p};
}

// --- invariants ----------------------------------------------------------------

// Seed 003, summed up: a root is freed only when it is invalid
// and its refcount is zero.
template <Domain D>
constexpr typename D::Bool root_freed_implies_invalid_and_zero(const D& d, const RootState<D>& s)
{
	return implies(d, s.freed, s.invalid && s.refcount == d.lit(0));
}

// The TDP MMU holds a reference until the root is invalidated, so a valid
// root never has refcount 0.
template <Domain D>
constexpr typename D::Bool root_valid_or_referenced(const D& d, const RootState<D>& s)
{
	return implies(d, s.allocated, !(s.refcount == d.lit(0)) || s.invalid);
}

// The gifted reference: a root scheduled for zapping is invalid and its
// zapper still holds the TDP MMU's reference that it will put.
template <Domain D>
constexpr typename D::Bool root_scheduled_holds_gift(const D& d, const RootState<D>& s)
{
	return implies(d, s.scheduled_to_zap, s.invalid && s.mmu_ref);
}

// The count is exactly the references held: the TDP MMU's (until it is put
// after the zap) plus those of tasks; a valid root always has the MMU's.
template <Domain D>
constexpr typename D::Bool root_refcount_accounts_holders(const D& d, const RootState<D>& s)
{
	return s.refcount == s.task_refs + bit(d, s.mmu_ref, 1) && d.ule(s.task_refs, s.refcount) &&
	       d.ule(s.refcount, d.lit(REFCOUNT_LIMIT)) && implies(d, s.allocated && !s.invalid, s.mmu_ref);
}

// List membership and the RCU free follow the count: on the list exactly
// while referenced; queued for RCU or freed exactly once it reached zero.
template <Domain D>
constexpr typename D::Bool root_list_matches_refcount(const D& d, const RootState<D>& s)
{
	const typename D::Bool zero = s.refcount == d.lit(0);
	return implies(d, s.allocated,
		       (s.on_list == !zero) && (zero == (s.rcu_queued || s.freed)) &&
			       !(s.rcu_queued && s.freed));
}

// Nothing happens to a root that was never allocated.
template <Domain D>
constexpr typename D::Bool root_unallocated_is_blank(const D& d, const RootState<D>& s)
{
	return implies(d, !s.allocated,
		       s.refcount == d.lit(0) && !s.mmu_ref && s.task_refs == d.lit(0) && !s.invalid &&
			       !s.scheduled_to_zap && !s.on_list &&
			       !s.rcu_queued && !s.freed);
}

} // namespace arborist::spec
