// SPDX-License-Identifier: GPL-2.0-only
//
// The executable TDP MMU: Linux v6.19 arch/x86/kvm/mmu/tdp_mmu.c with
// direct and mirror roots, over the spec's SPTE and GFN rules
// (spec/arborist/spte.hpp, gfn.hpp) and the external page-table hooks
// (impl/arborist/impl/hooks.hpp).  Facts and function contracts:
// Linux v6.19 arch/x86/kvm/mmu/tdp_mmu.c (docs/sources.md).
//
// Every operation here runs whole: one call is one kernel call, and every
// shared-memory access goes through the small set of primitives at the top
// of the class (read, cmpxchg, xchg and WRITE_ONCE of an SPTE, lock
// assertions, call_rcu), which is the atomicity granularity the stepped
// model checker interleaves.  Variants from the seeds are selected in
// Variants and named after the thread that proposed them.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arborist/gfn.hpp"
#include "arborist/impl/events.hpp"
#include "arborist/impl/hooks.hpp"
#include "arborist/impl/mmu_page.hpp"
#include "arborist/impl/root_ops.hpp"
#include "arborist/impl/tdp_iter.hpp"
#include "arborist/mirror_hook.hpp"
#include "arborist/root.hpp"
#include "arborist/spte.hpp"

namespace arborist::impl {

// enum kvm_tdp_mmu_root_types
enum RootTypes : unsigned {
	KVM_INVALID_ROOTS = 1u << 0,
	KVM_DIRECT_ROOTS = 1u << 1,
	KVM_MIRROR_ROOTS = 1u << 2,
	KVM_VALID_ROOTS = KVM_DIRECT_ROOTS | KVM_MIRROR_ROOTS,
	KVM_ALL_ROOTS = KVM_VALID_ROOTS | KVM_INVALID_ROOTS,
};

// mmu_internal.h
enum RetPf : int {
	RET_PF_CONTINUE = 0, RET_PF_RETRY, RET_PF_EMULATE, RET_PF_WRITE_PROTECTED, RET_PF_INVALID,
	RET_PF_FIXED, RET_PF_SPURIOUS,
};

// The kernel's names of the return values these functions give: 0, the
// errnos they use, or a number.
inline std::string errno_name(int r)
{
	switch (r) {
	case 0: return "0";
	case -EBUSY: return "-EBUSY";
	case -EIO: return "-EIO";
	case -ENOMEM: return "-ENOMEM";
	default: return std::to_string(r);
	}
}

// A page fault's RET_PF_* (kvm_tdp_mmu_map, kvm_mmu_do_page_fault), or the
// errno it returned.
inline std::string ret_pf_name(int r)
{
	constexpr std::string_view names[] = {"RET_PF_CONTINUE", "RET_PF_RETRY", "RET_PF_EMULATE",
					      "RET_PF_WRITE_PROTECTED", "RET_PF_INVALID", "RET_PF_FIXED",
					      "RET_PF_SPURIOUS"};
	if (r >= 0 && static_cast<std::size_t>(r) < std::size(names))
		return std::string(names[r]);
	return errno_name(r);
}

// -EBUSY, -ENOMEM, -EIO: the kernel and libc share these values.

struct Variants {
	// Page-table removal: v6.19 recursive handle_removed_pt(), or seed 000's
	// proposal: the RCU callback gets the pruned branch and zaps it.
	// For a TD, seed 000's proposal as made (rcu_block_parent: BLOCK the
	// parent S-EPT entry, TRACK, then the callback removes the children) and
	// as corrected in the thread (rcu_block_children: every entry of the
	// branch blocked, children first, then the parent); rcu_deferred is the
	// callback with v6.19's hooks.
	enum class Removal : std::uint8_t {
		recursive_v6_19,
		rcu_deferred,
		rcu_block_parent,
		rcu_block_children,
	} removal = Removal::recursive_v6_19;
	// Mirror write path: v6.19 freezes the SPTE, then updates S-EPT; seed 000
	// questions doing the SEAMCALL first and the cmpxchg after.
	// Sean Christopherson's clarification in the same thread: the TDX hook
	// is called instead of the try_cmpxchg64() and freezes the SPTE itself
	// ("KVM TDX could do its own manipulation of the KVM-managed SPTEs
	// before the common/standard flow"), so the common code knows nothing
	// of FROZEN_SPTE.  Its atomic actions are v6.19's (cmpxchg to FROZEN_SPTE,
	// SEAMCALL, final write), made by the hook: the same machine here.
	enum class MirrorWrite : std::uint8_t {
		frozen_v6_19,
		seamcall_then_cmpxchg,
		hook_freezes,
	} mirror_write = MirrorWrite::frozen_v6_19;
	// CONFIG_KVM_PROVE_MMU: tdp_mmu_zap_root() skips the 4K and 2M passes.
	bool prove_mmu = false;
	// Root put: v6.19, or one of the two proposals of seed 003 (root_ops.hpp).
	PutRootVariant put_root = PutRootVariant::v6_19;
};

struct Config {
	spec::SpteFlavor flavor = spec::ept_v6_19;
	spec::Paging paging = spec::x86_paging_4level;
	bool is_td = false;                  // a TDX VM: mirror roots, shared bit
	spec::TdGeometry td = spec::td_pwl4; // its S-EPT geometry
	bool ad_enabled = true;              // kvm_ad_enabled
	u64 pt_base_pfn = 0x100000;          // frames of the page-table pool
	Variants variants{};
	// A TD with TdxVariants::private_huge_pages (td_mmu_config): mirror
	// leaves above 4K, split with split_external_spt (DEMOTE) from
	// tdp_mmu_set_spte() under exclusive mmu_lock.
	bool private_huge_pages = false;
	// Yield (cond_resched) after this many iterator steps in the zap and
	// split walks; 0 = never.  need_resched() is the environment's choice,
	// this makes it deterministic.
	u64 resched_every = 0;
};

// struct kvm_page_fault, the inputs kvm_tdp_mmu_map() uses.
struct PageFault {
	u64 addr = 0;             // fault->addr: keeps the TDX shared bit (seed 002)
	u64 pfn = 0;              // fault->pfn, resolved by the caller
	unsigned goal_level = 1;  // after kvm_mmu_hugepage_adjust()
	bool write = false;
	bool exec = true;
	bool prefetch = false;
	bool map_writable = true; // host-writable
};

// A vCPU's roots: mmu->root.hpa and mmu->mirror_root_hpa.
struct VcpuRoots {
	u32 direct = NO_SP;
	u32 mirror = NO_SP;
};

struct RcuCallback {
	enum class Kind : std::uint8_t { free_sp, zap_pruned_branch } kind;
	u32 sp;
};

enum class LockMode : std::uint8_t { none, read, write };

template <ExternalHooks Hooks>
class TdpMmu {
public:
	constexpr TdpMmu(const Config& c, Hooks& hooks) : cfg_(c), pt_(c.paging, c.pt_base_pfn), hooks_(hooks) {}
	// A copy of the whole MMU state bound to another hooks object: the model
	// checker copies a VM (TdVm's copy constructor) state by state.
	constexpr TdpMmu(const TdpMmu& o, Hooks& hooks)
		: cfg_(o.cfg_), pt_(o.pt_), hooks_(hooks), roots_(o.roots_), rcu_(o.rcu_), log_(o.log_), lock_(o.lock_),
		  concurrent_(o.concurrent_), tlb_flushes_(o.tlb_flushes_), bugs_(o.bugs_), resched_clock_(o.resched_clock_), yields_(o.yields_),
		  stats_(o.stats_)
	{
	}
	TdpMmu(const TdpMmu&) = delete;
	TdpMmu& operator=(const TdpMmu&) = delete;

	// The mmu_lock mode the calling task holds.  Whole calls take and drop
	// it themselves; the model checker sets it to the stepping thread's
	// mode before each step, since lock_ serves only lockdep assertions.
	constexpr LockMode lock_context() const { return lock_; }
	constexpr void set_lock_context(LockMode m) { lock_ = m; }
	// Other tasks step between this one's steps (the model checker, stepped
	// tests), so a task may wait for another: handle_removed_pt()'s spin on
	// a frozen child.  In whole calls no other task runs, and such a spin
	// would never end: it is reported as a bug instead.
	constexpr void set_concurrent(bool on) { concurrent_ = on; }

