// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: the printers of the final state -- the TDP MMU's roots and
// the module's S-EPT as text rows (runs of like leaves folded) and as
// Graphviz.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "arborist/hw/sim_module.hpp"
#include "arborist/impl/mmu_page.hpp"
#include "arborist/impl/tdp_mmu.hpp"
#include "scenario_names.hpp"

namespace arborist::cli::scenario {

using u32 = std::uint32_t;

// ============================================================================
// Rows: the final state as lines, with runs of like leaves folded
// ============================================================================

struct Row {
	unsigned depth = 0;
	std::string key_name; // "gfn" or "gpa"
	u64 key = 0;
	u64 key_step = 0;
	unsigned level = 0;
	std::string what;       // "leaf", "table", an S-EPT state
	std::string value_name; // "spte" or "hpa"
	u64 value = 0;
	u64 value_step = 0; // a leaf's value for the next key
	bool foldable = false;
	std::string suffix;
};

// Runs of at least kFold like leaves (consecutive keys, values stepping by
// the page size) print as one line.
void print_rows(std::ostream& out, const std::vector<Row>& rows);

// ---- the page-table trees ------------------------------------------------------

// A child table the printers may descend into: live, one level down.  (A
// present SPTE naming anything else would be a bug of the reference; it is
// printed, not followed.)
bool walkable(const impl::PageTables& pt, u32 child, unsigned parent_level);

template <class Mmu>
class TreeWalk {
public:
	explicit TreeWalk(const Mmu& mmu) : mmu_(mmu), pt_(mmu.tables()) {}

	// Pre-order rows of every present SPTE under `root`, GFNs without the
	// TD's shared bit (as a scenario names them).
	std::vector<Row> rows(u32 root)
	{
		std::vector<Row> out;
		alias_ = mmu_.gfn_root_bits(root);
		walk(root, 0, out);
		return out;
	}

private:
	void walk(u32 sp, unsigned depth, std::vector<Row>& out) const
	{
		const impl::MmuPage& page = pt_[sp];
		const u64 span = impl::pages_per(pt_, page.level);
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const u64 s = page.spt[i];
			if (!spec::is_shadow_present_pte(spec::concrete, flavor(), s))
				continue;
			Row r{depth, "gfn", (page.gfn + i * span) & ~alias_, span, page.level, "leaf", "spte", s, 0, false, ""};
			const u32 child = impl::spte_to_child_sp(pt_, flavor(), s, page.level);
			if (child == impl::NO_SP) {
				r.value_step = span << spec::PAGE_SHIFT;
				r.foldable = true;
				out.push_back(r);
				continue;
			}
			const bool ok = walkable(pt_, child, page.level);
			r.what = "table";
			r.suffix = " -> sp " + std::to_string(child) + (ok ? "" : " (not a live child table)");
			out.push_back(r);
			if (ok)
				walk(child, depth + 1, out);
		}
	}
	const spec::SpteFlavor& flavor() const { return mmu_.config().flavor; }

	const Mmu& mmu_;
	const impl::PageTables& pt_;
	u64 alias_ = 0;
};

// ---- S-EPT ----------------------------------------------------------------------

struct SeptRow {
	u64 gpa;
	unsigned tdx_level;
	hw::SeptEntryView e;
};

std::vector<SeptRow> sept_entries(const hw::SimModule& m);
std::vector<Row> sept_rows(const hw::SimModule& m);

// ============================================================================
// Graphviz
// ============================================================================

std::string dot_escape(const std::string& s);

// Leaves of one table, summarised as a count, a key range and the states.
struct LeafSummary {
	u64 count = 0;
	u64 first = 0, last = 0;
	std::map<std::string, u64> kinds;
	void add(u64 key, const std::string& kind)
	{
		if (count == 0)
			first = key;
		last = key;
		count++;
		kinds[kind]++;
	}
	std::string label(const std::string& key_name) const
	{
		std::string s = std::to_string(count) + (count == 1 ? " leaf" : " leaves") + "\\n";
		s += count == 1 ? key_name + " " + support::hex(first)
				: "lowest " + key_name + " " + support::hex(first) + "\\nhighest " + key_name + " " + support::hex(last);
		for (const auto& [k, n] : kinds)
			if (kinds.size() > 1 || k != "leaf")
				s += "\\n" + k + " " + std::to_string(n);
		return s;
	}
};

std::string sept_node(unsigned level, u64 gpa);

template <class Mmu>
class DotWriter {
public:
	DotWriter(const Mmu& mmu, std::ostream& out) : mmu_(mmu), pt_(mmu.tables()), out_(out) {}

	void root_cluster(u32 root, const std::string& label)
	{
		out_ << "  subgraph cluster_root_" << root << " {\n    label=\"" << dot_escape(label) << "\";\n";
		table(root);
		out_ << "  }\n";
	}

	// Mirror table <-> S-EPT page at the same level and base.
	void correspondence(u32 root, const std::vector<std::string>& sept_nodes)
	{
		for (const auto& [sp, node] : mirror_tables(root))
			if (std::find(sept_nodes.begin(), sept_nodes.end(), node) != sept_nodes.end())
				out_ << "  sp" << sp << " -> " << node
				     << " [style=dashed, color=gray, constraint=false, arrowhead=none];\n";
	}

private:
	void table(u32 sp)
	{
		const impl::MmuPage& page = pt_[sp];
		out_ << "    sp" << sp << " [label=\"sp " << sp << "\\nL" << page.level << " gfn " << support::hex(page.gfn)
		     << "\"];\n";
		LeafSummary leaves;
		const u64 span = impl::pages_per(pt_, page.level);
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const u64 s = page.spt[i];
			if (!spec::is_shadow_present_pte(spec::concrete, mmu_.config().flavor, s))
				continue;
			const u32 child = impl::spte_to_child_sp(pt_, mmu_.config().flavor, s, page.level);
			if (child == impl::NO_SP) {
				leaves.add(page.gfn + i * span, "leaf");
				continue;
			}
			if (!walkable(pt_, child, page.level))
				continue;
			out_ << "    sp" << sp << " -> sp" << child << ";\n";
			table(child);
		}
		if (leaves.count)
			out_ << "    sp" << sp << "_leaves [shape=note, label=\"" << leaves.label("gfn") << "\"];\n    sp"
			     << sp << " -> sp" << sp << "_leaves;\n";
	}

	std::vector<std::pair<u32, std::string>> mirror_tables(u32 root) const
	{
		std::vector<std::pair<u32, std::string>> out;
		std::vector<u32> stack{root};
		while (!stack.empty()) {
			const u32 sp = stack.back();
			stack.pop_back();
			const impl::MmuPage& page = pt_[sp];
			out.emplace_back(sp, sept_node(page.level, page.gfn << spec::PAGE_SHIFT));
			for (u32 i = 0; i < pt_.fanout(); i++) {
				const u32 child = impl::spte_to_child_sp(pt_, mmu_.config().flavor, page.spt[i], page.level);
				if (walkable(pt_, child, page.level))
					stack.push_back(child);
			}
		}
		return out;
	}

	const Mmu& mmu_;
	const impl::PageTables& pt_;
	std::ostream& out_;
};

// The S-EPT as the module holds it: one node per S-EPT page (the root is
// the TDCS page), leaves summarised per page.  Returns the node names.
std::vector<std::string> write_sept_cluster(const hw::SimModule& m, std::ostream& out);

// A root as the final state and the Graphviz cluster name it.
std::string root_label(const impl::MmuPage& p, u32 sp);

} // namespace arborist::cli::scenario
