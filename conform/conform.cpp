// SPDX-License-Identifier: GPL-2.0-only
//
// The "arborist conform" command: options, reading each trace as a stream,
// profile inference, and the text and JSON reports (see conform.hpp).
#include "conform.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "arborist/support/json_writer.hpp"
#include "arborist/support/options.hpp"
#include "arborist/support/text.hpp"
#include "check.hpp"
#include "checker.hpp"
#include "ftrace.hpp"
#include "infer.hpp"
#include "profile.hpp"

namespace arborist::conform {

// `arborist conform`: its usage, options and exit status, printed by
// --help here and, through cli/commands.cpp, by `arborist help` and in the
// usage blocks of README.md and docs/conformance.md.
const support::CommandHelp conform_help = {
	.name = "conform",
	.summary = "check kernel ftrace traces against the reference",
	.usage = {"[--profile P] [--json] [--partial] [--merge] [--window US] TRACE..."},
	.description =
		"Replay ftrace text (as written by /sys/kernel/tracing/trace or by trace-cmd report; '-' reads stdin) "
		"against the spec of the TDP MMU and report every violation: its kind, FILE:LINE, the event, the rule "
		"with its source, and the earlier events on the same page-table entry.  Each TRACE is checked on its "
		"own (with --merge, all of them form one trace).",
	.options =
		{
			{"--profile P",
			 "the kernel that wrote the trace: linux-6.1-npt, linux-6.1-ept (6.1 to 6.9), linux-6.12-npt, "
			 "linux-6.12-ept (6.10 to 6.18), linux-6.19-npt, linux-6.19-ept, or linux-6.19-tdx (EPT with TDX: "
			 "SEAMCALLs replayed on a simulated TDX module, mirror roots checked against the S-EPT); default: "
			 "inferred from the trace, with the evidence printed: a TDX event (only then TDX), the non-present "
			 "and frozen values (0 / 5a0 before v6.10, bit 63 / bit 63|5a0 after), and where a non-leaf's or "
			 "writable leaf's bits sit (NPT or EPT)"},
			{"--json", "the report as one JSON document on stdout (usage errors included)"},
			{"--partial", "the trace may start after the VM did: changes to tables it never saw created are "
				      "counted, not reported"},
			{"--merge", "the TRACE files are the inputs of one trace (the tracefs text of the kvmmmu events and "
				    "the output of tools/arborist-tdx.bt), merged by timestamp; lines of one file keep their "
				    "order; on a tie, a TDX and an MMU line of one CPU go in the kernel's order, else the file "
				    "named first goes first"},
			{"--window US", "how far (microseconds) the clocks of two CPUs may disagree: an event of one CPU "
					"waits for the events of other CPUs that explain it until every other CPU has traced "
					"an event stamped more than US after it (default 50000; at most 65536 lines in any "
					"case; docs/conformance.md, \"Traces from many CPUs\")"},
			{"TRACE", "a file, or - for stdin; each is checked on its own.  It is read as every input of "
				  "arborist is (support::LineReader, support/README.md): a FIFO, pipe or character device "
				  "like a file, a directory refused (FILE: is a directory, not a file), errno in every read "
				  "error (FILE: cannot open: ..., FILE:LINE: read error: ...), and a line longer than 64 MiB "
				  "an error (FILE:LINE: line longer than 64 MiB (the limit)) after at most 64 MiB read"},
		},
	.exit_status = "0 no violation; 1 some violation; 2 usage error, unreadable file, or a malformed line "
		       "(\"FILE:LINE: field 'NAME': ...\").",
	.docs = "docs/conformance.md, docs/trace-format.md",
};

namespace {


struct Options {
	const Profile* profile = nullptr;
	bool json = false;
	bool partial = false;
	u64 window = DEFAULT_WINDOW_US;
	bool merge = false;
	std::vector<std::string> traces;
};

// Every string of the JSON report goes through the one writer
// (support/json_writer.hpp): escaped, and valid UTF-8 whatever bytes the
// trace or a file name held.
std::string json_str(std::string_view s) { return support::json_quote(s); }

// Text taken from the trace or the command line, made safe for a terminal.
std::string shown(std::string_view s) { return support::printable(s); }

// ---- reports -------------------------------------------------------------------

class Report {
public:
	explicit Report(std::ostream& out) : out_(out) {}
	virtual ~Report() = default;
	virtual void begin_trace(const std::string& file, const Profile& p, const std::string& how) = 0;
	virtual void violation(const std::string& file, const Violation& v) = 0;
	virtual void end_trace(const std::string& file, const Stats& s) = 0;
	virtual void error(const std::string& what) = 0;
	virtual void end(u64 violations, int status) = 0;

protected:
	std::ostream& out_;
};

std::string event_counts(const Stats& s)
{
	std::string o;
	for (std::size_t i = 0; i + 1 < NUM_EVENT_IDS; i++)
		if (s.by_event[i])
			o += (o.empty() ? "" : ", ") + std::to_string(s.by_event[i]) + " " +
			     std::string(event_name(static_cast<EventId>(i)));
	for (const auto& [name, n] : s.other_events)
		o += (o.empty() ? "" : ", ") + std::to_string(n) + " " + name +
		     (name == "tracing_mark_write" && s.announcements ? " (" + std::to_string(s.announcements) +
										 " announced operations)"
								       : " (ignored)");
	return o;
}

class TextReport final : public Report {
public:
	using Report::Report;

