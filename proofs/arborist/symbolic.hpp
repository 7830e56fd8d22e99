// SPDX-License-Identifier: GPL-2.0-only
//
// The symbolic domain: the spec's rules evaluated over Z3 terms.
// Words are 64-bit bit-vectors, Bools are Z3 booleans.  The two are distinct
// C++ types (both thin wrappers of z3::expr) so that reflection can tell a
// bool field from a word field.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <z3++.h>

#include "arborist/domain.hpp"

namespace arborist::proofs {

// The context used to default-construct placeholders (z3::expr has no
// default constructor).  Set for the duration of one obligation by
// ContextScope; a placeholder is always assigned before it is used.
z3::context& current_context();

class ContextScope {
public:
	explicit ContextScope(z3::context& c);
	~ContextScope();
	ContextScope(const ContextScope&) = delete;
	ContextScope& operator=(const ContextScope&) = delete;

private:
	z3::context* prev_;
};

struct SymWord : z3::expr {
	SymWord() : z3::expr(current_context()) {}
	SymWord(z3::expr e) : z3::expr(std::move(e)) {} // NOLINT: implicit by design
};

struct SymBool : z3::expr {
	SymBool() : z3::expr(current_context()) {}
	SymBool(z3::expr e) : z3::expr(std::move(e)) {} // NOLINT: implicit by design
};

// A named free constant, kept so a counterexample can be printed.
struct Named {
	std::string name;
	z3::expr value;
};

struct Symbolic {
	using Word = SymWord;
	using Bool = SymBool;

	z3::context* ctx;
	std::vector<Named>* vars; // where var() records the constants it makes

	Word lit(std::uint64_t v) const { return ctx->bv_val(static_cast<std::uint64_t>(v), 64); }
	template <class E>
		requires std::is_enum_v<E>
	Word lit(E e) const { return lit(static_cast<std::uint64_t>(e)); }
	Bool truth(bool b) const { return ctx->bool_val(b); }
	z3::expr ite(const z3::expr& c, const z3::expr& a, const z3::expr& b) const { return z3::ite(c, a, b); }
	Bool ult(const z3::expr& a, const z3::expr& b) const { return z3::ult(a, b); }
	Bool ule(const z3::expr& a, const z3::expr& b) const { return z3::ule(a, b); }
	Word shl(const z3::expr& a, unsigned n) const { return z3::shl(a, lit(n)); }
	Word lshr(const z3::expr& a, unsigned n) const { return z3::lshr(a, lit(n)); }
	Word shlv(const z3::expr& a, const z3::expr& n) const { return z3::shl(a, n); }
	Word lshrv(const z3::expr& a, const z3::expr& n) const { return z3::lshr(a, n); }

	Word word(const std::string& name) const
	{
		Word w = ctx->bv_const(name.c_str(), 64);
		vars->push_back({name, w});
		return w;
	}
	Bool boolean(const std::string& name) const
	{
		Bool b = ctx->bool_const(name.c_str());
		vars->push_back({name, b});
		return b;
	}
};

static_assert(spec::Domain<Symbolic>);

} // namespace arborist::proofs
