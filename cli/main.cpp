// SPDX-License-Identifier: GPL-2.0-only
//
// arborist: the command-line front end.
//
//   arborist prove [--json | --markdown] [--filter SUBSTR]... [--list]
//                  [--jobs N] [--timeout MS] [--verbose]
//   arborist run SCENARIO|- [--dot FILE] [--trace FILE] [--refine] [--quiet]
//   arborist capture KERNEL [--out DIR] [--check] ...   (capture.hpp)
//   arborist version
//   arborist help
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
#include "conform/conform.hpp"
#include "json.hpp"
#include "options.hpp"
#include "prove.hpp"
#include "scenario.hpp"

namespace arborist::cli {
// cli/capture.cpp: `arborist capture` parses its own options (capture.hpp).
int capture_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
} // namespace arborist::cli

namespace {

namespace support = arborist::support;

constexpr const char* USAGE = R"(usage: arborist COMMAND [OPTIONS]

commands:
  prove      discharge every proof obligation with Z3 and print the table
  bench      timed runs of the executable reference (see below)
  check      model-check a named concurrent configuration (docs/model-checking.md)
  conform    check kernel ftrace traces against the reference (docs/conformance.md)
  capture    boot a kernel under QEMU, trace its TDP MMU, check it (docs/capture.md)
  run        execute a scenario file on the executable reference (see below)
  version    print the arborist, Z3 and Boost versions
  help       print this text

arborist prove options:
  --filter SUBSTR   only obligations whose name contains SUBSTR (repeatable: any matches)
  --list            list the selected obligations without solving
  --json            machine-readable output
  --markdown        the table as Markdown (docs/obligations.md is this output)
  --jobs N          solver threads (default: the number of CPUs)
  --timeout MS      per-solver-call limit in milliseconds (default 60000); a call
                    that hits it is UNKNOWN, its own verdict
  --verbose         print the counterexample the known-bad variant produced

arborist bench teardown [--pages N | --gib G] [--variant dynamic|deferred|both]
  fault in N private 4K pages (or G GiB, up to 128; 107 is the published
  32-vCPU row) of a TD through the simulated TDX module (default 1048576, a
  4 GiB TD), tear it down; per phase print pages, SEAMCALLs, seconds, peak
  RSS and bytes per page, and the SEAMCALL counts by leaf, for each teardown
  variant (default both); exit 1 if a count differs from what the pages need

arborist bench teardown --model [--scale S] [--json]
  the cost model of the published teardown times: the reference's SEAMCALLs,
  kicks and kernel work per page (each row run at 1/S of its size, default
  1024) priced by per-event costs fitted to the first row; each row's
  measured and predicted times, errors, and what the model does not explain

arborist bench check [--iterators N] [--variant v6.19|dec-and-test]
  states/s of arborist's model checker and of SPIN on the same root-lifecycle
  configuration with N iterator tasks (default 4), both without reductions;
  the reachable-state counts must agree (exit 1 otherwise)

arborist run SCENARIO|- [--dot FILE] [--trace FILE] [--refine] [--quiet]
  run the scenario (format: docs/scenarios.md; '-' reads standard input;
  lines of at most 1 MiB) on a TDX VM over the simulated
  TDX module or a plain EPT/NPT VM; print each operation with the SEAMCALLs
  it issued and their statuses, then the final page-table trees, S-EPT
  entries and page ownership
  --dot FILE   also write the final trees (and the S-EPT) as Graphviz
  --trace FILE also write the run's kernel trace (TDX events of
               docs/trace-format.md) for `arborist conform`
  --refine     check root refinement and mirror/S-EPT agreement after every operation
  --quiet      print only failures and the result line
  exit status: 0 ok; 1 a failed expect, an unexpected KVM bug, a refinement
  violation or a --dot/--trace file not written; 2 usage error, unreadable or
  malformed scenario ("FILE:LINE: field 'KEY': ...")

arborist check NAME... | --all | --list [--json] [--dot FILE] [--emit-promela FILE]
               [--no-symmetry] [--no-por] [--no-termination] [--max-states N]
  explore every interleaving of the configuration's threads breadth first;
  print the verdict (a property broken, with the shortest counterexample, or
  none), states, transitions and states/s
  --dot FILE            the state at the violation as Graphviz
  --emit-promela FILE   write the configuration as a Promela model for SPIN
  --no-symmetry/--no-por  turn off symmetry or partial-order reduction
  --json                one JSON document on stdout (docs/model-checking.md)
  exit status: 0 every configuration gave its recorded verdict; 1 otherwise;
  2 usage error or a file not written

arborist capture (--kernel IMAGE --modules DIR | --deb PKG.deb | --debian) [--out DIR] [--check]
arborist capture --trace FILE
  boot the kernel under QEMU TCG with nested SVM/NPT, run the workload on its
  KVM, write DIR/trace.txt; --check gives a verdict per workload phase
  ('arborist capture --help' lists every option)

