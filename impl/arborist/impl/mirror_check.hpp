// SPDX-License-Identifier: GPL-2.0-only
//
// "Mirror and S-EPT agree once no operation is in flight" (seed 000's
// question about the order of the SEAMCALL and the cmpxchg): the mirror
// root, as KVM sees it, against the S-EPT, as the module holds it.
//  - every present mirror leaf is a MAPPED or PENDING (possibly blocked
//    during removal, never at rest) S-EPT leaf at the same GPA, level and
//    page; every present mirror non-leaf is NL_MAPPED and links the mirror
//    table's external page;
//  - every S-EPT entry that is not FREE has its mirror SPTE.
#pragma once

#include <string>

#include "arborist/impl/td_vm.hpp"

namespace arborist::impl {

struct MirrorCheck {
	bool ok = true;
	std::string why;
	u64 mirror_leaves = 0, mirror_tables = 0, sept_entries = 0;
};

inline MirrorCheck check_mirror_agrees(const TdVm& vm, u32 mirror_root)
{
	using spec::SeptState;
	MirrorCheck r;
	const auto& mmu = vm.mmu();
	const auto& pt = mmu.tables();
	const auto& f = mmu.config().flavor;
	const auto& d = spec::concrete;
	auto fail = [&](std::string why) {
		if (r.ok) {
			r.ok = false;
			r.why = std::move(why);
		}
	};
	// Walk the mirror tree.
	struct Frame {
		u32 sp;
	};
	std::vector<Frame> stack{{mirror_root}};
	while (!stack.empty()) {
		const u32 sp = stack.back().sp;
		stack.pop_back();
		const unsigned level = pt[sp].level;
		for (u32 i = 0; i < pt.fanout(); i++) {
			const u64 s = pt[sp].spt[i];
			if (!spec::is_shadow_present_pte(d, f, s))
				continue;
			const u64 gfn = pt[sp].gfn + i * pages_per(pt, level);
			const u64 gpa = gfn << spec::PAGE_SHIFT;
			const auto e = vm.module().sept_entry(gpa, level - 1);
			if (!e) {
				fail("mirror SPTE at gfn " + std::to_string(gfn) + " level " + std::to_string(level) +
				     " has no S-EPT entry");
				continue;
			}
			if (spec::is_last_spte(d, f, s, u64{level})) {
				r.mirror_leaves++;
				const bool mapped = e->state == SeptState::MAPPED || e->state == SeptState::PENDING;
				if (!mapped || e->hpa != (spec::spte_to_pfn(d, f, s) << spec::PAGE_SHIFT))
					fail("mirror leaf at gfn " + std::to_string(gfn) + " disagrees with S-EPT (state " +
					     std::to_string(static_cast<u64>(e->state)) + ")");
			} else {
				r.mirror_tables++;
				const u32 child = spte_to_child_sp(pt, f, s, level);
				if (e->state != SeptState::NL_MAPPED || child == NO_SP || e->hpa != pt[child].external_spt)
					fail("mirror table at gfn " + std::to_string(gfn) + " level " + std::to_string(level) +
					     " disagrees with S-EPT");
				if (child != NO_SP)
					stack.push_back({child});
			}
		}
	}
	// Every non-FREE S-EPT entry has its mirror SPTE.
	vm.module().for_each_entry([&](u64 gpa, unsigned tdx_level, const hw::SeptEntryView&) {
		r.sept_entries++;
		const auto l = mmu.lookup(mirror_root, gpa >> spec::PAGE_SHIFT, tdx_level + 1);
		if (l.level != tdx_level + 1 || !spec::is_shadow_present_pte(d, f, l.spte))
			fail("S-EPT entry at gpa " + std::to_string(gpa) + " tdx level " + std::to_string(tdx_level) +
			     " has no mirror SPTE");
	});
	return r;
}

} // namespace arborist::impl
