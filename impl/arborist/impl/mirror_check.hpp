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
//
// The rules are stated once, per location (a GFN and a level):
// mirror_spte_problem() for a present mirror SPTE, sept_entry_problem()
// for a non-FREE S-EPT entry.  check_mirror_agrees() applies them to the
// whole of both trees; MirrorRefinement applies them after each operation
// to the locations the operation changed.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "arborist/impl/td_vm.hpp"

namespace arborist::impl {

struct MirrorCheck {
	bool ok = true;
	std::string why;
	u64 mirror_leaves = 0, mirror_tables = 0, sept_entries = 0;
};

// A present mirror SPTE `s` at (gfn, level) against the S-EPT: "" when
// they agree.
inline std::string mirror_spte_problem(const TdVm& vm, u64 gfn, unsigned level, u64 s)
{
	using spec::SeptState;
	const auto& pt = vm.mmu().tables();
	const auto& f = vm.mmu().config().flavor;
	const auto& d = spec::concrete;
	const u64 gpa = gfn << spec::PAGE_SHIFT;
	const auto e = vm.module().sept_entry(gpa, level - 1);
	if (!e)
		return "mirror SPTE at gfn " + std::to_string(gfn) + " level " + std::to_string(level) +
		       " has no S-EPT entry";
	if (spec::is_last_spte(d, f, s, u64{level})) {
		const bool mapped = e->state == SeptState::MAPPED || e->state == SeptState::PENDING;
		if (!mapped || e->hpa != (spec::spte_to_pfn(d, f, s) << spec::PAGE_SHIFT))
			return "mirror leaf at gfn " + std::to_string(gfn) + " disagrees with S-EPT (state " +
			       std::to_string(static_cast<u64>(e->state)) + ")";
		return "";
	}
	const u32 child = spte_to_child_sp(pt, f, s, level);
	if (e->state != SeptState::NL_MAPPED || child == NO_SP || e->hpa != pt[child].external_spt)
		return "mirror table at gfn " + std::to_string(gfn) + " level " + std::to_string(level) +
		       " disagrees with S-EPT";
	return "";
}

// A non-FREE S-EPT entry at (gpa, tdx_level) against the mirror root: ""
// when the root has a present SPTE there.
inline std::string sept_entry_problem(const TdVm& vm, u32 mirror_root, u64 gpa, unsigned tdx_level)
{
	const auto l = vm.mmu().lookup(mirror_root, gpa >> spec::PAGE_SHIFT, tdx_level + 1);
	if (l.level != tdx_level + 1 || !spec::is_shadow_present_pte(spec::concrete, vm.mmu().config().flavor, l.spte))
		return "S-EPT entry at gpa " + std::to_string(gpa) + " tdx level " + std::to_string(tdx_level) +
		       " has no mirror SPTE";
	return "";
}

// Both rules at one location (`gfn` aligned to `level`): the mirror SPTE
// there if it is present, then the S-EPT entry there if it is reached and
// not FREE.  "" when they agree.
inline std::string mirror_location_problem(const TdVm& vm, u32 mirror_root, u64 gfn, unsigned level)
{
	const auto l = vm.mmu().lookup(mirror_root, gfn, level);
	if (l.level == level && spec::is_shadow_present_pte(spec::concrete, vm.mmu().config().flavor, l.spte))
		if (std::string p = mirror_spte_problem(vm, gfn, level, l.spte); !p.empty())
			return p;
	const u64 gpa = gfn << spec::PAGE_SHIFT;
	const auto e = vm.module().sept_entry(gpa, level - 1);
	if (e && e->state != spec::SeptState::FREE)
		return sept_entry_problem(vm, mirror_root, gpa, level - 1);
	return "";
}

// Every location of both trees: f(gfn, level, problem) for each location
// that disagrees, the mirror's in a walk of its tree, then the S-EPT's.
template <class F>
void for_each_mirror_problem(const TdVm& vm, u32 mirror_root, MirrorCheck& r, F&& f)
{
	const auto& mmu = vm.mmu();
	const auto& pt = mmu.tables();
	const auto& fl = mmu.config().flavor;
	const auto& d = spec::concrete;
	std::vector<u32> stack{mirror_root};
	while (!stack.empty()) {
		const u32 sp = stack.back();
		stack.pop_back();
		const unsigned level = pt[sp].level;
		for (u32 i = 0; i < pt.fanout(); i++) {
			const u64 s = pt[sp].spt[i];
			if (!spec::is_shadow_present_pte(d, fl, s))
				continue;
			const u64 gfn = pt[sp].gfn + i * pages_per(pt, level);
			const bool leaf = spec::is_last_spte(d, fl, s, u64{level});
			(leaf ? r.mirror_leaves : r.mirror_tables)++;
			if (std::string p = mirror_spte_problem(vm, gfn, level, s); !p.empty())
				f(gfn, level, std::move(p));
			if (!leaf)
				if (const u32 child = spte_to_child_sp(pt, fl, s, level); child != NO_SP)
					stack.push_back(child);
		}
	}
	vm.module().for_each_entry([&](u64 gpa, unsigned tdx_level, const hw::SeptEntryView&) {
		r.sept_entries++;
		if (std::string p = sept_entry_problem(vm, mirror_root, gpa, tdx_level); !p.empty())
			f(gpa >> spec::PAGE_SHIFT, tdx_level + 1, std::move(p));
	});
}

inline MirrorCheck check_mirror_agrees(const TdVm& vm, u32 mirror_root)
{
	MirrorCheck r;
	for_each_mirror_problem(vm, mirror_root, r, [&](u64, unsigned, std::string why) {
		if (r.ok) {
			r.ok = false;
			r.why = std::move(why);
		}
	});
	return r;
}

// check_mirror_agrees() after every operation, at a cost proportional to
// what the operation changed.  The locations rechecked are those named by
// the operation's records: the MMU's spte_changed and external-hook events
// (a GFN of the direct root, with the shared bit, names the same private
// location) and split_huge_page events (the new table's children, filled
// without handle_changed_spte), and the module's S-EPT SEAMCALLs (the
// entry their page info names; DEMOTE and PROMOTE also the 512 entries
// below it).  SEAMCALLs that write no S-EPT entry (TRACK, VP.ENTER and
// the TD exit, VP.FLUSH, VPFLUSHDONE, MR.EXTEND, MR.FINALIZE, CACHE.WB,
// PAGE.WBINVD, KEY.FREEID) name none.  Anything else -- another SEAMCALL
// (RECLAIM of a torn-down TD's S-EPT pages), a KVM bug (a write the log
// may not show), a different mirror root, a log or call trace that is
// off -- makes the check walk both trees again, as check_mirror_agrees()
// does.
//
// It keeps every location that disagrees, with the reason; check() returns
// the reasons that are new since the last check (a location that starts
// to disagree, or disagrees differently), so each is reported once.
class MirrorRefinement {
public:
	using Location = std::pair<u64, unsigned>; // (gfn, level), gfn aligned to the level

