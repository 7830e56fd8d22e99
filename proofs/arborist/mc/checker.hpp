// SPDX-License-Identifier: GPL-2.0-only
//
// An explicit-state model checker for the stepped operations of impl/.
//
// A System is a set of threads over a shared world; each thread is an
// impl/ state machine (a copyable struct with a pc), and one step() is one
// atomic action at the kernel's granularity (an SPTE read or cmpxchg, a
// refcount operation, a lock acquire or release, a SEAMCALL, an RCU
// read-side boundary).  The checker explores every interleaving breadth
// first, so the first violation found has a shortest counterexample.
//
// What it checks in every reachable state:
//  - the System's invariants (spec/ predicates over the abstraction of the
//    world, plus the ghost checks each configuration names);
//  - deadlock freedom: some thread that has not finished can step;
//  - termination under a fair scheduler: from every reachable state a state
//    where every thread has finished is reachable (AG EF done), computed on
//    the reverse graph after the search.
//
// Reductions, both optional so their effect can be measured and both off
// for the SPIN comparison:
//  - symmetry: threads of the same nonzero symmetry class are identical up
//    to their local state, so the visited key sorts their encodings (the
//    System guarantees no shared data is indexed by such a thread);
//  - partial order: a step the System marks local (it reads and writes only
//    the thread's own state and no invariant observes it) commutes with
//    every other step, so when a thread has one enabled it is the only
//    successor explored (an ample set of size one).  Local steps move a pc
//    forward, so they cannot close a cycle (the proviso holds).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace arborist::mc {

// Appends v to a state's key: little-endian, variable length, so small
// numbers (states, levels, flags) take one byte.  Every system encodes its
// state with it.
inline void put_key(std::string& out, std::uint64_t v)
{
	do {
		std::uint8_t b = v & 0x7f;
		v >>= 7;
		if (v)
			b |= 0x80;
		out.push_back(static_cast<char>(b));
	} while (v);
}

// A property a configuration may check, as configuration files and
// counterexamples name it.
struct PropertyInfo {
	std::string_view name;
	std::string_view meaning;
};

// The checker's own properties, checked for every System.
inline constexpr PropertyInfo checker_properties[] = {
	{"deadlock", "in every reachable state some unfinished task can step"},
	{"termination", "from every reachable state a state where every task has finished is reachable"},
};

struct Violation {
	std::string invariant; // a stable name, e.g. "root.freed_implies_invalid_and_zero"
	std::string detail;    // what was observed
};

template <class S>
concept System = requires(const S& sys, typename S::State& st, const typename S::State& cs, unsigned t,
			  std::string& out, std::string* describe) {
	typename S::State;
	{ sys.initial() } -> std::same_as<typename S::State>;
	{ sys.thread_count() } -> std::convertible_to<unsigned>;
	{ sys.thread_name(t) } -> std::convertible_to<std::string>;
	{ sys.symmetry_class(t) } -> std::convertible_to<unsigned>;
	{ sys.enabled(cs, t) } -> std::same_as<bool>;
	{ sys.done(cs, t) } -> std::same_as<bool>;
	{ sys.is_local(cs, t) } -> std::same_as<bool>;
	// One atomic action of thread t.  Returns a violation the step itself
	// reveals (a use of freed memory, a dropped foreign reference); fills
	// *describe (when non-null) with the kernel function and values.
	{ sys.step(st, t, describe) } -> std::same_as<std::optional<Violation>>;
	{ sys.check(cs) } -> std::same_as<std::optional<Violation>>;
	sys.encode_shared(cs, out);
	sys.encode_thread(cs, t, out);
	{ sys.describe_state(cs) } -> std::convertible_to<std::string>;
	{ sys.dot(cs) } -> std::convertible_to<std::string>;
};

struct Options {
	bool symmetry = true;
	bool por = true;
	bool deadlock = true;
	bool termination = true;
	std::uint64_t max_states = 50'000'000;
};

