// SPDX-License-Identifier: GPL-2.0-only
//
// Bugs of omission: announced operations (conform/announce.h) and the
// effect the checker verifies at each.  For every omission kind, a small
// trace where the kernel did its work is accepted, and the same trace with
// the work left out is reported with the kind at the announcement's line;
// malformed and inconsistent announcements stop the run naming the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "conform/announce.h"
#include "trace_fixture.hpp"

namespace arborist::conform::test {

using support::hex_digits;
namespace {

const Where W{"t.txt", 7};

void expect_field_error(const std::function<void()>& f, std::string_view field, u64 line = 7)
{
	try {
		f();
		ADD_FAILURE() << "no error for field '" << field << "'";
	} catch (const ParseError& e) {
		EXPECT_EQ(e.field(), field) << e.what();
		EXPECT_EQ(e.line(), line) << e.what();
		EXPECT_TRUE(std::string(e.what()).starts_with("t.txt:" + std::to_string(line) + ": field '" +
							      std::string(field) + "': "))
			<< e.what();
	}
}

// The payload of an announcement line (what follows "tracing_mark_write: ").
std::string payload(const Announcement& a)
{
	const std::string r = render(a);
	return r.substr(r.find(": ") + 2);
}

Announcement op(OpKind k, u64 gfn = 0, u64 pages = 512, u32 slot = 1)
{
	Announcement a;
	a.op = k;
	a.vm = 1;
	a.slot = slot;
	a.gfn = gfn;
	a.pages = pages;
	return a;
}

TraceBuilder& announce(TraceBuilder& b, const Announcement& a, unsigned cpu = 1)
{
	return b.event("tracing_mark_write", payload(a), cpu);
}

// ---- the line format ----------------------------------------------------------------

TEST(Announcement, EveryOperationRoundTrips)
{
	for (std::size_t k = 0; k < NUM_OP_KINDS; k++) {
		Announcement a = op(static_cast<OpKind>(k), 0x400, 1024, 3);
		a.vm = 7;
		a.as_id = 1;
		a.old_gfn = k == static_cast<std::size_t>(OpKind::memslot_move) ? 0x3000 : 0;
		a.flags = k == static_cast<std::size_t>(OpKind::memslot_add) || k == static_cast<std::size_t>(OpKind::memslot_flags)
				  ? KVM_MEM_LOG_DIRTY_PAGES_FLAG
				  : 0;
		a.mode = k == static_cast<std::size_t>(OpKind::dirty_log_clear) ? DirtyMode::manual_initially_set
										: DirtyMode::wrprot;
		if (k == static_cast<std::size_t>(OpKind::unmap)) {
			a.slot = 0;
			a.hva = 0x7f0000200000;
			a.how = UnmapHow::munmap;
		}
		if (k == static_cast<std::size_t>(OpKind::vm_destroy))
			a = Announcement{OpKind::vm_destroy, 7};
		const std::string p = payload(a);
		EXPECT_TRUE(is_announcement(p)) << p;
		EXPECT_EQ(decode_announcement(p, W), a) << p;
		EXPECT_TRUE(p.starts_with(ARBORIST_OP_PREFIX + std::string(op_name(a.op)))) << p;
	}
	EXPECT_EQ(payload(op(OpKind::memslot_delete, 0x3000, 512, 2)),
		  "arborist-op: memslot-delete vm 1 as 0 slot 2 gfn 3000 pages 512");
	// The workload writes them with printf and the same format strings.
	char buf[160];
	std::snprintf(buf, sizeof(buf), ARBORIST_OP_PREFIX ARBORIST_OP_UNMAP, 1u, 0u, 0x600ull, 1ull, 0x7f0000200000ull,
		      ARBORIST_UNMAP_DONTNEED);
	const Announcement u = decode_announcement(buf, W);
	EXPECT_EQ(u.op, OpKind::unmap);
	EXPECT_EQ(u.gfn, 0x600u);
	EXPECT_EQ(u.hva, 0x7f0000200000u);
	EXPECT_FALSE(is_announcement("arborist-phase: a.create"));
}

TEST(Announcement, MalformedNamesTheField)
{
	const auto bad = [](std::string_view text, std::string_view field) {
		expect_field_error([&] { decode_announcement(text, W); }, field);
	};
	bad("arborist-op: memslot-frob vm 1", "op");
	bad("arborist-op:", "op");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn 0 pages 512", "flags");
	bad("arborist-op: memslot-add vm x as 0 slot 1 gfn 0 pages 512 flags 0", "vm");
	bad("arborist-op: memslot-add vm 1 as 256 slot 1 gfn 0 pages 512 flags 0", "as");
	bad("arborist-op: memslot-add vm 1 as 0 slot 65536 gfn 0 pages 512 flags 0", "slot");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn 0x1g pages 512 flags 0", "gfn");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn 0 pages 0x200 flags 0", "pages");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn 0 pages 0 flags 0", "pages");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn 0 pages 512 flags 100000000", "flags");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn 10000000000 pages 1 flags 0", "gfn");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn ffffffffff pages 2 flags 0", "pages");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 pages 512 gfn 0 flags 0", "gfn");
	bad("arborist-op: memslot-add vm 1 as 0 slot 1 gfn 0 pages 512 flags 0 extra", "flags");
	bad("arborist-op: memslot-move vm 1 as 0 slot 1 gfn 0 pages 512 old_gfn ffffffffff", "old_gfn");
	bad("arborist-op: dirty-log-get vm 1 as 0 slot 1 gfn 0 pages 512 dirty_mode sometimes", "dirty_mode");
	bad("arborist-op: unmap vm 1 as 0 gfn 0 pages 1 hva 1000 how free", "how");
	bad("arborist-op: vm-destroy vm", "vm");
}

