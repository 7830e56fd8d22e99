// SPDX-License-Identifier: GPL-2.0-only
//
// What the executable reference records as it runs: the kernel's kvmmmu
// tracepoints (Linux v6.19 arch/x86/kvm/mmu/mmutrace.h) plus the external-hook calls and SEAMCALLs
// that the TDX glue makes.  `arborist run` prints them; the conformance
// checker reads the same kinds of event from kernel traces.
#pragma once

#include <cstdint>
#include <vector>

#include "arborist/impl/mmu_page.hpp"

namespace arborist::impl {

enum class EventKind : std::uint8_t {
	spte_changed,      // kvm_tdp_mmu_spte_changed(as_id, gfn, level, old, new)
	spte_requested,    // kvm_mmu_spte_requested(gfn, pfn, level)
	set_spte,          // kvm_mmu_set_spte(level, gfn, spte)
	get_page,          // kvm_mmu_get_page(sp, created)
	prepare_zap_page,  // kvm_mmu_prepare_zap_page(sp)
	split_huge_page,   // kvm_mmu_split_huge_page(gfn, spte, level, errno)
	tlb_flush,         // kvm_flush_remote_tlbs[_gfn]
	rcu_callback,      // tdp_mmu_free_sp_rcu_callback, or the RCU zap of a pruned mirror branch
	root_freed,        // a root's RCU free ran
	kvm_bug,           // KVM_BUG_ON / WARN fired
	external_hook,     // link/set/remove/free/split_external_sp[t|e]
	seamcall,          // a SEAMCALL and its status
};

// One record; a kind fills only the fields its tracepoint or call has,
// the others stay zero.
struct Event {
	EventKind kind;
	u64 gfn = 0;
	unsigned level = 0;
	// spte_changed: the value replaced; split_huge_page: the huge SPTE;
	// external_hook in the MMU's log: the mirror SPTE the hook replaces.
	u64 old_spte = 0;
	// spte_changed, set_spte: the value written; split_external_spt: the
	// mirror non-leaf SPTE that replaces the huge one.
	u64 new_spte = 0;
	u64 pfn = 0;    // spte_requested: fault->pfn
	u64 sp = 0;     // get_page, prepare_zap_page, rcu_callback, root_freed: the page table's slot
	u64 hook_arg = 0; // external_hook: the hook's page argument (external SPT, mirror SPTE)
	bool hook_exit = false; // external_hook: the return of the call, not its entry
	bool pruned_branch = false; // rcu_callback: the zap of a pruned branch, not tdp_mmu_free_sp_rcu_callback
	int err = 0;           // split_huge_page: errno; external_hook exit: the hook's return
	const char* what = ""; // a static string: the hook or check name
	u64 seq = 0;           // *EventLog::clock when recorded (0 without a clock)
};

// A bounded or unbounded record: benchmarks turn it off, tests and `run`
// keep it.
class EventLog {
public:
	bool enabled = true;
	// A counter shared with other logs (hw::SimModule::trace_clock): each
	// event takes the next value, so several logs merge in order
	// (`arborist run --trace`).
	u64* clock = nullptr;
	constexpr void add(const Event& e)
	{
		counts_[static_cast<unsigned>(e.kind)]++;
		if (!enabled)
			return;
		events_.push_back(e);
		if (clock)
			events_.back().seq = (*clock)++;
	}
	constexpr const std::vector<Event>& events() const { return events_; }
	constexpr u64 count(EventKind k) const { return counts_[static_cast<unsigned>(k)]; }
	constexpr void clear() { events_.clear(); }

private:
	std::vector<Event> events_;
	u64 counts_[12] = {};
};

} // namespace arborist::impl
