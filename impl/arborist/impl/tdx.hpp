// SPDX-License-Identifier: GPL-2.0-only
//
// KVM's TDX side of the external page table: Linux v6.19
// arch/x86/kvm/vmx/tdx.c (tdx_sept_* hooks, tdx_track, tdh_do_no_vcpus,
// tdx_mmu_release_hkid, tdx_reclaim_*), over any SEAMCALL backend: the
// simulated module (hw/arborist/hw/sim_module.hpp) by default, the real
// instruction in a kernel-side build.  Contracts:
// Linux v6.19 arch/x86/kvm/vmx/tdx.c (docs/sources.md).
//
// Variants (named after the seed that proposes them):
//  - seed 001: private 2M pages, split with BLOCK, TRACK, DEMOTE
//    (tdx_sept_split_private_spte of the huge-page series);
//  - seed 004: removal deferred to TD_TEARDOWN: guest_memfd release pins the
//    inode (at most 64) instead of zapping, and pages are RECLAIMed after
//    the HKID is released; beyond 64 inodes, dynamic removal as in v6.19;
//  - KVM_TDX_TERMINATE_VM, where that thread went (not in v6.19): userspace
//    releases the HKID before it closes guest_memfd, so the release's
//    removals RECLAIM in TD_TEARDOWN ("[PATCH V4 1/1] KVM: TDX: Add
//    sub-ioctl KVM_TDX_TERMINATE_VM", Adrian Hunter, 11 Jun 2025,
//    https://lore.kernel.org/all/20250611095158.19398-2-adrian.hunter@intel.com/).
#pragma once

#include <cerrno>
#include <optional>
#include <vector>

#include "arborist/hw/seamcall.hpp"
#include "arborist/impl/events.hpp"
#include "arborist/impl/mmu_page.hpp"
#include "arborist/spte.hpp"

namespace arborist::impl {

using hw::u16;

// The host's page allocator for pages it hands to the module (S-EPT pages,
// control pages, guest_memfd pages): frames of the TDMR.
class HostPages {
public:
	constexpr HostPages(u64 base_pfn, u64 count) : base_(base_pfn), used_(count, false), free_(count) {}
	constexpr std::optional<u64> alloc_pfn() { return alloc_run(1, 1); }
	// `n` contiguous frames whose first frame is a multiple of `align`
	// (a 2M private page: 512, 512).
	constexpr std::optional<u64> alloc_run(u64 n, u64 align)
	{
		// Next fit from the last allocation, then from the start.
		u64 from = align_index(cursor_, align);
		for (int pass = 0; pass < 2; pass++, from = align_index(0, align))
			for (u64 i = from; i + n <= used_.size(); i += align)
				if (run_free(i, n))
					return take(i, n);
		return std::nullopt;
	}
	constexpr void free_pfn(u64 pfn)
	{
		const u64 i = pfn - base_;
		if (i < used_.size() && used_[i]) {
			used_[i] = false;
			free_++;
		}
	}
	constexpr u64 free_count() const { return free_; }
	constexpr u64 base() const { return base_; }
	constexpr u64 count() const { return used_.size(); }
	constexpr bool used(u64 pfn) const { return pfn >= base_ && pfn - base_ < used_.size() && used_[pfn - base_]; }
	constexpr u64 cursor() const { return cursor_; } // where the next search starts

private:
	// The first index at or after i whose frame number is a multiple of align.
	constexpr u64 align_index(u64 i, u64 align) const { return (base_ + i + align - 1) / align * align - base_; }
	constexpr bool run_free(u64 i, u64 n) const
	{
		for (u64 k = 0; k < n; k++)
			if (used_[i + k])
				return false;
		return true;
	}
	constexpr u64 take(u64 i, u64 n)
	{
		for (u64 k = 0; k < n; k++)
			used_[i + k] = true;
		free_ -= n;
		cursor_ = i + n;
		return base_ + i;
	}
	u64 base_;
	std::vector<bool> used_;
	u64 free_;
	u64 cursor_ = 0;
};

// The private pages KVM has given back to the host (PAGE.WBINVD done
// after PAGE.REMOVE, or a teardown RECLAIM): one bit per frame from the
// TDMR's base, grown as pages are released, and the number of releases.
// A 107 GiB TD releases 28 M pages; a list of them would cost 8 bytes a
// page and its reallocation copies, the bitmap an eighth of a byte.
class ReleasedPages {
public:
	constexpr explicit ReleasedPages(u64 base_pfn = 0) : base_(base_pfn) {}
	constexpr void add(u64 pfn)
	{
		count_++;
		if (pfn < base_) {
			below_base_++;
			return;
		}
		const u64 i = pfn - base_;
		if (i / 64 >= bits_.size())
			bits_.resize(i / 64 + 1, 0);
		bits_[i / 64] |= u64{1} << (i % 64);
	}
	constexpr bool contains(u64 pfn) const
	{
		if (pfn < base_)
			return false;
		const u64 i = pfn - base_;
		return i / 64 < bits_.size() && (bits_[i / 64] >> (i % 64) & 1);
	}
	// Releases so far, a page released twice counting twice.
	constexpr u64 size() const { return count_; }
	constexpr bool empty() const { return count_ == 0; }
	// Releases of frames below the TDMR, which contains() cannot answer:
	// none unless KVM hands back a page the module never had.
	constexpr u64 below_base() const { return below_base_; }

private:
	u64 base_;
	std::vector<u64> bits_;
	u64 count_ = 0;
	u64 below_base_ = 0;
};

struct TdxVariants {
	// Private memory at VM destruction: v6.19 removes each page from the
	// S-EPT (BLOCK, TRACK, REMOVE) as the mirror root is zapped; seed 004's
	// RFC defers the removal to TD_TEARDOWN, where the pages are reclaimed
	// after TDH.MNG.KEY.FREEID without any S-EPT call.
	enum class Teardown : std::uint8_t { dynamic_v6_19, deferred_to_teardown } teardown = Teardown::dynamic_v6_19;
	// KVM_TDX_TERMINATE_VM: none (v6.19 has no such ioctl); as posted
	// (V4: kvm_trylock_all_vcpus(), kvm_vm_dead(), tdx_mmu_release_hkid();
	// the remove hook RECLAIMs once the HKID is released); two known-bad
	// orders: the remove hook RECLAIMs once the VM is dead, before the
	// HKID is released; or the HKID is released without kvm_vm_dead(), so
	// vCPUs can still enter.
	enum class TerminateVm : std::uint8_t {
		none,
		dead_then_release,
		reclaim_once_dead,
		release_without_dead,
	} terminate_vm = TerminateVm::none;
	// Seed 001 and the TDX huge-page series: 2M private leaves (AUG at
	// level 2) and their split with split_external_spt (BLOCK, TRACK,
	// DEMOTE).  The MMU reads it from Config::private_huge_pages.
	bool private_huge_pages = false;
	// v6.19 tdh_do_no_vcpus(): a zap-side SEAMCALL that returns
	// TDX_OPERAND_BUSY is retried once after wait_for_sept_zap is set and
	// every vCPU is kicked out of the guest.  Off: the SEAMCALL is issued
	// once and BUSY is a TDX_BUG_ON like any other error (the known-bad
	// variant: what the retry is there for).
	bool busy_kick_retry = true;
	// How a removed S-EPT page table is given up.  v6.19 (tdp_mmu_leaks):
	// .free_external_spt() returns -EIO after KVM_BUG_ON(is_hkid_assigned)
	// or a failed RECLAIM, and handle_removed_pt() WARNs and nullifies
	// sp->external_spt, so tdp_mmu_free_sp() leaks the page.  The huge-page
	// series (hook_leaks: Sean Christopherson, "[RFC PATCH v5 09/45] KVM:
	// x86: Rework .free_external_spt() into .reclaim_external_sp()"): a void
	// .reclaim_external_sp() nullifies sp->external_spt itself on either
	// failure ("that detail and implementation choice has no business living
	// in the TDP MMU").  The known-bad hook_frees_anyway: a hook its callers
	// read as "free", assuming success is guaranteed -- the page goes back
	// to the host whatever RECLAIM said.
	enum class SeptPageRelease : std::uint8_t {
		tdp_mmu_leaks,
		hook_leaks,
		hook_frees_anyway,
	} sept_page_release = SeptPageRelease::tdp_mmu_leaks;
};

// TDX_MAX_GMEM_INODES of the seed-004 RFC.
inline constexpr unsigned TDX_MAX_GMEM_INODES = 64;

// tdx_global_keyid (v6.19 arch/x86/virt/vmx/tdx/tdx.c tdx_init(): "Just use
// the first TDX KeyID as the 'global KeyID' and leave the rest for TDX
// guests", tdx_guest_keyid_start = tdx_keyid_start + 1).  TdVm gives its TD
// HKID 1, the first guest KeyID, so the global one is 0 here.
inline constexpr u16 TDX_GLOBAL_KEYID = 0;

// Something that can make every vCPU leave the guest:
// kvm_make_all_cpus_request(kvm, KVM_REQ_OUTSIDE_GUEST_MODE).
template <class E>
concept VcpuKicker = requires(E& e) { e.kick_all_vcpus(); };

template <hw::KeyedSeamcallBackend B, VcpuKicker Env>
class KvmTdx {
public:
	// enum kvm_tdx_state
	enum class State : std::uint8_t { uninitialized, initialized, runnable };

