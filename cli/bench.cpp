// SPDX-License-Identifier: GPL-2.0-only
//
// `arborist bench teardown`: fault in a TD of N private 4K pages through the
// simulated TDX module, then destroy it, once per teardown variant (v6.19
// dynamic removal; seed 004's removal deferred to TD_TEARDOWN), and print
// pages/s, peak memory and the SEAMCALL counts by leaf.
#include "bench.hpp"

#include <sys/resource.h>

#include <chrono>
#include <iomanip>
#include <ostream>
#include <string>

#include "arborist/impl/td_vm.hpp"

namespace arborist::cli {

namespace {

using spec::u64;
using impl::TdVm;
using impl::TdVmOptions;
using impl::TdxVariants;

double seconds_since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

long peak_rss_kb()
{
	struct rusage ru{};
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

struct Leaves {
	tdx_abi::Leaf leaf;
	const char* name;
};
constexpr Leaves kLeaves[] = {
	{tdx_abi::Leaf::TDH_MEM_SEPT_ADD, "SEPT.ADD"},       {tdx_abi::Leaf::TDH_MEM_PAGE_AUG, "PAGE.AUG"},
	{tdx_abi::Leaf::TDH_MEM_RANGE_BLOCK, "RANGE.BLOCK"}, {tdx_abi::Leaf::TDH_MEM_TRACK, "TRACK"},
	{tdx_abi::Leaf::TDH_MEM_PAGE_REMOVE, "PAGE.REMOVE"}, {tdx_abi::Leaf::TDH_PHYMEM_PAGE_WBINVD, "PAGE.WBINVD"},
	{tdx_abi::Leaf::TDH_VP_FLUSH, "VP.FLUSH"},           {tdx_abi::Leaf::TDH_MNG_VPFLUSHDONE, "VPFLUSHDONE"},
	{tdx_abi::Leaf::TDH_PHYMEM_CACHE_WB, "CACHE.WB"},     {tdx_abi::Leaf::TDH_MNG_KEY_FREEID, "KEY.FREEID"},
	{tdx_abi::Leaf::TDH_PHYMEM_PAGE_RECLAIM, "RECLAIM"},
};

int run_variant(const char* name, TdxVariants::Teardown t, u64 pages, std::ostream& out, std::ostream& err)
{
	TdVmOptions o;
	o.tdx_variants.teardown = t;
	o.tdmr_pages = pages + pages / 256 + 4096; // private pages, S-EPT pages, control pages
	o.log_events = false;
	TdVm vm(o);
	if (!vm.create() || !vm.finalize()) {
		err << "arborist: bench: could not build the TD\n";
		return 1;
	}
	const auto t0 = std::chrono::steady_clock::now();
	for (u64 g = 0; g < pages; g++)
		if (vm.fault(0, g << spec::PAGE_SHIFT) != impl::RET_PF_FIXED) {
			err << "arborist: bench: fault on gfn " << g << " failed\n";
			return 1;
		}
	const double fault_s = seconds_since(t0);
	const u64 fault_calls = vm.module().total_calls();
	vm.module().reset_calls();
	const auto t1 = std::chrono::steady_clock::now();
	const bool ok = vm.destroy();
	const double teardown_s = seconds_since(t1);
	if (!ok || vm.tdx().vm_bugged() || vm.mmu().bugs() != 0 || vm.pages().free_count() != vm.pages().count()) {
		err << "arborist: bench: teardown did not return every page to the host\n";
		return 1;
	}
	out << std::fixed << std::setprecision(0);
	out << name << ": " << pages << " private 4K pages (" << (pages * 4096 >> 20) << " MiB)\n"
	    << "  fault-in:  " << std::setprecision(2) << fault_s << " s, " << std::setprecision(0)
	    << pages / fault_s << " pages/s, " << fault_calls << " SEAMCALLs\n"
	    << "  teardown:  " << std::setprecision(2) << teardown_s << " s, " << std::setprecision(0)
	    << pages / teardown_s << " pages/s, " << vm.module().total_calls() << " SEAMCALLs\n"
	    << "  teardown SEAMCALLs by leaf:";
	for (const auto& l : kLeaves)
		if (const u64 n = vm.module().calls(l.leaf))
			out << " " << l.name << "=" << n;
	out << "\n  peak RSS so far: " << peak_rss_kb() / 1024 << " MiB\n";
	return 0;
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
				  TdxVariants::Teardown::deferred_seed004, pages, out, err);
	return rc;
}

} // namespace arborist::cli
