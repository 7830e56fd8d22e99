// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: the runner.  It executes a parsed scenario
// (scenario_parse.hpp) on a TdVm (impl/arborist/impl/td_vm.hpp) or a
// PlainVm (impl/arborist/impl/plain_vm.hpp), which share one interface for
// what both have; an operation only a TD has is refused by the parser for
// a plain VM, so the runner never sees it there.  It prints each operation
// with the SEAMCALLs it issued and the KVM bugs and refinement violations
// it caused, then the final state (scenario_print.hpp) and the verdict.
#include "scenario.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "arborist/impl/mirror_check.hpp"
#include "arborist/impl/plain_vm.hpp"
#include "arborist/impl/refinement.hpp"
#include "arborist/impl/td_vm.hpp"
#include "arborist/support/line_reader.hpp"
#include "arborist/support/text.hpp"
#include "scenario_model.hpp"
#include "scenario_names.hpp"
#include "scenario_parse.hpp"
#include "scenario_print.hpp"
#include "trace_writer.hpp"

namespace arborist::cli {

namespace {

using namespace arborist::impl;
using namespace arborist::cli::scenario;
using tdx_abi::Leaf;
using tdx_abi::leaf_name;
using tdx_abi::leaf_names;
using spec::sept_state_name;
using spec::SeptState;
using impl::errno_name;
using impl::ret_pf_name;

// ============================================================================
// The VM of a scenario
// ============================================================================

// A SimModule that records every SEAMCALL with its status (the call trace
// added for `arborist run`); without it the runner prints per-leaf counts.
template <class Module>
concept TracedModule = requires(Module& m) {
	m.trace_enabled = true;
	m.trace.size();
	m.trace[0].leaf;
	m.trace[0].rcx;
	m.trace[0].rdx;
	m.trace[0].r8;
	m.trace[0].status;
};

// The VM started for a scenario: a TD is built (KVM_TDX_INIT_VM, its
// vCPUs) and records every SEAMCALL; the records of both kinds share one
// clock, so --trace can merge them.
template <class Module>
void enable_trace(Module& m)
{
	if constexpr (TracedModule<Module>)
		m.trace_enabled = true;
}

bool start_vm(TdVm& vm, u64* clock, TdBuild& build)
{
	enable_trace(vm.module());
	vm.mmu().log().clock = clock;
	vm.tdx_log().clock = clock;
	vm.module().trace_clock = clock;
	if (!vm.create())
		return false;
	build = td_build_of(vm.module());
	return true;
}

bool start_vm(PlainVm& vm, u64* clock, TdBuild&)
{
	vm.mmu().log().clock = clock;
	return true;
}

TraceInput trace_input(TdVm& vm, const TdBuild& build)
{
	TraceInput t;
	t.mmu = &vm.mmu().log();
	t.tdx = &vm.tdx_log();
	t.module = &vm.module();
	t.build = build;
	t.geometry = vm.options().geometry;
	t.nr_vcpus = vm.options().nr_vcpus;
	return t;
}

TraceInput trace_input(PlainVm& vm, const TdBuild&)
{
	TraceInput t;
	t.mmu = &vm.mmu().log();
	return t;
}

// A scenario's fault: a TD's pfn comes from guest_memfd or the shared
// pool, a plain VM's from pfn= or the host frame of the GFN.
int fault(TdVm& vm, const Fault& f) { return vm.fault(f.vcpu, f.gpa, f.level, f.write); }
int fault(PlainVm& vm, const Fault& f) { return vm.fault(f.vcpu, f.gpa, f.level, f.write, f.pfn); }

TdVmOptions vm_options(const VmSpec& s, std::type_identity<TdVm>)
{
	TdVmOptions o;
	o.geometry = s.geometry();
	o.tdmr_pages = s.tdmr_pages;
	o.nr_vcpus = s.vcpus;
	o.variants = s.variants;
	o.tdx_variants = s.tdx_variants;
	o.resched_every = s.resched;
	return o;
}

PlainVmOptions vm_options(const VmSpec& s, std::type_identity<PlainVm>)
{
	PlainVmOptions o;
	o.flavor = s.kind == VmKind::npt ? spec::npt_v6_1 : spec::ept_v6_19;
	o.paging = s.paging;
	o.variants = s.variants;
	o.resched_every = s.resched;
	return o;
}

// ============================================================================
// The runner
// ============================================================================

template <class Vm>
class Runner {
public:
	Runner(const Scenario& sc, const RunOptions& o, Vm& m, std::ostream& out, std::string source)
		: sc_(sc), opt_(o), m_(m), out_(out), source_(std::move(source))
	{
	}

