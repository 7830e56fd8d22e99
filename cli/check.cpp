// SPDX-License-Identifier: GPL-2.0-only
#include "check.hpp"
#include "json.hpp"
#include "commands.hpp"
#include "arborist/support/options.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>

#include "arborist/mc/config_file.hpp"
#include "arborist/mc/configs.hpp"
#include "arborist/support/text.hpp"

namespace arborist::cli {

namespace {

struct CheckOptions {
	std::vector<std::string> names;
	bool list = false, all = false, json = false, skip_deep = false;
	std::string dot_path, promela_path;
	bool no_symmetry = false, no_por = false, no_termination = false;
	std::uint64_t max_states = mc::Options{}.max_states;
};

std::string verdict_of(const mc::Result& r)
{
	if (r.violation)
		return r.violation->invariant;
	return r.truncated ? "incomplete" : "pass";
}

// Peak resident set (VmHWM) in KiB, or 0 where /proc is unavailable.
unsigned long peak_rss_kib()
{
	std::ifstream f("/proc/self/status");
	std::string line;
	while (std::getline(f, line))
		if (line.rfind("VmHWM:", 0) == 0)
			return std::stoul(line.substr(6));
	return 0;
}

void print_text(const mc::McConfig& c, const mc::Result& r, std::ostream& out)
{
	out << "configuration " << c.name << "\n  " << c.summary << "\n  source: " << c.source << "\n";
	if (r.violation) {
		out << "VIOLATION " << r.violation->invariant << ": " << r.violation->detail << "\n";
		out << "shortest counterexample (" << r.trace.size() << " steps):\n";
		for (std::size_t i = 0; i < r.trace.size(); i++)
			out << "  " << std::setw(3) << i + 1 << ". [" << r.trace[i].thread_name << "] " << r.trace[i].action
			    << "\n";
		out << "state at the violation:\n" << r.final_state;
	} else if (r.truncated) {
		out << "INCOMPLETE: stopped at the state limit without a violation\n";
	} else {
		out << "no violation: every reachable state satisfies every property\n";
	}
	std::ostringstream rate;
	rate << std::fixed << std::setprecision(0) << (r.seconds > 0 ? static_cast<double>(r.states) / r.seconds : 0.0);
	out << "states " << r.states << ", transitions " << r.transitions << ", depth " << r.max_depth << ", "
	    << std::fixed << std::setprecision(3) << r.seconds << " s, " << rate.str() << " states/s, state keys "
	    << r.state_bytes / 1024 << " KiB, peak RSS " << peak_rss_kib() / 1024 << " MiB\n";
	const std::string v = verdict_of(r);
	out << "verdict " << v << " (expected " << c.expected << ")" << (v == c.expected ? "" : "  MISMATCH") << "\n";
}

// A DOT string literal's body.
std::string dot_escape(std::string_view s)
{
	std::string r;
	for (const char c : support::printable(s)) {
		if (c == '"' || c == '\\')
			r += '\\';
		r += c;
	}
	return r;
}

// The counterexample as a sequence chart: one lane (a column) per task,
// its steps in order down the page, each with the SEAMCALLs it made and
// their statuses; dashed edges give the global order; the step that broke
// the property is red.
std::string sequence_chart(const mc::McConfig& c, const mc::Result& r)
{
	std::string g = "digraph counterexample {\n  label=\"" + dot_escape(c.name) + ": " +
			dot_escape(r.violation->invariant) + "\";\n  labelloc=t;\n  rankdir=TB;\n  newrank=true;\n"
			"  node [shape=box, fontname=monospace, fontsize=10];\n";
	std::vector<std::string> lanes;
	for (const auto& st : r.trace)
		if (std::find(lanes.begin(), lanes.end(), st.thread_name) == lanes.end())
			lanes.push_back(st.thread_name);
	for (std::size_t l = 0; l < lanes.size(); l++) {
		g += "  subgraph cluster_" + std::to_string(l) + " {\n    label=\"" + dot_escape(lanes[l]) +
		     "\";\n    style=rounded;\n";
		g += "    lane" + std::to_string(l) + " [shape=point, style=invis];\n";
		std::string prev = "lane" + std::to_string(l);
		for (std::size_t i = 0; i < r.trace.size(); i++) {
			const auto& st = r.trace[i];
			if (st.thread_name != lanes[l])
				continue;
			std::string label = std::to_string(i + 1) + ". " + st.action;
			const std::size_t semi = label.find("; SEAMCALL ");
			if (semi != std::string::npos)
				label = label.substr(0, semi); // the calls go on lines of their own
			std::string text = dot_escape(label) + "\\l";
			for (const auto& [leaf, status] : st.seamcalls)
				text += dot_escape(leaf + " -> " + status) + "\\l";
			if (const std::size_t bug = st.action.find("; KVM_BUG_ON: "); bug != std::string::npos)
				text += dot_escape(st.action.substr(bug + 2)) + "\\l";
			const bool last = i + 1 == r.trace.size();
			g += "    s" + std::to_string(i + 1) + " [label=\"" + text + "\"" +
			     (last ? ", color=red, fontcolor=red, penwidth=2" : "") + "];\n";
			g += "    " + prev + " -> s" + std::to_string(i + 1) + " [style=invis];\n";
			prev = "s" + std::to_string(i + 1);
		}
		g += "  }\n";
	}
	for (std::size_t i = 1; i < r.trace.size(); i++)
		g += "  s" + std::to_string(i) + " -> s" + std::to_string(i + 1) + " [style=dashed, constraint=true];\n";
	return g + "}\n";
}

void print_json(json::JsonWriter& w, const mc::McConfig& c, const mc::Result& r)
{
	w.begin_object()
		.member("name", c.name)
		.member("verdict", verdict_of(r))
		.member("expected", c.expected)
		.member("as_expected", verdict_of(r) == c.expected)
		.member("states", r.states)
		.member("transitions", r.transitions)
		.member("depth", r.max_depth)
		.member("seconds", r.seconds);
	if (r.violation) {
		w.member("detail", r.violation->detail).key("counterexample").begin_array();
		for (std::size_t i = 0; i < r.trace.size(); i++) {
			const auto& step = r.trace[i];
			w.begin_object()
				.member("step", static_cast<std::uint64_t>(i + 1))
				.member("thread", step.thread_name)
				.member("action", step.action)
				.key("seamcalls")
				.begin_array();
			for (const auto& [leaf, status] : step.seamcalls)
				w.begin_object().member("leaf", leaf).member("status", status).end_object();
			w.end_array().end_object();
		}
		w.end_array();
	}
	w.end_object();
}

// "" when written, else why not (with errno's text).
std::string write_file(const std::string& path, const std::string& text)
{
	errno = 0;
	std::ofstream f(path);
	if (f) {
		f << text;
		f.close();
	}
	if (f)
		return "";
	const int e = errno;
	return "cannot write " + support::quoted(path) + (e ? std::string(": ") + std::strerror(e) : "");
}

// A file an option asked for, and what became of it.
struct FileOutcome {
	std::string option, path;
	bool written = false;
	std::string reason; // when not written
};

class Report {
public:
	Report(bool json, std::ostream& out, std::ostream& err) : json_(json), out_(out), err_(err), w_(out) {}

