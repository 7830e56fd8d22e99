// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer target for the conformance checker: the input is ftrace text;
// it is read as `arborist conform` reads a file (LineReader,
// parse_trace_line) and replayed by the Checker under each profile
// (linux-6.1-npt, linux-6.19-tdx, whose TDX events run the simulated TDX
// module), then once more through check_trace() as the command runs it:
// profile inference, the linearization with a short window, and the merge
// of the input's two halves as two inputs.  A malformed line must end in ParseError, nothing else: any
// other exception, crash, hang or sanitizer report is a finding.
// Built with clang -fsanitize=fuzzer,address,undefined by
// tests/fuzz/CMakeLists.txt (CTest conform.fuzz, docs/conformance.md).
#include <cstddef>
#include <cstdint>
#include <string>

#include "conform/check.hpp"
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
	LineReader reader = trace_reader(src, 256); // small chunks: the refill paths too
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

// check_trace(): inference, then the replay; the text split in two halves
// at a line boundary is also merged as two inputs.
void check(const std::string& text)
{
	struct Sink final : CheckObserver {
		std::size_t n = 0;
		void violation(const Violation& v) override { n += v.file.size() + v.message.size(); }
	} sink;
	CheckOptions o;
	o.window_us = 5; // short: the forcing paths run too
	o.window_lines = 64;
	try {
		std::vector<TraceInput> one;
		one.push_back(TraceInput{"fuzz", std::make_unique<StringSource>(text)});
		check_trace(one, o, sink);
	} catch (const ParseError&) {
	}
	const std::size_t cut = text.find('\n', text.size() / 2);
	if (cut == std::string::npos)
		return;
	try {
		std::vector<TraceInput> two;
		two.push_back(TraceInput{"a", std::make_unique<StringSource>(text.substr(0, cut + 1))});
		two.push_back(TraceInput{"b", std::make_unique<StringSource>(text.substr(cut + 1))});
		check_trace(two, o, sink);
	} catch (const ParseError&) {
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
	check(text);
	return 0;
}
