// SPDX-License-Identifier: GPL-2.0-only
//
// The incremental refinement checks of `arborist run --refine`
// (RootRefinement, impl/arborist/impl/refinement.hpp; MirrorRefinement,
// impl/arborist/impl/mirror_check.hpp) against the whole-state checks
// they replace: after every operation of random TD and plain-VM runs,
// in every variant, the incremental verdict and the set of disagreeing
// locations must equal what a walk of the whole state finds.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "arborist/impl/mirror_check.hpp"
#include "arborist/impl/refinement.hpp"
#include "arborist/impl/td_vm.hpp"

namespace {

using namespace arborist;
using namespace arborist::impl;
using spec::u64;

// The root check over every page-table slot: the oracle.  (A slot that
// was a root and is now a live non-root table starts a new life: its RCU
// callback as a table is not a root's.)
template <ExternalHooks H>
class WholeRootRefinement {
public:
	explicit WholeRootRefinement(const TdpMmu<H>& mmu) : mmu_(mmu) { pre_ = snapshot(); }
	bool check()
	{
		const std::vector<RootAbs> post = snapshot();
		bool ok = true;
		for (std::size_t i = 0; i < post.size(); i++) {
			RootAbs pre = i < pre_.size() ? pre_[i] : spec::root_initial(spec::concrete);
			if (pre.freed && !post[i].freed)
				pre = spec::root_initial(spec::concrete);
			ok = ok && root_invariants(post[i]) && root_steps_reach(pre, post[i]);
		}
		pre_ = post;
		return ok;
	}

private:
	std::vector<RootAbs> snapshot()
	{
		std::vector<RootAbs> out;
		const auto& pt = mmu_.tables();
		was_root_.resize(std::max(was_root_.size(), pt.capacity()), false);
		for (u32 sp = 0; sp < pt.capacity(); sp++) {
			if (pt[sp].state != SpState::freed)
				was_root_[sp] = pt[sp].root;
			out.push_back(abstract_root(mmu_, sp, was_root_[sp]));
		}
		return out;
	}
	const TdpMmu<H>& mmu_;
	std::vector<RootAbs> pre_;
	std::vector<bool> was_root_;
};

std::map<MirrorRefinement::Location, std::string> whole_mirror_problems(const TdVm& vm, u32 root)
{
	std::map<MirrorRefinement::Location, std::string> out;
	if (root == NO_SP)
		return out;
	MirrorCheck stats;
	for_each_mirror_problem(vm, root, stats, [&](u64 gfn, unsigned level, std::string why) {
		out.try_emplace({gfn, level}, std::move(why));
	});
	EXPECT_EQ(out.empty(), check_mirror_agrees(vm, root).ok);
	return out;
}

// The mirror root `arborist run --refine` checks: vCPU 0's, else a valid one.
u32 checked_mirror_root(const TdVm& vm)
{
	const auto& pt = vm.mmu().tables();
	const auto live = [&](u32 r) { return r != NO_SP && r < pt.capacity() && pt[r].state != SpState::freed; };
	if (live(vm.roots(0).mirror))
		return vm.roots(0).mirror;
	for (const u32 r : vm.mmu().roots())
		if (pt[r].mirror && !pt[r].invalid)
			return r;
	return NO_SP;
}

struct TdCase {
	TdVmOptions o;
	bool trace = true;
	const char* name;
};

TdVmOptions td_options(Variants v, TdxVariants t, unsigned vcpus = 2)
{
	TdVmOptions o;
	o.nr_vcpus = vcpus;
	o.tdmr_pages = 1 << 14;
	o.variants = v;
	o.tdx_variants = t;
	return o;
}

std::vector<TdCase> td_cases()
{
	Variants rcu;
	rcu.removal = Variants::Removal::rcu_deferred;
	Variants seamcall_first;
	seamcall_first.mirror_write = Variants::MirrorWrite::seamcall_then_cmpxchg;
	TdxVariants huge_tdx;
	huge_tdx.private_huge_pages = true;
	TdxVariants deferred;
	deferred.teardown = TdxVariants::Teardown::deferred_to_teardown;
	TdVmOptions resched = td_options({}, {});
	resched.resched_every = 3;
	return {{td_options({}, {}), true, "v6.19"},
		{td_options({}, {}), false, "v6.19 without the call trace"},
		{td_options(rcu, {}), true, "rcu-deferred removal"},
		{td_options(seamcall_first, {}), true, "seamcall-first mirror write"},
		{td_options({}, huge_tdx), true, "private huge pages"},
		{td_options({}, deferred), true, "deferred teardown"},
		{resched, true, "resched"}};
}

TEST(IncrementalRefinement, TdRunsAgreeWithWholeStateChecks)
{
	unsigned disagreeing = 0, steps = 0; // the runs must reach states where the two disagree
	for (const TdCase& c : td_cases()) {
		for (unsigned seed = 1; seed <= 12; seed++) {
			SCOPED_TRACE(std::string(c.name) + ", seed " + std::to_string(seed));
			std::mt19937_64 rng(seed);
			const auto pick = [&](u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng); };
			TdVm vm(c.o);
			vm.module().trace_enabled = c.trace;
			ASSERT_TRUE(vm.create());
			RootRefinement<SimTdx> roots(vm.mmu());
			WholeRootRefinement<SimTdx> whole_roots(vm.mmu());
			MirrorRefinement mirror(vm);
			bool finalized = false, destroyed = false;
			for (unsigned step = 0; step < 160 && !destroyed; step++) {
				// GFNs in three 2M regions, so operations meet each other.
				const u64 gfn = pick(3) * 512 + pick(4) * (pick(2) ? 1 : 128);
				const unsigned level = c.o.tdx_variants.private_huge_pages && pick(3) == 0 ? 2 : 1;
				const u64 gpa = (level == 2 ? gfn & ~u64{511} : gfn) << spec::PAGE_SHIFT;
				switch (pick(16)) {
				case 0: case 1: case 2: case 3: case 4:
					vm.fault(static_cast<unsigned>(pick(c.o.nr_vcpus)), gpa | (pick(4) == 0 ? vm.shared_bit_gpa() : 0),
						 level);
					break;
				case 5: if (!finalized) finalized = vm.finalize(); break;
				case 6: vm.enter(static_cast<unsigned>(pick(c.o.nr_vcpus))); break;
				case 7: vm.exit(static_cast<unsigned>(pick(c.o.nr_vcpus))); break;
				case 8: vm.unmap(gfn, gfn + 1 + pick(600), pick(2), pick(2)); break;
				case 9: {
					const u32 r = pick(2) ? vm.roots(0).mirror : vm.roots(0).direct;
					if (r != NO_SP && vm.mmu().tables()[r].state != SpState::freed)
						vm.mmu().split_huge_pages(r, 0, 3 * 512, 1, !vm.mmu().tables()[r].mirror);
					break;
				}
				case 10: vm.mmu().invalidate_roots(pick(3) == 0 ? KVM_VALID_ROOTS : KVM_DIRECT_ROOTS); break;
				case 11: vm.mmu().zap_invalidated_roots(false); break;
				case 12: vm.mmu().rcu_barrier(); break;
				case 13: {
					spec::Contention<spec::Concrete> busy{};
					busy.tree = pick(2);
					busy.entry = !busy.tree;
					vm.module().inject_busy = busy;
					break;
				}
				case 14: if (pick(4) == 0) vm.gmem_release(); break;
				case 15: if (pick(8) == 0) { vm.destroy(); destroyed = true; } break;
				}
				const RefinementResult r = roots.check();
				EXPECT_EQ(r.ok, whole_roots.check()) << "step " << step << ": " << r.why;
				const u32 root = checked_mirror_root(vm);
				mirror.check(root);
				const auto whole = whole_mirror_problems(vm, root);
				EXPECT_EQ(mirror.problems(), whole) << "step " << step;
				disagreeing += !whole.empty();
				steps++;
			}
		}
	}
	EXPECT_GT(disagreeing, steps / 20) << "of " << steps << " steps";
	EXPECT_LT(disagreeing, steps) << "of " << steps << " steps";
}

