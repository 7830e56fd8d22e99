// SPDX-License-Identifier: GPL-2.0-only
//
// Construction (with constant folding) and printing of extract::CExpr.
#include "arborist/extract/cexpr.hpp"

#include <map>
#include <utility>

#include "arborist/support/hex.hpp"

namespace arborist::extract {

namespace node {

Expr make(Op op, bool boolean, std::vector<Expr> kids, u64 value, std::string name)
{
	return std::make_shared<const Node>(Node{op, boolean, value, std::move(name), std::move(kids)});
}

namespace {

constexpr spec::Concrete k{};

Expr word(u64 v) { return make(Op::lit, false, {}, v); }
Expr truth(bool b) { return make(Op::truth, true, {}, b ? 1 : 0); }
bool is_true(const Expr& e) { return e->op == Op::truth && e->value; }
bool is_false(const Expr& e) { return e->op == Op::truth && !e->value; }
bool is_word(const Expr& e, u64 v) { return e->op == Op::lit && e->value == v; }

// Both operands constant: the value spec::Concrete computes.
Expr fold(Op op, u64 a, u64 b)
{
	switch (op) {
	case Op::land: return truth(a && b);
	case Op::lor: return truth(a || b);
	case Op::implies: return truth(!a || b);
	case Op::band: return word(a & b);
	case Op::bor: return word(a | b);
	case Op::add: return word(a + b);
	case Op::mul: return word(a * b);
	case Op::sub: return word(a - b);
	case Op::eq: return truth(a == b);
	case Op::ult: return truth(k.ult(a, b));
	case Op::ule: return truth(k.ule(a, b));
	case Op::shl: return word(k.shlv(a, b));
	case Op::lshr: return word(k.lshrv(a, b));
	default: return nullptr;
	}
}

// Identities with one constant operand that leave the other operand.
Expr identity(Op op, const Expr& a, const Expr& b)
{
	switch (op) {
	case Op::land:
		if (is_true(a) || is_false(b)) return b;
		if (is_true(b) || is_false(a)) return a;
		return nullptr;
	case Op::lor:
		if (is_false(a) || is_true(b)) return b;
		if (is_false(b) || is_true(a)) return a;
		return nullptr;
	case Op::implies:
		if (is_true(a)) return b;
		if (is_false(a) || is_true(b)) return truth(true);
		return nullptr;
	case Op::bor:
		if (is_word(a, 0)) return b;
		if (is_word(b, 0)) return a;
		return nullptr;
	case Op::band:
		if (is_word(a, ~u64{0})) return b;
		if (is_word(b, ~u64{0})) return a;
		return nullptr;
	case Op::add:
		if (is_word(a, 0)) return b;
		if (is_word(b, 0)) return a;
		return nullptr;
	case Op::mul:
		if (is_word(a, 1)) return b;
		if (is_word(b, 1)) return a;
		return nullptr;
	case Op::ult:
		return is_word(b, 0) ? truth(false) : nullptr; // nothing is below 0
	case Op::sub:
	case Op::shl:
	case Op::lshr:
		return is_word(b, 0) ? a : nullptr;
	default: return nullptr;
	}
}

bool yields_bool(Op op)
{
	return op == Op::land || op == Op::lor || op == Op::eq || op == Op::ult || op == Op::ule ||
	       op == Op::implies || op == Op::iff;
}

} // namespace

Expr binary(Op op, const Expr& a, const Expr& b)
{
	if (is_lit(a) && is_lit(b))
		if (Expr f = fold(op, a->value, b->value))
			return f;
	if (Expr s = identity(op, a, b))
		return s;
	// One node on both sides: x && x is x, x == x is true (as in Concrete).
	if (a == b && (op == Op::land || op == Op::lor))
		return a;
	if (a == b && op == Op::eq)
		return truth(true);
	return make(op, yields_bool(op), {a, b});
}

Expr unary(Op op, const Expr& a)
{
	if (op == Op::lnot && a->op == Op::truth)
		return truth(!a->value);
	if (op == Op::lnot && a->op == Op::lnot)
		return a->kids[0];
	if (op == Op::bnot && a->op == Op::lit)
		return word(~a->value);
	return make(op, op == Op::lnot, {a});
}

namespace {

// A decision list: (c1 ? k1 : (c2 ? k2 : ... 0)) with nonzero literal codes
// k1, k2, ...: its value is 0 exactly when it reaches its end.  The status
// of a spec::Checks chain is one.
bool decision_list(const Expr& e)
{
	if (is_word(e, 0))
		return true;
	return e->op == Op::ite && e->kids[1]->op == Op::lit && e->kids[1]->value != 0 && decision_list(e->kids[2]);
}

Expr replace_end(const Expr& list, const Expr& end)
{
	if (is_word(list, 0))
		return end;
	return make(Op::ite, false, {list->kids[0], list->kids[1], replace_end(list->kids[2], end)});
}

bool is_zero_test(const Expr& c, const Expr& b)
{
	return c->op == Op::eq && c->kids[0] == b && is_word(c->kids[1], 0);
}

} // namespace

Expr ite(const Expr& c, const Expr& a, const Expr& b)
{
	if (c->op == Op::truth)
		return c->value ? a : b;
	// Checks::fail_if(): (b == 0 && cond ? a : b) over a decision list b is b
	// with (cond ? a : 0) at its end.  Without this the status of the k-th
	// check repeats the (k-1)-th twice, and WP's terms double per check.
	if (!a->boolean && decision_list(b)) {
		if (is_zero_test(c, b))
			return replace_end(b, a);
		if (c->op == Op::land && is_zero_test(c->kids[0], b))
			return replace_end(b, ite(c->kids[1], a, word(0)));
	}
	if (a == b || (is_lit(a) && is_lit(b) && a->value == b->value))
		return a;
	// c ? (c ? x : y) : (c ? v : w) is c ? x : w.
	if (a->op == Op::ite && same(a->kids[0], c))
		return ite(c, a->kids[1], b);
	if (b->op == Op::ite && same(b->kids[0], c))
		return ite(c, a, b->kids[2]);
	if (a->boolean) {
		// The Boolean identities, so that implies() reads as !a || b.
		if (is_true(a) && is_false(b)) return c;
		if (is_false(a) && is_true(b)) return unary(Op::lnot, c);
		if (is_true(b)) return binary(Op::implies, c, a);
		if (is_false(b)) return binary(Op::land, c, a);
		if (is_true(a)) return binary(Op::lor, c, b);
		if (is_false(a)) return binary(Op::land, unary(Op::lnot, c), b);
	}
	return make(Op::ite, a->boolean, {c, a, b});
}

Expr shift(Op op, const Expr& a, const Expr& n)
{
	if (n->op == Op::lit) {
		if (n->value >= 64)
			return word(0);
		return binary(op, a, n);
	}
	// A variable amount: (n < 64 ? a op n : 0), spec::Concrete's shlv/lshrv.
	return ite(binary(Op::ult, n, word(64)), make(op, false, {a, n}), word(0));
}

} // namespace node

CBool iff(const CBool& a, const CBool& b)
{
	if (a.e->op == Op::truth && b.e->op == Op::truth)
		return {node::make(Op::truth, true, {}, a.e->value == b.e->value)};
	return {node::make(Op::iff, true, {a.e, b.e})};
}

// --- printing ----------------------------------------------------------------------

namespace {

const char* op_text(Op op, Dialect d)
{
	switch (op) {
	case Op::land: return "&&";
	case Op::lor: return "||";
	case Op::band: return "&";
	case Op::bor: return "|";
	case Op::add: return "+";
	case Op::mul: return "*";
	case Op::sub: return "-";
	case Op::eq: return "==";
	case Op::ult: return "<";
	case Op::ule: return "<=";
	case Op::shl: return "<<";
	case Op::lshr: return ">>";
	case Op::implies: return d == Dialect::acsl ? "==>" : "||";
	case Op::iff: return d == Dialect::acsl ? "<==>" : "==";
	default: return "?";
	}
}

bool associative(Op op)
{
	return op == Op::land || op == Op::lor || op == Op::band || op == Op::bor || op == Op::add || op == Op::mul;
}

// ACSL integers are unbounded: these results are reduced modulo 2^64.
bool wraps(Op op) { return op == Op::add || op == Op::mul || op == Op::sub || op == Op::shl || op == Op::bnot; }

std::string literal(u64 v, Dialect d, bool shift_count)
{
	if (shift_count || (d != Dialect::c && v < 10))
		return std::to_string(v);
	return support::hex(v) + (d == Dialect::c ? "ULL" : "");
}

// A rough printed size, to leave small subterms inline.
std::size_t flat_size(const Node* n)
{
	std::size_t s = 4 + n->name.size();
	for (const Expr& k : n->kids)
		s += flat_size(k.get());
	return s;
}

// The \let bindings (ACSL) or const locals (C): non-trivial nodes reached
// more than once, children first.
struct Lets {
	std::map<const Node*, int> seen;
	std::vector<const Node*> order;
	std::map<const Node*, std::string> names;

