// SPDX-License-Identifier: GPL-2.0-only
//
// The root lifecycle (spec/arborist/root.hpp; seed 003;
// Linux v6.19 tdp_mmu.c root refcounting): every (operation x
// invariant) pair as an inductive-preservation obligation, plus the two
// lemmas about get and the last put.
#include "arborist/obligation.hpp"
#include "arborist/root.hpp"

namespace arborist::proofs {

namespace {

using S = spec::RootState<Symbolic>;
namespace fl = spec::faults;

constexpr const char* TDP = "tdp_mmu.c ";

} // namespace

void add_root_obligations(std::vector<Obligation>& out)
{
	namespace hana = boost::hana;
	const auto ops = hana::make_tuple(
		op("alloc", "tdp_mmu.c kvm_tdp_mmu_alloc_root()",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::root_alloc(d, s, x); },
		   {{"refcount_accounts_holders", fl::alloc_refcount_one}}),
		op("get", "tdp_mmu.c kvm_tdp_mmu_get_root()",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::root_get(d, s, x); },
		   {{"list_matches_refcount", fl::get_on_zero}}),
		op("put", "tdp_mmu.c kvm_tdp_mmu_put_root()",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::root_put(d, s, x); },
		   {{"list_matches_refcount", fl::put_keeps_on_list},
		    {"refcount_accounts_holders", fl::put_other_tasks_reference}}),
		op("invalidate", "tdp_mmu.c kvm_tdp_mmu_invalidate_roots()",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::root_invalidate(d, s, x); },
		   {{"scheduled_holds_gift", fl::invalidate_drops_gift}}),
		op("zap_invalidated", "tdp_mmu.c kvm_tdp_mmu_zap_invalidated_roots()",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::root_zap_invalidated(d, s, x); },
		   {{"refcount_accounts_holders", fl::zap_double_put}}),
		op("rcu_free", "tdp_mmu.c tdp_mmu_free_sp_rcu_callback()",
		   [](const Symbolic& d, const S& s, spec::Fault x) { return spec::root_rcu_free(d, s, x); },
		   {{"freed_implies_invalid_and_zero", fl::rcu_frees_early},
		    {"list_matches_refcount", fl::rcu_frees_early}}));

	const auto invs = hana::make_tuple(
		inv("freed_implies_invalid_and_zero", "seed 003",
		    "a root is freed only when it is invalid and its refcount is zero",
		    [](const Symbolic& d, const S& s) { return spec::root_freed_implies_invalid_and_zero(d, s); }),
		inv("valid_or_referenced", "tdp_mmu.c kvm_tdp_mmu_put_root() KVM_BUG_ON",
		    "refcount > 0 or invalid: the TDP MMU's own reference keeps a valid root alive",
		    [](const Symbolic& d, const S& s) { return spec::root_valid_or_referenced(d, s); }),
		inv("scheduled_holds_gift", "tdp_mmu.c kvm_tdp_mmu_invalidate_roots()",
		    "a root scheduled to zap is invalid and still holds the gifted reference",
		    [](const Symbolic& d, const S& s) { return spec::root_scheduled_holds_gift(d, s); }),
		inv("refcount_accounts_holders", "seed 003; tdp_mmu.c kvm_tdp_mmu_alloc_root() (\"one reference for the vCPU, and one reference for the TDP MMU itself\")",
		    "the refcount is the TDP MMU's reference plus the references tasks hold, and a valid root "
		    "has the TDP MMU's",
		    [](const Symbolic& d, const S& s) { return spec::root_refcount_accounts_holders(d, s); }),
		inv("list_matches_refcount", "tdp_mmu.c kvm_tdp_mmu_put_root() list_del_rcu/call_rcu",
		    "on tdp_mmu_roots exactly while referenced; queued for RCU or freed exactly once unreferenced",
		    [](const Symbolic& d, const S& s) { return spec::root_list_matches_refcount(d, s); }),
		inv("unallocated_is_blank", "tdp_mmu.c kvm_tdp_mmu_alloc_root()",
		    "a root that was never allocated has no references, flags or list membership",
		    [](const Symbolic& d, const S& s) { return spec::root_unallocated_is_blank(d, s); }));

	add_inductive<S>(out, "root", ops, invs);

	auto all_invs = [invs](const Symbolic& d, const S& s) {
		std::vector<z3::expr> a;
		hana::for_each(invs, [&](const auto& i) { a.push_back(i.holds(d, s)); });
		return a;
	};

	out.push_back(lemma("root.get_fails_once_unreferenced", "lemma",
			    std::string(TDP) + "kvm_tdp_mmu_get_root() refcount_inc_not_zero; seed 003",
			    "once the last reference is gone (RCU free queued or done) no get_root succeeds, so no "
			    "task can use a freed root",
			    fl::get_on_zero, [all_invs](const Symbolic& d, spec::Fault x) {
				    const S s = fresh<S>(d, "pre");
				    Query q{all_invs(d, s), d.truth(true), {}};
				    const auto st = spec::root_get(d, s, x);
				    q.assume.push_back(s.rcu_queued || s.freed);
				    q.goal = !st.ok || !st.enabled;
				    return q;
			    }));

	out.push_back(lemma("root.last_put_on_valid_root_rejected", "lemma",
			    std::string(TDP) + "kvm_tdp_mmu_put_root(): \"the final reference should be never be put "
					       "for a valid root\"",
			    "putting the last reference of a valid root is a KVM bug (KVM_BUG_ON)",
			    fl::put_frees_valid_root, [](const Symbolic& d, spec::Fault x) {
				    // No invariant assumed: this is the kernel's own defence
				    // against a caller that breaks the reference discipline.
				    const S s = fresh<S>(d, "pre");
				    Query q{{}, d.truth(true), {}};
				    const auto st = spec::root_put_ref(d, s, x);
				    q.assume.push_back(st.enabled);
				    q.assume.push_back(!s.invalid && s.refcount == d.lit(1));
				    q.goal = st.bug;
				    return q;
			    }));
}

} // namespace arborist::proofs
