// SPDX-License-Identifier: GPL-2.0-only
//
// A whole TDX VM as KVM v6.19 runs one: the TDP MMU with a mirror and a
// direct root, KVM's TDX glue, guest_memfd for private memory, vCPUs, and
// the simulated TDX module underneath.  It strings together the kernel's
// entry points in the kernel's order: KVM_TDX_INIT_VM and vCPU creation,
// KVM_TDX_INIT_MEM_REGION (PAGE.ADD), KVM_TDX_FINALIZE_VM, EPT-violation
// faults, MMU-notifier/guest_memfd invalidation, and VM destruction
// (Linux v6.19 arch/x86/kvm/vmx/tdx.c, the full teardown order).
#pragma once

#include <array>
#include <optional>
#include <unordered_map>
#include <vector>

#include "arborist/hw/sim_module.hpp"
#include "arborist/impl/tdp_mmu.hpp"
#include "arborist/impl/tdx.hpp"

namespace arborist::impl {

// kvm_make_all_cpus_request(KVM_REQ_OUTSIDE_GUEST_MODE) on the simulated
// module: every vCPU inside the guest exits.  Counted: the calls, the
// requests they set (kvm_make_vcpu_request() on every vCPU) and the IPIs
// they send (kvm_request_needs_ipi(): only to a vCPU in guest mode).
struct SimVcpuEnv {
	hw::SimModule* module;
	u64 kicks = 0;
	u64 requests = 0;
	u64 ipis = 0;
	constexpr void kick_all_vcpus()
	{
		kicks++;
		requests += module->num_vcpus();
		for (std::size_t i = 0; i < module->num_vcpus(); i++)
			if (module->vcpu(i).in_guest) {
				ipis++;
				module->td_exit(i);
			}
	}
};

using SimTdx = KvmTdx<hw::SimModule, SimVcpuEnv>;

// KVM_TDX_INIT_VM and vCPU creation on the simulated module (its TD
// construction helpers are not SEAMCALL-exact; see SimModule::create_td).
constexpr auto sim_td_builder(hw::SimModule& module)
{
	return [&module](u64 tdr, u16 hkid, const std::vector<u64>& tdcs, const std::vector<u64>& tdvpr) {
		if (!module.create_td(tdr, hkid) || !module.key_config())
			return false;
		for (const u64 pa : tdcs)
			if (!module.add_tdcs_page(pa))
				return false;
		if (!module.mng_init())
			return false;
		for (const u64 pa : tdvpr)
			if (!module.add_vcpu(pa))
				return false;
		return true;
	};
}

// The TDP MMU configuration of a TD (EPT v6.19 flavour, shared bit).
constexpr Config td_mmu_config(const spec::TdGeometry& g, const Variants& v = {}, bool huge = false)
{
	Config c;
	c.flavor = spec::ept_v6_19;
	c.paging = g.pwl == 5 ? spec::x86_paging_5level : spec::x86_paging_4level;
	c.is_td = true;
	c.td = g;
	c.variants = v;
	c.private_huge_pages = huge;
	// KVM's own page tables are host memory, not TDX memory: keep their
	// frame numbers apart from the TDMR so traces are unambiguous.
	c.pt_base_pfn = 0x4000000;
	return c;
}

struct TdVmOptions {
	spec::TdGeometry geometry = spec::td_pwl4;
	u64 tdmr_base_pfn = 0x100000; // frames the module manages (TDX memory)
	u64 tdmr_pages = 1 << 16;
	u64 shared_base_pfn = 0x10000; // host frames backing shared memory
	unsigned nr_vcpus = 1;
	Variants variants{};
	TdxVariants tdx_variants{};
	u64 resched_every = 0;
	bool log_events = true;
};

// guest_memfd: the private page of each GFN, allocated on first fault
// (kvm_gmem_get_pfn) and kept until the file is released.  Kept like the
// page cache's xarray, in runs of 512 indices: 8 bytes per page instead of
// a hash node per page.
class Gmem {
public:
	// The page backing `gfn` at `level` (a 2M folio is 512 aligned frames).
	std::optional<u64> get_pfn(u64 gfn, unsigned level, HostPages& pages)
	{
		if (const u64 pfn = lookup(gfn); pfn != NONE)
			return pfn;
		const u64 n = level == 2 ? 512 : 1;
		const auto pfn = pages.alloc_run(n, n);
		if (pfn)
			for (u64 i = 0; i < n; i++)
				slot(gfn + i) = *pfn + i;
		count_ += pfn ? n : 0;
		return pfn;
	}
	// Pages the file holds.
	u64 size() const { return count_; }
	// The file is closed: its pages go back to the host allocator.
	void release(HostPages& pages)
	{
		for (const auto& [index, run] : runs_)
			for (const u64 pfn : run)
				if (pfn != NONE)
					pages.free_pfn(pfn);
		runs_.clear();
		count_ = 0;
	}

private:
	static constexpr u64 NONE = ~u64{0};
	static constexpr u64 RUN = 512;
	using Run = std::array<u64, RUN>;
	u64 lookup(u64 gfn) const
	{
		const auto it = runs_.find(gfn / RUN);
		return it == runs_.end() ? NONE : it->second[gfn % RUN];
	}
	u64& slot(u64 gfn)
	{
		auto [it, fresh] = runs_.try_emplace(gfn / RUN);
		if (fresh)
			it->second.fill(NONE);
		return it->second[gfn % RUN];
	}
	std::unordered_map<u64, Run> runs_;
	u64 count_ = 0;
};

class TdVm {
public:
	static constexpr bool is_td = true;
	using Hooks = SimTdx;

