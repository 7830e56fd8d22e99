// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: execute a scenario file (docs/scenarios.md) on the
// executable reference -- a TDX VM over the simulated TDX module, or a
// plain EPT/NPT VM -- and print the operations, the SEAMCALLs they issued,
// and the final page-table, S-EPT and page-ownership state.
#pragma once

#include <iosfwd>
#include <string>

namespace arborist::support {
class ByteSource;
}

namespace arborist::cli {

struct RunOptions {
	std::string dot_path; // --dot FILE: the final trees as Graphviz; empty = none
	bool refine = false;  // --refine: refinement checks after every operation
	bool quiet = false;   // --quiet: print failures and the result line only
	std::string trace_path; // --trace FILE: the run's kernel trace (docs/trace-format.md); empty = none
	// Library use (tests, the fuzz target): the trace goes to this stream
	// instead of a file; trace_path is then ignored.
	std::ostream* trace_stream = nullptr;
};

// Exit status: 0 every expectation held, no unexpected KVM bug, no
// refinement violation; 1 otherwise; 2 the file is unreadable or malformed
// (a "FILE:LINE: field 'KEY': what" message on err, nothing executed).
int run_scenario(const std::string& path, const RunOptions& options, std::ostream& out, std::ostream& err);
// The same for a scenario from any source (its name() names it in messages).
int run_scenario(support::ByteSource& src, const RunOptions& options, std::ostream& out, std::ostream& err);

} // namespace arborist::cli
