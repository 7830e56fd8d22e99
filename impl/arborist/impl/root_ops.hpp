// SPDX-License-Identifier: GPL-2.0-only
//
// Root get and put as state machines at the kernel's atomicity points: a
// refcount operation, an xchg of role.invalid, the list_del_rcu under
// tdp_mmu_pages_lock, call_rcu, and the zap, which may yield (other tasks
// run between its start and its end).  One step() is one atomic action, so
// the model checker can interleave tasks over this code; TdpMmu's
// whole-call get_root()/put_root() run the same machines to completion.
//
// Put variants:
//  - v6_19: kvm_tdp_mmu_put_root() (Linux v6.19 tdp_mmu.c): the final
//    reference is never that of a valid root (KVM_BUG_ON); roots are
//    invalidated and zapped elsewhere (kvm_tdp_mmu_invalidate_roots(),
//    kvm_tdp_mmu_zap_invalidated_roots()).
//  - refcount_dec_not_one: the first proposal quoted in seed 003,
//    which invalidates and zaps inside the put and re-checks with
//    refcount_dec_not_one() after the (yielding) zap, then forces the count
//    to 0.  Sean Christopherson's objection: "_this_ task can't drop a
//    reference taken by the other task".
//  - dec_and_test: Paolo Bonzini's version from the same thread:
//    refcount_dec_and_test(), then xchg(invalid), refcount_set(1), zap,
//    refcount_dec_and_test() again.
#pragma once

#include <cstdint>

#include "arborist/impl/mmu_page.hpp"

namespace arborist::impl {

// Named by the refcount primitive that decides who frees the root; both
// seed 003 proposals invalidate and zap inside the put.
enum class PutRootVariant : std::uint8_t { v6_19, refcount_dec_not_one, dec_and_test };

// What a root operation may touch, one atomic action per call.
template <class M>
concept RootHost = requires(M& m, u32 root, const char* what, bool shared) {
	{ m.root_refcount(root) } -> std::same_as<u32&>;
	{ m.root_invalid(root) } -> std::same_as<bool&>;
	m.root_list_del(root);         // list_del_rcu() under tdp_mmu_pages_lock
	m.root_call_rcu_free(root);    // call_rcu(tdp_mmu_free_sp_rcu_callback)
	m.root_zap(root, shared);      // tdp_mmu_zap_root(), between its yield points
	{ m.kvm_bug_on(true, what) } -> std::same_as<bool>;
};

// What a step of an operation's machine did: more steps follow, the
// operation returned, or it yielded (cond_resched: mmu_lock and RCU were
// dropped and are re-taken before the next step).
enum class OpStatus : std::uint8_t { running, done, yielded };

// kvm_tdp_mmu_get_root(): refcount_inc_not_zero() -- one atomic step.
struct GetRootOp {
	u32 root;
	bool ok = false;

	template <RootHost M>
	constexpr OpStatus step(M& m)
	{
		u32& count = m.root_refcount(root);
		ok = count != 0;
		if (ok)
			count++;
		return OpStatus::done;
	}
};

struct PutRootOp {
	u32 root;
	PutRootVariant variant = PutRootVariant::v6_19;
	bool shared = false; // the mmu_lock mode of the zap inside the seed-003 puts
	std::uint8_t pc = 0;

	constexpr bool operator==(const PutRootOp&) const = default;

	// The next step touches nothing shared: the return from the zap (the
	// yield point itself is the ZAP step).  The model checker's partial-order
	// reduction explores such a step alone.
	constexpr bool next_step_is_local() const { return pc == ZAP_DONE; }

	// The put has committed to freeing the root (its count reached zero):
	// list_del_rcu() and call_rcu() are all that is left.  An abstraction
	// function completes such a put (the spec's put is one step).
	constexpr bool freeing() const { return pc == LIST_DEL || pc == CALL_RCU; }

	// The kernel operation the next step performs, for counterexamples.
	constexpr const char* next_step_name() const
	{
		switch (pc) {
		case START:
		case RECHECK:
			return variant == PutRootVariant::refcount_dec_not_one ? "refcount_dec_not_one"
										       : "refcount_dec_and_test";
		case LIST_DEL: return "list_del_rcu";
		case CALL_RCU: return "call_rcu(tdp_mmu_free_sp_rcu_callback)";
		case XCHG_INVALID: return "xchg(&root->role.invalid, true)";
		case SET_ONE: return "refcount_set(1)";
		case ZAP: return "tdp_mmu_zap_root";
		case ZAP_DONE: return "return from the yielding zap";
		case FORCE_ZERO: return "refcount_set(0)";
		}
		return "?";
	}

