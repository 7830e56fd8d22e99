// SPDX-License-Identifier: GPL-2.0-only
//
// The locks a SEAMCALL leaf of TDX module 1.5.01 takes, and which of them
// fail against the locks other logical processors hold.  The answer is a
// spec::Contention: the leaf rules of sept.hpp (and hw/'s VP.ENTER) check
// its flags in the module's order, so the BUSY status and operand ID a
// contended call returns come from the same rules as every other status.
//
// Facts: intel/tdx-module TDX_1.5.01 (docs/sources.md):
//  - src/common/helpers/tdx_locks.h: a sharex lock (TDR and page PAMT
//    entries, TDCS.secure_ept_lock, the TD epoch lock) fails when either
//    side is exclusive; OP_STATE is a host-priority sharex lock; the S-EPT
//    entry lock (TDEL) is a bit, exclusive (sept_lock_acquire_host);
//  - src/common/helpers/helpers.c: check_lock_and_map_explicit_tdr (BUSY|
//    the register holding the TDR), check_state_map_tdcs_and_lock (BUSY|
//    OP_STATE), lock_sept_check_and_walk_internal (BUSY|SEPT_TREE),
//    check_and_lock_* of explicit pages (BUSY|the register);
//  - the modes per leaf: src/vmm_dispatcher/api_calls/tdh_*.c and
//    src/td_transitions/tdh_vp_enter.c, cited in leaf_locks below.
#pragma once

#include <cstdint>
#include <span>

#include "arborist/abi/tdx.hpp"
#include "arborist/domain.hpp"
#include "arborist/sept.hpp"

