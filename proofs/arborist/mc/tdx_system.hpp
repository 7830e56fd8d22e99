// SPDX-License-Identifier: GPL-2.0-only
//
// TDX configurations of the model checker: a whole TD (impl::TdVm: the TDP
// MMU with its mirror root, KVM's TDX glue, and the simulated TDX module
// running the spec's S-EPT leaves) copied state by state, with tasks that
// run impl/'s stepped operations on it.
//
// Tasks:
//  - fault: a vCPU's EPT violation on a private GPA:
//    read_lock(mmu_lock), then TdpMmu::MapOp (kvm_tdp_mmu_map()) step by
//    step -- every SPTE read, cmpxchg and write, and every SEAMCALL the
//    external hooks issue, is its own step -- then read_unlock;
//  - unmap: kvm_tdp_mmu_unmap_gfn_range() of the private range (guest_memfd
//    punch hole) under write_lock(mmu_lock): the root get, then
//    TdpMmu::ZapLeafsOp step by step, whose yields (cond_resched) drop the
//    lock so other tasks run, then the put;
//  - split: seed 001, kvm_tdp_mmu_try_split_huge_pages() of a private 2M
//    page (split_external_spt -> BLOCK, TRACK, DEMOTE), TdpMmu::SplitOp
//    step by step under the lock mode the configuration names; with the
//    shared lock its link goes through AtomicSet and the spec's
//    mirror-hook decision;
//  - vcpu_run: TDH.VP.ENTER then a TD exit (TLB epochs; KVM's kicks); with
//    the module's lock windows (module-locks=windows) the entry is two
//    steps: VP.ENTER with the locks it takes (OP_STATE, the TD epoch, and
//    the S-EPT tree when its zero-step filter runs), then their release
//    as it enters non-root mode;
//  - gmem_close: kvm_gmem_release() -- v6.19 invalidates every private
//    GFN (BLOCK, TRACK, REMOVE, WBINVD), seed 004 pins the inode instead
//    (while fewer than 64 are pinned, else the v6.19 path) -- then the
//    eviction of the inode frees the folios to the host; a pinned inode is
//    evicted only after the TD's teardown;
//  - vm_destroy: kvm_destroy_vm() once the last file reference is gone
//    (guest_memfd and vCPU files hold VM references): tdx_mmu_release_hkid
//    (VP.FLUSH, VPFLUSHDONE, CACHE.WB, KEY.FREEID), the vCPUs' root puts,
//    kvm_mmu_uninit_tdp_mmu (the mirror root's zap: seed 004 RECLAIMs the
//    still-mapped private pages there), tdx_vm_destroy (control pages);
//  - prune: seed 000's pruning of a private branch at run time:
//    tdp_mmu_zap_root() of the mirror root under write_lock(mmu_lock) with
//    the HKID assigned; with the RCU-deferred removal variant the pruned
//    tables are handed to the RCU callback (v6.19 never does this: its
//    tdx_sept_free_private_spt() is a KVM_BUG_ON while the HKID is
//    assigned);
//  - terminate: KVM_TDX_TERMINATE_VM (V4, not in v6.19): the trylock of
//    every vCPU and kvm_vm_dead() (-EBUSY while a vCPU is in KVM_RUN), then
//    tdx_mmu_release_hkid(), each a step; guest_memfd's release after it
//    RECLAIMs in TD_TEARDOWN;
//  - rcu: the grace period; runs queued TDP MMU callbacks once no fault
//    task is inside its RCU read-side section (mmu_lock readers here).
//
// Properties: no KVM_BUG_ON (the kernel's own assertions, including every
// SEAMCALL status KVM treats as impossible -- the simulated module returns
// the spec's status codes), and, in every state where no task is inside an
// operation, the mirror root and the S-EPT agree in both directions
// (impl/arborist/impl/mirror_check.hpp), while the TD's HKID is assigned.
// Teardown (seed 004): no page the TDX module still owns (PAMT not
// PT_NDA) is free in the host's allocator -- a private page returned to the
// host while mapped or before its HKID is released and its page RECLAIMed
// -- and, once every task is done, no page is leaked (every TDMR frame is
// free in the host allocator and PT_NDA in the PAMT).  Hardware walkers:
// a vCPU in the guest may cache any present S-EPT entry at any time, and
// drops its cache only when VP.ENTER flushes; no cached page may stop being
// the TD's (tlb.stale_translation: "a vCPU can still use a freed page table
// or a removed page").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arborist/impl/mirror_check.hpp"
#include "arborist/impl/td_vm.hpp"
#include "arborist/mc/checker.hpp"

