// SPDX-License-Identifier: GPL-2.0-only
//
// The conformance checker as a library: one call replays one trace and
// hands every line, the profile and every violation to an observer as the
// replay goes.  `arborist conform` prints what it observes; `arborist
// capture` attributes it to the workload's phases, in the same pass.
//
// A trace may come in several inputs: the tracefs (or trace-cmd) text of
// the kvmmmu events and the output of tools/arborist-tdx.bt on a TDX host.
// They are merged by timestamp here (docs/trace-format.md "Producing it"):
// a k-way merge that never reorders the lines of one input, and takes the
// input named first on equal timestamps.  Lines keep their own file and
// line number in every report; the merge remembers where each run of lines
// of one input starts (memory grows with the number of switches between
// inputs, not with their length).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "checker.hpp"
#include "ftrace.hpp"
#include "profile.hpp"

namespace arborist::conform {

struct TraceInput {
	std::string name; // for messages: the file name, or "-" for stdin
	std::unique_ptr<ByteSource> source;
};

// A file, or "-" for stdin (support::FileSource).  Throws support::InputError
// naming the file and errno's reason when it cannot be opened or is a
// directory.
TraceInput open_input(const std::string& file);

struct CheckOptions {
	const Profile* profile = nullptr; // nullptr: inferred (infer.hpp)
	bool partial = false;             // the trace may start after the VM did
	u64 window_us = DEFAULT_WINDOW_US;
	u64 window_lines = DEFAULT_WINDOW_LINES;
};

class CheckObserver {
public:
	virtual ~CheckObserver() = default;
	// The profile, once decided, with the evidence or "--profile".
	virtual void profile(const Profile&, const std::string& /*how*/) {}
	// Every line, in the merged order it is read (before the replay of it).
	virtual void line(const TraceLine&, const Where&) {}
	// Every violation, with its file and line.
	virtual void violation(const Violation&) {}
};

struct CheckOutcome {
	const Profile* profile = nullptr;
	std::string how;
	bool ambiguous = false; // the inference could not separate the candidates
	Stats stats;
};

// Replays one trace made of `inputs` (merged by timestamp when there are
// several).  Throws ParseError ("FILE:LINE: field 'F': ...") for a line that
// is not well-formed, std::runtime_error for input that cannot be read.
CheckOutcome check_trace(std::vector<TraceInput>& inputs, const CheckOptions& options, CheckObserver& observer);

} // namespace arborist::conform
