// SPDX-License-Identifier: GPL-2.0-only
//
// The S-EPT entry state machine and the host SEAMCALL leaves of TDX module
// 1.5.01 that KVM's memory management uses, with the exact status (operand
// ID included) that the first failing check returns.
// Facts: intel/tdx-module TDX_1.5.01 (docs/sources.md): sept_state_lookup.c,
// op_state_lookup.c, helpers.c, sept_manager.c, pamt_manager.c and
// src/vmm_dispatcher/api_calls/tdh_*.c.
//
// A SEAMCALL is specified over the *local view* it reads and writes: the TD
// control state (TDR/TDCS fields), the entries on the walk to the target
// GPA, the S-EPT page below the target, the PAMT entry of the target page
// and the page passed in R8.  The simulated module in hw/ keeps the whole
// S-EPT and PAMT and runs each call through these functions on the view it
// extracts, so the checks below exist exactly once.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/hana/define_struct.hpp>

#include "arborist/domain.hpp"
#include "arborist/fault.hpp"
#include "arborist/gfn.hpp"
#include "arborist/abi/tdx.hpp"
#include "arborist/tlb.hpp"

namespace arborist::spec {

// S-EPT entry states by their 7-bit encoding code (SEPT_CONVERT_TO_ENCODING:
// bit 6 = PS/leaf, 5 = IPAT, 4 = TDP, 3 = TDB, 2 = TDBW, 1 = TDEX, 0 = D).
// Only L1 states that KVM can reach are modelled; BLOCKEDW/PENDING_BLOCKEDW
// come from live migration and appear only in the accept sets.
enum class SeptState : u64 {
	NL_MAPPED = 0x00,
	NL_BLOCKED = 0x08,
	REMOVED = 0x0C,
	FREE = 0x0E,
	MAPPED = 0x60,
	BLOCKEDW = 0x64,
	BLOCKED = 0x68,
	PENDING = 0x70,
	PENDING_BLOCKEDW = 0x74,
	PENDING_BLOCKED = 0x78,
};

// The names the TDX module 1.5 specification gives the states, for printing.
struct SeptStateName {
	SeptState state;
	std::string_view name;
};

constexpr SeptStateName sept_state_names[] = {
	{SeptState::NL_MAPPED, "NL_MAPPED"}, {SeptState::NL_BLOCKED, "NL_BLOCKED"},
	{SeptState::REMOVED, "REMOVED"},     {SeptState::FREE, "FREE"},
	{SeptState::MAPPED, "MAPPED"},       {SeptState::BLOCKEDW, "BLOCKEDW"},
	{SeptState::BLOCKED, "BLOCKED"},     {SeptState::PENDING, "PENDING"},
	{SeptState::PENDING_BLOCKEDW, "PENDING_BLOCKEDW"}, {SeptState::PENDING_BLOCKED, "PENDING_BLOCKED"},
};

inline std::string sept_state_name(SeptState s)
{
	for (const auto& n : sept_state_names)
		if (n.state == s)
			return std::string(n.name);
	return "state " + std::to_string(static_cast<u64>(s));
}


// The architectural state number the module reports in RDX bits 15:8
// (Linux enum tdx_sept_entry_state for 0-4).
constexpr u64 sept_arch_state(SeptState s)
{
	switch (s) {
	case SeptState::FREE: return 0;
	case SeptState::BLOCKED: return 1;
	case SeptState::PENDING: return 2;
	case SeptState::PENDING_BLOCKED: return 3;
	case SeptState::MAPPED: return 4;
	case SeptState::REMOVED: return 5;
	case SeptState::BLOCKEDW: return 8;
	case SeptState::PENDING_BLOCKEDW: return 16;
	case SeptState::NL_BLOCKED: return 0x81;
	case SeptState::NL_MAPPED: return 0x84;
	}
	return ~u64{0};
}

// TDR.LIFECYCLE_STATE (td_control_structures.h).
enum class Lifecycle : u64 { TD_HKID_ASSIGNED = 0, TD_KEYS_CONFIGURED = 1, TD_BLOCKED = 2, TD_TEARDOWN = 3 };

// TDCS.OP_STATE (op_state_lookup.h).
enum class OpState : u64 {
	UNINITIALIZED = 0, INITIALIZED = 1, RUNNABLE = 2, LIVE_EXPORT = 3, PAUSED_EXPORT = 4,
	POST_EXPORT = 5, MEMORY_IMPORT = 6, STATE_IMPORT = 7, POST_IMPORT = 8, LIVE_IMPORT = 9,
	FAILED_IMPORT = 10,
};

// PAMT page_type_t (pamt_manager.h).
enum class PageType : u64 { PT_NDA = 0, PT_RSVD = 1, PT_REG = 3, PT_TDR = 4, PT_TDCX = 5, PT_TDVPR = 6, PT_EPT = 8 };

// The module's names of these codes, for reports and the extracted C.
template <class E>
struct CodeName {
	E code;
	std::string_view name;
};

inline constexpr CodeName<Lifecycle> lifecycle_names[] = {
	{Lifecycle::TD_HKID_ASSIGNED, "TD_HKID_ASSIGNED"}, {Lifecycle::TD_KEYS_CONFIGURED, "TD_KEYS_CONFIGURED"},
	{Lifecycle::TD_BLOCKED, "TD_BLOCKED"},             {Lifecycle::TD_TEARDOWN, "TD_TEARDOWN"},
};

inline constexpr CodeName<OpState> op_state_names[] = {
	{OpState::UNINITIALIZED, "UNINITIALIZED"}, {OpState::INITIALIZED, "INITIALIZED"},
	{OpState::RUNNABLE, "RUNNABLE"},           {OpState::LIVE_EXPORT, "LIVE_EXPORT"},
	{OpState::PAUSED_EXPORT, "PAUSED_EXPORT"}, {OpState::POST_EXPORT, "POST_EXPORT"},
	{OpState::MEMORY_IMPORT, "MEMORY_IMPORT"}, {OpState::STATE_IMPORT, "STATE_IMPORT"},
	{OpState::POST_IMPORT, "POST_IMPORT"},     {OpState::LIVE_IMPORT, "LIVE_IMPORT"},
	{OpState::FAILED_IMPORT, "FAILED_IMPORT"},
};

inline constexpr CodeName<PageType> page_type_names[] = {
	{PageType::PT_NDA, "PT_NDA"}, {PageType::PT_RSVD, "PT_RSVD"},   {PageType::PT_REG, "PT_REG"},
	{PageType::PT_TDR, "PT_TDR"}, {PageType::PT_TDCX, "PT_TDCX"}, {PageType::PT_TDVPR, "PT_TDVPR"},
	{PageType::PT_EPT, "PT_EPT"},
};

// The name of code v in one of the tables above, or empty.
template <class E, std::size_t N>
constexpr std::string_view code_name(const CodeName<E> (&table)[N], u64 v)
{
	for (const auto& n : table)
		if (static_cast<u64>(n.code) == v)
			return n.name;
	return {};
}

// The largest S-EPT page fan-out; smaller geometries are for exhaustive
// exploration in the model checker.
inline constexpr std::size_t SEPT_FANOUT = 512;
inline constexpr std::size_t SEPT_LEVELS = 5; // TDX levels 0 (4K) .. 4 (PML5)

// The TDR/TDCS fields that memory-management SEAMCALLs read or write.
template <class D>
struct TdState {
	BOOST_HANA_DEFINE_STRUCT(TdState,
		(typename D::Word, lifecycle),       // Lifecycle
		(typename D::Word, op_state),        // OpState
		(typename D::Bool, fatal),           // TDR.FATAL
		(typename D::Bool, tdcs_allocated),  // num_tdcx >= MIN_NUM_TDCS_PAGES
		(typename D::Word, chldcnt),         // TDR.CHLDCNT, in 4K units
		(typename D::Word, num_vcpus),       // vCPUs created (MR.FINALIZE needs one)
		(typename D::Word, num_assoc_vcpus), // vCPUs still associated with an LP
		(typename D::Bool, wbinvd_pending),  // KOT.wbinvd_bitmap != 0
		(EpochState<D>, epoch));
};

// A PAMT entry, as far as these calls use it.
template <class D>
struct PamtEntry {
	BOOST_HANA_DEFINE_STRUCT(PamtEntry,
		(typename D::Word, pt),      // PageType
		(typename D::Word, bepoch)); // the TD epoch at the last BLOCK
};

// What one SEAMCALL sees of the machine.
template <class D, std::size_t F = SEPT_FANOUT>
struct SeptLocal {
	BOOST_HANA_DEFINE_STRUCT(SeptLocal,
		(TdState<D>, td),
		// path[l]: the entry at TDX level l on the walk to the GPA;
		// path[level] is the target entry, the ones above are its ancestors.
		(std::array<typename D::Word, SEPT_LEVELS>, path),
		// the S-EPT page below the target entry (non-leaf), or the page a
		// SEPT.ADD/DEMOTE installs
		(std::array<typename D::Word, F>, child),
		// the page the target entry maps or links (for RECLAIM: the page
		// being reclaimed)
		(PamtEntry<D>, target),
		// PAMT page type of the page passed in R8 (new S-EPT page, AUG'd page)
		(typename D::Word, operand_pt));
};

// Lock contention the module may observe: each true flag makes the
// corresponding lock acquisition fail with TDX_OPERAND_BUSY.
template <class D>
struct Contention {
	BOOST_HANA_DEFINE_STRUCT(Contention,
		(typename D::Bool, tdr),      // TDR PAMT-entry lock
		(typename D::Bool, op_state), // TDCS OP_STATE lock
		(typename D::Bool, tree),     // TDCS.secure_ept_lock
		(typename D::Bool, entry),    // TDEL, the per-entry host/guest lock
		(typename D::Bool, pamt),     // PAMT lock of the target/child page
		(typename D::Bool, epoch),    // TD epoch lock (TRACK)
		(typename D::Bool, kot));     // key ownership table
};

// The decoded register inputs of a call.
template <class D>
struct SeptArgs {
	BOOST_HANA_DEFINE_STRUCT(SeptArgs,
		(typename D::Word, level),           // RCX bits 2:0 (TDX level)
		(typename D::Bool, page_info_ok),    // verify_page_info_input + check_gpa_validity
		(typename D::Bool, allow_existing),  // SEPT.ADD RDX bit 0
		(typename D::Bool, source_ok),       // PAGE.ADD R9 is a valid shared HPA
		(typename D::Bool, promote_ok),      // PROMOTE: children contiguous, aligned, same attributes
		(Contention<D>, busy));
};

template <class D, std::size_t F = SEPT_FANOUT>
struct SeptOutcome {
	typename D::Word status;
	SeptLocal<D, F> post;
};

// --- per-state and per-OP_STATE flags (sept_state_lookup.c, op_state_lookup.c)

template <Domain D>
constexpr typename D::Bool sept_is_leaf(const D& d, const typename D::Word& s)
{
	return bit_set(d, s, 0x40);
}

template <Domain D>
constexpr typename D::Bool sept_any_blocked(const D& d, const typename D::Word& s)
{
	return one_of(d, s, {SeptState::NL_BLOCKED, SeptState::BLOCKED, SeptState::PENDING_BLOCKED});
}

template <Domain D>
constexpr typename D::Bool sept_tlb_tracking_required(const D& d, const typename D::Word& s)
{
	return one_of(d, s, {SeptState::NL_MAPPED, SeptState::NL_BLOCKED, SeptState::MAPPED,
			     SeptState::BLOCKED, SeptState::BLOCKEDW, SeptState::PENDING,
			     SeptState::PENDING_BLOCKED, SeptState::PENDING_BLOCKEDW});
}

// TDH.VP.ENTER's OP_STATE set (section 3.2 table, "VP.ENTER (0)").
inline constexpr OpState ops_vp_enter_set[] = {OpState::RUNNABLE, OpState::LIVE_EXPORT, OpState::LIVE_IMPORT};

// Only the OP_STATEs that allow TDH.VP.ENTER can have vCPUs in the guest, so
// only they require TLB tracking (op_state_is_tlb_tracking_required).
template <Domain D>
constexpr typename D::Bool op_state_tlb_tracking_required(const D& d, const typename D::Word& op)
{
	return one_of(d, op, ops_vp_enter_set);
}

// OP_STATE sets of seamcall_state_lookup (section 3.2).
inline constexpr OpState ops_block_set[] = {OpState::INITIALIZED, OpState::RUNNABLE,   OpState::LIVE_EXPORT,
					    OpState::PAUSED_EXPORT, OpState::POST_EXPORT, OpState::POST_IMPORT,
					    OpState::LIVE_IMPORT};
inline constexpr OpState ops_remove_set[] = {OpState::INITIALIZED, OpState::RUNNABLE,    OpState::LIVE_EXPORT,
					     OpState::PAUSED_EXPORT, OpState::POST_EXPORT, OpState::POST_IMPORT,
					     OpState::LIVE_IMPORT, OpState::FAILED_IMPORT};
inline constexpr OpState ops_sept_add_set[] = {OpState::INITIALIZED, OpState::RUNNABLE,     OpState::LIVE_EXPORT,
					       OpState::MEMORY_IMPORT, OpState::STATE_IMPORT, OpState::POST_IMPORT,
					       OpState::LIVE_IMPORT};
inline constexpr OpState ops_aug_set[] = {OpState::INITIALIZED, OpState::RUNNABLE, OpState::LIVE_EXPORT,
					  OpState::LIVE_IMPORT};
inline constexpr OpState ops_initialized_only[] = {OpState::INITIALIZED};
inline constexpr OpState ops_sept_remove_set[] = {
	OpState::INITIALIZED,   OpState::RUNNABLE,     OpState::LIVE_EXPORT, OpState::PAUSED_EXPORT,
	OpState::POST_EXPORT,   OpState::MEMORY_IMPORT, OpState::STATE_IMPORT, OpState::POST_IMPORT,
	OpState::LIVE_IMPORT,   OpState::FAILED_IMPORT};
inline constexpr OpState ops_track_set[] = {
	OpState::INITIALIZED,   OpState::RUNNABLE,     OpState::LIVE_EXPORT, OpState::PAUSED_EXPORT,
	OpState::POST_EXPORT,   OpState::MEMORY_IMPORT, OpState::STATE_IMPORT, OpState::POST_IMPORT,
	OpState::LIVE_IMPORT};

// --- the "first failing check decides the status" chain ----------------------

template <Domain D>
struct Checks {
	const D& d;
	typename D::Word status;