	constexpr KvmTdx(B& module, Env& env, HostPages& pages, EventLog& log, TdxVariants v = {})
		: m_(module), env_(env), pages_(pages), log_(log), v_(v)
	{
	}
	// A copy of KVM's TDX state bound to another module, environment, page
	// allocator and log (TdVm's copy constructor, for the model checker).
	constexpr KvmTdx(const KvmTdx& o, B& module, Env& env, HostPages& pages, EventLog& log)
		: m_(module), env_(env), pages_(pages), log_(log), v_(o.v_), state_(o.state_), tdr_pa_(o.tdr_pa_),
		  hkid_(o.hkid_), hkid_assigned_(o.hkid_assigned_), wait_for_sept_zap_(o.wait_for_sept_zap_),
		  bugged_(o.bugged_), page_add_src_(o.page_add_src_), tdcs_(o.tdcs_), tdvpr_(o.tdvpr_),
		  released_(o.released_), pinned_inodes_(o.pinned_inodes_), vm_dead_(o.vm_dead_)
	{
	}
	KvmTdx(const KvmTdx&) = delete;
	KvmTdx& operator=(const KvmTdx&) = delete;

	// ---- kvm_x86_ops external page-table hooks ---------------------------------

	// Each hook is logged on entry (b = 0) and on return (b = 1, err = the
	// return value; 0 for the void remove_external_spte): the calls a
	// kprobe/kretprobe pair on the kvm_x86_ops hook sees (`arborist run
	// --trace`, docs/trace-format.md).  The *_call functions are the hooks.
	constexpr int link_external_spt(u64 gfn, unsigned level, u64 external_spt)
	{
		hook_enter("link_external_spt", gfn, level, external_spt);
		const int ret = link_external_spt_call(gfn, level, external_spt);
		hook_return("link_external_spt", gfn, level, external_spt, ret);
		return ret;
	}

	constexpr int set_external_spte(u64 gfn, unsigned level, u64 mirror_spte)
	{
		hook_enter("set_external_spte", gfn, level, mirror_spte);
		const int ret = set_external_spte_call(gfn, level, mirror_spte);
		hook_return("set_external_spte", gfn, level, mirror_spte, ret);
		return ret;
	}