	int run()
	{
		if (!start_vm(m_, &clock_, build_)) {
			out_ << "[0] " << sc_.vm_text << "  (line " << sc_.vm_line << "): FAILED: the TD could not be built\n";
			return 1;
		}
		if (!opt_.quiet)
			out_ << "[0] " << sc_.vm_text << "  (line " << sc_.vm_line
			     << "): " << (Vm::is_td ? "TD built, not finalized" : "VM created") << "\n";
		mark_logs();
		if (opt_.refine) {
			// The baseline: the VM as built.
			refine_.emplace(m_.mmu());
			if constexpr (Vm::is_td)
				mirror_refine_.emplace(m_);
		}
		for (std::size_t i = 0; i < sc_.ops.size(); i++) {
			index_ = i + 1;
			std::visit([&](const auto& a) { step(sc_.ops[i], a); }, sc_.ops[i].action);
		}
		if (!opt_.quiet)
			print_final_state();
		const bool dot_written = opt_.dot_path.empty() || write_dot();
		const bool trace_written = opt_.trace_stream ? write_trace_stream() : opt_.trace_path.empty() || write_trace_file();
		return verdict(dot_written, trace_written);
	}

private:
	using Mmu = std::remove_reference_t<decltype(std::declval<Vm&>().mmu())>;

	// ---- one step -----------------------------------------------------------------
	template <class A>
	void step(const Op& op, const A& a)
	{
		if constexpr (is_expect<A>) {
			const std::optional<std::string> failure = verify(a);
			expects_++;
			if (failure)
				failures_++;
			if (failure || !opt_.quiet)
				out_ << heading(op) << (failure ? "FAILED: " + *failure : "ok") << "\n";
		} else {
			const std::string result = apply(a);
			std::ostringstream calls, problems;
			print_seamcalls(calls);
			print_new_bugs(problems);
			if (opt_.refine)
				check_refinement(problems);
			if (!opt_.quiet)
				out_ << heading(op) << result << "\n" << calls.str() << problems.str();
			else if (!problems.str().empty())
				out_ << heading(op) << result << "\n" << problems.str();
		}
	}

	std::string heading(const Op& op) const
	{
		return "[" + std::to_string(index_) + "] " + op.text + "  (line " + std::to_string(op.line) + "): ";
	}

	// ---- operations ------------------------------------------------------------------
	// The parser refuses an operation the VM does not have (a TD's on a
	// plain VM, teardown on a TD): it never gets here.
	template <class A>
	std::string apply(const A&)
	{
		return "";
	}

	std::string apply(const Fault& f) { return ret_pf_name(fault(m_, f)); }

	std::string apply(const Finalize&)
		requires Vm::is_td
	{
		return m_.finalize() ? "finalized (RUNNABLE)" : "finalize failed";
	}

	std::string apply(const Enter& e)
		requires Vm::is_td
	{
		// KVM_RUN holds vcpu->mutex for as long as the vCPU runs
		// (kvm_vcpu_ioctl()), so a vCPU in the guest cannot be entered
		// again: the scenario asks for what no kernel does, and its
		// trace would not be a kernel's.
		if (m_.module().num_vcpus() > e.vcpu && m_.module().vcpu(e.vcpu).in_guest) {
			impossible_++;
			return "FAILED: vCPU " + std::to_string(e.vcpu) +
			       " is in the guest already (KVM_RUN holds vcpu->mutex); 'exit vcpu=" +
			       std::to_string(e.vcpu) + "' first";
		}
		if (m_.tdx().wait_for_sept_zap())
			return "refused: wait_for_sept_zap";
		return tdx_abi::status_text(m_.enter(e.vcpu));
	}

	std::string apply(const Exit& e)
		requires Vm::is_td
	{
		return m_.exit(e.vcpu) ? "exited the guest" : "not in the guest: nothing to do";
	}

	std::string apply(const Unmap& u)
	{
		const bool flush = m_.unmap(u.range.start, u.range.end, u.private_range, u.shared_range);
		return flush ? "zapped, TLB flushed" : "nothing zapped";
	}