	constexpr explicit Checks(const D& dom) : d(dom), status(dom.lit(tdx_abi::status::TDX_SUCCESS)) {}
	constexpr typename D::Bool ok() const { return status == d.lit(tdx_abi::status::TDX_SUCCESS); }
	constexpr void fail_if(const typename D::Bool& cond, u64 code)
	{
		status = d.ite(ok() && cond, d.lit(code), status);
	}
};

// --- the common checks, in the module's order ---------------------------------

// How a leaf takes part in the common TD-state check (check_state_map_tdcs_and_lock).
struct LeafShape {
	u64 tdr_operand;          // register holding the TDR: RDX for S-EPT calls, RCX for TRACK
	bool takes_op_state_lock; // PAGE.ADD, MR.EXTEND and MR.FINALIZE hold the TDR exclusively instead
};

template <Domain D, std::size_t N>
constexpr void td_state_check(Checks<D>& c, const TdState<D>& td, const Contention<D>& busy,
			      LeafShape shape, const OpState (&allowed)[N], Fault x)
{
	namespace st = tdx_abi::status;
	const D& d = c.d;
	c.fail_if(busy.tdr, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, shape.tdr_operand));
	c.fail_if(td.fatal, st::TDX_TD_FATAL);
	if (x != faults::skip_lifecycle_check)
		c.fail_if(!(td.lifecycle == d.lit(Lifecycle::TD_KEYS_CONFIGURED)),
			  st::TDX_TD_KEYS_NOT_CONFIGURED);
	c.fail_if(!td.tdcs_allocated, st::TDX_TDCS_NOT_ALLOCATED);
	if (shape.takes_op_state_lock)
		c.fail_if(busy.op_state, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::OP_STATE));
	c.fail_if(!one_of(d, td.op_state, allowed), st::TDX_OP_STATE_INCORRECT);
}

