// SPDX-License-Identifier: GPL-2.0-only
//
// The names of SEAMCALL leaves and S-EPT entry states as the TDX module 1.5
// specification writes them ("TDH.MEM.PAGE.AUG", "NL_BLOCKED"), for
// printing; the values are hw/arborist/hw/tdx_abi.hpp's and spec/'s.
#pragma once

#include <string>
#include <string_view>

#include "arborist/hw/tdx_abi.hpp"
#include "arborist/sept.hpp"

namespace arborist::hw {

using spec::SeptState;

struct LeafName {
	Leaf leaf;
	std::string_view name;
};

constexpr LeafName leaf_names[] = {
	{Leaf::TDH_VP_ENTER, "TDH.VP.ENTER"},
	{Leaf::TDH_MNG_ADDCX, "TDH.MNG.ADDCX"},
	{Leaf::TDH_MEM_PAGE_ADD, "TDH.MEM.PAGE.ADD"},
	{Leaf::TDH_MEM_SEPT_ADD, "TDH.MEM.SEPT.ADD"},
	{Leaf::TDH_VP_ADDCX, "TDH.VP.ADDCX"},
	{Leaf::TDH_MEM_PAGE_RELOCATE, "TDH.MEM.PAGE.RELOCATE"},
	{Leaf::TDH_MEM_PAGE_AUG, "TDH.MEM.PAGE.AUG"},
	{Leaf::TDH_MEM_RANGE_BLOCK, "TDH.MEM.RANGE.BLOCK"},
	{Leaf::TDH_MNG_KEY_CONFIG, "TDH.MNG.KEY.CONFIG"},
	{Leaf::TDH_MNG_CREATE, "TDH.MNG.CREATE"},
	{Leaf::TDH_VP_CREATE, "TDH.VP.CREATE"},
	{Leaf::TDH_MNG_RD, "TDH.MNG.RD"},
	{Leaf::TDH_MEM_PAGE_DEMOTE, "TDH.MEM.PAGE.DEMOTE"},
	{Leaf::TDH_MR_EXTEND, "TDH.MR.EXTEND"},
	{Leaf::TDH_MR_FINALIZE, "TDH.MR.FINALIZE"},
	{Leaf::TDH_VP_FLUSH, "TDH.VP.FLUSH"},
	{Leaf::TDH_MNG_VPFLUSHDONE, "TDH.MNG.VPFLUSHDONE"},
	{Leaf::TDH_MNG_KEY_FREEID, "TDH.MNG.KEY.FREEID"},
	{Leaf::TDH_MNG_INIT, "TDH.MNG.INIT"},
	{Leaf::TDH_VP_INIT, "TDH.VP.INIT"},
	{Leaf::TDH_MEM_PAGE_PROMOTE, "TDH.MEM.PAGE.PROMOTE"},
	{Leaf::TDH_PHYMEM_PAGE_RDMD, "TDH.PHYMEM.PAGE.RDMD"},
	{Leaf::TDH_MEM_SEPT_RD, "TDH.MEM.SEPT.RD"},
	{Leaf::TDH_VP_RD, "TDH.VP.RD"},
	{Leaf::TDH_MNG_KEY_RECLAIMID, "TDH.MNG.KEY.RECLAIMID"},
	{Leaf::TDH_PHYMEM_PAGE_RECLAIM, "TDH.PHYMEM.PAGE.RECLAIM"},
	{Leaf::TDH_MEM_PAGE_REMOVE, "TDH.MEM.PAGE.REMOVE"},
	{Leaf::TDH_MEM_SEPT_REMOVE, "TDH.MEM.SEPT.REMOVE"},
	{Leaf::TDH_SYS_KEY_CONFIG, "TDH.SYS.KEY.CONFIG"},
	{Leaf::TDH_SYS_INIT, "TDH.SYS.INIT"},
	{Leaf::TDH_SYS_RD, "TDH.SYS.RD"},
	{Leaf::TDH_SYS_LP_INIT, "TDH.SYS.LP.INIT"},
	{Leaf::TDH_SYS_TDMR_INIT, "TDH.SYS.TDMR.INIT"},
	{Leaf::TDH_MEM_TRACK, "TDH.MEM.TRACK"},
	{Leaf::TDH_MEM_RANGE_UNBLOCK, "TDH.MEM.RANGE.UNBLOCK"},
	{Leaf::TDH_PHYMEM_CACHE_WB, "TDH.PHYMEM.CACHE.WB"},
	{Leaf::TDH_PHYMEM_PAGE_WBINVD, "TDH.PHYMEM.PAGE.WBINVD"},
	{Leaf::TDH_VP_WR, "TDH.VP.WR"},
	{Leaf::TDH_SYS_CONFIG, "TDH.SYS.CONFIG"},
};

inline std::string leaf_name(Leaf l)
{
	for (const auto& n : leaf_names)
		if (n.leaf == l)
			return std::string(n.name);
	return "leaf " + std::to_string(static_cast<u64>(l));
}

struct SeptStateName {
	SeptState state;
	std::string_view name;
};

constexpr SeptStateName sept_state_names[] = {
	{SeptState::NL_MAPPED, "NL_MAPPED"}, {SeptState::NL_BLOCKED, "NL_BLOCKED"},
	{SeptState::REMOVED, "REMOVED"},     {SeptState::FREE, "FREE"},
	{SeptState::MAPPED, "MAPPED"},       {SeptState::BLOCKEDW, "BLOCKEDW"},
	{SeptState::BLOCKED, "BLOCKED"},     {SeptState::PENDING, "PENDING"},
	{SeptState::PENDING_BLOCKEDW, "PENDING_BLOCKEDW"}, {SeptState::PENDING_BLOCKED, "PENDING_BLOCKED"},
};

inline std::string sept_state_name(SeptState s)
{
	for (const auto& n : sept_state_names)
		if (n.state == s)
			return std::string(n.name);
	return "state " + std::to_string(static_cast<u64>(s));
}

} // namespace arborist::hw