	std::string apply(const Split& s)
	{
		const VcpuRoots& v = m_.roots(0);
		const u32 root = s.root == RootKind::mirror ? v.mirror : v.direct;
		if (!live_root(root))
			return std::string("vCPU 0 has no ") + (s.root == RootKind::mirror ? "mirror" : "direct") +
			       " root: nothing to split";
		return "split returned " + errno_name(m_.mmu().split_huge_pages(root, s.range.start, s.range.end, s.level,
										  s.shared));
	}

	std::string apply(const Invalidate& i)
	{
		const std::size_t before = count_roots([](const MmuPage& p) { return p.invalid; });
		m_.mmu().invalidate_roots(i.types);
		const std::size_t after = count_roots([](const MmuPage& p) { return p.invalid; });
		return std::to_string(after - before) + " root(s) invalidated";
	}

	std::string apply(const ZapInvalidated& z)
	{
		const std::size_t n = count_roots([](const MmuPage& p) { return p.scheduled_root_to_zap; });
		m_.mmu().zap_invalidated_roots(z.shared);
		return std::to_string(n) + " root(s) zapped";
	}

	std::string apply(const Rcu&)
	{
		const std::size_t n = m_.mmu().rcu_queue().size();
		m_.mmu().rcu_barrier();
		return "grace period: " + std::to_string(n) + " callback(s) ran";
	}

	std::string apply(const Busy& b)
		requires Vm::is_td
	{
		m_.module().inject_busy = b.locks;
		return "the next SEAMCALL finds the lock(s) contended";
	}

	std::string apply(const GmemRelease&)
		requires Vm::is_td
	{
		const unsigned pinned = m_.tdx().pinned_inodes();
		m_.gmem_release();
		return m_.tdx().pinned_inodes() > pinned ? "inode pinned: removal deferred to TD teardown"
							 : "private range unmapped";
	}

	std::string apply(const Destroy&)
		requires Vm::is_td
	{
		return m_.destroy() ? "destroyed" : "destroy incomplete (pages leaked)";
	}

	std::string apply(const Teardown&)
		requires(!Vm::is_td)
	{
		m_.teardown();
		return "roots unloaded, TDP MMU uninitialised";
	}

	// ---- expectations -----------------------------------------------------------------
	// As for operations: what the VM lacks the parser refuses.
	template <class E>
	std::optional<std::string> verify(const E&)
	{
		return std::nullopt;
	}

	std::optional<std::string> verify(const ExpectSpte& e)
	{
		const VcpuRoots& v = m_.roots(0);
		const u32 root = e.root == RootKind::mirror ? v.mirror : v.direct;
		std::optional<u64> spte;
		if (live_root(root)) {
			const auto l = m_.mmu().lookup(root, e.gfn, e.level);
			if (l.level == e.level)
				spte = l.spte;
		}
		const bool present = spte && spec::is_shadow_present_pte(spec::concrete, m_.mmu().config().flavor, *spte);
		const std::string got = !spte     ? "no SPTE at that level"
					: present ? "present " + support::hex(*spte)
						  : "absent " + support::hex(*spte);
		switch (e.want) {
		case ExpectSpte::Want::value:
			return spte && *spte == e.value ? std::nullopt : std::optional<std::string>("got " + got);
		case ExpectSpte::Want::present:
			return present ? std::nullopt : std::optional<std::string>("got " + got);
		case ExpectSpte::Want::absent:
			return !present ? std::nullopt : std::optional<std::string>("got " + got);
		}
		return std::nullopt;
	}

	std::optional<std::string> verify(const ExpectSept& e)
		requires Vm::is_td
	{
		const auto entry = m_.module().sept_entry(e.gpa, e.level - 1);
		const std::string got = entry ? sept_state_name(entry->state) : "UNREACHED";
		const bool ok = !e.state ? !entry
				: *e.state == SeptState::FREE ? !entry || entry->state == SeptState::FREE
							       : entry && entry->state == *e.state;
		return ok ? std::nullopt : std::optional<std::string>("got " + got);
	}

	std::optional<std::string> verify(const ExpectCalls& e)
		requires Vm::is_td
	{
		std::string why;
		for (const auto& [leaf, n] : e.counts) {
			const u64 got = m_.module().calls(leaf);
			if (got != n)
				why += (why.empty() ? "" : "; ") + leaf_name(leaf) + " was called " + std::to_string(got) +
				       " time(s)";
		}
		return why.empty() ? std::nullopt : std::optional<std::string>(why);
	}