// Through the checker: the file, the line and the field of a bad line,
// whatever comes before it; and announcements that contradict the ones
// before them (KVM would have refused the call).
TEST(Announcement, MalformedLineInATraceStopsTheRun)
{
	TraceBuilder b;
	link_tables(b);
	b.event("tracing_mark_write", "arborist-op: memslot-add vm 1 as 0 slot 1 gfn 0 pages 512 flags zz");
	expect_field_error([&] { check_text(b.text()); }, "flags", b.size());
}

TEST(Announcement, InconsistentWithEarlierOnesStopsTheRun)
{
	const auto run = [](const std::vector<Announcement>& ops, std::string_view field) {
		TraceBuilder b;
		for (const Announcement& a : ops)
			announce(b, a);
		expect_field_error([&] { check_text(b.text()); }, field, b.size());
	};
	const Announcement add = op(OpKind::memslot_add);
	Announcement other = add;
	other.slot = 2;
	run({add, add}, "slot");                                 // added twice
	run({add, other}, "gfn");                                // overlapping slots of one VM
	run({op(OpKind::memslot_delete)}, "slot");               // never added
	run({add, op(OpKind::memslot_delete, 0x200)}, "gfn");    // not where it is
	run({add, op(OpKind::memslot_delete, 0, 256)}, "pages"); // not its size
	Announcement move = op(OpKind::memslot_move, 0x1000);
	move.old_gfn = 0x200;
	run({add, move}, "old_gfn");
	Announcement flags = op(OpKind::memslot_flags);
	flags.old_flags = KVM_MEM_LOG_DIRTY_PAGES_FLAG;
	run({add, flags}, "old_flags");
	run({add, op(OpKind::dirty_log_get)}, "slot"); // no dirty logging on the slot
	Announcement on = op(OpKind::memslot_flags);
	on.flags = KVM_MEM_LOG_DIRTY_PAGES_FLAG;
	run({add, on, op(OpKind::dirty_log_clear)}, "dirty_mode"); // CLEAR without manual protection
	run({add, on, op(OpKind::dirty_log_get, 0x100, 512)}, "gfn");
	run({Announcement{OpKind::vm_destroy, 9}}, "vm");
}

TEST(Announcement, AtMost4096MemslotsAliveAtOnce)
{
	// The bound that keeps every announcement's cost bounded
	// (docs/conformance.md "Bugs of omission"); a vm-destroy frees them.
	TraceBuilder b;
	for (u32 k = 0; k < 4096; k++) {
		Announcement a = op(OpKind::memslot_add, k, 1, k % 65536);
		a.vm = 1 + k / 1024;
		announce(b, a);
	}
	announce(b, Announcement{OpKind::vm_destroy, 4});
	for (u32 k = 0; k < 1024; k++) {
		Announcement a = op(OpKind::memslot_add, k, 1, k);
		a.vm = 5;
		announce(b, a);
	}
	const CheckResult full = check_text(b.text());
	EXPECT_EQ(full.stats.announcements, 4096u + 1 + 1024);
	EXPECT_TRUE(full.violations.empty());
	Announcement more = op(OpKind::memslot_add, 0x200000, 1, 1);
	more.vm = 9;
	announce(b, more);
	expect_field_error([&] { check_text(b.text()); }, "slot", b.size());
}

