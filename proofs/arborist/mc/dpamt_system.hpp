// SPDX-License-Identifier: GPL-2.0-only
//
// Dynamic PAMT configurations of the model checker: the kernel's per-2 MiB
// refcounts and pamt_lock (impl/arborist/impl/dpamt.hpp) over the module's
// PAMT page pairs (hw/arborist/hw/dynamic_pamt.hpp), with tasks that give
// 4K pages of one 2 MiB region to TDs and take them back.  The refcount is
// per host physical region, not per TD: pages of different TDs (and S-EPT
// and control pages, which tdx_alloc_page() backs the same way) share it,
// so a fault of one TD races the page removal or teardown of another
// under no common MMU lock.
//
// Tasks (each on its own 4K pages of the region):
//  - map: tdx_pamt_get() of the page, then TDH.MEM.PAGE.AUG (or SEPT.ADD:
//    the same PAMT check), which fails with TDX_MISSING_PAMT_PAGE_PAIR if
//    the region has no pair -- a KVM_BUG_ON in tdx_mem_page_aug()'s caller
//    ("[RFC PATCH v5 22/45] KVM: TDX: Get/put PAMT pages when (un)mapping
//    private memory");
//  - unmap: the page mapped first; TDH.MEM.PAGE.REMOVE, then tdx_pamt_put();
//  - teardown: N pages mapped first (a TD being destroyed);
//    TDH.PHYMEM.PAGE.RECLAIM then tdx_pamt_put() of each, in turn
//    (tdx_reclaim_page()).
//  - convert: kvm_arch_gmem_convert() from private to shared of a range
//    whose head lies inside a 2M private page (its own region): under the
//    per-VM PAMT cache's mutex and the write mmu_lock, the split finds the
//    huge SPTE, drops mmu_lock to allocate and tops the per-VM cache up to
//    one pair, re-takes it, and TDH.MEM.PAGE.DEMOTE takes the pair from the
//    cache ("[RFC PATCH v5 44/45] KVM: x86/mmu: Add support for splitting
//    S-EPT hugepages on conversion").  With the cache empty,
//    tdh_mem_page_demote() cannot draw a pair (alloc_pamt_array() fails)
//    and returns TDX_SW_ERROR without issuing the SEAMCALL; the
//    TDX_BUG_ON_2 in tdx_sept_split_private_spte() fires.
//
// Properties: kvm.no_bug (a WARN, KVM_BUG_ON or pr_err of a SEAMCALL status
// the kernel does not expect), dpamt.reference_without_pair (a task holds a
// reference -- its get returned, or its page is mapped and its put has not
// begun -- while the region has no PAMT pair: "the PAMT page is lost"), and
// dpamt.refcount_balanced (once every task is done the refcount is the
// number of pages in use, and the pair is installed exactly when it is
// nonzero: no PAMT memory leaked).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "arborist/impl/dpamt.hpp"
#include "arborist/mc/checker.hpp"

namespace arborist::mc {

enum class DpamtTask : std::uint8_t { map, unmap, teardown, convert };

inline constexpr std::pair<std::string_view, DpamtTask> dpamt_task_names[] = {
	{"map", DpamtTask::map},
	{"unmap", DpamtTask::unmap},
	{"teardown", DpamtTask::teardown},
	{"convert", DpamtTask::convert},
};

enum class DpamtProperty : std::uint8_t { kvm_no_bug, reference_without_pair, refcount_balanced };
inline constexpr PropertyInfo dpamt_properties[] = {
	{"kvm.no_bug", "no WARN, KVM_BUG_ON or pr_err of a SEAMCALL status the kernel does not expect"},
	{"dpamt.reference_without_pair", "no task holds a PAMT reference while its 2M region has no PAMT page pair"},
	{"dpamt.refcount_balanced",
	 "once every task is done, the refcount is the pages in use and the pair is installed iff it is nonzero"},
};

struct DpamtTaskSpec {
	DpamtTask kind{};
	unsigned pages = 1; // teardown: pages RECLAIMed in turn
	constexpr bool operator==(const DpamtTaskSpec&) const = default;
};

struct DpamtConfig {
	impl::PamtRefcount variant = impl::PamtRefcount::fast_path;
	bool cache_mutex = true; // convert: the per-VM PAMT cache under tdp_mmu_external_cache_lock
	std::vector<DpamtTaskSpec> tasks;
	std::uint32_t properties = ~0u; // bit DpamtProperty: checked
};

struct DpamtThread {
	std::uint8_t phase = 0; // see DpamtSystem::step
	std::uint8_t next_page = 0;
	std::uint8_t conv = 0; // convert: the next action (DpamtSystem::step)
	impl::PamtOp op{};
	constexpr bool operator==(const DpamtThread&) const = default;
};

struct DpamtState {
	impl::PamtKernel k;
	unsigned cache_pages = 0; // the per-VM PAMT cache
	int cache_owner = -1;     // tdp_mmu_external_cache_lock
	bool mmu_writer = false;  // kvm->mmu_lock held for write
	hw::DynamicPamt m{0, 0};
	std::vector<DpamtThread> th;
};

class DpamtSystem {
public:
	using State = DpamtState;

	explicit DpamtSystem(DpamtConfig c);

	State initial() const;
	unsigned thread_count() const { return static_cast<unsigned>(cfg_.tasks.size()); }
	std::string thread_name(unsigned t) const;
	unsigned symmetry_class(unsigned) const { return 0; } // every task owns its pages
	bool done(const State& s, unsigned t) const;
	bool enabled(const State& s, unsigned t) const;
	bool is_local(const State&, unsigned) const { return false; }
	std::optional<Violation> step(State& s, unsigned t, std::string* describe) const;
	std::optional<Violation> check(const State& s) const;
	void encode_shared(const State& s, std::string& out) const;
	void encode_thread(const State& s, unsigned t, std::string& out) const;
	std::string describe_state(const State& s) const;
	std::string dot(const State& s) const;
	const std::vector<std::pair<std::string, std::string>>& last_seamcalls() const { return last_calls_; }

	static constexpr std::uint64_t BASE_PFN = 0x100000;  // the 2M region the tasks share
	static constexpr std::uint64_t POOL_PFN = 0x300000;  // host pages tdx_alloc_pamt_pages() hands out

private:
	std::uint64_t page_pa(unsigned t, unsigned i) const;
	bool holds_reference(const State& s, unsigned t) const;
	std::string convert_step(State& s, unsigned t, impl::PamtEnv& e, std::string& leaf) const;
	bool checks(DpamtProperty p) const { return cfg_.properties >> static_cast<unsigned>(p) & 1; }
	Violation violation(DpamtProperty p, std::string detail) const
	{
		return {std::string(dpamt_properties[static_cast<unsigned>(p)].name), std::move(detail)};
	}

	DpamtConfig cfg_;
	std::vector<unsigned> first_page_; // each task's first page index in the region
	std::vector<unsigned> region_;     // each task's region (convert: its own 2M page)
	mutable std::vector<std::pair<std::string, std::string>> last_calls_;
};

static_assert(System<DpamtSystem>);

} // namespace arborist::mc
