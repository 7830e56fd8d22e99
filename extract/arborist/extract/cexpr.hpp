// SPDX-License-Identifier: GPL-2.0-only
//
// The third domain of the spec: C expressions.
//
// extract::CExpr satisfies spec::Domain.  Evaluating a spec rule in it with
// its parameters bound to C identifiers yields the rule as an expression,
// which prints as fully parenthesised C99 over uint64_t/bool (the body of a
// generated `static inline` function) or as the same expression as an ACSL
// term (the contracts and logic models of extract/gen/).  The C therefore
// cannot drift from the C++: both are the one spec function.
//
// Word and Bool are distinct small types, each wrapping an immutable
// expression node.  The node is what the operators build; `c()` and
// `acsl()` print it.  The two printings differ only where C and ACSL
// disagree on meaning: ACSL integers are unbounded, so every operator that
// can leave [0, 2^64) (+, -, *, <<, ~) is wrapped in a (uint64_t) cast,
// which ACSL defines as reduction modulo 2^64, i.e. C's uint64_t arithmetic.
//
// Semantics follow spec::Concrete exactly: shl/lshr by n >= 64 give 0 (a
// variable shift prints as `(n < 64 ? a << n : 0)`, which is also what
// keeps the C free of undefined shifts).  Operators fold constants and the
// Boolean identities (true && b, ite(c, b, true), ...) so that the printed
// expression reads like the kernel's; the differential test
// (tests/extract_diff_test.cpp) checks the printed C against spec::Concrete.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "arborist/domain.hpp"

namespace arborist::extract {

using spec::u64;

enum class Op : std::uint8_t {
	lit, var, truth,                  // leaves
	lnot, bnot,                       // ! ~
	land, lor, band, bor, add, mul,   // && || & | + *  (associative)
	sub, eq, ult, ule, shl, lshr,     // - == < <= << >>
	ite,                              // c ? a : b
	implies, iff,                     // ACSL ==> and <==> (C: !a || b, !a == !b)
	tuple,                            // the outputs of a struct-valued function (never printed)
};

struct Node;
using Expr = std::shared_ptr<const Node>;

struct Node {
	Op op;
	bool boolean;     // a Bool (C bool, ACSL predicate), else a Word (uint64_t)
	u64 value = 0;    // lit: the constant; truth: 0 or 1
	std::string name; // var: the C identifier (or ACSL term, e.g. \result)
	std::vector<Expr> kids;
};

enum class Dialect { c, acsl };

struct CWord {
	Expr e;
	std::string c() const;
	std::string acsl() const;
};

struct CBool {
	Expr e;
	std::string c() const;
	std::string acsl() const;
};

// --- construction --------------------------------------------------------------

namespace node {
Expr make(Op op, bool boolean, std::vector<Expr> kids, u64 value = 0, std::string name = {});
inline bool is_lit(const Expr& e) { return e->op == Op::lit || e->op == Op::truth; }
Expr binary(Op op, const Expr& a, const Expr& b);
Expr unary(Op op, const Expr& a);
Expr ite(const Expr& c, const Expr& a, const Expr& b);
Expr shift(Op op, const Expr& a, const Expr& n); // shl/lshr by any amount, Concrete semantics
} // namespace node

// a <==> b (spec::implies(d, a, b) already prints as a ==> b).
CBool iff(const CBool& a, const CBool& b);
// Bool equality, which some rules use beyond spec::Domain (as Z3 allows).
inline CBool operator==(const CBool& a, const CBool& b) { return iff(a, b); }

inline CWord operator&(const CWord& a, const CWord& b) { return {node::binary(Op::band, a.e, b.e)}; }
inline CWord operator|(const CWord& a, const CWord& b) { return {node::binary(Op::bor, a.e, b.e)}; }
inline CWord operator+(const CWord& a, const CWord& b) { return {node::binary(Op::add, a.e, b.e)}; }
inline CWord operator-(const CWord& a, const CWord& b) { return {node::binary(Op::sub, a.e, b.e)}; }
inline CWord operator*(const CWord& a, const CWord& b) { return {node::binary(Op::mul, a.e, b.e)}; }
inline CWord operator~(const CWord& a) { return {node::unary(Op::bnot, a.e)}; }
inline CBool operator==(const CWord& a, const CWord& b) { return {node::binary(Op::eq, a.e, b.e)}; }
inline CBool operator&&(const CBool& a, const CBool& b) { return {node::binary(Op::land, a.e, b.e)}; }
inline CBool operator||(const CBool& a, const CBool& b) { return {node::binary(Op::lor, a.e, b.e)}; }
inline CBool operator!(const CBool& a) { return {node::unary(Op::lnot, a.e)}; }

struct CExpr {
	using Word = CWord;
	using Bool = CBool;