	constexpr void remove_external_spte(u64 gfn, unsigned level, u64 mirror_spte)
	{
		RemoveOp op = remove_external_spte_begin(gfn, level, mirror_spte);
		while (!remove_external_spte_step(op)) {
		}
	}

	// tdx_sept_remove_private_spte(): BLOCK, TRACK + kick, REMOVE, then
	// PAGE.WBINVD with the TD's HKID before the page goes back to the host.
	// Every SEAMCALL retries once after forcing vCPUs out (tdh_do_no_vcpus).
	// As a machine: one step is one SEAMCALL
	// (a retry after TDX_OPERAND_BUSY, with its kick, is the next step), so
	// a vCPU's TD entry or exit can land between BLOCK, TRACK and REMOVE.
	// The whole-call hook above runs it to completion.
	struct RemoveOp {
		enum : std::uint8_t { START, BLOCK_RETRY, TRACK, TRACK_RETRY, REMOVE, REMOVE_RETRY, WBINVD, DONE };
		u64 gfn = 0;
		unsigned level = 0;
		u64 mirror_spte = 0;
		std::uint8_t pc = START;
		constexpr bool operator==(const RemoveOp&) const = default;
	};

	constexpr RemoveOp remove_external_spte_begin(u64 gfn, unsigned level, u64 mirror_spte)
	{
		hook_enter("remove_external_spte", gfn, level, mirror_spte);
		return {gfn, level, mirror_spte};
	}

	// One step; true when the hook has returned.
	constexpr bool remove_external_spte_step(RemoveOp& op)
	{
		const u64 pa = page_pa(op.mirror_spte);
		u64 e1 = 0, e2 = 0;
		auto block = [&] { return hw::tdh_mem_range_block(m_, tdr_pa_, gpa(op.gfn), tdx_level(op.level), &e1, &e2); };
		auto remove = [&] { return hw::tdh_mem_page_remove(m_, tdr_pa_, gpa(op.gfn), tdx_level(op.level), &e1, &e2); };
		auto done = [&] {
			op.pc = RemoveOp::DONE;
			hook_return("remove_external_spte", op.gfn, op.level, op.mirror_spte, 0);
			return true;
		};
		switch (op.pc) {
		case RemoveOp::START:
			if (reclaim_in_teardown()) {
				// v6.19: "HKID is released after all private pages have been
				// removed"; seed 004 reclaims in TD_TEARDOWN instead, and so
				// does KVM_TDX_TERMINATE_VM (V4: "KVM_BUG_ON(!kvm->vm_dead,
				// kvm); ret = tdx_reclaim_page(page)").
				if (v_.teardown == TdxVariants::Teardown::deferred_to_teardown)
					teardown_private_spte(op.level, pa);
				else if (v_.terminate_vm != TdxVariants::TerminateVm::none) {
					bug_on(!vm_dead_, "tdx_sept_remove_private_spte: HKID released, VM not dead");
					teardown_private_spte(op.level, pa);
				} else
					bug_on(true, "tdx_sept_remove_private_spte: HKID not assigned");
				return done();
			}
			if (bug_on(!level_supported(op.level), "tdx_sept_remove_private_spte: level != PG_LEVEL_4K"))
				return done();
			return no_vcpus_step(op, block(), RemoveOp::BLOCK_RETRY, RemoveOp::TRACK, "TDH.MEM.RANGE.BLOCK") && done();
		case RemoveOp::BLOCK_RETRY:
			return retried(op, block(), RemoveOp::TRACK, "TDH.MEM.RANGE.BLOCK") && done();
		case RemoveOp::TRACK:
			// tdx_track(): only a RUNNABLE TD has vCPUs to track.
			if (state_ != State::runnable) {
				op.pc = RemoveOp::REMOVE;
				return remove_external_spte_step(op);
			}
			// tdx_track() goes on to the kick (and the caller to REMOVE)
			// after its KVM_BUG_ON, as v6.19 does.
			no_vcpus_step(op, hw::tdh_mem_track(m_, tdr_pa_), RemoveOp::TRACK_RETRY, RemoveOp::REMOVE,
				      "TDH.MEM.TRACK");
			if (op.pc == RemoveOp::REMOVE)
				env_.kick_all_vcpus(); // the kick that makes the TRACK effective
			return false;
		case RemoveOp::TRACK_RETRY:
			retried(op, hw::tdh_mem_track(m_, tdr_pa_), RemoveOp::REMOVE, "TDH.MEM.TRACK");
			env_.kick_all_vcpus();
			return false;
		case RemoveOp::REMOVE:
			return no_vcpus_step(op, remove(), RemoveOp::REMOVE_RETRY, RemoveOp::WBINVD, "TDH.MEM.PAGE.REMOVE") &&
			       done();
		case RemoveOp::REMOVE_RETRY:
			return retried(op, remove(), RemoveOp::WBINVD, "TDH.MEM.PAGE.REMOVE") && done();
		case RemoveOp::WBINVD:
			if (!tdx_bug_on(hw::tdh_phymem_page_wbinvd_hkid(m_, hkid_, pa), "TDH.PHYMEM.PAGE.WBINVD"))
				released(pa);
			return done();
		default: return true;
		}
	}

	constexpr int free_external_spt(u64 gfn, unsigned level, u64 external_spt)
	{
		hook_enter("free_external_spt", gfn, level, external_spt);
		const int ret = free_external_spt_call(gfn, level, external_spt);
		hook_return("free_external_spt", gfn, level, external_spt, ret);
		return ret;
	}

