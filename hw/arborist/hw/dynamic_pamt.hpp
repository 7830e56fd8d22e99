// SPDX-License-Identifier: GPL-2.0-only
//
// Dynamic PAMT in the TDX module: the 4K level of the PAMT is no longer
// allocated when the module initializes; the host gives it, per 2 MiB
// region, as a pair of pages with TDH.PHYMEM.PAMT.ADD and takes it back with
// TDH.PHYMEM.PAMT.REMOVE.  A leaf that gives a 4K page to a TD (PAGE.ADD,
// PAGE.AUG, SEPT.ADD, MNG.ADDCX, VP.ADDCX, ...) fails with
// TDX_MISSING_PAMT_PAGE_PAIR while the page's region has no pair.
//
// Not in TDX module 1.5 (which arborist's SimModule follows) nor in Linux
// v6.19.  The public 1.5.01 source has neither leaf; the behaviour here is
// the intel/tdx-module 2.0 tree's (commit a56a9173):
//  - src/vmm_dispatcher/api_calls/tdh_phymem_pamt_add.c: the region's 2M
//    PAMT node must be PT_NDA ("PAMT already in use" ->
//    TDX_HPA_RANGE_NOT_FREE|RCX), each page of the pair not already a PAMT
//    page (TDX_PAGE_NOT_FREE|RDX, |R8); the node becomes PT_PAMT;
//  - src/vmm_dispatcher/api_calls/tdh_phymem_pamt_remove.c: the node must be
//    PT_PAMT (TDX_NO_PAMT_PAGE_PAIR|RCX) and every 4K entry in the pair
//    PT_NDA (TDX_PAMT_PAGE_NOT_EMPTY with the index of the pair's page that
//    holds a used entry as operand); the pair is returned in RDX and R8;
//  - src/common/helpers/helpers.c non_shared_hpa_metadata_check_and_lock():
//    a 4K walk that stops at a PT_NDA 2M node of a PT_NDA operand gives
//    TDX_MISSING_PAMT_PAGE_PAIR;
// with the leaf numbers and statuses of spec/arborist/abi/tdx.hpp (the
// "TDX: Enable Dynamic PAMT" series, arch/x86/virt/vmx/tdx/tdx.h).
//
// The module's internal per-2M lock (PAMT.ADD and PAMT.REMOVE walk the node
// TDX_LOCK_EXCLUSIVE) is not modelled: each leaf is one atomic step, and
// the kernel side serializes the two with its own lock (impl/dpamt.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "arborist/abi/tdx.hpp"

namespace arborist::hw {

class DynamicPamt {
public:
	using u64 = std::uint64_t;
	static constexpr u64 PAGE_SHIFT = 12;
	static constexpr u64 PAGES_PER_2M = 512;
	// A PAMT entry is 16 bytes: 256 per 4K page, so a pair holds the 512
	// entries of one 2M region, entries 0..255 in the first page.
	static constexpr u64 ENTRIES_PER_PAGE = 256;

	// Regions [base_pfn, base_pfn + 512 * regions); base_pfn is 2M aligned.
	constexpr DynamicPamt(u64 base_pfn, unsigned regions) : base_(base_pfn), regions_(regions) {}