TEST(IncrementalRefinement, PlainRunsAgreeWithWholeStateCheck)
{
	for (const bool log : {true, false}) {
		for (unsigned seed = 1; seed <= 20; seed++) {
			SCOPED_TRACE("log " + std::to_string(log) + ", seed " + std::to_string(seed));
			std::mt19937_64 rng(seed);
			const auto pick = [&](u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng); };
			Config cfg;
			cfg.flavor = spec::ept_v6_19;
			cfg.paging = spec::x86_paging_4level;
			if (seed % 2)
				cfg.variants.removal = Variants::Removal::rcu_deferred;
			NoExternalHooks hooks;
			TdpMmu<NoExternalHooks> mmu(cfg, hooks);
			mmu.log().enabled = log;
			VcpuRoots vcpu;
			RootRefinement<NoExternalHooks> roots(mmu);
			WholeRootRefinement<NoExternalHooks> whole(mmu);
			for (unsigned step = 0; step < 200; step++) {
				const u64 gfn = pick(4) * 512 + pick(8);
				switch (pick(8)) {
				case 0: case 1: case 2: {
					PageFault f;
					f.addr = gfn << spec::PAGE_SHIFT;
					f.goal_level = pick(4) == 0 ? 2 : 1;
					f.pfn = (gfn + 0x10000) & ~((u64{1} << (9 * (f.goal_level - 1))) - 1);
					mmu.page_fault(vcpu, f);
					break;
				}
				case 3: mmu.unmap_gfn_range(gfn, gfn + 1 + pick(1024), KVM_VALID_ROOTS, true, false); break;
				case 4: mmu.invalidate_roots(KVM_VALID_ROOTS); break;
				case 5: mmu.zap_invalidated_roots(pick(2)); break;
				case 6: mmu.rcu_barrier(); break;
				case 7:
					if (vcpu.direct != NO_SP && mmu.tables()[vcpu.direct].state != SpState::freed)
						mmu.split_huge_pages(vcpu.direct, 0, 4 * 512, 1, true);
					break;
				}
				const RefinementResult r = roots.check();
				EXPECT_EQ(r.ok, whole.check()) << "step " << step << ": " << r.why;
			}
		}
	}
}

} // namespace
