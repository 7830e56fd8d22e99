// SPDX-License-Identifier: GPL-2.0-only
//
// The model checker (proofs/arborist/mc/): its search on small systems
// written for the test (a deadlock, a livelock, a broken invariant, a
// symmetric pair), and the recorded verdict of every named configuration.
#include <gtest/gtest.h>

#include "arborist/mc/config_file.hpp"
#include "arborist/mc/configs.hpp"
#include "arborist/mc/root_system.hpp"
#include "arborist/mc/tdx_system.hpp"

namespace {

using namespace arborist::mc;

// Two threads each increment a shared counter in two steps (read, write):
// the classic lost update.  Threads are identical (symmetry class 1).
// `lock` makes the pair atomic via a flag; `deadlock` makes thread 1 wait
// for a flag nobody sets; `livelock` makes thread 0 spin between two pcs.
struct Counter {
	struct State {
		unsigned x = 0;
		bool locked = false;
		unsigned pc[2] = {0, 0};
		unsigned tmp[2] = {0, 0};
	};
	bool lock = false, deadlock = false, livelock = false;

	State initial() const { return {}; }
	unsigned thread_count() const { return 2; }
	std::string thread_name(unsigned t) const { return "t" + std::to_string(t); }
	unsigned symmetry_class(unsigned) const { return deadlock || livelock ? 0 : 1; }
	bool done(const State& s, unsigned t) const { return s.pc[t] == 4; }
	bool enabled(const State& s, unsigned t) const
	{
		if (done(s, t))
			return false;
		if (deadlock && t == 1)
			return false;
		return s.pc[t] != 0 || !lock || !s.locked;
	}
	bool is_local(const State& s, unsigned t) const { return s.pc[t] == 3 && !livelock; }
	std::optional<Violation> step(State& s, unsigned t, std::string* d) const
	{
		switch (s.pc[t]) {
		case 0: s.locked = lock; s.pc[t] = 1; break;
		case 1: s.tmp[t] = s.x; s.pc[t] = 2; break;
		case 2: s.x = s.tmp[t] + 1; s.locked = false; s.pc[t] = 3; break;
		case 3: s.pc[t] = livelock && t == 0 ? 1 : 4; break;
		}
		if (d)
			*d = "pc " + std::to_string(s.pc[t]);
		return std::nullopt;
	}
	std::optional<Violation> check(const State& s) const
	{
		if (done(s, 0) && done(s, 1) && s.x != 2)
			return Violation{"counter.lost_update", "x = " + std::to_string(s.x)};
		return std::nullopt;
	}
	void encode_shared(const State& s, std::string& out) const
	{
		out.push_back(static_cast<char>(s.x));
		out.push_back(static_cast<char>(s.locked));
	}
	void encode_thread(const State& s, unsigned t, std::string& out) const
	{
		out.push_back(static_cast<char>(s.pc[t]));
		out.push_back(static_cast<char>(s.tmp[t]));
	}
	std::string describe_state(const State& s) const { return "x " + std::to_string(s.x); }
	std::string dot(const State&) const { return "digraph {}"; }
};
static_assert(System<Counter>);

TEST(ModelChecker, FindsTheLostUpdateWithAShortestTrace)
{
	const Result r = check(Counter{});
	ASSERT_TRUE(r.violation);
	EXPECT_EQ(r.violation->invariant, "counter.lost_update");
	// Each thread's four steps (lock, read, write, exit), the two reads
	// before either write: no shorter trace reaches two finished threads.
	EXPECT_EQ(r.trace.size(), 8u);
}

TEST(ModelChecker, LockedCounterIsExhaustivelyCorrect)
{
	Counter c;
	c.lock = true;
	const Result r = check(c);
	EXPECT_FALSE(r.violation);
	EXPECT_TRUE(r.exhaustive());
	EXPECT_GT(r.states, 5u);
}

TEST(ModelChecker, ReportsDeadlockAndNontermination)
{
	Counter dl;
	dl.deadlock = true;
	const Result a = check(dl);
	ASSERT_TRUE(a.violation);
	EXPECT_EQ(a.violation->invariant, "deadlock");

	Counter ll;
	ll.livelock = true;
	ll.lock = true;
	Options o;
	const Result b = check(ll, o);
	ASSERT_TRUE(b.violation);
	EXPECT_EQ(b.violation->invariant, "termination");
	o.termination = false;
	EXPECT_FALSE(check(ll, o).violation);
}

TEST(ModelChecker, ReductionsShrinkTheSpaceAndKeepTheVerdict)
{
	Counter c;
	c.lock = true;
	Options none;
	none.symmetry = none.por = false;
	const Result full = check(c, none);
	const Result reduced = check(c);
	EXPECT_LT(reduced.states, full.states);
	EXPECT_EQ(bool(full.violation), bool(reduced.violation));
}

// Every named configuration gives its recorded verdict, with and without
// the reductions.
TEST(ModelCheckerConfigs, RecordedVerdicts)
{
	for (const McConfig& c : mc_configs()) {
		if (c.deep)
			continue; // cli.check_deep, in the default build only
		for (bool reduce : {true, false}) {
			Options o;
			o.symmetry = o.por = reduce;
			const Result r = c.run(o);
			const std::string verdict = r.violation ? r.violation->invariant : r.truncated ? "incomplete" : "pass";
			EXPECT_EQ(verdict, c.expected) << c.name << (reduce ? " (reduced)" : " (no reductions)");
		}
	}
}

// Seed 003: the objection appears as a concrete interleaving -- an iterator
// takes a reference after the put's re-check, and the put's
// refcount_set(0) drops it.
TEST(ModelCheckerConfigs, Seed003ObjectionIsTheCounterexample)
{
	const McConfig* c = find_mc_config("root.seed003.refcount-dec-not-one");
	ASSERT_NE(c, nullptr);
	const Result r = c->run({});
	ASSERT_TRUE(r.violation);
	ASSERT_GE(r.trace.size(), 2u);
	EXPECT_NE(r.trace[r.trace.size() - 2].action.find("kvm_tdp_mmu_get_root: got it"), std::string::npos);
	EXPECT_NE(r.trace.back().action.find("refcount_set(0)"), std::string::npos);
	EXPECT_EQ(r.trace.back().thread_name, "vcpu");
}

// Seed 000: with the SEAMCALL first, the second vCPU's AUG meets the entry
// the first one made PENDING.
TEST(ModelCheckerConfigs, Seed000SecondAugFails)
{
	const Result r = find_mc_config("mirror.seed000.seamcall-then-cmpxchg")->run({});
	ASSERT_TRUE(r.violation);
	EXPECT_EQ(r.violation->invariant, "kvm.no_bug");
	EXPECT_NE(r.trace.back().action.find("TDH.MEM.PAGE.AUG -> TDX_EPT_ENTRY_STATE_INCORRECT"), std::string::npos);
	EXPECT_NE(r.final_state.find("KVM_BUG_ON: TDH.MEM.PAGE.AUG"), std::string::npos);
	// Readable: symbolic returns, the step that fired the KVM_BUG_ON names
	// it and no earlier one does, KVM levels with the TDX level in brackets,
	// structured SEAMCALLs.
	EXPECT_NE(r.trace.back().action.find("returns RET_PF_RETRY"), std::string::npos);
	EXPECT_NE(r.trace.back().action.find("; KVM_BUG_ON: TDH.MEM.PAGE.AUG"), std::string::npos);
	for (std::size_t i = 0; i + 1 < r.trace.size(); i++)
		EXPECT_EQ(r.trace[i].action.find("KVM_BUG_ON"), std::string::npos) << i;
	EXPECT_NE(r.trace[5].action.find("S-EPT SEAMCALL before the cmpxchg"), std::string::npos);
	EXPECT_NE(r.final_state.find("at level 1 (TDX level 0): PENDING"), std::string::npos);
	ASSERT_EQ(r.trace.back().seamcalls.size(), 1u);
	EXPECT_EQ(r.trace.back().seamcalls[0].first, "TDH.MEM.PAGE.AUG");
	EXPECT_EQ(r.trace.back().seamcalls[0].second, "TDX_EPT_ENTRY_STATE_INCORRECT|RCX (0xc0000b0d00000001)");
	// The frozen protocol on the same configuration is exhaustively clean.
	const Result v619 = find_mc_config("mirror.v6.19.frozen")->run({});
	EXPECT_TRUE(v619.exhaustive());
	EXPECT_GT(v619.states, 50u);
}

// Seed 000 for TDX: with the parent S-EPT entry blocked (and, in the
// corrected version, every entry below it first), the RCU callback's
// PAGE.REMOVE of a leaf cannot walk past the blocked parent.  After the
// HKID release the same variants remove the branch (teardown passes).
TEST(ModelCheckerConfigs, Seed000BlockedBranchIsUnremovable)
{
	for (const char* name : {"removal.seed000.block-parent", "removal.seed000.block-children"}) {
		const Result r = find_mc_config(name)->run({});
		ASSERT_TRUE(r.violation) << name;
		EXPECT_EQ(r.violation->invariant, "kvm.no_bug");
		EXPECT_EQ(r.trace.back().thread_name, "rcu") << name;
		EXPECT_NE(r.trace.back().action.find("TDH.MEM.PAGE.REMOVE -> TDX_EPT_WALK_FAILED"), std::string::npos);
		EXPECT_NE(r.trace[1].action.find("TDH.MEM.RANGE.BLOCK -> TDX_SUCCESS"), std::string::npos);
	}
	std::string td = "configuration t\nsummary s\nsource s\nexpect pass\nsystem tdx\ngeometry vcpus=1\n"
			 "variant removal=rcu-block-children\ntask vcpu-run\ntask gmem-close\ntask vm-destroy\n";
	EXPECT_TRUE(parse_mc_config(td, "t.mc").run({}).exhaustive());
	// The hook that freezes by itself is the frozen protocol, state for state.
	const Result hook = find_mc_config("mirror.seed000.hook-freezes")->run({});
	EXPECT_TRUE(hook.exhaustive());
	EXPECT_EQ(hook.states, find_mc_config("mirror.v6.19.frozen-link")->run({}).states);
}

TEST(ModelCheckerConfigs, Seed004NoPinReturnsAMappedPage)
{
	const Result r = find_mc_config("teardown.seed004.no-pin")->run({});
	ASSERT_TRUE(r.violation);
	EXPECT_EQ(r.violation->invariant, "pamt.page_returned_while_owned");
	EXPECT_NE(r.trace.back().action.find("folios freed to the host"), std::string::npos);
}

// TDX_OPERAND_BUSY comes from the module's locks only: with lock windows
// BLOCK meets the S-EPT tree that VP.ENTER's stepping filter holds, and
// without tdh_do_no_vcpus that is a KVM_BUG_ON; with atomic SEAMCALLs (no
// lock held across steps) the same tasks never see BUSY, retry or not.
TEST(ModelCheckerConfigs, BusyComesFromTheModuleLocks)
{
	const Result r = find_mc_config("busy.no-kick-retry")->run({});
	ASSERT_TRUE(r.violation);
	EXPECT_EQ(r.violation->invariant, "kvm.no_bug");
	EXPECT_EQ(r.trace.back().thread_name, "unmap");
	ASSERT_EQ(r.trace.back().seamcalls.size(), 1u);
	EXPECT_EQ(r.trace.back().seamcalls[0].first, "TDH.MEM.RANGE.BLOCK");
	EXPECT_EQ(r.trace.back().seamcalls[0].second, "TDX_OPERAND_BUSY|SEPT_TREE (0x8000020000000092)");
	EXPECT_NE(r.final_state.find("module lock held by vcpu: S-EPT tree (exclusive)"), std::string::npos);
	for (std::size_t i = 0; i + 1 < r.trace.size(); i++)
		EXPECT_EQ(r.trace[i].action.find("BUSY"), std::string::npos) << i;

	const std::string atomic = "configuration t\nsummary s\nsource s\nexpect pass\nsystem tdx\n"
				   "geometry vcpus=1 prelink=yes module-locks=atomic\nvariant busy-retry=none\n"
				   "task vcpu-run\ntask unmap gfn=0x201..0x202\n";
	EXPECT_TRUE(parse_mc_config(atomic, "t.mc").run({}).exhaustive());
	// The retry of v6.19 makes the windowed configuration pass, exhaustively.
	const Result v619 = find_mc_config("busy.v6.19.block-vs-enter")->run({});
	EXPECT_TRUE(v619.exhaustive());
	EXPECT_GT(v619.states, find_mc_config("busy.no-kick-retry")->run({}).states);
}

// The huge-page split with lock windows: its hook steps at its SEAMCALLs
// (and tdx_track()'s kick), so a TD entry with the zero-step filter can
// land after the kick and before DEMOTE.  DEMOTE (the tree shared) then meets the filter's
// exclusive tree lock; tdh_do_no_vcpus() kicks and the retry succeeds --
// and without the retry the same schedule is a KVM_BUG_ON.
TEST(ModelCheckerConfigs, DemoteMeetsTheSteppingFilter)
{
	for (bool retry : {true, false}) {
		TdxMcConfig c;
		c.nr_vcpus = 1;
		c.huge = true;
		c.lock_windows = true;
		c.tdx_variants.private_huge_pages = true;
		c.tdx_variants.busy_kick_retry = retry;
		c.tasks = {{TdxTask::vcpu_run, -1, 0, 0, 0, true}, {TdxTask::split}};
		const TdxSystem sys(c);
		TdxSystem::State s = sys.initial();
		std::string d;
		auto step = [&](unsigned t) {
			EXPECT_TRUE(sys.enabled(s, t));
			d.clear();
			sys.step(s, t, &d);
			return d;
		};
		for (int i = 0; i < 12 && step(1).find("TDH.MEM.TRACK -> TDX_SUCCESS") == std::string::npos;)
			i++;
		ASSERT_NE(d.find("TDH.MEM.TRACK -> TDX_SUCCESS"), std::string::npos) << d;
		EXPECT_EQ(step(1), "split_external_spt: next SEAMCALL") << "tdx_track()'s kick";
		EXPECT_NE(step(0).find("TDH.VP.ENTER -> TDX_SUCCESS"), std::string::npos) << d;
		EXPECT_NE(step(1).find("TDH.MEM.PAGE.DEMOTE -> TDX_OPERAND_BUSY|SEPT_TREE"), std::string::npos) << d;
		if (!retry) {
			ASSERT_TRUE(sys.check(s));
			EXPECT_EQ(sys.check(s)->invariant, "kvm.no_bug");
			continue;
		}
		EXPECT_FALSE(sys.check(s));
		EXPECT_NE(step(1).find("TDH.MEM.PAGE.DEMOTE -> TDX_SUCCESS"), std::string::npos) << d;
		EXPECT_FALSE(sys.check(s));
	}
}

TEST(ModelCheckerConfigs, NamesAreUnique)
{
	const auto& all = mc_configs();
	for (std::size_t i = 0; i < all.size(); i++)
		for (std::size_t j = i + 1; j < all.size(); j++)
			EXPECT_NE(all[i].name, all[j].name);
}

// --- configuration files --------------------------------------------------------

// A small configuration, as text, and the reader's error for a change to it.
const std::string kSeamcallFirst = "configuration t.seamcall-first\n"
				   "summary two vCPUs, SEAMCALL first\n"
				   "source test\n"
				   "expect kvm.no_bug\n"
				   "system tdx\n"
				   "geometry vcpus=2\n"
				   "variant mirror-write=seamcall-first\n"
				   "task fault vcpu=0\n"
				   "task fault vcpu=1   # the racing vCPU\n";

std::string error_of(const std::string& text)
{
	try {
		parse_mc_config(text, "t.mc");
	} catch (const arborist::support::InputError& e) {
		return e.what();
	}
	return "";
}

TEST(ModelCheckerConfigFile, ReadsAConfigurationAndRunsIt)
{
	const McConfig c = parse_mc_config(kSeamcallFirst, "t.mc");
	EXPECT_EQ(c.name, "t.seamcall-first");
	EXPECT_EQ(c.system, "tdx");
	EXPECT_EQ(c.properties.size(), std::size(tdx_properties));
	// The same design as the built-in file: the same search.
	const Result a = c.run({});
	const Result b = find_mc_config("mirror.seed000.seamcall-then-cmpxchg")->run({});
	ASSERT_TRUE(a.violation);
	EXPECT_EQ(a.violation->invariant, "kvm.no_bug");
	EXPECT_EQ(a.states, b.states);
	EXPECT_EQ(a.trace.size(), b.trace.size());
}

// The properties line decides what is checked: without kvm.no_bug the
// seed-000 ordering breaks the next property instead (the mirror and the
// S-EPT disagree once both faults are done), so the line is not decorative.
TEST(ModelCheckerConfigFile, PropertiesLineSelectsTheChecks)
{
	std::string text = kSeamcallFirst;
	text.replace(text.find("expect kvm.no_bug"), 17, "expect pass");
	text += "properties deadlock termination td.page_leaked\n";
	const McConfig c = parse_mc_config(text, "t.mc");
	EXPECT_FALSE(c.run({}).violation);
	text += "";
	std::string all = kSeamcallFirst + "properties all\n";
	EXPECT_TRUE(parse_mc_config(all, "t.mc").run({}).violation);
}

TEST(ModelCheckerConfigFile, ErrorsNameFileLineAndField)
{
	const auto with = [](std::string from, std::string to) {
		std::string t = kSeamcallFirst;
		t.replace(t.find(from), from.size(), to);
		return error_of(t);
	};
	EXPECT_EQ(error_of(kSeamcallFirst), "");
	EXPECT_EQ(with("mirror-write=seamcall-first", "mirror-write=later"),
		  "t.mc:7: mirror-write: expected frozen, seamcall-first or hook-freezes, got 'later'");
	EXPECT_EQ(with("vcpus=2", "vcpus=9"), "t.mc:6: vcpus: '9' is out of range 1 to 4");
	EXPECT_EQ(with("task fault vcpu=1", "task fault vcpu=1 gfn=3"),
		  "t.mc:9: gfn: not a parameter of task fault (it takes vcpu=N and gpa=GPA)");
	EXPECT_EQ(with("task fault vcpu=1", "task fly"),
		  "t.mc:9: task: unknown task 'fly'; expected one of fault, unmap, split, rcu, vcpu-run, gmem-close, "
		  "vm-destroy, prune, terminate");
	EXPECT_EQ(with("expect kvm.no_bug", "expect tlb.stale"),
		  "t.mc:4: expect: 'tlb.stale' is neither pass nor a property this configuration checks (all, deadlock, "
		  "termination, kvm.no_bug, pamt.page_returned_while_owned, tlb.stale_translation, td.page_leaked, "
		  "mirror.agrees_with_sept)");
	EXPECT_EQ(with("system tdx\n", ""), "t.mc:5: geometry: comes after the 'system' line");
	EXPECT_EQ(with("source test\n", ""), "t.mc: source: missing (every configuration has configuration, summary, "
					       "source, expect, system)");
	EXPECT_EQ(with("geometry vcpus=2", "geometry vcpus=1"), "t.mc: geometry: task 2: vCPU 1 of a TD with 1");
	EXPECT_EQ(with("task fault vcpu=0", "task fault vcpu=0 gpa=0x1001"), "t.mc:8: gpa: '0x1001' is not 4K aligned");
	EXPECT_EQ(with("vcpus=2", "vcpus=2 vcpus=2"), "t.mc:6: vcpus: given twice");
	EXPECT_EQ(with("summary", "sumary"), "t.mc:2: sumary: unknown line; expected configuration, summary, source, "
					     "expect, tier, system, geometry, variant, task or properties");
	EXPECT_EQ(error_of(kSeamcallFirst + "task vcpu-run stepping-filter=yes\n"),
		  "t.mc:10: stepping-filter: needs geometry module-locks=windows (atomic SEAMCALLs hold no lock "
		  "across steps)");
	EXPECT_EQ(with("vcpus=2", "vcpus=2 module-locks=sometimes"),
		  "t.mc:6: module-locks: expected windows or atomic, got 'sometimes'");
	EXPECT_EQ(error_of(kSeamcallFirst + "variant busy-retry=twice\n"),
		  "t.mc:10: busy-retry: expected kick-retry or none, got 'twice'");
	EXPECT_EQ(error_of(kSeamcallFirst + "tier shallow\n"), "t.mc:10: tier: expected deep or quick, got 'shallow'");
	EXPECT_EQ(error_of(kSeamcallFirst + std::string(5000, 'x')), "t.mc:10: line longer than 4 KiB (the limit)");
	const std::string root = "configuration r\nsummary s\nsource s\nexpect pass\nsystem root\n"
				 "variant put-root=dec-and-test\ntask put\ntask zap-all-fast\n";
	EXPECT_EQ(error_of(root), "t.mc: task: zap-all-fast (the gifted TDP MMU reference) exists with "
				  "put-root=v6.19 only");
}

// Every built-in configuration is a file of proofs/configs/, named after it.
TEST(ModelCheckerConfigFile, BuiltInsAreTheRepositoryFiles)
{
	for (const McConfig& c : mc_configs())
		EXPECT_EQ(c.file, "proofs/configs/" + c.name + ".mc");
	EXPECT_GE(mc_configs().size(), 17u);
}

} // namespace