	// TDH.PHYMEM.PAMT.ADD: RCX = the region's 2M-aligned HPA | TDX_PS_2M
	// (level 1), RDX and R8 the pair.
	constexpr u64 pamt_add(u64 rcx, u64 hpa0, u64 hpa1)
	{
		Region* r = region_of_page_info(rcx);
		if (!r)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, tdx_abi::operand::RCX);
		if (r->has_pair)
			return tdx_abi::with_operand(tdx_abi::status::TDX_HPA_RANGE_NOT_FREE, tdx_abi::operand::RCX);
		if ((hpa0 | hpa1) & 0xfff)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID,
						     hpa0 & 0xfff ? tdx_abi::operand::RDX : tdx_abi::operand::R8);
		if (is_pamt_page(hpa0))
			return tdx_abi::with_operand(tdx_abi::status::TDX_PAGE_NOT_FREE, tdx_abi::operand::RDX);
		if (is_pamt_page(hpa1) || hpa1 == hpa0)
			return tdx_abi::with_operand(tdx_abi::status::TDX_PAGE_NOT_FREE, tdx_abi::operand::R8);
		r->has_pair = true;
		r->pair = {hpa0, hpa1};
		r->used.fill(false);
		return tdx_abi::status::TDX_SUCCESS;
	}

	// TDH.PHYMEM.PAMT.REMOVE: RCX as for PAMT.ADD; on success the pair is
	// returned in *rdx and *r8.
	constexpr u64 pamt_remove(u64 rcx, u64* rdx, u64* r8)
	{
		Region* r = region_of_page_info(rcx);
		if (!r)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, tdx_abi::operand::RCX);
		if (!r->has_pair)
			return tdx_abi::with_operand(tdx_abi::status::TDX_NO_PAMT_PAGE_PAIR, tdx_abi::operand::RCX);
		for (u64 i = 0; i < PAGES_PER_2M; i++)
			if (r->used[i])
				return tdx_abi::with_operand(tdx_abi::status::TDX_PAMT_PAGE_NOT_EMPTY, i / ENTRIES_PER_PAGE);
		*rdx = r->pair[0];
		*r8 = r->pair[1];
		r->has_pair = false;
		r->pair = {0, 0};
		return tdx_abi::status::TDX_SUCCESS;
	}

	// What a leaf that gives the 4K page at `pa` to a TD does to the PAMT
	// (its PT_NDA check and the new page type): TDX_MISSING_PAMT_PAGE_PAIR
	// with the page's operand ID while the region has no pair,
	// TDX_PAGE_METADATA_INCORRECT if the page is in use already.
	constexpr u64 assign_4k(u64 pa, u64 operand_id)
	{
		Region* r = region_of(pa);
		if (!r || pa & 0xfff)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, operand_id);
		if (!r->has_pair)
			return tdx_abi::with_operand(tdx_abi::status::TDX_MISSING_PAMT_PAGE_PAIR, operand_id);
		bool& e = r->used[index_in_region(pa)];
		if (e)
			return tdx_abi::with_operand(tdx_abi::status::TDX_PAGE_METADATA_INCORRECT, operand_id);
		e = true;
		return tdx_abi::status::TDX_SUCCESS;
	}

	// What PAGE.REMOVE or PHYMEM.PAGE.RECLAIM of the 4K page at `pa` does to
	// the PAMT: its entry back to PT_NDA.  A page that is not in use (or in
	// a region without a pair, whose 4K entries do not exist) gives
	// TDX_PAGE_METADATA_INCORRECT.
	constexpr u64 release_4k(u64 pa, u64 operand_id)
	{
		Region* r = region_of(pa);
		if (!r || pa & 0xfff)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, operand_id);
		if (!r->has_pair || !r->used[index_in_region(pa)])
			return tdx_abi::with_operand(tdx_abi::status::TDX_PAGE_METADATA_INCORRECT, operand_id);
		r->used[index_in_region(pa)] = false;
		return tdx_abi::status::TDX_SUCCESS;
	}

	// What TDH.MEM.PAGE.DEMOTE of a 2M private page does to the PAMT of its
	// region: with Dynamic PAMT it takes the region's PAMT pair from the
	// host (tdh_mem_page_demote.c: pamt_hpa0, pamt_hpa1), and the 512 pages
	// become 4K pages in use.  Without a pair (hpa0 or hpa1 0):
	// TDX_MISSING_PAMT_PAGE_PAIR, as the series lists DEMOTE among the
	// leaves that return it.
	constexpr u64 demote_2m(u64 region_pa, u64 hpa0, u64 hpa1)
	{
		Region* r = region_of(region_pa);
		if (!r || (region_pa >> PAGE_SHIFT) % PAGES_PER_2M || r->has_pair)
			return tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_INVALID, tdx_abi::operand::RCX);
		if (!hpa0 || !hpa1)
			return tdx_abi::status::TDX_MISSING_PAMT_PAGE_PAIR;
		if (is_pamt_page(hpa0) || is_pamt_page(hpa1) || hpa0 == hpa1)
			return tdx_abi::status::TDX_PAGE_NOT_FREE;
		r->has_pair = true;
		r->pair = {hpa0, hpa1};
		r->used.fill(true);
		return tdx_abi::status::TDX_SUCCESS;
	}

	constexpr bool has_pair(u64 pa) const
	{
		const Region* r = region_of(pa);
		return r && r->has_pair;
	}
	// The 4K pages of the region holding `pa` that are in use.
	constexpr unsigned used_pages(u64 pa) const
	{
		const Region* r = region_of(pa);
		unsigned n = 0;
		if (r && r->has_pair)
			for (bool u : r->used)
				n += u;
		return n;
	}
	constexpr bool used(u64 pa) const
	{
		const Region* r = region_of(pa);
		return r && r->has_pair && r->used[index_in_region(pa)];
	}
	constexpr unsigned regions() const { return static_cast<unsigned>(regions_.size()); }
	constexpr u64 region_pa(unsigned i) const { return (base_ + i * PAGES_PER_2M) << PAGE_SHIFT; }

	// A compact encoding of the state (the model checker's state key).
	template <class Put>
	constexpr void encode(Put&& put) const
	{
		for (const Region& r : regions_) {
			put(r.has_pair);
			if (!r.has_pair)
				continue;
			put(r.pair[0]);
			put(r.pair[1]);
			for (u64 i = 0; i < PAGES_PER_2M; i++)
				if (r.used[i])
					put(i + 1);
			put(0);
		}
	}

	constexpr bool operator==(const DynamicPamt&) const = default;

private:
	struct Region {
		bool has_pair = false;
		std::array<u64, 2> pair{};
		std::array<bool, PAGES_PER_2M> used{}; // the 4K entry is not PT_NDA
		constexpr bool operator==(const Region&) const = default;
	};

	constexpr Region* region_of(u64 pa)
	{
		const u64 pfn = pa >> PAGE_SHIFT;
		if (pfn < base_ || (pfn - base_) / PAGES_PER_2M >= regions_.size())
			return nullptr;
		return &regions_[(pfn - base_) / PAGES_PER_2M];
	}
	constexpr const Region* region_of(u64 pa) const { return const_cast<DynamicPamt*>(this)->region_of(pa); }
	// RCX: a 2M-aligned HPA with level 1 (2M) in bits 2:0.
	constexpr Region* region_of_page_info(u64 rcx)
	{
		if ((rcx & 0x7) != 1 || (rcx & 0xff8) != 0 || (rcx >> PAGE_SHIFT) % PAGES_PER_2M != 0)
			return nullptr;
		return region_of(rcx & ~u64{0xfff});
	}
	constexpr u64 index_in_region(u64 pa) const { return ((pa >> PAGE_SHIFT) - base_) % PAGES_PER_2M; }
	constexpr bool is_pamt_page(u64 pa) const
	{
		for (const Region& r : regions_)
			if (r.has_pair && (r.pair[0] == pa || r.pair[1] == pa))
				return true;
		return false;
	}

	u64 base_;
	std::vector<Region> regions_;
};

} // namespace arborist::hw
