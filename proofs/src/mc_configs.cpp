// SPDX-License-Identifier: GPL-2.0-only
//
// The registry of named model-checking configurations and their recorded
// verdicts.  A verdict is what the checker finds; it is recorded here and
// asserted by tests/mc_test.cpp and the cli.check.* tests, so a change to
// the implementation that changes a verdict is noticed.
#include <algorithm>

#include "arborist/mc/configs.hpp"
#include "arborist/mc/root_system.hpp"
#include "arborist/mc/tdx_system.hpp"

namespace arborist::mc {

namespace {

McConfig root_config(std::string name, std::string summary, std::string expected, RootConfig rc)
{
	return {std::move(name), std::move(summary),
		"seed 003 (kvm_tdp_mmu_put_root), Linux v6.19 tdp_mmu.c", std::move(expected),
		[rc](const Options& o) { return check(RootSystem(rc), o); }, [rc] { return root_promela(rc); }};
}

std::vector<McConfig> make_configs()
{
	std::vector<McConfig> v;
	v.push_back(root_config("root.v6.19",
				"v6.19 kvm_tdp_mmu_put_root: a vCPU put, kvm_mmu_zap_all_fast (invalidate, yielding "
				"zap, put of the gifted reference) and two tdp_mmu_next_root iterators, with RCU",
				"pass", {impl::PutRootVariant::v6_19, 2, true}));
	v.push_back(root_config("root.seed003.refcount-dec-not-one",
				"seed 003, first proposal: invalidate and zap inside the put, re-check with "
				"refcount_dec_not_one after the yielding zap, then refcount_set(0); a vCPU put and "
				"two iterators",
				"root.task_drops_foreign_reference",
				{impl::PutRootVariant::seed003_refcount_dec_not_one, 2, false}));
	v.push_back(root_config("root.seed003.dec-and-test",
				"seed 003, Paolo Bonzini's version: refcount_dec_and_test, xchg(invalid), "
				"refcount_set(1), yielding zap, refcount_dec_and_test; a vCPU put and two iterators",
				"pass", {impl::PutRootVariant::seed003_dec_and_test, 2, false}));
	for (McConfig& c : tdx_configs())
		v.push_back(std::move(c));
	return v;
}

} // namespace

const std::vector<McConfig>& mc_configs()
{
	static const std::vector<McConfig> all = make_configs();
	return all;
}

const McConfig* find_mc_config(const std::string& name)
{
	const auto& all = mc_configs();
	auto it = std::find_if(all.begin(), all.end(), [&](const McConfig& c) { return c.name == name; });
	return it == all.end() ? nullptr : &*it;
}

} // namespace arborist::mc
