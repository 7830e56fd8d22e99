// SPDX-License-Identifier: GPL-2.0-only
//
// The trace of a scenario run (trace_writer.hpp, docs/trace-format.md).
#include "trace_writer.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <vector>

#include "conform/ftrace.hpp"

namespace arborist::cli {

namespace {

using impl::Event;
using impl::EventKind;
using tdx_abi::Leaf;
using u64 = std::uint64_t;

// One line to write: its place on the shared clock, CPU and text.
struct Line {
	u64 seq;
	unsigned cpu;
	std::string text;
};

// KVM_MMU_PAGE_PRINTK() of a direct TDP page (mmutrace.h): gen 0, 8-byte
// gptes, quadrant 0, ACC_ALL, EFER.NX and A/D on.
conform::MmuPage mmu_page(const Event& e, unsigned root_count, conform::MmuPage::Created created)
{
	conform::MmuPage p;
	p.gfn = e.gfn;
	p.level = e.level;
	p.gpte_bytes = 8;
	p.direct = true;
	p.access = "wux";
	p.efer_nx = true;
	p.root_count = root_count;
	p.created = created;
	return p;
}

// The kvmmmu tracepoints the TDP MMU emits (Linux v6.19 mmutrace.h), each
// rendered by the parser's own format (conform/ftrace.hpp render()).
// kvm_mmu_set_spte is left out: the reference's event has no SPTE address.
void mmu_lines(const impl::EventLog& log, unsigned root_level, std::vector<Line>& out)
{
	using Created = conform::MmuPage::Created;
	for (const Event& e : log.events()) {
		std::string t;
		switch (e.kind) {
		case EventKind::spte_changed:
			t = conform::render(conform::SpteChanged{0, e.gfn, e.level, e.old_spte, e.new_spte});
			break;
		case EventKind::spte_requested:
			t = conform::render(conform::SpteRequested{e.gfn, e.pfn, e.level});
			break;
		case EventKind::get_page:
			t = conform::render(mmu_page(e, e.level == root_level ? 2 : 0, Created::created));
			break;
		case EventKind::prepare_zap_page:
			t = conform::render(mmu_page(e, 0, Created::unknown));
			break;
		case EventKind::split_huge_page:
			t = conform::render(conform::SplitHugePage{e.gfn, e.old_spte, static_cast<int>(e.level), e.err});
			break;
		default:
			continue; // not a kernel tracepoint (flushes, RCU, bugs), or hooks (from the TDX log)
		}
		out.push_back({e.seq, 0, std::move(t)});
	}
}

// tdx_hook_enter / tdx_hook_exit: the kprobe/kretprobe pair on a kvm_x86_ops
// external page-table hook.
void hook_lines(const impl::EventLog& log, std::vector<Line>& out)
{
	for (const Event& e : log.events()) {
		if (e.kind != EventKind::external_hook)
			continue;
		conform::HookCall h;
		const std::optional<conform::TdxHook> hook = conform::hook_by_name(e.what);
		if (!hook)
			throw std::logic_error(std::string("trace writer: '") + e.what + "' is not an external hook of "
											   "docs/trace-format.md");
		h.hook = *hook;
		h.gfn = e.gfn;
		h.level = e.level;
		h.arg = e.hook_arg;
		h.ret = e.err;
		out.push_back({e.seq, 0, conform::render(h, e.hook_exit)});
	}
}

std::string seamcall_line(Leaf leaf, u64 rcx, u64 rdx, u64 r8, u64 r9, u64 status, u64 out_rcx, u64 out_rdx,
			  u64 out_r8)
{
	conform::Seamcall c;
	c.leaf = static_cast<std::uint32_t>(leaf);
	c.rcx = rcx;
	c.rdx = rdx;
	c.r8 = r8;
	c.r9 = r9;
	c.status = status;
	c.out_rcx = out_rcx;
	c.out_rdx = out_rdx;
	c.out_r8 = out_r8;
	return conform::render(c);
}

unsigned vcpu_cpu(const TdBuild& b, u64 tdvpr)
{
	for (std::size_t i = 0; i < b.tdvpr.size(); i++)
		if (b.tdvpr[i] == tdvpr)
			return static_cast<unsigned>(i + 1);
	return 1;
}

// The TD's construction, which the simulated module does with helpers
// that are not SEAMCALL-exact (SimModule::build_td): the SEAMCALLs a kernel
// makes for it (Linux v6.19 tdx.c tdx_td_init(), tdx_vcpu_init()),
// all successful, before anything else.  A vCPU's calls run on the CPU it
// runs on (KVM_TDX_INIT_VCPU with the vCPU loaded): TDH.VP.INIT associates
// it with that CPU (tdh_vp_init.c associate_vcpu_initial()).
void construction_lines(const TraceInput& in, std::vector<Line>& out)
{
	const TdBuild& b = *in.build;
	auto add = [&](Leaf l, u64 rcx, u64 rdx, unsigned cpu = 0) {
		out.push_back({0, cpu, seamcall_line(l, rcx, rdx, 0, 0, 0, 0, 0, 0)});
	};
	add(Leaf::TDH_MNG_CREATE, b.tdr, b.hkid);
	add(Leaf::TDH_MNG_KEY_CONFIG, b.tdr, 0);
	for (const u64 pa : b.tdcs)
		add(Leaf::TDH_MNG_ADDCX, pa, b.tdr);
	out.push_back({0, 0, conform::render(conform::TdParams{b.tdr, in.geometry.pwl, b.phys_bits})});
	add(Leaf::TDH_MNG_INIT, b.tdr, 0);
	for (const u64 pa : b.tdvpr) {
		add(Leaf::TDH_VP_CREATE, pa, b.tdr, vcpu_cpu(b, pa));
		add(Leaf::TDH_VP_INIT, pa, 0, vcpu_cpu(b, pa));
	}
}

// SEAMCALLs and TD exits.  TDH.VP.ENTER is the guest entry; a refused
// entry returns at once, an accepted one when the TD exits.
void module_lines(const hw::SimModule& m, const TdBuild& b, std::vector<Line>& out)
{
	for (const auto& c : m.trace) {
		if (c.leaf == Leaf::TDH_VP_ENTER) {
			const unsigned cpu = vcpu_cpu(b, c.rcx);
			if (c.td_exit) {
				out.push_back({c.seq, cpu, conform::render(conform::VcpuRun{c.rcx, 0}, true)});
				continue;
			}
			out.push_back({c.seq, cpu, conform::render(conform::VcpuRun{c.rcx, 0}, false)});
			if (c.status != tdx_abi::status::TDX_SUCCESS)
				out.push_back({c.seq, cpu, conform::render(conform::VcpuRun{c.rcx, c.status}, true)});
			continue;
		}
		if (conform::tdx_leaf_name(static_cast<std::uint32_t>(c.leaf)).empty())
			continue;
		// TDH.VP.FLUSH runs on the vCPU's CPU (tdx_flush_vp_on_cpu(): an
		// IPI to vcpu->cpu), where the vCPU is associated.
		const unsigned cpu = c.leaf == Leaf::TDH_VP_FLUSH ? vcpu_cpu(b, c.rcx) : 0;
		out.push_back({c.seq, cpu,
			       seamcall_line(c.leaf, c.rcx, c.rdx, c.r8, c.r9, c.status, c.out_rcx, c.out_rdx, c.out_r8)});
	}
}

} // namespace

TdBuild td_build_of(const hw::SimModule& m)
{
	TdBuild b;
	b.tdr = m.tdr_pa();
	b.hkid = m.hkid();
	for (unsigned i = 0; i < hw::sim::MIN_NUM_TDCS_PAGES; i++)
		b.tdcs.push_back(m.tdcs_pa(i));
	for (std::size_t i = 0; i < m.num_vcpus(); i++)
		b.tdvpr.push_back(m.vcpu(i).tdvpr_pa);
	b.phys_bits = m.x86_phys_bits();
	return b;
}

std::size_t write_trace(std::ostream& out, const TraceInput& in)
{
	std::vector<Line> lines;
	if (in.build)
		construction_lines(in, lines);
	const std::size_t prologue = lines.size();
	if (in.mmu)
		mmu_lines(*in.mmu, in.module ? in.geometry.root_level() : 4, lines);
	if (in.tdx)
		hook_lines(*in.tdx, lines);
	if (in.module && in.build)
		module_lines(*in.module, *in.build, lines);
	std::stable_sort(lines.begin() + static_cast<std::ptrdiff_t>(prologue), lines.end(),
			 [](const Line& a, const Line& b) { return a.seq < b.seq; });

	out << "# tracer: nop\n#\n# generated by `arborist run " << in.source
	    << " --trace` (docs/trace-format.md)\n#\n";
	std::size_t n = 0;
	for (const Line& l : lines) {
		const u64 t = ++n; // one microsecond per line
		char prefix[96];
		std::snprintf(prefix, sizeof(prefix), "    arborist-run-%u [%03u] ..... %" PRIu64 ".%06" PRIu64 ": ", 1000 + l.cpu,
			      l.cpu, t / 1000000, t % 1000000);
		out << prefix << l.text << "\n";
	}
	return n;
}

} // namespace arborist::cli
