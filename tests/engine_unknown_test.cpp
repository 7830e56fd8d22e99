// SPDX-License-Identifier: GPL-2.0-only
//
// A solver that gives up is reported as such: Z3's "unknown" is the
// obligation's own verdict, never read as sat (a counterexample, a
// satisfiable assumption) or unsat (a proof).
#include <gtest/gtest.h>

#include "arborist/obligation.hpp"

namespace {

using namespace arborist;
using proofs::Answer;
using proofs::Obligation;
using proofs::Query;
using proofs::Result;
using proofs::Symbolic;
using proofs::Variant;
using proofs::Verdict;

// Factoring a 64-bit semiprime by bit-blasting: far beyond 1 ms, so every
// call of this obligation ends in Z3's timeout.
Obligation factoring()
{
	Obligation o;
	o.name = "test.factoring";
	o.kind = "lemma";
	o.source = "engine_unknown_test";
	o.statement = "the factors of 4294967291 * 4294967279 are those two";
	o.known_bad = "none";
	o.build = [](const Symbolic& d, Variant) {
		const auto x = d.word("x");
		const auto y = d.word("y");
		const std::uint64_t p = 4294967291u, q = 4294967279u;
		Query q_{{}, d.truth(true), {}};
		q_.assume.push_back(d.ult(d.lit(1), x));
		q_.assume.push_back(d.ult(d.lit(1), y));
		q_.assume.push_back(d.ult(x, d.lit(std::uint64_t{1} << 32)));
		q_.assume.push_back(d.ult(y, d.lit(std::uint64_t{1} << 32)));
		q_.assume.push_back(x * y == d.lit(p * q));
		q_.goal = x == d.lit(p) || x == d.lit(q);
		return q_;
	};
	return o;
}

TEST(EngineUnknown, ATimeoutIsNeitherProofNorFailure)
{
	const Result r = proofs::discharge(factoring(), 1);
	// The proof (no other factors: primality) is out of reach.  The
	// vacuity and known-bad calls (find some factors) may now and then
	// succeed within the timeout, as Z3 checks its limit only between
	// steps; whatever they answer, an "unknown" must stay "unknown".
	EXPECT_EQ(r.proof, Answer::unknown);
	EXPECT_FALSE(r.proved);
	EXPECT_EQ(r.vacuity_ok, r.vacuity == Answer::yes);
	EXPECT_NE(r.known_bad, Answer::no);
	EXPECT_TRUE(r.counterexample.empty());
	EXPECT_TRUE(r.error.empty()) << r.error;
	EXPECT_NE(r.unknown_reason.find("timeout"), std::string::npos) << r.unknown_reason;
	EXPECT_EQ(proofs::verdict_of(r), Verdict::unknown);
	EXPECT_EQ(proofs::verdict_name(proofs::verdict_of(r)), "UNKNOWN");
	EXPECT_FALSE(r.passed());
}

TEST(EngineUnknown, VerdictPrecedence)
{
	Result r;
	r.proof = r.vacuity = r.known_bad = Answer::yes;
	r.proved = r.vacuity_ok = r.bad_refuted = true;
	EXPECT_EQ(proofs::verdict_of(r), Verdict::proved);
	r.known_bad = Answer::unknown;
	r.bad_refuted = false;
	EXPECT_EQ(proofs::verdict_of(r), Verdict::unknown); // not CANNOT-FAIL
	r.vacuity = Answer::unknown;
	r.vacuity_ok = false;
	EXPECT_EQ(proofs::verdict_of(r), Verdict::unknown); // not VACUOUS
	r.proof = Answer::no;
	r.proved = false;
	EXPECT_EQ(proofs::verdict_of(r), Verdict::failed); // a counterexample is definite
	r.error = "z3: out of memory";
	EXPECT_EQ(proofs::verdict_of(r), Verdict::error);
	Result v;
	v.proof = v.known_bad = Answer::yes;
	v.vacuity = Answer::no;
	EXPECT_EQ(proofs::verdict_of(v), Verdict::vacuous);
	v.vacuity = Answer::yes;
	v.vacuity_ok = true;
	v.proved = true;
	v.known_bad = Answer::no;
	EXPECT_EQ(proofs::verdict_of(v), Verdict::cannot_fail);
}

} // namespace
