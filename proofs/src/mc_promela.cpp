// SPDX-License-Identifier: GPL-2.0-only
//
// The root-lifecycle configuration as Promela, for the SPIN cross-check.
//
// This is deliberately a second, independent encoding of the machines that
// RootSystem runs (impl/arborist/impl/root_ops.hpp and the tasks of
// proofs/arborist/mc/root_system.hpp): the cross-check is only evidence if
// the two are written separately.  The correspondence is one to one:
//  - every atomic step of a task is one d_step, guarded by the task's pc
//    (and by the lock or grace-period condition that enables it);
//  - the variables are exactly the fields RootSystem encodes into a state
//    (the root's fields, mmu_lock, and per task pc, put pc, found, got,
//    in_rcu, gp_wait and the ghost count held), and every process stays at
//    its loop head, so a SPIN state is determined by those variables;
//  - temporaries live in `hidden` variables, which SPIN leaves out of the
//    state vector.
// So, with no reductions on either side (arborist --no-symmetry --no-por,
// pan -DNOREDUCE), both tools store the same number of states.  The
// properties asserted are the ones seed 003 is about (ghost ownership, use
// after free, KVM_BUG_ON, "freed only when invalid and zero") and deadlock
// freedom (a timeout with work left); the v6.19 design invariants and the
// termination check are arborist's alone.
#include <string>

#include "arborist/mc/configs.hpp"
#include "arborist/mc/root_system.hpp"

namespace arborist::mc {

namespace {

struct Emitter {
	const RootConfig& cfg;
	std::string out;
	unsigned n = 0;
	std::vector<RootThreadKind> kinds;

	void line(const std::string& s) { out += s + "\n"; }
	static std::string v(const char* name, unsigned i) { return std::string(name) + "_" + std::to_string(i); }

	// The start and end of every step of task i: the ghost count follows
	// the change of the refcount; the invariants hold after the step.
	std::string open(unsigned, const std::string& guard) const
	{
		return "\t:: d_step { " + guard + " -> before = refcount; ";
	}
	std::string close(unsigned i) const
	{
		return v("held", i) + " = " + v("held", i) + " + refcount - before; assert(" + v("held", i) +
		       " >= 0); INV }";
	}

	// One put machine step (PutRootOp::step) for task i at stage `stage`,
	// continuing at `next` when the put returns.
	void put(unsigned i, unsigned stage, unsigned next, PutRootVariant variant)
	{
		const std::string at = v("pc", i) + " == " + std::to_string(stage) + " && " + v("putpc", i) + " == ";
		const std::string pp = v("putpc", i), pc = v("pc", i), ret = pc + " = " + std::to_string(next);
		// refcount_dec_and_test(): the underflow is a KVM bug and returns false.
		const std::string dec_and_test_false_to = "if :: refcount == 0 -> bugs++; " + ret +
							  " :: else -> refcount--; if :: refcount != 0 -> " + ret +
							  " :: else -> ";
		// refcount_dec_not_one()
		auto dec_not_one = [&](const std::string& fail) {
			return "if :: refcount == 1 -> " + fail + " :: refcount == 0 -> bugs++; " + fail +
			       " :: else -> refcount--; " + ret + " fi; ";
		};
		const std::string list_del = at + "1", call_rcu = at + "2";
		std::string gp;
		for (unsigned j = 0; j < n; j++)
			gp += v("gp_wait", j) + " = " + v("in_rcu", j) + "; ";
		switch (variant) {
		case PutRootVariant::v6_19:
			line(open(i, at + "0") + "assert(!freed); " + dec_and_test_false_to +
			     "assert(!freed); if :: !invalid -> bugs++ :: else -> skip fi; " + pp + " = 1 fi fi; " +
			     close(i));
			break;
		case PutRootVariant::refcount_dec_not_one:
			line(open(i, at + "0") + "assert(!freed); " + dec_not_one(pp + " = 3") + close(i));
			line(open(i, at + "3") + "assert(!freed); was = invalid; invalid = 1; if :: was -> " + pp +
			     " = 8 :: else -> " + pp + " = 5 fi; " + close(i));
			line(open(i, at + "5") + "assert(!freed); " + pp + " = 6; " + close(i));
			line(open(i, at + "6") + pp + " = 7; " + close(i));
			line(open(i, at + "7") + "assert(!freed); " + dec_not_one(pp + " = 8") + close(i));
			line(open(i, at + "8") + "assert(!freed); refcount = 0; " + pp + " = 1; " + close(i));
			break;
		case PutRootVariant::dec_and_test:
			line(open(i, at + "0") + "assert(!freed); " + dec_and_test_false_to + pp + " = 3 fi fi; " +
			     close(i));
			line(open(i, at + "3") + "assert(!freed); was = invalid; invalid = 1; if :: was -> " + pp +
			     " = 1 :: else -> " + pp + " = 4 fi; " + close(i));
			line(open(i, at + "4") + "assert(!freed); refcount = 1; " + pp + " = 5; " + close(i));
			line(open(i, at + "5") + "assert(!freed); " + pp + " = 6; " + close(i));
			line(open(i, at + "6") + pp + " = 7; " + close(i));
			line(open(i, at + "7") + "assert(!freed); " + dec_and_test_false_to + pp + " = 1 fi fi; " +
			     close(i));
			break;
		}
		line(open(i, list_del) + "on_list = 0; " + pp + " = 2; " + close(i));
		line(open(i, call_rcu) + "rcu_queued = 1; " + gp + ret + "; " + close(i));
	}

