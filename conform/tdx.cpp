// SPDX-License-Identifier: GPL-2.0-only
//
// The TDX half of the replay: SEAMCALLs against a simulated TDX module per
// TD (see tdx.hpp).  Sources: the TDX module 1.5.01 source (intel/tdx-module,
// src/vmm_dispatcher/api_calls/tdh_*.c) and Linux v6.19
// arch/x86/kvm/vmx/tdx.c and arch/x86/virt/vmx/tdx/tdx.c (how KVM calls it,
// the registers of each tdh_*() wrapper, which statuses it tolerates).
#include "tdx.hpp"

#include <array>

namespace arborist::conform {

using support::hex_digits;

namespace {

using tdx_abi::Leaf;
using tdx_abi::status_text;
namespace st = tdx_abi::status;

constexpr u64 REGION_SHIFT = 21;             // 2 MiB: a 2M page keeps its alignment
constexpr u64 REGION_FRAMES = u64{1} << 9;   // 4K frames per region
constexpr u64 SIM_BASE_PFN = 0x100000;       // the simulated TDMR starts at 4 GiB
constexpr u64 MAX_REGIONS = 4096;            // 8 GiB of distinct host memory in all
constexpr std::size_t MAX_TDS = 64;          // TDs alive at once
constexpr u64 NO_PFN = ~u64{0};

u64 status_class(u64 s) { return s & tdx_abi::TDX_SEAMCALL_STATUS_MASK; }

namespace fl = spec::faults;
constexpr TdxCheck TDX_CHECKS[] = {
	{"blocked_and_tracked_check(): is_tlb_tracked()", "sept.tlb-not-tracked", st::TDX_TLB_TRACKING_NOT_DONE,
	 ANY_OPERAND, fl::skip_tracking_check},
	{"blocked_and_tracked_check(): sept_any_blocked()", "sept.not-blocked", st::TDX_GPA_RANGE_NOT_BLOCKED,
	 ANY_OPERAND, fl::skip_blocked_check},
	{"tdh_mem_sept_remove(): all_children_free()", "sept.children-not-free", st::TDX_EPT_PAGE_NOT_FREE, ANY_OPERAND,
	 fl::skip_children_free_check},
	{"walk_and_lock(): sept_walk_ok()", "sept.walk", st::TDX_EPT_WALK_FAILED, ANY_OPERAND, fl::walk_through_blocked},
	{"new_page_check(): the R8 page is PT_NDA", "pamt.page-in-use", st::TDX_PAGE_METADATA_INCORRECT,
	 tdx_abi::operand::R8, spec::no_fault},
	{"td_state_check(): TDR.LIFECYCLE_STATE == TD_KEYS_CONFIGURED", "td.lifecycle", st::TDX_TD_KEYS_NOT_CONFIGURED,
	 ANY_OPERAND, fl::skip_lifecycle_check},
	{"td_state_check(): TDR.FATAL", "td.lifecycle", st::TDX_TD_FATAL, ANY_OPERAND, spec::no_fault},
	{"td_state_check(): TDCS allocated", "td.lifecycle", st::TDX_TDCS_NOT_ALLOCATED, ANY_OPERAND, spec::no_fault},
	{"td_state_check(): OP_STATE", "td.lifecycle", st::TDX_OP_STATE_INCORRECT, ANY_OPERAND, spec::no_fault},
	{"the leaf's TDR.LIFECYCLE_STATE check", "td.lifecycle", st::TDX_LIFECYCLE_STATE_INCORRECT, ANY_OPERAND,
	 spec::no_fault},
	{"tdh_phymem_page_reclaim(): TD_TEARDOWN", "td.lifecycle", NO_STATUS, ANY_OPERAND, fl::reclaim_any_lifecycle},
	{"tdh_phymem_page_reclaim(): TDR.CHLDCNT == 0", "td.lifecycle", st::TDX_TD_ASSOCIATED_PAGES_EXIST, ANY_OPERAND,
	 fl::reclaim_tdr_with_children},
	{"tdh_mng_key_freeid(): no TDH.PHYMEM.CACHE.WB pending", "td.lifecycle", st::TDX_WBCACHE_NOT_COMPLETE,
	 ANY_OPERAND, fl::freeid_before_wb},
	{"tdh_mng_vpflushdone(): no vCPU associated", "td.lifecycle", st::TDX_FLUSHVP_NOT_DONE, ANY_OPERAND,
	 fl::vpflushdone_with_vcpus},
	{"tdh_mem_page_aug(): entry FREE or REMOVED", "sept.status-mismatch", NO_STATUS, ANY_OPERAND,
	 fl::aug_any_state},
	{"tdh_mr_finalize(): a vCPU exists", "td.lifecycle", st::TDX_NO_VCPUS, ANY_OPERAND, spec::no_fault},
	{"tdh_phymem_cache_wb(): an HKID is ready (a TD in TD_BLOCKED after TDH.MNG.VPFLUSHDONE)", "td.lifecycle",
	 st::TDX_NO_HKID_READY_TO_WBCACHE, ANY_OPERAND, spec::no_fault},
	{"check_and_associate_vcpu(): the vCPU is initialized (TDH.VP.INIT)", "td.lifecycle",
	 st::TDX_VCPU_STATE_INCORRECT, ANY_OPERAND, spec::no_fault},
	{"associate_vcpu(): the vCPU is associated with no other logical processor (TDH.VP.FLUSH there first)",
	 "td.vcpu-association", st::TDX_VCPU_ASSOCIATED, ANY_OPERAND, spec::no_fault},
	{"tdh_vp_flush(): the vCPU is associated with the logical processor the call runs on", "td.vcpu-association",
	 st::TDX_VCPU_NOT_ASSOCIATED, ANY_OPERAND, spec::no_fault},
};

} // namespace

std::span<const TdxCheck> tdx_checks() { return TDX_CHECKS; }

namespace {

// The check whose failure returns status s, if one does.
const TdxCheck* status_check(u64 s)
{
	for (const TdxCheck& c : tdx_checks())
		if (c.status != NO_STATUS && status_class(s) == c.status &&
		    (c.operand == ANY_OPERAND || (s & ~tdx_abi::TDX_SEAMCALL_STATUS_MASK) == c.operand))
			return &c;
	return nullptr;
}

// Statuses KVM v6.19 handles without TDX_BUG_ON (tdx.c tdx_operand_busy(),
// tdh_do_no_vcpus(), tdx_sept_*()): the caller saw them and went on, so a model that agrees is fine.
bool tolerated(Leaf leaf, u64 s)
{
	if (s == st::TDX_SUCCESS || tdx_abi::tdx_operand_busy(s))
		return true;
	switch (leaf) {
	case Leaf::TDH_VP_FLUSH: return s == st::TDX_VCPU_NOT_ASSOCIATED;
	case Leaf::TDH_MNG_VPFLUSHDONE: return s == st::TDX_FLUSHVP_NOT_DONE;
	case Leaf::TDH_PHYMEM_CACHE_WB: return s == st::TDX_NO_HKID_READY_TO_WBCACHE || s == st::TDX_INTERRUPTED_RESUMABLE;
	default: return false;
	}
}

// The leaves that walk the S-EPT to a requested level and may change it
// (spec::sept_leaves; TDH.MR.EXTEND walks to the leaf and changes nothing).
bool changes_sept(Leaf l)
{
	for (const spec::SeptLeafInfo& i : spec::sept_leaves)
		if (i.leaf == l)
			return i.walks;
	return false;
}

// The value of the register that names a call's TD (hw::leaf_operands:
// the TDR, a TDVPR or a page), flags cleared.
u64 handle_of(const hw::LeafOperands& o, const Seamcall& c)
{
	const u64 r = o.handle_reg == hw::Reg::rcx ? c.rcx : o.handle_reg == hw::Reg::rdx ? c.rdx : 0;
	return o.handle_flags ? r & ~u64{1} : r;
}

} // namespace

// ---- one TD ------------------------------------------------------------------------

struct TdxReplay::Td {
	u64 serial = 0;
	u64 tdr = 0; // host address
	hw::u16 hkid = 0;
	bool key_configured = false;
	std::vector<u64> tdcs;
	TdParams params{0, 4, 46};
	std::unique_ptr<hw::SimModule> sim; // from TDH.MNG.INIT on
	std::unordered_map<u64, u64> region; // host 2 MiB region -> simulated region index
	std::map<u64, bool> in_guest_model;   // host TDVPR -> the model's VP.ENTER succeeded
	u64* total_regions = nullptr;

