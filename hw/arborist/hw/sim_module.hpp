// SPDX-License-Identifier: GPL-2.0-only
//
// The simulated TDX module (1.5.01): the default SeamcallBackend.
//
// It keeps what the module keeps for one TD -- the PAMT of a TDMR, the
// S-EPT pages, TDR/TDCS and the vCPUs -- and runs every memory-management
// leaf the same way: decode the registers, walk the S-EPT, extract the local
// view spec::SeptLocal, call spec::sept_seamcall and write the post-view back.
// The checks of those leaves -- TD state, locks, walk, entry states,
// tracking, page types, counters -- live in spec/arborist/sept.hpp only and
// are not repeated here.  What this file adds is what the spec leaves to the
// machine layer: decoding the registers into SeptArgs (page info, the TD
// handle, and the address part of the explicit-HPA checks of the module's
// helpers.c, for which SeptArgs has no input), the structural effects the
// view cannot express (a new S-EPT page, DEMOTE/PROMOTE re-shaping the PAMT),
// and, in one marked section, the leaves the spec has no rule for yet
// (TDH.VP.ENTER, TDH.VP.FLUSH, TDH.PHYMEM.PAGE.WBINVD).  Leaves outside the
// model (TDH.MNG.CREATE etc. through seamcall()) get the spec dispatcher's
// TDX_OPERAND_INVALID|RAX; a TD is built with the construction helpers.
//
// Facts: intel/tdx-module TDX_1.5.01 (docs/sources.md), the module's files
// cited per behaviour.  Everything is constexpr: a scenario can run in a
// constant expression (std::vector only, freed by the end).
//
// Not modelled: more than one TD per module, more than one package (one
// TDH.PHYMEM.CACHE.WB clears the TD's wbinvd bit), L2 VMs / SEAMCALL
// versions above 0, live migration, interruption (TDX_INTERRUPTED_*), the
// per-vCPU TDCX pages (a vCPU is its TDVPR page), MRTD contents.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "arborist/hw/seamcall.hpp"
#include "arborist/abi/tdx.hpp"
#include "arborist/module_locks.hpp"
#include "arborist/sept.hpp"
#include "arborist/tlb.hpp"

namespace arborist::hw {

namespace sim {

using spec::Lifecycle;
using spec::OpState;
using spec::PageType;
using spec::SeptState;
using C = spec::Concrete;
// A view of fan-out F: SEPT_FANOUT for the leaves that read or write the
// child page (spec::sept_leaf_uses_children), 0 for the others.
template <std::size_t F>
using ViewOf = spec::SeptLocal<C, F>;
template <std::size_t F>
using OutcomeOf = spec::SeptOutcome<C, F>;
using View = ViewOf<spec::SEPT_FANOUT>;
using Args = spec::SeptArgs<C>;
using Busy = spec::Contention<C>;
using TdState = spec::TdState<C>;
inline constexpr std::size_t NO_CHILD = 0;
using u32 = std::uint32_t;

inline constexpr u64 PAGE_SHIFT = 12;
inline constexpr u64 PAGE_SIZE = u64{1} << PAGE_SHIFT;
inline constexpr u64 GPA_MASK = 0x000FFFFFFFFFF000ULL; // page info bits 51:12 (tdx_api_defs.h)
inline constexpr u32 NO_PAGE = ~u32{0};
inline constexpr u32 NO_LP = ~u32{0}; // VCPU_NO_LP: a vCPU associated with no logical processor
inline constexpr u64 NO_PFN = ~u64{0};

// TDCS layout of module 1.5 (td_control_structures.h tdcs_page_index_t):
// the S-EPT root is TDCS page 3 (sept_manager.c secure_ept_walk()); without L2 VMs a TD has 6.
inline constexpr unsigned SEPT_ROOT_PAGE_INDEX = 3;
inline constexpr unsigned MIN_NUM_TDCS_PAGES = 6;

template <class E>
constexpr u64 w(E e)
{
	return static_cast<u64>(e);
}

// 4K frames of a page of the given TDX level / PAMT size (0 4K, 1 2M, 2 1G).
constexpr u64 frames_in(unsigned size)
{
	return u64{1} << (9 * size);
}

constexpr u64 bytes_in(unsigned size)
{
	return PAGE_SIZE << (9 * size);
}

// The entry index at a TDX level: GPA bits 12 + 9 * level .. + 8.
constexpr u32 sept_index(u64 gpa, unsigned level)
{
	return static_cast<u32>((gpa >> (PAGE_SHIFT + 9 * level)) & (spec::SEPT_FANOUT - 1));
}

constexpr bool is_nl(u64 state)
{
	return state == w(SeptState::NL_MAPPED) || state == w(SeptState::NL_BLOCKED);
}

// An entry that maps or links a page (sept_state_lookup.h: FREE and REMOVED hold
// no HPA).
constexpr bool has_hpa(u64 state)
{
	return state != w(SeptState::FREE) && state != w(SeptState::REMOVED);
}

// The architectural form of an entry in RCX (tdx_api_defs.h, tdx_vmm_dispatcher.c, extended error
// output; module sept_manager.c set_arch_septe_details_in_vmm_regs with
// SEPT_ARCH_ENTRY_LEAF_MASK / SEPT_ARCH_ENTRY_NON_LEAF_MASK): FREE reads
// back as SVE alone, a non-leaf as its RWX bits, a leaf as RWX, MT, IPAT,
// PS, HPA and SVE.  RWX is 111 only for MAPPED and NL_MAPPED (sept_state_lookup.h
// table; the *BLOCKEDW export states never occur here).
inline constexpr u64 SEPT_SVE = u64{1} << 63;
inline constexpr u64 SEPT_PS = u64{1} << 7;
inline constexpr u64 SEPT_IPAT = u64{1} << 6;
inline constexpr u64 SEPT_MT_WB = u64{6} << 3;
inline constexpr u64 SEPT_RWX = 7;

constexpr u64 sept_arch_entry(u64 state, u64 hpa)
{
	if (state == w(SeptState::FREE))
		return SEPT_SVE;
	const bool present = state == w(SeptState::MAPPED) || state == w(SeptState::NL_MAPPED);
	const u64 rwx = present ? SEPT_RWX : 0;
	if (!spec::sept_is_leaf(spec::concrete, state))
		return rwx;
	return rwx | SEPT_MT_WB | SEPT_IPAT | SEPT_PS | (hpa & GPA_MASK) | SEPT_SVE;
}

// RDX of the extended error output: level in 2:0, arch state in 15:8.
constexpr u64 sept_level_state(unsigned level, u64 state)
{
	return level | (spec::sept_arch_state(static_cast<SeptState>(state)) << 8);
}

} // namespace sim

// What the host may read back (tests, refinement, benchmarks).
struct SeptEntryView {
	spec::SeptState state;
	u64 hpa;
};

struct PamtView {
	spec::PageType pt;
	u64 owner;    // TDR PA, 0 for a free page
	u64 bepoch;
	unsigned size; // 0 4K, 1 2M, 2 1G
	u64 head_pfn;  // first frame of the page the frame belongs to
};

struct VcpuView {
	u64 tdvpr_pa;
	bool associated;
	bool in_guest;
	u64 vcpu_epoch;
	std::uint32_t assoc_lp; // the LP it is associated with, sim::NO_LP if none
};

class SimModule {
public:
	// A TDMR of `tdmr_pages` 4K frames from `tdmr_base_pfn`, every frame
	// PT_NDA; x86_phys_bits is where KeyID bits start in an HPA.
	constexpr SimModule(spec::TdGeometry geometry, u64 tdmr_base_pfn, u64 tdmr_pages,
			    unsigned x86_phys_bits = 46)
		: g_(geometry), base_(tdmr_base_pfn), phys_bits_(x86_phys_bits), frames_(tdmr_pages)
	{
	}

	// Lock contention for the next SEAMCALL: every flag set makes that
	// lock acquisition fail with TDX_OPERAND_BUSY; cleared by the call.
	spec::Contention<sim::C> inject_busy{};

	// A named fault of spec/arborist/fault.hpp for the next SEAMCALL: its
	// spec rules run with that check skipped or changed; cleared by the
	// call.  The conformance checker uses it to find which spec check a
	// traced SEAMCALL's status contradicts (conform/tdx.cpp).
	spec::Fault inject_fault = spec::no_fault;

	// The logical processor the SEAMCALLs run on (the module's
	// lp_info.lp_id): TDH.VP.INIT and TDH.VP.ENTER associate a vCPU with it,
	// TDH.VP.FLUSH must run on the one its vCPU is associated with.  Set by
	// the caller (the conformance checker: the CPU of the traced call); one
	// LP unless changed.
	sim::u32 lp = 0;

	// Lock windows (the model checker's stepped module; off everywhere
	// else).  The module releases every lock before a SEAMCALL returns, so
	// with one call in flight at a time no lock ever conflicts.  With
	// lock_windows on, a successful call keeps the locks it took
	// (spec::leaf_locks) on behalf of `lock_owner` -- the logical processor
	// it ran on -- until that owner's next SEAMCALL or release_locks(owner):
	// the window between the call's effect and its return, in which a call
	// of another logical processor that needs a conflicting lock fails with
	// the BUSY status and operand ID of the leaf's rule.  VP.ENTER keeps the
	// locks it releases before entering non-root mode (OP_STATE, the TD
	// epoch, the S-EPT tree of the stepping filter) until its owner's next
	// step or the vCPU's TD exit; its TDR and TDVPR it holds while the vCPU
	// is in the guest, with or without windows (any_vcpu_in_guest()).
	bool lock_windows = false;
	sim::u32 lock_owner = 0;

	constexpr void release_locks(sim::u32 owner)
	{
		std::erase_if(held_, [owner](const spec::HeldLock& h) { return h.owner == owner; });
	}
	constexpr const std::vector<spec::HeldLock>& held_locks() const { return held_; }

	// The vCPU's last TD exits were EPT violations at one RIP beyond
	// STEPPING_EPF_THRESHOLD (td_exit_stepping.c td_exit_epf_stepping_log):
	// its next TDH.VP.ENTER runs td_entry_stepping_filter(), which takes
	// the S-EPT tree exclusively (BUSY|SEPT_TREE if it cannot) and releases
	// it before the entry.  (The filter's EPF re-check is taken to pass.)
	constexpr bool set_stepping_filter(std::size_t vcpu, bool on)
	{
		if (vcpu >= vcpus_.size())
			return false;
		vcpus_[vcpu].stepping_filter = on;
		return true;
	}

	constexpr unsigned x86_phys_bits() const { return phys_bits_; }
	constexpr const spec::TdGeometry& geometry() const { return g_; }