	void begin_trace(const std::string& file, const Profile& p, const std::string& how) override
	{
		out_ << shown(file) << ": profile " << p.name << " (" << shown(how) << ")\n";
	}

	void violation(const std::string& file, const Violation& v) override
	{
		out_ << shown(file) << ":" << v.line << ": " << v.kind << ": " << shown(v.message) << "\n";
		out_ << "    event:  " << shown(v.event) << "\n";
		if (!v.slot.empty())
			out_ << "    slot:   " << shown(v.slot) << "\n";
		out_ << "    rule:   " << v.rule << "\n";
		out_ << "    source: " << v.source << "\n";
		if (v.history.empty())
			return;
		out_ << "    earlier events on this slot:\n";
		for (const HistoryEntry& h : v.history)
			out_ << "      " << shown(h.file.empty() ? file : h.file) << ":" << h.line << ": [" << h.origin << "] "
			     << shown(h.event) << "\n";
	}

	void end_trace(const std::string& file, const Stats& s) override
	{
		out_ << file << ": " << s.lines << " lines, " << s.events << " events: " << event_counts(s) << "\n";
		out_ << file << ": derived " << s.split_children << " split children, " << s.unfrozen
		     << " untraced writes after a freeze, " << s.fast_fixes << " fast-path fixes, " << s.hardware_ad
		     << " hardware A/D updates, " << s.mmio_installs << " MMIO SPTEs; " << s.roots_created << " roots, "
		     << s.tables_linked << " tables linked, " << s.tables_torn_down << " torn down, at most "
		     << s.max_live_tables << " live\n";
		if (s.seamcalls_replayed || s.seamcalls_not_replayed || s.tds)
			out_ << file << ": TDX: " << s.tds << " TD(s), " << s.seamcalls_replayed
			     << " SEAMCALLs replayed on the simulated module, " << s.seamcalls_not_replayed
			     << " not replayed (contention, metadata reads, no TD yet), " << s.mirror_checks
			     << " mirror/S-EPT agreement checks\n";
		if (s.announcements)
			out_ << file << ": announced operations: " << s.announcements << ", effects checked "
			     << s.omission_checks << ", not checked " << s.omission_unchecked
			     << " (memslots or tables not all known)\n";
		if (s.reordered || s.forced)
			out_ << file << ": many CPUs: " << s.reordered
			     << " events applied after a later event of another CPU (farthest " << s.max_reorder_lines
			     << " lines, " << static_cast<u64>(s.max_reorder_us) << " us of trace time), " << s.forced
			     << " held events no order explains\n";
		if (s.root_level == 5)
			out_ << file << ": roots are level 5 (5-level paging)\n";
		if (s.reattributed)
			out_ << file << ": " << s.reattributed
			     << " zaps of a page two roots mapped alike moved to the root their CPU's walk was in\n";
		if (s.partial)
			out_ << file << ": partial trace (" << s.partial_reason << "): " << s.unattributed
			     << " changes to tables the trace never created were not checked\n";
		out_ << file << ": " << s.violations << (s.violations == 1 ? " violation\n" : " violations\n");
	}

