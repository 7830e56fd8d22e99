// SPDX-License-Identifier: GPL-2.0-only
//
// Profile inference from evidence in the trace (infer.hpp).
#include "infer.hpp"

namespace arborist::conform {

using support::hex_digits;

namespace {

using spec::u64;
constexpr const spec::Concrete& d = spec::concrete;

bool is_tdx_event(EventId id) { return id >= EventId::tdx_td_params && id <= EventId::tdx_hook_exit; }

// The architecture's name as the evidence says it.
std::string_view arch_name(Arch a) { return a == Arch::npt ? "AMD NPT" : "Intel EPT"; }

// v is a non-leaf SPTE of flavour f: make_nonleaf_spte() of some table
// address, with A/D in use or not.  The address bits are not compared (a
// host with SME/TME sets its encryption bit among them).
bool nonleaf_of(const spec::SpteFlavor& f, u64 v)
{
	const u64 bits = v & ~f.pfn_mask;
	for (const bool ad_disabled : {false, true})
		if (bits == (spec::make_nonleaf_spte(d, f, u64{0}, ad_disabled) & ~f.pfn_mask))
			return true;
	return false;
}

} // namespace

ProfileInference::ProfileInference()
{
	for (std::size_t i = 0; i < profiles.size(); i++)
		candidates_[i] = !profiles[i]->tdx;
}

std::string ProfileInference::names(const Set& s) const
{
	std::string o;
	for (std::size_t i = 0; i < profiles.size(); i++)
		if (s[i])
			o += (o.empty() ? "" : ", ") + std::string(profiles[i]->name);
	return o;
}

// The distinct SPTE flavours of a set of profiles: "npt-v6.1, ept-v6.1".
std::string flavour_names(const std::bitset<profiles.size()>& s)
{
	std::string o;
	for (std::size_t i = 0; i < profiles.size(); i++) {
		if (!s[i])
			continue;
		const std::string_view n = profiles[i]->flavor.name;
		bool seen = false;
		for (std::size_t j = 0; j < i; j++)
			seen = seen || (s[j] && profiles[j]->flavor.name == n);
		if (!seen)
			o += (o.empty() ? "" : ", ") + std::string(n);
	}
	return o;
}

void ProfileInference::narrow(const Set& fits, const std::string& evidence, const Where& w)
{
	const Set next = candidates_ & fits;
	if (next.none() || next == candidates_)
		return;
	candidates_ = next;
	if (!evidence_.empty())
		evidence_ += "; ";
	evidence_ += "line " + std::to_string(w.line) + ": " + evidence;
	try_decide();
}

void ProfileInference::try_decide()
{
	std::size_t first = profiles.size();
	for (std::size_t i = 0; i < profiles.size(); i++) {
		if (!candidates_[i])
			continue;
		if (first == profiles.size())
			first = i;
		else if (!same_replay(*profiles[first], *profiles[i]))
			return;
	}
	if (first == profiles.size())
		return;
	decided_ = true;
	chosen_ = first;
	how_ = "inferred from " + evidence_;
	Set others = candidates_;
	others[first] = false;
	if (others.any())
		how_ += "; " + names(others) + " replay" + (others.count() == 1 ? "s" : "") +
			" the same (the trace cannot tell them apart; --profile names one)";
}

bool ProfileInference::observe(const TraceLine& tl, const Where& w)
{
	if (decided_ || tl.kind != LineKind::event)
		return decided_;
	const EventId id = classify_event(tl.event);
	if (is_tdx_event(id)) {
		// Only a TDX host writes these (docs/trace-format.md): the TDX
		// event overrides the layout evidence seen before it.
		Set tdx;
		for (std::size_t i = 0; i < profiles.size(); i++)
			tdx[i] = profiles[i]->tdx;
		candidates_ = tdx;
		evidence_ = "line " + std::to_string(w.line) + ": " + std::string(tl.event) +
			    " is a TDX event of docs/trace-format.md";
		try_decide();
		return decided_;
	}
	if (id != EventId::tdp_mmu_spte_changed)
		return false;
	const SpteChanged e = decode_spte_changed(tl.payload, w);
	const std::pair<const char*, u64> values[] = {{"old_spte", e.old_spte}, {"new_spte", e.new_spte}};
	for (const auto& [field, v] : values) {
		Set np, fz;
		for (std::size_t i = 0; i < profiles.size(); i++) {
			np[i] = v == spec::nonpresent_spte(d, profiles[i]->flavor);
			fz[i] = v == spec::frozen_spte(d, profiles[i]->flavor);
		}
		if (np.any())
			narrow(np, std::string(field) + " " + hex_digits(v) + " is the SHADOW_NONPRESENT_VALUE of " + flavour_names(np),
			       w);
		else if (fz.any())
			narrow(fz, std::string(field) + " " + hex_digits(v) + " is the frozen value (REMOVED_SPTE/FROZEN_SPTE) of " + flavour_names(fz),
			       w);
		if (decided_)
			return true;
	}
	// The layout: only a present SPTE says where its bits sit; whether it is
	// present and a leaf is each flavour's own predicate (spec/arborist/spte.hpp).
	const u64 v = e.new_spte;
	Set fits;
	Arch arch = Arch::npt;
	bool leaf = false;
	for (std::size_t i = 0; i < profiles.size(); i++) {
		const spec::SpteFlavor& f = profiles[i]->flavor;
		if (!spec::is_shadow_present_pte(d, f, v))
			continue;
		const bool is_leaf = spec::is_last_spte(d, f, v, u64{e.level});
		if (!is_leaf)
			fits[i] = nonleaf_of(f, v);
		else
			fits[i] = spec::is_writable_pte(d, f, v) && spec::is_mmu_writable_spte(d, f, v) &&
				  spec::is_host_writable_spte(d, f, v);
		if (fits[i]) {
			arch = profiles[i]->arch;
			leaf = is_leaf;
		}
	}
	bool one_arch = fits.any();
	for (std::size_t i = 0; i < profiles.size(); i++)
		one_arch = one_arch && (!fits[i] || profiles[i]->arch == arch);
	if (one_arch)
		narrow(fits,
		       "new_spte " + hex_digits(v) + (leaf ? " is a writable leaf with the host- and MMU-writable bits of "
						    : " is a non-leaf SPTE (spec::make_nonleaf_spte) of ") +
			       std::string(arch_name(arch)),
		       w);
	return decided_;
}

void ProfileInference::settle(const std::string& why)
{
	if (decided_)
		return;
	std::size_t first = 0;
	while (first < profiles.size() && !candidates_[first])
		first++;
	chosen_ = first < profiles.size() ? first : 0;
	decided_ = true;
	Set all;
	for (std::size_t i = 0; i < profiles.size(); i++)
		all[i] = !profiles[i]->tdx;
	if (candidates_ == all) {
		how_ = why + "; no evidence of a profile, default";
		return;
	}
	ambiguous_ = true;
	how_ = "ambiguous: " + why + ", the evidence (" + evidence_ + ") fits " + names(candidates_) +
	       ", which replay differently; using " + std::string(profiles[chosen_]->name) +
	       " (choose with --profile)";
}

const Profile& ProfileInference::profile() const { return *profiles[chosen_]; }

} // namespace arborist::conform