	// ---- state, read-only to callers -------------------------------------------
	constexpr const Config& config() const { return cfg_; }
	constexpr const PageTables& tables() const { return pt_; }
	constexpr PageTables& tables() { return pt_; } // failure injection (fail_allocs)
	constexpr const std::vector<u32>& roots() const { return roots_; }
	constexpr const std::vector<RcuCallback>& rcu_queue() const { return rcu_; }
	constexpr EventLog& log() { return log_; }
	constexpr const EventLog& log() const { return log_; }
	constexpr u64 remote_tlb_flushes() const { return tlb_flushes_; }
	constexpr u64 bugs() const { return bugs_; }
	constexpr u64 mapped_leaves(unsigned level) const { return level <= 5 ? stats_[level] : 0; }
	constexpr bool is_mirror(u32 sp) const { return pt_[sp].mirror; }
	constexpr u64 gfn_direct_bits() const
	{
		return cfg_.is_td ? spec::gfn_direct_bits(d(), cfg_.td) : 0;
	}
	// kvm_gfn_root_bits()
	constexpr u64 gfn_root_bits(u32 root) const { return pt_[root].mirror ? 0 : gfn_direct_bits(); }
	constexpr u64 nonpresent() const { return spec::nonpresent_spte(d(), cfg_.flavor); }
	constexpr u64 frozen() const { return spec::frozen_spte(d(), cfg_.flavor); }

	// ---- roots (section 3.1) -------------------------------------------------------

	// kvm_tdp_mmu_get_root(): refcount_inc_not_zero().  The same state
	// machine the model checker interleaves (root_ops.hpp), run whole.
	constexpr bool get_root(u32 root) { return run_whole(GetRootOp{root}, *this).ok; }

	// kvm_tdp_mmu_put_root(): the final put frees, through RCU; in v6.19 it
	// must never be the put of a valid root (the TDP MMU holds a reference
	// until it invalidates the root).  Seed 003's variants invalidate and
	// zap inside the put.
	constexpr void put_root(u32 root)
	{
		run_whole(PutRootOp{root, cfg_.variants.put_root, lock_ != LockMode::write}, *this);
	}

	// ---- RootHost: the atomic actions of root_ops.hpp ---------------------------
	constexpr u32& root_refcount(u32 root) { return pt_[root].root_count; }
	constexpr bool& root_invalid(u32 root) { return pt_[root].invalid; }
	constexpr void root_list_del(u32 root) { std::erase(roots_, root); }
	constexpr void root_call_rcu_free(u32 root) { call_rcu({RcuCallback::Kind::free_sp, root}); }
	constexpr void root_zap(u32 root, bool shared)
	{
		const LockMode saved = take_lock(shared ? LockMode::read : LockMode::write);
		zap_root(root, shared);
		lock_ = saved;
	}
	constexpr bool kvm_bug_on(bool cond, const char* what) { return bug_on(cond, what); }

	// kvm_tdp_mmu_alloc_root(vcpu, mirror): reuse a valid root of the same
	// role, else allocate one with "one reference for the vCPU, and one
	// reference for the TDP MMU itself".  Returns it with the caller's reference.
	constexpr u32 alloc_root(bool mirror)
	{
		for (u32 r : roots_)
			if (!pt_[r].invalid && pt_[r].mirror == mirror && get_root(r))
				return r;
		const u32 r = pt_.alloc(cfg_.paging.root_level, 0, mirror, nonpresent());
		MmuPage& sp = pt_[r];
		sp.root = true;
		sp.root_count = 2;
		if (mirror)
			sp.external_spt = 0; // the mirror root's S-EPT root is the TD's (TDCS page)
		roots_.insert(roots_.begin(), r); // list_add_rcu: at the head of tdp_mmu_roots
		log_.add({.kind = EventKind::get_page, .level = sp.level, .sp = r});
		return r;
	}

	// tdp_mmu_root_match()
	constexpr bool root_matches(u32 root, unsigned types) const
	{
		const MmuPage& sp = pt_[root];
		if (sp.invalid && !(types & KVM_INVALID_ROOTS))
			return false;
		return sp.mirror ? (types & KVM_MIRROR_ROOTS) != 0 : (types & KVM_DIRECT_ROOTS) != 0;
	}

	// kvm_tdp_mmu_invalidate_roots(): mark matching roots invalid and
	// scheduled; the TDP MMU's own reference is gifted to the zap.  Needs
	// mmu_lock for write (role.invalid is protected by mmu_lock).
	constexpr void invalidate_roots(unsigned types)
	{
		bug_on(types & KVM_INVALID_ROOTS, "kvm_tdp_mmu_invalidate_roots: KVM_INVALID_ROOTS passed");
		types &= ~KVM_INVALID_ROOTS;
		for (u32 r : roots_) {
			if (!root_matches(r, types) || pt_[r].invalid)
				continue;
			pt_[r].scheduled_root_to_zap = true;
			pt_[r].invalid = true;
		}
	}

	// kvm_tdp_mmu_zap_invalidated_roots(): zap every scheduled root, then put
	// the gifted reference "as the root must be reachable by mmu_notifiers
	// while it's being zapped".
	constexpr void zap_invalidated_roots(bool shared)
	{
		const LockMode saved = take_lock(shared ? LockMode::read : LockMode::write);
		ZapInvalidatedOp op{shared};
		while (op.step(*this) != OpStatus::done) {
		}
		lock_ = saved;
	}

	// kvm_mmu_uninit_tdp_mmu(): VM destruction.
	constexpr void uninit()
	{
		invalidate_roots(KVM_VALID_ROOTS);
		zap_invalidated_roots(false);
		bug_on(!roots_.empty(), "kvm_mmu_uninit_tdp_mmu: roots left on tdp_mmu_roots");
		rcu_barrier();
	}

	// ---- the vCPU's roots: kvm_mmu_load() / kvm_mmu_unload() ---------------

	// mmu_alloc_direct_roots(): the mirror root first (TDX), then the direct one.
	constexpr void load_roots(VcpuRoots& v)
	{
		if (cfg_.is_td && (v.mirror == NO_SP || pt_[v.mirror].invalid)) {
			if (v.mirror != NO_SP)
				put_root(v.mirror);
			v.mirror = alloc_root(true);
		}
		if (v.direct == NO_SP || pt_[v.direct].invalid) {
			if (v.direct != NO_SP)
				put_root(v.direct);
			v.direct = alloc_root(false);
		}
	}

	constexpr void unload_roots(VcpuRoots& v)
	{
		for (u32* r : {&v.mirror, &v.direct})
			if (*r != NO_SP) {
				put_root(*r);
				*r = NO_SP;
			}
	}

	// tdp_mmu_get_root_for_fault(): the mirror root for a private GPA.
	constexpr u32 root_for_fault(const VcpuRoots& v, const PageFault& f) const
	{
		if (cfg_.is_td && spec::fault_uses_mirror_root(d(), cfg_.td, f.addr))
			return v.mirror;
		return v.direct;
	}

	// fault->gfn: the address without the alias bit (kvm_mmu_do_page_fault()).
	constexpr u64 fault_gfn(const PageFault& f) const
	{
		return cfg_.is_td ? spec::fault_gfn(d(), cfg_.td, f.addr) : spec::gpa_to_gfn(d(), f.addr);
	}

	// kvm_tdp_mmu_page_fault(): is_page_fault_stale() then kvm_tdp_mmu_map()
	// under read_lock(mmu_lock).
	constexpr int page_fault(VcpuRoots& v, const PageFault& f)
	{
		load_roots(v);
		const u32 root = root_for_fault(v, f);
		const LockMode saved = take_lock(LockMode::read);
		const int r = pt_[root].invalid ? RET_PF_RETRY : map(root, f);
		lock_ = saved;
		return r;
	}

	// ---- the fault path (section 3.5) ------------------------------------------

	// kvm_tdp_mmu_map(): walk to goal_level, linking missing tables (and
	// splitting a huge page in the way) atomically, then install the leaf.
	// The whole call runs MapOp, the machine the model checker steps.
	constexpr int map(u32 root, const PageFault& f)
	{
		MapOp op{root, f};
		while (op.step(*this) != OpStatus::done) {
		}
		return op.ret;
	}

	// __tdp_mmu_set_spte_atomic() at the kernel's atomicity: for a mirror
	// SPTE, the cmpxchg to FROZEN_SPTE, the S-EPT SEAMCALL and the final
	// write are separate steps (v6.19 set_external_spte_present()); seed
	// 000's ordering is the SEAMCALL, then the cmpxchg.
	struct AtomicSet {
		enum : std::uint8_t { BEGIN, EXTERNAL, PUBLISH, CMPXCHG_AFTER, REMOVED_PT_SPIN };
		u64 new_spte = 0;
		std::uint8_t pc = BEGIN;
		std::uint8_t hook = 0; // spec::MirrorHook
		int ret = 0;
		constexpr bool operator==(const AtomicSet&) const = default;
	};

	// kvm_tdp_mmu_map() as a machine: one step() is one atomic action (an
	// SPTE read, a cmpxchg or write, a SEAMCALL), with the local decisions
	// between them.
	struct MapOp {
		enum : std::uint8_t { START, LOOP, LINK_SET, TARGET_SET, ADVANCE, DONE };
		u32 root = NO_SP;
		PageFault f{};
		TdpIter it{};
		u32 sp = NO_SP;    // the table being linked
		u64 gfn = 0;
		u64 old_leaf = 0;  // the target SPTE before the set, for the TLB flush
		AtomicSet set{};
		std::uint8_t pc = START;
		int ret = RET_PF_RETRY;

