// SPDX-License-Identifier: GPL-2.0-only
//
// Traces from many CPUs (docs/conformance.md "Traces from many CPUs"): the
// replay accepts a trace when some order of its events, consistent with
// each CPU's own order, explains it, and still reports a real lost update
// between CPUs and a kvm_mmu_set_spte value that no CPU wrote.
#include <algorithm>
#include <sstream>

#include "trace_fixture.hpp"

namespace arborist::conform::test {

using support::hex_digits;
namespace {

// A root with tables down to level 1 (pfn 0x102, gfn 0-1ff), by CPU 0.
TraceBuilder tables()
{
	TraceBuilder b;
	link_tables(b, spec::npt_v6_1, 0);
	return b;
}

std::string set_spte(u64 gfn, u64 spte)
{
	return "gfn " + hex_digits(gfn) + " spte " + hex_digits(spte) + " (rwxu) level 1 at " + hex_digits((0x102ull << 12) + gfn * 8);
}

const u64 A = leaf(0x3fdfa);                    // ...e67
const u64 B = A & ~spec::npt_v6_1.dirty;        // ...e27: the same page, D cleared
const u64 C = leaf_wrprot(0x3fdfa);             // ...e65

TEST(Linearize, SetSpteShowsALaterWriteOfAnotherCpu)
{
	// 6.1.0-47, trace_clock global: CPU 1's write happened before CPU 0's
	// tracepoint read the entry, but its event comes later.
	TraceBuilder b = tables();
	b.change(1, 1, 0, A, 0);
	b.event("kvm_mmu_set_spte", set_spte(1, B), 0);
	b.change(1, 1, A, B, 1);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.reordered, 1u);
}

TEST(Linearize, SetSpteShowsAnEarlierTracedWriteOfAnotherCpu)
{
	// The other CPU's change is traced first, then a third one moved the
	// entry on: kvm_mmu_set_spte still shows a value the entry held after
	// this CPU's change.
	TraceBuilder b = tables();
	b.change(1, 1, 0, A, 0);
	b.change(1, 1, A, B, 1);
	b.change(1, 1, B, C, 1);
	b.event("kvm_mmu_set_spte", set_spte(1, B), 0);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
}

// CPU 0's fault installs A at gfn 1 in table 102; CPU 1 then unlinks 101
// (a zap under mmu_lock for read), freezes 102's link and the leaf
// (handle_removed_pt()) and goes on to its next fault, which ends its
// teardown; CPU 0's kvm_mmu_set_spte has yet to come.
TraceBuilder install_then_torn_down()
{
	TraceBuilder b = tables();
	b.event("kvm_mmu_spte_requested", "gfn 1 pfn 3fdfa level 1", 0);
	b.change(1, 1, 0, A, 0);
	b.change(0, 3, nonleaf(0x101), 0, 1);
	b.change(0, 2, nonleaf(0x102), REMOVED, 1);
	b.change(1, 1, A, REMOVED, 1);
	b.event("kvm_mmu_spte_requested", "gfn 200 pfn 3fdfb level 1", 1);
	return b;
}

TEST(Linearize, SetSpteReadsAnEntryOfATableAnotherCpuTornDown)
{
	// Debian 6.1.192, phase c.zap-while-fill: CPU 0 installs a leaf in
	// table 102 of a root CPU 1 is zapping under mmu_lock for read; CPU 1
	// unlinks 101, freezes 102's link and its leaf (handle_removed_pt())
	// and goes on; only then does CPU 0's tracepoint read the entry.  It
	// holds rcu_read_lock() from its walk to that read, so table 102 is
	// not freed yet (call_rcu(), tdp_mmu_free_sp_rcu_callback()) and the
	// read shows the frozen value.
	TraceBuilder b = install_then_torn_down();
	b.event("kvm_mmu_set_spte", set_spte(1, REMOVED), 0);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.tables_torn_down, 2u);
}