	// .reclaim_external_sp() (tdx_sept_reclaim_private_sp(), RFC v5 09/45),
	// when the variant has it instead of .free_external_spt():
	// "if (KVM_BUG_ON(is_hkid_assigned(to_kvm_tdx(kvm)), kvm) ||
	// tdx_reclaim_page(virt_to_page(sp->external_spt))) sp->external_spt =
	// NULL;" -- the posted hook still forbids freeing a table while the HKID
	// is assigned; what moved is the leak.
	constexpr bool reclaims_external_sp() const
	{
		return v_.sept_page_release != TdxVariants::SeptPageRelease::tdp_mmu_leaks;
	}
	constexpr void reclaim_external_sp(u64 gfn, unsigned level, u64& external_spt)
	{
		hook_enter("reclaim_external_sp", gfn, level, external_spt);
		const bool failed = bug_on(hkid_assigned_, "tdx_sept_reclaim_private_sp: HKID still assigned") ||
				    !reclaim_page(external_spt);
		// Leak the page, "to prevent the kernel from accessing the encrypted
		// page" -- unless the known-bad hook lets tdp_mmu_free_sp() free it.
		if (failed && v_.sept_page_release == TdxVariants::SeptPageRelease::hook_leaks)
			external_spt = 0;
		hook_return("reclaim_external_sp", gfn, level, external_spt, failed ? -EIO : 0);
	}

	constexpr int split_external_spt(u64 gfn, unsigned level, u64 new_spt, u64)
	{
		hook_enter("split_external_spt", gfn, level, new_spt);
		const int ret = split_external_spt_call(gfn, level, new_spt);
		hook_return("split_external_spt", gfn, level, new_spt, ret);
		return ret;
	}


	// tdx_sept_link_private_spt(): TDH.MEM.SEPT.ADD at the level of the SPTE
	// that points to the new table.  BUSY -> -EBUSY (the fault retries).
	constexpr int link_external_spt_call(u64 gfn, unsigned level, u64 external_spt)
	{
		u64 e1 = 0, e2 = 0;
		const u64 err = hw::tdh_mem_sept_add(m_, tdr_pa_, gpa(gfn), tdx_level(level), external_spt, &e1, &e2);
		return install_result(err, "TDH.MEM.SEPT.ADD", gfn, level);
	}

	// tdx_sept_set_private_spte(): PAGE.ADD before MR.FINALIZE (with the
	// source page of KVM_TDX_INIT_MEM_REGION), PAGE.AUG after.
	constexpr int set_external_spte_call(u64 gfn, unsigned level, u64 mirror_spte)
	{
		if (bug_on(!level_supported(level), "tdx_sept_set_private_spte: level != PG_LEVEL_4K"))
			return -EIO;
		const u64 pa = page_pa(mirror_spte);
		u64 e1 = 0, e2 = 0, err;
		if (state_ != State::runnable) {
			if (bug_on(!page_add_src_, "tdx_sept_set_private_spte: no page_add_src before finalize"))
				return -EIO;
			err = hw::tdh_mem_page_add(m_, tdr_pa_, gpa(gfn), pa, *page_add_src_, &e1, &e2);
			return install_result(err, "TDH.MEM.PAGE.ADD", gfn, level);
		}
		err = hw::tdh_mem_page_aug(m_, tdr_pa_, gpa(gfn), tdx_level(level), pa, &e1, &e2);
		return install_result(err, "TDH.MEM.PAGE.AUG", gfn, level);
	}

	// tdx_sept_free_private_spt(): only after the HKID is freed ("KVM doesn't
	// (yet) zap page table pages in mirror page table while TD is active").
	constexpr int free_external_spt_call(u64, unsigned, u64 external_spt)
	{
		if (bug_on(hkid_assigned_, "tdx_sept_free_private_spt: HKID still assigned"))
			return -EIO;
		return reclaim_page(external_spt) ? 0 : -EIO;
	}

	// Seed 001 (huge-page series v3 tdx_sept_split_private_spte): only in
	// RUNNABLE and for 2M: BLOCK, TRACK, DEMOTE; "No UNBLOCK is needed".
	constexpr int split_external_spt_call(u64 gfn, unsigned level, u64 new_spt)
	{
		if (bug_on(state_ != State::runnable || level != 2, "tdx_sept_split_private_spte: not RUNNABLE or not 2M"))
			return -EIO;
		u64 e1 = 0, e2 = 0;
		u64 err = do_no_vcpus([&] { return hw::tdh_mem_range_block(m_, tdr_pa_, gpa(gfn), tdx_level(level), &e1, &e2); });
		if (tdx_bug_on(err, "TDH.MEM.RANGE.BLOCK"))
			return -EIO;
		track();
		err = do_no_vcpus(
			[&] { return hw::tdh_mem_page_demote(m_, tdr_pa_, gpa(gfn), tdx_level(level), new_spt, &e1, &e2); });
		return tdx_bug_on(err, "TDH.MEM.PAGE.DEMOTE") ? -EIO : 0;
	}

	// The same as a machine, one SEAMCALL a step (a retry after BUSY, with
	// its kick, is the next step), so that a vCPU's TD entry can land
	// between BLOCK, TRACK and DEMOTE: the model checker's split with the
	// module's lock windows.  tdx_track()'s kick is a step of its own: TRACK
	// has returned (its epoch lock is free) before the kick, and a vCPU
	// may enter again after it -- wait_for_sept_zap is set only by a BUSY.
	// ret is the hook's return value.
	struct SplitExtOp {
		enum : std::uint8_t { START, BLOCK_RETRY, TRACK, TRACK_RETRY, KICK, DEMOTE, DEMOTE_RETRY, DONE };
		u64 gfn = 0;
		unsigned level = 0;
		u64 new_spt = 0;
		std::uint8_t pc = START;
		int ret = 0;
		constexpr bool operator==(const SplitExtOp&) const = default;
	};

	constexpr SplitExtOp split_external_spt_begin(u64 gfn, unsigned level, u64 new_spt, u64)
	{
		hook_enter("split_external_spt", gfn, level, new_spt);
		return {gfn, level, new_spt};
	}