		constexpr OpStatus step(TdpMmu& m)
		{
			switch (pc) {
			case START:
				m.lockdep_held(LockMode::read);
				gfn = m.fault_gfn(f);
				m.bug_on(root == NO_SP || m.pt_[root].invalid, "kvm_tdp_mmu_map: no root or invalid root");
				m.log_.add({.kind = EventKind::spte_requested, .gfn = gfn, .level = f.goal_level, .pfn = f.pfn});
				m.start(it, root, spec::PG_LEVEL_4K, gfn); // reads the root's entry
				pc = LOOP;
				return OpStatus::running;
			case LOOP: return body(m);
			case ADVANCE:
				m.next(it); // step down into the table just linked
				pc = LOOP;
				return OpStatus::running;
			case LINK_SET:
			case TARGET_SET: return continue_set(m);
			default: return OpStatus::done;
			}
		}
		constexpr bool operator==(const MapOp&) const = default;

	private:
		constexpr OpStatus finish(int r)
		{
			ret = r;
			pc = DONE;
			return OpStatus::done;
		}
		// The loop body at the current SPTE, up to its next shared access.
		constexpr OpStatus body(TdpMmu& m)
		{
			if (!it.valid || it.gfn >= gfn + 1)
				return finish(RET_PF_RETRY); // the walk aborted before the target level
			if (spec::is_frozen_spte(d(), m.flavor(), it.old_spte))
				return finish(RET_PF_RETRY);
			if (it.level == f.goal_level)
				return begin_target(m);
			// Step down into the lower level page table if it exists.
			if (m.present(it.old_spte) && !spec::is_large_pte(d(), m.flavor(), it.old_spte)) {
				m.next(it);
				return OpStatus::running;
			}
			// Non-present, or a huge page that needs to be split.
			sp = m.alloc_child_sp(it);
			if (m.present(it.old_spte)) {
				// "Don't support large page for mirrored roots (TDX)"
				const int r = m.bug_on(m.pt_[sp].mirror, "kvm_tdp_mmu_map: split of a mirror huge page")
						      ? -EIO
						      : m.split_huge_page(it, sp, true);
				return linked(m, r);
			}
			set = {m.nonleaf_spte_of(sp)};
			pc = LINK_SET;
			return continue_set(m);
		}
		// tdp_mmu_map_handle_target_level(), up to the atomic set.
		constexpr OpStatus begin_target(TdpMmu& m)
		{
			const auto& fl = m.flavor();
			if (m.present(it.old_spte) && m.last(it.old_spte, it.level) &&
			    (f.prefetch || !f.write || spec::is_writable_pte(d(), fl, it.old_spte))) {
				m.bug_on(f.pfn != spec::spte_to_pfn(d(), fl, it.old_spte), "spurious fault with another PFN");
				return finish(RET_PF_SPURIOUS);
			}
			const spec::LeafRequest<spec::Concrete> req{f.pfn, it.level, f.exec, f.map_writable, f.write};
			const u64 new_spte = spec::make_spte(d(), fl, req);
			if (new_spte == it.old_spte)
				return finish(RET_PF_SPURIOUS);
			old_leaf = it.old_spte;
			set = {new_spte};
			pc = TARGET_SET;
			return continue_set(m);
		}
		constexpr OpStatus continue_set(TdpMmu& m)
		{
			if (!m.atomic_set_step(it, set))
				return OpStatus::running;
			if (pc == LINK_SET)
				return linked(m, set.ret);
			// Force the guest to retry if the set failed.
			if (set.ret)
				return finish(RET_PF_RETRY);
			if (m.present(old_leaf) && (!m.last(old_leaf, it.level) ||
						    spec::leaf_spte_change_needs_tlb_flush(d(), m.flavor(), old_leaf, set.new_spte)))
				m.flush_remote_tlbs(it.gfn, it.level);
			m.log_.add({.kind = EventKind::set_spte, .gfn = it.gfn, .level = it.level, .new_spte = set.new_spte});
			return finish(RET_PF_FIXED);
		}
		// Force the guest to retry if installing an upper level SPTE failed.
		constexpr OpStatus linked(TdpMmu& m, int r)
		{
			if (r) {
				m.free_sp(sp);
				return finish(RET_PF_RETRY);
			}
			pc = ADVANCE;
			return OpStatus::running;
		}
	};

	// ---- zapping (section 3.2) --------------------------------------------------

	// tdp_mmu_zap_leafs(): zap present leaves in [start, end) under the write
	// lock; no page table is freed, so no RCU grace period is needed.  The
	// whole call runs ZapLeafsOp; a yield only drops and re-takes the lock.
	constexpr bool zap_leafs(u32 root, u64 start, u64 end, bool can_yield, bool flush)
	{
		ZapLeafsOp op{root, start, end, can_yield, flush};
		while (op.step(*this) != OpStatus::done) {
		}
		return op.flush;
	}

	// tdp_mmu_zap_leafs() as a machine: one step is one SPTE read or one
	// zap (an xchg and the bookkeeping it triggers, the external hook for a
	// mirror leaf included), or a yield.
	struct ZapLeafsOp {
		enum : std::uint8_t { START, LOOP, ADVANCE, DONE, REMOVING };
		u32 root = NO_SP;
		u64 start = 0, end = 0;
		bool can_yield = false;
		bool flush = false; // the return value: a TLB flush is pending
		TdpIter it{};
		std::uint8_t pc = START;
		RemoveOpOf<Hooks> remove{}; // a mirror leaf's remove_external_spte(), one SEAMCALL a step

		constexpr OpStatus step(TdpMmu& m)
		{
			switch (pc) {
			case START:
				m.lockdep_held(LockMode::write);
				end = std::min(end, m.max_gfn_exclusive());
				m.start(it, root, spec::PG_LEVEL_4K, start);
				pc = LOOP;
				return OpStatus::running;
			case LOOP: return body(m);
			case ADVANCE:
				m.next(it);
				pc = LOOP;
				return OpStatus::running;
			case REMOVING:
				if constexpr (SteppedRemoveHooks<Hooks>)
					if (m.hooks_.remove_external_spte_step(remove))
						pc = ADVANCE;
				return OpStatus::running;
			default: return OpStatus::done;
			}
		}
		constexpr bool operator==(const ZapLeafsOp&) const = default;

	private:
		constexpr OpStatus body(TdpMmu& m)
		{
			if (!it.valid || it.gfn >= end) {
				pc = DONE;
				return OpStatus::done;
			}
			if (can_yield && m.cond_resched(it, flush, false)) {
				flush = false;
				pc = ADVANCE; // the walk restarts from the root
				return OpStatus::yielded;
			}
			if (!m.present(it.old_spte) || !m.last(it.old_spte, it.level)) {
				m.next(it);
				return OpStatus::running;
			}
			// The xchg and its bookkeeping are one step; for a mirror leaf
			// the S-EPT removal's SEAMCALLs follow, one a step.
			bool remove_pending = false;
			if constexpr (SteppedRemoveHooks<Hooks>)
				m.iter_set_spte(it, m.nonpresent(), &remove_pending);
			else
				m.iter_set_spte(it, m.nonpresent());
			// Zapping SPTEs in invalid roots doesn't require a TLB flush.
			if (!m.pt_[root].invalid)
				flush = true;
			pc = ADVANCE;
			if constexpr (SteppedRemoveHooks<Hooks>)
				if (remove_pending) {
					remove = m.hooks_.remove_external_spte_begin(it.gfn, it.level, it.old_spte);
					pc = REMOVING;
				}
			return OpStatus::running;
		}
	};

	// kvm_tdp_mmu_unmap_gfn_range(): the mmu_notifier / guest_memfd path;
	// valid roots of the requested types plus invalid ones.
	constexpr bool unmap_gfn_range(u64 start, u64 end, unsigned types, bool may_block, bool flush)
	{
		const LockMode saved = take_lock(LockMode::write);
		UnmapOp op{start, end, types, may_block, flush};
		while (op.step(*this) != OpStatus::done) {
		}
		lock_ = saved;
		return op.flush;
	}

	// tdp_mmu_next_root() as a machine, the advance of
	// for_each_tdp_mmu_root_yield_safe(): get a reference on the next root of
	// tdp_mmu_roots after prev that matches the types, then put prev.  The
	// get comes first: prev is still on the list (a root with a reference is
	// never list_del'd), and the final put of prev may free it, after which
	// the list walk could not start from it.  The RCU-protected walk with its
	// refcount_inc_not_zero() attempts is one step (it takes no lock and
	// cannot yield); the put is PutRootOp's steps.  next is NO_SP at the end
	// of the list.
	struct NextRootOp {
		enum : std::uint8_t { GET, PUT, DONE };
		u32 prev = NO_SP;
		u32 next = NO_SP;
		PutRootOp put{NO_SP};
		std::uint8_t pc = GET;