	explicit TdVm(const TdVmOptions& o)
		: opt_(o), module_(o.geometry, o.tdmr_base_pfn, o.tdmr_pages), pages_(o.tdmr_base_pfn, o.tdmr_pages),
		  env_{&module_}, tdx_(module_, env_, pages_, log_, o.tdx_variants), mmu_(mmu_config(o), tdx_),
		  roots_(o.nr_vcpus)
	{
		log_.enabled = o.log_events;
		mmu_.log().enabled = o.log_events;
	}
	// A deep copy: the copy's KVM glue and TDP MMU are bound to the copy's
	// module, allocator and log.  The model checker copies a VM per state.
	TdVm(const TdVm& o)
		: opt_(o.opt_), module_(o.module_), pages_(o.pages_), env_{&module_}, log_(o.log_),
		  tdx_(o.tdx_, module_, env_, pages_, log_), mmu_(o.mmu_, tdx_), roots_(o.roots_), gmem_(o.gmem_)
	{
	}
	TdVm& operator=(const TdVm&) = delete;

	// KVM_TDX_INIT_VM + KVM_CREATE_VCPU/KVM_TDX_INIT_VCPU.
	bool create() { return tdx_.create(hw::sim::MIN_NUM_TDCS_PAGES, opt_.nr_vcpus, 1, sim_td_builder(module_)); }

	// A fault on `gpa` from vCPU `vcpu`: private (mirror root, guest_memfd
	// page) unless the GPA carries the shared bit.  Before finalize, a
	// private fault is KVM_TDX_INIT_MEM_REGION's prefault (PAGE.ADD from a
	// source page).  Retries -EBUSY/RET_PF_RETRY a few times like the
	// EPT-violation loop does.
	int fault(unsigned vcpu, u64 gpa, unsigned level = 1, bool write = true)
	{
		const std::optional<PageFault> resolved = resolve_fault(gpa, level, write);
		if (!resolved)
			return RET_PF_RETRY;
		const PageFault f = *resolved;
		tdx_.set_page_add_src(tdx_.state() == SimTdx::State::runnable
					      ? std::nullopt
					      : std::optional<u64>{source_page_pa()});
		int r = RET_PF_RETRY;
		for (int tries = 0; tries < 8 && r == RET_PF_RETRY; tries++)
			r = mmu_.page_fault(roots_[vcpu], f);
		tdx_.set_page_add_src(std::nullopt);
		return r;
	}

	// kvm_mmu_do_page_fault()'s inputs for a fault on gpa: the pfn from
	// guest_memfd (private) or the host mapping (shared).
	std::optional<PageFault> resolve_fault(u64 gpa, unsigned level = 1, bool write = true)
	{
		PageFault f;
		f.addr = gpa;
		f.goal_level = level;
		f.write = write;
		const u64 gfn = mmu_.fault_gfn(f);
		if (spec::fault_uses_mirror_root(spec::concrete, opt_.geometry, gpa)) {
			const auto pfn = gmem_.get_pfn(gfn & ~(pages_per_level(level) - 1), level, pages_);
			if (!pfn)
				return std::nullopt;
			f.pfn = *pfn;
		} else {
			// kvm_mmu_hugepage_adjust(): a huge mapping maps the huge
			// page's head, "fault->pfn &= ~mask" (as the plain VM does).
			f.pfn = (opt_.shared_base_pfn + gfn) & ~(pages_per_level(level) - 1);
		}
		return f;
	}

	bool finalize() { return tdx_.finalize(); }

