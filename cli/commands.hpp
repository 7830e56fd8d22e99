// SPDX-License-Identifier: GPL-2.0-only
//
// The commands of arborist: one description each (support::CommandHelp),
// from which `arborist CMD --help`, `arborist help CMD`, `arborist help`
// and `arborist help --markdown [CMD]` (the usage blocks of README.md and
// docs/*.md, compared by the CTest cli.usage_blocks) are all generated.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "arborist/support/command_help.hpp"

namespace arborist::cli {

// Every command, in the order `arborist help` lists them.
const std::vector<const support::CommandHelp*>& command_table();

// The commands named `name` or under it ("bench" is "bench teardown" and
// "bench check"); empty when there is none.
std::vector<const support::CommandHelp*> find_commands(std::string_view name);

// The command named exactly `name` ("bench teardown"); it must exist.
const support::CommandHelp& command_help(std::string_view name);

// `arborist help`: the list of commands, then every command's help.
void print_help_all(std::ostream& out);
// `arborist CMD --help` and `arborist help CMD`: false when there is no CMD.
bool print_help(std::string_view name, std::ostream& out);
// `arborist help --markdown [--usage] [CMD]`: CMD's usage block and (not
// with --usage) its options table; without CMD, the table of every command.
bool print_help_markdown(std::string_view name, bool usage_only, std::ostream& out);

// A usage error of command `cmd` (the prefix "arborist CMD: "), and where
// to read the usage.
std::string usage_message(std::string_view cmd, const std::string& what);

} // namespace arborist::cli