TEST(Linearize, SetSpteReadsAnEntryOfATableTornDownAfterItsInstall)
{
	// Debian 6.1.192, phase c.zap-while-fill, trace_clock global, loaded
	// host: CPU 1's clock was held back to the global clock, so its events
	// carry one timestamp and come after CPU 0's of that timestamp.  CPU
	// 0 unlinked table 102 and froze CPU 1's leaf there; CPU 1's fault,
	// whose events all come after that, wrote the leaf: its walk reached
	// 102 before the unlink, so its kvm_mmu_spte_requested is CPU 1's
	// order, not the unlink's.  By its kvm_mmu_set_spte CPU 0 has moved on
	// and 102 is freed -- after call_rcu(), so the read is legal.
	TraceBuilder b = tables();
	b.change(0, 3, nonleaf(0x101), REMOVED, 0);
	b.change(0, 2, nonleaf(0x102), REMOVED, 0);
	b.change(1, 1, A, REMOVED, 0);
	b.event("kvm_mmu_spte_requested", "gfn 200 pfn 3fdfb level 1", 0); // ends CPU 0's teardown
	b.event("kvm_mmu_spte_requested", "gfn 1 pfn 3fdfa level 1", 1);
	b.change(1, 1, 0, A, 1);
	b.event("kvm_mmu_set_spte", set_spte(1, A), 1);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.tables_torn_down, 2u);
	EXPECT_EQ(r.stats.forced, 0u);
}

TEST(Linearize, SetSpteOnATornDownTableMustShowAValueOfItsEntry)
{
	// The same, but the read shows a value the entry never held after
	// CPU 0's change: still a mismatch, named with the torn-down table.
	TraceBuilder b = install_then_torn_down();
	b.event("kvm_mmu_set_spte", set_spte(1, C), 0);
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.set-spte-mismatch");
	EXPECT_EQ(r.violations[0].line, b.size());
}

TEST(Linearize, SetSpteOnATableTornDownBeforeTheFaultIsAMismatch)
{
	// A table torn down before this CPU's fault began cannot be one its
	// walk reached: naming it is a read of freed memory.
	TraceBuilder b = tables();
	b.change(1, 1, 0, A, 0);
	b.change(0, 3, nonleaf(0x101), 0, 1);
	b.change(0, 2, nonleaf(0x102), REMOVED, 1);
	b.change(1, 1, A, REMOVED, 1);
	b.event("kvm_mmu_spte_requested", "gfn 200 pfn 3fdfb level 1", 1);
	b.event("kvm_mmu_spte_requested", "gfn 1 pfn 3fdfa level 1", 0);
	b.event("kvm_mmu_set_spte", set_spte(1, REMOVED), 0);
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.set-spte-mismatch");
}

// Root 1 (tables 100, 101, 102 over gfn 0-1ff, by CPU 0) invalidated by
// kvm_mmu_zap_all_fast, and root 2 refilling the same range (tables 200,
// 201, 202): both level-1 tables hold gfn 1 non-present.  Then CPU 0's
// zap of root 1 unlinks 101 and freezes 102's link (handle_removed_pt(),
// mmu_lock for read).
TraceBuilder two_roots_one_torn_down()
{
	TraceBuilder b = tables();
	b.event("kvm_mmu_zap_all_fast", "kvm-mmu-valid-gen 1 used_pages 4", 0);
	b.event("kvm_mmu_get_page", "sp gen 1 gfn 0 l4 8-byte q0 direct wux nxe ad root 0 sync new", 0);
	b.change(0, 4, 0, nonleaf(0x200), 0);
	b.change(0, 3, 0, nonleaf(0x201), 0);
	b.change(0, 2, 0, nonleaf(0x202), 0);
	b.change(0, 3, nonleaf(0x101), REMOVED, 0);
	b.change(0, 2, nonleaf(0x102), REMOVED, 0);
	return b;
}

