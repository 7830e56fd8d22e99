// SPDX-License-Identifier: GPL-2.0-only
//
// The root-lifecycle configurations of the model checker (seed 003 and the
// v6.19 baseline): one TDP MMU root, tasks that get and put it, a zapper,
// and RCU.  The tasks run impl/'s GetRootOp and PutRootOp machines, the
// very code TdpMmu::get_root()/put_root() run whole, over a compact world
// that implements the RootHost concept.
//
// Threads (Linux v6.19 arch/x86/kvm/mmu/tdp_mmu.c, mmu.c):
//  - vcpu:   kvm_mmu_free_roots() -> kvm_tdp_mmu_put_root() of the vCPU's
//            reference, under read_lock(mmu_lock) ("is_tdp_mmu ... read_lock");
//  - iter:   for_each_tdp_mmu_root_yield_safe(): tdp_mmu_next_root() under
//            read_lock(mmu_lock): rcu_read_lock(), find the root on
//            tdp_mmu_roots, kvm_tdp_mmu_get_root(), rcu_read_unlock(); the
//            loop body zaps between yield points; then the put of the root;
//  - zapper: kvm_mmu_zap_all_fast(): kvm_tdp_mmu_invalidate_roots() under
//            write_lock, then kvm_tdp_mmu_zap_invalidated_roots() under
//            read_lock: clear tdp_mmu_scheduled_root_to_zap, the (yielding)
//            tdp_mmu_zap_root(), and the put of the gifted reference.  Only
//            in the v6.19 configuration: the seed-003 proposals predate the
//            TDP MMU's own reference and invalidate inside the put;
//  - rcu:    the grace period and tdp_mmu_free_sp_rcu_callback(): runs once
//            every task that was inside an RCU read-side section when
//            call_rcu() ran has left it.
//
// Properties, every state: the spec's root invariants
// (spec/arborist/root.hpp) over the abstraction of the world, and the ghost
// checks seed 003 is about: no task drops a reference it does not hold
// (Sean Christopherson: "_this_ task can't drop a reference taken by the
// other task"), no access to a freed root, no KVM_BUG_ON.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "arborist/impl/root_ops.hpp"
#include "arborist/mc/checker.hpp"
#include "arborist/root.hpp"

namespace arborist::mc {

using impl::GetRootOp;
using impl::OpStatus;
using impl::PutRootOp;
using impl::PutRootVariant;
using impl::u32;

// The properties a root configuration checks, by bit.  The last four are
// v6.19's design invariants (the TDP MMU's own reference and the
// gifted-reference protocol), which the seed-003 proposals do not have.
enum class RootProperty : std::uint8_t {
	kvm_no_bug,
	use_after_free,
	task_drops_foreign_reference,
	freed_implies_invalid_and_zero,
	valid_or_referenced,
	scheduled_holds_gift,
	refcount_accounts_holders,
	list_matches_refcount,
};
inline constexpr PropertyInfo root_properties[] = {
	{"kvm.no_bug", "no KVM_BUG_ON fires"},
	{"root.use_after_free", "no task touches the root after the RCU callback freed it"},
	{"root.task_drops_foreign_reference", "no task drops a reference another task took (ghost ownership)"},
	{"root.freed_implies_invalid_and_zero", "a freed root is invalid with refcount 0"},
	{"root.valid_or_referenced", "v6.19: a valid root has a reference"},
	{"root.scheduled_holds_gift", "v6.19: a root scheduled for zap holds the gifted reference"},
	{"root.refcount_accounts_holders", "v6.19: the count is the references held"},
	{"root.list_matches_refcount", "v6.19: list membership and the RCU free follow the count"},
};
inline constexpr unsigned ROOT_V6_19_ONLY_FROM = static_cast<unsigned>(RootProperty::valid_or_referenced);

struct RootConfig {
	PutRootVariant variant = PutRootVariant::v6_19;
	unsigned iterators = 2; // identical tdp_mmu_next_root tasks (a symmetry class)
	bool zapper = true;     // kvm_mmu_zap_all_fast (v6.19 only)
	std::uint32_t properties = ~0u; // bit RootProperty: checked (the v6.19 ones only on v6.19)
};

// The shared memory: the root's fields and mmu_lock.
struct RootWorld {
	u32 refcount = 0;
	bool invalid = false;
	bool scheduled = false; // tdp_mmu_scheduled_root_to_zap
	bool on_list = true;
	bool rcu_queued = false;
	bool freed = false;
	std::uint8_t readers = 0; // mmu_lock readers
	bool writer = false;
	std::uint8_t bugs = 0;
};

enum class RootThreadKind : std::uint8_t { vcpu, iter, zapper, rcu };

// One task: its pc, the machine it is inside, RCU reader state and the
// ghost count of references it holds.  Everything indexed by a task lives
// here, not in RootWorld, so identical tasks are interchangeable.
struct RootThread {
	RootThreadKind kind{};
	std::uint8_t pc = 0;
	bool found = false;   // tdp_mmu_next_root saw the root on the list
	bool got = false;     // kvm_tdp_mmu_get_root() succeeded
	bool in_rcu = false;  // inside rcu_read_lock()
	bool gp_wait = false; // a pending callback waits for this reader
	std::int8_t held = 0; // ghost: references this task holds
	PutRootOp put{0};
};

struct RootMcState {
	RootWorld w;
	std::array<RootThread, 8> th{};
};

class RootSystem {
public:
	using State = RootMcState;