	std::optional<std::string> verify(const ExpectCounts& e)
	{
		std::string why;
		auto check = [&](const std::optional<u64>& want, u64 got, const char* what) {
			if (want && *want != got)
				why += (why.empty() ? "" : "; ") + std::string(what) + " is " + std::to_string(got);
		};
		const u64 bugs = m_.kvm_bugs();
		check(e.bugs, bugs, "bugs");
		if (e.bugs && *e.bugs == bugs)
			tolerated_bugs_ = bugs;
		check(e.roots, m_.mmu().roots().size(), "roots");
		check(e.rcu_pending, m_.mmu().rcu_queue().size(), "rcu-pending");
		check(e.tables, m_.mmu().tables().live(), "tables");
		check_pages(e, why);
		return why.empty() ? std::nullopt : std::optional<std::string>(why);
	}

	// A TD's pages are the TDMR's frames; a plain VM's are its page tables.
	void check_pages(const ExpectCounts& e, std::string& why)
		requires Vm::is_td
	{
		const auto add = [&](const std::string& s) { why += (why.empty() ? "" : "; ") + s; };
		const HostPages& p = m_.pages();
		if (e.pages_free_all && p.free_count() != p.count())
			add(std::to_string(p.count() - p.free_count()) + " of " + std::to_string(p.count()) +
			    " TDMR frames still allocated");
		if (e.pages_free && *e.pages_free != p.free_count())
			add("pages-free is " + std::to_string(p.free_count()));
	}

	void check_pages(const ExpectCounts& e, std::string& why)
		requires(!Vm::is_td)
	{
		const auto add = [&](const std::string& s) { why += (why.empty() ? "" : "; ") + s; };
		if (e.pages_free_all && m_.mmu().tables().live() != 0)
			add(std::to_string(m_.mmu().tables().live()) + " page table(s) still live");
	}

	std::optional<std::string> verify(const ExpectRoot& e)
	{
		const PageTables& pt = m_.mmu().tables();
		if (e.id >= pt.capacity())
			return "sp " + std::to_string(e.id) + " was never allocated";
		const MmuPage& p = pt[e.id];
		if (!p.root)
			return "sp " + std::to_string(e.id) + " is not a root";
		const RootWant got = p.state == SpState::freed ? RootWant::freed
				     : p.invalid                ? RootWant::invalid
								: RootWant::valid;
		constexpr const char* names[] = {"valid", "invalid", "freed"};
		return got == e.state ? std::nullopt
				      : std::optional<std::string>("root is " + std::string(names[static_cast<int>(got)]));
	}

	std::optional<std::string> verify(const ExpectVcpu& e)
		requires Vm::is_td
	{
		const bool in_guest = m_.module().vcpu(e.id).in_guest;
		return in_guest == e.in_guest ? std::nullopt
					      : std::optional<std::string>(in_guest ? "vCPU is in the guest"
										    : "vCPU is outside the guest");
	}

	// ---- SEAMCALLs, bugs, refinement ------------------------------------------------
	void print_seamcalls(std::ostream& out)
	{
		if constexpr (Vm::is_td)
			print_calls(m_.module(), out);
	}

	template <class Module>
	void print_calls(Module& module, std::ostream& out)
	{
		if constexpr (TracedModule<Module>) {
			for (; trace_seen_ < module.trace.size(); trace_seen_++) {
				const auto& c = module.trace[trace_seen_];
				if (c.td_exit)
					continue; // a TD exit, not a SEAMCALL
				out << "    " << leaf_name(c.leaf) << " " << call_operands(c.leaf, c.rcx, c.r8) << " -> "
				    << tdx_abi::status_text(c.status) << "\n";
			}
		} else {
			for (const auto& n : leaf_names) {
				const u64 calls = module.calls(n.leaf);
				u64& seen = calls_seen_[static_cast<u64>(n.leaf)];
				if (calls > seen)
					out << "    " << n.name << " x" << calls - seen << "\n";
				seen = calls;
			}
		}
	}

