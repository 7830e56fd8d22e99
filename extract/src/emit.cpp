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
			const std::string term = p.name + "->" + field;
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
	if (returns_bool)
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
	return why.empty() ? "" : ACSL_PREFIX + "// " + why + "\n";
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
		if (p.is_struct())
			s += ACSL_PREFIX + "requires valid_" + p.name + ": \\valid_read(" + p.name + ");\n";
	for (const Clause& c : f.requires_)
		s += why_line(c.why) + acsl_clause("requires " + c.label + ": ", c.pred(a).e);
	s += ACSL_PREFIX + "assigns \\nothing;\n";
	if (f.model) {
		const Expr link = f.returns_bool ? iff(a.result_bool(), CBool{body}).e : (a.result() == CWord{body}).e;
		s += ACSL_PREFIX + "// the C body is " + f.name + "_model() (same term, proved by WP)\n";
		s += acsl_clause("ensures model: ", link);
	}
	for (const Clause& c : f.ensures_)
		s += why_line(c.why) + ensures_clause(c, a);
	return s + "  @*/\n";
}

std::string signature(const Function& f)
{
	std::string head = std::string("static inline ") + (f.returns_bool ? "bool " : "uint64_t ") + f.name + "(";
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

std::string function_text(const Function& f)
{
	const Expr body = expr_of(f.body(f.bind()));
	check_params_used(f, body);
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
	std::string s = "/* Generated by arborist extract (extract/gen.cpp) from " + src + " -- do not edit. */\n";
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
	return s + "\n#endif /* " + guard + " */\n";
}

} // namespace arborist::extract
