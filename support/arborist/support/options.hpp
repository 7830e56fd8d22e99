// SPDX-License-Identifier: GPL-2.0-only
//
// Command-line options of one command, declared then parsed in one pass.
// The parser is built from the command's help (CommandHelp): before it
// reads an argument it checks that the options declared to it are exactly
// the ones that help lists, so `--help`, `arborist help --markdown` (the
// docs' option tables) and what the command accepts cannot drift apart;
// a difference is reported as an internal error by every run of the
// command (CTest cli.options_match_help runs each one).
// An option that takes a value may be given once (unless declared
// repeatable): a second --profile is an error, not a silent override.
// `--name VALUE` and `--name=VALUE` are the same.
// Parsing does not stop at the first problem: it records it and goes on,
// so that flags after it (--json) are still known and the error can be
// reported in the format the user asked for.  The problem names the option,
// not the command: the caller says "arborist CMD: " (commands.hpp).
#pragma once

#include <cerrno>
#include <cstdlib>
#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "arborist/support/command_help.hpp"
#include "arborist/support/text.hpp"

namespace arborist::support {

class OptionParser {
public:
	explicit OptionParser(const CommandHelp& help) : help_(help) {}

	// --name: sets dst.
	void flag(const std::string& name, bool& dst)
	{
		specs_.push_back({name, false, false, [&dst](const std::string&) {
					  dst = true;
					  return std::string();
				  }});
	}
	// --name VALUE, at most once.
	void value(const std::string& name, std::string& dst)
	{
		specs_.push_back({name, true, false, [&dst](const std::string& v) {
					  dst = v;
					  return std::string();
				  }});
	}
	// --name VALUE, any number of times.
	void repeated(const std::string& name, std::vector<std::string>& dst)
	{
		specs_.push_back({name, true, true, [&dst](const std::string& v) {
					  dst.push_back(v);
					  return std::string();
				  }});
	}
	// --name N, a whole number in [lo, hi], at most once.
	template <class T>
	void number(const std::string& name, T& dst, unsigned long long lo, unsigned long long hi)
	{
		specs_.push_back({name, true, false, [&dst, name, lo, hi](const std::string& v) {
					  unsigned long long n = 0;
					  if (!parse_whole(v, lo, hi, n))
						  return "option " + name + ": expected a whole number from " +
							 std::to_string(lo) + " to " + std::to_string(hi) + ", got " +
							 support::quoted(v, 40);
					  dst = static_cast<T>(n);
					  return std::string();
				  }});
	}
	// Arguments that are not options, in order ("-" is one: standard input).
	void positional(std::vector<std::string>& dst) { positional_ = &dst; }

	// The first problem, or "" when the arguments are well-formed.
	std::string parse(const std::vector<std::string>& args)
	{
		std::string first;
		const auto problem = [&](const std::string& p) {
			if (first.empty())
				first = p;
		};
		if (std::string d = differs_from_help(); !d.empty())
			return d;
		std::vector<std::string> given;
		for (std::size_t i = 0; i < args.size(); i++) {
			std::string a = args[i];
			std::optional<std::string> inline_value;
			if (const std::size_t eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
				if (const Spec* s = find(a.substr(0, eq)); s && s->takes_value) {
					inline_value = a.substr(eq + 1);
					a.resize(eq);
				}
			}
			const Spec* s = find(a);
			if (!s) {
				if (a.size() > 1 && a[0] == '-')
					problem("unknown option " + support::quoted(a, 60));
				else if (!positional_)
					problem("unexpected argument " + support::quoted(a, 60));
				else
					positional_->push_back(a);
				continue;
			}
			std::string v;
			if (s->takes_value) {
				if (inline_value) {
					v = *inline_value;
				} else if (i + 1 >= args.size()) {
					problem("option " + a + " needs a value");
					continue;
				} else {
					v = args[++i];
				}
				bool seen = false;
				for (const std::string& g : given)
					seen = seen || g == a;
				if (seen && !s->repeatable) {
					problem("option " + a + " given twice (it takes one value)");
					continue;
				}
				given.push_back(a);
			}
			problem(s->apply(v));
		}
		return first;
	}

	static bool parse_whole(const std::string& v, unsigned long long lo, unsigned long long hi,
				unsigned long long& out)
	{
		if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 20)
			return false;
		errno = 0;
		out = std::strtoull(v.c_str(), nullptr, 10);
		return errno == 0 && out >= lo && out <= hi;
	}

	// The option names of a help table: the first word of each entry that
	// starts with '-' ("--debian [SERIES]" is --debian; "TRACE" is not one).
	static std::vector<std::string> help_option_names(const CommandHelp& help)
	{
		std::vector<std::string> out;
		for (const OptionHelp& o : help.options)
			if (o.name.starts_with("-"))
				out.emplace_back(o.name.substr(0, o.name.find(' ')));
		return out;
	}

	// "" when the declared options are the help's, else what differs.
	std::string differs_from_help() const
	{
		const std::vector<std::string> listed = help_option_names(help_);
		std::string out;
		for (const Spec& s : specs_)
			if (std::find(listed.begin(), listed.end(), s.name) == listed.end())
				out += (out.empty() ? "" : "; ") + s.name + " is accepted but not in its help";
		for (const std::string& n : listed)
			if (!find(n))
				out += (out.empty() ? "" : "; ") + n + " is in its help but not accepted";
		if (out.empty())
			return out;
		return "internal error: the options of 'arborist " + std::string(help_.name) +
		       "' differ from its help table (cli/commands.cpp): " + out;
	}

private:
	struct Spec {
		std::string name;
		bool takes_value;
		bool repeatable;
		std::function<std::string(const std::string&)> apply; // "" or a problem
	};
	const Spec* find(const std::string& a) const
	{
		for (const Spec& s : specs_)
			if (s.name == a)
				return &s;
		return nullptr;
	}

	const CommandHelp& help_;
	std::vector<Spec> specs_;
	std::vector<std::string>* positional_ = nullptr;
};

} // namespace arborist::support
