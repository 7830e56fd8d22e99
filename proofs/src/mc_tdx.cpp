// SPDX-License-Identifier: GPL-2.0-only
//
// The TDX configurations of the model checker (proofs/arborist/mc/tdx_system.hpp).
#include <algorithm>
#include <cstring>
#include <memory>

#include <boost/hana/for_each.hpp>
#include <boost/hana/members.hpp>

#include "arborist/abi/tdx.hpp"
#include "arborist/mc/tdx_system.hpp"

namespace arborist::mc {

namespace {

TdVm& mutable_vm(TdxMcState& s)
{
	// Copy on write: a state's VM may be shared with its parent and siblings.
	if (s.vm.use_count() > 1)
		s.vm = std::make_shared<TdVm>(*s.vm);
	return *s.vm;
}

const char* task_name(TdxTask k)
{
	switch (k) {
	case TdxTask::fault: return "fault";
	case TdxTask::unmap: return "unmap";
	case TdxTask::split: return "split";
	case TdxTask::rcu: return "rcu";
	case TdxTask::vcpu_run: return "vcpu";
	case TdxTask::gmem_close: return "gmem";
	case TdxTask::vm_destroy: return "destroy";
	case TdxTask::prune: return "prune";
	case TdxTask::terminate: return "terminate";
	}
	return "?";
}

// The KVM_BUG_ONs fired so far, in order (logged only while a
// counterexample is replayed).
std::vector<std::string> kvm_bugs(const TdVm& vm)
{
	std::vector<std::string> r;
	for (const impl::EventLog* log : {&vm.mmu().log(), &vm.tdx_log()})
		for (const auto& ev : log->events())
			if (ev.kind == impl::EventKind::kvm_bug && ev.what)
				r.emplace_back(ev.what);
	return r;
}

// The last SEAMCALLs the module ran, for counterexample steps.
std::string seamcalls_since(const hw::SimModule& m, std::size_t from)
{
	std::string r;
	for (std::size_t i = from; i < m.trace.size(); i++) {
		const auto& c = m.trace[i];
		r += (r.empty() ? "" : ", ") + tdx_abi::leaf_name(c.leaf) + " -> " + tdx_abi::status_text(c.status);
	}
	return r;
}

using Mmu = impl::TdpMmu<impl::SimTdx>;

// The SPTE an iterator points at, as memory holds it now (0 before the walk).
u64 spte_at(const Mmu& mmu, const impl::TdpIter& it)
{
	if (!it.valid || it.sptep.sp >= mmu.tables().capacity() ||
	    mmu.tables()[it.sptep.sp].state == impl::SpState::freed)
		return 0;
	return mmu.tables().spte(it.sptep);
}

// " level L gfn 0xG: SPTE 0xA -> 0xB" for the slot the step was at.
std::string walk_values(const Mmu& mmu, const impl::TdpIter& it, u64 was)
{
	if (!it.valid)
		return "";
	const u64 now = spte_at(mmu, it);
	char buf[128];
	std::snprintf(buf, sizeof buf, " at level %u gfn 0x%llx: SPTE 0x%llx", it.level,
		      static_cast<unsigned long long>(it.gfn), static_cast<unsigned long long>(was));
	std::string r = buf;
	if (now != was) {
		std::snprintf(buf, sizeof buf, " -> 0x%llx", static_cast<unsigned long long>(now));
		r += buf;
	}
	return r;
}

// What one step of kvm_tdp_mmu_map() did -- not where it began: a read of
// the walk, or the action of __tdp_mmu_set_spte_atomic() that ran (a LOOP
// step that decides to set an SPTE also makes the set's first action).
// With seed 000's hook design the TDX hook makes the mirror SPTE's actions.
std::string map_step(const Mmu::MapOp& before, const Mmu::MapOp& after, impl::Variants::MirrorWrite mw, bool mirror)
{
	using A = Mmu::AtomicSet;
	using MW = impl::Variants::MirrorWrite;
	const bool set_begun = before.pc == Mmu::MapOp::LOOP &&
			       (after.pc == Mmu::MapOp::LINK_SET || after.pc == Mmu::MapOp::TARGET_SET ||
				(after.pc == Mmu::MapOp::DONE && after.set != before.set));
	if (before.pc == Mmu::MapOp::START)
		return "tdp_iter_start";
	if (before.pc == Mmu::MapOp::ADVANCE)
		return "tdp_iter_next into the new table";
	if (!set_begun && before.pc == Mmu::MapOp::LOOP)
		return "read";
	const bool target = before.pc == Mmu::MapOp::TARGET_SET ||
			    (before.pc == Mmu::MapOp::LOOP && before.it.level == before.f.goal_level);
	const std::string what = target ? "tdp_mmu_map_handle_target_level" : "tdp_mmu_link_sp";
	const std::string hook = mw == MW::hook_freezes && mirror ? "TDX hook: " : "";
	const std::uint8_t at = set_begun ? std::uint8_t{A::BEGIN} : before.set.pc;
	const bool external = static_cast<spec::MirrorHook>(after.set.hook) == spec::MirrorHook::set ||
			      static_cast<spec::MirrorHook>(after.set.hook) == spec::MirrorHook::link;
	switch (at) {
	case A::BEGIN:
		if (!mirror || !external)
			return what + ": try_cmpxchg64";
		if (mw == MW::seamcall_then_cmpxchg)
			return what + ": S-EPT SEAMCALL before the cmpxchg";
		return what + ": " + hook + "try_cmpxchg64 to FROZEN_SPTE";
	case A::EXTERNAL: return what + ": " + hook + "S-EPT SEAMCALL";
	case A::PUBLISH:
		return what + ": " + hook + (before.set.ret ? "WRITE_ONCE of the old SPTE (the SEAMCALL failed)"
							   : "WRITE_ONCE of the new SPTE");
	default: return what + ": try_cmpxchg64 after the SEAMCALL";
	}
}

const char* zap_action(std::uint8_t pc)
{
	switch (pc) {
	case Mmu::ZapLeafsOp::START: return "tdp_iter_start";
	case Mmu::ZapLeafsOp::ADVANCE: return "tdp_iter_next";
	case Mmu::ZapLeafsOp::REMOVING: return "remove_external_spte, next SEAMCALL";
	default: return "walk";
	}
}

std::string unmap_action(const Mmu::UnmapOp& op)
{
	if (op.pc == Mmu::UnmapOp::ZAP)
		return std::string("tdp_mmu_zap_leafs: ") + zap_action(op.zap.pc);
	if (op.next.pc == Mmu::NextRootOp::GET)
		return "tdp_mmu_next_root: kvm_tdp_mmu_get_root of the next root";
	return std::string("tdp_mmu_next_root: kvm_tdp_mmu_put_root of the previous root, ") + op.next.put.next_step_name();
}

// Where a stepped tdp_iter stands: the entry, its GFN and level, the flags
// and the value it read (the part of the key every walking task shares).
void put_iter_key(std::string& out, const impl::TdpIter& it)
{
	put_key(out, it.sptep.sp);
	put_key(out, it.sptep.index);
	put_key(out, it.gfn);
	put_key(out, it.level | it.valid << 4 | it.yielded << 5);
	put_key(out, it.old_spte);
}

} // namespace

TdxSystem::TdxSystem(TdxMcConfig c) : cfg_(std::move(c)), tasks_(cfg_.tasks)
{
	bool has_rcu = false;
	for (const TdxTaskSpec& k : tasks_)
		has_rcu = has_rcu || k.kind == TdxTask::rcu;
	if (!has_rcu)
		tasks_.push_back({TdxTask::rcu});
}

// A finalized TD with two vCPUs' roots loaded; with prelink, a private page
// in the same 2M range is mapped, so the S-EPT tables above the target
// exist; with huge, the target's 2M range is mapped as one private page.
TdxMcState TdxSystem::initial() const
{
	impl::TdVmOptions o;
	o.nr_vcpus = cfg_.nr_vcpus;
	o.variants = cfg_.variants;
	o.tdx_variants = cfg_.tdx_variants;
	o.tdmr_pages = cfg_.huge ? 2048 : 64;
	o.log_events = false;
	o.resched_every = cfg_.resched_every;
	TdxMcState s;
	s.vm = std::make_shared<TdVm>(o);
	TdVm& vm = *s.vm;
	vm.create();
	vm.finalize();
	if (cfg_.prelink && !cfg_.huge)
		vm.fault(0, TARGET_GPA + 0x1000);
	if (cfg_.huge)
		vm.fault(0, TARGET_GPA, 2);
	for (unsigned v = 0; v < cfg_.nr_vcpus; v++)
		vm.mmu().load_roots(vm.roots(v));
	for (unsigned i = 0; i < cfg_.pinned_inodes; i++)
		vm.tdx().gmem_defer_removal(); // other guest_memfd inodes pinned before this one
	vm.module().lock_windows = cfg_.lock_windows;
	for (const TdxTaskSpec& k : tasks_)
		if (k.kind == TdxTask::vcpu_run && k.stepping_filter)
			vm.module().set_stepping_filter(0, true);
	vm.module().trace_enabled = true;
	vm.mmu().set_concurrent(true); // from here on the tasks step in turn
	unsigned next_vcpu = 0;
	for (const TdxTaskSpec& k : tasks_) {
		TdxThread t;
		t.kind = k.kind;
		if (k.kind == TdxTask::fault) {
			t.vcpu = static_cast<std::uint8_t>(k.vcpu >= 0 ? static_cast<unsigned>(k.vcpu)
								       : next_vcpu++ % cfg_.nr_vcpus);
			// validate() refuses a GPA without a page: here there is one.
			const auto f = vm.resolve_fault(k.gpa ? k.gpa : cfg_.fault_gpa);
			if (f)
				t.map = {vm.mmu().root_for_fault(vm.roots(t.vcpu), *f), *f};
		}
		s.th.push_back(t);
	}
	return s;
}

std::string TdxSystem::validate() const
{
	if (cfg_.nr_vcpus < 1 || cfg_.nr_vcpus > 4)
		return "vcpus must be 1 to 4";
	// Every vCPU a task names exists before initial() looks up its roots.
	for (unsigned t = 0; t < thread_count(); t++)
		if (tasks_[t].kind == TdxTask::fault && tasks_[t].vcpu >= static_cast<int>(cfg_.nr_vcpus))
			return "task " + std::to_string(t + 1) + ": vCPU " + std::to_string(tasks_[t].vcpu) +
			       " of a TD with " + std::to_string(cfg_.nr_vcpus);
	const State s = initial();
	for (unsigned t = 0; t < thread_count(); t++) {
		const TdxTaskSpec& k = tasks_[t];
		if (k.kind != TdxTask::fault)
			continue;
		TdVm probe = *s.vm;
		if (!probe.resolve_fault(k.gpa ? k.gpa : cfg_.fault_gpa))
			return "task " + std::to_string(t + 1) + ": no guest_memfd page for GPA " +
			       support::hex(k.gpa ? k.gpa : cfg_.fault_gpa);
	}
	return "";
}

std::string TdxSystem::thread_name(unsigned t) const
{
	std::string n = task_name(tasks_[t].kind);
	if (tasks_[t].kind == TdxTask::fault)
		n += std::to_string(t);
	return n;
}

bool TdxSystem::done(const State& s, unsigned t) const
{
	if (tasks_[t].kind == TdxTask::rcu)
		return s.vm->mmu().rcu_queue().empty();
	return s.th[t].pc == DONE;
}

bool TdxSystem::enabled(const State& s, unsigned t) const
{
	if (done(s, t))
		return false;
	const TdxThread& th = s.th[t];
	switch (tasks_[t].kind) {
	case TdxTask::fault: return th.pc != LOCK || !s.writer;
	case TdxTask::unmap:
	case TdxTask::prune: return th.pc != LOCK || (!s.writer && s.readers == 0);
	case TdxTask::split:
		if (th.pc != LOCK)
			return true;
		return cfg_.split_shared ? !s.writer : !s.writer && s.readers == 0;
	case TdxTask::rcu: return s.readers == 0 && !s.writer; // no reader inside rcu_read_lock()
	case TdxTask::vcpu_run: return !s.vm_destroyed;
	case TdxTask::terminate: return true; // an ioctl on the VM file, which the destroy waits for
	case TdxTask::gmem_close:
		// A pinned inode is evicted only once the TD is torn down.
		return th.pc != UNLOCK || !pinned(s) || s.vm_destroyed;
	case TdxTask::vm_destroy:
		// The last reference: guest_memfd's release and the vCPU files.
		for (unsigned u = 0; u < thread_count(); u++)
			if ((tasks_[u].kind == TdxTask::gmem_close && s.th[u].pc == LOCK) ||
			    (tasks_[u].kind == TdxTask::vcpu_run && s.th[u].pc != DONE) ||
			    (tasks_[u].kind == TdxTask::terminate && s.th[u].pc != DONE))
				return false;
		return true;
	}
	return false;
}

bool TdxSystem::pinned(const State& s) const
{
	return cfg_.pin_inode && s.vm->tdx().pinned_inodes() > cfg_.pinned_inodes;
}

std::optional<Violation> TdxSystem::step(State& s, unsigned t, std::string* d) const
{
	TdVm& vm = mutable_vm(s);
	TdxThread& th = s.th[t];
	if (d) { // replaying a counterexample: keep the KVM_BUG_ON reasons
		vm.mmu().log().enabled = true;
		vm.tdx_log().enabled = true;
	}
	const std::size_t calls_before = vm.module().trace.size();
	const std::size_t bugs_before = kvm_bugs(vm).size();
	std::string what;
	auto& mmu = vm.mmu();
	if (cfg_.lock_windows) {
		// The task's previous SEAMCALL returns: its window closes.
		vm.module().release_locks(owner(t));
		vm.module().lock_owner = owner(t);
	}
	switch (tasks_[t].kind) {
	case TdxTask::fault:
		if (th.pc == LOCK) {
			s.readers++;
			th.pc = OP;
			what = "read_lock(mmu_lock); rcu_read_lock";
		} else if (th.pc == OP) {
			const auto before = th.map;
			const u64 was = spte_at(mmu, before.it);
			mmu.set_lock_context(LockMode::read);
			const bool finished = th.map.step(mmu) == OpStatus::done;
			mmu.set_lock_context(LockMode::none);
			if (d)
				what = "kvm_tdp_mmu_map: " +
				       map_step(before, th.map, cfg_.variants.mirror_write,
						before.it.valid && mmu.tables()[before.it.sptep.sp].mirror) +
				       walk_values(mmu, before.it, was);
			if (finished) {
				th.result = th.map.ret;
				th.pc = UNLOCK;
				what += ", returns " + impl::ret_pf_name(th.map.ret);
			}
		} else {
			s.readers--;
			th.pc = DONE;
			what = "rcu_read_unlock; read_unlock(mmu_lock)";
		}
		break;
	case TdxTask::unmap:
		// kvm_tdp_mmu_unmap_gfn_range() of two pages of the private range:
		// UnmapOp step by step (tdp_mmu_next_root's get of the mirror root,
		// tdp_mmu_zap_leafs, the get of the next root before the put of
		// this one); a yield drops mmu_lock and the task re-takes it.
		switch (th.pc) {
		case LOCK:
			s.writer = true;
			what = "write_lock(mmu_lock)";
			if (th.result == 0) { // the first acquisition starts the operation
				// The punched hole: by default the target and the
				// prelinked page after it.
				const u64 gfn = cfg_.fault_gpa >> spec::PAGE_SHIFT;
				const TdxTaskSpec& k = tasks_[t];
				th.unmap = {k.gfn_end ? k.gfn_start : gfn, k.gfn_end ? k.gfn_end : gfn + 2, impl::KVM_MIRROR_ROOTS,
					    true, false};
				th.result = 1;
			}
			th.pc = ZAP;
			break;
		case ZAP: {
			const auto before = th.unmap;
			const u64 was = spte_at(mmu, before.zap.it);
			mmu.set_lock_context(LockMode::write);
			const OpStatus st = th.unmap.step(mmu);
			mmu.set_lock_context(LockMode::none);
			if (d)
				what = unmap_action(before) + (before.pc == Mmu::UnmapOp::ZAP ? walk_values(mmu, before.zap.it, was) : "");
			if (st == OpStatus::yielded) {
				s.writer = false; // cond_resched_rwlock_write()
				th.pc = LOCK;
				what += ": yield, write_unlock(mmu_lock)";
			} else if (st == OpStatus::done) {
				th.pc = UNLOCK;
				what += ", returns";
			}
			break;
		}
		default:
			s.writer = false;
			th.pc = DONE;
			what = "write_unlock(mmu_lock)";
			break;
		}
		break;
	case TdxTask::prune:
		if (th.pc == LOCK) {
			s.writer = true;
			th.pc = OP;
			what = "write_lock(mmu_lock)";
		} else if (th.pc == OP) {
			mmu.set_lock_context(LockMode::write);
			mmu.zap_root(vm.roots(0).mirror, false);
			mmu.set_lock_context(LockMode::none);
			th.pc = UNLOCK;
			what = "tdp_mmu_zap_root (mirror root, exclusive): private branches pruned";
		} else {
			s.writer = false;
			th.pc = DONE;
			what = "write_unlock(mmu_lock)";
		}
		break;
	case TdxTask::split:
		// kvm_tdp_mmu_try_split_huge_pages() of the mirror root's 2M page,
		// SplitOp step by step under the configured lock mode.
		if (th.pc == LOCK) {
			(cfg_.split_shared ? s.readers++ : (s.writer = true, s.readers));
			if (th.result == 0) {
				const u64 gfn = TARGET_GPA >> spec::PAGE_SHIFT;
				// With lock windows the hook steps at its SEAMCALLs, so
				// that a TD entry can land between BLOCK, TRACK and DEMOTE.
				th.split = {vm.roots(0).mirror, gfn, gfn + 512, 1, cfg_.split_shared, cfg_.lock_windows};
				th.result = 1;
			}
			th.pc = OP;
			what = cfg_.split_shared ? "read_lock(mmu_lock)" : "write_lock(mmu_lock)";
		} else if (th.pc == OP) {
			const auto before = th.split;
			const u64 was = spte_at(mmu, before.it);
			mmu.set_lock_context(cfg_.split_shared ? LockMode::read : LockMode::write);
			const OpStatus st = th.split.step(mmu);
			mmu.set_lock_context(LockMode::none);
			if (d)
				what = before.pc == Mmu::SplitOp::SPLITTING
					       ? "split_external_spt: next SEAMCALL"
					       : "tdp_mmu_split_huge_pages_root:" + walk_values(mmu, before.it, was);
			if (st == OpStatus::yielded) {
				(cfg_.split_shared ? s.readers-- : (s.writer = false, s.readers));
				th.pc = LOCK;
				what += ": yield";
			} else if (st == OpStatus::done) {
				th.pc = UNLOCK;
				what += ", returns " + impl::errno_name(th.split.ret);
			}
		} else {
			(cfg_.split_shared ? s.readers-- : (s.writer = false, s.readers));
			th.pc = DONE;
			what = cfg_.split_shared ? "read_unlock(mmu_lock)" : "write_unlock(mmu_lock)";
		}
		break;
	case TdxTask::rcu:
		mmu.rcu_barrier();
		what = "grace period: TDP MMU RCU callbacks run";
		break;
	case TdxTask::vcpu_run:
		if (th.pc == LOCK && vm.tdx().vm_dead()) {
			th.pc = DONE; // KVM_REQ_VM_DEAD: KVM_RUN fails before any entry
			what = "KVM_RUN: the VM is dead, returns -EIO; the vCPU file is closed";
		} else if (th.pc == LOCK) {
			const u64 epoch = vm.module().vcpu(0).vcpu_epoch;
			th.result = static_cast<int>(vm.enter(0) == tdx_abi::status::TDX_SUCCESS);
			if (vm.module().vcpu(0).vcpu_epoch != epoch)
				th.tlb.clear(); // VP.ENTER flushed: the vCPU's epoch moved
			// With lock windows the entry ends in the next step; a BUSY
			// entry is tdx_exit_handlers_fastpath()'s EXIT_HANDLED.
			th.pc = cfg_.lock_windows && vm.module().vcpu(0).in_guest ? ENTERING : OP;
			what = "tdx_vcpu_run: TDH.VP.ENTER";
		} else if (th.pc == ENTERING) {
			th.pc = OP;
			what = "TDH.VP.ENTER releases its temporary locks and enters non-root mode";
		} else {
			vm.exit(0);
			th.pc = DONE;
			what = "TD exit; the vCPU file is closed";
		}
		break;
	case TdxTask::terminate:
		if (th.pc == LOCK) {
			// A vCPU between its entry and its exit is inside KVM_RUN.
			bool in_kvm_run = false;
			for (unsigned u = 0; u < thread_count(); u++)
				in_kvm_run = in_kvm_run || (tasks_[u].kind == TdxTask::vcpu_run && s.th[u].pc == OP);
			th.result = vm.tdx().terminate_vm_kill(in_kvm_run);
			th.pc = th.result ? DONE : OP;
			what = th.result ? "KVM_TDX_TERMINATE_VM: kvm_trylock_all_vcpus fails, returns -EBUSY"
			       : vm.tdx().vm_dead() ? "KVM_TDX_TERMINATE_VM: kvm_trylock_all_vcpus, kvm_vm_dead, kvm_unlock_all_vcpus"
						: "KVM_TDX_TERMINATE_VM (without kvm_vm_dead)";
		} else {
			vm.tdx().terminate_vm_release();
			th.pc = DONE;
			what = "KVM_TDX_TERMINATE_VM: tdx_mmu_release_hkid";
		}
		break;
	case TdxTask::gmem_close:
		if (th.pc == LOCK) {
			vm.gmem_release(); // invalidate, or pin the inode (seed 004)
			th.pc = UNLOCK;
			what = "kvm_gmem_release";
		} else {
			vm.gmem_free_folios();
			th.pc = DONE;
			what = "guest_memfd inode evicted: folios freed to the host";
		}
		break;
	case TdxTask::vm_destroy:
		const int stage = th.pc == LOCK ? 0 : th.result;
		switch (stage) {
		case 0:
			vm.tdx().release_hkid();
			what = "tdx_mmu_release_hkid";
			break;
		case 1:
			for (unsigned v = 0; v < cfg_.nr_vcpus; v++)
				mmu.unload_roots(vm.roots(v));
			what = "kvm_mmu_unload: vCPU root references put";
			break;
		case 2:
			mmu.uninit();
			what = "kvm_mmu_uninit_tdp_mmu: mirror root zapped";
			break;
		default:
			vm.tdx().reclaim_control_pages();
			s.vm_destroyed = true;
			what = "tdx_vm_destroy: control pages and TDR reclaimed";
			break;
		}
		th.result = stage + 1; // the next stage
		th.pc = th.result == 4 ? DONE : OP;
		break;
	}
	if (cfg_.lock_windows && done(s, t))
		vm.module().release_locks(owner(t));
	hardware_walks(s);
	if (d) {
		const std::string calls = seamcalls_since(vm.module(), calls_before);
		*d = what + (calls.empty() ? "" : "; SEAMCALL " + calls);
		const std::vector<std::string> bugs = kvm_bugs(vm);
		if (bugs_before == 0 && !bugs.empty()) // the first one: the VM is dead from here
			*d += "; KVM_BUG_ON: " + bugs.front();
		last_calls_.clear();
		for (std::size_t i = calls_before; i < vm.module().trace.size(); i++) {
			const auto& c = vm.module().trace[i];
			last_calls_.push_back({tdx_abi::leaf_name(c.leaf), tdx_abi::status_text(c.status)});
		}
	}
	vm.module().trace.clear(); // the trace is for the step's description only
	return std::nullopt;
}

// A vCPU in the guest may walk the S-EPT at any moment: after every step it
// may have cached every entry that is present now.
void TdxSystem::hardware_walks(State& s) const
{
	const hw::SimModule& m = s.vm->module();
	for (unsigned t = 0; t < thread_count(); t++) {
		if (tasks_[t].kind != TdxTask::vcpu_run || !m.num_vcpus() || !m.vcpu(0).in_guest)
			continue;
		std::vector<u64>& tlb = s.th[t].tlb;
		m.for_each_entry([&](u64, unsigned, const hw::SeptEntryView& e) {
			if (e.state == spec::SeptState::MAPPED || e.state == spec::SeptState::NL_MAPPED)
				tlb.push_back(e.hpa >> spec::PAGE_SHIFT);
		});
		std::sort(tlb.begin(), tlb.end());
		tlb.erase(std::unique(tlb.begin(), tlb.end()), tlb.end());
	}
}

bool TdxSystem::all_done(const State& s) const
{
	for (unsigned t = 0; t < thread_count(); t++)
		if (!done(s, t))
			return false;
	return tasks_done_have_teardown();
}

bool TdxSystem::tasks_done_have_teardown() const
{
	for (const TdxTaskSpec& k : tasks_)
		if (k.kind == TdxTask::vm_destroy)
			return true;
	return false;
}

// An MMU task between the start and the end of its operation (an unmap
// that yielded is back at LOCK, but still inside the operation).
bool TdxSystem::in_operation(const State& s, unsigned t) const
{
	const TdxThread& th = s.th[t];
	switch (tasks_[t].kind) {
	case TdxTask::unmap:
	case TdxTask::split: return th.pc != DONE && !(th.pc == LOCK && th.result == 0);
	case TdxTask::fault:
	case TdxTask::prune: return th.pc != LOCK && th.pc != DONE;
	default: return false;
	}
}

// No operation in flight: no MMU task inside its operation and no RCU
// callback pending (seed 000 defers the S-EPT side of a removal to it).
bool TdxSystem::quiescent(const State& s) const
{
	if (!s.vm->mmu().rcu_queue().empty())
		return false;
	for (unsigned t = 0; t < thread_count(); t++)
		if (in_operation(s, t))
			return false;
	return true;
}

std::optional<Violation> TdxSystem::check(const State& s) const
{
	const TdVm& vm = *s.vm;
	if (checks(TdxProperty::kvm_no_bug) && (vm.mmu().bugs() || vm.tdx().vm_bugged()))
		return violation(TdxProperty::kvm_no_bug, "a KVM_BUG_ON fired (the VM is dead)");
	// No page the module owns is free in the host allocator.
	const auto& pages = vm.pages();
	const u64 base = vm.options().tdmr_base_pfn, n = vm.options().tdmr_pages;
	for (u64 pfn = base; pfn < base + n; pfn++) {
		const auto pv = vm.module().pamt(pfn);
		if (checks(TdxProperty::pamt_page_returned_while_owned) && pv && pv->pt != spec::PageType::PT_NDA &&
		    !pages.used(pfn))
			return violation(TdxProperty::pamt_page_returned_while_owned,
					 "frame " + support::hex(pfn) + " is free in the host allocator while the PAMT still has it " +
						 (pv->pt == spec::PageType::PT_REG ? "as a TD private page (PT_REG)" : "owned by the TD"));
	}
	// A running vCPU's cached translation to a page that is no longer the TD's.
	for (unsigned t = 0; t < thread_count(); t++)
		if (checks(TdxProperty::tlb_stale_translation) && tasks_[t].kind == TdxTask::vcpu_run &&
		    vm.module().num_vcpus() && vm.module().vcpu(0).in_guest)
			for (u64 pfn : s.th[t].tlb) {
				const auto pv = vm.module().pamt(pfn);
				if (!pv || pv->pt == spec::PageType::PT_NDA || pv->owner != vm.module().tdr_pa())
					return violation(TdxProperty::tlb_stale_translation,
							 "vCPU 0 is in the guest with a cached translation to frame " + support::hex(pfn) +
								 ", which the TD no longer owns");
			}
	if (checks(TdxProperty::td_page_leaked) && all_done(s))
		for (u64 pfn = base; pfn < base + n; pfn++) {
			const auto pv = vm.module().pamt(pfn);
			if (pages.used(pfn) || (pv && pv->pt != spec::PageType::PT_NDA))
				return violation(TdxProperty::td_page_leaked,
						 "frame " + support::hex(pfn) + " was never given back to the host");
		}
	// "mirror and S-EPT agree once no operation is in flight" (while the TD
	// still has its HKID: after the release the mirror is zapped first)
	if (checks(TdxProperty::mirror_agrees_with_sept) && quiescent(s) && vm.tdx().hkid_assigned())
		for (unsigned v = 0; v < cfg_.nr_vcpus; v++) {
			const u32 root = vm.roots(v).mirror;
			if (root == impl::NO_SP)
				continue;
			const impl::MirrorCheck mc = impl::check_mirror_agrees(vm, root);
			if (!mc.ok)
				return violation(TdxProperty::mirror_agrees_with_sept, mc.why);
		}
	return std::nullopt;
}

void TdxSystem::encode_shared(const State& s, std::string& out) const
{
	const TdVm& vm = *s.vm;
	put_key(out, s.readers);
	put_key(out, s.writer | s.vm_destroyed << 1);
	// The TDP MMU: every live table and its SPTEs, the roots, RCU callbacks.
	const auto& mmu = vm.mmu();
	const auto& pt = mmu.tables();
	put_key(out, pt.capacity());
	for (u32 id = 0; id < pt.capacity(); id++) {
		const impl::MmuPage& p = pt[id];
		put_key(out, static_cast<u64>(p.state));
		if (p.state == impl::SpState::freed)
			continue;
		put_key(out, p.level | p.mirror << 4 | p.invalid << 5 | p.root << 6 | p.scheduled_root_to_zap << 7);
		put_key(out, p.gfn);
		put_key(out, p.root_count);
		put_key(out, p.external_spt);
		const u64 np = mmu.nonpresent();
		for (u32 i = 0; i < p.spt.size(); i++)
			if (p.spt[i] != np) { // the rest hold the flavour's non-present value
				put_key(out, i);
				put_key(out, p.spt[i]);
			}
		out.push_back('|');
	}
	for (u32 id : pt.free_list())
		put_key(out, id);
	put_key(out, mmu.roots().size());
	for (u32 r : mmu.roots())
		put_key(out, r);
	put_key(out, mmu.rcu_queue().size());
	for (const auto& cb : mmu.rcu_queue())
		put_key(out, cb.sp << 1 | static_cast<u32>(cb.kind));
	put_key(out, mmu.bugs());
	// KVM's TDX state and the host's page allocator.
	const auto& tdx = vm.tdx();
	put_key(out, static_cast<u64>(tdx.state()) | tdx.hkid_assigned() << 2 | tdx.wait_for_sept_zap() << 3 |
			 tdx.vm_bugged() << 4 | tdx.vm_dead() << 5);
	put_key(out, tdx.released_pages().size());
	put_key(out, tdx.pinned_inodes());
	const auto& pages = vm.pages();
	put_key(out, pages.cursor());
	for (u64 pfn = pages.base(); pfn < pages.base() + pages.count(); pfn += 64) {
		u64 bits = 0;
		for (u64 i = 0; i < 64 && pfn + i < pages.base() + pages.count(); i++)
			bits |= u64{pages.used(pfn + i)} << i;
		put_key(out, bits);
	}
	// The module: TD state, every non-FREE S-EPT entry, PAMT, vCPUs.
	const hw::SimModule& m = vm.module();
	boost::hana::for_each(boost::hana::members(m.td()), [&](const auto& f) {
		if constexpr (std::is_same_v<std::decay_t<decltype(f)>, spec::EpochState<hw::sim::C>>)
			boost::hana::for_each(boost::hana::members(f), [&](const auto& g) { put_key(out, u64(g)); });
		else
			put_key(out, u64(f));
	});
	m.for_each_entry([&](u64 gpa, unsigned level, const hw::SeptEntryView& e) {
		put_key(out, gpa | level);
		put_key(out, static_cast<u64>(e.state));
		put_key(out, e.hpa);
	});
	out.push_back('|');
	for (u64 pfn = vm.options().tdmr_base_pfn; pfn < vm.options().tdmr_base_pfn + vm.options().tdmr_pages; pfn++) {
		const auto pv = m.pamt(pfn);
		if (!pv || pv->pt == spec::PageType::PT_NDA)
			continue;
		put_key(out, pfn);
		put_key(out, static_cast<u64>(pv->pt));
		put_key(out, pv->owner);
		put_key(out, pv->bepoch);
	}
	for (std::size_t i = 0; i < m.num_vcpus(); i++) {
		const hw::VcpuView v = m.vcpu(i);
		put_key(out, v.associated | v.in_guest << 1);
		put_key(out, v.vcpu_epoch);
	}
	// The locks of SEAMCALLs in their window (sorted by the module).
	if (!cfg_.lock_windows)
		return;
	out.push_back('|');
	for (const spec::HeldLock& h : m.held_locks()) {
		put_key(out, static_cast<u64>(h.lock) | static_cast<u64>(h.mode) << 3 | u64{h.owner} << 5);
		put_key(out, h.key);
	}
	// The entries whose TDHP bit a SEAMCALL that lost them set.
	out.push_back('|');
	for (u64 key : m.host_priority_entries())
		put_key(out, key);
}

void TdxSystem::encode_thread(const State& s, unsigned t, std::string& out) const
{
	const TdxThread& th = s.th[t];
	put_key(out, th.pc);
	put_key(out, static_cast<u64>(th.result + 64));
	for (u64 pfn : th.tlb)
		put_key(out, pfn);
	out.push_back('|');
	if (tasks_[t].kind == TdxTask::unmap) {
		const auto& u = th.unmap;
		put_key(out, u.pc | u.flush << 4);
		put_key(out, u.next.prev);
		put_key(out, u.next.next);
		put_key(out, u.next.pc | u.next.put.pc << 4);
		const auto& z = u.zap;
		put_key(out, z.root);
		put_key(out, z.pc | z.flush << 4);
		put_iter_key(out, z.it);
		put_key(out, z.it.next_last_level_gfn);
		put_key(out, z.it.yielded_gfn);
		put_key(out, z.remove.pc);
		put_key(out, z.remove.gfn);
	}
	if (tasks_[t].kind == TdxTask::split) {
		const auto& sp = th.split;
		put_key(out, sp.pc);
		put_key(out, static_cast<u64>(sp.ret + 64));
		put_key(out, sp.sp);
		put_key(out, sp.set.pc | sp.set.hook << 4);
		put_iter_key(out, sp.it);
		put_key(out, sp.ext.pc);
		put_key(out, static_cast<u64>(sp.ext.ret + 64));
	}
	if (tasks_[t].kind != TdxTask::fault)
		return;
	const auto& m = th.map;
	put_key(out, m.pc);
	put_key(out, static_cast<u64>(m.ret + 64));
	put_key(out, m.sp);
	put_key(out, m.old_leaf);
	put_key(out, m.set.new_spte);
	put_key(out, m.set.pc | m.set.hook << 4);
	put_key(out, static_cast<u64>(m.set.ret + 64));
	const auto& it = m.it;
	put_iter_key(out, it);
	put_key(out, it.next_last_level_gfn);
	for (u32 p : it.pt_path)
		put_key(out, p);
}

std::string TdxSystem::describe_state(const State& s) const
{
	const TdVm& vm = *s.vm;
	std::string r = "mmu_lock: " + std::to_string(s.readers) + " readers" + (s.writer ? ", writer" : "") + "\n";
	char buf[160];
	for (unsigned v = 0; v < cfg_.nr_vcpus; v++) {
		const u32 root = vm.roots(v).mirror;
		if (root == impl::NO_SP)
			continue;
		const auto l = vm.mmu().lookup(root, TARGET_GPA >> spec::PAGE_SHIFT);
		std::snprintf(buf, sizeof buf, "mirror SPTE of GFN 0x%llx (vCPU %u's root): 0x%llx at level %u\n",
			      static_cast<unsigned long long>(TARGET_GPA >> spec::PAGE_SHIFT), v,
			      static_cast<unsigned long long>(l.spte), l.level);
		r += buf;
	}
	for (unsigned level = 0; level < 2; level++)
		if (const auto e = vm.module().sept_entry(TARGET_GPA, level)) {
			std::snprintf(buf, sizeof buf, "S-EPT entry of GPA 0x%llx at level %u (TDX level %u): %s, HPA 0x%llx\n",
				      static_cast<unsigned long long>(TARGET_GPA), level + 1, level,
				      spec::sept_state_name(e->state).c_str(), static_cast<unsigned long long>(e->hpa));
			r += buf;
		}
	// Each KVM_BUG_ON once: the first one killed the VM; what ran on
	// before the kernel noticed adds nothing.
	std::vector<std::string> bugs;
	for (const impl::EventLog* log : {&vm.mmu().log(), &vm.tdx_log()})
		for (const auto& ev : log->events())
			if (ev.kind == impl::EventKind::kvm_bug && ev.what &&
			    std::find(bugs.begin(), bugs.end(), ev.what) == bugs.end())
				bugs.emplace_back(ev.what);
	for (const std::string& b : bugs)
		r += "KVM_BUG_ON: " + b + "\n";
	for (const spec::HeldLock& h : vm.module().held_locks())
		r += "module lock held by " + (h.owner ? thread_name(h.owner - 1) : std::string("set-up")) + ": " + std::string(spec::module_lock_name(h.lock)) +
		     (h.mode == spec::LockMode::exclusive ? " (exclusive)\n" : " (shared)\n");
	for (unsigned t = 0; t < thread_count(); t++)
		r += "  " + thread_name(t) + ": pc " + std::to_string(s.th[t].pc) + "\n";
	return r;
}

std::string TdxSystem::dot(const State& s) const
{
	std::string g = "digraph sept {\n  node [shape=box, fontname=monospace];\n";
	char buf[200];
	s.vm->module().for_each_entry([&](u64 gpa, unsigned level, const hw::SeptEntryView& e) {
		std::snprintf(buf, sizeof buf, "  \"L%u 0x%llx\" [label=\"S-EPT level %u (TDX %u) GPA 0x%llx\\n%s\"];\n",
			      level + 1, static_cast<unsigned long long>(gpa), level + 1, level,
			      static_cast<unsigned long long>(gpa), spec::sept_state_name(e.state).c_str());
		g += buf;
	});
	return g + "}\n";
}

} // namespace arborist::mc