	void error(const std::string&) override {}
	void end(u64, int) override {}
};

class JsonReport final : public Report {
public:
	explicit JsonReport(std::ostream& out) : Report(out) { out_ << "{\"traces\":["; }

	void begin_trace(const std::string& file, const Profile& p, const std::string& how) override
	{
		out_ << (traces_++ ? "," : "") << "{\"file\":" << json_str(file) << ",\"profile\":" << json_str(p.name)
		     << ",\"profile_source\":" << json_str(how) << ",\"violations\":[";
		in_trace_ = true;
		violations_ = 0;
	}

	void violation(const std::string& file, const Violation& v) override
	{
		out_ << (violations_++ ? "," : "") << "{\"kind\":" << json_str(v.kind) << ",\"file\":" << json_str(file)
		     << ",\"line\":" << v.line << ",\"event\":" << json_str(v.event) << ",\"message\":" << json_str(v.message)
		     << ",\"slot\":" << json_str(v.slot) << ",\"rule\":" << json_str(v.rule)
		     << ",\"source\":" << json_str(v.source) << ",\"history\":[";
		for (std::size_t i = 0; i < v.history.size(); i++)
			out_ << (i ? "," : "") << "{\"file\":" << json_str(v.history[i].file.empty() ? file : v.history[i].file)
			     << ",\"line\":" << v.history[i].line
			     << ",\"origin\":" << json_str(v.history[i].origin) << ",\"event\":" << json_str(v.history[i].event)
			     << "}";
		out_ << "]}";
	}

	void end_trace(const std::string&, const Stats& s) override
	{
		out_ << "],\"lines\":" << s.lines << ",\"events\":" << s.events << ",\"event_counts\":{";
		bool first = true;
		for (std::size_t i = 0; i + 1 < NUM_EVENT_IDS; i++) {
			out_ << (first ? "" : ",") << json_str(event_name(static_cast<EventId>(i))) << ":" << s.by_event[i];
			first = false;
		}
		for (const auto& [name, n] : s.other_events)
			out_ << "," << json_str(name) << ":" << n;
		out_ << "},\"derived\":{\"split_children\":" << s.split_children << ",\"unfrozen\":" << s.unfrozen
		     << ",\"fast_fixes\":" << s.fast_fixes << ",\"hardware_ad\":" << s.hardware_ad
		     << ",\"mmio_spte\":" << s.mmio_installs << "},\"roots_created\":" << s.roots_created
		     << ",\"tables_linked\":" << s.tables_linked << ",\"tables_torn_down\":" << s.tables_torn_down
		     << ",\"max_live_tables\":" << s.max_live_tables << ",\"partial\":" << (s.partial ? "true" : "false")
		     << ",\"partial_reason\":" << json_str(s.partial_reason) << ",\"unattributed\":" << s.unattributed
		     << ",\"gaps\":" << s.gaps << ",\"linearization\":{\"reordered\":" << s.reordered
		     << ",\"max_reorder_lines\":" << s.max_reorder_lines << ",\"max_reorder_us\":"
		     << static_cast<u64>(s.max_reorder_us) << ",\"forced\":" << s.forced << ",\"reattributed\":" << s.reattributed << "},\"root_level\":" << s.root_level << ",\"tdx\":{\"tds\":" << s.tds << ",\"seamcalls_replayed\":"
		     << s.seamcalls_replayed << ",\"seamcalls_not_replayed\":" << s.seamcalls_not_replayed
		     << ",\"mirror_checks\":" << s.mirror_checks << "},\"announced\":{\"operations\":" << s.announcements
		     << ",\"checked\":" << s.omission_checks << ",\"not_checked\":" << s.omission_unchecked
		     << "},\"violation_count\":" << s.violations << "}";
		in_trace_ = false;
	}

