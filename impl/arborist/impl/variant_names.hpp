// SPDX-License-Identifier: GPL-2.0-only
//
// The names of the implementation variants (Variants, TdxVariants,
// PutRootVariant) as the text formats spell them: `arborist run`'s `vm`
// line and the model checker's configuration files both read them from
// these tables, so a variant added here is a key both accept.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "arborist/impl/dpamt.hpp"
#include "arborist/impl/root_ops.hpp"
#include "arborist/impl/tdp_mmu.hpp"
#include "arborist/impl/tdx.hpp"

namespace arborist::impl {

template <class E>
struct VariantName {
	std::string_view name;
	E value;
};

inline constexpr VariantName<Variants::Removal> removal_names[] = {
	{"recursive", Variants::Removal::recursive_v6_19},
	{"rcu-deferred", Variants::Removal::rcu_deferred},
	{"rcu-block-parent", Variants::Removal::rcu_block_parent},
	{"rcu-block-children", Variants::Removal::rcu_block_children},
};

inline constexpr VariantName<Variants::MirrorWrite> mirror_write_names[] = {
	{"frozen", Variants::MirrorWrite::frozen_v6_19},
	{"seamcall-first", Variants::MirrorWrite::seamcall_then_cmpxchg},
	{"hook-freezes", Variants::MirrorWrite::hook_freezes},
};

inline constexpr VariantName<TdxVariants::Teardown> teardown_names[] = {
	{"dynamic", TdxVariants::Teardown::dynamic_v6_19},
	{"deferred", TdxVariants::Teardown::deferred_to_teardown},
};

// KVM_TDX_TERMINATE_VM ("[PATCH V4 1/1] KVM: TDX: Add sub-ioctl
// KVM_TDX_TERMINATE_VM", not in v6.19) and its two known-bad orders.
inline constexpr VariantName<TdxVariants::TerminateVm> terminate_vm_names[] = {
	{"none", TdxVariants::TerminateVm::none},
	{"dead-then-release", TdxVariants::TerminateVm::dead_then_release},
	{"reclaim-once-dead", TdxVariants::TerminateVm::reclaim_once_dead},
	{"release-without-dead", TdxVariants::TerminateVm::release_without_dead},
};

// tdx_pamt_get()/tdx_pamt_put() of the Dynamic PAMT series (not in v6.19;
// impl/arborist/impl/dpamt.hpp) and two known-bad versions.
inline constexpr VariantName<PamtRefcount> pamt_refcount_names[] = {
	{"global-lock", PamtRefcount::global_lock},
	{"fast-path", PamtRefcount::fast_path},
	{"unlocked", PamtRefcount::unlocked},
	{"fast-path-range-busy-fatal", PamtRefcount::fast_path_range_busy_fatal},
};

// TdxVariants::sept_page_release: v6.19's .free_external_spt(), the
// huge-page series' .reclaim_external_sp(), and a known-bad reclaim hook.
inline constexpr VariantName<TdxVariants::SeptPageRelease> sept_page_release_names[] = {
	{"tdp-mmu-leaks", TdxVariants::SeptPageRelease::tdp_mmu_leaks},
	{"hook-leaks", TdxVariants::SeptPageRelease::hook_leaks},
	{"hook-frees-anyway", TdxVariants::SeptPageRelease::hook_frees_anyway},
};

// TdxVariants::busy_kick_retry
inline constexpr VariantName<bool> busy_retry_names[] = {
	{"kick-retry", true},
	{"none", false},
};

inline constexpr VariantName<PutRootVariant> put_root_names[] = {
	{"v6.19", PutRootVariant::v6_19},
	{"refcount-dec-not-one", PutRootVariant::refcount_dec_not_one},
	{"dec-and-test", PutRootVariant::dec_and_test},
};

template <class E>
constexpr std::optional<E> variant_by_name(std::span<const VariantName<E>> table, std::string_view name)
{
	for (const auto& v : table)
		if (v.name == name)
			return v.value;
	return std::nullopt;
}

template <class E>
constexpr std::string_view variant_name(std::span<const VariantName<E>> table, E value)
{
	for (const auto& v : table)
		if (v.value == value)
			return v.name;
	return "?";
}

// "a, b or c", for messages.
template <class E>
std::string variant_alternatives(std::span<const VariantName<E>> table)
{
	std::string r;
	for (std::size_t i = 0; i < table.size(); i++)
		r += (i ? i + 1 == table.size() ? " or " : ", " : "") + std::string(table[i].name);
	return r;
}

} // namespace arborist::impl
