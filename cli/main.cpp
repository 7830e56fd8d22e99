// SPDX-License-Identifier: GPL-2.0-only
//
// arborist: the command-line front end.  The commands, their options and
// help are the table of commands.cpp; `arborist CMD -h|--help` and
// `arborist help [CMD]` print it, and a usage error is
// "arborist CMD: what" with exit status 2.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "arborist/support/output.hpp"
#include "arborist/support/text.hpp"
#include "bench.hpp"
#include "capture.hpp"
#include "check.hpp"
#include "commands.hpp"
#include "conform/conform.hpp"
#include "json.hpp"
#include "arborist/support/options.hpp"
#include "prove.hpp"
#include "scenario.hpp"

namespace arborist::cli {
// cli/capture.cpp: `arborist capture` parses its own options (capture.hpp).
int capture_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
} // namespace arborist::cli

namespace {

namespace support = arborist::support;

[[noreturn]] void usage_error(std::string_view cmd, const std::string& msg)
{
	std::cerr << arborist::cli::usage_message(cmd, msg);
	std::exit(support::finish_output(2));
}

int cmd_prove(const std::vector<std::string>& args)
{
	arborist::cli::ProveOptions o;
	o.jobs = std::max(1u, std::thread::hardware_concurrency());
	bool json = false, markdown = false;
	support::OptionParser p(arborist::cli::command_help("prove"));
	p.flag("--json", json);
	p.flag("--markdown", markdown);
	p.repeated("--filter", o.filters);
	p.flag("--list", o.list_only);
	p.number("--jobs", o.jobs, 1, 256);
	p.number("--timeout", o.timeout_ms, 1, 3600000);
	p.flag("--verbose", o.verbose);
	std::string problem = p.parse(args);
	if (problem.empty() && json && markdown)
		problem = "--json and --markdown are two output formats; give one";
	if (!problem.empty()) {
		if (json)
			arborist::cli::json::error_document(std::cout, "prove", "usage", problem, 2);
		usage_error("prove", problem);
	}
	o.format = json ? arborist::cli::Format::json
		   : markdown ? arborist::cli::Format::markdown
			      : arborist::cli::Format::table;
	return arborist::cli::prove(o, std::cout, std::cerr);
}

int cmd_bench(const std::vector<std::string>& args)
{
	const std::vector<std::string> rest(args.empty() ? args.begin() : args.begin() + 1, args.end());
	if (!args.empty() && args[0] == "check") {
		unsigned iterators = 4;
		std::string variant = "v6.19";
		support::OptionParser p(arborist::cli::command_help("bench check"));
		p.number("--iterators", iterators, 0, 6);
		p.value("--variant", variant);
		if (const std::string problem = p.parse(rest); !problem.empty())
			usage_error("bench check", problem);
		if (variant != "v6.19" && variant != "dec-and-test")
			usage_error("bench check", "option --variant: expected v6.19 or dec-and-test, got " + support::quoted(variant, 40));
		return arborist::cli::bench_check(iterators, variant, std::cout, std::cerr);
	}
	if (args.empty() || args[0] != "teardown")
		usage_error("bench", "expected 'teardown' or 'check'");
	std::uint64_t pages = 0; // default 1 << 20, a 4 GiB TD
	std::uint64_t gib = 0;
	std::uint64_t scale = 1024;
	std::string variant = "both";
	bool model = false, json = false;
	support::OptionParser p(arborist::cli::command_help("bench teardown"));
	p.number("--pages", pages, 1, 1u << 25);
	p.number("--gib", gib, 1, 128);
	p.value("--variant", variant);
	p.flag("--model", model);
	p.flag("--json", json);
	p.number("--scale", scale, 1, 1u << 16);
	if (const std::string problem = p.parse(rest); !problem.empty())
		usage_error("bench teardown", problem);
	if (json && !model)
		usage_error("bench teardown", "option --json: only with --model");
	if (gib && (model || pages))
		usage_error("bench teardown", "option --gib: not with --pages or --model");
	if (gib)
		pages = gib << 18; // 4K pages in a GiB
	else if (!pages)
		pages = 1u << 20;
	if (model)
		return arborist::cli::bench_teardown_model(scale, json, std::cout, std::cerr);
	if (variant != "dynamic" && variant != "deferred" && variant != "both")
		usage_error("bench teardown", "option --variant: expected dynamic, deferred or both, got " + support::quoted(variant, 40));
	return arborist::cli::bench_teardown(pages, variant, std::cout, std::cerr);
}

int cmd_run(const std::vector<std::string>& args)
{
	arborist::cli::RunOptions o;
	std::vector<std::string> paths;
	support::OptionParser p(arborist::cli::command_help("run"));
	p.value("--dot", o.dot_path);
	p.value("--trace", o.trace_path);
	p.flag("--refine", o.refine);
	p.flag("--quiet", o.quiet);
	p.positional(paths);
	if (const std::string problem = p.parse(args); !problem.empty())
		usage_error("run", problem);
	if (paths.empty())
		usage_error("run", "no scenario file given");
	if (paths.size() > 1)
		usage_error("run", "more than one scenario file given");
	return arborist::cli::run_scenario(paths[0], o, std::cout, std::cerr);
}

bool wants_help(const std::vector<std::string>& args)
{
	for (const std::string& a : args)
		if (a == "-h" || a == "--help")
			return true;
	return false;
}

// `arborist help [--markdown [--usage]] [CMD]`.
int cmd_help(const std::vector<std::string>& args)
{
	if (wants_help(args)) {
		arborist::cli::print_help("help", std::cout);
		return 0;
	}
	bool markdown = false, usage_only = false;
	std::vector<std::string> names;
	support::OptionParser p(arborist::cli::command_help("help"));
	p.flag("--markdown", markdown);
	p.flag("--usage", usage_only);
	p.positional(names);
	std::string problem = p.parse(args);
	if (problem.empty() && usage_only && !markdown)
		problem = "option --usage: only with --markdown";
	if (problem.empty() && usage_only && names.empty())
		problem = "option --usage: only with a command";
	if (problem.empty() && names.size() > 2)
		problem = "expected one command, got " + std::to_string(names.size()) + " words";
	if (!problem.empty())
		usage_error("help", problem);
	std::string name;
	for (const std::string& n : names)
		name += (name.empty() ? "" : " ") + n;
	bool known = true;
	if (markdown)
		known = arborist::cli::print_help_markdown(name, usage_only, std::cout);
	else if (name.empty())
		arborist::cli::print_help_all(std::cout);
	else
		known = arborist::cli::print_help(name, std::cout);
	if (!known)
		usage_error("help", "unknown command " + support::quoted(name, 60));
	return 0;
}

int dispatch(const std::string& cmd, std::vector<std::string>& args)
{
	if (cmd == "help" || cmd == "--help" || cmd == "-h")
		return cmd_help(args);
	// `arborist CMD --help` (and `arborist bench teardown --help`): the
	// help of the command, whatever else the line says.
	if (wants_help(args) && !arborist::cli::find_commands(cmd).empty()) {
		std::string name = cmd;
		if (cmd == "bench" && !args.empty() && !arborist::cli::find_commands("bench " + args[0]).empty())
			name += " " + args[0];
		arborist::cli::print_help(name, std::cout);
		return 0;
	}
	if (cmd == "prove")
		return cmd_prove(args);
	if (cmd == "bench")
		return cmd_bench(args);
	if (cmd == "check")
		return arborist::cli::check_main(args, std::cout, std::cerr);
	if (cmd == "conform")
		return arborist::conform::conform_main(args, std::cout, std::cerr);
	if (cmd == "run")
		return cmd_run(args);
	if (cmd == "capture")
		return arborist::cli::capture_main(args, std::cout, std::cerr);
	if (cmd == "version" || cmd == "--version") {
		if (!args.empty())
			usage_error("version", "takes no arguments");
		arborist::cli::print_version(std::cout);
		return 0;
	}
	usage_error("", "unknown command " + support::quoted(cmd, 60));
}

} // namespace

// Every command's status passes through support::finish_output(): a
// report lost to a failed write of stdout or stderr exits 2, never 0.
int main(int argc, char** argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);
	if (args.empty())
		usage_error("", "no command given");
	const std::string cmd = args.front();
	args.erase(args.begin());
	return support::finish_output(dispatch(cmd, args));
}