TEST(Linearize, AnInstallTwoTablesCouldTakeGoesWhereItsSetSpteSays)
{
	// Debian 6.1.192, phase c.zap-while-fill, CPU 1's clock 2 ms ahead:
	// CPU 1's fault wrote gfn 1 in table 102 before CPU 0 froze it, but
	// its events come after CPU 0's freeze, which waits for them.  Both
	// 102 (being torn down) and 202 (valid root) hold 0 there; the fault's
	// kvm_mmu_set_spte names 102, so the install is 102's, and CPU 0's
	// freeze then finds the value it replaced.  Taking 202 (the valid
	// root's, as the rank alone says) leaves the freeze to take 202's
	// value and the kvm_mmu_set_spte naming a table torn down before this
	// fault began.
	TraceBuilder b = two_roots_one_torn_down();
	b.change(1, 1, A, REMOVED, 0);
	b.event("kvm_mmu_spte_requested", "gfn 200 pfn 3fdfb level 1", 0); // ends CPU 0's teardown
	b.event("kvm_mmu_spte_requested", "gfn 1 pfn 3fdfa level 1", 1);
	b.change(1, 1, 0, A, 1);
	b.event("kvm_mmu_set_spte", set_spte(1, A), 1);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.tables_torn_down, 2u);
	EXPECT_EQ(r.stats.forced, 0u);
	EXPECT_EQ(r.stats.reordered, 2u); // CPU 0's freeze and request, not CPU 1's own pair
}

TEST(Linearize, AnInstallInATableWhoseTeardownPassedItIsAnOrphan)
{
	// Known-bad twin: CPU 0's teardown froze index 2 of table 102 but not
	// index 1 (a teardown under mmu_lock for read freezes every child, 0
	// included, so that no fault can write one after it), and CPU 1's
	// fault installed there: the page stays mapped in a freed table.
	TraceBuilder b = two_roots_one_torn_down();
	b.change(2, 1, 0, REMOVED, 0);
	b.event("kvm_mmu_spte_requested", "gfn 1 pfn 3fdfa level 1", 1);
	b.change(1, 1, 0, A, 1);
	b.event("kvm_mmu_set_spte", set_spte(1, A), 1);
	b.event("kvm_mmu_spte_requested", "gfn 200 pfn 3fdfb level 1", 0); // ends CPU 0's teardown
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.orphaned-table");
	EXPECT_NE(r.violations[0].message.find("index 1 gfn 1 = " + hex_digits(A)), std::string::npos)
		<< r.violations[0].message;
}

TEST(Linearize, AnInstallOverAFrozenEntryIsStillAMismatch)
{
	// Known-bad twin: CPU 0's teardown froze gfn 1 of table 102 from 0,
	// then CPU 1's fault claims to have written 102's entry from 0: no
	// order explains it (a cmpxchg from 0 fails on the frozen value), so
	// its kvm_mmu_set_spte is a mismatch, whichever table took the install.
	TraceBuilder b = two_roots_one_torn_down();
	b.change(1, 1, 0, REMOVED, 0);
	b.event("kvm_mmu_spte_requested", "gfn 1 pfn 3fdfa level 1", 1);
	b.change(1, 1, 0, A, 1);
	b.event("kvm_mmu_set_spte", set_spte(1, A), 1);
	b.event("kvm_mmu_spte_requested", "gfn 200 pfn 3fdfb level 1", 0);
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.set-spte-mismatch");
	EXPECT_EQ(r.violations[0].line, b.size() - 1);
}

TEST(Linearize, ChangesOfTwoCpusInEitherOrder)
{
	// CPU 0 changed 0 -> A, CPU 1 then A -> B; CPU 1's event is first.
	TraceBuilder b = tables();
	b.change(1, 1, A, B, 1);
	b.change(1, 1, 0, A, 0);
	b.change(2, 1, 0, A + 0x1000, 1); // CPU 1 goes on after its held event
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.reordered, 1u);
	EXPECT_EQ(r.stats.forced, 0u);
}

