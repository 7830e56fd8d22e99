// SPDX-License-Identifier: GPL-2.0-only
//
// Untrusted text (file names, words of a scenario or trace, command-line
// arguments) made safe to print in a message: one function, used by every
// message that echoes input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace arborist::support {

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i)
{
	const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
	const unsigned c = at(i);
	if (c < 0x80)
		return 1;
	std::size_t n;
	unsigned lo = 0x80, hi = 0xbf; // the allowed range of the second byte
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (i + n > s.size())
		return 0;
	if (at(i + 1) < lo || at(i + 1) > hi)
		return 0;
	for (std::size_t k = 2; k < n; k++)
		if (at(i + k) < 0x80 || at(i + k) > 0xbf)
			return 0;
	return n;
}

// `s` with every byte a terminal could act on shown as \xNN: C0 controls
// (tab and newline included), DEL, the C1 controls U+0080..U+009F (as
// their two UTF-8 bytes) and every byte that is not part of well-formed
// UTF-8 (a lone 0x9b is CSI to an 8-bit terminal).  Printable ASCII and
// other well-formed UTF-8 pass unchanged; a backslash stays one backslash.
// At most `max` bytes of `s` are shown, then "...".
inline std::string printable(std::string_view s, std::size_t max = std::string_view::npos)
{
	static constexpr char hex[] = "0123456789abcdef";
	std::string out;
	out.reserve(std::min(s.size(), max) + 8);
	const auto escape = [&](unsigned char c) {
		out += "\\x";
		out += hex[c >> 4];
		out += hex[c & 15];
	};
	std::size_t i = 0;
	while (i < s.size() && i < max) {
		const auto c = static_cast<unsigned char>(s[i]);
		const std::size_t n = utf8_sequence(s, i);
		if (n == 0 || c < 0x20 || c == 0x7f) {
			escape(c);
			i++;
		} else if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
			escape(c);
			escape(static_cast<unsigned char>(s[i + 1]));
			i += 2;
		} else {
			out.append(s.substr(i, n));
			i += n;
		}
	}
	if (i < s.size())
		out += "...";
	return out;
}

// printable() in single quotes, for a word in a message: 'w0x'.
inline std::string quoted(std::string_view s, std::size_t max = std::string_view::npos)
{
	return "'" + printable(s, max) + "'";
}

} // namespace arborist::support
