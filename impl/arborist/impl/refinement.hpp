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
#include <unordered_map>
#include <unordered_set>
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

// The abstraction of one slot, given whether it is on tdp_mmu_roots and
// whether an RCU callback for it is queued.  A slot that was never a root
// is the spec's initial state.
constexpr RootAbs abstract_root(const MmuPage& p, bool was_root, bool on_list, bool queued)
{
	const auto& d = spec::concrete;
	RootAbs s = spec::root_initial(d);
	if (!was_root)
		return s;
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

template <ExternalHooks H>
constexpr RootAbs abstract_root(const TdpMmu<H>& mmu, u32 sp, bool was_root)
{
	const bool on_list = std::find(mmu.roots().begin(), mmu.roots().end(), sp) != mmu.roots().end();
	bool queued = false;
	for (const RcuCallback& cb : mmu.rcu_queue())
		queued = queued || cb.sp == sp;
	return abstract_root(mmu.tables()[sp], was_root, on_list, queued);
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

// The root refinement check, kept across operations.  An operation's cost
// is proportional to what it could have changed, not to the number of page
// tables: the slots checked are the roots alive before it (the only slots
// whose abstraction can change without becoming a root again), the roots
// on tdp_mmu_roots after it, and the roots it allocated (the get_page
// events of the MMU's log; with the log off, every slot is scanned).  A
// root whose abstraction is freed is dropped: it can only change by
// becoming a root again, a new object that starts from the spec's initial
// state.  Which slots have an RCU callback queued is kept incrementally
// too (the queue only grows until a grace period runs callbacks).
template <ExternalHooks H>
class RootRefinement {
public:
	explicit RootRefinement(const TdpMmu<H>& mmu) : mmu_(mmu)
	{
		index_rcu_queue();
		const auto& pt = mmu_.tables();
		const std::unordered_set<u32> on_list = list_set();
		for (u32 sp = 0; sp < pt.capacity(); sp++)
			if (pt[sp].root && pt[sp].state != SpState::freed)
				pre_[sp] = abstract(sp, on_list);
		events_seen_ = mmu_.log().events().size();
	}

	// After the operation: every root's change is a legal spec step sequence
	// and every spec invariant holds.  The state after it becomes the
	// baseline of the next check, whatever the result, so each violation
	// is reported once.
	RefinementResult check()
	{
		index_rcu_queue();
		const std::unordered_set<u32> on_list = list_set();
		std::vector<u32> slots;
		slots.reserve(pre_.size() + on_list.size());
		for (const auto& [sp, abs] : pre_)
			slots.push_back(sp);
		for (const u32 sp : mmu_.roots())
			slots.push_back(sp);
		new_roots(slots);
		std::sort(slots.begin(), slots.end());
		slots.erase(std::unique(slots.begin(), slots.end()), slots.end());

		RefinementResult result;
		std::unordered_map<u32, RootAbs> next;
		for (const u32 sp : slots) {
			const auto it = pre_.find(sp);
			RootAbs pre = it != pre_.end() ? it->second : spec::root_initial(spec::concrete);
			const RootAbs post = abstract(sp, on_list);
			// A freed slot that is a root again is a new root (a new object).
			if (pre.freed && !post.freed)
				pre = spec::root_initial(spec::concrete);
			if (result.ok && !root_invariants(post))
				result = {false, "root " + std::to_string(sp) + ": a spec root invariant fails after the operation"};
			else if (result.ok && !root_steps_reach(pre, post))
				result = {false, "root " + std::to_string(sp) + ": the change is not a sequence of spec steps"};
			if (!post.freed)
				next[sp] = post;
		}
		pre_ = std::move(next);
		return result;
	}

private:
	// Slots that became roots since the last check and are still allocated.
	void new_roots(std::vector<u32>& slots)
	{
		const auto& pt = mmu_.tables();
		const auto is_root = [&](u64 sp) {
			return sp < pt.capacity() && pt[static_cast<u32>(sp)].root &&
			       pt[static_cast<u32>(sp)].state != SpState::freed;
		};
		const EventLog& log = mmu_.log();
		if (!log.enabled) {
			for (u32 sp = 0; sp < pt.capacity(); sp++)
				if (is_root(sp))
					slots.push_back(sp);
			return;
		}
		for (; events_seen_ < log.events().size(); events_seen_++) {
			const Event& e = log.events()[events_seen_];
			if (e.kind == EventKind::get_page && is_root(e.sp))
				slots.push_back(static_cast<u32>(e.sp));
		}
	}

	std::unordered_set<u32> list_set() const
	{
		return std::unordered_set<u32>(mmu_.roots().begin(), mmu_.roots().end());
	}

	// Brings queued_ up to date with the RCU queue: new entries are added;
	// after a grace period ran callbacks (the queue emptied, maybe refilled)
	// the index is rebuilt from what is queued now.
	void index_rcu_queue()
	{
		const auto& q = mmu_.rcu_queue();
		const u64 ran = mmu_.log().count(EventKind::rcu_callback);
		if (ran != rcu_ran_ || q.size() < rcu_seen_) {
			queued_.clear();
			rcu_seen_ = 0;
			rcu_ran_ = ran;
		}
		for (; rcu_seen_ < q.size(); rcu_seen_++)
			queued_.insert(q[rcu_seen_].sp);
	}

	RootAbs abstract(u32 sp, const std::unordered_set<u32>& on_list) const
	{
		return abstract_root(mmu_.tables()[sp], true, on_list.contains(sp), queued_.contains(sp));
	}

	const TdpMmu<H>& mmu_;
	std::unordered_map<u32, RootAbs> pre_; // roots alive at the last check
	std::size_t events_seen_ = 0;
	std::unordered_set<u32> queued_;
	std::size_t rcu_seen_ = 0;
	u64 rcu_ran_ = 0;
};

} // namespace arborist::impl
