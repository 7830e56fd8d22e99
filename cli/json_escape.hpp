// SPDX-License-Identifier: GPL-2.0-only
//
// JSON string escaping for the CLI's --json outputs.
#pragma once

#include <cstdio>
#include <string>

namespace arborist::cli {

inline std::string json_escape(const std::string& s)
{
	std::string r;
	for (const char c : s) {
		switch (c) {
		case '"': r += "\\\""; break;
		case '\\': r += "\\\\"; break;
		case '\n': r += "\\n"; break;
		case '\t': r += "\\t"; break;
		default:
			if (static_cast<unsigned char>(c) < 0x20) {
				char buf[8];
				std::snprintf(buf, sizeof buf, "\\u%04x", c);
				r += buf;
			} else {
				r += c;
			}
		}
	}
	return r;
}

} // namespace arborist::cli
