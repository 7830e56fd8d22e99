// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: how the scenario parser and the runner's printers name
// numbers, SEAMCALL leaves and operands, TDX statuses and module states.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "arborist/abi/tdx.hpp"
#include "arborist/sept.hpp"
#include "arborist/support/hex.hpp"

namespace arborist::cli::scenario {

using tdx_abi::u64;

// A number as a person reads it: small ones decimal, addresses hex.
std::string num(u64 v);
// Untrusted text echoed in a message: bounded, printable, quoted.
std::string echo_input(std::string_view s);

std::optional<tdx_abi::Leaf> leaf_by_name(std::string_view s);
// What RCX holds for a leaf that does not take page info.
std::string rcx_name(tdx_abi::Leaf l);
// Leaves whose RCX is page info (GPA | TDX level): the S-EPT leaves that
// walk to a requested level (spec::sept_leaves).
bool takes_page_info(tdx_abi::Leaf l);

bool is_nl_state(spec::SeptState s);

// A module code by its name in spec/arborist/sept.hpp's tables, or in hex.
template <class E, std::size_t N>
std::string table_name(const spec::CodeName<E> (&names)[N], u64 v)
{
	const std::string_view n = spec::code_name(names, v);
	return n.empty() ? support::hex(v) : std::string(n);
}

// The mapping size of a TDX level: 0 4K, 1 2M, 2 1G, ...
std::string size_name(unsigned tdx_level);

} // namespace arborist::cli::scenario
