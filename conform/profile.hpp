// SPDX-License-Identifier: GPL-2.0-only
//
// Conformance profiles: which kernel wrote the trace, i.e. which SPTE
// flavour of spec/arborist/spte.hpp and which root level the replay uses.
//
//   linux-6.1-npt   AMD NPT on Linux 6.1 (the shared real trace,
//                   shared/traces/linux-6.1-npt): SHADOW_NONPRESENT_VALUE 0,
//                   REMOVED_SPTE 0x5a0, NPT bits (spec::npt_v6_1), 4-level.
//   linux-6.19-tdx  EPT on Linux v6.19 with TDX (spec::ept_v6_19):
//                   SHADOW_NONPRESENT_VALUE = bit 63 (suppress #VE),
//                   FROZEN_SPTE = bit 63 | 0x5a0, 4-level (EPTP.PWL 4).
//                   Only the flavour-generic rules are replayed so far: the
//                   mirror/S-EPT events and the shared bit are not modelled.
//
// Inference (conform_main without --profile): the first
// kvm_tdp_mmu_spte_changed whose old_spte or new_spte is one profile's
// non-present or frozen value names the profile.  The flavours have no such
// value in common (0 and 0x5a0 against bit 63 and bit 63 | 0x5a0), and the
// first change of every trace that starts at a root creation links a table
// over a non-present entry, so this decides on the first SPTE change.
#pragma once

#include <array>
#include <string_view>

#include "arborist/spte.hpp"

namespace arborist::conform {

struct Profile {
	std::string_view name;
	spec::SpteFlavor flavor;
	unsigned root_level;
	std::string_view kernel; // what wrote such a trace
	bool tdx = false;        // replays TDX events: SEAMCALLs, hooks, mirror roots (conform/tdx.hpp)
};

inline constexpr Profile linux_6_1_npt{
	"linux-6.1-npt", spec::npt_v6_1, 4,
	"Linux 6.1, AMD NPT (kvm_amd npt=1, tdp_mmu=1), as in shared/traces/linux-6.1-npt"};
inline constexpr Profile linux_6_19_tdx{
	"linux-6.19-tdx", spec::ept_v6_19, 4,
	"Linux v6.19, Intel EPT with TDX: mirror and direct roots, S-EPT via the simulated TDX module", true};

inline constexpr std::array<const Profile*, 2> profiles{&linux_6_1_npt, &linux_6_19_tdx};

constexpr const Profile* find_profile(std::string_view name)
{
	for (const Profile* p : profiles)
		if (p->name == name)
			return p;
	return nullptr;
}

// The profile whose SHADOW_NONPRESENT_VALUE or frozen value v is, if any
// (spec::nonpresent_spte, spec::frozen_spte).
constexpr const Profile* profile_identified_by(std::uint64_t v)
{
	for (const Profile* p : profiles)
		if (v == spec::nonpresent_spte(spec::concrete, p->flavor) || v == spec::frozen_spte(spec::concrete, p->flavor))
			return p;
	return nullptr;
}

static_assert(profile_identified_by(0) == &linux_6_1_npt);
static_assert(profile_identified_by(0x5a0) == &linux_6_1_npt);
static_assert(profile_identified_by(spec::bit_ull(63)) == &linux_6_19_tdx);
static_assert(profile_identified_by(spec::bit_ull(63) | 0x5a0) == &linux_6_19_tdx);
static_assert(profile_identified_by(0x2c53827) == nullptr);

} // namespace arborist::conform
