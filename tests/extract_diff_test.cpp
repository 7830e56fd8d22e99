// SPDX-License-Identifier: GPL-2.0-only
//
// The extracted C (extract/include/arborist/*.h, checked in) against the
// spec it was generated from, run in spec::Concrete: exhaustively on the
// small domains (levels, flags, S-EPT states, OP_STATEs, root states, small
// epochs) and on at least 1,000,000 random words per function (fixed seed).
// The headers are plain C99 that is also valid C++, so they are included
// here directly.  A summary of the comparisons per function is printed at
// the end.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "arborist/gfn.hpp"
#include "arborist/support/hex.hpp"
#include "arborist/mirror_hook.hpp"
#include "arborist/root.hpp"
#include "arborist/sept.hpp"
#include "arborist/spte.hpp"
#include "arborist/tlb.hpp"

#include "arborist/gfn.h"
#include "arborist/mirror_hook.h"
#include "arborist/root.h"
#include "arborist/sept.h"
#include "arborist/sept_flags.h"
#include "arborist/spte_ept.h"
#include "arborist/spte_npt.h"
#include "arborist/tlb.h"

namespace {

namespace sp = arborist::spec;
using sp::u64;
constexpr const sp::Concrete& d = sp::concrete;
constexpr u64 RANDOM = 1'000'000;

// --- bookkeeping -------------------------------------------------------------------

// Comparisons per function, keyed by the name literal (cheap to look up).
std::unordered_map<const char*, u64>& counts()
{
	static std::unordered_map<const char*, u64> c;
	return c;
}

// One comparison of a C function with its spec rule; the first few
// mismatches of a function are reported with their inputs.
template <class C, class S, class Inputs>
void same(const char* fn, const C& c_value, const S& spec_value, const Inputs& inputs)
{
	u64& n = counts()[fn];
	n++;
	if (static_cast<u64>(c_value) == static_cast<u64>(spec_value))
		return;
	static std::unordered_map<const char*, int> reported;
	if (reported[fn]++ < 5)
		ADD_FAILURE() << fn << "(" << inputs() << "): C " << static_cast<u64>(c_value) << ", spec "
			      << static_cast<u64>(spec_value);
}

using arborist::support::hex;

class Summary : public ::testing::Environment {
public:
	void TearDown() override
	{
		u64 total = 0;
		std::map<std::string, u64> by_name;
		for (const auto& [fn, n] : counts())
			by_name[fn] += n;
		std::printf("extract differential comparisons (C vs spec::Concrete):\n");
		for (const auto& [fn, n] : by_name) {
			std::printf("  %-45s %12llu\n", fn.c_str(), static_cast<unsigned long long>(n));
			total += n;
		}
		std::printf("  %-45s %12llu\n", "total", static_cast<unsigned long long>(total));
	}
};
[[maybe_unused]] const auto* const summary = ::testing::AddGlobalTestEnvironment(new Summary);

// Random words with every bit density, and the special values of a flavour.
class Words {
public:
	explicit Words(const sp::SpteFlavor& f, u64 seed = 0x5eed0006) : rng_(seed)
	{
		specials_ = {0, ~u64{0}, sp::frozen_spte(d, f), sp::nonpresent_spte(d, f), f.mmu_present,
			     f.mmu_present | f.page_size, f.mmu_writable | f.host_writable, f.writable};
	}
	u64 raw() { return rng_(); }
	u64 next()
	{
		switch (rng_() % 8) {
		case 0: return specials_[rng_() % specials_.size()];
		case 1: return rng_() & rng_();         // sparse
		case 2: return rng_() | rng_();         // dense
		case 3: return rng_() & rng_() & rng_();
		default: return rng_();
		}
	}
	bool flag() { return rng_() & 1; }
	u64 below(u64 n) { return rng_() % n; }

private:
	std::mt19937_64 rng_;
	std::vector<u64> specials_;
};

const u64 levels[] = {0, 1, 2, 3, 4, 5, 6, 64, ~u64{0}};

// --- SPTE encoding, both flavours --------------------------------------------------

// The C functions of one flavour, by the spec rule they were generated from.
struct SpteC {
	const sp::SpteFlavor& f;
	bool (*present)(uint64_t);
	bool (*frozen)(uint64_t);
	bool (*large)(uint64_t);
	bool (*last)(uint64_t, uint64_t);
	uint64_t (*pfn)(uint64_t);
	bool (*writable)(uint64_t);
	bool (*mmu_writable)(uint64_t);
	bool (*host_writable)(uint64_t);
	bool (*invariant)(uint64_t);
	bool (*flush)(uint64_t, uint64_t);
	uint64_t (*nonleaf)(uint64_t, bool);
	uint64_t (*make)(uint64_t, uint64_t, bool, bool, bool);
	uint64_t (*small)(uint64_t, uint64_t, uint64_t);
	uint64_t (*huge)(uint64_t, uint64_t);
	uint64_t (*wrprot)(uint64_t);
	uint64_t (*fast_pf)(uint64_t, bool);
	const char* names[16];
};

const SpteC ept{sp::ept_v6_19,
		ept_v6_19_is_shadow_present_pte, ept_v6_19_is_frozen_spte, ept_v6_19_is_large_pte,
		ept_v6_19_is_last_spte, ept_v6_19_spte_to_pfn, ept_v6_19_is_writable_pte,
		ept_v6_19_is_mmu_writable_spte, ept_v6_19_is_host_writable_spte,
		ept_v6_19_spte_writable_invariant, ept_v6_19_leaf_spte_change_needs_tlb_flush,
		ept_v6_19_make_nonleaf_spte, ept_v6_19_make_spte, ept_v6_19_make_small_spte,
		ept_v6_19_make_huge_spte, ept_v6_19_make_wrprot_spte, ept_v6_19_fast_pf_fix_spte,
		{"ept_v6_19_is_shadow_present_pte", "ept_v6_19_is_frozen_spte", "ept_v6_19_is_large_pte",
		 "ept_v6_19_is_last_spte", "ept_v6_19_spte_to_pfn", "ept_v6_19_is_writable_pte",
		 "ept_v6_19_is_mmu_writable_spte", "ept_v6_19_is_host_writable_spte",
		 "ept_v6_19_spte_writable_invariant", "ept_v6_19_leaf_spte_change_needs_tlb_flush",
		 "ept_v6_19_make_nonleaf_spte", "ept_v6_19_make_spte", "ept_v6_19_make_small_spte",
		 "ept_v6_19_make_huge_spte", "ept_v6_19_make_wrprot_spte", "ept_v6_19_fast_pf_fix_spte"}};

const SpteC npt{sp::npt_v6_1,
		npt_v6_1_is_shadow_present_pte, npt_v6_1_is_frozen_spte, npt_v6_1_is_large_pte,
		npt_v6_1_is_last_spte, npt_v6_1_spte_to_pfn, npt_v6_1_is_writable_pte,
		npt_v6_1_is_mmu_writable_spte, npt_v6_1_is_host_writable_spte,
		npt_v6_1_spte_writable_invariant, npt_v6_1_leaf_spte_change_needs_tlb_flush,
		npt_v6_1_make_nonleaf_spte, npt_v6_1_make_spte, npt_v6_1_make_small_spte,
		npt_v6_1_make_huge_spte, npt_v6_1_make_wrprot_spte, npt_v6_1_fast_pf_fix_spte,
		{"npt_v6_1_is_shadow_present_pte", "npt_v6_1_is_frozen_spte", "npt_v6_1_is_large_pte",
		 "npt_v6_1_is_last_spte", "npt_v6_1_spte_to_pfn", "npt_v6_1_is_writable_pte",
		 "npt_v6_1_is_mmu_writable_spte", "npt_v6_1_is_host_writable_spte",
		 "npt_v6_1_spte_writable_invariant", "npt_v6_1_leaf_spte_change_needs_tlb_flush",
		 "npt_v6_1_make_nonleaf_spte", "npt_v6_1_make_spte", "npt_v6_1_make_small_spte",
		 "npt_v6_1_make_huge_spte", "npt_v6_1_make_wrprot_spte", "npt_v6_1_fast_pf_fix_spte"}};

// The one-SPTE predicates and operations on word w.
void spte_unary(const SpteC& c, u64 w)
{
	const sp::SpteFlavor& f = c.f;
	auto in = [&] { return hex(w); };
	same(c.names[0], c.present(w), sp::is_shadow_present_pte(d, f, w), in);
	same(c.names[1], c.frozen(w), sp::is_frozen_spte(d, f, w), in);
	same(c.names[2], c.large(w), sp::is_large_pte(d, f, w), in);
	same(c.names[4], c.pfn(w), sp::spte_to_pfn(d, f, w), in);
	same(c.names[5], c.writable(w), sp::is_writable_pte(d, f, w), in);
	same(c.names[6], c.mmu_writable(w), sp::is_mmu_writable_spte(d, f, w), in);
	same(c.names[7], c.host_writable(w), sp::is_host_writable_spte(d, f, w), in);
	same(c.names[8], c.invariant(w), sp::spte_writable_invariant(d, f, w), in);
	same(c.names[14], c.wrprot(w), sp::make_wrprot_spte(d, f, w), in);
	for (const bool b : {false, true}) {
		auto in_b = [&] { return hex(w) + ", " + (b ? "true" : "false"); };
		same(c.names[10], c.nonleaf(w, b), sp::make_nonleaf_spte(d, f, w, b), in_b);
		same(c.names[15], c.fast_pf(w, b), sp::fast_pf_fix_spte(d, f, w, b), in_b);
	}
}

// The operations that take a level: every level (and out-of-range ones).
void spte_levels(const SpteC& c, u64 w, u64 other)
{
	const sp::SpteFlavor& f = c.f;
	for (const u64 l : levels) {
		auto in = [&] { return hex(w) + ", " + hex(l); };
		same(c.names[3], c.last(w, l), sp::is_last_spte(d, f, w, l), in);
		same(c.names[13], c.huge(w, l), sp::make_huge_spte(d, f, w, l), in);
		same(c.names[12], c.small(w, l, other % 512), sp::make_small_spte(d, f, w, l, other % 512), in);
		same(c.names[12], c.small(w, l, other), sp::make_small_spte(d, f, w, l, other), in);
		for (unsigned bits = 0; bits < 8; bits++) {
			const bool exec = bits & 1, host = bits & 2, write = bits & 4;
			const sp::LeafRequest<sp::Concrete> r{other, l, exec, host, write};
			auto in_r = [&] { return hex(other) + ", " + hex(l) + ", flags " + std::to_string(bits); };
			same(c.names[11], c.make(other, l, exec, host, write), sp::make_spte(d, f, r), in_r);
		}
	}
}

void spte_flavor(const SpteC& c)
{
	Words w(c.f);
	for (u64 i = 0; i < RANDOM; i++) {
		const u64 a = w.next(), b = w.next();
		spte_unary(c, a);
		spte_levels(c, a, b);
		same(c.names[9], c.flush(a, b), sp::leaf_spte_change_needs_tlb_flush(d, c.f, a, b),
		     [&] { return hex(a) + ", " + hex(b); });
	}
	// Every child of a split of a few huge SPTEs, at both split levels.
	for (unsigned k = 0; k < 64; k++) {
		const u64 huge = w.next() | c.f.page_size | c.f.mmu_present;
		for (u64 cl = 1; cl <= 2; cl++)
			for (u64 i = 0; i < 512; i++)
				same(c.names[12], c.small(huge, cl, i), sp::make_small_spte(d, c.f, huge, cl, i),
				     [&] { return hex(huge) + ", " + hex(cl) + ", " + hex(i); });
	}
}

TEST(ExtractDiff, SpteEpt) { spte_flavor(ept); }
TEST(ExtractDiff, SpteNpt) { spte_flavor(npt); }

// --- GFN algebra ---------------------------------------------------------------------

struct GfnC {
	sp::TdGeometry g;
	uint64_t (*direct_bits)(void);
	uint64_t (*root_bits)(bool);
	uint64_t (*fault_gfn)(uint64_t);
	uint64_t (*add_shared)(uint64_t);
	bool (*is_direct)(uint64_t);
	bool (*uses_mirror)(uint64_t);
	const char* names[6];
};

const GfnC pwl4{sp::td_pwl4, arborist_pwl4_gfn_direct_bits, arborist_pwl4_kvm_gfn_root_bits,
		arborist_pwl4_fault_gfn, arborist_pwl4_gfn_add_shared, arborist_pwl4_kvm_is_addr_direct,
		arborist_pwl4_fault_uses_mirror_root,
		{"arborist_pwl4_gfn_direct_bits", "arborist_pwl4_kvm_gfn_root_bits", "arborist_pwl4_fault_gfn",
		 "arborist_pwl4_gfn_add_shared", "arborist_pwl4_kvm_is_addr_direct",
		 "arborist_pwl4_fault_uses_mirror_root"}};
const GfnC pwl5{sp::td_pwl5, arborist_pwl5_gfn_direct_bits, arborist_pwl5_kvm_gfn_root_bits,
		arborist_pwl5_fault_gfn, arborist_pwl5_gfn_add_shared, arborist_pwl5_kvm_is_addr_direct,
		arborist_pwl5_fault_uses_mirror_root,
		{"arborist_pwl5_gfn_direct_bits", "arborist_pwl5_kvm_gfn_root_bits", "arborist_pwl5_fault_gfn",
		 "arborist_pwl5_gfn_add_shared", "arborist_pwl5_kvm_is_addr_direct",
		 "arborist_pwl5_fault_uses_mirror_root"}};

void gfn_geometry(const GfnC& c, Words& w)
{
	const sp::TdGeometry g = c.g;
	auto none = [] { return std::string(); };
	same(c.names[0], c.direct_bits(), sp::gfn_direct_bits(d, g), none);
	for (const bool m : {false, true})
		same(c.names[1], c.root_bits(m), sp::kvm_gfn_root_bits(d, g, m), [&] { return std::to_string(m); });
	for (u64 i = 0; i < RANDOM; i++) {
		// Half the words flip the shared bit of an address the GPAW covers.
		u64 a = w.next();
		if (w.flag())
			a = (a & ((u64{1} << g.gpaw()) - 1)) ^ (w.flag() ? u64{1} << g.shared_gpa_bit() : 0);
		auto in = [&] { return hex(a); };
		same(c.names[2], c.fault_gfn(a), sp::fault_gfn(d, g, a), in);
		same(c.names[3], c.add_shared(a), sp::gfn_add_shared(d, g, a), in);
		same(c.names[4], c.is_direct(a), sp::kvm_is_addr_direct(d, g, a), in);
		same(c.names[5], c.uses_mirror(a), sp::fault_uses_mirror_root(d, g, a), in);
	}
}

TEST(ExtractDiff, GfnGeometries)
{
	Words w(sp::ept_v6_19, 0x6f6e);
	gfn_geometry(pwl4, w);
	gfn_geometry(pwl5, w);
}

TEST(ExtractDiff, GfnIndexArithmetic)
{
	Words w(sp::ept_v6_19, 0x1dc5);
	for (u64 i = 0; i < RANDOM; i++) {
		const u64 a = w.next(), b = w.next();
		const u64 bits = w.flag() ? 0 : w.flag() ? sp::gfn_direct_bits(d, sp::td_pwl4) : b;
		same("arborist_tdp_iter_start_ok", arborist_tdp_iter_start_ok(a, bits), sp::tdp_iter_start_ok(d, a, bits),
		     [&] { return hex(a) + ", " + hex(bits); });
		for (const u64 l : levels) {
			auto in = [&] { return hex(a) + ", " + hex(l); };
			same("arborist_pages_per_hpage", arborist_pages_per_hpage(l), sp::pages_per_hpage(d, l), in);
			same("arborist_spte_index", arborist_spte_index(a, l), sp::spte_index(d, a, l), in);
			same("arborist_gfn_round_for_level", arborist_gfn_round_for_level(a, l),
			     sp::gfn_round_for_level(d, a, l), in);
			same("arborist_tdp_iter_index", arborist_tdp_iter_index(a, bits, l),
			     sp::tdp_iter_index(d, a, bits, l), in);
		}
	}
}

// --- TLB epochs and the S-EPT flags --------------------------------------------------

const u64 epochs[] = {0, 1, 2, 3, 4, 5, 6, 7, sp::TD_EPOCH_LIMIT - 1, sp::BEPOCH_MIG_FLAG, sp::BEPOCH_MIG_FLAG | 3,
		      ~u64{0}};
const u64 small_counts[] = {0, 1, 2, 0xffff};

void tlb_one(u64 e, u64 r0, u64 r1, u64 b)
{
	const sp::EpochState<sp::Concrete> s{e, r0, r1};
	auto in = [&] { return hex(e) + ", " + hex(r0) + ", " + hex(r1) + ", " + hex(b); };
	same("arborist_is_tlb_tracked", arborist_is_tlb_tracked(e, r0, r1, b), sp::is_tlb_tracked(d, s, b), in);
	const bool busy = b & 1;
	const auto t = sp::mem_track_epoch(d, s, busy);
	same("arborist_mem_track_status", arborist_mem_track_status(e, r0, r1, busy), t.status, in);
	same("arborist_mem_track_new_epoch", arborist_mem_track_new_epoch(e, r0, r1, busy), t.epoch.td_epoch, in);
}

TEST(ExtractDiff, TlbEpochs)
{
	for (const u64 e : epochs)
		for (const u64 r0 : small_counts)
			for (const u64 r1 : small_counts)
				for (const u64 b : epochs)
					tlb_one(e, r0, r1, b);
	Words w(sp::ept_v6_19, 0x7eb0);
	for (u64 i = 0; i < RANDOM; i++) {
		const u64 e = w.flag() ? w.below(16) : w.next();
		const u64 b = w.flag() ? e - w.below(3) : w.next();
		tlb_one(e, w.flag() ? w.below(3) : w.next(), w.flag() ? w.below(3) : w.next(), b);
	}
}

// The status of blocked_and_tracked_check() over the fields it reads.
u64 blocked_and_tracked(u64 op, u64 entry, const sp::EpochState<sp::Concrete>& e, u64 bepoch)
{
	sp::SeptLocal<sp::Concrete, 1> s{};
	s.td.op_state = op;
	s.td.epoch = e;
	s.target.bepoch = bepoch;
	sp::Checks<sp::Concrete> c(d);
	sp::blocked_and_tracked_check(c, s, entry, sp::no_fault);
	return c.status;
}

void sept_one(u64 state, u64 op, u64 e, u64 r0, u64 r1, u64 b)
{
	auto in = [&] { return hex(op) + ", " + hex(state) + ", " + hex(e) + ", " + hex(r0) + ", " + hex(r1) + ", " + hex(b); };
	same("arborist_sept_blocked_and_tracked_status", arborist_sept_blocked_and_tracked_status(op, state, e, r0, r1, b),
	     blocked_and_tracked(op, state, {e, r0, r1}, b), in);
}

TEST(ExtractDiff, SeptFlags)
{
	Words w(sp::ept_v6_19, 0x5e97);
	for (u64 i = 0; i < RANDOM; i++) {
		const u64 s = i < 0x100 ? i : w.next(); // every 8-bit code, then random words
		auto in = [&] { return hex(s); };
		same("arborist_sept_is_leaf", arborist_sept_is_leaf(s), sp::sept_is_leaf(d, s), in);
		same("arborist_sept_any_blocked", arborist_sept_any_blocked(s), sp::sept_any_blocked(d, s), in);
		same("arborist_sept_tlb_tracking_required", arborist_sept_tlb_tracking_required(s),
		     sp::sept_tlb_tracking_required(d, s), in);
		same("arborist_op_state_tlb_tracking_required", arborist_op_state_tlb_tracking_required(s),
		     sp::op_state_tlb_tracking_required(d, s), in);
	}
	// Every modelled state x every OP_STATE code x small epochs, then random.
	for (u64 state = 0; state < 0x80; state++)
		for (u64 op = 0; op < 12; op++)
			for (const u64 e : {u64{1}, u64{2}, u64{3}})
				for (const u64 b : {u64{0}, u64{1}, u64{2}, u64{3}, sp::BEPOCH_MIG_FLAG | 1})
					for (const u64 r : {u64{0}, u64{1}})
						sept_one(state, op, e, r, 1 - r, b);
	for (u64 i = 0; i < RANDOM; i++)
		sept_one(w.below(0x80), w.below(12), w.next(), w.next(), w.next(), w.next());
}

// --- root lifecycle ------------------------------------------------------------------

using RootS = sp::RootState<sp::Concrete>;

arborist_root_state to_c(const RootS& s)
{
	return {s.allocated, s.refcount, s.mmu_ref, s.task_refs, s.invalid, s.scheduled_to_zap, s.on_list,
		s.rcu_queued, s.freed};
}

bool root_invariants(const RootS& s)
{
	return sp::root_freed_implies_invalid_and_zero(d, s) && sp::root_valid_or_referenced(d, s) &&
	       sp::root_scheduled_holds_gift(d, s) && sp::root_refcount_accounts_holders(d, s) &&
	       sp::root_list_matches_refcount(d, s) && sp::root_unallocated_is_blank(d, s);
}

void root_one(const RootS& s)
{
	const arborist_root_state c = to_c(s);
	auto in = [&] {
		std::ostringstream o;
		o << "alloc " << s.allocated << " ref " << s.refcount << " mmu " << s.mmu_ref << " tasks " << s.task_refs
		  << " invalid " << s.invalid << " zap " << s.scheduled_to_zap << " list " << s.on_list << " rcu "
		  << s.rcu_queued << " freed " << s.freed;
		return o.str();
	};
	same("arborist_root_get_enabled", arborist_root_get_enabled(&c), sp::root_get(d, s).enabled, in);
	same("arborist_root_get_ok", arborist_root_get_ok(&c), sp::root_get(d, s).ok, in);
	same("arborist_root_put_enabled", arborist_root_put_enabled(&c), sp::root_put(d, s).enabled, in);
	same("arborist_root_put_ref_bug", arborist_root_put_ref_bug(&c), sp::root_put_ref(d, s).bug, in);
	same("arborist_root_put_ref_last", arborist_root_put_ref_last(&c), sp::root_put_ref(d, s).post.refcount == 0, in);
	same("arborist_root_zap_invalidated_bug", arborist_root_zap_invalidated_bug(&c),
	     sp::root_zap_invalidated(d, s).bug, in);
	same("arborist_root_invariant", arborist_root_invariant(&c), root_invariants(s), in);
}

TEST(ExtractDiff, RootStates)
{
	// The struct is the spec's state, member for member.
	static_assert(sizeof(arborist_root_state) == sizeof(RootS));
	const u64 refs[] = {0, 1, 2, 3, sp::REFCOUNT_LIMIT - 1, sp::REFCOUNT_LIMIT, sp::REFCOUNT_LIMIT + 1, ~u64{0}};
	for (unsigned flags = 0; flags < 128; flags++)
		for (const u64 r : refs)
			for (const u64 t : refs) {
				auto f = [&](unsigned k) { return ((flags >> k) & 1) != 0; };
				root_one({f(0), r, f(1), t, f(2), f(3), f(4), f(5), f(6)});
			}
	Words w(sp::ept_v6_19, 0x2007);
	for (u64 i = 0; i < RANDOM; i++) {
		auto f = [&] { return w.flag(); };
		const u64 r = w.flag() ? w.below(4) : w.next(), t = w.flag() ? w.below(4) : w.next();
		root_one({f(), r, f(), t, f(), f(), f(), f(), f()});
	}
}

// --- the mirror hook -----------------------------------------------------------------

TEST(ExtractDiff, MirrorHook)
{
	const sp::SpteFlavor& f = sp::ept_v6_19;
	Words w(f, 0x4001);
	// Representative SPTEs: zapped, frozen, a 4K and a 2M leaf, a table, random.
	std::vector<u64> kinds = {sp::nonpresent_spte(d, f), sp::frozen_spte(d, f),
				  sp::make_spte(d, f, sp::LeafRequest<sp::Concrete>{0x1234, 1, true, true, true}),
				  sp::make_spte(d, f, sp::LeafRequest<sp::Concrete>{0x200, 2, true, true, true}),
				  sp::make_nonleaf_spte(d, f, u64{0x5000}, false), 0};
	auto one = [&](u64 o, u64 n, u64 l, bool atomic, bool private_huge_pages) {
		same("ept_v6_19_mirror_hook_for_change", ept_v6_19_mirror_hook_for_change(o, n, l, atomic, private_huge_pages),
		     sp::mirror_hook_for_change(d, f, o, n, l, atomic, private_huge_pages),
		     [&] { return hex(o) + ", " + hex(n) + ", " + hex(l) + ", " + std::to_string(atomic) + std::to_string(private_huge_pages); });
	};
	for (const u64 o : kinds)
		for (const u64 n : kinds)
			for (const u64 l : levels)
				for (unsigned bits = 0; bits < 4; bits++)
					one(o, n, l, bits & 1, bits & 2);
	for (u64 i = 0; i < RANDOM; i++) {
		const u64 o = w.flag() ? kinds[w.below(kinds.size())] : w.next();
		const u64 n = w.flag() ? kinds[w.below(kinds.size())] : w.next();
		one(o, n, w.flag() ? 1 + w.below(5) : w.next(), w.flag(), w.flag());
	}
}

} // namespace

