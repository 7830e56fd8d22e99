// SPDX-License-Identifier: GPL-2.0-only
//
// Concrete semantics of TLB epoch tracking (spec/arborist/tlb.hpp), as
// TDX module 1.5.01 does it: helpers.c, td_exit.c, tdh_mng_init.c,
// tdh_mem_range_block.c and tdh_mem_track.c (TDH.MNG.INIT, TDH.VP.ENTER's
// adjust_tlb_tracking_state, TD exit, RANGE.BLOCK's bepoch, TDH.MEM.TRACK and
// is_tlb_tracked).
// Expected statuses are the literal values of section 9.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arborist/tlb.hpp"

namespace {

namespace spec = arborist::spec;
namespace tdx_abi = arborist::tdx_abi;
using u64 = std::uint64_t;
using C = spec::Concrete;
using Epoch = spec::EpochState<C>;
using spec::Fault;

constexpr const C& cc = spec::concrete;

constexpr u64 SUCCESS = 0x0000000000000000ULL;
constexpr u64 PREVIOUS_TLB_EPOCH_BUSY = 0x8000020100000000ULL;
constexpr u64 BUSY_TD_EPOCH = 0x80000200000000A9ULL; // TDX_OPERAND_BUSY | TD_EPOCH (169)
constexpr u64 MIG_FLAG = u64{1} << 63;               // PAMT bepoch bit 63

constexpr Epoch epoch(u64 td_epoch, u64 refcount0, u64 refcount1)
{
	return {td_epoch, refcount0, refcount1};
}

constexpr bool tracked(const Epoch& e, u64 bepoch, Fault x = spec::no_fault)
{
	return spec::is_tlb_tracked(cc, e, bepoch, x);
}

// =============================================================================
// TDX module 1.5.01 helpers.c is_tlb_tracked(), "The predicate is_tlb_tracked(bepoch)".
// =============================================================================

TEST(TlbIsTracked, BlockedBeforeThePreviousEpochIsAlwaysTracked)
{
	// bepoch < td_epoch - 1: true whatever the refcounts.
	for (u64 rc0 : {0u, 1u, 3u})
		for (u64 rc1 : {0u, 2u})
			for (u64 b = 0; b < 5; b++) {
				SCOPED_TRACE("bepoch " + std::to_string(b));
				EXPECT_TRUE(tracked(epoch(6, rc0, rc1), b));
			}
}

TEST(TlbIsTracked, BlockedInThePreviousEpochNeedsThatEpochDrained)
{
	// bepoch == td_epoch - 1: true iff refcount[bepoch & 1] == 0.
	EXPECT_TRUE(tracked(epoch(6, 0, 0), 5));
	EXPECT_FALSE(tracked(epoch(6, 0, 1), 5)); // refcount[5 & 1] = refcount[1]
	EXPECT_TRUE(tracked(epoch(6, 4, 0), 5));  // the current epoch's vCPUs do not matter
	EXPECT_TRUE(tracked(epoch(7, 0, 0), 6));
	EXPECT_FALSE(tracked(epoch(7, 1, 0), 6)); // refcount[6 & 1] = refcount[0]
	EXPECT_TRUE(tracked(epoch(7, 0, 9), 6));
	EXPECT_TRUE(tracked(epoch(2, 0, 0), 1));
	EXPECT_FALSE(tracked(epoch(2, 0, 1), 1));
}

TEST(TlbIsTracked, BlockedInTheCurrentEpochIsNotTracked)
{
	// "In particular it is false if bepoch == td_epoch, i.e. TRACK has not run since the BLOCK."
	for (u64 e : {1u, 2u, 5u, 100u}) {
		EXPECT_FALSE(tracked(epoch(e, 0, 0), e));
		EXPECT_FALSE(tracked(epoch(e, 0, 0), e + 1)); // from the future
	}
}

TEST(TlbIsTracked, MigrationFlagIsNeverTracked)
{
	EXPECT_FALSE(tracked(epoch(6, 0, 0), MIG_FLAG | 1));
	EXPECT_FALSE(tracked(epoch(6, 0, 0), MIG_FLAG | 5));
	EXPECT_FALSE(tracked(epoch(6, 0, 0), MIG_FLAG));
	EXPECT_EQ(spec::BEPOCH_MIG_FLAG, MIG_FLAG);
}

TEST(TlbIsTracked, TruthTableAroundTheEpoch)
{
	// Exhaustive over small values, against the module's formula (helpers.h is_tlb_tracked()).
	for (u64 e = 1; e < 8; e++)
		for (u64 b = 0; b < 10; b++)
			for (u64 rc0 : {0u, 1u})
				for (u64 rc1 : {0u, 1u})
					for (bool mig : {false, true}) {
						const u64 bepoch = b | (mig ? MIG_FLAG : 0);
						const u64 rc_b = (b & 1) ? rc1 : rc0;
						const bool expected =
							!mig && (b + 1 < e || (b + 1 == e && rc_b == 0));
						EXPECT_EQ(tracked(epoch(e, rc0, rc1), bepoch), expected)
							<< "td_epoch " << e << " bepoch " << b << " rc " << rc0 << "," << rc1
							<< " mig " << mig;
					}
}

TEST(TlbIsTracked, InjectedFaultIgnoresTheRefcount)
{
	EXPECT_TRUE(tracked(epoch(6, 0, 1), 5, spec::faults::tracked_ignores_refcount));
	EXPECT_FALSE(tracked(epoch(6, 0, 1), 6, spec::faults::tracked_ignores_refcount));
}

// =============================================================================
// TDX module 1.5.01 helpers.c is_tlb_tracked(), tdh_mem_track.c: TDH.MEM.TRACK's epoch step.
// =============================================================================

TEST(TlbMemTrack, AdvancesTheEpochWhenThePreviousEpochIsEmpty)
{
	const auto r = spec::mem_track_epoch(cc, epoch(1, 0, 0), false);
	EXPECT_EQ(r.status, SUCCESS);
	EXPECT_EQ(r.epoch.td_epoch, 2u);
	EXPECT_EQ(r.epoch.refcount0, 0u);
	EXPECT_EQ(r.epoch.refcount1, 0u);
}

TEST(TlbMemTrack, VcpusOfTheCurrentEpochDoNotBlock)
{
	// td_epoch 4: current parity 0; previous parity 1 is empty.
	const auto r = spec::mem_track_epoch(cc, epoch(4, 3, 0), false);
	EXPECT_EQ(r.status, SUCCESS);
	EXPECT_EQ(r.epoch.td_epoch, 5u);
	EXPECT_EQ(r.epoch.refcount0, 3u); // TRACK does not touch the refcounts
}

TEST(TlbMemTrack, PreviousEpochBusyWhileAVcpuOfThePreviousEpochIsInside)
{
	// refcount[1 - (td_epoch & 1)] != 0
	for (const Epoch& e : {epoch(4, 0, 1), epoch(5, 2, 0), epoch(2, 1, 1)}) {
		SCOPED_TRACE("td_epoch " + std::to_string(e.td_epoch));
		const auto r = spec::mem_track_epoch(cc, e, false);
		EXPECT_EQ(r.status, PREVIOUS_TLB_EPOCH_BUSY);
		EXPECT_EQ(r.epoch.td_epoch, e.td_epoch);
		EXPECT_EQ(r.epoch.refcount0, e.refcount0);
		EXPECT_EQ(r.epoch.refcount1, e.refcount1);
	}
}

TEST(TlbMemTrack, EpochLockBusyComesFirst)
{
	for (const Epoch& e : {epoch(4, 0, 0), epoch(4, 0, 1)}) {
		const auto r = spec::mem_track_epoch(cc, e, true);
		EXPECT_EQ(r.status, BUSY_TD_EPOCH);
		EXPECT_EQ(r.epoch.td_epoch, 4u);
	}
	EXPECT_EQ(BUSY_TD_EPOCH, tdx_abi::with_operand(tdx_abi::status::TDX_OPERAND_BUSY, tdx_abi::operand::TD_EPOCH));
	EXPECT_EQ(PREVIOUS_TLB_EPOCH_BUSY, tdx_abi::status::TDX_PREVIOUS_TLB_EPOCH_BUSY);
}

TEST(TlbMemTrack, TrackedAfterTwoTracksWithNoVcpuInside)
{
	// "A second TRACK also implies this, because TRACK itself checks that the
	// previous epoch has drained."
	Epoch e = epoch(3, 0, 0);
	const u64 bepoch = 3;
	EXPECT_FALSE(tracked(e, bepoch));
	e = spec::mem_track_epoch(cc, e, false).epoch;
	EXPECT_TRUE(tracked(e, bepoch));
	e = spec::mem_track_epoch(cc, e, false).epoch;
	EXPECT_TRUE(tracked(e, bepoch));
}

TEST(TlbMemTrack, InjectedFaultIgnoresThePreviousEpoch)
{
	const auto r = spec::mem_track_epoch(cc, epoch(4, 0, 1), false, spec::faults::track_ignores_refcount);
	EXPECT_EQ(r.status, SUCCESS);
	EXPECT_EQ(r.epoch.td_epoch, 5u);
}

// =============================================================================
// TDX module 1.5.01 helpers.c is_tlb_tracked(): the vCPU model (TlbState).
// =============================================================================

constexpr std::size_t K = 3;
using State = spec::TlbState<C, K>;

// A scenario driver: each step must be enabled; after every step it checks
// the epoch invariant and the two soundness properties of tracking.
struct Scenario {
	State s = spec::tlb_initial<C, K>(cc);
	Fault x = spec::no_fault;
	bool enabled_ok = true; // every step was enabled and hit no KVM bug
	bool inv_ok = spec::tlb_epoch_invariant(cc, s);
	bool sound_ok = true;