TEST(Linearize, AnInstallBeforeTheLinkOfItsTable)
{
	// CPU 1 walked into the table CPU 0 had just linked; CPU 0's link
	// event comes after CPU 1's install.
	TraceBuilder b;
	b.root();
	b.change(0, 4, 0, nonleaf(0x100), 0);
	b.change(0, 3, 0, nonleaf(0x101), 0);
	b.change(1, 1, 0, A, 1);
	b.change(0, 2, 0, nonleaf(0x102), 0);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
}

// CPU 1 links table 102 and CPU 0 installs into it; CPU 1 has traced
// nothing before, and its link comes after the install (6.12.118 with
// trace_clock local, CPU 1's clock 5 ms ahead: the first events of CPU 1
// in the trace are VM 3's root and links, after CPU 0's first fault in
// them).  The header names both CPUs ("#P:2").
TraceBuilder first_event_late(u64 link_gfn)
{
	TraceBuilder b;
	b.raw("# entries-in-buffer/entries-written: 7/7   #P:2");
	b.event("kvm_mmu_get_page", "sp gen 0 gfn 0 l4 8-byte q0 direct wux nxe ad root 0 sync new", 0);
	b.change(0, 4, 0, nonleaf(0x100), 0);
	b.change(0, 3, 0, nonleaf(0x101), 0);
	b.change(1, 1, 0, A, 0);
	b.change(link_gfn, 2, 0, nonleaf(0x102), 1);
	b.event("kvm_exit", "vcpu 0 reason npf rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0", 0);
	return b;
}

TEST(Linearize, ACpuWhoseFirstEventComesLateIsWaitedFor)
{
	// Without the header's count, CPU 0 would be the only CPU, and its
	// held install would be forced at once (spte.unreachable).
	const CheckResult r = check_text(first_event_late(0).text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.reordered, 1u);
}

TEST(Linearize, ACpuWhoseFirstEventComesLateMustStillExplain)
{
	// Known-bad twin: CPU 1's first event links a table elsewhere; the
	// install belongs to no table of the trace.
	const CheckResult r = check_text(first_event_late(0x200).text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.unreachable");
	EXPECT_EQ(r.violations[0].line, 5u);
}

TEST(Linearize, ALostUpdateBetweenCpusIsStillReported)
{
	// Two changes from the same old value that both took effect: no order
	// explains the second.
	TraceBuilder b = tables();
	b.change(1, 1, 0, A, 0);
	b.change(1, 1, 0, C, 1);
	b.change(2, 1, 0, A + 0x1000, 0);
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.lost-update");
	EXPECT_EQ(r.violations[0].line, 6u);
	EXPECT_NE(r.violations[0].message.find("no order of the CPUs' events explains it"), std::string::npos)
		<< r.violations[0].message;
	EXPECT_EQ(r.stats.forced, 1u);
}

TEST(Linearize, ASetSpteValueNoCpuWroteIsReported)
{
	TraceBuilder b = tables();
	b.change(1, 1, 0, A, 0);
	b.event("kvm_mmu_set_spte", set_spte(1, C), 0);
	b.change(1, 1, A, B, 1);
	const CheckResult r = check_text(b.text());
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.set-spte-mismatch");
	EXPECT_EQ(r.violations[0].line, 6u);
}

TEST(Linearize, TheWindowBoundsTheWait)
{
	// Many CPUs are known (so not every one is held back) and one keeps
	// going: a violation is reported once the window has passed, and the
	// events held behind it are then checked in order.
	TraceBuilder b = tables();
	for (unsigned cpu = 2; cpu < 8; cpu++)
		b.event("kvm_exit", "vcpu 0 reason npf rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0", cpu);
	b.change(1, 1, 0, A, 0);
	b.change(1, 1, 0, C, 1); // lost update
	b.change(3, 1, 0, A + 0x3000, 1);
	for (unsigned k = 0; k < 200; k++)
		b.event("kvm_exit", "vcpu 0 reason npf rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0", 0);
	CheckResult r;
	Checker c(linux_6_1_npt, false, [&](Violation&& v) { r.violations.push_back(std::move(v)); });
	c.set_window(100, 1000000000);
	StringSource src(b.text());
	LineReader reader = trace_reader(src);
	Where w{"t.txt", 0};
	u64 reported_by = 0;
	while (const std::optional<std::string_view> l = reader.next()) {
		w.line = reader.line_number();
		c.feed(parse_trace_line(*l, w), w);
		if (!reported_by && !r.violations.empty())
			reported_by = w.line;
	}
	c.finish();
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].line, 12u);
	EXPECT_EQ(reported_by, 112u); // the window of 100 lines, not the end of the trace
	EXPECT_NE(r.violations[0].message.find("the window of 100 lines had passed"), std::string::npos);
}

