// SPDX-License-Identifier: GPL-2.0-only
//
// arborist capture (capture.hpp, docs/capture.md).  The boot itself is
// tools/capture/capture.sh (initramfs, QEMU, getting the trace out of the
// guest); this file checks the inputs, runs that script, and replays the
// trace through the conformance library (conform/check.hpp) into one verdict
// per workload phase.
#include "capture.hpp"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "conform/check.hpp"
#include "conform/conform.hpp"
#include "conform/ftrace.hpp"
#include "commands.hpp"
#include "arborist/support/options.hpp"

extern char** environ;

namespace arborist::cli {

namespace {

using conform::u64;

bool is_file(const std::string& p)
{
	struct stat st {};
	return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& p)
{
	struct stat st {};
	return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Run argv with our stdout/stderr; the exit status, or 128+signal.
int run(const std::vector<std::string>& argv, std::ostream& err)
{
	std::vector<char*> args;
	for (const std::string& a : argv)
		args.push_back(const_cast<char*>(a.c_str()));
	args.push_back(nullptr);
	std::cout.flush();
	std::cerr.flush();
	pid_t pid = 0;
	const int e = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
	if (e != 0) {
		err << "arborist capture: cannot run " << argv[0] << ": " << std::strerror(e) << "\n";
		return 127;
	}
	int ws = 0;
	while (::waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFSIGNALED(ws)) {
		err << "arborist capture: " << argv[0] << " was killed by signal " << WTERMSIG(ws) << "\n";
		return 128 + WTERMSIG(ws);
	}
	return WEXITSTATUS(ws);
}

// Run argv and return its stdout (its stderr goes to ours).
int run_capture_stdout(const std::vector<std::string>& argv, std::string& output, std::ostream& err)
{
	int fds[2];
	if (::pipe(fds) != 0) {
		err << "arborist capture: pipe: " << std::strerror(errno) << "\n";
		return 127;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	std::vector<char*> args;
	for (const std::string& a : argv)
		args.push_back(const_cast<char*>(a.c_str()));
	args.push_back(nullptr);
	std::cout.flush();
	pid_t pid = 0;
	const int e = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
	posix_spawn_file_actions_destroy(&fa);
	::close(fds[1]);
	if (e != 0) {
		::close(fds[0]);
		err << "arborist capture: cannot run " << argv[0] << ": " << std::strerror(e) << "\n";
		return 127;
	}
	char buf[4096];
	ssize_t n;
	while ((n = ::read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			output.append(buf, static_cast<std::size_t>(n));
	::close(fds[0]);
	int ws = 0;
	while (::waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int bad_input(std::ostream& err, const std::string& what)
{
	err << "arborist capture: " << what << "\n";
	return 2;
}

// The Debian 12 kernel series that --debian knows (fetch-debian-kernel.sh
// has the package name pattern of each).
constexpr const char* DEBIAN_SERIES[] = {"6.1", "6.12"};

// What capture() takes, plus the options that CaptureOptions predates.
struct Request {
	CaptureOptions o;
	std::string series = "6.1";  // --debian SERIES
	bool series_given = false;
	std::string trace_clock;     // --trace-clock; empty = the kernel's choice
	std::vector<std::string> patches; // --patch, in order
	bool rebuild = false;        // --rebuild, or implied by --patch
};

// A clock name goes into the guest's /arborist.conf (a shell file), so only
// a word is let through; the guest checks it against its own trace_clock.
bool clock_name_ok(const std::string& c)
{
	if (c.empty())
		return false;
	for (const char ch : c)
		if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_')
			return false;
	return true;
}

int capture_request(const Request& r, std::ostream& out, std::ostream& err);

// ---- the per-phase verdict ---------------------------------------------------------

struct Phase {
	std::string name;
	u64 line = 0; // of its marker; 0 for the lines before the first marker
	u64 events = 0, spte_changed = 0;
	u64 violations = 0;
};

struct ShownViolation {
	u64 line;
	std::string phase;
	std::string_view kind;
	std::string message;
};

constexpr std::string_view PHASE_MARK = "arborist-phase: ";
constexpr std::string_view DONE_MARK = "arborist-done: ";
constexpr std::size_t SHOWN = 20; // violations listed under the table

std::string_view trim(std::string_view s)
{
	while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t'))
		s.remove_suffix(1);
	while (!s.empty() && s.front() == ' ')
		s.remove_prefix(1);
	return s;
}

// The phases of a capture, seen as the replay reads the trace: each
// "arborist-phase: NAME" marker opens one and owns every event up to the
// next marker; a violation belongs to the phase of its line (the replay
// may report it a little later, after the next marker, so the phase is
// looked up by line).
class PhaseObserver final : public conform::CheckObserver {
public:
	PhaseObserver() { phases.push_back(Phase{"(before the first phase)", 0, 0, 0, 0}); }

	void line(const conform::TraceLine& tl, const conform::Where& w) override
	{
		if (tl.kind != conform::LineKind::event)
			return;
		if (tl.event == "tracing_mark_write") {
			const std::string_view p = trim(tl.payload);
			if (p.starts_with(PHASE_MARK)) {
				phases.push_back(Phase{std::string(p.substr(PHASE_MARK.size())), w.line, 0, 0, 0});
				return;
			}
			if (p.starts_with(DONE_MARK)) {
				done = std::strtol(std::string(p.substr(DONE_MARK.size())).c_str(), nullptr, 10);
				return;
			}
		}
		Phase& ph = phases.back();
		ph.events++;
		if (conform::classify_event(tl.event) == conform::EventId::tdp_mmu_spte_changed)
			ph.spte_changed++;
	}

	void violation(const conform::Violation& v) override
	{
		Phase& ph = phase_of(v.line);
		ph.violations++;
		total++;
		if (shown.size() < SHOWN)
			shown.push_back(ShownViolation{v.line, ph.name, v.kind, v.message});
	}

	Phase& phase_of(u64 line)
	{
		std::size_t i = phases.size() - 1;
		while (i > 0 && phases[i].line >= line)
			i--;
		return phases[i];
	}

	std::vector<Phase> phases;
	std::vector<ShownViolation> shown;
	u64 total = 0;
	long done = -1; // the N of "arborist-done: N phases", -1 when absent
};

void print_table(const std::vector<Phase>& phases, std::ostream& out)
{
	std::size_t width = 5;
	for (const Phase& p : phases)
		width = std::max(width, p.name.size());
	out << "  " << std::left << std::setw(static_cast<int>(width)) << "phase" << std::right << std::setw(9)
	    << "events" << std::setw(14) << "spte_changed" << std::setw(12) << "violations"
	    << "  verdict\n";
	for (std::size_t i = 0; i < phases.size(); i++) {
		const Phase& p = phases[i];
		if (i == 0 && p.events == 0 && p.violations == 0)
			continue; // nothing before the first marker
		out << "  " << std::left << std::setw(static_cast<int>(width)) << p.name << std::right << std::setw(9)
		    << p.events << std::setw(14) << p.spte_changed << std::setw(12) << p.violations << "  "
		    << (p.violations == 0 ? "ok" : "VIOLATION") << "\n";
	}
}

} // namespace

// The trace goes through the conformance checker's library (conform/check.hpp)
// once: the observer counts the phases as the lines go by and files each
// violation under its phase.
int check_capture(const std::string& trace, const std::string& profile, std::ostream& out, std::ostream& err)
{
	conform::CheckOptions co;
	if (!profile.empty()) {
		co.profile = conform::find_profile(profile);
		if (!co.profile)
			return bad_input(err, "--profile: expected one of " + conform::profile_names() + ", got '" + profile + "'");
	}
	PhaseObserver obs;
	conform::CheckOutcome result;
	try {
		std::vector<conform::TraceInput> inputs;
		inputs.push_back(conform::open_input(trace));
		result = conform::check_trace(inputs, co, obs);
	} catch (const std::exception& e) {
		return bad_input(err, std::string(e.what()) + " (arborist conform could not check the trace)");
	}
	const conform::Stats& st = result.stats;
	const std::size_t nphases = obs.phases.size() - 1;
	out << "arborist capture: " << trace << ": arborist conform, profile " << result.profile->name << " ("
	    << result.how << "): " << st.lines << " lines, " << nphases << " phases\n";
	print_table(obs.phases, out);

	if (obs.total) {
		out << "violations" << (obs.total > SHOWN ? " (first " + std::to_string(SHOWN) + ")" : std::string())
		    << "; 'arborist conform " << trace << "' prints each with its rule and history:\n";
		for (const ShownViolation& v : obs.shown)
			out << "  " << trace << ":" << v.line << ": [" << v.phase << "] " << v.kind << ": " << v.message << "\n";
	}

	u64 events = 0, changes = 0;
	for (const Phase& p : obs.phases) {
		events += p.events;
		changes += p.spte_changed;
	}
	std::string incomplete;
	if (nphases == 0)
		incomplete = "no 'arborist-phase:' marker: this is not a capture of the arborist workload "
			     "(check it with 'arborist conform')";
	else if (obs.done < 0)
		incomplete = "no 'arborist-done:' marker: the workload did not finish or the trace is cut short";
	else if (static_cast<std::size_t>(obs.done) != nphases)
		incomplete = "the workload ran " + std::to_string(obs.done) + " phases, the trace has markers of " +
			     std::to_string(nphases);
	else if (st.partial)
		incomplete = "partial trace (" + st.partial_reason + "): " + std::to_string(st.unattributed) +
			     " changes were not checked";
	else if (result.ambiguous)
		incomplete = "the profile is ambiguous (" + result.how + ")";

	out << "arborist capture: " << nphases << " phases, " << events << " events, " << changes
	    << " kvm_tdp_mmu_spte_changed: " << obs.total << (obs.total == 1 ? " violation" : " violations") << ": "
	    << (obs.total ? "REJECTED" : incomplete.empty() ? "ACCEPTED" : "INCOMPLETE") << "\n";
	if (!incomplete.empty()) {
		// The violations of a trace cut short are still violations: what
		// was traced happened.  An ambiguous profile or lost events leave
		// no verdict.
		if (obs.total && obs.done < 0 && nphases > 0 && !st.partial && !result.ambiguous) {
			err << "arborist capture: " << trace << ": " << incomplete << "\n";
			return 1;
		}
		return bad_input(err, trace + ": " + incomplete);
	}
	return obs.total ? 1 : 0;
}

int capture(const CaptureOptions& o, std::ostream& out, std::ostream& err)
{
	Request r;
	r.o = o;
	return capture_request(r, out, err);
}

namespace {

int capture_request(const Request& r, std::ostream& out, std::ostream& err)
{
	const CaptureOptions& o = r.o;
	if (!o.trace.empty()) {
		if (!o.kernel.empty() || !o.modules.empty() || !o.deb.empty() || o.debian || !r.patches.empty() ||
		    r.rebuild)
			return bad_input(err, "--trace checks an earlier capture; it takes no kernel");
		if (!r.trace_clock.empty())
			return bad_input(err, "--trace-clock is a capture option; --trace checks an earlier capture");
		if (!is_file(o.trace))
			return bad_input(err, "--trace " + o.trace + ": no such file");
		return check_capture(o.trace, o.profile, out, err);
	}
	const int kinds = (!o.kernel.empty() || !o.modules.empty()) + !o.deb.empty() + o.debian;
	if (kinds == 0)
		return bad_input(err, "no kernel given: --kernel IMAGE --modules DIR, --deb PACKAGE.deb or --debian "
				      "(run 'arborist capture --help' for usage)");
	if (kinds > 1)
		return bad_input(err, "give one kernel: --kernel/--modules, --deb or --debian");
	if (!o.kernel.empty() || !o.modules.empty()) {
		if (o.kernel.empty())
			return bad_input(err, "--modules given without --kernel IMAGE");
		if (!is_file(o.kernel))
			return bad_input(err, "--kernel " + o.kernel + ": no such file");
		if (o.modules.empty())
			return bad_input(err, "no modules given: --modules DIR (a directory holding kvm.ko and kvm-amd.ko)");
		if (!is_dir(o.modules))
			return bad_input(err, "--modules " + o.modules + ": no such directory");
	}
	if (r.series_given && !o.debian_package.empty())
		return bad_input(err, "give --debian SERIES or --debian-package NAME, not both");
	if (!r.trace_clock.empty() && !clock_name_ok(r.trace_clock))
		return bad_input(err, "--trace-clock '" + r.trace_clock +
				      "': not a clock name (one of the guest's /sys/kernel/tracing/trace_clock, "
				      "e.g. local, global, mono, x86-tsc, counter)");
	if (!o.deb.empty() && !is_file(o.deb))
		return bad_input(err, "--deb " + o.deb + ": no such file");
	const std::string workload = o.workload.empty() ? ARBORIST_WORKLOAD : o.workload;
	if (!is_file(workload))
		return bad_input(err, "the workload " + workload + " does not exist (build the target arborist-workload, "
				      "or give --workload FILE)");

	const bool rebuild = r.rebuild || !r.patches.empty();
	if (rebuild && !o.debian)
		return bad_input(err, std::string(r.patches.empty() ? "--rebuild" : "--patch") +
					      " needs --debian SERIES: the modules are rebuilt from Debian's source of that "
					      "series' image (--kernel/--modules for a kernel built elsewhere)");
	if (rebuild && !o.debian_package.empty())
		return bad_input(err, "--patch and --rebuild choose the image themselves (the newest of the series "
				      "whose source is published); give --debian SERIES without --debian-package");
	for (const std::string& p : r.patches)
		if (!is_file(p))
			return bad_input(err, "--patch " + p + ": no such file");

	std::string deb = o.deb, override_modules;
	if (rebuild) {
		const auto t0 = std::chrono::steady_clock::now();
		std::vector<std::string> build{std::string(ARBORIST_CAPTURE_DIR) + "/build-debian-kvm.sh", "--series",
					       r.series, "--cache", o.cache, "--out", o.out};
		for (const std::string& p : r.patches)
			build.insert(build.end(), {"--patch", p});
		std::string report;
		const int rc = run_capture_stdout(build, report, err);
		if (rc == 3)
			return bad_input(err, "--debian " + r.series + ": the kernel, its source or its Module.symvers "
							"cannot be had here (see above)");
		if (rc != 0)
			return bad_input(err, r.patches.empty() ? "the KVM modules could not be built (see above)"
								: "the patched KVM modules could not be built (see above)");
		std::string prepare_s, build_s;
		std::istringstream lines(report);
		for (std::string key, value; lines >> key >> value;) {
			if (key == "image")
				deb = value;
			else if (key == "modules")
				override_modules = value;
			else if (key == "prepare_s")
				prepare_s = value;
			else if (key == "build_s")
				build_s = value;
		}
		if (deb.empty() || override_modules.empty())
			return bad_input(err, "build-debian-kvm.sh did not name the image and the modules");
		const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		out << "arborist capture: kernel package " << deb << "\n"
		    << "arborist capture: kvm.ko and kvm-amd.ko rebuilt with " << r.patches.size()
		    << (r.patches.size() == 1 ? " patch" : " patches") << " in " << std::fixed << std::setprecision(1)
		    << secs << " s (source tree prepared in " << prepare_s << " s, make M=arch/x86/kvm " << build_s
		    << " s): " << override_modules << "\n";
	}
	const auto start = std::chrono::steady_clock::now();
	if (o.debian && !rebuild) {
		std::vector<std::string> fetch{std::string(ARBORIST_CAPTURE_DIR) + "/fetch-debian-kernel.sh", "--series",
					       r.series, o.cache};
		if (!o.debian_package.empty())
			fetch.push_back(o.debian_package);
		std::string path;
		const int rc = run_capture_stdout(fetch, path, err);
		if (rc != 0)
			return bad_input(err, "--debian " + r.series + ": could not fetch the kernel package (see above)");
		while (!path.empty() && (path.back() == '\n' || path.back() == ' '))
			path.pop_back();
		deb = path.substr(path.find_last_of('\n') == std::string::npos ? 0 : path.find_last_of('\n') + 1);
		out << "arborist capture: kernel package " << deb << "\n";
	}

	std::vector<std::string> argv{std::string(ARBORIST_CAPTURE_DIR) + "/capture.sh", "--workload", workload, "--out",
				      o.out, "--qemu", o.qemu, "--timeout", std::to_string(o.timeout_s), "--memory",
				      std::to_string(o.memory_mb), "--buffer-kb", std::to_string(o.buffer_kb)};
	if (!r.trace_clock.empty())
		argv.insert(argv.end(), {"--trace-clock", r.trace_clock});
	if (!override_modules.empty())
		argv.insert(argv.end(), {"--override-modules", override_modules});
	if (!deb.empty()) {
		argv.insert(argv.end(), {"--deb", deb});
	} else {
		argv.insert(argv.end(), {"--kernel", o.kernel, "--modules", o.modules});
	}
	const int rc = run(argv, err);
	const double secs =
		std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	if (rc != 0) {
		err << "arborist capture: the capture failed after " << std::fixed << std::setprecision(1) << secs
		    << " s (details above; files in " << o.out << ")\n";
		// A guest whose workload failed still sent the trace up to the
		// failure (capture.sh removes any older one first): a violation in
		// it is the verdict, else the failure is.
		if (o.check && is_file(o.out + "/trace.txt")) {
			out << "arborist capture: checking the trace up to the failure\n";
			return check_capture(o.out + "/trace.txt", o.profile, out, err) == 1 ? 1 : 2;
		}
		return 2;
	}
	out << "arborist capture: captured in " << std::fixed << std::setprecision(1) << secs << " s: " << o.out
	    << "/trace.txt\n";
	if (!o.check)
		return 0;
	return check_capture(o.out + "/trace.txt", o.profile, out, err);
}

} // namespace

int capture_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
	for (const std::string& a : args)
		if (a == "-h" || a == "--help") {
			print_help("capture", out);
			return 0;
		}
	Request r;
	CaptureOptions& o = r.o;
	// --debian takes an optional SERIES, which OptionParser cannot say:
	// a word right after it that is not an option is its series.
	std::vector<std::string> rest;
	for (std::size_t i = 0; i < args.size(); i++) {
		rest.push_back(args[i]);
		if (args[i] == "--debian" && i + 1 < args.size() && !args[i + 1].starts_with("-")) {
			if (r.series_given)
				return bad_input(err, "option --debian given twice");
			r.series = args[++i];
			r.series_given = true;
		}
	}
	support::OptionParser p(command_help("capture"));
	p.value("--kernel", o.kernel);
	p.value("--modules", o.modules);
	p.value("--deb", o.deb);
	p.flag("--debian", o.debian);
	p.value("--debian-package", o.debian_package);
	p.value("--cache", o.cache);
	p.value("--out", o.out);
	p.value("--trace", o.trace);
	p.flag("--check", o.check);
	p.value("--profile", o.profile);
	p.value("--qemu", o.qemu);
	p.value("--workload", o.workload);
	p.value("--trace-clock", r.trace_clock);
	p.repeated("--patch", r.patches);
	p.flag("--rebuild", r.rebuild);
	p.number("--timeout", o.timeout_s, 10, 86400);
	p.number("--memory", o.memory_mb, 256, 65536);
	p.number("--buffer-kb", o.buffer_kb, 64, 1u << 22);
	if (const std::string problem = p.parse(rest); !problem.empty()) {
		err << usage_message("capture", problem);
		return 2;
	}
	if (r.series_given) {
		bool known = false;
		for (const char* s : DEBIAN_SERIES)
			known |= r.series == s;
		if (!known)
			return bad_input(err, "--debian " + r.series +
						      ": unknown kernel series (Debian 12 has 6.1 and 6.12; "
						      "--debian-package NAME for any other package)");
	}
	if (!o.debian_package.empty() && !o.debian)
		return bad_input(err, "--debian-package needs --debian");
	return capture_request(r, out, err);
}

} // namespace arborist::cli