	int usage(const std::string& msg)
	{
		err_ << usage_message("check", msg);
		if (json_)
			json::error_document(out_, "check", "usage", msg, 2);
		return 2;
	}

	// A configuration file it could not read or accept: exit 2, the
	// message (FILE:LINE: field: ...) on stderr and in the document.
	int input_error(const std::string& msg)
	{
		err_ << "arborist check: " << msg << "\n";
		if (json_)
			json::error_document(out_, "check", "input", msg, 2);
		return 2;
	}

	void begin()
	{
		if (json_)
			json::begin_document(w_, "check");
	}

	void list()
	{
		if (json_)
			w_.key("list").begin_array();
		for (const mc::McConfig& c : mc::mc_configs()) {
			if (json_) {
				w_.begin_object()
					.member("name", c.name)
					.member("expected", c.expected)
					.member("summary", c.summary)
					.member("source", c.source)
					.member("file", c.file)
					.member("system", c.system)
					.member("tier", c.deep ? "deep" : "quick")
					.key("properties")
					.begin_array();
				if (c.deadlock)
					w_.value("deadlock");
				if (c.termination)
					w_.value("termination");
				for (const std::string& p : c.properties)
					w_.value(p);
				w_.end_array().end_object();
			} else
				out_ << std::left << std::setw(44) << c.name << " expect " << c.expected << "\n    "
				     << c.summary << "\n";
		}
		if (json_)
			w_.end_array();
	}

	void begin_configurations()
	{
		if (json_)
			w_.key("configurations").begin_array();
	}
	void configuration(const mc::McConfig& c, const mc::Result& r)
	{
		if (json_)
			print_json(w_, c, r);
		else
			print_text(c, r, out_);
	}
	void end_configurations()
	{
		if (json_)
			w_.end_array();
	}

	// Text mode says what became of the file on stdout, as before; a
	// failure to write goes to stderr in both modes, and in JSON mode every
	// note does (the document lists the file in "files").
	void file(FileOutcome f)
	{
		const bool failed = !f.written && f.reason.starts_with("cannot write");
		const std::string note = f.written ? "wrote " + support::printable(f.path)
				       : failed   ? f.reason
						  : f.reason + ": " + f.option + " file not written";
		if (failed)
			err_ << "arborist check: " << note << "\n";
		else
			(json_ ? err_ : out_) << note << "\n";
		files_.push_back(std::move(f));
	}