	void count(const Expr& e)
	{
		if (++seen[e.get()] > 1)
			return;
		for (const Expr& k : e->kids)
			count(k);
		order.push_back(e.get());
	}

	explicit Lets(const Expr& e)
	{
		count(e);
		for (const Node* n : order)
			if (seen[n] > 1 && !n->kids.empty() && n != e.get() && n->op != Op::lnot && flat_size(n) >= 12)
				names[n] = "t" + std::to_string(names.size() + 1);
	}
};

struct Printer {
	Dialect d;
	std::string prefix;
	unsigned prefix_cols;
	unsigned width;
	bool flat;
	const Lets* lets = nullptr;
	const Node* defining = nullptr; // the node whose \let definition is printed
	// C: && and || as & and | on bools.  The value is the same (operands
	// are pure), but Frama-C's CIL turns each && and || into a branch, and
	// WP's terms grow with every branch of a long check.
	bool bitwise = false;

	std::string logic_op(Op op) const
	{
		if (bitwise && d == Dialect::c && op == Op::land)
			return "&";
		if (bitwise && d == Dialect::c && (op == Op::lor || op == Op::implies))
			return "|";
		return op_text(op, d);
	}

	std::string pad(unsigned col) const
	{
		return "\n" + prefix + std::string(col > prefix_cols ? col - prefix_cols : 0, ' ');
	}

