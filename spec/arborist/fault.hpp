// SPDX-License-Identifier: GPL-2.0-only
//
// Named fault-injection points.
//
// Every proof obligation must be shown able to fail: it carries a known-bad
// variant under which Z3 has to find a counterexample.  A known-bad variant
// is the *same* rule with one named fault injected at a point the rule
// declares, e.g. SEPT.REMOVE with its "all 512 children FREE" check skipped.
// This keeps each rule written once: the fault is a switch inside the rule,
// not a second copy of it.  Production callers pass no_fault, and with a
// concrete Fault the switch folds away at compile time.
#pragma once

#include <string_view>

namespace arborist::spec {

struct Fault {
	std::string_view name;
	std::string_view what;

	constexpr bool operator==(const Fault& o) const { return name == o.name; }
};

inline constexpr Fault no_fault{"", ""};

namespace faults {
// SPTE encoding (spec/arborist/spte.hpp)
inline constexpr Fault frozen_sets_present{"frozen_sets_present",
	"FROZEN_SPTE/REMOVED_SPTE carries the MMU-present bit"};
inline constexpr Fault nonpresent_sets_present{"nonpresent_sets_present",
	"SHADOW_NONPRESENT_VALUE carries the MMU-present bit"};
inline constexpr Fault nonleaf_sets_page_size{"nonleaf_sets_page_size",
	"make_nonleaf_spte sets PT_PAGE_SIZE_MASK"};
inline constexpr Fault nonleaf_drops_present{"nonleaf_drops_present",
	"make_nonleaf_spte omits SPTE_MMU_PRESENT_MASK"};
inline constexpr Fault split_wrong_stride{"split_wrong_stride",
	"make_small_spte strides by the parent level's page count"};
inline constexpr Fault split_keeps_page_size{"split_keeps_page_size",
	"make_small_spte keeps PS on 4K children"};
inline constexpr Fault split_drops_writable{"split_drops_writable",
	"make_small_spte clears the MMU-writable bit of children"};
inline constexpr Fault split_sets_writable{"split_sets_writable",
	"make_small_spte makes children hardware-writable"};
inline constexpr Fault huge_keeps_low_pfn{"huge_keeps_low_pfn",
	"make_huge_spte does not align the PFN to the huge page"};
inline constexpr Fault huge_sets_writable{"huge_sets_writable",
	"make_huge_spte makes the huge SPTE hardware-writable"};
inline constexpr Fault make_spte_ignores_host_writable{"make_spte_ignores_host_writable",
	"make_spte grants W and MMU-writable without host-writable"};
inline constexpr Fault make_spte_w_without_mmu_writable{"make_spte_w_without_mmu_writable",
	"make_spte sets W but not MMU-writable"};
inline constexpr Fault pfn_mask_narrow{"pfn_mask_narrow",
	"spte_to_pfn drops PFN bit 51"};
inline constexpr Fault flush_only_on_pfn_change{"flush_only_on_pfn_change",
	"leaf_spte_change_needs_tlb_flush looks only at the PFN"};
inline constexpr Fault fast_pf_ignores_mmu_writable{"fast_pf_ignores_mmu_writable",
	"fast page fault restores W on an SPTE that is not MMU-writable"};

// GFN algebra (spec/arborist/gfn.hpp)
inline constexpr Fault shared_bit_off_by_one{"shared_bit_off_by_one",
	"the shared bit is taken one position too low"};
inline constexpr Fault strip_keeps_shared{"strip_keeps_shared",
	"fault->gfn keeps the shared bit"};
inline constexpr Fault mirror_root_has_gfn_bits{"mirror_root_has_gfn_bits",
	"kvm_gfn_root_bits returns the direct bits for a mirror root"};
inline constexpr Fault walk_ignores_gfn_bits{"walk_ignores_gfn_bits",
	"tdp_iter indexes with gfn instead of gfn | gfn_bits"};
inline constexpr Fault round_off_by_one{"round_off_by_one",
	"gfn_round_for_level uses one level too many"};

// Root lifecycle (spec/arborist/root.hpp)
inline constexpr Fault put_frees_valid_root{"put_frees_valid_root",
	"kvm_tdp_mmu_put_root frees on the last put without requiring role.invalid"};
inline constexpr Fault get_on_zero{"get_on_zero",
	"kvm_tdp_mmu_get_root uses refcount_inc instead of refcount_inc_not_zero"};
inline constexpr Fault alloc_refcount_one{"alloc_refcount_one",
	"kvm_tdp_mmu_alloc_root starts the refcount at 1, without the TDP MMU's reference"};
inline constexpr Fault invalidate_drops_gift{"invalidate_drops_gift",
	"kvm_tdp_mmu_invalidate_roots puts the TDP MMU's reference instead of gifting it"};
inline constexpr Fault zap_skips_put{"zap_skips_put",
	"kvm_tdp_mmu_zap_invalidated_roots clears the flag but keeps the gifted reference"};
inline constexpr Fault zap_double_put{"zap_double_put",
	"kvm_tdp_mmu_zap_invalidated_roots puts the gifted reference twice"};
inline constexpr Fault rcu_frees_early{"rcu_frees_early",
	"the RCU callback frees a root that was never queued"};
inline constexpr Fault put_other_tasks_reference{"put_other_tasks_reference",
	"a task puts a reference it does not hold (seed 003: \"_this_ task can't drop a reference taken by the other task\")"};
inline constexpr Fault put_keeps_on_list{"put_keeps_on_list",
	"the last put queues the RCU free without list_del_rcu"};

// S-EPT machine (spec/arborist/sept.hpp)
inline constexpr Fault skip_lifecycle_check{"skip_lifecycle_check",
	"the TD-state check does not require TD_KEYS_CONFIGURED"};
inline constexpr Fault walk_through_blocked{"walk_through_blocked",
	"the S-EPT walk descends through NL_BLOCKED entries"};
inline constexpr Fault skip_children_free_check{"skip_children_free_check",
	"SEPT.REMOVE does not require all 512 children FREE"};
inline constexpr Fault skip_blocked_check{"skip_blocked_check",
	"removal does not require a blocked entry in RUNNABLE"};
inline constexpr Fault skip_tracking_check{"skip_tracking_check",
	"removal does not require is_tlb_tracked(bepoch) in RUNNABLE"};
inline constexpr Fault remove_keeps_pamt{"remove_keeps_pamt",
	"PAGE.REMOVE leaves the page PT_REG in the PAMT"};
inline constexpr Fault remove_keeps_entry{"remove_keeps_entry",
	"PAGE.REMOVE leaves the entry BLOCKED instead of FREE"};
inline constexpr Fault reclaim_any_lifecycle{"reclaim_any_lifecycle",
	"PHYMEM.PAGE.RECLAIM does not require TD_TEARDOWN"};
inline constexpr Fault reclaim_tdr_with_children{"reclaim_tdr_with_children",
	"PHYMEM.PAGE.RECLAIM of the TDR ignores CHLDCNT"};
inline constexpr Fault freeid_before_wb{"freeid_before_wb",
	"KEY.FREEID does not require CACHE.WB on every package"};
inline constexpr Fault vpflushdone_with_vcpus{"vpflushdone_with_vcpus",
	"VPFLUSHDONE does not require every vCPU flushed"};
inline constexpr Fault block_skips_bepoch{"block_skips_bepoch",
	"RANGE.BLOCK does not record bepoch"};
inline constexpr Fault demote_keeps_block{"demote_keeps_block",
	"DEMOTE copies the blocked state into the children"};
inline constexpr Fault aug_any_state{"aug_any_state",
	"PAGE.AUG does not require a FREE entry"};
inline constexpr Fault chldcnt_not_counted{"chldcnt_not_counted",
	"a leaf forgets to update TDR.CHLDCNT"};

// TLB epoch tracking (spec/arborist/tlb.hpp)
inline constexpr Fault tracked_ignores_refcount{"tracked_ignores_refcount",
	"is_tlb_tracked accepts bepoch == td_epoch - 1 without refcount[bepoch & 1] == 0"};
inline constexpr Fault track_ignores_refcount{"track_ignores_refcount",
	"TRACK advances td_epoch while vCPUs of the previous epoch are in the guest"};
inline constexpr Fault enter_wrong_parity{"enter_wrong_parity",
	"TD entry counts the vCPU in refcount[1 - (td_epoch & 1)]"};
inline constexpr Fault exit_skips_refcount{"exit_skips_refcount",
	"TD exit does not decrement refcount[vcpu_epoch & 1]"};
inline constexpr Fault enter_keeps_epoch{"enter_keeps_epoch",
	"TD entry does not refresh vcpu_epoch"};
inline constexpr Fault block_records_zero{"block_records_zero",
	"RANGE.BLOCK records bepoch 0"};
inline constexpr Fault enter_skips_flush{"enter_skips_flush",
	"TD entry at a new epoch keeps the vCPU's cached translations"};
} // namespace faults

} // namespace arborist::spec