	explicit RootSystem(RootConfig c) : cfg_(c)
	{
		n_ = 0;
		kinds_[n_++] = RootThreadKind::vcpu;
		if (cfg_.zapper)
			kinds_[n_++] = RootThreadKind::zapper;
		for (unsigned i = 0; i < cfg_.iterators && n_ < kinds_.size() - 1; i++)
			kinds_[n_++] = RootThreadKind::iter;
		kinds_[n_++] = RootThreadKind::rcu;
	}

	const RootConfig& config() const { return cfg_; }

	// v6.19: "one reference for the vCPU, and one reference for the TDP MMU
	// itself" (kvm_tdp_mmu_alloc_root); the zapper will put the MMU's.  The
	// seed-003 proposals: the vCPU's reference is the only one.
	State initial() const
	{
		State s;
		for (unsigned t = 0; t < n_; t++) {
			s.th[t].kind = kinds_[t];
			s.th[t].put = PutRootOp{0, cfg_.variant, true};
		}
		s.th[0].held = 1;
		s.w.refcount = 1;
		if (cfg_.zapper) {
			s.th[1].held = 1;
			s.w.refcount = 2;
		}
		return s;
	}

	unsigned thread_count() const { return n_; }
	std::string thread_name(unsigned t) const
	{
		switch (kinds_[t]) {
		case RootThreadKind::vcpu: return "vcpu";
		case RootThreadKind::zapper: return "zapper";
		case RootThreadKind::rcu: return "rcu";
		case RootThreadKind::iter: break;
		}
		return "iter" + std::to_string(t - (cfg_.zapper ? 2 : 1));
	}
	unsigned symmetry_class(unsigned t) const { return kinds_[t] == RootThreadKind::iter ? 1 : 0; }

	// pcs of the tasks, in the order they run.
	enum : std::uint8_t {
		// vcpu
		V_LOCK = 0, V_PUT, V_UNLOCK, V_DONE,
		// iter
		I_LOCK = 0, I_RCU_LOCK, I_LOOKUP, I_GET, I_RCU_UNLOCK, I_USE, I_PUT, I_UNLOCK, I_DONE,
		// zapper
		Z_WLOCK = 0, Z_INVALIDATE, Z_WUNLOCK, Z_RLOCK, Z_SCHEDULED, Z_ZAP, Z_YIELD, Z_PUT, Z_RUNLOCK, Z_DONE,
	};

	bool done(const State& s, unsigned t) const
	{
		const RootThread& th = s.th[t];
		switch (th.kind) {
		case RootThreadKind::vcpu: return th.pc == V_DONE;
		case RootThreadKind::iter: return th.pc == I_DONE;
		case RootThreadKind::zapper: return th.pc == Z_DONE;
		case RootThreadKind::rcu: return !s.w.rcu_queued;
		}
		return true;
	}

	bool enabled(const State& s, unsigned t) const
	{
		const RootThread& th = s.th[t];
		if (done(s, t))
			return false;
		switch (th.kind) {
		case RootThreadKind::vcpu: return th.pc != V_LOCK || !s.w.writer;
		case RootThreadKind::iter: return th.pc != I_LOCK || !s.w.writer;
		case RootThreadKind::zapper:
			if (th.pc == Z_WLOCK)
				return !s.w.writer && s.w.readers == 0;
			return th.pc != Z_RLOCK || !s.w.writer;
		case RootThreadKind::rcu: return grace_period_elapsed(s);
		}
		return false;
	}

	bool is_local(const State& s, unsigned t) const
	{
		const RootThread& th = s.th[t];
		if (th.kind == RootThreadKind::zapper)
			return th.pc == Z_YIELD;
		return in_put(th) && th.put.next_step_is_local();
	}