	// In ACSL every wrapping operator reduces modulo 2^64, exactly where C
	// does, so that WP sees the C body and its ACSL model as one term.
	bool cast(Op op) const { return d == Dialect::acsl && wraps(op); }

	std::string leaf(const Expr& e, bool shift_count) const
	{
		if (e->op == Op::var)
			return e->name;
		if (e->op == Op::truth)
			return d == Dialect::c ? (e->value ? "true" : "false") : (e->value ? "\\true" : "\\false");
		return literal(e->value, d, shift_count);
	}

	std::string unary(const Expr& e, unsigned col) const
	{
		const Expr& k = e->kids[0];
		if (e->op == Op::lnot && k->op == Op::eq && !bound(k))
			return infix(k, col, "!=");
		if (e->op == Op::lnot)
			return "!" + str(k, col + 1);
		if (!cast(Op::bnot))
			return "~" + str(k, col + 1);
		return "((uint64_t)~" + str(k, col + 12) + ")";
	}

	std::string ite(const Expr& e, unsigned col) const
	{
		const std::string sep_q = flat ? " ? " : pad(col + 1) + "? ";
		const std::string sep_c = flat ? " : " : pad(col + 1) + ": ";
		return "(" + str(e->kids[0], col + 1) + sep_q + str(e->kids[1], col + 3) + sep_c +
		       str(e->kids[2], col + 3) + ")";
	}