	// One step; true when the hook has returned.
	constexpr bool split_external_spt_step(SplitExtOp& op)
	{
		u64 e1 = 0, e2 = 0;
		auto block = [&] { return hw::tdh_mem_range_block(m_, tdr_pa_, gpa(op.gfn), tdx_level(op.level), &e1, &e2); };
		auto demote = [&] {
			return hw::tdh_mem_page_demote(m_, tdr_pa_, gpa(op.gfn), tdx_level(op.level), op.new_spt, &e1, &e2);
		};
		auto done = [&](int ret) {
			op.ret = ret;
			op.pc = SplitExtOp::DONE;
			hook_return("split_external_spt", op.gfn, op.level, op.new_spt, ret);
			return true;
		};
		switch (op.pc) {
		case SplitExtOp::START:
			if (bug_on(state_ != State::runnable || op.level != 2, "tdx_sept_split_private_spte: not RUNNABLE or not 2M"))
				return done(-EIO);
			return no_vcpus_step(op, block(), SplitExtOp::BLOCK_RETRY, SplitExtOp::TRACK, "TDH.MEM.RANGE.BLOCK") &&
			       done(-EIO);
		case SplitExtOp::BLOCK_RETRY:
			return retried(op, block(), SplitExtOp::TRACK, "TDH.MEM.RANGE.BLOCK") && done(-EIO);
		case SplitExtOp::TRACK: // tdx_track(): TRACK, then the kick
			no_vcpus_step(op, hw::tdh_mem_track(m_, tdr_pa_), SplitExtOp::TRACK_RETRY, SplitExtOp::KICK,
				      "TDH.MEM.TRACK");
			return false;
		case SplitExtOp::TRACK_RETRY:
			retried(op, hw::tdh_mem_track(m_, tdr_pa_), SplitExtOp::KICK, "TDH.MEM.TRACK");
			return false;
		case SplitExtOp::KICK:
			env_.kick_all_vcpus();
			op.pc = SplitExtOp::DEMOTE;
			return false;
		case SplitExtOp::DEMOTE:
			if (no_vcpus_step(op, demote(), SplitExtOp::DEMOTE_RETRY, SplitExtOp::DONE, "TDH.MEM.PAGE.DEMOTE"))
				return done(-EIO);
			return op.pc == SplitExtOp::DONE && done(0);
		case SplitExtOp::DEMOTE_RETRY:
			return done(retried(op, demote(), SplitExtOp::DONE, "TDH.MEM.PAGE.DEMOTE") ? -EIO : 0);
		default: return true;
		}
	}

	// ---- seed 000's TDX removal: the pruned branch blocked, then removed by
	// the RCU callback (Sean Christopherson, "Re: [PATCH v11 018/113] KVM:
	// TDX: create/destroy VM structure", 26 Jan 2023: "KVM can use
	// TDH.MEM.RANGE.BLOCK to make the parent !PRESENT ... the RCU callback
	// will again ensure all in-flight SEAMCALLs for the children complete
	// before KVM actually tries to zap the children").  Not in any kernel:
	// the hooks a TDX implementation of that proposal needs.  Levels are
	// KVM levels of the SPTE, as for the v6.19 hooks.

	// When the branch is pruned (mmu_lock held for write): TDH.MEM.RANGE.BLOCK
	// of one entry, retried once after a kick like every zap SEAMCALL.
	//
	// Once the HKID is released (the mirror root's zap at VM destruction)
	// no vCPU can run and no S-EPT leaf but RECLAIM works: nothing is
	// blocked, leaves go as v6.19's remove hook takes them, tables are
	// RECLAIMed as v6.19's free_external_spt() does.
	constexpr int block_pruned_spte(u64 gfn, unsigned level)
	{
		if (!hkid_assigned_)
			return 0;
		hook_enter("block_pruned_spte", gfn, level, 0);
		u64 e1 = 0, e2 = 0;
		const u64 err =
			do_no_vcpus([&] { return hw::tdh_mem_range_block(m_, tdr_pa_, gpa(gfn), tdx_level(level), &e1, &e2); });
		const int ret = tdx_bug_on(err, "TDH.MEM.RANGE.BLOCK") ? -EIO : 0;
		hook_return("block_pruned_spte", gfn, level, 0, ret);
		return ret;
	}

	// ... then tdx_track(): TRACK and the kick, so that no vCPU still runs
	// with a translation through the blocked entries.
	constexpr void track_pruned_branch()
	{
		if (hkid_assigned_)
			track();
	}

	// In the RCU callback: TDH.MEM.PAGE.REMOVE of a leaf of the branch, then
	// PAGE.WBINVD with the TD's HKID; the page stays guest_memfd's.
	constexpr int remove_pruned_spte(u64 gfn, unsigned level, u64 mirror_spte)
	{
		if (!hkid_assigned_) {
			remove_external_spte(gfn, level, mirror_spte);
			return 0;
		}
		hook_enter("remove_pruned_spte", gfn, level, mirror_spte);
		const u64 pa = page_pa(mirror_spte);
		u64 e1 = 0, e2 = 0;
		const u64 err =
			do_no_vcpus([&] { return hw::tdh_mem_page_remove(m_, tdr_pa_, gpa(gfn), tdx_level(level), &e1, &e2); });
		int ret = -EIO;
		if (!tdx_bug_on(err, "TDH.MEM.PAGE.REMOVE") &&
		    !tdx_bug_on(hw::tdh_phymem_page_wbinvd_hkid(m_, hkid_, pa), "TDH.PHYMEM.PAGE.WBINVD")) {
			released(pa);
			ret = 0;
		}
		hook_return("remove_pruned_spte", gfn, level, mirror_spte, ret);
		return ret;
	}

