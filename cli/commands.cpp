// SPDX-License-Identifier: GPL-2.0-only
//
// The table of arborist's commands (commands.hpp).  Everything a user reads
// about a command's usage comes from here: `--help`, `arborist help`, and
// the generated blocks of README.md and docs/*.md (cli.usage_blocks).
//
// A command that gains an option adds it to its parser AND to its entry
// here; a new check, bench or capture option goes in the `options` of that
// entry (the parser alone would make `--help` and the docs lie), and a doc
// block regenerates with `cmake -DUPDATE=ON ... -P tests/cli/usage_blocks.cmake`.
#include "commands.hpp"

#include "arborist/support/text.hpp"
#include "conform/conform.hpp"

namespace arborist::cli {

namespace {

using support::CommandHelp;

constexpr std::string_view kTool = "arborist";

const CommandHelp prove_help = {
	.name = "prove",
	.summary = "discharge every proof obligation with Z3 and print the table",
	.usage = {"[--json | --markdown] [--filter SUBSTR]... [--list] [--jobs N] [--timeout MS] [--verbose]"},
	.description = "Discharge every proof obligation with Z3 and print the table.  Each obligation is three solver calls: the proof, the vacuity check (the assumptions alone "
		       "are satisfiable) and the known-bad variant (one named fault injected, under which Z3 must "
		       "find a counterexample).",
	.options =
		{
			{"--filter SUBSTR", "only obligations whose name contains SUBSTR (repeatable: any matches)"},
			{"--list", "list the selected obligations without solving"},
			{"--json", "machine-readable results (verdicts, times, counterexamples, Z3 version): one JSON "
				   "document on stdout, usage errors included"},
			{"--markdown", "the table as Markdown (docs/obligations.md is this output)"},
			{"--jobs N", "solver threads (default: the number of CPUs)"},
			{"--timeout MS", "per-solver-call limit in milliseconds (default 60000); a call that hits it is "
					 "UNKNOWN, its own verdict"},
			{"--verbose", "print property, vacuity and known-bad details for every obligation"},
		},
	.exit_status = "0 all obligations proved, non-vacuous and refuted under their known-bad variant; 1 some "
		       "obligation failed (or an error); 2 usage error; 3 none failed but the solver gave up on some "
		       "within --timeout (UNKNOWN).",
	.docs = "docs/proofs.md, docs/obligations.md",
};

const CommandHelp run_help = {
	.name = "run",
	.summary = "execute a scenario file on the executable reference",
	.usage = {"SCENARIO|- [--dot FILE] [--trace FILE] [--refine] [--quiet]"},
	.description = "Run the scenario (format: docs/scenarios.md; '-' reads standard input; lines of at most "
		       "1 MiB; time linear in the scenario, with --refine too) on a TDX VM over the simulated TDX "
		       "module or a plain EPT/NPT VM; print each operation with the SEAMCALLs it issued and their "
		       "statuses, then the final page-table trees, S-EPT entries and page ownership.",
	.options =
		{
			{"--dot FILE", "also write the final trees (and the S-EPT) as Graphviz"},
			{"--trace FILE", "also write the run's kernel trace (TDX events of docs/trace-format.md) for "
					 "`arborist conform`"},
			{"--refine", "check root refinement and mirror/S-EPT agreement after every operation"},
			{"--quiet", "print only failures and the result line"},
		},
	.exit_status = "0 ok; 1 a failed expect, an unexpected KVM bug, a refinement violation or a --dot/--trace "
		       "file not written; 2 usage error, unreadable or malformed scenario (\"FILE:LINE: field "
		       "'KEY': ...\").",
	.docs = "docs/scenarios.md, scenarios/",
};

const CommandHelp check_help = {
	.name = "check",
	.summary = "model-check a named concurrent configuration",
	.usage = {"NAME... | --all [--skip-deep] | --list [--json] [--dot FILE] [--emit-promela FILE] [--no-symmetry] "
		  "[--no-por] [--no-termination] [--max-states N]"},
	.description = "Explore every interleaving of the configuration's threads breadth first (root puts, mirror "
		       "writes and removal, split, teardown; v6.19 baselines and the variants that break them); "
		       "print the verdict (a property broken, with the shortest counterexample, or none), states, "
		       "transitions and states/s.  A NAME ending in .mc or with a '/' is a configuration file.",
	.options =
		{
			{"--all", "every configuration; exit 0 iff each gives its recorded verdict"},
			{"--skip-deep", "with --all: without the configurations of tier deep"},
			{"--list", "list the configurations"},
			{"--json", "one JSON document on stdout (docs/model-checking.md)"},
			{"--dot FILE", "the counterexample as a Graphviz sequence chart"},
			{"--emit-promela FILE", "write the configuration as a Promela model for SPIN"},
			{"--no-symmetry", "turn off symmetry reduction"},
			{"--no-por", "turn off partial-order reduction"},
			{"--no-termination", "skip the termination check (every task can finish, under a fair scheduler)"},
			{"--max-states N", "stop exploring after N states (default 50000000): the verdict is then incomplete"},
		},
	.exit_status = "0 every configuration gave its recorded verdict; 1 otherwise; 2 usage error or a file not "
		       "written.",
	.docs = "docs/model-checking.md",
};

const CommandHelp capture_help = {
	.name = "capture",
	.summary = "boot a kernel under QEMU, trace its TDP MMU, check it",
	.usage = {"(--kernel IMAGE --modules DIR | --deb PKG.deb | --debian [6.1|6.12] [--patch FILE]... [--rebuild]) "
		  "[--out DIR] [--check] [OPTIONS]",
		  "--trace FILE [--profile P]"},
	.description = "Boot a kernel under QEMU (-accel tcg -cpu qemu64,+svm,+npt: nested AMD SVM with NPT, never "
		       "the host's /dev/kvm), run the arborist workload on its KVM with the kvmmmu tracepoints on, "
		       "and write the trace DIR/trace.txt; --check gives a verdict per workload phase.\n\n"
		       "Besides the trace, DIR gets formats.txt (the guest's events/kvmmmu/*/format) and "
		       "capture-facts.txt (kernel release, package, trace clock, QEMU version, CPUs).",
	.options =
		{
			{"--kernel IMAGE", "a bzImage (with --modules)"},
			{"--modules DIR", "a directory holding kvm-amd.ko and its dependencies somewhere below it "
					  "(/lib/modules/VERSION, a make modules_install INSTALL_MOD_PATH= tree, or the "
					  "kernel build tree itself); .ko, .ko.xz and .ko.zst"},
			{"--deb PKG.deb", "a Debian linux-image-* package (unpacked, not installed)"},
			{"--debian [SERIES]", "fetch the newest Debian 12 kernel of SERIES with apt-get download into "
					      "--cache DIR: 6.1 (default): linux-image-6.1.0-N-amd64, 6.12: "
					      "linux-image-6.12.N+deb12-amd64; a package already there is reused"},
			{"--patch FILE", "with --debian SERIES: the same kernel image with kvm.ko and kvm-amd.ko rebuilt "
					 "from Debian's own source of that image (linux-source-SERIES, same version) with "
					 "the patch applied; repeat for a series, applied in order (docs/capture.md, "
					 "\"Testing a patch\")"},
			{"--rebuild", "with --debian: rebuild kvm.ko and kvm-amd.ko from Debian's source without a patch "
				      "(what --patch compares against)"},
			{"--out DIR", "where everything goes (default ./capture): trace.txt, formats.txt (the guest's "
				      "events/kvmmmu/*/format), capture-facts.txt (kernel release, package and version, trace "
				      "clock, QEMU version, CPUs), console.txt (the guest console), initramfs.cpio.gz, "
				      "qemu-command.txt, qemu.log"},
			{"--check", "replay the trace through the conformance library (check_trace(), conform/check.hpp) "
				    "in one pass and print one verdict per workload phase"},
			{"--trace FILE", "do not boot: check this earlier capture (implies --check)"},
			{"--profile P", "the conform profile (default: inferred)"},
			{"--debian-package NAME", "with --debian: fetch the package NAME instead of the newest of the series"},
			{"--trace-clock CLOCK", "the guest's ftrace clock, one of its /sys/kernel/tracing/trace_clock "
						"(local, global, mono, x86-tsc, counter, ...); default: the kernel's own "
						"choice, local, or global when its sched_clock is unstable (Debian's 6.1 "
						"under TCG); recorded in DIR/capture-facts.txt"},
			{"--cache DIR", "with --debian: download directory (default ./arborist-cache); with --patch also "
					"the prepared source tree and the KVM build, reused by the next run"},
			{"--timeout S", "give up on the guest after S seconds (default 900)"},
			{"--memory MB", "guest memory (default 1024)"},
			{"--buffer-kb KB", "per-CPU ftrace ring buffer in the guest (default 32768)"},
			{"--qemu PATH", "the QEMU binary (default qemu-system-x86_64)"},
			{"--workload FILE", "the static workload program (default: the one built with arborist)"},
		},
	.exit_status = "0 captured, and with --check every phase accepted; 1 some violation; 2 bad input, a patch "
		       "that does not apply or does not compile (with patch's or the compiler's message), a failed "
		       "boot or capture, or a trace that is not a complete capture of the workload.",
	.docs = "docs/capture.md, tools/capture/",
};

const CommandHelp bench_teardown_help = {
	.name = "bench teardown",
	.summary = "fault in and destroy a TD; pages/s, or the teardown cost model",
	.usage = {"[--pages N | --gib G] [--variant dynamic|deferred|both]", "--model [--scale S] [--json]"},
	.description = "Fault in N private 4K pages (or G GiB, up to 128; 107 is the published 32-vCPU row) of a TD "
		       "through the simulated TDX module (default 1048576, a 4 GiB TD), tear it down; per phase print "
		       "pages, SEAMCALLs, seconds, peak RSS and bytes per page, and the SEAMCALL counts by leaf, for "
		       "each teardown variant (default both); exit 1 if a count differs from what the pages need.\n\n"
		       "With --model: the cost model of the published teardown times (4, 32, 64 vCPUs): the "
		       "reference's SEAMCALLs, kicks and kernel work per page (each row run at 1/S of its size) "
		       "priced by per-event costs fitted to the first row; each row's measured and predicted times, "
		       "errors, and what the model does not explain.",
	.options =
		{
			{"--pages N", "private 4K pages to fault in (default 1048576)"},
			{"--gib G", "fault in G GiB instead (1 to 128; not with --pages or --model)"},
			{"--variant V", "dynamic (v6.19), deferred (the removal deferred to TD teardown) or both (default)"},
			{"--model", "the cost model instead of a timed run"},
			{"--scale S", "with --model: run each row at 1/S of its size (default 1024)"},
			{"--json", "with --model: one JSON document on stdout"},
		},
	.exit_status = "",
	.docs = "docs/impl.md, docs/teardown.md",
};

const CommandHelp bench_check_help = {
	.name = "bench check",
	.summary = "states/s of arborist's model checker and of SPIN",
	.usage = {"[--iterators N] [--variant v6.19|dec-and-test]"},
	.description = "States/s of arborist's model checker and of SPIN on the same root-lifecycle configuration "
		       "with N iterator tasks (default 4), both without reductions; the reachable-state counts must "
		       "agree (exit 1 otherwise).",
	.options =
		{
			{"--iterators N", "iterator tasks, 0 to 6 (default 4)"},
			{"--variant V", "v6.19 (default) or dec-and-test (the root put of the variant that breaks it)"},
		},
	.exit_status = "",
	.docs = "docs/model-checking.md",
};

const CommandHelp version_help = {
	.name = "version",
	.summary = "print the arborist, Z3 and Boost versions",
	.usage = {""},
	.description = "Print the arborist, Z3 and Boost versions.",
	.options = {},
	.exit_status = "",
	.docs = "",
};

const CommandHelp help_help = {
	.name = "help",
	.summary = "print the usage of every command, or of one",
	.usage = {"[CMD]", "--markdown [--usage] [CMD]"},
	.description = "Print the usage of every command, or of CMD; `arborist CMD --help` is `arborist help CMD`.",
	.options =
		{
			{"--markdown", "CMD's usage as a Markdown code block and its options as a table; without CMD, "
				       "the table of every command (the generated blocks of README.md and docs/)"},
			{"--usage", "with --markdown: only the usage block"},
		},
	.exit_status = "",
	.docs = "",
};

constexpr std::string_view kGeneral =
	"Every command exits 2 when its standard output or standard error could not be written (a full disk, a "
	"closed pipe): the report is incomplete.  With --json, prove and check print exactly one JSON document "
	"on stdout, usage errors included; text diagnostics go to stderr.";

} // namespace

const std::vector<const CommandHelp*>& command_table()
{
	static const std::vector<const CommandHelp*> table = {
		&prove_help,	      &check_help,	  &conform::conform_help, &capture_help, &run_help,
		&bench_teardown_help, &bench_check_help, &version_help,	  &help_help,
	};
	return table;
}

std::vector<const CommandHelp*> find_commands(std::string_view name)
{
	std::vector<const CommandHelp*> found;
	for (const CommandHelp* c : command_table())
		if (c->name == name || (c->name.starts_with(name) && c->name.size() > name.size() &&
					c->name[name.size()] == ' '))
			found.push_back(c);
	return found;
}

const CommandHelp& command_help(std::string_view name)
{
	for (const CommandHelp* c : command_table())
		if (c->name == name)
			return *c;
	throw std::logic_error("no command " + std::string(name) + " in cli/commands.cpp");
}

void print_help_all(std::ostream& out)
{
	out << "usage: arborist COMMAND [OPTIONS]\n       arborist COMMAND --help\n\ncommands:\n";
	std::size_t w = 0;
	for (const CommandHelp* c : command_table())
		w = std::max(w, c->name.size());
	for (const CommandHelp* c : command_table())
		out << "  " << c->name << std::string(w + 2 - c->name.size(), ' ') << c->summary << "\n";
	for (const CommandHelp* c : command_table())
		out << "\n" << support::help_text(kTool, *c);
	out << "\n" << support::help_detail::paragraphs(kGeneral, 0);
}

bool print_help(std::string_view name, std::ostream& out)
{
	const std::vector<const CommandHelp*> found = find_commands(name);
	for (std::size_t i = 0; i < found.size(); i++)
		out << (i ? "\n" : "") << support::help_text(kTool, *found[i]);
	return !found.empty();
}

bool print_help_markdown(std::string_view name, bool usage_only, std::ostream& out)
{
	if (name.empty()) {
		using support::help_detail::cell;
		out << "| command | what | docs |\n|---|---|---|\n";
		for (const CommandHelp* c : command_table()) {
			std::string usage;
			for (const std::string_view u : c->usage)
				usage += (usage.empty() ? "`" : "<br>`") + cell(support::usage_line(kTool, *c, u)) + "`";
			std::string docs;
			for (std::string_view d = c->docs; !d.empty();) {
				const std::size_t comma = d.find(", ");
				docs += (docs.empty() ? "`" : ", `") + std::string(d.substr(0, comma)) + "`";
				d = comma == std::string_view::npos ? std::string_view{} : d.substr(comma + 2);
			}
			// What it does: the description's first paragraph, else the summary.
			const std::string_view what = c->description.empty() ? c->summary
									      : c->description.substr(0, c->description.find("\n\n"));
			out << "| " << usage << " | " << cell(what) << " | " << docs << " |\n";
		}
		return true;
	}
	const std::vector<const CommandHelp*> found = find_commands(name);
	for (std::size_t i = 0; i < found.size(); i++)
		out << (i ? "\n" : "") << support::help_markdown(kTool, *found[i], usage_only);
	return !found.empty();
}

std::string usage_message(std::string_view cmd, const std::string& what)
{
	const std::string c = cmd.empty() ? std::string(kTool) : std::string(kTool) + " " + std::string(cmd);
	return c + ": " + what + "\n(run '" + c + (cmd.empty() ? " help" : " --help") + "' for usage)\n";
}

} // namespace arborist::cli