		constexpr OpStatus step(TdpMmu& m, unsigned types)
		{
			switch (pc) {
			case GET:
				// "fields such as role.invalid are protected by mmu_lock"
				m.bug_on(m.lock_ == LockMode::none, "tdp_mmu_next_root: mmu_lock not held");
				next = m.next_root_get(prev, types);
				if (prev == NO_SP) {
					pc = DONE;
					return OpStatus::done;
				}
				put = {prev, m.cfg_.variants.put_root, m.lock_ != LockMode::write};
				pc = PUT;
				return OpStatus::running;
			case PUT:
				if (put.step(m) != OpStatus::done)
					return OpStatus::running;
				pc = DONE;
				return OpStatus::done;
			default: return OpStatus::done;
			}
		}
		constexpr bool operator==(const NextRootOp&) const = default;
	};

	// The RCU-protected part of tdp_mmu_next_root(): from prev's successor
	// (or the head), the first root that matches and whose
	// kvm_tdp_mmu_get_root() succeeds, with that reference.
	constexpr u32 next_root_get(u32 prev, unsigned types)
	{
		auto pos = roots_.begin();
		if (prev != NO_SP) {
			pos = std::find(roots_.begin(), roots_.end(), prev);
			if (bug_on(pos == roots_.end(), "tdp_mmu_next_root: previous root is off tdp_mmu_roots"))
				return NO_SP;
			++pos;
		}
		for (; pos != roots_.end(); ++pos)
			if (root_matches(*pos, types) && get_root(*pos))
				return *pos;
		return NO_SP;
	}

	// kvm_tdp_mmu_unmap_gfn_range() as a machine: for_each_tdp_mmu_root_yield_safe
	// over the requested types and every invalid root (NextRootOp: the get of
	// the next root, then the put of the previous one), tdp_mmu_zap_leafs on
	// each (ZapLeafsOp, with its yields and S-EPT removals); then the remote
	// TLB flush.  One step is one step of the machine it is in.
	struct UnmapOp {
		enum : std::uint8_t { NEXT, ZAP, DONE };
		u64 start = 0, end = 0;
		unsigned types = 0;
		bool may_block = false;
		bool flush = false;
		NextRootOp next{};
		ZapLeafsOp zap{};
		std::uint8_t pc = NEXT;

		constexpr OpStatus step(TdpMmu& m)
		{
			switch (pc) {
			case NEXT:
				if (next.step(m, types | KVM_INVALID_ROOTS) != OpStatus::done)
					return OpStatus::running;
				if (next.next == NO_SP) {
					if (flush)
						m.flush_remote_tlbs(start, 0);
					pc = DONE;
					return OpStatus::done;
				}
				zap = {next.next, start, end, may_block, flush};
				pc = ZAP;
				return OpStatus::running;
			case ZAP: {
				const OpStatus st = zap.step(m);
				if (st != OpStatus::done)
					return st;
				flush = zap.flush;
				next = {zap.root};
				pc = NEXT;
				return OpStatus::running;
			}
			default: return OpStatus::done;
			}
		}
		constexpr bool operator==(const UnmapOp&) const = default;
	};

	// kvm_gfn_range_filter_to_root_types(): private -> mirror, shared ->
	// direct; a non-TDX VM always has direct roots only.
	constexpr unsigned filter_to_root_types(bool private_range, bool shared_range) const
	{
		if (!cfg_.is_td)
			return KVM_DIRECT_ROOTS;
		return (private_range ? KVM_MIRROR_ROOTS : 0u) | (shared_range ? KVM_DIRECT_ROOTS : 0u);
	}

	// tdp_mmu_zap_root(): multi-pass zap of a whole root, of decreasing
	// granularity (4K, 2M, 1G, root) to better honour need_resched(); with
	// CONFIG_KVM_PROVE_MMU only the 1G and root passes.
	constexpr void zap_root(u32 root, bool shared)
	{
		ZapRootOp op{root, shared};
		while (op.step(*this) != OpStatus::done) {
		}
	}

	// tdp_mmu_zap_root() as a machine: the passes of __tdp_mmu_zap_root(),
	// each a walk where one step is one SPTE read, one zap (an xchg when
	// exclusive, an atomic set when shared, with everything the change
	// triggers: handle_removed_pt() and the external hooks), or a yield.
	struct ZapRootOp {
		enum : std::uint8_t { START, PASS, LOOP, ADVANCE, DONE, SET };
		u32 root = NO_SP;
		bool shared = false;
		std::uint8_t pass = 0; // index into the pass levels
		TdpIter it{};
		AtomicSet set{};
		std::uint8_t pc = START;

		constexpr OpStatus step(TdpMmu& m)
		{
			switch (pc) {
			case START:
				m.bug_on(m.pt_[root].root_count == 0, "tdp_mmu_zap_root: root must be reachable while zapping");
				m.lockdep_held(shared ? LockMode::read : LockMode::write);
				// CONFIG_KVM_PROVE_MMU skips the 4K and 2M passes; seed
				// 000's blocked-branch removal needs only the top-level pass
				// ("tdp_mmu_zap_root() wouldn't needed to zap in two passes
				// since zapping children of the top-level SPTEs would be
				// deferred").
				pass = m.blocks_pruned_branch() ? 3 : m.cfg_.variants.prove_mmu ? 2 : 0;
				[[fallthrough]];
			case PASS:
				// for_each_tdp_pte_min_level_all: gfn_bits = 0
				tdp_iter_start(it, m.pt_, root, level(m), 0, 0);
				pc = LOOP;
				return OpStatus::running;
			case LOOP: return body(m);
			case ADVANCE:
				m.next(it);
				pc = LOOP;
				return OpStatus::running;
			case SET:
				if (!m.atomic_set_step(it, set))
					return OpStatus::running;
				// "retry:" on -EBUSY re-examines the same SPTE (old_spte refreshed).
				pc = set.ret ? LOOP : ADVANCE;
				return OpStatus::running;
			default: return OpStatus::done;
			}
		}
		constexpr bool operator==(const ZapRootOp&) const = default;

	private:
		// Decreasing granularity (4K, 2M, 1G, root) to better honour
		// need_resched().
		constexpr unsigned level(const TdpMmu& m) const
		{
			constexpr unsigned levels[] = {spec::PG_LEVEL_4K, spec::PG_LEVEL_2M, spec::PG_LEVEL_1G};
			return pass < 3 ? levels[pass] : m.pt_[root].level;
		}
		constexpr OpStatus body(TdpMmu& m)
		{
			if (!it.valid || it.gfn >= m.max_gfn_exclusive()) {
				if (++pass == 4) {
					pc = DONE;
					return OpStatus::done;
				}
				pc = PASS;
				return OpStatus::running;
			}
			if (m.cond_resched(it, false, shared)) {
				pc = ADVANCE;
				return OpStatus::yielded;
			}
			if (!m.present(it.old_spte) || it.level > level(m)) {
				m.next(it);
				return OpStatus::running;
			}
			if (!shared) {
				m.iter_set_spte(it, m.nonpresent());
				pc = ADVANCE;
				return OpStatus::running;
			}
			set = {m.nonpresent()};
			pc = SET;
			return OpStatus::running;
		}
	};

	// kvm_tdp_mmu_zap_invalidated_roots() as a machine:
	// for_each_tdp_mmu_root_yield_safe over all roots (NextRootOp: the
	// iterator's own reference on each, taken before the previous root's is
	// put); for each scheduled root, clear the flag, the (yielding)
	// tdp_mmu_zap_root (ZapRootOp), and the put of the gifted reference
	// (PutRootOp).  The root's last reference is then the iterator's, put
	// when it moves on.
	struct ZapInvalidatedOp {
		enum : std::uint8_t { NEXT, ZAP, PUT, DONE };
		bool shared = false;
		NextRootOp next{};
		ZapRootOp zap{};
		PutRootOp put{NO_SP};
		std::uint8_t pc = NEXT;

		constexpr OpStatus step(TdpMmu& m)
		{
			switch (pc) {
			case NEXT: {
				if (next.step(m, KVM_ALL_ROOTS) != OpStatus::done)
					return OpStatus::running;
				const u32 r = next.next;
				if (r == NO_SP) {
					pc = DONE;
					return OpStatus::done;
				}
				next = {r};
				if (!m.pt_[r].scheduled_root_to_zap)
					return OpStatus::running;
				m.pt_[r].scheduled_root_to_zap = false;
				m.bug_on(!m.pt_[r].invalid, "kvm_tdp_mmu_zap_invalidated_roots: scheduled root is valid");
				zap = {r, shared};
				pc = ZAP;
				return OpStatus::running;
			}
			case ZAP: {
				const OpStatus st = zap.step(m);
				if (st != OpStatus::done)
					return st;
				// The reference needs to be put *after* zapping the root, as
				// the root must be reachable by mmu_notifiers while it's
				// being zapped.
				put = {zap.root, m.cfg_.variants.put_root, m.lock_ != LockMode::write};
				pc = PUT;
				return OpStatus::running;
			}
			case PUT:
				if (put.step(m) == OpStatus::done)
					pc = NEXT;
				return OpStatus::running;
			default: return OpStatus::done;
			}
		}
		constexpr bool operator==(const ZapInvalidatedOp&) const = default;
	};

