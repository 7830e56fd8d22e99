// SPDX-License-Identifier: GPL-2.0-only
//
// Root get/put as stepped machines (impl/arborist/impl/root_ops.hpp) and
// the put variants of seed 003, run on the TDP MMU.  The interleaving tests
// enumerate every position of a concurrent get inside a put: the seed's
// debate settled by execution.
#include <gtest/gtest.h>

#include "arborist/impl/root_ops.hpp"
#include "arborist/impl/tdp_mmu.hpp"

namespace {

using namespace arborist;
using namespace arborist::impl;
using spec::u64;

struct Vm {
	NoExternalHooks hooks;
	TdpMmu<NoExternalHooks> mmu;
	VcpuRoots vcpu;
	explicit Vm(PutRootVariant v)
		: mmu(
			  [v] {
				  Config c;
				  c.flavor = spec::npt_v6_1;
				  c.paging = {2, 3};
				  c.variants.put_root = v;
				  return c;
			  }(),
			  hooks)
	{
		for (u64 g = 0; g < 8; g++) {
			PageFault f;
			f.addr = g << 12;
			f.pfn = 0x100 + g;
			mmu.page_fault(vcpu, f);
		}
	}
};

constexpr PutRootVariant kSeed003[] = {PutRootVariant::refcount_dec_not_one,
				       PutRootVariant::dec_and_test};

// The last reference of a valid root: v6.19 calls it a KVM bug (the TDP MMU
// invalidates roots elsewhere); the seed-003 proposals invalidate, zap and
// free the root inside the put.
TEST(RootPutVariants, LastPutOfValidRoot)
{
	{
		Vm vm(PutRootVariant::v6_19);
		const u32 r = vm.vcpu.direct;
		vm.mmu.unload_roots(vm.vcpu);
		vm.mmu.put_root(r);
		EXPECT_EQ(vm.mmu.bugs(), 1u);
	}
	for (const auto v : kSeed003) {
		Vm vm(v);
		const u32 r = vm.vcpu.direct;
		vm.mmu.unload_roots(vm.vcpu);
		vm.mmu.put_root(r); // the MMU's reference, the last one
		EXPECT_EQ(vm.mmu.bugs(), 0u);
		EXPECT_TRUE(vm.mmu.tables()[r].invalid);
		EXPECT_TRUE(vm.mmu.roots().empty());
		vm.mmu.rcu_barrier();
		EXPECT_EQ(vm.mmu.tables().live(), 0u); // zapped and freed
	}
}

// One put of the last reference by task A, one get by task B inserted
// after A's k-th step; then B puts its reference.  Returns whether B
// obtained a reference to a root that A's put then freed (a use of a freed
// root) or A's put dropped B's reference.
struct Outcome {
	bool b_got = false;
	bool freed_while_b_holds = false;
	u64 bugs = 0;
};

Outcome interleave(PutRootVariant v, unsigned k)
{
	Vm vm(v);
	const u32 r = vm.vcpu.direct;
	vm.mmu.unload_roots(vm.vcpu); // only the MMU's reference is left: A holds it
	PutRootOp a{r, v, false};
	GetRootOp b{r};
	Outcome o;
	unsigned steps = 0;
	bool a_done = false;
	while (!a_done) {
		if (steps == k) {
			b.step(vm.mmu);
			o.b_got = b.ok;
		}
		a_done = a.step(vm.mmu) == OpStatus::done;
		steps++;
	}
	if (steps <= k) { // B runs after A finished
		b.step(vm.mmu);
		o.b_got = b.ok;
	}
	// A's put is complete; a grace period passes.
	const bool queued = std::find_if(vm.mmu.rcu_queue().begin(), vm.mmu.rcu_queue().end(),
					 [&](const RcuCallback& cb) { return cb.sp == r; }) != vm.mmu.rcu_queue().end();
	o.freed_while_b_holds = o.b_got && queued;
	vm.mmu.rcu_barrier();
	o.bugs = vm.mmu.bugs();
	return o;
}

// Seed 003, first proposal: refcount_dec_not_one() after the zap and then
// refcount_set(0).  A get between the re-check and the forced zero takes a
// reference that the put then drops: "_this_ task can't drop a reference
// taken by the other task" / "KVM should never force a refcount to '0'".
TEST(RootPutSeed003, DecNotOneDropsAnotherTasksReference)
{
	bool found = false;
	for (unsigned k = 0; k < 12; k++) {
		const Outcome o = interleave(PutRootVariant::refcount_dec_not_one, k);
		if (o.freed_while_b_holds) {
			found = true;
			// The concrete interleaving: A: dec_not_one fails (count 1),
			// xchg(invalid), zap, re-check fails (count 1); B: get (count 2);
			// A: refcount_set(0), list_del_rcu, call_rcu -- B holds a freed root.
			EXPECT_EQ(k, 5u) << "the window is between the re-check and the forced zero";
		}
	}
	EXPECT_TRUE(found);
}

// Paolo Bonzini's version: dec_and_test, refcount_set(1), zap,
// dec_and_test.  A get during the zap keeps the root alive; no get can
// succeed once the count reached zero.
TEST(RootPutSeed003, DecAndTestNeverFreesAReferencedRoot)
{
	for (unsigned k = 0; k < 12; k++) {
		const Outcome o = interleave(PutRootVariant::dec_and_test, k);
		EXPECT_FALSE(o.freed_while_b_holds) << "get inserted after step " << k;
		EXPECT_EQ(o.bugs, 0u);
	}
}

// v6.19: the final put is of an invalid root (the zapper's gifted
// reference); a concurrent get fails on a zero count.
TEST(RootPutV619, GiftedReferencePutNeverRacesAGet)
{
	for (unsigned k = 0; k < 4; k++) {
		Vm vm(PutRootVariant::v6_19);
		const u32 r = vm.vcpu.direct;
		vm.mmu.unload_roots(vm.vcpu);
		vm.mmu.invalidate_roots(KVM_DIRECT_ROOTS);
		PutRootOp a{r, PutRootVariant::v6_19, false};
		GetRootOp b{r};
		unsigned steps = 0;
		bool done = false;
		while (!done) {
			if (steps++ == k)
				b.step(vm.mmu);
			done = a.step(vm.mmu) == OpStatus::done;
		}
		EXPECT_FALSE(b.ok && vm.mmu.roots().empty()) << "get inserted after step " << k;
		EXPECT_EQ(vm.mmu.bugs(), 0u);
	}
}

} // namespace