	void error(const std::string& what) override
	{
		if (in_trace_)
			out_ << "]}";
		in_trace_ = false;
		error_ = what;
	}

	void end(u64 violations, int status) override
	{
		out_ << "],\"violations\":" << violations << ",\"status\":" << status;
		if (!error_.empty())
			out_ << ",\"error\":" << json_str(error_);
		out_ << "}\n";
	}

private:
	int traces_ = 0;
	u64 violations_ = 0;
	bool in_trace_ = false;
	std::string error_;
};

// ---- one trace -------------------------------------------------------------------

// What check_trace() observes, printed by a Report as it comes.
class ReportObserver final : public CheckObserver {
public:
	ReportObserver(const std::string& name, Report& r) : name_(name), report_(r) {}
	void profile(const Profile& p, const std::string& how) override { report_.begin_trace(name_, p, how); }
	void violation(const Violation& v) override { report_.violation(v.file, v); }

private:
	const std::string& name_;
	Report& report_;
};

// Checks one trace (its inputs merged); returns its number of violations.
u64 check_one(const std::vector<std::string>& files, const Options& o, Report& report)
{
	std::vector<TraceInput> inputs;
	std::string name;
	for (const std::string& f : files) {
		inputs.push_back(open_input(f));
		name += (name.empty() ? "" : "+") + f;
	}
	CheckOptions co;
	co.profile = o.profile;
	co.partial = o.partial;
	co.window_us = o.window;
	ReportObserver obs(name, report);
	const CheckOutcome out = check_trace(inputs, co, obs);
	report.end_trace(name, out.stats);
	return out.stats.violations;
}

// ---- options ------------------------------------------------------------------------

std::optional<Options> parse_options(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
				     int& status)
{
	for (const std::string& a : args)
		if (a == "-h" || a == "--help") {
			out << support::help_text("arborist", conform_help);
			status = 0;
			return std::nullopt;
		}
	Options o;
	std::string profile;
	support::OptionParser p(conform_help);
	p.value("--profile", profile);
	p.flag("--json", o.json);
	p.flag("--partial", o.partial);
	p.flag("--merge", o.merge);
	p.number("--window", o.window, 1, std::numeric_limits<u64>::max());
	p.positional(o.traces);
	std::string problem = p.parse(args);
	if (problem.empty() && !profile.empty() && !(o.profile = find_profile(profile)))
		problem = "option --profile: expected one of " + profile_names() + ", got " + support::quoted(profile);
	if (problem.empty() && o.traces.empty())
		problem = "no TRACE given";
	if (problem.empty())
		return o;
	err << "arborist conform: " << problem << "\n(run 'arborist conform --help' for usage)\n";
	status = 2;
	return std::nullopt;
}

} // namespace

int conform_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
	int status = 0;
	std::ostringstream usage_err;
	const std::optional<Options> opts = parse_options(args, out, usage_err, status);
	if (!opts) {
		err << usage_err.str();
		// Under --json a usage error is a JSON document too.
		if (status != 0 && std::find(args.begin(), args.end(), "--json") != args.end()) {
			std::string msg = usage_err.str();
			msg = msg.substr(0, msg.find('\n'));
			out << "{\"traces\":[],\"violations\":0,\"status\":" << status << ",\"error\":" << json_str(msg) << "}\n";
		}
		return status;
	}
	std::unique_ptr<Report> report;
	if (opts->json)
		report = std::make_unique<JsonReport>(out);
	else
		report = std::make_unique<TextReport>(out);
	u64 violations = 0;
	std::vector<std::vector<std::string>> traces;
	for (const std::string& file : opts->traces)
		if (opts->merge && !traces.empty())
			traces.front().push_back(file);
		else
			traces.push_back({file});
	for (const std::vector<std::string>& files : traces) {
		try {
			violations += check_one(files, *opts, *report);
		} catch (const std::exception& e) {
			err << "arborist conform: " << shown(e.what()) << "\n";
			report->error(e.what());
			report->end(violations, 2);
			return 2;
		}
	}
	status = violations ? 1 : 0;
	report->end(violations, status);
	return status;
}

} // namespace arborist::conform
