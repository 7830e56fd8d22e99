// SPDX-License-Identifier: GPL-2.0-only
//
// Traces from many CPUs (docs/conformance.md "Traces from many CPUs"): the
// replay accepts a trace when some order of its events, consistent with
// each CPU's own order, explains it, and still reports a real lost update
// between CPUs and a kvm_mmu_set_spte value that no CPU wrote.
#include "trace_fixture.hpp"

namespace arborist::conform::test {
namespace {

// A root with tables down to level 1 (pfn 0x102, gfn 0-1ff), by CPU 0.
TraceBuilder tables()
{
	TraceBuilder b;
	b.root();
	b.change(0, 4, 0, nonleaf(0x100), 0);
	b.change(0, 3, 0, nonleaf(0x101), 0);
	b.change(0, 2, 0, nonleaf(0x102), 0);
	return b;
}

std::string set_spte(u64 gfn, u64 spte)
{
	return "gfn " + hex(gfn) + " spte " + hex(spte) + " (rwxu) level 1 at " + hex((0x102ull << 12) + gfn * 8);
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
	LineReader reader(src);
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

} // namespace
} // namespace arborist::conform::test
