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

namespace arborist::cli::scenario {

using tdx_abi::u64;

std::string hex(u64 v);
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

inline constexpr std::string_view page_type_names[] = {"PT_NDA", "PT_RSVD", "?", "PT_REG", "PT_TDR",
						       "PT_TDCX", "PT_TDVPR", "?", "PT_EPT"};
inline constexpr std::string_view lifecycle_names[] = {"TD_HKID_ASSIGNED", "TD_KEYS_CONFIGURED", "TD_BLOCKED",
						       "TD_TEARDOWN"};
inline constexpr std::string_view op_state_names[] = {"UNINITIALIZED", "INITIALIZED",   "RUNNABLE",      "LIVE_EXPORT",
						      "PAUSED_EXPORT", "POST_EXPORT",   "MEMORY_IMPORT", "STATE_IMPORT",
						      "POST_IMPORT",   "LIVE_IMPORT",   "FAILED_IMPORT"};

template <std::size_t N>
std::string table_name(const std::string_view (&names)[N], u64 v)
{
	return v < N ? std::string(names[v]) : hex(v);
}

std::string operand_name(u64 id);
// "TDX_OPERAND_BUSY|SEPT_TREE (0x8000020000000092)"
std::string status_text(u64 status);
// The mapping size of a TDX level: 0 4K, 1 2M, 2 1G, ...
std::string size_name(unsigned tdx_level);

} // namespace arborist::cli::scenario
