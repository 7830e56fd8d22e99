// SPDX-License-Identifier: GPL-2.0-only
//
// Compile-only proof that every SEAMCALL wrapper builds on the native
// backend (x86-64).  Nothing here is ever called: SEAMCALL outside SEAM-
// capable VMX root operation raises #UD.
#include "arborist/hw/native_seamcall.hpp"
#include "arborist/hw/seamcall.hpp"

namespace arborist::hw::native_check {

u64 instantiate_all_wrappers(NativeSeamcall& b, u64 tdr, u64 gpa, u64 page, TdxModuleArgs* vp_args)
{
	u64 e1 = 0, e2 = 0, e3 = 0;
	u64 r = 0;

	r |= tdh_mem_sept_add(b, tdr, gpa, 1, page, &e1, &e2);
	r |= tdh_mem_page_add(b, tdr, gpa, page, page, &e1, &e2);
	r |= tdh_mem_page_aug(b, tdr, gpa, 0, page, &e1, &e2);
	r |= tdh_mem_range_block(b, tdr, gpa, 0, &e1, &e2);
	r |= tdh_mem_range_unblock(b, tdr, gpa, 0, &e1, &e2);
	r |= tdh_mem_track(b, tdr);
	r |= tdh_mem_page_remove(b, tdr, gpa, 0, &e1, &e2);
	r |= tdh_mem_sept_remove(b, tdr, gpa, 1, &e1, &e2);
	r |= tdh_mem_page_demote(b, tdr, gpa, 1, page, &e1, &e2);
	r |= tdh_mem_page_promote(b, tdr, gpa, 1, &e1, &e2);
	r |= tdh_mr_extend(b, tdr, gpa, &e1, &e2);
	r |= tdh_mr_finalize(b, tdr);
	r |= tdh_phymem_page_reclaim(b, page, &e1, &e2, &e3);
	r |= tdh_phymem_cache_wb(b, false);
	r |= tdh_phymem_page_wbinvd_hkid(b, 1, page);
	r |= tdh_mng_vpflushdone(b, tdr);
	r |= tdh_mng_key_freeid(b, tdr);
	r |= tdh_vp_flush(b, page);
	r |= tdh_vp_enter(b, page, vp_args);
	return r | e1 | e2 | e3;
}

} // namespace arborist::hw::native_check
