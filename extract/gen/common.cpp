// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: the helpers the generators share (common.hpp).
#include "common.hpp"

#include <utility>

namespace arborist::extract::gen {

namespace sp = arborist::spec;
using W = CWord;
using B = CBool;
using sp::u64;

B ne(const W& a, const W& b) { return !(a == b); }
B between(const W& x, u64 lo, u64 hi) { return d.ule(d.lit(lo), x) && d.ule(x, d.lit(hi)); }

W model(const std::string& fn, const std::vector<std::string>& args)
{
	std::string s = fn + "_model(";
	for (std::size_t i = 0; i < args.size(); i++)
		s += (i ? ", " : "") + args[i];
	return CExpr::word(s + ")");
}

std::string c_hex(u64 v) { return d.lit(v).c(); }

std::string define(const std::string& name, u64 v, const std::string& what)
{
	return "#define " + name + " " + c_hex(v) + (what.empty() ? "" : " /* " + what + " */");
}

const std::vector<Param> epoch_params = {word_param("td_epoch"), word_param("refcount0"), word_param("refcount1")};

sp::EpochState<CExpr> epoch_of(const Args& a) { return {a.w("td_epoch"), a.w("refcount0"), a.w("refcount1")}; }

B epoch_ok(const Args& a)
{
	return ne(a.w("td_epoch"), d.lit(0)) && d.ult(a.w("td_epoch"), d.lit(sp::TD_EPOCH_LIMIT));
}

const char* const epoch_why = "TDH.MNG.INIT sets td_epoch to 1; TD_EPOCH_LIMIT bounds it (spec/arborist/tlb.hpp)";

std::vector<Param> with(std::vector<Param> ps, Param extra)
{
	ps.push_back(std::move(extra));
	return ps;
}

} // namespace arborist::extract::gen
