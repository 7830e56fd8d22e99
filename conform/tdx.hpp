// SPDX-License-Identifier: GPL-2.0-only
//
// The TDX half of the replay (profile linux-6.19-tdx): every traced
// SEAMCALL is run on a simulated TDX module (hw::SimModule, which executes
// the S-EPT leaves of spec/arborist/sept.hpp) and its status is compared
// with the one the kernel saw.  docs/conformance.md "TDX traces".
//
// One simulated module per TD, keyed by the TDR page: a TD is built from
// its traced construction SEAMCALLs (TDH.MNG.CREATE, KEY.CONFIG, ADDCX,
// MNG.INIT, VP.CREATE, VP.ADDCX), whose rules the spec does not have, with
// the module's construction helpers; every other call runs through
// SimModule::seamcall().  Host physical addresses are mapped into the
// simulated module's TDMR 2 MiB region by 2 MiB region as the trace names
// them (a region keeps its offsets, so 2M pages stay aligned).
//
// When the model's status differs from the traced one, the spec check the
// trace contradicts is found by evaluating the call with each named check
// of the spec skipped (spec/arborist/fault.hpp, SimModule::status_with:
// the checks on the extracted view, nothing committed): the one that
// reproduces the traced status names the violation, and the call is run
// with it, so the module continues in the state the real module is in.
//
// Which register names a call's TD and which hold host addresses is
// hw::leaf_operands() (hw/arborist/hw/seamcall.hpp).  TDH.PHYMEM.CACHE.WB
// acts on every TD of the package.  A vCPU is associated with the logical
// CPU of its TDH.VP.INIT / TDH.VP.ENTER (SimModule::lp, the CPU column of the
// traced line).  A loss of events drops every TD's state (lost_events()).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "arborist/hw/sim_module.hpp"
#include "ftrace.hpp"

namespace arborist::conform {

inline constexpr u64 ANY_OPERAND = ~u64{0};
inline constexpr u64 NO_STATUS = ~u64{0};

// The named checks of spec/arborist/sept.hpp that a traced call can
// contradict, each once: the violation kind it reports (conform/violations.cpp,
// docs/conformance.md), the status the spec returns when the check fails
// (class and operand ID, or NO_STATUS for a check whose status other checks
// share), and the fault of spec/arborist/fault.hpp that skips it
// (no_fault: none does).  When the model refuses a call the trace shows
// succeeding, the faults are tried in this order; when both fail
// differently, the model's status names its check.
struct TdxCheck {
	std::string_view check;
	std::string_view kind;
	u64 status;
	u64 operand;
	spec::Fault fault;
};

std::span<const TdxCheck> tdx_checks();

// The outcome of replaying one SEAMCALL (or TD entry/exit).
struct SeamcallVerdict {
	bool replayed = false;
	std::string not_replayed; // why, if not
	u64 model_status = 0;     // the spec's status for the call as traced
	std::string_view kind;    // empty: conforms
	std::string message;
	std::string check;        // the spec check the trace contradicts, if found
	// A successful call that changed the S-EPT (for the mirror checks).
	bool sept_changed = false;
	u64 gpa = 0;
	unsigned tdx_level = 0;
	// The TDR (host address) of the TD the call acts on, 0 for none (a
	// package-wide call); for a call on a TD whose state is unknown, the
	// TDR it names.  The checker ties a mirror root to its TD with it.
	u64 tdr = 0;
};

// An S-EPT entry as the mirror check needs it.
struct SeptSlot {
	bool reached = false;
	spec::SeptState state = spec::SeptState::FREE;
	u64 hpa = 0;       // in the simulated module's address space
	u64 sim_page = 0;  // the simulated address the mirror's PFN maps to (NO_PFN: never seen)
};

struct TdxStats {
	u64 seamcalls = 0;   // replayed against the model
	u64 not_replayed = 0; // contention (BUSY), reads, calls before any TD
	u64 tds = 0;
	u64 regions = 0;     // 2 MiB host regions mapped into simulated TDMRs
};

class TdxReplay {
public:
	TdxReplay();
	~TdxReplay();
	TdxReplay(const TdxReplay&) = delete;
	TdxReplay& operator=(const TdxReplay&) = delete;

	// `cpu`: the logical CPU the traced line ran on (its "[CPU]" column),
	// which the vCPU calls are associated with.
	void td_params(const TdParams& p, const Where& w);
	SeamcallVerdict seamcall(const Seamcall& c, const Where& w, u32 cpu = 0);
	SeamcallVerdict vcpu_enter(const VcpuRun& v, const Where& w, u32 cpu = 0);
	SeamcallVerdict vcpu_exit(const VcpuRun& v, const Where& w, u32 cpu = 0);

	// A loss marker (docs/conformance.md "Input"): the lost calls changed
	// the modules in ways the trace does not show, so every TD's state is
	// dropped; calls on those TDs, their vCPUs and pages are not replayed
	// after it, and a TD built after it is replayed from its construction.
	void lost_events(const Where& w);

	// The S-EPT entry of (gfn, KVM level) in the TD of TDR `tdr` if its HKID
	// is live (TD_KEYS_CONFIGURED), or with tdr 0 in the one TD whose HKID is
	// live, with the mirror PFN `pfn` mapped into its address space; nullopt
	// when there is no such TD (the mirror checks need to know which TD a
	// mirror root belongs to).
	std::optional<SeptSlot> sept_of_live_td(u64 gfn, unsigned level, u64 pfn, u64 tdr = 0) const;

	const TdxStats& stats() const { return stats_; }

private:
	struct Td;
	Td* td_by_tdr(u64 pa);
	Td* td_by_tdvpr(u64 pa);
	Td* td_by_page(u64 pa);
	Td* newest_td();
	Td* td_of(const Seamcall& c);
	std::string unknown_td() const;
	SeamcallVerdict construct(const Seamcall& c, u32 cpu, const Where& w);
	SeamcallVerdict run(Td& td, const Seamcall& c, u32 cpu, const Where& w);
	SeamcallVerdict cache_wb(const Seamcall& c, u32 cpu);
	void drop_td(Td& td);

	std::map<u64, std::unique_ptr<Td>> tds_; // by TDR page (host address)
	std::map<u64, TdParams> params_;          // tdx_td_params waiting for MNG.INIT
	u64 next_serial_ = 0;
	u64 lost_at_ = 0; // the line of the last loss of events, 0 if none
	TdxStats stats_;
};

} // namespace arborist::conform
