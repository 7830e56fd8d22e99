// SPDX-License-Identifier: GPL-2.0-only
//
// The Dynamic PAMT configurations of the model checker
// (proofs/arborist/mc/dpamt_system.hpp).
#include <algorithm>
#include <cstdio>

#include "arborist/abi/tdx.hpp"
#include "arborist/mc/dpamt_system.hpp"

namespace arborist::mc {

namespace {

using tdx_abi::Leaf;
using u64 = std::uint64_t;

enum : std::uint8_t { FIRST, SECOND, FINISHED }; // the phases of a task
// convert's actions, in order.
enum : std::uint8_t { C_MUTEX, C_LOCK, C_DROP, C_TOPUP, C_RELOCK, C_DEMOTE, C_UNLOCK };

constexpr u64 REGION_PA = DpamtSystem::BASE_PFN << 12;

} // namespace

DpamtSystem::DpamtSystem(DpamtConfig c) : cfg_(std::move(c))
{
	unsigned next = 0, regions = 1;
	for (const DpamtTaskSpec& k : cfg_.tasks) {
		first_page_.push_back(next);
		region_.push_back(k.kind == DpamtTask::convert ? regions++ : 0);
		next += k.kind == DpamtTask::teardown ? k.pages : k.kind == DpamtTask::convert ? 0 : 1;
	}
}

u64 DpamtSystem::page_pa(unsigned t, unsigned i) const
{
	return (BASE_PFN + 1 + first_page_[t] + i) << 12;
}

// The pages of unmap and teardown tasks are mapped before the tasks start,
// with one reference each and the region's pair installed.
DpamtState DpamtSystem::initial() const
{
	State s;
	unsigned regions = 1;
	for (const DpamtTaskSpec& k : cfg_.tasks)
		regions += k.kind == DpamtTask::convert;
	s.m = hw::DynamicPamt(BASE_PFN, regions);
	s.k.refcount.assign(1, 0);
	unsigned mapped = 0;
	for (unsigned t = 0; t < thread_count(); t++)
		if (cfg_.tasks[t].kind == DpamtTask::unmap || cfg_.tasks[t].kind == DpamtTask::teardown)
			mapped += cfg_.tasks[t].kind == DpamtTask::teardown ? cfg_.tasks[t].pages : 1;
	if (mapped)
		s.m.pamt_add(REGION_PA | 1, POOL_PFN << 12, (POOL_PFN + 1) << 12);
	for (unsigned t = 0; t < thread_count(); t++) {
		DpamtThread th;
		th.op.region = 0;
		th.op.region_pa = REGION_PA;
		th.op.pair0 = (POOL_PFN + 2 + 2 * t) << 12;
		th.op.pair1 = (POOL_PFN + 3 + 2 * t) << 12;
		if (cfg_.tasks[t].kind == DpamtTask::unmap || cfg_.tasks[t].kind == DpamtTask::teardown) {
			const unsigned n = cfg_.tasks[t].kind == DpamtTask::teardown ? cfg_.tasks[t].pages : 1;
			for (unsigned i = 0; i < n; i++)
				s.m.assign_4k(page_pa(t, i), tdx_abi::operand::R8);
			th.op.put = true;
		}
		s.th.push_back(th);
	}
	s.k.refcount[0] = static_cast<int>(mapped);
	return s;
}

std::string DpamtSystem::thread_name(unsigned t) const
{
	switch (cfg_.tasks[t].kind) {
	case DpamtTask::map: return "map" + std::to_string(t);
	case DpamtTask::unmap: return "unmap" + std::to_string(t);
	case DpamtTask::teardown: return "teardown" + std::to_string(t);
	case DpamtTask::convert: return "convert" + std::to_string(t);
	}
	return "?";
}

bool DpamtSystem::done(const State& s, unsigned t) const { return s.th[t].phase == FINISHED; }

bool DpamtSystem::enabled(const State& s, unsigned t) const
{
	const DpamtThread& th = s.th[t];
	if (th.phase == FINISHED)
		return false;
	if (cfg_.tasks[t].kind == DpamtTask::convert) {
		if (th.conv == C_MUTEX)
			return !cfg_.cache_mutex || s.cache_owner < 0;
		return (th.conv != C_LOCK && th.conv != C_RELOCK) || !s.mmu_writer;
	}
	// The get is map's first phase, the put the others' second.
	const bool in_op = cfg_.tasks[t].kind == DpamtTask::map ? th.phase == FIRST : th.phase == SECOND;
	return !in_op || th.op.enabled(s.k, cfg_.variant);
}

std::optional<Violation> DpamtSystem::step(State& s, unsigned t, std::string* d) const
{
	DpamtThread& th = s.th[t];
	impl::PamtEnv e{s.k, s.m, cfg_.variant, static_cast<int>(t)};
	std::string what;
	std::string leaf;
	auto page_leaf = [&](tdx_abi::Leaf l, u64 st, const char* failure) {
		e.seamcall = true;
		e.last_status = st;
		leaf = tdx_abi::leaf_name(l);
		if (st != tdx_abi::status::TDX_SUCCESS)
			s.k.fail(failure);
	};
	auto op_step = [&](const char* fn) {
		what = std::string(fn) + ": " + th.op.step(e);
		if (e.seamcall)
			leaf = tdx_abi::leaf_name(th.op.put ? Leaf::TDH_PHYMEM_PAMT_REMOVE : Leaf::TDH_PHYMEM_PAMT_ADD);
	};
	const unsigned pages = cfg_.tasks[t].kind == DpamtTask::teardown ? cfg_.tasks[t].pages : 1;
	switch (cfg_.tasks[t].kind) {
	case DpamtTask::map:
		if (th.phase == FIRST) {
			op_step("tdx_pamt_get");
			if (th.op.pc == impl::PamtOp::DONE) {
				th.phase = th.op.ret ? FINISHED : SECOND; // a failed get fails the fault
				what += th.op.ret ? ", returns -EIO" : ", returns 0";
			}
		} else {
			page_leaf(Leaf::TDH_MEM_PAGE_AUG, s.m.assign_4k(page_pa(t, 0), tdx_abi::operand::R8),
				  "tdx_mem_page_aug: TDH.MEM.PAGE.AUG failed (KVM_BUG_ON)");
			what = "tdx_sept_set_private_spte: tdh_mem_page_aug";
			th.phase = FINISHED;
		}
		break;
	case DpamtTask::convert:
		what = convert_step(s, t, e, leaf);
		break;
	case DpamtTask::unmap:
	case DpamtTask::teardown: {
		const bool teardown = cfg_.tasks[t].kind == DpamtTask::teardown;
		if (th.phase == FIRST) {
			if (teardown)
				page_leaf(Leaf::TDH_PHYMEM_PAGE_RECLAIM, s.m.release_4k(page_pa(t, th.next_page), tdx_abi::operand::RCX),
					  "tdx_reclaim_page: TDH.PHYMEM.PAGE.RECLAIM failed (WARN)");
			else
				page_leaf(Leaf::TDH_MEM_PAGE_REMOVE, s.m.release_4k(page_pa(t, 0), tdx_abi::operand::RCX),
					  "tdx_sept_remove_private_spte: TDH.MEM.PAGE.REMOVE failed (KVM_BUG_ON)");
			what = teardown ? "tdx_reclaim_page: tdh_phymem_page_reclaim of page " + std::to_string(th.next_page)
					: "tdx_sept_remove_private_spte: tdh_mem_page_remove";
			th.phase = SECOND;
			th.op.pc = impl::PamtOp::START;
			th.op.ret = 0;
		} else {
			op_step("tdx_pamt_put");
			if (th.op.pc == impl::PamtOp::DONE) {
				th.next_page++;
				th.phase = th.next_page < pages ? FIRST : FINISHED;
			}
		}
		break;
	}
	}
	if (d) {
		last_calls_.clear();
		if (e.seamcall) {
			last_calls_.push_back({leaf, tdx_abi::status_text(e.last_status)});
			what += "; SEAMCALL " + leaf + " -> " + tdx_abi::status_text(e.last_status);
		}
		*d = what;
		if (cfg_.tasks[t].kind != DpamtTask::convert)
			*d += "; pamt_refcount " + std::to_string(s.k.refcount[0]);
	}
	return std::nullopt;
}

// One action of kvm_arch_gmem_convert()'s split of its 2M page.
std::string DpamtSystem::convert_step(State& s, unsigned t, impl::PamtEnv& e, std::string& leaf) const
{
	DpamtThread& th = s.th[t];
	switch (th.conv++) {
	case C_MUTEX:
		if (cfg_.cache_mutex)
			s.cache_owner = static_cast<int>(t);
		return cfg_.cache_mutex ? "kvm_arch_gmem_convert: mutex_lock(&tdp_mmu_external_cache_lock)"
					: "kvm_arch_gmem_convert (the per-VM PAMT cache unguarded)";
	case C_LOCK: s.mmu_writer = true; return "write_lock(mmu_lock)";
	case C_DROP:
		s.mmu_writer = false;
		return "tdp_mmu_split_huge_pages_root: huge SPTE found, write_unlock(mmu_lock) to allocate";
	case C_TOPUP: {
		// tdx_topup_external_pamt_cache(kvm, NULL, 1): the per-VM cache.
		const unsigned had = s.cache_pages;
		s.cache_pages = std::max(s.cache_pages, 2u);
		return "tdp_mmu_alloc_sp_for_split: topup_external_cache: per-VM PAMT cache " + std::to_string(had) +
		       " -> " + std::to_string(s.cache_pages) + " pages";
	}
	case C_RELOCK: s.mmu_writer = true; return "write_lock(mmu_lock)";
	case C_DEMOTE: {
		// tdh_mem_page_demote() draws the pair with alloc_pamt_array(pa,
		// pamt_cache): tdx_alloc_page_pamt_cache() takes list_first_entry_or_null()
		// of the cache, so an empty cache fails the allocation and the wrapper
		// returns TDX_SW_ERROR without issuing the SEAMCALL ("if
		// (alloc_pamt_array(pamt_pa_array, pamt_cache)) return TDX_SW_ERROR;",
		// RFC v5 "x86/virt/tdx: Add API to demote a 2MB mapping to 512 4KB
		// mappings"; the same in Yan Zhao's v3 22/24).  tdh_do_no_vcpus()
		// retries only BUSY, so TDX_BUG_ON_2(err, TDH_MEM_PAGE_DEMOTE, ...)
		// in tdx_sept_split_private_spte() fires.
		if (s.cache_pages < 2) {
			e.last_status = tdx_abi::status::TDX_SW_ERROR;
			s.k.fail("tdx_sept_split_private_spte: tdh_mem_page_demote() returned TDX_SW_ERROR (TDX_BUG_ON_2)");
			return "tdx_sept_split_private_spte: tdh_mem_page_demote: the per-VM PAMT cache is empty, "
			       "alloc_pamt_array() fails: TDX_SW_ERROR, no SEAMCALL";
		}
		s.cache_pages -= 2;
		const u64 p0 = (POOL_PFN + 0x100 + 2 * t) << 12;
		const u64 p1 = (POOL_PFN + 0x101 + 2 * t) << 12;
		e.seamcall = true;
		e.last_status = s.m.demote_2m(s.m.region_pa(region_[t]), p0, p1);
		leaf = tdx_abi::leaf_name(Leaf::TDH_MEM_PAGE_DEMOTE);
		if (e.last_status != tdx_abi::status::TDX_SUCCESS)
			s.k.fail("tdx_sept_split_private_spte: TDH.MEM.PAGE.DEMOTE failed (TDX_BUG_ON_2)");
		return "tdx_sept_split_private_spte: tdh_mem_page_demote with a PAMT pair from the per-VM cache";
	}
	default:
		s.mmu_writer = false;
		if (cfg_.cache_mutex)
			s.cache_owner = -1;
		th.phase = FINISHED;
		return cfg_.cache_mutex ? "write_unlock(mmu_lock); mutex_unlock(&tdp_mmu_external_cache_lock)"
					: "write_unlock(mmu_lock)";
	}
}

bool DpamtSystem::holds_reference(const State& s, unsigned t) const
{
	const DpamtThread& th = s.th[t];
	switch (cfg_.tasks[t].kind) {
	case DpamtTask::convert: return false; // its region's pages are the TD's 2M page's, not refcounted here
	case DpamtTask::map: return th.phase != FIRST && th.op.ret == 0;
	case DpamtTask::unmap:
	case DpamtTask::teardown: {
		// Pages whose put has not begun.
		const unsigned pages = cfg_.tasks[t].kind == DpamtTask::teardown ? cfg_.tasks[t].pages : 1;
		const bool current_put_begun = th.phase == SECOND && th.op.pc != impl::PamtOp::START;
		return th.phase != FINISHED && pages - th.next_page - (current_put_begun ? 1u : 0u) > 0;
	}
	}
	return false;
}

std::optional<Violation> DpamtSystem::check(const State& s) const
{
	if (checks(DpamtProperty::kvm_no_bug) && s.k.failure)
		return violation(DpamtProperty::kvm_no_bug, s.k.failure);
	if (checks(DpamtProperty::reference_without_pair) && !s.m.has_pair(REGION_PA))
		for (unsigned t = 0; t < thread_count(); t++)
			if (holds_reference(s, t))
				return violation(DpamtProperty::reference_without_pair,
						 thread_name(t) + " holds a PAMT reference on the 2M region at " + support::hex(REGION_PA) +
							 " (refcount " + std::to_string(s.k.refcount[0]) +
							 ") but the module has no PAMT page pair for it");
	if (checks(DpamtProperty::refcount_balanced)) {
		for (unsigned t = 0; t < thread_count(); t++)
			if (!done(s, t))
				return std::nullopt;
		const int ref = s.k.refcount[0];
		const unsigned used = s.m.used_pages(REGION_PA);
		const bool pair = s.m.has_pair(REGION_PA);
		if (ref != static_cast<int>(used) || pair != (ref > 0))
			return violation(DpamtProperty::refcount_balanced,
					 "every task done: refcount " + std::to_string(ref) + ", " + std::to_string(used) +
						 " pages in use, PAMT pair " + (pair ? "installed" : "absent"));
	}
	return std::nullopt;
}

void DpamtSystem::encode_shared(const State& s, std::string& out) const
{
	for (int r : s.k.refcount)
		put_key(out, static_cast<u64>(r + 64));
	put_key(out, static_cast<u64>(s.k.lock_owner + 1));
	put_key(out, s.cache_pages | static_cast<u64>(s.cache_owner + 1) << 4 | u64{s.mmu_writer} << 8);
	put_key(out, s.k.failure != nullptr);
	s.m.encode([&](u64 v) { put_key(out, v); });
}

void DpamtSystem::encode_thread(const State& s, unsigned t, std::string& out) const
{
	const DpamtThread& th = s.th[t];
	put_key(out, th.phase | th.next_page << 2 | th.conv << 4);
	put_key(out, th.op.pc);
	put_key(out, static_cast<u64>(th.op.ret + 8));
}

std::string DpamtSystem::describe_state(const State& s) const
{
	std::string r = "pamt_refcount of the 2M region at " + support::hex(REGION_PA) + ": " + std::to_string(s.k.refcount[0]) +
			"\npamt_lock: " + (s.k.lock_owner < 0 ? "free" : "held by " + thread_name(s.k.lock_owner)) +
			"\nPAMT page pair: " + (s.m.has_pair(REGION_PA) ? "installed" : "absent") + ", " +
			std::to_string(s.m.used_pages(REGION_PA)) + " 4K pages in use\n";
	for (unsigned t = 0; t < thread_count(); t++)
		if (cfg_.tasks[t].kind == DpamtTask::convert)
			r += thread_name(t) + "'s 2M page at " + support::hex(s.m.region_pa(region_[t])) + ": PAMT pair " +
			     (s.m.has_pair(s.m.region_pa(region_[t])) ? "installed (split)" : "absent") + "\n";
	if (s.m.regions() > 1)
		r += "per-VM PAMT cache: " + std::to_string(s.cache_pages) + " pages\n";
	if (s.k.failure)
		r += std::string("first failure: ") + s.k.failure + "\n";
	for (unsigned t = 0; t < thread_count(); t++)
		r += "  " + thread_name(t) + ": phase " + std::to_string(s.th[t].phase) + ", step " +
		     std::to_string(cfg_.tasks[t].kind == DpamtTask::convert ? s.th[t].conv : s.th[t].op.pc) +
		     (holds_reference(s, t) ? ", holds a reference" : "") + "\n";
	return r;
}

std::string DpamtSystem::dot(const State& s) const
{
	return "digraph dpamt {\n  node [shape=box, fontname=monospace];\n  region [label=\"2M region " + support::hex(REGION_PA) +
	       "\\nrefcount " + std::to_string(s.k.refcount[0]) + "\\nPAMT pair " +
	       (s.m.has_pair(REGION_PA) ? "installed" : "absent") + "\"];\n}\n";
}

} // namespace arborist::mc
