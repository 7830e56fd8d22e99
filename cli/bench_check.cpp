// SPDX-License-Identifier: GPL-2.0-only
//
// `arborist bench check`: states/s of arborist's model checker and of SPIN
// on the same root-lifecycle configuration (seed 003 / v6.19), scaled by
// the number of identical tdp_mmu_next_root iterators.  Both run without
// reductions (no symmetry, no partial-order reduction, SPIN's pan with
// -DNOREDUCE and spin -o2, see proofs/src/mc_promela.cpp), and without
// arborist's termination check, which SPIN's safety run does not do, so
// both tools store exactly the same states; the counts are printed and must
// agree.  The arborist figure with its reductions is printed as well.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <regex>
#include <sstream>
#include <string>

#include "arborist/mc/configs.hpp"
#include "arborist/mc/root_system.hpp"
#include "bench.hpp"

namespace arborist::cli {

namespace {

struct SpinRun {
	bool ok = false;
	std::string why;
	unsigned long long states = 0;
	double seconds = 0;
	unsigned errors = 0;
};

std::string slurp(const std::filesystem::path& p)
{
	std::ifstream f(p);
	std::stringstream s;
	s << f.rdbuf();
	return s.str();
}

// spin -o2 -a, cc -O2 -DNOREDUCE -DSAFETY, pan: the search time is pan's
// own "elapsed time" (compilation excluded).
SpinRun run_spin(const std::string& promela, std::ostream& err)
{
	SpinRun r;
	char tmpl[] = "/tmp/arborist-spin-XXXXXX";
	if (!mkdtemp(tmpl)) {
		r.why = "cannot create a temporary directory";
		return r;
	}
	const std::filesystem::path dir(tmpl);
	std::ofstream(dir / "model.pml") << promela;
	const std::string cd = "cd '" + dir.string() + "' && ";
	if (std::system((cd + "spin -o2 -a model.pml >spin.log 2>&1").c_str()) != 0) {
		r.why = "spin -a failed (is the Debian package spin installed?): " + slurp(dir / "spin.log");
	} else if (std::system((cd + "cc -O2 -DNOREDUCE -DSAFETY -o pan pan.c >cc.log 2>&1").c_str()) != 0) {
		r.why = "compiling pan.c failed: " + slurp(dir / "cc.log");
	} else {
		std::system((cd + "./pan -m100000 -w26 >pan.log 2>&1").c_str());
		const std::string log = slurp(dir / "pan.log");
		std::smatch m;
		if (std::regex_search(log, m, std::regex(R"((\d+) states, stored)")))
			r.states = std::stoull(m[1]);
		if (std::regex_search(log, m, std::regex(R"(elapsed time ([0-9.e+-]+) seconds)")))
			r.seconds = std::stod(m[1]);
		if (std::regex_search(log, m, std::regex(R"(errors: (\d+))")))
			r.errors = static_cast<unsigned>(std::stoul(m[1]));
		r.ok = r.states > 0;
		if (!r.ok)
			r.why = "could not read pan's output: " + log;
	}
	std::error_code ec;
	std::filesystem::remove_all(dir, ec);
	(void)err;
	return r;
}

double rate(unsigned long long states, double s) { return s > 0 ? static_cast<double>(states) / s : 0; }

} // namespace

int bench_check(unsigned iterators, const std::string& variant, std::ostream& out, std::ostream& err)
{
	mc::RootConfig c;
	if (variant == "v6.19")
		c = {impl::PutRootVariant::v6_19, iterators, true};
	else if (variant == "dec-and-test")
		c = {impl::PutRootVariant::dec_and_test, iterators, false};
	else {
		err << "arborist bench check: unknown --variant '" << variant << "' (v6.19 or dec-and-test)\n";
		return 2;
	}
	out << "root lifecycle, put variant " << variant << ", " << iterators << " iterators\n";
	mc::Options plain;
	plain.symmetry = plain.por = plain.termination = false;
	const mc::Result a = mc::check(mc::RootSystem(c), plain);
	struct rusage ru{};
	getrusage(RUSAGE_SELF, &ru);
	out << std::fixed << std::setprecision(2);
	out << "arborist (no reductions):   " << std::setw(10) << a.states << " states " << std::setw(8) << a.seconds
	    << " s " << std::setw(12) << std::setprecision(0) << rate(a.states, a.seconds) << " states/s, peak RSS "
	    << ru.ru_maxrss / 1024 << " MiB\n"
	    << std::setprecision(2);
	mc::Options reduced;
	reduced.termination = false;
	const mc::Result b = mc::check(mc::RootSystem(c), reduced);
	out << "arborist (symmetry + POR):  " << std::setw(10) << b.states << " states " << std::setw(8) << b.seconds
	    << " s " << std::setw(12) << std::setprecision(0) << rate(b.states, b.seconds) << " states/s\n"
	    << std::setprecision(2);
	const SpinRun s = run_spin(mc::root_promela(c), err);
	if (!s.ok) {
		err << "arborist bench check: SPIN not measured: " << s.why << "\n";
		return 1;
	}
	out << "SPIN " << "(pan -DNOREDUCE):     " << std::setw(10) << s.states << " states " << std::setw(8) << s.seconds
	    << " s " << std::setw(12) << std::setprecision(0) << rate(s.states, s.seconds) << " states/s\n";
	const bool agree = s.states == a.states && (s.errors == 0) == !a.violation;
	out << (agree ? "state counts and verdicts agree" : "MISMATCH between arborist and SPIN") << "\n";
	return agree ? 0 : 1;
}

} // namespace arborist::cli