	// TDH.VP.ENTER / TD exit of a vCPU (tdx_vcpu_run refuses entry while
	// wait_for_sept_zap is set).
	u64 enter(unsigned vcpu)
	{
		if (vcpu >= tdx_.vcpus().size())
			return tdx_abi::status::TDX_OPERAND_INVALID; // no such vCPU (or the TD is gone)
		if (tdx_.wait_for_sept_zap())
			return tdx_abi::status::TDX_SUCCESS;
		hw::TdxModuleArgs a{};
		return hw::tdh_vp_enter(module_, tdx_.vcpus()[vcpu], &a);
	}
	bool exit(unsigned vcpu) { return vcpu < module_.num_vcpus() && module_.td_exit(vcpu); }

	// An MMU-notifier / guest_memfd invalidation of [start, end) GFNs.
	bool unmap(u64 start, u64 end, bool private_range, bool shared_range)
	{
		return mmu_.unmap_gfn_range(start, end, mmu_.filter_to_root_types(private_range, shared_range), true, false);
	}

	// kvm_gmem_release(): invalidate every private GFN; seed 004 pins the
	// inode instead (while fewer than 64 are pinned).
	void gmem_release()
	{
		if (!tdx_.gmem_defer_removal())
			unmap(0, gfn_limit(), true, false);
		mmu_.rcu_barrier();
	}

	// VM destruction: guest_memfd release, tdx_mmu_release_hkid (pre-destroy),
	// vCPU MMU unload, kvm_mmu_uninit_tdp_mmu (zap mirror roots: S-EPT pages
	// RECLAIMed), tdx_vm_destroy (control pages).
	bool destroy()
	{
		for (std::size_t i = 0; i < module_.num_vcpus(); i++)
			if (module_.vcpu(i).in_guest)
				module_.td_exit(i);
		gmem_release();
		const bool released = tdx_.release_hkid();
		for (auto& r : roots_)
			mmu_.unload_roots(r);
		mmu_.uninit();
		const bool reclaimed = tdx_.reclaim_control_pages();
		gmem_free_folios();
		return released && reclaimed;
	}

	// The guest_memfd inode is evicted: its folios go back to the host.  With
	// seed 004's pinning this waits for the TD's teardown (the unpin).
	void gmem_free_folios() { gmem_.release(pages_); }

	hw::SimModule& module() { return module_; }
	const hw::SimModule& module() const { return module_; }
	SimTdx& tdx() { return tdx_; }
	const SimTdx& tdx() const { return tdx_; }
	TdpMmu<SimTdx>& mmu() { return mmu_; }
	const TdpMmu<SimTdx>& mmu() const { return mmu_; }
	VcpuRoots& roots(unsigned vcpu) { return roots_[vcpu]; }
	const VcpuRoots& roots(unsigned vcpu) const { return roots_[vcpu]; }
	const SimVcpuEnv& vcpu_env() const { return env_; }
	HostPages& pages() { return pages_; }
	const HostPages& pages() const { return pages_; }
	const Gmem& gmem() const { return gmem_; }
	EventLog& tdx_log() { return log_; }
	const EventLog& tdx_log() const { return log_; }
	const TdVmOptions& options() const { return opt_; }
	unsigned nr_vcpus() const { return opt_.nr_vcpus; }
	// KVM_BUG_ON()s in the TDP MMU and in KVM's TDX glue.
	u64 kvm_bugs() const { return mmu_.log().count(EventKind::kvm_bug) + log_.count(EventKind::kvm_bug); }
	u64 shared_bit_gpa() const { return u64{1} << opt_.geometry.shared_gpa_bit(); }

private:
	static Config mmu_config(const TdVmOptions& o)
	{
		Config c = td_mmu_config(o.geometry, o.variants, o.tdx_variants.private_huge_pages);
		c.resched_every = o.resched_every;
		return c;
	}
	static constexpr u64 pages_per_level(unsigned level) { return u64{1} << (9 * (level - 1)); }
	// Private GFNs lie below the shared bit.
	u64 gfn_limit() const { return spec::gfn_direct_bits(spec::concrete, opt_.geometry); }
	// A shared (KeyID 0) page outside the TDMR as PAGE.ADD's source.
	u64 source_page_pa() const { return opt_.shared_base_pfn << spec::PAGE_SHIFT; }

	TdVmOptions opt_;
	hw::SimModule module_;
	HostPages pages_;
	SimVcpuEnv env_;
	EventLog log_;
	SimTdx tdx_;
	TdpMmu<SimTdx> mmu_;
	std::vector<VcpuRoots> roots_;
	Gmem gmem_;
};

} // namespace arborist::impl