	constexpr void check()
	{
		inv_ok = inv_ok && spec::tlb_epoch_invariant(cc, s);
		sound_ok = sound_ok && spec::tlb_tracked_no_stale(cc, s, x) && spec::tlb_tracked_no_early_vcpu(cc, s, x);
	}
	template <class Step>
	constexpr bool take(const Step& r)
	{
		enabled_ok = enabled_ok && r.enabled && !r.bug;
		s = r.post;
		check();
		return r.ok;
	}
	constexpr void enter(std::size_t v) { take(spec::tlb_vp_enter(cc, s, v, x)); }
	constexpr void exit(std::size_t v) { take(spec::tlb_td_exit(cc, s, v, x)); }
	constexpr void block() { take(spec::tlb_block(cc, s, x)); }
	constexpr bool track() { return take(spec::tlb_track(cc, s, x)); }
	constexpr bool page_tracked() const { return s.blocked && spec::is_tlb_tracked(cc, s.epoch, s.bepoch); }
	// A vCPU in the guest may use a translation of the blocked page.
	constexpr bool stale_inside() const
	{
		for (std::size_t v = 0; v < K; v++)
			if (s.in_guest[v] && s.stale[v])
				return true;
		return false;
	}
};

TEST(TlbState, InitialStateIsAfterMngInit)
{
	const State s = spec::tlb_initial<C, K>(cc);
	EXPECT_EQ(s.epoch.td_epoch, 1u);
	EXPECT_EQ(s.epoch.refcount0, 0u);
	EXPECT_EQ(s.epoch.refcount1, 0u);
	for (std::size_t v = 0; v < K; v++) {
		EXPECT_FALSE(s.in_guest[v]);
		EXPECT_FALSE(s.stale[v]);
	}
	EXPECT_FALSE(s.blocked);
	EXPECT_TRUE(spec::tlb_epoch_invariant(cc, s));
}

TEST(TlbState, EnterCountsTheVcpuInTheCurrentEpochsParity)
{
	State s = spec::tlb_initial<C, K>(cc);
	auto r = spec::tlb_vp_enter(cc, s, 0);
	EXPECT_TRUE(r.enabled);
	EXPECT_TRUE(r.ok);
	EXPECT_FALSE(r.bug);
	EXPECT_TRUE(r.post.in_guest[0]);
	EXPECT_EQ(r.post.vcpu_epoch[0], 1u);
	EXPECT_EQ(r.post.epoch.refcount1, 1u); // refcount[1 & 1]
	EXPECT_EQ(r.post.epoch.refcount0, 0u);
	// A vCPU already in the guest cannot enter again.
	EXPECT_FALSE(spec::tlb_vp_enter(cc, r.post, 0).enabled);
	s = r.post;
	s = spec::tlb_track(cc, s).post; // td_epoch 2: TRACK at epoch 1 checks epoch 0's parity, which is empty
	ASSERT_EQ(s.epoch.td_epoch, 2u);
	r = spec::tlb_vp_enter(cc, s, 1);
	EXPECT_EQ(r.post.vcpu_epoch[1], 2u);
	EXPECT_EQ(r.post.epoch.refcount0, 1u); // refcount[2 & 1]
	EXPECT_EQ(r.post.epoch.refcount1, 1u);
}

TEST(TlbState, ExitUncountsByTheVcpusOwnEpoch)
{
	State s = spec::tlb_initial<C, K>(cc);
	EXPECT_FALSE(spec::tlb_td_exit(cc, s, 0).enabled); // not in the guest
	s = spec::tlb_vp_enter(cc, s, 0).post; // epoch 1
	s = spec::tlb_track(cc, s).post;       // epoch 2
	const auto r = spec::tlb_td_exit(cc, s, 0);
	EXPECT_TRUE(r.enabled);
	EXPECT_FALSE(r.post.in_guest[0]);
	EXPECT_EQ(r.post.epoch.refcount1, 0u); // refcount[vcpu_epoch & 1], not the current parity
	EXPECT_EQ(r.post.epoch.refcount0, 0u);
	EXPECT_TRUE(spec::tlb_epoch_invariant(cc, r.post));
}

TEST(TlbState, BlockRecordsTheEpochAndMarksEveryVcpuStale)
{
	State s = spec::tlb_initial<C, K>(cc);
	s = spec::tlb_vp_enter(cc, s, 1).post; // vCPU 1 inside since epoch 1
	s = spec::tlb_track(cc, s).post;       // td_epoch 2
	ASSERT_EQ(s.epoch.td_epoch, 2u);
	const auto r = spec::tlb_block(cc, s);
	EXPECT_TRUE(r.enabled);
	EXPECT_TRUE(r.post.blocked);
	EXPECT_EQ(r.post.bepoch, s.epoch.td_epoch);
	// Inside or not: a TD exit does not flush, so any vCPU's TLB may hold it.
	for (std::size_t v = 0; v < K; v++)
		EXPECT_TRUE(r.post.stale[v]);
	EXPECT_FALSE(spec::tlb_block(cc, r.post).enabled); // blocked once
}

TEST(TlbState, TrackRefusedLeavesTheStateUnchanged)
{
	State s = spec::tlb_initial<C, K>(cc);
	s = spec::tlb_vp_enter(cc, s, 0).post; // epoch 1
	auto r = spec::tlb_track(cc, s);       // previous epoch 0 is empty
	ASSERT_TRUE(r.ok);
	s = r.post;
	r = spec::tlb_track(cc, s); // previous epoch 1 still has vCPU 0
	EXPECT_TRUE(r.enabled);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.post.epoch.td_epoch, s.epoch.td_epoch);
	EXPECT_EQ(r.post.epoch.refcount0, s.epoch.refcount0);
	EXPECT_EQ(r.post.epoch.refcount1, s.epoch.refcount1);
}

