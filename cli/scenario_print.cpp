// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: the printers of the final state (scenario_print.hpp).
#include "scenario_print.hpp"

#include "arborist/sept.hpp"

namespace arborist::cli::scenario {

using namespace arborist::impl;
using spec::sept_state_name;
using spec::SeptState;

namespace {

bool continues(const Row& prev, const Row& next)
{
	return next.foldable && prev.foldable && next.depth == prev.depth && next.level == prev.level &&
	       next.what == prev.what && next.key == prev.key + prev.key_step &&
	       next.value == prev.value + prev.value_step;
}

void print_row(std::ostream& out, const Row& r)
{
	out << std::string(2 + 2 * r.depth, ' ') << r.key_name << "=" << support::hex(r.key) << " level=" << r.level << " "
	    << r.what << " " << r.value_name << "=" << support::hex(r.value) << r.suffix << "\n";
}

void print_run(std::ostream& out, const Row& first, const Row& last, std::size_t n)
{
	out << std::string(2 + 2 * first.depth, ' ') << first.key_name << "=" << support::hex(first.key) << ".."
	    << support::hex(last.key + last.key_step) << " level=" << first.level << " " << first.what << " x" << n << " "
	    << first.value_name << "=" << support::hex(first.value) << " (+" << support::hex(first.value_step) << " each)\n";
}

} // namespace

void print_rows(std::ostream& out, const std::vector<Row>& rows)
{
	constexpr std::size_t kFold = 4;
	std::size_t i = 0;
	while (i < rows.size()) {
		std::size_t j = i + 1;
		while (j < rows.size() && continues(rows[j - 1], rows[j]))
			j++;
		if (j - i >= kFold) {
			print_run(out, rows[i], rows[j - 1], j - i);
		} else {
			for (std::size_t k = i; k < j; k++)
				print_row(out, rows[k]);
		}
		i = j;
	}
}

bool walkable(const PageTables& pt, u32 child, unsigned parent_level)
{
	return child != NO_SP && child < pt.capacity() && pt[child].state != SpState::freed &&
	       pt[child].spt.size() == pt.fanout() && pt[child].level + 1 == parent_level;
}

std::vector<SeptRow> sept_entries(const hw::SimModule& m)
{
	std::vector<SeptRow> out;
	m.for_each_entry([&](u64 gpa, unsigned tdx_level, const hw::SeptEntryView& e) {
		out.push_back({gpa, tdx_level, e});
	});
	return out;
}

std::vector<Row> sept_rows(const hw::SimModule& m)
{
	std::vector<Row> out;
	const unsigned top = m.geometry().pwl - 1;
	for (const SeptRow& s : sept_entries(m)) {
		const u64 bytes = u64{4096} << (9 * s.tdx_level);
		const bool leaf = !is_nl_state(s.e.state);
		out.push_back({top - std::min(top, s.tdx_level), "gpa", s.gpa, bytes, s.tdx_level + 1,
			       sept_state_name(s.e.state), "hpa", s.e.hpa, leaf ? bytes : 0, leaf, ""});
	}
	return out;
}

std::string dot_escape(const std::string& s)
{
	std::string out;
	for (const char c : s)
		out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
	return out;
}

std::string sept_node(unsigned level, u64 gpa) { return "sept_L" + std::to_string(level) + "_" + support::hex(gpa); }

std::vector<std::string> write_sept_cluster(const hw::SimModule& m, std::ostream& out)
{
	const unsigned pwl = m.geometry().pwl;
	std::vector<std::string> nodes{sept_node(pwl, 0)};
	std::map<std::string, LeafSummary> leaves;
	out << "  subgraph cluster_sept {\n    label=\"S-EPT (TDX module)\";\n"
	    << "    node [style=filled, fillcolor=lightyellow];\n";
	out << "    " << nodes[0] << " [label=\"S-EPT root (TDCS)\\nL" << pwl << " gpa 0x0\"];\n";
	for (const SeptRow& s : sept_entries(m)) {
		const unsigned level = s.tdx_level + 1; // the level of the page holding the entry
		const u64 page_bytes = u64{4096} << (9 * level);
		const std::string parent = sept_node(level, level == pwl ? 0 : s.gpa & ~(page_bytes - 1));
		if (!is_nl_state(s.e.state)) {
			leaves[parent].add(s.gpa, sept_state_name(s.e.state));
			continue;
		}
		const std::string child = sept_node(level - 1, s.gpa);
		nodes.push_back(child);
		out << "    " << child << " [label=\"L" << level - 1 << " gpa " << support::hex(s.gpa) << "\\nhpa " << support::hex(s.e.hpa)
		    << (s.e.state == SeptState::NL_BLOCKED ? "\\nNL_BLOCKED" : "") << "\"];\n";
		out << "    " << parent << " -> " << child << ";\n";
	}
	for (const auto& [parent, summary] : leaves)
		out << "    " << parent << "_leaves [shape=note, label=\"" << summary.label("gpa") << "\"];\n    "
		    << parent << " -> " << parent << "_leaves;\n";
	out << "  }\n";
	return nodes;
}

std::string root_label(const MmuPage& p, u32 sp)
{
	std::string s = "root sp " + std::to_string(sp) + ": " + (p.mirror ? "mirror" : "direct") + ", level " +
			std::to_string(p.level) + ", refcount " + std::to_string(p.root_count) + ", " +
			(p.invalid ? "invalid" : "valid");
	if (p.scheduled_root_to_zap)
		s += ", scheduled to zap";
	return s;
}

} // namespace arborist::cli::scenario