#include <string_view>
#include <utility>

namespace arborist::mc {

using impl::LockMode;
using impl::OpStatus;
using impl::PageFault;
using impl::TdVm;
using impl::u32;
using spec::u64;
using sim_owner = std::uint32_t;

enum class TdxTask : std::uint8_t { fault, unmap, split, rcu, vcpu_run, gmem_close, vm_destroy, prune, terminate };

// The task kinds as configuration files name them (`task fault`, ...).
inline constexpr std::pair<std::string_view, TdxTask> tdx_task_names[] = {
	{"fault", TdxTask::fault},         {"unmap", TdxTask::unmap},
	{"split", TdxTask::split},         {"rcu", TdxTask::rcu},
	{"vcpu-run", TdxTask::vcpu_run},   {"gmem-close", TdxTask::gmem_close},
	{"vm-destroy", TdxTask::vm_destroy}, {"prune", TdxTask::prune},
	{"terminate", TdxTask::terminate},
};

// The properties a TDX configuration checks in every reachable state
// (besides the checker's deadlock and termination), by bit.
enum class TdxProperty : std::uint8_t {
	kvm_no_bug,
	pamt_page_returned_while_owned,
	tlb_stale_translation,
	td_page_leaked,
	mirror_agrees_with_sept,
};
inline constexpr PropertyInfo tdx_properties[] = {
	{"kvm.no_bug", "no KVM_BUG_ON fires (every SEAMCALL status KVM treats as impossible included)"},
	{"pamt.page_returned_while_owned", "no frame the PAMT gives to the TD is free in the host allocator"},
	{"tlb.stale_translation", "no vCPU in the guest caches a translation to a frame the TD no longer owns"},
	{"td.page_leaked", "once every task is done (with VM destruction), every TDMR frame is free and PT_NDA"},
	{"mirror.agrees_with_sept", "with no operation in flight and the HKID assigned, mirror root and S-EPT agree"},
};

// One task of a configuration and its operation's parameters.
struct TdxTaskSpec {
	TdxTask kind{};
	int vcpu = -1;      // fault: the vCPU (-1: the next one, round robin)
	u64 gpa = 0;        // fault: the GPA (0: the configuration's fault_gpa)
	u64 gfn_start = 0;  // unmap: the GFN range [start, end) (end 0: fault_gpa's
	u64 gfn_end = 0;    //   page and the one after it)
	bool stepping_filter = false; // vcpu_run: VP.ENTER runs the zero-step filter (S-EPT tree exclusive)
	constexpr bool operator==(const TdxTaskSpec&) const = default;
};

struct TdxMcConfig {
	impl::Variants variants{};
	impl::TdxVariants tdx_variants{};
	std::vector<TdxTaskSpec> tasks;   // rcu is added when absent
	std::uint32_t properties = ~0u;   // bit TdxProperty: checked
	bool prelink = true;          // fault a neighbouring GFN first, so the upper tables exist
	bool huge = false;            // map the target as a 2M private page first (seed 001)
	bool split_shared = false;    // seed 001 split under read_lock instead of write_lock
	unsigned nr_vcpus = 2;
	unsigned long long fault_gpa = 0x200000; // what the fault tasks fault on
	unsigned long long resched_every = 0; // need_resched() every N iterator steps (0: never)
	unsigned pinned_inodes = 0;  // guest_memfd inodes already pinned (seed 004's cap is 64)
	bool pin_inode = true;       // false: defer removal without pinning (the known-bad seed-004 variant)
	// The simulated module's lock windows (hw::SimModule::lock_windows):
	// each task is a logical processor whose last successful SEAMCALL keeps
	// its locks until the task's next step, so SEAMCALLs of different tasks
	// contend as the TDX module's locks make them (TDX_OPERAND_BUSY).
	bool lock_windows = false;
};

struct TdxThread {
	TdxTask kind{};
	std::uint8_t pc = 0; // LOCK, OP, UNLOCK, DONE
	std::uint8_t vcpu = 0;
	impl::TdpMmu<impl::SimTdx>::MapOp map{};
	impl::TdpMmu<impl::SimTdx>::UnmapOp unmap{};
	impl::TdpMmu<impl::SimTdx>::SplitOp split{};
	int result = 0;
	// vcpu_run: the hardware walker's cached translations (TLB and
	// paging-structure caches): the HPAs of every present S-EPT entry seen
	// while in the guest, dropped when VP.ENTER flushes (a new TD epoch).
	std::vector<u64> tlb;
	constexpr bool operator==(const TdxThread&) const = default;
};

struct TdxMcState {
	std::shared_ptr<TdVm> vm; // copy-on-step: copied before each step
	std::uint8_t readers = 0;
	bool writer = false;
	bool vm_destroyed = false; // kvm_destroy_vm() finished: a pinned inode may be evicted
	std::vector<TdxThread> th;
};

class TdxSystem {
public:
	using State = TdxMcState;