TEST(TlbScenario, StaleUntilTheVcpuOfTheBlockedEpochExits)
{
	Scenario sc;
	sc.enter(0); // vCPU 0 in the guest at epoch 1
	sc.block();  // bepoch 1: vCPU 0 may hold the translation
	EXPECT_EQ(sc.s.bepoch, 1u);
	EXPECT_TRUE(sc.s.stale[0]);
	EXPECT_FALSE(sc.page_tracked()); // bepoch == td_epoch

	EXPECT_TRUE(sc.track()); // td_epoch 2
	EXPECT_EQ(sc.s.epoch.td_epoch, 2u);
	EXPECT_TRUE(sc.s.stale[0]);
	EXPECT_FALSE(sc.page_tracked()); // refcount[1] = 1: vCPU 0 is still inside

	sc.enter(1); // a vCPU entering after TRACK flushes (new epoch) and does not hold the page up ...
	EXPECT_FALSE(sc.s.stale[1]);
	EXPECT_FALSE(sc.page_tracked());

	EXPECT_FALSE(sc.track()); // ... but the second TRACK is refused while vCPU 0 is inside
	EXPECT_EQ(sc.s.epoch.td_epoch, 2u);

	sc.exit(0);
	EXPECT_FALSE(sc.stale_inside());
	EXPECT_TRUE(sc.s.stale[0]);     // the exit did not flush vCPU 0's TLB ...
	EXPECT_TRUE(sc.page_tracked()); // tracked only after the exit
	sc.enter(0);                    // ... its entry at epoch 2 does
	EXPECT_FALSE(sc.s.stale[0]);

	EXPECT_TRUE(sc.enabled_ok);
	EXPECT_TRUE(sc.inv_ok);
	EXPECT_TRUE(sc.sound_ok);
}

