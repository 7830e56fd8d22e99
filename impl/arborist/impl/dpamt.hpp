// SPDX-License-Identifier: GPL-2.0-only
//
// The kernel side of Dynamic PAMT: per-2 MiB refcounts and pamt_lock, with
// tdx_pamt_get() adding the region's PAMT page pair on 0->1 and
// tdx_pamt_put() removing it on 1->0, as stepped machines (one step per
// atomic action: a refcount operation, a lock acquire or release, a
// SEAMCALL) so the model checker can race them (proofs/arborist/mc/
// dpamt_system.hpp).  Not in Linux v6.19: "[PATCH v4 00/16] TDX: Enable
// Dynamic PAMT" (Rick Edgecombe, 21 Nov 2025,
// https://lore.kernel.org/all/20251121005125.417831-1-rick.p.edgecombe@intel.com/),
// arch/x86/virt/vmx/tdx/tdx.c; the module side is hw/arborist/hw/dynamic_pamt.hpp.
//
// Variants (PamtRefcount):
//  - global_lock: "Serialize the refcount check and SEAMCALL with a global
//    spinlock so the read-decide-act sequence is atomic" ("[PATCH v6 05/11]
//    x86/virt/tdx: Handle concurrent callers in tdx_pamt_get/put()");
//  - fast_path: "Optimize tdx_alloc/free_page() helpers" ([PATCH v4 08/16]):
//    atomic_inc_not_zero() and atomic_dec_and_test() outside the lock, the
//    0->1 and 1->0 transitions under it, re-checked there; a PAMT.ADD that
//    finds the pair still installed (TDX_HPA_RANGE_NOT_FREE: "current task
//    won race against tdx_pamt_put()") counts as success;
//  - unlocked (known-bad): the fast path without pamt_lock: a put's 1->0
//    racing a get's 0->1 removes the pair the get just counted on;
//  - fast_path_range_busy_fatal (known-bad): the fast path with every
//    PAMT.ADD error fatal, as the global-lock version may have it.
#pragma once

#include <cstdint>
#include <vector>

#include "arborist/hw/dynamic_pamt.hpp"

namespace arborist::impl {

enum class PamtRefcount : std::uint8_t { global_lock, fast_path, unlocked, fast_path_range_busy_fatal };

// The kernel's state: one refcount per 2M region (tdx_find_pamt_refcount()),
// pamt_lock, and the first failure the kernel would report (WARN,
// KVM_BUG_ON, pr_err of a SEAMCALL status), for the properties.
struct PamtKernel {
	std::vector<int> refcount;
	int lock_owner = -1; // the task holding pamt_lock, -1: free
	const char* failure = nullptr;
	constexpr bool operator==(const PamtKernel&) const = default;

	constexpr void fail(const char* what)
	{
		if (!failure)
			failure = what;
	}
};

// The environment a get or put steps in.
struct PamtEnv {
	PamtKernel& k;
	hw::DynamicPamt& m;
	PamtRefcount v;
	int task;
	std::uint64_t last_status = 0; // the step's SEAMCALL status, for the description
	bool seamcall = false;
};

// One step of tdx_pamt_get()/tdx_pamt_put(); the pc names the next action.
struct PamtOp {
	enum : std::uint8_t { START, LOCK, RECHECK, SEAMCALL, SET, UNLOCK, DONE };
	std::uint8_t pc = START;
	bool put = false;
	unsigned region = 0;
	std::uint64_t region_pa = 0;
	std::uint64_t pair0 = 0, pair1 = 0; // the pages tdx_alloc_pamt_pages() gave this task
	int ret = 0;
	constexpr bool operator==(const PamtOp&) const = default;

	static constexpr bool locked(PamtRefcount v) { return v != PamtRefcount::unlocked; }

	// Whether the next step can run now: only spin_lock() waits (the
	// global-lock version takes it first thing).
	constexpr bool enabled(const PamtKernel& k, PamtRefcount v) const
	{
		const bool takes_lock = pc == LOCK || (pc == START && v == PamtRefcount::global_lock);
		return !takes_lock || !locked(v) || k.lock_owner < 0;
	}

	// Runs one step; returns a short description of what it did.
	constexpr const char* step(PamtEnv& e) { return put ? put_step(e) : get_step(e); }

private:
	constexpr int& ref(PamtEnv& e) const { return e.k.refcount[region]; }

	constexpr const char* lock(PamtEnv& e, std::uint8_t next)
	{
		pc = next;
		if (!locked(e.v))
			return step(e); // no lock: the next action is this step
		e.k.lock_owner = e.task;
		return "spin_lock(&pamt_lock)";
	}
	constexpr const char* unlock(PamtEnv& e)
	{
		pc = DONE;
		if (locked(e.v))
			e.k.lock_owner = -1;
		return "spin_unlock(&pamt_lock)";
	}

