// SPDX-License-Identifier: GPL-2.0-only
//
// arborist conform (the usage: conform_help, or `arborist conform --help`)
//
// Replays each ftrace text file (or '-' for stdin) against the spec and
// reports every violation with its kind, FILE:LINE, the event, the rule
// and its source, and the earlier events on the same page-table entry.
// Exit status: 0 no violation, 1 some violation, 2 usage error, unreadable
// file, or a line that is not well-formed ftrace or whose payload does not
// parse ("FILE:LINE: field 'NAME': ...").  See docs/conformance.md.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "arborist/support/command_help.hpp"

namespace arborist::conform {

// args: the words after "arborist conform".
int conform_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Its usage, options and exit status (cli/commands.cpp lists it).
extern const support::CommandHelp conform_help;

} // namespace arborist::conform