// TDX module adjust_tlb_tracking_state(): a TD exit flushes nothing, and an
// entry flushes only when td_epoch moved since the vCPU's last entry.  A
// vCPU that left and re-entered at the blocked epoch still holds the page.
TEST(TlbScenario, ExitKeepsTranslationsUntilAnEntryAtANewEpoch)
{
	Scenario sc;
	sc.enter(0); // epoch 1: vCPU 0 may cache the page
	sc.block();  // bepoch 1
	sc.exit(0);
	EXPECT_TRUE(sc.s.stale[0]); // no flush on exit
	sc.enter(0);                // same epoch: no INVEPT
	EXPECT_TRUE(sc.s.stale[0]);
	EXPECT_TRUE(sc.stale_inside());
	EXPECT_FALSE(sc.page_tracked()); // bepoch == td_epoch
	EXPECT_TRUE(sc.track());         // epoch 2
	EXPECT_FALSE(sc.page_tracked()); // vCPU 0 is inside with epoch 1
	sc.exit(0);
	EXPECT_TRUE(sc.page_tracked());
	EXPECT_TRUE(sc.s.stale[0]); // still cached, but not in use
	sc.enter(0);                // epoch 2 != 1: flushed
	EXPECT_FALSE(sc.s.stale[0]);
	EXPECT_TRUE(sc.enabled_ok);
	EXPECT_TRUE(sc.inv_ok);
	EXPECT_TRUE(sc.sound_ok);

	// Without the flush at the new epoch, the page is tracked while vCPU 0
	// runs with its translation.
	Scenario bad;
	bad.x = spec::faults::enter_skips_flush;
	bad.enter(0);
	bad.block();
	bad.exit(0);
	EXPECT_TRUE(bad.track());
	bad.enter(0);
	EXPECT_TRUE(bad.page_tracked());
	EXPECT_FALSE(bad.sound_ok);
}