namespace arborist::spec {

enum class LockMode : std::uint8_t { none, shared, exclusive };

// The module locks KVM's SEAMCALLs can meet.  Each instance is keyed: the
// TD's locks by its TDR, the entry lock by the entry (GPA | TDX level), a
// PAMT entry lock by the page's frame.
enum class ModuleLock : std::uint8_t {
	tdr,        // the TDR page's PAMT entry lock
	op_state,   // TDCS.management_fields.op_state_lock
	sept_tree,  // TDCS.executions_ctl_fields.secure_ept_lock
	sept_entry, // the entry's TDEL bit (host side)
	pamt,       // a page's PAMT entry lock
	td_epoch,   // TDCS.epoch_tracking.epoch_lock
	kot,        // the global KOT lock (global_data.kot.lock; one instance)
};

// What one leaf takes (TDX_LOCK_NO_LOCK, _SHARED, _EXCLUSIVE in the module).
struct LeafLocks {
	tdx_abi::Leaf leaf;
	LockMode tdr, op_state, tree, entry, pamt_target, pamt_r8, epoch;
	// TDH.VP.ENTER only: td_entry_stepping_filter() takes the S-EPT tree
	// exclusively when the vCPU's last TD exits were EPT violations at one
	// RIP (a suspected zero-step attack, td_exit_stepping.c).
	LockMode tree_stepping_filter = LockMode::none;
	LockMode kot = LockMode::none;
};

using LM = LockMode;

// Every leaf takes the TDR first (PAGE.ADD exclusively: "TDR is held
// exclusively" instead of the OP_STATE lock), then OP_STATE, the S-EPT tree
// for the walk, the target entry's host lock, then its PAMT entries.
inline constexpr LeafLocks leaf_locks[] = {
	// tdh_mem_sept_add.c: TDR sh, OP_STATE sh, tree sh, entry, new page (R8) ex
	{tdx_abi::Leaf::TDH_MEM_SEPT_ADD, LM::shared, LM::shared, LM::shared, LM::exclusive, LM::none, LM::exclusive, LM::none},
	// tdh_mem_page_add.c: TDR ex and nothing else on the TD; the new page (R8) ex
	{tdx_abi::Leaf::TDH_MEM_PAGE_ADD, LM::exclusive, LM::none, LM::none, LM::none, LM::none, LM::exclusive, LM::none},
	// tdh_mem_page_aug.c: TDR sh, OP_STATE sh, tree sh, entry, the page range (R8) ex
	{tdx_abi::Leaf::TDH_MEM_PAGE_AUG, LM::shared, LM::shared, LM::shared, LM::exclusive, LM::none, LM::exclusive, LM::none},
	// tdh_mem_range_block.c: TDR sh, OP_STATE sh, tree ex, entry (PAMT.BEPOCH written atomically, unlocked)
	{tdx_abi::Leaf::TDH_MEM_RANGE_BLOCK, LM::shared, LM::shared, LM::exclusive, LM::exclusive, LM::none, LM::none, LM::none},
	// tdh_mem_range_unblock.c: TDR sh, OP_STATE sh, tree ex, entry
	{tdx_abi::Leaf::TDH_MEM_RANGE_UNBLOCK, LM::shared, LM::shared, LM::exclusive, LM::exclusive, LM::none, LM::none, LM::none},
	// tdh_mem_track.c: TDR sh, OP_STATE sh, the TD epoch ex
	{tdx_abi::Leaf::TDH_MEM_TRACK, LM::shared, LM::shared, LM::none, LM::none, LM::none, LM::none, LM::exclusive},
	// tdh_mem_page_remove.c: TDR sh, OP_STATE sh, tree sh, entry, the removed page ex
	{tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE, LM::shared, LM::shared, LM::shared, LM::exclusive, LM::exclusive, LM::none, LM::none},
	// tdh_mem_sept_remove.c: TDR sh, OP_STATE sh, tree ex, entry, the removed S-EPT page ex
	{tdx_abi::Leaf::TDH_MEM_SEPT_REMOVE, LM::shared, LM::shared, LM::exclusive, LM::exclusive, LM::exclusive, LM::none, LM::none},
	// tdh_mem_page_demote.c: TDR sh, OP_STATE sh, tree sh, entry, the new S-EPT page (R8) ex, pamt_demote of the page
	{tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE, LM::shared, LM::shared, LM::shared, LM::exclusive, LM::exclusive, LM::exclusive, LM::none},
	// tdh_mem_page_promote.c: TDR sh, OP_STATE sh, tree sh, entry, the merged S-EPT page ex
	{tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE, LM::shared, LM::shared, LM::shared, LM::exclusive, LM::exclusive, LM::none, LM::none},
	// tdh_vp_enter.c: the TDVPR sh and the TDR sh (lock_and_map_implicit_tdr) until the TD exit;
	// OP_STATE sh ("locked in a temporary mode; it is released before entering non-root mode");
	// the epoch sh inside adjust_tlb_tracking_state; the tree ex only in the stepping filter,
	// released before the entry
	{tdx_abi::Leaf::TDH_VP_ENTER, LM::shared, LM::shared, LM::none, LM::none, LM::none, LM::none, LM::shared,
	 LM::exclusive},
	// tdh_mr_extend.c tdh_mr_extend(): check_lock_and_map_explicit_tdr(RDX, TDX_LOCK_EXCLUSIVE);
	// check_state_map_tdcs_and_lock(.., TDX_LOCK_NO_LOCK, ..): no OP_STATE lock; "SEPT tree is
	// implicitly locked in exclusive mode, since TDR is exclusively locked": no tree lock
	{tdx_abi::Leaf::TDH_MR_EXTEND, LM::exclusive, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none},
	// tdh_mr_finalize.c tdh_mr_finalize(): the TDR (RCX) exclusively, OP_STATE not locked
	{tdx_abi::Leaf::TDH_MR_FINALIZE, LM::exclusive, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none},
	// tdh_vp_flush.c tdh_vp_flush(): check_and_lock_explicit_4k_private_hpa(TDVPR, RCX,
	// TDX_LOCK_EXCLUSIVE), then lock_and_map_implicit_tdr(OPERAND_ID_TDR, TDX_LOCK_SHARED);
	// the TDCS is mapped without a lock ("No need to lock")
	{tdx_abi::Leaf::TDH_VP_FLUSH, LM::shared, LM::none, LM::none, LM::none, LM::exclusive, LM::none, LM::none, LM::none, LM::none},
	// tdh_mng_vpflushdone.c tdh_mng_vpflushdone(): the TDR (RCX) exclusively, then
	// acquire_sharex_lock_ex(&kot.lock) (BUSY|KOT)
	{tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE, LM::exclusive, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::exclusive},
	// tdh_mng_key_freeid.c tdh_mng_key_freeid(): the TDR (RCX) exclusively, the lifecycle
	// check, then acquire_sharex_lock_ex(&kot.lock) (BUSY|KOT)
	{tdx_abi::Leaf::TDH_MNG_KEY_FREEID, LM::exclusive, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::exclusive},
	// tdh_phymem_cache_wb.c tdh_phymem_cache_wb(): the WBT entry's mutex (BUSY|WBCACHE; one
	// per package cache sub-block, so only two CACHE.WBs of one package meet on it), then
	// acquire_sharex_lock_sh(&kot.lock) (BUSY|KOT)
	{tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::none, LM::shared},
	// tdh_phymem_page_reclaim.c tdh_phymem_page_reclaim(): pamt_walk(page, TDX_LOCK_EXCLUSIVE)
	// (BUSY|RCX), then -- unless the page is the TDR -- lock_and_map_implicit_tdr(owner,
	// OPERAND_ID_TDR, TDX_LOCK_SHARED) to update CHLDCNT
	{tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM, LM::shared, LM::none, LM::none, LM::none, LM::exclusive, LM::none, LM::none, LM::none, LM::none},
	// tdh_phymem_page_wbinvd.c tdh_phymem_page_wbinvd(): check_and_lock_explicit_4k_private_hpa(
	// page, RCX, TDX_LOCK_SHARED), nothing of the TD
	{tdx_abi::Leaf::TDH_PHYMEM_PAGE_WBINVD, LM::none, LM::none, LM::none, LM::none, LM::shared, LM::none, LM::none, LM::none, LM::none},
};


// The guest side of the S-EPT entry lock.  TDG.MEM.PAGE.ACCEPT
// (td_dispatcher/vm_exits/tdg_mem_page_accept.c check_tdaccept_failure())
// walks without the tree lock (the guest runs under TLB tracking) and takes
// the target entry's TDEL bit with sept_lock_acquire_guest() (tdx_locks.h):
// TDX_OPERAND_BUSY when another logical processor holds it, and
// TDX_OPERAND_BUSY_HOST_PRIORITY when it is free but its TDHP bit is set --
// sept_lock_acquire_host() sets TDHP when a SEAMCALL finds the entry locked
// and clears it when a SEAMCALL takes it, so that a host call that lost the
// entry to the guest gets it on its retry.  ACCEPT returns either with
// OPERAND_ID_RCX.
enum class GuestEntryLock : std::uint8_t { acquired, busy, busy_host_priority };

constexpr GuestEntryLock sept_lock_acquire_guest(bool held_by_another, bool host_priority)
{
	if (held_by_another)
		return GuestEntryLock::busy;
	return host_priority ? GuestEntryLock::busy_host_priority : GuestEntryLock::acquired;
}

constexpr const LeafLocks* leaf_locks_of(tdx_abi::Leaf leaf)
{
	for (const LeafLocks& l : leaf_locks)
		if (l.leaf == leaf)
			return &l;
	return nullptr;
}

// acquire_sharex_lock_sh/_ex, sept_lock_acquire_host: two holders conflict
// unless both are shared.
constexpr bool lock_conflicts(LockMode held, LockMode want)
{
	return held != LockMode::none && want != LockMode::none &&
	       (held == LockMode::exclusive || want == LockMode::exclusive);
}

// One lock held by a call in flight on logical processor `owner`.
struct HeldLock {
	ModuleLock lock;
	std::uint64_t key;
	LockMode mode;
	std::uint32_t owner;
	constexpr bool operator==(const HeldLock&) const = default;
	constexpr auto operator<=>(const HeldLock&) const = default;
};

// The instances one call would lock: the TD (TDR, OP_STATE, tree, epoch),
// the target entry, the target page and the R8 page.  0: none.
struct LockKeys {
	std::uint64_t td = 0;
	std::uint64_t entry = 0;
	std::uint64_t target_pfn = 0;
	std::uint64_t r8_pfn = 0;
	bool stepping_filter = false; // VP.ENTER: the zero-step filter runs
};

// The KOT is one lock for the whole module (global_data.kot.lock).
inline constexpr std::uint64_t KOT_KEY = 1;

// The locks a call takes, as HeldLocks of `owner`; at most 8.
struct LockSet {
	HeldLock l[8]{};
	unsigned n = 0;
	constexpr void add(ModuleLock k, std::uint64_t key, LockMode m, std::uint32_t owner)
	{
		if (m != LockMode::none && key != 0 && n < 8)
			l[n++] = {k, key, m, owner};
	}
	constexpr std::span<const HeldLock> locks() const { return {l, n}; }
};

constexpr LockSet locks_taken(const LeafLocks& ll, const LockKeys& k, std::uint32_t owner)
{
	LockSet s;
	s.add(ModuleLock::tdr, k.td, ll.tdr, owner);
	s.add(ModuleLock::op_state, k.td, ll.op_state, owner);
	s.add(ModuleLock::sept_tree, k.td, k.stepping_filter ? ll.tree_stepping_filter : ll.tree, owner);
	s.add(ModuleLock::sept_entry, k.entry, ll.entry, owner);
	s.add(ModuleLock::pamt, k.target_pfn, ll.pamt_target, owner);
	s.add(ModuleLock::pamt, k.r8_pfn, ll.pamt_r8, owner);
	s.add(ModuleLock::td_epoch, k.td, ll.epoch, owner);
	s.add(ModuleLock::kot, KOT_KEY, ll.kot, owner);
	return s;
}

// Which of the call's acquisitions fail against what other logical
// processors hold.  The leaf rule turns the flags into its BUSY status
// and operand ID (the first failing check decides).  Both PAMT locks of a
// leaf map to the one pamt flag, whose operand the rule names (RCX for the
// removed or demoted page, R8 for a new page).
constexpr Contention<Concrete> contention(const LockSet& want, std::span<const HeldLock> held)
{
	Contention<Concrete> c{};
	for (const HeldLock& w : want.locks())
		for (const HeldLock& h : held) {
			if (h.owner == w.owner || h.lock != w.lock || h.key != w.key || !lock_conflicts(h.mode, w.mode))
				continue;
			switch (w.lock) {
			case ModuleLock::tdr: c.tdr = true; break;
			case ModuleLock::op_state: c.op_state = true; break;
			case ModuleLock::sept_tree: c.tree = true; break;
			case ModuleLock::sept_entry: c.entry = true; break;
			case ModuleLock::pamt: c.pamt = true; break;
			case ModuleLock::td_epoch: c.epoch = true; break;
			case ModuleLock::kot: c.kot = true; break;
			}
		}
	return c;
}

// Contention from two sources (injected and held locks).
constexpr Contention<Concrete> operator|(const Contention<Concrete>& a, const Contention<Concrete>& b)
{
	return {a.tdr || b.tdr,   a.op_state || b.op_state, a.tree || b.tree, a.entry || b.entry,
		a.pamt || b.pamt, a.epoch || b.epoch,       a.kot || b.kot};
}

constexpr bool any(const Contention<Concrete>& c)
{
	return c.tdr || c.op_state || c.tree || c.entry || c.pamt || c.epoch || c.kot;
}

constexpr std::string_view module_lock_name(ModuleLock l)
{
	switch (l) {
	case ModuleLock::tdr: return "TDR";
	case ModuleLock::op_state: return "OP_STATE";
	case ModuleLock::sept_tree: return "S-EPT tree";
	case ModuleLock::sept_entry: return "S-EPT entry";
	case ModuleLock::pamt: return "PAMT entry";
	case ModuleLock::td_epoch: return "TD epoch";
	case ModuleLock::kot: return "KOT";
	}
	return "?";
}

} // namespace arborist::spec