	static std::string call_operands(Leaf leaf, u64 rcx, u64 r8)
	{
		if (!takes_page_info(leaf))
			return rcx_name(leaf) + "=" + support::hex(rcx);
		const unsigned tdx_level = leaf == Leaf::TDH_MEM_PAGE_ADD ? 0 : static_cast<unsigned>(rcx & 7);
		std::string s = "gpa=" + support::hex(rcx & hw::sim::GPA_MASK) + " level=" + std::to_string(tdx_level + 1);
		if (r8)
			s += " page=" + support::hex(r8);
		return s;
	}

	void mark_logs()
	{
		mmu_events_seen_ = m_.mmu().log().events().size();
		if constexpr (Vm::is_td)
			tdx_events_seen_ = m_.tdx_log().events().size();
		print_seamcalls(discard_);
	}

	void print_new_bugs(std::ostream& out)
	{
		print_bug_events(m_.mmu().log(), mmu_events_seen_, out);
		if constexpr (Vm::is_td) {
			print_bug_events(m_.tdx_log(), tdx_events_seen_, out);
		} else if (m_.hooks_bugged() && !hooks_bug_reported_) {
			out << "    KVM BUG: an external page-table hook ran on a VM without external page tables\n";
			hooks_bug_reported_ = true;
		}
	}

	static void print_bug_events(const EventLog& log, std::size_t& seen, std::ostream& out)
	{
		for (; seen < log.events().size(); seen++)
			if (log.events()[seen].kind == EventKind::kvm_bug)
				out << "    KVM BUG: " << log.events()[seen].what << "\n";
	}

	// Each violation is reported once: the root check starts again from the
	// state after the violating operation, and a location where mirror and
	// S-EPT disagree counts again only when its disagreement changes.  Both
	// checks cost what the operation changed (refinement.hpp,
	// mirror_check.hpp), so --refine stays linear in the scenario.
	void check_refinement(std::ostream& out)
	{
		const RefinementResult r = refine_->check();
		if (!r.ok)
			report_violation(r.why, out);
		if constexpr (Vm::is_td) {
			const u32 mirror = checked_mirror_root();
			for (const std::string& why : mirror_refine_->check(mirror))
				report_violation("mirror root sp " + std::to_string(mirror) + " and S-EPT disagree: " + why, out);
		}
	}

	void report_violation(const std::string& why, std::ostream& out)
	{
		violations_++;
		out << "    refinement violated: " << why << "\n";
	}

	// The mirror root KVM uses: vCPU 0's, else a valid one on the list.
	u32 checked_mirror_root() const
	{
		const u32 r = m_.roots(0).mirror;
		if (live_root(r))
			return r;
		for (const u32 root : m_.mmu().roots())
			if (m_.mmu().tables()[root].mirror && !m_.mmu().tables()[root].invalid)
				return root;
		return NO_SP;
	}

	// ---- helpers ---------------------------------------------------------------------
	bool live_root(u32 root) const
	{
		const PageTables& pt = m_.mmu().tables();
		return root != NO_SP && root < pt.capacity() && pt[root].state != SpState::freed;
	}

	template <class Pred>
	std::size_t count_roots(Pred pred) const
	{
		std::size_t n = 0;
		for (const u32 r : m_.mmu().roots())
			n += pred(m_.mmu().tables()[r]) ? 1 : 0;
		return n;
	}

	// ---- the final state -------------------------------------------------------------
	void print_final_state()
	{
		out_ << "\n== final state\n";
		print_vcpus();
		print_roots();
		if constexpr (Vm::is_td) {
			print_sept();
			print_td();
			print_pages();
		}
	}

	void print_vcpus()
	{
		for (unsigned i = 0; i < m_.nr_vcpus(); i++) {
			const VcpuRoots& v = m_.roots(i);
			out_ << "vCPU " << i << ":";
			if constexpr (Vm::is_td)
				out_ << " mirror root " << sp_name(v.mirror) << ",";
			out_ << " direct root " << sp_name(v.direct);
			if constexpr (Vm::is_td)
				out_ << (m_.module().num_vcpus() > i && m_.module().vcpu(i).in_guest ? ", in guest"
														: ", outside the guest");
			out_ << "\n";
		}
	}

	static std::string sp_name(u32 sp) { return sp == NO_SP ? "none" : "sp " + std::to_string(sp); }