TEST(TlbScenario, SecondTrackIsPreviousEpochBusyWhileAnOldVcpuIsInside)
{
	Scenario sc;
	sc.enter(0);
	sc.enter(1);
	EXPECT_TRUE(sc.track()); // epoch 2; vCPUs 0 and 1 are from epoch 1
	const auto r = spec::mem_track_epoch(cc, sc.s.epoch, false);
	EXPECT_EQ(r.status, PREVIOUS_TLB_EPOCH_BUSY);
	sc.exit(0);
	EXPECT_FALSE(sc.track()); // vCPU 1 still inside
	sc.exit(1);
	EXPECT_TRUE(sc.track()); // epoch 3
	EXPECT_EQ(sc.s.epoch.td_epoch, 3u);
	EXPECT_TRUE(sc.enabled_ok);
	EXPECT_TRUE(sc.inv_ok);
	EXPECT_TRUE(sc.sound_ok);
}

TEST(TlbScenario, BlockWithNoVcpuInsideIsTrackedAfterOneTrack)
{
	Scenario sc;
	sc.enter(0);
	sc.exit(0);
	sc.block();
	EXPECT_FALSE(sc.stale_inside());
	EXPECT_FALSE(sc.page_tracked());
	EXPECT_TRUE(sc.track());
	EXPECT_TRUE(sc.page_tracked());
	sc.enter(0); // re-entering later does not untrack it
	sc.enter(2);
	EXPECT_TRUE(sc.page_tracked());
	EXPECT_TRUE(sc.inv_ok);
	EXPECT_TRUE(sc.sound_ok);
}

TEST(TlbScenario, VcpuThatReentersAfterTrackDoesNotHoldThePage)
{
	Scenario sc;
	sc.enter(0);
	sc.block();
	EXPECT_TRUE(sc.track());
	sc.exit(0);
	sc.enter(0); // re-enters at epoch 2: it cannot see the blocked entry
	EXPECT_FALSE(sc.s.stale[0]);
	EXPECT_TRUE(sc.page_tracked());
	EXPECT_TRUE(sc.track()); // previous epoch 1 is drained
	EXPECT_TRUE(sc.page_tracked());
	EXPECT_TRUE(sc.inv_ok);
	EXPECT_TRUE(sc.sound_ok);
}