	// ---- huge page split (section 3.6) -----------------------------------------

	// kvm_tdp_mmu_try_split_huge_pages() for one root: split every huge leaf
	// above target_level in [start, end).
	constexpr int split_huge_pages(u32 root, u64 start, u64 end, unsigned target_level, bool shared)
	{
		const LockMode saved = take_lock(shared ? LockMode::read : LockMode::write);
		SplitOp op{root, start, end, target_level, shared};
		while (op.step(*this) != OpStatus::done) {
		}
		lock_ = saved;
		return op.ret;
	}

	// tdp_mmu_split_huge_pages_root() as a machine: one step is one SPTE
	// read, the allocation and fill of the (unreachable) child table with
	// the link when exclusive (tdp_mmu_set_spte, which calls seed 001's
	// split_external_spt for a mirror SPTE), a step of the atomic link when
	// shared, or a yield.
	struct SplitOp {
		enum : std::uint8_t { START, LOOP, LINK_SET, ADVANCE, DONE, SPLITTING };
		u32 root = NO_SP;
		u64 start = 0, end = 0;
		unsigned target_level = 1;
		bool shared = false;
		// With exclusive mmu_lock, run split_external_spt() as the hook's
		// machine, one SEAMCALL a step (the model checker with the module's
		// lock windows), instead of whole within the link's step.
		bool stepped_hook = false;
		SplitExtOpOf<Hooks> ext{};
		TdpIter it{};
		u32 sp = NO_SP;
		u64 huge = 0; // the SPTE being split
		AtomicSet set{};
		std::uint8_t pc = START;
		int ret = 0;

		constexpr OpStatus step(TdpMmu& m)
		{
			switch (pc) {
			case START:
				m.start(it, root, target_level + 1, start);
				pc = LOOP;
				return OpStatus::running;
			case LOOP: return body(m);
			case LINK_SET:
				if (!m.atomic_set_step(it, set))
					return OpStatus::running;
				return linked(m, set.ret);
			case ADVANCE:
				m.next(it);
				pc = LOOP;
				return OpStatus::running;
			case SPLITTING:
				if constexpr (SteppedSplitHooks<Hooks>)
					if (m.hooks_.split_external_spt_step(ext)) {
						m.bug_on(ext.ret != 0, "split_external_spt failed");
						return linked(m, 0);
					}
				return OpStatus::running;
			default: return OpStatus::done;
			}
		}
		constexpr bool operator==(const SplitOp&) const = default;

	private:
		constexpr OpStatus finish(int r)
		{
			ret = r;
			pc = DONE;
			return OpStatus::done;
		}
		constexpr OpStatus body(TdpMmu& m)
		{
			if (!it.valid || it.gfn >= end)
				return finish(ret);
			if (m.cond_resched(it, false, shared)) {
				pc = ADVANCE;
				return OpStatus::yielded;
			}
			if (!m.present(it.old_spte) || !spec::is_large_pte(d(), m.flavor(), it.old_spte)) {
				m.next(it);
				return OpStatus::running;
			}
			// Allocate outside mmu_lock; on failure trace the split with
			// -ENOMEM and give up.
			sp = m.alloc_child_sp(it, true);
			if (sp == NO_SP) {
				m.log_.add({.kind = EventKind::split_huge_page,
					    .gfn = it.gfn,
					    .level = it.level,
					    .old_spte = it.old_spte,
					    .err = -ENOMEM});
				return finish(-ENOMEM);
			}
			huge = it.old_spte;
			m.fill_split_children(it, sp);
			const u64 nonleaf = m.nonleaf_spte_of(sp);
			if (shared) {
				set = {nonleaf};
				pc = LINK_SET;
				return OpStatus::running;
			}
			if constexpr (SteppedSplitHooks<Hooks>)
				if (stepped_hook) {
					bool split_pending = false;
					m.iter_set_spte(it, nonleaf, nullptr, &split_pending);
					if (split_pending && m.split_external_spt_begin(it.gfn, huge, nonleaf, it.level, ext)) {
						pc = SPLITTING;
						return OpStatus::running;
					}
					return linked(m, 0);
				}
			m.iter_set_spte(it, nonleaf);
			return linked(m, 0);
		}
		// The walk goes on into the new table (tdp_mmu_split_huge_pages_root
		// sets iter.yielded after re-taking the lock).
		constexpr OpStatus linked(TdpMmu& m, int r)
		{
			m.split_done(it.gfn, it.level, huge, r);
			if (r) {
				m.free_sp(sp);
				return finish(r);
			}
			pc = ADVANCE;
			return OpStatus::running;
		}
	};

	// ---- write protection for dirty logging -------------------------------------

	// wrprot_gfn_range(): clear W on present leaves at or above min_level.
	constexpr bool wrprot_gfn_range(u32 root, u64 start, u64 end, unsigned min_level)
	{
		lockdep_held(LockMode::read);
		bool spte_set = false;
		TdpIter it;
		for (this->start(it, root, min_level, start); it.valid && it.gfn < end; next(it)) {
			if (!present(it.old_spte) || !last(it.old_spte, it.level) ||
			    !spec::is_writable_pte(d(), flavor(), it.old_spte))
				continue;
			const u64 n = spec::make_wrprot_spte(d(), flavor(), it.old_spte);
			if (set_spte_atomic(it, n))
				continue; // the kernel retries; an -EBUSY here only happens under contention
			spte_set = true;
		}
		return spte_set;
	}

	// ---- RCU ----------------------------------------------------------------------

	// A grace period elapses: every queued callback runs (rcu_barrier()).
	// Callbacks may queue more callbacks (the seed-000 variant); those run too.
	constexpr void rcu_barrier()
	{
		while (!rcu_.empty()) {
			const std::vector<RcuCallback> batch = std::move(rcu_);
			rcu_.clear();
			for (const RcuCallback& cb : batch)
				run_rcu_callback(cb);
		}
	}

	// ---- the SPTE at a GFN, for tests and the refinement check -----------------
	struct Lookup {
		u64 spte;
		unsigned level;
		SptePtr ptr;
	};
	// The SPTE on the walk to gfn at `at_level`, or the deepest one (a leaf,
	// or the non-present entry where the walk ends) if the walk stops above.
	constexpr Lookup lookup(u32 root, u64 gfn, unsigned at_level = 0) const
	{
		u32 sp = root;
		unsigned level = pt_[root].level;
		const u64 bits = gfn_root_bits(root);
		for (;;) {
			const SptePtr p{sp, static_cast<u32>(spte_index_of(pt_, gfn, bits, level))};
			const u64 s = pt_.spte(p);
			const u32 child = spte_to_child_sp(pt_, flavor(), s, level);
			if (child == NO_SP || level == at_level)
				return {s, level, p};
			sp = child;
			level--;
		}
	}

private:
	static constexpr const spec::Concrete& d() { return spec::concrete; }
	constexpr const spec::SpteFlavor& flavor() const { return cfg_.flavor; }
	constexpr bool present(u64 s) const { return spec::is_shadow_present_pte(d(), flavor(), s); }
	constexpr bool last(u64 s, unsigned level) const { return spec::is_last_spte(d(), flavor(), s, u64{level}); }
	constexpr unsigned level_bits() const { return cfg_.paging.level_bits; }

	// tdp_mmu_max_gfn_exclusive(): everything a root can map.
	constexpr u64 max_gfn_exclusive() const { return pages_per(pt_, cfg_.paging.root_level + 1); }

	constexpr bool bug_on(bool cond, const char* what)
	{
		if (warn_on(cond, what))
			bugs_++;
		return cond;
	}
	// A WARN that leaves the VM alive: logged like a bug, not counted in bugs().
	constexpr bool warn_on(bool cond, const char* what)
	{
		if (cond)
			log_.add({.kind = EventKind::kvm_bug, .what = what});
		return cond;
	}

	// ---- locking and lockdep ------------------------------------------------------
	constexpr LockMode take_lock(LockMode m)
	{
		const LockMode saved = lock_;
		if (lock_ == LockMode::none || (lock_ == LockMode::read && m == LockMode::write))
			lock_ = m;
		return saved;
	}
	constexpr void lockdep_held(LockMode m)
	{
		if (m == LockMode::write)
			bug_on(lock_ != LockMode::write, "lockdep: mmu_lock not held for write");
		else
			bug_on(lock_ == LockMode::none, "lockdep: mmu_lock not held");
	}

	// ---- the atomic SPTE primitives --------------------------------------------
	constexpr u64 read_spte(SptePtr p) const { return pt_.spte(p); }  // READ_ONCE
	constexpr void write_spte(SptePtr p, u64 v) { pt_.spte(p) = v; }   // WRITE_ONCE
	constexpr u64 xchg_spte(SptePtr p, u64 v)                          // xchg
	{
		const u64 old = pt_.spte(p);
		pt_.spte(p) = v;
		return old;
	}
	constexpr bool cmpxchg_spte(SptePtr p, u64& old, u64 v) // try_cmpxchg64
	{
		if (pt_.spte(p) != old) {
			old = pt_.spte(p);
			return false;
		}
		pt_.spte(p) = v;
		return true;
	}

