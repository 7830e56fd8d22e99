// SPDX-License-Identifier: GPL-2.0-only
//
// The bottom layer: the SEAMCALL ABI as TDX module 1.5 and Linux define it: leaf numbers,
// status codes, operand IDs, and the RCX "page info" encoding.
//
// Sources:
//  - intel/tdx-module TDX_1.5.01 include/tdx_api_defs.h,
//    include/auto_gen/tdx_error_codes_defs.h
//    and include/tdx_api_defs.h;
//  - Linux v6.19 arch/x86/virt/vmx/tdx/tdx.h (leaf numbers),
//    arch/x86/kvm/vmx/tdx_errno.h and arch/x86/include/asm/tdx.h
//    (docs/sources.md).
// Leaves that upstream Linux does not define (SEPT.REMOVE, DEMOTE, PROMOTE,
// RANGE.UNBLOCK) take their numbers from intel/tdx tdx_arch.h and the module.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "arborist/support/hex.hpp"

namespace arborist::tdx_abi {

using u64 = std::uint64_t;

enum class Leaf : u64 {
	TDH_VP_ENTER = 0,
	TDH_MNG_ADDCX = 1,
	TDH_MEM_PAGE_ADD = 2,
	TDH_MEM_SEPT_ADD = 3,
	TDH_VP_ADDCX = 4,
	TDH_MEM_PAGE_RELOCATE = 5,
	TDH_MEM_PAGE_AUG = 6,
	TDH_MEM_RANGE_BLOCK = 7,
	TDH_MNG_KEY_CONFIG = 8,
	TDH_MNG_CREATE = 9,
	TDH_VP_CREATE = 10,
	TDH_MNG_RD = 11,
	TDH_MEM_PAGE_DEMOTE = 15,
	TDH_MR_EXTEND = 16,
	TDH_MR_FINALIZE = 17,
	TDH_VP_FLUSH = 18,
	TDH_MNG_VPFLUSHDONE = 19,
	TDH_MNG_KEY_FREEID = 20,
	TDH_MNG_INIT = 21,
	TDH_VP_INIT = 22,
	TDH_MEM_PAGE_PROMOTE = 23,
	TDH_PHYMEM_PAGE_RDMD = 24,
	TDH_MEM_SEPT_RD = 25,
	TDH_VP_RD = 26,
	TDH_MNG_KEY_RECLAIMID = 27,
	TDH_PHYMEM_PAGE_RECLAIM = 28,
	TDH_MEM_PAGE_REMOVE = 29,
	TDH_MEM_SEPT_REMOVE = 30,
	TDH_SYS_KEY_CONFIG = 31,
	TDH_SYS_INIT = 33,
	TDH_SYS_RD = 34,
	TDH_SYS_LP_INIT = 35,
	TDH_SYS_TDMR_INIT = 36,
	TDH_MEM_TRACK = 38,
	TDH_MEM_RANGE_UNBLOCK = 39,
	TDH_PHYMEM_CACHE_WB = 40,
	TDH_PHYMEM_PAGE_WBINVD = 41,
	TDH_VP_WR = 43,
	TDH_SYS_CONFIG = 45,
	// Dynamic PAMT (not in TDX module 1.5 nor Linux v6.19): intel/tdx-module
	// src/vmm_dispatcher/api_calls/tdh_phymem_pamt_add.c and
	// tdh_phymem_pamt_remove.c (the 2.0 tree), numbers as the "TDX: Enable
	// Dynamic PAMT" series defines them in arch/x86/virt/vmx/tdx/tdx.h.
	TDH_PHYMEM_PAMT_ADD = 58,
	TDH_PHYMEM_PAMT_REMOVE = 59,
};

// RAX on input: bits 15:0 leaf, bits 23:16 version (TDX_VERSION_SHIFT).
inline constexpr unsigned TDX_VERSION_SHIFT = 16;

// Status layout: class in 63:32, operand ID / detail in 31:0.  The module
// builds "status | operand" as api_error_with_operand_id(err, id) = err + id.
inline constexpr u64 TDX_SEAMCALL_STATUS_MASK = 0xFFFFFFFF00000000ULL;

namespace status {
inline constexpr u64 TDX_SUCCESS = 0x0000000000000000ULL;
inline constexpr u64 TDX_NON_RECOVERABLE_VCPU = 0x4000000100000000ULL;
inline constexpr u64 TDX_INTERRUPTED_RESUMABLE = 0x8000000300000000ULL;
inline constexpr u64 TDX_INTERRUPTED_RESTARTABLE = 0x8000000400000000ULL;
inline constexpr u64 TDX_OPERAND_INVALID = 0xC000010000000000ULL;
inline constexpr u64 TDX_OPERAND_ADDR_RANGE_ERROR = 0xC000010100000000ULL;
inline constexpr u64 TDX_OPERAND_BUSY = 0x8000020000000000ULL;
inline constexpr u64 TDX_PREVIOUS_TLB_EPOCH_BUSY = 0x8000020100000000ULL;
inline constexpr u64 TDX_SYS_BUSY = 0x8000020200000000ULL;
inline constexpr u64 TDX_RND_NO_ENTROPY = 0x8000020300000000ULL;
inline constexpr u64 TDX_OPERAND_BUSY_HOST_PRIORITY = 0x8000020400000000ULL;
inline constexpr u64 TDX_PAGE_METADATA_INCORRECT = 0xC000030000000000ULL;
inline constexpr u64 TDX_TD_ASSOCIATED_PAGES_EXIST = 0xC000040000000000ULL;
inline constexpr u64 TDX_SYS_NOT_READY = 0xC000050500000000ULL;
inline constexpr u64 TDX_SYS_SHUTDOWN = 0xC000050600000000ULL;
inline constexpr u64 TDX_TD_FATAL = 0xE000060400000000ULL;
inline constexpr u64 TDX_TDCS_NOT_ALLOCATED = 0xC000060600000000ULL;
inline constexpr u64 TDX_LIFECYCLE_STATE_INCORRECT = 0xC000060700000000ULL;
inline constexpr u64 TDX_OP_STATE_INCORRECT = 0xC000060800000000ULL;
inline constexpr u64 TDX_NO_VCPUS = 0xC000060900000000ULL;
inline constexpr u64 TDX_VCPU_STATE_INCORRECT = 0xC000070000000000ULL;
inline constexpr u64 TDX_VCPU_ASSOCIATED = 0x8000070100000000ULL;
inline constexpr u64 TDX_VCPU_NOT_ASSOCIATED = 0x8000070200000000ULL;
inline constexpr u64 TDX_KEY_GENERATION_FAILED = 0x8000080000000000ULL;
inline constexpr u64 TDX_TD_KEYS_NOT_CONFIGURED = 0x8000081000000000ULL;
inline constexpr u64 TDX_KEY_STATE_INCORRECT = 0xC000081100000000ULL;
inline constexpr u64 TDX_KEY_CONFIGURED = 0x0000081500000000ULL;
inline constexpr u64 TDX_WBCACHE_NOT_COMPLETE = 0x8000081700000000ULL;
inline constexpr u64 TDX_HKID_NOT_FREE = 0xC000082000000000ULL;
inline constexpr u64 TDX_NO_HKID_READY_TO_WBCACHE = 0x0000082100000000ULL;
inline constexpr u64 TDX_WBCACHE_RESUME_ERROR = 0xC000082300000000ULL;
inline constexpr u64 TDX_FLUSHVP_NOT_DONE = 0x8000082400000000ULL;
// Dynamic PAMT (intel/tdx-module include/auto_gen_2_0/tdx_error_codes_defs.h;
// the 1.5 source has none of them).
inline constexpr u64 TDX_PAGE_NOT_FREE = 0xC000030300000000ULL;
inline constexpr u64 TDX_HPA_RANGE_NOT_FREE = 0xC000030400000000ULL;
inline constexpr u64 TDX_NO_PAMT_PAGE_PAIR = 0xC000030500000000ULL;
inline constexpr u64 TDX_PAMT_PAGE_NOT_EMPTY = 0xC000030600000000ULL;
inline constexpr u64 TDX_MISSING_PAMT_PAGE_PAIR = 0x8000030800000000ULL;
inline constexpr u64 TDX_EPT_WALK_FAILED = 0xC0000B0000000000ULL;
inline constexpr u64 TDX_EPT_ENTRY_NOT_PRESENT = 0xC0000B0300000000ULL;
inline constexpr u64 TDX_GPA_RANGE_NOT_BLOCKED = 0xC0000B0600000000ULL;
inline constexpr u64 TDX_GPA_RANGE_ALREADY_BLOCKED = 0x00000B0700000000ULL;
inline constexpr u64 TDX_TLB_TRACKING_NOT_DONE = 0xC0000B0800000000ULL;
inline constexpr u64 TDX_EPT_INVALID_PROMOTE_CONDITIONS = 0xC0000B0900000000ULL;
inline constexpr u64 TDX_PAGE_ALREADY_ACCEPTED = 0x00000B0A00000000ULL;
inline constexpr u64 TDX_PAGE_SIZE_MISMATCH = 0xC0000B0B00000000ULL;
inline constexpr u64 TDX_EPT_ENTRY_STATE_INCORRECT = 0xC0000B0D00000000ULL;
inline constexpr u64 TDX_EPT_PAGE_NOT_FREE = 0xC0000B0E00000000ULL;
inline constexpr u64 TDX_L2_SEPT_PAGE_NOT_PROVIDED = 0xC0000B1200000000ULL;
// Software-defined (arch/x86/include/asm/tdx.h).
inline constexpr u64 TDX_ERROR = 1ULL << 63;
inline constexpr u64 TDX_NON_RECOVERABLE = 1ULL << 62;
inline constexpr u64 TDX_SW_ERROR = TDX_ERROR | 0x0000FF0000000000ULL;
inline constexpr u64 TDX_SEAMCALL_VMFAILINVALID = TDX_SW_ERROR | 0xFFFF0000ULL;
inline constexpr u64 TDX_SEAMCALL_GP = TDX_SW_ERROR | 13;
inline constexpr u64 TDX_SEAMCALL_UD = TDX_SW_ERROR | 6;
} // namespace status

namespace operand {
inline constexpr u64 RAX = 0, RCX = 1, RDX = 2, R8 = 8, R9 = 9;
inline constexpr u64 TDR = 0x80;        // TDX_OPERAND_ID_TDR
inline constexpr u64 SEPT_TREE = 0x92;  // TDX_OPERAND_ID_SEPT (146)
inline constexpr u64 SEPT_ENTRY = 0x93; // 147
inline constexpr u64 TD_EPOCH = 0xA9;   // TDX_OPERAND_ID_TD_EPOCH (169)
inline constexpr u64 OP_STATE = 0xAC;   // 172
inline constexpr u64 KOT = 0xBA;        // 186
inline constexpr u64 WBCACHE = 0xBC;    // 188
} // namespace operand

struct OperandName {
	u64 id;
	std::string_view name;
};

// The operand IDs a status names, as the kernel's messages and the module's
// tdx_error_codes_defs.h spell them.
inline constexpr OperandName operand_names[] = {
	{operand::RAX, "RAX"},   {operand::RCX, "RCX"},
	{operand::RDX, "RDX"},   {operand::R8, "R8"},
	{operand::R9, "R9"},     {operand::TDR, "TDR"},
	{operand::SEPT_TREE, "SEPT_TREE"}, {operand::SEPT_ENTRY, "SEPT_ENTRY"},
	{operand::TD_EPOCH, "TD_EPOCH"},   {operand::OP_STATE, "OP_STATE"},
	{operand::KOT, "KOT"},   {operand::WBCACHE, "WBCACHE"},
};

// "SEPT_TREE", or empty for an ID the table does not name.
constexpr std::string_view operand_name(u64 id)
{
	for (const auto& o : operand_names)
		if (o.id == id)
			return o.name;
	return {};
}

// api_error_with_operand_id()
constexpr u64 with_operand(u64 status, u64 id) { return status + id; }

// tdx_operand_busy() (v6.19 tdx.c): compare after masking the operand ID.
constexpr bool tdx_operand_busy(u64 err)
{
	return (err & TDX_SEAMCALL_STATUS_MASK) == status::TDX_OPERAND_BUSY;
}

// RCX "page info" (page_info_api_input_t): level in bits 2:0, GPA page
// number in 51:12; Linux builds it as gpa | tdx_level, tdx_level = pg_level - 1.
constexpr u64 page_info(u64 gpa, unsigned tdx_level) { return gpa | tdx_level; }
constexpr unsigned pg_level_to_tdx_sept_level(unsigned pg_level) { return pg_level - 1; }

struct StatusName {
	u64 value;
	std::string_view name;
};

// Every named status, for decoding in reports and traces.
inline constexpr StatusName status_names[] = {
#define ARBORIST_STATUS(n) {status::n, #n}
	ARBORIST_STATUS(TDX_SUCCESS), ARBORIST_STATUS(TDX_NON_RECOVERABLE_VCPU),
	ARBORIST_STATUS(TDX_INTERRUPTED_RESUMABLE), ARBORIST_STATUS(TDX_INTERRUPTED_RESTARTABLE),
	ARBORIST_STATUS(TDX_OPERAND_INVALID), ARBORIST_STATUS(TDX_OPERAND_ADDR_RANGE_ERROR),
	ARBORIST_STATUS(TDX_OPERAND_BUSY), ARBORIST_STATUS(TDX_PREVIOUS_TLB_EPOCH_BUSY),
	ARBORIST_STATUS(TDX_SYS_BUSY), ARBORIST_STATUS(TDX_RND_NO_ENTROPY),
	ARBORIST_STATUS(TDX_OPERAND_BUSY_HOST_PRIORITY), ARBORIST_STATUS(TDX_PAGE_METADATA_INCORRECT),
	ARBORIST_STATUS(TDX_TD_ASSOCIATED_PAGES_EXIST), ARBORIST_STATUS(TDX_SYS_NOT_READY),
	ARBORIST_STATUS(TDX_SYS_SHUTDOWN), ARBORIST_STATUS(TDX_TD_FATAL),
	ARBORIST_STATUS(TDX_TDCS_NOT_ALLOCATED), ARBORIST_STATUS(TDX_LIFECYCLE_STATE_INCORRECT),
	ARBORIST_STATUS(TDX_OP_STATE_INCORRECT), ARBORIST_STATUS(TDX_NO_VCPUS),
	ARBORIST_STATUS(TDX_VCPU_STATE_INCORRECT), ARBORIST_STATUS(TDX_VCPU_ASSOCIATED),
	ARBORIST_STATUS(TDX_VCPU_NOT_ASSOCIATED), ARBORIST_STATUS(TDX_KEY_GENERATION_FAILED),
	ARBORIST_STATUS(TDX_TD_KEYS_NOT_CONFIGURED), ARBORIST_STATUS(TDX_KEY_STATE_INCORRECT),
	ARBORIST_STATUS(TDX_KEY_CONFIGURED), ARBORIST_STATUS(TDX_WBCACHE_NOT_COMPLETE),
	ARBORIST_STATUS(TDX_HKID_NOT_FREE), ARBORIST_STATUS(TDX_NO_HKID_READY_TO_WBCACHE),
	ARBORIST_STATUS(TDX_WBCACHE_RESUME_ERROR), ARBORIST_STATUS(TDX_FLUSHVP_NOT_DONE),
	ARBORIST_STATUS(TDX_EPT_WALK_FAILED), ARBORIST_STATUS(TDX_EPT_ENTRY_NOT_PRESENT),
	ARBORIST_STATUS(TDX_GPA_RANGE_NOT_BLOCKED), ARBORIST_STATUS(TDX_GPA_RANGE_ALREADY_BLOCKED),
	ARBORIST_STATUS(TDX_TLB_TRACKING_NOT_DONE), ARBORIST_STATUS(TDX_EPT_INVALID_PROMOTE_CONDITIONS),
	ARBORIST_STATUS(TDX_PAGE_ALREADY_ACCEPTED), ARBORIST_STATUS(TDX_PAGE_SIZE_MISMATCH),
	ARBORIST_STATUS(TDX_EPT_ENTRY_STATE_INCORRECT), ARBORIST_STATUS(TDX_EPT_PAGE_NOT_FREE),
	ARBORIST_STATUS(TDX_L2_SEPT_PAGE_NOT_PROVIDED), ARBORIST_STATUS(TDX_PAGE_NOT_FREE),
	ARBORIST_STATUS(TDX_HPA_RANGE_NOT_FREE), ARBORIST_STATUS(TDX_NO_PAMT_PAGE_PAIR),
	ARBORIST_STATUS(TDX_PAMT_PAGE_NOT_EMPTY), ARBORIST_STATUS(TDX_MISSING_PAMT_PAGE_PAIR),
#undef ARBORIST_STATUS
};

// The name of a status value's class ("TDX_EPT_WALK_FAILED" for
// 0xc0000b0000000001), or empty.
constexpr std::string_view status_base_name(u64 v)
{
	for (const auto& s : status_names)
		if (s.value == (v & TDX_SEAMCALL_STATUS_MASK))
			return s.name;
	return {};
}

// "TDX_EPT_WALK_FAILED|RCX" as the kernel's error messages name a status:
// the class, then the operand ID by name (in hex where it has none); empty
// for a class the table does not name.
inline std::string status_name(u64 v)
{
	const std::string_view base = status_base_name(v);
	if (base.empty())
		return {};
	std::string s(base);
	if (const u64 id = v & ~TDX_SEAMCALL_STATUS_MASK) {
		const std::string_view op = operand_name(id);
		s += "|" + (op.empty() ? support::hex(id) : std::string(op));
	}
	return s;
}

// The one rendering of a status in reports, traces and messages:
// "TDX_OPERAND_BUSY|SEPT_TREE (0x8000020000000092)", "TDX_SUCCESS", or the
// bare value ("0x1234000000000000") for a class the table does not name.
inline std::string status_text(u64 v)
{
	if (v == status::TDX_SUCCESS)
		return "TDX_SUCCESS";
	const std::string name = status_name(v);
	return name.empty() ? support::hex(v) : name + " (" + support::hex(v) + ")";
}

// The names the TDX module 1.5 specification gives the leaves, for printing
// and for parsing traces (docs/trace-format.md).
struct LeafName {
	Leaf leaf;
	std::string_view name;
	// A `tdx_seamcall` trace line may carry it (docs/trace-format.md): Linux
	// wraps it in a tdh_*() function of arch/x86/virt/vmx/tdx/tdx.c that
	// can be probed (tdh_vp_enter() is noinstr: TD entry and exit have
	// their own events), or the huge-page series adds one.
	bool traced;
};

constexpr LeafName leaf_names[] = {
	{Leaf::TDH_VP_ENTER, "TDH.VP.ENTER", false},
	{Leaf::TDH_MNG_ADDCX, "TDH.MNG.ADDCX", true},
	{Leaf::TDH_MEM_PAGE_ADD, "TDH.MEM.PAGE.ADD", true},
	{Leaf::TDH_MEM_SEPT_ADD, "TDH.MEM.SEPT.ADD", true},
	{Leaf::TDH_VP_ADDCX, "TDH.VP.ADDCX", true},
	{Leaf::TDH_MEM_PAGE_RELOCATE, "TDH.MEM.PAGE.RELOCATE", false},
	{Leaf::TDH_MEM_PAGE_AUG, "TDH.MEM.PAGE.AUG", true},
	{Leaf::TDH_MEM_RANGE_BLOCK, "TDH.MEM.RANGE.BLOCK", true},
	{Leaf::TDH_MNG_KEY_CONFIG, "TDH.MNG.KEY.CONFIG", true},
	{Leaf::TDH_MNG_CREATE, "TDH.MNG.CREATE", true},
	{Leaf::TDH_VP_CREATE, "TDH.VP.CREATE", true},
	{Leaf::TDH_MNG_RD, "TDH.MNG.RD", true},
	{Leaf::TDH_MEM_PAGE_DEMOTE, "TDH.MEM.PAGE.DEMOTE", true},
	{Leaf::TDH_MR_EXTEND, "TDH.MR.EXTEND", true},
	{Leaf::TDH_MR_FINALIZE, "TDH.MR.FINALIZE", true},
	{Leaf::TDH_VP_FLUSH, "TDH.VP.FLUSH", true},
	{Leaf::TDH_MNG_VPFLUSHDONE, "TDH.MNG.VPFLUSHDONE", true},
	{Leaf::TDH_MNG_KEY_FREEID, "TDH.MNG.KEY.FREEID", true},
	{Leaf::TDH_MNG_INIT, "TDH.MNG.INIT", true},
	{Leaf::TDH_VP_INIT, "TDH.VP.INIT", true},
	{Leaf::TDH_MEM_PAGE_PROMOTE, "TDH.MEM.PAGE.PROMOTE", true},
	{Leaf::TDH_PHYMEM_PAGE_RDMD, "TDH.PHYMEM.PAGE.RDMD", true},
	{Leaf::TDH_MEM_SEPT_RD, "TDH.MEM.SEPT.RD", false},
	{Leaf::TDH_VP_RD, "TDH.VP.RD", true},
	{Leaf::TDH_MNG_KEY_RECLAIMID, "TDH.MNG.KEY.RECLAIMID", false},
	{Leaf::TDH_PHYMEM_PAGE_RECLAIM, "TDH.PHYMEM.PAGE.RECLAIM", true},
	{Leaf::TDH_MEM_PAGE_REMOVE, "TDH.MEM.PAGE.REMOVE", true},
	{Leaf::TDH_MEM_SEPT_REMOVE, "TDH.MEM.SEPT.REMOVE", true},
	{Leaf::TDH_SYS_KEY_CONFIG, "TDH.SYS.KEY.CONFIG", false},
	{Leaf::TDH_SYS_INIT, "TDH.SYS.INIT", false},
	{Leaf::TDH_SYS_RD, "TDH.SYS.RD", true},
	{Leaf::TDH_SYS_LP_INIT, "TDH.SYS.LP.INIT", false},
	{Leaf::TDH_SYS_TDMR_INIT, "TDH.SYS.TDMR.INIT", false},
	{Leaf::TDH_MEM_TRACK, "TDH.MEM.TRACK", true},
	{Leaf::TDH_MEM_RANGE_UNBLOCK, "TDH.MEM.RANGE.UNBLOCK", true},
	{Leaf::TDH_PHYMEM_CACHE_WB, "TDH.PHYMEM.CACHE.WB", true},
	{Leaf::TDH_PHYMEM_PAGE_WBINVD, "TDH.PHYMEM.PAGE.WBINVD", true},
	{Leaf::TDH_VP_WR, "TDH.VP.WR", true},
	{Leaf::TDH_SYS_CONFIG, "TDH.SYS.CONFIG", false},
	{Leaf::TDH_PHYMEM_PAMT_ADD, "TDH.PHYMEM.PAMT.ADD", false},
	{Leaf::TDH_PHYMEM_PAMT_REMOVE, "TDH.PHYMEM.PAMT.REMOVE", false},
};

// "TDH.MEM.PAGE.AUG", or empty for a number the table does not name.
constexpr std::string_view leaf_spec_name(Leaf l)
{
	for (const auto& n : leaf_names)
		if (n.leaf == l)
			return n.name;
	return {};
}

// leaf_spec_name(), or "leaf N" for a number the table does not name.
inline std::string leaf_name(Leaf l)
{
	const std::string_view n = leaf_spec_name(l);
	return n.empty() ? "leaf " + std::to_string(static_cast<u64>(l)) : std::string(n);
}

} // namespace arborist::tdx_abi