// ---- each omission, and the correct trace ---------------------------------------------
//
// A VM with slot 1 over GFN 0-1ff (the tables of link_tables()); a 4K leaf
// at GFN 5, writable.

constexpr u64 LEAF = leaf(0x5005);

TraceBuilder vm_with_leaf(const Announcement& add = op(OpKind::memslot_add))
{
	TraceBuilder b;
	announce(b, add);
	link_tables(b);
	b.change(5, 1, 0, LEAF);
	return b;
}

struct Outcome {
	CheckResult r;
	std::size_t line; // of the last announcement
};

Outcome run(TraceBuilder& b, const Announcement& a, const Profile& p = linux_6_1_npt)
{
	announce(b, a);
	return Outcome{check_text(b.text(), p), b.size()};
}

void expect_accepted(const Outcome& o, u64 checks = 1)
{
	EXPECT_TRUE(o.r.violations.empty()) << kinds(o.r);
	EXPECT_EQ(o.r.stats.omission_checks, checks);
	EXPECT_EQ(o.r.stats.omission_unchecked, 0u);
}

void expect_omission(const Outcome& o, std::string_view kind, std::string_view gfn_text)
{
	ASSERT_EQ(o.r.violations.size(), 1u) << kinds(o.r);
	const Violation& v = o.r.violations.front();
	EXPECT_EQ(v.kind, kind);
	EXPECT_EQ(v.line, o.line);
	EXPECT_NE(v.message.find(gfn_text), std::string::npos) << v.message;
	EXPECT_FALSE(v.rule.empty());
	EXPECT_FALSE(v.source.empty());
	EXPECT_FALSE(v.slot.empty());
	EXPECT_FALSE(v.history.empty()); // the install of the leaf left behind
}

TEST(Omission, MemslotDeleteZapsTheSlot)
{
	TraceBuilder ok = vm_with_leaf();
	ok.zap_all_fast();
	ok.change(0, 4, nonleaf(0x100), 0); // kvm_tdp_mmu_zap_invalidated_roots()
	ok.change(0, 3, nonleaf(0x101), REMOVED);
	ok.change(0, 2, nonleaf(0x102), REMOVED);
	ok.change(5, 1, LEAF, REMOVED);
	expect_accepted(run(ok, op(OpKind::memslot_delete)));

	TraceBuilder bad = vm_with_leaf();
	bad.zap_all_fast(); // the roots invalidated, never zapped
	expect_omission(run(bad, op(OpKind::memslot_delete)), "omission.memslot-zap", "gfn 5 level 1 = " + hex_digits(LEAF));
}

TEST(Omission, MemslotMoveZapsTheOldRangeOnly)
{
	Announcement move = op(OpKind::memslot_move, 0x1000);
	move.old_gfn = 0;
	TraceBuilder ok = vm_with_leaf();
	ok.change(5, 1, LEAF, 0);
	ok.change(0x1000, 2, 0, nonleaf(0x200)); // after the move, the new range faults in
	ok.change(0x1005, 1, 0, leaf(0x5005));
	expect_accepted(run(ok, move));

	TraceBuilder bad = vm_with_leaf();
	expect_omission(run(bad, move), "omission.memslot-zap", "gfn 5 level 1");
}

TEST(Omission, ALeafAnotherMemslotCoversIsNotAnOmission)
{
	// Slot 2 of VM 2 covers GFN 0-1ff too (the tracepoints do not say
	// which VM a root is of), so the leaf may be VM 2's.
	Announcement other = op(OpKind::memslot_add, 0, 512, 2);
	other.vm = 2;
	TraceBuilder b = vm_with_leaf();
	announce(b, other);
	const Outcome o = run(b, op(OpKind::memslot_delete));
	expect_accepted(o);
}