	std::optional<Violation> step(State& s, unsigned t, std::string* describe) const
	{
		RootThread& th = s.th[t];
		Host h{s, t, describe, checks(RootProperty::use_after_free)};
		const u32 before = s.w.refcount;
		switch (th.kind) {
		case RootThreadKind::vcpu: step_vcpu(h, th); break;
		case RootThreadKind::iter: step_iter(h, th); break;
		case RootThreadKind::zapper: step_zapper(h, th); break;
		case RootThreadKind::rcu:
			s.w.freed = true;
			s.w.rcu_queued = false;
			h.say("tdp_mmu_free_sp_rcu_callback: root freed");
			break;
		}
		if (h.violation)
			return h.violation;
		// Ghost ownership: a change of the count is a change of this task's
		// references; it may not drop more than it holds.
		th.held = static_cast<std::int8_t>(th.held + static_cast<int>(s.w.refcount) - static_cast<int>(before));
		if (th.held < 0 && checks(RootProperty::task_drops_foreign_reference))
			return Violation{"root.task_drops_foreign_reference",
					 thread_name(t) + " dropped a reference taken by another task (count " +
						 std::to_string(before) + " -> " + std::to_string(s.w.refcount) + ")"};
		return std::nullopt;
	}

	// The spec's state of the root: its fields, plus the ghost split of the
	// count into the TDP MMU's reference (held by the zapper it is gifted
	// to) and the tasks'.
	spec::RootState<spec::Concrete> abstraction(const State& s) const
	{
		spec::RootState<spec::Concrete> a{};
		a.allocated = true;
		a.refcount = s.w.refcount;
		a.invalid = s.w.invalid;
		a.scheduled_to_zap = s.w.scheduled;
		a.on_list = s.w.on_list;
		a.rcu_queued = s.w.rcu_queued;
		a.freed = s.w.freed;
		for (unsigned t = 0; t < n_; t++) {
			// A put past its final decrement is completed: the spec's put
			// removes the root from the list and queues the free at once.
			if (in_put(s.th[t]) && s.th[t].put.freeing()) {
				a.on_list = false;
				a.rcu_queued = true;
			}
			if (s.th[t].kind == RootThreadKind::zapper)
				a.mmu_ref = s.th[t].held > 0;
			else
				a.task_refs += static_cast<spec::u64>(s.th[t].held);
		}
		return a;
	}

	std::optional<Violation> check(const State& s) const
	{
		const auto& d = spec::concrete;
		const auto a = abstraction(s);
		if (s.w.bugs && checks(RootProperty::kvm_no_bug))
			return Violation{"kvm.no_bug", "a KVM_BUG_ON fired"};
		if (!spec::root_freed_implies_invalid_and_zero(d, a) && checks(RootProperty::freed_implies_invalid_and_zero))
			return Violation{"root.freed_implies_invalid_and_zero", "freed with refcount " +
											   std::to_string(a.refcount) +
											   (a.invalid ? "" : ", valid")};
		if (cfg_.variant != PutRootVariant::v6_19)
			return std::nullopt;
		// v6.19's design invariants: the TDP MMU's own reference and the
		// gifted-reference protocol (the seed proposals have neither).
		if (!spec::root_valid_or_referenced(d, a) && checks(RootProperty::valid_or_referenced))
			return Violation{"root.valid_or_referenced", "a valid root with refcount 0"};
		if (!spec::root_scheduled_holds_gift(d, a) && checks(RootProperty::scheduled_holds_gift))
			return Violation{"root.scheduled_holds_gift", "scheduled for zap without the gifted reference"};
		if (!spec::root_refcount_accounts_holders(d, a) && checks(RootProperty::refcount_accounts_holders))
			return Violation{"root.refcount_accounts_holders", "the count is not the references held"};
		if (!spec::root_list_matches_refcount(d, a) && checks(RootProperty::list_matches_refcount))
			return Violation{"root.list_matches_refcount", "list membership or RCU free out of step with the count"};
		return std::nullopt;
	}