TEST(TlbScenario, ManyEpochsKeepTheParitiesApart)
{
	// Parity reuse: a vCPU that stays inside across epochs must keep TRACK
	// from reaching its epoch's parity again.
	Scenario sc;
	sc.enter(0); // epoch 1 (parity 1)
	EXPECT_TRUE(sc.track()); // 2
	for (int i = 0; i < 4; i++)
		EXPECT_FALSE(sc.track()); // previous epoch 1 is never drained
	EXPECT_EQ(sc.s.epoch.td_epoch, 2u);
	sc.exit(0);
	for (u64 e = 3; e < 20; e++) {
		sc.enter(e % K);
		EXPECT_TRUE(sc.track());
		EXPECT_EQ(sc.s.epoch.td_epoch, e);
		sc.exit(e % K);
	}
	EXPECT_TRUE(sc.enabled_ok);
	EXPECT_TRUE(sc.inv_ok);
	EXPECT_TRUE(sc.sound_ok);
}

TEST(TlbInvariant, RejectsInconsistentStates)
{
	const State ok = spec::tlb_initial<C, K>(cc);
	ASSERT_TRUE(spec::tlb_epoch_invariant(cc, ok));

	State s = ok;
	s.epoch.td_epoch = 0; // MNG.INIT sets 1
	EXPECT_FALSE(spec::tlb_epoch_invariant(cc, s));

	s = ok;
	s.epoch.refcount1 = 1; // counted but nobody inside
	EXPECT_FALSE(spec::tlb_epoch_invariant(cc, s));

	s = spec::tlb_vp_enter(cc, ok, 0).post;
	s.vcpu_epoch[0] = 3; // epoch from the future
	EXPECT_FALSE(spec::tlb_epoch_invariant(cc, s));

	s = ok;
	s.stale[1] = true; // stale but nothing blocked
	EXPECT_FALSE(spec::tlb_epoch_invariant(cc, s));

	s = ok;
	s.blocked = true;
	s.bepoch = 2; // blocked in the future
	EXPECT_FALSE(spec::tlb_epoch_invariant(cc, s));

	s.bepoch = MIG_FLAG | 1;
	EXPECT_FALSE(spec::tlb_epoch_invariant(cc, s));
}

TEST(TlbInvariant, InjectedFaultsBreakIt)
{
	// TD entry counting the wrong parity, and TD exit not uncounting, break
	// the refcount part of the invariant at once.
	Scenario wrong_parity;
	wrong_parity.x = spec::faults::enter_wrong_parity;
	wrong_parity.enter(0);
	EXPECT_FALSE(wrong_parity.inv_ok);

	Scenario skip_exit;
	skip_exit.x = spec::faults::exit_skips_refcount;
	skip_exit.enter(0);
	skip_exit.exit(0);
	EXPECT_FALSE(skip_exit.inv_ok);

	// TRACK ignoring the refcount declares a page tracked while a vCPU that
	// saw it is still inside.
	Scenario bad_track;
	bad_track.x = spec::faults::track_ignores_refcount;
	bad_track.enter(0);
	bad_track.block();
	EXPECT_TRUE(bad_track.track());
	EXPECT_TRUE(bad_track.track());
	EXPECT_TRUE(bad_track.page_tracked());
	EXPECT_TRUE(bad_track.stale_inside());
	EXPECT_FALSE(bad_track.sound_ok);

	// is_tlb_tracked ignoring the refcount: unsound after a single TRACK.
	Scenario bad_tracked;
	bad_tracked.x = spec::faults::tracked_ignores_refcount;
	bad_tracked.enter(0);
	bad_tracked.block();
	EXPECT_TRUE(bad_tracked.track());
	EXPECT_FALSE(bad_tracked.sound_ok);
}

// Bounded exhaustive exploration from TDH.MNG.INIT: every sequence of up to
// `depth` enabled steps (enter/exit of each vCPU, BLOCK, TRACK) keeps the
// invariant and the soundness of is_tlb_tracked.
struct Explorer {
	Fault x = spec::no_fault;
	std::size_t states = 0;
	std::size_t refused_tracks = 0;
	std::size_t tracked_while_some_inside = 0;
	std::size_t violations = 0;