	void vcpu(unsigned i)
	{
		const std::string pc = v("pc", i);
		line("active proctype " + v("vcpu", i) + "() {");
		line("end: do");
		line(open(i, pc + " == 0 && !writer") + "readers++; " + pc + " = 1; " + close(i));
		put(i, 1, 2, cfg.variant);
		line(open(i, pc + " == 2") + "readers--; " + pc + " = 3; " + close(i));
		line("od }");
	}

	void iter(unsigned i)
	{
		const std::string pc = v("pc", i);
		line("active proctype " + v("iter", i) + "() {");
		line("end: do");
		line(open(i, pc + " == 0 && !writer") + "readers++; " + pc + " = 1; " + close(i));
		line(open(i, pc + " == 1") + v("in_rcu", i) + " = 1; " + pc + " = 2; " + close(i));
		line(open(i, pc + " == 2") + v("found", i) + " = on_list; if :: on_list -> " + pc + " = 3 :: else -> " +
		     pc + " = 4 fi; " + close(i));
		line(open(i, pc + " == 3") + "assert(!freed); if :: refcount != 0 -> refcount++; " + v("got", i) +
		     " = 1 :: else -> " + v("got", i) + " = 0 fi; " + pc + " = 4; " + close(i));
		line(open(i, pc + " == 4") + v("in_rcu", i) + " = 0; " + v("gp_wait", i) + " = 0; if :: " + v("got", i) +
		     " -> " + pc + " = 5 :: else -> " + pc + " = 7 fi; " + close(i));
		line(open(i, pc + " == 5") + "assert(!freed); " + pc + " = 6; " + close(i));
		put(i, 6, 7, cfg.variant);
		line(open(i, pc + " == 7") + "readers--; " + pc + " = 8; " + close(i));
		line("od }");
	}