	void encode_shared(const State& s, std::string& out) const
	{
		const RootWorld& w = s.w;
		out.push_back(static_cast<char>(w.refcount));
		out.push_back(static_cast<char>(w.invalid | w.scheduled << 1 | w.on_list << 2 | w.rcu_queued << 3 |
						w.freed << 4 | w.writer << 5));
		out.push_back(static_cast<char>(w.readers));
		out.push_back(static_cast<char>(w.bugs));
	}
	void encode_thread(const State& s, unsigned t, std::string& out) const
	{
		const RootThread& th = s.th[t];
		out.push_back(static_cast<char>(th.pc));
		out.push_back(static_cast<char>(th.put.pc));
		out.push_back(static_cast<char>(th.found | th.got << 1 | th.in_rcu << 2 | th.gp_wait << 3));
		out.push_back(static_cast<char>(th.held));
	}

	std::string describe_state(const State& s) const
	{
		const RootWorld& w = s.w;
		std::string r = "root: refcount " + std::to_string(w.refcount) + (w.invalid ? ", invalid" : ", valid") +
				(w.scheduled ? ", scheduled" : "") + (w.on_list ? ", on tdp_mmu_roots" : ", off the list") +
				(w.rcu_queued ? ", rcu free queued" : "") + (w.freed ? ", FREED" : "") + "\n";
		r += "mmu_lock: " + std::to_string(w.readers) + " readers" + (w.writer ? ", writer" : "") + "\n";
		for (unsigned t = 0; t < n_; t++)
			r += "  " + thread_name(t) + ": pc " + std::to_string(s.th[t].pc) + ", holds " +
			     std::to_string(s.th[t].held) + (s.th[t].in_rcu ? ", in RCU read side" : "") + "\n";
		return r;
	}
	std::string dot(const State& s) const
	{
		std::string g = "digraph root {\n  node [shape=box, fontname=monospace];\n";
		g += "  root [label=\"root\\nrefcount " + std::to_string(s.w.refcount) +
		     (s.w.invalid ? "\\ninvalid" : "\\nvalid") + (s.w.freed ? "\\nFREED" : "") + "\"" +
		     (s.w.freed ? ", color=red" : "") + "];\n";
		for (unsigned t = 0; t < n_; t++)
			if (s.th[t].held > 0)
				g += "  \"" + thread_name(t) + "\" -> root [label=\"holds " + std::to_string(s.th[t].held) +
				     "\"];\n";
		return g + "}\n";
	}

private:
	bool checks(RootProperty p) const { return cfg_.properties >> static_cast<unsigned>(p) & 1; }

	// The RootHost of one step of one task.
	struct Host {
		State& s;
		unsigned t;
		std::string* text;
		bool checks_use_after_free = true;
		std::optional<Violation> violation{};

		// Callers build a description only when one is asked for (the
		// search runs without; counterexample replay with).
		void say(const char* what)
		{
			if (text)
				*text += (text->empty() ? "" : "; ") + std::string(what);
		}
		void say(const std::string& what)
		{
			if (text)
				*text += (text->empty() ? "" : "; ") + what;
		}
		void use(const char* what)
		{
			if (s.w.freed && !violation && checks_use_after_free)
				violation = Violation{"root.use_after_free", std::string(what) + " on a freed root"};
		}
		u32& root_refcount(u32)
		{
			use("refcount access");
			return s.w.refcount;
		}
		bool& root_invalid(u32)
		{
			use("role.invalid access");
			return s.w.invalid;
		}
		void root_list_del(u32)
		{
			s.w.on_list = false;
			say("list_del_rcu");
		}
		void root_call_rcu_free(u32)
		{
			s.w.rcu_queued = true;
			// The grace period waits for every reader inside a section now.
			for (RootThread& th : s.th)
				th.gp_wait = th.in_rcu;
			say("call_rcu(tdp_mmu_free_sp_rcu_callback)");
		}
		void root_zap(u32, bool)
		{
			use("tdp_mmu_zap_root");
			say("tdp_mmu_zap_root (yields)");
		}
		bool kvm_bug_on(bool cond, const char* what)
		{
			if (cond) {
				s.w.bugs++;
				if (text)
					say(std::string("KVM_BUG_ON: ") + what);
			}
			return cond;
		}
	};
	static_assert(impl::RootHost<Host>);

	static bool in_put(const RootThread& th)
	{
		return (th.kind == RootThreadKind::vcpu && th.pc == V_PUT) ||
		       (th.kind == RootThreadKind::iter && th.pc == I_PUT) ||
		       (th.kind == RootThreadKind::zapper && th.pc == Z_PUT);
	}

	static bool grace_period_elapsed(const State& s)
	{
		if (!s.w.rcu_queued)
			return false;
		for (const RootThread& th : s.th)
			if (th.gp_wait)
				return false;
		return true;
	}