	// --- the SEAMCALL instruction ------------------------------------------

	constexpr u64 seamcall(u64 fn, TdxModuleArgs& a)
	{
		const sim::Busy busy = inject_busy;
		const u64 leaf = fn & 0xFFFF;

		inject_busy = {};
		if (lock_windows)
			release_locks(lock_owner); // the owner's previous call has returned
		fault_ = inject_fault;
		inject_fault = spec::no_fault;
		if (leaf < calls_.size())
			calls_[leaf]++;
		const TdxModuleArgs in = a;
		const u64 ret = call(fn, a, busy);
		if (trace_enabled)
			trace.push_back({static_cast<tdx_abi::Leaf>(leaf), in.rcx, in.rdx, in.r8, ret, a.rcx, a.rdx, in.r9, a.r8,
					 tick()});
		return ret;
	}

	// The status seamcall(fn, a) would return with `fault` injected, without
	// changing anything: every leaf runs its checks on the view it extracts
	// (decode, walk, spec::sept_seamcall) and stops before writing the
	// post-view back, so no state, call count or trace record changes and
	// the outputs go to a copy of `a`.  The conformance checker looks for
	// the spec check a traced status contradicts this way, one fault at a
	// time, and then runs the call for real with the fault that reproduced
	// the trace (conform/tdx.cpp); its cost is that of the call, not of the
	// module's size.
	constexpr u64 status_with(u64 fn, TdxModuleArgs a, spec::Fault fault)
	{
		const spec::Fault saved = fault_;
		fault_ = fault;
		commit_ = false;
		const u64 ret = call(fn, a, sim::Busy{});
		commit_ = true;
		fault_ = saved;
		return ret;
	}

	// Every SEAMCALL with its inputs and status, when trace_enabled (for
	// `arborist run`, trace generation and tests).  A TD exit (td_exit())
	// is recorded too, as a TDH.VP.ENTER record with td_exit set: it ends
	// the SEAMCALL that entered the guest.
	struct CallRecord {
		tdx_abi::Leaf leaf;
		u64 rcx, rdx, r8; // inputs
		u64 status;       // RAX out
		u64 out_rcx, out_rdx;
		u64 r9 = 0, out_r8 = 0;
		u64 seq = 0;          // *trace_clock at the call (0 without a clock)
		bool td_exit = false; // the TD exit of the vCPU whose TDVPR is rcx
	};
	bool trace_enabled = false;
	std::vector<CallRecord> trace;
	// A counter shared with other event logs (impl::EventLog::clock), so
	// that the records of several logs can be merged in order.
	u64* trace_clock = nullptr;

	// --- TD construction (not SEAMCALL-exact) --------------------------------
	//
	// TDH.MNG.CREATE, KEY.CONFIG, ADDCX, MNG.INIT and VP.CREATE+VP.INIT with
	// their effects on the state the S-EPT leaves read (td_control_structures.h,
	// op_state_lookup.c, tdh_mng_create.c, tdh_mng_key_config.c, tdh_mng_add_cx.c,
	// tdh_mng_init.c, tdh_vp_create.c, tdh_vp_init.c, pamt_manager.c) but
	// without their checks and statuses: each returns false,
	// changing nothing, when called out of order or on a page that is not a
	// free 4K TDMR page.

	constexpr bool create_td(u64 tdr_pa, u16 hkid)
	{
		if (td_.exists || !free_page(tdr_pa))
			return false;
		const std::optional<std::uint16_t> owner = owner_index(tdr_pa);
		if (!owner)
			return false;
		td_ = Td{};
		td_.exists = true;
		td_.tdr_pa = tdr_pa;
		td_.owner = *owner;
		td_.hkid = hkid;
		td_.st.lifecycle = sim::w(sim::Lifecycle::TD_HKID_ASSIGNED);
		td_.st.op_state = sim::w(sim::OpState::UNINITIALIZED);
		give_page(tdr_pa, sim::PageType::PT_TDR);
		return true;
	}

	// One package: the first KEY.CONFIG configures them all.
	constexpr bool key_config()
	{
		if (!td_.exists || !lifecycle_is(sim::Lifecycle::TD_HKID_ASSIGNED))
			return false;
		td_.st.lifecycle = sim::w(sim::Lifecycle::TD_KEYS_CONFIGURED);
		return true;
	}

	// TDH.MNG.ADDCX: a TDCS page, CHLDCNT += 1 (pamt_manager.c).
	constexpr bool add_tdcs_page(u64 pa)
	{
		if (!lifecycle_is(sim::Lifecycle::TD_KEYS_CONFIGURED) ||
		    td_.num_tdcx == sim::MIN_NUM_TDCS_PAGES || !free_page(pa))
			return false;
		give_page(pa, sim::PageType::PT_TDCX);
		td_.tdcs[td_.num_tdcx++] = pa;
		td_.st.chldcnt += 1;
		td_.st.tdcs_allocated = td_.num_tdcx == sim::MIN_NUM_TDCS_PAGES;
		return true;
	}

	// TDH.MNG.INIT: OP_STATE INITIALIZED, td_epoch = 1 (spec tlb_initial),
	// the S-EPT root (TDCS page SEPT_ROOT_PAGE_INDEX) all FREE.
	constexpr bool mng_init()
	{
		if (!td_.exists || !td_.st.tdcs_allocated || td_.st.op_state != sim::w(sim::OpState::UNINITIALIZED))
			return false;
		td_.st.op_state = sim::w(sim::OpState::INITIALIZED);
		td_.st.epoch = spec::tlb_initial<sim::C, 1>(spec::concrete).epoch;
		td_.root = alloc_sept_page(td_.tdcs[sim::SEPT_ROOT_PAGE_INDEX]);
		return true;
	}

	// The whole build-time sequence: CREATE, KEY.CONFIG, ADDCX of
	// MIN_NUM_TDCS_PAGES pages from tdcs_base_pa, MNG.INIT.
	constexpr bool build_td(u64 tdr_pa, u16 hkid, u64 tdcs_base_pa)
	{
		if (!create_td(tdr_pa, hkid) || !key_config())
			return false;
		for (unsigned i = 0; i < sim::MIN_NUM_TDCS_PAGES; i++)
			if (!add_tdcs_page(tdcs_base_pa + i * sim::PAGE_SIZE))
				return false;
		return mng_init();
	}

	// TDH.VP.CREATE: the TDVPR page (CHLDCNT += 1), a vCPU that is neither
	// initialized nor associated (pamt_manager.c).  Returns the vCPU index.
	constexpr std::optional<std::size_t> create_vcpu(u64 tdvpr_pa)
	{
		if (!td_.exists || td_.st.op_state != sim::w(sim::OpState::INITIALIZED) || !free_page(tdvpr_pa))
			return std::nullopt;
		give_page(tdvpr_pa, sim::PageType::PT_TDVPR);
		td_.st.chldcnt += 1;
		vcpus_.push_back(Vcpu{.tdvpr_pa = tdvpr_pa,
				      .live = true,
				      .initialized = false,
				      .assoc_lp = sim::NO_LP,
				      .in_guest = false,
				      .vcpu_epoch = 0,
				      .stepping_filter = false,
				      .entry_owner = sim::NO_LP});
		return vcpus_.size() - 1;
	}

	// TDH.VP.INIT of a created vCPU: counted in NUM_VCPUS (MR.FINALIZE needs
	// one) and associated with the current LP (tdh_vp_init.c:
	// associate_vcpu_initial(), assoc_lpid := the LP's id).
	constexpr bool init_vcpu(u64 tdvpr_pa)
	{
		const std::size_t v = find_vcpu(tdvpr_pa);
		if (v == vcpus_.size() || vcpus_[v].initialized)
			return false;
		vcpus_[v].initialized = true;
		td_.st.num_vcpus += 1;
		associate(vcpus_[v]);
		return true;
	}

	// TDH.VP.CREATE + TDH.VP.INIT on the current LP.  Returns the vCPU index.
	constexpr std::optional<std::size_t> add_vcpu(u64 tdvpr_pa)
	{
		const std::optional<std::size_t> v = create_vcpu(tdvpr_pa);
		if (v)
			init_vcpu(tdvpr_pa);
		return v;
	}

	// The TD exit of a vCPU that TDH.VP.ENTER put in the guest (td_exit.c:
	// refcount[vcpu_epoch & 1]--), via spec::tlb_td_exit.
	constexpr bool td_exit(std::size_t vcpu)
	{
		if (vcpu >= vcpus_.size() || !vcpus_[vcpu].live || !vcpus_[vcpu].in_guest)
			return false;
		const auto step = spec::tlb_td_exit(spec::concrete, tlb_view(vcpus_[vcpu]), 0);
		apply_tlb(vcpus_[vcpu], step.post);
		// An exit forced by a kick while the entry was still in flight: the
		// kicker waits (KVM_REQUEST_WAIT) until VP.ENTER has released its
		// temporary locks and the vCPU has left the guest.
		if (vcpus_[vcpu].entry_owner != sim::NO_LP)
			release_locks(vcpus_[vcpu].entry_owner);
		vcpus_[vcpu].entry_owner = sim::NO_LP;
		if (trace_enabled)
			trace.push_back({tdx_abi::Leaf::TDH_VP_ENTER, vcpus_[vcpu].tdvpr_pa, 0, 0, tdx_abi::status::TDX_SUCCESS, 0, 0, 0, 0,
					 tick(), true});
		return true;
	}

	// --- the guest's TDCALLs ---------------------------------------------------

	// What a TDCALL gives the guest: a status in RAX, or no status because
	// the call ended in a TD exit (an EPT violation, async_tdexit_ept_violation)
	// or the vCPU is not in the guest (no TDCALL can be made).
	struct TdcallResult {
		bool returned;
		u64 status;
	};

