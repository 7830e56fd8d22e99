// SPDX-License-Identifier: GPL-2.0-only
#include "check.hpp"
#include "json_escape.hpp"

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "arborist/mc/configs.hpp"

namespace arborist::cli {

namespace {

struct CheckOptions {
	std::vector<std::string> names;
	bool list = false, all = false, json = false;
	std::string dot_path, promela_path;
	mc::Options mc;
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

void print_json(const mc::McConfig& c, const mc::Result& r, std::ostream& out, bool last)
{
	out << "  {\"name\": \"" << json_escape(c.name) << "\", \"verdict\": \"" << json_escape(verdict_of(r))
	    << "\", \"expected\": \"" << json_escape(c.expected) << "\", \"states\": " << r.states
	    << ", \"transitions\": " << r.transitions << ", \"depth\": " << r.max_depth << ", \"seconds\": " << r.seconds;
	if (r.violation) {
		out << ", \"detail\": \"" << json_escape(r.violation->detail) << "\", \"counterexample\": [";
		for (std::size_t i = 0; i < r.trace.size(); i++)
			out << (i ? ", " : "") << "{\"thread\": \"" << json_escape(r.trace[i].thread_name)
			    << "\", \"action\": \"" << json_escape(r.trace[i].action) << "\"}";
		out << "]";
	}
	out << "}" << (last ? "\n" : ",\n");
}

bool write_file(const std::string& path, const std::string& text, std::ostream& err)
{
	std::ofstream f(path);
	if (!(f << text)) {
		err << "arborist check: cannot write '" << path << "'\n";
		return false;
	}
	return true;
}

} // namespace

int check_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
	CheckOptions o;
	auto usage = [&](const std::string& msg) {
		err << "arborist check: " << msg << "\n(run 'arborist help' for usage)\n";
		return 2;
	};
	for (std::size_t i = 0; i < args.size(); i++) {
		const std::string& a = args[i];
		auto value = [&](std::string& dst) {
			if (i + 1 >= args.size())
				return false;
			dst = args[++i];
			return true;
		};
		if (a == "--list")
			o.list = true;
		else if (a == "--all")
			o.all = true;
		else if (a == "--json")
			o.json = true;
		else if (a == "--no-symmetry")
			o.mc.symmetry = false;
		else if (a == "--no-por")
			o.mc.por = false;
		else if (a == "--no-termination")
			o.mc.termination = false;
		else if (a == "--dot") {
			if (!value(o.dot_path))
				return usage("option --dot needs a value");
		} else if (a == "--emit-promela") {
			if (!value(o.promela_path))
				return usage("option --emit-promela needs a value");
		} else if (a == "--max-states") {
			std::string n;
			if (!value(n) || n.empty() || n.find_first_not_of("0123456789") != std::string::npos ||
			    n.size() > 10 || std::stoull(n) == 0)
				return usage("option --max-states: expected a positive whole number, got '" + n + "'");
			o.mc.max_states = std::stoull(n);
		} else if (a.starts_with("-"))
			return usage("unknown option '" + a + "'");
		else
			o.names.push_back(a);
	}
	if (o.list) {
		for (const mc::McConfig& c : mc::mc_configs())
			out << std::left << std::setw(44) << c.name << " expect " << c.expected << "\n    " << c.summary
			    << "\n";
		return 0;
	}
	std::vector<const mc::McConfig*> run;
	if (o.all)
		for (const mc::McConfig& c : mc::mc_configs())
			run.push_back(&c);
	for (const std::string& n : o.names) {
		const mc::McConfig* c = mc::find_mc_config(n);
		if (!c)
			return usage("unknown configuration '" + n + "' (arborist check --list names them)");
		run.push_back(c);
	}
	if (run.empty())
		return usage("no configuration given (NAME, --all or --list)");
	if ((!o.dot_path.empty() || !o.promela_path.empty()) && run.size() != 1)
		return usage("--dot and --emit-promela take exactly one configuration");
	if (!o.promela_path.empty()) {
		if (!run[0]->promela)
			return usage("configuration '" + run[0]->name + "' has no Promela model (root.* configurations do)");
		if (!write_file(o.promela_path, run[0]->promela(), err))
			return 2;
		out << "wrote " << o.promela_path << "\n";
		return 0;
	}
	bool all_expected = true;
	if (o.json)
		out << "[\n";
	for (std::size_t i = 0; i < run.size(); i++) {
		const mc::Result r = run[i]->run(o.mc);
		all_expected = all_expected && verdict_of(r) == run[i]->expected;
		if (o.json)
			print_json(*run[i], r, out, i + 1 == run.size());
		else
			print_text(*run[i], r, out);
		if (!o.dot_path.empty()) {
			if (!r.violation)
				out << "no violation: --dot file not written\n";
			else if (!write_file(o.dot_path, r.final_dot, err))
				return 2;
		}
	}
	if (o.json)
		out << "]\n";
	return all_expected ? 0 : 1;
}

} // namespace arborist::cli