TEST(Omission, UnmapZapsEveryLeafOverTheRange)
{
	Announcement unmap = op(OpKind::unmap, 4, 2, 0);
	unmap.hva = 0x7f0000004000;
	TraceBuilder ok = vm_with_leaf();
	ok.change(5, 1, LEAF, 0);
	expect_accepted(run(ok, unmap));

	TraceBuilder bad = vm_with_leaf();
	expect_omission(run(bad, unmap), "omission.notifier-zap", "gfn 5 level 1");

	// A 2M leaf over GFN 0-1ff maps the one page unmapped at GFN 10.
	TraceBuilder huge;
	announce(huge, op(OpKind::memslot_add));
	huge.root();
	huge.change(0, 4, 0, nonleaf(0x100));
	huge.change(0, 3, 0, nonleaf(0x101));
	huge.change(0, 2, 0, leaf(0x7200, 2));
	expect_omission(run(huge, op(OpKind::unmap, 0x10, 1, 0)), "omission.notifier-zap", "gfn 0 level 2");

	// Leaves beside the range stay.
	TraceBuilder beside = vm_with_leaf();
	expect_accepted(run(beside, op(OpKind::unmap, 6, 10, 0)));
}

TEST(Omission, UnmapZapsInvalidRootsToo)
{
	// kvm_tdp_mmu_unmap_gfn_range() walks invalid roots: one that still maps
	// the page would let the guest reach a freed page.
	TraceBuilder bad = vm_with_leaf();
	bad.zap_all_fast();
	expect_omission(run(bad, op(OpKind::unmap, 5, 1, 0)), "omission.notifier-zap", "gfn 5 level 1");
}

Announcement dirty_on(DirtyMode mode = DirtyMode::wrprot)
{
	Announcement a = op(OpKind::memslot_flags);
	a.flags = KVM_MEM_LOG_DIRTY_PAGES_FLAG;
	a.mode = mode;
	return a;
}

TEST(Omission, DirtyLoggingOnWriteProtectsTheSlot)
{
	TraceBuilder ok = vm_with_leaf();
	ok.change(5, 1, LEAF, leaf_wrprot(0x5005));
	expect_accepted(run(ok, dirty_on()));

	TraceBuilder bad = vm_with_leaf();
	expect_omission(run(bad, dirty_on()), "omission.dirty-log-enable", "gfn 5 level 1 = " + hex_digits(LEAF));

	// With INITIALLY_SET, kvm_mmu_slot_apply_flags() protects nothing.
	TraceBuilder initially_set = vm_with_leaf();
	expect_accepted(run(initially_set, dirty_on(DirtyMode::manual_initially_set)), 0);

	// An invalid root is not walked (kvm_tdp_mmu_wrprot_slot() takes the
	// valid roots); a vCPU leaves it on its next entry.
	TraceBuilder invalid = vm_with_leaf();
	invalid.zap_all_fast();
	expect_accepted(run(invalid, dirty_on()));
}

TEST(Omission, DirtyLogGetWriteProtectsWhatWasWritten)
{
	TraceBuilder b = vm_with_leaf();
	b.change(5, 1, LEAF, leaf_wrprot(0x5005));
	announce(b, dirty_on());
	// The vCPU writes GFN 5: the fast path restores W (fast_pf_fix_direct_spte()).
	b.event("fast_page_fault", "vcpu 0 gva 5000 error_code P|W sptep 00000000a1b2c3d4 old 0x" + hex_digits(leaf_wrprot(0x5005)) +
					   " new " + hex_digits(LEAF) + " spurious 0 fixed 1");
	TraceBuilder ok = b;
	ok.change(5, 1, LEAF, leaf_wrprot(0x5005));
	expect_accepted(run(ok, op(OpKind::dirty_log_get)), 2);

	TraceBuilder bad = b;
	expect_omission(run(bad, op(OpKind::dirty_log_get)), "omission.dirty-log-protect", "gfn 5 level 1");

	// With manual protection, GET only copies the bitmap; CLEAR protects.
	Announcement get = op(OpKind::dirty_log_get);
	get.mode = DirtyMode::manual;
	TraceBuilder manual = b;
	expect_accepted(run(manual, get), 1);
	Announcement clear = op(OpKind::dirty_log_clear, 0, 64);
	clear.mode = DirtyMode::manual;
	TraceBuilder cleared = b;
	expect_omission(run(cleared, clear), "omission.dirty-log-protect", "gfn 5 level 1");
	TraceBuilder elsewhere = b; // a CLEAR of GFN 40-7f leaves GFN 5 alone
	clear.gfn = 0x40;
	expect_accepted(run(elsewhere, clear), 2);
}

