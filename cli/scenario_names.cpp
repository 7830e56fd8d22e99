// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: names of numbers, leaves, operands, statuses and states.
#include "scenario_names.hpp"

#include <iterator>
#include <utility>

#include "arborist/support/text.hpp"

namespace arborist::cli::scenario {

using tdx_abi::Leaf;
using tdx_abi::leaf_names;
using spec::SeptState;

std::string num(u64 v) { return v < 0x10000 ? std::to_string(v) : support::hex(v); }

std::string echo_input(std::string_view s) { return support::quoted(s, 40); }

std::optional<Leaf> leaf_by_name(std::string_view s)
{
	for (const auto& n : leaf_names)
		if (n.name == s)
			return n.leaf;
	return std::nullopt;
}

std::string rcx_name(Leaf l)
{
	switch (l) {
	case Leaf::TDH_MEM_TRACK:
	case Leaf::TDH_MR_FINALIZE:
	case Leaf::TDH_MNG_VPFLUSHDONE:
	case Leaf::TDH_MNG_KEY_FREEID:
		return "tdr";
	case Leaf::TDH_VP_ENTER:
	case Leaf::TDH_VP_FLUSH:
		return "tdvpr";
	case Leaf::TDH_PHYMEM_PAGE_RECLAIM:
		return "page";
	case Leaf::TDH_PHYMEM_PAGE_WBINVD:
		return "keyed-page";
	case Leaf::TDH_PHYMEM_CACHE_WB:
		return "resume";
	default:
		return "rcx";
	}
}

bool takes_page_info(Leaf l)
{
	for (const auto& info : spec::sept_leaves)
		if (info.leaf == l)
			return info.walks;
	return false;
}

bool is_nl_state(SeptState s) { return s == SeptState::NL_MAPPED || s == SeptState::NL_BLOCKED; }

std::string size_name(unsigned tdx_level)
{
	constexpr std::string_view names[] = {"4K", "2M", "1G", "512G", "256T"};
	return tdx_level < std::size(names) ? std::string(names[tdx_level]) : "level" + std::to_string(tdx_level);
}

} // namespace arborist::cli::scenario
