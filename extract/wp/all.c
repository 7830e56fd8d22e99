// SPDX-License-Identifier: GPL-2.0-only
//
// The Frama-C WP harness of the extracted headers (extract/wp/run_wp.cmake)
// and their C99 compile check (CMake target arborist_extract_c99).
//
// It includes every generated header, so WP proves every contract in them,
// and calls each function once from a caller per header (wp_use_<header>),
// so WP also proves each call's preconditions: the contracts compose as a
// kernel caller would use them.  Each caller's own contract is only
// `assigns \nothing`, the property the kernel style needs of the headers.
#include "arborist/gfn.h"
#include "arborist/mirror_hook.h"
#include "arborist/root.h"
#include "arborist/sept.h"
#include "arborist/sept_flags.h"
#include "arborist/spte_ept.h"
#include "arborist/spte_npt.h"
#include "arborist/tlb.h"

/*@ assigns \nothing; */
uint64_t wp_use_spte_ept(uint64_t spte, uint64_t pfn, bool flag)
{
	uint64_t acc = ept_v6_19_spte_to_pfn(spte);
	const uint64_t leaf = ept_v6_19_make_spte(pfn, 1, flag, true, flag);
	const uint64_t table = ept_v6_19_make_nonleaf_spte(pfn << 12, flag);
	const uint64_t huge = ept_v6_19_make_spte(pfn, 2, true, true, true);
	const uint64_t child = ept_v6_19_make_small_spte(huge, 1, 511);

	acc += ept_v6_19_is_shadow_present_pte(spte) + ept_v6_19_is_frozen_spte(spte);
	acc += ept_v6_19_is_large_pte(spte) + ept_v6_19_is_last_spte(spte, 4);
	acc += ept_v6_19_is_writable_pte(leaf) + ept_v6_19_is_mmu_writable_spte(leaf);
	acc += ept_v6_19_is_host_writable_spte(leaf) + ept_v6_19_spte_writable_invariant(leaf);
	acc += ept_v6_19_leaf_spte_change_needs_tlb_flush(leaf, ept_v6_19_make_wrprot_spte(leaf));
	acc += ept_v6_19_make_huge_spte(child, 2) + ept_v6_19_fast_pf_fix_spte(spte, flag) + table;
	return acc;
}

/*@ assigns \nothing; */
uint64_t wp_use_spte_npt(uint64_t spte, uint64_t pfn, bool flag)
{
	uint64_t acc = npt_v6_1_spte_to_pfn(spte);
	const uint64_t leaf = npt_v6_1_make_spte(pfn, 3, flag, flag, true);
	const uint64_t table = npt_v6_1_make_nonleaf_spte(pfn << 12, flag);
	const uint64_t huge = npt_v6_1_make_spte(pfn, 3, true, true, false);
	const uint64_t child = npt_v6_1_make_small_spte(huge, 2, 0);

	acc += npt_v6_1_is_shadow_present_pte(spte) + npt_v6_1_is_frozen_spte(spte);
	acc += npt_v6_1_is_large_pte(spte) + npt_v6_1_is_last_spte(spte, 1);
	acc += npt_v6_1_is_writable_pte(leaf) + npt_v6_1_is_mmu_writable_spte(leaf);
	acc += npt_v6_1_is_host_writable_spte(leaf) + npt_v6_1_spte_writable_invariant(leaf);
	acc += npt_v6_1_leaf_spte_change_needs_tlb_flush(leaf, npt_v6_1_make_wrprot_spte(leaf));
	acc += npt_v6_1_make_huge_spte(child, 3) + npt_v6_1_fast_pf_fix_spte(spte, flag) + table;
	return acc;
}

/*@ assigns \nothing; */
uint64_t wp_use_gfn(uint64_t addr, uint64_t gfn, bool flag)
{
	uint64_t acc = arborist_pwl4_gfn_direct_bits() + arborist_pwl5_gfn_direct_bits();

	acc += arborist_pwl4_kvm_gfn_root_bits(flag) + arborist_pwl5_kvm_gfn_root_bits(!flag);
	acc += arborist_pwl4_fault_gfn(addr) + arborist_pwl5_fault_gfn(addr);
	acc += arborist_pwl4_gfn_add_shared(gfn) + arborist_pwl5_gfn_add_shared(gfn);
	acc += arborist_pwl4_kvm_is_addr_direct(addr) + arborist_pwl5_kvm_is_addr_direct(addr);
	acc += arborist_pwl4_fault_uses_mirror_root(addr) + arborist_pwl5_fault_uses_mirror_root(addr);
	acc += arborist_pages_per_hpage(3) + arborist_spte_index(addr, 5);
	acc += arborist_tdp_iter_index(gfn, arborist_pwl4_gfn_direct_bits(), 4);
	acc += arborist_gfn_round_for_level(gfn, 2) + arborist_tdp_iter_start_ok(gfn, 0);
	return acc;
}