// CPU 1's fault installs A at gfn 1, and its vCPU thread is descheduled by
// the host between the cmpxchg and the tracepoint for 100 ms; meanwhile
// CPU 0 write-protects the entry (A -> C) and goes on for 60 ms.  Both CPUs
// read one clock (trace_clock global).
TraceBuilder stalled_install()
{
	TraceBuilder b = tables();
	b.event("kvm_mmu_spte_requested", "gfn 1 pfn 3fdfa level 1", 1);
	b.change(1, 1, A, C, 0);
	b.advance(60000);
	for (unsigned k = 0; k < 20; k++)
		b.event("kvm_exit", "vcpu 0 reason npf rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0", 0);
	b.advance(40000);
	return b;
}

TEST(Linearize, ACpuDescheduledBetweenItsWriteAndItsTracepointForLongerThanTheWindow)
{
	// CPU 0's change waits for CPU 1's install however long CPU 1 is
	// silent: the 50 ms bound counts from the other CPU's own events.
	TraceBuilder b = stalled_install();
	b.change(1, 1, 0, A, 1);
	b.event("kvm_mmu_set_spte", set_spte(1, A), 1);
	b.event("kvm_exit", "vcpu 1 reason npf rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0", 1);
	const CheckResult r = check_text(b.text());
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.forced, 0u);
	EXPECT_GE(r.stats.max_reorder_us, 100000.0);
}

TEST(Linearize, AfterAStallTheWindowStillBoundsTheWait)
{
	// Known-bad twin: after its stall CPU 1 traces no install of gfn 1 (a
	// lost update) but a change elsewhere, stamped more than the window
	// after CPU 0's change: that is reported then, not at the end.
	TraceBuilder b = stalled_install();
	b.change(2, 1, 0, A + 0x1000, 1);
	const std::size_t past = b.size();
	for (unsigned k = 0; k < 20; k++)
		b.event("kvm_exit", "vcpu 1 reason npf rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0", 1);
	CheckResult r;
	Checker c(linux_6_1_npt, false, [&](Violation&& v) { r.violations.push_back(std::move(v)); });
	StringSource src(b.text());
	LineReader reader = trace_reader(src);
	Where w{"t.txt", 0};
	u64 reported_by = 0;
	while (const std::optional<std::string_view> l = reader.next()) {
		w.line = reader.line_number();
		c.feed(parse_trace_line(*l, w), w);
		if (!reported_by && !r.violations.empty())
			reported_by = w.line;
	}
	c.finish();
	ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
	EXPECT_EQ(r.violations[0].kind, "spte.lost-update");
	EXPECT_EQ(r.violations[0].line, 6u);
	EXPECT_EQ(reported_by, past);
	EXPECT_NE(r.violations[0].message.find("every other CPU had traced an event more than the window"), std::string::npos)
		<< r.violations[0].message;
}

