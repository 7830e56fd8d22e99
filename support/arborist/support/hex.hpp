// SPDX-License-Identifier: GPL-2.0-only
//
// Numbers in hexadecimal, lower case, without leading zeros: hex_digits()
// as ftrace prints %llx fields (docs/trace-format.md), hex() with the "0x"
// a C reader expects.  One function for every message and report.
#pragma once

#include <cstdint>
#include <string>

namespace arborist::support {

// "1f" (ftrace's %llx).
inline std::string hex_digits(std::uint64_t v)
{
	char buf[16];
	int n = 0;
	do {
		buf[n++] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	std::string s;
	s.reserve(static_cast<std::size_t>(n) + 2);
	while (n > 0)
		s += buf[--n];
	return s;
}

// "0x1f".
inline std::string hex(std::uint64_t v) { return "0x" + hex_digits(v); }

} // namespace arborist::support