struct CounterexampleStep {
	unsigned thread;
	std::string thread_name;
	std::string action;
	std::vector<std::pair<std::string, std::string>> seamcalls; // leaf, status (TDX systems)
};

struct Result {
	std::optional<Violation> violation;
	std::vector<CounterexampleStep> trace; // from the initial state to the violation
	std::string final_state;               // describe_state at the violation
	std::string final_dot;
	std::uint64_t states = 0;      // distinct (canonical) states stored
	std::uint64_t transitions = 0; // successors generated
	std::uint64_t max_depth = 0;
	std::uint64_t state_bytes = 0; // bytes of stored keys
	double seconds = 0;
	bool truncated = false; // max_states reached
	bool exhaustive() const { return !violation && !truncated; }
};

namespace detail {

// The visited set: every stored key lives in one arena, and an open-addressing
// table of node ids (linear probing, load <= 1/2) indexes them, so a lookup
// costs one hash and usually one memcmp, and an entry costs 16 bytes plus
// its key.
class KeyStore {
public:
	std::uint64_t bytes = 0;

	// Insert key as node `next` unless present; returns the node and
	// whether it is new.
	std::pair<std::uint32_t, bool> insert(const std::string& key, std::uint32_t next)
	{
		if ((offsets_.size() + 1) * 2 > slots_.size())
			grow();
		const std::uint64_t h = hash(key);
		const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
		for (std::size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
			Slot& sl = slots_[i];
			if (sl.id == EMPTY) {
				sl = {next, tag};
				offsets_.push_back(arena_.size());
				hashes_.push_back(h);
				arena_.insert(arena_.end(), key.begin(), key.end());
				bytes += key.size();
				return {next, true};
			}
			if (sl.tag == tag && key_of(sl.id) == key)
				return {sl.id, false};
		}
	}

private:
	static constexpr std::uint32_t EMPTY = 0xffffffffu;
	// The node id and the high half of its key's hash: most probes that
	// miss are decided without touching the key.
	struct Slot {
		std::uint32_t id;
		std::uint32_t tag;
	};

	static std::uint64_t hash(std::string_view k)
	{
		// FNV-1a over 8-byte words with a final avalanche (splitmix64).
		std::uint64_t h = 0xcbf29ce484222325ull ^ k.size();
		std::size_t i = 0;
		for (; i + 8 <= k.size(); i += 8) {
			std::uint64_t w;
			__builtin_memcpy(&w, k.data() + i, 8);
			h = (h ^ w) * 0x100000001b3ull;
		}
		std::uint64_t tail = 0;
		__builtin_memcpy(&tail, k.data() + i, k.size() - i);
		h = (h ^ tail) * 0x100000001b3ull;
		h ^= h >> 30;
		h *= 0xbf58476d1ce4e5b9ull;
		h ^= h >> 27;
		h *= 0x94d049bb133111ebull;
		return h ^ (h >> 31);
	}
	std::string_view key_of(std::uint32_t id) const
	{
		const std::uint64_t b = offsets_[id];
		const std::uint64_t e = id + 1 < offsets_.size() ? offsets_[id + 1] : arena_.size();
		return {arena_.data() + b, static_cast<std::size_t>(e - b)};
	}
	// Rehash from the stored hashes, in node order.
	void grow()
	{
		slots_.assign(std::max<std::size_t>(1024, slots_.size() * 2), Slot{EMPTY, 0});
		for (std::uint32_t id = 0; id < hashes_.size(); id++) {
			std::size_t i = hashes_[id] & (slots_.size() - 1);
			while (slots_[i].id != EMPTY)
				i = (i + 1) & (slots_.size() - 1);
			slots_[i] = {id, static_cast<std::uint32_t>(hashes_[id] >> 32)};
		}
	}

