// SPDX-License-Identifier: GPL-2.0-only
//
// The conformance checker: replays a kernel trace of the TDP MMU against
// the spec (docs/conformance.md).
//
// It reconstructs the page-table trees from the trace: a table is created
// when a traced change links it (its PFN is the one the new non-leaf SPTE
// points to), a root when kvm_mmu_get_page announces a new root, and every
// kvm_tdp_mmu_spte_changed is attributed to one entry of one table.  The
// tracepoint does not name the root or the table, so the entry is chosen
// among the live tables that cover (as id, level, gfn) by the value it holds
// (see "Attribution" in checker.cpp and docs/conformance.md).  What the trace
// leaves out is derived with the spec's rules: split children
// (spec::make_small_spte), the untraced write after a freeze
// (spec::nonpresent_spte), fast-path fixes (spec::fast_pf_fix_spte),
// hardware A/D updates (derive.hpp).
//
// Memory is bounded by the live page tables: a table is dropped when its
// teardown ends, an empty root is only counted, and the history of a slot
// is a fixed-size ring of the most recent events.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ftrace.hpp"
#include "profile.hpp"

namespace arborist::conform {

// One earlier event on the slot of a violation (oldest first).
struct HistoryEntry {
	std::string file; // set by check_trace() (conform/check.hpp)
	u64 line = 0;
	std::string origin; // "traced" or the derivation that produced it
	std::string event;
};

struct Violation {
	std::string_view kind;
	std::string file; // set by check_trace() (conform/check.hpp)
	u64 line = 0;
	std::string event;   // the offending trace line
	std::string message; // what is wrong, with the values
	std::string_view rule, source;
	std::string slot;    // the page-table entry it concerns, if any
	std::vector<HistoryEntry> history;
};

struct ViolationKind {
	std::string_view kind, rule, source;
};

// Every kind the checker reports, with its rule and the rule's source.
const std::vector<ViolationKind>& violation_kinds();
const ViolationKind& violation_kind(std::string_view kind);

struct Stats {
	u64 lines = 0;
	u64 events = 0;
	u64 by_event[NUM_EVENT_IDS] = {};
	std::map<std::string, u64, std::less<>> other_events; // by name; filled by Checker::finish()
	// derivations (docs/conformance.md "What the trace leaves out")
	u64 split_children = 0;
	u64 unfrozen = 0;
	u64 fast_fixes = 0;
	u64 hardware_ad = 0;
	u64 mmio_installs = 0;
	// trees
	u64 roots_created = 0;
	u64 tables_linked = 0;
	u64 tables_torn_down = 0;
	u64 max_live_tables = 0;
	// completeness
	u64 unattributed = 0; // events no table holds, in a partial trace
	u64 gaps = 0;         // loss markers ("LOST EVENTS", "buffer started")
	bool partial = false;
	std::string partial_reason;
	u64 violations = 0;
	// announced operations (docs/conformance.md "Bugs of omission")
	u64 announcements = 0;      // arborist-op lines
	u64 omission_checks = 0;    // effects verified
	u64 omission_unchecked = 0; // with a check owed, in a partial trace or after a loss marker
	// TDX (linux-6.19-tdx)
	u64 seamcalls_replayed = 0, seamcalls_not_replayed = 0, tds = 0;
	u64 mirror_checks = 0, mirror_checks_failed = 0;
	// linearization (docs/conformance.md "Traces from many CPUs")
	u64 reordered = 0;         // events applied after a later event of another CPU
	u64 max_reorder_lines = 0; // the farthest such an event waited, in lines ...
	double max_reorder_us = 0; // ... and in trace time (clocks with a decimal point)
	u64 forced = 0;            // held events no order of the window explains
	u64 reattributed = 0;      // ambiguous zaps moved to the root their CPU's walk was in
	unsigned root_level = 0;   // the roots' level: the profile's, a TD's EPTP.PWL, or 5 on a 5-level host
};

// How far an event of one CPU may wait for the events of other CPUs that
// explain it, in trace time (for clocks that print seconds) and in lines
// (docs/conformance.md "Traces from many CPUs").
inline constexpr u64 DEFAULT_WINDOW_US = 50000;
inline constexpr u64 DEFAULT_WINDOW_LINES = u64{1} << 16;

class Checker {
public:
	using Sink = std::function<void(Violation&&)>;

	// partial: the trace may start in the middle of a VM's life; events on
	// tables it never saw created are counted, not reported.
	Checker(const Profile& profile, bool partial, Sink sink);
	~Checker();
	Checker(const Checker&) = delete;
	Checker& operator=(const Checker&) = delete;

	// One line, already split by parse_trace_line(); throws ParseError for
	// a payload that does not parse.
	void feed(const TraceLine& line, const Where& where);
	// End of the trace: finish teardowns in progress, settle pending checks.
	void finish();
	// The linearization window, in lines and in microseconds of trace time.
	void set_window(u64 lines, u64 us = DEFAULT_WINDOW_US);

	const Stats& stats() const;
	const Profile& profile() const;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace arborist::conform
