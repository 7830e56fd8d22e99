// SPDX-License-Identifier: GPL-2.0-only
//
// `arborist bench teardown`: fault in a TD of N private 4K pages through the
// simulated TDX module, then destroy it, once per teardown variant (v6.19
// dynamic removal; seed 004's removal deferred to TD_TEARDOWN), and print
// per phase the pages, SEAMCALLs, seconds, peak memory and bytes per page,
// and the SEAMCALL counts by leaf.  The counts are checked against what
// each page needs (one AUG per page and one SEPT.ADD per S-EPT page to fault
// in; per variant, the removal leaves or the RECLAIMs of every page) so
// that a short run in CI verifies the full-size run's work, not its time.
#include "bench.hpp"

#include <sys/resource.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <chrono>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "arborist/impl/td_vm.hpp"

namespace arborist::cli {

namespace {

using spec::u64;
using impl::TdVm;
using impl::TdVmOptions;
using impl::TdxVariants;
using tdx_abi::Leaf;

// Wall-clock and CPU (user + system) time since a start: on a shared machine
// the CPU time is the figure that does not depend on the other processes.
struct Clock {
	std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
	double cpu = cpu_seconds();

	static double cpu_seconds()
	{
		struct rusage ru{};
		getrusage(RUSAGE_SELF, &ru);
		const auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
		return s(ru.ru_utime) + s(ru.ru_stime);
	}
	double wall_since() const
	{
		return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
	}
	double cpu_since() const { return cpu_seconds() - cpu; }
};

// Resident memory in KiB: the current size and the peak since the last
// reset_peak(), from /proc/self/status (VmRSS, VmHWM).  Without /proc the
// peak is getrusage()'s, which is the whole process's and cannot be reset.
struct Rss {
	long now_kb = 0;
	long peak_kb = 0;
	bool per_phase = false; // the peak is since the phase began
};

long status_field_kb(const std::string& status, const char* field)
{
	const std::size_t at = status.find(field);
	if (at == std::string::npos)
		return -1;
	return std::strtol(status.c_str() + at + std::char_traits<char>::length(field), nullptr, 10);
}

Rss read_rss()
{
	Rss r;
	std::ifstream f("/proc/self/status");
	std::stringstream s;
	s << f.rdbuf();
	r.now_kb = status_field_kb(s.str(), "VmRSS:");
	r.peak_kb = status_field_kb(s.str(), "VmHWM:");
	r.per_phase = r.now_kb >= 0 && r.peak_kb >= 0;
	if (!r.per_phase) {
		struct rusage ru{};
		getrusage(RUSAGE_SELF, &ru);
		r.peak_kb = ru.ru_maxrss;
		r.now_kb = std::max(r.now_kb, 0L);
	}
	return r;
}

// Restart VmHWM at the current RSS (Linux 4.0+: "5" in clear_refs), and
// give the allocator's free memory back first, so that one phase's or
// variant's peak is not another's.
void reset_peak()
{
#if defined(__GLIBC__)
	malloc_trim(0);
#endif
	std::ofstream("/proc/self/clear_refs") << "5\n";
}

struct Phase {
	const char* name;
	u64 pages;
	u64 seamcalls;
	double seconds;
	double cpu_seconds;
	Rss rss;
};

void print_phase(const Phase& p, long base_kb, std::ostream& out)
{
	const double bytes = static_cast<double>(p.rss.peak_kb - base_kb) * 1024.0 / static_cast<double>(p.pages);
	out << "  " << std::left << std::setw(10) << p.name << std::right << p.pages << " pages, " << p.seamcalls
	    << " SEAMCALLs, " << std::fixed << std::setprecision(2) << p.seconds << " s ("
	    << std::setprecision(0) << static_cast<double>(p.pages) / p.seconds << " pages/s; CPU "
	    << std::setprecision(2) << p.cpu_seconds << " s), peak RSS "
	    << p.rss.peak_kb / 1024 << " MiB" << (p.rss.per_phase ? "" : " (whole process)") << ", "
	    << std::setprecision(1) << bytes << " bytes/page\n";
}

struct Leaves {
	Leaf leaf;
	const char* name;
};
constexpr Leaves kLeaves[] = {
	{Leaf::TDH_MEM_SEPT_ADD, "SEPT.ADD"},       {Leaf::TDH_MEM_PAGE_AUG, "PAGE.AUG"},
	{Leaf::TDH_MEM_RANGE_BLOCK, "RANGE.BLOCK"}, {Leaf::TDH_MEM_TRACK, "TRACK"},
	{Leaf::TDH_MEM_PAGE_REMOVE, "PAGE.REMOVE"}, {Leaf::TDH_PHYMEM_PAGE_WBINVD, "PAGE.WBINVD"},
	{Leaf::TDH_VP_FLUSH, "VP.FLUSH"},           {Leaf::TDH_MNG_VPFLUSHDONE, "VPFLUSHDONE"},
	{Leaf::TDH_PHYMEM_CACHE_WB, "CACHE.WB"},     {Leaf::TDH_MNG_KEY_FREEID, "KEY.FREEID"},
	{Leaf::TDH_PHYMEM_PAGE_RECLAIM, "RECLAIM"},
};

const char* leaf_label(Leaf leaf)
{
	for (const auto& l : kLeaves)
		if (l.leaf == leaf)
			return l.name;
	return "?";
}

// One expected count: what the SEAMCALLs of a phase must add up to.
struct Expect {
	Leaf leaf;
	u64 want;
};

// The leaf counts a phase must show; every mismatch is named on err.
bool check_counts(const char* phase, const hw::SimModule& m, const std::vector<Expect>& want, std::ostream& err)
{
	bool ok = true;
	for (const Expect& e : want)
		if (m.calls(e.leaf) != e.want) {
			err << "arborist bench teardown: " << phase << ": " << m.calls(e.leaf) << " " << leaf_label(e.leaf)
			    << ", expected " << e.want << "\n";
			ok = false;
		}
	return ok;
}

int run_variant(const char* name, TdxVariants::Teardown t, u64 pages, std::ostream& out, std::ostream& err)
{
	const bool dynamic = t == TdxVariants::Teardown::dynamic_v6_19;
	reset_peak();
	const long base_kb = read_rss().now_kb;
	TdVmOptions o;
	o.tdx_variants.teardown = t;
	o.tdmr_pages = pages + pages / 256 + 4096; // private pages, S-EPT pages, control pages
	o.log_events = false;
	TdVm vm(o);
	if (!vm.create() || !vm.finalize()) {
		err << "arborist bench teardown: could not build the TD\n";
		return 1;
	}
	// Only the fault-in's SEAMCALLs: the TD's build is not counted.
	vm.module().reset_calls();
	const u64 septs_before = vm.module().sept_pages();
	const Clock t0;
	for (u64 g = 0; g < pages; g++)
		if (vm.fault(0, g << spec::PAGE_SHIFT) != impl::RET_PF_FIXED) {
			err << "arborist bench teardown: fault on gfn " << g << " failed\n";
			return 1;
		}
	const Phase fault{"fault-in", pages, vm.module().total_calls(), t0.wall_since(), t0.cpu_since(), read_rss()};
	// Every private page mapped once (AUG), every S-EPT page the TD gained
	// linked once (SEPT.ADD): nothing else runs.
	const u64 septs = vm.module().sept_pages() - septs_before;
	bool ok = vm.mmu().mapped_leaves(1) == pages &&
		  check_counts("fault-in", vm.module(),
			       {{Leaf::TDH_MEM_PAGE_AUG, pages}, {Leaf::TDH_MEM_SEPT_ADD, septs}}, err) &&
		  fault.seamcalls == pages + septs;
	if (!ok)
		err << "arborist bench teardown: fault-in of " << pages << " pages did not map each page once\n";

	// The S-EPT pages the teardown RECLAIMs: all but the root, which is a
	// TDCS page and goes with the control pages.
	const u64 sept_reclaims = vm.module().sept_pages() - 1;
	vm.module().reset_calls();
	reset_peak();
	const Clock t1;
	const bool destroyed = vm.destroy();
	const Phase teardown{"teardown", pages, vm.module().total_calls(), t1.wall_since(), t1.cpu_since(), read_rss()};
	if (!destroyed || vm.tdx().vm_bugged() || vm.mmu().bugs() != 0 || vm.pages().free_count() != vm.pages().count() ||
	    vm.mmu().mapped_leaves(1) != 0) {
		err << "arborist bench teardown: teardown did not return every page to the host\n";
		ok = false;
	}
	// Per private page: BLOCK, TRACK, REMOVE and PAGE.WBINVD (dynamic) or
	// one RECLAIM (deferred); the TDR's PAGE.WBINVD once; a RECLAIM for
	// every S-EPT page and every control page (reclaim_control_pages()).
	const u64 control = 1 + hw::sim::MIN_NUM_TDCS_PAGES + o.nr_vcpus;
	const u64 removal = dynamic ? pages : 0;
	ok = check_counts("teardown", vm.module(),
			  {{Leaf::TDH_MEM_RANGE_BLOCK, removal},
			   {Leaf::TDH_MEM_TRACK, removal},
			   {Leaf::TDH_MEM_PAGE_REMOVE, removal},
			   {Leaf::TDH_PHYMEM_PAGE_WBINVD, removal + 1},
			   {Leaf::TDH_PHYMEM_PAGE_RECLAIM, (dynamic ? 0 : pages) + sept_reclaims + control}},
			  err) &&
	     ok;

	out << name << ": " << pages << " private 4K pages (" << (pages * 4096 >> 20) << " MiB)\n";
	print_phase(fault, base_kb, out);
	print_phase(teardown, base_kb, out);
	out << "  teardown SEAMCALLs by leaf:";
	for (const auto& l : kLeaves)
		if (const u64 n = vm.module().calls(l.leaf))
			out << " " << l.name << "=" << n;
	out << "\n  counts " << (ok ? "as expected" : "WRONG") << ": fault-in PAGE.AUG=pages, SEPT.ADD=" << septs
	    << " S-EPT pages; teardown "
	    << (dynamic ? "BLOCK=TRACK=REMOVE=pages, WBINVD=pages+1, RECLAIM=S-EPT+control pages"
			: "RECLAIM=pages+S-EPT+control pages, WBINVD=1")
	    << "\n";
	return ok ? 0 : 1;
}

} // namespace

int bench_teardown(u64 pages, const std::string& variant, std::ostream& out, std::ostream& err)
{
	int rc = 0;
	if (variant == "dynamic" || variant == "both")
		rc |= run_variant("v6.19 dynamic removal (BLOCK, TRACK, REMOVE, WBINVD)",
				  TdxVariants::Teardown::dynamic_v6_19, pages, out, err);
	if (variant == "deferred" || variant == "both")
		rc |= run_variant("seed 004 removal deferred to TD_TEARDOWN (RECLAIM)",
				  TdxVariants::Teardown::deferred_to_teardown, pages, out, err);
	return rc;
}

} // namespace arborist::cli