/*@ assigns \nothing; */
uint64_t wp_use_tlb(uint64_t refcount0, uint64_t refcount1, uint64_t bepoch, bool busy)
{
	uint64_t acc = arborist_is_tlb_tracked(2, refcount0, refcount1, bepoch);

	acc += arborist_mem_track_status(1, refcount0, refcount1, busy);
	acc += arborist_mem_track_new_epoch(1, refcount0, refcount1, busy);
	return acc;
}

/*@ assigns \nothing; */
uint64_t wp_use_root(uint64_t refcount, bool flag)
{
	const struct arborist_root_state s = {
		.allocated = true, .refcount = refcount, .mmu_ref = flag, .task_refs = 1, .invalid = !flag,
		.scheduled_to_zap = false, .on_list = true, .rcu_queued = false, .freed = false,
	};
	uint64_t acc = arborist_root_get_enabled(&s) + arborist_root_get_ok(&s);

	acc += arborist_root_put_enabled(&s) + arborist_root_put_ref_bug(&s);
	acc += arborist_root_put_ref_last(&s) + arborist_root_zap_invalidated_bug(&s);
	acc += arborist_root_invariant(&s);
	return acc;
}

/*@ assigns \nothing; */
uint64_t wp_use_mirror_hook(uint64_t old_spte, uint64_t new_spte, bool flag)
{
	return ept_v6_19_mirror_hook_for_change(old_spte, new_spte, 1, flag, !flag);
}

/*@ assigns \nothing; */
uint64_t wp_use_sept_flags(uint64_t state, uint64_t op_state, uint64_t bepoch)
{
	uint64_t acc = arborist_sept_is_leaf(state) + arborist_sept_any_blocked(state);

	acc += arborist_sept_tlb_tracking_required(state) + arborist_op_state_tlb_tracking_required(op_state);
	acc += arborist_sept_blocked_and_tracked_status(op_state, state, 5, 0, 1, bepoch);
	return acc;
}

/*@ assigns \nothing; */
uint64_t wp_use_sept(uint64_t entry, uint64_t level, uint64_t op_state, bool flag)
{
	uint64_t page[ARBORIST_SEPT_FANOUT] = {0};
	const struct arborist_sept_view s = {
		.td = {.lifecycle = ARBORIST_LIFECYCLE_TD_KEYS_CONFIGURED, .op_state = op_state, .fatal = false,
		       .tdcs_allocated = true, .chldcnt = 8, .num_vcpus = 1, .num_assoc_vcpus = 0,
		       .wbinvd_pending = flag, .epoch = {.td_epoch = 3, .refcount0 = 0, .refcount1 = 1}},
		.path = {entry, 0, 0, 0, 0},
		.child0 = page[0],
		.children_free = arborist_sept_children_free(page),
		.children_uniform = arborist_sept_children_uniform(page),
		.target = {.pt = ARBORIST_PT_REG, .bepoch = 2},
		.operand_pt = ARBORIST_PT_NDA,
	};
	const struct arborist_sept_args a = {.level = level, .page_info_ok = true, .allow_existing = flag,
					     .source_ok = true, .promote_ok = flag, .busy = {.entry = flag}};
	uint64_t acc = arborist_sept_target(s, level) + arborist_pwl4_sept_walk_ok(s, level) +
		       arborist_pwl5_sept_walk_ok(s, level);

	acc += arborist_pwl4_tdh_mem_sept_add(s, a).status + arborist_pwl5_tdh_mem_sept_add(s, a).status;
	acc += arborist_pwl4_tdh_mem_page_add(s, a).status + arborist_pwl5_tdh_mem_page_add(s, a).status;
	acc += arborist_pwl4_tdh_mem_page_aug(s, a).status + arborist_pwl5_tdh_mem_page_aug(s, a).status;
	acc += arborist_pwl4_tdh_mem_range_block(s, a).status + arborist_pwl5_tdh_mem_range_block(s, a).status;
	acc += arborist_pwl4_tdh_mem_range_unblock(s, a).status + arborist_pwl5_tdh_mem_range_unblock(s, a).status;
	acc += arborist_tdh_mem_track(s, a).status;
	acc += arborist_pwl4_tdh_mem_page_remove(s, a).status + arborist_pwl5_tdh_mem_page_remove(s, a).status;
	acc += arborist_pwl4_tdh_mem_sept_remove(s, a).status + arborist_pwl5_tdh_mem_sept_remove(s, a).status;
	acc += arborist_pwl4_tdh_mem_page_demote(s, a).status + arborist_pwl5_tdh_mem_page_demote(s, a).status;
	acc += arborist_pwl4_tdh_mem_page_promote(s, a).status + arborist_pwl5_tdh_mem_page_promote(s, a).status;
	acc += arborist_pwl4_tdh_mr_extend(s, a).status + arborist_pwl5_tdh_mr_extend(s, a).status;
	acc += arborist_tdh_mr_finalize(s, a).status + arborist_tdh_mng_vpflushdone(s, a).status;
	acc += arborist_tdh_phymem_cache_wb(s, a).status + arborist_tdh_mng_key_freeid(s, a).status;
	acc += arborist_tdh_phymem_page_reclaim(s, a).status;
	return acc;
}