	explicit MirrorRefinement(const TdVm& vm) : vm_(vm) {}

	std::vector<std::string> check(u32 mirror_root)
	{
		std::vector<Location> dirty;
		const bool known = collect(dirty);
		const bool full = mirror_root != root_ || !known;
		root_ = mirror_root;
		std::vector<std::string> fresh;
		if (mirror_root == NO_SP) {
			bad_.clear();
			return fresh;
		}
		if (full) {
			std::map<Location, std::string> now;
			MirrorCheck stats;
			for_each_mirror_problem(vm_, mirror_root, stats, [&](u64 gfn, unsigned level, std::string why) {
				now.try_emplace({gfn, level}, std::move(why));
			});
			for (const auto& [loc, why] : now)
				if (const auto old = bad_.find(loc); old == bad_.end() || old->second != why)
					fresh.push_back(why);
			bad_ = std::move(now);
			return fresh;
		}
		std::sort(dirty.begin(), dirty.end());
		dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
		for (const Location& loc : dirty) {
			std::string why = mirror_location_problem(vm_, mirror_root, loc.first, loc.second);
			const auto old = bad_.find(loc);
			if (why.empty()) {
				if (old != bad_.end())
					bad_.erase(old);
			} else if (old == bad_.end() || old->second != why) {
				fresh.push_back(why);
				bad_[loc] = std::move(why);
			}
		}
		return fresh;
	}