// verify_page_info_input(info, min, max) and check_gpa_validity.
template <Domain D>
constexpr void page_info_check(Checks<D>& c, const SeptArgs<D>& a, unsigned min_level, unsigned max_level)
{
	const D& d = c.d;
	c.fail_if(!a.page_info_ok || d.ult(a.level, d.lit(min_level)) || d.ult(d.lit(max_level), a.level),
		  tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, tdx_abi::operand::RCX));
}

// secure_ept_walk to the requested level: every entry above the target must
// be NL_MAPPED, the only non-leaf state with RWX != 0.  A FREE or NL_BLOCKED
// entry, or a leaf, above the target stops the walk (EPT_WALK_FAILED).
template <Domain D, std::size_t F>
constexpr typename D::Bool sept_walk_ok(const D& d, const TdGeometry& g, const SeptLocal<D, F>& s,
					const typename D::Word& level, Fault x = no_fault)
{
	typename D::Bool ok = d.truth(true);
	for (unsigned l = 0; l < SEPT_LEVELS; l++) {
		if (l > g.pwl - 1)
			continue; // above the root (TDX root level = PWL - 1)
		typename D::Bool walkable = s.path[l] == d.lit(SeptState::NL_MAPPED);
		if (x == faults::walk_through_blocked)
			walkable = walkable || s.path[l] == d.lit(SeptState::NL_BLOCKED);
		ok = ok && implies(d, d.ult(level, d.lit(l)), walkable);
	}
	return ok;
}

