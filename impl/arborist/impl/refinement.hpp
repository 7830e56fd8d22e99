// SPDX-License-Identifier: GPL-2.0-only
//
// Refinement: the abstraction function from the executable TDP MMU's state
// to the spec's states, and the check that a completed operation is a legal
// spec step (seL4 l4v style: impl refines spec).
//
// Roots: each page-table slot that is or was a root maps to a
// spec::RootState.  The ghost ownership of the spec (mmu_ref, task_refs) is
// derived: the TDP MMU holds its reference while the root is valid, and the
// zapper holds it (gifted) while the root is scheduled to zap.  An
// operation may touch a root several times (unmap_gfn_range gets and puts
// each root; zap_invalidated_roots zaps and puts), so the check accepts any
// sequence of up to kMaxSteps spec steps, and a stutter.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "arborist/impl/tdp_mmu.hpp"
#include "arborist/root.hpp"

namespace arborist::impl {

using RootAbs = spec::RootState<spec::Concrete>;

constexpr bool operator==(const RootAbs& a, const RootAbs& b)
{
	return a.allocated == b.allocated && a.refcount == b.refcount && a.mmu_ref == b.mmu_ref &&
	       a.task_refs == b.task_refs && a.invalid == b.invalid && a.scheduled_to_zap == b.scheduled_to_zap &&
	       a.on_list == b.on_list && a.rcu_queued == b.rcu_queued && a.freed == b.freed;
}

// The abstraction of one slot.  A slot that was never a root is the spec's
// initial state.
template <ExternalHooks H>
constexpr RootAbs abstract_root(const TdpMmu<H>& mmu, u32 sp, bool was_root)
{
	const auto& d = spec::concrete;
	RootAbs s = spec::root_initial(d);
	if (!was_root)
		return s;
	const MmuPage& p = mmu.tables()[sp];
	const bool on_list = std::find(mmu.roots().begin(), mmu.roots().end(), sp) != mmu.roots().end();
	bool queued = false;
	for (const RcuCallback& cb : mmu.rcu_queue())
		queued = queued || cb.sp == sp;
	s.allocated = true;
	s.freed = p.state == SpState::freed || !p.root;
	s.refcount = s.freed ? 0 : p.root_count;
	s.invalid = s.freed || p.invalid;
	s.scheduled_to_zap = !s.freed && p.scheduled_root_to_zap;
	s.on_list = on_list;
	s.rcu_queued = queued;
	s.mmu_ref = !s.freed && p.root_count > 0 && (!p.invalid || p.scheduled_root_to_zap);
	s.task_refs = s.refcount - (s.mmu_ref ? 1 : 0);
	return s;
}

struct RefinementResult {
	bool ok = true;
	std::string why; // the first violation, for test output and `arborist run --refine`
};

// Is `post` reachable from `pre` by a sequence of enabled, non-bug spec
// steps?  Breadth-first over the six root operations, without revisiting a
// state.  One kernel call can take a root through many spec steps (VM
// destruction with N vCPUs: N puts, invalidate, zap, put, RCU free), so
// the bound is generous; the refcount limits how far it can go anyway.
constexpr bool root_steps_reach(const RootAbs& pre, const RootAbs& post)
{
	constexpr unsigned kMaxSteps = 64;
	const auto& d = spec::concrete;
	std::vector<RootAbs> seen{pre};
	std::vector<RootAbs> frontier{pre};
	for (unsigned depth = 0; depth <= kMaxSteps && !frontier.empty(); depth++) {
		std::vector<RootAbs> next;
		for (const RootAbs& s : frontier) {
			if (s == post)
				return true;
			const std::array<spec::Step<spec::Concrete, RootAbs>, 6> steps{
				spec::root_alloc(d, s), spec::root_get(d, s),           spec::root_put(d, s),
				spec::root_invalidate(d, s), spec::root_zap_invalidated(d, s), spec::root_rcu_free(d, s)};
			for (const auto& st : steps) {
				const bool known = std::find_if(seen.begin(), seen.end(), [&](const RootAbs& x) {
							   return x == st.post;
						   }) != seen.end();
				if (!st.enabled || st.bug || known)
					continue;
				// Never explore past the refcount the target has, plus slack
				// for the gets and puts a kernel call pairs up.
				if (st.post.refcount > post.refcount + pre.refcount + 4)
					continue;
				seen.push_back(st.post);
				next.push_back(st.post);
			}
		}
		frontier = std::move(next);
	}
	return false;
}

constexpr bool root_invariants(const RootAbs& s)
{
	const auto& d = spec::concrete;
	return spec::root_freed_implies_invalid_and_zero(d, s) && spec::root_valid_or_referenced(d, s) &&
	       spec::root_scheduled_holds_gift(d, s) && spec::root_refcount_accounts_holders(d, s) &&
	       spec::root_list_matches_refcount(d, s) && spec::root_unallocated_is_blank(d, s);
}

// Snapshot of every slot's root abstraction, before an operation.
template <ExternalHooks H>
class RootRefinement {
public:
	constexpr explicit RootRefinement(const TdpMmu<H>& mmu) : mmu_(mmu) { pre_ = snapshot(); }

	// After the operation: every root's change is a legal spec step sequence
	// and every spec invariant holds.
	constexpr RefinementResult check()
	{
		const std::vector<RootAbs> post = snapshot();
		for (std::size_t i = 0; i < post.size(); i++) {
			RootAbs pre = i < pre_.size() ? pre_[i] : spec::root_initial(spec::concrete);
			// A freed slot that is a root again is a new root (a new object).
			if (pre.freed && !post[i].freed)
				pre = spec::root_initial(spec::concrete);
			if (!root_invariants(post[i]))
				return {false, "root " + std::to_string(i) + ": a spec root invariant fails after the operation"};
			if (!root_steps_reach(pre, post[i]))
				return {false, "root " + std::to_string(i) + ": the change is not a sequence of spec steps"};
		}
		pre_ = post;
		return {};
	}

private:
	constexpr std::vector<RootAbs> snapshot()
	{
		std::vector<RootAbs> out;
		const auto& pt = mmu_.tables();
		if (was_root_.size() < pt.capacity())
			was_root_.resize(pt.capacity(), false);
		for (u32 sp = 0; sp < pt.capacity(); sp++) {
			// A slot reused for a new root after a free starts a new life.
			if (pt[sp].root && pt[sp].state != SpState::freed)
				was_root_[sp] = true;
			out.push_back(abstract_root(mmu_, sp, was_root_[sp]));
		}
		return out;
	}

	const TdpMmu<H>& mmu_;
	std::vector<RootAbs> pre_;
	std::vector<bool> was_root_;
};

} // namespace arborist::impl
