// SPDX-License-Identifier: GPL-2.0-only
//
// The obligation engine itself: it must report a false property, a vacuous
// one and one that cannot fail, and the registered table must be complete.
#include <gtest/gtest.h>

#include <set>

#include "arborist/obligation.hpp"
#include "arborist/root.hpp"

namespace {

using namespace arborist;
using proofs::Obligation;
using proofs::Query;
using proofs::Symbolic;
using proofs::Variant;

// x < 10 and x + 1 <= 10, for 64-bit x; the known-bad variant drops the bound.
Obligation make(bool goal_true, bool vacuous, bool bad_fails)
{
	Obligation o;
	o.name = "test.obligation";
	o.kind = "lemma";
	o.source = "engine_test";
	o.statement = "x < 10 implies x + 1 <= 10";
	o.known_bad = "drop_bound";
	o.build = [=](const Symbolic& d, Variant v) {
		const auto x = d.word("x");
		Query q{{}, d.truth(true), {}};
		const bool bad = v == Variant::known_bad && bad_fails;
		if (!bad)
			q.assume.push_back(d.ult(x, d.lit(10)));
		if (vacuous)
			q.assume.push_back(x == d.lit(10));
		q.goal = goal_true ? d.ule(x + d.lit(1), d.lit(10)) : d.ule(x + d.lit(1), d.lit(9));
		return q;
	};
	return o;
}

TEST(Engine, GoodObligationPasses)
{
	const auto r = proofs::discharge(make(true, false, true), 10000);
	EXPECT_TRUE(r.proved);
	EXPECT_TRUE(r.vacuity_ok);
	EXPECT_TRUE(r.bad_refuted);
	EXPECT_TRUE(r.passed());
}

TEST(Engine, FalsePropertyGivesNamedCounterexample)
{
	const auto r = proofs::discharge(make(false, false, true), 10000);
	EXPECT_FALSE(r.proved);
	EXPECT_FALSE(r.passed());
	EXPECT_NE(r.counterexample.find("x = 0x9"), std::string::npos) << r.counterexample;
}

TEST(Engine, VacuousAssumptionsAreReported)
{
	const auto r = proofs::discharge(make(true, true, true), 10000);
	EXPECT_TRUE(r.proved); // anything follows from false ...
	EXPECT_FALSE(r.vacuity_ok); // ... which is exactly what the vacuity check catches
	EXPECT_FALSE(r.passed());
}

TEST(Engine, ObligationThatCannotFailIsReported)
{
	const auto r = proofs::discharge(make(true, false, false), 10000);
	EXPECT_TRUE(r.proved);
	EXPECT_FALSE(r.bad_refuted);
	EXPECT_FALSE(r.passed());
}

TEST(Engine, ReflectionNamesEveryField)
{
	z3::context ctx;
	proofs::ContextScope scope(ctx);
	std::vector<proofs::Named> vars;
	const Symbolic d{&ctx, &vars};
	const auto s = proofs::fresh<spec::RootState<Symbolic>>(d, "pre");
	(void)s;
	std::set<std::string> names;
	for (const auto& v : vars)
		names.insert(v.name);
	for (const char* f : {"pre.allocated", "pre.refcount", "pre.mmu_ref", "pre.task_refs", "pre.invalid",
			      "pre.scheduled_to_zap", "pre.on_list", "pre.rcu_queued", "pre.freed"})
		EXPECT_TRUE(names.count(f)) << f;
	EXPECT_EQ(vars.size(), 9u);
}

TEST(Engine, TableIsCompleteAndNamed)
{
	const auto obs = proofs::all_obligations();
	EXPECT_GE(obs.size(), 40u);
	std::set<std::string> names;
	for (const auto& o : obs) {
		EXPECT_TRUE(names.insert(o.name).second) << "duplicate " << o.name;
		EXPECT_FALSE(o.source.empty()) << o.name;
		EXPECT_FALSE(o.known_bad.empty()) << o.name;
		EXPECT_FALSE(o.statement.empty()) << o.name;
	}
}

} // namespace