	constexpr void call_rcu(RcuCallback cb) { rcu_.push_back(cb); }

	constexpr void flush_remote_tlbs(u64 gfn, unsigned level)
	{
		tlb_flushes_++;
		log_.add({.kind = EventKind::tlb_flush, .gfn = gfn, .level = level});
	}

	// ---- iterator glue ------------------------------------------------------------
	constexpr void start(TdpIter& it, u32 root, unsigned min_level, u64 gfn)
	{
		tdp_iter_start(it, pt_, root, min_level, gfn, gfn_root_bits(root));
		bug_on(!it.valid, "tdp_iter_start: bad root or aliased GFN");
	}
	constexpr void next(TdpIter& it) { tdp_iter_next(it, pt_, flavor()); }

	// tdp_mmu_iter_cond_resched(): yield if the environment wants to and the
	// walk made progress; flush pending TLB invalidations before dropping
	// mmu_lock.  The caller must `continue`, and the next step restarts from
	// the root.
	constexpr bool cond_resched(TdpIter& it, bool flush, bool /*shared*/)
	{
		bug_on(it.yielded, "tdp_mmu_iter_cond_resched: already yielded");
		if (cfg_.resched_every == 0 || ++resched_clock_ % cfg_.resched_every != 0 || !tdp_iter_made_progress(it))
			return false;
		if (flush)
			flush_remote_tlbs(0, 0);
		// rcu_read_unlock(); cond_resched_rwlock_*(); rcu_read_lock();
		yields_++;
		it.yielded = true;
		return true;
	}

	// tdp_mmu_alloc_sp() + tdp_mmu_init_child_sp(): the child inherits the
	// parent's role (mirror or direct) with level - 1; a mirror child also
	// gets its external page (kvm_mmu_alloc_external_spt()).
	constexpr u32 alloc_child_sp(const TdpIter& it, bool may_fail = false)
	{
		const bool mirror = pt_[it.sptep.sp].mirror;
		const u32 sp = may_fail ? pt_.try_alloc(it.level - 1, it.gfn, mirror, nonpresent())
					: pt_.alloc(it.level - 1, it.gfn, mirror, nonpresent());
		if (sp == NO_SP)
			return NO_SP;
		pt_[sp].parent = it.sptep.sp;
		pt_[sp].parent_index = it.sptep.index;
		if (mirror)
			pt_[sp].external_spt = hooks_.alloc_external_spt();
		log_.add({.kind = EventKind::get_page, .gfn = it.gfn, .level = it.level - 1, .sp = sp});
		return sp;
	}

	// tdp_mmu_free_sp(): free_page(sp->external_spt) too.
	constexpr void free_sp(u32 sp)
	{
		if (pt_[sp].external_spt)
			hooks_.free_external_spt_page(pt_[sp].external_spt);
		pt_.free(sp);
	}

	// ---- setting SPTEs (section 3.3) ----------------------------------------------

	constexpr int external_set(u64 gfn, unsigned level, u64 new_spte, bool is_leaf)
	{
		if (is_leaf)
			return hooks_.set_external_spte(gfn, level, new_spte);
		// get_external_spt(): the child SP's external page.
		const u32 child = spte_to_child_sp(pt_, flavor(), new_spte, level);
		if (bug_on(child == NO_SP || pt_[child].external_spt == 0, "get_external_spt: no external_spt"))
			return -EIO;
		return hooks_.link_external_spt(gfn, level, pt_[child].external_spt);
	}

	// __tdp_mmu_set_spte_atomic() + handle_changed_spte(shared = true), whole.
	constexpr int set_spte_atomic(TdpIter& it, u64 new_spte)
	{
		AtomicSet a{new_spte};
		while (!atomic_set_step(it, a)) {
		}
		return a.ret;
	}

	// handle_removed_pt(shared) xchg()s FROZEN_SPTE into every child "until
	// it is set from some other value to the frozen SPTE value": a child
	// that is already frozen belongs to another task (set_external_spte_present()
	// between its freeze and its final write), and the remover spins until
	// that task has written it.  The stepped machines model the spin as the
	// remover waiting right after its unlink, before it freezes any child:
	// the schedule of v6.19 in which the remover is descheduled after the
	// cmpxchg until the other task finishes (every child it then xchg()s
	// holds what that task wrote).  True while the table behind old_spte,
	// or a table below it, has a frozen entry.
	constexpr bool removed_pt_must_spin(u64 old_spte, unsigned level) const
	{
		if (!present(old_spte) || last(old_spte, level))
			return false;
		const u32 sp = spte_to_child_sp(pt_, flavor(), old_spte, level);
		if (sp == NO_SP)
			return false;
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const u64 c = pt_.spte({sp, i});
			if (spec::is_frozen_spte(d(), flavor(), c) || removed_pt_must_spin(c, level - 1))
				return true;
		}
		return false;
	}

	// One step of __tdp_mmu_set_spte_atomic(); true when it returned (a.ret).
	// For a mirror SPTE, which external hook (if any) the change needs is
	// the spec's decision (spec/arborist/mirror_hook.hpp); v6.19's
	// set_external_spte_present() freezes the SPTE, updates S-EPT, then
	// publishes the new value (or restores the old one on failure).
	constexpr bool atomic_set_step(TdpIter& it, AtomicSet& a)
	{
		using spec::MirrorHook;
		const bool seamcall_first =
			cfg_.variants.mirror_write == Variants::MirrorWrite::seamcall_then_cmpxchg;
		auto done = [&](int ret) {
			// The SPTE now holds new_spte: a table it unlinked is removed
			// (handle_removed_pt), after any spin on a frozen child.
			if (!ret && a.new_spte != it.old_spte && removed_pt_must_spin(it.old_spte, it.level)) {
				// Without other tasks stepping, nothing will ever write it.
				if (!bug_on(!concurrent_, "handle_removed_pt: spins forever on a frozen SPTE no task will write")) {
					a.pc = AtomicSet::REMOVED_PT_SPIN;
					return false;
				}
			}
			if (!ret)
				handle_changed_spte(it.gfn, it.old_spte, a.new_spte, it.level, true);
			a.ret = ret;
			return true;
		};
		switch (a.pc) {
		case AtomicSet::BEGIN: {
			lockdep_held(LockMode::read);
			bug_on(it.yielded, "__tdp_mmu_set_spte_atomic: yielded iterator");
			if (!pt_[it.sptep.sp].mirror) {
				bug_on(spec::is_frozen_spte(d(), flavor(), it.old_spte),
				       "__tdp_mmu_set_spte_atomic: frozen old SPTE");
				return cmpxchg_spte(it.sptep, it.old_spte, a.new_spte) ? done(0) : (a.ret = -EBUSY, true);
			}
			const auto hook = static_cast<MirrorHook>(
				spec::mirror_hook_atomic(d(), flavor(), it.old_spte, a.new_spte, u64{it.level}));
			a.hook = static_cast<std::uint8_t>(hook);
			// A frozen old SPTE, an atomic zap of a mirror SPTE or a present
			// old SPTE: the path's WARN/KVM_BUG_ON fires.
			if (bug_on(hook == MirrorHook::bug, "__tdp_mmu_set_spte_atomic: mirror contract broken"))
				return a.ret = -EBUSY, true;
			if (hook == MirrorHook::none)
				return cmpxchg_spte(it.sptep, it.old_spte, a.new_spte) ? done(0) : (a.ret = -EBUSY, true);
			if (seamcall_first) {
				// The ordering seed 000 questions: S-EPT first, then the
				// cmpxchg, which can fail after the SEAMCALL succeeded.
				a.ret = external_set(it.gfn, it.level, a.new_spte, hook == MirrorHook::set);
				if (a.ret)
					return true;
				a.pc = AtomicSet::CMPXCHG_AFTER;
				return false;
			}
			if (!cmpxchg_spte(it.sptep, it.old_spte, frozen()))
				return a.ret = -EBUSY, true;
			a.pc = AtomicSet::EXTERNAL;
			return false;
		}
		case AtomicSet::EXTERNAL:
			a.ret = external_set(it.gfn, it.level, a.new_spte,
					     static_cast<MirrorHook>(a.hook) == MirrorHook::set);
			a.pc = AtomicSet::PUBLISH;
			return false;
		case AtomicSet::PUBLISH:
			write_spte(it.sptep, a.ret ? it.old_spte : a.new_spte);
			return a.ret ? true : done(0);
		case AtomicSet::REMOVED_PT_SPIN: // cpu_relax(), then xchg again
			return done(0);
		default: // CMPXCHG_AFTER
			return cmpxchg_spte(it.sptep, it.old_spte, a.new_spte) ? done(0) : (a.ret = -EBUSY, true);
		}
	}