	// TDG.MEM.PAGE.ACCEPT by vCPU `vcpu` of the page at `gpa`, TDX level
	// `level` (td_dispatcher/vm_exits/tdg_mem_page_accept.c
	// tdg_mem_page_accept(), check_tdaccept_failure()): the guest walk (no
	// tree lock); a walk that stops above the level at a MAPPED leaf is
	// TDX_PAGE_ALREADY_ACCEPTED, at anything else an EPT violation; at the
	// level the entry lock, taken guest-side (spec::sept_lock_acquire_guest:
	// BUSY|RCX or BUSY_HOST_PRIORITY|RCX), then a non-leaf is
	// TDX_PAGE_SIZE_MISMATCH, MAPPED TDX_PAGE_ALREADY_ACCEPTED, PENDING
	// becomes MAPPED, anything else an EPT violation.  The two "already"
	// statuses carry the level the walk ended at as their operand.  With
	// lock windows a successful ACCEPT keeps the entry lock for lock_owner
	// until its next call.  (A 2M ACCEPT is one step: the module's
	// interruptible loop over its 512 pages is not modelled.)
	constexpr TdcallResult tdg_mem_page_accept(std::size_t vcpu, u64 gpa, unsigned level)
	{
		namespace st = tdx_abi::status;
		if (vcpu >= vcpus_.size() || !vcpus_[vcpu].live || !vcpus_[vcpu].in_guest)
			return {false, 0};
		if (lock_windows)
			release_locks(lock_owner); // the owner's previous call has returned
		// verify_page_info_input(LVL_PT, LVL_PD), check_gpa_validity(PRIVATE_ONLY)
		if (level > 1 || (gpa & (sim::bytes_in(level) - 1)) || !gpa_valid(gpa))
			return {true, tdx_abi::with_operand(st::TDX_OPERAND_INVALID, tdx_abi::operand::RCX)};
		const Walk wk = walk(gpa, level);
		if (!wk.read)
			return {false, 0};
		const u64 at = entry(wk.ref[wk.last]).state();
		if (!wk.reached)
			return at == sim::w(sim::SeptState::MAPPED) ? TdcallResult{true, tdx_abi::with_operand(st::TDX_PAGE_ALREADY_ACCEPTED, wk.last)}
								    : TdcallResult{false, 0};
		const u64 key = entry_lock_key(gpa, level);
		spec::LockSet locks;
		if (lock_windows)
			locks.add(spec::ModuleLock::sept_entry, key, spec::LockMode::exclusive, lock_owner);
		switch (spec::sept_lock_acquire_guest(contention(locks).entry, host_priority(key))) {
		case spec::GuestEntryLock::busy:
			return {true, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::RCX)};
		case spec::GuestEntryLock::busy_host_priority:
			return {true, tdx_abi::with_operand(st::TDX_OPERAND_BUSY_HOST_PRIORITY, tdx_abi::operand::RCX)};
		case spec::GuestEntryLock::acquired: break;
		}
		if (at != sim::w(sim::SeptState::FREE) && !spec::sept_is_leaf(spec::concrete, at))
			return {true, tdx_abi::with_operand(st::TDX_PAGE_SIZE_MISMATCH, level)};
		if (at == sim::w(sim::SeptState::MAPPED))
			return {true, tdx_abi::with_operand(st::TDX_PAGE_ALREADY_ACCEPTED, level)};
		if (at != sim::w(sim::SeptState::PENDING))
			return {false, 0};
		entry(wk.ref[level]).set_state(sim::w(sim::SeptState::MAPPED));
		hold(locks);
		return {true, st::TDX_SUCCESS};
	}

	// The entry's TDHP bit (lock windows only; see host_entry_lock_priority).
	constexpr bool host_priority(u64 entry_key) const
	{
		return std::binary_search(host_priority_.begin(), host_priority_.end(), entry_key);
	}
	constexpr bool host_priority(u64 gpa, unsigned level) const { return host_priority(entry_lock_key(gpa, level)); }
	constexpr const std::vector<u64>& host_priority_entries() const { return host_priority_; }

	// TDH.VP.ADDCX (pamt_manager.c): a TDCX page of a vCPU, CHLDCNT += 1.  The
	// simulated vCPU is its TDVPR page; its TDCX pages are only owned (so
	// that RECLAIM finds them), like add_tdcs_page() does for the TD.
	constexpr bool add_vcpu_page(u64 tdvpr_pa, u64 pa)
	{
		if (find_vcpu(tdvpr_pa) == vcpus_.size() || !free_page(pa))
			return false;
		give_page(pa, sim::PageType::PT_TDCX);
		td_.st.chldcnt += 1;
		return true;
	}

	// More TDMR frames after the last one (every new frame PT_NDA): a
	// replay that learns the host's pages as it goes (conform/tdx.cpp).
	constexpr void grow_tdmr(u64 pages)
	{
		frames_.resize(frames_.size() + pages);
	}
	constexpr u64 tdmr_base_pfn() const { return base_; }
	constexpr u64 tdmr_pages() const { return frames_.size(); }

	// --- host-side queries ----------------------------------------------------

	// The entry at `tdx_level` on the walk to gpa, if the walk reaches it.
	constexpr std::optional<SeptEntryView> sept_entry(u64 gpa, unsigned tdx_level) const
	{
		if (tdx_level >= g_.pwl)
			return std::nullopt;
		const Walk wk = walk(gpa, tdx_level);
		if (!wk.reached)
			return std::nullopt;
		const Entry& e = entry(wk.ref[tdx_level]);
		return SeptEntryView{static_cast<spec::SeptState>(e.state()), e.hpa()};
	}

	// The PAMT entry of the page a frame belongs to (pamt_manager.c: a 2M/1G
	// page is represented at its own level only).
	constexpr std::optional<PamtView> pamt(u64 pfn) const
	{
		if (!in_tdmr(pfn))
			return std::nullopt;
		const Frame& f = leaf_frame(pfn);
		return PamtView{static_cast<spec::PageType>(f.pt), owners_[f.owner], f.bepoch, f.size, head_of(pfn)};
	}

	constexpr const spec::TdState<sim::C>& td() const { return td_.st; }
	constexpr bool has_td() const { return td_.exists; }
	constexpr u64 tdr_pa() const { return td_.tdr_pa; }
	constexpr u16 hkid() const { return td_.hkid; }
	constexpr u64 tdcs_pa(unsigned i) const { return td_.tdcs[i]; }
	constexpr std::size_t num_vcpus() const { return vcpus_.size(); }

	constexpr VcpuView vcpu(std::size_t i) const
	{
		const Vcpu& v = vcpus_[i];
		return {v.tdvpr_pa, v.assoc_lp != sim::NO_LP, v.in_guest, v.vcpu_epoch, v.assoc_lp};
	}

	// Live S-EPT pages, the root included.
	constexpr std::size_t sept_pages() const { return pages_.size() - free_pages_.size(); }

	// SEAMCALLs issued, by leaf number (failed ones included).
	constexpr u64 calls(tdx_abi::Leaf leaf) const
	{
		const u64 l = static_cast<u64>(leaf);
		return l < calls_.size() ? calls_[l] : 0;
	}

	constexpr u64 total_calls() const
	{
		u64 n = 0;
		for (u64 c : calls_)
			n += c;
		return n;
	}

	constexpr void reset_calls() { calls_ = {}; }

	// Visit every non-FREE entry: f(gpa, tdx_level, SeptEntryView).
	template <class F>
	constexpr void for_each_entry(F&& f) const
	{
		if (td_.root != sim::NO_PAGE)
			visit_page(td_.root, g_.pwl - 1, 0, f);
	}

private:
	using u32 = sim::u32;

	// One PAMT entry per 4K frame of the TDMR, 16 bytes: a 107 GiB TD has
	// 28 M of them.  The page type, sizes and owner are narrowed to what
	// they can hold (page_type_t values, PAMT levels 0-2, one TD per
	// module); the frame's head is not stored: a 2M/1G page starts at a
	// frame aligned to its size (tdh_mem_page_aug.c, tdh_mem_page_demote.c
	// and tdh_mem_page_promote.c check the HPA's alignment), so `cover`, the
	// size of the page the frame belongs to, is enough to find it.
	struct Frame {
		u64 bepoch = 0;
		u32 sept = sim::NO_PAGE; // the S-EPT page held in this frame
		std::uint16_t owner = 0; // index in owners_: the TDR PA, 0 for none
		std::uint8_t pt = sim::w(sim::PageType::PT_NDA);
		std::uint8_t size : 4 = 0;  // PAMT leaf size of a head frame
		std::uint8_t cover : 4 = 0; // size of the page the frame belongs to
	};
	static_assert(sizeof(Frame) == 16);

	// An S-EPT entry in 8 bytes: the HPA (bits 51:12, like the
	// architectural entry; MAXPHYADDR is at most 52) and the SeptState
	// (bits 7:0, which hold every value of sept_state_names).
	class Entry {
	public:
		static constexpr u64 STATE_MASK = 0xFF;

		constexpr Entry() = default;
		constexpr Entry(u64 state, u64 hpa) : raw_((hpa & sim::GPA_MASK) | (state & STATE_MASK)) {}
		constexpr u64 state() const { return raw_ & STATE_MASK; }
		constexpr u64 hpa() const { return raw_ & sim::GPA_MASK; }
		constexpr void set_state(u64 state) { raw_ = (raw_ & ~STATE_MASK) | (state & STATE_MASK); }

	private:
		u64 raw_ = sim::w(sim::SeptState::FREE);
	};
	static_assert(sizeof(Entry) == 8);
	static_assert(std::ranges::all_of(spec::sept_state_names,
					  [](const auto& n) { return sim::w(n.state) <= Entry::STATE_MASK; }));

	// Each S-EPT page's entries are their own allocation, so that the
	// store grows without copying (and without holding two copies of)
	// every page at once.
	struct SeptPage {
		std::vector<Entry> e = std::vector<Entry>(spec::SEPT_FANOUT);
	};

	struct Vcpu {
		u64 tdvpr_pa;
		bool live;
		bool initialized; // TDH.VP.INIT done (VCPU_READY)
		u32 assoc_lp;     // tdvps.management.assoc_lpid, sim::NO_LP if none
		bool in_guest;
		u64 vcpu_epoch;
		bool stepping_filter; // set_stepping_filter()
		u32 entry_owner;      // lock_windows: whose VP.ENTER window is open, NO_LP if none
	};

	struct Td {
		bool exists = false;
		u64 tdr_pa = 0;
		u16 hkid = 0;
		sim::TdState st{};
		std::array<u64, sim::MIN_NUM_TDCS_PAGES> tdcs{};
		unsigned num_tdcx = 0;
		u32 root = sim::NO_PAGE;
		std::uint16_t owner = 0; // tdr_pa's index in owners_
	};

	struct EntryRef {
		u32 page = sim::NO_PAGE;
		u32 slot = 0;
	};

	// The walk to a GPA (sept_manager.c secure_ept_walk()): path[] as the spec reads it,
	// where each reached entry lives, the last level read.
	struct Walk {
		std::array<u64, spec::SEPT_LEVELS> path{};
		std::array<EntryRef, spec::SEPT_LEVELS> ref{};
		unsigned last = 0;
		bool read = false;
		bool reached = false;
	};

	// Decoded RCX page info (tdx_api_defs.h, tdx_vmm_dispatcher.c).
	struct PageInfo {
		u64 gpa;
		unsigned level;
		bool ok;
	};