	// ... and TDH.MEM.SEPT.REMOVE of the entry (at `level`) that links a
	// table of the branch, once its children are gone, then PAGE.WBINVD of
	// the S-EPT page: only then may tdp_mmu_free_sp() free it.
	constexpr int remove_pruned_spt(u64 gfn, unsigned level, u64 external_spt)
	{
		if (!hkid_assigned_)
			return free_external_spt(gfn, level, external_spt);
		hook_enter("remove_pruned_spt", gfn, level, external_spt);
		u64 e1 = 0, e2 = 0;
		const u64 err =
			do_no_vcpus([&] { return hw::tdh_mem_sept_remove(m_, tdr_pa_, gpa(gfn), tdx_level(level), &e1, &e2); });
		int ret = -EIO;
		if (!tdx_bug_on(err, "TDH.MEM.SEPT.REMOVE") &&
		    !tdx_bug_on(hw::tdh_phymem_page_wbinvd_hkid(m_, hkid_, external_spt), "TDH.PHYMEM.PAGE.WBINVD"))
			ret = 0;
		hook_return("remove_pruned_spt", gfn, level, external_spt, ret);
		return ret;
	}

	// kvm_mmu_alloc_external_spt(): a page from mmu_external_spt_cache.
	constexpr u64 alloc_external_spt()
	{
		const auto pfn = pages_.alloc_pfn();
		if (bug_on(!pfn, "mmu_external_spt_cache: out of pages"))
			return 0;
		return *pfn << spec::PAGE_SHIFT;
	}

	// tdp_mmu_free_sp(): free_page(sp->external_spt).
	constexpr void free_external_spt_page(u64 pa) { pages_.free_pfn(pa >> spec::PAGE_SHIFT); }

	constexpr bool vm_bugged() const { return bugged_; }

	// ---- TD life (tdx_td_init, tdx_td_finalize, tdx_mmu_release_hkid,
	// tdx_vm_destroy) --------------------------------------------------------------

	constexpr State state() const { return state_; }
	constexpr bool hkid_assigned() const { return hkid_assigned_; }
	constexpr u64 tdr_pa() const { return tdr_pa_; }
	constexpr const std::vector<u64>& vcpus() const { return tdvpr_; }
	constexpr bool wait_for_sept_zap() const { return wait_for_sept_zap_; }

	// The source page of KVM_TDX_INIT_MEM_REGION (kvm_tdx->page_add_src).
	constexpr void set_page_add_src(std::optional<u64> pa) { page_add_src_ = pa; }

	// tdx_td_finalize(): TDH.MR.FINALIZE, INITIALIZED -> RUNNABLE.
	constexpr bool finalize()
	{
		const u64 err = hw::tdh_mr_finalize(m_, tdr_pa_);
		if (tdx_bug_on(err, "TDH.MR.FINALIZE"))
			return false;
		state_ = State::runnable;
		return true;
	}

	// tdx_mmu_release_hkid(): VP.FLUSH every vCPU, VPFLUSHDONE, CACHE.WB on
	// each package, KEY.FREEID.  On TDX_FLUSHVP_NOT_DONE the HKID stays; a
	// failed CACHE.WB does not stop it, KEY.FREEID then fails (a KVM bug,
	// "HKID %d is leaked").
	constexpr bool release_hkid()
	{
		if (!hkid_assigned_)
			return true;
		for (const u64 tdvpr : tdvpr_) {
			const u64 err = hw::tdh_vp_flush(m_, tdvpr);
			if (err != tdx_abi::status::TDX_VCPU_NOT_ASSOCIATED)
				tdx_bug_on(err, "TDH.VP.FLUSH");
		}
		u64 err = hw::tdh_mng_vpflushdone(m_, tdr_pa_);
		if (err == tdx_abi::status::TDX_FLUSHVP_NOT_DONE)
			return false;
		if (tdx_bug_on(err, "TDH.MNG.VPFLUSHDONE"))
			return false;
		phymem_cache_wb();
		err = hw::tdh_mng_key_freeid(m_, tdr_pa_);
		if (tdx_bug_on(err, "TDH.MNG.KEY.FREEID"))
			return false;
		hkid_assigned_ = false;
		return true;
	}

	// tdx_vm_destroy() -> tdx_reclaim_td_control_pages(), and tdx_vcpu_free():
	// RECLAIM each vCPU's TDVPR, the TDCS pages, then the TDR (reclaim_tdr()).
	// Returns false when a page is left behind (leaked).
	constexpr bool reclaim_control_pages()
	{
		// Both return silently while the HKID is assigned: "tdx_mmu_release_hkid()
		// failed to reclaim HKID. ... Give up freeing TD pages.  As the function
		// already warned, don't warn it again."  tdx_vm_destroy() still sets
		// TD_STATE_UNINITIALIZED.
		if (hkid_assigned_) {
			state_ = State::uninitialized;
			return false;
		}
		bool ok = true;
		// A page returns to the host allocator only once RECLAIMed;
		// otherwise it is leaked, as the kernel does.
		auto give_back = [&](u64 pa) {
			if (reclaim_page(pa))
				pages_.free_pfn(pa >> spec::PAGE_SHIFT);
			else
				ok = false;
		};
		for (const u64 tdvpr : tdvpr_)
			give_back(tdvpr);
		tdvpr_.clear();
		for (const u64 tdcs : tdcs_)
			give_back(tdcs);
		tdcs_.clear();
		ok = reclaim_tdr() && ok;
		state_ = State::uninitialized;
		return ok;
	}

	// ---- KVM_TDX_TERMINATE_VM (V4, not in v6.19) ----------------------------

	// tdx_terminate_vm(), first half: "if (kvm_trylock_all_vcpus(kvm))
	// return -EBUSY; kvm_vm_dead(kvm); kvm_unlock_all_vcpus(kvm);".  A vCPU
	// inside KVM_RUN holds its mutex, so the trylock fails while one runs;
	// once the VM is dead KVM_RUN returns -EIO (KVM_REQ_VM_DEAD), so no vCPU
	// enters again.  `release_without_dead` skips both.
	constexpr int terminate_vm_kill(bool vcpu_in_kvm_run)
	{
		if (v_.terminate_vm == TdxVariants::TerminateVm::release_without_dead)
			return 0;
		if (vcpu_in_kvm_run)
			return -EBUSY;
		vm_dead_ = true;
		return 0;
	}