	std::vector<char> arena_;
	std::vector<std::uint64_t> offsets_;
	std::vector<std::uint64_t> hashes_;
	std::vector<Slot> slots_;
};

} // namespace detail

template <System S>
class Checker {
public:
	using State = typename S::State;

	Checker(const S& sys, Options o = {}) : sys_(sys), opt_(o) {}

	Result run()
	{
		const auto t0 = std::chrono::steady_clock::now();
		Result r;
		State init = sys_.initial();
		add(init, NONE, 0, 0);
		if (auto v = sys_.check(init)) {
			finish(r, 0, std::move(*v), t0);
			return r;
		}
		std::deque<std::pair<std::uint32_t, State>> frontier;
		std::vector<unsigned> ts;
		frontier.emplace_back(0, std::move(init));
		while (!frontier.empty()) {
			auto [id, st] = std::move(frontier.front());
			frontier.pop_front();
			successors_to_explore(st, ts);
			if (opt_.deadlock && ts.empty() && !all_done(st)) {
				finish(r, id, {"deadlock", "no thread can step and some have not finished"}, t0);
				return r;
			}
			for (unsigned t : ts) {
				State next = st;
				std::optional<Violation> v = sys_.step(next, t, nullptr);
				r.transitions++;
				const auto [nid, fresh] = add(next, id, t, nodes_[id].depth + 1);
				if (opt_.termination)
					edges_.emplace_back(id, nid);
				if (v) { // the step itself went wrong: the path is id, then t
					finish(r, id, std::move(*v), t0, t);
					return r;
				}
				if (!fresh)
					continue;
				if (auto iv = sys_.check(next)) {
					finish(r, nid, std::move(*iv), t0);
					return r;
				}
				if (nodes_.size() >= opt_.max_states) {
					r.truncated = true;
					frontier.clear();
					break;
				}
				frontier.emplace_back(nid, std::move(next));
			}
		}
		if (opt_.termination && !r.truncated)
			if (const std::uint32_t stuck = find_nonterminating(); stuck != NONE) {
				finish(r, stuck,
				       {"termination", "from this state no interleaving lets every operation finish"}, t0);
				return r;
			}
		stats(r, t0);
		return r;
	}

private:
	static constexpr std::uint32_t NONE = 0xffffffffu;
	static constexpr unsigned NO_THREAD = ~0u;

	struct Node {
		std::uint32_t parent;
		std::uint32_t depth;
		std::uint8_t thread;
		bool terminal; // every thread done
	};

	bool all_done(const State& st) const
	{
		for (unsigned t = 0; t < sys_.thread_count(); t++)
			if (!sys_.done(st, t))
				return false;
		return true;
	}

	void successors_to_explore(const State& st, std::vector<unsigned>& ts) const
	{
		ts.clear();
		for (unsigned t = 0; t < sys_.thread_count(); t++) {
			if (!sys_.enabled(st, t))
				continue;
			if (opt_.por && sys_.is_local(st, t)) {
				ts.assign(1, t);
				return;
			}
			ts.push_back(t);
		}
	}

	const std::string& key_of(const State& st)
	{
		key_.clear();
		sys_.encode_shared(st, key_);
		const unsigned n = sys_.thread_count();
		if (!opt_.symmetry) {
			for (unsigned t = 0; t < n; t++)
				sys_.encode_thread(st, t, key_);
			return key_;
		}
		// Sort each symmetry class's thread encodings (class 0: no symmetry).
		std::vector<std::pair<unsigned, std::string>>& locals = locals_;
		locals.resize(n);
		for (unsigned t = 0; t < n; t++) {
			locals[t].first = sys_.symmetry_class(t);
			locals[t].second.clear();
			sys_.encode_thread(st, t, locals[t].second);
		}
		for (unsigned t = 0; t < n;) {
			unsigned e = t + 1;
			while (e < n && locals[t].first != 0 && locals[e].first == locals[t].first)
				e++;
			std::sort(locals.begin() + t, locals.begin() + e,
				  [](const auto& a, const auto& b) { return a.second < b.second; });
			t = e;
		}
		for (auto& l : locals) {
			key_.push_back(static_cast<char>(l.second.size()));
			key_.append(l.second);
		}
		return key_;
	}