exit status of prove: 0 all obligations proved, non-vacuous and refuted under their
known-bad variant; 1 some obligation failed (or an error); 2 usage error; 3 none
failed but the solver gave up on some within --timeout (UNKNOWN).

Every command exits 2 when its standard output or standard error could not be
written (a full disk, a closed pipe): the report is incomplete.  With --json,
prove and check print exactly one JSON document on stdout, usage errors
included; text diagnostics go to stderr.
)";

[[noreturn]] void usage_error(const std::string& msg)
{
	std::cerr << "arborist: " << msg << "\n(run 'arborist help' for usage)\n";
	std::exit(support::finish_output(2));
}

int cmd_prove(const std::vector<std::string>& args)
{
	arborist::cli::ProveOptions o;
	o.jobs = std::max(1u, std::thread::hardware_concurrency());
	bool json = false, markdown = false;
	arborist::cli::OptionParser p("prove");
	p.flag("--json", json);
	p.flag("--markdown", markdown);
	p.repeated("--filter", o.filters);
	p.flag("--list", o.list_only);
	p.number("--jobs", o.jobs, 1, 256);
	p.number("--timeout", o.timeout_ms, 1, 3600000);
	p.flag("--verbose", o.verbose);
	std::string problem = p.parse(args);
	if (problem.empty() && json && markdown)
		problem = "prove: --json and --markdown are two output formats; give one";
	if (!problem.empty()) {
		if (json)
			arborist::cli::json::error_document(std::cout, "prove", "usage", problem, 2);
		usage_error(problem);
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
		arborist::cli::OptionParser p("bench check");
		p.number("--iterators", iterators, 0, 6);
		p.value("--variant", variant);
		if (const std::string problem = p.parse(rest); !problem.empty())
			usage_error(problem);
		if (variant != "v6.19" && variant != "dec-and-test")
			usage_error("option --variant: expected v6.19 or dec-and-test, got " + support::quoted(variant, 40));
		return arborist::cli::bench_check(iterators, variant, std::cout, std::cerr);
	}
	if (args.empty() || args[0] != "teardown")
		usage_error("bench: expected 'teardown' or 'check'");
	std::uint64_t pages = 0; // default 1 << 20, a 4 GiB TD
	std::uint64_t gib = 0;
	std::uint64_t scale = 1024;
	std::string variant = "both";
	bool model = false, json = false;
	arborist::cli::OptionParser p("bench teardown");
	p.number("--pages", pages, 1, 1u << 25);
	p.number("--gib", gib, 1, 128);
	p.value("--variant", variant);
	p.flag("--model", model);
	p.flag("--json", json);
	p.number("--scale", scale, 1, 1u << 16);
	if (const std::string problem = p.parse(rest); !problem.empty())
		usage_error(problem);
	if (json && !model)
		usage_error("option --json: only with --model");
	if (gib && (model || pages))
		usage_error("option --gib: not with --pages or --model");
	if (gib)
		pages = gib << 18; // 4K pages in a GiB
	else if (!pages)
		pages = 1u << 20;
	if (model)
		return arborist::cli::bench_teardown_model(scale, json, std::cout, std::cerr);
	if (variant != "dynamic" && variant != "deferred" && variant != "both")
		usage_error("option --variant: expected dynamic, deferred or both, got " + support::quoted(variant, 40));
	return arborist::cli::bench_teardown(pages, variant, std::cout, std::cerr);
}

int cmd_run(const std::vector<std::string>& args)
{
	arborist::cli::RunOptions o;
	std::vector<std::string> paths;
	arborist::cli::OptionParser p("run");
	p.value("--dot", o.dot_path);
	p.value("--trace", o.trace_path);
	p.flag("--refine", o.refine);
	p.flag("--quiet", o.quiet);
	p.positional(paths);
	if (const std::string problem = p.parse(args); !problem.empty())
		usage_error(problem);
	if (paths.empty())
		usage_error("run: no scenario file given");
	if (paths.size() > 1)
		usage_error("run: more than one scenario file given");
	return arborist::cli::run_scenario(paths[0], o, std::cout, std::cerr);
}

int dispatch(const std::string& cmd, std::vector<std::string>& args)
{
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
			usage_error("version takes no arguments");
		arborist::cli::print_version(std::cout);
		return 0;
	}
	if (cmd == "help" || cmd == "--help" || cmd == "-h") {
		std::cout << USAGE;
		return 0;
	}
	usage_error("unknown command " + support::quoted(cmd, 60));
}

} // namespace

// Every command's status passes through support::finish_output(): a
// report lost to a failed write of stdout or stderr exits 2, never 0.
int main(int argc, char** argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);
	if (args.empty())
		usage_error("no command given");
	const std::string cmd = args.front();
	args.erase(args.begin());
	return support::finish_output(dispatch(cmd, args));
}