	void zapper(unsigned i)
	{
		const std::string pc = v("pc", i);
		line("active proctype " + v("zapper", i) + "() {");
		line("end: do");
		line(open(i, pc + " == 0 && !writer && readers == 0") + "writer = 1; " + pc + " = 1; " + close(i));
		line(open(i, pc + " == 1") + "if :: on_list && !invalid -> invalid = 1; scheduled = 1 :: else -> skip fi; " +
		     pc + " = 2; " + close(i));
		line(open(i, pc + " == 2") + "writer = 0; " + pc + " = 3; " + close(i));
		line(open(i, pc + " == 3 && !writer") + "readers++; " + pc + " = 4; " + close(i));
		line(open(i, pc + " == 4") + "was = on_list && scheduled; scheduled = 0; if :: was && !invalid -> bugs++ "
					      ":: else -> skip fi; if :: was -> " +
		     pc + " = 5 :: else -> " + pc + " = 8 fi; " + close(i));
		line(open(i, pc + " == 5") + "assert(!freed); " + pc + " = 6; " + close(i));
		line(open(i, pc + " == 6") + pc + " = 7; " + close(i));
		put(i, 7, 8, PutRootVariant::v6_19);
		line(open(i, pc + " == 8") + "readers--; " + pc + " = 9; " + close(i));
		line("od }");
	}

	void rcu(unsigned i)
	{
		std::string gp_clear = "rcu_queued", all_done = "!rcu_queued";
		for (unsigned j = 0; j < n; j++) {
			gp_clear += " && !" + v("gp_wait", j);
			if (kinds[j] == RootThreadKind::vcpu)
				all_done += " && " + v("pc", j) + " == 3";
			else if (kinds[j] == RootThreadKind::iter)
				all_done += " && " + v("pc", j) + " == 8";
			else if (kinds[j] == RootThreadKind::zapper)
				all_done += " && " + v("pc", j) + " == 9";
		}
		line("active proctype " + v("rcu", i) + "() {");
		line("end: do");
		line(open(i, gp_clear) + "freed = 1; rcu_queued = 0; " + close(i));
		line("\t:: d_step { timeout -> assert(" + all_done + ") } /* deadlock: nothing can step, work left */");
		line("od }");
	}

	std::string emit()
	{
		RootSystem sys(cfg);
		const RootMcState init = sys.initial();
		n = sys.thread_count();
		for (unsigned t = 0; t < n; t++)
			kinds.push_back(init.th[t].kind);
		line("/* arborist: root-lifecycle configuration, put variant " +
		     std::string(cfg.variant == PutRootVariant::v6_19		     ? "v6.19"
				 : cfg.variant == PutRootVariant::dec_and_test ? "seed003 dec_and_test"
										       : "seed003 refcount_dec_not_one") +
		     ", " + std::to_string(cfg.iterators) + " iterators" + (cfg.zapper ? ", zapper" : "") +
		     ". Generated by `arborist check NAME --emit-promela FILE`; see proofs/src/mc_promela.cpp. */");
		line("byte refcount = " + std::to_string(init.w.refcount) + ";");
		line("bit invalid = 0; bit scheduled = 0; bit on_list = 1; bit rcu_queued = 0; bit freed = 0;");
		line("byte readers = 0; bit writer = 0; byte bugs = 0;");
		for (unsigned t = 0; t < n; t++)
			line("byte " + v("pc", t) + " = 0; byte " + v("putpc", t) + " = 0; bit " + v("found", t) +
			     " = 0; bit " + v("got", t) + " = 0; bit " + v("in_rcu", t) + " = 0; bit " + v("gp_wait", t) +
			     " = 0; short " + v("held", t) + " = " + std::to_string(init.th[t].held) + ";");
		line("hidden byte before; hidden byte was;");
		line("#define INV assert(bugs == 0); assert(!freed || (invalid && refcount == 0))");
		for (unsigned t = 0; t < n; t++) {
			switch (kinds[t]) {
			case RootThreadKind::vcpu: vcpu(t); break;
			case RootThreadKind::iter: iter(t); break;
			case RootThreadKind::zapper: zapper(t); break;
			case RootThreadKind::rcu: rcu(t); break;
			}
		}
		return out;
	}
};

} // namespace

std::string root_promela(const RootConfig& c)
{
	Emitter e{c, {}, 0, {}};
	return e.emit();
}

} // namespace arborist::mc
