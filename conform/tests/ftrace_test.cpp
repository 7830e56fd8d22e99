// SPDX-License-Identifier: GPL-2.0-only
//
// The ftrace line parser and the payload decoders: both trace layouts, the
// header and loss lines, and an error naming FILE:LINE and the field for
// every way a line can be malformed.
#include <gtest/gtest.h>

#include "conform/ftrace.hpp"

namespace arborist::conform {

using support::hex_digits;
namespace {

const Where W{"t.txt", 7};

// "FILE:LINE: field 'NAME': " is how every error starts.
void expect_field_error(const std::function<void()>& f, std::string_view field)
{
	try {
		f();
		ADD_FAILURE() << "no error for field '" << field << "'";
	} catch (const ParseError& e) {
		EXPECT_EQ(e.field(), field);
		EXPECT_EQ(e.line(), 7u);
		EXPECT_TRUE(std::string(e.what()).starts_with("t.txt:7: field '" + std::string(field) + "': ")) << e.what();
	}
}

TEST(FtraceLine, KernelLayout)
{
	const TraceLine t = parse_trace_line(
		"         tdpwork-111     [001] ...1.     5.384758: kvm_tdp_mmu_spte_changed: as id 0 gfn 0 level 4 "
		"old_spte 0 new_spte 2c53827",
		W);
	EXPECT_EQ(t.kind, LineKind::event);
	EXPECT_EQ(t.comm, "tdpwork");
	EXPECT_EQ(t.pid, 111u);
	EXPECT_EQ(t.cpu, 1u);
	EXPECT_EQ(t.flags, "...1.");
	EXPECT_EQ(t.timestamp, "5.384758");
	EXPECT_EQ(t.event, "kvm_tdp_mmu_spte_changed");
	EXPECT_EQ(t.payload, "as id 0 gfn 0 level 4 old_spte 0 new_spte 2c53827");
}

TEST(FtraceLine, TraceCmdLayoutWithoutFlagsAndPaddedEventName)
{
	const TraceLine t = parse_trace_line(
		"         tdpwork-111   [001]     5.384758: kvm_mmu_get_page:     sp gen 0 gfn 0 l4 8-byte q0 direct wux nxe "
		"ad root 0 sync new",
		W);
	EXPECT_EQ(t.kind, LineKind::event);
	EXPECT_EQ(t.flags, "");
	EXPECT_EQ(t.event, "kvm_mmu_get_page");
	EXPECT_TRUE(t.payload.starts_with("sp gen 0"));
}

TEST(FtraceLine, CommWithDashesSpacesAndTgid)
{
	const TraceLine t = parse_trace_line("  kworker/u4:1-my job-4242 (   4240) [003] d..2. 12.5: kvm_exit: x", W);
	EXPECT_EQ(t.comm, "kworker/u4:1-my job");
	EXPECT_EQ(t.pid, 4242u);
	EXPECT_EQ(t.cpu, 3u);
	EXPECT_EQ(t.flags, "d..2.");
	EXPECT_EQ(t.event, "kvm_exit");
	EXPECT_EQ(t.payload, "x");
}

TEST(FtraceLine, HeadersAndLossMarkers)
{
	EXPECT_EQ(parse_trace_line("# tracer: nop", W).kind, LineKind::comment);
	EXPECT_EQ(parse_trace_line("   ", W).kind, LineKind::blank);
	EXPECT_EQ(parse_trace_line("cpus=2", W).kind, LineKind::header);
	EXPECT_EQ(parse_trace_line("version = 6", W).kind, LineKind::header);
	EXPECT_EQ(parse_trace_line("CPU 1 is empty", W).kind, LineKind::header);
	const TraceLine e = parse_trace_line("# entries-in-buffer/entries-written: 100/250   #P:2", W);
	EXPECT_EQ(e.kind, LineKind::entries);
	EXPECT_EQ(e.first, 100u);
	EXPECT_EQ(e.second, 250u);
	EXPECT_EQ(e.cpus, 2u); // the CPUs the trace has buffers for
	EXPECT_EQ(parse_trace_line("cpus=4", W).cpus, 4u);
	EXPECT_EQ(parse_trace_line("# entries-in-buffer/entries-written: 1/1", W).cpus, 0u);
	EXPECT_EQ(parse_trace_line("# entries-in-buffer/entries-written: 1/1   #P:99999999", W).cpus, 0u); // above MAX_CPU: not given
	const TraceLine lost = parse_trace_line("CPU:1 [LOST 17 EVENTS]", W);
	EXPECT_EQ(lost.kind, LineKind::lost_events);
	EXPECT_EQ(lost.first, 1u);
	EXPECT_EQ(lost.second, 17u);
	EXPECT_EQ(parse_trace_line("CPU:7 [204600 EVENTS DROPPED]", W).second, 204600u);
	EXPECT_EQ(parse_trace_line("CPU:7 [EVENTS DROPPED]", W).kind, LineKind::lost_events);
	EXPECT_EQ(parse_trace_line("##### CPU 1 buffer started ####", W).kind, LineKind::buffer_started);
}

// What bpftrace writes around the lines of tools/arborist-tdx.bt
// (docs/trace-format.md "Lines"): its banner, a loss of events, and a map
// it prints at exit.
TEST(FtraceLine, BpftraceOutputLines)
{
	EXPECT_EQ(parse_trace_line("Attaching 61 probes...", W).kind, LineKind::header);
	EXPECT_EQ(parse_trace_line("Attaching 1 probe...", W).kind, LineKind::header);
	const TraceLine lost = parse_trace_line("Lost 12 events", W);
	EXPECT_EQ(lost.kind, LineKind::lost_events);
	EXPECT_EQ(lost.second, 12u);
	EXPECT_EQ(parse_trace_line("@phys_bits: 46", W).kind, LineKind::header);
	EXPECT_EQ(parse_trace_line("@rcx[4321]: 0", W).kind, LineKind::header);
	EXPECT_EQ(parse_trace_line("@e1[4321, 2]: 18446683600570023936", W).kind, LineKind::header);
	// Anything else is still a malformed line.
	expect_field_error([] { parse_trace_line("Attaching probes...", W); }, "cpu");
	expect_field_error([] { parse_trace_line("Lost some events", W); }, "cpu");
	expect_field_error([] { parse_trace_line("@: 1", W); }, "cpu");
	expect_field_error([] { parse_trace_line("@rcx[4321 0", W); }, "cpu");
}

TEST(FtraceLine, MalformedPrefixNamesTheField)
{
	expect_field_error([] { parse_trace_line("garbage", W); }, "cpu");
	expect_field_error([] { parse_trace_line("tdpwork-x [001] ...1. 5.3: kvm_exit: a", W); }, "pid");
	expect_field_error([] { parse_trace_line("tdpwork [001] ...1. 5.3: kvm_exit: a", W); }, "pid");
	expect_field_error([] { parse_trace_line("tdpwork-1 [70000] ...1. 5.3: kvm_exit: a", W); }, "cpu");
	expect_field_error([] { parse_trace_line("tdpwork-1 [001] ...1. 5.3x: kvm_exit: a", W); }, "timestamp");
	expect_field_error([] { parse_trace_line("tdpwork-1 [001] ...1. 5.3 kvm_exit: a", W); }, "timestamp");
	expect_field_error([] { parse_trace_line("tdpwork-1 [001] ...1. 5.3: kvm exit a", W); }, "event");
	expect_field_error([] { parse_trace_line("tdpwork-1 [001] 5.3:", W); }, "event");
}

TEST(FtracePayload, SpteChanged)
{
	const SpteChanged e = decode_spte_changed("as id 0 gfn 400 level 2 old_spte 7200ee7 new_spte 2c49827", W);
	EXPECT_EQ(e.as_id, 0u);
	EXPECT_EQ(e.gfn, 0x400u);
	EXPECT_EQ(e.level, 2u);
	EXPECT_EQ(e.old_spte, 0x7200ee7u);
	EXPECT_EQ(e.new_spte, 0x2c49827u);
	// 64-bit values, with or without 0x.
	EXPECT_EQ(decode_spte_changed("as id 1 gfn 0x10 level 1 old_spte ffffffffffffffff new_spte 0", W).old_spte,
		  ~u64{0});
}

TEST(FtracePayload, SpteChangedErrors)
{
	expect_field_error([] { decode_spte_changed("as id 0 gfn zz level 1 old_spte 0 new_spte 0", W); }, "gfn");
	expect_field_error([] { decode_spte_changed("as id 0 gfn 1 level 1 old_spte 0", W); }, "new_spte");
	expect_field_error([] { decode_spte_changed("as id 0 gfn 1 level 1 old_spte 0 new_spte 1 x", W); },
			   "new_spte");
	expect_field_error([] { decode_spte_changed("as id 300 gfn 1 level 1 old_spte 0 new_spte 0", W); }, "as id");
	expect_field_error([] { decode_spte_changed("as idx 0 gfn 1 level 1 old_spte 0 new_spte 0", W); }, "as id");
	expect_field_error([] { decode_spte_changed("as id 0 gfn 1 level x old_spte 0 new_spte 0", W); }, "level");
	expect_field_error(
		[] { decode_spte_changed("as id 0 gfn 1 level 1 old_spte 10000000000000000 new_spte 0", W); },
		"old_spte");
	expect_field_error([] { decode_spte_changed("as id 0 gfn 1 level 1 new_spte 0 old_spte 0", W); }, "old_spte");
}

TEST(FtracePayload, MmuPage)
{
	const MmuPage p = decode_mmu_page("sp gen 0 gfn 400 l1 8-byte q0 direct wux nxe ad root 0 sync new", W, true);
	EXPECT_EQ(p.gfn, 0x400u);
	EXPECT_EQ(p.level, 1u);
	EXPECT_TRUE(p.direct);
	EXPECT_EQ(p.access, "wux");
	EXPECT_TRUE(p.efer_nx);
	EXPECT_FALSE(p.ad_disabled);
	EXPECT_EQ(p.created, MmuPage::Created::created);
	const MmuPage z = decode_mmu_page("sp gen 1 gfn 0 l4 8-byte q0 wux invalid !nxe !ad root 2 unsync", W, false);
	EXPECT_FALSE(z.direct);
	EXPECT_TRUE(z.invalid);
	EXPECT_FALSE(z.efer_nx);
	EXPECT_TRUE(z.ad_disabled);
	EXPECT_TRUE(z.unsync);
	EXPECT_EQ(z.root_count, 2u);
	expect_field_error([] { decode_mmu_page("sp gen 0 gfn 0 l4 8-byte q0 direct wxu nxe ad root 0 sync", W, false); },
			   "access");
	expect_field_error([] { decode_mmu_page("sp gen 0 gfn 0 4 8-byte q0 direct wux nxe ad root 0 sync", W, false); },
			   "level");
	expect_field_error([] { decode_mmu_page("sp gen 0 gfn 0 l4 8-byte q0 direct wux nxe ad root 0 sync", W, true); },
			   "created");
	expect_field_error(
		[] { decode_mmu_page("sp gen 0 gfn 0 l4 8-byte q0 direct wux nxe ad root 0 sync new", W, false); }, "sync");
}

TEST(FtracePayload, OtherEvents)
{
	const SplitHugePage s = decode_split_huge_page("gfn 400 spte 7200ee7 level 2 errno -12", W);
	EXPECT_EQ(s.spte, 0x7200ee7u);
	EXPECT_EQ(s.err, -12);
	const SetSpte set = decode_set_spte("gfn 1000 spte 78008a5 (r-xu) level 2 at 2c54040", W);
	EXPECT_TRUE(set.r);
	EXPECT_FALSE(set.w);
	EXPECT_EQ(set.u, 1);
	EXPECT_EQ(set.at, 0x2c54040u);
	EXPECT_EQ(decode_set_spte("gfn 1 spte 7 (rwx) level 1 at 8", W).u, -1);
	expect_field_error([] { decode_set_spte("gfn 1 spte 7 rwxu level 1 at 8", W); }, "access");
	const SpteRequested r = decode_spte_requested("gfn d0000 pfn 8000000000000000 level 1", W);
	EXPECT_EQ(r.pfn, u64{1} << 63);
	const FastPageFault f = decode_fast_page_fault(
		"vcpu 0 gva 400000 error_code P|W|U sptep ffff8a1e02c49000 old 0x7200e65 new 7200e67 spurious 0 fixed 1", W);
	EXPECT_EQ(f.error_code, PFERR_PRESENT | PFERR_WRITE | PFERR_USER);
	EXPECT_EQ(f.old_spte, 0x7200e65u);
	EXPECT_TRUE(f.fixed);
	EXPECT_EQ(decode_fast_page_fault("vcpu 0 gva 0 error_code  sptep (null) old 0 new 0 spurious 1 fixed 0", W)
			  .error_code,
		  0u);
	expect_field_error(
		[] { decode_fast_page_fault("vcpu 0 gva 0 error_code P|Q sptep 0 old 0 new 0 spurious 0 fixed 0", W); },
		"error_code");
	expect_field_error(
		[] { decode_fast_page_fault("vcpu 0 gva 0 error_code P sptep 0 old 0 new 0 spurious 0 fixed 2", W); },
		"fixed");
	EXPECT_EQ(decode_zap_all_fast("kvm-mmu-valid-gen 1 used_pages 1a", W).used_pages, 0x1au);
	const MarkMmioSpte m = decode_mark_mmio_spte("sptep:ffff8a1e02c58000 gfn d0000 access 7 gen 6", W);
	EXPECT_EQ(m.gfn, 0xd0000u);
	EXPECT_EQ(m.sptep, "ffff8a1e02c58000");
	expect_field_error([] { decode_mark_mmio_spte("sptep ffff gfn d0000 access 7 gen 6", W); }, "sptep");
}

TEST(FtraceReader, LinesAcrossChunksCrlfAndNoFinalNewline)
{
	StringSource src("a\r\nbb\n\nccc");
	LineReader r = trace_reader(src, 2); // a tiny buffer: lines cross chunks
	EXPECT_EQ(r.next(), "a");
	EXPECT_EQ(r.next(), "bb");
	EXPECT_EQ(r.next(), "");
	EXPECT_EQ(r.next(), "ccc");
	EXPECT_EQ(r.line_number(), 4u);
	EXPECT_EQ(r.next(), std::nullopt);
}

TEST(FtraceEvents, ClassifyAndHex)
{
	EXPECT_EQ(classify_event("kvm_tdp_mmu_spte_changed"), EventId::tdp_mmu_spte_changed);
	EXPECT_EQ(classify_event("mark_mmio_spte"), EventId::mark_mmio_spte);
	EXPECT_EQ(classify_event("kvm_exit"), EventId::other);
	EXPECT_EQ(event_name(EventId::fast_page_fault), "fast_page_fault");
	EXPECT_EQ(hex_digits(0), "0");
	EXPECT_EQ(hex_digits(0x2c53827), "2c53827");
}

} // namespace
} // namespace arborist::conform