	void print_roots()
	{
		const Mmu& mmu = m_.mmu();
		out_ << "roots: " << mmu.roots().size() << " on tdp_mmu_roots, " << mmu.tables().live()
		     << " page table(s) live, " << mmu.rcu_queue().size() << " RCU callback(s) pending\n";
		for (const u32 root : mmu.roots()) {
			out_ << "  " << root_label(mmu.tables()[root], root) << "\n";
			const std::vector<Row> rows = TreeWalk<Mmu>(mmu).rows(root);
			print_rows(out_, indented(rows, 1));
		}
	}

	static std::vector<Row> indented(std::vector<Row> rows, unsigned by)
	{
		for (Row& r : rows)
			r.depth += by;
		return rows;
	}

	void print_sept()
	{
		if constexpr (Vm::is_td) {
			const std::vector<Row> rows = sept_rows(m_.module());
			out_ << "S-EPT (simulated TDX module): " << rows.size() << " entr" << (rows.size() == 1 ? "y" : "ies")
			     << " not FREE, " << m_.module().sept_pages() << " S-EPT page(s)\n";
			print_rows(out_, rows);
		}
	}

	void print_td()
	{
		if constexpr (Vm::is_td) {
			const hw::SimModule& mod = m_.module();
			constexpr std::string_view kvm_states[] = {"uninitialized", "initialized", "runnable"};
			out_ << "TD: " << (mod.has_td() ? "lifecycle " + table_name(spec::lifecycle_names, mod.td().lifecycle) +
								  ", op_state " + table_name(spec::op_state_names, mod.td().op_state)
							: std::string("none in the module"))
			     << "; KVM: " << kvm_states[static_cast<int>(m_.tdx().state())] << ", HKID "
			     << (m_.tdx().hkid_assigned() ? "assigned" : "released") << "\n";
		}
	}

	void print_pages()
	{
		if constexpr (Vm::is_td) {
			TdVm& vm = m_;
			const HostPages& host = vm.pages();
			out_ << "pages: " << host.free_count() << " of " << host.count() << " TDMR frames free; guest_memfd holds "
			     << vm.gmem().size() << "; private pages released to the host: "
			     << vm.tdx().released_pages().size() << "\n";
			out_ << "PAMT:" << pamt_counts(vm.module(), host) << "\n";
		}
	}

	// Pages by PAMT type, each counted once at its head frame.
	static std::string pamt_counts(const hw::SimModule& mod, const HostPages& host)
	{
		std::map<u64, std::map<unsigned, u64>> by_type; // type -> size -> pages
		for (u64 pfn = host.base(); pfn < host.base() + host.count(); pfn++) {
			const auto v = mod.pamt(pfn);
			if (v && v->head_pfn == pfn)
				by_type[static_cast<u64>(v->pt)][v->size]++;
		}
		std::string s;
		for (const auto& [type, sizes] : by_type) {
			s += " " + table_name(spec::page_type_names, type) + "=";
			std::string parts;
			for (const auto& [size, n] : sizes)
				parts += (parts.empty() ? "" : "+") + std::to_string(n) + (size ? "x" + size_name(size) : "");
			s += parts;
		}
		return s;
	}

	// ---- --trace ------------------------------------------------------------------------
	bool write_trace_file()
	{
		errno = 0;
		std::ofstream f(opt_.trace_path);
		if (!f)
			return cannot_write(opt_.trace_path);
		TraceInput t = trace_input(m_, build_);
		t.source = source_;
		const std::size_t n = write_trace(f, t);
		f.close();
		if (!f)
			return cannot_write(opt_.trace_path);
		if (!opt_.quiet)
			out_ << "trace: " << n << " events written to " << support::printable(opt_.trace_path) << "\n";
		return true;
	}

	bool write_trace_stream()
	{
		TraceInput t = trace_input(m_, build_);
		t.source = source_;
		write_trace(*opt_.trace_stream, t);
		return static_cast<bool>(*opt_.trace_stream);
	}

	// errno is the failed open's or write's (std::ofstream keeps it).
	bool cannot_write(const std::string& path)
	{
		const int e = errno;
		out_ << "FAILED: cannot write " << support::printable(path) << (e ? ": " + std::string(std::strerror(e)) : "")
		     << "\n";
		return false;
	}