// Does the walk to `level` pass an NL_BLOCKED entry?  (The property.)
template <Domain D, std::size_t F>
constexpr typename D::Bool sept_walk_passes_nl_blocked(const D& d, const TdGeometry& g,
						       const SeptLocal<D, F>& s, const typename D::Word& level)
{
	typename D::Bool any = d.truth(false);
	for (unsigned l = 0; l + 1 <= g.pwl; l++)
		any = any || (d.ult(level, d.lit(l)) && s.path[l] == d.lit(SeptState::NL_BLOCKED));
	return any;
}

template <Domain D, std::size_t F>
constexpr typename D::Word sept_target(const D& d, const SeptLocal<D, F>& s, const typename D::Word& level)
{
	typename D::Word e = s.path[0];
	for (unsigned l = 1; l < SEPT_LEVELS; l++)
		e = d.ite(level == d.lit(l), s.path[l], e);
	return e;
}

template <Domain D, std::size_t F>
constexpr void sept_set_target(const D& d, SeptLocal<D, F>& s, const typename D::Word& level,
			       const typename D::Bool& commit, const typename D::Word& v)
{
	for (unsigned l = 0; l < SEPT_LEVELS; l++)
		s.path[l] = d.ite(commit && level == d.lit(l), v, s.path[l]);
}

// The walk shared by every S-EPT leaf: page info, tree lock (if any), walk,
// entry lock (TDEL; PAGE.ADD takes none, tdh_mem_page_add.c, section 5.2).
// Returns the target entry's state.
enum class TreeLock { none, shared, exclusive };
enum class EntryLock { none, host };

template <Domain D, std::size_t F>
constexpr typename D::Word walk_and_lock(Checks<D>& c, const TdGeometry& g, const SeptLocal<D, F>& s,
					 const SeptArgs<D>& a, unsigned min_level, unsigned max_level,
					 TreeLock tree, Fault x, EntryLock entry = EntryLock::host)
{
	namespace st = tdx_abi::status;
	const D& d = c.d;
	page_info_check(c, a, min_level, max_level);
	if (tree != TreeLock::none)
		c.fail_if(a.busy.tree, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::SEPT_TREE));
	c.fail_if(!sept_walk_ok(d, g, s, a.level, x), tdx_abi::with_operand(st::TDX_EPT_WALK_FAILED, tdx_abi::operand::RCX));
	if (entry == EntryLock::host)
		c.fail_if(a.busy.entry, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::RCX));
	return sept_target(d, s, a.level);
}

template <Domain D>
constexpr typename D::Word pages_in_level(const D& d, const typename D::Word& tdx_level)
{
	return pages_per_hpage(d, tdx_level + d.lit(1)); // 512^tdx_level
}

// The blocked-and-tracked requirement of removal, DEMOTE and PROMOTE in the
// OP_STATEs that require TLB tracking (section 4).
template <Domain D, std::size_t F>
constexpr void blocked_and_tracked_check(Checks<D>& c, const SeptLocal<D, F>& s, const typename D::Word& entry,
					 Fault x)
{
	namespace st = tdx_abi::status;
	const D& d = c.d;
	const typename D::Bool required =
		op_state_tlb_tracking_required(d, s.td.op_state) && sept_tlb_tracking_required(d, entry);
	if (x != faults::skip_blocked_check)
		c.fail_if(required && !sept_any_blocked(d, entry),
			  tdx_abi::with_operand(st::TDX_GPA_RANGE_NOT_BLOCKED, tdx_abi::operand::RCX));
	if (x != faults::skip_tracking_check)
		c.fail_if(required && !is_tlb_tracked(d, s.td.epoch, s.target.bepoch),
			  tdx_abi::with_operand(st::TDX_TLB_TRACKING_NOT_DONE, tdx_abi::operand::RCX));
}

// An explicit page operand (R8): check_and_lock_explicit_private_hpa; the
// page must be free (PT_NDA) for the module to take it.
template <Domain D, std::size_t F>
constexpr void new_page_check(Checks<D>& c, const SeptLocal<D, F>& s, const SeptArgs<D>& a,
			      const typename D::Bool& when)
{
	namespace st = tdx_abi::status;
	const D& d = c.d;
	c.fail_if(when && a.busy.pamt, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, tdx_abi::operand::R8));
	c.fail_if(when && !(s.operand_pt == d.lit(PageType::PT_NDA)),
		  tdx_abi::with_operand(st::TDX_PAGE_METADATA_INCORRECT, tdx_abi::operand::R8));
}

template <Domain D, std::size_t F>
constexpr void fill_children(const D& d, SeptLocal<D, F>& s, const typename D::Bool& commit,
			     const typename D::Word& v)
{
	for (auto& e : s.child)
		e = d.ite(commit, v, e);
}

template <Domain D>
constexpr typename D::Word count_if(const D& d, const typename D::Bool& commit, const typename D::Word& w,
				    const typename D::Word& delta, Fault x);

// The effect shared by the leaves that install a page (SEPT.ADD, PAGE.ADD,
// AUG): the entry takes its new state, the page (R8) becomes `pt` owned by
// the TD with bepoch 0, and TDR.CHLDCNT grows by `units`.
template <Domain D, std::size_t F>
constexpr SeptLocal<D, F> install_page(const D& d, const SeptLocal<D, F>& s, const typename D::Word& level,
				       const typename D::Bool& commit, SeptState state, PageType pt,
				       const typename D::Word& units, Fault x)
{
	SeptLocal<D, F> p = s;
	sept_set_target(d, p, level, commit, d.lit(state));
	p.target.pt = d.ite(commit, d.lit(pt), s.target.pt);
	p.target.bepoch = d.ite(commit, d.lit(0), s.target.bepoch);
	p.operand_pt = d.ite(commit, d.lit(pt), s.operand_pt);
	p.td.chldcnt = count_if(d, commit, s.td.chldcnt, units, x);
	return p;
}

template <Domain D>
constexpr typename D::Word count_if(const D& d, const typename D::Bool& commit, const typename D::Word& w,
				    const typename D::Word& delta, Fault x)
{
	if (x == faults::chldcnt_not_counted)
		return w;
	return d.ite(commit, w + delta, w);
}

