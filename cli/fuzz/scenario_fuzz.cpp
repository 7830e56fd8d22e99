// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer target for `arborist run`: the input is a scenario file
// (docs/scenarios.md).  It is parsed and run as the command runs it, with
// --refine (the refinement checks after every operation) and --trace (the
// run's kernel trace, in memory), and the trace is replayed by
// check_trace() as `arborist conform` replays it.  A malformed scenario
// must end in exit status 2 with a message; anything else -- a crash, an
// exception escaping, a hang, a leak, an ASan or UBSan report -- is a
// finding.
//
// With ARBORIST_FUZZ_AGREE=1 in the environment, a run that exits 0 whose
// trace does not conform is a finding too (the property of
// tests/scenario_property_test.cpp); docs/scenarios.md lists the one
// known disagreement, so CI runs without it.
//
// Built with clang -fsanitize=fuzzer,address,undefined by
// tests/fuzz/CMakeLists.txt (CTest run.fuzz).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "arborist/support/line_reader.hpp"
#include "cli/scenario.hpp"
#include "conform/check.hpp"

namespace {

struct Count final : arborist::conform::CheckObserver {
	std::size_t violations = 0;
	void violation(const arborist::conform::Violation&) override { violations++; }
};

bool agree_required()
{
	static const bool on = [] {
		const char* v = std::getenv("ARBORIST_FUZZ_AGREE");
		return v && *v == '1';
	}();
	return on;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	using namespace arborist;
	std::ostringstream out, err, trace;
	cli::RunOptions o;
	o.refine = true;
	o.quiet = true;
	o.trace_stream = &trace;
	support::StringSource src(std::string(reinterpret_cast<const char*>(data), size), "fuzz.scn");
	const int status = cli::run_scenario(src, o, out, err);
	if (status == 2 && err.str().empty())
		__builtin_trap(); // refused without saying why
	if (status == 2 || trace.str().empty())
		return 0;
	Count c;
	std::vector<conform::TraceInput> in;
	in.push_back(conform::TraceInput{"fuzz.trace", std::make_unique<conform::StringSource>(trace.str())});
	try {
		conform::check_trace(in, conform::CheckOptions{}, c);
	} catch (const std::exception&) {
		__builtin_trap(); // run wrote a trace conform cannot read
	}
	if (status == 0 && c.violations && agree_required())
		__builtin_trap();
	return 0;
}
