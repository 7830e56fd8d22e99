// SPDX-License-Identifier: GPL-2.0-only
//
// The one JSON writer of arborist's --json outputs.  Every string goes
// through json_string(), so every document is valid RFC 8259 JSON in UTF-8
// whatever bytes the strings hold:
//  - '"', '\\' and the C0 controls are escaped (\n, \t, ... or \u00XX);
//  - well-formed UTF-8 passes unchanged;
//  - each byte that is not part of well-formed UTF-8 becomes \u00XX, the
//    code point of that byte read as Latin-1 (0xe9 -> "\u00e9").  Nothing
//    is dropped: a reader who knows the input was not UTF-8 recovers the
//    bytes; a file name in Latin-1 reads correctly.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "arborist/support/text.hpp"

namespace arborist::support {

// Appends `s` as a JSON string literal, quotes included.
inline void json_string(std::string& out, std::string_view s)
{
	static constexpr char hex[] = "0123456789abcdef";
	const auto u00 = [&](unsigned char c) {
		out += "\\u00";
		out += hex[c >> 4];
		out += hex[c & 15];
	};
	out += '"';
	std::size_t i = 0;
	while (i < s.size()) {
		const auto c = static_cast<unsigned char>(s[i]);
		switch (c) {
		case '"': out += "\\\""; i++; continue;
		case '\\': out += "\\\\"; i++; continue;
		case '\n': out += "\\n"; i++; continue;
		case '\r': out += "\\r"; i++; continue;
		case '\t': out += "\\t"; i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			u00(c);
			i++;
			continue;
		}
		const std::size_t n = utf8_sequence(s, i);
		if (n == 0) {
			u00(c);
			i++;
		} else {
			out.append(s.substr(i, n));
			i += n;
		}
	}
	out += '"';
}

inline std::string json_quote(std::string_view s)
{
	std::string out;
	json_string(out, s);
	return out;
}

// A streaming writer: objects and arrays nest, commas and indentation are
// its business.  Members of an object are key(k).value(v) or member(k, v).
//
//   JsonWriter w(out);
//   w.begin_object().member("tool", "arborist").key("list").begin_array();
//   w.value(1).value(2).end_array().end_object();   // then w.done()
class JsonWriter {
public:
	explicit JsonWriter(std::ostream& out, bool pretty = true) : out_(out), pretty_(pretty) {}

	JsonWriter& begin_object() { return open('{'); }
	JsonWriter& end_object() { return close('}'); }
	JsonWriter& begin_array() { return open('['); }
	JsonWriter& end_array() { return close(']'); }

	JsonWriter& key(std::string_view k)
	{
		separate();
		std::string s;
		json_string(s, k);
		out_ << s << (pretty_ ? ": " : ":");
		after_key_ = true;
		return *this;
	}

	JsonWriter& value(std::string_view s)
	{
		std::string q;
		json_string(q, s);
		return raw(q);
	}
	JsonWriter& value(const char* s) { return value(std::string_view(s)); }
	JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
	JsonWriter& value(bool b) { return raw(b ? "true" : "false"); }
	JsonWriter& value(int v) { return raw(std::to_string(v)); }
	JsonWriter& value(unsigned v) { return raw(std::to_string(v)); }
	JsonWriter& value(long v) { return raw(std::to_string(v)); }
	JsonWriter& value(unsigned long v) { return raw(std::to_string(v)); }
	JsonWriter& value(long long v) { return raw(std::to_string(v)); }
	JsonWriter& value(unsigned long long v) { return raw(std::to_string(v)); }
	// A finite double with `decimals` places; NaN and infinities are null.
	JsonWriter& value(double d, int decimals = 3)
	{
		if (!std::isfinite(d))
			return null();
		char buf[64];
		std::snprintf(buf, sizeof buf, "%.*f", decimals, d);
		return raw(buf);
	}
	JsonWriter& null() { return raw("null"); }

	template <class T>
	JsonWriter& member(std::string_view k, const T& v)
	{
		return key(k).value(v);
	}

	// After the outermost value: a final newline.
	void done() { out_ << "\n"; }

private:
	struct Level {
		char close;
		bool empty = true;
	};

	JsonWriter& open(char c)
	{
		separate();
		out_ << c;
		stack_.push_back({c == '{' ? '}' : ']'});
		return *this;
	}
	JsonWriter& close(char c)
	{
		const bool empty = stack_.back().empty;
		stack_.pop_back();
		if (!empty)
			newline();
		out_ << c;
		return *this;
	}
	JsonWriter& raw(std::string_view text)
	{
		separate();
		out_ << text;
		return *this;
	}
	// Before a key, or a value that is not an object member's.
	void separate()
	{
		if (after_key_) {
			after_key_ = false;
			return;
		}
		if (stack_.empty())
			return;
		if (!stack_.back().empty)
			out_ << ",";
		stack_.back().empty = false;
		newline();
	}
	void newline()
	{
		if (pretty_)
			out_ << "\n" << std::string(2 * stack_.size(), ' ');
	}

	std::ostream& out_;
	bool pretty_;
	bool after_key_ = false;
	std::vector<Level> stack_;
};

} // namespace arborist::support