TEST(Omission, PmlClearsTheDirtyBitOfA4KLeafInstead)
{
	// Intel EPT with PML: kvm_mmu_slot_leaf_clear_dirty() clears D, W stays.
	const spec::SpteFlavor& f = spec::ept_v6_19;
	const u64 np = spec::nonpresent_spte(spec::concrete, f);
	const u64 writable = leaf(0x5005, 1, f) | f.dirty;
	const auto trace = [&](u64 after) {
		TraceBuilder b;
		announce(b, op(OpKind::memslot_add));
		link_tables(b, f);
		b.change(5, 1, np, writable);
		if (after != writable)
			b.change(5, 1, writable, after);
		return b;
	};
	TraceBuilder pml = trace(writable & ~f.dirty);
	expect_accepted(run(pml, dirty_on(), linux_6_12_ept));
	TraceBuilder wrprot = trace(writable & ~f.writable);
	expect_accepted(run(wrprot, dirty_on(), linux_6_12_ept));
	TraceBuilder neither = trace(writable);
	expect_omission(run(neither, dirty_on(), linux_6_12_ept), "omission.dirty-log-enable", "gfn 5 level 1");
	// NPT has no PML: a cleared dirty bit does not protect.
	const u64 npt_clean = LEAF & ~spec::npt_v6_1.dirty;
	TraceBuilder npt = vm_with_leaf();
	npt.change(5, 1, LEAF, npt_clean);
	expect_omission(run(npt, dirty_on()), "omission.dirty-log-enable", "gfn 5 level 1");
}

TEST(Omission, DestroyedVmsMemslotsAreGone)
{
	// After VM 2 is destroyed its slot no longer excuses a leaf.
	Announcement other = op(OpKind::memslot_add, 0, 512, 2);
	other.vm = 2;
	TraceBuilder b = vm_with_leaf();
	announce(b, other);
	announce(b, Announcement{OpKind::vm_destroy, 2});
	expect_omission(run(b, op(OpKind::memslot_delete)), "omission.memslot-zap", "gfn 5 level 1");
}

TEST(Omission, NotCheckedWhereTheTablesOrMemslotsAreNotAllKnown)
{
	// After a loss marker the announcements may be lost too: a delete of
	// a slot never seen is taken as it comes, and nothing is checked.
	TraceBuilder b = vm_with_leaf();
	b.raw("CPU:1 [LOST 3 EVENTS]");
	const Outcome o = run(b, op(OpKind::memslot_delete, 0x4000, 8, 9));
	EXPECT_TRUE(o.r.violations.empty()) << kinds(o.r);
	EXPECT_EQ(o.r.stats.omission_checks, 0u);
	EXPECT_EQ(o.r.stats.omission_unchecked, 1u);
	EXPECT_EQ(o.r.stats.announcements, 2u);

	TraceBuilder partial = vm_with_leaf();
	announce(partial, op(OpKind::memslot_delete));
	const CheckResult p = check_text(partial.text(), linux_6_1_npt, true);
	EXPECT_TRUE(p.violations.empty()) << kinds(p);
	EXPECT_EQ(p.stats.omission_unchecked, 1u);
}

TEST(Omission, TracesWithoutAnnouncementsAreReplayedAsBefore)
{
	TraceBuilder plain;
	link_tables(plain);
	plain.change(5, 1, 0, LEAF);
	plain.event("tracing_mark_write", "arborist-phase: a.create");
	const CheckResult r = check_text(plain.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.announcements, 0u);
	EXPECT_EQ(r.stats.omission_checks, 0u);
	EXPECT_EQ(r.stats.other_events.at("tracing_mark_write"), 1u);
}

// ---- a real capture (tests/data/linux-6.12-npt-announced) -------------------------------

const std::string ANNOUNCED = ARBORIST_TEST_DATA "/linux-6.12-npt-announced/trace.txt";