// --- the leaves ------------------------------------------------------------------

// TDH.MEM.SEPT.ADD (leaf 3), section 5.1.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_sept_add(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
					     const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_sept_add_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 1, g.pwl - 1, TreeLock::shared, x);
	const auto is_free = entry == d.lit(SeptState::FREE);
	const auto is_nl = entry == d.lit(SeptState::NL_MAPPED);
	c.fail_if(!(is_free || is_nl), tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	c.fail_if(is_nl && !a.allow_existing, tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	// allow_existing on an NL_MAPPED entry: success, nothing added.
	const auto add = is_free;
	new_page_check(c, s, a, add);
	const auto commit = c.ok() && add;
	SeptLocal<D, F> p = install_page(d, s, a.level, commit, SeptState::NL_MAPPED, PageType::PT_EPT, d.lit(1), x);
	fill_children(d, p, commit, d.lit(SeptState::FREE)); // SEPTE_INIT_VALUE
	return {c.status, p};
}

// TDH.MEM.PAGE.ADD (leaf 2), section 5.2: build-time, measured, 4K only.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_page_add(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
					     const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = false}, ops_initialized_only, x);
	// No tree lock and no entry lock: the TDR is held exclusively.
	const auto entry = walk_and_lock(c, g, s, a, 0, 0, TreeLock::none, x, EntryLock::none);
	c.fail_if(!(entry == d.lit(SeptState::FREE)), tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	c.fail_if(!a.source_ok, tdx_abi::with_operand(st::TDX_OPERAND_INVALID, opd::R9));
	new_page_check(c, s, a, d.truth(true));

	return {c.status, install_page(d, s, a.level, c.ok(), SeptState::MAPPED, PageType::PT_REG, d.lit(1), x)};
}

// TDH.MEM.PAGE.AUG (leaf 6), section 5.3: 4K or 2M, leaves the entry PENDING.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_page_aug(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
					     const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_aug_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 0, 1, TreeLock::shared, x);
	if (x != faults::aug_any_state)
		c.fail_if(!one_of(d, entry, {SeptState::FREE, SeptState::REMOVED}),
			  tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	new_page_check(c, s, a, d.truth(true));

	return {c.status, install_page(d, s, a.level, c.ok(), SeptState::PENDING, PageType::PT_REG,
				       pages_in_level(d, a.level), x)};
}

// TDH.MEM.RANGE.BLOCK (leaf 7), section 5.4.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_range_block(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
						const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_block_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 0, g.pwl - 1, TreeLock::exclusive, x);
	c.fail_if(sept_any_blocked(d, entry), tdx_abi::with_operand(st::TDX_GPA_RANGE_ALREADY_BLOCKED, opd::RCX));
	c.fail_if(!one_of(d, entry, {SeptState::NL_MAPPED, SeptState::MAPPED, SeptState::BLOCKEDW,
				     SeptState::PENDING, SeptState::PENDING_BLOCKEDW}),
		  tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));

	const auto commit = c.ok();
	const auto blocked = d.ite(entry == d.lit(SeptState::NL_MAPPED), d.lit(SeptState::NL_BLOCKED),
				   d.ite(one_of(d, entry, {SeptState::PENDING, SeptState::PENDING_BLOCKEDW}),
					 d.lit(SeptState::PENDING_BLOCKED), d.lit(SeptState::BLOCKED)));
	SeptLocal<D, F> p = s;
	sept_set_target(d, p, a.level, commit, blocked);
	if (x != faults::block_skips_bepoch)
		p.target.bepoch = d.ite(commit, s.td.epoch.td_epoch, s.target.bepoch);
	return {c.status, p};
}

// TDH.MEM.RANGE.UNBLOCK (leaf 39), section 5.5.  KVM does not use it.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_range_unblock(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
						  const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_block_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 0, g.pwl - 1, TreeLock::exclusive, x);
	c.fail_if(!sept_any_blocked(d, entry), tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	const auto required =
		op_state_tlb_tracking_required(d, s.td.op_state) && sept_tlb_tracking_required(d, entry);
	c.fail_if(required && !is_tlb_tracked(d, s.td.epoch, s.target.bepoch),
		  tdx_abi::with_operand(st::TDX_TLB_TRACKING_NOT_DONE, opd::SEPT_TREE));

	const auto commit = c.ok();
	const auto unblocked = d.ite(entry == d.lit(SeptState::NL_BLOCKED), d.lit(SeptState::NL_MAPPED),
				     d.ite(entry == d.lit(SeptState::PENDING_BLOCKED), d.lit(SeptState::PENDING),
					   d.lit(SeptState::MAPPED)));
	SeptLocal<D, F> p = s;
	sept_set_target(d, p, a.level, commit, unblocked);
	return {c.status, p};
}

// TDH.MEM.TRACK (leaf 38), section 5.6.  TDR in RCX.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_track(const D& d, const TdGeometry&, const SeptArgs<D>& a,
					  const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RCX, .takes_op_state_lock = true}, ops_track_set, x);
	const TrackResult<D> r = mem_track_epoch(d, s.td.epoch, a.busy.epoch, x);
	const auto pre_ok = c.ok();
	c.status = d.ite(pre_ok, r.status, c.status);
	SeptLocal<D, F> p = s;
	p.td.epoch.td_epoch = d.ite(pre_ok, r.epoch.td_epoch, s.td.epoch.td_epoch);
	return {c.status, p};
}

// TDH.MEM.PAGE.REMOVE (leaf 29), section 5.7.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_page_remove(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
						const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_remove_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 0, 2, TreeLock::shared, x);
	c.fail_if(!(sept_is_leaf(d, entry) &&
		    one_of(d, entry, {SeptState::MAPPED, SeptState::BLOCKED, SeptState::BLOCKEDW, SeptState::PENDING,
				      SeptState::PENDING_BLOCKED, SeptState::PENDING_BLOCKEDW})),
		  tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	c.fail_if(a.busy.pamt, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::RCX));
	blocked_and_tracked_check(c, s, entry, x);

	const auto commit = c.ok();
	SeptLocal<D, F> p = s;
	const auto freed = d.lit(x == faults::remove_keeps_entry ? SeptState::BLOCKED : SeptState::FREE);
	sept_set_target(d, p, a.level, commit, freed);
	if (x != faults::remove_keeps_pamt)
		p.target.pt = d.ite(commit, d.lit(PageType::PT_NDA), s.target.pt);
	p.td.chldcnt = count_if(d, commit, s.td.chldcnt, d.lit(0) - pages_in_level(d, a.level), x);
	return {c.status, p};
}