	std::string infix(const Expr& e, unsigned col, std::string op = {}) const
	{
		if (op.empty())
			op = logic_op(e->op);
		if (d == Dialect::c && (e->op == Op::implies || e->op == Op::iff))
			return c_logic(e, col);
		const bool wrap = cast(e->op);
		const std::string o = wrap ? "((uint64_t)(" : "(";
		const unsigned inner = col + static_cast<unsigned>(o.size());
		const bool shifts = e->op == Op::shl || e->op == Op::lshr;
		std::string s = o;
		const std::vector<Expr> ops = operands(e);
		for (std::size_t i = 0; i < ops.size(); i++) {
			const bool count = shifts && i == 1;
			if (i > 0)
				s += flat ? " " + op + " " : pad(inner) + op + " ";
			const unsigned at = i == 0 ? inner : inner + static_cast<unsigned>(op.size()) + 1;
			s += str(ops[i], at, count);
		}
		return s + (wrap ? "))" : ")");
	}

	// C has no ==> and <==>: (!a || b) and (!a == !b).
	std::string c_logic(const Expr& e, unsigned col) const
	{
		const Expr& a = e->kids[0];
		const Expr& b = e->kids[1];
		const std::string sep = flat ? (e->op == Op::implies ? " " + logic_op(Op::lor) + " " : " == ")
					     : pad(col + 1) + logic_op(e->op) + " ";
		if (e->op == Op::implies)
			return "(" + negated(a, col + 1) + sep + str(b, col + 5) + ")";
		return "((" + negated(a, col + 2) + ")" + sep + "(" + negated(b, col + 6) + "))";
	}

	// !e, without a double negation: !(x != y) prints as (x == y).
	std::string negated(const Expr& e, unsigned col) const
	{
		if (e->op == Op::lnot && !bound(e))
			return str(e->kids[0], col);
		return "!" + str(e, col + 1);
	}

	// The operands of a left-deep chain of one associative operator, in
	// order: ((a | b) | c) prints as (a | b | c), which C parses as the same
	// tree.  A \let-bound operand stays one operand.
	void chain(const Expr& e, Op op, std::vector<Expr>& out) const
	{
		if (e->op == op && !bound(e)) {
			chain(e->kids[0], op, out);
			out.push_back(e->kids[1]);
		} else {
			out.push_back(e);
		}
	}

	std::vector<Expr> operands(const Expr& e) const
	{
		std::vector<Expr> ops;
		// An ACSL (uint64_t) cast stays on every operator, as in C.
		if (associative(e->op) && !cast(e->op)) {
			chain(e->kids[0], e->op, ops);
			ops.push_back(e->kids[1]);
		} else {
			ops = e->kids;
		}
		return ops;
	}

	bool bound(const Expr& e) const
	{
		return lets && e.get() != defining && lets->names.count(e.get());
	}

	std::string str(const Expr& e, unsigned col, bool shift_count = false) const
	{
		if (bound(e))
			return lets->names.at(e.get());
		if (e->kids.empty())
			return leaf(e, shift_count);
		if (!flat) {
			Printer one = *this;
			one.flat = true;
			std::string s = one.str(e, col, shift_count);
			if (col + s.size() <= width)
				return s;
		}
		switch (e->op) {
		case Op::lnot:
		case Op::bnot: return unary(e, col);
		case Op::ite: return ite(e, col);
		default: return infix(e, col);
		}
	}

