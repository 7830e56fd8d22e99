// SPDX-License-Identifier: GPL-2.0-only
//
// The description of one command of a command-line tool -- its usage lines,
// what it does, its options with one line of help each, its exit status --
// and the two renderings made from it: the text of `--help` and Markdown
// for the usage blocks of README.md and docs/.  Written once per command
// (cli/commands.cpp holds arborist's table), so the help, the top-level
// help and the docs cannot say different things.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace arborist::support {

struct OptionHelp {
	std::string_view name; // "--dot FILE", "--no-symmetry/--no-por"
	std::string_view help; // one paragraph; wrapped when printed
};

struct CommandHelp {
	std::string_view name;                   // "run", "bench teardown"
	std::string_view summary;                // one line, for the list of commands
	std::vector<std::string_view> usage;     // each after "arborist NAME "
	std::string_view description;            // paragraphs separated by "\n\n"
	std::vector<OptionHelp> options;
	std::string_view exit_status;            // "" when the tool's general rule applies
	std::string_view docs;                   // where it is documented, e.g. "docs/scenarios.md"
};

namespace help_detail {

// Greedy wrap of one paragraph to `width` columns, every line after the
// first indented by `indent`; the first line starts at column `col`.
inline std::string wrap(std::string_view text, std::size_t col, std::size_t indent, std::size_t width = 78)
{
	std::string out;
	std::size_t at = col;
	bool first = true;
	while (!text.empty()) {
		const std::size_t sp = text.find(' ');
		const std::string_view word = text.substr(0, sp);
		text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
		if (word.empty())
			continue;
		if (!first && at + 1 + word.size() > width) {
			out += "\n" + std::string(indent, ' ');
			at = indent;
		} else if (!first) {
			out += ' ';
			at++;
		}
		out += word;
		at += word.size();
		first = false;
	}
	return out;
}

// Each "\n\n"-separated paragraph of `text`, wrapped and indented.
inline std::string paragraphs(std::string_view text, std::size_t indent)
{
	std::string out;
	while (!text.empty()) {
		const std::size_t end = text.find("\n\n");
		out += std::string(indent, ' ') + wrap(text.substr(0, end), indent, indent) + "\n";
		text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 2);
		if (!text.empty())
			out += "\n";
	}
	return out;
}

// Markdown table cells: '|' escaped, paragraphs joined.
inline std::string cell(std::string_view s)
{
	std::string out;
	for (std::size_t i = 0; i < s.size(); i++) {
		if (s[i] == '|')
			out += "\\|";
		else if (s[i] == '\n')
			out += (i + 1 < s.size() && s[i + 1] == '\n') ? (i++, " ") : " ";
		else
			out += s[i];
	}
	return out;
}

} // namespace help_detail

inline std::string usage_line(std::string_view tool, const CommandHelp& c, std::string_view usage)
{
	std::string s = std::string(tool) + " " + std::string(c.name);
	if (!usage.empty())
		s += " " + std::string(usage);
	return s;
}

// `TOOL NAME --help`: usage, description, options, exit status, docs.
inline std::string help_text(std::string_view tool, const CommandHelp& c)
{
	using namespace help_detail;
	std::string s;
	for (std::size_t i = 0; i < c.usage.size(); i++)
		s += (i == 0 ? "usage: " : "       ") + usage_line(tool, c, c.usage[i]) + "\n";
	if (!c.description.empty())
		s += "\n" + paragraphs(c.description, 2);
	if (!c.options.empty()) {
		std::size_t w = 0;
		for (const OptionHelp& o : c.options)
			w = std::max(w, o.name.size());
		s += "\noptions:\n";
		for (const OptionHelp& o : c.options) {
			const std::size_t col = 2 + w + 2;
			s += "  " + std::string(o.name) + std::string(w + 2 - o.name.size(), ' ') + wrap(o.help, col, col) + "\n";
		}
	}
	if (!c.exit_status.empty())
		s += "\n" + paragraphs("exit status: " + std::string(c.exit_status), 0);
	if (!c.docs.empty())
		s += "\ndocs: " + std::string(c.docs) + "\n";
	return s;
}

// The usage lines as a code block and, unless usage_only, the options as a
// table.
inline std::string help_markdown(std::string_view tool, const CommandHelp& c, bool usage_only = false)
{
	using namespace help_detail;
	std::string s = "```\n";
	for (const std::string_view u : c.usage)
		s += usage_line(tool, c, u) + "\n";
	s += "```\n";
	if (!usage_only && !c.options.empty()) {
		s += "\n| option | meaning |\n|---|---|\n";
		for (const OptionHelp& o : c.options)
			s += "| `" + cell(o.name) + "` | " + cell(o.help) + " |\n";
	}
	return s;
}

} // namespace arborist::support
