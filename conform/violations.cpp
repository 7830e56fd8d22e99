// SPDX-License-Identifier: GPL-2.0-only
//
// The violation kinds of the conformance checker: stable names, each with
// the rule it checks and the rule's source.  docs/conformance.md has an
// example of each.
#include <stdexcept>

#include "checker.hpp"

namespace arborist::conform {

// ---- violation kinds ------------------------------------------------------------

namespace {

// Sources are cited as docs/sources.md lists them: kernel files by version,
// TDX module 1.5.01 files, the 6.1 NPT trace's README, seed threads.
#define TRACE_README "tests/data/linux-6.1-npt/README.md "
#define MODULE "intel/tdx-module TDX_1.5.01 "

const std::vector<ViolationKind> KINDS = {
	{"spte.lost-update",
	 "old_spte is the value the write replaced (try_cmpxchg64, xchg or a write under mmu_lock held for "
	 "write), so it equals the value the slot holds after the earlier events and the derivations",
	 "Linux 6.1 tdp_mmu.c: tdp_mmu_set_spte_atomic(), __tdp_mmu_set_spte() and handle_removed_pt() pass "
	 "the replaced value to __handle_changed_spte(), which traces it; Linux v6.19 tdp_mmu.c handle_changed_spte()"},
	{"spte.pfn-change",
	 "a present leaf is never replaced in place by a present leaf with another PFN "
	 "(spec::is_shadow_present_pte, spec::is_last_spte, spec::spte_to_pfn)",
	 "__handle_changed_spte(): \"Invalid SPTE change: cannot replace a present leaf SPTE with another "
	 "present leaf SPTE mapping a different PFN!\" then BUG(); Linux v6.19 tdp_mmu.c handle_changed_spte()"},
	{"spte.orphaned-table",
	 "when a present non-leaf SPTE is replaced, handle_removed_pt() freezes every present child of the "
	 "table it pointed to, in index order, before the table is freed; a table is linked in one place only",
	 "__handle_changed_spte() step 8 and handle_removed_pt(); commits 524a1e4e381f "
	 "\"Don't leak non-leaf SPTEs when zapping all SPTEs\", c8e5a0d0e9bc \"Check for !leaf=>leaf, not PFN "
	 "change, in TDP MMU SP removal\"; " TRACE_README "\"handle_removed_pt traces every child\""},
	{"spte.misaligned", "gfn is aligned to the level: gfn == spec::gfn_round_for_level(gfn, level)",
	 "__handle_changed_spte(): WARN_ON(gfn & (KVM_PAGES_PER_HPAGE(level) - 1)); Linux v6.19 tdp_mmu.c handle_changed_spte()"},
	{"spte.bad-level", "level is from PG_LEVEL_4K to the root level of the profile",
	 "__handle_changed_spte(): WARN_ON(level > PT64_ROOT_MAX_LEVEL), WARN_ON(level < PG_LEVEL_4K); "
	 "Linux v6.19 tdp_mmu.c handle_changed_spte(); " TRACE_README "\"The NPT root is 4-level\""},
	{"spte.nonpresent-change",
	 "a change between two non-present values installs, replaces or removes an MMIO SPTE (one that "
	 "mark_mmio_spte names), or freezes the entry (spec::is_frozen_spte)",
	 "__handle_changed_spte(): WARN unless is_mmio_spte(old) || is_mmio_spte(new) || "
	 "is_removed_spte(new); Linux v6.19 tdp_mmu.c handle_changed_spte()"},
	{"spte.nonpresent-value",
	 "a present SPTE is made non-present only by writing the profile's SHADOW_NONPRESENT_VALUE "
	 "(spec::nonpresent_spte: 0 before v6.10, BIT(63) on x86-64 from v6.10) or its frozen value "
	 "(spec::is_frozen_spte)",
	 "Linux 6.12 tdp_mmu.c: every zap writes SHADOW_NONPRESENT_VALUE (tdp_mmu_zap_leafs(), "
	 "__tdp_mmu_zap_root(), tdp_mmu_zap_spte_atomic()), handle_removed_pt() writes FROZEN_SPTE; "
	 "Linux 6.12 spte.h: SHADOW_NONPRESENT_VALUE is BIT_ULL(63) on x86-64, \"to suppress #VE and get EPT "
	 "violations on non-present PTEs\""},
	{"spte.writable",
	 "a new leaf keeps the writable invariant: MMU-writable implies host-writable and W implies "
	 "MMU-writable (spec::spte_writable_invariant)",
	 "spte.h check_spte_writable_invariants(), called by __handle_changed_spte() for a leaf; "
	 "Linux v6.19 spte.h, tdp_mmu.c handle_changed_spte()"},
	{"spte.unreachable",
	 "every traced entry belongs to a page table reachable from a root created in the trace, or to a table "
	 "being torn down",
	 "every new root is traced by kvm_mmu_get_page (tdp_mmu_init_sp()) and every link of a table by "
	 "kvm_tdp_mmu_spte_changed (tdp_mmu_link_sp()); " TRACE_README "\"No events from the KVM roots "
	 "themselves\"; Linux v6.19 mmutrace.h"},
	{"spte.fast-fix",
	 "a fast_page_fault fix (fixed 1) turns old into spec::fast_pf_fix_spte(old, write): it sets W, and "
	 "only on an MMU-writable present SPTE",
	 "Linux 6.1 mmu.c fast_page_fault(), fast_pf_fix_direct_spte(); " TRACE_README "\"The fast path "
	 "changes SPTEs without spte_changed\""},
	{"spte.set-spte-mismatch",
	 "kvm_mmu_set_spte reports *sptep just after the fault wrote it: the table at 'at' maps gfn at level "
	 "and holds spte",
	 "mmutrace.h kvm_mmu_set_spte (spte = *sptep, sptep = virt_to_phys(sptep)) from "
	 "tdp_mmu_map_handle_target_level(); " TRACE_README "\"Line formats\""},
	{"spte.split-mismatch",
	 "kvm_mmu_split_huge_page with errno 0 follows the traced link of a new table over the huge SPTE it "
	 "names, at its gfn and level",
	 "tdp_mmu_split_huge_page(): make_small_spte() for each child, tdp_mmu_link_sp(), then "
	 "trace_kvm_mmu_split_huge_page(gfn, huge_spte, level, ret); Linux v6.19 tdp_mmu.c"},
	{"spte.wrong-pfn",
	 "the leaf a fault installs at its goal level maps the PFN kvm_mmu_spte_requested announced, aligned "
	 "to the level (pfn_round_for_level)",
	 "kvm_tdp_mmu_map(): trace_kvm_mmu_spte_requested(fault) (pfn = fault->pfn | gfn offset), then "
	 "make_spte() with fault->pfn; Linux v6.19 tdp_mmu.c, mmutrace.h"},
	// ---- bugs of omission: the effect an announced operation must have had
	// when it returned (conform/announce.h, docs/conformance.md "Bugs of omission")
	{"omission.memslot-zap",
	 "when KVM_SET_USER_MEMORY_REGION deletes or moves a memslot and returns, no leaf SPTE of any root, valid or "
	 "invalid, maps a GFN of the slot's old range that no memslot covers",
	 "Linux 6.1.192 and 6.12.118 x86.c kvm_arch_flush_shadow_memslot() -> mmu.c kvm_mmu_zap_all_fast(), then "
	 "kvm_tdp_mmu_zap_invalidated_roots(): \"all SPTEs must be dropped before returning to the caller, e.g. if the zap "
	 "is in response to a memslot deletion\" (6.12 without KVM_X86_QUIRK_SLOT_ZAP_ALL: kvm_unmap_gfn_range() of the "
	 "slot)"},
	{"omission.notifier-zap",
	 "when madvise(MADV_DONTNEED) or munmap() of host memory that backs guest memory returns, no leaf SPTE of any root, "
	 "valid or invalid, maps a GFN that memory backed",
	 "Linux 6.1.192 and 6.12.118 virt/kvm/kvm_main.c kvm_mmu_notifier_invalidate_range_start() -> kvm_unmap_gfn_range() "
	 "-> tdp_mmu.c kvm_tdp_mmu_unmap_gfn_range(): __for_each_tdp_mmu_root_yield_safe(..., only_valid false), "
	 "tdp_mmu_zap_leafs()"},
	{"omission.dirty-log-enable",
	 "when KVM_MEM_LOG_DIRTY_PAGES is turned on for a memslot (not with KVM_DIRTY_LOG_INITIALLY_SET) and the ioctl "
	 "returns, no leaf SPTE of a valid root in the slot is writable (spec::is_writable_pte; with Intel EPT's PML a 4K "
	 "leaf may keep W with its dirty bit cleared instead)",
	 "Linux 6.1.192 and 6.12.118 x86.c kvm_mmu_slot_apply_flags(): kvm_mmu_slot_remove_write_access(kvm, new, "
	 "PG_LEVEL_4K) -> tdp_mmu.c kvm_tdp_mmu_wrprot_slot() over the valid roots, wrprot_gfn_range(); with "
	 "cpu_dirty_log_size (PML) kvm_mmu_slot_leaf_clear_dirty() and write-protection from PG_LEVEL_2M"},
	{"omission.dirty-log-protect",
	 "when KVM_GET_DIRTY_LOG (without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) or KVM_CLEAR_DIRTY_LOG returns, no leaf SPTE "
	 "of a valid root in the range is writable: a writable leaf was written since dirty logging protected it, so its "
	 "page is dirty and was protected again (spec::is_writable_pte; PML: a 4K leaf's dirty bit cleared instead)",
	 "Linux 6.1.192 and 6.12.118 virt/kvm/kvm_main.c kvm_get_dirty_log_protect(), kvm_clear_dirty_log_protect() -> "
	 "mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked(): kvm_mmu_write_protect_pt_masked() -> tdp_mmu.c "
	 "kvm_tdp_mmu_clear_dirty_pt_masked(..., wrprot), with KVM_DIRTY_LOG_INITIALLY_SET also "
	 "kvm_mmu_slot_gfn_write_protect(..., PG_LEVEL_2M) for huge leaves"},
	// ---- TDX (linux-6.19-tdx): the kind is the spec check of
	// spec/arborist/sept.hpp the traced call contradicts (conform/tdx.cpp)
	{"sept.status-mismatch",
	 "every SEAMCALL returns the status the spec's leaf (spec::sept_seamcall via hw::SimModule) returns on the "
	 "state the earlier calls left; a failure KVM does not tolerate is a KVM bug",
	 "TDX module 1.5: " MODULE "src/vmm_dispatcher/api_calls/tdh_*.c; Linux v6.19 tdx.c TDX_BUG_ON(), "
	 "tdh_do_no_vcpus(), tdx_sept_*()"},
	{"sept.not-blocked",
	 "removing, demoting or promoting a mapped S-EPT entry needs it BLOCKED first (spec::blocked_and_tracked_check, "
	 "sept_any_blocked)",
	 "TDX module 1.5: " MODULE "tdh_mem_page_remove.c, tdh_mem_sept_remove.c, tdh_mem_page_demote.c, "
	 "tdh_mem_page_promote.c (TDX_GPA_RANGE_NOT_BLOCKED); Linux v6.19 tdx.c tdx_sept_remove_private_spte(): BLOCK "
	 "before REMOVE"},
	{"sept.tlb-not-tracked",
	 "after BLOCK, TDH.MEM.TRACK must have run and every vCPU that was in the guest with the old epoch must have "
	 "left it before REMOVE/DEMOTE (spec::blocked_and_tracked_check, is_tlb_tracked)",
	 "TDX module 1.5: " MODULE "helpers.c is_tlb_tracked(), tdh_mem_track.c (TDX_TLB_TRACKING_NOT_DONE); Linux "
	 "v6.19 tdx.c tdx_track() + KVM_REQ_OUTSIDE_GUEST_MODE"},
	{"sept.children-not-free",
	 "an S-EPT page is removed only when all its entries are FREE (spec::tdh_mem_sept_remove, all_children_free)",
	 "TDX module 1.5: " MODULE "tdh_mem_sept_remove.c (TDX_EPT_PAGE_NOT_FREE); seed 000 (Sean Christopherson, "
	 "lore.kernel.org/r/Y9K4Mnx%2FJe4j+RsD@google.com)"},
	{"sept.walk",
	 "every entry above the target of an S-EPT leaf is NL_MAPPED (spec::sept_walk_ok)",
	 "TDX module 1.5: " MODULE "sept_manager.c secure_ept_walk() (TDX_EPT_WALK_FAILED)"},
	{"pamt.page-in-use",
	 "a page handed to the module (R8 of SEPT.ADD, PAGE.ADD, AUG, DEMOTE) is free in the PAMT (PT_NDA): no page "
	 "is mapped or used by the module twice (spec::new_page_check)",
	 "TDX module 1.5: " MODULE "helpers.c check_and_lock_explicit_private_hpa(), pamt_manager.c "
	 "(TDX_PAGE_METADATA_INCORRECT|R8)"},
	{"td.lifecycle",
	 "a SEAMCALL runs only in the TD lifecycle and OP_STATE its leaf allows: S-EPT leaves need "
	 "TD_KEYS_CONFIGURED (spec::td_state_check), KEY.FREEID needs TD_BLOCKED after CACHE.WB, RECLAIM needs "
	 "TD_TEARDOWN, the TD is built CREATE, KEY.CONFIG, ADDCX, MNG.INIT, VP.CREATE in order",
	 "TDX module 1.5: " MODULE "op_state_lookup.c, tdh_phymem_page_reclaim.c, tdh_mng_vpflushdone.c, "
	 "tdh_mng_key_freeid.c; Linux v6.19 tdx.c tdx_mmu_release_hkid(), tdx_vm_free(): the full teardown order"},
	{"td.vcpu-association",
	 "a vCPU runs on the logical CPU it is associated with: TDH.VP.INIT and TDH.VP.ENTER associate it with "
	 "theirs, it enters on another only after TDH.VP.FLUSH on the old one, and TDH.VP.FLUSH runs on the one it "
	 "is associated with (TDX_VCPU_ASSOCIATED, TDX_VCPU_NOT_ASSOCIATED)",
	 "TDX module 1.5 tdh_vp_init.c associate_vcpu_initial(), tdh_vp_enter.c check_and_associate_vcpu() and "
	 "helpers.c associate_vcpu(), tdh_vp_flush.c; Linux v6.19 tdx.c tdx_vcpu_load(), tdx_flush_vp_on_cpu(), "
	 "tdx_flush_vp()"},
	{"mirror.unsynced",
	 "when no external-hook operation is in flight, a present mirror leaf is a MAPPED or PENDING S-EPT leaf of "
	 "the same page, a mirror non-leaf an NL_MAPPED entry, a non-present mirror SPTE a FREE entry "
	 "(spec::mirror_hook_atomic/nonatomic say which hook a mirror change needs)",
	 "Linux v6.19 tdp_mmu.c set_external_spte_present(), tdp_mmu_set_spte(), handle_removed_pt(); "
	 "Linux v6.19 tdx.c tdx_sept_link_private_spt(), tdx_sept_set_private_spte(), tdx_sept_remove_private_spte()"},
	{"mirror.huge",
	 "a mirror leaf becomes a non-leaf only through split_external_spt with a successful TDH.MEM.PAGE.DEMOTE "
	 "(spec::mirror_hook_nonatomic gives split)",
	 "seed 001 (lore.kernel.org/r/20250424030744.435-1-yan.y.zhao@intel.com) and Yan Zhao's huge-page series v3 "
	 "(lore.kernel.org/r/20260106102055.25058-1-yan.y.zhao@intel.com) tdx_sept_split_private_spte(): BLOCK, TRACK, "
	 "DEMOTE; Linux v6.19 tdp_mmu.c kvm_tdp_mmu_map() KVM_BUG_ONs a split of a mirror SPTE"},
};

#undef TRACE_README
#undef MODULE

} // namespace

const std::vector<ViolationKind>& violation_kinds() { return KINDS; }

const ViolationKind& violation_kind(std::string_view kind)
{
	for (const ViolationKind& k : KINDS)
		if (k.kind == kind)
			return k;
	throw std::logic_error("unknown violation kind " + std::string(kind));
}

} // namespace arborist::conform
