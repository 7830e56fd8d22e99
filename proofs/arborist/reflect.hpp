// SPDX-License-Identifier: GPL-2.0-only
//
// Boost.Hana reflection of spec state types into Z3 constants.
//
// fresh<State<Symbolic>>(d, "pre") makes one free constant per field,
// recursively through nested Hana structs and std::arrays, named by its
// path ("pre.td.epoch.td_epoch", "pre.child[17]"), and records it so that a
// counterexample prints as named field values.  A new field in a spec state
// needs nothing here.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include <boost/hana/accessors.hpp>
#include <boost/hana/concept/struct.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include "arborist/select.hpp"
#include "symbolic.hpp"

namespace arborist::proofs {

template <class T>
T fresh(const Symbolic& d, const std::string& name)
{
	if constexpr (std::is_same_v<T, SymWord>) {
		return d.word(name);
	} else if constexpr (std::is_same_v<T, SymBool>) {
		return d.boolean(name);
	} else if constexpr (spec::detail::is_std_array<T>::value) {
		T r;
		for (std::size_t i = 0; i < r.size(); i++)
			r[i] = fresh<typename T::value_type>(d, name + "[" + std::to_string(i) + "]");
		return r;
	} else {
		static_assert(boost::hana::Struct<T>::value, "spec state fields must be Word, Bool, arrays or Hana structs");
		T r;
		boost::hana::for_each(boost::hana::accessors<T>(), [&](auto acc) {
			using F = std::decay_t<decltype(boost::hana::second(acc)(r))>;
			const std::string field = boost::hana::to<char const*>(boost::hana::first(acc));
			boost::hana::second(acc)(r) = fresh<F>(d, name + "." + field);
		});
		return r;
	}
}

// Every leaf field of a state as (path, term): for printing the post-state
// of a counterexample.
template <class T>
void flatten(const T& v, const std::string& name, std::vector<Named>& out)
{
	if constexpr (std::is_same_v<T, SymWord> || std::is_same_v<T, SymBool>) {
		out.push_back({name, v});
	} else if constexpr (spec::detail::is_std_array<T>::value) {
		for (std::size_t i = 0; i < v.size(); i++)
			flatten(v[i], name + "[" + std::to_string(i) + "]", out);
	} else {
		boost::hana::for_each(boost::hana::accessors<T>(), [&](auto acc) {
			const std::string field = boost::hana::to<char const*>(boost::hana::first(acc));
			flatten(boost::hana::second(acc)(v), name + "." + field, out);
		});
	}
}

} // namespace arborist::proofs