	static void run_put(Host& h, RootThread& th, std::uint8_t next_pc)
	{
		const u32 before = h.s.w.refcount;
		const char* op = th.put.next_step_name();
		const bool done = th.put.step(h) == OpStatus::done;
		if (done)
			th.pc = next_pc;
		if (h.text)
			h.say("kvm_tdp_mmu_put_root: " + std::string(op) + " (refcount " + std::to_string(before) +
			      " -> " + std::to_string(h.s.w.refcount) + ")" + (done ? ", returns" : ""));
	}
	static void read_lock(Host& h)
	{
		h.s.w.readers++;
		h.say("read_lock(mmu_lock)");
	}
	static void read_unlock(Host& h)
	{
		h.s.w.readers--;
		h.say("read_unlock(mmu_lock)");
	}

	void step_vcpu(Host& h, RootThread& th) const
	{
		switch (th.pc) {
		case V_LOCK: read_lock(h); th.pc = V_PUT; break;
		case V_PUT: run_put(h, th, V_UNLOCK); break;
		default: read_unlock(h); th.pc = V_DONE; break;
		}
	}

	void step_iter(Host& h, RootThread& th) const
	{
		switch (th.pc) {
		case I_LOCK: read_lock(h); th.pc = I_RCU_LOCK; break;
		case I_RCU_LOCK:
			th.in_rcu = true;
			h.say("rcu_read_lock");
			th.pc = I_LOOKUP;
			break;
		case I_LOOKUP:
			th.found = h.s.w.on_list; // list_first_or_null_rcu(&kvm->arch.tdp_mmu_roots)
			h.say(th.found ? "tdp_mmu_next_root: root on tdp_mmu_roots" : "tdp_mmu_next_root: list empty");
			th.pc = th.found ? I_GET : I_RCU_UNLOCK;
			break;
		case I_GET: {
			GetRootOp g{0};
			g.step(h);
			th.got = g.ok;
			h.say(g.ok ? "kvm_tdp_mmu_get_root: got it" : "kvm_tdp_mmu_get_root: refcount 0, skipped");
			th.pc = I_RCU_UNLOCK;
			break;
		}
		case I_RCU_UNLOCK:
			th.in_rcu = false;
			th.gp_wait = false;
			h.say("rcu_read_unlock");
			th.pc = th.got ? I_USE : I_UNLOCK;
			break;
		case I_USE:
			h.root_zap(0, true); // the loop body, between yield points
			th.pc = I_PUT;
			break;
		case I_PUT: run_put(h, th, I_UNLOCK); break;
		default: read_unlock(h); th.pc = I_DONE; break;
		}
	}

	void step_zapper(Host& h, RootThread& th) const
	{
		switch (th.pc) {
		case Z_WLOCK:
			h.s.w.writer = true;
			h.say("write_lock(mmu_lock)");
			th.pc = Z_INVALIDATE;
			break;
		case Z_INVALIDATE:
			// kvm_tdp_mmu_invalidate_roots(): role.invalid is protected by
			// mmu_lock held for write.
			if (h.s.w.on_list && !h.s.w.invalid) {
				h.s.w.invalid = true;
				h.s.w.scheduled = true;
			}
			h.say("kvm_tdp_mmu_invalidate_roots: invalid, scheduled to zap");
			th.pc = Z_WUNLOCK;
			break;
		case Z_WUNLOCK:
			h.s.w.writer = false;
			h.say("write_unlock(mmu_lock)");
			th.pc = Z_RLOCK;
			break;
		case Z_RLOCK: read_lock(h); th.pc = Z_SCHEDULED; break;
		case Z_SCHEDULED: {
			const bool scheduled = h.s.w.on_list && h.s.w.scheduled;
			h.s.w.scheduled = false;
			h.kvm_bug_on(scheduled && !h.s.w.invalid, "kvm_tdp_mmu_zap_invalidated_roots: valid root");
			h.say(scheduled ? "kvm_tdp_mmu_zap_invalidated_roots: scheduled root" : "no scheduled root");
			th.pc = scheduled ? Z_ZAP : Z_RUNLOCK;
			break;
		}
		case Z_ZAP: h.root_zap(0, true); th.pc = Z_YIELD; break;
		case Z_YIELD: h.say("zap done"); th.pc = Z_PUT; break;
		case Z_PUT: run_put(h, th, Z_RUNLOCK); break;
		default: read_unlock(h); th.pc = Z_DONE; break;
		}
	}

	RootConfig cfg_;
	std::array<RootThreadKind, 8> kinds_{};
	unsigned n_ = 0;
};

static_assert(System<RootSystem>);

} // namespace arborist::mc