// The real 6.12 trace of two vCPUs on the same pages (tests/data/linux-6.12-npt)
// with one CPU's clock moved by skew_us, as trace_clock local does to
// per-CPU clocks, and the lines sorted again by timestamp (stable), as the
// kernel merges its per-CPU buffers.
std::string skewed(const std::string& text, u32 cpu, u64 skew_us)
{
	struct Line {
		u64 us;
		std::size_t order;
		std::string text;
	};
	std::vector<Line> lines;
	std::string head;
	std::istringstream in(text);
	const Where w{"skew", 0};
	u64 last = 0;
	for (std::string l; std::getline(in, l);) {
		const TraceLine tl = parse_trace_line(l, w);
		if (tl.kind != LineKind::event) {
			if (lines.empty())
				head += l + "\n";
			else
				lines.push_back({last, lines.size(), l});
			continue;
		}
		const std::size_t dot = tl.timestamp.find('.');
		u64 us = std::stoull(std::string(tl.timestamp.substr(0, dot))) * 1000000 +
			 std::stoull(std::string(tl.timestamp.substr(dot + 1)));
		if (tl.cpu == cpu)
			us += skew_us;
		char ts[32];
		std::snprintf(ts, sizeof(ts), "%llu.%06llu", static_cast<unsigned long long>(us / 1000000),
			      static_cast<unsigned long long>(us % 1000000));
		const std::size_t at = static_cast<std::size_t>(tl.timestamp.data() - l.data());
		lines.push_back({us, lines.size(), l.substr(0, at) + ts + l.substr(at + tl.timestamp.size())});
		last = us;
	}
	std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.us < b.us; });
	std::string out = head;
	for (const Line& l : lines)
		out += l.text + "\n";
	return out;
}

CheckResult check_with_window(const std::string& text, u64 window_us, const Profile& profile = linux_6_12_npt)
{
	return check_text(text, profile, false, window_us);
}

// Both kernels, both clocks: 6.12 with trace_clock local, 6.1 with global.
TEST(Linearize, RealTraceWithSkewedClocks)
{
	const struct {
		const char* file;
		const Profile& profile;
	} fixtures[] = {{ARBORIST_TEST_DATA "/linux-6.12-npt/trace.txt", linux_6_12_npt},
			{ARBORIST_TEST_DATA "/linux-6.1-npt-global-two-cpus/trace.txt", linux_6_1_npt}};
	for (const auto& fx : fixtures) {
		const std::string real = read_file(fx.file);
		ASSERT_FALSE(real.empty()) << fx.file;
		EXPECT_TRUE(check_with_window(real, DEFAULT_WINDOW_US, fx.profile).violations.empty()) << fx.file;
		for (const u32 cpu : {0u, 1u})
			for (const u64 skew : {1000u, 3000u}) {
				const std::string t = skewed(real, cpu, skew);
				const CheckResult r = check_with_window(t, DEFAULT_WINDOW_US, fx.profile);
				EXPECT_TRUE(r.violations.empty()) << fx.file << " cpu " << cpu << " skew " << skew << " us: " << kinds(r);
				EXPECT_GT(r.stats.reordered, 0u) << fx.file << " cpu " << cpu << " skew " << skew << " us";
				// Without the search (a 1 us window) the same trace is
				// rejected: the skew does put events out of order.
				EXPECT_FALSE(check_with_window(t, 1, fx.profile).violations.empty())
					<< fx.file << " cpu " << cpu << " skew " << skew;
			}
	}
}

