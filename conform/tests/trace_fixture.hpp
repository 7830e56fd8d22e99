// SPDX-License-Identifier: GPL-2.0-only
//
// Test helpers: the real trace as lines to edit, a builder of small
// synthetic traces, and a run of the checker over text.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "conform/checker.hpp"
#include "conform/ftrace.hpp"
#include "conform/profile.hpp"

namespace arborist::conform::test {

inline const std::string REAL_TRACE = ARBORIST_TEST_DATA "/linux-6.1-npt/trace.txt";

inline std::string read_file(const std::string& path)
{
	std::ifstream in(path, std::ios::binary);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

// The real trace, one string per line; line N is lines[N - 1].
inline const std::vector<std::string>& real_lines()
{
	static const std::vector<std::string> lines = [] {
		std::vector<std::string> v;
		std::istringstream in(read_file(REAL_TRACE));
		for (std::string l; std::getline(in, l);)
			v.push_back(l);
		return v;
	}();
	return lines;
}

inline std::string join(const std::vector<std::string>& lines)
{
	std::string s;
	for (const std::string& l : lines)
		s += l + "\n";
	return s;
}

// The 1-based number of the first line containing `what` (0 if none).
inline std::size_t find_line(const std::vector<std::string>& lines, std::string_view what, std::size_t from = 1)
{
	for (std::size_t i = from - 1; i < lines.size(); i++)
		if (lines[i].find(what) != std::string::npos)
			return i + 1;
	return 0;
}

// Replaces `from` by `to` in line n (1-based), which must contain it.
inline void edit(std::vector<std::string>& lines, std::size_t n, std::string_view from, std::string_view to)
{
	std::string& l = lines.at(n - 1);
	const std::size_t at = l.find(from);
	ASSERT_NE(at, std::string::npos) << "line " << n << " has no '" << from << "': " << l;
	l.replace(at, from.size(), to);
}

struct CheckResult {
	std::vector<Violation> violations;
	Stats stats;
};

inline CheckResult check_text(const std::string& text, const Profile& p = linux_6_1_npt, bool partial = false,
			      u64 window_us = DEFAULT_WINDOW_US, u64 window_lines = DEFAULT_WINDOW_LINES)
{
	CheckResult r;
	Checker c(p, partial, [&](Violation&& v) { r.violations.push_back(std::move(v)); });
	c.set_window(window_lines, window_us);
	StringSource src(text);
	LineReader reader = trace_reader(src);
	Where w{"t.txt", 0};
	while (const std::optional<std::string_view> l = reader.next()) {
		w.line = reader.line_number();
		c.feed(parse_trace_line(*l, w), w);
	}
	c.finish();
	r.stats = c.stats();
	return r;
}

inline std::string kinds(const CheckResult& r)
{
	std::string s;
	for (const Violation& v : r.violations)
		s += std::string(v.kind) + "@" + std::to_string(v.line) + " ";
	return s;
}

// A synthetic trace in the kernel's layout.
class TraceBuilder {
public:
	TraceBuilder& event(std::string_view name, const std::string& payload, unsigned cpu = 1)
	{
		char prefix[96];
		const u64 us = lines_.size() + offset_us_;
		std::snprintf(prefix, sizeof(prefix), "         tdpwork-%u     [%03u] ...1.     %u.%06u: ", 110 + cpu, cpu,
			      static_cast<unsigned>(us / 1000000), static_cast<unsigned>(us % 1000000));
		lines_.push_back(std::string(prefix) + std::string(name) + ": " + payload);
		return *this;
	}
	TraceBuilder& root()
	{
		return event("kvm_mmu_get_page", "sp gen 0 gfn 0 l4 8-byte q0 direct wux nxe ad root 0 sync new");
	}
	TraceBuilder& change(u64 gfn, unsigned level, u64 old_spte, u64 new_spte, unsigned cpu = 1, unsigned as_id = 0)
	{
		return event("kvm_tdp_mmu_spte_changed", "as id " + std::to_string(as_id) + " gfn " + support::hex_digits(gfn) + " level " +
								  std::to_string(level) + " old_spte " + support::hex_digits(old_spte) +
								  " new_spte " + support::hex_digits(new_spte),
			     cpu);
	}
	TraceBuilder& zap_all_fast() { return event("kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen 0 used_pages 0"); }
	TraceBuilder& raw(const std::string& line)
	{
		lines_.push_back(line);
		return *this;
	}
	// The lines that follow are stamped us microseconds later (each line
	// is stamped one microsecond after the one before).
	TraceBuilder& advance(u64 us)
	{
		offset_us_ += us;
		return *this;
	}
	std::size_t size() const { return lines_.size(); }
	std::string text() const { return join(lines_); }

private:
	std::vector<std::string> lines_;
	u64 offset_us_ = 0;
};

// NPT values built by the spec's constructors; they are the real trace's
// ...827 (non-leaf), ...e67 (writable 4K leaf), ...e65 (write-protected).
constexpr u64 nonleaf(u64 pfn, const spec::SpteFlavor& f = spec::npt_v6_1)
{
	return spec::make_nonleaf_spte(spec::concrete, f, pfn << spec::PAGE_SHIFT, false);
}
constexpr u64 leaf(u64 pfn, unsigned level = 1, const spec::SpteFlavor& f = spec::npt_v6_1)
{
	return spec::make_spte(spec::concrete, f, spec::LeafRequest<spec::Concrete>{pfn, level, true, true, true});
}
constexpr u64 leaf_wrprot(u64 pfn, const spec::SpteFlavor& f = spec::npt_v6_1)
{
	return spec::make_wrprot_spte(spec::concrete, f, leaf(pfn, 1, f));
}
constexpr u64 REMOVED = spec::frozen_spte(spec::concrete, spec::npt_v6_1);

// A fresh root and, below it, tables down to level 1 (PFNs 0x100, 0x101,
// 0x102, covering GFN 0-1ff) in flavour f, linked by `cpu`.
inline TraceBuilder& link_tables(TraceBuilder& b, const spec::SpteFlavor& f = spec::npt_v6_1, unsigned cpu = 1)
{
	const u64 np = spec::nonpresent_spte(spec::concrete, f);
	b.root();
	b.change(0, 4, np, nonleaf(0x100, f), cpu);
	b.change(0, 3, np, nonleaf(0x101, f), cpu);
	return b.change(0, 2, np, nonleaf(0x102, f), cpu);
}
static_assert(nonleaf(0x2c53) == 0x2c53827 && leaf(0xbfed) == 0xbfede67 && leaf_wrprot(0x7200) == 0x7200e65 &&
	      leaf(0x7200, 2) == 0x7200ee7 && REMOVED == 0x5a0);

} // namespace arborist::conform::test