	explicit TdxSystem(TdxMcConfig c);

	State initial() const;
	unsigned thread_count() const { return static_cast<unsigned>(tasks_.size()); }
	std::string thread_name(unsigned t) const;
	// Fault tasks of distinct vCPUs use distinct vCPU roots and frames: no
	// symmetry is claimed.
	unsigned symmetry_class(unsigned) const { return 0; }
	bool done(const State& s, unsigned t) const;
	bool enabled(const State& s, unsigned t) const;
	bool is_local(const State&, unsigned) const { return false; }
	std::optional<Violation> step(State& s, unsigned t, std::string* describe) const;
	std::optional<Violation> check(const State& s) const;
	// Why the configuration cannot run ("" when it can): a fault GPA with
	// no guest_memfd page behind it, a vCPU the TD does not have.
	std::string validate() const;
	void encode_shared(const State& s, std::string& out) const;
	void encode_thread(const State& s, unsigned t, std::string& out) const;
	std::string describe_state(const State& s) const;
	// The SEAMCALLs (leaf, status) of the last step described.
	const std::vector<std::pair<std::string, std::string>>& last_seamcalls() const { return last_calls_; }
	std::string dot(const State& s) const;

	static constexpr u64 TARGET_GPA = 0x200000; // the private page the tasks race on (GFN 0x200)

private:
	enum : std::uint8_t { LOCK, OP, UNLOCK, DONE, ZAP, ENTERING };
	// The logical processor a task's SEAMCALLs run on, for the lock table
	// (0 is the set-up before the tasks start).
	static sim_owner owner(unsigned t) { return t + 1; }
	bool quiescent(const State& s) const;
	bool in_operation(const State& s, unsigned t) const;
	bool all_done(const State& s) const;
	bool tasks_done_have_teardown() const;
	bool pinned(const State& s) const;
	void hardware_walks(State& s) const;

	bool checks(TdxProperty p) const { return cfg_.properties >> static_cast<unsigned>(p) & 1; }
	Violation violation(TdxProperty p, std::string detail) const
	{
		return {std::string(tdx_properties[static_cast<unsigned>(p)].name), std::move(detail)};
	}

	TdxMcConfig cfg_;
	std::vector<TdxTaskSpec> tasks_;
	mutable std::vector<std::pair<std::string, std::string>> last_calls_; // counterexample replay only
};

static_assert(System<TdxSystem>);

} // namespace arborist::mc
