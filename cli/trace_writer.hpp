// SPDX-License-Identifier: GPL-2.0-only
//
// `arborist run SCENARIO --trace FILE`: the trace a kernel running the
// scenario would leave, in the line format of docs/trace-format.md (the
// kvmmmu tracepoints of Linux v6.19 plus the TDX events that
// tools/arborist-tdx.bt prints), so that `arborist conform` can replay it.
//
// The sources are the executable reference's own records, merged in the
// order of a shared clock (impl::EventLog::clock, SimModule::trace_clock):
// the TDP MMU's event log, the TDX glue's log (external-hook entry and
// return) and the simulated module's SEAMCALL trace (with TD exits).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "arborist/hw/sim_module.hpp"
#include "arborist/impl/events.hpp"

namespace arborist::cli {

// The TD as built before the run (the module forgets it once the TDR is
// reclaimed): its construction SEAMCALLs open the trace.
struct TdBuild {
	tdx_abi::u64 tdr = 0;
	tdx_abi::u64 hkid = 0;
	std::vector<tdx_abi::u64> tdcs, tdvpr;
	unsigned phys_bits = 46;
};

// Records the TD that `m` holds now.
TdBuild td_build_of(const hw::SimModule& m);

struct TraceInput {
	std::optional<TdBuild> build;           // TDX VMs only
	const impl::EventLog* mmu = nullptr;
	const impl::EventLog* tdx = nullptr;     // TDX VMs only
	const hw::SimModule* module = nullptr;   // TDX VMs only
	spec::TdGeometry geometry = spec::td_pwl4;
	unsigned nr_vcpus = 1;
	std::string source; // the scenario file, for the header
};

// Writes the trace; returns the number of event lines.
std::size_t write_trace(std::ostream& out, const TraceInput& in);

} // namespace arborist::cli