	template <std::size_t N>
	void dfs(const spec::TlbState<C, N>& s, unsigned depth)
	{
		states++;
		if (!spec::tlb_epoch_invariant(cc, s) || !spec::tlb_tracked_no_stale(cc, s, x) ||
		    !spec::tlb_tracked_no_early_vcpu(cc, s, x))
			violations++;
		if (s.blocked && spec::is_tlb_tracked(cc, s.epoch, s.bepoch, x))
			for (bool in : s.in_guest)
				if (in) {
					tracked_while_some_inside++;
					break;
				}
		if (depth == 0)
			return;
		for (std::size_t v = 0; v < N; v++) {
			const auto e = spec::tlb_vp_enter(cc, s, v, x);
			if (e.enabled)
				dfs(e.post, depth - 1);
			const auto t = spec::tlb_td_exit(cc, s, v, x);
			if (t.enabled)
				dfs(t.post, depth - 1);
		}
		const auto b = spec::tlb_block(cc, s, x);
		if (b.enabled)
			dfs(b.post, depth - 1);
		const auto t = spec::tlb_track(cc, s, x);
		if (t.enabled) {
			if (!t.ok)
				refused_tracks++;
			// TRACK is refused exactly when a vCPU of td_epoch - 1 is inside.
			bool old_inside = false;
			for (std::size_t v = 0; v < N; v++)
				old_inside = old_inside || (s.in_guest[v] && s.vcpu_epoch[v] + 1 == s.epoch.td_epoch);
			if (t.ok == old_inside)
				violations++;
			if (t.ok)
				dfs(t.post, depth - 1);
		}
	}
};

TEST(TlbExhaustive, TwoVcpusEightStepsKeepInvariantAndSoundness)
{
	Explorer ex;
	ex.dfs(spec::tlb_initial<C, 2>(cc), 8);
	EXPECT_EQ(ex.violations, 0u);
	EXPECT_GT(ex.states, 10000u);
	EXPECT_GT(ex.refused_tracks, 0u);          // the PREVIOUS_TLB_EPOCH_BUSY case is reached
	EXPECT_GT(ex.tracked_while_some_inside, 0u); // and so is "tracked with newer vCPUs inside"
}

TEST(TlbExhaustive, ThreeVcpusSevenStepsKeepInvariantAndSoundness)
{
	Explorer ex;
	ex.dfs(spec::tlb_initial<C, 3>(cc), 7);
	EXPECT_EQ(ex.violations, 0u);
	EXPECT_GT(ex.refused_tracks, 0u);
}

TEST(TlbExhaustive, FindsTheInjectedFaults)
{
	for (const Fault& f : {spec::faults::tracked_ignores_refcount, spec::faults::track_ignores_refcount,
			       spec::faults::enter_wrong_parity, spec::faults::exit_skips_refcount,
			       spec::faults::enter_keeps_epoch, spec::faults::block_records_zero,
			       spec::faults::enter_skips_flush}) {
		SCOPED_TRACE(std::string(f.name));
		Explorer ex;
		ex.x = f;
		ex.dfs(spec::tlb_initial<C, 2>(cc), 6);
		EXPECT_GT(ex.violations, 0u);
	}
}

// =============================================================================
// The same scenario in constant expressions (spec::concrete is constexpr).
// =============================================================================

static_assert(spec::is_tlb_tracked(cc, epoch(6, 0, 0), u64{5}));
static_assert(!spec::is_tlb_tracked(cc, epoch(6, 0, 1), u64{5}));
static_assert(!spec::is_tlb_tracked(cc, epoch(6, 0, 0), u64{6}));
static_assert(spec::is_tlb_tracked(cc, epoch(6, 7, 7), u64{4}));
static_assert(!spec::is_tlb_tracked(cc, epoch(6, 0, 0), MIG_FLAG | 1));
static_assert(spec::mem_track_epoch(cc, epoch(4, 0, 1), false).status == PREVIOUS_TLB_EPOCH_BUSY);
static_assert(spec::mem_track_epoch(cc, epoch(4, 1, 0), false).epoch.td_epoch == 5);
static_assert(spec::mem_track_epoch(cc, epoch(4, 0, 0), true).status == BUSY_TD_EPOCH);

static_assert([] {
	Scenario sc;
	sc.enter(0);
	sc.block();
	const bool stale_before = sc.s.stale[0] && !sc.page_tracked();
	const bool first_track = sc.track();
	const bool still_stale = sc.s.stale[0] && !sc.page_tracked();
	const bool second_track_refused = !sc.track();
	sc.exit(0);
	return stale_before && first_track && still_stale && second_track_refused && sc.page_tracked() &&
	       !sc.stale_inside() && sc.enabled_ok && sc.inv_ok && sc.sound_ok;
}());

} // namespace
