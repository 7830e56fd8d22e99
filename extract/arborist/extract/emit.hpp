// SPDX-License-Identifier: GPL-2.0-only
//
// What arborist-extract writes: C headers of `static inline` functions whose
// bodies and ACSL contracts are spec rules evaluated in extract::CExpr.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "arborist/extract/cexpr.hpp"

namespace arborist::extract {

using Value = std::variant<CWord, CBool>;

// A C parameter.  A pointer to a struct exposes its fields, each bound to
// the term `name->field` (fields: name and whether it is a bool); a struct
// passed by value binds `name.field`, where a field may be nested or an
// array element ("td.epoch.td_epoch", "path[3]").
struct Param {
	std::string ctype; // "uint64_t", "bool", "const struct X *" or "struct X"
	std::string name;
	std::vector<std::pair<std::string, bool>> fields = {};
	bool by_value = false;
	bool is_struct() const { return !fields.empty(); }
	std::string term(const std::string& field) const { return name + (by_value ? "." : "->") + field; }
};

inline Param word_param(std::string n) { return {"uint64_t", std::move(n)}; }
inline Param bool_param(std::string n) { return {"bool", std::move(n)}; }

// The domain values of a function's parameters (and of \result in an
// ensures clause), by name.
class Args {
public:
	void bind(const std::string& name, Value v) { vals_.insert_or_assign(name, std::move(v)); }
	CWord w(const std::string& name) const;
	CBool b(const std::string& name) const;
	CWord result() const { return w("\\result"); }
	CBool result_bool() const { return b("\\result"); }

private:
	std::map<std::string, Value> vals_;
};

using Pred = std::function<CBool(const Args&)>;

// The fields of a returned struct, in order, each with its value.
using Outputs = std::vector<std::pair<std::string, Value>>;

// One requires/ensures clause: an ACSL label, the predicate (built from spec
// rules over the parameters) and where the property comes from (a Z3
// obligation of `arborist prove --list`, a kernel comment, ...).
struct Clause {
	std::string label;
	Pred pred;
	std::string why;
	std::vector<Param> forall = {}; // quantified variables, bound like parameters
};

struct Function {
	std::string name;
	std::string doc; // the comment above the function; '\n' separates lines
	bool returns_bool = false;
	std::vector<Param> params;
	std::function<Value(const Args&)> body;
	std::vector<Clause> requires_;
	std::vector<Clause> ensures_;
	// Also emit the logic function `<name>_model`, the same expression as an
	// ACSL term, and `ensures model: \result == <that term>`: the anchor for
	// the axioms of the header (bit-level lemmas proved by Z3).
	bool model = false;
	// A struct-valued function: the C type, its fields (name, is_bool) as
	// \result.<field> in the contract, and the value of each.  `copies`
	// (result field, input term) print as one struct assignment first, e.g.
	// `out.td = s.td;`, so that only the fields the rule changes follow.
	std::string result_struct;
	std::vector<std::pair<std::string, bool>> result_fields;
	std::function<Outputs(const Args&)> outputs;
	std::vector<std::pair<std::string, std::string>> copies;
	// Checks first (a SEAMCALL leaf): the first output is a decision list of
	// failure codes.  Each failing check prints as `if (cond) return
	// <fail_call with the code>;`; the generator checks that the outputs on
	// that path are `fail_outputs(code)`.  The rest is the success path.
	// Each path is a small WP goal, where one ?: tree per output doubles.
	std::function<std::string(const std::string& code)> fail_call;
	std::function<Outputs(const Args&, const CWord& code)> fail_outputs;
	// Also `ensures <field>: \result.<field> == <its output>` per field.
	bool ensures_outputs = false;
	// The checks as their own function: the leaf calls `status_call` and
	// prints only the success path.
	std::string status_call;
	// A uint64_t function whose body is a decision list of checks, printed
	// as `if (c_i) return k_i;` in a row.
	bool status_checks = false;

	Function& require(std::string label, Pred p, std::string why = {});
	Function& ensure(std::string label, Pred p, std::string why = {});
	Function& ensure_forall(std::string label, std::vector<Param> vars, Pred p, std::string why = {});
	Args bind() const;           // the parameters as domain variables
	Args bind_result() const;    // the same plus \result
	std::string model_call() const; // "<name>_model(p1, p2, ...)"
};

// An ACSL axiom: a bit-level lemma WP does not prove quickly, proved by Z3
// as the named obligation of `arborist prove`.
struct Axiom {
	std::string name;
	std::string obligation; // as listed by `arborist prove --list`
	std::vector<Param> binders;
	Pred pred;
};

struct Header {
	std::string file;                 // "spte_ept.h"
	std::vector<std::string> sources; // spec headers it is generated from
	std::string summary;              // the header comment; '\n' separates lines
	std::vector<std::string> defines; // preprocessor lines, e.g. "#define X 0x1ULL"
	std::vector<std::string> types;   // struct definitions
	std::vector<Function> functions;
	std::string axiomatic;            // the name of the ACSL axiomatic block
	std::vector<Axiom> axioms;

	Function& add(std::string name, std::string doc, bool returns_bool, std::vector<Param> params,
		      std::function<Value(const Args&)> body, bool model = false);
	Function& add_struct(std::string name, std::string doc, std::string result_struct,
			     std::vector<std::pair<std::string, bool>> result_fields, std::vector<Param> params,
			     std::function<Outputs(const Args&)> outputs);
	// Function text written by the generator itself (a loop over an array),
	// printed after the generated functions.
	std::vector<std::string> raw;
};

// The whole header text.  Throws std::runtime_error on a function whose
// body does not read one of its parameters (a stale signature).
std::string emit(const Header& h);

} // namespace arborist::extract