template <Domain D, std::size_t F>
constexpr typename D::Bool all_children_free(const D& d, const SeptLocal<D, F>& s)
{
	typename D::Bool all = d.truth(true);
	for (const auto& e : s.child)
		all = all && e == d.lit(SeptState::FREE);
	return all;
}

// TDH.MEM.SEPT.REMOVE (leaf 30), section 5.8: "children removed before the
// parent is removed" is the all-FREE check on the child page.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_sept_remove(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
						const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_sept_remove_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 1, g.pwl - 1, TreeLock::exclusive, x);
	c.fail_if(!one_of(d, entry, {SeptState::NL_MAPPED, SeptState::NL_BLOCKED}),
		  tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	c.fail_if(a.busy.pamt, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::RCX));
	blocked_and_tracked_check(c, s, entry, x);
	if (x != faults::skip_children_free_check)
		c.fail_if(!all_children_free(d, s), tdx_abi::with_operand(st::TDX_EPT_PAGE_NOT_FREE, opd::RCX));

	const auto commit = c.ok();
	SeptLocal<D, F> p = s;
	sept_set_target(d, p, a.level, commit, d.lit(SeptState::FREE));
	p.target.pt = d.ite(commit, d.lit(PageType::PT_NDA), s.target.pt);
	p.td.chldcnt = count_if(d, commit, s.td.chldcnt, d.lit(0) - d.lit(1), x);
	return {c.status, p};
}

// TDH.MEM.PAGE.DEMOTE (leaf 15), section 5.9: a large leaf becomes an
// NL_MAPPED entry over 512 unblocked copies ("No UNBLOCK is needed after a
// successful DEMOTE").
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_page_demote(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
						const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_block_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 1, 2, TreeLock::shared, x);
	c.fail_if(!one_of(d, entry, {SeptState::MAPPED, SeptState::BLOCKED, SeptState::PENDING,
				     SeptState::PENDING_BLOCKED}),
		  tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	blocked_and_tracked_check(c, s, entry, x);
	// The new S-EPT page is the R8 operand; the PAMT demote lock is RCX's.
	c.fail_if(!(s.operand_pt == d.lit(PageType::PT_NDA)),
		  tdx_abi::with_operand(st::TDX_PAGE_METADATA_INCORRECT, opd::R8));
	c.fail_if(a.busy.pamt, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::RCX));

	const auto commit = c.ok();
	const auto pending = one_of(d, entry, {SeptState::PENDING, SeptState::PENDING_BLOCKED});
	auto child_state = d.ite(pending, d.lit(SeptState::PENDING), d.lit(SeptState::MAPPED));
	if (x == faults::demote_keeps_block)
		child_state = entry;
	SeptLocal<D, F> p = s;
	sept_set_target(d, p, a.level, commit, d.lit(SeptState::NL_MAPPED));
	fill_children(d, p, commit, child_state);
	// The large page's PAMT entry becomes PT_NDA; its 512 smaller entries
	// (outside this view; hw/ writes them) take PT_REG, the owner and bepoch 0.
	p.target.pt = d.ite(commit, d.lit(PageType::PT_NDA), s.target.pt);
	p.target.bepoch = d.ite(commit, d.lit(0), s.target.bepoch);
	p.operand_pt = d.ite(commit, d.lit(PageType::PT_EPT), s.operand_pt);
	p.td.chldcnt = count_if(d, commit, s.td.chldcnt, d.lit(1), x);
	return {c.status, p};
}

// PROMOTE's uniformity: every entry of the page below is in the state of the
// first (tdh_mem_page_promote.c, section 5.10).  A named rule, like
// all_children_free(), so that extract/ can pass the page's summary.
template <Domain D, std::size_t F>
constexpr typename D::Bool children_uniform(const D& d, const SeptLocal<D, F>& s)
{
	typename D::Bool all = d.truth(true);
	for (const auto& e : s.child)
		all = all && e == s.child[0];
	return all;
}

// TDH.MEM.PAGE.PROMOTE (leaf 23), section 5.10.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mem_page_promote(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
						 const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = true}, ops_block_set, x);
	const auto entry = walk_and_lock(c, g, s, a, 1, 2, TreeLock::shared, x);
	c.fail_if(!one_of(d, entry, {SeptState::NL_MAPPED, SeptState::NL_BLOCKED}),
		  tdx_abi::with_operand(st::TDX_EPT_ENTRY_STATE_INCORRECT, opd::RCX));
	c.fail_if(a.busy.pamt, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::RCX));
	blocked_and_tracked_check(c, s, entry, x);
	const auto uniform =
		one_of(d, s.child[0], {SeptState::MAPPED, SeptState::PENDING}) && children_uniform(d, s);
	c.fail_if(!(uniform && a.promote_ok),
		  tdx_abi::with_operand(st::TDX_EPT_INVALID_PROMOTE_CONDITIONS, opd::RCX));

	const auto commit = c.ok();
	SeptLocal<D, F> p = s;
	sept_set_target(d, p, a.level, commit, s.child[0]);
	p.target.pt = d.ite(commit, d.lit(PageType::PT_NDA), s.target.pt); // the freed S-EPT page
	p.td.chldcnt = count_if(d, commit, s.td.chldcnt, d.lit(0) - d.lit(1), x);
	return {c.status, p};
}