	u64 phys_mask() const { return spec::bit_ull(params.phys_bits) - 1; }

	// The simulated address of a host address: the page part (below the
	// KeyID bits) moves region by region; the offset and any bit at or
	// above x86_phys_bits stay.
	u64 sim_pa(u64 host, const Where& w, std::string_view field)
	{
		const u64 page = host & phys_mask();
		const u64 r = page >> REGION_SHIFT;
		auto it = region.find(r);
		if (it == region.end()) {
			if (*total_regions >= MAX_REGIONS)
				throw ParseError(w, field,
						 "the trace names more than " + std::to_string(MAX_REGIONS) +
							 " distinct 2 MiB host regions (" + std::to_string(MAX_REGIONS * 2) +
							 " MiB), beyond what the replay's simulated TDMR holds");
			it = region.emplace(r, region.size()).first;
			++*total_regions;
			grow();
		}
		const u64 base = (SIM_BASE_PFN + it->second * REGION_FRAMES) << spec::PAGE_SHIFT;
		return (host & ~phys_mask()) | base | (page & ((u64{1} << REGION_SHIFT) - 1));
	}

	// The simulated address of a host page if the trace has named its region.
	u64 known_sim_pa(u64 host) const
	{
		const u64 page = host & phys_mask();
		const auto it = region.find(page >> REGION_SHIFT);
		if (it == region.end())
			return NO_PFN;
		return ((SIM_BASE_PFN + it->second * REGION_FRAMES) << spec::PAGE_SHIFT) |
		       (page & ((u64{1} << REGION_SHIFT) - 1));
	}

