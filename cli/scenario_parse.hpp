// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: the scenario parser (docs/scenarios.md).  The whole file is
// parsed before anything runs, so a malformed scenario executes nothing;
// every input error is a ParseError, printed as "FILE:LINE: field 'KEY': what".
#pragma once

#include <cstddef>
#include <optional>

#include "scenario_model.hpp"

namespace arborist::support {
class LineReader;
}

namespace arborist::cli::scenario {

// The longest scenario line read: far above any real command (the longest,
// `expect calls` naming every leaf, is under 1 KiB), low enough that a
// file without newlines costs little memory.
inline constexpr std::size_t kMaxLine = std::size_t{1} << 20;

// Each line costs time linear in its length.
Scenario parse_scenario(support::LineReader& in);

// Why a scenario cannot write a --trace, as the error of its VM line.
std::optional<ParseError> trace_refusal(const Scenario& sc);

} // namespace arborist::cli::scenario
