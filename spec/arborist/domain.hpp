// SPDX-License-Identifier: GPL-2.0-only
//
// The value domain over which every spec rule is written exactly once.
//
// A rule is a function template over a Domain D.  With D = Concrete it is
// ordinary constexpr C++ over uint64_t/bool, usable in constant expressions
// and by the executable layers (impl/, hw/, the conformance checker).  With
// D = proofs::Symbolic (proofs/arborist/symbolic.hpp) the very same function
// builds Z3 bit-vector terms, which is what the proof obligations check.
//
// Rules therefore never branch with `if` on a domain value: they use
// d.ite(), and only branch natively on configuration that is concrete in
// both domains (a flavour's bit layout, an injected Fault, a loop bound).
// Constants always go through d.lit(): a bare integer literal would silently
// become a 32-bit signed Z3 numeral.
#pragma once

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace arborist::spec {

using u64 = std::uint64_t;

template <class D>
concept Domain = requires(const D& d, typename D::Word w, typename D::Bool b,
                          u64 v, unsigned n) {
	{ d.lit(v) } -> std::convertible_to<typename D::Word>;
	{ d.truth(true) } -> std::convertible_to<typename D::Bool>;
	{ d.ite(b, w, w) } -> std::convertible_to<typename D::Word>;
	{ d.ite(b, b, b) } -> std::convertible_to<typename D::Bool>;
	{ d.ult(w, w) } -> std::convertible_to<typename D::Bool>;
	{ d.ule(w, w) } -> std::convertible_to<typename D::Bool>;
	{ d.shl(w, n) } -> std::convertible_to<typename D::Word>;
	{ d.lshr(w, n) } -> std::convertible_to<typename D::Word>;
	{ d.shlv(w, w) } -> std::convertible_to<typename D::Word>;
	{ d.lshrv(w, w) } -> std::convertible_to<typename D::Word>;
	{ w & w } -> std::convertible_to<typename D::Word>;
	{ w | w } -> std::convertible_to<typename D::Word>;
	{ ~w } -> std::convertible_to<typename D::Word>;
	{ w + w } -> std::convertible_to<typename D::Word>;
	{ w - w } -> std::convertible_to<typename D::Word>;
	{ w * w } -> std::convertible_to<typename D::Word>;
	{ w == w } -> std::convertible_to<typename D::Bool>;
	{ b && b } -> std::convertible_to<typename D::Bool>;
	{ b || b } -> std::convertible_to<typename D::Bool>;
	{ !b } -> std::convertible_to<typename D::Bool>;
};

// The concrete domain: plain 64-bit words, everything constexpr.
struct Concrete {
	using Word = u64;
	using Bool = bool;

	static constexpr Word lit(u64 v) { return v; }
	template <class E>
		requires std::is_enum_v<E>
	static constexpr Word lit(E e) { return static_cast<u64>(e); }
	static constexpr Bool truth(bool b) { return b; }
	template <class T>
	static constexpr T ite(Bool c, T a, T b) { return c ? a : b; }
	static constexpr Bool ult(Word a, Word b) { return a < b; }
	static constexpr Bool ule(Word a, Word b) { return a <= b; }
	static constexpr Word shl(Word a, unsigned n) { return n >= 64 ? 0 : a << n; }
	static constexpr Word lshr(Word a, unsigned n) { return n >= 64 ? 0 : a >> n; }
	static constexpr Word shlv(Word a, Word n) { return n >= 64 ? 0 : a << n; }
	static constexpr Word lshrv(Word a, Word n) { return n >= 64 ? 0 : a >> n; }
};

static_assert(Domain<Concrete>);

inline constexpr Concrete concrete{};

// Small helpers shared by every rule, written over any domain.
template <Domain D>
constexpr typename D::Bool implies(const D& d, const typename D::Bool& a,
                                   const typename D::Bool& b)
{
	return d.ite(a, b, d.truth(true));
}

template <Domain D>
constexpr typename D::Bool bit_set(const D& d, const typename D::Word& w, u64 mask)
{
	return !((w & d.lit(mask)) == d.lit(0));
}

template <Domain D>
constexpr typename D::Word bit(const D& d, const typename D::Bool& b, u64 mask)
{
	return d.ite(b, d.lit(mask), d.lit(0));
}

// Membership of a word in a small concrete set, e.g. an S-EPT state in the
// set of states a SEAMCALL leaf accepts.
template <Domain D, class E, std::size_t N>
constexpr typename D::Bool one_of(const D& d, const typename D::Word& w, const E (&set)[N])
{
	typename D::Bool r = d.truth(false);
	for (const E& e : set)
		r = r || w == d.lit(e);
	return r;
}

// A concrete choice between two domain values (a fault switch, a flavour
// bit): both sides are converted to T, so it also works where the two
// operands have different Z3 wrapper types.
template <class T>
constexpr T choose(bool c, const T& a, const T& b)
{
	return c ? a : b;
}

constexpr u64 genmask(unsigned hi, unsigned lo)
{
	return (~u64{0} >> (63 - hi)) & (~u64{0} << lo);
}
constexpr u64 bit_ull(unsigned n) { return u64{1} << n; }

} // namespace arborist::spec