	// ... second half: tdx_mmu_release_hkid().  Its tdx_flush_vp_on_cpu()
	// runs TDH.VP.FLUSH on the vCPU's CPU by IPI, which takes a vCPU that is
	// in the guest out of it first (only `release_without_dead` gets here
	// with one inside).
	constexpr bool terminate_vm_release()
	{
		env_.kick_all_vcpus();
		return release_hkid();
	}

	constexpr bool vm_dead() const { return vm_dead_; }

	// Seed 004: kvm_gmem_release() asks whether to defer removal of a
	// guest_memfd's pages to TD_TEARDOWN; the inode is pinned, at most 64.
	constexpr bool gmem_defer_removal()
	{
		if (v_.teardown != TdxVariants::Teardown::deferred_to_teardown || pinned_inodes_ >= TDX_MAX_GMEM_INODES)
			return false;
		pinned_inodes_++;
		return true;
	}
	constexpr unsigned pinned_inodes() const { return pinned_inodes_; }

	// Private pages given back to the host (for the ownership checks).
	constexpr const ReleasedPages& released_pages() const { return released_; }

	// ---- building the TD (tdx_td_init + vCPU creation; not SEAMCALL-exact in
	// the simulated module, see SimModule::build_td) --------------------------
	template <class Build>
	constexpr bool create(unsigned tdcs_pages, unsigned nr_vcpus, u16 hkid, Build&& build)
	{
		const auto tdr = pages_.alloc_pfn();
		if (!tdr)
			return false;
		tdr_pa_ = *tdr << spec::PAGE_SHIFT;
		for (unsigned i = 0; i < tdcs_pages; i++)
			if (const auto p = pages_.alloc_pfn())
				tdcs_.push_back(*p << spec::PAGE_SHIFT);
		for (unsigned i = 0; i < nr_vcpus; i++)
			if (const auto p = pages_.alloc_pfn())
				tdvpr_.push_back(*p << spec::PAGE_SHIFT);
		hkid_ = hkid;
		if (!build(tdr_pa_, hkid, tdcs_, tdvpr_))
			return false;
		hkid_assigned_ = true;
		state_ = State::initialized;
		return true;
	}

private:
	static constexpr const spec::Concrete& d() { return spec::concrete; }
	static constexpr u64 gpa(u64 gfn) { return gfn << spec::PAGE_SHIFT; }
	// pg_level_to_tdx_sept_level()
	static constexpr int tdx_level(unsigned pg_level) { return static_cast<int>(pg_level) - 1; }
	static constexpr u64 page_pa(u64 mirror_spte)
	{
		return spec::spte_to_pfn(d(), spec::ept_v6_19, mirror_spte) << spec::PAGE_SHIFT;
	}
	constexpr bool level_supported(unsigned level) const
	{
		return level == 1 || (v_.private_huge_pages && level == 2);
	}

	// tdx_hook_enter / tdx_hook_exit (docs/trace-format.md): the kprobe and
	// kretprobe of one external-hook call.
	constexpr void hook_enter(const char* hook, u64 gfn, unsigned level, u64 arg)
	{
		log_.add({.kind = EventKind::external_hook, .gfn = gfn, .level = level, .hook_arg = arg, .what = hook});
	}
	constexpr void hook_return(const char* hook, u64 gfn, unsigned level, u64 arg, int ret)
	{
		log_.add({.kind = EventKind::external_hook,
			  .gfn = gfn,
			  .level = level,
			  .hook_arg = arg,
			  .hook_exit = true,
			  .err = ret,
			  .what = hook});
	}

	constexpr bool bug_on(bool cond, const char* what)
	{
		if (warn_on(cond, what))
			bugged_ = true;
		return cond;
	}
	// TDX_BUG_ON(): any non-zero status is a KVM bug.
	constexpr bool tdx_bug_on(u64 err, const char* what) { return bug_on(err != tdx_abi::status::TDX_SUCCESS, what); }

	// WARN_ON(), and TDX_BUG_ON() with a NULL kvm (__TDX_BUG_ON() calls
	// kvm_vm_bugged() only "if (_kvm)"): logged like every WARN, but the VM
	// is not marked bugged.
	constexpr bool warn_on(bool cond, const char* what)
	{
		if (cond)
			log_.add({.kind = EventKind::kvm_bug, .what = what});
		return cond;
	}
	constexpr bool tdx_warn_on(u64 err, const char* what) { return warn_on(err != tdx_abi::status::TDX_SUCCESS, what); }

	// The install-side SEAMCALLs map BUSY to -EBUSY; anything else is a bug.
	constexpr int install_result(u64 err, const char* what, u64 gfn, unsigned level)
	{
		if (err == tdx_abi::status::TDX_SUCCESS)
			return 0;
		if (tdx_abi::tdx_operand_busy(err))
			return -EBUSY;
		bug_on(true, what);
		(void)gfn;
		(void)level;
		return -EIO;
	}

	// tdh_do_no_vcpus(): on BUSY, block TD entry (wait_for_sept_zap), kick
	// every vCPU out of the guest and retry once; "the retry is guaranteed to
	// succeed, absent KVM and/or TDX-Module bugs".
	// tdh_do_no_vcpus() split at its SEAMCALLs: a busy status sets
	// wait_for_sept_zap and kicks the vCPUs, and the retry is the next step.
	// Returns true when the call failed for good (the KVM bug fired, the
	// hook returns).
	template <class Op>
	constexpr bool no_vcpus_step(Op& op, u64 err, std::uint8_t retry_pc, std::uint8_t next_pc, const char* what)
	{
		if (tdx_abi::tdx_operand_busy(err) && v_.busy_kick_retry) {
			wait_for_sept_zap_ = true;
			env_.kick_all_vcpus();
			op.pc = retry_pc;
			return false;
		}
		op.pc = next_pc;
		return tdx_bug_on(err, what);
	}
	template <class Op>
	constexpr bool retried(Op& op, u64 err, std::uint8_t next_pc, const char* what)
	{
		wait_for_sept_zap_ = false;
		op.pc = next_pc;
		return tdx_bug_on(err, what);
	}