// Every event the writer renders reads back as itself: the format is the
// parser's, written once.
TEST(RoundTrip, RenderThenDecode)
{
	using namespace arborist::conform;
	const Where w{"t", 1};
	auto payload = [](const std::string& line) { return line.substr(line.find(": ") + 2); };
	const SpteChanged c{1, 0x1234, 2, 0x8000000000000000ull, 0x2c53827};
	const SpteChanged c2 = decode_spte_changed(payload(render(c)), w);
	EXPECT_EQ(c2.as_id, 1u);
	EXPECT_EQ(c2.gfn, c.gfn);
	EXPECT_EQ(c2.level, 2u);
	EXPECT_EQ(c2.old_spte, c.old_spte);
	EXPECT_EQ(c2.new_spte, c.new_spte);
	const SpteRequested r = decode_spte_requested(payload(render(SpteRequested{0x10, 0x2be7, 1})), w);
	EXPECT_EQ(r.gfn, 0x10u);
	EXPECT_EQ(r.pfn, 0x2be7u);
	const SplitHugePage s = decode_split_huge_page(payload(render(SplitHugePage{0x200, 0x7200ee7, 2, -12})), w);
	EXPECT_EQ(s.spte, 0x7200ee7u);
	EXPECT_EQ(s.err, -12);
	MmuPage p;
	p.gfn = 0x400;
	p.level = 4;
	p.gpte_bytes = 8;
	p.direct = true;
	p.access = "wux";
	p.efer_nx = true;
	p.root_count = 2;
	p.created = MmuPage::Created::created;
	const std::string line = render(p);
	EXPECT_EQ(line, "kvm_mmu_get_page: sp gen 0 gfn 400 l4 8-byte q0 direct wux nxe ad root 2 sync new");
	const MmuPage p2 = decode_mmu_page(payload(line), w, true);
	EXPECT_EQ(p2.level, 4u);
	EXPECT_EQ(p2.created, MmuPage::Created::created);
	p.created = MmuPage::Created::unknown;
	EXPECT_TRUE(render(p).starts_with("kvm_mmu_prepare_zap_page: "));
	const TdParams t = decode_td_params(payload(render(TdParams{0x100000000, 5, 52})), w);
	EXPECT_EQ(t.pwl, 5u);
	EXPECT_EQ(t.phys_bits, 52u);
	Seamcall sc;
	sc.leaf = 0x1d; // TDH.MEM.PAGE.REMOVE
	sc.rcx = 0x1000;
	sc.rdx = 0x100000000;
	sc.status = 0x8000020000000000ull;
	const Seamcall sc2 = decode_seamcall(payload(render(sc)), w);
	EXPECT_EQ(sc2.leaf, sc.leaf);
	EXPECT_EQ(sc2.status, sc.status);
	const VcpuRun v = decode_vcpu_run(payload(render(VcpuRun{0x100009000, 0x1234}, true)), w, true);
	EXPECT_EQ(v.status, 0x1234u);
	HookCall h;
	h.hook = TdxHook::remove_external_spte;
	h.gfn = 0x42;
	h.level = 1;
	h.ret = -16;
	const HookCall h2 = decode_hook(payload(render(h, true)), w, true);
	EXPECT_EQ(h2.hook, TdxHook::remove_external_spte);
	EXPECT_EQ(h2.ret, -16);
	EXPECT_FALSE(hook_by_name("no_such_hook"));
}