// TDH.MR.EXTEND (leaf 16), section 5.12: a "walk to leaf" that must end on a
// present (MAPPED) leaf.  No state changes.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mr_extend(const D& d, const TdGeometry& g, const SeptArgs<D>& a,
					  const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RDX, .takes_op_state_lock = false}, ops_initialized_only, x);
	c.fail_if(!a.page_info_ok, tdx_abi::with_operand(st::TDX_OPERAND_INVALID, opd::RCX));
	// The walk to leaf stops at the first entry that is not NL_MAPPED; it
	// must be a present (RWX != 0) leaf, else NOT_PRESENT|RCX; a present leaf
	// that is not MAPPED (e.g. BLOCKEDW during export) gives NOT_PRESENT
	// without an operand ID (section 5.12 steps 4-5, tdh_mr_extend.c).
	typename D::Bool above_ok = d.truth(true), present_leaf = d.truth(false), mapped = d.truth(false);
	for (unsigned i = 0; i < g.pwl; i++) {
		const unsigned l = g.pwl - 1 - i;
		const auto e = s.path[l];
		present_leaf = present_leaf || (above_ok && one_of(d, e, {SeptState::MAPPED, SeptState::BLOCKEDW}));
		mapped = mapped || (above_ok && e == d.lit(SeptState::MAPPED));
		above_ok = above_ok && e == d.lit(SeptState::NL_MAPPED);
	}
	c.fail_if(!present_leaf, tdx_abi::with_operand(st::TDX_EPT_ENTRY_NOT_PRESENT, opd::RCX));
	c.fail_if(!mapped, st::TDX_EPT_ENTRY_NOT_PRESENT);
	return {c.status, s};
}

// TDH.MR.FINALIZE (leaf 17): INITIALIZED -> RUNNABLE; needs a vCPU.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mr_finalize(const D& d, const TdGeometry&, const SeptArgs<D>& a,
					    const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	td_state_check(c, s.td, a.busy, {.tdr_operand = opd::RCX, .takes_op_state_lock = false}, ops_initialized_only, x);
	c.fail_if(s.td.num_vcpus == d.lit(0), st::TDX_NO_VCPUS);
	SeptLocal<D, F> p = s;
	p.td.op_state = d.ite(c.ok(), d.lit(OpState::RUNNABLE), s.td.op_state);
	return {c.status, p};
}

// TDH.MNG.VPFLUSHDONE (leaf 19), section 5.16.  No TD-state check.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mng_vpflushdone(const D& d, const TdGeometry&, const SeptArgs<D>& a,
						const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	c.fail_if(a.busy.tdr, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::RCX));
	c.fail_if(a.busy.kot, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::KOT));
	c.fail_if(!one_of(d, s.td.lifecycle, {Lifecycle::TD_KEYS_CONFIGURED, Lifecycle::TD_HKID_ASSIGNED}),
		  st::TDX_LIFECYCLE_STATE_INCORRECT);
	if (x != faults::vpflushdone_with_vcpus)
		c.fail_if(s.td.tdcs_allocated && !(s.td.op_state == d.lit(OpState::UNINITIALIZED)) &&
				  !(s.td.num_assoc_vcpus == d.lit(0)),
			  st::TDX_FLUSHVP_NOT_DONE);
	SeptLocal<D, F> p = s;
	p.td.lifecycle = d.ite(c.ok(), d.lit(Lifecycle::TD_BLOCKED), s.td.lifecycle);
	p.td.wbinvd_pending = d.ite(c.ok(), d.truth(true), s.td.wbinvd_pending);
	return {c.status, p};
}

// TDH.PHYMEM.CACHE.WB (leaf 40) as it affects this TD: once run on every
// package the TD's bit in KOT.wbinvd_bitmap is clear.  A start with no HKID
// in HKID_FLUSHED returns TDX_NO_HKID_READY_TO_WBCACHE (section 5.15 step 3);
// the TD's HKID is FLUSHED from VPFLUSHDONE (TD_BLOCKED) until KEY.FREEID.
// Only this TD's key is modelled.  (Interruption and resume are in the hw
// layer; KVM treats NO_HKID_READY_TO_WBCACHE as success.)
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_phymem_cache_wb(const D& d, const TdGeometry&, const SeptArgs<D>& a,
						const SeptLocal<D, F>& s, Fault = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	c.fail_if(a.busy.kot, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::KOT));
	const auto flushed = s.td.lifecycle == d.lit(Lifecycle::TD_BLOCKED);
	c.status = d.ite(c.ok() && !flushed, d.lit(st::TDX_NO_HKID_READY_TO_WBCACHE), c.status);
	SeptLocal<D, F> p = s;
	p.td.wbinvd_pending = d.ite(c.ok(), d.truth(false), s.td.wbinvd_pending);
	return {c.status, p};
}

// TDH.MNG.KEY.FREEID (leaf 20), section 5.17: TD_BLOCKED -> TD_TEARDOWN.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_mng_key_freeid(const D& d, const TdGeometry&, const SeptArgs<D>& a,
					       const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	c.fail_if(a.busy.tdr, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::RCX));
	c.fail_if(!(s.td.lifecycle == d.lit(Lifecycle::TD_BLOCKED)), st::TDX_LIFECYCLE_STATE_INCORRECT);
	c.fail_if(a.busy.kot, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::KOT));
	if (x != faults::freeid_before_wb)
		c.fail_if(s.td.wbinvd_pending, st::TDX_WBCACHE_NOT_COMPLETE);
	SeptLocal<D, F> p = s;
	p.td.lifecycle = d.ite(c.ok(), d.lit(Lifecycle::TD_TEARDOWN), s.td.lifecycle);
	return {c.status, p};
}