	// Every location that disagrees now, with the reason.
	const std::map<Location, std::string>& problems() const { return bad_; }
	bool agrees() const { return bad_.empty(); }

private:

	// The locations the records since the last check name; false when they
	// cannot say (then everything is rechecked).
	bool collect(std::vector<Location>& dirty)
	{
		const auto& mmu = vm_.mmu();
		const auto& module = vm_.module();
		const EventLog& mlog = mmu.log();
		const EventLog& tlog = vm_.tdx_log();
		const u64 bugs = mlog.count(EventKind::kvm_bug) + tlog.count(EventKind::kvm_bug);
		bool known = mlog.enabled && module.trace_enabled && bugs == bugs_seen_ &&
			     mmu_seen_ <= mlog.events().size() && calls_seen_ <= module.trace.size();
		bugs_seen_ = bugs;
		const u64 private_gfns = (u64{1} << (vm_.options().geometry.shared_gpa_bit() - spec::PAGE_SHIFT)) - 1;
		const auto mark = [&](u64 gfn, unsigned level) {
			if (level < 1 || level > spec::SEPT_LEVELS)
				return;
			const u64 span = pages_per(mmu.tables(), level);
			dirty.emplace_back(gfn & private_gfns & ~(span - 1), level);
		};
		const auto mark_children = [&](u64 gfn, unsigned level) {
			if (level < 2)
				return;
			const u64 span = pages_per(mmu.tables(), level - 1);
			for (u64 i = 0; i < mmu.tables().fanout(); i++)
				mark(gfn + i * span, level - 1);
		};
		for (; known && mmu_seen_ < mlog.events().size(); mmu_seen_++) {
			const Event& e = mlog.events()[mmu_seen_];
			if (e.kind == EventKind::spte_changed || e.kind == EventKind::external_hook)
				mark(e.gfn, e.level);
			else if (e.kind == EventKind::split_huge_page) {
				mark(e.gfn, e.level);
				mark_children(e.gfn, e.level);
			}
		}
		for (; known && calls_seen_ < module.trace.size(); calls_seen_++) {
			const auto& c = module.trace[calls_seen_];
			if (c.td_exit)
				continue;
			bool walks = false;
			for (const auto& info : spec::sept_leaves)
				walks = walks || (info.leaf == c.leaf && info.walks);
			if (walks) {
				const u64 gfn = (c.rcx & hw::sim::GPA_MASK) >> spec::PAGE_SHIFT;
				const unsigned level = c.leaf == tdx_abi::Leaf::TDH_MEM_PAGE_ADD ? 1 : static_cast<unsigned>(c.rcx & 7) + 1;
				mark(gfn, level);
				if (c.leaf == tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE || c.leaf == tdx_abi::Leaf::TDH_MEM_PAGE_PROMOTE)
					mark_children(gfn, level);
			} else if (!writes_no_sept_entry(c.leaf)) {
				known = false;
			}
		}
		// Whatever was not read is read next time or made moot by a full walk.
		mmu_seen_ = mlog.enabled ? mlog.events().size() : 0;
		calls_seen_ = module.trace_enabled ? module.trace.size() : 0;
		return known;
	}

	static bool writes_no_sept_entry(tdx_abi::Leaf l)
	{
		using tdx_abi::Leaf;
		switch (l) {
		case Leaf::TDH_MEM_TRACK:
		case Leaf::TDH_VP_ENTER:
		case Leaf::TDH_VP_FLUSH:
		case Leaf::TDH_MNG_VPFLUSHDONE:
		case Leaf::TDH_MR_EXTEND:
		case Leaf::TDH_MR_FINALIZE:
		case Leaf::TDH_PHYMEM_CACHE_WB:
		case Leaf::TDH_PHYMEM_PAGE_WBINVD:
		case Leaf::TDH_MNG_KEY_FREEID:
			return true;
		default:
			return false;
		}
	}

	const TdVm& vm_;
	u32 root_ = NO_SP;
	std::size_t mmu_seen_ = 0, calls_seen_ = 0;
	u64 bugs_seen_ = 0;
	std::map<Location, std::string> bad_;
};

} // namespace arborist::impl