std::vector<std::string> announced_lines()
{
	std::vector<std::string> v;
	std::istringstream in(read_file(ANNOUNCED));
	for (std::string l; std::getline(in, l);)
		v.push_back(l);
	return v;
}

TEST(RealCapture, AnnouncedDirtyLogOperationsAreAccepted)
{
	const CheckResult r = check_text(join(announced_lines()), linux_6_12_npt);
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_FALSE(r.stats.partial);
	EXPECT_EQ(r.stats.announcements, 14u);
	EXPECT_EQ(r.stats.omission_checks, 4u); // b's clear, d's enable and two gets
	EXPECT_EQ(r.stats.omission_unchecked, 0u);
}

// The last write-protection (W cleared on a present 4K leaf) before the
// announcement `what`, taken out: the kernel "forgot" it.
void expect_forgotten_wrprot(std::string_view what)
{
	std::vector<std::string> t = announced_lines();
	const std::size_t at = find_line(t, what);
	ASSERT_NE(at, 0u) << what;
	std::size_t drop = 0;
	for (std::size_t n = 1; n < at; n++) {
		const std::string& l = t[n - 1];
		const std::size_t o = l.find("old_spte "), w = l.find(" new_spte ");
		if (l.find("kvm_tdp_mmu_spte_changed") == std::string::npos || o == std::string::npos ||
		    l.find(" level 1 ") == std::string::npos)
			continue;
		const u64 old_spte = std::stoull(l.substr(o + 9, w - o - 9), nullptr, 16);
		const u64 new_spte = std::stoull(l.substr(w + 10), nullptr, 16);
		if (spec::is_writable_pte(spec::concrete, spec::npt_v6_10, old_spte) &&
		    !spec::is_writable_pte(spec::concrete, spec::npt_v6_10, new_spte) &&
		    spec::is_shadow_present_pte(spec::concrete, spec::npt_v6_10, new_spte))
			drop = n;
	}
	ASSERT_NE(drop, 0u);
	t.erase(t.begin() + static_cast<std::ptrdiff_t>(drop - 1));
	const CheckResult r = check_text(join(t), linux_6_12_npt);
	ASSERT_FALSE(r.violations.empty());
	EXPECT_EQ(r.violations.front().kind, "omission.dirty-log-protect") << kinds(r);
	EXPECT_EQ(r.violations.front().line, at - 1) << kinds(r);
}

TEST(RealCapture, ForgottenWriteProtectionBeforeAGet)
{
	expect_forgotten_wrprot("arborist-op: dirty-log-get vm 4");
}

TEST(RealCapture, ForgottenWriteProtectionBeforeAClear)
{
	expect_forgotten_wrprot("arborist-op: dirty-log-clear vm 2");
}

TEST(Omission, EveryKindHasATest)
{
	const std::vector<std::string_view> tested = {"omission.memslot-zap", "omission.notifier-zap",
						      "omission.dirty-log-enable", "omission.dirty-log-protect"};
	std::size_t n = 0;
	for (const ViolationKind& k : violation_kinds())
		if (k.kind.starts_with("omission.")) {
			n++;
			EXPECT_NE(std::find(tested.begin(), tested.end(), k.kind), tested.end()) << k.kind;
		}
	EXPECT_EQ(n, tested.size());
}

// docs/trace-format.md is the contract producers write from: it must show
// every format exactly as conform/announce.h has it, and
// docs/conformance.md every omission kind.
TEST(Omission, DocsShowEveryFormatAndKind)
{
	const std::string formats = read_file(ARBORIST_TEST_DATA "/../../docs/trace-format.md");
	for (std::size_t k = 0; k < NUM_OP_KINDS; k++)
		EXPECT_NE(formats.find("`" + std::string(op_format(static_cast<OpKind>(k))) + "`"), std::string::npos)
			<< op_format(static_cast<OpKind>(k));
	const std::string conformance = read_file(ARBORIST_TEST_DATA "/../../docs/conformance.md");
	for (const ViolationKind& k : violation_kinds()) {
		if (k.kind.starts_with("omission.")) {
			EXPECT_NE(conformance.find("`" + std::string(k.kind) + "`"), std::string::npos) << k.kind;
		}
	}
}

} // namespace
} // namespace arborist::conform::test
