// SPDX-License-Identifier: GPL-2.0-only
//
// Profile inference: which profile of profile.hpp wrote a trace, decided
// from evidence in the trace itself and printed with that evidence.
//
// Evidence, each item narrowing the set of candidate profiles:
//   - a TDX event of docs/trace-format.md (tdx_td_params, tdx_seamcall, ...):
//     only a TDX host writes them.  Without one, TDX is never inferred;
//   - a kvm_tdp_mmu_spte_changed value that is a flavour's non-present or
//     frozen value (0 / 5a0 before v6.10, bit 63 / bit 63 | 5a0 after);
//   - a non-leaf SPTE that links a table: its permission and A/D bits are
//     spec::make_nonleaf_spte() of exactly one architecture (NPT: P W U A =
//     bits 0 1 2 5; EPT: R W X = bits 0 1 2 and A = bit 8 or AD-disabled);
//   - a present writable leaf: where its host- and MMU-writable bits sit
//     (NPT bits 9 and 10, EPT bits 57 and 58; check_spte_writable_invariants).
// The decision falls when the candidates all replay alike (same_replay):
// then the first of them, in profile.hpp's order, is used and the others
// are named.  Evidence that would leave no candidate is not evidence of a
// profile but of a bug, and is left to the replay to report.
#pragma once

#include <bitset>
#include <string>

#include "ftrace.hpp"
#include "profile.hpp"

namespace arborist::conform {

class ProfileInference {
public:
	ProfileInference();

	// One line of the trace; throws ParseError for an SPTE change whose
	// payload does not parse.  Returns whether the profile is decided.
	bool observe(const TraceLine& tl, const Where& w);
	bool decided() const { return decided_; }

	// No more evidence (end of the trace, or the window is full): decide
	// with what there is.  `why` says what ran out.
	void settle(const std::string& why);

	const Profile& profile() const;
	// The evidence, for the report: "inferred from line 20: ...".
	const std::string& how() const { return how_; }
	// More than one profile that replays differently fits the evidence.
	bool ambiguous() const { return ambiguous_; }

private:
	using Set = std::bitset<profiles.size()>;
	void narrow(const Set& fits, const std::string& evidence, const Where& w);
	void try_decide();
	std::string names(const Set& s) const;

	Set candidates_;
	bool decided_ = false, ambiguous_ = false;
	std::size_t chosen_ = 0;
	std::string evidence_;
	std::string how_;
};

} // namespace arborist::conform
