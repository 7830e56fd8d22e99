// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract: what the generators of extract/include/arborist/*.h
// share (docs/extract.md).  One generator per spec header, gen_*.cpp.
//
// Every function body a generator writes is a spec rule evaluated in
// extract::CExpr with its parameters bound to C identifiers, and every
// contract clause is a spec rule (or a Z3 obligation's statement) evaluated
// the same way over the parameters and \result.  Nothing here restates a
// rule: the headers change when spec/ changes, and
// tests/extract_diff_test.cpp runs the C against spec::Concrete.  Which
// properties WP proves and which are axioms (proved by Z3) follows a
// measurement (docs/sources.md, "WP bit-vector measurement") that
// extraction confirmed (docs/extract.md): WP's Qed decides bit tests
// against constant masks; arithmetic on bit fields (PFN round trips, split
// strides, alias bijections) goes to Z3.
#pragma once

#include <string>
#include <vector>

#include "arborist/extract/emit.hpp"
#include "arborist/sept.hpp"
#include "arborist/spte.hpp"
#include "arborist/tlb.hpp"

// The S-EPT leaves are extracted over a view whose S-EPT page below the
// target is summarised (SeptLocal<CExpr, 1>): child[0] is the page's first
// entry, and the two rules that read the whole page are the view's fields
// children_free and children_uniform, which arborist_sept_children_free()
// and arborist_sept_children_uniform() compute from the 512 entries with a
// proved loop.  These two explicit specialisations (gen_sept.cpp) are the
// only place the C view differs from the spec's; tests/extract_diff_test.cpp
// runs the C leaves against spec::sept_seamcall over whole 512-entry pages.
// Declared here so that no generator instantiates the spec's own.
namespace arborist::extract {
inline const std::string SEPT_VIEW = "s"; // the view parameter of every extracted leaf
} // namespace arborist::extract

namespace arborist::spec {
template <>
extract::CBool all_children_free<extract::CExpr, 1>(const extract::CExpr&, const SeptLocal<extract::CExpr, 1>&);
template <>
extract::CBool children_uniform<extract::CExpr, 1>(const extract::CExpr&, const SeptLocal<extract::CExpr, 1>&);
} // namespace arborist::spec

namespace arborist::extract::gen {

inline constexpr const CExpr& d = cexpr;

CBool ne(const CWord& a, const CWord& b);
CBool between(const CWord& x, spec::u64 lo, spec::u64 hi);

// An application of a header's logic model, e.g. ept_v6_19_make_spte_model(pfn, 1).
CWord model(const std::string& fn, const std::vector<std::string>& args);

std::string c_hex(spec::u64 v);
std::string define(const std::string& name, spec::u64 v, const std::string& what);

// The TD epoch as parameters (tlb.h and sept_flags.h): EpochState's fields.
extern const std::vector<Param> epoch_params;
spec::EpochState<CExpr> epoch_of(const Args& a);
CBool epoch_ok(const Args& a);
extern const char* const epoch_why;
std::vector<Param> with(std::vector<Param> ps, Param extra);

// A generated file: its name and text.  The text is emitted while the area
// that built it (and that its clauses refer to) is alive.
struct Output {
	std::string file;
	std::string text;
};

// The generators, one per spec header.
Output spte_header(const spec::SpteFlavor& f, const std::string& file, const std::string& prefix); // gen_spte.cpp
Output gfn_header();                                                                                 // gen_gfn.cpp
Output tlb_header();                                                                                 // gen_tlb.cpp
Output root_header();                                                                                // gen_root.cpp
Output mirror_hook_header(); // gen_mirror_hook.cpp
Output sept_flags_header();  // gen_sept_flags.cpp
Output sept_header();        // gen_sept.cpp

} // namespace arborist::extract::gen