	// The \let prefix (ACSL) and the expression.
	std::string top(const Expr& e, unsigned col) const
	{
		std::string s;
		if (lets)
			for (const Node* n : lets->order)
				if (lets->names.count(n)) {
					Printer def = *this;
					def.defining = n;
					const std::string head = "\\let " + lets->names.at(n) + " = ";
					const Expr self(std::shared_ptr<const Node>{}, n); // non-owning alias
					s += head + def.str(self, col + static_cast<unsigned>(head.size())) + ";" +
					     (flat ? " " : pad(col));
				}
		return s + str(e, col);
	}
};

} // namespace

std::string print(const Expr& e, Dialect d)
{
	const Lets lets(e);
	return Printer{d, "", 0, 0, true, d == Dialect::acsl ? &lets : nullptr}.top(e, 0);
}

std::string layout(const Expr& e, Dialect d, const std::string& prefix, unsigned prefix_cols, unsigned first_col,
		   unsigned width)
{
	const Lets lets(e);
	return Printer{d, prefix, prefix_cols, width, false, d == Dialect::acsl ? &lets : nullptr}.top(e, first_col);
}

CBody c_body(const Expr& e, unsigned width)
{
	const Lets lets(e);
	CBody b;
	for (const Node* n : lets.order) {
		if (!lets.names.count(n))
			continue;
		const std::string name = lets.names.at(n);
		// "\tconst uint64_t tN = " / "\tconst bool tN = "
		const unsigned col = 8 + (n->boolean ? 11u : 15u) + static_cast<unsigned>(name.size()) + 3;
		Printer def{Dialect::c, "\t" + std::string(col - 8, ' '), col, width, false, &lets, n};
		const Expr self(std::shared_ptr<const Node>{}, n); // non-owning alias
		b.locals.push_back({n->boolean, name, def.str(self, col)});
	}
	const Printer ret{Dialect::c, "\t       ", 15, width, false, &lets};
	b.ret = ret.str(e, 15);
	return b;
}

bool same(const Expr& a, const Expr& b)
{
	if (a == b)
		return true;
	if (a->op != b->op || a->boolean != b->boolean || a->value != b->value || a->name != b->name ||
	    a->kids.size() != b->kids.size())
		return false;
	for (std::size_t i = 0; i < a->kids.size(); i++)
		if (!same(a->kids[i], b->kids[i]))
			return false;
	return true;
}

namespace {

struct Assume {
	const std::vector<std::pair<Expr, bool>>& facts;
	std::map<const Node*, Expr> memo;

	Expr go(const Expr& e)
	{
		for (const auto& [f, v] : facts)
			if (f == e)
				return node::make(Op::truth, true, {}, v ? 1 : 0);
		if (e->kids.empty())
			return e;
		const auto it = memo.find(e.get());
		if (it != memo.end())
			return it->second;
		std::vector<Expr> k;
		for (const Expr& x : e->kids)
			k.push_back(go(x));
		Expr r;
		switch (e->op) {
		case Op::lnot:
		case Op::bnot: r = node::unary(e->op, k[0]); break;
		case Op::ite: r = node::ite(k[0], k[1], k[2]); break;
		case Op::iff: r = iff(CBool{k[0]}, CBool{k[1]}).e; break;
		case Op::tuple: r = node::make(Op::tuple, false, k); break;
		default: r = node::binary(e->op, k[0], k[1]); break;
		}
		return memo[e.get()] = r;
	}
};

} // namespace

Expr assume(const Expr& e, const std::vector<std::pair<Expr, bool>>& facts)
{
	return Assume{facts, {}}.go(e);
}

Decisions decisions(const Expr& e)
{
	Decisions d;
	Expr at = e;
	while (at->op == Op::ite && at->kids[1]->op == Op::lit && at->kids[1]->value != 0) {
		d.checks.emplace_back(at->kids[0], at->kids[1]->value);
		at = at->kids[2];
	}
	d.end = at;
	return d;
}

CBodyMulti c_body_multi(const std::vector<Expr>& outs, const std::vector<unsigned>& leads, unsigned width,
			bool bitwise)
{
	const Expr all = node::make(Op::tuple, false, outs);
	const Lets lets(all);
	CBodyMulti b;
	for (const Node* n : lets.order) {
		if (!lets.names.count(n))
			continue;
		const std::string name = lets.names.at(n);
		const unsigned col = 8 + (n->boolean ? 11u : 15u) + static_cast<unsigned>(name.size()) + 3;
		Printer def{Dialect::c, "\t" + std::string(col - 8, ' '), col, width, false, &lets, n, bitwise};
		const Expr self(std::shared_ptr<const Node>{}, n); // non-owning alias
		b.locals.push_back({n->boolean, name, def.str(self, col)});
	}
	for (std::size_t i = 0; i < outs.size(); i++) {
		const unsigned col = leads.at(i);
		const Printer p{Dialect::c, "\t" + std::string(col - 8, ' '), col, width, false, &lets, nullptr, bitwise};
		b.outs.push_back(p.str(outs[i], col));
	}
	return b;
}

void collect_vars(const Expr& e, std::vector<std::string>& out)
{
	if (e->op == Op::var)
		out.push_back(e->name);
	for (const Expr& k : e->kids)
		collect_vars(k, out);
}

} // namespace arborist::extract