// Known-bad variants of the real two-CPU trace: each must be rejected with
// its kind, however the search orders the CPUs.
TEST(Linearize, RealTraceMutations)
{
	std::vector<std::string> lines;
	{
		std::istringstream in(read_file(ARBORIST_TEST_DATA "/linux-6.12-npt/trace.txt"));
		for (std::string l; std::getline(in, l);)
			lines.push_back(l);
	}
	const std::size_t install = find_line(lines, "gfn 4000 level 1 old_spte 8000000000000000 new_spte 333ce67");
	const std::size_t set = find_line(lines, "kvm_mmu_set_spte: gfn 4000 spte 333ce67");
	ASSERT_TRUE(install && set);
	{
		// A second install from the same old value, by the other CPU, right
		// after the first: two cmpxchgs from one value that both took effect.
		std::vector<std::string> m = lines;
		std::string lost = m[install - 1];
		lost.replace(lost.find("[001]"), 5, "[000]");
		lost.replace(lost.find("workload-182"), 12, "workload-181");
		lost.replace(lost.find("333ce67"), 7, "444ce67");
		m.insert(m.begin() + static_cast<std::ptrdiff_t>(install), lost);
		const CheckResult r = check_with_window(join(m), DEFAULT_WINDOW_US);
		ASSERT_FALSE(r.violations.empty());
		EXPECT_EQ(r.violations[0].kind, "spte.lost-update") << kinds(r);
		EXPECT_EQ(r.violations[0].line, install + 1) << kinds(r);
	}
	{
		// kvm_mmu_set_spte showing a value no CPU wrote.
		std::vector<std::string> m = lines;
		edit(m, set, "spte 333ce67", "spte 333cc67");
		const CheckResult r = check_with_window(join(m), DEFAULT_WINDOW_US);
		ASSERT_FALSE(r.violations.empty());
		EXPECT_EQ(r.violations[0].kind, "spte.set-spte-mismatch") << kinds(r);
		EXPECT_EQ(r.violations[0].line, set) << kinds(r);
	}
}

// A capture of Debian 6.1.192 under a loaded host (trace_clock global):
// CPU 1's events of one timestamp come after CPU 0's, among them the
// unlink and teardown of the table CPU 1's faults installed into
// (tests/data/linux-6.1-npt-tied-timestamps/README.md).
TEST(Linearize, RealTraceWithTiedTimestamps)
{
	std::vector<std::string> lines;
	{
		std::istringstream in(read_file(ARBORIST_TEST_DATA "/linux-6.1-npt-tied-timestamps/trace.txt"));
		for (std::string l; std::getline(in, l);)
			lines.push_back(l);
	}
	const std::size_t install = find_line(lines, "[001] ...1.    16.337082: kvm_tdp_mmu_spte_changed: as id 0 gfn 6d3 level 1 old_spte 0 new_spte b1f3e67");
	const std::size_t set = find_line(lines, "kvm_mmu_set_spte: gfn 6d3 spte b1f3e67 (rwxu) level 1 at a47c698");
	const std::size_t freeze = find_line(lines, "gfn 6d3 level 1 old_spte b1f3e67 new_spte 5a0");
	ASSERT_TRUE(install && set && freeze && freeze < install && set == install + 1);
	{
		const CheckResult r = check_text(join(lines), linux_6_1_npt);
		EXPECT_TRUE(r.violations.empty()) << kinds(r);
		EXPECT_GT(r.stats.reordered, 0u);
	}
	{
		// kvm_mmu_set_spte showing a value no CPU wrote.
		std::vector<std::string> m = lines;
		edit(m, set, "spte b1f3e67", "spte b1f3e65");
		const CheckResult r = check_text(join(m), linux_6_1_npt);
		ASSERT_EQ(r.violations.size(), 1u) << kinds(r);
		EXPECT_EQ(r.violations[0].kind, "spte.set-spte-mismatch");
		EXPECT_EQ(r.violations[0].line, set);
	}
	{
		// Without CPU 1's install, CPU 0's freeze replaced a value no CPU
		// wrote, and the kvm_mmu_set_spte names a table its fault never
		// reached before the unlink.
		std::vector<std::string> m = lines;
		m.erase(m.begin() + static_cast<std::ptrdiff_t>(install - 1));
		const CheckResult r = check_text(join(m), linux_6_1_npt);
		ASSERT_EQ(r.violations.size(), 2u) << kinds(r);
		EXPECT_EQ(r.violations[0].kind, "spte.lost-update");
		EXPECT_EQ(r.violations[0].line, freeze);
		EXPECT_EQ(r.violations[1].kind, "spte.set-spte-mismatch");
		EXPECT_EQ(r.violations[1].line, set - 1);
	}
}

} // namespace
} // namespace arborist::conform::test