	template <class F>
	constexpr u64 do_no_vcpus(F&& f)
	{
		u64 err = f();
		if (tdx_abi::tdx_operand_busy(err) && v_.busy_kick_retry) {
			wait_for_sept_zap_ = true;
			env_.kick_all_vcpus();
			err = f();
			wait_for_sept_zap_ = false;
		}
		return err;
	}

	// tdx_track(): TRACK, then kick every vCPU so that none still runs with
	// the old epoch; nothing to do before the TD is RUNNABLE.
	constexpr void track()
	{
		if (state_ != State::runnable)
			return;
		const u64 err = do_no_vcpus([&] { return hw::tdh_mem_track(m_, tdr_pa_); });
		tdx_bug_on(err, "TDH.MEM.TRACK");
		env_.kick_all_vcpus();
	}

	// tdx_reclaim_page() / __tdx_reclaim_page(): TDH.PHYMEM.PAGE.RECLAIM; the
	// page returns to the host only on success (callers leak it otherwise).
	// A failure is TDX_BUG_ON_3(err, TDH_PHYMEM_PAGE_RECLAIM, .., NULL): a
	// warning, the VM is not bugged.
	constexpr bool reclaim_page(u64 pa)
	{
		u64 pt = 0, owner = 0, size = 0;
		const u64 err = hw::tdh_phymem_page_reclaim(m_, pa, &pt, &owner, &size);
		return !tdx_warn_on(err, "TDH.PHYMEM.PAGE.RECLAIM");
	}

	// The end of tdx_reclaim_td_control_pages(): __tdx_reclaim_page() of the
	// TDR, then tdh_phymem_page_wbinvd_tdr() -- PAGE.WBINVD of the TDR with
	// the global KeyID, because "TDX module may access TDR while operating on
	// TD (Especially when it is reclaiming TDCS)".  Either failure returns
	// before __free_page(): the TDR is leaked (the WBINVD's is
	// TDX_BUG_ON(err, TDH_PHYMEM_PAGE_WBINVD, kvm)).
	constexpr bool reclaim_tdr()
	{
		if (!reclaim_page(tdr_pa_))
			return false;
		const u64 err = hw::tdh_phymem_page_wbinvd_hkid(m_, TDX_GLOBAL_KEYID, tdr_pa_);
		if (tdx_bug_on(err, "TDH.PHYMEM.PAGE.WBINVD"))
			return false;
		pages_.free_pfn(tdr_pa_ >> spec::PAGE_SHIFT);
		return true;
	}

	// smp_func_do_phymem_cache_wb(), on the one package here: CACHE.WB,
	// resumed while TDX_INTERRUPTED_RESUMABLE (TDX_SEAMCALL_RETRIES times);
	// TDX_NO_HKID_READY_TO_WBCACHE is "Already done by other thread".  A
	// failure is TDX_BUG_ON(err, TDH_PHYMEM_CACHE_WB, NULL): only a warning,
	// and tdx_mmu_release_hkid() goes on ("In the case of error in
	// smp_func_do_phymem_cache_wb(), the following tdh_mng_key_freeid() will
	// fail").
	constexpr void phymem_cache_wb()
	{
		u64 err = tdx_abi::status::TDX_SUCCESS;
		for (int i = 0; i < 10000; i++) { // TDX_SEAMCALL_RETRIES
			err = hw::tdh_phymem_cache_wb(m_, err != tdx_abi::status::TDX_SUCCESS);
			if (err != tdx_abi::status::TDX_INTERRUPTED_RESUMABLE)
				break;
		}
		if (err == tdx_abi::status::TDX_NO_HKID_READY_TO_WBCACHE)
			err = tdx_abi::status::TDX_SUCCESS;
		tdx_warn_on(err, "TDH.PHYMEM.CACHE.WB");
	}

	// Seed 004 tdx_sept_teardown_private_spte(): 4K only, RECLAIM then unpin.
	constexpr void teardown_private_spte(unsigned level, u64 pa)
	{
		if (bug_on(level != 1, "tdx_sept_teardown_private_spte: level != PG_LEVEL_4K"))
			return;
		if (reclaim_page(pa))
			released(pa);
	}

	constexpr void released(u64 pa) { released_.add(pa >> spec::PAGE_SHIFT); }

	// Whether the remove hook takes the TD_TEARDOWN path (RECLAIM) instead
	// of BLOCK, TRACK, REMOVE: once the HKID is released -- or, in the
	// known-bad TERMINATE_VM order, as soon as the VM is dead.
	constexpr bool reclaim_in_teardown() const
	{
		if (v_.terminate_vm == TdxVariants::TerminateVm::reclaim_once_dead)
			return vm_dead_ || !hkid_assigned_;
		return !hkid_assigned_;
	}

	B& m_;
	Env& env_;
	HostPages& pages_;
	EventLog& log_;
	TdxVariants v_;
	State state_ = State::uninitialized;
	u64 tdr_pa_ = 0;
	u16 hkid_ = 0;
	bool hkid_assigned_ = false;
	bool wait_for_sept_zap_ = false;
	bool bugged_ = false;
	std::optional<u64> page_add_src_;
	std::vector<u64> tdcs_;
	std::vector<u64> tdvpr_;
	ReleasedPages released_{pages_.base()};
	unsigned pinned_inodes_ = 0;
	bool vm_dead_ = false; // kvm->vm_dead
};

} // namespace arborist::impl