	template <RootHost M>
	constexpr OpStatus step(M& m)
	{
		switch (variant) {
		case PutRootVariant::v6_19: return step_v6_19(m);
		case PutRootVariant::refcount_dec_not_one: return step_dec_not_one(m);
		case PutRootVariant::dec_and_test: return step_dec_and_test(m);
		}
		return OpStatus::done;
	}

private:
	enum : std::uint8_t { START, LIST_DEL, CALL_RCU, XCHG_INVALID, SET_ONE, ZAP, ZAP_DONE, RECHECK, FORCE_ZERO };

	// refcount_dec_and_test(): true when the count reached zero.
	template <RootHost M>
	static constexpr bool dec_and_test(M& m, u32 root)
	{
		u32& count = m.root_refcount(root);
		if (m.kvm_bug_on(count == 0, "refcount_t: decrement hit 0 (underflow)"))
			return false;
		return --count == 0;
	}
	// refcount_dec_not_one(): decrement unless the count is one; true if it
	// decremented.
	template <RootHost M>
	static constexpr bool dec_not_one(M& m, u32 root)
	{
		u32& count = m.root_refcount(root);
		if (count == 1)
			return false;
		if (m.kvm_bug_on(count == 0, "refcount_t: decrement hit 0 (underflow)"))
			return false;
		count--;
		return true;
	}
	template <RootHost M>
	constexpr OpStatus free_steps(M& m)
	{
		if (pc == LIST_DEL) {
			m.root_list_del(root);
			pc = CALL_RCU;
			return OpStatus::running;
		}
		m.root_call_rcu_free(root);
		return OpStatus::done;
	}

	template <RootHost M>
	constexpr OpStatus step_v6_19(M& m)
	{
		if (pc == START) {
			if (!dec_and_test(m, root))
				return OpStatus::done;
			// "the final reference should be never be put for a valid root"
			m.kvm_bug_on(!m.root_invalid(root), "kvm_tdp_mmu_put_root: final reference of a valid root");
			pc = LIST_DEL;
			return OpStatus::running;
		}
		return free_steps(m);
	}

	template <RootHost M>
	constexpr OpStatus step_dec_not_one(M& m)
	{
		switch (pc) {
		case START:
			if (dec_not_one(m, root))
				return OpStatus::done;
			pc = XCHG_INVALID;
			return OpStatus::running;
		case XCHG_INVALID: {
			bool& invalid = m.root_invalid(root);
			const bool was = invalid;
			invalid = true;
			pc = was ? FORCE_ZERO : ZAP;
			return OpStatus::running;
		}
		case ZAP:
			m.root_zap(root, shared); // may yield: other tasks run before ZAP_DONE
			pc = ZAP_DONE;
			return OpStatus::running;
		case ZAP_DONE:
			pc = RECHECK;
			return OpStatus::running;
		case RECHECK:
			// "Do not assume the refcount is still 1: because tdp_mmu_zap_root
			// can yield, a different task might have grabbed a reference."
			if (dec_not_one(m, root))
				return OpStatus::done;
			pc = FORCE_ZERO;
			return OpStatus::running;
		case FORCE_ZERO:
			m.root_refcount(root) = 0; // refcount_set(..., 0)
			pc = LIST_DEL;
			return OpStatus::running;
		default:
			return free_steps(m);
		}
	}

	template <RootHost M>
	constexpr OpStatus step_dec_and_test(M& m)
	{
		switch (pc) {
		case START:
			if (!dec_and_test(m, root))
				return OpStatus::done;
			pc = XCHG_INVALID;
			return OpStatus::running;
		case XCHG_INVALID: {
			bool& invalid = m.root_invalid(root);
			const bool was = invalid;
			invalid = true;
			pc = was ? LIST_DEL : SET_ONE;
			return OpStatus::running;
		}
		case SET_ONE:
			m.root_refcount(root) = 1; // refcount_set(&root->tdp_mmu_root_count, 1)
			pc = ZAP;
			return OpStatus::running;
		case ZAP:
			m.root_zap(root, shared);
			pc = ZAP_DONE;
			return OpStatus::running;
		case ZAP_DONE:
			pc = RECHECK;
			return OpStatus::running;
		case RECHECK:
			if (!dec_and_test(m, root))
				return OpStatus::done;
			pc = LIST_DEL;
			return OpStatus::running;
		default:
			return free_steps(m);
		}
	}
};

// Run a machine to completion: the whole-call form.
template <class Op, RootHost M>
constexpr Op run_whole(Op op, M& m)
{
	while (op.step(m) != OpStatus::done) {
	}
	return op;
}

} // namespace arborist::impl
