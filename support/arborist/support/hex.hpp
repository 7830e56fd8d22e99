// SPDX-License-Identifier: GPL-2.0-only
//
// Numbers in hexadecimal, lower case, without leading zeros: hex_digits()
// as ftrace prints %llx fields (docs/trace-format.md), hex() with the "0x"
// a C reader expects.  One function for every message and report.
#pragma once

#include <cstdint>
#include <string>

namespace arborist::support {

// Appends "1f" (ftrace's %llx) to o: the allocation-free form that the
// trace writers' hot paths use.
inline void append_hex_digits(std::string& o, std::uint64_t v)
{
	char buf[16];
	int n = 0;
	do {
		buf[n++] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	while (n > 0)
		o += buf[--n];
}

// "1f" (ftrace's %llx).
inline std::string hex_digits(std::uint64_t v)
{
	std::string s;
	append_hex_digits(s, v);
	return s;
}

// "0x1f".
inline std::string hex(std::uint64_t v) { return "0x" + hex_digits(v); }

} // namespace arborist::support
