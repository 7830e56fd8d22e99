// SPDX-License-Identifier: GPL-2.0-only
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <sstream>
#include <thread>

#include "arborist/obligation.hpp"
#include "arborist/support/hex.hpp"

namespace arborist::proofs {

namespace {
thread_local z3::context* g_current = nullptr;
}

z3::context& current_context()
{
	if (!g_current)
		throw std::logic_error("arborist: symbolic state built outside a ContextScope");
	return *g_current;
}

ContextScope::ContextScope(z3::context& c) : prev_(g_current) { g_current = &c; }
ContextScope::~ContextScope() { g_current = prev_; }

std::string show_value(const z3::expr& v)
{
	if (v.is_bool())
		return v.is_true() ? "true" : v.is_false() ? "false" : v.to_string();
	std::uint64_t n = 0;
	if (v.is_numeral_u64(n))
		return support::hex(n);
	return v.to_string();
}

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0)
{
	return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// Named values of a model, with runs of equal array elements folded
// ("pre.child[0..511] = 0xe") so a 512-entry page prints on one line.
std::string render_model(const z3::model& m, const std::vector<Named>& vars, const std::vector<Named>& show)
{
	std::ostringstream os;
	auto emit = [&](const std::vector<Named>& list) {
		for (std::size_t i = 0; i < list.size();) {
			const std::string val = show_value(m.eval(list[i].value, true));
			const std::string& name = list[i].name;
			const auto lb = name.rfind('[');
			std::size_t j = i + 1;
			if (lb != std::string::npos && name.back() == ']') {
				const std::string stem = name.substr(0, lb);
				while (j < list.size() && list[j].name.rfind(stem + "[", 0) == 0 &&
				       list[j].name.find('.', stem.size()) == std::string::npos &&
				       show_value(m.eval(list[j].value, true)) == val)
					j++;
			}
			if (j - i > 1) {
				const auto lb2 = list[j - 1].name.rfind('[');
				os << "    " << name.substr(0, name.size() - 1) << ".."
				   << list[j - 1].name.substr(lb2 + 1) << " = " << val << "\n";
			} else {
				os << "    " << name << " = " << val << "\n";
			}
			i = j;
		}
	};
	emit(vars);
	emit(show);
	return os.str();
}

struct Check {
	z3::check_result r;
	double ms;
	std::string model;
	std::string reason_unknown; // when r is unknown
};

Check run(z3::context& ctx, const Query& q, const std::vector<Named>& vars, bool negate_goal, unsigned timeout_ms)
{
	z3::solver s(ctx);
	z3::params p(ctx);
	p.set("timeout", timeout_ms);
	s.set(p);
	for (const auto& a : q.assume)
		s.add(a);
	if (negate_goal)
		s.add(!q.goal);
	const auto t0 = clock_type::now();
	const z3::check_result r = s.check();
	Check c{r, ms_since(t0), {}, {}};
	if (r == z3::sat)
		c.model = render_model(s.get_model(), vars, negate_goal ? q.show : std::vector<Named>{});
	if (r == z3::unknown)
		c.reason_unknown = s.reason_unknown();
	return c;
}

// The answer a call gives to its question: `want` is the result that
// establishes it (unsat for the proof, sat for vacuity and known-bad).
Answer answer(const Check& c, z3::check_result want, Result& res, const char* which)
{
	if (c.r == z3::unknown) {
		if (res.unknown_reason.empty())
			res.unknown_reason = std::string(which) + ": " + (c.reason_unknown.empty() ? "unknown" : c.reason_unknown);
		return Answer::unknown;
	}
	return c.r == want ? Answer::yes : Answer::no;
}

} // namespace

Result discharge(const Obligation& o, unsigned timeout_ms)
{
	Result res;
	res.name = o.name;
	try {
		{
			z3::context ctx;
			ContextScope scope(ctx);
			std::vector<Named> vars;
			const Symbolic d{&ctx, &vars};
			const Query q = o.build(d, Variant::good);
			const Check vac = run(ctx, q, vars, false, timeout_ms);
			res.ms_vacuity = vac.ms;
			res.vacuity = answer(vac, z3::sat, res, "vacuity check");
			const Check proof = run(ctx, q, vars, true, timeout_ms);
			res.ms_proof = proof.ms;
			res.proof = answer(proof, z3::unsat, res, "proof");
			if (proof.r == z3::sat)
				res.counterexample = proof.model;
		}
		{
			z3::context ctx;
			ContextScope scope(ctx);
			std::vector<Named> vars;
			const Symbolic d{&ctx, &vars};
			const Query q = o.build(d, Variant::known_bad);
			const Check bad = run(ctx, q, vars, true, timeout_ms);
			res.ms_bad = bad.ms;
			res.known_bad = answer(bad, z3::sat, res, "known-bad");
		}
	} catch (const z3::exception& e) {
		res.error = std::string("z3: ") + e.msg();
	} catch (const std::exception& e) {
		res.error = e.what();
	}
	res.proved = res.proof == Answer::yes;
	res.vacuity_ok = res.vacuity == Answer::yes;
	res.bad_refuted = res.known_bad == Answer::yes;
	return res;
}

std::vector<Result> discharge_all(const std::vector<Obligation>& obs, unsigned jobs, unsigned timeout_ms)
{
	std::vector<Result> results(obs.size());
	std::atomic<std::size_t> next{0};
	auto worker = [&] {
		for (std::size_t i; (i = next.fetch_add(1)) < obs.size();)
			results[i] = discharge(obs[i], timeout_ms);
	};
	const unsigned n = std::max(1u, std::min<unsigned>(jobs, static_cast<unsigned>(obs.size())));
	std::vector<std::thread> pool;
	for (unsigned t = 1; t < n; t++)
		pool.emplace_back(worker);
	worker();
	for (auto& t : pool)
		t.join();
	return results;
}

std::vector<Obligation> all_obligations()
{
	std::vector<Obligation> out;
	add_spte_obligations(out);
	add_gfn_obligations(out);
	add_root_obligations(out);
	add_sept_obligations(out);
	add_tlb_obligations(out);
	return out;
}

} // namespace arborist::proofs
