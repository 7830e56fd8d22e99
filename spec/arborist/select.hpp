// SPDX-License-Identifier: GPL-2.0-only
//
// Member-wise choice between two spec states, over any domain, driven by
// Boost.Hana reflection of the state types: select(d, c, a, b) is `c ? a : b`
// for a whole struct.  Used to build k-step unrollings (one nondeterministic
// operation per step) without writing a case per field.
#pragma once

#include <array>
#include <cstddef>

#include <boost/hana/accessors.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/concept/struct.hpp>

#include "arborist/domain.hpp"

namespace arborist::spec {

template <Domain D, class T>
constexpr T select(const D& d, const typename D::Bool& c, const T& a, const T& b);

namespace detail {
template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};
} // namespace detail

template <Domain D, class T>
constexpr T select(const D& d, const typename D::Bool& c, const T& a, const T& b)
{
	if constexpr (boost::hana::Struct<T>::value) {
		T r = a;
		boost::hana::for_each(boost::hana::accessors<T>(), [&](auto acc) {
			auto get = boost::hana::second(acc);
			get(r) = select(d, c, get(a), get(b));
		});
		return r;
	} else if constexpr (detail::is_std_array<T>::value) {
		T r = a;
		for (std::size_t i = 0; i < r.size(); i++)
			r[i] = select(d, c, a[i], b[i]);
		return r;
	} else {
		return d.ite(c, a, b);
	}
}

} // namespace arborist::spec
