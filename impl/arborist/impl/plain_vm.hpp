// SPDX-License-Identifier: GPL-2.0-only
//
// A VM without TDX as KVM runs one on EPT (v6.19) or NPT (v6.1): one vCPU
// with a direct root on the TDP MMU, no external page tables, and host
// memory mapped at a fixed offset.  It offers the operations of TdVm
// (td_vm.hpp) that a VM without a TDX module has -- faults, MMU-notifier
// invalidation, the vCPU's roots, the KVM bugs it hit -- under the same
// names, so a driver written against one runs against the other; what
// only a TD has (finalize, TD entry and exit, guest_memfd, the module)
// it does not pretend to have.
#pragma once

#include <optional>

#include "arborist/impl/hooks.hpp"
#include "arborist/impl/tdp_mmu.hpp"

namespace arborist::impl {

struct PlainVmOptions {
	spec::SpteFlavor flavor = spec::ept_v6_19;
	spec::Paging paging = spec::x86_paging_4level;
	Variants variants{};
	u64 resched_every = 0;
};

class PlainVm {
public:
	static constexpr bool is_td = false;
	using Hooks = NoExternalHooks;

	// The host frame backing GFN 0: a fault maps gfn to gfn + HOST_PFN_OFFSET.
	static constexpr u64 HOST_PFN_OFFSET = 0x10000;

	explicit PlainVm(const PlainVmOptions& o) : opt_(o), mmu_(mmu_config(o), hooks_) {}
	// The TDP MMU holds a reference to hooks_: a copy would share it.
	PlainVm(const PlainVm&) = delete;
	PlainVm& operator=(const PlainVm&) = delete;

	// A fault on `gpa` from the vCPU (there is one; `vcpu` is for TdVm's
	// signature).  The pfn is fault.pfn after kvm_mmu_hugepage_adjust():
	// `pfn` or the host frame of the GFN, aligned to the level.
	int fault(unsigned vcpu, u64 gpa, unsigned level = 1, bool write = true, std::optional<u64> pfn = std::nullopt)
	{
		PageFault pf;
		pf.addr = gpa;
		pf.goal_level = level;
		pf.write = write;
		const u64 gfn = gpa >> spec::PAGE_SHIFT;
		pf.pfn = pfn.value_or(gfn + HOST_PFN_OFFSET) & ~(pages_per_level(level) - 1);
		return mmu_.page_fault(roots(vcpu), pf);
	}

	// An MMU-notifier invalidation of [start, end) GFNs.
	bool unmap(u64 start, u64 end, bool private_range, bool shared_range)
	{
		return mmu_.unmap_gfn_range(start, end, mmu_.filter_to_root_types(private_range, shared_range), true, false);
	}

	// VM destruction: kvm_mmu_unload() of the vCPU, then
	// kvm_mmu_uninit_tdp_mmu().
	void teardown()
	{
		mmu_.unload_roots(vcpu_);
		mmu_.uninit();
	}

	// KVM_BUG_ON()s the MMU logged, and one for a hook of external page
	// tables called on this VM, which has none.
	u64 kvm_bugs() const { return mmu_.log().count(EventKind::kvm_bug) + (hooks_.vm_bugged() ? 1 : 0); }
	bool hooks_bugged() const { return hooks_.vm_bugged(); }

	TdpMmu<NoExternalHooks>& mmu() { return mmu_; }
	const TdpMmu<NoExternalHooks>& mmu() const { return mmu_; }
	VcpuRoots& roots(unsigned) { return vcpu_; }
	const VcpuRoots& roots(unsigned) const { return vcpu_; }
	unsigned nr_vcpus() const { return 1; }
	const PlainVmOptions& options() const { return opt_; }

private:
	static Config mmu_config(const PlainVmOptions& o)
	{
		Config c;
		c.flavor = o.flavor;
		c.paging = o.paging;
		c.variants = o.variants;
		c.resched_every = o.resched_every;
		return c;
	}
	u64 pages_per_level(unsigned level) const { return u64{1} << (opt_.paging.level_bits * (level - 1)); }

	PlainVmOptions opt_;
	NoExternalHooks hooks_;
	TdpMmu<NoExternalHooks> mmu_;
	VcpuRoots vcpu_;
};

} // namespace arborist::impl