	// The exit status, after the document's last members.
	int end(int status, const std::string& io_error = "")
	{
		if (!json_)
			return status;
		if (!files_.empty()) {
			w_.key("files").begin_array();
			for (const FileOutcome& f : files_) {
				w_.begin_object().member("option", f.option).member("path", f.path).member("written", f.written);
				if (!f.written)
					w_.member("reason", f.reason);
				w_.end_object();
			}
			w_.end_array();
		}
		json::end_document(w_, status, io_error.empty() ? "" : "io", io_error);
		return status;
	}

private:
	bool json_;
	std::ostream& out_;
	std::ostream& err_;
	json::JsonWriter w_;
	std::vector<FileOutcome> files_;
};

} // namespace

int check_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
	CheckOptions o;
	support::OptionParser p(command_help("check"));
	p.flag("--list", o.list);
	p.flag("--all", o.all);
	p.flag("--skip-deep", o.skip_deep);
	p.flag("--json", o.json);
	p.flag("--no-symmetry", o.no_symmetry);
	p.flag("--no-por", o.no_por);
	p.flag("--no-termination", o.no_termination);
	p.value("--dot", o.dot_path);
	p.value("--emit-promela", o.promela_path);
	p.number("--max-states", o.max_states, 1, std::numeric_limits<std::uint64_t>::max() / 2);
	p.positional(o.names);
	const std::string problem = p.parse(args);
	Report report(o.json, out, err);
	if (!problem.empty())
		return report.usage(problem);
	try {
		mc::mc_configs(); // the built-in files, read once
	} catch (const support::InputError& e) {
		return report.input_error("built-in configuration: " + std::string(e.what()));
	}

	if (o.list) {
		if (o.all || !o.names.empty() || !o.dot_path.empty() || !o.promela_path.empty())
			return report.usage("--list takes no configuration and no output file");
		report.begin();
		report.list();
		return report.end(0);
	}
	std::vector<const mc::McConfig*> run;
	if (o.skip_deep && !o.all)
		return report.usage("--skip-deep goes with --all");
	if (o.all)
		for (const mc::McConfig& c : mc::mc_configs())
			if (!o.skip_deep || !c.deep)
				run.push_back(&c);
	// A NAME with a '/' or ending in ".mc" is a configuration file.
	std::vector<std::unique_ptr<mc::McConfig>> from_files;
	for (const std::string& n : o.names) {
		if (n.find('/') != std::string::npos || n.ends_with(".mc")) {
			try {
				support::FileSource src(n);
				from_files.push_back(std::make_unique<mc::McConfig>(mc::parse_mc_config(src)));
			} catch (const support::InputError& e) {
				return report.input_error(e.what());
			}
			run.push_back(from_files.back().get());
			continue;
		}
		const mc::McConfig* c = mc::find_mc_config(n);
		if (!c)
			return report.usage("unknown configuration " + support::quoted(n, 80) +
					    " (arborist check --list names them, a file ends in .mc or has a '/')");
		run.push_back(c);
	}
	if (run.empty())
		return report.usage("no configuration given (NAME, --all or --list)");
	if ((!o.dot_path.empty() || !o.promela_path.empty()) && run.size() != 1)
		return report.usage("--dot and --emit-promela take exactly one configuration");
	if (!o.promela_path.empty()) {
		if (!run[0]->promela)
			return report.usage("configuration '" + run[0]->name +
					    "' has no Promela model (root.* configurations do)");
		report.begin();
		const std::string why = write_file(o.promela_path, run[0]->promela());
		report.file({"--emit-promela", o.promela_path, why.empty(), why});
		return report.end(why.empty() ? 0 : 2, why);
	}

	mc::Options mo;
	mo.symmetry = !o.no_symmetry;
	mo.por = !o.no_por;
	mo.termination = !o.no_termination;
	mo.max_states = o.max_states;
	bool all_expected = true;
	std::string io_error;
	report.begin();
	report.begin_configurations();
	std::optional<mc::Result> last;
	const mc::McConfig* last_config = nullptr;
	for (const mc::McConfig* c : run) {
		last = c->run(mo);
		last_config = c;
		all_expected = all_expected && verdict_of(*last) == c->expected;
		report.configuration(*c, *last);
	}
	report.end_configurations();
	if (!o.dot_path.empty()) {
		if (!last->violation) {
			report.file({"--dot", o.dot_path, false, "no violation"});
		} else {
			io_error = write_file(o.dot_path, sequence_chart(*last_config, *last));
			report.file({"--dot", o.dot_path, io_error.empty(), io_error});
		}
	}
	return report.end(!io_error.empty() ? 2 : all_expected ? 0 : 1, io_error);
}

} // namespace arborist::cli