	// kvm_tdp_mmu_write_spte() (tdp_iter.h, Linux 6.12 and v6.19): xchg when
	// kvm_tdp_mmu_spte_need_atomic_write(old) -- a present leaf with
	// volatile bits, i.e. bits set outside mmu_lock (W by fast_page_fault(),
	// A/D by the CPU) -- else WRITE_ONCE and return `old`.  The model always
	// exchanges: an SPTE without volatile bits cannot change while the write
	// lock is held, so xchg returns `old` there too, and both paths are one
	// atomic action that returns the value replaced.
	constexpr u64 write_spte_nonatomic(SptePtr p, u64 old, u64 new_spte)
	{
		(void)old;
		return xchg_spte(p, new_spte);
	}

	// tdp_mmu_set_spte(): the non-atomic set, write lock only.
	// With remove_pending, a mirror leaf's remove_external_spte() is not
	// called but reported, for a stepped caller to run the hook's machine.
	// With split_pending, likewise for a split's split_external_spt().
	constexpr u64 set_spte(SptePtr p, u64 old, u64 new_spte, u64 gfn, unsigned level, bool* remove_pending = nullptr,
			       bool* split_pending = nullptr)
	{
		lockdep_held(LockMode::write);
		bug_on(spec::is_frozen_spte(d(), flavor(), old) || spec::is_frozen_spte(d(), flavor(), new_spte),
		       "tdp_mmu_set_spte: frozen SPTE");
		old = write_spte_nonatomic(p, old, new_spte);
		handle_changed_spte(gfn, old, new_spte, level, false);
		if (pt_[p.sp].mirror)
			mirror_nonatomic_hook(gfn, old, new_spte, level, remove_pending, split_pending);
		return old;
	}

	// tdp_mmu_set_spte()'s external hook for a mirror SPTE: the spec decides
	// (v6.19: zaps only; seed 001: also leaf -> non-leaf splits).
	constexpr void mirror_nonatomic_hook(u64 gfn, u64 old, u64 new_spte, unsigned level, bool* remove_pending,
					     bool* split_pending = nullptr)
	{
		switch (static_cast<spec::MirrorHook>(spec::mirror_hook_nonatomic(
			d(), flavor(), old, new_spte, u64{level}, cfg_.private_huge_pages))) {
		case spec::MirrorHook::remove:
			if (remove_pending)
				*remove_pending = remove_external_spte_begin(gfn, old, level);
			else
				remove_external_spte(gfn, old, level);
			break;
		case spec::MirrorHook::split:
			if (split_pending)
				*split_pending = true;
			else
				split_external_spt(gfn, old, new_spte, level);
			break;
		case spec::MirrorHook::bug:
			// v6.19: "Users that do non-atomic setting of PTEs don't operate
			// on mirror roots" (seed 001 keeps this for all but zap and split).
			bug_on(true, "tdp_mmu_set_spte: mirror SPTE change with no external hook");
			break;
		default:
			break;
		}
	}

	constexpr void iter_set_spte(TdpIter& it, u64 new_spte, bool* remove_pending = nullptr, bool* split_pending = nullptr)
	{
		bug_on(it.yielded, "tdp_mmu_iter_set_spte: yielded iterator");
		it.old_spte = set_spte(it.sptep, it.old_spte, new_spte, it.gfn, it.level, remove_pending, split_pending);
	}

	// remove_external_spte(): leaves only; external page tables go through
	// free_external_spt() in handle_removed_pt(), which calls this for every
	// child and relies on the early return.
	constexpr void remove_external_spte(u64 gfn, u64 old, unsigned level)
	{
		if (remove_external_spte_begin(gfn, old, level))
			hooks_.remove_external_spte(gfn, level, old);
	}
	// Whether the hook is called at all, with its checks and trace.
	constexpr bool remove_external_spte_begin(u64 gfn, u64 old, unsigned level)
	{
		if (!last(old, level))
			return false;
		lockdep_held(LockMode::write); // "Zapping leaf spte is allowed only when write lock is held"
		log_.add({.kind = EventKind::external_hook, .gfn = gfn, .level = level, .old_spte = old, .what = "remove_external_spte"});
		return true;
	}

	// The new mirror table below new_spte, whose external page the split
	// hook fills, with the hook's entry logged; NO_SP (a KVM_BUG_ON) when
	// the table has no external page.
	constexpr u32 split_external_child(u64 gfn, u64 old, u64 new_spte, unsigned level)
	{
		const u32 child = spte_to_child_sp(pt_, flavor(), new_spte, level);
		if (bug_on(child == NO_SP || pt_[child].external_spt == 0, "split_external_spt: no external_spt"))
			return NO_SP;
		log_.add({.kind = EventKind::external_hook,
			  .gfn = gfn,
			  .level = level,
			  .old_spte = old,
			  .new_spte = new_spte,
			  .what = "split_external_spt"});
		return child;
	}

	// Seed 001 split_external_spt(): the new mirror table's external page
	// receives the demoted S-EPT entries.
	constexpr void split_external_spt(u64 gfn, u64 old, u64 new_spte, unsigned level)
	{
		const u32 child = split_external_child(gfn, old, new_spte, level);
		if (child == NO_SP)
			return;
		bug_on(hooks_.split_external_spt(gfn, level, pt_[child].external_spt, old) != 0,
		       "split_external_spt failed");
	}

	// The same, begun as the hook's machine (SplitOp with stepped_hook);
	// false when there is nothing to run.
	constexpr bool split_external_spt_begin(u64 gfn, u64 old, u64 new_spte, unsigned level, SplitExtOpOf<Hooks>& op)
	{
		const u32 child = split_external_child(gfn, old, new_spte, level);
		if (child == NO_SP)
			return false;
		if constexpr (SteppedSplitHooks<Hooks>)
			op = hooks_.split_external_spt_begin(gfn, level, pt_[child].external_spt, old);
		return true;
	}

	// handle_changed_spte(): the bookkeeping after every SPTE write.
	constexpr void handle_changed_spte(u64 gfn, u64 old, u64 new_spte, unsigned level, bool shared)
	{
		const bool was_present = present(old), is_present = present(new_spte);
		const bool was_leaf = was_present && last(old, level);
		const bool is_leaf = is_present && last(new_spte, level);
		const bool pfn_changed = spec::spte_to_pfn(d(), flavor(), old) != spec::spte_to_pfn(d(), flavor(), new_spte);
		bug_on(level < spec::PG_LEVEL_4K || level > spec::PT64_ROOT_MAX_LEVEL, "handle_changed_spte: bad level");
		bug_on(gfn & (pages_per(pt_, level) - 1), "handle_changed_spte: misaligned gfn");
		// "a present leaf SPTE must not be replaced by one with a new PFN": BUG().
		if (was_leaf && is_leaf && pfn_changed) {
			bug_on(true, "handle_changed_spte: present leaf changed PFN (BUG)");
			return;
		}
		if (old == new_spte)
			return;
		log_.add({.kind = EventKind::spte_changed, .gfn = gfn, .level = level, .old_spte = old, .new_spte = new_spte});
		if (is_leaf)
			bug_on(!spec::spte_writable_invariant(d(), flavor(), new_spte), "check_spte_writable_invariants");
		if (!was_present && !is_present) {
			// Only a freeze is a legal change between non-present values here
			// (MMIO SPTEs are outside this model).
			bug_on(!spec::is_frozen_spte(d(), flavor(), new_spte) && !spec::is_frozen_spte(d(), flavor(), old),
			       "handle_changed_spte: change between non-present values");
			return;
		}
		if (is_leaf != was_leaf) {
			if (is_leaf)
				stats_[level]++;
			else
				stats_[level]--;
		}
		if (was_present && !was_leaf && (is_leaf || !is_present || pfn_changed)) {
			bug_on(is_present && !is_leaf && pfn_changed, "handle_changed_spte: non-leaf PFN change");
			handle_removed_pt(spte_to_child_sp(pt_, flavor(), old, level), shared);
		}
	}

	// handle_removed_pt(): the table was unlinked by the caller, who now owns
	// it.  v6.19 freezes every child (xchg when shared, since another thread
	// may briefly own a frozen entry), recursing into child tables; for a
	// mirror table each leaf is removed from S-EPT and then the S-EPT page
	// itself is freed.  Seed 000 instead hands the pruned branch to RCU.
	constexpr void handle_removed_pt(u32 sp, bool shared)
	{
		if (bug_on(sp == NO_SP, "handle_removed_pt: no child table"))
			return;
		log_.add({.kind = EventKind::prepare_zap_page, .gfn = pt_[sp].gfn, .level = pt_[sp].level, .sp = sp});
		pt_[sp].state = SpState::unlinked; // tdp_mmu_unlink_sp()
		if (cfg_.variants.removal != Variants::Removal::recursive_v6_19) {
			if (pt_[sp].mirror && blocks_pruned_branch())
				block_pruned_branch(sp);
			call_rcu({RcuCallback::Kind::zap_pruned_branch, sp});
			return;
		}
		zap_removed_children(sp, shared);
		free_external(sp);
		call_rcu({RcuCallback::Kind::free_sp, sp});
	}

