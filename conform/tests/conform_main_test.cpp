// SPDX-License-Identifier: GPL-2.0-only
//
// "arborist conform" as a user runs it: conform_main() on files and stdin,
// both trace layouts, the text and JSON reports, exit statuses, profile
// selection, and malformed lines.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "arborist/support/text.hpp"
#include "conform/check.hpp"
#include "conform/conform.hpp"
#include "trace_fixture.hpp"

namespace arborist::conform::test {
namespace {

struct CliRun {
	int status;
	std::string out, err;
};

CliRun run(const std::vector<std::string>& args)
{
	std::ostringstream out, err;
	const int status = conform_main(args, out, err);
	return {status, out.str(), err.str()};
}

// A temporary file holding `text`, removed with the object.
class TempTrace {
public:
	explicit TempTrace(const std::string& text)
	{
		char tmpl[] = "/tmp/arborist-conform-XXXXXX";
		const int fd = mkstemp(tmpl);
		EXPECT_GE(fd, 0);
		path_ = tmpl;
		EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
		close(fd);
	}
	~TempTrace() { unlink(path_.c_str()); }
	TempTrace(const TempTrace&) = delete;
	TempTrace& operator=(const TempTrace&) = delete;
	const std::string& path() const { return path_; }

private:
	std::string path_;
};

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

// The real trace as "trace-cmd report" prints it: a "cpus=" header, no
// '#' header, no flags column, event names padded to 20 columns.
std::string as_trace_cmd_report()
{
	std::string o = "version = 6\ncpus=2\n";
	const Where w{"real", 0};
	for (const std::string& l : real_lines()) {
		const TraceLine t = parse_trace_line(l, w);
		if (t.kind != LineKind::event)
			continue;
		char prefix[64];
		std::snprintf(prefix, sizeof(prefix), "%16.*s-%-5u [%03u] ", static_cast<int>(t.comm.size()), t.comm.data(),
			      t.pid, t.cpu);
		std::string name = std::string(t.event) + ":";
		name.resize(std::max<std::size_t>(name.size(), 21), ' ');
		o += std::string(prefix) + std::string(t.timestamp) + ": " + name + " " + std::string(t.payload) + "\n";
	}
	return o;
}

TEST(ConformMain, RealTraceHasNoViolation)
{
	const CliRun r = run({REAL_TRACE});
	EXPECT_EQ(r.status, 0) << r.out << r.err;
	EXPECT_TRUE(contains(r.out, REAL_TRACE + ": 0 violations")) << r.out;
	EXPECT_TRUE(contains(r.out, "profile linux-6.1-npt (inferred from line 20: old_spte 0 is the "
				    "SHADOW_NONPRESENT_VALUE of npt-v6.1, ept-v6.1; line 20: new_spte 2c53827 is a non-leaf "
				    "SPTE (spec::make_nonleaf_spte) of AMD NPT)"))
		<< r.out;
	EXPECT_TRUE(contains(r.out, "10090 kvm_tdp_mmu_spte_changed")) << r.out;
	EXPECT_TRUE(contains(r.out, "1536 split children")) << r.out;
	EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(ConformMain, RealTraceAsJson)
{
	const CliRun r = run({"--json", REAL_TRACE});
	EXPECT_EQ(r.status, 0) << r.err;
	EXPECT_TRUE(r.out.starts_with("{\"traces\":[{\"file\":")) << r.out;
	EXPECT_TRUE(contains(r.out, "\"profile\":\"linux-6.1-npt\"")) << r.out;
	EXPECT_TRUE(contains(r.out, "\"violations\":[]")) << r.out;
	EXPECT_TRUE(contains(r.out, "\"kvm_tdp_mmu_spte_changed\":10090")) << r.out;
	EXPECT_TRUE(contains(r.out, "\"split_children\":1536")) << r.out;
	EXPECT_TRUE(r.out.ends_with("],\"violations\":0,\"status\":0}\n")) << r.out;
}

TEST(ConformMain, TraceCmdReportLayout)
{
	const TempTrace t(as_trace_cmd_report());
	const CliRun r = run({t.path()});
	EXPECT_EQ(r.status, 0) << r.out << r.err;
	EXPECT_TRUE(contains(r.out, "10090 kvm_tdp_mmu_spte_changed")) << r.out;
	EXPECT_TRUE(contains(r.out, "280 fast-path fixes")) << r.out;
}

TEST(ConformMain, StdinIsDash)
{
	const TempTrace t(read_file(REAL_TRACE));
	const int saved = dup(STDIN_FILENO);
	const int fd = open(t.path().c_str(), O_RDONLY);
	ASSERT_GE(fd, 0);
	dup2(fd, STDIN_FILENO);
	close(fd);
	clearerr(stdin);
	const CliRun r = run({"-"});
	dup2(saved, STDIN_FILENO);
	close(saved);
	clearerr(stdin);
	EXPECT_EQ(r.status, 0) << r.out << r.err;
	EXPECT_TRUE(contains(r.out, "-: 21434 lines")) << r.out;
	EXPECT_TRUE(contains(r.out, "-: 0 violations")) << r.out;
}

std::vector<std::string> real_with_lost_update(std::size_t& line)
{
	std::vector<std::string> t = real_lines();
	line = find_line(t, "gfn 401 level 1 old_spte 7201e67 new_spte 7201e65");
	edit(t, line, "old_spte 7201e67", "old_spte 7201e66");
	return t;
}

TEST(ConformMain, ViolationReportNamesKindLineEventRuleSourceAndHistory)
{
	std::size_t n = 0;
	const TempTrace t(join(real_with_lost_update(n)));
	const CliRun r = run({t.path()});
	EXPECT_EQ(r.status, 1) << r.err;
	const std::string at = t.path() + ":" + std::to_string(n) + ": spte.lost-update: old_spte 7201e66, but the slot "
								   "held 7201e67";
	EXPECT_TRUE(contains(r.out, at)) << r.out;
	EXPECT_TRUE(contains(r.out, "    event:  tdpwork-111     [001] ...1.     5.599559: kvm_tdp_mmu_spte_changed: as "
				    "id 0 gfn 401 level 1 old_spte 7201e66 new_spte 7201e65"))
		<< r.out;
	EXPECT_TRUE(contains(r.out, "    slot:   level-1 table pfn 2c49 (gfn 400-5ff) in the root created at line 15 "
				    "(valid), index 1 (level 1, gfn 401) holding 7201e67"))
		<< r.out;
	EXPECT_TRUE(contains(r.out, "    rule:   old_spte is the value the write replaced")) << r.out;
	EXPECT_TRUE(contains(r.out, "    source: Linux 6.1 tdp_mmu.c")) << r.out;
	EXPECT_TRUE(contains(r.out, "    earlier events on this slot:\n      " + t.path() + ":7183: [derived: split child "
										   "(spec::make_small_spte)] child 1 of huge "
										   "SPTE 7200ee7 = 7201e67"))
		<< r.out;
	EXPECT_TRUE(contains(r.out, ": 1 violation\n")) << r.out;
}

TEST(ConformMain, ViolationAsJson)
{
	std::size_t n = 0;
	const TempTrace t(join(real_with_lost_update(n)));
	const CliRun r = run({"--json", t.path()});
	EXPECT_EQ(r.status, 1) << r.err;
	EXPECT_TRUE(contains(r.out, "{\"kind\":\"spte.lost-update\",\"file\":\"" + t.path() + "\",\"line\":" +
					    std::to_string(n) + ",\"event\":"))
		<< r.out;
	EXPECT_TRUE(contains(r.out, "\"history\":[{\"file\":\"" + t.path() + "\",\"line\":7183,\"origin\":\"derived: "
										 "split child"))
		<< r.out;
	EXPECT_TRUE(contains(r.out, "\"rule\":\"old_spte is the value")) << r.out;
	EXPECT_TRUE(r.out.ends_with("\"violations\":1,\"status\":1}\n")) << r.out;
}

// A trace whose line 3 is `bad`: the error names FILE:3 and the field.
void expect_malformed(const std::string& bad, std::string_view field)
{
	std::vector<std::string> t(real_lines().begin() + 12, real_lines().begin() + 14);
	t.push_back(bad);
	const TempTrace f(join(t));
	const CliRun r = run({f.path()});
	EXPECT_EQ(r.status, 2) << bad;
	EXPECT_TRUE(contains(r.err, "arborist conform: " + f.path() + ":3: field '" + std::string(field) + "': "))
		<< bad << "\n" << r.err;
}

TEST(ConformMain, MalformedLinesExitTwoNamingFileLineAndField)
{
	const std::string p = "         tdpwork-111     [001] ...1.     5.384758: ";
	expect_malformed("this is not ftrace", "cpu");
	expect_malformed("         tdpwork-111     [001] ...1.     5.3847x8: kvm_exit: x", "timestamp");
	expect_malformed(p + "kvm_tdp_mmu_spte_changed: as id 0 gfn 0x1g level 1 old_spte 0 new_spte 0", "gfn");
	expect_malformed(p + "kvm_tdp_mmu_spte_changed: as id 0 gfn 1 level 1 old_spte 0", "new_spte");
	expect_malformed(p + "kvm_mmu_get_page: sp gen 0 gfn 0 l4 8-byte q0 direct wuz nxe ad root 0 sync new", "access");
	expect_malformed(p + "fast_page_fault: vcpu 0 gva 0 error_code P sptep 0 old 0 new 0 spurious 0 fixed yes",
			 "fixed");
	expect_malformed(p + "kvm_mmu_set_spte: gfn 1 spte 2 (rwxu) level 1 at", "at");
	expect_malformed(p + "kvm_mmu_split_huge_page: gfn 400 spte 7200ee7 level 2", "errno");
	expect_malformed(p + "mark_mmio_spte: sptep:ffff gfn d0000 access 7", "gen");
	expect_malformed(p + "kvm_mmu_zap_all_fast: kvm-mmu-valid-gen x used_pages 0", "kvm-mmu-valid-gen");
	expect_malformed(p + "kvm_mmu_spte_requested: gfn 1 pfn 2 lvl 1", "level");
	expect_malformed(p + "kvm_mmu_prepare_zap_page: sp gen 0 gfn 0 l1 8-byte q0 direct wux nxe ad root 0 sync new",
			 "sync");
}

TEST(ConformMain, MalformedLineInJsonModeStillClosesTheDocument)
{
	const TempTrace f(join({real_lines()[12], "not ftrace"}));
	const CliRun r = run({"--json", f.path()});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(contains(r.out, "\"status\":2,\"error\":\"" + f.path() + ":2: field 'cpu': ")) << r.out;
}

TEST(ConformMain, UsageErrors)
{
	CliRun r = run({});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(contains(r.err, "no TRACE given")) << r.err;
	r = run({"--frobnicate", REAL_TRACE});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(contains(r.err, "unknown option '--frobnicate'")) << r.err;
	r = run({"--profile", "linux-2.6", REAL_TRACE});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(contains(r.err, "option --profile: expected one of linux-6.1-npt, linux-6.1-ept, linux-6.12-npt, linux-6.12-ept, "
				    "linux-6.19-npt, linux-6.19-ept, linux-6.19-tdx, got 'linux-2.6'"));
	r = run({"/nonexistent/trace.txt"});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(contains(r.err, "/nonexistent/trace.txt: cannot open")) << r.err;
	r = run({"--help"});
	EXPECT_EQ(r.status, 0);
	EXPECT_TRUE(contains(r.out, "usage: arborist conform")) << r.out;
}

TEST(ConformMain, ExplicitProfileWinsOverInference)
{
	const CliRun r = run({"--profile", "linux-6.19-tdx", REAL_TRACE});
	EXPECT_TRUE(contains(r.out, "profile linux-6.19-tdx (--profile)")) << r.out;
	EXPECT_EQ(r.status, 1); // the NPT trace read with EPT values is wrong everywhere
	const CliRun same = run({"--profile=linux-6.1-npt", REAL_TRACE});
	EXPECT_EQ(same.status, 0);
	EXPECT_TRUE(contains(same.out, "profile linux-6.1-npt (--profile)")) << same.out;
}

// EPT values name the EPT layout of v6.10 and later, never TDX: only a TDX
// event does that.
TEST(ConformMain, InfersEptWithoutTdxFromEptValues)
{
	const spec::SpteFlavor& f = spec::ept_v6_19;
	const u64 np = spec::nonpresent_spte(spec::concrete, f);
	TraceBuilder b;
	b.root();
	b.event("kvm_exit", "vcpu 0 reason EPT_VIOLATION rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0");
	b.change(0, 4, np, nonleaf(0x100, f));
	b.change(0, 3, np, nonleaf(0x101, f));
	const TempTrace t(b.text());
	const CliRun r = run({t.path()});
	EXPECT_EQ(r.status, 0) << r.out << r.err;
	EXPECT_TRUE(contains(r.out, "profile linux-6.12-ept (inferred from line 3: old_spte 8000000000000000 is the "
				    "SHADOW_NONPRESENT_VALUE of npt-v6.10, ept-v6.19; line 3: new_spte 8000000000100907 is a "
				    "non-leaf SPTE (spec::make_nonleaf_spte) of Intel EPT; linux-6.19-ept replays the same"))
		<< r.out;
}

TEST(ConformMain, EachTraceIsCheckedOnItsOwn)
{
	std::size_t n = 0;
	const TempTrace bad(join(real_with_lost_update(n)));
	const CliRun r = run({REAL_TRACE, bad.path()});
	EXPECT_EQ(r.status, 1);
	EXPECT_TRUE(contains(r.out, REAL_TRACE + ": 0 violations")) << r.out;
	EXPECT_TRUE(contains(r.out, bad.path() + ": 1 violation")) << r.out;
}

TEST(ConformMain, PartialOptionAndReport)
{
	std::vector<std::string> t(real_lines().begin() + 2000, real_lines().end());
	const TempTrace f(join(t));
	CliRun r = run({f.path()});
	EXPECT_EQ(r.status, 0) << r.out;
	EXPECT_TRUE(contains(r.out, "partial trace (line ")) << r.out;
	r = run({"--partial", REAL_TRACE});
	EXPECT_EQ(r.status, 0) << r.out;
	EXPECT_TRUE(contains(r.out, "partial trace (--partial): 0 changes")) << r.out;
}

} // namespace
} // namespace arborist::conform::test

namespace arborist::conform::test {
namespace {

// A TDX trace as a TDX host gives it: the kvmmmu events in the tracefs
// text, the TDX events of docs/trace-format.md in bpftrace's output.
struct SplitTdx {
	std::string kvmmmu, tdx;
	std::vector<u64> tdx_line; // line in the whole trace of each line of `tdx`
};

SplitTdx split_tdx(const std::string& whole)
{
	SplitTdx s;
	std::istringstream in(whole);
	u64 n = 0;
	for (std::string l; std::getline(in, l);) {
		n++;
		if (l.find(": tdx_") != std::string::npos) {
			s.tdx += l + "\n";
			s.tdx_line.push_back(n);
		} else {
			s.kvmmmu += l + "\n";
		}
	}
	return s;
}

const std::string TD_TEARDOWN = ARBORIST_TEST_DATA "/tdx/td-teardown.trace";

TEST(Merge, TheTwoInputsOfATdxHostReplayAsOne)
{
	const SplitTdx s = split_tdx(read_file(TD_TEARDOWN));
	ASSERT_FALSE(s.tdx.empty());
	const TempTrace a(s.kvmmmu), b(s.tdx);
	const CliRun whole = run({TD_TEARDOWN});
	ASSERT_EQ(whole.status, 0) << whole.out;
	for (const std::vector<std::string>& order :
	     {std::vector<std::string>{"--merge", a.path(), b.path()}, std::vector<std::string>{"--merge", b.path(), a.path()}}) {
		const CliRun r = run(order);
		EXPECT_EQ(r.status, 0) << r.out << r.err;
		EXPECT_TRUE(contains(r.out, "profile linux-6.19-tdx")) << r.out;
		EXPECT_TRUE(contains(r.out, ": 0 violations")) << r.out;
	}
	// Without --merge each file is a trace of its own, and the kvmmmu half
	// alone is not a TDX trace.
	const CliRun apart = run({a.path(), b.path()});
	EXPECT_FALSE(contains(apart.out, a.path() + ": profile linux-6.19-tdx")) << apart.out;
}

TEST(Merge, AViolationNamesItsOwnFileAndLine)
{
	SplitTdx s = split_tdx(read_file(TD_TEARDOWN));
	// A successful TDH.MEM.PAGE.REMOVE traced as TDX_OPERAND_BUSY: a status
	// the module would not return.
	std::vector<std::string> tdx;
	{
		std::istringstream in(s.tdx);
		for (std::string l; std::getline(in, l);)
			tdx.push_back(l);
	}
	const std::size_t n = find_line(tdx, "leaf TDH.MEM.PAGE.REMOVE");
	ASSERT_NE(n, 0u);
	edit(tdx, n, " status 0 ", " status 8000020000000000 ");
	const TempTrace a(s.kvmmmu), b(join(tdx));
	const CliRun r = run({"--merge", a.path(), b.path()});
	EXPECT_EQ(r.status, 1) << r.out << r.err;
	// Every violation and earlier event names the file it is in, with that
	// file's own line number (not its place in the merged order).
	std::size_t in_b = 0;
	std::istringstream out(r.out);
	for (std::string l; std::getline(out, l);) {
		for (const auto& [path, lines] : {std::pair{a.path(), s.kvmmmu}, std::pair{b.path(), join(tdx)}}) {
			const std::size_t at = l.find(path + ":");
			if (at == std::string::npos || l.compare(at + path.size() + 1, 1, "0") < 0 ||
			    !std::isdigit(static_cast<unsigned char>(l[at + path.size() + 1])))
				continue;
			const u64 line = std::stoull(l.substr(at + path.size() + 1));
			EXPECT_LE(line, static_cast<u64>(std::count(lines.begin(), lines.end(), '\n'))) << l;
			in_b += path == b.path() && line >= n;
		}
	}
	EXPECT_GT(in_b, 0u) << r.out;
}

TEST(Merge, TimestampsCompareAsNumbers)
{
	// "9.999999" sorts after "10.000001" as text (the first-colon sort of a
	// shell recipe); the merge compares them as times.
	const std::string a = "  x-1 [000] ..... 9.999999: tracing_mark_write: first\n";
	const std::string b = "  x-1 [000] ..... 10.000001: tracing_mark_write: second\n";
	struct Order final : CheckObserver {
		std::vector<std::string> seen;
		void line(const TraceLine& tl, const Where&) override { seen.emplace_back(tl.payload); }
	} order;
	std::vector<TraceInput> inputs;
	inputs.push_back(TraceInput{"b", std::make_unique<StringSource>(b)});
	inputs.push_back(TraceInput{"a", std::make_unique<StringSource>(a)});
	check_trace(inputs, CheckOptions{}, order);
	ASSERT_EQ(order.seen.size(), 2u);
	EXPECT_EQ(order.seen[0], "first");
	EXPECT_EQ(order.seen[1], "second");
}

TEST(Merge, ADirectoryIsNotATrace)
{
	const CliRun r = run({"/tmp"});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(contains(r.err, "/tmp: is a directory, not a file")) << r.err;
}

} // namespace
} // namespace arborist::conform::test

namespace arborist::conform::test {
namespace {

// The whole output is UTF-8 without control bytes but newlines: a JSON
// document a strict reader takes, and text a terminal shows as is.
bool clean_utf8(const std::string& s)
{
	for (std::size_t i = 0; i < s.size();) {
		const std::size_t n = support::utf8_sequence(s, i);
		if (n == 0 || (n == 1 && static_cast<unsigned char>(s[i]) < 0x20 && s[i] != '\n'))
			return false;
		i += n;
	}
	return true;
}

const std::string RELIABILITY = ARBORIST_TEST_DATA "/reliability/";

TEST(Reliability, JsonIsUtf8WhateverTheTraceHolds)
{
	for (const char* f : {"json-badutf8-error.trace", "json-badutf8-violation.trace"}) {
		const CliRun r = run({"--json", RELIABILITY + f});
		EXPECT_NE(r.status, 0) << f;
		EXPECT_TRUE(clean_utf8(r.out)) << f << ": " << r.out;
		EXPECT_TRUE(r.out.starts_with("{\"traces\":[") && r.out.ends_with("}\n")) << f << ": " << r.out;
		const CliRun text = run({RELIABILITY + f});
		EXPECT_TRUE(clean_utf8(text.out + text.err)) << f;
	}
}

TEST(Reliability, UsageErrorsUnderJsonAreJson)
{
	const CliRun r = run({"--json", "--profile", "linux-2.6", REAL_TRACE});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(r.out.starts_with("{\"traces\":[],\"violations\":0,\"status\":2,\"error\":\"arborist conform: option --profile"))
		<< r.out;
}

TEST(Reliability, ARepeatedOptionIsAUsageError)
{
	for (const char* o : {"--profile", "--window"}) {
		const std::string v = std::string(o) == "--profile" ? "linux-6.1-npt" : "100";
		const CliRun r = run({o, v, o, v, REAL_TRACE});
		EXPECT_EQ(r.status, 2) << o;
		EXPECT_TRUE(contains(r.err, std::string("option ") + o + " given twice")) << r.err;
	}
}

TEST(Reliability, AnOverlongLineNamesItsFile)
{
	const TempTrace t(std::string((std::size_t{64} << 20) + 10, 'a'));
	const CliRun r = run({t.path()});
	EXPECT_EQ(r.status, 2);
	EXPECT_TRUE(contains(r.err, t.path() + ":1: line longer than 64 MiB (the limit)")) << r.err;
}

} // namespace
} // namespace arborist::conform::test