	// ---- Graphviz ----------------------------------------------------------------------
	bool write_dot()
	{
		errno = 0;
		std::ofstream f(opt_.dot_path);
		if (!f)
			return cannot_write(opt_.dot_path);
		f << "digraph arborist {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
		DotWriter<Mmu> dot(m_.mmu(), f);
		for (const u32 root : m_.mmu().roots())
			dot.root_cluster(root, root_label(m_.mmu().tables()[root], root));
		if constexpr (Vm::is_td) {
			if (!m_.module().has_td())
				return finish_dot(f);
			const std::vector<std::string> sept_nodes = write_sept_cluster(m_.module(), f);
			for (const u32 root : m_.mmu().roots())
				if (m_.mmu().tables()[root].mirror)
					dot.correspondence(root, sept_nodes);
		}
		return finish_dot(f);
	}

	bool finish_dot(std::ofstream& f)
	{
		f << "}\n";
		f.close();
		return f ? true : cannot_write(opt_.dot_path);
	}

	// ---- the verdict -------------------------------------------------------------------
	int verdict(bool dot_written, bool trace_written)
	{
		const u64 bugs = m_.kvm_bugs();
		const u64 unexpected = bugs > tolerated_bugs_ ? bugs - tolerated_bugs_ : 0;
		const bool ok = failures_ == 0 && impossible_ == 0 && unexpected == 0 && violations_ == 0 && dot_written &&
				trace_written;
		out_ << "\nresult: " << (ok ? "ok" : "FAILED") << ": " << sc_.ops.size() << " operation(s), "
		     << expects_ - failures_ << " of " << expects_ << " expectation(s) held, " << bugs << " KVM bug(s) ("
		     << unexpected << " unexpected)";
		if (opt_.refine)
			out_ << ", " << violations_ << " refinement violation(s)";
		if (impossible_)
			out_ << ", " << impossible_ << " operation(s) no kernel performs";
		if (!dot_written)
			out_ << ", Graphviz file not written";
		if (!trace_written)
			out_ << ", trace file not written";
		out_ << "\n";
		return ok ? 0 : 1;
	}

	const Scenario& sc_;
	const RunOptions& opt_;
	Vm& m_;
	std::ostream& out_;
	std::string source_;
	std::optional<RootRefinement<typename Vm::Hooks>> refine_;
	std::optional<MirrorRefinement> mirror_refine_;
	std::ostringstream discard_;
	std::size_t index_ = 0;
	std::size_t trace_seen_ = 0;
	std::map<u64, u64> calls_seen_;
	std::size_t mmu_events_seen_ = 0, tdx_events_seen_ = 0;
	bool hooks_bug_reported_ = false;
	u64 expects_ = 0, failures_ = 0, violations_ = 0, impossible_ = 0;
	u64 tolerated_bugs_ = 0;
	u64 clock_ = 1; // the clock of the VM's records (start_vm)
	TdBuild build_;
};

template <class Vm>
int run_on(const Scenario& sc, const RunOptions& o, std::ostream& out, const std::string& path)
{
	const auto vm = std::make_unique<Vm>(vm_options(sc.vm, std::type_identity<Vm>{}));
	return Runner<Vm>(sc, o, *vm, out, path).run();
}

} // namespace

int run_scenario(support::ByteSource& src, const RunOptions& options, std::ostream& out, std::ostream& err)
{
	Scenario sc;
	try {
		support::LineReader in(src, kMaxLine);
		try {
			sc = parse_scenario(in);
		} catch (const ParseError& e) {
			err << support::printable(in.name()) << ":" << e.line << ": field " << echo_input(e.field) << ": "
			    << e.what << "\n";
			return 2;
		}
	} catch (const support::InputError& e) {
		err << e.what() << "\n";
		return 2;
	}
	const std::string name(src.name());
	if (options.trace_stream || !options.trace_path.empty())
		if (const std::optional<ParseError> e = trace_refusal(sc)) {
			err << support::printable(name) << ":" << e->line << ": field " << echo_input(e->field) << ": "
			    << e->what << "\n";
			return 2;
		}
	if (sc.vm.is_td())
		return run_on<TdVm>(sc, options, out, name);
	return run_on<PlainVm>(sc, options, out, name);
}

int run_scenario(const std::string& path, const RunOptions& options, std::ostream& out, std::ostream& err)
{
	std::unique_ptr<support::FileSource> src;
	try {
		src = std::make_unique<support::FileSource>(path);
	} catch (const support::InputError& e) {
		err << e.what() << "\n";
		return 2;
	}
	return run_scenario(*src, options, out, err);
}

} // namespace arborist::cli