// --- the S-EPT leaves (sept.h) -----------------------------------------------------
//
// Every leaf of spec::sept_leaves, over both geometries, against
// spec::sept_seamcall on the whole view: 512-entry S-EPT pages, every target
// entry state, TD lifecycle, OP_STATE and level, with the other inputs drawn
// from a fixed seed (biased towards the calls that pass the early checks).

namespace sept_c {

using Leaf = arborist::tdx_abi::Leaf;
using View = sp::SeptLocal<sp::Concrete>;
using Args = sp::SeptArgs<sp::Concrete>;
using Fn = arborist_sept_outcome (*)(arborist_sept_view, arborist_sept_args);
using StatusFn = uint64_t (*)(arborist_sept_view, arborist_sept_args);

struct LeafC {
	Leaf leaf;
	Fn fn[2]; // PWL 4, PWL 5 (the same function when the leaf does not walk)
	StatusFn status[2];
	const char* name[2];
};

#define ARBORIST_BY_PWL(x)                                                                                   \
	{arborist_pwl4_##x, arborist_pwl5_##x}, {arborist_pwl4_##x##_status, arborist_pwl5_##x##_status},   \
	{"arborist_pwl4_" #x, "arborist_pwl5_" #x}
#define ARBORIST_ANY_PWL(x) {arborist_##x, arborist_##x}, {arborist_##x##_status, arborist_##x##_status}, {"arborist_" #x, "arborist_" #x}

const LeafC leaves[] = {
	{Leaf::TDH_MEM_SEPT_ADD, ARBORIST_BY_PWL(tdh_mem_sept_add)},
	{Leaf::TDH_MEM_PAGE_ADD, ARBORIST_BY_PWL(tdh_mem_page_add)},
	{Leaf::TDH_MEM_PAGE_AUG, ARBORIST_BY_PWL(tdh_mem_page_aug)},
	{Leaf::TDH_MEM_RANGE_BLOCK, ARBORIST_BY_PWL(tdh_mem_range_block)},
	{Leaf::TDH_MEM_RANGE_UNBLOCK, ARBORIST_BY_PWL(tdh_mem_range_unblock)},
	{Leaf::TDH_MEM_TRACK, ARBORIST_ANY_PWL(tdh_mem_track)},
	{Leaf::TDH_MEM_PAGE_REMOVE, ARBORIST_BY_PWL(tdh_mem_page_remove)},
	{Leaf::TDH_MEM_SEPT_REMOVE, ARBORIST_BY_PWL(tdh_mem_sept_remove)},
	{Leaf::TDH_MEM_PAGE_DEMOTE, ARBORIST_BY_PWL(tdh_mem_page_demote)},
	{Leaf::TDH_MEM_PAGE_PROMOTE, ARBORIST_BY_PWL(tdh_mem_page_promote)},
	{Leaf::TDH_MR_EXTEND, ARBORIST_BY_PWL(tdh_mr_extend)},
	{Leaf::TDH_MR_FINALIZE, ARBORIST_ANY_PWL(tdh_mr_finalize)},
	{Leaf::TDH_MNG_VPFLUSHDONE, ARBORIST_ANY_PWL(tdh_mng_vpflushdone)},
	{Leaf::TDH_PHYMEM_CACHE_WB, ARBORIST_ANY_PWL(tdh_phymem_cache_wb)},
	{Leaf::TDH_MNG_KEY_FREEID, ARBORIST_ANY_PWL(tdh_mng_key_freeid)},
	{Leaf::TDH_PHYMEM_PAGE_RECLAIM, ARBORIST_ANY_PWL(tdh_phymem_page_reclaim)},
};
#undef ARBORIST_BY_PWL
#undef ARBORIST_ANY_PWL

using SS = sp::SeptState;
const u64 states[] = {u64(SS::NL_MAPPED), u64(SS::NL_BLOCKED), u64(SS::REMOVED), u64(SS::FREE),
		      u64(SS::MAPPED), u64(SS::BLOCKEDW), u64(SS::BLOCKED), u64(SS::PENDING),
		      u64(SS::PENDING_BLOCKEDW), u64(SS::PENDING_BLOCKED), 0x7f /* no state */};
const u64 page_types[] = {0, 1, 3, 4, 5, 6, 8, 2 /* unused code */};

arborist_sept_view to_c(const View& s)
{
	arborist_sept_view v{};
	const auto& t = s.td;
	v.td = {t.lifecycle, t.op_state, t.fatal, t.tdcs_allocated, t.chldcnt, t.num_vcpus, t.num_assoc_vcpus,
		t.wbinvd_pending, {t.epoch.td_epoch, t.epoch.refcount0, t.epoch.refcount1}};
	for (std::size_t l = 0; l < sp::SEPT_LEVELS; l++)
		v.path[l] = s.path[l];
	v.child0 = s.child[0];
	v.children_free = arborist_sept_children_free(s.child.data());
	v.children_uniform = arborist_sept_children_uniform(s.child.data());
	v.target = {s.target.pt, s.target.bepoch};
	v.operand_pt = s.operand_pt;
	return v;
}

arborist_sept_args to_c(const Args& a)
{
	const auto& b = a.busy;
	return {a.level, a.page_info_ok, a.allow_existing, a.source_ok, a.promote_ok,
		{b.tdr, b.op_state, b.tree, b.entry, b.pamt, b.epoch, b.kot}};
}

// The rest of a call's inputs, from the generator.
void fill_rest(Words& w, View& s, Args& a)
{
	auto rare = [&] { return w.below(16) == 0; };
	a.page_info_ok = !rare();
	a.allow_existing = w.flag();
	a.source_ok = !rare();
	a.promote_ok = !rare();
	a.busy = {rare(), rare(), rare(), rare(), rare(), rare(), rare()};
	s.td.chldcnt = w.flag() ? w.below(4) : w.next();
	s.td.num_vcpus = w.below(3);
	s.td.num_assoc_vcpus = w.below(3);
	s.td.wbinvd_pending = w.flag();
	s.td.epoch = {1 + w.below(6), w.below(3), w.below(3)};
	s.target.bepoch = w.flag() ? s.td.epoch.td_epoch - w.below(3) : w.next();
	s.target.pt = page_types[w.below(std::size(page_types))];
	s.operand_pt = w.flag() ? 0 : page_types[w.below(std::size(page_types))];
	// Above the target mostly NL_MAPPED, so that the walk often succeeds.
	for (u64 l = 0; l < sp::SEPT_LEVELS; l++)
		if (l != a.level)
			s.path[l] = w.below(4) ? u64(SS::NL_MAPPED) : states[w.below(std::size(states))];
	// The page below: uniform, uniform but one entry, or random.
	const u64 fillv = w.flag() ? u64(SS::FREE) : states[w.below(std::size(states))];
	s.child.fill(fillv);
	switch (w.below(4)) {
	case 0: break;
	case 1: s.child[w.below(sp::SEPT_FANOUT)] = states[w.below(std::size(states))]; break;
	case 2: s.child[0] = states[w.below(std::size(states))]; break;
	default:
		for (auto& e : s.child)
			e = states[w.below(std::size(states))];
	}
}

std::string describe(const LeafC& c, int gi, const View& s, const Args& a)
{
	std::ostringstream o;
	o << c.name[gi] << " level " << a.level << " path";
	for (const u64 p : s.path)
		o << " " << hex(p);
	o << " lifecycle " << s.td.lifecycle << " op " << s.td.op_state << " fatal " << s.td.fatal << " tdcs "
	  << s.td.tdcs_allocated << " child0 " << hex(s.child[0]);
	return o.str();
}

// One call of a leaf in C and in the spec; every field of the outcome.
void one(const LeafC& c, int gi, const View& s, const Args& a)
{
	const sp::TdGeometry& g = gi ? sp::td_pwl5 : sp::td_pwl4;
	const auto o = sp::sept_seamcall(d, g, c.leaf, a, s);
	const arborist_sept_view v = to_c(s);
	const arborist_sept_args ca = to_c(a);
	const arborist_sept_outcome r = c.fn[gi](v, ca);
	auto in = [&] { return describe(c, gi, s, a); };

	same("arborist_sept_children_free", v.children_free, sp::all_children_free(d, s), in);
	same("arborist_sept_children_uniform", v.children_uniform, sp::children_uniform(d, s), in);
	same(gi ? "arborist_pwl5_sept_walk_ok" : "arborist_pwl4_sept_walk_ok",
	     gi ? arborist_pwl5_sept_walk_ok(v, a.level) : arborist_pwl4_sept_walk_ok(v, a.level),
	     sp::sept_walk_ok(d, g, s, a.level), in);
	same("arborist_sept_target", arborist_sept_target(v, a.level), sp::sept_target(d, s, a.level), in);
	same(c.name[gi], c.status[gi](v, ca), o.status, [&] { return in() + " (_status)"; });

	bool ok = r.status == o.status && r.entry == sp::sept_target(d, o.post, a.level);
	for (u64 l = 0; l < sp::SEPT_LEVELS; l++)
		ok = ok && o.post.path[l] == (l == a.level ? r.entry : s.path[l]);
	ok = ok && r.child0 == o.post.child[0];
	for (std::size_t i = 0; i < sp::SEPT_FANOUT; i++)
		ok = ok && o.post.child[i] == (r.fill_children ? r.child0 : s.child[i]);
	ok = ok && r.target.pt == o.post.target.pt && r.target.bepoch == o.post.target.bepoch &&
	     r.operand_pt == o.post.operand_pt;
	const auto& t = o.post.td;
	ok = ok && r.td.lifecycle == t.lifecycle && r.td.op_state == t.op_state && r.td.fatal == t.fatal &&
	     r.td.tdcs_allocated == t.tdcs_allocated && r.td.chldcnt == t.chldcnt && r.td.num_vcpus == t.num_vcpus &&
	     r.td.num_assoc_vcpus == t.num_assoc_vcpus && r.td.wbinvd_pending == t.wbinvd_pending &&
	     r.td.epoch.td_epoch == t.epoch.td_epoch && r.td.epoch.refcount0 == t.epoch.refcount0 &&
	     r.td.epoch.refcount1 == t.epoch.refcount1;
	same(c.name[gi], ok, true, [&] {
		return in() + ": C status " + hex(r.status) + " entry " + hex(r.entry) + ", spec status " + hex(o.status) +
		       " entry " + hex(sp::sept_target(d, o.post, a.level));
	});
}

} // namespace sept_c

// Exhaustive over geometry x leaf x target state x lifecycle x OP_STATE x
// level x (fatal, TDCS allocated), two draws of the rest each.
TEST(ExtractDiff, SeptLeaves)
{
	using namespace sept_c;
	Words w(sp::ept_v6_19, 0x5e97ea);
	const std::pair<bool, bool> fatal_tdcs[] = {{false, true}, {true, true}, {false, false}};
	for (int gi = 0; gi < 2; gi++)
		for (const LeafC& c : leaves)
			for (const u64 entry : states)
				for (u64 lc = 0; lc < 4; lc++)
					for (u64 op = 0; op < 12; op++)
						for (u64 level = 0; level <= sp::SEPT_LEVELS; level++)
							for (const auto& [fatal, tdcs] : fatal_tdcs)
								for (int k = 0; k < 2; k++) {
									View s{};
									Args a{};
									a.level = level;
									fill_rest(w, s, a);
									if (level < sp::SEPT_LEVELS)
										s.path[level] = entry;
									s.td.lifecycle = lc;
									s.td.op_state = op;
									s.td.fatal = fatal;
									s.td.tdcs_allocated = tdcs;
									one(c, gi, s, a);
								}
}