	bool knows(u64 host) const { return region.count((host & phys_mask()) >> REGION_SHIFT) != 0; }

	void grow()
	{
		if (sim && sim->tdmr_pages() < region.size() * REGION_FRAMES)
			sim->grow_tdmr(region.size() * REGION_FRAMES - sim->tdmr_pages());
	}

	bool live() const { return sim && sim->has_td(); }
};

TdxReplay::TdxReplay() = default;
TdxReplay::~TdxReplay() = default;

TdxReplay::Td* TdxReplay::td_by_tdr(u64 pa)
{
	const auto it = tds_.find(pa);
	return it == tds_.end() ? nullptr : it->second.get();
}

TdxReplay::Td* TdxReplay::td_by_tdvpr(u64 pa)
{
	for (auto& [tdr, td] : tds_)
		if (td->in_guest_model.count(pa))
			return td.get();
	return nullptr;
}

// The TD whose module has the page: its PAMT entry (or that of the large
// page it belongs to) is not PT_NDA.  Several TDs' pages may share a 2 MiB
// host region, so the region alone does not say.
TdxReplay::Td* TdxReplay::td_by_page(u64 pa)
{
	for (auto& [tdr, td] : tds_) {
		if (!td->sim || !td->knows(pa))
			continue;
		const auto p = td->sim->pamt(td->known_sim_pa(pa) >> spec::PAGE_SHIFT);
		if (p && p->pt != spec::PageType::PT_NDA)
			return td.get();
	}
	return nullptr;
}

TdxReplay::Td* TdxReplay::newest_td()
{
	Td* best = nullptr;
	for (auto& [tdr, td] : tds_)
		if (!best || td->serial > best->serial)
			best = td.get();
	return best;
}

// The TD a call acts on, by the register that names it (hw::leaf_operands).
// A page no TD has (a RECLAIM or WBINVD of a page never given) is run on a
// TD of the trace -- the one that has its region, else the newest -- whose
// module then refuses it; not after a loss of events, when it may be a page
// of a TD whose state was dropped.
TdxReplay::Td* TdxReplay::td_of(const Seamcall& c)
{
	const hw::LeafOperands o = hw::leaf_operands(static_cast<Leaf>(c.leaf));
	const u64 h = handle_of(o, c);
	switch (o.handle) {
	case hw::TdHandle::tdr:
		if (Td* td = td_by_tdr(h))
			return td;
		break;
	case hw::TdHandle::tdvpr:
		if (Td* td = td_by_tdvpr(h))
			return td;
		break;
	case hw::TdHandle::page:
		// WBINVD: the page with the TD's HKID in the KeyID bits
		// (tdh_phymem_page_wbinvd_hkid()).
		if (static_cast<Leaf>(c.leaf) == Leaf::TDH_PHYMEM_PAGE_WBINVD)
			for (auto& [tdr, t] : tds_)
				if (t->sim && (h >> t->params.phys_bits) == t->hkid && t->knows(h))
					return t.get();
		if (Td* td = td_by_page(h))
			return td;
		if (lost_at_)
			return nullptr;
		for (auto& [tdr, t] : tds_)
			if (t->knows(h))
				return t.get();
		break;
	default:
		return nullptr;
	}
	return lost_at_ ? nullptr : newest_td();
}

void TdxReplay::drop_td(Td& td)
{
	stats_.regions -= td.region.size();
	params_.erase(td.tdr);
	tds_.erase(td.tdr);
}

void TdxReplay::td_params(const TdParams& p, const Where&)
{
	params_[p.tdr] = p;
}

// A loss marker: the calls lost with it changed the modules in ways the
// trace does not show, so every TD's state is dropped (docs/conformance.md
// "Input": the state before a loss is not checked against what comes
// after).  Calls on those TDs, their vCPUs and their pages are not replayed
// from here on; a TD built after the loss is replayed from its TDH.MNG.CREATE.
void TdxReplay::lost_events(const Where& w)
{
	lost_at_ = w.line;
	tds_.clear();
	params_.clear();
	stats_.regions = 0;
}

std::string TdxReplay::unknown_td() const
{
	return lost_at_ ? "its TD's state was dropped at the loss of events at line " + std::to_string(lost_at_)
			: "no TD of the trace was built before it";
}

// ---- TD construction: the module's helpers (not SEAMCALL-exact) -----------------------

SeamcallVerdict TdxReplay::construct(const Seamcall& c, u32 cpu, const Where& w)
{
	SeamcallVerdict v;
	v.replayed = true;
	v.model_status = st::TDX_SUCCESS;
	if (c.status != st::TDX_SUCCESS) {
		// The module refused: nothing changed.  The spec has no rule for
		// these leaves, so the status is not compared.
		v.replayed = false;
		v.not_replayed = "construction leaf that failed in the trace";
		return v;
	}
	auto refused = [&](std::string what) {
		v.kind = "td.lifecycle";
		v.check = "the TD construction order of hw::SimModule (create_td, key_config, add_tdcs_page, mng_init, "
			  "create_vcpu, add_vcpu_page, init_vcpu)";
		v.message = std::move(what);
		return v;
	};
	const Leaf leaf = static_cast<Leaf>(c.leaf);
	if (leaf == Leaf::TDH_MNG_CREATE) {
		if (td_by_tdr(c.rcx))
			return refused("TDH.MNG.CREATE of TDR " + hex_digits(c.rcx) + ", which is already a TD's");
		if (tds_.size() >= MAX_TDS)
			throw ParseError(w, "rcx", "more than " + std::to_string(MAX_TDS) + " TDs alive at once");
		auto td = std::make_unique<Td>();
		td->serial = ++next_serial_;
		td->tdr = c.rcx;
		td->hkid = static_cast<hw::u16>(c.rdx);
		td->total_regions = &stats_.regions;
		tds_.emplace(c.rcx, std::move(td));
		stats_.tds++;
		v.tdr = c.rcx;
		return v;
	}
	Td* td = td_of(c);
	if (!td) {
		if (lost_at_) {
			v.replayed = false;
			v.not_replayed = unknown_td();
			return v;
		}
		return refused(std::string(tdx_leaf_name(c.leaf)) + " succeeded, but no TD of the trace owns its "
									 "TDR/TDVPR operand");
	}
	v.tdr = td->tdr;
	switch (leaf) {
	case Leaf::TDH_MNG_KEY_CONFIG:
		if (td->sim)
			return refused("TDH.MNG.KEY.CONFIG after TDH.MNG.INIT");
		td->key_configured = true;
		return v;
	case Leaf::TDH_MNG_ADDCX:
		if (td->sim || !td->key_configured)
			return refused("TDH.MNG.ADDCX outside TD_KEYS_CONFIGURED before TDH.MNG.INIT");
		td->tdcs.push_back(c.rcx);
		return v;
	case Leaf::TDH_MNG_INIT: {
		if (td->sim)
			return refused("TDH.MNG.INIT of a TD already initialized");
		if (const auto p = params_.find(td->tdr); p != params_.end())
			td->params = p->second;
		const spec::TdGeometry g = td->params.pwl == 5 ? spec::td_pwl5 : spec::td_pwl4;
		td->sim = std::make_unique<hw::SimModule>(g, SIM_BASE_PFN, 0, td->params.phys_bits);
		td->grow();
		hw::SimModule& m = *td->sim;
		bool ok = m.create_td(td->sim_pa(td->tdr, w, "rcx"), td->hkid) && (!td->key_configured || m.key_config());
		for (const u64 pa : td->tdcs)
			ok = ok && m.add_tdcs_page(td->sim_pa(pa, w, "rcx"));
		ok = ok && m.mng_init();
		if (!ok)
			return refused("the TD's construction (TDH.MNG.CREATE, KEY.CONFIG, " + std::to_string(td->tdcs.size()) +
				       " TDH.MNG.ADDCX, TDH.MNG.INIT) is one the simulated module refuses (it needs KEY.CONFIG "
				       "and exactly " + std::to_string(hw::sim::MIN_NUM_TDCS_PAGES) + " TDCS pages)");
		return v;
	}
	case Leaf::TDH_VP_CREATE:
		if (!td->sim || !td->sim->create_vcpu(td->sim_pa(c.rcx, w, "rcx")))
			return refused("TDH.VP.CREATE of TDVPR " + hex_digits(c.rcx) +
				       " outside OP_STATE INITIALIZED or on a page that is not free");
		td->in_guest_model[c.rcx] = false;
		return v;
	case Leaf::TDH_VP_ADDCX:
		// No simulated module yet: the TD's own construction was refused.
		if (!td->sim || !td->sim->add_vcpu_page(td->sim_pa(c.rdx, w, "rdx"), td->sim_pa(c.rcx, w, "rcx")))
			return refused("TDH.VP.ADDCX of page " + hex_digits(c.rcx) + " before the TD is initialized, or of a page "
				       "that is not free");
		return v;
	default: // TDH.VP.INIT: the vCPU is initialized and associated with this CPU
		if (!td->sim)
			return refused("TDH.VP.INIT of TDVPR " + hex_digits(c.rcx) + " before the TD is initialized");
		td->sim->lp = cpu;
		if (!td->sim->init_vcpu(td->sim_pa(c.rcx, w, "rcx")))
			return refused("TDH.VP.INIT of TDVPR " + hex_digits(c.rcx) + ", which is initialized already");
		return v;
	}
}

// ---- the other leaves: SimModule::seamcall() and the spec --------------------------------

SeamcallVerdict TdxReplay::seamcall(const Seamcall& c, const Where& w, u32 cpu)
{
	const Leaf leaf = static_cast<Leaf>(c.leaf);
	SeamcallVerdict v;
	switch (leaf) {
	case Leaf::TDH_MNG_CREATE:
	case Leaf::TDH_MNG_KEY_CONFIG:
	case Leaf::TDH_MNG_ADDCX:
	case Leaf::TDH_MNG_INIT:
	case Leaf::TDH_VP_CREATE:
	case Leaf::TDH_VP_ADDCX:
	case Leaf::TDH_VP_INIT:
		v = construct(c, cpu, w);
		break;
	case Leaf::TDH_MNG_RD:
	case Leaf::TDH_VP_RD:
	case Leaf::TDH_VP_WR:
	case Leaf::TDH_SYS_RD:
	case Leaf::TDH_PHYMEM_PAGE_RDMD:
		v.not_replayed = "metadata read/write, not modelled";
		break;
	default: {
		if (tdx_abi::tdx_operand_busy(c.status) || c.status == st::TDX_RND_NO_ENTROPY ||
		    c.status == st::TDX_INTERRUPTED_RESUMABLE) {
			// Contention and interruption are not modelled: such a call
			// changed nothing in the module (a resumable CACHE.WB is
			// resumed by the next call, which the model runs as a start).
			v.not_replayed = "contention or interruption (" + status_text(c.status) + ")";
			break;
		}
		if (leaf == Leaf::TDH_PHYMEM_CACHE_WB) {
			v = cache_wb(c, cpu);
			break;
		}
		Td* td = td_of(c);
		if (!td || !td->sim) {
			v.not_replayed = unknown_td();
			// The TDR the call names, for the mirror roots (tdx.hpp).
			if (hw::leaf_operands(leaf).handle == hw::TdHandle::tdr)
				v.tdr = handle_of(hw::leaf_operands(leaf), c);
			break;
		}
		v = run(*td, c, cpu, w);
		// The TDR reclaimed: the module forgot the TD; its TDR page may
		// start another one.
		if (leaf == Leaf::TDH_PHYMEM_PAGE_RECLAIM && !td->sim->has_td())
			drop_td(*td);
		break;
	}
	}
	if (v.replayed)
		stats_.seamcalls++;
	else
		stats_.not_replayed++;
	return v;
}

namespace {

// The model returned what the trace shows.  A failure is reported unless
// KVM tolerates it: the module refused a call that breaks a rule, which
// KVM v6.19 treats as a bug (TDX_BUG_ON()).
void agreed(SeamcallVerdict& v, const Seamcall& c)
{
	if (tolerated(static_cast<Leaf>(c.leaf), v.model_status))
		return;
	const TdxCheck* sc = status_check(v.model_status);
	v.kind = sc ? sc->kind : "sept.status-mismatch";
	v.check = sc ? std::string(sc->check) : "the leaf's checks in spec/arborist/sept.hpp";
	v.message = std::string(tdx_leaf_name(c.leaf)) + " returned " + status_text(c.status) +
		    ", and the spec returns the same: the call breaks " + v.check + " (KVM treats this as a bug)";
}

// The model returned another status than the trace.
void differed(SeamcallVerdict& v, const Seamcall& c)
{
	v.message = std::string(tdx_leaf_name(c.leaf)) + " returned " + status_text(c.status) + " in the trace, but " +
		    status_text(v.model_status) + " in the model";
	if (v.model_status == st::TDX_SUCCESS) {
		// The model changed state where the module did not: it diverges
		// from here on for this TD.
		v.kind = "sept.status-mismatch";
		v.check = "the status of " + std::string(tdx_leaf_name(c.leaf)) + " (spec/arborist/sept.hpp)";
		v.message += "; the model's state now differs from the module's for this TD";
		return;
	}
	const TdxCheck* sc = status_check(v.model_status);
	v.kind = sc ? sc->kind : "sept.status-mismatch";
	v.check = sc ? std::string(sc->check) : "the leaf's checks in spec/arborist/sept.hpp";
	v.message += " (" + v.check + ")";
	if (c.status == st::TDX_SUCCESS)
		v.message += "; the model's state now differs from the module's for this TD";
}

} // namespace

// One call on the TD's module; on a status the trace contradicts, the
// check is found with the spec's named faults (tdx.hpp).
SeamcallVerdict TdxReplay::run(Td& td, const Seamcall& c, u32 cpu, const Where& w)
{
	const Leaf leaf = static_cast<Leaf>(c.leaf);
	const hw::LeafOperands o = hw::leaf_operands(leaf);
	hw::TdxModuleArgs in{};
	in.rcx = c.rcx;
	in.rdx = c.rdx;
	in.r8 = c.r8;
	in.r9 = c.r9;
	// The registers that hold host addresses of TDMR pages, mapped into
	// the TD's simulated TDMR (a flag in bit 0 stays: the offset is kept).
	if (o.rcx_page)
		in.rcx = td.sim_pa(c.rcx, w, "rcx");
	if (o.rdx_page)
		in.rdx = td.sim_pa(c.rdx, w, "rdx");
	if (o.r8_page)
		in.r8 = td.sim_pa(c.r8, w, "r8");
	const u64 fn = hw::seamcall_fn(leaf);
	hw::SimModule& m = *td.sim;
	m.lp = cpu;
	// A failing call changes nothing, so the module is still the one
	// before it when the faults are tried (SimModule::status_with, which
	// runs the checks on the extracted view without committing).
	hw::TdxModuleArgs a = in;
	const u64 model = m.seamcall(fn, a);

	SeamcallVerdict v;
	v.replayed = true;
	v.model_status = model;
	v.tdr = td.tdr;
	auto note_sept_change = [&] {
		if (c.status == st::TDX_SUCCESS && changes_sept(leaf)) {
			v.sept_changed = true;
			v.gpa = c.rcx & hw::sim::GPA_MASK;
			v.tdx_level = leaf == Leaf::TDH_MEM_PAGE_ADD ? 0 : static_cast<unsigned>(c.rcx & 7);
		}
	};
	if (model == c.status) {
		note_sept_change();
		agreed(v, c);
		return v;
	}
	if (model != st::TDX_SUCCESS)
		for (const TdxCheck& f : tdx_checks()) {
			if (f.fault == spec::no_fault || m.status_with(fn, in, f.fault) != c.status)
				continue;
			// The module goes on from the run with that check skipped,
			// i.e. in the state the real module is in.
			m.inject_fault = f.fault;
			hw::TdxModuleArgs b = in;
			m.seamcall(fn, b);
			v.kind = f.kind;
			v.check = std::string(f.check) + " [spec fault " + std::string(f.fault.name) + " reproduces the trace]";
			v.message = std::string(tdx_leaf_name(c.leaf)) + " returned " + status_text(c.status) +
				    " in the trace, but " + status_text(model) +
				    " in the model: the kernel's call passed only because the module skipped " +
				    std::string(f.check);
			note_sept_change();
			return v;
		}
	differed(v, c);
	return v;
}

// TDH.PHYMEM.CACHE.WB acts on the package, not on a TD (tdh_phymem_cache_wb.c):
// it writes back the caches of every HKID in KOT_STATE_HKID_FLUSHED -- every
// TD that TDH.MNG.VPFLUSHDONE put in TD_BLOCKED -- and clears their
// WBINVD bits, and it fails with TDX_NO_HKID_READY_TO_WBCACHE only when no
// HKID is ready.  Each TD's module answers for its own HKID (spec
// tdh_phymem_cache_wb); the package succeeds if any does, and those commit.
// (Linux v6.19 tdx_mmu_release_hkid() runs it once per package under
// tdx_lock while one TD's HKID is released; other TDs may be running.)
SeamcallVerdict TdxReplay::cache_wb(const Seamcall& c, u32 cpu)
{
	SeamcallVerdict v;
	hw::TdxModuleArgs in{};
	in.rcx = c.rcx == 1 ? 0 : c.rcx; // a resume of an interruption the model never had
	const u64 fn = hw::seamcall_fn(Leaf::TDH_PHYMEM_CACHE_WB);
	std::vector<hw::SimModule*> ready;
	u64 refusal = st::TDX_NO_HKID_READY_TO_WBCACHE;
	bool any = false;
	for (auto& [tdr, td] : tds_) {
		if (!td->live())
			continue;
		any = true;
		td->sim->lp = cpu;
		const u64 s = td->sim->status_with(fn, in, spec::no_fault);
		if (s == st::TDX_SUCCESS)
			ready.push_back(td->sim.get());
		else if (s != st::TDX_NO_HKID_READY_TO_WBCACHE)
			refusal = s; // an operand error, the same for every TD
	}
	if (!any) {
		v.not_replayed = lost_at_ ? unknown_td() : "no TD to write back";
		return v;
	}
	v.replayed = true;
	v.model_status = ready.empty() ? refusal : st::TDX_SUCCESS;
	for (hw::SimModule* m : ready) {
		hw::TdxModuleArgs a = in;
		m->seamcall(fn, a);
	}
	if (v.model_status == c.status)
		agreed(v, c);
	else
		differed(v, c);
	return v;
}

// ---- TDH.VP.ENTER and the TD exit -----------------------------------------------------------

SeamcallVerdict TdxReplay::vcpu_enter(const VcpuRun& r, const Where& w, u32 cpu)
{
	SeamcallVerdict v;
	Td* td = td_by_tdvpr(r.tdvpr);
	if (!td || !td->sim) {
		v.not_replayed = "no TD of the trace has this TDVPR";
		stats_.not_replayed++;
		return v;
	}
	hw::TdxModuleArgs a{};
	a.rcx = td->sim_pa(r.tdvpr, w, "tdvpr");
	v.replayed = true;
	v.tdr = td->tdr;
	td->sim->lp = cpu;
	v.model_status = td->sim->seamcall(hw::seamcall_fn(Leaf::TDH_VP_ENTER), a);
	td->in_guest_model[r.tdvpr] = v.model_status == st::TDX_SUCCESS;
	stats_.seamcalls++;
	return v;
}

// The TD exit: TDH.VP.ENTER returns.  If the model entered, the status is
// the exit's reason and is not compared; if it refused, the kernel's
// status must be that refusal.
SeamcallVerdict TdxReplay::vcpu_exit(const VcpuRun& r, const Where& w, u32 cpu)
{
	SeamcallVerdict v;
	Td* td = td_by_tdvpr(r.tdvpr);
	if (!td || !td->sim) {
		v.not_replayed = "no TD of the trace has this TDVPR";
		return v;
	}
	v.replayed = true;
	v.tdr = td->tdr;
	if (td->in_guest_model[r.tdvpr]) {
		td->in_guest_model[r.tdvpr] = false;
		const u64 tdvpr = td->sim_pa(r.tdvpr, w, "tdvpr");
		for (std::size_t i = 0; i < td->sim->num_vcpus(); i++)
			if (td->sim->vcpu(i).tdvpr_pa == tdvpr && td->sim->vcpu(i).in_guest)
				td->sim->td_exit(i);
		return v;
	}
	// The model refused the entry: its status now (a refused entry
	// changes nothing; SimModule::status_with commits nothing either).
	hw::TdxModuleArgs a{};
	a.rcx = td->sim_pa(r.tdvpr, w, "tdvpr");
	td->sim->lp = cpu;
	v.model_status = td->sim->status_with(hw::seamcall_fn(Leaf::TDH_VP_ENTER), a, spec::no_fault);
	if (v.model_status == st::TDX_SUCCESS) {
		// The state changed since the entry (e.g. TRACK finished): what
		// counts is the model's answer at the entry, which refused.
		return v;
	}
	if (v.model_status == r.status || tdx_abi::tdx_operand_busy(r.status) || tdx_abi::tdx_operand_busy(v.model_status))
		return v;
	const TdxCheck* sc = status_check(v.model_status);
	v.kind = sc ? sc->kind : "sept.status-mismatch";
	v.check = sc ? std::string(sc->check) : "TDH.VP.ENTER's checks (td_state_check, tlb_vp_enter)";
	// A TD exit's vp_enter_ret is TDX_SUCCESS with the exit reason in
	// bits 31:0, not an operand: say so rather than "TDX_SUCCESS|RCX".
	const std::string traced = status_class(r.status) == st::TDX_SUCCESS
					   ? "a TD exit (exit reason " + std::to_string(r.status & 0xffffffffu) + ")"
					   : status_text(r.status);
	v.message = "TDH.VP.ENTER returned " + traced + " in the trace, but the model refused the entry with " +
		    status_text(v.model_status);
	return v;
}

// The mirror root's TD if the checker knows it (tdr), else the one TD
// whose HKID is live.
std::optional<SeptSlot> TdxReplay::sept_of_live_td(u64 gfn, unsigned level, u64 pfn, u64 tdr) const
{
	auto keys_live = [](const Td& td) {
		return td.live() && td.sim->td().lifecycle == static_cast<u64>(spec::Lifecycle::TD_KEYS_CONFIGURED);
	};
	const Td* live = nullptr;
	if (tdr) {
		const auto it = tds_.find(tdr);
		if (it == tds_.end() || !keys_live(*it->second))
			return std::nullopt;
		live = it->second.get();
	} else {
		for (const auto& [t, td] : tds_) {
			if (!keys_live(*td))
				continue;
			if (live)
				return std::nullopt;
			live = td.get();
		}
	}
	if (!live)
		return std::nullopt;
	SeptSlot s;
	if (const auto e = live->sim->sept_entry(gfn << spec::PAGE_SHIFT, level - 1)) {
		s.reached = true;
		s.state = e->state;
		s.hpa = e->hpa;
	}
	s.sim_page = pfn == NO_PFN ? NO_PFN : live->known_sim_pa(pfn << spec::PAGE_SHIFT);
	return s;
}

} // namespace arborist::conform