// TDH.PHYMEM.PAGE.RECLAIM (leaf 28), section 5.13: the page is s.target; the
// page size (0, 1, 2) is args.level.  The S-EPT is neither read nor written.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> tdh_phymem_page_reclaim(const D& d, const TdGeometry&, const SeptArgs<D>& a,
						    const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	Checks<D> c(d);
	c.fail_if(!a.page_info_ok, tdx_abi::with_operand(st::TDX_OPERAND_INVALID, opd::RCX));
	c.fail_if(a.busy.pamt, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::RCX));
	c.fail_if(one_of(d, s.target.pt, {PageType::PT_NDA, PageType::PT_RSVD}),
		  tdx_abi::with_operand(st::TDX_PAGE_METADATA_INCORRECT, opd::RCX));
	const auto is_tdr = s.target.pt == d.lit(PageType::PT_TDR);
	const auto teardown = s.td.lifecycle == d.lit(Lifecycle::TD_TEARDOWN);
	c.fail_if(!is_tdr && a.busy.tdr, tdx_abi::with_operand(st::TDX_OPERAND_BUSY, opd::TDR));
	if (x != faults::reclaim_any_lifecycle)
		c.fail_if(!teardown, st::TDX_LIFECYCLE_STATE_INCORRECT);
	if (x != faults::reclaim_tdr_with_children)
		c.fail_if(is_tdr && !(s.td.chldcnt == d.lit(0)), st::TDX_TD_ASSOCIATED_PAGES_EXIST);

	const auto commit = c.ok();
	const auto units = d.ite(s.target.pt == d.lit(PageType::PT_REG), pages_in_level(d, a.level), d.lit(1));
	SeptLocal<D, F> p = s;
	p.target.pt = d.ite(commit, d.lit(PageType::PT_NDA), s.target.pt);
	p.td.chldcnt = d.ite(commit && !is_tdr, s.td.chldcnt - units, s.td.chldcnt);
	return {c.status, p};
}

// The host leaves of this model, by leaf number, for dispatch and tables.
template <Domain D, std::size_t F>
constexpr SeptOutcome<D, F> sept_seamcall(const D& d, const TdGeometry& g, tdx_abi::Leaf leaf,
					  const SeptArgs<D>& a, const SeptLocal<D, F>& s, Fault x = no_fault)
{
	namespace st = tdx_abi::status;
	namespace opd = tdx_abi::operand;
	using L = tdx_abi::Leaf;
	switch (leaf) {
	case L::TDH_MEM_SEPT_ADD: return tdh_mem_sept_add(d, g, a, s, x);
	case L::TDH_MEM_PAGE_ADD: return tdh_mem_page_add(d, g, a, s, x);
	case L::TDH_MEM_PAGE_AUG: return tdh_mem_page_aug(d, g, a, s, x);
	case L::TDH_MEM_RANGE_BLOCK: return tdh_mem_range_block(d, g, a, s, x);
	case L::TDH_MEM_RANGE_UNBLOCK: return tdh_mem_range_unblock(d, g, a, s, x);
	case L::TDH_MEM_TRACK: return tdh_mem_track(d, g, a, s, x);
	case L::TDH_MEM_PAGE_REMOVE: return tdh_mem_page_remove(d, g, a, s, x);
	case L::TDH_MEM_SEPT_REMOVE: return tdh_mem_sept_remove(d, g, a, s, x);
	case L::TDH_MEM_PAGE_DEMOTE: return tdh_mem_page_demote(d, g, a, s, x);
	case L::TDH_MEM_PAGE_PROMOTE: return tdh_mem_page_promote(d, g, a, s, x);
	case L::TDH_MR_EXTEND: return tdh_mr_extend(d, g, a, s, x);
	case L::TDH_MR_FINALIZE: return tdh_mr_finalize(d, g, a, s, x);
	case L::TDH_MNG_VPFLUSHDONE: return tdh_mng_vpflushdone(d, g, a, s, x);
	case L::TDH_PHYMEM_CACHE_WB: return tdh_phymem_cache_wb(d, g, a, s, x);
	case L::TDH_MNG_KEY_FREEID: return tdh_mng_key_freeid(d, g, a, s, x);
	case L::TDH_PHYMEM_PAGE_RECLAIM: return tdh_phymem_page_reclaim(d, g, a, s, x);
	default: break;
	}
	return {d.lit(tdx_abi::with_operand(st::TDX_OPERAND_INVALID, opd::RAX)), s};
}

struct SeptLeafInfo {
	constexpr std::string_view name() const { return tdx_abi::leaf_spec_name(leaf); }
	tdx_abi::Leaf leaf;
	bool sept_leaf; // runs the TD-state check and operates on the S-EPT
	bool walks;     // walks the S-EPT to a requested level
	// reads or writes SeptLocal::child (the S-EPT page below the target or
	// the one being installed); a leaf without it runs the same on a view
	// of any fan-out, so a machine may pass it one with no child page
	bool children;
};

inline constexpr SeptLeafInfo sept_leaves[] = {
	{.leaf = tdx_abi::Leaf::TDH_MEM_SEPT_ADD, .sept_leaf = true, .walks = true, .children = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_ADD, .sept_leaf = true, .walks = true, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_AUG, .sept_leaf = true, .walks = true, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MEM_RANGE_BLOCK, .sept_leaf = true, .walks = true, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MEM_RANGE_UNBLOCK, .sept_leaf = true, .walks = true, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MEM_TRACK, .sept_leaf = true, .walks = false, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE, .sept_leaf = true, .walks = true, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MEM_SEPT_REMOVE, .sept_leaf = true, .walks = true, .children = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE, .sept_leaf = true, .walks = true, .children = true},
	{.leaf = tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE, .sept_leaf = true, .walks = true, .children = true},
	{.leaf = tdx_abi::Leaf::TDH_MR_EXTEND, .sept_leaf = true, .walks = false, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MR_FINALIZE, .sept_leaf = true, .walks = false, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE, .sept_leaf = false, .walks = false, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB, .sept_leaf = false, .walks = false, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_MNG_KEY_FREEID, .sept_leaf = false, .walks = false, .children = false},
	{.leaf = tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM, .sept_leaf = false, .walks = false, .children = false},
};

// Does the leaf's rule read or write the child page?  False for a leaf
// outside sept_leaves (sept_seamcall passes its view through unchanged).
constexpr bool sept_leaf_uses_children(tdx_abi::Leaf leaf)
{
	for (const SeptLeafInfo& i : sept_leaves)
		if (i.leaf == leaf)
			return i.children;
	return false;
}

} // namespace arborist::spec
