// SPDX-License-Identifier: GPL-2.0-only
//
// Printing a generated header: banner, constants, types, the ACSL
// axiomatic block (logic models and Z3-proved axioms), then one
// `static inline` function per spec rule with its contract.
#include "arborist/extract/emit.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>

namespace arborist::extract {

CWord Args::w(const std::string& name) const
{
	const auto it = vals_.find(name);
	if (it == vals_.end() || !std::holds_alternative<CWord>(it->second))
		throw std::runtime_error("extract: no word parameter '" + name + "'");
	return std::get<CWord>(it->second);
}

CBool Args::b(const std::string& name) const
{
	const auto it = vals_.find(name);
	if (it == vals_.end() || !std::holds_alternative<CBool>(it->second))
		throw std::runtime_error("extract: no bool parameter '" + name + "'");
	return std::get<CBool>(it->second);
}

Function& Function::require(std::string label, Pred p, std::string why)
{
	requires_.push_back({std::move(label), std::move(p), std::move(why)});
	return *this;
}

Function& Function::ensure(std::string label, Pred p, std::string why)
{
	ensures_.push_back({std::move(label), std::move(p), std::move(why)});
	return *this;
}

Function& Function::ensure_forall(std::string label, std::vector<Param> vars, Pred p, std::string why)
{
	ensures_.push_back({std::move(label), std::move(p), std::move(why), std::move(vars)});
	return *this;
}

namespace {

void bind_param(Args& a, const Param& p)
{
	if (p.is_struct()) {
		for (const auto& [field, is_bool] : p.fields) {
			const std::string term = p.term(field);
			if (is_bool)
				a.bind(term, CExpr::boolean(term));
			else
				a.bind(term, CExpr::word(term));
		}
	} else if (p.ctype == "bool") {
		a.bind(p.name, CExpr::boolean(p.name));
	} else {
		a.bind(p.name, CExpr::word(p.name));
	}
}

} // namespace

Args Function::bind() const
{
	Args a;
	for (const Param& p : params)
		bind_param(a, p);
	return a;
}

Args Function::bind_result() const
{
	Args a = bind();
	if (!result_struct.empty()) {
		for (const auto& [field, is_bool] : result_fields) {
			const std::string term = "\\result." + field;
			if (is_bool)
				a.bind(term, CExpr::boolean(term));
			else
				a.bind(term, CExpr::word(term));
		}
	} else if (returns_bool)
		a.bind("\\result", CExpr::boolean("\\result"));
	else
		a.bind("\\result", CExpr::word("\\result"));
	return a;
}

std::string Function::model_call() const
{
	std::string s = name + "_model(";
	for (std::size_t i = 0; i < params.size(); i++)
		s += (i ? ", " : "") + params[i].name;
	return s + ")";
}

Function& Header::add(std::string name, std::string doc, bool returns_bool, std::vector<Param> params,
		      std::function<Value(const Args&)> body, bool model)
{
	Function f;
	f.name = std::move(name);
	f.doc = std::move(doc);
	f.returns_bool = returns_bool;
	f.params = std::move(params);
	f.body = std::move(body);
	f.model = model;
	functions.push_back(std::move(f));
	return functions.back();
}

Function& Header::add_struct(std::string name, std::string doc, std::string result_struct,
			     std::vector<std::pair<std::string, bool>> result_fields, std::vector<Param> params,
			     std::function<Outputs(const Args&)> outputs)
{
	Function f;
	f.name = std::move(name);
	f.doc = std::move(doc);
	f.params = std::move(params);
	f.result_struct = std::move(result_struct);
	f.result_fields = std::move(result_fields);
	f.outputs = std::move(outputs);
	functions.push_back(std::move(f));
	return functions.back();
}

namespace {

constexpr unsigned WIDTH = 100;
const std::string ACSL_PREFIX = "  @ ";

const Expr& expr_of(const Value& v)
{
	return std::holds_alternative<CWord>(v) ? std::get<CWord>(v).e : std::get<CBool>(v).e;
}

std::vector<std::string> lines(const std::string& s)
{
	std::vector<std::string> out;
	std::istringstream in(s);
	for (std::string l; std::getline(in, l);)
		out.push_back(l);
	return out;
}

std::string block_comment(const std::string& text, const std::string& indent = "")
{
	if (text.find("*/") != std::string::npos || text.find("/*") != std::string::npos)
		throw std::runtime_error("extract: a comment may not contain /* or */: " + text);
	std::string s = indent + "/*\n";
	for (const std::string& l : lines(text))
		s += indent + (l.empty() ? " *" : " * " + l) + "\n";
	return s + indent + " */\n";
}

std::string upper_guard(const std::string& file)
{
	std::string g = "ARBORIST_EXTRACT_";
	for (const char c : file)
		g += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
	return g;
}

// "label: <predicate>;" laid out after `lead` on an ACSL line.
std::string acsl_clause(const std::string& lead, const Expr& e)
{
	const unsigned col = static_cast<unsigned>(ACSL_PREFIX.size() + lead.size());
	return ACSL_PREFIX + lead + layout(e, Dialect::acsl, ACSL_PREFIX, 4, col, WIDTH) + ";\n";
}

std::string why_line(const std::string& why)
{
	std::string s;
	for (const std::string& l : lines(why))
		s += ACSL_PREFIX + "// " + l + "\n";
	return s;
}

std::string binder_list(const std::vector<Param>& ps)
{
	std::string s;
	for (std::size_t i = 0; i < ps.size(); i++)
		s += (i ? ", " : "") + ps[i].ctype + " " + ps[i].name;
	return s;
}

// Logic parameters: words are integers (so that constants and model
// applications pass without casts; callers quantify over uint64_t).
std::string logic_params(const std::vector<Param>& ps)
{
	std::string s;
	for (std::size_t i = 0; i < ps.size(); i++)
		s += (i ? ", " : "") + std::string(ps[i].ctype == "bool" ? "bool " : "integer ") + ps[i].name;
	return s;
}

std::string model_definition(const Function& f)
{
	const Expr body = expr_of(f.body(f.bind()));
	const std::string head = (f.returns_bool ? "predicate " : "logic integer ") + f.name + "_model(" +
				 logic_params(f.params) + ") =";
	std::string s = ACSL_PREFIX + "// " + f.name + "(): its body as an ACSL term\n";
	s += ACSL_PREFIX + head + "\n";
	s += ACSL_PREFIX + "  " + layout(body, Dialect::acsl, ACSL_PREFIX + "  ", 6, 6, WIDTH) + ";\n";
	return s;
}

std::string axiom_text(const Axiom& ax)
{
	Args a;
	for (const Param& p : ax.binders)
		bind_param(a, p);
	std::string s = ACSL_PREFIX + "// Proved by Z3: arborist prove --filter " + ax.obligation + "\n";
	s += ACSL_PREFIX + "axiom " + ax.name + ":\n";
	s += ACSL_PREFIX + "  \\forall " + binder_list(ax.binders) + ";\n";
	s += ACSL_PREFIX + "    " + layout(ax.pred(a).e, Dialect::acsl, ACSL_PREFIX + "    ", 8, 8, WIDTH) + ";\n";
	return s;
}

std::string axiomatic_block(const Header& h)
{
	std::vector<const Function*> models;
	for (const Function& f : h.functions)
		if (f.model)
			models.push_back(&f);
	if (models.empty() && h.axioms.empty())
		return "";
	std::string s = "/*@ axiomatic " + h.axiomatic + " {\n";
	for (const Function* f : models)
		s += model_definition(*f) + ACSL_PREFIX + "\n";
	for (const Axiom& ax : h.axioms)
		s += axiom_text(ax) + ACSL_PREFIX + "\n";
	return s + ACSL_PREFIX + "}\n  @*/\n\n";
}

// An ensures clause, with its \forall prefix if it quantifies.
std::string ensures_clause(const Clause& c, Args a)
{
	if (c.forall.empty())
		return acsl_clause("ensures " + c.label + ": ", c.pred(a).e);
	for (const Param& p : c.forall)
		bind_param(a, p);
	return acsl_clause("ensures " + c.label + ": \\forall " + binder_list(c.forall) + "; ", c.pred(a).e);
}

void check_params_used(const Function& f, const Expr& body)
{
	for (const Param& p : f.params)
		if (p.name.size() > 1 && p.name[0] == 't' && std::isdigit(static_cast<unsigned char>(p.name[1])))
			throw std::runtime_error("extract: " + f.name + "(): parameter names tN are the locals' names");
	std::vector<std::string> used;
	collect_vars(body, used);
	for (const Param& p : f.params) {
		if (p.is_struct())
			continue;
		if (std::find(used.begin(), used.end(), p.name) == used.end())
			throw std::runtime_error("extract: " + f.name + "() does not read its parameter '" + p.name + "'");
	}
}

std::string contract(const Function& f, const Expr& body)
{
	const Args a = f.bind_result();
	std::string s = "/*@\n";
	for (const Param& p : f.params)
		if (p.is_struct() && !p.by_value)
			s += ACSL_PREFIX + "requires valid_" + p.name + ": \\valid_read(" + p.name + ");\n";
	for (const Clause& c : f.requires_)
		s += why_line(c.why) + acsl_clause("requires " + c.label + ": ", c.pred(a).e);
	s += ACSL_PREFIX + "assigns \\nothing;\n";
	if (f.model) {
		const Expr link = f.returns_bool ? iff(a.result_bool(), CBool{body}).e : (a.result() == CWord{body}).e;
		s += ACSL_PREFIX + "// the C body is " + f.name + "_model() (same term, proved by WP)\n";
		s += acsl_clause("ensures model: ", link);
	}
	if (f.ensures_outputs)
		for (const auto& [field, v] : f.outputs(f.bind())) {
			const Expr& e = expr_of(v);
			const std::string r = "\\result." + field;
			const Expr eq = e->boolean ? iff(CExpr::boolean(r), CBool{e}).e : (CExpr::word(r) == CWord{e}).e;
			std::string label = field;
			for (char& ch : label)
				if (ch == '.')
					ch = '_';
			s += acsl_clause("ensures " + label + ": ", eq);
		}
	for (const Clause& c : f.ensures_)
		s += why_line(c.why) + ensures_clause(c, a);
	return s + "  @*/\n";
}

std::string signature(const Function& f)
{
	const std::string ret = !f.result_struct.empty() ? f.result_struct + " " : f.returns_bool ? "bool " : "uint64_t ";
	std::string head = "static inline " + ret + f.name + "(";
	std::vector<std::string> ps;
	for (const Param& p : f.params)
		ps.push_back(p.ctype + (p.ctype.back() == '*' ? "" : " ") + p.name);
	if (ps.empty())
		ps.push_back("void");
	std::string one = head;
	for (std::size_t i = 0; i < ps.size(); i++)
		one += (i ? ", " : "") + ps[i];
	if (one.size() + 1 <= WIDTH)
		return one + ")\n";
	std::string s = head;
	const std::string pad(head.size(), ' ');
	for (std::size_t i = 0; i < ps.size(); i++)
		s += (i ? ",\n" + pad : "") + ps[i];
	return s + ")\n";
}

// A struct-valued function: its outputs, each a spec rule, assigned to the
// fields of a local `out` after the locals they share.
std::string struct_function_text(const Function& f)
{
	const Outputs outs = f.outputs(f.bind());
	if (outs.size() != f.result_fields.size())
		throw std::runtime_error("extract: " + f.name + "(): outputs do not match the result fields");
	// Parameters read by some output (or copied whole).
	std::vector<std::string> used;
	for (const auto& [field, v] : outs)
		collect_vars(expr_of(v), used);
	for (const Param& p : f.params) {
		bool read = false;
		for (const std::string& u : used)
			read = read || u == p.name || u.rfind(p.name + ".", 0) == 0 || u.rfind(p.name + "->", 0) == 0;
		if (!read)
			throw std::runtime_error("extract: " + f.name + "() does not read its parameter '" + p.name + "'");
	}
	// An output equal to the input field a copy covers is printed by the copy.
	auto copied = [&](const std::string& field, const Expr& e) {
		for (const auto& [out, in] : f.copies)
			if (field.rfind(out + ".", 0) == 0 && e->op == Op::var && e->name == in + field.substr(out.size()))
				return true;
		return false;
	};
	std::vector<Expr> exprs;
	std::vector<unsigned> leads;
	std::vector<std::string> names;
	for (std::size_t i = 0; i < outs.size(); i++) {
		if (outs[i].first != f.result_fields[i].first)
			throw std::runtime_error("extract: " + f.name + "(): output " + outs[i].first + " out of order");
		const Expr e = expr_of(outs[i].second);
		if (copied(outs[i].first, e))
			continue;
		exprs.push_back(e);
		names.push_back(outs[i].first);
		leads.push_back(8 + 4 + static_cast<unsigned>(outs[i].first.size()) + 3);
	}
	const CBodyMulti b = c_body_multi(exprs, leads, WIDTH);
	std::string s = "{\n";
	for (const CLocal& l : b.locals)
		s += std::string("\tconst ") + (l.boolean ? "bool " : "uint64_t ") + l.name + " = " + l.init + ";\n";
	s += (b.locals.empty() ? "" : "\n") + std::string("\t") + f.result_struct + " out;\n\n";
	for (const auto& [out, in] : f.copies)
		s += "\tout." + out + " = " + in + ";\n";
	for (std::size_t i = 0; i < exprs.size(); i++)
		s += "\tout." + names[i] + " = " + b.outs[i] + ";\n";
	return s + "\treturn out;\n}\n";
}

// A condition as printed, in exactly one pair of parentheses.
std::string paren(const std::string& c)
{
	int depth = 0;
	for (std::size_t i = 0; i < c.size(); i++) {
		depth += c[i] == '(' ? 1 : c[i] == ')' ? -1 : 0;
		if (depth == 0)
			return i + 1 == c.size() && c[0] == '(' ? c : "(" + c + ")";
	}
	return "(" + c + ")";
}

// An output on a path: an input passed through stays the input (not the
// value a check on that path implies for it).
Expr on_path(const Expr& e, const std::vector<std::pair<Expr, bool>>& facts)
{
	return e->op == Op::var ? e : assume(e, facts);
}

// Checks first: `if (c_i) return fail(k_i);` per check, then the outputs
// on the path where every check passed.
std::string checked_function_text(const Function& f)
{
	const Args args = f.bind();
	const Outputs outs = f.outputs(args);
	const Decisions dl = decisions(expr_of(outs.at(0).second));
	if (dl.checks.empty())
		throw std::runtime_error("extract: " + f.name + "(): its status is not a decision list");
	std::vector<std::pair<Expr, bool>> facts;
	for (const auto& [cond, code] : dl.checks) {
		std::vector<std::pair<Expr, bool>> here = facts;
		here.emplace_back(cond, true);
		const Outputs want = f.fail_outputs(args, CExpr::lit(code));
		for (std::size_t i = 0; i < outs.size(); i++)
			if (!same(on_path(expr_of(outs[i].second), here), on_path(expr_of(want.at(i).second), here)))
				throw std::runtime_error("extract: " + f.name + "(): a failing check (" + CWord{CExpr::lit(code)}.c() +
							 ") changes " + outs[i].first + ": " +
							 print(on_path(expr_of(outs[i].second), here), Dialect::c) + " vs " +
							 print(on_path(expr_of(want.at(i).second), here), Dialect::c));
		facts.emplace_back(cond, false);
	}
	// The conditions and the success path, sharing their locals.
	auto copied = [&](const std::string& field, const Expr& e) {
		for (const auto& [out, in] : f.copies)
			if (field.rfind(out + ".", 0) == 0 && e->op == Op::var && e->name == in + field.substr(out.size()))
				return true;
		return false;
	};
	std::vector<Expr> exprs;
	std::vector<unsigned> leads;
	if (f.status_call.empty())
		for (const auto& [cond, code] : dl.checks) {
			exprs.push_back(cond);
			leads.push_back(11); // "\tif (", whose "(" the condition's own parenthesis becomes
		}
	const std::size_t nconds = exprs.size();
	std::vector<std::string> names;
	for (const auto& [field, v] : outs) {
		const Expr e = on_path(expr_of(v), facts);
		if (copied(field, e))
			continue;
		exprs.push_back(e);
		names.push_back(field);
		leads.push_back(8 + 4 + static_cast<unsigned>(field.size()) + 3);
	}
	const CBodyMulti b = c_body_multi(exprs, leads, WIDTH, true);
	std::string s = "{\n";
	for (const CLocal& l : b.locals)
		s += std::string("\tconst ") + (l.boolean ? "bool " : "uint64_t ") + l.name + " = " + l.init + ";\n";
	if (!f.status_call.empty())
		s += "\tconst uint64_t status = " + f.status_call + ";\n";
	s += (b.locals.empty() && f.status_call.empty() ? "" : "\n") + std::string("\t") + f.result_struct + " out;\n\n";
	if (!f.status_call.empty()) {
		s += "\tif (status != " + CWord{dl.end}.c() + ")\n\t\treturn " + f.fail_call("status") + ";\n";
		if (dl.end->op != Op::lit)
			throw std::runtime_error("extract: " + f.name + "(): the checks do not end in a success code");
	}
	for (std::size_t i = 0; i < nconds; i++)
		s += "\tif " + paren(b.outs[i]) + "\n\t\treturn " + f.fail_call(CWord{CExpr::lit(dl.checks[i].second)}.c()) + ";\n";
	s += "\n";
	for (const auto& [out, in] : f.copies)
		s += "\tout." + out + " = " + in + ";\n";
	for (std::size_t i = 0; i < names.size(); i++)
		s += "\tout." + names[i] + " = " + b.outs[nconds + i] + ";\n";
	return s + "\treturn out;\n}\n";
}

// The checks of a leaf: `if (c_i) return k_i;` in order, then the end.
std::string status_function_text(const Function& f, const Expr& body)
{
	const Decisions dl = decisions(body);
	if (dl.checks.empty())
		throw std::runtime_error("extract: " + f.name + "(): its body is not a decision list");
	std::vector<Expr> exprs;
	std::vector<unsigned> leads;
	for (const auto& [cond, code] : dl.checks) {
		exprs.push_back(cond);
		leads.push_back(11);
	}
	exprs.push_back(dl.end);
	leads.push_back(15); // "\treturn "
	const CBodyMulti b = c_body_multi(exprs, leads, WIDTH, true);
	std::string s = "{\n";
	for (const CLocal& l : b.locals)
		s += std::string("\tconst ") + (l.boolean ? "bool " : "uint64_t ") + l.name + " = " + l.init + ";\n";
	if (!b.locals.empty())
		s += "\n";
	for (std::size_t i = 0; i < dl.checks.size(); i++)
		s += "\tif " + paren(b.outs[i]) + "\n\t\treturn " + CWord{CExpr::lit(dl.checks[i].second)}.c() + ";\n";
	return s + "\treturn " + b.outs.back() + ";\n}\n";
}

std::string function_text(const Function& f)
{
	if (!f.result_struct.empty()) {
		std::string s = block_comment(f.doc) + contract(f, nullptr) + signature(f);
		return s + (f.fail_call ? checked_function_text(f) : struct_function_text(f));
	}
	const Expr body = expr_of(f.body(f.bind()));
	check_params_used(f, body);
	if (f.status_checks)
		return block_comment(f.doc) + contract(f, body) + signature(f) + status_function_text(f, body);
	std::string s = block_comment(f.doc) + contract(f, body) + signature(f) + "{\n";
	const CBody b = c_body(body, WIDTH);
	for (const CLocal& l : b.locals)
		s += std::string("\tconst ") + (l.boolean ? "bool " : "uint64_t ") + l.name + " = " + l.init + ";\n";
	if (!b.locals.empty())
		s += "\n";
	return s + "\treturn " + b.ret + ";\n}\n";
}

} // namespace

std::string emit(const Header& h)
{
	std::string src;
	for (std::size_t i = 0; i < h.sources.size(); i++)
		src += (i ? (i + 1 == h.sources.size() ? " and " : ", ") : "") + h.sources[i];
	std::string s = "/* Generated by arborist extract (extract/gen/) from " + src + " -- do not edit. */\n";
	s += "/* SPDX-License-Identifier: GPL-2.0-only */\n";
	s += block_comment(h.summary);
	const std::string guard = upper_guard(h.file);
	s += "#ifndef " + guard + "\n#define " + guard + "\n\n#include <stdbool.h>\n#include <stdint.h>\n\n";
	for (const std::string& d : h.defines)
		s += d + "\n";
	if (!h.defines.empty())
		s += "\n";
	for (const std::string& t : h.types)
		s += t + "\n";
	s += axiomatic_block(h);
	for (std::size_t i = 0; i < h.functions.size(); i++)
		s += (i ? "\n" : "") + function_text(h.functions[i]);
	for (const std::string& r : h.raw)
		s += "\n" + r;
	return s + "\n#endif /* " + guard + " */\n";
}

} // namespace arborist::extract