	// tdx_pamt_get() (and tdx_pamt_add()).
	constexpr const char* get_step(PamtEnv& e)
	{
		switch (pc) {
		case START:
			if (e.v == PamtRefcount::global_lock)
				return lock(e, RECHECK);
			// "If the pamt page is already added (i.e. refcount >= 1), then
			// just increment the refcount."
			if (ref(e) > 0) {
				ref(e)++;
				pc = DONE;
				return "atomic_inc_not_zero(pamt_refcount): incremented";
			}
			pc = LOCK;
			return "atomic_inc_not_zero(pamt_refcount): zero, tdx_alloc_pamt_pages()";
		case LOCK: return lock(e, RECHECK);
		case RECHECK:
			// "Lost race to other tdx_pamt_add(). Other task has already
			// allocated PAMT memory for the HPA."
			if (ref(e) != 0) {
				ref(e)++;
				pc = locked(e.v) ? UNLOCK : DONE;
				return "atomic_read(pamt_refcount) != 0: atomic_inc, the pages freed";
			}
			pc = SEAMCALL;
			return "atomic_read(pamt_refcount) == 0";
		case SEAMCALL: {
			e.seamcall = true;
			e.last_status = e.m.pamt_add(region_pa | 1, pair0, pair1);
			const bool range_busy = (e.last_status & tdx_abi::TDX_SEAMCALL_STATUS_MASK) ==
						tdx_abi::status::TDX_HPA_RANGE_NOT_FREE;
			const bool tolerated = range_busy && e.v != PamtRefcount::global_lock &&
					       e.v != PamtRefcount::fast_path_range_busy_fatal;
			if (e.last_status != tdx_abi::status::TDX_SUCCESS && !tolerated) {
				e.k.fail("tdx_pamt_add: TDH.PHYMEM.PAMT.ADD failed (WARN, -EIO)");
				ret = -5; // -EIO
				pc = locked(e.v) ? UNLOCK : DONE;
				return "tdh_phymem_pamt_add";
			}
			if (e.v == PamtRefcount::global_lock) { // atomic_set() under the lock, one step
				ref(e) = 1;
				pc = UNLOCK;
				return "tdh_phymem_pamt_add, atomic_set(pamt_refcount, 1)";
			}
			pc = SET;
			return "tdh_phymem_pamt_add";
		}
		case SET:
			// "The refcount is zero, and this locked path is the only way to
			// increase it from 0-1."
			ref(e) = 1;
			pc = locked(e.v) ? UNLOCK : DONE;
			return "atomic_set(pamt_refcount, 1)";
		case UNLOCK: return unlock(e);
		default: return "";
		}
	}

	// tdx_pamt_put().
	constexpr const char* put_step(PamtEnv& e)
	{
		switch (pc) {
		case START:
			if (e.v == PamtRefcount::global_lock)
				return lock(e, RECHECK);
			if (--ref(e) != 0) {
				pc = DONE;
				return "atomic_dec_and_test(pamt_refcount): not zero";
			}
			pc = LOCK;
			return "atomic_dec_and_test(pamt_refcount): zero";
		case LOCK: return lock(e, RECHECK);
		case RECHECK:
			if (e.v == PamtRefcount::global_lock && --ref(e) != 0) {
				pc = UNLOCK;
				return "pamt_refcount-- under the lock: not zero";
			}
			// "Lost race against tdx_pamt_add()?"
			if (e.v != PamtRefcount::global_lock && ref(e) != 0) {
				pc = locked(e.v) ? UNLOCK : DONE;
				return "atomic_read(pamt_refcount) != 0: lost the race to tdx_pamt_add()";
			}
			pc = SEAMCALL;
			return e.v == PamtRefcount::global_lock ? "pamt_refcount-- under the lock: zero"
								 : "atomic_read(pamt_refcount) == 0";
		case SEAMCALL: {
			e.seamcall = true;
			std::uint64_t rdx = 0, r8 = 0;
			e.last_status = e.m.pamt_remove(region_pa | 1, &rdx, &r8);
			if (e.last_status != tdx_abi::status::TDX_SUCCESS) {
				// v4: "atomic_inc(pamt_refcount); pr_err(...)"
				e.k.fail("tdx_pamt_put: TDH.PHYMEM.PAMT.REMOVE failed (pr_err)");
				if (e.v != PamtRefcount::global_lock)
					ref(e)++;
			}
			pc = locked(e.v) ? UNLOCK : DONE;
			return "tdh_phymem_pamt_remove";
		}
		case UNLOCK: return unlock(e);
		default: return "";
		}
	}
};

} // namespace arborist::impl