	std::pair<std::uint32_t, bool> add(const State& st, std::uint32_t parent, unsigned thread, std::uint32_t depth)
	{
		const auto [id, fresh] = keys_.insert(key_of(st), static_cast<std::uint32_t>(nodes_.size()));
		if (fresh)
			nodes_.push_back({parent, depth, static_cast<std::uint8_t>(thread), all_done(st)});
		return {id, fresh};
	}

	// AG EF done: walk the reverse graph from the terminal states; a stored
	// state not reached cannot finish.  Returns the shallowest such state.
	std::uint32_t find_nonterminating()
	{
		const std::size_t n = nodes_.size();
		std::vector<std::uint32_t> start(n + 1, 0), rev(edges_.size());
		for (auto& e : edges_)
			start[e.second + 1]++;
		for (std::size_t i = 0; i < n; i++)
			start[i + 1] += start[i];
		std::vector<std::uint32_t> fill(start.begin(), start.end() - 1);
		for (auto& e : edges_)
			rev[fill[e.second]++] = e.first;
		std::vector<char> ok(n, 0);
		std::vector<std::uint32_t> work;
		for (std::uint32_t i = 0; i < n; i++)
			if (nodes_[i].terminal) {
				ok[i] = 1;
				work.push_back(i);
			}
		while (!work.empty()) {
			const std::uint32_t v = work.back();
			work.pop_back();
			for (std::uint32_t k = start[v]; k < start[v + 1]; k++)
				if (!ok[rev[k]]) {
					ok[rev[k]] = 1;
					work.push_back(rev[k]);
				}
		}
		std::uint32_t best = NONE;
		for (std::uint32_t i = 0; i < n; i++)
			if (!ok[i] && (best == NONE || nodes_[i].depth < nodes_[best].depth))
				best = i;
		return best;
	}

	void stats(Result& r, std::chrono::steady_clock::time_point t0)
	{
		r.states = nodes_.size();
		r.state_bytes = keys_.bytes;
		for (const Node& n : nodes_)
			r.max_depth = std::max<std::uint64_t>(r.max_depth, n.depth);
		r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	}

	// Rebuild the path to `id` by replaying the recorded thread choices from
	// the initial state, this time with descriptions.
	void finish(Result& r, std::uint32_t id, Violation v, std::chrono::steady_clock::time_point t0,
		    unsigned last_thread = NO_THREAD)
	{
		std::vector<unsigned> path;
		for (std::uint32_t n = id; n != 0 && n != NONE; n = nodes_[n].parent)
			path.push_back(nodes_[n].thread);
		std::reverse(path.begin(), path.end());
		if (last_thread != NO_THREAD)
			path.push_back(last_thread);
		State st = sys_.initial();
		for (unsigned t : path) {
			std::string text;
			sys_.step(st, t, &text);
			r.trace.push_back({t, sys_.thread_name(t), std::move(text), {}});
			if constexpr (requires { sys_.last_seamcalls(); })
				r.trace.back().seamcalls = sys_.last_seamcalls();
		}
		r.final_state = sys_.describe_state(st);
		r.final_dot = sys_.dot(st);
		r.violation = std::move(v);
		stats(r, t0);
	}

	const S& sys_;
	Options opt_;
	std::vector<Node> nodes_;
	std::vector<std::pair<std::uint32_t, std::uint32_t>> edges_;
	detail::KeyStore keys_;
	std::string key_;
	std::vector<std::pair<unsigned, std::string>> locals_;
};

template <System S>
Result check(const S& sys, Options o = {})
{
	return Checker<S>(sys, o).run();
}

} // namespace arborist::mc
