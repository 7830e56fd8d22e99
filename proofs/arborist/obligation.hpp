// SPDX-License-Identifier: GPL-2.0-only
//
// Proof obligations and the engine that discharges them with Z3.
//
// An obligation is a query builder: given the symbolic domain and whether
// to build the known-bad variant, it returns assumptions A and a goal G.
// Discharging it means three solver calls:
//   proof      A and not G   must be unsat  (the property holds)
//   vacuity    A             must be sat    (the assumptions are consistent,
//                                            so the proof says something)
//   known-bad  A' and not G' must be sat    (with the named fault injected
//                                            the property fails: the
//                                            obligation can fail)
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/hana/at.hpp>
#include <boost/hana/cartesian_product.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/tuple.hpp>

#include "arborist/fault.hpp"
#include "arborist/step.hpp"
#include "reflect.hpp"
#include "symbolic.hpp"

namespace arborist::proofs {

struct Query {
	std::vector<z3::expr> assume;
	z3::expr goal;
	std::vector<Named> show; // extra terms to print in a counterexample (post-state)
};

enum class Variant { good, known_bad };

struct Obligation {
	std::string name;
	std::string kind;      // "lemma", "inductive", "bounded"
	std::string source;    // the seed, kernel function or TDX module section it encodes
	std::string statement; // the property in words
	std::string known_bad; // the fault that must make it fail
	std::function<Query(const Symbolic&, Variant)> build;
};

// Z3's numerals as text.
std::string show_value(const z3::expr& v);

// What one solver call established.  `unknown` is Z3 giving up (the time
// limit, a resource limit, an interrupt): no answer either way, never to be
// read as sat or unsat.
enum class Answer : std::uint8_t { no, yes, unknown, not_run };

struct Result {
	std::string name;
	// Each is yes only on the solver's definite answer: the proof query
	// unsat, the vacuity query sat, the known-bad query sat.
	Answer proof = Answer::not_run, vacuity = Answer::not_run, known_bad = Answer::not_run;
	bool proved = false;      // proof == yes
	bool vacuity_ok = false;  // vacuity == yes
	bool bad_refuted = false; // known_bad == yes
	double ms_proof = 0, ms_vacuity = 0, ms_bad = 0;
	std::string counterexample; // for a failed proof: named field values
	std::string unknown_reason; // Z3's reason of the first unknown answer ("timeout", "canceled", ...)
	std::string error;          // an exception: the obligation could not be built or solved
	bool unknown() const
	{
		return proof == Answer::unknown || vacuity == Answer::unknown || known_bad == Answer::unknown;
	}
	bool passed() const { return proved && vacuity_ok && bad_refuted && error.empty(); }
	double ms_total() const { return ms_proof + ms_vacuity + ms_bad; }
};

// The one verdict of an obligation, in order of precedence: an exception;
// a counterexample to the property (a definite failure even if another
// call gave up); an unknown answer; a vacuous or cannot-fail obligation;
// proved.
enum class Verdict : std::uint8_t { error, failed, unknown, vacuous, cannot_fail, proved };

inline Verdict verdict_of(const Result& r)
{
	if (!r.error.empty())
		return Verdict::error;
	if (r.proof == Answer::no)
		return Verdict::failed;
	if (r.unknown())
		return Verdict::unknown;
	if (!r.vacuity_ok)
		return Verdict::vacuous;
	if (!r.bad_refuted)
		return Verdict::cannot_fail;
	return Verdict::proved;
}

inline std::string_view verdict_name(Verdict v)
{
	switch (v) {
	case Verdict::error: return "ERROR";
	case Verdict::failed: return "FAILED";
	case Verdict::unknown: return "UNKNOWN";
	case Verdict::vacuous: return "VACUOUS";
	case Verdict::cannot_fail: return "CANNOT-FAIL";
	case Verdict::proved: return "proved";
	}
	return "?";
}

Result discharge(const Obligation& o, unsigned timeout_ms);
std::vector<Result> discharge_all(const std::vector<Obligation>& obs, unsigned jobs, unsigned timeout_ms);

// A single-query obligation whose known-bad variant injects `bad` into the
// rules the query is built from.
inline Obligation lemma(std::string name, std::string kind, std::string source, std::string statement,
			spec::Fault bad, std::function<Query(const Symbolic&, spec::Fault)> f)
{
	Obligation ob{std::move(name), std::move(kind), std::move(source), std::move(statement),
		      std::string(bad.name), {}};
	ob.build = [f = std::move(f), bad](const Symbolic& d, Variant v) {
		return f(d, v == Variant::known_bad ? bad : spec::no_fault);
	};
	return ob;
}

// --- building obligations for transition systems -----------------------------

// The fault that makes an operation break one invariant.
struct BadFor {
	std::string_view invariant;
	spec::Fault fault;
};

// An operation: a whole-call step over a state type, and the faults of it
// that are meant to break particular invariants.
template <class StepFn>
struct Op {
	std::string name;
	std::string source;
	StepFn step; // (const Symbolic&, const State&, spec::Fault) -> spec::Step<Symbolic, State>
	std::vector<BadFor> bad;
};

template <class HoldsFn>
struct Inv {
	std::string name;
	std::string source;
	std::string statement;
	HoldsFn holds; // (const Symbolic&, const State&) -> SymBool
};

template <class StepFn>
Op<StepFn> op(std::string name, std::string source, StepFn f, std::vector<BadFor> bad = {})
{
	return {name, source, std::move(f), std::move(bad)};
}

template <class HoldsFn>
Inv<HoldsFn> inv(std::string name, std::string source, std::string statement, HoldsFn f)
{
	return {name, source, statement, std::move(f)};
}

// Enumerates every (operation x invariant) pair at compile time (the
// tuples' types) and adds one inductive-preservation obligation per pair:
//   I_1(pre) and ... and I_n(pre) and enabled and not bug  =>  I_k(post).
// Assuming all invariants before and proving each after is the standard
// way to show their conjunction inductive.  The known-bad variant is the
// operation's own fault declared for that invariant; where the operation
// declares none, it is the operation with its effect replaced by arbitrary
// writes ("havoc"), which fails unless the invariant is a tautology.
template <class State, class Ops, class Invs>
void add_inductive(std::vector<Obligation>& out, std::string_view system, const Ops& ops, const Invs& invs)
{
	namespace hana = boost::hana;
	hana::for_each(hana::cartesian_product(hana::make_tuple(ops, invs)), [&](const auto& pair) {
		const auto& o = hana::at_c<0>(pair);
		const auto& i = hana::at_c<1>(pair);
		spec::Fault fault = spec::no_fault;
		for (const BadFor& b : o.bad)
			if (b.invariant == i.name)
				fault = b.fault;
		Obligation ob;
		ob.name = std::string(system) + "." + i.name + "/" + o.name;
		ob.kind = "inductive";
		ob.source = i.source + "; " + o.source;
		ob.statement = o.name + " preserves: " + i.statement;
		ob.known_bad = fault == spec::no_fault ? "havoc(" + o.name + ")" : std::string(fault.name);
		ob.build = [o, i, invs, fault](const Symbolic& d, Variant v) {
			const State pre = fresh<State>(d, "pre");
			Query q{{}, d.truth(true), {}};
			hana::for_each(invs, [&](const auto& all) { q.assume.push_back(all.holds(d, pre)); });
			const bool bad = v == Variant::known_bad;
			const auto st = o.step(d, pre, bad ? fault : spec::no_fault);
			q.assume.push_back(st.enabled);
			q.assume.push_back(!st.bug);
			const State post = bad && fault == spec::no_fault ? fresh<State>(d, "havoc") : st.post;
			q.goal = i.holds(d, post);
			flatten(post, "post", q.show);
			return q;
		};
		out.push_back(std::move(ob));
	});
}

// Registration of the obligation families (one translation unit each).
void add_spte_obligations(std::vector<Obligation>& out);
void add_gfn_obligations(std::vector<Obligation>& out);
void add_root_obligations(std::vector<Obligation>& out);
void add_sept_obligations(std::vector<Obligation>& out);
void add_tlb_obligations(std::vector<Obligation>& out);

std::vector<Obligation> all_obligations();

} // namespace arborist::proofs
