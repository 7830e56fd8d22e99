// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-conform-bench [--lines N] [--trace FILE]
//
// Throughput of the conformance checker on one core: the real trace's
// workload replayed with shifted addresses (replay.hpp) to at least N lines
// (default 10,000,000), generated on the fly and streamed through the line
// parser and the checker exactly as "arborist conform" reads a file.  Prints
// the lines and events per second of the whole pipeline, the same figures
// with the generator's own time (measured in a separate pass) taken out, the
// violations (a consistent trace has none) and the peak RSS.  Rates are per
// second of CPU time of this (single-threaded) process, so that other load
// on the machine does not skew them; the wall-clock time is printed too.
#include <sys/resource.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "checker.hpp"
#include "ftrace.hpp"
#include "infer.hpp"
#include "replay.hpp"

namespace {

using namespace arborist::conform;
using Clock = std::chrono::steady_clock;

// CPU time of this process, in seconds.
double cpu_seconds()
{
	timespec ts{};
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Args {
	u64 lines = 10'000'000;
	std::string trace = ARBORIST_TEST_DATA "/linux-6.1-npt/trace.txt";
};

[[noreturn]] void usage(const std::string& msg)
{
	std::cerr << "arborist-conform-bench: " << msg << "\nusage: arborist-conform-bench [--lines N] [--trace FILE]\n";
	std::exit(2);
}

Args parse_args(int argc, char** argv)
{
	Args a;
	for (int i = 1; i < argc; i++) {
		const std::string opt = argv[i];
		if (i + 1 >= argc)
			usage("option " + opt + " needs a value");
		const std::string v = argv[++i];
		if (opt == "--lines") {
			char* end = nullptr;
			a.lines = std::strtoull(v.c_str(), &end, 10);
			if (v.empty() || *end || a.lines == 0)
				usage("option --lines: expected a positive whole number, got '" + v + "'");
		} else if (opt == "--trace") {
			a.trace = v;
		} else {
			usage("unknown option '" + opt + "'");
		}
	}
	return a;
}

double seconds_since(Clock::time_point t0)
{
	return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Timer {
	Clock::time_point wall = Clock::now();
	double cpu = cpu_seconds();
	double cpu_elapsed() const { return cpu_seconds() - cpu; }
	double wall_elapsed() const { return seconds_since(wall); }
};

// The generator alone: its bytes read and dropped.
double generation_seconds(const std::string& text, u64 lines)
{
	ShiftedReplay gen(text, lines);
	std::vector<char> buf(std::size_t{1} << 20);
	const Timer t;
	while (gen.read(buf.data(), buf.size()) != 0) {
	}
	return t.cpu_elapsed();
}

long peak_rss_kib()
{
	rusage ru{};
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

} // namespace

int main(int argc, char** argv)
{
	const Args args = parse_args(argc, argv);
	std::ifstream in(args.trace, std::ios::binary);
	if (!in)
		usage("cannot read " + args.trace);
	std::stringstream ss;
	ss << in.rdbuf();
	const std::string text = ss.str();

	const double gen_s = generation_seconds(text, args.lines);
	ShiftedReplay gen(text, args.lines);
	// The template's profile, inferred as arborist conform does.
	ProfileInference inference;
	{
		StringSource src(text);
		LineReader r = trace_reader(src);
		Where iw{args.trace, 0};
		while (const std::optional<std::string_view> l = r.next()) {
			iw.line = r.line_number();
			if (inference.observe(parse_trace_line(*l, iw), iw))
				break;
		}
		inference.settle("at the end of the template");
	}
	std::cout << "profile " << inference.profile().name << "\n";
	u64 violations = 0;
	Checker checker(inference.profile(), false, [&](Violation&& v) {
		if (violations++ < 5)
			std::cerr << "line " << v.line << ": " << v.kind << ": " << v.message << "\n";
	});
	LineReader reader = trace_reader(gen);
	Where w{"<replay>", 0};
	const Timer t;
	while (const std::optional<std::string_view> line = reader.next()) {
		w.line = reader.line_number();
		checker.feed(parse_trace_line(*line, w), w);
	}
	checker.finish();
	const double total_s = t.cpu_elapsed(), wall_s = t.wall_elapsed();

	const Stats& s = checker.stats();
	const double check_s = total_s > gen_s ? total_s - gen_s : total_s;
	const u64 mmu = s.by_event[static_cast<std::size_t>(EventId::tdp_mmu_spte_changed)];
	std::printf("replay: %llu repetitions of %s, %llu lines, %llu events (%llu kvm_tdp_mmu_spte_changed)\n",
		    static_cast<unsigned long long>(gen.repetitions()), args.trace.c_str(),
		    static_cast<unsigned long long>(s.lines), static_cast<unsigned long long>(s.events),
		    static_cast<unsigned long long>(mmu));
	std::printf("pipeline (generate + parse + check): %.3f s CPU (%.3f s wall), %.2f M events/s, "
		    "%.2f M spte changes/s\n",
		    total_s, wall_s, static_cast<double>(s.events) / total_s / 1e6, static_cast<double>(mmu) / total_s / 1e6);
	std::printf("generator alone: %.3f s CPU; parse + check: %.3f s CPU, %.2f M events/s, %.2f M spte changes/s\n",
		    gen_s, check_s, static_cast<double>(s.events) / check_s / 1e6, static_cast<double>(mmu) / check_s / 1e6);
	std::printf("derived: %llu split children, %llu untraced writes after a freeze, %llu fast-path fixes; "
		    "%llu roots, at most %llu live tables\n",
		    static_cast<unsigned long long>(s.split_children), static_cast<unsigned long long>(s.unfrozen),
		    static_cast<unsigned long long>(s.fast_fixes), static_cast<unsigned long long>(s.roots_created),
		    static_cast<unsigned long long>(s.max_live_tables));
	std::printf("%llu violations; peak RSS %ld KiB\n", static_cast<unsigned long long>(violations), peak_rss_kib());
	return violations ? 1 : 0;
}