	constexpr void zap_removed_children(u32 sp, bool shared)
	{
		const unsigned level = pt_[sp].level;
		const u64 base_gfn = pt_[sp].gfn;
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const SptePtr p{sp, i};
			const u64 gfn = base_gfn + i * pages_per(pt_, level);
			u64 old;
			if (shared) {
				// "If the SPTE was already marked as frozen then another
				// thread handling a page fault could overwrite it": the
				// atomic set waited (REMOVED_PT_SPIN) until none is frozen,
				// and nothing freezes an entry of an unlinked table but this.
				old = xchg_spte(p, frozen());
			} else {
				old = read_spte(p);
				if (!present(old))
					continue;
				old = write_spte_nonatomic(p, old, frozen());
			}
			handle_changed_spte(gfn, old, frozen(), level, shared);
			if (pt_[sp].mirror) {
				bug_on(shared, "handle_removed_pt: mirror table removed under shared mmu_lock");
				remove_external_spte(gfn, old, level);
			}
		}
	}

	// free_external_spt(): on failure "intentionally leak the page to prevent
	// the kernel from accessing the encrypted page".  v6.19 WARN_ON()s the
	// hook's error: a warning, not a KVM bug.
	constexpr void free_external(u32 sp)
	{
		if (!pt_[sp].mirror || pt_[sp].external_spt == 0)
			return;
		// "if (is_mirror_sp(sp)) kvm_x86_call(reclaim_external_sp)(kvm,
		// base_gfn, sp);": the hook decides about the leak, no WARN here.
		if constexpr (ReclaimExternalSpHooks<Hooks>)
			if (hooks_.reclaims_external_sp()) {
				log_.add({.kind = EventKind::external_hook,
					  .gfn = pt_[sp].gfn,
					  .level = pt_[sp].level,
					  .hook_arg = pt_[sp].external_spt,
					  .what = "reclaim_external_sp"});
				hooks_.reclaim_external_sp(pt_[sp].gfn, pt_[sp].level, pt_[sp].external_spt);
				return;
			}
		log_.add({.kind = EventKind::external_hook,
			  .gfn = pt_[sp].gfn,
			  .level = pt_[sp].level,
			  .hook_arg = pt_[sp].external_spt,
			  .what = "free_external_spt"});
		if (hooks_.free_external_spt(pt_[sp].gfn, pt_[sp].level, pt_[sp].external_spt) != 0) {
			warn_on(true, "free_external_spt failed: page leaked");
			pt_[sp].external_spt = 0;
		}
	}

	constexpr bool blocks_pruned_branch() const
	{
		return cfg_.variants.removal == Variants::Removal::rcu_block_parent ||
		       cfg_.variants.removal == Variants::Removal::rcu_block_children;
	}

	// Seed 000 for TDX, when the branch is pruned: "Setting the parent
	// (target page table) !PRESENT and flushing the TLBs ensures that all
	// children are unreachable" -- TDH.MEM.RANGE.BLOCK of the entry that
	// linked the table (with rcu_block_children, of every present entry
	// below it first, deepest first, since a blocked parent ends the
	// module's walk to its children), then TRACK and the kick.
	constexpr void block_pruned_branch(u32 sp)
	{
		if constexpr (PrunedBranchHooks<Hooks>) {
			if (cfg_.variants.removal == Variants::Removal::rcu_block_children)
				block_children(sp);
			hooks_.block_pruned_spte(pt_[sp].gfn, pt_[sp].level + 1);
			hooks_.track_pruned_branch();
		} else {
			bug_on(true, "handle_removed_pt: no hook blocks a pruned external branch");
		}
	}
	constexpr void block_children(u32 sp)
	{
		const unsigned level = pt_[sp].level;
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const u64 old = read_spte({sp, i});
			if (!present(old))
				continue;
			const u64 gfn = pt_[sp].gfn + i * pages_per(pt_, level);
			if (!last(old, level))
				block_children(spte_to_child_sp(pt_, flavor(), old, level));
			if constexpr (PrunedBranchHooks<Hooks>)
				hooks_.block_pruned_spte(gfn, level);
		}
	}

	// ... and in the RCU callback, with exclusive access to the branch:
	// every leaf removed (PAGE.REMOVE), every table after its children
	// (SEPT.REMOVE of the entry linking it), the top table last.
	constexpr void remove_pruned_branch(u32 sp)
	{
		const unsigned level = pt_[sp].level;
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const SptePtr p{sp, i};
			const u64 old = read_spte(p);
			if (!present(old))
				continue;
			const u64 gfn = pt_[sp].gfn + i * pages_per(pt_, level);
			write_spte_nonatomic(p, old, nonpresent());
			if (last(old, level)) {
				handle_changed_spte(gfn, old, nonpresent(), level, false);
				if constexpr (PrunedBranchHooks<Hooks>)
					hooks_.remove_pruned_spte(gfn, level, old);
				continue;
			}
			const u32 child = spte_to_child_sp(pt_, flavor(), old, level);
			pt_[child].state = SpState::unlinked;
			remove_pruned_branch(child);
			free_sp(child);
		}
		if constexpr (PrunedBranchHooks<Hooks>)
			if (hooks_.remove_pruned_spt(pt_[sp].gfn, level + 1, pt_[sp].external_spt) != 0)
				pt_[sp].external_spt = 0; // leaked, as free_external_spt() does on failure
	}

	constexpr void run_rcu_callback(const RcuCallback& cb)
	{
		log_.add({.kind = EventKind::rcu_callback,
			  .gfn = pt_[cb.sp].gfn,
			  .level = pt_[cb.sp].level,
			  .sp = cb.sp,
			  .pruned_branch = cb.kind == RcuCallback::Kind::zap_pruned_branch});
		if (cb.kind == RcuCallback::Kind::zap_pruned_branch && pt_[cb.sp].mirror && blocks_pruned_branch()) {
			const LockMode saved = take_lock(LockMode::write);
			remove_pruned_branch(cb.sp);
			lock_ = saved;
		} else if (cb.kind == RcuCallback::Kind::zap_pruned_branch) {
			// Seed 000: "the RCU callback has exclusive access to the branch,
			// i.e. can operate as if it were holding mmu_lock for write".
			const LockMode saved = take_lock(LockMode::write);
			zap_removed_children(cb.sp, false);
			free_external(cb.sp);
			lock_ = saved;
		}
		if (pt_[cb.sp].root)
			log_.add({.kind = EventKind::root_freed, .level = pt_[cb.sp].level, .sp = cb.sp});
		free_sp(cb.sp);
	}

	// tdp_mmu_link_sp(): install a non-leaf SPTE pointing at sp.
	constexpr int link_sp(TdpIter& it, u32 sp, bool shared)
	{
		const u64 spte = nonleaf_spte_of(sp);
		if (shared) {
			if (const int ret = set_spte_atomic(it, spte))
				return ret;
		} else {
			iter_set_spte(it, spte);
		}
		return 0;
	}

	// tdp_mmu_split_huge_page(): fill the (still unreachable) table with the
	// huge SPTE's children, then link it; no TLB flush is needed because the
	// translation is unchanged.
	constexpr int split_huge_page(TdpIter& it, u32 sp, bool shared)
	{
		const u64 huge = it.old_spte;
		const unsigned level = it.level;
		fill_split_children(it, sp);
		const int ret = link_sp(it, sp, shared);
		split_done(it.gfn, level, huge, ret);
		return ret;
	}
	// The huge SPTE's children, into the still unreachable table.
	constexpr void fill_split_children(const TdpIter& it, u32 sp)
	{
		for (u32 i = 0; i < pt_.fanout(); i++)
			pt_[sp].spt[i] = spec::make_small_spte(d(), flavor(), it.old_spte, u64{it.level - 1}, u64{i},
							       spec::no_fault, level_bits());
	}
	constexpr void split_done(u64 gfn, unsigned level, u64 huge, int ret)
	{
		if (!ret)
			stats_[level - 1] += pt_.fanout(); // kvm_update_page_stats(kvm, level - 1, SPTE_ENT_PER_PAGE)
		log_.add({.kind = EventKind::split_huge_page, .gfn = gfn, .level = level, .old_spte = huge, .err = ret});
	}
	constexpr u64 nonleaf_spte_of(u32 sp) const
	{
		return spec::make_nonleaf_spte(d(), flavor(), u64{pt_.pa_of(sp)}, !cfg_.ad_enabled);
	}

	Config cfg_;
	PageTables pt_;
	Hooks& hooks_;
	std::vector<u32> roots_;
	std::vector<RcuCallback> rcu_;
	EventLog log_;
	LockMode lock_ = LockMode::none;
	bool concurrent_ = false;
	u64 tlb_flushes_ = 0;
	u64 bugs_ = 0;
	u64 resched_clock_ = 0;
	u64 yields_ = 0;
	std::array<u64, 6> stats_{};
};

} // namespace arborist::impl
