// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: a scenario as the parser hands it to the runner -- the VM
// line and the operations and expectations in file order
// (docs/scenarios.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "arborist/abi/tdx.hpp"
#include "arborist/impl/tdp_mmu.hpp"
#include "arborist/impl/tdx.hpp"
#include "arborist/sept.hpp"

namespace arborist::cli::scenario {

using tdx_abi::u64;
using u32 = std::uint32_t;

enum class VmKind : std::uint8_t { tdx, ept, npt };

struct VmSpec {
	VmKind kind = VmKind::tdx;
	unsigned pwl = 4;
	unsigned vcpus = 1;
	u64 tdmr_pages = 1 << 16;
	impl::Variants variants{};
	impl::TdxVariants tdx_variants{};
	u64 resched = 0;
	spec::Paging paging = spec::x86_paging_4level;

	bool is_td() const { return kind == VmKind::tdx; }
	unsigned root_level() const { return is_td() ? pwl : paging.root_level; }
	unsigned level_bits() const { return is_td() ? spec::SPTE_LEVEL_BITS : paging.level_bits; }
	spec::TdGeometry geometry() const { return pwl == 5 ? spec::td_pwl5 : spec::td_pwl4; }
	// GFNs a scenario names: a TD's lie below the shared bit (a direct-root
	// GFN is written without it), a plain VM's are what its root maps.
	u64 gfn_limit() const
	{
		if (is_td())
			return u64{1} << (geometry().shared_gpa_bit() - spec::PAGE_SHIFT);
		return u64{1} << (paging.level_bits * paging.root_level);
	}
	// Fault addresses: a TD's include the shared bit.
	u64 gpa_limit() const
	{
		return is_td() ? u64{1} << geometry().gpaw() : gfn_limit() << spec::PAGE_SHIFT;
	}
	u64 pages_per(unsigned level) const { return u64{1} << (level_bits() * (level - 1)); }
};

enum class RootKind : std::uint8_t { mirror, direct };

struct GfnRange {
	u64 start = 0, end = 0; // [start, end)
};

struct Finalize {};
struct Fault {
	unsigned vcpu = 0;
	u64 gpa = 0;
	unsigned level = 1;
	bool write = true;
	std::optional<u64> pfn; // plain VMs only
};
struct Enter {
	unsigned vcpu = 0;
};
struct Exit {
	unsigned vcpu = 0;
};
struct Unmap {
	GfnRange range;
	bool private_range = true, shared_range = true;
};
struct Split {
	GfnRange range;
	unsigned level = 1;
	bool shared = false;
	RootKind root = RootKind::direct;
};
struct Invalidate {
	unsigned types = 0;
};
struct ZapInvalidated {
	bool shared = true;
};
struct Rcu {};
struct Busy {
	spec::Contention<spec::Concrete> locks{};
};
struct GmemRelease {};
struct Destroy {};
struct Teardown {};

struct ExpectSpte {
	u64 gfn = 0;
	unsigned level = 1;
	RootKind root = RootKind::direct;
	enum class Want : std::uint8_t { value, present, absent } want = Want::present;
	u64 value = 0;
};
struct ExpectSept {
	u64 gpa = 0;
	unsigned level = 1;
	std::optional<spec::SeptState> state; // nullopt: the walk does not reach the level
};
struct ExpectCalls {
	std::vector<std::pair<tdx_abi::Leaf, u64>> counts;
};
struct ExpectCounts {
	std::optional<u64> bugs, roots, rcu_pending, tables, pages_free;
	bool pages_free_all = false;
};
enum class RootWant : std::uint8_t { valid, invalid, freed };
struct ExpectRoot {
	u32 id = 0;
	RootWant state = RootWant::valid;
};
struct ExpectVcpu {
	unsigned id = 0;
	bool in_guest = false;
};

using Action = std::variant<Finalize, Fault, Enter, Exit, Unmap, Split, Invalidate, ZapInvalidated, Rcu, Busy,
			    GmemRelease, Destroy, Teardown, ExpectSpte, ExpectSept, ExpectCalls, ExpectCounts,
			    ExpectRoot, ExpectVcpu>;

template <class A>
inline constexpr bool is_expect = std::is_same_v<A, ExpectSpte> || std::is_same_v<A, ExpectSept> ||
				  std::is_same_v<A, ExpectCalls> || std::is_same_v<A, ExpectCounts> ||
				  std::is_same_v<A, ExpectRoot> || std::is_same_v<A, ExpectVcpu>;

using LineNo = std::uint64_t;

struct Op {
	LineNo line = 0;
	std::string text; // the line, comment stripped, single-spaced
	Action action;
};

struct Scenario {
	VmSpec vm;
	std::string vm_text;
	LineNo vm_line = 0;
	std::vector<Op> ops;
};

struct ParseError {
	LineNo line;
	std::string field;
	std::string what;
};

} // namespace arborist::cli::scenario
