// SPDX-License-Identifier: GPL-2.0-only
//
// Conformance profiles: which kernel wrote the trace, i.e. which SPTE
// flavour of spec/arborist/spte.hpp the replay uses, whether the TDX events
// of docs/trace-format.md are replayed, and which kernels the profile
// covers.  A profile is data; the checker reads only these fields.
//
// The layouts change once between Linux 6.1 and v6.19, in v6.10 (the
// non-present value becomes bit 63, the frozen value bit 63 | 0x5a0, EPT's
// present mask gains suppress-#VE; spec/arborist/spte.hpp).  The
// kvmmmu tracepoint formats the replay decodes are the same in 6.1, 6.12
// and v6.19 (arch/x86/kvm/mmu/mmutrace.h; only fast_page_fault's
// error_code widened to u64 in between, printed the same way).  So the
// 6.12 and v6.19 profiles of one architecture replay identically; both
// exist so that a report names the kernel it was meant for.
//
// Inference (infer.hpp) picks the profile from evidence in the trace.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "arborist/spte.hpp"

namespace arborist::conform {

enum class Arch : std::uint8_t { npt, ept };

struct Profile {
	std::string_view name;
	const spec::SpteFlavor& flavor;
	unsigned root_level;
	Arch arch;
	std::string_view covers;   // the kernel versions whose traces it reads
	std::string_view verified; // the sources and traces it was checked against
	bool tdx = false;          // replays TDX events: SEAMCALLs, hooks, mirror roots (conform/tdx.hpp)
};

inline constexpr Profile linux_6_1_npt{
	"linux-6.1-npt", spec::npt_v6_1, 4, Arch::npt, "Linux 6.1 to 6.9, AMD NPT (kvm_amd npt=1, tdp_mmu=1)",
	"Debian linux-source-6.1 6.1.192; real traces of Debian's 6.1.0 kernels under QEMU TCG (tests/data/linux-6.1-npt)"};
inline constexpr Profile linux_6_1_ept{
	"linux-6.1-ept", spec::ept_v6_1, 4, Arch::ept, "Linux 6.1 to 6.9, Intel EPT (kvm_intel ept=1, tdp_mmu=1)",
	"Debian linux-source-6.1 6.1.192 (spte.c kvm_mmu_set_ept_masks)"};
inline constexpr Profile linux_6_12_npt{
	"linux-6.12-npt", spec::npt_v6_10, 4, Arch::npt, "Linux 6.10 to 6.18, AMD NPT",
	"Debian linux-source-6.12 6.12.118; real traces of Debian's 6.12 kernel under QEMU TCG (tests/data/linux-6.12-npt)"};
inline constexpr Profile linux_6_12_ept{
	"linux-6.12-ept", spec::ept_v6_19, 4, Arch::ept, "Linux 6.10 to 6.18, Intel EPT without TDX",
	"Debian linux-source-6.12 6.12.118 (spte.c kvm_mmu_set_ept_masks)"};
inline constexpr Profile linux_6_19_npt{
	"linux-6.19-npt", spec::npt_v6_10, 4, Arch::npt, "Linux v6.19, AMD NPT", "Linux v6.19 arch/x86/kvm/mmu/spte.h, spte.c"};
inline constexpr Profile linux_6_19_ept{
	"linux-6.19-ept", spec::ept_v6_19, 4, Arch::ept, "Linux v6.19, Intel EPT without TDX",
	"Linux v6.19 arch/x86/kvm/mmu/spte.h, spte.c"};
inline constexpr Profile linux_6_19_tdx{
	"linux-6.19-tdx", spec::ept_v6_19, 4, Arch::ept,
	"Linux v6.19, Intel EPT with TDX: mirror and direct roots, S-EPT via the simulated TDX module",
	"Linux v6.19 arch/x86/kvm/mmu/*, arch/x86/kvm/vmx/tdx.c; TDX module 1.5.01", true};

inline constexpr std::array<const Profile*, 7> profiles{&linux_6_1_npt,  &linux_6_1_ept,  &linux_6_12_npt, &linux_6_12_ept,
							 &linux_6_19_npt, &linux_6_19_ept, &linux_6_19_tdx};

constexpr const Profile* find_profile(std::string_view name)
{
	for (const Profile* p : profiles)
		if (p->name == name)
			return p;
	return nullptr;
}

// Two profiles replay every trace the same way: same SPTE flavour, root
// level and events.
constexpr bool same_replay(const Profile& a, const Profile& b)
{
	return a.flavor.name == b.flavor.name && a.root_level == b.root_level && a.tdx == b.tdx;
}

// The names of every profile, for usage texts: "linux-6.1-npt, ...".
inline std::string profile_names()
{
	std::string s;
	for (const Profile* p : profiles)
		s += (s.empty() ? "" : ", ") + std::string(p->name);
	return s;
}

static_assert(same_replay(linux_6_12_npt, linux_6_19_npt) && same_replay(linux_6_12_ept, linux_6_19_ept));
static_assert(!same_replay(linux_6_1_npt, linux_6_12_npt) && !same_replay(linux_6_19_ept, linux_6_19_tdx));

} // namespace arborist::conform
