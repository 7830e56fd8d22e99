// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer target for the conformance checker: the input is ftrace text;
// it is read as `arborist conform` reads a file (LineReader,
// parse_trace_line) and replayed by the Checker under each profile
// (linux-6.1-npt, linux-6.19-tdx, whose TDX events run the simulated TDX
// module).  A malformed line must end in ParseError, nothing else: any
// other exception, crash, hang or sanitizer report is a finding.
// Built with clang -fsanitize=fuzzer,address,undefined by
// conform/fuzz/CMakeLists.txt (CTest conform.fuzz, docs/conformance.md).
#include <cstddef>
#include <cstdint>
#include <string>

#include "conform/checker.hpp"
#include "conform/ftrace.hpp"
#include "conform/profile.hpp"

using namespace arborist::conform;

namespace {

void replay(const std::string& text, const Profile& p)
{
	std::string report;
	Checker checker(p, false, [&report](Violation&& v) {
		// Build what the text report prints, so its code runs too.
		report.assign(v.kind);
		report += std::to_string(v.line) + v.event + v.message + v.slot + std::string(v.rule) + std::string(v.source);
		for (const HistoryEntry& h : v.history)
			report += std::to_string(h.line) + h.origin + h.event;
	});
	StringSource src(text);
	LineReader reader(src, 256); // small chunks: the refill paths too
	Where w{"fuzz", 0};
	try {
		while (const std::optional<std::string_view> line = reader.next()) {
			w.line = reader.line_number();
			checker.feed(parse_trace_line(*line, w), w);
		}
		checker.finish();
	} catch (const ParseError&) {
		// bad input: the error the CLI turns into exit status 2
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size > (std::size_t{1} << 16))
		return -1; // beyond what is useful to mutate
	const std::string text(reinterpret_cast<const char*>(data), size);
	replay(text, linux_6_1_npt);
	replay(text, linux_6_19_tdx);
	return 0;
}