	// An explicit page operand (R8): its frame and the helpers.c status of
	// its address checks (0, TDX_OPERAND_INVALID or ..._ADDR_RANGE_ERROR).
	struct Operand {
		bool present = false;
		u64 pa = 0;
		u64 pfn = sim::NO_PFN;
		unsigned size = 0;
		u64 error = 0;
	};

	// How an S-EPT leaf uses the registers besides RCX page info.
	struct SeptLeafAbi {
		bool r8;            // R8 is a page the module takes (5.1, 5.2, 5.3, 5.9)
		bool r8_at_level;   // ... at the size of the level (AUG), else 4K
		bool rdx_flags;     // RDX is td_handle_and_flags_t (tdx_api_defs.h; SEPT.ADD, DEMOTE)
		bool tdr_exclusive; // the TDR is taken exclusively (tdx_locks.h)
	};

	// --- dispatch -----------------------------------------------------------

	// tdx_api_defs.h, tdx_vmm_dispatcher.c: RAX bits above the leaf are the version, any other bit is
	// OPERAND_INVALID|RAX.  Version 1 (SEPT.ADD, SEPT.REMOVE, PROMOTE)
	// carries L2 S-EPT pages, not modelled: only 0 is taken.
	constexpr u64 call(u64 fn, TdxModuleArgs& a, const sim::Busy& busy)
	{
		if (fn >> tdx_abi::TDX_VERSION_SHIFT)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, tdx_abi::operand::RAX);
		return dispatch(static_cast<tdx_abi::Leaf>(fn & 0xFFFF), a, busy);
	}

	constexpr u64 dispatch(tdx_abi::Leaf leaf, TdxModuleArgs& a, sim::Busy busy)
	{
		switch (leaf) {
		case tdx_abi::Leaf::TDH_MEM_SEPT_ADD:
		case tdx_abi::Leaf::TDH_MEM_PAGE_ADD:
		case tdx_abi::Leaf::TDH_MEM_PAGE_AUG:
		case tdx_abi::Leaf::TDH_MEM_RANGE_BLOCK:
		case tdx_abi::Leaf::TDH_MEM_RANGE_UNBLOCK:
		case tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE:
		case tdx_abi::Leaf::TDH_MEM_SEPT_REMOVE:
		case tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE:
		case tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE:
			return sept_leaf(leaf, a, busy);
		case tdx_abi::Leaf::TDH_MR_EXTEND:
			return mr_extend(a, busy);
		case tdx_abi::Leaf::TDH_MEM_TRACK:
		case tdx_abi::Leaf::TDH_MR_FINALIZE:
		case tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE:
		case tdx_abi::Leaf::TDH_MNG_KEY_FREEID:
			return td_leaf(leaf, a, busy);
		case tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB:
			return cache_wb(a, busy);
		case tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM:
			return reclaim(a, busy);
		case tdx_abi::Leaf::TDH_VP_ENTER:
			return vp_enter(a, busy);
		case tdx_abi::Leaf::TDH_VP_FLUSH:
			return vp_flush(a, busy);
		case tdx_abi::Leaf::TDH_PHYMEM_PAGE_WBINVD:
			return page_wbinvd(a, busy);
		default:
			// Outside the model: the spec dispatcher's answer.
			return run_spec(leaf, sim::Args{}, td_view<sim::NO_CHILD>()).status;
		}
	}

	template <std::size_t F>
	constexpr sim::OutcomeOf<F> run_spec(tdx_abi::Leaf leaf, const sim::Args& args, const sim::ViewOf<F>& s) const
	{
		return spec::sept_seamcall(spec::concrete, g_, leaf, args, s, fault_);
	}

	// --- the S-EPT leaves ---------------------------------------------------

	// R8 and the RDX flags from leaf_operands() (seamcall.hpp); AUG takes a
	// page of the entry's size (tdh_mem_page_aug.c), PAGE.ADD the TDR
	// exclusively (tdh_mem_page_add.c, tdx_locks.h).
	static constexpr SeptLeafAbi sept_leaf_abi(tdx_abi::Leaf leaf)
	{
		const LeafOperands o = leaf_operands(leaf);
		return {.r8 = o.r8_page,
			.r8_at_level = leaf == tdx_abi::Leaf::TDH_MEM_PAGE_AUG,
			.rdx_flags = o.handle_flags,
			.tdr_exclusive = leaf == tdx_abi::Leaf::TDH_MEM_PAGE_ADD};
	}

	// Only SEPT.ADD, SEPT.REMOVE, DEMOTE and PROMOTE see the child page
	// (spec::sept_leaf_uses_children); the others run the same rule on a
	// view without one.  That keeps a 4K map or unmap from building and
	// copying the 512 child states -- 4 KiB, several times over -- that
	// its rule never reads.
	constexpr u64 sept_leaf(tdx_abi::Leaf leaf, TdxModuleArgs& a, const sim::Busy& busy)
	{
		if (spec::sept_leaf_uses_children(leaf))
			return sept_leaf_with<spec::SEPT_FANOUT>(leaf, a, busy);
		return sept_leaf_with<sim::NO_CHILD>(leaf, a, busy);
	}

	template <std::size_t F>
	constexpr u64 sept_leaf_with(tdx_abi::Leaf leaf, TdxModuleArgs& a, sim::Busy busy)
	{
		const SeptLeafAbi abi = sept_leaf_abi(leaf);
		const PageInfo pi = decode_page_info(a.rcx);
		const u64 rdx = a.rdx;

		// tdx_api_defs.h, tdx_vmm_dispatcher.c: the S-EPT leaves zero RCX and RDX on entry.
		a.rcx = 0;
		a.rdx = 0;
		const Walk wk = walk(pi.gpa, pi.level);
		const Operand op = abi.r8 ? decode_page_operand(a.r8, r8_size(abi, pi.level)) : Operand{};
		// The lock keys read the target entry again: only with lock windows.
		const spec::LockSet locks = lock_windows ? leaf_lock_set(leaf, sept_lock_keys(pi, wk, op)) : spec::LockSet{};
		busy = busy | contention(locks);
		busy.tdr = busy.tdr || (abi.tdr_exclusive && any_vcpu_in_guest());
		if (const u64 err = decode_td_handle(rdx, abi.rdx_flags, busy))
			return err;

		const sim::ViewOf<F> s = make_view<F>(wk, pi.level, op);
		const sim::OutcomeOf<F> out = run_with_operand(leaf, make_args(leaf, pi, rdx, a.r9, wk, busy), s, op);

		// A walk that never reached the target (the S-EPT root page was
		// reclaimed in TD_TEARDOWN) has nothing to commit to: the module's
		// walk fails.  The spec's TD-state check keeps a faithful run from
		// getting here; a run with a check skipped (inject_fault, as the
		// conformance checker does) can.
		if (out.status == tdx_abi::status::TDX_SUCCESS && !wk.reached && leaf != tdx_abi::Leaf::TDH_MEM_SEPT_ADD)
			return tdx_abi::with_operand(tdx_abi::status::TDX_EPT_WALK_FAILED, tdx_abi::operand::RCX);
		if (out.status == tdx_abi::status::TDX_SUCCESS && !wk.reached && out.post.path[pi.level] != s.path[pi.level])
			return tdx_abi::with_operand(tdx_abi::status::TDX_EPT_WALK_FAILED, tdx_abi::operand::RCX);
		if (out.status == tdx_abi::status::TDX_SUCCESS && commit_) {
			commit<F>(leaf, a, wk, pi.level, op, s, out.post);
			hold(locks);
		} else if (out.status != tdx_abi::status::TDX_SUCCESS)
			set_ext_err(a, out.status, wk, pi.level);
		if (commit_ && lock_windows)
			host_entry_lock_priority(leaf, entry_lock_key(pi.gpa, pi.level), busy, out.status);
		return out.status;
	}

	// sept_lock_acquire_host() (tdx_locks.h): a SEAMCALL that finds the
	// entry's TDEL bit taken sets the TDHP bit, so the guest's next
	// TDG.MEM.PAGE.ACCEPT of the entry backs off with
	// TDX_OPERAND_BUSY_HOST_PRIORITY and the SEAMCALL's retry wins; a
	// SEAMCALL that takes the bit clears TDHP.  The entry was the failing
	// acquisition when the leaf's rule returned BUSY|RCX with the entry
	// contended and none of the locks taken before it (TDR, OP_STATE, tree).
	// Only lock windows make an entry contended, so only they set TDHP.
	constexpr void host_entry_lock_priority(tdx_abi::Leaf leaf, u64 entry_key, const sim::Busy& busy, u64 status)
	{
		const spec::LeafLocks* ll = spec::leaf_locks_of(leaf);
		if (!lock_windows || !ll || ll->entry == spec::LockMode::none)
			return;
		const u64 busy_rcx = tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::RCX);
		const auto at = std::lower_bound(host_priority_.begin(), host_priority_.end(), entry_key);
		const bool set = at != host_priority_.end() && *at == entry_key;
		if (status == busy_rcx && busy.entry && !busy.tdr && !busy.op_state && !busy.tree) {
			if (!set)
				host_priority_.insert(at, entry_key);
		} else if (status == tdx_abi::status::TDX_SUCCESS && set)
			host_priority_.erase(at);
	}

	static constexpr unsigned r8_size(const SeptLeafAbi& abi, unsigned level)
	{
		return abi.r8_at_level && level > 0 ? 1 : 0; // AUG: 4K or 2M only (5.3)
	}

	// verify_page_info_input + check_gpa_validity (tdx_api_defs.h, tdx_vmm_dispatcher.c), without the
	// [min, max] level range, which is the spec's.
	constexpr PageInfo decode_page_info(u64 rcx) const
	{
		const unsigned level = static_cast<unsigned>(rcx & 7);
		const u64 gpa = rcx & sim::GPA_MASK;
		bool ok = !(rcx & (spec::genmask(11, 3) | spec::genmask(63, 52)));

		ok = ok && level < spec::SEPT_LEVELS && !(gpa & (sim::bytes_in(level) - 1));
		return {gpa, level, ok && gpa_valid(gpa)};
	}

	// check_gpa_validity: shared bit clear, nothing at or above GPAW.
	constexpr bool gpa_valid(u64 gpa) const
	{
		return !(gpa >> g_.gpaw()) && !(gpa & spec::bit_ull(g_.shared_gpa_bit()));
	}

	// RDX as td_handle_and_flags_t (SEPT.ADD, DEMOTE) or a plain TDR HPA:
	// reserved bits first, then the explicit TDR check (tdx_api_defs.h,
	// tdh_mem_sept_add.c).
	constexpr u64 decode_td_handle(u64 rdx, bool flags, const sim::Busy& busy) const
	{
		if (!flags)
			return check_tdr(rdx, tdx_abi::operand::RDX, busy);
		if (rdx & (spec::genmask(11, 1) | spec::genmask(63, 52)))
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, tdx_abi::operand::RDX);
		return check_tdr(rdx & ~u64{1}, tdx_abi::operand::RDX, busy);
	}

	// The explicit TDR check every TD-scoped leaf runs first (the start of
	// each api_calls/tdh_*.c; helpers.c check_and_lock_explicit_tdr()): address, then the
	// PAMT lock -- the spec's first check, busy.tdr -- then PT_TDR.
	constexpr u64 check_tdr(u64 pa, u64 opd, const sim::Busy& busy) const
	{
		if (const u64 err = check_hpa(pa, 0))
			return tdx_abi::with_operand(err, opd);
		if (busy.tdr)
			return 0;
		if (frame_at(pa >> sim::PAGE_SHIFT).pt != sim::w(sim::PageType::PT_TDR))
			return tdx_abi::with_operand(tdx_abi::status::TDX_PAGE_METADATA_INCORRECT, opd);
		return 0;
	}

	// The address part of an explicit HPA check (tdx_api_defs.h, tdx_vmm_dispatcher.c): aligned, no
	// KeyID bits, inside the TDMR.
	constexpr u64 check_hpa(u64 pa, unsigned size) const
	{
		if ((pa & (sim::bytes_in(size) - 1)) || (pa >> phys_bits_))
			return tdx_abi::status::TDX_OPERAND_INVALID;
		const u64 pfn = pa >> sim::PAGE_SHIFT;
		if (!in_tdmr(pfn) || !in_tdmr(pfn + sim::frames_in(size) - 1))
			return tdx_abi::status::TDX_OPERAND_ADDR_RANGE_ERROR;
		return 0;
	}

	constexpr Operand decode_page_operand(u64 pa, unsigned size) const
	{
		Operand op;

		op.present = true;
		op.pa = pa;
		op.size = size;
		op.error = check_hpa(pa, size);
		if (!op.error)
			op.pfn = pa >> sim::PAGE_SHIFT;
		return op;
	}

	// PAGE.ADD's source (R9) is a shared HPA: 4K aligned, KeyID 0 -- every
	// KeyID above 0 counts as private here (tdh_mem_page_add.c).
	constexpr bool shared_hpa_ok(u64 pa) const
	{
		return !(pa & (sim::PAGE_SIZE - 1)) && !(pa >> phys_bits_);
	}

	// The walk from the root at TDX level pwl - 1 (sept_manager.c secure_ept_walk()): it stops
	// at the requested level or at the first entry that is not NL_MAPPED.
	// Levels it does not read are FREE (sept_walk_ok does not look at
	// them); levels above the root are NL_MAPPED (the EPTP).
	constexpr Walk walk(u64 gpa, unsigned level) const
	{
		Walk wk;
		u32 page = td_.root;

		for (unsigned l = 0; l < spec::SEPT_LEVELS; l++)
			wk.path[l] = sim::w(l < g_.pwl ? sim::SeptState::FREE : sim::SeptState::NL_MAPPED);
		if (level >= g_.pwl)
			return wk;
		for (unsigned l = g_.pwl; l-- > 0 && page != sim::NO_PAGE;) {
			const EntryRef r{page, sim::sept_index(gpa, l)};
			const Entry& e = entry(r);
			wk.path[l] = e.state();
			wk.ref[l] = r;
			wk.last = l;
			wk.read = true;
			if (l == level) {
				wk.reached = true;
				break;
			}
			if (e.state() != sim::w(sim::SeptState::NL_MAPPED))
				break;
			page = frame_at(e.hpa() >> sim::PAGE_SHIFT).sept;
		}
		return wk;
	}

	// The local view of one call (spec::SeptLocal).
	template <std::size_t F>
	constexpr sim::ViewOf<F> make_view(const Walk& wk, unsigned level, const Operand& op) const
	{
		static_assert(F == sim::NO_CHILD || F == spec::SEPT_FANOUT);
		sim::ViewOf<F> s = td_view<F>();

		s.path = wk.path;
		if constexpr (F != sim::NO_CHILD) {
			if (const SeptPage* child = wk.reached ? child_page(entry(wk.ref[level])) : nullptr)
				for (std::size_t i = 0; i < F; i++)
					s.child[i] = child->e[i].state();
		}
		const u64 pfn = target_pfn(wk, level, op);
		if (pfn != sim::NO_PFN)
			s.target = {frame_at(pfn).pt, frame_at(pfn).bepoch};
		if (op.present && !op.error)
			s.operand_pt = operand_type(op.pfn, op.size);
		return s;
	}

	// A view with only the TD state: FREE entries, PT_NDA pages.
	template <std::size_t F>
	constexpr sim::ViewOf<F> td_view() const
	{
		sim::ViewOf<F> s{};

		s.td = td_.st;
		for (auto& l : s.path)
			l = sim::w(sim::SeptState::FREE);
		for (auto& c : s.child)
			c = sim::w(sim::SeptState::FREE);
		s.target = {sim::w(sim::PageType::PT_NDA), 0};
		s.operand_pt = sim::w(sim::PageType::PT_NDA);
		return s;
	}

	// The page the target entry maps or links (its own-level PAMT entry,
	// tdh_mem_range_block.c: for a leaf the mapped page, for a non-leaf the
	// child S-EPT page), or the R8 page an
	// install leaf is about to map.
	constexpr u64 target_pfn(const Walk& wk, unsigned level, const Operand& op) const
	{
		if (wk.reached && sim::has_hpa(entry(wk.ref[level]).state()))
			return head_of(entry(wk.ref[level]).hpa() >> sim::PAGE_SHIFT);
		return op.present && !op.error ? op.pfn : sim::NO_PFN;
	}

	// The PAMT type an explicit page operand is checked against (tdh_mem_page_aug.c,
	// pamt_manager.c): the first page in its range that is not PT_NDA.
	constexpr u64 operand_type(u64 pfn, unsigned size) const
	{
		for (u64 i = 0; i < sim::frames_in(size); i++)
			if (leaf_frame(pfn + i).pt != sim::w(sim::PageType::PT_NDA))
				return leaf_frame(pfn + i).pt;
		return sim::w(sim::PageType::PT_NDA);
	}

	constexpr sim::Args make_args(tdx_abi::Leaf leaf, const PageInfo& pi, u64 rdx, u64 r9, const Walk& wk,
				      const sim::Busy& busy) const
	{
		sim::Args x{};

		x.level = pi.level;
		x.page_info_ok = pi.ok;
		x.allow_existing = leaf == tdx_abi::Leaf::TDH_MEM_SEPT_ADD && (rdx & 1);
		x.source_ok = leaf == tdx_abi::Leaf::TDH_MEM_PAGE_ADD && shared_hpa_ok(r9);
		x.promote_ok = leaf == tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE && promote_ok(wk, pi.level);
		x.busy = busy;
		return x;
	}

	// PROMOTE's child layout (tdh_mem_page_promote.c): child 0 aligned to
	// the large size, child i at child 0 + i * stride.  (Same state is the
	// spec's check.)
	constexpr bool promote_ok(const Walk& wk, unsigned level) const
	{
		const SeptPage* child = wk.reached ? child_page(entry(wk.ref[level])) : nullptr;
		if (!child || level < 1 || level > 2)
			return false;
		const u64 stride = sim::bytes_in(level - 1);
		if (child->e[0].hpa() & (sim::bytes_in(level) - 1))
			return false;
		for (std::size_t i = 0; i < spec::SEPT_FANOUT; i++)
			if (child->e[i].hpa() != child->e[0].hpa() + i * stride)
				return false;
		return true;
	}

	// An R8 that fails its address checks has no PAMT type to show the
	// spec.  Whether the module gets as far as R8 is the spec's to say: run
	// it with R8 a free page and with R8 a reserved page.  Equal statuses
	// mean an earlier check decided; different ones mean the R8 check is
	// reached and its address error is the result (tdx_api_defs.h, tdx_vmm_dispatcher.c: address
	// checks come before the PAMT lock, so busy.pamt is left out).
	template <std::size_t F>
	constexpr sim::OutcomeOf<F> run_with_operand(tdx_abi::Leaf leaf, sim::Args args, sim::ViewOf<F> s,
						     const Operand& op) const
	{
		if (!op.present || !op.error)
			return run_spec(leaf, args, s);
		args.busy.pamt = false;
		s.operand_pt = sim::w(sim::PageType::PT_NDA);
		const sim::OutcomeOf<F> good = run_spec(leaf, args, s);
		s.operand_pt = sim::w(sim::PageType::PT_RSVD);
		const sim::OutcomeOf<F> bad = run_spec(leaf, args, s);
		if (good.status == bad.status)
			return good;
		return {tdx_abi::with_operand(op.error, tdx_abi::operand::R8), s};
	}

	// --- writing the post-view back -------------------------------------------

	template <std::size_t F>
	constexpr void commit(tdx_abi::Leaf leaf, TdxModuleArgs& a, const Walk& wk, unsigned level, const Operand& op,
			      const sim::ViewOf<F>& pre, const sim::ViewOf<F>& post)
	{
		const EntryRef r = wk.ref[level];

		if constexpr (F == spec::SEPT_FANOUT) {
			switch (leaf) {
			case tdx_abi::Leaf::TDH_MEM_SEPT_ADD:
				if (pre.path[level] != post.path[level])
					link_sept_page(r, level, op, post);
				break;
			case tdx_abi::Leaf::TDH_MEM_SEPT_REMOVE:
				a.rcx = unmap(r, level, post);
				break;
			case tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE:
				demote(r, level, op, pre, post);
				break;
			case tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE:
				a.rcx = promote(r, level, post);
				break;
			default:
				break;
			}
		} else {
			switch (leaf) {
			case tdx_abi::Leaf::TDH_MEM_PAGE_ADD:
			case tdx_abi::Leaf::TDH_MEM_PAGE_AUG:
				map_page(r, level, op, post);
				break;
			case tdx_abi::Leaf::TDH_MEM_RANGE_BLOCK:
			case tdx_abi::Leaf::TDH_MEM_RANGE_UNBLOCK:
				set_state(r, wk, level, op, post);
				break;
			case tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE:
				a.rcx = unmap(r, level, post);
				break;
			default:
				break;
			}
		}
		td_.st = post.td;
	}

	// SEPT.ADD (tdh_mem_sept_add.c): R8 becomes an S-EPT page of 512 FREE entries
	// (post.child), PT_EPT owned by the TDR; the entry links it.
	constexpr void link_sept_page(EntryRef r, unsigned level, const Operand& op, const sim::View& post)
	{
		const u32 idx = alloc_sept_page(op.pa);

		for (std::size_t i = 0; i < spec::SEPT_FANOUT; i++)
			pages_[idx].e[i] = {post.child[i], 0};
		set_pamt(op.pfn, post.operand_pt, post.target.bepoch);
		entry(r) = {post.path[level], op.pa};
	}

	// PAGE.ADD / AUG (tdh_mem_page_add.c, tdh_mem_page_aug.c): R8 becomes a PT_REG page of the
	// entry's size, mapped by the entry.
	template <std::size_t F>
	constexpr void map_page(EntryRef r, unsigned level, const Operand& op, const sim::ViewOf<F>& post)
	{
		make_leaf_page(op.pfn, level, post.operand_pt, post.target.bepoch);
		entry(r) = {post.path[level], op.pa};
	}

	// BLOCK / UNBLOCK (tdh_mem_range_block.c, tdh_mem_range_unblock.c): the entry's state and the
	// target's bepoch.
	template <std::size_t F>
	constexpr void set_state(EntryRef r, const Walk& wk, unsigned level, const Operand& op,
				 const sim::ViewOf<F>& post)
	{
		frame_at(target_pfn(wk, level, op)).bepoch = post.target.bepoch;
		entry(r).set_state(post.path[level]);
	}

	// PAGE.REMOVE / SEPT.REMOVE (tdh_mem_page_remove.c, tdh_mem_sept_remove.c):
	// the entry is freed, the
	// page it held takes the post PAMT type (PT_NDA); RCX returns its HPA.
	template <std::size_t F>
	constexpr u64 unmap(EntryRef r, unsigned level, const sim::ViewOf<F>& post)
	{
		const u64 hpa = entry(r).hpa();
		const u64 pfn = head_of(hpa >> sim::PAGE_SHIFT);

		if (frame_at(pfn).sept != sim::NO_PAGE)
			free_sept_page(pfn);
		frame_at(pfn).bepoch = post.target.bepoch;
		set_pt(pfn, post.target.pt);
		entry(r) = {post.path[level], 0};
		return hpa;
	}

	// DEMOTE (tdh_mem_page_demote.c): R8 becomes an S-EPT page whose 512 entries are
	// the post child states at base + i * stride.  The large page's own PAMT
	// entry takes the post target (PT_NDA); the 512 entries one size down,
	// outside the view, take its former type and owner with bepoch 0.
	constexpr void demote(EntryRef r, unsigned level, const Operand& op, const sim::View& pre,
			      const sim::View& post)
	{
		const u64 base = entry(r).hpa();
		const u64 stride = sim::bytes_in(level - 1);
		const u32 idx = alloc_sept_page(op.pa);

		for (std::size_t i = 0; i < spec::SEPT_FANOUT; i++)
			pages_[idx].e[i] = {post.child[i], base + i * stride};
		set_pamt(base >> sim::PAGE_SHIFT, post.target.pt, post.target.bepoch);
		split_leaf_page(base >> sim::PAGE_SHIFT, level, pre.target.pt);
		set_pamt(op.pfn, post.operand_pt, 0);
		entry(r) = {post.path[level], op.pa};
	}

	// PROMOTE (tdh_mem_page_promote.c): the entry becomes child 0's leaf at the large
	// size, the 512 child pages merge into one PAMT entry, the S-EPT page
	// is freed (post.target, PT_NDA); RCX returns it.
	constexpr u64 promote(EntryRef r, unsigned level, const sim::View& post)
	{
		const u64 child_pa = entry(r).hpa();
		const u64 base = page_at(child_pa).e[0].hpa();
		const u64 child_pfn = child_pa >> sim::PAGE_SHIFT;

		merge_leaf_pages(base >> sim::PAGE_SHIFT, level);
		free_sept_page(child_pfn);
		frame_at(child_pfn).bepoch = post.target.bepoch;
		set_pt(child_pfn, post.target.pt);
		entry(r) = {post.path[level], base};
		return child_pa;
	}

	// tdx_api_defs.h, sept_manager.c: on a walk failure RCX/RDX describe the
	// last entry read, on
	// a state failure the target entry.
	constexpr void set_ext_err(TdxModuleArgs& a, u64 st, const Walk& wk, unsigned level) const
	{
		const u64 walk_failed = tdx_abi::with_operand(tdx_abi::status::TDX_EPT_WALK_FAILED, tdx_abi::operand::RCX);
		const bool state_failed = st == tdx_abi::with_operand(tdx_abi::status::TDX_EPT_ENTRY_STATE_INCORRECT, tdx_abi::operand::RCX) ||
					  st == tdx_abi::with_operand(tdx_abi::status::TDX_GPA_RANGE_ALREADY_BLOCKED, tdx_abi::operand::RCX);

		if (st == walk_failed && wk.read)
			set_entry_details(a, wk, wk.last);
		else if (state_failed && wk.reached)
			set_entry_details(a, wk, level);
	}

	constexpr void set_entry_details(TdxModuleArgs& a, const Walk& wk, unsigned level) const
	{
		const Entry& e = entry(wk.ref[level]);

		a.rcx = sim::sept_arch_entry(e.state(), e.hpa());
		a.rdx = sim::sept_level_state(level, e.state());
	}

	// --- lock windows (lock_windows) -----------------------------------------

	// The locks `leaf` takes on these instances, on behalf of lock_owner
	// (none for a leaf outside spec::leaf_locks, or without lock windows).
	constexpr spec::LockSet leaf_lock_set(tdx_abi::Leaf leaf, const spec::LockKeys& k) const
	{
		if (!lock_windows)
			return {};
		const spec::LeafLocks* ll = spec::leaf_locks_of(leaf);
		return ll ? spec::locks_taken(*ll, k, lock_owner) : spec::LockSet{};
	}

	// The instances an S-EPT leaf locks: the TD, the target entry (keyed
	// by GPA and TDX level; bit 62 keeps GPA 0 at level 0 apart from "no
	// key"), the page the entry maps or links, the R8 page.
	constexpr spec::LockKeys sept_lock_keys(const PageInfo& pi, const Walk& wk, const Operand& op) const
	{
		spec::LockKeys k{td_.tdr_pa, entry_lock_key(pi.gpa, pi.level), 0, 0, false};
		if (wk.reached && sim::has_hpa(entry(wk.ref[pi.level]).state()))
			k.target_pfn = head_of(entry(wk.ref[pi.level]).hpa() >> sim::PAGE_SHIFT);
		if (op.present && !op.error)
			k.r8_pfn = op.pfn;
		return k;
	}

	static constexpr u64 entry_lock_key(u64 gpa, unsigned level) { return gpa | level | u64{1} << 62; }

	constexpr sim::Busy contention(const spec::LockSet& want) const
	{
		return spec::contention(want, held_);
	}

	// Keep a successful call's locks until its owner's next call (a
	// sorted set, so that equal holdings encode equally).
	constexpr void hold(const spec::LockSet& locks)
	{
		if (!lock_windows || !commit_)
			return;
		for (const spec::HeldLock& h : locks.locks())
			held_.push_back(h);
		std::sort(held_.begin(), held_.end());
	}

	// --- leaves on the TD alone, and MR.EXTEND -------------------------------

	static constexpr bool tdr_exclusive(tdx_abi::Leaf leaf)
	{
		return leaf == tdx_abi::Leaf::TDH_MR_FINALIZE || leaf == tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE ||
		       leaf == tdx_abi::Leaf::TDH_MNG_KEY_FREEID; // tdx_locks.h
	}

	// TRACK, MR.FINALIZE, VPFLUSHDONE, KEY.FREEID: RCX = TDR (tdh_mem_track.c,
	// tdh_mr_finalize.c, tdh_mng_vpflushdone.c, tdh_mng_key_freeid.c).
	constexpr u64 td_leaf(tdx_abi::Leaf leaf, TdxModuleArgs& a, sim::Busy busy)
	{
		const spec::LockSet locks = leaf_lock_set(leaf, {td_.tdr_pa, 0, 0, 0, false});
		busy = busy | contention(locks);
		busy.tdr = busy.tdr || (tdr_exclusive(leaf) && any_vcpu_in_guest());
		if (const u64 err = check_tdr(a.rcx, tdx_abi::operand::RCX, busy))
			return err;
		sim::Args args{};
		args.busy = busy;
		const auto out = run_spec(leaf, args, td_view<sim::NO_CHILD>());
		if (out.status == tdx_abi::status::TDX_SUCCESS && commit_) {
			td_.st = out.post.td;
			hold(locks);
		}
		return out.status;
	}

	// MR.EXTEND (tdh_mr_extend.c): RCX a 256-byte aligned GPA, RDX the TDR
	// (exclusive); a walk to the leaf.
	constexpr u64 mr_extend(TdxModuleArgs& a, sim::Busy busy)
	{
		const u64 gpa = a.rcx;
		const u64 rdx = a.rdx;

		a.rcx = 0;
		a.rdx = 0;
		const spec::LockSet locks = leaf_lock_set(tdx_abi::Leaf::TDH_MR_EXTEND, {td_.tdr_pa, 0, 0, 0, false});
		busy = busy | contention(locks);
		busy.tdr = busy.tdr || any_vcpu_in_guest();
		if (const u64 err = check_tdr(rdx, tdx_abi::operand::RDX, busy))
			return err;
		const Walk wk = walk(gpa, 0);
		sim::Args args{};
		args.page_info_ok = !(gpa & 0xFF) && gpa_valid(gpa);
		args.busy = busy;
		const auto out = run_spec(tdx_abi::Leaf::TDH_MR_EXTEND, args, make_view<sim::NO_CHILD>(wk, 0, Operand{}));
		if (out.status == tdx_abi::with_operand(tdx_abi::status::TDX_EPT_ENTRY_NOT_PRESENT, tdx_abi::operand::RCX) && wk.read)
			set_entry_details(a, wk, wk.last);
		if (out.status == tdx_abi::status::TDX_SUCCESS)
			hold(locks);
		return out.status;
	}

	// CACHE.WB (tdh_phymem_cache_wb.c): RCX 0 starts, 1 resumes.  Nothing is ever
	// interrupted here, so a resume has no saved state (check 4); a start
	// is the spec's.
	constexpr u64 cache_wb(TdxModuleArgs& a, sim::Busy busy)
	{
		if (a.rcx > 1)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, tdx_abi::operand::RCX);
		const spec::LockSet locks = leaf_lock_set(tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB, {});
		busy = busy | contention(locks);
		sim::Args args{};
		args.busy = busy;
		if (a.rcx == 1 && !busy.kot)
			return tdx_abi::status::TDX_WBCACHE_RESUME_ERROR;
		const auto out = run_spec(tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB, args, td_view<sim::NO_CHILD>());
		if (out.status == tdx_abi::status::TDX_SUCCESS && td_.exists && commit_)
			td_.st = out.post.td;
		if (out.status == tdx_abi::status::TDX_SUCCESS)
			hold(locks);
		return out.status;
	}

	// RECLAIM (tdh_phymem_page_reclaim.c): RCX = HPA; the PAMT walk to the page's actual
	// size gives the target and args.level.  An address inside a larger page
	// (check 5) is folded into page_info_ok.  Outputs RCX/RDX/R8 = PT,
	// owner, size.
	constexpr u64 reclaim(TdxModuleArgs& a, sim::Busy busy)
	{
		const u64 pa = a.rcx;
		sim::Args args{};
		sim::ViewOf<sim::NO_CHILD> s = td_view<sim::NO_CHILD>();
		spec::LockSet locks;

		args.page_info_ok = !(pa & (sim::PAGE_SIZE - 1)) && !(pa >> phys_bits_);
		if (args.page_info_ok && !in_tdmr(pa >> sim::PAGE_SHIFT))
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_ADDR_RANGE_ERROR, tdx_abi::operand::RCX);
		const u64 pfn = pa >> sim::PAGE_SHIFT;
		if (args.page_info_ok) {
			const Frame& f = leaf_frame(pfn);
			args.page_info_ok = head_of(pfn) == pfn;
			args.level = f.size;
			s.target = {f.pt, f.bepoch};
			locks = reclaim_lock_set(pfn, f.pt);
		}
		sim::Busy held = contention(locks);
		if (args.page_info_ok && leaf_frame(pfn).pt == sim::w(sim::PageType::PT_TDR)) {
			// The TDR page's PAMT entry is the TDR lock: pamt_walk() fails on it (RCX).
			held.pamt = held.pamt || held.tdr;
			held.tdr = false;
		}
		args.busy = busy | held;
		const auto out = run_spec(tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM, args, s);
		if (out.status == tdx_abi::status::TDX_SUCCESS && commit_) {
			reclaimed(a, pfn, out.post);
			hold(locks);
		}
		return out.status;
	}

	// RECLAIM locks the page's PAMT entry exclusively and its owner's TDR
	// shared; the TDR's own PAMT entry is the TDR lock, so reclaiming the
	// TDR takes that one, exclusively, and no other.
	constexpr spec::LockSet reclaim_lock_set(u64 pfn, u64 pt) const
	{
		if (pt != sim::w(sim::PageType::PT_TDR))
			return leaf_lock_set(tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM, {td_.tdr_pa, 0, pfn, 0, false});
		spec::LockSet s;
		if (lock_windows)
			s.add(spec::ModuleLock::tdr, td_.tdr_pa, spec::LockMode::exclusive, lock_owner);
		return s;
	}

	constexpr void reclaimed(TdxModuleArgs& a, u64 pfn, const sim::ViewOf<sim::NO_CHILD>& post)
	{
		const Frame f = frame_at(pfn);

		a.rcx = f.pt;
		a.rdx = owners_[f.owner];
		a.r8 = f.size;
		release_owned(pfn, f.pt);
		frame_at(pfn).bepoch = post.target.bepoch;
		set_pt(pfn, post.target.pt);
		if (f.pt == sim::w(sim::PageType::PT_TDR))
			destroy_td();
		else
			td_.st = post.td;
	}

	// What the module's own structures lose with a reclaimed page.
	constexpr void release_owned(u64 pfn, u64 pt)
	{
		if (frame_at(pfn).sept != sim::NO_PAGE) {
			if (frame_at(pfn).sept == td_.root)
				td_.root = sim::NO_PAGE;
			free_sept_page(pfn);
		}
		if (pt != sim::w(sim::PageType::PT_TDVPR))
			return;
		for (Vcpu& v : vcpus_)
			if (v.tdvpr_pa >> sim::PAGE_SHIFT == pfn)
				v.live = false;
	}

	constexpr void destroy_td()
	{
		td_ = Td{};
		vcpus_.clear();
	}

	// --- leaves the spec does not cover yet (hw-local rules) ------------------
	//
	// sept.hpp has no rule for TDH.VP.ENTER, TDH.VP.FLUSH or
	// TDH.PHYMEM.PAGE.WBINVD.  Until it does, their checks live here, each
	// cited; VP.ENTER reuses the spec's TD-state check and epoch steps.

	// TDH.VP.ENTER (tdh_vp_enter.c, op_state_lookup.c, tdx_locks.h, helpers.c):
	// the TD-state check with the
	// VP.ENTER OP_STATE set, the association with the current LP, the
	// shared epoch lock, then adjust_tlb_tracking_state (spec::tlb_vp_enter).
	// The vCPU stays in the guest -- running on that LP -- until td_exit().
	// The association (tdh_vp_enter.c check_and_associate_vcpu(), helpers.c
	// associate_vcpu()): the vCPU must be initialized (VCPU_READY, else
	// TDX_VCPU_STATE_INCORRECT) and associated with no LP or this one (a
	// cmpxchg of assoc_lpid from VCPU_NO_LP; else TDX_VCPU_ASSOCIATED): a
	// vCPU moves to another LP only after TDH.VP.FLUSH on the old one
	// (Linux v6.19 tdx_vcpu_load() -> tdx_flush_vp_on_cpu()).
	constexpr u64 vp_enter(TdxModuleArgs& a, sim::Busy busy)
	{
		const std::size_t v = find_vcpu(a.rcx);
		if (v == vcpus_.size())
			return tdvpr_error(a.rcx);
		const spec::LockSet locks =
			leaf_lock_set(tdx_abi::Leaf::TDH_VP_ENTER, {td_.tdr_pa, 0, 0, 0, vcpus_[v].stepping_filter});
		busy = busy | contention(locks);
		spec::Checks<sim::C> c(spec::concrete);
		spec::td_state_check(c, td_.st, busy, {tdx_abi::operand::TDR, true}, spec::ops_vp_enter_set, fault_);
		c.fail_if(!vcpus_[v].initialized, tdx_abi::status::TDX_VCPU_STATE_INCORRECT);
		c.fail_if(vcpus_[v].assoc_lp != sim::NO_LP && vcpus_[v].assoc_lp != lp, tdx_abi::status::TDX_VCPU_ASSOCIATED);
		c.fail_if(busy.epoch, tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::TD_EPOCH));
		const auto step = spec::tlb_vp_enter(spec::concrete, tlb_view(vcpus_[v]), 0);
		// A vCPU in the guest holds its TDVPR: assumed BUSY|RCX.
		c.fail_if(!step.enabled, tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::RCX));
		// handle_stepping_filter(): the tree, after the epoch (tdh_vp_enter.c).
		c.fail_if(vcpus_[v].stepping_filter && busy.tree,
			  tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::SEPT_TREE));
		if (!c.ok() || !commit_)
			return c.status;
		apply_tlb(vcpus_[v], step.post);
		associate(vcpus_[v]);
		if (lock_windows) {
			// The TDR is held while in the guest (any_vcpu_in_guest());
			// the window holds what is released before the entry.
			spec::LockSet temporary;
			for (const spec::HeldLock& h : locks.locks())
				if (h.lock != spec::ModuleLock::tdr)
					temporary.add(h.lock, h.key, h.mode, h.owner);
			hold(temporary);
			vcpus_[v].entry_owner = lock_owner;
		}
		return tdx_abi::status::TDX_SUCCESS;
	}

	// TDH.VP.FLUSH (tdh_vp_flush.c): the TDVPR taken
	// exclusively (a vCPU in the guest holds it: BUSY|RCX), keys configured,
	// the vCPU associated with the current LP (assoc_lpid == lp_id, else
	// TDX_VCPU_NOT_ASSOCIATED: Linux v6.19 tdx_flush_vp_on_cpu() runs it on
	// vcpu->cpu by IPI); it is then associated with no LP (num_assoc_vcpus--,
	// tdh_mng_vpflushdone.c).
	constexpr u64 vp_flush(TdxModuleArgs& a, sim::Busy busy)
	{
		const std::size_t v = find_vcpu(a.rcx);
		if (v == vcpus_.size())
			return tdvpr_error(a.rcx);
		const spec::LockSet locks =
			leaf_lock_set(tdx_abi::Leaf::TDH_VP_FLUSH, {td_.tdr_pa, 0, vcpus_[v].tdvpr_pa >> sim::PAGE_SHIFT, 0, false});
		busy = busy | contention(locks);
		// The TDVPR first (RCX; a vCPU in the guest holds it shared), then the TDR.
		if (busy.pamt || vcpus_[v].in_guest)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::RCX);
		if (busy.tdr)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::TDR);
		if (!lifecycle_is(sim::Lifecycle::TD_KEYS_CONFIGURED))
			return tdx_abi::status::TDX_TD_KEYS_NOT_CONFIGURED;
		if (vcpus_[v].assoc_lp != lp)
			return tdx_abi::status::TDX_VCPU_NOT_ASSOCIATED;
		if (!commit_)
			return tdx_abi::status::TDX_SUCCESS;
		vcpus_[v].assoc_lp = sim::NO_LP;
		td_.st.num_assoc_vcpus -= 1;
		hold(locks);
		return tdx_abi::status::TDX_SUCCESS;
	}

	// TDH.PHYMEM.PAGE.WBINVD (tdh_phymem_page_wbinvd.c): RCX = HPA | HKID << phys bits;
	// the HPA must be a 4K PT_NDA page in the TDMR.  No metadata changes.
	constexpr u64 page_wbinvd(TdxModuleArgs& a, sim::Busy busy)
	{
		const u64 pa = a.rcx & (spec::bit_ull(phys_bits_) - 1);

		if (const u64 err = check_hpa(pa, 0))
			return tdx_abi::with_operand(err, tdx_abi::operand::RCX);
		const spec::LockSet locks = leaf_lock_set(tdx_abi::Leaf::TDH_PHYMEM_PAGE_WBINVD, {0, 0, pa >> sim::PAGE_SHIFT, 0, false});
		busy = busy | contention(locks);
		if (busy.pamt)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::RCX);
		if (operand_type(pa >> sim::PAGE_SHIFT, 0) != sim::w(sim::PageType::PT_NDA))
			return tdx_abi::with_operand(tdx_abi::status::TDX_PAGE_METADATA_INCORRECT, tdx_abi::operand::RCX);
		hold(locks);
		return tdx_abi::status::TDX_SUCCESS;
	}

	// A TDVPR operand that names no vCPU: the explicit-HPA statuses
	// (tdx_api_defs.h, tdx_vmm_dispatcher.c) with PT_TDVPR expected.
	constexpr u64 tdvpr_error(u64 pa) const
	{
		if (const u64 err = check_hpa(pa, 0))
			return tdx_abi::with_operand(err, tdx_abi::operand::RCX);
		return tdx_abi::with_operand(tdx_abi::status::TDX_PAGE_METADATA_INCORRECT, tdx_abi::operand::RCX);
	}

	constexpr std::size_t find_vcpu(u64 tdvpr_pa) const
	{
		for (std::size_t i = 0; i < vcpus_.size(); i++)
			if (vcpus_[i].live && vcpus_[i].tdvpr_pa == tdvpr_pa)
				return i;
		return vcpus_.size();
	}

	// A vCPU associated with no LP becomes associated with the current one.
	constexpr void associate(Vcpu& v)
	{
		if (v.assoc_lp != sim::NO_LP)
			return;
		v.assoc_lp = lp;
		td_.st.num_assoc_vcpus += 1;
	}

	// One vCPU as the spec's epoch model sees it.
	constexpr spec::TlbState<sim::C, 1> tlb_view(const Vcpu& v) const
	{
		spec::TlbState<sim::C, 1> t{};

		t.epoch = td_.st.epoch;
		t.in_guest[0] = v.in_guest;
		t.vcpu_epoch[0] = v.vcpu_epoch;
		t.stale[0] = false;
		t.blocked = false;
		t.bepoch = 0;
		return t;
	}

	constexpr void apply_tlb(Vcpu& v, const spec::TlbState<sim::C, 1>& t)
	{
		td_.st.epoch = t.epoch;
		v.in_guest = t.in_guest[0];
		v.vcpu_epoch = t.vcpu_epoch[0];
	}

	constexpr bool any_vcpu_in_guest() const
	{
		for (const Vcpu& v : vcpus_)
			if (v.live && v.in_guest)
				return true;
		return false;
	}

	constexpr u64 tick() { return trace_clock ? (*trace_clock)++ : 0; }

	constexpr bool lifecycle_is(sim::Lifecycle l) const
	{
		return td_.exists && td_.st.lifecycle == sim::w(l);
	}

	// --- PAMT -----------------------------------------------------------------

	constexpr bool in_tdmr(u64 pfn) const { return pfn >= base_ && pfn - base_ < frames_.size(); }
	constexpr Frame& frame_at(u64 pfn) { return frames_[pfn - base_]; }
	constexpr const Frame& frame_at(u64 pfn) const { return frames_[pfn - base_]; }
	constexpr const Frame& leaf_frame(u64 pfn) const { return frame_at(head_of(pfn)); }

	// The first frame of the page a frame belongs to: a 2M/1G page starts at
	// a frame aligned to its size (see Frame).
	constexpr u64 head_of(u64 pfn) const { return pfn & ~(sim::frames_in(frame_at(pfn).cover) - 1); }

	constexpr bool free_page(u64 pa) const
	{
		return !check_hpa(pa, 0) && operand_type(pa >> sim::PAGE_SHIFT, 0) == sim::w(sim::PageType::PT_NDA);
	}

	// A 4K page handed to the TD by a construction helper.
	constexpr void give_page(u64 pa, sim::PageType pt)
	{
		set_pamt(pa >> sim::PAGE_SHIFT, sim::w(pt), 0);
	}

	// A 4K PAMT entry owned by the TD (or freed, for PT_NDA).
	constexpr void set_pamt(u64 pfn, u64 pt, u64 bepoch)
	{
		frame_at(pfn).bepoch = bepoch;
		set_pt(pfn, pt);
	}

	// A page's type; PT_NDA also drops its owner and size (pamt_manager.c).
	constexpr void set_pt(u64 pfn, u64 pt)
	{
		Frame& f = frame_at(pfn);

		if (pt != sim::w(sim::PageType::PT_NDA)) {
			f.pt = static_cast<std::uint8_t>(pt);
			f.owner = td_.owner;
			return;
		}
		for (u64 i = 0; i < sim::frames_in(f.size); i++)
			frame_at(pfn + i).cover = 0;
		f.pt = static_cast<std::uint8_t>(pt);
		f.owner = 0;
		f.size = 0;
	}

	// A page of `size` at head: the head frame holds its PAMT entry, the
	// frames it covers point at the head (pamt_manager.c).
	constexpr void make_leaf_page(u64 head, unsigned size, u64 pt, u64 bepoch)
	{
		Frame& f = frame_at(head);

		f.size = static_cast<std::uint8_t>(size) & 0xF;
		set_pamt(head, pt, bepoch);
		for (u64 i = 0; i < sim::frames_in(size); i++)
			frame_at(head + i).cover = static_cast<std::uint8_t>(size) & 0xF;
	}

	// DEMOTE: 512 pages one size down, the parent's type and owner, bepoch 0
	// (tdh_mem_page_demote.c).
	constexpr void split_leaf_page(u64 head, unsigned size, u64 pt)
	{
		const u64 n = sim::frames_in(size - 1);

		for (u64 i = 0; i < spec::SEPT_FANOUT; i++)
			make_leaf_page(head + i * n, size - 1, pt, 0);
	}

	// PROMOTE: the 512 child entries become PT_NDA, the large entry takes
	// PT_REG and the owner (tdh_mem_page_promote.c).
	constexpr void merge_leaf_pages(u64 head, unsigned size)
	{
		const u64 pt = frame_at(head).pt;

		for (u64 i = 0; i < sim::frames_in(size); i++) {
			Frame& f = frame_at(head + i);
			f.pt = static_cast<std::uint8_t>(sim::PageType::PT_NDA);
			f.owner = 0;
			f.bepoch = 0;
			f.size = 0;
		}
		make_leaf_page(head, size, pt, 0);
	}

	// The index in owners_ of a TDR's PA.  Frames hold the index, not the
	// PA: the owner of a page is a TD of this module, and a module runs one
	// TD at a time, so the list stays short; it is compacted when full, and
	// only 65535 TDs that all still own pages (leaked ones) exhaust it.
	static constexpr std::size_t MAX_OWNERS = std::size_t{1} << 16;

	constexpr std::optional<std::uint16_t> owner_index(u64 tdr_pa)
	{
		for (std::size_t i = 1; i < owners_.size(); i++)
			if (owners_[i] == tdr_pa)
				return static_cast<std::uint16_t>(i);
		if (owners_.size() == MAX_OWNERS)
			compact_owners();
		if (owners_.size() == MAX_OWNERS)
			return std::nullopt;
		owners_.push_back(tdr_pa);
		return static_cast<std::uint16_t>(owners_.size() - 1);
	}

	// Drop the owners no frame names any more (the TD is not running:
	// td_.owner is 0).
	constexpr void compact_owners()
	{
		std::vector<std::uint16_t> renumber(owners_.size(), 0);
		for (const Frame& f : frames_)
			renumber[f.owner] = 1;
		std::vector<u64> kept{0};
		for (std::size_t i = 1; i < owners_.size(); i++)
			if (renumber[i]) {
				renumber[i] = static_cast<std::uint16_t>(kept.size());
				kept.push_back(owners_[i]);
			}
		for (Frame& f : frames_)
			f.owner = renumber[f.owner];
		owners_ = std::move(kept);
	}

	// --- S-EPT pages ------------------------------------------------------------

	constexpr u32 alloc_sept_page(u64 pa)
	{
		u32 idx;

		if (free_pages_.empty()) {
			idx = static_cast<u32>(pages_.size());
			pages_.emplace_back();
		} else {
			idx = free_pages_.back();
			free_pages_.pop_back();
			std::fill(pages_[idx].e.begin(), pages_[idx].e.end(), Entry{});
		}
		frame_at(pa >> sim::PAGE_SHIFT).sept = idx;
		return idx;
	}

	constexpr void free_sept_page(u64 pfn)
	{
		free_pages_.push_back(frame_at(pfn).sept);
		frame_at(pfn).sept = sim::NO_PAGE;
	}

	constexpr Entry& entry(EntryRef r) { return pages_[r.page].e[r.slot]; }
	constexpr const Entry& entry(EntryRef r) const { return pages_[r.page].e[r.slot]; }
	constexpr const SeptPage& page_at(u64 pa) const { return pages_[frame_at(pa >> sim::PAGE_SHIFT).sept]; }

	// The S-EPT page a non-leaf entry links, if the module still holds it
	// (after teardown RECLAIM an NL entry may point at a freed page).
	constexpr const SeptPage* child_page(const Entry& e) const
	{
		if (!sim::is_nl(e.state()))
			return nullptr;
		const u32 idx = frame_at(e.hpa() >> sim::PAGE_SHIFT).sept;
		return idx == sim::NO_PAGE ? nullptr : &pages_[idx];
	}

	template <class F>
	constexpr void visit_page(u32 page, unsigned level, u64 gpa, F& f) const
	{
		for (u32 i = 0; i < spec::SEPT_FANOUT; i++) {
			const Entry& e = pages_[page].e[i];
			const u64 at = gpa | (u64{i} << (sim::PAGE_SHIFT + 9 * level));
			if (e.state() == sim::w(sim::SeptState::FREE))
				continue;
			f(at, level, SeptEntryView{static_cast<spec::SeptState>(e.state()), e.hpa()});
			if (level > 0 && child_page(e))
				visit_page(frame_at(e.hpa() >> sim::PAGE_SHIFT).sept, level - 1, at, f);
		}
	}

	spec::TdGeometry g_;
	u64 base_;
	unsigned phys_bits_;
	std::vector<Frame> frames_;
	std::vector<u64> owners_{0}; // the TDR PAs Frame::owner names; 0 none
	std::vector<SeptPage> pages_;
	std::vector<u32> free_pages_;
	std::vector<Vcpu> vcpus_;
	Td td_;
	std::array<u64, 64> calls_{};
	spec::Fault fault_ = spec::no_fault;
	bool commit_ = true; // false inside status_with(): checks only
	std::vector<spec::HeldLock> held_; // lock_windows: locks of calls in their window
	std::vector<u64> host_priority_;   // lock_windows: entry lock keys with TDHP set, sorted
};

static_assert(SeamcallBackend<SimModule>);
static_assert(KeyedSeamcallBackend<SimModule>);

} // namespace arborist::hw