	static Word lit(u64 v) { return {node::make(Op::lit, false, {}, v)}; }
	template <class E>
		requires std::is_enum_v<E>
	static Word lit(E e) { return lit(static_cast<u64>(e)); }
	static Bool truth(bool b) { return {node::make(Op::truth, true, {}, b ? 1 : 0)}; }
	static Word ite(const Bool& c, const Word& a, const Word& b) { return {node::ite(c.e, a.e, b.e)}; }
	static Bool ite(const Bool& c, const Bool& a, const Bool& b) { return {node::ite(c.e, a.e, b.e)}; }
	static Bool ult(const Word& a, const Word& b) { return {node::binary(Op::ult, a.e, b.e)}; }
	static Bool ule(const Word& a, const Word& b) { return {node::binary(Op::ule, a.e, b.e)}; }
	static Word shl(const Word& a, unsigned n) { return {node::shift(Op::shl, a.e, lit(n).e)}; }
	static Word lshr(const Word& a, unsigned n) { return {node::shift(Op::lshr, a.e, lit(n).e)}; }
	static Word shlv(const Word& a, const Word& n) { return {node::shift(Op::shl, a.e, n.e)}; }
	static Word lshrv(const Word& a, const Word& n) { return {node::shift(Op::lshr, a.e, n.e)}; }

	// Parameters: a C identifier, or any ACSL term such as \result or s->refcount.
	static Word word(std::string name) { return {node::make(Op::var, false, {}, 0, std::move(name))}; }
	static Bool boolean(std::string name) { return {node::make(Op::var, true, {}, 0, std::move(name))}; }
};

static_assert(spec::Domain<CExpr>);

inline constexpr CExpr cexpr{};

// --- printing --------------------------------------------------------------------

// One line, fully parenthesised.  In ACSL, a subterm the expression uses
// more than once (one C++ value read twice by the rule) is bound once with
// \let.
std::string print(const Expr& e, Dialect d);

// Laid out for a reader: lines longer than `width` columns break at the
// operators of the outermost parentheses first.  Continuation lines start
// with `prefix` (whose width is `prefix_cols`, tabs counted as 8) plus
// spaces to align under the opening parenthesis.
std::string layout(const Expr& e, Dialect d, const std::string& prefix, unsigned prefix_cols, unsigned first_col,
		   unsigned width = 100);

// The C body of a function returning the expression: a subterm the
// expression uses more than once becomes a `const` local (named t1, t2, ...
// like the ACSL \let of the same subterm), then the return value.
struct CLocal {
	bool boolean;
	std::string name;
	std::string init; // laid out, continuation lines after "\tconst uint64_t tN = "
};
struct CBody {
	std::vector<CLocal> locals;
	std::string ret; // laid out after "\treturn "
};
CBody c_body(const Expr& e, unsigned width = 100);

// The same for a function with several outputs (the fields of a returned
// struct): a subterm shared by any of them becomes one local.  `leads`
// gives, per output, the columns of the text before it on its line
// ("\tout.status = " is 19, tabs counted as 8).
struct CBodyMulti {
	std::vector<CLocal> locals;
	std::vector<std::string> outs;
};
CBodyMulti c_body_multi(const std::vector<Expr>& outs, const std::vector<unsigned>& leads, unsigned width = 100,
			bool bitwise = false);

// The same expression, structurally (not only the same node).
bool same(const Expr& a, const Expr& b);

// `e` on a path where each fact's node has the given truth value, folded
// again (an ite on a known condition becomes its branch, and so on).
Expr assume(const Expr& e, const std::vector<std::pair<Expr, bool>>& facts);

// A decision list (c1 ? k1 : (c2 ? k2 : ... end)), nonzero literal codes
// k1, k2, ...: the (condition, code) pairs, then `end` (0 or a non-list).
struct Decisions {
	std::vector<std::pair<Expr, u64>> checks;
	Expr end;
};
Decisions decisions(const Expr& e);

// Every C identifier the expression reads (its var leaves).
void collect_vars(const Expr& e, std::vector<std::string>& out);

inline std::string CWord::c() const { return print(e, Dialect::c); }
inline std::string CWord::acsl() const { return print(e, Dialect::acsl); }
inline std::string CBool::c() const { return print(e, Dialect::c); }
inline std::string CBool::acsl() const { return print(e, Dialect::acsl); }

} // namespace arborist::extract
